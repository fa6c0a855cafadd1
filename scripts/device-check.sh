#!/bin/bash
# The CUDA backend on a machine with a device, in one run (a lent GPU is paid by the
# minute): info(), the device test suite, compute-sanitizer memcheck and racecheck over
# scripts/device-workload.js, bench/gpu.ts's dense products and the KernelSolve benchmark
# on backend 'cuda'. Each step has a time limit; logs go to $OUT (default
# bench/output/device), and a one-line verdict per step is printed last. The limits add
# up to 9 minutes, so that the whole check fits one 10-minute call on a lent machine.
#
#   npm run build:native && npm run build:ts && bash scripts/device-check.sh
#
# Needs node on PATH and this clone's node_modules (npx is not required).
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-bench/output/device}
mkdir -p "$OUT"
verdicts=()
step() { # name, seconds, command...
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit} s)"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 15 "$OUT/$name.log"
  verdicts+=("$name: exit $rc")
}
TSNODE=(node node_modules/ts-node/dist/bin.js --transpile-only)

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$OUT/nvidia-smi.log"
node -e 'console.log(JSON.stringify(require("./dist").info().cuda))' | tee "$OUT/info.log"
step jest 200 node node_modules/jest/bin/jest.js --ci test/cuda.test.ts
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
if [ -n "$sanitizer" ]; then
  step memcheck 80 "$sanitizer" --tool memcheck --error-exitcode 9 node scripts/device-workload.js
  step racecheck 80 "$sanitizer" --tool racecheck --error-exitcode 9 node scripts/device-workload.js
else
  verdicts+=("sanitizers: no compute-sanitizer")
fi
step gpu 90 "${TSNODE[@]}" bench/gpu.ts --sizes 10000,100000,400000 --reps 3
step kernelsolve 100 "${TSNODE[@]}" bench/kernelsolve.ts --routines lazykernel-cuda --max-n 500000 --out "$OUT"
printf '%s\n' "${verdicts[@]}"

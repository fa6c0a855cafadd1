#!/usr/bin/env bash
# Builds the CPU addon with AddressSanitizer and UndefinedBehaviorSanitizer into
# build-asan/ and runs jest against it (all of it, or the test files given). Node itself
# is not instrumented, so the ASan runtime is preloaded. Findings are written to
# build-asan/reports/ and printed; any finding, or a failed test, fails the run.
#   bash scripts/sanitize.sh [test/errors.test.ts ...]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/build-asan"
reports="$out/reports"

CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" node node_modules/cmake-js/bin/cmake-js build \
  --out build-asan --config RelWithDebInfo --CDLAZYKERNEL_SANITIZE=ON --CDLAZYKERNEL_CUDA=OFF >"$out.log" 2>&1 \
  || { tail -n 40 "$out.log"; echo "sanitize: the sanitizer build failed"; exit 1; }
addon="$(find "$out" -name lazykernel.node | head -n 1)"
[ -n "$addon" ] || { echo "sanitize: no lazykernel.node in $out"; exit 1; }

rm -rf "$reports" && mkdir -p "$reports"
# Leaks are not checked: Node keeps much of its heap until exit by design. A huge
# allocation makes std::bad_alloc (a MemoryError), as it would without ASan.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$reports/asan:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
export LAZYKERNEL_ADDON="$addon"
LD_PRELOAD="$(g++ -print-file-name=libasan.so)" npx jest --ci "$@"
status=$?

found=0
for f in "$reports"/*; do
  [ -e "$f" ] || continue
  found=1
  echo "---- $f"
  cat "$f"
done
if [ "$found" = 1 ]; then
  echo "sanitize: findings above"
  exit 1
fi
[ "$status" = 0 ] || { echo "sanitize: tests failed under the sanitizers"; exit 1; }
echo "sanitize: ok (no ASan or UBSan findings)"

#!/usr/bin/env bash
# Packs lazykernel with its Linux prebuilds (scripts/prebuild-linux.sh: x64 and arm64,
# glibc 2.28 baseline) and installs the tarball into two empty projects, a CommonJS one and
# an ES module one, with install scripts off and no compiler on PATH. Each must load and
# compute (require; named imports), and type-check (node16 resolution); `npx lazykernel
# info` must say the prebuilt binary loaded. The installed project then runs
# scripts/platform-smoke.cjs here, inside the Debian 11 root (glibc 2.31) with an official
# Node 20, and as arm64 under qemu-user; and with LIBC=musl it must refuse the glibc
# binaries. Needs root (the prebuilds' chroot). Prints the tarball's size and install times.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
start=$EPOCHREALTIME
npm run --silent prebuild >"$work/prebuild.log" 2>&1 || { tail -n 40 "$work/prebuild.log"; echo "pack-smoke: the prebuild failed"; exit 1; }
grep -E '^(buildroot|prebuild-linux):|newest GLIBC_' "$work/prebuild.log"
echo "pack-smoke: prebuilds made in $(node -p "($EPOCHREALTIME - $start).toFixed(0)") s"
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
# Only node itself on PATH: no cc, c++, make, python.
mkdir "$work/bin"
ln -s "$(command -v node)" "$work/bin/node"
# Two fresh projects: a CommonJS one, and an ES module one ("type": "module").
for kind in cjs esm; do
  app="$work/app-$kind"
  mkdir "$app" && cd "$app"
  npm init -y >/dev/null
  [ "$kind" = esm ] && npm pkg set type=module
  start=$EPOCHREALTIME
  npm install --ignore-scripts --no-audit --no-fund "$work/$tarball" >/dev/null
  install_s=$(node -p "($EPOCHREALTIME - $start).toFixed(1)")
  cp "$root"/scripts/smoke-check.cjs .
  if [ "$kind" = cjs ]; then
    cp "$root/scripts/smoke.cjs" index.js
    cp "$root/scripts/smoke-types.cts" types.ts
  else
    cp "$root/scripts/smoke.mjs" index.js
    cp "$root/scripts/smoke-types.mts" types.ts
  fi
  PATH="$work/bin" node index.js
  node "$root/node_modules/typescript/bin/tsc" --noEmit --strict --skipLibCheck --module node16 --moduleResolution node16 \
    --target es2022 --types node --typeRoots "$root/node_modules/@types" types.ts
  echo "pack-smoke ($kind): npm install ${install_s} s"
done
PATH="$work/bin" node node_modules/.bin/lazykernel info | tee info.txt
grep -q '^binary *prebuilt: .*lazykernel.napi.glibc.node' info.txt || { echo "pack-smoke: the prebuilt binary did not load"; exit 1; }
# Every file binding.gyp runs at configure time ships, so a source build from the tarball works.
for f in $(grep -o "node [a-z/-]*\.js" "$root/binding.gyp" | cut -d' ' -f2); do
  [ -f "node_modules/lazykernel/$f" ] || { echo "pack-smoke: the tarball lacks $f, which binding.gyp runs"; exit 1; }
done

# The same installed project on the platforms the suite does not run on.
cp "$root/scripts/platform-smoke.cjs" .
# Every x86-64 level of the shipped binary (the suite runs the build/ one).
for simd in base avx2 ""; do LAZYKERNEL_SIMD=$simd PATH="$work/bin" node platform-smoke.cjs; done
# shellcheck source=scripts/buildroot.sh
source "$root/scripts/buildroot.sh"
rm -rf "$LK_BUILDROOT/tmp/app"
cp -r . "$LK_BUILDROOT/tmp/app"
in_buildroot "cd /tmp/app && node platform-smoke.cjs"
command -v qemu-aarch64 >/dev/null || { echo "pack-smoke: qemu-aarch64 is missing (Debian: qemu-user)"; exit 1; }
qemu-aarch64 -L "$LK_BUILDROOT/usr/aarch64-linux-gnu" "$(node_binary arm64)" platform-smoke.cjs
# A musl system must not load the glibc prebuilds (node-gyp-build reads LIBC; Alpine sets it
# through /etc/alpine-release): it gets the loader's message, which says how to compile.
if LIBC=musl node -e "require('lazykernel')" 2>musl.txt; then echo "pack-smoke: LIBC=musl loaded a glibc prebuild"; exit 1; fi
grep -q 'could not load its native addon for linux-x64' musl.txt || { cat musl.txt; exit 1; }
echo "pack-smoke: musl: the glibc prebuilds are not taken"
echo "pack-smoke: ok: $tarball $(du -k "$work/$tarball" | cut -f1) KiB packed, $(du -sk node_modules/lazykernel | cut -f1) KiB installed"

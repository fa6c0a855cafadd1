#!/usr/bin/env bash
# Packs lazykernel with its prebuilt binary and installs the tarball into an empty project
# with install scripts off and no compiler on PATH. There it must load and compute from
# CommonJS (require) and from an ES module (named imports), type-check from both
# (node16 resolution), and `npx lazykernel info` must say the prebuilt binary loaded.
# Prints the tarball's size and the install time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
npm run --silent prebuild >/dev/null
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
mkdir "$work/app"
cd "$work/app"
npm init -y >/dev/null
start=$EPOCHREALTIME
npm install --ignore-scripts --no-audit --no-fund "$work/$tarball" >/dev/null
install_s=$(node -p "($EPOCHREALTIME - $start).toFixed(1)")
# Only node itself on PATH: no cc, c++, make, python.
mkdir "$work/bin"
ln -s "$(command -v node)" "$work/bin/node"
cp "$root"/scripts/smoke-check.cjs "$root"/scripts/smoke.cjs "$root"/scripts/smoke.mjs "$root"/scripts/smoke-types.mts "$root"/scripts/smoke-types.cts .
PATH="$work/bin" node smoke.cjs
PATH="$work/bin" node smoke.mjs
PATH="$work/bin" node node_modules/.bin/lazykernel info | tee info.txt
grep -q '^binary *prebuilt: ' info.txt || { echo "pack-smoke: the prebuilt binary did not load"; exit 1; }
node "$root/node_modules/typescript/bin/tsc" --noEmit --strict --skipLibCheck --module node16 --moduleResolution node16 \
  --target es2022 --types node --typeRoots "$root/node_modules/@types" smoke-types.mts smoke-types.cts
# Every file binding.gyp runs at configure time ships, so a source build from the tarball works.
for f in $(grep -o "node [a-z/-]*\.js" "$root/binding.gyp" | cut -d' ' -f2); do
  [ -f "node_modules/lazykernel/$f" ] || { echo "pack-smoke: the tarball lacks $f, which binding.gyp runs"; exit 1; }
done
echo "pack-smoke: ok: $tarball $(du -k "$work/$tarball" | cut -f1) KiB packed, $(du -sk node_modules/lazykernel | cut -f1) KiB installed, npm install ${install_s} s"

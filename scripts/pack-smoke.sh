#!/usr/bin/env bash
# Packs lazykernel with its prebuilt binary and installs the tarball into two empty
# projects, a CommonJS one and an ES module one, with install scripts off and no compiler
# on PATH. Each must load and compute (require; named imports), and type-check (node16
# resolution); `npx lazykernel info` must say the prebuilt binary loaded.
# Prints the tarball's size and the install times.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
npm run --silent prebuild >/dev/null
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
grep -q '^binary *prebuilt: ' info.txt || { echo "pack-smoke: the prebuilt binary did not load"; exit 1; }
# Every file binding.gyp runs at configure time ships, so a source build from the tarball works.
for f in $(grep -o "node [a-z/-]*\.js" "$root/binding.gyp" | cut -d' ' -f2); do
  [ -f "node_modules/lazykernel/$f" ] || { echo "pack-smoke: the tarball lacks $f, which binding.gyp runs"; exit 1; }
done
echo "pack-smoke: ok: $tarball $(du -k "$work/$tarball" | cut -f1) KiB packed, $(du -sk node_modules/lazykernel | cut -f1) KiB installed"

#!/usr/bin/env bash
# Packs lazykernel, installs the tarball into an empty project with install scripts off
# and no compiler on PATH, and checks that it loads and computes a Gaussian sum right.
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
npm install --ignore-scripts --no-audit --no-fund "$work/$tarball" >/dev/null
# Only node itself on PATH: no cc, c++, make, python.
mkdir "$work/bin"
ln -s "$(command -v node)" "$work/bin/node"
cp "$root/scripts/smoke.js" .
PATH="$work/bin" node smoke.js
echo "pack-smoke: ok ($(du -k "$work/$tarball" | cut -f1) KiB tarball)"

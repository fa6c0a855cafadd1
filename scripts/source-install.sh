#!/usr/bin/env bash
# The two source install paths, on the committed HEAD (no prebuilt binary: both compile
# the addon with node-gyp, as on a platform without one):
#   1. git clone && npm install, then require() the clone;
#   2. npm install git+file://<repo> in an empty project (npm clones, installs, runs
#      `prepare`, packs, installs the tarball), then require() and import it.
# Each must load and compute (scripts/smoke.*). Prints the time each install took.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export JOBS=max   # node-gyp: compile on every core
elapsed() { node -p "($EPOCHREALTIME - $1).toFixed(0)"; }

git clone -q "$root" "$work/clone"
cd "$work/clone"
t=$EPOCHREALTIME
npm install --no-audit --no-fund >"$work/clone.log" 2>&1 || { tail -40 "$work/clone.log"; exit 1; }
clone_s=$(elapsed "$t")
[ -f dist/index.js ] || { echo "source-install: npm install in a clone left no dist/ (prepare did not run)"; exit 1; }
mkdir "$work/from-clone" && cd "$work/from-clone"
cp "$root"/scripts/smoke-check.cjs "$root"/scripts/smoke.cjs "$root"/scripts/smoke.mjs .
mkdir node_modules && ln -s "$work/clone" node_modules/lazykernel
node smoke.cjs
node smoke.mjs

mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
t=$EPOCHREALTIME
npm install --no-audit --no-fund "git+file://$root" >"$work/git.log" 2>&1 || { tail -40 "$work/git.log"; exit 1; }
git_s=$(elapsed "$t")
cp "$root"/scripts/smoke-check.cjs "$root"/scripts/smoke.cjs "$root"/scripts/smoke.mjs .
node smoke.cjs
node smoke.mjs
echo "source-install: ok: git clone && npm install ${clone_s} s; npm install git+file:// ${git_s} s (each compiles the addon)"

#!/usr/bin/env bash
# The Linux prebuilds the package ships: prebuilds/linux-x64/ and prebuilds/linux-arm64/,
# each lazykernel.napi.glibc.node with the libgomp.so.1 it was linked against (and, on x64
# where nvcc exists, the CUDA plugin), stripped.
#
# They are built inside a Debian 11 root (glibc 2.31, GCC 10, CMake 3.18) made with
# debootstrap, so that they load on distributions older than the build machine: a binary
# needs the newest symbol version it references, and a newer glibc's headers and static
# libgcc bring newer ones (arc4random 2.36, _dl_find_object 2.35). arm64 is cross-compiled
# in the same root with Debian 11's aarch64 toolchain. Every shipped file is then checked
# by its version needs (readelf, scripts/buildroot.sh): no GLIBC version newer than
# $baseline, no libstdc++ one at all.
#
#   sudo bash scripts/prebuild-linux.sh [x64] [arm64]      (both when none is named)
#
# Needs root (debootstrap, chroot, bind mounts) and Debian's package mirror. The root is
# kept for the next run under $LAZYKERNEL_CACHE (scripts/buildroot.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
arches=("$@"); ((${#arches[@]})) || arches=(x64 arm64)
baseline=2.28

# shellcheck source=scripts/buildroot.sh
source "$root/scripts/buildroot.sh"
buildroot_ensure
buildroot="$LK_BUILDROOT"

# The repository is seen read-only inside the root, at its own path (so the paths nvcc and
# CMake print are the same inside and out); builds go to the root's /out. The CUDA
# toolkit, where there is one, is seen there too: the plugin is built by its nvcc with the
# root's GCC as host compiler.
cuda="$(readlink -f "${CUDA_HOME:-/usr/local/cuda}" 2>/dev/null || true)"
case "$cuda" in /|/usr|/usr/local|/opt) cuda="" ;; esac  # never a system prefix over the root's own
[ -n "$cuda" ] && [ -x "$cuda/bin/nvcc" ] || cuda=""
mounts=()
cleanup() { for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" || true; done; }
trap cleanup EXIT
bind_ro() {
  mkdir -p "$buildroot$1"
  mount --bind -o ro "$1" "$buildroot$1"
  mounts+=("$buildroot$1")
  # Bound read-only in one call; check that it took, before anything is built.
  if touch "$buildroot$1/.lazykernel-rw-check" 2>/dev/null; then
    rm -f "$1/.lazykernel-rw-check"
    echo "prebuild-linux: $1 is writable inside the root" >&2
    exit 1
  fi
}
bind_ro "$root"
if [ -n "$cuda" ]; then
  bind_ro "$cuda"
  LK_EXTRA_PATH="$cuda/bin"
fi
mkdir -p "$buildroot/proc"
mount -t proc proc "$buildroot/proc"
mounts+=("$buildroot/proc")

in_root() { in_buildroot "cd '$root' && $1"; }

for arch in "${arches[@]}"; do
  out="/out/linux-$arch"
  case "$arch" in
    x64)
      cross=""
      gomp=/usr/lib/x86_64-linux-gnu/libgomp.so.1
      strip=strip ;;
    arm64)
      # -Wno-psabi: GCC's note that GCC 10 changed how pairs are passed on arm64; all of
      # the addon is built by one compiler.
      cross="--CDCMAKE_SYSTEM_NAME=Linux --CDCMAKE_SYSTEM_PROCESSOR=aarch64 --CDCMAKE_C_COMPILER=aarch64-linux-gnu-gcc --CDCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ --CDLAZYKERNEL_CUDA=OFF --CDCMAKE_CXX_FLAGS=-Wno-psabi"
      gomp=/usr/aarch64-linux-gnu/lib/libgomp.so.1
      strip=aarch64-linux-gnu-strip ;;
    *) echo "prebuild-linux: unknown architecture '$arch' (x64 or arm64)" >&2; exit 2 ;;
  esac
  echo "prebuild-linux: building linux-$arch in $buildroot"
  # A clean build each time: CMake caches what it found (a CUDA compiler or not).
  rm -rf "$buildroot$out"
  in_root "node node_modules/cmake-js/bin/cmake-js build --config Release --out $out $cross"
  if [ "$arch" = x64 ] && [ -n "$cuda" ] && [ ! -f "$buildroot$out/Release/lazykernel_cuda.so" ]; then
    echo "prebuild-linux: $cuda has nvcc, but the CUDA plugin was not built" >&2
    exit 1
  fi
  # Stripped inside the root (the host's binutils know only their own architecture), and
  # checked before they replace what prebuilds/ held.
  ship="$buildroot$out/ship"
  mkdir "$ship"
  cp "$buildroot$out/Release/lazykernel.node" "$ship/lazykernel.napi.glibc.node"
  cp "$(readlink -f "$buildroot$gomp")" "$ship/libgomp.so.1"
  [ ! -f "$buildroot$out/Release/lazykernel_cuda.so" ] || cp "$buildroot$out/Release/lazykernel_cuda.so" "$ship/"
  chmod 644 "$ship"/*
  in_root "$strip --strip-unneeded $out/ship/*"
  check_glibc_baseline "$ship" "$baseline"
  target="$root/prebuilds/linux-$arch"
  rm -rf "$target"
  mkdir -p "$root/prebuilds"
  mv "$ship" "$target"
done

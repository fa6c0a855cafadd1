# Sourced by scripts/prebuild-linux.sh and scripts/pack-smoke.sh: the Debian 11 root that
# builds and tests the portable prebuilds, the official Node binaries that run in it and
# under qemu, and the check of a binary's glibc symbol versions.

# Official Node builds from the npm registry (node-linux-<arch>): they need glibc 2.28, the
# baseline the prebuilds keep, and run in the Debian 11 root and under qemu-aarch64.
# 20: the oldest Node the package supports (package.json engines).
LK_NODE_VERSION=20.20.2
# Kept between runs: the Debian 11 root (1.4 GB with its build folders) and the Node binaries.
LK_CACHE="$(realpath -m "${LAZYKERNEL_CACHE:-/var/cache/lazykernel}")"
LK_BUILDROOT="$LK_CACHE/buildroot-debian11"
# What the root holds: the compilers for both architectures, CMake, Eigen.
LK_BUILDROOT_PACKAGES=g++,make,cmake,libeigen3-dev,g++-aarch64-linux-gnu,binutils-aarch64-linux-gnu


# buildroot_ensure: $LK_BUILDROOT holds Debian 11 (minbase) with $LK_BUILDROOT_PACKAGES
# and the x64 Node, made once with debootstrap from the Debian mirror this machine's apt uses.
buildroot_ensure() {
  local dir="$LK_BUILDROOT" stamp="$LK_BUILDROOT_PACKAGES node-$LK_NODE_VERSION" mirror node
  [ "$(cat "$dir/.lazykernel-stamp" 2>/dev/null)" = "$stamp" ] && return 0
  [ "$(id -u)" = 0 ] || { echo "buildroot: making $dir needs root (debootstrap)" >&2; return 1; }
  if grep -qF " $dir/" /proc/mounts; then echo "buildroot: something is still mounted under $dir" >&2; return 1; fi
  command -v debootstrap >/dev/null || { apt-get update -q && apt-get install -y -q debootstrap; } >/dev/null
  mirror="${LAZYKERNEL_DEBIAN_MIRROR:-$(debian_mirror)}"
  [ -n "$mirror" ] || { echo "buildroot: no Debian mirror in apt's sources; set LAZYKERNEL_DEBIAN_MIRROR" >&2; return 1; }
  node="$(node_binary x64)"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "buildroot: debootstrap Debian 11 into $dir"
  debootstrap --variant=minbase --include="$LK_BUILDROOT_PACKAGES" bullseye "$dir" "$mirror" >"$dir.log" 2>&1 ||
    { tail -n 20 "$dir.log" >&2; echo "buildroot: debootstrap failed (log: $dir.log)" >&2; return 1; }
  rm -f "$dir"/var/cache/apt/archives/*.deb
  install -m 755 "$node" "$dir/usr/local/bin/node"
  echo "$stamp" >"$dir/.lazykernel-stamp"
}

# The main Debian archive among apt's sources: the entry for this system's own release
# (deb822 .sources files, then the one-line format), not a third party's /debian.
debian_mirror() {
  local codename
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  {
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
    awk -v c="$codename" 'BEGIN { RS = ""; FS = "\n" } {
      uri = ""; suite = 0; main = 0
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
        if ($i ~ /^Suites:/ && (" " $i " ") ~ (" " c " ")) suite = 1
        if ($i ~ /^Components:/ && (" " $i " ") ~ / main /) main = 1
      }
      if (suite && main && uri ~ /\/debian\/?$/) { sub(/\/$/, "", uri); print uri; exit }
    }'
  { cat /etc/apt/sources.list 2>/dev/null || true; } |
    awk -v c="$codename" '$1 == "deb" { i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /^\[/ || $i ~ /\]$/) i++
      main = 0; for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
      if ($(i + 1) == c && main && $i ~ /\/debian\/?$/) { sub(/\/$/, "", $i); print $i; exit } }'
  } | head -n 1
  return 0
}

# in_buildroot COMMAND: runs COMMAND with bash inside the root, with a clean environment.
in_buildroot() {
  chroot "$LK_BUILDROOT" /usr/bin/env -i HOME=/root PATH="${LK_EXTRA_PATH:+$LK_EXTRA_PATH:}/usr/local/bin:/usr/bin:/bin" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" bash -c "$1"
}

# node_binary ARCH (x64 | arm64): prints the path of that architecture's Node binary,
# fetched once with npm.
node_binary() {
  local dir="$LK_CACHE/node-v$LK_NODE_VERSION-linux-$1"
  if [ ! -x "$dir/bin/node" ]; then
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-$1@$LK_NODE_VERSION" >/dev/null && tar xzf node-linux-*.tgz) >&2 || return 1
    mkdir -p "$LK_CACHE" && rm -rf "$dir" && mv "$tmp/package" "$dir" && rm -rf "$tmp"
  fi
  echo "$dir/bin/node"
}

# check_glibc_baseline DIR BASELINE: every file in DIR needs no glibc symbol version newer
# than BASELINE, and no libstdc++ one (it is linked in statically). Read from the version
# needs that the loader checks (readelf reads any architecture's ELF); the symbols behind
# an offending version are listed from objdump.
check_glibc_baseline() {
  local dir="$1" baseline="$2" f needs version newest bad=0
  for f in "$dir"/*; do
    needs="$(readelf -V --wide "$f" | sed -n 's/^ *0x[0-9a-f]*: *Name: \(\S*\) .*/\1/p' | sort -u)"
    newest="$(grep -o '^GLIBC_[0-9][0-9.]*$' <<<"$needs" | sed 's/GLIBC_//' | sort -V | tail -n 1)"
    [ -n "$newest" ] || { echo "glibc baseline: $f: no glibc version needs found (readelf failed?)" >&2; bad=1; continue; }
    for version in $(grep -o '^GLIBC_[0-9][0-9.]*$' <<<"$needs" | sed 's/GLIBC_//'); do
      if [ "$(printf '%s\n%s\n' "$version" "$baseline" | sort -V | tail -n 1)" != "$baseline" ]; then
        echo "glibc baseline: $f needs GLIBC_$version, newer than $baseline, for:" $(objdump -T "$f" | grep -F "GLIBC_$version" | awk '{ print $NF }') >&2
        bad=1
      fi
    done
    if grep -qE '^(GLIBCXX_|CXXABI_|GLIBC_PRIVATE)' <<<"$needs"; then
      echo "glibc baseline: $f needs" $(grep -E '^(GLIBCXX_|CXXABI_|GLIBC_PRIVATE)' <<<"$needs") "(libstdc++ is to be linked statically; GLIBC_PRIVATE is no interface)" >&2
      bad=1
    fi
    echo "$f: newest GLIBC_$newest (baseline $baseline), $(($(stat -c %s "$f") / 1024)) KiB"
  done
  return $bad
}

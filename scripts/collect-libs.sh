#!/usr/bin/env bash
# Builds the runtime image's whole file tree from a built binary: the binary at
# /usr/local/bin/revrouter, exactly the shared libraries `ldd` lists for it (and the dynamic
# loader) at the paths ldd resolved them to, and /etc/passwd and /etc/group naming the non-root
# user 65532. The Dockerfile's build stage runs it and its `FROM scratch` stage copies the tree;
# scripts/check-image-libs.sh runs it too, to check what that stage would hold.
#
# Usage: scripts/collect-libs.sh BINARY ROOTFS   (ROOTFS must not exist yet, or be empty)
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BINARY ROOTFS" >&2
  exit 2
fi
binary=$1 rootfs=$2
[ -f "$binary" ] || { echo "collect-libs: no binary at $binary" >&2; exit 1; }
if [ -e "$rootfs" ] && [ -n "$(ls -A "$rootfs")" ]; then
  echo "collect-libs: $rootfs is not empty" >&2
  exit 1
fi

# ldd lines: "libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x...)", the loader as
# "/lib64/ld-linux-x86-64.so.2 (0x...)", the kernel's "linux-vdso.so.1 (0x...)" (no file), and
# "libfoo.so => not found" for anything missing.
listing=$(ldd "$binary") || { echo "collect-libs: ldd failed on $binary" >&2; exit 1; }
if grep -q 'not found' <<<"$listing"; then
  echo "collect-libs: $binary needs libraries this machine does not have:" >&2
  grep 'not found' <<<"$listing" >&2
  exit 1
fi
libs=$(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$listing" | sort -u)

mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc"
install -m 0755 "$binary" "$rootfs/usr/local/bin/revrouter"
for lib in $libs; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"  # the file itself, under the name the loader looks for
  chmod 0755 "$rootfs$lib"
done
# Nothing here needs to look users up; the entries make `id` and logs show names, as distroless's.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
echo "collect-libs: $(wc -w <<<"$libs") shared objects for $binary into $rootfs"

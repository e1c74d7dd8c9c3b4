#!/usr/bin/env bash
# Makes a busybox root filesystem tar from Debian's busybox-static: /bin/busybox,
# one symlink per applet, /etc/passwd and /etc/group with root, daemon and
# nobody. Deterministic (sorted, root-owned, fixed mtimes). No network needed.
# Usage: scripts/busybox-rootfs.sh OUT.tar
set -euo pipefail
OUT=${1:?usage: busybox-rootfs.sh OUT.tar}
BB=/bin/busybox
[ -x "$BB" ] || { echo "busybox-rootfs: $BB missing: apt-get install busybox-static" >&2; exit 1; }
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
chmod 755 "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,home,var/tmp,var/www}
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
chmod 700 "$ROOT/root"
cp "$BB" "$ROOT/bin/busybox"
"$BB" --list-full | while read -r app; do
  [ "$app" = bin/busybox ] || ln -sf /bin/busybox "$ROOT/$app"
done
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'daemon:x:1:1:daemon:/usr/sbin:/bin/false' \
  'www-data:x:33:33:www-data:/var/www:/bin/false' 'nobody:x:65534:65534:nobody:/home:/bin/false' \
  >"$ROOT/etc/passwd"
printf '%s\n' 'root:x:0:' 'daemon:x:1:' 'www-data:x:33:' 'nogroup:x:65534:' >"$ROOT/etc/group"
echo 'hosts: files dns' >"$ROOT/etc/nsswitch.conf"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='2024-01-01 00:00:00Z' \
  -C "$ROOT" -cf "$OUT" .

#!/usr/bin/env bash
# The README's main job, offline on a fresh Debian machine (as root):
#   1. a busybox base image from Debian's busybox-static, through `rbuild import`;
#   2. `rbuild build -t wordpress:custom testdata/Dockerfiles/wordpress-custom`;
#   3. run it: `rbuild run` when this rbuild has it, else export an OCI layout
#      (`-o type=oci`), unpack it with umoci and run it under crun, and fetch
#      the site and the extension's page from busybox httpd inside.
# Usage: scripts/demo.sh [RBUILD=target/release/rbuild]   Env: RBUILD_ROOT (default: a fresh temp store)
set -euo pipefail
cd "$(dirname "$0")/.."
RBUILD=${1:-${RBUILD:-target/release/rbuild}}
[ -x "$RBUILD" ] || { echo "build rbuild first: cargo build --release (or pass the binary)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (overlay mounts, namespaces)" >&2; exit 1; }
BB=$(command -v busybox || true)
[ -n "$BB" ] || { echo "need busybox-static: apt-get install -y busybox-static" >&2; exit 1; }

WORK=$(mktemp -d /tmp/rbuild-demo.XXXXXX)
CTR=""
cleanup() { [ -n "$CTR" ] && crun delete -f "$CTR" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
export RBUILD_ROOT=${RBUILD_ROOT:-$WORK/store}
step() { printf '\n==> %s\n' "$*"; }

step "base image: busybox-static -> localhost/busybox:latest"
R=$WORK/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var/www,home}
chmod 1777 "$R/tmp"; chmod 700 "$R/root"
cp "$BB" "$R/bin/busybox"
"$BB" --list-full | while read -r app; do
  [ "$app" = bin/busybox ] || ln -sf /bin/busybox "$R/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n' >"$R/etc/group"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='2024-01-01 00:00:00Z' -C "$R" -cf "$WORK/busybox.tar" .
"$RBUILD" import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
  "$WORK/busybox.tar" localhost/busybox:latest

step "rbuild build -t wordpress:custom testdata/Dockerfiles/wordpress-custom"
"$RBUILD" build --progress plain -t wordpress:custom testdata/Dockerfiles/wordpress-custom
"$RBUILD" images

if "$RBUILD" --help 2>/dev/null | grep -qE "^  run( |$)"; then
  step "rbuild run wordpress:custom (fetching / and the extension page)"
  "$RBUILD" run --rm wordpress:custom sh -c \
    'httpd -p 8080 -h /var/www && sleep 0.5 && wget -qO- http://127.0.0.1:8080/ && wget -qO- http://127.0.0.1:8080/wp-content/plugins/custom-hello/hello.html'
  echo; echo "demo OK: wordpress:custom built by rbuild serves its site and extension"
  exit 0
fi

step "export: rbuild build -o type=oci, umoci unpack, crun run"
for t in umoci crun; do command -v $t >/dev/null || { echo "need $t (scripts/install-deps.sh)" >&2; exit 1; }; done
"$RBUILD" build --progress quiet -t wordpress:custom -o "type=oci,dest=$WORK/oci" testdata/Dockerfiles/wordpress-custom
umoci unpack --image "$WORK/oci:custom" "$WORK/bundle" >/dev/null
# Serve inside the container and fetch the pages through its loopback.
CMDLINE='httpd -p 8080 -h /var/www && sleep 0.5 && wget -qO- http://127.0.0.1:8080/ && wget -qO- http://127.0.0.1:8080/wp-content/plugins/custom-hello/hello.html'
jq --arg c "$CMDLINE" '.process.terminal=false | .process.args=["/bin/sh","-c",$c]' \
  "$WORK/bundle/config.json" >"$WORK/config.json" && mv "$WORK/config.json" "$WORK/bundle/config.json"
CTR=rbuild-demo-$$
crun run --bundle "$WORK/bundle" "$CTR" | tee "$WORK/out.html"
grep -q "custom-hello extension" "$WORK/out.html"
echo; echo "demo OK: wordpress:custom built by rbuild serves its site and extension"

#!/usr/bin/env bash
# The README's main job, offline, as root:
#   1. a busybox base image from Debian's busybox-static, through `rbuild import`;
#   2. `rbuild build -t wordpress:custom testdata/Dockerfiles/wordpress-custom`;
#   3. `rbuild run -d -p PORT:80 wordpress:custom`, then an HTTP request from the
#      host to the site and to the custom extension's page; stop and remove it.
# Usage: scripts/demo.sh [RBUILD]   (default: rbuild on PATH, else target/release/rbuild)
# Env: RBUILD_ROOT (default: a fresh temporary store), DEMO_PORT (default 8080)
set -euo pipefail
cd "$(dirname "$0")/.."
RBUILD=${1:-${RBUILD:-$(command -v rbuild || echo target/release/rbuild)}}
PORT=${DEMO_PORT:-8080}
[ -x "$RBUILD" ] || { echo "demo: no rbuild binary at $RBUILD: run scripts/quickstart.sh or cargo build --release" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "demo: run as root (overlay mounts, namespaces, cgroups)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/rbuild-demo.XXXXXX)
NAME=rbuild-demo-$$
cleanup() { "$RBUILD" rm -f "$NAME" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
export RBUILD_ROOT=${RBUILD_ROOT:-$WORK/store}
step() { printf '\n==> %s\n' "$*"; }

step "base image: Debian's busybox-static -> localhost/busybox:latest"
scripts/busybox-rootfs.sh "$WORK/busybox.tar"
"$RBUILD" import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
  "$WORK/busybox.tar" localhost/busybox:latest

step "rbuild -t wordpress:custom testdata/Dockerfiles/wordpress-custom"
"$RBUILD" -t wordpress:custom --progress plain testdata/Dockerfiles/wordpress-custom
"$RBUILD" images

step "rbuild run -d -p $PORT:80 wordpress:custom"
"$RBUILD" run -d --name "$NAME" -p "$PORT:80" wordpress:custom
"$RBUILD" ps
fetch() { busybox wget -qO- "http://127.0.0.1:$PORT$1"; }
for _ in $(seq 1 50); do fetch / >/dev/null 2>&1 && break; sleep 0.1; done
fetch / | tee "$WORK/page.html"
fetch /wp-content/plugins/custom-hello/hello.html | tee -a "$WORK/page.html"
grep -q "custom-hello extension" "$WORK/page.html"
"$RBUILD" stop "$NAME" >/dev/null
"$RBUILD" rm "$NAME" >/dev/null
echo; echo "demo OK: wordpress:custom built by rbuild serves its site and extension on port $PORT"

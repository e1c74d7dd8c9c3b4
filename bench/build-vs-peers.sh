#!/usr/bin/env bash
# Build benchmark: rbuild vs BuildKit (dockerd 20.10 from Debian's docker.io,
# DOCKER_BUILDKIT=1 docker build) vs buildah (`buildah bud --layers`), the
# same Dockerfiles and contexts, interleaved, REPS repetitions, medians and
# ratios printed as a Markdown table (paste it into BENCHMARKS.md).
#
# Scenarios (issue 4): 1 cold build of a small multi-stage busybox Dockerfile,
# 2 no-op rebuild, 3 rebuild after changing one file copied in the last stage,
# 4 COPY of 50,000 files / 1 GB, 5 RUN steps writing 500 MB.
#
# Usage: bench/build-vs-peers.sh [REPS]   (as root; env RBUILD=path/to/rbuild,
# SCENARIOS="1 2 3 4 5", PEERS="buildkit buildah")
# Starts its own dockerd on a private socket and stops it at the end.
set -euo pipefail
export LC_ALL=C  # a dot in $EPOCHREALTIME and in numbers
cd "$(dirname "$0")/.."
REPS=${1:-5}
SCENARIOS=${SCENARIOS:-1 2 3 4 5}
PEERS=${PEERS:-buildkit buildah}
RBUILD=${RBUILD:-$PWD/target/release/rbuild}
W=${BENCH_DIR:-/tmp/rbuild-bench}
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ -x "$RBUILD" ] || cargo build --release --locked
for t in docker dockerd buildah skopeo busybox bc python3; do
  command -v "$t" >/dev/null || { echo "bench: $t missing: apt-get install docker.io buildah skopeo busybox-static bc python3" >&2; exit 1; }
done
mkdir -p "$W"
export RBUILD_ROOT=$W/rbuild-root
DOCKER=/usr/bin/docker
SOCK=$W/docker/docker.sock
export DOCKER_HOST=unix://$SOCK DOCKER_BUILDKIT=1

# Host fixes for the peers on this machine (see ../shared/peers/common.sh):
# crun refuses the hybrid cgroup layout until hugetlb is on v1; podman and
# buildah default to rlimits above this machine's hard limits.
if [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi
# conmon runs with a hard NPROC of 32768, so that is the ceiling for nproc.
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
{ [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$nofile" "$nofile" "$nproc" "$nproc" >"$W/containers.conf"
export CONTAINERS_CONF=$W/containers.conf

start_dockerd() {
  mkdir -p "$W/docker/root" "$W/docker/exec"
  dockerd --host "$DOCKER_HOST" --data-root "$W/docker/root" --exec-root "$W/docker/exec" \
    --pidfile "$W/docker/dockerd.pid" --default-ulimit "nofile=$nofile:$nofile" \
    --userland-proxy=false >"$W/docker/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do $DOCKER version >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "bench: dockerd did not start; see $W/docker/dockerd.log" >&2; exit 1
}
stop_dockerd() {
  local pid
  pid=$(cat "$W/docker/dockerd.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}
# Scenario 5 writes 500 MB of new random data per build into every tool's
# store: drop what the run made (stores, images, contexts) when it ends.
cleanup() {
  stop_dockerd
  buildah rmi -f bench:latest >/dev/null 2>&1 || true
  buildah rmi --prune >/dev/null 2>&1 || true
  umount -R "$W/docker/root" 2>/dev/null || true
  rm -rf "$RBUILD_ROOT" "$W/docker" "$W/ctx"
}
trap cleanup EXIT

# Base image localhost/busybox:latest in all three stores, from one rootfs tar.
scripts/busybox-rootfs.sh "$W/busybox.tar"
"$RBUILD" import -c 'CMD ["/bin/sh"]' "$W/busybox.tar" localhost/busybox:latest >/dev/null
buildah rmi -f localhost/busybox:latest >/dev/null 2>&1 || true
ctr=$(buildah from scratch)
buildah add -q "$ctr" "$W/busybox.tar" / >/dev/null
buildah config --cmd '["/bin/sh"]' --env PATH=/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
buildah commit -q --rm "$ctr" localhost/busybox:latest >/dev/null
if [[ " $PEERS " == *" buildkit "* ]]; then
  start_dockerd
  skopeo copy -q --dest-daemon-host "$DOCKER_HOST" containers-storage:localhost/busybox:latest docker-daemon:localhost/busybox:latest
fi

# Contexts: copies of bench/samples, plus generated big ones.
rm -rf "$W/ctx" && mkdir -p "$W/ctx" && cp -r bench/samples/* "$W/ctx/"
if [[ " $SCENARIOS " == *" 4 "* ]]; then
  python3 - "$W/ctx/bigcopy/ctx" <<'PY'
import os, sys
root = sys.argv[1]
size = 1_000_000_000 // 50_000
block = os.urandom(size)
for i in range(50_000):
    d = os.path.join(root, f"d{i // 1000:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}"), "wb") as f:
        f.write(block[i % 97:] + block[:i % 97])
PY
fi

# build TOOL DIR [extra args]: prints the wall time in seconds.
build() {
  local tool=$1 dir=$2; shift 2
  # Each build starts with the disk idle: no tool pays for the writeback of
  # what the previous one wrote (buildah's 500 MB in scenario 5).
  sync
  # bash's own clock: no `date` process inside the timed span (it would add
  # a millisecond or two, a tenth of a no-op rebuild).
  local t0=$EPOCHREALTIME t1
  case $tool in
    rbuild) "$RBUILD" build -q --progress quiet -t bench:latest "$@" "$dir" >/dev/null ;;
    buildkit) $DOCKER build -q -t bench:latest "$@" "$dir" >/dev/null ;;
    buildah) buildah bud -q --layers --isolation oci -t bench:latest "$@" "$dir" >/dev/null ;;
  esac
  t1=$EPOCHREALTIME
  echo "$t1 - $t0" | bc
}
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.4f", m}'; }

declare -A T
TOOLS="rbuild $PEERS"
for rep in $(seq 1 "$REPS"); do
  for tool in $TOOLS; do
    for s in $SCENARIOS; do
      case $s in
        1) T[$tool,1]+="$(build "$tool" "$W/ctx/small" --no-cache) " ;;
        2) build "$tool" "$W/ctx/small" >/dev/null; T[$tool,2]+="$(build "$tool" "$W/ctx/small") " ;;
        3) build "$tool" "$W/ctx/small" >/dev/null; echo "rep $rep $RANDOM" >"$W/ctx/small/ctx/a.txt"
           T[$tool,3]+="$(build "$tool" "$W/ctx/small") " ;;
        4) T[$tool,4]+="$(build "$tool" "$W/ctx/bigcopy" --no-cache) " ;;
        5) T[$tool,5]+="$(build "$tool" "$W/ctx/bigrun" --no-cache) " ;;
      esac
    done
  done
done

NAMES=([1]="cold build, small multi-stage" [2]="no-op rebuild" [3]="rebuild after one file changed" [4]="COPY 50,000 files / 1 GB" [5]="RUN writing 500 MB")
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r); $(date -u +%F); $REPS repetitions, medians in seconds"
echo
printf '| scenario | rbuild |'; for p in $PEERS; do printf ' %s | rbuild/%s |' "$p" "$p"; done; echo
printf '|---|---|'; for p in $PEERS; do printf -- '---|---|'; done; echo
for s in $SCENARIOS; do
  r=$(echo "${T[rbuild,$s]}" | tr ' ' '\n' | grep . | median)
  printf '| %s. %s | %s |' "$s" "${NAMES[$s]}" "$r"
  for p in $PEERS; do
    m=$(echo "${T[$p,$s]}" | tr ' ' '\n' | grep . | median)
    printf ' %s | %.2fx |' "$m" "$(echo "$r / $m" | bc -l)"
  done
  echo
done

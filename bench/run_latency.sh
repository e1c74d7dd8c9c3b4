#!/usr/bin/env bash
# Start+exit latency of `true` in a container, side by side and interleaved:
#   rbuild run --rm IMAGE true            (default private network: slirp4netns)
#   rbuild run --rm --network none IMAGE true
#   crun run -b BUNDLE                    (same busybox rootfs; crun spec's
#                                          defaults: own netns with loopback only)
#   podman run --rm --network none IMAGE true, and podman run --rm IMAGE true
# The same busybox rootfs feeds all three (rbuild import, a crun bundle,
# podman import). Prints per-tool medians (ms) and the ratios to crun.
# Usage: bench/run_latency.sh [RUNS=30]   (root; needs crun, podman, busybox)
set -euo pipefail
RUNS=${1:-30}
HERE=$(cd "$(dirname "$0")/.." && pwd)
RBUILD=${RBUILD:-$HERE/target/release/rbuild}
[ -x "$RBUILD" ] || (cd "$HERE" && cargo build --release --locked --bin rbuild >&2)
W=$(mktemp -d /tmp/rbuild-bench.XXXXXX)
trap 'rm -rf "$W"; podman rmi -f localhost/rbuild-bench:latest >/dev/null 2>&1 || true' EXIT
mkdir -p "$W/rootfs/bin" "$W/rootfs/etc" "$W/rootfs/tmp" "$W/rootfs/proc" "$W/rootfs/dev" "$W/rootfs/sys"
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$W/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$W/rootfs/etc/passwd"
tar --numeric-owner -C "$W/rootfs" -cf "$W/rootfs.tar" .
export RBUILD_ROOT="$W/store" RBUILD_RUNTIME_DIR="$W/run"
# podman defaults to nofile/nproc limits above this machine's hard limits
# (no CAP_SYS_RESOURCE): give it limits at the hard ones.
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$nofile" "$nofile" "$nproc" "$nproc" > "$W/containers.conf"
export CONTAINERS_CONF="$W/containers.conf"
"$RBUILD" import "$W/rootfs.tar" bench:1 >/dev/null
podman import -q "$W/rootfs.tar" localhost/rbuild-bench:latest >/dev/null
mkdir -p "$W/bundle" && cp -a "$W/rootfs" "$W/bundle/rootfs"
(cd "$W/bundle" && crun spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' config.json)
grep -q '"true"' "$W/bundle/config.json"

declare -A CMD=(
  [rbuild]="$RBUILD run --rm bench:1 true"
  [rbuild-netnone]="$RBUILD run --rm --network none bench:1 true"
  [crun]="crun run -b $W/bundle rbuild-bench"
  [podman-netnone]="podman run --rm --network none localhost/rbuild-bench:latest true"
  [podman]="podman run --rm localhost/rbuild-bench:latest true"
)
ORDER=(rbuild rbuild-netnone crun podman-netnone podman)
for name in "${ORDER[@]}"; do  # warm up, and fail loudly if one does not work
  ${CMD[$name]} >/dev/null || { echo "$name failed: ${CMD[$name]}" >&2; exit 1; }
done
for ((i = 0; i < RUNS; i++)); do
  for name in "${ORDER[@]}"; do
    s=$(date +%s%N); ${CMD[$name]} >/dev/null; e=$(date +%s%N)
    echo "$name $(( (e - s) / 1000 ))" >> "$W/samples"
  done
done
median() { grep "^$1 " "$W/samples" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }
CRUN=$(median crun)
printf "%-16s %10s %12s\n" tool "median ms" "vs crun"
for name in "${ORDER[@]}"; do
  m=$(median "$name")
  printf "%-16s %10s %11sx\n" "$name" "$m" "$(awk -v a="$m" -v b="$CRUN" 'BEGIN {printf "%.2f", a/b}')"
done
echo "($RUNS interleaved runs each, $(nproc) CPUs, $(uname -r))"

#!/usr/bin/env bash
# Installs rbuild on a Debian machine and runs its main job (README, first
# command): the Debian packages rbuild uses at run time, a release build of
# this checkout installed into /usr/local/bin, then scripts/demo.sh (build an
# image from a Dockerfile, run it, fetch a page from it). Needs the network
# only for apt and crates.io. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (sudo scripts/quickstart.sh)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "quickstart: cargo not found: install a Rust toolchain >= 1.80 (rustup)" >&2; exit 1; }
PKGS=(busybox-static slirp4netns uidmap)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The machine's apt cleaning hook sometimes deletes a package mid-install: retry once.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cargo install --locked --quiet --path . --root /usr/local
exec scripts/demo.sh /usr/local/bin/rbuild

#!/usr/bin/env bash
# Installs the Debian packages rbuild's tests use: busybox-static (test base
# images), crun/runc (runtime peers), slirp4netns/passt (private networking),
# uidmap (rootless), umoci/skopeo/oci-image-tool (OCI oracles), docker-registry
# with apache2-utils (htpasswd) and openssl for the registry auth/TLS tests,
# docker.io (BuildKit for the differential build tests), openssh-client
# (ssh-agent for RUN --mount=type=ssh), bzip2/xz-utils (ADD archive tests).
# Idempotent; retries once because this machine's apt cleaning hook sometimes
# deletes a package mid-install.
set -uo pipefail
PKGS=(busybox-static crun runc slirp4netns passt uidmap umoci skopeo oci-image-tool podman
      docker-registry apache2-utils openssl jq libseccomp-dev pkg-config procps
      docker.io openssh-client bzip2 xz-utils buildah python3)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
for attempt in 1 2 3; do
  if apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/rbuild-apt.log 2>&1; then
    exit 0
  fi
  echo "install-deps: apt-get install attempt $attempt failed; retrying" >&2
done
cat /tmp/rbuild-apt.log >&2
exit 1

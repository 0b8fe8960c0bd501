#!/usr/bin/env bash
# Creates the `debian:bookworm-slim` image locally when it cannot be pulled
# from a registry: debootstrap a minimal bookworm root filesystem, trim it the
# way Debian's slim images are trimmed, and `docker import` it.
#
# Usage: compose/bootstrap-base-image.sh [IMAGE] [MIRROR]
set -euo pipefail

image="${1:-debian:bookworm-slim}"
mirror="${2:-http://deb.debian.org/debian}"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image already present"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "error: debootstrap is not installed" >&2
  echo "hint: apt-get install debootstrap" >&2
  exit 1
fi

root=$(mktemp -d /tmp/mailctl-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT

echo "debootstrap bookworm into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 30 "$root.log" >&2
  exit 1
}
rm -f "$root.log"

# Same trims as the official slim image: no docs, man pages or apt lists.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CFG
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
echo 'deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main' >"$root/etc/apt/sources.list"
: >"$root/etc/hostname"
rm -f "$root/etc/resolv.conf"

tar -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$image" >/dev/null
echo "imported $image"

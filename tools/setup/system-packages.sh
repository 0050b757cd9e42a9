#!/usr/bin/env bash
# Installs the Debian packages Dolly needs (when run as root) and checks that every binary is there.
# Not root: prints the one apt-get line to run, and fails if a binary is missing.
set -euo pipefail

# openssl: the tests make their own CAs and certificates (Kafka over TLS, NBD over TCP).
# curl: the OVA benchmark's HTTP client (bench/ova.ts), so that what it times is Dolly's work.
# golang-go, golang-github-vmware-govmomi-dev: tools/vcsim-import, which imports Dolly's OVA
# exports into govmomi's vSphere simulator (govmomi ships as sources, built offline).
packages=(qemu-utils qemu-system-common libnbd-bin kcat openssl curl golang-go golang-github-vmware-govmomi-dev)
binaries=(qemu-img qemu-io qemu-nbd qemu-storage-daemon nbdinfo nbdcopy kcat openssl curl go)
# Source trees that no binary stands for, checked by one file each.
govmomi_sources=/usr/share/gocode/src/github.com/vmware/govmomi/simulator/model.go

missing_binaries() {
  local b
  for b in "${binaries[@]}"; do command -v "$b" >/dev/null 2>&1 || echo "$b"; done
  [ -f "$govmomi_sources" ] || echo "govmomi-sources($govmomi_sources)"
}

missing=$(missing_binaries)
if [ -z "$missing" ]; then exit 0; fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian packages: ${packages[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package lists of a fresh machine may be empty or stale.
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
else
  echo "setup: missing $(echo $missing | tr '\n' ' '); install them with: sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi

missing=$(missing_binaries)
if [ -n "$missing" ]; then
  echo "setup: still missing after apt-get install: $(echo $missing | tr '\n' ' ')" >&2
  exit 1
fi

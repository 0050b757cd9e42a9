#!/usr/bin/env bash
# Builds tools/vcsim-import into .local/bin/vcsim-import, offline, from Debian's packages: golang-go
# and golang-github-vmware-govmomi-dev (govmomi 0.24 as sources under /usr/share/gocode), in GOPATH
# mode since that package ships no module. Skips the build when the binary is newer than main.go.
# Prints the binary's path on stdout.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source_file="$root/tools/vcsim-import/main.go"
out="$root/.local/bin/vcsim-import"
gopath=/usr/share/gocode
govmomi="$gopath/src/github.com/vmware/govmomi"

if [ -x "$out" ] && [ "$out" -nt "$source_file" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "vcsim-import build: no 'go' command; install it with: apt-get install -y golang-go (or run tools/setup/system-packages.sh)" >&2
  exit 1
fi
if [ ! -f "$govmomi/simulator/model.go" ] || [ ! -f "$govmomi/ovf/manager.go" ] || [ ! -f "$govmomi/nfc/lease.go" ]; then
  echo "vcsim-import build: govmomi sources missing at $govmomi; install them with: apt-get install -y golang-github-vmware-govmomi-dev" >&2
  exit 1
fi

mkdir -p "$root/.local/bin" "$root/.local/go-build-cache"
# The build cache lives in the project (HOME may not be writable); a second build takes seconds.
# Build to a temporary name first so an interrupted build never leaves a binary that looks fresh.
cd "$root"
GO111MODULE=off GOPATH="$gopath" GOCACHE="$root/.local/go-build-cache" \
  go build -o "$out.partial.$$" ./tools/vcsim-import
mv -f "$out.partial.$$" "$out"
echo "$out"

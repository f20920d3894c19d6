#!/usr/bin/env bash
# The whole test suite: installs what it needs, then vet, the race-enabled
# unit and integration tests, a short fuzz of the document decoder, and the
# network tests of the netem backend in a VM with Debian's kernel.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# Debian packages the tests use (real processes, real tools): install the
# missing ones. procps gives ps for debugging output; util-linux gives logger.
need=()
command -v logger >/dev/null || need+=(bsdutils)
command -v ps >/dev/null || need+=(procps)
command -v gcc >/dev/null || need+=(gcc)
command -v prometheus >/dev/null || need+=(prometheus)    # a real Prometheus for the prometheus probe
command -v ip >/dev/null || need+=(iproute2)             # network namespaces and veth pairs for network faults
command -v chromium >/dev/null || need+=(chromium)        # a real browser for the report's browser test
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)   # a real PostgreSQL for the store and server tests
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing packages: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
if ! command -v go >/dev/null; then
  echo "Go is not installed: install Go 1.26 or newer (https://go.dev/doc/install)" >&2
  exit 1
fi

go mod download
echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted: $unformatted" >&2
  exit 1
fi
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
echo "== fuzz the experiment decoder (20s)"
go test -run '^$' -fuzz FuzzParse -fuzztime 20s ./experiment
# This kernel may lack tc netem (most CI and microVM kernels do), and then
# the tests above skip the netem backend: run them under Debian's kernel in
# a qemu VM (about 90s).
echo "== the netem backend under Debian's kernel (qemu)"
scripts/netem-vm.sh

#!/usr/bin/env bash
# Makes sure an ORY Hydra binary (the OpenID Connect provider the
# internal/oidc tests start) is built and prints its path as the last line
# on stdout, e.g.
#
#	AIRLOCK_TEST_HYDRA=$(bash scripts/ensure-hydra.sh) go test ./internal/oidc
#
# Hydra is pinned in the tools module tools/hydra (its own go.mod, so none
# of Hydra's dependencies enter Airlock's). The binary is built once into
# $AIRLOCK_HYDRA_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/airlock/hydra),
# in a folder named after a hash of the tools module's go.mod and go.sum, the
# Go version and the build flags, so changing any of them builds it anew,
# and a warm call only checks that the file is there. Messages go to stderr.
set -euo pipefail

say() { echo "ensure-hydra: $*" >&2; }
die() { say "$*"; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mod=$root/tools/hydra
cache=${AIRLOCK_HYDRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock/hydra}

command -v go >/dev/null 2>&1 || die "go is not installed: Hydra is built from the Go module proxy with Go 1.26"
[ -f "$mod/go.mod" ] && [ -f "$mod/go.sum" ] || die "$mod/go.mod or go.sum is missing"

# How it is built, part of the cache key with the pin and Go's version.
# CGO off: the tests run Hydra on PostgreSQL, which needs no cgo (Hydra's
# SQLite support does, and is left out). -mod=readonly: what go.sum pins is
# what gets built, or the build fails.
build_env=(CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false")
build_args=(-trimpath -ldflags '-s -w')

key=$({ cat "$mod/go.mod" "$mod/go.sum"; go env GOVERSION; echo "${build_env[*]} ${build_args[*]}"; } | sha256sum | cut -c1-16)
bin=$cache/$key/hydra

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
# One build at a time: two test runs may start together.
exec 9>"$cache/.lock"
flock -w 1200 9 || die "timed out waiting for $cache/.lock"
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

say "building Hydra from $mod into $bin (a few minutes the first time)"
tmp=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$mod" && env "${build_env[@]}" go build "${build_args[@]}" -o "$tmp/hydra" github.com/ory/hydra/v2) 9>&- ||
	die "building Hydra failed (see the go output above)"
"$tmp/hydra" version >/dev/null 2>&1 || die "the Hydra binary built in $tmp does not run"
mkdir -p "$cache/$key"
mv "$tmp/hydra" "$bin"
# Older builds (another pin or Go) are of no more use.
for d in "$cache"/*/; do
	[ "${d%/}" = "$cache/$key" ] || rm -rf "${d%/}"
done
say "Hydra is built"
echo "$bin"

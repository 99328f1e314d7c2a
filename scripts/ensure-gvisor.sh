#!/usr/bin/env bash
# ensure-gvisor.sh: make dockerd offer gVisor's runsc runtime for Airlock's
# sandboxed sessions. Idempotent: a no-op when dockerd already lists a runsc
# runtime this script configured and it runs a container.
#
# By default it builds a pinned runsc from the Go module proxy (gVisor's
# "go" branch): Debian's runsc (20221219) fails most Chromium starts on
# current kernels. AIRLOCK_RUNSC_SOURCE=apt uses Debian's package instead.
# The runtime is registered with --network=host: runsc's own network stack
# refuses to start here ("cannot run with network enabled in root network
# namespace"), while with host networking the sandbox uses the container's
# own network namespace, so the node's session network rules still apply.
#
# It edits /etc/docker/daemon.json (keeping every other key) and reloads
# dockerd with SIGHUP, which reloads runtimes without a restart.
set -euo pipefail

# The pin: a pseudo-version of gvisor.dev/gvisor's "go" branch.
RUNSC_VERSION=${AIRLOCK_RUNSC_VERSION:-v0.0.0-20260905035102-160fafc42237}
SOURCE=${AIRLOCK_RUNSC_SOURCE:-build}
DAEMON_JSON=${AIRLOCK_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}
LIBDIR=/usr/local/lib/airlock
say() { echo "ensure-gvisor: $*" >&2; }
die() { say "$*"; exit 1; }

case "$SOURCE" in
build) RUNSC="$LIBDIR/runsc-$RUNSC_VERSION" ;;
apt) RUNSC=/usr/bin/runsc ;;
*) die "AIRLOCK_RUNSC_SOURCE=$SOURCE: want build (default) or apt" ;;
esac

command -v docker >/dev/null 2>&1 || die "docker is not installed: run scripts/ensure-docker.sh (or make docker) first"
docker info >/dev/null 2>&1 || die "no Docker daemon answers: run scripts/ensure-docker.sh (or make docker) first"

# configured: dockerd lists runsc with the path and arguments we want.
configured() {
	local rt
	rt=$(docker info --format '{{json .Runtimes}}' 2>/dev/null) || return 1
	command -v jq >/dev/null 2>&1 || return 1
	jq -e --arg p "$RUNSC" '.runsc.path == $p and ((.runsc.runtimeArgs // .runsc.options.runtimeArgs // []) | index("--network=host") != null)' <<<"$rt" >/dev/null 2>&1
}

if configured && [ -x "$RUNSC" ]; then
	exit 0
fi

[ "$(id -u)" = 0 ] || die "dockerd has no runsc runtime configured by Airlock and this is not root: run this script as root (it builds runsc into $LIBDIR and edits $DAEMON_JSON)"
command -v apt-get >/dev/null 2>&1 || die "not a Debian system (no apt-get): install gVisor's runsc (https://gvisor.dev/docs/user_guide/install/) and add it to $DAEMON_JSON as runtime \"runsc\" with runtimeArgs [\"--network=host\"]"
export DEBIAN_FRONTEND=noninteractive

if ! command -v jq >/dev/null 2>&1; then
	say "installing jq to edit $DAEMON_JSON"
	apt-get install -y -qq jq >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq jq >/dev/null; } ||
		die "could not install jq: apt-get install jq"
fi

if [ ! -x "$RUNSC" ]; then
	case "$SOURCE" in
	build)
		command -v go >/dev/null 2>&1 || die "go is not installed: runsc $RUNSC_VERSION is built from the Go module proxy; install Go 1.26, or use AIRLOCK_RUNSC_SOURCE=apt for Debian's (older) runsc"
		say "building runsc $RUNSC_VERSION from gvisor.dev/gvisor (a few minutes)"
		work=$(mktemp -d /tmp/airlock-runsc.XXXXXX)
		trap 'rm -rf "$work"' EXIT
		mkdir -p "$LIBDIR"
		(
			cd "$work"
			export GOFLAGS=-trimpath CGO_ENABLED=0
			printf 'module airlock-runsc-build\n\ngo 1.26\n' >go.mod
			go get "gvisor.dev/gvisor/runsc@$RUNSC_VERSION" >&2
			go build -o "$RUNSC.tmp" gvisor.dev/gvisor/runsc >&2
		) || die "building runsc $RUNSC_VERSION failed (see above): check that the Go module proxy answers (go env GOPROXY), or use AIRLOCK_RUNSC_SOURCE=apt"
		mv "$RUNSC.tmp" "$RUNSC"
		;;
	apt)
		say "installing Debian's runsc"
		apt-get install -y -qq runsc >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq runsc >/dev/null; } ||
			die "could not install Debian's runsc package: apt-get install runsc"
		;;
	esac
fi
"$RUNSC" --version >/dev/null 2>&1 || die "$RUNSC does not run ($RUNSC --version failed)"

mkdir -p "$(dirname "$DAEMON_JSON")"
[ -s "$DAEMON_JSON" ] || echo '{}' >"$DAEMON_JSON"
jq empty "$DAEMON_JSON" 2>/dev/null || die "$DAEMON_JSON is not valid JSON: fix it, then run this again"
tmp=$(mktemp "$DAEMON_JSON.XXXXXX")
jq --arg p "$RUNSC" '.runtimes.runsc = {path: $p, runtimeArgs: ["--network=host"]}' "$DAEMON_JSON" >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$DAEMON_JSON"
say "registered $RUNSC as runtime runsc in $DAEMON_JSON"

# SIGHUP makes dockerd reload its configuration, runtimes included.
pid=$(cat /var/run/docker.pid 2>/dev/null || pidof dockerd || true)
[ -n "$pid" ] || die "dockerd's pid is unknown (no /var/run/docker.pid): reload it (kill -HUP <pid> or systemctl reload docker)"
kill -HUP "$pid"
for _ in $(seq 50); do
	configured && break
	sleep 0.2
done
configured || die "dockerd did not pick up the runsc runtime after SIGHUP: docker info --format '{{json .Runtimes}}' says $(docker info --format '{{json .Runtimes}}'); check $DAEMON_JSON and dockerd's log"
say "dockerd offers runsc: $("$RUNSC" --version | head -n1)"

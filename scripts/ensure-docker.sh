#!/usr/bin/env bash
# Makes sure a Docker daemon answers on the local socket: installs Debian's
# docker.io when dockerd is missing (as root), starts dockerd in the
# background when no daemon answers, and waits for it. Otherwise it stops
# with a message saying what to install.
set -euo pipefail

sock=${AIRLOCK_DOCKER_SOCKET:-/var/run/docker.sock}
log=${AIRLOCK_DOCKERD_LOG:-/tmp/airlock-dockerd.log}

answers() {
	curl -sf --max-time 2 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1
}

# The provision node isolates session networks with nftables rules.
if ! command -v nft >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "airlock: nft is not installed: the provision node needs it for the session network rules; install nftables" >&2
		exit 1
	fi
	echo "airlock: installing nftables from Debian's packages" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq nftables >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq nftables >/dev/null; }
fi

if answers; then
	exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "airlock: no Docker daemon answers on $sock and dockerd is not installed." >&2
		echo "airlock: install Docker Engine (Debian: apt-get install docker.io) and start it." >&2
		exit 1
	fi
	echo "airlock: installing docker.io from Debian's packages" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq docker.io >/dev/null
fi
command -v curl >/dev/null 2>&1 || {
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
	else
		echo "airlock: curl is needed to check the Docker daemon; install curl" >&2
		exit 1
	fi
}

if answers; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "airlock: no Docker daemon answers on $sock; start it (sudo systemctl start docker) or run as root" >&2
	exit 1
fi

echo "airlock: starting dockerd in the background (log: $log)" >&2
# setsid keeps the daemon alive after this script and make exit.
setsid nohup dockerd --host "unix://$sock" >"$log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
	if answers; then
		echo "airlock: dockerd is up" >&2
		exit 0
	fi
	sleep 0.5
done
echo "airlock: dockerd did not answer within 30s; its log follows" >&2
tail -n 30 "$log" >&2
exit 1

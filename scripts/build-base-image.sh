#!/usr/bin/env bash
# Ensure the base image debian:bookworm-slim exists on the local Docker
# daemon. No registry is reachable here, so when it is missing it is built
# with debootstrap from the Debian mirror apt already uses on this machine,
# then imported. Idempotent: a no-op (one `docker image inspect`) when the
# image is present.
set -euo pipefail

IMAGE=debian:bookworm-slim
SUITE=bookworm

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
	exit 0
fi

echo "building $IMAGE locally with debootstrap (no registry reachable)"

SUDO=
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi

if ! command -v debootstrap >/dev/null 2>&1; then
	$SUDO apt-get install -y --no-install-recommends debootstrap
fi

# The mirror apt uses: the first non-security Debian URI in the apt sources,
# deb822 (*.sources) or one-line (*.list) format.
mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
	done
}
MIRROR=$(mirror | grep -i debian | grep -v -- '-security' | head -n1 || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=$(mirror | grep -i -- '-security' | head -n1 || true)
echo "mirror: $MIRROR${SECURITY:+, security: $SECURITY}"

DIR=$(mktemp -d /tmp/debootstrap-bookworm.XXXXXX)
cleanup() { $SUDO rm -rf "$DIR"; }
trap cleanup EXIT

$SUDO debootstrap --variant=minbase "$SUITE" "$DIR" "$MIRROR"

# Slim it as the official -slim image does: no docs, man pages or locales
# from later installs, and no apt caches left in layers.
$SUDO tee "$DIR/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
$SUDO tee "$DIR/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
$SUDO tee "$DIR/etc/apt/apt.conf.d/docker-no-recommends" >/dev/null <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
# apt sources inside the image: the mirror debootstrap used (and the host's
# security mirror, where Debian ships Chromium's updates).
{
	echo "deb $MIRROR $SUITE main"
	echo "deb $MIRROR $SUITE-updates main"
	if [ -n "$SECURITY" ]; then
		echo "deb $SECURITY $SUITE-security main"
	fi
} | $SUDO tee "$DIR/etc/apt/sources.list" >/dev/null
$SUDO rm -rf "$DIR"/var/lib/apt/lists/* "$DIR"/var/cache/apt/archives/*.deb \
	"$DIR"/usr/share/doc/* "$DIR"/usr/share/man/* "$DIR"/usr/share/info/* \
	"$DIR"/usr/share/locale/*

$SUDO tar -C "$DIR" -c . | docker import \
	-c 'CMD ["bash"]' \
	-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	- "$IMAGE" >/dev/null
docker image ls "$IMAGE"

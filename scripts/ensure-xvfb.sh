#!/usr/bin/env bash
# ensure-xvfb.sh: make sure Xvfb, xrandr and xclip (for the desktop
# package's tests) are installed; install them on Debian as root, or say what to do.
set -euo pipefail
if command -v Xvfb >/dev/null && command -v xrandr >/dev/null && command -v xclip >/dev/null; then
	exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "ensure-xvfb: installing xvfb, x11-xserver-utils and xclip" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends xvfb x11-xserver-utils xclip >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends xvfb x11-xserver-utils xclip >&2; }
	exit 0
fi
echo "ensure-xvfb: Xvfb, xrandr and xclip are needed: install the xvfb, x11-xserver-utils and xclip packages" >&2
exit 1

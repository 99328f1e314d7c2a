#!/usr/bin/env bash
# ensure-chromium.sh: make sure a Chromium is installed on this host for
# the browser tests (the viewer runs in it); install Debian's as root, or
# say what to do.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
	exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "ensure-chromium: installing chromium for the browser tests" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2; }
	exit 0
fi
echo "ensure-chromium: the browser tests need Chromium: install the chromium package" >&2
exit 1

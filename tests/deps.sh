#!/bin/sh
# Install, idempotently, every Debian and npm package the build and the
# tests need.  Only Debian's apt and the npm registry are used.
set -eu

PKGS="make gcc pkg-config libevent-dev libcurl4-openssl-dev libjansson-dev
libwebsockets-dev libssl-dev libcmocka-dev libsqlite3-dev python3-pytest
python3-aiohttp mandoc man-db clang libclang-rt-dev"
# Node.js may come from elsewhere on the machine; use Debian's only if absent.
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	echo "deps: installing$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi

# npm packages for the fakes' conformance tests and the Copilot runtime,
# pinned by tests/package-lock.json.  `npm ci` only when the lock changed.
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$top/tests/package-lock.json" ]; then
	stamp="$top/tests/node_modules/.ci-stamp"
	if [ ! -f "$stamp" ] || [ "$top/tests/package-lock.json" -nt "$stamp" ]; then
		echo "deps: npm ci in tests/"
		(cd "$top/tests" && npm ci --no-audit --no-fund --loglevel=error)
		touch "$stamp"
	fi
fi

#!/bin/sh
# make deb: the Debian package of this tree, built the Debian way
# (dpkg-buildpackage -us -uc -b) in a copy of it, OUT/src, so the checkout
# and its build/ are left alone.  The .deb, the .changes and lintian's
# report (OUT/lintian.txt) land in OUT.  Fails if lintian reports an error.
#
# usage: deb.sh OUT
set -eu
[ $# -eq 1 ] || { echo "usage: deb.sh OUT" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

# The build dependencies (debian/control) and lintian, idempotently, from
# Debian's apt, as tests/deps.sh does for the tests.
if ! command -v dpkg-checkbuilddeps >/dev/null 2>&1 ||
    ! (cd "$top" && dpkg-checkbuilddeps) 2>/dev/null ||
    ! dpkg-query -W -f='${Status}' lintian 2>/dev/null |
    grep -q 'install ok installed'; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	echo "deb: installing the build dependencies and lintian"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get build-dep -y -qq "$top"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	    dpkg-dev debhelper lintian mandoc
fi

# The copy: what git tracks (and new files it does not ignore), or
# everything but the build outputs outside git.  --version says which
# commit it was built from.
rm -rf "$out/src" "$out"/copilot-bridge_* "$out"/copilot-bridge-dbgsym_*
mkdir "$out/src"
if [ -e "$top/.git" ] && command -v git >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	    tar --null -T - --ignore-failed-read -cf -) | tar -C "$out/src" -xf -
else
	tar -C "$top" --exclude=./build --exclude=./tests/node_modules \
	    -cf - . | tar -C "$out/src" -xf -
fi
REVISION=$(sh "$top/packaging/revision.sh")
export REVISION

(cd "$out/src" && dpkg-buildpackage -us -uc -b)
rm -rf "$out/src"

changes=$(ls "$out"/copilot-bridge_*.changes)
echo "deb: lintian $changes"
rc=0
lintian --info --display-info --fail-on error "$changes" >"$out/lintian.txt" 2>&1 ||
    rc=$?
cat "$out/lintian.txt"
[ $rc -eq 0 ] || { echo "deb: lintian failed ($rc)" >&2; exit 1; }
ls "$out"/copilot-bridge_*.deb

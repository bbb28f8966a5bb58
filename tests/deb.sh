#!/bin/sh
# CI, as root: the Debian package from its build to its purge.
#
#   make deb (dpkg-buildpackage, lintian without errors), apt-get install
#   of the .deb, the service user, directories and config modes, the unit
#   enabled and verified, the shipped config passing --check (also as the
#   service user), the Copilot runtime installed by the documented command,
#   then apt-get purge: nothing of the package may remain but its system
#   user.  Everything it did is undone on the way out, so the suites that
#   follow see the machine as it was.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "deb.sh: run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

out=build/deb
work=$(mktemp -d /tmp/copilot-bridge-deb.XXXXXX)
cleanup() {
	apt-get purge -y -qq copilot-bridge >/dev/null 2>&1 || true
	rm -rf "$out" "$work"
}
trap cleanup EXIT
fail() {
	echo "deb.sh: FAIL: $*" >&2
	exit 1
}
mode_owner() {
	stat -c '%a %U %G' "$1"
}

if dpkg-query -W -f='${Status}' copilot-bridge 2>/dev/null |
    grep -q 'ok installed'; then
	fail "copilot-bridge is installed already; this step needs it absent"
fi

make deb
deb=$(ls "$PWD/$out"/copilot-bridge_*_*.deb)

# What exists before, to tell the package's leftovers from the system's.
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' |
    grep -v '^$' >"$work/files"
extra="/etc/copilot-bridge /var/lib/copilot-bridge /var/log/copilot-bridge
/usr/lib/copilot-bridge
/etc/systemd/system/multi-user.target.wants/copilot-bridge.service
/var/lib/systemd/deb-systemd-helper-enabled/copilot-bridge.service.dsh-also
/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/copilot-bridge.service"
for p in $(cat "$work/files") $extra; do
	if [ -e "$p" ] || [ -L "$p" ]; then
		echo "$p"
	fi
done >"$work/before"
user_before=$(getent passwd copilot-bridge || true)

echo "deb.sh: apt-get install $deb"
apt-get install -y -qq --no-install-recommends "$deb"

# The user, its directories and the config only it may read.
getent passwd copilot-bridge >/dev/null || fail "no user copilot-bridge"
[ "$(mode_owner /var/lib/copilot-bridge)" = "700 copilot-bridge copilot-bridge" ] ||
    fail "/var/lib/copilot-bridge is $(mode_owner /var/lib/copilot-bridge)"
[ "$(mode_owner /var/log/copilot-bridge)" = "750 copilot-bridge copilot-bridge" ] ||
    fail "/var/log/copilot-bridge is $(mode_owner /var/log/copilot-bridge)"
[ "$(mode_owner /etc/copilot-bridge/config.json)" = "640 root copilot-bridge" ] ||
    fail "config.json is $(mode_owner /etc/copilot-bridge/config.json)"
grep -qx /etc/copilot-bridge/config.json /var/lib/dpkg/info/copilot-bridge.conffiles ||
    fail "config.json is not a conffile"

# Enabled, not started.
unit=/lib/systemd/system/copilot-bridge.service
[ -L /etc/systemd/system/multi-user.target.wants/copilot-bridge.service ] ||
    fail "the unit is not enabled"
if [ -d /run/systemd/system ]; then
	! systemctl is-active --quiet copilot-bridge || fail "the unit was started"
fi
systemd-analyze verify "$unit"

# The shipped config passes --check, for root and for the service user;
# without a runtime installed it says so.
copilot-bridge --version
copilot-bridge run --check -c /etc/copilot-bridge/config.json 2>"$work/check"
cat "$work/check"
grep -q 'warning: no Copilot runtime found' "$work/check" ||
    fail "--check did not warn about the missing runtime"
runuser -u copilot-bridge -- copilot-bridge run --check \
    -c /etc/copilot-bridge/config.json 2>/dev/null

# The documented command installs the runtime where the bridge finds it.
copilot-bridge-install-runtime
rt=/usr/lib/copilot-bridge/runtime/node_modules/@github/copilot-sdk-linux-x64/prebuilds/linux-x64/copilot-runtime
runuser -u copilot-bridge -- test -x "$rt" || fail "the service user cannot run $rt"
runuser -u copilot-bridge -- copilot-bridge run --check \
    -c /etc/copilot-bridge/config.json 2>"$work/check"
[ ! -s "$work/check" ] || { cat "$work/check"; fail "--check still warns"; }

echo "deb.sh: apt-get purge copilot-bridge"
apt-get purge -y -qq copilot-bridge
st=$(dpkg-query -W -f='${Status}' copilot-bridge 2>/dev/null || true)
case $st in
""|*not-installed) ;;
*) fail "dpkg still has copilot-bridge: $st" ;;
esac
left=""
for p in $(cat "$work/files") $extra; do
	if [ -e "$p" ] || [ -L "$p" ]; then
		grep -qx "$p" "$work/before" || left="$left $p"
	fi
done
[ -z "$left" ] || fail "left behind by purge:$left"
# Kept, as policy wants: the system user and group (a uid is not handed
# to anyone else, files it owns may remain in working directories).
if [ -z "$user_before" ]; then
	getent passwd copilot-bridge >/dev/null &&
	    echo "deb.sh: kept after purge: system user and group copilot-bridge"
fi
echo "deb.sh: ok"

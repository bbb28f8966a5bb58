#!/bin/sh
# The git revision a build is made from, for --version: $REVISION if set
# (make deb builds from a copy without .git), else the checkout's commit,
# "-dirty" when tracked files differ from it, else "unknown".
cd "$(dirname "$0")/.."
if [ -n "${REVISION:-}" ]; then
	echo "$REVISION"
elif [ -e .git ] && rev=$(git rev-parse --short=12 HEAD 2>/dev/null); then
	git diff --quiet HEAD -- 2>/dev/null || rev="$rev-dirty"
	echo "$rev"
else
	echo unknown
fi

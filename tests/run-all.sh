#!/bin/sh
# Build into $1 with sanitizer flags $2 and run every test suite.
# Used by `make check` and `make check-asan`.
B=$1
SAN=$2
MAKE=${MAKE:-make}
set -u
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

$MAKE --no-print-directory B="$B" SAN="$SAN" all \
    $(for f in tests/unit/test_*.c; do echo "$B/tests/$(basename "$f" .c)"; done) \
    $(for f in tests/fuzz/fuzz_*.c; do echo "$B/fuzz-run/$(basename "$f" .c)"; done) ||
    exit 1

rc=0
$MAKE --no-print-directory B="$B" SAN="$SAN" test-unit || rc=1
$MAKE --no-print-directory B="$B" SAN="$SAN" test-fuzz-corpus || rc=1
$MAKE --no-print-directory B="$B" SAN="$SAN" test-layering || rc=1
# Daemons under ASan: leaks at exit are not what integration tests judge.
ASAN_OPTIONS="detect_leaks=0:halt_on_error=1" \
    $MAKE --no-print-directory B="$B" SAN="$SAN" test-integration || rc=1
$MAKE --no-print-directory test-conformance || rc=1
exit $rc

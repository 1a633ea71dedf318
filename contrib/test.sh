#!/usr/bin/env bash
# Builds chorus (contrib/setup.sh), runs the whole test suite, shows the tail
# of every failing test's log, and ends with exactly one summary line:
#
#   N passed, M failed[, K skipped]
#
# Exits non-zero when a test failed (FAIL, ERROR or XPASS) or none ran.
set -eu

cd "$(dirname "$0")/.."

if ! bash contrib/setup.sh "$@"; then
	echo
	echo "test: the build failed (contrib/setup.sh); no test ran"
	echo "0 passed, 0 failed"
	exit 1
fi

# A stale summary from an earlier run must not be mistaken for this one's;
# a failing suite must still be summarized, so its status is kept, not fatal.
rm -f test-suite.log
check_status=0
make -j2 check || check_status=$?

# Failing tests: every .log whose .trs records a bad result.
failed_logs=$(find . -name '*.trs' -not -path './.git/*' \
	-exec grep -lE '^:test-result: (FAIL|ERROR|XPASS)' {} + 2>/dev/null | sort || true)
for trs in $failed_logs; do
	log=${trs%.trs}.log
	echo
	echo "==================== ${log#./} (last 40 lines)"
	tail -n 40 "$log" 2>/dev/null || echo "(no log)"
done

count() { # count LABEL: the number on test-suite.log's "# LABEL: N" line, or 0
	local n
	n=$(sed -n "s/^# $1: *\\([0-9][0-9]*\\).*/\\1/p" test-suite.log 2>/dev/null | head -n 1)
	echo "${n:-0}"
}

if [ ! -f test-suite.log ]; then
	echo
	echo "test: no test-suite.log: make check stopped before running tests (status $check_status)"
	echo "0 passed, 0 failed"
	exit 1
fi
total=$(count TOTAL)
passed=$(( $(count PASS) + $(count XFAIL) ))
failed=$(( $(count FAIL) + $(count ERROR) + $(count XPASS) ))
skipped=$(count SKIP)

echo
if [ "$check_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "test: make check exited $check_status although no test failed (a build error?)"
	failed=1
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$total" -gt 0 ] && [ "$check_status" -eq 0 ]

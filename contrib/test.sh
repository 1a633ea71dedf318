#!/usr/bin/env bash
# Builds chorus (contrib/setup.sh), runs the whole test suite, shows the tail
# of every failing test's log, and ends with exactly one summary line:
#
#   N passed, M failed[, K skipped]
#
# summed over four phases (docs/fuzzing.md):
#   check     `make check` in the work tree (the build contrib/setup.sh made),
#             which also replays every fuzz corpus file through its target;
#   distcheck `make distcheck`: the release tarball is complete (it builds out
#             of tree from a read-only copy with --enable-debug, installs and
#             uninstalls cleanly) and its tests run from it: one pass or fail.
#             Its make check runs $DISTCHECK_TESTS: by default the quick
#             subset below (the check phase has run everything on the same
#             sources); DISTCHECK_TESTS=all runs the whole suite there too;
#   fuzz      contrib/fuzz.sh: every libFuzzer target (clang, ASan, UBSan),
#             built out of tree in ci-build/fuzz, for $FUZZ_SECONDS (20) each:
#             one pass or fail per target;
#   sanitize  the whole suite once more, built out of tree in ci-build/san
#             with --enable-debug --enable-sanitizers (ASan, UBSan, LSan).
# $TEST_PHASES picks some of them (default: all four, in that order).
# Exits non-zero when a test failed (FAIL, ERROR or XPASS) or none ran.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
phases=${TEST_PHASES:-check distcheck fuzz sanitize}
# What make check runs inside make distcheck (DISTCHECK_TESTS overrides it):
# unit tests of the codecs and the record, the docs, the install layout and
# a reload: enough to show the tarball holds every test, script and page.
DISTCHECK_QUICK="tests/unit/test-codec tests/unit/test-wire tests/unit/test-record
tests/unit/test-caps tests/e2e/e2e-docs.sh tests/e2e/e2e-cli.sh tests/e2e/e2e-install.sh
tests/e2e/e2e-reload.sh"
passed=0 failed=0 skipped=0 ran=0
# One line per failure, repeated just above the summary line: CI's visible
# tail is short, and it must say what failed without the middle of the log.
recap=""
note_failure() { recap="${recap}test: FAILED $*
"; }
phase_line() { echo "$*"; totals="${totals}$*
"; }
totals=""

if ! bash contrib/setup.sh "$@"; then
	echo
	echo "test: the build failed (contrib/setup.sh); no test ran"
	echo "0 passed, 0 failed"
	exit 1
fi

count() { # count DIR LABEL: the number on DIR/test-suite.log's "# LABEL: N" line, or 0
	local n
	n=$(sed -n "s/^# $2: *\\([0-9][0-9]*\\).*/\\1/p" "$1/test-suite.log" 2>/dev/null | head -n 1)
	echo "${n:-0}"
}

# make check in DIR (the work tree or an out-of-tree build); adds its counts.
check_in() {
	local dir=$1 label=$2 status=0 trs log t0=$SECONDS
	# A stale summary from an earlier run must not be mistaken for this one's;
	# a failing suite must still be summarized, so its status is kept, not fatal.
	rm -f "$dir/test-suite.log"
	(cd "$dir" && make -j2 check) || status=$?
	# Failing tests: every .log whose .trs records a bad result (the work
	# tree's own, not those of the builds under ci-build).
	local skip="$top/ci-build/*"
	[ "$dir" = "$top" ] || skip="$top/.git/*"
	for trs in $(find "$dir" -name '*.trs' -not -path '*/.git/*' -not -path "$skip" \
		-exec grep -lE '^:test-result: (FAIL|ERROR|XPASS)' {} + 2>/dev/null | sort || true); do
		log=${trs%.trs}.log
		echo
		echo "==================== $label: ${log#"$top"/} (last 40 lines)"
		tail -n 40 "$log" 2>/dev/null || echo "(no log)"
		note_failure "$label: ${log#"$top"/}: $(grep -E '^(not ok|Bail out)' "$log" 2>/dev/null |
			head -n 3 | tr '\n' ';' | cut -c 1-400)"
	done
	if [ ! -f "$dir/test-suite.log" ]; then
		echo "test: $label: no test-suite.log: make check stopped before running tests (status $status)"
		note_failure "$label: make check stopped before running tests (status $status)"
		failed=$((failed + 1))
		return
	fi
	local p f s
	p=$(( $(count "$dir" PASS) + $(count "$dir" XFAIL) ))
	f=$(( $(count "$dir" FAIL) + $(count "$dir" ERROR) + $(count "$dir" XPASS) ))
	s=$(count "$dir" SKIP)
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "test: $label: make check exited $status although no test failed (a build error?)"
		note_failure "$label: make check exited $status although no test failed"
		f=1
	fi
	ran=$((ran + $(count "$dir" TOTAL)))
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	phase_line "test: $label: $p passed, $f failed, $s skipped in $((SECONDS - t0)) s"
}

phase_fuzz() {
	local out=ci-build/fuzz.out line t0=$SECONDS
	mkdir -p ci-build
	bash contrib/fuzz.sh "${FUZZ_SECONDS:-20}" 2>&1 | tee "$out" || true
	line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "test: fuzz: contrib/fuzz.sh gave no summary"
		failed=$((failed + 1))
		return
	fi
	set -- $line
	[ "$4" -eq 0 ] || note_failure "fuzz: $(grep -E '^fuzz: .*FAILED' "$out" | tr '\n' ';')"
	passed=$((passed + $2)) failed=$((failed + $4)) ran=$((ran + $2 + $4))
	phase_line "test: fuzz: $2 passed, $4 failed in $((SECONDS - t0)) s"
}

phase_distcheck() {
	local out=ci-build/distcheck.out t0=$SECONDS tests=${DISTCHECK_TESTS:-$DISTCHECK_QUICK} status=0
	mkdir -p ci-build
	ran=$((ran + 1))
	if [ "$tests" = all ]; then
		make -j2 distcheck >"$out" 2>&1 || status=$?
	else
		make -j2 distcheck TESTS="$(echo $tests)" >"$out" 2>&1 || status=$?
	fi
	if [ "$status" -eq 0 ] && grep -q 'archives ready for distribution' "$out"; then
		passed=$((passed + 1))
		phase_line "test: distcheck: 1 passed, 0 failed in $((SECONDS - t0)) s ($(grep -c "^PASS: " "$out") test points inside)"
	else
		failed=$((failed + 1))
		echo
		echo "==================== distcheck: $out (last 40 lines)"
		tail -n 40 "$out"
		phase_line "test: distcheck: 0 passed, 1 failed in $((SECONDS - t0)) s"
		note_failure "distcheck: $(grep -E '^(FAIL|ERROR):|Error [0-9]' "$out" | head -n 3 | tr '\n' ';')"
	fi
}

phase_sanitize() {
	local src t0=$SECONDS
	if ! src=$(bash contrib/ci-tree.sh ci-build/src-san); then
		failed=$((failed + 1))
		return
	fi
	mkdir -p ci-build/san
	if [ ! -f ci-build/san/Makefile ] || [ ci-build/san/config.status -ot "$src/configure" ]; then
		echo "test: sanitize: configure --enable-debug --enable-sanitizers (out of tree, in ci-build/san)"
		if ! (cd ci-build/san && "$src/configure" --enable-debug --enable-sanitizers >configure.out 2>&1); then
			tail -n 20 ci-build/san/configure.out
			failed=$((failed + 1))
			return
		fi
	fi
	check_in "$top/ci-build/san" sanitize
	echo "test: sanitize: phase took $((SECONDS - t0)) s with the build"
}

for phase in $phases; do
	echo
	echo "test: ---------------- phase $phase"
	case $phase in
	check) check_in "$top" check ;;
	distcheck) phase_distcheck ;;
	fuzz) phase_fuzz ;;
	sanitize) phase_sanitize ;;
	*) echo "test: unknown phase $phase"; failed=$((failed + 1)) ;;
	esac
done

echo
printf '%s%s' "$totals" "$recap"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$ran" -gt 0 ]

#!/usr/bin/env bash
# Coverage-guided fuzzing (docs/fuzzing.md): builds every fuzz target with
# clang and libFuzzer (ASan, UBSan) out of tree in ci-build/fuzz, runs each
# for SECONDS (default $FUZZ_SECONDS, else 20) from its kept corpus, and
# ends with one line:
#
#   fuzz: N passed, M failed
#
# A target fails when it crashes, breaks a property (FUZZ_ASSERT), leaks,
# times out on one input or runs out of memory; its reproducer is kept in
# ci-build/fuzz/artifacts/ (replay: tests/fuzz/fuzz-NAME FILE in any build).
# New inputs it finds go to ci-build/fuzz/found/NAME, never into the kept
# corpus: promote one by hand when it is worth keeping.
#
#   contrib/fuzz.sh [SECONDS [TARGET...]]
set -eu

cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-20}}
[ "$#" -gt 0 ] && shift
PACKAGES="clang libclang-rt-14-dev"

say() { echo "fuzz: $*"; }

missing=""
for pkg in $PACKAGES; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	say "installing:$missing"
	$sudo apt-get update
	# shellcheck disable=SC2086 # one word per package
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
fi

fail_build() {
	say "the fuzz build failed"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
}

src=$(bash contrib/ci-tree.sh ci-build/src-fuzz) || fail_build
mkdir -p ci-build/fuzz
cd ci-build/fuzz
if [ ! -f Makefile ] || [ config.status -ot "$src/configure" ]; then
	say "configure --enable-fuzzing CC=clang (out of tree, in ci-build/fuzz)"
	"$src/configure" --enable-fuzzing CC=clang CFLAGS="-O1 -g" >configure.out 2>&1 ||
		{ tail -n 20 configure.out; fail_build; }
fi
make -j"$(nproc)" fuzz-targets >make.out 2>&1 || { tail -n 40 make.out; fail_build; }

targets=${*:-$(make -s fuzz-list)}
passed=0 failed=0
mkdir -p artifacts found
for t in $targets; do
	name=${t##*/fuzz-}
	mkdir -p "found/$name"
	log="fuzz-$name.log"
	start=$(date +%s)
	# -timeout: one input over 10 s is a finding; -rss_limit_mb: so is a blow-up.
	if "./tests/fuzz/fuzz-$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="artifacts/$name-" \
		"found/$name" "$src/tests/fuzz/corpus/$name" >"$log" 2>&1; then
		passed=$((passed + 1))
		say "$name: ok in $(( $(date +%s) - start )) s, $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | sed 's/.*: //') runs, $(grep -c . <(ls "found/$name")) new inputs"
	else
		failed=$((failed + 1))
		say "$name: FAILED (log ci-build/fuzz/$log)"
		grep -E 'ERROR|fuzz property|SUMMARY|Test unit written|runtime error' "$log" | head -n 20 || true
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

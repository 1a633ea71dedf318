#!/bin/sh
# chorus-sim membership: several seeds with loss, bigger clusters, one
# 1000-node run under a wall-clock budget, and determinism (same seed, same
# output; other seed, other output).  Each run is one test point; a failing
# run prints its last lines, which name the seed and how to reproduce it.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS_SIM" ] || skip_all "chorus-sim not built"

# run NAME ARGS...: one test point; output kept in $TEST_TMP/NAME.out
run() {
	name=$1; shift
	if "$CHORUS_SIM" membership "$@" >"$TEST_TMP/$name.out" 2>&1; then
		ok 0 "membership $*"
	else
		ok 1 "membership $*"
		tail -n 8 "$TEST_TMP/$name.out" | sed 's/^/# /'
	fi
}

for seed in 1 2 3 4 5; do
	run "loss-$seed" --nodes 50 --seed "$seed" --loss 0.05
done
for seed in 11 12; do
	run "n200-$seed" --nodes 200 --seed "$seed"
done

# Join storms that once took 40-100 s of virtual time to converge (500 nodes, seeds 1-4
# and 6: one node or two missed the rumors of a few late joiners, and only push-pull,
# every 75 s at that size, repaired them; docs/membership.md).  Catch-up pulls bring
# each in under 2 s; the bar is 3 s (--deadline-s makes a slower join a liveness failure).
for seed in 1 2 3 4 5 6; do
	run "storm-$seed" --nodes 500 --seed "$seed" --join-only --deadline-s 3
	ms=$(sed -n 's/^join: converged_ms=\([0-9]*\).*/\1/p' "$TEST_TMP/storm-$seed.out")
	check "500-node join storm, seed $seed: converged in ${ms:-?} ms of virtual time (<= 3000)" \
		test "${ms:-999999}" -le 3000
done

# 1000 nodes, no loss, within a minute.  The bar is the run's own CPU time: beside
# the other tests of a parallel `make check` its wall-clock time measures the
# scheduler as much as the simulator (42-55 s wall for about 38 s of CPU on the
# 2-core machine).  A much looser wall-clock bar still catches a run that hangs.
start=$(now_ms)
run n1000 --nodes 1000 --seed 21 --duration-s 2
elapsed=$(( $(now_ms) - start ))
diag "n1000: $(grep -E '^(join|crash):' "$TEST_TMP/n1000.out" | tr '\n' ' ')"
diag "n1000: $(grep '^wall:' "$TEST_TMP/n1000.out")"
cpu_ms=$(sed -n 's/^wall: [0-9.]* s, cpu \([0-9.]*\) s.*/\1/p' "$TEST_TMP/n1000.out" |
	awk '{ printf "%d", $1 * 1000 }')
# Under --enable-sanitizers (ASan, UBSan: 2-3x slower) the build scales the bars (CHORUS_TIME_SCALE).
scale=${CHORUS_TIME_SCALE:-1}
check "membership --nodes 1000 used ${cpu_ms:-?} ms of CPU (< $((60000 * scale)))" \
	test "${cpu_ms:-999999}" -lt $((60000 * scale))
check "and finished in ${elapsed} ms of wall-clock time (< $((120000 * scale)))" \
	test "$elapsed" -lt $((120000 * scale))

# Determinism: all but the wall: line must be byte-identical.
strip() { grep -v '^wall:' "$TEST_TMP/$1.out" >"$TEST_TMP/$1.det"; }
"$CHORUS_SIM" membership --nodes 50 --seed 3 --loss 0.05 >"$TEST_TMP/again.out" 2>&1
strip loss-3
strip again
check "same seed, same output" cmp -s "$TEST_TMP/loss-3.det" "$TEST_TMP/again.det"
strip loss-4
check "other seed, other output" eval '! cmp -s "$TEST_TMP/loss-3.det" "$TEST_TMP/loss-4.det"'

# Bad arguments are errors (exit 2), never a silently different run.
"$CHORUS_SIM" membership --nodes 2 >/dev/null 2>&1
check "--nodes below the minimum is rejected" test $? -eq 2
"$CHORUS_SIM" membership --loss 1 >/dev/null 2>&1
check "--loss 1 is rejected" test $? -eq 2
"$CHORUS_SIM" membership --latency 9:3 >/dev/null 2>&1
check "--latency MIN > MAX is rejected" test $? -eq 2
"$CHORUS_SIM" nosuchcommand >/dev/null 2>&1
check "an unknown command is rejected" test $? -eq 2

done_testing

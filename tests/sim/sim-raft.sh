#!/bin/sh
# chorus-sim raft: many seeds under loss, duplication, reordering, partitions,
# slow spells, crash-restarts at every persistence step, transfers,
# membership changes and snapshots; every run checks the safety invariants
# after every event and liveness after every heal.  Plus determinism and
# argument checks.  A failing run prints its last lines, which include the
# command that reproduces it.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS_SIM" ] || skip_all "chorus-sim not built"

STEPS=${SIM_RAFT_STEPS:-400000}

# run NAME ARGS...: one test point; output kept in $TEST_TMP/NAME.out
run() { name=$1; shift; sim_point "$name" "raft $*" "$CHORUS_SIM" raft "$@"; }

start=$(now_ms)
for seed in 1 2 3 4 5 6 7 8 9 10 11 12; do
	run "v3-$seed" --voters 3 --seed "$seed" --loss 0.05 --steps "$STEPS"
done
for seed in 21 22 23 24 25 26 27 28 29 30; do
	run "v5-$seed" --voters 5 --seed "$seed" --loss 0.1 --steps "$STEPS"
done
for seed in 41 42 43 44; do
	run "v7-$seed" --voters 7 --seed "$seed" --loss 0.02 --steps "$STEPS"
done
for seed in 51 52 53 54 55 56; do
	run "nopv-$seed" --voters 3 --seed "$seed" --loss 0.05 --no-pre-vote --steps "$STEPS"
done
for seed in 61 62 63 64; do
	run "nocq-$seed" --voters 5 --seed "$seed" --loss 0.05 --no-check-quorum --steps "$STEPS"
done
run "lossy" --voters 5 --seed 71 --loss 0.3 --steps "$STEPS"
# As chorusd drives Raft: every message of an instant stepped, then one pump.
for seed in 81 82 83 84; do
	run "batch3-$seed" --voters 3 --seed "$seed" --loss 0.05 --batch-steps --steps "$STEPS"
	run "batch5-$seed" --voters 5 --seed "$seed" --loss 0.1 --batch-steps --steps "$STEPS"
done
elapsed=$(( $(now_ms) - start ))
diag "seed 1:  $(grep -E '^(elections|commits|liveness):' "$TEST_TMP/v3-1.out" | tr '\n' ' ')"
diag "seed 21: $(grep -E '^(elections|commits|liveness):' "$TEST_TMP/v5-21.out" | tr '\n' ' ')"
diag "45 runs took ${elapsed} ms"

# Determinism: all but the wall: line must be byte-identical.
strip() { grep -v '^wall:' "$TEST_TMP/$1.out" >"$TEST_TMP/$1.det"; }
"$CHORUS_SIM" raft --voters 3 --seed 3 --loss 0.05 --steps "$STEPS" >"$TEST_TMP/again.out" 2>&1
strip v3-3
strip again
check "same seed, same output" cmp -s "$TEST_TMP/v3-3.det" "$TEST_TMP/again.det"
strip v3-4
check "other seed, other output" eval '! cmp -s "$TEST_TMP/v3-3.det" "$TEST_TMP/v3-4.det"'
check "the run did work: entries committed, leaders elected, faults injected" \
	grep -qE '^commits: entries=[1-9][0-9]{2,}' "$TEST_TMP/v5-21.out"
# --batch-steps batches: fewer pumps than messages stepped.
batched() {
	awk -F'[ =]' '/^batch-steps:/ { exit !($3 > $5 && $5 > 0) } END { if (NR == 0) exit 1 }' "$TEST_TMP/batch5-81.out"
}
diag "batch5-81: $(grep '^batch-steps:' "$TEST_TMP/batch5-81.out")"
check "with --batch-steps a pump serves several messages" batched

# Bad arguments are errors (exit 2), never a silently different run.
"$CHORUS_SIM" raft --voters 2 >/dev/null 2>&1
check "--voters below 3 is rejected" test $? -eq 2
"$CHORUS_SIM" raft --voters 8 >/dev/null 2>&1
check "--voters above 7 is rejected" test $? -eq 2
"$CHORUS_SIM" raft --loss 1 >/dev/null 2>&1
check "--loss 1 is rejected" test $? -eq 2
"$CHORUS_SIM" raft extra >/dev/null 2>&1
check "a stray argument is rejected" test $? -eq 2

done_testing

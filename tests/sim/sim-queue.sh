#!/bin/sh
# chorus-sim queue: more jobs than slots under churn (crashes, leaves, a late
# join, a client crash and resume) and loss.  Every run checks after every
# step: each job final exactly once (and succeeded), a second worker only
# after the first died or timed out, no slot idle past the bound while a job
# waited, and each client's share of the slots while both waited (see
# src/sim/sim-queue.c).  Each run is one test point; a failing run prints
# its last lines, which name the seed and how to reproduce it.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS_SIM" ] || skip_all "chorus-sim not built"

run() { # run NAME ARGS...
	name=$1; shift
	if "$CHORUS_SIM" queue "$@" >"$TEST_TMP/$name.out" 2>&1; then
		ok 0 "queue $*"
	else
		ok 1 "queue $*"
		tail -n 6 "$TEST_TMP/$name.out" | sed 's/^/# /'
	fi
}

start=$(now_ms)
# (With the worker's fair-share pick replaced by "the first reservation", 4 of
# the first 5 seeds fail on shares; with a dispatch consuming its client's
# oldest held slot, a lost pull keeps a slot idle and 6 of 40 seeds fail on
# "work not conserved".)
for seed in $(seq 1 24); do
	run "seed-$seed" --seed "$seed"
done
for seed in $(seq 31 38); do
	run "lossy-$seed" --seed "$seed" --loss 0.05 --workers 6 --churn 6 --jobs 300
done
run calm-41 --seed 41 --loss 0 --churn 0 --share-tol 5
run calm-42 --seed 42 --loss 0 --churn 0 --share-tol 5
elapsed=$(( $(now_ms) - start ))
diag "seed-1: $(grep -E '^(wait_ms|shares|conserve|churn)' "$TEST_TMP/seed-1.out" | tr '\n' ' ')"
diag "34 runs in ${elapsed} ms"

# Determinism: all but the wall: line must be byte-identical.
"$CHORUS_SIM" queue --seed 3 >"$TEST_TMP/again.out" 2>&1
grep -v '^wall:' "$TEST_TMP/seed-3.out" >"$TEST_TMP/a.det"
grep -v '^wall:' "$TEST_TMP/again.out" >"$TEST_TMP/b.det"
check "same seed, same output" cmp -s "$TEST_TMP/a.det" "$TEST_TMP/b.det"

bad() { # bad DESCRIPTION ARGS...
	desc=$1; shift
	"$CHORUS_SIM" queue "$@" >/dev/null 2>&1
	check "$desc is rejected" test $? -eq 2
}
bad "--workers 1" --workers 1
bad "--jobs 5" --jobs 5
bad "--churn beyond the restarts a node may have" --churn 99
bad "--loss 1" --loss 1
bad "a stray argument" stray

done_testing

#!/bin/sh
# chorus-sim dispatch: seeds with loss, slow and crashing (and restarting)
# workers, an overloaded small cluster, determinism, and bad arguments.
# Each run is one test point; a failing run prints its last lines, which
# name the seed and how to reproduce it.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS_SIM" ] || skip_all "chorus-sim not built"

# run NAME ARGS...: one test point; output kept in $TEST_TMP/NAME.out
run() {
	name=$1; shift
	if "$CHORUS_SIM" dispatch "$@" >"$TEST_TMP/$name.out" 2>&1; then
		ok 0 "dispatch $*"
	else
		ok 1 "dispatch $*"
		tail -n 8 "$TEST_TMP/$name.out" | sed 's/^/# /'
	fi
}

start=$(now_ms)
for seed in 1 2 3 4; do
	run "crash-$seed" --seed "$seed" --loss 0.05 --crash-workers 2 --slow-workers 2
done
for seed in 5 6; do
	run "norestart-$seed" --seed "$seed" --loss 0.03 --crash-workers 3 --restart-s 0 \
		--nodes 30 --workers 8 --jobs 300
done
# Overload: 4 workers, 400 jobs in 10 s, one crash with a quick restart.
run overload-7 --seed 7 --loss 0.02 --nodes 10 --workers 4 --jobs 400 --submit-s 10 \
	--crash-workers 1 --restart-s 3
run slow-8 --seed 8 --loss 0.04 --slow-workers 4 --crash-workers 1
# Exactly once: clients crash while they submit (and workers crash too), restart 1 s
# later and resume from what they made durable.  Every run is checked: a job that
# starts on a second worker is a failure unless the first died or timed out.
# (With the resumed job's question to its last worker taken out, every seed fails.)
for seed in 21 22 23 24; do
	run "clients-$seed" --seed "$seed" --loss 0.02 --nodes 14 --workers 10 --jobs 400 \
		--submit-s 20 --crash-clients 3 --client-restart-s 1 --crash-workers 2 --restart-s 5
done
elapsed=$(( $(now_ms) - start ))
diag "crash-1: $(grep -E '^(jobs|attempts|latency_ms)' "$TEST_TMP/crash-1.out" | tr '\n' ' ')"
diag "clients-21: $(grep -E '^(clients|runs)' "$TEST_TMP/clients-21.out" | tr '\n' ' ')"
diag "12 runs in ${elapsed} ms"

# Determinism: all but the wall: line must be byte-identical.
strip() { grep -v '^wall:' "$TEST_TMP/$1.out" >"$TEST_TMP/$1.det"; }
"$CHORUS_SIM" dispatch --seed 3 --loss 0.05 --crash-workers 2 --slow-workers 2 \
	>"$TEST_TMP/again.out" 2>&1
strip crash-3
strip again
check "same seed, same output" cmp -s "$TEST_TMP/crash-3.det" "$TEST_TMP/again.det"
strip crash-4
check "other seed, other output" eval '! cmp -s "$TEST_TMP/crash-3.det" "$TEST_TMP/crash-4.det"'

# Bad arguments are errors (exit 2), never a silently different run.
bad() { # bad DESCRIPTION ARGS...
	desc=$1; shift
	"$CHORUS_SIM" dispatch "$@" >/dev/null 2>&1
	check "$desc is rejected" test $? -eq 2
}
bad "--nodes below the minimum" --nodes 3
bad "--workers 1" --workers 1
bad "--workers not below --nodes" --nodes 6 --workers 6
bad "--crash-workers not below --workers" --workers 3 --crash-workers 3
bad "--slow-workers above --workers" --workers 3 --slow-workers 4
bad "--jobs 0" --jobs 0
bad "--crash-clients beyond the clients" --nodes 6 --workers 3 --crash-clients 3
bad "--client-restart-s 0" --client-restart-s 0
bad "--loss 1" --loss 1
bad "a stray argument" stray
bad "an unknown option" --frobnicate

done_testing

#!/bin/sh
# chorus-sim admission: of N nodes, S hold no key to the cluster (open, or
# another key) and join through seeds drawn among all nodes, members too.
# Every run checks after every step (the shipped core's every call) that no
# stranger holds a member record of the cluster nor the cluster one of a
# stranger, and that no stranger is ever given a job (a payload); at the end
# that the cluster converged and every job succeeded on a member.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS_SIM" ] || skip_all "chorus-sim not built"

SEEDS=${SIM_ADMISSION_SEEDS:-12}

# scenario ARGS...: SEEDS runs; one test point; the first failing seed is shown.
scenario() {
	bad=""
	for seed in $(seq 1 "$SEEDS"); do
		if ! "$CHORUS_SIM" admission "$@" --seed "$seed" >"$TEST_TMP/run.out" 2>&1; then
			bad=$seed
			break
		fi
	done
	if [ -z "$bad" ]; then
		ok 0 "admission $* ($SEEDS seeds)"
	else
		ok 1 "admission $* ($SEEDS seeds)"
		diag "seed $bad: $(grep -m1 FAIL "$TEST_TMP/run.out")"
	fi
}

scenario --nodes 24 --strangers 6
scenario --nodes 16 --strangers 8 --loss 0.05
scenario --nodes 40 --strangers 4 --jobs 100

"$CHORUS_SIM" admission --seed 3 >"$TEST_TMP/a.out" 2>&1
"$CHORUS_SIM" admission --seed 3 >"$TEST_TMP/b.out" 2>&1
check "same seed, same output" cmp -s "$TEST_TMP/a.out" "$TEST_TMP/b.out"
check "the run checks member records ($(grep -o 'checks: [0-9]*' "$TEST_TMP/a.out"))" \
	grep -q "checks: [1-9]" "$TEST_TMP/a.out"
check "--strangers leaving fewer than 2 members is rejected" \
	sh -c "! '$CHORUS_SIM' admission --nodes 4 --strangers 3 2>/dev/null"

done_testing

#!/bin/sh
# chorus-sim bootstrap: voter candidates form the first voter set by agreement
# (include/chorus/bootstrap.h, the code the node runs) while they start late,
# miss each other and read stale gossip.  Every run checks after every round
# that all member boots are of one set of --expect ids holding the booter, and
# at the end that everyone booted and every member of the set booted as one.
# Each scenario runs many seeds in one test point; plus determinism and
# argument checks.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS_SIM" ] || skip_all "chorus-sim not built"

SEEDS=${SIM_BOOT_SEEDS:-100}

# scenario NAME ARGS...: SEEDS runs; one test point; the first failing seed is shown.
scenario() {
	name=$1; shift
	bad=""
	for seed in $(seq 1 "$SEEDS"); do
		if ! "$CHORUS_SIM" bootstrap "$@" --seed "$seed" >"$TEST_TMP/$name.out" 2>&1; then
			bad=$seed
			break
		fi
	done
	if [ -z "$bad" ]; then
		ok 0 "bootstrap $* ($SEEDS seeds)"
	else
		ok 1 "bootstrap $* ($SEEDS seeds)"
		diag "seed $bad: $(grep -m1 FAIL "$TEST_TMP/$name.out")"
	fi
}

scenario default
scenario seven --nodes 7
scenario late --nodes 7 --miss 0.1 --stale 2 --late 60
scenario five --nodes 9 --expect 5 --miss 0.3 --stale 6 --late 60
scenario noisy --nodes 12 --expect 3 --miss 0.6 --stale 9 --late 80 --converge 150
scenario stale --nodes 7 --expect 3 --miss 0.5 --stale 20 --late 60
scenario big --nodes 20 --expect 7 --miss 0.4 --stale 12 --late 80 --converge 200 --rounds 400
scenario exact --nodes 3 --expect 3 --miss 0.5 --stale 4
scenario single --nodes 1 --expect 1

check "with fewer candidates than --expect nobody boots" \
	sh -c "'$CHORUS_SIM' bootstrap --nodes 2 --expect 3 --seed 1 | grep -q 'one voter set of 0; booted: 0 agreed, 0 joined it, 0 non-members'"
check "7 candidates: one set of 3, the other 4 join as non-members" \
	sh -c "'$CHORUS_SIM' bootstrap --nodes 7 --seed 5 | grep -Eq 'one voter set of 3; booted: [1-3] agreed, [0-2] joined it, 4 non-members \(0 of them'"
"$CHORUS_SIM" bootstrap --nodes 9 --expect 5 --miss 0.3 --seed 7 | grep -v '^wall:' >"$TEST_TMP/a"
"$CHORUS_SIM" bootstrap --nodes 9 --expect 5 --miss 0.3 --seed 7 | grep -v '^wall:' >"$TEST_TMP/b"
check "same seed, same output" cmp -s "$TEST_TMP/a" "$TEST_TMP/b"
check "--expect 0 is rejected" run 2 "$CHORUS_SIM" bootstrap --expect 0
check "--stale above 32 is rejected" run 2 "$CHORUS_SIM" bootstrap --stale 33
check "an unknown option is rejected" run 2 "$CHORUS_SIM" bootstrap --frobnicate 1
check "--rounds too short for the scenario is rejected" run 2 "$CHORUS_SIM" bootstrap --rounds 50
done_testing

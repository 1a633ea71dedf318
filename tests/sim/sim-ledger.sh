#!/bin/sh
# chorus-sim raft --ledger: the ledger on the simulated Raft nodes under the
# raft scenario's faults (loss, duplication, reordering, partitions, slow
# spells, crash-restarts at every persistence step, transfers, membership
# changes, snapshots).  Every run checks the ledger invariants after every
# event (each node's ledger a prefix of the one chain, credits and balances
# equal to the model's; a leader's blocks at most 8 beyond its applied head,
# each linked to the one it proposed before in its term), liveness after
# every heal (every released job credited on every voter and answered) and
# audits the chain at the end.  With --poison (issue 13): poison entries
# (over-bound rewards, strangers' keys, bad signatures) and older leaders that
# build without the bound checks: every voter keeps applying, poison never credited.
# Plus determinism and argument checks.  A failing run prints its last
# lines, which include the command that reproduces it.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS_SIM" ] || skip_all "chorus-sim not built"

STEPS=${SIM_LEDGER_STEPS:-100000}

# run NAME ARGS...: one test point; output kept in $TEST_TMP/NAME.out
run() { name=$1; shift; sim_point "$name" "raft --ledger $*" "$CHORUS_SIM" raft --ledger "$@"; }

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
for seed in 51 52 53 54; do
	run "nopv-$seed" --voters 3 --seed "$seed" --loss 0.05 --no-pre-vote --steps "$STEPS"
done
for seed in 61 62 63 64; do
	run "nocq-$seed" --voters 5 --seed "$seed" --loss 0.05 --no-check-quorum --steps "$STEPS"
done
for seed in 71 72; do
	run "lossy-$seed" --voters 5 --seed "$seed" --loss 0.3 --steps "$STEPS"
done
# Regression: with the raft scenario's stream of filler proposals, a leader
# (which then built only on a fully committed log) never built a block at
# loss 0.3 and the first calm window timed out.  The pipelining leader
# still waits for one before the first block of its term, and still starves
# there with dense fillers; below loss 0.3 dense fillers pass (next runs).
run "regress-91" --voters 5 --seed 91 --loss 0.3 --steps 100000
# The raft scenario's filler rate (0 to 3 per action): blocks pipelined
# between other proposals.
for seed in 31 32; do
	run "dense3-$seed" --voters 3 --seed "$seed" --loss 0.05 --dense-fillers --steps "$STEPS"
	run "dense5-$seed" --voters 5 --seed "$seed" --loss 0.1 --dense-fillers --steps "$STEPS"
done
# As chorusd drives Raft: every message of an instant stepped, then one pump.
for seed in 33 34; do
	run "batch3-$seed" --voters 3 --seed "$seed" --loss 0.05 --batch-steps --steps "$STEPS"
	run "batch5-$seed" --voters 5 --seed "$seed" --loss 0.1 --batch-steps --steps "$STEPS"
done
# Poison (issue 13): over-bound rewards, strangers' keys and bad signatures
# submitted, older leaders (odd ids) building blocks without the bound
# checks: every voter keeps applying every block, nothing poison is credited.
for seed in 101 102 103 104; do
	run "poison3-$seed" --voters 3 --seed "$seed" --loss 0.05 --poison --steps "$STEPS"
done
for seed in 105 106; do
	run "poison5-$seed" --voters 5 --seed "$seed" --loss 0.1 --poison --steps "$STEPS"
done
# Catch-up (issue 16): the shipped catch-up module (src/core/ledger/voter-catchup.c)
# on every node.  Each keeps a blocks table that loses the rows written since
# its last durable Raft write at a crash (a power cut between the writes:
# block kept but not synced, Raft persisted but the block not yet kept); a
# node that boots rebuilds from its own table and applies the log again (the
# applied index is never saved); a node far behind (partitioned, or restarted
# on an old store) installs the leader's snapshot and backfills from the other
# voters, walking down from its head hash, the entries after it held until
# then.  One block answer in 8 lies about a block: it must be refused.
# Checked, besides every invariant above: every block a node stores is the
# chain's, the state a backfill reaches is the snapshot's, the ledger then
# holds what Raft applied.
for seed in 1 3 4 5; do
	run "cu3-$seed" --voters 3 --seed "$seed" --loss 0.05 --catchup --steps "$STEPS"
done
run "cu5-21" --voters 5 --seed 21 --loss 0.1 --catchup --steps "$STEPS"
run "cu7-41" --voters 7 --seed 41 --loss 0.02 --catchup --steps "$STEPS"
run "cub5-33" --voters 5 --seed 33 --loss 0.1 --batch-steps --catchup --steps "$STEPS"
run "cup5-81" --voters 5 --seed 81 --loss 0.05 --poison --catchup --steps "$STEPS"
# A bigger pool over a longer run: longer chains to rebuild after crashes.
run "big" --voters 5 --seed 81 --loss 0.05 --ledger-jobs 1024 --steps $((STEPS * 3))
elapsed=$(( $(now_ms) - start ))
diag "seed 1:  $(grep -E '^ledger' "$TEST_TMP/v3-1.out" | tr '\n' ' ')"
diag "big:     $(grep -E '^ledger:' "$TEST_TMP/big.out")"
diag "catch-up: $(cat "$TEST_TMP"/cu*.out | grep -E '^ledger-catchup' | tr '\n' ' ')"
diag "60 runs took ${elapsed} ms"

# Determinism: all but the wall: line must be byte-identical.
strip() { grep -v '^wall:' "$TEST_TMP/$1.out" >"$TEST_TMP/$1.det"; }
"$CHORUS_SIM" raft --ledger --voters 3 --seed 3 --loss 0.05 --steps "$STEPS" \
	>"$TEST_TMP/again.out" 2>&1
strip v3-3
strip again
check "same seed, same output" cmp -s "$TEST_TMP/v3-3.det" "$TEST_TMP/again.det"
strip v3-4
check "other seed, other output" eval '! cmp -s "$TEST_TMP/v3-3.det" "$TEST_TMP/v3-4.det"'

# The runs did work: blocks built and credited, twins and forgeries met,
# ledgers rebuilt from snapshots, every check counted.
check "jobs credited in many blocks, every node checked after every event" \
	grep -qE '^ledger: jobs=256 submitted=256 credited=2[0-9]{2} blocks=[1-9][0-9]{2} checks=[1-9][0-9]{5,} ' \
	"$TEST_TMP/v5-21.out"
check "forged entries rejected, twins credited once" \
	sh -c "cat '$TEST_TMP'/*.out | grep -qE '^ledger-traffic: .* rejected=[1-9]' &&
	       cat '$TEST_TMP'/*.out | grep -qE '^ledger: .* twin-credited=[1-9]'"
check "poison: refused at leaders (non-members, over the bound), older leaders' rejected in the chain" \
	sh -c "cat '$TEST_TMP'/poison*.out | grep -qE '^ledger-poison: .* refused-member=[1-9]' &&
	       cat '$TEST_TMP'/poison*.out | grep -qE '^ledger-poison: .* refused-bound=[1-9]' &&
	       cat '$TEST_TMP'/poison*.out | grep -qE '^ledger-poison: .* rejected-in-chain=[1-9]'"
# The window (docs/ledger.md): clients sign floors as their jobs are answered, ledgers forget
# the jobs below them (most of the big pool), and resubmitted old entries are found settled.
check "floors move: the big run's ledgers forgot most of its jobs, old entries found settled" \
	sh -c "grep -qE '^ledger-window: held=[0-9]{1,3} forgotten=[1-9][0-9]{2,} settled=0 settled-submits=[1-9]' '$TEST_TMP/big.out'"
check "ledgers rebuilt from snapshots" \
	grep -qE '^ledger-rebuilds: rebuilds=[1-9]' "$TEST_TMP/v5-21.out"
check "catch-up: backfills fetched blocks, lies refused, lost rows recovered, log applied again" \
	sh -c "cat '$TEST_TMP'/cu*.out | grep -qE '^ledger-catchup: backfills=[1-9][0-9]* fetched=[1-9]' &&
	       cat '$TEST_TMP'/cu*.out | grep -qE '^ledger-catchup: .* held-applied=[1-9]' &&
	       cat '$TEST_TMP'/cu*.out | grep -qE '^ledger-catchup: .* rows-lost=[1-9]' &&
	       cat '$TEST_TMP'/cu*.out | grep -qE '^ledger-catchup: .* stale=[1-9]' &&
	       cat '$TEST_TMP'/cu*.out | grep -qE '^ledger-catchup: .* lies=[1-9]'"
check "blocks built on the tip, up to the in-flight bound" \
	grep -qE '^ledger-pipeline: .* on-tip=[1-9][0-9]* inflight-max=8 ' "$TEST_TMP/v3-1.out"
check "entries verified once per node (ledger_entry_check_here's cache)" \
	grep -qE '^ledger-pipeline: .* verify-cache-hits=[1-9]' "$TEST_TMP/v3-1.out"

# Bad arguments are errors (exit 2), never a silently different run.
"$CHORUS_SIM" raft --ledger-jobs 0 >/dev/null 2>&1
check "--ledger-jobs 0 is rejected" test $? -eq 2
"$CHORUS_SIM" raft --ledger-jobs 8193 >/dev/null 2>&1
check "--ledger-jobs above 8192 is rejected" test $? -eq 2

done_testing

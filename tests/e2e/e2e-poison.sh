#!/bin/bash
# End-to-end: no input halts the ledger, and a reward comes from somewhere
# (issue 13), with real processes on loopback: 3 voters (--voter
# --bootstrap-expect 3) and 2 non-voters (workers; node 4 is the client).
#  - poison posted to the NON-voter's POST /v1/ledger/acks, made by
#    bench/ledger-bench -f (a fresh key pair per record, no member): 2,100
#    records of reward 2^53 (the pill that made every voter abort with
#    "reward total would overflow"), 3,000 more (the flood of fresh keys that
#    filled the accounts), and one "minted" record of 10^15;
#  - the leader refuses every one before it proposes (not members) and
#    counts them; every voter process is still alive, no block was skipped;
#  - the ledger still commits: 10 real jobs submitted afterwards are credited
#    on every voter, with the same head, and `chorus ledger verify` passes;
#  - the poison earned nothing: total reward = 10 x the real reward, only
#    members have accounts, every balance = allowance + earned - spent; the
#    minted job is in no ledger;
#  - the origin dropped every poison record from its outbox, finding the
#    refusal right itself (reward over the bound, not members here either:
#    outbox_refused, each logged with its job id), so its re-sends are not
#    stuck behind them;
#  - the voters restarted as leaders from before these checks
#    (CHORUS_FAULT=old-leader): the same poison now reaches blocks, and every
#    voter applies them (the finding: every voter aborted in apply), each
#    over-bound entry rejected alike (same state hash everywhere); the minted
#    job shows "rejected: reward over the bound" on every voter; strangers'
#    jobs are paid from their own allowance, so balances still sum to
#    accounts x allowance (nothing minted);
#  - kill -9 of all three, restarted without the seam: they re-apply the
#    poisoned chain from raft.db (the finding: they aborted again), reach the
#    same state hash, and credit new jobs.
# Every wait is bounded; every process is tracked and killed on exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$LEDGER_BENCH" ] || skip_all "bench/ledger-bench not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base "e2e-poison $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
VOTERS="1 2 3"
CLIENT=4
REWARD=2
ALLOWANCE=1000000000 # CHORUS_LEDGER_ALLOWANCE

q() { qv "$@"; }
ports_of() { for i in "$@"; do hport "$i"; done; }
cli() { i=$1; shift; "$CHORUS" -H "http://127.0.0.1:$(hport "$i")" "$@"; }
declare -a PID

one_leader() {
	leaders=$(q -p ledger "d['leader']" $(ports_of "$@")) || return 1
	[ "$(echo "$leaders" | sort -u | wc -l)" -eq 1 ] && [ "$(echo "$leaders" | head -1)" != 0000000000000000 ]
}
all_alive() { for i in $VOTERS; do kill -0 "${PID[$i]}" 2>/dev/null || return 1; done; }
# refused KIND: the sum over the voters of the leader's refusal counter KIND.
refused() { q -p ledger "d['$1']" $(ports_of $VOTERS) | awk '{ s += $1 } END { print s + 0 }'; }
same_head() {
	heads=$(q -p ledger "'%d %s %d' % (d['height'], d['head_hash'], d['credited'])" $(ports_of $VOTERS)) || return 1
	[ "$(echo "$heads" | sort -u | wc -l)" -eq 1 ] && [ "$(echo "$heads" | head -1 | cut -d' ' -f3)" -ge "$1" ]
}

for i in $VOTERS; do start_node "$i" --voter --bootstrap-expect 3 --voters "$(voters_of 1 2 3)" --join "tcp://127.0.0.1:$(fport 1)"; done
for i in 4 5; do start_node "$i" --worker echo --capacity 4 --join "tcp://127.0.0.1:$(fport 1)"; done
if ! wait_until 30000 one_leader 1 2 3 4 5; then
	ok 1 "3 voters elect a leader, known to all 5 nodes"
	done_testing; exit 1
fi
ok 0 "3 voters elect a leader, known to all 5 nodes"
check "node $CLIENT is not a voter" q ledger "not d['is_voter']" "$(hport "$CLIENT")"

# ---------------------------------------------------------------- poison
poison() { # poison TAG REWARD N: N records of fresh keys to the non-voter, answered 202
	CHORUS_TOKEN=$(api_token "$CLIENT") "$LEDGER_BENCH" -f -r "$2" -n "$3" -c 8 -w 0 -t 0 -j "$TEST_TMP/$1.ids" \
		-H "127.0.0.1:$(hport "$CLIENT")" >"$TEST_TMP/$1.out" 2>&1
	diag "$1: $(grep '^answers' "$TEST_TMP/$1.out")"
	grep -q "^answers 200 0 202 $3 other 0" "$TEST_TMP/$1.out"
}
t0=$(now_ms)
check "2,100 records of reward 2^53 from fresh keys posted to the non-voter" \
	poison overflow $((1 << 53)) 2100
check "3,000 records from 6,000 more fresh keys posted" poison fresh 1 3000
check "one minted record (two fresh keys, reward 10^15) posted" poison minted 1000000000000000 1
all_refused() { [ "$(refused refused_not_member)" -ge 5101 ]; }
if wait_until 30000 all_refused; then
	diag "the leader refused all 5,101 (not members) $(( $(now_ms) - t0 )) ms after the first post"
	ok 0 "the leader refuses every poison record before it proposes, counted (refused_not_member)"
else
	diag "refused_not_member: $(refused refused_not_member)"
	ok 1 "the leader refuses every poison record before it proposes, counted (refused_not_member)"
fi
check "every voter process is still alive" all_alive
check "no voter skipped a block or rejected an entry" \
	q ledger "d['skipped_blocks'] == 0 and d['rejected'] == 0 and d['skipped'] == 0" $(ports_of $VOTERS)

# ---------------------------------------------------------------- the ledger still commits
: >"$TEST_TMP/real.ids"
for k in $(seq 1 10); do
	if cli "$CLIENT" -j submit echo --data "real $k" --reward "$REWARD" >"$TEST_TMP/sub.out" 2>>"$TEST_TMP/sub.err"; then
		python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$TEST_TMP/sub.out" >>"$TEST_TMP/real.ids"
	fi
done
check "10 real jobs succeed after the poison" test "$(wc -l <"$TEST_TMP/real.ids")" -eq 10
credited_everywhere() {
	while read -r id; do
		q "ledger/jobs/$id" "d['outcome'] == 'credited' and d['reward'] == $REWARD" $(ports_of $VOTERS) || return 1
	done <"$TEST_TMP/real.ids"
}
check "each is credited on every voter" wait_until 20000 credited_everywhere
check "every voter holds the same head" wait_until 10000 same_head 10
check "every voter process is still alive" all_alive
for i in $VOTERS; do
	check "chorus ledger verify passes on voter $i" run 0 cli "$i" ledger verify
done

# ---------------------------------------------------------------- the poison earned nothing
check "total reward is 10 x $REWARD on every voter: the poison earned nothing" \
	q ledger "d['credited'] == 10 and d['total_reward'] == 10 * $REWARD" $(ports_of $VOTERS)
check "only members have accounts, each balance = allowance + earned - spent" \
	q ledger/balances "len(d['accounts']) <= 2 and d['allowance'] == $ALLOWANCE and all(a['balance'] == $ALLOWANCE + a['earned'] - a['spent'] for a in d['accounts'])" $(ports_of $VOTERS)
minted=$(cat "$TEST_TMP/minted.ids")
check "the minted job is in no voter's ledger" \
	sh -c "! curl -sf http://127.0.0.1:$(hport 1)/v1/ledger/jobs/$minted && ! curl -sf http://127.0.0.1:$(hport 2)/v1/ledger/jobs/$minted && ! curl -sf http://127.0.0.1:$(hport 3)/v1/ledger/jobs/$minted"
check "chorus ledger job says so (exit 3)" run 3 cli 1 ledger job "$minted"
minted_dropped() { grep -q "event=ack_refused job=$minted" "$TEST_TMP/n$CLIENT/node.log"; }
check "its origin dropped it from its outbox (the refusal stands), logged" \
	wait_until 10000 minted_dropped
check "the origin dropped all 5,101 poison records (outbox_refused)" \
	wait_until 20000 q ledger "d['outbox_refused'] == 5101" "$(hport "$CLIENT")"
outbox_rows() {
	python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1], timeout=5).execute('select count(*) from outbox').fetchone()[0])" \
		"$TEST_TMP/n$CLIENT/raft.db"
}
outbox_empty() { [ "$(outbox_rows)" -eq 0 ]; }
check "and its outbox is empty: nothing left to crowd out its own acks' re-sends" \
	wait_until 10000 outbox_empty

# ---------------------------------------------------------------- an older leader lets poison in
gone() { ! kill -0 "$1" 2>/dev/null; }
stop_voters() { # stop_voters SIGNAL
	for i in $VOTERS; do kill "-$1" "${PID[$i]}" 2>/dev/null; done
	for i in $VOTERS; do
		wait_until 10000 gone "${PID[$i]}" || kill -KILL "${PID[$i]}" 2>/dev/null
		wait "${PID[$i]}" 2>/dev/null
	done
}
start_voters() { # through the non-voters too: they saw the voters leave
	for i in $VOTERS; do
		start_node "$i" --voter --bootstrap-expect 3 --voters "$(voters_of 1 2 3)" --join "tcp://127.0.0.1:$(fport 1)" \
			--join "tcp://127.0.0.1:$(fport 4)" --join "tcp://127.0.0.1:$(fport 5)"
	done
}
stop_voters TERM
export CHORUS_FAULT=old-leader
start_voters
unset CHORUS_FAULT
check "the voters restart as older leaders (CHORUS_FAULT=old-leader)" wait_until 30000 one_leader 1 2 3 4 5
check "poison again: 2,100 records of reward 2^53" poison overflow2 $((1 << 53)) 2100
check "1,000 records of fresh keys" poison fresh2 1 1000
check "one minted record of 10^15" poison minted2 1000000000000000 1
state_of() { q -p ledger "'%d %s %s %d %d' % (d['height'], d['head_hash'], d['state_hash'], d['rejected'], d['credited'])" $(ports_of $VOTERS); }
all_in() { # every voter rejected the 2,101 over-bound entries, credited the rest, same state
	states=$(state_of) || return 1
	[ "$(echo "$states" | sort -u | wc -l)" -eq 1 ] &&
		[ "$(echo "$states" | head -1 | cut -d' ' -f4)" -eq 2101 ] &&
		[ "$(echo "$states" | head -1 | cut -d' ' -f5)" -eq 1010 ]
}
t0=$(now_ms)
if wait_until 30000 all_in; then
	diag "2,101 rejected and 1,010 credited on every voter, $(( $(now_ms) - t0 )) ms"
	ok 0 "every voter applied the poisoned blocks: 2,101 entries rejected, the same state hash"
else
	state_of | sed 's/^/# /'
	ok 1 "every voter applied the poisoned blocks: 2,101 entries rejected, the same state hash"
fi
check "every voter process is still alive" all_alive
minted2=$(cat "$TEST_TMP/minted2.ids")
for i in $VOTERS; do
	check "voter $i: chorus ledger job shows the minted job rejected: reward over the bound" \
		sh -c "'$CHORUS' -H http://127.0.0.1:$(hport "$i") ledger job $minted2 | grep -q 'rejected: reward over the bound'"
done
check "strangers' jobs are paid from their own allowance: balances sum to accounts x allowance" \
	q ledger/balances "sum(a['balance'] for a in d['accounts']) == len(d['accounts']) * $ALLOWANCE and all(a['balance'] >= 0 for a in d['accounts'])" $(ports_of $VOTERS)
before=$(state_of | head -1)

# ---------------------------------------------------------------- and after a restart
stop_voters KILL
start_voters
rebuilt() { [ "$(state_of | sort -u)" = "$before" ]; }
check "kill -9 of all three, restarted: they re-apply the poisoned chain to the same state" \
	wait_until 30000 rebuilt
check "every voter process is still alive" all_alive
check "a leader again" wait_until 30000 one_leader 1 2 3 4 5
: >"$TEST_TMP/real.ids"
for k in $(seq 1 3); do
	if cli "$CLIENT" -j submit echo --data "after $k" --reward "$REWARD" >"$TEST_TMP/sub.out" 2>>"$TEST_TMP/sub.err"; then
		python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$TEST_TMP/sub.out" >>"$TEST_TMP/real.ids"
	fi
done
check "3 more real jobs succeed" test "$(wc -l <"$TEST_TMP/real.ids")" -eq 3
check "and each is credited on every voter" wait_until 20000 credited_everywhere

done_testing

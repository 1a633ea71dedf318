#!/bin/bash
# End-to-end: the client takes a worker's receipt on the frame's MAC, and the
# ledger is what checks the worker's signature.  Real processes on loopback:
# 3 voters, a worker whose receipt signatures are wrong (CHORUS_FAULT=
# receipt-sig, the test seam in chorusd(8)), an honest worker, a client.
#  - the faulty worker's jobs succeed for the client, with the right results;
#  - the leader refuses their acks and says so; the client checks its own
#    copies, finds them bad too, and drops them from its outbox (counted,
#    logged as a warning); they are credited nowhere and earn nothing, while
#    the honest worker's jobs are credited;
#  - a refusal for an ack that does check (sent with a voter's own key, while
#    no quorum can commit it) is ignored: the ack stays in the outbox and is
#    credited once the quorum is back.
# Every wait is bounded; every process is tracked and killed on exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$LEDGER_FORGE" ] || skip_all "tests/e2e/ledger-forge not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"
command -v sha256sum >/dev/null 2>&1 || skip_all "sha256sum needed"

base=$(port_base "e2e-refused $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
VOTERS="1 2 3"
BAD=4
GOOD=5
CLIENT=6
REWARD=5

q() { qv "$@"; }
ports_of() { for i in "$@"; do hport "$i"; done; }
cli() { i=$1; shift; "$CHORUS" -H "http://127.0.0.1:$(hport "$i")" "$@"; }
declare -a PID
leader_node() {
	for i in $VOTERS; do
		q ledger "d['state'] == 'leader'" "$(hport "$i")" 2>/dev/null && { echo "$i"; return 0; }
	done
	return 1
}
# outbox_open NODE: open rows of its raft.db outbox (read beside the running node, WAL).
outbox_open() {
	python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1], timeout=5).execute('select count(*) from outbox').fetchone()[0])" \
		"$TEST_TMP/n$1/raft.db"
}
credited_on() { # credited_on NODE ID
	curl -sf -o /dev/null "http://127.0.0.1:$(hport "$1")/v1/ledger/jobs/$2"
}
credited_everywhere() { # credited_everywhere FILE: every id in FILE, on every voter
	while read -r id; do
		for i in $VOTERS; do credited_on "$i" "$id" || return 1; done
	done <"$1"
}
# submit KIND DATA IDS_FILE: one job from the client, which must succeed; its id is
# appended to IDS_FILE, its result bytes are in $TEST_TMP/result.
submit() {
	cli "$CLIENT" -j submit "$1" --data "$2" --reward "$REWARD" >"$TEST_TMP/sub.json" 2>"$TEST_TMP/sub.err" || return 1
	python3 -c "
import json, sys, base64
d = json.load(open(sys.argv[1]))
assert d['state'] == 'succeeded', d['state']
open(sys.argv[2], 'wb').write(base64.b64decode(d.get('result_b64', '')))
print(d['id'])" "$TEST_TMP/sub.json" "$TEST_TMP/result" >>"$3"
}

for i in $VOTERS; do start_node "$i" --voter --bootstrap-expect 3 --voters "$(voters_of 1 2 3)" --join "tcp://127.0.0.1:$(fport 1)"; done
CHORUS_FAULT=receipt-sig start_node "$BAD" --worker sha256 --join "tcp://127.0.0.1:$(fport 1)"
start_node "$GOOD" --worker echo --join "tcp://127.0.0.1:$(fport 1)"
start_node "$CLIENT" -v --join "tcp://127.0.0.1:$(fport 1)"
has_leader() { leader_node >/dev/null; }
all_seen() { q members "sum(m['state'] == 'alive' for m in d['members']) == 6" "$(hport "$CLIENT")"; }
knows_leader() { q ledger "d['leader'] != '0000000000000000'" "$(hport "$CLIENT")"; }
if wait_until 15000 has_leader && wait_until 35000 all_seen && wait_until 35000 knows_leader; then
	ok 0 "3 voters elect a leader; the client sees all six nodes and the leader"
else
	ok 1 "3 voters elect a leader; the client sees all six nodes and the leader"
	done_testing; exit 1
fi
check "the faulty worker says it is one (CHORUS_FAULT)" grep -q 'event=fault what=receipt-sig' "$TEST_TMP/n$BAD/node.log"

# ---------------------------------------------------------------- jobs on both workers
: >"$TEST_TMP/bad.ids"
: >"$TEST_TMP/good.ids"
right=0
for k in 1 2 3; do
	want=$(printf 'digest me %s' "$k" | sha256sum | cut -d' ' -f1)
	if submit sha256 "digest me $k" "$TEST_TMP/bad.ids" && [ "$(cat "$TEST_TMP/result")" = "$want" ]; then
		right=$((right + 1))
	else
		diag "sha256 job $k: $(head -c 300 "$TEST_TMP/sub.json") $(head -c 300 "$TEST_TMP/sub.err")"
	fi
done
check "the faulty worker's 3 sha256 jobs succeed for the client, with the right digests" test "$right" -eq 3
check "and the digest reaches chorus submit's stdout" \
	test "$(cli "$CLIENT" submit sha256 --data abc)" = "$(printf abc | sha256sum | cut -d' ' -f1)"
for k in 1 2 3; do submit echo "echo $k" "$TEST_TMP/good.ids" || diag "echo job $k: $(cat "$TEST_TMP/sub.err")"; done
check "the honest worker's 3 echo jobs succeed" test "$(wc -l <"$TEST_TMP/good.ids")" -eq 3

# ---------------------------------------------------------------- the ledger's verdicts
check "the honest worker's jobs are credited on every voter" wait_until 20000 credited_everywhere "$TEST_TMP/good.ids"
refused_here() { q ledger "d['outbox_refused'] == 4" "$(hport "$CLIENT")"; }
if wait_until 20000 refused_here; then
	ok 0 "the client drops the faulty worker's 4 acks from its outbox (outbox_refused 4)"
else
	q -p ledger "(d['outbox_refused'], d['refused'])" $(ports_of $CLIENT $VOTERS) | sed 's/^/# outbox_refused, refused: /'
	ok 1 "the client drops the faulty worker's 4 acks from its outbox (outbox_refused 4)"
fi
lead=$(leader_node)
check "the leader counted them refused" q ledger "d['refused'] >= 4" "$(hport "$lead")"
check "the client's outbox holds no open ack" test "$(outbox_open "$CLIENT")" -eq 0
check "the client logged each as refused, saying why" \
	test "$(grep -c 'event=ack_refused.*the worker.s signature does not verify' "$TEST_TMP/n$CLIENT/node.log")" -eq 4
none_credited() {
	while read -r id; do
		for i in $VOTERS; do ! credited_on "$i" "$id" || return 1; done
	done <"$TEST_TMP/bad.ids"
}
check "none of them is credited on any voter" none_credited
check "the faulty worker (n$BAD) earned nothing; rewards total the honest worker's 3 jobs" \
	q ledger/balances "all(a['earned'] == 0 for a in d['accounts'] if a['name'] == 'n$BAD') and d['total_reward'] == 3 * $REWARD" $(ports_of $VOTERS)
check "the jobs stay succeeded for their client" \
	q "jobs/$(head -1 "$TEST_TMP/bad.ids")" "d['state'] == 'succeeded'" "$(hport "$CLIENT")"

# ---------------------------------------------------------------- a refusal that does not hold
# No quorum: an honest job's ack stays in the outbox.  A refusal for it, sent
# with a voter's own key (so it is believed to come from a voter), is checked
# against the client's own copy, which checks: the ack stays.
for i in $VOTERS; do [ "$i" != "$lead" ] && kill -STOP "${PID[$i]}"; done
: >"$TEST_TMP/held.ids"
submit echo "held" "$TEST_TMP/held.ids"
held_open() { [ "$(outbox_open "$CLIENT")" -eq 1 ]; }
check "with no quorum, an honest job's ack waits in the client's outbox" wait_until 5000 held_open
client_id=$(q -p status "d['id']" "$(hport "$CLIENT")")
check "a voter's key sends the client a refusal of it" \
	"$LEDGER_FORGE" -K "$KEYRING" -k "$TEST_TMP/n$lead/node.key" -h 0 "tcp://127.0.0.1:$(fport "$CLIENT")" "$client_id" "$TEST_TMP/held.ids"
ignored() { grep -q "event=refusal_ignored job=$(cat "$TEST_TMP/held.ids")" "$TEST_TMP/n$CLIENT/node.log"; }
check "the client checks its own copy, which checks: the refusal is ignored (logged at -v)" wait_until 5000 ignored
check "the ack stays open in the outbox, outbox_refused still 4" \
	test "$(outbox_open "$CLIENT")" -eq 1 -a "$(q -p ledger "d['outbox_refused']" "$(hport "$CLIENT")")" -eq 4
for i in $VOTERS; do [ "$i" != "$lead" ] && kill -CONT "${PID[$i]}"; done
check "once the quorum is back, it is credited on every voter" wait_until 20000 credited_everywhere "$TEST_TMP/held.ids"
check "and outbox_refused is still 4" q ledger "d['outbox_refused'] == 4" "$(hport "$CLIENT")"

done_testing

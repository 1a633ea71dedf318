#!/bin/bash
# End-to-end: completion records posted to POST /v1/ledger/acks, with real
# processes on loopback (3 voters), signed by bench/ledger-bench with real keys.
#  - posted with ?wait_ms, they are answered 200 once committed and credited
#    on every voter; committed in time, they never touch the outbox;
#  - with no quorum (both followers stopped) the wait runs out: 202, and by
#    then each record is in the node's outbox (raft.db, on disk);
#  - a stranger's "committed" answer for them (an authentic frame from a
#    fresh key that is no voter, tests/e2e/ledger-forge) is dropped and
#    counted, and they stay in the outbox;
#  - kill -9 of that node right after, the followers resumed, the node
#    restarted: its outbox re-sends them and every one is credited on all
#    three voters (a record answered 202 is never lost).
# Every wait is bounded; every process is tracked and killed on exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$LEDGER_BENCH" ] || skip_all "bench/ledger-bench not built"
[ -x "$LEDGER_FORGE" ] || skip_all "tests/e2e/ledger-forge not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base "e2e-acks $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
VOTERS="1 2 3"

q() { qv "$@"; }
ports_of() { for i in "$@"; do hport "$i"; done; }
declare -a PID
start_voter() { # joins through the other voters: a restarted seed must find the cluster
	seeds=""
	for j in $VOTERS; do [ "$j" != "$1" ] && seeds="$seeds --join tcp://127.0.0.1:$(fport "$j")"; done
	# shellcheck disable=SC2086
	start_node "$1" --voter --bootstrap-expect 3 --voters "$(voters_of 1 2 3)" $seeds
}
leader_node() {
	for i in $VOTERS; do
		q ledger "d['state'] == 'leader'" "$(hport "$i")" 2>/dev/null && { echo "$i"; return 0; }
	done
	return 1
}
has_leader() { leader_node >/dev/null; }
# outbox_rows NODE [WHERE]: rows of its raft.db outbox (read beside the running node, WAL).
outbox_rows() {
	python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1], timeout=5).execute('select count(*) from outbox ' + sys.argv[2]).fetchone()[0])" \
		"$TEST_TMP/n$1/raft.db" "${2:-}"
}
# credited_everywhere FILE: every job id in FILE is credited by every voter's ledger.
credited_everywhere() {
	while read -r id; do
		for i in $VOTERS; do
			curl -sf -o /dev/null "http://127.0.0.1:$(hport "$i")/v1/ledger/jobs/$id" || return 1
		done
	done <"$1"
}
# The ledger credits members' keys only: the records are signed with the voters' own.
member_keys() { for i in $VOTERS; do printf ' -k %s' "$TEST_TMP/n$i/node.key"; done; }
# answers OUTPUT: the "answers 200 N 202 M other K" line ledger-bench printed.
answers() { grep '^answers ' "$1"; }

for i in $VOTERS; do start_voter "$i"; done
if ! wait_until 15000 has_leader; then
	ok 1 "3 voters elect a leader"
	done_testing; exit 1
fi
lead=$(leader_node)
ok 0 "3 voters elect a leader (node $lead)"

# ---------------------------------------------------------------- committed while waiting
CHORUS_TOKEN=$(api_token "$lead") "$LEDGER_BENCH" $(member_keys) -H "127.0.0.1:$(hport "$lead")" -c 2 -n 20 -w 5000 -t 20 -j "$TEST_TMP/first.ids" \
	>"$TEST_TMP/first.out" 2>&1
diag "$(tr '\n' ' ' <"$TEST_TMP/first.out")"
check "20 records posted with wait_ms are answered 200 (committed)" \
	test "$(answers "$TEST_TMP/first.out")" = "answers 200 20 202 0 other 0"
check "and each is credited on all three voters" wait_until 10000 credited_everywhere "$TEST_TMP/first.ids"
check "committed in time, they never reached the outbox" test "$(outbox_rows "$lead")" -eq 0

# ---------------------------------------------------------------- the wait runs out
for i in $VOTERS; do [ "$i" != "$lead" ] && kill -STOP "${PID[$i]}"; done
CHORUS_TOKEN=$(api_token "$lead") "$LEDGER_BENCH" $(member_keys) -H "127.0.0.1:$(hport "$lead")" -c 1 -n 3 -w 400 -t 0 -j "$TEST_TMP/late.ids" \
	>"$TEST_TMP/late.out" 2>&1
diag "$(tr '\n' ' ' <"$TEST_TMP/late.out")"
check "with no quorum the wait runs out: 3 answered 202" \
	test "$(answers "$TEST_TMP/late.out")" = "answers 200 0 202 3 other 0"
check "by then all 3 are in the node's outbox, not committed" \
	test "$(outbox_rows "$lead")" -eq 3

# ---------------------------------------------------------------- a forged answer
dropped() { q -p ledger "d['dropped_messages']" "$(hport "$lead")"; }
before=$(dropped)
node_id=$(q -p status "d['id']" "$(hport "$lead")")
check "a stranger sends the node an authentic frame saying the 3 are committed" \
	"$LEDGER_FORGE" -K "$KEYRING" "tcp://127.0.0.1:$(fport "$lead")" "$node_id" "$TEST_TMP/late.ids"
counted() { [ "$(dropped)" -gt "$before" ]; }
check "the node drops it and counts it (dropped_messages $before -> more)" wait_until 3000 counted
check "and the 3 stay in its outbox, not committed" \
	test "$(outbox_rows "$lead")" -eq 3

# ---------------------------------------------------------------- kill -9, resume, restart
kill -KILL "${PID[$lead]}"
wait "${PID[$lead]}" 2>/dev/null
for i in $VOTERS; do [ "$i" != "$lead" ] && kill -CONT "${PID[$i]}"; done
start_voter "$lead"
t0=$(now_ms)
if wait_until 30000 credited_everywhere "$TEST_TMP/late.ids"; then
	diag "credited on all three voters $(( $(now_ms) - t0 )) ms after the restart"
	ok 0 "after kill -9 and a restart, the 3 records answered 202 are credited on every voter"
else
	ok 1 "after kill -9 and a restart, the 3 records answered 202 are credited on every voter"
fi
settled() { test "$(outbox_rows "$lead")" -eq 0; }
check "and the restarted node's outbox marks them committed" wait_until 10000 settled

# ---------------------------------------------------------------- checkpoints off the loop
# 4000 more records from 64 writers over the three voters: well over 1000 WAL pages of
# raft.db on every voter, so the checkpointer's helper (not the loop's commits) copies
# them into the database file.
hosts="" tokens=""
for i in $VOTERS; do hosts="$hosts,127.0.0.1:$(hport "$i")" tokens="$tokens,$(api_token "$i")"; done
# Their floors trail their seqs by 1024 (-W), as a client's follows its oldest open ack:
# the ledger forgets the jobs behind them, the first 20 above among them.
CHORUS_TOKEN=${tokens#,} "$LEDGER_BENCH" $(member_keys) -H "${hosts#,}" -c 64 -n 4000 -w 5000 -t 30 \
	-W 1024 -L "$TEST_TMP/bulk.lat" >"$TEST_TMP/bulk.out" 2>&1
diag "$(tr '\n' ' ' <"$TEST_TMP/bulk.out")"
# A waiting ack is routed at the end of the loop iteration that took it.  The outbox
# round (each second) once dropped the acks not routed yet: each was sent again by a
# later round, once 1 s old, and committed 1 to 2 s after it was sent, while records
# sent after it were committed first.  Loopback commits take milliseconds (p99 under
# 40 ms idle): a record 0.9 s late that later records overtook was lost and sent again.
# A record late because the disk stalled every voter's fsync at once (seen on this
# shared machine: 0.2 to 1.7 s) is overtaken by none: no writer is answered meanwhile.
# left_behind FILE: the records 0.9 s late that a record sent 0.1 s or more after them
# overtook by 0.1 s or more; then how many were late at all.
left_behind() {
	python3 - "$1" <<'PYEOF'
import sys
recs = sorted((float(t), float(l)) for t, l, _ in (line.split() for line in open(sys.argv[1])))
done_min, m = [0.0] * (len(recs) + 1), float("inf")
done_min[len(recs)] = m
for i in range(len(recs) - 1, -1, -1):  # the earliest commit among records sent from i on
    t, l = recs[i]
    m = min(m, t + l) if l > 0 else m
    done_min[i] = m
late = [(t, l) for t, l in recs if l >= 0.9]
behind, j = 0, 0
for t, l in late:
    while j < len(recs) and recs[j][0] < t + 0.1:
        j += 1
    behind += done_min[j] < t + l - 0.1
print(behind, len(late))
PYEOF
}
read -r behind late < <(left_behind "$TEST_TMP/bulk.lat")
diag "records committed 0.9 s or more after they were sent: $late of 4000; of them overtaken by later ones: $behind"
check "every record is answered committed ($(grep -o 'answers 200 [0-9]*' "$TEST_TMP/bulk.out"))" \
	grep -q 'answers 200 4000 ' "$TEST_TMP/bulk.out"
check "no record waits for a later outbox round ($behind late and overtaken, of $late late)" \
	test "${behind:-1}" -eq 0
# A block is one Raft entry (56 KiB): the leader's build stops taking entries before it
# outgrows one, rather than build a block of 48 and build it again with 24.
q -p ledger "(d['state'], d['blocks_proposed'], d['blocks_rebuilt'])" $(ports_of $VOTERS) |
	sed 's/^/# blocks proposed, built again smaller: /'
check "the leaders proposed blocks and built none twice" \
	python3 -c "
import json, sys, urllib.request
d = [json.load(urllib.request.urlopen('http://127.0.0.1:%s/v1/ledger' % p, timeout=5)) for p in sys.argv[1:]]
sys.exit(not (sum(x['blocks_proposed'] for x in d) > 0 and sum(x['blocks_rebuilt'] for x in d) == 0))" \
	$(ports_of $VOTERS)
q -p status "(d['checkpointer'])" $(ports_of $VOTERS) | sed 's/^/# checkpointer: /'
checkpointed() { q status "d['checkpointer']['runs'] >= 1 and d['checkpointer']['pages'] >= 1000" $(ports_of $VOTERS); }
check "every voter's raft.db was checkpointed by the helper" wait_until 10000 checkpointed
# A checkpoint that found the file busy (a commit writing the WAL header at that moment,
# seen under load) is not an error: the next commit over the bound asks again.
check "with no checkpoint error" q status "d['checkpointer']['errors'] == 0" $(ports_of $VOTERS)

# ---------------------------------------------------------------- the index of forgotten jobs
# A voter writes the rows of the jobs its ledger forgot 2048 at a time, sorted (job ids are
# random: a few rows per commit dirtied a B-tree page each), and what gathered at a clean
# stop; until then GET /v1/ledger/jobs/ID finds them in the ledger's list.
# index_rows NODE [WHERE]: rows of its raft.db jobs table (beside the running node, WAL).
index_rows() {
	python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1], timeout=5).execute('select count(*) from jobs ' + sys.argv[2]).fetchone()[0])" \
		"$TEST_TMP/n$1/raft.db" "${2:-}"
}
q -p ledger "(d['jobs_forgotten'], d['forgotten_unindexed'], d['jobs_held'])" $(ports_of $VOTERS) |
	sed 's/^/# forgotten, not indexed yet, held: /'
check "every voter forgot more than 2048 jobs behind the floors" \
	q ledger "d['jobs_forgotten'] > 2048 and d['forgotten_unlisted'] == 0" $(ports_of $VOTERS)
indexed() { # indexed NODE: a batch written, and every forgotten job in the table or the list
	local rows
	rows=$(index_rows "$1") || return 1
	diag "node $1: $rows rows in its jobs table"
	[ "$rows" -ge 2048 ] && q ledger "$rows + d['forgotten_unindexed'] >= d['jobs_forgotten']" "$(hport "$1")"
}
for i in $VOTERS; do
	check "voter $i wrote a batch of 2048 rows, and lists in memory every forgotten job not in it" indexed "$i"
done
in_table() { # in_table NODE FILE: how many of the job ids in FILE have a row in NODE's table
	python3 -c "
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
ids = [bytes.fromhex(l.strip()) for l in open(sys.argv[2]) if l.strip()]
print(sum(db.execute('select count(*) from jobs where job = ?', (j,)).fetchone()[0] for j in ids))" \
		"$TEST_TMP/n$1/raft.db" "$2"
}
for i in $VOTERS; do
	check "voter $i's table holds the first 20 jobs, forgotten first" \
		test "$(in_table "$i" "$TEST_TMP/first.ids")" -eq 20
done
first_forgotten() { # every voter answers each of the first 20: credited, not held
	while read -r id; do
		q "ledger/jobs/$id" "d['outcome'] == 'credited' and d['held'] == False" $(ports_of $VOTERS) || return 1
	done <"$TEST_TMP/first.ids"
}
check "and every voter answers them credited, not held (from its table)" first_forgotten
stopper=$(for i in $VOTERS; do [ "$i" != "$lead" ] && echo "$i"; done | head -1)
forgot=$(q -p ledger "d['jobs_forgotten']" "$(hport "$stopper")")
pending=$(q -p ledger "d['forgotten_unindexed']" "$(hport "$stopper")")
kill -TERM "${PID[$stopper]}"
stopped() { ! kill -0 "${PID[$stopper]}" 2>/dev/null; }
check "voter $stopper stops cleanly" wait_until 15000 stopped
check "and wrote the rows it gathered ($pending) at the stop: all $forgot forgotten jobs are in its table" \
	test "$(index_rows "$stopper")" -ge "$forgot"

done_testing

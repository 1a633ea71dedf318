#!/bin/bash
# End-to-end: damage is detected and said (chorusd(8), DAMAGE).
#  - jobs.db truncated to 0 after jobs existed: the node stops at start with
#    one line naming the file and what to do; restored from a copy, it starts
#    with its jobs;
#  - a stored result edited with python's sqlite3: the node stops, naming the job;
#  - a voter's raft.db truncated to 0: it comes up without a vote, says so
#    (log, `chorus status`), the leader takes it out of the configuration,
#    the two others keep committing; restarted with --rejoin it is added back;
#  - a ledger block edited in a voter's raft.db: the chain does not verify as
#    the ledger is rebuilt, and the voter stops saying so;
#  - an older copy of a voter's raft.db put back (after an election raised its
#    term): it comes up without a vote (raft.db.vote) and is taken out;
#  - a voter's raft.db truncated to half: it stops with "raft.db is damaged"
#    (never a crash); moved aside as the message says, it starts without a vote.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base "e2e-damage $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
q() { qv "$@"; }
cli() { i=$1; shift; "$CHORUS" -H "http://127.0.0.1:$(hport "$i")" "$@"; }
ports_of() { for i in "$@"; do hport "$i"; done; }
declare -a PID
WORKER=4 CLIENT=5
SEED="tcp://127.0.0.1:$(fport "$WORKER")"
# The three are listed (--voters): a voter back with --rejoin is re-added because it is.
VOTERS=$(for i in 1 2 3; do node_key "$TEST_TMP/n$i"; done | paste -sd,)
start_voter() { start_node "$1" --voter --bootstrap-expect 3 --voters "$VOTERS" --join "$SEED" "${@:2}"; }
stop() { kill -TERM "${PID[$1]}"; wait "${PID[$1]}" 2>/dev/null; }
# start_fails I PATTERN [ARGS]: chorusd I exits at once with 1 (not a signal), its last line on
# stderr matching PATTERN (log lines may come before it: the log goes to stderr too).
start_fails() {
	local i=$1 pat=$2 rc
	shift 2
	timeout -k 5 20 "$CHORUSD" --keyring "$KEYRING" --data-dir "$TEST_TMP/n$i" --name "n$i" --listen "tcp://127.0.0.1:$(fport "$i")" \
		--http "127.0.0.1:$(hport "$i")" "$@" >"$OUT" 2>"$ERR"
	rc=$?
	diag "exit $rc: $(tail -n 1 "$ERR")"
	[ "$rc" -eq 1 ] && tail -n 1 "$ERR" | grep -q "^chorusd: $pat"
}

start_node "$WORKER" --worker echo --capacity 4
for i in 1 2 3; do start_voter "$i"; done
start_node "$CLIENT" --join "$SEED"
leader_known() { q ledger "d['leader'] != '0000000000000000'" $(ports_of 1 2 3 "$CLIENT"); }
check "3 voters, a worker and a client; a leader known to all" wait_until 30000 leader_known
seen() { q members "sum(m['state'] == 'alive' for m in d['members']) == 5" "$(hport "$CLIENT")" && q ledger "d['leader'] != '0000000000000000'" "$(hport "$CLIENT")"; }
wait_until 15000 seen || diag "the client does not see all five yet"
ok_jobs=0
for k in 1 2 3; do cli "$CLIENT" submit echo --reward 1 --data "job $k" >/dev/null && ok_jobs=$((ok_jobs + 1)); done
check "3 jobs succeed" test "$ok_jobs" -eq 3
credited() { q ledger "d['credited'] >= $1" $(ports_of "${@:2}"); }
check "and are credited" wait_until 15000 credited 3 1 2 3

# ---------------------------------------------------------------- jobs.db
C=$TEST_TMP/n$CLIENT
stop "$CLIENT"
cp "$C/jobs.db" "$TEST_TMP/jobs.db.backup"
: >"$C/jobs.db"
check "jobs.db truncated to 0: the node stops with one line naming it and what to do" \
	start_fails "$CLIENT" ".*/jobs.db is empty or was replaced, but this node kept its jobs there (jobs.db.id says so): restore .*/jobs.db from a backup, or move jobs.db and jobs.db.id aside" \
	--join "$SEED"
cp "$TEST_TMP/jobs.db.backup" "$C/jobs.db"
start_node "$CLIENT" --join "$SEED"
three_jobs() { q jobs "len(d['jobs']) == 3 and all(j['state'] == 'succeeded' for j in d['jobs'])" "$(hport "$CLIENT")"; }
check "restored from the copy, it starts with its 3 jobs" wait_until 10000 three_jobs
stop "$CLIENT"
python3 - "$C/jobs.db" <<'PYEOF' >"$TEST_TMP/edited"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(job,) = db.execute("SELECT id FROM jobs WHERE result IS NOT NULL ORDER BY seq LIMIT 1").fetchone()
db.execute("UPDATE jobs SET result = ? WHERE id = ?", (b"forged result", job))
db.commit()
print(job)
PYEOF
check "a stored result edited: the node stops, naming jobs.db and the job" \
	start_fails "$CLIENT" ".*/jobs.db is damaged (the result of job $(cat "$TEST_TMP/edited") does not match its digest)" --join "$SEED"

# ---------------------------------------------------------------- raft.db emptied on a voter
V=$TEST_TMP/n3
stop 3
: >"$V/raft.db"
start_voter 3
lost() { q status "d['raft_state'] == 'lost'" "$(hport 3)"; }
check "raft.db emptied: the voter comes up without a vote (raft_state lost)" wait_until 10000 lost
check "its log says so" grep -q "event=state_lost file=.*raft.db" "$V/node.log"
check "chorus status shows it" sh -c "'$CHORUS' -H http://127.0.0.1:$(hport 3) status | grep -q '^raft state: *lost'"
two_voters() { q ledger "len(d['voters']) == 2 and all(v['name'] != 'n3' for v in d['voters'])" $(ports_of 1 2); }
check "the leader takes it out: the others' configuration is n1 and n2" wait_until 15000 two_voters
check "the leader logged why" sh -c "grep -q 'event=remove_lost_voter' '$TEST_TMP/n1/node.log' '$TEST_TMP/n2/node.log'"
cp "$TEST_TMP/jobs.db.backup" "$C/jobs.db" # the edit undone
start_node "$CLIENT" --join "$SEED"
check "the client is back, and sees the others" wait_until 15000 seen
ok_jobs=0
for k in 4 5 6; do cli "$CLIENT" submit echo --reward 1 --data "job $k" >/dev/null && ok_jobs=$((ok_jobs + 1)); done
check "the ledger still commits with the two others: 6 credited" wait_until 20000 credited 6 1 2
check "n3 stays without a vote, in no configuration" \
	q ledger "d['raft_state'] == 'lost' and all(v['name'] != 'n3' for v in d['voters'])" "$(hport 3)"

stop 3
start_voter 3 --rejoin
rejoined() { q ledger "len(d['voters']) == 3" $(ports_of 1 2 3) && q status "d['raft_state'] == 'voter'" "$(hport 3)"; }
check "restarted with --rejoin: the leader adds it back, 3 voters, and it votes again" wait_until 20000 rejoined
check "its log says when" grep -q "event=voting" "$V/node.log"
check "it catches up: every credit on it too" wait_until 20000 credited 6 3

# ---------------------------------------------------------------- a block edited
flip_block() { # flip_block DB: one byte in the middle of block 1, flipped (twice: as it was)
	python3 - "$1" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(data,) = db.execute("SELECT data FROM blocks WHERE height = 1").fetchone()
b = bytearray(data)
b[len(b) // 2] ^= 0x01
db.execute("UPDATE blocks SET data = ? WHERE height = 1", (bytes(b),))
db.commit()
PYEOF
}
stop 2
check "a byte of ledger block 1 flipped in n2's raft.db" flip_block "$TEST_TMP/n2/raft.db"
check "the voter stops: the chain it holds does not verify" \
	start_fails 2 ".*/raft.db is damaged (the ledger chain it holds does not verify): restore it from a backup" \
	--voter --bootstrap-expect 3 --voters "$VOTERS" --join "$SEED"
flip_block "$TEST_TMP/n2/raft.db"
start_voter 2
n2_back() { q status "d['raft_state'] == 'voter'" "$(hport 2)" && credited 6 2; }
check "flipped back, it starts and holds every credit" wait_until 20000 n2_back

# ---------------------------------------------------------------- an older copy of raft.db put back
stop 2
cp "$TEST_TMP/n2/raft.db" "$TEST_TMP/n2.raft.db.old" # a backup, at this term
start_voter 2
check "n2 is a voter again" wait_until 20000 n2_back
leader_of() { for i in 1 2 3; do q ledger "d['state'] == 'leader'" "$(hport "$i")" 2>/dev/null && { echo "$i"; return 0; }; done; return 1; }
L=$(leader_of)
term_before=$(q -p ledger "d['term']" "$(hport 2)")
stop "$L"
others_lead() { l=$(leader_of) && [ "$l" != "$L" ]; }
check "the leader (n$L) stops: another is elected" wait_until 20000 others_lead
start_voter "$L"
term_up() { q ledger "d['term'] > $term_before and d['raft_state'] == 'voter'" "$(hport 2)"; }
check "n2 saved a newer term than its backup's ($term_before)" wait_until 20000 term_up
stop 2
cp "$TEST_TMP/n2.raft.db.old" "$TEST_TMP/n2/raft.db"
rm -f "$TEST_TMP/n2/raft.db-wal" "$TEST_TMP/n2/raft.db-shm"
start_voter 2
lost2() { q status "d['raft_state'] == 'lost'" "$(hport 2)"; }
check "the older raft.db put back: n2 comes up without a vote" wait_until 10000 lost2
check "and says why (event=state_older)" grep -q "event=state_older" "$TEST_TMP/n2/node.log"
not_n2() { q ledger "all(v['name'] != 'n2' for v in d['voters'])" $(ports_of 1 3); }
check "the leader takes it out" wait_until 15000 not_n2

# ---------------------------------------------------------------- raft.db truncated to half
stop 3
size=$(stat -c %s "$V/raft.db")
truncate -s $((size / 2)) "$V/raft.db"
check "raft.db truncated to half ($size bytes): the voter stops, 'damaged', no crash" \
	start_fails 3 ".*/raft.db is damaged (.*): restore it from a backup, or move it aside to start without it" \
	--voter --bootstrap-expect 3 --voters "$VOTERS" --join "$SEED"
mv "$V/raft.db" "$V/raft.db.damaged"
start_voter 3
check "moved aside as said: it starts, without a vote" wait_until 10000 lost
done_testing

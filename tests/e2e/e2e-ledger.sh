#!/bin/bash
# End-to-end: the Raft-replicated ledger with real processes on loopback.
#  - 3 voters (--voter --bootstrap-expect 3) elect one leader, which every
#    node learns through gossip (role "leader");
#  - 3 workers; a worker node is the client: 100 jobs from 4 background
#    submitters end up in every voter's ledger, with the same height and head
#    hash, `chorus ledger verify` passing on each, balances summing to
#    jobs x reward;
#  - `chorus ledger verify --db` on a copy of a voter's raft.db, with no node:
#    it passes; with one byte of one entry's proof flipped (an SQLite UPDATE
#    on another copy) it names that block and exits 3;
#  - kill -9 of the leader in the middle of a stream of jobs kept 64 in flight
#    (issue 16): a new leader takes over, the stream goes on, and every job
#    whose submit reported success is in every surviving voter's ledger
#    exactly once (the job ids the client saw succeed, against each voter's
#    blocks), with no other job there;
#  - the old leader restarts and catches up to the same head hash, and the
#    same holds of its ledger.
# Every wait is bounded; every process is tracked and killed on exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

# The build dir in the name: the same test running in another checkout gets other ports.
base=$(port_base "e2e-ledger $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
REWARD=3
VOTERS="1 2 3"
CLIENT=4

q() { qv "$@"; } # GET /v1/PATH of each port, a Python expression on it (tests/lib.sh)
ports_of() { for i in "$@"; do hport "$i"; done; }
cli() { i=$1; shift; "$CHORUS" -H "http://127.0.0.1:$(hport "$i")" "$@"; }

declare -a PID
start_voter() { start_node "$1" --voter --bootstrap-expect 3 --voters "$(voters_of 1 2 3)" --join "tcp://127.0.0.1:$(fport 1)"; }

# one_leader NODES...: all of them name the same, non-zero leader, which is a voter of theirs.
one_leader() {
	leaders=$(q -p ledger "d['leader']" $(ports_of "$@")) || return 1
	[ "$(echo "$leaders" | sort -u | wc -l)" -eq 1 ] && [ "$(echo "$leaders" | head -1)" != 0000000000000000 ]
}
leader_node() { # the node index (among VOTERS) that says it leads
	for i in $VOTERS; do
		q ledger "d['state'] == 'leader'" "$(hport "$i")" 2>/dev/null && { echo "$i"; return 0; }
	done
	return 1
}
# same_head NODES...: equal heights and head hashes, with at least MIN jobs credited.
same_head() {
	min=$1; shift
	heads=$(q -p ledger "'%d %s %d' % (d['height'], d['head_hash'], d['credited'])" $(ports_of "$@")) || return 1
	[ "$(echo "$heads" | sort -u | wc -l)" -eq 1 ] && [ "$(echo "$heads" | head -1 | cut -d' ' -f3)" -ge "$min" ]
}

# ---------------------------------------------------------------- election
for i in $VOTERS; do start_voter "$i"; done
for i in 4 5 6; do
	start_node "$i" --worker echo --capacity 4 --join "tcp://127.0.0.1:$(fport 1)"
done
t0=$(now_ms)
# Voters know at once; workers through gossip (a missed rumor waits for push-pull: up to 30 s).
if wait_until 10000 one_leader 1 2 3 && wait_until 35000 one_leader 1 2 3 4 5 6; then
	diag "a leader, known to all six nodes, $(( $(now_ms) - t0 )) ms after start"
	ok 0 "3 voters elect one leader; all 6 nodes name it"
else
	q -p ledger "(d['state'], d['leader'], d['term'])" $(ports_of 1 2 3 4 5 6) | sed 's/^/# /'
	ok 1 "3 voters elect one leader; all 6 nodes name it"
	done_testing; exit 1
fi
check "the configuration holds the 3 voters" q ledger "len(d['voters']) == 3" $(ports_of $VOTERS)
check "a worker is not a voter" q ledger "not d['is_voter'] and d['state'] == 'none'" "$(hport 4)"
leader_gossip() {
	q members "sum('leader' in m['roles'] for m in d['members'] if m['state'] == 'alive') == 1" "$(hport "$CLIENT")"
}
check "gossip carries the leader's role to a worker" wait_until 5000 leader_gossip
# The client must see the workers before it submits.
workers_seen() { q members "sum(m['state'] == 'alive' for m in d['members']) == 6" "$(hport "$CLIENT")"; }
wait_until 10000 workers_seen || diag "the client does not see all six nodes yet"

# ---------------------------------------------------------------- 100 jobs
submitter() { # submitter TAG COUNT: ids of succeeded jobs to ok.TAG, failures counted
	for k in $(seq 1 "$2"); do
		if cli "$CLIENT" -j submit echo --data "job $1 $k" --reward "$REWARD" >"$TEST_TMP/sub.$1.out" 2>>"$TEST_TMP/sub.err"; then
			python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$TEST_TMP/sub.$1.out" >>"$TEST_TMP/ok.$1"
		else
			echo "$1 $k" >>"$TEST_TMP/failed.$1"
		fi
	done
}
t0=$(now_ms)
SUBS=""
for s in a b c d; do submitter "$s" 25 & track $!; SUBS="$SUBS $!"; done
wait_subs() { # wait_subs TAGS...: the submitters end (each submit is bounded by its timeout)
	for p in $SUBS; do wait "$p" 2>/dev/null; done
	SUBS=""
	for s in "$@"; do [ -f "$TEST_TMP/ok.$s" ] || touch "$TEST_TMP/ok.$s"; done
}
wait_subs a b c d
nok=$(cat "$TEST_TMP"/ok.a "$TEST_TMP"/ok.b "$TEST_TMP"/ok.c "$TEST_TMP"/ok.d | wc -l)
diag "100 jobs submitted in $(( $(now_ms) - t0 )) ms, $nok succeeded"
check "all 100 jobs succeeded" test "$nok" -eq 100
t0=$(now_ms)
if wait_until 15000 same_head 100 $VOTERS; then
	diag "every voter credited 100 jobs, same head, $(( $(now_ms) - t0 )) ms after the last submit"
	ok 0 "every voter's ledger holds the 100 jobs with the same height and head hash"
else
	q -p ledger "(d['height'], d['credited'], d['head_hash'][:16])" $(ports_of $VOTERS) | sed 's/^/# /'
	ok 1 "every voter's ledger holds the 100 jobs with the same height and head hash"
fi
for i in $VOTERS; do
	check "chorus ledger verify passes on voter $i" run 0 cli "$i" ledger verify
done
# The voters verified every ack and receipt before crediting: signatures made by the
# signer's helper (nonces made ahead, src/node/signer.c) pass libsodium's verifier.
# 100 requests, and the acks in batches (one signature per loop turn: docs/merkle.md).
check "the client signed its requests and ack batches from nonces made ahead" \
	q status "d['signer']['signed_ahead'] > 100" "$(hport $CLIENT)"

# ---------------------------------------------------------------- ledger verify --db, offline
# A copy of voter 1's raft.db (SQLite's backup: consistent while the node runs), checked with
# no node; then a copy with one byte of one entry's proof flipped (an entry's root when no
# entry has a proof): named, with its height, and a non-zero exit.
python3 - "$TEST_TMP/n1/raft.db" "$TEST_TMP/copy.db" "$TEST_TMP/bad.db" >"$TEST_TMP/flip.out" <<'PYEOF'
import sqlite3, struct, sys
src = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
for dst in sys.argv[2:]:
    d = sqlite3.connect(dst)
    src.backup(d)
    d.close()
def auth_at(b, o):  # (offset of the proof, its length, offset after the authenticator)
    n = b[o + 36]
    return o + 37, n, o + 37 + 32 * n + 64
def spots(b):  # every entry's ack and receipt authenticators: (proof offset, proof hashes, root offset)
    o = 95
    for _ in range(struct.unpack(">H", b[93:95])[0]):
        for _ in range(2):
            n = struct.unpack(">H", b[o:o + 2])[0]
            a = o + 2 + n
            p, np, o = auth_at(b, a)
            yield p, np, a + 4
bad = sqlite3.connect(sys.argv[3])
rows = bad.execute("SELECT height, data FROM blocks ORDER BY height").fetchall()
pick = None
for h, b in rows:
    for p, np, root in spots(b):
        if np > 0:
            pick = (h, b, p, "proof")
            break
    if pick:
        break
if pick is None:
    h, b = rows[len(rows) // 2]
    pick = (h, b, next(spots(b))[2], "root")
h, b, at, what = pick
b = bytearray(b)
b[at] ^= 0x01
bad.execute("UPDATE blocks SET data = ? WHERE height = ?", (bytes(b), h))
bad.commit()
print(h, what, len(rows))
PYEOF
read -r FLIP_H FLIP_WHAT NBLOCKS <"$TEST_TMP/flip.out"
diag "flipped a byte of an entry's $FLIP_WHAT in block $FLIP_H of $NBLOCKS (a copy)"
OUT=$TEST_TMP/out ERR=$TEST_TMP/err
check "ledger verify --db on a copy of a voter's raft.db passes (no node asked)" \
	run 0 "$CHORUS" -H http://127.0.0.1:1 ledger verify --db "$TEST_TMP/copy.db"
check "... over all $NBLOCKS blocks" grep -q "^ledger ok: $NBLOCKS blocks (checked offline" "$OUT"
check "the copy with one flipped byte fails (exit 3)" \
	run 3 "$CHORUS" -H http://127.0.0.1:1 ledger verify --db "$TEST_TMP/bad.db"
check "... naming block $FLIP_H and why" grep -q "block $FLIP_H is bad: " "$ERR"
[ -s "$ERR" ] && diag "verify --db: $(cat "$ERR")"
check "a file that is no raft.db: exit 2" run 2 "$CHORUS" ledger verify --db "$TEST_TMP/flip.out"
q -p ledger/balances "(sum(a['earned'] for a in d['accounts']), d['total_reward'])" $(ports_of $VOTERS) | sed 's/^/# balances: /'
q -p ledger "(d['credited'], d['duplicates'])" $(ports_of $VOTERS) | sed 's/^/# credited, duplicates: /'
check "balances: rewards earned sum to 100 x $REWARD" \
	q ledger/balances "sum(a['earned'] for a in d['accounts']) == 100 * $REWARD and d['total_reward'] == 100 * $REWARD" $(ports_of $VOTERS)
check "chorus ledger status names the height" sh -c "'$CHORUS' -H http://127.0.0.1:$(hport 2) ledger status | grep -q 'height: *[1-9]'"
first=$(head -1 "$TEST_TMP/ok.a")
check "chorus ledger job ID finds a job" run 0 cli 3 ledger job "$first"
check "GET /v1/ledger/jobs/ID of an unknown job is 404" run 3 cli 3 ledger job 00000000000000000000000000000000

# ---------------------------------------------------------------- kill -9 of the leader
# A stream of jobs kept 64 in flight (64 connections, each POST answered once its job is
# final: "ok ID" when it succeeded), the leader killed in its middle.
old=$(leader_node) || old=1
diag "leader before the kill: n$old"
STREAM=$TEST_TMP/stream STOP=$TEST_TMP/stream.stop
: >"$STREAM"
python3 "$top_srcdir/tests/e2e/queue-jobs.py" stream "$(hport "$CLIENT")" "$(api_token "$CLIENT")" \
	echo "$REWARD" 64 120 "$STREAM" "$STOP" &
STREAM_PID=$!
track "$STREAM_PID"
streamed() { [ "$(grep -c '^ok ' "$STREAM")" -ge "$1" ]; }
scale=${CHORUS_TIME_SCALE:-1} # the sanitizers' builds are 2-3x slower
check "the stream runs: 64 jobs succeeded before the kill" wait_until $((20000 * scale)) streamed 64
kill -KILL "${PID[$old]}"
before=$(grep -c '^ok ' "$STREAM")
diag "kill -9 of n$old at $(date -u +%H:%M:%S.%3N), $before jobs of the stream succeeded before"
t0=$(now_ms)
rest=""
for i in $VOTERS; do [ "$i" != "$old" ] && rest="$rest $i"; done
new_leader() { one_leader $rest && [ "$(leader_node)" != "$old" ]; }
if wait_until 10000 new_leader; then
	diag "a new leader (n$(leader_node)) seen by the test $(( $(now_ms) - t0 )) ms after the kill"
	for i in $rest; do grep -h "raft event=leader" "$TEST_TMP/n$i/node.log" | tail -1 | sed "s/^/# n$i: /"; done
	ok 0 "a new leader is elected after kill -9 of the leader"
else
	ok 1 "a new leader is elected after kill -9 of the leader"
fi
after=$(grep -c '^ok ' "$STREAM")
check "the stream goes on: 128 more jobs succeed after the new leader is seen" \
	wait_until $((30000 * scale)) streamed $((after + 128))
touch "$STOP"
wait "$STREAM_PID"
nfail=$(grep -c '^failed ' "$STREAM")
grep '^failed ' "$STREAM" | head -n 5 | sed 's/^/# /'
check "no submit of the stream failed ($nfail did)" test "$nfail" -eq 0
cat "$TEST_TMP"/ok.? >"$TEST_TMP/all.ok"
sed -n 's/^ok //p' "$STREAM" >>"$TEST_TMP/all.ok"
total=$(wc -l <"$TEST_TMP/all.ok")
diag "stream: $((total - 100)) jobs succeeded, $before before the kill"
all_in() { # all_in NODE: every succeeded job is credited there
	python3 - "$(hport "$1")" "$TEST_TMP/all.ok" <<'EOF'
import sys, urllib.request, urllib.error
port, path = sys.argv[1], sys.argv[2]
for jid in open(path).read().split():
    try:
        urllib.request.urlopen("http://127.0.0.1:%s/v1/ledger/jobs/%s" % (port, jid), timeout=2)
    except Exception:
        sys.exit(1)
EOF
}
exactly_once() { ledger_exactly_once "$(hport "$1")" "$TEST_TMP/all.ok"; }
rest_all_in() { for i in $rest; do all_in "$i" || return 1; done; same_head "$total" $rest; }
t0=$(now_ms)
if wait_until 20000 rest_all_in; then
	diag "all $total succeeded jobs credited $(( $(now_ms) - t0 )) ms after the stream ended"
	ok 0 "every job whose submit succeeded is in the surviving voters' ledgers"
else
	q -p ledger "(d['height'], d['credited'])" $(ports_of $rest) | sed 's/^/# /'
	ok 1 "every job whose submit succeeded is in the surviving voters' ledgers"
fi
for i in $rest; do
	check "exactly once: voter $i's blocks hold each of the $total succeeded jobs once, no other" \
		exactly_once "$i"
done
check "exactly once: credited == succeeded jobs ($total), no duplicates" \
	q ledger "d['credited'] == $total and d['duplicates'] == 0" $(ports_of $rest)
for i in $rest; do check "chorus ledger verify passes on voter $i after the failover" run 0 cli "$i" ledger verify; done

# ---------------------------------------------------------------- restart of the old leader
start_voter "$old"
t0=$(now_ms)
if wait_until 15000 same_head "$total" $VOTERS; then
	diag "the old leader caught up $(( $(now_ms) - t0 )) ms after its restart"
	ok 0 "the restarted old leader catches up to the same head hash"
else
	q -p ledger "(d['height'], d['credited'], d['head_hash'][:16])" $(ports_of $VOTERS) | sed 's/^/# /'
	ok 1 "the restarted old leader catches up to the same head hash"
fi
check "chorus ledger verify passes on the restarted voter" run 0 cli "$old" ledger verify
check "still exactly once everywhere" q ledger "d['credited'] == $total" $(ports_of $VOTERS)
check "exactly once: the restarted voter's blocks hold each of the $total succeeded jobs once, no other" \
	exactly_once "$old"
follower=""
for i in $VOTERS; do q ledger "d['state'] == 'follower'" "$(hport "$i")" && { follower=$i; break; }; done
check "remove-voter on a follower is refused, naming the leader" sh -c \
	"'$CHORUS' -H http://127.0.0.1:$(hport "${follower:-1}") ledger remove-voter 00 2>&1 | grep -q 'not the leader'"
check "the client's outbox is drained (all acks committed)" \
	sh -c "! grep -q 'event=outbox_error' '$TEST_TMP/n$CLIENT/node.log'"
q -p status "(d['checkpointer'])" $(ports_of $VOTERS) | sed 's/^/# checkpointer: /'

# ---------------------------------------------------------------- an old ack replayed (the window)
# The first block's first entry, its exact signed texts, from voter 1's raft.db: its client signed
# many acks since, whose floors passed it, so the ledger forgot its job (docs/ledger.md, the window).
# Posted again it is a settled duplicate: it earns nothing, on a voter or through a non-voter.
python3 - "$TEST_TMP/n1/raft.db" >"$TEST_TMP/replay.json" <<'PYEOF'
import json, sqlite3, struct, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
(b,) = db.execute("SELECT data FROM blocks WHERE height = 1").fetchone()
o = 95
def text():  # a text and its batch authenticator (docs/ledger.md), as hex
    global o
    n = struct.unpack(">H", b[o:o + 2])[0]
    t = b[o + 2:o + 2 + n].decode()
    a = o + 2 + n
    end = a + 37 + 32 * b[a + 36] + 64
    o = end
    return t, b[a:end].hex()
ack, ack_auth = text()
receipt, receipt_auth = text()
print(json.dumps({"ack": ack, "ack_auth": ack_auth, "receipt": receipt, "receipt_auth": receipt_auth}))
PYEOF
rjob=$(python3 -c "import json,sys; print(json.loads(json.load(open(sys.argv[1]))['ack'])['job'])" "$TEST_TMP/replay.json")
earned=$(q -p ledger "d['total_reward']" "$(hport 1)")
check "the old job was credited, and its client's floor passed it: not held in memory (from the index)" \
	q "ledger/jobs/$rjob" "d['outcome'] == 'credited' and d['held'] == False" $(ports_of $VOTERS)
post_replay() { # post_replay NODE: the answer's JSON to replay.NODE
	python3 - "$TEST_TMP/replay.json" "$(hport "$1")" "$(cat "$TEST_TMP/n$1/api.token")" >"$TEST_TMP/replay.$1" <<'PYEOF'
import sys, urllib.request
body = open(sys.argv[1], "rb").read()
req = urllib.request.Request("http://127.0.0.1:%s/v1/ledger/acks" % sys.argv[2], data=body, method="POST",
                             headers={"Authorization": "Bearer " + sys.argv[3],
                                      "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=5) as r:
    print(r.read().decode())
PYEOF
}
check "replayed to a voter: answered settled at once" sh -c \
	"$(declare -f post_replay hport); TEST_TMP='$TEST_TMP' base=$base post_replay 1 && grep -q '\"settled\":true' '$TEST_TMP/replay.1'"
check "replayed through the client (not a voter): posted" sh -c \
	"$(declare -f post_replay hport); TEST_TMP='$TEST_TMP' base=$base post_replay $CLIENT"
# The non-voter sends it on; the leader finds it settled and answers, so it leaves that outbox.
outbox_empty() { q ledger "d['outbox_open'] == 0" "$(hport "$CLIENT")"; }
check "the leader answers it settled: the client's outbox drops it" wait_until 10000 outbox_empty
check "the replay earned nothing: total reward unchanged ($earned) on every voter, still exactly once" \
	q ledger "d['total_reward'] == $earned and d['credited'] == $total" $(ports_of $VOTERS)

done_testing

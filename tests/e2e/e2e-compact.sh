#!/bin/bash
# End-to-end: Raft log compaction and catch-up through a snapshot + backfill,
# real processes on loopback.
#  - 3 voters with --snapshot-every 8, 2 worker nodes (one is the client);
#  - one follower is stopped (SIGSTOP) while 40 jobs commit: the leader
#    compacts its log past the follower's last entry;
#  - the follower resumes: it installs the leader's snapshot (ledger height
#    and head hash, no blocks), fetches the missing blocks from the voters,
#    and reaches the same head hash; `chorus ledger verify` (the whole chain,
#    from the blocks table) passes on every voter;
#  - every voter's raft.db log stays bounded (rows counted in the file);
#  - a restart of the compacted follower rebuilds the ledger from its blocks
#    table, then a kill -9 in the middle of a second backfill resumes it.
# Every wait is bounded; every process is tracked and killed on exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base "e2e-compact $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
EVERY=8
ROWS_MAX=$((2 * EVERY + 8)) # entries after the snapshot: EVERY, plus what is in flight
VOTERS="1 2 3"
CLIENT=4

q() { qv "$@"; } # GET /v1/PATH of each port, a Python expression on it (tests/lib.sh)
ports_of() { for i in "$@"; do hport "$i"; done; }
cli() { i=$1; shift; "$CHORUS" -H "http://127.0.0.1:$(hport "$i")" "$@"; }
# log_rows NODE: rows in the log table of its raft.db (read beside the running node, WAL).
log_rows() {
	python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1], timeout=5).execute('select count(*) from log').fetchone()[0])" \
		"$TEST_TMP/n$1/raft.db"
}

declare -a PID
start_voter() { # joins through the other voters: a restarted seed must find the cluster
	seeds=""
	for j in $VOTERS; do [ "$j" != "$1" ] && seeds="$seeds --join tcp://127.0.0.1:$(fport "$j")"; done
	start_node "$1" --voter --bootstrap-expect 3 --voters "$(voters_of 1 2 3)" --snapshot-every "$EVERY" $seeds
}
one_leader() {
	leaders=$(q -p ledger "d['leader']" $(ports_of "$@")) || return 1
	[ "$(echo "$leaders" | sort -u | wc -l)" -eq 1 ] && [ "$(echo "$leaders" | head -1)" != 0000000000000000 ]
}
leader_node() {
	for i in $VOTERS; do
		q ledger "d['state'] == 'leader'" "$(hport "$i")" 2>/dev/null && { echo "$i"; return 0; }
	done
	return 1
}
same_head() { # same_head MIN NODES...: equal heights and head hashes, at least MIN jobs credited
	min=$1; shift
	heads=$(q -p ledger "'%d %s %d' % (d['height'], d['head_hash'], d['credited'])" $(ports_of "$@")) || return 1
	[ "$(echo "$heads" | sort -u | wc -l)" -eq 1 ] && [ "$(echo "$heads" | head -1 | cut -d' ' -f3)" -ge "$min" ]
}
show_heads() {
	q -p ledger "(d['state'], d['height'], d['credited'], d['head_hash'][:12], d['snapshot_index'], d['last_index'], d['catchup'])" \
		$(ports_of $VOTERS) 2>&1 | sed 's/^/# /'
}
submitter() { # submitter TAG COUNT: ids of succeeded jobs in ok.TAG
	for k in $(seq 1 "$2"); do
		if cli "$CLIENT" -j submit echo --data "job $1 $k" --reward 2 >"$TEST_TMP/sub.$1.out" 2>>"$TEST_TMP/sub.err"; then
			python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$TEST_TMP/sub.$1.out" >>"$TEST_TMP/ok.$1"
		fi
	done
	touch "$TEST_TMP/ok.$1"
}
submit_jobs() { # submit_jobs TAG COUNT: two submitters, waited for; prints how many succeeded
	submitter "$1a" "$(($2 / 2))" & p1=$!; track $p1
	submitter "$1b" "$(($2 - $2 / 2))" & p2=$!; track $p2
	wait "$p1" "$p2" 2>/dev/null
	cat "$TEST_TMP"/ok.* | wc -l
}
stopped() { # stopped PID: the process has exited
	! kill -0 "$1" 2>/dev/null
}

# ---------------------------------------------------------------- start
for i in $VOTERS; do start_voter "$i"; done
for i in 4 5; do start_node "$i" --worker echo --capacity 4 --join "tcp://127.0.0.1:$(fport 1)"; done
if ! wait_until 10000 one_leader $VOTERS; then
	show_heads
	ok 1 "3 voters elect one leader"
	done_testing; exit 1
fi
ok 0 "3 voters elect one leader"
all_seen() { q members "sum(m['state'] == 'alive' for m in d['members']) == 5" "$(hport "$CLIENT")"; }
wait_until 15000 all_seen || diag "the client does not see all five nodes yet"
n=$(submit_jobs a 10)
check "10 jobs committed on every voter" wait_until 15000 same_head "$n" $VOTERS
[ "$n" -ge 10 ] || diag "only $n of 10 jobs succeeded"

# ---------------------------------------------------------------- a follower falls behind the snapshot
lead=$(leader_node) || lead=1
lag=""
for i in $VOTERS; do [ "$i" != "$lead" ] && { lag=$i; break; }; done
lag_last=$(q -p ledger "d['last_index']" "$(hport "$lag")")
rest=""
for i in $VOTERS; do [ "$i" != "$lag" ] && rest="$rest $i"; done
kill -STOP "${PID[$lag]}"
diag "leader n$lead; n$lag stopped at log index $lag_last"
n=$(submit_jobs b 40)
diag "$n jobs succeeded in all"
compacted_past() { q ledger "d['snapshot_index'] > $lag_last" "$(hport "$lead")"; }
check "the leader compacted its log past the stopped follower's last entry" \
	wait_until 15000 compacted_past
check "the two running voters hold all $n jobs" wait_until 15000 same_head "$n" $rest
last=$(q -p ledger "d['last_index']" "$(hport "$lead")")
rows=$(log_rows "$lead")
diag "leader: $last Raft entries in all, $rows log rows in raft.db (bound $ROWS_MAX)"
check "the leader's raft.db log stays bounded ($rows rows of $last entries)" test "$rows" -le "$ROWS_MAX"

# ---------------------------------------------------------------- catch-up through snapshot + backfill
t0=$(now_ms)
kill -CONT "${PID[$lag]}"
if wait_until 30000 same_head "$n" $VOTERS; then
	diag "n$lag caught up $(( $(now_ms) - t0 )) ms after it resumed"
	ok 0 "the resumed follower reaches the same head hash through a snapshot"
else
	show_heads
	ok 1 "the resumed follower reaches the same head hash through a snapshot"
fi
grep -h "event=snapshot_install\|event=backfill" "$TEST_TMP/n$lag/node.log" | sed 's/^/# /'
check "it installed a snapshot" grep -q "event=snapshot_install" "$TEST_TMP/n$lag/node.log"
check "it backfilled blocks from the voters" q ledger "d['catchup']['blocks_fetched'] > 0 and d['catchup']['state'] == 'idle'" "$(hport "$lag")"
check "exactly once: credited == $n everywhere, no duplicates" \
	q ledger "d['credited'] == $n and d['duplicates'] == 0" $(ports_of $VOTERS)
for i in $VOTERS; do
	check "chorus ledger verify passes on voter $i (the whole chain)" run 0 cli "$i" ledger verify
done
for i in $VOTERS; do
	r=$(log_rows "$i")
	check "voter $i: $r log rows, bounded by $ROWS_MAX" test "$r" -le "$ROWS_MAX"
done

# ---------------------------------------------------------------- restart of a compacted voter
height=$(q -p ledger "d['height']" "$(hport "$lag")")
kill -TERM "${PID[$lag]}"
wait_until 10000 stopped "${PID[$lag]}" || kill -KILL "${PID[$lag]}"
start_voter "$lag"
check "the restarted voter rebuilds its ledger from the blocks table (height $height)" \
	wait_until 10000 grep -q "event=rebuild height=$height" "$TEST_TMP/n$lag/node.log"
back_in() { one_leader $VOTERS && same_head "$n" $VOTERS; }
check "and is back in the cluster, on the same head" wait_until 15000 back_in
check "chorus ledger verify passes on the restarted voter" run 0 cli "$lag" ledger verify

# ---------------------------------------------------------------- resume a walk from the table
# The state a crash in the middle of the fetch leaves, made exactly: blocks
# above a gap, below the snapshot's head.  With the node stopped, rows
# LO+1 .. H-4 of its blocks table are deleted (H: its snapshot's height).  At
# start the rebuild stops at LO; the walk down from H reuses rows H .. H-3 (their
# hashes chain down from the snapshot's head) and fetches exactly H-4-LO blocks.
kill -TERM "${PID[$lag]}"
wait_until 10000 stopped "${PID[$lag]}" || kill -KILL "${PID[$lag]}"
gap=$(python3 - "$TEST_TMP/n$lag/raft.db" <<'EOF2'
import sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
data = db.execute("select data from boot").fetchone()[0]
h = struct.unpack(">Q", data[5:13])[0] if len(data) == 45 else 0
lo = h // 3
db.execute("delete from blocks where height > ? and height <= ?", (lo, h - 4))
db.commit()
print(lo, h)
EOF2
)
set -- $gap
lo=$1 top=$2
diag "blocks $((lo + 1)) .. $((top - 4)) deleted from n$lag (its snapshot is at height $top)"
start_voter "$lag"
check "the restarted voter resumes the walk: rebuilt to $lo, target $top" \
	wait_until 10000 grep -q "event=backfill_start height=$lo target=$top" "$TEST_TMP/n$lag/node.log"
check "and reaches the same head again" wait_until 20000 back_in
check "it fetched exactly the $((top - 4 - lo)) missing blocks (the rows above the gap were reused)" \
	q ledger "d['catchup']['blocks_fetched'] == $top - 4 - $lo" "$(hport "$lag")"
check "chorus ledger verify passes on it" run 0 cli "$lag" ledger verify

# ---------------------------------------------------------------- kill -9 in the middle of a backfill
kill -STOP "${PID[$lag]}"
n=$(submit_jobs c 30)
check "the leader compacts again while n$lag is stopped" wait_until 15000 same_head "$n" $rest
kill -KILL "${PID[$lag]}"
wait_until 5000 stopped "${PID[$lag]}"
starts=$(grep -c "event=backfill_start" "$TEST_TMP/n$lag/node.log")
start_voter "$lag"
in_backfill() { [ "$(grep -c "event=backfill_start" "$TEST_TMP/n$lag/node.log")" -gt "$starts" ]; }
# Kill it as soon as the backfill starts (a race the node may win: then it simply restarts caught up).
if wait_until 15000 in_backfill; then
	kill -KILL "${PID[$lag]}"
	wait_until 5000 stopped "${PID[$lag]}"
	dones=$(grep -c "event=backfill_done" "$TEST_TMP/n$lag/node.log")
	diag "killed n$lag after its backfill started ($dones backfills completed so far, $((starts + 1)) started)"
else
	diag "n$lag did not start a backfill (it was not behind a snapshot)"
fi
start_voter "$lag"
t0=$(now_ms)
if wait_until 30000 same_head "$n" $VOTERS; then
	diag "n$lag caught up $(( $(now_ms) - t0 )) ms after its second restart"
	grep -h "event=rebuild\|event=snapshot_install\|event=backfill" "$TEST_TMP/n$lag/node.log" | tail -6 | sed 's/^/# /'
	ok 0 "after kill -9 during a backfill, the restarted voter finishes it"
else
	show_heads
	ok 1 "after kill -9 during a backfill, the restarted voter finishes it"
fi
for i in $VOTERS; do
	check "chorus ledger verify passes on voter $i at the end" run 0 cli "$i" ledger verify
done
check "no voter aborted" sh -c "! grep -q 'event=apply_error\|event=backfill_fork\|event=held_lost' '$TEST_TMP'/n[123]/node.log"

done_testing

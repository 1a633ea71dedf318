#!/bin/bash
# End-to-end: back-pressure instead of loss (docs/dispatch.md, "The queue").
# Real chorusd processes on loopback: n1 is the client, n2 one worker of
# capacity 1 running sleep, busy with a long job.  Submits past the client's
# bound of queued jobs (CHORUS_QUEUED_MAX, 4096) are refused at once with 429
# and a reason, and `chorus submit` exits 7 with one line; every job accepted
# is in jobs.db, no refused one is; a worker of capacity 64 then joins and
# every accepted job succeeds: none was dropped.  (The job states come from the
# API while the node runs -- it holds jobs.db exclusively -- and from jobs.db
# once it is stopped.)
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed"

base=$(port_base e2e-queue-full)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
c1() { "$CHORUS" -H "$(api 1)" "$@"; }
QJ="$top_srcdir/tests/e2e/queue-jobs.py"
QUEUED_MAX=4096 # CHORUS_QUEUED_MAX (include/chorus/limits.h)
declare -a PID

sees_workers() {
	qv members "sum('sleep' in m['capabilities'] and m['state'] == 'alive' for m in d['members']) >= $1" "$(hport 1)"
}
states() { python3 "$QJ" states "$(hport 1)" "$TEST_TMP/accepted"; }
db() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$TEST_TMP/n1/jobs.db" "$1"; }

start_node 1
start_node 2 --join "tcp://127.0.0.1:$(fport 1)" --capacity 1 --worker sleep
wait_until 15000 sees_workers 1 || { ok 1 "the worker is visible to the client"; done_testing; exit 1; }
blocker=$(c1 submit sleep --data 60000 --timeout 120 --detach)
running() { qv "jobs/$blocker" "d['state'] == 'running'" "$(hport 1)"; }
check "a long job holds the only slot" wait_until 5000 running

N=$((QUEUED_MAX + 100))
t0=$(now_ms)
python3 "$QJ" submit "$(hport 1)" "$(api_token 1)" sleep 1 "$N" "$TEST_TMP/out"
diag "$N submits in $(( $(now_ms) - t0 )) ms"
grep '^[0-9a-f]\{32\} ' "$TEST_TMP/out" | cut -d' ' -f1 >"$TEST_TMP/accepted"
n_acc=$(wc -l <"$TEST_TMP/accepted")
n_429=$(grep -c '^refused 429 ' "$TEST_TMP/out")
diag "accepted $n_acc, refused with 429: $n_429, other: $(grep -vc '^[0-9a-f]\{32\} \|^refused 429 ' "$TEST_TMP/out")"
check "the bound's worth of jobs is accepted ($n_acc, bound $QUEUED_MAX)" test "$n_acc" -eq "$QUEUED_MAX"
check "every submit past it gets 429 ($n_429 of $((N - QUEUED_MAX)))" test "$n_429" -eq $((N - QUEUED_MAX))
check "refusals come only after the bound (none in between)" \
	sh -c "! head -n $QUEUED_MAX '$TEST_TMP/out' | grep -q '^refused'"
check "the 429 says why" grep -q '^refused 429 queue full: 4096 of this node' "$TEST_TMP/out"
check "chorus submit at the bound exits 7" run 7 c1 submit sleep --data 1 --detach
check "with one line" one_line_err "cannot submit job: node answered 429: queue full"
check "the node has every accepted job, queued" test "$(states)" = "{\"queued\": $n_acc}"

# More room: every accepted job runs, and none was lost.
start_node 3 --join "tcp://127.0.0.1:$(fport 1)" --capacity 64 --worker sleep
all_done() { [ "$(states)" = "{\"succeeded\": $n_acc}" ]; }
check "with a worker of capacity 64 added, every accepted job succeeds" wait_until 50000 all_done
check "submits are accepted again" run 0 c1 submit sleep --data 1 --detach
kill -TERM "${PID[1]}"
gone() { ! kill -0 "${PID[1]}" 2>/dev/null; }
check "the client stops" wait_until 10000 gone
check "jobs.db has a row for each accepted job and no refused one ($n_acc + the long one + the last)" \
	test "$(db "select count(*) from jobs")" -eq $((n_acc + 2))

done_testing

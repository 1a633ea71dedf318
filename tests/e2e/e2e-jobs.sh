#!/bin/bash
# End-to-end jobs: real chorusd processes on loopback, driven by the chorus CLI.
#   n1: the client (runs nothing); n2, n3: workers (built-ins and external commands).
#  - results are right (echo, sha256, an external command), failures give reasons;
#  - a kind nobody runs fails with "no worker offered to run KIND";
#  - a timeout kills the job's whole process group;
#  - cancel stops a running job;
#  - a worker stopped (SIGSTOP) or killed (kill -9) mid-job is failed over;
#  - the client's job table survives a restart, and a job in flight resumes and ends;
#  - a live job's state reaches the table when it is read, and by itself once it has
#    been live 100 ms (the states in between are not written for jobs that end sooner).
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base e2e-jobs)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
c1() { "$CHORUS" -H "$(api 1)" "$@"; }
PGFILE="$TEST_TMP/pg.pids"

declare -a PID
WORKER_ARGS=(--capacity 4 --worker echo --worker sha256 --worker sleep --worker fail
	--worker "upper=tr a-z A-Z"
	--worker "pgroup=sh -c 'sleep 60 & echo \$! >>$PGFILE; sleep 60'")
start_worker() { start_node "$1" --join "tcp://127.0.0.1:$(fport 1)" "${WORKER_ARGS[@]}"; }

# field ID EXPR: EXPR over the job record d, from node 1.
field() { c1 -j job "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
is_final() { [ "$(field "$1" "d['final']")" = "True" ]; }
is_running() { [ "$(field "$1" "d['state']")" = "running" ]; }
sees_workers() { # every worker's record with its kinds has reached n1
	c1 -j members | python3 -c "
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if sum('echo' in m['capabilities'] and m['state']=='alive' for m in d['members']) >= $1 else 1)"
}
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

start_node 1 -v # -v: the job table's late writes are logged (event=written)
start_worker 2
start_worker 3
wait_until 10000 sees_workers 2 || { ok 1 "workers visible to the client"; done_testing; exit 1; }

# ---------------------------------------------------------------- results
out=$(c1 submit echo --data "hello, chorus")
check "echo returns the payload" test "$out" = "hello, chorus"
out=$(printf abc | c1 submit sha256 -)
check "sha256 of stdin is right" test "$out" = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
out=$(c1 submit upper --data "shout")
check "an external command gets the payload on stdin and returns stdout" test "$out" = "SHOUT"
head -c 20000 /dev/urandom >"$TEST_TMP/blob"
c1 submit echo --file "$TEST_TMP/blob" >"$TEST_TMP/blob.out"
check "20000 random bytes come back unchanged" cmp -s "$TEST_TMP/blob" "$TEST_TMP/blob.out"

c1 submit fail 2>"$TEST_TMP/fail.err"
rc=$?
check "a failing job exits 4" test "$rc" -eq 4
check "with the worker's reason on stderr" grep -q "always fails" "$TEST_TMP/fail.err"

t0=$(now_ms)
c1 submit nosuchkind --data x 2>"$TEST_TMP/none.err"
rc=$?
check "a kind nobody runs fails" test "$rc" -eq 4
check "with 'no worker offered to run nosuchkind'" grep -q "no worker offered to run nosuchkind" "$TEST_TMP/none.err"
diag "no-worker failure took $(( $(now_ms) - t0 )) ms"

# ---------------------------------------------------------------- timeout kills the process group
c1 submit pgroup --timeout 1 2>"$TEST_TMP/pg.err"
rc=$?
check "a job over its timeout fails" test "$rc" -eq 4
check "and says it timed out" grep -q "timed out" "$TEST_TMP/pg.err"
bg=$(tail -n 1 "$PGFILE" 2>/dev/null)
check "its background child was killed with the process group" wait_until 3000 pid_gone "${bg:-1}"

# ---------------------------------------------------------------- cancel
id=$(c1 submit sleep --data 20000 --detach)
check "the job to cancel is running" wait_until 5000 is_running "$id"
check "cancel a running job" c1 cancel "$id"
check "the job is cancelled" test "$(field "$id" "d['state']")" = "cancelled"
check "the worker killed it" wait_until 3000 grep -q "event=work-done job=$id kind=sleep status=cancelled" \
	"$TEST_TMP/n2/node.log" "$TEST_TMP/n3/node.log"
c1 cancel "$id" 2>/dev/null
check "cancelling a finished job is an error" test $? -ne 0

# ---------------------------------------------------------------- failover: SIGSTOP, then kill -9
failover() { # failover SIGNAL: a sleep job's worker gets SIGNAL mid-job; the job must still succeed
	id=$(c1 submit sleep --data 5000 --timeout 30 --detach)
	wait_until 5000 is_running "$id"
	w=$(field "$id" "d['attempts'][0]['worker_name']")
	victim=${w#n}
	kill -"$1" "${PID[$victim]}"
	t0=$(now_ms)
	wait_until 30000 is_final "$id"
	diag "SIG$1 of $w: job final after $(( $(now_ms) - t0 )) ms: $(field "$id" "[(a['worker_name'], a['outcome']) for a in d['attempts']]")"
	check "SIG$1 of the worker mid-job: the job still succeeds" test "$(field "$id" "d['state']")" = "succeeded"
	check "on the other worker" test "$(field "$id" "d['attempts'][-1]['worker_name']")" != "$w"
	check "after a failover" test "$(field "$id" "len(d['attempts'])")" -ge 2
}
failover STOP
kill -CONT "${PID[$victim]}"
wait_until 15000 sees_workers 2
failover KILL

# ---------------------------------------------------------------- restarts keep the job table
before=$(c1 -j jobs --limit 100 | python3 -c "import json,sys; print(len(json.load(sys.stdin)['jobs']))")
id=$(c1 submit sleep --data 3000 --timeout 20 --detach)
check "a read shows the live job running" wait_until 5000 is_running "$id"
# A second one nobody reads: its running state is written by the client itself.
id2=$(c1 submit sleep --data 3000 --timeout 20 --detach)
check "a job live for 100 ms has its running state written without a reader" wait_until 5000 \
	grep -q "event=written job=$id2 state=running attempts=1" "$TEST_TMP/n1/node.log"
kill -KILL "${PID[1]}"
wait "${PID[1]}" 2>/dev/null
# row ID: "state attempts" of the job in the killed client's jobs.db (its lock went with it).
row() {
	python3 -c "import sqlite3,sys,json; r=sqlite3.connect(sys.argv[1]).execute('select state, attempts from jobs where id=?', (sys.argv[2],)).fetchone(); print(r[0], len(json.loads(r[1])))" \
		"$TEST_TMP/n1/jobs.db" "$1"
}
check "after kill -9 the table holds the read job as running, with its attempt" test "$(row "$id")" = "running 1"
check "and the unread one too" test "$(row "$id2")" = "running 1"
start_node 1 -v
wait_until 10000 sees_workers 1
after=$(c1 -j jobs --limit 100 | python3 -c "import json,sys; print(len(json.load(sys.stdin)['jobs']))")
check "the job table survives kill -9 of the client ($before + 2 = $after jobs)" test "$after" -eq $((before + 2))
check "the job in flight resumes and succeeds" wait_until 20000 is_final "$id"
check "with the right result" test "$(field "$id" "d['state'] + ' ' + d['result_b64']")" = "succeeded $(printf 'slept 3000 ms' | base64)"
runs=$(cat "$TEST_TMP"/n[23]/node.log | grep -c "event=run job=$id")
check "and it ran once, not again after the resume ($runs run)" test "$runs" -eq 1
check "the unread one resumes and succeeds too" wait_until 20000 is_final "$id2"
check "with its result" test "$(field "$id2" "d['state']")" = "succeeded"

done_testing

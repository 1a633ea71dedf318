#!/bin/bash
# End-to-end: jobs wait their turn (docs/dispatch.md, "The queue").  Real chorusd
# processes on loopback: n1 is the client (runs nothing), n2 one worker of
# capacity 1 running sleep.
#  1. Six one-second jobs submitted at once with --detach (issue 15's complaint:
#     five failed): all six succeed, one after another, in under 7 s; while they
#     wait, `chorus jobs` shows them queued, `chorus job` says why, the log says
#     event=queued.
#  2. Queued jobs keep their priority and queue timeout in jobs.db and survive a
#     kill -9 of the client: restarted, it runs them, and their records say so.
#  3. A jobs.db from before the queue (no priority column) is migrated at start.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base e2e-queue)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
c1() { "$CHORUS" -H "$(api 1)" "$@"; }
declare -a PID

sees_worker() {
	c1 -j members 2>/dev/null | python3 2>/dev/null -c "
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if sum('sleep' in m['capabilities'] and m['state']=='alive' for m in d['members']) >= 1 else 1)"
}
IDS=$TEST_TMP/ids
# jobs_py EXPR: EXPR over js, n1's records of the ids in $IDS (in that order).
jobs_py() {
	c1 -j jobs --limit 1000 2>/dev/null | python3 -c "
import json,sys; d={j['id']: j for j in json.load(sys.stdin)['jobs']}
js=[d.get(l.strip(), {}) for l in open('$IDS') if l.strip()]
r=($1); print(r) if not isinstance(r, bool) else sys.exit(0 if r else 1)"
}
all_final() { jobs_py "all(j.get('final') for j in js)"; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

start_node 1
start_node 2 --join "tcp://127.0.0.1:$(fport 1)" --capacity 1 --worker sleep
wait_until 15000 sees_worker || { ok 1 "the worker is visible to the client"; done_testing; exit 1; }

# ---------------------------------------------------------------- 1. six jobs, one slot
: >"$IDS"
t0=$(now_ms)
subs=""
for k in 1 2 3 4 5 6; do
	c1 submit sleep --data 1000 --detach >"$TEST_TMP/id.$k" 2>"$TEST_TMP/err.$k" &
	subs="$subs $!"
done
for p in $subs; do wait "$p"; done # (bounded: chorus gives up after its -t)
for k in 1 2 3 4 5 6; do cat "$TEST_TMP/id.$k" >>"$IDS"; done
check "all six submits are accepted" test "$(grep -c . "$IDS")" -eq 6
some_queued() { jobs_py "sum(j.get('state') == 'queued' for j in js) >= 4"; }
check "while one runs, the others wait: state queued (not failed)" wait_until 3000 some_queued
c1 jobs >"$TEST_TMP/jobs.txt"
check "chorus jobs shows them queued" grep -Eq '^[0-9a-f]{10} +sleep +queued ' "$TEST_TMP/jobs.txt"
# The worker's record publishes its load at most every load_publish_ms, but its
# answer to our reservation says it is full: the slot is busy, not "free".
# Asked of the job with the most ahead of it now: the jobs run in the order the
# client took them, not that of $IDS, so a job picked once may start (and say
# nothing of waiting) before a loaded machine gets to ask.
says_why() {
	last=$(jobs_py "max((j for j in js if j.get('state') == 'queued'), key=lambda j: j['wait']['ahead'])['id']") &&
		c1 job "$last" >"$TEST_TMP/job.txt" &&
		grep -Eq '^waiting: +queued [0-9.]+ s: 1 worker runs sleep, its one slot busy, [0-9]+ jobs? ahead of it \(priority 0\)$' "$TEST_TMP/job.txt"
}
check "chorus job says why it waits (its one slot busy)" wait_until 3000 says_why
grep '^waiting:' "$TEST_TMP/job.txt" | sed 's/^/# /'
check "the record has the wait fields" jobs_py "(lambda q: len(q) >= 1 and all('wait' in j and j['wait']['slots'] == 1 and j['wait']['workers'] == 1 and j['wait']['busy'] == 1 for j in q))([j for j in js if j.get('state') == 'queued'])"
check "the client logs event=queued (info) for a waiting job" grep -q "event=queued job=$last kind=sleep" "$TEST_TMP/n1/node.log"
check "all six end" wait_until 15000 all_final
t1=$(now_ms)
check "all six succeeded (none failed for want of a free slot)" jobs_py "all(j.get('state') == 'succeeded' for j in js)"
# One after another: on the client's clock each run is [finished - attempt ms, finished].
check "one after another: no two runs overlap on the one slot" jobs_py "
(lambda r: all(r[i][1] <= r[i + 1][0] + 20 for i in range(len(r) - 1)))(
 sorted((j['finished_ms'] - j['attempts'][-1]['ms'], j['finished_ms']) for j in js))"
span=$(jobs_py "(max(j['finished_ms'] for j in js) - min(j['created_ms'] for j in js)) / 1000")
diag "six 1-s jobs on one slot: ${span} s from the first submit to the last end ($(( t1 - t0 )) ms as the test saw it)"
check "in under 7 s (${span} s)" python3 -c "import sys; sys.exit(0 if $span < 7 else 1)"
check "each waited: queued_s is recorded, and grows with the position" \
	jobs_py "sorted(j['queued_s'] for j in js)[-1] >= 4"

# ---------------------------------------------------------------- 2. durable: priority and queue timeout
: >"$IDS"
blocker=$(c1 submit sleep --data 6000 --detach)
is_running() { [ "$(c1 -j job "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = running ]; }
check "a long job holds the slot" wait_until 5000 is_running "$blocker"
for p in 3 7 7; do
	c1 submit sleep --data 10 --priority "$p" --queue-timeout 300 --detach >>"$IDS"
done
three_queued() { jobs_py "len(js) == 3 and all(j.get('state') == 'queued' for j in js)"; }
check "three jobs queued behind it" wait_until 3000 three_queued
kill -KILL "${PID[1]}"
wait "${PID[1]}" 2>/dev/null
stored=$(python3 -c "
import sqlite3,sys
db=sqlite3.connect(sys.argv[1]); ids=[l.strip() for l in open(sys.argv[2])]
print(' '.join('%s/%s/%s' % db.execute('select priority, queue_timeout_ms, final from jobs where id = ?', (i,)).fetchone() for i in ids))" \
	"$TEST_TMP/n1/jobs.db" "$IDS")
check "jobs.db holds each queued job's priority and queue timeout, not final ($stored)" \
	test "$stored" = "3/300000/0 7/300000/0 7/300000/0"
start_node 1
check "restarted, the client ends them all" wait_until 20000 all_final
check "all succeeded" jobs_py "all(j.get('state') == 'succeeded' for j in js)"
check "their records keep priority and queue timeout" \
	jobs_py "[(j['priority'], j['queue_timeout_s']) for j in js] == [(3, 300), (7, 300), (7, 300)]"

# ---------------------------------------------------------------- 3. a jobs.db from before the queue
kill -TERM "${PID[1]}"
check "the client stops" wait_until 10000 pid_gone "${PID[1]}"
python3 -c "
import sqlite3,sys; db=sqlite3.connect(sys.argv[1])
for c in ('priority', 'queue_timeout_ms', 'queued_ms'): db.execute('alter table jobs drop column ' + c)
db.commit()" "$TEST_TMP/n1/jobs.db"
start_node 1
up() { c1 -j jobs >/dev/null 2>&1; }
check "a jobs.db without the queue's columns opens" wait_until 10000 up
check "the start says it migrated" grep -q "event=migrated what=jobs-queue" "$TEST_TMP/n1/node.log"
wait_until 15000 sees_worker
check "old jobs read back, priority 0 by default" jobs_py "all(j['priority'] == 0 and j['state'] == 'succeeded' for j in js)"
out=$(c1 submit sleep --data 10 --priority 9)
check "and new jobs run" test "$out" = "slept 10 ms"

# ---------------------------------------------------------------- bad input
check "--priority 10 is refused before any request (exit 1)" run 1 c1 submit sleep --priority 10
check "with one line" one_line_err "bad priority"
check "--queue-timeout 0 is refused (exit 1)" run 1 c1 submit sleep --queue-timeout 0
check "--queue-timeout 86401 is refused (exit 1)" run 1 c1 submit sleep --queue-timeout 86401
post() { # post BODY: the HTTP status of POST /v1/jobs
	python3 -c "
import http.client,sys
c=http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]), timeout=5)
c.request('POST', '/v1/jobs', sys.argv[2], {'Authorization': 'Bearer ' + sys.argv[3], 'Content-Type': 'application/json'})
r=c.getresponse(); print(r.status, r.read().decode())" "$(hport 1)" "$1" "$(api_token 1)"
}
check "the API refuses priority 10 (400)" eval '[ "$(post "{\"kind\":\"sleep\",\"priority\":10}" | cut -d" " -f1)" = 400 ]'
check "the API refuses priority 1.5 (400)" eval '[ "$(post "{\"kind\":\"sleep\",\"priority\":1.5}" | cut -d" " -f1)" = 400 ]'
check "the API refuses queue_timeout_s 0 (400)" eval '[ "$(post "{\"kind\":\"sleep\",\"queue_timeout_s\":0}" | cut -d" " -f1)" = 400 ]'
check "chorusd refuses --queue-timeout 0" run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/x" --queue-timeout 0
check "chorusd refuses a share without a full id" run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/x" --share abc=2

done_testing

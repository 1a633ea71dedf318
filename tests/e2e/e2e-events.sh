#!/bin/bash
# End-to-end event stream (GET /v1/events, chorus watch; docs/events.md): real chorusd processes.
#   n1: the client; n2: a worker.
#  - `chorus watch -j --type job` prints a submitted job's events as they happen, in order
#    (pending, running, succeeded), one JSON object a line, only of that type;
#  - a bad filter is the node's 400 (exit 3); watch exits 0 on SIGINT, 2 when the node goes;
#  - a watcher that never reads is dropped once its unsent events pass the bound: counted
#    (stats.events_dropped), logged with its reason, while a watcher that keeps up keeps every
#    event and the node serves jobs as fast as without it.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed"

base=$(port_base e2e-events)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
c1() { "$CHORUS" -H "$(api 1)" "$@"; }
QJ="$top_srcdir/tests/e2e/queue-jobs.py"
N=300

declare -a PID
start_node 1
start_node 2 --join "tcp://127.0.0.1:$(fport 1)" --capacity 8 --worker sleep \
	--worker "slow=sleep 0.5; echo done"

stat1() { c1 -j status | python3 -c "import json,sys; print(int(json.load(sys.stdin)['stats']['$1']))"; }
sees_worker() {
	c1 -j members 2>/dev/null | python3 2>/dev/null -c "
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if any('slow' in m['capabilities'] and m['state']=='alive' for m in d['members']) else 1)"
}
streams_at_least() { [ "$(stat1 events_streams 2>/dev/null)" -ge "$1" ] 2>/dev/null; }
has() { grep -q -- "$2" "$1"; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
wait_until 15000 sees_worker || { ok 1 "the worker is visible to the client"; done_testing; exit 1; }

# ---------------------------------------------------------------- one job, followed
"$CHORUS" -H "$(api 1)" -j watch --type job >"$TEST_TMP/w.out" 2>"$TEST_TMP/w.err" &
WPID=$!
track $WPID
check "the watcher's stream is open (stats.events_streams)" wait_until 10000 streams_at_least 1
id=$(c1 submit slow --detach)
check "watch prints the job's final event" wait_until 10000 has "$TEST_TMP/w.out" "\"id\":\"$id\".*succeeded"
check "in order, as they happened: pending, running, succeeded (repeats allowed)" python3 -c "
import json,sys
st=[d['state'] for d in map(json.loads, open('$TEST_TMP/w.out')) if d.get('id')=='$id']
seen=[s for i,s in enumerate(st) if i==0 or st[i-1]!=s]
print('#', seen)
sys.exit(0 if seen==['pending','running','succeeded'] or seen==['queued','pending','running','succeeded'] else 1)"
check "every line is a job event (--type job)" python3 -c "
import json,sys; sys.exit(0 if all(json.loads(l)['type']=='job' for l in open('$TEST_TMP/w.out')) else 1)"
kill -INT $WPID
check "watch exits on SIGINT" wait_until 5000 pid_gone $WPID
if pid_gone $WPID; then wait $WPID; rc=$?; else rc=99; fi
check "with 0" test "$rc" -eq 0

c1 watch --type bogus >/dev/null 2>"$TEST_TMP/bad.err"; rc=$?
check "an unknown type is refused by the node (exit 3)" test "$rc" -eq 3
check "in one line that says the types" grep -q "member,job,ack,ledger,log" "$TEST_TMP/bad.err"

# ---------------------------------------------------------------- a stalled watcher
# Baseline: N jobs with nobody watching.
t0=$(now_ms)
python3 "$QJ" submit "$(hport 1)" "$(api_token 1)" sleep 0 "$N" "$TEST_TMP/a"
all_done() { [ "$(python3 "$QJ" states "$(hport 1)" "$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('succeeded',0))")" -eq "$N" ]; }
check "$N jobs succeed with nobody watching" wait_until 60000 all_done "$TEST_TMP/a"
t_base=$(( $(now_ms) - t0 ))

python3 "$top_srcdir/tests/e2e/stalled-watcher.py" "$(hport 1)" 90 >"$TEST_TMP/stall.out" &
SPID=$!
track $SPID
"$CHORUS" -H "$(api 1)" -j watch --type job >"$TEST_TMP/g.out" 2>"$TEST_TMP/g.err" &
GPID=$!
track $GPID
check "both streams open" wait_until 10000 streams_at_least 2
t0=$(now_ms)
python3 "$QJ" submit "$(hport 1)" "$(api_token 1)" sleep 0 "$N" "$TEST_TMP/b"
check "$N jobs succeed with a stalled watcher" wait_until 60000 all_done "$TEST_TMP/b"
t_stall=$(( $(now_ms) - t0 ))
diag "$N jobs: ${t_base} ms with nobody watching, ${t_stall} ms with a stalled watcher"
dropped=$(stat1 events_dropped)
check "the stalled watcher was dropped and counted (events_dropped=$dropped)" test "$dropped" -ge 1
check "and logged with its reason" grep -q "event=events_dropped.*slow consumer" "$TEST_TMP/n1/node.log"
check "the node served the jobs at speed (at most 3x the baseline + 2 s)" \
	test "$t_stall" -le $((3 * t_base + 2000))
good_final() { [ "$(grep -c '"final":true' "$TEST_TMP/g.out")" -ge "$N" ]; }
check "the watcher that keeps up saw every job end ($N)" wait_until 20000 good_final
check "and was not dropped" kill -0 $GPID
kill $SPID 2>/dev/null

# ---------------------------------------------------------------- the node goes away
kill -TERM "${PID[1]}"
check "watch returns when the node stops" wait_until 15000 pid_gone $GPID
if pid_gone $GPID; then wait $GPID; rc=$?; else rc=99; fi
check "with 2 (the node went away)" test "$rc" -eq 2
check "saying so in one line" grep -q "closed the event stream" "$TEST_TMP/g.err"

done_testing

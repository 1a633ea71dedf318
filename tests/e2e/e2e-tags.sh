#!/bin/bash
# End-to-end constraints and self-run: real chorusd processes on loopback.
#   n1: the client (runs nothing); n2 gpu=a100, n3 gpu=t4, n4 untagged: echo and sleep workers.
#  - `chorus members` shows each node's tags (and the API's member JSON has them);
#  - `submit --where gpu=a100` runs only on n2, `--where gpu=t4` only on n3;
#  - a constraint no alive worker meets fails at once (< 1 s) with the reason;
#  - the constraint is kept in jobs.db: a job in flight when its client is killed -9
#    resumes after the restart with it, and still runs only where it may;
#  - n5 alone (`chorusd --worker echo`, no other member) runs its own echo job; with
#    --voter --bootstrap-expect 1 it is its own ledger too, and credits itself once.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base e2e-tags)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
c1() { "$CHORUS" -H "$(api 1)" "$@"; }
declare -a PID

# field ID EXPR: EXPR over the job record d, from node 1.
field() { c1 -j job "$1" 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)" 2>/dev/null; }
is_final() { [ "$(field "$1" "d['final']")" = "True" ]; }
is_running() { [ "$(field "$1" "d['state']")" = "running" ]; }
sees_tagged() { # n1 sees the three workers alive, with their tags
	c1 -j members 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin)
t=sorted((m['name'], m.get('tags',{}).get('gpu','-')) for m in d['members'] if m['state']=='alive' and 'echo' in m['capabilities'])
sys.exit(0 if t==[('n2','a100'),('n3','t4'),('n4','-')] else 1)" 2>/dev/null
}
start_worker() { i=$1; shift; start_node "$i" --join "tcp://127.0.0.1:$(fport 1)" --capacity 4 --worker echo --worker sleep "$@"; }

# ---------------------------------------------------------------- --tag is checked at start
OUT=$TEST_TMP/n.out ERR=$TEST_TMP/n.err
check "chorusd -n --tag without '=' is refused (exit 1)" run 1 "$CHORUSD" -n --insecure-open \
	--data-dir "$TEST_TMP/nt" --tag gpu
check "saying what a tag is" grep -q "bad tag 'gpu' (want KEY=VALUE" "$ERR"
check "a key given twice is refused (exit 1)" run 1 "$CHORUSD" -n --insecure-open \
	--data-dir "$TEST_TMP/nt" --tag gpu=a100 --tag gpu=t4

start_node 1
start_worker 2 --tag gpu=a100 --tag zone=eu
start_worker 3 --tag gpu=t4
start_worker 4
wait_until 15000 sees_tagged || { ok 1 "n1 sees the three workers and their tags"; done_testing; exit 1; }
ok 0 "n1 sees the three workers and their tags (API member JSON)"

# ---------------------------------------------------------------- members
check "chorus members exits 0" run 0 c1 members
check "chorus members has a TAGS column" out_has "^ID .*ROLES .*TAGS .*LOAD"
check "and shows n2's tags" sh -c "grep -E '^[0-9a-f]+ +n2 .*gpu=a100,zone=eu' '$OUT' >/dev/null"
check "and n3's" sh -c "grep -E '^[0-9a-f]+ +n3 .*gpu=t4' '$OUT' >/dev/null"

# ---------------------------------------------------------------- --where reaches only the match
where_runs() { # where_runs WHERE WANT_WORKER COUNT: COUNT jobs, each succeeds on WANT_WORKER
	w=$1 want=$2 n=$3 good=0
	for k in $(seq 1 "$n"); do
		c1 -j submit echo --data "job $k" --where "$w" >"$TEST_TMP/w.json" 2>"$TEST_TMP/w.err" || continue
		python3 -c "
import json,sys; d=json.load(open('$TEST_TMP/w.json'))
sys.exit(0 if d['state']=='succeeded' and d['worker_name']=='$want' else 1)" && good=$((good + 1))
	done
	[ "$good" -eq "$n" ] || { diag "$good of $n jobs --where $w ran on $want; last: $(cat "$TEST_TMP/w.json" "$TEST_TMP/w.err")"; return 1; }
}
check "6 jobs --where gpu=a100 all ran on n2" where_runs gpu=a100 n2 6
check "6 jobs --where gpu=t4 all ran on n3" where_runs gpu=t4 n3 6
check "3 jobs --where zone=eu,gpu=a100 all ran on n2" where_runs zone=eu,gpu=a100 n2 3
id=$(c1 submit echo --data x --where gpu=a100 --detach)
wait_until 5000 is_final "$id"
check "the job record keeps its constraint" test "$(field "$id" "d.get('where')")" = "{'gpu': 'a100'}"

# ---------------------------------------------------------------- unmeetable: at once, with the reason
t0=$(now_ms)
c1 submit echo --data x --where gpu=h100 2>"$TEST_TMP/h100.err"
rc=$?
took=$(( $(now_ms) - t0 ))
check "a constraint nobody meets fails (exit 4)" test "$rc" -eq 4
check "at once: in under 1 s ($took ms, the CLI included)" test "$took" -lt 1000
check "saying what the workers have instead" grep -q \
	"no alive worker runs echo with gpu=h100 (3 run echo: .*gpu=a100.*)" "$TEST_TMP/h100.err"
check "naming the untagged one too" grep -q "no gpu" "$TEST_TMP/h100.err"
diag "unmeetable: $(cat "$TEST_TMP/h100.err")"
check "a bad --where is refused by the CLI (exit 1)" run 1 c1 submit echo --where gpu

# ---------------------------------------------------------------- the constraint survives a restart
id=$(c1 submit sleep --data 1500 --where gpu=t4 --detach)
check "a 1.5 s job --where gpu=t4 is running" wait_until 5000 is_running "$id"
kill -9 "${PID[1]}"
wait "${PID[1]}" 2>/dev/null
start_node 1
check "after kill -9 and restart, the job ends" wait_until 15000 is_final "$id"
check "succeeded, on n3" test "$(field "$id" "d['state'] + ' ' + d['worker_name']")" = "succeeded n3"
check "its constraint is still in jobs.db" test "$(field "$id" "d.get('where')")" = "{'gpu': 't4'}"

# ---------------------------------------------------------------- a one-node cluster runs its own jobs
start_node 5 --worker echo --voter --bootstrap-expect 1
c5() { "$CHORUS" -H "$(api 5)" "$@"; }
check "n5 (alone) answers" wait_until 5000 sh -c "'$CHORUS' -H '$(api 5)' status >/dev/null 2>&1"
out=$(c5 submit echo --data "alone")
check "chorusd --worker echo, then chorus submit echo: succeeds" test "$out" = "alone"
c5 -j submit echo --data again >"$TEST_TMP/solo.json"
check "run by the node itself" python3 -c "
import json,sys; d=json.load(open('$TEST_TMP/solo.json'))
sys.exit(0 if d['state']=='succeeded' and d['worker_name']=='n5' and len(d['attempts'])==1 else 1)"
check "through the core's loopback (stats.loopback_frames)" qv status "d['stats']['loopback_frames'] >= 10" "$(hport 5)"
c5 submit echo --data paid --reward 7 >/dev/null
check "its ledger credits the three jobs, the paid one with 7" wait_until 10000 \
	qv ledger "d['credited'] == 3 and d['total_reward'] == 7" "$(hport 5)"
check "to itself, as worker and as client: earned 7, spent 7, 3 jobs run" \
	qv ledger/balances "[(a['name'], a['earned'], a['spent'], a['jobs_run']) for a in d['accounts']] == [('n5', 7, 7, 3)]" "$(hport 5)"

done_testing

#!/bin/bash
# End-to-end: a job runs once unless its worker really died (docs/dispatch.md,
# "Exactly once").  Real chorusd processes on loopback: n1 is the client (runs
# nothing), n2..n4 are workers whose "count" command appends the job's token to
# a file of their own before it sleeps, so every run is counted.
#  1. kill -9 of the client in the middle of a stream of submissions, restart
#     with the same data dir: every accepted job ends, succeeded, and its token
#     was written exactly once over all the workers' files, and it is credited
#     once by the ledger (the workers are its three voters).
#  2. kill -9 of a worker mid-job: the job fails over and succeeds elsewhere;
#     the worker restarted afterwards is handed the dispatches its client had
#     queued for its old life (nng redials and delivers them) and refuses
#     them: it runs nothing.
#  3. the client killed at the worst moment (CHORUS_FAULT=crash-after-final:
#     SIGKILL right after the commit that made a job final on disk): the job's
#     ack was in the outbox by then, and the restarted client gets it credited.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base e2e-once)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
c1() { "$CHORUS" -H "$(api 1)" "$@"; }

declare -a PID
# Payload "TOKEN SECONDS": the token is appended to this worker's file, then it sleeps.
start_worker() {
	start_node "$1" --join "tcp://127.0.0.1:$(fport 1)" --capacity 8 --voter --bootstrap-expect 3 --voters "$(voters_of 2 3 4)" \
		--worker "count=read -r t s; echo \"\$t\" >>$TEST_TMP/runs.n$1; sleep \"\$s\"; echo \"ran \$t\""
}
sees_workers() { # at least $1 workers running "count" are alive for n1
	c1 -j members 2>/dev/null | python3 2>/dev/null -c "
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if sum('count' in m['capabilities'] and m['state']=='alive' for m in d['members']) >= $1 else 1)"
}
field() { c1 -j job "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
ACCEPTED=$TEST_TMP/accepted # "ID TOKEN" per job the client accepted
# all_final: every accepted job is in n1's table, and every job there is final (one
# more than the accepted may be there: a submit the kill cut off after its row committed).
all_final() {
	c1 -j jobs --limit 1000 2>/dev/null | python3 2>/dev/null -c "
import json,sys; d={j['id']: j for j in json.load(sys.stdin)['jobs']}
ids=[l.split()[0] for l in open('$ACCEPTED')]
sys.exit(0 if all(i in d for i in ids) and all(j['final'] for j in d.values()) else 1)"
}
# runs TOKEN: how many times any worker ran it.
runs() { cat "$TEST_TMP"/runs.n* 2>/dev/null | grep -cx "$1"; }

start_node 1
for i in 2 3 4; do start_worker $i; done
wait_until 15000 sees_workers 3 || { ok 1 "three workers visible to the client"; done_testing; exit 1; }

# ---------------------------------------------------------------- 1. kill -9 of the client
: >"$ACCEPTED"
(
	for k in $(seq 1 150); do
		id=$(c1 submit count --data "tok$k 0.$((1 + RANDOM % 3))" --detach 2>/dev/null) || exit 0
		echo "$id tok$k" >>"$ACCEPTED"
	done
) &
SUBMITTER=$!
track $SUBMITTER
accepted_n() { [ "$(wc -l <"$ACCEPTED")" -ge "$1" ]; }
check "the client accepts a stream of submissions" wait_until 30000 accepted_n 60
kill -KILL "${PID[1]}"
wait "${PID[1]}" 2>/dev/null
check "the submitter stops when the client is gone" wait_until 10000 pid_gone $SUBMITTER
n_acc=$(wc -l <"$ACCEPTED")
open_at_kill=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from jobs where final = 0').fetchone()[0])" "$TEST_TMP/n1/jobs.db")
with_attempt=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from jobs where final = 0 and attempts != '[]'\").fetchone()[0])" "$TEST_TMP/n1/jobs.db")
diag "killed the client after $n_acc accepted jobs; $open_at_kill not final in its table, $with_attempt of them dispatched"
check "some accepted jobs were dispatched and not final when the client died" test "$with_attempt" -gt 0

start_node 1
check "the restarted client ends every accepted job" wait_until 60000 all_final
c1 -j jobs --limit 1000 >"$TEST_TMP/jobs.json"
python3 - "$ACCEPTED" "$TEST_TMP/jobs.json" "$TEST_TMP" >"$TEST_TMP/verdict" <<'EOF'
import json, sys, glob
acc = [l.split() for l in open(sys.argv[1])]
jobs = {j['id']: j for j in json.load(open(sys.argv[2]))['jobs']}
runs = {}
for f in glob.glob(sys.argv[3] + '/runs.n*'):
    for line in open(f):
        runs[line.strip()] = runs.get(line.strip(), 0) + 1
failed = [t for i, t in acc if jobs.get(i, {}).get('state') != 'succeeded']
twice = sorted(t for t, n in runs.items() if n > 1)
never = [t for i, t in acc if runs.get(t, 0) == 0]
# The ledger must hold every job that succeeded in n1's table: the accepted ones, and a
# submit the kill may have cut off after its row committed (its CLI saw no answer).
accepted_ids = set(i for i, t in acc)
with open(sys.argv[3] + '/succeeded', 'w') as f:
    for i, j in jobs.items():
        if j.get('state') == 'succeeded': print(i, file=f)
unseen = [i for i in jobs if i not in accepted_ids]
print(len(acc), len(failed), len(twice), len(never), len(unseen), ' '.join(twice[:10]))
EOF
read -r n_jobs n_failed n_twice n_never n_unseen twice_list <"$TEST_TMP/verdict"
n_succeeded=$(wc -l <"$TEST_TMP/succeeded")
diag "accepted=$n_jobs failed=$n_failed ran_twice=$n_twice never_ran=$n_never ${twice_list}"
diag "n1's table holds $n_unseen job(s) the submitter never saw accepted; $n_succeeded succeeded in all"
check "at most the one submit in flight at the kill is in the table unseen ($n_unseen)" test "$n_unseen" -le 1
diag "client after restart: $(grep -c 'event=resume-query' "$TEST_TMP/n1/node.log") asked their last worker, $(grep -c 'event=resume-answer' "$TEST_TMP/n1/node.log") answered running/unknown; workers answered from their outcome table $(cat "$TEST_TMP"/n[234]/node.log | grep -c 'event=known\|event=status') times"
check "every accepted job succeeded ($n_failed of $n_jobs did not)" test "$n_failed" -eq 0
check "every accepted job ran ($n_never never did)" test "$n_never" -eq 0
# "A job runs once unless its worker really died" (docs/dispatch.md): membership
# declaring a worker dead counts as dying, and the client then fails over without
# asking it.  No worker is killed here, but a machine starved for seconds can have one
# declared dead; a job may run twice only then, and the deaths are named.
deaths=$(cat "$TEST_TMP"/n1/node.log | grep -c 'member event=dead')
diag "workers the client saw declared dead during the stream: $deaths"
check "no job ran twice ($n_twice did: $twice_list), unless a worker was declared dead ($deaths)" \
	test "$n_twice" -eq 0 -o "$deaths" -gt 0
# The workers n2..n4 are the ledger's voters: each accepted job is credited, once.
check "every succeeded job is credited on every voter ($n_succeeded)" \
	wait_until 60000 qv ledger "d['credited'] == $n_succeeded" "$(hport 2)" "$(hport 3)" "$(hport 4)"
for i in 2 3 4; do
	check "exactly once: voter n$i's blocks hold each succeeded job once, no other" \
		ledger_exactly_once "$(hport $i)" "$TEST_TMP/succeeded"
done
diag "credited: $(for p in 2 3 4; do printf 'n%s %s ' "$p" "$(qv -p ledger "d['credited']" "$(hport "$p")" 2>/dev/null)"; done)"

# ---------------------------------------------------------------- 2. a restarted worker runs nothing
id=$(c1 submit count --data "solo 4" --timeout 60 --detach)
ran_somewhere() { [ "$(runs solo)" -ge 1 ]; }
check "the solo job starts on a worker" wait_until 10000 ran_somewhere
wa=$(grep -lx solo "$TEST_TMP"/runs.n* | head -n 1)
wa=${wa##*.n}
kill -KILL "${PID[$wa]}"
wait "${PID[$wa]}" 2>/dev/null
is_final() { [ "$(field "$1" "d['final']")" = "True" ]; }
check "killed mid-job, n$wa's job still ends" wait_until 40000 is_final "$id"
check "succeeded" test "$(field "$id" "d['state']")" = "succeeded"
check "on another worker" test "$(field "$id" "d['attempts'][-1]['worker_name']")" != "n$wa"
check "it ran twice in all: the dead worker's run and the failover's ($(runs solo))" test "$(runs solo)" -eq 2
lines_before=$(wc -l <"$TEST_TMP/n$wa/node.log")
start_worker "$wa"
# Refused at the wire (sent before the worker started: drop_before_start, docs/security.md),
# or, should one pass, by the worker's life named in the dispatch.
refused_old() {
	tail -n +"$((lines_before + 1))" "$TEST_TMP/n$wa/node.log" | grep -q "event=refuse job=$id reason=restarted" ||
		qv status "d['stats']['drop_before_start'] >= 1" "$(hport "$wa")"
}
check "restarted, n$wa is handed the dispatches queued for its old life and refuses them" \
	wait_until 15000 refused_old
wait_until 15000 sees_workers 3
check "n$wa ran nothing: solo ran twice in all, still ($(runs solo))" test "$(runs solo)" -eq 2
check "and its log shows no run of it since the restart" \
	eval "! tail -n +$((lines_before + 1)) '$TEST_TMP/n$wa/node.log' | grep -q 'event=run job=$id'"

# ---------------------------------------------------------------- 3. a crash just after a job is final
# The ack is signed with the turn's batch (sigbatch.c): the job table once committed the
# final state before that, and a crash there left a succeeded job no ack would ever credit.
wait_until 15000 sees_workers 3
credited_before=$(qv -p ledger "d['credited']" "$(hport 2)")
kill -KILL "${PID[1]}"
wait "${PID[1]}" 2>/dev/null
CHORUS_FAULT=crash-after-final start_node 1
wait_until 15000 sees_workers 3
fid=$(c1 submit count --data "fault 0" --detach 2>/dev/null)
check "with the fault set, the client accepts a job ($fid)" test -n "$fid"
check "and kills itself once the job is final on disk" wait_until 20000 pid_gone "${PID[1]}"
kill -KILL "${PID[1]}" 2>/dev/null # still there (the check failed): gone now, not waited for ever
wait "${PID[1]}" 2>/dev/null
check "it says so in its log" grep -q 'event=fault what=crash-after-final' "$TEST_TMP/n1/node.log"
start_node 1
final_ok() { [ "$(field "$fid" "d['state']")" = "succeeded" ]; }
check "restarted, the client holds the job as succeeded" wait_until 15000 final_ok
check "and the ledger credits it on every voter ($((credited_before + 1)) in all)" \
	wait_until 30000 qv ledger "d['credited'] == $((credited_before + 1))" "$(hport 2)" "$(hport 3)" "$(hport 4)"
check "the job itself is in the ledger" wait_until 5000 sh -c "curl -sf -o /dev/null http://127.0.0.1:$(hport 2)/v1/ledger/jobs/$fid"

done_testing

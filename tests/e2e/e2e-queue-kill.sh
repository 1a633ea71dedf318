#!/bin/bash
# End-to-end: queued jobs survive kill -9 (docs/dispatch.md, "The queue").  Real
# chorusd processes on loopback: n1 is the client (runs nothing), n2..n4 are
# workers of capacity 2 (and the ledger's three voters) whose "count" command
# appends the job's token to a file of their own, then sleeps 0.2 s.
# 100 jobs are submitted at once: 6 run, the rest wait, and every worker holds
# reservations for them.  Then a worker is killed (kill -9), and the client with
# its queue; both restart.  Every accepted job ends succeeded; no token ran on
# two live workers (a job ran twice only when its first worker was the one
# killed under it); and the ledger credits every job exactly once.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed"

base=$(port_base e2e-queue-kill)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
QJ="$top_srcdir/tests/e2e/queue-jobs.py"
declare -a PID
start_worker() { # start_worker I [LIFE]: its runs go to runs.nI (LIFE appended: a restart's)
	start_node "$1" --join "tcp://127.0.0.1:$(fport 1)" --capacity 2 --voter --bootstrap-expect 3 --voters "$(voters_of 2 3 4)" \
		--worker "count=read -r t s; echo \"\$t\" >>$TEST_TMP/runs.n$1${2:-}; sleep \"\$s\"; echo \"ran \$t\""
}
sees_workers() {
	qv members "sum('count' in m['capabilities'] and m['state'] == 'alive' for m in d['members']) >= $1" "$(hport 1)"
}
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
ACC=$TEST_TMP/accepted
queued_n() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from jobs where state = 'queued'\").fetchone()[0])" "$TEST_TMP/n1/jobs.db" 2>/dev/null; }
all_final() { qv 'jobs?limit=1000' "len(d['jobs']) >= 100 and all(j['final'] for j in d['jobs'])" "$(hport 1)"; }

start_node 1
for i in 2 3 4; do start_worker $i; done
wait_until 15000 sees_workers 3 || { ok 1 "three workers visible to the client"; done_testing; exit 1; }

python3 "$QJ" submit "$(hport 1)" "$(api_token 1)" count "tok{n} 0.2" 100 "$ACC"
check "the client accepts 100 jobs" test "$(grep -c '^[0-9a-f]\{32\} ' "$ACC")" -eq 100
many_queued() { qv 'jobs?limit=1000' "sum(j['state'] == 'queued' for j in d['jobs']) >= 60" "$(hport 1)"; }
check "most of them wait (state queued)" wait_until 3000 many_queued
# n2 has reservations for the waiting jobs (its slots are full): kill it.
kill -KILL "${PID[2]}"
wait "${PID[2]}" 2>/dev/null
nq=$(qv -p 'jobs?limit=1000' "sum(j['state'] == 'queued' for j in d['jobs'])" "$(hport 1)")
kill -KILL "${PID[1]}"
wait "${PID[1]}" 2>/dev/null
diag "killed worker n2, then the client with $nq jobs queued; jobs.db says $(queued_n) queued or written so"
check "the client died with jobs still queued ($nq)" test "${nq:-0}" -ge 20
start_node 1
start_worker 2 b # its second life: runs.n2b
check "restarted, the client ends every accepted job" wait_until 50000 all_final
python3 - "$ACC" "$(hport 1)" "$TEST_TMP" >"$TEST_TMP/verdict" <<'PY'
import glob, http.client, json, sys
acc = [l.split() for l in open(sys.argv[1]) if l[0] != 'r']
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[2]), timeout=10)
c.request('GET', '/v1/jobs?limit=1000')
jobs = {j['id']: j for j in json.loads(c.getresponse().read())['jobs']}
live, dead = {}, {}
for f in glob.glob(sys.argv[3] + '/runs.n*'):
    for line in open(f):
        d = dead if f.endswith('.n2') else live # n2's first life was killed under its jobs
        d[line.strip()] = d.get(line.strip(), 0) + 1
failed = [t for i, t, _ in acc if jobs.get(i, {}).get('state') != 'succeeded']
never = [t for i, t, _ in acc if live.get(t, 0) + dead.get(t, 0) == 0]
twice = sorted(t for t in set(live) | set(dead) if live.get(t, 0) > 1 or dead.get(t, 0) > 1)
print(len(acc), len(failed), len(never), len(twice), ' '.join(twice[:8]))
PY
read -r n_acc n_failed n_never n_twice twice_list <"$TEST_TMP/verdict"
diag "accepted=$n_acc failed=$n_failed never_ran=$n_never ran_twice_on_one_side=$n_twice $twice_list"
check "every accepted job succeeded ($n_failed of $n_acc did not)" test "$n_failed" -eq 0
check "every accepted job ran ($n_never never did)" test "$n_never" -eq 0
check "no job ran twice but for the worker killed under it ($n_twice: $twice_list)" test "$n_twice" -eq 0
check "the ledger credits every job exactly once (100)" \
	wait_until 30000 qv ledger "d['credited'] == 100" "$(hport 3)" "$(hport 4)"
diag "credited: n3 $(qv -p ledger "d['credited']" "$(hport 3)" 2>/dev/null)," \
	"n4 $(qv -p ledger "d['credited']" "$(hport 4)" 2>/dev/null)"

done_testing

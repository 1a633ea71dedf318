#!/bin/bash
# End-to-end: fair share between client nodes (docs/dispatch.md, "The queue").
# Real chorusd processes on loopback: n1 and n2 are clients (they run nothing),
# n3..n5 workers of capacity 2 running sleep.  Each client submits 200 jobs of
# `sleep 100` (ms) at once: both finish, every job succeeds, and while both had
# jobs waiting each held 50 +- 10% of the slot-time (from the job records: a
# run is [finished - the last attempt's ms, finished], queue-jobs.py stats).
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed"

base=$(port_base e2e-queue-share)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
QJ="$top_srcdir/tests/e2e/queue-jobs.py"
declare -a PID

sees_workers() { # client $1 sees 3 workers running sleep
	qv members "sum('sleep' in m['capabilities'] and m['state'] == 'alive' for m in d['members']) >= 3" "$(hport "$1")"
}
start_node 1
start_node 2 --join "tcp://127.0.0.1:$(fport 1)"
for i in 3 4 5; do start_node $i --join "tcp://127.0.0.1:$(fport 1)" --capacity 2 --worker sleep; done
wait_until 15000 sees_workers 1 && wait_until 15000 sees_workers 2 ||
	{ ok 1 "both clients see the three workers"; done_testing; exit 1; }

t0=$(now_ms)
python3 "$QJ" submit "$(hport 1)" "$(api_token 1)" sleep 100 200 "$TEST_TMP/a" &
sa=$!
python3 "$QJ" submit "$(hport 2)" "$(api_token 2)" sleep 100 200 "$TEST_TMP/b" &
sb=$!
track $sa
track $sb
wait $sa
wait $sb
check "client 1 has 200 jobs accepted" test "$(grep -c '^[0-9a-f]\{32\} ' "$TEST_TMP/a")" -eq 200
check "client 2 has 200 jobs accepted" test "$(grep -c '^[0-9a-f]\{32\} ' "$TEST_TMP/b")" -eq 200
all_final() { qv 'jobs?limit=1000' "len(d['jobs']) == 200 and all(j['final'] for j in d['jobs'])" "$(hport 1)" "$(hport 2)"; }
check "both clients' 400 jobs end" wait_until 45000 all_final
diag "400 x 100 ms on 6 slots: $(( $(now_ms) - t0 )) ms as the test saw it (ideal 6.7 s)"
python3 "$QJ" stats "$(hport 1)" "$(hport 2)" >"$TEST_TMP/stats"
diag "$(cat "$TEST_TMP/stats")"
st() { python3 -c "import json,sys; d=json.load(open('$TEST_TMP/stats')); sys.exit(0 if ($1) else 1)"; }
check "all 400 succeeded" st "d['states'] == {'succeeded': 400}"
check "both had jobs waiting for a while (window over 2 s)" st "d['window_s'] > 2"
check "client 1 held 50 +- 10% of the slot-time while both waited" st "0.40 <= d['share'][0] <= 0.60"
check "client 2 held 50 +- 10% of the slot-time while both waited" st "0.40 <= d['share'][1] <= 0.60"

done_testing

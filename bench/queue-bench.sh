#!/bin/bash
# Queue benchmark (issue 15): 3 workers of capacity 4 running the built-in sleep,
# 2 client nodes, 2,000 jobs of 100 ms (1,000 per client) submitted at once, real
# chorusd processes on loopback.  Prints the makespan against the ideal
# (2000 x 0.1 s / 12 slots = 16.7 s), slot utilisation (the runs' time as the
# workers log it, over 12 x makespan), queue-to-start latency p50/p99 (from a slot freeing on a
# worker to the next job starting on it, from the workers' logs), and each
# client's share of the slot-time while both had jobs waiting (from the job
# records: a run is [finished - the last attempt's ms, finished]).  Not part of
# `make check`.
# Usage: bench/queue-bench.sh   (after a build; JOBS per client, default 1000)
set -u
cd "$(dirname "$0")/.."
top_srcdir=$PWD
CHORUSD=$PWD/src/node/chorusd
. tests/lib.sh
JOBS=${JOBS:-1000}
QJ=$PWD/tests/e2e/queue-jobs.py
[ -x "$CHORUSD" ] || { echo "bench: $CHORUSD is not built (make)" >&2; exit 1; }
[ "$JOBS" -le 1000 ] || { echo "bench: JOBS is at most 1000 (what GET /v1/jobs lists)" >&2; exit 1; }
base=$(port_base bench-queue)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
declare -a PID
sees_workers() {
	qv members "sum('sleep' in m['capabilities'] and m['state'] == 'alive' for m in d['members']) >= 3" "$(hport "$1")"
}
start_node 1
start_node 2 --join "tcp://127.0.0.1:$(fport 1)"
for i in 3 4 5; do start_node "$i" --join "tcp://127.0.0.1:$(fport 1)" --capacity 4 --worker sleep; done
wait_until 15000 sees_workers 1 && wait_until 15000 sees_workers 2 ||
	{ echo "bench: the workers did not show up" >&2; exit 1; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "build: $(grep -m1 '^CFLAGS = ' Makefile 2>/dev/null | cut -d' ' -f3-)"
python3 "$QJ" submit "$(hport 1)" "$(api_token 1)" sleep 100 "$JOBS" "$TEST_TMP/a" &
sa=$!
python3 "$QJ" submit "$(hport 2)" "$(api_token 2)" sleep 100 "$JOBS" "$TEST_TMP/b" &
sb=$!
track $sa
track $sb
wait $sa
wait $sb
all_final() { qv 'jobs?limit=1000' "len(d['jobs']) == $JOBS and all(j['final'] for j in d['jobs'])" "$(hport 1)" "$(hport 2)"; }
wait_until 300000 all_final || echo "bench: not every job ended within 300 s" >&2
python3 "$QJ" stats "$(hport 1)" "$(hport 2)" >"$TEST_TMP/stats"
python3 "$QJ" latency "$TEST_TMP"/n[345]/node.log >"$TEST_TMP/latency"
python3 - "$TEST_TMP/stats" "$JOBS" "$TEST_TMP/latency" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); n = 2 * int(sys.argv[2]); slots = 12
lat = json.load(open(sys.argv[3]))
ideal = n * 0.1 / slots
print("jobs: %d (%s)" % (n, ", ".join("%s %d" % kv for kv in sorted(d["states"].items()))))
print("makespan: %.2f s, ideal %.2f s (%.3f x ideal)" % (d["makespan_s"], ideal, d["makespan_s"] / ideal))
print("slot utilisation: %.1f%% (%.1f slot-s of runs, as the workers timed them, in %d x %.2f s)" % (
    100 * lat["busy_slot_s"] / (slots * d["makespan_s"]), lat["busy_slot_s"], slots, d["makespan_s"]))
print("queue-to-start latency: p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d slot hand-overs)" % (
    lat["p50_ms"], lat["p99_ms"], lat["max_ms"], lat["n"]))
print("shares while both waited (%.1f s): client 1 %.1f%%, client 2 %.1f%%" % (
    d["window_s"], 100 * d["share"][0], 100 * d["share"][1]))
PY

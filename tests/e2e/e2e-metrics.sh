#!/bin/bash
# End-to-end: GET /metrics on a 3-node cluster of real chorusd processes.
#  - n1: the ledger's one voter and the client; n2, n3: workers (echo, fail);
#  - after JOBS echo jobs and one failing job, every node's /metrics passes
#    `promtool check metrics` (Prometheus' own parser and naming linter);
#  - the values are the cluster's: jobs completed by outcome = the jobs run,
#    the dispatch-latency and offers histograms counted every job, members
#    alive = 3 everywhere, the workers started every job between them, the
#    voter leads, its ledger height is above 0 and it credited the jobs, its
#    stores' commits were timed, and the process metrics are plausible.
# Every wait is bounded; every process is tracked and killed on exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read the metrics"
command -v promtool >/dev/null 2>&1 || skip_all "promtool (Debian package prometheus) not installed"

base=$(port_base "e2e-metrics $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
JOBS=12
REWARD=2
cli() { i=$1; shift; "$CHORUS" -H "http://127.0.0.1:$(hport "$i")" "$@"; }

# scrape I: node I's /metrics into $TEST_TMP/mI.txt (headers in mI.hdr).
scrape() {
	python3 - "$(hport "$1")" "$TEST_TMP/m$1" <<'PYEOF'
import sys, urllib.request
port, out = sys.argv[1], sys.argv[2]
with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=5) as r:
    open(out + ".txt", "wb").write(r.read())
    open(out + ".hdr", "w").write("".join("%s: %s\n" % kv for kv in r.getheaders()))
PYEOF
}
# mval I SAMPLE: the value of SAMPLE (name{labels} exactly as printed) in node I's last scrape.
mval() {
	awk -v s="$2" '$1 == s { print $2; found = 1 } END { exit !found }' "$TEST_TMP/m$1.txt"
}
# mtest I SAMPLE OP VALUE: test(1) on the sample's value (fails when the sample is missing).
mtest() {
	v=$(mval "$1" "$2") || { diag "no sample $2 on n$1"; return 1; }
	v=${v%%.*}
	test "$v" "$3" "$4" || { diag "n$1 $2 = $v, want $3 $4"; return 1; }
}

# ---------------------------------------------------------------- the cluster
declare -a PID
start_node 1 --voter --bootstrap-expect 1 --voters "$(voters_of 1)"
for i in 2 3; do
	start_node "$i" --worker echo --worker fail --capacity 2 --join "tcp://127.0.0.1:$(fport 1)"
done
all_alive() { qv members "sum(m['state'] == 'alive' for m in d['members']) == 3" $(hport 1) $(hport 2) $(hport 3); }
check "three nodes see each other alive" wait_until 30000 all_alive
leads() { qv ledger "d['state'] == 'leader'" "$(hport 1)"; }
check "n1 leads the ledger" wait_until 10000 leads

ok_jobs=0
for k in $(seq 1 "$JOBS"); do
	cli 1 submit echo --data "job $k" --reward "$REWARD" >/dev/null 2>>"$TEST_TMP/submit.err" &&
		ok_jobs=$((ok_jobs + 1))
done
check "the $JOBS echo jobs succeeded" test "$ok_jobs" -eq "$JOBS"
cli 1 submit fail --data x >/dev/null 2>&1
credited() { qv ledger "d['credited'] >= $JOBS" "$(hport 1)"; }
check "the voter's ledger credited them" wait_until 20000 credited

# ---------------------------------------------------------------- promtool
for i in 1 2 3; do
	check "n$i: GET /metrics answers" scrape "$i"
	if promtool check metrics <"$TEST_TMP/m$i.txt" >"$TEST_TMP/promtool.$i" 2>&1; then
		ok 0 "n$i: promtool check metrics passes"
	else
		ok 1 "n$i: promtool check metrics passes"
		head -n 20 "$TEST_TMP/promtool.$i" | sed 's/^/# /'
	fi
done
check "Content-Type is the text format's, version 0.0.4" \
	grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' "$TEST_TMP/m1.hdr"
not_get() {
	python3 - "$(hport 1)" <<'PYEOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request("http://127.0.0.1:%s/metrics" % sys.argv[1], data=b"{}", method="POST",
                             headers={"Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=5)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code in (401, 405) else 1)
sys.exit(1)
PYEOF
}
check "POST /metrics is refused" not_get

# ---------------------------------------------------------------- values
check "n1: jobs completed, succeeded = the $JOBS jobs run" \
	mtest 1 'chorus_jobs_completed_total{outcome="succeeded"}' -eq "$JOBS"
check "n1: jobs completed, failed = the one failing job" \
	mtest 1 'chorus_jobs_completed_total{outcome="failed"}' -eq 1
check "n1: jobs submitted = $((JOBS + 1))" mtest 1 chorus_jobs_submitted_total -eq $((JOBS + 1))
check "n1: no job left in flight" mtest 1 'chorus_jobs{state="running"}' -eq 0
check "n1: the dispatch latency histogram counted every job" \
	mtest 1 chorus_job_duration_seconds_count -eq $((JOBS + 1))
check "n1: the offers histogram counted every job" mtest 1 chorus_job_offers_count -eq $((JOBS + 1))
check "n1: the jobs got offers (sum >= $JOBS)" mtest 1 chorus_job_offers_sum -ge "$JOBS"
check "n1: the queue-wait histogram counted every job" \
	mtest 1 chorus_job_queue_wait_seconds_count -eq $((JOBS + 1))
hist_ok() { # hist_ok I NAME: buckets cumulative, +Inf == _count
	python3 - "$TEST_TMP/m$1.txt" "$2" <<'PYEOF'
import sys
path, name = sys.argv[1], sys.argv[2]
b, count = [], None
for line in open(path):
    if line.startswith(name + "_bucket{"):
        b.append((line.split('le="')[1].split('"')[0], float(line.split()[-1])))
    elif line.startswith(name + "_count "):
        count = float(line.split()[-1])
assert b and b[-1][0] == "+Inf", b
assert all(x[1] <= y[1] for x, y in zip(b, b[1:])), b
assert b[-1][1] == count, (b[-1], count)
PYEOF
}
check "n1: the latency histogram's buckets are cumulative, +Inf = _count" \
	hist_ok 1 chorus_job_duration_seconds
for i in 1 2 3; do
	check "n$i: members alive = 3" mtest "$i" 'chorus_members{state="alive"}' -eq 3
done
started=$(( $(mval 2 chorus_work_started_total) + $(mval 3 chorus_work_started_total) ))
check "the workers started every job between them ($started)" test "$started" -eq $((JOBS + 1))
check "n2: worker slots = its --capacity 2" mtest 2 chorus_worker_slots -eq 2
check "n2: no slot in use once the jobs are done" mtest 2 chorus_worker_slots_used -eq 0
check "n1: frames received" mtest 1 chorus_frames_received_total -gt 0
check "n1: is the leader" mtest 1 chorus_raft_is_leader -eq 1
check "n2: is not" mtest 2 chorus_raft_is_leader -eq 0
check "n1: a Raft term" mtest 1 chorus_raft_term -ge 1
check "n1: one leader change seen, its own election" mtest 1 chorus_raft_leader_changes_total -eq 1
check "n1: the commit index moved" mtest 1 chorus_raft_commit_index -ge 2
check "n1: the ledger height is above 0" mtest 1 chorus_ledger_height -gt 0
check "n1: the ledger credited the $JOBS jobs" mtest 1 chorus_ledger_jobs_credited_total -ge "$JOBS"
check "n1: credits = jobs x reward" mtest 1 chorus_ledger_credits_total -ge $((JOBS * REWARD))
check "n1: raft.db commits (fsync) were timed" mtest 1 'chorus_store_fsync_seconds_count{db="raft"}' -gt 0
check "n1: jobs.db commits were timed" mtest 1 'chorus_store_commit_seconds_count{db="jobs"}' -gt 0
check "n1: resident memory above 1 MiB" mtest 1 process_resident_memory_bytes -gt 1048576
check "n1: open descriptors counted" mtest 1 process_open_fds -gt 3
now_s=$(date +%s)
check "n1: the start time is within the last hour" \
	mtest 1 process_start_time_seconds -gt $((now_s - 3600))

done_testing

#!/bin/bash
# End-to-end: nothing accepted is lost (docs/dispatch.md, Durability).
#  - a full disk: the client's data dir is a 3 MiB tmpfs, filled up; every
#    submit is refused (HTTP 507, `chorus` exits 5 with one line) and no
#    worker runs any of them (the worker's command counts its runs in a file);
#    a job that was running when the disk filled keeps its result in memory
#    and stores it once there is room; freed, submits work again;
#  - back-pressure, not drops: with --outbox-high 12 and the only ledger
#    voter stopped, the client's acks pile up in its outbox; once 12 wait,
#    submits are refused (503 "ledger lagging: N acks waiting", exit 5) and
#    /v1/status says "lagging"; the voter restarts, the outbox drains, every
#    accepted job is credited once (none dropped), and submits are taken again.
# Needs root (mount -t tmpfs); the mount is undone on exit, pass or fail.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"
[ "$(id -u)" -eq 0 ] || skip_all "mounting a tmpfs needs root"

base=$(port_base "e2e-durable $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
q() { qv "$@"; }
cli() { i=$1; shift; "$CHORUS" -H "http://127.0.0.1:$(hport "$i")" "$@"; }
submit() { local n=$1 kind=$2; shift 2; cli "$n" submit "$kind" --reward 2 "$@"; } # a reward: the ledger credits it
declare -a PID

MNT=$TEST_TMP/client-disk
mkdir -p "$MNT"
mount -t tmpfs -o size=3m tmpfs "$MNT" || skip_all "cannot mount a tmpfs"
unmount() { for p in $PIDS; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; umount "$MNT" 2>/dev/null; }
trap 'unmount; cleanup' EXIT INT TERM

RUNS=$TEST_TMP/runs # one line per job a worker ran
: >"$RUNS"
runs() { wc -l <"$RUNS"; }
ran() { [ "$(runs)" -eq "$1" ]; }
VOTER=1 WORKER=2 CLIENT=3
start_voter() { start_node "$VOTER" --voter --bootstrap-expect 1 "$@"; }
start_voter
start_node "$WORKER" --capacity 4 --join "tcp://127.0.0.1:$(fport 1)" \
	--worker "app=cat >/dev/null; echo ran >>'$RUNS'; echo done" \
	--worker "slow=cat >/dev/null; echo ran >>'$RUNS'; sleep 2; echo slow-done"
# The client: its data dir on the tmpfs (its log beside the others).
"$CHORUSD" --keyring "$KEYRING" --data-dir "$MNT" --name c --listen "tcp://127.0.0.1:$(fport "$CLIENT")" \
	--http "127.0.0.1:$(hport "$CLIENT")" --join "tcp://127.0.0.1:$(fport 1)" --outbox-high 12 \
	--log-file "$TEST_TMP/client.log" >>"$TEST_TMP/client.out" 2>&1 &
PID[$CLIENT]=$!
track "${PID[$CLIENT]}"

ready() {
	q members "sum(m['state'] == 'alive' for m in d['members']) == 3" "$(hport "$CLIENT")" &&
		q ledger "d['leader'] != '0000000000000000'" "$(hport "$CLIENT")"
}
check "3 nodes up; the client sees the worker and the ledger's leader" wait_until 30000 ready
check "a first job runs" run 0 submit "$CLIENT" app --data first
check "once" test "$(runs)" -eq 1

# ---------------------------------------------------------------- a full disk
submit "$CLIENT" slow --data "in flight" --detach >"$TEST_TMP/slow.id" 2>>"$TEST_TMP/err.slow"
SLOW=$(cat "$TEST_TMP/slow.id")
check "a slow job is running when the disk fills" wait_until 10000 ran 2
dd if=/dev/zero of="$MNT/fill" bs=4k >/dev/null 2>&1
check "the client's disk is full" test "$(df --output=avail "$MNT" | tail -1 | tr -d ' ')" -eq 0
refused=0 lines=0
for k in $(seq 1 10); do
	submit "$CLIENT" app --data "full $k" >/dev/null 2>"$TEST_TMP/err.$k"
	[ $? -eq 5 ] && refused=$((refused + 1))
	[ "$(wc -l <"$TEST_TMP/err.$k")" -eq 1 ] && grep -q "^chorus: cannot submit job: node answered 507: cannot store the job: the disk is full" "$TEST_TMP/err.$k" && lines=$((lines + 1))
done
diag "stderr of one: $(cat "$TEST_TMP/err.1")"
check "10 submits on a full disk are refused (exit 5): $refused" test "$refused" -eq 10
check "each with one line naming the full disk (HTTP 507): $lines" test "$lines" -eq 10
jobs_listed() { q jobs "len(d['jobs']) == $1" "$(hport "$CLIENT")"; }
check "none of them is in the job table" jobs_listed 2
slow_state() { q "jobs/$SLOW" "d['state'] == '$1'" "$(hport "$CLIENT")"; }
check "the slow job ends while the disk is full: its ack and state are kept in memory" \
	wait_until 10000 grep -q "event=outbox_error acks=1 error=\"the disk is full\" kept=yes" "$TEST_TMP/client.log"
check "no worker ran any refused job (2 runs: the first and the slow one)" test "$(runs)" -eq 2
rm -f "$MNT/fill"
check "space freed: a submit works again" run 0 submit "$CLIENT" app --data "after"
check "and it ran (3 runs)" test "$(runs)" -eq 3
check "the slow job's result, kept in memory, is stored now" \
	q "jobs/$SLOW" "d['state'] == 'succeeded' and d['result_size'] > 0" "$(hport "$CLIENT")"

# ---------------------------------------------------------------- back-pressure, not drops
credited() { q ledger "d['credited'] == $1" "$(hport "$VOTER")"; }
check "the 3 succeeded jobs are credited" wait_until 15000 credited 3
kill -TERM "${PID[$VOTER]}"
wait "${PID[$VOTER]}" 2>/dev/null
accepted=0 lag_line=0 code=0
for k in $(seq 1 30); do
	submit "$CLIENT" app --data "lag $k" >/dev/null 2>"$TEST_TMP/lag.err"
	code=$?
	[ "$code" -ne 0 ] && break
	accepted=$((accepted + 1))
done
diag "accepted $accepted jobs with the voter down, then: $(cat "$TEST_TMP/lag.err")"
check "the voter down: 12 jobs accepted, then submits refused (exit 5)" test "$accepted" -eq 12 -a "$code" -eq 5
check "with the reason: ledger lagging, 12 acks waiting" \
	grep -q "^chorus: cannot submit job: node answered 503: ledger lagging: 12 acks waiting" "$TEST_TMP/lag.err"
check "/v1/status: outbox lagging, 12 open (marks 12 and 9)" \
	q status "d['outbox'] == {'open': 12, 'high': 12, 'low': 9, 'state': 'lagging'}" "$(hport "$CLIENT")"
check "no refused job ran (3 + 12 runs)" test "$(runs)" -eq $((3 + accepted))
start_voter --join "tcp://127.0.0.1:$(fport "$WORKER")" # it left: it rejoins through the worker
drained() { q status "d['outbox']['open'] == 0 and d['outbox']['state'] == 'ok'" "$(hport "$CLIENT")"; }
check "the voter back: the outbox drains" wait_until 30000 drained
check "every accepted job is credited once, none dropped ($((3 + accepted)))" wait_until 15000 credited $((3 + accepted))
check "submits are taken again" run 0 submit "$CLIENT" app --data "drained"
check "and run" test "$(runs)" -eq $((4 + accepted))
done_testing

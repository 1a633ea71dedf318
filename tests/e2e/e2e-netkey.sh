#!/bin/bash
# End-to-end: admission by network key, a confidential fabric, replays refused
# (docs/security.md).  Real chorusd processes on loopback: n1 a client, n2 a
# worker ("count" appends to a file, so every run is counted; "echo").
#  1. Strangers: n3 runs open (--insecure-open), n4 holds another network key;
#     both --join n1 and offer to run "count".  Neither ever appears in a member
#     list of n1 or n2, neither receives a request, 20 jobs all run on n2, and
#     n1 counts their frames as refused for want of a key (drop_nokey).
#  2. A bystander: every TCP segment on n1's and n2's fabric ports is captured
#     (tests/e2e/fabric-capture.py, a raw socket on lo).  A marker sent as job
#     data and echoed back as its result never appears in the capture, though
#     the capture holds the dispatch frames that carried it.
#  3. Replay: a dispatch frame cut from that capture and sent to n2 again at
#     once, after 10,000 more frames to n2, and after n2 restarted, runs
#     nothing and is counted refused (drop_window, drop_before_start).
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
[ -x "$CHORUS_INJECT" ] || skip_all "tests/e2e/fabric-inject not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed"
BENCH=$top_builddir/bench/dispatch-bench
CAPTURE=$top_srcdir/tests/e2e/fabric-capture.py

base=$(port_base e2e-netkey)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
c1() { "$CHORUS" -H "$(api 1)" "$@"; }
stat_of() { qv -p status "d['stats']['$2']" "$(hport "$1")"; } # stat_of NODE COUNTER
id_of() { qv -p status "d['id']" "$(hport "$1")"; }
up() { qv status "d['id']" "$(hport "$1")" >/dev/null 2>&1; }

declare -a PID
start_worker() {
	start_node 2 --join "tcp://127.0.0.1:$(fport 1)" --capacity 8 --worker echo \
		--worker "count=echo x >>$TEST_TMP/runs.n2; cat"
}

# ---------------------------------------------------------------- the capture
CAP=$TEST_TMP/cap
mkdir -p "$CAP"
python3 "$CAPTURE" record "$CAP" "$(fport 1)" "$(fport 2)" 2>"$TEST_TMP/capture.err" &
CAP_PID=$!
track $CAP_PID
cap_ready() { [ -e "$CAP/ready" ] || ! kill -0 "$CAP_PID" 2>/dev/null; }
wait_until 5000 cap_ready
if ! kill -0 "$CAP_PID" 2>/dev/null; then
	wait "$CAP_PID"
	CAP_RC=$?
	diag "no capture ($(cat "$TEST_TMP/capture.err")): sections 2 and 3 need a raw socket on lo"
	CAP_PID=
fi

# ---------------------------------------------------------------- 1. strangers
start_node 1
start_worker
both_up() { up 1 && up 2; }
check "n1 and n2 come up" wait_until 15000 both_up
ID1=$(id_of 1)
ID2=$(id_of 2)
both_alive() { qv members "sum(m['state']=='alive' for m in d['members']) == 2" "$(hport 1)" "$(hport 2)"; }
check "n1 and n2 see each other" wait_until 15000 both_alive

(umask 077; "$CHORUS" keygen >"$TEST_TMP/other.keyring")
start_node 3 --insecure-open --join "tcp://127.0.0.1:$(fport 1)" --worker "count=echo x >>$TEST_TMP/runs.n3; cat"
start_node 4 --keyring "$TEST_TMP/other.keyring" --join "tcp://127.0.0.1:$(fport 1)" \
	--worker "count=echo x >>$TEST_TMP/runs.n4; cat"
strangers_up() { up 3 && up 4; }
check "the strangers come up" wait_until 15000 strangers_up
check "chorus status of the open node says so" sh -c "'$CHORUS' -H '$(api 3)' status | grep -q '^network_key: *open'"
check "and of a member: keyring" sh -c "c() { '$CHORUS' -H '$(api 1)' status; }; c | grep -q '^network_key: *keyring'"
nokey_both() { [ "$(stat_of 1 drop_nokey)" -ge 2 ]; }
check "n1 refuses the strangers' frames: no key in common (drop_nokey)" wait_until 10000 nokey_both
check "and never derived a key for them (at most n2's and its own)" \
	test "$(stat_of 1 peer_keys_derived)" -le 2
ok_jobs=0
for i in $(seq 1 20); do
	c1 submit count --data "job $i" --timeout 20 >/dev/null 2>&1 && ok_jobs=$((ok_jobs + 1))
done
check "20 jobs succeed ($ok_jobs)" test "$ok_jobs" -eq 20
check "all ran on n2" test "$(wc -l <"$TEST_TMP/runs.n2")" -ge 20
check "none on the strangers" test ! -e "$TEST_TMP/runs.n3" -a ! -e "$TEST_TMP/runs.n4"
check "the strangers received no request" \
	test "$(stat_of 3 requests_received)" -eq 0 -a "$(stat_of 4 requests_received)" -eq 0
members_only() { # members_only NODE IDS...: the node's member list is exactly IDS
	node=$1; shift
	qv members "sorted(m['id'] for m in d['members']) == sorted('$*'.split())" "$(hport "$node")"
}
strangers_out=0
for round in 1 2 3 4 5; do # over two seconds: never there, not just not yet
	members_only 1 "$ID1" "$ID2" && members_only 2 "$ID1" "$ID2" || strangers_out=1
	sleep 0.4
done
check "the strangers are in no member list of n1 or n2, ever" test "$strangers_out" -eq 0
strangers_alone() { qv members "len(d['members']) == 1" "$(hport 3)" "$(hport 4)"; }
check "and learnt no member: the strangers see only themselves" strangers_alone
told() { grep -q 'event=join-unanswered .*network_key=open .*start with --keyring' "$TEST_TMP/n3/node.log"; }
check "the open stranger's log says why no one answers" wait_until 10000 told
kill -TERM "${PID[3]}" "${PID[4]}" 2>/dev/null

# ---------------------------------------------------------------- 2. a bystander reads nothing
MARKER=marker-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
if [ -n "$CAP_PID" ]; then
	check "a job with the marker as data succeeds, its result the marker" \
		sh -c "'$CHORUS' -H '$(api 1)' submit echo --data '$MARKER' --timeout 20 2>/dev/null | grep -q '$MARKER'"
	kill -TERM "$CAP_PID"
	wait "$CAP_PID" 2>/dev/null
	check "the capture holds the fabric traffic (n2's id in clear headers)" \
		python3 -c "import sys; sys.exit(0 if bytes.fromhex('$ID2') in open('$CAP/all.bin','rb').read() else 1)"
	# As it is, in base64 at any of its three alignments (payloads travel as base64 in
	# JSON), or in hex.
	never_seen() {
		python3 - "$CAP/all.bin" "$MARKER" <<'PYEOF'
import base64, sys
cap, m = open(sys.argv[1], 'rb').read(), sys.argv[2].encode()
forms = [m, m.hex().encode()] + [base64.b64encode(b'A' * k + m)[4:-4] for k in range(3)]
sys.exit(1 if any(f in cap for f in forms) else 0)
PYEOF
	}
	check "the marker never appears in it (as text, base64 or hex)" never_seen
	ndisp=0
	for f in "$CAP"/flow-*-"$(fport 2)".bin; do
		[ -e "$f" ] || continue
		mkdir -p "$CAP/frames"
		n=$(python3 "$CAPTURE" frames "$f" 11 "$CAP/frames")
		ndisp=$((ndisp + n))
		[ "$n" -gt 0 ] && break
	done
	check "it holds the dispatch frames to n2 ($ndisp)" test "$ndisp" -ge 1
else
	skip "no capture: the marker check"
fi

# ---------------------------------------------------------------- 3. replays run nothing
if [ -n "$CAP_PID" ] && [ -e "$CAP/frames/frame-0.bin" ]; then
	FRAME=$CAP/frames/frame-0.bin
	refused() { [ "$(stat_of 2 "$1")" -gt "$2" ]; }
	runs=$(wc -l <"$TEST_TMP/runs.n2")
	started=$(stat_of 2 works_started)
	w0=$(stat_of 2 drop_window)
	check "replayed at once" "$CHORUS_INJECT" "tcp://127.0.0.1:$(fport 2)" "$FRAME"
	check "n2 refuses it by its window (drop_window)" wait_until 5000 refused drop_window "$w0"
	check "and runs nothing" test "$(stat_of 2 works_started)" -eq "$started" -a \
		"$(wc -l <"$TEST_TMP/runs.n2")" -eq "$runs"

	f0=$(stat_of 2 frames_in)
	CHORUS_TOKEN=$(api_token 1) "$BENCH" -H "127.0.0.1:$(hport 1)" -c 16 -n 6000 -k echo -t 40 >"$TEST_TMP/bench.out" 2>&1
	# Each POST ?wait_ms is answered once its job is final, and says "succeeded" (a waiter
	# once woke before the final state was written, and read the job still running).
	check "the 6,000 jobs were all answered succeeded ($(grep -o 'ok=[0-9]* failed=[0-9]*' "$TEST_TMP/bench.out"))" \
		grep -q 'ok=6000 failed=0 ' "$TEST_TMP/bench.out"
	f1=$(stat_of 2 frames_in)
	check "10,000 more frames reached n2 ($((f1 - f0)))" test $((f1 - f0)) -ge 10000
	started=$(stat_of 2 works_started)
	w0=$(stat_of 2 drop_window)
	check "replayed after them" "$CHORUS_INJECT" "tcp://127.0.0.1:$(fport 2)" "$FRAME"
	check "n2 refuses it by its window still" wait_until 5000 refused drop_window "$w0"
	check "and runs nothing" test "$(stat_of 2 works_started)" -eq "$started" -a \
		"$(wc -l <"$TEST_TMP/runs.n2")" -eq "$runs"

	kill -TERM "${PID[2]}"
	wait_until 5000 sh -c "! kill -0 ${PID[2]} 2>/dev/null"
	start_worker
	check "n2 restarts" wait_until 15000 up 2
	check "and is alive for n1 again" wait_until 15000 both_alive
	check "replayed after the worker's restart" "$CHORUS_INJECT" "tcp://127.0.0.1:$(fport 2)" "$FRAME"
	check "the restarted n2 refuses it: sent before it started (drop_before_start)" \
		wait_until 5000 refused drop_before_start 0
	check "and runs nothing" test "$(stat_of 2 works_started)" -eq 0 -a \
		"$(wc -l <"$TEST_TMP/runs.n2")" -eq "$runs"
else
	skip "no captured dispatch: the replay checks"
fi

done_testing

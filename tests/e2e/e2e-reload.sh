#!/bin/bash
# End-to-end: SIGHUP re-reads the configuration file.  Node 1 runs from a
# config file alone (as under systemd), with $NOTIFY_SOCKET pointing at a
# datagram socket this test reads; node 2 joins it.  The file then gets a
# higher capacity, a new worker kind with a command, log-level debug and
# another listen address; after kill -HUP, node 2's `chorus members` shows
# the new capacity and kind (the record was re-signed and gossiped), a job of
# the new kind runs its command, debug lines appear, and the listen address
# is reported, in one line, as not applied.  A bad file changes nothing.
# The service manager hears READY=1, RELOADING=1, READY=1 and STOPPING=1.
. "$top_srcdir/tests/lib.sh"

BASE=$(port_base e2e-reload)
fport() { echo $((BASE + $1)); }
hport() { echo $((BASE + 50 + $1)); }
command -v python3 >/dev/null 2>&1 || skip_all "python3 is needed to read the notify socket"

CONF=$TEST_TMP/chorusd.conf
NOTIFY_LOG=$TEST_TMP/notify.log
N1=$TEST_TMP/n1
mkdir -p "$N1"

# write_conf CAPACITY LISTEN_PORT LEVEL [WORKER_LINE...]
write_conf() {
	cap=$1 lport=$2 level=$3
	shift 3
	{
		echo "# e2e-reload"
		echo "data-dir = $N1"
		echo "name n1"
		echo "listen tcp://127.0.0.1:$lport"
		echo "http 127.0.0.1:$(hport 1)"
		echo "keyring $KEYRING"
		echo "log-file $N1/node.log"
		echo "log-level $level"
		echo "capacity $cap"
		echo "worker echo"
		for w in "$@"; do echo "worker $w"; done
	} >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
}

# The service manager's end: one line per datagram, newlines shown as spaces.
python3 - "$TEST_TMP/notify.sock" "$NOTIFY_LOG" <<'PYEOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2], "w").close()
while True:
    msg = s.recv(4096).decode("utf-8", "replace").replace("\n", " ")
    with open(sys.argv[2], "a") as f:
        f.write(msg + "\n")
PYEOF
track $!
check "the notify listener is up" wait_until 10000 test -f "$NOTIFY_LOG"

write_conf 1 "$(fport 1)" info
check "chorusd -n takes the config file alone" run 0 "$CHORUSD" -n --config "$CONF"
NOTIFY_SOCKET=$TEST_TMP/notify.sock "$CHORUSD" --config "$CONF" >"$TEST_TMP/n1.out" 2>&1 &
PID1=$!
track $PID1
check "READY=1 once node 1 is up" wait_until 15000 grep -q '^READY=1' "$NOTIFY_LOG"
start_node 2 --join "tcp://127.0.0.1:$(fport 1)"

# n1_seen_by2 EXPR: node 2's members (chorus members -j) show n1 with EXPR true (m: n1's entry).
n1_seen_by2() {
	"$CHORUS" -j -H "127.0.0.1:$(hport 2)" members >"$TEST_TMP/members.json" 2>/dev/null || return 1
	python3 - "$TEST_TMP/members.json" "$1" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = [m for m in d["members"] if m.get("name") == "n1" and m.get("state") == "alive"]
sys.exit(0 if m and eval(sys.argv[2], {"m": m[0]}) else 1)
PYEOF
}
check "node 2 sees n1 with capacity 1 and kind echo" \
	wait_until 20000 n1_seen_by2 'm["capacity"] == 1 and m["capabilities"] == ["echo"]'
inc0=$(python3 -c 'import json,sys; print([m for m in json.load(open(sys.argv[1]))["members"] if m["name"]=="n1"][0]["incarnation"])' "$TEST_TMP/members.json")

# The change: capacity 3, a new kind with a command, debug logs, another listen address.
write_conf 3 "$(fport 9)" debug 'upper=tr a-z A-Z'
lines_before=$(wc -l <"$N1/node.log")
kill -HUP $PID1
check "node 2 sees n1's new capacity and kind" \
	wait_until 20000 n1_seen_by2 "m['capacity'] == 3 and m['capabilities'] == ['echo', 'upper'] and m['incarnation'] > $inc0"
check "the reload is done" wait_until 10000 grep -q 'event=reload_done applied=3 not_applied=1' "$N1/node.log"
tail -n +"$((lines_before + 1))" "$N1/node.log" >"$TEST_TMP/reload.log"
check "one line says listen was not applied" \
	test "$(grep -c 'event=reload_not_applied' "$TEST_TMP/reload.log")" -eq 1
check "and it names the key and the new address" \
	grep -q "event=reload_not_applied key=listen .*to=tcp://127.0.0.1:$(fport 9) reason=\"needs a restart\"" "$TEST_TMP/reload.log"
check "the kind added is logged" grep -q 'event=reload key=worker kind=upper change=added' "$TEST_TMP/reload.log"
check "the capacity change is logged" grep -q 'event=reload key=capacity from=1 to=3' "$TEST_TMP/reload.log"
check "the log level went to debug" grep -q 'event=reload key=log-level from=info to=debug' "$TEST_TMP/reload.log"
check "debug lines follow" wait_until 10000 sh -c "tail -n +$((lines_before + 1)) '$N1/node.log' | grep -q ' DEBUG '"
check "the node still listens where it started (nothing rebound)" \
	grep -q "^[^ ]* [^ ]* *node event=start .*fabric=tcp://127.0.0.1:$(fport 1) " "$N1/node.log"
check "the manager heard RELOADING=1 then READY=1" \
	sh -c "grep -n . '$NOTIFY_LOG' | grep -A1 'RELOADING=1 MONOTONIC_USEC=[0-9]' | grep -q ':READY=1'"

run 0 "$CHORUS" -H "127.0.0.1:$(hport 2)" -d "$TEST_TMP/n2" submit upper --data hello --timeout 20
check "a job of the new kind runs its command on n1" out_has HELLO

# A file a start would refuse: nothing changes.
write_conf abc "$(fport 1)" info
lines_before=$(wc -l <"$N1/node.log")
kill -HUP $PID1
check "a bad file: the reload says so" \
	wait_until 10000 sh -c "tail -n +$((lines_before + 1)) '$N1/node.log' | grep -q 'event=reload_error .*capacity.*nothing applied'"
check "and n1 keeps capacity 3 and both kinds" \
	n1_seen_by2 "m['capacity'] == 3 and m['capabilities'] == ['echo', 'upper']"

# The kind removed and the capacity down again.
write_conf 1 "$(fport 9)" debug
kill -HUP $PID1
check "node 2 sees the kind gone and capacity 1" \
	wait_until 20000 n1_seen_by2 "m['capacity'] == 1 and m['capabilities'] == ['echo']"

kill -TERM $PID1
check "STOPPING=1 at the leave" wait_until 10000 grep -q '^STOPPING=1' "$NOTIFY_LOG"
wait_until 10000 sh -c "! kill -0 $PID1 2>/dev/null"
done_testing

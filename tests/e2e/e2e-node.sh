#!/bin/sh
# End-to-end: one chorusd on its own.  Flags, config file, -n, the key file,
# the HTTP API's JSON shape, logging (text, JSON, SIGHUP reopen), idle RSS and
# a clean SIGTERM exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base e2e-node)
FABRIC=tcp://127.0.0.1:$((base + 1))
HTTP_PORT=$((base + 2))

# run, out_has: tests/lib.sh.
err_has() { grep -q -- "$1" "$ERR" || { diag "no '$1' in stderr: $(head -c 300 "$ERR")"; return 1; }; }
first_err_line() { head -n 1 "$ERR" | grep -q "^chorusd: $1" || { diag "stderr: $(head -n 2 "$ERR")"; return 1; }; }

# py EXPR PORT PATH: fetch http://127.0.0.1:PORT/PATH; EXPR sees the JSON as d.
# Prints EXPR's value; exits 1 when the request fails or EXPR is false/None.
py() {
	python3 - "$@" <<'EOF'
import json, sys, urllib.request, urllib.error
expr, port, path = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    with urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, path), timeout=2) as r:
        d = json.load(r)
except Exception as e:
    print("request failed: %s" % e, file=sys.stderr)
    sys.exit(1)
v = eval("(" + expr + "\n)")
if v is None or v is False:
    sys.exit(1)
print(v)
EOF
}
# http_code METHOD PORT PATH: prints "status content-type body"
http_code() {
	python3 - "$@" <<'EOF'
import os, sys, urllib.request, urllib.error
m, port, path = sys.argv[1:4]
req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method=m, data=b"" if m in ("POST", "PUT") else None)
if os.environ.get("CHORUS_TOKEN"):  # and the JSON type: urllib would say a form
    req.add_header("Authorization", "Bearer " + os.environ["CHORUS_TOKEN"])
    req.add_header("Content-Type", "application/json")
try:
    r = urllib.request.urlopen(req, timeout=2)
    code, ct, body = r.status, r.headers.get("Content-Type"), r.read()
except urllib.error.HTTPError as e:
    code, ct, body = e.code, e.headers.get("Content-Type"), e.read()
print(code, ct, body.decode().strip())
EOF
}
pyok() { py "$@" >/dev/null; }
status_up() { py 'd["id"]' "$1" /v1/status >/dev/null 2>&1; }
exited() { ! kill -0 "$1" 2>/dev/null; }

# start NAME HTTP_PORT ARGS...: starts a node whose data dir is $TEST_TMP/NAME,
# waits for its API; sets $pid.
start() {
	name=$1 port=$2; shift 2
	case " $* " in
	*" --keyring "* | *" --insecure-open "* | *" --config "*) ;;
	*) set -- --keyring "$KEYRING" "$@" ;;
	esac
	"$CHORUSD" --data-dir "$TEST_TMP/$name" --http "127.0.0.1:$port" "$@" \
		>"$TEST_TMP/$name.out" 2>&1 &
	pid=$!
	track $pid
	wait_until 5000 status_up "$port" || { diag "$name did not come up: $(tail -n 5 "$TEST_TMP/$name.out")"; return 1; }
}
# stop PID: SIGTERM, wait for the exit; returns its exit status.
stop() {
	kill -TERM "$1"
	wait_until 3000 exited "$1" || { diag "pid $1 did not exit on SIGTERM"; return 1; }
	wait "$1"
}
file_mode() { stat -c %a "$1"; }
file_size() { stat -c %s "$1"; }

# ---------------------------------------------------------------- flags
check "--help exits 0" run 0 "$CHORUSD" --help
check "--help prints the usage to stdout" out_has "^usage: chorusd"
check "--version exits 0" run 0 "$CHORUSD" --version
check "--version prints the version" sh -c "test \"\$(cat '$OUT')\" = 'chorusd 0.1.0'"
check "a bad flag exits 1" run 1 "$CHORUSD" --no-such-flag
check "a bad flag: one error line, then the usage" sh -c \
	"head -n 1 '$ERR' | grep -q \"^chorusd: unknown option '--no-such-flag'\" && sed -n 2p '$ERR' | grep -q '^usage:'"
check "a missing argument exits 1" run 1 "$CHORUSD" --listen
check "a bad capacity exits 1" run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/x" --capacity lots
check "a bad capacity names the flag" first_err_line "--capacity: "
check "a bad listen URL exits 1" run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/x" --listen "nonsense"
check "a bad http port exits 1" run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/x" --http 127.0.0.1:99999
check "a stray argument exits 1" run 1 "$CHORUSD" stray

# ---------------------------------------------------------------- the network key
# Secure by default: a node needs --keyring or --insecure-open, and says both.
check "neither --keyring nor --insecure-open exits 1" run 1 "$CHORUSD" -n --data-dir "$TEST_TMP/x"
check "and the error names both" err_has "give --keyring FILE.*--insecure-open"
check "both exit 1" run 1 "$CHORUSD" -n --data-dir "$TEST_TMP/x" --keyring "$KEYRING" --insecure-open
cp "$KEYRING" "$TEST_TMP/keyring.644" && chmod 644 "$TEST_TMP/keyring.644"
check "a group/world-readable keyring is refused (-n)" run 1 "$CHORUSD" -n --data-dir "$TEST_TMP/x" \
	--keyring "$TEST_TMP/keyring.644"
check "with the chmod that mends it" err_has "readable by group or others.*chmod 600"
(umask 077; printf 'not-a-key\n' >"$TEST_TMP/keyring.bad")
check "a keyring line that is no key is refused" run 1 "$CHORUSD" -n --data-dir "$TEST_TMP/x" \
	--keyring "$TEST_TMP/keyring.bad"
check "naming the line" err_has "keyring.bad line 1: not a network key"
check "--keyring with a good file passes -n" run 0 "$CHORUSD" -n --data-dir "$TEST_TMP/x" --keyring "$KEYRING"
if [ -x "$CHORUS" ]; then
	check "chorus keygen prints a key chorusd takes" sh -c \
		"umask 077; '$CHORUS' keygen >'$TEST_TMP/keyring.gen' && '$CHORUSD' -n --data-dir '$TEST_TMP/x' --keyring '$TEST_TMP/keyring.gen' >/dev/null"
	check "two keygens differ" sh -c "[ \"\$('$CHORUS' keygen)\" != \"\$('$CHORUS' keygen)\" ]"
fi

# ---------------------------------------------------------------- -n and the config file
CONF=$TEST_TMP/good.conf
cat >"$CONF" <<EOF
# a comment
data-dir $TEST_TMP/conf
listen = $FABRIC
http 127.0.0.1:$HTTP_PORT
name from-file   # trailing comment
role alpha
role beta
capacity = 7
log-file $TEST_TMP/conf.log
log-format text
keyring $KEYRING
EOF
check "-n with a good config exits 0" run 0 "$CHORUSD" -n --config "$CONF"
check "-n prints 'configuration OK'" out_has "configuration OK"
check "-n creates nothing" test ! -e "$TEST_TMP/conf"

printf 'name ok\n\nbogus-key 1\n' >"$TEST_TMP/bad1.conf"
check "-n with an unknown key exits 1" run 1 "$CHORUSD" -n --config "$TEST_TMP/bad1.conf"
check "an unknown key is reported as file:line" err_has "bad1.conf:3: unknown key 'bogus-key'"
printf '# x\ncapacity -3\n' >"$TEST_TMP/bad2.conf"
check "-n with a bad value exits 1" run 1 "$CHORUSD" -n --config "$TEST_TMP/bad2.conf"
check "a bad value is reported as file:line" err_has "bad2.conf:2: bad capacity"
printf 'join\n' >"$TEST_TMP/bad3.conf"
check "a key without a value is reported as file:line" sh -c \
	"'$CHORUSD' -n --config '$TEST_TMP/bad3.conf' 2>&1 | grep -q 'bad3.conf:1: join: missing value'"
check "a missing config file exits 1" run 1 "$CHORUSD" -n --config "$TEST_TMP/none.conf"

# ---------------------------------------------------------------- a running node
check "a node starts from the config file" start conf "$HTTP_PORT" --config "$CONF" --name from-flag
NODE=$pid
check "the data dir is made 0700" test "$(file_mode "$TEST_TMP/conf")" = 700
check "node.key is made 0600" test "$(file_mode "$TEST_TMP/conf/node.key")" = 600
check "node.key holds 64 bytes" test "$(file_size "$TEST_TMP/conf/node.key")" = 64
ID=$(py 'd["id"]' "$HTTP_PORT" /v1/status)
check "the id is 64 hex digits" sh -c "echo '$ID' | grep -Eq '^[0-9a-f]{64}\$'"
check "a flag wins over the file (name)" pyok 'd["name"] == "from-flag"' "$HTTP_PORT" /v1/status
check "the file sets the fabric address" pyok "d['fabric'] == '$FABRIC'" "$HTTP_PORT" /v1/status
check "the file sets roles and capacity" pyok \
	'[m for m in d["members"] if m["self"] and m["roles"] == ["alpha", "beta"] and m["capacity"] == 7]' \
	"$HTTP_PORT" /v1/members

check "/v1/status has the documented shape" pyok '
set(["id","id_short","name","version","fabric","http","uptime_s","start_ms","members","stats"]) <= set(d)
and d["id_short"] == d["id"][:10] and d["version"] == "0.1.0" and d["http"] == "127.0.0.1:'"$HTTP_PORT"'"
and d["members"] == {"alive":1,"suspect":0,"dead":0,"left":0,"total":1}
and all(isinstance(d["stats"][k], (int, float)) for k in ["frames_in","frames_out","bytes_in","bytes_out",
  "drop_malformed","drop_oversize","drop_version","drop_badsig","drop_replay","drop_stale",
  "drop_unknown_type","probes","probe_failures","indirect_probes","suspicions","refutations",
  "rumors_sent","rumors_received","fabric_send_drops"])
and d["start_ms"] > 1600000000000' "$HTTP_PORT" /v1/status
check "/v1/members has the documented shape" pyok '
len(d["members"]) == 1 and all(set(["id","id_short","name","addr","state","incarnation","start_ms","roles",
  "capabilities","capacity","load","last_seen_ms_ago","self"]) <= set(m) for m in d["members"])
and d["members"][0]["self"] is True and d["members"][0]["state"] == "alive"
and d["members"][0]["id"] == "'"$ID"'" and d["members"][0]["addr"] == "'"$FABRIC"'"' "$HTTP_PORT" /v1/members

h=$(http_code GET "$HTTP_PORT" /v1/nope)
check "an unknown path is 404 {\"error\":\"not found\"}" test "$h" = '404 application/json {"error":"not found"}'
h=$(CHORUS_TOKEN=$(cat "$TEST_TMP/conf/api.token") http_code POST "$HTTP_PORT" /v1/status)
check "a wrong method is 405 {\"error\":\"method not allowed\"}" test "$h" = '405 application/json {"error":"method not allowed"}'
h=$(http_code GET "$HTTP_PORT" /v1/status)
check "status is served as application/json" sh -c "echo '$h' | grep -q '^200 application/json {'"
# A header block over 8 KiB is refused and the node keeps serving.
python3 - "$HTTP_PORT" <<'EOF' >/dev/null 2>&1
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
try: s.recv(4096)
except Exception: pass
EOF
check "oversized headers do not hurt the node" status_up "$HTTP_PORT"

check "the log file gets lines" grep -q "INFO  node event=start id=$ID name=from-flag" "$TEST_TMP/conf.log"
bad_lines() { # lines of $1 that are not 'UTC-time LEVEL subsys key=value...'
	grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (ERROR|WARN |INFO |DEBUG|TRACE) [a-z]+ [a-z_]+=' "$1"
}
no_bad_lines() { ! bad_lines "$1" | sed 's/^/# bad log line: /' | grep -q .; }
check "log lines are 'UTC-time LEVEL subsys key=value'" no_bad_lines "$TEST_TMP/conf.log"
check "with a log file, stderr gets none of its lines (--log-stderr would)" \
	sh -c "! grep -q 'event=start' '$TEST_TMP/conf.out'"

mv "$TEST_TMP/conf.log" "$TEST_TMP/conf.log.1"
kill -HUP "$NODE"
check "SIGHUP reopens the log file" wait_until 2000 grep -q "event=log_reopen" "$TEST_TMP/conf.log"
check "the node survives SIGHUP" status_up "$HTTP_PORT"

rss_ok() {
	rss=$(ps -o rss= -p "$NODE" | tr -d ' ')
	diag "idle RSS ${rss} KiB, $(ps -o nlwp= -p "$NODE" | tr -d ' ') threads"
	[ -n "$rss" ] && [ "$rss" -lt 10240 ]
}
if grep -q __asan_init "$CHORUSD" 2>/dev/null; then
	rss_ok || true
	tap_n=$((tap_n + 1)); echo "ok $tap_n # SKIP idle RSS: sanitizer build"
else
	check "idle RSS is under 10 MiB" rss_ok
fi

check "SIGTERM exits 0" stop "$NODE"
check "the stop is logged" grep -q "event=stop" "$TEST_TMP/conf.log"

# ---------------------------------------------------------------- the key file across restarts
check "a restart reuses node.key" start conf "$HTTP_PORT" --config "$CONF"
check "a restart keeps the id" pyok "d['id'] == '$ID'" "$HTTP_PORT" /v1/status
check "without --name the file's name is used" pyok 'd["name"] == "from-file"' "$HTTP_PORT" /v1/status
check "a second chorusd on the same data dir is refused" run 1 "$CHORUSD" --config "$CONF" \
	--listen "tcp://127.0.0.1:$((base + 3))" --http "127.0.0.1:$((base + 4))"
check "the refusal says the data dir is in use" err_has "another chorusd is using data dir"
check "SIGTERM exits 0 again" stop "$pid"

chmod 644 "$TEST_TMP/conf/node.key"
check "a group/world-readable key is refused" run 1 "$CHORUSD" --config "$CONF"
check "the refusal names the key file" first_err_line ".*node.key: mode 644"
check "-n also refuses it" run 1 "$CHORUSD" -n --config "$CONF"
chmod 600 "$TEST_TMP/conf/node.key"
head -c 32 /dev/urandom >"$TEST_TMP/conf/node.key"
check "a key of the wrong size is refused" run 1 "$CHORUSD" --config "$CONF"
check "the refusal gives the size" err_has "size 32, want 64"

# ---------------------------------------------------------------- JSON logs, default name
check "a node starts with --log-format json" start json "$HTTP_PORT" --listen "$FABRIC" \
	--log-format json --log-file "$TEST_TMP/json.log" -v
check "without --name, the name is the short id" pyok 'd["name"] == d["id_short"]' "$HTTP_PORT" /v1/status
check "the JSON log has a start line" wait_until 2000 grep -q '"event":"start"' "$TEST_TMP/json.log"
check "every JSON log line is an object with ts, level, subsys" python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert isinstance(o, dict) and {"ts", "level", "subsys"} <= set(o), line
    assert o["level"] in ("error", "warn", "info", "debug", "trace"), line
    assert o["ts"].endswith("Z") and "T" in o["ts"], line
    n += 1
assert n >= 2
' "$TEST_TMP/json.log"
check "-v logs debug records" sh -c "grep -q '\"level\":\"debug\"' '$TEST_TMP/json.log' || grep -q '\"level\":\"debug\"' '$TEST_TMP/json.out'"
# A second node on the same ports must fail cleanly, not hang.
check "a busy HTTP or fabric address exits 1" run 1 "$CHORUSD" --keyring "$KEYRING" --data-dir "$TEST_TMP/other" \
	--listen "tcp://127.0.0.1:$((base + 3))" --http "127.0.0.1:$HTTP_PORT"
check "SIGINT exits 0" sh -c "kill -INT $pid; for i in \$(seq 60); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.05; done; exit 1"

done_testing

#!/bin/sh
# End-to-end: the chorus CLI, alone (usage, errors, exit codes) and against a
# real chorusd (status, members, JSON output, CHORUS_NODE, errors from the API).
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS" ] || skip_all "chorus not built"

base=$(port_base e2e-cli)
FABRIC_PORT=$((base + 1))
HTTP_PORT=$((base + 2))
DEAD_PORT=$((base + 3)) # nothing listens here
NODE=http://127.0.0.1:$HTTP_PORT

is_json() { python3 -c 'import json,sys; json.load(sys.stdin)' <"$OUT"; }

# ---------------------------------------------------------------- no node needed
check "--help exits 0" run 0 "$CHORUS" --help
check "--help lists the commands" sh -c "grep -q status '$OUT' && grep -q members '$OUT'"
check "--help names the options" sh -c "grep -q -- --node '$OUT' && grep -q -- --json '$OUT'"
check "status --help exits 0" run 0 "$CHORUS" status --help
check "status --help is the command's usage" out_has "usage: chorus .*status"
check "--version exits 0" run 0 "$CHORUS" --version
check "--version prints the version" sh -c "[ \"\$(cat '$OUT')\" = 'chorus 0.1.0' ]"

check "unknown command exits 1" run 1 "$CHORUS" foo
check "unknown command: one line" one_line_err "unknown command 'foo'"
check "unknown option exits 1" run 1 "$CHORUS" --bogus status
check "unknown option: one line" one_line_err "unknown option '--bogus'"
check "unknown command option exits 1" run 1 "$CHORUS" members --bogus
check "unknown command option: one line" one_line_err "unknown option"
check "missing option argument exits 1" run 1 "$CHORUS" status -H
check "no command exits 1" run 1 "$CHORUS"
check "no command: one line" one_line_err "no command"
check "extra argument exits 1" run 1 "$CHORUS" -H "$NODE" status extra
check "bad URL exits 1" run 1 "$CHORUS" -H ftp://127.0.0.1:1 status
check "bad timeout exits 1" run 1 "$CHORUS" --timeout 0 status

check "unreachable node exits 2" run 2 "$CHORUS" -H "http://127.0.0.1:$DEAD_PORT" status
check "unreachable node: one line" \
	one_line_err "cannot reach node at http://127.0.0.1:$DEAD_PORT: connection refused"
check "unreachable node via CHORUS_NODE exits 2" \
	run 2 env CHORUS_NODE="http://127.0.0.1:$DEAD_PORT" "$CHORUS" members
check "CHORUS_NODE is the node tried" one_line_err "cannot reach node at http://127.0.0.1:$DEAD_PORT"
check "-H wins over CHORUS_NODE" \
	run 2 env CHORUS_NODE=http://127.0.0.1:1 "$CHORUS" -H "http://127.0.0.1:$DEAD_PORT" status
check "-H wins over CHORUS_NODE: its URL is named" one_line_err "cannot reach node at http://127.0.0.1:$DEAD_PORT"

# ---------------------------------------------------------------- against chorusd
if [ ! -x "$CHORUSD" ]; then
	skip "chorusd not built: the CLI against a node"
	done_testing
	exit $?
fi

mkdir -p "$TEST_TMP/n1"
"$CHORUSD" --keyring "$KEYRING" --data-dir "$TEST_TMP/n1" --listen "tcp://127.0.0.1:$FABRIC_PORT" \
	--http "127.0.0.1:$HTTP_PORT" >"$TEST_TMP/n1.log" 2>&1 &
track $!
status_ok() { "$CHORUS" -H "$NODE" status >/dev/null 2>&1; }
check "chorus status reaches a fresh chorusd" wait_until 15000 status_ok

check "status exits 0" run 0 "$CHORUS" -H "$NODE" status
check "status shows an id" sh -c "grep -Eq '^id: +[0-9a-f]{64}\$' '$OUT'"
check "status shows the fabric address" out_has "^fabric: .*tcp://127.0.0.1:$FABRIC_PORT"
check "status shows the version" out_has "^version: .*0\.1\.0"
check "status shows alive members" out_has "^members alive: .*1"
check "status shows drop counters" out_has "^drop_"

check "members exits 0" run 0 "$CHORUS" -H "$NODE" members
check "members has a header" out_has "^ID .*NAME .*ADDRESS .*STATE .*INC .*ROLES .*LOAD .*LAST SEEN"
check "members shows the node itself, alive" sh -c "grep -v '^ID ' '$OUT' | grep -q 'alive.*self\$'"
check "members shows the node's fabric address" out_has "tcp://127.0.0.1:$FABRIC_PORT"
check "members has one row" sh -c "[ \$(grep -vc '^ID ' '$OUT') -eq 1 ]"

check "-j status exits 0" run 0 "$CHORUS" -H "$NODE" -j status
check "-j status is valid JSON" is_json
check "-j status has the id" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["id"]) == 64 and d["members"]["alive"] == 1' "$OUT"
check "members -j exits 0" run 0 "$CHORUS" -H "$NODE" members -j
check "members -j is valid JSON with the node as self" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["members"]
assert len(m) == 1 and m[0]["self"] is True and m[0]["state"] == "alive"' "$OUT"

check "CHORUS_NODE picks the node" run 0 env CHORUS_NODE="$NODE" "$CHORUS" members
check "CHORUS_NODE: the node is listed" out_has "tcp://127.0.0.1:$FABRIC_PORT"
check "--timeout is accepted" run 0 "$CHORUS" --timeout 5 -H "$NODE" status

check "a bad path exits 3" run 3 "$CHORUS" -H "$NODE/nope" status
check "a bad path: one line naming the 404" one_line_err "node answered 404"

done_testing

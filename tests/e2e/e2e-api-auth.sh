#!/bin/bash
# End-to-end: who may drive the HTTP API (docs/security.md, "The HTTP API").
#   n1: a ledger voter of its own (--bootstrap-expect 1), the client; n2: a worker
#   whose external command appends a line to a file per run, so "nothing ran" is
#   a count read from disk, not a guess.
#  - a POST without a token, or with a wrong one, is 401, counted, and runs nothing;
#    with the token from the data dir's api.token (mode 0600) it is 202 and runs;
#  - a browser-style cross-origin POST (Origin: http://evil.example, text/plain),
#    with or without the token, is refused and runs nothing; text/plain with the
#    token is 415; a rebinding Host (evil.example:PORT) is refused;
#  - remove-voter without the token is 401 and the voter set is unchanged;
#  - the CLI finds the token by itself (the node's data dir) and -T FILE;
#  - --http 0.0.0.0:PORT without --http-insecure does not start;
#  - chorusd -n --worker nosuchbuiltin fails and creates no node.key.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed for raw HTTP"

base=$(port_base e2e-api-auth)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
RUNS="$TEST_TMP/runs"
: >"$RUNS"
declare -a PID

# req PORT METHOD PATH [BODY [CONTENT-TYPE [TOKEN [ORIGIN [HOST]]]]]: prints the status code.
req() {
	python3 - "$@" <<'PYEOF'
import http.client, sys
a = sys.argv[1:] + [""] * 8
port, method, path, body, ctype, token, origin, host = a[:8]
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
c.putrequest(method, path, skip_host=True)
c.putheader("Host", host or "127.0.0.1:%s" % port)
if ctype: c.putheader("Content-Type", ctype)
if token: c.putheader("Authorization", "Bearer " + token)
if origin: c.putheader("Origin", origin)
data = body.encode()
c.putheader("Content-Length", str(len(data)))
c.endheaders(data)
print(c.getresponse().status)
PYEOF
}
runs() { wc -l <"$RUNS"; }
JOB='{"kind":"count","payload_b64":"aGk=","timeout_ms":10000}'
sees_worker() {
	"$CHORUS" -H "127.0.0.1:$(hport 1)" -j members 2>/dev/null | grep -q '"count"'
}
ledger_voters() { qv -p ledger "len(d['voters'])" "$(hport 1)"; }
stat_of() { qv -p status "d['stats']['$1']" "$(hport 1)"; }

start_node 1 --voter --bootstrap-expect 1
start_node 2 --join "tcp://127.0.0.1:$(fport 1)" --worker "count=sh -c 'echo ran >>$RUNS; cat'"
wait_until 15000 sees_worker || { ok 1 "the worker is visible to the client"; done_testing; exit 1; }
has_voter() { [ "$(ledger_voters)" = 1 ]; }
wait_until 15000 has_voter || { ok 1 "n1 formed its ledger"; done_testing; exit 1; }
TOKEN=$(cat "$TEST_TMP/n1/api.token")
P=$(hport 1)

check "api.token is 64 hex digits" sh -c "grep -qxE '[0-9a-f]{64}' '$TEST_TMP/n1/api.token'"
check "api.token has mode 0600" test "$(stat -c %a "$TEST_TMP/n1/api.token")" = 600

# ---------------------------------------------------------------- the token
check "a POST /v1/jobs without a token is 401" test "$(req "$P" POST /v1/jobs "$JOB" application/json)" = 401
check "a POST /v1/jobs with a wrong token is 401" \
	test "$(req "$P" POST /v1/jobs "$JOB" application/json "$(echo "$TOKEN" | tr 0-9a-f 1-9a-f0)")" = 401
check "a token one byte short is 401" \
	test "$(req "$P" POST /v1/jobs "$JOB" application/json "${TOKEN%?}")" = 401
check "the refusals are counted (api_unauthorized 3)" test "$(stat_of api_unauthorized)" = 3
check "with the token it is 202" test "$(req "$P" POST /v1/jobs "$JOB" application/json "$TOKEN")" = 202
ran_once() { [ "$(runs)" -ge 1 ]; }
check "the job with the token ran" wait_until 10000 ran_once
check "... and only it: the refused ones ran nothing" test "$(runs)" = 1

# ---------------------------------------------------------------- a web page
evil() { r=$(req "$P" POST /v1/jobs "$JOB" text/plain "$1" http://evil.example); [ "$r" = 403 ]; }
check "a cross-origin text/plain POST without the token is 403" evil ""
check "a cross-origin text/plain POST with the token is 403" evil "$TOKEN"
check "a cross-origin JSON POST with the token is 403" \
	test "$(req "$P" POST /v1/jobs "$JOB" application/json "$TOKEN" http://evil.example)" = 403
check "a same-origin POST with the token is 202" \
	test "$(req "$P" POST /v1/jobs "$JOB" application/json "$TOKEN" "http://127.0.0.1:$P")" = 202
check "text/plain with the token is 415" test "$(req "$P" POST /v1/jobs "$JOB" text/plain "$TOKEN")" = 415
check "a rebinding Host (evil.example:PORT) is refused, even for a GET" \
	test "$(req "$P" GET /v1/status "" "" "" "" "evil.example:$P")" = 421
check "a rebinding Host on a POST with the token is refused" \
	test "$(req "$P" POST /v1/jobs "$JOB" application/json "$TOKEN" "" "evil.example:$P")" = 421
check "localhost:PORT is this server" test "$(req "$P" GET /v1/status "" "" "" "" "localhost:$P")" = 200
ran_twice() { [ "$(runs)" -ge 2 ]; }
check "the same-origin job ran" wait_until 10000 ran_twice
# Any late run of a refused POST would have landed by the time a job posted after it ran.
check "the CLI finds the token by itself (the node's data dir) and the job runs" \
	sh -c "[ \"\$('$CHORUS' -H 127.0.0.1:$P submit count --data x)\" = x ]"
check "every refused POST ran nothing (3 runs: 202, same-origin, CLI)" test "$(runs)" = 3
check "the CLI with -T FILE of a wrong token exits 6" sh -c \
	"echo 00 >'$TEST_TMP/bad.token'; HOME=/nonexistent '$CHORUS' -H 127.0.0.1:$P -T '$TEST_TMP/bad.token' submit count --data y; [ \$? = 6 ]"
check "the CLI with CHORUS_TOKEN exits 0" sh -c \
	"CHORUS_TOKEN=$TOKEN '$CHORUS' -H 127.0.0.1:$P submit count --data z >/dev/null"
check "the refusals left nothing above debug in the log" \
	sh -c "! grep -E 'api.*event=refused' '$TEST_TMP/n1/node.log'"

# ---------------------------------------------------------------- remove-voter
ID1=$(qv -p status "d['id']" "$P")
check "remove-voter without a token is 401" \
	test "$(req "$P" POST /v1/ledger/remove-voter "{\"id\":\"$ID1\"}" application/json)" = 401
check "remove-voter from a web page with the token is 403" \
	test "$(req "$P" POST /v1/ledger/remove-voter "{\"id\":\"$ID1\"}" text/plain "$TOKEN" http://evil.example)" = 403
check "the voter set is unchanged" test "$(ledger_voters)" = 1
check "n1 still votes" qv ledger "d['is_voter']" "$P"

# ---------------------------------------------------------------- start policy
check "--http 0.0.0.0:PORT without --http-insecure does not start" \
	run 1 "$CHORUSD" --keyring "$KEYRING" --data-dir "$TEST_TMP/wide" --http "0.0.0.0:$(hport 9)" --listen "tcp://127.0.0.1:$(fport 9)"
check "... with a one-line error naming --http-insecure" \
	sh -c "[ \$(wc -l <'$ERR') = 1 ] && grep -q 'beyond loopback.*--http-insecure' '$ERR'"
check "... and made nothing" test ! -e "$TEST_TMP/wide"
check "--http-tls with missing files is refused by -n (TLS itself: e2e-api-tls.sh)" \
	run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/tls" --http-tls a.pem,b.pem
check "... naming the certificate" grep -q "certificate a.pem: No such file" "$ERR"
check "chorusd -n --worker nosuchbuiltin exits non-zero" \
	run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/chk" --worker nosuchbuiltin
check "... naming the kind" grep -q nosuchbuiltin "$ERR"
check "... and creates no node.key (nor the data dir)" test ! -e "$TEST_TMP/chk"
check "chorusd -n --worker 'k=  ' (an empty command) exits non-zero" \
	run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/chk" --worker "k=  "
check "chorusd -n --http 0.0.0.0:PORT exits non-zero" \
	run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/chk" --http "0.0.0.0:$(hport 9)"
check "chorusd -n with a good configuration exits 0 and creates nothing" \
	sh -c "'$CHORUSD' -n --keyring '$KEYRING' --data-dir '$TEST_TMP/chk' --worker echo --http-insecure --http 0.0.0.0:$(hport 9) >/dev/null && [ ! -e '$TEST_TMP/chk' ]"
mkdir -p "$TEST_TMP/badtok" && echo short >"$TEST_TMP/badtok/api.token"
check "chorusd -n with a damaged api.token exits non-zero" run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/badtok"
check "... naming it" grep -q "api.token: not a token" "$ERR"

done_testing

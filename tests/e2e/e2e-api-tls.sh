#!/bin/bash
# End-to-end: the HTTP API over TLS (chorusd --http-tls CERT,KEY; chorus -H https://).
#   A CA and a server certificate (127.0.0.1, localhost) made here with openssl, and a
#   second CA ("rogue") with a certificate for the same names, trusted by nobody.
#   n1: ledger voter (--bootstrap-expect 1), its API over TLS on 127.0.0.1; n2: a plain
#   worker whose command appends a line to a file per run ("nothing ran" is a count).
#  - chorus with --cacert (and with $CHORUS_CACERT, by the name localhost) reads status,
#    submits a job and gets its result; curl with the CA gets 200, a POST without the
#    token is 401 and runs nothing, with it 202 and runs;
#  - without the CA, with the rogue CA, or by an address the certificate does not name,
#    chorus refuses with one line (exit 2) and curl fails verification;
#  - a foreign Origin (or http:// instead of https://) is 403, a rebinding Host 421;
#  - plain HTTP and garbage on the TLS port get no HTTP answer, are dropped and counted,
#    a ClientHello trickled a byte at a time is cut at the 5 s handshake deadline, and
#    the node serves on;
#  - --http 0.0.0.0:PORT --http-tls starts without --http-insecure (and serves, reads
#    too only with the token), without TLS it is still refused; a key of mode 0644, a bad certificate, a missing one and a
#    key of another certificate are refused at start / by chorusd -n, with one line.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v openssl >/dev/null 2>&1 || skip_all "openssl needed to make certificates"
command -v curl >/dev/null 2>&1 || skip_all "curl needed"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed for raw sockets"

base=$(port_base e2e-api-tls)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
RUNS="$TEST_TMP/runs"
: >"$RUNS"
declare -a PID

# ---------------------------------------------------------------- certificates
T=$TEST_TMP/tls
mkdir -p "$T"
# mkcert NAME CA: a P-256 key and certificate for 127.0.0.1 and localhost, signed by CA
# (NAME itself, self-signed, when CA is "-").
mkcert() {
	if [ "$2" = - ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=$1" -keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
		return
	fi
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		>"$T/$1.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null &&
		openssl x509 -req -in "$T/$1.csr" -CA "$T/$2.pem" -CAkey "$T/$2.key" -CAcreateserial \
			-days 2 -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
}
mkcert ca - && mkcert srv ca && mkcert rogueca - && mkcert rogue rogueca ||
	{ ok 1 "openssl made the certificates"; done_testing; exit 1; }
chmod 600 "$T"/*.key
CA=$T/ca.pem
TLS="$T/srv.pem,$T/srv.key"

P=$(hport 1)
U="https://127.0.0.1:$P"
# tstat NAME: n1's stats.NAME, read over TLS.
tstat() {
	"$CHORUS" -H "$U" --cacert "$CA" -j status 2>/dev/null |
		python3 -c "import json,sys; print(int(json.load(sys.stdin)['stats']['$1']))"
}
runs() { wc -l <"$RUNS"; }
JOB='{"kind":"count","payload_b64":"aGk=","timeout_ms":10000}'
# code ARGS...: curl's HTTP status for a request to n1 (000: no HTTP answer).
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }

start_node 1 --voter --bootstrap-expect 1 --http-tls "$TLS"
start_node 2 --join "tcp://127.0.0.1:$(fport 1)" --worker "count=sh -c 'echo ran >>$RUNS; cat'"
sees_worker() { "$CHORUS" -H "$U" --cacert "$CA" -j members 2>/dev/null | grep -q '"count"'; }
wait_until 20000 sees_worker || { ok 1 "the worker is visible through n1's TLS API"; done_testing; exit 1; }
has_voter() {
	curl -s --max-time 5 --cacert "$CA" "$U/v1/ledger" |
		python3 -c "import json,sys; sys.exit(len(json.load(sys.stdin)['voters']) != 1)"
}
wait_until 15000 has_voter || { ok 1 "n1 formed its ledger"; done_testing; exit 1; }
TOKEN=$(api_token 1)

# A ClientHello trickled a byte every 0.4 s from now: cut at the handshake deadline
# (API_TLS_HANDSHAKE_MS), not by the idle timeout (10 s), which every byte resets.
python3 - "$P" >"$TEST_TMP/trickle" 2>&1 <<'PYEOF' &
import socket, sys, time
t = time.time()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.4)
hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x01" * 500
for b in hello:
    if time.time() - t > 20:
        break
    try:
        s.sendall(bytes([b]))
        if s.recv(100) == b"":
            break
    except socket.timeout:
        continue
    except OSError:
        break
print("%.1f" % (time.time() - t))
PYEOF
TRICKLE=$!
track "$TRICKLE"

# ---------------------------------------------------------------- chorus over TLS
check "chorus --cacert CA status over https:// exits 0" \
	run 0 "$CHORUS" -H "$U" --cacert "$CA" status
check "... and shows n1" out_has "n1"
check "chorus --cacert submits a job over TLS and prints its result (token found by itself)" \
	sh -c "[ \"\$('$CHORUS' -H '$U' --cacert '$CA' submit count --data x)\" = x ]"
check "CHORUS_CACERT, by the name localhost, works too" \
	sh -c "CHORUS_CACERT='$CA' '$CHORUS' -H https://localhost:$P status >/dev/null"
check "without the CA chorus exits 2 (system store: unknown issuer)" \
	run 2 env -u CHORUS_CACERT "$CHORUS" -H "$U" status
check "... with one line naming the failed verification" one_line_err ".*certificate failed verification"
check "with another CA's certificate (same names) chorus exits 2" \
	run 2 "$CHORUS" -H "$U" --cacert "$T/rogueca.pem" status
check "... failed verification" one_line_err ".*certificate failed verification"
check "a POST with the wrong CA sends nothing: chorus exits 2 and nothing runs" \
	run 2 "$CHORUS" -H "$U" --cacert "$T/rogueca.pem" -T "$TEST_TMP/n1/api.token" submit count --data y
check "chorus with a missing --cacert file exits 1, naming it" \
	sh -c "'$CHORUS' -H '$U' --cacert '$T/none.pem' status 2>'$ERR'; [ \$? = 1 ] && grep -q 'none.pem' '$ERR'"

# ---------------------------------------------------------------- curl, the token, Origin, Host
check "curl --cacert GET /v1/status is 200" test "$(code --cacert "$CA" "$U/v1/status")" = 200
check "curl without the CA fails verification (exit 60)" \
	sh -c "curl -s -o /dev/null --max-time 5 '$U/v1/status'; [ \$? = 60 ]"
check "a POST /v1/jobs over TLS without the token is 401" \
	test "$(code --cacert "$CA" -X POST -H 'Content-Type: application/json' -d "$JOB" "$U/v1/jobs")" = 401
check "a wrong token is 401" test "$(code --cacert "$CA" -X POST -H 'Content-Type: application/json' \
	-H "Authorization: Bearer $(echo "$TOKEN" | tr 0-9a-f 1-9a-f0)" -d "$JOB" "$U/v1/jobs")" = 401
check "the refusals are counted (api_unauthorized 2)" test "$(tstat api_unauthorized)" = 2
check "with the token it is 202" test "$(code --cacert "$CA" -X POST -H 'Content-Type: application/json' \
	-H "Authorization: Bearer $TOKEN" -d "$JOB" "$U/v1/jobs")" = 202
ran_twice() { [ "$(runs)" -ge 2 ]; }
check "the CLI's job and the curl job with the token ran" wait_until 10000 ran_twice
check "an Origin of another site, with the token, is 403" test "$(code --cacert "$CA" -X POST \
	-H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
	-H 'Origin: https://evil.example' -d "$JOB" "$U/v1/jobs")" = 403
check "Origin http:// (not https://) of this host is 403" test "$(code --cacert "$CA" -X POST \
	-H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
	-H "Origin: http://127.0.0.1:$P" -d "$JOB" "$U/v1/jobs")" = 403
check "Origin https:// of this host is 202" test "$(code --cacert "$CA" -X POST \
	-H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
	-H "Origin: https://127.0.0.1:$P" -d "$JOB" "$U/v1/jobs")" = 202
check "a rebinding Host is 421" \
	test "$(code --cacert "$CA" -H "Host: evil.example:$P" "$U/v1/status")" = 421
check "a Host the certificate names (localhost) is 200" \
	test "$(code --cacert "$CA" -H "Host: localhost:$P" "$U/v1/status")" = 200
ran_thrice() { [ "$(runs)" -ge 3 ]; }
wait_until 10000 ran_thrice
check "every refused POST ran nothing (3 runs: CLI, 202, same-origin)" test "$(runs)" = 3

# ---------------------------------------------------------------- plain HTTP, garbage, trickle
dropped0=$(tstat api_tls_dropped)
# raw PORT BYTES: sends BYTES, prints what came back (repr, 200 bytes at most) within 3 s.
raw() {
	python3 - "$@" <<'PYEOF'
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(os.fsencode(sys.argv[2]))
got = b""
try:
    while len(got) < 200:
        d = s.recv(200)
        if not d:
            break
        got += d
except socket.timeout:
    print("timeout")
print(repr(got[:200]))
PYEOF
}
check "plain HTTP to the TLS port gets no HTTP answer" \
	sh -c "! curl -s --max-time 5 'http://127.0.0.1:$P/v1/status' | grep -q ."
raw "$P" "$(printf 'GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')" >"$TEST_TMP/plain"
check "... nor by hand: the connection is closed, no 'HTTP/' in what came back" \
	sh -c "! grep -q -e HTTP/ -e timeout '$TEST_TMP/plain'"
raw "$P" "$(head -c 600 /dev/urandom | tr -d '\000' | tr '\026' x)" >"$TEST_TMP/garbage"
check "garbage instead of a ClientHello: closed at once, no HTTP answer" \
	sh -c "! grep -q -e HTTP/ -e timeout '$TEST_TMP/garbage'"
more_dropped() { [ "$(tstat api_tls_dropped)" -ge $((dropped0 + 3)) ]; }
check "the three are counted in api_tls_dropped" wait_until 5000 more_dropped
trickle_done() { [ -s "$TEST_TMP/trickle" ]; }
wait_until 25000 trickle_done
t=$(cat "$TEST_TMP/trickle")
check "a trickled ClientHello is cut at the 5 s handshake deadline (took ${t}s)" \
	python3 -c "import sys; sys.exit(not 4.5 <= float('$t') < 8.5)"
check "... counted in api_tls_slow" test "$(tstat api_tls_slow)" -ge 1
check "the node serves on: chorus submits and gets the result" \
	sh -c "[ \"\$('$CHORUS' -H '$U' --cacert '$CA' submit count --data z)\" = z ]"
check "the handshakes are counted" test "$(tstat api_tls_handshakes)" -ge 10
check "the refused handshakes left nothing above debug in the log" \
	sh -c "! grep -q 'tls-refused' '$TEST_TMP/n1/node.log'"

# ---------------------------------------------------------------- start policy and checks
W=$(hport 3)
start_node 3 --http "0.0.0.0:$W" --http-tls "$TLS"
n3_up() { [ -s "$TEST_TMP/n3/api.token" ] && curl -sf -o /dev/null --max-time 2 --cacert "$CA" \
	-H "Authorization: Bearer $(api_token 3)" "https://127.0.0.1:$W/v1/status"; }
check "--http 0.0.0.0:PORT --http-tls starts without --http-insecure and serves over TLS" \
	wait_until 10000 n3_up
check "beyond loopback a GET needs the token too: 401 without it" \
	test "$(code --cacert "$CA" "https://127.0.0.1:$W/v1/status")" = 401
check "... so chorus status without a token exits 6" \
	run 6 env -u CHORUS_TOKEN "$CHORUS" -H "https://127.0.0.1:$W" --cacert "$CA" status
check "... and with -T the node's api.token exits 0" \
	run 0 "$CHORUS" -H "https://127.0.0.1:$W" --cacert "$CA" -T "$TEST_TMP/n3/api.token" status
check "... without a warning about clear text" sh -c "! grep -q 'in clear' '$TEST_TMP/n3.out'"
check "by an address its certificate does not name (127.0.0.2), chorus refuses: exit 2" \
	run 2 "$CHORUS" -H "https://127.0.0.2:$W" --cacert "$CA" status
check "... naming the verification failure" one_line_err ".*certificate failed verification"
# Starts that must fail run under timeout: one that wrongly succeeds fails the check, not hangs.
check "--http 0.0.0.0:PORT without TLS or --http-insecure is still refused" \
	run 1 timeout 20 "$CHORUSD" --keyring "$KEYRING" --data-dir "$TEST_TMP/wide" --http "0.0.0.0:$(hport 9)" \
	--listen "tcp://127.0.0.1:$(fport 9)"
check "... naming --http-tls" grep -q -- "--http-tls" "$ERR"
cp "$T/srv.key" "$T/open.key" && chmod 644 "$T/open.key"
check "a key file of mode 0644 is refused at start (exit 1)" \
	run 1 timeout 20 "$CHORUSD" --keyring "$KEYRING" --data-dir "$TEST_TMP/k644" --http "127.0.0.1:$(hport 9)" \
	--listen "tcp://127.0.0.1:$(fport 9)" --http-tls "$T/srv.pem,$T/open.key"
check "... with one line: readable by group or others, chmod 600" \
	sh -c "[ \$(wc -l <'$ERR') = 1 ] && grep -q 'open.key is readable by group or others.*chmod 600' '$ERR'"
check "... having made nothing (no data dir, no node.key)" test ! -e "$TEST_TMP/k644"
check "chorusd -n refuses it too" run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/chk" \
	--http-tls "$T/srv.pem,$T/open.key"
echo "not a certificate" >"$T/bad.pem"
check "chorusd -n catches a bad certificate (exit 1)" \
	run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/chk" --http-tls "$T/bad.pem,$T/srv.key"
check "... naming it: not a PEM certificate chain" grep -q "bad.pem: not a PEM certificate chain" "$ERR"
check "chorusd -n catches a missing certificate" \
	run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/chk" --http-tls "$T/none.pem,$T/srv.key"
check "... No such file" grep -q "none.pem: No such file" "$ERR"
check "chorusd -n catches a key of another certificate" \
	run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/chk" --http-tls "$T/srv.pem,$T/rogue.key"
check "... does not match" grep -q "rogue.key does not match the certificate" "$ERR"
check "chorusd -n --http-tls CERT (no KEY) is a usage error" \
	run 1 "$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/chk" --http-tls "$T/srv.pem"
check "chorusd -n with a good pair on 0.0.0.0 exits 0 and creates nothing" \
	sh -c "'$CHORUSD' -n --keyring '$KEYRING' --data-dir '$TEST_TMP/chk' --http 0.0.0.0:$W --http-tls '$TLS' >/dev/null && [ ! -e '$TEST_TMP/chk' ]"

done_testing

#!/bin/bash
# End-to-end dashboard (/ui/, api-ui.c, ui/): a real browser against a 3-node cluster.
#  - /ui/ is served from the binary with a CSP of default-src 'self' and no inline script;
#  - headless Chromium renders it (tests/e2e/cdp-dom.py, over the DevTools protocol): the
#    rendered text names all three nodes and a job that has just finished, with its state;
#  - the rendered DOM and a screenshot are kept under the test's log dir (e2e-ui.artifacts/).
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed"
CHROMIUM=$(command -v chromium || command -v chromium-browser) || skip_all "chromium not installed (contrib/setup.sh)"
command -v curl >/dev/null 2>&1 || skip_all "curl needed"

base=$(port_base e2e-ui)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
c1() { "$CHORUS" -H "$(api 1)" "$@"; }
ART="$(pwd)/tests/e2e/e2e-ui.artifacts"
rm -rf "$ART" && mkdir -p "$ART"

declare -a PID
start_node 1
start_node 2 --join "tcp://127.0.0.1:$(fport 1)" --worker "hello=echo hello"
start_node 3 --join "tcp://127.0.0.1:$(fport 1)" --worker "hello=echo hello"
three_alive() {
	c1 -j members 2>/dev/null | python3 2>/dev/null -c "
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if sum(m['state']=='alive' for m in d['members'])==3 else 1)"
}
check "three members alive" wait_until 20000 three_alive

curl -s -D "$TEST_TMP/h" -o "$TEST_TMP/index.html" "$(api 1)/ui/"
check "/ui/ is served (200)" grep -q "^HTTP/1.1 200" "$TEST_TMP/h"
check "with a CSP of default-src 'self'" grep -qi "^Content-Security-Policy: default-src 'self'" "$TEST_TMP/h"
check "and no inline script (only <script src=...>)" python3 -c "
import re,sys; t=open('$TEST_TMP/index.html').read()
s=re.findall(r'<script[^>]*>', t); sys.exit(0 if s and all('src=' in x for x in s) else 1)"

id=$(c1 submit hello --detach)
done_ok() { [ "$(c1 -j job "$id" | python3 -c "import json,sys; print(json.load(sys.stdin)['state'])")" = succeeded ]; }
check "a job finishes" wait_until 15000 done_ok

python3 "$top_srcdir/tests/e2e/cdp-dom.py" "$CHROMIUM" "$(api 1)/ui/" "$TEST_TMP/chromium" \
	"$ART/dashboard" 30 n1 n2 n3 "$id" succeeded alive 2>"$TEST_TMP/cdp.err" &
CPID=$!
track $CPID
wait $CPID; rc=$?
[ "$rc" -eq 0 ] || diag "$(cat "$TEST_TMP/cdp.err")"
check "Chromium rendered all three node names and the finished job ($id)" test "$rc" -eq 0
check "the rendered DOM is kept" grep -q "$id" "$ART/dashboard.html"
check "and a screenshot (PNG)" python3 -c "
import sys; sys.exit(0 if open('$ART/dashboard.png','rb').read(8)==b'\\x89PNG\\r\\n\\x1a\\n' else 1)"
cpid=$(cat "$ART/dashboard.pid" 2>/dev/null)
check "Chromium was stopped by its pid" sh -c "! kill -0 ${cpid:-0} 2>/dev/null"
diag "artifacts: $ART"

done_testing

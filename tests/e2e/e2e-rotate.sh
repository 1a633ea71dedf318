#!/bin/bash
# End-to-end: the network key rotated live on a 5-node cluster with jobs flowing
# throughout (docs/security.md, chorus keyring).  n1 submits trivial jobs
# without pause (bench/dispatch-bench) to the workers n2..n5 while an operator
# on n3 runs: keyring install NEW (until all 5 hold it), use NEW (until all 5
# seal under it), remove OLD (until no member holds it).  No job is lost or
# fails; every node's keyring file now holds NEW alone, so a restarted node
# rejoins; a node that holds only OLD is a stranger now.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed"
BENCH=$top_builddir/bench/dispatch-bench
[ -x "$BENCH" ] || skip_all "bench/dispatch-bench not built"

base=$(port_base e2e-rotate)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
N=5

declare -a PID
for i in $(seq 1 $N); do
	# Each node its own keyring file (a copy of the one key), as on separate machines.
	cp -p "$KEYRING" "$TEST_TMP/keyring.n$i"
	if [ "$i" -eq 1 ]; then
		start_node 1 --keyring "$TEST_TMP/keyring.n1"
	else
		start_node "$i" --keyring "$TEST_TMP/keyring.n$i" --join "tcp://127.0.0.1:$(fport 1)" \
			--worker echo --capacity 16
	fi
done
all_alive() { qv members "sum(m['state']=='alive' for m in d['members']) == $N" "$(hport 1)" "$(hport 3)"; }
check "$N nodes see each other" wait_until 30000 all_alive

OLD=$(grep -v '^#' "$KEYRING" | head -n 1)
NEW=$("$CHORUS" keygen)
# keyring OP [KEY]: run on n3; the JSON answer in $TEST_TMP/kr.json
keyring() { "$CHORUS" -H "$(api 3)" -j keyring "$@" >"$TEST_TMP/kr.json"; }
# kr EXPR: EXPR over the last answer (k: the keys, by fingerprint)
kr() {
	python3 - "$TEST_TMP/kr.json" "$1" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
k = {x['fingerprint']: x for x in d['keys']}
sys.exit(0 if eval(sys.argv[2]) else 1)
PYEOF
}
keyring list
FP_OLD=$(python3 -c "import json; print(json.load(open('$TEST_TMP/kr.json'))['keys'][0]['fingerprint'])")

CHORUS_TOKEN=$(api_token 1) "$BENCH" -H "127.0.0.1:$(hport 1)" -c 8 -n 1000000 -k echo -t 15 >"$TEST_TMP/bench.out" 2>&1 &
BENCH_PID=$!
track $BENCH_PID
jobs_flowing() { qv status "d['stats']['jobs_succeeded'] >= 200" "$(hport 1)"; }
check "jobs flow" wait_until 10000 jobs_flowing

# install: until every member holds both keys
installed() { keyring list && kr "len(k) == 2 and all(x['members'] == $N for x in k.values())"; }
check "keyring install on n3 is accepted" keyring install "$NEW"
check "all $N members hold the new key and the old" wait_until 15000 installed
FP_NEW=$(python3 -c "import json; print([x['fingerprint'] for x in json.load(open('$TEST_TMP/kr.json'))['keys'] if x['fingerprint'] != '$FP_OLD'][0])")
check "the primary of the old key cannot be removed" sh -c "! '$CHORUS' -H '$(api 3)' keyring remove '$OLD' 2>'$TEST_TMP/remove.err'"
check "and says why" grep -q "primary key cannot be removed" "$TEST_TMP/remove.err"
# use: until every member seals under the new key
used() { keyring list && kr "k['$FP_NEW']['primary'] and k['$FP_NEW']['primary_for'] == $N"; }
check "keyring use" keyring use "$NEW"
check "all $N members seal under the new key" wait_until 15000 used
# remove: until the old key is gone everywhere
removed() { keyring list && kr "list(k) == ['$FP_NEW'] and k['$FP_NEW']['members'] == $N and d['answered'] == $N"; }
check "keyring remove of the old key" keyring remove "$OLD"
check "no member holds the old key; all $N hold the new" wait_until 15000 removed
wait "$BENCH_PID"
read -r jobs ok failed <<<"$(sed -n 's/.* jobs=\([0-9]*\) ok=\([0-9]*\) failed=\([0-9]*\).*/\1 \2 \3/p' "$TEST_TMP/bench.out")"
diag "$(cat "$TEST_TMP/bench.out")"
check "jobs flowed throughout: $ok succeeded" test "${ok:-0}" -ge 1000
check "none failed or was lost ($failed failed, $jobs submitted)" test "${failed:-1}" -eq 0 -a "${jobs:-0}" -eq "${ok:-0}"
check "n1 counts no failed job" qv status "d['stats']['jobs_failed'] == 0" "$(hport 1)"

files_new() {
	for i in $(seq 1 $N); do
		[ "$(grep -v '^#' "$TEST_TMP/keyring.n$i")" = "$NEW" ] || return 1
	done
}
check "every node's keyring file holds the new key alone" files_new
check "and is still mode 0600" test "$(stat -c %a "$TEST_TMP/keyring.n4")" = 600
kill -TERM "${PID[4]}"
wait_until 5000 sh -c "! kill -0 ${PID[4]} 2>/dev/null"
start_node 4 --keyring "$TEST_TMP/keyring.n4" --join "tcp://127.0.0.1:$(fport 1)" --worker echo
check "n4, restarted with its rewritten file, is alive for n1 again" wait_until 20000 all_alive
start_node 6 --keyring "$KEYRING" --join "tcp://127.0.0.1:$(fport 1)" --worker echo
refused_old() { qv status "d['stats']['drop_nokey'] >= 1" "$(hport 1)"; }
check "a node holding only the old key is refused" wait_until 10000 refused_old
check "and is no member" qv members "len(d['members']) == $N" "$(hport 1)"

done_testing

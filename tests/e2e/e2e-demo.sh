#!/bin/bash
# The README's first command works: contrib/demo.sh, run end to end on this
# test's spare ports (--base-port) with the binaries already built
# (--no-build), starts three nodes that are the three listed voters (ids from
# chorusd --print-id), runs its jobs, shows the ledger crediting them, prints
# its commands so that a pasted one means the same words, and leaves no node
# behind.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] && [ -x "$CHORUS" ] || skip_all "chorusd or chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 (the demo reads JSON with it)"
base=$(port_base "e2e-demo $PWD")
OUT=$TEST_TMP/demo.out
DEMO_DIR=$TEST_TMP/demo DEMO_CHORUSD=$CHORUSD DEMO_CHORUS=$CHORUS DEMO_WAIT_S=40 \
	timeout 150 bash "$top_srcdir/contrib/demo.sh" --no-build --keep --base-port "$base" >"$OUT" 2>&1
rc=$?
# The demo stops its nodes itself; these are killed by cleanup should it not have.
for p in $(sed -n 's/^node [0-9]: pid \([0-9]*\),.*/\1/p' "$OUT"); do track "$p"; done
[ "$rc" -eq 0 ] || sed 's/^/# /' "$OUT" | tail -n 40
check "the demo exits 0 (rc $rc)" test "$rc" -eq 0

check "it runs on the ports it was told (fabric $((base + 1)), http $((base + 11)))" \
	out_has "fabric tcp://127.0.0.1:$((base + 1)), http 127.0.0.1:$((base + 11))"
ids=$(for k in 1 2 3; do "$CHORUSD" --print-id --data-dir "$TEST_TMP/demo/n$k"; done | paste -sd, -)
check "each node starts with --voters listing the three ids --print-id gives ($ids)" \
	test "$(grep '^\$ .*chorusd --name n[123] ' "$OUT" |
		grep -cF -- "--voter --bootstrap-expect 3 --voters $(printf %q "$ids")")" -eq 3
voters=$(sed -n 's/^voters: *//p' "$OUT" | tr ' ' '\n' | sed 's/(.*//' | sort | paste -sd, -)
check "ledger status lists the three nodes as its voters ($voters)" test "$voters" = "n1,n2,n3"
check "the ledger credited the four jobs that succeeded" out_has "^credited: *4$"
check "their rewards (5 + 3 + the node's 0 + 0) went to the workers" out_has "^total_reward: *8$"
check "ledger job shows the echo job credited with its reward" \
	sh -c "grep -A6 '^outcome: *credited' '$OUT' | grep -q '^reward: *5$'"
check "a voter verifies the chain and balances" out_has "^ledger ok: 1 blocks"
check "the jobs ran: the echo's output" out_has "^hello from chorus$"

# Pasting the echoed submit gives the shell the same words the demo ran.
line=$(grep -m1 -- ' submit echo ' "$OUT")
eval "set -- ${line#\$ }"
check "an echoed command pastes back to the same words ('$line')" \
	test "$#" -eq 9 -a "$7" = "hello from chorus" -a "$1" = "$CHORUS"

# The cluster the demo kept (--keep): the CLI's filters and paging on it.
NODE=http://127.0.0.1:$((base + 11))
DEMO_OUT=$OUT
OUT=$TEST_TMP/cli.out
ERR=$TEST_TMP/cli.err
rows() { "$CHORUS" -H "$NODE" members "$@" | grep -vc '^ID '; }
check "members --kind wc: the two workers" test "$(rows --kind wc)" -eq 2
check "members --kind nosuchkind: none" test "$(rows --kind nosuchkind)" -eq 0
check "members --role voter: all three" test "$(rows --role voter)" -eq 3
check "members --state alive --kind wc --role voter: two" \
	test "$(rows --state alive --kind wc --role voter)" -eq 2
check "members --state dead: none" test "$(rows --state dead)" -eq 0
check "members shows the kinds a worker runs" sh -c "'$CHORUS' -H '$NODE' members | grep ' n2 ' | grep -q 'echo,sha256,sleep,fail,wc'"
"$CHORUS" -H "$NODE" -j members --kind wc >"$OUT"
check "members -j --kind wc: the JSON holds the two workers only" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["members"]
assert sorted(x["name"] for x in m) == ["n2", "n3"], m' "$OUT"

# A second block: one more job, credited after the first block was made.
"$CHORUS" -H "$NODE" submit echo --data again >/dev/null
height() { "$CHORUS" -H "$NODE" -j ledger status | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["height"]))'; }
two_blocks() { [ "$(height)" -ge 2 ]; }
check "one more job makes a second block" wait_until 30000 two_blocks
h=$(height)
"$CHORUS" -H "$NODE" ledger blocks --limit 1 >"$OUT" 2>"$ERR"
check "ledger blocks --limit 1: one row, height 1" test "$(grep -vc '^height' "$OUT")" -eq 1 -a "$(sed -n '2s/ .*//p' "$OUT")" = 1
check "... and says it stopped short ($(cat "$ERR"))" grep -q "stopped at block 1 of $h; more: --from 2" "$ERR"
"$CHORUS" -H "$NODE" ledger blocks --from "$h" >"$OUT" 2>"$ERR"
check "ledger blocks --from $h: the last block, no note" test "$(sed -n '2s/ .*//p' "$OUT")" = "$h" -a ! -s "$ERR"
check "ledger blocks --limit 1001 is a usage error" run 1 "$CHORUS" -H "$NODE" ledger blocks --limit 1001
check "ledger status --from 1 is a usage error" run 1 "$CHORUS" -H "$NODE" ledger status --from 1
"$CHORUS" -H "$NODE" -j ledger verify >"$OUT"
check "ledger verify -j prints JSON: ok, $h blocks" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is True and d["blocks"] == int(sys.argv[2]) and d["accounts"] >= 2, d' "$OUT" "$h"
OUT=$DEMO_OUT

check "contrib/demo.sh --stop stops the kept cluster" \
	env DEMO_DIR="$TEST_TMP/demo" DEMO_CHORUSD="$CHORUSD" DEMO_CHORUS="$CHORUS" \
	bash "$top_srcdir/contrib/demo.sh" --stop
alive=""
for p in $(sed -n 's/^node [0-9]: pid \([0-9]*\),.*/\1/p' "$OUT"); do
	kill -0 "$p" 2>/dev/null && alive="$alive $p"
done
check "no node is left running after the demo (alive:${alive:- none})" test -z "$alive"

done_testing

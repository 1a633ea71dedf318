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
	timeout 150 bash "$top_srcdir/contrib/demo.sh" --no-build --base-port "$base" >"$OUT" 2>&1
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

alive=""
for p in $(sed -n 's/^node [0-9]: pid \([0-9]*\),.*/\1/p' "$OUT"); do
	kill -0 "$p" 2>/dev/null && alive="$alive $p"
done
check "no node is left running after the demo (alive:${alive:- none})" test -z "$alive"

done_testing

#!/bin/bash
# End-to-end: the voter set is chosen by the operator, never announced
# (issue 14; docs/ledger-node.md, "Choosing the voters").
#  - 3 voters listed with --voters bootstrap (--bootstrap-expect 3);
#  - 2 strangers started with --voter (not listed; one with
#    --bootstrap-expect 3 too) never enter the voter set on any node;
#  - `chorus ledger add-voter` of a 4th node: it is in the configuration and
#    votes; `remove-voter` of it: it knows (raft_state removed, said once in
#    its log) and, still running with --voter, is not added back;
#  - `chorus ledger transfer-leader ID`: that voter leads;
#  - 2 of the 3 voters killed: no quorum; `chorus ledger recover` on the
#    survivor: it leads alone and a job is credited again.
# Every wait is bounded; every process is tracked and killed on exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base "e2e-voters $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
ports_of() { for i in "$@"; do hport "$i"; done; }
q() { qv "$@"; }
cli() { i=$1; shift; "$CHORUS" -H "http://127.0.0.1:$(hport "$i")" "$@"; }
declare -a PID ID
SEED="tcp://127.0.0.1:$(fport 1)"
ALL="1 2 3 4 5 6 7"
for i in 1 2 3 4 5 6 7; do ID[$i]=$(node_key "$TEST_TMP/n$i") || { ok 1 "node key $i"; done_testing; exit 1; }; done
LISTED="${ID[1]},${ID[2]},${ID[3]}"
diag "listed: $LISTED; node 4 ${ID[4]}; strangers ${ID[6]} ${ID[7]}"

# --bootstrap-expect 2+ without a list that long is refused before anything is made;
# --print-id names the node a list means.
out=$("$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/nx" --voter --bootstrap-expect 3 2>&1)
rc=$?
check "--bootstrap-expect 3 without --voters is refused (rc $rc: $(echo "$out" | head -1))" \
	test "$rc" -ne 0 -a ! -e "$TEST_TMP/nx/node.key"
case $out in *"needs --voters"*) ok 0 "the refusal says what to give" ;; *) ok 1 "the refusal says what to give" ;; esac
out=$("$CHORUSD" -n --keyring "$KEYRING" --data-dir "$TEST_TMP/nx" --voter --bootstrap-expect 3 \
	--voters "${ID[1]},${ID[2]}" 2>&1)
check "a list shorter than --bootstrap-expect is refused" test $? -ne 0
check "--print-id prints the same id twice (the key is kept)" \
	test "$("$CHORUSD" --print-id --data-dir "$TEST_TMP/n1")" = "${ID[1]}"
for i in 1 2 3; do
	start_node "$i" --voter --bootstrap-expect 3 --voters "$LISTED" --join "$SEED"
done
start_node 5 --join "$SEED" --worker echo # a worker, no voter
# A stranger that wants to bootstrap a set of its own friends (it cannot start without a list).
start_node 6 --voter --bootstrap-expect 3 --voters "${ID[6]},${ID[7]},${ID[4]}" --join "$SEED"
start_node 7 --voter --join "$SEED"
start_node 4 --voter --join "$SEED"

# voters_are IDS NODES...: every node's /v1/ledger voter set is exactly IDS (comma-separated).
voters_are() {
	want=$(echo "$1" | tr ',' '\n' | sort | paste -sd,); shift
	q ledger "','.join(sorted(v['id'] for v in d['voters'])) == '$want'" $(ports_of "$@")
}
# none_of IDS NODES...: no node's /v1/ledger voter set holds any of IDS (a non-voter's is empty).
none_of() {
	ids=$1; shift
	q ledger "not set(v['id'] for v in d['voters']) & set('$ids'.split(','))" $(ports_of "$@")
}
STRANGERS="${ID[6]},${ID[7]}"
in_set() { voters_are "$1" 1 2 3 && none_of "$STRANGERS" $ALL; }
leader_of() { q -p ledger "d['leader']" "$(hport "$1")" 2>/dev/null; }
index_of() { for i in $ALL; do [ "${ID[$i]}" = "$1" ] && echo "$i"; done; }
leader_known() { q ledger "d['leader'] != '0000000000000000'" $(ports_of $ALL); }
check "the 3 listed voters bootstrap; a leader known to all 7 nodes" wait_until 30000 leader_known || \
	for i in $ALL; do diag "node $i: $(q -p ledger "(d['leader'], d['state'])" "$(hport "$i")" 2>&1)"; done
check "the voters' set is the 3 listed; no stranger in any node's" wait_until 10000 in_set "$LISTED"

# The strangers announce the role the whole time: the set must stay as listed.
strangers_out=0
t0=$(now_ms)
for _ in $(seq 1 40); do
	in_set "$LISTED" || { strangers_out=1; break; }
	[ $(( $(now_ms) - t0 )) -ge 4000 ] && break
	sleep 0.1
done
check "for 4 s, 2 strangers and a node 4 announcing --voter never enter any node's voter set" test "$strangers_out" -eq 0
check "the strangers say they wait (not voters)" \
	q status "d['raft_state'] == 'waiting'" $(ports_of 4 6 7)

lead=$(index_of "$(leader_of 1)")
diag "leader: node $lead"
check "add-voter goes to the leader only (elsewhere 409 naming it)" \
	bash -c "$CHORUS -H http://127.0.0.1:$(hport $(( lead % 3 + 1 ))) ledger add-voter ${ID[4]} 2>&1 | grep -q 'not the leader'"
check "chorus ledger add-voter ${ID[4]} on the leader" cli "$lead" ledger add-voter "${ID[4]}"
FOUR="$LISTED,${ID[4]}"
added() { voters_are "$FOUR" 1 2 3 4 && none_of "$STRANGERS" $ALL && q status "d['raft_state'] == 'voter'" "$(hport 4)"; }
check "node 4 is in every node's configuration and votes" wait_until 15000 added

lead=$(index_of "$(leader_of 1)")
check "chorus ledger remove-voter ${ID[4]} on the leader" cli "$lead" ledger remove-voter "${ID[4]}"
removed() { q status "d['raft_state'] == 'removed'" "$(hport 4)" && voters_are "$LISTED" 1 2 3; }
check "node 4 knows it was removed (raft_state removed)" wait_until 15000 removed
check "chorus status on node 4 says removed" bash -c "$CHORUS -H http://127.0.0.1:$(hport 4) status | grep -q 'raft state: *removed'"
readded=0
t0=$(now_ms)
for _ in $(seq 1 40); do
	voters_are "$LISTED" 1 2 3 && q status "d['raft_state'] == 'removed'" "$(hport 4)" || { readded=1; break; }
	[ $(( $(now_ms) - t0 )) -ge 3000 ] && break
	sleep 0.1
done
check "for 3 s, still running with --voter, node 4 is not added back" test "$readded" -eq 0
check "it said so once in its log" test "$(grep -c 'event=removed ' "$TEST_TMP/n4/node.log")" -eq 1

lead=$(index_of "$(leader_of 1)")
to=$(( lead % 3 + 1 ))
check "chorus ledger transfer-leader ${ID[$to]} (node $to) on node $lead" cli "$lead" ledger transfer-leader "${ID[$to]}"
leads() { q ledger "d['leader'] == '${ID[$1]}'" $(ports_of 1 2 3); }
check "node $to leads on all three voters" wait_until 10000 leads "$to"

# ---------------------------------------------------------------- recover
survivor=$(( to % 3 + 1 ))
for i in 1 2 3; do
	[ "$i" = "$survivor" ] && continue
	kill -KILL "${PID[$i]}"; wait "${PID[$i]}" 2>/dev/null
done
no_leader() { q ledger "d['leader'] == '0000000000000000'" "$(hport "$survivor")"; }
check "2 of 3 voters killed: the survivor (node $survivor) has no leader" wait_until 10000 no_leader
check "chorus ledger recover on the survivor" cli "$survivor" ledger recover
alone() { voters_are "${ID[$survivor]}" "$survivor" && leads_alone; }
leads_alone() { q ledger "d['leader'] == '${ID[$survivor]}'" "$(hport "$survivor")"; }
check "the survivor leads a configuration of itself" wait_until 10000 alone || \
	q -p ledger "(d['leader'], d['voters'], d['state'])" "$(hport "$survivor")" | sed 's/^/# /'
before=$(q -p ledger "d['credited']" "$(hport "$survivor")")
out=$(cli "$survivor" submit echo --reward 1 --data "after recover" 2>&1)
check "a job submitted to the survivor succeeds" test $? -eq 0
credited() { q ledger "d['credited'] > $before" "$(hport "$survivor")"; }
check "and is credited by the ledger it commits alone" wait_until 15000 credited
diag "$out"
done_testing

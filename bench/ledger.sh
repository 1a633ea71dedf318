#!/bin/bash
# Ledger benchmark: 3 voters (--voter --bootstrap-expect 3) on loopback, durable
# (raft.db in WAL mode, synchronous=FULL, one transaction per Raft round).
# bench/ledger-bench synthesises signed completion records and POSTs them to
# /v1/ledger/acks; each node forwards them to the leader, which commits them in
# blocks.  Prints, for one writer (one node, one connection) and for many
# (all three nodes, CONNS connections): committed entries/s and each writer's
# submit-to-commit latency p50/p99.
# Usage: bench/ledger.sh   (after a build; N, N_MANY, CONNS to change the sizes)
# Build with ./configure (no --enable-debug) for figures worth quoting.
set -u
cd "$(dirname "$0")/.."
top_srcdir=$PWD
CHORUSD=$PWD/src/node/chorusd
BENCH=$PWD/bench/ledger-bench
. tests/lib.sh
N=${N:-500}
N_MANY=${N_MANY:-3000}
CONNS=${CONNS:-24}
base=$(port_base "bench-ledger $PWD") # per checkout: another worktree may run it too

for b in "$CHORUSD" "$BENCH"; do
	[ -x "$b" ] || { echo "bench: $b is not built (make)" >&2; exit 1; }
done
for i in 1 2 3; do
	mkdir -p "$TEST_TMP/n$i"
	"$CHORUSD" --data-dir "$TEST_TMP/n$i" --name "v$i" --listen "tcp://127.0.0.1:$((base + i))" \
		--http "127.0.0.1:$((base + 50 + i))" --log-file "$TEST_TMP/n$i/node.log" \
		--voter --bootstrap-expect 3 --join "tcp://127.0.0.1:$((base + 1))" \
		>"$TEST_TMP/n$i.out" 2>&1 &
	track $!
done
has_leader() {
	curl -s "http://127.0.0.1:$((base + 51))/v1/ledger" 2>/dev/null | grep -q '"commit_index":[1-9]'
}
wait_until 15000 has_leader || { echo "bench: no leader within 15 s" >&2; exit 1; }
echo "# one writer: $N entries through one node, one connection"
"$BENCH" -H "127.0.0.1:$((base + 51))" -c 1 -n "$N"
echo "# many writers: $N_MANY entries through 3 nodes, $CONNS connections"
"$BENCH" -H "127.0.0.1:$((base + 51)),127.0.0.1:$((base + 52)),127.0.0.1:$((base + 53))" \
	-c "$CONNS" -n "$N_MANY"

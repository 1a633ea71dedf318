#!/bin/bash
# Ledger benchmark: 3 voters (--voter --bootstrap-expect 3) on loopback, durable
# (raft.db in WAL mode, synchronous=FULL, one transaction per Raft round).
# bench/ledger-bench synthesises signed completion records (signed with the
# voters' own keys: the ledger credits members only) and POSTs them to
# /v1/ledger/acks?wait_ms; each node forwards them to the leader, which commits
# them in blocks.  Every writer is closed-loop (one record in flight, the next
# once the node says it is committed).  Prints, for one writer (through the
# leader) and for many (CONNS writers over all three nodes): committed
# entries/s and the submit-to-commit latency p50/p90/p99 the writers saw;
# after each, the CPU time (user + system, all threads, from /proc) the three
# nodes spent per entry, which hardly moves when other work shares the machine.
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
CONNS=${CONNS:-64}
base=$(port_base "bench-ledger $PWD") # per checkout: another worktree may run it too

for b in "$CHORUSD" "$BENCH"; do
	[ -x "$b" ] || { echo "bench: $b is not built (make)" >&2; exit 1; }
done
# The voters are chosen, not announced: their ids, listed before the first start.
VOTERS=$(for i in 1 2 3; do "$CHORUSD" --print-id --data-dir "$TEST_TMP/n$i"; done | paste -sd,)
for i in 1 2 3; do
	mkdir -p "$TEST_TMP/n$i"
	"$CHORUSD" --keyring "$KEYRING" --data-dir "$TEST_TMP/n$i" --name "v$i" --listen "tcp://127.0.0.1:$((base + i))" \
		--http "127.0.0.1:$((base + 50 + i))" --log-file "$TEST_TMP/n$i/node.log" \
		--voter --bootstrap-expect 3 --voters "$VOTERS" --join "tcp://127.0.0.1:$((base + 1))" \
		>"$TEST_TMP/n$i.out" 2>&1 &
	track $!
	VPID[$i]=$!
done
# cpu_ticks: the three nodes' CPU time so far, in clock ticks.
cpu_ticks() {
	t=0
	for i in 1 2 3; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/${VPID[$i]}/stat"))); done
	echo "$t"
}
# cpu_per_entry BEFORE ENTRIES: the line printed after a run.
cpu_per_entry() {
	awk -v a="$1" -v b="$(cpu_ticks)" -v n="$2" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "cpu, 3 nodes: %.3f ms per entry\n", (b - a) * 1000 / hz / n }'
}
has_leader() {
	curl -s "http://127.0.0.1:$((base + 51))/v1/ledger" 2>/dev/null | grep -q '"commit_index":[1-9]'
}
wait_until 15000 has_leader || { echo "bench: no leader within 15 s" >&2; exit 1; }
leader_port=$((base + 51))
for i in 1 2 3; do
	if curl -s "http://127.0.0.1:$((base + 50 + i))/v1/ledger" | grep -q '"state":"leader"'; then
		leader_port=$((base + 50 + i))
	fi
done
echo "# one writer (closed loop: one record in flight): $N entries through the leader"
t0=$(cpu_ticks)
CHORUS_TOKEN=$(cat "$TEST_TMP/n$((leader_port - base - 50))/api.token") \
"$BENCH" -k "$TEST_TMP/n1/node.key" -k "$TEST_TMP/n2/node.key" -k "$TEST_TMP/n3/node.key" -H "127.0.0.1:$leader_port" -c 1 -n "$N"
cpu_per_entry "$t0" "$N"
echo "# many writers (closed loop each): $N_MANY entries through 3 nodes, $CONNS writers"
t0=$(cpu_ticks)
CHORUS_TOKEN=$(api_token 1),$(api_token 2),$(api_token 3) \
"$BENCH" -k "$TEST_TMP/n1/node.key" -k "$TEST_TMP/n2/node.key" -k "$TEST_TMP/n3/node.key" -H "127.0.0.1:$((base + 51)),127.0.0.1:$((base + 52)),127.0.0.1:$((base + 53))" \
	-c "$CONNS" -n "$N_MANY"
cpu_per_entry "$t0" "$N_MANY"

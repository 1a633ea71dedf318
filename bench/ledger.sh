#!/bin/bash
# Ledger benchmark against its anchor, etcd 3.4, in the same run (issue 16's targets).
#
# chorus: 3 voters (--voter --bootstrap-expect 3) on loopback, durable (raft.db in WAL
# mode, synchronous=FULL, one transaction per Raft round).  bench/ledger-bench
# synthesises signed completion records (signed with the voters' own keys: the ledger
# credits members only) and POSTs them to /v1/ledger/acks?wait_ms; each node forwards
# them to the leader, which commits them in blocks.  Their floors trail their seqs by
# WINDOW (ledger-bench -W), as a client node's floor follows its oldest open ack: the
# voters forget the jobs behind it and index them, as in service.
# etcd: 3 members (Debian's etcd-server, its default durability: a WAL fsync per
# batch), on loopback; ledger-bench -e PUTs the same records' bodies as values through
# etcd's HTTP/JSON gateway (/v3/kv/put answers once the write is committed).
#
# Every writer is closed-loop (one record in flight, the next once the answer says it
# is committed).  Each round starts both clusters afresh, in turn (the order
# alternates), and runs on each: one writer (through the leader), then CONNS writers
# over all three members.  It prints every run (writes/s; submit-to-commit p50, p90,
# p99 as the writers saw them; chorus's CPU per entry), then the medians and the
# targets: 64 writers chorus >= 1.5x etcd's writes/s; one writer chorus p50 <= etcd's;
# chorus p99 with 64 writers < 50 ms.
# Usage: bench/ledger.sh   (after a build; N, N_MANY, CONNS, ROUNDS (1-4) to change the
# sizes; ETCD=no to run chorus alone).  etcd-server is installed with apt-get if absent.
# Build with ./configure (no --enable-debug) for figures worth quoting.
set -u
cd "$(dirname "$0")/.."
. bench/bench-env.sh # the binaries, tests/lib.sh
BENCH=$PWD/bench/ledger-bench
N=${N:-500}
N_MANY=${N_MANY:-5000}
CONNS=${CONNS:-64}
WINDOW=${WINDOW:-1024}
ROUNDS=${ROUNDS:-3}
ETCD=${ETCD:-yes}
base=$(port_base "bench-ledger $PWD") # per checkout: another worktree may run it too
fport() { echo $((base + $1)); }      # chorus node I (1..12): fabric, HTTP
hport() { echo $((base + 50 + $1)); }
eport() { echo $((base + 20 + $1)); } # etcd member I (1..12 over the rounds): client, peer
epeer() { echo $((base + 70 + $1)); }

[ -x "$CHORUSD" ] && [ -x "$BENCH" ] || { echo "bench: build first (make)" >&2; exit 1; }
case $ROUNDS in [1-4]) ;; *) echo "bench: ROUNDS is 1 to 4" >&2; exit 1 ;; esac
if [ "$ETCD" = yes ] && ! command -v etcd >/dev/null; then
	echo "bench: installing etcd-server (apt-get)" >&2
	{ apt-get install -y etcd-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y etcd-server; }; } >&2
	systemctl disable --now etcd >/dev/null 2>&1 || true # the package starts a system etcd
fi
if [ "$ETCD" = yes ] && ! command -v etcd >/dev/null; then
	echo "bench: etcd is not installed; ETCD=no runs chorus alone" >&2
	exit 1
fi

# run_bench LABEL PIDS CMD...: runs ledger-bench; prints one line: LABEL w/s p50 p99 cpu.
run_bench() {
	local label=$1 pids=$2 n t0 out; shift 2
	# shellcheck disable=SC2086
	t0=$(cpu_ticks $pids)
	out=$("$@") || { echo "bench: $label failed: $out" >&2; return 1; }
	n=$(echo "$out" | sed -n 's/^entries \([0-9]*\) .*/\1/p')
	# shellcheck disable=SC2086
	echo "$out" | awk -v label="$label" -v a="$t0" -v b="$(cpu_ticks $pids)" -v n="$n" \
		-v hz="$(getconf CLK_TCK)" '
		/entries\/s/ { for (i = 1; i < NF; i++) if ($i == "entries/s") ws = $(i + 1) }
		/^submit-to-commit/ { p50 = $4; p90 = $6; p99 = $8 }
		END { printf "%s %s %s %s %s %.3f\n", label, ws, p50, p90, p99, (b - a) * 1000 / hz / n }'
}
say_run() { # say_run SYSTEM WRITERS LINE
	set -- "$1" "$2" $3
	printf '%-6s %2s writer(s): %6s writes/s, p50 %7s ms, p90 %7s ms, p99 %7s ms, server cpu %s ms/write\n' \
		"$1" "$2" "$4" "$5" "$6" "$7" "$8"
}

# chorus_round R: a fresh 3-voter chorus ledger (nodes 3R-2..3R); prints two lines.
chorus_round() {
	local a=$(($1 * 3 - 2)) i leader pids="" tokens=""
	local voters
	voters=$(voters_of $a $((a + 1)) $((a + 2))) || return 1
	for i in $a $((a + 1)) $((a + 2)); do
		start_node "$i" --voter --bootstrap-expect 3 --voters "$voters" \
			--join "tcp://127.0.0.1:$(fport $a)"
		pids="$pids ${PID[$i]}"
	done
	wait_until 20000 chorus_leader $a >/dev/null || { echo "bench: chorus: no leader within 20 s" >&2; return 1; }
	leader=$(chorus_leader $a)
	run_bench "1" "$pids" env CHORUS_TOKEN="$(api_token "$leader")" "$BENCH" \
		-k "$TEST_TMP/n$a/node.key" -k "$TEST_TMP/n$((a + 1))/node.key" \
		-k "$TEST_TMP/n$((a + 2))/node.key" -H "127.0.0.1:$(hport "$leader")" -c 1 -n "$N" \
		-W "$WINDOW" || return 1
	for i in $a $((a + 1)) $((a + 2)); do tokens="$tokens,$(api_token $i)"; done
	run_bench "$CONNS" "$pids" env CHORUS_TOKEN="${tokens#,}" "$BENCH" \
		-k "$TEST_TMP/n$a/node.key" -k "$TEST_TMP/n$((a + 1))/node.key" \
		-k "$TEST_TMP/n$((a + 2))/node.key" \
		-H "127.0.0.1:$(hport $a),127.0.0.1:$(hport $((a + 1))),127.0.0.1:$(hport $((a + 2)))" \
		-c "$CONNS" -n "$N_MANY" -W "$WINDOW" || return 1
	stop_pids $pids
}
chorus_leader() { # chorus_leader A: the node (A..A+2) whose ledger says it leads
	local i
	for i in $1 $(($1 + 1)) $(($1 + 2)); do
		if curl -s "http://127.0.0.1:$(hport "$i")/v1/ledger" | grep -q '"state":"leader"'; then
			echo "$i"
			return 0
		fi
	done
	return 1
}

# etcd_round R: a fresh 3-member etcd cluster (members 3R-2..3R); prints two lines.
etcd_round() {
	local a=$(($1 * 3 - 2)) i cluster="" pids="" leader eps=""
	for i in $a $((a + 1)) $((a + 2)); do
		cluster="$cluster,e$i=http://127.0.0.1:$(epeer "$i")"
		eps="$eps,127.0.0.1:$(eport "$i")"
	done
	for i in $a $((a + 1)) $((a + 2)); do
		mkdir -p "$TEST_TMP/e$i"
		etcd --name "e$i" --data-dir "$TEST_TMP/e$i" \
			--listen-client-urls "http://127.0.0.1:$(eport "$i")" \
			--advertise-client-urls "http://127.0.0.1:$(eport "$i")" \
			--listen-peer-urls "http://127.0.0.1:$(epeer "$i")" \
			--initial-advertise-peer-urls "http://127.0.0.1:$(epeer "$i")" \
			--initial-cluster "${cluster#,}" --initial-cluster-state new \
			--initial-cluster-token "bench-$$-$1" --logger zap --log-outputs stderr \
			>"$TEST_TMP/e$i.out" 2>&1 &
		track $!
		pids="$pids $!"
	done
	wait_until 20000 etcd_leader $a >/dev/null || { echo "bench: etcd: no leader within 20 s" >&2; return 1; }
	leader=$(etcd_leader $a)
	run_bench "1" "$pids" "$BENCH" -e -H "127.0.0.1:$(eport "$leader")" -c 1 -n "$N" || return 1
	run_bench "$CONNS" "$pids" "$BENCH" -e -H "${eps#,}" -c "$CONNS" -n "$N_MANY" || return 1
	stop_pids $pids
}
etcd_leader() { # etcd_leader A: the member (A..A+2) that leads, from its status
	local i
	for i in $1 $(($1 + 1)) $(($1 + 2)); do
		curl -s -X POST -d '{}' "http://127.0.0.1:$(eport "$i")/v3/maintenance/status" |
			python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("leader") == d["header"]["member_id"] else 1)' \
			2>/dev/null && { echo "$i"; return 0; }
	done
	return 1
}
stop_pids() { # SIGTERM, then wait (bounded: cleanup kills what is left)
	local p
	for p in "$@"; do kill "$p" 2>/dev/null; done
	for p in "$@"; do wait_until 10000 sh -c "! kill -0 $p 2>/dev/null"; done
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $(grep -m1 '^CFLAGS = ' Makefile 2>/dev/null | cut -d' ' -f3-); $([ "$ETCD" = yes ] && etcd --version | head -n 1)"
echo "closed-loop writers: 1 (through the leader, $N writes), $CONNS (over 3 members, $N_MANY writes)"
c1=() cm=() c1p50=() cmp99=() e1=() em=() e1p50=()
for r in $(seq 1 "$ROUNDS"); do
	order="chorus etcd"
	[ $((r % 2)) -eq 0 ] && order="etcd chorus"
	[ "$ETCD" = yes ] || order=chorus
	for sys in $order; do
		# in this shell, not a $(...) subshell: the clusters' pids stay tracked for cleanup
		"${sys}_round" "$r" >"$TEST_TMP/round.out" || exit 1
		lines=$(cat "$TEST_TMP/round.out")
		one=$(echo "$lines" | sed -n 1p) many=$(echo "$lines" | sed -n 2p)
		say_run "$sys" 1 "$one"
		say_run "$sys" "$CONNS" "$many"
		set -- $one; p50_1=$3
		set -- $many; ws_m=$2 p99_m=$5
		set -- $one; ws_1=$2
		if [ "$sys" = chorus ]; then
			c1+=("$ws_1") cm+=("$ws_m") c1p50+=("$p50_1") cmp99+=("$p99_m")
		else
			e1+=("$ws_1") em+=("$ws_m") e1p50+=("$p50_1")
		fi
	done
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median of $ROUNDS: chorus 1 writer $(median "${c1[@]}") writes/s, p50 $(median "${c1p50[@]}") ms;" \
	"$CONNS writers $(median "${cm[@]}") writes/s, p99 $(median "${cmp99[@]}") ms (target < 50)"
if [ "$ETCD" = yes ]; then
	echo "median of $ROUNDS: etcd   1 writer $(median "${e1[@]}") writes/s, p50 $(median "${e1p50[@]}") ms;" \
		"$CONNS writers $(median "${em[@]}") writes/s"
	awk -v cm="$(median "${cm[@]}")" -v em="$(median "${em[@]}")" -v c="$(median "${c1p50[@]}")" \
		-v e="$(median "${e1p50[@]}")" -v n="$CONNS" 'BEGIN {
		printf "ratio: %d writers chorus/etcd writes/s %.2f (target >= 1.5); 1 writer p50 chorus/etcd %.2f (target <= 1)\n",
			n, cm / em, c / e }'
fi

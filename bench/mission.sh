#!/bin/bash
# The whole mission, with and without the ledger (issue 16's flow target): 1 client
# node and 3 workers (built-in echo, capacity 64), real chorusd processes on
# loopback, CONNS jobs in flight (dispatch-bench, POST /v1/jobs?wait_ms).
#   without voters: JOBS jobs; jobs/s = JOBS / the bench's wall time;
#   with the 3 workers as the ledger's voters: from the first submit until every
#     voter's ledger credits all JOBS jobs; credited jobs/s = JOBS / that time.
# Each round starts both clusters afresh, in turn (ROUNDS rounds, alternating which
# goes first); it prints every run, then the medians and the ratio (target: >= 0.9).
# Usage: bench/mission.sh   (after a build; JOBS, CONNS, ROUNDS to change the sizes)
# Build with ./configure (no --enable-debug) for figures worth quoting.
cd "$(dirname "$0")/.."
. bench/bench-env.sh # the binaries, tests/lib.sh
JOBS=${JOBS:-10000}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
base=$(port_base bench-mission)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
for b in "$CHORUSD" "$CHORUS" "$BENCH"; do
	[ -x "$b" ] || { echo "bench: $b is not built (make)" >&2; exit 1; }
done

sees_workers() { # sees_workers CLIENT: the client lists three echo workers
	[ "$("$CHORUS" -H "http://127.0.0.1:$(hport "$1")" -j members 2>/dev/null |
		grep -o '"echo"' | wc -l)" -ge 3 ]
}
has_leader() { qv ledger "d.get('leader') not in (None, '', '0000000000000000')" "$@"; }
stop_all() { # stop_all I...: SIGTERM, then wait (bounded: cleanup kills what is left)
	local i
	for i in "$@"; do kill "${PID[$i]}" 2>/dev/null; done
	for i in "$@"; do wait_until 10000 sh -c "! kill -0 ${PID[$i]} 2>/dev/null"; done
}
# credited_all PORT...: waits (120 s at most) until every voter's ledger credits JOBS
# jobs, polling every 10 ms with curl: a python poll (qv) took 50-100 ms a round, which
# the clock counted.
credited_all() {
	local deadline=$(($(now_ms) + 120000)) p n ok
	while [ "$(now_ms)" -lt "$deadline" ]; do
		ok=1
		for p in "$@"; do
			n=$(curl -s "http://127.0.0.1:$p/v1/ledger" | grep -o '"credited":[0-9]*' | cut -d: -f2)
			[ "${n:-0}" -ge "$JOBS" ] || { ok=0; break; }
		done
		[ "$ok" = 1 ] && return 0
		sleep 0.01
	done
	return 1
}
# run_one C VOTERS: a fresh cluster at nodes C..C+3 (C the client); prints jobs/s.
run_one() {
	local c=$1 voters=$2 w ports="" t0 t1 out
	local extra=()
	if [ "$voters" = yes ]; then
		extra=(--voter --bootstrap-expect 3 --voters "$(voters_of $((c + 1)) $((c + 2)) $((c + 3)))")
		for w in 1 2 3; do ports="$ports $(hport $((c + w)))"; done
	fi
	start_node "$c"
	for w in 1 2 3; do
		start_node $((c + w)) --join "tcp://127.0.0.1:$(fport "$c")" --worker echo --capacity 64 \
			"${extra[@]}"
	done
	wait_until 20000 sees_workers "$c" || { echo "bench: the workers did not show up" >&2; return 1; }
	if [ "$voters" = yes ]; then
		# shellcheck disable=SC2086
		wait_until 20000 has_leader $ports || { echo "bench: no ledger leader" >&2; return 1; }
	fi
	local pids="${PID[$c]} ${PID[$((c + 1))]} ${PID[$((c + 2))]} ${PID[$((c + 3))]}" ticks0
	ticks0=$(cpu_ticks $pids)
	t0=$(date +%s%N)
	out=$(CHORUS_TOKEN=$(api_token "$c") "$BENCH" -H "127.0.0.1:$(hport "$c")" -c "$CONNS" \
		-n "$JOBS" -t 120) || { echo "bench: dispatch-bench failed: $out" >&2; return 1; }
	case "$out" in *" failed=0 "*) ;; *) echo "bench: jobs failed: $out" >&2; return 1 ;; esac
	if [ "$voters" = yes ]; then
		# shellcheck disable=SC2086
		credited_all $ports || { echo "bench: not every voter credited $JOBS jobs" >&2; return 1; }
	fi
	t1=$(date +%s%N)
	# What the ledger costs: the nodes' CPU per job; with voters, the signatures the
	# client and the workers made (texts per batch) and those each voter verified.
	local cpu sigs="" vers=""
	cpu=$(awk -v a="$ticks0" -v b="$(cpu_ticks $pids)" -v n="$JOBS" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.0f", (b - a) * 1e6 / hz / n }')
	if [ "$voters" = yes ]; then
		sigs=$(qv -p status "'%.1f' % (d['stats']['sign_texts'] / max(1, d['stats']['sign_batches']))" \
			$(hport "$c") $ports | paste -sd/)
		vers=$(qv -p ledger "'%.2f' % (d['root_verifies'] / $JOBS)" $ports | paste -sd/)
	fi
	stop_all "$c" $((c + 1)) $((c + 2)) $((c + 3))
	awk -v n="$JOBS" -v ns=$((t1 - t0)) -v cpu="$cpu" -v sigs="$sigs" -v vers="$vers" 'BEGIN {
		printf "%.0f jobs/s; the 4 nodes %s us CPU per job", n / (ns / 1e9), cpu
		if (sigs != "") printf "; texts per signature %s (client/workers), root signatures verified per job %s (each voter)", sigs, vers
		printf "\n" }'
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $(grep -m1 '^CFLAGS = ' Makefile 2>/dev/null | cut -d' ' -f3-)"
echo "flow: 1 client, 3 echo workers, $CONNS in flight, $JOBS jobs a run"
plain=() ledger=() node=1
for r in $(seq 1 "$ROUNDS"); do
	for which in $( ((r % 2)) && echo "no yes" || echo "yes no"); do
		# in this shell, not a $(...) subshell: a failed run's nodes stay tracked for cleanup
		run_one "$node" "$which" >"$TEST_TMP/run.out" || exit 1
		line=$(cat "$TEST_TMP/run.out")
		v=${line%% *}
		node=$((node + 4))
		if [ "$which" = yes ]; then
			ledger+=("$v")
			echo "round $r: with 3 voters, credited on all: $line"
		else
			plain+=("$v")
			echo "round $r: without voters:                $line"
		fi
	done
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mp=$(median "${plain[@]}")
ml=$(median "${ledger[@]}")
awk -v p="$mp" -v l="$ml" 'BEGIN { printf "median: without voters %.0f jobs/s, credited with 3 voters %.0f jobs/s: %.2f of it (target 0.9)\n", p, l, l / p }'

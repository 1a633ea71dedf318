#!/bin/bash
# Dispatch benchmark: 1 client node and 3 worker nodes (built-in echo,
# capacity 64 each), real chorusd processes on loopback.  Prints:
#   - API latency: one job at a time, POST /v1/jobs?wait_ms (p50/p90/p99);
#   - CLI latency: one `chorus submit echo` at a time, wall clock per process;
#   - throughput: many jobs in flight (CONNS connections, one job each).
# Usage: bench/dispatch.sh   (after a build; JOBS, CLI_JOBS, CONNS to change the sizes)
# The README quotes what it prints.  Build with ./configure (no --enable-debug)
# for figures worth quoting: the debug build is -O0.
cd "$(dirname "$0")/.."
. bench/bench-env.sh # the binaries, tests/lib.sh
JOBS=${JOBS:-3000}
CLI_JOBS=${CLI_JOBS:-200}
CONNS=${CONNS:-64}
base=$(port_base bench-dispatch)

. bench/dispatch-cluster.sh # 1 client, 3 echo workers; sets api

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "build: $(grep -m1 '^CFLAGS = ' Makefile 2>/dev/null | cut -d' ' -f3-)"
"$BENCH" -H "$api" -c 1 -n 200 -t 30 >/dev/null # warm-up
printf 'api, one at a time:    '
"$BENCH" -H "$api" -c 1 -n "$JOBS" -t 60

lat=$TEST_TMP/cli.ms
for _ in $(seq 1 "$CLI_JOBS"); do
	t0=$(date +%s%N)
	"$CHORUS" -H "http://$api" submit echo --data x >/dev/null || echo "bench: a CLI submit failed" >&2
	echo $((($(date +%s%N) - t0) / 1000)) >>"$lat"
done
sort -n "$lat" | awk -v n="$CLI_JOBS" '{ v[NR] = $1 } END {
	printf "cli, one at a time:    jobs=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f\n", n,
	    v[int(0.5 * (NR - 1) + 1.5)] / 1000, v[int(0.9 * (NR - 1) + 1.5)] / 1000,
	    v[int(0.99 * (NR - 1) + 1.5)] / 1000 }'

printf 'api, %d in flight:     ' "$CONNS"
"$BENCH" -H "$api" -c "$CONNS" -n $((JOBS * 4)) -t 60

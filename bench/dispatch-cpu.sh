#!/bin/bash
# Dispatch cost benchmark: the set-up of bench/dispatch.sh (1 client node, 3 workers
# running the built-in echo, capacity 64 each), JOBS jobs with CONNS in flight, and for
# every node the CPU time (user + system, from /proc) and the context switches (all
# threads, voluntary and not) per job.  Unlike jobs/s these hardly move when other work
# shares the machine, so they compare two builds fairly on a busy box.
# Usage: bench/dispatch-cpu.sh   (after a build; JOBS, CONNS to change the sizes)
cd "$(dirname "$0")/.."
. bench/bench-env.sh # the binaries, tests/lib.sh
JOBS=${JOBS:-6000}
CONNS=${CONNS:-64}
base=$(port_base bench-dispatch-cpu)

. bench/dispatch-cluster.sh # 1 client, 3 echo workers; sets api

# snap: one line per node, "CPU_TICKS CONTEXT_SWITCHES LOOP_THREAD_TICKS" (the last:
# the event loop's thread alone, whose tid is the pid: the client's bound).
snap() {
	for i in 1 2 3 4; do
		p=${PID[$i]}
		cs=$(cat /proc/"$p"/task/*/status | awk '/ctxt_switches/ { s += $2 } END { print s }')
		echo "$(awk '{ print $14 + $15 }' /proc/"$p"/stat) $cs $(awk '{ print $14 + $15 }' /proc/"$p"/task/"$p"/stat)"
	done
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $(grep -m1 '^CFLAGS = ' Makefile 2>/dev/null | cut -d' ' -f3-)"
"$BENCH" -H "$api" -c "$CONNS" -n 500 -t 60 >/dev/null # warm-up
before=$(snap)
printf 'api, %d in flight:     ' "$CONNS"
"$BENCH" -H "$api" -c "$CONNS" -n "$JOBS" -t 120
after=$(snap)
paste <(echo "$before") <(echo "$after") | awk -v hz="$(getconf CLK_TCK)" -v jobs="$JOBS" '{
	n++; cpu = ($4 - $1) * 1000 / hz / jobs; cs = ($5 - $2) / jobs; tcpu += cpu; tcs += cs
	printf "n%d %-7s cpu_ms_per_job=%.3f loop_thread_ms_per_job=%.3f ctx_switches_per_job=%.1f\n",
	    n, n == 1 ? "client" : "worker", cpu, ($6 - $3) * 1000 / hz / jobs, cs }
	END { printf "all     cpu_ms_per_job=%.3f ctx_switches_per_job=%.1f\n", tcpu, tcs }'

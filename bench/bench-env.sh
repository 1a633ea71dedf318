# Sourced first by the benchmarks that start real nodes (dispatch.sh, dispatch-cpu.sh,
# mission.sh), from the top of the tree: the binaries under test and tests/lib.sh
# (start_node, wait_until, qv, port blocks, and cleanup that stops every node by pid).
set -u
top_srcdir=$PWD
CHORUSD=$PWD/src/node/chorusd
CHORUS=$PWD/src/cli/chorus
BENCH=$PWD/bench/dispatch-bench
. tests/lib.sh
# cpu_ticks PID...: their CPU time so far (user + system, all threads), in clock ticks.
cpu_ticks() {
	local p t=0
	for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
	echo "$t"
}

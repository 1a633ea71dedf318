#!/bin/bash
# Membership benchmark: 5 real chorusd on loopback, TRIALS times (default 3):
#   - convergence: ms from the last start until all 5 list all 5 alive;
#   - false suspicion: suspect/dead events about live nodes during a quiet
#     window (QUIET_S, default 60);
#   - failure detection: ms from kill -9 until every other node lists it dead;
#   - leave: ms from SIGTERM until every other node lists it left;
#   - idle resident memory of one node (KiB).
# Then the simulator at 1000 nodes.  Prints its figures; the README quotes them.
# Usage: bench/membership.sh   (after a build; TRIALS=1 QUIET_S=10 for a quick look)
set -u
cd "$(dirname "$0")/.."
top_srcdir=$PWD
CHORUSD=$PWD/src/node/chorusd
CHORUS_SIM=$PWD/src/sim/chorus-sim
. tests/lib.sh
TRIALS=${TRIALS:-3}
QUIET_S=${QUIET_S:-60}
N=5
base=$(port_base bench-membership)

q() { qv "$@"; } # GET /v1/PATH of each port, a Python expression on it (tests/lib.sh)
hports() { for i in "$@"; do echo $((base + 50 + i)); done; }
all_alive() { k=$1; shift; q status "d['members']['alive'] == $k and d['members']['suspect'] == 0" $(hports "$@"); }
name_in() { st=$1 name=$2; shift 2; q members "any(m['name'] == '$name' and m['state'] == '$st' for m in d['members'])" $(hports "$@"); }

declare -a PID
start_node() {
	i=$1; shift
	mkdir -p "$TEST_TMP/t$trial/n$i"
	"$CHORUSD" --keyring "$KEYRING" --data-dir "$TEST_TMP/t$trial/n$i" --name "n$i" --listen "tcp://127.0.0.1:$((base + i))" \
		--http "127.0.0.1:$((base + 50 + i))" --log-file "$TEST_TMP/t$trial/n$i/node.log" "$@" \
		2>/dev/null &
	PID[$i]=$!
	track "${PID[$i]}"
}

conv=() det=() lv=() fs=() rss=()
for trial in $(seq 1 "$TRIALS"); do
	start_node 1
	for i in $(seq 2 $N); do start_node "$i" --join "tcp://127.0.0.1:$((base + 1))"; done
	t0=$(now_ms)
	wait_until 10000 all_alive $N $(seq 1 $N) || { echo "trial $trial: no convergence"; exit 1; }
	conv+=($(( $(now_ms) - t0 )))
	sleep "$QUIET_S"   # the quiet window itself: nothing to poll for
	fs+=($(cat "$TEST_TMP"/t$trial/n*/node.log | grep -cE 'event=(suspect|dead)'))
	rss+=($(ps -o rss= -p "${PID[1]}" | tr -d ' '))
	kill -9 "${PID[5]}"
	t0=$(now_ms)
	wait_until 20000 name_in dead n5 1 2 3 4 || { echo "trial $trial: n5 never dead"; exit 1; }
	det+=($(( $(now_ms) - t0 )))
	kill -TERM "${PID[4]}"
	t0=$(now_ms)
	wait_until 10000 name_in left n4 1 2 3 || { echo "trial $trial: n4 never left"; exit 1; }
	lv+=($(( $(now_ms) - t0 )))
	for i in 1 2 3 4; do kill -TERM "${PID[$i]}" 2>/dev/null; done
	for i in 1 2 3 4 5; do wait "${PID[$i]}" 2>/dev/null; done
done

stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "min %d  median %d  max %d", a[1], a[int((NR+1)/2)], a[NR]}'; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
echo "5 chorusd on loopback, $TRIALS trials"
echo "convergence after last start (ms):   $(stats "${conv[@]}")"
echo "kill -9 -> dead on all others (ms):  $(stats "${det[@]}")"
echo "SIGTERM -> left on all others (ms):  $(stats "${lv[@]}")"
echo "suspect/dead events in ${QUIET_S}s quiet: $(stats "${fs[@]}")"
echo "idle RSS of one node (KiB):          $(stats "${rss[@]}")"
if [ -x "$CHORUS_SIM" ]; then
	echo "chorus-sim membership --nodes 1000 --seed 1:"
	"$CHORUS_SIM" membership --nodes 1000 --seed 1 | grep -E '^(join|crash|leave|partition|restart|traffic|result|wall):' | sed 's/^/  /'
fi

#!/usr/bin/env bash
# A local demo cluster: builds chorus, starts three chorusd nodes on this
# machine (node 1 a client, nodes 2 and 3 workers; all three the ledger's
# voters, chosen by id with --voters), waits until they all see each other,
# shows the members table, runs a few real jobs with `chorus submit`
# (built-in kinds, an external command, a failure, a kind nobody runs),
# shows the job table, the gossip in the nodes' logs and the replicated
# ledger that credited the workers, then stops the cluster.
#
#   contrib/demo.sh [--base-port N] [--no-build]   run the demo, then stop the nodes
#   contrib/demo.sh --hosts N   the same on N nodes (4+), each in a network namespace
#                             of its own (contrib/netns-cluster.sh; root), with a partition
#   contrib/demo.sh --keep    leave the nodes running (stop: contrib/demo.sh --stop)
#   contrib/demo.sh --stop    stop the nodes a --keep run left behind
#
# Data and logs live under $DEMO_DIR (default /tmp/chorus-demo): nK/node.log.
# Node K listens on tcp://127.0.0.1:BASE+K (fabric) and 127.0.0.1:BASE+10+K
# (HTTP); BASE is --base-port or $DEMO_BASE_PORT, default 7500 (clear of
# chorusd's defaults and of the examples in chorusd(8), 7470-7481). --no-build uses the binaries already built.
# Every command shown with "$ " is pasteable as printed (quoted with %q).
# To add a step: write a step_* function and list it in STEPS below.
set -eu

cd "$(dirname "$0")/.."
TOP=$PWD
DEMO_DIR=${DEMO_DIR:-/tmp/chorus-demo}
NODES=3
WAIT_S=${DEMO_WAIT_S:-30}
# An out-of-tree build's binaries (with --no-build): DEMO_CHORUSD, DEMO_CHORUS.
CHORUSD=${DEMO_CHORUSD:-$TOP/src/node/chorusd}
CHORUS=${DEMO_CHORUS:-$TOP/src/cli/chorus}
KEEP=0
BUILD=1
BASE_PORT=${DEMO_BASE_PORT:-7500}

STEPS="step_build step_start step_wait_members step_show_members step_jobs step_show_gossip
	step_ledger"
WORKER_ARGS=(--capacity 4 --worker echo --worker sha256 --worker sleep --worker fail
	--worker "wc=wc -w")

say() { printf '\n==> %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

fabric_url() { echo "tcp://127.0.0.1:$((BASE_PORT + $1))"; }
http_addr() { echo "127.0.0.1:$((BASE_PORT + 10 + $1))"; }
node_dir() { echo "$DEMO_DIR/n$1"; }
chorus_at() { # chorus_at K ARGS...: the CLI against node K
	local k=$1
	shift
	"$CHORUS" -H "http://$(http_addr "$k")" "$@"
}
# print_cmd CMD ARGS...: the command as a shell would take it back (each word
# through %q, so quotes survive a paste); show CMD ARGS...: print it, run it.
print_cmd() {
	printf '\n$'
	printf ' %q' "$@"
	printf '\n'
}
show() {
	print_cmd "$@"
	"$@"
}
show_at() { # show_at K ARGS...: show and run the CLI against node K
	local k=$1
	shift
	show "$CHORUS" -H "http://$(http_addr "$k")" "$@"
}

# ---------------------------------------------------------------- nodes
node_pid() { cat "$(node_dir "$1")/pid" 2>/dev/null || true; }
node_running() {
	local pid
	pid=$(node_pid "$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

stop_cluster() {
	local k pid
	for k in $(seq 1 "$NODES"); do
		pid=$(node_pid "$k")
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid"
			# A clean leave takes a moment; give up politely after 5 s.
			for _ in $(seq 1 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
			echo "stopped node $k (pid $pid)"
		fi
		rm -f "$(node_dir "$k")/pid"
	done
}

start_node() { # start_node K [JOIN-URL]
	local k=$1 join=${2:-} dir
	dir=$(node_dir "$k")
	mkdir -p "$dir"
	set -- --name "n$k" --data-dir "$dir" --listen "$(fabric_url "$k")" \
		--http "$(http_addr "$k")" --log-file "$dir/node.log" --keyring "$DEMO_DIR/keyring" \
		--voter --bootstrap-expect "$NODES" --voters "$VOTERS"
	[ -n "$join" ] && set -- "$@" --join "$join" "${WORKER_ARGS[@]}"
	print_cmd "$CHORUSD" "$@"
	"$CHORUSD" "$@" >"$dir/stderr.log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	echo "node $k: pid $!, fabric $(fabric_url "$k"), http $(http_addr "$k"), log $dir/node.log"
}

alive_count() { # alive_count K: members node K sees alive
	chorus_at "$1" members 2>/dev/null | awk 'NR > 1 && $4 == "alive"' | wc -l
}

workers_seen() { # node 1 has the worker records (with their kinds)
	[ "$(chorus_at 1 -j members 2>/dev/null | grep -o '"echo"' | wc -l)" -ge $((NODES - 1)) ]
}

# ---------------------------------------------------------------- steps
step_build() {
	say "building (contrib/setup.sh)"
	SETUP_MAKE_TARGETS="src/node/chorusd src/cli/chorus" bash contrib/setup.sh
	[ -x "$CHORUSD" ] || die "$CHORUSD was not built"
	[ -x "$CHORUS" ] || die "$CHORUS was not built"
}

step_start() {
	local k id
	say "starting $NODES nodes under $DEMO_DIR"
	stop_cluster >/dev/null # a previous --keep run
	# Fresh identities and logs; only our own subdirectories, never DEMO_DIR itself.
	for k in $(seq 1 "$NODES"); do
		rm -rf "$(node_dir "$k")"
	done
	# One network key for the demo's nodes (chorus keygen; chorusd(8), KEYRING).
	mkdir -p "$DEMO_DIR"
	(umask 077; "$CHORUS" keygen >"$DEMO_DIR/keyring") || die "chorus keygen failed"
	# The voters are chosen by id, never announced (docs/ledger-node.md): each
	# node's id comes from its key, made here, before any node starts.
	VOTERS=""
	for k in $(seq 1 "$NODES"); do
		mkdir -p "$(node_dir "$k")"
		print_cmd "$CHORUSD" --print-id --data-dir "$(node_dir "$k")"
		id=$("$CHORUSD" --print-id --data-dir "$(node_dir "$k")") || die "--print-id failed"
		echo "$id"
		VOTERS=$VOTERS${VOTERS:+,}$id
	done
	say "the voters: $VOTERS (--voter --bootstrap-expect $NODES --voters $VOTERS on each node)"
	start_node 1
	for k in $(seq 2 "$NODES"); do
		start_node "$k" "$(fabric_url 1)"
	done
}

step_wait_members() {
	local deadline k
	say "waiting up to ${WAIT_S}s until node 1 sees $NODES members alive"
	deadline=$(($(date +%s) + WAIT_S))
	while [ "$(alive_count 1)" -lt "$NODES" ]; do
		for k in $(seq 1 "$NODES"); do
			node_running "$k" || die "node $k exited; see $(node_dir "$k")/stderr.log and node.log"
		done
		[ "$(date +%s)" -lt "$deadline" ] || die "node 1 sees $(alive_count 1) of $NODES alive after ${WAIT_S}s"
		sleep 0.2
	done
	echo "all $NODES nodes alive"
}

step_show_members() {
	local k
	for k in $(seq 1 "$NODES"); do
		say "node $k's view of the members"
		show_at "$k" members
	done
}

demo_submit() { # demo_submit ARGS...: show and run one submit through node 1
	local rc=0
	show_at 1 submit "$@" || rc=$?
	[ "$rc" -eq 0 ] && echo
	echo "(exit $rc)"
}

step_jobs() {
	local deadline
	deadline=$(($(date +%s) + WAIT_S))
	until workers_seen; do
		[ "$(date +%s)" -lt "$deadline" ] || die "node 1 does not see the workers' kinds"
		sleep 0.2
	done
	say "running jobs from node 1 (the workers are nodes 2 and 3)"
	demo_submit echo --data "hello from chorus" --reward 5
	demo_submit sha256 --data abc --reward 3
	demo_submit wc --data "an external command counts these five words"
	demo_submit sleep --data 300
	demo_submit fail
	demo_submit nosuchkind --data x
	say "node 1's job table, kept in $(node_dir 1)/jobs.db"
	show_at 1 jobs
}

step_show_gossip() {
	local k
	for k in 2 3; do
		say "node $k's log: requests heard, jobs run, completion acks ($(node_dir "$k")/node.log)"
		grep -E "subsys=job|job event=" "$(node_dir "$k")/node.log" | tail -n 12 || true
	done
	say "gossip: the last 15 lines of node 1's log ($(node_dir 1)/node.log)"
	tail -n 15 "$(node_dir 1)/node.log" 2>/dev/null || echo "(no log yet)"
}

credited_count() { # the jobs node 1's ledger has credited so far
	chorus_at 1 -j ledger status 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get("credited", 0))' 2>/dev/null ||
		echo 0
}

step_ledger() {
	local deadline job
	say "the ledger: the voters agree on each completed job and credit its worker"
	# Four jobs succeeded (echo, sha256, wc, sleep); their acks reach the leader
	# within a moment: poll, bounded, rather than guess how long.
	deadline=$(($(date +%s) + WAIT_S))
	until [ "$(credited_count)" -ge 4 ] 2>/dev/null; do
		[ "$(date +%s)" -lt "$deadline" ] || die "the ledger credited $(credited_count) of 4 jobs after ${WAIT_S}s"
		sleep 0.2
	done
	show_at 1 ledger status
	show_at 1 ledger balances
	show_at 1 ledger blocks
	# The first job that ran (jobs are listed newest first, the echo that paid
	# 5): its ledger entry.
	job=$(chorus_at 1 -j jobs | python3 -c '
import json, sys
d = json.load(sys.stdin)
done = [j["id"] for j in d["jobs"] if j.get("state") == "succeeded"]
print(done[-1] if done else "")')
	[ -n "$job" ] || die "node 1 lists no job"
	show_at 1 ledger job "$job" || true
	show_at 2 ledger verify
}

# ---------------------------------------------------------------- --hosts N
# The same steps on contrib/netns-cluster.sh: every node in its own network
# namespace at 10.77.0.K, its API on that namespace's loopback.
HOSTS=0
NETNS_CLUSTER=$TOP/contrib/netns-cluster.sh
hosts_mode() {
	HOSTS=1
	NODES=$1
	export CHORUS_NETNS=chorus-demo CHORUS_NETNS_DIR=$DEMO_DIR/hosts CHORUS_NETNS_KEEP=1
	export CHORUSD CHORUS
	node_dir() { echo "$CHORUS_NETNS_DIR/n$1"; }
	chorus_at() { local k=$1; shift; bash "$NETNS_CLUSTER" exec "$k" "$CHORUS" "$@"; }
	stop_cluster() { bash "$NETNS_CLUSTER" down && echo "stopped the $CHORUS_NETNS-* namespaces"; }
	step_start() {
		say "starting $NODES nodes, each in a network namespace of its own (contrib/netns-cluster.sh)"
		bash "$NETNS_CLUSTER" down >/dev/null 2>&1 # a previous --keep run
		echo "\$ contrib/netns-cluster.sh up $NODES --voters 1,3,4 -- $(printf '%q ' "${WORKER_ARGS[@]}")"
		bash "$NETNS_CLUSTER" up "$NODES" --voters 1,3,4 -- "${WORKER_ARGS[@]}" || die "netns-cluster up failed"
	}
	step_show_members() {
		local k
		for k in $(seq 1 "$NODES"); do
			say "contrib/netns-cluster.sh exec $k chorus members   (node $k's view)"
			chorus_at "$k" members
		done
	}
	show_at() { # through the node's namespace: its API is on that namespace's loopback
		local k=$1
		shift
		print_cmd contrib/netns-cluster.sh exec "$k" chorus "$@"
		chorus_at "$k" "$@"
	}
	STEPS="${STEPS/step_jobs/step_wait_ledger step_jobs} step_partition"
}
step_wait_ledger() { # the voters have formed the ledger before the first job
	local deadline=$(($(date +%s) + WAIT_S))
	say "waiting up to ${WAIT_S}s until the voters (nodes 1, 3, 4) elect a ledger leader"
	until chorus_at 1 ledger status 2>/dev/null | grep -q '^leader_name: *n'; do
		[ "$(date +%s)" -lt "$deadline" ] || die "no ledger leader after ${WAIT_S}s"
		sleep 0.2
	done
	chorus_at 1 ledger status | grep '^leader_name'
}
sees_alive() { # sees_alive K N: node K sees N members alive
	[ "$(alive_count "$1")" -eq "$2" ]
}
step_partition() {
	local deadline
	say "partition: nodes 1,2 | nodes 3..$NODES (the link between the two groups is cut)"
	bash "$NETNS_CLUSTER" partition 1,2 "$(seq -s, 3 "$NODES")"
	deadline=$(($(date +%s) + WAIT_S))
	until sees_alive 1 2; do
		[ "$(date +%s)" -lt "$deadline" ] || die "node 1 still sees the other side after ${WAIT_S}s"
		sleep 0.2
	done
	say "node 1's view (the minority: one voter of three cannot credit alone)"
	chorus_at 1 members
	say "node $NODES's view (the majority: voters 3 and 4 go on)"
	chorus_at "$NODES" members
	demo_submit_at "$NODES" echo --data "credited during the partition"
	say "heal"
	bash "$NETNS_CLUSTER" heal
	deadline=$(($(date +%s) + WAIT_S))
	until sees_alive 1 "$NODES"; do
		[ "$(date +%s)" -lt "$deadline" ] || die "node 1 sees $(alive_count 1) of $NODES alive ${WAIT_S}s after the heal"
		sleep 0.2
	done
	say "node 1's view after the heal"
	chorus_at 1 members
}
demo_submit_at() { # demo_submit_at K ARGS...: show and run one submit through node K
	local k=$1 rc=0
	shift
	printf '\n$ chorus submit %s   (on node %s)\n' "$(printf '%q ' "$@")" "$k"
	chorus_at "$k" submit "$@" || rc=$?
	[ "$rc" -eq 0 ] && echo
	echo "(exit $rc)"
}

# ---------------------------------------------------------------- main
usage() { sed -n '2,21s/^# \{0,1\}//p' "$0"; }

while [ $# -gt 0 ]; do
	arg=$1
	shift
	case $arg in
	--base-port)
		[ $# -gt 0 ] || die "--base-port needs a port"
		BASE_PORT=$1
		shift
		;;
	--no-build) BUILD=0 ;;
	--hosts)
		[ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 4 ] || die "--hosts N: N is a number, at least 4"
		hosts_mode "$1"
		shift
		;;
	--keep) KEEP=1 ;;
	--stop) stop_cluster; exit 0 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$arg'" ;;
	esac
done
case $BASE_PORT in
'' | *[!0-9]*) die "bad base port '$BASE_PORT'" ;;
esac
[ "$BASE_PORT" -ge 1024 ] && [ "$BASE_PORT" -le 65500 ] || die "base port $BASE_PORT is not in 1024-65500"
[ "$BUILD" -eq 1 ] || STEPS=${STEPS#step_build}

# Whatever happens, a demo that is not kept leaves no node behind.
on_exit() {
	local status=$?
	if [ "$KEEP" -eq 0 ] || [ "$status" -ne 0 ]; then
		say "stopping the cluster"
		stop_cluster
	fi
	exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

for step in $STEPS; do
	"$step"
done

if [ "$KEEP" -eq 1 ]; then
	say "the cluster keeps running"
	for k in $(seq 1 "$NODES"); do
		echo "  tail -f $(node_dir "$k")/node.log"
	done
	printf '  %q -H %q members\n' "$CHORUS" "http://$(http_addr 1)"
	printf '  %q -H %q submit sha256 --data hello\n' "$CHORUS" "http://$(http_addr 1)"
	echo "  stop it with: $TOP/contrib/$(basename "$0") --stop"
fi

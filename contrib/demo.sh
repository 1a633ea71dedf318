#!/usr/bin/env bash
# A local demo cluster: builds chorus, starts three chorusd nodes on this
# machine (node 1 a client, nodes 2 and 3 workers), waits until they all see
# each other, shows the members table, runs a few real jobs with `chorus
# submit` (built-in kinds, an external command, a failure, a kind nobody
# runs), shows the job table and the gossip (requests, offers, dispatches,
# completion acks) in the nodes' logs, then stops the cluster.
#
#   contrib/demo.sh           run the demo, then stop the nodes
#   contrib/demo.sh --keep    leave the nodes running (stop: contrib/demo.sh --stop)
#   contrib/demo.sh --stop    stop the nodes a --keep run left behind
#   contrib/demo.sh --hosts N run it on N "hosts" (N >= 4): each node in a network
#                             namespace of its own with a real address, nodes 1,3,4
#                             the ledger's voters, and a partition healed
#                             (contrib/netns-cluster.sh; needs root)
#
# Data and logs live under $DEMO_DIR (default /tmp/chorus-demo): nK/node.log.
# Node K listens on tcp://127.0.0.1:747K (fabric) and 127.0.0.1:748K (HTTP).
# To add a step: write a step_* function and list it in STEPS below.
set -eu

cd "$(dirname "$0")/.."
TOP=$PWD
DEMO_DIR=${DEMO_DIR:-/tmp/chorus-demo}
NODES=3
WAIT_S=${DEMO_WAIT_S:-30}
CHORUSD=$TOP/src/node/chorusd
CHORUS=$TOP/src/cli/chorus
KEEP=0

STEPS="step_build step_start step_wait_members step_show_members step_jobs step_show_gossip"
WORKER_ARGS=(--capacity 4 --worker echo --worker sha256 --worker sleep --worker fail
	--worker "wc=wc -w")

say() { printf '\n==> %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

fabric_url() { echo "tcp://127.0.0.1:$((7470 + $1))"; }
http_addr() { echo "127.0.0.1:$((7480 + $1))"; }
node_dir() { echo "$DEMO_DIR/n$1"; }
chorus_at() { # chorus_at K ARGS...: the CLI against node K
	local k=$1
	shift
	"$CHORUS" -H "http://$(http_addr "$k")" "$@"
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
		--http "$(http_addr "$k")" --log-file "$dir/node.log" --keyring "$DEMO_DIR/keyring"
	[ -n "$join" ] && set -- "$@" --join "$join" "${WORKER_ARGS[@]}"
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
	local k
	say "starting $NODES nodes under $DEMO_DIR"
	stop_cluster >/dev/null # a previous --keep run
	# Fresh identities and logs; only our own subdirectories, never DEMO_DIR itself.
	for k in $(seq 1 "$NODES"); do
		rm -rf "$(node_dir "$k")"
	done
	# One network key for the demo's nodes (chorus keygen; chorusd(8), KEYRING).
	(umask 077; "$CHORUS" keygen >"$DEMO_DIR/keyring") || die "chorus keygen failed"
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
		say "chorus -H http://$(http_addr "$k") members   (node $k's view)"
		chorus_at "$k" members
	done
}

demo_submit() { # demo_submit ARGS...: show and run one submit through node 1
	local rc=0
	printf '\n$ chorus submit %s\n' "$*"
	chorus_at 1 submit "$@" || rc=$?
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
	demo_submit echo --data "hello from chorus"
	demo_submit sha256 --data abc
	demo_submit wc --data "an external command counts these five words"
	demo_submit sleep --data 300
	demo_submit fail
	demo_submit nosuchkind --data x
	say "chorus jobs   (node 1's job table, kept in $(node_dir 1)/jobs.db)"
	chorus_at 1 jobs
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

# ---------------------------------------------------------------- main
usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; }

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
	STEPS="${STEPS/step_jobs/step_wait_ledger step_jobs} step_ledger step_partition"
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
ledger_credits() { # node 1's ledger has a leader and credits
	chorus_at 1 -j ledger status 2>/dev/null | grep -q '"credited":[[:space:]]*[1-9]'
}
step_ledger() {
	local deadline=$(($(date +%s) + WAIT_S))
	until ledger_credits; do
		[ "$(date +%s)" -lt "$deadline" ] || die "node 1's ledger credits nothing after ${WAIT_S}s"
		sleep 0.2
	done
	say "chorus ledger status   (node 1, a voter: the jobs above are credited)"
	chorus_at 1 ledger status
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

prev=""
for arg in "$@"; do
	if [ "$prev" = --hosts ]; then
		[[ $arg =~ ^[0-9]+$ ]] && [ "$arg" -ge 4 ] || die "--hosts N: N is a number, at least 4"
		hosts_mode "$arg"
		prev=""
		continue
	fi
	prev=$arg
	case $arg in
	--hosts) ;;
	--keep) KEEP=1 ;;
	--stop)
		# A --keep run of either kind: both are stopped.
		stop_cluster
		[ -d "$DEMO_DIR/hosts" ] && hosts_mode 4 && stop_cluster
		exit 0 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$arg'" ;;
	esac
done
[ "$prev" = --hosts ] && die "--hosts needs N"

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
	if [ "$HOSTS" -eq 1 ]; then
		echo "  $NETNS_CLUSTER exec 1 chorus members"
	else
		echo "  $CHORUS -H http://$(http_addr 1) members"
		echo "  $CHORUS -H http://$(http_addr 1) submit sha256 --data hello"
	fi
	echo "  stop it with: $TOP/contrib/$(basename "$0") --stop"
fi

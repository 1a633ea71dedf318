#!/usr/bin/env bash
# A chorus cluster of N "hosts" on one machine: each node in a network
# namespace of its own, with a real address (not loopback), joined by veth
# links to a bridge that lives in a namespace of its own too.  Nothing of the
# host's own network is touched: the links are made inside the namespaces.
#
#   contrib/netns-cluster.sh up N [--voters I,J,..] [-- CHORUSD-ARGS...]
#   contrib/netns-cluster.sh down
#   contrib/netns-cluster.sh partition I,J.. K,L.. [...]
#   contrib/netns-cluster.sh heal
#   contrib/netns-cluster.sh exec I CMD [ARGS...]
#   contrib/netns-cluster.sh status
#
# up         makes namespaces PREFIX-1..PREFIX-N and PREFIX-br, gives node I
#            the address NET.I/24 on its eth0 (its veth's other end, vI, is a
#            port of the bridge br0), and starts the repo's chorusd in each:
#            --listen tcp://0.0.0.0:7470 --advertise tcp://NET.I:7470, the HTTP
#            API on the namespace's loopback (127.0.0.1:7480), one keyring
#            for all, nodes 2..N joining node 1.  --voters I,J,.. makes those
#            nodes the ledger's voters (--voter --bootstrap-expect, --voters
#            with their ids).  CHORUSD-ARGS go to every node (default:
#            --capacity 4 --worker echo --worker sha256 --worker sleep).
#            Every `up` is a fresh cluster: DIR/nI (data, logs) is made anew.
#            Returns once every node's API answers (at most 30 s).
# partition  cuts the links between groups: the nodes of each group after
#            the first move to a bridge of their own (nodes named in no group
#            stay with the first); packets between groups go nowhere, as if
#            the cable between two switches were pulled.
# heal       puts every node back on br0.
# exec       runs CMD in node I's namespace; `chorus` means the repo's CLI,
#            which there finds its node at 127.0.0.1:7480.
# down       stops the nodes (by the pids `up` recorded, then whatever still
#            runs in our namespaces) and deletes the namespaces; it works
#            after any failure, even a half-done `up`.  The state directory
#            is removed too, unless CHORUS_NETNS_KEEP=1.
#
# Environment: CHORUS_NETNS (name prefix, default "chorus"; give each
# concurrent cluster its own), CHORUS_NETNS_DIR (data, logs, pids; default
# /tmp/chorus-netns-PREFIX), CHORUS_NETNS_NET (the /24's first three octets,
# default 10.77.0; clusters are isolated, so they may share it), CHORUSD and
# CHORUS (binaries; default this checkout's build).  Needs root (ip netns).
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
P=${CHORUS_NETNS:-chorus}
DIR=${CHORUS_NETNS_DIR:-/tmp/chorus-netns-$P}
NET=${CHORUS_NETNS_NET:-10.77.0}
CHORUSD=${CHORUSD:-$TOP/src/node/chorusd}
CHORUS=${CHORUS:-$TOP/src/cli/chorus}
FPORT=7470
HPORT=7480
NODES_MAX=250
UP_WAIT_S=${CHORUS_NETNS_WAIT_S:-30}
DEFAULT_ARGS=(--capacity 4 --worker echo --worker sha256 --worker sleep)

die() { echo "netns-cluster: $*" >&2; exit 1; }
usage() { sed -n '7,12s/^# \{0,1\}//p' "$0"; }

BR=$P-br
ns() { echo "$P-$1"; }
addr() { echo "$NET.$1"; }
nodes() { cat "$DIR/nodes" 2>/dev/null || echo 0; }
# Our namespaces, found by name: `down` needs no state to find them.
our_namespaces() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$(printf '%s' "$P" | sed 's/[.[\*^$]/\\&/g')-(br|[0-9]+)\$"
}

# ---------------------------------------------------------------- up
net_up() { # net_up N: the namespaces, the bridge and one veth per node
	local n=$1 i
	ip netns add "$BR" || return 1
	ip -n "$BR" link set lo up &&
		ip -n "$BR" link add br0 type bridge &&
		ip -n "$BR" link set br0 up || return 1
	for i in $(seq 1 "$n"); do
		ip netns add "$(ns "$i")" || return 1
		# Made in the bridge's namespace, the other end moved straight into the node's.
		ip -n "$BR" link add "v$i" type veth peer name eth0 netns "$(ns "$i")" &&
			ip -n "$BR" link set "v$i" master br0 &&
			ip -n "$BR" link set "v$i" up &&
			ip -n "$(ns "$i")" link set lo up &&
			ip -n "$(ns "$i")" addr add "$(addr "$i")/24" dev eth0 &&
			ip -n "$(ns "$i")" link set eth0 up || return 1
	done
}

node_start() { # node_start I VOTER-ARGS-VAR... : chorusd in namespace I
	local i=$1 d
	shift
	d=$DIR/n$i
	mkdir -p "$d"
	local -a args=(--name "n$i" --data-dir "$d" --keyring "$DIR/keyring"
		--listen "tcp://0.0.0.0:$FPORT" --advertise "tcp://$(addr "$i"):$FPORT"
		--http "127.0.0.1:$HPORT" --log-file "$d/node.log")
	[ "$i" -gt 1 ] && args+=(--join "tcp://$(addr 1):$FPORT")
	ip netns exec "$(ns "$i")" "$CHORUSD" "${args[@]}" "$@" >"$d/stderr.log" 2>&1 </dev/null &
	echo $! >"$d/pid"
}

node_answers() { # the node's API answers (inside its namespace)
	ip netns exec "$(ns "$1")" "$CHORUS" -t 2 status >/dev/null 2>&1
}

wait_up() { # every node runs and answers, at most UP_WAIT_S
	local n=$1 i deadline=$(($(date +%s) + UP_WAIT_S))
	for i in $(seq 1 "$n"); do
		until node_answers "$i"; do
			kill -0 "$(cat "$DIR/n$i/pid")" 2>/dev/null ||
				die "node $i exited: $(tail -n 3 "$DIR/n$i/stderr.log" 2>/dev/null)"
			[ "$(date +%s)" -lt "$deadline" ] || die "node $i's API does not answer after ${UP_WAIT_S}s"
			sleep 0.1
		done
	done
}

cmd_up() {
	local n=${1:-} voters="" i ids="" extra=()
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le $NODES_MAX ] || die "up N: N in 1..$NODES_MAX"
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--voters) [ $# -ge 2 ] || die "--voters needs I,J,.."; voters=$2; shift 2 ;;
		--) shift; extra=("$@"); break ;;
		*) die "up: unknown argument '$1'" ;;
		esac
	done
	[ ${#extra[@]} -gt 0 ] || extra=("${DEFAULT_ARGS[@]}")
	[ -x "$CHORUSD" ] || die "$CHORUSD is not built (bash contrib/setup.sh)"
	[ -x "$CHORUS" ] || die "$CHORUS is not built (bash contrib/setup.sh)"
	[ -z "$(our_namespaces)" ] || die "namespaces $P-* exist already: netns-cluster.sh down first"
	mkdir -p "$DIR" || die "cannot make $DIR"
	# A fresh cluster: new identities and state (the keyring is new too).
	for i in $(seq 1 "$n"); do rm -rf "${DIR:?}/n$i"; done
	echo "$n" >"$DIR/nodes"
	(umask 077; "$CHORUS" keygen >"$DIR/keyring") || die "chorus keygen failed"
	net_up "$n" || { cmd_down >/dev/null 2>&1; die "cannot build the network (ip netns needs root)"; }
	local -a vargs=()
	if [ -n "$voters" ]; then
		for i in ${voters//,/ }; do
			[[ $i =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$n" ] || die "--voters: no node '$i'"
			mkdir -p "$DIR/n$i"
			ids="$ids${ids:+,}$("$CHORUSD" --print-id --data-dir "$DIR/n$i")" || die "--print-id failed"
		done
		vargs=(--voter --bootstrap-expect "$(echo "${voters//,/ }" | wc -w)" --voters "$ids")
	fi
	for i in $(seq 1 "$n"); do
		if [[ ",$voters," == *",$i,"* ]]; then
			node_start "$i" "${vargs[@]}" "${extra[@]}"
		else
			node_start "$i" "${extra[@]}"
		fi
	done
	wait_up "$n"
	for i in $(seq 1 "$n"); do
		echo "node $i: namespace $(ns "$i"), fabric tcp://$(addr "$i"):$FPORT, pid $(cat "$DIR/n$i/pid"), log $DIR/n$i/node.log"
	done
}

# ---------------------------------------------------------------- down
cmd_down() {
	local i pid pids nsn deadline
	pids=""
	for f in "$DIR"/n*/pid; do
		[ -f "$f" ] && pids="$pids $(cat "$f")"
	done
	for nsn in $(our_namespaces); do
		pids="$pids $(ip netns pids "$nsn" 2>/dev/null)"
	done
	# Once each: a second TERM would make a node stop at once, without its leave.
	pids=$(echo $pids | tr ' ' '\n' | sort -un)
	for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
	# A clean leave takes NODE_LEAVE_FLUSH_MS; then whatever is left is killed.
	deadline=$(($(date +%s) + 3))
	for pid in $pids; do
		while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.05; done
		kill -KILL "$pid" 2>/dev/null
	done
	for nsn in $(our_namespaces); do
		for pid in $(ip netns pids "$nsn" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$nsn" 2>/dev/null || echo "netns-cluster: cannot delete namespace $nsn" >&2
	done
	rm -f "$DIR"/n*/pid
	if [ "${CHORUS_NETNS_KEEP:-0}" != 1 ] && [ -d "$DIR" ] && [ -f "$DIR/nodes" ]; then
		rm -rf "$DIR"
	fi
	[ -z "$(our_namespaces)" ]
}

# ---------------------------------------------------------------- partition, heal
cmd_partition() {
	local n g k=0 i seen=","
	n=$(nodes)
	[ "$n" -ge 1 ] || die "no cluster is up ($DIR/nodes)"
	[ $# -ge 2 ] || die "partition needs at least two groups: I,J.. K,L.."
	cmd_heal
	for g in "$@"; do
		k=$((k + 1))
		for i in ${g//,/ }; do
			[[ $i =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$n" ] || die "partition: no node '$i'"
			[[ $seen == *",$i,"* ]] && die "partition: node $i is in two groups"
			seen="$seen$i,"
			[ "$k" -eq 1 ] && continue # the first group stays on br0
			ip -n "$BR" link show "br$k" >/dev/null 2>&1 ||
				{ ip -n "$BR" link add "br$k" type bridge && ip -n "$BR" link set "br$k" up; } ||
				die "cannot make bridge br$k"
			ip -n "$BR" link set "v$i" master "br$k" || die "cannot move node $i"
		done
	done
	echo "partitioned: $*"
}

cmd_heal() {
	local n i b
	n=$(nodes)
	for i in $(seq 1 "$n"); do
		ip -n "$BR" link set "v$i" master br0 2>/dev/null || die "cannot put node $i back on br0"
	done
	for b in $(ip -n "$BR" -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		[ "$b" = br0 ] || ip -n "$BR" link del "$b"
	done
}

# ---------------------------------------------------------------- exec, status
cmd_exec() {
	local i=${1:-}
	[[ $i =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$(nodes)" ] || die "exec I CMD: no node '$i'"
	shift
	[ $# -ge 1 ] || die "exec I CMD: no command"
	[ "$1" = chorus ] && set -- "$CHORUS" "${@:2}"
	exec ip netns exec "$(ns "$i")" "$@"
}

cmd_status() {
	local n i pid state b
	n=$(nodes)
	for i in $(seq 1 "$n"); do
		pid=$(cat "$DIR/n$i/pid" 2>/dev/null)
		state=stopped
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && state="running (pid $pid)"
		b=$(ip -n "$BR" -o link show "v$i" 2>/dev/null | grep -o 'master [^ ]*' | cut -d' ' -f2)
		echo "node $i: $(ns "$i") $(addr "$i") ${b:-no link} $state"
	done
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
partition) shift; cmd_partition "$@" ;;
heal) cmd_heal && echo healed ;;
exec) shift; cmd_exec "$@" ;;
status) cmd_status ;;
-h | --help) usage ;;
*) usage >&2; exit 1 ;;
esac

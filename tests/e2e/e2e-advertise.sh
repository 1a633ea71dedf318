#!/bin/bash
# End-to-end: the fabric address a node publishes (chorusd --advertise, src/node/advertise.c).
#  - --advertise values that peers could not dial (wildcards, ipc, no port) are refused;
#  - in network namespaces (contrib/netns-cluster.sh: real addresses, a bridge):
#    a node listening on tcp://0.0.0.0 with --advertise is listed by another
#    node at the advertised address; one listening on a wildcard without
#    --advertise is listed at its interface's address (no default route: the
#    first interface off loopback), never at 0.0.0.0, and is reachable there;
#    with a default route, the default route's source address is published;
#    with no interface off loopback, chorusd refuses to start and says to
#    give --advertise.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base e2e-advertise)
D=$TEST_TMP/check
# check_only ARGS...: chorusd -n (checks and prints, starts nothing) into $OUT/$ERR
check_only() { "$CHORUSD" -n --insecure-open --data-dir "$D" "$@"; }

# ---------------------------------------------------------------- refused values
for bad in "tcp://0.0.0.0:7470" "tcp://[::]:7470" "tcp://0:7470" "ipc:///tmp/x" "tcp://host.example" \
	"tcp://host.example:0" "http://host.example:7470"; do
	check "--advertise $bad is refused" run 1 check_only --listen "tcp://127.0.0.1:$base" --advertise "$bad"
done
check "and the message says what is wanted" grep -q "tcp://HOST:PORT" "$ERR"
printf 'listen tcp://0.0.0.0:%s\nadvertise tcp://0.0.0.0:%s\n' "$base" "$base" >"$TEST_TMP/wild.conf"
check "the config key advertise is checked the same way" run 1 check_only --config "$TEST_TMP/wild.conf"
check "  (naming the file's line)" grep -q "wild.conf:2: .*wildcard" "$ERR"
check "a loopback --listen is published as it is" run 0 check_only --listen "tcp://127.0.0.1:$base"
check "  (said by -n)" out_has "published: tcp://127.0.0.1:$base (from listen)"
check "--advertise is published instead of --listen" \
	run 0 check_only --listen "tcp://0.0.0.0:$base" --advertise "tcp://node7.example:9999"
check "  (said by -n)" out_has "published: tcp://node7.example:9999 (from advertise)"

# ---------------------------------------------------------------- in namespaces
command -v ip >/dev/null 2>&1 || { skip "ip(8) needed for network namespaces"; done_testing; exit; }
NETNS=$top_srcdir/contrib/netns-cluster.sh
export CHORUS_NETNS=chadv$$ CHORUS_NETNS_DIR=$TEST_TMP CHORUS_NETNS_KEEP=1 CHORUSD CHORUS
if ! ip netns add "$CHORUS_NETNS-probe" 2>/dev/null; then
	skip "ip netns add fails (needs root and network namespaces)"
	done_testing; exit
fi
ip netns del "$CHORUS_NETNS-probe"
trap 'bash "$NETNS" down >/dev/null 2>&1; cleanup' EXIT
trap 'exit 130' INT TERM
in_ns() { i=$1; shift; ip netns exec "$CHORUS_NETNS-$i" "$@"; }
q() { i=$1; shift; in_ns "$i" bash -c "$(declare -f qv); qv \"\$@\"" qv "$@"; }

if ! bash "$NETNS" up 2 -- --capacity 1 >"$TEST_TMP/up.out" 2>&1; then
	sed 's/^/# /' "$TEST_TMP/up.out"
	ok 1 "two nodes start in namespaces"
	done_testing; exit 1
fi
check "n1 listens on a wildcard and says it publishes its --advertise address" \
	q 1 status "d['fabric'] == 'tcp://0.0.0.0:7470' and d['fabric_addr'] == 'tcp://10.77.0.1:7470'" 7480
n1_listed() { q 2 members "any(m['name'] == 'n1' and m['addr'] == 'tcp://10.77.0.1:7470' and m['state'] == 'alive' for m in d['members'])" 7480; }
check "n2 lists n1 at the advertised address, alive" wait_until 15000 n1_listed

# A third node in n2's namespace: a wildcard --listen and no --advertise.
mkdir -p "$TEST_TMP/w"
in_ns 2 "$CHORUSD" --name w --data-dir "$TEST_TMP/w" --keyring "$TEST_TMP/keyring" \
	--listen tcp://0.0.0.0:7471 --http 127.0.0.1:7481 --log-file "$TEST_TMP/w/node.log" \
	--join tcp://10.77.0.1:7470 >"$TEST_TMP/w.out" 2>&1 &
track $!
w_listed() { q 1 members "any(m['name'] == 'w' and m['addr'] == 'tcp://10.77.0.2:7471' and m['state'] == 'alive' for m in d['members'])" 7480; }
check "a wildcard --listen without --advertise: n1 lists it at its interface's address, alive" \
	wait_until 15000 w_listed
no_wildcard() { q "$1" members "not any('0.0.0.0' in m['addr'] or '[::]' in m['addr'] for m in d['members'])" "$2"; }
check "n1 lists no member at a wildcard address" no_wildcard 1 7480
check "w lists no member at a wildcard address (its own row too)" no_wildcard 2 7481
check "w's log names the rule that chose its address" \
	grep -q "event=start .*addr=tcp://10.77.0.2:7471 addr_from=first-interface" "$TEST_TMP/w/node.log"

# A default route (through a second link of n2's namespace) takes precedence.
in_ns 2 ip link add d0 type veth peer name d1 &&
	in_ns 2 ip addr add 10.78.0.2/24 dev d0 &&
	in_ns 2 ip link set d1 up && in_ns 2 ip link set d0 up &&
	in_ns 2 ip route add default via 10.78.0.1 dev d0
check "with a default route, the address of its interface is published" \
	run 0 in_ns 2 "$CHORUSD" -n --insecure-open --data-dir "$D" --listen tcp://0.0.0.0:7472
check "  (said by -n)" out_has "published: tcp://10.78.0.2:7472 (from default-route)"

# A namespace with loopback alone: nothing to publish, so no start.
ip netns add "$CHORUS_NETNS-99" && ip -n "$CHORUS_NETNS-99" link set lo up
check "with no address off loopback, a wildcard --listen is refused at start" \
	run 1 in_ns 99 "$CHORUSD" --insecure-open --data-dir "$TEST_TMP/lonely" --listen tcp://0.0.0.0:7470 \
	--http 127.0.0.1:7480
check "  saying to give --advertise" grep -q "give --advertise" "$ERR"
check "  before making anything" test ! -e "$TEST_TMP/lonely/node.key"
check "  while --advertise lets it through" \
	run 0 in_ns 99 "$CHORUSD" -n --insecure-open --data-dir "$D" --listen tcp://0.0.0.0:7470 \
	--advertise tcp://198.51.100.7:7470

done_testing

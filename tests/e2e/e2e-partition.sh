#!/bin/bash
# End-to-end: a network partition between real "hosts".  Five chorusd, each in
# a network namespace of its own with a real address (10.77.0.I, not
# loopback), joined by veth links to a bridge (contrib/netns-cluster.sh).
# Nodes 1, 3 and 4 are the ledger's voters, every node is a worker, and a
# client on each side submits jobs all along (node 2 and node 5).
#  - before: all five see all five alive, one leader, jobs credited;
#  - partition {1,2} | {3,4,5} (the minority holds one voter, the majority
#    two): each side sees the other dead; the minority goes on running its
#    jobs but stops crediting (its voter's ledger height does not move and
#    its client's acks wait in the outbox); the majority elects a leader if
#    it lacks one and goes on crediting;
#  - heal: every node sees all five alive again within a bound, every job
#    accepted on either side is final and succeeded, and each is credited
#    exactly once on every voter (credited == accepted, none missing), with
#    one head hash.
# Every wait is bounded; the namespaces and processes go on exit, pass or fail.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"
command -v ip >/dev/null 2>&1 || skip_all "ip(8) (iproute2) needed for network namespaces"

NETNS=$top_srcdir/contrib/netns-cluster.sh
# A prefix of our own: parallel runs make namespaces of other names.
export CHORUS_NETNS=chpart$$ CHORUS_NETNS_DIR=$TEST_TMP CHORUS_NETNS_KEEP=1 CHORUSD CHORUS
ip netns add "$CHORUS_NETNS-probe" 2>/dev/null ||
	skip_all "ip netns add fails (needs root and network namespaces): cannot build the cluster"
ip netns del "$CHORUS_NETNS-probe"
netns_down() { bash "$NETNS" down >/dev/null 2>&1 || echo "# netns-cluster down failed"; }
trap 'netns_down; cleanup' EXIT
trap 'exit 130' INT TERM

scale=${CHORUS_TIME_SCALE:-1}
VOTERS="1 3 4"
HP=7480 # every node's API, on its namespace's loopback
in_ns() { i=$1; shift; ip netns exec "$CHORUS_NETNS-$i" "$@"; }
cl() { i=$1; shift; in_ns "$i" "$CHORUS" "$@"; }
# q [-p] NODE PATH EXPR: qv (tests/lib.sh) inside node NODE's namespace.
q() {
	if [ "$1" = -p ]; then shift; set -- "$1" -p "${@:2}"; fi
	i=$1; shift
	in_ns "$i" bash -c "$(declare -f qv); qv \"\$@\"" qv "$@" "$HP"
}
q_all() { # q_all EXPR-PATH EXPR NODES...: true on every one
	path=$1 expr=$2; shift 2
	for i in "$@"; do q "$i" "$path" "$expr" || return 1; done
}
alive_are() { # alive_are K NODES...: each of NODES sees exactly K members alive
	k=$1; shift
	q_all members "sum(m['state'] == 'alive' for m in d['members']) == $k" "$@"
}
sees_not_alive() { # sees_not_alive NODE OTHERS...: NODE holds none of OTHERS alive
	i=$1; shift
	names=$(printf "'n%s'," "$@")
	q "$i" members "not any(m['name'] in [$names] and m['state'] == 'alive' for m in d['members'])"
}
leader_of() { q -p "$1" ledger "d['leader']" 2>/dev/null; }
one_leader() { # one_leader NODES...: all name the same leader, not none
	l=""
	for i in "$@"; do
		x=$(leader_of "$i") || return 1
		[ "$x" != 0000000000000000 ] && { [ -z "$l" ] || [ "$x" = "$l" ]; } || return 1
		l=$x
	done
}
height_of() { q -p "$1" ledger "d['height']"; }

if ! bash "$NETNS" up 5 --voters 1,3,4 -- --capacity 4 --worker echo >"$TEST_TMP/up.out" 2>&1; then
	sed 's/^/# /' "$TEST_TMP/up.out"
	ok 1 "five nodes start, each in its own namespace"
	done_testing; exit 1
fi
ok 0 "five nodes start, each in its own namespace"
t0=$(now_ms)
check "every node sees all five alive" wait_until $((20000 * scale)) alive_are 5 1 2 3 4 5
diag "members converged $(( $(now_ms) - t0 )) ms after start"
check "node 2 lists the others at their own addresses (10.77.0.I), not a wildcard" \
	q 2 members "sorted(m['addr'] for m in d['members']) == ['tcp://10.77.0.%d:7470' % i for i in range(1, 6)]"
check "the three voters agree on a leader" wait_until $((15000 * scale)) one_leader $VOTERS

# ---------------------------------------------------------------- a client on each side
submitter() { # submitter I: jobs through node I until $TEST_TMP/stop; accepted ids to acc.I
	for k in $(seq 1 1000); do
		[ -f "$TEST_TMP/stop" ] && break
		if id=$(cl "$1" submit echo --data "from n$1 #$k" --timeout 5 --detach 2>>"$TEST_TMP/sub.err.$1"); then
			echo "$id" >>"$TEST_TMP/acc.$1"
		fi
		sleep 0.1 # a steady stream, not a flood
	done
}
: >"$TEST_TMP/acc.2"
: >"$TEST_TMP/acc.5"
submitter 2 & track $!
SUB2=$!
submitter 5 & track $!
SUB5=$!
count() { wc -l <"$TEST_TMP/acc.$1"; }
credited_at_least() { q "$1" ledger "d['credited'] >= $2"; }
check "jobs from both clients are credited before the partition" \
	wait_until $((20000 * scale)) credited_at_least 3 10

# ---------------------------------------------------------------- partition
bash "$NETNS" partition 1,2 3,4,5 >/dev/null
t0=$(now_ms)
sides_split() { sees_not_alive 2 3 4 5 && sees_not_alive 5 1 2 && sees_not_alive 1 3 4 5 && sees_not_alive 3 1 2; }
check "partitioned: each side sees the other side not alive" wait_until $((20000 * scale)) sides_split
diag "sides split $(( $(now_ms) - t0 )) ms after the links were cut"
ID1=$(q -p 1 ledger "d['id']")
majority_leads() { one_leader 3 4 && [ "$(leader_of 3)" != "$ID1" ]; }
check "the majority side has a leader of its own" wait_until $((15000 * scale)) majority_leads
h1=$(height_of 1) h3=$(height_of 3) c2=$(count 2) c5=$(count 5)
diag "at the split: minority voter n1 height $h1, majority voter n3 height $h3; accepted so far n2 $c2, n5 $c5"
both_move() { [ "$(count 2)" -ge $((c2 + 15)) ] && [ "$(count 5)" -ge $((c5 + 15)) ] && [ "$(height_of 3)" -gt "$h3" ]; }
check "during the partition both clients go on, and the majority's ledger grows" \
	wait_until $((30000 * scale)) both_move
minority_jobs_done() { # node 2's jobs accepted during the partition ran (on n1, n2) and succeeded
	cl 2 -j jobs --limit 1000 2>/dev/null | python3 -c "
import json, sys
jobs = {j['id']: j for j in json.load(sys.stdin)['jobs']}
ids = [l.strip() for l in open('$TEST_TMP/acc.2')][$c2:$c2 + 15]
sys.exit(0 if all(jobs.get(i, {}).get('state') == 'succeeded' for i in ids) else 1)"
}
check "the minority's jobs still run and succeed" wait_until $((15000 * scale)) minority_jobs_done
h1b=$(height_of 1) h3b=$(height_of 3)
diag "later: minority n1 height $h1b (was $h1), majority n3 height $h3b (was $h3)"
check "the minority stops crediting: its voter's height did not move ($h1 -> $h1b)" test "$h1b" = "$h1"
check "the majority goes on crediting ($h3 -> $h3b)" test "$h3b" -gt "$h3"
check "the minority client's acks wait in its outbox" q 2 ledger "d['outbox_open'] > 0"

# ---------------------------------------------------------------- heal
bash "$NETNS" heal >/dev/null
t0=$(now_ms)
if wait_until $((30000 * scale)) alive_are 5 1 2 3 4 5; then
	diag "members converged $(( $(now_ms) - t0 )) ms after the heal"
	ok 0 "healed: every node sees all five alive again"
else
	for i in 1 2 3 4 5; do q -p "$i" members "[(m['name'], m['state']) for m in d['members']]" | sed "s/^/# n$i: /"; done
	ok 1 "healed: every node sees all five alive again"
fi
touch "$TEST_TMP/stop"
wait "$SUB2" "$SUB5" 2>/dev/null
n2=$(count 2) n5=$(count 5) total=$(( $(count 2) + $(count 5) ))
diag "accepted: $n2 through n2 (minority), $n5 through n5 (majority)"
all_final() { # every job accepted through node I is final and succeeded in its table
	cl "$1" -j jobs --limit 1000 2>/dev/null | python3 -c "
import json, sys
jobs = {j['id']: j for j in json.load(sys.stdin)['jobs']}
ids = [l.strip() for l in open('$TEST_TMP/acc.$1')]
bad = [i for i in ids if jobs.get(i, {}).get('state') != 'succeeded' or not jobs[i]['final']]
if bad: print('# n$1: %d not final/succeeded, e.g. %s' % (len(bad), bad[:3]))
sys.exit(0 if not bad else 1)"
}
check "every job accepted through n2 is final and succeeded" wait_until $((30000 * scale)) all_final 2
check "every job accepted through n5 is final and succeeded" wait_until $((30000 * scale)) all_final 5
cat "$TEST_TMP/acc.2" "$TEST_TMP/acc.5" >"$TEST_TMP/acc.all"
credited_once() { # on voter I: credited == every accepted job, each found in the ledger
	q "$1" ledger "d['credited'] == $total" || return 1
	in_ns "$1" python3 - "$TEST_TMP/acc.all" "$HP" <<'EOF'
import json, sys, urllib.request
for jid in open(sys.argv[1]).read().split():
    with urllib.request.urlopen("http://127.0.0.1:%s/v1/ledger/jobs/%s" % (sys.argv[2], jid), timeout=2) as r:
        if json.load(r).get('outcome') != 'credited':
            sys.exit(1)
EOF
}
voters_credited() { for i in $VOTERS; do credited_once "$i" || return 1; done; }
t0=$(now_ms)
if wait_until $((30000 * scale)) voters_credited; then
	diag "all $total jobs credited on every voter $(( $(now_ms) - t0 )) ms after the clients stopped"
	ok 0 "every accepted job ($total) is credited exactly once on every voter"
else
	for i in $VOTERS; do q -p "$i" ledger "(d['height'], d['credited'], d['duplicates'])" | sed "s/^/# n$i (height, credited, duplicates): /"; done
	ok 1 "every accepted job ($total) is credited exactly once on every voter"
fi
same_head() {
	heads=$(for i in $VOTERS; do q -p "$i" ledger "'%d %s' % (d['height'], d['head_hash'])" || echo none; done)
	[ "$(echo "$heads" | sort -u | wc -l)" -eq 1 ]
}
check "the voters hold one chain (same height and head hash)" wait_until $((10000 * scale)) same_head
q -p 3 ledger "(d['credited'], d['duplicates'])" | sed 's/^/# n3 credited, duplicates (acks sent again and refused): /'
for i in $VOTERS; do check "chorus ledger verify passes on voter n$i" run 0 cl "$i" ledger verify; done

done_testing

#!/bin/bash
# End-to-end: forming the first voter set with more candidates than
# --bootstrap-expect (docs/ledger-node.md, "Bootstrap").
#  - 4 voter candidates with --bootstrap-expect 3 start at once: exactly 3
#    boot as the first voters (one agreed set), the 4th boots as a non-member
#    and the leader adds it (all five are listed with --voters); all 4 name
#    one leader and one voter set;
#  - a 5th candidate started later joins that cluster (never forms its own).
# Every wait is bounded; every process is tracked and killed on exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base "e2e-bootstrap $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
ports_of() { for i in "$@"; do hport "$i"; done; }
declare -a PID
# The operator lists all five (--voters): only listed candidates are added after the bootstrap.
VOTERS=$(for i in 1 2 3 4 5; do node_key "$TEST_TMP/n$i"; done | paste -sd,)
start_voter() { start_node "$1" --voter --bootstrap-expect 3 --voters "$VOTERS" --join "tcp://127.0.0.1:$(fport 1)"; }

# one_cluster N NODES...: all name the same leader and the same voter set of N voters.
one_cluster() {
	want=$1; shift
	views=$(qv -p ledger "'%s %s' % (d['leader'], ','.join(sorted(v['id'] for v in d['voters'])))" \
		$(ports_of "$@")) || return 1
	[ "$(echo "$views" | sort -u | wc -l)" -eq 1 ] || return 1
	set -- $(echo "$views" | head -1)
	[ "$1" != 0000000000000000 ] && [ "$(echo "$2" | tr ',' '\n' | grep -c .)" -eq "$want" ]
}
booted() { grep -h "event=bootstrap" "$TEST_TMP"/n*/node.log 2>/dev/null; }

for i in 1 2 3 4; do start_voter "$i"; done
t0=$(now_ms)
if wait_until 30000 one_cluster 4 1 2 3 4; then
	diag "one cluster of 4 voters $(( $(now_ms) - t0 )) ms after start"
	ok 0 "4 candidates, --bootstrap-expect 3: one leader, one voter set, the 4th added"
else
	qv -p ledger "(d['state'], d['leader'], [v['id'] for v in d['voters']])" $(ports_of 1 2 3 4) |
		sed 's/^/# /'
	ok 1 "4 candidates, --bootstrap-expect 3: one leader, one voter set, the 4th added"
fi
booted | sed 's/^/# /'
check "each candidate bootstrapped once" test "$(booted | wc -l)" -eq 4
check "exactly 3 booted as the first voters" test "$(booted | grep -c 'voters=3 member=yes')" -eq 3
check "the 4th booted as a non-member" test "$(booted | grep -c 'voters=0 member=no')" -eq 1
check "nobody booted alone or with another set" \
	test "$(booted | grep -Ec 'voters=(1|2|[4-9]) ')" -eq 0

start_voter 5
t0=$(now_ms)
if wait_until 30000 one_cluster 5 1 2 3 4 5; then
	diag "the late candidate is a voter $(( $(now_ms) - t0 )) ms after its start"
	ok 0 "a candidate started later joins the cluster as a voter"
else
	qv -p ledger "(d['state'], d['leader'], [v['id'] for v in d['voters']])" $(ports_of 1 2 3 4 5) |
		sed 's/^/# /'
	ok 1 "a candidate started later joins the cluster as a voter"
fi
check "the late candidate did not form a cluster of its own" \
	grep -q "event=bootstrap voters=0 member=no" "$TEST_TMP/n5/node.log"
done_testing

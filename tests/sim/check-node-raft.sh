#!/bin/sh
# Build check (issue 16): Raft is reached only through the consensus
# interface (include/chorus/consensus.h), implemented over Raft by
# src/core/consensus/consensus-raft.c.  Nothing else in the product calls a raft_*
# function: not the ledger voter (src/core/ledger/voter.c), not the rest of the
# core, not the shell (src/node/), the CLI or the benchmarks.  Raft itself
# (src/core/raft/raft*.c), its unit tests and the simulator, which drives Raft
# directly to check it (src/sim/), are the exceptions.  The shell may use the
# pure helpers below (codecs of the stored configuration, error names, a
# predicate over a configuration its bootstrap builds): they decide nothing.
# Neither the shell nor chorus-sim calls the block builder: the voter does.
# consensus.h and voter.h name no Raft type, so a second implementation
# plugs in behind them.  Each grep runs once on planted calls first, so that
# a grep that matched nothing because it was broken cannot pass.
. "$top_srcdir/tests/lib.sh"

ALLOWED='raft_(conf_has|conf_encode|conf_decode|strerror)'

# calls FILE...: the non-comment lines calling raft_* or the block builder outside the allow-list.
calls() {
	grep -nE '(\braft_[a-z_]+|\bledger_block_build[a-z_]*)[[:space:]]*\(' "$@" /dev/null |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' |
		grep -vE "\\b$ALLOWED[[:space:]]*\\(" |
		grep -E '(\braft_[a-z_]+|\bledger_block_build[a-z_]*)[[:space:]]*\('
}

# raft_calls FILE...: the non-comment lines calling any raft_* at all.
raft_calls() {
	grep -nE '\braft_[a-z_]+[[:space:]]*\(' "$@" /dev/null |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)'
}

# raft_types FILE...: lines naming a Raft type, constant or header.
raft_types() {
	grep -nE '\bstruct raft[a-z_]*\b|\bRAFT_[A-Z_]+|chorus/raft\.h' "$@" /dev/null
}

cat >"$TEST_TMP/planted.c" <<'C'
static void planted(struct raft *r, struct ledger *l)
{
	raft_status(r, &st); /* a comment: raft_tick(r) */
	(void)raft_conf_has(&st.conf, 1);
	r = ledger_block_build_on(l, NULL, 1, pk, sk, 0, es, 1, &u, &b, &n);
}
C
planted=$(calls "$TEST_TMP/planted.c" | wc -l)
check "the check finds planted calls (raft_status, ledger_block_build_on), not allowed helpers" \
	test "$planted" -eq 2
planted=$(raft_calls "$TEST_TMP/planted.c" | wc -l)
check "the core's check finds every planted raft_* call (helpers too), not comments" \
	test "$planted" -eq 2
planted=$(raft_types "$TEST_TMP/planted.c" | wc -l)
check "the header check finds a planted Raft type" test "$planted" -eq 1

found=$(calls "$top_srcdir"/src/node/*.c "$top_srcdir"/src/cli/*.c "$top_srcdir"/bench/*.c)
[ -z "$found" ] || diag "$found"
check "src/node, src/cli, bench call no raft_* (beyond pure helpers) and no block builder" \
	test -z "$found"

core=$(find "$top_srcdir/src/core" -name '*.c' | grep -vE '/raft/[a-z-]*\.c$|/consensus-raft\.c$')
check "the core's files are found (in its protocol directories)" test "$(echo "$core" | wc -w)" -gt 20
found=$(raft_calls $core)
[ -z "$found" ] || diag "$found"
check "the core outside Raft and consensus-raft.c calls no raft_* (the voter included)" \
	test -z "$found"
check "and consensus-raft.c is where the calls are" \
	test "$(raft_calls "$top_srcdir/src/core/consensus/consensus-raft.c" | wc -l)" -gt 10

found=$(raft_types "$top_srcdir/include/chorus/consensus.h" "$top_srcdir/include/chorus/voter.h" \
	"$top_srcdir/src/core/ledger/voter.c")
[ -z "$found" ] || diag "$found"
check "consensus.h, voter.h and voter.c name no Raft type: a second implementation plugs in" \
	test -z "$found"

# Catch-up's decisions are the core's (src/core/ledger/voter-catchup.c): the shell
# neither applies nor judges a block (no ledger_block_apply/_peek) nor builds
# or reads a backfill message (the catchup-msg codecs); it only turns the
# module's effects into store and fabric I/O.
decisions() {
	grep -nE '\b(ledger_block_(apply|peek)|catchup_(req|blocks|snap)_[a-z]+)[[:space:]]*\(' "$@" /dev/null |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)'
}
cat >"$TEST_TMP/planted2.c" <<'C'
	if (ledger_block_peek(d, n, &bi) != 0) /* ledger_block_apply(l) */
		catchup_req_encode(&q, buf, cap);
C
check "the catch-up check finds planted decisions" \
	test "$(decisions "$TEST_TMP/planted2.c" | wc -l)" -eq 2
found=$(decisions "$top_srcdir"/src/node/*.c)
[ -z "$found" ] || diag "$found"
check "src/node applies, judges and encodes no catch-up block or message: voter-catchup.c does" \
	test -z "$found"
check "the shell drives the core's catch-up (target, tick, messages, blocks read back)" \
	sh -c "for f in voter_catchup_target voter_catchup_tick voter_catchup_on_msg \
	              voter_catchup_read_done voter_catchup_effect; do
	           grep -q \"\$f(\" '$top_srcdir/src/node/catchup.c' || exit 1; done"

check "the shell drives the voter and the log through the interface" \
	sh -c "grep -q 'voter_pump(' '$top_srcdir/src/node/voterd.c' &&
	       grep -q 'voter_apply_block(' '$top_srcdir/src/node/voterd.c' &&
	       grep -q 'consensus_ready(' '$top_srcdir/src/node/voterd.c' &&
	       grep -q 'consensus_step(' '$top_srcdir/src/node/voterd.c'"
check "chorus-sim drives the same module through the same interface (no copy of the builder)" \
	sh -c "grep -q 'voter_pump(' '$top_srcdir/src/sim/sim-ledger.c' &&
	       grep -q 'voter_set_consensus(' '$top_srcdir/src/sim/sim-ledger.c' &&
	       ! grep -qE 'ledger_block_build[a-z_]*[[:space:]]*\\(' '$top_srcdir/src/sim/sim-ledger.c'"

done_testing

#!/bin/sh
# Build check (issue 16): the shell reaches Raft and the block builder only
# through the voter module (src/core/ledger/voter.c, include/chorus/voter.h).  No
# file of src/node/ may call a raft_* function or ledger_block_build*, except
# the pure helpers below (codecs of the wire and stored formats, error and
# state names, a predicate over a configuration struct): they decide nothing.
# The check runs once on a planted call first, so that a grep that matched
# nothing because it was broken cannot pass.
. "$top_srcdir/tests/lib.sh"

ALLOWED='raft_(conf_has|conf_encode|conf_decode|msg_encode|msg_decode|msg_type_name|strerror|state_name)'

# calls FILE...: the non-comment lines calling raft_* or the block builder outside the allow-list.
calls() {
	grep -nE '(\braft_[a-z_]+|\bledger_block_build[a-z_]*)[[:space:]]*\(' "$@" /dev/null |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' |
		grep -vE "\\b$ALLOWED[[:space:]]*\\(" |
		grep -E '(\braft_[a-z_]+|\bledger_block_build[a-z_]*)[[:space:]]*\('
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

found=$(calls "$top_srcdir"/src/node/*.c)
[ -z "$found" ] || diag "$found"
check "src/node calls no raft_* (beyond pure helpers) and no block builder: only through voter_*" \
	test -z "$found"
check "the shell drives the voter module (voter_boot, voter_pump, voter_apply_block)" \
	sh -c "grep -q 'voter_boot(' '$top_srcdir/src/node/consensus.c' &&
	       grep -q 'voter_pump(' '$top_srcdir/src/node/consensus.c' &&
	       grep -q 'voter_apply_block(' '$top_srcdir/src/node/consensus.c'"
check "chorus-sim drives the same module (no copy of the builder there)" \
	sh -c "grep -q 'voter_pump(' '$top_srcdir/src/sim/sim-ledger.c' &&
	       ! grep -qE 'ledger_block_build[a-z_]*[[:space:]]*\\(' '$top_srcdir/src/sim/sim-ledger.c'"

done_testing

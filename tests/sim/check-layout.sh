#!/bin/sh
# Build check (issue 16, "The core, laid out by protocol"): each protocol of
# src/core includes only the headers it should (contrib/check-layout.sh,
# docs/core.md), and the sans-io check reads every protocol directory.  Both
# checks run once on a planted tree first, so that a grep that matched
# nothing because it was broken cannot pass.
. "$top_srcdir/tests/lib.sh"

layout=$top_srcdir/contrib/check-layout.sh
sansio=$top_srcdir/contrib/check-sans-io.sh

# A planted tree: one allowed and one forbidden include per rule.
p=$TEST_TMP/planted/src
mkdir -p "$p/core/raft" "$p/core/base" "$p/core/ledger" "$p/core/membership" \
	"$p/core/dispatch" "$p/node" "$p/sim" "$p/cli"
printf '#include "raft-internal.h"\n#include "base/base.h"\n#include "chorus/raft.h"\n' >"$p/core/raft/ok.c"
printf '#include "core-internal.h"\n' >"$p/core/raft/bad.c"
printf '#include "base/base.h"\n' >"$p/core/base/ok.c"
printf '#include "fabric/fabric.h"\n' >"$p/core/base/bad.c"
printf '#include "dispatch/jobmsg.h"\n#include "chorus/ledger.h"\n' >"$p/core/ledger/ok.c"
printf '#include "membership/membership.h"\n' >"$p/core/ledger/bad.c"
printf '#include "membership/membership-internal.h"\n#include "dispatch/dispatch.h"\n' \
	>"$p/core/membership/ok.c"
printf '#include "dispatch/dispatch-internal.h"\n' >"$p/core/membership/bad.c"
printf '#include "dispatch/dispatch-internal.h"\n' >"$p/core/dispatch/ok.c"
printf '#include "chorus/voter.h"\n#include "fabric/fabric.h"\n' >"$p/sim/ok.c"
printf '#include "core-internal.h"\n' >"$p/node/bad.c"
sh "$layout" "$p" >"$TEST_TMP/planted.out" 2>&1
status=$?
sed "s/^/# /" "$TEST_TMP/planted.out"
check "the layout check fails on a planted tree" test "$status" -ne 0
check "it names each planted violation (raft, base, ledger, membership, node)" \
	test "$(grep -c '/bad\.c:' "$TEST_TMP/planted.out")" -eq 5
check "and no allowed include" sh -c "! grep -q '/ok\.c:' '$TEST_TMP/planted.out'"

# A planted tree for the names: each allowed form once, and two functions named after
# another file (a static one is the file's own business).
n=$TEST_TMP/names/src
mkdir -p "$n/core/ledger" "$n/core/raft"
printf 'int voter_catchup_step(void) { return 0; }\nint voter_x(void) { return 0; }\n' \
	>"$n/core/ledger/voter-catchup.c"
printf 'int core_thing(int a)\n{\n\treturn a;\n}\nconst char *job_state_name(int s) { return 0; }\n' \
	>"$n/core/ledger/ok.c"
printf 'static int helper(void) { return 0; }\nint raft_msg_decode(void) { return 0; }\n' \
	>"$n/core/raft/raft-msg.c"
printf 'unsigned long boot_step(void) { return 0; }\nstatic int x(void) { return 0; }\nint *swim_next(void) { return 0; }\n' \
	>"$n/core/ledger/bootstrap.c"
sh "$layout" "$n" >"$TEST_TMP/names.out" 2>&1
status=$?
sed "s/^/# /" "$TEST_TMP/names.out"
check "the name check fails on a planted tree" test "$status" -ne 0
check "it names both functions not named after their file, and nothing else" \
	sh -c "test \"\$(grep -c 'bootstrap\.c:[13]: ' '$TEST_TMP/names.out')\" -eq 2 &&
	       test \"\$(grep -c '\.c:[0-9]*: ' '$TEST_TMP/names.out')\" -eq 2"

out=$(sh "$layout" "$top_srcdir/src" 2>&1)
status=$?
[ -z "$out" ] || echo "$out" | sed "s/^/# /"
check "src/: every protocol includes only what it may, each function named after its file (docs/core.md)" \
	test "$status" -eq 0
check "raft includes no core internals (only raft-internal.h, base/base.h, chorus/*)" \
	sh -c "! grep -hE '#include \"' '$top_srcdir'/src/core/raft/*.[ch] |
	       grep -vE '\"(raft-internal|base/base|chorus/[a-z]+)\\.h\"'"

# The sans-io check reads the protocol directories, not only src/core/*.c.
mkdir -p "$TEST_TMP/sansio/raft"
printf '#include <time.h>\nint f(void) { return 0; }\n' >"$TEST_TMP/sansio/raft/planted.c"
check "the sans-io check finds an I/O include in a protocol directory" \
	sh -c "! sh '$sansio' '$TEST_TMP/sansio' 2>/dev/null"
check "src/core is sans-io in every directory" sh "$sansio" "$top_srcdir/src/core"

done_testing

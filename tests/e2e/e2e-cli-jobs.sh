#!/bin/sh
# End-to-end: the chorus job commands (submit, job, jobs, cancel) against a
# fake node (fake-node.py: the jobs API with canned, stateful answers), so
# what the CLI itself does is tested: exact result bytes, exit codes, one
# stderr line per failure, bounds checked before any request.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 not found"

DEAD_PORT=$(( $(port_base e2e-cli-jobs) + 1 )) # nothing listens here

out_is() { [ "$(cat "$OUT")" = "$1" ] || { diag "stdout was: $(head -c 300 "$OUT")"; return 1; }; }
json_is() { # json_is PYTHON_EXPR: the expression holds for d, the JSON on stdout
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$OUT" "$1" || { diag "not ($1): $(head -c 500 "$OUT")"; return 1; }
}

# ---------------------------------------------------------------- no node needed
check "--help exits 0" run 0 "$CHORUS" --help
for cmd in submit job jobs cancel; do
	check "--help lists '$cmd'" out_has "^  $cmd"
done
check "--help names the submit options" \
	sh -c "grep -q -- --data '$OUT' && grep -q -- --file '$OUT' && grep -q -- --detach '$OUT'"
check "--help names exit status 4" out_has "4 the job failed"
check "--help names exit status 7 (the node's queue is full)" out_has "7 the node's queue is full (429)"
check "submit --help exits 0" run 0 "$CHORUS" submit --help
check "submit --help lists --reward" out_has "--reward N"
check "submit --help lists --priority" out_has "--priority N"
check "submit --help lists --queue-timeout" out_has "--queue-timeout SECONDS"

head -c 32769 /dev/zero >"$TEST_TMP/big"
head -c 32768 /dev/zero >"$TEST_TMP/max"
# The dead port would answer exit 2 if any request were made: exit 1 proves none was.
check "--data over the limit exits 1" \
	run 1 "$CHORUS" -H "127.0.0.1:$DEAD_PORT" submit echo --data "$(cat "$TEST_TMP/big" | tr '\0' a)"
check "--data over the limit: one line with the sizes" \
	one_line_err "payload too large (32769 bytes, max 32768)"
check "--file over the limit exits 1" run 1 "$CHORUS" -H "127.0.0.1:$DEAD_PORT" submit echo --file "$TEST_TMP/big"
check "--file over the limit: one line" one_line_err "payload too large (32769 bytes, max 32768)"
check "stdin over the limit exits 1" sh -c "'$CHORUS' -H 127.0.0.1:$DEAD_PORT submit echo - <'$TEST_TMP/big' >'$OUT' 2>'$ERR'; [ \$? -eq 1 ]"
check "stdin over the limit: one line" one_line_err "payload too large (more than 32768 bytes"
check "two payload sources exit 1" run 1 "$CHORUS" submit echo --data a --file "$TEST_TMP/max"
check "two payload sources: one line" one_line_err "give at most one of"
check "a missing file exits 1" run 1 "$CHORUS" submit echo --file "$TEST_TMP/nope"
check "a bad --timeout exits 1" run 1 "$CHORUS" submit echo --timeout 0
check "a bad --reward exits 1" run 1 "$CHORUS" submit echo --reward -1
check "a bad --priority exits 1" run 1 "$CHORUS" -H "127.0.0.1:$DEAD_PORT" submit echo --priority 10
check "a bad --priority: one line" one_line_err "bad priority"
check "a bad --queue-timeout exits 1" run 1 "$CHORUS" -H "127.0.0.1:$DEAD_PORT" submit echo --queue-timeout 86401
check "a bad job id exits 1" run 1 "$CHORUS" job 'xyz/../status'
check "a bad job id: one line" one_line_err "bad job id"
check "jobs --limit 0 exits 1" run 1 "$CHORUS" jobs --limit 0
check "submit without a kind exits 1" run 1 "$CHORUS" submit

check "submit to an unreachable node exits 2" \
	run 2 "$CHORUS" -H "http://127.0.0.1:$DEAD_PORT" submit echo --data hi
check "unreachable node: one line" one_line_err "cannot reach node at http://127.0.0.1:$DEAD_PORT"
check "jobs on an unreachable node exits 2" run 2 "$CHORUS" -H "http://127.0.0.1:$DEAD_PORT" jobs
check "cancel on an unreachable node exits 2" \
	run 2 "$CHORUS" -H "http://127.0.0.1:$DEAD_PORT" cancel 0123456789abcdef0123456789abcdef

# ---------------------------------------------------------------- against the fake node
python3 "$top_srcdir/tests/e2e/fake-node.py" "$TEST_TMP/port" 2>"$TEST_TMP/fake-node.log" &
track $!
check "the fake node starts" wait_until 10000 test -s "$TEST_TMP/port"
NODE=http://127.0.0.1:$(cat "$TEST_TMP/port")
C() { "$CHORUS" -H "$NODE" "$@"; }

check "submit echo --data exits 0" run 0 C submit echo --data hello
check "submit prints the result, no newline added" sh -c "printf hello | cmp -s - '$OUT'"

printf 'a\000b\377\n\000end' >"$TEST_TMP/bin"
check "submit --file with binary bytes exits 0" run 0 C submit echo --file "$TEST_TMP/bin"
check "the result is the bytes, exactly" cmp "$TEST_TMP/bin" "$OUT"
check "submit - (stdin) exits 0" sh -c "'$CHORUS' -H '$NODE' submit echo - <'$TEST_TMP/bin' >'$OUT'"
check "the result from stdin is the bytes, exactly" cmp "$TEST_TMP/bin" "$OUT"
check "a payload at the limit exits 0" run 0 C submit echo --file "$TEST_TMP/max"
check "a payload at the limit comes back whole" cmp "$TEST_TMP/max" "$OUT"
check "no payload exits 0" run 0 C submit echo
check "no payload: an empty result" test ! -s "$OUT"

check "a failed job exits 4" run 4 C submit fail --data x
check "a failed job: one line with reason and worker error" \
	one_line_err "job [0-9a-f]\{32\} failed: worker reported an error (worker w1 (abababab"
check "a failed job prints nothing on stdout" test ! -s "$OUT"
check "-j on a failed job exits 4" run 4 C -j submit fail
check "-j on a failed job prints the record" json_is 'd["state"] == "failed" and d["final"]'

check "submit -j exits 0" run 0 C submit -j echo --data hi --timeout 5 --reward 7
check "submit -j prints the final record" \
	json_is 'd["state"] == "succeeded" and d["timeout_ms"] == 5000 and d["reward"] == 7'

check "a refused submit exits 3" run 3 C submit bad
check "a refused submit: one line with the node's reason" \
	one_line_err "cannot submit job: node answered 400: unknown kind 'bad'"
check "a submit the node refuses for a full queue (429) exits 7" run 7 C submit full
check "a full queue: one line with the node's reason" \
	one_line_err "cannot submit job: node answered 429: queue full: 4096 of this node's jobs wait"
check "a result that is not base64 exits 3" run 3 C submit badresult --data x
check "a result that is not base64: one line" one_line_err "node at .* sent a result that is not base64"

check "submit --detach exits 0" run 0 C submit hang --detach
check "submit --detach prints the id" sh -c "grep -Eqx '[0-9a-f]{32}' '$OUT'"
HANG=$(cat "$OUT")
check "job ID exits 0" run 0 C job "$HANG"
check "job shows the id and state" sh -c "grep -q '^id: *$HANG' '$OUT' && grep -q '^state: *pending' '$OUT'"
check "job -j is the record" run 0 C job -j "$HANG"
check "job -j has the state" json_is 'd["state"] == "pending" and not d["final"]'
check "job by its 10-digit prefix exits 0" run 0 C job "$(echo "$HANG" | cut -c1-10)"
check "job by prefix finds the job" out_has "^id: *$HANG"

check "cancel exits 0" run 0 C cancel "$HANG"
check "cancel prints 'cancelled ID'" out_is "cancelled $HANG"
check "job shows the cancel reason" sh -c "'$CHORUS' -H '$NODE' job '$HANG' | grep -q '^reason: *cancelled by a user'"
check "cancel of a finished job exits 3" run 3 C cancel "$HANG"
check "cancel of a finished job: one line" one_line_err "cannot cancel job $HANG: node answered 409: job already finished"
check "cancel of an unknown job exits 3" run 3 C cancel 0123456789abcdef0123456789abcdef
check "cancel of an unknown job: one line" one_line_err "cannot cancel job 0123456789abcdef0123456789abcdef: node answered 404: no such job"
check "job of an unknown job exits 3" run 3 C job 0123456789abcdef0123456789abcdef
check "job of an unknown job: one line" one_line_err ".*no such job"

check "jobs exits 0" run 0 C jobs
check "jobs has a header" out_has "^ID  *KIND  *STATE  *WORKER  *ATTEMPTS  *AGE"
check "jobs lists the cancelled job, newest first" sh -c "sed -n 2p '$OUT' | grep -q '^$(echo "$HANG" | cut -c1-10)  *hang  *cancelled'"
check "jobs shows a finished job's worker and attempts" sh -c "grep -Eq 'fail +failed +w1 +2 ' '$OUT'"
check "jobs --limit 2 shows two rows" sh -c "'$CHORUS' -H '$NODE' jobs --limit 2 | [ \$(wc -l) -eq 3 ]"
check "jobs -j exits 0" run 0 C -j jobs
check "jobs -j is the node's list" json_is 'len(d["jobs"]) >= 8'

FAILED=$(C -j jobs | python3 -c 'import json,sys; print([j["id"] for j in json.load(sys.stdin)["jobs"] if j["kind"] == "fail"][0])')
check "job of a failed job exits 0" run 0 C job "$FAILED"
check "job shows the attempts table" sh -c "grep -q '^WORKER  *NAME  *OUTCOME  *TIME' '$OUT' && grep -q 'w2  *refused  *3 ms' '$OUT'"
check "job shows the worker error on one line" out_has "^error: *boom?bang"
check "job shows the worker" out_has "^worker: *w1 (abababab"
newest() { "$CHORUS" -H "$NODE" -j jobs --limit 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["jobs"][0]["id"])'; }
check "submit a text job" run 0 C submit echo --data 'short text'
check "job of a succeeded job exits 0" run 0 C job "$(newest)"
check "job shows the result size" out_has "^result: *10 bytes"
check "job shows a short printable result" out_has "^result text: *short text\$"
check "submit a binary job" run 0 C submit echo --file "$TEST_TMP/bin"
check "job of a binary result exits 0" run 0 C job "$(newest)"
check "job shows the binary result's size" out_has "^result: *$(wc -c <"$TEST_TMP/bin") bytes"
check "job does not print binary results" sh -c "! grep -q '^result text' '$OUT'"

done_testing

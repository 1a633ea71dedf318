#!/bin/bash
# End-to-end live output (docs/dispatch.md, "Live output"): real chorusd processes.
#   n1: the client; n2: a worker whose command kinds write over time.
#  - `chorus logs -f ID` prints a job's first line while the job still runs (the worker
#    streams; it does not wait for the end), then the rest, and returns when the job is final;
#  - stdout lands on stdout and stderr on stderr, in order;
#  - a stream over the bound is cut at CHORUS_OUTPUT_JOB_MAX, the rest counted and said;
#  - an unknown id is one clear line;
#  - `chorus submit` draws a progress line on a terminal (a pty), none otherwise or with
#    --quiet; Ctrl-C on it says the job's id and how to cancel it, and the job still succeeds.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
[ -x "$CHORUS" ] || skip_all "chorus not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed (JSON, a pty)"

base=$(port_base e2e-logs)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api() { echo "http://127.0.0.1:$(hport "$1")"; }
c1() { "$CHORUS" -H "$(api 1)" "$@"; }
BOUND=262144 # CHORUS_OUTPUT_JOB_MAX
BIG=$((BOUND + 40000))

declare -a PID
start_node 1
# talk: five lines on stdout and five on stderr, 0.4 s apart (2 s in all).
start_node 2 --join "tcp://127.0.0.1:$(fport 1)" --capacity 2 --worker sleep \
	--worker "talk=for i in 1 2 3 4 5; do echo line\$i; echo oops\$i >&2; sleep 0.4; done" \
	--worker "big=head -c $BIG /dev/zero | tr '\\000' x >&2; echo small"

field() { c1 -j job "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }
is_final() { [ "$(field "$1" "d['final']")" = "True" ]; }
sees_worker() { # quiet while the node starts
	c1 -j members 2>/dev/null | python3 2>/dev/null -c "
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if any('talk' in m['capabilities'] and m['state']=='alive' for m in d['members']) else 1)"
}
has() { grep -q -- "$2" "$1"; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
wait_until 15000 sees_worker || { ok 1 "the worker is visible to the client"; done_testing; exit 1; }

# ---------------------------------------------------------------- follow: the first line before the end
id=$(c1 submit talk --detach)
t0=$(now_ms)
c1 logs -f "$id" >"$TEST_TMP/f.out" 2>"$TEST_TMP/f.err" &
LPID=$!
track $LPID
if wait_until 5000 has "$TEST_TMP/f.out" line1; then t_first=$(now_ms); else t_first=; fi
final_at_first=$(is_final "$id" && echo yes || echo no)
check "logs -f prints the first line within 5 s" test -n "$t_first"
check "while the job still runs (the worker streams, it does not wait for the end)" \
	test "$final_at_first" = no
check "and not everything at once: line5 has not come yet" sh -c "! grep -q line5 '$TEST_TMP/f.out'"
check "logs -f returns once the job is final" wait_until 10000 pid_gone $LPID
wait $LPID; rc=$?
t_end=$(now_ms)
diag "first line after $(( ${t_first:-0} - t0 )) ms; logs -f returned after $(( t_end - t0 )) ms"
check "logs -f exits 0" test "$rc" -eq 0
check "the job succeeded" test "$(field "$id" "d['state']")" = succeeded
printf 'line1\nline2\nline3\nline4\nline5\n' >"$TEST_TMP/want.out"
printf 'oops1\noops2\noops3\noops4\noops5\n' >"$TEST_TMP/want.err"
check "stdout came whole, in order, on stdout" cmp -s "$TEST_TMP/want.out" "$TEST_TMP/f.out"
check "stderr came whole, in order, on stderr" cmp -s "$TEST_TMP/want.err" "$TEST_TMP/f.err"
c1 logs "$id" >"$TEST_TMP/g.out" 2>"$TEST_TMP/g.err"
check "logs without -f prints the kept output again" cmp -s "$TEST_TMP/want.out" "$TEST_TMP/g.out"
check "and stderr again" cmp -s "$TEST_TMP/want.err" "$TEST_TMP/g.err"

# ---------------------------------------------------------------- over the bound
c1 submit big >"$TEST_TMP/big.result" 2>/dev/null
check "the job writing $BIG bytes of stderr succeeds" grep -qx small "$TEST_TMP/big.result"
idb=$(c1 -j jobs | python3 -c "import json,sys; print(json.load(sys.stdin)['jobs'][0]['id'])")
c1 logs "$idb" >"$TEST_TMP/b.out" 2>"$TEST_TMP/b.err"
rc=$?
check "logs of it exits 0" test "$rc" -eq 0
check "stderr is cut at the bound: $BOUND bytes of it, then the marker" python3 -c "
import sys; b=open('$TEST_TMP/b.err','rb').read()
sys.exit(0 if b[:$BOUND] == b'x' * $BOUND and b[$BOUND:].startswith(b'chorus: ') else 1)"
check "with a clear marker counting what was dropped" \
	grep -q "truncated: 0 bytes of stdout and $((BIG - BOUND)) of stderr dropped" "$TEST_TMP/b.err"
check "stdout of the same job is whole" grep -qx small "$TEST_TMP/b.out"
c1 -j logs "$idb" >"$TEST_TMP/b.json"
check "the API counts the dropped bytes" python3 -c "
import json,sys; d=json.load(open('$TEST_TMP/b.json'))
sys.exit(0 if d['err_dropped'] == $BIG - $BOUND and d['out_dropped'] == 0 and d['final'] else 1)"

# ---------------------------------------------------------------- unknown ids
c1 logs 0123456789abcdef0123456789abcdef >/dev/null 2>"$TEST_TMP/u.err"
rc=$?
check "logs of an unknown id exits 3" test "$rc" -eq 3
check "with one line: no such job" sh -c "[ \$(wc -l <'$TEST_TMP/u.err') -eq 1 ] && grep -q 'no such job' '$TEST_TMP/u.err'"

# ---------------------------------------------------------------- progress and Ctrl-C
# ptyrun.py ARGS...: runs chorus in a pty; after the progress line shows "running", sends
# SIGINT (when PTY_INT=1); prints the pty's bytes (repr) and the exit status.
cat >"$TEST_TMP/ptyrun.py" <<'PY'
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf, sent, deadline = b"", False, time.time() + 20
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    if os.environ.get("PTY_INT") == "1" and not sent and b"running on" in buf:
        os.kill(pid, signal.SIGINT)
        sent = True
_, status = os.waitpid(pid, 0)
print(repr(buf))
print("exit=%d" % (os.waitstatus_to_exitcode(status)))
PY
PTY_INT=1 python3 "$TEST_TMP/ptyrun.py" "$CHORUS" -H "$(api 1)" submit sleep --data 3000 >"$TEST_TMP/int.txt" 2>&1
check "on a terminal, submit draws a progress line (running on the worker)" \
	grep -q 'chorus: job [0-9a-f]\{8\} running on n2' "$TEST_TMP/int.txt"
check "redrawn in place" grep -q '\\r\\x1b\[K' "$TEST_TMP/int.txt"
check "Ctrl-C exits 130" grep -q '^exit=130$' "$TEST_TMP/int.txt"
idc=$(grep -o "job [0-9a-f]\{32\} keeps running" "$TEST_TMP/int.txt" | head -n 1 | cut -d' ' -f2)
check "Ctrl-C says the job's id" test -n "$idc"
check "and how to cancel it" grep -q "cancel it with 'chorus cancel $idc'" "$TEST_TMP/int.txt"
check "the job keeps going and succeeds" wait_until 15000 is_final "${idc:-none}"
check "succeeded" test "$(field "${idc:-none}" "d['state']")" = succeeded

python3 "$TEST_TMP/ptyrun.py" "$CHORUS" -H "$(api 1)" submit sleep --data 800 --quiet >"$TEST_TMP/q.txt" 2>&1
check "--quiet: no progress line on a terminal" sh -c "! grep -q 'chorus: job' '$TEST_TMP/q.txt'"
check "--quiet: the result still comes" grep -q 'slept 800 ms' "$TEST_TMP/q.txt"
c1 submit sleep --data 800 >"$TEST_TMP/nt.out" 2>"$TEST_TMP/nt.err"
check "stderr not a terminal: no progress line" test ! -s "$TEST_TMP/nt.err"
check "and the result on stdout" grep -q 'slept 800 ms' "$TEST_TMP/nt.out"

done_testing

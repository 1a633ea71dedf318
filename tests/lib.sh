# Shared helpers for shell tests: TAP output, process tracking, polling.
# Every process a test starts is recorded and killed on exit, pass or fail.

tap_n=0
tap_fail=0
PIDS=""
TEST_TMP=$(mktemp -d /tmp/chorus-test.XXXXXX)
# The network key every node of a test holds (secure by default, docs/security.md):
# start_node passes --keyring "$KEYRING" unless the test gives --keyring or --insecure-open.
KEYRING=$TEST_TMP/keyring
(umask 077; { echo "# test network key"; head -c 32 /dev/urandom | base64; } >"$KEYRING")

# python3 may be a version manager's shim (a shell script per call, slow on a
# loaded machine): resolve the interpreter once and put it first on PATH (a
# link, not a shell function, so that `python3 ... &` is python's own pid).
if command -v python3 >/dev/null 2>&1; then
	CHORUS_PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
	if [ -x "$CHORUS_PY" ] && mkdir -p "$TEST_TMP/.lib-bin" && ln -s "$CHORUS_PY" "$TEST_TMP/.lib-bin/python3"; then
		PATH=$TEST_TMP/.lib-bin:$PATH
	fi
fi

ok() { # ok COND_STATUS DESCRIPTION
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_fail=$((tap_fail + 1))
	fi
}
check() { # check DESCRIPTION CMD...: runs CMD, one test point
	desc=$1; shift
	if "$@"; then ok 0 "$desc"; else ok 1 "$desc"; fi
}
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
diag() { echo "# $*"; }
done_testing() { echo "1..$tap_n"; [ "$tap_fail" -eq 0 ]; }

track() { PIDS="$PIDS $1"; }
cleanup() {
	for p in $PIDS; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	if [ "$tap_fail" -ne 0 ] && [ -d "$TEST_TMP" ]; then
		for f in "$TEST_TMP"/*/node.log "$TEST_TMP"/*.log; do
			[ -f "$f" ] || continue
			echo "# ---- tail of $f"; tail -n 40 "$f" | sed 's/^/# /'
		done
	fi
	port_release
	if [ -n "${CHORUS_TEST_KEEP:-}" ]; then
		echo "# kept $TEST_TMP (CHORUS_TEST_KEEP)"
	else
		rm -rf "$TEST_TMP"
	fi
}
trap cleanup EXIT INT TERM

now_ms() { date +%s%3N; }

# wait_until TIMEOUT_MS CMD...: polls CMD every 50 ms until it succeeds or the deadline passes.
wait_until() {
	deadline=$(( $(now_ms) + $1 )); shift
	while :; do
		if "$@"; then return 0; fi
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# A block of 100 ports per test script, so that tests running at once never
# share one: 127 blocks in [20000, 32700), below the ephemeral ports (32768-).
# NAME picks the first block tried; a block is claimed with an atomic mkdir
# under $PORT_CLAIMS (the owner's pid inside), the next one is tried when it
# is taken, a claim whose owner is gone is taken over (an atomic rename), and
# cleanup releases this shell's claims.  (Two names can hash to one block:
# e2e-acks and e2e-bootstrap did, in a checkout at /tmp/ci-check.)
PORT_CLAIMS=${TMPDIR:-/tmp}/chorus-ports
port_claim() { # port_claim SLOT: 0 when this shell now holds it
	d=$PORT_CLAIMS/$1
	if mkdir "$d" 2>/dev/null; then
		echo $$ >"$d/pid"
		return 0
	fi
	owner=$(cat "$d/pid" 2>/dev/null)
	[ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null || return 1
	mv "$d" "$d.stale.$$" 2>/dev/null || return 1 # another shell took it over first
	rm -rf "$d.stale.$$"
	mkdir "$d" 2>/dev/null || return 1
	echo $$ >"$d/pid"
}
port_base() { # port_base NAME -> the first port of a claimed block
	first=$(( $(printf '%s' "$1" | cksum | cut -d' ' -f1) % 127 ))
	mkdir -p "$PORT_CLAIMS"
	for k in $(seq 0 126); do
		s=$(( (first + k) % 127 ))
		if port_claim "$s"; then
			echo $(( 20000 + s * 100 ))
			return 0
		fi
	done
	echo $(( 20000 + first * 100 )) # all 127 taken: share, as before
}
port_release() {
	for f in "$PORT_CLAIMS"/*/pid; do
		[ -f "$f" ] && [ "$(cat "$f" 2>/dev/null)" = "$$" ] && rm -rf "$(dirname "$f")"
	done
	return 0
}

# ---------------------------------------------------------------- running a program under test
OUT=$TEST_TMP/out
ERR=$TEST_TMP/err

skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n # SKIP $1"; }

# run EXPECTED_STATUS CMD...: runs CMD with stdout in $OUT and stderr in $ERR.
run() {
	want=$1; shift
	"$@" >"$OUT" 2>"$ERR"
	got=$?
	[ "$got" -eq "$want" ] && return 0
	diag "'$*' exited $got, wanted $want; stderr: $(head -c 300 "$ERR")"
	return 1
}
out_has() { grep -q -- "$1" "$OUT" || { diag "no '$1' in: $(head -c 500 "$OUT")"; return 1; }; }
one_line_err() { # one_line_err PATTERN: stderr is exactly one line, "chorus: PATTERN..."
	[ "$(wc -l <"$ERR")" -eq 1 ] && grep -q "^chorus: $1" "$ERR" && return 0
	diag "stderr was: $(cat "$ERR")"
	return 1
}

# qv [-p] PATH EXPR PORT...: GET /v1/PATH from each node's HTTP port and evaluate the
# Python expression EXPR on its JSON (as d): fails unless true for all; with -p,
# prints each value instead (one line per port) and fails only when a node does not answer.
qv() {
	python3 - "$@" <<'PYEOF'
import json, sys, urllib.request
args = sys.argv[1:]
show = args[0] == "-p"
if show: args.pop(0)
path, expr, ports = args[0], args[1], args[2:]
for p in ports:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/v1/%s" % (p, path), timeout=2) as r:
            d = json.load(r)
    except Exception as e:
        if show: print("port %s: %s" % (p, e), file=sys.stderr)
        sys.exit(1)
    v = eval("(" + expr + "\n)")
    if show: print(v)
    elif not v: sys.exit(1)
PYEOF
}

# ledger_exactly_once PORT FILE: the blocks of the node whose HTTP port is PORT
# (GET /v1/ledger/blocks, paged) hold each job id listed in FILE once, and no other
# job (a duplicate, a job not listed).
ledger_exactly_once() {
	python3 - "$1" "$2" <<'EOF'
import collections, json, sys, urllib.request
port, path = sys.argv[1], sys.argv[2]
want = open(path).read().split()
seen, h = collections.Counter(), 1
for _ in range(1000):
    url = "http://127.0.0.1:%s/v1/ledger/blocks?from=%d&limit=1000" % (port, h)
    with urllib.request.urlopen(url, timeout=5) as r:
        d = json.load(r)
    for b in d["blocks"]:
        seen.update(e["job"] for e in b["entries"])
    h += len(d["blocks"])
    if not d["blocks"] or h > d["height"]:
        break
wanted = set(want)
twice = [j for j, n in seen.items() if n > 1]
missing = [j for j in want if seen[j] == 0]
extra = [j for j in seen if j not in wanted]
if len(want) != len(wanted) or twice or missing or extra:
    print("# port %s: %d ids (%d distinct), %d twice %s, %d missing %s, %d extra %s" % (
        port, len(want), len(wanted), len(twice), twice[:3], len(missing), missing[:3],
        len(extra), extra[:3]))
    sys.exit(1)
EOF
}

# sim_point NAME DESCRIPTION CMD...: one test point; CMD's output in $TEST_TMP/NAME.out,
# its last lines shown when it fails (the simulator prints the command that reproduces it).
sim_point() {
	sp_name=$1 sp_desc=$2
	shift 2
	if "$@" >"$TEST_TMP/$sp_name.out" 2>&1; then
		ok 0 "$sp_desc"
	else
		ok 1 "$sp_desc"
		tail -n 4 "$TEST_TMP/$sp_name.out" | sed 's/^/# /'
	fi
}

# api_token I: node I's API token (its data dir's api.token), for clients that
# POST without chorus(1): CHORUS_TOKEN=$(api_token 1) "$LEDGER_BENCH" ...
api_token() { cat "$TEST_TMP/n$1/api.token"; }

# start_node I [ARGS...]: chorusd number I in the background, data and node.log
# under $TEST_TMP/nI, fabric on $(fport I), HTTP on $(hport I) (the script
# defines both); its pid in PID[I], tracked so cleanup stops it.  (bash)
start_node() {
	i=$1; shift
	mkdir -p "$TEST_TMP/n$i"
	case " $* " in
	*" --keyring "* | *" --insecure-open "*) set -- "$@" ;;
	*) set -- --keyring "$KEYRING" "$@" ;;
	esac
	"$CHORUSD" --data-dir "$TEST_TMP/n$i" --name "n$i" --listen "tcp://127.0.0.1:$(fport "$i")" \
		--http "127.0.0.1:$(hport "$i")" --log-file "$TEST_TMP/n$i/node.log" "$@" \
		>>"$TEST_TMP/n$i.out" 2>&1 &
	PID[$i]=$!
	track "${PID[$i]}"
}

# node_key DIR: make DIR/node.key (chorusd --print-id makes it as a start would) and
# print the node's 16-hex-digit id, so that a test can list voters before they start.
node_key() { "$CHORUSD" --print-id --data-dir "$1"; }
# voters_of I...: the --voters list (comma-separated ids) of test nodes I..., whose keys
# (in $TEST_TMP/nI, where start_node puts them) are made now if they are not there yet.
voters_of() {
	local i
	for i in "$@"; do node_key "$TEST_TMP/n$i" || return 1; done | paste -sd,
}

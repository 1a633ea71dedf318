#!/bin/sh
# End-to-end: a chorusd at its descriptor limit.  Started under `ulimit -n 1024`,
# it is sent 1,100 connections (in quick batches) (held open, idle) on its HTTP port, then on
# its fabric port.  While each flood is on, a keep-alive connection opened before it
# must keep getting GET /v1/status answered, the node's CPU must stay low (accept()
# failing with EMFILE is not retried in a busy loop: src/node/api.c pauses the
# listener), its log and stderr must hold a handful of accept lines, not thousands;
# after the flood, new connections are accepted again.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed"
[ -r /proc/self/stat ] || skip_all "needs /proc to read the node's CPU time"
# 1,024 for the node and 1,100 connections, the client holding its side of them: where
# the hard limit is lower, the same at a smaller scale (the node's limit, plus 7%).
NODE_FDS=1024
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 2400 ] || NODE_FDS=$(( (hard - 300) / 2 ))
[ "$NODE_FDS" -ge 200 ] || skip_all "too few descriptors to test with (hard limit $hard)"
FLOOD=$(( NODE_FDS * 107 / 100 ))
ulimit -n $(( 2 * NODE_FDS + 300 )) 2>/dev/null || ulimit -n "$hard"

base=$(port_base e2e-fdlimit)
FPORT=$((base + 1))
HPORT=$((base + 2))
NODE=$TEST_TMP/n1
mkdir -p "$NODE"

# The node alone, at 1,024 descriptors (a subshell: the limit is its own).
(ulimit -n "$NODE_FDS" && exec "$CHORUSD" --keyring "$KEYRING" --data-dir "$NODE" --name n1 \
	--listen "tcp://127.0.0.1:$FPORT" --http "127.0.0.1:$HPORT" \
	--log-file "$NODE/node.log") >"$NODE/stderr" 2>&1 &
pid=$!
track "$pid"
up() { qv status 'd["name"] == "n1"' "$HPORT" 2>/dev/null; }
check "the node answers" wait_until 15000 up
check "its descriptor limit is $NODE_FDS" grep -q "^Max open files *$NODE_FDS " "/proc/$pid/limits"

# flood PORT SECONDS: $FLOOD connections to PORT held for SECONDS while a keep-alive
# connection opened before asks GET /v1/status every 100 ms (each with a 2 s
# deadline).  Prints "answered asked worst_ms cpu_ticks wall_ms node_fds_max".
flood() {
	python3 - "$HPORT" "$1" "$2" "$pid" "$FLOOD" <<'EOF'
import http.client, os, select, socket, sys, time
hport, port, secs, pid, flood = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
def cpu_ticks():
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime (fields 14, 15)
keep = http.client.HTTPConnection("127.0.0.1", hport, timeout=2)
keep.request("GET", "/v1/status"); keep.getresponse().read()
def node_fds():
    return len(os.listdir("/proc/%s/fd" % pid))
# In batches of 50, each waited for (up to 1 s): 1,100 SYNs at once meet the
# kernel's SYN-flood guard and many are dropped, and the node never reaches its limit.
socks = []
while len(socks) < flood:
    batch = []
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        batch.append(s)
    pending, end = {s.fileno() for s in batch}, time.monotonic() + 1.0
    poller = select.poll()
    for s in batch: poller.register(s, select.POLLOUT)
    while pending and time.monotonic() < end:
        for fd, _ in poller.poll(100):
            pending.discard(fd); poller.unregister(fd)
    socks += batch
most = node_fds()
c0, t0 = cpu_ticks(), time.monotonic()
asked = answered = 0; worst = 0.0
while time.monotonic() - t0 < secs:
    asked += 1; a = time.monotonic()
    try:
        keep.request("GET", "/v1/status"); r = keep.getresponse(); r.read()
        answered += r.status == 200
    except Exception:
        keep = http.client.HTTPConnection("127.0.0.1", hport, timeout=2)
    worst = max(worst, time.monotonic() - a)
    most = max(most, node_fds())
    time.sleep(0.1)
c1, t1 = cpu_ticks(), time.monotonic()
for s in socks: s.close()
print(answered, asked, int(worst * 1000), c1 - c0, int((t1 - t0) * 1000), most)
EOF
}
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
# judge NAME "answered asked worst_ms cpu_ticks wall_ms node_fds_max"
judge() {
	set -- "$1" $2
	name=$1 answered=$2 asked=$3 worst=$4 ticks=$5 wall=$6 fds=$7
	diag "$name flood: $answered/$asked status requests answered, worst ${worst} ms, cpu $((ticks * 1000 / hz)) ms in $wall ms, node at $fds descriptors"
	check "$name flood: the node reached its descriptor limit ($fds open, limit $NODE_FDS)" \
		test "${fds:-0}" -ge $((NODE_FDS - 24))
	check "$name flood: every status request on the open connection answered ($answered/$asked)" \
		test "${asked:-0}" -ge 10 -a "${answered:-0}" -eq "${asked:-0}"
	check "$name flood: the node's CPU stayed under 20% of the time ($((ticks * 1000 / hz)) of $wall ms)" \
		test "$((ticks * 1000 / hz * 5))" -lt "${wall:-0}"
}
accept_lines() { cat "$NODE/node.log" "$NODE/stderr" | grep -c -i 'accept'; }

# 1. The HTTP port: evhttp's listener meets EMFILE.
res=$(flood "$HPORT" 4)
judge http "$res"
check "the log says the node paused accepting" grep -q 'event=accept-paused error=Too many open files' "$NODE/node.log"
n=$(accept_lines)
check "a handful of accept lines in the log and stderr ($n), not a storm" test "$n" -le 8
check "after the flood a new connection is answered" wait_until 10000 up
resumed() { grep -q 'event=accept-resumed failed_accepts=[1-9]' "$NODE/node.log"; }
check "and the episode's end is logged with its count of failed accepts" wait_until 10000 resumed
grep 'event=accept-' "$NODE/node.log" | sed 's/^/# /'

# 2. The fabric port: nng accepts on its own threads and waits 100 ms after a
# failed accept (its listener's cool-down); the node must not spin either.
res=$(flood "$FPORT" 4)
judge fabric "$res"
n=$(accept_lines)
check "still a handful of accept lines ($n)" test "$n" -le 8
check "after the fabric flood a new HTTP connection is answered" wait_until 15000 up
check "the node is still running" kill -0 "$pid"

done_testing

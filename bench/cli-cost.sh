#!/bin/bash
# What a CLI call costs (issue 17): one chorusd on loopback (a worker of the
# built-in echo, with a network key, as the tests start it), then N rounds
# (default 300, at most 5000) of, in alternation so that load hits all alike:
#   /bin/true                               starting a process at all
#   chorus -H URL status                    one GET, printed as a table
#   chorus -H URL submit echo --data x      the job's whole life, token found by itself
#   the API round trip                      POST /v1/jobs?wait_ms=500 of the same
#                                           job on a fresh connection, from this
#                                           script's own client (no process started)
# and $CHORUS_BASELINE submit/status too, when set (another chorus binary, e.g.
# the one before a change, for an A/B in the same run).  Prints each one's
# median and p90 and "submit adds X ms over /bin/true (API round trip Y ms)":
# X the difference of the medians, Y the round trip's median.  Not part of
# `make check`.  The node is stopped by pid on any exit (tests/lib.sh).
# Usage: bench/cli-cost.sh [N]   (after a build)
set -u
cd "$(dirname "$0")/.."
top_srcdir=$PWD
CHORUSD=${CHORUSD:-$PWD/src/node/chorusd}
CHORUS=${CHORUS:-$PWD/src/cli/chorus}
N=${1:-300}
. tests/lib.sh
case $N in '' | *[!0-9]*) echo "bench: N is a number of rounds" >&2; exit 1 ;; esac
[ "$N" -ge 10 ] && [ "$N" -le 5000 ] || { echo "bench: N is 10..5000" >&2; exit 1; }
for b in "$CHORUSD" "$CHORUS" ${CHORUS_BASELINE:+"$CHORUS_BASELINE"}; do
	[ -x "$b" ] || { echo "bench: $b is not built (make)" >&2; exit 1; }
done
base=$(port_base bench-cli-cost)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
declare -a PID
start_node 1 --worker echo
URL=http://127.0.0.1:$(hport 1)
up() { "$CHORUS" -H "$URL" submit echo --data up >/dev/null 2>&1; }
wait_until 15000 up || { echo "bench: the node did not run a job within 15 s" >&2; exit 1; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "build: $(grep -m1 '^CFLAGS = ' Makefile 2>/dev/null | cut -d' ' -f3-)"
libs() { ldd "$1" 2>/dev/null | awk '/=>/ { sub(/\.so.*/, "", $1); printf "%s ", $1 }'; }
echo "chorus links: $(libs "$CHORUS")"
[ -z "${CHORUS_BASELINE:-}" ] || echo "baseline links: $(libs "$CHORUS_BASELINE")"
python3 - "$N" "$URL" "$(api_token 1)" "$CHORUS" "${CHORUS_BASELINE:-}" <<'PY'
import http.client, json, os, sys, time

n, url, token, chorus, baseline = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
host, port = url.split("//")[1].split(":")
null = os.open(os.devnull, os.O_WRONLY)
runs = [("/bin/true", ["/bin/true"]),
        ("chorus status", [chorus, "-H", url, "status"]),
        ("chorus submit", [chorus, "-H", url, "submit", "echo", "--data", "x"])]
if baseline:
    runs += [("baseline status", [baseline, "-H", url, "status"]),
             ("baseline submit", [baseline, "-H", url, "submit", "echo", "--data", "x"])]
body = json.dumps({"kind": "echo", "payload_b64": "eA=="})
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json",
           "Host": "%s:%s" % (host, port)}

def spawn(argv):
    """ms from posix_spawn to the child's exit; its stdout and stderr go nowhere."""
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
    _, status = os.waitpid(pid, 0)
    ms = (time.perf_counter_ns() - t0) / 1e6
    if status != 0:
        sys.exit("bench: '%s' exited with status %d" % (" ".join(argv), status))
    return ms

def round_trip():
    """ms of POST /v1/jobs?wait_ms=500 on a fresh connection, until the final record is read."""
    t0 = time.perf_counter_ns()
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("POST", "/v1/jobs?wait_ms=500", body, headers)
    r = c.getresponse()
    doc = json.loads(r.read())
    c.close()
    ms = (time.perf_counter_ns() - t0) / 1e6
    if r.status != 200 or not doc.get("final") or doc.get("state") != "succeeded":
        sys.exit("bench: the round trip got %d, state %s" % (r.status, doc.get("state")))
    return ms

times = {name: [] for name, _ in runs}
times["API round trip"] = []
for _ in range(3):  # warm up: page cache, the node's first jobs
    for _, argv in runs:
        spawn(argv)
    round_trip()
t_begin = time.monotonic()
for _ in range(n):
    for name, argv in runs:
        times[name].append(spawn(argv))
    times["API round trip"].append(round_trip())

def median(v):
    v = sorted(v)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2

def p90(v):
    return sorted(v)[min(len(v) - 1, int(0.9 * len(v)))]

print("%d rounds in %.1f s, in alternation:" % (n, time.monotonic() - t_begin))
for name, v in times.items():
    print("  %-16s median %6.3f ms  p90 %6.3f ms" % (name, median(v), p90(v)))
true_ms, rtt = median(times["/bin/true"]), median(times["API round trip"])
print("status adds %.2f ms over /bin/true" % (median(times["chorus status"]) - true_ms))
if baseline:
    print("baseline: submit adds %.2f ms over /bin/true, status %.2f ms" % (
        median(times["baseline submit"]) - true_ms, median(times["baseline status"]) - true_ms))
print("submit adds %.2f ms over /bin/true (API round trip %.2f ms)" % (
    median(times["chorus submit"]) - true_ms, rtt))
PY

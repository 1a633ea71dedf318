# Sourced by bench/dispatch.sh and bench/dispatch-cpu.sh (after tests/lib.sh, with
# base set): checks the binaries, starts 1 client node (n1, no worker) and 3 workers
# (built-in echo, capacity 64) on loopback, and waits until the client sees the three.
# Sets api (the client's HTTP address) and exports CHORUS_TOKEN (n1's); PID[1..4] are the nodes, stopped on exit.
for b in "$CHORUSD" "$CHORUS" "$BENCH"; do
	[ -x "$b" ] || { echo "bench: $b is not built (make)" >&2; exit 1; }
done

fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
api=127.0.0.1:$((base + 51))
workers_seen() {
	[ "$("$CHORUS" -H "http://$api" -j members 2>/dev/null | grep -o '"echo"' | wc -l)" -ge 3 ]
}

start_node 1
for i in 2 3 4; do
	start_node "$i" --join "tcp://127.0.0.1:$((base + 1))" --worker echo --capacity 64
done
wait_until 15000 workers_seen || { echo "bench: the workers did not show up" >&2; exit 1; }
# dispatch-bench POSTs to n1: its API token (chorus(1) finds it by itself).
CHORUS_TOKEN=$(api_token 1)
export CHORUS_TOKEN

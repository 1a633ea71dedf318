#!/bin/bash
# End-to-end: what a node logs, and where.
#  - at the default level a worker's log shows the gossip the README names
#    for a job: event=request, event=offer, event=run (and the client's:
#    request, offer, succeeded), and members join;
#  - --log-file alone: nothing on stderr; with --log-stderr (here the config
#    file's `log-stderr yes`) both get the lines;
#  - --log-level warn hides info lines; the config file's `log-level debug`
#    shows debug ones; a bad level is refused.
# Every wait is bounded; every process is tracked and killed on exit.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUSD" ] || skip_all "chorusd not built"
command -v python3 >/dev/null 2>&1 || skip_all "python3 needed to read JSON"

base=$(port_base "e2e-log-level $PWD")
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
cli() { i=$1; shift; "$CHORUS" -H "http://127.0.0.1:$(hport "$i")" "$@"; }
log_of() { echo "$TEST_TMP/n$1/node.log"; }

check "a bad --log-level is refused" run 1 "$CHORUSD" -n --insecure-open --data-dir "$TEST_TMP/bad" \
	--log-level loud
check "and named" grep -q "bad log level 'loud'" "$ERR"

declare -a PID
JOIN="--join tcp://127.0.0.1:$(fport 1)"
start_node 1                                          # the client, default level
start_node 2 --worker echo $JOIN                      # the only echo worker, default level
start_node 3 --worker sleep --log-level warn $JOIN    # warnings and errors only
mkdir -p "$TEST_TMP/n4"
printf 'log-level debug\nlog-stderr yes\n' >"$TEST_TMP/n4.conf"
start_node 4 --config "$TEST_TMP/n4.conf" $JOIN       # debug, to the file and stderr

all_alive() { qv members "sum(m['state'] == 'alive' for m in d['members']) == 4" $(hport 1) $(hport 2); }
check "four nodes see each other" wait_until 30000 all_alive
check "the client's log shows the members joining" grep -q 'event=join ' "$(log_of 1)"

check "a job runs on the worker" run 0 cli 1 -j submit echo --data "hello"
job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$OUT")
diag "job $job"
# The worker writes its lines at the end of a loop turn: poll for them.
has() { grep -q "event=$2 job=$job" "$(log_of "$1")"; }
check "worker, default level: event=request for the job" wait_until 5000 has 2 request
check "worker, default level: event=offer for the job" wait_until 5000 has 2 offer
check "worker, default level: event=run for the job" wait_until 5000 has 2 run
check "client, default level: event=request for the job" wait_until 5000 has 1 request
check "client, default level: event=offer (received) for the job" wait_until 5000 has 1 offer
check "client, default level: event=succeeded for the job" wait_until 5000 has 1 succeeded
check "the default level has no debug lines" sh -c "! grep -q ' DEBUG ' '$(log_of 2)'"

check "--log-file alone: the client's stderr stays empty" test ! -s "$TEST_TMP/n1.out"
check "--log-file alone: the worker's stderr stays empty" test ! -s "$TEST_TMP/n2.out"
check "--log-level warn: the log has no info lines" sh -c "! grep -q -E ' (INFO|DEBUG) ' '$(log_of 3)'"
check "--log-level warn: the request it saw is not logged" sh -c "! grep -q 'event=request' '$(log_of 3)'"
check "--log-level warn: the node still runs" kill -0 "${PID[3]}"
check "log-level debug (config file): debug lines in the log" grep -q ' DEBUG ' "$(log_of 4)"
check "log-stderr yes (config file): the start line on stderr too" \
	grep -q 'event=start' "$TEST_TMP/n4.out"
check "log-stderr yes: stderr has the log's lines" \
	test "$(grep -c 'event=start ' "$TEST_TMP/n4.out")" -eq "$(grep -c 'event=start ' "$(log_of 4)")"

done_testing

#!/bin/bash
# End-to-end: the bash completion (contrib/bash-completion/chorus), sourced
# in bash and driven as bash drives it (COMP_LINE, COMP_POINT, _chorus), so
# what it offers is what a user gets at <TAB>: every command and every option
# that --help lists (read here from the binary, so the two cannot drift), the
# sub-commands of ledger and keyring, files and directories for the options
# that take them, and from a real chorusd the kinds its members run (submit)
# and its job ids (job, logs, cancel, ledger job).
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS" ] || skip_all "chorus not built"
# The lines typed say "chorus", as a user would: the one under test comes first on PATH.
PATH=$(cd "$(dirname "$CHORUS")" && pwd):$PATH
[ "$(command -v chorus)" -ef "$CHORUS" ] || skip_all "cannot put $CHORUS first on PATH"
COMPLETION=$top_srcdir/contrib/bash-completion/chorus
# shellcheck source=/dev/null
. "$COMPLETION" || skip_all "cannot source $COMPLETION"

base=$(port_base e2e-completion)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
declare -a PID

# comp LINE: what <TAB> at the end of LINE offers, one word a line, in $OUT.
comp() {
	COMP_LINE=$1
	COMP_POINT=${#1}
	COMPREPLY=()
	_chorus
	: >"$OUT"
	[ "${#COMPREPLY[@]}" -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" >"$OUT"
}
offers() { # offers WORD...: every WORD is among the offers
	local w
	for w in "$@"; do
		grep -qxF -- "$w" "$OUT" || { diag "'$w' not offered; got: $(tr '\n' ' ' <"$OUT")"; return 1; }
	done
}
offers_only() { # offers_only WORD...: exactly these, in any order
	[ "$(sort "$OUT" | tr '\n' ' ')" = "$(printf '%s\n' "$@" | sort | tr '\n' ' ')" ] ||
		{ diag "wanted '$*', got: $(tr '\n' ' ' <"$OUT")"; return 1; }
}

registered() { complete -p chorus 2>/dev/null | grep -q ' _chorus '; }
check "the completion is registered for chorus" registered
comp "chorus sub"
check "chorus sub<TAB> offers submit, only" offers_only submit
comp "chorus submit --pri"
check "chorus submit --pri<TAB> offers --priority" offers_only --priority

# The commands --help lists (its "Commands:" section: a line "  NAME ...").
"$CHORUS" --help >"$TEST_TMP/help"
sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\).*/\1/p' "$TEST_TMP/help" >"$TEST_TMP/commands"
check "chorus --help lists at least 11 commands" test "$(wc -l <"$TEST_TMP/commands")" -ge 11
comp "chorus "
# shellcheck disable=SC2046 # one word a command
check "chorus <TAB> offers exactly the commands --help lists" offers_only $(cat "$TEST_TMP/commands")
missing=""
while read -r c; do
	comp "chorus ${c:0:3}"
	grep -qxF "$c" "$OUT" || missing="$missing $c"
done <"$TEST_TMP/commands"
check "every command --help lists is completed from its first 3 letters${missing:+ (not:$missing)}" \
	test -z "$missing"

# Options: every long option on an option line of each command's --help.
options_of() { "$CHORUS" "$@" --help | grep -oE '^ {2,6}(-[A-Za-z], )?--[a-z][a-z-]*' | grep -oE -- '--[a-z-]+'; }
missing=""
n=0
while read -r c; do
	comp "chorus $c --"
	for o in $(options_of "$c"); do
		n=$((n + 1))
		grep -qxF -- "$o" "$OUT" || missing="$missing $c:$o"
	done
done <"$TEST_TMP/commands"
check "every option of every command's --help is completed ($n)${missing:+ (not:$missing)}" \
	sh -c "[ -z '$missing' ] && [ $n -ge 30 ]"
comp "chorus --"
# shellcheck disable=SC2046
check "chorus --<TAB> offers every global option" offers $(options_of)
comp "chorus -"
check "... and their short letters" offers -H -j -t -T -d -h -V
comp "chorus logs -"
check "a command's short option (logs -f)" offers -f --follow -j --json

comp "chorus ledger "
check "chorus ledger <TAB> offers its sub-commands" \
	offers_only status blocks job balances verify add-voter remove-voter transfer-leader recover
comp "chorus keyring "
check "chorus keyring <TAB> offers list, install, use, remove" offers_only list install use remove
comp "chorus ledger blocks --"
check "chorus ledger blocks --<TAB> offers --from and --limit" offers --from --limit

# Arguments of options: files, directories; an option's argument is not the command.
mkdir -p "$TEST_TMP/dirs/alpha" && : >"$TEST_TMP/payload.bin"
comp "chorus submit echo --file $TEST_TMP/pay"
check "--file <TAB> completes a file" offers_only "$TEST_TMP/payload.bin"
comp "chorus -d $TEST_TMP/dirs/al"
check "-d <TAB> completes a directory" offers_only "$TEST_TMP/dirs/alpha"
comp "chorus -H http://127.0.0.1:1 -t 5 su"
check "after -H URL -t 5 (a URL with colons) the command is completed" offers_only submit
comp "chorus -t 5"
check "the argument of -t is not taken for a command" test ! -s "$OUT"

# From a real node: kinds and job ids, asked of the node -H names.
start_node 1 --worker echo --worker sha256
URL=http://127.0.0.1:$(hport 1)
up() { "$CHORUS" -H "$URL" status >/dev/null 2>&1; }
check "a chorusd starts" wait_until 15000 up
comp "chorus -H $URL submit "
check "chorus -H URL submit <TAB> offers the kinds its members run" offers_only echo sha256
comp "chorus -H $URL submit sh"
check "... by prefix" offers_only sha256
ID=$("$CHORUS" -H "$URL" submit echo --data completion --detach 2>"$ERR")
check "a job is submitted (--detach prints its id)" sh -c "printf '%s' '$ID' | grep -qE '^[0-9a-f]{32}$'"
for c in job logs cancel "ledger job"; do
	comp "chorus -H $URL $c ${ID:0:6}"
	check "chorus -H URL $c <TAB> offers the job id" offers_only "$ID"
done
comp "chorus -H $URL jobs "
check "jobs takes no job id" test ! -s "$OUT"
DEAD=http://127.0.0.1:$(( base + 99 ))
t0=$(now_ms)
comp "chorus -H $DEAD job "
check "a node that is not there: no ids, at once ($(( $(now_ms) - t0 )) ms)" \
	sh -c "[ ! -s '$OUT' ] && [ $(( $(now_ms) - t0 )) -lt 3000 ]"
done_testing

#!/bin/sh
# The docs agree with the code: every long option a program's --help prints is
# in its man page, every long option the man page documents is in --help, and
# each man page formats without warnings.
. "$top_srcdir/tests/lib.sh"

# Long options ("--name") in text, one per line, sorted and unique.
help_options() { grep -oE -- '--[a-z][a-z0-9-]+' | sort -u; }
# Long options an mdoc page documents with Fl: "Fl Fl name" or "Fl -name".
man_options() {
	grep -oE 'Fl (Fl |\\?-)[a-z][a-z0-9-]+' | sed -E 's/^Fl (Fl |\\?-)/--/' | sort -u
}

# in_man OPTION PAGE: the page mentions --OPTION, as Fl or as literal text.
in_man() {
	opt_name=${1#--}
	grep -Eq "Fl (Fl |\\\\?-)$opt_name([^a-z0-9-]|\$)|(\\\\-|-)(\\\\-|-)$opt_name([^a-z0-9-]|\$)" "$2"
}

# lint PAGE: formats with no warnings (mandoc -T lint when present, else man-db).
lint() {
	if command -v mandoc >/dev/null 2>&1; then
		out=$(mandoc -T lint -W warning "$1" 2>&1)
	else
		out=$(man --warnings=w -l -Tutf8 "$1" 2>&1 >/dev/null)
	fi
	[ -z "$out" ] && return 0
	echo "$out" | head -n 20 | sed 's/^/# /'
	return 1
}

# check_program NAME BINARY PAGE
check_program() {
	name=$1 bin=$2 page=$3
	if [ ! -x "$bin" ]; then
		skip "$name not built"
		return
	fi
	if [ ! -f "$page" ]; then
		ok 1 "$name: man page $page exists"
		return
	fi
	"$bin" --help >"$TEST_TMP/$name.help" 2>&1
	help_opts=$(help_options <"$TEST_TMP/$name.help")
	check "$name: --help prints long options" test -n "$help_opts"

	missing=""
	for opt in $help_opts; do
		in_man "$opt" "$page" || missing="$missing $opt"
	done
	[ -z "$missing" ] || diag "$name: in --help, not in $page:$missing"
	check "$name: every --help option is in the man page" test -z "$missing"

	missing=""
	for opt in $(man_options <"$page"); do
		grep -q -- "$opt\\([^a-z0-9-]\\|\$\\)" "$TEST_TMP/$name.help" || missing="$missing $opt"
	done
	[ -z "$missing" ] || diag "$name: in $page, not in --help:$missing"
	check "$name: every man page option is in --help" test -z "$missing"

	if command -v mandoc >/dev/null 2>&1 || command -v man >/dev/null 2>&1; then
		check "$name: $page formats without warnings" lint "$page"
	else
		skip "$name: neither mandoc nor man to lint $page"
	fi
}

# ---------------------------------------------------------------- rendered
# What a reader sees: each page rendered by man(1) (or groff), the long options
# in its text compared with the program's --help (for chorus, the global help
# and every command's).  A page may name a sibling program's option (chorus(1)
# tells of chorusd's --http-tls): allowed when that program's --help has it.
render() { # render PAGE: the page as text, no overstrike, no hyphenation breaks
	if command -v man >/dev/null 2>&1; then
		MANWIDTH=300 man -l -Tutf8 "$1" 2>/dev/null | col -bx
	else
		groff -mandoc -Tutf8 -P-cbou -rLL=300n "$1" 2>/dev/null
	fi
}
text_options() { grep -oE -- '(^|[^a-zA-Z0-9-])--[a-z][a-z0-9-]+' | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u; }
all_help() { # all_help NAME BINARY: --help, and for chorus each command's --help
	"$2" --help 2>&1
	[ "$1" = chorus ] || return 0
	for c in $("$2" --help 2>&1 | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p'); do
		"$2" "$c" --help 2>&1
	done
}
check_rendered() { # check_rendered NAME BINARY PAGE
	name=$1 bin=$2 page=$3
	if [ ! -x "$bin" ] || ! { command -v man >/dev/null 2>&1 || command -v groff >/dev/null 2>&1; }; then
		skip "$name: not built, or neither man nor groff to render $page"
		return
	fi
	render "$page" >"$TEST_TMP/$name.txt"
	check "$name: $page renders to text" test -s "$TEST_TMP/$name.txt"
	all_help "$name" "$bin" | text_options >"$TEST_TMP/$name.hopts"
	text_options <"$TEST_TMP/$name.txt" >"$TEST_TMP/$name.ropts"
	missing=$(comm -23 "$TEST_TMP/$name.hopts" "$TEST_TMP/$name.ropts" | tr '\n' ' ')
	[ -z "$missing" ] || diag "$name: in --help, not in the rendered $page: $missing"
	check "$name: every --help option ($(wc -l <"$TEST_TMP/$name.hopts")) is in the rendered page" \
		test -z "$missing"
	missing=""
	for opt in $(comm -13 "$TEST_TMP/$name.hopts" "$TEST_TMP/$name.ropts"); do
		for sib in "$CHORUSD" "$CHORUS" "$CHORUS_SIM"; do
			[ "$sib" != "$bin" ] && "$sib" --help 2>&1 | grep -q -- "$opt\([^a-z0-9-]\|\$\)" &&
				continue 2
		done
		missing="$missing $opt"
	done
	[ -z "$missing" ] || diag "$name: in the rendered $page, in no program's --help:$missing"
	check "$name: every option the rendered page names is in --help" test -z "$missing"
}
check_rendered chorusd "$CHORUSD" "$top_srcdir/man/chorusd.8"
check_rendered chorus "$CHORUS" "$top_srcdir/man/chorus.1"
check_rendered chorus-sim "$CHORUS_SIM" "$top_srcdir/man/chorus-sim.1"

# chorus-sim's synopsis has a line "chorus-sim COMMAND ..." for each command its
# --help lists (a missing .Nm once ran two commands together).
if [ -s "$TEST_TMP/chorus-sim.txt" ]; then
	missing=""
	synopsis=$(sed -n '/^SYNOPSIS/,/^[A-Z]/p' "$TEST_TMP/chorus-sim.txt")
	for c in $("$CHORUS_SIM" --help 2>&1 | sed -n '/^commands:/,/^$/s/^  \([a-z]\{1,\}\) .*/\1/p'); do
		echo "$synopsis" | grep -Eq "^ +chorus-sim $c( |\$)" || missing="$missing $c"
	done
	[ -z "$missing" ] || diag "chorus-sim: no synopsis line for:$missing"
	check "chorus-sim: the synopsis has a line per command" test -z "$missing"
	check "chorus-sim: --help lists the six commands" \
		test "$("$CHORUS_SIM" --help 2>&1 | sed -n '/^commands:/,/^$/p' | grep -c '^  [a-z]')" -eq 6
fi

check_program chorusd "$CHORUSD" "$top_srcdir/man/chorusd.8"
check_program chorus "$CHORUS" "$top_srcdir/man/chorus.1"
check_program chorus-sim "$CHORUS_SIM" "$top_srcdir/man/chorus-sim.1"

done_testing

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

check_program chorusd "$CHORUSD" "$top_srcdir/man/chorusd.8"
check_program chorus "$CHORUS" "$top_srcdir/man/chorus.1"
check_program chorus-sim "$CHORUS_SIM" "$top_srcdir/man/chorus-sim.1"

done_testing

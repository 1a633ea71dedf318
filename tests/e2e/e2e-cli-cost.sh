#!/bin/bash
# End-to-end: the CLI's start-up stays cheap (issue 17).  OpenSSL cost every
# call about 1.5 ms of the 2.3 ms `chorus submit` added to /bin/true, so
# chorus does not link it: only an https:// request loads the TLS plugin
# (chorus-tls.so, cli-tls-load.c).  Checked here with the dynamic loader's
# own trace (LD_DEBUG=files) against a real chorusd, not with a clock:
#  - chorus links no libssl, libcrypto or libevent_openssl (readelf -d);
#  - status and submit over http:// map none of them, and work; submit's
#    POST waits for the job (one request for a quick one), unless --detach;
#  - an https:// request loads the plugin, and with it libssl;
#  - a chorus with no plugin beside it nor installed still speaks http, and an
#    https request fails with exit 2 and one line saying what is missing;
#  - a plugin of another build is refused (exit 2, one line), never used.
# The speed itself is measured by bench/cli-cost.sh, not asserted here.
. "$top_srcdir/tests/lib.sh"

[ -x "$CHORUS" ] || skip_all "chorus not built"
PLUGIN=$(dirname "$CHORUS")/chorus-tls.so
[ -f "$PLUGIN" ] || skip_all "chorus-tls.so not built beside chorus"
# LD_DEBUG is glibc's: elsewhere the trace checks below cannot be made.
LD_DEBUG=files /bin/true 2>&1 | grep -q 'file=' || skip_all "no LD_DEBUG=files trace (not glibc?)"

base=$(port_base e2e-cli-cost)
fport() { echo $((base + $1)); }
hport() { echo $((base + 50 + $1)); }
declare -a PID
DEAD=$((base + 99)) # nothing listens here

# traced NAME CMD...: runs CMD with the loader's trace; stdout in $OUT, the
# trace and stderr in $TEST_TMP/NAME.trace; its exit status kept in $TEST_TMP/NAME.rc.
traced() {
	local name=$1
	shift
	LD_DEBUG=files "$@" >"$OUT" 2>"$TEST_TMP/$name.trace"
	echo $? >"$TEST_TMP/$name.rc"
}
rc_is() { [ "$(cat "$TEST_TMP/$1.rc")" = "$2" ] || { diag "$1 exited $(cat "$TEST_TMP/$1.rc"), wanted $2"; return 1; }; }
maps() { grep -qE "file=[^ ]*$2" "$TEST_TMP/$1.trace"; }
maps_no_tls() {
	if grep -E 'file=[^ ]*(libssl|libcrypto|libevent_openssl|chorus-tls)' "$TEST_TMP/$1.trace" >"$TEST_TMP/$1.tls"; then
		diag "mapped: $(head -n 3 "$TEST_TMP/$1.tls")"
		return 1
	fi
}
err_line() { # err_line NAME PATTERN: the one line chorus wrote, the trace aside
	grep -v '^ *[0-9]*:' "$TEST_TMP/$1.trace" >"$ERR"
	one_line_err "$2"
}

if command -v readelf >/dev/null 2>&1; then
	readelf -d "$CHORUS" >"$TEST_TMP/dyn"
	check "chorus needs no libssl, libcrypto or libevent_openssl (readelf -d)" \
		sh -c "! grep -E 'NEEDED.*(libssl|libcrypto|libevent_openssl)' '$TEST_TMP/dyn'"
	readelf -d "$PLUGIN" >"$TEST_TMP/dyn.so"
	check "chorus-tls.so needs libssl and libevent_openssl" \
		sh -c "grep -q 'NEEDED.*libssl' '$TEST_TMP/dyn.so' && grep -q 'NEEDED.*libevent_openssl' '$TEST_TMP/dyn.so'"
else
	skip "readelf -d (no readelf: apt-get install binutils)"
fi

start_node 1 --worker echo
URL=http://127.0.0.1:$(hport 1)
up() { "$CHORUS" -H "$URL" status >/dev/null 2>&1; }
check "a chorusd starts" wait_until 15000 up

traced status "$CHORUS" -H "$URL" status
check "status over http:// exits 0" rc_is status 0
check "... and maps no TLS library (LD_DEBUG=files)" maps_no_tls status
check "... while the trace does name what it maps (libevent)" maps status libevent
traced submit "$CHORUS" -H "$URL" submit echo --data cheap
check "submit over http:// exits 0" rc_is submit 0
check "... prints the result" sh -c "[ \"\$(cat '$OUT')\" = cheap ]"
check "... and maps no TLS library" maps_no_tls submit

# One request for a quick job: the POST itself waits (?wait_ms=500); --detach does not.
if command -v strace >/dev/null 2>&1; then
	sent() { strace -f -e trace=write,writev -s 64 -o "$TEST_TMP/$1.strace" "${@:2}" >"$OUT" 2>"$ERR"; }
	sent wait "$CHORUS" -H "$URL" -T "$TEST_TMP/n1/api.token" submit echo --data one
	check "submit's POST asks the node to wait for the job (?wait_ms=500)" \
		grep -q 'POST /v1/jobs?wait_ms=500 HTTP/1.1' "$TEST_TMP/wait.strace"
	sent detach "$CHORUS" -H "$URL" -T "$TEST_TMP/n1/api.token" submit echo --data one --detach
	check "submit --detach's POST does not" \
		sh -c "grep -q 'POST /v1/jobs HTTP/1.1' '$TEST_TMP/detach.strace' && ! grep -q 'wait_ms' '$TEST_TMP/detach.strace'"
else
	skip "the requests submit sends (no strace)"
fi

traced https "$CHORUS" -H "https://127.0.0.1:$DEAD" -t 2 status
check "an https:// request to a dead port exits 2" rc_is https 2
check "... having loaded the plugin beside chorus" maps https "$(basename "$(dirname "$CHORUS")")/chorus-tls.so"
check "... and with it libssl" maps https libssl
check "... one line: cannot reach" err_line https "cannot reach node at https://127.0.0.1:$DEAD"

# A chorus alone in a directory: the plugin is neither beside it nor installed.
mkdir -p "$TEST_TMP/alone" "$TEST_TMP/other"
cp "$CHORUS" "$TEST_TMP/alone/chorus"
installed=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" print-install-dirs 2>/dev/null |
	sed -n 's/^chorustlsdir=//p')
traced alone "$TEST_TMP/alone/chorus" -H "$URL" status
check "a chorus without its plugin still speaks http:// (exit 0)" rc_is alone 0
if [ -n "$installed" ] && [ ! -e "$installed/chorus-tls.so" ]; then
	traced alone-tls "$TEST_TMP/alone/chorus" -H "https://127.0.0.1:$DEAD" -t 2 status
	check "... and https:// fails with exit 2" rc_is alone-tls 2
	check "... one line: the plugin is not installed" err_line alone-tls "https:// needs the TLS plugin $installed/chorus-tls.so, which is not installed"
else
	skip "no plugin anywhere ($installed/chorus-tls.so is installed on this machine)"
fi

# A plugin of another build beside chorus: refused, not used, not skipped.
CC_=${CC:-cc}
if command -v "$CC_" >/dev/null 2>&1; then
	cp "$CHORUS" "$TEST_TMP/other/chorus"
	cat >"$TEST_TMP/other.c" <<'EOF'
#include <stddef.h>
struct other { const char *version; size_t ctx_size, tls_size; void *open, *bev, *close; };
const struct other cli_tls_plugin = { "0.0.0-another-build", 1, 1, 0, 0, 0 };
EOF
	"$CC_" -shared -fPIC -o "$TEST_TMP/other/chorus-tls.so" "$TEST_TMP/other.c"
	traced other "$TEST_TMP/other/chorus" -H "https://127.0.0.1:$DEAD" -t 2 status
	check "a plugin of another build beside chorus: exit 2" rc_is other 2
	check "... one line: it is not this chorus's" err_line other "the TLS plugin $TEST_TMP/other/chorus-tls.so is not this chorus's"
else
	skip "a plugin of another build (no C compiler to make one)"
fi
done_testing

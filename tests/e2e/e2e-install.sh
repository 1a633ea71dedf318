#!/bin/bash
# End-to-end: `make install DESTDIR=...` lays out every file (chorusd in
# sbin, chorus and chorus-sim in bin, chorus's TLS plugin in pkglibdir, the
# bash completion, the four man pages, the systemd unit,
# the sample /etc/chorus/chorusd.conf), the installed chorusd runs, the unit
# passes `systemd-analyze verify` with no warning (and its security check),
# the sample config is accepted with every example in it uncommented, and
# chorusd.conf(5) documents exactly the keys config.c accepts.
. "$top_srcdir/tests/lib.sh"

BUILD=$(cd "$top_builddir" && pwd)
SRC=$(cd "$top_srcdir" && pwd)
D=$TEST_TMP/root

# make, as a user would run it: not as a child of the `make check` that runs us.
plain_make() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$BUILD" "$@"; }

plain_make -s print-install-dirs >"$TEST_TMP/dirs" 2>"$ERR"
check "make print-install-dirs" grep -q '^sbindir=/' "$TEST_TMP/dirs"
# shellcheck disable=SC1090 # sbindir=..., one per line
. "$TEST_TMP/dirs"
check "make install DESTDIR=... succeeds" sh -c "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C '$BUILD' install DESTDIR='$D' >'$TEST_TMP/install.out' 2>&1"
[ "$tap_fail" -eq 0 ] || tail -n 20 "$TEST_TMP/install.out" | sed 's/^/# /'

for f in "$sbindir/chorusd" "$bindir/chorus" "$bindir/chorus-sim" "$chorustlsdir/chorus-tls.so"; do
	check "installed: $f (executable)" test -x "$D$f"
done
for f in "$man1dir/chorus.1" "$man1dir/chorus-sim.1" "$man5dir/chorusd.conf.5" "$man8dir/chorusd.8" \
	"$systemdsystemunitdir/chorusd.service" "$sysconfdir/chorus/chorusd.conf" \
	"$bashcompletiondir/chorus"; do
	check "installed: $f" test -s "$D$f"
done
version=$(sed -n 's/^PACKAGE_VERSION = //p' "$BUILD/Makefile")
check "the installed chorusd --version runs" run 0 "$D$sbindir/chorusd" --version
check "and prints chorusd $version" out_has "^chorusd $version\$"
check "the installed chorus --version runs" run 0 "$D$bindir/chorus" --version

UNIT=$D$systemdsystemunitdir/chorusd.service
check "the unit starts the installed chorusd with the installed config" \
	grep -q "^ExecStart=$sbindir/chorusd --config $sysconfdir/chorus/chorusd.conf " "$UNIT"
for line in 'Type=notify' 'DynamicUser=yes' 'StateDirectory=chorus' 'ExecReload=kill -HUP $MAINPID' \
	'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
	'PrivateDevices=yes' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
	'SystemCallFilter=@system-service' 'CapabilityBoundingSet=' \
	"LoadCredential=keyring:$sysconfdir/chorus/keyring"; do
	check "the unit has $line" grep -qxF "$line" "$UNIT"
done

if command -v systemd-analyze >/dev/null 2>&1; then
	# verify checks that ExecStart's program exists and that man finds the
	# Documentation= pages: point both at what was installed under DESTDIR.
	mkdir -p "$TEST_TMP/unit"
	sed "s|$sbindir/|$D$sbindir/|g" "$UNIT" >"$TEST_TMP/unit/chorusd.service"
	MANPATH=$D${man8dir%/man8} systemd-analyze verify "$TEST_TMP/unit/chorusd.service" \
		>"$TEST_TMP/verify.out" 2>&1
	vr=$?
	[ -s "$TEST_TMP/verify.out" ] && sed 's/^/# /' "$TEST_TMP/verify.out"
	check "systemd-analyze verify passes" test "$vr" -eq 0
	check "with no warning (an unknown key is only a warning)" test ! -s "$TEST_TMP/verify.out"
	check "systemd-analyze security: exposure 2.5 or less" \
		sh -c "systemd-analyze security --offline=yes --threshold=25 '$TEST_TMP/unit/chorusd.service' >'$TEST_TMP/security.out' 2>&1"
	diag "$(grep -o 'Overall exposure level.*' "$TEST_TMP/security.out")"
else
	skip "systemd-analyze verify (no systemd-analyze: apt-get install systemd)"
fi

# The sample: all comments as installed; every example in it is valid.
CONF=$D$sysconfdir/chorus/chorusd.conf
check "the sample sets nothing (all commented)" test -z "$(grep -v '^[[:space:]]*#' "$CONF" | grep -v '^[[:space:]]*$')"
sed -nE 's/^#([a-z][a-z-]* = .*)/\1/p' "$CONF" | grep -v '^keyring ' >"$TEST_TMP/sample.conf"
check "the sample has examples" test "$(wc -l <"$TEST_TMP/sample.conf")" -ge 10
check "chorusd -n takes every example of the sample" \
	run 0 "$D$sbindir/chorusd" -n --config "$TEST_TMP/sample.conf" --keyring "$KEYRING" --data-dir "$TEST_TMP/data"

# chorusd.conf(5) against config.c: the same keys, both ways.
grep -oE 'strcmp\(key, "[a-z-]+"\)' "$SRC/src/node/config.c" | sed -E 's/.*"(.*)".*/\1/' | sort -u >"$TEST_TMP/keys.code"
sed -nE 's/^\.It Cm ([a-z][a-z-]*).*/\1/p' "$SRC/man/chorusd.conf.5" | sort -u >"$TEST_TMP/keys.man"
check "config.c accepts keys" test "$(wc -l <"$TEST_TMP/keys.code")" -ge 20
missing=$(comm -23 "$TEST_TMP/keys.code" "$TEST_TMP/keys.man" | tr '\n' ' ')
[ -z "$missing" ] || diag "in config.c, not in chorusd.conf.5: $missing"
check "every key config.c accepts is in chorusd.conf(5)" test -z "$missing"
extra=$(comm -13 "$TEST_TMP/keys.code" "$TEST_TMP/keys.man" | tr '\n' ' ')
[ -z "$extra" ] || diag "in chorusd.conf.5, not in config.c: $extra"
check "every key chorusd.conf(5) documents is in config.c" test -z "$extra"
# The binary agrees: no documented key is an unknown key to it.
unknown=""
while read -r key; do
	printf '%s x\n' "$key" >"$TEST_TMP/one.conf"
	"$D$sbindir/chorusd" -n --config "$TEST_TMP/one.conf" --insecure-open --data-dir "$TEST_TMP/data" \
		2>&1 | grep -q "unknown key" && unknown="$unknown $key"
done <"$TEST_TMP/keys.man"
[ -z "$unknown" ] || diag "chorusd calls these unknown:$unknown"
check "chorusd knows every key chorusd.conf(5) documents" test -z "$unknown"
check "chorusd.8 refers to chorusd.conf(5)" grep -q '^\.Xr chorusd.conf 5' "$SRC/man/chorusd.8"

check "make uninstall DESTDIR=... succeeds" sh -c "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C '$BUILD' uninstall DESTDIR='$D' >'$TEST_TMP/uninstall.out' 2>&1"
check "and leaves no file behind" test -z "$(find "$D" -type f)"
done_testing

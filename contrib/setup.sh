#!/usr/bin/env bash
# Prepares a Debian 12 box to build chorus, then builds it.  Idempotent: the
# packages are installed only when one is missing, autoreconf runs only when
# configure is missing or older than its inputs, and make is incremental.
#
#   contrib/setup.sh [CONFIGURE-ARGS...]
#
# Configure arguments come from the command line, else $CONFIGURE_FLAGS, else
# --enable-debug.  configure reruns only when they change (or on a fresh tree).
# $SETUP_MAKE_TARGETS, when set, builds only those targets (the demo needs two).
set -eu

PACKAGES="build-essential autoconf automake pkg-config libevent-dev libnng-dev
libcjson-dev libsodium-dev libsqlite3-dev libssl-dev python3 man-db groff openssl curl
xxd chromium"
# xxd: the dashboard's files become C arrays (Makefile.am, api-ui.c);
# chromium: tests/e2e/e2e-ui.sh renders the dashboard headless.
# promtool, for tests/e2e/e2e-metrics.sh (`promtool check metrics` on GET /metrics):
# Debian ships it only in the prometheus package (19 MB).  Its server is not wanted:
# install_packages keeps the package's service from starting and leaves it disabled.
PACKAGES="$PACKAGES prometheus"
# systemd: tests/e2e/e2e-install.sh runs `systemd-analyze verify` on the
# installed chorusd.service (the package runs no init inside a container).
PACKAGES="$PACKAGES systemd"

say() { echo "setup: $*"; }

cd "$(dirname "$0")/.."

# ---------------------------------------------------------------- packages
install_packages() {
	local missing="" pkg sudo=""
	for pkg in $PACKAGES; do
		dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
	done
	if [ -z "$missing" ]; then
		say "all packages present"
		return
	fi
	if [ "$(id -u)" -ne 0 ]; then
		sudo="sudo"
	fi
	say "installing:$missing"
	$sudo apt-get update
	# policy-rc.d (exit 101) keeps a package's service from starting while it installs:
	# only promtool is wanted of prometheus, not a server listening on :9090.
	local policy=/usr/sbin/policy-rc.d made_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" &&
			made_policy=1
	fi
	# shellcheck disable=SC2086 # one word per package
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing ||
		{ [ -z "$made_policy" ] || $sudo rm -f "$policy"; return 1; }
	[ -z "$made_policy" ] || $sudo rm -f "$policy"
	case " $missing " in
	*" prometheus "*)
		if command -v systemctl >/dev/null 2>&1; then
			$sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
		fi ;;
	esac
}

# ---------------------------------------------------------------- configure
needs_autoreconf() {
	[ ! -x configure ] || [ configure -ot configure.ac ] || [ configure -ot Makefile.am ]
}

configure_tree() {
	local stamp=setup-args.stamp want
	if [ "$#" -eq 0 ]; then
		# shellcheck disable=SC2086 # flags are words
		set -- ${CONFIGURE_FLAGS---enable-debug}
	fi
	want="$*"
	if needs_autoreconf; then
		say "autoreconf -fi"
		autoreconf -fi
	fi
	if [ ! -f Makefile ] || [ ! -f config.status ] || [ config.status -ot configure ] ||
		[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
		say "./configure $want"
		./configure "$@"
		printf '%s\n' "$want" >"$stamp"
	fi
}

install_packages
configure_tree "$@"
say "make -j$(nproc) ${SETUP_MAKE_TARGETS:-}"
# shellcheck disable=SC2086
make -j"$(nproc)" ${SETUP_MAKE_TARGETS:-}

#!/usr/bin/env bash
# Lays a pristine copy of the source tree at ci-build/src (or $1) and prints
# its path: the tracked files and the untracked ones git does not ignore, as
# they are in the work tree, plus the generated build system (configure,
# Makefile.in, build-aux/, m4/, aclocal.m4, config.h.in) that
# contrib/setup.sh made.  Builds in other directories then configure from
# it (out of tree: mkdir ci-build/san && cd ci-build/san && ../src/configure),
# which automake refuses from a source tree that is itself configured, as
# the work tree is.  File times are kept, so a build there stays incremental.
set -eu

cd "$(dirname "$0")/.."
dest=${1:-ci-build/src}

if [ ! -x configure ]; then
	echo "ci-tree: no ./configure: run contrib/setup.sh first" >&2
	exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
{
	git ls-files -z --cached --others --exclude-standard
	for f in configure Makefile.in aclocal.m4 config.h.in build-aux m4; do
		[ -e "$f" ] && printf '%s\0' "$f"
	done
} | while IFS= read -r -d '' f; do
	# Deleted but still indexed files: skip.  ci-build itself never goes in.
	case $f in ci-build/*) continue ;; esac
	[ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$dest"
cd "$dest" && pwd

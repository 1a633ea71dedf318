#!/bin/sh
# Fails when a file of the core includes a header its protocol should not
# see (docs/core.md, "How the pieces fit"):
#  - a protocol's private header (DIR/DIR-internal.h) from outside DIR;
#  - raft/ (stand-alone: include/chorus/raft.h) anything of the core but base;
#  - base/ anything of the core but itself; ledger/ the core's internals
#    (struct core): it sees dispatch/jobmsg.h and base only;
#  - the programs around the core (src/node, src/cli, src/sim) any internal header;
# and when a function the core's files share is not named after its file.
# Usage: check-layout.sh [SRC-DIR]   (default: src)
src=${1:-src}
core=$src/core

# includes FILE...: "file:line:header" for each #include "..." line.
includes() {
	grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]+"' "$@" /dev/null 2>/dev/null |
		sed -E 's/^([^:]+):([0-9]+):.*"([^"]+)".*/\1:\2:\3/'
}

bad=$(
	for dir in "$core"/*/; do
		dir=${dir%/}
		name=${dir##*/}
		# Nobody outside DIR includes DIR's private header.
		includes $(find "$src" -name '*.[ch]' ! -path "$dir/*") |
			grep -E ":($name/)?$name-internal\.h$" | sed 's/$/  (private to '"$name"'\/)/'
	done
	includes "$core"/raft/*.[ch] | grep -vE ':(raft-internal\.h|base/base\.h|chorus/[a-z-]+\.h)$' |
		sed 's/$/  (raft is stand-alone: base and include\/chorus only)/'
	includes "$core"/base/*.[ch] | grep -vE ':(base/base\.h|chorus/[a-z-]+\.h)$' |
		sed 's/$/  (base sees no protocol)/'
	includes "$core"/ledger/*.[ch] | grep -vE ':(base/base\.h|dispatch/jobmsg\.h|chorus/[a-z-]+\.h)$' |
		sed 's/$/  (the ledger sees base and jobmsg only)/'
	includes $(find "$src/node" "$src/cli" "$src/sim" -name '*.[ch]' 2>/dev/null) |
		grep -E ':(core-internal\.h|[a-z]+/[a-z-]+-internal\.h|raft-internal\.h)$' |
		sed 's/$/  (outside the core: public headers and protocol interfaces only)/'
)
if [ -n "$bad" ]; then
	echo "src/core layout: a header included where it should not be (docs/core.md):" >&2
	echo "$bad" >&2
	exit 1
fi

# Function prefix = file name (docs/core.md): every function a file of the core
# defines for the others (not static) is named FILE_* (hyphens as underscores),
# or by the first word of a hyphenated name (a protocol's codec in a file of its
# own: raft_* in raft-msg.c); core_* is the public API wherever it lives, and an
# enum's printer is named after its enum.
bad=$(
	find "$core" -name '*.c' | sort | while read -r f; do
		base=$(basename "$f" .c | tr - _)
		first=${base%%_*}
		grep -nE '^[a-z][a-z0-9_ *]*[ *][a-z_][a-z0-9_]*\(' "$f" |
			grep -vE '^[0-9]+:(static|extern|typedef) ' |
			sed -E 's/^([0-9]+):[^(]*[ *]([a-z_][a-z0-9_]*)\(.*/\1 \2/' |
			while read -r line name; do
				case $name in
				"$base" | "$base"_* | "$first"_* | core_*) ;;
				job_state_name | job_outcome_name | work_status_name | member_state_name) ;;
				*) echo "$f:$line: $name  (not ${base}_*)" ;;
				esac
			done
	done
)
if [ -n "$bad" ]; then
	echo "src/core layout: a function not named after its file (docs/core.md):" >&2
	echo "$bad" >&2
	exit 1
fi
exit 0

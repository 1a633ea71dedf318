#!/bin/sh
# Fails when src/core includes an I/O header or calls a clock, socket, file or
# random-device function: the core must stay sans-io (see docs/architecture.md).
dir=${1:-src/core}
bad=$(grep -nE '#[[:space:]]*include[[:space:]]*<(event2/|event\.h|nng/|sqlite3\.h|sys/socket\.h|netinet/|arpa/|netdb\.h|pthread\.h|unistd\.h|fcntl\.h|sys/stat\.h|dirent\.h|time\.h|sys/time\.h)' "$dir"/*.c "$dir"/*.h "$dir"/*/*.c "$dir"/*/*.h 2>/dev/null;
      grep -nE '\b(clock_gettime|gettimeofday|time\(NULL\)|fopen|fread|fwrite|open|read|write|socket|connect|rand|random|srand|getrandom|randombytes_[a-z_]+|sodium_init|nng_[a-z_]+|sqlite3_[a-z_]+|event_[a-z_]+|evhttp_[a-z_]+)[[:space:]]*\(' "$dir"/*.c "$dir"/*.h "$dir"/*/*.c "$dir"/*/*.h 2>/dev/null | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)')
if [ -n "$bad" ]; then
	echo "src/core must stay sans-io; found:" >&2
	echo "$bad" >&2
	exit 1
fi
exit 0

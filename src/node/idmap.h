/*
 * idmap: job id -> row, in memory.  The job table and the ack outbox keep
 * their rows without a key on the job id: a job id is random, so a B-tree
 * keyed by it dirtied a random page per job (most of what those tables
 * wrote).  Rows are appended under SQLite's rowid and this map finds them.
 *
 * Open addressing with linear probing, at most half full, grown by doubling;
 * a deletion shifts the rest of its run back (no tombstones).  A slot is 24
 * bytes: 100,000 ids take 6 MiB at most.  Keys are job ids, BLAKE2b output,
 * but the slot is still chosen by mixing all 16 bytes.
 */
#ifndef CHORUS_NODE_IDMAP_H
#define CHORUS_NODE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#define IDMAP_KEY_BYTES 16

struct idmap_slot {
	int64_t row; /* 0: empty (SQLite's rowids start at 1) */
	uint8_t key[IDMAP_KEY_BYTES];
};

struct idmap {
	struct idmap_slot *v;
	size_t cap; /* 0 or a power of two */
	size_t n;
};

/* A job id in hex (exactly 2 * IDMAP_KEY_BYTES digits) as a key: 0, or -EINVAL. */
int idmap_key(uint8_t key[IDMAP_KEY_BYTES], const char *hex);

/* The row of key, or 0 when it is not there. */
int64_t idmap_get(const struct idmap *m, const uint8_t key[IDMAP_KEY_BYTES]);

/* Room for one more id (call before the row is written); 0 or -ENOMEM. */
int idmap_reserve(struct idmap *m);

/* key -> row (row > 0, key not there, room reserved). */
void idmap_put(struct idmap *m, const uint8_t key[IDMAP_KEY_BYTES], int64_t row);

/* key leaves; 0, or -ENOENT. */
int idmap_del(struct idmap *m, const uint8_t key[IDMAP_KEY_BYTES]);

void idmap_clear(struct idmap *m);
void idmap_free(struct idmap *m);

#endif

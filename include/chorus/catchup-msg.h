/*
 * catchup-msg: the bytes of the ledger snapshot and of the two backfill
 * messages (src/core/ledger/catchup-msg.c; docs/ledger-node.md, "Compaction and
 * catch-up").  Pure: no I/O, no state.
 */
#ifndef CHORUS_CATCHUP_MSG_H
#define CHORUS_CATCHUP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/ledger.h"
#include "chorus/limits.h"

/* The backfill messages travel as CORE_APP_LEDGER kinds. */
#define CATCHUP_VERSION       1
#define CATCHUP_MSG_REQ       3  /* after voterd.c's LMSG_SUBMIT (1) and LMSG_COMMITTED (2) */
#define CATCHUP_MSG_BLOCKS    4
#define CATCHUP_HEIGHT_MAX    (1ull << 53) /* the ledger's bound on numbers */
#define CATCHUP_SNAP_BYTES    (4 + 1 + 8 + LEDGER_HASH_BYTES)
#define CATCHUP_REQ_BYTES     (2 + 8 + 8 + 2)
#define CATCHUP_BLOCKS_HEADER (2 + 8 + 8 + 8 + 2)
#define CATCHUP_BLOCKS_MAX    64 /* blocks in one response */
_Static_assert(CATCHUP_SNAP_BYTES <= CHORUS_RAFT_SNAPSHOT_MAX, "the snapshot fits a Raft snapshot");
_Static_assert(CATCHUP_BLOCKS_HEADER + 4 + CHORUS_RAFT_ENTRY_MAX <= CHORUS_BODY_MAX,
               "a response carries at least one block of any size");

struct catchup_req {
	uint64_t req_id;
	uint64_t top;   /* the highest block wanted; the response goes down from it */
	uint16_t count; /* 1..CATCHUP_BLOCKS_MAX */
};
struct catchup_blocks {
	uint64_t req_id, top;
	uint64_t have; /* the sender's ledger height */
	uint16_t n;    /* blocks top, top - 1, ... */
	const uint8_t *data[CATCHUP_BLOCKS_MAX];
	uint32_t len[CATCHUP_BLOCKS_MAX];
};
void catchup_snap_encode(uint64_t height, const uint8_t hash[LEDGER_HASH_BYTES],
                         uint8_t out[CATCHUP_SNAP_BYTES]);
int catchup_snap_decode(const uint8_t *buf, size_t len, uint64_t *height,
                        uint8_t hash[LEDGER_HASH_BYTES]);
int catchup_req_encode(const struct catchup_req *q, uint8_t *out, size_t cap);
int catchup_req_decode(struct catchup_req *q, const uint8_t *buf, size_t len);
int catchup_blocks_begin(uint8_t *out, size_t cap, uint64_t req_id, uint64_t top, uint64_t have);
int catchup_blocks_add(uint8_t *out, size_t cap, size_t *len, const uint8_t *block, size_t blen);
int catchup_blocks_decode(struct catchup_blocks *b, const uint8_t *buf, size_t len);

#endif

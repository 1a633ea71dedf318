/*
 * catchup-msg: the bytes of the ledger snapshot and of the two backfill
 * messages (docs/ledger-node.md, "Compaction and catch-up").  Pure: no I/O,
 * no state, so the unit tests fuzz it alone.
 *
 * Every decoder checks the kind, the version, every length against what is
 * left and against the bounds, and refuses trailing bytes: an accepted input
 * re-encodes to itself.  All integers are big-endian.
 *
 *   snapshot  "CHLS", version, ledger height u64, head hash (32)
 *   request   kind 3, version, request id u64, top height u64, count u16
 *   blocks    kind 4, version, request id u64, top height u64, the sender's
 *             ledger height u64, n u16, then n x (length u32, block bytes):
 *             the blocks top, top - 1, ..., top - n + 1 (downward)
 */
#include <errno.h>
#include <string.h>

#include "chorus/catchup-msg.h"

static const uint8_t catchup_snap_magic[4] = { 'C', 'H', 'L', 'S' };

static void catchup_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t catchup_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---------------------------------------------------------------- snapshot */

void catchup_snap_encode(uint64_t height, const uint8_t hash[LEDGER_HASH_BYTES],
                         uint8_t out[CATCHUP_SNAP_BYTES])
{
	memcpy(out, catchup_snap_magic, 4);
	out[4] = CATCHUP_VERSION;
	catchup_put64(out + 5, height);
	memcpy(out + 13, hash, LEDGER_HASH_BYTES);
}

/*
 * Empty bytes are the first boot's snapshot (index 0): height 0, the zero
 * hash of the implied genesis.  0 or -EINVAL.
 */
int catchup_snap_decode(const uint8_t *buf, size_t len, uint64_t *height,
                        uint8_t hash[LEDGER_HASH_BYTES])
{
	*height = 0;
	memset(hash, 0, LEDGER_HASH_BYTES);
	if (len == 0)
		return 0;
	if (buf == NULL || len != CATCHUP_SNAP_BYTES || memcmp(buf, catchup_snap_magic, 4) != 0 ||
	    buf[4] != CATCHUP_VERSION)
		return -EINVAL;
	*height = catchup_get64(buf + 5);
	if (*height > CATCHUP_HEIGHT_MAX)
		return -EINVAL;
	memcpy(hash, buf + 13, LEDGER_HASH_BYTES);
	return 0;
}

/* ---------------------------------------------------------------- request */

int catchup_req_encode(const struct catchup_req *q, uint8_t *out, size_t cap)
{
	if (cap < CATCHUP_REQ_BYTES || q->top == 0 || q->top > CATCHUP_HEIGHT_MAX ||
	    q->count == 0 || q->count > CATCHUP_BLOCKS_MAX)
		return -EINVAL;
	out[0] = CATCHUP_MSG_REQ;
	out[1] = CATCHUP_VERSION;
	catchup_put64(out + 2, q->req_id);
	catchup_put64(out + 10, q->top);
	out[18] = (uint8_t)(q->count >> 8);
	out[19] = (uint8_t)q->count;
	return CATCHUP_REQ_BYTES;
}

int catchup_req_decode(struct catchup_req *q, const uint8_t *buf, size_t len)
{
	memset(q, 0, sizeof *q);
	if (len != CATCHUP_REQ_BYTES || buf[0] != CATCHUP_MSG_REQ || buf[1] != CATCHUP_VERSION)
		return -EINVAL;
	q->req_id = catchup_get64(buf + 2);
	q->top = catchup_get64(buf + 10);
	q->count = (uint16_t)(buf[18] << 8 | buf[19]);
	if (q->top == 0 || q->top > CATCHUP_HEIGHT_MAX || q->count == 0 ||
	    q->count > CATCHUP_BLOCKS_MAX)
		return -EINVAL;
	return 0;
}

/* ---------------------------------------------------------------- blocks */

/* The header of a response with no block yet; its length, or -EINVAL. */
int catchup_blocks_begin(uint8_t *out, size_t cap, uint64_t req_id, uint64_t top, uint64_t have)
{
	if (cap < CATCHUP_BLOCKS_HEADER || top == 0 || top > CATCHUP_HEIGHT_MAX ||
	    have > CATCHUP_HEIGHT_MAX)
		return -EINVAL;
	out[0] = CATCHUP_MSG_BLOCKS;
	out[1] = CATCHUP_VERSION;
	catchup_put64(out + 2, req_id);
	catchup_put64(out + 10, top);
	catchup_put64(out + 18, have);
	out[26] = out[27] = 0;
	return CATCHUP_BLOCKS_HEADER;
}

/*
 * Appends the next block (one height below the last) at *len; 0, -ENOSPC
 * when it does not fit in cap (or the count is full), -EINVAL when it is
 * empty or over CHORUS_RAFT_ENTRY_MAX.
 */
int catchup_blocks_add(uint8_t *out, size_t cap, size_t *len, const uint8_t *block,
                       size_t blen)
{
	unsigned n = (unsigned)out[26] << 8 | out[27];

	if (blen == 0 || blen > CHORUS_RAFT_ENTRY_MAX)
		return -EINVAL;
	if (n >= CATCHUP_BLOCKS_MAX || n >= catchup_get64(out + 10) || *len + 4 + blen > cap)
		return -ENOSPC;
	out[*len] = (uint8_t)(blen >> 24);
	out[*len + 1] = (uint8_t)(blen >> 16);
	out[*len + 2] = (uint8_t)(blen >> 8);
	out[*len + 3] = (uint8_t)blen;
	memcpy(out + *len + 4, block, blen);
	*len += 4 + blen;
	n++;
	out[26] = (uint8_t)(n >> 8);
	out[27] = (uint8_t)n;
	return 0;
}

/* Block pointers point into buf.  0 or -EINVAL. */
int catchup_blocks_decode(struct catchup_blocks *b, const uint8_t *buf, size_t len)
{
	size_t at = CATCHUP_BLOCKS_HEADER;

	memset(b, 0, sizeof *b);
	if (len < CATCHUP_BLOCKS_HEADER || len > CHORUS_BODY_MAX || buf[0] != CATCHUP_MSG_BLOCKS ||
	    buf[1] != CATCHUP_VERSION)
		return -EINVAL;
	b->req_id = catchup_get64(buf + 2);
	b->top = catchup_get64(buf + 10);
	b->have = catchup_get64(buf + 18);
	b->n = (uint16_t)(buf[26] << 8 | buf[27]);
	if (b->top == 0 || b->top > CATCHUP_HEIGHT_MAX || b->have > CATCHUP_HEIGHT_MAX ||
	    b->n > CATCHUP_BLOCKS_MAX || b->n > b->top)
		return -EINVAL;
	for (unsigned i = 0; i < b->n; i++) {
		uint32_t n;

		if (len - at < 4)
			return -EINVAL;
		n = (uint32_t)buf[at] << 24 | (uint32_t)buf[at + 1] << 16 |
		    (uint32_t)buf[at + 2] << 8 | buf[at + 3];
		if (n == 0 || n > CHORUS_RAFT_ENTRY_MAX || len - at - 4 < n)
			return -EINVAL;
		b->data[i] = buf + at + 4;
		b->len[i] = n;
		at += 4 + (size_t)n;
	}
	return at == len ? 0 : -EINVAL;
}

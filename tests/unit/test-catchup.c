/*
 * catchup-msg: the snapshot bytes and the backfill messages round-trip, and
 * their decoders are fuzzed: random bytes, every truncation, bit flips,
 * byte runs and extensions of valid messages.  An input is either rejected
 * or accepted with every field in bounds, every block inside the input, and
 * then it re-encodes to exactly itself (one encoding per message).  Under
 * the debug build's sanitizers an out-of-bounds read fails the run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "voterd.h"
#include "tap.h"

#define ROUNDS 200000

static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
	return tap_rand(&rs);
}

/* A response of n fake blocks (sizes vary) down from top. */
static size_t make_blocks(uint8_t *buf, size_t cap, uint64_t top, unsigned n, size_t each)
{
	static uint8_t block[CHORUS_RAFT_ENTRY_MAX];
	size_t len = (size_t)catchup_blocks_begin(buf, cap, 77, top, top + 5);

	for (unsigned i = 0; i < n; i++) {
		size_t bl = 1 + (each + i * 37) % each;

		memset(block, (int)(i + 1), bl);
		if (catchup_blocks_add(buf, cap, &len, block, bl) != 0)
			break;
	}
	return len;
}

/* Accepted input must re-encode to itself. */
static int blocks_reencode(const struct catchup_blocks *b, const uint8_t *in, size_t len)
{
	static uint8_t out[CHORUS_BODY_MAX];
	size_t n;
	int r = catchup_blocks_begin(out, sizeof out, b->req_id, b->top, b->have);

	if (r < 0)
		return 0;
	n = (size_t)r;
	for (unsigned i = 0; i < b->n; i++) {
		if (b->data[i] < in || b->data[i] + b->len[i] > in + len)
			return 0;
		if (catchup_blocks_add(out, sizeof out, &n, b->data[i], b->len[i]) != 0)
			return 0;
	}
	return n == len && memcmp(out, in, len) == 0;
}

static int req_reencode(const struct catchup_req *q, const uint8_t *in, size_t len)
{
	uint8_t out[CATCHUP_REQ_BYTES];

	return catchup_req_encode(q, out, sizeof out) == (int)len && memcmp(out, in, len) == 0;
}

static void test_round_trip(void)
{
	static uint8_t buf[CHORUS_BODY_MAX];
	uint8_t snap[CATCHUP_SNAP_BYTES], hash[LEDGER_HASH_BYTES], got[LEDGER_HASH_BYTES];
	struct catchup_req q = { .req_id = 9, .top = 1000, .count = 64 }, q2;
	struct catchup_blocks *b = malloc(sizeof *b);
	uint64_t height = 1;
	size_t len;

	memset(hash, 0xab, sizeof hash);
	catchup_snap_encode(4242, hash, snap);
	ok(catchup_snap_decode(snap, sizeof snap, &height, got) == 0 && height == 4242 &&
	       memcmp(got, hash, sizeof hash) == 0,
	   "snapshot bytes round-trip (height, head hash)");
	ok(catchup_snap_decode(NULL, 0, &height, got) == 0 && height == 0 && got[0] == 0,
	   "empty snapshot bytes are height 0, the zero hash");
	ok(catchup_snap_decode(snap, sizeof snap - 1, &height, got) != 0, "a short snapshot is refused");
	snap[4] = 2;
	ok(catchup_snap_decode(snap, sizeof snap, &height, got) != 0, "another version is refused");

	len = (size_t)catchup_req_encode(&q, buf, sizeof buf);
	ok(len == CATCHUP_REQ_BYTES && catchup_req_decode(&q2, buf, len) == 0 && q2.req_id == 9 &&
	       q2.top == 1000 && q2.count == 64,
	   "a request round-trips");
	q.count = CATCHUP_BLOCKS_MAX + 1;
	ok(catchup_req_encode(&q, buf, sizeof buf) < 0, "a request over the count bound is refused");

	len = make_blocks(buf, sizeof buf, 100, 5, 1000);
	ok(catchup_blocks_decode(b, buf, len) == 0 && b->n == 5 && b->top == 100 && b->have == 105 &&
	       b->req_id == 77 && blocks_reencode(b, buf, len),
	   "a response of 5 blocks round-trips");
	len = make_blocks(buf, sizeof buf, 3, 10, 10);
	ok(catchup_blocks_decode(b, buf, len) == 0 && b->n == 3,
	   "a response stops at height 1 (3 blocks down from 3)");
	len = make_blocks(buf, sizeof buf, 1000, 64, CHORUS_RAFT_ENTRY_MAX);
	ok(catchup_blocks_decode(b, buf, len) == 0 && b->n >= 1 && len <= CHORUS_BODY_MAX,
	   "big blocks: as many as fit in a frame body (%u)", b->n);
	{
		static uint8_t big[CHORUS_RAFT_ENTRY_MAX + 1];
		size_t l2 = (size_t)catchup_blocks_begin(buf, sizeof buf, 1, 10, 10);

		ok(catchup_blocks_add(buf, sizeof buf, &l2, big, sizeof big) == -EINVAL,
		   "a block over CHORUS_RAFT_ENTRY_MAX is refused by the encoder");
	}
	free(b);
}

/* One mutated input through both decoders: never a crash; accepted means canonical. */
static int fuzz_one(const uint8_t *in, size_t len, struct catchup_blocks *b, unsigned *accepted)
{
	struct catchup_req q;
	uint64_t height;
	uint8_t hash[LEDGER_HASH_BYTES];

	if (catchup_blocks_decode(b, in, len) == 0) {
		(*accepted)++;
		if (b->n > CATCHUP_BLOCKS_MAX || b->n > b->top || !blocks_reencode(b, in, len))
			return 0;
	}
	if (catchup_req_decode(&q, in, len) == 0) {
		(*accepted)++;
		if (q.count == 0 || q.count > CATCHUP_BLOCKS_MAX || q.top == 0 || !req_reencode(&q, in, len))
			return 0;
	}
	if (catchup_snap_decode(in, len, &height, hash) == 0 && len != 0 &&
	    (len != CATCHUP_SNAP_BYTES || height > CATCHUP_HEIGHT_MAX))
		return 0;
	return 1;
}

static void test_fuzz(void)
{
	static uint8_t seed[4][CHORUS_BODY_MAX], in[CHORUS_BODY_MAX + 64];
	size_t seedlen[4];
	struct catchup_blocks *b = malloc(sizeof *b);
	struct catchup_req q = { .req_id = 1, .top = 50, .count = 8 };
	unsigned accepted = 0, bad = 0, truncated_ok = 0;

	seedlen[0] = make_blocks(seed[0], CHORUS_BODY_MAX, 50, 8, 300);
	seedlen[1] = make_blocks(seed[1], CHORUS_BODY_MAX, 2, 2, 40);
	seedlen[2] = (size_t)catchup_req_encode(&q, seed[2], CHORUS_BODY_MAX);
	{
		uint8_t h[LEDGER_HASH_BYTES] = { 1 };

		catchup_snap_encode(7, h, seed[3]);
		seedlen[3] = CATCHUP_SNAP_BYTES;
	}
	/* Every truncation of every seed: only the whole message is accepted. */
	for (int s = 0; s < 4; s++)
		for (size_t l = 0; l < seedlen[s]; l++) {
			unsigned before = accepted;

			bad += !fuzz_one(seed[s], l, b, &accepted);
			truncated_ok += accepted != before;
		}
	ok(bad == 0 && truncated_ok == 0, "every truncation of every message is rejected");
	for (int round = 0; round < ROUNDS; round++) {
		int s = (int)(next() % 4), kind = (int)(next() % 4);
		size_t len = seedlen[s];

		memcpy(in, seed[s], len);
		if (kind == 0) { /* random bytes, often with a plausible kind byte */
			len = (size_t)(next() % 400);
			for (size_t i = 0; i < len; i++)
				in[i] = (uint8_t)next();
			if (len > 1 && next() % 2) {
				in[0] = (uint8_t)(CATCHUP_MSG_REQ + next() % 2);
				in[1] = CATCHUP_VERSION;
			}
		} else if (kind == 1) { /* bit flips */
			for (int k = 0; k < 1 + (int)(next() % 4) && len > 0; k++)
				in[next() % len] ^= (uint8_t)(1u << (next() % 8));
		} else if (kind == 2 && len > 0) { /* a run of one byte (lengths, counts) */
			size_t at = next() % len, n = 1 + next() % 8;
			uint8_t v = (uint8_t)(next() % 2 ? 0xff : next());

			for (size_t i = at; i < at + n && i < len; i++)
				in[i] = v;
		} else { /* extended or cut */
			if (next() % 2 && len + 64 <= sizeof in) {
				for (int i = 0; i < 1 + (int)(next() % 63); i++)
					in[len++] = (uint8_t)next();
			} else if (len > 0) {
				len = next() % len;
			}
		}
		bad += !fuzz_one(in, len, b, &accepted);
	}
	ok(bad == 0, "%d mutated and random inputs: no crash, accepted ones canonical (%u accepted)",
	   ROUNDS, accepted);
	free(b);
}

int main(void)
{
	test_round_trip();
	test_fuzz();
	return tap_done();
}

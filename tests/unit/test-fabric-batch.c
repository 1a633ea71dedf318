/* fabric-batch: the envelope's layout, its bounds, and every decoder refusal. */
#include <string.h>

#include "fabric-batch.h"
#include "tap.h"

static uint8_t env[FABRIC_BATCH_MAX + 64];
static struct fabric_batch_frame frames[FABRIC_BATCH_FRAMES_MAX];

static int
decode(size_t len)
{
	return fabric_batch_decode(env, len, frames, FABRIC_BATCH_FRAMES_MAX);
}

static void
test_roundtrip(void)
{
	static uint8_t f1[] = "CHone", f2[] = "CHtwo-longer", big[CHORUS_FRAME_MAX];
	size_t used = fabric_batch_begin(env, FABRIC_BATCH_MAX);

	ok(used == FABRIC_BATCH_HEADER && env[0] == FABRIC_BATCH_MAGIC &&
	       env[1] == FABRIC_BATCH_VERSION && fabric_batch_count(env, used) == 0,
	   "an empty envelope is magic, version, count 0");
	ok(decode(used) == FABRIC_BATCH_ECOUNT, "an empty envelope does not decode");
	ok(fabric_batch_add(env, FABRIC_BATCH_MAX, &used, f1, 5) == 0 && used == 4 + 4 + 5,
	   "one frame: header, length, frame");
	ok(memcmp(env, "\xcb\x01\x00\x01\x00\x00\x00\x05" "CHone", used) == 0,
	   "the bytes are exactly the documented layout");
	ok(decode(used) == 1 && frames[0].len == 5 && memcmp(frames[0].frame, f1, 5) == 0,
	   "a batch of one decodes to its frame");
	ok(fabric_batch_add(env, FABRIC_BATCH_MAX, &used, f2, 12) == 0, "a second frame");
	ok(decode(used) == 2 && frames[1].len == 12 && memcmp(frames[1].frame, f2, 12) == 0 &&
	       frames[0].len == 5,
	   "two frames decode in order");
	ok(fabric_batch_is(env, used) && !fabric_batch_is(f1, 5) && !fabric_batch_is(env, 0),
	   "an envelope is told from a bare frame ('C...') by its first byte");

	ok(fabric_batch_add(env, FABRIC_BATCH_MAX, &used, f1, 0) == FABRIC_BATCH_EFRAME,
	   "the encoder refuses an empty frame");
	ok(fabric_batch_add(env, FABRIC_BATCH_MAX, &used, big, CHORUS_FRAME_MAX + 1) ==
	           FABRIC_BATCH_EFRAME,
	   "the encoder refuses a frame over CHORUS_FRAME_MAX");
	ok(fabric_batch_add(env, used + 8, &used, f2, 12) == FABRIC_BATCH_EFULL,
	   "the encoder refuses to write past the buffer it is given");
	ok(decode(used) == 2, "refusals leave the envelope as it was");

	used = fabric_batch_begin(env, FABRIC_BATCH_MAX);
	memset(big, 'C', sizeof big);
	ok(fabric_batch_add(env, FABRIC_BATCH_MAX, &used, big, CHORUS_FRAME_MAX) == 0,
	   "the largest frame fits an envelope");
	ok(decode(used) == 1 && frames[0].len == CHORUS_FRAME_MAX, "and decodes");
	ok(fabric_batch_add(env, FABRIC_BATCH_MAX, &used, big, CHORUS_FRAME_MAX / 2) == 0,
	   "half of one more fits");
	ok(fabric_batch_add(env, FABRIC_BATCH_MAX, &used, big, CHORUS_FRAME_MAX) ==
	           FABRIC_BATCH_EFULL && used <= FABRIC_BATCH_MAX,
	   "another largest frame would pass FABRIC_BATCH_MAX: EFULL");
	ok(decode(used) == 2, "the full envelope decodes");
	used = fabric_batch_begin(env, FABRIC_BATCH_MAX);
	while (fabric_batch_add(env, FABRIC_BATCH_MAX, &used, big, 1000) == 0)
		;
	ok(used <= FABRIC_BATCH_MAX && used + FABRIC_BATCH_ENTRY + 1000 > FABRIC_BATCH_MAX &&
	       decode(used) == (int)fabric_batch_count(env, used),
	   "filled with 1000-byte frames: %u of them, %zu bytes, decodes",
	   fabric_batch_count(env, used), used);
}

static void
test_count_bound(void)
{
	size_t used = fabric_batch_begin(env, FABRIC_BATCH_MAX);
	int n = 0;

	while (fabric_batch_add(env, FABRIC_BATCH_MAX, &used, (const uint8_t *)"C", 1) == 0)
		n++;
	ok(n == FABRIC_BATCH_FRAMES_MAX, "the encoder stops at FABRIC_BATCH_FRAMES_MAX frames (%d)",
	   n);
	ok(decode(used) == FABRIC_BATCH_FRAMES_MAX, "and that many decode");
	ok(fabric_batch_decode(env, used, frames, 10) == FABRIC_BATCH_ECOUNT,
	   "the decoder never writes more frames than the room it is given");
	/* A count lie: one more frame, genuinely present, over the bound. */
	tap_put_be32(env + used, 1);
	env[used + 4] = 'C';
	env[2] = (uint8_t)((FABRIC_BATCH_FRAMES_MAX + 1) >> 8);
	env[3] = (uint8_t)(FABRIC_BATCH_FRAMES_MAX + 1);
	ok(decode(used + 5) == FABRIC_BATCH_ECOUNT, "a count over the bound is refused");
}

static void
test_refusals(void)
{
	size_t used = fabric_batch_begin(env, FABRIC_BATCH_MAX);

	fabric_batch_add(env, FABRIC_BATCH_MAX, &used, (const uint8_t *)"CHabc", 5);
	fabric_batch_add(env, FABRIC_BATCH_MAX, &used, (const uint8_t *)"CHdefgh", 7);
	ok(decode(used) == 2, "a good envelope of two (%zu bytes)", used);
	ok(decode(0) == FABRIC_BATCH_ESHORT && decode(3) == FABRIC_BATCH_ESHORT,
	   "shorter than the header: ESHORT");
	for (size_t n = 4; n < used; n++) {
		int r = decode(n);
		if (r != FABRIC_BATCH_ETRUNC) {
			ok(0, "truncated to %zu bytes: %s", n, fabric_batch_strerror(r));
			return;
		}
	}
	ok(1, "every truncation past the header is ETRUNC");
	env[used] = 0;
	ok(decode(used + 1) == FABRIC_BATCH_ETRAILING, "one byte after the last frame: ETRAILING");

	env[0] = 'C';
	ok(decode(used) == FABRIC_BATCH_EMAGIC, "another magic: EMAGIC");
	env[0] = FABRIC_BATCH_MAGIC;
	env[1] = FABRIC_BATCH_VERSION + 1;
	ok(decode(used) == FABRIC_BATCH_EVERSION, "another version: EVERSION");
	env[1] = FABRIC_BATCH_VERSION;

	env[3] = 3;
	ok(decode(used) == FABRIC_BATCH_ETRUNC, "a count larger than the frames present: ETRUNC");
	env[3] = 1;
	ok(decode(used) == FABRIC_BATCH_ETRAILING, "a count smaller than the frames present: ETRAILING");
	env[3] = 0;
	ok(decode(used) == FABRIC_BATCH_ECOUNT, "count 0: ECOUNT");
	env[3] = 2;

	tap_put_be32(env + 4, 0);
	ok(decode(used) == FABRIC_BATCH_EFRAME, "a zero frame length: EFRAME");
	tap_put_be32(env + 4, CHORUS_FRAME_MAX + 1);
	ok(decode(used) == FABRIC_BATCH_EFRAME, "a frame length over CHORUS_FRAME_MAX: EFRAME");
	tap_put_be32(env + 4, 0xffffffffu);
	ok(decode(used) == FABRIC_BATCH_EFRAME, "a frame length of 2^32-1: EFRAME");
	tap_put_be32(env + 4, 6);
	ok(decode(used) == FABRIC_BATCH_ETRUNC, "a length one too long shifts the next: refused");
	tap_put_be32(env + 4, 5);
	ok(decode(used) == 2, "restored, it decodes again");

	ok(decode(FABRIC_BATCH_MAX + 1) == FABRIC_BATCH_ESIZE, "over FABRIC_BATCH_MAX: ESIZE");
	ok(strcmp(fabric_batch_strerror(FABRIC_BATCH_ETRUNC), "truncated frame") == 0 &&
	       strcmp(fabric_batch_strerror(-1000), "unknown error") == 0,
	   "every error has a message");
}

int
main(void)
{
	test_roundtrip();
	test_count_bound();
	test_refusals();
	return tap_done();
}

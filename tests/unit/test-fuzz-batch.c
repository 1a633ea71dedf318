/*
 * Deterministic fuzzing of the batch envelope decoder.
 *
 * Valid envelopes are built with the encoder, then mutated (bit flips, byte
 * writes, truncation, extension, count and length lies, splices) or replaced
 * by random bytes, and decoded.  Whatever the input, the decoder must either
 * refuse it with one of its error codes or return frames that lie inside the
 * input, within their bounds, back to back, covering it exactly: re-encoding
 * them must give back the very same bytes (the envelope is canonical).
 * Unmutated envelopes must decode to the frames they were built from.  A
 * fixed number of rounds from a fixed seed, so every run is the same run.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fabric-batch.h"
#include "tap.h"

#define ROUNDS      100000
#define SMALL_MAX   4096   /* most envelopes: the decoder's work, not memcpy's */
#define TIME_MAX_S  60     /* even under sanitizers; about a second -O2 */

static uint8_t in[FABRIC_BATCH_MAX + 256], out[FABRIC_BATCH_MAX + 256];
static uint8_t src[FABRIC_BATCH_MAX];
static struct fabric_batch_frame frames[FABRIC_BATCH_FRAMES_MAX];
static size_t src_len[FABRIC_BATCH_FRAMES_MAX];
static size_t src_off[FABRIC_BATCH_FRAMES_MAX];

static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
	return tap_rand(&rs);
}

/* A valid envelope of random frames in `in`; returns its length and count. */
static size_t
build(unsigned *count, size_t budget)
{
	size_t used = fabric_batch_begin(in, sizeof in), pos = 0;
	unsigned want = 1 + (unsigned)(next() % (next() % 8 == 0 ? FABRIC_BATCH_FRAMES_MAX : 8));

	*count = 0;
	while (*count < want) {
		size_t len = 1 + (size_t)(next() % (next() % 16 == 0 ? CHORUS_FRAME_MAX : 300));

		if (fabric_batch_need(used, len) > budget && *count == 0)
			len = 1 + (size_t)(next() % 64); /* never an empty envelope */
		if (fabric_batch_need(used, len) > budget || pos + len > sizeof src)
			break;
		for (size_t k = 0; k < len; k++)
			src[pos + k] = (uint8_t)next();
		if (fabric_batch_add(in, sizeof in, &used, src + pos, len) != 0)
			break;
		src_off[*count] = pos;
		src_len[*count] = len;
		pos += len;
		(*count)++;
	}
	return used;
}

/* Mutates in[0..len); returns the new length. */
static size_t
mutate(size_t len)
{
	int ops = 1 + (int)(next() % 3);

	for (int k = 0; k < ops; k++) {
		size_t at = len > 0 ? (size_t)(next() % len) : 0;

		switch (next() % 9) {
		case 0: in[at] ^= (uint8_t)(1u << (next() % 8)); break;
		case 1: in[at] = (uint8_t)next(); break;
		case 2: len = (size_t)(next() % (len + 1)); break; /* truncate */
		case 3: { /* extend with junk */
			size_t more = 1 + (size_t)(next() % 16);
			if (len + more <= sizeof in) {
				for (size_t j = 0; j < more; j++)
					in[len + j] = (uint8_t)next();
				len += more;
			}
			break;
		}
		case 4: /* count lie: near the truth, zero, or huge */
			if (len >= 4) {
				unsigned c = (unsigned)in[2] << 8 | in[3];
				unsigned lies[] = { c + 1, c - 1, 0, 0xffff, FABRIC_BATCH_FRAMES_MAX + 1,
				                    (unsigned)next() };
				c = lies[next() % 6] & 0xffff;
				in[2] = (uint8_t)(c >> 8);
				in[3] = (uint8_t)c;
			}
			break;
		case 5: /* length lie on the first frame */
			if (len >= 8) {
				uint32_t l = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 |
				             (uint32_t)in[6] << 8 | in[7];
				uint32_t lies[] = { l + 1, l - 1, 0, 0xffffffffu, CHORUS_FRAME_MAX + 1,
				                    (uint32_t)next() };
				tap_put_be32(in + 4, lies[next() % 6]);
			}
			break;
		case 6: /* length lie anywhere: a u32 written at a random offset */
			if (len >= 4)
				tap_put_be32(in + (size_t)(next() % (len - 3)), (uint32_t)(next() % 70000));
			break;
		case 7: /* splice: a copy of another part of itself */
			if (len > 8) {
				size_t from = (size_t)(next() % len), n = (size_t)(next() % 64);
				if (from + n <= len && at + n <= len)
					memmove(in + at, in + from, n);
			}
			break;
		default: in[1] = (uint8_t)(next() % 3); break; /* version 0, 1 or 2 */
		}
	}
	return len;
}

/* The decoder's promise for any input: refusal, or frames that re-encode to it. */
static int
check(size_t len, int r)
{
	size_t used;

	if (r < 0)
		return r >= FABRIC_BATCH_EFULL && r != FABRIC_BATCH_EFULL;
	if (r < 1 || r > FABRIC_BATCH_FRAMES_MAX || len > FABRIC_BATCH_MAX)
		return 0;
	used = fabric_batch_begin(out, sizeof out);
	for (int i = 0; i < r; i++) {
		if (frames[i].len < 1 || frames[i].len > CHORUS_FRAME_MAX ||
		    frames[i].frame < in + FABRIC_BATCH_HEADER ||
		    frames[i].frame + frames[i].len > in + len)
			return 0;
		if (fabric_batch_add(out, sizeof out, &used, frames[i].frame, frames[i].len) != 0)
			return 0;
	}
	return used == len && memcmp(in, out, len) == 0;
}

int
main(void)
{
	unsigned long counts[10] = { 0 }, good = 0, bad = 0, mismatch = 0, valid_ok = 0;
	clock_t t0 = clock();

	for (int round = 0; round < ROUNDS; round++) {
		unsigned count;
		size_t budget = next() % 100 == 0 ? FABRIC_BATCH_MAX : SMALL_MAX;
		size_t len = build(&count, budget);
		int r = fabric_batch_decode(in, len, frames, FABRIC_BATCH_FRAMES_MAX);

		/* Unmutated: exactly the frames it was built from. */
		if (r == (int)count) {
			int same = 1;
			for (unsigned i = 0; i < count && same; i++)
				same = frames[i].len == src_len[i] &&
				       memcmp(frames[i].frame, src + src_off[i], src_len[i]) == 0;
			valid_ok += same;
		}
		if (next() % 10 == 0) { /* pure noise, half of it with a good header */
			len = (size_t)(next() % 512);
			for (size_t k = 0; k < len; k++)
				in[k] = (uint8_t)next();
			if (len >= 2 && next() % 2 == 0) {
				in[0] = FABRIC_BATCH_MAGIC;
				in[1] = FABRIC_BATCH_VERSION;
			}
		} else {
			len = mutate(len);
		}
		r = fabric_batch_decode(in, len, frames, FABRIC_BATCH_FRAMES_MAX);
		if (!check(len, r))
			mismatch++;
		if (r < 0)
			bad++, counts[-r]++;
		else
			good++;
	}
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;

	ok(valid_ok == ROUNDS, "every unmutated envelope decodes to its frames (%lu of %d)",
	   valid_ok, ROUNDS);
	ok(mismatch == 0, "every mutated input is refused or decodes canonically (%lu bad)",
	   mismatch);
	diag("after mutation: %lu decoded, %lu refused: short %lu magic %lu version %lu count %lu "
	     "trunc %lu frame %lu trailing %lu size %lu", good, bad, counts[1], counts[2],
	     counts[3], counts[4], counts[5], counts[6], counts[7], counts[8]);
	ok(counts[1] && counts[2] && counts[3] && counts[4] && counts[5] && counts[6] && counts[7],
	   "the mutations reach every refusal of the decoder");
	ok(good > 0, "some mutations still decode (a lie that happens to be consistent)");
	ok(secs < TIME_MAX_S, "%d rounds in %.2f s of CPU (bound %d s)", ROUNDS, secs, TIME_MAX_S);
	return tap_done();
}

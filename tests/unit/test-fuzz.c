/*
 * Deterministic fuzzing of the frame decoder and every message handler.
 *
 * Real frames are captured from a small cluster, then mutated (bit flips,
 * byte runs, truncation, extension, splices) and fed to a live node, both
 * as they are (the recipient and MAC checks reject most) and re-MACed by a
 * member for that node, so that the JSON decoders behind the MAC are
 * exercised too.
 * The node must survive, keep its invariants and keep serving.  Its
 * coverage-guided counterparts are the libFuzzer targets
 * tests/fuzz/fuzz-frame.c (bodies MACed by a member into a live core, as
 * here) and tests/fuzz/fuzz-wire.c (the frame decoder alone): see
 * docs/fuzzing.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "harness.h"
#include "tap.h"

#define CORPUS_MAX 512
#define ROUNDS 40000

static struct {
	uint8_t *buf;
	size_t len;
} corpus[CORPUS_MAX];
static int ncorpus;

static int tap_collect(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)from, (void)to;
	/* Every job frame is kept; membership frames are sampled. */
	if (ncorpus < CORPUS_MAX && (ncorpus < 32 || buf[3] >= WIRE_REQUEST || (buf[48 + 7] & 3) == 0)) {
		corpus[ncorpus].buf = malloc(len);
		memcpy(corpus[ncorpus].buf, buf, len);
		corpus[ncorpus].len = len;
		ncorpus++;
	}
	return 1;
}

static uint64_t rs = 88172645463325252ULL;
static uint64_t next(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

/* Mutates src into out; returns the new length. */
static size_t mutate(uint8_t *out, size_t cap, const uint8_t *src, size_t len, size_t lo)
{
	size_t n = len;
	int ops = 1 + (int)(next() % 4);

	memcpy(out, src, len);
	for (int k = 0; k < ops; k++) {
		size_t at = lo + (n > lo ? next() % (n - lo) : 0);

		switch (next() % 7) {
		case 0: out[at] ^= (uint8_t)(1u << (next() % 8)); break;
		case 1: out[at] = (uint8_t)next(); break;
		case 2: n = lo + (n > lo ? next() % (n - lo + 1) : 0); break;
		case 3: /* insert a byte run */
			if (n + 16 < cap) {
				memmove(out + at + 16, out + at, n - at);
				memset(out + at, (int)"{}[]\",:0\\"[next() % 9], 16);
				n += 16;
			}
			break;
		case 4: { /* splice from another corpus entry */
			const uint8_t *o = corpus[next() % ncorpus].buf;
			size_t olen = corpus[next() % ncorpus].len;
			size_t take = next() % 64;

			if (take > olen)
				take = olen;
			if (at + take <= cap && at + take <= n)
				memcpy(out + at, o, take);
			break;
		}
		case 5: out[at] = "{}[]\",:0-e.\\u"[next() % 14]; break;
		default: /* swap two bytes */
			if (n > lo + 1) {
				size_t b = lo + next() % (n - lo);
				uint8_t t = out[at];

				out[at] = out[b];
				out[b] = t;
			}
			break;
		}
	}
	return n;
}

int main(void)
{
	struct harness h;
	static uint8_t buf[CHORUS_FRAME_MAX], frame[CHORUS_FRAME_MAX];
	const struct core_stats *st;
	int checks_ok = 1;
	uint64_t accepted_bodies = 0, drops_before, frames_before;

	h_init(&h, 4, 3);
	for (int i = 0; i < 4; i++) {
		/* Even nodes run fail, odd ones echo; each submits the kind it does not
		   run, so every job crosses the fabric (a node runs its own jobs in-core). */
		h.nodes[i].caps[0] = i % 2 ? "echo" : "fail";
		h_start(&h, i, 100 + (uint64_t)i);
	}
	for (int i = 1; i < 4; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	h.tap = tap_collect;
	h_run(&h, h.now_ms + 8000);
	/* Jobs from every node, so node 0 sees requests, dispatches, receipts and acks. */
	h.run_ms = 50;
	for (int k = 0; k < 8; k++) {
		char id[CHORUS_JOB_ID_HEX + 1];

		h_submit(&h, k % 4, k % 2 ? "fail" : "echo", "fuzz me", 500 + (uint64_t)k, id);
		h_run(&h, h.now_ms + 20);
		if (k == 5) /* running by now: the cancel goes to its worker */
			core_job_cancel(h.nodes[k % 4].core, id, h.now_ms);
	}
	h_run(&h, h.now_ms + 1000);
	h.tap = NULL;
	ok(ncorpus >= 32, "captured a corpus of %d real frames", ncorpus);
	{
		int types[WIRE_TYPE_END] = {0}, kinds = 0;

		for (int i = 0; i < ncorpus; i++)
			types[corpus[i].buf[3] < WIRE_TYPE_END ? corpus[i].buf[3] : 0]++;
		for (int t = 1; t < WIRE_TYPE_END; t++)
			kinds += types[t] > 0;
		ok(kinds >= 12, "the corpus covers %d frame types", kinds);
	}
	st = core_stats(h.nodes[0].core);
	drops_before = st->drop_malformed + st->drop_badsig + st->drop_misrouted + st->drop_badkey;
	frames_before = st->frames_in;

	for (int round = 0; round < ROUNDS; round++) {
		const uint8_t *src;
		size_t len, slen;
		int resign = round % 2;

		int pick = (int)(next() % (uint64_t)ncorpus);
		src = corpus[pick].buf;
		slen = corpus[pick].len;
		if (resign) {
			/* Mutate the body only, then MAC it as member 1 would for node 0. */
			struct wire_frame f;
			size_t blen;
			int n;

			if (wire_decode(&f, src, slen) < 0)
				continue;
			blen = mutate(buf, sizeof(buf) - 256, f.body, f.body_len, 0);
			n = wire_encode_to(frame, sizeof(frame), f.type, h.nodes[1].pk, 101,
			                   H_SEQ(&h, round), (const char *)buf, blen,
			                   &crypto_ed25519, h.nodes[1].sk, h.nodes[0].pk, wire_open_netkey);
			if (n < 0)
				continue;
			len = (size_t)n;
			accepted_bodies++;
			core_recv(h.nodes[0].core, frame, len, h.now_ms);
		} else {
			len = mutate(buf, sizeof(buf), src, slen, 0);
			core_recv(h.nodes[0].core, buf, len, h.now_ms);
		}
		if (round % 1000 == 0) {
			h_run(&h, h.now_ms + 20);
			if (core_check(h.nodes[0].core) != NULL)
				checks_ok = 0;
		}
	}
	ok(st->frames_in - frames_before >= (uint64_t)ROUNDS,
	   "node took in all %d mutated frames (%llu re-MACed) and survived", ROUNDS,
	   (unsigned long long)accepted_bodies);
	ok(checks_ok && core_check(h.nodes[0].core) == NULL, "core_check held throughout");
	ok(st->drop_malformed + st->drop_badsig + st->drop_misrouted + st->drop_badkey >
	       drops_before + ROUNDS / 4,
	   "bad frames were counted (%llu malformed, %llu bad MAC, %llu misrouted, %llu bad key)",
	   (unsigned long long)st->drop_malformed, (unsigned long long)st->drop_badsig,
	   (unsigned long long)st->drop_misrouted, (unsigned long long)st->drop_badkey);
	ok(h.nodes[0].core->keys.n <= 3,
	   "no mutated sender key entered the key cache (%zu keys)",
	   h.nodes[0].core->keys.n);
	h_run(&h, h.now_ms + 6000);
	ok(h_all_see_alive(&h, NULL), "the cluster is still whole afterwards");
	ok(core_member_count(h.nodes[0].core) <= CHORUS_MEMBERS_MAX, "membership stayed bounded (%zu)",
	   core_member_count(h.nodes[0].core));
	for (int i = 0; i < ncorpus; i++)
		free(corpus[i].buf);
	h_free(&h);
	return tap_done();
}

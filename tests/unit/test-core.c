/*
 * Core membership scenarios on an in-memory network with real crypto:
 * join, convergence, failure detection, refutation, graceful leave, restart,
 * tombstones, and rejection of forged, replayed, misrouted, reflected and
 * malformed frames.
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "membership/membership-internal.h"
#include "harness.h"
#include "tap.h"

static int all_checks_pass(struct harness *h)
{
	for (int i = 0; i < h->n; i++) {
		const char *err;

		if (!h->nodes[i].core)
			continue;
		err = core_check(h->nodes[i].core);
		if (err) {
			diag("node %d: %s", i, err);
			return 0;
		}
	}
	return 1;
}

struct target {
	int about;
	int state;
	int except;
};

static int all_see_state(struct harness *h, void *ctx)
{
	struct target *t = ctx;

	for (int i = 0; i < h->n; i++) {
		if (i == t->about || i == t->except || !h->nodes[i].core || h->nodes[i].down)
			continue;
		if (h_state(h, i, t->about) != t->state)
			return 0;
	}
	return 1;
}

static int h_all_see_alive_but3(struct harness *h, void *ctx)
{
	(void)ctx;
	for (int i = 0; i < h->n; i++)
		for (int j = 0; j < h->n; j++)
			if (i != 3 && j != 3 && h_state(h, i, j) != MEMBER_ALIVE)
				return 0;
	return 1;
}

/* Every other live node has stopped believing `about` is alive. */
static int all_doubt(struct harness *h, void *ctx)
{
	struct target *t = ctx;

	for (int i = 0; i < h->n; i++) {
		int st;

		if (i == t->about || i == t->except || !h->nodes[i].core || h->nodes[i].down)
			continue;
		st = h_state(h, i, t->about);
		if (st != MEMBER_SUSPECT && st != MEMBER_DEAD)
			return 0;
	}
	return 1;
}

static int isolate = -1;
static int tap_isolate(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)buf, (void)len;
	return !(from == isolate || to == isolate);
}

static void test_cluster(void)
{
	struct harness h;
	struct target t;
	uint64_t t0, inc_before;
	int held;

	h_init(&h, 5, 42);
	for (int i = 0; i < 5; i++)
		ok(h_start(&h, i, 1000000 + (uint64_t)i) == 0, "node %d starts", i);
	for (int i = 1; i < 5; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	t0 = h.now_ms;
	held = h_run_until(&h, t0 + 2000, h_all_see_alive, NULL);
	ok(held, "5 nodes converge: all see all alive (%llu ms)", (unsigned long long)(h.now_ms - t0));
	ok(all_checks_pass(&h), "core_check holds after convergence");

	/* Quiet period: nobody suspects anyone. */
	h_run(&h, h.now_ms + 20000);
	{
		int suspects = 0;

		for (int i = 0; i < 5; i++)
			suspects += h.nodes[i].logs_suspect;
		ok(suspects == 0, "no suspicion during 20 s of quiet (%d)", suspects);
	}

	/* Crash node 4: suspected, then dead everywhere. */
	h.nodes[4].down = 1;
	t0 = h.now_ms;
	t = (struct target){.about = 4, .state = MEMBER_DEAD, .except = -1};
	held = h_run_until(&h, t0 + 5000, all_see_state, &t);
	ok(held, "crashed node marked dead by all within 5 s (%llu ms)",
	   (unsigned long long)(h.now_ms - t0));

	/* Isolate node 0 long enough to be suspected, then heal: it refutes. */
	inc_before = h_inc(&h, 1, 0);
	isolate = 0;
	h.tap = tap_isolate;
	t = (struct target){.about = 0, .state = MEMBER_SUSPECT, .except = 4};
	held = h_run_until(&h, h.now_ms + 6000, all_doubt, &t);
	ok(held, "isolated node 0 is suspected (or declared dead) by the others");
	if (!held)
		for (int i = 1; i < 4; i++)
			diag("node %d sees node 0 as %d (inc %llu), health %d", i, h_state(&h, i, 0),
			     (unsigned long long)h_inc(&h, i, 0), h.nodes[i].core->health);
	h.tap = NULL;
	t = (struct target){.about = 0, .state = MEMBER_ALIVE, .except = 4};
	held = h_run_until(&h, h.now_ms + 3000, all_see_state, &t);
	ok(held, "after healing, node 0 refuted: alive everywhere again");
	ok(h_inc(&h, 1, 0) > inc_before, "refutation raised node 0's incarnation (%llu > %llu)",
	   (unsigned long long)h_inc(&h, 1, 0), (unsigned long long)inc_before);
	ok(core_stats(h.nodes[0].core)->refutations > 0, "node 0 counted a refutation");

	/* Node 3 leaves gracefully: left, not dead. */
	core_leave(h.nodes[3].core, h.now_ms);
	t = (struct target){.about = 3, .state = MEMBER_LEFT, .except = 4};
	held = h_run_until(&h, h.now_ms + 2000, all_see_state, &t);
	ok(held, "graceful leave is seen as left by all");
	h.nodes[3].down = 1;

	/* Node 4 restarts with a later generation: alive again everywhere. */
	ok(h_start(&h, 4, 2000000) == 0, "node 4 restarts");
	core_join(h.nodes[4].core, h.nodes[0].addr, h.now_ms);
	t = (struct target){.about = 4, .state = MEMBER_ALIVE, .except = 3};
	held = h_run_until(&h, h.now_ms + 3000, all_see_state, &t);
	ok(held, "restarted node (new generation) is alive again for all");
	held = h_run_until(&h, h.now_ms + 3000, h_all_see_alive_but3, NULL);
	ok(held, "restarted node relearned the cluster");
	if (!held)
		for (int i = 0; i < 5; i++)
			diag("node 4 sees node %d as %d; node %d sees 4 as %d", i, h_state(&h, 4, i), i,
			     h_state(&h, i, 4));

	/* Tombstones expire: the departed node 3 is forgotten after tombstone_ms. */
	h_run(&h, h.now_ms + 61000);
	ok(h_state(&h, 0, 3) == -1, "tombstone of the departed node expired");
	ok(h_state(&h, 0, 4) == MEMBER_ALIVE && h_state(&h, 4, 0) == MEMBER_ALIVE,
	   "live nodes still alive after a minute");
	ok(all_checks_pass(&h), "core_check holds at the end");
	h_free(&h);
}

/* ---------------------------------------------------------------- leave */

static int told_0;
static int tap_count_5_to_0(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)buf, (void)len;
	told_0 += from == 5 && to == 0;
	return 1;
}

static int five_sees_four_dead(struct harness *h, void *ctx)
{
	(void)ctx;
	for (int i = 1; i < 5; i++)
		if (h_state(h, 5, i) != MEMBER_DEAD)
			return 0;
	return 1;
}

/*
 * A leaving node tells every live member it knows, up to the fanout, even
 * when most of its table is dead: 6 nodes, 4 of them gone, node 5 leaves;
 * node 0, the one left alive, must hear it (once) for every seed.  (Picking a
 * fresh random member at every step missed it for about a third of seeds.)
 */
static void test_leave_tells_the_living(void)
{
	int seeds = 0, told = 0, once = 0;

	for (uint64_t seed = 1; seed <= 12; seed++) {
		struct harness h;

		h_init(&h, 6, seed);
		for (int i = 0; i < 6; i++)
			(void)h_start(&h, i, 1000000 + (uint64_t)i);
		for (int i = 1; i < 6; i++)
			core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
		if (!h_run_until(&h, h.now_ms + 3000, h_all_see_alive, NULL)) {
			h_free(&h);
			continue;
		}
		for (int i = 1; i < 5; i++)
			h.nodes[i].down = 1;
		if (!h_run_until(&h, h.now_ms + 20000, five_sees_four_dead, NULL) ||
		    h_state(&h, 5, 0) != MEMBER_ALIVE) {
			h_free(&h);
			continue;
		}
		seeds++;
		told_0 = 0;
		h.tap = tap_count_5_to_0;
		core_leave(h.nodes[5].core, h.now_ms);
		told += told_0 > 0;
		once += told_0 == 1;
		h_free(&h);
	}
	ok(seeds >= 10, "the scene was set for %d of 12 seeds (4 of 6 dead, node 0 alive)", seeds);
	ok(told == seeds, "the leaving node told the one live member for every seed (%d of %d)", told,
	   seeds);
	ok(once == seeds, "and told it once, not several times (%d of %d)", once, seeds);
}

/* ---------------------------------------------------------------- stale verdicts */

/*
 * A frame number for a frame forged in a test: sent now (receivers refuse
 * frames sent before they started) and above what the sender used this ms.
 */
#define TEST_SEQ(h, x) ((h).now_ms << CHORUS_SEQ_CLOCK_SHIFT | 0x8000u | (uint64_t)(x))

/* Gives `to` a gossip frame signed by `from` with one verdict about `about`. */
static void inject_verdict(struct harness *h, int from, int to, int about, const char *kind,
                           uint64_t seq)
{
	char body[512], id[CHORUS_ID_HEX + 1], fid[CHORUS_ID_HEX + 1];
	uint8_t frame[1024];
	struct sb sb;
	int len;

	codec_hex(id, h->nodes[about].pk, CHORUS_PK_BYTES);
	codec_hex(fid, h->nodes[from].pk, CHORUS_PK_BYTES);
	sb_init(&sb, body, sizeof(body));
	sb_printf(&sb, "{\"r\":[{\"k\":\"%s\",\"i\":\"%s\",\"g\":%llu,\"c\":%llu,\"f\":\"%s\"}]}",
	          kind, id, (unsigned long long)h->nodes[about].core->self.start_ms,
	          (unsigned long long)h_inc(h, to, about), fid);
	len = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, h->nodes[from].pk,
	                     h->nodes[from].core->self.start_ms, TEST_SEQ(*h, seq), sb.buf, sb.len,
	                     &crypto_ed25519,
	                     h->nodes[from].sk, h->nodes[to].pk, wire_open_netkey);
	h_inject(h, to, frame, (size_t)len);
}

static int told_3;
static int tap_count_to_3(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	(void)ctx;
	if (from == 0 && to == 3 && len > 4 && buf[3] == WIRE_GOSSIP)
		told_3++;
	return 1;
}

static int node0_sees_3_refuted(struct harness *h, void *ctx)
{
	return h_inc(h, 0, 3) > *(uint64_t *)ctx && h_state(h, 0, 3) == MEMBER_ALIVE;
}

/*
 * A death reported by a member we hold dead (the other side of a healed
 * partition) is stale: it is not applied, only passed to the accused, who
 * refutes.  Applied, it made live members accuse each other after a heal.
 */
static void test_stale_verdict(void)
{
	struct harness h;
	uint64_t inc3;
	int held;

	h_init(&h, 4, 11);
	for (int i = 0; i < 4; i++)
		h_start(&h, i, 7000 + (uint64_t)i);
	for (int i = 1; i < 4; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	held = h_run_until(&h, h.now_ms + 3000, h_all_see_alive, NULL);
	ok(held, "4 nodes converge");

	inject_verdict(&h, 2, 0, 1, "dead", 1u << 30);
	ok(h_state(&h, 0, 1) == MEMBER_DEAD, "node 0 holds node 1 dead on node 2's word");

	inc3 = h_inc(&h, 0, 3);
	h.tap = tap_count_to_3;
	inject_verdict(&h, 1, 0, 3, "dead", 1u << 30);
	ok(h_state(&h, 0, 3) == MEMBER_ALIVE, "a death reported by a member held dead is not applied");
	ok(told_3 == 1, "it is passed to the accused alone (%d frame)", told_3);
	held = h_run_until(&h, h.now_ms + 2000, node0_sees_3_refuted, &inc3);
	ok(held, "the accused refuted: node 0 sees node 3 alive at a higher incarnation");
	h.tap = NULL;
	held = h_run_until(&h, h.now_ms + 5000, h_all_see_alive, NULL);
	ok(held, "node 1, told it was dead, refuted too: all alive again");
	ok(all_checks_pass(&h), "core_check holds");
	h_free(&h);
}

/* ---------------------------------------------------------------- bad input */

static uint8_t *captured;
static size_t captured_len;
static int capture_type = WIRE_PING;
static int tap_capture(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	if (captured == NULL && len > 4 && buf[3] == capture_type && to == 0) {
		captured = malloc(len);
		memcpy(captured, buf, len);
		captured_len = len;
	}
	return 1;
}

static void test_bad_input(void)
{
	struct harness h;
	const struct core_stats *st;
	uint8_t *buf;
	uint64_t before;
	struct sb sb;
	char body[4096], text[CHORUS_RECORD_MAX + 1], sighex[2 * CHORUS_SIG_BYTES + 1];
	uint8_t sig[CHORUS_SIG_BYTES];
	uint8_t frame[8192];
	struct record r;
	int n, len;

	h_init(&h, 3, 7);
	for (int i = 0; i < 3; i++)
		h_start(&h, i, 5000 + (uint64_t)i);
	core_join(h.nodes[1].core, h.nodes[0].addr, h.now_ms);
	core_join(h.nodes[2].core, h.nodes[0].addr, h.now_ms);
	h.tap = tap_capture;
	h_run_until(&h, h.now_ms + 3000, h_all_see_alive, NULL);
	h_run(&h, h.now_ms + 2000);
	h.tap = NULL;
	ok(captured != NULL, "captured a real ping frame to node 0");
	st = core_stats(h.nodes[0].core);

	before = st->drop_replay + st->drop_window;
	h_inject(&h, 0, captured, captured_len);
	ok(st->drop_replay + st->drop_window == before + 1, "a replayed frame is dropped and counted");

	buf = malloc(captured_len);
	memcpy(buf, captured, captured_len);
	buf[captured_len / 2] ^= 0x01;
	before = st->drop_badsig;
	h_inject(&h, 0, buf, captured_len);
	ok(st->drop_badsig == before + 1, "a frame with one flipped bit fails its signature");

	before = st->drop_malformed;
	h_inject(&h, 0, captured, captured_len - 10);
	ok(st->drop_malformed == before + 1, "a truncated frame is malformed");

	memcpy(buf, captured, captured_len);
	buf[2] = 9;
	before = st->drop_version;
	h_inject(&h, 0, buf, captured_len);
	ok(st->drop_version == before + 1, "an unknown wire version is dropped");

	memcpy(buf, captured, captured_len);
	buf[3] = 200;
	before = st->drop_unknown_type;
	h_inject(&h, 0, buf, captured_len);
	ok(st->drop_unknown_type == before + 1, "an unknown frame type is dropped");
	free(buf);

	buf = calloc(1, CHORUS_FRAME_MAX + 100);
	before = st->drop_oversize;
	h_inject(&h, 0, buf, CHORUS_FRAME_MAX + 100);
	ok(st->drop_oversize == before + 1, "an oversized frame is dropped");
	free(buf);

	before = st->drop_malformed;
	h_inject(&h, 0, (const uint8_t *)"garbage", 7);
	ok(st->drop_malformed == before + 1, "garbage bytes are malformed");

	/* A frame correctly signed by node 1 whose body is not JSON. */
	len = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, h.nodes[1].pk, 5001, TEST_SEQ(h, 999), "{nope", 5,
	                  &crypto_ed25519, h.nodes[1].sk, h.nodes[0].pk, wire_open_netkey);
	before = st->drop_malformed;
	h_inject(&h, 0, frame, (size_t)len);
	ok(st->drop_malformed == before + 1, "a signed frame with a non-JSON body is malformed");

	/* Node 1 relays a record for a node key it does not own: forged. */
	{
		uint8_t fpk[CHORUS_PK_BYTES], fsk[CHORUS_SK_BYTES];
		uint8_t kseed[32] = {99};
		char idhex[CHORUS_ID_HEX + 1];
		int header_inc = 1;

		crypto_sign_seed_keypair(fpk, fsk, kseed);
		memset(&r, 0, sizeof(r));
		memcpy(r.pk, fpk, CHORUS_PK_BYTES);
		strcpy(r.name, "forged");
		strcpy(r.addr, "test://forged");
		r.start_ms = 1;
		r.inc = 1;
		n = record_encode(text, sizeof(text), &r);
		ok(n > 0, "forged record encodes");
		crypto_ed25519.sign(sig, (const uint8_t *)text, (size_t)n, h.nodes[1].sk);
		codec_hex(sighex, sig, CHORUS_SIG_BYTES);
		sb_init(&sb, body, sizeof(body));
		codec_hex(idhex, fpk, CHORUS_PK_BYTES);
		sb_printf(&sb, "{\"r\":[{\"k\":\"rec\",\"i\":\"%s\",\"g\":1,\"c\":%d,\"r\":", idhex,
		          header_inc);
		sb_json_str(&sb, text, (size_t)n);
		sb_printf(&sb, ",\"s\":\"%s\"}]}", sighex);
		len = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, h.nodes[1].pk, 5001, TEST_SEQ(h, 1000), sb.buf,
		                  sb.len, &crypto_ed25519, h.nodes[1].sk, h.nodes[0].pk, wire_open_netkey);
		before = st->drop_badsig;
		h_inject(&h, 0, frame, (size_t)len);
		ok(st->drop_badsig == before + 1, "a record not signed by its owner is rejected");
		ok(core_member_count(h.nodes[0].core) == 3, "the forged node was not added");

		/* Signed by its owner but with a header that lies about its version. */
		crypto_ed25519.sign(sig, (const uint8_t *)text, (size_t)n, fsk);
		codec_hex(sighex, sig, CHORUS_SIG_BYTES);
		header_inc = 7;
		sb_init(&sb, body, sizeof(body));
		codec_hex(idhex, fpk, CHORUS_PK_BYTES);
		sb_printf(&sb, "{\"r\":[{\"k\":\"rec\",\"i\":\"%s\",\"g\":1,\"c\":%d,\"r\":", idhex,
		          header_inc);
		sb_json_str(&sb, text, (size_t)n);
		sb_printf(&sb, ",\"s\":\"%s\"}]}", sighex);
		len = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, h.nodes[1].pk, 5001, TEST_SEQ(h, 990), sb.buf,
		                  sb.len, &crypto_ed25519, h.nodes[1].sk, h.nodes[0].pk, wire_open_netkey);
		before = st->drop_malformed;
		h_inject(&h, 0, frame, (size_t)len);
		ok(st->drop_malformed == before + 1 && core_member_count(h.nodes[0].core) == 3,
		   "a record whose header disagrees with its signed text is rejected");
		header_inc = 1;

		/* The same record signed by its owner is accepted (the check is real). */
		crypto_ed25519.sign(sig, (const uint8_t *)text, (size_t)n, fsk);
		codec_hex(sighex, sig, CHORUS_SIG_BYTES);
		sb_init(&sb, body, sizeof(body));
		codec_hex(idhex, fpk, CHORUS_PK_BYTES);
		sb_printf(&sb, "{\"r\":[{\"k\":\"rec\",\"i\":\"%s\",\"g\":1,\"c\":%d,\"r\":", idhex,
		          header_inc);
		sb_json_str(&sb, text, (size_t)n);
		sb_printf(&sb, ",\"s\":\"%s\"}]}", sighex);
		len = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, h.nodes[1].pk, 5001, TEST_SEQ(h, 1001), sb.buf,
		                  sb.len, &crypto_ed25519, h.nodes[1].sk, h.nodes[0].pk, wire_open_netkey);
		h_inject(&h, 0, frame, (size_t)len);
		ok(core_member_count(h.nodes[0].core) == 4, "a properly signed relayed record is accepted");
	}

	/* A stale generation: a frame from node 2's previous life. */
	len = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, h.nodes[2].pk, 4000, TEST_SEQ(h, 5), "{\"r\":[]}", 8,
	                  &crypto_ed25519, h.nodes[2].sk, h.nodes[0].pk, wire_open_netkey);
	before = st->drop_stale;
	h_inject(&h, 0, frame, (size_t)len);
	ok(st->drop_stale == before + 1, "a frame from an older generation is stale");

	ok(all_checks_pass(&h), "core_check holds after bad input");
	h_run(&h, h.now_ms + 3000);
	ok(h_state(&h, 0, 1) == MEMBER_ALIVE && h_state(&h, 0, 2) == MEMBER_ALIVE,
	   "node 0 keeps serving: peers still alive after the bad input");
	free(captured);
	h_free(&h);
}

/* ---------------------------------------------------------------- frame authentication */

static uint8_t *cap_1to2, *cap_0to1;
static size_t cap_1to2_len, cap_0to1_len;
static int tap_capture_pairs(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	(void)ctx;
	if (cap_1to2 == NULL && from == 1 && to == 2 && buf[3] == WIRE_PING) {
		cap_1to2 = malloc(len);
		memcpy(cap_1to2, buf, len);
		cap_1to2_len = len;
	}
	if (cap_0to1 == NULL && from == 0 && to == 1 && buf[3] == WIRE_PING) {
		cap_0to1 = malloc(len);
		memcpy(cap_0to1, buf, len);
		cap_0to1_len = len;
	}
	return 1;
}

/* The send time fresh frames carry in their frame numbers: receivers refuse older ones. */
static uint64_t fresh_sent_ms;

/* A gossip frame from a key that is no member, with that key's own signed record. */
static int fresh_frame(uint8_t *frame, size_t cap, int type, const uint8_t *fpk, const uint8_t *fsk,
                       const uint8_t *to_pk, uint64_t seq)
{
	char body[4096], text[CHORUS_RECORD_MAX + 1], sighex[2 * CHORUS_SIG_BYTES + 1];
	char idhex[CHORUS_ID_HEX + 1];
	uint8_t sig[CHORUS_SIG_BYTES];
	struct record r;
	struct sb sb;
	int n;

	memset(&r, 0, sizeof(r));
	memcpy(r.pk, fpk, CHORUS_PK_BYTES);
	strcpy(r.name, "fresh");
	strcpy(r.addr, "test://fresh");
	r.start_ms = 1;
	r.inc = 1;
	n = record_encode(text, sizeof(text), &r);
	crypto_ed25519.sign(sig, (const uint8_t *)text, (size_t)n, fsk);
	codec_hex(sighex, sig, CHORUS_SIG_BYTES);
	codec_hex(idhex, fpk, CHORUS_PK_BYTES);
	sb_init(&sb, body, sizeof(body));
	sb_printf(&sb, "{\"a\":\"test://fresh\",\"w\":\"self\",\"r\":[{\"k\":\"rec\",\"i\":\"%s\","
	          "\"g\":1,\"c\":1,\"r\":", idhex);
	sb_json_str(&sb, text, (size_t)n);
	sb_printf(&sb, ",\"s\":\"%s\"}]}", sighex);
	return wire_encode_to(frame, cap, type, fpk, 1, fresh_sent_ms << CHORUS_SEQ_CLOCK_SHIFT | seq,
	                      sb.buf, sb.len, &crypto_ed25519, fsk, to_pk, wire_open_netkey);
}

/*
 * Frames are MACed for one recipient: frames for another node, re-addressed,
 * reflected, forged or from keys that make no secret are dropped and counted;
 * forgeries do not fill the key cache; a signed frame is a join or nothing.
 */
static void test_frame_auth(void)
{
	/* A point of order 8: no shared secret can be made with it. */
	static const uint8_t order8[32] = {
		0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
	};
	struct harness h;
	const struct core_stats *st;
	struct core *c0;
	uint8_t frame[8192], fpk[CHORUS_PK_BYTES], fsk[CHORUS_SK_BYTES], admit[32], join[32];
	uint64_t before, derived;
	size_t keys, members;
	int n, len;

	h_init(&h, 3, 13);
	for (int i = 0; i < 3; i++)
		h_start(&h, i, 8000 + (uint64_t)i);
	for (int i = 1; i < 3; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	ok(h_run_until(&h, h.now_ms + 3000, h_all_see_alive, NULL), "3 nodes converge");
	h.tap = tap_capture_pairs;
	h_run(&h, h.now_ms + 3000);
	h.tap = NULL;
	ok(cap_1to2 != NULL && cap_0to1 != NULL, "captured pings 1 -> 2 and 0 -> 1");
	c0 = h.nodes[0].core;
	st = core_stats(c0);

	before = st->drop_misrouted;
	h_inject(&h, 0, cap_1to2, cap_1to2_len);
	ok(st->drop_misrouted == before + 1, "a frame for another node is dropped and counted");
	memcpy(cap_1to2 + 57, h.nodes[0].pk, CHORUS_RECIPIENT_BYTES);
	before = st->drop_nokey;
	h_inject(&h, 0, cap_1to2, cap_1to2_len);
	ok(st->drop_nokey == before + 1, "re-addressed to us, it fails admission (the tag covers the header)");

	before = st->drop_replay;
	h_inject(&h, 0, cap_0to1, cap_0to1_len);
	ok(st->drop_replay == before + 1, "our own frame reflected back is dropped");
	memcpy(cap_0to1 + 8, h.nodes[1].pk, CHORUS_PK_BYTES);
	memcpy(cap_0to1 + 57, h.nodes[0].pk, CHORUS_RECIPIENT_BYTES);
	before = st->drop_nokey;
	h_inject(&h, 0, cap_0to1, cap_0to1_len);
	ok(st->drop_nokey == before + 1,
	   "reflected with sender and recipient swapped (same pair key), it fails admission");

	/* A sender key of small order, addressed to us, any tag. */
	memset(frame, 0x5a, sizeof(frame));
	n = wire_encode_head(frame, sizeof(frame), WIRE_GOSSIP, WIRE_AUTH_MAC, order8, 8001, 1,
	                     "{\"r\":[]}", 8);
	wire_netkey_derive(wire_open_netkey, admit, join);
	wire_seal_mac(frame, (size_t)n, &crypto_ed25519, h.nodes[0].pk, join, admit, 0); /* admitted */
	keys = c0->keys.n;
	before = st->drop_badkey;
	h_inject(&h, 0, frame, (size_t)n);
	ok(st->drop_badkey == before + 1 && c0->keys.n == keys,
	   "a frame from a key of small order is dropped and counted");

	/* Forged tags from 100 made-up keys: refused at admission, not one derivation. */
	fresh_sent_ms = h.now_ms;
	before = st->drop_nokey;
	derived = st->peer_keys_derived;
	for (int k = 0; k < 100; k++) {
		crypto_sign_keypair(fpk, fsk);
		len = fresh_frame(frame, sizeof(frame), WIRE_GOSSIP, fpk, fsk, h.nodes[0].pk,
		                  (uint64_t)k + 1);
		frame[len - 1] ^= 1;
		h_inject(&h, 0, frame, (size_t)len);
	}
	ok(st->drop_nokey == before + 100 && st->peer_keys_derived == derived,
	   "100 frames with forged tags from unknown keys: refused at admission, no derivation");
	/* Admitted (the admission tag does not cover the ciphertext) but a body changed: a
	 * derivation each, and none stays cached. */
	before = st->drop_badsig;
	for (int k = 0; k < 100; k++) {
		crypto_sign_keypair(fpk, fsk);
		len = fresh_frame(frame, sizeof(frame), WIRE_GOSSIP, fpk, fsk, h.nodes[0].pk,
		                  (uint64_t)k + 1);
		frame[CHORUS_FRAME_HEADER + 3] ^= 1;
		h_inject(&h, 0, frame, (size_t)len);
	}
	ok(st->drop_badsig == before + 100 && st->peer_keys_derived == derived + 100 &&
	       c0->keys.n == keys,
	   "100 forged bodies from unknown keys: dropped, and the key cache did not grow");

	/* An authentic frame from a key we never met: open membership, as before. */
	crypto_sign_keypair(fpk, fsk);
	members = core_member_count(c0);
	len = fresh_frame(frame, sizeof(frame), WIRE_GOSSIP, fpk, fsk, h.nodes[0].pk, 1);
	h_inject(&h, 0, frame, (size_t)len);
	ok(c0->keys.n == keys + 1 && core_member_count(c0) == members + 1,
	   "an authentic frame from a new key is accepted and its key cached");

	/* Signed frames: a join to a seed that does not know our key yet, nothing else. */
	crypto_sign_keypair(fpk, fsk);
	len = fresh_frame(frame, sizeof(frame), WIRE_GOSSIP, fpk, fsk, NULL, 1);
	before = st->drop_badsig;
	h_inject(&h, 0, frame, (size_t)len);
	ok(st->drop_badsig == before + 1 && core_member_count(c0) == members + 1,
	   "a signed gossip frame is refused: only joins may be signed");
	len = fresh_frame(frame, sizeof(frame), WIRE_JOIN, fpk, fsk, NULL, 2);
	h_inject(&h, 0, frame, (size_t)len);
	ok(core_member_count(c0) == members + 2, "a signed join is accepted");
	before = st->drop_replay + st->drop_window;
	h_inject(&h, 0, frame, (size_t)len);
	ok(st->drop_replay + st->drop_window == before + 1, "and a replayed one dropped");
	frame[len - 1] ^= 1;
	before = st->drop_badsig;
	h_inject(&h, 0, frame, (size_t)len);
	ok(st->drop_badsig == before + 1, "a join with a bad signature is dropped");

	ok(all_checks_pass(&h), "core_check holds after the bad frames");
	h_run(&h, h.now_ms + 3000);
	ok(h_state(&h, 0, 1) == MEMBER_ALIVE && h_state(&h, 0, 2) == MEMBER_ALIVE &&
	       h_state(&h, 1, 0) == MEMBER_ALIVE,
	   "the cluster keeps working");
	free(cap_1to2);
	free(cap_0to1);
	h_free(&h);
}

static void test_config(void)
{
	struct core_config cfg;
	struct core_env env = {0};
	struct core *c = NULL;
	uint8_t pk[32], sk[64];

	crypto_sign_keypair(pk, sk);
	core_config_defaults(&cfg);
	strcpy(cfg.name, "bad name");
	strcpy(cfg.addr, "tcp://127.0.0.1:1");
	env.send_cb = NULL;
	ok(core_create(&c, &cfg, pk, sk, &env, 0) == CORE_ERR_INVAL && c == NULL,
	   "a name with a space or a missing send_cb is refused");
	strcpy(cfg.name, "ok");
	strcpy(cfg.addr, "no-scheme");
	ok(core_create(&c, &cfg, pk, sk, &env, 0) == CORE_ERR_INVAL, "an address without scheme is refused");
	ok(strcmp(core_strerror(CORE_ERR_BADSIG), "bad signature") == 0, "core_strerror names errors");
}

/* ---------------------------------------------------------------- catch-up pulls */

static int pull_answers_seen, pull_records_seen;
/* Node 1's key pair, for the tap to open node 0's frames to it (the bodies are sealed). */
static const uint8_t *tap_pk1, *tap_sk1;

static int tap_pull_answers(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	static uint8_t plain[CHORUS_FRAME_MAX];
	uint8_t key[CHORUS_MAC_KEY_BYTES];
	struct wire_frame f;
	const uint8_t *end;

	(void)ctx;
	if (from != 0 || to != 1 || wire_decode(&f, buf, len) != 0 || f.type != WIRE_GOSSIP ||
	    f.auth != WIRE_AUTH_MAC || wire_pair_key(&crypto_ed25519, key, tap_pk1, tap_sk1, f.pk) != 0)
		return 1;
	wire_frame_key(key, wire_open_netkey, key);
	if (wire_open(&crypto_ed25519, &f, buf, plain, key) != 0)
		return 1;
	end = plain + f.body_len;
	if (memmem(plain, f.body_len, "{\"u\":1,", 7) != NULL) {
		pull_answers_seen++;
		for (const uint8_t *p = plain; (p = memmem(p, (size_t)(end - p), "\"k\":\"rec\"", 9)); p++)
			pull_records_seen++;
	}
	return 1;
}

/* Sends node 0 a pull from node 1 with this body; returns node 0's drop_malformed delta. */
static uint64_t pull_inject(struct harness *h, const char *body)
{
	const struct core_stats *st = core_stats(h->nodes[0].core);
	uint64_t before = st->drop_malformed;
	static uint64_t seq = 7000;
	uint8_t frame[CHORUS_FRAME_MAX];
	int len = wire_encode_to(frame, sizeof(frame), WIRE_PULL, h->nodes[1].pk,
	                         h->nodes[1].core->self.start_ms, TEST_SEQ(*h, seq++), body,
	                         strlen(body), &crypto_ed25519, h->nodes[1].sk, h->nodes[0].pk,
	                         wire_open_netkey);

	h_inject(h, 0, frame, (size_t)len);
	return st->drop_malformed - before;
}

static void test_pull(void)
{
	struct harness h;
	uint8_t filter[1024], other[1024];
	char body[2 * 1024 + 256], hex[2 * 1024 + 1];
	unsigned fp = 0, fp_other = 0, missed = 0;

	/* The filter: no false negatives; about 1% false positives at 10 bits a key. */
	memset(filter, 0, sizeof(filter));
	for (uint64_t k = 0; k < 800; k++)
		gossip_filter_add(filter, sizeof(filter), 42, gossip_version_key(k * 7919, 1000 + k, 1));
	for (uint64_t k = 0; k < 800; k++)
		missed += !gossip_filter_has(filter, sizeof(filter), 42, gossip_version_key(k * 7919, 1000 + k, 1));
	ok(missed == 0, "every key added to a pull filter is found in it (%u of 800 missed)", missed);
	memset(other, 0, sizeof(other));
	for (uint64_t k = 0; k < 800; k++)
		gossip_filter_add(other, sizeof(other), 43, gossip_version_key(k * 7919, 1000 + k, 1));
	for (uint64_t k = 0; k < 10000; k++) {
		uint64_t key = gossip_version_key(k * 7919, 1000 + k, 2);
		int here = gossip_filter_has(filter, sizeof(filter), 42, key);

		fp += here;
		fp_other += here && gossip_filter_has(other, sizeof(other), 43, key);
	}
	ok(fp > 0 && fp < 300, "a newer incarnation is rarely taken for the one held (%u false positives of 10000)", fp);
	ok(fp_other * 4 <= fp, "under another salt (the next pull) other keys are the false positives (%u of %u again)",
	   fp_other, fp);

	/* Three nodes; node 0 answers node 1's pulls. */
	h_init(&h, 3, 11);
	for (int i = 0; i < 3; i++)
		h_start(&h, i, 9000 + (uint64_t)i);
	core_join(h.nodes[1].core, h.nodes[0].addr, h.now_ms);
	core_join(h.nodes[2].core, h.nodes[0].addr, h.now_ms);
	h_run_until(&h, h.now_ms + 3000, h_all_see_alive, NULL);
	h_run(&h, h.now_ms + 4000); /* the catch-up windows close */
	h.tap = tap_pull_answers;
	tap_pk1 = h.nodes[1].pk;
	tap_sk1 = h.nodes[1].sk;
	pull_answers_seen = pull_records_seen = 0;
	/* An empty view: node 0 sends all three records. */
	memset(filter, 0, 64);
	codec_hex(hex, filter, 64);
	snprintf(body, sizeof(body), "{\"n\":5,\"f\":\"%s\"}", hex);
	ok(pull_inject(&h, body) == 0, "a well-formed pull is not malformed");
	h_run(&h, h.now_ms + 50);
	ok(pull_answers_seen == 1 && pull_records_seen == 3,
	   "a pull with an empty filter is answered with every record (%d frames, %d records)",
	   pull_answers_seen, pull_records_seen);
	/* A filter of node 1's whole view: nothing to send. */
	memset(filter, 0, 64);
	for (size_t i = 0; i < h.nodes[1].core->members.n; i++) {
		const struct member *m = &h.nodes[1].core->members.v[i];

		gossip_filter_add(filter, 64, 5, gossip_version_key(codec_get_u64(m->pk), m->start_ms, m->inc));
	}
	codec_hex(hex, filter, 64);
	snprintf(body, sizeof(body), "{\"n\":5,\"f\":\"%s\"}", hex);
	pull_answers_seen = 0;
	pull_inject(&h, body);
	h_run(&h, h.now_ms + 50);
	ok(pull_answers_seen == 0, "a pull whose filter holds the whole view gets no answer");
	h.tap = NULL;
	{
		/* A stranger's pull (a key node 0 has no record of) gets no answer. */
		uint8_t spk[CHORUS_PK_BYTES], ssk[CHORUS_SK_BYTES], kseed[32] = {77};
		uint8_t frame[4096];
		uint64_t out = core_stats(h.nodes[0].core)->frames_out;
		int len;

		crypto_sign_seed_keypair(spk, ssk, kseed);
		memset(filter, 0, 64);
		codec_hex(hex, filter, 64);
		snprintf(body, sizeof(body), "{\"n\":5,\"f\":\"%s\"}", hex);
		len = wire_encode_to(frame, sizeof(frame), WIRE_PULL, spk, 1234, TEST_SEQ(h, 1), body,
		                     strlen(body), &crypto_ed25519, ssk, h.nodes[0].pk, wire_open_netkey);
		h_inject(&h, 0, frame, (size_t)len);
		ok(core_stats(h.nodes[0].core)->frames_out == out, "a pull from a stranger is not answered");
	}

	/* Malformed pulls are dropped and counted. */
	snprintf(body, sizeof(body), "{\"n\":5,\"f\":\"%.126s\"}", hex);
	ok(pull_inject(&h, body) == 1, "a filter under 64 bytes is malformed");
	snprintf(body, sizeof(body), "{\"n\":5,\"f\":\"%s0\"}", hex);
	ok(pull_inject(&h, body) == 1, "an odd number of hex digits is malformed");
	memset(hex, '0', 2 * 96);
	hex[2 * 96] = '\0';
	snprintf(body, sizeof(body), "{\"n\":5,\"f\":\"%s\"}", hex);
	ok(pull_inject(&h, body) == 1, "a filter size that is not a power of two is malformed");
	memset(hex, 'x', 128);
	hex[128] = '\0';
	snprintf(body, sizeof(body), "{\"n\":5,\"f\":\"%s\"}", hex);
	ok(pull_inject(&h, body) == 1, "a filter that is not hex is malformed");
	ok(pull_inject(&h, "{\"f\":\"00\"}") == 1, "a pull without a salt is malformed");
	snprintf(body, sizeof(body), "{\"n\":-1,\"f\":\"%s\"}", hex);
	ok(pull_inject(&h, body) == 1, "a negative salt is malformed");
	ok(all_checks_pass(&h), "every node passes core_check after the pulls");
	h_free(&h);
}

int main(void)
{
	test_config();
	test_cluster();
	test_leave_tells_the_living();
	test_stale_verdict();
	test_bad_input();
	test_frame_auth();
	test_pull();
	return tap_done();
}

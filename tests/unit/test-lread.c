/*
 * Ledger reads on a node without the ledger: the bytes (src/node/lread-msg.c)
 * round-trip, and random, truncated and mutated bodies are refused or decode
 * canonically within the body; the core's choices (src/core/ledger/readpick.c):
 * which voters are asked, in what order, and the one leader a node shows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lread.h"
#include "chorus/readpick.h"
#include "tap.h"

#define ROUNDS 100000

static uint64_t rs = 0x9e3779b97f4a7c15ULL;

/* Accepted input must re-encode to itself, its items inside the input. */
static int ans_reencode(const struct lread_ans *a, const uint8_t *in, size_t len)
{
	static uint8_t out[CHORUS_BODY_MAX];
	int r = lread_ans_begin(out, sizeof out, a);
	size_t n;

	if (r < 0)
		return 0;
	n = (size_t)r;
	for (unsigned i = 0; i < a->n; i++) {
		if (a->item[i] < in || a->item[i] + a->len[i] > in + len)
			return 0;
		if (lread_ans_add(out, sizeof out, &n, a->item[i], a->len[i]) != 0)
			return 0;
	}
	return n == len && memcmp(out, in, len) == 0;
}

static void test_codec(void)
{
	static uint8_t buf[CHORUS_BODY_MAX], big[CHORUS_RAFT_ENTRY_MAX];
	struct lread_req q = { .req_id = 7, .op = LREAD_BLOCKS, .from = 12, .limit = 100 }, q2;
	struct lread_ans a = { .req_id = 7, .op = LREAD_BLOCKS, .code = LREAD_OK, .term = 3,
		               .leader = 0x1122334455667788ULL, .height = 40, .total = 0 };
	struct lread_ans *d = malloc(sizeof *d);
	size_t len;
	unsigned fit = 0;

	memset(q.job, 0xcd, sizeof q.job);
	len = (size_t)lread_req_encode(&q, buf, sizeof buf);
	ok(len == LREAD_REQ_BYTES && lread_req_decode(&q2, buf, len) == 0 && q2.req_id == 7 &&
	       q2.op == LREAD_BLOCKS && q2.from == 12 && q2.limit == 100 && q2.job[15] == 0xcd,
	   "a request round-trips");
	ok(lread_req_decode(&q2, buf, len - 1) != 0, "a short request is refused");
	buf[10] = 9;
	ok(lread_req_decode(&q2, buf, len) != 0, "an unknown op is refused");
	q.limit = LREAD_ITEMS_MAX + 1;
	ok(lread_req_encode(&q, buf, sizeof buf) < 0, "a request over the item bound is refused");

	len = (size_t)lread_ans_begin(buf, sizeof buf, &a);
	ok(lread_ans_add(buf, sizeof buf, &len, (const uint8_t *)"abc", 3) == 0 &&
	       lread_ans_add(buf, sizeof buf, &len, (const uint8_t *)"", 0) == 0,
	   "two items added");
	ok(lread_ans_decode(d, buf, len) == 0 && d->n == 2 && d->len[0] == 3 &&
	       memcmp(d->item[0], "abc", 3) == 0 && d->term == 3 && d->leader == a.leader &&
	       d->height == 40 && ans_reencode(d, buf, len),
	   "an answer round-trips (header, items)");
	ok(lread_ans_decode(d, buf, len + 1) != 0, "a trailing byte is refused");
	buf[11] = LREAD_BAD + 1;
	ok(lread_ans_decode(d, buf, len) != 0, "an unknown code is refused");

	len = (size_t)lread_ans_begin(buf, sizeof buf, &a);
	while (lread_ans_add(buf, sizeof buf, &len, big, sizeof big) == 0)
		fit++;
	ok(fit >= 1 && len <= CHORUS_BODY_MAX && lread_ans_decode(d, buf, len) == 0 && d->n == fit,
	   "blocks of the biggest size: %u fit in one frame body, never more than the body", fit);
	free(d);
}

static void test_fuzz(void)
{
	static uint8_t seed[CHORUS_BODY_MAX], in[CHORUS_BODY_MAX];
	struct lread_ans *d = malloc(sizeof *d);
	struct lread_ans a = { .req_id = 1, .op = LREAD_BALANCES, .code = LREAD_OK, .total = 5 };
	struct lread_req q;
	unsigned accepted = 0, bad = 0;
	size_t slen = (size_t)lread_ans_begin(seed, sizeof seed, &a);

	for (int i = 0; i < 5; i++)
		lread_ans_add(seed, sizeof seed, &slen, (const uint8_t *)"0123456789abcdef", 16);
	for (int r = 0; r < ROUNDS; r++) {
		size_t len = (size_t)(tap_rand(&rs) % (slen + 8));
		unsigned flips = (unsigned)(tap_rand(&rs) % 4);

		memcpy(in, seed, slen < len ? slen : len);
		for (size_t k = slen; k < len; k++)
			in[k] = (uint8_t)tap_rand(&rs);
		for (unsigned f = 0; f < flips && len > 0; f++)
			in[tap_rand(&rs) % len] = (uint8_t)tap_rand(&rs);
		if (lread_ans_decode(d, in, len) == 0) {
			accepted++;
			bad += !ans_reencode(d, in, len);
		}
		if (lread_req_decode(&q, in, len) == 0) /* never, with an answer's kind, unless flipped */
			bad += in[0] != LREAD_MSG_REQ;
	}
	ok(bad == 0 && accepted > 0,
	   "%d mutated answers: %u accepted, every one canonical and inside its body", ROUNDS,
	   accepted);
	free(d);
}

static void test_order(void)
{
	struct readpick_cand c[] = {
		{ .id = 10, .alive = 1, .voter_role = 1, .in_conf = 1 },
		{ .id = 20, .alive = 2, .voter_role = 1, .in_conf = 1 }, /* suspect */
		{ .id = 30, .alive = 1, .voter_role = 1, .in_conf = 1, .announces = 1 },
		{ .id = 40, .alive = 1, .voter_role = 1 },               /* a stranger announcing a vote */
		{ .id = 50, .alive = 0, .voter_role = 1, .in_conf = 1 }, /* dead */
		{ .id = 60, .alive = 1 },                                /* ourselves, a client */
		{ .id = 70, .alive = 1 },                                /* a worker */
	};
	uint64_t out[READPICK_MAX];
	size_t n = readpick_order(c, 7, 30, 60, out, READPICK_MAX);

	ok(n == 4 && out[0] == 30 && out[1] == 10 && out[2] == 20 && out[3] == 40,
	   "order: the leader, the configuration alive then suspect, then announced voters; "
	   "never dead, a worker or ourselves (got %zu: %llu %llu %llu %llu)", n,
	   (unsigned long long)out[0], (unsigned long long)out[1], (unsigned long long)out[2],
	   (unsigned long long)out[3]);
	n = readpick_order(c, 7, 50, 60, out, 2);
	ok(n == 2 && out[0] == 10 && out[1] == 30, "a dead leader is not asked; max is kept");
	n = readpick_order(c, 7, 0, 10, out, READPICK_MAX);
	ok(n == 3 && out[0] == 30 && out[1] == 20 && out[2] == 40,
	   "a voter catching up asks the others, not itself");
	n = readpick_order(c + 5, 2, 0, 60, out, READPICK_MAX);
	ok(n == 0, "no voter known: nobody to ask");
}

static void test_leader(void)
{
	struct readpick_cand c[] = {
		{ .id = 10, .alive = 2, .announces = 1 }, /* the old leader, suspect, its record stale */
		{ .id = 20, .alive = 1, .announces = 1 }, /* the new one */
		{ .id = 30, .alive = 1 },
		{ .id = 5, .alive = 0, .announces = 1 },  /* dead long ago, its record says leader */
	};
	struct readpick_view v = { 0 };
	uint64_t term = 9;

	v.raft_view = 1;
	v.raft_leader = 30;
	v.raft_term = 4;
	ok(readpick_leader(&v, c, 4, &term) == 30 && term == 4,
	   "a voter shows its own Raft's leader and term, whatever records say");
	v.raft_leader = 0;
	ok(readpick_leader(&v, c, 4, &term) == 0 && term == 0,
	   "a voter during an election shows none (not a stale record)");
	v.raft_view = 0;
	ok(readpick_leader(&v, c, 4, &term) == 20 && term == 0,
	   "elsewhere, of two announcing: the alive one before the suspect one; a dead one never");
	c[1].alive = 2;
	ok(readpick_leader(&v, c, 4, &term) == 10, "two suspects: the smallest id, one only");
	v.learned_leader = 20;
	v.learned_term = 7;
	v.learned_age_ms = 100;
	ok(readpick_leader(&v, c, 4, &term) == 20 && term == 7,
	   "a fresh leader a voter told us wins, with its term");
	v.learned_age_ms = READPICK_LEARNED_MS + 1;
	ok(readpick_leader(&v, c, 4, &term) == 10, "a stale one does not");
	v.learned_age_ms = 0;
	v.learned_leader = 5;
	ok(readpick_leader(&v, c, 4, &term) == 10, "nor one that is dead now");
}

int main(void)
{
	test_codec();
	test_fuzz();
	test_order();
	test_leader();
	return tap_done();
}

/* rumor: broadcast queue order and limits; the seen-cache. */
#include <stdlib.h>
#include <string.h>

#include "membership/membership-internal.h"
#include "tap.h"

static int always(void *ctx, const struct rumor *r)
{
	(void)ctx, (void)r;
	return 1;
}

static int not_b(void *ctx, const struct rumor *r)
{
	(void)ctx;
	return r->json[0] != 'b';
}

int main(void)
{
	struct rumors q;
	uint8_t about[32] = {0};
	char buf[256];
	struct sb sb;
	size_t n;
	static struct seen s;
	int good;

	ok(rumors_init(&q) == 0, "init");
	rumors_push(&q, about, 1, 1, RUMOR_RECORD, "a", 1);
	rumors_push(&q, about, 1, 1, RUMOR_RECORD, "b", 1);
	rumors_push(&q, about, 1, 1, RUMOR_RECORD, "c", 1);
	sb_init(&sb, buf, sizeof(buf));
	n = rumors_take(&q, &sb, 100, 2, 2, always, NULL);
	ok(n == 3 && strcmp(buf, "c,b,a") == 0, "newest first, each once per take: %s", buf);
	sb_init(&sb, buf, sizeof(buf));
	rumors_push(&q, about, 1, 1, RUMOR_RECORD, "d", 1);
	n = rumors_take(&q, &sb, 100, 2, 2, always, NULL);
	ok(n == 4 && strcmp(buf, "d,c,b,a") == 0, "a fresh rumor jumps the queue: %s", buf);
	sb_init(&sb, buf, sizeof(buf));
	n = rumors_take(&q, &sb, 100, 2, 2, always, NULL);
	ok(n == 1 && strcmp(buf, "d") == 0 && q.n == 0, "limit 2: only d has a send left: %s", buf);

	rumors_push(&q, about, 1, 1, RUMOR_RECORD, "a", 1);
	rumors_push(&q, about, 1, 1, RUMOR_RECORD, "b", 1);
	sb_init(&sb, buf, sizeof(buf));
	n = rumors_take(&q, &sb, 100, 5, 5, not_b, NULL);
	ok(n == 1 && strcmp(buf, "a") == 0 && q.n == 1, "superseded rumors are dropped when met");

	sb_init(&sb, buf, sizeof(buf));
	rumors_push(&q, about, 1, 1, RUMOR_RECORD, "xxxxxxxxxx", 10);
	n = rumors_take(&q, &sb, 5, 5, 5, always, NULL);
	ok(n == 0 && q.n == 2, "a rumor over the byte budget stays queued");
	rumors_free(&q);

	/* Lazy push: after `eager` sends a record rumor goes out as a digest. */
	ok(rumors_init(&q) == 0, "init for digests");
	about[0] = 0xab;
	rumors_push(&q, about, 17, 4, RUMOR_RECORD, "{\"k\":\"rec\"}", 11);
	sb_init(&sb, buf, sizeof(buf));
	rumors_take(&q, &sb, 200, 3, 1, always, NULL);
	ok(strcmp(buf, "{\"k\":\"rec\"}") == 0, "first send carries the record");
	sb_init(&sb, buf, sizeof(buf));
	rumors_take(&q, &sb, 200, 3, 1, always, NULL);
	ok(strcmp(buf, "\"ab00000000000000:17:4\"") == 0,
	   "later sends carry a digest (id prefix, start, inc): %s", buf);
	rumors_free(&q);
	about[0] = 0;

	ok(rumors_init(&q) == 0, "re-init");
	for (unsigned i = 0; i < CHORUS_RUMORS_MAX + 100; i++)
		rumors_push(&q, about, 1, i, RUMOR_RECORD, "r", 1);
	ok(q.n == CHORUS_RUMORS_MAX && q.cap == CHORUS_RUMORS_MAX, "the queue is bounded at %d", CHORUS_RUMORS_MAX);
	rumors_free(&q);

	seen_init(&s);
	ok(seen_check_insert(&s, 1) == 0 && seen_check_insert(&s, 1) == 1, "a key is seen the second time");
	for (uint64_t k = 2; k < 3 * CHORUS_SEEN_MAX; k++)
		seen_check_insert(&s, k * 0x10001);
	ok(s.n == CHORUS_SEEN_MAX, "the seen-cache is bounded");
	good = 1;
	for (uint64_t k = 3 * CHORUS_SEEN_MAX - CHORUS_SEEN_MAX; k < 3 * CHORUS_SEEN_MAX; k++)
		if (seen_check_insert(&s, k * 0x10001) != 1)
			good = 0;
	ok(good, "the most recent CHORUS_SEEN_MAX keys are all remembered");
	ok(seen_check_insert(&s, 5 * 0x10001) == 0, "an evicted key is forgotten");
	return tap_done();
}

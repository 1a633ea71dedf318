/*
 * rumors: what a node has to tell others (records, suspicions, deaths).
 * (The seen-cache that drops replayed frames is base/seen.c.)
 *
 * The broadcast queue is a ring used as a deque: fresh rumors are pushed at
 * the front, rumors just sent go to the back, so the least-sent go first
 * without sorting (memberlist keeps a tree ordered by transmit count; this
 * is the O(1) approximation).  Each rumor is sent at most `limit` times.
 */
#include <stdlib.h>

#include "membership/membership-internal.h"

int rumors_init(struct rumors *q)
{
	memset(q, 0, sizeof(*q));
	q->cap = 64;
	q->ring = calloc(q->cap, sizeof(*q->ring));
	return q->ring ? 0 : CORE_ERR_NOMEM;
}

void rumors_free(struct rumors *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->ring[(q->head + i) % q->cap].json);
	free(q->ring);
	memset(q, 0, sizeof(*q));
}

static int rumors_grow(struct rumors *q)
{
	size_t cap = q->cap * 2;
	struct rumor *ring;

	if (q->cap >= CHORUS_RUMORS_MAX)
		return CORE_ERR_FULL;
	ring = calloc(cap, sizeof(*ring));
	if (ring == NULL)
		return CORE_ERR_NOMEM;
	for (size_t i = 0; i < q->n; i++)
		ring[i] = q->ring[(q->head + i) % q->cap];
	free(q->ring);
	q->ring = ring;
	q->cap = cap;
	q->head = 0;
	return 0;
}

static struct rumor rumors_pop_front(struct rumors *q)
{
	struct rumor r = q->ring[q->head];

	assert(q->n > 0);
	q->head = (q->head + 1) % q->cap;
	q->n--;
	return r;
}

static void rumors_push_back(struct rumors *q, struct rumor r)
{
	assert(q->n < q->cap);
	q->ring[(q->head + q->n) % q->cap] = r;
	q->n++;
}

static void rumors_push_front(struct rumors *q, struct rumor r)
{
	assert(q->n < q->cap);
	q->head = (q->head + q->cap - 1) % q->cap;
	q->ring[q->head] = r;
	q->n++;
}

int rumors_push(struct rumors *q, const uint8_t about[CHORUS_PK_BYTES], uint64_t start_ms,
                uint64_t inc, int kind, const char *json, size_t len)
{
	struct rumor r;

	if (len == 0 || len > UINT16_MAX)
		return CORE_ERR_OVERSIZE;
	if (q->n == q->cap && rumors_grow(q) < 0) {
		/* Full: the most-sent rumor, at the back, is the one to let go. */
		q->n--;
		free(q->ring[(q->head + q->n) % q->cap].json);
	}
	memset(&r, 0, sizeof(r));
	memcpy(r.about, about, CHORUS_PK_BYTES);
	r.start_ms = start_ms;
	r.inc = inc;
	r.kind = (uint8_t)kind;
	r.len = (uint16_t)len;
	r.json = malloc(len);
	if (r.json == NULL)
		return CORE_ERR_NOMEM;
	memcpy(r.json, json, len);
	rumors_push_front(q, r);
	return 0;
}

/*
 * "<id prefix>:<start>:<inc>": a record rumor without the record, as a JSON
 * string rather than an object.  Digests are most of what gossip carries
 * (all sends of a record but the first), and as {"k":"ver","i":<64 hex>,
 * "g":..,"c":..} they were ~106 bytes and a four-member object to parse;
 * this is ~35 bytes and one string.  64 bits of the id name a member well
 * enough: a collision (two keys of one owner, 2^32 work) only hides that
 * owner's own news from digests; its record still travels eagerly.
 */
static size_t rumors_digest(const struct rumor *r, char *out, size_t cap)
{
	char id[CHORUS_ID_HEX + 1];
	struct sb sb;

	codec_hex(id, r->about, CHORUS_DIGEST_ID_HEX / 2);
	sb_init(&sb, out, cap);
	sb_printf(&sb, "\"%s:%llu:%llu\"", id, (unsigned long long)r->start_ms,
	          (unsigned long long)r->inc);
	assert(!sb.overflow);
	return sb.len;
}

/*
 * After its eager sends a record rumor is rewritten as its digest, once:
 * formatting the digest at every later send (codec_hex, printf) was a
 * visible cost with thousands of rumors per node.
 */
static void rumors_to_digest(struct rumor *r)
{
	char digest[160];
	size_t len = rumors_digest(r, digest, sizeof(digest));
	char *json = realloc(r->json, len);

	if (json == NULL)
		return; /* the full record still serves */
	memcpy(json, digest, len);
	r->json = json;
	r->len = (uint16_t)len;
	r->digest = 1;
}

size_t rumors_take(struct rumors *q, struct sb *sb, size_t budget, unsigned limit, unsigned eager,
                   rumor_current_cb current, void *ctx)
{
	size_t taken = 0, start_len = sb->len;
	size_t rounds = q->n;

	assert(limit > 0);
	/* Each rumor is looked at once: `rounds` is the count when we began. */
	for (size_t i = 0; i < rounds && q->n > 0; i++) {
		struct rumor r = rumors_pop_front(q);

		if (!current(ctx, &r)) {
			free(r.json);
			continue;
		}
		if (r.kind == RUMOR_RECORD && !r.digest && r.transmits >= eager)
			rumors_to_digest(&r);
		if (sb->len - start_len + r.len + 1 > budget) {
			rumors_push_front(q, r);
			break;
		}
		if (taken > 0)
			sb_putn(sb, ",", 1);
		sb_putn(sb, r.json, r.len);
		taken++;
		if (++r.transmits >= limit)
			free(r.json);
		else
			rumors_push_back(q, r);
	}
	return taken;
}

/*
 * voter-catchup: log compaction and the backfill of ledger blocks that a
 * snapshot skipped, sans-io (include/chorus/voter-catchup.h; the protocol:
 * docs/ledger-node.md, "Compaction and catch-up").
 *
 * The ledger's chain lives in the shell's blocks table, so the log need not
 * keep it: every `every` applied entries the log is compacted up to the
 * applied index, with a snapshot of a few bytes, the ledger height and head
 * hash there (catchup-msg.c), never the blocks.  A voter that installs such
 * a snapshot above its own ledger fetches the missing blocks from the other
 * voters, walking DOWN from the snapshot's head: the block at the target
 * height must hash to the snapshot's head hash, and each block below to the
 * `prev` of the one above.  So every block handed out to be stored is proven
 * to be in the committed chain before anything is applied, a peer can waste
 * our time but never make us apply a block off the chain, and the walk
 * resumes after a restart from what the store holds.  Once the walk reaches
 * our head, the blocks are applied upward, a few per tick (each re-verified
 * by ledger_block_apply: signatures, entries).
 *
 * States: IDLE (the ledger is at or above the latest snapshot), FETCH (the
 * walk down: one request in flight, a timeout, then the next voter), APPLY
 * (the walk met our head: applying upward).  While not IDLE, the shell holds
 * the committed entries after the snapshot, nothing is compacted, and a
 * leader hands leadership to another voter: it cannot build on a head it
 * does not have.
 *
 * Invariants: a WRITE carries only a block of the committed chain; low - 1
 * > ledger height while FETCH; one store read of each purpose in flight;
 * effects bounded between two drains (VOTER_CATCHUP_EFFECTS_MAX).
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chorus/consensus.h"
#include "chorus/voter-catchup.h"
#include "base/base.h"

enum voter_catchup_tag { VC_READ_VERIFY = 1, VC_READ_SKIP = 2, VC_READ_SERVE = 3, VC_READ_APPLY = 4 };

struct voter_catchup_serve {      /* a request being answered, block by block */
	int active;
	uint64_t from, next, left;
	size_t out;
};

struct voter_catchup {
	struct ledger *ledger;
	uint64_t self;
	unsigned every;
	int state;
	int broken;
	uint64_t snap_index, target_height;
	uint8_t target_hash[LEDGER_HASH_BYTES];
	uint64_t verify_height;              /* a target's block, read back to compare */
	uint8_t verify_hash[LEDGER_HASH_BYTES];
	uint64_t low;                        /* FETCH: blocks low..target are proven, stored */
	uint8_t expect[LEDGER_HASH_BYTES];   /* FETCH: the hash of block low - 1 */
	int skip_reading, apply_reading;     /* a READ of that purpose in flight */
	uint64_t distrust;                   /* a stored row whose signature failed: fetch it again */
	unsigned apply_budget;               /* blocks this tick may still apply */
	uint64_t req_id, next_req_id, peer;  /* the request in flight (req_id 0: none) */
	uint64_t ticks, sent_tick, retry_tick;
	unsigned peer_round;
	uint64_t now_ms, started_ms;
	uint64_t mark_index, mark_height;    /* the ledger at a past applied index: the next snapshot */
	uint8_t mark_hash[LEDGER_HASH_BYTES];
	struct voter_catchup_serve serve;
	uint8_t *req_buf, *serve_buf, *take_buf; /* CHORUS_BODY_MAX each */
	struct voter_catchup_effect *fx;     /* a ring of VOTER_CATCHUP_EFFECTS_MAX */
	size_t fx_head, fx_n;
	struct catchup_status st;
};

/* ---------------------------------------------------------------- effects */

static struct voter_catchup_effect *vc_push(struct voter_catchup *c, int kind)
{
	struct voter_catchup_effect *e;

	/* Bounded by construction: one read per purpose, a response's writes, a few sends. */
	assert(c->fx_n < VOTER_CATCHUP_EFFECTS_MAX);
	if (c->fx_n == VOTER_CATCHUP_EFFECTS_MAX)
		abort();
	e = &c->fx[(c->fx_head + c->fx_n++) % VOTER_CATCHUP_EFFECTS_MAX];
	memset(e, 0, offsetof(struct voter_catchup_effect, text));
	e->text[0] = '\0';
	e->kind = kind;
	return e;
}

static void vc_log(struct voter_catchup *c, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vc_log(struct voter_catchup *c, int level, const char *fmt, ...)
{
	struct voter_catchup_effect *e;
	va_list ap;

	if (c->fx_n >= VOTER_CATCHUP_EFFECTS_MAX - 1)
		return; /* keep the room for what must happen; a log record may go */
	e = vc_push(c, VOTER_CATCHUP_LOG);
	e->level = level;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof e->text, fmt, ap);
	va_end(ap);
}

static void vc_read(struct voter_catchup *c, int tag, uint64_t height)
{
	struct voter_catchup_effect *e = vc_push(c, VOTER_CATCHUP_READ);

	assert(height > 0);
	e->tag = tag;
	e->height = height;
}

static void vc_send(struct voter_catchup *c, uint64_t to, const uint8_t *body, size_t len)
{
	struct voter_catchup_effect *e = vc_push(c, VOTER_CATCHUP_SEND);

	e->to = to;
	e->data = body;
	e->len = len;
}

int voter_catchup_effect(struct voter_catchup *c, struct voter_catchup_effect *out)
{
	if (c->fx_n == 0)
		return 0;
	*out = c->fx[c->fx_head];
	c->fx_head = (c->fx_head + 1) % VOTER_CATCHUP_EFFECTS_MAX;
	c->fx_n--;
	return 1;
}

/* ---------------------------------------------------------------- life and views */

const char *voter_catchup_state_name(int state)
{
	switch (state) {
	case CATCHUP_IDLE: return "idle";
	case CATCHUP_FETCH: return "fetch";
	case CATCHUP_APPLY: return "apply";
	}
	return "?";
}

int voter_catchup_create(struct voter_catchup **out, struct ledger *l, uint64_t self,
                         unsigned every)
{
	struct voter_catchup *c = calloc(1, sizeof *c);

	*out = NULL;
	if (c == NULL)
		return CORE_ERR_NOMEM;
	c->req_buf = malloc(CHORUS_BODY_MAX);
	c->serve_buf = malloc(CHORUS_BODY_MAX);
	c->take_buf = malloc(CHORUS_BODY_MAX);
	c->fx = calloc(VOTER_CATCHUP_EFFECTS_MAX, sizeof *c->fx);
	if (l == NULL || c->req_buf == NULL || c->serve_buf == NULL || c->take_buf == NULL ||
	    c->fx == NULL) {
		voter_catchup_destroy(c);
		return CORE_ERR_NOMEM;
	}
	c->ledger = l;
	c->self = self;
	c->every = every;
	c->next_req_id = 1;
	*out = c;
	return 0;
}

void voter_catchup_destroy(struct voter_catchup *c)
{
	if (c == NULL)
		return;
	free(c->req_buf);
	free(c->serve_buf);
	free(c->take_buf);
	free(c->fx);
	free(c);
}

int voter_catchup_active(const struct voter_catchup *c)
{
	return c->state != CATCHUP_IDLE;
}

int voter_catchup_broken(const struct voter_catchup *c)
{
	return c->broken;
}

void voter_catchup_status(const struct voter_catchup *c, struct catchup_status *out)
{
	*out = c->st;
	out->state = c->state;
	out->target_height = c->target_height;
	out->snap_index = c->snap_index;
	out->low = c->state == CATCHUP_FETCH ? c->low : 0;
}

static void vc_break(struct voter_catchup *c, const char *what, uint64_t height)
{
	c->broken = 1;
	vc_log(c, CORE_LOG_ERROR, "event=%s height=%llu", what, (unsigned long long)height);
}

/* ---------------------------------------------------------------- the chain in the store */

int voter_catchup_rebuild_block(struct voter_catchup *c, uint64_t height, const uint8_t *data,
                                size_t len)
{
	int r;

	if (height != ledger_height(c->ledger) + 1)
		return 1; /* a gap: the rows above are a walk's, applied once it closes */
	if ((r = ledger_block_apply(c->ledger, data, len)) != 0) {
		vc_log(c, CORE_LOG_ERROR, "event=rebuild_error height=%llu error=\"%s\" why=\"%s\"",
		       (unsigned long long)height, core_strerror(r), ledger_why(c->ledger));
		return r < 0 ? r : CORE_ERR_INVAL; /* a stored block that does not verify: damaged */
	}
	vc_push(c, VOTER_CATCHUP_APPLIED)->height = height;
	return 0;
}

/*
 * The walk down over what the store already holds (a restart, or a newer
 * snapshot over an unfinished walk): one read at a time; at our head it
 * turns to APPLY.
 */
static void vc_skip(struct voter_catchup *c)
{
	uint64_t need;
	uint8_t head[LEDGER_HASH_BYTES];

	if (c->state != CATCHUP_FETCH || c->skip_reading)
		return;
	need = c->low - 1;
	if (need > ledger_height(c->ledger)) {
		c->skip_reading = 1;
		vc_read(c, VC_READ_SKIP, need);
		return;
	}
	assert(need == ledger_height(c->ledger));
	ledger_head_hash(c->ledger, head);
	if (memcmp(head, c->expect, LEDGER_HASH_BYTES) != 0) {
		/* Our applied blocks were committed ones: a fork is a broken invariant. */
		vc_break(c, "backfill_fork", need);
		return;
	}
	c->state = CATCHUP_APPLY;
	c->req_id = 0;
	vc_log(c, CORE_LOG_INFO, "event=backfill_fetched from=%llu to=%llu ms=%llu",
	       (unsigned long long)need + 1, (unsigned long long)c->target_height,
	       (unsigned long long)(c->now_ms - c->started_ms));
}

static void vc_skip_done(struct voter_catchup *c, uint64_t height, const uint8_t *data, size_t len)
{
	struct ledger_block_info bi;

	c->skip_reading = 0;
	if (c->state != CATCHUP_FETCH || height != c->low - 1) {
		vc_skip(c); /* the walk moved meanwhile: read where it is now */
		return;
	}
	if (data == NULL || height == c->distrust || ledger_block_peek(data, len, &bi) != 0 ||
	    bi.height != height || memcmp(bi.hash, c->expect, LEDGER_HASH_BYTES) != 0)
		return; /* to be fetched */
	memcpy(c->expect, bi.prev, LEDGER_HASH_BYTES);
	c->low = height;
	vc_skip(c);
}

int voter_catchup_target(struct voter_catchup *c, uint64_t index, const uint8_t *data, size_t len)
{
	uint8_t hash[LEDGER_HASH_BYTES];
	uint64_t height;

	if (catchup_snap_decode(data, len, &height, hash) != 0) {
		vc_log(c, CORE_LOG_ERROR, "event=snapshot_error index=%llu len=%zu"
		       " why=\"does not decode\"", (unsigned long long)index, len);
		return CORE_ERR_MALFORMED;
	}
	c->snap_index = index;
	c->target_height = height;
	memcpy(c->target_hash, hash, LEDGER_HASH_BYTES);
	if (ledger_height(c->ledger) >= height) {
		uint8_t ours[LEDGER_HASH_BYTES];

		c->state = CATCHUP_IDLE;
		if (height > 0 && height < ledger_height(c->ledger)) {
			c->verify_height = height; /* our block there must be the snapshot's */
			memcpy(c->verify_hash, hash, LEDGER_HASH_BYTES);
			vc_read(c, VC_READ_VERIFY, height);
			return 0;
		}
		if (height == 0)
			memset(ours, 0, sizeof ours);
		else
			ledger_head_hash(c->ledger, ours);
		if (memcmp(ours, hash, LEDGER_HASH_BYTES) != 0)
			vc_break(c, "snapshot_not_our_chain", height);
		return 0;
	}
	if (c->state == CATCHUP_IDLE) {
		c->started_ms = c->now_ms;
		vc_log(c, CORE_LOG_INFO, "event=backfill_start height=%llu target=%llu index=%llu",
		       (unsigned long long)ledger_height(c->ledger), (unsigned long long)height,
		       (unsigned long long)index);
	}
	c->state = CATCHUP_FETCH;
	c->low = height + 1;
	memcpy(c->expect, hash, LEDGER_HASH_BYTES);
	c->req_id = 0; /* a new walk: an answer to the old request is stale */
	vc_skip(c);
	return 0;
}

static void vc_verify_done(struct voter_catchup *c, uint64_t height, const uint8_t *data,
                           size_t len)
{
	struct ledger_block_info bi;

	if (height != c->verify_height)
		return;
	c->verify_height = 0;
	if (data == NULL || ledger_block_peek(data, len, &bi) != 0 || bi.height != height ||
	    memcmp(bi.hash, c->verify_hash, LEDGER_HASH_BYTES) != 0)
		vc_break(c, "snapshot_not_our_chain", height);
}

/* ---------------------------------------------------------------- asking */

/* Whom to ask: the leader first, then every other voter in turn. */
static uint64_t vc_peer(struct voter_catchup *c, const struct consensus *cn)
{
	struct consensus_status st;
	uint64_t ids[CONSENSUS_VOTERS_MAX + 1];
	size_t n = 0;

	consensus_status(cn, &st);
	if (st.leader != CONSENSUS_NONE && st.leader != c->self && consensus_status_has(&st, st.leader))
		ids[n++] = st.leader;
	for (uint32_t i = 0; i < st.nvoters; i++)
		if (st.voters[i] != c->self && st.voters[i] != st.leader)
			ids[n++] = st.voters[i];
	return n > 0 ? ids[c->peer_round % n] : CONSENSUS_NONE;
}

static void vc_request(struct voter_catchup *c, const struct consensus *cn)
{
	struct catchup_req q;
	uint64_t missing;
	int n;

	if (c->skip_reading)
		return; /* the walk over the store first */
	if (c->req_id != 0 && c->ticks - c->sent_tick < VOTER_CATCHUP_TIMEOUT_TICKS)
		return;
	if (c->req_id != 0) {
		c->st.timeouts++;
		c->peer_round++;
		vc_log(c, CORE_LOG_DEBUG, "event=backfill_timeout peer=%016llx",
		       (unsigned long long)c->peer);
	}
	c->req_id = 0;
	if (c->ticks < c->retry_tick || (c->peer = vc_peer(c, cn)) == CONSENSUS_NONE)
		return;
	assert(c->low - 1 > ledger_height(c->ledger));
	missing = c->low - 1 - ledger_height(c->ledger);
	q.req_id = c->next_req_id++;
	q.top = c->low - 1;
	q.count = (uint16_t)(missing < CATCHUP_BLOCKS_MAX ? missing : CATCHUP_BLOCKS_MAX);
	if ((n = catchup_req_encode(&q, c->req_buf, CHORUS_BODY_MAX)) < 0)
		return; /* cannot happen: low - 1 > height >= 0 */
	vc_send(c, c->peer, c->req_buf, (size_t)n);
	c->req_id = q.req_id;
	c->sent_tick = c->ticks;
	c->st.requests++;
}

/* ---------------------------------------------------------------- serving */

static void vc_serve_next(struct voter_catchup *c)
{
	struct voter_catchup_serve *s = &c->serve;

	if (s->left > 0 && s->next >= 1 && s->next <= ledger_height(c->ledger)) {
		vc_read(c, VC_READ_SERVE, s->next);
		return;
	}
	vc_send(c, s->from, c->serve_buf, s->out);
	c->st.served++;
	s->active = 0;
}

/* A voter of our configuration asks for blocks top, top - 1, ...: as many as fit. */
static void vc_serve(struct voter_catchup *c, const struct consensus *cn, uint64_t from,
                     const uint8_t *body, size_t len)
{
	struct consensus_status st;
	struct catchup_req q;
	int n;

	consensus_status(cn, &st);
	if (c->serve.active || !consensus_status_has(&st, from) ||
	    catchup_req_decode(&q, body, len) != 0) {
		c->st.dropped++; /* one answer at a time: the asker's timeout tries again */
		vc_log(c, CORE_LOG_DEBUG, "event=drop reason=bad-backfill-request from=%016llx",
		       (unsigned long long)from);
		return;
	}
	n = catchup_blocks_begin(c->serve_buf, CHORUS_BODY_MAX, q.req_id, q.top,
	                         ledger_height(c->ledger));
	if (n < 0)
		return;
	c->serve = (struct voter_catchup_serve){ .active = 1, .from = from, .next = q.top,
	                                         .left = q.count, .out = (size_t)n };
	vc_serve_next(c);
}

static void vc_serve_done(struct voter_catchup *c, uint64_t height, const uint8_t *data,
                          size_t len)
{
	struct voter_catchup_serve *s = &c->serve;

	if (!s->active || height != s->next)
		return;
	if (data == NULL || catchup_blocks_add(c->serve_buf, CHORUS_BODY_MAX, &s->out, data, len) != 0)
		s->left = 0; /* what we have so far */
	else {
		s->left--;
		s->next--;
	}
	vc_serve_next(c);
}

/* ---------------------------------------------------------------- taking blocks */

/* The answer to our request: each block must be the one the walk expects. */
static void vc_take(struct voter_catchup *c, uint64_t from, const uint8_t *body, size_t len)
{
	struct catchup_blocks *b = malloc(sizeof *b);

	if (b == NULL)
		return; /* the request times out and is asked again */
	assert(len <= CHORUS_BODY_MAX);
	memcpy(c->take_buf, body, len); /* the WRITEs point into it until the next call */
	if (catchup_blocks_decode(b, c->take_buf, len) != 0 || c->state != CATCHUP_FETCH ||
	    c->skip_reading || b->req_id != c->req_id || from != c->peer || b->top != c->low - 1) {
		c->st.dropped++;
		vc_log(c, CORE_LOG_DEBUG, "event=drop reason=stale-or-bad-blocks from=%016llx",
		       (unsigned long long)from);
		free(b);
		return;
	}
	c->req_id = 0;
	if (b->n == 0) {
		c->peer_round++; /* it does not have them (yet): the next voter, a little later */
		c->retry_tick = c->ticks + VOTER_CATCHUP_RETRY_TICKS;
		c->st.rejects++;
	}
	for (unsigned i = 0; i < b->n && c->low - 1 > ledger_height(c->ledger); i++) {
		struct voter_catchup_effect *e;
		struct ledger_block_info bi;

		if (ledger_block_peek(b->data[i], b->len[i], &bi) != 0 || bi.height != c->low - 1 ||
		    memcmp(bi.hash, c->expect, LEDGER_HASH_BYTES) != 0) {
			vc_log(c, CORE_LOG_WARN, "event=backfill_reject from=%016llx height=%llu",
			       (unsigned long long)from, (unsigned long long)c->low - 1);
			c->st.rejects++;
			c->peer_round++;
			break;
		}
		e = vc_push(c, VOTER_CATCHUP_WRITE);
		if (bi.height == c->distrust)
			c->distrust = 0; /* replaced: its signature is checked when it applies */
		e->height = bi.height;
		memcpy(e->hash, bi.hash, LEDGER_HASH_BYTES);
		e->data = b->data[i];
		e->len = b->len[i];
		memcpy(c->expect, bi.prev, LEDGER_HASH_BYTES);
		c->low = bi.height;
		c->st.blocks_fetched++;
	}
	free(b);
	vc_skip(c); /* after the WRITEs: the effects go in order */
}

void voter_catchup_on_msg(struct voter_catchup *c, const struct consensus *cn, uint64_t from,
                          const uint8_t *body, size_t len)
{
	if (cn == NULL || len == 0 || len > CHORUS_BODY_MAX) {
		c->st.dropped++;
		return; /* not booted: the asker tries another voter */
	}
	if (body[0] == CATCHUP_MSG_REQ)
		vc_serve(c, cn, from, body, len);
	else if (body[0] == CATCHUP_MSG_BLOCKS)
		vc_take(c, from, body, len);
	else
		c->st.dropped++;
}

void voter_catchup_write_failed(struct voter_catchup *c, uint64_t height)
{
	vc_log(c, CORE_LOG_WARN, "event=backfill_store_error height=%llu (walked again)",
	       (unsigned long long)height);
	if (c->state != CATCHUP_FETCH)
		return;
	c->low = c->target_height + 1;
	memcpy(c->expect, c->target_hash, LEDGER_HASH_BYTES);
	c->req_id = 0;
	vc_skip(c);
}

/* ---------------------------------------------------------------- applying */

/* APPLY: the next stored block upward, within this tick's budget. */
static void vc_apply_next(struct voter_catchup *c)
{
	uint8_t head[LEDGER_HASH_BYTES];

	if (c->state != CATCHUP_APPLY || c->apply_reading)
		return;
	if (ledger_height(c->ledger) < c->target_height) {
		if (c->apply_budget == 0)
			return;
		c->apply_budget--;
		c->apply_reading = 1;
		vc_read(c, VC_READ_APPLY, ledger_height(c->ledger) + 1);
		return;
	}
	ledger_head_hash(c->ledger, head);
	if (memcmp(head, c->target_hash, LEDGER_HASH_BYTES) != 0) {
		vc_break(c, "backfill_fork", c->target_height);
		return;
	}
	c->state = CATCHUP_IDLE;
	vc_log(c, CORE_LOG_INFO, "event=backfill_done height=%llu ms=%llu fetched=%llu",
	       (unsigned long long)c->target_height, (unsigned long long)(c->now_ms - c->started_ms),
	       (unsigned long long)c->st.blocks_fetched);
}

/*
 * A stored block, hash-linked to a committed head, that does not apply.
 * The hash covers all but the leader's signature: a peer (or the disk) gave
 * us the committed block's bytes with another signature.  Not a reason to
 * stop: that row is fetched again, from the next voter, and applied then.
 * Out of memory: tried again next tick.
 */
static void vc_apply_failed(struct voter_catchup *c, uint64_t height, const uint8_t *data,
                            size_t len, int r)
{
	struct ledger_block_info bi;

	vc_log(c, CORE_LOG_WARN, "event=backfill_bad_block height=%llu error=\"%s\" why=\"%s\"",
	       (unsigned long long)height, core_strerror(r), ledger_why(c->ledger));
	if (r == CORE_ERR_NOMEM || ledger_block_peek(data, len, &bi) != 0)
		return;
	c->st.rejects++;
	c->peer_round++;
	c->state = CATCHUP_FETCH;
	c->distrust = height;
	c->low = height + 1;
	memcpy(c->expect, bi.hash, LEDGER_HASH_BYTES); /* proven: the hash chain above */
	c->req_id = 0;
	vc_skip(c);
}

static void vc_apply_done(struct voter_catchup *c, uint64_t height, const uint8_t *data,
                          size_t len)
{
	int r;

	c->apply_reading = 0;
	if (c->state != CATCHUP_APPLY || height != ledger_height(c->ledger) + 1) {
		vc_apply_next(c);
		return;
	}
	if (data == NULL) {
		vc_log(c, CORE_LOG_WARN, "event=backfill_lost height=%llu", (unsigned long long)height);
		c->state = CATCHUP_FETCH; /* walk again: fetches what is missing */
		c->low = c->target_height + 1;
		memcpy(c->expect, c->target_hash, LEDGER_HASH_BYTES);
		c->req_id = 0;
		vc_skip(c);
		return;
	}
	if ((r = ledger_block_apply(c->ledger, data, len)) != 0) {
		vc_apply_failed(c, height, data, len, r);
		return;
	}
	vc_push(c, VOTER_CATCHUP_APPLIED)->height = height;
	vc_apply_next(c);
}

void voter_catchup_read_done(struct voter_catchup *c, int tag, uint64_t height,
                             const uint8_t *data, size_t len)
{
	switch (tag) {
	case VC_READ_VERIFY: vc_verify_done(c, height, data, len); break;
	case VC_READ_SKIP: vc_skip_done(c, height, data, len); break;
	case VC_READ_SERVE: vc_serve_done(c, height, data, len); break;
	case VC_READ_APPLY: vc_apply_done(c, height, data, len); break;
	default: break; /* not ours: the shell hands back only what it was given */
	}
}

/* ---------------------------------------------------------------- the tick */

void voter_catchup_tick(struct voter_catchup *c, const struct consensus *cn, uint64_t now_ms)
{
	c->ticks++;
	c->now_ms = now_ms;
	if (c->state == CATCHUP_FETCH && cn != NULL)
		vc_request(c, cn);
	else if (c->state == CATCHUP_APPLY) {
		c->apply_budget = VOTER_CATCHUP_APPLY_PER_TICK;
		vc_apply_next(c);
	}
}

/* A leader that cannot build on the final head hands over to another voter. */
static void vc_step_aside(struct voter_catchup *c, struct consensus *cn,
                          const struct consensus_status *st)
{
	if (st->transferee != CONSENSUS_NONE)
		return;
	for (uint32_t i = 0; i < st->nvoters; i++) {
		uint64_t to = st->voters[(c->peer_round + i) % st->nvoters];

		if (to != c->self && consensus_transfer(cn, to) == 0) {
			vc_log(c, CORE_LOG_INFO, "event=transfer to=%016llx reason=backfill",
			       (unsigned long long)to);
			return;
		}
	}
}

/*
 * After each pump, when the ledger is exactly at the log's applied index:
 * compaction.  It trails: the ledger point is marked half way (`every` / 2
 * entries after the snapshot) and the log is compacted up to that mark once
 * `every` entries are applied, so the log keeps between every / 2 and
 * `every` entries and a follower that lags by less than every / 2 still gets
 * appends rather than a snapshot and a backfill.
 */
void voter_catchup_after_pump(struct voter_catchup *c, struct consensus *cn,
                              uint64_t applied_index)
{
	uint8_t bytes[CATCHUP_SNAP_BYTES];
	struct consensus_snapshot snap;
	struct consensus_status st;
	struct voter_catchup_effect *e;
	int err;

	consensus_status(cn, &st);
	if (c->state != CATCHUP_IDLE || applied_index != st.applied) {
		if (st.role == CONSENSUS_LEADER)
			vc_step_aside(c, cn, &st);
		return;
	}
	if (c->every == 0)
		return;
	if (c->mark_index <= st.snap_index && applied_index >= st.snap_index + (c->every + 1) / 2) {
		c->mark_index = applied_index;
		c->mark_height = ledger_height(c->ledger);
		ledger_head_hash(c->ledger, c->mark_hash);
	}
	if (c->mark_index <= st.snap_index || applied_index < st.snap_index + c->every)
		return;
	catchup_snap_encode(c->mark_height, c->mark_hash, bytes);
	if ((err = consensus_compact(cn, c->mark_index, bytes, sizeof bytes)) != 0) {
		vc_log(c, CORE_LOG_WARN, "event=compact_error index=%llu error=\"%s\"",
		       (unsigned long long)c->mark_index, consensus_strerror(cn, err));
		c->mark_index = 0;
		return;
	}
	consensus_snapshot_get(cn, &snap);
	e = vc_push(c, VOTER_CATCHUP_COMPACTED); /* the store keeps the longer log until written */
	e->durable = snap.durable;
	e->height = c->mark_height;
	c->snap_index = c->mark_index;
	c->target_height = c->mark_height;
	memcpy(c->target_hash, c->mark_hash, LEDGER_HASH_BYTES);
	c->st.compactions++;
	vc_log(c, CORE_LOG_DEBUG, "event=compact index=%llu height=%llu",
	       (unsigned long long)c->mark_index, (unsigned long long)c->mark_height);
}

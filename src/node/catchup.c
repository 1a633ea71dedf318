/*
 * catchup: log compaction and the backfill of ledger blocks that a Raft
 * snapshot skipped (docs/ledger-node.md, "Compaction and catch-up").
 *
 * The ledger's chain lives in raft.db's blocks table, so Raft's log need
 * not keep it: every `every` applied entries the node compacts Raft's log
 * up to the applied index, with a snapshot of a few bytes, the ledger height
 * and head hash there (catchup-msg.c), never the blocks.  A voter that
 * installs such a snapshot above its own ledger fetches the missing blocks
 * from the other voters, walking DOWN from the snapshot's head: the block
 * at the target height must hash to the snapshot's head hash, and each block
 * below to the `prev` of the one above.  So every block written to the table
 * is proven to be in the committed chain before anything is applied, a
 * peer can waste our time but never make us apply a block off the chain,
 * and the walk resumes after a restart from what the table holds.  Once the
 * walk reaches our head, the blocks are applied upward, a few per tick
 * (each is re-verified by ledger_block_apply: signatures, entries).
 *
 * States: IDLE (the ledger is at or above the latest snapshot), FETCH (the
 * walk down: one request in flight, 500 ms timeout, then the next voter),
 * APPLY (the walk met our head: applying upward).  While not IDLE, the node
 * holds the committed Raft entries after the snapshot (consensus.c applies
 * them, in order, once the ledger reaches the snapshot), does not compact,
 * and, should it lead, hands leadership to another voter: it cannot build
 * on a head it does not have.
 *
 * Invariants: the blocks table holds only blocks of the committed chain;
 * rows 1..height are exactly the ledger's blocks; rows above the ledger
 * height form one hash-linked run ending at the target (checked rows of a
 * walk); the log is compacted only up to an index whose block is in the
 * table (raftstore.c's order makes it durable first).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "consensus.h"
#include "chorus/voter.h"

#define CATCHUP_TIMEOUT_TICKS  50 /* 500 ms without an answer: ask the next voter */
#define CATCHUP_RETRY_TICKS    10 /* a voter without the blocks: the next one after 100 ms */
#define CATCHUP_APPLY_PER_TICK 4  /* blocks re-applied per 10 ms tick (up to 96 signatures each) */

struct catchup {
	struct node *node;
	struct raftstore *store;
	struct ledger *ledger;
	uint64_t self;
	unsigned every; /* compact every this many applied entries */
	int state;
	uint64_t snap_index, target_height;
	uint8_t target_hash[LEDGER_HASH_BYTES];
	uint64_t low;                        /* FETCH: rows low..target are checked */
	uint8_t expect[LEDGER_HASH_BYTES];   /* FETCH: the hash of block low - 1 */
	uint64_t req_id, next_req_id, peer;  /* the request in flight (req_id 0: none) */
	uint64_t ticks, sent_tick, retry_tick;
	unsigned peer_round;
	uint64_t started_ms;
	uint64_t mark_index, mark_height; /* the ledger at a past applied index: the next snapshot */
	uint8_t mark_hash[LEDGER_HASH_BYTES];
	uint8_t *buf; /* one message, CHORUS_BODY_MAX */
	struct catchup_status st;
};

const char *catchup_state_name(int state)
{
	switch (state) {
	case CATCHUP_IDLE: return "idle";
	case CATCHUP_FETCH: return "fetch";
	case CATCHUP_APPLY: return "apply";
	}
	return "?";
}

int catchup_create(struct catchup **out, struct node *node, struct raftstore *store,
                   struct ledger *ledger, uint64_t self, unsigned every)
{
	struct catchup *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL || (c->buf = malloc(CHORUS_BODY_MAX)) == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->node = node;
	c->store = store;
	c->ledger = ledger;
	c->self = self;
	c->every = every;
	c->next_req_id = 1;
	*out = c;
	return 0;
}

void catchup_destroy(struct catchup *c)
{
	if (c == NULL)
		return;
	free(c->buf);
	free(c);
}

int catchup_active(const struct catchup *c)
{
	return c->state != CATCHUP_IDLE;
}

void catchup_status(const struct catchup *c, struct catchup_status *out)
{
	*out = c->st;
	out->state = c->state;
	out->target_height = c->target_height;
	out->snap_index = c->snap_index;
	out->low = c->state == CATCHUP_FETCH ? c->low : 0;
}

/* ---------------------------------------------------------------- the chain on disk */

static int catchup_rebuild_cb(void *ctx, uint64_t height, const uint8_t *data, size_t len)
{
	struct catchup *c = ctx;
	int r;

	if (height != ledger_height(c->ledger) + 1)
		return 1; /* a gap: the rows above are a walk's, applied once it closes */
	if ((r = ledger_block_apply(c->ledger, data, len)) != 0) {
		log_error("ledger", "event=rebuild_error height=%llu error=\"%s\" why=\"%s\"",
		          (unsigned long long)height, core_strerror(r), ledger_why(c->ledger));
		return -EBADMSG; /* a stored block that does not verify: raft.db is damaged */
	}
	if (raftstore_jobs_index(c->store, c->ledger) != 0)
		log_warn("ledger", "event=jobs_index_error height=%llu", (unsigned long long)height);
	return 0;
}

/* At start: the ledger from the blocks table (the contiguous rows from height 1). */
int catchup_rebuild(struct catchup *c)
{
	int r = raftstore_blocks_each(c->store, catchup_rebuild_cb, c);

	log_info("ledger", "event=rebuild height=%llu", (unsigned long long)ledger_height(c->ledger));
	return r < 0 ? r : 0;
}

/* The hash of our block at height (<= the ledger height); 0 or -ENOENT / -EIO. */
static int catchup_hash_at(struct catchup *c, uint64_t height, uint8_t hash[LEDGER_HASH_BYTES])
{
	struct ledger_block_info bi;
	const uint8_t *data;
	size_t len;
	int r;

	if (height == 0) {
		memset(hash, 0, LEDGER_HASH_BYTES);
		return 0;
	}
	if (height == ledger_height(c->ledger)) {
		ledger_head_hash(c->ledger, hash);
		return 0;
	}
	if ((r = raftstore_block_get(c->store, height, &data, &len)) != 0)
		return r;
	if (ledger_block_peek(data, len, &bi) != 0 || bi.height != height)
		return -EIO;
	memcpy(hash, bi.hash, LEDGER_HASH_BYTES);
	return 0;
}

/*
 * The walk down over what the table already holds (a restart, or a newer
 * snapshot over an unfinished walk); at our head it turns to APPLY.
 */
static void catchup_skip(struct catchup *c)
{
	while (c->state == CATCHUP_FETCH) {
		uint64_t need = c->low - 1;
		struct ledger_block_info bi;
		const uint8_t *data;
		size_t len;

		if (need == ledger_height(c->ledger)) {
			uint8_t head[LEDGER_HASH_BYTES];

			ledger_head_hash(c->ledger, head);
			if (memcmp(head, c->expect, LEDGER_HASH_BYTES) != 0) {
				/* Our applied blocks were committed ones: a fork is a broken invariant. */
				log_error("ledger", "event=backfill_fork height=%llu", (unsigned long long)need);
				abort();
			}
			c->state = CATCHUP_APPLY;
			log_info("ledger", "event=backfill_fetched from=%llu to=%llu ms=%llu",
			         (unsigned long long)need + 1, (unsigned long long)c->target_height,
			         (unsigned long long)(chorusd_now_ms() - c->started_ms));
			return;
		}
		if (raftstore_block_get(c->store, need, &data, &len) != 0 ||
		    ledger_block_peek(data, len, &bi) != 0 || bi.height != need ||
		    memcmp(bi.hash, c->expect, LEDGER_HASH_BYTES) != 0)
			return; /* to be fetched */
		memcpy(c->expect, bi.prev, LEDGER_HASH_BYTES);
		c->low = need;
	}
}

/*
 * The ledger point of the latest snapshot (at start, installed from the
 * leader, or our own compaction).  Below it, the walk starts (or restarts
 * from the new head).  0, or -EINVAL for bytes that do not decode or a
 * snapshot our chain contradicts.
 */
int catchup_target(struct catchup *c, uint64_t index, const uint8_t *data, size_t len)
{
	uint8_t hash[LEDGER_HASH_BYTES], ours[LEDGER_HASH_BYTES];
	uint64_t height;

	if (catchup_snap_decode(data, len, &height, hash) != 0) {
		log_error("ledger", "event=snapshot_error index=%llu len=%zu why=\"does not decode\"",
		          (unsigned long long)index, len);
		return -EINVAL;
	}
	c->snap_index = index;
	c->target_height = height;
	memcpy(c->target_hash, hash, LEDGER_HASH_BYTES);
	if (ledger_height(c->ledger) >= height) {
		if (catchup_hash_at(c, height, ours) != 0 || memcmp(ours, hash, LEDGER_HASH_BYTES) != 0) {
			log_error("ledger", "event=snapshot_error index=%llu height=%llu why=\"not our chain\"",
			          (unsigned long long)index, (unsigned long long)height);
			return -EINVAL;
		}
		c->state = CATCHUP_IDLE;
		return 0;
	}
	if (c->state == CATCHUP_IDLE) {
		c->started_ms = chorusd_now_ms();
		log_info("ledger", "event=backfill_start height=%llu target=%llu index=%llu",
		         (unsigned long long)ledger_height(c->ledger), (unsigned long long)height,
		         (unsigned long long)index);
	}
	c->state = CATCHUP_FETCH;
	c->low = height + 1;
	memcpy(c->expect, hash, LEDGER_HASH_BYTES);
	c->req_id = 0; /* a new walk: an answer to the old request is stale */
	catchup_skip(c);
	return 0;
}

/* ---------------------------------------------------------------- sending */

static void catchup_send(struct catchup *c, uint64_t to, const uint8_t *body, size_t len)
{
	struct core *core = c->node->core;
	struct member_view mv;
	int r;

	for (size_t i = 0; i < core_member_count(core); i++) {
		if (core_member_get(core, i, &mv) != 0 || consensus_id_of(mv.rec.pk) != to || mv.self)
			continue;
		if ((r = core_send_app(core, mv.rec.pk, mv.rec.addr, CORE_APP_LEDGER, body, len)) != 0)
			log_warn("ledger", "event=send_error to=%016llx error=\"%s\"", (unsigned long long)to,
			         core_strerror(r));
		return;
	}
}

/* Whom to ask: the leader first, then every other voter in turn. */
static uint64_t catchup_peer(struct catchup *c, const struct voter *v)
{
	struct raft_status st;
	uint64_t ids[CHORUS_RAFT_VOTERS_MAX + 1];
	size_t n = 0;

	voter_status(v, &st);
	if (st.leader != RAFT_NONE && st.leader != c->self && raft_conf_has(&st.conf, st.leader))
		ids[n++] = st.leader;
	for (uint32_t i = 0; i < st.conf.n; i++)
		if (st.conf.ids[i] != c->self && st.conf.ids[i] != st.leader)
			ids[n++] = st.conf.ids[i];
	return n > 0 ? ids[c->peer_round % n] : RAFT_NONE;
}

static void catchup_request(struct catchup *c, const struct voter *v)
{
	struct catchup_req q;
	uint64_t missing = c->low - 1 - ledger_height(c->ledger);
	int n;

	if (c->req_id != 0 && c->ticks - c->sent_tick < CATCHUP_TIMEOUT_TICKS)
		return;
	if (c->req_id != 0) {
		c->st.timeouts++;
		c->peer_round++;
		log_debug("ledger", "event=backfill_timeout peer=%016llx", (unsigned long long)c->peer);
	}
	c->req_id = 0;
	if (c->ticks < c->retry_tick || (c->peer = catchup_peer(c, v)) == RAFT_NONE)
		return;
	q.req_id = c->next_req_id++;
	q.top = c->low - 1;
	q.count = (uint16_t)(missing < CATCHUP_BLOCKS_MAX ? missing : CATCHUP_BLOCKS_MAX);
	if ((n = catchup_req_encode(&q, c->buf, CHORUS_BODY_MAX)) < 0)
		return; /* cannot happen: low - 1 > height >= 0 */
	catchup_send(c, c->peer, c->buf, (size_t)n);
	c->req_id = q.req_id;
	c->sent_tick = c->ticks;
	c->st.requests++;
}

/* ---------------------------------------------------------------- serving and taking blocks */

/* A voter of our configuration asks for blocks top, top - 1, ...: as many as fit. */
static void catchup_serve(struct catchup *c, const struct voter *v, uint64_t from,
                          const uint8_t *body, size_t len)
{
	struct raft_status st;
	struct catchup_req q;
	uint64_t have = ledger_height(c->ledger);
	size_t out;
	int n;

	voter_status(v, &st);
	if (!raft_conf_has(&st.conf, from) || catchup_req_decode(&q, body, len) != 0) {
		log_debug("ledger", "event=drop reason=bad-backfill-request from=%016llx",
		          (unsigned long long)from);
		return;
	}
	if ((n = catchup_blocks_begin(c->buf, CHORUS_BODY_MAX, q.req_id, q.top, have)) < 0)
		return;
	out = (size_t)n;
	for (uint64_t h = q.top, k = 0; h >= 1 && h <= have && k < q.count; h--, k++) {
		const uint8_t *data;
		size_t blen;

		if (raftstore_block_get(c->store, h, &data, &blen) != 0 ||
		    catchup_blocks_add(c->buf, CHORUS_BODY_MAX, &out, data, blen) != 0)
			break;
	}
	catchup_send(c, from, c->buf, out);
	c->st.served++;
}

/* The answer to our request: each block must be the one the walk expects. */
static void catchup_take(struct catchup *c, uint64_t from, const uint8_t *body, size_t len)
{
	struct catchup_blocks *b = malloc(sizeof *b);

	if (b == NULL)
		return;
	if (catchup_blocks_decode(b, body, len) != 0 || c->state != CATCHUP_FETCH ||
	    b->req_id != c->req_id || from != c->peer || b->top != c->low - 1) {
		log_debug("ledger", "event=drop reason=stale-or-bad-blocks from=%016llx",
		          (unsigned long long)from);
		free(b);
		return;
	}
	c->req_id = 0;
	if (b->n == 0) {
		c->peer_round++; /* it does not have them (yet): the next voter, a little later */
		c->retry_tick = c->ticks + CATCHUP_RETRY_TICKS;
		c->st.rejects++;
	}
	for (unsigned i = 0; i < b->n && c->low - 1 > ledger_height(c->ledger); i++) {
		struct ledger_block_info bi;

		if (ledger_block_peek(b->data[i], b->len[i], &bi) != 0 || bi.height != c->low - 1 ||
		    memcmp(bi.hash, c->expect, LEDGER_HASH_BYTES) != 0) {
			log_warn("ledger", "event=backfill_reject from=%016llx height=%llu",
			         (unsigned long long)from, (unsigned long long)c->low - 1);
			c->st.rejects++;
			c->peer_round++;
			break;
		}
		if (raftstore_block_put(c->store, bi.height, bi.hash, b->data[i], b->len[i]) != 0)
			break; /* logged; asked again */
		memcpy(c->expect, bi.prev, LEDGER_HASH_BYTES);
		c->low = bi.height;
		c->st.blocks_fetched++;
	}
	free(b);
	catchup_skip(c);
}

void catchup_on_msg(struct catchup *c, const struct voter *v, const uint8_t from_pk[CHORUS_PK_BYTES],
                    const uint8_t *body, size_t len)
{
	uint64_t from = consensus_id_of(from_pk);

	if (!voter_booted(v) || len == 0)
		return; /* not booted: the asker tries another voter */
	if (body[0] == CATCHUP_MSG_REQ)
		catchup_serve(c, v, from, body, len);
	else if (body[0] == CATCHUP_MSG_BLOCKS)
		catchup_take(c, from, body, len);
}

/* ---------------------------------------------------------------- the tick */

/* APPLY: a few checked blocks upward; 1 when the ledger reached the snapshot. */
static int catchup_apply_some(struct catchup *c)
{
	uint8_t head[LEDGER_HASH_BYTES];

	for (int k = 0; k < CATCHUP_APPLY_PER_TICK && ledger_height(c->ledger) < c->target_height;
	     k++) {
		uint64_t h = ledger_height(c->ledger) + 1;
		const uint8_t *data;
		size_t len;
		int r;

		if (raftstore_block_get(c->store, h, &data, &len) != 0) {
			log_warn("ledger", "event=backfill_lost height=%llu", (unsigned long long)h);
			c->state = CATCHUP_FETCH; /* walk again: fetches what is missing */
			c->low = c->target_height + 1;
			memcpy(c->expect, c->target_hash, LEDGER_HASH_BYTES);
			catchup_skip(c);
			return 0;
		}
		if ((r = ledger_block_apply(c->ledger, data, len)) != 0) {
			/* Hash-linked to a committed head, yet it does not apply: a broken invariant. */
			log_error("ledger", "event=apply_error height=%llu error=\"%s\" why=\"%s\"",
			          (unsigned long long)h, core_strerror(r), ledger_why(c->ledger));
			abort();
		}
		if (raftstore_jobs_index(c->store, c->ledger) != 0)
			log_warn("ledger", "event=jobs_index_error height=%llu", (unsigned long long)h);
	}
	if (ledger_height(c->ledger) < c->target_height)
		return 0;
	ledger_head_hash(c->ledger, head);
	if (memcmp(head, c->target_hash, LEDGER_HASH_BYTES) != 0) {
		log_error("ledger", "event=backfill_fork height=%llu", (unsigned long long)c->target_height);
		abort();
	}
	c->state = CATCHUP_IDLE;
	log_info("ledger", "event=backfill_done height=%llu ms=%llu fetched=%llu",
	         (unsigned long long)c->target_height,
	         (unsigned long long)(chorusd_now_ms() - c->started_ms),
	         (unsigned long long)c->st.blocks_fetched);
	return 1;
}

/* Every tick; 1 when the backfill just ended (the held entries can go). */
int catchup_tick(struct catchup *c, struct voter *v)
{
	c->ticks++;
	if (c->state == CATCHUP_FETCH)
		catchup_request(c, v);
	else if (c->state == CATCHUP_APPLY)
		return catchup_apply_some(c);
	return 0;
}

/* A leader that cannot build on the final head hands over to another voter. */
static void catchup_step_aside(struct catchup *c, struct voter *v)
{
	struct raft_status st;

	voter_status(v, &st);
	if (st.transferee != RAFT_NONE)
		return;
	for (uint32_t i = 0; i < st.conf.n; i++) {
		uint64_t to = st.conf.ids[(c->peer_round + i) % st.conf.n];

		if (to != c->self && voter_transfer(v, to) == 0) {
			log_info("raft", "event=transfer to=%016llx reason=backfill", (unsigned long long)to);
			return;
		}
	}
}

/*
 * After each pump (outside raft_ready), when the ledger is exactly at Raft's
 * applied index: compaction.  It trails: the ledger point is marked half way
 * (`every` / 2 entries after the snapshot) and the log is compacted up to
 * that mark once `every` entries are applied, so the log keeps between
 * every / 2 and `every` entries and a follower that lags by less than
 * every / 2 still gets appends rather than a snapshot and a backfill.
 */
void catchup_after_pump(struct catchup *c, struct voter *v, uint64_t applied_index)
{
	uint8_t bytes[CATCHUP_SNAP_BYTES];
	struct raft_snapshot snap;
	struct raft_status st;
	int err;

	voter_status(v, &st);
	if (c->state != CATCHUP_IDLE || applied_index != st.applied) {
		if (st.state == RAFT_LEADER)
			catchup_step_aside(c, v);
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
	if ((err = voter_compact(v, c->mark_index, bytes, sizeof bytes)) != 0) {
		log_warn("raft", "event=compact_error index=%llu error=\"%s\"",
		         (unsigned long long)c->mark_index, raft_strerror(err));
		c->mark_index = 0;
		return;
	}
	voter_snapshot_get(v, &snap);
	/* On failure the store keeps the longer log: safe, the next compaction retries. */
	if (raftstore_compact(c->store, &snap) != 0)
		log_warn("raft", "event=compact_error index=%llu error=\"cannot store\"",
		         (unsigned long long)c->mark_index);
	c->snap_index = c->mark_index;
	c->target_height = c->mark_height;
	memcpy(c->target_hash, c->mark_hash, LEDGER_HASH_BYTES);
	c->st.compactions++;
	log_debug("raft", "event=compact index=%llu height=%llu", (unsigned long long)c->mark_index,
	          (unsigned long long)c->mark_height);
}

/*
 * catchup: the shell of log compaction and of the backfill of ledger blocks
 * that a snapshot skipped.  Every decision -- whom to ask, what to request,
 * what to serve, which block is proven, when to apply, when to compact,
 * when a leader steps aside -- is the core's (src/core/ledger/voter-catchup.c,
 * docs/ledger-node.md, "Compaction and catch-up").  Here its effects become
 * I/O: messages to the fabric, blocks read from and written to raft.db's
 * blocks table (read back at once as events), the jobs index of an applied
 * block, the compacted snapshot into the store, and its log records.  No
 * protocol decision is made here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "voterd.h"
#include "chorus/consensus.h"

#define CATCHUP_DRAIN_MAX 4096 /* effects handled per drain (a serve reads up to 64 blocks) */

struct catchup {
	struct node *node;
	struct raftstore *store;
	struct ledger *ledger;
	struct voter_catchup *vc; /* the decisions (src/core/ledger/voter-catchup.c) */
};

const char *catchup_state_name(int state)
{
	return voter_catchup_state_name(state);
}

int catchup_create(struct catchup **out, struct node *node, struct raftstore *store,
                   struct ledger *ledger, uint64_t self, unsigned every)
{
	struct catchup *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL || voter_catchup_create(&c->vc, ledger, self, every) != 0) {
		free(c);
		return -ENOMEM;
	}
	c->node = node;
	c->store = store;
	c->ledger = ledger;
	*out = c;
	return 0;
}

void catchup_destroy(struct catchup *c)
{
	if (c == NULL)
		return;
	voter_catchup_destroy(c->vc);
	free(c);
}

int catchup_active(const struct catchup *c)
{
	return voter_catchup_active(c->vc);
}

void catchup_status(const struct catchup *c, struct catchup_status *out)
{
	voter_catchup_status(c->vc, out);
}

/* ---------------------------------------------------------------- effects into I/O */

static void catchup_send(struct catchup *c, uint64_t to, const uint8_t *body, size_t len)
{
	struct core *core = c->node->core;
	struct member_view mv;
	int r;

	for (size_t i = 0; core != NULL && i < core_member_count(core); i++) {
		if (core_member_get(core, i, &mv) != 0 || voterd_id_of(mv.rec.pk) != to || mv.self)
			continue;
		if ((r = core_send_app(core, mv.rec.pk, mv.rec.addr, CORE_APP_LEDGER, body, len)) != 0)
			log_warn("ledger", "event=send_error to=%016llx error=\"%s\"", (unsigned long long)to,
			         core_strerror(r));
		return;
	}
}

static void catchup_log(const struct voter_catchup_effect *e)
{
	switch (e->level) {
	case CORE_LOG_ERROR: log_error("ledger", "%s", e->text); break;
	case CORE_LOG_WARN: log_warn("ledger", "%s", e->text); break;
	case CORE_LOG_INFO: log_info("ledger", "%s", e->text); break;
	default: log_debug("ledger", "%s", e->text); break;
	}
}

static void catchup_one(struct catchup *c, const struct voter_catchup_effect *e)
{
	const uint8_t *data;
	size_t len;

	switch (e->kind) {
	case VOTER_CATCHUP_SEND:
		catchup_send(c, e->to, e->data, e->len);
		break;
	case VOTER_CATCHUP_READ: /* read back at once: the next event */
		if (raftstore_block_get(c->store, e->height, &data, &len) != 0)
			data = NULL, len = 0;
		voter_catchup_read_done(c->vc, e->tag, e->height, data, len);
		break;
	case VOTER_CATCHUP_WRITE:
		if (raftstore_block_put(c->store, e->height, e->hash, e->data, e->len) != 0)
			voter_catchup_write_failed(c->vc, e->height);
		break;
	case VOTER_CATCHUP_APPLIED:
		if (voterd_index_forgotten(c->store, c->ledger, 0) != 0)
			log_warn("ledger", "event=jobs_index_error height=%llu",
			         (unsigned long long)e->height);
		break;
	case VOTER_CATCHUP_COMPACTED:
		/* On failure the store keeps the longer log: safe, the next compaction retries. */
		if (raftstore_compact(c->store, e->durable) != 0)
			log_warn("raft", "event=compact_error height=%llu error=\"cannot store\"",
			         (unsigned long long)e->height);
		break;
	case VOTER_CATCHUP_LOG:
		catchup_log(e);
		break;
	}
}

/* Every effect, in order (a READ's answer may queue more); 0, or -EIO: a broken invariant. */
static int catchup_drain(struct catchup *c)
{
	struct voter_catchup_effect e;

	for (int k = 0; k < CATCHUP_DRAIN_MAX && voter_catchup_effect(c->vc, &e); k++)
		catchup_one(c, &e);
	return voter_catchup_broken(c->vc) ? -EIO : 0;
}

/* At runtime a broken invariant stops the node rather than let it diverge. */
static void catchup_drain_or_stop(struct catchup *c)
{
	if (catchup_drain(c) != 0) {
		log_error("ledger", "event=broken_invariant what=\"catch-up: the chain contradicts a"
		          " committed snapshot\"");
		abort();
	}
}

/* ---------------------------------------------------------------- events */

static int catchup_rebuild_cb(void *ctx, uint64_t height, const uint8_t *data, size_t len)
{
	struct catchup *c = ctx;
	int r = voter_catchup_rebuild_block(c->vc, height, data, len);

	(void)catchup_drain(c);
	/* Indexed before the restart, unless it stopped before their rows were written. */
	if (voterd_index_forgotten(c->store, c->ledger, 0) != 0)
		log_warn("ledger", "event=jobs_index_error height=%llu", (unsigned long long)height);
	return r < 0 ? -EBADMSG : r; /* a stored block that does not verify: raft.db is damaged */
}

/* At start: the ledger from the blocks table (the contiguous rows from height 1). */
int catchup_rebuild(struct catchup *c)
{
	int group = raftstore_outbox_begin(c->store) == 0; /* the rebuild's index rows: one commit */
	int r = raftstore_blocks_each(c->store, catchup_rebuild_cb, c);

	if (group)
		(void)raftstore_outbox_commit(c->store);

	log_info("ledger", "event=rebuild height=%llu", (unsigned long long)ledger_height(c->ledger));
	return r < 0 ? r : 0;
}

/* The ledger point of the latest snapshot: 0, or -EINVAL (bytes or chain that contradict ours). */
int catchup_target(struct catchup *c, uint64_t index, const uint8_t *data, size_t len)
{
	int r = voter_catchup_target(c->vc, index, data, len);

	if (catchup_drain(c) != 0 || r != 0)
		return -EINVAL;
	return 0;
}

void catchup_tick(struct catchup *c, struct consensus *cn)
{
	voter_catchup_tick(c->vc, cn, chorusd_now_ms());
	catchup_drain_or_stop(c);
}

void catchup_after_pump(struct catchup *c, struct consensus *cn, uint64_t applied_index)
{
	voter_catchup_after_pump(c->vc, cn, applied_index);
	catchup_drain_or_stop(c);
}

void catchup_on_msg(struct catchup *c, const struct consensus *cn, const uint8_t from_pk[CHORUS_PK_BYTES],
                    const uint8_t *body, size_t len)
{
	voter_catchup_on_msg(c->vc, cn, voterd_id_of(from_pk), body, len);
	catchup_drain_or_stop(c);
}

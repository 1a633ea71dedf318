/*
 * consensus-raft: the consensus interface (include/chorus/consensus.h) over
 * our Raft (src/core/raft/raft.c), the one place outside Raft itself that calls
 * raft_* for the voter and the shell (tests/sim/check-node-raft.sh).
 *
 * It translates, and decides one thing Raft's ready leaves to its driver:
 * whether the round's messages may leave before its durable write (a
 * leader's appends, when the hard state is the one last made durable and
 * the round neither installs a snapshot nor truncates the log).
 *
 * Invariants: one round in flight between ready and advance; the committed
 * entries handed out are Raft's, in log order, with the same indexes.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chorus/consensus-raft.h"
#include "base/base.h"

_Static_assert((int)CONSENSUS_ERR_NOT_LEADER == (int)RAFT_ERR_NOT_LEADER &&
                   (int)CONSENSUS_ERR_BUSY == (int)RAFT_ERR_BUSY &&
                   (int)CONSENSUS_ERR_UNAVAILABLE == (int)RAFT_ERR_UNAVAILABLE,
               "Raft's errors are the interface's");
_Static_assert(CONSENSUS_NONE == RAFT_NONE, "nobody is nobody");
_Static_assert(CONSENSUS_VOTERS_MAX == CHORUS_RAFT_VOTERS_MAX, "a voter set fits the status");

struct consensus_raft {
	struct consensus base;           /* first: the interface's handle */
	struct raft *raft;
	int owned;                       /* consensus_raft_create made it: destroy frees it */
	struct raft_ready rd;            /* the round between ready and advance */
	int in_round;
	struct consensus_entry *committed;
	size_t committed_cap;
	struct consensus_snapshot snap;
	struct raft_snapshot raft_snap;  /* consensus_snapshot_get's */
	uint64_t durable_term, durable_vote; /* the hard state of the last advanced round */
	struct raft_entry *rx_ents;      /* raft_msg_decode's entries */
};

static struct consensus_raft *consensus_raft_of(struct consensus *c)
{
	return (struct consensus_raft *)c;
}

static const struct consensus_raft *consensus_raft_cof(const struct consensus *c)
{
	return (const struct consensus_raft *)c;
}

static void consensus_raft_destroy(struct consensus *c)
{
	struct consensus_raft *cr = consensus_raft_of(c);

	if (cr->owned)
		raft_destroy(cr->raft);
	free(cr->committed);
	free(cr->rx_ents);
	free(cr);
}

static void consensus_raft_tick(struct consensus *c)
{
	raft_tick(consensus_raft_of(c)->raft);
}

/* A node speaks only for itself, and to us: anything else is dropped. */
static int consensus_raft_step(struct consensus *c, uint64_t from, const uint8_t *msg, size_t len)
{
	struct consensus_raft *cr = consensus_raft_of(c);
	struct raft_status st;
	struct raft_msg m;
	int r = raft_msg_decode(&m, cr->rx_ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, msg, len);

	if (r != 0)
		return r;
	raft_status(cr->raft, &st);
	if (m.from != from || m.to != st.id)
		return CORE_ERR_INVAL;
	return raft_step(cr->raft, &m);
}

static int consensus_raft_propose(struct consensus *c, const uint8_t *data, size_t len,
                                  uint64_t *index)
{
	if (len > CHORUS_RAFT_ENTRY_MAX)
		return CORE_ERR_OVERSIZE;
	return raft_propose(consensus_raft_of(c)->raft, data, (uint32_t)len, index);
}

static int consensus_raft_committed(struct consensus_raft *cr, size_t n)
{
	if (n > cr->committed_cap) {
		struct consensus_entry *ne = realloc(cr->committed, n * sizeof *ne);

		if (ne == NULL)
			return CORE_ERR_NOMEM;
		cr->committed = ne;
		cr->committed_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &cr->rd.committed[i];

		cr->committed[i].index = e->index;
		cr->committed[i].data = e->data;
		cr->committed[i].len = e->len;
		cr->committed[i].app = e->type == RAFT_ENTRY_NORMAL && e->len > 0;
	}
	return 0;
}

static int consensus_raft_ready(struct consensus *c, struct consensus_ready *rd)
{
	struct consensus_raft *cr = consensus_raft_of(c);

	assert(!cr->in_round);
	if (!raft_ready(cr->raft, &cr->rd))
		return 0;
	/* Out of memory for the view: no round now; Raft hands the same one next time. */
	if (consensus_raft_committed(cr, cr->rd.ncommitted) != 0)
		return 0;
	cr->in_round = 1;
	rd->durable = &cr->rd;
	rd->msgs_early = raft_is_leader(cr->raft) && cr->rd.hs.term == cr->durable_term &&
	                 cr->rd.hs.vote == cr->durable_vote && cr->rd.snapshot == NULL &&
	                 cr->rd.truncate_from == 0;
	rd->nmsgs = cr->rd.nmsgs;
	rd->committed = cr->committed;
	rd->ncommitted = cr->rd.ncommitted;
	if (cr->rd.snapshot != NULL) {
		cr->snap.index = cr->rd.snapshot->index;
		cr->snap.term = cr->rd.snapshot->term;
		cr->snap.data = cr->rd.snapshot->data;
		cr->snap.len = cr->rd.snapshot->len;
		cr->snap.durable = cr->rd.snapshot;
		rd->snapshot = &cr->snap;
	}
	return 1;
}

static int consensus_raft_msg_encode(struct consensus *c, const struct consensus_ready *rd, size_t i,
                                     uint8_t *out, size_t cap, uint64_t *to)
{
	struct consensus_raft *cr = consensus_raft_of(c);

	assert(cr->in_round && rd->durable == &cr->rd && i < cr->rd.nmsgs);
	*to = cr->rd.msgs[i].to;
	return raft_msg_encode(&cr->rd.msgs[i], out, cap);
}

static void consensus_raft_advance(struct consensus *c, const struct consensus_ready *rd)
{
	struct consensus_raft *cr = consensus_raft_of(c);

	assert(cr->in_round && rd->durable == &cr->rd);
	raft_advance(cr->raft, &cr->rd);
	cr->durable_term = cr->rd.hs.term;
	cr->durable_vote = cr->rd.hs.vote;
	cr->in_round = 0;
}

static void consensus_raft_status(const struct consensus *c, struct consensus_status *out)
{
	struct raft_status st;

	raft_status(consensus_raft_cof(c)->raft, &st);
	out->id = st.id;
	out->leader = st.leader;
	out->term = st.term;
	out->role = st.state == RAFT_LEADER                                      ? CONSENSUS_LEADER
	            : st.state == RAFT_CANDIDATE || st.state == RAFT_PRE_CANDIDATE ? CONSENSUS_CANDIDATE
	                                                                            : CONSENSUS_FOLLOWER;
	out->state = raft_state_name(st.state);
	out->commit = st.commit;
	out->applied = st.applied;
	out->last_index = st.last_index;
	out->snap_index = st.snap_index;
	out->nvoters = st.conf.n;
	memcpy(out->voters, st.conf.ids, st.conf.n * sizeof st.conf.ids[0]);
	out->conf_index = st.conf_index;
	out->removed = st.removed;
	out->transferee = st.transferee;
}

static int consensus_raft_change_voter(struct consensus *c, int add, uint64_t id, uint64_t *index)
{
	uint64_t ignored;

	return raft_propose_conf(consensus_raft_of(c)->raft, add, id, index != NULL ? index : &ignored);
}

static int consensus_raft_transfer(struct consensus *c, uint64_t to)
{
	return raft_transfer(consensus_raft_of(c)->raft, to);
}

static int consensus_raft_recover(struct consensus *c)
{
	return raft_force_new_cluster(consensus_raft_of(c)->raft);
}

static void consensus_raft_set_no_vote(struct consensus *c, int no_vote)
{
	raft_set_no_vote(consensus_raft_of(c)->raft, no_vote);
}

static int consensus_raft_entry_get(const struct consensus *c, uint64_t index,
                                    struct consensus_entry *out)
{
	struct raft_entry e;
	int r = raft_entry_get(consensus_raft_cof(c)->raft, index, &e);

	if (r != 0)
		return r;
	out->index = e.index;
	out->data = e.data;
	out->len = e.len;
	out->app = e.type == RAFT_ENTRY_NORMAL && e.len > 0;
	return 0;
}

static int consensus_raft_compact(struct consensus *c, uint64_t index, const uint8_t *data,
                                  size_t len)
{
	if (len > CHORUS_RAFT_SNAPSHOT_MAX)
		return CORE_ERR_OVERSIZE;
	return raft_compact(consensus_raft_of(c)->raft, index, data, (uint32_t)len);
}

static void consensus_raft_snapshot_get(struct consensus *c, struct consensus_snapshot *out)
{
	struct consensus_raft *cr = consensus_raft_of(c);

	raft_snapshot_get(cr->raft, &cr->raft_snap);
	out->index = cr->raft_snap.index;
	out->term = cr->raft_snap.term;
	out->data = cr->raft_snap.data;
	out->len = cr->raft_snap.len;
	out->durable = &cr->raft_snap;
}

static const struct consensus_ops consensus_raft_ops = {
	.name = "raft",
	.destroy = consensus_raft_destroy,
	.tick = consensus_raft_tick,
	.step = consensus_raft_step,
	.propose = consensus_raft_propose,
	.ready = consensus_raft_ready,
	.msg_encode = consensus_raft_msg_encode,
	.advance = consensus_raft_advance,
	.status = consensus_raft_status,
	.change_voter = consensus_raft_change_voter,
	.transfer = consensus_raft_transfer,
	.recover = consensus_raft_recover,
	.set_no_vote = consensus_raft_set_no_vote,
	.entry_get = consensus_raft_entry_get,
	.compact = consensus_raft_compact,
	.snapshot_get = consensus_raft_snapshot_get,
	.strerror = raft_strerror,
};

static struct consensus_raft *consensus_raft_new(void)
{
	struct consensus_raft *cr = calloc(1, sizeof *cr);

	if (cr == NULL)
		return NULL;
	cr->rx_ents = calloc(CHORUS_RAFT_APPEND_ENTRIES_MAX, sizeof *cr->rx_ents);
	if (cr->rx_ents == NULL) {
		free(cr);
		return NULL;
	}
	cr->base.ops = &consensus_raft_ops;
	return cr;
}

int consensus_raft_create(struct consensus **out, const struct consensus_raft_params *p,
                          const struct raft_boot *boot)
{
	struct consensus_raft *cr = consensus_raft_new();
	struct raft_config rc;
	int r;

	*out = NULL;
	if (cr == NULL)
		return CORE_ERR_NOMEM;
	raft_config_defaults(&rc, p->id, p->seed);
	rc.election_ticks = p->election_ticks;
	rc.heartbeat_ticks = p->heartbeat_ticks;
	rc.pre_vote = p->pre_vote;
	rc.check_quorum = p->check_quorum;
	rc.no_vote = p->no_vote;
	if ((r = raft_create(&cr->raft, &rc, boot)) != 0) {
		consensus_raft_destroy(&cr->base);
		return r;
	}
	cr->owned = 1;
	cr->durable_term = boot->hs.term; /* loaded from the store: durable */
	cr->durable_vote = boot->hs.vote;
	*out = &cr->base;
	return 0;
}

int consensus_raft_wrap(struct consensus **out, struct raft *r)
{
	struct consensus_raft *cr = consensus_raft_new();

	*out = NULL;
	if (cr == NULL)
		return CORE_ERR_NOMEM;
	*out = &cr->base;
	consensus_raft_attach(*out, r);
	return 0;
}

void consensus_raft_attach(struct consensus *c, struct raft *r)
{
	struct consensus_raft *cr = consensus_raft_of(c);
	struct raft_status st;

	assert(!cr->owned && !cr->in_round);
	cr->raft = r;
	if (r == NULL)
		return;
	raft_status(r, &st);
	cr->durable_term = st.term; /* the caller drives it: its own rules for durability */
	cr->durable_vote = st.vote;
}

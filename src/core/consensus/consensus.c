/*
 * consensus: the interface's calls (include/chorus/consensus.h), each handed
 * to the implementation behind it, plus the views every implementation
 * shares (leader, is-leader, term and voters, from its status).
 */
#include <assert.h>
#include <string.h>

#include "chorus/consensus.h"

void consensus_destroy(struct consensus *c)
{
	if (c != NULL)
		c->ops->destroy(c);
}

void consensus_tick(struct consensus *c)
{
	c->ops->tick(c);
}

int consensus_step(struct consensus *c, uint64_t from, const uint8_t *msg, size_t len)
{
	return c->ops->step(c, from, msg, len);
}

int consensus_propose(struct consensus *c, const uint8_t *data, size_t len, uint64_t *index)
{
	uint64_t ignored;

	return c->ops->propose(c, data, len, index != NULL ? index : &ignored);
}

int consensus_ready(struct consensus *c, struct consensus_ready *rd)
{
	memset(rd, 0, sizeof *rd);
	return c->ops->ready(c, rd);
}

int consensus_msg_encode(struct consensus *c, const struct consensus_ready *rd, size_t i,
                         uint8_t *out, size_t cap, uint64_t *to)
{
	assert(i < rd->nmsgs);
	return c->ops->msg_encode(c, rd, i, out, cap, to);
}

void consensus_advance(struct consensus *c, const struct consensus_ready *rd)
{
	c->ops->advance(c, rd);
}

void consensus_status(const struct consensus *c, struct consensus_status *st)
{
	memset(st, 0, sizeof *st);
	c->ops->status(c, st);
	assert(st->nvoters <= CONSENSUS_VOTERS_MAX);
}

uint64_t consensus_leader(const struct consensus *c)
{
	struct consensus_status st;

	consensus_status(c, &st);
	return st.leader;
}

int consensus_is_leader(const struct consensus *c)
{
	struct consensus_status st;

	consensus_status(c, &st);
	return st.role == CONSENSUS_LEADER;
}

uint64_t consensus_term(const struct consensus *c)
{
	struct consensus_status st;

	consensus_status(c, &st);
	return st.term;
}

unsigned consensus_voters(const struct consensus *c, uint64_t *ids, unsigned max)
{
	struct consensus_status st;

	consensus_status(c, &st);
	for (unsigned i = 0; i < st.nvoters && i < max; i++)
		ids[i] = st.voters[i];
	return st.nvoters;
}

int consensus_status_has(const struct consensus_status *st, uint64_t id)
{
	for (unsigned i = 0; i < st->nvoters; i++)
		if (st->voters[i] == id)
			return 1;
	return 0;
}

int consensus_entry_get(const struct consensus *c, uint64_t index, struct consensus_entry *e)
{
	return c->ops->entry_get(c, index, e);
}

const char *consensus_strerror(const struct consensus *c, int err)
{
	return c->ops->strerror(err);
}

int consensus_add_voter(struct consensus *c, uint64_t id, uint64_t *index)
{
	return c->ops->change_voter(c, 1, id, index);
}

int consensus_remove_voter(struct consensus *c, uint64_t id, uint64_t *index)
{
	return c->ops->change_voter(c, 0, id, index);
}

int consensus_transfer(struct consensus *c, uint64_t to)
{
	return c->ops->transfer(c, to);
}

int consensus_recover(struct consensus *c)
{
	return c->ops->recover(c);
}

void consensus_set_no_vote(struct consensus *c, int no_vote)
{
	c->ops->set_no_vote(c, no_vote);
}

int consensus_compact(struct consensus *c, uint64_t index, const uint8_t *data, size_t len)
{
	return c->ops->compact(c, index, data, len);
}

void consensus_snapshot_get(struct consensus *c, struct consensus_snapshot *s)
{
	memset(s, 0, sizeof *s);
	c->ops->snapshot_get(c, s);
}

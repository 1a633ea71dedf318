/*
 * The consensus interface over Raft (src/core/consensus/consensus-raft.c): a voter
 * set of one leads and commits through consensus_ready/advance alone; the
 * round's messages may leave before its durable write only when they do
 * not depend on it (a leader whose hard state is the one last advanced);
 * a message that does not speak for its authenticated sender, or is not
 * for us, is refused; a follower refuses proposals and voter changes with
 * the interface's own error; the views agree with Raft's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chorus/consensus-raft.h"
#include "core-internal.h"
#include "tap.h"

static struct consensus *one_voter(uint64_t id, const uint64_t *ids, unsigned n)
{
	struct consensus_raft_params p = { .id = id, .seed = 7, .election_ticks = 5,
	                                   .heartbeat_ticks = 1, .pre_vote = 1, .check_quorum = 1 };
	struct raft_boot boot;
	struct consensus *c = NULL;

	memset(&boot, 0, sizeof boot);
	boot.snap.conf.n = n;
	memcpy(boot.snap.conf.ids, ids, n * sizeof ids[0]);
	if (consensus_raft_create(&c, &p, &boot) != 0)
		return NULL;
	return c;
}

/* Every round: drained as the shell does (nothing to persist here); the entries committed. */
static size_t drain(struct consensus *c, int *early_seen, int *late_seen, size_t *apps,
                    const uint8_t *want, size_t want_len)
{
	struct consensus_ready rd;
	size_t rounds = 0;

	while (consensus_ready(c, &rd) && rounds < 100) {
		if (rd.msgs_early)
			(*early_seen)++;
		else
			(*late_seen)++;
		for (size_t i = 0; i < rd.ncommitted; i++)
			if (rd.committed[i].app && rd.committed[i].len == want_len &&
			    memcmp(rd.committed[i].data, want, want_len) == 0)
				(*apps)++;
		consensus_advance(c, &rd);
		rounds++;
	}
	return rounds;
}

static void test_leader(void)
{
	uint64_t ids[] = { 1 };
	struct consensus *c = one_voter(1, ids, 1);
	struct consensus_status st;
	const uint8_t data[] = "block";
	uint64_t index = 0, got[CONSENSUS_VOTERS_MAX];
	int early = 0, late = 0;
	size_t apps = 0;

	ok(c != NULL, "consensus_raft_create: a voter set of one");
	if (c == NULL)
		return;
	ok(!consensus_is_leader(c) && consensus_leader(c) == CONSENSUS_NONE, "no leader at boot");
	for (int k = 0; k < 40 && !consensus_is_leader(c); k++)
		consensus_tick(c);
	ok(consensus_is_leader(c) && consensus_leader(c) == 1, "it leads after its election timeout");
	(void)drain(c, &early, &late, &apps, data, sizeof data);
	ok(late > 0 && early == 0,
	   "the round that made it leader (a new term and vote) waits for its durable write");
	ok(consensus_propose(c, data, sizeof data, &index) == 0 && index > 0, "a leader proposes");
	early = late = 0;
	(void)drain(c, &early, &late, &apps, data, sizeof data);
	ok(early > 0, "its appends leave before the write: the hard state is already durable");
	ok(apps == 1, "the proposal is committed once, as an application entry (%zu)", apps);
	consensus_status(c, &st);
	ok(st.role == CONSENSUS_LEADER && st.commit >= index && st.applied == st.commit &&
	   st.nvoters == 1 && consensus_status_has(&st, 1) && !consensus_status_has(&st, 2),
	   "the status: leader, committed and applied, a voter set of itself");
	ok(consensus_voters(c, got, CONSENSUS_VOTERS_MAX) == 1 && got[0] == 1, "consensus_voters");
	ok(consensus_term(c) == st.term && st.term > 0, "consensus_term");
	consensus_destroy(c);
}

static void test_follower(void)
{
	uint64_t ids[] = { 1, 2, 3 }, index;
	struct consensus *c = one_voter(1, ids, 3);
	struct raft_msg m;
	uint8_t buf[256];
	int n;

	ok(c != NULL, "a follower of three");
	if (c == NULL)
		return;
	ok(consensus_propose(c, (const uint8_t *)"x", 1, &index) == CONSENSUS_ERR_NOT_LEADER,
	   "a follower refuses a proposal: not leader");
	ok(consensus_add_voter(c, 4, &index) == CONSENSUS_ERR_NOT_LEADER &&
	   consensus_transfer(c, 2) == CONSENSUS_ERR_NOT_LEADER,
	   "and voter changes and transfers");
	ok(consensus_step(c, 2, (const uint8_t *)"junk", 4) != 0, "bytes that do not decode: refused");
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_APPEND;
	m.from = 2;
	m.to = 1;
	m.term = 5;
	n = raft_msg_encode(&m, buf, sizeof buf);
	ok(n > 0, "a heartbeat from 2 to 1");
	ok(consensus_step(c, 3, buf, (size_t)n) == CORE_ERR_INVAL,
	   "sent by 3 in 2's name: refused (a node speaks only for itself)");
	ok(consensus_term(c) == 0, "and not stepped: the term did not move");
	m.to = 3;
	n = raft_msg_encode(&m, buf, sizeof buf);
	ok(consensus_step(c, 2, buf, (size_t)n) == CORE_ERR_INVAL, "not for us: refused");
	m.to = 1;
	n = raft_msg_encode(&m, buf, sizeof buf);
	ok(consensus_step(c, 2, buf, (size_t)n) == 0 && consensus_term(c) == 5 &&
	   consensus_leader(c) == 2, "from 2, to us: stepped, 2 leads term 5");
	consensus_destroy(c);
}

int main(void)
{
	test_leader();
	test_follower();
	return tap_done();
}

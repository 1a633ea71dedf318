/*
 * consensus-raft: include/chorus/consensus.h over our Raft
 * (src/core/raft/raft.c), sans-io (src/core/consensus/consensus-raft.c).
 *
 * What only this implementation needs: its constructor (the state its store
 * loaded: struct raft_boot), and the seam of that store -- the durable
 * round of consensus_ready is a const struct raft_ready * that
 * raftstore_save() writes.  A leader's appends may leave before that write
 * (Raft thesis 10.2.1: they depend only on its term, durable since it won):
 * msgs_early says so when the hard state is the one last advanced, with no
 * snapshot and no truncation in the round.
 *
 * chorus-sim and the unit tests drive a Raft of their own: consensus_raft_wrap
 * borrows one (replaced by consensus_raft_attach when a node restarts).
 */
#ifndef CHORUS_CONSENSUS_RAFT_H
#define CHORUS_CONSENSUS_RAFT_H

#include "chorus/consensus.h"
#include "chorus/raft.h"

struct consensus_raft_params {
	uint64_t id, seed;              /* seed: the shell's randomness (election timeouts) */
	uint32_t election_ticks, heartbeat_ticks;
	int pre_vote, check_quorum, no_vote;
};

int consensus_raft_create(struct consensus **out, const struct consensus_raft_params *p,
                          const struct raft_boot *boot);
/* A Raft the caller owns and drives (borrowed; destroy does not free it). */
int consensus_raft_wrap(struct consensus **out, struct raft *r);
void consensus_raft_attach(struct consensus *c, struct raft *r);

#endif

/*
 * Forming the first voter set by agreement (docs/ledger-node.md, "Bootstrap"):
 * the decision, pure and sans-io, so that the node (src/node/voterd.c)
 * and the simulator (`chorus-sim bootstrap`) run the same code.
 *
 * Every candidate publishes a state in its gossip record: nothing yet,
 * 'p' + hash (it proposes the voter set of that hash: the N smallest ids it
 * sees) or 'b' + hash (it booted with that set; a non-member: the empty
 * set).  Every duty round (the node: 100 ms) a candidate that has not booted
 * calls bootstrap_step() with what it sees: the alive candidates, itself included,
 * ascending by id.  Rules:
 *  1. a candidate carries 'b' (a cluster exists): boot with its set when it
 *     is one we proposed ourselves (it booted with our consent: we remember
 *     our last proposals), or when it can be rebuilt from the candidates
 *     carrying that hash plus ourselves and we are in it; boot as a non-member when the set is complete
 *     without us; after BOOTSTRAP_CLUSTER_WAIT rounds of a cluster we cannot
 *     rebuild (our view of its members is stale, or the set changed since),
 *     boot as a non-member too.  Never form a second cluster;
 *  2. otherwise propose the N smallest ids; boot with them once all N
 *     propose that same set for BOOTSTRAP_STABLE rounds in a row.
 */
#ifndef CHORUS_BOOTSTRAP_H
#define CHORUS_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/limits.h"

#define BOOTSTRAP_STABLE       10 /* rounds a proposal must be agreed before it boots */
/* Rounds a cluster we cannot rebuild is seen before we join it as a non-member. */
#define BOOTSTRAP_CLUSTER_WAIT 30

struct bootstrap_cand {
	uint64_t id;
	char kind;     /* 0, 'p' or 'b' */
	uint64_t hash; /* of the set proposed or booted with */
};

#define BOOTSTRAP_PAST 8 /* our last proposals, remembered */

struct bootstrap_state {
	char kind; /* what we publish: 0 or 'p' (the caller sets 'b' once booted) */
	uint64_t hash;
	unsigned agreed;       /* rounds our proposal has been agreed in a row */
	unsigned cluster_seen; /* rounds a cluster we cannot rebuild has been seen */
	/* Our last proposals (a ring): a set that booted with our consent is one of them. */
	uint64_t past[BOOTSTRAP_PAST][CHORUS_RAFT_VOTERS_MAX];
	uint32_t npast_ids[BOOTSTRAP_PAST];
	uint64_t past_hash[BOOTSTRAP_PAST];
	unsigned npast;
};

enum bootstrap_action {
	BOOTSTRAP_WAIT = 0,
	BOOTSTRAP_PUBLISH,      /* our proposal changed (st->kind, st->hash): publish it */
	BOOTSTRAP_MEMBER,       /* boot with ids[0..*n), which holds us: agreed */
	BOOTSTRAP_JOIN,         /* boot with ids[0..*n), a set that already booted and holds us */
	BOOTSTRAP_NONMEMBER     /* boot with no voters; the leader adds us */
};

/* BLAKE2b-64 of a sorted voter set (n at most CHORUS_RAFT_VOTERS_MAX). */
uint64_t bootstrap_set_hash(const uint64_t *ids, size_t n);

/*
 * One duty round.  c: the alive candidates, ascending by id, ourselves
 * (self) included with our own state; expect: --bootstrap-expect (1 to
 * CHORUS_RAFT_VOTERS_MAX).  For BOOTSTRAP_MEMBER and BOOTSTRAP_JOIN, ids/n get the set.
 */
enum bootstrap_action bootstrap_step(struct bootstrap_state *st, uint64_t self, unsigned expect,
                                     const struct bootstrap_cand *c, size_t nc,
                                     uint64_t ids[CHORUS_RAFT_VOTERS_MAX], uint32_t *n);

const char *bootstrap_action_name(enum bootstrap_action a);

/*
 * The voter set is chosen by the operator, never announced (issue 14): the
 * candidates listed by --voters are kept in c (in order), the others dropped;
 * returns how many are left.  nlisted 0 keeps them all (no list given: the
 * first set forms among the announced candidates, as before).
 */
size_t bootstrap_keep_listed(struct bootstrap_cand *c, size_t nc, const uint64_t *listed,
                             size_t nlisted);

/*
 * The leader's duty: which alive candidate to add to the configuration conf,
 * 0 for none.  Only one the operator listed (--voters) and not removed by
 * this leader (removed[]) and not yet a voter; nothing when the set is full
 * or nothing is listed.  A node that only announces the role is never added;
 * `chorus ledger add-voter` is the other way in.
 */
uint64_t bootstrap_voter_to_add(const uint64_t *conf, size_t nconf, const uint64_t *cands,
                                size_t ncands, const uint64_t *listed, size_t nlisted,
                                const uint64_t *removed, size_t nremoved);

#endif

/*
 * readpick: two small decisions about the ledger seen from a node that
 * holds none (a non-voter, or a voter catching up, removed or lost), pure
 * and sans-io so the node (src/node/ledger-read.c, api.c) and the tests run
 * the same code.  docs/ledger-node.md, "Reads on a node without the ledger".
 *
 * readpick_order: which voters to ask a ledger read, in order.  The leader
 * first (it is the most up to date), then the members of the last voter
 * configuration a voter told us, then alive members announcing a voter role
 * (a stranger may announce one: it answers "no ledger here" and we go on).
 * Never ourselves, never a member that is not alive or suspect, no
 * duplicates, at most READPICK_MAX.
 *
 * readpick_leader: the one leader a node shows (/v1/members, `chorus
 * members`), never two: on a voter in its configuration, what its own Raft
 * says (with the term); elsewhere the newest (highest term) leader a voter
 * told us, while it is fresh and alive; else, among the members whose record
 * announces "leader" (a stale record can outlive its leadership), an alive
 * one before a suspect one, then the smallest id.  0 when none.
 */
#ifndef CHORUS_READPICK_H
#define CHORUS_READPICK_H

#include <stddef.h>
#include <stdint.h>

#define READPICK_MAX           16    /* voters asked for one read, at most */
#define READPICK_LEARNED_MS    5000  /* a leader a voter told us counts this long */

struct readpick_cand {
	uint64_t id;
	int alive;       /* 1 alive, 2 suspect, 0 otherwise (dead, left) */
	int announces;   /* its record says "leader" */
	int in_conf;     /* in the last voter configuration a voter told us */
	int voter_role;  /* its record announces a voter role */
};

size_t readpick_order(const struct readpick_cand *c, size_t n, uint64_t leader, uint64_t self,
                      uint64_t *out, size_t max);

struct readpick_view {
	int raft_view;           /* we vote in our configuration: raft_leader/raft_term are it */
	uint64_t raft_leader, raft_term;
	uint64_t learned_leader, learned_term; /* the newest a voter told us (0: none) */
	uint64_t learned_age_ms;
};

/* The leader to show (0: none) and its term (0: not known here). */
uint64_t readpick_leader(const struct readpick_view *v, const struct readpick_cand *c, size_t n,
                         uint64_t *term);

#endif

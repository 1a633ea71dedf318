/*
 * consensus: a replicated log, as the ledger voter and the node's shell see
 * it, sans-io (modelled on go-libp2p-consensus: propose, leader, is-leader,
 * committed entries, voters, add/remove, transfer).
 *
 * The ledger voter (src/core/ledger/voter.c) and the shell (src/node/voterd.c,
 * catchup.c) reach the log only through these functions; nothing here names
 * Raft.  One implementation exists, over our Raft (src/core/consensus/consensus-raft.c,
 * include/chorus/consensus-raft.h: its constructor and the seam its store
 * needs); a second one (a Byzantine-tolerant one is planned) brings its own
 * constructor and store and plugs in without touching the voter or the rest
 * of the shell.
 *
 * Effects come out in the core's style (Raft's ready/advance): consensus_ready
 * hands one round -- the implementation's state to make durable (opaque, for
 * its store), the messages to send once it is durable (or before, when
 * msgs_early says they do not depend on it), a snapshot installed, and the
 * committed entries to apply in order -- and consensus_advance acknowledges
 * it once persisted, sent and applied.  Events in: consensus_tick (time),
 * consensus_step (a message's bytes, with its sender), consensus_propose.
 *
 * Node ids are non-zero; CONSENSUS_NONE is "nobody".  Errors are negative
 * (CORE_ERR_* or the implementation's codes, named by consensus_strerror).
 */
#ifndef CHORUS_CONSENSUS_H
#define CHORUS_CONSENSUS_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/limits.h"

#define CONSENSUS_NONE       0
#define CONSENSUS_VOTERS_MAX CHORUS_RAFT_VOTERS_MAX /* voters in one configuration */

/* Errors every implementation uses for these cases (beyond enum core_err). */
enum consensus_err {
	CONSENSUS_ERR_NOT_LEADER = -32, /* only the leader accepts this */
	CONSENSUS_ERR_BUSY = -33,       /* a voter change or a transfer is in progress */
	CONSENSUS_ERR_UNAVAILABLE = -34 /* an index compacted away, or not there */
};

enum consensus_role {
	CONSENSUS_FOLLOWER = 0,
	CONSENSUS_CANDIDATE = 1, /* asking for votes (or about to) */
	CONSENSUS_LEADER = 2,
};

/* One committed entry: app 1, a proposal's bytes; 0, the implementation's own (skip it). */
struct consensus_entry {
	uint64_t index;
	const uint8_t *data;
	size_t len;
	int app;
};

/* What a snapshot carries for the application (its bytes from consensus_compact). */
struct consensus_snapshot {
	uint64_t index, term;
	const uint8_t *data;
	size_t len;
	const void *durable; /* the implementation's whole snapshot, for its store */
};

struct consensus_ready {
	const void *durable;  /* the implementation's round for its store (NULL: nothing) */
	int msgs_early;       /* the messages may leave before durable is written */
	size_t nmsgs;         /* messages: consensus_msg_encode(i) */
	const struct consensus_snapshot *snapshot; /* installed: the application restores it */
	const struct consensus_entry *committed;   /* apply in order */
	size_t ncommitted;
};

struct consensus_status {
	uint64_t id, leader, term;
	int role;                       /* enum consensus_role */
	const char *state;              /* the implementation's name for its state */
	uint64_t commit, applied, last_index, snap_index;
	uint64_t voters[CONSENSUS_VOTERS_MAX];
	unsigned nvoters;
	uint64_t conf_index;            /* the entry of the voter set in force */
	int removed;                    /* a voter told us we were removed */
	uint64_t transferee;            /* leader: handing leadership to it (CONSENSUS_NONE: no) */
};

struct consensus;
/* An implementation embeds struct consensus first and fills its ops. */
struct consensus_ops {
	const char *name;
	void (*destroy)(struct consensus *c);
	void (*tick)(struct consensus *c);
	int (*step)(struct consensus *c, uint64_t from, const uint8_t *msg, size_t len);
	int (*propose)(struct consensus *c, const uint8_t *data, size_t len, uint64_t *index);
	int (*ready)(struct consensus *c, struct consensus_ready *rd);
	int (*msg_encode)(struct consensus *c, const struct consensus_ready *rd, size_t i,
	                  uint8_t *out, size_t cap, uint64_t *to);
	void (*advance)(struct consensus *c, const struct consensus_ready *rd);
	void (*status)(const struct consensus *c, struct consensus_status *st);
	int (*change_voter)(struct consensus *c, int add, uint64_t id, uint64_t *index);
	int (*transfer)(struct consensus *c, uint64_t to);
	int (*recover)(struct consensus *c);
	void (*set_no_vote)(struct consensus *c, int no_vote);
	int (*entry_get)(const struct consensus *c, uint64_t index, struct consensus_entry *e);
	int (*compact)(struct consensus *c, uint64_t index, const uint8_t *data, size_t len);
	void (*snapshot_get)(struct consensus *c, struct consensus_snapshot *s);
	const char *(*strerror)(int err);
};
struct consensus {
	const struct consensus_ops *ops;
};

void consensus_destroy(struct consensus *c);

/* Events. */
void consensus_tick(struct consensus *c);
/* A message's bytes from node from (the sender the fabric authenticated); 0 or an error. */
int consensus_step(struct consensus *c, uint64_t from, const uint8_t *msg, size_t len);
/* Leader: append data to the log; 0 and its index, or an error (not leader, busy). */
int consensus_propose(struct consensus *c, const uint8_t *data, size_t len, uint64_t *index);

/* Effects: 1 and a round when there is one. */
int consensus_ready(struct consensus *c, struct consensus_ready *rd);
/* Message i of rd into out: its length and *to, or an error (the message is dropped). */
int consensus_msg_encode(struct consensus *c, const struct consensus_ready *rd, size_t i,
                         uint8_t *out, size_t cap, uint64_t *to);
void consensus_advance(struct consensus *c, const struct consensus_ready *rd);

/* Views. */
void consensus_status(const struct consensus *c, struct consensus_status *st);
uint64_t consensus_leader(const struct consensus *c);   /* CONSENSUS_NONE: none known */
int consensus_is_leader(const struct consensus *c);
uint64_t consensus_term(const struct consensus *c);
/* The voter set in force: its size, ids copied up to max. */
unsigned consensus_voters(const struct consensus *c, uint64_t *ids, unsigned max);
int consensus_status_has(const struct consensus_status *st, uint64_t id);
/* A committed entry still in the log (not compacted): 0, or an error. */
int consensus_entry_get(const struct consensus *c, uint64_t index, struct consensus_entry *e);
const char *consensus_strerror(const struct consensus *c, int err);

/* The operator's commands (leader: add, remove, transfer; a voter alone: recover). */
int consensus_add_voter(struct consensus *c, uint64_t id, uint64_t *index);
int consensus_remove_voter(struct consensus *c, uint64_t id, uint64_t *index);
int consensus_transfer(struct consensus *c, uint64_t to);
/* A voter that lost its quorum: a new voter set of itself alone (keeps the log). */
int consensus_recover(struct consensus *c);
/* 1: neither votes nor campaigns (state it may have lost); 0: votes again. */
void consensus_set_no_vote(struct consensus *c, int no_vote);

/* The application's snapshot at index (applied): the log up to it may go. */
int consensus_compact(struct consensus *c, uint64_t index, const uint8_t *data, size_t len);
/* The latest snapshot (valid until the next call). */
void consensus_snapshot_get(struct consensus *c, struct consensus_snapshot *s);

#endif

/*
 * Internals of the raft module, one section per file.  Like the rest of
 * src/core, nothing here performs I/O.
 */
#ifndef CHORUS_RAFT_INTERNAL_H
#define CHORUS_RAFT_INTERNAL_H

#include "base/base.h"
#include "chorus/raft.h"

/* ---------------------------------------------------------------- raft-log.c */
/*
 * The in-memory log after the snapshot: v[i] holds index snap_index + 1 + i.
 * Entry data is owned (heap).  `stable` is the last index the driver has
 * made durable; `trunc_from` (0: none) the lowest index whose durable copy
 * must be deleted because the entry was replaced.
 */
struct raft_log {
	struct raft_entry *v;
	size_t n;
	size_t cap;
	uint64_t snap_index;
	uint64_t snap_term;
	uint64_t committed;
	uint64_t applied;
	uint64_t stable;
	uint64_t trunc_from;
};
void raft_log_init(struct raft_log *l, uint64_t snap_index, uint64_t snap_term);
void raft_log_free(struct raft_log *l);
uint64_t raft_log_last_index(const struct raft_log *l);
uint64_t raft_log_last_term(const struct raft_log *l);
/* 0, or RAFT_ERR_UNAVAILABLE below the snapshot or past the end. */
int raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term);
/* The entry at index, which must be in (snap_index, last]. */
const struct raft_entry *raft_log_at(const struct raft_log *l, uint64_t index);
/* Appends at last + 1 (copies data); 0 or CORE_ERR_FULL / _NOMEM. */
int raft_log_append(struct raft_log *l, uint64_t term, uint8_t type, const uint8_t *data,
                    uint32_t len);
/* Drops entries >= from (never committed ones). */
void raft_log_truncate(struct raft_log *l, uint64_t from);
/* Drops entries <= index (applied ones); the log then starts after index. */
void raft_log_compact(struct raft_log *l, uint64_t index, uint64_t term);
/* Drops everything: the log restarts after a received snapshot. */
void raft_log_reset(struct raft_log *l, uint64_t index, uint64_t term);
/* Is (last_index, last_term) at least as up to date as our log? (§5.4.1) */
int raft_log_up_to_date(const struct raft_log *l, uint64_t last_index, uint64_t last_term);
/* First index of the run of entries with the term of `index` (conflict hint). */
uint64_t raft_log_term_first(const struct raft_log *l, uint64_t index);
/* Last index holding `term`, or 0 when we have none (conflict back-off). */
uint64_t raft_log_term_last(const struct raft_log *l, uint64_t term);
const char *raft_log_check(const struct raft_log *l);

/* ---------------------------------------------------------------- raft-msg.c */
int raft_conf_valid(const struct raft_conf *c); /* sorted, unique, non-zero, bounded */
int raft_conf_equal(const struct raft_conf *a, const struct raft_conf *b);

/* ---------------------------------------------------------------- raft.c */
enum raft_pr_state {
	RAFT_PR_PROBE = 0,     /* one AppendEntries at a time until the match is found */
	RAFT_PR_REPLICATE = 1, /* pipelined, up to inflight_max in flight */
	RAFT_PR_SNAPSHOT = 2,  /* a snapshot is on its way: send nothing else */
};

/* The leader's view of one other voter. */
struct raft_progress {
	uint64_t id;
	uint64_t match;
	uint64_t next;
	uint8_t state;
	uint8_t probe_sent;    /* PROBE: waiting for an answer */
	uint8_t recent_active; /* heard from within the check-quorum period */
	uint64_t pending_snapshot;
	uint32_t snap_ticks;   /* ticks since the snapshot went out: resend after a timeout */
	/* Last index of each AppendEntries in flight, oldest first (a ring). */
	uint64_t inflight[CHORUS_RAFT_INFLIGHT_MAX];
	uint32_t inflight_start;
	uint32_t inflight_n;
};

/*
 * A queued message.  Entries are named by range, not pointer: the log may
 * grow (and move) before raft_ready() resolves them; a range that no
 * longer holds the same entries by then is dropped (Log Matching: the same
 * term at the last index means the same entries).
 */
struct raft_out {
	struct raft_msg m;
	uint64_t ent_lo;
	uint64_t ent_last_term;
};

struct raft {
	struct raft_config cfg;
	struct rng rng;
	uint64_t id;
	int state;
	uint64_t term;
	uint64_t vote;
	uint64_t leader;
	struct raft_log log;

	/* Configuration in effect (the latest in the log) and the snapshot's. */
	struct raft_conf conf;
	uint64_t conf_index;
	struct raft_conf snap_conf;
	uint8_t *snap_data; /* the latest snapshot's bytes (ours or received) */
	uint32_t snap_len;
	int snap_unsaved;   /* a received snapshot the driver has not persisted */
	struct raft_snapshot rd_snap;

	/* Leader. */
	struct raft_progress pr[CHORUS_RAFT_VOTERS_MAX];
	uint32_t npr;
	int removed;                 /* told by a voter of a committed configuration without us */
	uint64_t removed_index;      /* our last index then: a later configuration with us re-adds us */
	uint64_t pending_conf_index; /* no new change until commit reaches it */
	uint64_t transferee;
	uint32_t transfer_ticks;

	/* Candidates: who answered, and how. */
	uint64_t vote_from[CHORUS_RAFT_VOTERS_MAX];
	uint8_t vote_granted[CHORUS_RAFT_VOTERS_MAX];
	uint32_t nvotes;

	uint32_t election_elapsed;
	uint32_t heartbeat_elapsed;
	uint32_t election_timeout; /* randomised, in [election_ticks, 2 * election_ticks) */

	struct raft_hard_state hs_saved; /* as of the last raft_advance() */
	struct raft_out *outbox;
	uint32_t nout;
	struct raft_msg *rd_msgs;
	int in_ready;
	uint64_t rd_last_index, rd_commit;
	struct raft_stats stats;
};

#endif

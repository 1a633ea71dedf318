/*
 * Raft consensus as a sans-io state machine (etcd-io/raft style).
 *
 * The module never touches a clock, a disk or a socket.  The driver:
 *
 *   - calls raft_tick() every tick (its own clock; e.g. every 10 ms);
 *   - feeds every message from a peer to raft_step() (decode them with
 *     raft_msg_decode());
 *   - calls raft_propose() / raft_propose_conf() / raft_transfer() /
 *     raft_compact() on behalf of the application;
 *   - after any of those, loops on raft_ready(): it must persist
 *     (a) the snapshot, (b) the truncation, (c) the new entries and (d) the
 *     hard state, in that order, BEFORE sending the messages, then apply
 *     the committed entries and call raft_advance().  No other call into
 *     the same instance is allowed between raft_ready() and raft_advance().
 *
 * Entries are opaque bytes with an index, a term and a type; the module
 * interprets only its own (no-op and configuration) entries.  Membership
 * changes one voter at a time and a configuration takes effect as soon as
 * its entry is in the log (committed or not).  See docs/raft.md.
 */
#ifndef CHORUS_RAFT_H
#define CHORUS_RAFT_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/limits.h"

#define RAFT_NONE 0 /* "no node": node ids are non-zero */

/* Errors beyond enum core_err (0 or negative; raft_strerror() names them all). */
enum raft_err {
	RAFT_ERR_NOT_LEADER = -32, /* only the leader accepts this */
	RAFT_ERR_BUSY = -33,       /* a configuration change or a transfer is in progress */
	RAFT_ERR_UNAVAILABLE = -34 /* an index that was compacted away or does not exist */
};
const char *raft_strerror(int err);

enum raft_state {
	RAFT_FOLLOWER = 0,
	RAFT_PRE_CANDIDATE = 1,
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3,
};
const char *raft_state_name(int state);

enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 0, /* application bytes */
	RAFT_ENTRY_NOOP = 1,   /* appended by a new leader: commits its predecessors' entries */
	RAFT_ENTRY_CONF = 2,   /* the full new voter set (raft_conf_encode) */
	RAFT_ENTRY_TYPE_END
};

struct raft_entry {
	uint64_t index;
	uint64_t term;
	uint8_t type;
	uint32_t len;
	const uint8_t *data; /* len bytes (NULL when len is 0) */
};

/* A voter set, ids sorted ascending, no duplicates, no RAFT_NONE. */
struct raft_conf {
	uint32_t n;
	uint64_t ids[CHORUS_RAFT_VOTERS_MAX];
};
int raft_conf_has(const struct raft_conf *c, uint64_t id);
/* Returns the encoded length, or a negative error. */
int raft_conf_encode(const struct raft_conf *c, uint8_t *out, size_t cap);
int raft_conf_decode(struct raft_conf *c, const uint8_t *buf, size_t len);

/* The application's state up to index (inclusive), plus the voters then. */
struct raft_snapshot {
	uint64_t index;
	uint64_t term;
	struct raft_conf conf;
	const uint8_t *data;
	uint32_t len;
};

/* What must be durable before any message that depends on it is sent. */
struct raft_hard_state {
	uint64_t term;
	uint64_t vote;   /* RAFT_NONE: no vote in this term */
	uint64_t commit;
};

enum raft_msg_type {
	RAFT_MSG_APPEND = 1,        /* AppendEntries: index/log_term = previous entry */
	RAFT_MSG_APPEND_RESP = 2,   /* index = last matching (or rejected) index; hints */
	RAFT_MSG_VOTE = 3,          /* index/log_term = candidate's last entry */
	RAFT_MSG_VOTE_RESP = 4,
	RAFT_MSG_PRE_VOTE = 5,      /* term = the term the candidate would use */
	RAFT_MSG_PRE_VOTE_RESP = 6,
	RAFT_MSG_HEARTBEAT = 7,     /* commit = min(follower match, leader commit) */
	RAFT_MSG_HEARTBEAT_RESP = 8,
	RAFT_MSG_SNAPSHOT = 9,      /* InstallSnapshot: whole snapshot in one message */
	RAFT_MSG_TIMEOUT_NOW = 10,  /* leadership transfer: campaign now */
	RAFT_MSG_TYPE_END
};
const char *raft_msg_type_name(int type);

#define RAFT_MSG_REJECT   0x01 /* a negative response */
#define RAFT_MSG_TRANSFER 0x02 /* a vote asked because of TimeoutNow: ignores the leader lease */
#define RAFT_MSG_REMOVED  0x04 /* vote response: your log stops before a committed configuration
                                  that has no place for you: you were removed (issue 14) */

struct raft_msg {
	uint8_t type;
	uint8_t flags;
	uint64_t from, to, term;
	uint64_t index, log_term;
	uint64_t commit;
	uint64_t hint_index, hint_term; /* APPEND_RESP reject: conflicting term, its first index */
	uint32_t nentries;
	const struct raft_entry *entries;
	struct raft_snapshot snap; /* RAFT_MSG_SNAPSHOT */
};

/*
 * Wire form: a fixed, versioned big-endian header, then entries or the
 * snapshot; every length is checked and nothing may trail.  Returns the
 * encoded length, or a negative error.
 */
int raft_msg_encode(const struct raft_msg *m, uint8_t *out, size_t cap);
/*
 * Decodes buf into m; entries go to ents (cap entries), their data and the
 * snapshot bytes point into buf.  0 or CORE_ERR_MALFORMED / _OVERSIZE /
 * _VERSION.
 */
int raft_msg_decode(struct raft_msg *m, struct raft_entry *ents, size_t cap, const uint8_t *buf,
                    size_t len);
/* Semantic checks shared by the decoder and raft_step(). */
int raft_msg_validate(const struct raft_msg *m);

struct raft_config {
	uint64_t id;               /* non-zero */
	uint64_t seed;             /* PRNG seed (randomised election timeouts) */
	uint32_t election_ticks;   /* election timeout is random in [this, 2 * this) */
	uint32_t heartbeat_ticks;  /* < election_ticks */
	uint32_t inflight_max;     /* AppendEntries in flight per follower, 1..CHORUS_RAFT_INFLIGHT_MAX */
	uint32_t append_bytes_max; /* entry bytes per AppendEntries, up to CHORUS_RAFT_APPEND_BYTES_MAX */
	int pre_vote;              /* ask before raising the term */
	int check_quorum;          /* leader steps down without a live quorum; leader lease on votes */
	/*
	 * The driver lost this node's durable state (term, vote, log): it never
	 * grants a vote nor campaigns (it may have voted in a term it no longer
	 * knows), and still follows and acknowledges what it stores anew.
	 */
	int no_vote;
};
void raft_config_defaults(struct raft_config *cfg, uint64_t id, uint64_t seed);

/*
 * What the driver persisted, handed back on start.  On a first start: a
 * zero hard state, no entries, and snap = {index 0, term 0, the initial
 * voters} (empty voters for a node that will be added later).
 */
struct raft_boot {
	struct raft_hard_state hs;
	struct raft_snapshot snap;
	const struct raft_entry *entries; /* consecutive; any at or below snap.index are skipped */
	size_t nentries;
};

/* Output of one round; pointers are valid until raft_advance(). */
struct raft_ready {
	int hs_changed;
	struct raft_hard_state hs;          /* persist when hs_changed */
	const struct raft_snapshot *snapshot; /* persist, drop every stored entry, restore the SM */
	uint64_t truncate_from;             /* 0, or: delete stored entries with index >= this */
	const struct raft_entry *entries;   /* then append these */
	size_t nentries;
	const struct raft_msg *msgs;        /* send only after the above are durable */
	size_t nmsgs;
	const struct raft_entry *committed; /* apply in order */
	size_t ncommitted;
};

struct raft_status {
	uint64_t id;
	int state;
	uint64_t term, vote, leader;
	uint64_t commit, applied, last_index, last_term;
	uint64_t snap_index, snap_term;
	struct raft_conf conf;
	uint64_t conf_index;
	uint64_t transferee; /* leader: transfer target in progress, or RAFT_NONE */
	int no_vote;         /* cfg.no_vote: neither votes nor campaigns */
	int removed;         /* a voter told us we were removed: we no longer campaign */
};

struct raft_stats {
	uint64_t elections, pre_elections, leaderships, step_downs_quorum, step_downs_removed;
	uint64_t msgs_in, msgs_out, drop_invalid, drop_outbox, drop_stale;
	uint64_t appends_sent, entries_sent, snapshots_sent, snapshots_installed, rejects_received;
	uint64_t transfers, compactions;
};

struct raft;

int raft_create(struct raft **out, const struct raft_config *cfg, const struct raft_boot *boot);
void raft_destroy(struct raft *r);

void raft_tick(struct raft *r);
/* One message addressed to us; bad input is an error and changes nothing. */
int raft_step(struct raft *r, const struct raft_msg *m);

/* Consensus interface (leader only); *index is where the entry went. */
int raft_propose(struct raft *r, const uint8_t *data, uint32_t len, uint64_t *index);
int raft_propose_conf(struct raft *r, int add, uint64_t id, uint64_t *index);
/* Hand leadership to a voter once its log is caught up (TimeoutNow). */
int raft_transfer(struct raft *r, uint64_t to);
/*
 * The operator's last resort when lost voters left no quorum (etcd's
 * --force-new-cluster): a voter without a leader appends, to its own log
 * only, a configuration of itself alone, and then elects itself.  Entries
 * only the lost voters held are lost; the others must not come back with
 * their old state.  RAFT_ERR_BUSY when a leader is known (use
 * raft_propose_conf instead), CORE_ERR_INVAL when we are no voter.
 */
int raft_force_new_cluster(struct raft *r);
/* Start an election now (a follower that is a voter). */
int raft_campaign_now(struct raft *r);
/* The driver's say on cfg.no_vote after start (a lost voter re-added by its operator). */
void raft_set_no_vote(struct raft *r, int no_vote);
/*
 * The application has a snapshot of its state machine at index (<= applied,
 * the driver persisted it): the log prefix up to index is dropped and the
 * bytes kept to send to lagging followers.
 */
int raft_compact(struct raft *r, uint64_t index, const uint8_t *data, uint32_t len);

/* The latest snapshot (metadata and bytes, valid until the next call): persist it after raft_compact(). */
void raft_snapshot_get(const struct raft *r, struct raft_snapshot *out);

/* 1 and fills rd when there is work, 0 otherwise. */
int raft_ready(struct raft *r, struct raft_ready *rd);
void raft_advance(struct raft *r, const struct raft_ready *rd);

void raft_status(const struct raft *r, struct raft_status *st);
const struct raft_stats *raft_stats(const struct raft *r);
int raft_is_leader(const struct raft *r);
uint64_t raft_leader(const struct raft *r);
uint64_t raft_term(const struct raft *r);
uint64_t raft_commit_index(const struct raft *r);
/* Term of the entry at index (the snapshot's for its index); RAFT_ERR_UNAVAILABLE otherwise. */
int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term);
/* The entry at index (data points into the log: valid until the next call); RAFT_ERR_UNAVAILABLE. */
int raft_entry_get(const struct raft *r, uint64_t index, struct raft_entry *out);
/* Internal consistency; NULL when all holds. */
const char *raft_check(const struct raft *r);

#endif

/*
 * The node's consensus and ledger: raftstore.c (Raft's durable state, the
 * applied blocks and the ack outbox in raft.db), consensus.c (drives the
 * sans-io Raft and applies ledger blocks), catchup.c (log compaction and the
 * backfill of blocks a snapshot skipped), catchup-msg.c (their bytes).
 * See docs/ledger-node.md.
 */
#ifndef CHORUS_NODE_CONSENSUS_H
#define CHORUS_NODE_CONSENSUS_H

#include "chorus/ledger.h"
#include "chorus/raft.h"

struct node;
struct consensus;
struct raftstore;
typedef struct cJSON cJSON;

/* raftstore.c */
typedef void raftstore_outbox_fn(void *ctx, const char *job, const struct ledger_entry *e);
extern int raftstore_fault_at, raftstore_fault_crash; /* test seam: see raftstore.c */
int raftstore_open(struct raftstore **out, const char *dir, int *lost, char *err, size_t errlen);
/* raft.db's state is not the node's own (1: it must not vote), or it was re-added (0). */
int raftstore_set_lost(struct raftstore *rs, const char *dir, int lost);
/* Term, vote, log and snapshot deleted (an older copy of raft.db on a voter). */
int raftstore_forget(struct raftstore *rs);
void raftstore_close(struct raftstore *rs);
int raftstore_load(struct raftstore *rs, struct raft_boot *boot);
void raftstore_boot_free(struct raftstore *rs);
int raftstore_init(struct raftstore *rs, const struct raft_conf *conf);
int raftstore_save(struct raftstore *rs, const struct raft_ready *rd);
int raftstore_outbox_put(struct raftstore *rs, const char *job, const struct ledger_entry *e,
                         uint64_t now_ms);
int raftstore_outbox_begin(struct raftstore *rs);
int raftstore_outbox_commit(struct raftstore *rs);
int raftstore_outbox_done(struct raftstore *rs, const char *job, uint64_t *created_ms);
int raftstore_outbox_each(struct raftstore *rs, unsigned limit, raftstore_outbox_fn *fn,
                          void *ctx);
int raftstore_outbox_get(struct raftstore *rs, const char *job, struct ledger_entry *e);
int raftstore_ack_seq_put(struct raftstore *rs, uint64_t seq);
int raftstore_jobs_index(struct raftstore *rs, const struct ledger *l);
int raftstore_job_get(struct raftstore *rs, const uint8_t job[CHORUS_JOB_ID_BYTES],
                      struct ledger_job *out);
/* A final job: the ledger's memory, else the node's index (*held 0: its window forgot it). */
/* Leader: acks held back (not queued, not answered) while their client's window was full. */
uint64_t consensus_refused_window(const struct consensus *cs);
int consensus_job_get(const struct consensus *cs, const uint8_t job[CHORUS_JOB_ID_BYTES],
                      struct ledger_job *out, int *held);
int raftstore_ack_seq_get(struct raftstore *rs, uint64_t *seq);
/* Open acks (never dropped: consensus_lagging refuses submits instead). */
size_t raftstore_outbox_open(const struct raftstore *rs);
/* The snapshot of raft_compact(): the boot row, and the log up to its index dropped. */
int raftstore_compact(struct raftstore *rs, const struct raft_snapshot *snap);
int raftstore_block_put(struct raftstore *rs, uint64_t height, const uint8_t hash[LEDGER_HASH_BYTES],
                        const uint8_t *data, size_t len);
/* 0 with the bytes (valid until the next call on rs), -ENOENT, or -EIO. */
int raftstore_block_get(struct raftstore *rs, uint64_t height, const uint8_t **data, size_t *len);
/* Every stored block in height order until fn returns non-zero; 0, fn's value, or -EIO. */
typedef int raftstore_block_fn(void *ctx, uint64_t height, const uint8_t *data, size_t len);
int raftstore_blocks_each(struct raftstore *rs, raftstore_block_fn *fn, void *ctx);
/* Rows in the log table (tests and the API show that compaction bounds it); -EIO. */
long long raftstore_log_rows(struct raftstore *rs);

/* catchup-msg.c: the snapshot bytes and the backfill messages (CORE_APP_LEDGER kinds) */
#define CATCHUP_VERSION       1
#define CATCHUP_MSG_REQ       3  /* after consensus.c's LMSG_SUBMIT (1) and LMSG_COMMITTED (2) */
#define CATCHUP_MSG_BLOCKS    4
#define CATCHUP_HEIGHT_MAX    (1ull << 53) /* the ledger's bound on numbers */
#define CATCHUP_SNAP_BYTES    (4 + 1 + 8 + LEDGER_HASH_BYTES)
#define CATCHUP_REQ_BYTES     (2 + 8 + 8 + 2)
#define CATCHUP_BLOCKS_HEADER (2 + 8 + 8 + 8 + 2)
#define CATCHUP_BLOCKS_MAX    64 /* blocks in one response */
_Static_assert(CATCHUP_SNAP_BYTES <= CHORUS_RAFT_SNAPSHOT_MAX, "the snapshot fits a Raft snapshot");
_Static_assert(CATCHUP_BLOCKS_HEADER + 4 + CHORUS_RAFT_ENTRY_MAX <= CHORUS_BODY_MAX,
               "a response carries at least one block of any size");

struct catchup_req {
	uint64_t req_id;
	uint64_t top;   /* the highest block wanted; the response goes down from it */
	uint16_t count; /* 1..CATCHUP_BLOCKS_MAX */
};
struct catchup_blocks {
	uint64_t req_id, top;
	uint64_t have; /* the sender's ledger height */
	uint16_t n;    /* blocks top, top - 1, ... */
	const uint8_t *data[CATCHUP_BLOCKS_MAX];
	uint32_t len[CATCHUP_BLOCKS_MAX];
};
void catchup_snap_encode(uint64_t height, const uint8_t hash[LEDGER_HASH_BYTES],
                         uint8_t out[CATCHUP_SNAP_BYTES]);
int catchup_snap_decode(const uint8_t *buf, size_t len, uint64_t *height,
                        uint8_t hash[LEDGER_HASH_BYTES]);
int catchup_req_encode(const struct catchup_req *q, uint8_t *out, size_t cap);
int catchup_req_decode(struct catchup_req *q, const uint8_t *buf, size_t len);
int catchup_blocks_begin(uint8_t *out, size_t cap, uint64_t req_id, uint64_t top, uint64_t have);
int catchup_blocks_add(uint8_t *out, size_t cap, size_t *len, const uint8_t *block, size_t blen);
int catchup_blocks_decode(struct catchup_blocks *b, const uint8_t *buf, size_t len);

/* catchup.c: compaction and backfill, driven by consensus.c */
struct catchup;
enum catchup_state { CATCHUP_IDLE = 0, CATCHUP_FETCH = 1, CATCHUP_APPLY = 2 };
struct catchup_status {
	int state;
	uint64_t target_height;  /* the latest snapshot's ledger height */
	uint64_t snap_index;     /* and its Raft index */
	uint64_t low;            /* FETCH: blocks from here to the target are held, checked */
	uint64_t requests, timeouts, blocks_fetched, rejects, served, compactions;
};
int catchup_create(struct catchup **out, struct node *node, struct raftstore *store,
                   struct ledger *ledger, uint64_t self, unsigned every);
void catchup_destroy(struct catchup *c);
int catchup_rebuild(struct catchup *c);
int catchup_target(struct catchup *c, uint64_t index, const uint8_t *data, size_t len);
int catchup_active(const struct catchup *c);
struct voter;
int catchup_tick(struct catchup *c, struct voter *v);
void catchup_after_pump(struct catchup *c, struct voter *v, uint64_t applied_index);
void catchup_on_msg(struct catchup *c, const struct voter *v, const uint8_t from_pk[CHORUS_PK_BYTES],
                    const uint8_t *body, size_t len);
void catchup_status(const struct catchup *c, struct catchup_status *out);
const char *catchup_state_name(int state);

/* consensus.c: read-only views for the API (valid until the loop runs again) */
uint64_t consensus_id_of(const uint8_t pk[CHORUS_PK_BYTES]);
struct member_view;
int consensus_member_by_id(const struct consensus *cs, uint64_t id, struct member_view *mv);
const struct raft *consensus_raft(const struct consensus *cs); /* NULL: not booted */
/* Raft's status through the voter: 0, or -ENOENT when not booted (st untouched). */
int consensus_raft_status(const struct consensus *cs, struct raft_status *st);
int consensus_is_leader(const struct consensus *cs);
const struct ledger *consensus_ledger(const struct consensus *cs);
int consensus_is_voter(const struct consensus *cs);
uint64_t consensus_leader(const struct consensus *cs);
/* Block at height (1-based): 0 and its bytes, or -ENOENT. */
int consensus_block(const struct consensus *cs, uint64_t height, const uint8_t **data,
                    size_t *len);
/* Leader only: remove a voter; -EAGAIN not leader, -ENOENT not a voter, -EBUSY a change in flight. */
int consensus_remove_voter(struct consensus *cs, uint64_t id);
/* On the leader: the operator adds a voter (-EAGAIN elsewhere, -EEXIST, -EBUSY). */
int consensus_add_voter(struct consensus *cs, uint64_t id);
/* On the leader: hand leadership to the voter to (-EAGAIN elsewhere, -ENOENT, -EBUSY). */
int consensus_transfer_leader(struct consensus *cs, uint64_t to);
/* A voter without a leader: a new configuration of itself alone (-EAGAIN, -EINVAL). */
int consensus_recover(struct consensus *cs);
size_t consensus_latency(const struct consensus *cs, uint32_t *p50, uint32_t *p99);
/* waits: its submitter waits for the commit (kept in memory until then; see consensus_unwait). */
/* *settled: the ack is below its client's floor (answered at our height, not sent). */
int consensus_submit(struct consensus *cs, const struct ledger_entry *e, int waits,
                     char job[CHORUS_JOB_ID_HEX + 1], uint64_t *height, int *settled, char *why,
                     size_t whylen);
/* A waiting submitter's wait ran out: its ack goes to the outbox first; 0 or -EIO. */
int consensus_unwait(struct consensus *cs, const char *job);
struct api_waits *consensus_waits(struct consensus *cs);
/*
 * Our own acks from ack_cb into the outbox, one transaction; before the job
 * table commits.  0, or -ENOSPC / -EIO: they stay in memory, tried again next time.
 */
int consensus_save_acks(struct consensus *cs);
/* Malformed ledger and Raft messages dropped (logged at debug level). */
uint64_t consensus_dropped(const struct consensus *cs);
/* 1 while new submits are refused: too many of our acks wait for the ledger (the marks). */
const char *consensus_raft_state(const struct consensus *cs);
int consensus_lagging(struct consensus *cs, uint64_t *depth, uint64_t *high, uint64_t *low);
/* Leader: submitted acks refused as not checking; ours: own acks the ledger refused. */
uint64_t consensus_refused(const struct consensus *cs);
uint64_t consensus_outbox_refused_count(const struct consensus *cs);
/* Leader refusals by kind (not a member; apply would reject it) and committed blocks skipped. */
void consensus_refusals(const struct consensus *cs, uint64_t *member, uint64_t *bound,
                        uint64_t *skipped_blocks);
/* api-ledger.c: answers a POST /v1/ledger/acks held until its job committed (or not, in time). */
struct evhttp_request;
void api_ledger_waited(void *ctx, struct evhttp_request *req, const char *job, int woken,
                       uint64_t height);
const struct catchup *consensus_catchup(const struct consensus *cs);

#endif

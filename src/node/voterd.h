/*
 * The node's ledger voter, the shell: raftstore.c (Raft's durable state, the
 * applied blocks and the ack outbox in raft.db), voterd.c (drives the log
 * through include/chorus/consensus.h and the voter module, applies ledger
 * blocks), catchup.c (the I/O of compaction and of the backfill of blocks a
 * snapshot skipped; the decisions: src/core/ledger/voter-catchup.c).
 * See docs/ledger-node.md.
 */
#ifndef CHORUS_NODE_VOTERD_H
#define CHORUS_NODE_VOTERD_H

#include "chorus/ledger.h"
#include "chorus/raft.h"
#include "chorus/voter-catchup.h"

struct node;
struct voterd;
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
int raftstore_jobs_put(struct raftstore *rs, const struct ledger_gone *rows, size_t n);
/* The rows of the jobs the ledger forgot, once enough gathered (all: now; voterd.c, catchup.c). */
int voterd_index_forgotten(struct raftstore *store, struct ledger *ledger, int all);
int raftstore_job_get(struct raftstore *rs, const uint8_t job[CHORUS_JOB_ID_BYTES],
                      struct ledger_job *out);
/* A final job: the ledger's memory, else the node's index (*held 0: its window forgot it). */
/* Leader: acks held back (not queued, not answered) while their client's window was full. */
uint64_t voterd_refused_window(const struct voterd *cs);
int voterd_job_get(const struct voterd *cs, const uint8_t job[CHORUS_JOB_ID_BYTES],
                      struct ledger_job *out, int *held);
int raftstore_ack_seq_get(struct raftstore *rs, uint64_t *seq);
/* Open acks (never dropped: voterd_lagging refuses submits instead). */
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

/*
 * catchup.c: the shell of compaction and backfill (the decisions:
 * src/core/ledger/voter-catchup.c), driven by voterd.c: the store and the fabric.
 */
struct catchup;
int catchup_create(struct catchup **out, struct node *node, struct raftstore *store,
                   struct ledger *ledger, uint64_t self, unsigned every);
void catchup_destroy(struct catchup *c);
int catchup_rebuild(struct catchup *c);
int catchup_target(struct catchup *c, uint64_t index, const uint8_t *data, size_t len);
int catchup_active(const struct catchup *c);
struct consensus;
void catchup_tick(struct catchup *c, struct consensus *cn);
void catchup_after_pump(struct catchup *c, struct consensus *cn, uint64_t applied_index);
void catchup_on_msg(struct catchup *c, const struct consensus *cn, const uint8_t from_pk[CHORUS_PK_BYTES],
                    const uint8_t *body, size_t len);
void catchup_status(const struct catchup *c, struct catchup_status *out);
const char *catchup_state_name(int state);

/* voterd.c: read-only views for the API (valid until the loop runs again) */
uint64_t voterd_id_of(const uint8_t pk[CHORUS_PK_BYTES]);
struct member_view;
int voterd_member_by_id(const struct voterd *cs, uint64_t id, struct member_view *mv);
int voterd_booted(const struct voterd *cs); /* the log exists (a voter that booted) */
/* The log's status (include/chorus/consensus.h): 0, or -ENOENT when not booted (st untouched). */
struct consensus_status;
int voterd_log_status(const struct voterd *cs, struct consensus_status *st);
int voterd_is_leader(const struct voterd *cs);
const struct ledger *voterd_ledger(const struct voterd *cs);
int voterd_is_voter(const struct voterd *cs);
uint64_t voterd_leader(const struct voterd *cs);
/* Block at height (1-based): 0 and its bytes, or -ENOENT. */
int voterd_block(const struct voterd *cs, uint64_t height, const uint8_t **data,
                    size_t *len);
/* Leader only: remove a voter; -EAGAIN not leader, -ENOENT not a voter, -EBUSY a change in flight. */
int voterd_remove_voter(struct voterd *cs, uint64_t id);
/* On the leader: the operator adds a voter (-EAGAIN elsewhere, -EEXIST, -EBUSY). */
int voterd_add_voter(struct voterd *cs, uint64_t id);
/* On the leader: hand leadership to the voter to (-EAGAIN elsewhere, -ENOENT, -EBUSY). */
int voterd_transfer_leader(struct voterd *cs, uint64_t to);
/* A voter without a leader: a new configuration of itself alone (-EAGAIN, -EINVAL). */
int voterd_recover(struct voterd *cs);
size_t voterd_latency(const struct voterd *cs, uint32_t *p50, uint32_t *p99);
/* waits: its submitter waits for the commit (kept in memory until then; see voterd_unwait). */
/* *settled: the ack is below its client's floor (answered at our height, not sent). */
int voterd_submit(struct voterd *cs, const struct ledger_entry *e, int waits,
                     char job[CHORUS_JOB_ID_HEX + 1], uint64_t *height, int *settled, char *why,
                     size_t whylen);
/* A waiting submitter's wait ran out: its ack goes to the outbox first; 0 or -EIO. */
int voterd_unwait(struct voterd *cs, const char *job);
struct api_waits *voterd_waits(struct voterd *cs);
/*
 * Our own acks from ack_cb into the outbox, one transaction; before the job
 * table commits.  0, or -ENOSPC / -EIO: they stay in memory, tried again next time.
 */
int voterd_save_acks(struct voterd *cs);
/* Malformed ledger and Raft messages dropped (logged at debug level). */
uint64_t voterd_dropped(const struct voterd *cs);
/* 1 while new submits are refused: too many of our acks wait for the ledger (the marks). */
const char *voterd_raft_state(const struct voterd *cs);
int voterd_lagging(struct voterd *cs, uint64_t *depth, uint64_t *high, uint64_t *low);
/* Leader: submitted acks refused as not checking; ours: own acks the ledger refused. */
uint64_t voterd_refused(const struct voterd *cs);
uint64_t voterd_outbox_refused_count(const struct voterd *cs);
/* Leader refusals by kind (not a member; apply would reject it) and committed blocks skipped. */
/* The voter module's counters (include/chorus/voter.h). */
void voterd_stats(const struct voterd *cs, struct voter_stats *st);
void voterd_refusals(const struct voterd *cs, uint64_t *member, uint64_t *bound,
                        uint64_t *skipped_blocks);
/* api-ledger.c: answers a POST /v1/ledger/acks held until its job committed (or not, in time). */
struct evhttp_request;
void api_ledger_waited(void *ctx, struct evhttp_request *req, const char *job, int woken,
                       uint64_t height);
const struct catchup *voterd_catchup(const struct voterd *cs);

#endif

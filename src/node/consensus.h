/*
 * The node's consensus and ledger: raftstore.c (Raft's durable state and the
 * ack outbox in raft.db), consensus.c (drives the sans-io Raft and applies
 * ledger blocks), ledger-fwd.c (this node's completion acks to the leader).
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
int raftstore_open(struct raftstore **out, const char *dir, char *err, size_t errlen);
void raftstore_close(struct raftstore *rs);
int raftstore_load(struct raftstore *rs, struct raft_boot *boot);
void raftstore_boot_free(struct raftstore *rs);
int raftstore_init(struct raftstore *rs, const struct raft_conf *conf);
int raftstore_save(struct raftstore *rs, const struct raft_ready *rd);
int raftstore_outbox_put(struct raftstore *rs, const char *job, const struct ledger_entry *e,
                         uint64_t now_ms);
int raftstore_outbox_done(struct raftstore *rs, const char *job, uint64_t height,
                          uint64_t *created_ms);
int raftstore_outbox_each(struct raftstore *rs, unsigned limit, raftstore_outbox_fn *fn,
                          void *ctx);

/* consensus.c: read-only views for the API (valid until the loop runs again) */
uint64_t consensus_id_of(const uint8_t pk[CHORUS_PK_BYTES]);
struct member_view;
int consensus_member_by_id(const struct consensus *cs, uint64_t id, struct member_view *mv);
const struct raft *consensus_raft(const struct consensus *cs); /* NULL: not booted */
const struct ledger *consensus_ledger(const struct consensus *cs);
int consensus_is_voter(const struct consensus *cs);
uint64_t consensus_leader(const struct consensus *cs);
/* Block at height (1-based): 0 and its bytes, or -ENOENT. */
int consensus_block(const struct consensus *cs, uint64_t height, const uint8_t **data,
                    size_t *len);
/* Leader only: remove a voter; -EAGAIN not leader, -ENOENT not a voter, -EBUSY a change in flight. */
int consensus_remove_voter(struct consensus *cs, uint64_t id);
size_t consensus_latency(const struct consensus *cs, uint32_t *p50, uint32_t *p99);
int consensus_submit(struct consensus *cs, const struct ledger_entry *e,
                     char job[CHORUS_JOB_ID_HEX + 1], uint64_t *height, char *why, size_t whylen);
struct api_waits *consensus_waits(struct consensus *cs);
/* Malformed ledger and Raft messages dropped (logged at debug level). */
uint64_t consensus_dropped(const struct consensus *cs);
/* api-ledger.c: answers a POST /v1/ledger/acks held until its job committed (or not, in time). */
struct evhttp_request;
void api_ledger_waited(void *ctx, struct evhttp_request *req, const char *job, int woken,
                       uint64_t height);

#endif

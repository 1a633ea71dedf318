/*
 * voter: the ledger voter's protocol decisions, sans-io (src/core/ledger/voter.c).
 *
 * One voter per ledger voter node, run the same by chorusd
 * (src/node/voterd.c, the shell) and by chorus-sim (src/sim/sim-ledger.c).
 * It decides what a leader queues (admission), which blocks it builds and
 * proposes (the pipeline: a final head before the first block of a term, at
 * most inflight_max blocks beyond the applied head), what each origin is
 * answered and when, how a committed block that does not apply is skipped,
 * where an origin sends its entries (the leader first) and whether a voter
 * forwards a submit.
 *
 * Events in: voter_submit (an entry for the leader's queue), voter_pump
 * (after each Raft round: step-down, answers, builds, with the wall time as
 * an argument), voter_apply_block (a committed block), voter_set_consensus.
 * Effects out, drained like Raft's ready/advance: voter_ready() gives the
 * answers to origins and the log records since the last voter_advance().
 * Proposals go through the config's propose_cb (default: consensus_propose
 * on the voter's log), the one seam through which the voter reaches the log.
 *
 * No clock, no I/O, no random reads: time comes in as arguments, the
 * membership the shell knows through member_known_cb (a pure lookup).
 */
#ifndef CHORUS_VOTER_H
#define CHORUS_VOTER_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/ledger.h"
#include "chorus/limits.h"

struct voter;

#define VOTER_INFLIGHT_MAX   8    /* leader: blocks proposed beyond the applied head */
#define VOTER_BLOCK_ENTRIES  48   /* entries offered to one block (halved until it fits) */
#define VOTER_PENDING_MAX    8192 /* acks a leader holds for the next blocks */
#define VOTER_LOGS_MAX       64   /* log records between two drains (more are counted) */
#define VOTER_LOG_TEXT       224
_Static_assert(VOTER_BLOCK_ENTRIES <= CHORUS_LEDGER_BLOCK_ENTRIES_MAX,
               "a block holds VOTER_BLOCK_ENTRIES entries");
_Static_assert(VOTER_BLOCK_ENTRIES <= LEDGER_BUILD_INPUTS_MAX, "a build judges each input");

/* How a block reaches the log: 0, or a raft error (the build stops, tried again later). */
typedef int voter_propose_fn(void *ctx, const uint8_t *block, uint32_t len);
/* Is pk a member whose signed record the caller holds (may it be credited)? */
typedef int voter_member_fn(void *ctx, const uint8_t pk[CHORUS_PK_BYTES]);

struct voter_config {
	uint64_t id;                    /* our Raft id */
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
	unsigned inflight_max;          /* 0: VOTER_INFLIGHT_MAX */
	unsigned block_entries;         /* 0: VOTER_BLOCK_ENTRIES */
	size_t pending_max;             /* 0: VOTER_PENDING_MAX */
	size_t entry_overhead;          /* bytes propose_cb adds to a block in its log entry */
	/*
	 * Test seams: lead as a leader from before the admission checks would.
	 * old_leader: no bound checks (ledger_entry_admit); old_members: no
	 * membership check either (chorusd's CHORUS_FAULT=old-leader sets both;
	 * chorus-sim --poison the first only: its model has no strangers' accounts).
	 */
	int old_leader;
	int old_members;
	voter_propose_fn *propose_cb;   /* NULL: consensus_propose on the voter's log */
	voter_member_fn *member_known_cb;
	void *ctx;
};

enum voter_answer_kind {
	VOTER_ANSWER_FINAL = 1,   /* the job is final at height (credited, or rejected by apply) */
	VOTER_ANSWER_SETTLED = 2, /* below its client's floor: settled long ago; height = ours */
	VOTER_ANSWER_REFUSED = 3, /* the leader refused it (height 0 on the wire) */
};

/* One answer to an origin (origin == our pk: one of our own acks). */
struct voter_answer {
	uint8_t origin[CHORUS_PK_BYTES];
	uint8_t job[CHORUS_JOB_ID_BYTES];
	uint64_t height;
	uint8_t kind;            /* enum voter_answer_kind (the reason of a refusal: its log record) */
};

/* One log record (level: enum core_log_level; subsystem "ledger"). */
struct voter_log {
	int level;
	char text[VOTER_LOG_TEXT];
};

struct voter_ready {
	const struct voter_answer *answers;
	size_t nanswers;
	const struct voter_log *logs;
	size_t nlogs;
};

struct voter_stats {
	uint64_t pending;        /* queued now */
	uint64_t refused;        /* submitted entries refused (any reason) */
	uint64_t refused_member; /* of them: client or worker not a member */
	uint64_t refused_bound;  /* of them: apply would reject it */
	uint64_t refused_window; /* held back, unanswered: the client's window was full */
	uint64_t skipped_blocks; /* committed blocks that did not apply */
	uint64_t proposed;       /* blocks proposed */
	uint64_t rebuilt;        /* builds done again smaller: the block outgrew one Raft entry */
	uint64_t answer_rounds;  /* heights the queue was answered at */
	uint64_t unproposed_drops; /* queued entries dropped when their block applied without them */
	uint64_t answers_lost;   /* answers beyond 2 * pending_max between drains (retried) */
	uint64_t logs_lost;
};

enum voter_action {
	VOTER_DROP = 0,    /* no leader known, or forwarded once already */
	VOTER_QUEUE = 1,   /* we lead: voter_submit each entry */
	VOTER_FORWARD = 2, /* pass it on whole to *to, flagged forwarded */
};

/* l: the ledger the voter decides for (borrowed; its applied state). */
int voter_create(struct voter **out, const struct voter_config *cfg, struct ledger *l);
void voter_destroy(struct voter *v);
/*
 * The log the voter reads and proposes to (borrowed; NULL: none yet):
 * include/chorus/consensus.h, the voter's one way to Raft (or any other
 * implementation).  The caller drives it (tick, step, ready/advance).
 */
struct consensus;
void voter_set_consensus(struct voter *v, struct consensus *c);
int voter_is_leader(const struct voter *v);

/* Leader: a submitted entry from origin, checked, admitted or refused, queued once per job. */
void voter_submit(struct voter *v, const struct ledger_entry *e,
                  const uint8_t origin[CHORUS_PK_BYTES]);
/* A submit message arrived (forwarded: it was passed on once already). */
enum voter_action voter_on_submit(const struct voter *v, int forwarded, uint64_t *to);
/*
 * Where an origin's entries go: the leader our Raft knows, else one of the
 * members whose record says "leader", else one of the voter candidates,
 * rotated by round (the outbox's re-send count); CONSENSUS_NONE when none.
 */
uint64_t voter_target(const struct voter *v, const uint64_t *leaders, size_t nleaders,
                      const uint64_t *voters, size_t nvoters, unsigned round);
/*
 * After a Raft round: a voter that does not lead drops its queue and tip;
 * a leader answers what the height credited and, when build is set and the
 * ledger is not held behind Raft (held: a backfill, entries not applied),
 * builds and proposes the next blocks stamped now_ms.
 */
void voter_pump(struct voter *v, int build, int held, uint64_t now_ms);
/*
 * A committed block, in log order: 0 applied (the caller keeps it),
 * CORE_ERR_STALE (applied before: harmless), CORE_ERR_NOMEM (not applied:
 * hold it and try again), or the error of a block that does not apply,
 * skipped alike on every voter (counted, logged, the leader's pipeline
 * restarts from its head).
 */
int voter_apply_block(struct voter *v, const uint8_t *data, size_t len, uint64_t index);
/*
 * Does a leader's refusal of our own copy of e stand, by what we can tell
 * ourselves (it does not check, its reward is over the bound, or its client
 * or worker is no member)?  1 and why, or 0.
 */
int voter_refusal_stands(struct voter *v, const struct ledger_entry *e, char *why, size_t whylen);

/* Effects since the last advance; 1 when there are any. */
int voter_ready(const struct voter *v, struct voter_ready *rd);
void voter_advance(struct voter *v);
void voter_stats(const struct voter *v, struct voter_stats *out);
/* Leader: the term of its pipeline's tip (0: waiting for a final head). */
uint64_t voter_tip_term(const struct voter *v);

#endif

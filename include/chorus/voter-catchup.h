/*
 * voter-catchup: compaction and the backfill of ledger blocks a snapshot
 * skipped, the voter module's sans-io part (src/core/ledger/voter-catchup.c; the
 * protocol: docs/ledger-node.md, "Compaction and catch-up").
 *
 * It decides whom to ask (the leader first, then every other voter in
 * turn), what to request (the blocks below the lowest one proven, walking
 * down from the snapshot's head hash), what to serve (a voter of our
 * configuration asking for blocks we hold), which fetched block may be
 * stored (only one whose hash is the one the walk expects: the chain is
 * proven before anything is applied), when to apply (the walk met our
 * head: upward, a few per tick), when to compact the log and when a leader
 * that cannot build steps aside.  Run the same by chorusd (src/node/catchup.c,
 * the shell: the store and the fabric) and by chorus-sim.
 *
 * Events in: voter_catchup_target (a snapshot's ledger point),
 * voter_catchup_tick, voter_catchup_on_msg (a backfill message),
 * voter_catchup_read_done (a block read back from the store, or none),
 * voter_catchup_write_failed, voter_catchup_after_pump,
 * voter_catchup_rebuild_block (at start, the stored chain).  Effects out, one
 * at a time in order (voter_catchup_effect): a message to send, a block to
 * read (answered by voter_catchup_read_done with its tag), a proven block to
 * store, a height applied (its jobs to index), the log compacted (its
 * snapshot to store), a log record.  Pointers in an effect are valid until
 * the next call into the module.  No clock, no I/O: time comes in with the
 * tick.
 */
#ifndef CHORUS_VOTER_CATCHUP_H
#define CHORUS_VOTER_CATCHUP_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/catchup-msg.h"
#include "chorus/ledger.h"
#include "chorus/voter.h"

#define VOTER_CATCHUP_TIMEOUT_TICKS  50 /* 500 ms without an answer: ask the next voter */
#define VOTER_CATCHUP_RETRY_TICKS    10 /* a voter without the blocks: the next one after 100 ms */
#define VOTER_CATCHUP_APPLY_PER_TICK 4  /* blocks re-applied per tick (up to 96 signatures each) */
#define VOTER_CATCHUP_EFFECTS_MAX    (2 * CATCHUP_BLOCKS_MAX + 32) /* queued between drains */

enum catchup_state { CATCHUP_IDLE = 0, CATCHUP_FETCH = 1, CATCHUP_APPLY = 2 };

struct catchup_status {
	int state;
	uint64_t target_height;  /* the latest snapshot's ledger height */
	uint64_t snap_index;     /* and its log index */
	uint64_t low;            /* FETCH: blocks from here to the target are held, checked */
	uint64_t requests, timeouts, blocks_fetched, rejects, served, compactions;
	uint64_t dropped;        /* backfill messages dropped (bad, stale, not from a voter) */
};

enum voter_catchup_kind {
	VOTER_CATCHUP_SEND = 1,      /* body (data, len) to node `to` (CORE_APP_LEDGER) */
	VOTER_CATCHUP_READ = 2,      /* block `height` from the store: voter_catchup_read_done(tag) */
	VOTER_CATCHUP_WRITE = 3,     /* a proven block (height, hash, data, len) into the store */
	VOTER_CATCHUP_APPLIED = 4,   /* block `height` applied from the store: index its jobs */
	VOTER_CATCHUP_COMPACTED = 5, /* the log compacted: store its snapshot (durable) */
	VOTER_CATCHUP_LOG = 6,       /* a log record (level, text; subsystem "ledger") */
};

struct voter_catchup_effect {
	int kind;
	int tag;                     /* READ: hand it back */
	uint64_t to, height;
	const uint8_t *data;
	size_t len;
	uint8_t hash[LEDGER_HASH_BYTES];
	const void *durable;         /* COMPACTED: the implementation's snapshot (consensus.h) */
	int level;
	char text[VOTER_LOG_TEXT];
};

struct voter_catchup;
struct consensus;

/* l: the ledger it fills (borrowed); self: our node id; every: compact every this many entries. */
int voter_catchup_create(struct voter_catchup **out, struct ledger *l, uint64_t self,
                         unsigned every);
void voter_catchup_destroy(struct voter_catchup *c);

/*
 * At start, each stored block in height order: 0 applied, 1 a gap (stop),
 * <0 damaged.  Drain the effects after each (one APPLIED per block).
 */
int voter_catchup_rebuild_block(struct voter_catchup *c, uint64_t height, const uint8_t *data,
                                size_t len);
/*
 * The ledger point of the latest snapshot (at start, installed from the
 * leader, or our own compaction): 0, or CORE_ERR_MALFORMED for bytes that do
 * not decode.  A snapshot our chain contradicts is found once the block
 * read back (voter_catchup_broken).
 */
int voter_catchup_target(struct voter_catchup *c, uint64_t index, const uint8_t *data, size_t len);
void voter_catchup_tick(struct voter_catchup *c, const struct consensus *cn, uint64_t now_ms);
void voter_catchup_on_msg(struct voter_catchup *c, const struct consensus *cn, uint64_t from,
                          const uint8_t *body, size_t len);
/* A READ answered: the block's bytes, or data NULL (not stored, or unreadable). */
void voter_catchup_read_done(struct voter_catchup *c, int tag, uint64_t height,
                             const uint8_t *data, size_t len);
/* A WRITE failed: the walk starts again from the target (what is stored is kept). */
void voter_catchup_write_failed(struct voter_catchup *c, uint64_t height);
/*
 * After each pump, applied_index: the last log entry the ledger reflects.
 * A leader that cannot build on the final head steps aside; when idle and
 * at the log's applied index, the log is compacted behind the ledger.
 */
void voter_catchup_after_pump(struct voter_catchup *c, struct consensus *cn,
                              uint64_t applied_index);

/* The next effect, in order: 1 and *e, or 0 when there is none. */
int voter_catchup_effect(struct voter_catchup *c, struct voter_catchup_effect *e);

int voter_catchup_active(const struct voter_catchup *c); /* FETCH or APPLY: hold the log's entries */
/* A broken invariant seen (our chain contradicts a committed snapshot, a fork): stop. */
int voter_catchup_broken(const struct voter_catchup *c);
void voter_catchup_status(const struct voter_catchup *c, struct catchup_status *out);
const char *voter_catchup_state_name(int state);

#endif

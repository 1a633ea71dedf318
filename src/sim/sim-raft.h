/*
 * chorus-sim raft: what sim-raft.c (Raft nodes, network, faults, Raft
 * checks) shares with sim-ledger.c (the ledger run on top of those nodes).
 * Internal to the simulator.
 */
#ifndef CHORUS_SIM_RAFT_H
#define CHORUS_SIM_RAFT_H

#include "chorus/ledger.h"
#include "chorus/raft.h"
#include "sim.h"

#define SR_SPARES        2
#define SR_NODES_MAX     CHORUS_RAFT_VOTERS_MAX
#define SR_TICK_MS       10
#define SR_LAT_MIN_MS    1
#define SR_LAT_MAX_MS    12
#define SR_SLOW_MAX_MS   150     /* slow spells: around the election timeout (100-200 ms) */
#define SR_DUP_P         0.01
#define SR_CRASH_P       0.004   /* per persisting ready, in chaos windows */
#define SR_CHAOS_MS      3000
#define SR_LIVE_MS       10000   /* calm: the liveness deadline */
#define SR_PAYLOAD_MAX   200
#define SR_SNAP_PAD_MAX  64

#define SIM_LEDGER_JOBS_DEFAULT 256
#define SIM_LEDGER_JOBS_MAX     8192

/* Normal entries with --ledger: proposal id (8 bytes), a tag, the payload. */
#define SR_TAG_FILLER    0
#define SR_TAG_BLOCK     1
#define SR_ENTRY_PREFIX  9
/* The ledger part of a snapshot (--ledger), after the state machine's 24 bytes. */
#define SR_SNAP_LEDGER   (8 + 2 * LEDGER_HASH_BYTES)

enum sr_ev_type {
	SR_EV_TICK,
	SR_EV_DELIVER,
	SR_EV_RESTART,
	SR_EV_ACTION,
	SR_EV_HEAL,
	SR_EV_LEDGER, /* a submit or an answer of the ledger layer */
	SR_EV_PUMP,   /* --batch-steps: the end of a node's loop iteration */
};

struct sr_ev {
	uint64_t at_ms, seq, gen;
	uint8_t *buf;
	uint32_t len, node;
	uint8_t type;
};

/* What survives a crash. */
struct sr_store {
	struct raft_hard_state hs;
	struct raft_snapshot snap; /* data owned */
	struct raft_entry *ents;   /* data owned */
	size_t n, cap;
};

/* The toy state machine: a hash chain over applied entries. */
struct sr_sm {
	uint64_t index, count, hash;
};

struct sr_node {
	uint64_t id;
	struct raft *r;
	uint64_t gen;
	int up;
	uint32_t group;
	struct sr_store st;
	struct sr_sm sm;
	uint64_t snap_every;
	int dirty; /* --batch-steps: messages stepped, not pumped yet */
};

/* The committed history, by index (1-based; slot 0 unused). */
struct sr_hist {
	uint64_t term, hash, chain, pid;
	uint64_t lheight; /* --ledger: the ledger's height once this entry is applied */
	uint8_t type;
};

/* Log matching: every (index, term) ever persisted, with its bytes' hash and previous term. */
struct sr_lm {
	uint64_t index, term, hash, prev_term;
};

struct sr {
	uint64_t seed, steps_max, steps;
	uint32_t voters, nnodes;
	double loss;
	int verbose;
	struct sim_rng rng;
	uint64_t now_ms, seq;
	struct sr_ev *heap;
	size_t nheap, capheap;
	struct sr_node nodes[SR_NODES_MAX + 1];
	struct sr_hist *hist;
	size_t nhist, caphist;
	struct sr_lm *lm; /* open addressing on (index, term) */
	size_t nlm, caplm;
	uint64_t *leader_of; /* by term */
	size_t capterm;
	uint8_t *pid_seen;
	uint64_t next_pid;
	int calm, partitioned;
	int pre_vote, check_quorum;
	uint32_t lat_max_ms;     /* SR_LAT_MAX_MS, or more during a slow spell */
	uint64_t calm_start_ms, calm_pid;
	/* Measurements. */
	uint64_t first_leader_ms, proposed, refused, crashes, crashes_persist, partitions;
	uint64_t slow_spells, transfers, conf_changes, snapshots, sent, lost, dups, cut, to_down;
	uint64_t live_windows, live_sum_ms, live_max_ms, max_term, leaders, installs;
	uint64_t calm_index; /* first history index proposed in this calm window */
	uint64_t chaos_end_ms;
	char calm_why[160]; /* what the calm window still waits for */
	struct sim_ledger *ledger; /* --ledger; NULL without */
	uint32_t ledger_jobs;      /* --ledger-jobs; 0: no ledger */
	int dense_fillers;         /* --dense-fillers: as many fillers as without the ledger */
	int batch_steps;           /* --batch-steps: step every message of an instant, pump once */
	int poison;                /* --poison: poison entries, older leaders (sim-ledger.c) */
	int catchup;               /* --catchup: blocks tables, the shipped catch-up (sim-ledger.c) */
	uint64_t batch_msgs, batch_pumps; /* --batch-steps: messages stepped, pumps they got */
	char fail[512];
	int failed;
};

/* ---------------------------------------------------------------- sim-raft.c */

void sr_failf(struct sr *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sr_push(struct sr *s, struct sr_ev ev);
/* The up node leading the highest term, or NULL. */
struct sr_node *sr_leader(struct sr *s);
/* Proposes pid + tag + data at leader l; 0 or a raft error. */
int sr_propose_tagged(struct sr *s, struct sr_node *l, uint8_t tag, const uint8_t *data,
                      uint32_t len);

/* ---------------------------------------------------------------- sim-ledger.c */

/*
 * The ledger layer (--ledger): a pool of signed completions, submitters
 * with outboxes, every node's ledger fed by its committed entries, and the
 * ledger invariants.  Every hook is a no-op when s->ledger is NULL.
 */
int sim_ledger_create(struct sr *s, uint32_t njobs);
void sim_ledger_free(struct sr *s);
/* n booted (or installed a snapshot): its ledger is rebuilt to the snapshot's height. */
void sim_ledger_boot(struct sr *s, struct sr_node *n, const struct raft_snapshot *snap);
void sim_ledger_crash(struct sr *s, struct sr_node *n);
/* --catchup: n's ledger holds committed entries behind Raft (no compaction meanwhile). */
int sim_ledger_held(const struct sr *s, const struct sr_node *n);
/* A durable Raft write on n: the blocks written before it are durable too. */
void sim_ledger_synced(struct sr *s, struct sr_node *n);
/* A committed normal entry, in log order. */
void sim_ledger_apply(struct sr *s, struct sr_node *n, const struct raft_entry *e);
uint64_t sim_ledger_height(const struct sr *s, const struct sr_node *n);
/* Writes the ledger part of n's snapshot (SR_SNAP_LEDGER bytes) into out. */
void sim_ledger_snapshot(struct sr *s, struct sr_node *n, uint8_t *out);
/* After n's ready loop: the leader answers and (build) pipelines blocks. */
void sim_ledger_pump(struct sr *s, struct sr_node *n, int build);
/* Every action event: jobs complete, outboxes re-send, replays. */
void sim_ledger_action(struct sr *s);
void sim_ledger_deliver(struct sr *s, struct sr_ev *ev);
/* After every event: every up node's ledger against the one chain. */
void sim_ledger_check(struct sr *s);
/* Liveness: every released job credited on every voter of conf and answered. */
int sim_ledger_calm_done(struct sr *s, const struct raft_conf *conf, char *why, size_t whylen);
/* End of a run: the chain audited offline with ledger_verify_chain. */
void sim_ledger_finish(struct sr *s);
void sim_ledger_report(const struct sr *s);

#endif

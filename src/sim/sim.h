/*
 * chorus-sim: many node cores in one process, in virtual time, over a
 * simulated network, all driven by one seed.
 *
 * Determinism is the point: the same seed and arguments give byte-identical
 * output, so a failing seed is a reproducible bug report.  Nothing here reads
 * the real clock or a random device while a run is in progress; keys, core
 * PRNG seeds, latencies and losses all come from one xoshiro256** stream.
 * Events (frame deliveries, node timers, node starts) are ordered by virtual
 * time, then by insertion sequence, so ties are broken the same way on every
 * run.
 */
#ifndef CHORUS_SIM_H
#define CHORUS_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chorus/core.h"

/* Bounds of the simulator itself. */
#define SIM_NODES_MAX      CHORUS_MEMBERS_MAX
#define SIM_GENS_MAX       8                 /* starts (generations) per node */
#define SIM_EPOCH_MS       1700000000000ULL  /* virtual wall clock at t = 0 (start_ms) */
#define SIM_T0_MS          1000ULL           /* first virtual monotonic instant */
#define SIM_TIMER_SPINS    1000              /* ticks in a row at one instant = a stuck core */
#define SIM_LATENCY_MAX_MS 60000
#define SIM_FRAME_TYPES    32                /* traffic is counted per frame type byte */

/* ---------------------------------------------------------------- chorus-sim.c */

/* One subcommand: name, one-line summary, entry point, its options for --help. */
struct sim_cmd {
	const char *name;
	const char *summary;
	int (*main_fn)(int argc, char **argv);
	void (*usage_fn)(FILE *f);
};

/* Option parsing shared by subcommands: all return 0 or -1 after printing why. */
int sim_parse_u64(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out);
int sim_parse_prob(const char *opt, const char *arg, double *out);
int sim_parse_latency(const char *opt, const char *arg, uint32_t *min_ms, uint32_t *max_ms);
/* Seconds of real time since an arbitrary origin: only for the `wall:` line. */
double sim_wall_s(void);
double sim_cpu_s(void);

/* ---------------------------------------------------------------- sim-crypto.c */

extern const struct core_crypto sim_crypto_fast;

/* ---------------------------------------------------------------- sim-net.c */

struct sim_rng {
	uint64_t s[4];
};

enum sim_event_type {
	SIM_EV_DELIVER = 0,
	SIM_EV_TIMER = 1,
	SIM_EV_START = 2,
	SIM_EV_CALL = 3,   /* the scenario calls into a node's core (sim_net_schedule_call) */
};

struct sim_event {
	uint64_t at_ms;
	uint64_t seq;     /* insertion order: the tie-breaker */
	uint64_t gen;     /* SIM_EV_TIMER: the node's timer generation when queued */
	uint64_t arg;     /* SIM_EV_CALL: the scenario's argument */
	uint8_t *frame;   /* SIM_EV_DELIVER: owned copy */
	uint32_t len;
	uint32_t node;    /* destination / timer owner / node to start */
	uint32_t from;
	uint8_t type;
};

struct sim;

struct sim_node {
	struct sim *sim;
	uint32_t index;
	struct core *core;         /* NULL while down */
	struct core_env env;       /* ctx = this node */
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
	char addr[32];
	int started;               /* has been up at least once */
	int left;                  /* core_leave() was called on this generation */
	uint32_t group;            /* partition group: frames across groups are dropped */
	uint64_t timer_at_ms;
	uint64_t timer_gen;
	int timer_pending;
	unsigned timer_spins;
	/* Generations: start_ms of each start, and the truth about our incarnation. */
	uint64_t start_ms[SIM_GENS_MAX];
	uint64_t inc[SIM_GENS_MAX];
	unsigned ngens;
	size_t self_index;         /* cached index of the self entry in core_member_get() */
	struct core_stats stats_past;  /* summed over destroyed generations */
};

struct sim_params {
	uint64_t seed;
	uint32_t nodes;
	double loss;
	uint32_t latency_min_ms;
	uint32_t latency_max_ms;
	int verbose;               /* 0 silent, 1 info, 2 debug, 3 trace */
	const struct core_crypto *crypto;
};

struct sim_hooks {
	void *ctx;
	/* A node is due to start (scheduled with sim_net_schedule_start()). */
	void (*start_cb)(struct sim *sim, struct sim_node *node);
	/* After every call into a core (start, join, recv, tick, leave). */
	void (*step_cb)(struct sim *sim, struct sim_node *node);
	/* The core's member_cb, with the observer resolved. */
	void (*member_cb)(struct sim *sim, struct sim_node *observer, const struct member_view *mv,
	                  int old_state, int forgotten);
	/* Optional: before core_create(), to set a node's roles, capabilities, capacity. */
	void (*config_cb)(struct sim *sim, struct sim_node *node, struct core_config *cfg);
	/* Optional: right after core_create(), before any frame: to set the node's keyring. */
	void (*created_cb)(struct sim *sim, struct sim_node *node);
	/*
	 * A SIM_EV_CALL event fell due (the node may be down: check node->core).
	 * It may call into this node's core only; the net then queues the core's
	 * deadline and calls step_cb, as after any other call.
	 */
	void (*call_cb)(struct sim *sim, struct sim_node *node, uint64_t arg);
	/*
	 * The core's job effects (struct core_env), with the node resolved.  Each
	 * is installed in a node's env only when set here: a node without run_cb
	 * never offers.  Like all core callbacks they must not call into the core.
	 */
	void (*job_cb)(struct sim *sim, struct sim_node *node, const struct job_view *jv);
	int (*run_cb)(struct sim *sim, struct sim_node *node, const char *job_id, const char *kind,
	              const uint8_t *payload, size_t len, uint32_t timeout_ms);
	void (*kill_cb)(struct sim *sim, struct sim_node *node, const char *job_id);
	void (*ack_cb)(struct sim *sim, struct sim_node *node, const struct job_ack *ack);
	/* The persist effects (struct core_env): the scenario is the node's disk. */
	void (*attempt_cb)(struct sim *sim, struct sim_node *node, const struct job_view *jv);
	void (*outcome_put_cb)(struct sim *sim, struct sim_node *node, const struct work_outcome *o);
	int (*outcome_get_cb)(struct sim *sim, struct sim_node *node, const char *job_id,
	                      struct work_outcome *out);
};

struct sim {
	struct sim_params p;
	struct sim_hooks hooks;
	struct sim_rng rng;
	uint64_t now_ms;
	uint64_t seq;
	struct sim_event *heap;
	size_t heap_len, heap_cap;
	struct sim_node *nodes;
	/* Counters. */
	uint64_t steps, frames_sent, frames_delivered, drop_loss, drop_partition, drop_down;
	uint64_t timer_spins_total;
	uint64_t type_frames[SIM_FRAME_TYPES], type_bytes[SIM_FRAME_TYPES];
	/* The first broken invariant; the run stops as soon as it is set. */
	char fail[512];
	int failed;
};

void sim_rng_seed(struct sim_rng *rng, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *rng);
uint64_t sim_rng_below(struct sim_rng *rng, uint64_t n);  /* uniform in [0, n), n > 0 */
double sim_rng_unit(struct sim_rng *rng);                 /* uniform in [0, 1) */

int sim_net_init(struct sim *sim, const struct sim_params *p, const struct sim_hooks *hooks);
void sim_net_free(struct sim *sim);
void sim_net_failf(struct sim *sim, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_net_schedule_start(struct sim *sim, uint32_t node, uint64_t at_ms);
/* At at_ms, hooks.call_cb(sim, node, arg). */
void sim_net_schedule_call(struct sim *sim, uint32_t node, uint64_t at_ms, uint64_t arg);
/* Bring a node up (a new generation, start_ms from the virtual clock) and join seeds. */
int sim_net_up(struct sim *sim, uint32_t node, const uint32_t *seeds, size_t nseeds);
void sim_net_crash(struct sim *sim, uint32_t node);
void sim_net_leave(struct sim *sim, uint32_t node);
void sim_net_set_group(struct sim *sim, uint32_t node, uint32_t group);
/*
 * Process events up to until_ms.  After every event done(sim, arg) is asked
 * (when given); returns 1 when it said yes, 0 at the deadline (the clock is
 * then until_ms), -1 when an invariant broke.
 */
int sim_net_run(struct sim *sim, uint64_t until_ms, int (*done)(struct sim *, void *), void *arg);
/* Self entry of an up node (cached index, rescanned when it moved); -1 when missing. */
int sim_net_self(struct sim_node *n, struct member_view *out);
/* Name of a frame type byte (the core's wire names), for traffic reports. */
const char *sim_net_type_name(unsigned type);
/* Stats of all generations of a node. */
void sim_net_stats(const struct sim_node *n, struct core_stats *out);
/* Frames and bytes sent by all nodes, all generations. */
void sim_net_sum_stats(const struct sim *sim, uint64_t *frames, uint64_t *bytes);
/* Index of the node with this public key, or -1 (a linear scan: for reports and checks). */
int64_t sim_net_node_of(const struct sim *sim, const uint8_t pk[CHORUS_PK_BYTES]);
/* 1-based generation of a node with this start_ms; 0 when it never started so. */
unsigned sim_net_gen_of(const struct sim_node *n, uint64_t start_ms);
/* Run until every up node lists every up node ALIVE, checking every slice_ms; 1, 0 at the deadline, -1. */
int sim_net_run_converge(struct sim *sim, uint64_t until_ms, uint64_t slice_ms);
/* "  by_type (per node per s): ..." since a snapshot of sim->type_frames/type_bytes (or all). */
void sim_net_print_types(const struct sim *sim, const uint64_t *f0, const uint64_t *b0,
                         uint64_t span_ms);

/* ---------------------------------------------------------------- sim-membership.c */

int sim_admission_main(int argc, char **argv);
void sim_admission_usage(FILE *f);
int sim_membership_main(int argc, char **argv);
void sim_membership_usage(FILE *f);

/* ---------------------------------------------------------------- sim-dispatch.c */

int sim_dispatch_main(int argc, char **argv);
void sim_dispatch_usage(FILE *f);
/* sim-queue.c */
int sim_queue_main(int argc, char **argv);
void sim_queue_usage(FILE *f);
/* ---------------------------------------------------------------- sim-raft.c */

int sim_raft_main(int argc, char **argv);
void sim_raft_usage(FILE *f);
/* sim-bootstrap.c */
int sim_bootstrap_main(int argc, char **argv);
void sim_bootstrap_usage(FILE *f);

#endif

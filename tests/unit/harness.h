/*
 * A small in-memory cluster for core unit tests: N cores, a FIFO of frames
 * in flight with a fixed latency, virtual time, optional loss and a "down"
 * flag per node.  Real ed25519 signatures: the unit tests check the real
 * thing; the simulator is where scale lives.
 */
#ifndef CHORUS_TEST_HARNESS_H
#define CHORUS_TEST_HARNESS_H

#include <stdint.h>

#include "chorus/core.h"

#define H_NODES_MAX 16
#define H_FRAMES_MAX 65536

struct h_frame {
	uint64_t at_ms;
	int to;
	uint8_t *buf;
	size_t len;
};

#define H_RUNS_MAX 256
#define H_JOBS_MAX 64

/* A job a worker was asked to run; done when at_ms passes (unless the worker stalls). */
struct h_run {
	int node;
	char id[CHORUS_JOB_ID_HEX + 1];
	char kind[CHORUS_KIND_MAX + 1];
	uint8_t payload[256];
	size_t len;
	uint64_t at_ms;
	int active;
	int killed;
};

/* The last job_cb view of each client job, by id. */
struct h_job {
	int node;
	char id[CHORUS_JOB_ID_HEX + 1];
	struct job_view v;
	uint8_t result[256];
	size_t result_len;
	int finals; /* job_cb calls with a final state: must stay 1 */
};

/* A row of a worker's outcome table (env.outcome_*), when the harness keeps them. */
#define H_OUTCOMES_MAX 64
struct h_outcome {
	struct work_outcome o;
	char *receipt; /* owned copy */
};

struct h_node {
	struct core *core;
	struct h_outcome outcomes[H_OUTCOMES_MAX]; /* survives h_start: it is the node's disk */
	int noutcomes;
	const char *caps[4]; /* job kinds this node runs (NULL-terminated); none: not a worker */
	uint32_t capacity;
	int stall;           /* runs never finish (a stopped worker) */
	int runs;            /* run_cb calls */
	int kills;           /* kill_cb calls */
	int acks;            /* completion acks seen */
	int own_acks;        /* of them, this node's own successes (seq and floor below, first 64) */
	uint64_t ack_seq[64], ack_floor[64];
	int keyring_saves;   /* keyring_cb calls: the ring changed */
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
	char addr[64];
	int down;
	int logs_suspect; /* event=suspect lines about anyone */
	int apps;         /* app frames (raft, ledger) handed to app_cb */
	uint8_t app_last[256]; /* the first bytes of the last app body */
	size_t app_last_len;
	uint8_t app_from[CHORUS_PK_BYTES];
	const char *tags[4]; /* "KEY=VALUE" tags in its record (NULL-terminated), set before h_start */
	/* Batch signatures (env.flush_cb): every node's core_flush ends each step, as a loop turn. */
	int batch_sign;      /* set before h_start */
	int acks_checked;    /* acks seen whose entry checks (ledger_entry_check), with a receipt */
	unsigned ack_count_max, receipt_count_max; /* the largest batches their authenticators name */
};

struct harness {
	struct h_node nodes[H_NODES_MAX];
	int n;
	uint64_t now_ms;
	uint32_t latency_ms;
	struct h_frame *q;
	size_t qn;
	uint64_t rng;
	double loss;
	int verbose;
	int (*tap)(void *ctx, int from, int to, const uint8_t *buf, size_t len); /* 0: drop */
	void *tap_ctx;
	uint32_t run_ms;     /* how long a run takes (default 5) */
	struct h_run runs[H_RUNS_MAX];
	struct h_job jobs[H_JOBS_MAX];
	int njobs;
	int outcome_tables; /* set before h_start: workers keep outcome tables */
	/* Optional: every chunk of live output a client accepted (env.output_cb). */
	void (*output)(struct harness *h, int node, const struct job_output *o);
};

/* Job helpers: submit from node i; the job's last view (NULL if never reported). */
int h_submit(struct harness *h, int i, const char *kind, const char *payload, uint64_t nonce,
             char id[CHORUS_JOB_ID_HEX + 1]);
struct h_job *h_job(struct harness *h, const char *id);
/* 1 when the job is final. */
int h_job_final(struct harness *h, void *id);

void h_init(struct harness *h, int n, uint64_t seed);
void h_free(struct harness *h);
int h_start(struct harness *h, int i, uint64_t start_ms); /* creates node i's core */
void h_run(struct harness *h, uint64_t until_ms);
/* Runs until pred holds or until_ms passes; returns 1 if pred held. */
int h_run_until(struct harness *h, uint64_t until_ms, int (*pred)(struct harness *h, void *ctx),
                void *ctx);
/* Node `of`'s view of node `about`'s state, or -1 if unknown. */
int h_state(struct harness *h, int of, int about);
uint64_t h_inc(struct harness *h, int of, int about);
int h_all_see_alive(struct harness *h, void *ctx);
void h_inject(struct harness *h, int to, const uint8_t *buf, size_t len);

/*
 * A frame number for a frame a test forges as h's nodes would send it now:
 * receivers refuse frames sent before they started (wire.c), and the low
 * bits keep it above what the sender used this millisecond.
 */
#define H_SEQ(h, x) ((h)->now_ms << CHORUS_SEQ_CLOCK_SHIFT | 0x8000u | (uint64_t)(x))

#endif

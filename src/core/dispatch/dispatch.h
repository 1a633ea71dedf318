/*
 * dispatch: jobs from client to worker and back (docs/dispatch.md).  The
 * client side (dispatch.c, acks.c, output.c), the worker side (work.c),
 * the constraint (where.c) and the queue (queue.c).  This header is what
 * core.c needs: the state it keeps and the entry points it calls;
 * dispatch-internal.h is for dispatch's own files.
 */
#ifndef CHORUS_CORE_DISPATCH_H
#define CHORUS_CORE_DISPATCH_H

#include "base/base.h"

struct core;
struct wire_frame;
struct cjob;
struct work;
struct acks_open;
struct qres;
struct qusage;
struct qkind;

/* ---------------------------------------------------------------- dispatch.c */
struct penalty {
	uint8_t worker[CHORUS_PK_BYTES];
	uint64_t until_ms;
	unsigned failures;
};
/* Alive members that run a kind, counted once per member-table epoch (not per job). */
#define DISPATCH_ELIGIBLE_CACHE 8
struct dispatch_eligible {
	char kind[CHORUS_KIND_MAX + 1];
	uint64_t epoch;
	unsigned n;
	int valid;
};

struct dispatch {
	struct dispatch_eligible eligible[DISPATCH_ELIGIBLE_CACHE];
	unsigned eligible_next; /* the slot a new kind replaces (round robin) */
	struct cjob **buckets;
	struct cjob *all; /* every job in flight, newest first */
	size_t n;
	uint64_t next_ms; /* no job deadline before this */
	struct penalty penalties[CHORUS_PENALTY_MAX];
	uint8_t *scratch; /* one decoded result or payload */
	uint64_t next_seq; /* the queue: submit order */
	size_t waiting;   /* jobs collecting offers, backing off or queued (CHORUS_QUEUED_MAX) */
};

/* This client's open acks and the seq/floor each new one carries (acks.c). */
struct acks {
	struct acks_open *v;     /* v[head .. head + n): seq order */
	size_t head, n, cap, nopen;
	uint64_t last_seq;       /* the last seq given */
	uint64_t base_seq, base_ms; /* the seq clock: wall time at the hand-over, then monotonic */
	int have_base;
	uint64_t pin;            /* floor at most this while pin_refs > 0 */
	size_t pin_refs;         /* resumed jobs not final, and their open acks */
	uint64_t over;           /* the first ack not tracked (UINT64_MAX: none) */
};
int acks_init(struct core *core);
void acks_free(struct core *core);
const char *acks_check(const struct core *core);

int dispatch_init(struct core *core);
void dispatch_free(struct core *core);
void dispatch_tick(struct core *core, uint64_t now_ms);
uint64_t dispatch_next_deadline_ms(const struct core *core);
void dispatch_on_member(struct core *core, long i, uint64_t now_ms);
void dispatch_on_offer(struct core *core, const struct wire_frame *f, const cJSON *body,
                       uint64_t now_ms);
void dispatch_on_accept(struct core *core, const struct wire_frame *f, const cJSON *body,
                        uint64_t now_ms);
void dispatch_on_refuse(struct core *core, const struct wire_frame *f, const cJSON *body,
                        uint64_t now_ms);
void dispatch_on_receipt(struct core *core, const struct wire_frame *f, const cJSON *body,
                         uint64_t now_ms);
void dispatch_on_status(struct core *core, const struct wire_frame *f, const cJSON *body,
                        uint64_t now_ms);
const char *dispatch_check(const struct core *core);

/* ---------------------------------------------------------------- output.c */
/* The client's side of live output: which chunks to keep (env.output_cb), which to drop. */
void output_on_chunk(struct core *core, const struct wire_frame *f, const cJSON *body,
                     uint64_t now_ms);

/* ---------------------------------------------------------------- work.c */
struct works {
	struct work **buckets;
	size_t n;
	size_t running;
	size_t bytes; /* receipt bodies kept */
	struct work *oldest_done;
	struct work *newest_done;
	struct seen *requests; /* request and ack signatures already handled */
	int load_dirty;
	uint64_t next_load_ms;
	struct work *flush_head, *flush_tail; /* works with a partial chunk, by flush_ms */
	uint32_t capacity_high; /* the highest capacity since start (core_set_caps may lower it) */
	struct batchsig_cache *roots; /* batch roots whose signatures we verified (relayed acks) */
};
int work_init(struct core *core);
void work_free(struct core *core);
void work_tick(struct core *core, uint64_t now_ms);
uint64_t work_next_deadline_ms(const struct core *core);
void work_on_request(struct core *core, const struct wire_frame *f, const cJSON *body,
                     uint64_t now_ms);
void work_on_dispatch(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms);
void work_on_cancel(struct core *core, const struct wire_frame *f, const cJSON *body,
                    uint64_t now_ms);
void work_on_ack(struct core *core, const struct wire_frame *f, const cJSON *body,
                 uint64_t now_ms);
void work_on_status(struct core *core, const struct wire_frame *f, const cJSON *body,
                    uint64_t now_ms);
const char *work_check(const struct core *core);

/* ---------------------------------------------------------------- queue.c */
/*
 * The queue (docs/dispatch.md, "The queue").  Worker side: one reservation
 * per (client, kind) waiting here, the pulls out (slots held for a client
 * until it answers or slot_hold_ms passes), and each client's slot-time
 * used here, for fair share.  Client side: per kind with jobs queued, the
 * workers that hold a reservation for it.
 */
#define QUEUE_HOLDS_MAX 64  /* pulls out at once on one worker */
struct qhold {
	uint8_t client[CHORUS_PK_BYTES];
	char kind[CHORUS_KIND_MAX + 1];
	uint64_t deadline_ms;
	uint32_t charge_ms;    /* charged to the client when pulled (its usual slot-time) */
};
/* Slot-time used here per weight (ms / weight): the fair share's virtual time. */
struct qweight {
	uint8_t client[CHORUS_PK_BYTES];
	unsigned weight;
};
struct queue {
	struct qres *res;      /* worker: reservations (grows to CHORUS_RESERVATIONS_MAX) */
	size_t nres, capres;
	struct qhold holds[QUEUE_HOLDS_MAX];
	unsigned nholds;
	struct qusage *usage;  /* worker: clients that reserve or run here */
	size_t nusage, capusage;
	struct qweight weights[CHORUS_SHARES_MAX];
	unsigned nweights;
	struct qkind *kinds;   /* client: kinds with jobs queued (QUEUE_KINDS_MAX) */
	unsigned nkinds;
	size_t queued;         /* client: our jobs in state queued */
	uint64_t next_ms;      /* the earliest hold expiry or ask refresh */
};
int queue_init(struct core *core);
void queue_free(struct core *core);
void queue_tick(struct core *core, uint64_t now_ms);
uint64_t queue_next_deadline_ms(const struct core *core);
void queue_on_member(struct core *core, long i, uint64_t now_ms);
const char *queue_check(const struct core *core);
void queue_on_reserve(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms);
void queue_on_slot(struct core *core, const struct wire_frame *f, const cJSON *body,
                   uint64_t now_ms);
void queue_on_unreserve(struct core *core, const struct wire_frame *f, const cJSON *body,
                        uint64_t now_ms);

#endif

/*
 * Internals of dispatch, shared by its own files only (build check:
 * contrib/check-layout.sh).  core.c and the rest use dispatch.h.
 */
#ifndef CHORUS_CORE_DISPATCH_INTERNAL_H
#define CHORUS_CORE_DISPATCH_INTERNAL_H

#include "core-internal.h"
#include "dispatch/jobmsg.h"

/* ---------------------------------------------------------------- dispatch.c */
/*
 * The client side: one struct cjob per job not yet final, in a chained hash
 * on the id.  A job is in one phase at a time and has one deadline.
 */
enum cjob_phase {
	CJOB_COLLECT = 0, /* request out, offers coming in until the window closes */
	CJOB_DIAL = 1,    /* dispatched to a worker, waiting for accept or refuse */
	CJOB_RUN = 2,     /* accepted, waiting for the receipt */
	CJOB_BACKOFF = 3, /* offers ran out; re-broadcast at the deadline */
	CJOB_QUERY = 4,   /* resumed: asking the worker of the last attempt what became of it */
	CJOB_QUEUED = 5,  /* waiting for a worker's pull (queue.c); deadline: the queue timeout */
};
struct offer {
	uint8_t worker[CHORUS_PK_BYTES];
	char addr[CHORUS_ADDR_MAX + 1];
	uint32_t load;
	uint32_t capacity;
	double score; /* lower is better */
	int tried;
	uint64_t gen; /* the worker's generation that offered (its frame's) */
};
struct cjob {
	struct cjob *next;  /* hash chain */
	struct cjob *lprev; /* list of all jobs in flight: scans cost n, not the buckets */
	struct cjob *lnext;
	uint8_t id[CHORUS_JOB_ID_BYTES];
	char idhex[CHORUS_JOB_ID_HEX + 1];
	struct jreq req;
	char req_text[JOBMSG_TEXT_MAX + 1];
	size_t req_len;
	uint8_t req_sig[CHORUS_SIG_BYTES];
	uint8_t *payload;
	enum job_state state;
	enum cjob_phase phase;
	uint64_t deadline_ms;
	uint64_t submit_ms;
	uint64_t attempt_ms;  /* when the current attempt started */
	uint64_t run_deadline_ms; /* RUN: no receipt by then is a timeout */
	int dial_resent;      /* DIAL: the dispatch went out twice already */
	unsigned eligible;    /* workers whose records advertise the kind, at broadcast */
	unsigned offers_seen; /* over all rounds */
	struct offer offers[CHORUS_JOB_OFFERS_MAX];
	unsigned noffers;
	unsigned nattempts;
	struct job_attempt attempts[CHORUS_JOB_ATTEMPTS_MAX];
	uint8_t attempt_worker[CHORUS_JOB_ATTEMPTS_MAX][CHORUS_PK_BYTES];
	char cur_addr[CHORUS_ADDR_MAX + 1]; /* the worker of the current attempt */
	uint64_t cur_gen;     /* its generation that offered (0: unknown): the dispatch names it */
	uint64_t query_since_ms; /* QUERY: when the resumed job started asking */
	int asked;            /* resumed, asked first: no broadcast (round 0) until a failover */
	int pinned;           /* resumed with attempts: holds the acks' pin until its ack settles */
	char reason[CHORUS_JOB_REASON_MAX];
	/* The queue (queue.c): order, bounds and time spent waiting. */
	uint8_t priority;
	uint32_t queue_timeout_ms;
	uint64_t seq;              /* submit order: FIFO within a priority */
	uint64_t queue_deadline_ms;/* submit + queue timeout: still waiting then fails */
	uint64_t queued_since_ms;  /* QUEUED: when it entered */
	uint64_t queued_ms;        /* time spent queued before that */
	unsigned reserves;         /* reservation answers this round */
	/* Live output (output.c): the attempt streaming, and the next offset due per stream. */
	unsigned out_attempt;
	uint64_t out_next[2];
};
#define CJOB_BUCKETS 16384 /* power of two, >= CHORUS_JOBS_INFLIGHT_MAX */
_Static_assert(CJOB_BUCKETS >= CHORUS_JOBS_INFLIGHT_MAX, "hash load factor at most 1");

/* Sends body to every alive member (at most CHORUS_BROADCAST_DIRECT of them). */
int dispatch_broadcast(struct core *core, int type, const char *body_head, const char *body_tail,
                       const char *kind_filter, const uint8_t *skip);
/* The job a worker's message about attempt `a` is for, if pk is that attempt's worker; or NULL. */
struct cjob *dispatch_job_of_attempt(struct core *core, const uint8_t id[CHORUS_JOB_ID_BYTES],
                                     unsigned a, const uint8_t pk[CHORUS_PK_BYTES]);

struct acks_open {
	uint64_t seq;
	uint8_t settled; /* the driver said so; leaves once it heads the FIFO */
	uint8_t pinned;  /* the ack of a job resumed after a restart (the pin) */
};
uint64_t acks_next_seq(struct core *core, uint64_t now_ms);
uint64_t acks_floor(const struct core *core, uint64_t own);
void acks_open(struct core *core, uint64_t seq, int pinned);
void acks_pin_job(struct core *core);
void acks_unpin_job(struct core *core);

/* ---------------------------------------------------------------- work.c */
/* The worker side: jobs accepted here, running or done (kept for duplicates). */
struct work {
	struct work *next;  /* hash chain */
	struct work *older; /* done list, oldest first */
	struct work *newer;
	uint8_t id[CHORUS_JOB_ID_BYTES];
	char idhex[CHORUS_JOB_ID_HEX + 1];
	uint8_t client[CHORUS_PK_BYTES];
	char client_addr[CHORUS_ADDR_MAX + 1];
	char kind[CHORUS_KIND_MAX + 1];
	int done;
	char *receipt; /* the whole receipt body, resent on a duplicate dispatch */
	size_t receipt_len;
	uint64_t start_ms;    /* the queue's fair share: slot-time used by its client */
	uint32_t charged_ms;  /* of it, charged when the slot was pulled for it (queue.c) */
	/* Live output (docs/dispatch.md): the attempt it runs as, and what waits to be sent. */
	unsigned attempt;
	struct work_output *out;  /* NULL until the job writes; freed when it is done */
	struct work *flush_next;  /* in works.flush_head's list while a partial chunk waits */
	uint64_t flush_ms;        /* when that partial chunk is sent */
	int flush_queued;
	int signing;              /* ended: its receipt waits for the turn's signature (sigbatch.c) */
};
/* One stream of a running job: its position and the partial chunk not sent yet. */
struct work_stream {
	uint64_t pos;             /* bytes the job wrote to it so far */
	uint16_t pend_len;
	uint8_t pend[CHORUS_OUTPUT_CHUNK_MAX];
};
struct work_output {
	struct work_stream s[2];  /* stdout, stderr */
};
#define WORK_BUCKETS 8192 /* power of two */
/* 1 the first time a request/ack signature is seen here, 0 after. */
int work_first_sight(struct core *core, const uint8_t sig[CHORUS_SIG_BYTES]);
int work_first_sight_id(struct core *core, uint64_t id); /* a batch-signed text's (jobmsg_auth_id) */
/* 1 if this node runs kind (a capability and a runner): it offers, to others and to itself. */
int work_runs_kind(const struct core *core, const char *kind);
/* An authentic completion ack: log it, hand it to the driver. */
void work_ack_seen(struct core *core, const char *text, size_t len, const struct batchsig *auth,
                   const char *rtext, size_t rlen, const struct batchsig *rauth,
                   const struct jack *a);

/* ---------------------------------------------------------------- where.c */
/* Does the record of member pk (ours for our key) meet the constraint?  0 if unknown. */
int where_member_meets(const struct core *core, const uint8_t pk[CHORUS_PK_BYTES],
                       const struct chorus_tag *where, unsigned nwhere);
/*
 * Alive members (us too, when we run it) that run kind and meet the
 * constraint.  When there are none, why[] says so and what the members
 * that run kind have instead (the job's failure reason).
 */
unsigned where_eligible(const struct core *core, const char *kind, const struct chorus_tag *where,
                        unsigned nwhere, char *why, size_t cap);

/* ---------------------------------------------------------------- queue.c */
#define QUEUE_KINDS_MAX 32  /* kinds with jobs queued on one client */
#define QUEUE_KIND_RES_MAX 64 /* workers remembered as holding one kind's reservation */
struct qres {
	uint8_t client[CHORUS_PK_BYTES];
	char addr[CHORUS_ADDR_MAX + 1];
	uint64_t gen;          /* the client's life that reserved */
	char kind[CHORUS_KIND_MAX + 1];
	uint32_t want;         /* the client's jobs waiting (a hint, >= 1): pulls out at most */
	uint32_t pulls;        /* pulls out now */
	uint64_t since_ms;
	uint64_t last_pull_ms; /* ties between one client's kinds: least recently pulled */
};
struct qusage {
	uint8_t client[CHORUS_PK_BYTES];
	double vtime;
	double est_ms;         /* its usual slot-time here (moving average): a pull's charge */
	uint32_t running;      /* its works running here */
};
struct qkres {
	uint8_t worker[CHORUS_PK_BYTES];
	uint64_t gen;
	uint32_t load, cap, ahead;
};
struct qkind {
	char kind[CHORUS_KIND_MAX + 1];
	unsigned queued;       /* our jobs of the kind in state queued */
	uint64_t next_ask_ms;  /* the refresh: ask every alive member again (lost frames) */
	struct qkres res[QUEUE_KIND_RES_MAX];
	unsigned nres;
	uint64_t wait_epoch;   /* the members' epoch the wait below was counted at (+1) */
	struct job_wait wait;
};
/* Worker: slots free for anyone (not running, not held for a pulled client). */
size_t queue_free_slots(const struct core *core);
/* Worker: a request we cannot offer for: keep (or refresh) its client's reservation. */
void queue_reserve(struct core *core, const struct jreq *r, uint64_t now_ms);
/*
 * Worker: may this client's dispatch of kind start now?  Consumes the slot
 * held for it, if any (*charged: what its pull charged to the client).
 */
int queue_admit(struct core *core, const uint8_t client[CHORUS_PK_BYTES], const char *kind,
                uint32_t *charged);
/* Worker: a work started or ended here (slot-time, for fair share); an end pulls. */
void queue_work_started(struct core *core, const uint8_t client[CHORUS_PK_BYTES]);
void queue_work_ended(struct core *core, const uint8_t client[CHORUS_PK_BYTES],
                      uint64_t slot_ms, uint32_t charged_ms, uint64_t now_ms);
/* Worker: give free slots to waiting reservations (fair share), one pull each. */
void queue_pump(struct core *core, uint64_t now_ms);
/* Client: a job of kind entered or left state queued. */
int queue_kind_enter(struct core *core, const char *kind, uint64_t now_ms);
void queue_kind_leave(struct core *core, const char *kind, uint64_t now_ms);
/* Client: some worker holds a reservation of ours for kind. */
int queue_has_reservation(const struct core *core, const char *kind);
/* Client: what a queued job of kind waits for (workers, slots, busy). */
void queue_wait(struct core *core, const char *kind, struct job_wait *w);
/* dispatch.c: a pull for kind from worker f: bind our best queued job to it (1), or 0. */
int dispatch_pull(struct core *core, const struct wire_frame *f, const char *kind,
                  uint32_t load, uint32_t cap, uint64_t now_ms);
/* dispatch.c: 1 when this job of ours is in flight and of this kind. */
int dispatch_job_of_kind(struct core *core, const uint8_t id[CHORUS_JOB_ID_BYTES], const char *kind);
/* dispatch.c: a reservation answer for one of our jobs. */
void dispatch_reserved(struct core *core, const uint8_t id[CHORUS_JOB_ID_BYTES], uint64_t now_ms);

#endif

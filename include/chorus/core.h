/*
 * The chorus core: one node's protocols as a sans-io state machine.
 *
 * The core never reads a clock, a socket, a file or a random device.  Time
 * arrives as `now_ms` (a monotonic clock, milliseconds) on every call; the
 * PRNG is seeded by the driver; frames arrive through core_recv().  What the
 * core wants done goes out through the callbacks in struct core_env (the
 * effects): send a frame, emit a log record.  The daemon (src/node/) drives it
 * with libevent and nng; the simulator (src/sim/) drives thousands of cores in
 * virtual time.  Callbacks must not call back into the same core.
 */
#ifndef CHORUS_CORE_H
#define CHORUS_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/batchsig.h"
#include "chorus/limits.h"

/* Errors: 0 or a negative code; core_strerror() names it. */
enum core_err {
	CORE_OK = 0,
	CORE_ERR_INVAL = -1,     /* bad argument or configuration */
	CORE_ERR_NOMEM = -2,
	CORE_ERR_FULL = -3,      /* a bound was reached */
	CORE_ERR_MALFORMED = -4, /* input does not decode */
	CORE_ERR_OVERSIZE = -5,
	CORE_ERR_VERSION = -6,
	CORE_ERR_BADSIG = -7,
	CORE_ERR_REPLAY = -8,
	CORE_ERR_STALE = -9,     /* older than what is known */
	CORE_ERR_LEFT = -10,     /* the node has left */
	CORE_ERR_BADKEY = -11,   /* a peer key that makes no shared secret (invalid, low order) */
	CORE_ERR_MISROUTED = -12,/* a frame for another recipient */
	CORE_ERR_NOKEY = -40,    /* no network key in common (admission refused) */
	CORE_ERR_TOO_OLD = -41,  /* a frame sent before the receiver started (or lost its window) */
	CORE_ERR_WINDOW = -42,   /* a frame number seen already, or older than the window */
};
const char *core_strerror(int err);

enum core_log_level {
	CORE_LOG_ERROR = 0,
	CORE_LOG_WARN = 1,
	CORE_LOG_INFO = 2,
	CORE_LOG_DEBUG = 3,      /* message-level detail (-v) */
	CORE_LOG_TRACE = 4,      /* every frame (-vv) */
};

/*
 * Signatures, key agreement and frame MACs.  The daemon uses crypto_ed25519
 * (libsodium, pure functions).  The simulator may use a fast stand-in so that
 * 1000-node runs stay quick.
 *
 * Texts others must verify (records, requests, receipts, acks, blocks) are
 * signed.  Fabric frames, which go point to point, carry a MAC under a key
 * the two nodes share: kx() gives the static-static Diffie-Hellman secret of
 * our identity and a peer's (the core hashes it with both keys into the
 * pair's frame key, src/core/fabric/wire.c), mac() a 16-byte tag under that key and
 * a nonce that must never repeat with it (the sender's generation, frame
 * number and per-process salt, src/core/fabric/wire.c).
 */
struct core_crypto {
	const char *name;
	void (*sign)(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
	             const uint8_t sk[CHORUS_SK_BYTES]);
	/* 0 when the signature is good. */
	int (*verify)(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
	              const uint8_t pk[CHORUS_PK_BYTES]);
	/*
	 * kx(a_sk, B) == kx(b_sk, A).  0, or CORE_ERR_BADKEY when peer_pk is
	 * not a usable key (not a point, low order, or the secret is zero).
	 */
	int (*kx)(uint8_t shared[CHORUS_KX_BYTES], const uint8_t sk[CHORUS_SK_BYTES],
	          const uint8_t peer_pk[CHORUS_PK_BYTES]);
	void (*mac)(uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *msg, size_t len,
	            const uint8_t nonce[CHORUS_MAC_NONCE_BYTES], const uint8_t key[CHORUS_MAC_KEY_BYTES]);
	/*
	 * AEAD (XChaCha20-Poly1305 in the daemon): c = E(m) (c may be m), the tag
	 * covers ad and c.  open returns 0 and writes m (m may be c) only when the
	 * tag verifies, else CORE_ERR_BADSIG and m is unspecified.
	 */
	void (*aead_seal)(uint8_t *c, uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *m, size_t len,
	                  const uint8_t *ad, size_t ad_len, const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
	             const uint8_t key[CHORUS_MAC_KEY_BYTES]);
	int (*aead_open)(uint8_t *m, const uint8_t *c, size_t len, const uint8_t tag[CHORUS_MAC_TAG_BYTES],
	            const uint8_t *ad, size_t ad_len, const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
	            const uint8_t key[CHORUS_MAC_KEY_BYTES]);
};
extern const struct core_crypto crypto_ed25519;


/* Protocol timings; core_config_defaults() fills them. */
struct core_timing {
	uint32_t probe_interval_ms;     /* one SWIM probe per interval */
	uint32_t probe_timeout_ms;      /* direct ack deadline; indirect until interval end */
	uint32_t indirect_probes;       /* helpers asked to probe indirectly (k) */
	uint32_t suspicion_mult;        /* suspicion min = mult * max(1, log10 n) * interval */
	uint32_t suspicion_max_mult;    /* suspicion starts at min * this, falls with confirmations */
	uint32_t gossip_interval_ms;    /* eager push of pending rumors */
	uint32_t gossip_fanout;         /* members pushed to per gossip interval */
	uint32_t retransmit_mult;       /* a rumor is sent mult * ceil(log10(n + 1)) times */
	uint32_t eager_transmits;       /* of those, the first carry the record, later ones a digest */
	uint32_t pushpull_interval_ms;  /* anti-entropy full-state exchange */
	uint32_t catchup_interval_ms;   /* a joiner pulls what its view lacks this often... */
	uint32_t catchup_window_ms;     /* ...this long after joining or a pull that taught it */
	uint32_t reconnect_interval_ms; /* pings to dead members (backing off): heals partitions */
	uint32_t join_retry_ms;         /* re-send join while no seed answered */
	uint32_t tombstone_ms;          /* dead and left members are forgotten after this */
	/* dispatch */
	uint32_t offer_window_ms;       /* offers are collected this long at most */
	uint32_t dial_timeout_ms;       /* a dispatch must be accepted or refused within this */
	uint32_t receipt_grace_ms;      /* beyond the job timeout, before the client gives up */
	uint32_t receipt_poll_ms;       /* re-send the dispatch this often while it runs: a lost
	                                   receipt or accept is answered again, not re-run */
	uint32_t job_timeout_ms;        /* default job timeout */
	uint32_t rebroadcasts;          /* extra request broadcasts when offers run out */
	uint32_t rebroadcast_backoff_ms;/* first pause before a re-broadcast (doubles) */
	uint32_t penalty_ms;            /* a worker that failed us ranks lower this long */
	uint32_t load_publish_ms;       /* at most one record update for load per this */
	/* the queue (docs/dispatch.md) */
	uint32_t slot_hold_ms;          /* a freed slot waits this long for the pulled client */
};

/* One KEY=VALUE tag of a node, or one pair of a job's constraint (--where). */
struct chorus_tag {
	char key[CHORUS_TAG_KEY_MAX + 1];
	char value[CHORUS_TAG_VALUE_MAX + 1];
};
/*
 * "KEY=VALUE" (both non-empty, [A-Za-z0-9._-], within the bounds) into *out:
 * 0 or CORE_ERR_INVAL.  For config, API and decoders alike.
 */
int core_tag_parse(struct chorus_tag *out, const char *text, size_t len);

struct core_config {
	char name[CHORUS_NAME_MAX + 1];
	char addr[CHORUS_ADDR_MAX + 1];  /* our fabric URL, e.g. tcp://127.0.0.1:7470 */
	char roles[CHORUS_ROLES_MAX][CHORUS_TAG_MAX + 1];
	unsigned nroles;
	char caps[CHORUS_CAPS_MAX][CHORUS_TAG_MAX + 1];
	unsigned ncaps;
	uint32_t capacity;
	uint64_t start_ms;  /* wall-clock start time: orders a node's restarts (its generation) */
	uint64_t seed;      /* PRNG seed, from the driver */
	/*
	 * Wall clock minus the event clock (ms), from the driver: frame numbers
	 * carry the send time on the wall clock, which receivers compare with
	 * their own to refuse frames sent before they started (docs/security.md).
	 */
	int64_t wall_offset_ms;
	struct core_timing timing;
	/*
	 * Test seam, never set in service: a worker flips a bit of every receipt
	 * signature it makes, so that a test can watch the ledger refuse the
	 * acks (chorusd sets it from CHORUS_FAULT=receipt-sig).
	 */
	int fault_receipt_sig;
	/*
	 * The queue: how long a job may wait for a slot when its spec says 0
	 * (<= CHORUS_QUEUE_TIMEOUT_MS_MAX; 0 here: the built-in default).
	 */
	uint32_t queue_timeout_ms;
	/* Our tags (--tag), published in our record; keys unique (core_create checks). */
	struct chorus_tag tags[CHORUS_NODE_TAGS_MAX];
	unsigned ntags;
};
void core_config_defaults(struct core_config *cfg);

enum member_state {
	MEMBER_ALIVE = 0,
	MEMBER_SUSPECT = 1,
	MEMBER_DEAD = 2,
	MEMBER_LEFT = 3,
};
const char *member_state_name(enum member_state st);

/* A node's signed description of itself, decoded. */
struct record {
	uint8_t pk[CHORUS_PK_BYTES];
	char name[CHORUS_NAME_MAX + 1];
	char addr[CHORUS_ADDR_MAX + 1];
	char roles[CHORUS_ROLES_MAX][CHORUS_TAG_MAX + 1];
	unsigned nroles;
	char caps[CHORUS_CAPS_MAX][CHORUS_TAG_MAX + 1];
	unsigned ncaps;
	uint32_t capacity;
	uint32_t load;
	uint64_t start_ms;  /* generation */
	uint64_t inc;       /* incarnation, bumped on every change and to refute suspicion */
	int left;
	/* Tags (--tag KEY=VALUE): what submit --where matches; keys are unique. */
	struct chorus_tag tags[CHORUS_NODE_TAGS_MAX];
	unsigned ntags;
};
/* 1 if every pair of where[] is among the record's tags (an empty where matches all). */
int core_tags_match(const struct record *r, const struct chorus_tag *where, unsigned nwhere);

/* What the driver may read about one member (a copy; valid until the next call). */
struct member_view {
	struct record rec;
	char id[CHORUS_ID_HEX + 1];
	enum member_state state;
	int self;
	uint64_t last_seen_ms;     /* monotonic, as given to the core */
	uint64_t state_since_ms;   /* monotonic time of the last state change */
};

/* ---------------------------------------------------------------- jobs */

#define CHORUS_JOB_ID_BYTES 16
#define CHORUS_JOB_ID_HEX   (2 * CHORUS_JOB_ID_BYTES)

/* A client job's life: pending until a worker accepts it, running, then final. */
enum job_state {
	JOB_PENDING = 0,
	JOB_RUNNING = 1,
	JOB_SUCCEEDED = 2,
	JOB_FAILED = 3,
	JOB_CANCELLED = 4,
	/*
	 * Waiting for a slot: some alive member runs the kind but none has a
	 * free slot (docs/dispatch.md, "The queue").  Not final.
	 */
	JOB_QUEUED = 5,
};
#define JOB_STATE_COUNT (JOB_QUEUED + 1)
const char *job_state_name(enum job_state st);
#define JOB_STATE_FINAL(st) ((st) >= JOB_SUCCEEDED && (st) <= JOB_CANCELLED)

/* How one dispatch attempt ended. */
enum job_outcome {
	OUTCOME_RUNNING = 0,
	OUTCOME_OK = 1,
	OUTCOME_FAILED = 2,      /* the job ran and failed (also a worker-side timeout) */
	OUTCOME_REFUSED = 3,     /* the worker said no (full, or cannot run it) */
	OUTCOME_TIMEOUT = 4,     /* no receipt by the job's deadline */
	OUTCOME_DIAL_FAILED = 5, /* no answer to the dispatch in time */
	OUTCOME_WORKER_DEAD = 6, /* membership says the worker died or left */
	OUTCOME_CANCELLED = 7,
};
const char *job_outcome_name(enum job_outcome o);

/* What a worker reports about a job it ran (core_work_done). */
enum work_status {
	WORK_OK = 0,
	WORK_FAILED = 1,
	WORK_TIMEOUT = 2,
	WORK_CANCELLED = 3,
};
const char *work_status_name(enum work_status st);

/*
 * A worker's durable word about a job (its outcome table, env.outcome_*):
 * done with a receipt (sent again to whoever asks), final elsewhere (seen in
 * a completion ack: never start it), or disowned: its client asked after a
 * restart and we said we never had it, so dispatches up to `attempt` (sent
 * before that question) are refused.
 */
enum work_outcome_state {
	WORK_OUTCOME_DONE = 1,
	WORK_OUTCOME_FINAL = 2,
	WORK_OUTCOME_DISOWNED = 3,
};
struct work_outcome {
	char job_id[CHORUS_JOB_ID_HEX + 1];
	enum work_outcome_state state;
	unsigned attempt;                  /* DISOWNED: the highest attempt refused */
	uint8_t client[CHORUS_PK_BYTES];   /* zero when unknown (FINAL from a relayed ack) */
	const char *receipt;               /* DONE: the receipt frame body */
	size_t receipt_len;
};

/* A job to submit.  The nonce makes the id: resubmitting the same nonce resumes the job. */
struct job_spec {
	char kind[CHORUS_KIND_MAX + 1];
	const uint8_t *payload;
	size_t payload_len;
	uint32_t timeout_ms;  /* how long the worker may run it; 0: the default */
	uint64_t reward;
	uint64_t nonce;       /* from the driver's random source */
	uint64_t created_ms;  /* wall clock, for people and the ledger */
	/*
	 * Resuming after a restart: the attempts the driver made durable
	 * (attempt_cb), oldest first.  When the last one may have run, the core
	 * asks that worker for the outcome before it offers the job to anyone.
	 */
	const struct job_attempt *attempts;
	unsigned nattempts;
	/* The queue (docs/dispatch.md): higher first, FIFO within one priority. */
	uint8_t priority;           /* 0..CHORUS_PRIORITY_MAX */
	uint32_t queue_timeout_ms;  /* how long it may wait for a slot; 0: the node default */
	/* Constraint (submit --where): only workers whose record has every pair may run it. */
	struct chorus_tag where[CHORUS_NODE_TAGS_MAX];
	unsigned nwhere;
};

struct job_attempt {
	char worker[CHORUS_ID_HEX + 1];
	char worker_name[CHORUS_NAME_MAX + 1];
	enum job_outcome outcome;
	uint32_t load;        /* running jobs the worker offered with */
	uint32_t capacity;
	uint64_t ms;          /* how long the attempt took (so far) */
};

/* One client job as the core sees it (a copy; pointers valid during the callback). */
struct job_view {
	char id[CHORUS_JOB_ID_HEX + 1];
	char kind[CHORUS_KIND_MAX + 1];
	enum job_state state;
	char reason[CHORUS_JOB_REASON_MAX];  /* why it failed or was cancelled */
	uint64_t nonce;
	uint64_t reward;
	uint32_t timeout_ms;
	uint64_t created_ms;
	uint64_t elapsed_ms;                 /* since submit (monotonic) */
	size_t payload_len;
	unsigned rounds;                     /* request broadcasts so far */
	unsigned offers;                     /* offers received over all rounds */
	unsigned nattempts;
	struct job_attempt attempts[CHORUS_JOB_ATTEMPTS_MAX];
	const uint8_t *result;               /* when succeeded */
	size_t result_len;
	char result_hash[CHORUS_ID_HEX + 1]; /* BLAKE2b-256 of the result, hex */
	char error[CHORUS_JOB_ERROR_MAX + 1];/* the worker's error text, if it failed */
	/* The queue: why it waits (state queued), from what the core knows. */
	uint8_t priority;
	uint32_t queue_timeout_ms;
	uint64_t queued_ms;       /* time spent queued so far (or in all, once it ran) */
	struct job_wait {
		unsigned workers;     /* alive members that run the kind */
		unsigned slots;       /* their slots in all */
		unsigned busy;        /* of those, busy as last heard */
		unsigned ahead;       /* jobs ahead of it (this client's and at the workers, as known) */
	} wait;
	/* Its constraint (submit --where), stored with the job. */
	struct chorus_tag where[CHORUS_NODE_TAGS_MAX];
	unsigned nwhere;
};

/*
 * A chunk of a job's live output as the client accepts it (env.output_cb).
 * dropped: bytes of this stream that will never come before data (a chunk
 * lost on the way, or past CHORUS_OUTPUT_JOB_MAX once the stream ended).
 */
struct job_output {
	char job_id[CHORUS_JOB_ID_HEX + 1];
	unsigned attempt;
	unsigned stream;          /* 0 stdout, 1 stderr */
	const uint8_t *data;
	size_t len;
	uint64_t dropped;
	int end;                  /* the stream's last chunk: the job ended */
	int fresh;                /* the first chunk of a new run (an attempt on another worker) */
};

/*
 * A completion ack: the client's signed ack and, on the client that made it
 * (or from an older node that sent it along), the signed receipt it names.
 */
struct job_ack {
	char job_id[CHORUS_JOB_ID_HEX + 1];
	const char *ack_text;
	size_t ack_len;
	struct batchsig ack_auth;           /* the client's batch authenticator (batchsig.h) */
	const char *receipt_text;           /* NULL when no worker ran it, or not ours */
	size_t receipt_len;
	struct batchsig receipt_auth;       /* the worker's */
	uint8_t client[CHORUS_PK_BYTES];
	uint8_t worker[CHORUS_PK_BYTES];    /* zero when none */
	const char *status;                 /* "succeeded", "failed", "cancelled" */
};

/*
 * Frame types whose body the core does not interpret: it checks the frame
 * (size, version, MAC, recipient, replay, generation) and hands the body to
 * env.app_cb.  Consensus and the ledger ride on these.
 */
enum core_app_type {
	CORE_APP_RAFT = 17,
	CORE_APP_LEDGER = 18,
};

/* Effects: how the core asks its driver to act. */
struct core_env {
	void *ctx;
	/* Best-effort delivery of one frame to the node listening at addr. */
	void (*send_cb)(void *ctx, const char *addr, const uint8_t *frame, size_t len);
	/* Optional: our keyring changed (a keyring operation): persist it (core_keyring_export). */
	void (*keyring_cb)(void *ctx);
	/*
	 * One log record: subsystem ("member", "gossip", "wire", ...) and fields
	 * as `key=value` pairs separated by single spaces; a value holding a
	 * space or a quote is written "quoted" with \" and \\ escapes.
	 */
	void (*log_cb)(void *ctx, int level, const char *subsys, const char *fields);
	/*
	 * Optional: a member was learned, changed state or record, or was
	 * forgotten (its tombstone expired: forgotten = 1).  old_state is -1 for
	 * a new member.  Lets the simulator check every transition as it happens.
	 * The view is core_member_brief()'s: the record's tags are not decoded.
	 */
	void (*member_cb)(void *ctx, const struct member_view *mv, int old_state, int forgotten);
	const struct core_crypto *crypto;  /* NULL: crypto_ed25519 */

	/*
	 * Jobs (all optional; a node without run_cb never offers).  The core may
	 * have cJSON allocation hooks installed while it calls these: a callback
	 * must not keep cJSON objects or cJSON-allocated text past its return.
	 *
	 * job_cb: one of our client jobs changed (state, an attempt, the
	 * outcome); the driver persists it and wakes whoever waits for it.
	 * run_cb: run a job we accepted as a worker; 0 if started, else the job
	 * is failed at once with reason.  kill_cb: stop a job run_cb started;
	 * core_work_done() must still follow.  ack_cb: a completion ack we saw
	 * (ours or relayed), with both signed texts, for the ledger; the ack is
	 * the client's (frame MAC or text signature checked) and names the
	 * receipt's hash; the receipt's own signature was checked by the client
	 * only, and the ledger checks both signatures before it credits anything.
	 */
	void (*job_cb)(void *ctx, const struct job_view *jv);
	int (*run_cb)(void *ctx, const char *job_id, const char *kind, const uint8_t *payload,
	              size_t len, uint32_t timeout_ms);
	void (*kill_cb)(void *ctx, const char *job_id);
	void (*ack_cb)(void *ctx, const struct job_ack *ack);
	/*
	 * attempt_cb (client): one of our jobs is about to be dispatched to the
	 * worker of its newest attempt.  The driver makes the view durable
	 * before any frame the core hands to send_cb after this call leaves the
	 * node: after a restart the job resumes by asking that worker first
	 * (docs/dispatch.md, "Exactly once").
	 *
	 * outcome_put_cb / outcome_get_cb (worker): the worker's outcome table,
	 * which outlives the process.  put stores (replaces) the row of a job,
	 * durable before any frame sent after the call leaves; get fills *out
	 * (receipt bytes valid until the next call into the driver) and returns
	 * 1, or 0 when the job has no row.  Without them a worker remembers only
	 * what it ran in this process.
	 */
	void (*attempt_cb)(void *ctx, const struct job_view *jv);
	void (*outcome_put_cb)(void *ctx, const struct work_outcome *o);
	int (*outcome_get_cb)(void *ctx, const char *job_id, struct work_outcome *out);
	/*
	 * Optional: an authentic frame of an enum core_app_type arrived from
	 * the node from_pk, for us (its frame MAC checked, not a replay); body is
	 * opaque and unchecked.  Without app_cb such frames are dropped.  The
	 * one call back into the core allowed from app_cb is core_send_app():
	 * the core is done with the frame when it calls app_cb.
	 */
	void (*app_cb)(void *ctx, int type, const uint8_t from_pk[CHORUS_PK_BYTES],
	               const uint8_t *body, size_t len);
	/*
	 * Optional (client): a chunk of one of our jobs' live output, accepted
	 * (from the worker of its current attempt, in order; duplicates, stale
	 * and forged chunks were dropped and counted).  The driver keeps it.
	 */
	void (*output_cb)(void *ctx, const struct job_output *o);
	/*
	 * Optional: the core holds completion acks or receipts to sign
	 * (sigbatch.c, docs/merkle.md).  The driver calls core_flush() before
	 * its loop waits again, so one signature covers every text this turn
	 * made.  Called once per batch, from inside any entry point.  NULL: each
	 * text is signed as it is made (a batch of one, the same format).
	 */
	void (*flush_cb)(void *ctx);
};

/* Counters, for /v1/status and the simulator. */
struct core_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t drop_malformed, drop_oversize, drop_version, drop_badsig, drop_replay,
	    drop_stale, drop_unknown_type;
	uint64_t drop_badkey;    /* frames from a key that makes no shared secret */
	uint64_t drop_misrouted; /* frames for another node (a former owner of our address) */
	uint64_t drop_nokey;     /* frames without a network key in common (admission) */
	uint64_t drop_before_start; /* frames sent before we started, or before a window was lost */
	uint64_t drop_window;    /* frame numbers already seen, or older than the window */
	uint64_t peer_keys_derived; /* pairwise frame keys computed (cache misses) */
	uint64_t probes, probe_failures, indirect_probes, suspicions, refutations;
	uint64_t rumors_sent, rumors_received, wants_sent, wants_received;
	/* jobs: client side */
	uint64_t jobs_submitted, jobs_succeeded, jobs_failed, jobs_cancelled, requests_sent,
	    offers_received, dispatches_sent, failovers;
	/* jobs: worker side and relays */
	uint64_t requests_received, offers_sent, works_started, works_duplicate, works_refused,
	    receipts_sent, acks_received, drop_job_forged, drop_job_stale;
	/* batch signatures (sigbatch.c): signatures made over acks and receipts, texts they cover */
	uint64_t sign_batches, sign_texts;
	/* exactly once: resumed jobs asked about (client), answers given and dispatches
	   answered from the outcome table instead of run (worker) */
	uint64_t status_queries, status_answers, works_known;
	uint64_t dial_queries; /* dispatches unanswered twice: asked about before a failover */
	/* the queue: client side (jobs queued, queue timeouts, pulls answered with a job or
	   none) and worker side (reservations kept and refused, pulls sent, held slots
	   that expired unused) */
	uint64_t jobs_queued, queue_timeouts, reserves_received, pulls_received, pulls_none_sent;
	uint64_t reservations_kept, reservations_refused, pulls_sent, pulls_expired;
	uint64_t drop_queue;     /* queue frames that did not decode or fit (bounded, dropped) */
	/* constraints (submit --where): offers ignored from members whose record does not meet
	   the job's (client), requests and dispatches our own tags do not meet (worker);
	   self-run: frames the core delivered to itself, and those dropped at the queue's bound */
	uint64_t offers_unmatched, requests_unmatched, loopback_frames, loopback_drops;
	/* live output: chunks sent (worker); kept, and dropped as stale, duplicate or forged
	   (client); bytes past CHORUS_OUTPUT_JOB_MAX not sent (worker) */
	uint64_t output_sent, output_received, output_dropped, output_bytes_over;
};

struct core;

/* pk/sk: the node's ed25519 identity. */
int core_create(struct core **out, const struct core_config *cfg, const uint8_t pk[CHORUS_PK_BYTES],
                const uint8_t sk[CHORUS_SK_BYTES], const struct core_env *env, uint64_t now_ms);
void core_destroy(struct core *core);
/*
 * The network keys (docs/security.md): frames are sealed under keys[primary]
 * and admitted under any of the n.  n == 0 runs open (--insecure-open): the
 * all-zero key, which admits only other open nodes.  A new core runs open.
 * CORE_ERR_INVAL for n over CHORUS_KEYRING_MAX, primary >= n, an all-zero
 * or a repeated key.
 */
int core_keyring_set(struct core *core, const uint8_t keys[][CHORUS_NETKEY_BYTES], unsigned n,
                     unsigned primary);
/* 1 when the node runs open (no network key). */
int core_keyring_open(const struct core *core);
/*
 * Keyring operations (Serf-style rotation): applied here, then sent sealed
 * to every live member, which applies it and answers with the fingerprints
 * of the keys it holds.  install adds a key (CORE_ERR_FULL at
 * CHORUS_KEYRING_MAX), use makes it the primary (it must be held), remove
 * drops it (never the primary: CORE_ERR_INVAL); list only asks.  An open
 * node has no keyring: CORE_ERR_INVAL.  env.keyring_cb tells the driver to
 * persist the ring (core_keyring_export) whenever it changes.
 */
enum core_keyring_op {
	CORE_KEYRING_LIST = 0,
	CORE_KEYRING_INSTALL = 1,
	CORE_KEYRING_USE = 2,
	CORE_KEYRING_REMOVE = 3,
};
int core_keyring_op(struct core *core, int op, const uint8_t key[CHORUS_NETKEY_BYTES],
                    uint64_t now_ms);
/* What we hold, and how many members answered the last operation holding each key. */
struct core_keyring_view {
	unsigned n;
	struct {
		char fp[2 * CHORUS_KEY_FP_BYTES + 1];
		int primary;
		unsigned holders;   /* we and the members whose answer lists it */
		unsigned primaries; /* we (if primary here) and those that seal under it */
	} keys[CHORUS_KEYRING_MAX];
	unsigned answered; /* members that answered the last operation, and we */
	unsigned refused;  /* of those, members that refused it */
	unsigned alive;    /* live members, we included */
};
void core_keyring_view(const struct core *core, struct core_keyring_view *out);
/* The keys, the primary first (for the keyring file); 0, or CORE_ERR_INVAL when open. */
int core_keyring_export(const struct core *core, uint8_t keys[][CHORUS_NETKEY_BYTES],
                        unsigned *n);

/* Add a seed to join through; joins are retried until some member answers. */
int core_join(struct core *core, const char *addr, uint64_t now_ms);
/* One frame from the fabric.  Bad input is dropped and counted, never fatal. */
void core_recv(struct core *core, const uint8_t *frame, size_t len, uint64_t now_ms);
/* Run timers due at now_ms. */
void core_tick(struct core *core, uint64_t now_ms);
/* Signs the texts this turn made with one signature and sends them (env.flush_cb). */
void core_flush(struct core *core, uint64_t now_ms);
/* When core_tick() next has work; the driver calls it then (or earlier). */
uint64_t core_next_deadline_ms(const struct core *core);
/* Announce a graceful departure; the driver keeps the loop up briefly to flush. */
void core_leave(struct core *core, uint64_t now_ms);
/* Publish a new load figure (a new record version). */
int core_set_load(struct core *core, uint32_t load, uint64_t now_ms);
/*
 * Publish a new set of roles (a new record version; a no-op when they are
 * the same): e.g. the Raft leader adds "leader" so gossip spreads who leads.
 */
int core_set_roles(struct core *core, const char roles[][CHORUS_TAG_MAX + 1], unsigned n,
                   uint64_t now_ms);
/*
 * Publish a new set of capabilities (job kinds) and capacity, as a reload of
 * the daemon's configuration changes them (a new record version, re-signed
 * and gossiped; a no-op when both are the same).  Jobs already running go
 * on: a lower capacity takes no new job until the running ones are under it.
 * CORE_ERR_FULL for more than CHORUS_CAPS_MAX kinds, CORE_ERR_INVAL for a bad
 * or repeated kind name, CORE_ERR_LEFT after core_leave.
 */
int core_set_caps(struct core *core, const char caps[][CHORUS_TAG_MAX + 1], unsigned n,
                  uint32_t capacity, uint64_t now_ms);
/*
 * Send one frame of an enum core_app_type with an opaque body to the node
 * to_pk listening at addr (the frame is authenticated for that node alone).
 * CORE_ERR_INVAL for another type or a bad address, CORE_ERR_OVERSIZE when
 * the body is over CHORUS_BODY_MAX, CORE_ERR_BADKEY when to_pk makes no
 * shared key.
 */
int core_send_app(struct core *core, const uint8_t to_pk[CHORUS_PK_BYTES], const char *addr,
                  int type, const uint8_t *body, size_t len);

/* ---------------------------------------------------------------- jobs API */

/*
 * The ledger's window (docs/ledger.md): each ack carries a seq and a floor,
 * the oldest seq this client still has open.  At start, before any job, the
 * driver hands over the seqs of the acks still in its outbox (open, sorted
 * here), the last seq it saved, and its wall clock; then it says when each of
 * our acks is settled (committed, or refused and dropped from the outbox).
 * CORE_ERR_INVAL: not before the first ack, or out of range.
 */
int core_acks_restore(struct core *core, uint64_t last_seq, uint64_t wall_ms, uint64_t *open,
                      size_t n, uint64_t now_ms);
/* One of our acks is settled: 0, or CORE_ERR_INVAL when it is not one open here. */
int core_ack_settled(struct core *core, uint64_t seq);
/* The floor the next ack would carry (at most its own seq), and the open acks. */
uint64_t core_ack_floor(const struct core *core);
size_t core_acks_open(const struct core *core);

/*
 * Submit a client job: broadcasts the request at once.  id_out gets the job
 * id.  CORE_ERR_FULL when CHORUS_JOBS_INFLIGHT_MAX jobs are not final yet,
 * or CHORUS_QUEUED_MAX of ours are queued (back-pressure: refuse, never drop);
 * CORE_ERR_INVAL for a bad kind, payload or timeout; CORE_ERR_STALE when a
 * job with that id is already in flight.
 */
int core_job_submit(struct core *core, const struct job_spec *spec,
                    char id_out[CHORUS_JOB_ID_HEX + 1], uint64_t now_ms);
/*
 * The queue's fair share (docs/dispatch.md): a worker gives freed slots to
 * the waiting client with the least slot-time used per weight.  A client's
 * weight is 1 unless set here (1..CHORUS_SHARE_WEIGHT_MAX; setting 1 again
 * removes the entry).  CORE_ERR_INVAL for a weight out of range,
 * CORE_ERR_FULL when CHORUS_SHARES_MAX clients already have one.
 */
int core_share_weight(struct core *core, const uint8_t client_pk[CHORUS_PK_BYTES], unsigned weight);
/* Cancel a client job that is not final: job_cb reports it cancelled. */
int core_job_cancel(struct core *core, const char *job_id, uint64_t now_ms);
/* The id a job of this client and nonce has (BLAKE2b-128 of key and nonce). */
void core_job_id(uint8_t id[CHORUS_JOB_ID_BYTES], const uint8_t client[CHORUS_PK_BYTES],
                 uint64_t nonce);
/* Copy of an in-flight client job; CORE_ERR_INVAL if it is unknown or final. */
int core_job_get(const struct core *core, const char *job_id, uint64_t now_ms,
                 struct job_view *out);
size_t core_jobs_inflight(const struct core *core);
/* Client jobs in flight by state: counts[st] for each enum job_state (final ones: 0). */
void core_job_counts(const struct core *core, size_t counts[JOB_STATE_COUNT]);
/* Worker side: a job run_cb started has ended.  result/error may be NULL. */
int core_work_done(struct core *core, const char *job_id, enum work_status st,
                   const uint8_t *result, size_t result_len, const char *error,
                   uint64_t duration_ms, uint64_t now_ms);
size_t core_work_running(const struct core *core);
/*
 * Worker side: a running job wrote len bytes to stream (0 stdout, 1
 * stderr).  The core sends them to the client in chunks (at once when a
 * chunk fills, else within CHORUS_OUTPUT_FLUSH_MS: see core_next_deadline_ms)
 * and counts what is past CHORUS_OUTPUT_JOB_MAX.  CORE_ERR_INVAL when the
 * job is not running here.
 */
int core_work_output(struct core *core, const char *job_id, unsigned stream, const uint8_t *data,
                     size_t len, uint64_t now_ms);

/*
 * Records above this level are not even formatted (default CORE_LOG_DEBUG):
 * the daemon lowers it to what it prints, the simulator to what it keeps.
 */
void core_set_log_level(struct core *core, int level);

/* Views. */
size_t core_member_count(const struct core *core);
/* i in [0, core_member_count()); our own entry is one of them. */
int core_member_get(const struct core *core, size_t i, struct member_view *out);
/*
 * The same without decoding the signed record: id, state, self, times and of
 * the record only pk, name, addr, start_ms, inc and left (roles, caps,
 * capacity and load are left empty).  For checkers that look at thousands
 * of members: decoding every record was a third of a simulation's time.
 */
int core_member_brief(const struct core *core, size_t i, struct member_view *out);
/*
 * Is pk a member whose signed record this node holds (any state, ourselves
 * included)?  The ledger leader credits and charges only such keys.
 */
int core_member_known(const struct core *core, const uint8_t pk[CHORUS_PK_BYTES]);
void core_member_counts(const struct core *core, size_t counts[4]);  /* by enum member_state */
const struct core_stats *core_stats(const struct core *core);
const char *core_id(const struct core *core);  /* hex public key */
/* Internal consistency (indexes, bounds, own record); NULL when all holds. */
const char *core_check(const struct core *core);
void core_id_short(const char *id_hex, char out[CHORUS_ID_SHORT + 1]);

#endif

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
 * Signatures.  The daemon uses crypto_ed25519 (libsodium, pure functions).
 * The simulator may use a fast stand-in so that 1000-node runs stay quick.
 */
struct core_crypto {
	const char *name;
	void (*sign)(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
	             const uint8_t sk[CHORUS_SK_BYTES]);
	/* 0 when the signature is good. */
	int (*verify)(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
	              const uint8_t pk[CHORUS_PK_BYTES]);
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
	uint32_t reconnect_interval_ms; /* pings to dead members (backing off): heals partitions */
	uint32_t join_retry_ms;         /* re-send join while no seed answered */
	uint32_t tombstone_ms;          /* dead and left members are forgotten after this */
};

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
	struct core_timing timing;
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
};

/* What the driver may read about one member (a copy; valid until the next call). */
struct member_view {
	struct record rec;
	char id[CHORUS_ID_HEX + 1];
	enum member_state state;
	int self;
	uint64_t last_seen_ms;     /* monotonic, as given to the core */
	uint64_t state_since_ms;   /* monotonic time of the last state change */
};

/* Effects: how the core asks its driver to act. */
struct core_env {
	void *ctx;
	/* Best-effort delivery of one frame to the node listening at addr. */
	void (*send_cb)(void *ctx, const char *addr, const uint8_t *frame, size_t len);
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
	 */
	void (*member_cb)(void *ctx, const struct member_view *mv, int old_state, int forgotten);
	const struct core_crypto *crypto;  /* NULL: crypto_ed25519 */
};

/* Counters, for /v1/status and the simulator. */
struct core_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t drop_malformed, drop_oversize, drop_version, drop_badsig, drop_replay,
	    drop_stale, drop_unknown_type;
	uint64_t probes, probe_failures, indirect_probes, suspicions, refutations;
	uint64_t rumors_sent, rumors_received, wants_sent, wants_received;
};

struct core;

/* pk/sk: the node's ed25519 identity. */
int core_create(struct core **out, const struct core_config *cfg, const uint8_t pk[CHORUS_PK_BYTES],
                const uint8_t sk[CHORUS_SK_BYTES], const struct core_env *env, uint64_t now_ms);
void core_destroy(struct core *core);

/* Add a seed to join through; joins are retried until some member answers. */
int core_join(struct core *core, const char *addr, uint64_t now_ms);
/* One frame from the fabric.  Bad input is dropped and counted, never fatal. */
void core_recv(struct core *core, const uint8_t *frame, size_t len, uint64_t now_ms);
/* Run timers due at now_ms. */
void core_tick(struct core *core, uint64_t now_ms);
/* When core_tick() next has work; the driver calls it then (or earlier). */
uint64_t core_next_deadline_ms(const struct core *core);
/* Announce a graceful departure; the driver keeps the loop up briefly to flush. */
void core_leave(struct core *core, uint64_t now_ms);
/* Publish a new load figure (a new record version). */
int core_set_load(struct core *core, uint32_t load, uint64_t now_ms);

/*
 * Records above this level are not even formatted (default CORE_LOG_DEBUG):
 * the daemon lowers it to what it prints, the simulator to what it keeps.
 */
void core_set_log_level(struct core *core, int level);

/* Views. */
size_t core_member_count(const struct core *core);
/* i in [0, core_member_count()); our own entry is one of them. */
int core_member_get(const struct core *core, size_t i, struct member_view *out);
void core_member_counts(const struct core *core, size_t counts[4]);  /* by enum member_state */
const struct core_stats *core_stats(const struct core *core);
const char *core_id(const struct core *core);  /* hex public key */
/* Internal consistency (indexes, bounds, own record); NULL when all holds. */
const char *core_check(const struct core *core);
void core_id_short(const char *id_hex, char out[CHORUS_ID_SHORT + 1]);

#endif

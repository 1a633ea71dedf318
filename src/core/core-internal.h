/*
 * The core-wide part of the sans-io core: struct core, the one state every
 * protocol works on, and what core.c offers them (log, send, keys).  Each
 * protocol has its own header in its directory (docs/core.md); nothing here
 * performs I/O: see contrib/check-sans-io.sh, run by the build.
 */
#ifndef CHORUS_CORE_INTERNAL_H
#define CHORUS_CORE_INTERNAL_H

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chorus/core.h"
#include "base/base.h"
#include "fabric/fabric.h"
#include "membership/membership.h"
#include "dispatch/dispatch.h"

struct core {
	struct core_config cfg;
	struct core_env env;
	const struct core_crypto *crypto;
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
	char id[CHORUS_ID_HEX + 1];
	char id_short[CHORUS_ID_SHORT + 1];
	int log_level;

	struct record self; /* our record as last published */
	struct rng rng;
	struct members members;
	struct rumors rumors;
	struct seen *seen;
	struct peer_keys keys;
	struct core_stats stats;

	uint64_t frame_seq;  /* send time (ms) << CHORUS_SEQ_CLOCK_SHIFT | a count */
	struct core_keyring ring;
	uint64_t replay_floor_ms; /* frames sent before this, from a sender without a window, refused */
	uint64_t evictions_seen;  /* keys.evictions when the floor was last raised */
	uint8_t *plain;      /* scratch: one opened frame body */
	int ring_open;       /* no network key: the all-zero one (--insecure-open) */
	struct keyops keyops;
	uint64_t frame_salt; /* in every MAC frame's nonce: from the seed, not the rng's stream */
	uint64_t probe_seq;
	struct probe probe;
	struct relay relays[CHORUS_PROBES_MAX];
	uint8_t (*probe_order)[CHORUS_PK_BYTES];
	size_t probe_order_n;
	size_t probe_order_cap;
	size_t probe_order_pos;
	int health; /* Lifeguard local health multiplier, 0..CHORUS_HEALTH_MAX */

	char seeds[CHORUS_SEEDS_MAX][CHORUS_ADDR_MAX + 1];
	unsigned nseeds;
	int joined;
	unsigned join_tries; /* join rounds unanswered since the last join */
	int left;

	uint64_t next_probe_ms;
	uint64_t next_gossip_ms;
	uint64_t next_pushpull_ms;
	uint64_t last_pushpull_ms; /* creation, or the last push-pull we started */
	uint64_t next_join_ms;
	uint64_t next_member_ms; /* earliest member deadline (suspicion, tombstone) */
	uint64_t next_repair_ms; /* rate limit of joins sent to unknown pingers */
	uint64_t next_reconnect_ms; /* pings to dead members, to heal partitions */
	uint64_t next_catchup_ms;  /* next catch-up pull (gossip_catchup_tick) */
	uint64_t catchup_until_ms; /* pulls stop here: joined or last taught + catchup_window_ms */
	unsigned pull_answers;     /* pulls answered this gossip interval (CHORUS_PULL_ANSWERS_MAX) */

	struct dispatch dispatch;
	struct acks acks;
	struct works works;
	uint64_t now_ms; /* the latest time an entry point was given */

	char *body;    /* scratch: one frame body */
	uint8_t *frame; /* scratch: one encoded frame */
	struct queue queue; /* the queue: reservations, pulls, fair share (queue.c) */
	/*
	 * Self-run (docs/dispatch.md): job frames we send ourselves (a request
	 * when we run the kind, then the offer, dispatch, accept, receipt...)
	 * wait here, in order, and are handled at the next core_tick as if they
	 * had come in, through the same handlers as anyone's.  Bounded: past
	 * CHORUS_LOOPBACK_MAX a frame is dropped and counted, as a lost frame.
	 */
	struct core_loop {
		struct core_loop_frame {
			uint8_t type;
			size_t len;
			char *body;
		} *v;
		size_t head, n;
	} loop;
	struct sigbatch *sigbatch; /* texts waiting for this turn's signature (sigbatch.c) */
};

/* The wall clock at event time now_ms (cfg.wall_offset_ms). */
uint64_t core_wall_ms(const struct core *core, uint64_t now_ms);
void core_log(struct core *core, int level, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * One frame to the node to_pk at addr, authenticated for it alone; to_pk
 * NULL (a seed we know only by address) signs it instead.
 */
void core_send(struct core *core, const uint8_t *to_pk, const char *addr, int type,
               const char *body, size_t len);
/* One body to many: encoded once, a tag per recipient. */
void core_multicast(struct core *core, const uint8_t *const *to_pks, const char *const *addrs,
                    size_t naddrs, int type, const char *body, size_t len);
/* Our frame key with pk (cached; derived on a miss), or NULL if pk makes none. */
const uint8_t *core_peer_key(struct core *core, const uint8_t pk[CHORUS_PK_BYTES]);
void core_member_changed(struct core *core, long i, int old_state, int forgotten);
size_t core_alive_count(const struct core *core);
unsigned core_retransmit_limit(const struct core *core);

/* ---------------------------------------------------------------- sigbatch.c */
/*
 * A text to sign in this turn's batch: cb gets its authenticator (NULL when
 * the node is destroyed first: free what arg owns, send nothing).  text must
 * stay valid until then.  0, or CORE_ERR_NOMEM (nothing kept: sign it alone).
 */
typedef void sigbatch_cb(struct core *core, void *arg, const struct batchsig *auth);
int sigbatch_add(struct core *core, const char *text, size_t len, sigbatch_cb *cb, void *arg);
void sigbatch_free(struct core *core);
size_t sigbatch_waiting(const struct core *core);

#endif

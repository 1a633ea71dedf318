/*
 * Internals of membership, shared by its own files only (build check:
 * contrib/check-layout.sh).  The rest of the core uses membership.h.
 */
#ifndef CHORUS_CORE_MEMBERSHIP_INTERNAL_H
#define CHORUS_CORE_MEMBERSHIP_INTERNAL_H

#include "core-internal.h"

/* ---------------------------------------------------------------- rumors.c */
struct rumor {
	uint8_t about[CHORUS_PK_BYTES];
	uint64_t start_ms;
	uint64_t inc;
	uint8_t kind;
	uint8_t digest; /* json now holds the digest of the record (rumors_take) */
	uint16_t transmits;
	uint16_t len;
	char *json;
};
typedef int (*rumor_current_cb)(void *ctx, const struct rumor *r);
int rumors_push(struct rumors *q, const uint8_t about[CHORUS_PK_BYTES], uint64_t start_ms,
                uint64_t inc, int kind, const char *json, size_t len);
/*
 * Appends comma-separated rumors to sb while they fit in budget bytes, each
 * at most once; a rumor sent `limit` times is dropped.  A record rumor sent
 * `eager` times already goes out as a digest (id and version) instead: those
 * who lack it ask for it (lazy push, as in Plumtree).  Returns how many.
 */
size_t rumors_take(struct rumors *q, struct sb *sb, size_t budget, unsigned limit, unsigned eager,
                   rumor_current_cb current, void *ctx);

/* ---------------------------------------------------------------- gossip.c */
int gossip_rumor_current(void *ctx, const struct rumor *r);
/*
 * Catch-up pulls: a node that joined sends a random member a Bloom filter
 * of its view every catchup interval, and the member answers with the
 * records the filter lacks.  The filter functions are exposed for tests.
 */
void gossip_filter_add(uint8_t *filter, size_t nbytes, uint64_t salt, uint64_t key);
int gossip_filter_has(const uint8_t *filter, size_t nbytes, uint64_t salt, uint64_t key);
uint64_t gossip_version_key(uint64_t id_prefix, uint64_t start_ms, uint64_t inc);
void gossip_catchup_start(struct core *core, uint64_t now_ms);
void gossip_catchup_tick(struct core *core, uint64_t now_ms);
/* Rumor handling shared by every message that carries rumors. */
void gossip_merge_rumors(struct core *core, const struct wire_frame *f, const cJSON *arr,
                         uint64_t now_ms);
/*
 * Merges a signed record given as gossip_record_fields(); returns its member
 * index (-1 for our own record) or an error.  `about`, `start_ms` and `inc`
 * are filled from the entry's header whenever it parses.
 */
long gossip_merge_record(struct core *core, const cJSON *entry, uint8_t about[CHORUS_PK_BYTES],
                         uint64_t *start_ms, uint64_t *inc, uint64_t now_ms);
void gossip_push_state_rumor(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES]);
void gossip_spread(struct core *core, uint64_t now_ms);
void gossip_send_sync(struct core *core, const uint8_t *to_pk, const char *addr, int want_reply);

/* ---------------------------------------------------------------- swim.c */
/* Sends member i a gossip frame with one sus/dead verdict about itself. */
void swim_send_verdict(struct core *core, const struct member *m, int kind,
                       const uint8_t from[CHORUS_PK_BYTES]);
uint64_t swim_suspicion_max_ms(const struct core *core);
void swim_suspect(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES], uint64_t now_ms);
void swim_mark_dead(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES], uint64_t now_ms);
void swim_expire_members(struct core *core, uint64_t now_ms);
void swim_on_state_rumor(struct core *core, int kind, const uint8_t about[CHORUS_PK_BYTES],
                         uint64_t start_ms, uint64_t inc, const uint8_t from[CHORUS_PK_BYTES],
                         uint64_t now_ms);
void swim_probe_order_insert(struct core *core, const uint8_t pk[CHORUS_PK_BYTES]);

#endif

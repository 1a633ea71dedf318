/*
 * membership: who is in the network (docs/membership.md).  Signed records
 * (record.c), the member table (members.c), the broadcast queue
 * (rumors.c), SWIM probes (swim.c) and gossip, joins and
 * catch-up pulls (gossip.c).  This header is what core.c and the other
 * protocols use; membership-internal.h is for membership's own files.
 */
#ifndef CHORUS_CORE_MEMBERSHIP_H
#define CHORUS_CORE_MEMBERSHIP_H

#include "base/base.h"

struct core;
struct wire_frame;

/* ---------------------------------------------------------------- record.c */
/* Canonical JSON text of a record; returns its length or a negative error. */
int record_encode(char *out, size_t cap, const struct record *r);
int record_decode(struct record *r, const char *text, size_t len);
/* Tags as a signed text carries them: ,"KEY":["K=V",...] (nothing when n is 0), and back. */
void record_tags_put(struct sb *sb, const char *key, const struct chorus_tag *tags, unsigned n);
int record_tags_get(const cJSON *obj, const char *key, struct chorus_tag *tags, unsigned *n);
int record_tags_valid(const struct chorus_tag *tags, unsigned n);
/* Orders versions of one node's record: generation, then incarnation. */
int record_version_cmp(uint64_t start_a, uint64_t inc_a, uint64_t start_b, uint64_t inc_b);

/* ---------------------------------------------------------------- members.c */
#define MEMBER_CONFIRM_MAX CHORUS_INDIRECT_MAX
/* Hot fields first: a lookup and a digest compare touch only the first cache line. */
struct member {
	uint8_t pk[CHORUS_PK_BYTES];
	uint64_t start_ms; /* record generation */
	uint64_t inc;      /* record incarnation */
	enum member_state state;
	int left;
	uint64_t last_seen_ms;
	uint64_t state_since_ms;
	uint64_t deadline_ms; /* suspicion timeout or tombstone expiry; 0: none */
	uint64_t gossip_seq;  /* last frame seq seen from it (this generation) */
	uint64_t revived_ms;   /* last DEAD -> ALIVE (it refuted: a heal); 0: never */
	uint64_t told_ms;      /* last verdict passed on to it (gossip_tell_accused) */
	uint64_t reconnect_ms; /* dead: next reconnect ping (swim_reconnect) */
	uint8_t reconnects;    /* dead: reconnect pings sent so far */
	uint8_t confirms;     /* distinct suspecters beyond the first */
	uint16_t text_len;
	char *text; /* signed record text (heap) */
	uint8_t sig[CHORUS_SIG_BYTES];
	uint64_t confirmers[MEMBER_CONFIRM_MAX];
	char addr[CHORUS_ADDR_MAX + 1];
	char name[CHORUS_NAME_MAX + 1];
};


struct members {
	struct member *v;
	size_t n;
	size_t cap;
	struct member_slot *slots; /* open addressing on the key's first 8 bytes */
	size_t nslots;
	size_t counts[MEMBER_LEFT + 1]; /* members per state, kept by members_set_state */
	/* Bumped by every add, remove and state change; a stored record is always followed by one. */
	uint64_t epoch;
};
int members_init(struct members *ms);
void members_free(struct members *ms);
/* Index of pk, or -1. */
long members_find(const struct members *ms, const uint8_t pk[CHORUS_PK_BYTES]);
/* Index of the first member whose key starts with these 8 bytes (big endian), or -1. */
long members_find_prefix(const struct members *ms, uint64_t prefix);
/* Adds an empty member for pk; returns its index or a negative error. */
long members_add(struct members *ms, const uint8_t pk[CHORUS_PK_BYTES]);
void members_remove(struct members *ms, size_t i);
void members_set_state(struct members *ms, size_t i, enum member_state st);
const char *members_check(const struct members *ms);

/* ---------------------------------------------------------------- rumors.c */
/*
 * The broadcast queue: a ring used as a deque.  New rumors go to the front,
 * sent ones to the back, so the least-sent rumors go out first.  A rumor
 * about a node is superseded by newer news about it; the core decides that
 * when one is taken (rumor_current_cb), so no index is needed here.
 */
enum rumor_kind { RUMOR_RECORD = 1, RUMOR_SUSPECT = 2, RUMOR_DEAD = 3 };
struct rumors {
	struct rumor *ring;
	size_t cap;
	size_t head;
	size_t n;
};
int rumors_init(struct rumors *q);
void rumors_free(struct rumors *q);

/* SWIM probe state (swim.c), kept in struct core. */
struct probe {
	int active;
	int indirect_sent;
	uint8_t target[CHORUS_PK_BYTES];
	uint64_t seq;
	uint64_t direct_deadline_ms;
	uint64_t final_deadline_ms;
	unsigned nacks_expected;
	unsigned nacks;
};
struct relay {
	int active;
	uint64_t our_seq;
	uint64_t origin_seq;
	uint8_t origin_pk[CHORUS_PK_BYTES]; /* who asked: our ack or nack is for it alone */
	char origin_addr[CHORUS_ADDR_MAX + 1];
	uint64_t deadline_ms;
};

/* ---------------------------------------------------------------- gossip.c */
/* `"i":id,"g":start,"c":inc,"r":record text,"s":signature` of member m. */
void gossip_record_fields(const struct member *m, struct sb *sb);
void gossip_on_pull(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void gossip_on_want(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void gossip_publish_self(struct core *core, uint64_t now_ms);
void gossip_on_sync(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void gossip_on_join(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void gossip_on_gossip(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms);

/* ---------------------------------------------------------------- swim.c */
void swim_tick(struct core *core, uint64_t now_ms);
void swim_tell_dead(struct core *core, long i, uint64_t now_ms);
void swim_on_ping(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void swim_on_ack(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void swim_on_ping_req(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms);
void swim_on_nack(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
uint64_t swim_next_deadline_ms(const struct core *core);
long swim_random_member(struct core *core, const uint8_t *exclude, int include_recent_dead,
                        uint64_t now_ms);

#endif

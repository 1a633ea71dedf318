/*
 * Internals of the sans-io core, one section per file (tmux style).  Nothing
 * here performs I/O: see contrib/check-sans-io.sh, run by the build.
 */
#ifndef CHORUS_CORE_INTERNAL_H
#define CHORUS_CORE_INTERNAL_H

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chorus/core.h"

/* ---------------------------------------------------------------- rng.c */
/* xoshiro256**: fast, seedable, identical on every platform. */
struct rng {
	uint64_t s[4];
};
void rng_seed(struct rng *rng, uint64_t seed);
uint64_t rng_next(struct rng *rng);
uint32_t rng_below(struct rng *rng, uint32_t n); /* uniform in [0, n), n > 0 */

/* ---------------------------------------------------------------- codec.c */
/* A bounded string builder; overflow is sticky and checked once at the end. */
struct sb {
	char *buf;
	size_t len;
	size_t cap;
	int overflow;
};
void sb_init(struct sb *sb, char *buf, size_t cap);
void sb_putn(struct sb *sb, const char *s, size_t n);
void sb_puts(struct sb *sb, const char *s);
void sb_printf(struct sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_str(struct sb *sb, const char *s, size_t n); /* quoted and escaped */

void codec_hex(char *out, const uint8_t *in, size_t len); /* out holds 2 * len + 1 */
int codec_unhex(uint8_t *out, size_t len, const char *in); /* exactly 2 * len digits */
int codec_valid_name(const char *s, size_t max);           /* [A-Za-z0-9._-]{1,max} */
int codec_valid_addr(const char *s);                       /* scheme://rest, printable */
void codec_put_u32(uint8_t *p, uint32_t v);
void codec_put_u64(uint8_t *p, uint64_t v);
uint32_t codec_get_u32(const uint8_t *p);
/*
 * One load and a byte swap rather than eight shifts: the member index
 * hashes and compares keys by their first 8 bytes on every lookup, and the
 * loop was 7% of a simulator profile; inline, as the call itself cost 6%.
 */
static inline uint64_t codec_get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#elif !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
#error "unknown byte order"
#endif
	return v;
}

/*
 * While one frame is handled, cJSON allocates from a bump arena that is
 * reset when the frame is done: parsing a 64 KiB gossip frame makes
 * thousands of small allocations, and malloc was the simulator's hottest
 * function.  Not reentrant: the core is single-threaded by design.
 */
void codec_arena_begin(void);
void codec_arena_end(void);

/* cJSON accessors that check type and range; 0 or CORE_ERR_MALFORMED. */
#define CODEC_JSON_INT_MAX ((uint64_t)1 << 53)
int codec_json_u64(const cJSON *obj, const char *key, uint64_t max, uint64_t *out);
int codec_json_str(const cJSON *obj, const char *key, size_t max, const char **out);
int codec_json_pk(const cJSON *obj, const char *key, uint8_t pk[CHORUS_PK_BYTES]);
/* A record digest "<16 hex id prefix>:<start_ms>:<inc>" (rumor.c); 0 or an error. */
int codec_parse_digest(const char *s, uint64_t *prefix, uint64_t *start_ms, uint64_t *inc);

/* ---------------------------------------------------------------- wire.c */
enum wire_type {
	WIRE_PING = 1,
	WIRE_ACK = 2,
	WIRE_PING_REQ = 3,
	WIRE_NACK = 4,
	WIRE_JOIN = 5,
	WIRE_SYNC = 6,
	WIRE_GOSSIP = 7,
	WIRE_WANT = 8,
	WIRE_REQUEST = 9,  /* work request, signed by the client, broadcast */
	WIRE_OFFER = 10,   /* worker -> client */
	WIRE_DISPATCH = 11,/* client -> worker: signed request + payload */
	WIRE_ACCEPT = 12,  /* worker -> client */
	WIRE_REFUSE = 13,  /* worker -> client */
	WIRE_RECEIPT = 14, /* worker -> client: signed receipt + result */
	WIRE_CANCEL = 15,  /* client -> worker */
	WIRE_JOBACK = 16,  /* completion ack, signed by the client, broadcast */
	WIRE_RAFT = CORE_APP_RAFT,     /* opaque: a Raft message, for env.app_cb */
	WIRE_LEDGER = CORE_APP_LEDGER, /* opaque: ledger submissions and answers, for env.app_cb */
	WIRE_STATUS_Q = 19, /* client -> worker: what became of this job? (after a restart) */
	WIRE_STATUS_A = 20, /* worker -> client: running, or never had it (done: the receipt) */
	WIRE_PULL = 21,    /* a joiner's Bloom filter of its view: send me what it lacks */
	/* The queue (docs/dispatch.md, "The queue"): */
	WIRE_RESERVE = 22,   /* worker -> client: a reservation kept; client -> worker: keep one */
	WIRE_SLOT = 23,      /* worker -> client: a slot is free for your kind: send a job */
	WIRE_UNRESERVE = 24, /* client -> worker: none of that kind waits any more */
	WIRE_SLOT_NONE = 25, /* client -> worker: no job for that slot: pull the next */
	WIRE_OUTPUT = 26,  /* worker -> client: a chunk of a running job's stdout or stderr */
	/* 27-31 left for other frame types; the keyring's from 32 (docs/security.md). */
	WIRE_KEYRING = 32,   /* a keyring operation (install, use, remove, list) to a member */
	WIRE_KEYRING_A = 33, /* a member's answer: the fingerprints of the keys it holds */
	WIRE_TYPE_END
};
/* How a frame is authenticated. */
enum wire_auth {
	WIRE_AUTH_MAC = 1, /* sealed under the sender-recipient pair's key: the normal case */
	WIRE_AUTH_SIG = 2, /* sealed under the network key, then signed: a join to a seed */
};
struct wire_frame {
	uint8_t version;
	uint8_t type;
	uint8_t auth; /* enum wire_auth */
	uint8_t pk[CHORUS_PK_BYTES];
	uint64_t gen; /* sender's start_ms */
	uint64_t seq; /* sender's frame counter: makes every frame unique */
	const uint8_t *recipient; /* CHORUS_RECIPIENT_BYTES of the recipient's key; zero if signed */
	const uint8_t *body; /* ciphertext after wire_decode, plaintext after wire_open */
	size_t body_len;
	const uint8_t *seal; /* salt, admission tag, AEAD tag (CHORUS_MAC_BYTES) */
	const uint8_t *tag; /* the AEAD tag or the signature: tag_len bytes */
	size_t tag_len;
	size_t signed_len;  /* bytes a signature covers: all but itself */
};
const char *wire_type_name(int type);
int wire_decode(struct wire_frame *f, const uint8_t *buf, size_t len);
/* 1 if a decoded MAC frame names pk as its recipient. */
int wire_for_me(const struct wire_frame *f, const uint8_t pk[CHORUS_PK_BYTES]);
/* 0 or CORE_ERR_BADSIG. */
int wire_verify_sig(const struct core_crypto *crypto, const struct wire_frame *f, const uint8_t *buf);
/* 0 when the admission tag verifies under admit_key, else CORE_ERR_NOKEY: symmetric, cheap. */
int wire_admit(const struct wire_frame *f, const uint8_t *buf,
               const uint8_t admit_key[CHORUS_NETKEY_BYTES]);
/* Decrypts the body into plain (body_len bytes) and points f->body there; 0 or CORE_ERR_BADSIG. */
int wire_open(const struct core_crypto *crypto, struct wire_frame *f, const uint8_t *buf,
              uint8_t *plain, const uint8_t key[CHORUS_MAC_KEY_BYTES]);
/* A network key's admission key and signed-frame key. */
void wire_netkey_derive(const uint8_t netkey[CHORUS_NETKEY_BYTES],
                        uint8_t admit_key[CHORUS_NETKEY_BYTES], uint8_t join_key[CHORUS_MAC_KEY_BYTES]);
/* The open network's key (--insecure-open): all zero, never a real network key. */
extern const uint8_t wire_open_netkey[CHORUS_NETKEY_BYTES];
/* The pair's frame key under one network key (key may be pair_key). */
void wire_frame_key(uint8_t key[CHORUS_MAC_KEY_BYTES], const uint8_t netkey[CHORUS_NETKEY_BYTES],
                    const uint8_t pair_key[CHORUS_MAC_KEY_BYTES]);
/* What the replay cache remembers of an authentic frame: 8 bytes of its tag or signature. */
uint64_t wire_replay_key(const struct wire_frame *f);
/* The frame key we share with peer_pk; 0 or CORE_ERR_BADKEY. */
int wire_pair_key(const struct core_crypto *crypto, uint8_t key[CHORUS_MAC_KEY_BYTES],
                  const uint8_t pk[CHORUS_PK_BYTES], const uint8_t sk[CHORUS_SK_BYTES],
                  const uint8_t peer_pk[CHORUS_PK_BYTES]);
/*
 * Header and body of a frame, its trailer left to wire_seal_*: one body can
 * be sealed for several recipients in turn.  Returns the frame length, or a
 * negative error.
 */
int wire_encode_head(uint8_t *out, size_t cap, int type, int auth, const uint8_t pk[CHORUS_PK_BYTES],
                     uint64_t gen, uint64_t seq, const char *body, size_t body_len);
/* salt: the sender's, the same in all its frames, so that (gen, seq, salt) never repeats. */
void wire_seal_mac(uint8_t *frame, size_t len, const struct core_crypto *crypto,
                   const uint8_t to_pk[CHORUS_PK_BYTES], const uint8_t key[CHORUS_MAC_KEY_BYTES],
                   const uint8_t admit_key[CHORUS_NETKEY_BYTES], uint64_t salt);
void wire_seal_sig(uint8_t *frame, size_t len, const struct core_crypto *crypto,
                   const uint8_t sk[CHORUS_SK_BYTES], const uint8_t join_key[CHORUS_MAC_KEY_BYTES],
                   const uint8_t admit_key[CHORUS_NETKEY_BYTES], uint64_t salt);
/*
 * A whole frame from pk to to_pk (a signed one when to_pk is NULL), the key
 * derived on the spot: for tests and tools, the core caches keys.  Returns
 * the frame length or a negative error.
 */
int wire_encode_to(uint8_t *out, size_t cap, int type, const uint8_t pk[CHORUS_PK_BYTES], uint64_t gen,
                   uint64_t seq, const char *body, size_t body_len, const struct core_crypto *crypto,
                   const uint8_t sk[CHORUS_SK_BYTES], const uint8_t to_pk[CHORUS_PK_BYTES],
                   const uint8_t netkey[CHORUS_NETKEY_BYTES]);

/* The pairwise frame keys of the peers we talk to (bounded, CLOCK eviction). */
#define PEER_KEYS_SALT_BYTES 16
struct peer_key {
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t key[CHORUS_MAC_KEY_BYTES];
	uint64_t hash; /* SipHash of pk under the table's salt */
	uint8_t ref;   /* used since the clock hand last passed */
	uint8_t bad;   /* pk makes no shared secret: key is zero, do not talk */
	/* The frame key under one network key (fkey_serial: keyring serial, 0 none). */
	uint32_t fkey_serial;
	uint8_t fkey[CHORUS_MAC_KEY_BYTES];
	/* Replay window of this sender: its newest epoch, and its newest frame numbers in it. */
	uint64_t win_gen;
	uint64_t win_seq[CHORUS_REPLAY_WINDOW]; /* ascending; the first win_n used */
	uint8_t win_n;
};
struct peer_keys {
	struct peer_key *v;
	uint32_t *slots; /* 2 * cap, linear probing: index + 1, 0 empty */
	size_t n;
	size_t cap;      /* grows by doubling up to CHORUS_PEER_KEYS_MAX */
	size_t hand;     /* CLOCK hand once full */
	uint64_t evictions; /* entries (and their replay windows) dropped to make room */
	uint8_t salt[PEER_KEYS_SALT_BYTES];
};
void peer_keys_init(struct peer_keys *t, const uint8_t salt[PEER_KEYS_SALT_BYTES]);
void peer_keys_free(struct peer_keys *t);
/* Index of pk's entry (marked used), or -1. */
long peer_keys_find(struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES]);
/* Adds pk (not present), evicting when full; its index or CORE_ERR_NOMEM. */
long peer_keys_insert(struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES],
                      const uint8_t key[CHORUS_MAC_KEY_BYTES], int bad);
const char *peer_keys_check(const struct peer_keys *t);

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
/*
 * An index slot keeps the key's first 8 bytes beside the member's index: a
 * probe that meets another key is decided without touching that member
 * (a cache miss each, which dominated the 1000-node simulation).
 */
struct member_slot {
	uint64_t key; /* codec_get_u64(pk) */
	uint32_t idx; /* index + 1, 0 empty */
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

/* ---------------------------------------------------------------- rumor.c */
/*
 * The broadcast queue: a ring used as a deque.  New rumors go to the front,
 * sent ones to the back, so the least-sent rumors go out first.  A rumor
 * about a node is superseded by newer news about it; the core decides that
 * when one is taken (rumor_current_cb), so no index is needed here.
 */
enum rumor_kind { RUMOR_RECORD = 1, RUMOR_SUSPECT = 2, RUMOR_DEAD = 3 };
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
struct rumors {
	struct rumor *ring;
	size_t cap;
	size_t head;
	size_t n;
};
typedef int (*rumor_current_cb)(void *ctx, const struct rumor *r);
int rumors_init(struct rumors *q);
void rumors_free(struct rumors *q);
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

/* The seen-cache: recent frame tags (MACs or signatures), to drop replays. */
struct seen {
	uint64_t ring[CHORUS_SEEN_MAX];
	size_t head;
	size_t n;
	uint32_t slots[2 * CHORUS_SEEN_MAX]; /* ring index + 1 */
};
void seen_init(struct seen *s); /* a zeroed struct seen is already empty */
/* 1 if key was already there; otherwise remembers it (evicting the oldest). */
int seen_check_insert(struct seen *s, uint64_t key);


/* ---------------------------------------------------------------- jobmsg.c */
#define JOBMSG_HASH_BYTES 32   /* BLAKE2b-256 of payloads, results and receipts */
#define JOBMSG_TEXT_MAX   1024 /* one signed request, receipt or ack text */
/* The ack's "v": 2 added seq and floor (the ledger's window, docs/ledger.md). */
#define JOBMSG_ACK_VERSION 2
#define JOBMSG_ACK_V       "2"
struct jreq {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint64_t nonce;
	uint8_t client[CHORUS_PK_BYTES];
	uint64_t gen;                   /* the client's start time */
	char addr[CHORUS_ADDR_MAX + 1]; /* where offers and receipts go */
	char kind[CHORUS_KIND_MAX + 1];
	size_t size;
	uint8_t hash[JOBMSG_HASH_BYTES]; /* of the payload */
	uint32_t timeout_ms;
	uint64_t reward;
	uint64_t created_ms;
	unsigned round;
	/* The constraint (submit --where): "where":["KEY=VALUE",...], absent when empty. */
	struct chorus_tag where[CHORUS_NODE_TAGS_MAX];
	unsigned nwhere;
};
struct jreceipt {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint8_t client[CHORUS_PK_BYTES];
	uint8_t worker[CHORUS_PK_BYTES];
	char kind[CHORUS_KIND_MAX + 1];
	char status[12]; /* ok, failed, timeout, cancelled */
	uint8_t result_hash[JOBMSG_HASH_BYTES];
	size_t result_size;
	uint64_t duration_ms;
};
struct jack {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint64_t nonce; /* id = BLAKE2b-128(client || nonce): the ledger can check whose job it is */
	uint8_t client[CHORUS_PK_BYTES];
	uint64_t seq;   /* grows with every ack of this client, across its restarts */
	uint64_t floor; /* <= seq: the client's acks below it were all settled when it signed */
	int has_worker;
	uint8_t worker[CHORUS_PK_BYTES];
	char kind[CHORUS_KIND_MAX + 1];
	char status[12]; /* succeeded, failed, cancelled */
	uint8_t result_hash[JOBMSG_HASH_BYTES];
	unsigned attempts;
	uint64_t reward;
	uint8_t receipt_hash[JOBMSG_HASH_BYTES];
};
void jobmsg_job_id(uint8_t id[CHORUS_JOB_ID_BYTES], const uint8_t client[CHORUS_PK_BYTES],
                   uint64_t nonce);
void jobmsg_hash(uint8_t out[JOBMSG_HASH_BYTES], const void *data, size_t len);
int jobmsg_request_encode(char *out, size_t cap, const struct jreq *r);
int jobmsg_request_decode(struct jreq *r, const char *text, size_t len);
int jobmsg_receipt_encode(char *out, size_t cap, const struct jreceipt *r);
int jobmsg_receipt_decode(struct jreceipt *r, const char *text, size_t len);
int jobmsg_ack_encode(char *out, size_t cap, const struct jack *a);
int jobmsg_ack_decode(struct jack *a, const char *text, size_t len);
/* The general JSON path alone (the decoders above try a canonical fast path first): tests. */
int jobmsg_request_decode_json(struct jreq *r, const char *text, size_t len);
int jobmsg_ack_decode_json(struct jack *a, const char *text, size_t len);
int jobmsg_receipt_decode_json(struct jreceipt *r, const char *text, size_t len);
/* A signed text in a body: "tkey":"<text>","skey":"<signature hex>". */
int jobmsg_signed_get(const cJSON *body, const char *tkey, const char *skey, const char **text,
                      size_t *len, uint8_t sig[CHORUS_SIG_BYTES]);
void jobmsg_signed_put(struct sb *sb, const char *tkey, const char *skey, const char *text,
                       size_t len, const uint8_t sig[CHORUS_SIG_BYTES]);
/* The status pair: a restarted client asks the worker of a job's last attempt. */
enum jstatus_kind {
	JSTATUS_QUERY = 0,
	JSTATUS_RUNNING = 1, /* answer: it runs here (in this process) */
	JSTATUS_UNKNOWN = 2, /* answer: never had it, and now refuses attempts up to this one */
};
struct jstatus {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint64_t nonce;   /* query only: proves the asker is the job's client */
	unsigned attempt; /* 1..CHORUS_JOB_ATTEMPTS_MAX */
	enum jstatus_kind kind;
};
#define JOBMSG_STATUS_MAX 128 /* either body, encoded */
int jobmsg_status_encode(char *out, size_t cap, const struct jstatus *s);
int jobmsg_status_decode(struct jstatus *s, const cJSON *body, int query,
                         const uint8_t from[CHORUS_PK_BYTES]);
/* The queue's frames (reserve, slot, unreserve, slot-none): one body, see jobmsg.c. */
struct jqueue {
	char kind[CHORUS_KIND_MAX + 1];
	int ask;          /* a client's reservation ask: n of its jobs wait */
	uint32_t n;
	int has_job;      /* a worker's answer to this job's request */
	uint8_t id[CHORUS_JOB_ID_BYTES];
	int has_load;     /* a worker's answer or pull: its load, capacity, others waiting */
	uint32_t load, cap, ahead;
};
#define JOBMSG_QUEUE_MAX 192 /* one encoded body */
int jobmsg_queue_encode(char *out, size_t cap, const struct jqueue *q);
int jobmsg_queue_decode(struct jqueue *q, const cJSON *body);
/*
 * A chunk of live output (WIRE_OUTPUT, worker -> client):
 *   {"job":ID,"a":ATTEMPT,"s":0|1,"off":N,"d":"<base64>"[,"end":N]}
 * s: 0 stdout, 1 stderr; off: the stream position of the first byte; end
 * (the last chunk of a stream, once the job ended): all the bytes the job
 * wrote to it, sent or not.  Checked: off + len <= CHORUS_OUTPUT_JOB_MAX,
 * len <= CHORUS_OUTPUT_CHUNK_MAX, end >= off + len; only the last may be empty.
 */
struct joutput {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	unsigned attempt; /* 1..CHORUS_JOB_ATTEMPTS_MAX */
	unsigned stream;  /* 0 stdout, 1 stderr */
	uint64_t off;
	const uint8_t *data;
	size_t len;
	int has_end;
	uint64_t end;
};
int jobmsg_output_encode(struct sb *sb, const struct joutput *o);
/* Bytes land in buf (CHORUS_OUTPUT_CHUNK_MAX); 0 or CORE_ERR_MALFORMED. */
int jobmsg_output_decode(struct joutput *o, const cJSON *body, uint8_t *buf);
/* Bytes as a quoted base64 string, and back (at most max bytes). */
void jobmsg_b64_put(struct sb *sb, const uint8_t *data, size_t len);
int jobmsg_b64_get(const cJSON *obj, const char *key, uint8_t *out, size_t max, size_t *len);

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
struct acks_open {
	uint64_t seq;
	uint8_t settled; /* the driver said so; leaves once it heads the FIFO */
	uint8_t pinned;  /* the ack of a job resumed after a restart (the pin) */
};
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
uint64_t acks_next_seq(struct core *core, uint64_t now_ms);
uint64_t acks_floor(const struct core *core, uint64_t own);
void acks_open(struct core *core, uint64_t seq, int pinned);
void acks_pin_job(struct core *core);
void acks_unpin_job(struct core *core);
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
/* Sends body to every alive member (at most CHORUS_BROADCAST_DIRECT of them). */
int dispatch_broadcast(struct core *core, int type, const char *body_head, const char *body_tail,
                       const char *kind_filter, const uint8_t *skip);
/* The job a worker's message about attempt `a` is for, if pk is that attempt's worker; or NULL. */
struct cjob *dispatch_job_of_attempt(struct core *core, const uint8_t id[CHORUS_JOB_ID_BYTES],
                                     unsigned a, const uint8_t pk[CHORUS_PK_BYTES]);

/* ---------------------------------------------------------------- output.c */
/* The client's side of live output: which chunks to keep (env.output_cb), which to drop. */
void output_on_chunk(struct core *core, const struct wire_frame *f, const cJSON *body,
                     uint64_t now_ms);

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
/* 1 the first time a request/ack signature is seen here, 0 after. */
int work_first_sight(struct core *core, const uint8_t sig[CHORUS_SIG_BYTES]);
int work_first_sight_id(struct core *core, uint64_t id); /* a batch-signed text's (jobmsg_auth_id) */
/* 1 if this node runs kind (a capability and a runner): it offers, to others and to itself. */
int work_runs_kind(const struct core *core, const char *kind);

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
/* An authentic completion ack: log it, hand it to the driver. */
void work_ack_seen(struct core *core, const char *text, size_t len, const struct batchsig *auth,
                   const char *rtext, size_t rlen, const struct batchsig *rauth,
                   const struct jack *a);
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
struct qhold {
	uint8_t client[CHORUS_PK_BYTES];
	char kind[CHORUS_KIND_MAX + 1];
	uint64_t deadline_ms;
	uint32_t charge_ms;    /* charged to the client when pulled (its usual slot-time) */
};
/* Slot-time used here per weight (ms / weight): the fair share's virtual time. */
struct qusage {
	uint8_t client[CHORUS_PK_BYTES];
	double vtime;
	double est_ms;         /* its usual slot-time here (moving average): a pull's charge */
	uint32_t running;      /* its works running here */
};
struct qweight {
	uint8_t client[CHORUS_PK_BYTES];
	unsigned weight;
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
void queue_on_reserve(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms);
void queue_on_slot(struct core *core, const struct wire_frame *f, const cJSON *body,
                   uint64_t now_ms);
void queue_on_unreserve(struct core *core, const struct wire_frame *f, const cJSON *body,
                        uint64_t now_ms);
/* dispatch.c: a pull for kind from worker f: bind our best queued job to it (1), or 0. */
int dispatch_pull(struct core *core, const struct wire_frame *f, const char *kind,
                  uint32_t load, uint32_t cap, uint64_t now_ms);
/* dispatch.c: 1 when this job of ours is in flight and of this kind. */
int dispatch_job_of_kind(struct core *core, const uint8_t id[CHORUS_JOB_ID_BYTES], const char *kind);
/* dispatch.c: a reservation answer for one of our jobs. */
void dispatch_reserved(struct core *core, const uint8_t id[CHORUS_JOB_ID_BYTES], uint64_t now_ms);
/* ---------------------------------------------------------------- core.c */
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
/* The network keys this node holds (docs/security.md); n == 0: open (--insecure-open). */
struct core_keyring {
	uint8_t key[CHORUS_KEYRING_MAX][CHORUS_NETKEY_BYTES];
	uint8_t admit[CHORUS_KEYRING_MAX][CHORUS_NETKEY_BYTES];
	uint8_t join[CHORUS_KEYRING_MAX][CHORUS_MAC_KEY_BYTES];
	uint32_t serial[CHORUS_KEYRING_MAX]; /* unique per key installed in this process */
	unsigned n;
	unsigned primary;
	uint32_t next_serial;
};

/* ---------------------------------------------------------------- keyops.c */
/* A keyring operation as it travels (sealed, to each member) and its answer. */
struct keyops_msg {
	int op; /* enum core_keyring_op */
	uint8_t key[CHORUS_NETKEY_BYTES]; /* install, use, remove */
	uint64_t nonce; /* the operation's: answers to another are ignored */
};
struct keyops_answer {
	uint64_t nonce;
	unsigned n;
	unsigned primary; /* < n */
	uint8_t fp[CHORUS_KEYRING_MAX][CHORUS_KEY_FP_BYTES];
	char err[32];     /* the member refused the operation: why ("" none) */
};
/* A member's answer to the current operation. */
struct keyops_report {
	uint8_t pk[CHORUS_PK_BYTES];
	struct keyops_answer a;
};
struct keyops {
	uint64_t nonce; /* the current operation's; 0 none */
	struct keyops_report *v;
	size_t n, cap;  /* cap grows up to CHORUS_MEMBERS_MAX */
};
int keyops_encode_msg(char *out, size_t cap, const struct keyops_msg *m);
int keyops_decode_msg(struct keyops_msg *m, const cJSON *body);
int keyops_encode_answer(char *out, size_t cap, const struct keyops_answer *a);
int keyops_decode_answer(struct keyops_answer *a, const cJSON *body);
void keyops_fingerprint(uint8_t fp[CHORUS_KEY_FP_BYTES], const uint8_t key[CHORUS_NETKEY_BYTES]);
void keyops_free(struct core *core);
void keyops_on_op(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void keyops_on_answer(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms);

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

/* ---------------------------------------------------------------- gossip.c */
int gossip_rumor_current(void *ctx, const struct rumor *r);
/* `"i":id,"g":start,"c":inc,"r":record text,"s":signature` of member m. */
void gossip_record_fields(const struct member *m, struct sb *sb);
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
void gossip_on_pull(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);

/* ---------------------------------------------------------------- swim.c */
void swim_tick(struct core *core, uint64_t now_ms);
void swim_tell_dead(struct core *core, long i, uint64_t now_ms);
/* Sends member i a gossip frame with one sus/dead verdict about itself. */
void swim_send_verdict(struct core *core, const struct member *m, int kind,
                       const uint8_t from[CHORUS_PK_BYTES]);
uint64_t swim_suspicion_max_ms(const struct core *core);
void swim_on_ping(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void swim_on_ack(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void swim_on_ping_req(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms);
void swim_on_nack(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
uint64_t swim_next_deadline_ms(const struct core *core);
/* Rumor handling shared by every message that carries rumors. */
void swim_merge_rumors(struct core *core, const struct wire_frame *f, const cJSON *arr,
                       uint64_t now_ms);
void swim_on_want(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
/*
 * Merges a signed record given as gossip_record_fields(); returns its member
 * index (-1 for our own record) or an error.  `about`, `start_ms` and `inc`
 * are filled from the entry's header whenever it parses.
 */
long swim_merge_record(struct core *core, const cJSON *entry, uint8_t about[CHORUS_PK_BYTES],
                       uint64_t *start_ms, uint64_t *inc, uint64_t now_ms);
void swim_suspect(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES], uint64_t now_ms);
void swim_mark_dead(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES], uint64_t now_ms);
void swim_expire_members(struct core *core, uint64_t now_ms);
void swim_publish_self(struct core *core, uint64_t now_ms);
void swim_push_state_rumor(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES]);
void swim_on_state_rumor(struct core *core, int kind, const uint8_t about[CHORUS_PK_BYTES],
                         uint64_t start_ms, uint64_t inc, const uint8_t from[CHORUS_PK_BYTES],
                         uint64_t now_ms);
void swim_gossip(struct core *core, uint64_t now_ms);
void swim_send_sync(struct core *core, const uint8_t *to_pk, const char *addr, int want_reply);
void swim_on_sync(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void swim_on_join(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms);
void swim_on_gossip(struct core *core, const struct wire_frame *f, const cJSON *body,
                    uint64_t now_ms);
void swim_probe_order_insert(struct core *core, const uint8_t pk[CHORUS_PK_BYTES]);
long swim_random_member(struct core *core, const uint8_t *exclude, int include_recent_dead,
                        uint64_t now_ms);

/* ---------------------------------------------------------------- batch-signed texts (jobmsg.c) */
/* A batch-signed text in a body: "tkey":"<text>","bkey":"<batchsig hex>" (batchsig.h). */
int jobmsg_auth_get(const cJSON *body, const char *tkey, const char *bkey, const char **text,
                    size_t *len, struct batchsig *auth);
void jobmsg_auth_put(struct sb *sb, const char *tkey, const char *bkey, const char *text,
                     size_t len, const struct batchsig *auth);
/* A batch-signed text's id for the seen set: its Merkle leaf's first bytes (a batch shares one signature). */
uint64_t jobmsg_auth_id(const char *text, size_t len);

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

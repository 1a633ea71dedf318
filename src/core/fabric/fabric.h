/*
 * fabric: frames on the wire (wire.c), the pairwise keys and replay windows
 * of the peers we talk to (peer keys), the network keyring and its
 * operations (keyops.c).  What the other protocols see of the fabric:
 * struct wire_frame and the frame types; core.c seals and opens.
 */
#ifndef CHORUS_CORE_FABRIC_H
#define CHORUS_CORE_FABRIC_H

#include "base/base.h"

struct core;

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

/* ---------------------------------------------------------------- peer-keys.c */
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

#endif

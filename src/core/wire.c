/*
 * wire: the fabric frame, its authentication, and the cache of pairwise
 * frame keys.  Bump CHORUS_WIRE_VERSION if this layout changes.
 *
 *   0   2  magic "CH"
 *   2   1  version (4)
 *   3   1  type (enum wire_type)
 *   4   4  body length, big-endian
 *   8  32  sender's ed25519 public key (its node id)
 *  40   8  sender's generation (start time, ms)
 *  48   8  sender's frame sequence number
 *  56   1  auth (enum wire_auth): 1 MAC, 2 signature
 *  57   7  recipient: the first 7 bytes of its public key (MAC); zero (signature)
 *  64   n  body: one JSON object (opaque bytes for the app types: raft, ledger)
 *  64+n    MAC: 8-byte salt, 8 zero bytes, 16-byte tag over bytes [0, 64+n)
 *          under the pair's frame key (XChaCha20-Poly1305, nothing encrypted,
 *          the frame as associated data) and the nonce generation || frame
 *          sequence number || salt
 *          signature: 64-byte ed25519 signature by the sender over [0, 64+n)
 *
 * The nonce must never repeat under a pair's key: the frame number grows
 * for every frame a core sends, the generation is its start time, and the
 * salt, drawn once per core from its seed (random per process in chorusd),
 * keeps two processes that share a generation (a clock set back across a
 * restart) apart.  Changing the salt or the header changes the tag.  Before
 * wire 4 the tag was keyed BLAKE2b-256, three times slower on the frames a
 * job sends (bench/frame-bench).
 *
 * Frames go point to point, so a MAC is all a receiver needs: the pair's
 * key (wire_pair_key) is known to the two nodes alone, and the tag covers
 * the sender's key and the recipient's prefix, so a frame verifies only at
 * the node it was made for and only as coming from its sender (a reflected
 * frame claims the wrong sender; one for another node fails there).  Texts
 * that third parties must verify carry their own signatures inside bodies.
 * The one frame a node sends before it knows the recipient's key, a join to
 * a seed, is signed instead; core_recv accepts signed frames of that type only.
 *
 * Every length is checked exactly: a frame whose body length does not match
 * its size and auth kind, or that exceeds CHORUS_FRAME_MAX (or its body
 * CHORUS_BODY_MAX), is rejected
 * before anything else looks at it.
 */
#include <stdlib.h>

#include <sodium.h>

#include "core-internal.h"

#define WIRE_AUTH_OFF 56
#define WIRE_RECIPIENT_OFF 57
#define WIRE_SALT_BYTES 8
#define WIRE_RESERVED_BYTES 8
_Static_assert(WIRE_SALT_BYTES + WIRE_RESERVED_BYTES + CHORUS_MAC_TAG_BYTES == CHORUS_MAC_BYTES,
               "MAC trailer layout");
_Static_assert(8 + 8 + WIRE_SALT_BYTES == CHORUS_MAC_NONCE_BYTES, "nonce layout");

_Static_assert(CHORUS_FRAME_HEADER == 2 + 1 + 1 + 4 + CHORUS_PK_BYTES + 8 + 8 + 1 +
                                          CHORUS_RECIPIENT_BYTES,
               "header layout");
_Static_assert(WIRE_RECIPIENT_OFF + CHORUS_RECIPIENT_BYTES == CHORUS_FRAME_HEADER, "header layout");

static const char *const wire_type_names[WIRE_TYPE_END] = {
	[WIRE_PING] = "ping", [WIRE_ACK] = "ack",   [WIRE_PING_REQ] = "ping-req",
	[WIRE_NACK] = "nack", [WIRE_JOIN] = "join", [WIRE_SYNC] = "sync",
	[WIRE_GOSSIP] = "gossip", [WIRE_WANT] = "want", [WIRE_REQUEST] = "request",
	[WIRE_OFFER] = "offer", [WIRE_DISPATCH] = "dispatch", [WIRE_ACCEPT] = "accept",
	[WIRE_REFUSE] = "refuse", [WIRE_RECEIPT] = "receipt", [WIRE_CANCEL] = "cancel",
	[WIRE_JOBACK] = "job-ack", [WIRE_RAFT] = "raft", [WIRE_LEDGER] = "ledger",
	[WIRE_STATUS_Q] = "status-query", [WIRE_STATUS_A] = "status-answer",
	[WIRE_PULL] = "pull",
};

const char *wire_type_name(int type)
{
	if (type <= 0 || type >= WIRE_TYPE_END || wire_type_names[type] == NULL)
		return "unknown";
	return wire_type_names[type];
}

static size_t wire_trailer_bytes(int auth)
{
	switch (auth) {
	case WIRE_AUTH_MAC: return CHORUS_MAC_BYTES;
	case WIRE_AUTH_SIG: return CHORUS_SIG_BYTES;
	}
	return 0;
}

static int wire_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

int wire_decode(struct wire_frame *f, const uint8_t *buf, size_t len)
{
	uint32_t body_len;
	size_t trailer;

	if (len > CHORUS_FRAME_MAX)
		return CORE_ERR_OVERSIZE;
	if (len < CHORUS_FRAME_HEADER + CHORUS_MAC_BYTES || buf[0] != 'C' || buf[1] != 'H')
		return CORE_ERR_MALFORMED;
	if (buf[2] != CHORUS_WIRE_VERSION)
		return CORE_ERR_VERSION;
	trailer = wire_trailer_bytes(buf[WIRE_AUTH_OFF]);
	if (trailer == 0 || len < CHORUS_FRAME_HEADER + trailer)
		return CORE_ERR_MALFORMED;
	body_len = codec_get_u32(buf + 4);
	if ((size_t)body_len != len - CHORUS_FRAME_HEADER - trailer)
		return CORE_ERR_MALFORMED;
	/*
	 * A MAC trailer is 32 bytes shorter than a signature, so a frame within
	 * CHORUS_FRAME_MAX can carry a body over CHORUS_BODY_MAX, which no
	 * encoder writes and the app decoders do not expect (found by fuzz-wire).
	 */
	if (body_len > CHORUS_BODY_MAX)
		return CORE_ERR_OVERSIZE;
	/* A signed frame names no recipient: the field must be clear, not ignored. */
	if (buf[WIRE_AUTH_OFF] == WIRE_AUTH_SIG &&
	    !wire_zero(buf + WIRE_RECIPIENT_OFF, CHORUS_RECIPIENT_BYTES))
		return CORE_ERR_MALFORMED;
	/* Nor does a MAC trailer's reserved half carry anything. */
	if (buf[WIRE_AUTH_OFF] == WIRE_AUTH_MAC &&
	    !wire_zero(buf + len - CHORUS_MAC_BYTES + WIRE_SALT_BYTES, WIRE_RESERVED_BYTES))
		return CORE_ERR_MALFORMED;
	f->version = buf[2];
	f->type = buf[3];
	f->auth = buf[WIRE_AUTH_OFF];
	memcpy(f->pk, buf + 8, CHORUS_PK_BYTES);
	f->gen = codec_get_u64(buf + 40);
	f->seq = codec_get_u64(buf + 48);
	f->recipient = buf + WIRE_RECIPIENT_OFF;
	f->body = buf + CHORUS_FRAME_HEADER;
	f->body_len = body_len;
	f->signed_len = CHORUS_FRAME_HEADER + body_len;
	f->tag = buf + f->signed_len;
	f->tag_len = trailer;
	assert(f->signed_len + f->tag_len == len);
	/* Well-formed, but a type we do not speak (a gap in the numbering included). */
	if (f->type == 0 || f->type >= WIRE_TYPE_END || wire_type_names[f->type] == NULL)
		return CORE_ERR_INVAL;
	return 0;
}

int wire_for_me(const struct wire_frame *f, const uint8_t pk[CHORUS_PK_BYTES])
{
	return f->auth == WIRE_AUTH_MAC && memcmp(f->recipient, pk, CHORUS_RECIPIENT_BYTES) == 0;
}

int wire_verify_sig(const struct core_crypto *crypto, const struct wire_frame *f, const uint8_t *buf)
{
	assert(f->signed_len >= CHORUS_FRAME_HEADER);
	if (f->auth != WIRE_AUTH_SIG)
		return CORE_ERR_BADSIG;
	return crypto->verify(f->tag, buf, f->signed_len, f->pk) == 0 ? 0 : CORE_ERR_BADSIG;
}

/* generation || frame number || salt: never the same twice under one pair key. */
static void wire_nonce(uint8_t nonce[CHORUS_MAC_NONCE_BYTES], uint64_t gen, uint64_t seq,
                       const uint8_t salt[WIRE_SALT_BYTES])
{
	codec_put_u64(nonce, gen);
	codec_put_u64(nonce + 8, seq);
	memcpy(nonce + 16, salt, WIRE_SALT_BYTES);
}

int wire_verify_mac(const struct core_crypto *crypto, const struct wire_frame *f, const uint8_t *buf,
                    const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	uint8_t nonce[CHORUS_MAC_NONCE_BYTES], want[CHORUS_MAC_TAG_BYTES];

	assert(f->signed_len >= CHORUS_FRAME_HEADER);
	if (f->auth != WIRE_AUTH_MAC)
		return CORE_ERR_BADSIG;
	wire_nonce(nonce, f->gen, f->seq, f->tag);
	crypto->mac(want, buf, f->signed_len, nonce, key);
	return sodium_memcmp(want, f->tag + CHORUS_MAC_BYTES - CHORUS_MAC_TAG_BYTES,
	                     CHORUS_MAC_TAG_BYTES) == 0
	           ? 0
	           : CORE_ERR_BADSIG;
}

uint64_t wire_replay_key(const struct wire_frame *f)
{
	/* A MAC trailer starts with the sender's salt, the same in all its frames: use the tag. */
	return codec_get_u64(f->auth == WIRE_AUTH_MAC ? f->tag + CHORUS_MAC_BYTES - CHORUS_MAC_TAG_BYTES
	                                              : f->tag);
}

/*
 * The frame key of the pair {pk, peer_pk}: BLAKE2b-256 of a label, the
 * X25519 secret and both keys in sorted order, so both ends get the same
 * key and no other pair does.  Our own key is refused: we never talk to
 * ourselves, and a frame with our id as sender is dropped anyway.
 */
int wire_pair_key(const struct core_crypto *crypto, uint8_t key[CHORUS_MAC_KEY_BYTES],
                  const uint8_t pk[CHORUS_PK_BYTES], const uint8_t sk[CHORUS_SK_BYTES],
                  const uint8_t peer_pk[CHORUS_PK_BYTES])
{
	static const char label[] = "chorus frame key v3";
	uint8_t shared[CHORUS_KX_BYTES];
	crypto_generichash_state st;
	int cmp = memcmp(pk, peer_pk, CHORUS_PK_BYTES);

	if (cmp == 0 || crypto->kx(shared, sk, peer_pk) != 0) {
		memset(key, 0, CHORUS_MAC_KEY_BYTES);
		return CORE_ERR_BADKEY;
	}
	crypto_generichash_init(&st, NULL, 0, CHORUS_MAC_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label));
	crypto_generichash_update(&st, shared, sizeof(shared));
	crypto_generichash_update(&st, cmp < 0 ? pk : peer_pk, CHORUS_PK_BYTES);
	crypto_generichash_update(&st, cmp < 0 ? peer_pk : pk, CHORUS_PK_BYTES);
	crypto_generichash_final(&st, key, CHORUS_MAC_KEY_BYTES);
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(&st, sizeof(st));
	return 0;
}

int wire_encode_head(uint8_t *out, size_t cap, int type, int auth, const uint8_t pk[CHORUS_PK_BYTES],
                     uint64_t gen, uint64_t seq, const char *body, size_t body_len)
{
	size_t trailer = wire_trailer_bytes(auth);
	size_t total = CHORUS_FRAME_HEADER + body_len + trailer;

	assert(type > 0 && type < WIRE_TYPE_END);
	assert(trailer > 0);
	if (body_len > CHORUS_BODY_MAX || total > CHORUS_FRAME_MAX || total > cap)
		return CORE_ERR_OVERSIZE;
	out[0] = 'C';
	out[1] = 'H';
	out[2] = CHORUS_WIRE_VERSION;
	out[3] = (uint8_t)type;
	codec_put_u32(out + 4, (uint32_t)body_len);
	memcpy(out + 8, pk, CHORUS_PK_BYTES);
	codec_put_u64(out + 40, gen);
	codec_put_u64(out + 48, seq);
	out[WIRE_AUTH_OFF] = (uint8_t)auth;
	memset(out + WIRE_RECIPIENT_OFF, 0, CHORUS_RECIPIENT_BYTES);
	memcpy(out + CHORUS_FRAME_HEADER, body, body_len);
	return (int)total;
}

void wire_seal_mac(uint8_t *frame, size_t len, const struct core_crypto *crypto,
                   const uint8_t to_pk[CHORUS_PK_BYTES], const uint8_t key[CHORUS_MAC_KEY_BYTES],
                   uint64_t salt)
{
	uint8_t nonce[CHORUS_MAC_NONCE_BYTES], *trailer = frame + len - CHORUS_MAC_BYTES;

	assert(len >= CHORUS_FRAME_HEADER + CHORUS_MAC_BYTES && frame[WIRE_AUTH_OFF] == WIRE_AUTH_MAC);
	memcpy(frame + WIRE_RECIPIENT_OFF, to_pk, CHORUS_RECIPIENT_BYTES);
	codec_put_u64(trailer, salt);
	memset(trailer + WIRE_SALT_BYTES, 0, WIRE_RESERVED_BYTES);
	wire_nonce(nonce, codec_get_u64(frame + 40), codec_get_u64(frame + 48), trailer);
	crypto->mac(trailer + WIRE_SALT_BYTES + WIRE_RESERVED_BYTES, frame, len - CHORUS_MAC_BYTES,
	            nonce, key);
}

void wire_seal_sig(uint8_t *frame, size_t len, const struct core_crypto *crypto,
                   const uint8_t sk[CHORUS_SK_BYTES])
{
	assert(len >= CHORUS_FRAME_HEADER + CHORUS_SIG_BYTES && frame[WIRE_AUTH_OFF] == WIRE_AUTH_SIG);
	crypto->sign(frame + len - CHORUS_SIG_BYTES, frame, len - CHORUS_SIG_BYTES, sk);
}

int wire_encode_to(uint8_t *out, size_t cap, int type, const uint8_t pk[CHORUS_PK_BYTES], uint64_t gen,
                   uint64_t seq, const char *body, size_t body_len, const struct core_crypto *crypto,
                   const uint8_t sk[CHORUS_SK_BYTES], const uint8_t to_pk[CHORUS_PK_BYTES])
{
	uint8_t key[CHORUS_MAC_KEY_BYTES];
	int n;

	if (to_pk == NULL) {
		n = wire_encode_head(out, cap, type, WIRE_AUTH_SIG, pk, gen, seq, body, body_len);
		if (n > 0)
			wire_seal_sig(out, (size_t)n, crypto, sk);
		return n;
	}
	if (wire_pair_key(crypto, key, pk, sk, to_pk) < 0)
		return CORE_ERR_BADKEY;
	n = wire_encode_head(out, cap, type, WIRE_AUTH_MAC, pk, gen, seq, body, body_len);
	if (n > 0) /* tools and tests: salt 0, the caller keeps (gen, seq) apart */
		wire_seal_mac(out, (size_t)n, crypto, to_pk, key, 0);
	sodium_memzero(key, sizeof(key));
	return n;
}

/* ---------------------------------------------------------------- peer keys */

/*
 * Deriving a pair's key costs an X25519 (~100 us), a MAC a microsecond: keys
 * are cached per peer.  A dense array with a linear-probing index, grown by
 * doubling up to CHORUS_PEER_KEYS_MAX, then CLOCK eviction (a recently used
 * key gets a second chance).  The index hashes keys with SipHash under a
 * secret salt: peer keys are chosen by peers, and a crafted set of them must
 * not pile up in one probe run.  A peer whose key makes no secret is cached
 * as bad, so a member with such a key costs one failed derivation, not one
 * per frame.
 */

#define PEER_KEYS_MIN 64
_Static_assert(PEER_KEYS_MIN <= CHORUS_PEER_KEYS_MAX, "the first table is within the bound");

void peer_keys_init(struct peer_keys *t, const uint8_t salt[PEER_KEYS_SALT_BYTES])
{
	memset(t, 0, sizeof(*t));
	memcpy(t->salt, salt, PEER_KEYS_SALT_BYTES);
}

void peer_keys_free(struct peer_keys *t)
{
	if (t->v != NULL)
		sodium_memzero(t->v, t->cap * sizeof(*t->v));
	free(t->v);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static uint64_t peer_keys_hash(const struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES])
{
	uint8_t h[crypto_shorthash_BYTES];

	_Static_assert(crypto_shorthash_BYTES == 8 && crypto_shorthash_KEYBYTES == PEER_KEYS_SALT_BYTES,
	               "SipHash-2-4 sizes");
	crypto_shorthash(h, pk, CHORUS_PK_BYTES, t->salt);
	return codec_get_u64(h);
}

static size_t peer_keys_home(const struct peer_keys *t, uint64_t hash)
{
	return (size_t)(hash & (2 * t->cap - 1));
}

static long peer_keys_lookup(const struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES])
{
	size_t nslots = 2 * t->cap, h;
	uint64_t hash;

	if (t->n == 0)
		return -1;
	hash = peer_keys_hash(t, pk);
	h = peer_keys_home(t, hash);
	for (size_t p = 0; p < nslots; p++) {
		uint32_t v = t->slots[h];

		if (v == 0)
			return -1;
		if (t->v[v - 1].hash == hash && memcmp(t->v[v - 1].pk, pk, CHORUS_PK_BYTES) == 0)
			return (long)(v - 1);
		h = (h + 1) & (nslots - 1);
	}
	return -1;
}

long peer_keys_find(struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES])
{
	long i = peer_keys_lookup(t, pk);

	if (i >= 0)
		t->v[i].ref = 1; /* used: the clock hand passes it over once */
	return i;
}

static void peer_keys_slot_put(struct peer_keys *t, size_t i)
{
	size_t h = peer_keys_home(t, t->v[i].hash);

	while (t->slots[h] != 0)
		h = (h + 1) & (2 * t->cap - 1);
	t->slots[h] = (uint32_t)i + 1;
}

/* Removes entry e from the index; backward-shift deletion (as the seen-cache): no tombstones. */
static void peer_keys_slot_delete(struct peer_keys *t, size_t e)
{
	size_t mask = 2 * t->cap - 1, i, j;

	i = peer_keys_home(t, t->v[e].hash);
	while (t->slots[i] != 0 && t->slots[i] != (uint32_t)e + 1)
		i = (i + 1) & mask;
	assert(t->slots[i] == (uint32_t)e + 1);
	t->slots[i] = 0;
	j = i;
	for (;;) {
		size_t h;

		j = (j + 1) & mask;
		if (t->slots[j] == 0)
			return;
		h = peer_keys_home(t, t->v[t->slots[j] - 1].hash);
		if ((i <= j) ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		t->slots[i] = t->slots[j];
		t->slots[j] = 0;
		i = j;
	}
}

static int peer_keys_grow(struct peer_keys *t)
{
	size_t cap = t->cap == 0 ? PEER_KEYS_MIN : 2 * t->cap;
	struct peer_key *v;
	uint32_t *slots;

	assert(cap <= CHORUS_PEER_KEYS_MAX);
	v = calloc(cap, sizeof(*v));
	slots = calloc(2 * cap, sizeof(*slots));
	if (v == NULL || slots == NULL) {
		free(v);
		free(slots);
		return CORE_ERR_NOMEM;
	}
	if (t->n > 0)
		memcpy(v, t->v, t->n * sizeof(*v));
	if (t->v != NULL)
		sodium_memzero(t->v, t->cap * sizeof(*t->v));
	free(t->v);
	free(t->slots);
	t->v = v;
	t->slots = slots;
	t->cap = cap;
	for (size_t i = 0; i < t->n; i++)
		peer_keys_slot_put(t, i);
	return 0;
}

/* The entry a new key goes to: a free one, or the first the clock hand finds unused. */
static long peer_keys_victim(struct peer_keys *t)
{
	long i;

	if (t->n < t->cap)
		return (long)t->n++;
	assert(t->cap == CHORUS_PEER_KEYS_MAX);
	while (t->v[t->hand].ref) {
		t->v[t->hand].ref = 0;
		t->hand = (t->hand + 1) % t->cap;
	}
	peer_keys_slot_delete(t, t->hand);
	i = (long)t->hand;
	t->hand = (t->hand + 1) % t->cap;
	return i;
}

long peer_keys_insert(struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES],
                      const uint8_t key[CHORUS_MAC_KEY_BYTES], int bad)
{
	struct peer_key *e;
	long i;

	assert(peer_keys_lookup(t, pk) < 0);
	if (t->n == t->cap && t->cap < CHORUS_PEER_KEYS_MAX && peer_keys_grow(t) < 0)
		return CORE_ERR_NOMEM;
	i = peer_keys_victim(t);
	e = &t->v[i];
	memcpy(e->pk, pk, CHORUS_PK_BYTES);
	memcpy(e->key, key, CHORUS_MAC_KEY_BYTES);
	e->hash = peer_keys_hash(t, pk);
	e->bad = bad ? 1 : 0;
	e->ref = 1;
	peer_keys_slot_put(t, (size_t)i);
	assert(t->n <= t->cap && t->cap <= CHORUS_PEER_KEYS_MAX);
	return i;
}

const char *peer_keys_check(const struct peer_keys *t)
{
	size_t used = 0;

	if (t->n > t->cap || t->cap > CHORUS_PEER_KEYS_MAX || (t->cap > 0 && t->hand >= t->cap))
		return "peer key table over its bound";
	for (size_t s = 0; s < 2 * t->cap; s++)
		used += t->slots[s] != 0;
	return used == t->n ? NULL : "peer key index does not match the table";
}

/*
 * wire: the fabric frame, its sealing, and the cache of pairwise frame keys.
 * Bump CHORUS_WIRE_VERSION if this layout changes.
 *
 *   0   2  magic "CH"
 *   2   1  version (5)
 *   3   1  type (enum wire_type)
 *   4   4  body length, big-endian
 *   8  32  sender's ed25519 public key (its node id)
 *  40   8  sender's generation (its boot epoch: strictly increasing across restarts)
 *  48   8  sender's frame number: send time (ms) << 16 | a count, strictly increasing
 *  56   1  auth (enum wire_auth): 1 pairwise, 2 signed
 *  57   7  recipient: the first 7 bytes of its public key (pairwise); zero (signed)
 *  64   n  body, ENCRYPTED (XChaCha20-Poly1305, the header as associated data)
 *  64+n 8  salt (the sender's, per process)
 *       8  admission tag: SipHash-2-4 keyed by the network key's admission key
 *          over the header, the salt and the AEAD tag
 *      16  AEAD tag
 *  signed frames only:
 *      64  ed25519 signature by the sender over everything before it
 *
 * The AEAD key of a pairwise frame is the pair's frame key: BLAKE2b keyed by
 * the network key over the X25519 pair secret (wire_frame_key), so a frame
 * opens only for the two nodes of the pair AND only under a network key they
 * share.  A signed frame (the join, sent before its sender knows the
 * recipient's key) is sealed under a key derived from the network key alone
 * and then signed.  The nonce is generation || frame number || salt: never
 * the same twice under one key (the generation grows across restarts, the
 * frame number within one, the salt keeps two processes apart).
 *
 * Admission: a receiver checks the admission tag first, under each network
 * key it holds (the primary first; at most CHORUS_KEYRING_MAX), before it
 * looks up or derives any pair key: a frame from a node without a key in
 * common costs one SipHash of 88 bytes per key held, never an X25519.
 *
 * Every length is checked exactly: a frame whose body length does not match
 * its size and auth kind, or that exceeds CHORUS_FRAME_MAX (or its body
 * CHORUS_BODY_MAX), is rejected
 * before anything else looks at it.
 */
#include <stdlib.h>

#include <sodium.h>

#include "fabric/fabric.h"

#define WIRE_AUTH_OFF 56
#define WIRE_RECIPIENT_OFF 57
#define WIRE_SALT_BYTES 8
#define WIRE_ADMIT_OFF WIRE_SALT_BYTES
#define WIRE_AEAD_OFF (WIRE_SALT_BYTES + CHORUS_ADMIT_TAG_BYTES)
_Static_assert(WIRE_AEAD_OFF + CHORUS_MAC_TAG_BYTES == CHORUS_MAC_BYTES, "sealed trailer layout");
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
	[WIRE_RESERVE] = "reserve", [WIRE_SLOT] = "slot", [WIRE_UNRESERVE] = "unreserve",
	[WIRE_SLOT_NONE] = "slot-none",
	[WIRE_OUTPUT] = "output",
	[WIRE_KEYRING] = "keyring", [WIRE_KEYRING_A] = "keyring-answer",
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
	case WIRE_AUTH_SIG: return CHORUS_SIG_TRAILER_BYTES;
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
	f->version = buf[2];
	f->type = buf[3];
	f->auth = buf[WIRE_AUTH_OFF];
	memcpy(f->pk, buf + 8, CHORUS_PK_BYTES);
	f->gen = codec_get_u64(buf + 40);
	f->seq = codec_get_u64(buf + 48);
	f->recipient = buf + WIRE_RECIPIENT_OFF;
	f->body = buf + CHORUS_FRAME_HEADER; /* ciphertext until wire_open */
	f->body_len = body_len;
	f->signed_len = len - (f->auth == WIRE_AUTH_SIG ? CHORUS_SIG_BYTES : 0);
	f->seal = buf + CHORUS_FRAME_HEADER + body_len;
	f->tag = f->auth == WIRE_AUTH_SIG ? buf + f->signed_len : f->seal + WIRE_AEAD_OFF;
	f->tag_len = f->auth == WIRE_AUTH_SIG ? CHORUS_SIG_BYTES : CHORUS_MAC_TAG_BYTES;
	assert(CHORUS_FRAME_HEADER + body_len + trailer == len);
	if (f->type == 0 || f->type >= WIRE_TYPE_END || wire_type_names[f->type] == NULL)
		return CORE_ERR_INVAL; /* well-formed, but a type we do not speak */
	return 0;
}

int wire_for_me(const struct wire_frame *f, const uint8_t pk[CHORUS_PK_BYTES])
{
	return f->auth == WIRE_AUTH_MAC && memcmp(f->recipient, pk, CHORUS_RECIPIENT_BYTES) == 0;
}

int wire_verify_sig(const struct core_crypto *crypto, const struct wire_frame *f, const uint8_t *buf)
{
	assert(f->signed_len >= CHORUS_FRAME_HEADER + CHORUS_MAC_BYTES);
	if (f->auth != WIRE_AUTH_SIG)
		return CORE_ERR_BADSIG;
	return crypto->verify(f->tag, buf, f->signed_len, f->pk) == 0 ? 0 : CORE_ERR_BADSIG;
}

/* generation || frame number || salt: never the same twice under one key. */
static void wire_nonce(uint8_t nonce[CHORUS_MAC_NONCE_BYTES], uint64_t gen, uint64_t seq,
                       const uint8_t salt[WIRE_SALT_BYTES])
{
	codec_put_u64(nonce, gen);
	codec_put_u64(nonce + 8, seq);
	memcpy(nonce + 16, salt, WIRE_SALT_BYTES);
}

/*
 * SipHash-2-4 keyed by the admission key over header, salt and AEAD tag: a
 * keyed hash of 88 bytes, a few dozen nanoseconds.  A 64-bit PRF is enough
 * for a filter: passing it without the key takes 2^64 tries on average, and
 * a frame that passes still has to open under its AEAD key.
 */
static void wire_admit_tag(uint8_t out[CHORUS_ADMIT_TAG_BYTES], const uint8_t *header,
                           const uint8_t *seal, const uint8_t admit_key[CHORUS_NETKEY_BYTES])
{
	uint8_t in[CHORUS_FRAME_HEADER + WIRE_SALT_BYTES + CHORUS_MAC_TAG_BYTES];

	_Static_assert(crypto_shorthash_BYTES == CHORUS_ADMIT_TAG_BYTES &&
	                   crypto_shorthash_KEYBYTES <= CHORUS_NETKEY_BYTES,
	               "the admission tag is a SipHash-2-4 under a prefix of the admission key");
	memcpy(in, header, CHORUS_FRAME_HEADER);
	memcpy(in + CHORUS_FRAME_HEADER, seal, WIRE_SALT_BYTES);
	memcpy(in + CHORUS_FRAME_HEADER + WIRE_SALT_BYTES, seal + WIRE_AEAD_OFF, CHORUS_MAC_TAG_BYTES);
	crypto_shorthash(out, in, sizeof(in), admit_key);
}

int wire_admit(const struct wire_frame *f, const uint8_t *buf,
               const uint8_t admit_key[CHORUS_NETKEY_BYTES])
{
	uint8_t want[CHORUS_ADMIT_TAG_BYTES];

	wire_admit_tag(want, buf, f->seal, admit_key);
	return sodium_memcmp(want, f->seal + WIRE_ADMIT_OFF, CHORUS_ADMIT_TAG_BYTES) == 0
	           ? 0
	           : CORE_ERR_NOKEY;
}

int wire_open(const struct core_crypto *crypto, struct wire_frame *f, const uint8_t *buf,
              uint8_t *plain, const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	uint8_t nonce[CHORUS_MAC_NONCE_BYTES];

	wire_nonce(nonce, f->gen, f->seq, f->seal);
	if (crypto->aead_open(plain, f->body, f->body_len, f->seal + WIRE_AEAD_OFF, buf,
	                 CHORUS_FRAME_HEADER, nonce, key) != 0)
		return CORE_ERR_BADSIG;
	f->body = plain;
	return 0;
}

uint64_t wire_replay_key(const struct wire_frame *f)
{
	/* The AEAD tag: a function of the whole frame under a secret key. */
	return codec_get_u64(f->seal + WIRE_AEAD_OFF);
}

const uint8_t wire_open_netkey[CHORUS_NETKEY_BYTES];

/*
 * The subkeys of a network key: labels keep the admission tag, the signed
 * frames' key and the pair frame keys apart, so that no value one of them
 * reveals helps with another.
 */
void wire_netkey_derive(const uint8_t netkey[CHORUS_NETKEY_BYTES],
                        uint8_t admit_key[CHORUS_NETKEY_BYTES], uint8_t join_key[CHORUS_MAC_KEY_BYTES])
{
	static const char admit_label[] = "chorus admission key v5";
	static const char join_label[] = "chorus signed frame key v5";

	crypto_generichash(admit_key, CHORUS_NETKEY_BYTES, (const uint8_t *)admit_label,
	                   sizeof(admit_label), netkey, CHORUS_NETKEY_BYTES);
	crypto_generichash(join_key, CHORUS_MAC_KEY_BYTES, (const uint8_t *)join_label,
	                   sizeof(join_label), netkey, CHORUS_NETKEY_BYTES);
}

void wire_frame_key(uint8_t key[CHORUS_MAC_KEY_BYTES], const uint8_t netkey[CHORUS_NETKEY_BYTES],
                    const uint8_t pair_key[CHORUS_MAC_KEY_BYTES])
{
	static const char label[] = "chorus pair frame key v5";
	crypto_generichash_state st;

	crypto_generichash_init(&st, netkey, CHORUS_NETKEY_BYTES, CHORUS_MAC_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label));
	crypto_generichash_update(&st, pair_key, CHORUS_MAC_KEY_BYTES);
	crypto_generichash_final(&st, key, CHORUS_MAC_KEY_BYTES);
	sodium_memzero(&st, sizeof(st));
}

/*
 * The X25519 secret of the pair {pk, peer_pk}: BLAKE2b-256 of a label, the
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

/* Encrypts the body in place, then writes salt, AEAD tag and admission tag. */
static void wire_seal_body(uint8_t *frame, size_t body_len, const struct core_crypto *crypto,
                           const uint8_t key[CHORUS_MAC_KEY_BYTES],
                           const uint8_t admit_key[CHORUS_NETKEY_BYTES], uint64_t salt)
{
	uint8_t nonce[CHORUS_MAC_NONCE_BYTES], *seal = frame + CHORUS_FRAME_HEADER + body_len;

	codec_put_u64(seal, salt);
	wire_nonce(nonce, codec_get_u64(frame + 40), codec_get_u64(frame + 48), seal);
	crypto->aead_seal(frame + CHORUS_FRAME_HEADER, seal + WIRE_AEAD_OFF, frame + CHORUS_FRAME_HEADER,
	             body_len, frame, CHORUS_FRAME_HEADER, nonce, key);
	wire_admit_tag(seal + WIRE_ADMIT_OFF, frame, seal, admit_key);
}

void wire_seal_mac(uint8_t *frame, size_t len, const struct core_crypto *crypto,
                   const uint8_t to_pk[CHORUS_PK_BYTES], const uint8_t key[CHORUS_MAC_KEY_BYTES],
                   const uint8_t admit_key[CHORUS_NETKEY_BYTES], uint64_t salt)
{
	assert(len >= CHORUS_FRAME_HEADER + CHORUS_MAC_BYTES && frame[WIRE_AUTH_OFF] == WIRE_AUTH_MAC);
	memcpy(frame + WIRE_RECIPIENT_OFF, to_pk, CHORUS_RECIPIENT_BYTES);
	wire_seal_body(frame, len - CHORUS_FRAME_HEADER - CHORUS_MAC_BYTES, crypto, key, admit_key,
	               salt);
}

void wire_seal_sig(uint8_t *frame, size_t len, const struct core_crypto *crypto,
                   const uint8_t sk[CHORUS_SK_BYTES], const uint8_t join_key[CHORUS_MAC_KEY_BYTES],
                   const uint8_t admit_key[CHORUS_NETKEY_BYTES], uint64_t salt)
{
	assert(len >= CHORUS_FRAME_HEADER + CHORUS_SIG_TRAILER_BYTES &&
	       frame[WIRE_AUTH_OFF] == WIRE_AUTH_SIG);
	wire_seal_body(frame, len - CHORUS_FRAME_HEADER - CHORUS_SIG_TRAILER_BYTES, crypto, join_key,
	               admit_key, salt);
	crypto->sign(frame + len - CHORUS_SIG_BYTES, frame, len - CHORUS_SIG_BYTES, sk);
}

int wire_encode_to(uint8_t *out, size_t cap, int type, const uint8_t pk[CHORUS_PK_BYTES], uint64_t gen,
                   uint64_t seq, const char *body, size_t body_len, const struct core_crypto *crypto,
                   const uint8_t sk[CHORUS_SK_BYTES], const uint8_t to_pk[CHORUS_PK_BYTES],
                   const uint8_t netkey[CHORUS_NETKEY_BYTES])
{
	uint8_t key[CHORUS_MAC_KEY_BYTES], admit[CHORUS_NETKEY_BYTES], join[CHORUS_MAC_KEY_BYTES];
	int n;

	wire_netkey_derive(netkey, admit, join);
	if (to_pk == NULL) {
		n = wire_encode_head(out, cap, type, WIRE_AUTH_SIG, pk, gen, seq, body, body_len);
		if (n > 0)
			wire_seal_sig(out, (size_t)n, crypto, sk, join, admit, 0);
		return n;
	}
	if (wire_pair_key(crypto, key, pk, sk, to_pk) < 0)
		return CORE_ERR_BADKEY;
	wire_frame_key(key, netkey, key);
	n = wire_encode_head(out, cap, type, WIRE_AUTH_MAC, pk, gen, seq, body, body_len);
	if (n > 0) /* tools and tests: salt 0, the caller keeps (gen, seq) apart */
		wire_seal_mac(out, (size_t)n, crypto, to_pk, key, admit, 0);
	sodium_memzero(key, sizeof(key));
	return n;
}

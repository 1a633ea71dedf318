/*
 * A fast stand-in for ed25519 and X25519, for the simulator only.
 *
 * "Signature" = the Poly1305 tag of the message keyed by the signer's public
 * key (libsodium's 64-byte secret key carries the public key in sk[32..63]),
 * repeated to fill 64 bytes, so verify() can recompute it from the public
 * key alone.  Anyone can forge it: it is NOT a signature (and Poly1305 with
 * a reused key is no MAC either).  It exists because ed25519 verification
 * dominates a 1000-node run, and the simulator tests protocol behaviour, not
 * cryptography.  It keeps the same sizes and the same accept/reject shape
 * (a changed byte or a different key fails verification), so the core's code
 * paths are the ones the daemon runs.  Real signatures are exercised by the
 * unit tests, the end-to-end tests and `chorus-sim --real-crypto`.
 *
 * Poly1305 rather than the keyed BLAKE2b-512 used before: every frame is
 * hashed twice (sign, verify), and BLAKE2b was a quarter of a 1000-node
 * run's CPU time; Poly1305 runs about 6x faster here (4 GB/s vs 0.6 GB/s).
 *
 * Frame MACs get the same treatment.  "Key agreement" hashes the two public
 * keys in sorted order (our own is in sk[32..63]), so both ends agree and
 * any pair of keys gives its own secret, and a "MAC" is the Poly1305 tag
 * under the pair's frame key, repeated to fill 32 bytes.  Anyone who knows
 * both public keys can forge it; a changed byte, another pair or another
 * direction (the sender's key is in the header) still fails, as in the daemon.
 */
#include <string.h>

#include <sodium.h>

#include "sim.h"

#define SIM_TAG_BYTES crypto_onetimeauth_BYTES
_Static_assert(CHORUS_SIG_BYTES % SIM_TAG_BYTES == 0, "the stand-in fills a signature with tags");
_Static_assert(CHORUS_PK_BYTES == crypto_onetimeauth_KEYBYTES, "the public key is the tag key");
_Static_assert(CHORUS_SK_BYTES == crypto_sign_SECRETKEYBYTES, "sk layout is libsodium's");
_Static_assert(CHORUS_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "pk layout is libsodium's");

static void sim_crypto_tag(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                           const uint8_t pk[CHORUS_PK_BYTES])
{
	crypto_onetimeauth(sig, msg, len, pk);
	for (size_t i = SIM_TAG_BYTES; i < CHORUS_SIG_BYTES; i += SIM_TAG_BYTES)
		memcpy(sig + i, sig, SIM_TAG_BYTES);
}

static void sim_crypto_sign(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                            const uint8_t sk[CHORUS_SK_BYTES])
{
	sim_crypto_tag(sig, msg, len, sk + (CHORUS_SK_BYTES - CHORUS_PK_BYTES));
}

static int sim_crypto_verify(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                             const uint8_t pk[CHORUS_PK_BYTES])
{
	uint8_t want[CHORUS_SIG_BYTES];

	sim_crypto_tag(want, msg, len, pk);
	return sodium_memcmp(want, sig, sizeof(want)) == 0 ? 0 : -1;
}

static int sim_crypto_kx(uint8_t shared[CHORUS_KX_BYTES], const uint8_t sk[CHORUS_SK_BYTES],
                         const uint8_t peer_pk[CHORUS_PK_BYTES])
{
	const uint8_t *pk = sk + (CHORUS_SK_BYTES - CHORUS_PK_BYTES);
	int cmp = memcmp(pk, peer_pk, CHORUS_PK_BYTES);
	uint8_t both[2 * CHORUS_PK_BYTES];

	memcpy(both, cmp < 0 ? pk : peer_pk, CHORUS_PK_BYTES);
	memcpy(both + CHORUS_PK_BYTES, cmp < 0 ? peer_pk : pk, CHORUS_PK_BYTES);
	crypto_generichash(shared, CHORUS_KX_BYTES, both, sizeof(both), NULL, 0);
	return 0;
}

/* The stand-in ignores the nonce: a simulation has no eavesdropper to forge with a reused one. */
static void sim_crypto_mac(uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *msg, size_t len,
                           const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                           const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	(void)nonce;
	crypto_onetimeauth(tag, msg, len, key);
}

/*
 * The stand-in AEAD: the body XORed with a keystream of the key and nonce
 * bytes (enough to keep a node without the key from reading a payload in the
 * simulation; no secrecy claimed), the tag a Poly1305 of the associated data
 * and the ciphertext under the key.
 */
static void sim_crypto_stream(uint8_t *out, const uint8_t *in, size_t len,
                              const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                              const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	uint64_t pad[CHORUS_MAC_KEY_BYTES / 8], w;
	size_t i = 0;

	/* A 32-byte pad of key and nonce, XORed a word at a time: the simulation runs millions. */
	for (size_t k = 0; k < CHORUS_MAC_KEY_BYTES; k++)
		((uint8_t *)pad)[k] = key[k] ^ nonce[k % CHORUS_MAC_NONCE_BYTES] ^ (uint8_t)(k * 131 + 7);
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, in + i, 8);
		w ^= pad[(i / 8) % (CHORUS_MAC_KEY_BYTES / 8)];
		memcpy(out + i, &w, 8);
	}
	for (; i < len; i++)
		out[i] = in[i] ^ ((const uint8_t *)pad)[i % CHORUS_MAC_KEY_BYTES];
}

static void sim_crypto_aead_tag(uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *c, size_t len,
                                const uint8_t *ad, size_t ad_len,
                                const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	crypto_onetimeauth_state st;

	crypto_onetimeauth_init(&st, key);
	crypto_onetimeauth_update(&st, ad, ad_len);
	crypto_onetimeauth_update(&st, c, len);
	crypto_onetimeauth_final(&st, tag);
}

static void sim_crypto_seal(uint8_t *c, uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *m,
                            size_t len, const uint8_t *ad, size_t ad_len,
                            const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                            const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	sim_crypto_stream(c, m, len, nonce, key);
	sim_crypto_aead_tag(tag, c, len, ad, ad_len, key);
}

static int sim_crypto_open(uint8_t *m, const uint8_t *c, size_t len,
                           const uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *ad,
                           size_t ad_len, const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                           const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	uint8_t want[CHORUS_MAC_TAG_BYTES];

	sim_crypto_aead_tag(want, c, len, ad, ad_len, key);
	if (sodium_memcmp(want, tag, sizeof(want)) != 0)
		return CORE_ERR_BADSIG;
	sim_crypto_stream(m, c, len, nonce, key);
	return 0;
}

_Static_assert(CHORUS_MAC_TAG_BYTES == crypto_onetimeauth_BYTES, "the stand-in's tag is a tag");
_Static_assert(CHORUS_MAC_KEY_BYTES == crypto_onetimeauth_KEYBYTES, "the frame key is the tag key");
_Static_assert(CHORUS_KX_BYTES <= crypto_generichash_BYTES_MAX, "the stand-in secret is a hash");

const struct core_crypto sim_crypto_fast = {
	.name = "sim-fast",
	.sign = sim_crypto_sign,
	.verify = sim_crypto_verify,
	.kx = sim_crypto_kx,
	.mac = sim_crypto_mac,
	.aead_seal = sim_crypto_seal,
	.aead_open = sim_crypto_open,
};

/*
 * crypto: ed25519 signatures, X25519 key agreement and XChaCha20-Poly1305
 * frame MACs through libsodium's pure functions.  The core never draws randomness
 * for keys: the driver makes the key pair.
 */
#include <sodium.h>

#include "base/base.h"

static void crypto_ed25519_sign(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                                const uint8_t sk[CHORUS_SK_BYTES])
{
	crypto_sign_detached(sig, NULL, msg, len, sk);
}

static int crypto_ed25519_verify(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg,
                                 size_t len, const uint8_t pk[CHORUS_PK_BYTES])
{
	return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : CORE_ERR_BADSIG;
}

/*
 * Static-static X25519 between two ed25519 identities (their birationally
 * equivalent Montgomery forms).  The conversion refuses keys that are not
 * points, have small order or lie outside the main subgroup, and
 * crypto_scalarmult refuses an all-zero result: a peer cannot steer the
 * secret to a value anyone could compute.
 */
static int crypto_x25519_kx(uint8_t shared[CHORUS_KX_BYTES], const uint8_t sk[CHORUS_SK_BYTES],
                            const uint8_t peer_pk[CHORUS_PK_BYTES])
{
	uint8_t xsk[crypto_scalarmult_SCALARBYTES], xpk[crypto_scalarmult_BYTES];
	int rc = CORE_ERR_BADKEY;

	if (crypto_sign_ed25519_pk_to_curve25519(xpk, peer_pk) == 0 &&
	    crypto_sign_ed25519_sk_to_curve25519(xsk, sk) == 0 &&
	    crypto_scalarmult(shared, xsk, xpk) == 0)
		rc = 0;
	sodium_memzero(xsk, sizeof(xsk));
	if (rc != 0)
		sodium_memzero(shared, CHORUS_KX_BYTES);
	return rc;
}

/*
 * XChaCha20-Poly1305 with nothing to encrypt and the frame as associated
 * data: the tag authenticates the frame under the pair's key, with a fresh
 * Poly1305 key per nonce.  The nonce must never repeat under one key (wire.c
 * makes it from the sender's generation, frame number and salt).  Three
 * times faster than the keyed BLAKE2b it replaces on frames of a few hundred
 * bytes (bench/frame-bench), and every frame of every job pays it twice.
 */
static void crypto_xchacha_mac(uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *msg, size_t len,
                               const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                               const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	unsigned long long tag_len;
	uint8_t none[1] = {0}; /* the ciphertext of nothing */

	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(none, tag, &tag_len, none, 0, msg, len,
	                                                    NULL, nonce, key);
}

/* The frame body, encrypted under the pair's frame key, the header as associated data. */
static void crypto_xchacha_seal(uint8_t *c, uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *m,
                                size_t len, const uint8_t *ad, size_t ad_len,
                                const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                                const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	unsigned long long tag_len;

	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(c, tag, &tag_len, m, len, ad, ad_len, NULL,
	                                                    nonce, key);
}

static int crypto_xchacha_open(uint8_t *m, const uint8_t *c, size_t len,
                               const uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *ad,
                               size_t ad_len, const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                               const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(m, NULL, c, len, tag, ad, ad_len,
	                                                           nonce, key) == 0
	           ? 0
	           : CORE_ERR_BADSIG;
}

_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == CHORUS_MAC_TAG_BYTES, "tag size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == CHORUS_MAC_NONCE_BYTES, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == CHORUS_MAC_KEY_BYTES, "key size");

_Static_assert(crypto_sign_BYTES == CHORUS_SIG_BYTES, "signature size");
_Static_assert(crypto_sign_PUBLICKEYBYTES == CHORUS_PK_BYTES, "public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == CHORUS_SK_BYTES, "secret key size");
_Static_assert(crypto_scalarmult_BYTES == CHORUS_KX_BYTES, "shared secret size");
_Static_assert(CHORUS_MAC_KEY_BYTES >= crypto_generichash_KEYBYTES_MIN &&
                   CHORUS_MAC_KEY_BYTES <= crypto_generichash_KEYBYTES_MAX,
               "MAC key size");

const struct core_crypto crypto_ed25519 = {
	.name = "ed25519",
	.sign = crypto_ed25519_sign,
	.verify = crypto_ed25519_verify,
	.kx = crypto_x25519_kx,
	.mac = crypto_xchacha_mac,
	.aead_seal = crypto_xchacha_seal,
	.aead_open = crypto_xchacha_open,
};

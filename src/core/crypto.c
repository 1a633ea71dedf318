/*
 * crypto: ed25519 signatures, X25519 key agreement and keyed BLAKE2b frame
 * MACs through libsodium's pure functions.  The core never draws randomness
 * for keys: the driver makes the key pair.
 */
#include <sodium.h>

#include "core-internal.h"

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

/* Keyed BLAKE2b-256: a MAC (and a PRF) for any key length libsodium allows. */
static void crypto_blake2b_mac(uint8_t tag[CHORUS_MAC_BYTES], const uint8_t *msg, size_t len,
                               const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	crypto_generichash(tag, CHORUS_MAC_BYTES, msg, len, key, CHORUS_MAC_KEY_BYTES);
}

_Static_assert(crypto_sign_BYTES == CHORUS_SIG_BYTES, "signature size");
_Static_assert(crypto_sign_PUBLICKEYBYTES == CHORUS_PK_BYTES, "public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == CHORUS_SK_BYTES, "secret key size");
_Static_assert(crypto_scalarmult_BYTES == CHORUS_KX_BYTES, "shared secret size");
_Static_assert(CHORUS_MAC_BYTES >= crypto_generichash_BYTES_MIN &&
                   CHORUS_MAC_BYTES <= crypto_generichash_BYTES_MAX,
               "tag size");
_Static_assert(CHORUS_MAC_KEY_BYTES >= crypto_generichash_KEYBYTES_MIN &&
                   CHORUS_MAC_KEY_BYTES <= crypto_generichash_KEYBYTES_MAX,
               "MAC key size");

const struct core_crypto crypto_ed25519 = {
	.name = "ed25519",
	.sign = crypto_ed25519_sign,
	.verify = crypto_ed25519_verify,
	.kx = crypto_x25519_kx,
	.mac = crypto_blake2b_mac,
};

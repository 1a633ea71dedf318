/*
 * crypto: ed25519 signatures through libsodium's pure functions.  The core
 * never draws randomness for keys: the driver makes the key pair.
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

_Static_assert(crypto_sign_BYTES == CHORUS_SIG_BYTES, "signature size");
_Static_assert(crypto_sign_PUBLICKEYBYTES == CHORUS_PK_BYTES, "public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == CHORUS_SK_BYTES, "secret key size");

const struct core_crypto crypto_ed25519 = {
	.name = "ed25519",
	.sign = crypto_ed25519_sign,
	.verify = crypto_ed25519_verify,
};

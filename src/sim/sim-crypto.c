/*
 * A fast stand-in for ed25519, for the simulator only.
 *
 * "Signature" = BLAKE2b-512 of the message keyed by the signer's public key
 * (libsodium's 64-byte secret key carries the public key in sk[32..63]), so
 * verify() can recompute it from the public key alone.  Anyone can forge it:
 * it is NOT a signature.  It exists because ed25519 verification dominates a
 * 1000-node run, and the simulator tests protocol behaviour, not
 * cryptography.  It keeps the same sizes and the same accept/reject shape
 * (a changed byte or a different key fails verification), so the core's code
 * paths are the ones the daemon runs.  Real signatures are exercised by the
 * unit tests, the end-to-end tests and `chorus-sim --real-crypto`.
 */
#include <sodium.h>

#include "sim.h"

_Static_assert(CHORUS_SIG_BYTES == crypto_generichash_BYTES_MAX, "the stand-in fills a signature");
_Static_assert(CHORUS_SK_BYTES == crypto_sign_SECRETKEYBYTES, "sk layout is libsodium's");
_Static_assert(CHORUS_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "pk layout is libsodium's");

static void sim_crypto_sign(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                            const uint8_t sk[CHORUS_SK_BYTES])
{
	const uint8_t *pk = sk + (CHORUS_SK_BYTES - CHORUS_PK_BYTES);

	crypto_generichash(sig, CHORUS_SIG_BYTES, msg, len, pk, CHORUS_PK_BYTES);
}

static int sim_crypto_verify(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                             const uint8_t pk[CHORUS_PK_BYTES])
{
	uint8_t want[CHORUS_SIG_BYTES];

	crypto_generichash(want, sizeof(want), msg, len, pk, CHORUS_PK_BYTES);
	return sodium_memcmp(want, sig, sizeof(want)) == 0 ? 0 : -1;
}

const struct core_crypto sim_crypto_fast = {
	.name = "sim-fast",
	.sign = sim_crypto_sign,
	.verify = sim_crypto_verify,
};

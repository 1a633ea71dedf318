/*
 * signer: the node's ed25519 signatures, with their expensive half made
 * ahead of time on a helper thread.
 *
 * An ed25519 signature over M by the key (a, A = a·B) is (R, S) with
 * R = r·B and S = r + H(R‖A‖M)·a mod L.  libsodium derives r from the
 * message, so the fixed-base multiplication r·B (most of a signature's
 * cost) happens while the event loop waits.  A verifier checks only
 * S·B = R + H(R‖A‖M)·A; any r will do as long as it is secret, uniform and
 * never used twice.  So a helper thread draws r = BLAKE2b-512(nonce key,
 * counter) reduced mod L (the 64-byte nonce key is random per start, the
 * counter never repeats), computes R, and keeps the pairs in a ring; a
 * signature takes one pair, wipes its slot, and is finished with one hash
 * and two scalar operations.  The signatures are standard ed25519:
 * crypto_sign_verify_detached accepts them and nothing on the wire changes.
 *
 * When the ring is empty (start-up, a long burst) or the key is not the
 * one the signer was started with, the signature is libsodium's own, made
 * inline: a signature never waits for the helper.  Secrets (the scalar,
 * the nonce key, the ring) live in sodium_malloc'd memory, wiped when the
 * signer stops.  The helper only computes: it does no I/O and makes no
 * protocol decision, so the loop stays the node's one actor.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "node.h"

#define SIGNER_RING      1024 /* nonce pairs kept ready */
#define SIGNER_LOW_WATER 512  /* below this the helper is woken to refill */

_Static_assert(SIGNER_LOW_WATER > 0 && SIGNER_LOW_WATER < SIGNER_RING, "refill threshold");
_Static_assert(crypto_core_ed25519_SCALARBYTES == 32 && crypto_core_ed25519_BYTES == 32,
               "scalar and point sizes");

struct signer_pair {
	uint8_t r[crypto_core_ed25519_SCALARBYTES]; /* secret nonce, reduced mod L */
	uint8_t R[crypto_core_ed25519_BYTES];      /* r·B */
};

struct signer_secrets {
	uint8_t sk[CHORUS_SK_BYTES];                  /* which key the ring serves */
	uint8_t a[crypto_core_ed25519_SCALARBYTES];   /* the secret scalar, reduced mod L */
	uint8_t nonce_key[crypto_generichash_KEYBYTES_MAX];
	struct signer_pair ring[SIGNER_RING];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;        /* the helper waits here for a refill or a stop */
	pthread_t helper;
	int running, stopping;
	struct signer_secrets *s;   /* NULL: not started; every signature is inline */
	unsigned head, count;       /* ring[head .. head+count) are ready */
	uint64_t counter;           /* nonces drawn; the helper's alone */
	struct signer_stats stats;
} signer = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

/* One fresh pair from the nonce key and the next counter.  0, or -1 for r = 0 mod L. */
static int signer_pair_make(struct signer_pair *p, const uint8_t *nonce_key, uint64_t counter)
{
	uint8_t wide[crypto_generichash_BYTES_MAX], ctr[8];
	int r;

	for (int i = 0; i < 8; i++)
		ctr[i] = (uint8_t)(counter >> (8 * i));
	crypto_generichash(wide, sizeof wide, ctr, sizeof ctr, nonce_key,
	                   crypto_generichash_KEYBYTES_MAX);
	crypto_core_ed25519_scalar_reduce(p->r, wide);
	r = crypto_scalarmult_ed25519_base_noclamp(p->R, p->r); /* refuses the zero scalar */
	sodium_memzero(wide, sizeof wide);
	return r == 0 ? 0 : -1;
}

/* The helper: fills the ring whenever it falls under the low-water mark. */
static void *signer_helper_main(void *arg)
{
	struct signer_pair p;

	(void)arg;
	pthread_mutex_lock(&signer.lock);
	for (;;) {
		while (!signer.stopping && signer.count >= SIGNER_LOW_WATER)
			pthread_cond_wait(&signer.wake, &signer.lock);
		if (signer.stopping)
			break;
		while (!signer.stopping && signer.count < SIGNER_RING) {
			uint64_t n = signer.counter++;

			pthread_mutex_unlock(&signer.lock); /* the multiplication runs unlocked */
			int ok = signer_pair_make(&p, signer.s->nonce_key, n) == 0;
			pthread_mutex_lock(&signer.lock);
			if (ok && !signer.stopping) {
				signer.s->ring[(signer.head + signer.count) % SIGNER_RING] = p;
				signer.count++;
				signer.stats.made++;
			}
		}
	}
	pthread_mutex_unlock(&signer.lock);
	sodium_memzero(&p, sizeof p);
	return NULL;
}

int signer_start(const uint8_t sk[CHORUS_SK_BYTES])
{
	uint8_t az[crypto_hash_sha512_BYTES], wide[64] = { 0 };
	struct signer_secrets *s;

	if (signer.s != NULL)
		return -EALREADY;
	if ((s = sodium_malloc(sizeof *s)) == NULL)
		return -ENOMEM;
	memcpy(s->sk, sk, CHORUS_SK_BYTES);
	/* The scalar libsodium signs with: SHA-512 of the seed, clamped (RFC 8032 5.1.5). */
	crypto_hash_sha512(az, sk, 32);
	az[0] &= 248;
	az[31] &= 127;
	az[31] |= 64;
	memcpy(wide, az, 32);
	crypto_core_ed25519_scalar_reduce(s->a, wide);
	sodium_memzero(az, sizeof az);
	sodium_memzero(wide, sizeof wide);
	randombytes_buf(s->nonce_key, sizeof s->nonce_key);
	pthread_mutex_lock(&signer.lock);
	signer.s = s;
	signer.head = signer.count = 0;
	signer.stopping = 0;
	pthread_mutex_unlock(&signer.lock);
	if (pthread_create(&signer.helper, NULL, signer_helper_main, NULL) != 0) {
		signer.s = NULL;
		sodium_free(s);
		return -EAGAIN;
	}
	signer.running = 1;
	return 0;
}

void signer_stop(void)
{
	struct signer_secrets *s;

	if (!signer.running)
		return;
	pthread_mutex_lock(&signer.lock);
	signer.stopping = 1;
	pthread_cond_signal(&signer.wake);
	pthread_mutex_unlock(&signer.lock);
	pthread_join(signer.helper, NULL);
	pthread_mutex_lock(&signer.lock);
	s = signer.s;
	signer.s = NULL;
	signer.head = signer.count = 0;
	signer.running = 0;
	pthread_mutex_unlock(&signer.lock);
	sodium_free(s); /* wipes the key, the nonce key and the ring */
}

/* Takes a ready pair for sk into *p; 0, or -1 when there is none (sign inline). */
static int signer_take(struct signer_pair *p, const uint8_t *sk, uint8_t *a)
{
	int got = -1;

	pthread_mutex_lock(&signer.lock);
	if (signer.s != NULL && signer.count > 0 &&
	    sodium_memcmp(signer.s->sk, sk, CHORUS_SK_BYTES) == 0) {
		struct signer_pair *slot = &signer.s->ring[signer.head];

		*p = *slot;
		sodium_memzero(slot, sizeof *slot); /* a nonce is used once */
		memcpy(a, signer.s->a, crypto_core_ed25519_SCALARBYTES);
		signer.head = (signer.head + 1) % SIGNER_RING;
		if (--signer.count < SIGNER_LOW_WATER)
			pthread_cond_signal(&signer.wake);
		got = 0;
	}
	pthread_mutex_unlock(&signer.lock);
	return got;
}

static void signer_sign(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                        const uint8_t sk[CHORUS_SK_BYTES])
{
	uint8_t a[crypto_core_ed25519_SCALARBYTES], h[crypto_hash_sha512_BYTES];
	uint8_t k[crypto_core_ed25519_SCALARBYTES], ka[crypto_core_ed25519_SCALARBYTES];
	crypto_hash_sha512_state st;
	struct signer_pair p;

	if (signer_take(&p, sk, a) != 0) {
		crypto_sign_detached(sig, NULL, msg, len, sk);
		__atomic_add_fetch(&signer.stats.inline_signed, 1, __ATOMIC_RELAXED);
		return;
	}
	/* k = H(R ‖ A ‖ M) mod L; S = r + k·a mod L; the signature is R ‖ S. */
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, p.R, sizeof p.R);
	crypto_hash_sha512_update(&st, sk + 32, CHORUS_PK_BYTES); /* libsodium's sk holds A */
	crypto_hash_sha512_update(&st, msg, len);
	crypto_hash_sha512_final(&st, h);
	crypto_core_ed25519_scalar_reduce(k, h);
	crypto_core_ed25519_scalar_mul(ka, k, a);
	memcpy(sig, p.R, 32);
	crypto_core_ed25519_scalar_add(sig + 32, ka, p.r);
	sodium_memzero(&p, sizeof p);
	sodium_memzero(a, sizeof a);
	sodium_memzero(ka, sizeof ka);
	__atomic_add_fetch(&signer.stats.ahead_signed, 1, __ATOMIC_RELAXED);
}

struct signer_stats signer_stats(void)
{
	struct signer_stats out;

	pthread_mutex_lock(&signer.lock);
	out = signer.stats;
	out.ready = signer.count;
	pthread_mutex_unlock(&signer.lock);
	out.ahead_signed = __atomic_load_n(&signer.stats.ahead_signed, __ATOMIC_RELAXED);
	out.inline_signed = __atomic_load_n(&signer.stats.inline_signed, __ATOMIC_RELAXED);
	return out;
}

/* libsodium's ed25519 for everything else (verify, key agreement, MACs). */
static int signer_verify(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                         const uint8_t pk[CHORUS_PK_BYTES])
{
	return crypto_ed25519.verify(sig, msg, len, pk);
}

static int signer_kx(uint8_t shared[CHORUS_KX_BYTES], const uint8_t sk[CHORUS_SK_BYTES],
                     const uint8_t peer_pk[CHORUS_PK_BYTES])
{
	return crypto_ed25519.kx(shared, sk, peer_pk);
}

static void signer_mac(uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *msg, size_t len,
                       const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                       const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	crypto_ed25519.mac(tag, msg, len, nonce, key);
}

static void signer_seal(uint8_t *c, uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *m,
                                   size_t len, const uint8_t *ad, size_t ad_len,
                                   const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                                   const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	crypto_ed25519.aead_seal(c, tag, m, len, ad, ad_len, nonce, key);
}

static int signer_open(uint8_t *m, const uint8_t *c, size_t len,
                                  const uint8_t tag[CHORUS_MAC_TAG_BYTES], const uint8_t *ad,
                                  size_t ad_len, const uint8_t nonce[CHORUS_MAC_NONCE_BYTES],
                                  const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	return crypto_ed25519.aead_open(m, c, len, tag, ad, ad_len, nonce, key);
}

const struct core_crypto signer_crypto = {
	.name = "ed25519-ahead",
	.sign = signer_sign,
	.verify = signer_verify,
	.kx = signer_kx,
	.mac = signer_mac,
	.aead_seal = signer_seal,
	.aead_open = signer_open,
};

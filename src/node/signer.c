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
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "node.h"

#define SIGNER_RING      1024 /* nonce pairs kept ready */
#define SIGNER_LOW_WATER 512  /* below this the helper is woken to refill */
#define SIGNER_HOLD_MAX   256          /* frames held for a verification at once */
#define SIGNER_HOLD_BYTES (4u << 20)   /* and their bytes */

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

/* A frame held while the helper verifies the signature in it. */
struct signer_hold {
	struct core_signed_text st;
	int good;        /* the helper's answer, once checked */
	uint8_t *frame;  /* owned copy */
	size_t len;
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
	/* Verifying ahead: holds[hold_head ..) in order; the first nchecked are answered. */
	struct signer_hold *holds;  /* NULL: nothing is held, every check is inline */
	unsigned hold_head, nheld, nchecked;
	int notified;               /* the helper wrote the eventfd since the loop drained */
	int efd;                    /* helper -> loop: answers are in */
	struct event *ev;
	signer_deliver_cb deliver;
	void *deliver_ctx;
	size_t held_bytes;                   /* loop only */
	const struct signer_hold *current;   /* loop only: the answer being delivered */
} signer = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .efd = -1 };

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

/*
 * Verifies the held frames not answered yet, in order (called and returns
 * with the lock held; verifies unlocked: the loop only appends past them).
 * Tells the loop once per drain.
 */
static void signer_check_held(void)
{
	while (!signer.stopping && signer.nchecked < signer.nheld) {
		struct signer_hold *h = &signer.holds[(signer.hold_head + signer.nchecked) % SIGNER_HOLD_MAX];
		int tell;

		pthread_mutex_unlock(&signer.lock);
		h->good = crypto_sign_verify_detached(h->st.sig, (const uint8_t *)h->st.text, h->st.len,
		                                      h->st.pk) == 0;
		pthread_mutex_lock(&signer.lock);
		signer.nchecked++;
		tell = !signer.notified;
		signer.notified = 1;
		if (tell) {
			uint64_t one = 1;

			pthread_mutex_unlock(&signer.lock);
			(void)!write(signer.efd, &one, sizeof one);
			pthread_mutex_lock(&signer.lock);
		}
	}
}

/*
 * The helper: answers held frames first (the loop waits on them), and
 * fills the nonce ring whenever it falls under the low-water mark.
 */
static void *signer_helper_main(void *arg)
{
	struct signer_pair p;

	(void)arg;
	pthread_mutex_lock(&signer.lock);
	for (;;) {
		while (!signer.stopping && signer.count >= SIGNER_LOW_WATER &&
		       signer.nchecked == signer.nheld)
			pthread_cond_wait(&signer.wake, &signer.lock);
		if (signer.stopping)
			break;
		signer_check_held();
		while (!signer.stopping && signer.count < SIGNER_RING && signer.nchecked == signer.nheld) {
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

static void signer_detach(void);

/* The loop's side of verifying ahead: held frames whose answers are in, delivered in order. */
static void signer_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n64;
	unsigned n;

	(void)what;
	(void)arg;
	(void)!read(fd, &n64, sizeof n64);
	pthread_mutex_lock(&signer.lock);
	n = signer.nchecked;
	signer.notified = 0;
	pthread_mutex_unlock(&signer.lock);
	for (unsigned k = 0; k < n; k++) {
		struct signer_hold *h = &signer.holds[(signer.hold_head + k) % SIGNER_HOLD_MAX];

		signer.current = h;
		signer.deliver(signer.deliver_ctx, h->frame, h->len);
		signer.current = NULL;
		signer.held_bytes -= h->len;
		free(h->frame);
		h->frame = NULL;
	}
	pthread_mutex_lock(&signer.lock);
	signer.hold_head = (signer.hold_head + n) % SIGNER_HOLD_MAX;
	signer.nheld -= n;
	signer.nchecked -= n;
	pthread_mutex_unlock(&signer.lock);
}

int signer_attach(struct event_base *base, signer_deliver_cb cb, void *ctx)
{
	if (!signer.running || signer.holds != NULL)
		return -EINVAL;
	if ((signer.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -errno;
	signer.ev = event_new(base, signer.efd, EV_READ | EV_PERSIST, signer_drain_cb, NULL);
	signer.holds = calloc(SIGNER_HOLD_MAX, sizeof *signer.holds);
	if (signer.ev == NULL || signer.holds == NULL || event_add(signer.ev, NULL) != 0) {
		signer_detach();
		return -ENOMEM;
	}
	signer.deliver = cb;
	signer.deliver_ctx = ctx;
	return 0;
}

/*
 * Held frames still unanswered are dropped, as a stopping node drops what it
 * has not read.  Only with the helper stopped (it may be verifying a slot).
 */
static void signer_detach(void)
{
	pthread_mutex_lock(&signer.lock);
	struct signer_hold *holds = signer.holds;
	unsigned head = signer.hold_head, n = signer.nheld;

	signer.holds = NULL;
	signer.hold_head = signer.nheld = signer.nchecked = 0;
	pthread_mutex_unlock(&signer.lock);
	/* Only after the helper is stopped may the slots go: it may be verifying one. */
	for (unsigned k = 0; holds != NULL && k < n; k++)
		free(holds[(head + k) % SIGNER_HOLD_MAX].frame);
	free(holds);
	if (signer.ev != NULL)
		event_free(signer.ev);
	signer.ev = NULL;
	if (signer.efd >= 0)
		close(signer.efd);
	signer.efd = -1;
	signer.held_bytes = 0;
	signer.deliver = NULL;
}

int signer_hold_text(const struct core_signed_text *st, const uint8_t *frame, size_t len)
{
	struct signer_hold *h;

	if (signer.holds == NULL || signer.nheld == SIGNER_HOLD_MAX ||
	    len > SIGNER_HOLD_BYTES - signer.held_bytes)
		return 0;
	h = &signer.holds[(signer.hold_head + signer.nheld) % SIGNER_HOLD_MAX];
	if ((h->frame = malloc(len)) == NULL)
		return 0;
	memcpy(h->frame, frame, len);
	h->len = len;
	h->st = *st;
	h->good = 0;
	signer.held_bytes += len;
	pthread_mutex_lock(&signer.lock);
	signer.nheld++;
	signer.stats.held++;
	pthread_cond_signal(&signer.wake);
	pthread_mutex_unlock(&signer.lock);
	return 1;
}

int signer_hold(struct core *core, const uint8_t *frame, size_t len)
{
	struct core_signed_text st;

	/* One job alone gains nothing from a hand-off: only its latency would grow. */
	if (signer.holds == NULL || (signer.nheld == 0 && core_jobs_inflight(core) < 2) ||
	    core_receipt_peek(core, frame, len, &st) != 0)
		return 0;
	return signer_hold_text(&st, frame, len);
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
	signer_detach();
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
	out.held_now = signer.nheld;
	return out;
}

/* libsodium's ed25519 for everything else (verify, key agreement, MACs). */
/* The helper's answer when this is exactly the signature it checked ahead; else libsodium's. */
static int signer_verify(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                         const uint8_t pk[CHORUS_PK_BYTES])
{
	const struct signer_hold *h = signer.current;

	if (h != NULL && len == h->st.len && memcmp(sig, h->st.sig, CHORUS_SIG_BYTES) == 0 &&
	    memcmp(pk, h->st.pk, CHORUS_PK_BYTES) == 0 && memcmp(msg, h->st.text, len) == 0) {
		signer.stats.verified_ahead++; /* the loop's alone */
		return h->good ? 0 : CORE_ERR_BADSIG;
	}
	return crypto_ed25519.verify(sig, msg, len, pk);
}

static int signer_kx(uint8_t shared[CHORUS_KX_BYTES], const uint8_t sk[CHORUS_SK_BYTES],
                     const uint8_t peer_pk[CHORUS_PK_BYTES])
{
	return crypto_ed25519.kx(shared, sk, peer_pk);
}

static void signer_mac(uint8_t tag[CHORUS_MAC_BYTES], const uint8_t *msg, size_t len,
                       const uint8_t key[CHORUS_MAC_KEY_BYTES])
{
	crypto_ed25519.mac(tag, msg, len, key);
}

const struct core_crypto signer_crypto = {
	.name = "ed25519-ahead",
	.sign = signer_sign,
	.verify = signer_verify,
	.kx = signer_kx,
	.mac = signer_mac,
};

/*
 * signer: signatures finished from nonces made ahead are standard ed25519
 * (libsodium's verifier accepts them, and refuses them for another message,
 * another key or a flipped bit), every nonce is used once, and the signer
 * falls back to libsodium's own signature when it is stopped, empty or
 * asked to sign for a key it was not started with.  Verifying ahead: held
 * frames come back in order once the helper checked them, and while one is
 * delivered, verify() of exactly its signature, key and text returns the
 * helper's answer (good or bad); any other verification is libsodium's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <sodium.h>

#include "node.h"
#include "tap.h"

#define NSIG 3000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Polls until the helper has filled at least n pairs, for up to 10 s. */
static int wait_ready(unsigned n)
{
	uint64_t deadline = now_ms() + 10000;

	while (signer_stats().ready < n) {
		if (now_ms() > deadline)
			return 0;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return 1;
}

/* ---------------------------------------------------------------- verifying ahead */

#define NHOLD 40

struct held_case {
	struct core_signed_text st;
	int truth; /* 1: the signature is good for this text */
};

static struct {
	struct held_case c[NHOLD];
	int delivered, in_order, answers_right, ahead_used, other_inline, other_right;
	struct event_base *base;
} hv;

static void held_deliver_cb(void *ctx, const uint8_t *frame, size_t len)
{
	int k = frame[0] | frame[1] << 8;
	const struct held_case *c = &hv.c[k];
	uint64_t before = signer_stats().verified_ahead;
	char other[sizeof c->st.text];
	int r;

	(void)ctx;
	hv.in_order += len == 2 && k == hv.delivered;
	hv.delivered++;
	r = signer_crypto.verify(c->st.sig, (const uint8_t *)c->st.text, c->st.len, c->st.pk);
	hv.answers_right += (r == 0) == c->truth;
	hv.ahead_used += signer_stats().verified_ahead == before + 1;
	/* Another text under the same signature and key: not the held answer. */
	memcpy(other, c->st.text, c->st.len);
	other[0] ^= 1;
	before = signer_stats().verified_ahead;
	r = signer_crypto.verify(c->st.sig, (const uint8_t *)other, c->st.len, c->st.pk);
	hv.other_inline += signer_stats().verified_ahead == before;
	hv.other_right += r != 0;
	if (hv.delivered == NHOLD)
		event_base_loopbreak(hv.base);
}

static void held_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(hv.base);
}

static void test_verify_ahead(const uint8_t pk[CHORUS_PK_BYTES], const uint8_t sk[CHORUS_SK_BYTES])
{
	struct timeval limit = { 10, 0 };
	uint8_t frame[2];
	int held = 0;
	struct event *timeout;

	hv.base = event_base_new();
	timeout = evtimer_new(hv.base, held_timeout_cb, NULL);
	ok(signer_attach(hv.base, held_deliver_cb, NULL) == 0, "verifying ahead attaches to a loop");
	ok(signer_attach(hv.base, held_deliver_cb, NULL) != 0, "a second attach is refused");
	for (int k = 0; k < NHOLD; k++) {
		struct held_case *c = &hv.c[k];

		c->st.len = (size_t)snprintf(c->st.text, sizeof c->st.text, "{\"receipt\":%d}", k);
		memcpy(c->st.pk, pk, CHORUS_PK_BYTES);
		crypto_sign_detached(c->st.sig, NULL, (const uint8_t *)c->st.text, c->st.len, sk);
		c->truth = k % 4 != 3;
		if (!c->truth)
			c->st.text[1] = 'X'; /* signed, then changed: a forged text */
		frame[0] = (uint8_t)k;
		frame[1] = (uint8_t)(k >> 8);
		held += signer_hold_text(&c->st, frame, sizeof frame);
	}
	ok(held == NHOLD, "%d frames held", held);
	evtimer_add(timeout, &limit);
	event_base_dispatch(hv.base);
	ok(hv.delivered == NHOLD, "every held frame came back (%d)", hv.delivered);
	ok(hv.in_order == NHOLD, "in the order they were held");
	ok(hv.answers_right == NHOLD, "verify() answered right for each, forged texts refused");
	ok(hv.ahead_used == NHOLD, "each from the helper's answer");
	ok(hv.other_inline == NHOLD && hv.other_right == NHOLD,
	   "another text under the same signature is verified inline, and refused");
	ok(signer_stats().held_now == 0, "nothing is left held");
	{
		static uint8_t big[(4u << 20) + 1];

		ok(signer_hold_text(&hv.c[0].st, big, sizeof big) == 0,
		   "a frame over the held-bytes bound is not held (delivered at once)");
	}
	signer_stop();
	ok(signer_hold_text(&hv.c[0].st, frame, sizeof frame) == 0, "after stop nothing is held");
	event_free(timeout);
	event_base_free(hv.base);
}

static int cmp_r(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

int main(void)
{
	static uint8_t sigs[NSIG][CHORUS_SIG_BYTES];
	uint8_t pk[CHORUS_PK_BYTES], sk[CHORUS_SK_BYTES], pk2[CHORUS_PK_BYTES], sk2[CHORUS_SK_BYTES];
	uint8_t msg[512], sig[CHORUS_SIG_BYTES], det[CHORUS_SIG_BYTES];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	struct signer_stats st0, st;
	int bad = 0, dup = 0;

	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	randombytes_buf(msg, sizeof msg);

	/* Not started: libsodium's deterministic signature. */
	signer_crypto.sign(sig, msg, 100, sk);
	crypto_sign_detached(det, NULL, msg, 100, sk);
	ok(memcmp(sig, det, sizeof sig) == 0, "before start a signature is libsodium's own");
	ok(signer_stats().inline_signed == 1, "and is counted as inline");

	ok(signer_start(sk) == 0, "the signer starts");
	ok(signer_start(sk) != 0, "a second start is refused");
	bad = !wait_ready(512);
	ok(!bad, "the helper makes nonce pairs ahead (%u ready)", signer_stats().ready);

	st0 = signer_stats();
	for (int i = 0; i < NSIG; i++) {
		size_t len = (size_t)(tap_rand(&rng) % (sizeof msg + 1));

		msg[0] = (uint8_t)i;
		msg[1] = (uint8_t)(i >> 8);
		signer_crypto.sign(sigs[i], msg, len, sk);
		if (crypto_sign_verify_detached(sigs[i], msg, len, pk) != 0 ||
		    signer_crypto.verify(sigs[i], msg, len, pk) != 0)
			bad++;
	}
	st = signer_stats();
	ok(bad == 0, "%d signatures verify with libsodium (%d do not)", NSIG, bad);
	ok(st.ahead_signed - st0.ahead_signed >= 1000,
	   "most were finished from ready pairs (%llu ahead, %llu inline)",
	   (unsigned long long)(st.ahead_signed - st0.ahead_signed),
	   (unsigned long long)(st.inline_signed - st0.inline_signed));
	qsort(sigs, NSIG, sizeof sigs[0], cmp_r);
	for (int i = 1; i < NSIG; i++)
		dup += memcmp(sigs[i - 1], sigs[i], 32) == 0;
	ok(dup == 0, "no nonce point R repeats across %d signatures", NSIG);

	/* A signature from the ring differs from libsodium's deterministic one. */
	ok(wait_ready(1), "pairs ready again");
	st0 = signer_stats();
	signer_crypto.sign(sig, msg, 64, sk);
	crypto_sign_detached(det, NULL, msg, 64, sk);
	ok(signer_stats().ahead_signed == st0.ahead_signed + 1 && memcmp(sig, det, sizeof sig) != 0,
	   "a ready pair made this signature (not libsodium's deterministic nonce)");
	ok(crypto_sign_verify_detached(sig, msg, 64, pk) == 0, "and it verifies");
	ok(crypto_sign_verify_detached(sig, msg, 63, pk) != 0, "not for a shorter message");
	ok(crypto_sign_verify_detached(sig, msg, 64, pk2) != 0, "not under another key");
	msg[5] ^= 1;
	ok(crypto_sign_verify_detached(sig, msg, 64, pk) != 0, "not for a flipped bit");
	msg[5] ^= 1;
	sig[40] ^= 0x10;
	ok(crypto_sign_verify_detached(sig, msg, 64, pk) != 0, "not with a flipped bit in S");

	/* Another key is signed inline, never with this key's nonces. */
	st0 = signer_stats();
	signer_crypto.sign(sig, msg, 64, sk2);
	ok(crypto_sign_verify_detached(sig, msg, 64, pk2) == 0 &&
	       signer_stats().inline_signed == st0.inline_signed + 1,
	   "another key's signature is made inline and verifies");

	/* The empty message. */
	signer_crypto.sign(sig, msg, 0, sk);
	ok(crypto_sign_verify_detached(sig, msg, 0, pk) == 0, "the empty message signs and verifies");

	signer_stop();
	ok(signer_stats().ready == 0, "stopping drops the ready pairs");
	signer_crypto.sign(sig, msg, 64, sk);
	crypto_sign_detached(det, NULL, msg, 64, sk);
	ok(memcmp(sig, det, sizeof sig) == 0, "after stop a signature is libsodium's own again");

	/* A restart on another key serves that key. */
	ok(signer_start(sk2) == 0 && wait_ready(1), "the signer restarts on another key");
	st0 = signer_stats();
	signer_crypto.sign(sig, msg, 64, sk2);
	ok(crypto_sign_verify_detached(sig, msg, 64, pk2) == 0 &&
	       signer_stats().ahead_signed == st0.ahead_signed + 1,
	   "and signs for it from ready pairs");
	test_verify_ahead(pk, sk);
	return tap_done();
}

/*
 * signer: signatures finished from nonces made ahead are standard ed25519
 * (libsodium's verifier accepts them, and refuses them for another message,
 * another key or a flipped bit), every nonce is used once, and the signer
 * falls back to libsodium's own signature when it is stopped, empty or
 * asked to sign for a key it was not started with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	signer_stop();
	return tap_done();
}

/*
 * Batch authenticators (include/chorus/batchsig.h): for every batch size
 * 1..64 every text verifies with its authenticator, and every one-bit
 * change of its encoding (count, index, root, proof length, proof,
 * signature) or of the text is refused -- with the cache and without.  The
 * cache verifies a root's signature once however many of its texts arrive,
 * and a hit accepts nothing a verification would refuse.  The decoders are
 * total.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "chorus/batchsig.h"
#include "chorus/core.h"
#include "tap.h"

#define N_MAX 64

/* Is this (possibly mangled) encoding of an authenticator refused for text? */
static int refused(struct batchsig_cache *c, const uint8_t *pk, const uint8_t *enc, size_t len,
                   const char *text, size_t tlen)
{
	struct batchsig b;
	size_t used;

	if (batchsig_decode(&b, enc, len, &used) != 0 || used != len)
		return 1;
	return batchsig_verify(NULL, c, pk, text, tlen, &b) != 0;
}

static void test_sizes(const uint8_t *pk, const uint8_t *sk)
{
	static char store[N_MAX][32];
	const char *texts[N_MAX];
	size_t lens[N_MAX];
	struct batchsig auth[N_MAX];
	struct batchsig_cache *cache;

	for (size_t i = 0; i < N_MAX; i++) {
		lens[i] = (size_t)snprintf(store[i], sizeof store[i], "{\"ack\":%zu}", i);
		texts[i] = store[i];
	}
	batchsig_cache_create(&cache, CHORUS_BATCHSIG_CACHE_SLOTS);
	for (size_t n = 1; n <= N_MAX; n++) {
		unsigned good = 0, tried = 0, refused_n = 0, text_tried = 0, text_refused = 0;
		uint64_t h0, m0, h1, m1;

		if (batchsig_sign(NULL, sk, texts, lens, n, auth) != 0) {
			ok(0, "n=%zu: signs", n);
			continue;
		}
		batchsig_cache_stats(cache, &h0, &m0);
		for (size_t i = 0; i < n; i++) {
			uint8_t enc[BATCHSIG_BYTES_MAX], mut[BATCHSIG_BYTES_MAX];
			size_t len = batchsig_encode(enc, &auth[i]);
			/* The signature's bits cost a verification each: the first leaf's only. */
			size_t bits = 8 * (i == 0 ? len : len - CHORUS_SIG_BYTES);
			char t[32];

			good += batchsig_verify(NULL, cache, pk, texts[i], lens[i], &auth[i]) == 0 &&
			        auth[i].count == n && auth[i].index == i && !refused(NULL, pk, enc, len, texts[i], lens[i]);
			for (size_t b = 0; b < bits; b++) {
				memcpy(mut, enc, len);
				mut[b / 8] ^= (uint8_t)(1u << (b % 8));
				tried++;
				refused_n += refused(cache, pk, mut, len, texts[i], lens[i]);
			}
			for (size_t b = 0; b < 8 * lens[i]; b++) {
				memcpy(t, texts[i], lens[i]);
				t[b / 8] ^= (char)(1u << (b % 8));
				text_tried++;
				text_refused += batchsig_verify(NULL, cache, pk, t, lens[i], &auth[i]) != 0;
			}
		}
		batchsig_cache_stats(cache, &h1, &m1);
		ok(good == n, "n=%zu: every text verifies with its authenticator (%u of %zu)", n, good, n);
		ok(tried > 0 && refused_n == tried,
		   "n=%zu: all %u one-bit changes of count, index, root, proof or signature refused", n,
		   tried);
		ok(text_refused == text_tried, "n=%zu: all %u one-bit changes of a text refused", n,
		   text_tried);
		/* One miss for the batch's signature, the rest hits (a changed count or
		 * signature misses, and is refused). */
		ok(h1 - h0 >= n - 1 && m1 - m0 >= 1, "n=%zu: the root's signature is checked once (%llu hits)",
		   n, (unsigned long long)(h1 - h0));
	}
	batchsig_cache_destroy(cache);
}

/* A proof moved to another tree size, or another signer's batch, is refused. */
static void test_moved(const uint8_t *pk, const uint8_t *sk)
{
	const char *t2[2] = {"a", "b"}, *t3[3] = {"a", "b", "x"};
	size_t l2[2] = {1, 1}, l3[3] = {1, 1, 1};
	struct batchsig a2[2], a3[3], m;
	uint8_t pk2[CHORUS_PK_BYTES], sk2[CHORUS_SK_BYTES];

	batchsig_sign(NULL, sk, t2, l2, 2, a2);
	batchsig_sign(NULL, sk, t3, l3, 3, a3);
	/* The last leaf of the tree of 2 as the last of a tree of 3 whose third leaf is... */
	m = a2[1];
	m.count = 3;
	m.index = 2;
	ok(batchsig_verify(NULL, NULL, pk, "b", 1, &m) != 0,
	   "a batch of 2's authenticator with count 3 is refused (the count is signed)");
	crypto_sign_keypair(pk2, sk2);
	ok(batchsig_verify(NULL, NULL, pk2, "a", 1, &a2[0]) != 0, "another signer's key refuses it");
	m = a3[0];
	memcpy(m.sig, a2[0].sig, CHORUS_SIG_BYTES);
	ok(batchsig_verify(NULL, NULL, pk, "a", 1, &m) != 0,
	   "another batch's signature on this root is refused");
}

/* Decoders: round trips, every truncation, arbitrary bytes, hex strictness. */
static void test_codec(const uint8_t *sk)
{
	static char store[N_MAX][8];
	const char *texts[N_MAX];
	size_t lens[N_MAX], len, used;
	struct batchsig auth[N_MAX], back;
	uint8_t enc[BATCHSIG_BYTES_MAX + 8];
	char hex[BATCHSIG_HEX_MAX + 1];
	unsigned trunc_ok = 0, fuzz_total = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < N_MAX; i++) {
		lens[i] = (size_t)snprintf(store[i], sizeof store[i], "t%zu", i);
		texts[i] = store[i];
	}
	batchsig_sign(NULL, sk, texts, lens, 37, auth);
	len = batchsig_encode(enc, &auth[36]);
	batchsig_to_hex(hex, &auth[36]);
	ok(batchsig_decode(&back, enc, len, &used) == 0 && used == len &&
	       batchsig_encode(enc + 0, &back) == len && memcmp(&back, &auth[36], sizeof back) == 0,
	   "an encoding decodes to the same authenticator");
	ok(batchsig_from_hex(&back, hex, strlen(hex)) == 0 && memcmp(&back, &auth[36], sizeof back) == 0 &&
	       strlen(hex) == 2 * len,
	   "hex round trip");
	for (size_t cut = 0; cut < len; cut++)
		trunc_ok += batchsig_decode(&back, enc, cut, &used) != 0;
	ok(trunc_ok == len, "every truncation is refused (%u of %zu)", trunc_ok, len);
	hex[0] = (char)(hex[0] == 'a' ? 'A' : hex[0] >= 'a' ? hex[0] - 32 : 'G');
	ok(batchsig_from_hex(&back, hex, strlen(hex)) != 0, "upper case or a non-hex digit is refused");
	ok(batchsig_from_hex(&back, hex, strlen(hex) - 1) != 0, "odd hex is refused");
	for (int r = 0; r < 20000; r++) {
		size_t n = (size_t)(tap_rand(&seed) % sizeof enc);

		for (size_t i = 0; i < n; i++)
			enc[i] = (uint8_t)tap_rand(&seed);
		if (n >= 4) { /* often in bounds, so the rest gets exercised */
			enc[0] = 0;
			enc[1] = (uint8_t)(1 + tap_rand(&seed) % 64);
			enc[2] = 0;
			enc[3] = (uint8_t)(tap_rand(&seed) % enc[1]);
			if (n > 36)
				enc[36] = (uint8_t)(tap_rand(&seed) % 14);
		}
		if (batchsig_decode(&back, enc, n, &used) == 0)
			fuzz_total += used <= n && back.count >= 1 && back.index < back.count &&
			              back.nproof <= CHORUS_MERKLE_PROOF_MAX;
		else
			fuzz_total++;
	}
	ok(fuzz_total == 20000, "arbitrary bytes decode within bounds or are refused");
	ok(batchsig_sign(NULL, sk, texts, lens, 0, auth) == CORE_ERR_INVAL &&
	       batchsig_sign(NULL, sk, texts, lens, CHORUS_MERKLE_LEAVES_MAX + 1, auth) == CORE_ERR_INVAL,
	   "no batch of 0 or past the bound");
	back = auth[0];
	back.index = 37;
	ok(batchsig_verify(NULL, NULL, NULL, texts[0], lens[0], &back) == CORE_ERR_INVAL,
	   "an index past the count is out of bounds");
}

int main(void)
{
	uint8_t pk[CHORUS_PK_BYTES], sk[CHORUS_SK_BYTES];
	struct batchsig_cache *c = NULL;

	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(pk, sk);
	ok(batchsig_cache_create(&c, 3) == CORE_ERR_INVAL && c == NULL &&
	       batchsig_cache_create(&c, CHORUS_BATCHSIG_CACHE_SLOTS_MAX * 2) == CORE_ERR_INVAL,
	   "a cache's size is a power of two within its bound");
	test_sizes(pk, sk);
	test_moved(pk, sk);
	test_codec(sk);
	return tap_done();
}

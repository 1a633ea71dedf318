/*
 * Batch authenticators (batchsig.h): a Merkle root and its leaf count signed
 * once, a proof per text.
 *
 * Invariants: an authenticator this module makes verifies; one it accepts
 * has count in 1..CHORUS_MERKLE_LEAVES_MAX, index < count, a proof of the
 * exact length the tree shape asks (merkle_verify refuses any other), and a
 * signature by the signer over BATCHSIG_TAG || count || root -- checked now,
 * or earlier for exactly the same (signer, count, root, signature).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chorus/batchsig.h"
#include "chorus/core.h"

struct batchsig_cache {
	size_t slots;      /* a power of two */
	uint8_t (*key)[crypto_generichash_BYTES];
	uint8_t *used;
	uint64_t hits, misses;
};

void batchsig_message(uint8_t msg[BATCHSIG_MSG_BYTES], uint16_t count,
                      const uint8_t root[MERKLE_HASH_BYTES])
{
	memcpy(msg, BATCHSIG_TAG, BATCHSIG_TAG_BYTES);
	msg[BATCHSIG_TAG_BYTES] = 0;
	msg[BATCHSIG_TAG_BYTES + 1] = 0;
	msg[BATCHSIG_TAG_BYTES + 2] = (uint8_t)(count >> 8);
	msg[BATCHSIG_TAG_BYTES + 3] = (uint8_t)count;
	memcpy(msg + BATCHSIG_TAG_BYTES + 4, root, MERKLE_HASH_BYTES);
}

/* ---------------------------------------------------------------- signing */

int batchsig_sign(const struct core_crypto *crypto, const uint8_t sk[CHORUS_SK_BYTES],
                  const char *const *texts, const size_t *lens, size_t n, struct batchsig *out)
{
	uint8_t (*nodes)[MERKLE_HASH_BYTES], msg[BATCHSIG_MSG_BYTES], sig[CHORUS_SIG_BYTES];
	size_t total;

	if (n == 0 || n > CHORUS_MERKLE_LEAVES_MAX)
		return CORE_ERR_INVAL;
	if (crypto == NULL)
		crypto = &crypto_ed25519;
	total = merkle_tree_nodes(n);
	if ((nodes = malloc(total * sizeof(*nodes))) == NULL)
		return CORE_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		merkle_leaf(nodes[i], texts[i], lens[i]);
	if (merkle_tree(nodes, n) != 0) {
		free(nodes);
		return CORE_ERR_INVAL;
	}
	batchsig_message(msg, (uint16_t)n, nodes[total - 1]);
	crypto->sign(sig, msg, sizeof(msg), sk);
	for (size_t i = 0; i < n; i++) {
		struct batchsig *b = &out[i];
		size_t len = 0;

		memset(b, 0, sizeof(*b));
		memcpy(b->root, nodes[total - 1], MERKLE_HASH_BYTES);
		b->count = (uint16_t)n;
		b->index = (uint16_t)i;
		if (merkle_proof(b->proof, &len, (const uint8_t(*)[MERKLE_HASH_BYTES])nodes, n, i) != 0) {
			free(nodes);
			return CORE_ERR_INVAL; /* cannot happen: i < n within bounds */
		}
		assert(len <= CHORUS_MERKLE_PROOF_MAX);
		b->nproof = (uint8_t)len;
		memcpy(b->sig, sig, CHORUS_SIG_BYTES);
	}
	free(nodes);
	return 0;
}

int batchsig_sign_one(const struct core_crypto *crypto, const uint8_t sk[CHORUS_SK_BYTES],
                      const void *text, size_t len, struct batchsig *out)
{
	uint8_t msg[BATCHSIG_MSG_BYTES];

	/* The tree of one leaf is that leaf (merkle.h): no tree to allocate, nothing can fail. */
	if (crypto == NULL)
		crypto = &crypto_ed25519;
	memset(out, 0, sizeof(*out));
	merkle_leaf(out->root, text, len);
	out->count = 1;
	batchsig_message(msg, 1, out->root);
	crypto->sign(out->sig, msg, sizeof(msg), sk);
	return 0;
}

/* ---------------------------------------------------------------- the cache */

int batchsig_cache_create(struct batchsig_cache **out, size_t slots)
{
	struct batchsig_cache *c;

	*out = NULL;
	if (slots == 0 || slots > CHORUS_BATCHSIG_CACHE_SLOTS_MAX || (slots & (slots - 1)) != 0)
		return CORE_ERR_INVAL;
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->key = calloc(slots, sizeof(*c->key))) == NULL ||
	    (c->used = calloc(slots, 1)) == NULL) {
		batchsig_cache_destroy(c);
		return CORE_ERR_NOMEM;
	}
	c->slots = slots;
	*out = c;
	return 0;
}

void batchsig_cache_destroy(struct batchsig_cache *c)
{
	if (c == NULL)
		return;
	free(c->key);
	free(c->used);
	free(c);
}

void batchsig_cache_stats(const struct batchsig_cache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c != NULL ? c->hits : 0;
	*misses = c != NULL ? c->misses : 0;
}

/* The key of one verification: everything its outcome depends on. */
static void batchsig_cache_key(uint8_t key[crypto_generichash_BYTES],
                               const uint8_t signer[CHORUS_PK_BYTES], const uint8_t *msg,
                               const uint8_t sig[CHORUS_SIG_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
	crypto_generichash_update(&st, signer, CHORUS_PK_BYTES);
	crypto_generichash_update(&st, msg, BATCHSIG_MSG_BYTES);
	crypto_generichash_update(&st, sig, CHORUS_SIG_BYTES);
	crypto_generichash_final(&st, key, crypto_generichash_BYTES);
}

static size_t batchsig_cache_slot(const struct batchsig_cache *c, const uint8_t *key)
{
	uint64_t h = 0;

	for (int i = 0; i < 8; i++)
		h = h << 8 | key[i];
	return (size_t)(h & (c->slots - 1));
}

/* The root's signature: 0 or CORE_ERR_BADSIG; a good one is remembered. */
static int batchsig_root_ok(const struct core_crypto *crypto, struct batchsig_cache *c,
                            const uint8_t signer[CHORUS_PK_BYTES], const struct batchsig *b)
{
	uint8_t msg[BATCHSIG_MSG_BYTES], key[crypto_generichash_BYTES];
	size_t slot = 0;

	batchsig_message(msg, b->count, b->root);
	if (c != NULL) {
		batchsig_cache_key(key, signer, msg, b->sig);
		slot = batchsig_cache_slot(c, key);
		if (c->used[slot] && memcmp(c->key[slot], key, sizeof(key)) == 0) {
			c->hits++;
			return 0;
		}
		c->misses++;
	}
	if (crypto->verify(b->sig, msg, sizeof(msg), signer) != 0)
		return CORE_ERR_BADSIG;
	if (c != NULL) {
		memcpy(c->key[slot], key, sizeof(key));
		c->used[slot] = 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- verifying */

const char *batchsig_explain(const struct core_crypto *crypto, struct batchsig_cache *cache,
                             const uint8_t signer[CHORUS_PK_BYTES], const void *text, size_t len,
                             const struct batchsig *b)
{
	uint8_t leaf[MERKLE_HASH_BYTES];

	if (b->count == 0 || b->count > CHORUS_MERKLE_LEAVES_MAX || b->index >= b->count ||
	    b->nproof > CHORUS_MERKLE_PROOF_MAX)
		return "bounds";
	merkle_leaf(leaf, text, len);
	/* The proof first: a dozen hashes, before any public-key work. */
	if (merkle_verify(b->root, leaf, b->index, b->count, (const uint8_t(*)[MERKLE_HASH_BYTES])b->proof,
	                  b->nproof) != 0)
		return "proof";
	if (batchsig_root_ok(crypto != NULL ? crypto : &crypto_ed25519, cache, signer, b) != 0)
		return "signature";
	return NULL;
}

int batchsig_verify(const struct core_crypto *crypto, struct batchsig_cache *cache,
                    const uint8_t signer[CHORUS_PK_BYTES], const void *text, size_t len,
                    const struct batchsig *b)
{
	const char *why = batchsig_explain(crypto, cache, signer, text, len, b);

	if (why == NULL)
		return 0;
	return strcmp(why, "bounds") == 0 ? CORE_ERR_INVAL : CORE_ERR_BADSIG;
}

/* ---------------------------------------------------------------- encoding */

size_t batchsig_encoded_len(const struct batchsig *b)
{
	assert(b->nproof <= CHORUS_MERKLE_PROOF_MAX);
	return BATCHSIG_BYTES_MIN + (size_t)b->nproof * MERKLE_HASH_BYTES;
}

size_t batchsig_encode(uint8_t *out, const struct batchsig *b)
{
	size_t n = 0;

	assert(b->nproof <= CHORUS_MERKLE_PROOF_MAX);
	out[n++] = (uint8_t)(b->count >> 8);
	out[n++] = (uint8_t)b->count;
	out[n++] = (uint8_t)(b->index >> 8);
	out[n++] = (uint8_t)b->index;
	memcpy(out + n, b->root, MERKLE_HASH_BYTES);
	n += MERKLE_HASH_BYTES;
	out[n++] = b->nproof;
	memcpy(out + n, b->proof, (size_t)b->nproof * MERKLE_HASH_BYTES);
	n += (size_t)b->nproof * MERKLE_HASH_BYTES;
	memcpy(out + n, b->sig, CHORUS_SIG_BYTES);
	n += CHORUS_SIG_BYTES;
	assert(n >= BATCHSIG_BYTES_MIN && n <= BATCHSIG_BYTES_MAX);
	return n;
}

int batchsig_decode(struct batchsig *b, const uint8_t *in, size_t len, size_t *used)
{
	size_t n = 0, plen;

	memset(b, 0, sizeof(*b));
	if (len < BATCHSIG_BYTES_MIN)
		return CORE_ERR_MALFORMED;
	b->count = (uint16_t)(in[0] << 8 | in[1]);
	b->index = (uint16_t)(in[2] << 8 | in[3]);
	n = 4;
	memcpy(b->root, in + n, MERKLE_HASH_BYTES);
	n += MERKLE_HASH_BYTES;
	b->nproof = in[n++];
	if (b->count == 0 || b->count > CHORUS_MERKLE_LEAVES_MAX || b->index >= b->count ||
	    b->nproof > CHORUS_MERKLE_PROOF_MAX)
		return CORE_ERR_MALFORMED;
	plen = (size_t)b->nproof * MERKLE_HASH_BYTES;
	if (len - n < plen + CHORUS_SIG_BYTES)
		return CORE_ERR_MALFORMED;
	memcpy(b->proof, in + n, plen);
	n += plen;
	memcpy(b->sig, in + n, CHORUS_SIG_BYTES);
	n += CHORUS_SIG_BYTES;
	*used = n;
	return 0;
}

void batchsig_to_hex(char *out, const struct batchsig *b)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t bin[BATCHSIG_BYTES_MAX];
	size_t n = batchsig_encode(bin, b);

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 15];
	}
	out[2 * n] = '\0';
}

static int batchsig_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int batchsig_from_hex(struct batchsig *b, const char *hex, size_t len)
{
	uint8_t bin[BATCHSIG_BYTES_MAX];
	size_t used;

	memset(b, 0, sizeof(*b));
	if (len % 2 != 0 || len > BATCHSIG_HEX_MAX)
		return CORE_ERR_MALFORMED;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = batchsig_nibble(hex[2 * i]), lo = batchsig_nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return CORE_ERR_MALFORMED;
		bin[i] = (uint8_t)(hi << 4 | lo);
	}
	if (batchsig_decode(b, bin, len / 2, &used) != 0 || used != len / 2)
		return CORE_ERR_MALFORMED;
	return 0;
}

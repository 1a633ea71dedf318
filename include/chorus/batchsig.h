/*
 * Batch authenticators: one signature for a batch of signed texts
 * (docs/merkle.md).
 *
 * A signer hashes each text of a batch to a Merkle leaf (merkle.h), signs
 * BATCHSIG_TAG || count || root once, and gives every text an authenticator:
 * {root, count, index, proof, signature}.  The leaf count is signed with the
 * root because a proof may verify at another tree size (merkle.h); the tag
 * keeps a batch signature from passing for any other signed message of the
 * protocol.  A batch of one is the same format: its root is its leaf, its
 * proof empty.
 *
 * A verifier checks the proof (a dozen hashes at most) and the signature
 * once per (signer, count, root, signature): a bounded cache remembers the
 * signatures it verified, so a voter pays one ed25519 verification per batch
 * however many of the batch's texts reach it.  The cache key holds the
 * signature too, so what a cache hit accepts is exactly what a verification
 * without the cache accepts: two voters with different caches judge the
 * same bytes the same way.
 *
 * Sans-io; the decoders are total (any bytes: 0 or an error, never a read
 * past the input).  Errors are enum core_err codes.
 */
#ifndef CHORUS_BATCHSIG_H
#define CHORUS_BATCHSIG_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/limits.h"
#include "chorus/merkle.h"

struct core_crypto; /* chorus/core.h, which includes this header */

/* What is signed: the tag (16 bytes, its NUL included), the count (u32, big-endian), the root. */
#define BATCHSIG_TAG       "chorus-batch-v1"
#define BATCHSIG_TAG_BYTES 16
#define BATCHSIG_MSG_BYTES (BATCHSIG_TAG_BYTES + 4 + MERKLE_HASH_BYTES)

/* The encoding: count u16, index u16, root, proof length u8, proof, signature. */
#define BATCHSIG_BYTES_MIN (2 + 2 + MERKLE_HASH_BYTES + 1 + CHORUS_SIG_BYTES)
#define BATCHSIG_BYTES_MAX (BATCHSIG_BYTES_MIN + CHORUS_MERKLE_PROOF_MAX * MERKLE_HASH_BYTES)
#define BATCHSIG_HEX_MAX   (2 * BATCHSIG_BYTES_MAX) /* lowercase hex, NUL not counted */

_Static_assert(CHORUS_MERKLE_LEAVES_MAX <= 0xffff && CHORUS_MERKLE_PROOF_MAX <= 0xff,
               "count and index fit a u16, the proof length a u8");
_Static_assert(BATCHSIG_BYTES_MAX == CHORUS_BATCHSIG_BYTES_MAX, "limits.h has the encoding's bound");
_Static_assert(sizeof(BATCHSIG_TAG) == BATCHSIG_TAG_BYTES, "the tag is 16 bytes, NUL included");

struct batchsig {
	uint8_t root[MERKLE_HASH_BYTES];
	uint16_t count;  /* leaves in the batch: 1 .. CHORUS_MERKLE_LEAVES_MAX */
	uint16_t index;  /* this text's leaf: < count */
	uint8_t nproof;  /* <= CHORUS_MERKLE_PROOF_MAX */
	uint8_t proof[CHORUS_MERKLE_PROOF_MAX][MERKLE_HASH_BYTES];
	uint8_t sig[CHORUS_SIG_BYTES]; /* over BATCHSIG_TAG || count || root */
};

/* The message a batch's signature covers, for its count and root. */
void batchsig_message(uint8_t msg[BATCHSIG_MSG_BYTES], uint16_t count,
                      const uint8_t root[MERKLE_HASH_BYTES]);

/*
 * Signs a batch of n texts (1 <= n <= CHORUS_MERKLE_LEAVES_MAX) with one
 * signature: out[i] is texts[i]'s authenticator.  0, CORE_ERR_INVAL for n out
 * of bounds, CORE_ERR_NOMEM (the tree is allocated for the call).
 */
int batchsig_sign(const struct core_crypto *crypto, const uint8_t sk[CHORUS_SK_BYTES],
                  const char *const *texts, const size_t *lens, size_t n, struct batchsig *out);

/* A batch of one text: the same format, its root the text's leaf, no proof. */
int batchsig_sign_one(const struct core_crypto *crypto, const uint8_t sk[CHORUS_SK_BYTES],
                      const void *text, size_t len, struct batchsig *out);

struct batchsig_cache;
/* A cache of slots verified signatures (a power of two, 1 .. CHORUS_BATCHSIG_CACHE_SLOTS_MAX). */
int batchsig_cache_create(struct batchsig_cache **out, size_t slots);
void batchsig_cache_destroy(struct batchsig_cache *c);
/* Hits and misses so far. */
void batchsig_cache_stats(const struct batchsig_cache *c, uint64_t *hits, uint64_t *misses);

/*
 * 0 when text is leaf b->index of a batch of b->count whose root signer
 * signed: the proof against the root, then the signature (through cache,
 * which may be NULL).  CORE_ERR_INVAL for fields out of bounds, otherwise
 * CORE_ERR_BADSIG.  crypto NULL: crypto_ed25519.
 */
int batchsig_verify(const struct core_crypto *crypto, struct batchsig_cache *cache,
                    const uint8_t signer[CHORUS_PK_BYTES], const void *text, size_t len,
                    const struct batchsig *b);
/* Which check failed, for an explanation: "proof", "signature" or "bounds"; NULL when it holds. */
const char *batchsig_explain(const struct core_crypto *crypto, struct batchsig_cache *cache,
                             const uint8_t signer[CHORUS_PK_BYTES], const void *text, size_t len,
                             const struct batchsig *b);

/* The length of b's encoding. */
size_t batchsig_encoded_len(const struct batchsig *b);
/* The encoding: its length (BATCHSIG_BYTES_MIN .. _MAX); out holds BATCHSIG_BYTES_MAX. */
size_t batchsig_encode(uint8_t *out, const struct batchsig *b);
/* Total: *used bytes of in make b, or CORE_ERR_MALFORMED (bounds, short input). */
int batchsig_decode(struct batchsig *b, const uint8_t *in, size_t len, size_t *used);
/* Lowercase hex of the encoding into out (BATCHSIG_HEX_MAX + 1 bytes), NUL-terminated. */
void batchsig_to_hex(char *out, const struct batchsig *b);
/* Exactly the hex of one encoding, lowercase: 0 or CORE_ERR_MALFORMED. */
int batchsig_from_hex(struct batchsig *b, const char *hex, size_t len);

#endif

/*
 * Merkle trees (include/chorus/merkle.h) against RFC 9162's definitions,
 * written again here from the RFC (MTH and PATH, recursive): every tree
 * size 1..64, every leaf's proof; every one-bit change of a proof, the
 * root or the leaf is refused, and so is the proof at another index of the
 * same tree.  (At another tree size some proofs do verify -- the last leaf
 * of a tree of 2 is also the last of one of 3 whose third leaf is that
 * root's right half -- which is why the signer signs the leaf count with
 * the root: merkle.h.)
 */
#include <string.h>

#include <sodium.h>

#include "chorus/merkle.h"
#include "tap.h"

#define N_MAX 64
#define H MERKLE_HASH_BYTES

static void ref_hash(uint8_t out[H], uint8_t prefix, const uint8_t *a, size_t alen,
                     const uint8_t *b, size_t blen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, H);
	crypto_generichash_update(&st, &prefix, 1);
	crypto_generichash_update(&st, a, alen);
	if (b != NULL)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, H);
}

static size_t ref_k(size_t n) /* the largest power of two smaller than n */
{
	size_t k = 1;

	while (2 * k < n)
		k *= 2;
	return k;
}

/* RFC 9162 2.1.1: MTH(D[n]). */
static void ref_mth(uint8_t out[H], uint8_t (*d)[H], size_t n)
{
	uint8_t l[H], r[H];
	size_t k;

	if (n == 1) {
		memcpy(out, d[0], H);
		return;
	}
	k = ref_k(n);
	ref_mth(l, d, k);
	ref_mth(r, d + k, n - k);
	ref_hash(out, 0x01, l, H, r, H);
}

/* RFC 9162 2.1.3.1: PATH(m, D[n]), leaf first. */
static size_t ref_path(uint8_t (*out)[H], size_t m, uint8_t (*d)[H], size_t n)
{
	size_t k, len;

	if (n == 1)
		return 0;
	k = ref_k(n);
	if (m < k) {
		len = ref_path(out, m, d, k);
		ref_mth(out[len], d + k, n - k);
	} else {
		len = ref_path(out, m - k, d + k, n - k);
		ref_mth(out[len], d, k);
	}
	return len + 1;
}

int main(void)
{
	static uint8_t nodes[2 * N_MAX + CHORUS_MERKLE_PROOF_MAX][H];
	uint8_t leaves[N_MAX][H], root[H], ref_root[H], proof[CHORUS_MERKLE_PROOF_MAX][H];
	uint8_t ref[CHORUS_MERKLE_PROOF_MAX + 1][H], bad[H], data[16];
	size_t len;

	if (sodium_init() < 0)
		return 1;
	memcpy(data, "leaf", 4);
	data[4] = 'x';
	merkle_leaf(bad, data, 5);
	ref_hash(ref_root, 0x00, data, 5, NULL, 0);
	ok(memcmp(bad, ref_root, H) == 0, "a leaf is BLAKE2b-256(0x00 || data)");
	for (size_t i = 0; i < N_MAX; i++) {
		int n = snprintf((char *)data, sizeof data, "leaf %zu", i);
		merkle_leaf(leaves[i], data, (size_t)n);
	}
	for (size_t n = 1; n <= N_MAX; n++) {
		unsigned good = 0, proofs_match = 0, refused = 0, tried = 0, other = 0;
		int root_ok;

		ref_mth(ref_root, leaves, n);
		memcpy(nodes, leaves, n * H);
		root_ok = merkle_root(root, (const uint8_t (*)[H])leaves, n) == 0 &&
		          memcmp(root, ref_root, H) == 0 && merkle_tree_nodes(n) <= 2 * n + CHORUS_MERKLE_PROOF_MAX &&
		          merkle_tree(nodes, n) == 0 && memcmp(nodes[merkle_tree_nodes(n) - 1], root, H) == 0;
		ok(root_ok, "n=%zu: the root is RFC 9162's MTH, bottom up and top down", n);
		for (size_t m = 0; m < n; m++) {
			size_t rlen = ref_path(ref, m, leaves, n);

			if (merkle_proof(proof, &len, (const uint8_t (*)[H])nodes, n, m) < 0)
				continue;
			proofs_match += len == rlen && memcmp(proof, ref, len * H) == 0;
			good += merkle_verify(root, leaves[m], m, n, (const uint8_t (*)[H])proof, len) == 0;
			/* Every one-bit change of the proof, the root and the leaf. */
			for (size_t b = 0; b < (len + 2) * H * 8; b++) {
				uint8_t p2[CHORUS_MERKLE_PROOF_MAX][H], r2[H], l2[H];
				size_t byte = b / 8;

				memcpy(p2, proof, len * H);
				memcpy(r2, root, H);
				memcpy(l2, leaves[m], H);
				if (byte < len * H)
					p2[byte / H][byte % H] ^= (uint8_t)(1u << (b % 8));
				else if (byte < (len + 1) * H)
					r2[byte - len * H] ^= (uint8_t)(1u << (b % 8));
				else
					l2[byte - (len + 1) * H] ^= (uint8_t)(1u << (b % 8));
				tried++;
				refused += merkle_verify(r2, l2, m, n, (const uint8_t (*)[H])p2, len) < 0;
			}
			/* The same proof at any other index of this tree. */
			for (size_t m2 = 0; m2 < n; m2++)
				if (m2 != m &&
				    merkle_verify(root, leaves[m], m2, n, (const uint8_t (*)[H])proof, len) == 0)
					other++;
		}
		ok(proofs_match == n, "n=%zu: every proof is RFC 9162's PATH (%u of %zu)", n, proofs_match, n);
		ok(good == n, "n=%zu: every leaf's proof verifies (%u of %zu)", n, good, n);
		ok(tried > 0 && refused == tried, "n=%zu: all %u one-bit changes of a proof, root or leaf refused",
		   n, tried);
		ok(other == 0, "n=%zu: no proof verifies at another index (%u did)", n, other);
	}
	ok(merkle_root(root, (const uint8_t (*)[H])leaves, 0) < 0 &&
	       merkle_root(root, (const uint8_t (*)[H])leaves, CHORUS_MERKLE_LEAVES_MAX + 1) < 0,
	   "no root over 0 leaves or past the bound");
	ok(merkle_proof(proof, &len, (const uint8_t (*)[H])nodes, 4, 4) < 0 &&
	       merkle_verify(root, leaves[0], 0, 1, (const uint8_t (*)[H])proof,
	                     CHORUS_MERKLE_PROOF_MAX + 1) < 0 &&
	       merkle_verify(root, leaves[0], 3, 3, (const uint8_t (*)[H])proof, 0) < 0,
	   "out of bounds: an index past the tree, a proof too long");
	memcpy(nodes, leaves, sizeof leaves);
	merkle_tree(nodes, 1);
	ok(merkle_proof(proof, &len, (const uint8_t (*)[H])nodes, 1, 0) == 0 && len == 0 &&
	       merkle_verify(leaves[0], leaves[0], 0, 1, (const uint8_t (*)[H])proof, 0) == 0,
	   "a batch of one: the root is the leaf, the proof empty");
	return tap_done();
}

/*
 * Merkle trees over BLAKE2b-256, as RFC 9162 builds them (merkle.h).
 *
 * The tree over n leaves: one leaf is its own root; more split at k, the
 * largest power of two below n, into a left tree of k leaves and a right
 * one of n - k, and the root hashes 0x01 || left root || right root.  A
 * proof lists, from the leaf up, the root of the subtree beside each
 * subtree on the leaf's way to the top.
 */
#include <string.h>

#include <sodium.h>

#include "chorus/merkle.h"

/* BLAKE2b-256(prefix || a || b): 0x00 a leaf (b empty), 0x01 an inner node. */
static void merkle_hash(uint8_t out[MERKLE_HASH_BYTES], uint8_t prefix, const void *a, size_t alen,
                        const void *b, size_t blen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, MERKLE_HASH_BYTES);
	crypto_generichash_update(&st, &prefix, 1);
	crypto_generichash_update(&st, a, alen);
	if (blen > 0)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, MERKLE_HASH_BYTES);
}

static void merkle_node(uint8_t out[MERKLE_HASH_BYTES], const uint8_t left[MERKLE_HASH_BYTES],
                        const uint8_t right[MERKLE_HASH_BYTES])
{
	merkle_hash(out, 0x01, left, MERKLE_HASH_BYTES, right, MERKLE_HASH_BYTES);
}

void merkle_leaf(uint8_t out[MERKLE_HASH_BYTES], const void *data, size_t len)
{
	merkle_hash(out, 0x00, data, len, NULL, 0);
}

/* The largest power of two below n (n >= 2). */
static size_t merkle_split(size_t n)
{
	size_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

/* The root of leaves[0..n), n >= 1: depth at most CHORUS_MERKLE_PROOF_MAX. */
static void merkle_subtree(uint8_t out[MERKLE_HASH_BYTES], const uint8_t (*leaves)[MERKLE_HASH_BYTES],
                           size_t n)
{
	uint8_t left[MERKLE_HASH_BYTES], right[MERKLE_HASH_BYTES];
	size_t k;

	if (n == 1) {
		memcpy(out, leaves[0], MERKLE_HASH_BYTES);
		return;
	}
	k = merkle_split(n);
	merkle_subtree(left, leaves, k);
	merkle_subtree(right, leaves + k, n - k);
	merkle_node(out, left, right);
}

int merkle_root(uint8_t root[MERKLE_HASH_BYTES], const uint8_t (*leaves)[MERKLE_HASH_BYTES], size_t n)
{
	if (n == 0 || n > CHORUS_MERKLE_LEAVES_MAX)
		return -1;
	merkle_subtree(root, leaves, n);
	return 0;
}

/*
 * Bottom up, the same tree: each level pairs its nodes left to right, and a
 * last node without a partner moves up unchanged (RFC 9162's split at the
 * largest power of two gives exactly this).  nodes[0..n) are the leaves;
 * the levels above follow them, the root last.
 */
size_t merkle_tree_nodes(size_t n)
{
	size_t total = 0;

	for (size_t w = n; w > 1; w = (w + 1) / 2)
		total += w;
	return total + 1;
}

int merkle_tree(uint8_t (*nodes)[MERKLE_HASH_BYTES], size_t n)
{
	size_t at = 0, w = n;

	if (n == 0 || n > CHORUS_MERKLE_LEAVES_MAX)
		return -1;
	while (w > 1) {
		uint8_t (*up)[MERKLE_HASH_BYTES] = nodes + at + w;

		for (size_t j = 0; j + 1 < w; j += 2)
			merkle_node(up[j / 2], nodes[at + j], nodes[at + j + 1]);
		if (w & 1)
			memcpy(up[w / 2], nodes[at + w - 1], MERKLE_HASH_BYTES);
		at += w;
		w = (w + 1) / 2;
	}
	return 0;
}

int merkle_proof(uint8_t proof[][MERKLE_HASH_BYTES], size_t *len,
                 const uint8_t (*nodes)[MERKLE_HASH_BYTES], size_t n, size_t index)
{
	size_t at = 0, w = n, depth = 0;

	if (n == 0 || n > CHORUS_MERKLE_LEAVES_MAX || index >= n)
		return -1;
	for (; w > 1; at += w, w = (w + 1) / 2, index /= 2) {
		size_t sib = index ^ 1;

		if (sib < w) /* a last node alone moves up: no sibling at this level */
			memcpy(proof[depth++], nodes[at + sib], MERKLE_HASH_BYTES);
	}
	*len = depth;
	return 0;
}

int merkle_verify(const uint8_t root[MERKLE_HASH_BYTES], const uint8_t leaf[MERKLE_HASH_BYTES],
                  size_t index, size_t n, const uint8_t proof[][MERKLE_HASH_BYTES], size_t len)
{
	uint8_t r[MERKLE_HASH_BYTES];
	size_t fn = index, sn;

	if (n == 0 || n > CHORUS_MERKLE_LEAVES_MAX || index >= n || len > CHORUS_MERKLE_PROOF_MAX)
		return -1;
	sn = n - 1;
	memcpy(r, leaf, MERKLE_HASH_BYTES);
	/* RFC 9162, 2.1.3.2: fn walks the leaf's index up, sn the last leaf's. */
	for (size_t i = 0; i < len; i++) {
		if (sn == 0)
			return -1; /* longer than the tree is deep */
		if ((fn & 1) || fn == sn) {
			merkle_node(r, proof[i], r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			merkle_node(r, r, proof[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && sodium_memcmp(r, root, MERKLE_HASH_BYTES) == 0 ? 0 : -1;
}

/*
 * Merkle trees over BLAKE2b-256 (docs/merkle.md): one signature for a batch.
 *
 * A signer hashes each message of a batch to a leaf, signs the root once,
 * and hands every message its inclusion proof; a verifier checks the proof
 * against the root, and the root's signature once per root (a cache of
 * verified roots), however many of the batch's messages reach it.  A batch
 * of one is the same format: its root is its leaf, its proof empty.
 *
 * The tree is RFC 9162's (Certificate Transparency v2), with BLAKE2b-256
 * and the same domain separation: a leaf hashes 0x00 || data, an inner node
 * 0x01 || left || right, and a tree of n leaves splits at the largest power
 * of two below n.  No leaf can pass for an inner node, and a proof for one
 * index does not verify for another of the same tree.  It may for another
 * tree size (the last leaf of a tree of 2 is also the last of a tree of 3
 * whose third leaf is that root's right half): what a signer signs is the
 * root together with the leaf count, as a Certificate Transparency log
 * signs its tree head.
 *
 * Pure functions: no allocation, no I/O; every size bounded below.
 */
#ifndef CHORUS_MERKLE_H
#define CHORUS_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/limits.h"

#define MERKLE_HASH_BYTES 32

/* The hash of one leaf: BLAKE2b-256(0x00 || data). */
void merkle_leaf(uint8_t out[MERKLE_HASH_BYTES], const void *data, size_t len);

/* The root over n leaf hashes (1 <= n <= CHORUS_MERKLE_LEAVES_MAX); -1 if n is out of bounds. */
int merkle_root(uint8_t root[MERKLE_HASH_BYTES], const uint8_t (*leaves)[MERKLE_HASH_BYTES],
                size_t n);

/*
 * The whole tree, for proofs of every leaf of a batch: nodes holds
 * merkle_tree_nodes(n) hashes (at most 2n + CHORUS_MERKLE_PROOF_MAX: a last
 * node without a partner moves up a level unchanged), the n leaf hashes first;
 * merkle_tree() fills the levels above them, the root last.  -1 if n is
 * out of bounds.
 */
size_t merkle_tree_nodes(size_t n);
int merkle_tree(uint8_t (*nodes)[MERKLE_HASH_BYTES], size_t n);

/*
 * The inclusion proof of leaf `index` from a tree merkle_tree() filled: the
 * siblings from the leaf up, *len of them (at most CHORUS_MERKLE_PROOF_MAX).
 * -1 if n or index is out of bounds.
 */
int merkle_proof(uint8_t proof[][MERKLE_HASH_BYTES], size_t *len,
                 const uint8_t (*nodes)[MERKLE_HASH_BYTES], size_t n, size_t index);

/*
 * 0 when `leaf` is leaf `index` of a tree of n leaves whose root is `root`,
 * by the proof; -1 otherwise (a proof of the wrong length included).
 */
int merkle_verify(const uint8_t root[MERKLE_HASH_BYTES], const uint8_t leaf[MERKLE_HASH_BYTES],
                  size_t index, size_t n, const uint8_t proof[][MERKLE_HASH_BYTES], size_t len);

#endif

/*
 * peer-keys: the pairwise frame keys of the peers we talk to, and each
 * sender's replay window (include: fabric/fabric.h).
 *
 * Deriving a pair's key costs an X25519 (~100 us), a MAC a microsecond: keys
 * are cached per peer.  A dense array with a linear-probing index, grown by
 * doubling up to CHORUS_PEER_KEYS_MAX, then CLOCK eviction (a recently used
 * key gets a second chance).  The index hashes keys with SipHash under a
 * secret salt: peer keys are chosen by peers, and a crafted set of them must
 * not pile up in one probe run.  A peer whose key makes no secret is cached
 * as bad, so a member with such a key costs one failed derivation, not one
 * per frame.
 */
#include <stdlib.h>

#include <sodium.h>

#include "fabric/fabric.h"

#define PEER_KEYS_MIN 64
_Static_assert(PEER_KEYS_MIN <= CHORUS_PEER_KEYS_MAX, "the first table is within the bound");

void peer_keys_init(struct peer_keys *t, const uint8_t salt[PEER_KEYS_SALT_BYTES])
{
	memset(t, 0, sizeof(*t));
	memcpy(t->salt, salt, PEER_KEYS_SALT_BYTES);
}

void peer_keys_free(struct peer_keys *t)
{
	if (t->v != NULL)
		sodium_memzero(t->v, t->cap * sizeof(*t->v));
	free(t->v);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static uint64_t peer_keys_hash(const struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES])
{
	uint8_t h[crypto_shorthash_BYTES];

	_Static_assert(crypto_shorthash_BYTES == 8 && crypto_shorthash_KEYBYTES == PEER_KEYS_SALT_BYTES,
	               "SipHash-2-4 sizes");
	crypto_shorthash(h, pk, CHORUS_PK_BYTES, t->salt);
	return codec_get_u64(h);
}

static size_t peer_keys_home(const struct peer_keys *t, uint64_t hash)
{
	return (size_t)(hash & (2 * t->cap - 1));
}

static long peer_keys_lookup(const struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES])
{
	size_t nslots = 2 * t->cap, h;
	uint64_t hash;

	if (t->n == 0)
		return -1;
	hash = peer_keys_hash(t, pk);
	h = peer_keys_home(t, hash);
	for (size_t p = 0; p < nslots; p++) {
		uint32_t v = t->slots[h];

		if (v == 0)
			return -1;
		if (t->v[v - 1].hash == hash && memcmp(t->v[v - 1].pk, pk, CHORUS_PK_BYTES) == 0)
			return (long)(v - 1);
		h = (h + 1) & (nslots - 1);
	}
	return -1;
}

long peer_keys_find(struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES])
{
	long i = peer_keys_lookup(t, pk);

	if (i >= 0)
		t->v[i].ref = 1; /* used: the clock hand passes it over once */
	return i;
}

static void peer_keys_slot_put(struct peer_keys *t, size_t i)
{
	size_t h = peer_keys_home(t, t->v[i].hash);

	while (t->slots[h] != 0)
		h = (h + 1) & (2 * t->cap - 1);
	t->slots[h] = (uint32_t)i + 1;
}

/* Removes entry e from the index; backward-shift deletion (as the seen-cache): no tombstones. */
static void peer_keys_slot_delete(struct peer_keys *t, size_t e)
{
	size_t mask = 2 * t->cap - 1, i, j;

	i = peer_keys_home(t, t->v[e].hash);
	while (t->slots[i] != 0 && t->slots[i] != (uint32_t)e + 1)
		i = (i + 1) & mask;
	assert(t->slots[i] == (uint32_t)e + 1);
	t->slots[i] = 0;
	j = i;
	for (;;) {
		size_t h;

		j = (j + 1) & mask;
		if (t->slots[j] == 0)
			return;
		h = peer_keys_home(t, t->v[t->slots[j] - 1].hash);
		if ((i <= j) ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		t->slots[i] = t->slots[j];
		t->slots[j] = 0;
		i = j;
	}
}

static int peer_keys_grow(struct peer_keys *t)
{
	size_t cap = t->cap == 0 ? PEER_KEYS_MIN : 2 * t->cap;
	struct peer_key *v;
	uint32_t *slots;

	assert(cap <= CHORUS_PEER_KEYS_MAX);
	v = calloc(cap, sizeof(*v));
	slots = calloc(2 * cap, sizeof(*slots));
	if (v == NULL || slots == NULL) {
		free(v);
		free(slots);
		return CORE_ERR_NOMEM;
	}
	if (t->n > 0)
		memcpy(v, t->v, t->n * sizeof(*v));
	if (t->v != NULL)
		sodium_memzero(t->v, t->cap * sizeof(*t->v));
	free(t->v);
	free(t->slots);
	t->v = v;
	t->slots = slots;
	t->cap = cap;
	for (size_t i = 0; i < t->n; i++)
		peer_keys_slot_put(t, i);
	return 0;
}

/* The entry a new key goes to: a free one, or the first the clock hand finds unused. */
static long peer_keys_victim(struct peer_keys *t)
{
	long i;

	if (t->n < t->cap)
		return (long)t->n++;
	assert(t->cap == CHORUS_PEER_KEYS_MAX);
	while (t->v[t->hand].ref) {
		t->v[t->hand].ref = 0;
		t->hand = (t->hand + 1) % t->cap;
	}
	peer_keys_slot_delete(t, t->hand);
	t->evictions++; /* its replay window goes with it: the core raises its floor */
	i = (long)t->hand;
	t->hand = (t->hand + 1) % t->cap;
	return i;
}

long peer_keys_insert(struct peer_keys *t, const uint8_t pk[CHORUS_PK_BYTES],
                      const uint8_t key[CHORUS_MAC_KEY_BYTES], int bad)
{
	struct peer_key *e;
	long i;

	assert(peer_keys_lookup(t, pk) < 0);
	if (t->n == t->cap && t->cap < CHORUS_PEER_KEYS_MAX && peer_keys_grow(t) < 0)
		return CORE_ERR_NOMEM;
	i = peer_keys_victim(t);
	e = &t->v[i];
	memcpy(e->pk, pk, CHORUS_PK_BYTES);
	memcpy(e->key, key, CHORUS_MAC_KEY_BYTES);
	e->hash = peer_keys_hash(t, pk);
	e->bad = bad ? 1 : 0;
	e->ref = 1;
	e->fkey_serial = 0;
	e->win_gen = 0;
	e->win_n = 0;
	peer_keys_slot_put(t, (size_t)i);
	assert(t->n <= t->cap && t->cap <= CHORUS_PEER_KEYS_MAX);
	return i;
}

const char *peer_keys_check(const struct peer_keys *t)
{
	size_t used = 0;

	if (t->n > t->cap || t->cap > CHORUS_PEER_KEYS_MAX || (t->cap > 0 && t->hand >= t->cap))
		return "peer key table over its bound";
	for (size_t s = 0; s < 2 * t->cap; s++)
		used += t->slots[s] != 0;
	return used == t->n ? NULL : "peer key index does not match the table";
}

/*
 * members: the member table, a dense array with an open-addressing index on
 * the public key.  Indexes are stable until the next add or remove; removal
 * (a tombstone expiring) is rare, so it simply rebuilds the index.
 */
#include <stdlib.h>

#include "membership/membership.h"

/*
 * An index slot keeps the key's first 8 bytes beside the member's index: a
 * probe that meets another key is decided without touching that member
 * (a cache miss each, which dominated the 1000-node simulation).
 */
struct member_slot {
	uint64_t key; /* codec_get_u64(pk) */
	uint32_t idx; /* index + 1, 0 empty */
};

static size_t members_hash(const uint8_t pk[CHORUS_PK_BYTES], size_t nslots)
{
	/* Public keys are uniformly random: their first bytes are a fine hash. */
	return (size_t)(codec_get_u64(pk) & (nslots - 1));
}

static void members_slot_put(struct members *ms, size_t i)
{
	size_t h = members_hash(ms->v[i].pk, ms->nslots);

	while (ms->slots[h].idx != 0)
		h = (h + 1) & (ms->nslots - 1);
	ms->slots[h].idx = (uint32_t)i + 1;
	ms->slots[h].key = codec_get_u64(ms->v[i].pk);
}

static void members_index(struct members *ms)
{
	memset(ms->slots, 0, ms->nslots * sizeof(*ms->slots));
	for (size_t i = 0; i < ms->n; i++)
		members_slot_put(ms, i);
}

int members_init(struct members *ms)
{
	memset(ms, 0, sizeof(*ms));
	ms->cap = 16;
	ms->nslots = 32;
	ms->v = calloc(ms->cap, sizeof(*ms->v));
	ms->slots = calloc(ms->nslots, sizeof(*ms->slots));
	if (ms->v == NULL || ms->slots == NULL) {
		members_free(ms);
		return CORE_ERR_NOMEM;
	}
	return 0;
}

void members_free(struct members *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		free(ms->v[i].text);
	free(ms->v);
	free(ms->slots);
	memset(ms, 0, sizeof(*ms));
}

/* Keys compared a word at a time: probing mostly meets other keys, and libc's memcmp call was 9%. */
static inline int members_same_pk(const uint8_t *a, const uint8_t *b)
{
	uint64_t x[4], y[4];

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

long members_find(const struct members *ms, const uint8_t pk[CHORUS_PK_BYTES])
{
	uint64_t key = codec_get_u64(pk);
	size_t h = members_hash(pk, ms->nslots);

	for (size_t probes = 0; probes < ms->nslots; probes++) {
		const struct member_slot *s = &ms->slots[h];

		if (s->idx == 0)
			return -1;
		if (s->key == key && members_same_pk(ms->v[s->idx - 1].pk, pk))
			return (long)s->idx - 1;
		h = (h + 1) & (ms->nslots - 1);
	}
	return -1;
}

long members_find_prefix(const struct members *ms, uint64_t prefix)
{
	size_t h = (size_t)(prefix & (ms->nslots - 1)); /* members_hash of such a key */

	for (size_t probes = 0; probes < ms->nslots; probes++) {
		const struct member_slot *s = &ms->slots[h];

		if (s->idx == 0)
			return -1;
		if (s->key == prefix)
			return (long)s->idx - 1;
		h = (h + 1) & (ms->nslots - 1);
	}
	return -1;
}

long members_add(struct members *ms, const uint8_t pk[CHORUS_PK_BYTES])
{
	struct member *m;

	assert(members_find(ms, pk) < 0);
	if (ms->n >= CHORUS_MEMBERS_MAX)
		return CORE_ERR_FULL;
	if (ms->n == ms->cap) {
		size_t cap = ms->cap * 2;
		struct member *v = realloc(ms->v, cap * sizeof(*v));

		if (v == NULL)
			return CORE_ERR_NOMEM;
		ms->v = v;
		ms->cap = cap;
	}
	if (2 * (ms->n + 1) > ms->nslots) {
		size_t nslots = ms->nslots * 2;
		struct member_slot *slots = calloc(nslots, sizeof(*slots));

		if (slots == NULL)
			return CORE_ERR_NOMEM;
		free(ms->slots);
		ms->slots = slots;
		ms->nslots = nslots;
		members_index(ms);
	}
	m = &ms->v[ms->n];
	memset(m, 0, sizeof(*m));
	memcpy(m->pk, pk, CHORUS_PK_BYTES);
	m->state = MEMBER_ALIVE;
	ms->counts[MEMBER_ALIVE]++;
	ms->epoch++;
	members_slot_put(ms, ms->n);
	return (long)ms->n++;
}

void members_remove(struct members *ms, size_t i)
{
	assert(i < ms->n);
	assert(ms->counts[ms->v[i].state] > 0);
	ms->counts[ms->v[i].state]--;
	free(ms->v[i].text);
	ms->v[i] = ms->v[ms->n - 1];
	ms->n--;
	ms->epoch++;
	members_index(ms);
}

void members_set_state(struct members *ms, size_t i, enum member_state st)
{
	assert(i < ms->n && st <= MEMBER_LEFT);
	assert(ms->counts[ms->v[i].state] > 0);
	ms->counts[ms->v[i].state]--;
	ms->counts[st]++;
	ms->v[i].state = st;
	ms->epoch++;
}

const char *members_check(const struct members *ms)
{
	size_t counts[MEMBER_LEFT + 1] = {0};

	if (ms->n > ms->cap || ms->n > CHORUS_MEMBERS_MAX || 2 * ms->n > ms->nslots)
		return "member table over its bounds";
	for (size_t i = 0; i < ms->n; i++) {
		if (members_find(ms, ms->v[i].pk) != (long)i)
			return "member index does not match the table";
		if (ms->v[i].text == NULL || ms->v[i].text_len == 0)
			return "member without a signed record";
		if (ms->v[i].state > MEMBER_LEFT)
			return "member in an unknown state";
		counts[ms->v[i].state]++;
	}
	if (memcmp(counts, ms->counts, sizeof(counts)) != 0)
		return "member state counts do not match the table";
	return NULL;
}

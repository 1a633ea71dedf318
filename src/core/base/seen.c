/*
 * seen: a bounded set of recent 64-bit keys (frame tags, request and ack
 * signatures), to drop replays and duplicates; the oldest key goes first.
 */
#include "base/base.h"

#define SEEN_SLOTS (2 * CHORUS_SEEN_MAX)
_Static_assert((SEEN_SLOTS & (SEEN_SLOTS - 1)) == 0, "seen slots must be a power of two");

void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
}

static size_t seen_home(uint64_t key)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 40) & (SEEN_SLOTS - 1);
}

static long seen_find_slot(const struct seen *s, uint64_t key)
{
	size_t h = seen_home(key);

	for (size_t p = 0; p < SEEN_SLOTS; p++) {
		uint32_t v = s->slots[h];

		if (v == 0)
			return -1;
		if (s->ring[v - 1] == key)
			return (long)h;
		h = (h + 1) & (SEEN_SLOTS - 1);
	}
	return -1;
}

/* Backward-shift deletion keeps linear probing correct without tombstones. */
static void seen_delete_slot(struct seen *s, size_t i)
{
	size_t j = i;

	s->slots[i] = 0;
	for (;;) {
		size_t h;

		j = (j + 1) & (SEEN_SLOTS - 1);
		if (s->slots[j] == 0)
			return;
		h = seen_home(s->ring[s->slots[j] - 1]);
		/* Move j's entry into the hole unless its home lies in (i, j]. */
		if ((i <= j) ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		s->slots[i] = s->slots[j];
		s->slots[j] = 0;
		i = j;
	}
}

int seen_check_insert(struct seen *s, uint64_t key)
{
	size_t pos, h;

	if (seen_find_slot(s, key) >= 0)
		return 1;
	if (s->n == CHORUS_SEEN_MAX) {
		/* Evict the oldest: the ring slot we are about to overwrite. */
		long slot = seen_find_slot(s, s->ring[s->head]);

		assert(slot >= 0);
		seen_delete_slot(s, (size_t)slot);
		pos = s->head;
		s->head = (s->head + 1) % CHORUS_SEEN_MAX;
	} else {
		pos = (s->head + s->n) % CHORUS_SEEN_MAX;
		s->n++;
	}
	s->ring[pos] = key;
	h = seen_home(key);
	while (s->slots[h] != 0)
		h = (h + 1) & (SEEN_SLOTS - 1);
	s->slots[h] = (uint32_t)pos + 1;
	return 0;
}

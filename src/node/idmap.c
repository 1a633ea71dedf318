/* idmap: job id -> row, in memory (see idmap.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "idmap.h"

int idmap_key(uint8_t key[IDMAP_KEY_BYTES], const char *hex)
{
	size_t got = 0;

	if (strlen(hex) != 2 * IDMAP_KEY_BYTES ||
	    sodium_hex2bin(key, IDMAP_KEY_BYTES, hex, 2 * IDMAP_KEY_BYTES, NULL, &got, NULL) != 0 ||
	    got != IDMAP_KEY_BYTES)
		return -EINVAL;
	return 0;
}

static size_t idmap_home(const struct idmap *m, const uint8_t key[IDMAP_KEY_BYTES])
{
	uint64_t a, b;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	a = (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
	return (size_t)(a ^ a >> 31) & (m->cap - 1);
}

static struct idmap_slot *idmap_find(const struct idmap *m, const uint8_t key[IDMAP_KEY_BYTES])
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = idmap_home(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->v[i].row == 0)
			return NULL;
		if (memcmp(m->v[i].key, key, IDMAP_KEY_BYTES) == 0)
			return &m->v[i];
	}
}

int64_t idmap_get(const struct idmap *m, const uint8_t key[IDMAP_KEY_BYTES])
{
	const struct idmap_slot *s = idmap_find(m, key);

	return s != NULL ? s->row : 0;
}

static void idmap_place(struct idmap *m, const uint8_t key[IDMAP_KEY_BYTES], int64_t row)
{
	size_t i = idmap_home(m, key);

	while (m->v[i].row != 0)
		i = (i + 1) & (m->cap - 1);
	m->v[i].row = row;
	memcpy(m->v[i].key, key, IDMAP_KEY_BYTES);
	m->n++;
}

int idmap_reserve(struct idmap *m)
{
	struct idmap bigger = { NULL, m->cap > 0 ? m->cap * 2 : 1024, 0 };

	if ((m->n + 1) * 2 <= m->cap)
		return 0;
	if ((bigger.v = calloc(bigger.cap, sizeof *bigger.v)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].row != 0)
			idmap_place(&bigger, m->v[i].key, m->v[i].row);
	free(m->v);
	*m = bigger;
	return 0;
}

void idmap_put(struct idmap *m, const uint8_t key[IDMAP_KEY_BYTES], int64_t row)
{
	idmap_place(m, key, row);
}

int idmap_del(struct idmap *m, const uint8_t key[IDMAP_KEY_BYTES])
{
	struct idmap_slot *s = idmap_find(m, key);
	size_t hole, mask = m->cap - 1;

	if (s == NULL)
		return -ENOENT;
	hole = (size_t)(s - m->v);
	m->v[hole].row = 0;
	m->n--;
	/* The rest of the run: an entry moves into the hole unless its home lies after the hole. */
	for (size_t i = (hole + 1) & mask; m->v[i].row != 0; i = (i + 1) & mask) {
		size_t home = idmap_home(m, m->v[i].key);

		if (((i - home) & mask) >= ((i - hole) & mask)) {
			m->v[hole] = m->v[i];
			m->v[i].row = 0;
			hole = i;
		}
	}
	return 0;
}

void idmap_clear(struct idmap *m)
{
	if (m->cap > 0)
		memset(m->v, 0, m->cap * sizeof *m->v);
	m->n = 0;
}

void idmap_free(struct idmap *m)
{
	free(m->v);
	memset(m, 0, sizeof *m);
}

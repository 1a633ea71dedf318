/*
 * idmap: 200,000 random puts, gets and deletes checked against a plain array
 * (the model), with keys drawn from a small pool so that runs collide, the
 * map grows and deletions shift runs back; then keys that share their first
 * 8 bytes (the mix must spread them); the hex parser's bounds.
 */
#include <errno.h>
#include <string.h>

#include "idmap.h"
#include "tap.h"

#define POOL 6000

static uint8_t keys[POOL][IDMAP_KEY_BYTES];
static int64_t model[POOL]; /* 0: absent */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_model(void)
{
	struct idmap m = { 0 };
	int wrong = 0, ops = 0;
	size_t live = 0, peak = 0;

	for (int i = 0; i < POOL; i++)
		for (int b = 0; b < IDMAP_KEY_BYTES; b++)
			keys[i][b] = (uint8_t)rng();
	for (int op = 0; op < 200000; op++, ops++) {
		int k = (int)(rng() % POOL);
		unsigned what = (unsigned)(rng() % 3);

		if (what == 0 && model[k] == 0) {
			if (idmap_reserve(&m) != 0) {
				wrong++;
				break;
			}
			model[k] = op + 1;
			idmap_put(&m, keys[k], model[k]);
			live++;
		} else if (what == 1) {
			wrong += idmap_del(&m, keys[k]) != (model[k] ? 0 : -ENOENT);
			live -= model[k] != 0;
			model[k] = 0;
		} else {
			wrong += idmap_get(&m, keys[k]) != model[k];
		}
		wrong += m.n != live;
		if (live > peak)
			peak = live;
	}
	for (int k = 0; k < POOL; k++)
		wrong += idmap_get(&m, keys[k]) != model[k];
	ok(wrong == 0, "%d random operations agree with the model (peak %zu ids, %zu slots)", ops, peak,
	   m.cap);
	ok(m.cap >= 2 * m.n && (m.cap & (m.cap - 1)) == 0, "at most half full, a power of two");
	idmap_clear(&m);
	wrong = 0;
	for (int k = 0; k < POOL; k++)
		wrong += idmap_get(&m, keys[k]) != 0;
	ok(wrong == 0 && m.n == 0, "cleared: nothing is found");
	idmap_free(&m);
}

/* 4096 keys equal in their first 8 bytes (differing in the last 8): all found, then all deleted. */
static void test_shared_prefix(void)
{
	struct idmap m = { 0 };
	uint8_t key[IDMAP_KEY_BYTES];
	int wrong = 0;
	size_t longest = 0, run = 0;

	memset(key, 0xab, sizeof key);
	for (uint32_t i = 1; i <= 4096; i++) {
		memcpy(key + 12, &i, 4);
		wrong += idmap_reserve(&m) != 0;
		idmap_put(&m, key, i);
	}
	for (uint32_t i = 1; i <= 4096; i++) {
		memcpy(key + 12, &i, 4);
		wrong += idmap_get(&m, key) != (int64_t)i;
	}
	for (size_t i = 0; i < m.cap; i++) {
		run = m.v[i].row != 0 ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	ok(wrong == 0 && longest < 64, "keys sharing their first 8 bytes spread (longest run %zu)",
	   longest);
	for (uint32_t i = 1; i <= 4096; i++) {
		memcpy(key + 12, &i, 4);
		wrong += idmap_del(&m, key) != 0;
	}
	ok(wrong == 0 && m.n == 0, "and all leave");
	idmap_free(&m);
}

static void test_key(void)
{
	uint8_t key[IDMAP_KEY_BYTES];

	ok(idmap_key(key, "000102030405060708090a0b0c0d0eff") == 0 && key[0] == 0 && key[15] == 0xff,
	   "a 32-digit hex id is a key");
	ok(idmap_key(key, "0001") == -EINVAL && idmap_key(key, "") == -EINVAL &&
	       idmap_key(key, "000102030405060708090a0b0c0d0eff00") == -EINVAL &&
	       idmap_key(key, "zz0102030405060708090a0b0c0d0eff") == -EINVAL,
	   "short, long and non-hex ids are not");
}

int main(void)
{
	test_model();
	test_shared_prefix();
	test_key();
	return tap_done();
}

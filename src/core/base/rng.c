/*
 * rng: the core's only source of randomness, xoshiro256** seeded by the
 * driver through splitmix64, so a simulator seed replays a run exactly.
 */
#include "base/base.h"

static uint64_t rng_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *rng, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		rng->s[i] = rng_splitmix(&seed);
	assert(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]);
}

static uint64_t rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return result;
}

uint32_t rng_below(struct rng *rng, uint32_t n)
{
	assert(n > 0);
	/* Lemire's multiply-shift; the bias is below 2^-32 and irrelevant here. */
	return (uint32_t)(((rng_next(rng) >> 32) * (uint64_t)n) >> 32);
}

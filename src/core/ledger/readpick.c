/* readpick: which voter answers a read, and the one leader shown; rules in include/chorus/readpick.h. */
#include "chorus/readpick.h"

static int readpick_has(const uint64_t *out, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (out[i] == id)
			return 1;
	return 0;
}

static const struct readpick_cand *readpick_find(const struct readpick_cand *c, size_t n,
                                                 uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].id == id)
			return &c[i];
	return NULL;
}

size_t readpick_order(const struct readpick_cand *c, size_t n, uint64_t leader, uint64_t self,
                      uint64_t *out, size_t max)
{
	const struct readpick_cand *l = readpick_find(c, n, leader);
	size_t k = 0;

	if (max > READPICK_MAX)
		max = READPICK_MAX;
	if (leader != 0 && leader != self && l != NULL && l->alive && k < max)
		out[k++] = leader;
	/* Pass 0: the configuration's voters, alive before suspect; pass 1: announced voters. */
	for (int pass = 0; pass < 2; pass++)
		for (int want = 1; want <= 2; want++)
			for (size_t i = 0; i < n && k < max; i++) {
				const struct readpick_cand *x = &c[i];

				if (x->id == 0 || x->id == self || x->alive != want ||
				    !(pass == 0 ? x->in_conf : x->voter_role) || readpick_has(out, k, x->id))
					continue;
				out[k++] = x->id;
			}
	return k;
}

uint64_t readpick_leader(const struct readpick_view *v, const struct readpick_cand *c, size_t n,
                         uint64_t *term)
{
	const struct readpick_cand *best = NULL, *l;

	*term = 0;
	if (v->raft_view) {
		*term = v->raft_leader != 0 ? v->raft_term : 0;
		return v->raft_leader;
	}
	l = readpick_find(c, n, v->learned_leader);
	if (v->learned_leader != 0 && v->learned_age_ms <= READPICK_LEARNED_MS && l != NULL &&
	    l->alive) {
		*term = v->learned_term;
		return v->learned_leader;
	}
	for (size_t i = 0; i < n; i++) {
		const struct readpick_cand *x = &c[i];

		if (x->id == 0 || !x->announces || !x->alive)
			continue;
		if (best == NULL || x->alive < best->alive ||
		    (x->alive == best->alive && x->id < best->id))
			best = x;
	}
	return best != NULL ? best->id : 0;
}

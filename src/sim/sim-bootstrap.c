/*
 * chorus-sim bootstrap: the first voter set formed by agreement
 * (include/chorus/bootstrap.h), run by many candidates that see each other
 * late, partly and through stale gossip.
 *
 * Each round (a duty round: 100 ms of the node) every started candidate that
 * has not booted calls bootstrap_step() on its view: each other started candidate
 * is missed with probability --miss (not seen yet, or not this round), else
 * seen with its state as published up to --stale rounds ago (per pair, per
 * round).  Candidates start at random rounds in
 * [0, --late).  After round --converge every view is whole and fresh, so the
 * run must end with everyone booted.
 *
 * Checked after every round: every candidate that booted as a member (agreed
 * or joined) booted with the same set, of --expect ids, holding itself;
 * nobody booted as a member with fewer than --expect candidates around.
 * Liveness: by the last round everyone has booted (with fewer than --expect
 * candidates: nobody has), and every member of the set booted as a member
 * (one that booted as a non-member would leave a set that may not elect).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chorus/bootstrap.h"
#include "sim.h"

#define SB_NODES_MAX 64
#define SB_STALE_MAX 32

struct sb_node {
	uint64_t id;
	unsigned start;
	int booted;            /* 0; else the bootstrap_action */
	struct bootstrap_state st;
	uint64_t set[CHORUS_RAFT_VOTERS_MAX];
	uint32_t nset;
	/* published state, per round, in a ring of SB_STALE_MAX + 1 */
	char kind[SB_STALE_MAX + 1];
	uint64_t hash[SB_STALE_MAX + 1];
};

struct sb {
	struct sim_rng rng;
	unsigned n, expect, stale, late, converge, rounds;
	double miss;
	struct sb_node nodes[SB_NODES_MAX];
	uint64_t agreed_set[CHORUS_RAFT_VOTERS_MAX];
	uint32_t nagreed; /* 0: no member boot yet */
	unsigned members, joined, nonmembers, degraded, checks;
};

void sim_bootstrap_usage(FILE *f)
{
	fprintf(f, "bootstrap [--nodes K] [--expect N] [--seed S] [--miss P] [--stale R] [--late R]\n"
	           "          [--converge R] [--rounds R]\n"
	           "  K voter candidates (default 5, at most %d) form the first voter set of N\n"
	           "  (default 3) by agreement; each misses each other with probability P (default\n"
	           "  0.2) and sees state up to R rounds old (default 3); they start over --late\n"
	           "  rounds (default 30); views are whole and fresh from --converge (default 100);\n"
	           "  --rounds (default 300) in all.  Exit 1 on a broken invariant.\n",
	        SB_NODES_MAX);
}

static int sb_cmp_cand(const void *a, const void *b)
{
	uint64_t x = ((const struct bootstrap_cand *)a)->id, y = ((const struct bootstrap_cand *)b)->id;

	return x < y ? -1 : x > y;
}

/* What node j published r rounds before round `now` (its latest if it was not started then). */
static void sb_published(const struct sb_node *j, unsigned now, unsigned r, char *kind,
                         uint64_t *hash)
{
	unsigned at = now >= r ? now - r : 0;

	if (at < j->start)
		at = j->start;
	*kind = j->kind[at % (SB_STALE_MAX + 1)];
	*hash = j->hash[at % (SB_STALE_MAX + 1)];
}

static void sb_publish(struct sb_node *x, unsigned round, char kind, uint64_t hash)
{
	x->kind[round % (SB_STALE_MAX + 1)] = kind;
	x->hash[round % (SB_STALE_MAX + 1)] = hash;
}

static int sb_check(struct sb *s, unsigned round, unsigned started)
{
	s->checks++;
	for (unsigned i = 0; i < s->n; i++) {
		const struct sb_node *x = &s->nodes[i];
		int self_in = 0;

		if (x->booted != BOOTSTRAP_MEMBER && x->booted != BOOTSTRAP_JOIN)
			continue;
		if (x->nset != s->expect) {
			printf("FAIL round %u: node %016" PRIx64 " booted with %u voters, not %u\n", round,
			       x->id, x->nset, s->expect);
			return -1;
		}
		if (s->nagreed == 0) {
			memcpy(s->agreed_set, x->set, sizeof x->set);
			s->nagreed = x->nset;
		} else if (memcmp(s->agreed_set, x->set, s->nagreed * sizeof x->set[0]) != 0) {
			printf("FAIL round %u: node %016" PRIx64 " booted with another voter set: two "
			       "clusters\n", round, x->id);
			return -1;
		}
		for (uint32_t k = 0; k < x->nset; k++)
			self_in |= x->set[k] == x->id;
		if (!self_in) {
			printf("FAIL round %u: node %016" PRIx64 " is not in the set it booted with\n", round,
			       x->id);
			return -1;
		}
	}
	if (s->nagreed > 0 && started < s->expect) {
		printf("FAIL round %u: a set of %u booted with %u candidates started\n", round,
		       s->nagreed, started);
		return -1;
	}
	return 0;
}

static int sb_run(struct sb *s)
{
	struct bootstrap_cand view[SB_NODES_MAX];

	for (unsigned round = 0; round < s->rounds; round++) {
		int fresh = round >= s->converge;
		unsigned started = 0;

		for (unsigned i = 0; i < s->n; i++) {
			struct sb_node *x = &s->nodes[i];

			if (round < x->start)
				continue;
			started++;
			if (round == x->start)
				sb_publish(x, round, 0, 0);
			else /* carry the state over to this round's slot */
				sb_publish(x, round, x->kind[(round - 1) % (SB_STALE_MAX + 1)],
				           x->hash[(round - 1) % (SB_STALE_MAX + 1)]);
		}
		for (unsigned i = 0; i < s->n; i++) {
			struct sb_node *x = &s->nodes[i];
			size_t nv = 0;
			enum bootstrap_action a;
			uint64_t ids[CHORUS_RAFT_VOTERS_MAX];
			uint32_t nids;

			if (round < x->start || x->booted)
				continue;
			for (unsigned j = 0; j < s->n; j++) {
				const struct sb_node *y = &s->nodes[j];

				if (j == i) {
					view[nv].id = x->id;
					view[nv].kind = x->st.kind;
					view[nv++].hash = x->st.hash;
					continue;
				}
				if (round < y->start || (!fresh && sim_rng_unit(&s->rng) < s->miss))
					continue;
				view[nv].id = y->id;
				sb_published(y, round, fresh ? 0 : (unsigned)sim_rng_below(&s->rng, s->stale + 1),
				             &view[nv].kind, &view[nv].hash);
				nv++;
			}
			qsort(view, nv, sizeof view[0], sb_cmp_cand);
			a = bootstrap_step(&x->st, x->id, s->expect, view, nv, ids, &nids);
			if (a == BOOTSTRAP_PUBLISH) {
				sb_publish(x, round, x->st.kind, x->st.hash);
			} else if (a == BOOTSTRAP_MEMBER || a == BOOTSTRAP_JOIN || a == BOOTSTRAP_NONMEMBER) {
				x->booted = (int)a;
				memcpy(x->set, ids, sizeof ids);
				x->nset = nids;
				sb_publish(x, round, 'b', bootstrap_set_hash(ids, nids));
				s->members += a == BOOTSTRAP_MEMBER;
				s->joined += a == BOOTSTRAP_JOIN;
				s->nonmembers += a == BOOTSTRAP_NONMEMBER;
			}
		}
		if (sb_check(s, round, started) != 0)
			return -1;
	}
	for (unsigned i = 0; i < s->n; i++) {
		const struct sb_node *x = &s->nodes[i];

		if (s->n < s->expect) {
			if (x->booted) {
				printf("FAIL: node %016" PRIx64 " booted with fewer than %u candidates\n", x->id,
				       s->expect);
				return -1;
			}
			continue; /* too few candidates: waiting is right */
		}
		if (!x->booted) {
			printf("FAIL liveness: node %016" PRIx64 " (started at round %u) never booted\n",
			       x->id, x->start);
			return -1;
		}
		for (uint32_t k = 0; k < s->nagreed; k++)
			s->degraded += x->booted == BOOTSTRAP_NONMEMBER && s->agreed_set[k] == x->id;
	}
	if (s->n >= s->expect && s->nagreed == 0) {
		printf("FAIL liveness: %u candidates, no voter set formed\n", s->n);
		return -1;
	}
	if (s->degraded > 0) {
		printf("FAIL: %u members of the voter set booted as non-members (a set that cannot "
		       "elect)\n", s->degraded);
		return -1;
	}
	return 0;
}

int sim_bootstrap_main(int argc, char **argv)
{
	static struct sb s;
	uint64_t v, seed = 1;
	double t0 = sim_wall_s();

	memset(&s, 0, sizeof s);
	s.n = 5;
	s.expect = 3;
	s.miss = 0.2;
	s.stale = 3;
	s.late = 30;
	s.converge = 100;
	s.rounds = 300;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
		int r = 0;

		if (strcmp(o, "--nodes") == 0 && (r = sim_parse_u64(o, arg, 1, SB_NODES_MAX, &v)) == 0)
			s.n = (unsigned)v;
		else if (strcmp(o, "--expect") == 0 &&
		         (r = sim_parse_u64(o, arg, 1, CHORUS_RAFT_VOTERS_MAX, &v)) == 0)
			s.expect = (unsigned)v;
		else if (strcmp(o, "--seed") == 0 && (r = sim_parse_u64(o, arg, 0, UINT64_MAX, &v)) == 0)
			seed = v;
		else if (strcmp(o, "--miss") == 0 && (r = sim_parse_prob(o, arg, &s.miss)) == 0)
			;
		else if (strcmp(o, "--stale") == 0 && (r = sim_parse_u64(o, arg, 0, SB_STALE_MAX, &v)) == 0)
			s.stale = (unsigned)v;
		else if (strcmp(o, "--late") == 0 && (r = sim_parse_u64(o, arg, 1, 100000, &v)) == 0)
			s.late = (unsigned)v;
		else if (strcmp(o, "--converge") == 0 && (r = sim_parse_u64(o, arg, 0, 100000, &v)) == 0)
			s.converge = (unsigned)v;
		else if (strcmp(o, "--rounds") == 0 && (r = sim_parse_u64(o, arg, 1, 1000000, &v)) == 0)
			s.rounds = (unsigned)v;
		else if (r == 0) {
			fprintf(stderr, "chorus-sim: bootstrap: unknown option \"%s\"\n", o);
			return 2;
		}
		if (r != 0)
			return 2;
		i++;
	}
	if (s.converge + 3 * BOOTSTRAP_STABLE + s.late >= s.rounds) {
		fprintf(stderr, "chorus-sim: bootstrap: --rounds must leave time after --converge and "
		                "--late (at least %u more)\n", 3 * BOOTSTRAP_STABLE + 1);
		return 2;
	}
	sim_rng_seed(&s.rng, seed);
	for (unsigned i = 0; i < s.n; i++) {
		s.nodes[i].id = sim_rng_next(&s.rng) | 1; /* non-zero, like a Raft id */
		s.nodes[i].start = (unsigned)sim_rng_below(&s.rng, s.late);
	}
	printf("bootstrap: nodes=%u expect=%u seed=%" PRIu64 " miss=%.2f stale=%u late=%u converge=%u "
	       "rounds=%u\n", s.n, s.expect, seed, s.miss, s.stale, s.late, s.converge, s.rounds);
	if (sb_run(&s) != 0)
		return 1;
	printf("result: one voter set of %u; booted: %u agreed, %u joined it, %u non-members "
	       "(%u of them in the set); %u rounds checked\n", s.nagreed, s.members, s.joined,
	       s.nonmembers, s.degraded, s.checks);
	printf("wall: %.3f s\n", sim_wall_s() - t0);
	return 0;
}

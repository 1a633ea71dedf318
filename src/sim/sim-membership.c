/*
 * `chorus-sim membership`: SWIM membership under a join storm and faults.
 *
 * Phases: (1) a join storm (every node starts at a random instant in the
 * first second, joining through node 0 and one other started node) until
 * every live node lists every live node ALIVE; (2) a quiet steady state, to
 * measure the background message rate; (3) crashes; (4) one graceful leave;
 * (5) a partition of a small group, then a heal; (6) a crash and a restart
 * under the same key.  Each phase ends with a liveness check against a
 * virtual-time deadline.
 *
 * The simulator knows the truth (who is up, in which generation, with which
 * incarnation), and mirrors every node's view from member_cb.  The mirror
 * gives O(1) checks per transition and an O(1) "converged?" test after every
 * event: col_bad[x] counts live observers whose view of x is not what it
 * should be, total_bad sums them.  At each phase end the mirror is compared
 * with the views themselves (core_member_get), which catches a missed
 * member_cb.
 *
 * Invariants:
 *   per step        the stepped core's self entry is ALIVE, not left (unless
 *                   it left), its start_ms is the current generation, its
 *                   incarnation never decreases; core_check() every K steps.
 *   per transition  a view of x never moves to a lower (start_ms, inc); no
 *                   view shows an incarnation x never had; ALIVE/SUSPECT ->
 *                   DEAD of a node that is up and reachable is counted as a
 *                   false positive (failing the run only without loss).
 *   per phase end   core_check() on every node; mirror == views; liveness.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define MEMB_NODES_MIN      5
#define MEMB_WATCH_MAX      128
#define MEMB_ABSENT         0xff
#define MEMB_DEADLINE_S     300   /* default per-phase liveness deadline, virtual */
#define MEMB_STORM_MS       1000  /* nodes start within this window */
#define MEMB_FLUSH_MS       2000  /* a leaver's loop is kept up this long */

enum memb_expect {
	EXP_ANY = 0,    /* not started yet: anything goes */
	EXP_ALIVE = 1,  /* ALIVE in its current generation */
	EXP_DEAD = 2,   /* DEAD, or forgotten */
	EXP_LEFT = 3,   /* LEFT, or forgotten */
};

/* Times measured for one crash, leave or restart. */
struct memb_watch {
	uint32_t node;
	uint8_t gen;             /* 1-based generation being watched */
	uint8_t target;          /* MEMBER_DEAD or MEMBER_LEFT */
	uint64_t t0_ms;
	uint64_t first_suspect_ms;  /* UINT64_MAX until someone suspects */
	uint64_t all_ms;            /* UINT64_MAX until every live view agrees */
	uint8_t *seen;           /* per observer: reached target */
	uint64_t count, sum_ms, max_ms;
};

struct memb {
	struct sim sim;
	uint32_t n;
	uint64_t check_every;
	uint64_t deadline_ms;
	uint64_t duration_ms;
	int join_only;           /* stop after the join storm (a regression seed's bar) */
	struct core_timing timing;
	/* The mirror: mstate/mgen/minc[o * n + x] is observer o's view of x. */
	uint8_t *mstate;
	uint8_t *mgen;
	uint32_t *minc;
	uint8_t *exp;            /* enum memb_expect, per node */
	uint8_t *obs;            /* per node: a live observer (up and not left) */
	uint32_t *col_bad;
	uint64_t total_bad;
	uint32_t nup;
	/* pk -> node index. */
	uint32_t *ht;
	size_t ht_mask;
	/* Partition bookkeeping: DEADs before this are not false positives. */
	uint64_t split_grace_until_ms;
	uint64_t partition_deads;
	struct memb_watch watch[MEMB_WATCH_MAX];
	unsigned nwatch;
	uint64_t false_positives, checks, core_checks, mirror_checks;
	const char *phase;
	/* Wall-clock seconds per phase: printed only on the `wall:` line. */
	const char *phase_names[8];
	double phase_wall_s[8];
	unsigned nphases;
};

/* ---------------------------------------------------------------- keys */

static uint64_t memb_pk_hash(const uint8_t *pk)
{
	uint64_t h;

	memcpy(&h, pk, sizeof(h));
	return h;
}

static int memb_ht_init(struct memb *m)
{
	size_t size = 1;

	while (size < 2 * (size_t)m->n)
		size <<= 1;
	m->ht = malloc(size * sizeof(*m->ht));
	if (m->ht == NULL)
		return -1;
	memset(m->ht, 0xff, size * sizeof(*m->ht));
	m->ht_mask = size - 1;
	for (uint32_t i = 0; i < m->n; i++) {
		size_t j = memb_pk_hash(m->sim.nodes[i].pk) & m->ht_mask;

		while (m->ht[j] != UINT32_MAX)
			j = (j + 1) & m->ht_mask;
		m->ht[j] = i;
	}
	return 0;
}

static int64_t memb_lookup(const struct memb *m, const uint8_t *pk)
{
	size_t j = memb_pk_hash(pk) & m->ht_mask;

	while (m->ht[j] != UINT32_MAX) {
		if (memcmp(m->sim.nodes[m->ht[j]].pk, pk, CHORUS_PK_BYTES) == 0)
			return m->ht[j];
		j = (j + 1) & m->ht_mask;
	}
	return -1;
}

/* ---------------------------------------------------------------- the mirror */

static int memb_pair_ok(const struct memb *m, uint32_t o, uint32_t x)
{
	size_t k = (size_t)o * m->n + x;
	uint8_t st = m->mstate[k];

	switch (m->exp[x]) {
	case EXP_ALIVE:
		return st == MEMBER_ALIVE && m->mgen[k] == m->sim.nodes[x].ngens;
	case EXP_DEAD:
		return st == MEMB_ABSENT || st == MEMBER_DEAD;
	case EXP_LEFT:
		return st == MEMB_ABSENT || st == MEMBER_LEFT;
	default:
		return 1;
	}
}

/* Is (o, x) counted as bad right now? */
static int memb_pair_bad(const struct memb *m, uint32_t o, uint32_t x)
{
	return o != x && m->obs[o] && !memb_pair_ok(m, o, x);
}

static void memb_bad_add(struct memb *m, uint32_t x, int delta)
{
	if (delta > 0) {
		m->col_bad[x]++;
		m->total_bad++;
	} else if (delta < 0) {
		if (m->col_bad[x] == 0 || m->total_bad == 0) {
			sim_net_failf(&m->sim, "simulator bug: bad-pair counter underflow");
			return;
		}
		m->col_bad[x]--;
		m->total_bad--;
	}
}

static void memb_pair_set(struct memb *m, uint32_t o, uint32_t x, uint8_t st, uint8_t gen,
                          uint32_t inc)
{
	size_t k = (size_t)o * m->n + x;
	int before = memb_pair_bad(m, o, x);

	m->mstate[k] = st;
	m->mgen[k] = gen;
	m->minc[k] = inc;
	memb_bad_add(m, x, memb_pair_bad(m, o, x) - before);
}

static void memb_set_exp(struct memb *m, uint32_t x, enum memb_expect e)
{
	for (uint32_t o = 0; o < m->n; o++) {
		int before = memb_pair_bad(m, o, x), after;
		uint8_t saved = m->exp[x];

		m->exp[x] = (uint8_t)e;
		after = memb_pair_bad(m, o, x);
		m->exp[x] = saved;
		memb_bad_add(m, x, after - before);
	}
	m->exp[x] = (uint8_t)e;
}

static void memb_set_obs(struct memb *m, uint32_t o, int on)
{
	if (m->obs[o] == on)
		return;
	for (uint32_t x = 0; x < m->n; x++) {
		if (x != o && !memb_pair_ok(m, o, x))
			memb_bad_add(m, x, on ? 1 : -1);
	}
	m->obs[o] = (uint8_t)on;
	m->nup += on ? 1 : (uint32_t)-1;
}

/* A new core knows nobody: forget what the old one knew (row is not counted then). */
static void memb_reset_row(struct memb *m, uint32_t o)
{
	size_t k = (size_t)o * m->n;

	memset(m->mstate + k, MEMB_ABSENT, m->n);
	memset(m->mgen + k, 0, m->n);
	memset(m->minc + k, 0, m->n * sizeof(*m->minc));
}

/* ---------------------------------------------------------------- hooks */

static void memb_watch_note(struct memb *m, uint32_t o, uint32_t x, unsigned g, int st)
{
	for (unsigned i = 0; i < m->nwatch; i++) {
		struct memb_watch *w = &m->watch[i];
		uint64_t dt;

		if (w->node != x || w->gen != g || m->sim.now_ms < w->t0_ms)
			continue;
		dt = m->sim.now_ms - w->t0_ms;
		if (w->target == MEMBER_DEAD && w->first_suspect_ms == UINT64_MAX &&
		    (st == MEMBER_SUSPECT || st == MEMBER_DEAD))
			w->first_suspect_ms = dt;
		if (st == w->target && !w->seen[o]) {
			w->seen[o] = 1;
			w->count++;
			w->sum_ms += dt;
			if (dt > w->max_ms)
				w->max_ms = dt;
		}
	}
}

static void memb_member_cb(struct sim *sim, struct sim_node *on, const struct member_view *mv,
                           int old_state, int forgotten)
{
	struct memb *m = sim->hooks.ctx;
	uint32_t o = on->index;
	int64_t xi = memb_lookup(m, mv->rec.pk);
	struct sim_node *xn;
	size_t k;
	unsigned g;

	m->checks++;
	if (xi < 0) {
		sim_net_failf(sim, "node %" PRIu32 " learned a member %.16s... that no node has", o, mv->id);
		return;
	}
	xn = &sim->nodes[xi];
	if (mv->self || (uint32_t)xi == o) {
		if (!mv->self || (uint32_t)xi != o)
			sim_net_failf(sim, "node %" PRIu32 ": self flag wrong for member node %" PRId64, o, xi);
		else if (xn->ngens > 0 && mv->rec.inc > xn->inc[xn->ngens - 1])
			xn->inc[xn->ngens - 1] = mv->rec.inc;
		return;
	}
	g = sim_net_gen_of(xn, mv->rec.start_ms);
	if (g == 0) {
		sim_net_failf(sim, "node %" PRIu32 " sees node %" PRId64 " with start_ms %" PRIu64
		              " it never had", o, xi, mv->rec.start_ms);
		return;
	}
	k = (size_t)o * m->n + (size_t)xi;
	if (forgotten) {
		memb_pair_set(m, o, (uint32_t)xi, MEMB_ABSENT, 0, 0);
		return;
	}
	if ((unsigned)mv->state > MEMBER_LEFT) {
		sim_net_failf(sim, "node %" PRIu32 ": member %" PRId64 " in state %d", o, xi, mv->state);
		return;
	}
	if (m->mstate[k] != MEMB_ABSENT &&
	    (g < m->mgen[k] || (g == m->mgen[k] && mv->rec.inc < m->minc[k]))) {
		sim_net_failf(sim, "node %" PRIu32 "'s view of node %" PRId64 " went back from (gen %u, inc %"
		              PRIu32 ") to (gen %u, inc %" PRIu64 ")", o, xi, m->mgen[k], m->minc[k], g,
		              mv->rec.inc);
		return;
	}
	if (mv->rec.inc > xn->inc[g - 1]) {
		sim_net_failf(sim, "node %" PRIu32 " sees node %" PRId64 " (gen %u) at incarnation %" PRIu64
		              ", above its real %" PRIu64, o, xi, g, mv->rec.inc, xn->inc[g - 1]);
		return;
	}
	if (mv->state == MEMBER_DEAD && (old_state == MEMBER_ALIVE || old_state == MEMBER_SUSPECT) &&
	    xn->core != NULL && g == xn->ngens && !xn->left && on->group == xn->group) {
		/*
		 * Until a grace period after a heal, a DEAD may come from a rumor
		 * born on the other side of the partition: counted apart.
		 */
		int split = sim->now_ms < m->split_grace_until_ms;

		if (split)
			m->partition_deads++;
		else
			m->false_positives++;
		if (sim->p.verbose > 0)
			printf("t=%" PRIu64 " node=%" PRIu32 " sim %s dead=%" PRId64 "\n", sim->now_ms, o,
			       split ? "partition-dead" : "false-positive", xi);
	}
	memb_watch_note(m, o, (uint32_t)xi, g, mv->state);
	memb_pair_set(m, o, (uint32_t)xi, (uint8_t)mv->state, (uint8_t)g,
	              mv->rec.inc > UINT32_MAX ? UINT32_MAX : (uint32_t)mv->rec.inc);
}

static void memb_step_cb(struct sim *sim, struct sim_node *n)
{
	struct memb *m = sim->hooks.ctx;
	struct member_view mv;
	unsigned g = n->ngens;
	const char *why;

	if (n->core == NULL)
		return;
	m->checks++;
	if (sim_net_self(n, &mv) != 0) {
		sim_net_failf(sim, "node %" PRIu32 ": no self entry in its own view", n->index);
		return;
	}
	if (memcmp(mv.rec.pk, n->pk, CHORUS_PK_BYTES) != 0 || mv.rec.start_ms != n->start_ms[g - 1]) {
		sim_net_failf(sim, "node %" PRIu32 ": self entry has the wrong key or start_ms", n->index);
		return;
	}
	if (!n->left && (mv.state != MEMBER_ALIVE || mv.rec.left)) {
		sim_net_failf(sim, "node %" PRIu32 ": self entry is %s%s but it did not leave", n->index,
		              member_state_name(mv.state), mv.rec.left ? " (left)" : "");
		return;
	}
	if (mv.rec.inc < n->inc[g - 1]) {
		sim_net_failf(sim, "node %" PRIu32 ": own incarnation went back from %" PRIu64 " to %" PRIu64,
		              n->index, n->inc[g - 1], mv.rec.inc);
		return;
	}
	n->inc[g - 1] = mv.rec.inc;
	if (sim->steps % m->check_every == 0) {
		m->core_checks++;
		if ((why = core_check(n->core)) != NULL)
			sim_net_failf(sim, "node %" PRIu32 ": core_check: %s", n->index, why);
	}
}

/* Pick up to two seeds for node i: node 0 and one other random live node. */
static size_t memb_seeds(struct memb *m, uint32_t i, uint32_t seeds[2])
{
	size_t ns = 0;
	uint32_t cand[64];
	size_t nc = 0;

	if (i != 0 && m->sim.nodes[0].core != NULL)
		seeds[ns++] = 0;
	/* Reservoir-free: draw a few random indexes, take the first live one. */
	for (unsigned tries = 0; tries < 64 && nc == 0; tries++) {
		uint32_t j = (uint32_t)sim_rng_below(&m->sim.rng, m->n);

		if (j != i && j != 0 && m->obs[j])
			cand[nc++] = j;
	}
	if (nc == 0) {
		for (uint32_t j = 1; j < m->n && nc < 64; j++)
			if (j != i && m->obs[j])
				cand[nc++] = j;
		if (nc > 0)
			cand[0] = cand[sim_rng_below(&m->sim.rng, nc)];
	}
	if (nc > 0)
		seeds[ns++] = cand[0];
	return ns;
}

static void memb_start_node(struct memb *m, uint32_t i)
{
	uint32_t seeds[2];
	size_t ns = memb_seeds(m, i, seeds);

	memb_reset_row(m, i);
	if (sim_net_up(&m->sim, i, seeds, ns) != 0)
		return;
	memb_set_exp(m, i, EXP_ALIVE);
	memb_set_obs(m, i, 1);
}

static void memb_start_cb(struct sim *sim, struct sim_node *n)
{
	memb_start_node(sim->hooks.ctx, n->index);
}

/* ---------------------------------------------------------------- phases */

static int memb_converged(struct sim *sim, void *arg)
{
	struct memb *m = sim->hooks.ctx;

	(void)arg;
	for (unsigned i = 0; i < m->nwatch; i++) {
		struct memb_watch *w = &m->watch[i];

		if (w->all_ms == UINT64_MAX && sim->now_ms >= w->t0_ms && m->col_bad[w->node] == 0 &&
		    m->exp[w->node] != EXP_ALIVE)
			w->all_ms = sim->now_ms - w->t0_ms;
	}
	return m->total_bad == 0 && m->nup > 0;
}

static struct memb_watch *memb_watch_add(struct memb *m, uint32_t x, uint8_t target)
{
	struct memb_watch *w;

	if (m->nwatch == MEMB_WATCH_MAX) {
		sim_net_failf(&m->sim, "simulator bug: more than %d watches", MEMB_WATCH_MAX);
		return NULL;
	}
	w = &m->watch[m->nwatch++];
	w->node = x;
	w->gen = (uint8_t)m->sim.nodes[x].ngens;
	w->target = target;
	w->t0_ms = m->sim.now_ms;
	w->first_suspect_ms = UINT64_MAX;
	w->all_ms = UINT64_MAX;
	w->count = w->sum_ms = w->max_ms = 0;
	w->seen = calloc(m->n, 1);
	if (w->seen == NULL) {
		fprintf(stderr, "chorus-sim: out of memory\n");
		exit(2);
	}
	return w;
}

/* Describe the first pair that keeps the run from converging. */
static void memb_fail_liveness(struct memb *m)
{
	static const char *exp_names[] = {"anything", "ALIVE", "DEAD or forgotten", "LEFT or forgotten"};

	for (uint32_t o = 0; o < m->n; o++) {
		for (uint32_t x = 0; x < m->n; x++) {
			size_t k = (size_t)o * m->n + x;

			if (!memb_pair_bad(m, o, x))
				continue;
			sim_net_failf(&m->sim,
			              "liveness (%s): at the deadline node %" PRIu32 " sees node %" PRIu32
			              " as %s (gen %u), expected %s (gen %u); %" PRIu64 " views still wrong",
			              m->phase,
			              o, x, m->mstate[k] == MEMB_ABSENT ? "absent" : member_state_name(m->mstate[k]),
			              m->mgen[k], exp_names[m->exp[x]], m->sim.nodes[x].ngens, m->total_bad);
			return;
		}
	}
	sim_net_failf(&m->sim, "liveness (%s): not converged at the deadline", m->phase);
}

static void memb_phase(struct memb *m, const char *name)
{
	double now = sim_wall_s();

	if (m->nphases > 0)
		m->phase_wall_s[m->nphases - 1] = now - m->phase_wall_s[m->nphases - 1];
	m->phase = name;
	if (m->nphases < 8) {
		m->phase_names[m->nphases] = name;
		m->phase_wall_s[m->nphases++] = now;
	}
}

/* Run until converged; returns ms taken, or UINT64_MAX after recording a failure. */
static uint64_t memb_wait(struct memb *m, uint64_t t0_ms)
{
	int r = sim_net_run(&m->sim, t0_ms + m->deadline_ms, memb_converged, NULL);

	if (r < 0)
		return UINT64_MAX;
	if (r == 0) {
		memb_fail_liveness(m);
		return UINT64_MAX;
	}
	return m->sim.now_ms - t0_ms;
}

/*
 * End of a phase: core_check() on every up node, and the mirror built from
 * member_cb must equal what every live node's view says.
 */
static int memb_phase_end(struct memb *m)
{
	struct sim *sim = &m->sim;
	uint8_t *seen = calloc(m->n, 1);
	const char *why;
	int rc = 0;

	if (seen == NULL)
		return -1;
	for (uint32_t o = 0; o < m->n && rc == 0; o++) {
		struct sim_node *n = &sim->nodes[o];
		size_t count;

		if (n->core == NULL)
			continue;
		m->core_checks++;
		if ((why = core_check(n->core)) != NULL) {
			sim_net_failf(sim, "%s: node %" PRIu32 ": core_check: %s", m->phase, o, why);
			rc = -1;
			break;
		}
		if (!m->obs[o])
			continue;
		memset(seen, 0, m->n);
		count = core_member_count(n->core);
		for (size_t i = 0; i < count; i++) {
			struct member_view mv;
			int64_t x;
			size_t k;

			m->mirror_checks++;
			if (core_member_brief(n->core, i, &mv) != 0 || (x = memb_lookup(m, mv.rec.pk)) < 0) {
				sim_net_failf(sim, "%s: node %" PRIu32 ": member %zu unreadable or unknown",
				              m->phase, o, i);
				rc = -1;
				break;
			}
			seen[x] = 1;
			k = (size_t)o * m->n + (size_t)x;
			if (mv.self)
				continue;
			if (m->mstate[k] != mv.state ||
			    m->mgen[k] != sim_net_gen_of(&sim->nodes[x], mv.rec.start_ms) ||
			    m->minc[k] != (mv.rec.inc > UINT32_MAX ? UINT32_MAX : (uint32_t)mv.rec.inc)) {
				sim_net_failf(sim, "%s: node %" PRIu32 "'s view of node %" PRId64
				              " (%s inc %" PRIu64 ") differs from what member_cb reported",
				              m->phase, o, x, member_state_name(mv.state), mv.rec.inc);
				rc = -1;
				break;
			}
		}
		for (uint32_t x = 0; x < m->n && rc == 0; x++) {
			if (!seen[x] && m->mstate[(size_t)o * m->n + x] != MEMB_ABSENT) {
				sim_net_failf(sim, "%s: node %" PRIu32 " lost node %" PRIu32
				              " from its view without a forgotten member_cb", m->phase, o, x);
				rc = -1;
			}
		}
	}
	free(seen);
	return rc;
}

/* A random live node other than 0 that has not been used yet. */
static int64_t memb_pick(struct memb *m, uint8_t *used)
{
	for (unsigned tries = 0; tries < 1000; tries++) {
		uint32_t j = 1 + (uint32_t)sim_rng_below(&m->sim.rng, m->n - 1);

		if (!used[j] && m->obs[j]) {
			used[j] = 1;
			return j;
		}
	}
	return -1;
}

static void memb_crash(struct memb *m, uint32_t x)
{
	memb_watch_add(m, x, MEMBER_DEAD);
	memb_set_obs(m, x, 0);
	sim_net_crash(&m->sim, x);
	memb_reset_row(m, x);
	memb_set_exp(m, x, EXP_DEAD);
}

static void memb_print_watch(const struct memb_watch *w, const char *what)
{
	printf("  %s node=%" PRIu32 ":", what, w->node);
	if (w->target == MEMBER_DEAD) {
		if (w->first_suspect_ms == UINT64_MAX)
			printf(" first_suspect_ms=never");
		else
			printf(" first_suspect_ms=%" PRIu64, w->first_suspect_ms);
	}
	printf(" all_%s_ms=%" PRIu64 " max_ms=%" PRIu64 " mean_ms=%.1f observers=%" PRIu64 "\n",
	       w->target == MEMBER_DEAD ? "dead" : "left", w->all_ms == UINT64_MAX ? 0 : w->all_ms,
	       w->max_ms, w->count ? (double)w->sum_ms / (double)w->count : 0.0, w->count);
}

static double memb_rounds(const struct memb *m, uint64_t ms)
{
	return (double)ms / (double)m->timing.probe_interval_ms;
}

/* The scenario itself; returns 0 when every check held. */
static int memb_run(struct memb *m)
{
	struct sim *sim = &m->sim;
	uint8_t *used = calloc(m->n, 1);
	uint64_t t, dt, last_start = SIM_T0_MS, f0, b0, f1, b1;
	uint64_t tf0[SIM_FRAME_TYPES], tb0[SIM_FRAME_TYPES];
	uint32_t ncrash, nsplit;
	unsigned w0;
	int64_t x;
	double susp_min_ms, susp_max_ms, part_ms;

	if (used == NULL)
		return -1;
	used[0] = 1;

	/* (1) Join storm. */
	memb_phase(m, "join");
	memb_start_node(m, 0);
	for (uint32_t i = 1; i < m->n; i++) {
		uint64_t at = SIM_T0_MS + 1 + sim_rng_below(&sim->rng, MEMB_STORM_MS);

		sim_net_schedule_start(sim, i, at);
		if (at > last_start)
			last_start = at;
	}
	/* memb_converged() cannot be true before the last node started: total_bad counts only up nodes. */
	if (sim_net_run(sim, last_start, NULL, NULL) < 0 || (dt = memb_wait(m, SIM_T0_MS)) == UINT64_MAX)
		goto out;
	printf("join: converged_ms=%" PRIu64 " rounds=%.1f after_last_start_ms=%" PRIu64 "\n", dt,
	       memb_rounds(m, dt), sim->now_ms - last_start);
	if (memb_phase_end(m) != 0)
		goto out;
	if (m->join_only) {
		memb_phase(m, "done");
		goto out;
	}

	/* (2) Steady state: the background cost of membership. */
	memb_phase(m, "steady");
	sim_net_sum_stats(&m->sim, &f0, &b0);
	memcpy(tf0, sim->type_frames, sizeof(tf0));
	memcpy(tb0, sim->type_bytes, sizeof(tb0));
	t = sim->now_ms;
	if (sim_net_run(sim, t + m->duration_ms, NULL, NULL) < 0)
		goto out;
	sim_net_sum_stats(&m->sim, &f1, &b1);
	printf("steady: duration_s=%" PRIu64 " msgs_per_node_per_s=%.2f bytes_per_node_per_s=%.0f "
	       "views_wrong=%" PRIu64 " false_positives=%" PRIu64 "\n",
	       m->duration_ms / 1000, (double)(f1 - f0) * 1000.0 / (double)m->duration_ms / m->n,
	       (double)(b1 - b0) * 1000.0 / (double)m->duration_ms / m->n, m->total_bad,
	       m->false_positives);
	sim_net_print_types(&m->sim, tf0, tb0, m->duration_ms);
	if ((dt = memb_wait(m, sim->now_ms)) == UINT64_MAX || memb_phase_end(m) != 0)
		goto out;

	/* (3) Crashes. */
	memb_phase(m, "crash");
	ncrash = m->n / 100 > 2 ? m->n / 100 : 2;
	if (ncrash > MEMB_WATCH_MAX - 8)
		ncrash = MEMB_WATCH_MAX - 8;
	w0 = m->nwatch;
	t = sim->now_ms;
	for (uint32_t i = 0; i < ncrash; i++) {
		if ((x = memb_pick(m, used)) < 0)
			break;
		memb_crash(m, (uint32_t)x);
	}
	if ((dt = memb_wait(m, t)) == UINT64_MAX)
		goto out;
	printf("crash: nodes=%" PRIu32 " all_converged_ms=%" PRIu64 " rounds=%.1f\n", ncrash, dt,
	       memb_rounds(m, dt));
	for (unsigned i = w0; i < m->nwatch; i++)
		memb_print_watch(&m->watch[i], "crashed");
	if (memb_phase_end(m) != 0)
		goto out;

	/* (4) One graceful leave; the leaver's loop stays up to flush, then stops. */
	memb_phase(m, "leave");
	if ((x = memb_pick(m, used)) < 0)
		goto out;
	t = sim->now_ms;
	w0 = m->nwatch;
	memb_watch_add(m, (uint32_t)x, MEMBER_LEFT);
	memb_set_obs(m, (uint32_t)x, 0);
	memb_set_exp(m, (uint32_t)x, EXP_LEFT);
	sim_net_leave(sim, (uint32_t)x);
	if (sim_net_run(sim, t + MEMB_FLUSH_MS, memb_converged, NULL) < 0)
		goto out;
	sim_net_crash(sim, (uint32_t)x);
	memb_reset_row(m, (uint32_t)x);
	if ((dt = memb_wait(m, t)) == UINT64_MAX)
		goto out;
	printf("leave: all_converged_ms=%" PRIu64 " rounds=%.1f\n", dt, memb_rounds(m, dt));
	memb_print_watch(&m->watch[w0], "left");
	if (memb_phase_end(m) != 0)
		goto out;

	/*
	 * (5) Partition a small group for longer than the longest suspicion, so
	 * both sides declare the other dead; then heal and wait for reconvergence.
	 */
	memb_phase(m, "partition");
	susp_min_ms = (double)m->timing.suspicion_mult * fmax(1.0, log10((double)m->n)) *
	              m->timing.probe_interval_ms;
	susp_max_ms = susp_min_ms * m->timing.suspicion_max_mult;
	part_ms = ceil(susp_max_ms + 4.0 * m->timing.probe_interval_ms);
	nsplit = m->n / 20 > 1 ? m->n / 20 : 1;
	for (uint32_t i = 0; i < nsplit; i++) {
		if ((x = memb_pick(m, used)) < 0)
			break;
		sim_net_set_group(sim, (uint32_t)x, 1);
	}
	t = sim->now_ms;
	m->split_grace_until_ms = UINT64_MAX;
	if (sim_net_run(sim, t + (uint64_t)part_ms, NULL, NULL) < 0)
		goto out;
	for (uint32_t i = 0; i < m->n; i++)
		sim_net_set_group(sim, i, 0);
	t = sim->now_ms;
	if ((dt = memb_wait(m, t)) == UINT64_MAX)
		goto out;
	m->split_grace_until_ms = sim->now_ms;
	printf("partition: nodes=%" PRIu32 " duration_ms=%.0f heal_converged_ms=%" PRIu64
	       " rounds=%.1f\n", nsplit, part_ms, dt, memb_rounds(m, dt));
	if (memb_phase_end(m) != 0)
		goto out;

	/* (6) Crash one node, wait until all see it dead, restart it under the same key. */
	memb_phase(m, "restart");
	if ((x = memb_pick(m, used)) < 0)
		goto out;
	t = sim->now_ms;
	w0 = m->nwatch;
	memb_crash(m, (uint32_t)x);
	if ((dt = memb_wait(m, t)) == UINT64_MAX)
		goto out;
	memb_print_watch(&m->watch[w0], "restart-crashed");
	t = sim->now_ms;
	memb_start_node(m, (uint32_t)x);
	if ((dt = memb_wait(m, t)) == UINT64_MAX)
		goto out;
	printf("restart: node=%" PRId64 " rejoin_converged_ms=%" PRIu64 " rounds=%.1f\n", x, dt,
	       memb_rounds(m, dt));
	if (memb_phase_end(m) != 0)
		goto out;
	memb_phase(m, "done");
out:
	free(used);
	return sim->failed ? -1 : 0;
}

/* ---------------------------------------------------------------- command line */

void sim_membership_usage(FILE *f)
{
	fprintf(f,
	        "usage: chorus-sim membership [--nodes N] [--seed S] [--loss P] [--latency MIN:MAX]\n"
	        "                             [--duration-s D] [--deadline-s S] [--check-every K]\n"
	        "                             [--join-only] [--real-crypto] [--verbose]...\n"
	        "\n"
	        "  --nodes N          nodes to simulate (%d..%d, default 50)\n"
	        "  --seed S           the one seed of the run (default 1)\n"
	        "  --loss P           probability a frame is lost, in [0, 1) (default 0)\n"
	        "  --latency MIN:MAX  per-frame latency range in ms (default 1:5)\n"
	        "  --duration-s D     virtual seconds of quiet steady state after the join (default 10)\n"
	        "  --deadline-s S     virtual seconds each phase may take to converge (default %d)\n"
	        "  --check-every K    run core_check() on the stepped node every K steps\n"
	        "                     (default: max(1, N / 10))\n"
	        "  --join-only        stop after the join storm has converged (with --deadline-s:\n"
	        "                     a bar on the join's convergence time)\n"
	        "  --real-crypto      sign with ed25519 instead of the fast stand-in\n"
	        "  --verbose          print the cores' log records (repeat for more)\n"
	        "  --help             this text\n",
	        MEMB_NODES_MIN, SIM_NODES_MAX, MEMB_DEADLINE_S);
}

enum {
	OPT_NODES = 256,
	OPT_SEED,
	OPT_LOSS,
	OPT_LATENCY,
	OPT_DURATION,
	OPT_DEADLINE,
	OPT_CHECK_EVERY,
	OPT_JOIN_ONLY,
	OPT_REAL_CRYPTO,
	OPT_VERBOSE,
	OPT_HELP,
};

static const struct option memb_options[] = {
	{"nodes", required_argument, NULL, OPT_NODES},
	{"seed", required_argument, NULL, OPT_SEED},
	{"loss", required_argument, NULL, OPT_LOSS},
	{"latency", required_argument, NULL, OPT_LATENCY},
	{"duration-s", required_argument, NULL, OPT_DURATION},
	{"deadline-s", required_argument, NULL, OPT_DEADLINE},
	{"check-every", required_argument, NULL, OPT_CHECK_EVERY},
	{"join-only", no_argument, NULL, OPT_JOIN_ONLY},
	{"real-crypto", no_argument, NULL, OPT_REAL_CRYPTO},
	{"verbose", no_argument, NULL, OPT_VERBOSE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static int memb_alloc(struct memb *m)
{
	size_t pairs = (size_t)m->n * m->n;

	m->mstate = malloc(pairs);
	m->mgen = calloc(pairs, 1);
	m->minc = calloc(pairs, sizeof(*m->minc));
	m->exp = calloc(m->n, 1);
	m->obs = calloc(m->n, 1);
	m->col_bad = calloc(m->n, sizeof(*m->col_bad));
	if (!m->mstate || !m->mgen || !m->minc || !m->exp || !m->obs || !m->col_bad)
		return -1;
	memset(m->mstate, MEMB_ABSENT, pairs);
	return memb_ht_init(m);
}

static void memb_free(struct memb *m)
{
	for (unsigned i = 0; i < m->nwatch; i++)
		free(m->watch[i].seen);
	free(m->mstate);
	free(m->mgen);
	free(m->minc);
	free(m->exp);
	free(m->obs);
	free(m->col_bad);
	free(m->ht);
	sim_net_free(&m->sim);
}

static int memb_parse(int argc, char **argv, struct sim_params *p, struct memb *m)
{
	uint64_t v;
	int c;

	optind = 1;
	opterr = 0;  /* our own message names the program and the option */
	while ((c = getopt_long(argc, argv, "", memb_options, NULL)) != -1) {
		switch (c) {
		case OPT_NODES:
			if (sim_parse_u64("--nodes", optarg, MEMB_NODES_MIN, SIM_NODES_MAX, &v) != 0)
				return -1;
			p->nodes = (uint32_t)v;
			break;
		case OPT_SEED:
			if (sim_parse_u64("--seed", optarg, 0, UINT64_MAX, &p->seed) != 0)
				return -1;
			break;
		case OPT_LOSS:
			if (sim_parse_prob("--loss", optarg, &p->loss) != 0)
				return -1;
			break;
		case OPT_LATENCY:
			if (sim_parse_latency("--latency", optarg, &p->latency_min_ms, &p->latency_max_ms) != 0)
				return -1;
			break;
		case OPT_DURATION:
			if (sim_parse_u64("--duration-s", optarg, 1, 86400, &v) != 0)
				return -1;
			m->duration_ms = v * 1000;
			break;
		case OPT_DEADLINE:
			if (sim_parse_u64("--deadline-s", optarg, 1, 86400, &v) != 0)
				return -1;
			m->deadline_ms = v * 1000;
			break;
		case OPT_CHECK_EVERY:
			if (sim_parse_u64("--check-every", optarg, 1, UINT32_MAX, &m->check_every) != 0)
				return -1;
			break;
		case OPT_JOIN_ONLY:
			m->join_only = 1;
			break;
		case OPT_REAL_CRYPTO:
			p->crypto = &crypto_ed25519;
			break;
		case OPT_VERBOSE:
			p->verbose++;
			break;
		case OPT_HELP:
			sim_membership_usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "chorus-sim membership: bad option or missing argument: %s (try --help)\n",
			        argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chorus-sim membership: unexpected argument \"%s\" (try --help)\n",
		        argv[optind]);
		return -1;
	}
	return 0;
}

static void memb_print_params(const struct memb *m, const struct sim_params *p)
{
	printf("chorus-sim %s membership\n", CHORUS_VERSION);
	printf("params: seed=%" PRIu64 " nodes=%" PRIu32 " loss=%.4f latency_ms=%" PRIu32 ":%" PRIu32
	       " crypto=%s duration_s=%" PRIu64 " deadline_s=%" PRIu64 "\n",
	       p->seed, p->nodes, p->loss, p->latency_min_ms, p->latency_max_ms, p->crypto->name,
	       m->duration_ms / 1000, m->deadline_ms / 1000);
	printf("timing: probe_interval_ms=%" PRIu32 " probe_timeout_ms=%" PRIu32
	       " indirect_probes=%" PRIu32 " suspicion_mult=%" PRIu32 " suspicion_max_mult=%" PRIu32
	       " gossip_interval_ms=%" PRIu32 " gossip_fanout=%" PRIu32 " pushpull_interval_ms=%" PRIu32
	       " catchup_interval_ms=%" PRIu32 " catchup_window_ms=%" PRIu32 " tombstone_ms=%" PRIu32 "\n",
	       m->timing.probe_interval_ms, m->timing.probe_timeout_ms, m->timing.indirect_probes,
	       m->timing.suspicion_mult, m->timing.suspicion_max_mult, m->timing.gossip_interval_ms,
	       m->timing.gossip_fanout, m->timing.pushpull_interval_ms, m->timing.catchup_interval_ms,
	       m->timing.catchup_window_ms, m->timing.tombstone_ms);
	printf("checks: self entry after every step; core_check every K=%" PRIu64
	       " steps and on every node at each phase end; every member transition\n",
	       m->check_every);
}

static void memb_print_totals(const struct memb *m)
{
	const struct sim *sim = &m->sim;
	uint64_t frames, bytes;
	double secs = (double)(sim->now_ms - SIM_T0_MS) / 1000.0;

	sim_net_sum_stats(&m->sim, &frames, &bytes);
	printf("total: virtual_s=%.3f steps=%" PRIu64 " frames_sent=%" PRIu64 " delivered=%" PRIu64
	       " lost=%" PRIu64 " partitioned=%" PRIu64 " to_down=%" PRIu64 " timer_spins=%" PRIu64
	       "\n",
	       secs, sim->steps, sim->frames_sent, sim->frames_delivered, sim->drop_loss,
	       sim->drop_partition, sim->drop_down, sim->timer_spins_total);
	printf("traffic: msgs_per_node_per_s=%.2f bytes_per_node_per_s=%.0f\n",
	       secs > 0 ? (double)frames / secs / m->n : 0.0,
	       secs > 0 ? (double)bytes / secs / m->n : 0.0);
	if (sim->now_ms > SIM_T0_MS)
		sim_net_print_types(&m->sim, NULL, NULL, sim->now_ms - SIM_T0_MS);
	printf("false_positives: %" PRIu64 " (plus %" PRIu64 " deaths caused by the partition)\n",
	       m->false_positives, m->partition_deads);
	printf("invariant_checks: transitions_and_steps=%" PRIu64 " core_check=%" PRIu64
	       " mirror_entries=%" PRIu64 "\n",
	       m->checks, m->core_checks, m->mirror_checks);
}

int sim_membership_main(int argc, char **argv)
{
	static struct memb m;  /* large-ish and single: static keeps it off the stack */
	struct sim_params p;
	struct sim_hooks hooks;
	struct core_config defaults;
	double wall0 = sim_wall_s();
	int rc;

	memset(&p, 0, sizeof(p));
	memset(&m, 0, sizeof(m));
	p.seed = 1;
	p.nodes = 50;
	p.latency_min_ms = 1;
	p.latency_max_ms = 5;
	p.crypto = &sim_crypto_fast;
	m.duration_ms = 10000;
	m.deadline_ms = MEMB_DEADLINE_S * 1000ULL;
	if (memb_parse(argc, argv, &p, &m) != 0)
		return 2;
	m.n = p.nodes;
	if (m.check_every == 0)
		m.check_every = m.n / 10 > 1 ? m.n / 10 : 1;
	core_config_defaults(&defaults);
	m.timing = defaults.timing;
	if (m.timing.probe_interval_ms == 0) {
		fprintf(stderr, "chorus-sim: core_config_defaults gave probe_interval_ms = 0\n");
		return 2;
	}
	memset(&hooks, 0, sizeof(hooks));
	hooks.ctx = &m;
	hooks.start_cb = memb_start_cb;
	hooks.step_cb = memb_step_cb;
	hooks.member_cb = memb_member_cb;
	if (sim_net_init(&m.sim, &p, &hooks) != 0 || memb_alloc(&m) != 0) {
		fprintf(stderr, "chorus-sim: out of memory for %" PRIu32 " nodes\n", p.nodes);
		memb_free(&m);
		return 2;
	}
	memb_print_params(&m, &p);
	rc = memb_run(&m);
	memb_print_totals(&m);
	if (rc != 0 || m.sim.failed) {
		printf("result: FAIL seed=%" PRIu64 " phase=%s t=%" PRIu64 ": %s\n", p.seed, m.phase,
		       m.sim.now_ms, m.sim.fail);
		fprintf(stderr,
		        "chorus-sim: FAIL seed=%" PRIu64 " phase=%s t=%" PRIu64 ": %s\n"
		        "reproduce: chorus-sim membership --nodes %" PRIu32 " --seed %" PRIu64
		        " --loss %.4f --latency %" PRIu32 ":%" PRIu32 " --duration-s %" PRIu64
		        " --deadline-s %" PRIu64 " --check-every %" PRIu64 "%s\n",
		        p.seed, m.phase, m.sim.now_ms, m.sim.fail, p.nodes, p.seed, p.loss,
		        p.latency_min_ms, p.latency_max_ms, m.duration_ms / 1000, m.deadline_ms / 1000,
		        m.check_every, p.crypto == &sim_crypto_fast ? "" : " --real-crypto");
		rc = 1;
	} else if (p.loss == 0.0 && m.false_positives > 0) {
		printf("result: FAIL seed=%" PRIu64 ": %" PRIu64 " false positives without loss\n", p.seed,
		       m.false_positives);
		fprintf(stderr, "chorus-sim: FAIL seed=%" PRIu64 ": %" PRIu64
		        " false positives (a live, reachable node declared dead) without loss\n",
		        p.seed, m.false_positives);
		rc = 1;
	} else {
		printf("result: ok\n");
	}
	memb_free(&m);
	if (m.phase == NULL || strcmp(m.phase, "done") != 0)
		memb_phase(&m, "done");
	printf("wall: %.3f s, cpu %.3f s (", sim_wall_s() - wall0, sim_cpu_s());
	for (unsigned i = 0; i + 1 < m.nphases; i++)
		printf("%s%s %.2f", i ? ", " : "", m.phase_names[i], m.phase_wall_s[i]);
	printf(")\n");
	return rc;
}

/*
 * The simulated network and the virtual clock.
 *
 * One binary min-heap holds every future event: frame deliveries, node
 * timers and node starts, ordered by (virtual time, insertion sequence).
 * Each node has at most one live timer event: when a core's next deadline
 * changes, a new event is queued and the old one is invalidated lazily by a
 * generation number (cheaper than deleting from the middle of the heap).
 *
 * The network: each frame gets a latency uniform in [latency_min_ms,
 * latency_max_ms] and is lost with probability p (both decided at send time,
 * from the one PRNG).  At delivery time it is dropped when the destination is
 * down, or when sender and destination sit in different partition groups.
 * Frames are therefore reordered whenever latencies cross.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sim.h"
#include "fabric/fabric.h" /* wire_type_name(): traffic reports by frame type; the rng */

/* ---------------------------------------------------------------- PRNG */

/*
 * The simulator's stream is the core's generator (rng.c, xoshiro256** seeded
 * by splitmix64), kept in its own struct so sim.h needs no core internals.
 */
_Static_assert(sizeof(((struct sim_rng *)0)->s) == sizeof(((struct rng *)0)->s),
               "one xoshiro256** state");

void sim_rng_seed(struct sim_rng *rng, uint64_t seed)
{
	struct rng r;

	rng_seed(&r, seed);
	memcpy(rng->s, r.s, sizeof(rng->s));
}

uint64_t sim_rng_next(struct sim_rng *rng)
{
	struct rng r;
	uint64_t v;

	memcpy(r.s, rng->s, sizeof(r.s));
	v = rng_next(&r);
	memcpy(rng->s, r.s, sizeof(rng->s));
	return v;
}

uint64_t sim_rng_below(struct sim_rng *rng, uint64_t n)
{
	uint64_t limit, x;

	assert(n > 0);
	/* Rejection sampling: no modulo bias, still deterministic. */
	limit = UINT64_MAX - UINT64_MAX % n;
	do
		x = sim_rng_next(rng);
	while (x >= limit);
	return x % n;
}

double sim_rng_unit(struct sim_rng *rng)
{
	return (double)(sim_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---------------------------------------------------------------- event heap */

static int sim_ev_before(const struct sim_event *a, const struct sim_event *b)
{
	if (a->at_ms != b->at_ms)
		return a->at_ms < b->at_ms;
	return a->seq < b->seq;
}

static void sim_heap_push(struct sim *sim, struct sim_event ev)
{
	size_t i;

	if (sim->heap_len == sim->heap_cap) {
		size_t cap = sim->heap_cap ? sim->heap_cap * 2 : 4096;
		struct sim_event *h = realloc(sim->heap, cap * sizeof(*h));

		if (h == NULL) {
			fprintf(stderr, "chorus-sim: out of memory (event heap of %zu)\n", cap);
			exit(2);
		}
		sim->heap = h;
		sim->heap_cap = cap;
	}
	ev.seq = sim->seq++;
	i = sim->heap_len++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!sim_ev_before(&ev, &sim->heap[parent]))
			break;
		sim->heap[i] = sim->heap[parent];
		i = parent;
	}
	sim->heap[i] = ev;
}

static struct sim_event sim_heap_pop(struct sim *sim)
{
	struct sim_event top, last;
	size_t i = 0, n;

	assert(sim->heap_len > 0);
	top = sim->heap[0];
	last = sim->heap[--sim->heap_len];
	n = sim->heap_len;
	while (n > 0) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && sim_ev_before(&sim->heap[c + 1], &sim->heap[c]))
			c++;
		if (!sim_ev_before(&sim->heap[c], &last))
			break;
		sim->heap[i] = sim->heap[c];
		i = c;
	}
	if (n > 0)
		sim->heap[i] = last;
	return top;
}

/* ---------------------------------------------------------------- failures */

void sim_net_failf(struct sim *sim, const char *fmt, ...)
{
	va_list ap;

	if (sim->failed)
		return;  /* keep the first: later ones are usually consequences */
	sim->failed = 1;
	va_start(ap, fmt);
	vsnprintf(sim->fail, sizeof(sim->fail), fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- core callbacks */

static int sim_net_parse_addr(const struct sim *sim, const char *addr, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (strncmp(addr, "sim://", 6) != 0 || addr[6] < '0' || addr[6] > '9')
		return -1;
	v = strtoul(addr + 6, &end, 10);
	if (*end != '\0' || v >= sim->p.nodes)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static void sim_net_send_cb(void *ctx, const char *addr, const uint8_t *frame, size_t len)
{
	struct sim_node *n = ctx;
	struct sim *sim = n->sim;
	struct sim_event ev;
	uint32_t to;
	uint64_t lat;

	if (sim_net_parse_addr(sim, addr, &to) != 0) {
		sim_net_failf(sim, "node %" PRIu32 " sent to a bad address \"%s\"", n->index, addr);
		return;
	}
	if (len == 0 || len > CHORUS_FRAME_MAX) {
		sim_net_failf(sim, "node %" PRIu32 " sent a frame of %zu bytes (max %d)", n->index, len,
		              CHORUS_FRAME_MAX);
		return;
	}
	sim->frames_sent++;
	/* Byte 3 of a frame is its type (see src/core/fabric/wire.c). */
	if (len > 3) {
		unsigned type = frame[3] < SIM_FRAME_TYPES ? frame[3] : 0;

		sim->type_frames[type]++;
		sim->type_bytes[type] += len;
	}
	/* Always draw both numbers so that loss does not shift later latencies. */
	lat = sim->p.latency_min_ms +
	      sim_rng_below(&sim->rng, (uint64_t)sim->p.latency_max_ms - sim->p.latency_min_ms + 1);
	if (sim_rng_unit(&sim->rng) < sim->p.loss) {
		sim->drop_loss++;
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = SIM_EV_DELIVER;
	ev.at_ms = sim->now_ms + lat;
	ev.node = to;
	ev.from = n->index;
	ev.len = (uint32_t)len;
	ev.frame = malloc(len);
	if (ev.frame == NULL) {
		fprintf(stderr, "chorus-sim: out of memory (frame of %zu)\n", len);
		exit(2);
	}
	memcpy(ev.frame, frame, len);
	sim_heap_push(sim, ev);
}

static void sim_net_log_cb(void *ctx, int level, const char *subsys, const char *fields)
{
	struct sim_node *n = ctx;
	struct sim *sim = n->sim;

	if (sim->p.verbose <= 0 || level > sim->p.verbose + CORE_LOG_WARN)
		return;
	printf("t=%" PRIu64 " node=%" PRIu32 " %s %s\n", sim->now_ms, n->index, subsys, fields);
}

static void sim_net_member_cb(void *ctx, const struct member_view *mv, int old_state, int forgotten)
{
	struct sim_node *n = ctx;
	struct sim *sim = n->sim;

	if (sim->hooks.member_cb != NULL)
		sim->hooks.member_cb(sim, n, mv, old_state, forgotten);
}

/* The job effects: trampolines to the scenario's hooks, installed only when it set them. */
static void sim_net_job_cb(void *ctx, const struct job_view *jv)
{
	struct sim_node *n = ctx;

	n->sim->hooks.job_cb(n->sim, n, jv);
}

static int sim_net_run_cb(void *ctx, const char *job_id, const char *kind, const uint8_t *payload,
                          size_t len, uint32_t timeout_ms)
{
	struct sim_node *n = ctx;

	return n->sim->hooks.run_cb(n->sim, n, job_id, kind, payload, len, timeout_ms);
}

static void sim_net_kill_cb(void *ctx, const char *job_id)
{
	struct sim_node *n = ctx;

	n->sim->hooks.kill_cb(n->sim, n, job_id);
}

static void sim_net_ack_cb(void *ctx, const struct job_ack *ack)
{
	struct sim_node *n = ctx;

	n->sim->hooks.ack_cb(n->sim, n, ack);
}

static void sim_net_attempt_cb(void *ctx, const struct job_view *jv)
{
	struct sim_node *n = ctx;

	n->sim->hooks.attempt_cb(n->sim, n, jv);
}

static void sim_net_outcome_put_cb(void *ctx, const struct work_outcome *o)
{
	struct sim_node *n = ctx;

	n->sim->hooks.outcome_put_cb(n->sim, n, o);
}

static int sim_net_outcome_get_cb(void *ctx, const char *job_id, struct work_outcome *out)
{
	struct sim_node *n = ctx;

	return n->sim->hooks.outcome_get_cb(n->sim, n, job_id, out);
}

static void sim_net_env_jobs(struct sim *sim, struct core_env *env)
{
	env->attempt_cb = sim->hooks.attempt_cb != NULL ? sim_net_attempt_cb : NULL;
	env->outcome_put_cb = sim->hooks.outcome_put_cb != NULL ? sim_net_outcome_put_cb : NULL;
	env->outcome_get_cb = sim->hooks.outcome_get_cb != NULL ? sim_net_outcome_get_cb : NULL;
	env->job_cb = sim->hooks.job_cb != NULL ? sim_net_job_cb : NULL;
	env->run_cb = sim->hooks.run_cb != NULL ? sim_net_run_cb : NULL;
	env->kill_cb = sim->hooks.kill_cb != NULL ? sim_net_kill_cb : NULL;
	env->ack_cb = sim->hooks.ack_cb != NULL ? sim_net_ack_cb : NULL;
}

/* ---------------------------------------------------------------- timers */

/*
 * After every call into a core: queue its next deadline (at most one live
 * timer per node) and let the scenario check its invariants.
 */
/* A batch waits: every call into a node ends with core_flush (sim_net_after_call). */
static void sim_net_flush_cb(void *ctx)
{
	(void)ctx;
}

static void sim_net_after_call(struct sim *sim, struct sim_node *n, int was_tick)
{
	uint64_t d;

	sim->steps++;
	if (n->core != NULL) {
		/* The end of this node's turn: its acks and receipts signed as one batch, as chorusd does. */
		core_flush(n->core, sim->now_ms);
		d = core_next_deadline_ms(n->core);
		if (d != UINT64_MAX) {
			if (d <= sim->now_ms && was_tick) {
				/* The tick left work due now: retry 1 ms later, and count it. */
				sim->timer_spins_total++;
				if (++n->timer_spins >= SIM_TIMER_SPINS)
					sim_net_failf(sim,
					              "node %" PRIu32 ": core_tick() left its deadline in the past "
					              "%d times in a row (now %" PRIu64 ", deadline %" PRIu64 ")",
					              n->index, SIM_TIMER_SPINS, sim->now_ms, d);
				d = sim->now_ms + 1;
			} else if (was_tick) {
				n->timer_spins = 0;
			}
			if (d < sim->now_ms)
				d = sim->now_ms;
			if (!n->timer_pending || n->timer_at_ms != d) {
				struct sim_event ev;

				memset(&ev, 0, sizeof(ev));
				ev.type = SIM_EV_TIMER;
				ev.at_ms = d;
				ev.node = n->index;
				ev.gen = ++n->timer_gen;
				n->timer_at_ms = d;
				n->timer_pending = 1;
				sim_heap_push(sim, ev);
			}
		} else {
			n->timer_pending = 0;
			n->timer_gen++;
		}
	}
	if (sim->hooks.step_cb != NULL)
		sim->hooks.step_cb(sim, n);
}

/* ---------------------------------------------------------------- nodes */

int sim_net_init(struct sim *sim, const struct sim_params *p, const struct sim_hooks *hooks)
{
	memset(sim, 0, sizeof(*sim));
	assert(p->nodes > 0 && p->nodes <= SIM_NODES_MAX);
	assert(p->latency_min_ms <= p->latency_max_ms);
	sim->p = *p;
	if (hooks != NULL)
		sim->hooks = *hooks;
	sim_rng_seed(&sim->rng, p->seed);
	sim->now_ms = SIM_T0_MS;
	sim->nodes = calloc(p->nodes, sizeof(*sim->nodes));
	if (sim->nodes == NULL)
		return -1;
	for (uint32_t i = 0; i < p->nodes; i++) {
		struct sim_node *n = &sim->nodes[i];
		uint8_t key_seed[crypto_sign_SEEDBYTES];

		n->sim = sim;
		n->index = i;
		snprintf(n->addr, sizeof(n->addr), "sim://%" PRIu32, i);
		/* Keys from the seed: the same run, the same identities. */
		for (size_t j = 0; j < sizeof(key_seed); j += 8) {
			uint64_t r = sim_rng_next(&sim->rng);

			memcpy(key_seed + j, &r, 8);
		}
		crypto_sign_seed_keypair(n->pk, n->sk, key_seed);
		n->env.ctx = n;
		n->env.send_cb = sim_net_send_cb;
		n->env.log_cb = sim_net_log_cb;
		n->env.flush_cb = sim_net_flush_cb;
		n->env.member_cb = sim_net_member_cb;
		n->env.crypto = p->crypto;
		sim_net_env_jobs(sim, &n->env);
	}
	return 0;
}

void sim_net_free(struct sim *sim)
{
	for (size_t i = 0; i < sim->heap_len; i++)
		free(sim->heap[i].frame);
	free(sim->heap);
	if (sim->nodes != NULL) {
		for (uint32_t i = 0; i < sim->p.nodes; i++)
			if (sim->nodes[i].core != NULL)
				core_destroy(sim->nodes[i].core);
	}
	free(sim->nodes);
	memset(sim, 0, sizeof(*sim));
}

void sim_net_schedule_start(struct sim *sim, uint32_t node, uint64_t at_ms)
{
	struct sim_event ev;

	assert(node < sim->p.nodes);
	memset(&ev, 0, sizeof(ev));
	ev.type = SIM_EV_START;
	ev.at_ms = at_ms;
	ev.node = node;
	sim_heap_push(sim, ev);
}

void sim_net_schedule_call(struct sim *sim, uint32_t node, uint64_t at_ms, uint64_t arg)
{
	struct sim_event ev;

	assert(node < sim->p.nodes && sim->hooks.call_cb != NULL);
	assert(at_ms >= sim->now_ms);
	memset(&ev, 0, sizeof(ev));
	ev.type = SIM_EV_CALL;
	ev.at_ms = at_ms;
	ev.node = node;
	ev.arg = arg;
	sim_heap_push(sim, ev);
}

int sim_net_up(struct sim *sim, uint32_t node, const uint32_t *seeds, size_t nseeds)
{
	struct sim_node *n = &sim->nodes[node];
	struct core_config cfg;
	struct core *core;
	int err;

	assert(n->core == NULL);
	if (n->ngens == SIM_GENS_MAX) {
		sim_net_failf(sim, "node %" PRIu32 ": more than %d starts", node, SIM_GENS_MAX);
		return -1;
	}
	core_config_defaults(&cfg);
	snprintf(cfg.name, sizeof(cfg.name), "n%" PRIu32, node);
	snprintf(cfg.addr, sizeof(cfg.addr), "%s", n->addr);
	cfg.start_ms = SIM_EPOCH_MS + sim->now_ms;
	cfg.seed = sim_rng_next(&sim->rng);
	if (sim->hooks.config_cb != NULL)
		sim->hooks.config_cb(sim, n, &cfg);
	/* Generations must be strictly ordered: a restart always starts later. */
	if (n->ngens > 0 && cfg.start_ms <= n->start_ms[n->ngens - 1])
		cfg.start_ms = n->start_ms[n->ngens - 1] + 1;
	n->start_ms[n->ngens] = cfg.start_ms;
	n->inc[n->ngens] = 0;
	n->ngens++;
	n->left = 0;
	n->started = 1;
	n->self_index = 0;
	n->timer_spins = 0;
	err = core_create(&core, &cfg, n->pk, n->sk, &n->env, sim->now_ms);
	if (err != 0) {
		sim_net_failf(sim, "node %" PRIu32 ": core_create: %s", node, core_strerror(err));
		n->ngens--;
		return -1;
	}
	n->core = core;
	if (sim->hooks.created_cb != NULL)
		sim->hooks.created_cb(sim, n);
	sim_net_after_call(sim, n, 0);
	for (size_t i = 0; i < nseeds && !sim->failed; i++) {
		err = core_join(core, sim->nodes[seeds[i]].addr, sim->now_ms);
		if (err != 0) {
			sim_net_failf(sim, "node %" PRIu32 ": core_join(%s): %s", node,
			              sim->nodes[seeds[i]].addr, core_strerror(err));
			return -1;
		}
		sim_net_after_call(sim, n, 0);
	}
	return 0;
}

const char *sim_net_type_name(unsigned type)
{
	return wire_type_name((int)type);
}

void sim_net_stats(const struct sim_node *n, struct core_stats *out)
{
	*out = n->stats_past;
	if (n->core != NULL) {
		const struct core_stats *s = core_stats(n->core);

		out->frames_in += s->frames_in;
		out->frames_out += s->frames_out;
		out->bytes_in += s->bytes_in;
		out->bytes_out += s->bytes_out;
	}
}

void sim_net_sum_stats(const struct sim *sim, uint64_t *frames, uint64_t *bytes)
{
	*frames = *bytes = 0;
	for (uint32_t i = 0; i < sim->p.nodes; i++) {
		struct core_stats st;

		sim_net_stats(&sim->nodes[i], &st);
		*frames += st.frames_out;
		*bytes += st.bytes_out;
	}
}

void sim_net_print_types(const struct sim *sim, const uint64_t *f0, const uint64_t *b0,
                         uint64_t span_ms)
{
	double per = 1000.0 / (double)span_ms / sim->p.nodes;

	assert(span_ms > 0);
	printf("  by_type (per node per s):");
	for (unsigned i = 0; i < SIM_FRAME_TYPES; i++) {
		uint64_t f = sim->type_frames[i] - (f0 ? f0[i] : 0);
		uint64_t b = sim->type_bytes[i] - (b0 ? b0[i] : 0);

		if (f > 0)
			printf(" %s=%.2f/%.0fB", sim_net_type_name(i), (double)f * per, (double)b * per);
	}
	printf("\n");
}

int64_t sim_net_node_of(const struct sim *sim, const uint8_t pk[CHORUS_PK_BYTES])
{
	for (uint32_t i = 0; i < sim->p.nodes; i++)
		if (memcmp(sim->nodes[i].pk, pk, CHORUS_PK_BYTES) == 0)
			return i;
	return -1;
}

unsigned sim_net_gen_of(const struct sim_node *n, uint64_t start_ms)
{
	for (unsigned g = 0; g < n->ngens; g++)
		if (n->start_ms[g] == start_ms)
			return g + 1;
	return 0;
}

/* Does every up node count exactly the up nodes, all ALIVE? */
static int sim_net_converged(struct sim *sim, void *arg)
{
	size_t up = 0, counts[4];

	(void)arg;
	for (uint32_t i = 0; i < sim->p.nodes; i++)
		up += sim->nodes[i].core != NULL;
	for (uint32_t i = 0; i < sim->p.nodes; i++) {
		if (sim->nodes[i].core == NULL)
			continue;
		core_member_counts(sim->nodes[i].core, counts);
		if (counts[MEMBER_ALIVE] != up || counts[MEMBER_SUSPECT] != 0)
			return 0;
	}
	return up > 0;
}

/*
 * O(nodes) per check, so it is asked once per slice rather than after every
 * event: convergence is then reported up to slice_ms late.
 */
int sim_net_run_converge(struct sim *sim, uint64_t until_ms, uint64_t slice_ms)
{
	assert(slice_ms > 0);
	while (!sim_net_converged(sim, NULL)) {
		uint64_t next = sim->now_ms + slice_ms < until_ms ? sim->now_ms + slice_ms : until_ms;

		if (sim->now_ms >= until_ms)
			return 0;
		if (sim_net_run(sim, next, NULL, NULL) < 0)
			return -1;
	}
	return 1;
}

void sim_net_crash(struct sim *sim, uint32_t node)
{
	struct sim_node *n = &sim->nodes[node];
	const struct core_stats *s;

	assert(n->core != NULL);
	s = core_stats(n->core);
	n->stats_past.frames_in += s->frames_in;
	n->stats_past.frames_out += s->frames_out;
	n->stats_past.bytes_in += s->bytes_in;
	n->stats_past.bytes_out += s->bytes_out;
	core_destroy(n->core);
	n->core = NULL;
	n->timer_pending = 0;
	n->timer_gen++;  /* the queued timer event becomes stale */
}

void sim_net_leave(struct sim *sim, uint32_t node)
{
	struct sim_node *n = &sim->nodes[node];

	assert(n->core != NULL);
	n->left = 1;
	core_leave(n->core, sim->now_ms);
	sim_net_after_call(sim, n, 0);
}

void sim_net_set_group(struct sim *sim, uint32_t node, uint32_t group)
{
	assert(node < sim->p.nodes);
	sim->nodes[node].group = group;
}

int sim_net_self(struct sim_node *n, struct member_view *out)
{
	size_t count;

	assert(n->core != NULL);
	count = core_member_count(n->core);
	if (n->self_index < count && core_member_brief(n->core, n->self_index, out) == 0 && out->self)
		return 0;
	/* The entry moved (members were added or removed): find it again. */
	for (size_t i = 0; i < count; i++) {
		if (core_member_brief(n->core, i, out) == 0 && out->self) {
			n->self_index = i;
			return 0;
		}
	}
	return -1;
}

/* ---------------------------------------------------------------- the loop */

static void sim_net_dispatch(struct sim *sim, struct sim_event *ev)
{
	struct sim_node *n = &sim->nodes[ev->node];

	switch (ev->type) {
	case SIM_EV_DELIVER:
		if (n->core == NULL) {
			sim->drop_down++;
		} else if (sim->nodes[ev->from].group != n->group) {
			sim->drop_partition++;
		} else {
			sim->frames_delivered++;
			core_recv(n->core, ev->frame, ev->len, sim->now_ms);
			sim_net_after_call(sim, n, 0);
		}
		free(ev->frame);
		ev->frame = NULL;
		break;
	case SIM_EV_TIMER:
		if (n->core == NULL || !n->timer_pending || ev->gen != n->timer_gen)
			break;  /* stale */
		n->timer_pending = 0;
		core_tick(n->core, sim->now_ms);
		sim_net_after_call(sim, n, 1);
		break;
	case SIM_EV_START:
		if (sim->hooks.start_cb != NULL)
			sim->hooks.start_cb(sim, n);
		break;
	case SIM_EV_CALL:
		sim->hooks.call_cb(sim, n, ev->arg);
		if (n->core != NULL)
			sim_net_after_call(sim, n, 0);
		break;
	default:
		assert(0 && "unknown event type");
	}
}

int sim_net_run(struct sim *sim, uint64_t until_ms, int (*done)(struct sim *, void *), void *arg)
{
	assert(until_ms >= sim->now_ms);
	if (sim->failed)
		return -1;
	if (done != NULL && done(sim, arg))
		return 1;
	while (sim->heap_len > 0 && sim->heap[0].at_ms <= until_ms) {
		struct sim_event ev = sim_heap_pop(sim);

		assert(ev.at_ms >= sim->now_ms);
		sim->now_ms = ev.at_ms;
		sim_net_dispatch(sim, &ev);
		if (sim->failed)
			return -1;
		if (done != NULL && done(sim, arg))
			return 1;
	}
	sim->now_ms = until_ms;
	return 0;
}

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chorus/ledger.h"
#include "core-internal.h"
#include "dispatch/jobmsg.h"
#include "harness.h"

static uint64_t h_rand(struct harness *h)
{
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return h->rng;
}

static int h_index_of(struct harness *h, const char *addr)
{
	for (int i = 0; i < h->n; i++)
		if (strcmp(h->nodes[i].addr, addr) == 0)
			return i;
	return -1;
}

struct h_ctx {
	struct harness *h;
	int self;
};
static struct h_ctx h_ctxs[H_NODES_MAX];

static void h_send_cb(void *ctx, const char *addr, const uint8_t *frame, size_t len)
{
	struct h_ctx *c = ctx;
	struct harness *h = c->h;
	int to = h_index_of(h, addr);
	struct h_frame *f;

	if (to < 0 || h->qn >= H_FRAMES_MAX)
		return;
	if (h->loss > 0 && (double)(h_rand(h) % 1000000) / 1e6 < h->loss)
		return;
	if (h->tap && !h->tap(h->tap_ctx, c->self, to, frame, len))
		return;
	f = &h->q[h->qn++];
	f->at_ms = h->now_ms + h->latency_ms;
	f->to = to;
	f->buf = malloc(len);
	memcpy(f->buf, frame, len);
	f->len = len;
}

static void h_log_cb(void *ctx, int level, const char *subsys, const char *fields)
{
	struct h_ctx *c = ctx;

	if (strstr(fields, "event=suspect"))
		c->h->nodes[c->self].logs_suspect++;
	if (c->h->verbose)
		printf("# t=%llu n%d %s %s\n", (unsigned long long)c->h->now_ms, c->self, subsys, fields);
}

static void h_app_cb(void *ctx, int type, const uint8_t from_pk[CHORUS_PK_BYTES],
                     const uint8_t *body, size_t len)
{
	struct h_ctx *c = ctx;
	struct h_node *n = &c->h->nodes[c->self];

	(void)type;
	n->apps++;
	n->app_last_len = len;
	memcpy(n->app_last, body, len < sizeof(n->app_last) ? len : sizeof(n->app_last));
	memcpy(n->app_from, from_pk, CHORUS_PK_BYTES);
}

struct h_job *h_job(struct harness *h, const char *id)
{
	for (int k = 0; k < h->njobs; k++)
		if (strcmp(h->jobs[k].id, id) == 0)
			return &h->jobs[k];
	return NULL;
}

int h_job_final(struct harness *h, void *id)
{
	struct h_job *j = h_job(h, id);

	return j != NULL && JOB_STATE_FINAL(j->v.state);
}

static void h_job_cb(void *ctx, const struct job_view *v)
{
	struct h_ctx *c = ctx;
	struct harness *h = c->h;
	struct h_job *j = h_job(h, v->id);

	if (j == NULL) {
		if (h->njobs >= H_JOBS_MAX)
			abort();
		j = &h->jobs[h->njobs++];
		memset(j, 0, sizeof(*j));
		strcpy(j->id, v->id);
		j->node = c->self;
	}
	j->v = *v;
	j->v.result = NULL;
	if (v->result != NULL && v->result_len <= sizeof(j->result)) {
		memcpy(j->result, v->result, v->result_len);
		j->result_len = v->result_len;
	}
	if (JOB_STATE_FINAL(v->state))
		j->finals++;
}

static int h_run_cb(void *ctx, const char *job_id, const char *kind, const uint8_t *payload,
                    size_t len, uint32_t timeout_ms)
{
	struct h_ctx *c = ctx;
	struct harness *h = c->h;

	(void)timeout_ms;
	h->nodes[c->self].runs++;
	for (int k = 0; k < H_RUNS_MAX; k++) {
		struct h_run *r = &h->runs[k];

		if (r->active)
			continue;
		memset(r, 0, sizeof(*r));
		r->active = 1;
		r->node = c->self;
		strcpy(r->id, job_id);
		strcpy(r->kind, kind);
		r->len = len < sizeof(r->payload) ? len : sizeof(r->payload);
		memcpy(r->payload, payload, r->len);
		r->at_ms = h->now_ms + (h->run_ms ? h->run_ms : 5);
		return 0;
	}
	return -1;
}

static void h_keyring_cb(void *ctx)
{
	struct h_ctx *c = ctx;

	c->h->nodes[c->self].keyring_saves++;
}

static void h_kill_cb(void *ctx, const char *job_id)
{
	struct h_ctx *c = ctx;
	struct harness *h = c->h;

	h->nodes[c->self].kills++;
	for (int k = 0; k < H_RUNS_MAX; k++)
		if (h->runs[k].active && h->runs[k].node == c->self && !strcmp(h->runs[k].id, job_id)) {
			h->runs[k].killed = 1;
			h->runs[k].at_ms = h->now_ms;
		}
}

/* Nothing to do: h_step flushes every batching node at the end of the step. */
static void h_flush_cb(void *ctx)
{
	(void)ctx;
}

static void h_ack_cb(void *ctx, const struct job_ack *ack)
{
	struct h_ctx *c = ctx;
	struct h_node *n = &c->h->nodes[c->self];
	struct jack a;

	n->acks++;
	if (ack->ack_auth.count > n->ack_count_max)
		n->ack_count_max = ack->ack_auth.count;
	if (ack->receipt_text != NULL && ack->receipt_auth.count > n->receipt_count_max)
		n->receipt_count_max = ack->receipt_auth.count;
	if (ack->receipt_text != NULL) {
		struct ledger_entry e;

		n->acks_checked += ledger_entry_from_ack(&e, ack) == 0 && ledger_entry_check(NULL, &e, NULL) == 0;
	}
	if (memcmp(ack->client, n->pk, CHORUS_PK_BYTES) != 0 || strcmp(ack->status, "succeeded") != 0 ||
	    jobmsg_ack_decode(&a, ack->ack_text, ack->ack_len) != 0)
		return;
	if (n->own_acks < 64) {
		n->ack_seq[n->own_acks] = a.seq;
		n->ack_floor[n->own_acks] = a.floor;
	}
	n->own_acks++;
}

/* Finishes runs that are due: "fail" fails, everything else echoes its payload. */
static void h_finish_runs(struct harness *h)
{
	for (int k = 0; k < H_RUNS_MAX; k++) {
		struct h_run *r = &h->runs[k];
		struct h_node *w = &h->nodes[r->node];

		if (!r->active || r->at_ms > h->now_ms || w->down || (w->stall && !r->killed))
			continue;
		r->active = 0;
		if (w->core == NULL)
			continue;
		if (r->killed)
			core_work_done(w->core, r->id, WORK_CANCELLED, NULL, 0, "cancelled", 0, h->now_ms);
		else if (strcmp(r->kind, "fail") == 0)
			core_work_done(w->core, r->id, WORK_FAILED, NULL, 0, "it always fails", 1, h->now_ms);
		else
			core_work_done(w->core, r->id, WORK_OK, r->payload, r->len, NULL, 1, h->now_ms);
	}
}

int h_submit(struct harness *h, int i, const char *kind, const char *payload, uint64_t nonce,
             char id[CHORUS_JOB_ID_HEX + 1])
{
	struct job_spec spec;

	memset(&spec, 0, sizeof(spec));
	snprintf(spec.kind, sizeof(spec.kind), "%s", kind);
	spec.payload = (const uint8_t *)payload;
	spec.payload_len = strlen(payload);
	spec.timeout_ms = 2000;
	spec.reward = 3;
	spec.nonce = nonce;
	spec.created_ms = 1700000000000ULL + h->now_ms;
	return core_job_submit(h->nodes[i].core, &spec, id, h->now_ms);
}

void h_init(struct harness *h, int n, uint64_t seed)
{
	memset(h, 0, sizeof(*h));
	if (sodium_init() < 0)
		abort();
	h->n = n;
	h->latency_ms = 2;
	h->rng = seed | 1;
	h->now_ms = 1000;
	h->q = calloc(H_FRAMES_MAX, sizeof(*h->q));
	for (int i = 0; i < n; i++) {
		uint8_t kseed[crypto_sign_SEEDBYTES] = {0};

		kseed[0] = (uint8_t)i;
		kseed[1] = (uint8_t)seed;
		crypto_sign_seed_keypair(h->nodes[i].pk, h->nodes[i].sk, kseed);
		snprintf(h->nodes[i].addr, sizeof(h->nodes[i].addr), "test://n%d", i);
		h_ctxs[i].h = h;
		h_ctxs[i].self = i;
	}
}

static struct h_outcome *h_outcome_find(struct h_node *n, const char *id)
{
	for (int k = 0; k < n->noutcomes; k++)
		if (strcmp(n->outcomes[k].o.job_id, id) == 0)
			return &n->outcomes[k];
	return NULL;
}

static void h_outcome_put_cb(void *ctx, const struct work_outcome *o)
{
	struct h_ctx *c = ctx;
	struct h_node *n = &c->h->nodes[c->self];
	struct h_outcome *row = h_outcome_find(n, o->job_id);

	if (row != NULL && o->state == WORK_OUTCOME_FINAL)
		return; /* a FINAL never replaces a row */
	if (row == NULL) {
		if (n->noutcomes == H_OUTCOMES_MAX)
			abort();
		row = &n->outcomes[n->noutcomes++];
	}
	free(row->receipt);
	row->o = *o;
	row->receipt = NULL;
	if (o->receipt_len > 0) {
		if ((row->receipt = malloc(o->receipt_len)) == NULL)
			abort();
		memcpy(row->receipt, o->receipt, o->receipt_len);
	}
	row->o.receipt = row->receipt;
}

static int h_outcome_get_cb(void *ctx, const char *job_id, struct work_outcome *out)
{
	struct h_ctx *c = ctx;
	struct h_outcome *row = h_outcome_find(&c->h->nodes[c->self], job_id);

	if (row == NULL)
		return 0;
	*out = row->o;
	return 1;
}

static void h_output_cb(void *ctx, const struct job_output *o)
{
	struct h_ctx *c = ctx;

	if (c->h->output != NULL)
		c->h->output(c->h, c->self, o);
}

int h_start(struct harness *h, int i, uint64_t start_ms)
{
	struct core_config cfg;
	struct core_env env = {0};

	core_config_defaults(&cfg);
	snprintf(cfg.name, sizeof(cfg.name), "n%d", i);
	strcpy(cfg.addr, h->nodes[i].addr);
	strcpy(cfg.roles[0], "worker");
	cfg.nroles = 1;
	cfg.start_ms = start_ms;
	cfg.seed = (uint64_t)i * 7919 + h->rng;
	for (int k = 0; k < 4 && h->nodes[i].caps[k] != NULL; k++)
		snprintf(cfg.caps[cfg.ncaps++], sizeof(cfg.caps[0]), "%s", h->nodes[i].caps[k]);
	cfg.capacity = h->nodes[i].capacity ? h->nodes[i].capacity : 4;
	for (int k = 0; k < 4 && h->nodes[i].tags[k] != NULL; k++)
		if (core_tag_parse(&cfg.tags[cfg.ntags], h->nodes[i].tags[k],
		                   strlen(h->nodes[i].tags[k])) == 0)
			cfg.ntags++;
	env.ctx = &h_ctxs[i];
	env.send_cb = h_send_cb;
	env.log_cb = h_log_cb;
	env.job_cb = h_job_cb;
	env.run_cb = cfg.ncaps > 0 ? h_run_cb : NULL;
	env.kill_cb = h_kill_cb;
	env.keyring_cb = h_keyring_cb;
	env.ack_cb = h_ack_cb;
	env.app_cb = h_app_cb;
	env.output_cb = h_output_cb;
	env.flush_cb = h->nodes[i].batch_sign ? h_flush_cb : NULL;
	if (h->outcome_tables) {
		env.outcome_put_cb = h_outcome_put_cb;
		env.outcome_get_cb = h_outcome_get_cb;
	}
	if (h->nodes[i].core)
		core_destroy(h->nodes[i].core);
	h->nodes[i].down = 0;
	return core_create(&h->nodes[i].core, &cfg, h->nodes[i].pk, h->nodes[i].sk, &env, h->now_ms);
}

void h_free(struct harness *h)
{
	for (int i = 0; i < h->n; i++) {
		core_destroy(h->nodes[i].core);
		for (int k = 0; k < h->nodes[i].noutcomes; k++)
			free(h->nodes[i].outcomes[k].receipt);
	}
	for (size_t k = 0; k < h->qn; k++)
		free(h->q[k].buf);
	free(h->q);
}

void h_inject(struct harness *h, int to, const uint8_t *buf, size_t len)
{
	if (h->nodes[to].core && !h->nodes[to].down)
		core_recv(h->nodes[to].core, buf, len, h->now_ms);
}

static void h_step(struct harness *h)
{
	/* Deliver what is due (FIFO: latency is constant), then tick everyone. */
	size_t k = 0;

	while (k < h->qn && h->q[k].at_ms <= h->now_ms) {
		struct h_frame f = h->q[k];

		memmove(&h->q[k], &h->q[k + 1], (h->qn - k - 1) * sizeof(*h->q));
		h->qn--;
		if (h->nodes[f.to].core && !h->nodes[f.to].down)
			core_recv(h->nodes[f.to].core, f.buf, f.len, h->now_ms);
		free(f.buf);
	}
	h_finish_runs(h);
	for (int i = 0; i < h->n; i++) {
		struct core *c = h->nodes[i].core;

		if (c && !h->nodes[i].down && core_next_deadline_ms(c) <= h->now_ms)
			core_tick(c, h->now_ms);
	}
	for (int i = 0; i < h->n; i++)
		if (h->nodes[i].core && !h->nodes[i].down && h->nodes[i].batch_sign)
			core_flush(h->nodes[i].core, h->now_ms);
}

int h_run_until(struct harness *h, uint64_t until_ms, int (*pred)(struct harness *h, void *ctx),
                void *ctx)
{
	while (h->now_ms < until_ms) {
		h_step(h);
		if (pred && pred(h, ctx))
			return 1;
		h->now_ms++;
	}
	return pred ? pred(h, ctx) : 1;
}

void h_run(struct harness *h, uint64_t until_ms)
{
	h_run_until(h, until_ms, NULL, NULL);
}

static long h_find(struct harness *h, int of, int about, struct member_view *mv)
{
	struct core *c = h->nodes[of].core;

	for (size_t k = 0; c && k < core_member_count(c); k++) {
		if (core_member_get(c, k, mv) == 0 &&
		    memcmp(mv->rec.pk, h->nodes[about].pk, CHORUS_PK_BYTES) == 0)
			return (long)k;
	}
	return -1;
}

int h_state(struct harness *h, int of, int about)
{
	struct member_view mv;

	return h_find(h, of, about, &mv) < 0 ? -1 : (int)mv.state;
}

uint64_t h_inc(struct harness *h, int of, int about)
{
	struct member_view mv;

	return h_find(h, of, about, &mv) < 0 ? 0 : mv.rec.inc;
}

int h_all_see_alive(struct harness *h, void *ctx)
{
	(void)ctx;
	for (int i = 0; i < h->n; i++) {
		if (!h->nodes[i].core || h->nodes[i].down)
			continue;
		for (int j = 0; j < h->n; j++) {
			if (!h->nodes[j].core || h->nodes[j].down)
				continue;
			if (h_state(h, i, j) != MEMBER_ALIVE)
				return 0;
		}
	}
	return 1;
}

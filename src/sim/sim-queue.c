/*
 * `chorus-sim queue`: more jobs than slots, so that jobs wait their turn
 * (docs/dispatch.md, "The queue"), under churn and loss.
 *
 * Roles: node 0 (the seed) and node 1 are clients; nodes 2..N-1 are workers
 * of the kind "work" with capacities 1..3.  Each client submits J jobs of
 * 50..300 ms at random instants of a short window (random priorities 0..9),
 * far more than the slots: most jobs queue.  Meanwhile workers crash and
 * restart, leave gracefully and come back, one worker joins only once the
 * jobs are under way, and client 1 crashes and restarts, resuming its jobs
 * from its disk (the attempts it made durable) as chorusd does.  Node 2
 * never goes away: some slot always exists.  A few jobs are of a kind
 * nobody runs and must fail at once, as before the queue.
 *
 * Invariants, after every step (every call into a core):
 *   once      every accepted job is reported final exactly once, never
 *             changes after, and (but for the kind nobody runs) succeeds;
 *             at the end every accepted job is final.
 *   failover  a job starts on a second worker (or a second life of one)
 *             only when every earlier run's worker really died since, or
 *             its client's latest word on that attempt is timed out, no
 *             answer or dead (docs/dispatch.md, "Exactly once").
 *   conserve  no worker that has been up --bound-ms keeps a slot free for
 *             more than --bound-ms while a job of an up client has been
 *             queued (state queued, this life of the client) for more than
 *             --bound-ms of that same time: work-conserving, with a bound
 *             that covers a lost pull (its hold expires) and a lost
 *             reservation (the client re-asks every receipt_poll_ms).
 *   share     the slot-time each client got while both had jobs queued;
 *             once over SQ_SHARE_MIN_MS of it, each client's share stays
 *             within 50 +- --share-tol percent.
 *   and       the cores' running works and jobs in flight match the
 *             scenario's counts; core_check() every K steps, on every
 *             node at the end.
 */
#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sim.h"

#define SQ_NODES_MIN      4
#define SQ_JOBS_MAX       5000   /* per client */
#define SQ_CLIENTS        2
#define SQ_CAPACITY_MAX   3
#define SQ_STORM_MS       1000
#define SQ_JOIN_DEADLINE_MS 60000
#define SQ_SLICE_MS       100
#define SQ_DRAIN_MS       5000
#define SQ_RESUME_MS      1000   /* a restarted client resumes its jobs this much later */
#define SQ_SHARE_MIN_MS   20000  /* slot-ms of competition before shares are judged */
#define SQ_NOBODY_EVERY   40     /* one job in this many is of a kind nobody runs */
#define SQ_PAYLOAD        16

enum sq_op { SQ_SUBMIT = 1, SQ_DONE, SQ_CRASH, SQ_RESTART, SQ_LEAVE, SQ_RESUME };
#define SQ_ARG(op, i) (((uint64_t)(op) << 56) | (uint64_t)(i))

struct sq_job {
	char id[CHORUS_JOB_ID_HEX + 1];
	uint32_t client;
	uint8_t nobody;          /* of the kind nobody runs */
	uint8_t priority;
	uint8_t submitted, final, never_accepted;
	uint8_t state;           /* as last reported */
	uint8_t life;            /* the client generation that has it in flight */
	uint8_t payload[SQ_PAYLOAD];
	uint64_t submitted_ms, final_ms;
	uint64_t queued_since;   /* state queued (this life) since; 0: not queued */
	uint64_t start_ms;       /* its first run's start: queue-to-start latency */
	int32_t runs;            /* its newest run, -1: none */
	/* Its attempts on the client's disk (p_) and in its latest view (l_). */
	uint8_t p_n, l_n;
	uint8_t p_outcome[CHORUS_JOB_ATTEMPTS_MAX], l_outcome[CHORUS_JOB_ATTEMPTS_MAX];
	uint32_t p_worker[CHORUS_JOB_ATTEMPTS_MAX], l_worker[CHORUS_JOB_ATTEMPTS_MAX];
};

struct sq_run {
	uint32_t job, worker;
	unsigned gen;
	int32_t next;            /* the job's earlier run */
	uint8_t done;
	uint64_t start_ms;
};

struct sq_node {
	uint8_t worker;
	uint32_t capacity;
	uint32_t running;        /* runs not done in this generation */
	uint32_t inflight;       /* client jobs not final in this generation */
	uint64_t up_since;       /* 0: down */
	uint64_t free_since;     /* worker: a slot free since (0: all busy, or down) */
	uint32_t client_running[SQ_CLIENTS];
	char id[CHORUS_ID_HEX + 1];
};

struct sq {
	struct sim sim;
	uint32_t n, workers, churn;
	uint64_t jobs_per_client, njobs;
	uint64_t bound_ms, submit_ms, deadline_ms, check_every;
	double share_tol;
	struct core_timing timing;
	struct sq_node *nodes;
	struct sq_job *jobs;
	uint32_t *ht;
	size_t ht_mask;
	struct sq_run *runs;
	size_t nruns, runs_cap;
	uint64_t nfinal, succeeded, failed_nobody, never_accepted, resumed;
	uint64_t crashes, leaves, restarts, client_crashes, late_join;
	uint64_t runs_lost, multi_run_jobs, checks, core_checks, conserve_checks;
	uint64_t share_ms[SQ_CLIENTS], last_ms, max_idle_wait_ms;
	const char *phase;
};

/* ---------------------------------------------------------------- tables */

static uint64_t sq_id_hash(const char *idhex)
{
	uint64_t h = 0;

	for (int i = 0; i < 16 && idhex[i] != '\0'; i++)
		h = (h << 4) | (uint64_t)(idhex[i] <= '9' ? idhex[i] - '0' : (idhex[i] | 0x20) - 'a' + 10);
	return h;
}

static struct sq_job *sq_job_of(struct sq *q, const char *idhex, const char *who)
{
	for (size_t i = sq_id_hash(idhex) & q->ht_mask; q->ht[i] != UINT32_MAX; i = (i + 1) & q->ht_mask)
		if (strcmp(q->jobs[q->ht[i]].id, idhex) == 0)
			return &q->jobs[q->ht[i]];
	sim_net_failf(&q->sim, "%s: unknown job %.16s", who, idhex);
	return NULL;
}

static int64_t sq_node_of_hex(const struct sq *q, const char *idhex)
{
	for (uint32_t i = 0; i < q->n; i++)
		if (strcmp(q->nodes[i].id, idhex) == 0)
			return i;
	return -1;
}

static void sq_view_attempts(const struct sq *q, const struct job_view *jv, uint8_t *n,
                             uint32_t *worker, uint8_t *outcome)
{
	*n = 0;
	for (unsigned k = 0; k < jv->nattempts && k < CHORUS_JOB_ATTEMPTS_MAX; k++) {
		int64_t w = sq_node_of_hex(q, jv->attempts[k].worker);

		worker[*n] = w >= 0 ? (uint32_t)w : UINT32_MAX;
		outcome[(*n)++] = (uint8_t)jv->attempts[k].outcome;
	}
}

/* ---------------------------------------------------------------- the client's effects */

static void sq_attempt_cb(struct sim *sim, struct sim_node *n, const struct job_view *jv)
{
	struct sq *q = sim->hooks.ctx;
	struct sq_job *j = sq_job_of(q, jv->id, "attempt_cb");

	q->checks++;
	if (j == NULL)
		return;
	if (n->index != j->client || jv->nattempts == 0 ||
	    jv->attempts[jv->nattempts - 1].outcome != OUTCOME_RUNNING) {
		sim_net_failf(sim, "node %" PRIu32 " persisted an attempt of job %.16s that is not a "
		              "running dispatch", n->index, j->id);
		return;
	}
	sq_view_attempts(q, jv, &j->p_n, j->p_worker, j->p_outcome);
	memcpy(j->l_worker, j->p_worker, sizeof(j->l_worker));
	memcpy(j->l_outcome, j->p_outcome, sizeof(j->l_outcome));
	j->l_n = j->p_n;
}

static void sq_job_final(struct sq *q, struct sq_job *j, const struct job_view *jv)
{
	j->final = 1;
	j->final_ms = q->sim.now_ms;
	q->nfinal++;
	q->nodes[j->client].inflight--;
	if (j->nobody) {
		if (jv->state != JOB_FAILED || strcmp(jv->reason, "no worker offered to run nobody") != 0)
			sim_net_failf(&q->sim, "job %.16s of the kind nobody runs ended %s (\"%s\")", j->id,
			              job_state_name(jv->state), jv->reason);
		q->failed_nobody++;
		return;
	}
	if (jv->state != JOB_SUCCEEDED) {
		sim_net_failf(&q->sim, "job %.16s (client %" PRIu32 ") ended %s after %u attempts: %s",
		              j->id, j->client, job_state_name(jv->state), jv->nattempts, jv->reason);
		return;
	}
	q->succeeded++;
}

static void sq_job_cb(struct sim *sim, struct sim_node *n, const struct job_view *jv)
{
	struct sq *q = sim->hooks.ctx;
	struct sq_job *j = sq_job_of(q, jv->id, "job_cb");

	q->checks++;
	if (j == NULL)
		return;
	if (n->index != j->client || !j->submitted) {
		sim_net_failf(sim, "node %" PRIu32 " reported job %.16s of node %" PRIu32, n->index,
		              j->id, j->client);
		return;
	}
	if (j->final) {
		sim_net_failf(sim, "job %.16s reported %s after it was final", j->id,
		              job_state_name(jv->state));
		return;
	}
	if (jv->priority != j->priority || (unsigned)jv->state > JOB_QUEUED) {
		sim_net_failf(sim, "job %.16s reported priority %u (submitted %u), state %d", j->id,
		              jv->priority, j->priority, jv->state);
		return;
	}
	j->state = (uint8_t)jv->state;
	if (jv->state == JOB_QUEUED && j->queued_since == 0)
		j->queued_since = sim->now_ms;
	else if (jv->state != JOB_QUEUED)
		j->queued_since = 0;
	sq_view_attempts(q, jv, &j->l_n, j->l_worker, j->l_outcome);
	if (JOB_STATE_FINAL(jv->state))
		sq_job_final(q, j, jv);
}

static void sq_ack_cb(struct sim *sim, struct sim_node *n, const struct job_ack *ack)
{
	struct sq *q = sim->hooks.ctx;
	struct sq_job *j = sq_job_of(q, ack->job_id, "ack_cb");

	(void)n;
	q->checks++;
	if (j != NULL && (!j->final || strcmp(ack->status, job_state_name(j->state)) != 0))
		sim_net_failf(sim, "an ack for job %.16s says %s, its client %s", j->id, ack->status,
		              j->final ? job_state_name(j->state) : "has it in flight");
}

/* ---------------------------------------------------------------- the simulated worker */

/* Exactly once: earlier runs were on workers that died since, or their attempt was given up. */
static int sq_check_failover(struct sq *q, const struct sq_job *j, const struct sim_node *n)
{
	for (int32_t r = j->runs; r >= 0; r = q->runs[r].next) {
		const struct sq_run *run = &q->runs[r];
		const struct sim_node *v = &q->sim.nodes[run->worker];
		int excused = v->core == NULL || v->ngens != run->gen || v->left;

		if (run->worker == n->index && run->gen == n->ngens) {
			sim_net_failf(&q->sim, "job %.16s runs twice on node %" PRIu32 " generation %u",
			              j->id, n->index, run->gen);
			return -1;
		}
		for (unsigned k = 0; k < j->l_n && !excused; k++)
			excused = j->l_worker[k] == run->worker &&
			          (j->l_outcome[k] == OUTCOME_TIMEOUT ||
			           j->l_outcome[k] == OUTCOME_WORKER_DEAD);
		if (!excused) {
			sim_net_failf(&q->sim, "job %.16s starts on node %" PRIu32 " while it ran on node %"
			              PRIu32 " (generation %u), which neither died nor timed out", j->id,
			              n->index, run->worker, run->gen);
			return -1;
		}
	}
	return 0;
}

static void sq_slots_changed(struct sq *q, uint32_t w)
{
	struct sq_node *dn = &q->nodes[w];
	int up = q->sim.nodes[w].core != NULL && !q->sim.nodes[w].left;

	if (!up || dn->running >= dn->capacity)
		dn->free_since = 0;
	else if (dn->free_since == 0)
		dn->free_since = q->sim.now_ms;
}

static int sq_run_cb(struct sim *sim, struct sim_node *n, const char *job_id, const char *kind,
                     const uint8_t *payload, size_t len, uint32_t timeout_ms)
{
	struct sq *q = sim->hooks.ctx;
	struct sq_job *j = sq_job_of(q, job_id, "run_cb");
	struct sq_node *dn = &q->nodes[n->index];
	struct sq_run *r;

	(void)timeout_ms;
	q->checks++;
	if (j == NULL)
		return 0;
	if (strcmp(kind, "work") != 0 || j->nobody || len != SQ_PAYLOAD ||
	    memcmp(payload, j->payload, len) != 0 || !dn->worker || dn->running >= dn->capacity) {
		sim_net_failf(sim, "node %" PRIu32 " started job %.16s (%s) with %" PRIu32 "/%" PRIu32
		              " running, or not as submitted", n->index, j->id, kind, dn->running,
		              dn->capacity);
		return 0;
	}
	if (sq_check_failover(q, j, n) != 0)
		return 0;
	if (q->nruns == q->runs_cap) {
		size_t cap = q->runs_cap ? 2 * q->runs_cap : 1024;
		struct sq_run *v = realloc(q->runs, cap * sizeof(*v));

		if (v == NULL) {
			fprintf(stderr, "chorus-sim: out of memory (%zu runs)\n", cap);
			exit(2);
		}
		q->runs = v;
		q->runs_cap = cap;
	}
	r = &q->runs[q->nruns];
	memset(r, 0, sizeof(*r));
	r->job = (uint32_t)(j - q->jobs);
	r->worker = n->index;
	r->gen = n->ngens;
	r->next = j->runs;
	r->start_ms = sim->now_ms;
	q->multi_run_jobs += j->runs >= 0 && q->runs[j->runs].next < 0;
	j->runs = (int32_t)q->nruns++;
	if (j->start_ms == 0)
		j->start_ms = sim->now_ms;
	dn->running++;
	dn->client_running[j->client]++;
	sq_slots_changed(q, n->index);
	sim_net_schedule_call(sim, n->index, sim->now_ms + 50 + sim_rng_below(&sim->rng, 251),
	                      SQ_ARG(SQ_DONE, j->runs));
	return 0;
}

static void sq_run_done(struct sq *q, struct sim_node *n, struct sq_run *r)
{
	const struct sq_job *j = &q->jobs[r->job];
	int err;

	r->done = 1;
	if (n->core == NULL || n->ngens != r->gen) {
		q->runs_lost++;
		return;
	}
	err = core_work_done(n->core, j->id, WORK_OK, j->payload, SQ_PAYLOAD, NULL,
	                     q->sim.now_ms - r->start_ms, q->sim.now_ms);
	if (err != 0)
		sim_net_failf(&q->sim, "node %" PRIu32 ": core_work_done(%.16s): %s", n->index, j->id,
		              core_strerror(err));
	q->nodes[n->index].running--;
	q->nodes[n->index].client_running[j->client]--;
	sq_slots_changed(q, n->index);
}

/* ---------------------------------------------------------------- calls */

static int sq_submit_spec(struct sq *q, struct sim_node *n, struct sq_job *j,
                          const struct job_attempt *attempts, unsigned nattempts)
{
	char id[CHORUS_JOB_ID_HEX + 1];
	struct job_spec spec;
	int err;

	memset(&spec, 0, sizeof(spec));
	strcpy(spec.kind, j->nobody ? "nobody" : "work");
	spec.payload = j->payload;
	spec.payload_len = SQ_PAYLOAD;
	spec.nonce = (uint64_t)(j - q->jobs) + 1;
	spec.created_ms = SIM_EPOCH_MS + j->submitted_ms;
	spec.priority = j->priority;
	spec.attempts = attempts;
	spec.nattempts = nattempts;
	err = core_job_submit(n->core, &spec, id, q->sim.now_ms);
	if (err != 0 || strcmp(id, j->id) != 0) {
		sim_net_failf(&q->sim, "node %" PRIu32 ": core_job_submit(%.16s): %s", n->index, j->id,
		              core_strerror(err));
		return -1;
	}
	j->life = (uint8_t)n->ngens;
	j->queued_since = 0;
	q->nodes[n->index].inflight++;
	return 0;
}

static void sq_submit(struct sq *q, struct sim_node *n, struct sq_job *j)
{
	if (n->core == NULL) { /* down: the submit found nobody, nothing was accepted */
		j->never_accepted = 1;
		q->never_accepted++;
		return;
	}
	j->submitted_ms = q->sim.now_ms;
	if (sq_submit_spec(q, n, j, NULL, 0) == 0)
		j->submitted = 1;
}

/* The restarted client resumes what its disk holds as not final, attempts and all. */
static void sq_resume(struct sq *q, struct sim_node *n)
{
	struct job_attempt attempts[CHORUS_JOB_ATTEMPTS_MAX];

	if (n->core == NULL)
		return;
	for (uint64_t k = 0; k < q->njobs; k++) {
		struct sq_job *j = &q->jobs[k];

		if (j->client != n->index || !j->submitted || j->final || j->life == n->ngens)
			continue;
		memset(attempts, 0, sizeof(attempts));
		for (unsigned a = 0; a < j->p_n; a++) {
			if (j->p_worker[a] < q->n)
				snprintf(attempts[a].worker, sizeof(attempts[a].worker), "%s",
				         q->nodes[j->p_worker[a]].id);
			attempts[a].outcome = (enum job_outcome)j->p_outcome[a];
		}
		j->l_n = j->p_n;
		memcpy(j->l_worker, j->p_worker, sizeof(j->l_worker));
		memcpy(j->l_outcome, j->p_outcome, sizeof(j->l_outcome));
		if (sq_submit_spec(q, n, j, attempts, j->p_n) != 0)
			return;
		q->resumed++;
	}
}

static void sq_down(struct sq *q, uint32_t i)
{
	struct sq_node *dn = &q->nodes[i];

	sim_net_crash(&q->sim, i);
	dn->running = 0;
	dn->inflight = 0;
	memset(dn->client_running, 0, sizeof(dn->client_running));
	dn->up_since = 0;
	for (uint64_t k = 0; k < q->njobs; k++)
		if (q->jobs[k].client == i)
			q->jobs[k].queued_since = 0; /* its queue is on its disk now */
	sq_slots_changed(q, i);
}

static void sq_call_cb(struct sim *sim, struct sim_node *n, uint64_t arg)
{
	struct sq *q = sim->hooks.ctx;
	uint64_t i = arg & ((1ULL << 56) - 1);
	uint32_t seed = 0;

	switch (arg >> 56) {
	case SQ_SUBMIT: sq_submit(q, n, &q->jobs[i]); break;
	case SQ_DONE: sq_run_done(q, n, &q->runs[i]); break;
	case SQ_CRASH:
		if (n->core == NULL)
			break;
		sq_down(q, n->index);
		q->crashes += q->nodes[n->index].worker;
		q->client_crashes += !q->nodes[n->index].worker;
		break;
	case SQ_LEAVE:
		if (n->core == NULL)
			break;
		sim_net_leave(sim, n->index);
		q->leaves++;
		sq_slots_changed(q, n->index);
		/* The process exits once its goodbye is out. */
		sim_net_schedule_call(sim, n->index, sim->now_ms + 500, SQ_ARG(SQ_CRASH, 0));
		break;
	case SQ_RESTART:
		if (n->core != NULL)
			break;
		if (sim_net_up(sim, n->index, &seed, n->index != 0) == 0) {
			q->restarts += n->ngens > 1;
			q->late_join += n->ngens == 1;
			q->nodes[n->index].up_since = sim->now_ms;
			sq_slots_changed(q, n->index);
		}
		if (!q->nodes[n->index].worker)
			sim_net_schedule_call(sim, n->index, sim->now_ms + SQ_RESUME_MS,
			                      SQ_ARG(SQ_RESUME, 0));
		break;
	case SQ_RESUME: sq_resume(q, n); break;
	default: assert(0 && "unknown call");
	}
}

/* ---------------------------------------------------------------- per-step invariants */

/* The oldest job of an up client queued (this life) since, or 0. */
static uint64_t sq_oldest_queued(const struct sq *q, uint32_t *client)
{
	uint64_t oldest = 0;

	for (uint64_t k = 0; k < q->njobs; k++) {
		const struct sq_job *j = &q->jobs[k];

		if (j->queued_since == 0 || j->final || q->sim.nodes[j->client].core == NULL)
			continue;
		if (oldest == 0 || j->queued_since < oldest) {
			oldest = j->queued_since;
			*client = j->client;
		}
	}
	return oldest;
}

/* Work conserving: no slot idle past the bound while a job waited past it. */
static void sq_check_conserve(struct sq *q)
{
	uint64_t now = q->sim.now_ms, b = q->bound_ms;
	uint32_t c = 0;
	uint64_t oldest = sq_oldest_queued(q, &c);

	q->conserve_checks++;
	if (oldest == 0 || now < oldest + b || q->nodes[c].up_since == 0 ||
	    now < q->nodes[c].up_since + b)
		return;
	for (uint32_t w = SQ_CLIENTS; w < q->n; w++) {
		const struct sq_node *dn = &q->nodes[w];
		uint64_t since = dn->free_since > oldest ? dn->free_since : oldest;

		if (dn->free_since == 0 || dn->up_since == 0 || now < dn->up_since + b)
			continue;
		if (now - since > q->max_idle_wait_ms)
			q->max_idle_wait_ms = now - since;
		if (now >= since + b) {
			sim_net_failf(&q->sim, "work not conserved: node %" PRIu32 " has had %" PRIu32 " of %"
			              PRIu32 " slots free since t=%" PRIu64 " while a job of client %" PRIu32
			              " has been queued since t=%" PRIu64 " (bound %" PRIu64 " ms)", w,
			              dn->capacity - dn->running, dn->capacity, dn->free_since, c, oldest, b);
			return;
		}
	}
}

/* Slot-time per client while both have jobs queued; the shares once there is enough of it. */
static void sq_check_share(struct sq *q)
{
	uint64_t now = q->sim.now_ms, dt = now - q->last_ms, total;
	int both = 1;

	q->last_ms = now;
	for (uint32_t c = 0; c < SQ_CLIENTS && both; c++) {
		int waits = 0;

		for (uint64_t k = 0; k < q->njobs && !waits; k++)
			waits = q->jobs[k].client == c && q->jobs[k].queued_since != 0 &&
			        q->sim.nodes[c].core != NULL;
		both = waits;
	}
	if (!both || dt == 0)
		return;
	for (uint32_t w = SQ_CLIENTS; w < q->n; w++)
		for (uint32_t c = 0; c < SQ_CLIENTS; c++)
			q->share_ms[c] += dt * q->nodes[w].client_running[c];
	total = q->share_ms[0] + q->share_ms[1];
	if (total >= SQ_SHARE_MIN_MS) {
		double s = (double)q->share_ms[0] / (double)total;

		if (s < 0.5 - q->share_tol || s > 0.5 + q->share_tol)
			sim_net_failf(&q->sim, "shares: client 0 had %.1f%% of %" PRIu64 " slot-ms while "
			              "both waited (bound 50 +- %.0f%%)", 100 * s, total, 100 * q->share_tol);
	}
}

static void sq_step_cb(struct sim *sim, struct sim_node *n)
{
	struct sq *q = sim->hooks.ctx;
	const struct sq_node *dn = &q->nodes[n->index];
	const char *why;

	q->checks++;
	sq_check_conserve(q);
	sq_check_share(q);
	if (n->core == NULL)
		return;
	if (core_work_running(n->core) != dn->running || core_jobs_inflight(n->core) != dn->inflight) {
		sim_net_failf(sim, "node %" PRIu32 ": core has %zu running works and %zu client jobs; "
		              "the scenario counts %" PRIu32 " and %" PRIu32, n->index,
		              core_work_running(n->core), core_jobs_inflight(n->core), dn->running,
		              dn->inflight);
		return;
	}
	if (sim->steps % q->check_every == 0) {
		q->core_checks++;
		if ((why = core_check(n->core)) != NULL)
			sim_net_failf(sim, "node %" PRIu32 ": core_check: %s", n->index, why);
	}
}

static void sq_config_cb(struct sim *sim, struct sim_node *n, struct core_config *cfg)
{
	struct sq *q = sim->hooks.ctx;

	cfg->ncaps = 0;
	if (!q->nodes[n->index].worker)
		return;
	strcpy(cfg->caps[cfg->ncaps++], "work");
	cfg->capacity = q->nodes[n->index].capacity;
}

static void sq_start_cb(struct sim *sim, struct sim_node *n)
{
	struct sq *q = sim->hooks.ctx;
	uint32_t seed = 0;

	if (sim_net_up(sim, n->index, &seed, n->index != 0) == 0)
		q->nodes[n->index].up_since = sim->now_ms;
	sq_slots_changed(q, n->index);
}

/* ---------------------------------------------------------------- set-up and phases */

static int sq_alloc(struct sq *q)
{
	size_t size = 1;

	while (size < 2 * q->njobs)
		size <<= 1;
	q->nodes = calloc(q->n, sizeof(*q->nodes));
	q->jobs = calloc(q->njobs, sizeof(*q->jobs));
	q->ht = malloc(size * sizeof(*q->ht));
	if (q->nodes == NULL || q->jobs == NULL || q->ht == NULL)
		return -1;
	memset(q->ht, 0xff, size * sizeof(*q->ht));
	q->ht_mask = size - 1;
	for (uint32_t i = 0; i < q->n; i++) {
		sodium_bin2hex(q->nodes[i].id, sizeof(q->nodes[i].id), q->sim.nodes[i].pk,
		               CHORUS_PK_BYTES);
		if (i >= SQ_CLIENTS) {
			q->nodes[i].worker = 1;
			q->nodes[i].capacity = 1 + (uint32_t)sim_rng_below(&q->sim.rng, SQ_CAPACITY_MAX);
		}
	}
	for (uint64_t k = 0; k < q->njobs; k++) {
		struct sq_job *j = &q->jobs[k];
		uint8_t id[CHORUS_JOB_ID_BYTES];
		size_t h;

		j->client = (uint32_t)(k % SQ_CLIENTS);
		j->nobody = k / SQ_CLIENTS % SQ_NOBODY_EVERY == 1;
		j->priority = (uint8_t)sim_rng_below(&q->sim.rng, CHORUS_PRIORITY_MAX + 1);
		j->runs = -1;
		for (unsigned b = 0; b < SQ_PAYLOAD; b++)
			j->payload[b] = (uint8_t)sim_rng_next(&q->sim.rng);
		core_job_id(id, q->sim.nodes[j->client].pk, k + 1);
		sodium_bin2hex(j->id, sizeof(j->id), id, sizeof(id));
		for (h = sq_id_hash(j->id) & q->ht_mask; q->ht[h] != UINT32_MAX; h = (h + 1) & q->ht_mask)
			;
		q->ht[h] = (uint32_t)k;
	}
	return 0;
}

static void sq_free(struct sq *q)
{
	free(q->nodes);
	free(q->jobs);
	free(q->ht);
	free(q->runs);
	sim_net_free(&q->sim);
}

/* Everyone but the last worker starts now; that one joins once the jobs are under way. */
static int sq_phase_join(struct sq *q)
{
	struct sim *sim = &q->sim;
	int r;

	q->phase = "join";
	sim_net_schedule_start(sim, 0, SIM_T0_MS);
	for (uint32_t i = 1; i < q->n - 1; i++)
		sim_net_schedule_start(sim, i, SIM_T0_MS + 1 + sim_rng_below(&sim->rng, SQ_STORM_MS));
	if (sim_net_run(sim, SIM_T0_MS + SQ_STORM_MS + 1, NULL, NULL) < 0)
		return -1;
	r = sim_net_run_converge(sim, SIM_T0_MS + SQ_JOIN_DEADLINE_MS, SQ_SLICE_MS);
	if (r == 0)
		sim_net_failf(sim, "liveness (join): membership did not converge");
	if (r <= 0)
		return -1;
	printf("join: converged_ms=%" PRIu64 "\n", (uint64_t)(sim->now_ms - SIM_T0_MS));
	return 0;
}

/* Churn in the window's middle: crashes with restarts, leaves and returns, a client crash. */
static void sq_schedule_churn(struct sq *q, uint64_t t0)
{
	struct sim *sim = &q->sim;
	uint32_t late = q->n - 1;

	sim_net_schedule_call(sim, late, t0 + q->submit_ms / 3, SQ_ARG(SQ_RESTART, 0)); /* joins */
	for (uint32_t k = 0; k < q->churn; k++) {
		/* Never node 2: some slot is always there.  Never the late joiner before it joined. */
		uint32_t w = SQ_CLIENTS + 1 + (uint32_t)sim_rng_below(&sim->rng, q->workers - 1);
		uint64_t at = t0 + q->submit_ms / 2 + sim_rng_below(&sim->rng, q->submit_ms * 2);
		uint64_t back = at + 1000 + sim_rng_below(&sim->rng, 4000);

		if (w == late && at < t0 + q->submit_ms / 3 + 2000)
			at = t0 + q->submit_ms / 3 + 2000;
		sim_net_schedule_call(sim, w, at, SQ_ARG(k % 2 ? SQ_LEAVE : SQ_CRASH, 0));
		sim_net_schedule_call(sim, w, back + (k % 2 ? 1000 : 0), SQ_ARG(SQ_RESTART, 0));
	}
	/* Client 1 crashes while its jobs wait, and comes back to resume them. */
	{
		uint64_t at = t0 + q->submit_ms + sim_rng_below(&sim->rng, q->submit_ms + 1);

		sim_net_schedule_call(sim, 1, at, SQ_ARG(SQ_CRASH, 0));
		sim_net_schedule_call(sim, 1, at + 2000, SQ_ARG(SQ_RESTART, 0));
	}
}

static int sq_all_final(struct sim *sim, void *arg)
{
	const struct sq *q = arg;

	(void)sim;
	return q->nfinal + q->never_accepted == q->njobs;
}

static int sq_phase_jobs(struct sq *q)
{
	struct sim *sim = &q->sim;
	uint64_t t0 = sim->now_ms;
	int r;

	q->phase = "jobs";
	q->last_ms = t0;
	for (uint64_t k = 0; k < q->njobs; k++)
		sim_net_schedule_call(sim, q->jobs[k].client, t0 + sim_rng_below(&sim->rng, q->submit_ms),
		                      SQ_ARG(SQ_SUBMIT, k));
	sq_schedule_churn(q, t0);
	r = sim_net_run(sim, t0 + q->deadline_ms, sq_all_final, q);
	if (r == 0) {
		for (uint64_t k = 0; k < q->njobs; k++)
			if (!q->jobs[k].final && !q->jobs[k].never_accepted) {
				sim_net_failf(sim, "liveness: job %.16s (client %" PRIu32 ") is %s at the "
				              "deadline", q->jobs[k].id, q->jobs[k].client,
				              job_state_name(q->jobs[k].state));
				break;
			}
	}
	if (r <= 0)
		return -1;
	printf("jobs: all_final_ms=%" PRIu64 "\n", sim->now_ms - t0);
	return 0;
}

static int sq_phase_drain(struct sq *q)
{
	struct sim *sim = &q->sim;
	const char *why;
	double s;

	q->phase = "drain";
	if (sim_net_run(sim, sim->now_ms + SQ_DRAIN_MS, NULL, NULL) < 0)
		return -1;
	for (uint32_t i = 0; i < q->n; i++) {
		if (sim->nodes[i].core == NULL)
			continue;
		q->core_checks++;
		if ((why = core_check(sim->nodes[i].core)) != NULL) {
			sim_net_failf(sim, "drain: node %" PRIu32 ": core_check: %s", i, why);
			return -1;
		}
	}
	if (q->share_ms[0] + q->share_ms[1] < SQ_SHARE_MIN_MS) {
		sim_net_failf(sim, "shares: only %" PRIu64 " slot-ms while both clients waited: too "
		              "little competition to judge (more --jobs)", q->share_ms[0] + q->share_ms[1]);
		return -1;
	}
	s = (double)q->share_ms[0] / (double)(q->share_ms[0] + q->share_ms[1]);
	if (s < 0.5 - q->share_tol || s > 0.5 + q->share_tol) {
		sim_net_failf(sim, "shares: client 0 had %.1f%% at the end", 100 * s);
		return -1;
	}
	q->phase = "done";
	return 0;
}

/* ---------------------------------------------------------------- report and command line */

static int sq_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void sq_print(const struct sq *q)
{
	const struct sim *sim = &q->sim;
	uint64_t *v = malloc((q->njobs + 1) * sizeof(*v)), total = q->share_ms[0] + q->share_ms[1];
	size_t n = 0;

	printf("jobs: submitted=%" PRIu64 " final=%" PRIu64 " succeeded=%" PRIu64
	       " failed_nobody=%" PRIu64 " never_accepted=%" PRIu64 " resumed=%" PRIu64 "\n",
	       q->njobs, q->nfinal, q->succeeded, q->failed_nobody, q->never_accepted, q->resumed);
	for (uint64_t k = 0; v != NULL && k < q->njobs; k++)
		if (q->jobs[k].start_ms > 0)
			v[n++] = q->jobs[k].start_ms - q->jobs[k].submitted_ms;
	if (v != NULL && n > 0) {
		qsort(v, n, sizeof(*v), sq_cmp_u64);
		printf("wait_ms (submit to first start): n=%zu p50=%" PRIu64 " p99=%" PRIu64 " max=%"
		       PRIu64 "\n", n, v[(n - 1) / 2], v[(n - 1) * 99 / 100], v[n - 1]);
	}
	free(v);
	printf("shares: while_both_waited_slot_ms=%" PRIu64 " client0=%.1f%% client1=%.1f%% "
	       "(bound 50 +- %.0f%%)\n", total, total ? 100.0 * (double)q->share_ms[0] / (double)total : 0,
	       total ? 100.0 * (double)q->share_ms[1] / (double)total : 0, 100 * q->share_tol);
	printf("conserve: checks=%" PRIu64 " longest_idle_slot_while_a_job_waited_ms=%" PRIu64
	       " (bound %" PRIu64 ")\n", q->conserve_checks, q->max_idle_wait_ms, q->bound_ms);
	printf("churn: crashes=%" PRIu64 " leaves=%" PRIu64 " restarts=%" PRIu64 " late_joins=%"
	       PRIu64 " client_crashes=%" PRIu64 " runs=%zu lost_to_churn=%" PRIu64
	       " jobs_run_twice=%" PRIu64 "\n", q->crashes, q->leaves, q->restarts, q->late_join,
	       q->client_crashes, q->nruns, q->runs_lost, q->multi_run_jobs);
	printf("total: virtual_s=%.3f steps=%" PRIu64 " frames_sent=%" PRIu64 " lost=%" PRIu64
	       " to_down=%" PRIu64 "\n", (double)(sim->now_ms - SIM_T0_MS) / 1000.0, sim->steps,
	       sim->frames_sent, sim->drop_loss, sim->drop_down);
	if (sim->now_ms > SIM_T0_MS)
		sim_net_print_types(sim, NULL, NULL, sim->now_ms - SIM_T0_MS);
	printf("invariant_checks: callbacks_and_steps=%" PRIu64 " core_check=%" PRIu64 "\n",
	       q->checks, q->core_checks);
}

void sim_queue_usage(FILE *f)
{
	fprintf(f,
	        "usage: chorus-sim queue [--workers W] [--jobs J] [--seed S] [--loss P]\n"
	        "                        [--latency MIN:MAX] [--churn K] [--bound-ms B]\n"
	        "                        [--share-tol PCT] [--check-every K] [--verbose]...\n"
	        "\n"
	        "  --workers W        workers, nodes 2..W+1, capacity 1..%d (2..64, default 4)\n"
	        "  --jobs J           jobs per client, of two clients (20..%d, default 150)\n"
	        "  --seed S           the one seed of the run (default 1)\n"
	        "  --loss P           probability a frame is lost, in [0, 1) (default 0.02)\n"
	        "  --latency MIN:MAX  per-frame latency range in ms (default 1:5)\n"
	        "  --churn K          worker crashes and leaves, each followed by a return\n"
	        "                     (0..%d, default 4); a late join and a client crash always\n"
	        "  --bound-ms B       no slot idle longer than this while a job waited as long\n"
	        "                     (default 2500)\n"
	        "  --share-tol PCT    each client's share while both waited: 50 +- PCT (default 10)\n"
	        "  --check-every K    run core_check() on the stepped node every K steps (default 1)\n"
	        "  --verbose          print the cores' log records (repeat for more)\n"
	        "  --help             this text\n",
	        SQ_CAPACITY_MAX, SQ_JOBS_MAX, SIM_GENS_MAX - 2);
}

static const struct option sq_options[] = {
	{"workers", required_argument, NULL, 'w'}, {"jobs", required_argument, NULL, 'j'},
	{"seed", required_argument, NULL, 's'},    {"loss", required_argument, NULL, 'l'},
	{"latency", required_argument, NULL, 'L'}, {"churn", required_argument, NULL, 'c'},
	{"bound-ms", required_argument, NULL, 'b'}, {"share-tol", required_argument, NULL, 't'},
	{"check-every", required_argument, NULL, 'k'}, {"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
};

static int sq_parse(int argc, char **argv, struct sim_params *p, struct sq *q)
{
	uint64_t v = 0;
	int c, rc = 0;

	optind = 1;
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, "", sq_options, NULL)) != -1) {
		switch (c) {
		case 'w': rc = sim_parse_u64("--workers", optarg, 2, 64, &v); q->workers = (uint32_t)v; break;
		case 'j': rc = sim_parse_u64("--jobs", optarg, 20, SQ_JOBS_MAX, &q->jobs_per_client); break;
		case 's': rc = sim_parse_u64("--seed", optarg, 0, UINT64_MAX, &p->seed); break;
		case 'l': rc = sim_parse_prob("--loss", optarg, &p->loss); break;
		case 'L': rc = sim_parse_latency("--latency", optarg, &p->latency_min_ms, &p->latency_max_ms); break;
		case 'c': rc = sim_parse_u64("--churn", optarg, 0, SIM_GENS_MAX - 2, &v); q->churn = (uint32_t)v; break;
		case 'b': rc = sim_parse_u64("--bound-ms", optarg, 100, 600000, &q->bound_ms); break;
		case 't': rc = sim_parse_u64("--share-tol", optarg, 1, 50, &v); q->share_tol = (double)v / 100; break;
		case 'k': rc = sim_parse_u64("--check-every", optarg, 1, UINT32_MAX, &q->check_every); break;
		case 'v': p->verbose++; break;
		case 'h': sim_queue_usage(stdout); exit(0);
		default:
			fprintf(stderr, "chorus-sim queue: bad option or missing argument: %s (try --help)\n",
			        argv[optind - 1]);
			return -1;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "chorus-sim queue: unexpected argument \"%s\" (try --help)\n", argv[optind]);
		return -1;
	}
	if (rc == 0 && q->churn > 0 && q->workers < 2) {
		fprintf(stderr, "chorus-sim queue: --churn needs --workers 2 or more\n");
		return -1;
	}
	return rc;
}

int sim_queue_main(int argc, char **argv)
{
	static struct sq q;
	struct sim_params p;
	struct sim_hooks hooks;
	struct core_config defaults;
	double wall0 = sim_wall_s();
	int rc;

	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	p.seed = 1;
	p.loss = 0.02;
	p.latency_min_ms = 1;
	p.latency_max_ms = 5;
	p.crypto = &sim_crypto_fast;
	q.workers = 4;
	q.jobs_per_client = 150;
	q.churn = 4;
	q.bound_ms = 2500;
	q.share_tol = 0.10;
	q.check_every = 1;
	if (sq_parse(argc, argv, &p, &q) != 0)
		return 2;
	core_config_defaults(&defaults);
	q.timing = defaults.timing;
	q.n = p.nodes = SQ_CLIENTS + q.workers;
	q.njobs = SQ_CLIENTS * q.jobs_per_client;
	q.submit_ms = 2000 + q.njobs * 10; /* far more work than the slots take in the window */
	q.deadline_ms = 120000 + q.njobs * 200;
	memset(&hooks, 0, sizeof(hooks));
	hooks.ctx = &q;
	hooks.start_cb = sq_start_cb;
	hooks.step_cb = sq_step_cb;
	hooks.config_cb = sq_config_cb;
	hooks.call_cb = sq_call_cb;
	hooks.job_cb = sq_job_cb;
	hooks.run_cb = sq_run_cb;
	hooks.ack_cb = sq_ack_cb;
	hooks.attempt_cb = sq_attempt_cb;
	if (sim_net_init(&q.sim, &p, &hooks) != 0 || sq_alloc(&q) != 0) {
		fprintf(stderr, "chorus-sim: out of memory\n");
		sq_free(&q);
		return 2;
	}
	printf("chorus-sim %s queue\n", CHORUS_VERSION);
	printf("params: seed=%" PRIu64 " workers=%" PRIu32 " jobs_per_client=%" PRIu64 " loss=%.4f "
	       "latency_ms=%" PRIu32 ":%" PRIu32 " churn=%" PRIu32 " bound_ms=%" PRIu64 "\n", p.seed,
	       q.workers, q.jobs_per_client, p.loss, p.latency_min_ms, p.latency_max_ms, q.churn,
	       q.bound_ms);
	printf("workers:");
	for (uint32_t w = SQ_CLIENTS; w < q.n; w++)
		printf(" n%" PRIu32 "/%" PRIu32, w, q.nodes[w].capacity);
	printf("\n");
	q.phase = "init";
	if (sq_phase_join(&q) == 0 && sq_phase_jobs(&q) == 0)
		sq_phase_drain(&q);
	rc = q.sim.failed ? 1 : 0;
	sq_print(&q);
	if (rc != 0) {
		printf("result: FAIL seed=%" PRIu64 " phase=%s t=%" PRIu64 ": %s\n", p.seed, q.phase,
		       q.sim.now_ms, q.sim.fail);
		fprintf(stderr, "chorus-sim: FAIL seed=%" PRIu64 " phase=%s t=%" PRIu64 ": %s\n"
		        "reproduce: chorus-sim queue --seed %" PRIu64 " --workers %" PRIu32 " --jobs %"
		        PRIu64 " --loss %.4f --latency %" PRIu32 ":%" PRIu32 " --churn %" PRIu32
		        " --bound-ms %" PRIu64 " --share-tol %.0f\n", p.seed, q.phase, q.sim.now_ms,
		        q.sim.fail, p.seed, q.workers, q.jobs_per_client, p.loss, p.latency_min_ms,
		        p.latency_max_ms, q.churn, q.bound_ms, 100 * q.share_tol);
	} else {
		printf("result: ok\n");
	}
	sq_free(&q);
	printf("wall: %.3f s\n", sim_wall_s() - wall0);
	return rc;
}

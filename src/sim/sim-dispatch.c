/*
 * `chorus-sim dispatch`: jobs over a cluster of clients and workers, with
 * loss, slow workers, and workers that crash mid-run (and come back).
 *
 * Roles: node 0 (the seed everyone joins through) and nodes W+1..N-1 are
 * clients; nodes 1..W are workers.  Every worker runs "echo", every second
 * one also "slow"; capacities are 1..4.  Nobody runs "nobody".
 *
 * Phases: (1) join: every node starts in the first second, joining through
 * node 0, until every node lists every node ALIVE; (2) spread: with no loss,
 * node 0 submits one long "hold" job per worker, each only once the previous
 * one was accepted; every first dispatch must go to a worker none of the
 * earlier ones went to, with an offered load of 0 (the ranking check, see
 * disp_spread_check); (3) jobs: J jobs from random clients at random
 * instants (echo, slow, nobody; some fail on the worker, some have a short
 * timeout, some are cancelled), while K workers crash and, optionally,
 * restart; runs until every job is final, within a deadline; (4) drain: a few
 * more seconds for acks and late frames, then core_check() on every node.
 *
 * The simulated worker (run_cb) decides a run's end when it starts: after a
 * duration drawn by kind (times DISP_SLOW_FACTOR on a slow worker), it ends
 * ok with the result "n<worker>:" + payload, or failed when the job is marked
 * to fail, or timed out when the duration is over the job's timeout.  The end
 * is a SIM_EV_CALL event that calls core_work_done(); a crash makes it moot.
 *
 * Clients crash too (--crash-clients K, never node 0): a client's disk is
 * what the persist effects wrote (attempt_cb: the attempts, as the daemon
 * holds the dispatch until they are durable; the final state), and a
 * restarted client resumes its jobs from it DISP_RESUME_MS later, as
 * chorusd does.  A worker's outcome table (outcome_put_cb) outlives its
 * crashes.  A submit that finds its client down was never accepted.
 *
 * Invariants, checked as they happen (every call into a core) and at the end:
 *   job_cb    only the job's client reports it; attempts and rounds never go
 *             back; a final state never changes nor is reported again; a
 *             success has exactly the result the worker of its OK attempt
 *             produced, from a run that really ended ok there; a job of a
 *             kind nobody runs fails with "no worker offered to run nobody";
 *             only jobs we cancelled are cancelled; every failure reason is
 *             one the scenario can explain.
 *   run_cb    the job exists, with that kind and payload, on a worker that
 *             runs the kind, below its capacity, and whose tags meet the
 *             job's constraint (workers carry rack=r0 or rack=r1; about one
 *             job in ten says --where rack=rN); a job never runs twice on
 *             one worker generation (a restarted worker may run it again:
 *             counted as a rerun, not a failure); and a job runs on a second
 *             worker (or a second life of one) only if every earlier run's
 *             worker really died (crashed since) or its client's latest
 *             word on that attempt is "timed out", "no answer" or "dead"
 *             (exactly once, docs/dispatch.md).
 *   ack_cb    an ack names a final job, its client, and its final state.
 *   per step  the core's running works and in-flight client jobs equal what
 *             the scenario counted; core_check() every K steps.
 *   the end   liveness: every job final by the deadline; core_check() on
 *             every node.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sim.h"
#include "fabric/fabric.h" /* WIRE_REQUEST..WIRE_JOBACK: job traffic per job */

#define DISP_NODES_MIN       4
#define DISP_JOBS_MAX        20000
#define DISP_PAYLOAD_MAX     64
#define DISP_RESULT_MAX      (DISP_PAYLOAD_MAX + 16)
#define DISP_DEADLINE_S      120     /* default liveness deadline after the last submit */
#define DISP_JOIN_DEADLINE_MS 60000
#define DISP_STORM_MS        1000    /* nodes start within this window */
#define DISP_SLICE_MS        100     /* convergence is checked this often */
#define DISP_HOLD_MS         10000   /* spread jobs run this long: they all overlap */
#define DISP_SPREAD_WAIT_MS  5000    /* one spread job must be accepted within this */
#define DISP_SLOW_FACTOR     6       /* a slow worker takes this many times longer */
#define DISP_SHORT_TIMEOUT_MS 3000   /* some jobs: slow runs on slow workers time out */
#define DISP_CANCEL_MAX_MS   3000    /* a cancel comes this long after its submit at most */
#define DISP_DRAIN_MS        5000
#define DISP_RESUME_MS       1000    /* a restarted client resumes its jobs this much later */
#define DISP_ERROR           "simulated failure"

_Static_assert(DISP_PAYLOAD_MAX <= CHORUS_PAYLOAD_MAX, "payloads must be valid");
_Static_assert(DISP_RESULT_MAX <= CHORUS_RESULT_MAX, "results must fit a receipt");

enum disp_kind { KIND_ECHO = 0, KIND_SLOW = 1, KIND_NOBODY = 2, KIND_END };
static const char *const disp_kind_names[KIND_END] = {"echo", "slow", "nobody"};

/* What a SIM_EV_CALL does: the op sits in the argument's top byte. */
enum disp_op { OP_SUBMIT = 1, OP_CANCEL, OP_DONE, OP_CRASH, OP_RESTART, OP_RESUME };
#define DISP_ARG(op, i) (((uint64_t)(op) << 56) | (uint64_t)(i))

/* How a job ended, as the scenario explains it. */
enum disp_end {
	END_OK = 0,
	END_CANCELLED,
	END_NOBODY,      /* kind nobody runs: "no worker offered to run nobody" */
	END_NO_OFFER,    /* a kind workers run, but none offered (all full, or loss) */
	END_SIMFAIL,     /* the worker failed it as told */
	END_TIMEOUT,     /* a short timeout on a slow run */
	END_GAVE_UP,     /* attempts or rounds ran out */
	END_UNMET,       /* its constraint: no alive worker of its rack ran the kind */
	END_COUNT
};
static const char *const disp_end_names[END_COUNT] = {
	"succeeded", "cancelled", "failed_nobody", "failed_no_offer",
	"failed_simulated", "failed_timeout", "failed_gave_up", "failed_unmet"};

struct disp_job {
	char id[CHORUS_JOB_ID_HEX + 1];
	uint32_t client;
	uint8_t kind;             /* enum disp_kind */
	uint8_t fail;             /* the simulated worker fails it */
	uint8_t hold;             /* a spread job: runs DISP_HOLD_MS */
	uint8_t submitted, final, cancel_asked;
	uint8_t state;            /* as last reported */
	uint8_t end;              /* enum disp_end, once final */
	uint32_t timeout_ms;      /* 0: the default */
	uint32_t payload_len;
	uint8_t payload[DISP_PAYLOAD_MAX];
	uint64_t submitted_ms, final_ms;
	unsigned nattempts, rounds;
	int64_t first_worker;     /* node of attempts[0], -1 before */
	uint32_t first_load, first_capacity;
	int32_t runs;             /* first of its runs, -1: none */
	uint32_t acks;            /* acks seen by any node */
	uint8_t never_accepted;   /* its client was down when it was to be submitted */
	uint8_t life;             /* its client's generation that has it in flight */
	/* Its attempts on the client's disk (p_) and in the client's latest view (l_). */
	uint8_t p_n, l_n;
	uint8_t p_outcome[CHORUS_JOB_ATTEMPTS_MAX], l_outcome[CHORUS_JOB_ATTEMPTS_MAX];
	uint32_t p_worker[CHORUS_JOB_ATTEMPTS_MAX], l_worker[CHORUS_JOB_ATTEMPTS_MAX];
	int32_t outcomes;         /* its rows in workers' outcome tables, -1: none */
	uint8_t where_rack;       /* its constraint: 0 none, else --where rack=r(where_rack - 1) */
};

/* A row of a worker's outcome table (its disk: survives its crashes). */
struct disp_outcome {
	uint32_t worker;
	int32_t next;             /* the job's next row */
	struct work_outcome o;    /* receipt: owned copy */
};

struct disp_run {
	uint32_t job, worker;
	unsigned gen;             /* the worker's generation that ran it */
	int32_t next;             /* next run of the same job */
	uint8_t status;           /* enum work_status it will end with */
	uint8_t done, killed;
	uint64_t start_ms, duration_ms;
};

struct disp_node {
	uint8_t worker, slow, victim, caps; /* caps: bit per enum disp_kind */
	uint8_t client_victim;    /* a client that crashes and restarts */
	uint32_t capacity;
	uint32_t running;         /* runs not done in the current generation */
	uint32_t inflight;        /* client jobs not final */
	char id[CHORUS_ID_HEX + 1];
};

struct disp {
	struct sim sim;
	uint32_t n, workers, crash_workers, slow_workers, crash_clients;
	uint64_t client_restart_ms;
	struct disp_outcome *outcomes;
	size_t noutcomes, outcomes_cap;
	uint64_t client_crashes, resumed, resumed_dispatched, never_accepted, outcome_rows;
	uint64_t njobs, check_every;
	uint64_t submit_ms, deadline_ms, restart_ms;
	struct core_timing timing;  /* the cores' defaults */
	struct disp_node *nodes;
	struct disp_job *jobs;    /* spread jobs first, then the main ones */
	uint32_t nspread;
	uint32_t *ht;             /* job id -> index, open addressing */
	size_t ht_mask;
	struct disp_run *runs;
	size_t nruns, runs_cap;
	uint64_t nfinal, ends[END_COUNT];
	uint64_t reruns_after_restart, runs_lost, runs_killed, runs_after_final, multi_worker_jobs;
	uint64_t crashes, restarts, acks, checks, core_checks;
	const char *phase;
};

/* ---------------------------------------------------------------- tables */

static uint64_t disp_id_hash(const char *idhex)
{
	uint64_t h = 0;

	for (int i = 0; i < 16 && idhex[i] != '\0'; i++)
		h = (h << 4) | (uint64_t)(idhex[i] <= '9' ? idhex[i] - '0' : (idhex[i] | 0x20) - 'a' + 10);
	return h;
}

static void disp_ht_add(struct disp *d, uint32_t k)
{
	size_t i = disp_id_hash(d->jobs[k].id) & d->ht_mask;

	while (d->ht[i] != UINT32_MAX)
		i = (i + 1) & d->ht_mask;
	d->ht[i] = k;
}

/* The job with this id, or NULL after recording a failure that names who asked. */
static struct disp_job *disp_job_of(struct disp *d, const char *idhex, const char *who)
{
	size_t i = disp_id_hash(idhex) & d->ht_mask;

	for (; d->ht[i] != UINT32_MAX; i = (i + 1) & d->ht_mask)
		if (strcmp(d->jobs[d->ht[i]].id, idhex) == 0)
			return &d->jobs[d->ht[i]];
	sim_net_failf(&d->sim, "%s: job %.16s... was never submitted", who, idhex);
	return NULL;
}

static int64_t disp_node_of_hex(const struct disp *d, const char *idhex)
{
	for (uint32_t i = 0; i < d->n; i++)
		if (strcmp(d->nodes[i].id, idhex) == 0)
			return i;
	return -1;
}

static int disp_runs_kind(const struct disp *d, uint32_t node, unsigned kind)
{
	return d->nodes[node].worker && (d->nodes[node].caps & (1u << kind)) != 0;
}

/* What worker w produces for job j: it names the worker, so a result shows who made it. */
static size_t disp_result(const struct disp_job *j, uint32_t w, uint8_t out[DISP_RESULT_MAX])
{
	int len = snprintf((char *)out, DISP_RESULT_MAX, "n%" PRIu32 ":", w);

	assert(len > 0 && (size_t)len + j->payload_len <= DISP_RESULT_MAX);
	memcpy(out + len, j->payload, j->payload_len);
	return (size_t)len + j->payload_len;
}

/* ---------------------------------------------------------------- job_cb */

/*
 * Did a worker report this?  The client words it "KIND VERB on NAME[: error]"
 * (NAME is the worker's "n<index>"); it is explained only by a run of the job
 * on that worker that ended with that status.
 */
static int disp_worker_said(const struct disp *d, const struct disp_job *j, const char *reason,
                            const char *verb, enum work_status st)
{
	const char *kind = disp_kind_names[j->kind], *p;
	char *end;
	unsigned long w;

	if (strncmp(reason, kind, strlen(kind)) != 0 || (p = strstr(reason, verb)) == NULL ||
	    p != reason + strlen(kind) || p[strlen(verb)] != 'n')
		return 0;
	w = strtoul(p + strlen(verb) + 1, &end, 10);
	if (*end != '\0' && *end != ':')
		return 0;
	if (st == WORK_FAILED && strcmp(end, ": " DISP_ERROR) != 0)
		return 0;
	for (int32_t r = j->runs; r >= 0; r = d->runs[r].next)
		if (d->runs[r].worker == w && d->runs[r].done && !d->runs[r].killed &&
		    d->runs[r].status == st)
			return 1;
	return 0;
}

/* The reason a job failed, explained or flagged. */
static void disp_classify_failure(struct disp *d, struct disp_job *j, const struct job_view *jv)
{
	char want[CHORUS_JOB_REASON_MAX];
	const char *kind = disp_kind_names[j->kind];

	snprintf(want, sizeof(want), "no worker offered to run %s", kind);
	if (strcmp(jv->reason, want) == 0 && j->kind == KIND_NOBODY)
		j->end = END_NOBODY;
	else if (strncmp(jv->reason, want, strlen(want)) == 0 && j->kind != KIND_NOBODY)
		j->end = END_NO_OFFER; /* all busy or unreachable: says how many advertise it */
	else if (j->kind == KIND_NOBODY)
		sim_net_failf(&d->sim, "job %.16s of kind nobody failed with \"%s\", not \"%s\"", j->id,
		              jv->reason, want);
	else if (disp_worker_said(d, j, jv->reason, " failed on ", WORK_FAILED))
		j->end = END_SIMFAIL;
	else if (disp_worker_said(d, j, jv->reason, " timed out on ", WORK_TIMEOUT))
		j->end = END_TIMEOUT;
	else if (strncmp(jv->reason, "gave up after ", 14) == 0)
		j->end = END_GAVE_UP;
	else if (j->where_rack && strncmp(jv->reason, "no alive worker runs ", 21) == 0)
		j->end = END_UNMET; /* every worker of its rack that runs the kind was down */
	else
		sim_net_failf(&d->sim, "job %.16s (%s%s, timeout %" PRIu32 ") failed for a reason the "
		              "scenario cannot explain: \"%s\"", j->id, kind, j->fail ? ", to fail" : "",
		              j->timeout_ms, jv->reason);
}

/* A success must carry exactly what its OK attempt's worker produced, from a run that ended ok. */
static void disp_check_success(struct disp *d, struct disp_job *j, const struct job_view *jv)
{
	uint8_t want[DISP_RESULT_MAX];
	size_t want_len;
	int64_t w = -1;

	if (j->kind == KIND_NOBODY || j->fail) {
		sim_net_failf(&d->sim, "job %.16s (%s%s) succeeded", j->id, disp_kind_names[j->kind],
		              j->fail ? ", to fail" : "");
		return;
	}
	for (unsigned k = 0; k < jv->nattempts && w < 0; k++)
		if (jv->attempts[k].outcome == OUTCOME_OK)
			w = disp_node_of_hex(d, jv->attempts[k].worker);
	if (w < 0 || !d->nodes[w].worker) {
		sim_net_failf(&d->sim, "job %.16s succeeded without an ok attempt on a worker", j->id);
		return;
	}
	want_len = disp_result(j, (uint32_t)w, want);
	if (jv->result == NULL || jv->result_len != want_len || memcmp(jv->result, want, want_len)) {
		sim_net_failf(&d->sim, "job %.16s succeeded on node %" PRId64 " with a result of %zu "
		              "bytes that is not what it produced (%zu bytes)", j->id, w, jv->result_len,
		              want_len);
		return;
	}
	for (int32_t r = j->runs; r >= 0; r = d->runs[r].next)
		if (d->runs[r].worker == (uint32_t)w && d->runs[r].done && d->runs[r].status == WORK_OK &&
		    !d->runs[r].killed)
			return;
	sim_net_failf(&d->sim, "job %.16s succeeded on node %" PRId64 ", where no run of it ended ok",
	              j->id, w);
}

static void disp_job_final(struct disp *d, struct disp_job *j, const struct job_view *jv)
{
	j->final = 1;
	j->final_ms = d->sim.now_ms;
	d->nfinal++;
	assert(d->nodes[j->client].inflight > 0);
	d->nodes[j->client].inflight--;
	switch (jv->state) {
	case JOB_SUCCEEDED:
		j->end = END_OK;
		disp_check_success(d, j, jv);
		break;
	case JOB_CANCELLED:
		j->end = END_CANCELLED;
		if (!j->cancel_asked || strcmp(jv->reason, "cancelled by the client") != 0)
			sim_net_failf(&d->sim, "job %.16s cancelled (\"%s\") but we never cancelled it",
			              j->id, jv->reason);
		break;
	default:
		disp_classify_failure(d, j, jv);
		break;
	}
	d->ends[j->end]++;
	if (d->sim.p.verbose > 0)
		printf("t=%" PRIu64 " node=%" PRIu32 " sim job=%s end=%s attempts=%u\n", d->sim.now_ms,
		       j->client, j->id, disp_end_names[j->end], jv->nattempts);
}

/* A view's attempts, by worker node and outcome. */
static void disp_view_attempts(const struct disp *d, const struct job_view *jv, uint8_t *n,
                               uint32_t *worker, uint8_t *outcome)
{
	*n = 0;
	for (unsigned k = 0; k < jv->nattempts && k < CHORUS_JOB_ATTEMPTS_MAX; k++) {
		int64_t w = disp_node_of_hex(d, jv->attempts[k].worker);

		worker[*n] = w >= 0 ? (uint32_t)w : UINT32_MAX;
		outcome[(*n)++] = (uint8_t)jv->attempts[k].outcome;
	}
}

/*
 * The persist effect before a dispatch: the client's disk now holds the
 * attempts.  The newest one is running, on a worker that runs the kind.
 */
static void disp_attempt_cb(struct sim *sim, struct sim_node *n, const struct job_view *jv)
{
	struct disp *d = sim->hooks.ctx;
	struct disp_job *j = disp_job_of(d, jv->id, "attempt_cb");

	d->checks++;
	if (j == NULL)
		return;
	if (n->index != j->client || jv->nattempts == 0 ||
	    jv->attempts[jv->nattempts - 1].outcome != OUTCOME_RUNNING) {
		sim_net_failf(sim, "node %" PRIu32 " persisted an attempt of job %.16s (client %" PRIu32
		              ") that is not a running dispatch", n->index, j->id, j->client);
		return;
	}
	disp_view_attempts(d, jv, &j->p_n, j->p_worker, j->p_outcome);
	memcpy(j->l_worker, j->p_worker, sizeof(j->l_worker));
	memcpy(j->l_outcome, j->p_outcome, sizeof(j->l_outcome));
	j->l_n = j->p_n;
}

/* ---------------------------------------------------------------- the workers' outcome tables */

static struct disp_outcome *disp_outcome_find(struct disp *d, const struct disp_job *j, uint32_t w)
{
	for (int32_t r = j->outcomes; r >= 0; r = d->outcomes[r].next)
		if (d->outcomes[r].worker == w)
			return &d->outcomes[r];
	return NULL;
}

static void disp_outcome_put_cb(struct sim *sim, struct sim_node *n, const struct work_outcome *o)
{
	struct disp *d = sim->hooks.ctx;
	struct disp_job *j = disp_job_of(d, o->job_id, "outcome_put_cb");
	struct disp_outcome *row;

	d->checks++;
	if (j == NULL)
		return;
	if ((row = disp_outcome_find(d, j, n->index)) != NULL) {
		if (o->state == WORK_OUTCOME_FINAL)
			return; /* a FINAL never replaces a row */
		free((char *)row->o.receipt);
	} else {
		if (d->noutcomes == d->outcomes_cap) {
			size_t cap = d->outcomes_cap ? d->outcomes_cap * 2 : 1024;
			struct disp_outcome *v = realloc(d->outcomes, cap * sizeof(*v));

			if (v == NULL) {
				fprintf(stderr, "chorus-sim: out of memory (%zu outcome rows)\n", cap);
				exit(2);
			}
			d->outcomes = v;
			d->outcomes_cap = cap;
		}
		row = &d->outcomes[d->noutcomes];
		row->worker = n->index;
		row->next = j->outcomes;
		j->outcomes = (int32_t)d->noutcomes++;
		d->outcome_rows++;
	}
	row->o = *o;
	row->o.receipt = NULL;
	if (o->receipt_len > 0) {
		char *copy = malloc(o->receipt_len);

		if (copy == NULL) {
			fprintf(stderr, "chorus-sim: out of memory (a receipt)\n");
			exit(2);
		}
		memcpy(copy, o->receipt, o->receipt_len);
		row->o.receipt = copy;
	}
}

static int disp_outcome_get_cb(struct sim *sim, struct sim_node *n, const char *job_id,
                               struct work_outcome *out)
{
	struct disp *d = sim->hooks.ctx;
	struct disp_job *j = disp_job_of(d, job_id, "outcome_get_cb");
	const struct disp_outcome *row;

	d->checks++;
	if (j == NULL || (row = disp_outcome_find(d, j, n->index)) == NULL)
		return 0;
	*out = row->o;
	return 1;
}

static void disp_job_cb(struct sim *sim, struct sim_node *n, const struct job_view *jv)
{
	struct disp *d = sim->hooks.ctx;
	struct disp_job *j = disp_job_of(d, jv->id, "job_cb");

	d->checks++;
	if (j == NULL)
		return;
	if (n->index != j->client || !j->submitted) {
		sim_net_failf(sim, "node %" PRIu32 " reported job %.16s of node %" PRIu32
		              " (submitted %d)", n->index, j->id, j->client, j->submitted);
		return;
	}
	if (j->final) {
		sim_net_failf(sim, "job %.16s reported %s after it was final (%s)", j->id,
		              job_state_name(jv->state), job_state_name(j->state));
		return;
	}
	if (jv->nattempts < j->nattempts || jv->rounds < j->rounds ||
	    jv->nattempts > CHORUS_JOB_ATTEMPTS_MAX || (unsigned)jv->state > JOB_QUEUED) {
		sim_net_failf(sim, "job %.16s went back or out of bounds: attempts %u -> %u, rounds %u "
		              "-> %u, state %d", j->id, j->nattempts, jv->nattempts, j->rounds,
		              jv->rounds, jv->state);
		return;
	}
	j->state = (uint8_t)jv->state;
	j->nattempts = jv->nattempts;
	j->rounds = jv->rounds;
	disp_view_attempts(d, jv, &j->l_n, j->l_worker, j->l_outcome);
	if (j->first_worker < 0 && jv->nattempts > 0) {
		j->first_worker = disp_node_of_hex(d, jv->attempts[0].worker);
		j->first_load = jv->attempts[0].load;
		j->first_capacity = jv->attempts[0].capacity;
		if (j->first_worker < 0 || !disp_runs_kind(d, (uint32_t)j->first_worker, j->kind))
			sim_net_failf(sim, "job %.16s (%s) dispatched to node %" PRId64
			              ", which does not run it", j->id, disp_kind_names[j->kind],
			              j->first_worker);
	}
	if (JOB_STATE_FINAL(jv->state))
		disp_job_final(d, j, jv);
}

/* ---------------------------------------------------------------- the simulated worker */

static struct disp_run *disp_run_new(struct disp *d)
{
	if (d->nruns == d->runs_cap) {
		size_t cap = d->runs_cap ? d->runs_cap * 2 : 1024;
		struct disp_run *r = realloc(d->runs, cap * sizeof(*r));

		if (r == NULL) {
			fprintf(stderr, "chorus-sim: out of memory (%zu runs)\n", cap);
			exit(2);
		}
		d->runs = r;
		d->runs_cap = cap;
	}
	memset(&d->runs[d->nruns], 0, sizeof(d->runs[0]));
	return &d->runs[d->nruns++];
}

/* Never twice on one worker generation; a restarted worker forgot, and may run it again. */
static int disp_check_once(struct disp *d, const struct disp_job *j, uint32_t w, unsigned gen)
{
	int other = 0;

	for (int32_t r = j->runs; r >= 0; r = d->runs[r].next) {
		if (d->runs[r].worker != w) {
			other = 1;
			continue;
		}
		if (d->runs[r].gen == gen) {
			sim_net_failf(&d->sim, "job %.16s ran twice on node %" PRIu32 " generation %u",
			              j->id, w, gen);
			return -1;
		}
		d->reruns_after_restart++;
	}
	if (other && j->runs >= 0 && d->runs[j->runs].next < 0)
		d->multi_worker_jobs++; /* counted once: when its second run starts */
	return 0;
}

/*
 * A job starts on worker n while it ran before: each earlier run must be on
 * a worker that really died since (crashed: another generation now, or
 * down), or the client's latest word on its attempt there must say it gave
 * up on it for good reason: timed out, no answer to the dispatch, or dead.
 */
static int disp_check_exactly_once(struct disp *d, const struct disp_job *j,
                                   const struct sim_node *n)
{
	for (int32_t r = j->runs; r >= 0; r = d->runs[r].next) {
		const struct disp_run *run = &d->runs[r];
		const struct sim_node *v = &d->sim.nodes[run->worker];
		int excused = v->core == NULL || v->ngens != run->gen;

		for (unsigned k = 0; k < j->l_n && !excused; k++)
			excused = j->l_worker[k] == run->worker &&
			          (j->l_outcome[k] == OUTCOME_TIMEOUT ||
			           j->l_outcome[k] == OUTCOME_WORKER_DEAD);
		if (!excused) {
			sim_net_failf(&d->sim, "job %.16s starts on node %" PRIu32 " while it ran on node %"
			              PRIu32 " (generation %u), which neither died nor timed out", j->id,
			              n->index, run->worker, run->gen);
			return -1;
		}
	}
	return 0;
}

/* How long the run takes and how it ends: all decided now, from the one PRNG. */
static void disp_run_plan(struct disp *d, const struct disp_job *j, uint32_t w, uint32_t timeout_ms,
                          struct disp_run *r)
{
	uint64_t ms;

	if (j->hold)
		ms = DISP_HOLD_MS;
	else if (j->kind == KIND_SLOW)
		ms = 1000 + sim_rng_below(&d->sim.rng, 3001);
	else
		ms = 20 + sim_rng_below(&d->sim.rng, 281);
	if (d->nodes[w].slow && !j->hold)
		ms *= DISP_SLOW_FACTOR; /* hold jobs stay within the default timeout */
	r->status = j->fail ? WORK_FAILED : WORK_OK;
	if (ms > timeout_ms) {
		ms = timeout_ms; /* the runner kills it at its timeout */
		r->status = WORK_TIMEOUT;
	}
	r->duration_ms = ms;
}

static int disp_run_cb(struct sim *sim, struct sim_node *n, const char *job_id, const char *kind,
                       const uint8_t *payload, size_t len, uint32_t timeout_ms)
{
	struct disp *d = sim->hooks.ctx;
	struct disp_job *j = disp_job_of(d, job_id, "run_cb");
	struct disp_node *dn = &d->nodes[n->index];
	struct disp_run *r;

	d->checks++;
	if (j == NULL)
		return 0;
	if (strcmp(kind, disp_kind_names[j->kind]) != 0 || len != j->payload_len ||
	    memcmp(payload, j->payload, len) != 0) {
		sim_net_failf(sim, "node %" PRIu32 " was given job %.16s with kind %s and %zu payload "
		              "bytes, not what was submitted", n->index, j->id, kind, len);
		return 0;
	}
	if (!disp_runs_kind(d, n->index, j->kind) || dn->running >= dn->capacity) {
		sim_net_failf(sim, "node %" PRIu32 " started job %.16s (%s) with %" PRIu32 "/%" PRIu32
		              " running", n->index, j->id, kind, dn->running, dn->capacity);
		return 0;
	}
	if (j->where_rack && n->index % 2 != j->where_rack - 1u) {
		sim_net_failf(sim, "node %" PRIu32 " (rack=r%" PRIu32 ") started job %.16s, whose "
		              "constraint is rack=r%u", n->index, n->index % 2, j->id, j->where_rack - 1u);
		return 0;
	}
	if (timeout_ms != (j->timeout_ms ? j->timeout_ms : d->timing.job_timeout_ms)) {
		sim_net_failf(sim, "job %.16s reached the worker with timeout %" PRIu32 ", not %" PRIu32,
		              j->id, timeout_ms, j->timeout_ms ? j->timeout_ms : d->timing.job_timeout_ms);
		return 0;
	}
	if (disp_check_once(d, j, n->index, n->ngens) != 0 || disp_check_exactly_once(d, j, n) != 0)
		return 0;
	d->runs_after_final += j->final;
	r = disp_run_new(d);
	r->job = (uint32_t)(j - d->jobs);
	r->worker = n->index;
	r->gen = n->ngens;
	r->next = j->runs;
	r->start_ms = sim->now_ms;
	disp_run_plan(d, j, n->index, timeout_ms, r);
	j->runs = (int32_t)(d->nruns - 1);
	dn->running++;
	sim_net_schedule_call(sim, n->index, sim->now_ms + r->duration_ms, DISP_ARG(OP_DONE, j->runs));
	return 0;
}

/* The client cancelled: the runner kills the process, and core_work_done() follows. */
static void disp_kill_cb(struct sim *sim, struct sim_node *n, const char *job_id)
{
	struct disp *d = sim->hooks.ctx;
	struct disp_job *j = disp_job_of(d, job_id, "kill_cb");

	d->checks++;
	if (j == NULL)
		return;
	for (int32_t r = j->runs; r >= 0; r = d->runs[r].next) {
		struct disp_run *run = &d->runs[r];

		if (run->worker == n->index && run->gen == n->ngens && !run->done && !run->killed) {
			run->killed = 1;
			d->runs_killed++;
			sim_net_schedule_call(sim, n->index, sim->now_ms + 1, DISP_ARG(OP_DONE, r));
			return;
		}
	}
	sim_net_failf(sim, "node %" PRIu32 " was asked to kill job %.16s, which it is not running",
	              n->index, j->id);
}

/* A run's end fell due: report it, unless the worker crashed since (then nobody ever will). */
static void disp_run_done(struct disp *d, struct sim_node *n, struct disp_run *r)
{
	const struct disp_job *j = &d->jobs[r->job];
	uint8_t result[DISP_RESULT_MAX];
	size_t len = 0;
	enum work_status st = r->killed ? WORK_CANCELLED : (enum work_status)r->status;
	int err;

	if (r->done)
		return; /* killed and reported already */
	r->done = 1;
	if (n->core == NULL || n->ngens != r->gen) {
		d->runs_lost++;
		return;
	}
	if (st == WORK_OK)
		len = disp_result(j, n->index, result);
	err = core_work_done(n->core, j->id, st, result, len, st == WORK_FAILED ? DISP_ERROR : NULL,
	                     d->sim.now_ms - r->start_ms, d->sim.now_ms);
	if (err != 0)
		sim_net_failf(&d->sim, "node %" PRIu32 ": core_work_done(%.16s): %s", n->index, j->id,
		              core_strerror(err));
	assert(d->nodes[n->index].running > 0);
	d->nodes[n->index].running--;
}

static void disp_ack_cb(struct sim *sim, struct sim_node *n, const struct job_ack *ack)
{
	struct disp *d = sim->hooks.ctx;
	struct disp_job *j = disp_job_of(d, ack->job_id, "ack_cb");

	d->checks++;
	d->acks++;
	if (j == NULL)
		return;
	j->acks++;
	if (!j->final || strcmp(ack->status, job_state_name(j->state)) != 0 ||
	    memcmp(ack->client, sim->nodes[j->client].pk, CHORUS_PK_BYTES) != 0)
		sim_net_failf(sim, "node %" PRIu32 " saw an ack for job %.16s saying %s, while its "
		              "client says %s%s", n->index, j->id, ack->status,
		              job_state_name(j->state), j->final ? "" : " (not final)");
}

/* ---------------------------------------------------------------- calls and steps */

/* The job's constraint, as a client stores and submits it. */
static void disp_where(const struct disp_job *j, struct job_spec *spec)
{
	if (j->where_rack == 0)
		return;
	snprintf(spec->where[0].key, sizeof(spec->where[0].key), "rack");
	snprintf(spec->where[0].value, sizeof(spec->where[0].value), "r%u", j->where_rack - 1u);
	spec->nwhere = 1;
}

static void disp_submit(struct disp *d, struct sim_node *n, struct disp_job *j)
{
	char id[CHORUS_JOB_ID_HEX + 1];
	struct job_spec spec;
	int err;

	assert(!j->submitted);
	if (n->core == NULL) { /* the client is down: the submit finds no one, nothing accepted */
		j->never_accepted = 1;
		d->never_accepted++;
		return;
	}
	memset(&spec, 0, sizeof(spec));
	snprintf(spec.kind, sizeof(spec.kind), "%s", disp_kind_names[j->kind]);
	spec.payload = j->payload;
	spec.payload_len = j->payload_len;
	spec.timeout_ms = j->timeout_ms;
	spec.nonce = (uint64_t)(j - d->jobs) + 1;
	spec.created_ms = SIM_EPOCH_MS + d->sim.now_ms;
	disp_where(j, &spec);
	/* Accepted before the call: a job whose constraint nobody meets ends inside it. */
	j->submitted = 1;
	j->submitted_ms = d->sim.now_ms;
	j->life = (uint8_t)n->ngens;
	d->nodes[n->index].inflight++;
	err = core_job_submit(n->core, &spec, id, d->sim.now_ms);
	if (err != 0 || strcmp(id, j->id) != 0)
		sim_net_failf(&d->sim, "node %" PRIu32 ": core_job_submit: %s (id %.16s, expected %.16s)",
		              n->index, core_strerror(err), err == 0 ? id : "-", j->id);
}

static void disp_cancel(struct disp *d, struct sim_node *n, struct disp_job *j)
{
	int was_final = j->final, err;

	assert(j->submitted);
	j->cancel_asked = 1;
	err = core_job_cancel(n->core, j->id, d->sim.now_ms);
	/* An error must mean it was final already; 0 must have made it final (job_cb). */
	if (was_final ? err == 0 : (err != 0 || !j->final))
		sim_net_failf(&d->sim, "node %" PRIu32 ": core_job_cancel(%.16s): %s while the job "
		              "was %s", n->index, j->id, core_strerror(err),
		              was_final ? "final" : "in flight");
}

/* The restarted client resumes what its disk holds as not final, attempts and all. */
static void disp_resume(struct disp *d, struct sim_node *n)
{
	struct job_attempt attempts[CHORUS_JOB_ATTEMPTS_MAX];
	char id[CHORUS_JOB_ID_HEX + 1];
	struct job_spec spec;
	int err;

	if (n->core == NULL)
		return;
	for (uint32_t k = 0; k < d->nspread + d->njobs; k++) {
		struct disp_job *j = &d->jobs[k];

		if (j->client != n->index || !j->submitted || j->final || j->life == n->ngens)
			continue; /* not its job, not on its disk, ended, or submitted since the restart */
		j->life = (uint8_t)n->ngens;
		memset(&spec, 0, sizeof(spec));
		snprintf(spec.kind, sizeof(spec.kind), "%s", disp_kind_names[j->kind]);
		spec.payload = j->payload;
		spec.payload_len = j->payload_len;
		spec.timeout_ms = j->timeout_ms;
		spec.nonce = (uint64_t)k + 1;
		spec.created_ms = SIM_EPOCH_MS + j->submitted_ms;
		disp_where(j, &spec); /* kept on the client's disk with the job */
		memset(attempts, 0, sizeof(attempts));
		for (unsigned a = 0; a < j->p_n; a++) {
			if (j->p_worker[a] < d->n) {
				snprintf(attempts[a].worker, sizeof(attempts[a].worker), "%s",
				         d->nodes[j->p_worker[a]].id);
				snprintf(attempts[a].worker_name, sizeof(attempts[a].worker_name),
				         "n%" PRIu32, j->p_worker[a]);
			}
			attempts[a].outcome = (enum job_outcome)j->p_outcome[a];
		}
		spec.attempts = attempts;
		spec.nattempts = j->p_n;
		j->rounds = 0; /* the resumed job's rounds start over */
		j->l_n = j->p_n;
		memcpy(j->l_worker, j->p_worker, sizeof(j->l_worker));
		memcpy(j->l_outcome, j->p_outcome, sizeof(j->l_outcome));
		d->nodes[n->index].inflight++; /* before: it may end inside the call (its constraint) */
		err = core_job_submit(n->core, &spec, id, d->sim.now_ms);
		if (err != 0) {
			sim_net_failf(&d->sim, "node %" PRIu32 ": resuming job %.16s: %s", n->index, j->id,
			              core_strerror(err));
			return;
		}
		d->resumed++;
		d->resumed_dispatched += j->p_n > 0;
	}
}

static void disp_restart(struct disp *d, uint32_t w)
{
	uint32_t seed = 0;

	d->nodes[w].running = 0;
	if (sim_net_up(&d->sim, w, &seed, 1) == 0)
		d->restarts++;
}

static void disp_call_cb(struct sim *sim, struct sim_node *n, uint64_t arg)
{
	struct disp *d = sim->hooks.ctx;
	uint64_t i = arg & ((1ULL << 56) - 1);

	switch (arg >> 56) {
	case OP_SUBMIT: disp_submit(d, n, &d->jobs[i]); break;
	case OP_CANCEL: disp_cancel(d, n, &d->jobs[i]); break;
	case OP_DONE: disp_run_done(d, n, &d->runs[i]); break;
	case OP_CRASH:
		sim_net_crash(sim, n->index);
		d->nodes[n->index].running = 0; /* its runs never end now */
		d->nodes[n->index].inflight = 0; /* its client jobs wait on its disk */
		if (d->nodes[n->index].worker)
			d->crashes++;
		else
			d->client_crashes++;
		break;
	case OP_RESTART:
		disp_restart(d, n->index);
		if (!d->nodes[n->index].worker) /* a client: its jobs, once it is back among members */
			sim_net_schedule_call(sim, n->index, sim->now_ms + DISP_RESUME_MS,
			                      DISP_ARG(OP_RESUME, n->index));
		break;
	case OP_RESUME: disp_resume(d, n); break;
	default: assert(0 && "unknown call");
	}
}

static void disp_step_cb(struct sim *sim, struct sim_node *n)
{
	struct disp *d = sim->hooks.ctx;
	const struct disp_node *dn = &d->nodes[n->index];
	const char *why;

	if (n->core == NULL)
		return;
	d->checks++;
	if (core_work_running(n->core) != dn->running || core_jobs_inflight(n->core) != dn->inflight) {
		sim_net_failf(sim, "node %" PRIu32 ": core has %zu running works and %zu client jobs in "
		              "flight; the scenario counts %" PRIu32 " and %" PRIu32, n->index,
		              core_work_running(n->core), core_jobs_inflight(n->core), dn->running,
		              dn->inflight);
		return;
	}
	if (sim->steps % d->check_every == 0) {
		d->core_checks++;
		if ((why = core_check(n->core)) != NULL)
			sim_net_failf(sim, "node %" PRIu32 ": core_check: %s", n->index, why);
	}
}

static void disp_config_cb(struct sim *sim, struct sim_node *n, struct core_config *cfg)
{
	struct disp *d = sim->hooks.ctx;
	const struct disp_node *dn = &d->nodes[n->index];

	cfg->ncaps = 0;
	if (!dn->worker)
		return;
	for (unsigned k = 0; k < KIND_END; k++)
		if (dn->caps & (1u << k))
			snprintf(cfg->caps[cfg->ncaps++], sizeof(cfg->caps[0]), "%s", disp_kind_names[k]);
	cfg->capacity = dn->capacity;
	/* Workers are in two racks by index: what constrained jobs ask for (disp_where). */
	snprintf(cfg->tags[0].key, sizeof(cfg->tags[0].key), "rack");
	snprintf(cfg->tags[0].value, sizeof(cfg->tags[0].value), "r%" PRIu32, n->index % 2);
	cfg->ntags = 1;
}

static void disp_start_cb(struct sim *sim, struct sim_node *n)
{
	uint32_t seed = 0;

	sim_net_up(sim, n->index, &seed, n->index != 0);
}

/* ---------------------------------------------------------------- set-up */

/* Each kind a worker runs keeps at least one worker that never crashes: liveness needs it. */
static int disp_spares_ok(const struct disp *d)
{
	for (unsigned k = 0; k < KIND_NOBODY; k++) {
		int spare = 0;

		for (uint32_t w = 1; w <= d->workers && !spare; w++)
			spare = disp_runs_kind(d, w, k) && !d->nodes[w].victim;
		if (!spare)
			return 0;
	}
	return 1;
}

/* Workers are nodes 1..W: "echo" on all, "slow" on every second one, capacity 1..4. */
static void disp_setup_roles(struct disp *d)
{
	struct sim_rng *rng = &d->sim.rng;

	for (uint32_t i = 0; i < d->n; i++) {
		struct disp_node *dn = &d->nodes[i];

		sodium_bin2hex(dn->id, sizeof(dn->id), d->sim.nodes[i].pk, CHORUS_PK_BYTES);
		if (i == 0 || i > d->workers)
			continue;
		dn->worker = 1;
		dn->caps = (1u << KIND_ECHO) | (i % 2 == 0 ? 1u << KIND_SLOW : 0);
		dn->capacity = 1 + (uint32_t)sim_rng_below(rng, 4);
	}
	for (uint32_t k = 0; k < d->slow_workers;) {
		uint32_t w = 1 + (uint32_t)sim_rng_below(rng, d->workers);

		k += !d->nodes[w].slow;
		d->nodes[w].slow = 1;
	}
	for (uint32_t k = 0; k < d->crash_clients;) { /* never node 0: everyone joins through it */
		uint32_t c = d->workers + 1 + (uint32_t)sim_rng_below(rng, d->n - d->workers - 1);

		k += !d->nodes[c].client_victim;
		d->nodes[c].client_victim = 1;
	}
	for (uint32_t k = 0; k < d->crash_workers;) {
		uint32_t w = 1 + (uint32_t)sim_rng_below(rng, d->workers);

		if (d->nodes[w].victim)
			continue;
		d->nodes[w].victim = 1;
		if (disp_spares_ok(d))
			k++;
		else
			d->nodes[w].victim = 0;  /* crash_workers < workers: another choice exists */
	}
}

/* One job's make-up; spread jobs are "hold" echo jobs of node 0. */
static void disp_setup_job(struct disp *d, uint32_t k, const uint32_t *clients, uint32_t nclients)
{
	struct sim_rng *rng = &d->sim.rng;
	struct disp_job *j = &d->jobs[k];
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint64_t roll = sim_rng_below(rng, 100);

	j->first_worker = -1;
	j->runs = -1;
	j->outcomes = -1;
	j->payload_len = 8 + (uint32_t)sim_rng_below(rng, DISP_PAYLOAD_MAX - 8 + 1);
	for (uint32_t b = 0; b < j->payload_len; b++)
		j->payload[b] = (uint8_t)sim_rng_next(rng);
	if (k < d->nspread) {
		j->hold = 1;
		j->kind = KIND_ECHO;
	} else {
		j->client = clients[sim_rng_below(rng, nclients)];
		/* The first main job is always of the kind nobody runs, so every run checks it. */
		j->kind = k == d->nspread || roll >= 93 ? KIND_NOBODY : roll >= 75 ? KIND_SLOW : KIND_ECHO;
		j->fail = sim_rng_below(rng, 100) < 4;
		j->timeout_ms = sim_rng_below(rng, 100) < 10 ? DISP_SHORT_TIMEOUT_MS : 0;
		j->cancel_asked = sim_rng_below(rng, 100) < 5; /* a plan until the cancel happens */
		/* About one in ten echo or slow jobs wants a rack (no draw: the other jobs keep theirs). */
		if (j->kind != KIND_NOBODY && roll % 10 == 3)
			j->where_rack = (uint8_t)(1 + k % 2);
	}
	core_job_id(id, d->sim.nodes[j->client].pk, (uint64_t)k + 1);
	sodium_bin2hex(j->id, sizeof(j->id), id, sizeof(id));
	disp_ht_add(d, k);
}

static int disp_alloc(struct disp *d)
{
	size_t total = d->nspread + d->njobs, size = 1;
	uint32_t *clients, nclients = 0;

	while (size < 2 * total)
		size <<= 1;
	d->nodes = calloc(d->n, sizeof(*d->nodes));
	d->jobs = calloc(total, sizeof(*d->jobs));
	d->ht = malloc(size * sizeof(*d->ht));
	clients = malloc(d->n * sizeof(*clients));
	if (d->nodes == NULL || d->jobs == NULL || d->ht == NULL || clients == NULL) {
		free(clients);
		return -1;
	}
	memset(d->ht, 0xff, size * sizeof(*d->ht));
	d->ht_mask = size - 1;
	disp_setup_roles(d);
	for (uint32_t i = 0; i < d->n; i++)
		if (!d->nodes[i].worker)
			clients[nclients++] = i;
	assert(nclients > 0);
	for (uint32_t k = 0; k < total; k++)
		disp_setup_job(d, k, clients, nclients);
	free(clients);
	return 0;
}

static void disp_free(struct disp *d)
{
	free(d->nodes);
	free(d->jobs);
	free(d->ht);
	free(d->runs);
	for (size_t r = 0; r < d->noutcomes; r++)
		free((char *)d->outcomes[r].o.receipt);
	free(d->outcomes);
	sim_net_free(&d->sim);
}

/* ---------------------------------------------------------------- phases */

static int disp_phase_join(struct disp *d)
{
	struct sim *sim = &d->sim;
	int r;

	d->phase = "join";
	sim_net_schedule_start(sim, 0, SIM_T0_MS);
	for (uint32_t i = 1; i < d->n; i++)
		sim_net_schedule_start(sim, i, SIM_T0_MS + 1 + sim_rng_below(&sim->rng, DISP_STORM_MS));
	if (sim_net_run(sim, SIM_T0_MS + DISP_STORM_MS + 1, NULL, NULL) < 0)
		return -1;
	r = sim_net_run_converge(sim, SIM_T0_MS + DISP_JOIN_DEADLINE_MS, DISP_SLICE_MS);
	if (r == 0)
		sim_net_failf(sim, "liveness (join): membership did not converge in %d ms",
		              DISP_JOIN_DEADLINE_MS);
	if (r <= 0)
		return -1;
	printf("join: converged_ms=%" PRIu64 " (checked every %d ms)\n", (uint64_t)(sim->now_ms - SIM_T0_MS),
	       DISP_SLICE_MS);
	return 0;
}

static int disp_accepted(struct sim *sim, void *arg)
{
	const struct disp_job *j = arg;

	(void)sim;
	return j->state == JOB_RUNNING || j->final;
}

/*
 * The ranking check.  A client cannot show us the offers it ranked, but the
 * scenario can make the right choice unique: with no loss, all workers idle
 * and every offer in hand before the window closes (so the phase runs without
 * loss, and with latencies clamped below half the window), jobs submitted one at a
 * time (each after the previous was accepted, all still running) must each
 * go to a worker with load 0 — the earlier jobs' workers offer load >= 1/4,
 * and the jitter (< 0.001) only breaks ties — so the first W dispatches land
 * on W distinct workers, each at its first attempt.
 */
static int disp_phase_spread(struct disp *d)
{
	struct sim *sim = &d->sim;
	struct sim_params saved = sim->p;
	uint32_t latency_cap_ms = d->timing.offer_window_ms / 2 - 1;
	uint8_t *used = calloc(d->n, 1);
	uint32_t distinct = 0, idle = 0, first = 0;

	if (used == NULL)
		return -1;
	assert(d->timing.offer_window_ms >= 4);
	d->phase = "spread";
	sim->p.loss = 0.0;
	if (sim->p.latency_max_ms > latency_cap_ms)
		sim->p.latency_max_ms = latency_cap_ms;
	if (sim->p.latency_min_ms > sim->p.latency_max_ms)
		sim->p.latency_min_ms = sim->p.latency_max_ms;
	for (uint32_t k = 0; k < d->nspread && !sim->failed; k++) {
		struct disp_job *j = &d->jobs[k];

		sim_net_schedule_call(sim, j->client, sim->now_ms, DISP_ARG(OP_SUBMIT, k));
		if (sim_net_run(sim, sim->now_ms + DISP_SPREAD_WAIT_MS, disp_accepted, j) == 0)
			sim_net_failf(sim, "liveness (spread): job %.16s not accepted in %d ms", j->id,
			              DISP_SPREAD_WAIT_MS);
		if (sim->failed)
			break;
		distinct += j->first_worker >= 0 && !used[j->first_worker];
		if (j->first_worker >= 0)
			used[j->first_worker] = 1;
		idle += j->first_load == 0;
		first += j->nattempts == 1 && j->state == JOB_RUNNING;
	}
	sim->p = saved;
	free(used);
	if (sim->failed)
		return -1;
	printf("spread: jobs=%" PRIu32 " distinct_workers=%" PRIu32 " offered_load_zero=%" PRIu32
	       " accepted_at_first_attempt=%" PRIu32 "\n", d->nspread, distinct, idle, first);
	if (distinct != d->nspread || idle != d->nspread || first != d->nspread)
		sim_net_failf(sim, "ranking (spread): %" PRIu32 " jobs, one at a time on idle workers, "
		              "went to %" PRIu32 " distinct workers (%" PRIu32 " offered load 0, %" PRIu32
		              " at the first attempt)", d->nspread, distinct, idle, first);
	return sim->failed ? -1 : 0;
}

/* Submits (and cancels) at random instants of the window; crashes in its middle three fifths. */
static void disp_schedule(struct disp *d, uint64_t t0)
{
	struct sim *sim = &d->sim;

	for (uint32_t k = d->nspread; k < d->nspread + d->njobs; k++) {
		struct disp_job *j = &d->jobs[k];
		uint64_t at = t0 + sim_rng_below(&sim->rng, d->submit_ms);

		sim_net_schedule_call(sim, j->client, at, DISP_ARG(OP_SUBMIT, k));
		if (d->nodes[j->client].client_victim)
			j->cancel_asked = 0; /* its client may be down then: cancels are tested elsewhere */
		if (j->cancel_asked) {
			j->cancel_asked = 0;
			at += 1 + sim_rng_below(&sim->rng, DISP_CANCEL_MAX_MS);
			sim_net_schedule_call(sim, j->client, at, DISP_ARG(OP_CANCEL, k));
		}
	}
	for (uint32_t w = 1; w <= d->workers; w++) {
		uint64_t at = t0 + d->submit_ms / 5 + sim_rng_below(&sim->rng, d->submit_ms * 3 / 5 + 1);

		if (!d->nodes[w].victim)
			continue;
		sim_net_schedule_call(sim, w, at, DISP_ARG(OP_CRASH, w));
		if (d->restart_ms > 0)
			sim_net_schedule_call(sim, w, at + d->restart_ms, DISP_ARG(OP_RESTART, w));
	}
	/* Clients crash while they submit, and always come back (their jobs wait on their disk). */
	for (uint32_t c = d->workers + 1; c < d->n; c++) {
		uint64_t at = t0 + d->submit_ms / 5 + sim_rng_below(&sim->rng, d->submit_ms * 3 / 5 + 1);

		if (!d->nodes[c].client_victim)
			continue;
		sim_net_schedule_call(sim, c, at, DISP_ARG(OP_CRASH, c));
		sim_net_schedule_call(sim, c, at + d->client_restart_ms, DISP_ARG(OP_RESTART, c));
	}
}

static int disp_all_final(struct sim *sim, void *arg)
{
	const struct disp *d = arg;

	(void)sim;
	return d->nfinal + d->never_accepted == d->nspread + d->njobs;
}

static void disp_fail_liveness(struct disp *d)
{
	for (uint32_t k = 0; k < d->nspread + d->njobs; k++) {
		const struct disp_job *j = &d->jobs[k];

		if (j->final || j->never_accepted)
			continue;
		sim_net_failf(&d->sim, "liveness (jobs): at the deadline job %.16s (%s, client %" PRIu32
		              ", submitted %d at %" PRIu64 ") is %s after %u attempts in %u rounds; %"
		              PRIu64 " jobs not final", j->id, disp_kind_names[j->kind], j->client,
		              j->submitted, j->submitted_ms, job_state_name(j->state), j->nattempts,
		              j->rounds, d->nspread + d->njobs - d->nfinal);
		return;
	}
}

static int disp_phase_jobs(struct disp *d)
{
	struct sim *sim = &d->sim;
	uint64_t t0 = sim->now_ms;
	int r;

	d->phase = "jobs";
	disp_schedule(d, t0);
	r = sim_net_run(sim, t0 + d->submit_ms + d->deadline_ms, disp_all_final, d);
	if (r == 0)
		disp_fail_liveness(d);
	if (r <= 0)
		return -1;
	printf("jobs: all_final_ms=%" PRIu64 " after_window_ms=%" PRId64 "\n", sim->now_ms - t0,
	       (int64_t)(sim->now_ms - t0) - (int64_t)d->submit_ms);
	return 0;
}

/* Late frames (acks, duplicate dispatches, receipts) still play out; then every core is checked. */
static int disp_phase_drain(struct disp *d)
{
	struct sim *sim = &d->sim;
	const char *why;

	d->phase = "drain";
	if (sim_net_run(sim, sim->now_ms + DISP_DRAIN_MS, NULL, NULL) < 0)
		return -1;
	for (uint32_t i = 0; i < d->n; i++) {
		if (sim->nodes[i].core == NULL)
			continue;
		d->core_checks++;
		if ((why = core_check(sim->nodes[i].core)) != NULL) {
			sim_net_failf(sim, "drain: node %" PRIu32 ": core_check: %s", i, why);
			return -1;
		}
	}
	d->phase = "done";
	return 0;
}

/* ---------------------------------------------------------------- report */

static int disp_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void disp_print_jobs(const struct disp *d)
{
	uint64_t failed = 0;

	for (unsigned e = END_NOBODY; e < END_COUNT; e++)
		failed += d->ends[e];
	printf("jobs: submitted=%" PRIu64 " final=%" PRIu64 " succeeded=%" PRIu64 " failed=%" PRIu64
	       " cancelled=%" PRIu64 "\n", d->nspread + d->njobs, d->nfinal, d->ends[END_OK], failed,
	       d->ends[END_CANCELLED]);
	printf("  failed by reason:");
	for (unsigned e = END_NOBODY; e < END_COUNT; e++)
		printf(" %s=%" PRIu64, disp_end_names[e] + 7, d->ends[e]);
	printf("\n");
	{
		uint64_t where = 0, where_ok = 0;

		for (uint64_t k = 0; k < d->nspread + d->njobs; k++) {
			where += d->jobs[k].where_rack != 0;
			where_ok += d->jobs[k].where_rack != 0 && d->jobs[k].final && d->jobs[k].end == END_OK;
		}
		printf("  constrained (--where rack=rN): %" PRIu64 ", succeeded %" PRIu64
		       " (each on a worker of its rack)\n", where, where_ok);
	}
}

/* Attempts, failovers (attempts after the first), re-broadcasts, and the load chosen first. */
static void disp_print_attempts(const struct disp *d)
{
	uint64_t dialled = 0, attempts = 0, failovers = 0, rebroadcasts = 0, ranked = 0;
	unsigned max = 0;
	double frac = 0.0;

	for (uint32_t k = 0; k < d->nspread + d->njobs; k++) {
		const struct disp_job *j = &d->jobs[k];

		rebroadcasts += j->rounds > 1 ? j->rounds - 1 : 0;
		if (j->nattempts == 0)
			continue;
		dialled++;
		attempts += j->nattempts;
		failovers += j->nattempts - 1;
		max = j->nattempts > max ? j->nattempts : max;
		if (j->first_capacity > 0) {
			ranked++;
			frac += (double)j->first_load / (double)j->first_capacity;
		}
	}
	printf("attempts: dispatched_jobs=%" PRIu64 " mean=%.2f max=%u failovers=%" PRIu64
	       " rebroadcasts=%" PRIu64 " first_offer_load_mean=%.3f\n", dialled,
	       dialled ? (double)attempts / (double)dialled : 0.0, max, failovers, rebroadcasts,
	       ranked ? frac / (double)ranked : 0.0);
}

static void disp_print_latency(const struct disp *d)
{
	uint64_t *v = malloc((d->nspread + d->njobs + 1) * sizeof(*v));
	size_t n = 0;

	if (v == NULL)
		return;
	for (uint32_t k = 0; k < d->nspread + d->njobs; k++)
		if (d->jobs[k].final && d->jobs[k].end == END_OK && !d->jobs[k].hold)
			v[n++] = d->jobs[k].final_ms - d->jobs[k].submitted_ms;
	qsort(v, n, sizeof(*v), disp_cmp_u64);
	if (n > 0)
		printf("latency_ms (succeeded, not spread): n=%zu p50=%" PRIu64 " p99=%" PRIu64
		       " max=%" PRIu64 "\n", n, v[(n - 1) * 50 / 100], v[(n - 1) * 99 / 100], v[n - 1]);
	else
		printf("latency_ms (succeeded, not spread): n=0\n");
	free(v);
}

static void disp_print_totals(const struct disp *d)
{
	const struct sim *sim = &d->sim;
	uint64_t frames, bytes, jf = 0, jb = 0, jobs = d->nspread + d->njobs;

	for (unsigned t = WIRE_REQUEST; t <= WIRE_JOBACK; t++) {
		jf += sim->type_frames[t];
		jb += sim->type_bytes[t];
	}
	sim_net_sum_stats(sim, &frames, &bytes);
	printf("runs: started=%zu on_two_or_more_workers=%" PRIu64 " reruns_after_restart=%" PRIu64
	       " lost_to_crashes=%" PRIu64 " killed=%" PRIu64 " after_final=%" PRIu64 "\n", d->nruns,
	       d->multi_worker_jobs, d->reruns_after_restart, d->runs_lost, d->runs_killed,
	       d->runs_after_final);
	printf("workers: crashed=%" PRIu64 " restarted=%" PRIu64 " outcome_rows=%" PRIu64 "\n",
	       d->crashes, d->restarts, d->outcome_rows);
	printf("clients: crashed=%" PRIu64 " jobs_resumed=%" PRIu64 " of_them_dispatched_before=%"
	       PRIu64 " submits_never_accepted=%" PRIu64 "\n", d->client_crashes, d->resumed,
	       d->resumed_dispatched, d->never_accepted);
	printf("messages: job_frames_per_job=%.1f job_bytes_per_job=%.0f all_frames_per_job=%.1f "
	       "acks_seen_per_job=%.1f\n", (double)jf / (double)jobs, (double)jb / (double)jobs,
	       (double)frames / (double)jobs, (double)d->acks / (double)jobs);
	printf("total: virtual_s=%.3f steps=%" PRIu64 " frames_sent=%" PRIu64 " delivered=%" PRIu64
	       " lost=%" PRIu64 " to_down=%" PRIu64 " timer_spins=%" PRIu64 "\n",
	       (double)(sim->now_ms - SIM_T0_MS) / 1000.0, sim->steps, sim->frames_sent,
	       sim->frames_delivered, sim->drop_loss, sim->drop_down, sim->timer_spins_total);
	if (sim->now_ms > SIM_T0_MS)
		sim_net_print_types(sim, NULL, NULL, sim->now_ms - SIM_T0_MS);
	printf("invariant_checks: callbacks_and_steps=%" PRIu64 " core_check=%" PRIu64 "\n",
	       d->checks, d->core_checks);
}

static void disp_print_params(const struct disp *d)
{
	const struct sim_params *p = &d->sim.p;

	printf("chorus-sim %s dispatch\n", CHORUS_VERSION);
	printf("params: seed=%" PRIu64 " nodes=%" PRIu32 " workers=%" PRIu32 " jobs=%" PRIu64
	       " loss=%.4f latency_ms=%" PRIu32 ":%" PRIu32 " crypto=%s crash_workers=%" PRIu32
	       " slow_workers=%" PRIu32 " restart_s=%" PRIu64 " crash_clients=%" PRIu32
	       " client_restart_s=%" PRIu64 " submit_s=%" PRIu64 " deadline_s=%" PRIu64 "\n",
	       p->seed, p->nodes, d->workers, d->njobs, p->loss, p->latency_min_ms, p->latency_max_ms,
	       p->crypto->name, d->crash_workers, d->slow_workers, d->restart_ms / 1000,
	       d->crash_clients, d->client_restart_ms / 1000, d->submit_ms / 1000,
	       d->deadline_ms / 1000);
	printf("timing: offer_window_ms=%" PRIu32 " dial_timeout_ms=%" PRIu32
	       " receipt_grace_ms=%" PRIu32 " job_timeout_ms=%" PRIu32 " rebroadcasts=%" PRIu32
	       " rebroadcast_backoff_ms=%" PRIu32 " penalty_ms=%" PRIu32 "\n",
	       d->timing.offer_window_ms, d->timing.dial_timeout_ms, d->timing.receipt_grace_ms,
	       d->timing.job_timeout_ms, d->timing.rebroadcasts, d->timing.rebroadcast_backoff_ms,
	       d->timing.penalty_ms);
	printf("workers:");
	for (uint32_t w = 1; w <= d->workers; w++)
		printf(" n%" PRIu32 "=%s/%" PRIu32 "%s%s", w,
		       d->nodes[w].caps & (1u << KIND_SLOW) ? "echo+slow" : "echo", d->nodes[w].capacity,
		       d->nodes[w].slow ? "/slow" : "", d->nodes[w].victim ? "/crashes" : "");
	printf("\n");
	printf("checks: job_cb, run_cb, kill_cb, ack_cb as they happen; running works and client "
	       "jobs after every step; core_check every K=%" PRIu64 " steps and on every node at "
	       "the end\n", d->check_every);
}

/* ---------------------------------------------------------------- command line */

void sim_dispatch_usage(FILE *f)
{
	fprintf(f,
	        "usage: chorus-sim dispatch [--nodes N] [--workers W] [--jobs J] [--seed S] [--loss P]\n"
	        "                           [--latency MIN:MAX] [--crash-workers K] [--slow-workers K]\n"
	        "                           [--restart-s R] [--crash-clients K] [--client-restart-s R]\n"
	        "                           [--submit-s T] [--deadline-s D]\n"
	        "                           [--check-every K] [--real-crypto] [--verbose]...\n"
	        "\n"
	        "  --nodes N          nodes to simulate (%d..%d, default 20)\n"
	        "  --workers W        of them workers, nodes 1..W (2..N-1, default 6)\n"
	        "  --jobs J           jobs submitted by the other nodes (1..%d, default 200)\n"
	        "  --seed S           the one seed of the run (default 1)\n"
	        "  --loss P           probability a frame is lost, in [0, 1) (default 0)\n"
	        "  --latency MIN:MAX  per-frame latency range in ms (default 1:5)\n"
	        "  --crash-workers K  workers that crash while jobs run (0..W-1, default 0)\n"
	        "  --slow-workers K   workers that take %d times longer (0..W, default 0)\n"
	        "  --restart-s R      restart a crashed worker R virtual seconds later; 0: never\n"
	        "                     (default 15)\n"
	        "  --crash-clients K  clients (never node 0) that crash while they submit and\n"
	        "                     restart, resuming their jobs from their disk (default 0)\n"
	        "  --client-restart-s R  a crashed client restarts R virtual seconds later\n"
	        "                     (1..600, default 2)\n"
	        "  --submit-s T       jobs are submitted over T virtual seconds (default 40)\n"
	        "  --deadline-s D     every job must be final D virtual seconds after the last\n"
	        "                     submit (default %d)\n"
	        "  --check-every K    run core_check() on the stepped node every K steps\n"
	        "                     (default: max(1, N / 10))\n"
	        "  --real-crypto      sign with ed25519 instead of the fast stand-in\n"
	        "  --verbose          print the cores' log records (repeat for more)\n"
	        "  --help             this text\n",
	        DISP_NODES_MIN, SIM_NODES_MAX, DISP_JOBS_MAX, DISP_SLOW_FACTOR, DISP_DEADLINE_S);
}

enum {
	OPT_NODES = 256,
	OPT_WORKERS,
	OPT_JOBS,
	OPT_SEED,
	OPT_LOSS,
	OPT_LATENCY,
	OPT_CRASH,
	OPT_SLOW,
	OPT_RESTART,
	OPT_CRASH_CLIENTS,
	OPT_CLIENT_RESTART,
	OPT_SUBMIT,
	OPT_DEADLINE,
	OPT_CHECK_EVERY,
	OPT_REAL_CRYPTO,
	OPT_VERBOSE,
	OPT_HELP,
};

static const struct option disp_options[] = {
	{"nodes", required_argument, NULL, OPT_NODES},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"jobs", required_argument, NULL, OPT_JOBS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"loss", required_argument, NULL, OPT_LOSS},
	{"latency", required_argument, NULL, OPT_LATENCY},
	{"crash-workers", required_argument, NULL, OPT_CRASH},
	{"slow-workers", required_argument, NULL, OPT_SLOW},
	{"restart-s", required_argument, NULL, OPT_RESTART},
	{"crash-clients", required_argument, NULL, OPT_CRASH_CLIENTS},
	{"client-restart-s", required_argument, NULL, OPT_CLIENT_RESTART},
	{"submit-s", required_argument, NULL, OPT_SUBMIT},
	{"deadline-s", required_argument, NULL, OPT_DEADLINE},
	{"check-every", required_argument, NULL, OPT_CHECK_EVERY},
	{"real-crypto", no_argument, NULL, OPT_REAL_CRYPTO},
	{"verbose", no_argument, NULL, OPT_VERBOSE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* Options whose value is a plain count or seconds: where it goes and its range. */
static int disp_parse_one(int c, const char *arg, struct sim_params *p, struct disp *d)
{
	uint64_t v = 0;
	int rc = 0;

	switch (c) {
	case OPT_NODES: rc = sim_parse_u64("--nodes", arg, DISP_NODES_MIN, SIM_NODES_MAX, &v); p->nodes = (uint32_t)v; break;
	case OPT_WORKERS: rc = sim_parse_u64("--workers", arg, 2, SIM_NODES_MAX, &v); d->workers = (uint32_t)v; break;
	case OPT_JOBS: rc = sim_parse_u64("--jobs", arg, 1, DISP_JOBS_MAX, &d->njobs); break;
	case OPT_SEED: rc = sim_parse_u64("--seed", arg, 0, UINT64_MAX, &p->seed); break;
	case OPT_LOSS: rc = sim_parse_prob("--loss", arg, &p->loss); break;
	case OPT_LATENCY: rc = sim_parse_latency("--latency", arg, &p->latency_min_ms, &p->latency_max_ms); break;
	case OPT_CRASH: rc = sim_parse_u64("--crash-workers", arg, 0, SIM_NODES_MAX, &v); d->crash_workers = (uint32_t)v; break;
	case OPT_SLOW: rc = sim_parse_u64("--slow-workers", arg, 0, SIM_NODES_MAX, &v); d->slow_workers = (uint32_t)v; break;
	case OPT_RESTART: rc = sim_parse_u64("--restart-s", arg, 0, 86400, &v); d->restart_ms = v * 1000; break;
	case OPT_CRASH_CLIENTS: rc = sim_parse_u64("--crash-clients", arg, 0, SIM_NODES_MAX, &v); d->crash_clients = (uint32_t)v; break;
	case OPT_CLIENT_RESTART: rc = sim_parse_u64("--client-restart-s", arg, 1, 600, &v); d->client_restart_ms = v * 1000; break;
	case OPT_SUBMIT: rc = sim_parse_u64("--submit-s", arg, 1, 86400, &v); d->submit_ms = v * 1000; break;
	case OPT_DEADLINE: rc = sim_parse_u64("--deadline-s", arg, 1, 86400, &v); d->deadline_ms = v * 1000; break;
	case OPT_CHECK_EVERY: rc = sim_parse_u64("--check-every", arg, 1, UINT32_MAX, &d->check_every); break;
	default: return -1;
	}
	return rc;
}

/* The options' relations, once all are known. */
static int disp_parse_check(const struct sim_params *p, const struct disp *d)
{
	const char *why = NULL;

	if (d->workers >= p->nodes)
		why = "--workers must be below --nodes (node 0 is always a client)";
	else if (d->crash_workers >= d->workers)
		why = "--crash-workers must be below --workers (every kind keeps a live worker)";
	else if (d->slow_workers > d->workers)
		why = "--slow-workers must not exceed --workers";
	else if (d->crash_clients + d->workers + 1 > p->nodes)
		why = "--crash-clients must not exceed the clients other than node 0";
	if (why == NULL)
		return 0;
	fprintf(stderr, "chorus-sim dispatch: %s\n", why);
	return -1;
}

static int disp_parse(int argc, char **argv, struct sim_params *p, struct disp *d)
{
	int c;

	optind = 1;
	opterr = 0; /* our own message names the program and the option */
	while ((c = getopt_long(argc, argv, "", disp_options, NULL)) != -1) {
		if (c == OPT_REAL_CRYPTO) {
			p->crypto = &crypto_ed25519;
		} else if (c == OPT_VERBOSE) {
			p->verbose++;
		} else if (c == OPT_HELP) {
			sim_dispatch_usage(stdout);
			exit(0);
		} else if (c == '?' || c == ':' || disp_parse_one(c, optarg, p, d) != 0) {
			if (c == '?' || c == ':')
				fprintf(stderr, "chorus-sim dispatch: bad option or missing argument: %s "
				        "(try --help)\n", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chorus-sim dispatch: unexpected argument \"%s\" (try --help)\n",
		        argv[optind]);
		return -1;
	}
	return disp_parse_check(p, d);
}

static void disp_defaults(struct sim_params *p, struct disp *d)
{
	struct core_config defaults;

	memset(p, 0, sizeof(*p));
	p->seed = 1;
	p->nodes = 20;
	p->latency_min_ms = 1;
	p->latency_max_ms = 5;
	p->crypto = &sim_crypto_fast;
	d->workers = 6;
	d->njobs = 200;
	d->restart_ms = 15000;
	d->client_restart_ms = 2000;
	d->submit_ms = 40000;
	d->deadline_ms = DISP_DEADLINE_S * 1000ULL;
	core_config_defaults(&defaults);
	d->timing = defaults.timing;
}

static int disp_run(struct disp *d)
{
	if (disp_phase_join(d) == 0 && disp_phase_spread(d) == 0 && disp_phase_jobs(d) == 0)
		disp_phase_drain(d);
	return d->sim.failed ? -1 : 0;
}

static void disp_report_failure(const struct disp *d)
{
	const struct sim_params *p = &d->sim.p;

	printf("result: FAIL seed=%" PRIu64 " phase=%s t=%" PRIu64 ": %s\n", p->seed, d->phase,
	       d->sim.now_ms, d->sim.fail);
	fprintf(stderr,
	        "chorus-sim: FAIL seed=%" PRIu64 " phase=%s t=%" PRIu64 ": %s\n"
	        "reproduce: chorus-sim dispatch --nodes %" PRIu32 " --workers %" PRIu32 " --jobs %"
	        PRIu64 " --seed %" PRIu64 " --loss %.4f --latency %" PRIu32 ":%" PRIu32
	        " --crash-workers %" PRIu32 " --slow-workers %" PRIu32 " --restart-s %" PRIu64
	        " --crash-clients %" PRIu32 " --client-restart-s %" PRIu64 " --submit-s %" PRIu64
	        " --deadline-s %" PRIu64 " --check-every %" PRIu64 "%s\n",
	        p->seed, d->phase, d->sim.now_ms, d->sim.fail, p->nodes, d->workers, d->njobs,
	        p->seed, p->loss, p->latency_min_ms, p->latency_max_ms, d->crash_workers,
	        d->slow_workers, d->restart_ms / 1000, d->crash_clients, d->client_restart_ms / 1000,
	        d->submit_ms / 1000, d->deadline_ms / 1000,
	        d->check_every, p->crypto == &sim_crypto_fast ? "" : " --real-crypto");
}

int sim_dispatch_main(int argc, char **argv)
{
	static struct disp d; /* single and large-ish: static keeps it off the stack */
	struct sim_params p;
	struct sim_hooks hooks;
	double wall0 = sim_wall_s();
	int rc;

	memset(&d, 0, sizeof(d));
	disp_defaults(&p, &d);
	if (disp_parse(argc, argv, &p, &d) != 0)
		return 2;
	d.n = p.nodes;
	d.nspread = d.workers;
	if (d.check_every == 0)
		d.check_every = d.n / 10 > 1 ? d.n / 10 : 1;
	memset(&hooks, 0, sizeof(hooks));
	hooks.ctx = &d;
	hooks.start_cb = disp_start_cb;
	hooks.step_cb = disp_step_cb;
	hooks.config_cb = disp_config_cb;
	hooks.call_cb = disp_call_cb;
	hooks.job_cb = disp_job_cb;
	hooks.run_cb = disp_run_cb;
	hooks.kill_cb = disp_kill_cb;
	hooks.ack_cb = disp_ack_cb;
	hooks.attempt_cb = disp_attempt_cb;
	hooks.outcome_put_cb = disp_outcome_put_cb;
	hooks.outcome_get_cb = disp_outcome_get_cb;
	if (sim_net_init(&d.sim, &p, &hooks) != 0 || disp_alloc(&d) != 0) {
		fprintf(stderr, "chorus-sim: out of memory for %" PRIu32 " nodes\n", p.nodes);
		disp_free(&d);
		return 2;
	}
	d.phase = "init";
	disp_print_params(&d);
	rc = disp_run(&d);
	disp_print_jobs(&d);
	disp_print_attempts(&d);
	disp_print_latency(&d);
	disp_print_totals(&d);
	if (rc != 0) {
		disp_report_failure(&d);
		rc = 1;
	} else {
		printf("result: ok\n");
	}
	disp_free(&d);
	printf("wall: %.3f s\n", sim_wall_s() - wall0);
	return rc;
}

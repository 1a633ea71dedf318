/*
 * jobs: the shell's side of dispatch.  It keeps the client's job table
 * (jobstore.c) in step with the core, runs the jobs the core accepts as a
 * worker (runner.c), and tells the API when a job someone waits for ends.
 * No protocol decision is made here: the core decides, this file does I/O.
 *
 * What reaches the table when: a job's row is written when it is accepted
 * (before its id goes back) and when it ends (its final state, before
 * anyone is told).  A change in between (dispatched, running, a failover)
 * only matters to a reader, and most jobs end within milliseconds: it is
 * written once the job is still live JOBS_DIRTY_MS later, or at once when
 * someone reads the job (jobs_sync), so a reader never sees an older state
 * than the core's.  A crash loses at most the last JOBS_DIRTY_MS of a live
 * job's history; the job itself is resumed from its row as before.
 */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <sodium.h>

#include "idmap.h"
#include "node.h"
#include "voterd.h"
#include "runner.h"

struct jobs_run {
	uint64_t tag;
	char id[CHORUS_JOB_ID_HEX + 1];
};

/* A live job whose last change is not in the table yet. */
struct jobs_dirty {
	char id[CHORUS_JOB_ID_HEX + 1];
	uint64_t at_ms;
};

struct jobs {
	struct node *node;
	struct jobs_dirty *dirty; /* a ring, oldest first */
	size_t dirty_head, ndirty;
	struct event *dirty_ev;   /* writes the changes that waited JOBS_DIRTY_MS */
	struct jobstore *store;
	struct joblog *log;      /* our jobs' live output (joblog.c) */
	struct runner *runner;
	struct jobs_run *runs; /* jobs the runner has, at most capacity of them */
	size_t nruns;
	size_t caprun;
	uint64_t next_tag;
	struct event *resume_ev;
	uint64_t resume_until_ms;
	struct event *commit_ev; /* end of the loop iteration: the job table's writes commit */
	struct event *retry_ev;  /* a commit that failed (a full disk) is tried again */
	int commit_kicked;
	/*
	 * Final states written since the last commit that succeeded: SQLite
	 * rolls a transaction back when it cannot commit it (a full disk), so
	 * they are kept here and written again before the next commit.  At most
	 * one per job in flight (a job ends once; submits stop while commits fail).
	 */
	struct job_view **unsaved;
	size_t nunsaved;
	/*
	 * Final states whose acks may not be signed yet (the turn's batch
	 * signature, sigbatch.c): written only once the acks are signed and
	 * in the outbox (jobs_signed), so a job is never final on disk while
	 * its ack could still be lost with the process.
	 */
	struct job_view **finals;
	size_t nfinals;
	int final_written;       /* a final state is in the open transaction */
	int fault_crash_final;   /* CHORUS_FAULT=crash-after-final (a test seam) */
	int commit_failed;
	uint64_t nonces[64];     /* random, for the next jobs (jobs_nonce) */
	unsigned nonces_left;
	int barrier;             /* writes the core wants durable before its next frames leave */
	struct idmap queued;     /* live jobs whose event=queued line was logged (once each) */
};

#define JOBS_RESUME_WAIT_MS 5000
#define JOBS_RESUME_POLL_MS 100
#define JOBS_DIRTY_MS       100  /* a live job's change waits this long before it is written */
#define JOBS_DIRTY_MAX      4096 /* changes waiting; past it the oldest is written at once */
#define JOBS_RETRY_MS       1000 /* a failed commit (acks, job table) is tried again after this */

/* ---------------------------------------------------------------- worker: the runner */

static struct jobs_run *jobs_run_find(struct jobs *jobs, uint64_t tag, const char *id)
{
	for (size_t i = 0; i < jobs->nruns; i++)
		if (id != NULL ? strcmp(jobs->runs[i].id, id) == 0 : jobs->runs[i].tag == tag)
			return &jobs->runs[i];
	return NULL;
}

static enum work_status jobs_status(enum runner_status st)
{
	switch (st) {
	case RUNNER_OK: return WORK_OK;
	case RUNNER_TIMEOUT: return WORK_TIMEOUT;
	case RUNNER_CANCELLED: return WORK_CANCELLED;
	default: return WORK_FAILED;
	}
}

static void jobs_runner_done_cb(void *ctx, uint64_t tag, const struct runner_result *res)
{
	struct jobs *jobs = ctx;
	struct jobs_run *run = jobs_run_find(jobs, tag, NULL);
	char id[CHORUS_JOB_ID_HEX + 1];
	int r;

	if (run == NULL) {
		log_error("jobs", "event=unknown_run tag=%llu", (unsigned long long)tag);
		return;
	}
	snprintf(id, sizeof id, "%s", run->id);
	*run = jobs->runs[--jobs->nruns];
	r = core_work_done(jobs->node->core, id, jobs_status(res->status), res->output,
	                   res->output_len, res->error, res->duration_ms, chorusd_now_ms());
	if (r != 0)
		log_warn("jobs", "event=work_done_error job=%s error=\"%s\"", id, core_strerror(r));
	chorusd_reschedule(jobs->node);
}

/* A running job wrote something: the core streams it to the job's client. */
static void jobs_runner_output_cb(void *ctx, uint64_t tag, unsigned stream, const uint8_t *buf,
                                  size_t len)
{
	struct jobs *jobs = ctx;
	struct jobs_run *run = jobs_run_find(jobs, tag, NULL);
	int r;

	if (run == NULL)
		return;
	r = core_work_output(jobs->node->core, run->id, stream, buf, len, chorusd_now_ms());
	if (r != 0)
		log_debug("jobs", "event=output_error job=%s error=\"%s\"", run->id, core_strerror(r));
	chorusd_reschedule(jobs->node); /* a partial chunk's flush is a deadline */
}

/* Client: a chunk of one of our jobs' output, accepted by the core; followers are told. */
static void jobs_output_cb(void *ctx, const struct job_output *o)
{
	struct node *node = ctx;

	if (joblog_add(node->jobs->log, o) != 0)
		log_warn("jobs", "event=output_dropped job=%s bytes=%zu reason=no-memory", o->job_id,
		         o->len);
	api_job_output(node->api, o->job_id);
}

struct joblog *jobs_log(struct jobs *jobs)
{
	return jobs->log;
}

static int jobs_run_cb(void *ctx, const char *job_id, const char *kind, const uint8_t *payload,
                       size_t len, uint32_t timeout_ms)
{
	struct node *node = ctx;
	struct jobs *jobs = node->jobs;
	struct jobs_run *run;
	int r;

	if (jobs->nruns == jobs->caprun)
		return -ENOSPC; /* the core keeps running jobs within capacity: cannot happen */
	run = &jobs->runs[jobs->nruns];
	run->tag = ++jobs->next_tag;
	snprintf(run->id, sizeof run->id, "%s", job_id);
	r = runner_start(jobs->runner, run->tag, kind, payload, len, timeout_ms);
	if (r != 0) {
		log_warn("jobs", "event=run_error job=%s kind=%s error=\"%s\"", job_id, kind,
		         strerror(r < 0 ? -r : r));
		return r;
	}
	jobs->nruns++;
	return 0;
}

static void jobs_kill_cb(void *ctx, const char *job_id)
{
	struct node *node = ctx;
	struct jobs_run *run = jobs_run_find(node->jobs, 0, job_id);

	if (run != NULL)
		(void)runner_cancel(node->jobs->runner, run->tag);
}

/* ---------------------------------------------------------------- client: the table */

/* ---------------------------------------------------------------- final states kept until committed */

static void jobs_unsaved_clear(struct jobs *jobs)
{
	for (size_t i = 0; i < jobs->nunsaved; i++) {
		free((void *)jobs->unsaved[i]->result);
		free(jobs->unsaved[i]);
	}
	jobs->nunsaved = 0;
}

/* A copy of a final view and its result; NULL without memory. */
static struct job_view *jobs_view_copy(const struct job_view *v)
{
	struct job_view *c = malloc(sizeof *c);
	uint8_t *result = NULL;

	if (c != NULL && v->result_len > 0 && (result = malloc(v->result_len)) == NULL) {
		free(c);
		return NULL;
	}
	if (c == NULL)
		return NULL;
	*c = *v;
	if (result != NULL)
		memcpy(result, v->result, v->result_len);
	c->result = result;
	return c;
}

/* A copy of a final view (and its result), until a commit holds it; takes c. */
static void jobs_unsaved_take(struct jobs *jobs, struct job_view *c, const char *id)
{
	if (c == NULL || jobs->nunsaved >= CHORUS_JOBS_INFLIGHT_MAX) {
		/* a bound or memory: said, since a failed commit would lose it */
		log_error("jobs", "event=write_unsafe job=%s what=\"its final state is not kept for a"
		          " retry: lost if this commit fails\"", id);
		if (c != NULL) {
			free((void *)c->result);
			free(c);
		}
		return;
	}
	jobs->unsaved[jobs->nunsaved++] = c;
}

static void jobs_barrier_add(struct jobs *jobs);

/*
 * After the core signed the turn's acks (core_flush): they go to the outbox,
 * then the final states held meanwhile are written, to commit before any
 * later frame leaves (the barrier).  Called at the end of the loop turn
 * (chorusd.c) and before the job table commits.  -1 when the acks could
 * not be saved: the states wait (the commit's retry tries both again).
 */
int jobs_signed(struct jobs *jobs)
{
	if (jobs == NULL || jobs->nfinals == 0)
		return 0;
	if (voterd_save_acks(jobs->node->consensus) != 0)
		return -1;
	for (size_t i = 0; i < jobs->nfinals; i++) {
		struct job_view *c = jobs->finals[i];

		if (jobstore_update(jobs->store, c, chorusd_wall_ms()) != 0) {
			/* Kept (unsaved): jobs_commit writes the kept states again before it commits. */
			jobs->commit_failed = 1;
			log_warn("jobs", "event=final_write_error job=%s what=\"kept, written again before"
			         " the commit\"", c->id);
		}
		api_job_final(jobs->node->api, c->id); /* its waiters read it final now */
		jobs_unsaved_take(jobs, c, c->id);
	}
	jobs->nfinals = 0;
	jobs->final_written = 1;
	jobs_barrier_add(jobs); /* final before its ack leaves */
	return 0;
}

/*
 * The job table's commit: the final states of a commit that failed are
 * written again first (an UPDATE of the same row: idempotent), and are kept
 * until one succeeds.  0, or the error (the states stay kept).
 */
static int jobs_commit(struct jobs *jobs)
{
	int r;

	if (jobs->commit_failed)
		for (size_t i = 0; i < jobs->nunsaved; i++)
			(void)jobstore_update(jobs->store, jobs->unsaved[i], chorusd_wall_ms());
	r = jobstore_commit(jobs->store);
	jobs->commit_failed = r != 0;
	if (r == 0 && jobs->final_written && jobs->fault_crash_final) {
		/* Test seam (chorusd(8)): the worst moment for a crash, a final state just durable. */
		log_warn("jobs", "event=fault what=crash-after-final (CHORUS_FAULT: a test seam)");
		raise(SIGKILL);
	}
	if (r == 0) {
		jobs->final_written = 0;
		jobs_unsaved_clear(jobs);
	} else if (jobs->nunsaved > 0) {
		log_error("jobs", "event=commit_failed kept=%zu what=\"final job states kept in memory,"
		          " written again at the next commit\"", jobs->nunsaved);
	}
	return r;
}

static void jobs_retry_arm(struct jobs *jobs);

/* After every callback of this loop iteration: its job-table writes, one commit. */
static void jobs_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs *jobs = arg;

	(void)fd;
	(void)what;
	jobs->commit_kicked = 0;
	/* The turn's acks signed now (their final states wait for them), then in the outbox. */
	if (jobs->node->core != NULL)
		core_flush(jobs->node->core, chorusd_now_ms());
	fabric_flush_now(jobs->node->fabric); /* this iteration's frames leave before the writes */
	/*
	 * A final job's ack is in the outbox first: while it cannot be written,
	 * the job table does not commit either (its open transaction waits), and
	 * both are tried again every JOBS_RETRY_MS until there is room.
	 */
	if (jobs_signed(jobs) != 0 || voterd_save_acks(jobs->node->consensus) != 0 ||
	    jobs_commit(jobs) != 0)
		jobs_retry_arm(jobs);
}

static void jobs_kick_commit(struct jobs *jobs);

static void jobs_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	jobs_kick_commit(arg);
}

static void jobs_retry_arm(struct jobs *jobs)
{
	struct timeval tv = { JOBS_RETRY_MS / 1000, (JOBS_RETRY_MS % 1000) * 1000 };

	if (!evtimer_pending(jobs->retry_ev, NULL) && evtimer_add(jobs->retry_ev, &tv) != 0)
		log_error("jobs", "event=timer_error what=retry");
}

static void jobs_kick_commit(struct jobs *jobs)
{
	if (jobs->commit_kicked)
		return;
	jobs->commit_kicked = 1;
	event_active(jobs->commit_ev, EV_TIMEOUT, 0);
}

/* Writes the core's view of a live job (nothing when it is final or unknown: already written). */
static void jobs_write_live(struct jobs *jobs, const char *id)
{
	struct job_view v;

	if (core_job_get(jobs->node->core, id, chorusd_now_ms(), &v) != 0 ||
	    JOB_STATE_FINAL(v.state))
		return;
	(void)jobstore_update(jobs->store, &v, chorusd_wall_ms());
	jobs_kick_commit(jobs);
	log_debug("jobs", "event=written job=%s state=%s attempts=%u", id, job_state_name(v.state),
	          v.nattempts);
}

static void jobs_dirty_pop(struct jobs *jobs)
{
	char id[CHORUS_JOB_ID_HEX + 1];

	memcpy(id, jobs->dirty[jobs->dirty_head].id, sizeof id);
	jobs->dirty_head = (jobs->dirty_head + 1) % JOBS_DIRTY_MAX;
	jobs->ndirty--;
	jobs_write_live(jobs, id);
}

static void jobs_dirty_arm(struct jobs *jobs, uint64_t now_ms)
{
	uint64_t due = jobs->dirty[jobs->dirty_head].at_ms + JOBS_DIRTY_MS;
	uint64_t wait_ms = due > now_ms ? due - now_ms : 0;
	struct timeval tv = { (time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000 };

	if (evtimer_add(jobs->dirty_ev, &tv) != 0)
		log_error("jobs", "event=timer_error what=dirty");
}

static void jobs_dirty_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs *jobs = arg;
	uint64_t now_ms = chorusd_now_ms();

	(void)fd;
	(void)what;
	while (jobs->ndirty > 0 && jobs->dirty[jobs->dirty_head].at_ms + JOBS_DIRTY_MS <= now_ms)
		jobs_dirty_pop(jobs);
	if (jobs->ndirty > 0)
		jobs_dirty_arm(jobs, now_ms);
}

static void jobs_dirty_add(struct jobs *jobs, const char *id)
{
	uint64_t now_ms = chorusd_now_ms();
	struct jobs_dirty *d;

	if (jobs->ndirty == JOBS_DIRTY_MAX)
		jobs_dirty_pop(jobs);
	d = &jobs->dirty[(jobs->dirty_head + jobs->ndirty++) % JOBS_DIRTY_MAX];
	snprintf(d->id, sizeof d->id, "%s", id);
	d->at_ms = now_ms;
	if (!evtimer_pending(jobs->dirty_ev, NULL))
		jobs_dirty_arm(jobs, now_ms);
}

/*
 * The fabric calls this before any envelope leaves: what the core asked to
 * be durable before its later frames (an attempt before its dispatch, a
 * receipt before it is sent, a final state before its ack) commits first.
 * One commit per turn of the loop still, as the writes share it.  If the
 * commit fails (a full disk) the frames go anyway -- holding every frame
 * would stop membership too -- and the error is logged: the node is then
 * back to what it was before these barriers (docs/dispatch.md).
 */
static void jobs_barrier_cb(void *ctx)
{
	struct jobs *jobs = ctx;

	if (!jobs->barrier)
		return;
	jobs->barrier = 0;
	/* jobs_commit, not jobstore_commit: a failed commit keeps its final states for the retry. */
	if (jobs_commit(jobs) != 0) {
		log_error("jobs", "event=barrier_error error=\"a write the next frames depend on did not"
		                  " commit\"");
		jobs_retry_arm(jobs);
	}
}

static void jobs_barrier_add(struct jobs *jobs)
{
	jobs->barrier = 1;
	jobs_kick_commit(jobs);
}

/*
 * A job that starts to wait for a slot is said once at info level, with why
 * (what `chorus job` shows); the core may report it queued again as what it
 * waits for changes, and a job that ran and queues again (its worker died)
 * is said again.
 */
static void jobs_note_queued(struct jobs *jobs, const struct job_view *v)
{
	uint8_t key[IDMAP_KEY_BYTES];
	int seen;

	if (idmap_key(key, v->id) != 0)
		return;
	seen = idmap_get(&jobs->queued, key) != 0;
	if (v->state != JOB_QUEUED) {
		if (seen)
			(void)idmap_del(&jobs->queued, key);
		return;
	}
	if (seen || idmap_reserve(&jobs->queued) != 0)
		return;
	idmap_put(&jobs->queued, key, 1);
	log_info("jobs", "event=queued job=%s kind=%s priority=%u workers=%u slots=%u busy=%u"
	         " ahead=%u", v->id, v->kind, v->priority, v->wait.workers, v->wait.slots,
	         v->wait.busy, v->wait.ahead);
}

static void jobs_job_cb(void *ctx, const struct job_view *v)
{
	struct node *node = ctx;
	struct job_view *c;

	jobs_note_queued(node->jobs, v);
	api_events_job(v);
	if (!JOB_STATE_FINAL(v->state)) {
		jobs_dirty_add(node->jobs, v->id);
		return;
	}
	metrics_job_final(v);
	if (node->jobs->nfinals < CHORUS_JOBS_INFLIGHT_MAX &&
	    (c = jobs_view_copy(v)) != NULL) {
		/* Written once its ack is signed and saved (jobs_signed), this turn; its waiters then. */
		node->jobs->finals[node->jobs->nfinals++] = c;
		jobs_kick_commit(node->jobs);
	} else { /* no room to hold it: written now, as before batch signatures */
		(void)jobstore_update(node->jobs->store, v, chorusd_wall_ms());
		node->jobs->final_written = 1;
		jobs_unsaved_take(node->jobs, jobs_view_copy(v), v->id);
		jobs_barrier_add(node->jobs);
		api_job_final(node->api, v->id);
	}
}

/* The core is about to dispatch: the attempt is on disk before the frame leaves. */
static void jobs_attempt_cb(void *ctx, const struct job_view *v)
{
	struct node *node = ctx;

	(void)jobstore_update(node->jobs->store, v, chorusd_wall_ms());
	jobs_barrier_add(node->jobs);
	log_debug("jobs", "event=attempt_written job=%s attempt=%u", v->id, v->nattempts);
}

/*
 * A done row is durable before its receipt leaves, a disowned one before
 * the answer that promises it.  A final row (an ack we saw, for every job
 * of a kind we run) only guards later dispatches, which read it from the
 * open transaction: it commits with the turn's writes and holds no frame.
 */
static void jobs_outcome_put_cb(void *ctx, const struct work_outcome *o)
{
	struct node *node = ctx;

	(void)jobstore_outcome_put(node->jobs->store, o, chorusd_wall_ms());
	if (o->state == WORK_OUTCOME_FINAL)
		jobs_kick_commit(node->jobs);
	else
		jobs_barrier_add(node->jobs);
}

static int jobs_outcome_get_cb(void *ctx, const char *job_id, struct work_outcome *out)
{
	struct node *node = ctx;
	int r = jobstore_outcome_get(node->jobs->store, job_id, out);

	if (r < 0)
		log_error("jobs", "event=outcome_read_error job=%s", job_id);
	return r;
}

struct jobstore *jobs_sync(struct jobs *jobs, const char *id)
{
	if (id != NULL)
		jobs_write_live(jobs, id);
	else
		while (jobs->ndirty > 0)
			jobs_dirty_pop(jobs);
	return jobs->store;
}

/*
 * Why a live job waits, from the core (not stored: it changes with every
 * slot that frees): "wait": {workers, slots, busy, ahead} added to its
 * record, and queued_s as of now.  Nothing for a job the core no longer has.
 */
void jobs_add_wait(struct jobs *jobs, cJSON *record)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(record, "id");
	struct job_view v;
	cJSON *w;

	if (!cJSON_IsString(id) || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(record, "final")) ||
	    core_job_get(jobs->node->core, id->valuestring, chorusd_now_ms(), &v) != 0 ||
	    JOB_STATE_FINAL(v.state) || (w = cJSON_CreateObject()) == NULL)
		return;
	cJSON_AddNumberToObject(w, "workers", v.wait.workers);
	cJSON_AddNumberToObject(w, "slots", v.wait.slots);
	cJSON_AddNumberToObject(w, "busy", v.wait.busy);
	cJSON_AddNumberToObject(w, "ahead", v.wait.ahead);
	cJSON_AddItemToObject(record, "wait", w);
	cJSON_ReplaceItemInObjectCaseSensitive(record, "queued_s",
	                                       cJSON_CreateNumber((double)v.queued_ms / 1000.0));
}

void jobs_env(struct core_env *env)
{
	env->job_cb = jobs_job_cb;
	env->run_cb = jobs_run_cb;
	env->kill_cb = jobs_kill_cb;
	env->attempt_cb = jobs_attempt_cb;
	env->outcome_put_cb = jobs_outcome_put_cb;
	env->outcome_get_cb = jobs_outcome_get_cb;
	env->output_cb = jobs_output_cb;
}

int jobs_create(struct jobs **out, struct node *node, char *err, size_t errlen)
{
	struct jobs *jobs = calloc(1, sizeof(*jobs));
	int r;

	*out = NULL;
	if (jobs == NULL)
		return -ENOMEM;
	jobs->node = node;
	jobs->caprun = node->cfg.capacity > 0 ? node->cfg.capacity : 1;
	jobs->runs = calloc(jobs->caprun, sizeof(*jobs->runs));
	if (jobs->runs == NULL) {
		jobs_destroy(jobs);
		return -ENOMEM;
	}
	jobs->commit_ev = event_new(node->base, -1, 0, jobs_commit_cb, jobs);
	jobs->dirty_ev = evtimer_new(node->base, jobs_dirty_cb, jobs);
	jobs->retry_ev = evtimer_new(node->base, jobs_retry_cb, jobs);
	jobs->dirty = calloc(JOBS_DIRTY_MAX, sizeof(*jobs->dirty));
	jobs->unsaved = calloc(CHORUS_JOBS_INFLIGHT_MAX, sizeof(*jobs->unsaved));
	jobs->finals = calloc(CHORUS_JOBS_INFLIGHT_MAX, sizeof(*jobs->finals));
	jobs->fault_crash_final =
	    getenv("CHORUS_FAULT") != NULL && strcmp(getenv("CHORUS_FAULT"), "crash-after-final") == 0;
	if (jobs->commit_ev == NULL || jobs->dirty_ev == NULL || jobs->dirty == NULL ||
	    jobs->unsaved == NULL || jobs->finals == NULL || jobs->retry_ev == NULL) {
		jobs_destroy(jobs);
		return -ENOMEM;
	}
	if ((r = jobstore_open(&jobs->store, node->cfg.data_dir, err, errlen)) != 0) {
		jobs_destroy(jobs);
		return r; /* err says what, and for damage what to do */
	}
	if ((r = runner_create(&jobs->runner, node->base, jobs_runner_done_cb, jobs)) != 0) {
		snprintf(err, errlen, "job runner: %s", strerror(-r));
		jobs_destroy(jobs);
		return r;
	}
	runner_set_output_cb(jobs->runner, jobs_runner_output_cb);
	if ((r = joblog_create(&jobs->log)) != 0) {
		snprintf(err, errlen, "out of memory");
		jobs_destroy(jobs);
		return r;
	}
	for (unsigned i = 0; i < node->cfg.nworkers; i++)
		if ((r = runner_add_kind(jobs->runner, node->cfg.workers[i], err, errlen)) != 0) {
			jobs_destroy(jobs);
			return r;
		}
	fabric_set_barrier(node->fabric, jobs_barrier_cb, jobs);
	*out = jobs;
	return 0;
}

/*
 * A reload changed the kinds or the capacity: the runner takes the new kinds
 * (all or nothing) and the table of runs grows to the new capacity; it never
 * shrinks, since jobs taken under a higher capacity may still run.  0, or
 * -errno with err; on an error nothing changed.
 */
int jobs_reconfigure(struct jobs *jobs, const char (*workers)[NODE_WORKER_SPEC_MAX],
                     unsigned n, uint32_t capacity, char *err, size_t errlen)
{
	const char *specs[CHORUS_CAPS_MAX];
	size_t want = capacity > 0 ? capacity : 1;
	int r;

	if (n > CHORUS_CAPS_MAX) {
		snprintf(err, errlen, "more than %d kinds", CHORUS_CAPS_MAX);
		return -ENOSPC;
	}
	if (want > jobs->caprun) {
		struct jobs_run *runs = realloc(jobs->runs, want * sizeof(*runs));

		if (runs == NULL) {
			snprintf(err, errlen, "out of memory for %zu runs", want);
			return -ENOMEM;
		}
		jobs->runs = runs;
		jobs->caprun = want;
	}
	for (unsigned i = 0; i < n; i++)
		specs[i] = workers[i];
	if ((r = runner_set_kinds(jobs->runner, specs, n, err, errlen)) != 0)
		return r;
	assert(jobs->nruns <= jobs->caprun);
	return 0;
}

void jobs_destroy(struct jobs *jobs)
{
	if (jobs == NULL)
		return;
	if (jobs->node->fabric != NULL)
		fabric_set_barrier(jobs->node->fabric, NULL, NULL);
	if (jobs->resume_ev != NULL)
		event_free(jobs->resume_ev);
	if (jobs->commit_ev != NULL)
		event_free(jobs->commit_ev);
	if (jobs->dirty_ev != NULL)
		event_free(jobs->dirty_ev);
	if (jobs->retry_ev != NULL)
		event_free(jobs->retry_ev);
	free(jobs->dirty);
	if (jobs->store != NULL && (jobs->nunsaved > 0 || jobs->nfinals > 0)) {
		(void)jobs_signed(jobs); /* the core's last flush ran (chorusd.c): acks saved first */
		(void)jobs_commit(jobs); /* a last try: what cannot be written is said */
	}
	for (size_t i = 0; i < jobs->nfinals; i++) { /* their acks could not be saved */
		free((void *)jobs->finals[i]->result);
		free(jobs->finals[i]);
	}
	free(jobs->finals);
	if (jobs->unsaved != NULL)
		jobs_unsaved_clear(jobs);
	free(jobs->unsaved);
	idmap_free(&jobs->queued);
	runner_destroy(jobs->runner);
	joblog_destroy(jobs->log);
	jobstore_close(jobs->store);
	free(jobs->runs);
	free(jobs);
}

static void jobs_resume_one(void *ctx, const struct job_spec *spec)
{
	struct jobs *jobs = ctx;
	char id[CHORUS_JOB_ID_HEX + 1];
	int r = core_job_submit(jobs->node->core, spec, id, chorusd_now_ms());

	if (r != 0)
		log_warn("jobs", "event=resume_error kind=%s error=\"%s\"", spec->kind, core_strerror(r));
	else
		log_info("jobs", "event=resume job=%s kind=%s", id, spec->kind);
}

/* After a restart: every job that was not final starts over (same id). */
static void jobs_resume_now(struct jobs *jobs)
{
	int n = jobstore_each_pending(jobs->store, jobs_resume_one, jobs);

	if (n < 0)
		log_error("jobs", "event=resume_error error=\"cannot read the job table\"");
	else if (n > 0)
		log_info("jobs", "event=resumed jobs=%d", n);
	chorusd_reschedule(jobs->node);
}

/*
 * Resuming before the node has rejoined would broadcast to nobody and fail
 * every job with "no worker offered": wait until some other member is alive,
 * or JOBS_RESUME_WAIT_MS at most (a node alone stays alone).
 */
static void jobs_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs *jobs = arg;
	struct timeval tv = { 0, JOBS_RESUME_POLL_MS * 1000 };
	size_t counts[4];

	(void)fd;
	(void)what;
	core_member_counts(jobs->node->core, counts);
	if (counts[MEMBER_ALIVE] < 2 && chorusd_now_ms() < jobs->resume_until_ms &&
	    evtimer_add(jobs->resume_ev, &tv) == 0)
		return;
	jobs_resume_now(jobs);
}

void jobs_resume(struct jobs *jobs)
{
	jobs->resume_until_ms = chorusd_now_ms() + JOBS_RESUME_WAIT_MS;
	jobs->resume_ev = evtimer_new(jobs->node->base, jobs_resume_cb, jobs);
	if (jobs->resume_ev == NULL)
		jobs_resume_now(jobs);
	else
		event_active(jobs->resume_ev, EV_TIMEOUT, 1);
}

/*
 * A job's nonce, from the random source 64 at a time: libsodium's generator
 * asks getpid() on every call (it guards against fork), a system call per
 * job otherwise.  Nonces are public once sent; they need only never repeat.
 */
static uint64_t jobs_nonce(struct jobs *jobs)
{
	if (jobs->nonces_left == 0) {
		randombytes_buf(jobs->nonces, sizeof jobs->nonces);
		jobs->nonces_left = sizeof jobs->nonces / sizeof jobs->nonces[0];
	}
	return jobs->nonces[--jobs->nonces_left];
}

/*
 * Back-pressure (docs/dispatch.md, "The queue"): the core holds as many of
 * our jobs as it may, and refuses the next one at once.  Its row was
 * committed a moment ago (the core sees no job before it is durable), so it
 * is deleted again: the submitter hears "refused", gets no id, and nothing
 * it was told was accepted is dropped.  -ENOBUFS (HTTP 429) either way:
 * should the row not go, it stays, failed, as a refused job did before.
 * (CORE_ERR_FULL also means CHORUS_JOBS_INFLIGHT_MAX jobs are not final.)
 */
static int jobs_refuse_full(struct jobs *jobs, const char *id, char *err, size_t errlen)
{
	struct job_view v;

	snprintf(err, errlen, "queue full: %d of this node's jobs wait for a slot (or %d are not"
	         " final) already; submit again once some have started", CHORUS_QUEUED_MAX,
	         CHORUS_JOBS_INFLIGHT_MAX);
	if (jobstore_forget(jobs->store, id) == 0) {
		log_info("jobs", "event=submit_refused why=queue_full job=%s", id);
		return -ENOBUFS;
	}
	memset(&v, 0, sizeof v);
	snprintf(v.id, sizeof v.id, "%s", id);
	v.state = JOB_FAILED;
	snprintf(v.reason, sizeof v.reason, "not accepted: %s", err);
	(void)jobstore_update(jobs->store, &v, chorusd_wall_ms());
	(void)jobstore_commit(jobs->store);
	log_error("jobs", "event=submit_refused why=queue_full job=%s error=\"cannot delete its row:"
	          " stored as failed\"", id);
	return -ENOBUFS;
}

/*
 * Stores, then submits: the core (which broadcasts the request) sees a job
 * only once its row is committed, so a job that cannot be made durable is
 * refused before anything runs anywhere (-ENOSPC: the disk is full, -EIO:
 * another write error).  While the ledger lags (too many of our acks wait
 * in the outbox) new jobs are refused too (-EAGAIN): back-pressure, never
 * a dropped ack.
 */
int jobs_submit(struct jobs *jobs, struct job_spec *spec, char id[CHORUS_JOB_ID_HEX + 1],
                char *err, size_t errlen)
{
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t jid[CHORUS_JOB_ID_BYTES];
	uint64_t depth, high, low;
	int r;

	if (jobs->node->consensus != NULL &&
	    voterd_lagging(jobs->node->consensus, &depth, &high, &low)) {
		snprintf(err, errlen, "ledger lagging: %llu acks waiting (accepting again at %llu)",
		         (unsigned long long)depth, (unsigned long long)low);
		return -EAGAIN;
	}
	spec->nonce = jobs_nonce(jobs);
	if (spec->timeout_ms == 0)
		spec->timeout_ms = NODE_JOB_TIMEOUT_MS; /* stored as it will be run */
	if (spec->queue_timeout_ms == 0) /* the same: stored as the core will apply it */
		spec->queue_timeout_ms = jobs->node->cfg.queue_timeout_s > 0
		                             ? jobs->node->cfg.queue_timeout_s * 1000u
		                             : CHORUS_QUEUE_TIMEOUT_MS_DEFAULT;
	spec->created_ms = chorusd_wall_ms();
	/* The id is the core's to compute; the store needs it first, so ask the same way. */
	sodium_hex2bin(pk, sizeof pk, core_id(jobs->node->core), CHORUS_ID_HEX, NULL, NULL, NULL);
	core_job_id(jid, pk, spec->nonce);
	sodium_bin2hex(id, CHORUS_JOB_ID_HEX + 1, jid, sizeof jid);
	if ((r = voterd_save_acks(jobs->node->consensus)) != 0) { /* acks before the table */
		snprintf(err, errlen, "cannot store the job: %s",
		         r == -ENOSPC ? "the disk is full" : "cannot write raft.db");
		log_error("jobs", "event=submit_refused why=store error=\"%s\"", err);
		return r == -ENOSPC ? -ENOSPC : -EIO;
	}
	if ((r = jobs_commit(jobs)) == 0) /* what waits first: the job then commits alone */
		r = jobstore_insert_durable(jobs->store, id, spec);
	if (r != 0) {
		snprintf(err, errlen, "cannot store the job: %s", jobstore_error(jobs->store));
		log_error("jobs", "event=submit_refused why=store error=\"%s\"", jobstore_error(jobs->store));
		return r == -ENOSPC ? -ENOSPC : -EIO;
	}
	r = core_job_submit(jobs->node->core, spec, id, chorusd_now_ms());
	chorusd_reschedule(jobs->node);
	if (r == 0)
		return 0;
	if (r == CORE_ERR_FULL) /* the queue's bound: refused, and so not kept (no id given) */
		return jobs_refuse_full(jobs, id, err, errlen);
	/* Never silently lost: a job the core would not take is stored as failed. */
	{
		struct job_view v;

		memset(&v, 0, sizeof v);
		snprintf(v.id, sizeof v.id, "%s", id);
		v.state = JOB_FAILED;
		snprintf(v.reason, sizeof v.reason, "not accepted: %s",
		         r == CORE_ERR_FULL ? "too many jobs in flight" : core_strerror(r));
		(void)jobstore_update(jobs->store, &v, chorusd_wall_ms());
		(void)jobstore_commit(jobs->store);
		snprintf(err, errlen, "%s", v.reason);
	}
	return -EINVAL;
}

/* 0, -ENOENT (no such job) or -EALREADY (already final). */
int jobs_cancel(struct jobs *jobs, const char *id)
{
	cJSON *doc;
	int r = jobstore_get_json(jobs_sync(jobs, id), id, &doc);

	if (r != 0)
		return r;
	r = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "final")) ? -EALREADY : 0;
	cJSON_Delete(doc);
	if (r == 0 && core_job_cancel(jobs->node->core, id, chorusd_now_ms()) != 0)
		r = -EALREADY; /* stored as open, unknown to the core: it is ending right now */
	chorusd_reschedule(jobs->node);
	return r;
}


size_t jobs_kinds(const struct jobs *jobs, const char **names, size_t max)
{
	return runner_kinds(jobs->runner, names, max);
}

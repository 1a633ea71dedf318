/*
 * The queue (docs/dispatch.md, "The queue") over the in-memory harness with
 * real signatures: jobs wait for a slot instead of failing, start as soon as
 * one frees (late binding: the worker pulls), in priority order and FIFO
 * within a priority, with fair shares between clients; a queued job whose
 * queue timeout passes fails saying how long it waited and for what; a
 * worker that dies holding reservations loses no job; a worker that joins
 * takes queued work at once; the frames' codec refuses what it must.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"
#include "dispatch/jobmsg.h"
#include "harness.h"
#include "tap.h"

static const char *const echo_caps[] = {"echo", NULL};

/* Clients n0 .. nclients-1 (no worker); the rest run echo with this capacity. */
static void setup(struct harness *h, int n, int nclients, uint32_t capacity, uint64_t seed)
{
	h_init(h, n, seed);
	for (int i = nclients; i < n; i++) {
		memcpy(h->nodes[i].caps, echo_caps, sizeof(echo_caps));
		h->nodes[i].capacity = capacity;
	}
	for (int i = 0; i < n; i++)
		h_start(h, i, 1000 + (uint64_t)i);
	for (int i = 1; i < n; i++)
		core_join(h->nodes[i].core, h->nodes[0].addr, h->now_ms);
	h_run_until(h, h->now_ms + 10000, h_all_see_alive, NULL);
	h_run(h, h->now_ms + 1500); /* records with capabilities have spread */
}

static int submit(struct harness *h, int node, uint8_t priority, uint32_t queue_timeout_ms,
                  uint32_t timeout_ms, uint64_t nonce, char id[CHORUS_JOB_ID_HEX + 1])
{
	struct job_spec spec;
	char payload[32];

	snprintf(payload, sizeof(payload), "job %llu", (unsigned long long)nonce);
	memset(&spec, 0, sizeof(spec));
	strcpy(spec.kind, "echo");
	spec.payload = (const uint8_t *)payload;
	spec.payload_len = strlen(payload);
	spec.timeout_ms = timeout_ms;
	spec.nonce = nonce;
	spec.created_ms = 1700000000000ULL + h->now_ms;
	spec.priority = priority;
	spec.queue_timeout_ms = queue_timeout_ms;
	return core_job_submit(h->nodes[node].core, &spec, id, h->now_ms);
}

static int core_ok(struct harness *h)
{
	for (int i = 0; i < h->n; i++) {
		const char *why = h->nodes[i].core && !h->nodes[i].down ? core_check(h->nodes[i].core)
		                                                         : NULL;

		if (why != NULL) {
			diag("node %d: %s", i, why);
			return 0;
		}
	}
	return 1;
}

#define JOBS_MAX 64
struct batch {
	char id[JOBS_MAX][CHORUS_JOB_ID_HEX + 1];
	int node[JOBS_MAX];
	uint64_t final_ms[JOBS_MAX]; /* 0: not final yet */
	int order[JOBS_MAX];         /* job indexes in the order they ended */
	int nfinal;
	int n;
	int seen_queued;             /* jobs seen in state queued */
	int queued_flag[JOBS_MAX];
};

/* Runs in 2 ms steps until every job is final (or until_ms), noting the order they end in. */
static int run_batch(struct harness *h, struct batch *b, uint64_t until_ms)
{
	while (b->nfinal < b->n && h->now_ms < until_ms) {
		h_run(h, h->now_ms + 2);
		for (int k = 0; k < b->n; k++) {
			struct h_job *j = h_job(h, b->id[k]);

			if (j == NULL)
				continue;
			if (j->v.state == JOB_QUEUED && !b->queued_flag[k]) {
				b->queued_flag[k] = 1;
				b->seen_queued++;
			}
			if (b->final_ms[k] == 0 && JOB_STATE_FINAL(j->v.state)) {
				b->final_ms[k] = h->now_ms;
				b->order[b->nfinal++] = k;
			}
		}
	}
	return b->nfinal == b->n;
}

static int all_once(struct harness *h, struct batch *b, enum job_state st)
{
	for (int k = 0; k < b->n; k++) {
		struct h_job *j = h_job(h, b->id[k]);

		if (j == NULL || j->v.state != st || j->finals != 1) {
			diag("job %d: %s, %d finals%s%s", k, j ? job_state_name(j->v.state) : "unknown",
			     j ? j->finals : 0, j && j->v.reason[0] ? ": " : "", j ? j->v.reason : "");
			return 0;
		}
	}
	return 1;
}

/* The first complaint: six 1-s jobs on one capacity-1 worker all succeed, one after another. */
static void test_six_jobs(void)
{
	struct harness h;
	struct batch b;
	uint64_t t0;
	const struct core_stats *st;

	memset(&b, 0, sizeof(b));
	setup(&h, 2, 1, 1, 11);
	h.run_ms = 1000;
	t0 = h.now_ms;
	for (b.n = 0; b.n < 6; b.n++)
		ok(submit(&h, 0, 0, 0, 5000, 100 + (uint64_t)b.n, b.id[b.n]) == 0, "submit job %d", b.n);
	/*
	 * Why they wait, 300 ms in: the worker's record still says load 0 (it
	 * publishes load every second), but its answer to the reservation said full.
	 */
	h_run(&h, t0 + 300);
	{
		int queued = 0, busy = 0;

		for (int k = 0; k < b.n; k++) {
			struct h_job *j = h_job(&h, b.id[k]);

			if (j != NULL && j->v.state == JOB_QUEUED) {
				queued++;
				busy += j->v.wait.workers == 1 && j->v.wait.slots == 1 && j->v.wait.busy == 1;
			}
		}
		ok(queued >= 4 && busy == queued,
		   "300 ms in, %d jobs queued, %d of them say: 1 worker, its one slot busy", queued, busy);
	}
	ok(run_batch(&h, &b, t0 + 10000), "all six end within 10 s");
	ok(all_once(&h, &b, JOB_SUCCEEDED), "all six succeeded, each reported final once");
	ok(h.nodes[1].runs == 6, "the worker ran six jobs (%d)", h.nodes[1].runs);
	ok(b.seen_queued >= 5, "five waited in state queued (%d seen)", b.seen_queued);
	/* One after another, each started within a few ms of the slot freeing: no polling timer. */
	for (int k = 1; k < 6; k++) {
		uint64_t gap = b.final_ms[b.order[k]] - b.final_ms[b.order[k - 1]];

		ok(gap >= 1000 && gap <= 1030, "job %d ends %llu ms after the one before (1000..1030)", k,
		   (unsigned long long)gap);
	}
	ok(b.final_ms[b.order[5]] - t0 <= 6200, "makespan %llu ms (6 x 1 s, at most 6.2 s)",
	   (unsigned long long)(b.final_ms[b.order[5]] - t0));
	st = core_stats(h.nodes[0].core);
	ok(st->jobs_queued >= 5 && st->jobs_failed == 0, "client: %llu queued, %llu failed",
	   (unsigned long long)st->jobs_queued, (unsigned long long)st->jobs_failed);
	ok(core_stats(h.nodes[1].core)->pulls_sent >= 5, "the worker pulled (%llu pulls)",
	   (unsigned long long)core_stats(h.nodes[1].core)->pulls_sent);
	ok(core_ok(&h), "core_check holds everywhere");
	h_free(&h);
}

/* Priorities: higher first; FIFO within one priority (late binding picks at pull time). */
static void test_priorities(void)
{
	static const uint8_t prio[] = {1, 5, 3, 9, 5, 0, 3, 5};
	static const int want[] = {3, 1, 4, 7, 2, 6, 0, 5}; /* indexes into prio: 9, 5 5 5, 3 3, 1, 0 */
	struct harness h;
	struct batch b;
	char blocker[CHORUS_JOB_ID_HEX + 1];
	int in_order = 1;

	memset(&b, 0, sizeof(b));
	setup(&h, 2, 1, 1, 12);
	h.run_ms = 100;
	ok(submit(&h, 0, 0, 0, 5000, 1, blocker) == 0, "submit a job that takes the only slot");
	h_run(&h, h.now_ms + 20);
	for (b.n = 0; b.n < (int)sizeof(prio); b.n++) {
		submit(&h, 0, prio[b.n], 0, 5000, 200 + (uint64_t)b.n, b.id[b.n]);
		h_run(&h, h.now_ms + 1); /* distinct submit times: FIFO is by submit order */
	}
	ok(run_batch(&h, &b, h.now_ms + 5000), "all end");
	ok(all_once(&h, &b, JOB_SUCCEEDED), "all succeeded once");
	ok(b.seen_queued == b.n, "all waited in state queued (%d of %d)", b.seen_queued, b.n);
	for (int k = 0; k < b.n; k++)
		if (b.order[k] != want[k]) {
			diag("position %d: job %d (priority %u), want job %d (priority %u)", k, b.order[k],
			     prio[b.order[k]], want[k], prio[want[k]]);
			in_order = 0;
		}
	ok(in_order, "they ran by priority, and in submit order within one");
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/* Fair share: two clients on shared workers get equal slot-time while both wait. */
static void test_fair_share(void)
{
	struct harness h;
	struct batch b;
	int done[2] = {0, 0}, last_b = -1;
	uint64_t t_end_b = 0;
	double share;

	memset(&b, 0, sizeof(b));
	setup(&h, 4, 2, 2, 13); /* clients n0, n1; workers n2, n3 of capacity 2 */
	h.run_ms = 100;
	/* n0 floods first: 40 jobs, then n1 asks for 20. */
	for (int k = 0; k < 40; k++, b.n++) {
		b.node[b.n] = 0;
		submit(&h, 0, 0, 0, 5000, 1000 + (uint64_t)k, b.id[b.n]);
	}
	for (int k = 0; k < 20; k++, b.n++) {
		b.node[b.n] = 1;
		submit(&h, 1, 0, 0, 5000, 2000 + (uint64_t)k, b.id[b.n]);
	}
	ok(run_batch(&h, &b, h.now_ms + 20000), "all 60 end");
	ok(all_once(&h, &b, JOB_SUCCEEDED), "all succeeded once");
	for (int k = 0; k < b.n; k++)
		if (b.node[b.order[k]] == 1)
			last_b = k;
	t_end_b = last_b >= 0 ? b.final_ms[b.order[last_b]] : 0;
	/* While both waited (until n1's last job ended): jobs of one length, so counts are slot-time. */
	for (int k = 0; k <= last_b; k++)
		done[b.node[b.order[k]]]++;
	share = (double)done[1] / (double)(done[0] + done[1]);
	ok(share >= 0.45 && share <= 0.55,
	   "while both waited, n1 had %.1f%% of the slot-time (%d jobs to n0's %d; 45..55%%)",
	   100 * share, done[1], done[0]);
	ok(t_end_b > 0, "n1 finished");
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/* A weight of 3 for one client gives it three quarters of the slots. */
static void test_weights(void)
{
	struct harness h;
	struct batch b;
	int done[2] = {0, 0}, last = -1;
	double share;

	memset(&b, 0, sizeof(b));
	setup(&h, 3, 2, 2, 14);
	h.run_ms = 100;
	ok(core_share_weight(h.nodes[2].core, h.nodes[0].pk, 3) == 0, "n0 weighs 3 on the worker");
	ok(core_share_weight(h.nodes[2].core, h.nodes[0].pk, 0) == CORE_ERR_INVAL &&
	       core_share_weight(h.nodes[2].core, h.nodes[0].pk, CHORUS_SHARE_WEIGHT_MAX + 1) ==
	           CORE_ERR_INVAL,
	   "weights out of 1..%u are refused", CHORUS_SHARE_WEIGHT_MAX);
	for (int k = 0; k < 30; k++, b.n++) {
		b.node[b.n] = b.n % 2;
		submit(&h, b.n % 2, 0, 0, 5000, 3000 + (uint64_t)k, b.id[b.n]);
	}
	ok(run_batch(&h, &b, h.now_ms + 20000), "all 30 end");
	ok(all_once(&h, &b, JOB_SUCCEEDED), "all succeeded once");
	/* Until the first client runs out of jobs. */
	for (int k = 0; k < b.n && last < 0; k++) {
		done[b.node[b.order[k]]]++;
		if (done[0] == 15 || done[1] == 15)
			last = k;
	}
	share = (double)done[0] / (double)(done[0] + done[1]);
	ok(share >= 0.68 && share <= 0.82, "n0 (weight 3) had %.1f%% of the slots (%d to %d; ~75%%)",
	   100 * share, done[0], done[1]);
	h_free(&h);
}

/* A queued job whose queue timeout passes fails, saying how long it waited and for what. */
static void test_queue_timeout(void)
{
	struct harness h;
	char busy[CHORUS_JOB_ID_HEX + 1], waiter[CHORUS_JOB_ID_HEX + 1];
	struct h_job *j;
	uint64_t t0;
	int was_queued = 0;

	setup(&h, 2, 1, 1, 15);
	h.nodes[1].stall = 1; /* the only slot never frees */
	ok(submit(&h, 0, 0, 0, 60000, 1, busy) == 0, "a long job takes the only slot");
	h_run(&h, h.now_ms + 1500); /* its load is in the worker's record */
	t0 = h.now_ms;
	ok(submit(&h, 0, 0, 3000, 5000, 2, waiter) == 0, "a job with a 3 s queue timeout");
	while (h.now_ms < t0 + 5000 && !h_job_final(&h, waiter)) {
		h_run(&h, h.now_ms + 10);
		j = h_job(&h, waiter);
		was_queued |= j != NULL && j->v.state == JOB_QUEUED;
	}
	j = h_job(&h, waiter);
	ok(was_queued, "it waited in state queued");
	ok(j && j->v.state == JOB_FAILED && j->finals == 1, "then it failed, once");
	ok(h.now_ms - t0 >= 3000 && h.now_ms - t0 <= 3100, "at its queue timeout (%llu ms)",
	   (unsigned long long)(h.now_ms - t0));
	ok(j && strstr(j->v.reason, "queued 3.0 s: 1 worker runs echo, all 1 slots busy; queue timeout 3 s") != NULL,
	   "the reason says how long and for what: %s", j ? j->v.reason : "?");
	ok(j && j->v.queued_ms >= 2900, "its view says it was queued %llu ms",
	   j ? (unsigned long long)j->v.queued_ms : 0ULL);
	ok(h_job(&h, busy) && h_job(&h, busy)->v.state == JOB_RUNNING,
	   "the run timeout of the running job is its own (still running)");
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/* A worker dies holding reservations: the other takes every job, none is lost. */
static void test_worker_dies(void)
{
	struct harness h;
	struct batch b;
	int runs;

	memset(&b, 0, sizeof(b));
	setup(&h, 3, 1, 1, 16);
	h.run_ms = 400;
	for (b.n = 0; b.n < 6; b.n++)
		submit(&h, 0, 0, 0, 30000, 500 + (uint64_t)b.n, b.id[b.n]);
	h_run(&h, h.now_ms + 150);
	ok(core_stats(h.nodes[1].core)->reservations_kept > 0 &&
	       core_stats(h.nodes[2].core)->reservations_kept > 0,
	   "both workers keep reservations");
	h.nodes[1].down = 1; /* dies mid-job, holding reservations */
	ok(run_batch(&h, &b, h.now_ms + 30000), "all end");
	ok(all_once(&h, &b, JOB_SUCCEEDED), "all six succeeded, each once");
	runs = h.nodes[2].runs;
	ok(runs >= 5, "the survivor ran the rest (%d)", runs);
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/* A worker that joins while jobs wait takes them at once (asked on the membership change). */
static void test_worker_joins(void)
{
	struct harness h;
	struct batch b;
	uint64_t t_join;

	memset(&b, 0, sizeof(b));
	h_init(&h, 3, 17);
	for (int i = 1; i < 3; i++) {
		memcpy(h.nodes[i].caps, echo_caps, sizeof(echo_caps));
		h.nodes[i].capacity = 2;
	}
	h.nodes[1].stall = 1;
	h_start(&h, 0, 1000);
	h_start(&h, 1, 1001);
	core_join(h.nodes[1].core, h.nodes[0].addr, h.now_ms);
	h_run(&h, h.now_ms + 3000);
	h.run_ms = 50;
	for (b.n = 0; b.n < 6; b.n++)
		submit(&h, 0, 0, 0, 60000, 700 + (uint64_t)b.n, b.id[b.n]);
	h_run(&h, h.now_ms + 500);
	ok(core_stats(h.nodes[0].core)->jobs_queued >= 4, "four wait behind the stalled worker");
	t_join = h.now_ms;
	h_start(&h, 2, 5000);
	core_join(h.nodes[2].core, h.nodes[0].addr, h.now_ms);
	/* The two on the stalled worker never end; the four queued do, on the new one. */
	b.n = 6;
	run_batch(&h, &b, t_join + 3000);
	ok(b.nfinal == 4, "the four queued jobs ended (%d)", b.nfinal);
	ok(h.nodes[2].runs == 4, "on the worker that joined (%d)", h.nodes[2].runs);
	ok(b.nfinal == 4 && b.final_ms[b.order[0]] - t_join <= 1500,
	   "the first within %llu ms of the join (membership, not a timer of seconds)",
	   b.nfinal ? (unsigned long long)(b.final_ms[b.order[0]] - t_join) : 0ULL);
	h_free(&h);
}

/* Back-pressure: past CHORUS_QUEUED_MAX waiting jobs a submit is refused at once. */
static void test_bound(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	int rc = 0, n = 0;

	setup(&h, 2, 1, 1, 18);
	h.nodes[1].stall = 1;
	while (n <= CHORUS_QUEUED_MAX && (rc = submit(&h, 0, 0, 0, 60000, 9000 + (uint64_t)n, id)) == 0)
		n++;
	ok(rc == CORE_ERR_FULL && n == CHORUS_QUEUED_MAX, "submit %d refused with FULL (%s)", n,
	   core_strerror(rc));
	ok(core_jobs_inflight(h.nodes[0].core) == (size_t)n, "and every accepted one is in flight");
	ok(submit(&h, 0, CHORUS_PRIORITY_MAX + 1, 0, 1000, 1, id) == CORE_ERR_INVAL,
	   "a priority over %d is refused", CHORUS_PRIORITY_MAX);
	h_free(&h);
}

static void test_codec(void)
{
	static const char *const bad[] = {
	    "{}", "{\"kind\":\"bad kind\"}", "{\"kind\":\"echo\",\"ask\":2,\"n\":1}",
	    "{\"kind\":\"echo\",\"ask\":1}", "{\"kind\":\"echo\",\"job\":\"zz\"}",
	    "{\"kind\":\"echo\",\"load\":1}", "{\"kind\":\"echo\",\"load\":-1,\"cap\":1,\"ahead\":0}",
	    "{\"kind\":\"echo\",\"ask\":1,\"n\":99999999}", "{\"kind\":7}",
	};
	struct jqueue q, back;
	char text[JOBMSG_QUEUE_MAX];
	cJSON *o;
	int n, refused = 0;

	memset(&q, 0, sizeof(q));
	strcpy(q.kind, "echo");
	q.has_job = 1;
	memset(q.id, 0xab, sizeof(q.id));
	q.has_load = 1;
	q.load = 4;
	q.cap = 4;
	q.ahead = 17;
	n = jobmsg_queue_encode(text, sizeof(text), &q);
	o = cJSON_Parse(text);
	ok(n > 0 && o != NULL && jobmsg_queue_decode(&back, o) == 0 &&
	       memcmp(&back, &q, sizeof(q)) == 0,
	   "a reservation answer round-trips (%s)", text);
	cJSON_Delete(o);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		o = cJSON_Parse(bad[k]);
		refused += o != NULL && jobmsg_queue_decode(&back, o) < 0;
		cJSON_Delete(o);
	}
	ok(refused == (int)(sizeof(bad) / sizeof(bad[0])), "malformed queue bodies are refused (%d)",
	   refused);
}

int main(void)
{
	test_codec();
	test_six_jobs();
	test_priorities();
	test_fair_share();
	test_weights();
	test_queue_timeout();
	test_worker_dies();
	test_worker_joins();
	test_bound();
	return tap_done();
}

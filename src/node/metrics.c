/*
 * metrics: the few numbers GET /metrics shows that no counter holds already
 * (api-metrics.c reads the rest from the core, the fabric and the stores).
 *
 * Histograms with fixed bucket bounds, so their memory is bounded whatever
 * the traffic; the shell feeds them from what it already sees: a job's final
 * view (jobs.c's job_cb), the time around a store's commit, the Raft leader
 * after each pump.  Nothing here decides anything, and nothing is read back
 * by the node: a wrong bucket costs a wrong graph, never a wrong job.  One
 * thread (the loop) writes and reads them; the helpers never touch them.
 */
#include <assert.h>
#include <stdint.h>
#include <time.h>

#include "node.h"

/* Upper bounds of the buckets (le), ascending; +Inf is implied. */
static const double metrics_bounds_job_s[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};
static const double metrics_bounds_offers[] = { 0, 1, 2, 3, 4, 6, 8, 12, 16, 32, 64 };
static const double metrics_bounds_store_s[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};
#define METRICS_NBOUNDS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(METRICS_NBOUNDS(metrics_bounds_job_s) <= METRICS_BUCKETS_MAX, "bucket bound");
_Static_assert(METRICS_NBOUNDS(metrics_bounds_offers) <= METRICS_BUCKETS_MAX, "bucket bound");
_Static_assert(METRICS_NBOUNDS(metrics_bounds_store_s) <= METRICS_BUCKETS_MAX, "bucket bound");

static struct metrics_hist metrics_hists[METRICS_HISTS] = {
	[METRICS_JOB_DURATION] = { metrics_bounds_job_s, METRICS_NBOUNDS(metrics_bounds_job_s) },
	[METRICS_JOB_OFFERS] = { metrics_bounds_offers, METRICS_NBOUNDS(metrics_bounds_offers) },
	[METRICS_JOB_QUEUED] = { metrics_bounds_job_s, METRICS_NBOUNDS(metrics_bounds_job_s) },
	[METRICS_FSYNC_RAFT] = { metrics_bounds_store_s, METRICS_NBOUNDS(metrics_bounds_store_s) },
	[METRICS_COMMIT_JOBS] = { metrics_bounds_store_s, METRICS_NBOUNDS(metrics_bounds_store_s) },
	[METRICS_COMMIT_OUTBOX] = { metrics_bounds_store_s, METRICS_NBOUNDS(metrics_bounds_store_s) },
};

static struct {
	uint64_t leader;         /* the last Raft leader seen (never 0: an election is not one) */
	uint64_t leader_changes; /* times a leader other than that one was seen (the first too) */
} metrics_raft;

void
metrics_observe(enum metrics_hist_id h, double v)
{
	struct metrics_hist *m;
	unsigned i = 0;

	assert(h < METRICS_HISTS);
	if (h >= METRICS_HISTS)
		return;
	m = &metrics_hists[h];
	assert(m->nbounds > 0 && m->nbounds <= METRICS_BUCKETS_MAX);
	while (i < m->nbounds && v > m->bounds[i])
		i++;
	m->buckets[i]++; /* i == nbounds: above every bound, only in +Inf */
	m->count++;
	m->sum += v;
}

uint64_t
metrics_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The seconds since start_ns (a metrics_clock_ns() reading) into histogram h. */
void
metrics_observe_since(enum metrics_hist_id h, uint64_t start_ns)
{
	uint64_t now = metrics_clock_ns();

	metrics_observe(h, now > start_ns ? (double)(now - start_ns) / 1e9 : 0.0);
}

const struct metrics_hist *
metrics_hist(enum metrics_hist_id h)
{
	assert(h < METRICS_HISTS);
	return &metrics_hists[h < METRICS_HISTS ? h : 0];
}

/*
 * A client job became final: how long it took since its submit, the offers
 * it got, and how long of it it waited queued for a slot (the core's
 * queued_ms: 0 for a job that never queued).
 */
void
metrics_job_final(const struct job_view *v)
{
	assert(JOB_STATE_FINAL(v->state));
	metrics_observe(METRICS_JOB_DURATION, (double)v->elapsed_ms / 1000.0);
	metrics_observe(METRICS_JOB_OFFERS, (double)v->offers);
	metrics_observe(METRICS_JOB_QUEUED, (double)v->queued_ms / 1000.0);
}

/*
 * The Raft leader after a pump (0: none known).  As etcd's
 * leader_changes_seen: each new leader counts once, the first included; a
 * spell without one between two terms of the same leader does not.
 */
void
metrics_raft_leader(uint64_t leader)
{
	if (leader == 0 || leader == metrics_raft.leader)
		return;
	metrics_raft.leader_changes++;
	metrics_raft.leader = leader;
}

uint64_t
metrics_leader_changes(void)
{
	return metrics_raft.leader_changes;
}

/*
 * GET /metrics: the node's numbers in Prometheus' text exposition format
 * (version 0.0.4), for a Prometheus server to scrape.  docs/metrics.md lists
 * every metric.
 *
 * Read-only like every GET (api-auth.c: no token; Host and Origin checked).
 * Names follow Prometheus' conventions: the chorus_ prefix, base units
 * (seconds, bytes) last, counters end in _total; the process_* metrics are
 * named as the standard process collector names them.  Most values are
 * counters the core, the fabric and the stores keep anyway; the histograms
 * are metrics.c's.  A scrape reads them and writes text, nothing more: its
 * cost is a walk of the in-flight jobs (CHORUS_JOBS_INFLIGHT_MAX at most) and
 * four small reads under /proc.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "node.h"
#include "voterd.h"
#include "chorus/consensus.h"
#include "lread.h"

#define API_METRICS_PATH  "/metrics"
#define API_METRICS_TYPE  "text/plain; version=0.0.4; charset=utf-8"
#define API_METRICS_PROC_MAX 1024 /* bytes read of /proc/self/stat and /proc/stat lines */

/* "# HELP" and "# TYPE" of one family: its samples follow at once. */
static void
api_metrics_head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: labels is "" or `key="value",...` (values here never need escaping). */
static void
api_metrics_u64(struct evbuffer *b, const char *name, const char *labels, uint64_t v)
{
	evbuffer_add_printf(b, "%s%s%s%s %llu\n", name, labels[0] != '\0' ? "{" : "", labels,
	                    labels[0] != '\0' ? "}" : "", (unsigned long long)v);
}

static void
api_metrics_f64(struct evbuffer *b, const char *name, const char *labels, double v)
{
	evbuffer_add_printf(b, "%s%s%s%s %.15g\n", name, labels[0] != '\0' ? "{" : "", labels,
	                    labels[0] != '\0' ? "}" : "", v);
}

/* A family of one unlabelled sample. */
static void
api_metrics_one(struct evbuffer *b, const char *name, const char *type, const char *help,
                uint64_t v)
{
	api_metrics_head(b, name, type, help);
	api_metrics_u64(b, name, "", v);
}

/* The samples of one histogram (its head already written), under labels ("" for none). */
static void
api_metrics_hist(struct evbuffer *b, const char *name, const char *labels,
                 enum metrics_hist_id id)
{
	const struct metrics_hist *h = metrics_hist(id);
	char key[128], lab[160];
	uint64_t cum = 0;

	snprintf(key, sizeof key, "%s_bucket", name);
	for (unsigned i = 0; i <= h->nbounds; i++) {
		cum += h->buckets[i];
		if (i < h->nbounds)
			snprintf(lab, sizeof lab, "%s%sle=\"%g\"", labels, labels[0] != '\0' ? "," : "",
			         h->bounds[i]);
		else
			snprintf(lab, sizeof lab, "%s%sle=\"+Inf\"", labels, labels[0] != '\0' ? "," : "");
		api_metrics_u64(b, key, lab, cum);
	}
	snprintf(key, sizeof key, "%s_sum", name);
	api_metrics_f64(b, key, labels, h->sum);
	snprintf(key, sizeof key, "%s_count", name);
	api_metrics_u64(b, key, labels, h->count);
}

/* ---------------------------------------------------------------- membership and frames */

static void
api_metrics_members(struct evbuffer *b, const struct node *node)
{
	size_t counts[4] = { 0 };
	char lab[32];

	core_member_counts(node->core, counts);
	api_metrics_head(b, "chorus_members", "gauge",
	                 "Members this node knows, by state (itself included, as alive).");
	for (int st = MEMBER_ALIVE; st <= MEMBER_LEFT; st++) {
		snprintf(lab, sizeof lab, "state=\"%s\"", member_state_name(st));
		api_metrics_u64(b, "chorus_members", lab, counts[st]);
	}
}

static void
api_metrics_frames(struct evbuffer *b, const struct node *node)
{
	const struct core_stats *st = core_stats(node->core);
	const struct fabric_stats *fs = fabric_stats(node->fabric);
	const struct { const char *reason; uint64_t n; } drops[] = {
		{ "malformed", st->drop_malformed },   { "oversize", st->drop_oversize },
		{ "version", st->drop_version },       { "bad_signature", st->drop_badsig },
		{ "replay", st->drop_replay },         { "stale", st->drop_stale },
		{ "unknown_type", st->drop_unknown_type }, { "bad_key", st->drop_badkey },
		{ "misrouted", st->drop_misrouted },   { "no_key", st->drop_nokey },
		{ "before_start", st->drop_before_start }, { "window", st->drop_window },
		{ "job_forged", st->drop_job_forged }, { "job_stale", st->drop_job_stale },
	};
	char lab[48];

	api_metrics_one(b, "chorus_frames_received_total", "counter",
	                "Frames received from the fabric.", st->frames_in);
	api_metrics_one(b, "chorus_frames_sent_total", "counter", "Frames sent.", st->frames_out);
	api_metrics_one(b, "chorus_frame_received_bytes_total", "counter",
	                "Bytes of the frames received.", st->bytes_in);
	api_metrics_one(b, "chorus_frame_sent_bytes_total", "counter", "Bytes of the frames sent.",
	                st->bytes_out);
	api_metrics_head(b, "chorus_frames_dropped_total", "counter",
	                 "Frames received and dropped, by reason.");
	for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++) {
		snprintf(lab, sizeof lab, "reason=\"%s\"", drops[i].reason);
		api_metrics_u64(b, "chorus_frames_dropped_total", lab, drops[i].n);
	}
	api_metrics_one(b, "chorus_frames_send_dropped_total", "counter",
	                "Frames not sent: the peer's queue was full or its socket failed.",
	                fs->send_drops);
	api_metrics_one(b, "chorus_envelopes_dropped_total", "counter",
	                "Malformed envelopes (batches of frames) dropped with their frames.",
	                fs->drop_batch);
	api_metrics_one(b, "chorus_fabric_peers", "gauge", "Peer connections open.", fs->peers_open);
	api_metrics_one(b, "chorus_swim_probes_total", "counter", "Failure-detector probes sent.",
	                st->probes);
	api_metrics_one(b, "chorus_swim_probe_failures_total", "counter",
	                "Probes without an answer in time.", st->probe_failures);
	api_metrics_one(b, "chorus_swim_suspicions_total", "counter",
	                "Members this node declared suspect.", st->suspicions);
}

/* ---------------------------------------------------------------- jobs */

static void
api_metrics_jobs(struct evbuffer *b, const struct node *node)
{
	const struct core_stats *st = core_stats(node->core);
	size_t counts[JOB_STATE_COUNT];
	char lab[32];

	core_job_counts(node->core, counts);
	api_metrics_head(b, "chorus_jobs", "gauge",
	                 "This node's client jobs in flight, by state (queued: waiting for a slot).");
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		if (JOB_STATE_FINAL(s))
			continue; /* a final job leaves the core: chorus_jobs_completed_total */
		snprintf(lab, sizeof lab, "state=\"%s\"", job_state_name(s));
		api_metrics_u64(b, "chorus_jobs", lab, counts[s]);
	}
	api_metrics_one(b, "chorus_jobs_submitted_total", "counter", "Client jobs submitted here.",
	                st->jobs_submitted);
	api_metrics_head(b, "chorus_jobs_completed_total", "counter",
	                 "Client jobs that reached a final state, by outcome.");
	api_metrics_u64(b, "chorus_jobs_completed_total", "outcome=\"succeeded\"", st->jobs_succeeded);
	api_metrics_u64(b, "chorus_jobs_completed_total", "outcome=\"failed\"", st->jobs_failed);
	api_metrics_u64(b, "chorus_jobs_completed_total", "outcome=\"cancelled\"", st->jobs_cancelled);
	api_metrics_head(b, "chorus_job_duration_seconds", "histogram",
	                 "Client jobs, from submit to their final state.");
	api_metrics_hist(b, "chorus_job_duration_seconds", "", METRICS_JOB_DURATION);
	api_metrics_head(b, "chorus_job_offers", "histogram",
	                 "Offers a client job received over all its request rounds.");
	api_metrics_hist(b, "chorus_job_offers", "", METRICS_JOB_OFFERS);
	api_metrics_head(b, "chorus_job_queue_wait_seconds", "histogram",
	                 "Client jobs, the time they waited queued for a free slot.");
	api_metrics_hist(b, "chorus_job_queue_wait_seconds", "", METRICS_JOB_QUEUED);
	api_metrics_one(b, "chorus_job_requests_sent_total", "counter",
	                "Work requests broadcast (every round of every job).", st->requests_sent);
	api_metrics_one(b, "chorus_job_offers_received_total", "counter", "Offers received.",
	                st->offers_received);
	api_metrics_one(b, "chorus_job_failovers_total", "counter",
	                "Dispatches moved to the next worker.", st->failovers);
	api_metrics_one(b, "chorus_work_requests_received_total", "counter",
	                "Work requests received from clients.", st->requests_received);
	api_metrics_one(b, "chorus_work_offers_sent_total", "counter", "Offers this worker sent.",
	                st->offers_sent);
	api_metrics_one(b, "chorus_work_started_total", "counter", "Jobs this worker started.",
	                st->works_started);
	api_metrics_one(b, "chorus_worker_slots_used", "gauge", "Jobs this worker runs now.",
	                core_work_running(node->core));
	api_metrics_one(b, "chorus_worker_slots", "gauge", "Jobs this worker runs at once (--capacity).",
	                node->cfg.capacity);
}

/* ---------------------------------------------------------------- Raft, the ledger, the stores */

static void
api_metrics_raft(struct evbuffer *b, const struct node *node)
{
	int r = node->consensus != NULL && voterd_booted(node->consensus);
	const struct ledger *l = node->consensus != NULL ? voterd_ledger(node->consensus) : NULL;
	struct consensus_status rs;
	struct ledger_stats ls;
	uint64_t depth = 0, high = 0, low = 0;

	memset(&rs, 0, sizeof rs);
	memset(&ls, 0, sizeof ls);
	if (r)
		(void)voterd_log_status(node->consensus, &rs);
	if (l != NULL)
		ledger_stats(l, &ls);
	if (node->consensus != NULL)
		(void)voterd_lagging(node->consensus, &depth, &high, &low);
	api_metrics_one(b, "chorus_raft_term", "gauge", "Raft's current term (0: not a voter).",
	                rs.term);
	api_metrics_one(b, "chorus_raft_commit_index", "gauge", "Raft's commit index.", rs.commit);
	api_metrics_one(b, "chorus_raft_applied_index", "gauge", "Raft's applied index.", rs.applied);
	api_metrics_one(b, "chorus_raft_is_leader", "gauge", "1 while this node leads the ledger.",
	                r && voterd_is_leader(node->consensus) ? 1 : 0);
	api_metrics_one(b, "chorus_raft_leader_changes_total", "counter",
	                "New Raft leaders this voter saw (the first included).",
	                metrics_leader_changes());
	api_metrics_one(b, "chorus_ledger_height", "gauge", "Ledger blocks applied here.", ls.height);
	api_metrics_one(b, "chorus_ledger_jobs_credited_total", "counter",
	                "Distinct jobs the applied ledger credited.", ls.credited);
	api_metrics_one(b, "chorus_ledger_credits_total", "counter",
	                "Credits (job rewards) the applied ledger awarded.", ls.total_reward);
	api_metrics_one(b, "chorus_ledger_outbox_acks", "gauge",
	                "This node's completion acks waiting for the ledger.", depth);
	if (node->lread != NULL) {
		struct lread_stats rd;

		lread_stats(node->lread, &rd);
		api_metrics_head(b, "chorus_ledger_reads_total", "counter",
		                 "Ledger reads this node (holding no ledger) asked of voters, by outcome.");
		api_metrics_u64(b, "chorus_ledger_reads_total", "outcome=\"answered\"", rd.answered);
		api_metrics_u64(b, "chorus_ledger_reads_total", "outcome=\"failed\"", rd.failed);
		api_metrics_u64(b, "chorus_ledger_reads_total", "outcome=\"busy\"", rd.busy);
		api_metrics_one(b, "chorus_ledger_read_dropped_total", "counter",
		                "Read messages dropped: malformed, forged, stale or lying answers.",
		                rd.dropped);
		api_metrics_one(b, "chorus_ledger_reads_served_total", "counter",
		                "Ledger reads this voter answered from its ledger for other nodes.",
		                rd.served);
	}
	api_metrics_head(b, "chorus_store_fsync_seconds", "histogram",
	                 "raft.db commits, each waiting for an fsync of its WAL (synchronous=FULL).");
	api_metrics_hist(b, "chorus_store_fsync_seconds", "db=\"raft\"", METRICS_FSYNC_RAFT);
	api_metrics_head(b, "chorus_store_commit_seconds", "histogram",
	                 "SQLite commits without an fsync of their own (synchronous=NORMAL).");
	api_metrics_hist(b, "chorus_store_commit_seconds", "db=\"jobs\"", METRICS_COMMIT_JOBS);
	api_metrics_hist(b, "chorus_store_commit_seconds", "db=\"outbox\"", METRICS_COMMIT_OUTBOX);
}

/* ---------------------------------------------------------------- the process */

/* The boot time (btime of /proc/stat), seconds since the epoch; 0 when unknown. */
static unsigned long long
api_metrics_btime(void)
{
	char line[API_METRICS_PROC_MAX];
	unsigned long long bt = 0;
	FILE *fp = fopen("/proc/stat", "r");

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof line, fp) != NULL)
		if (sscanf(line, "btime %llu", &bt) == 1)
			break;
	fclose(fp);
	return bt;
}

/* CPU seconds and start time from /proc/self/stat (fields 14, 15 and 22); -1 when unreadable. */
static int
api_metrics_stat(double *cpu_s, double *start_s)
{
	char buf[API_METRICS_PROC_MAX];
	unsigned long long ut, stime, start;
	long tck = sysconf(_SC_CLK_TCK);
	FILE *fp = fopen("/proc/self/stat", "r");
	size_t n;
	char *p;

	if (fp == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* The name (field 2) may hold spaces and parentheses: fields are counted after its last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || tck <= 0 ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
	                  "%*d %*d %llu", &ut, &stime, &start) != 3)
		return -1;
	*cpu_s = (double)(ut + stime) / (double)tck;
	*start_s = (double)api_metrics_btime() + (double)start / (double)tck;
	return 0;
}

static unsigned long long
api_metrics_open_fds(void)
{
	unsigned long long n = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the descriptor opendir holds */
}

static void
api_metrics_process(struct evbuffer *b)
{
	unsigned long long pages_vm = 0, pages_rss = 0;
	long page = sysconf(_SC_PAGESIZE);
	double cpu_s = 0, start_s = 0;
	struct rlimit rl;
	FILE *fp = fopen("/proc/self/statm", "r");

	if (fp != NULL) {
		if (fscanf(fp, "%llu %llu", &pages_vm, &pages_rss) != 2)
			pages_vm = pages_rss = 0;
		fclose(fp);
	}
	if (api_metrics_stat(&cpu_s, &start_s) == 0) {
		api_metrics_head(b, "process_cpu_seconds_total", "counter",
		                 "Total user and system CPU time spent in seconds.");
		api_metrics_f64(b, "process_cpu_seconds_total", "", cpu_s);
		api_metrics_head(b, "process_start_time_seconds", "gauge",
		                 "Start time of the process since unix epoch in seconds.");
		api_metrics_f64(b, "process_start_time_seconds", "", start_s);
	}
	api_metrics_one(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
	                pages_rss * (unsigned long long)(page > 0 ? page : 4096));
	api_metrics_one(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
	                pages_vm * (unsigned long long)(page > 0 ? page : 4096));
	api_metrics_one(b, "process_open_fds", "gauge", "Number of open file descriptors.",
	                api_metrics_open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		api_metrics_one(b, "process_max_fds", "gauge",
		                "Maximum number of open file descriptors.", rl.rlim_cur);
}

/* ---------------------------------------------------------------- the route */

int
api_metrics_route(struct node *node, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct evbuffer *b;

	if (strcmp(path, API_METRICS_PATH) != 0)
		return 0;
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(hdrs, "Allow", "GET, HEAD");
		api_reply_error(req, 405, "Method Not Allowed", "method not allowed");
		return 1;
	}
	if ((b = evbuffer_new()) == NULL) {
		api_reply_error(req, HTTP_INTERNAL, "Internal Server Error", "out of memory");
		return 1;
	}
	api_metrics_head(b, "chorus_build_info", "gauge", "Always 1; the version as a label.");
	api_metrics_u64(b, "chorus_build_info", "version=\"" CHORUS_VERSION "\"", 1);
	api_metrics_members(b, node);
	api_metrics_frames(b, node);
	api_metrics_jobs(b, node);
	api_metrics_raft(b, node);
	api_metrics_process(b);
	evhttp_add_header(hdrs, "Content-Type", API_METRICS_TYPE);
	evhttp_add_header(hdrs, "Cache-Control", "no-store");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
	return 1;
}

/*
 * api-jobs: the job endpoints of the HTTP API.
 *
 *   POST /v1/jobs[?wait_ms=N]     {"kind","payload_b64","timeout_ms","reward","priority",
 *                                 "queue_timeout_s"} -> 202 record
 *                                 (with wait_ms: 200 and the record once final, or at N ms);
 *                                 507 when the job cannot be stored (full disk), 503 while
 *                                 the ledger lags, 429 when this node's queue is full
 *   GET  /v1/jobs?limit=N         {"jobs":[record...]}, newest first
 *   GET  /v1/jobs/ID[?wait_ms=N]  the record; with wait_ms, held until final or N ms
 *   POST /v1/jobs/ID/cancel       the record, 404 unknown, 409 already final
 *   GET  /v1/jobs/ID/logs[?out=N&err=M&wait_ms=T]
 *                                 live output kept here (joblog.c) from byte N of stdout
 *                                 and M of stderr, at most CHORUS_OUTPUT_READ_MAX of each;
 *                                 with wait_ms, held until there is more or the job is final
 *                                 (a long poll with offset cursors: one bounded answer per
 *                                 request, so a slow reader holds nothing here)
 *
 * The job table (jobstore.c) is the one source of what is answered; a read
 * first writes the core's live state of what it reads (jobs_sync).  A held
 * request is a waiter: api_job_final() wakes it from the loop, never from
 * inside the core, and a timer answers it when the wait runs out.  A live
 * job's record also says why it waits ("wait", from the core: jobs_add_wait).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "api-body.h"
#include "node.h"

#define API_LIST_DEFAULT  20
#define API_LIST_MAX      1000

struct api_jobs {
	struct node *node;
	struct api_waits *waits; /* requests held until their job is final */
	struct api_waits *logs;  /* log reads held until their job has more output or is final */
};

static int api_jobs_valid_id(const char *id)
{
	size_t n = strspn(id, "0123456789abcdef");

	return n == CHORUS_JOB_ID_HEX && id[n] == '\0';
}

static void api_jobs_reply_record(struct api_jobs *aj, struct evhttp_request *req, const char *id,
                                  int code, const char *reason)
{
	cJSON *doc;
	int r = jobstore_get_json(jobs_sync(aj->node->jobs, id), id, &doc);

	if (r == -ENOENT)
		api_reply_error(req, HTTP_NOTFOUND, "Not Found", "no such job");
	else if (r == -EBADMSG)
		api_reply_error(req, HTTP_INTERNAL, "Internal Server Error",
		                "jobs.db is damaged: this job's stored result does not match its digest"
		                " (not served; see chorusd(8), DAMAGE)");
	else if (r != 0)
		api_reply_error(req, HTTP_INTERNAL, "Internal Server Error", "cannot read the job table");
	else {
		jobs_add_wait(aj->node->jobs, doc);
		api_reply(req, code, reason, doc);
	}
}

/* ---------------------------------------------------------------- waiters */

static int api_jobs_wait(struct api_jobs *aj, struct evhttp_request *req, const char *id,
                         unsigned wait_ms);

#define API_JOBS_REWAIT_MS 200 /* a woken waiter that reads its job still live waits this more */

/*
 * A held request: its job is final, or the wait ran out; either way, the
 * record.  Woken, it should read the job final (jobs.c wakes it once the
 * final state is written); mission runs saw a few in 10,000 read it still
 * live (cause not found), so such a one waits up to API_JOBS_REWAIT_MS more,
 * said at debug level, rather than answer a job that succeeded as running.
 */
static void api_jobs_waited(void *ctx, struct evhttp_request *req, const char *id, int woken,
                            uint64_t value)
{
	struct api_jobs *aj = ctx;
	cJSON *doc;
	int final = 1;

	(void)value;
	if (woken && jobstore_get_json(jobs_sync(aj->node->jobs, id), id, &doc) == 0) {
		final = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "final"));
		cJSON_Delete(doc);
	}
	if (!final && api_jobs_wait(aj, req, id, API_JOBS_REWAIT_MS) == 0) {
		log_debug("api", "event=wake_not_final job=%s what=\"woken, read live: waits %d ms more\"",
		          id, API_JOBS_REWAIT_MS);
		return;
	}
	api_jobs_reply_record(aj, req, id, HTTP_OK, "OK");
}

static int api_jobs_wait(struct api_jobs *aj, struct evhttp_request *req, const char *id,
                         unsigned wait_ms)
{
	return api_wait(aj->waits, req, id, wait_ms);
}

void api_jobs_final(struct api_jobs *aj, const char *job_id)
{
	api_wake(aj->waits, job_id, 0);
	api_wake(aj->logs, job_id, 0);
}

void api_jobs_output(struct api_jobs *aj, const char *job_id)
{
	api_wake(aj->logs, job_id, 0);
}

/* ---------------------------------------------------------------- logs */

/* One stream from its cursor, bounded: "out" (base64), "out_next", "_more", "_dropped" ... */
static int api_jobs_logs_stream(cJSON *obj, const char *name, const struct joblog_view *v, int k,
                                unsigned from)
{
	size_t start = from < v->len[k] ? from : v->len[k], n = v->len[k] - start;
	char key[32], *b64;
	int bad;

	if (n > CHORUS_OUTPUT_READ_MAX)
		n = CHORUS_OUTPUT_READ_MAX;
	if ((b64 = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL))) == NULL)
		return -ENOMEM;
	sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL),
	                  n > 0 ? v->data[k] + start : (const uint8_t *)"", n,
	                  sodium_base64_VARIANT_ORIGINAL);
	bad = cJSON_AddStringToObject(obj, name, b64) == NULL;
	free(b64);
	snprintf(key, sizeof key, "%s_next", name);
	bad |= cJSON_AddNumberToObject(obj, key, (double)(start + n)) == NULL;
	snprintf(key, sizeof key, "%s_more", name);
	bad |= cJSON_AddBoolToObject(obj, key, start + n < v->len[k]) == NULL;
	snprintf(key, sizeof key, "%s_dropped", name);
	bad |= cJSON_AddNumberToObject(obj, key, (double)v->dropped[k]) == NULL;
	snprintf(key, sizeof key, "%s_ended", name);
	bad |= cJSON_AddBoolToObject(obj, key, v->ended[k]) == NULL;
	return bad ? -ENOMEM : 0;
}

/* The answer to a log read (no waiting): 404 for a job this node never had. */
static void api_jobs_logs_reply(struct api_jobs *aj, struct evhttp_request *req, const char *id)
{
	int bad = 0;
	unsigned out = api_query_uint(req, "out", 0, CHORUS_OUTPUT_JOB_MAX, &bad);
	unsigned err = api_query_uint(req, "err", 0, CHORUS_OUTPUT_JOB_MAX, &bad);
	struct joblog_view v;
	cJSON *doc, *obj;
	const char *state;
	int kept, r;

	if (bad) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", "out and err must be byte offsets");
		return;
	}
	if ((r = jobstore_get_json(jobs_sync(aj->node->jobs, id), id, &doc)) != 0) {
		api_jobs_reply_record(aj, req, id, HTTP_OK, "OK"); /* says why: unknown, damaged */
		return;
	}
	kept = joblog_get(jobs_log(aj->node->jobs), id, &v) == 0;
	state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "state"));
	obj = cJSON_CreateObject();
	if (obj == NULL || cJSON_AddStringToObject(obj, "id", id) == NULL ||
	    cJSON_AddStringToObject(obj, "state", state != NULL ? state : "unknown") == NULL ||
	    cJSON_AddBoolToObject(obj, "final", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	                                            doc, "final"))) == NULL ||
	    cJSON_AddBoolToObject(obj, "kept", kept) == NULL ||
	    cJSON_AddNumberToObject(obj, "attempt", v.attempt) == NULL ||
	    api_jobs_logs_stream(obj, "out", &v, 0, out) != 0 ||
	    api_jobs_logs_stream(obj, "err", &v, 1, err) != 0) {
		cJSON_Delete(obj);
		cJSON_Delete(doc);
		api_reply_error(req, HTTP_INTERNAL, "Internal Server Error", "out of memory");
		return;
	}
	cJSON_Delete(doc);
	api_reply(req, HTTP_OK, "OK", obj);
}

static void api_jobs_logs_waited(void *ctx, struct evhttp_request *req, const char *id,
                                 int woken, uint64_t value)
{
	(void)woken;
	(void)value;
	api_jobs_logs_reply(ctx, req, id);
}

/* Answered at once when there is more past the cursors or the job is final; else held. */
static void api_jobs_logs(struct api_jobs *aj, struct evhttp_request *req, const char *id)
{
	int bad = 0;
	unsigned out = api_query_uint(req, "out", 0, CHORUS_OUTPUT_JOB_MAX, &bad);
	unsigned err = api_query_uint(req, "err", 0, CHORUS_OUTPUT_JOB_MAX, &bad);
	unsigned wait_ms = api_query_uint(req, "wait_ms", 0, 60000, &bad);
	struct joblog_view v;
	cJSON *doc;
	int final;

	if (bad) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request",
		                "out and err must be byte offsets, wait_ms 0..60000");
		return;
	}
	if (wait_ms > 0 && jobstore_get_json(jobs_sync(aj->node->jobs, id), id, &doc) == 0) {
		final = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "final"));
		cJSON_Delete(doc);
		(void)joblog_get(jobs_log(aj->node->jobs), id, &v);
		if (!final && v.len[0] <= out && v.len[1] <= err &&
		    api_wait(aj->logs, req, id, wait_ms < API_WAIT_MS_MAX ? wait_ms : API_WAIT_MS_MAX) == 0)
			return;
	}
	api_jobs_logs_reply(aj, req, id);
}

/* ---------------------------------------------------------------- handlers */

/* ?key=N: dflt when absent; *bad set when it is not a number in 0..max. */
unsigned api_query_uint(struct evhttp_request *req, const char *key, unsigned dflt, unsigned max,
                        int *bad)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq params;
	const char *v;
	unsigned long n = dflt;
	char *end;

	if (q == NULL || evhttp_parse_query_str(q, &params) != 0)
		return dflt;
	if ((v = evhttp_find_header(&params, key)) != NULL) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (errno != 0 || *end != '\0' || v[0] == '\0' || v[0] == '-' || n > max)
			*bad = 1;
	}
	evhttp_clear_headers(&params);
	return (unsigned)n;
}

static void api_jobs_get(struct api_jobs *aj, struct evhttp_request *req, const char *id)
{
	int bad = 0;
	unsigned wait_ms = api_query_uint(req, "wait_ms", 0, 60000, &bad);
	cJSON *doc;

	if (bad) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", "wait_ms must be 0..60000");
		return;
	}
	if (wait_ms > 0 && jobstore_get_json(jobs_sync(aj->node->jobs, id), id, &doc) == 0) {
		int final = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "final"));

		if (final) {
			api_reply(req, HTTP_OK, "OK", doc); /* (final: nothing to add about waiting) */
			return;
		}
		cJSON_Delete(doc);
		if (api_jobs_wait(aj, req, id, wait_ms < API_WAIT_MS_MAX ? wait_ms : API_WAIT_MS_MAX) == 0)
			return;
	}
	api_jobs_reply_record(aj, req, id, HTTP_OK, "OK");
}

static void api_jobs_list(struct api_jobs *aj, struct evhttp_request *req)
{
	int bad = 0;
	unsigned limit = api_query_uint(req, "limit", API_LIST_DEFAULT, API_LIST_MAX, &bad);
	cJSON *obj, *arr, *job;

	if (bad) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", "limit must be 0..1000");
		return;
	}
	if (jobstore_list_json(jobs_sync(aj->node->jobs, NULL), limit, &arr) != 0 ||
	    (obj = cJSON_CreateObject()) == NULL) {
		cJSON_Delete(arr);
		api_reply_error(req, HTTP_INTERNAL, "Internal Server Error", "cannot read the job table");
		return;
	}
	cJSON_ArrayForEach(job, arr)
		jobs_add_wait(aj->node->jobs, job);
	cJSON_AddItemToObject(obj, "jobs", arr);
	api_reply(req, HTTP_OK, "OK", obj);
}

/* A job can end as it is submitted (a constraint nobody meets): nothing to wait for then. */
static int api_jobs_final_now(struct api_jobs *aj, const char *id)
{
	cJSON *doc;
	int final = 0;

	if (jobstore_get_json(jobs_sync(aj->node->jobs, id), id, &doc) == 0) {
		final = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "final"));
		cJSON_Delete(doc);
	}
	return final;
}

static void api_jobs_post(struct api_jobs *aj, struct evhttp_request *req)
{
	int bad = 0;
	unsigned wait_ms = api_query_uint(req, "wait_ms", 0, 60000, &bad);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	static uint8_t payload[CHORUS_PAYLOAD_MAX];
	char id[CHORUS_JOB_ID_HEX + 1], err[NODE_ERR_MAX];
	struct job_spec spec;
	const char *why;
	int r;

	if (bad) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", "wait_ms must be 0..60000");
		return;
	}
	why = api_body_job((const char *)evbuffer_pullup(in, -1), len, &spec, payload);
	if (why != NULL) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", why);
		return;
	}
	/* The row is committed before the job reaches the core (jobs_submit). */
	r = jobs_submit(aj->node->jobs, &spec, id, err, sizeof err);
	if (r == -ENOSPC || r == -EIO)
		api_reply_error(req, 507, "Insufficient Storage", err);
	else if (r == -ENOBUFS) /* back-pressure: refused at once, nothing kept (jobs_submit) */
		api_reply_error(req, 429, "Too Many Requests", err);
	else if (r == -EBUSY || r == -EAGAIN)
		api_reply_error(req, 503, "Service Unavailable", err);
	else if (r != 0)
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", err);
	else if (wait_ms == 0 || (spec.nwhere > 0 && api_jobs_final_now(aj, id)) ||
	         api_jobs_wait(aj, req, id, wait_ms < API_WAIT_MS_MAX ? wait_ms : API_WAIT_MS_MAX) != 0)
		api_jobs_reply_record(aj, req, id, 202, "Accepted");
}

static void api_jobs_cancel(struct api_jobs *aj, struct evhttp_request *req, const char *id)
{
	int r = jobs_cancel(aj->node->jobs, id);

	if (r == -ENOENT)
		api_reply_error(req, HTTP_NOTFOUND, "Not Found", "no such job");
	else if (r == -EALREADY)
		api_reply_error(req, 409, "Conflict", "job already finished");
	else
		api_jobs_reply_record(aj, req, id, HTTP_OK, "OK");
}

/* 1 if path was a job endpoint (answered), 0 if not ours. */
int api_jobs_route(struct api_jobs *aj, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	char id[CHORUS_JOB_ID_HEX + 1];
	const char *rest;

	if (strcmp(path, "/v1/jobs") == 0) {
		if (m == EVHTTP_REQ_POST)
			api_jobs_post(aj, req);
		else if (m == EVHTTP_REQ_GET)
			api_jobs_list(aj, req);
		else
			api_reply_error(req, 405, "Method Not Allowed", "method not allowed");
		return 1;
	}
	if (strncmp(path, "/v1/jobs/", 9) != 0)
		return 0;
	rest = path + 9;
	snprintf(id, sizeof id, "%.*s", (int)strcspn(rest, "/"), rest);
	rest += strcspn(rest, "/");
	if (!api_jobs_valid_id(id)) {
		api_reply_error(req, HTTP_NOTFOUND, "Not Found", "no such job");
		return 1;
	}
	if (*rest == '\0' && m == EVHTTP_REQ_GET)
		api_jobs_get(aj, req, id);
	else if (strcmp(rest, "/logs") == 0 && m == EVHTTP_REQ_GET)
		api_jobs_logs(aj, req, id);
	else if (strcmp(rest, "/cancel") == 0 && m == EVHTTP_REQ_POST)
		api_jobs_cancel(aj, req, id);
	else if (*rest == '\0' || strcmp(rest, "/cancel") == 0 || strcmp(rest, "/logs") == 0)
		api_reply_error(req, 405, "Method Not Allowed", "method not allowed");
	else
		api_reply_error(req, HTTP_NOTFOUND, "Not Found", "not found");
	return 1;
}

int api_jobs_create(struct api_jobs **out, struct node *node)
{
	struct api_jobs *aj = calloc(1, sizeof(*aj));

	*out = NULL;
	if (aj == NULL || api_waits_create(&aj->waits, node->base, api_jobs_waited, aj) != 0 ||
	    api_waits_create(&aj->logs, node->base, api_jobs_logs_waited, aj) != 0) {
		if (aj != NULL)
			api_waits_destroy(aj->waits);
		free(aj);
		return -ENOMEM;
	}
	aj->node = node;
	*out = aj;
	return 0;
}

void api_jobs_destroy(struct api_jobs *aj)
{
	if (aj == NULL)
		return;
	api_waits_destroy(aj->waits);
	api_waits_destroy(aj->logs);
	free(aj);
}

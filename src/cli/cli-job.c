/*
 * chorus job ID: one job as the node records it (state, why it waits when
 * queued, reason, worker, timings, every attempt, the result's size and, when short and printable,
 * its text).  Also what the job commands share: checking and resolving ids,
 * fetching a record, decoding a result and reporting a failed job.
 *
 * Job records come from the network: every field is optional here (a
 * missing one shows as "-"), every string is sanitized before it is shown,
 * and a result is decoded only into a buffer sized from its own length.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int cli_job_exec(const struct cli_ctx *ctx, const struct cli_args *args);

const struct cli_cmd_entry cli_job_entry = {
	.name = "job",
	.args_usage = "ID",
	.summary = "show a job: state, worker, attempts and result",
	.options = NULL,
	.options_help = "",
	.args_min = 1,
	.args_max = 1,
	.exec = cli_job_exec,
};

/* ---------------------------------------------------------------- ids */

/* 0 if id is a full job id (32 lowercase hex digits), else -1. */
int cli_job_check_id(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++) {
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			return -1;
	}
	return i == CLI_JOB_ID_LEN ? 0 : -1;
}

/* The one id among the node's newest jobs that starts with prefix. */
static int cli_job_find_prefix(const struct cli_ctx *ctx, const char *prefix, char *id)
{
	char path[64];
	const cJSON *job;
	cJSON *doc;
	int rc, matches = 0;

	snprintf(path, sizeof path, "/v1/jobs?limit=%d", CLI_JOBS_LIMIT_MAX);
	rc = cli_http_get_json(ctx, path, &doc);
	if (rc != CLI_EXIT_OK)
		return rc;
	cJSON_ArrayForEach(job, cJSON_GetObjectItemCaseSensitive(doc, "jobs")) {
		const char *candidate = cli_json_string(job, "id", "");
		if (cli_job_check_id(candidate) != 0 ||
		    strncmp(candidate, prefix, strlen(prefix)) != 0)
			continue;
		memcpy(id, candidate, CLI_JOB_ID_LEN + 1);
		matches++;
	}
	cJSON_Delete(doc);
	if (matches == 1)
		return CLI_EXIT_OK;
	if (matches == 0)
		cli_error("no job with an id starting '%s' among the node's %d newest", prefix,
			  CLI_JOBS_LIMIT_MAX);
	else
		cli_error("job id '%s' is ambiguous: %d jobs start with it", prefix, matches);
	return matches == 0 ? CLI_EXIT_NODE : CLI_EXIT_USAGE;
}

/*
 * The full id for what the user typed: a full id, or the start of one (the
 * 10 digits 'chorus jobs' shows), looked up among the newest jobs.  Checked
 * before any request, so it is safe in a URL path.
 */
int cli_job_resolve_id(const struct cli_ctx *ctx, const char *arg, char *id)
{
	char lower[CLI_JOB_ID_LEN + 1];
	size_t i, len = strlen(arg);

	for (i = 0; i < len && i < CLI_JOB_ID_LEN; i++)
		lower[i] = (char)tolower((unsigned char)arg[i]);
	lower[i] = '\0';
	if (len == 0 || len > CLI_JOB_ID_LEN || strspn(lower, "0123456789abcdef") != len) {
		cli_error("bad job id '%.40s': expected up to %d hex digits", arg, CLI_JOB_ID_LEN);
		return CLI_EXIT_USAGE;
	}
	if (len < CLI_JOB_ID_LEN)
		return cli_job_find_prefix(ctx, lower, id);
	memcpy(id, lower, sizeof lower);
	return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- shared */

/*
 * GETs the job's record into *doc_out; with wait_ms > 0 the node holds the
 * answer until the job is final or wait_ms have passed.
 */
int cli_job_get(const struct cli_ctx *ctx, const char *id, int wait_ms, cJSON **doc_out)
{
	char path[96], what[64];
	struct cli_http_call call = { .post = 0, .path = path, .what = what };
	int rc;

	assert(cli_job_check_id(id) == 0);
	assert(wait_ms >= 0 && wait_ms <= CLI_JOB_WAIT_MS_MAX);
	if (wait_ms > 0)
		snprintf(path, sizeof path, "/v1/jobs/%s?wait_ms=%d", id, wait_ms);
	else
		snprintf(path, sizeof path, "/v1/jobs/%s", id);
	snprintf(what, sizeof what, "cannot get job %s", id);
	call.wait_s = (wait_ms + 999) / 1000;
	rc = cli_http_request(ctx, &call, doc_out);
	if (rc == CLI_EXIT_OK &&
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(*doc_out, "state"))) {
		cli_error("node at %s sent a job record without a state", ctx->node_url);
		cJSON_Delete(*doc_out);
		*doc_out = NULL;
		rc = CLI_EXIT_NODE;
	}
	return rc;
}

/* "w1 (3f2a9c01bd)", the short id alone, or "-": who ran the job. */
const char *cli_job_worker(const cJSON *job, char *buf, size_t buf_size)
{
	const char *name = cli_json_string(job, "worker_name", "");
	const char *worker = cli_json_string(job, "worker", "");

	if (name[0] != '\0' && worker[0] != '\0')
		snprintf(buf, buf_size, "%s (%.10s)", name, worker);
	else if (name[0] != '\0' || worker[0] != '\0')
		snprintf(buf, buf_size, "%.10s", name[0] != '\0' ? name : worker);
	else
		snprintf(buf, buf_size, "-");
	return buf;
}

/*
 * For a final job: CLI_EXIT_OK if it succeeded, else one line on stderr
 * ("job ID failed: REASON (worker NAME: ERROR)") and CLI_EXIT_JOB.
 */
int cli_job_report(const char *id, const cJSON *job)
{
	const char *error = cli_json_string(job, "error", "");
	char state[32], reason[CLI_CELL_MAX], worker[CLI_CELL_MAX];
	char detail[CLI_CELL_MAX] = "";

	cli_sanitize(state, sizeof state, cli_json_string(job, "state", "-"));
	if (strcmp(state, "succeeded") == 0)
		return CLI_EXIT_OK;
	cli_sanitize(reason, sizeof reason, cli_json_string(job, "reason", ""));
	/* The node's reason usually quotes the worker's error already: say it once. */
	if (error[0] != '\0' && strstr(cli_json_string(job, "reason", ""), error) == NULL) {
		snprintf(detail, sizeof detail, " (worker %s: %s)",
			 cli_job_worker(job, worker, sizeof worker), error);
		cli_sanitize(detail, sizeof detail, detail); /* in place: it only replaces bytes */
	}
	cli_error("job %s %s: %s%s", id, state, reason[0] != '\0' ? reason : "no reason given",
		  detail);
	return CLI_EXIT_JOB;
}

/* 1 once the job can change no more: the node says so, or its state does. */
int cli_job_final(const cJSON *job)
{
	const char *state = cli_json_string(job, "state", "");

	if (cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(job, "final")))
		return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(job, "final"));
	return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
	       strcmp(state, "cancelled") == 0;
}

/*
 * The result bytes of a succeeded job, decoded into a new buffer (*bytes_out,
 * NUL-terminated for convenience, freed by the caller).  A result that is
 * not base64, or whose size disagrees with result_size, is the node's error.
 */
int cli_job_result(const struct cli_ctx *ctx, const cJSON *job, uint8_t **bytes_out,
		   size_t *len_out)
{
	const char *b64 = cli_json_string(job, "result_b64", "");
	double size;
	uint8_t *bytes;
	size_t cap = strlen(b64) / 4 * 3;

	*bytes_out = NULL;
	bytes = malloc(cap + 1);
	if (bytes == NULL) {
		cli_error("out of memory decoding a %zu-byte result", cap);
		return CLI_EXIT_UNREACHABLE;
	}
	if (cli_base64_decode(bytes, cap, b64, len_out) != 0) {
		cli_error("node at %s sent a result that is not base64", ctx->node_url);
		free(bytes);
		return CLI_EXIT_NODE;
	}
	if (cli_json_number(job, "result_size", &size) == 0 && size != (double)*len_out) {
		cli_error("node at %s sent a %zu-byte result it says has %.0f bytes", ctx->node_url,
			  *len_out, size);
		free(bytes);
		return CLI_EXIT_NODE;
	}
	bytes[*len_out] = '\0';
	*bytes_out = bytes;
	return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- job */

enum cli_job_col {
	CLI_JOB_ATTEMPT_WORKER,
	CLI_JOB_ATTEMPT_NAME,
	CLI_JOB_ATTEMPT_OUTCOME,
	CLI_JOB_ATTEMPT_TIME,
	CLI_JOB_ATTEMPT_COLS,
};

static const char *const cli_job_attempt_header[CLI_JOB_ATTEMPT_COLS] = {
	"WORKER", "NAME", "OUTCOME", "TIME",
};

/* "12 ms" style numbers, or "-" when the node left the field out. */
static void cli_job_number(char *dst, size_t dst_size, const cJSON *obj, const char *key,
			   const char *unit)
{
	double value;

	if (cli_json_number(obj, key, &value) != 0)
		snprintf(dst, dst_size, "-");
	else
		snprintf(dst, dst_size, "%.0f%s", value, unit);
}

/* The attempts, one row each, in the order the node tried them. */
static int cli_job_print_attempts(const cJSON *job)
{
	const cJSON *attempt;
	struct cli_table *table = cli_table_create(CLI_JOB_ATTEMPT_COLS, cli_job_attempt_header);
	char worker[16], ms[32];
	const char *cells[CLI_JOB_ATTEMPT_COLS];

	if (table == NULL)
		return -1;
	cJSON_ArrayForEach(attempt, cJSON_GetObjectItemCaseSensitive(job, "attempts")) {
		snprintf(worker, sizeof worker, "%.10s", cli_json_string(attempt, "worker", "-"));
		cli_job_number(ms, sizeof ms, attempt, "ms", " ms");
		cells[CLI_JOB_ATTEMPT_WORKER] = worker;
		cells[CLI_JOB_ATTEMPT_NAME] = cli_json_string(attempt, "worker_name", "-");
		cells[CLI_JOB_ATTEMPT_OUTCOME] = cli_json_string(attempt, "outcome", "-");
		cells[CLI_JOB_ATTEMPT_TIME] = ms;
		if (cli_table_add_row(table, cells) != 0) {
			cli_table_free(table);
			return -1;
		}
	}
	printf("attempts:\n");
	cli_table_print(table, stdout);
	cli_table_free(table);
	return 0;
}

/* "5.2s ago" from created_ms, "0.3s" from created_ms to finished_ms. */
static void cli_job_print_times(const cJSON *job)
{
	double created_ms, finished_ms;
	char text[32];

	if (cli_json_number(job, "created_ms", &created_ms) != 0) {
		cli_print_field("created:", "-");
		return;
	}
	cli_format_duration(text, sizeof text, ((double)cli_now_ms() - created_ms) / 1000.0);
	strncat(text, " ago", sizeof text - strlen(text) - 1);
	cli_print_field("created:", text);
	if (cli_json_number(job, "finished_ms", &finished_ms) != 0 || finished_ms <= 0)
		return;
	cli_format_duration(text, sizeof text, (finished_ms - created_ms) / 1000.0);
	cli_print_field("took:", text);
}

/*
 * Only text that cannot disturb a terminal is shown: printable ASCII and
 * well-formed UTF-8 beyond it, without C1 controls (0x80-0x9f) that some
 * terminals obey.
 */
static int cli_job_printable(const uint8_t *s, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			n = 1, cp = s[i] & 0x1f, min = 0x80;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			n = 2, cp = s[i] & 0x0f, min = 0x800;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			n = 3, cp = s[i] & 0x07, min = 0x10000;
		else
			return 0;
		if (i + n >= len) /* the sequence is cut short */
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
			return 0;
		i += n + 1;
	}
	return 1;
}

static int cli_job_print_result(const struct cli_ctx *ctx, const cJSON *job)
{
	uint8_t *bytes;
	size_t len;
	char text[32];
	int rc;

	if (strcmp(cli_json_string(job, "state", ""), "succeeded") != 0)
		return CLI_EXIT_OK;
	rc = cli_job_result(ctx, job, &bytes, &len);
	if (rc != CLI_EXIT_OK)
		return rc;
	snprintf(text, sizeof text, "%zu bytes", len);
	cli_print_field("result:", text);
	if (len > 0 && len <= CLI_JOB_TEXT_MAX && cli_job_printable(bytes, len))
		cli_print_field("result text:", (const char *)bytes);
	free(bytes);
	return CLI_EXIT_OK;
}

/*
 * Why a queued job waits, from the record's "wait" (the node's view):
 * "queued 12.3 s: 3 workers run sleep, all 12 slots busy, 40 jobs ahead of
 * it (priority 5)".  1 and the line in buf, or 0 when there is nothing to say.
 */
int cli_job_why_waiting(const cJSON *job, char *buf, size_t buf_size)
{
	const cJSON *wait = cJSON_GetObjectItemCaseSensitive(job, "wait");
	double queued_s = 0, workers, slots, busy, ahead, priority = 0;
	char kind[64], slots_text[64];

	if (strcmp(cli_json_string(job, "state", ""), "queued") != 0 || !cJSON_IsObject(wait) ||
	    cli_json_number(wait, "workers", &workers) != 0 ||
	    cli_json_number(wait, "slots", &slots) != 0 ||
	    cli_json_number(wait, "busy", &busy) != 0 || cli_json_number(wait, "ahead", &ahead) != 0)
		return 0;
	(void)cli_json_number(job, "queued_s", &queued_s);
	(void)cli_json_number(job, "priority", &priority);
	cli_sanitize(kind, sizeof kind, cli_json_string(job, "kind", "-"));
	if (slots == 1)
		snprintf(slots_text, sizeof slots_text, "its one slot %s", busy >= 1 ? "busy" : "free");
	else if (busy >= slots)
		snprintf(slots_text, sizeof slots_text, "all %.0f slots busy", slots);
	else
		snprintf(slots_text, sizeof slots_text, "%.0f of %.0f slots busy", busy, slots);
	snprintf(buf, buf_size, "queued %.1f s: %.0f worker%s run%s %s, %s, %.0f job%s ahead of it"
		 " (priority %.0f)", queued_s, workers, workers == 1 ? "" : "s",
		 workers == 1 ? "s" : "", kind, slots_text, ahead, ahead == 1 ? "" : "s", priority);
	return 1;
}

/* "gpu=a100,zone=eu": the job's constraint (submit --where), sanitized, cut to fit. */
static void cli_job_where(char *dst, size_t dst_size, const cJSON *where)
{
	char raw[CLI_CELL_MAX];
	const cJSON *item;
	size_t used = 0;

	raw[0] = '\0';
	cJSON_ArrayForEach(item, where) {
		int n;

		if (!cJSON_IsString(item) || item->string == NULL)
			continue;
		n = snprintf(raw + used, sizeof raw - used, "%s%s=%s", used ? "," : "", item->string,
			     item->valuestring);
		if (n < 0 || (size_t)n >= sizeof raw - used)
			break;
		used += (size_t)n;
	}
	cli_sanitize(dst, dst_size, raw);
}

static int cli_job_print(const struct cli_ctx *ctx, const cJSON *job)
{
	char text[CLI_CELL_MAX];
	const char *reason = cli_json_string(job, "reason", "");
	const char *error = cli_json_string(job, "error", "");
	int rc;

	cli_print_field("id:", cli_json_string(job, "id", "-"));
	cli_print_field("kind:", cli_json_string(job, "kind", "-"));
	cli_print_field("state:", cli_json_string(job, "state", "-"));
	if (cli_job_why_waiting(job, text, sizeof text))
		cli_print_field("waiting:", text);
	if (reason[0] != '\0')
		cli_print_field("reason:", reason);
	if (error[0] != '\0')
		cli_print_field("error:", error);
	cli_print_field("worker:", cli_job_worker(job, text, sizeof text));
	if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(job, "where"))) {
		cli_job_where(text, sizeof text, cJSON_GetObjectItemCaseSensitive(job, "where"));
		cli_print_field("where:", text);
	}
	cli_job_number(text, sizeof text, job, "reward", "");
	cli_print_field("reward:", text);
	cli_job_number(text, sizeof text, job, "timeout_ms", " ms");
	cli_print_field("timeout:", text);
	cli_job_number(text, sizeof text, job, "priority", "");
	cli_print_field("priority:", text);
	cli_job_number(text, sizeof text, job, "queue_timeout_s", " s");
	cli_print_field("queue timeout:", text);
	cli_job_print_times(job);
	cli_job_number(text, sizeof text, job, "payload_size", " bytes");
	cli_print_field("payload:", text);
	rc = cli_job_print_result(ctx, job);
	if (rc == CLI_EXIT_OK && cli_job_print_attempts(job) != 0) {
		cli_error("out of memory printing the attempts");
		rc = CLI_EXIT_UNREACHABLE;
	}
	return rc;
}

static int cli_job_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	char id[CLI_JOB_ID_LEN + 1];
	cJSON *job;
	int rc;

	rc = cli_job_resolve_id(ctx, args->argv[0], id);
	if (rc != CLI_EXIT_OK)
		return rc;
	rc = cli_job_get(ctx, id, 0, &job);
	if (rc != CLI_EXIT_OK)
		return rc;
	rc = ctx->json ? cli_print_json(job) : cli_job_print(ctx, job);
	cJSON_Delete(job);
	return rc;
}

/*
 * chorus logs [-f] ID: a job's live output as its client node keeps it
 * (GET /v1/jobs/ID/logs): stdout to stdout, stderr to stderr, byte for
 * byte.  With -f it follows the job as it runs (like `nomad alloc logs -f`)
 * and returns when the job is final and all its output is written.
 *
 * Following is a long poll with two offset cursors: each answer is bounded
 * (the node sends at most CHORUS_OUTPUT_READ_MAX of each stream), and the
 * next request asks from where the last one ended.  Bytes the node could
 * not keep or never got (past the bound, or lost) are said once at the end,
 * on stderr.  An unknown id is the node's 404, one line, CLI_EXIT_NODE.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "chorus/limits.h"

#define CLI_LOGS_WAIT_MS  5000                   /* one held request (the node holds at most 5 s) */
#define CLI_LOGS_READ_MAX CHORUS_OUTPUT_READ_MAX /* bytes of one stream in one answer */

static int cli_logs_exec(const struct cli_ctx *ctx, const struct cli_args *args);

/* clang-format off */
static const struct option cli_logs_options[] = {
	{ "follow", no_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 },
};
/* clang-format on */

const struct cli_cmd_entry cli_logs_entry = {
	.name = "logs",
	.args_usage = "[-f | --follow] ID",
	.summary = "print a job's output (stdout and stderr), following it with -f",
	.options = cli_logs_options,
	.options_help = "  -f, --follow          print the output as it comes, until the job is final\n",
	.args_min = 1,
	.args_max = 1,
	.exec = cli_logs_exec,
	.short_options = "f",
};

/* Writes one stream's new bytes; *cursor moves to where the answer ended. */
static int cli_logs_stream(const cJSON *doc, const char *name, FILE *out, double *cursor)
{
	static uint8_t bytes[CLI_LOGS_READ_MAX];
	char key[32];
	const char *b64 = cli_json_string(doc, name, NULL);
	double next;
	size_t len = 0;

	snprintf(key, sizeof key, "%s_next", name);
	if (b64 == NULL || cli_json_number(doc, key, &next) != 0 ||
	    cli_base64_decode(bytes, sizeof bytes, b64, &len) != 0) {
		cli_error("the node's answer about the job's %s is malformed", name);
		return CLI_EXIT_NODE;
	}
	if (len > 0 && (fwrite(bytes, 1, len, out) != len || fflush(out) != 0)) {
		cli_error("cannot write the job's %s: %s", name, strerror(errno));
		return CLI_EXIT_UNREACHABLE;
	}
	*cursor = next;
	return CLI_EXIT_OK;
}

static int cli_logs_more(const cJSON *doc)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "out_more")) ||
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "err_more"));
}

/* What was not shown, said once: the bound, or output lost on the way. */
static void cli_logs_dropped(const cJSON *doc, const char *id)
{
	double out = 0, err = 0;

	(void)cli_json_number(doc, "out_dropped", &out);
	(void)cli_json_number(doc, "err_dropped", &err);
	if (out > 0 || err > 0)
		cli_error("output of job %s truncated: %.0f bytes of stdout and %.0f of stderr "
			  "dropped (over the node's bound per stream, or lost)", id, out, err);
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "kept")) &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "final")))
		cli_error("no output of job %s is kept on this node (none written, or dropped for "
			  "newer jobs' or by a restart)", id);
}

static int cli_logs_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	int follow = args->opt['f'] != NULL, rc, final = 0, more = 1;
	char id[CLI_JOB_ID_LEN + 1], path[160], what[64];
	struct cli_http_call call = { .post = 0, .path = path, .what = what };
	double out = 0, err = 0;
	cJSON *doc = NULL;

	rc = cli_job_resolve_id(ctx, args->argv[0], id);
	if (rc != CLI_EXIT_OK)
		return rc;
	snprintf(what, sizeof what, "cannot get the output of job %s", id);
	/* Each pass is one bounded answer; the loop ends when nothing more can come. */
	while (more || (follow && !final)) {
		int wait_ms = follow && !more ? CLI_LOGS_WAIT_MS : 0;

		snprintf(path, sizeof path, "/v1/jobs/%s/logs?out=%.0f&err=%.0f&wait_ms=%d", id, out,
			 err, wait_ms);
		call.wait_s = (wait_ms + 999) / 1000;
		cJSON_Delete(doc);
		rc = cli_http_request(ctx, &call, &doc);
		if (rc != CLI_EXIT_OK)
			return rc;
		if (ctx->json) {
			rc = cli_print_json(doc);
			cJSON_Delete(doc);
			return rc;
		}
		if ((rc = cli_logs_stream(doc, "out", stdout, &out)) != CLI_EXIT_OK ||
		    (rc = cli_logs_stream(doc, "err", stderr, &err)) != CLI_EXIT_OK)
			break;
		final = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "final"));
		more = cli_logs_more(doc);
	}
	if (rc == CLI_EXIT_OK)
		cli_logs_dropped(doc, id);
	cJSON_Delete(doc);
	return rc;
}

/*
 * chorus cancel ID: asks the node to cancel a job that has not finished.
 * A job that is unknown (404) or already final (409) is the node's refusal:
 * one line with its reason, CLI_EXIT_NODE.
 */
#include "config.h"

#include <stdio.h>

#include "cli.h"

static int cli_cancel_exec(const struct cli_ctx *ctx, const struct cli_args *args);

const struct cli_cmd_entry cli_cancel_entry = {
	.name = "cancel",
	.args_usage = "ID",
	.summary = "cancel a job that has not finished",
	.options = NULL,
	.options_help = "",
	.args_min = 1,
	.args_max = 1,
	.exec = cli_cancel_exec,
};

static int cli_cancel_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	char id[CLI_JOB_ID_LEN + 1], path[64], what[64];
	const struct cli_http_call call = { .post = 1, .path = path, .what = what };
	cJSON *record;
	int rc;

	rc = cli_job_resolve_id(ctx, args->argv[0], id);
	if (rc != CLI_EXIT_OK)
		return rc;
	snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
	snprintf(what, sizeof what, "cannot cancel job %s", id);
	rc = cli_http_request(ctx, &call, &record);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (ctx->json)
		rc = cli_print_json(record);
	else
		printf("cancelled %s\n", id);
	cJSON_Delete(record);
	return rc;
}

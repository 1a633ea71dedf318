/*
 * chorus jobs: the node's newest jobs, newest first as the node sends them:
 * short id, kind, state, the worker that ran it, how many attempts it took
 * and how long ago it was submitted.
 */
#include "config.h"

#include <stdio.h>

#include "cli.h"

static int cli_jobs_exec(const struct cli_ctx *ctx, const struct cli_args *args);

/* clang-format off */
static const struct option cli_jobs_options[] = {
	{ "limit", required_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 },
};
/* clang-format on */

const struct cli_cmd_entry cli_jobs_entry = {
	.name = "jobs",
	.args_usage = "[--limit N]",
	.summary = "list the node's newest jobs",
	.options = cli_jobs_options,
	.options_help = "  --limit N             list at most N jobs (default 20)\n",
	.args_min = 0,
	.args_max = 0,
	.exec = cli_jobs_exec,
};

enum cli_jobs_col {
	CLI_JOBS_ID,
	CLI_JOBS_KIND,
	CLI_JOBS_STATE,
	CLI_JOBS_WORKER,
	CLI_JOBS_ATTEMPTS,
	CLI_JOBS_AGE,
	CLI_JOBS_COLS,
};

static const char *const cli_jobs_header[CLI_JOBS_COLS] = {
	"ID", "KIND", "STATE", "WORKER", "ATTEMPTS", "AGE",
};

static int cli_jobs_add(struct cli_table *table, const cJSON *job, int64_t now_ms)
{
	char id[16], worker[CLI_CELL_MAX], attempts[16], age[32];
	const char *cells[CLI_JOBS_COLS];
	double created_ms;

	snprintf(id, sizeof id, "%.10s", cli_json_string(job, "id", "-"));
	snprintf(attempts, sizeof attempts, "%d",
		 cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(job, "attempts")));
	if (cli_json_number(job, "created_ms", &created_ms) != 0)
		snprintf(age, sizeof age, "-");
	else
		cli_format_duration(age, sizeof age, ((double)now_ms - created_ms) / 1000.0);
	/* The name alone keeps the table narrow; 'chorus job' shows the id too. */
	snprintf(worker, sizeof worker, "%s", cli_json_string(job, "worker_name", ""));
	if (worker[0] == '\0')
		cli_job_worker(job, worker, sizeof worker);

	cells[CLI_JOBS_ID] = id;
	cells[CLI_JOBS_KIND] = cli_json_string(job, "kind", "-");
	cells[CLI_JOBS_STATE] = cli_json_string(job, "state", "-");
	cells[CLI_JOBS_WORKER] = worker;
	cells[CLI_JOBS_ATTEMPTS] = attempts;
	cells[CLI_JOBS_AGE] = age;
	return cli_table_add_row(table, cells);
}

static int cli_jobs_print(const struct cli_ctx *ctx, const cJSON *doc)
{
	const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(doc, "jobs"), *job;
	struct cli_table *table;
	int64_t now_ms = cli_now_ms();

	if (!cJSON_IsArray(jobs)) {
		cli_error("node at %s sent no jobs array", ctx->node_url);
		return CLI_EXIT_NODE;
	}
	table = cli_table_create(CLI_JOBS_COLS, cli_jobs_header);
	if (table == NULL)
		goto oom;
	cJSON_ArrayForEach(job, jobs) {
		if (cJSON_IsObject(job) && cli_jobs_add(table, job, now_ms) != 0)
			goto oom;
	}
	cli_table_print(table, stdout);
	cli_table_free(table);
	return CLI_EXIT_OK;
oom:
	cli_error("out of memory printing %d jobs", cJSON_GetArraySize(jobs));
	cli_table_free(table);
	return CLI_EXIT_UNREACHABLE;
}

static int cli_jobs_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	char path[64];
	long limit = CLI_JOBS_LIMIT_DEFAULT;
	cJSON *doc;
	int rc;

	if (args->opt['n'] != NULL &&
	    cli_parse_long("limit", args->opt['n'], 1, CLI_JOBS_LIMIT_MAX, &limit) != 0)
		return CLI_EXIT_USAGE;
	snprintf(path, sizeof path, "/v1/jobs?limit=%ld", limit);
	rc = cli_http_get_json(ctx, path, &doc);
	if (rc != CLI_EXIT_OK)
		return rc;
	rc = ctx->json ? cli_print_json(doc) : cli_jobs_print(ctx, doc);
	cJSON_Delete(doc);
	return rc;
}

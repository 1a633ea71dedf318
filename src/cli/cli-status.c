/*
 * chorus status: who the node is, how long it has run, how many members it
 * sees, and the counters of what it dropped.  Fields the node leaves out
 * show as "-", so an older or newer node never crashes the CLI.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static int cli_status_exec(const struct cli_ctx *ctx, const struct cli_args *args);

const struct cli_cmd_entry cli_status_entry = {
	.name = "status",
	.args_usage = "",
	.summary = "show the node's identity, uptime, member counts and drop counters",
	.options = NULL,
	.options_help = "",
	.args_min = 0,
	.args_max = 0,
	.exec = cli_status_exec,
};

static void cli_status_string(const cJSON *doc, const char *key)
{
	char label[64];

	snprintf(label, sizeof label, "%s:", key);
	cli_print_field(label, cli_json_string(doc, key, "-"));
}

static void cli_status_uptime(const cJSON *doc)
{
	char text[32];
	double uptime_s;

	if (cli_json_number(doc, "uptime_s", &uptime_s) != 0)
		snprintf(text, sizeof text, "-");
	else
		cli_format_duration(text, sizeof text, uptime_s);
	cli_print_field("uptime:", text);
}

static void cli_status_members(const cJSON *doc)
{
	static const char *const states[] = { "alive", "suspect", "dead", "left" };
	const cJSON *members = cJSON_GetObjectItemCaseSensitive(doc, "members");
	char label[32], text[32];
	double count;
	size_t i;

	for (i = 0; i < sizeof states / sizeof states[0]; i++) {
		snprintf(label, sizeof label, "members %s:", states[i]);
		if (cli_json_number(members, states[i], &count) != 0)
			snprintf(text, sizeof text, "-");
		else
			snprintf(text, sizeof text, "%.0f", count);
		cli_print_field(label, text);
	}
}

/* Every counter whose name starts with "drop_", in the node's order. */
static void cli_status_drops(const cJSON *doc)
{
	const cJSON *stats = cJSON_GetObjectItemCaseSensitive(doc, "stats");
	const cJSON *item;
	char label[CLI_CELL_MAX], text[32];

	cJSON_ArrayForEach(item, stats) {
		if (item->string == NULL || strncmp(item->string, "drop_", 5) != 0 ||
		    !cJSON_IsNumber(item))
			continue;
		snprintf(label, sizeof label, "%s:", item->string);
		snprintf(text, sizeof text, "%.0f", item->valuedouble);
		cli_print_field(label, text);
	}
}

/*
 * What keeps accepted work safe: the ack outbox against its marks ("lagging":
 * new submits refused), and the node's part in the ledger ("lost": a voter
 * without its Raft state, not voting until re-added).
 */
static void cli_status_store(const cJSON *doc)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(doc, "outbox");
	double open, high, low;
	char text[CLI_CELL_MAX];

	if (cJSON_IsObject(o) && cli_json_number(o, "open", &open) == 0 &&
	    cli_json_number(o, "high", &high) == 0 && cli_json_number(o, "low", &low) == 0) {
		snprintf(text, sizeof text, "%s, %.0f acks open (refuse at %.0f, accept at %.0f)",
		         cli_json_string(o, "state", "-"), open, high, low);
		cli_print_field("outbox:", text);
	}
	cli_print_field("raft state:", cli_json_string(doc, "raft_state", "-"));
}

static int cli_status_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	cJSON *doc;
	int rc;

	rc = cli_http_get_json(ctx, "/v1/status", &doc);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (ctx->json) {
		rc = cli_print_json(doc);
		cJSON_Delete(doc);
		return rc;
	}
	if (!cJSON_IsObject(doc)) {
		cli_error("node at %s sent a status that is not an object", ctx->node_url);
		cJSON_Delete(doc);
		return CLI_EXIT_NODE;
	}
	cli_status_string(doc, "id");
	cli_status_string(doc, "name");
	cli_status_string(doc, "version");
	cli_status_string(doc, "fabric");
	cli_status_string(doc, "http");
	cli_status_string(doc, "network_key");
	cli_status_uptime(doc);
	cli_status_members(doc);
	cli_status_drops(doc);
	cli_status_store(doc);
	cJSON_Delete(doc);
	return CLI_EXIT_OK;
}

/*
 * chorus members: the members the node knows, one row each, sorted by name
 * (then id), as the node sees them: state, incarnation, roles, load and how
 * long ago it last heard from each, its tags (chorusd --tag) and the kinds
 * it runs.  --state, --role and --kind keep the members that match (all of the
 * given ones), in the table and in -j's JSON alike.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int cli_members_exec(const struct cli_ctx *ctx, const struct cli_args *args);

/* clang-format off */
static const struct option cli_members_options[] = {
	{ "state", required_argument, NULL, 's' },
	{ "role", required_argument, NULL, 'r' },
	{ "kind", required_argument, NULL, 'k' },
	{ NULL, 0, NULL, 0 },
};
/* clang-format on */

const struct cli_cmd_entry cli_members_entry = {
	.name = "members",
	.args_usage = "[--state STATE] [--role ROLE] [--kind KIND]",
	.summary = "list the members the node knows, sorted by name",
	.options = cli_members_options,
	.options_help = "  --state STATE         only members in STATE (alive, suspect, dead, left)\n"
	                "  --role ROLE           only members with ROLE (worker, voter, client...)\n"
	                "  --kind KIND           only members that run KIND\n",
	.args_min = 0,
	.args_max = 0,
	.exec = cli_members_exec,
};

enum cli_members_col {
	CLI_MEMBERS_ID,
	CLI_MEMBERS_NAME,
	CLI_MEMBERS_ADDR,
	CLI_MEMBERS_STATE,
	CLI_MEMBERS_INC,
	CLI_MEMBERS_ROLES,
	CLI_MEMBERS_KINDS, /* after STATE: scripts that read $4 keep it */
	CLI_MEMBERS_TAGS,
	CLI_MEMBERS_LOAD,
	CLI_MEMBERS_SEEN,
	CLI_MEMBERS_COLS,
};

static const char *const cli_members_header[CLI_MEMBERS_COLS] = {
	"ID", "NAME", "ADDRESS", "STATE", "INC", "ROLES", "KINDS", "TAGS", "LOAD", "LAST SEEN",
};

static int cli_members_compare(const void *a, const void *b)
{
	const cJSON *ma = *(const cJSON *const *)a;
	const cJSON *mb = *(const cJSON *const *)b;
	int c;

	c = strcmp(cli_json_string(ma, "name", ""), cli_json_string(mb, "name", ""));
	if (c != 0)
		return c;
	return strcmp(cli_json_string(ma, "id", ""), cli_json_string(mb, "id", ""));
}

/* "worker,voter", or "-" for none; cut (with "...") when it does not fit. */
static void cli_members_join(char *dst, size_t dst_size, const cJSON *array)
{
	const cJSON *item;
	size_t used = 0;

	dst[0] = '\0';
	cJSON_ArrayForEach(item, array) {
		int n;
		if (!cJSON_IsString(item))
			continue;
		n = snprintf(dst + used, dst_size - used, "%s%s", used > 0 ? "," : "",
			     item->valuestring);
		if (n < 0 || (size_t)n >= dst_size - used) {
			if (dst_size > 4)
				memcpy(dst + dst_size - 4, "...", 4);
			return;
		}
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(dst, dst_size, "-");
}

/* "gpu=a100,zone=eu" from {"gpu":"a100","zone":"eu"}, or "-"; cut as above. */
static void cli_members_tags(char *dst, size_t dst_size, const cJSON *tags)
{
	const cJSON *item;
	size_t used = 0;

	dst[0] = '\0';
	cJSON_ArrayForEach(item, tags) {
		int n;
		if (!cJSON_IsString(item) || item->string == NULL)
			continue;
		n = snprintf(dst + used, dst_size - used, "%s%s=%s", used > 0 ? "," : "", item->string,
			     item->valuestring);
		if (n < 0 || (size_t)n >= dst_size - used) {
			if (dst_size > 4)
				memcpy(dst + dst_size - 4, "...", 4);
			return;
		}
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(dst, dst_size, "-");
}

static void cli_members_number(char *dst, size_t dst_size, const cJSON *m, const char *key)
{
	double value;

	if (cli_json_number(m, key, &value) != 0)
		snprintf(dst, dst_size, "-");
	else
		snprintf(dst, dst_size, "%.0f", value);
}

static int cli_members_add(struct cli_table *table, const cJSON *m)
{
	char id[CLI_CELL_MAX], inc[32], roles[CLI_CELL_MAX], load[64], seen[32], tags[CLI_CELL_MAX];
	char kinds[CLI_CELL_MAX];
	char load_n[24], cap_n[24];
	const char *cells[CLI_MEMBERS_COLS];
	double seen_ms;

	snprintf(id, sizeof id, "%s", cli_json_string(m, "id_short", ""));
	if (id[0] == '\0') /* an older node: cut the full id ourselves */
		snprintf(id, sizeof id, "%.10s", cli_json_string(m, "id", "-"));
	cli_members_number(inc, sizeof inc, m, "incarnation");
	cli_members_join(roles, sizeof roles, cJSON_GetObjectItemCaseSensitive(m, "roles"));
	cli_members_tags(tags, sizeof tags, cJSON_GetObjectItemCaseSensitive(m, "tags"));
	cli_members_join(kinds, sizeof kinds, cJSON_GetObjectItemCaseSensitive(m, "capabilities"));
	cli_members_number(load_n, sizeof load_n, m, "load");
	cli_members_number(cap_n, sizeof cap_n, m, "capacity");
	snprintf(load, sizeof load, "%s/%s", load_n, cap_n);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "self")))
		snprintf(seen, sizeof seen, "self");
	else if (cli_json_number(m, "last_seen_ms_ago", &seen_ms) != 0)
		snprintf(seen, sizeof seen, "-");
	else
		cli_format_duration(seen, sizeof seen, seen_ms / 1000.0);

	cells[CLI_MEMBERS_ID] = id;
	cells[CLI_MEMBERS_NAME] = cli_json_string(m, "name", "-");
	cells[CLI_MEMBERS_ADDR] = cli_json_string(m, "addr", "-");
	cells[CLI_MEMBERS_STATE] = cli_json_string(m, "state", "-");
	cells[CLI_MEMBERS_INC] = inc;
	cells[CLI_MEMBERS_ROLES] = roles;
	cells[CLI_MEMBERS_LOAD] = load;
	cells[CLI_MEMBERS_SEEN] = seen;
	cells[CLI_MEMBERS_TAGS] = tags;
	cells[CLI_MEMBERS_KINDS] = kinds;
	return cli_table_add_row(table, cells);
}

static int cli_members_print(const struct cli_ctx *ctx, const cJSON *doc)
{
	const cJSON *members = cJSON_GetObjectItemCaseSensitive(doc, "members");
	const cJSON **sorted;
	struct cli_table *table;
	size_t n = 0, i;
	int rc = CLI_EXIT_OK;

	if (!cJSON_IsArray(members)) {
		cli_error("node at %s sent no members array", ctx->node_url);
		return CLI_EXIT_NODE;
	}
	sorted = calloc((size_t)cJSON_GetArraySize(members) + 1, sizeof *sorted);
	table = cli_table_create(CLI_MEMBERS_COLS, cli_members_header);
	if (sorted == NULL || table == NULL)
		goto oom;
	for (const cJSON *m = members->child; m != NULL; m = m->next) {
		if (cJSON_IsObject(m))
			sorted[n++] = m;
	}
	qsort(sorted, n, sizeof *sorted, cli_members_compare);
	for (i = 0; i < n; i++) {
		if (cli_members_add(table, sorted[i]) != 0)
			goto oom;
	}
	cli_table_print(table, stdout);
	goto out;
oom:
	cli_error("out of memory printing %zu members", n);
	rc = CLI_EXIT_UNREACHABLE;
out:
	cli_table_free(table);
	free(sorted);
	return rc;
}

/* 1 when ARRAY holds WANT, or (for roles) "WANT-..." as in "voter-p...". */
static int cli_members_has(const cJSON *array, const char *want, int prefix)
{
	const cJSON *item;
	size_t n = strlen(want);

	cJSON_ArrayForEach(item, array) {
		if (!cJSON_IsString(item))
			continue;
		if (strcmp(item->valuestring, want) == 0 ||
		    (prefix && strncmp(item->valuestring, want, n) == 0 && item->valuestring[n] == '-'))
			return 1;
	}
	return 0;
}

/* Drops the members that fail a --state, --role or --kind the user gave. */
static void cli_members_filter(cJSON *doc, const struct cli_args *args)
{
	cJSON *members = cJSON_GetObjectItemCaseSensitive(doc, "members"), *m, *next;
	const char *state = args->opt['s'], *role = args->opt['r'], *kind = args->opt['k'];

	if (!cJSON_IsArray(members))
		return;
	for (m = members->child; m != NULL; m = next) {
		next = m->next;
		if ((state == NULL || strcmp(cli_json_string(m, "state", ""), state) == 0) &&
		    (role == NULL ||
		     cli_members_has(cJSON_GetObjectItemCaseSensitive(m, "roles"), role, 1)) &&
		    (kind == NULL ||
		     cli_members_has(cJSON_GetObjectItemCaseSensitive(m, "capabilities"), kind, 0)))
			continue;
		cJSON_Delete(cJSON_DetachItemViaPointer(members, m));
	}
}

static int cli_members_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	cJSON *doc;
	int rc;

	rc = cli_http_get_json(ctx, "/v1/members", &doc);
	if (rc != CLI_EXIT_OK)
		return rc;
	cli_members_filter(doc, args);
	rc = ctx->json ? cli_print_json(doc) : cli_members_print(ctx, doc);
	cJSON_Delete(doc);
	return rc;
}

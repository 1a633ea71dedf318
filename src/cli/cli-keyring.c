/*
 * chorus keyring list | install KEY | use KEY | remove KEY: the network
 * keys, rotated without a restart.  The node applies the operation and
 * sends it to every live member; the answer (after about a second, so that
 * the members' answers are in) lists the keys held here by fingerprint and
 * how many members hold each and seal under it.  A rotation: install the new
 * key, check every member holds it, use it, check, remove the old one.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static int cli_keyring_exec(const struct cli_ctx *ctx, const struct cli_args *args);

const struct cli_cmd_entry cli_keyring_entry = {
	.name = "keyring",
	.args_usage = "list | install KEY | use KEY | remove KEY",
	.summary = "list or rotate the network keys on every member",
	.options = NULL,
	.options_help = "",
	.args_min = 1,
	.args_max = 2,
	.exec = cli_keyring_exec,
};

static int cli_keyring_print(const cJSON *doc)
{
	static const char *const header[] = {"FINGERPRINT", "PRIMARY", "MEMBERS", "SEALING"};
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys"), *k;
	struct cli_table *t = cli_table_create(4, header);
	double answered = 0, alive = 0, refused = 0;
	char members[32], sealing[32];

	if (t == NULL || !cJSON_IsArray(keys)) {
		cli_table_free(t);
		cli_error("the node sent a keyring without keys");
		return CLI_EXIT_NODE;
	}
	cJSON_ArrayForEach(k, keys) {
		double holders = 0, primaries = 0;
		const char *cells[4];

		(void)cli_json_number(k, "members", &holders);
		(void)cli_json_number(k, "primary_for", &primaries);
		snprintf(members, sizeof members, "%.0f", holders);
		snprintf(sealing, sizeof sealing, "%.0f", primaries);
		cells[0] = cli_json_string(k, "fingerprint", "-");
		cells[1] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "primary")) ? "yes" : "no";
		cells[2] = members;
		cells[3] = sealing;
		(void)cli_table_add_row(t, cells);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	(void)cli_json_number(doc, "answered", &answered);
	(void)cli_json_number(doc, "members_alive", &alive);
	(void)cli_json_number(doc, "refused", &refused);
	printf("%.0f of %.0f live members answered (this node included)", answered, alive);
	if (refused > 0)
		printf("; %.0f refused the operation", refused);
	printf("\n");
	return CLI_EXIT_OK;
}

static int cli_keyring_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	const char *op = args->argv[0];
	cJSON *body = cJSON_CreateObject(), *doc = NULL;
	char what[64];
	struct cli_http_call call = {.post = 1, .path = "/v1/keyring", .body = body, .wait_s = 2,
	                             .what = what};
	int rc;

	if (strcmp(op, "list") != 0 && strcmp(op, "install") != 0 && strcmp(op, "use") != 0 &&
	    strcmp(op, "remove") != 0) {
		cli_error("keyring: unknown operation '%s' (list, install, use, remove)", op);
		cJSON_Delete(body);
		return CLI_EXIT_USAGE;
	}
	if ((strcmp(op, "list") == 0) != (args->argc == 1)) {
		cli_error("keyring %s: %s", op,
		          strcmp(op, "list") == 0 ? "takes no key" : "needs a KEY (chorus keygen)");
		cJSON_Delete(body);
		return CLI_EXIT_USAGE;
	}
	if (body == NULL || cJSON_AddStringToObject(body, "op", op) == NULL ||
	    (args->argc == 2 && cJSON_AddStringToObject(body, "key", args->argv[1]) == NULL)) {
		cJSON_Delete(body);
		cli_error("out of memory");
		return CLI_EXIT_USAGE;
	}
	snprintf(what, sizeof what, "keyring %s refused", op);
	rc = cli_http_request(ctx, &call, &doc);
	cJSON_Delete(body);
	if (rc != CLI_EXIT_OK)
		return rc;
	rc = ctx->json ? cli_print_json(doc) : cli_keyring_print(doc);
	cJSON_Delete(doc);
	return rc;
}

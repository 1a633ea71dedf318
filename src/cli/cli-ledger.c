/*
 * chorus ledger: the node's view of the Raft-replicated ledger.
 *
 *   status          leader, term, indexes, height, head hash, voters
 *   blocks          one row per block (height, hash, term, entries, leader)
 *   job ID          the block that made a job final: credited, or rejected
 *                   with its reason ("rejected: insufficient balance")
 *   balances        one row per account (balance = allowance + earned - spent)
 *   verify          fetches every block and replays the chain from genesis
 *                   with the ledger module (links, hashes, signatures, every
 *                   entry's proofs and batch signatures, double credits,
 *                   then the node's balances): exit 0 when all holds, else
 *                   names the first bad block (exit 3)
 *   verify --db F   the same offline, on a copy of a voter's raft.db
 *                   (cli-ledger-db.c): no node needed; exit 2 if F cannot
 *                   be read as one
 *   remove-voter ID on the leader; elsewhere the node names the leader
 *   add-voter ID    on the leader: the node with that full id becomes a voter
 *   transfer-leader ID  on the leader: hand leadership to that voter
 *   recover         on a surviving voter without a leader: it becomes the only voter
 *
 * On a node that holds no ledger the reads are a voter's answers: the node
 * names it ("source"), printed here; verify checks what it was given all the
 * same.  No voter in time: the node's 503 is the one line printed (exit 3).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chorus/ledger.h"
#include "cli.h"

#define CLI_LEDGER_PAGE 500 /* blocks fetched per request */

static int cli_ledger_exec(const struct cli_ctx *ctx, const struct cli_args *args);

/* clang-format off */
static const struct option cli_ledger_options[] = {
	{ "from", required_argument, NULL, 'f' },
	{ "limit", required_argument, NULL, 'l' },
	{ "db", required_argument, NULL, 'B' },
	{ NULL, 0, NULL, 0 },
};
/* clang-format on */

const struct cli_cmd_entry cli_ledger_entry = {
	.name = "ledger",
	.args_usage = "status|blocks [--from H] [--limit N]|job ID|balances|verify [--db FILE]|add-voter ID|"
	              "remove-voter ID|transfer-leader ID|recover",
	.summary = "show or verify the replicated ledger; choose its voters and leader",
	.options = cli_ledger_options,
	.options_help = "  --from H              blocks: start at height H (default 1)\n"
	                "  --limit N             blocks: at most N of them (default 100, at most 1000);\n"
	                "                        a note on stderr says when more blocks follow\n"
	                "  --db FILE             verify: check a copy of a voter's raft.db offline (no node):\n"
	                "                        exit 0 when every block and entry holds, 3 naming the first\n"
	                "                        bad block (height and why), 2 when FILE cannot be read\n",
	.args_min = 1,
	.args_max = 2,
	.exec = cli_ledger_exec,
};

static void cli_ledger_field(const cJSON *doc, const char *key, const char *label)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
	char text[CLI_CELL_MAX];

	if (cJSON_IsNumber(v))
		snprintf(text, sizeof text, "%.0f", v->valuedouble);
	else if (cJSON_IsBool(v))
		snprintf(text, sizeof text, "%s", cJSON_IsTrue(v) ? "yes" : "no");
	else
		cli_sanitize(text, sizeof text, cli_json_string(doc, key, "-"));
	cli_print_field(label, text);
}

/*
 * "NAME (ID)" of the voter that answered for a node holding no ledger (its
 * "source"); 0, or -1 when the node answered from its own ledger.
 */
static int cli_ledger_source(const cJSON *doc, char *out, size_t cap)
{
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(doc, "source");
	char name[CLI_CELL_MAX], id[CLI_CELL_MAX];

	if (!cJSON_IsObject(src))
		return -1;
	cli_sanitize(name, sizeof name, cli_json_string(src, "name", "?"));
	cli_sanitize(id, sizeof id, cli_json_string(src, "id", "?"));
	snprintf(out, cap, "voter %s (%.16s)", name, id);
	return 0;
}

static void cli_ledger_source_field(const cJSON *doc)
{
	char text[2 * CLI_CELL_MAX + 32];

	if (cli_ledger_source(doc, text, sizeof text) == 0)
		cli_print_field("source:", text);
}

/*
 * A node without the ledger whose voters did not answer: its /v1/ledger
 * keeps its own fields (200) but none of the ledger's, and says why.
 */
static int cli_ledger_unanswered(const cJSON *doc)
{
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(doc, "source");
	char why[CLI_CELL_MAX];

	if (!cJSON_IsNull(src))
		return 0;
	cli_sanitize(why, sizeof why, cli_json_string(doc, "error", "no voter answered"));
	cli_error("ledger status: %s", why);
	return 1;
}

static int cli_ledger_status(const cJSON *doc)
{
	static const char *const keys[] = { "state", "id", "leader", "leader_name", "term",
		                            "commit_index", "applied_index", "height", "head_hash",
		                            "credited", "total_reward", "is_voter", "holds_ledger" };
	const cJSON *v;
	char label[64], names[CLI_CELL_MAX] = "";
	size_t used = 0;

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(label, sizeof label, "%s:", keys[i]);
		cli_ledger_field(doc, keys[i], label);
	}
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc, "voters")) {
		int n = snprintf(names + used, sizeof names - used, "%s%s(%.8s)", used ? " " : "",
		                 cli_json_string(v, "name", "?"), cli_json_string(v, "id", "?"));
		if (n < 0 || (size_t)n >= sizeof names - used)
			break;
		used += (size_t)n;
	}
	cli_print_field("voters:", used ? names : "-");
	cli_ledger_source_field(doc);
	return CLI_EXIT_OK;
}

static int cli_ledger_table(const cJSON *arr, const char *const *keys, size_t ncols)
{
	struct cli_table *t = cli_table_create(ncols, keys);
	const cJSON *row;

	if (t == NULL)
		return CLI_EXIT_NODE;
	cJSON_ArrayForEach(row, arr) {
		char cells[8][CLI_CELL_MAX];
		const char *ptrs[8];

		for (size_t c = 0; c < ncols && c < 8; c++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, keys[c]);

			if (cJSON_IsArray(v))
				snprintf(cells[c], CLI_CELL_MAX, "%d", cJSON_GetArraySize(v));
			else if (cJSON_IsNumber(v))
				snprintf(cells[c], CLI_CELL_MAX, "%.0f", v->valuedouble);
			else
				snprintf(cells[c], CLI_CELL_MAX, "%.16s", cli_json_string(row, keys[c], "-"));
			ptrs[c] = cells[c];
		}
		cli_table_add_row(t, ptrs);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- verify */

struct cli_ledger_chain {
	uint8_t **blocks;
	size_t *lens;
	size_t n, cap;
	char source[2 * CLI_CELL_MAX + 32]; /* the voter that answered, on a node without the ledger */
};

static int cli_ledger_chain_cb(void *ctx, uint64_t i, const uint8_t **block, size_t *len)
{
	struct cli_ledger_chain *c = ctx;

	if (i >= c->n)
		return 0;
	*block = c->blocks[i];
	*len = c->lens[i];
	return 1;
}

static int cli_ledger_add_block(struct cli_ledger_chain *c, const cJSON *b)
{
	const char *raw = cli_json_string(b, "raw", NULL);
	size_t len;

	if (raw == NULL)
		return -1;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 256;
		uint8_t **nb = realloc(c->blocks, ncap * sizeof *nb);
		size_t *nl = nb ? realloc(c->lens, ncap * sizeof *nl) : NULL;

		if (nb != NULL)
			c->blocks = nb;
		if (nl == NULL)
			return -1;
		c->lens = nl;
		c->cap = ncap;
	}
	if ((c->blocks[c->n] = malloc(strlen(raw))) == NULL ||
	    cli_base64_decode(c->blocks[c->n], strlen(raw), raw, &len) != 0) {
		free(c->blocks[c->n]);
		return -1;
	}
	c->lens[c->n++] = len;
	return 0;
}

/* Every block up to height from the node, page by page, in height order. */
static int cli_ledger_fetch(const struct cli_ctx *ctx, struct cli_ledger_chain *c, double height)
{
	while ((double)c->n < height) {
		char path[128];
		cJSON *doc, *b;
		size_t before = c->n;
		int rc;

		snprintf(path, sizeof path, "/v1/ledger/blocks?from=%zu&limit=%d", c->n + 1,
		         CLI_LEDGER_PAGE);
		if ((rc = cli_http_get_json(ctx, path, &doc)) != CLI_EXIT_OK)
			return rc;
		cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "blocks")) {
			if ((double)c->n >= height)
				break; /* newer than the balances we compare with */
			if (cli_ledger_add_block(c, b) != 0) {
				cli_error("block %zu from the node does not decode", c->n + 1);
				cJSON_Delete(doc);
				return CLI_EXIT_NODE;
			}
		}
		cJSON_Delete(doc);
		if (c->n == before) {
			cli_error("node at %s has fewer blocks than its height", ctx->node_url);
			return CLI_EXIT_NODE;
		}
	}
	return CLI_EXIT_OK;
}

/* The balances at some height; blocks are then fetched up to that height only. */
static int cli_ledger_expected(const struct cli_ctx *ctx, struct ledger_account **out, size_t *n,
                               double *height, struct cli_ledger_chain *c)
{
	cJSON *doc, *a;
	int rc = cli_http_get_json(ctx, "/v1/ledger/balances", &doc);
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, "accounts");

	*n = 0;
	if (rc != CLI_EXIT_OK)
		return rc;
	if (cli_ledger_source(doc, c->source, sizeof c->source) != 0)
		c->source[0] = '\0';
	if (cli_json_number(doc, "height", height) != 0) {
		cJSON_Delete(doc);
		cli_error("node at %s sent balances without a height", ctx->node_url);
		return CLI_EXIT_NODE;
	}
	*out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof **out);
	cJSON_ArrayForEach(a, arr) {
		struct ledger_account *x = &(*out)[*n];
		double v;
		size_t klen;

		if (*out == NULL || sodium_hex2bin(x->key, sizeof x->key, cli_json_string(a, "key", ""),
		                                   strlen(cli_json_string(a, "key", "")), NULL, &klen,
		                                   NULL) != 0 ||
		    klen != sizeof x->key)
			break;
		x->earned = cli_json_number(a, "earned", &v) == 0 ? (uint64_t)v : 0;
		x->spent = cli_json_number(a, "spent", &v) == 0 ? (uint64_t)v : 0;
		x->jobs_run = cli_json_number(a, "jobs_run", &v) == 0 ? (uint64_t)v : 0;
		x->jobs_paid = cli_json_number(a, "jobs_paid", &v) == 0 ? (uint64_t)v : 0;
		(*n)++;
	}
	cJSON_Delete(doc);
	return *out != NULL ? CLI_EXIT_OK : CLI_EXIT_NODE;
}

/* verify -j: {"ok": true, "blocks": N, "accounts": M}; a failure stays an error. */
static int cli_ledger_verify_json(size_t nblocks, size_t naccounts, const char *source)
{
	cJSON *o = cJSON_CreateObject();
	int rc;

	if (o != NULL && source[0] != '\0')
		cJSON_AddStringToObject(o, "source", source);
	if (o == NULL || cJSON_AddTrueToObject(o, "ok") == NULL ||
	    cJSON_AddNumberToObject(o, "blocks", (double)nblocks) == NULL ||
	    cJSON_AddNumberToObject(o, "accounts", (double)naccounts) == NULL) {
		cJSON_Delete(o);
		cli_error("out of memory printing JSON");
		return CLI_EXIT_UNREACHABLE;
	}
	rc = cli_print_json(o);
	cJSON_Delete(o);
	return rc;
}

static int cli_ledger_verify(const struct cli_ctx *ctx)
{
	struct cli_ledger_chain c = { 0 };
	struct ledger_account *expected = NULL;
	size_t nexpected = 0;
	uint64_t bad = 0;
	char why[LEDGER_WHY_MAX] = "";
	double height = 0;
	int rc = sodium_init() < 0 ? CLI_EXIT_NODE
	                           : cli_ledger_expected(ctx, &expected, &nexpected, &height, &c);

	if (rc == CLI_EXIT_OK)
		rc = cli_ledger_fetch(ctx, &c, height);
	if (rc == CLI_EXIT_OK &&
	    ledger_verify_chain(NULL, cli_ledger_chain_cb, &c, expected, nexpected, &bad, why,
	                        sizeof why) != 0) {
		if (bad > 0)
			cli_error("ledger verify: block %llu is bad: %s", (unsigned long long)bad, why);
		else
			cli_error("ledger verify: the chain holds but the balances do not: %s", why);
		rc = CLI_EXIT_NODE;
	} else if (rc == CLI_EXIT_OK && ctx->json)
		rc = cli_ledger_verify_json(c.n, nexpected, c.source);
	else if (rc == CLI_EXIT_OK && c.source[0] != '\0')
		printf("ledger ok: %zu blocks, %zu accounts (checked here; blocks from %s)\n", c.n,
		       nexpected, c.source);
	else if (rc == CLI_EXIT_OK)
		printf("ledger ok: %zu blocks, %zu accounts\n", c.n, nexpected);
	for (size_t i = 0; i < c.n; i++)
		free(c.blocks[i]);
	free(c.blocks);
	free(c.lens);
	free(expected);
	return rc;
}

/* ---------------------------------------------------------------- dispatch */

/* After a page of blocks: say on stderr when the chain goes on past it, or when
 * the node holds no block where the page was asked to start (compacted). */
static void cli_ledger_blocks_note(const cJSON *doc, long from, long limit)
{
	const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(doc, "blocks");
	double height = 0;
	long n = cJSON_IsArray(blocks) ? cJSON_GetArraySize(blocks) : 0, last = from + n - 1;

	if (cli_json_number(doc, "height", &height) != 0)
		return;
	if (n == 0 && from <= (long)height)
		fprintf(stderr, "chorus: no block at height %ld here (the ledger is at %.0f; "
		                "older blocks may be compacted into a snapshot)\n", from, height);
	else if (n > 0 && last < (long)height)
		fprintf(stderr, "chorus: stopped at block %ld of %.0f%s; more: --from %ld\n", last,
		        height, n < limit ? " (the node sent fewer than asked)" : "", last + 1);
}

static int cli_ledger_show(const struct cli_ctx *ctx, const char *sub, const char *arg, long from,
                           long limit)
{
	static const char *const block_cols[] = { "height", "hash", "term", "entries", "leader" };
	static const char *const acct_cols[] = { "name", "key", "balance", "earned", "spent",
		                                 "jobs_run", "jobs_paid" };
	char path[CLI_PATH_MAX];
	cJSON *doc;
	int rc;

	if (strcmp(sub, "job") == 0 && cli_job_check_id(arg) != 0) {
		cli_error("ledger job: '%s' is not a job id (%d lowercase hex digits)", arg,
		          CLI_JOB_ID_LEN);
		return CLI_EXIT_USAGE;
	}
	snprintf(path, sizeof path, "/v1/ledger%s%s",
	         strcmp(sub, "status") == 0 ? "" : strcmp(sub, "job") == 0 ? "/jobs/" : "/",
	         strcmp(sub, "status") == 0 ? "" : strcmp(sub, "job") == 0 ? arg : sub);
	if (strcmp(sub, "blocks") == 0)
		snprintf(path, sizeof path, "/v1/ledger/blocks?from=%ld&limit=%ld", from, limit);
	if ((rc = cli_http_get_json(ctx, path, &doc)) != CLI_EXIT_OK)
		return rc;
	if (strcmp(sub, "status") == 0 && cli_ledger_unanswered(doc))
		rc = CLI_EXIT_NODE;
	else if (ctx->json)
		rc = cli_print_json(doc);
	else if (strcmp(sub, "blocks") == 0)
		rc = cli_ledger_table(cJSON_GetObjectItemCaseSensitive(doc, "blocks"), block_cols, 5);
	else if (strcmp(sub, "balances") == 0)
		rc = cli_ledger_table(cJSON_GetObjectItemCaseSensitive(doc, "accounts"), acct_cols, 7);
	else if (strcmp(sub, "job") == 0) {
		static const char *const keys[] = { "job", "height", "worker", "client", "reward" };
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(doc, "reason");
		char text[2 * CLI_CELL_MAX + 16], reason[CLI_CELL_MAX];

		cli_sanitize(reason, sizeof reason, cJSON_IsString(why) ? why->valuestring : "");
		snprintf(text, sizeof text, "%s%s%s", cli_json_string(doc, "outcome", "credited"),
		         reason[0] ? ": " : "", reason);
		cli_print_field("outcome:", text);
		for (size_t i = 0; i < 5; i++) {
			char label[32];

			snprintf(label, sizeof label, "%s:", keys[i]);
			cli_ledger_field(doc, keys[i], label);
		}
		if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(doc, "held")))
			cli_print_field("held:", "no: settled below its client's floor (the node's index)");
		cli_ledger_source_field(doc);
	} else
		rc = cli_ledger_status(doc);
	if (strcmp(sub, "blocks") == 0)
		cli_ledger_blocks_note(doc, from, limit);
	if (!ctx->json && (strcmp(sub, "blocks") == 0 || strcmp(sub, "balances") == 0)) {
		char src[2 * CLI_CELL_MAX + 32];

		if (cli_ledger_source(doc, src, sizeof src) == 0)
			fprintf(stderr, "chorus: this node holds no ledger; answered by %s\n", src);
	}
	cJSON_Delete(doc);
	return rc;
}

/* remove-voter, add-voter, transfer-leader: one POST {"id": ID} to /v1/ledger/SUB. */
static int cli_ledger_change(const struct cli_ctx *ctx, const char *sub, const char *id)
{
	cJSON *body = cJSON_CreateObject(), *doc = NULL;
	char path[64];
	struct cli_http_call call = { .post = 1, .path = path, .body = body, .what = sub };
	const char *key = strcmp(sub, "remove-voter") == 0 ? "removed"
	                  : strcmp(sub, "add-voter") == 0 ? "added"
	                                                  : "transferring_to";
	int rc;

	snprintf(path, sizeof path, "/v1/ledger/%s", sub);
	if (body == NULL || cJSON_AddStringToObject(body, "id", id) == NULL) {
		cJSON_Delete(body);
		return CLI_EXIT_NODE;
	}
	rc = cli_http_request(ctx, &call, &doc);
	cJSON_Delete(body);
	if (rc == CLI_EXIT_OK && ctx->json)
		rc = cli_print_json(doc);
	else if (rc == CLI_EXIT_OK)
		printf("%s %s\n", strcmp(key, "transferring_to") == 0 ? "transferring to" : key,
		       cli_json_string(doc, key, id));
	cJSON_Delete(doc);
	return rc;
}

/* recover: the node it goes to forces a configuration of itself alone (see chorus(1)). */
static int cli_ledger_recover(const struct cli_ctx *ctx)
{
	cJSON *body = cJSON_CreateObject(), *doc = NULL;
	struct cli_http_call call = { .post = 1, .path = "/v1/ledger/recover", .body = body,
		                      .what = "recover" };
	int rc;

	if (body == NULL) {
		cJSON_Delete(body);
		return CLI_EXIT_NODE;
	}
	rc = cli_http_request(ctx, &call, &doc);
	cJSON_Delete(body);
	if (rc == CLI_EXIT_OK && ctx->json)
		rc = cli_print_json(doc);
	else if (rc == CLI_EXIT_OK)
		printf("recovered: this node is the only voter; wipe or re-add the others\n");
	cJSON_Delete(doc);
	return rc;
}

static int cli_ledger_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	const char *sub = args->argv[0], *arg = args->argc > 1 ? args->argv[1] : NULL;
	int change = strcmp(sub, "remove-voter") == 0 || strcmp(sub, "add-voter") == 0 ||
	             strcmp(sub, "transfer-leader") == 0;
	int wants_arg = strcmp(sub, "job") == 0 || change;

	if (strcmp(sub, "status") != 0 && strcmp(sub, "blocks") != 0 && strcmp(sub, "balances") != 0 &&
	    strcmp(sub, "verify") != 0 && strcmp(sub, "recover") != 0 && !wants_arg) {
		cli_error("ledger: unknown subcommand '%s' (see 'chorus ledger --help')", sub);
		return CLI_EXIT_USAGE;
	}
	if (wants_arg != (arg != NULL)) {
		cli_error("ledger %s: %s", sub, wants_arg ? "needs an ID" : "takes no argument");
		return CLI_EXIT_USAGE;
	}
	long from = 1, limit = CLI_LEDGER_BLOCKS_DEFAULT;

	if (args->opt['B'] != NULL && strcmp(sub, "verify") != 0) {
		cli_error("ledger %s: --db is for 'ledger verify'", sub);
		return CLI_EXIT_USAGE;
	}
	if ((args->opt['f'] != NULL || args->opt['l'] != NULL) && strcmp(sub, "blocks") != 0) {
		cli_error("ledger %s: --from and --limit are for 'ledger blocks'", sub);
		return CLI_EXIT_USAGE;
	}
	if ((args->opt['f'] != NULL &&
	     cli_parse_long("from", args->opt['f'], 1, UINT32_MAX, &from) != 0) ||
	    (args->opt['l'] != NULL &&
	     cli_parse_long("limit", args->opt['l'], 1, CLI_LEDGER_BLOCKS_MAX, &limit) != 0))
		return CLI_EXIT_USAGE;
	if (strcmp(sub, "verify") == 0 && args->opt['B'] != NULL)
		return cli_ledger_verify_db(ctx, args->opt['B']);
	if (strcmp(sub, "verify") == 0)
		return cli_ledger_verify(ctx);
	if (strcmp(sub, "recover") == 0)
		return cli_ledger_recover(ctx);
	if (change)
		return cli_ledger_change(ctx, sub, arg);
	return cli_ledger_show(ctx, sub, arg, from, limit);
}

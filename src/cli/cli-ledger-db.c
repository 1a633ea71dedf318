/*
 * chorus ledger verify --db FILE: the chain in a copy of a voter's raft.db,
 * checked offline (no node running, no network).
 *
 * Every block of the file's blocks table, in height order, is replayed from
 * genesis with the ledger module (ledger_verify_chain): its encoding, height,
 * link and term, the leader's signature, and every entry's texts, inclusion
 * proofs and batch signatures, and no job credited twice.  The first bad
 * block is named with its height and why.  The file is only read: opened
 * read-only, or immutable when SQLite cannot take a read lock on it (a copy
 * in WAL mode without its -shm file, or in a read-only directory).
 *
 * Exit: 0 the chain holds, 2 the file cannot be read as a raft.db, 3 a block
 * is bad (named on stderr).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "chorus/ledger.h"
#include "cli.h"

struct cli_ledger_db {
	sqlite3 *db;
	sqlite3_stmt *st;
	uint64_t rows;
};

/* Block i: the next row (ledger_verify_chain asks in order and is done with the previous one). */
static int cli_ledger_db_cb(void *ctx, uint64_t i, const uint8_t **block, size_t *len)
{
	struct cli_ledger_db *d = ctx;
	int rc = sqlite3_step(d->st);

	(void)i;
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return -1;
	d->rows++;
	*block = sqlite3_column_blob(d->st, 0);
	*len = (size_t)sqlite3_column_bytes(d->st, 0);
	return 1;
}

/* The blocks query on path, opened with flags as a URI; 0 or an SQLite code. */
static int cli_ledger_db_open(struct cli_ledger_db *d, const char *path, const char *mode)
{
	char *uri = sqlite3_mprintf("file:%s?%s", path, mode);
	int rc;

	if (uri == NULL)
		return SQLITE_NOMEM;
	rc = sqlite3_open_v2(uri, &d->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	sqlite3_free(uri);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(d->db, "SELECT data FROM blocks ORDER BY height", -1, &d->st,
		                        NULL);
	if (rc != SQLITE_OK) {
		sqlite3_close(d->db);
		d->db = NULL;
	}
	return rc;
}

/* -j: {"ok": true, "blocks": N, "db": FILE}. */
static int cli_ledger_db_json(uint64_t blocks, const char *path)
{
	cJSON *o = cJSON_CreateObject();
	int rc;

	if (o == NULL || cJSON_AddTrueToObject(o, "ok") == NULL ||
	    cJSON_AddNumberToObject(o, "blocks", (double)blocks) == NULL ||
	    cJSON_AddStringToObject(o, "db", path) == NULL) {
		cJSON_Delete(o);
		cli_error("out of memory printing JSON");
		return CLI_EXIT_UNREACHABLE;
	}
	rc = cli_print_json(o);
	cJSON_Delete(o);
	return rc;
}

int cli_ledger_verify_db(const struct cli_ctx *ctx, const char *path)
{
	struct cli_ledger_db d = { 0 };
	char why[LEDGER_WHY_MAX] = "";
	uint64_t bad = 0;
	int rc, err;

	if (sodium_init() < 0)
		return CLI_EXIT_UNREACHABLE;
	/* Read-only first; immutable when no read lock can be had (a bare copy of a WAL file). */
	if (cli_ledger_db_open(&d, path, "mode=ro") != SQLITE_OK &&
	    (rc = cli_ledger_db_open(&d, path, "immutable=1")) != SQLITE_OK) {
		cli_error("ledger verify: %s: not a raft.db with a blocks table (%s)", path,
		          sqlite3_errstr(rc));
		return CLI_EXIT_UNREACHABLE;
	}
	err = ledger_verify_chain(NULL, cli_ledger_db_cb, &d, NULL, 0, &bad, why, sizeof why);
	sqlite3_finalize(d.st);
	sqlite3_close(d.db);
	if (err != 0 && bad > 0) {
		cli_error("ledger verify: %s: block %llu is bad: %s", path, (unsigned long long)bad, why);
		return CLI_EXIT_NODE;
	}
	if (err != 0) {
		cli_error("ledger verify: %s: %s", path, why[0] ? why : "cannot be read");
		return CLI_EXIT_UNREACHABLE;
	}
	if (ctx->json)
		return cli_ledger_db_json(d.rows, path);
	printf("ledger ok: %llu blocks (checked offline: %s)\n", (unsigned long long)d.rows, path);
	return CLI_EXIT_OK;
}

/*
 * sqlstore: the SQLite helpers every store in the data dir shares (jobs.db,
 * raft.db): open with a schema, prepare a list of statements, step a write
 * to its end, and run a batch in one transaction.  Errors are logged once
 * here, so the callers only pass them on.
 */
#include <errno.h>
#include <stdio.h>

#include <sqlite3.h>

#include "idmap.h"
#include "node.h"

/* Opens dir/file, applies schema (pragmas and CREATE IF NOT EXISTS); 0 or -EIO with err. */
int sqlstore_open(sqlite3 **db, const char *dir, const char *file, const char *schema, char *err,
                  size_t errlen)
{
	char path[NODE_PATH_MAX + 32];

	snprintf(path, sizeof path, "%s/%s", dir, file);
	*db = NULL;
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	        SQLITE_OK ||
	    sqlite3_busy_timeout(*db, 5000) != SQLITE_OK ||
	    sqlite3_exec(*db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "cannot open");
		sqlite3_close(*db);
		*db = NULL;
		return -EIO;
	}
	return 0;
}

/* Prepares n statements; 0 or -EIO.  sql[i] goes to *st[i]. */
int sqlstore_prepare(sqlite3 *db, const char *const *sql, sqlite3_stmt **const *st, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sqlite3_prepare_v2(db, sql[i], -1, st[i], NULL) != SQLITE_OK) {
			log_error("store", "event=prepare_error error=\"%s\"", sqlite3_errmsg(db));
			return -EIO;
		}
	return 0;
}

/* Steps a write statement to its end and resets it; 0 or -EIO (logged). */
int sqlstore_run(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_error("store", "event=write_error what=%s error=\"%s\"", what, sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

/* BEGIN / COMMIT / ROLLBACK by name; 0 or -EIO (logged). */
int sqlstore_exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		log_error("store", "event=exec_error sql=\"%s\" error=\"%s\"", sql, sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

/*
 * A file from before a layout change: when probe (a count) is above 0, the
 * migration script runs (it holds its own transaction; rolled back on error).
 * 0, or -EIO.
 */
int sqlstore_migrate(struct sqlite3 *db, const char *probe, const char *script, const char *what)
{
	sqlite3_stmt *st = NULL;
	int old = 0;

	if (sqlite3_prepare_v2(db, probe, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		old = sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	if (!old)
		return 0;
	if (sqlstore_exec(db, script) != 0) {
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	log_info("store", "event=migrated what=%s", what);
	return 0;
}

/*
 * An idmap from a statement's rows (column 0 the rowid, column 1 the hex job
 * id), cleared first; ids that are not job ids, or twice, are skipped (the
 * writers refuse both).  0, or -EIO.
 */
int sqlstore_idmap_fill(struct idmap *m, struct sqlite3_stmt *st)
{
	uint8_t key[IDMAP_KEY_BYTES];
	int rc;

	idmap_clear(m);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 1);

		if (id == NULL || idmap_key(key, id) != 0 || idmap_get(m, key) != 0)
			continue;
		if (idmap_reserve(m) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		idmap_put(m, key, sqlite3_column_int64(st, 0));
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

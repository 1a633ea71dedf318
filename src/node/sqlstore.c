/*
 * sqlstore: the SQLite helpers every store in the data dir shares (jobs.db,
 * raft.db): open with a schema, prepare a list of statements, step a write
 * to its end, and run a batch in one transaction.  Errors are logged once
 * here, so the callers only pass them on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
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

/* ---------------------------------------------------------------- damage, detected at open */

/* Monotonic ms, read here: the unit tests link this file without chorusd.c. */
static uint64_t sqlstore_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct sqlstore_deadline {
	uint64_t until_ms;
	int expired;
};

/* SQLite's progress handler: a check that runs past its time bound stops (and says so). */
static int sqlstore_progress_cb(void *arg)
{
	struct sqlstore_deadline *d = arg;

	if (sqlstore_now_ms() < d->until_ms)
		return 0;
	d->expired = 1;
	return 1;
}

/*
 * PRAGMA quick_check, stopped after CHORUS_STORE_CHECK_MS (a warning: the
 * rest of the file is not checked).  0, or -EBADMSG with what it found.
 */
static int sqlstore_quick_check(sqlite3 *db, const char *file, char *why, size_t whylen)
{
	struct sqlstore_deadline d = { sqlstore_now_ms() + CHORUS_STORE_CHECK_MS, 0 };
	sqlite3_stmt *st = NULL;
	int rc, bad = 0;

	sqlite3_progress_handler(db, 1000, sqlstore_progress_cb, &d);
	if ((rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(4)", -1, &st, NULL)) == SQLITE_OK)
		rc = SQLITE_ROW;
	while (rc == SQLITE_ROW && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);

		if (line != NULL && strcmp(line, "ok") != 0 && !bad++)
			snprintf(why, whylen, "%s", line);
	}
	sqlite3_finalize(st);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	if (d.expired) {
		log_warn("store", "event=check_incomplete file=%s limit_ms=%d", file, CHORUS_STORE_CHECK_MS);
		return 0;
	}
	if (rc != SQLITE_DONE && !bad++)
		snprintf(why, whylen, "%s", sqlite3_errmsg(db));
	return bad ? -EBADMSG : 0;
}

/* The store id in dir/file.id: 0 and id, -ENOENT, or -EIO. */
static int sqlstore_marker_read(const char *path, char *id, size_t idlen)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return errno == ENOENT ? -ENOENT : -EIO;
	n = fread(id, 1, idlen - 1, fp);
	fclose(fp);
	id[n] = '\0';
	id[strcspn(id, "\n")] = '\0';
	return id[0] != '\0' ? 0 : -EIO;
}

/* Written whole or not at all (a temporary file, fsync, rename, the directory synced). */
static int sqlstore_marker_write(const char *dir, const char *path, const char *id)
{
	char tmp[NODE_PATH_MAX + 48];
	int fd, dfd, ok;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return -errno;
	ok = dprintf(fd, "%s\n", id) > 0 && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		return -EIO;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* The id in the store's meta table: 0 and id, -ENOENT (none), or -EIO. */
static int sqlstore_meta_get(sqlite3 *db, const char *key, char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	int rc, r = -ENOENT;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = -EIO;
	}
	sqlite3_finalize(st);
	return r;
}

int sqlstore_meta_put(sqlite3 *db, const char *key, const char *value)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1,
	                       &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	r = sqlstore_run(db, st, "meta");
	sqlite3_finalize(st);
	return r;
}

/* A new store id, in the table, then in dir/file.id (so the file never names an id the table lacks). */
int sqlstore_adopt(sqlite3 *db, const char *dir, const char *file)
{
	char path[NODE_PATH_MAX + 40], id[2 * 16 + 1];
	uint8_t raw[16];
	int r;

	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(id, sizeof id, raw, sizeof raw);
	snprintf(path, sizeof path, "%s/%s.id", dir, file);
	if ((r = sqlstore_meta_put(db, "store_id", id)) != 0)
		return r;
	return sqlstore_marker_write(dir, path, id);
}

/*
 * Opens dir/file like sqlstore_open, after checking it: the file's
 * integrity (quick_check, time-bounded), then whether it is the store this
 * node made.  Each store carries a random id in its meta table and in
 * dir/FILE.id beside it; the id file outlives a store that was emptied,
 * truncated to nothing or deleted, so that such a store is not taken for a
 * first start.  *found: SQLSTORE_NEW (a first start: the id is made),
 * SQLSTORE_KNOWN, or SQLSTORE_LOST (the id file names a store that is not
 * there: the caller decides, and adopts the new one with sqlstore_adopt).
 * 0, -EBADMSG (damaged: err says so and what to do), or -EIO.
 */
int sqlstore_open_checked(sqlite3 **db, const char *dir, const char *file, const char *schema,
                          enum sqlstore_found *found, char *err, size_t errlen)
{
	char path[NODE_PATH_MAX + 40], why[256], mine[64], theirs[64];
	int r;

	*found = SQLSTORE_NEW;
	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "cannot open");
		sqlite3_close(*db);
		*db = NULL;
		return -EIO;
	}
	why[0] = '\0';
	if ((r = sqlstore_quick_check(*db, file, why, sizeof why)) == 0 &&
	    (sqlite3_busy_timeout(*db, 5000) != SQLITE_OK ||
	     sqlite3_exec(*db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	     sqlite3_exec(*db, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY,"
	                       " value TEXT NOT NULL);", NULL, NULL, NULL) != SQLITE_OK)) {
		snprintf(why, sizeof why, "%s", sqlite3_errmsg(*db));
		r = (sqlite3_errcode(*db) & 0xff) == SQLITE_CORRUPT ||
		    (sqlite3_errcode(*db) & 0xff) == SQLITE_NOTADB ? -EBADMSG : -EIO;
	}
	if (r == 0) {
		int m = sqlstore_meta_get(*db, "store_id", mine, sizeof mine);

		snprintf(path, sizeof path, "%s/%s.id", dir, file);
		int t = sqlstore_marker_read(path, theirs, sizeof theirs);

		if (m == -EIO || t == -EIO) {
			snprintf(why, sizeof why, "cannot read its id (%s)", m == -EIO ? "meta table" : "the .id file");
			r = -EIO;
		} else if (m == 0 && t == 0 && strcmp(mine, theirs) != 0) {
			snprintf(why, sizeof why, "it is not the store %s.id names", file);
			r = -EBADMSG;
		} else if (m == -ENOENT && t == 0) {
			*found = SQLSTORE_LOST;
		} else if (m == 0) {
			*found = SQLSTORE_KNOWN;
			if (t == -ENOENT)
				r = sqlstore_marker_write(dir, path, mine); /* a crash between the two writes */
		} else {
			r = sqlstore_adopt(*db, dir, file);
		}
	}
	if (r != 0) {
		if (r == -EBADMSG)
			snprintf(err, errlen, "%s/%s is damaged (%s)", dir, file, why);
		else
			snprintf(err, errlen, "%s/%s: %s", dir, file, why[0] ? why : "cannot open");
		sqlite3_close(*db);
		*db = NULL;
	}
	return r;
}

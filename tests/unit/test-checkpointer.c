/*
 * checkpointer: a commit that leaves a watched database's WAL over the bound
 * gets it checkpointed on the helper thread (the committing connection does
 * none itself), every committed row is then in the database file, and the
 * next write starts the WAL over.  A WAL that outgrew the helper is
 * checkpointed by the commit itself.  Unwatched (no start), SQLite
 * checkpoints in the commit as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "node.h"
#include "tap.h"

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=NORMAL;"
                             "CREATE TABLE IF NOT EXISTS t (x BLOB NOT NULL);";

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* n rows of 4000 random bytes in one transaction: about n WAL pages. */
static int write_rows(sqlite3 *db, int n)
{
	static unsigned char blob[4000];
	sqlite3_stmt *st;
	int ok = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
	         sqlite3_prepare_v2(db, "INSERT INTO t (x) VALUES (?1)", -1, &st, NULL) == SQLITE_OK;

	for (int i = 0; ok && i < n; i++) {
		for (size_t k = 0; k < sizeof blob; k += 4)
			blob[k] = (unsigned char)rand();
		ok = sqlite3_bind_blob(st, 1, blob, sizeof blob, SQLITE_STATIC) == SQLITE_OK &&
		     sqlite3_step(st) == SQLITE_DONE && sqlite3_reset(st) == SQLITE_OK;
	}
	sqlite3_finalize(st);
	return ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
}

/* WAL frames now, and how many of them are in the database file (a PASSIVE checkpoint's report). */
static void wal_state(sqlite3 *db, int *frames, int *copied)
{
	*frames = *copied = -1;
	(void)sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, frames, copied);
}

static int rows_in(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/chorus-ckpt.XXXXXX", err[256], path[300];
	struct checkpointer_stats st;
	uint64_t deadline;
	sqlite3 *db;
	int frames, copied;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof path, "%s/t.db", dir);

	ok(checkpointer_start() == 0, "the checkpointer starts");
	ok(sqlstore_open(&db, dir, "t.db", schema, err, sizeof err) == 0, "a WAL database opens");
	ok(checkpointer_watch(db) == 0, "and is watched");
	ok(write_rows(db, 1500), "one transaction of 1500 rows (about 1500 WAL pages)");
	deadline = now_ms() + 10000;
	while ((st = checkpointer_stats()).pages < 1500 && now_ms() < deadline)
		usleep(2000);
	ok(st.runs >= 1 && st.pages >= 1500,
	   "the helper checkpointed it (%llu runs, %llu pages, %llu errors)",
	   (unsigned long long)st.runs, (unsigned long long)st.pages, (unsigned long long)st.errors);
	ok(rows_in(path) == 1500, "every row is readable by a new connection");
	/* The helper copied every frame: the next write starts the WAL over. */
	ok(write_rows(db, 10), "a small write after it");
	wal_state(db, &frames, &copied);
	ok(frames > 0 && frames < 100, "starts the WAL over (%d frames, not 1500 more)", frames);
	/* One commit of 8100 pages: past 8 x the bound, the writer checkpoints in place. */
	ok(write_rows(db, 8100), "one transaction of 8100 rows");
	ok(checkpointer_stats().inline_runs == 1, "the commit itself checkpointed (the WAL was past 8000 pages)");
	sqlite3_close(db);
	checkpointer_stop();
	st = checkpointer_stats();

	/* Unwatched: the commit checkpoints itself, the helper does nothing. */
	ok(sqlstore_open(&db, dir, "u.db", schema, err, sizeof err) == 0 &&
	       checkpointer_watch(db) == 0,
	   "without a start, watching leaves SQLite's own autocheckpoint");
	ok(write_rows(db, 1500) && write_rows(db, 10), "1500 rows again, then 10");
	wal_state(db, &frames, &copied);
	ok(frames > 0 && frames < 100 && checkpointer_stats().runs == st.runs,
	   "the commit checkpointed itself (the WAL started over: %d frames), not the helper", frames);
	sqlite3_close(db);

	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	if (system(path) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}

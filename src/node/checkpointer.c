/*
 * checkpointer: SQLite WAL checkpoints off the event loop.
 *
 * A WAL database is checkpointed by copying the WAL's pages into the
 * database file and syncing it.  SQLite does that inside the commit that
 * pushes the WAL past 1000 pages (autocheckpoint): on the loop thread, where
 * each fdatasync took up to 13 ms on the development VM and set the
 * one-job-at-a-time p99 (94 of them per 3,000 jobs).  Here every connection
 * a store opens gets a WAL hook instead: a commit that leaves its WAL over
 * CHECKPOINTER_PAGES pages only marks its file and wakes a helper thread,
 * which runs a PASSIVE checkpoint on a connection of its own.  PASSIVE never
 * waits for readers or writers, and WAL mode lets the loop keep committing
 * meanwhile; once a checkpoint has copied everything, the next write starts
 * the WAL over from its beginning, so it stays about that size.  Durability
 * is unchanged: a commit is as durable as its synchronous setting made it
 * before the checkpoint, and a checkpoint only moves committed pages.  The
 * WAL stays bounded: a commit that finds it over CHECKPOINTER_INLINE_PAGES
 * (the helper has fallen behind) checkpoints in place, as SQLite would have.
 *
 * Not started (unit tests, tools): checkpointer_watch() leaves SQLite's own
 * autocheckpoint in place.  The helper does no protocol work: files only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "node.h"

#define CHECKPOINTER_FILES 4    /* distinct database files watched */
#define CHECKPOINTER_PAGES 1000 /* WAL pages after a commit that ask for a checkpoint */
#define CHECKPOINTER_INLINE_PAGES (8 * CHECKPOINTER_PAGES) /* the helper fell behind: the writer checkpoints */

struct checkpointer_file {
	char path[NODE_PATH_MAX + 32];
	sqlite3 *db;  /* the helper's own connection; opened on its thread */
	int wanted;   /* a commit left the WAL over the bound */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t helper;
	int running, stopping;
	struct checkpointer_file files[CHECKPOINTER_FILES];
	unsigned nfiles;
	struct checkpointer_stats stats;
} ckpt = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

/* One PASSIVE checkpoint of f, on the helper's connection (opened the first time). */
static void checkpointer_run(struct checkpointer_file *f)
{
	int nlog = 0, ncopied = 0, rc;

	/* A fresh connection knows the file is in WAL mode only once it has read it. */
	if (f->db == NULL &&
	    (sqlite3_open_v2(f->path, &f->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	     sqlite3_exec(f->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK)) {
		log_error("store", "event=checkpoint_error file=%s error=\"%s\"", f->path,
		          f->db != NULL ? sqlite3_errmsg(f->db) : "cannot open");
		sqlite3_close(f->db);
		f->db = NULL;
		return;
	}
	rc = sqlite3_wal_checkpoint_v2(f->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &ncopied);
	pthread_mutex_lock(&ckpt.lock);
	if (rc == SQLITE_OK) {
		ckpt.stats.runs++;
		ckpt.stats.pages += ncopied > 0 ? (uint64_t)ncopied : 0;
	} else if ((rc & 0xff) == SQLITE_BUSY) {
		/*
		 * Not a failure: a PASSIVE checkpoint gives up when it cannot take
		 * the checkpoint lock or read a steady WAL header while a commit
		 * writes one (seen under load).  Nothing was lost; the next commit
		 * that leaves the WAL over the bound asks again.
		 */
		ckpt.stats.busy++;
	} else {
		ckpt.stats.errors++;
	}
	pthread_mutex_unlock(&ckpt.lock);
	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
		log_warn("store", "event=checkpoint_error file=%s error=\"%s\"", f->path,
		         sqlite3_errmsg(f->db));
}

static void *checkpointer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ckpt.lock);
	for (;;) {
		unsigned k;

		for (k = 0; k < ckpt.nfiles && !ckpt.files[k].wanted; k++)
			;
		if (ckpt.stopping)
			break;
		if (k == ckpt.nfiles) {
			pthread_cond_wait(&ckpt.wake, &ckpt.lock);
			continue;
		}
		ckpt.files[k].wanted = 0;
		pthread_mutex_unlock(&ckpt.lock);
		checkpointer_run(&ckpt.files[k]); /* the slot stays: files are only added */
		pthread_mutex_lock(&ckpt.lock);
	}
	pthread_mutex_unlock(&ckpt.lock);
	for (unsigned k = 0; k < ckpt.nfiles; k++) {
		sqlite3_close(ckpt.files[k].db);
		ckpt.files[k].db = NULL;
	}
	return NULL;
}

int checkpointer_start(void)
{
	if (ckpt.running)
		return -EALREADY;
	ckpt.stopping = 0;
	ckpt.nfiles = 0;
	if (pthread_create(&ckpt.helper, NULL, checkpointer_main, NULL) != 0)
		return -EAGAIN;
	ckpt.running = 1;
	return 0;
}

/* After the stores are closed: no commit may call the hook any more. */
void checkpointer_stop(void)
{
	if (!ckpt.running)
		return;
	pthread_mutex_lock(&ckpt.lock);
	ckpt.stopping = 1;
	pthread_cond_signal(&ckpt.wake);
	pthread_mutex_unlock(&ckpt.lock);
	pthread_join(ckpt.helper, NULL);
	ckpt.running = 0;
	ckpt.nfiles = 0;
}

/* SQLite's WAL hook: runs in the committing thread, after the commit. */
static int checkpointer_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct checkpointer_file *f = arg;

	if (pages < CHECKPOINTER_PAGES)
		return SQLITE_OK;
	if (pages >= CHECKPOINTER_INLINE_PAGES) {
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ckpt.lock);
		ckpt.stats.inline_runs++;
		pthread_mutex_unlock(&ckpt.lock);
		return SQLITE_OK;
	}
	pthread_mutex_lock(&ckpt.lock);
	if (!f->wanted) {
		f->wanted = 1;
		pthread_cond_signal(&ckpt.wake);
	}
	pthread_mutex_unlock(&ckpt.lock);
	return SQLITE_OK;
}

int checkpointer_watch(sqlite3 *db)
{
	const char *path = sqlite3_db_filename(db, "main"); /* absolute: one file, one slot */
	struct checkpointer_file *f = NULL;

	if (!ckpt.running)
		return 0; /* SQLite's own autocheckpoint stays */
	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof f->path)
		return -EINVAL;
	pthread_mutex_lock(&ckpt.lock);
	for (unsigned k = 0; k < ckpt.nfiles && f == NULL; k++)
		if (strcmp(ckpt.files[k].path, path) == 0)
			f = &ckpt.files[k];
	if (f == NULL && ckpt.nfiles < CHECKPOINTER_FILES) {
		f = &ckpt.files[ckpt.nfiles++];
		snprintf(f->path, sizeof f->path, "%s", path);
		f->db = NULL;
		f->wanted = 0;
	}
	pthread_mutex_unlock(&ckpt.lock);
	if (f == NULL)
		return -ENOSPC; /* more files than CHECKPOINTER_FILES: a programming error */
	(void)sqlite3_wal_hook(db, checkpointer_hook, f); /* replaces the autocheckpoint */
	return 0;
}

struct checkpointer_stats checkpointer_stats(void)
{
	struct checkpointer_stats out;

	pthread_mutex_lock(&ckpt.lock);
	out = ckpt.stats;
	pthread_mutex_unlock(&ckpt.lock);
	return out;
}

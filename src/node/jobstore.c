/*
 * jobstore: the client's job table, in SQLite (data-dir/jobs.db).
 *
 * A job is written before its id is handed back to whoever submitted it,
 * and its final state as it ends (changes in between: when still live
 * 100 ms later or when read, jobs.c), so a node that restarts finds every
 * job it accepted: final ones as they ended, the others to be resumed (same
 * nonce, so the same id).  The connection holds the database exclusively
 * (locking_mode=EXCLUSIVE: no file-lock system calls per transaction, which
 * one job at a time notices more than the checkpoints' stalls; the node is
 * its only user, the API its window).  WAL mode with
 * synchronous=NORMAL: a commit survives the process being killed (the WAL
 * is in the kernel's hands), not a power cut; see docs/dispatch.md.
 * The table keeps the newest JOBSTORE_KEEP jobs; older final ones are
 * deleted in batches.  Rows are found by job id through an index in memory
 * (idmap.h, built at open), not an SQLite index: a job id is random, and a
 * UNIQUE index on it dirtied a random page per job.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>
#include <sqlite3.h>

#include "idmap.h"
#include "node.h"

#define COL_TEXT(st, i) ((const char *)sqlite3_column_text((st), (i)))

#define JOBSTORE_KEEP        100000 /* jobs kept; older final ones are deleted */
#define JOBSTORE_TRIM_EVERY  1000   /* inserts between trims */

struct jobstore {
	sqlite3 *db;
	sqlite3_stmt *insert, *update, *get, *list, *pending;
	sqlite3_stmt *ids, *trim;
	/* the worker's outcome table (work_outcomes) */
	sqlite3_stmt *oc_replace, *oc_keep, *oc_get, *oc_prune, *oc_count;
	unsigned oc_puts;
	void *oc_receipt; /* the last row read's receipt (jobstore_outcome_get) */
	unsigned inserts;
	int in_tx; /* updates since the last jobstore_commit() share one transaction */
	unsigned commit_failed; /* commits failed in a row (the transaction kept open) */
	char error[128];        /* what the last failed write said */
	unsigned tx_writes;     /* updates in the open transaction (a submit's own insert aside) */
	struct idmap rows; /* job id -> seq, every row */
	sqlite3_stmt *where_set; /* a job's constraint (submit --where), after its insert */
};

/* Monotonic ms (the result check's time bound). */
static uint64_t jobstore_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Pages a commit writes are the cost here (a WAL frame each, and every 1000
 * of them a checkpoint with two fdatasyncs on the loop): seq is a plain rowid
 * (AUTOINCREMENT rewrote sqlite_sequence on every insert; the newest row is
 * never trimmed, so rowids still only grow), and the open jobs are found by a
 * scan at start instead of an index written twice per job.  Tables made
 * before keep their AUTOINCREMENT; their index is dropped.
 */
#define JOBSTORE_TABLE                                                                             \
	"CREATE TABLE IF NOT EXISTS jobs ("                                                        \
	" seq INTEGER PRIMARY KEY, id TEXT NOT NULL, nonce INTEGER NOT NULL,"                      \
	" kind TEXT NOT NULL, payload BLOB NOT NULL, timeout_ms INTEGER NOT NULL,"                 \
	" reward INTEGER NOT NULL, created_ms INTEGER NOT NULL, state TEXT NOT NULL,"              \
	" final INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"                      \
	" attempts TEXT NOT NULL DEFAULT '[]', worker TEXT NOT NULL DEFAULT '',"                   \
	" worker_name TEXT NOT NULL DEFAULT '', result BLOB, result_hash TEXT NOT NULL DEFAULT '',"\
	" error TEXT NOT NULL DEFAULT '', finished_ms INTEGER NOT NULL DEFAULT 0"                  \
	JOBSTORE_QUEUE_COLS ");"

/*
 * The queue's columns (docs/dispatch.md, "The queue"): the spec's priority
 * and queue timeout, restored with the job after a restart, and how long it
 * has waited for a slot so far.  Added last, so that a table from before
 * gains them by ALTER TABLE (jobstore_migrate_queue) in the same order.
 */
#define JOBSTORE_QUEUE_COLS                                                                        \
	", priority INTEGER NOT NULL DEFAULT 0, queue_timeout_ms INTEGER NOT NULL DEFAULT 0,"      \
	" queued_ms INTEGER NOT NULL DEFAULT 0"

static const char jobstore_schema[] =
    "PRAGMA locking_mode=EXCLUSIVE;"
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    JOBSTORE_TABLE
    "DROP INDEX IF EXISTS jobs_open;";

/*
 * A table from before the index in memory (id UNIQUE, perhaps AUTOINCREMENT)
 * is copied into the new layout, seq kept, in one transaction.
 */
static const char jobstore_migrate[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE jobs RENAME TO jobs_v1;"
    JOBSTORE_TABLE
    "INSERT INTO jobs SELECT * FROM jobs_v1;"
    "DROP TABLE jobs_v1;"
    "COMMIT;";

/* A table from before the queue: its columns, added (the defaults are the old behaviour). */
static const char jobstore_migrate_queue[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN queue_timeout_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN queued_ms INTEGER NOT NULL DEFAULT 0;"
    "COMMIT;";

/*
 * A job's constraint (submit --where) as "KEY=VALUE,...", '' for none: a
 * column added to tables made before it (jobstore_open), so the table's
 * own layout, and the migration above, stay as they were.
 */
static const char jobstore_where_probe[] =
    "SELECT count(*) = 0 FROM pragma_table_info('jobs') WHERE name = 'where_tags'";
static const char jobstore_where_add[] =
    "ALTER TABLE jobs ADD COLUMN where_tags TEXT NOT NULL DEFAULT '';";

static const char jobstore_cols[] =
    "id, kind, state, final, reason, reward, timeout_ms, created_ms, finished_ms,"
    " length(payload), worker, worker_name, attempts, result, result_hash, error,"
    " priority, queue_timeout_ms, queued_ms, where_tags";

static int jobstore_prepare(struct jobstore *js)
{
	char get[512], list[512];

	snprintf(get, sizeof get, "SELECT %s FROM jobs WHERE seq = ?1", jobstore_cols);
	snprintf(list, sizeof list, "SELECT %s FROM jobs ORDER BY seq DESC LIMIT ?1", jobstore_cols);
	if (sqlite3_prepare_v2(js->db,
	                       "INSERT INTO jobs (id, nonce, kind, payload, timeout_ms, reward,"
	                       " created_ms, state, priority, queue_timeout_ms)"
	                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9)",
	                       -1, &js->insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db,
	                       "UPDATE jobs SET state = ?2, final = ?3, reason = ?4, attempts = ?5,"
	                       " worker = ?6, worker_name = ?7, result = ?8, result_hash = ?9,"
	                       " error = ?10, finished_ms = ?11, queued_ms = ?12 WHERE seq = ?1",
	                       -1, &js->update, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db, get, -1, &js->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db, list, -1, &js->list, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db,
	                       "SELECT nonce, kind, payload, timeout_ms, reward, created_ms, attempts,"
	                       " priority, queue_timeout_ms, where_tags FROM jobs WHERE final = 0 ORDER BY seq",
	                       -1, &js->pending, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db, "SELECT seq, id FROM jobs", -1, &js->ids, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db, "UPDATE jobs SET where_tags = ?2 WHERE seq = ?1", -1,
	                       &js->where_set, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db,
	                       "DELETE FROM jobs WHERE final = 1 AND seq <= (SELECT max(seq) FROM jobs) - ?1"
	                       " RETURNING id",
	                       -1, &js->trim, NULL) != SQLITE_OK)
		return -EIO;
	return 0;
}

static int jobstore_outcome_prepare(struct jobstore *js);

/* The id index from the table: at open, and after a transaction that did not commit. */
static int jobstore_reindex(struct jobstore *js)
{
	return sqlstore_idmap_fill(&js->rows, js->ids);
}

/* The row of job id (hex), or 0. */
static int64_t jobstore_row(const struct jobstore *js, const char *id)
{
	uint8_t key[IDMAP_KEY_BYTES];

	return idmap_key(key, id) == 0 ? idmap_get(&js->rows, key) : 0;
}

/* Does a stored result match the digest stored with it (the receipt's result_hash)? */
static int jobstore_digest_ok(const void *result, int len, const char *hex)
{
	uint8_t want[32], got[32];
	size_t n = 0;

	if (hex == NULL || sodium_hex2bin(want, sizeof want, hex, strlen(hex), NULL, &n, NULL) != 0 ||
	    n != sizeof want)
		return 0;
	crypto_generichash(got, sizeof got, result, (size_t)len, NULL, 0);
	return sodium_memcmp(want, got, sizeof got) == 0;
}

/*
 * Every stored result against its digest, at open, stopped after
 * CHORUS_STORE_CHECK_MS (a warning).  0, or -EBADMSG naming the first job
 * whose result was changed on disk.
 */
static int jobstore_check_results(struct jobstore *js, char *why, size_t whylen)
{
	uint64_t until_ms = jobstore_now_ms() + CHORUS_STORE_CHECK_MS;
	sqlite3_stmt *st = NULL;
	int rc, bad = 0;
	long n = 0;

	if (sqlite3_prepare_v2(js->db, "SELECT id, result, result_hash FROM jobs WHERE result IS NOT NULL",
	                       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!jobstore_digest_ok(sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1),
		                        COL_TEXT(st, 2))) {
			snprintf(why, whylen, "the result of job %s does not match its digest", COL_TEXT(st, 0));
			bad = 1;
		}
		if (++n % 256 == 0 && jobstore_now_ms() > until_ms) {
			log_warn("store", "event=check_incomplete what=results checked=%ld limit_ms=%d", n,
			         CHORUS_STORE_CHECK_MS);
			break;
		}
	}
	sqlite3_finalize(st);
	return bad ? -EBADMSG : 0;
}

/* What to do about a jobs.db that is damaged or lost (it says so and stops the node). */
static void jobstore_advice(char *err, size_t errlen, const char *dir, const char *what)
{
	snprintf(err, errlen,
	         "%s: restore %s/jobs.db from a backup, or move jobs.db and jobs.db.id aside"
	         " to start with no jobs",
	         what, dir);
}

int jobstore_open(struct jobstore **out, const char *dir, char *err, size_t errlen)
{
	struct jobstore *js = calloc(1, sizeof(*js));
	enum sqlstore_found found;
	char what[NODE_ERR_MAX];
	int r;

	*out = NULL;
	if (js == NULL)
		return -ENOMEM;
	r = sqlstore_open_checked(&js->db, dir, "jobs.db", jobstore_schema, &found, what, sizeof what);
	if (r == 0 && found == SQLSTORE_LOST) {
		snprintf(what, sizeof what, "%s/jobs.db is empty or was replaced, but this node kept its jobs"
		         " there (jobs.db.id says so)", dir);
		r = -EBADMSG;
	}
	if (r == 0 && (r = jobstore_check_results(js, what, sizeof what)) == -EBADMSG) {
		char why[NODE_ERR_MAX];

		snprintf(why, sizeof why, "%s", what);
		snprintf(what, sizeof what, "%s/jobs.db is damaged (%.200s)", dir, why);
	}
	if (r == -EBADMSG) {
		jobstore_advice(err, errlen, dir, what);
		jobstore_close(js);
		return -EBADMSG;
	}
	if (r != 0 ||
	    /* A table from before the queue (first: the copy below selects every column). */
	    sqlstore_migrate(js->db, "SELECT count(*) = 0 FROM pragma_table_info('jobs')"
	                     " WHERE name = 'priority'", jobstore_migrate_queue, "jobs-queue") != 0 ||
	    /* A table with the old UNIQUE id (an index SQLite made for it). */
	    sqlstore_migrate(js->db, "SELECT count(*) FROM pragma_index_list('jobs') WHERE origin = 'u'",
	                     jobstore_migrate, "jobs") != 0 ||
	    sqlstore_migrate(js->db, jobstore_where_probe, jobstore_where_add, "jobs.where_tags") != 0 ||
	    jobstore_prepare(js) != 0 || jobstore_outcome_prepare(js) != 0 ||
	    jobstore_reindex(js) != 0) {
		if (js->db != NULL)
			snprintf(err, errlen, "job table: %s", sqlite3_errmsg(js->db));
		else
			snprintf(err, errlen, "job table: %s", what);
		jobstore_close(js);
		return -EIO;
	}
	*out = js;
	return 0;
}

void jobstore_close(struct jobstore *js)
{
	if (js == NULL)
		return;
	(void)jobstore_commit(js);
	sqlite3_finalize(js->insert);
	sqlite3_finalize(js->update);
	sqlite3_finalize(js->get);
	sqlite3_finalize(js->list);
	sqlite3_finalize(js->pending);
	sqlite3_finalize(js->where_set);
	sqlite3_finalize(js->ids);
	sqlite3_finalize(js->trim);
	sqlite3_finalize(js->oc_replace);
	sqlite3_finalize(js->oc_keep);
	sqlite3_finalize(js->oc_get);
	sqlite3_finalize(js->oc_prune);
	sqlite3_finalize(js->oc_count);
	free(js->oc_receipt);
	sqlite3_close(js->db);
	idmap_free(&js->rows);
	free(js);
}

/*
 * Writes share a transaction until jobstore_commit(): a job's state changes
 * come several per job and many per loop iteration under load, and each
 * autocommit costs a WAL append and its locks.  jobs.c commits at the end of
 * every loop iteration that wrote (a group commit), and whoever answers "accepted"
 * at once commits first (a job is accepted only once its row is in the WAL).  The same connection reads its
 * own uncommitted writes, so the API never sees an older state.
 */
static int jobstore_begin(struct jobstore *js)
{
	if (js->in_tx)
		return 0;
	if (sqlite3_exec(js->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		log_error("store", "event=write_error what=begin error=\"%s\"", sqlite3_errmsg(js->db));
		return -EIO;
	}
	js->in_tx = 1;
	return 0;
}

/* What the last failed write said (for a refusal's message). */
const char *jobstore_error(const struct jobstore *js)
{
	return js->error[0] != '\0' ? js->error : "a write failed";
}

/* Notes what the write that just failed said, before a rollback resets it. */
static int jobstore_failed(struct jobstore *js)
{
	int full = (sqlite3_extended_errcode(js->db) & 0xff) == SQLITE_FULL;

	snprintf(js->error, sizeof js->error, "%s", full ? "the disk is full" : sqlite3_errmsg(js->db));
	return full ? -ENOSPC : -EIO;
}

/*
 * SQLite may end a transaction on its own after an I/O error (a full disk
 * among them): the index follows, and what it held is said loudly.
 */
static void jobstore_tx_check(struct jobstore *js)
{
	if (!js->in_tx || !sqlite3_get_autocommit(js->db))
		return;
	js->in_tx = 0;
	(void)jobstore_reindex(js);
	if (js->tx_writes == 0)
		return; /* only a submit's own row: the caller refuses it */
	js->tx_writes = 0;
	log_error("store", "event=write_lost what=jobs.db error=\"%s\" lost=\"the job states"
	          " since the last commit (jobs still live are written again as they change)\"",
	          sqlite3_errmsg(js->db));
}

/*
 * A commit that fails (a full disk) keeps the transaction open when SQLite
 * lets it: every state written stays in memory and is committed by the next
 * jobstore_commit, once there is room.  Nothing is rolled back here.
 */
int jobstore_commit(struct jobstore *js)
{
	int r;

	uint64_t t0 = metrics_clock_ns();
	int rc;

	if (!js->in_tx)
		return 0;
	rc = sqlite3_exec(js->db, "COMMIT", NULL, NULL, NULL);
	metrics_observe_since(METRICS_COMMIT_JOBS, t0);
	if (rc == SQLITE_OK) {
		js->in_tx = 0;
		js->tx_writes = 0;
		if (js->commit_failed)
			log_info("store", "event=write_ok what=jobs.db after=%u failed commits",
			         js->commit_failed);
		js->commit_failed = 0;
		return 0;
	}
	r = jobstore_failed(js);
	if (js->commit_failed++ == 0 || js->commit_failed % 100 == 0)
		log_error("store", "event=write_error what=commit failed=%u error=\"%s\" kept=%s",
		          js->commit_failed, sqlite3_errmsg(js->db),
		          sqlite3_get_autocommit(js->db) ? "no" : "in memory, retried");
	jobstore_tx_check(js);
	return r;
}

/*
 * A new job, committed before the caller goes on (it is broadcast only
 * then).  Under a savepoint, so that when its commit fails the job alone is
 * taken back and the other states of the open transaction stay for the
 * next commit.  0, -ENOSPC (full disk), -EIO, -EEXIST or -EINVAL.
 */
int jobstore_insert_durable(struct jobstore *js, const char *id, const struct job_spec *spec)
{
	int r;

	if (jobstore_begin(js) != 0)
		return jobstore_failed(js);
	if (sqlite3_exec(js->db, "SAVEPOINT submit", NULL, NULL, NULL) != SQLITE_OK) {
		r = jobstore_failed(js);
		jobstore_tx_check(js);
		return r;
	}
	if ((r = jobstore_insert(js, id, spec)) == -EIO)
		r = jobstore_failed(js);
	else if (r == 0 && (r = jobstore_commit(js)) == 0)
		return 0; /* (a failed commit noted its error) */
	if (js->in_tx && !sqlite3_get_autocommit(js->db) &&
	    sqlite3_exec(js->db, "ROLLBACK TO submit; RELEASE submit", NULL, NULL, NULL) != SQLITE_OK) {
		log_error("store", "event=write_error what=rollback-submit error=\"%s\"",
		          sqlite3_errmsg(js->db));
		(void)sqlite3_exec(js->db, "ROLLBACK", NULL, NULL, NULL);
		js->in_tx = 1; /* said by the check below */
	}
	jobstore_tx_check(js);
	(void)jobstore_reindex(js); /* the job's row is gone */
	return r;
}

/*
 * A job the core refused right after its row was committed (its queue is
 * full): the row goes, committed, since the submitter is told "refused"
 * and gets no id -- a refused job is neither run nor listed.  0 or -EIO.
 */
int jobstore_forget(struct jobstore *js, const char *id)
{
	uint8_t key[IDMAP_KEY_BYTES];
	int64_t row = jobstore_row(js, id);
	sqlite3_stmt *st = NULL;
	int r;

	if (row == 0 || idmap_key(key, id) != 0)
		return 0;
	if (jobstore_begin(js) != 0 ||
	    sqlite3_prepare_v2(js->db, "DELETE FROM jobs WHERE seq = ?1", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, row);
	r = sqlstore_run(js->db, st, "forget");
	sqlite3_finalize(st);
	if (r == 0) {
		(void)idmap_del(&js->rows, key);
		r = jobstore_commit(js);
	}
	return r;
}

static int jobstore_run(struct jobstore *js, sqlite3_stmt *st, const char *what)
{
	if (jobstore_begin(js) != 0)
		return -EIO;
	return sqlstore_run(js->db, st, what);
}

static void jobstore_trim(struct jobstore *js)
{
	sqlite3_stmt *st = js->trim;
	uint8_t key[IDMAP_KEY_BYTES];
	int rc;

	if (++js->inserts % JOBSTORE_TRIM_EVERY != 0)
		return;
	sqlite3_bind_int(st, 1, JOBSTORE_KEEP);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (idmap_key(key, COL_TEXT(st, 0)) == 0)
			(void)idmap_del(&js->rows, key);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_warn("store", "event=trim_error error=\"%s\"", sqlite3_errmsg(js->db));
		(void)jobstore_reindex(js);
	}
}

/* "KEY=VALUE,KEY=VALUE" into the job's row (same transaction as its insert). */
static int jobstore_where_put(struct jobstore *js, int64_t row, const struct job_spec *spec)
{
	char text[CHORUS_NODE_TAGS_MAX * (CHORUS_TAG_TEXT_MAX + 1) + 1];
	size_t len = 0;

	for (unsigned i = 0; i < spec->nwhere && i < CHORUS_NODE_TAGS_MAX; i++)
		len += (size_t)snprintf(text + len, sizeof text - len, "%s%s=%s", i ? "," : "",
		                        spec->where[i].key, spec->where[i].value);
	sqlite3_bind_int64(js->where_set, 1, row);
	sqlite3_bind_text(js->where_set, 2, text, -1, SQLITE_TRANSIENT);
	return jobstore_run(js, js->where_set, "where") != 0 ? -EIO : 0;
}

/* "KEY=VALUE,..." back into pairs: how many (a pair that does not parse is skipped). */
static unsigned jobstore_where_parse(const char *text, struct chorus_tag *where)
{
	unsigned n = 0;

	while (text != NULL && *text != '\0' && n < CHORUS_NODE_TAGS_MAX) {
		size_t len = strcspn(text, ",");

		if (core_tag_parse(&where[n], text, len) == 0)
			n++;
		text += len + (text[len] == ',');
	}
	return n;
}

/* 0, or -EIO (and -EINVAL for an id that is not a job id, -EEXIST for one already there). */
int jobstore_insert(struct jobstore *js, const char *id, const struct job_spec *spec)
{
	sqlite3_stmt *st = js->insert;
	uint8_t key[IDMAP_KEY_BYTES];

	if (idmap_key(key, id) != 0)
		return -EINVAL;
	if (idmap_get(&js->rows, key) != 0)
		return -EEXIST;
	if (idmap_reserve(&js->rows) != 0)
		return -ENOMEM;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)spec->nonce);
	sqlite3_bind_text(st, 3, spec->kind, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, spec->payload_len ? (const void *)spec->payload : "",
	                  (int)spec->payload_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, spec->timeout_ms);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)spec->reward);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)spec->created_ms);
	sqlite3_bind_int(st, 8, spec->priority);
	sqlite3_bind_int64(st, 9, spec->queue_timeout_ms);
	if (jobstore_run(js, st, "insert") != 0)
		return -EIO;
	if (spec->nwhere > 0 && jobstore_where_put(js, sqlite3_last_insert_rowid(js->db), spec) != 0)
		return -EIO; /* before the index learns the row: the caller rolls the insert back */
	idmap_put(&js->rows, key, sqlite3_last_insert_rowid(js->db));
	jobstore_trim(js);
	return 0;
}

static char *jobstore_attempts_json(const struct job_view *v)
{
	cJSON *arr = cJSON_CreateArray();
	char *text;

	for (unsigned k = 0; arr != NULL && k < v->nattempts; k++) {
		const struct job_attempt *a = &v->attempts[k];
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(arr, o))
			break;
		cJSON_AddStringToObject(o, "worker", a->worker);
		cJSON_AddStringToObject(o, "worker_name", a->worker_name);
		cJSON_AddStringToObject(o, "outcome", job_outcome_name(a->outcome));
		cJSON_AddNumberToObject(o, "load", a->load);
		cJSON_AddNumberToObject(o, "capacity", a->capacity);
		cJSON_AddNumberToObject(o, "ms", (double)a->ms);
	}
	text = arr != NULL ? cJSON_PrintUnformatted(arr) : NULL;
	cJSON_Delete(arr);
	return text;
}

int jobstore_update(struct jobstore *js, const struct job_view *v, uint64_t finished_ms)
{
	sqlite3_stmt *st = js->update;
	const struct job_attempt *last = v->nattempts ? &v->attempts[v->nattempts - 1] : NULL;
	int64_t row = jobstore_row(js, v->id);
	char *attempts;
	int rc;

	if (row == 0)
		return 0; /* not in the table (trimmed): nothing to keep */
	/*
	 * Called from inside the core, where cJSON may allocate from the core's
	 * frame arena: the text is freed before we return, as the hooks require.
	 */
	attempts = jobstore_attempts_json(v);
	sqlite3_bind_int64(st, 1, row);
	sqlite3_bind_text(st, 2, job_state_name(v->state), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, JOB_STATE_FINAL(v->state));
	sqlite3_bind_text(st, 4, v->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, attempts ? attempts : "[]", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, last ? last->worker : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, last ? last->worker_name : "", -1, SQLITE_STATIC);
	if (v->result != NULL)
		sqlite3_bind_blob(st, 8, v->result_len ? (const void *)v->result : "",
		                  (int)v->result_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, v->result_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, v->error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, JOB_STATE_FINAL(v->state) ? (sqlite3_int64)finished_ms : 0);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)v->queued_ms);
	rc = jobstore_run(js, st, "update");
	if (attempts != NULL)
		cJSON_free(attempts);
	js->tx_writes += rc == 0;
	return rc;
}

/* ---------------------------------------------------------------- reading, as API JSON */

static void jobstore_add_blob_b64(cJSON *o, const char *key, const void *blob, int len)
{
	size_t cap = sodium_base64_ENCODED_LEN((size_t)len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(cap);

	if (b64 == NULL)
		return;
	sodium_bin2base64(b64, cap, blob, (size_t)len, sodium_base64_VARIANT_ORIGINAL);
	cJSON_AddStringToObject(o, key, b64);
	free(b64);
}

static cJSON *jobstore_row_json(sqlite3_stmt *st)
{
	cJSON *o = cJSON_CreateObject(), *attempts;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "id", COL_TEXT(st, 0));
	cJSON_AddStringToObject(o, "kind", COL_TEXT(st, 1));
	cJSON_AddStringToObject(o, "state", COL_TEXT(st, 2));
	cJSON_AddBoolToObject(o, "final", sqlite3_column_int(st, 3));
	cJSON_AddStringToObject(o, "reason", COL_TEXT(st, 4));
	cJSON_AddNumberToObject(o, "reward", (double)sqlite3_column_int64(st, 5));
	cJSON_AddNumberToObject(o, "timeout_ms", (double)sqlite3_column_int64(st, 6));
	cJSON_AddNumberToObject(o, "created_ms", (double)sqlite3_column_int64(st, 7));
	cJSON_AddNumberToObject(o, "finished_ms", (double)sqlite3_column_int64(st, 8));
	cJSON_AddNumberToObject(o, "payload_size", (double)sqlite3_column_int64(st, 9));
	cJSON_AddStringToObject(o, "worker", COL_TEXT(st, 10));
	cJSON_AddStringToObject(o, "worker_name", COL_TEXT(st, 11));
	attempts = cJSON_Parse(COL_TEXT(st, 12));
	cJSON_AddItemToObject(o, "attempts", attempts ? attempts : cJSON_CreateArray());
	if (sqlite3_column_type(st, 13) != SQLITE_NULL) {
		int len = sqlite3_column_bytes(st, 13);

		jobstore_add_blob_b64(o, "result_b64", sqlite3_column_blob(st, 13), len);
		cJSON_AddNumberToObject(o, "result_size", len);
	}
	cJSON_AddStringToObject(o, "result_hash", COL_TEXT(st, 14));
	cJSON_AddStringToObject(o, "error", COL_TEXT(st, 15));
	cJSON_AddNumberToObject(o, "priority", sqlite3_column_int(st, 16));
	/* 0: the node's default, unknown here (chorusd(8), --queue-timeout). */
	cJSON_AddNumberToObject(o, "queue_timeout_s", (double)sqlite3_column_int64(st, 17) / 1000.0);
	cJSON_AddNumberToObject(o, "queued_s", (double)sqlite3_column_int64(st, 18) / 1000.0);
	{
		struct chorus_tag where[CHORUS_NODE_TAGS_MAX];
		unsigned n = jobstore_where_parse(COL_TEXT(st, 19), where);
		cJSON *w = n > 0 ? cJSON_AddObjectToObject(o, "where") : NULL;

		for (unsigned i = 0; w != NULL && i < n; i++)
			cJSON_AddStringToObject(w, where[i].key, where[i].value);
	}
	return o;
}

/* 0 and *out, -ENOENT, -EBADMSG (its stored result was changed on disk), or -EIO. */
int jobstore_get_json(struct jobstore *js, const char *id, cJSON **out)
{
	sqlite3_stmt *st = js->get;
	int64_t row = jobstore_row(js, id);
	int rc;

	*out = NULL;
	if (row == 0)
		return -ENOENT;
	sqlite3_bind_int64(st, 1, row);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 13) != SQLITE_NULL &&
	    !jobstore_digest_ok(sqlite3_column_blob(st, 13), sqlite3_column_bytes(st, 13),
	                        COL_TEXT(st, 14))) {
		/* Changed on disk since it was stored: said, never served. */
		log_error("store", "event=damaged file=jobs.db job=%s what=\"the stored result does not"
		          " match its digest\"", id);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return -EBADMSG;
	}
	if (rc == SQLITE_ROW)
		*out = jobstore_row_json(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return *out != NULL ? 0 : -ENOMEM;
	return rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int jobstore_list_json(struct jobstore *js, unsigned limit, cJSON **out)
{
	sqlite3_stmt *st = js->list;
	cJSON *arr = cJSON_CreateArray();
	int rc;

	*out = arr;
	if (arr == NULL)
		return -ENOMEM;
	sqlite3_bind_int(st, 1, (int)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *o = jobstore_row_json(st);

		if (o == NULL || !cJSON_AddItemToArray(arr, o))
			break;
		cJSON_DeleteItemFromObject(o, "result_b64"); /* lists stay small */
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

static enum job_outcome jobstore_outcome_of(const char *name)
{
	for (int o = OUTCOME_RUNNING; o <= OUTCOME_CANCELLED; o++)
		if (strcmp(job_outcome_name((enum job_outcome)o), name) == 0)
			return (enum job_outcome)o;
	return OUTCOME_FAILED; /* unknown: never asked about (see dispatch_restore_attempts) */
}

/*
 * The attempts a job had, as written by jobstore_attempts_json: a resumed
 * job asks the worker of its last one first.  What does not parse is left
 * out (the core then has nobody to ask about it).
 */
static unsigned jobstore_attempts_parse(const char *text,
                                        struct job_attempt out[CHORUS_JOB_ATTEMPTS_MAX])
{
	cJSON *arr = text != NULL ? cJSON_Parse(text) : NULL, *o;
	unsigned n = 0;

	cJSON_ArrayForEach(o, arr) {
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "worker");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "worker_name");
		const cJSON *oc = cJSON_GetObjectItemCaseSensitive(o, "outcome");

		if (n == CHORUS_JOB_ATTEMPTS_MAX)
			break;
		if (!cJSON_IsString(w) || strlen(w->valuestring) != CHORUS_ID_HEX || !cJSON_IsString(oc))
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		snprintf(out[n].worker, sizeof(out[n].worker), "%s", w->valuestring);
		if (cJSON_IsString(name))
			snprintf(out[n].worker_name, sizeof(out[n].worker_name), "%s", name->valuestring);
		out[n].outcome = jobstore_outcome_of(oc->valuestring);
		out[n].load = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "load"));
		out[n].capacity =
		    (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "capacity"));
		n++;
	}
	cJSON_Delete(arr);
	return n;
}

/* Calls fn for every job not final, oldest first; returns how many, or -EIO. */
int jobstore_each_pending(struct jobstore *js, jobstore_pending_fn *fn, void *ctx)
{
	struct job_attempt attempts[CHORUS_JOB_ATTEMPTS_MAX];
	sqlite3_stmt *st = js->pending;
	int rc, n = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct job_spec spec;

		memset(&spec, 0, sizeof spec);
		spec.nonce = (uint64_t)sqlite3_column_int64(st, 0);
		snprintf(spec.kind, sizeof spec.kind, "%s", COL_TEXT(st, 1));
		spec.payload = sqlite3_column_blob(st, 2);
		spec.payload_len = (size_t)sqlite3_column_bytes(st, 2);
		spec.timeout_ms = (uint32_t)sqlite3_column_int64(st, 3);
		spec.reward = (uint64_t)sqlite3_column_int64(st, 4);
		spec.created_ms = (uint64_t)sqlite3_column_int64(st, 5);
		spec.nattempts = jobstore_attempts_parse(COL_TEXT(st, 6), attempts);
		spec.attempts = attempts;
		spec.priority = (uint8_t)sqlite3_column_int(st, 7);
		spec.queue_timeout_ms = (uint32_t)sqlite3_column_int64(st, 8);
		spec.nwhere = jobstore_where_parse(COL_TEXT(st, 9), spec.where);
		fn(ctx, &spec);
		n++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? n : -EIO;
}

/* ---------------------------------------------------------------- the worker's outcome table */

/*
 * What a worker knows about jobs, beyond its process: done (the receipt
 * frame body, sent again to whoever asks), final elsewhere (from an ack),
 * disowned (we told the restarted client we never had that attempt).  A
 * table of its own beside the client's jobs, made when missing: a jobs.db
 * from before simply gains it.  seq orders rows by age for the bound; the
 * id is UNIQUE, as the worker looks rows up by it (on a dispatch for a job
 * this process has not seen), and it writes one row per job it runs or
 * sees end, not per state change.
 */
static const char jobstore_outcome_schema[] =
    "CREATE TABLE IF NOT EXISTS work_outcomes ("
    " seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, state INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL DEFAULT 0, client BLOB, receipt BLOB,"
    " at_ms INTEGER NOT NULL);";

#define JOBSTORE_OUTCOME_PRUNE_EVERY 1000

static int jobstore_outcome_prepare(struct jobstore *js)
{
	if (sqlite3_exec(js->db, jobstore_outcome_schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db,
	                       "INSERT OR REPLACE INTO work_outcomes (id, state, attempt, client,"
	                       " receipt, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	                       -1, &js->oc_replace, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db,
	                       "INSERT OR IGNORE INTO work_outcomes (id, state, attempt, client,"
	                       " receipt, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	                       -1, &js->oc_keep, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db,
	                       "SELECT state, attempt, client, receipt FROM work_outcomes WHERE id = ?1",
	                       -1, &js->oc_get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db,
	                       "DELETE FROM work_outcomes WHERE at_ms < ?1 OR"
	                       " seq <= (SELECT max(seq) FROM work_outcomes) - ?2",
	                       -1, &js->oc_prune, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(js->db, "SELECT count(*) FROM work_outcomes", -1, &js->oc_count,
	                       NULL) != SQLITE_OK)
		return -EIO;
	return 0;
}

int jobstore_outcome_prune(struct jobstore *js, uint64_t now_ms, uint64_t keep_ms,
                           uint64_t max_rows)
{
	sqlite3_stmt *st = js->oc_prune;

	sqlite3_bind_int64(st, 1, now_ms > keep_ms ? (sqlite3_int64)(now_ms - keep_ms) : 0);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max_rows);
	return jobstore_run(js, st, "outcome_prune");
}

int jobstore_outcome_put(struct jobstore *js, const struct work_outcome *o, uint64_t now_ms)
{
	static const uint8_t zero[CHORUS_PK_BYTES];
	sqlite3_stmt *st = o->state == WORK_OUTCOME_FINAL ? js->oc_keep : js->oc_replace;

	if (strlen(o->job_id) != CHORUS_JOB_ID_HEX)
		return -EINVAL;
	sqlite3_bind_text(st, 1, o->job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)o->state);
	sqlite3_bind_int64(st, 3, o->attempt);
	if (memcmp(o->client, zero, CHORUS_PK_BYTES) != 0)
		sqlite3_bind_blob(st, 4, o->client, CHORUS_PK_BYTES, SQLITE_STATIC);
	if (o->receipt != NULL && o->receipt_len > 0)
		sqlite3_bind_blob(st, 5, o->receipt, (int)o->receipt_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)now_ms);
	if (jobstore_run(js, st, "outcome_put") != 0)
		return -EIO;
	if (++js->oc_puts % JOBSTORE_OUTCOME_PRUNE_EVERY == 0)
		(void)jobstore_outcome_prune(js, now_ms, CHORUS_WORK_OUTCOME_KEEP_MS,
		                             CHORUS_WORK_OUTCOMES_MAX);
	return 0;
}

int jobstore_outcome_get(struct jobstore *js, const char *id, struct work_outcome *o)
{
	sqlite3_stmt *st = js->oc_get;
	int rc, found = 0;

	memset(o, 0, sizeof(*o));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int len = sqlite3_column_bytes(st, 3);
		void *copy = len > 0 ? malloc((size_t)len) : NULL;

		snprintf(o->job_id, sizeof(o->job_id), "%s", id);
		o->state = (enum work_outcome_state)sqlite3_column_int(st, 0);
		o->attempt = (unsigned)sqlite3_column_int64(st, 1);
		if (sqlite3_column_bytes(st, 2) == CHORUS_PK_BYTES)
			memcpy(o->client, sqlite3_column_blob(st, 2), CHORUS_PK_BYTES);
		if (copy != NULL) {
			memcpy(copy, sqlite3_column_blob(st, 3), (size_t)len);
			free(js->oc_receipt);
			js->oc_receipt = copy;
			o->receipt = copy;
			o->receipt_len = (size_t)len;
		}
		found = len == 0 || copy != NULL;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	return found;
}

int64_t jobstore_outcome_count(struct jobstore *js)
{
	sqlite3_stmt *st = js->oc_count;
	int64_t n = -EIO;

	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

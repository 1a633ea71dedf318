/*
 * jobstore: the job table round-trips through its in-memory id index
 * (insert, update, read by id, the pending list), across a reopen that
 * rebuilds the index; a second insert of an id and ids that are not job
 * ids are refused; a table from before (id UNIQUE, AUTOINCREMENT) is
 * migrated with its rows and their seq, and new rows come after them.
 * Damage (docs/dispatch.md, Durability): a stored result edited on disk is
 * refused when read and stops the next open; a jobs.db emptied, truncated
 * to nothing or replaced stops the open (jobs.db.id names the store); a
 * truncated file is damaged, said, not a crash; a full disk refuses an
 * insert_durable and leaves no row, and the other states of the open
 * transaction stay to be committed once there is room.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>
#include <sqlite3.h>
#include <unistd.h>

#include "node.h"
#include "tap.h"

static char dir[] = "/tmp/chorus-jobstore.XXXXXX";

static struct jobstore *open_store(void)
{
	struct jobstore *js;
	char err[256];

	if (jobstore_open(&js, dir, err, sizeof err) != 0) {
		printf("# %s\n", err);
		exit(1);
	}
	return js;
}

static const char *id_of(unsigned i)
{
	static char buf[2][CHORUS_JOB_ID_HEX + 1];
	static unsigned next;
	char *out = buf[next++ % 2];

	snprintf(out, CHORUS_JOB_ID_HEX + 1, "%08x%08x%016x", i * 2654435761u, i, 7u);
	return out;
}

/* The state field of job id's record; "" when it cannot be read. */
static const char *state_of(struct jobstore *js, const char *id)
{
	static char state[32];
	cJSON *doc = NULL;

	state[0] = '\0';
	if (jobstore_get_json(js, id, &doc) == 0) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "state");

		if (cJSON_IsString(s))
			snprintf(state, sizeof state, "%s", s->valuestring);
	}
	cJSON_Delete(doc);
	return state;
}

static int npending;
static void count_pending(void *ctx, const struct job_spec *spec)
{
	(void)ctx;
	(void)spec;
	npending++;
}

static void test_round_trip(void)
{
	struct jobstore *js = open_store();
	struct job_spec spec = { .kind = "echo", .payload = (const uint8_t *)"hi", .payload_len = 2 };
	struct job_view v;
	int put = 0, done = 0, read = 0;

	for (unsigned i = 1; i <= 3000; i++) {
		spec.nonce = i;
		put += jobstore_insert(js, id_of(i), &spec) == 0;
	}
	for (unsigned i = 1; i <= 3000; i += 2) {
		memset(&v, 0, sizeof v);
		snprintf(v.id, sizeof v.id, "%s", id_of(i));
		v.state = JOB_SUCCEEDED;
		done += jobstore_update(js, &v, 99) == 0;
	}
	ok(put == 3000 && done == 1500 && jobstore_commit(js) == 0,
	   "3000 jobs inserted, every other one updated as succeeded (%d, %d)", put, done);
	jobstore_close(js);
	js = open_store();
	for (unsigned i = 1; i <= 3000; i++)
		read += strcmp(state_of(js, id_of(i)), i % 2 ? "succeeded" : "pending") == 0;
	ok(read == 3000, "after a reopen every job reads back by id, in its state (%d)", read);
	npending = 0;
	ok(jobstore_each_pending(js, count_pending, NULL) == 1500 && npending == 1500,
	   "and the 1500 not final are pending");
	spec.nonce = 1;
	ok(jobstore_insert(js, id_of(1), &spec) == -EEXIST, "an id already there is refused");
	ok(jobstore_insert(js, "not-a-job-id", &spec) == -EINVAL &&
	       strcmp(state_of(js, "not-a-job-id"), "") == 0 && strcmp(state_of(js, id_of(5000)), "") == 0,
	   "so is an id that is not one; unknown ids are not found");
	jobstore_close(js);
}

static int sql_beside(const char *sql)
{
	char path[256];
	sqlite3 *db = NULL;
	int rc;

	snprintf(path, sizeof path, "%s/jobs.db", dir);
	rc = sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return rc ? 0 : -1;
}

/* The integer a query on jobs.db answers, or -1. */
static long long sql_int(const char *query)
{
	char path[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long n = -1;

	snprintf(path, sizeof path, "%s/jobs.db", dir);
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, query, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void test_upgrade(void)
{
	struct job_spec spec = { .kind = "echo", .payload = (const uint8_t *)"x", .payload_len = 1 };
	struct jobstore *js;
	char sql[2048];
	cJSON *doc = NULL;

	snprintf(sql, sizeof sql,
	         "DROP TABLE IF EXISTS jobs;"
	         "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,"
	         " nonce INTEGER NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL,"
	         " timeout_ms INTEGER NOT NULL, reward INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
	         " state TEXT NOT NULL, final INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"
	         " attempts TEXT NOT NULL DEFAULT '[]', worker TEXT NOT NULL DEFAULT '',"
	         " worker_name TEXT NOT NULL DEFAULT '', result BLOB, result_hash TEXT NOT NULL DEFAULT '',"
	         " error TEXT NOT NULL DEFAULT '', finished_ms INTEGER NOT NULL DEFAULT 0);"
	         "INSERT INTO jobs (seq, id, nonce, kind, payload, timeout_ms, reward, created_ms, state, final)"
	         " VALUES (41, '%s', 1, 'echo', x'00', 1000, 0, 5, 'succeeded', 1);"
	         "INSERT INTO jobs (seq, id, nonce, kind, payload, timeout_ms, reward, created_ms, state)"
	         " VALUES (42, '%s', 2, 'echo', x'00', 1000, 0, 6, 'running');",
	         id_of(100001), id_of(100002));
	ok(sql_beside(sql) == 0, "a job table of the old layout (id UNIQUE, AUTOINCREMENT), 2 jobs");
	js = open_store();
	ok(strcmp(state_of(js, id_of(100001)), "succeeded") == 0 &&
	       strcmp(state_of(js, id_of(100002)), "running") == 0,
	   "opened: both read back by id");
	npending = 0;
	ok(jobstore_each_pending(js, count_pending, NULL) == 1, "the running one is pending");
	spec.nonce = 3;
	ok(jobstore_insert(js, id_of(100003), &spec) == 0 && jobstore_commit(js) == 0 &&
	       jobstore_get_json(js, id_of(100003), &doc) == 0,
	   "a new job goes in");
	cJSON_Delete(doc);
	jobstore_close(js);
	ok(sql_beside("SELECT 1 FROM jobs_v1") != 0 &&
	       sql_int("SELECT count(*) FROM pragma_index_list('jobs') WHERE origin = 'u'") == 0 &&
	       sql_int("SELECT max(seq) FROM jobs") == 43 && sql_int("SELECT count(*) FROM jobs") == 3,
	   "the table has the new layout (no UNIQUE index), seq kept: the new job is 43");
}

/* A work_outcome of job id_of(i). */
static struct work_outcome outcome(unsigned i, enum work_outcome_state st, unsigned attempt,
                                   const char *receipt)
{
	struct work_outcome o;

	memset(&o, 0, sizeof o);
	snprintf(o.job_id, sizeof o.job_id, "%s", id_of(i));
	o.state = st;
	o.attempt = attempt;
	memset(o.client, (int)i, sizeof o.client);
	o.receipt = receipt;
	o.receipt_len = receipt ? strlen(receipt) : 0;
	return o;
}

/*
 * The worker's outcome table: rows survive a reopen (the receipt byte for
 * byte), a FINAL never replaces another row while other states do, and the
 * prune drops rows by age and beyond the row bound, oldest first.
 */
static void test_outcomes(void)
{
	struct jobstore *js = open_store();
	struct work_outcome o, got;
	char receipt[64];
	int put = 0, back = 0, rc;
	int64_t n;

	for (unsigned i = 1; i <= 300; i++) {
		snprintf(receipt, sizeof receipt, "{\"receipt\":%u}", i);
		o = outcome(i, WORK_OUTCOME_DONE, 0, receipt);
		put += jobstore_outcome_put(js, &o, 1000 + i) == 0;
	}
	o = outcome(301, WORK_OUTCOME_DISOWNED, 4, NULL);
	put += jobstore_outcome_put(js, &o, 2000) == 0;
	o = outcome(302, WORK_OUTCOME_FINAL, 0, NULL);
	put += jobstore_outcome_put(js, &o, 2001) == 0;
	ok(put == 302 && jobstore_commit(js) == 0, "302 outcomes stored");
	jobstore_close(js);
	js = open_store();
	for (unsigned i = 1; i <= 300; i++) {
		snprintf(receipt, sizeof receipt, "{\"receipt\":%u}", i);
		back += jobstore_outcome_get(js, id_of(i), &got) == 1 && got.state == WORK_OUTCOME_DONE &&
		        got.receipt_len == strlen(receipt) &&
		        memcmp(got.receipt, receipt, got.receipt_len) == 0 &&
		        got.client[0] == (uint8_t)i;
	}
	ok(back == 300, "after a reopen every done job reads back with its receipt (%d)", back);
	ok(jobstore_outcome_get(js, id_of(301), &got) == 1 && got.state == WORK_OUTCOME_DISOWNED &&
	       got.attempt == 4 && got.receipt == NULL,
	   "a disowned job reads back with its attempt");
	ok(jobstore_outcome_get(js, id_of(999), &got) == 0, "a job never seen has no row");
	o = outcome(1, WORK_OUTCOME_FINAL, 0, NULL);
	ok(jobstore_outcome_put(js, &o, 3000) == 0 && jobstore_outcome_get(js, id_of(1), &got) == 1 &&
	       got.state == WORK_OUTCOME_DONE,
	   "a FINAL does not replace a done job's row");
	o = outcome(302, WORK_OUTCOME_DISOWNED, 2, NULL);
	ok(jobstore_outcome_put(js, &o, 3000) == 0 && jobstore_outcome_get(js, id_of(302), &got) == 1 &&
	       got.state == WORK_OUTCOME_DISOWNED && got.attempt == 2,
	   "other states replace a row");
	o = outcome(303, WORK_OUTCOME_DONE, 0, "x");
	o.job_id[5] = '\0';
	ok(jobstore_outcome_put(js, &o, 3000) == -EINVAL, "an id that is not a job id is refused");
	/* Rows 1..100 were put before 1101; the rest after. */
	rc = jobstore_outcome_prune(js, 1101 + 500, 500, 1000);
	n = jobstore_outcome_count(js);
	ok(rc == 0 && n == 202 && jobstore_outcome_get(js, id_of(100), &got) == 0 &&
	       jobstore_outcome_get(js, id_of(101), &got) == 1,
	   "the prune drops rows older than the keep time, and only those (%lld left)", (long long)n);
	/* Newest first by seq: 302 was replaced last, then 301, 300, ... */
	rc = jobstore_outcome_prune(js, 1101 + 500, 500, 150);
	n = jobstore_outcome_count(js);
	ok(rc == 0 && n <= 150 && n >= 145 && jobstore_outcome_get(js, id_of(140), &got) == 0 &&
	       jobstore_outcome_get(js, id_of(302), &got) == 1 &&
	       jobstore_outcome_get(js, id_of(200), &got) == 1,
	   "and beyond the row bound the oldest rows (%lld left)", (long long)n);
	ok(jobstore_commit(js) == 0, "committed");
	jobstore_close(js);
	js = open_store();
	ok(jobstore_outcome_count(js) == n && jobstore_outcome_get(js, id_of(140), &got) == 0,
	   "the prune holds across a reopen");
	jobstore_close(js);
}

/* A pending job's attempts come back with it: the resumed job asks the last worker first. */
static unsigned pending_attempts, pending_last_outcome;
static char pending_last_worker[CHORUS_ID_HEX + 1];
static void attempts_of_pending(void *ctx, const struct job_spec *spec)
{
	if (strcmp(spec->kind, "attempted") != 0)
		return;
	(void)ctx;
	pending_attempts = spec->nattempts;
	if (spec->nattempts > 0) {
		pending_last_outcome = spec->attempts[spec->nattempts - 1].outcome;
		snprintf(pending_last_worker, sizeof pending_last_worker, "%s",
		         spec->attempts[spec->nattempts - 1].worker);
	}
}

static void test_pending_attempts(void)
{
	struct job_spec spec = { .kind = "attempted", .payload = (const uint8_t *)"x", .payload_len = 1 };
	struct jobstore *js = open_store();
	struct job_view v;

	spec.nonce = 77;
	memset(&v, 0, sizeof v);
	snprintf(v.id, sizeof v.id, "%s", id_of(200000));
	v.state = JOB_RUNNING;
	v.nattempts = 2;
	memset(v.attempts[0].worker, 'a', CHORUS_ID_HEX);
	v.attempts[0].outcome = OUTCOME_REFUSED;
	memset(v.attempts[1].worker, 'b', CHORUS_ID_HEX);
	v.attempts[1].outcome = OUTCOME_RUNNING;
	ok(jobstore_insert(js, v.id, &spec) == 0 && jobstore_update(js, &v, 0) == 0 &&
	       jobstore_commit(js) == 0,
	   "a job with two attempts is stored");
	jobstore_close(js);
	js = open_store();
	pending_attempts = 0;
	(void)jobstore_each_pending(js, attempts_of_pending, NULL);
	ok(pending_attempts == 2 && pending_last_outcome == OUTCOME_RUNNING &&
	       strspn(pending_last_worker, "b") == CHORUS_ID_HEX,
	   "reopened, it is pending with both attempts, the last one running on its worker");
	jobstore_close(js);
}

static unsigned queue_priority, queue_timeout_ms;
static void queue_of_pending(void *ctx, const struct job_spec *spec)
{
	(void)ctx;
	if (strcmp(spec->kind, "queued") == 0) {
		queue_priority = spec->priority;
		queue_timeout_ms = spec->queue_timeout_ms;
	}
}

/*
 * The queue's columns: a job's priority and queue timeout are stored with
 * it and come back with it as pending after a reopen (a queued job survives
 * a restart), queued_ms follows its updates, the record shows all three; a
 * job the core refused (jobstore_forget) leaves no row.
 */
static void test_queue_columns(void)
{
	struct job_spec spec = { .kind = "queued", .payload = (const uint8_t *)"x", .payload_len = 1 };
	struct jobstore *js = open_store();
	struct job_view v;
	cJSON *doc = NULL;

	spec.nonce = 78;
	spec.priority = 7;
	spec.queue_timeout_ms = 300000;
	memset(&v, 0, sizeof v);
	snprintf(v.id, sizeof v.id, "%s", id_of(300000));
	v.state = JOB_QUEUED;
	v.queued_ms = 2500;
	ok(jobstore_insert(js, v.id, &spec) == 0 && jobstore_update(js, &v, 0) == 0 &&
	       jobstore_commit(js) == 0 && jobstore_get_json(js, v.id, &doc) == 0,
	   "a queued job is stored");
	ok(strcmp(cJSON_GetObjectItemCaseSensitive(doc, "state")->valuestring, "queued") == 0 &&
	       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "priority")) == 7 &&
	       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "queue_timeout_s")) == 300 &&
	       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "queued_s")) == 2.5,
	   "its record: state queued, priority 7, queue_timeout_s 300, queued_s 2.5");
	cJSON_Delete(doc);
	spec.nonce = 79;
	ok(jobstore_insert(js, id_of(300001), &spec) == 0 && jobstore_commit(js) == 0 &&
	       jobstore_forget(js, id_of(300001)) == 0,
	   "a job refused right after its insert is forgotten");
	ok(jobstore_get_json(js, id_of(300001), &doc) == -ENOENT, "and is not found");
	jobstore_close(js);
	ok(sql_int("SELECT count(*) FROM jobs WHERE kind = 'queued'") == 1, "its row is gone from the file");
	js = open_store();
	queue_priority = queue_timeout_ms = 0;
	(void)jobstore_each_pending(js, queue_of_pending, NULL);
	ok(queue_priority == 7 && queue_timeout_ms == 300000,
	   "reopened, the queued job is pending with its priority and queue timeout");
	jobstore_close(js);
}

/* jobstore_open's answer on the files as they are now: its return, and err in msg. */
static int open_err(char *msg, size_t len)
{
	struct jobstore *js = NULL;
	int r = jobstore_open(&js, dir, msg, len);

	jobstore_close(js);
	return r;
}

static void test_result_digest(void)
{
	struct job_spec spec = { .kind = "echo", .payload = (const uint8_t *)"x", .payload_len = 1 };
	struct jobstore *js = open_store();
	static const uint8_t result[] = "forty-two";
	uint8_t h[32];
	struct job_view v;
	cJSON *doc = NULL;
	char sql[512], msg[512];
	int r;

	spec.nonce = 77;
	memset(&v, 0, sizeof v);
	snprintf(v.id, sizeof v.id, "%s", id_of(777));
	v.state = JOB_SUCCEEDED;
	v.result = result;
	v.result_len = sizeof result - 1;
	crypto_generichash(h, sizeof h, result, v.result_len, NULL, 0);
	sodium_bin2hex(v.result_hash, sizeof v.result_hash, h, sizeof h);
	ok(jobstore_insert_durable(js, id_of(777), &spec) == 0 && jobstore_update(js, &v, 5) == 0 &&
	       jobstore_commit(js) == 0 && jobstore_get_json(js, id_of(777), &doc) == 0,
	   "a succeeded job with its result and digest is stored and read");
	cJSON_Delete(doc);
	doc = NULL;
	jobstore_close(js);
	ok(open_err(msg, sizeof msg) == 0, "reopened: every stored result matches its digest");
	snprintf(sql, sizeof sql, "UPDATE jobs SET result = x'666f7274792d7468726565' WHERE id = '%s'",
	         id_of(777));
	ok(sql_beside(sql) == 0, "the stored result is edited on disk");
	r = open_err(msg, sizeof msg);
	ok(r == -EBADMSG && strstr(msg, "jobs.db is damaged") != NULL && strstr(msg, id_of(777)) != NULL &&
	       strstr(msg, "backup") != NULL,
	   "the next open stops: %s", msg);
	ok(open_err(msg, sizeof msg) == -EBADMSG, "and again: the damage is not forgotten");
	snprintf(sql, sizeof sql, "DELETE FROM jobs WHERE id = '%s'", id_of(777));
	ok(sql_beside(sql) == 0 && open_err(msg, sizeof msg) == 0, "without that row it opens");
}

/* The read path's own check: a row whose digest does not match is not served (-EBADMSG). */
static void test_result_read(void)
{
	struct job_spec spec = { .kind = "echo", .payload = (const uint8_t *)"x", .payload_len = 1 };
	struct jobstore *js = open_store();
	struct job_view v;
	cJSON *doc = NULL;

	spec.nonce = 78;
	memset(&v, 0, sizeof v);
	snprintf(v.id, sizeof v.id, "%s", id_of(778));
	v.state = JOB_SUCCEEDED;
	v.result = (const uint8_t *)"abc";
	v.result_len = 3;
	snprintf(v.result_hash, sizeof v.result_hash, "%064d", 0); /* not abc's digest */
	ok(jobstore_insert_durable(js, id_of(778), &spec) == 0 && jobstore_update(js, &v, 5) == 0 &&
	       jobstore_get_json(js, id_of(778), &doc) == -EBADMSG && doc == NULL,
	   "a result that does not match its digest is not served (-EBADMSG)");
	jobstore_close(js);
	{
		char sql[256], msg[512];

		snprintf(sql, sizeof sql, "DELETE FROM jobs WHERE id = '%s'", id_of(778));
		ok(sql_beside(sql) == 0 && open_err(msg, sizeof msg) == 0, "(removed again)");
	}
}

static void test_lost(void)
{
	char path[256], moved[256], msg[512];
	int fd;

	snprintf(path, sizeof path, "%s/jobs.db", dir);
	ok(open_err(msg, sizeof msg) == 0, "jobs.db opens as the store jobs.db.id names");
	fd = open(path, O_WRONLY | O_TRUNC);
	ok(fd >= 0 && close(fd) == 0, "jobs.db truncated to 0 bytes");
	ok(open_err(msg, sizeof msg) == -EBADMSG && strstr(msg, "empty or was replaced") != NULL &&
	       strstr(msg, "jobs.db.id") != NULL,
	   "its open stops, and says what to do: %s", msg);
	ok(open_err(msg, sizeof msg) == -EBADMSG, "and again: nothing was adopted meanwhile");
	ok(unlink(path) == 0 && open_err(msg, sizeof msg) == -EBADMSG,
	   "a missing jobs.db stops it too");
	snprintf(moved, sizeof moved, "%s/jobs.db.id", dir);
	ok(unlink(path) == 0 && unlink(moved) == 0 && open_err(msg, sizeof msg) == 0 &&
	       access(moved, F_OK) == 0,
	   "with jobs.db.id moved aside too, it starts empty (and names the new store)");
}

static void test_truncated(void)
{
	struct job_spec spec = { .kind = "echo", .payload = (const uint8_t *)"x", .payload_len = 1 };
	struct jobstore *js = open_store();
	char path[256], msg[512];
	int put = 0;

	for (unsigned i = 1; i <= 2000; i++) {
		spec.nonce = i;
		put += jobstore_insert(js, id_of(200000 + i), &spec) == 0;
	}
	ok(put == 2000 && jobstore_commit(js) == 0, "2000 jobs");
	jobstore_close(js);
	snprintf(path, sizeof path, "%s/jobs.db", dir);
	ok(truncate(path, 16384) == 0, "jobs.db truncated to 16 KiB");
	ok(open_err(msg, sizeof msg) == -EBADMSG && strstr(msg, "jobs.db is damaged") != NULL,
	   "its open stops: %s", msg);
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	test_round_trip();
	test_upgrade();
	test_outcomes();
	test_pending_attempts();
	test_queue_columns();
	test_result_digest();
	test_result_read();
	test_lost();
	test_truncated();
	{
		char cmd[128];

		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		(void)system(cmd);
	}
	return tap_done();
}

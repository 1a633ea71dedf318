/*
 * raftstore: Raft's durable state and the ledger outbox, in SQLite
 * (data-dir/raft.db, WAL, synchronous=FULL).
 *
 * Raft's contract (docs/raft.md): the snapshot, the truncation, the new
 * entries and the hard state of one raft_ready() round are durable before
 * any of its messages is sent.  raftstore_save() writes the whole round in
 * one transaction, so a crash leaves either all of it or none of it; with
 * synchronous=FULL the commit has reached the disk when it returns.
 *
 * The boot row holds the snapshot the node started from: on a first start
 * index 0, term 0 and the initial voters (none for a node added later).
 * Its absence is what "never booted" means, so a restart never bootstraps
 * again.  raftstore_compact() replaces it with the snapshot of a compaction
 * and drops the log up to its index, in one transaction.
 *
 * The blocks table holds the applied ledger blocks (height, hash, bytes):
 * with the log compacted it is the chain.  Blocks are written after they
 * apply, on the second connection (synchronous=NORMAL, no fsync of their
 * own): the log keeps every entry after the snapshot, and a compaction,
 * which commits with FULL on the same WAL, makes every block written before
 * it durable first.  So the log never loses an entry whose block is not on
 * disk, and a restart rebuilds the ledger from the blocks, then applies the
 * log after the snapshot again (stale blocks are skipped: idempotent).
 *
 * The outbox holds this node's own completion acks until the ledger
 * leader reports them committed (docs/ledger-node.md), on that second
 * connection too (see raftstore_outbox_schema); a committed ack's row is
 * deleted.  The table has no key: a job id is random, and a B-tree keyed by
 * it dirtied a random page per ack, most of what the outbox wrote.  Rows are
 * appended, and the job -> rowid index of the open acks lives in memory
 * (idmap.h), built from the table at open.  An ack is never dropped: the
 * node refuses new submits while too many are open (voterd.c,
 * CHORUS_OUTBOX_HIGH), which bounds the table instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "node.h"
#include "voterd.h"
#include "idmap.h"


struct raftstore {
	sqlite3 *db;
	sqlite3 *obx; /* the outbox's own connection: synchronous=NORMAL (see raftstore_open) */
	sqlite3_stmt *hs_put, *boot_put, *boot_get, *log_put, *log_trunc, *log_clear, *log_all,
	    *hs_get, *out_put, *out_done, *out_pending, *log_drop, *log_rows, *blk_put, *blk_get,
	    *blk_all, *out_get, *out_all, *job_put, *job_get;
	int group;         /* raftstore_outbox_begin() depth: >0, one transaction is open */
	struct idmap open; /* the outbox's open acks: job id -> rowid */
	uint8_t *blk_buf; /* raftstore_block_get()'s bytes */
	size_t blk_cap;
	struct raft_entry *boot_entries; /* raftstore_load()'s, until raftstore_boot_free() */
	uint8_t *boot_data;
	size_t nboot;
	int saved_hs;                  /* saved_term and saved_vote are what the disk holds */
	uint64_t saved_term, saved_vote;
	char vote_path[NODE_PATH_MAX + 32]; /* DIR/raft.db.vote: the newest term and vote saved */
	uint64_t mark_term, mark_vote;      /* what it holds */
};

/* Every row is an open ack: a committed one is deleted. */
#define RAFTSTORE_OUTBOX_TABLE                                                                     \
	"CREATE TABLE IF NOT EXISTS outbox (job TEXT NOT NULL, ack BLOB NOT NULL,"                 \
	" ack_auth BLOB NOT NULL, receipt BLOB NOT NULL, receipt_auth BLOB NOT NULL,"              \
	" created_ms INTEGER NOT NULL);"

/*
 * Files from before batch signatures (an ack_sig column, and before that a
 * job key, a height column and an index of open rows): their acks carry a
 * signature over each text, which no ledger of format 2 can check, so they
 * could never be credited.  They go, in one transaction (docs/ledger.md).
 */
static const char raftstore_outbox_migrate[] =
    "BEGIN IMMEDIATE;"
    "DROP INDEX IF EXISTS outbox_open;"
    "DROP TABLE outbox;"
    RAFTSTORE_OUTBOX_TABLE
    "COMMIT;";

static const char raftstore_schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS hard (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " term INTEGER NOT NULL, vote INTEGER NOT NULL, commit_index INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS boot (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " snap_index INTEGER NOT NULL, snap_term INTEGER NOT NULL, conf BLOB NOT NULL,"
    " data BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL,"
    " type INTEGER NOT NULL, data BLOB NOT NULL);"
    RAFTSTORE_OUTBOX_TABLE
    "CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL,"
    " data BLOB NOT NULL);"
    /* A query index, not state: every final job, also those the ledger forgot (its window). */
    "CREATE TABLE IF NOT EXISTS jobs (job BLOB PRIMARY KEY, height INTEGER NOT NULL,"
    " outcome INTEGER NOT NULL, client BLOB NOT NULL, worker BLOB NOT NULL,"
    " reward INTEGER NOT NULL) WITHOUT ROWID;";

/*
 * The outbox is written once per ack and once per commit answer: an fsync
 * each would stall the loop Raft runs on.  Its connection commits with
 * synchronous=NORMAL: in WAL mode a commit survives the process being
 * killed at once, and the next Raft round's fsync (same WAL) makes it
 * survive a power cut too.
 */
static const char raftstore_outbox_schema[] = "PRAGMA synchronous=NORMAL;";

static int raftstore_prepare_outbox(struct raftstore *rs)
{
	static const char *const sql[] = {
		"INSERT INTO outbox (job, ack, ack_auth, receipt, receipt_auth, created_ms)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
		"DELETE FROM outbox WHERE rowid = ?1 RETURNING created_ms",
		"SELECT job, ack, ack_auth, receipt, receipt_auth FROM outbox ORDER BY rowid LIMIT ?1",
		"INSERT OR REPLACE INTO blocks (height, hash, data) VALUES (?1, ?2, ?3)",
		"SELECT data FROM blocks WHERE height = ?1",
		"SELECT height, data FROM blocks ORDER BY height",
		"SELECT job, ack, ack_auth, receipt, receipt_auth FROM outbox WHERE rowid = ?1",
		"SELECT rowid, job FROM outbox",
		"INSERT OR IGNORE INTO jobs (job, height, outcome, client, worker, reward)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
		"SELECT height, outcome, client, worker, reward FROM jobs WHERE job = ?1",
	};
	sqlite3_stmt **const st[] = { &rs->out_put, &rs->out_done, &rs->out_pending, &rs->blk_put,
		                      &rs->blk_get, &rs->blk_all,  &rs->out_get,
		                      &rs->out_all, &rs->job_put,  &rs->job_get };

	_Static_assert(sizeof sql / sizeof sql[0] == sizeof st / sizeof st[0], "one per statement");
	return sqlstore_prepare(rs->obx, sql, st, sizeof st / sizeof st[0]);
}

static int raftstore_prepare(struct raftstore *rs)
{
	static const char *const sql[] = {
		"INSERT OR REPLACE INTO hard (id, term, vote, commit_index) VALUES (1, ?1, ?2, ?3)",
		"INSERT OR REPLACE INTO boot (id, snap_index, snap_term, conf, data)"
		" VALUES (1, ?1, ?2, ?3, ?4)",
		"SELECT snap_index, snap_term, conf, data FROM boot WHERE id = 1",
		"INSERT OR REPLACE INTO log (idx, term, type, data) VALUES (?1, ?2, ?3, ?4)",
		"DELETE FROM log WHERE idx >= ?1",
		"DELETE FROM log",
		"SELECT idx, term, type, data FROM log ORDER BY idx",
		"SELECT term, vote, commit_index FROM hard WHERE id = 1",
		"DELETE FROM log WHERE idx <= ?1",
		"SELECT count(*) FROM log",
	};
	sqlite3_stmt **const st[] = { &rs->hs_put,    &rs->boot_put,  &rs->boot_get, &rs->log_put,
		                      &rs->log_trunc, &rs->log_clear, &rs->log_all,  &rs->hs_get,
		                      &rs->log_drop,  &rs->log_rows };

	_Static_assert(sizeof sql / sizeof sql[0] == sizeof st / sizeof st[0], "one per statement");
	return sqlstore_prepare(rs->db, sql, st, sizeof st / sizeof st[0]);
}

static int raftstore_outbox_reindex(struct raftstore *rs);
static int raftstore_lost_get(struct raftstore *rs, int *lost);
static int raftstore_older(struct raftstore *rs);
static void raftstore_unmark(struct raftstore *rs);

/*
 * Opens and checks raft.db (sqlstore_open_checked: integrity, and whether it
 * is the store this node made).  A raft.db that was emptied or replaced is
 * not an error here: *lost is 2 (3 for an older copy of this node's own,
 * raftstore_older), and the caller decides: a voter comes up without a vote
 * and keeps the store with raftstore_set_lost(), anyone else stops.  *lost is
 * 1 while the flag set then is in the meta table (until raftstore_set_lost
 * (rs, NULL, 0)), so a restart keeps it.  0, -EBADMSG (damaged: err says
 * so), or -EIO.
 */
int raftstore_open(struct raftstore **out, const char *dir, int *lost, char *err, size_t errlen)
{
	struct raftstore *rs = calloc(1, sizeof(*rs));
	enum sqlstore_found found = SQLSTORE_NEW;
	int r;

	*out = NULL;
	*lost = 0;
	if (rs == NULL)
		return -ENOMEM;
	r = sqlstore_open_checked(&rs->db, dir, "raft.db", raftstore_schema, &found, err, errlen);
	if (r == 0 && (checkpointer_watch(rs->db) != 0 || raftstore_prepare(rs) != 0 ||
	    sqlstore_migrate(rs->db, "SELECT count(*) FROM pragma_table_info('outbox') WHERE name = 'ack_sig'",
	                     raftstore_outbox_migrate, "outbox") != 0 ||
	    sqlstore_open(&rs->obx, dir, "raft.db", raftstore_outbox_schema, err, errlen) != 0 ||
	    checkpointer_watch(rs->obx) != 0 || raftstore_prepare_outbox(rs) != 0 ||
	    raftstore_outbox_reindex(rs) != 0))
		r = -EIO;
	snprintf(rs->vote_path, sizeof rs->vote_path, "%s/raft.db.vote", dir);
	if (r == 0 && found == SQLSTORE_LOST)
		*lost = 2; /* not adopted yet: raftstore_set_lost(rs, dir, 1) does */
	else if (r == 0 && (r = raftstore_lost_get(rs, lost)) == 0 && *lost == 0 && raftstore_older(rs))
		*lost = 3; /* an older copy: raftstore_forget and the flag, if the caller is a voter */
	if (r != 0) {
		if (r == -EIO && rs->db != NULL)
			snprintf(err, errlen, "raft store: %s", sqlite3_errmsg(rs->db));
		raftstore_close(rs);
		return r;
	}
	*out = rs;
	return 0;
}

/* The lost flag (meta row "lost"): 0 and *lost, or -EIO. */
static int raftstore_lost_get(struct raftstore *rs, int *lost)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*lost = 0;
	if (sqlite3_prepare_v2(rs->db, "SELECT value FROM meta WHERE key = 'lost'", -1, &st, NULL) !=
	    SQLITE_OK)
		return -EIO;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*lost = strcmp((const char *)sqlite3_column_text(st, 0), "1") == 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/*
 * Raft's state in this file is not the one this node had (lost = 1), or the
 * node was re-added (0).  The first time, the new store is adopted (its id
 * replaces the old one in raft.db.id) with the flag set in one step first,
 * so a crash in between still finds the flag.
 */
int raftstore_set_lost(struct raftstore *rs, const char *dir, int lost)
{
	int r = sqlstore_meta_put(rs->db, "lost", lost ? "1" : "0");

	if (r == 0 && lost)
		raftstore_unmark(rs); /* the state it described is gone: the new life marks its own */
	if (r == 0 && lost && dir != NULL)
		r = sqlstore_adopt(rs->db, dir, "raft.db");
	return r;
}

void raftstore_close(struct raftstore *rs)
{
	if (rs == NULL)
		return;
	raftstore_boot_free(rs);
	/* Finalizes every prepared statement, whatever got prepared (on a connection that opened). */
	for (sqlite3_stmt *st = rs->db != NULL ? sqlite3_next_stmt(rs->db, NULL) : NULL; st != NULL;
	     st = sqlite3_next_stmt(rs->db, NULL))
		sqlite3_finalize(st);
	for (sqlite3_stmt *st = rs->obx != NULL ? sqlite3_next_stmt(rs->obx, NULL) : NULL; st != NULL;
	     st = sqlite3_next_stmt(rs->obx, NULL))
		sqlite3_finalize(st);
	sqlite3_close(rs->obx);
	sqlite3_close(rs->db);
	idmap_free(&rs->open);
	free(rs->blk_buf);
	free(rs);
}

void raftstore_boot_free(struct raftstore *rs)
{
	for (size_t i = 0; i < rs->nboot; i++)
		free((void *)rs->boot_entries[i].data);
	free(rs->boot_entries);
	free(rs->boot_data);
	rs->boot_entries = NULL;
	rs->boot_data = NULL;
	rs->nboot = 0;
}

/* ---------------------------------------------------------------- load */

static int raftstore_load_hs(struct raftstore *rs, struct raft_hard_state *hs)
{
	sqlite3_stmt *st = rs->hs_get;
	int rc = sqlite3_step(st);

	memset(hs, 0, sizeof *hs);
	if (rc == SQLITE_ROW) {
		hs->term = (uint64_t)sqlite3_column_int64(st, 0);
		hs->vote = (uint64_t)sqlite3_column_int64(st, 1);
		hs->commit = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* 1 with the snapshot filled (data copied into rs->boot_data), 0 when never booted. */
static int raftstore_load_snap(struct raftstore *rs, struct raft_snapshot *snap)
{
	sqlite3_stmt *st = rs->boot_get;
	int rc = sqlite3_step(st), r = rc == SQLITE_DONE ? 0 : -EIO;

	memset(snap, 0, sizeof *snap);
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(st, 3);

		snap->index = (uint64_t)sqlite3_column_int64(st, 0);
		snap->term = (uint64_t)sqlite3_column_int64(st, 1);
		r = raft_conf_decode(&snap->conf, sqlite3_column_blob(st, 2),
		                     (size_t)sqlite3_column_bytes(st, 2)) == 0 ? 1 : -EIO;
		if (r == 1 && n > 0 && (rs->boot_data = malloc((size_t)n)) == NULL)
			r = -ENOMEM;
		if (r == 1 && n > 0) {
			memcpy(rs->boot_data, sqlite3_column_blob(st, 3), (size_t)n);
			snap->data = rs->boot_data;
			snap->len = (uint32_t)n;
		}
	}
	sqlite3_reset(st);
	return r;
}

/* Every stored entry, data copied into one allocation per entry array. */
static int raftstore_load_log(struct raftstore *rs)
{
	sqlite3_stmt *st = rs->log_all;
	size_t cap = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct raft_entry *e;
		int n = sqlite3_column_bytes(st, 3);

		if (rs->nboot == cap) {
			size_t ncap = cap ? 2 * cap : 256;
			void *p = realloc(rs->boot_entries, ncap * sizeof(*rs->boot_entries));

			if (p == NULL || rs->nboot >= CHORUS_RAFT_LOG_MAX)
				break; /* rc stays SQLITE_ROW: reported as an error below */
			rs->boot_entries = p;
			cap = ncap;
		}
		e = &rs->boot_entries[rs->nboot++];
		e->index = (uint64_t)sqlite3_column_int64(st, 0);
		e->term = (uint64_t)sqlite3_column_int64(st, 1);
		e->type = (uint8_t)sqlite3_column_int(st, 2);
		e->len = (uint32_t)n;
		e->data = NULL;
		if (n > 0 && (e->data = malloc((size_t)n)) != NULL)
			memcpy((void *)e->data, sqlite3_column_blob(st, 3), (size_t)n);
		if (n > 0 && e->data == NULL)
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/*
 * Fills boot from the store: 0 when the node booted before, 1 when it never
 * did (boot untouched), or a negative error.  The entries stay owned by rs
 * until raftstore_boot_free().
 */
int raftstore_load(struct raftstore *rs, struct raft_boot *boot)
{
	int r;

	memset(boot, 0, sizeof *boot);
	raftstore_boot_free(rs);
	if ((r = raftstore_load_snap(rs, &boot->snap)) <= 0)
		return r < 0 ? r : 1;
	if ((r = raftstore_load_hs(rs, &boot->hs)) != 0 || (r = raftstore_load_log(rs)) != 0)
		return r;
	rs->saved_hs = 1;
	rs->saved_term = boot->hs.term;
	rs->saved_vote = boot->hs.vote;
	boot->entries = rs->boot_entries;
	boot->nentries = rs->nboot;
	return 0;
}

/* ---------------------------------------------------------------- save */

static int raftstore_put_snap(struct raftstore *rs, const struct raft_snapshot *snap)
{
	uint8_t conf[4 + 8 * CHORUS_RAFT_VOTERS_MAX];
	int n = raft_conf_encode(&snap->conf, conf, sizeof conf);

	if (n < 0)
		return -EINVAL;
	sqlite3_bind_int64(rs->boot_put, 1, (sqlite3_int64)snap->index);
	sqlite3_bind_int64(rs->boot_put, 2, (sqlite3_int64)snap->term);
	sqlite3_bind_blob(rs->boot_put, 3, conf, n, SQLITE_STATIC);
	sqlite3_bind_blob(rs->boot_put, 4, snap->len ? (const void *)snap->data : "", (int)snap->len,
	                  SQLITE_STATIC);
	return sqlstore_run(rs->db, rs->boot_put, "raft-boot");
}

/* The first start: the initial voters (none for a node that waits to be added). */
int raftstore_init(struct raftstore *rs, const struct raft_conf *conf)
{
	struct raft_snapshot snap;

	memset(&snap, 0, sizeof snap);
	snap.conf = *conf;
	return raftstore_put_snap(rs, &snap);
}

static int raftstore_put_entry(struct raftstore *rs, const struct raft_entry *e)
{
	sqlite3_stmt *st = rs->log_put;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)e->index);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)e->term);
	sqlite3_bind_int(st, 3, e->type);
	sqlite3_bind_blob(st, 4, e->len ? (const void *)e->data : "", (int)e->len, SQLITE_STATIC);
	return sqlstore_run(rs->db, st, "raft-entry");
}

static int raftstore_put_hs(struct raftstore *rs, const struct raft_hard_state *hs)
{
	sqlite3_bind_int64(rs->hs_put, 1, (sqlite3_int64)hs->term);
	sqlite3_bind_int64(rs->hs_put, 2, (sqlite3_int64)hs->vote);
	sqlite3_bind_int64(rs->hs_put, 3, (sqlite3_int64)hs->commit);
	return sqlstore_run(rs->db, rs->hs_put, "raft-hard-state");
}

/*
 * Fault seam for the tests (SQLite style): the raftstore_fault_at-th write of
 * a round fails, or with raftstore_fault_crash the process dies there, in
 * the middle of the open transaction.  0: off (always, outside tests).
 */
int raftstore_fault_at;
int raftstore_fault_crash;

static int raftstore_fault(int *writes)
{
	if (raftstore_fault_at == 0 || ++*writes < raftstore_fault_at)
		return 0;
	if (raftstore_fault_crash)
		_exit(3);
	return -EIO;
}

/* The body of one round, in the contract's order: snapshot, truncation, entries, hard state. */
static int raftstore_save_round(struct raftstore *rs, const struct raft_ready *rd)
{
	int r = 0, writes = 0;

	if (rd->snapshot != NULL && ((r = raftstore_put_snap(rs, rd->snapshot)) != 0 ||
	                             (r = sqlstore_run(rs->db, rs->log_clear, "raft-clear")) != 0))
		return r;
	if (rd->truncate_from > 0) {
		sqlite3_bind_int64(rs->log_trunc, 1, (sqlite3_int64)rd->truncate_from);
		if ((r = sqlstore_run(rs->db, rs->log_trunc, "raft-truncate")) != 0)
			return r;
	}
	for (size_t i = 0; i < rd->nentries && r == 0; i++)
		if ((r = raftstore_fault(&writes)) == 0)
			r = raftstore_put_entry(rs, &rd->entries[i]);
	if (r == 0 && rd->hs_changed && (r = raftstore_fault(&writes)) == 0)
		r = raftstore_put_hs(rs, &rd->hs);
	return r;
}

/*
 * The newest term and vote this node saved, also in DIR/raft.db.vote beside
 * the database (written whole: a temporary file, fsync, rename), after the
 * round that saved them and before its messages leave.  It only moves
 * forward, and only on an election (a few a day), so its fsync is no cost.
 * A raft.db put back from an older copy holds an older term or another
 * vote: raftstore_open tells it by this file (*lost = 3).
 */
static void raftstore_mark(struct raftstore *rs, uint64_t term, uint64_t vote)
{
	char tmp[sizeof rs->vote_path + 4];
	int fd, ok;

	if (rs->vote_path[0] == '\0' || term < rs->mark_term ||
	    (term == rs->mark_term && vote == rs->mark_vote) || (term == rs->mark_term && vote == 0))
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", rs->vote_path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) {
		log_error("store", "event=write_error what=raft.db.vote error=\"%s\"", strerror(errno));
		return;
	}
	ok = dprintf(fd, "%llu %llu\n", (unsigned long long)term, (unsigned long long)vote) > 0 &&
	     fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, rs->vote_path) != 0) {
		log_error("store", "event=write_error what=raft.db.vote");
		(void)unlink(tmp);
		return;
	}
	rs->mark_term = term;
	rs->mark_vote = vote;
}

static void raftstore_unmark(struct raftstore *rs)
{
	if (unlink(rs->vote_path) != 0 && errno != ENOENT)
		log_error("store", "event=write_error what=raft.db.vote error=\"%s\"", strerror(errno));
	rs->mark_term = 0;
	rs->mark_vote = 0;
}

/* Is raft.db's hard state older than the mark (a copy put back)?  1 yes, 0 no. */
static int raftstore_older(struct raftstore *rs)
{
	unsigned long long term = 0, vote = 0;
	struct raft_hard_state hs;
	FILE *fp = fopen(rs->vote_path, "r");
	int n = fp != NULL ? fscanf(fp, "%llu %llu", &term, &vote) : 0;

	if (fp != NULL)
		fclose(fp);
	if (n != 2)
		return 0; /* none yet (or from before it existed) */
	rs->mark_term = term;
	rs->mark_vote = vote;
	if (raftstore_load_hs(rs, &hs) != 0)
		return 0;
	if (hs.term < term || (hs.term == term && vote != 0 && hs.vote != vote)) {
		log_error("raft", "event=state_older file=raft.db term=%llu vote=%016llx recorded_term=%llu"
		          " recorded_vote=%016llx", (unsigned long long)hs.term, (unsigned long long)hs.vote,
		          term, vote);
		return 1;
	}
	return 0;
}

/*
 * A voter's Raft state that cannot be trusted (raft.db put back from an
 * older copy): term, vote, log and snapshot go, in one transaction, so it
 * boots as a non-member without a vote, like one whose raft.db was emptied.
 * The applied blocks and the outbox stay (they are checked, and ours).
 */
int raftstore_forget(struct raftstore *rs)
{
	int r = sqlstore_exec(rs->db, "BEGIN IMMEDIATE");

	if (r == 0 && (r = sqlstore_exec(rs->db, "DELETE FROM hard; DELETE FROM boot; DELETE FROM log")) != 0)
		(void)sqlstore_exec(rs->db, "ROLLBACK");
	else if (r == 0)
		r = sqlstore_exec(rs->db, "COMMIT");
	rs->saved_hs = 0;
	return r;
}

/* A commit of raft.db's own connection (synchronous=FULL: it waits for the WAL's fsync), timed. */
static int raftstore_commit_full(struct raftstore *rs)
{
	uint64_t t0 = metrics_clock_ns();
	int r = sqlstore_exec(rs->db, "COMMIT");

	metrics_observe_since(METRICS_FSYNC_RAFT, t0);
	return r;
}

/*
 * One raft_ready() round in one transaction (nothing to write: no
 * transaction).  0 when it is on disk; on an error nothing of it is.
 */
/*
 * A round that only moves the commit index writes nothing: the commit index
 * is knowledge, not a promise.  The next round that writes (entries, term or
 * vote) carries it; a node that restarts with an older one applies the
 * committed blocks it stored (raft_create clamps the commit index to the
 * snapshot) and learns the rest from the leader, and nothing it sent
 * depended on it.  On the leader this saves a transaction per commit on the
 * path of every acknowledged write.
 */
int raftstore_save(struct raftstore *rs, const struct raft_ready *rd)
{
	int r;

	if (rd->snapshot == NULL && rd->truncate_from == 0 && rd->nentries == 0 && !rd->hs_changed)
		return 0;
	if (rd->snapshot == NULL && rd->truncate_from == 0 && rd->nentries == 0 && rs->saved_hs &&
	    rd->hs.term == rs->saved_term && rd->hs.vote == rs->saved_vote)
		return 0; /* the commit index moved, and only it */
	if ((r = sqlstore_exec(rs->db, "BEGIN IMMEDIATE")) == 0) {
		if ((r = raftstore_save_round(rs, rd)) != 0)
			(void)sqlstore_exec(rs->db, "ROLLBACK");
		else
			r = raftstore_commit_full(rs);
	}
	if (r == 0 && rd->hs_changed) {
		rs->saved_hs = 1;
		rs->saved_term = rd->hs.term;
		rs->saved_vote = rd->hs.vote;
		raftstore_mark(rs, rd->hs.term, rd->hs.vote);
	}
	return r;
}

/* ---------------------------------------------------------------- compaction */

/*
 * After raft_compact(): the snapshot becomes the boot row and the log up to
 * its index goes, in one transaction (FULL: it also makes every block
 * written before it durable, see the top).  0, or nothing of it is stored.
 */
int raftstore_compact(struct raftstore *rs, const struct raft_snapshot *snap)
{
	int r, writes = 0;

	if ((r = sqlstore_exec(rs->db, "BEGIN IMMEDIATE")) != 0)
		return r;
	if ((r = raftstore_fault(&writes)) == 0)
		r = raftstore_put_snap(rs, snap);
	if (r == 0 && (r = raftstore_fault(&writes)) == 0) {
		sqlite3_bind_int64(rs->log_drop, 1, (sqlite3_int64)snap->index);
		r = sqlstore_run(rs->db, rs->log_drop, "raft-compact");
	}
	if (r != 0) {
		(void)sqlstore_exec(rs->db, "ROLLBACK");
		return r;
	}
	return raftstore_commit_full(rs);
}

long long raftstore_log_rows(struct raftstore *rs)
{
	long long n = -EIO;

	if (sqlite3_step(rs->log_rows) == SQLITE_ROW)
		n = sqlite3_column_int64(rs->log_rows, 0);
	sqlite3_reset(rs->log_rows);
	return n;
}

/* ---------------------------------------------------------------- blocks */

int raftstore_block_put(struct raftstore *rs, uint64_t height,
                        const uint8_t hash[LEDGER_HASH_BYTES], const uint8_t *data, size_t len)
{
	sqlite3_stmt *st = rs->blk_put;

	if (height == 0 || len == 0 || len > CHORUS_LEDGER_BLOCK_BYTES_MAX)
		return -EINVAL;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)height);
	sqlite3_bind_blob(st, 2, hash, LEDGER_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, data, (int)len, SQLITE_STATIC);
	return sqlstore_run(rs->obx, st, "block-put");
}

/*
 * The query index of forgotten jobs (table jobs): the rows the ledger
 * handed out (ledger_forgotten_take), in one savepoint (so a part of an
 * open group, raftstore_outbox_begin).  A job already there is kept (a
 * restart's rebuild forgets the same jobs again).  Not state: the ledger
 * decides; this answers GET /v1/ledger/jobs/ID for a job its window
 * forgot.  0, or -EIO.
 */
int raftstore_jobs_put(struct raftstore *rs, const struct ledger_gone *rows, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	if ((r = sqlstore_exec(rs->obx, "SAVEPOINT jobs_put")) != 0)
		return -EIO;
	for (size_t i = 0; i < n && r == 0; i++) {
		sqlite3_stmt *st = rs->job_put;

		sqlite3_bind_blob(st, 1, rows[i].job, CHORUS_JOB_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)rows[i].rec.height);
		sqlite3_bind_int(st, 3, rows[i].rec.outcome);
		sqlite3_bind_blob(st, 4, rows[i].rec.client, CHORUS_PK_BYTES, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, rows[i].rec.worker, CHORUS_PK_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)rows[i].rec.reward);
		r = sqlstore_run(rs->obx, st, "jobs-put");
	}
	if (r != 0 || sqlstore_exec(rs->obx, "RELEASE jobs_put") != 0) {
		(void)sqlite3_exec(rs->obx, "ROLLBACK TO jobs_put; RELEASE jobs_put", NULL, NULL, NULL);
		return -EIO;
	}
	return 0;
}

/* A final job from the index: 0, -ENOENT, or -EIO. */
int raftstore_job_get(struct raftstore *rs, const uint8_t job[CHORUS_JOB_ID_BYTES],
                      struct ledger_job *out)
{
	sqlite3_stmt *st = rs->job_get;
	int rc, r = -ENOENT;

	memset(out, 0, sizeof(*out));
	sqlite3_bind_blob(st, 1, job, CHORUS_JOB_ID_BYTES, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_bytes(st, 2) == CHORUS_PK_BYTES &&
	    sqlite3_column_bytes(st, 3) == CHORUS_PK_BYTES) {
		out->height = (uint64_t)sqlite3_column_int64(st, 0);
		out->outcome = sqlite3_column_int(st, 1);
		memcpy(out->client, sqlite3_column_blob(st, 2), CHORUS_PK_BYTES);
		memcpy(out->worker, sqlite3_column_blob(st, 3), CHORUS_PK_BYTES);
		out->reward = (uint64_t)sqlite3_column_int64(st, 4);
		r = 0;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = -EIO;
	}
	sqlite3_reset(st);
	return r;
}

int raftstore_block_get(struct raftstore *rs, uint64_t height, const uint8_t **data, size_t *len)
{
	sqlite3_stmt *st = rs->blk_get;
	int rc, r = -ENOENT;

	*data = NULL;
	*len = 0;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)height);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		r = n > 0 && n <= CHORUS_LEDGER_BLOCK_BYTES_MAX ? 0 : -EIO;
		if (r == 0 && n > rs->blk_cap) {
			void *p = realloc(rs->blk_buf, n);

			r = p != NULL ? 0 : -ENOMEM;
			if (p != NULL) {
				rs->blk_buf = p;
				rs->blk_cap = n;
			}
		}
		if (r == 0) {
			memcpy(rs->blk_buf, sqlite3_column_blob(st, 0), n);
			*data = rs->blk_buf;
			*len = n;
		}
	} else if (rc != SQLITE_DONE) {
		r = -EIO;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int raftstore_blocks_each(struct raftstore *rs, raftstore_block_fn *fn, void *ctx)
{
	sqlite3_stmt *st = rs->blk_all;
	int rc = SQLITE_DONE, r = 0;

	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = fn(ctx, (uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
		       (size_t)sqlite3_column_bytes(st, 1));
	sqlite3_reset(st);
	if (r == 0 && rc != SQLITE_DONE)
		r = -EIO;
	return r;
}

/* ---------------------------------------------------------------- outbox */

/* The index from the table: at open, and after a transaction that did not commit. */
static int raftstore_outbox_reindex(struct raftstore *rs)
{
	return sqlstore_idmap_fill(&rs->open, rs->out_all);
}

/* 0 when the ack of job (a hex job id) is in the outbox (put now, or there already), else -EIO/-ENOMEM/-EINVAL. */
int raftstore_outbox_put(struct raftstore *rs, const char *job, const struct ledger_entry *e,
                         uint64_t now_ms)
{
	sqlite3_stmt *st = rs->out_put;
	uint8_t key[IDMAP_KEY_BYTES], aauth[BATCHSIG_BYTES_MAX], rauth[BATCHSIG_BYTES_MAX];

	if (idmap_key(key, job) != 0)
		return -EINVAL;
	if (idmap_get(&rs->open, key) != 0)
		return 0; /* kept once */
	if (idmap_reserve(&rs->open) != 0)
		return -ENOMEM;
	sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, e->ack_text, e->ack_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, aauth, (int)batchsig_encode(aauth, &e->ack_auth), SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, e->receipt_text, e->receipt_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, rauth, (int)batchsig_encode(rauth, &e->receipt_auth), SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)now_ms);
	if (sqlstore_run(rs->obx, st, "outbox-put") != 0)
		return (sqlite3_extended_errcode(rs->obx) & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO;
	idmap_put(&rs->open, key, sqlite3_last_insert_rowid(rs->obx));
	return 0;
}

/* Open acks: put and not yet done (committed, refused or gone). */
size_t raftstore_outbox_open(const struct raftstore *rs)
{
	return rs->open.n;
}

/*
 * Several writes of the second connection (outbox, blocks, jobs index) in
 * one transaction, a group commit; nested calls join the open one, which the
 * outermost raftstore_outbox_commit() commits.  0 or -EIO (no transaction:
 * the writes commit one by one).
 */
int raftstore_outbox_begin(struct raftstore *rs)
{
	int r;

	if (rs->group > 0) {
		rs->group++;
		return 0;
	}
	if ((r = sqlstore_exec(rs->obx, "BEGIN IMMEDIATE")) == 0)
		rs->group = 1;
	return r;
}

/*
 * The end of a raftstore_outbox_begin() that returned 0; the outermost
 * commits.  A transaction that does not commit is rolled back, and the
 * index rebuilt to match; 0, -ENOSPC or -EIO.
 */
int raftstore_outbox_commit(struct raftstore *rs)
{
	uint64_t t0;
	int r;

	if (rs->group > 1) {
		rs->group--;
		return 0;
	}
	rs->group = 0;
	t0 = metrics_clock_ns();
	r = sqlstore_exec(rs->obx, "COMMIT");
	metrics_observe_since(METRICS_COMMIT_OUTBOX, t0);
	if (r != 0) {
		if ((sqlite3_extended_errcode(rs->obx) & 0xff) == SQLITE_FULL)
			r = -ENOSPC;
		(void)sqlite3_exec(rs->obx, "ROLLBACK", NULL, NULL, NULL); /* none left, perhaps */
		(void)raftstore_outbox_reindex(rs);
	}
	return r;
}

/*
 * The ack of job leaves (committed, refused or no longer ours to send): its
 * row is deleted.  *created_ms: when it was put (0: unknown or gone before).
 */
int raftstore_outbox_done(struct raftstore *rs, const char *job, uint64_t *created_ms)
{
	sqlite3_stmt *st = rs->out_done;
	uint8_t key[IDMAP_KEY_BYTES];
	int64_t row;
	int rc;

	*created_ms = 0;
	if (idmap_key(key, job) != 0 || (row = idmap_get(&rs->open, key)) == 0)
		return 0;
	sqlite3_bind_int64(st, 1, row);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*created_ms = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_error("store", "event=write_error what=outbox-done error=\"%s\"",
		          sqlite3_errmsg(rs->obx));
		return -EIO;
	}
	(void)idmap_del(&rs->open, key);
	return 0;
}

/*
 * The highest seq of our acks saved in the outbox (meta row "ack_seq"),
 * written in the transaction that saves them: a restarted client never
 * signs a seq at or below it again (acks.c), whatever its clock says.
 */
int raftstore_ack_seq_put(struct raftstore *rs, uint64_t seq)
{
	char v[24];

	snprintf(v, sizeof v, "%llu", (unsigned long long)seq);
	return sqlstore_meta_put(rs->obx, "ack_seq", v);
}

/* 0 and *seq (0 when none was saved), or -EIO. */
int raftstore_ack_seq_get(struct raftstore *rs, uint64_t *seq)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	*seq = 0;
	if (sqlite3_prepare_v2(rs->obx, "SELECT value FROM meta WHERE key = 'ack_seq'", -1, &st,
	                       NULL) != SQLITE_OK)
		return -EIO;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*seq = strtoull((const char *)sqlite3_column_text(st, 0), NULL, 10);
	else if (rc != SQLITE_DONE)
		r = -EIO;
	sqlite3_finalize(st);
	return r;
}

static int raftstore_col_text(sqlite3_stmt *st, int col, char *out, uint16_t *len)
{
	int n = sqlite3_column_bytes(st, col);

	if (n <= 0 || n > CHORUS_LEDGER_TEXT_MAX)
		return -EIO;
	memcpy(out, sqlite3_column_blob(st, col), (size_t)n);
	out[n] = '\0';
	*len = (uint16_t)n;
	return 0;
}

/* An encoded authenticator in column col, exactly: 0 or -EIO. */
static int raftstore_col_auth(sqlite3_stmt *st, int col, struct batchsig *auth)
{
	const uint8_t *p = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);
	size_t used;

	if (p == NULL || n <= 0 || batchsig_decode(auth, p, (size_t)n, &used) != 0 ||
	    used != (size_t)n)
		return -EIO;
	return 0;
}

/* The entry of a row (job, ack, ack_auth, receipt, receipt_auth): 0, or -EIO (cannot happen: we wrote it). */
static int raftstore_outbox_row(sqlite3_stmt *st, struct ledger_entry *e)
{
	memset(e, 0, sizeof *e);
	if (raftstore_col_text(st, 1, e->ack_text, &e->ack_len) != 0 ||
	    raftstore_col_text(st, 3, e->receipt_text, &e->receipt_len) != 0 ||
	    raftstore_col_auth(st, 2, &e->ack_auth) != 0 ||
	    raftstore_col_auth(st, 4, &e->receipt_auth) != 0)
		return -EIO;
	return 0;
}

/* Calls fn for up to limit acks not yet committed, oldest first; how many, or -EIO. */
int raftstore_outbox_each(struct raftstore *rs, unsigned limit, raftstore_outbox_fn *fn,
                          void *ctx)
{
	sqlite3_stmt *st = rs->out_pending;
	struct ledger_entry *e = malloc(sizeof *e);
	int rc, n = 0;

	if (e == NULL)
		return -ENOMEM;
	sqlite3_bind_int(st, 1, (int)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (raftstore_outbox_row(st, e) != 0)
			continue;
		fn(ctx, (const char *)sqlite3_column_text(st, 0), e);
		n++;
	}
	sqlite3_reset(st);
	free(e);
	return rc == SQLITE_DONE ? n : -EIO;
}

/* The open ack of job: 0 and e filled, -ENOENT (none open), or -EIO. */
int raftstore_outbox_get(struct raftstore *rs, const char *job, struct ledger_entry *e)
{
	sqlite3_stmt *st = rs->out_get;
	uint8_t key[IDMAP_KEY_BYTES];
	int64_t row;
	int rc, found = 0;

	if (idmap_key(key, job) != 0 || (row = idmap_get(&rs->open, key)) == 0)
		return -ENOENT;
	sqlite3_bind_int64(st, 1, row);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		found = raftstore_outbox_row(st, e) == 0;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	return found ? 0 : -ENOENT;
}

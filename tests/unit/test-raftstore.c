/*
 * raftstore: what one raft_ready() round writes comes back on load, in the
 * contract's order (truncation, entries, hard state), and a round is all or
 * nothing: a write failing in the middle, or the process dying in the
 * middle of the transaction, leaves the store exactly as the round before.
 * The ack outbox round-trips and deletes committed acks; past its bound the
 * oldest open acks are dropped and counted; its in-memory index of open acks
 * finds every one after a reopen; an outbox of the old layout is migrated.  Compaction stores
 * the snapshot and drops the log up to its index in one transaction (a crash
 * in the middle leaves the round before); the blocks table round-trips, in
 * height order, and a block written just before the process dies is there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "node.h"
#include "voterd.h"
#include "chorus/backpressure.h"
#include "tap.h"

static char dir[] = "/tmp/chorus-raftstore.XXXXXX";

static struct raftstore *reopen(struct raftstore *rs)
{
	char err[256];

	int lost;

	raftstore_close(rs);
	if (raftstore_open(&rs, dir, &lost, err, sizeof err) != 0) {
		printf("# %s\n", err);
		exit(1);
	}
	return rs;
}

/* A round of n entries from index lo in term, with a hard state. */
static void round_of(struct raft_ready *rd, struct raft_entry *ents, uint64_t lo, size_t n,
                     uint64_t term, uint64_t truncate_from)
{
	static const char *const data[] = { "alpha", "bravo", "charlie", "delta", "echo" };

	memset(rd, 0, sizeof *rd);
	for (size_t i = 0; i < n; i++) {
		ents[i].index = lo + i;
		ents[i].term = term;
		ents[i].type = RAFT_ENTRY_NORMAL;
		ents[i].data = (const uint8_t *)data[i % 5];
		ents[i].len = (uint32_t)strlen(data[i % 5]);
	}
	rd->entries = ents;
	rd->nentries = n;
	rd->truncate_from = truncate_from;
	rd->hs_changed = 1;
	rd->hs.term = term;
	rd->hs.vote = 7;
	rd->hs.commit = lo + n - 1;
}

static int load_is(struct raftstore *rs, size_t n, uint64_t last_term, uint64_t commit)
{
	struct raft_boot b;
	int r = raftstore_load(rs, &b), good;

	good = r == 0 && b.nentries == n && b.hs.commit == commit && b.snap.conf.n == 3 &&
	       (n == 0 || (b.entries[n - 1].term == last_term && b.entries[n - 1].index == n &&
	                   b.entries[0].len == 5 && memcmp(b.entries[0].data, "alpha", 5) == 0));
	if (!good)
		printf("# load: r=%d n=%zu commit=%llu\n", r, b.nentries,
		       (unsigned long long)b.hs.commit);
	raftstore_boot_free(rs);
	return good;
}

static void test_round_trip(struct raftstore **rsp)
{
	struct raft_conf conf = { .n = 3, .ids = { 1, 2, 3 } };
	struct raft_boot b;
	struct raft_ready rd;
	struct raft_entry ents[8];

	ok(raftstore_load(*rsp, &b) == 1, "a new store has never booted");
	ok(raftstore_init(*rsp, &conf) == 0, "init with 3 voters");
	round_of(&rd, ents, 1, 5, 1, 0);
	ok(raftstore_save(*rsp, &rd) == 0, "a round of 5 entries and a hard state is saved");
	*rsp = reopen(*rsp);
	ok(load_is(*rsp, 5, 1, 5), "after reopening: the 5 entries, the hard state and the voters");
	round_of(&rd, ents, 4, 3, 2, 4);
	ok(raftstore_save(*rsp, &rd) == 0, "a round that truncates from 4 and appends 3 of term 2");
	*rsp = reopen(*rsp);
	ok(load_is(*rsp, 6, 2, 6), "after reopening: 3 old + 3 new entries, the last of term 2");
	/* A round that only moves the commit index writes nothing; the next real round carries it. */
	round_of(&rd, ents, 7, 0, 2, 0);
	rd.hs.term = 2;
	rd.hs.vote = 7;
	rd.hs.commit = 5; /* any other value: the store keeps what it is given */
	ok(raftstore_save(*rsp, &rd) == 0 && load_is(*rsp, 6, 2, 6),
	   "a commit-only round succeeds and writes nothing");
	round_of(&rd, ents, 7, 0, 3, 0); /* a new term: written, with its commit index */
	rd.hs.commit = 6;
	ok(raftstore_save(*rsp, &rd) == 0 && (*rsp = reopen(*rsp)) != NULL && load_is(*rsp, 6, 2, 6),
	   "a round with a new term is written, commit index included");
}

static void test_fault(struct raftstore **rsp)
{
	struct raft_ready rd;
	struct raft_entry ents[8];

	round_of(&rd, ents, 5, 4, 3, 5);
	raftstore_fault_at = 3;
	ok(raftstore_save(*rsp, &rd) != 0, "a round whose third write fails reports an error");
	raftstore_fault_at = 0;
	*rsp = reopen(*rsp);
	ok(load_is(*rsp, 6, 2, 6), "nothing of the failed round is stored (truncation included)");
}

static void test_crash(struct raftstore **rsp)
{
	struct raft_ready rd;
	struct raft_entry ents[8];
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		round_of(&rd, ents, 5, 4, 3, 5);
		raftstore_fault_at = 4;
		raftstore_fault_crash = 1;
		(void)raftstore_save(*rsp, &rd); /* dies at the 4th write, transaction open */
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 3, "the child died in the middle of a round");
	*rsp = reopen(*rsp);
	ok(load_is(*rsp, 6, 2, 6), "after the crash: the store is the round before, whole");
	round_of(&rd, ents, 5, 4, 3, 5);
	ok(raftstore_save(*rsp, &rd) == 0, "the same round saved again");
	*rsp = reopen(*rsp);
	ok(load_is(*rsp, 8, 3, 8), "and it is all there");
}

static long long outbox_rows(void);

/* A job id (32 hex digits) for a short tag: the tag's bytes in hex, then zeros. */
static const char *jid(const char *tag)
{
	static char buf[4][CHORUS_JOB_ID_HEX + 1];
	static unsigned next;
	char *out = buf[next++ % 4];
	size_t i = 0;

	for (; tag[i] != '\0' && 2 * i < CHORUS_JOB_ID_HEX; i++)
		snprintf(out + 2 * i, 3, "%02x", (unsigned char)tag[i]);
	memset(out + 2 * i, '0', CHORUS_JOB_ID_HEX - 2 * i);
	out[CHORUS_JOB_ID_HEX] = '\0';
	return out;
}

static int outbox_n;
static void outbox_count(void *ctx, const char *job, const struct ledger_entry *e)
{
	(void)ctx;
	outbox_n += strcmp(job, jid("j1")) == 0 && e->ack_len == 3 && memcmp(e->ack_text, "ack", 3) == 0;
}

static void test_outbox(struct raftstore **rsp)
{
	static struct ledger_entry e;
	uint64_t created = 0;

	memcpy(e.ack_text, "ack", 3);
	e.ack_len = 3;
	memcpy(e.receipt_text, "receipt", 7);
	e.receipt_len = 7;
	e.ack_auth.count = e.receipt_auth.count = 1; /* batches of one: their encodings decode */
	ok(raftstore_outbox_put(*rsp, jid("j1"), &e, 1) == 0 && raftstore_outbox_put(*rsp, jid("j1"), &e, 2) == 0,
	   "an ack is put in the outbox (twice: kept once)");
	*rsp = reopen(*rsp);
	ok(raftstore_outbox_each(*rsp, 10, outbox_count, NULL) == 1 && outbox_n == 1,
	   "the outbox survives a reopen");
	ok(raftstore_outbox_done(*rsp, jid("j1"), &created) == 0 && created == 1 &&
	       raftstore_outbox_each(*rsp, 10, outbox_count, NULL) == 0,
	   "a committed ack leaves the pending list (put at 1)");
	ok(raftstore_outbox_done(*rsp, jid("j1"), &created) == 0 && created == 0,
	   "a second commit answer changes nothing");
	ok(outbox_rows() == 0, "a committed ack's row is deleted, not kept");
}

/* Rows in raft.db's outbox, counted beside the store (WAL: another connection sees them). */
static long long outbox_rows(void)
{
	char path[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long n = -1;

	snprintf(path, sizeof path, "%s/raft.db", dir);
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int outbox_all;
static char outbox_first[CHORUS_JOB_ID_HEX + 1]; /* the oldest open ack seen by outbox_any */
static void outbox_any(void *ctx, const char *job, const struct ledger_entry *e)
{
	(void)ctx;
	(void)e;
	if (outbox_all++ == 0)
		snprintf(outbox_first, sizeof outbox_first, "%s", job);
}

/*
 * No bound drops an ack: 100,100 open acks (past the 100,000 the outbox
 * used to keep) are all there, each found by its job, oldest first, and all
 * committed again.  The back-pressure gate (src/core/ledger/backpressure.c) is
 * what keeps the table from growing: refuse from high, accept at low.
 */
static void test_outbox_no_drop(struct raftstore *rs)
{
	static struct ledger_entry e, got;
	char job[CHORUS_JOB_ID_HEX + 1];
	struct backpressure bp;
	int put = 0, found = 0, done = 0, n, ch, flips = 0;
	uint64_t created;
	const int total = 100100;

	e.ack_len = 3;
	e.receipt_len = 3;
	e.ack_auth.count = e.receipt_auth.count = 1;
	(void)raftstore_outbox_begin(rs);
	for (int i = 0; i < total; i++) {
		snprintf(job, sizeof job, "%032x", (unsigned)i * 2654435761u ^ 0x5au);
		e.ack_auth.sig[0] = (uint8_t)i;
		put += raftstore_outbox_put(rs, job, &e, (uint64_t)i + 1) == 0;
	}
	ok(raftstore_outbox_commit(rs) == 0 && put == total, "%d open acks put", put);
	outbox_all = 0;
	n = raftstore_outbox_each(rs, (unsigned)total + 10, outbox_any, NULL);
	ok(n == total && raftstore_outbox_open(rs) == (size_t)total,
	   "none dropped: %d pending, %zu open", n, raftstore_outbox_open(rs));
	(void)raftstore_outbox_begin(rs);
	for (int i = 0; i < total; i++) {
		snprintf(job, sizeof job, "%032x", (unsigned)i * 2654435761u ^ 0x5au);
		found += raftstore_outbox_get(rs, job, &got) == 0 && got.ack_auth.sig[0] == (uint8_t)i;
		done += raftstore_outbox_done(rs, job, &created) == 0 && created == (uint64_t)i + 1;
	}
	ok(raftstore_outbox_commit(rs) == 0 && found == total && done == total &&
	       raftstore_outbox_open(rs) == 0,
	   "each found by its job, the first one too, and each committed (%d, %d)", found, done);
	backpressure_init(&bp, 10);
	ok(bp.low == 8, "marks: high 10, low %llu", (unsigned long long)bp.low);
	ok(backpressure_step(&bp, 9, &ch) == 0 && !ch, "9 open: submits accepted");
	ok(backpressure_step(&bp, 10, &ch) == 1 && ch && ++flips, "10 open: refused (a change)");
	ok(backpressure_step(&bp, 9, &ch) == 1 && !ch && backpressure_step(&bp, 50, &ch) == 1 && !ch,
	   "9, then 50: still refused (hysteresis)");
	ok(backpressure_step(&bp, 8, &ch) == 0 && ch && ++flips, "8 open (the low mark): accepted again");
	ok(backpressure_step(&bp, 9, &ch) == 0 && !ch && flips == 2, "9 again: still accepted");
	backpressure_init(&bp, 1);
	ok(bp.low == 0 && backpressure_step(&bp, 1, &ch) == 1 && backpressure_step(&bp, 0, &ch) == 0,
	   "a mark of 1: refused at 1, accepted at 0");
}

/* raftstore_close on nothing and on a store whose open failed half-way; a damaged file is said. */
static void test_damage(struct raftstore **rsp)
{
	char path[300], msg[512];
	struct raftstore *rs = NULL;
	int lost = -1, r, fd;

	raftstore_close(NULL);
	ok(1, "raftstore_close(NULL) returns");
	raftstore_close(*rsp);
	*rsp = NULL;
	snprintf(path, sizeof path, "%s/raft.db", dir);
	ok(truncate(path, 8192) == 0, "raft.db truncated to 8 KiB (of more)");
	msg[0] = '\0';
	r = raftstore_open(&rs, dir, &lost, msg, sizeof msg);
	ok(r == -EBADMSG && rs == NULL && strstr(msg, "raft.db is damaged") != NULL,
	   "its open fails as damage, without a crash: %s", msg);
	fd = open(path, O_WRONLY | O_TRUNC);
	ok(fd >= 0 && close(fd) == 0, "raft.db truncated to 0 bytes");
	r = raftstore_open(&rs, dir, &lost, msg, sizeof msg);
	ok(r == 0 && lost == 2, "it opens as a store that was lost (lost=%d), not as a first start", lost);
	raftstore_close(rs);
	r = raftstore_open(&rs, dir, &lost, msg, sizeof msg);
	ok(r == 0 && lost == 2, "until the caller keeps it: still lost=%d", lost);
	ok(raftstore_set_lost(rs, dir, 1) == 0, "kept, and flagged");
	raftstore_close(rs);
	r = raftstore_open(&rs, dir, &lost, msg, sizeof msg);
	ok(r == 0 && lost == 1, "a restart remembers the flag (lost=%d)", lost);
	ok(raftstore_set_lost(rs, NULL, 0) == 0, "re-added: the flag cleared");
	raftstore_close(rs);
	r = raftstore_open(&rs, dir, &lost, msg, sizeof msg);
	ok(r == 0 && lost == 0, "and it stays cleared (lost=%d)", lost);
	*rsp = rs;
}

/*
 * raft.db put back from an older copy: the term and vote it holds are
 * older than raft.db.vote, written after every save that moved them; the
 * open says so (lost 3), raftstore_forget leaves a store that never booted.
 */
static void test_older(struct raftstore **rsp)
{
	struct raft_entry ents[2];
	struct raft_ready rd;
	struct raft_boot b;
	char path[300], copy[300], cmd[1400], msg[256];
	int lost = -1, r;

	round_of(&rd, ents, 1, 2, 3, 0);
	ok(raftstore_save(*rsp, &rd) == 0, "older: term 3 saved (vote 7)");
	raftstore_close(*rsp);
	snprintf(path, sizeof path, "%s/raft.db", dir);
	snprintf(copy, sizeof copy, "%s/raft.db.copy", dir);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, copy);
	ok(system(cmd) == 0, "older: a copy of raft.db at term 3");
	r = raftstore_open(rsp, dir, &lost, msg, sizeof msg);
	ok(r == 0 && lost == 0, "older: reopened as it is, not lost (%d)", lost);
	round_of(&rd, ents, 3, 1, 5, 0);
	ok(raftstore_save(*rsp, &rd) == 0, "older: then term 5");
	raftstore_close(*rsp);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s' && rm -f '%s-wal' '%s-shm'", copy, path, path, path);
	ok(system(cmd) == 0, "older: the copy put back");
	r = raftstore_open(rsp, dir, &lost, msg, sizeof msg);
	ok(r == 0 && lost == 3, "older: the open tells it (lost=%d)", lost);
	ok(raftstore_forget(*rsp) == 0 && raftstore_set_lost(*rsp, NULL, 1) == 0 &&
	       raftstore_load(*rsp, &b) == 1,
	   "older: forgotten, it has never booted (and is flagged)");
	raftstore_boot_free(*rsp);
	raftstore_close(*rsp);
	r = raftstore_open(rsp, dir, &lost, msg, sizeof msg);
	ok(r == 0 && lost == 1, "older: a restart keeps the flag (lost=%d)", lost);
}

/* The boot after a compaction: the snapshot (index, bytes) and the entries after it. */
static int load_compacted(struct raftstore *rs, uint64_t snap_index, const char *snap_data,
                          uint64_t first, uint64_t last)
{
	struct raft_boot b;
	int r = raftstore_load(rs, &b), good;
	size_t n = (size_t)(last - first + 1);

	good = r == 0 && b.snap.index == snap_index && b.snap.conf.n == 3 &&
	       b.snap.len == strlen(snap_data) && memcmp(b.snap.data, snap_data, b.snap.len) == 0 &&
	       b.nentries == n && b.entries[0].index == first && b.entries[n - 1].index == last &&
	       raftstore_log_rows(rs) == (long long)n;
	if (!good)
		printf("# load: r=%d snap=%llu n=%zu rows=%lld\n", r, (unsigned long long)b.snap.index,
		       b.nentries, raftstore_log_rows(rs));
	raftstore_boot_free(rs);
	return good;
}

static void test_compact(struct raftstore **rsp)
{
	struct raft_snapshot snap = { .index = 5, .term = 3, .conf = { .n = 3, .ids = { 1, 2, 3 } } };
	int status = 0;
	pid_t pid;

	ok(raftstore_log_rows(*rsp) == 8, "8 log rows before compaction");
	snap.data = (const uint8_t *)"at-five";
	snap.len = 7;
	ok(raftstore_compact(*rsp, &snap) == 0, "compaction at index 5");
	*rsp = reopen(*rsp);
	ok(load_compacted(*rsp, 5, "at-five", 6, 8),
	   "after reopening: the snapshot at 5 with its bytes, entries 6..8 only (3 rows)");
	pid = fork();
	if (pid == 0) {
		snap.index = 7;
		snap.data = (const uint8_t *)"at-seven";
		snap.len = 8;
		raftstore_fault_at = 2;
		raftstore_fault_crash = 1;
		(void)raftstore_compact(*rsp, &snap); /* dies between the snapshot and the log drop */
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 3, "the child died in the middle of a compaction");
	*rsp = reopen(*rsp);
	ok(load_compacted(*rsp, 5, "at-five", 6, 8),
	   "after the crash: the snapshot at 5 and entries 6..8, whole");
	raftstore_fault_at = 1;
	ok(raftstore_compact(*rsp, &snap) != 0, "a compaction whose first write fails reports an error");
	raftstore_fault_at = 0;
	ok(load_compacted(*rsp, 5, "at-five", 6, 8), "and changes nothing");
}

static uint64_t each_heights[8];
static int each_n;
static int each_cb(void *ctx, uint64_t height, const uint8_t *data, size_t len)
{
	(void)ctx;
	if (each_n < 8 && len > 0 && data[0] == (uint8_t)height)
		each_heights[each_n++] = height;
	return height == 3; /* stop after 3 */
}

static void test_blocks(struct raftstore **rsp)
{
	uint8_t hash[LEDGER_HASH_BYTES] = { 0 }, block[100];
	const uint8_t *data;
	size_t len;
	int status = 0, r = 0;
	pid_t pid;

	for (uint64_t h = 4; h >= 1; h--) { /* written downward, as a backfill does */
		memset(block, (int)h, sizeof block);
		r |= raftstore_block_put(*rsp, h, hash, block, 10 * (size_t)h);
	}
	ok(r == 0, "4 blocks put");
	ok(raftstore_block_get(*rsp, 3, &data, &len) == 0 && len == 30 && data[29] == 3,
	   "block 3 reads back");
	ok(raftstore_block_get(*rsp, 9, &data, &len) == -ENOENT, "a missing block is -ENOENT");
	ok(raftstore_block_put(*rsp, 0, hash, block, 10) != 0 && raftstore_block_put(*rsp, 5, hash, block, 0) != 0,
	   "height 0 and an empty block are refused");
	each_n = 0;
	ok(raftstore_blocks_each(*rsp, each_cb, NULL) == 1 && each_n == 3 && each_heights[0] == 1 &&
	       each_heights[2] == 3,
	   "blocks_each goes up in height order and stops when asked");
	pid = fork();
	if (pid == 0) {
		memset(block, 5, sizeof block);
		(void)raftstore_block_put(*rsp, 5, hash, block, 50);
		_exit(3); /* no close, no checkpoint */
	}
	waitpid(pid, &status, 0);
	*rsp = reopen(*rsp);
	ok(WIFEXITED(status) && raftstore_block_get(*rsp, 5, &data, &len) == 0 && len == 50,
	   "a block written just before the process died is there (WAL, synchronous=NORMAL)");
}

/* sql on raft.db beside the store (or with it closed): 0 or -1. */
static int sql_beside(const char *sql)
{
	char path[256];
	sqlite3 *db = NULL;
	int rc;

	snprintf(path, sizeof path, "%s/raft.db", dir);
	rc = sqlite3_open(path, &db) == SQLITE_OK &&
	     sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return rc ? 0 : -1;
}

static char outbox_seen[4][CHORUS_JOB_ID_HEX + 1];
static void outbox_list(void *ctx, const char *job, const struct ledger_entry *e)
{
	int *n = ctx;

	(void)e;
	if (*n < 4)
		snprintf(outbox_seen[*n], sizeof outbox_seen[*n], "%s", job);
	(*n)++;
}

/*
 * The index of open acks lives in memory, the rows have no key: 3000 acks
 * (the index grows from 1024 slots), every third committed, the rest found
 * again by job after a reopen, which rebuilds the index from the table.
 */
static void test_outbox_index(struct raftstore **rsp)
{
	static struct ledger_entry e, got;
	char job[CHORUS_JOB_ID_HEX + 1];
	uint64_t created;
	int put = 0, done = 0, found = 0, gone = 0, n = 0;
	long long before = outbox_rows();

	memcpy(e.ack_text, "ack", 3);
	e.ack_len = 3;
	memcpy(e.receipt_text, "rcpt", 4);
	e.receipt_len = 4;
	e.ack_auth.count = e.receipt_auth.count = 1;
	for (int i = 0; i < 3000; i++) {
		snprintf(job, sizeof job, "%032x", (unsigned)(i * 2654435761u));
		e.ack_auth.sig[0] = (uint8_t)i;
		put += raftstore_outbox_put(*rsp, job, &e, 1000 + (uint64_t)i) == 0;
	}
	for (int i = 0; i < 3000; i += 3) {
		snprintf(job, sizeof job, "%032x", (unsigned)(i * 2654435761u));
		done += raftstore_outbox_done(*rsp, job, &created) == 0 && created == 1000 + (uint64_t)i;
	}
	ok(put == 3000 && done == 1000, "3000 acks put, every third committed (%d, %d)", put, done);
	*rsp = reopen(*rsp);
	for (int i = 0; i < 3000; i++) {
		snprintf(job, sizeof job, "%032x", (unsigned)(i * 2654435761u));
		if (i % 3 == 0)
			gone += raftstore_outbox_get(*rsp, job, &got) == -ENOENT;
		else
			found += raftstore_outbox_get(*rsp, job, &got) == 0 && got.ack_auth.sig[0] == (uint8_t)i &&
			         got.receipt_len == 4;
	}
	ok(found == 2000 && gone == 1000,
	   "after a reopen each open ack is found by its job, each committed one is not (%d, %d)",
	   found, gone);
	ok(raftstore_outbox_each(*rsp, 5000, outbox_list, &n) == 2000 + before && n == 2000 + before,
	   "and the pending list holds the 2000 (and the %lld from before)", before);
	for (int i = 0; i < 3000; i++) {
		snprintf(job, sizeof job, "%032x", (unsigned)(i * 2654435761u));
		if (i % 3 != 0)
			(void)raftstore_outbox_done(*rsp, job, &created);
	}
	ok(outbox_rows() == before, "all committed: no row of theirs left");
}

/*
 * A raft.db from before batch signatures (its outbox has ack_sig columns):
 * those acks carry a signature over each text, which no format-2 ledger can
 * check, so the table is made anew without them.
 */
static void test_outbox_upgrade(struct raftstore **rsp)
{
	int n = 0;

	raftstore_close(*rsp);
	{
		char sql[1024];

		snprintf(sql, sizeof sql,
		         "DROP TABLE outbox;"
		         "CREATE TABLE outbox (job TEXT NOT NULL, ack BLOB NOT NULL,"
		         " ack_sig BLOB NOT NULL, receipt BLOB NOT NULL, receipt_sig BLOB NOT NULL,"
		         " created_ms INTEGER NOT NULL);"
		         "INSERT INTO outbox VALUES ('%s', x'61', zeroblob(64), x'72', zeroblob(64), 20);"
		         "INSERT INTO outbox VALUES ('%s', x'61', zeroblob(64), x'72', zeroblob(64), 10);",
		         jid("newer"), jid("older"));
		ok(sql_beside(sql) == 0, "an outbox of the old layout (a signature per text)");
	}
	{
		char err[256];
		int lost;

		if (raftstore_open(rsp, dir, &lost, err, sizeof err) != 0) {
			printf("# %s\n", err);
			exit(1);
		}
	}
	ok(raftstore_outbox_each(*rsp, 10, outbox_list, &n) == 0 && outbox_rows() == 0,
	   "reopened: its acks, which no ledger could credit now, are gone");
	ok(sql_beside("SELECT ack_sig FROM outbox") != 0 &&
	       sql_beside("SELECT ack_auth, receipt_auth FROM outbox") == 0,
	   "the table has the new layout (authenticators)");
	{
		static struct ledger_entry e, got;

		memcpy(e.ack_text, "a", 1);
		e.ack_len = 1;
		memcpy(e.receipt_text, "r", 1);
		e.receipt_len = 1;
		e.ack_auth.count = e.receipt_auth.count = 3;
		e.ack_auth.index = 2;
		e.ack_auth.nproof = 2;
		e.ack_auth.proof[1][7] = 9;
		ok(raftstore_outbox_put(*rsp, jid("new"), &e, 1) == 0 &&
		       raftstore_outbox_get(*rsp, jid("new"), &got) == 0 &&
		       memcmp(&got.ack_auth, &e.ack_auth, sizeof e.ack_auth) == 0 &&
		       memcmp(&got.receipt_auth, &e.receipt_auth, sizeof e.receipt_auth) == 0,
		   "an ack's authenticators (a proof of 2) round-trip through the new table");
	}
}

int main(void)
{
	struct raftstore *rs;
	char err[256];

	if (mkdtemp(dir) == NULL)
		return 1;
	int lost;

	ok(raftstore_open(&rs, dir, &lost, err, sizeof err) == 0 && lost == 0, "open %s/raft.db", dir);
	test_round_trip(&rs);
	test_fault(&rs);
	test_crash(&rs);
	test_compact(&rs);
	test_blocks(&rs);
	test_outbox(&rs);
	test_outbox_no_drop(rs);
	test_outbox_index(&rs);
	test_outbox_upgrade(&rs);
	test_damage(&rs);
	test_older(&rs);
	raftstore_close(rs);
	{
		char cmd[128];

		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		(void)system(cmd);
	}
	return tap_done();
}

/*
 * floor-bench: what this machine allows the ledger at best, from the parts
 * no code of ours can avoid.  It runs none of chorus; it times the pieces
 * a committed ledger entry must go through, with the same libraries and
 * settings the node uses:
 *
 *   verify  one ed25519 verification of a 512-byte text (libsodium), the
 *           check every voter makes of both signatures of every entry;
 *   commit  one SQLite transaction like a Raft round of raftstore (WAL,
 *           synchronous=FULL: a 1 KiB log row and the hard state), first in
 *           one process, then in 3 processes at once on their own files (3
 *           voters on one disk), after a warm-up that takes the WAL through
 *           a few checkpoints (it is then rewritten in place);
 *   hop     one message from one process to another over nng PUSH/PULL on
 *           loopback TCP, received the way the node receives (poll on
 *           NNG_OPT_RECVFD, then a non-blocking receive): half a round trip.
 *
 *   floor-bench [-n ITERATIONS] [-d DIR]
 *
 * Prints the median (and p90) of each in microseconds, then two floors:
 *   - one writer's submit-to-commit latency cannot be below
 *     hop (leader to follower) + commit (3 at once) + hop (back): the
 *     follower's append must be durable and acknowledged before the leader
 *     may commit, even with no HTTP, no parsing and no work at all;
 *   - with 3 voters verifying 2 signatures of every entry on the cores
 *     this machine has, entries/s cannot exceed cores * 1e6 / (6 * verify).
 */
#include <errno.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <sodium.h>
#include <sqlite3.h>

#define FLOOR_N_MAX     100000
#define FLOOR_VOTERS    3
#define FLOOR_TEXT      512
#define FLOOR_ROW       1024
#define FLOOR_HOP_MS    5000 /* a message that takes longer than this: give up */
#define FLOOR_WARM      1500 /* untimed transactions first (see floor_commit) */

static double floor_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int floor_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v and returns its median; *p90 gets the 90th percentile. */
static double floor_median(double *v, int n, double *p90)
{
	qsort(v, (size_t)n, sizeof *v, floor_cmp);
	*p90 = v[n * 9 / 10];
	return v[n / 2];
}

/* ---------------------------------------------------------------- verify */

static double floor_verify(int n, double *p90)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	unsigned char text[FLOOR_TEXT], sig[crypto_sign_BYTES];
	double *t = calloc((size_t)n, sizeof *t), med;

	if (t == NULL)
		return -1;
	crypto_sign_keypair(pk, sk);
	randombytes_buf(text, sizeof text);
	crypto_sign_detached(sig, NULL, text, sizeof text, sk);
	for (int i = 0; i < n; i++) {
		double t0 = floor_now_us();

		if (crypto_sign_verify_detached(sig, text, sizeof text, pk) != 0) {
			free(t);
			return -1;
		}
		t[i] = floor_now_us() - t0;
	}
	med = floor_median(t, n, p90);
	free(t);
	return med;
}

/* ---------------------------------------------------------------- commit */

/* DIR/floor-K.db and its WAL and shared-memory files are gone (a killed run leaves them). */
static void floor_unlink(const char *dir, int k)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char path[4096];

	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		snprintf(path, sizeof path, "%s/floor-%d.db%s", dir, k, suffix[i]);
		unlink(path);
	}
}

/* n transactions on DIR/floor-K.db; median and p90 in us, or -1. */
static double floor_commit(const char *dir, int k, int n, double *p90)
{
	char path[4096];
	sqlite3 *db = NULL;
	sqlite3_stmt *put = NULL, *hs = NULL;
	unsigned char row[FLOOR_ROW];
	double *t = calloc((size_t)n, sizeof *t), med = -1;
	int ok = t != NULL;

	floor_unlink(dir, k);
	snprintf(path, sizeof path, "%s/floor-%d.db", dir, k);
	ok = ok && sqlite3_open(path, &db) == SQLITE_OK &&
	     sqlite3_exec(db,
	                  "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	                  "CREATE TABLE log (idx INTEGER PRIMARY KEY, term INTEGER, data BLOB);"
	                  "CREATE TABLE hard (id INTEGER PRIMARY KEY, term INTEGER, vote INTEGER,"
	                  " commit_index INTEGER);"
	                  "INSERT INTO hard VALUES (1, 1, 0, 0);",
	                  NULL, NULL, NULL) == SQLITE_OK &&
	     sqlite3_prepare_v2(db, "INSERT INTO log VALUES (?1, 1, ?2)", -1, &put, NULL) == SQLITE_OK &&
	     sqlite3_prepare_v2(db, "UPDATE hard SET commit_index = ?1 WHERE id = 1", -1, &hs,
	                        NULL) == SQLITE_OK;
	randombytes_buf(row, sizeof row);
	/*
	 * The first FLOOR_WARM transactions are not timed: they take the WAL
	 * through a few checkpoints, after which it is rewritten in place, as in
	 * a node that has been running a while (appending to a growing file
	 * costs a journal commit of its size on every sync).
	 */
	for (int i = -FLOOR_WARM; ok && i < n; i++) {
		double t0 = floor_now_us();

		ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
		sqlite3_bind_int64(put, 1, i + FLOOR_WARM + 1);
		sqlite3_bind_blob(put, 2, row, sizeof row, SQLITE_STATIC);
		ok = ok && sqlite3_step(put) == SQLITE_DONE;
		sqlite3_reset(put);
		sqlite3_bind_int64(hs, 1, i);
		ok = ok && sqlite3_step(hs) == SQLITE_DONE;
		sqlite3_reset(hs);
		ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
		if (i >= 0)
			t[i] = floor_now_us() - t0;
	}
	if (ok)
		med = floor_median(t, n, p90);
	sqlite3_finalize(put);
	sqlite3_finalize(hs);
	sqlite3_close(db);
	floor_unlink(dir, k);
	free(t);
	return med;
}

/* FLOOR_VOTERS processes commit at once; the worst of their medians (and p90s). */
static double floor_commit_together(const char *dir, int n, double *p90)
{
	int fds[FLOOR_VOTERS][2];
	pid_t pids[FLOOR_VOTERS];
	double worst = 0, worst90 = 0;

	for (int k = 0; k < FLOOR_VOTERS; k++) {
		if (pipe(fds[k]) != 0 || (pids[k] = fork()) < 0)
			return -1;
		if (pids[k] == 0) {
			double r[2];

			close(fds[k][0]);
			r[0] = floor_commit(dir, k + 1, n, &r[1]);
			_exit(write(fds[k][1], r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
		}
		close(fds[k][1]);
	}
	for (int k = 0; k < FLOOR_VOTERS; k++) {
		double r[2] = { -1, -1 };

		if (read(fds[k][0], r, sizeof r) != (ssize_t)sizeof r || r[0] < 0)
			worst = -1;
		else if (worst >= 0 && r[0] > worst)
			worst = r[0];
		if (r[1] > worst90)
			worst90 = r[1];
		close(fds[k][0]);
		waitpid(pids[k], NULL, 0);
	}
	*p90 = worst90;
	return worst;
}

/* ---------------------------------------------------------------- hop */

/* One message from sock's inbox, received as the node does; 0 or -1 (error, 5 s). */
static int floor_recv(nng_socket in, int fd, nng_msg **msg)
{
	double deadline = floor_now_us() + FLOOR_HOP_MS * 1e3;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rv = nng_recvmsg(in, msg, NNG_FLAG_NONBLOCK);

		if (rv == 0)
			return 0;
		if (rv != NNG_EAGAIN || floor_now_us() > deadline)
			return -1;
		(void)poll(&p, 1, 100);
	}
}

/* An inbox on 127.0.0.1 (a free port), its address in url; 0 or -1. */
static int floor_inbox(nng_socket *in, int *fd, char *url, size_t len)
{
	nng_listener l;
	nng_sockaddr sa;

	if (nng_pull0_open(in) != 0 || nng_listen(*in, "tcp://127.0.0.1:0", &l, 0) != 0 ||
	    nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0 ||
	    nng_socket_get_int(*in, NNG_OPT_RECVFD, fd) != 0)
		return -1;
	snprintf(url, len, "tcp://127.0.0.1:%u", (unsigned)ntohs(sa.s_in.sa_port));
	return 0;
}

/* A PUSH socket dialled to url, waiting until connected; 0 or -1. */
static int floor_outbox(nng_socket *out, const char *url)
{
	return nng_push0_open(out) == 0 && nng_dial(*out, url, NULL, 0) == 0 ? 0 : -1;
}

/*
 * Ping-pong: the child echoes every message back; the parent times n round
 * trips of a 200-byte message (about a Raft append response).  Half the
 * round trip, median and p90, in us; -1 on failure.  nng is not safe
 * across fork(): the child is made first, and each side then opens its own
 * sockets and tells the other its inbox's address through a pipe.
 */
static double floor_hop(int n, double *p90)
{
	nng_socket in, out;
	int fd, down[2], up[2];
	char url[64] = "", child_url[64] = "";
	double *t = calloc((size_t)n, sizeof *t), med = -1;
	pid_t pid;
	int ok;

	if (t == NULL || pipe(down) != 0 || pipe(up) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		nng_socket cin, cout;
		int cfd;
		nng_msg *m;

		close(up[0]);
		close(down[1]);
		if (floor_inbox(&cin, &cfd, child_url, sizeof child_url) != 0 ||
		    write(up[1], child_url, sizeof child_url) != (ssize_t)sizeof child_url ||
		    read(down[0], url, sizeof url) != (ssize_t)sizeof url || floor_outbox(&cout, url) != 0)
			_exit(1);
		for (int i = 0; i < n + 1 && floor_recv(cin, cfd, &m) == 0; i++)
			if (nng_sendmsg(cout, m, 0) != 0)
				nng_msg_free(m);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	ok = floor_inbox(&in, &fd, url, sizeof url) == 0 &&
	     write(down[1], url, sizeof url) == (ssize_t)sizeof url &&
	     read(up[0], child_url, sizeof child_url) == (ssize_t)sizeof child_url &&
	     floor_outbox(&out, child_url) == 0;
	for (int i = -1; ok && i < n; i++) { /* the first round trip warms up */
		nng_msg *m;
		double t0 = floor_now_us();

		ok = nng_msg_alloc(&m, 200) == 0;
		if (ok && nng_sendmsg(out, m, 0) != 0) {
			nng_msg_free(m);
			ok = 0;
		}
		ok = ok && floor_recv(in, fd, &m) == 0;
		if (ok)
			nng_msg_free(m);
		if (i >= 0)
			t[i] = (floor_now_us() - t0) / 2;
	}
	if (ok)
		med = floor_median(t, n, p90);
	else
		kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(up[0]);
	close(down[1]);
	free(t);
	return med;
}

int main(int argc, char **argv)
{
	int n = 2000, opt;
	const char *dir = ".";
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double v, v90, c1, c190, c3, c390, h, h90;

	while ((opt = getopt(argc, argv, "n:d:")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 'd')
			dir = optarg;
		else {
			fprintf(stderr, "usage: floor-bench [-n ITERATIONS] [-d DIR]\n");
			return 2;
		}
	}
	if (n < 10 || n > FLOOR_N_MAX || sodium_init() < 0) {
		fprintf(stderr, "floor-bench: -n must be 10..%d\n", FLOOR_N_MAX);
		return 2;
	}
	if ((v = floor_verify(n, &v90)) < 0 || (c1 = floor_commit(dir, 0, n / 4, &c190)) < 0 ||
	    (c3 = floor_commit_together(dir, n / 4, &c390)) < 0 || (h = floor_hop(n, &h90)) < 0) {
		fprintf(stderr, "floor-bench: a measurement failed (%s)\n", strerror(errno));
		return 1;
	}
	printf("machine: %ld cores\n", cores);
	printf("verify  ed25519, %d-byte text:                 p50 %7.1f us  p90 %7.1f us\n",
	       FLOOR_TEXT, v, v90);
	printf("commit  SQLite WAL FULL, 1 KiB row, alone:      p50 %7.1f us  p90 %7.1f us\n", c1,
	       c190);
	printf("commit  the same, %d processes at once (worst): p50 %7.1f us  p90 %7.1f us\n",
	       FLOOR_VOTERS, c3, c390);
	printf("hop     nng push/pull, loopback, one way:       p50 %7.1f us  p90 %7.1f us\n", h,
	       h90);
	printf("floor   one writer's commit (hop + commit x%d + hop): %.0f us\n", FLOOR_VOTERS,
	       2 * h + c3);
	printf("ceiling entries/s with 6 verifications each on %ld cores: %.0f\n", cores,
	       (double)cores * 1e6 / (6 * v));
	return 0;
}

/*
 * runner: built-ins and commands run off the loop; timeouts and cancels kill
 * whole process groups; bounds hold; done_cb comes once, from the loop; no
 * zombies.  Every loop turn here is bounded in time, and every wait has a
 * deadline, so a broken runner fails the test instead of hanging it.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "runner.h"
#include "tap.h"

#define TEST_TAGS_MAX 2048
#define TEST_WAIT_MS  5000 /* the longest any single job may take here */

struct test_done {
	int calls;
	struct runner_result res;
	uint8_t *out;
};

static struct test_done test_log[TEST_TAGS_MAX];
static int test_in_start;    /* set around runner_start and runner_cancel */
static int test_reentrant;   /* done_cb calls made from inside them */
static struct runner *test_chain_runner; /* done_cb of tag 900 starts tag 901 */
static int test_chain_rc = 1;
static struct runner *test_doomed; /* done_cb of tag 950 destroys it */

static uint64_t
test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
test_done_cb(void *ctx, uint64_t tag, const struct runner_result *res)
{
	struct test_done *d;
	(void)ctx;

	if (test_in_start)
		test_reentrant++;
	if (tag >= TEST_TAGS_MAX)
		return;
	d = &test_log[tag];
	d->calls++;
	d->res = *res;
	free(d->out);
	d->out = malloc(res->output_len + 1);
	if (d->out == NULL)
		abort();
	memcpy(d->out, res->output, res->output_len);
	d->out[res->output_len] = '\0';
	d->res.output = d->out;
	if (tag == 950 && test_doomed != NULL) {
		runner_destroy(test_doomed);
		test_doomed = NULL;
	}
	if (tag == 900 && test_chain_runner != NULL)
		test_chain_rc = runner_start(test_chain_runner, 901, "echo", (const uint8_t *)"x",
		                             1, 1000);
}

static int
test_start(struct runner *r, uint64_t tag, const char *kind, const char *payload,
           uint32_t timeout_ms)
{
	int rc;

	test_in_start = 1;
	rc = runner_start(r, tag, kind, (const uint8_t *)payload, payload ? strlen(payload) : 0,
	                  timeout_ms);
	test_in_start = 0;
	return rc;
}

static int
test_cancel(struct runner *r, uint64_t tag)
{
	int rc;

	test_in_start = 1;
	rc = runner_cancel(r, tag);
	test_in_start = 0;
	return rc;
}

/* One bounded turn of the loop. */
static void
test_turn(struct event_base *base)
{
	struct timeval tv = { 0, 20000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
test_run_for(struct event_base *base, uint32_t ms)
{
	uint64_t end = test_now_ms() + ms;

	while (test_now_ms() < end)
		test_turn(base);
}

/* Run the loop until tag is delivered or limit_ms pass. */
static int
test_wait(struct event_base *base, uint64_t tag, uint32_t limit_ms)
{
	uint64_t end = test_now_ms() + limit_ms;

	while (test_log[tag].calls == 0 && test_now_ms() < end)
		test_turn(base);
	return test_log[tag].calls > 0;
}

/* Gone or a zombie (killed, waiting for a parent that may never reap: pid 1 in a container). */
static int
test_proc_dead(long pid)
{
	char path[64], buf[512], *paren;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 1;
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static int
test_wait_dead(long pid, uint32_t limit_ms)
{
	uint64_t end = test_now_ms() + limit_ms;

	while (!test_proc_dead(pid) && test_now_ms() < end)
		usleep(10000);
	return test_proc_dead(pid);
}

/* Read up to max pids written by a job to path. */
static int
test_read_pids(const char *path, long *pids, int max)
{
	FILE *fp = fopen(path, "r");
	int n = 0;

	if (fp == NULL)
		return 0;
	while (n < max && fscanf(fp, "%ld", &pids[n]) == 1)
		n++;
	fclose(fp);
	return n;
}

/* Start a job and run the loop until it is delivered: 1 if it was. */
static int
test_run(struct event_base *base, struct runner *r, uint64_t tag, const char *kind,
         const char *payload, uint32_t timeout_ms)
{
	return test_start(r, tag, kind, payload, timeout_ms) == 0 &&
	       test_wait(base, tag, TEST_WAIT_MS);
}

static int
test_is(uint64_t tag, enum runner_status status)
{
	return test_log[tag].calls == 1 && test_log[tag].res.status == status;
}

static void
test_add(struct runner *r, const char *spec)
{
	char err[256];
	int rc = runner_add_kind(r, spec, err, sizeof err);

	ok(rc == 0, "kind \"%.40s\" is accepted%s%s", spec, rc ? ": " : "", rc ? err : "");
}

static void
test_builtins(struct event_base *base, struct runner *r)
{
	int started;
	const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	uint64_t t0;

	ok(test_start(r, 1, "echo", "hello", 1000) == 0, "echo starts");
	ok(test_log[1].calls == 0, "and done_cb has not run inside runner_start");
	ok(test_wait(base, 1, TEST_WAIT_MS) && test_is(1, RUNNER_OK), "echo is ok");
	ok(test_log[1].res.output_len == 5 && memcmp(test_log[1].out, "hello", 5) == 0 &&
	           test_log[1].res.error[0] == '\0',
	   "echo returns the payload, no error");
	started = test_run(base, r, 2, "echo", NULL, 1000);
	ok(started && test_is(2, RUNNER_OK) && test_log[2].res.output_len == 0,
	   "echo of nothing is ok and empty");
	started = test_run(base, r, 3, "sha256", "abc", 1000);
	ok(started && test_is(3, RUNNER_OK),
	   "sha256 is ok");
	ok(test_log[3].res.output_len == 64 && strcmp((char *)test_log[3].out, abc) == 0,
	   "sha256(\"abc\") is the FIPS 180-2 vector: %s", (char *)test_log[3].out);
	started = test_run(base, r, 4, "fail", "x", 1000);
	ok(started && test_is(4, RUNNER_FAILED) &&
	           strcmp(test_log[4].res.error, "the fail kind always fails") == 0,
	   "fail fails: %s", test_log[4].res.error);

	t0 = test_now_ms();
	ok(test_start(r, 5, "sleep", "300", 2000) == 0 &&
	           test_start(r, 6, "sleep", "300", 2000) == 0,
	   "two 300 ms sleeps start");
	test_wait(base, 5, TEST_WAIT_MS);
	test_wait(base, 6, TEST_WAIT_MS);
	ok(test_is(5, RUNNER_OK) && test_is(6, RUNNER_OK) &&
	           strcmp((char *)test_log[5].out, "slept 300 ms") == 0,
	   "both sleep: %s", (char *)test_log[5].out);
	ok(test_now_ms() - t0 < 550 && test_log[5].res.duration_ms >= 290,
	   "in parallel, not blocking the loop (%llu ms for both, %llu each)",
	   (unsigned long long)(test_now_ms() - t0),
	   (unsigned long long)test_log[5].res.duration_ms);
	started = test_run(base, r, 7, "sleep", "3OO", 1000);
	ok(started && test_is(7, RUNNER_FAILED) && strstr(test_log[7].res.error, "decimal") != NULL,
	   "a bad sleep payload fails: %s", test_log[7].res.error);
	started = test_run(base, r, 8, "sleep", "-5", 1000);
	ok(started && test_is(8, RUNNER_FAILED),
	   "a negative sleep fails");
}

static void
test_builtin_stops(struct event_base *base, struct runner *r)
{
	int started;
	started = test_run(base, r, 10, "sleep", "5000", 100);
	ok(started && test_is(10, RUNNER_TIMEOUT) &&
	           strcmp(test_log[10].res.error, "timed out after 100 ms") == 0 &&
	           test_log[10].res.duration_ms < 1000,
	   "a sleep past its timeout: %s", test_log[10].res.error);
	ok(test_start(r, 11, "sleep", "10000", 60000) == 0, "a long sleep starts");
	test_run_for(base, 50);
	ok(test_cancel(r, 11) == 0 && test_log[11].calls == 0, "cancel: no callback inside it");
	ok(test_wait(base, 11, TEST_WAIT_MS) && test_is(11, RUNNER_CANCELLED) &&
	           strcmp(test_log[11].res.error, "cancelled") == 0,
	   "the sleep is cancelled");
	ok(test_cancel(r, 11) == -ENOENT, "a delivered tag cannot be cancelled");
	ok(test_start(r, 12, "echo", "x", 1000) == 0 && test_cancel(r, 12) == 0 &&
	           test_wait(base, 12, TEST_WAIT_MS) && test_is(12, RUNNER_CANCELLED) &&
	           test_log[12].res.output_len == 0,
	   "an echo cancelled before its delivery reports cancelled, without output");
}

static void
test_commands(struct event_base *base, struct runner *r)
{
	int started;
	uint64_t t0;

	started = test_run(base, r, 20, "upper", "hello world", 2000);
	ok(started && test_is(20, RUNNER_OK) &&
	           strcmp((char *)test_log[20].out, "HELLO WORLD") == 0 &&
	           test_log[20].res.exit_code == 0,
	   "tr a-z A-Z reads the payload and returns stdout: %s", (char *)test_log[20].out);
	started = test_run(base, r, 21, "exit3", "", 2000);
	ok(started && test_is(21, RUNNER_FAILED) && test_log[21].res.exit_code == 3 &&
	           strstr(test_log[21].res.error, "exit status 3") != NULL &&
	           strstr(test_log[21].res.error, "oops") != NULL,
	   "exit 3 fails with the status and stderr: %s", test_log[21].res.error);
	started = test_run(base, r, 22, "selfkill", "", 2000);
	ok(started && test_is(22, RUNNER_FAILED) && test_log[22].res.term_signal == SIGKILL &&
	           test_log[22].res.exit_code == -1 &&
	           strstr(test_log[22].res.error, "killed by signal 9") != NULL,
	   "a command killed by a signal fails: %s", test_log[22].res.error);
	started = test_run(base, r, 23, "noisy", "", 2000);
	ok(started && test_is(23, RUNNER_OK) && test_log[23].res.error[0] == '\0' &&
	           strcmp((char *)test_log[23].out, "ok\n") == 0,
	   "stderr on success is no error");
	started = test_run(base, r, 24, "spew", "", 2000);
	ok(started && test_is(24, RUNNER_FAILED),
	   "a command with 10 KB of stderr fails");
	{
		const char *e = test_log[24].res.error;
		size_t n = strlen(e);
		ok(n > 4 && n <= RUNNER_STDERR_MAX + 40 && strcmp(e + n - 4, "TAIL") == 0 &&
		           strchr(e, '\x01') == NULL && strstr(e, "?") != NULL,
		   "its error keeps the tail of stderr, control bytes shown as '?' (%zu bytes)", n);
	}
	t0 = test_now_ms();
	ok(test_start(r, 25, "nap", "", 2000) == 0 && test_start(r, 26, "nap", "", 2000) == 0,
	   "two 300 ms external sleeps start");
	test_wait(base, 25, TEST_WAIT_MS);
	test_wait(base, 26, TEST_WAIT_MS);
	/*
	 * Both done sooner than one after the other would take: parallel, however
	 * slow a spawn is here (a sanitizer build, a loaded machine), where a
	 * fixed 550 ms bar failed at 650 ms for two 300 ms runs under ASan.
	 */
	ok(test_is(25, RUNNER_OK) && test_is(26, RUNNER_OK) &&
	           test_now_ms() - t0 < test_log[25].res.duration_ms + test_log[26].res.duration_ms &&
	           test_log[25].res.duration_ms >= 290,
	   "and run in parallel (%llu ms for both, %llu and %llu each)",
	   (unsigned long long)(test_now_ms() - t0), (unsigned long long)test_log[25].res.duration_ms,
	   (unsigned long long)test_log[26].res.duration_ms);
}

static void
test_groups(struct event_base *base, struct runner *r, const char *tree_path, const char *bg_path)
{
	long pids[2] = { 0, 0 };
	int started, npids;

	started = test_run(base, r, 30, "tree", "", 300);
	ok(started && test_is(30, RUNNER_TIMEOUT) &&
	           strcmp(test_log[30].res.error, "timed out after 300 ms") == 0 &&
	           test_log[30].res.duration_ms < 1000,
	   "a shell with a background sleep times out: %s (%llu ms)", test_log[30].res.error,
	   (unsigned long long)test_log[30].res.duration_ms);
	npids = test_read_pids(tree_path, pids, 2);
	ok(npids == 2, "it wrote its pids (%ld %ld)", pids[0], pids[1]);
	ok(pids[0] > 0 && test_wait_dead(pids[0], 1000), "the shell is gone");
	ok(pids[1] > 0 && test_wait_dead(pids[1], 1000), "the grandchild sleep is gone too");
	ok(test_log[30].res.output_len == 0, "a timed-out job has no output");

	started = test_run(base, r, 31, "bg", "", 3000);
	ok(started && test_is(31, RUNNER_OK) && strcmp((char *)test_log[31].out, "hi\n") == 0 &&
	           test_log[31].res.duration_ms < 1500,
	   "a shell that leaves a background sleep on stdout ends when it exits (%llu ms)",
	   (unsigned long long)test_log[31].res.duration_ms);
	ok(test_read_pids(bg_path, pids, 1) == 1 && test_wait_dead(pids[0], 1000),
	   "and its stray is killed with its group");
	started = test_run(base, r, 32, "escape", "", 5000);
	ok(started && test_is(32, RUNNER_OK) && strcmp((char *)test_log[32].out, "hi\n") == 0 &&
	           test_log[32].res.duration_ms >= 200 + RUNNER_GRACE_MS - 50 &&
	           test_log[32].res.duration_ms < 1500,
	   "a process that left the group and holds stdout costs only the grace (%llu ms)",
	   (unsigned long long)test_log[32].res.duration_ms);

	ok(test_start(r, 33, "sleeper", "", 60000) == 0, "a 30 s command starts");
	test_run_for(base, 100);
	started = test_cancel(r, 33) == 0 && test_wait(base, 33, TEST_WAIT_MS);
	ok(started &&
	           test_is(33, RUNNER_CANCELLED) && test_log[33].res.duration_ms < 1000 &&
	           strcmp(test_log[33].res.error, "cancelled") == 0,
	   "and is cancelled (%llu ms)", (unsigned long long)test_log[33].res.duration_ms);
	ok(test_start(r, 34, "sleeper", "", 60000) == 0 && test_cancel(r, 34) == 0 &&
	           test_wait(base, 34, TEST_WAIT_MS) && test_is(34, RUNNER_CANCELLED),
	   "a command cancelled before the loop ran is cancelled");
}

static void
test_sizes(struct event_base *base, struct runner *r)
{
	int started;
	size_t big_len = 512 * 1024;
	uint8_t *big = malloc(RUNNER_PAYLOAD_MAX + 1);
	int rc;

	if (big == NULL)
		abort();
	randombytes_buf(big, big_len);
	started = runner_start(r, 40, "cat", big, big_len, 5000) == 0 &&
	          test_wait(base, 40, TEST_WAIT_MS);
	ok(started && test_is(40, RUNNER_OK) && test_log[40].res.output_len == big_len &&
	           memcmp(test_log[40].out, big, big_len) == 0,
	   "512 KiB through cat round-trips exactly (%zu bytes)", test_log[40].res.output_len);
	started = runner_start(r, 41, "ignore", big, big_len, 5000) == 0 &&
	          test_wait(base, 41, TEST_WAIT_MS);
	ok(started && test_is(41, RUNNER_OK),
	   "a command that does not read its 512 KiB stdin is ok (EPIPE is not fatal)");
	started = test_run(base, r, 42, "big", "", 5000);
	ok(started && test_is(42, RUNNER_FAILED) && test_log[42].res.output_len == 0 &&
	           strstr(test_log[42].res.error, "result too large") != NULL,
	   "one byte over RUNNER_RESULT_MAX fails: %s", test_log[42].res.error);
	started = test_run(base, r, 43, "exact", "", 5000);
	ok(started && test_is(43, RUNNER_OK) && test_log[43].res.output_len == RUNNER_RESULT_MAX,
	   "exactly RUNNER_RESULT_MAX is ok");
	started = test_run(base, r, 44, "flood", "", 5000);
	ok(started && test_is(44, RUNNER_FAILED) &&
	           strstr(test_log[44].res.error, "too large") != NULL,
	   "an endless stdout is cut off");
	rc = runner_start(r, 45, "echo", big, RUNNER_PAYLOAD_MAX + 1, 1000);
	ok(rc == -EMSGSIZE, "a payload over RUNNER_PAYLOAD_MAX is refused (%d)", rc);
	started = runner_start(r, 46, "echo", big, RUNNER_PAYLOAD_MAX, 1000) == 0 &&
	          test_wait(base, 46, TEST_WAIT_MS);
	ok(started && test_is(46, RUNNER_OK) &&
	           test_log[46].res.output_len == RUNNER_PAYLOAD_MAX,
	   "a payload of RUNNER_PAYLOAD_MAX is not");
	free(big);
}

static void
test_refusals(struct event_base *base, struct runner *r)
{
	int started;
	int before = test_log[50].calls;

	ok(test_start(r, 50, "nope", "", 1000) == -ENOENT, "an unknown kind is refused");
	ok(test_start(r, 50, NULL, "", 1000) == -ENOENT, "no kind is refused");
	ok(test_start(r, 50, "echo", "", 0) == -EINVAL, "a zero timeout is refused");
	ok(test_start(r, 50, "echo", "", RUNNER_TIMEOUT_MAX_MS + 1) == -EINVAL,
	   "a timeout over RUNNER_TIMEOUT_MAX_MS is refused");
	ok(runner_start(r, 50, "echo", NULL, 3, 1000) == -EINVAL,
	   "a NULL payload with a length is refused");
	ok(test_start(r, 50, "sleep", "1000", 5000) == 0 &&
	           test_start(r, 50, "echo", "", 1000) == -EEXIST,
	   "a running tag cannot start twice");
	ok(runner_running(r) == 1, "one job running");
	ok(runner_cancel(r, 51) == -ENOENT, "an unknown tag cannot be cancelled");
	ok(test_cancel(r, 50) == 0 && test_wait(base, 50, TEST_WAIT_MS) &&
	           test_log[50].calls == before + 1,
	   "refused starts made no callback");
	test_chain_runner = r;
	started = test_run(base, r, 900, "echo", "", 1000);
	ok(started && test_wait(base, 901, TEST_WAIT_MS) && test_chain_rc == 0 &&
	           test_is(901, RUNNER_OK),
	   "done_cb may start the next job");
	test_chain_runner = NULL;
}

static void
test_specs(void)
{
	static const char *bad[] = {
		"", "=", "=true", "A=true", "a b=true", "x=", "x=  \t ", "echo2", "ECHO", " echo",
		"echo ", "a/b=c", "a\tb=c", "\xc3\xa9=true", "a.b=true", "sh", "sleep=",
		"abcdefghijabcdefghijabcdefghij12=true", /* 32 characters */
	};
	struct event_base *base = event_base_new();
	struct runner *r;
	char err[256], spec[RUNNER_COMMAND_MAX + 64];
	const char *names[RUNNER_KINDS_MAX];
	int all = 1, fuzz_ok = 1, rc;

	if (base == NULL || runner_create(&r, base, test_done_cb, NULL) != 0)
		abort();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rc = runner_add_kind(r, bad[i], err, sizeof err);
		if (rc >= 0 || err[0] == '\0') {
			all = 0;
			diag("spec \"%s\" gave %d", bad[i], rc);
		}
	}
	ok(all && runner_kinds(r, names, RUNNER_KINDS_MAX) == 0, "%zu malformed specs are refused with a reason",
	   sizeof bad / sizeof bad[0]);
	ok(runner_add_kind(r, NULL, err, sizeof err) == -EINVAL, "a NULL spec is refused");
	ok(runner_add_kind(r, "abcdefghijabcdefghijabcdefghij1=true", err, sizeof err) == 0,
	   "a 31-character kind name is fine");
	memset(spec, 'x', sizeof spec);
	memcpy(spec, "long=", 5);
	spec[5 + RUNNER_COMMAND_MAX + 1] = '\0';
	rc = runner_add_kind(r, spec, err, sizeof err);
	ok(rc == -EINVAL, "a command over RUNNER_COMMAND_MAX: %s", err);
	spec[5 + RUNNER_COMMAND_MAX] = '\0';
	ok(runner_add_kind(r, spec, err, sizeof err) == 0,
	   "a command of RUNNER_COMMAND_MAX is fine");
	rc = runner_add_kind(r, "long=true", err, sizeof err);
	ok(rc == -EEXIST, "a kind given twice: %s", err);
	ok(runner_add_kind(r, "echo", NULL, 0) == 0 &&
	           runner_add_kind(r, "echo", NULL, 0) == -EEXIST,
	   "err may be NULL with errlen 0");

	/* Random specs over a hostile alphabet: an error with a reason, or a kind that exists. */
	for (int i = 0; i < 20000; i++) {
		static const char alphabet[] = "az09_-=AZ !\t/.\n\xff\x01ehocs";
		size_t len = randombytes_uniform(40);
		for (size_t j = 0; j < len; j++)
			spec[j] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
		spec[len] = '\0';
		rc = runner_add_kind(r, spec, err, sizeof err);
		if (rc == -ENOSPC) {
			runner_destroy(r);
			if (runner_create(&r, base, test_done_cb, NULL) != 0)
				abort();
		} else if ((rc < 0 && err[0] == '\0') || (rc == 0 && err[0] != '\0') || rc > 0) {
			fuzz_ok = 0;
			diag("spec \"%s\" gave %d (%s)", spec, rc, err);
		}
	}
	ok(fuzz_ok, "20000 random specs: refused with a reason or accepted, never a crash");
	runner_destroy(r);

	if (runner_create(&r, base, test_done_cb, NULL) != 0)
		abort();
	all = 1;
	for (int i = 0; i < RUNNER_KINDS_MAX; i++) {
		snprintf(spec, sizeof spec, "k%d=true", i);
		all &= runner_add_kind(r, spec, err, sizeof err) == 0;
	}
	ok(all && runner_add_kind(r, "one-more=true", err, sizeof err) == -ENOSPC,
	   "kind %d is refused: %s", RUNNER_KINDS_MAX + 1, err);
	runner_destroy(r);
	event_base_free(base);
}

static void
test_bounds(void)
{
	struct event_base *base = event_base_new();
	struct runner *r;
	char err[256];
	int all = 1, calls = 0, rc;

	if (base == NULL || runner_create(&r, base, test_done_cb, NULL) != 0 ||
	    runner_add_kind(r, "sleep", err, sizeof err) != 0)
		abort();
	for (uint64_t t = 1000; t < 1000 + RUNNER_JOBS_MAX; t++)
		all &= runner_start(r, t, "sleep", (const uint8_t *)"60000", 5, 120000) == 0;
	rc = runner_start(r, 1000 + RUNNER_JOBS_MAX, "sleep", (const uint8_t *)"1", 1, 1000);
	ok(all && rc == -EAGAIN && runner_running(r) == RUNNER_JOBS_MAX,
	   "%d jobs run, one more is refused (%d)", RUNNER_JOBS_MAX, rc);
	runner_destroy(r);
	test_run_for(base, 50);
	for (uint64_t t = 1000; t <= 1000 + RUNNER_JOBS_MAX; t++)
		calls += test_log[t].calls;
	ok(calls == 0, "runner_destroy drops running jobs without callbacks");
	event_base_free(base);
}

/* done_cb may destroy its runner, with other jobs about to be delivered and running. */
/* runner_set_kinds (a reload): all or nothing; a job of a kind removed runs to its end. */
static void
test_set_kinds(void)
{
	struct event_base *base = event_base_new();
	struct runner *r = NULL;
	const char *before[] = { "echo", "cmd=echo one", "nap=sleep 0.3; echo napped" };
	const char *after[] = { "echo", "cmd=echo two", "up=tr a-z A-Z" };
	const char *bad[] = { "echo", "bad kind!" };
	const char *twice[] = { "echo", "echo" };
	const char *names[RUNNER_KINDS_MAX];
	char err[256];

	if (base == NULL || runner_create(&r, base, test_done_cb, NULL) != 0 ||
	    runner_set_kinds(r, before, 3, err, sizeof err) != 0) {
		ok(0, "set_kinds: a runner with three kinds");
		return;
	}
	ok(test_run(base, r, 2030, "cmd", NULL, 1000) && strcmp((const char *)test_log[2030].out, "one\n") == 0,
	   "set_kinds: the first command runs");
	ok(test_start(r, 2031, "nap", NULL, 2000) == 0, "set_kinds: a job of a kind about to go");
	ok(runner_set_kinds(r, after, 3, err, sizeof err) == 0, "set_kinds: a new set is taken");
	ok(runner_kinds(r, names, RUNNER_KINDS_MAX) == 3 && strcmp(names[2], "up") == 0,
	   "set_kinds: runner_kinds lists the new set");
	ok(test_run(base, r, 2032, "cmd", NULL, 1000) && strcmp((const char *)test_log[2032].out, "two\n") == 0,
	   "set_kinds: a changed command runs the new one");
	ok(test_run(base, r, 2033, "up", "x", 1000) && strcmp((const char *)test_log[2033].out, "X") == 0,
	   "set_kinds: an added kind runs");
	ok(test_start(r, 2034, "nap", NULL, 1000) == -ENOENT, "set_kinds: a removed kind is unknown");
	ok(test_wait(base, 2031, TEST_WAIT_MS) && test_is(2031, RUNNER_OK) &&
	           strcmp((const char *)test_log[2031].out, "napped\n") == 0,
	   "set_kinds: the job that ran when its kind went ends as it would have");
	ok(runner_set_kinds(r, bad, 2, err, sizeof err) == -EINVAL &&
	           runner_set_kinds(r, twice, 2, err, sizeof err) == -EEXIST,
	   "set_kinds: a bad or repeated kind is refused");
	ok(runner_kinds(r, names, RUNNER_KINDS_MAX) == 3 && test_run(base, r, 2035, "up", "y", 1000) &&
	           strcmp((const char *)test_log[2035].out, "Y") == 0,
	   "set_kinds: a refused set changes nothing");
	runner_destroy(r);
	event_base_free(base);
}

static void
test_destroy_in_cb(void)
{
	struct event_base *base = event_base_new();
	char err[256];

	if (base == NULL || runner_create(&test_doomed, base, test_done_cb, NULL) != 0 ||
	    runner_add_kind(test_doomed, "echo", err, sizeof err) != 0 ||
	    runner_add_kind(test_doomed, "sleeper=sleep 30", err, sizeof err) != 0)
		abort();
	ok(runner_start(test_doomed, 950, "echo", NULL, 0, 1000) == 0 &&
	           runner_start(test_doomed, 951, "echo", NULL, 0, 1000) == 0 &&
	           runner_start(test_doomed, 952, "sleeper", NULL, 0, 60000) == 0,
	   "three jobs start on a runner its done_cb will destroy");
	test_wait(base, 950, TEST_WAIT_MS);
	test_run_for(base, 50);
	ok(test_doomed == NULL && test_log[950].calls == 1 && test_log[951].calls == 0 &&
	           test_log[952].calls == 0,
	   "runner_destroy from done_cb: the others are dropped");
	event_base_free(base);
}

static void
test_destroy(const char *pid_path)
{
	struct event_base *base = event_base_new();
	struct runner *r;
	char err[256], spec[512];
	long pids[3] = { 0, 0, 0 };
	uint64_t end = test_now_ms() + TEST_WAIT_MS;
	int all = 1;

	snprintf(spec, sizeof spec, "pidsleep=echo $$ >> %s; exec sleep 30", pid_path);
	if (base == NULL || runner_create(&r, base, test_done_cb, NULL) != 0 ||
	    runner_add_kind(r, spec, err, sizeof err) != 0)
		abort();
	for (uint64_t t = 60; t < 63; t++)
		all &= runner_start(r, t, "pidsleep", NULL, 0, 60000) == 0;
	while (test_read_pids(pid_path, pids, 3) < 3 && test_now_ms() < end)
		test_turn(base);
	ok(all && test_read_pids(pid_path, pids, 3) == 3, "three 30 s commands run");
	runner_destroy(r);
	all = 1;
	for (int i = 0; i < 3; i++)
		all &= pids[i] > 0 && kill((pid_t)pids[i], 0) != 0 && errno == ESRCH;
	ok(all, "runner_destroy killed and reaped them (%ld %ld %ld)", pids[0], pids[1], pids[2]);
	event_base_free(base);
}

/* ---------------------------------------------------------------- live output */

#define TEST_LIVE_TAG 2040 /* above the tags the other tests use */

/* What the output callback saw of TEST_LIVE_TAG, and whether the job was delivered then. */
static struct {
	char bytes[2][256];
	size_t len[2];
	int first_before_done; /* the first stdout read came while the job still ran */
	int calls;
} test_out;

static void
test_output_cb(void *ctx, uint64_t tag, unsigned stream, const uint8_t *buf, size_t len)
{
	(void)ctx;
	if (tag != TEST_LIVE_TAG || stream > 1 ||
	    test_out.len[stream] + len >= sizeof test_out.bytes[0])
		return;
	if (stream == 0 && test_out.len[0] == 0)
		test_out.first_before_done = test_log[TEST_LIVE_TAG].calls == 0;
	memcpy(test_out.bytes[stream] + test_out.len[stream], buf, len);
	test_out.len[stream] += len;
	test_out.calls++;
}

/* A command's output reaches output_cb as it is read, each stream apart, before done_cb. */
static void
test_live_output(void)
{
	struct event_base *base = event_base_new();
	struct runner *r = NULL;
	uint64_t t0, first_ms = 0;

	if (base == NULL || runner_create(&r, base, test_done_cb, NULL) != 0) {
		ok(0, "a runner for live output");
		return;
	}
	runner_set_output_cb(r, test_output_cb);
	test_add(r, "drip=echo one; echo warn >&2; sleep 0.6; echo two");
	t0 = test_now_ms();
	ok(test_start(r, TEST_LIVE_TAG, "drip", NULL, 5000) == 0,
	   "a command that writes over time starts");
	while (test_out.len[0] == 0 && test_now_ms() < t0 + TEST_WAIT_MS)
		test_turn(base);
	first_ms = test_now_ms() - t0;
	ok(test_out.len[0] > 0 && test_out.first_before_done,
	   "its first line is handed over while it runs (after %llu ms)",
	   (unsigned long long)first_ms);
	ok(first_ms < 500, "well before it ends (it sleeps 0.6 s after the first line)");
	ok(test_wait(base, TEST_LIVE_TAG, TEST_WAIT_MS) && test_is(TEST_LIVE_TAG, RUNNER_OK),
	   "and it ends ok");
	ok(test_out.len[0] == 8 && memcmp(test_out.bytes[0], "one\ntwo\n", 8) == 0,
	   "stdout came whole, in order");
	ok(test_out.len[1] == 5 && memcmp(test_out.bytes[1], "warn\n", 5) == 0,
	   "stderr came apart from stdout");
	ok(strcmp((const char *)test_log[TEST_LIVE_TAG].out, "one\ntwo\n") == 0,
	   "the result is still all of stdout");
	runner_destroy(r);
	event_base_free(base);
}

int
main(void)
{
	char dir[] = "/tmp/chorus-runner-XXXXXX";
	char tree_path[128], bg_path[128], pid_path[128], spec[512];
	struct event_base *base;
	struct runner *r;
	const char *names[RUNNER_KINDS_MAX];
	size_t nnames;
	int status, dup = 0;
	pid_t w;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL || (base = event_base_new()) == NULL)
		return 1;
	snprintf(tree_path, sizeof tree_path, "%s/tree", dir);
	snprintf(bg_path, sizeof bg_path, "%s/bg", dir);
	snprintf(pid_path, sizeof pid_path, "%s/pids", dir);
	ok(runner_create(&r, base, test_done_cb, NULL) == 0, "runner_create");
	test_add(r, "echo");
	test_add(r, "sha256");
	test_add(r, "sleep");
	test_add(r, "fail");
	test_add(r, "upper=tr a-z A-Z");
	test_add(r, "exit3=echo oops >&2; exit 3");
	test_add(r, "selfkill=kill -9 $$");
	test_add(r, "noisy=echo warn >&2; echo ok");
	test_add(r, "spew=head -c TEST_LIVE_TAG0 /dev/zero | tr '\\0' x >&2; printf '\\001' >&2; "
	            "echo TAIL >&2; exit 1");
	test_add(r, "nap=sleep 0.3");
	test_add(r, "cat=cat");
	test_add(r, "ignore=true");
	test_add(r, "big=head -c 1048577 /dev/zero");
	test_add(r, "exact=head -c 1048576 /dev/zero");
	test_add(r, "flood=cat /dev/zero");
	test_add(r, "sleeper=sleep 30");
	test_add(r, "escape=setsid sleep 2 & sleep 0.2; echo hi");
	snprintf(spec, sizeof spec, "tree=sleep 30 & echo $$ $! > %s; sleep 30; wait", tree_path);
	test_add(r, spec);
	snprintf(spec, sizeof spec, "bg=sleep 5 & echo $! > %s; echo hi", bg_path);
	test_add(r, spec);
	nnames = runner_kinds(r, names, RUNNER_KINDS_MAX);
	ok(nnames == 19 && strcmp(names[0], "echo") == 0 && strcmp(names[4], "upper") == 0 &&
	           runner_kinds(r, names, 2) == 2,
	   "runner_kinds lists them in order (%zu)", nnames);
	ok(runner_has_kind(r, "tree") && !runner_has_kind(r, "tre") && !runner_has_kind(r, NULL),
	   "runner_has_kind");

	test_builtins(base, r);
	test_builtin_stops(base, r);
	test_commands(base, r);
	test_groups(base, r, tree_path, bg_path);
	test_sizes(base, r);
	test_refusals(base, r);
	ok(runner_running(r) == 0, "nothing left running");
	runner_destroy(r);
	event_base_free(base);

	test_specs();
	test_live_output();
	test_bounds();
	test_destroy(pid_path);
	test_destroy_in_cb();
	test_set_kinds();

	ok(test_reentrant == 0, "done_cb never ran inside runner_start or runner_cancel");
	for (int t = 0; t < TEST_TAGS_MAX; t++)
		dup += test_log[t].calls > 1;
	ok(dup == 0, "done_cb came at most once per tag");
	errno = 0;
	w = waitpid(-1, &status, WNOHANG);
	ok(w == 0 || (w < 0 && errno == ECHILD), "no zombies left (waitpid: %d)", (int)w);

	unlink(tree_path);
	unlink(bg_path);
	unlink(pid_path);
	rmdir(dir);
	for (int t = 0; t < TEST_TAGS_MAX; t++)
		free(test_log[t].out);
	return tap_done();
}

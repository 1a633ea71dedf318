/*
 * runner: run jobs on built-in kinds and external commands without ever
 * blocking the libevent loop.
 *
 * A job is in the runner's list from runner_start until its done_cb runs.
 * Its life: started -> finished (the status is decided once; only a cancel
 * may override it) -> delivered (unlinked, done_cb, freed).  Invariants:
 *
 * - a result always reaches done_cb through the job's deliver event, made
 *   active with event_active: done_cb is never re-entrant with the caller;
 * - an external job is delivered only once its child is reaped, so nothing
 *   the runner forked is left as a zombie, and a delivered tag has no
 *   process behind it (short of one that left the process group);
 * - each child leads its own process group, so a timeout or cancel kills
 *   the whole tree the shell started.  On SIGCHLD the leader is first seen
 *   with WNOWAIT and its group killed while the zombie leader still pins
 *   the pgid: kill(-pgid) can then never hit a recycled group;
 * - after the reap, stdout may still be held by a process that left the
 *   group (setsid); RUNNER_GRACE_MS bounds the wait for EOF.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "chorus/limits.h"
#include "runner.h"

/* Kind names are advertised as capabilities in the node record. */
_Static_assert(RUNNER_KIND_NAME_MAX <= CHORUS_TAG_MAX, "a kind name must fit a capability");
_Static_assert(RUNNER_TIMEOUT_MAX_MS <= UINT32_MAX, "timeouts are uint32_t");
_Static_assert(RUNNER_GRACE_MS < 1000, "the grace is a short wait, not a second timeout");

#define RUNNER_IO_CHUNK      16384  /* one read(2) or write(2) */
#define RUNNER_IO_PER_CB     16     /* reads or writes per callback: other events get a turn */
#define RUNNER_CLOSE_FD_MAX  65536  /* fds closed in the child if close_range is missing */
#define RUNNER_SLEEP_DIGITS  8      /* "86400000" */

extern char **environ;

enum runner_builtin {
	RUNNER_KIND_COMMAND = 0,
	RUNNER_KIND_ECHO,
	RUNNER_KIND_SHA256,
	RUNNER_KIND_SLEEP,
	RUNNER_KIND_FAIL,
};

static const char *const runner_builtin_names[] = {
	[RUNNER_KIND_ECHO] = "echo",
	[RUNNER_KIND_SHA256] = "sha256",
	[RUNNER_KIND_SLEEP] = "sleep",
	[RUNNER_KIND_FAIL] = "fail",
};

struct runner_kind {
	char name[RUNNER_KIND_NAME_MAX + 1];
	enum runner_builtin builtin;
	char *command;                  /* RUNNER_KIND_COMMAND only */
};

struct runner_pipe {
	int fd;                         /* the parent's end, -1 once closed */
	struct event *ev;
};

struct runner_job {
	struct runner *r;
	struct runner_job *prev, *next;
	uint64_t tag;
	/*
	 * Read while the job starts only: runner_set_kinds may rewrite the slot
	 * (a reload) while the job runs on.
	 */
	const struct runner_kind *kind;
	uint32_t timeout_ms;
	uint32_t sleep_ms;
	uint64_t start_ms;
	struct event *timeout_ev;
	struct event *work_ev;          /* sleep: its timer; command: the grace timer */
	struct event *deliver_ev;
	pid_t pid;                      /* the child and its pgid; 0 for a built-in */
	int reaped;
	int lost;                       /* the child was reaped by someone else */
	int finished;
	struct runner_pipe in, out, err;
	uint8_t *payload;               /* left to write to stdin */
	size_t payload_len, payload_off;
	uint8_t *out_buf;
	size_t out_len, out_cap;
	char err_tail[RUNNER_STDERR_MAX];
	size_t err_len;
	struct runner_result res;
};

struct runner {
	struct event_base *base;
	runner_done_fn *done_cb;
	runner_output_fn *output_cb;    /* NULL: output only makes the result */
	void *ctx;
	struct event *sigchld_ev;
	struct runner_kind kinds[RUNNER_KINDS_MAX];
	size_t nkinds;
	struct runner_job *jobs;
	size_t njobs;
};

static void runner_job_check_done(struct runner_job *job);

static uint64_t
runner_now_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		abort(); /* a clock that fails is a broken system, not an input error */
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timeval
runner_tv(uint32_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	return tv;
}

const char *
runner_status_name(enum runner_status status)
{
	switch (status) {
	case RUNNER_OK: return "ok";
	case RUNNER_FAILED: return "failed";
	case RUNNER_TIMEOUT: return "timeout";
	case RUNNER_CANCELLED: return "cancelled";
	}
	return "unknown";
}

/* ---------------------------------------------------------------- kinds */

static const struct runner_kind *
runner_kind_find(const struct runner *r, const char *name)
{
	for (size_t i = 0; i < r->nkinds; i++)
		if (strcmp(r->kinds[i].name, name) == 0)
			return &r->kinds[i];
	return NULL;
}

static int
runner_kind_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > RUNNER_KIND_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Split a spec into a kind; the command is borrowed from spec.  0 or -EINVAL. */
static int
runner_kind_parse(struct runner_kind *kind, const char *spec, char *err, size_t errlen)
{
	const char *eq = strchr(spec, '=');
	size_t name_len = eq ? (size_t)(eq - spec) : strlen(spec);

	memset(kind, 0, sizeof *kind);
	if (eq == NULL) {
		for (int b = RUNNER_KIND_ECHO; b <= RUNNER_KIND_FAIL; b++) {
			if (strcmp(spec, runner_builtin_names[b]) == 0) {
				snprintf(kind->name, sizeof kind->name, "%s", spec);
				kind->builtin = (enum runner_builtin)b;
				return 0;
			}
		}
		snprintf(err, errlen, "unknown built-in kind \"%.*s\" (want echo, sha256, sleep, "
		         "fail or KIND=COMMAND)", RUNNER_KIND_NAME_MAX + 1, spec);
		return -EINVAL;
	}
	if (!runner_kind_name_valid(spec, name_len)) {
		/* Quote no more of a long name than shows it is too long. */
		int shown = (int)(name_len > RUNNER_KIND_NAME_MAX + 1 ? RUNNER_KIND_NAME_MAX + 1
		                                                      : name_len);
		snprintf(err, errlen, "bad kind name \"%.*s\" (want [a-z0-9_-], 1 to %d "
		         "characters)", shown, spec, RUNNER_KIND_NAME_MAX);
		return -EINVAL;
	}
	if (strspn(eq + 1, " \t\r\n") == strlen(eq + 1)) {
		snprintf(err, errlen, "kind \"%.*s\" has an empty command", (int)name_len, spec);
		return -EINVAL;
	}
	if (strlen(eq + 1) > RUNNER_COMMAND_MAX) {
		snprintf(err, errlen, "kind \"%.*s\": command longer than %d bytes", (int)name_len,
		         spec, RUNNER_COMMAND_MAX);
		return -EINVAL;
	}
	memcpy(kind->name, spec, name_len);
	kind->name[name_len] = '\0';
	kind->builtin = RUNNER_KIND_COMMAND;
	kind->command = (char *)(eq + 1);
	return 0;
}

/* Whether runner_add_kind would take spec (chorusd -n): 0 or -EINVAL with err. */
int
runner_check_spec(const char *spec, char *err, size_t errlen)
{
	struct runner_kind kind;

	return runner_kind_parse(&kind, spec, err, errlen);
}

int
runner_add_kind(struct runner *r, const char *spec, char *err, size_t errlen)
{
	struct runner_kind kind;
	int rc;

	assert(r != NULL);
	if (errlen > 0)
		err[0] = '\0';
	if (spec == NULL) {
		snprintf(err, errlen, "no kind given");
		return -EINVAL;
	}
	rc = runner_kind_parse(&kind, spec, err, errlen);
	if (rc != 0)
		return rc;
	if (runner_kind_find(r, kind.name) != NULL) {
		snprintf(err, errlen, "kind \"%s\" given twice", kind.name);
		return -EEXIST;
	}
	if (r->nkinds == RUNNER_KINDS_MAX) {
		snprintf(err, errlen, "more than %d kinds", RUNNER_KINDS_MAX);
		return -ENOSPC;
	}
	if (kind.command != NULL && (kind.command = strdup(kind.command)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->kinds[r->nkinds++] = kind;
	return 0;
}

/*
 * Replace the whole set of kinds (a configuration reload): every spec is
 * checked first, so on an error nothing changed.  Jobs running go on with
 * what they started with (a command is read only when the job starts).
 */
int
runner_set_kinds(struct runner *r, const char *const *specs, size_t n, char *err, size_t errlen)
{
	struct runner_kind kinds[RUNNER_KINDS_MAX];
	int rc = 0;

	assert(r != NULL);
	if (n > RUNNER_KINDS_MAX) {
		snprintf(err, errlen, "more than %d kinds", RUNNER_KINDS_MAX);
		return -ENOSPC;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = runner_kind_parse(&kinds[i], specs[i], err, errlen)) != 0)
			break;
		for (size_t k = 0; k < i && rc == 0; k++)
			if (strcmp(kinds[k].name, kinds[i].name) == 0) {
				snprintf(err, errlen, "kind \"%s\" given twice", kinds[i].name);
				rc = -EEXIST;
			}
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		if (kinds[i].command != NULL && (kinds[i].command = strdup(kinds[i].command)) == NULL) {
			for (size_t k = 0; k < i; k++)
				free(kinds[k].command);
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		}
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < r->nkinds; i++)
		free(r->kinds[i].command);
	memcpy(r->kinds, kinds, n * sizeof kinds[0]);
	r->nkinds = n;
	return 0;
}

int
runner_has_kind(const struct runner *r, const char *kind)
{
	assert(r != NULL);
	return kind != NULL && runner_kind_find(r, kind) != NULL;
}

size_t
runner_kinds(const struct runner *r, const char **names, size_t max)
{
	size_t n = r->nkinds < max ? r->nkinds : max;

	for (size_t i = 0; i < n; i++)
		names[i] = r->kinds[i].name;
	return n;
}

/* ---------------------------------------------------------------- job life */

static void
runner_pipe_close(struct runner_pipe *p)
{
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->fd >= 0)
		close(p->fd);
	p->ev = NULL;
	p->fd = -1;
}

static void
runner_job_free(struct runner_job *job)
{
	runner_pipe_close(&job->in);
	runner_pipe_close(&job->out);
	runner_pipe_close(&job->err);
	if (job->timeout_ev != NULL)
		event_free(job->timeout_ev);
	if (job->work_ev != NULL)
		event_free(job->work_ev);
	if (job->deliver_ev != NULL)
		event_free(job->deliver_ev);
	free(job->payload);
	free(job->out_buf);
	free(job);
}

static void
runner_job_unlink(struct runner_job *job)
{
	struct runner *r = job->r;

	assert(r->njobs > 0);
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		r->jobs = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	job->prev = job->next = NULL;
	r->njobs--;
}

/*
 * The common tail of every ending: stop the timers and the pipes, kill the
 * group if the child still stands, and deliver once nothing is left to reap.
 */
static void
runner_job_end(struct runner_job *job)
{
	assert(job->finished);
	event_del(job->timeout_ev);
	event_del(job->work_ev);
	runner_pipe_close(&job->in);
	runner_pipe_close(&job->out);
	runner_pipe_close(&job->err);
	if (job->pid > 0 && !job->reaped) {
		/* Not reaped: the leader, alive or zombie, pins the pgid. */
		(void)kill(-job->pid, SIGKILL);
		return; /* runner_job_reap delivers */
	}
	event_active(job->deliver_ev, EV_TIMEOUT, 1);
}

/* Decide the status (once; a cancel overrides) and end the job. */
static void
runner_job_finish(struct runner_job *job, enum runner_status status, const char *error)
{
	if (job->finished && status != RUNNER_CANCELLED)
		return;
	job->finished = 1;
	job->res.status = status;
	snprintf(job->res.error, sizeof job->res.error, "%s", error);
	job->res.duration_ms = runner_now_ms() - job->start_ms;
	if (status == RUNNER_TIMEOUT || status == RUNNER_CANCELLED)
		job->out_len = 0; /* a result cut short is no result */
	runner_job_end(job);
}

static void runner_job_finishf(struct runner_job *job, enum runner_status status,
                               const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void
runner_job_finishf(struct runner_job *job, enum runner_status status, const char *fmt, ...)
{
	char error[sizeof job->res.error];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error, sizeof error, fmt, ap);
	va_end(ap);
	runner_job_finish(job, status, error);
}

static void
runner_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_job *job = arg;
	struct runner *r = job->r;
	(void)fd;
	(void)what;

	assert(job->finished);
	assert(job->pid == 0 || job->reaped);
	runner_job_unlink(job);
	job->res.output = job->out_len > 0 ? job->out_buf : (const uint8_t *)"";
	job->res.output_len = job->out_len;
	/* Unlinked first: done_cb may start, cancel or even destroy freely. */
	r->done_cb(r->ctx, job->tag, &job->res);
	runner_job_free(job);
}

static void
runner_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_job *job = arg;
	(void)fd;
	(void)what;
	runner_job_finishf(job, RUNNER_TIMEOUT, "timed out after %u ms", job->timeout_ms);
}

/* ---------------------------------------------------------------- built-ins */

static void
runner_sleep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_job *job = arg;
	int n;
	(void)fd;
	(void)what;

	assert(job->pid == 0); /* a built-in (sleep): no child */
	job->out_buf = malloc(32);
	if (job->out_buf == NULL) {
		runner_job_finish(job, RUNNER_FAILED, "out of memory");
		return;
	}
	n = snprintf((char *)job->out_buf, 32, "slept %u ms", job->sleep_ms);
	assert(n > 0 && n < 32);
	job->out_len = (size_t)n;
	job->res.exit_code = 0;
	runner_job_finish(job, RUNNER_OK, "");
}

/* A strict decimal: digits only, within RUNNER_TIMEOUT_MAX_MS.  0 or -EINVAL. */
static int
runner_sleep_parse(const uint8_t *payload, size_t len, uint32_t *ms)
{
	uint64_t v = 0;

	if (len == 0 || len > RUNNER_SLEEP_DIGITS)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (payload[i] < '0' || payload[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(payload[i] - '0');
	}
	if (v > RUNNER_TIMEOUT_MAX_MS)
		return -EINVAL;
	*ms = (uint32_t)v;
	return 0;
}

/* Built-ins finish at once (but deliver through the loop), or arm a timer. */
static int
runner_builtin_start(struct runner_job *job, const uint8_t *payload, size_t len)
{
	char hex[crypto_hash_sha256_BYTES * 2 + 1];
	uint8_t hash[crypto_hash_sha256_BYTES];
	struct timeval tv;

	switch (job->kind->builtin) {
	case RUNNER_KIND_ECHO:
		if (len > 0 && (job->out_buf = malloc(len)) == NULL)
			return -ENOMEM;
		if (len > 0)
			memcpy(job->out_buf, payload, len);
		job->out_len = len;
		break;
	case RUNNER_KIND_SHA256:
		crypto_hash_sha256(hash, payload, len);
		sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
		if ((job->out_buf = malloc(sizeof hash * 2)) == NULL)
			return -ENOMEM;
		memcpy(job->out_buf, hex, sizeof hash * 2);
		job->out_len = sizeof hash * 2;
		break;
	case RUNNER_KIND_FAIL:
		runner_job_finish(job, RUNNER_FAILED, "the fail kind always fails");
		return 0;
	case RUNNER_KIND_SLEEP:
		if (runner_sleep_parse(payload, len, &job->sleep_ms) != 0) {
			runner_job_finishf(job, RUNNER_FAILED, "sleep wants decimal milliseconds "
			                   "0..%u as its payload", RUNNER_TIMEOUT_MAX_MS);
			return 0;
		}
		tv = runner_tv(job->sleep_ms);
		return event_add(job->work_ev, &tv) == 0 ? 0 : -ENOMEM;
	case RUNNER_KIND_COMMAND:
		assert(0); /* commands go through runner_spawn */
		return -EINVAL;
	}
	job->res.exit_code = 0;
	runner_job_finish(job, RUNNER_OK, "");
	return 0;
}

/* ---------------------------------------------------------------- pipes */

/* Keep the last RUNNER_STDERR_MAX bytes: the end of stderr says what went wrong. */
static void
runner_err_append(struct runner_job *job, const uint8_t *buf, size_t n)
{
	if (n >= RUNNER_STDERR_MAX) {
		memcpy(job->err_tail, buf + n - RUNNER_STDERR_MAX, RUNNER_STDERR_MAX);
		job->err_len = RUNNER_STDERR_MAX;
		return;
	}
	if (job->err_len + n > RUNNER_STDERR_MAX) {
		size_t drop = job->err_len + n - RUNNER_STDERR_MAX;
		memmove(job->err_tail, job->err_tail + drop, job->err_len - drop);
		job->err_len -= drop;
	}
	memcpy(job->err_tail + job->err_len, buf, n);
	job->err_len += n;
	assert(job->err_len <= RUNNER_STDERR_MAX);
}

/* 0, or -EMSGSIZE past RUNNER_RESULT_MAX, or -ENOMEM. */
static int
runner_out_append(struct runner_job *job, const uint8_t *buf, size_t n)
{
	if (n > RUNNER_RESULT_MAX - job->out_len)
		return -EMSGSIZE;
	if (job->out_len + n > job->out_cap) {
		size_t cap = job->out_cap ? job->out_cap : RUNNER_IO_CHUNK;
		uint8_t *grown;
		while (cap < job->out_len + n)
			cap *= 2;
		if (cap > RUNNER_RESULT_MAX)
			cap = RUNNER_RESULT_MAX;
		if ((grown = realloc(job->out_buf, cap)) == NULL)
			return -ENOMEM;
		job->out_buf = grown;
		job->out_cap = cap;
	}
	memcpy(job->out_buf + job->out_len, buf, n);
	job->out_len += n;
	return 0;
}

/* Read what a pipe has (bounded per call); at EOF or on an error close it. */
static void
runner_pipe_read(struct runner_job *job, struct runner_pipe *p)
{
	uint8_t chunk[RUNNER_IO_CHUNK];
	int rc;

	for (int i = 0; i < RUNNER_IO_PER_CB && p->fd >= 0; i++) {
		ssize_t n = read(p->fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			runner_pipe_close(p); /* EOF; an error on a pipe ends it the same way */
			runner_job_check_done(job);
			return;
		}
		if (job->r->output_cb != NULL)
			job->r->output_cb(job->r->ctx, job->tag, p == &job->err, chunk, (size_t)n);
		if (p == &job->err) {
			runner_err_append(job, chunk, (size_t)n);
			continue;
		}
		if ((rc = runner_out_append(job, chunk, (size_t)n)) != 0) {
			job->out_len = 0;
			if (rc == -EMSGSIZE)
				runner_job_finishf(job, RUNNER_FAILED, "result too large (over %d "
				                   "bytes)", RUNNER_RESULT_MAX);
			else
				runner_job_finish(job, RUNNER_FAILED, "out of memory");
			return;
		}
	}
}

static void
runner_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_job *job = arg;
	(void)fd;
	(void)what;
	runner_pipe_read(job, &job->out);
}

static void
runner_err_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_job *job = arg;
	(void)fd;
	(void)what;
	runner_pipe_read(job, &job->err);
}

/*
 * Feed the payload to stdin, then close it so the child sees EOF.  A child
 * that stops reading (EPIPE, with SIGPIPE ignored) is its own business: the
 * exit status tells the rest.
 */
static void
runner_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_job *job = arg;
	int stop = 0;
	(void)what;

	assert(job->in.fd == fd);
	for (int i = 0; i < RUNNER_IO_PER_CB && job->payload_off < job->payload_len; i++) {
		size_t left = job->payload_len - job->payload_off;
		ssize_t n = write(fd, job->payload + job->payload_off,
		                  left < RUNNER_IO_CHUNK ? left : RUNNER_IO_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			stop = 1;
			break;
		}
		job->payload_off += (size_t)n;
	}
	if (!stop && job->payload_off < job->payload_len)
		return; /* the per-callback bound: more on the next turn */
	free(job->payload);
	job->payload = NULL;
	runner_pipe_close(&job->in);
}

/* ---------------------------------------------------------------- processes */

/*
 * The child, between fork and exec: async-signal-safe calls only (the
 * daemon has other threads, nng's, whose locks may be held at the fork).
 * fds[] are the child's ends of stdin, stdout, stderr, all above 2.
 */
static void __attribute__((noreturn))
runner_child_exec(const int fds[3], char *const argv[], int close_max)
{
	struct sigaction sa;
	sigset_t none;
	int closed = -1;

	(void)setpgid(0, 0);
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			_exit(127);
	/* The daemon's other descriptors (sockets, the database) are not the job's. */
#ifdef SYS_close_range
	closed = (int)syscall(SYS_close_range, 3u, ~0u, 0u);
#endif
	for (int fd = 3; closed != 0 && fd < close_max; fd++)
		(void)close(fd);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL); /* SIGKILL, SIGSTOP and libc's own refuse: fine */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve("/bin/sh", argv, environ);
	_exit(127);
}

/* The fallback bound for closing fds in the child (sysconf is not async-signal-safe). */
static int
runner_close_max(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > RUNNER_CLOSE_FD_MAX)
		return RUNNER_CLOSE_FD_MAX;
	return (int)rl.rlim_cur;
}

/* A pipe end at 0..2 (the daemon's stdio closed) would be clobbered by the child's dup2s. */
static int
runner_fd_high(int fd)
{
	int high, saved;

	if (fd > 2)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	saved = errno;
	close(fd);
	errno = saved;
	return high;
}

/* Three close-on-exec pipes into fds[0..5], all above 2.  0 or -errno. */
static int
runner_pipes_new(int fds[6])
{
	int rc = 0;

	for (int i = 0; i < 6; i++)
		fds[i] = -1;
	for (int i = 0; i < 6 && rc == 0; i += 2) {
		if (pipe2(fds + i, O_CLOEXEC) != 0) {
			rc = -errno;
			break;
		}
		fds[i] = runner_fd_high(fds[i]);
		fds[i + 1] = runner_fd_high(fds[i + 1]);
		if (fds[i] < 0 || fds[i + 1] < 0)
			rc = -errno;
	}
	for (int i = 0; i < 6 && rc != 0; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

static void
runner_wait_blocking(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int
runner_pipe_watch(struct runner_job *job, struct runner_pipe *p, short what,
                  event_callback_fn cb)
{
	int flags = fcntl(p->fd, F_GETFL);

	if (flags < 0 || fcntl(p->fd, F_SETFL, flags | O_NONBLOCK) != 0)
		return -errno;
	p->ev = event_new(job->r->base, p->fd, what | EV_PERSIST, cb, job);
	if (p->ev == NULL || event_add(p->ev, NULL) != 0)
		return -ENOMEM;
	return 0;
}

/* The parent's ends: non-blocking, watched; stdin closed at once if there is nothing to say. */
static int
runner_pipes_watch(struct runner_job *job)
{
	int rc;

	if ((rc = runner_pipe_watch(job, &job->out, EV_READ, runner_out_cb)) != 0 ||
	    (rc = runner_pipe_watch(job, &job->err, EV_READ, runner_err_cb)) != 0)
		return rc;
	if (job->payload_len == 0) {
		runner_pipe_close(&job->in);
		return 0;
	}
	return runner_pipe_watch(job, &job->in, EV_WRITE, runner_in_cb);
}

/* Fork /bin/sh -c COMMAND in its own process group.  0 or -errno (no child left). */
static int
runner_spawn(struct runner_job *job)
{
	static char arg_sh[] = "sh", arg_c[] = "-c";
	char *argv[] = { arg_sh, arg_c, job->kind->command, NULL };
	int close_max = runner_close_max();
	int fds[6], child_fds[3], rc, saved;
	sigset_t all, old;
	pid_t pid;

	assert(job->kind->builtin == RUNNER_KIND_COMMAND && job->pid == 0);
	if ((rc = runner_pipes_new(fds)) != 0)
		return rc;
	child_fds[0] = fds[0]; /* stdin's read end */
	child_fds[1] = fds[3]; /* stdout's write end */
	child_fds[2] = fds[5];
	/* Blocked across fork: no libevent handler may run in the child before the reset. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		runner_child_exec(child_fds, argv, close_max);
	saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < 3; i++)
		close(child_fds[i]);
	job->in.fd = fds[1];
	job->out.fd = fds[2];
	job->err.fd = fds[4];
	if (pid < 0)
		return -saved; /* runner_job_free closes the parent's ends */
	/* As the child does: whichever runs first, the group exists before any kill(-pid). */
	(void)setpgid(pid, pid);
	job->pid = pid;
	if ((rc = runner_pipes_watch(job)) != 0) {
		(void)kill(-pid, SIGKILL);
		runner_wait_blocking(pid); /* SIGKILL cannot be caught: a short wait */
		job->pid = 0;
	}
	return rc;
}

/* Keep stderr printable for logs: control bytes but \n and \t become '?'; no trailing space. */
static void
runner_err_text(const struct runner_job *job, char *out, size_t outlen)
{
	size_t n = job->err_len < outlen - 1 ? job->err_len : outlen - 1;

	assert(outlen > 0);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)job->err_tail[i];
		out[i] = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : (char)c;
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	out[n] = '\0';
}

/* Reaped and both pipes at EOF: the exit status decides. */
static void
runner_job_check_done(struct runner_job *job)
{
	char tail[RUNNER_STDERR_MAX + 1];
	const char *sep;

	assert(job->pid > 0);
	if (job->finished || !job->reaped || job->out.fd >= 0 || job->err.fd >= 0)
		return;
	runner_err_text(job, tail, sizeof tail);
	sep = tail[0] != '\0' ? ": " : "";
	if (job->lost)
		runner_job_finishf(job, RUNNER_FAILED, "exit status lost (the child was reaped "
		                   "elsewhere)%s%s", sep, tail);
	else if (job->res.term_signal != 0)
		runner_job_finishf(job, RUNNER_FAILED, "killed by signal %d%s%s",
		                   job->res.term_signal, sep, tail);
	else if (job->res.exit_code != 0)
		runner_job_finishf(job, RUNNER_FAILED, "exit status %d%s%s", job->res.exit_code,
		                   sep, tail);
	else
		runner_job_finish(job, RUNNER_OK, "");
}

/* Reaped, yet a process that left the group holds a pipe: take what is there and stop. */
static void
runner_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_job *job = arg;
	(void)fd;
	(void)what;

	assert(job->reaped && !job->finished);
	runner_pipe_read(job, &job->out);
	if (!job->finished)
		runner_pipe_read(job, &job->err);
	if (job->finished)
		return;
	runner_pipe_close(&job->out);
	runner_pipe_close(&job->err);
	runner_job_check_done(job);
}

/* Has this job's child exited?  Reap it if so, killing the rest of its group first. */
static void
runner_job_reap(struct runner_job *job)
{
	struct timeval grace = runner_tv(RUNNER_GRACE_MS);
	siginfo_t si;
	int status = 0;

	assert(job->pid > 0 && !job->reaped);
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)job->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
		job->lost = 1; /* ECHILD: SIGCHLD ignored, or someone waited for it */
	} else if (si.si_pid == 0) {
		return; /* still running */
	} else {
		/* No process of the job outlives it; the zombie leader pins the pgid. */
		(void)kill(-job->pid, SIGKILL);
		if (waitpid(job->pid, &status, WNOHANG) != job->pid)
			job->lost = 1;
	}
	job->reaped = 1;
	if (!job->lost && WIFEXITED(status))
		job->res.exit_code = WEXITSTATUS(status);
	if (!job->lost && WIFSIGNALED(status))
		job->res.term_signal = WTERMSIG(status);
	if (job->finished)
		event_active(job->deliver_ev, EV_TIMEOUT, 1);
	else if (job->out.fd >= 0 || job->err.fd >= 0)
		event_add(job->work_ev, &grace);
	else
		runner_job_check_done(job);
}

static void
runner_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct runner *r = arg;
	(void)sig;
	(void)what;

	/* By pid, never waitpid(-1): other children of the process are not ours. */
	for (struct runner_job *job = r->jobs; job != NULL; job = job->next)
		if (job->pid > 0 && !job->reaped)
			runner_job_reap(job);
}

/* ---------------------------------------------------------------- runner */

int
runner_create(struct runner **out, struct event_base *base, runner_done_fn *done_cb, void *ctx)
{
	struct runner *r;

	assert(out != NULL && base != NULL && done_cb != NULL);
	*out = NULL;
	if (sodium_init() < 0)
		return -EIO;
	/* A child that closes its stdin early must cost an EPIPE, not the daemon. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -errno;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return -ENOMEM;
	r->base = base;
	r->done_cb = done_cb;
	r->ctx = ctx;
	r->sigchld_ev = evsignal_new(base, SIGCHLD, runner_sigchld_cb, r);
	if (r->sigchld_ev == NULL || evsignal_add(r->sigchld_ev, NULL) != 0) {
		if (r->sigchld_ev != NULL)
			event_free(r->sigchld_ev);
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void
runner_set_output_cb(struct runner *r, runner_output_fn *cb)
{
	assert(r != NULL);
	r->output_cb = cb;
}

void
runner_destroy(struct runner *r)
{
	if (r == NULL)
		return;
	while (r->jobs != NULL) {
		struct runner_job *job = r->jobs;
		if (job->pid > 0 && !job->reaped) {
			(void)kill(-job->pid, SIGKILL);
			runner_wait_blocking(job->pid); /* SIGKILL cannot be caught: a short wait */
		}
		runner_job_unlink(job);
		runner_job_free(job);
	}
	assert(r->njobs == 0);
	event_free(r->sigchld_ev);
	for (size_t i = 0; i < r->nkinds; i++)
		free(r->kinds[i].command);
	free(r);
}

static struct runner_job *
runner_job_find(const struct runner *r, uint64_t tag)
{
	for (struct runner_job *job = r->jobs; job != NULL; job = job->next)
		if (job->tag == tag)
			return job;
	return NULL;
}

static int
runner_job_new(struct runner *r, struct runner_job **out, uint64_t tag,
               const struct runner_kind *kind, uint32_t timeout_ms)
{
	struct runner_job *job = calloc(1, sizeof *job);
	event_callback_fn work_cb;

	if (job == NULL)
		return -ENOMEM;
	job->r = r;
	job->tag = tag;
	job->kind = kind;
	job->timeout_ms = timeout_ms;
	job->start_ms = runner_now_ms();
	job->in.fd = job->out.fd = job->err.fd = -1;
	job->res.exit_code = -1;
	work_cb = kind->builtin == RUNNER_KIND_COMMAND ? runner_grace_cb : runner_sleep_cb;
	job->timeout_ev = evtimer_new(r->base, runner_timeout_cb, job);
	job->work_ev = evtimer_new(r->base, work_cb, job);
	job->deliver_ev = event_new(r->base, -1, 0, runner_deliver_cb, job);
	if (job->timeout_ev == NULL || job->work_ev == NULL || job->deliver_ev == NULL) {
		runner_job_free(job);
		return -ENOMEM;
	}
	*out = job;
	return 0;
}

static int
runner_command_start(struct runner_job *job, const uint8_t *payload, size_t len)
{
	if (len > 0) {
		if ((job->payload = malloc(len)) == NULL)
			return -ENOMEM;
		memcpy(job->payload, payload, len); /* the caller's buffer is gone after the call */
		job->payload_len = len;
	}
	return runner_spawn(job);
}

int
runner_start(struct runner *r, uint64_t tag, const char *kind_name, const uint8_t *payload,
             size_t len, uint32_t timeout_ms)
{
	struct timeval tv = runner_tv(timeout_ms);
	const struct runner_kind *kind;
	struct runner_job *job;
	int rc;

	assert(r != NULL);
	if (kind_name == NULL || (kind = runner_kind_find(r, kind_name)) == NULL)
		return -ENOENT;
	if (runner_job_find(r, tag) != NULL)
		return -EEXIST;
	if (r->njobs == RUNNER_JOBS_MAX)
		return -EAGAIN;
	if (len > RUNNER_PAYLOAD_MAX)
		return -EMSGSIZE;
	if ((len > 0 && payload == NULL) || timeout_ms == 0 || timeout_ms > RUNNER_TIMEOUT_MAX_MS)
		return -EINVAL;
	if ((rc = runner_job_new(r, &job, tag, kind, timeout_ms)) != 0)
		return rc;
	/* Linked first: a built-in may finish (and schedule its delivery) right away. */
	job->next = r->jobs;
	if (r->jobs != NULL)
		r->jobs->prev = job;
	r->jobs = job;
	r->njobs++;
	rc = event_add(job->timeout_ev, &tv) != 0 ? -ENOMEM : 0;
	if (rc == 0 && kind->builtin == RUNNER_KIND_COMMAND)
		rc = runner_command_start(job, payload, len);
	else if (rc == 0)
		rc = runner_builtin_start(job, payload, len);
	if (rc != 0) {
		assert(job->pid == 0); /* a failed start leaves no child */
		runner_job_unlink(job);
		runner_job_free(job);
		return rc;
	}
	assert(r->njobs <= RUNNER_JOBS_MAX);
	return 0;
}

int
runner_cancel(struct runner *r, uint64_t tag)
{
	struct runner_job *job;

	assert(r != NULL);
	if ((job = runner_job_find(r, tag)) == NULL)
		return -ENOENT;
	runner_job_finish(job, RUNNER_CANCELLED, "cancelled");
	return 0;
}

size_t
runner_running(const struct runner *r)
{
	assert(r->njobs <= RUNNER_JOBS_MAX);
	return r->njobs;
}

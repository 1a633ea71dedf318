/*
 * runner: the worker side of a job — run it, never block the loop.
 *
 * A runner owns a set of kinds (built-ins, or KIND=COMMAND run through
 * /bin/sh -c) and the jobs running on them.  It makes no protocol decision:
 * the caller starts a job with a tag, and gets exactly one done_cb for that
 * tag, always from the event loop and never from inside runner_start or
 * runner_cancel.  Every job ends in OK, FAILED, TIMEOUT or CANCELLED.
 *
 * External commands run in their own process group; the group is killed
 * with SIGKILL when the job times out, is cancelled, overflows its result,
 * or ends (no process of a job outlives it, short of one that leaves the
 * group).  Children are reaped by pid, never with waitpid(-1), so the rest
 * of the process may have children of its own.
 *
 * Process-wide side effects of runner_create: SIGPIPE is set to SIG_IGN (a
 * child that does not read its stdin must not kill the daemon; chorusd
 * ignores it anyway), and a libevent signal event takes SIGCHLD on the base.
 */
#ifndef CHORUS_RUNNER_H
#define CHORUS_RUNNER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

#define RUNNER_RESULT_MAX    (1024 * 1024)     /* stdout kept; more fails: "result too large" */
#define RUNNER_PAYLOAD_MAX   (1024 * 1024)     /* a job's input; more is refused by runner_start */
#define RUNNER_STDERR_MAX    4096              /* tail of stderr kept for the error message */
#define RUNNER_KINDS_MAX     32
#define RUNNER_KIND_NAME_MAX 31                /* [a-z0-9_-]{1,31} */
#define RUNNER_COMMAND_MAX   4096              /* the COMMAND of KIND=COMMAND */
#define RUNNER_JOBS_MAX      1024              /* running at once, hard bound */
#define RUNNER_TIMEOUT_MAX_MS (24u * 3600u * 1000u) /* a job's timeout is 1..this */
#define RUNNER_GRACE_MS      200               /* after the reap, wait this long for pipe EOF */

enum runner_status {
	RUNNER_OK = 0,
	RUNNER_FAILED = 1,
	RUNNER_TIMEOUT = 2,
	RUNNER_CANCELLED = 3,
};

struct runner_result {
	enum runner_status status;
	int exit_code;          /* -1 if not exited normally; a built-in that is ok reports 0 */
	int term_signal;        /* 0 if none */
	/*
	 * Result bytes: stdout or the built-in's result; never NULL, valid only
	 * during the callback.  Kept for OK and for a non-zero exit; empty after
	 * a timeout, a cancel or an oversized result.
	 */
	const uint8_t *output;
	size_t output_len;
	/*
	 * "" on success; else a one-line-ish reason: "exit status 3: <stderr
	 * tail>", "killed by signal 9", "timed out after 2000 ms", "cancelled",
	 * "result too large ...".  Control bytes of stderr but \n and \t are
	 * shown as '?', so the message is safe to log.
	 */
	char error[RUNNER_STDERR_MAX + 128];
	uint64_t duration_ms;
};

typedef void runner_done_fn(void *ctx, uint64_t tag, const struct runner_result *res);
/*
 * Live output: the bytes an external command writes to stdout (stream 0)
 * or stderr (stream 1), as they are read, before they count in the result;
 * called from the loop, never after that job's done_cb.
 */
typedef void runner_output_fn(void *ctx, uint64_t tag, unsigned stream, const uint8_t *buf,
                              size_t len);

struct runner;

/* Returns 0 or -errno. */
int runner_create(struct runner **out, struct event_base *base, runner_done_fn *done_cb,
                  void *ctx);
/*
 * Kills every running job's process group and reaps it (a short blocking
 * wait: SIGKILL cannot be caught).  No done_cb is called for those jobs.
 * done_cb may call runner_start, runner_cancel and runner_destroy.
 */
void runner_destroy(struct runner *r);
/* Optional: hands every job's output to cb (with the ctx of runner_create) as it is read. */
void runner_set_output_cb(struct runner *r, runner_output_fn *cb);

/*
 * spec: "echo" | "sha256" | "sleep" | "fail" (built-ins) or "KIND=COMMAND"
 * (run via /bin/sh -c COMMAND).  KIND: [a-z0-9_-]{1,31}, unique.
 * Returns 0, or -EINVAL (bad spec), -EEXIST (kind known), -ENOSPC (too many
 * kinds), -ENOMEM, with a reason in err.
 */
int runner_check_spec(const char *spec, char *err, size_t errlen);
int runner_add_kind(struct runner *r, const char *spec, char *err, size_t errlen);
/*
 * Replace every kind with specs (a reload): all or nothing.  0, or an error
 * as runner_add_kind's with err; running jobs are not touched.
 */
int runner_set_kinds(struct runner *r, const char *const *specs, size_t n, char *err,
                     size_t errlen);
int runner_has_kind(const struct runner *r, const char *kind);
/* Fills names with up to max kind names (owned by r); returns how many. */
size_t runner_kinds(const struct runner *r, const char **names, size_t max);

/*
 * Start a job; tag is the caller's handle (unique among running jobs).
 * On 0, done_cb is called exactly once, always from the event loop, never
 * from inside runner_start.  On an error no done_cb follows: -ENOENT
 * (unknown kind), -EEXIST (tag running), -EAGAIN (RUNNER_JOBS_MAX running),
 * -EMSGSIZE (payload over RUNNER_PAYLOAD_MAX), -EINVAL (timeout_ms not in
 * 1..RUNNER_TIMEOUT_MAX_MS), or -errno from pipe/fork/malloc.
 */
int runner_start(struct runner *r, uint64_t tag, const char *kind, const uint8_t *payload,
                 size_t len, uint32_t timeout_ms);
/*
 * Kills the job; its done_cb reports RUNNER_CANCELLED (even when it had
 * finished but the callback had not yet run).  Returns 0, or -ENOENT if no
 * job with that tag is running.
 */
int runner_cancel(struct runner *r, uint64_t tag);
/* Jobs started whose done_cb has not been called yet (at most RUNNER_JOBS_MAX). */
size_t runner_running(const struct runner *r);

const char *runner_status_name(enum runner_status status);

#endif

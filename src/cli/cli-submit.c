/*
 * chorus submit KIND: hands a job to the node and, unless --detach, waits
 * for its outcome and writes the result bytes to stdout exactly as the
 * worker produced them (no newline added), so `chorus submit` composes in
 * pipes.  A failed or cancelled job exits CLI_EXIT_JOB with one line; a
 * submit the node refuses because its queue is full exits CLI_EXIT_FULL.
 *
 * The payload is read and bounded (CLI_JOB_PAYLOAD_MAX, the node's limit)
 * before any request.  Waiting uses the node's ?wait_ms= long poll, never a
 * busy loop, and ends at a deadline CLI_JOB_WAIT_SLACK_S past the job's
 * queue timeout plus its own timeout: the node fails a job at those, so past
 * that the node, not the job, is the problem.
 *
 * While it waits on a terminal, one line on stderr says where the job is
 * (pending, queued and its position, running on WORKER, the time so far),
 * redrawn in place every CLI_SUBMIT_PROGRESS_MS and erased at the end; not
 * on anything else, nor with --quiet.  Ctrl-C while it waits leaves the job
 * running: it says the job's id and how to cancel it, and exits 130 (before
 * the POST is answered the id is not known yet: it says so, and where to
 * look).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "chorus/limits.h"

_Static_assert(CLI_JOB_REWARD_MAX == CHORUS_LEDGER_REWARD_MAX, "the CLI takes what the ledger pays");
_Static_assert(CLI_JOB_PRIORITY_MAX == CHORUS_PRIORITY_MAX, "the CLI takes the node's priorities");
_Static_assert(CLI_QUEUE_TIMEOUT_S_MAX == (CHORUS_QUEUE_TIMEOUT_MS_MAX / 1000), "and its queue timeouts");

#define CLI_SUBMIT_PROGRESS_MS 500 /* the progress line is redrawn this often */
#define CLI_SUBMIT_EXIT_INTERRUPTED 130 /* 128 + SIGINT, as shells report it */
/* The POST's own wait: short, as Ctrl-C cannot name the job until it is answered. */
#define CLI_SUBMIT_FIRST_WAIT_MS CLI_SUBMIT_PROGRESS_MS
_Static_assert(CLI_SUBMIT_PROGRESS_MS >= CLI_JOB_POLL_MIN_MS,
	       "redraws never ask faster than polls");
_Static_assert(CLI_SUBMIT_FIRST_WAIT_MS <= CLI_SUBMIT_PROGRESS_MS,
	       "the first progress line is not later than a redraw");

static int cli_submit_exec(const struct cli_ctx *ctx, const struct cli_args *args);

/* clang-format off */
static const struct option cli_submit_options[] = {
	{ "data", required_argument, NULL, 'd' },
	{ "file", required_argument, NULL, 'f' },
	{ "timeout", required_argument, NULL, 't' },
	{ "reward", required_argument, NULL, 'r' },
	{ "detach", no_argument, NULL, 'D' },
	{ "priority", required_argument, NULL, 'p' },
	{ "queue-timeout", required_argument, NULL, 'q' },
	{ "where", required_argument, NULL, 'w' },
	{ "quiet", no_argument, NULL, 'Q' },
	{ NULL, 0, NULL, 0 },
};
/* clang-format on */

const struct cli_cmd_entry cli_submit_entry = {
	.name = "submit",
	.args_usage = "KIND [--data STRING | --file PATH | -] [--timeout SECONDS] [--reward N] "
		      "[--priority N] [--queue-timeout SECONDS] [--detach] [--quiet] [--where KEY=VALUE[,...]]",
	.summary = "run a job and write its result to stdout",
	.options = cli_submit_options,
	.options_help =
		"  --data STRING         the payload (default: empty)\n"
		"  --file PATH           the payload is the file's bytes; '-' reads stdin\n"
		"  --timeout SECONDS     the job's timeout (default: the node's)\n"
		"  --reward N            what the job pays its worker (default: the node's)\n"
		"  --priority N          0..9, higher runs first among waiting jobs (default 0)\n"
		"  --queue-timeout SECONDS  how long the job may wait for a free slot before it\n"
		"                        fails, 1..86400 (default: the node's, 600 unless set)\n"
		"  --detach              print the job's id and return without waiting\n"
		"  --quiet               no progress line on stderr while waiting (there is\n"
		"                        none unless stderr is a terminal)\n"
		"  --where KEY=VALUE[,...]\n"
		"                        run only on a worker tagged with every pair\n"
		"                        (chorusd --tag); fails at once if no alive one is\n",
	.args_min = 1,
	.args_max = 2,
	.exec = cli_submit_exec,
};

struct cli_submit_job {
	const char *kind;
	uint8_t payload[CLI_JOB_PAYLOAD_MAX + 1]; /* one more, to notice a larger input */
	size_t payload_len;
	long timeout_s; /* 0: the node's default */
	long reward;	/* -1: the node's default */
	long priority;	/* -1: the node's default (0) */
	long queue_timeout_s; /* 0: the node's default */
	const char *where; /* --where KEY=VALUE[,...], or NULL */
};

/* ---------------------------------------------------------------- payload */

/* size_known: size is the payload's; else only that it exceeds the bound. */
static int cli_submit_too_large(int size_known, long long size)
{
	if (size_known)
		cli_error("payload too large (%lld bytes, max %d)", size, CLI_JOB_PAYLOAD_MAX);
	else
		cli_error("payload too large (more than %d bytes, max %d)", CLI_JOB_PAYLOAD_MAX,
			  CLI_JOB_PAYLOAD_MAX);
	return CLI_EXIT_USAGE;
}

/* Reads at most one byte past the bound: the rest is never needed. */
static int cli_submit_read_fd(int fd, const char *name, struct cli_submit_job *job)
{
	ssize_t n;

	job->payload_len = 0;
	while (job->payload_len < sizeof job->payload) {
		n = read(fd, job->payload + job->payload_len,
			 sizeof job->payload - job->payload_len);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error("cannot read %s: %s", name, strerror(errno));
			return CLI_EXIT_USAGE;
		}
		job->payload_len += (size_t)n;
	}
	if (job->payload_len > CLI_JOB_PAYLOAD_MAX)
		return cli_submit_too_large(0, 0);
	return CLI_EXIT_OK;
}

/* A regular file's size is known up front: refuse it without reading. */
static int cli_submit_read_file(const char *path, struct cli_submit_job *job)
{
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_error("cannot open %s: %s", path, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > CLI_JOB_PAYLOAD_MAX) {
		close(fd);
		return cli_submit_too_large(1, (long long)st.st_size);
	}
	rc = cli_submit_read_fd(fd, path, job);
	close(fd);
	return rc;
}

/* The one payload source given: --data, --file, '-' (stdin), or none. */
static int cli_submit_payload(const struct cli_args *args, struct cli_submit_job *job)
{
	const char *data = args->opt['d'], *file = args->opt['f'];
	int from_stdin = args->argc == 2;

	if (from_stdin && strcmp(args->argv[1], "-") != 0) {
		cli_error("unexpected argument '%s': the payload is --data, --file or '-'",
			  args->argv[1]);
		return CLI_EXIT_USAGE;
	}
	if ((data != NULL) + (file != NULL) + from_stdin > 1) {
		cli_error("give at most one of --data, --file and '-'");
		return CLI_EXIT_USAGE;
	}
	if (file != NULL && strcmp(file, "-") != 0)
		return cli_submit_read_file(file, job);
	if (file != NULL || from_stdin)
		return cli_submit_read_fd(STDIN_FILENO, "stdin", job);
	job->payload_len = data != NULL ? strlen(data) : 0;
	if (job->payload_len > CLI_JOB_PAYLOAD_MAX)
		return cli_submit_too_large(1, (long long)job->payload_len);
	memcpy(job->payload, data != NULL ? data : "", job->payload_len);
	return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- request */

static int cli_submit_where(cJSON *body, const char *where);

static int cli_submit_parse(const struct cli_args *args, struct cli_submit_job *job)
{
	job->kind = args->argv[0];
	job->timeout_s = 0;
	job->reward = -1;
	job->priority = -1;
	job->queue_timeout_s = 0;
	if (args->opt['p'] != NULL && cli_parse_long("priority", args->opt['p'], 0,
						     CLI_JOB_PRIORITY_MAX, &job->priority) != 0)
		return CLI_EXIT_USAGE;
	if (args->opt['q'] != NULL &&
	    cli_parse_long("queue timeout", args->opt['q'], 1, CLI_QUEUE_TIMEOUT_S_MAX,
			   &job->queue_timeout_s) != 0)
		return CLI_EXIT_USAGE;
	if (args->opt['t'] != NULL && cli_parse_long("job timeout", args->opt['t'], 1,
						     CLI_JOB_TIMEOUT_S_MAX, &job->timeout_s) != 0)
		return CLI_EXIT_USAGE;
	if (args->opt['r'] != NULL &&
	    cli_parse_long("reward", args->opt['r'], 0, CLI_JOB_REWARD_MAX, &job->reward) != 0)
		return CLI_EXIT_USAGE;
	if (job->kind[0] == '\0') {
		cli_error("empty job kind");
		return CLI_EXIT_USAGE;
	}
	job->where = args->opt['w'];
	if (job->where != NULL) { /* checked before anything is read or sent */
		cJSON *probe = cJSON_CreateObject();
		int bad = probe == NULL || cli_submit_where(probe, job->where) != 0;

		cJSON_Delete(probe);
		if (bad)
			return CLI_EXIT_USAGE;
	}
	return cli_submit_payload(args, job);
}

/*
 * "where":{"KEY":"VALUE",...} from "KEY=VALUE,KEY=VALUE": 0, or -1 with the
 * reason said (the node checks names and bounds, and says what is wrong).
 */
static int cli_submit_where(cJSON *body, const char *where)
{
	cJSON *obj = cJSON_AddObjectToObject(body, "where");
	const char *p = where;

	if (obj == NULL)
		return -1;
	while (*p != '\0') {
		size_t n = strcspn(p, ","), klen;
		const char *eq = memchr(p, '=', n);
		char key[64], value[64];

		klen = eq != NULL ? (size_t)(eq - p) : 0;
		if (eq == NULL || klen == 0 || klen >= sizeof key || n - klen - 1 == 0 ||
		    n - klen - 1 >= sizeof value) {
			cli_error("bad --where '%s' (want KEY=VALUE[,KEY=VALUE...])", where);
			return -1;
		}
		snprintf(key, sizeof key, "%.*s", (int)klen, p);
		snprintf(value, sizeof value, "%.*s", (int)(n - klen - 1), eq + 1);
		if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL) {
			cli_error("bad --where '%s': key '%s' given twice", where, key);
			return -1;
		}
		if (cJSON_AddStringToObject(obj, key, value) == NULL)
			return -1;
		p += n + (p[n] == ',');
	}
	return 0;
}

/* {"kind","payload_b64","timeout_ms","reward","priority","queue_timeout_s"}, or NULL (no memory). */
static cJSON *cli_submit_body(const struct cli_submit_job *job)
{
	char *b64 = malloc(cli_base64_encoded_size(job->payload_len));
	cJSON *body = cJSON_CreateObject();
	int bad;

	if (b64 == NULL || body == NULL) {
		free(b64);
		cJSON_Delete(body);
		return NULL;
	}
	cli_base64_encode(b64, job->payload, job->payload_len);
	/* Left out, timeout_ms and reward take the node's defaults. */
	bad = cJSON_AddStringToObject(body, "kind", job->kind) == NULL ||
	      cJSON_AddStringToObject(body, "payload_b64", b64) == NULL;
	if (!bad && job->timeout_s > 0)
		bad = cJSON_AddNumberToObject(body, "timeout_ms", job->timeout_s * 1000.0) == NULL;
	if (!bad && job->reward >= 0)
		bad = cJSON_AddNumberToObject(body, "reward", (double)job->reward) == NULL;
	if (!bad && job->priority >= 0)
		bad = cJSON_AddNumberToObject(body, "priority", (double)job->priority) == NULL;
	if (!bad && job->queue_timeout_s > 0)
		bad = cJSON_AddNumberToObject(body, "queue_timeout_s",
					      (double)job->queue_timeout_s) == NULL;
	if (!bad && job->where != NULL)
		bad = cli_submit_where(body, job->where) != 0;
	free(b64);
	if (bad) {
		cJSON_Delete(body);
		return NULL;
	}
	return body;
}

/*
 * POSTs the job: its record (with a checked id) in *record_out.  With wait,
 * the node holds the answer until the job is final or CLI_SUBMIT_FIRST_WAIT_MS
 * passed (an older node answers at once: the polls that follow do the rest).
 */
static int cli_submit_post(const struct cli_ctx *ctx, const struct cli_submit_job *job, int wait,
			   cJSON **record_out)
{
	char path[64];
	struct cli_http_call call = { .post = 1, .path = path, .what = "cannot submit job" };
	int rc;

	if (wait) {
		snprintf(path, sizeof path, "/v1/jobs?wait_ms=%d", CLI_SUBMIT_FIRST_WAIT_MS);
		call.wait_s = (CLI_SUBMIT_FIRST_WAIT_MS + 999) / 1000;
	} else {
		snprintf(path, sizeof path, "/v1/jobs");
	}

	call.body = cli_submit_body(job);
	if (call.body == NULL) {
		cli_error("out of memory encoding a %zu-byte payload", job->payload_len);
		return CLI_EXIT_UNREACHABLE;
	}
	rc = cli_http_request(ctx, &call, record_out);
	cJSON_Delete((cJSON *)call.body);
	if (rc == CLI_EXIT_OK && cli_job_check_id(cli_json_string(*record_out, "id", "")) != 0) {
		cli_error("node at %s accepted the job but sent no valid job id", ctx->node_url);
		cJSON_Delete(*record_out);
		*record_out = NULL;
		rc = CLI_EXIT_NODE;
	}
	return rc;
}

/* ---------------------------------------------------------------- wait */

static int64_t cli_submit_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cli_submit_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * How long to wait for the job: as long as it may wait for a slot, then its
 * own timeout, as the node recorded both, plus slack.
 */
static int64_t cli_submit_wait_ms(const cJSON *record, const struct cli_submit_job *job)
{
	double timeout_ms, queue_s;

	if (cli_json_number(record, "queue_timeout_s", &queue_s) != 0 || queue_s < 0 ||
	    queue_s > CLI_QUEUE_TIMEOUT_S_MAX)
		queue_s = (double)job->queue_timeout_s; /* an older node: it does not queue */
	if (cli_json_number(record, "timeout_ms", &timeout_ms) != 0 || timeout_ms <= 0 ||
	    timeout_ms > CLI_JOB_TIMEOUT_S_MAX * 1000.0)
		timeout_ms = job->timeout_s > 0 ? job->timeout_s * 1000.0
						: CLI_JOB_TIMEOUT_S_NODE * 1000.0;
	return (int64_t)timeout_ms + (int64_t)(queue_s * 1000.0) + CLI_JOB_WAIT_SLACK_S * 1000;
}

/* ---------------------------------------------------------------- progress and Ctrl-C */

/* Built before the handler is armed: a signal handler may only write(2) and _exit(2). */
static char cli_submit_interrupt_msg[256];
static size_t cli_submit_interrupt_len;

static void cli_submit_interrupt_cb(int sig)
{
	ssize_t n;

	(void)sig;
	n = write(STDERR_FILENO, cli_submit_interrupt_msg, cli_submit_interrupt_len);
	(void)n;
	_exit(CLI_SUBMIT_EXIT_INTERRUPTED);
}

/*
 * From now on Ctrl-C leaves the job running and says how to cancel it; id
 * NULL: while the POST is out, when the node may have taken the job already.
 */
static void cli_submit_interrupt_arm(const char *id, int progress)
{
	struct sigaction sa;
	int n;

	if (id == NULL)
		n = snprintf(cli_submit_interrupt_msg, sizeof cli_submit_interrupt_msg,
			     "\nchorus: interrupted; the job may have been submitted and then "
			     "keeps running (see 'chorus jobs')\n");
	else
		n = snprintf(cli_submit_interrupt_msg, sizeof cli_submit_interrupt_msg,
			     "%schorus: interrupted; job %s keeps running (see 'chorus job %s', "
			     "cancel it with 'chorus cancel %s')\n",
			     progress ? "\r\033[K" : "\n", id, id, id);
	assert(n > 0 && (size_t)n < sizeof cli_submit_interrupt_msg);
	cli_submit_interrupt_len = (size_t)n;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cli_submit_interrupt_cb;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
}

/* One line, redrawn in place: state, queue position or worker, time so far. */
static void cli_submit_progress(const char *id, const cJSON *record, int64_t elapsed_ms)
{
	char state[32], worker[CLI_CELL_MAX], where[CLI_CELL_MAX + 32] = "";
	const cJSON *wait = cJSON_GetObjectItemCaseSensitive(record, "wait");
	double ahead;

	cli_sanitize(state, sizeof state, cli_json_string(record, "state", "?"));
	if (strcmp(state, "running") == 0) {
		cli_sanitize(worker, sizeof worker, cli_job_worker(record, worker, sizeof worker));
		snprintf(where, sizeof where, " on %s", worker);
	} else if (strcmp(state, "queued") == 0 &&
		   (cli_json_number(wait != NULL ? wait : record, "ahead", &ahead) == 0) &&
		   ahead >= 0) {
		snprintf(where, sizeof where, ", position %.0f", ahead + 1);
	}
	fprintf(stderr, "\r\033[Kchorus: job %.8s %s%s, %.1f s", id, state, where,
		elapsed_ms / 1000.0);
	fflush(stderr);
}

/*
 * Long-polls the job until it is final; *record is replaced by each answer.
 * Bounded by the deadline, and paced so that a node which ignores wait_ms
 * is asked at most every CLI_JOB_POLL_MIN_MS.
 */
static int cli_submit_wait(const struct cli_ctx *ctx, const char *id, int64_t wait_ms,
			   int progress, cJSON **record)
{
	int64_t begin_ms = cli_submit_clock_ms(), deadline_ms = begin_ms + wait_ms, start_ms,
		left_ms, took_ms;
	cJSON *next;
	int rc;

	while (!cli_job_final(*record)) {
		if (progress)
			cli_submit_progress(id, *record, cli_submit_clock_ms() - begin_ms);
		start_ms = cli_submit_clock_ms();
		left_ms = deadline_ms - start_ms;
		if (left_ms <= 0) {
			if (progress)
				fputs("\r\033[K", stderr);
			cli_error("gave up waiting for job %s after %lld s: still %s (see 'chorus "
				  "job %s')",
				  id, (long long)(wait_ms / 1000),
				  cli_json_string(*record, "state", "?"), id);
			return CLI_EXIT_UNREACHABLE;
		}
		if (left_ms > CLI_JOB_WAIT_MS_MAX)
			left_ms = CLI_JOB_WAIT_MS_MAX;
		if (progress && left_ms > CLI_SUBMIT_PROGRESS_MS)
			left_ms = CLI_SUBMIT_PROGRESS_MS; /* the node answers then: time to redraw */
		rc = cli_job_get(ctx, id, (int)left_ms, &next);
		if (rc != CLI_EXIT_OK)
			return rc;
		cJSON_Delete(*record);
		*record = next;
		took_ms = cli_submit_clock_ms() - start_ms;
		if (!cli_job_final(next) && took_ms < CLI_JOB_POLL_MIN_MS)
			cli_submit_sleep_ms(CLI_JOB_POLL_MIN_MS - took_ms);
	}
	return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- outcome */

/* The result bytes, exactly: stdout may be a file or a pipe to another program. */
static int cli_submit_write_result(const struct cli_ctx *ctx, const cJSON *record)
{
	uint8_t *bytes;
	size_t len;
	int rc;

	rc = cli_job_result(ctx, record, &bytes, &len);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (fwrite(bytes, 1, len, stdout) != len || fflush(stdout) != 0) {
		cli_error("cannot write the result: %s", strerror(errno));
		rc = CLI_EXIT_UNREACHABLE;
	}
	free(bytes);
	return rc;
}

static int cli_submit_outcome(const struct cli_ctx *ctx, const char *id, const cJSON *record)
{
	int rc = cli_job_report(id, record);

	if (ctx->json) {
		int print_rc = cli_print_json(record);
		return rc != CLI_EXIT_OK ? rc : print_rc;
	}
	return rc != CLI_EXIT_OK ? rc : cli_submit_write_result(ctx, record);
}

static int cli_submit_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	struct cli_submit_job *job = calloc(1, sizeof *job);
	char id[CLI_JOB_ID_LEN + 1];
	cJSON *record = NULL;
	int rc, progress, detach;

	if (job == NULL) {
		cli_error("out of memory");
		return CLI_EXIT_UNREACHABLE;
	}
	rc = cli_submit_parse(args, job);
	if (rc != CLI_EXIT_OK)
		goto out;
	detach = args->opt['D'] != NULL;
	progress = !detach && args->opt['Q'] == NULL && isatty(STDERR_FILENO);
	if (!detach)
		cli_submit_interrupt_arm(NULL, progress);
	rc = cli_submit_post(ctx, job, !detach, &record);
	if (rc != CLI_EXIT_OK)
		goto out;
	snprintf(id, sizeof id, "%s", cli_json_string(record, "id", ""));
	if (detach) {
		rc = ctx->json ? cli_print_json(record) : (puts(id) < 0 ? CLI_EXIT_UNREACHABLE : 0);
		goto out;
	}
	cli_submit_interrupt_arm(id, progress);
	rc = cli_submit_wait(ctx, id, cli_submit_wait_ms(record, job), progress, &record);
	if (progress) {
		fputs("\r\033[K", stderr); /* the progress line goes before anything else is said */
		fflush(stderr);
	}
	if (rc == CLI_EXIT_OK)
		rc = cli_submit_outcome(ctx, id, record);
out:
	cJSON_Delete(record);
	free(job);
	return rc;
}

/*
 * chorus watch [--type T[,T...]] [--level L] [-j]: follows the node's event
 * stream (GET /v1/events, Server-Sent Events) and prints one line per event,
 * as `serf monitor` and `nomad event stream` do: a short human line, or with
 * -j the event's JSON object as the node sent it.  Lines are flushed as they
 * come, so a pipe sees each event at once.
 *
 * Exit: 0 on SIGINT or SIGTERM; 2 when the node cannot be reached or ends the
 * stream (it stopped, or dropped this watcher as too slow); 3 when it answers
 * an error or sends something that is not an event stream.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CLI_WATCH_PENDING_MAX (64 * 1024) /* bytes of one event not complete yet */
#define CLI_WATCH_IDLE_S      45          /* three of the node's 15 s keep-alives missed */

static int cli_watch_exec(const struct cli_ctx *ctx, const struct cli_args *args);

/* clang-format off */
static const struct option cli_watch_options[] = {
	{ "type", required_argument, NULL, 't' },
	{ "level", required_argument, NULL, 'l' },
	{ NULL, 0, NULL, 0 },
};
/* clang-format on */

const struct cli_cmd_entry cli_watch_entry = {
	.name = "watch",
	.args_usage = "[--type T[,T...]] [--level L]",
	.summary = "follow the node's events (member, job, ack, ledger, log), one line each",
	.options = cli_watch_options,
	.options_help = "  --type T[,T...]       only these: member, job, ack, ledger, log "
			"(default: all but log)\n"
			"  --level L             log events at L or above: error, warn, info, debug\n",
	.args_min = 0,
	.args_max = 0,
	.exec = cli_watch_exec,
};

static volatile sig_atomic_t cli_watch_stop;

static void cli_watch_signal(int sig)
{
	(void)sig;
	cli_watch_stop = 1;
}

struct cli_watch {
	int json;
	char pending[CLI_WATCH_PENDING_MAX];
	size_t len;
};

/* One event's human line: its type and the fields that say what happened. */
static void cli_watch_human(const char *type, const cJSON *d)
{
	static const char *const keys[] = { "id", "id_short", "name", "kind", "state", "old_state",
					    "worker", "reason", "job", "status", "level", "subsys",
					    "line" };
	char ts[32] = "", cell[CLI_CELL_MAX];
	double ms;

	if (cli_json_number(d, "ts_ms", &ms) == 0) {
		time_t s = (time_t)(ms / 1000);
		struct tm tm;
		gmtime_r(&s, &tm);
		strftime(ts, sizeof ts, "%H:%M:%S", &tm);
	}
	printf("%s %-6s", ts, type);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = cli_json_string(d, keys[i], NULL);
		if (v == NULL)
			continue;
		cli_sanitize(cell, sizeof cell, v);
		printf(" %s=%s", keys[i], cell);
	}
	putchar('\n');
}

/* One complete event (its lines, without the blank one): printed; -1 if malformed. */
static int cli_watch_event(struct cli_watch *w, char *ev)
{
	const char *type = "message", *data = NULL;

	for (char *save = NULL, *line = strtok_r(ev, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "event: ", 7) == 0)
			type = line + 7;
		else if (strncmp(line, "data: ", 6) == 0)
			data = line + 6;
	}
	if (data == NULL)
		return 0; /* a comment (keep-alive) or an id alone */
	cJSON *d = cJSON_Parse(data);
	if (d == NULL)
		return -1;
	if (w->json)
		printf("%s\n", data);
	else
		cli_watch_human(type, d);
	fflush(stdout);
	cJSON_Delete(d);
	return 0;
}

/* Bytes of the stream: complete events (ended by a blank line) are printed. */
static int cli_watch_bytes(void *arg, const char *data, size_t len)
{
	struct cli_watch *w = arg;

	if (len > sizeof w->pending - 1 - w->len)
		return -1; /* one event longer than any the node sends */
	memcpy(w->pending + w->len, data, len);
	w->len += len;
	w->pending[w->len] = '\0';
	char *start = w->pending, *end;
	while ((end = strstr(start, "\n\n")) != NULL) {
		*end = '\0';
		if (cli_watch_event(w, start) != 0)
			return -1;
		start = end + 2;
	}
	w->len -= (size_t)(start - w->pending);
	memmove(w->pending, start, w->len);
	return 0;
}

static int cli_watch_exec(const struct cli_ctx *ctx, const struct cli_args *args)
{
	static struct cli_watch w;
	const char *type = args->opt['t'], *level = args->opt['l'];
	char path[CLI_PATH_MAX];
	struct cli_http_stream st = { .bytes_cb = cli_watch_bytes, .arg = &w,
				      .stop = &cli_watch_stop, .idle_s = CLI_WATCH_IDLE_S };
	struct cli_http_call call = { .path = path, .stream = &st };
	struct sigaction sa;
	cJSON *doc = NULL;

	if ((type != NULL && strspn(type, "abcdefghijklmnopqrstuvwxyz,") != strlen(type)) ||
	    (level != NULL && strspn(level, "abcdefghijklmnopqrstuvwxyz") != strlen(level))) {
		cli_error("watch: --type is a list of member, job, ack, ledger, log; --level a level");
		return CLI_EXIT_USAGE;
	}
	snprintf(path, sizeof path, "/v1/events?type=%s%s%s",
		 type != NULL ? type : (level != NULL ? "member,job,ack,ledger,log" : "member,job,ack,ledger"),
		 level != NULL ? "&level=" : "", level != NULL ? level : "");
	w.json = ctx->json;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cli_watch_signal; /* no SA_RESTART: the loop wakes and sees the flag */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int rc = cli_http_request(ctx, &call, &doc);
	cJSON_Delete(doc);
	return rc;
}

/*
 * chorus: entry point, global options and the command table.
 *
 * usage: chorus [-hjV] [-H url] [-t seconds] [--cacert file] command [args]
 *
 * Global options come before the command; -j and -h are also accepted after
 * it.  Adding a command is: write cli-NAME.c with a const cli_cmd_entry,
 * declare it in cli.h and list it in cli_commands below (and in chorus.1).
 * A command's own options are long only ("--limit"), filed by a letter.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const struct cli_cmd_entry *const cli_commands[] = {
	&cli_status_entry,
	&cli_members_entry,
	&cli_submit_entry,
	&cli_job_entry,
	&cli_jobs_entry,
	&cli_cancel_entry,
	&cli_logs_entry,
	&cli_watch_entry,
	&cli_ledger_entry,
	&cli_keygen_entry,
	&cli_keyring_entry,
};
#define CLI_COMMANDS_COUNT (sizeof cli_commands / sizeof cli_commands[0])

/* One option per line reads best; clang-format would pack them. */
/* clang-format off */
static const struct option cli_global_options[] = {
	{ "node", required_argument, NULL, 'H' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ "token-file", required_argument, NULL, 'T' },
	{ "data-dir", required_argument, NULL, 'd' },
	{ "cacert", required_argument, NULL, 'C' }, /* long only */
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const struct option cli_command_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
/* clang-format on */
#define CLI_COMMAND_OPTIONS_MAX 16 /* a command's own options plus the common ones */
#define CLI_USAGE_NAME_WIDTH	20 /* a longer usage puts the summary on the next line */

/* ---------------------------------------------------------------- helpers */

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("chorus: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_print_json(const cJSON *doc)
{
	char *text = cJSON_Print(doc);

	if (text == NULL) {
		cli_error("out of memory printing JSON");
		return CLI_EXIT_UNREACHABLE;
	}
	puts(text);
	cJSON_free(text);
	return CLI_EXIT_OK;
}

/* A string member, or fallback when it is missing or not a string. */
const char *cli_json_string(const cJSON *obj, const char *key, const char *fallback)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return fallback;
	return item->valuestring;
}

/* A number member: 0 and *out set, or -1 when it is missing or not a number. */
int cli_json_number(const cJSON *obj, const char *key, double *out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(item))
		return -1;
	*out = item->valuedouble;
	return 0;
}

/*
 * Copies src for a terminal: names and addresses come from other nodes over
 * the network, so control bytes (escape sequences) are replaced, never shown.
 */
void cli_sanitize(char *dst, size_t dst_size, const char *src)
{
	size_t i;

	if (dst_size == 0)
		return;
	for (i = 0; src[i] != '\0' && i + 1 < dst_size; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[i] = '\0';
}

/* "0.3s", "42s", "5m07s", "3h05m", "2d04h": short enough for a table. */
void cli_format_duration(char *dst, size_t dst_size, double seconds)
{
	long s;

	if (!(seconds >= 0)) /* negative or NaN: a clock the node got wrong */
		seconds = 0;
	if (seconds < 10) {
		snprintf(dst, dst_size, "%.1fs", seconds);
		return;
	}
	s = seconds > 1e9 ? 1000000000L : (long)seconds;
	if (s < 60)
		snprintf(dst, dst_size, "%lds", s);
	else if (s < 3600)
		snprintf(dst, dst_size, "%ldm%02lds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(dst, dst_size, "%ldh%02ldm", s / 3600, s % 3600 / 60);
	else
		snprintf(dst, dst_size, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
}

/* "key:      value", one line, the value sanitized: it came from the network. */
void cli_print_field(const char *key, const char *value)
{
	char clean[CLI_CELL_MAX];

	cli_sanitize(clean, sizeof clean, value);
	printf("%-*s %s\n", CLI_FIELD_KEY_WIDTH, key, clean);
}

/* A whole number in [min, max] from the command line, or one line and -1. */
int cli_parse_long(const char *what, const char *text, long min, long max, long *out)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (end == text || *end != '\0' || errno != 0 || value < min || value > max) {
		cli_error("bad %s '%s': expected a whole number from %ld to %ld", what, text, min,
			  max);
		return -1;
	}
	*out = value;
	return 0;
}

/* Wall-clock milliseconds, to compare with the node's created_ms. */
int64_t cli_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- usage */

/* "  name ARGS  summary", the summary on its own line when the usage is long. */
static void cli_usage_command(const struct cli_cmd_entry *entry, FILE *out)
{
	char line[256];

	snprintf(line, sizeof line, "%s%s%s", entry->name, entry->args_usage[0] != '\0' ? " " : "",
		 entry->args_usage);
	if (strlen(line) <= CLI_USAGE_NAME_WIDTH)
		fprintf(out, "  %-*s  %s\n", CLI_USAGE_NAME_WIDTH, line, entry->summary);
	else
		fprintf(out, "  %s\n  %-*s  %s\n", line, CLI_USAGE_NAME_WIDTH, "", entry->summary);
}

static void cli_usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"usage: chorus [-hjV] [-H url] [-t seconds] [-T file | -d dir] [--cacert file]\n"
		"              command [args]\n"
		"\n"
		"Options:\n"
		"  -H, --node URL        the node's HTTP API (default $CHORUS_NODE, else %s);\n"
		"                        https://HOST:PORT for a node serving it over TLS\n"
		"      --cacert FILE     CA certificates (PEM) to verify an https:// node by\n"
		"                        (default $CHORUS_CACERT, else the system's store)\n"
		"  -j, --json            print the node's JSON instead of a table\n"
		"  -t, --timeout S       give up on a request after S seconds (default %d)\n"
		"  -T, --token-file FILE the node's API token for requests that change\n"
		"                        something (default $CHORUS_TOKEN, else DIR/api.token\n"
		"                        of -d, of the node's data dir, of the default dir)\n"
		"  -d, --data-dir DIR    the node's data dir, where its api.token is\n"
		"  -h, --help            show this help, or a command's with 'chorus COMMAND --help'\n"
		"  -V, --version         show the version\n"
		"\n"
		"Commands:\n",
		CLI_NODE_DEFAULT, CLI_TIMEOUT_S_DEFAULT);
	for (i = 0; i < CLI_COMMANDS_COUNT; i++)
		cli_usage_command(cli_commands[i], out);
	fprintf(out, "\nExit status: 0 success, 1 usage error, 2 node unreachable or request\n"
		     "failed, 3 the node answered an error, 4 the job failed or was cancelled,\n"
		     "5 refused for now, nothing ran (507 the node cannot store it, 503 ledger lagging),\n"
		     "6 refused: no or a wrong token (401), a foreign Origin or Host (403, 421),\n"
		     "7 the node's queue is full (429): submit again once some jobs have started.\n");
}

static void cli_command_usage(const struct cli_cmd_entry *entry, FILE *out)
{
	fprintf(out,
		"usage: chorus [global options] %s [-hj]%s%s\n"
		"\n"
		"%s\n"
		"\n"
		"Options:\n"
		"%s"
		"  -j, --json            print the node's JSON instead of a table\n"
		"  -h, --help            show this help\n"
		"\n"
		"See 'chorus --help' for the global options.\n",
		entry->name, entry->args_usage[0] != '\0' ? " " : "", entry->args_usage,
		entry->summary, entry->options_help);
}

static const struct cli_cmd_entry *cli_command_find(const char *name)
{
	size_t i;

	for (i = 0; i < CLI_COMMANDS_COUNT; i++) {
		if (strcmp(cli_commands[i]->name, name) == 0)
			return cli_commands[i];
	}
	return NULL;
}

/* The offending option, for the one-line error getopt leaves to us. */
static void cli_bad_option(char **argv, int failed_index, int opt_char, int missing_arg)
{
	const char *word = argv[failed_index - 1];
	char short_opt[3] = { '-', (char)opt_char, '\0' };

	/* For "-xyz" getopt has not moved on yet; name the letter, not the word. */
	if (opt_char != 0 && strncmp(word, "--", 2) != 0)
		word = short_opt;
	if (missing_arg)
		cli_error("option '%s' needs an argument (try 'chorus --help')", word);
	else
		cli_error("unknown option '%s' (try 'chorus --help')", word);
}

/* The command's own options, then the common ones: one table for getopt_long. */
static void cli_command_options_merge(const struct cli_cmd_entry *entry, struct option *merged)
{
	size_t n = 0, i;

	for (i = 0; entry->options != NULL && entry->options[i].name != NULL; i++) {
		/* A letter the option loop handles itself would never reach the command. */
		assert(entry->options[i].val > 0 && entry->options[i].val < CLI_OPT_CHARS &&
		       strchr("jh:?", entry->options[i].val) == NULL);
		merged[n++] = entry->options[i];
	}
	for (i = 0; cli_command_options[i].name != NULL; i++)
		merged[n++] = cli_command_options[i];
	assert(n < CLI_COMMAND_OPTIONS_MAX);
	memset(&merged[n], 0, sizeof merged[n]);
}

/* ---------------------------------------------------------------- main */

static int cli_run_command(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_cmd_entry *entry;
	struct option options[CLI_COMMAND_OPTIONS_MAX];
	char short_options[16] = ":jh";
	struct cli_args args;
	int opt;

	entry = cli_command_find(argv[0]);
	if (entry == NULL) {
		cli_error("unknown command '%s' (try 'chorus --help')", argv[0]);
		return CLI_EXIT_USAGE;
	}

	memset(&args, 0, sizeof args);
	cli_command_options_merge(entry, options);
	if (entry->short_options != NULL) {
		assert(strlen(entry->short_options) + 4 < sizeof short_options &&
		       strpbrk(entry->short_options, "jh:?") == NULL);
		strcat(short_options, entry->short_options);
	}
	optind = 0; /* glibc: start a fresh scan of the command's arguments */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, short_options, options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			ctx->json = 1;
			break;
		case 'h':
			cli_command_usage(entry, stdout);
			return CLI_EXIT_OK;
		case ':':
			cli_bad_option(argv, optind, optopt, 1);
			return CLI_EXIT_USAGE;
		case '?':
			cli_bad_option(argv, optind, optopt, 0);
			return CLI_EXIT_USAGE;
		default: /* one of the command's own, declared in entry->options */
			assert(opt > 0 && opt < CLI_OPT_CHARS);
			args.opt[opt] = optarg != NULL ? optarg : "";
			break;
		}
	}

	args.argc = argc - optind;
	args.argv = argv + optind;
	if (args.argc < entry->args_min || args.argc > entry->args_max) {
		cli_error("usage: chorus %s%s%s", entry->name,
			  entry->args_usage[0] != '\0' ? " " : "", entry->args_usage);
		return CLI_EXIT_USAGE;
	}
	return entry->exec(ctx, &args);
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx;
	const char *env;
	long timeout_s;
	int opt;

	memset(&ctx, 0, sizeof ctx);
	ctx.node_url = CLI_NODE_DEFAULT;
	ctx.timeout_s = CLI_TIMEOUT_S_DEFAULT;
	env = getenv("CHORUS_NODE");
	if (env != NULL && env[0] != '\0')
		ctx.node_url = env;

	/* "+": stop at the command name, whose options are its own. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:H:jt:T:d:hV", cli_global_options, NULL)) != -1) {
		switch (opt) {
		case 'H':
			ctx.node_url = optarg;
			break;
		case 'j':
			ctx.json = 1;
			break;
		case 't':
			if (cli_parse_long("timeout", optarg, 1, CLI_TIMEOUT_S_MAX, &timeout_s) != 0)
				return CLI_EXIT_USAGE;
			ctx.timeout_s = (int)timeout_s;
			break;
		case 'T':
			ctx.token_file = optarg;
			break;
		case 'd':
			ctx.data_dir = optarg;
			break;
		case 'C':
			ctx.cacert = optarg;
			break;
		case 'h':
			cli_usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("chorus %s\n", CHORUS_VERSION);
			return CLI_EXIT_OK;
		case ':':
			cli_bad_option(argv, optind, optopt, 1);
			return CLI_EXIT_USAGE;
		default:
			cli_bad_option(argv, optind, optopt, 0);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_error("no command given (try 'chorus --help')");
		return CLI_EXIT_USAGE;
	}
	return cli_run_command(&ctx, argc - optind, argv + optind);
}

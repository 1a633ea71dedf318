/*
 * chorus: entry point, global options and the command table.
 *
 * usage: chorus [-hjV] [-H url] [-t seconds] command [args]
 *
 * Global options come before the command; -j and -h are also accepted after
 * it.  Adding a command is: write cli-NAME.c with a const cli_cmd_entry,
 * declare it in cli.h and list it in cli_commands below (and in chorus.1).
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_cmd_entry *const cli_commands[] = {
	&cli_status_entry,
	&cli_members_entry,
};
#define CLI_COMMANDS_COUNT (sizeof cli_commands / sizeof cli_commands[0])

/* One option per line reads best; clang-format would pack them. */
/* clang-format off */
static const struct option cli_global_options[] = {
	{ "node", required_argument, NULL, 'H' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
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

/* ---------------------------------------------------------------- usage */

static void cli_usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"usage: chorus [-hjV] [-H url] [-t seconds] command [args]\n"
		"\n"
		"Options:\n"
		"  -H, --node URL        the node's HTTP API (default $CHORUS_NODE, else %s)\n"
		"  -j, --json            print the node's JSON instead of a table\n"
		"  -t, --timeout S       give up on a request after S seconds (default %d)\n"
		"  -h, --help            show this help, or a command's with 'chorus COMMAND --help'\n"
		"  -V, --version         show the version\n"
		"\n"
		"Commands:\n",
		CLI_NODE_DEFAULT, CLI_TIMEOUT_S_DEFAULT);
	for (i = 0; i < CLI_COMMANDS_COUNT; i++)
		fprintf(out, "  %-20s  %s\n", cli_commands[i]->name, cli_commands[i]->summary);
	fprintf(out, "\nExit status: 0 success, 1 usage error, 2 node unreachable or request\n"
		     "failed, 3 the node answered an error.\n");
}

static void cli_command_usage(const struct cli_cmd_entry *entry, FILE *out)
{
	fprintf(out,
		"usage: chorus [global options] %s [-hj]%s%s\n"
		"\n"
		"%s\n"
		"\n"
		"Options:\n"
		"  -j, --json            print the node's JSON instead of a table\n"
		"  -h, --help            show this help\n"
		"\n"
		"See 'chorus --help' for the global options.\n",
		entry->name, entry->args_usage[0] != '\0' ? " " : "", entry->args_usage,
		entry->summary);
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

static int cli_parse_timeout(const char *text, int *timeout_s)
{
	char *end;
	long value;

	value = strtol(text, &end, 10);
	if (end == text || *end != '\0' || value < 1 || value > CLI_TIMEOUT_S_MAX) {
		cli_error("bad timeout '%s': expected whole seconds from 1 to %d", text,
			  CLI_TIMEOUT_S_MAX);
		return -1;
	}
	*timeout_s = (int)value;
	return 0;
}

/* ---------------------------------------------------------------- main */

static int cli_run_command(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_cmd_entry *entry;
	int opt, nargs;

	entry = cli_command_find(argv[0]);
	if (entry == NULL) {
		cli_error("unknown command '%s' (try 'chorus --help')", argv[0]);
		return CLI_EXIT_USAGE;
	}

	optind = 0; /* glibc: start a fresh scan of the command's arguments */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":jh", cli_command_options, NULL)) != -1) {
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
		default:
			cli_bad_option(argv, optind, optopt, 0);
			return CLI_EXIT_USAGE;
		}
	}

	nargs = argc - optind;
	if (nargs < entry->args_min || nargs > entry->args_max) {
		cli_error("usage: chorus %s%s%s", entry->name,
			  entry->args_usage[0] != '\0' ? " " : "", entry->args_usage);
		return CLI_EXIT_USAGE;
	}
	return entry->exec(ctx, nargs, argv + optind);
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx;
	const char *env;
	int opt;

	memset(&ctx, 0, sizeof ctx);
	ctx.node_url = CLI_NODE_DEFAULT;
	ctx.timeout_s = CLI_TIMEOUT_S_DEFAULT;
	env = getenv("CHORUS_NODE");
	if (env != NULL && env[0] != '\0')
		ctx.node_url = env;

	/* "+": stop at the command name, whose options are its own. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:H:jt:hV", cli_global_options, NULL)) != -1) {
		switch (opt) {
		case 'H':
			ctx.node_url = optarg;
			break;
		case 'j':
			ctx.json = 1;
			break;
		case 't':
			if (cli_parse_timeout(optarg, &ctx.timeout_s) != 0)
				return CLI_EXIT_USAGE;
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

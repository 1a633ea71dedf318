/*
 * chorus, the command-line client of a chorus node.
 *
 * The CLI speaks to one node's local HTTP API (GET only so far) and prints
 * what it answers, as human tables or as the JSON it received.  Every command
 * lives in its own file (cli-NAME.c) and exports one const descriptor; the
 * table of descriptors is in chorus.c.  A command returns one of the exit
 * codes below; whatever goes wrong is reported as exactly one line on stderr.
 */
#ifndef CHORUS_CLI_H
#define CHORUS_CLI_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#ifndef CHORUS_VERSION
#define CHORUS_VERSION "0.1.0"
#endif

/* Bounds of the client, all in one place. */
#define CLI_NODE_DEFAULT      "http://127.0.0.1:7480"
#define CLI_NODE_PORT_DEFAULT 7480
#define CLI_TIMEOUT_S_DEFAULT 10
#define CLI_TIMEOUT_S_MAX     3600
#define CLI_RESPONSE_MAX      (16 * 1024 * 1024) /* bytes of one response body */
#define CLI_URL_MAX	      1024
#define CLI_PATH_MAX	      1024
#define CLI_CELL_MAX	      256 /* bytes shown in one table cell */

/* Exit status, documented in chorus(1). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_USAGE = 1,	  /* bad command line */
	CLI_EXIT_UNREACHABLE = 2, /* the node could not be reached, or the request failed */
	CLI_EXIT_NODE = 3,	  /* the node answered an error or a malformed response */
};

/* What every command gets: the global options, already parsed. */
struct cli_ctx {
	const char *node_url; /* from -H, $CHORUS_NODE or the default */
	int json;	      /* -j: print the node's JSON document */
	int timeout_s;	      /* whole request, connect to last byte */
};

/*
 * One command.  exec gets the positional arguments after the command name
 * (global and common options already removed); their count has been checked
 * against args_min and args_max.
 */
struct cli_cmd_entry {
	const char *name;
	const char *args_usage; /* shown after the name in usage lines, "" if none */
	const char *summary;	/* one line, for --help */
	int args_min;
	int args_max;
	int (*exec)(const struct cli_ctx *ctx, int argc, char **argv);
};

/* chorus.c */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_print_json(const cJSON *doc);
const char *cli_json_string(const cJSON *obj, const char *key, const char *fallback);
int cli_json_number(const cJSON *obj, const char *key, double *out);
void cli_sanitize(char *dst, size_t dst_size, const char *src);
void cli_format_duration(char *dst, size_t dst_size, double seconds);

/* cli-http.c */
int cli_http_get_json(const struct cli_ctx *ctx, const char *path, cJSON **doc_out);

/* cli-table.c */
struct cli_table;
struct cli_table *cli_table_create(size_t ncols, const char *const *header);
int cli_table_add_row(struct cli_table *table, const char *const *cells);
void cli_table_print(const struct cli_table *table, FILE *out);
void cli_table_free(struct cli_table *table);

/* cli-members.c */
extern const struct cli_cmd_entry cli_members_entry;

/* cli-status.c */
extern const struct cli_cmd_entry cli_status_entry;

#endif

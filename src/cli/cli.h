/*
 * chorus, the command-line client of a chorus node.
 *
 * The CLI speaks to one node's HTTP API (GET, and POST for jobs; https://
 * with the node's certificate verified, cli-tls.c) and
 * prints what it answers, as human tables or as the JSON it received.  Every command
 * lives in its own file (cli-NAME.c) and exports one const descriptor; the
 * table of descriptors is in chorus.c.  A command returns one of the exit
 * codes below; whatever goes wrong is reported as exactly one line on stderr.
 */
#ifndef CHORUS_CLI_H
#define CHORUS_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
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
#define CLI_FIELD_KEY_WIDTH   20  /* "key:" column of the key/value views */
#define CLI_TOKEN_MAX	      128 /* bytes of an API token (the node's are 64 hex digits) */
#define CLI_TOKEN_FILE	      "api.token"
#define CLI_OPT_CHARS	      128 /* option letters are ASCII: cli_args.opt is indexed by them */

/* Jobs: bounds shared with the node's API (POST /v1/jobs, GET /v1/jobs/ID). */
#define CLI_JOB_PAYLOAD_MAX    (32 * 1024) /* the node refuses larger payloads */
#define CLI_JOB_ID_LEN	       32	   /* hex digits of a job id */
#define CLI_JOB_TIMEOUT_S_MAX  86400
#define CLI_JOB_REWARD_MAX     1000000L /* CHORUS_LEDGER_REWARD_MAX: the ledger pays no more */
#define CLI_JOB_WAIT_MS_MAX    60000 /* the most ?wait_ms= the node accepts */
#define CLI_JOB_WAIT_SLACK_S   30    /* submit waits this long past the job's own timeout */
#define CLI_JOB_POLL_MIN_MS    250   /* never ask twice within this, even if the node does not wait */
#define CLI_JOB_TIMEOUT_S_NODE 30    /* the node's default job timeout, if its record omits it */
#define CLI_JOBS_LIMIT_DEFAULT 20
#define CLI_JOBS_LIMIT_MAX     1000
#define CLI_LEDGER_BLOCKS_DEFAULT 100 /* the node's API_LEDGER_BLOCKS_DEFAULT */
#define CLI_LEDGER_BLOCKS_MAX     1000 /* the node's API_LEDGER_BLOCKS_MAX: it sends no more */
#define CLI_JOB_TEXT_MAX       200 /* a result this short and printable is shown by 'job' */
#define CLI_JOB_PRIORITY_MAX   9     /* CHORUS_PRIORITY_MAX: --priority 0..9, higher first */
#define CLI_QUEUE_TIMEOUT_S_MAX 86400 /* CHORUS_QUEUE_TIMEOUT_MS_MAX / 1000: --queue-timeout */

_Static_assert(CLI_JOB_TIMEOUT_S_MAX <= INT32_MAX / 1000, "timeout_ms fits an int");
_Static_assert(CLI_JOB_POLL_MIN_MS < CLI_JOB_WAIT_MS_MAX, "the node's wait paces the polls");
_Static_assert(CLI_JOBS_LIMIT_DEFAULT <= CLI_JOBS_LIMIT_MAX, "the default limit is allowed");
_Static_assert(CLI_JOB_TEXT_MAX < CLI_CELL_MAX, "a shown result fits one printed field");

/* Exit status, documented in chorus(1). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_USAGE = 1,	  /* bad command line */
	CLI_EXIT_UNREACHABLE = 2, /* the node could not be reached, or the request failed */
	CLI_EXIT_NODE = 3,	  /* the node answered an error or a malformed response */
	CLI_EXIT_JOB = 4,	  /* the job failed or was cancelled */
	CLI_EXIT_REFUSED = 5,	  /* a POST refused for now (507 no storage, 503 busy or ledger lagging) */
	CLI_EXIT_AUTH = 6,	  /* refused: no or a wrong token (401), foreign Origin/Host (403, 421) */
	CLI_EXIT_FULL = 7,	  /* a submit refused: the node's queue is full (429); nothing kept */
};

/* What every command gets: the global options, already parsed. */
struct cli_ctx {
	const char *node_url; /* from -H, $CHORUS_NODE or the default */
	int json;	      /* -j: print the node's JSON document */
	int timeout_s;	      /* whole request, connect to last byte */
	const char *token_file; /* -T: the node's api.token */
	const char *data_dir;   /* -d: the node's data dir, where api.token is */
	const char *cacert;     /* --cacert: CA certificates for an https:// node */
};

/* What a command is given after its name, options parsed. */
struct cli_args {
	int argc;    /* positional arguments, their count checked */
	char **argv;
	const char *opt[CLI_OPT_CHARS]; /* by option letter: its argument, "" for a flag, NULL if absent */
};

/*
 * One command.  Its own options (long only, so they never shadow the global
 * letters) are parsed with the common -j and -h; each option's val is the
 * letter it is filed under in cli_args.opt.
 */
struct cli_cmd_entry {
	const char *name;
	const char *args_usage; /* shown after the name in usage lines, "" if none */
	const char *summary;	/* one line, for --help */
	const struct option *options; /* the command's own, NULL-terminated; NULL if none */
	const char *options_help;     /* their lines for 'chorus CMD --help', "" if none */
	int args_min;
	int args_max;
	int (*exec)(const struct cli_ctx *ctx, const struct cli_args *args);
	/* Optional: short letters of its own options (getopt style, e.g. "f"); none may be -j or -h. */
	const char *short_options;
};

/* chorus.c */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_print_json(const cJSON *doc);
/* chorus ledger verify --db FILE (cli-ledger-db.c): a CLI_EXIT_* code. */
int cli_ledger_verify_db(const struct cli_ctx *ctx, const char *path);
const char *cli_json_string(const cJSON *obj, const char *key, const char *fallback);
int cli_json_number(const cJSON *obj, const char *key, double *out);
void cli_sanitize(char *dst, size_t dst_size, const char *src);
void cli_format_duration(char *dst, size_t dst_size, double seconds);
void cli_print_field(const char *key, const char *value);
int cli_parse_long(const char *what, const char *text, long min, long max, long *out);
int64_t cli_now_ms(void);

/* cli-base64.c */
size_t cli_base64_encoded_size(size_t len);
void cli_base64_encode(char *dst, const uint8_t *src, size_t len);
int cli_base64_decode(uint8_t *dst, size_t dst_size, const char *src, size_t *len_out);

/* cli-http.c */
struct cli_http_call {
	int post;	   /* POST, else GET */
	const char *path;  /* "/v1/jobs", with any query */
	const cJSON *body; /* for a POST; NULL sends an empty body */
	int wait_s;	   /* the node may hold the answer this long: added to the timeout */
	const char *what;  /* names the action in the error line of a refusal, or NULL */
	int quiet;	   /* an answer that is not 2xx is returned, not reported */
	struct cli_http_stream *stream; /* a stream (GET /v1/events), or NULL */
};
/*
 * A 2xx answer read as it comes (chorus watch): bytes_cb gets each piece;
 * no deadline but idle_s without a byte; the call returns CLI_EXIT_OK once
 * *stop is set (a signal), CLI_EXIT_UNREACHABLE when the node ends it.
 */
struct cli_http_stream {
	int (*bytes_cb)(void *arg, const char *data, size_t len); /* nonzero: stop, malformed */
	void *arg;
	volatile sig_atomic_t *stop;
	int idle_s;
	int started; /* set: the node answered 200 and the stream began */
	int bad;     /* bytes_cb refused what came */
};
int cli_http_request(const struct cli_ctx *ctx, const struct cli_http_call *call, cJSON **doc_out);
int cli_http_get_json(const struct cli_ctx *ctx, const char *path, cJSON **doc_out);

/*
 * https:// nodes, their certificate verified.  cli-tls.c is built as a
 * plugin, chorus-tls.so, the only part that links OpenSSL: loading and
 * starting libssl and libcrypto cost every call about 1.5 ms (two thirds of
 * what `chorus submit` costs over plain HTTP, bench/cli-cost.sh), so
 * cli-tls-load.c loads the plugin only when a request goes to an https://
 * node.  The functions below are cli-tls-load.c's; the plugin's are in its
 * one exported table, cli_tls_plugin.
 */
struct ssl_ctx_st;
struct ssl_st;
struct bufferevent;
struct event_base;
struct cli_tls {
	struct ssl_ctx_st *ctx;
	struct ssl_st *ssl;
	struct bufferevent *bev; /* owns ssl once made */
	int ssl_owned;
	char why[256];           /* why the handshake failed, kept as it did */
};
#define CLI_TLS_PLUGIN "chorus-tls.so" /* beside the chorus binary, else in CLI_TLS_PLUGIN_DIR */
struct cli_tls_plugin {
	const char *version;	 /* CHORUS_VERSION: a plugin of another build is refused */
	size_t ctx_size;	 /* sizeof(struct cli_ctx) and (struct cli_tls) it was built with */
	size_t tls_size;
	int (*open)(struct cli_tls *tls, const struct cli_ctx *ctx, const char *host,
		    void (*error)(const char *fmt, ...));
	struct bufferevent *(*bev)(struct cli_tls *tls, struct event_base *base);
	void (*close)(struct cli_tls *tls);
};
extern const struct cli_tls_plugin cli_tls_plugin; /* defined in chorus-tls.so only */
int cli_tls_open(struct cli_tls *tls, const struct cli_ctx *ctx, const char *host);
struct bufferevent *cli_tls_bev(struct cli_tls *tls, struct event_base *base);
int cli_tls_why(const struct cli_tls *tls, char *reason, size_t reason_size);
void cli_tls_close(struct cli_tls *tls);

/* cli-job.c: what the job commands share */
int cli_job_check_id(const char *id);
int cli_job_resolve_id(const struct cli_ctx *ctx, const char *arg, char *id);
int cli_job_get(const struct cli_ctx *ctx, const char *id, int wait_ms, cJSON **doc_out);
int cli_job_final(const cJSON *job);
int cli_job_report(const char *id, const cJSON *job);
int cli_job_result(const struct cli_ctx *ctx, const cJSON *job, uint8_t **bytes_out,
		   size_t *len_out);
const char *cli_job_worker(const cJSON *job, char *buf, size_t buf_size);
int cli_job_why_waiting(const cJSON *job, char *buf, size_t buf_size);
extern const struct cli_cmd_entry cli_job_entry;
extern const struct cli_cmd_entry cli_keygen_entry;
extern const struct cli_cmd_entry cli_keyring_entry;

/* cli-jobs.c, cli-submit.c, cli-cancel.c */
extern const struct cli_cmd_entry cli_jobs_entry;
extern const struct cli_cmd_entry cli_submit_entry;
extern const struct cli_cmd_entry cli_cancel_entry;
extern const struct cli_cmd_entry cli_logs_entry;
extern const struct cli_cmd_entry cli_watch_entry; /* cli-watch.c */

/* cli-table.c */
struct cli_table;
struct cli_table *cli_table_create(size_t ncols, const char *const *header);
int cli_table_add_row(struct cli_table *table, const char *const *cells);
void cli_table_print(const struct cli_table *table, FILE *out);
void cli_table_free(struct cli_table *table);

/* cli-members.c */
extern const struct cli_cmd_entry cli_members_entry;

/* cli-ledger.c */
extern const struct cli_cmd_entry cli_ledger_entry;

/* cli-status.c */
extern const struct cli_cmd_entry cli_status_entry;

#endif

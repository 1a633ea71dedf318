/*
 * chorusd: the daemon shell around the sans-io core.
 *
 * One thread, one libevent event_base.  The shell turns I/O into core events
 * (frames from the fabric, timers, signals) and core effects into I/O (frames
 * to peers, log lines); it makes no protocol decision of its own.  Besides
 * nng's threads, two helpers take work the loop would wait on: one computes
 * signature nonces ahead of time (signer.c), one runs raft.db's WAL
 * checkpoints (checkpointer.c).  Neither makes a decision.  This header
 * lists every internal prototype, grouped by the file that defines it.
 */
#ifndef CHORUS_NODE_H
#define CHORUS_NODE_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "chorus/core.h"
#include "chorus/limits.h"

struct event_base;
struct event;

/* Node-side bounds (the protocol bounds live in chorus/limits.h). */
#define NODE_VOTERS_MAX      64            /* --voters: ids listed (voters and spares) */
#define NODE_PATH_MAX        1024          /* data dir, key, log and config paths */
#define NODE_HOST_MAX        255           /* --http host part */
#define NODE_CONFIG_LINE_MAX 1024          /* one config file line */
#define NODE_CAPACITY_MAX    1000000
#define NODE_LEAVE_FLUSH_MS  500           /* loop kept up after a leave */
#define NODE_KEY_FILE        "node.key"
#define NODE_LOCK_FILE       "node.lock"
#define NODE_TOKEN_FILE      "api.token"   /* the API's bearer token (api-auth.c) */
#define NODE_ERR_MAX         512           /* one start-up error message */
#define NODE_WORKER_SPEC_MAX 1024          /* one --worker KIND=COMMAND */
#define NODE_OFFER_WINDOW_MS_MAX 60000
#define NODE_JOB_TIMEOUT_MS  30000         /* a job's timeout when the submitter gives none */

#define NODE_DEFAULT_LISTEN  "tcp://127.0.0.1:7470"
#define NODE_DEFAULT_HTTP    "127.0.0.1:7480"

enum log_format {
	LOG_FORMAT_TEXT = 0,
	LOG_FORMAT_JSON = 1,
};

/* Everything flags and the config file can set. */
struct node_config {
	char data_dir[NODE_PATH_MAX];
	char listen[CHORUS_ADDR_MAX + 1];
	char advertise[CHORUS_ADDR_MAX + 1];    /* --advertise: published instead of listen; "" none */
	char http[NODE_HOST_MAX + 8];           /* "host:port" as given */
	char http_host[NODE_HOST_MAX + 1];
	uint16_t http_port;
	char joins[CHORUS_SEEDS_MAX][CHORUS_ADDR_MAX + 1];
	unsigned njoins;
	char name[CHORUS_NAME_MAX + 1];         /* empty: the short id */
	char roles[CHORUS_ROLES_MAX][CHORUS_TAG_MAX + 1];
	unsigned nroles;
	uint32_t capacity;
	uint32_t offer_window_ms;               /* 0: the core's default */
	char workers[CHORUS_CAPS_MAX][NODE_WORKER_SPEC_MAX]; /* KIND or KIND=COMMAND */
	unsigned nworkers;
	char log_file[NODE_PATH_MAX];
	enum log_format log_format;
	int verbose;                            /* -v: 0 none, 1 debug, 2 trace */
	int log_level;                          /* --log-level: an enum core_log_level */
	int log_stderr;                         /* --log-stderr: with --log-file, stderr too */
	char config_file[NODE_PATH_MAX];
	int check_only;                         /* -n */
	int print_id;                           /* --print-id */
	int voter;                              /* --voter: a ledger voter candidate */
	unsigned bootstrap_expect;              /* --bootstrap-expect N, 0: join a formed cluster */
	uint32_t snapshot_every;                /* --snapshot-every N: compact Raft's log; 0: default */
	char keyring[NODE_PATH_MAX];            /* --keyring FILE: the network keys */
	int insecure_open;                      /* --insecure-open: no network key */
	uint32_t outbox_high;                   /* --outbox-high N: refuse submits past N open acks */
	int rejoin;                             /* --rejoin: a voter that lost raft.db votes again */
	int http_insecure;                      /* --http-insecure: may listen beyond loopback */
	int http_loopback;                      /* http_host is a loopback address */
	int http_wildcard;                      /* http_host is 0.0.0.0 or :: */
	uint64_t voters[NODE_VOTERS_MAX];       /* --voters: the Raft ids the operator chose */
	unsigned nvoters;
	/* The queue (issue 15): kept last, so parallel additions merge as adjacent hunks. */
	uint32_t queue_timeout_s;               /* --queue-timeout: a job's default; 0: the core's */
	struct node_share {
		char client[CHORUS_ID_HEX + 1];     /* a client node's id (hex) */
		uint32_t weight;                    /* 1..CHORUS_SHARE_WEIGHT_MAX */
	} shares[CHORUS_SHARES_MAX];              /* `share CLIENT_ID=WEIGHT`, repeatable */
	unsigned nshares;
	struct chorus_tag tags[CHORUS_NODE_TAGS_MAX]; /* --tag KEY=VALUE, in the node record */
	unsigned ntags;
	char http_tls_cert[NODE_PATH_MAX];      /* --http-tls CERT,KEY: the API over TLS; */
	char http_tls_key[NODE_PATH_MAX];       /* both empty: plain HTTP (api-tls.c) */
};

struct fabric;
struct api;
struct jobs;
struct jobstore;
struct voterd;
struct lread;
typedef struct cJSON cJSON;

/* The running node: owned by chorusd.c, read by api.c. */
struct node {
	struct event_base *base;
	struct core *core;
	struct fabric *fabric;
	struct api *api;
	struct jobs *jobs;
	struct voterd *consensus;
	struct lread *lread;       /* ledger reads for a node without the ledger (ledger-read.c) */
	struct node_config cfg;
	struct event *timer;
	struct event *flush_ev; /* active while the core holds texts to sign (core_flush) */
	struct event *leave_timer;
	struct event *sig_term;
	struct event *sig_int;
	struct event *sig_hup;
	uint64_t start_mono_ms;
	uint64_t start_wall_ms;  /* the generation: wall clock, above every earlier one */
	uint8_t netkeys[CHORUS_KEYRING_MAX][CHORUS_NETKEY_BYTES]; /* --keyring, the primary first */
	int argc;                /* the command line, parsed again by a reload (reload.c) */
	char **argv;
	unsigned nnetkeys;       /* 0: --insecure-open */
	int leaving;
	char fabric_addr[CHORUS_ADDR_MAX + 1]; /* published in our record (advertise.c) */
	const char *fabric_addr_how;           /* the rule that chose it, for the log */
};

/* chorusd.c */
uint64_t chorusd_now_ms(void);
uint64_t chorusd_wall_ms(void);
void chorusd_reschedule(struct node *node);

/* config.c */
enum config_parse {
	CONFIG_RUN = 0,         /* start the node (or check it with -n) */
	CONFIG_EXIT_OK = 1,     /* --help or --version was printed */
	CONFIG_ERR = -1,        /* a bad config file or value: err says which */
	CONFIG_ERR_USAGE = -2,  /* a bad flag: err says which, usage follows */
};
void config_usage(FILE *fp, int full);
void config_defaults(struct node_config *cfg);
int config_set(struct node_config *cfg, const char *key, const char *value, char *err,
               size_t errlen);
int config_load_file(struct node_config *cfg, const char *path, char *err, size_t errlen);
int config_split_line(char *line, char **key, char **value, char *err, size_t errlen);
int config_parse(struct node_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* advertise.c: the fabric address published in the record, never a wildcard */
int advertise_is_wildcard(const char *host);
int advertise_check(const char *url, char *err, size_t errlen);
int advertise_resolve(const char *listen, const char *advertise, char *out, size_t outlen,
                      const char **how, char *err, size_t errlen);

/* identity.c */
/* keyring.c: the network key file (format: keyring.c, chorusd(8)). */
int keyring_load(const char *path, uint8_t keys[][CHORUS_NETKEY_BYTES], unsigned *n, char *err,
                 size_t errlen);
int keyring_save(const char *path, const uint8_t keys[][CHORUS_NETKEY_BYTES], unsigned n,
                 unsigned primary, char *err, size_t errlen);
/* identity.c: the generation, strictly above the last one this data dir used. */
int identity_generation(const char *dir, uint64_t wall_ms, uint64_t *gen, char *err, size_t errlen);
int identity_mkdir(const char *dir, char *err, size_t errlen);
int identity_lock(const char *dir, int *fd_out, char *err, size_t errlen);
int identity_check(const char *dir, int *exists, char *err, size_t errlen);
int identity_load(const char *dir, uint8_t pk[CHORUS_PK_BYTES], uint8_t sk[CHORUS_SK_BYTES],
                  int *created, char *err, size_t errlen);

/* signer.c: ed25519 signatures whose nonce half is made ahead on a helper thread */
struct signer_stats {
	uint64_t made;          /* nonce pairs the helper made */
	uint64_t ahead_signed;  /* signatures finished from a ready pair */
	uint64_t inline_signed; /* signatures made whole on the caller's thread */
	unsigned ready;         /* pairs ready now */
};
extern const struct core_crypto signer_crypto;
int signer_start(const uint8_t sk[CHORUS_SK_BYTES]);
void signer_stop(void);
struct signer_stats signer_stats(void);

/* log.c */
/* level: records above it are skipped; to_stderr: a copy on stderr (always without a path). */
int log_open(const char *path, enum log_format format, int level, int to_stderr);
int log_level_parse(const char *name);
int log_reopen(void);
void log_set_level(int level);
void log_close(void);
/* Gather info/debug lines per loop iteration (one write at its end); detach flushes. */
struct event_base;
int log_attach(struct event_base *base);
void log_detach(void);
void log_flush(void);
int log_enabled(int level);
void log_emit(int level, const char *subsys, const char *fields);
/* Called with every line written (api-events.c); NULL: none. */
typedef void log_hook_fn(int level, const char *subsys, const char *fields);
void log_set_hook(log_hook_fn *fn);
void log_core_cb(void *ctx, int level, const char *subsys, const char *fields);
void log_error(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_quote(char *out, size_t outlen, const char *value);

/* notify.c: sd_notify's protocol over $NOTIFY_SOCKET (Type=notify) */
int notify_init(void);
int notify_send(const char *state);
int notify_reloading(void);

/* reload.c: SIGHUP re-reads the configuration file */
int reload_init(struct node *node);
void reload_run(struct node *node);
void reload_free(void);

/* fabric.c */
typedef void fabric_recv_fn(void *ctx, const uint8_t *frame, size_t len);
struct fabric_stats {
	uint64_t send_drops;     /* frames dropped: peer queue full or socket error */
	uint64_t sends;          /* frames handed to nng (in envelopes) */
	uint64_t recvs;          /* frames handed to the core */
	uint64_t batches_out;    /* envelopes (nng messages) handed to nng */
	uint64_t batches_in;     /* envelopes received and decoded */
	uint64_t batches_full;   /* envelopes sent early: the next frame would not fit */
	uint64_t drop_batch;     /* malformed envelopes dropped, with all their frames */
	uint64_t peers_open;
	uint64_t peers_evicted;
};
int fabric_check_url(const char *url, char *err, size_t errlen);
int fabric_create(struct fabric **out, struct event_base *base, const char *listen_url,
                  fabric_recv_fn *recv_cb, void *ctx, char *err, size_t errlen);
void fabric_destroy(struct fabric *fab);
void fabric_send_cb(void *ctx, const char *addr, const uint8_t *frame, size_t len);
int fabric_send(struct fabric *fab, const char *addr, const uint8_t *frame, size_t len);
void fabric_flush_now(struct fabric *fab);
typedef void fabric_barrier_fn(void *ctx);
void fabric_set_barrier(struct fabric *fab, fabric_barrier_fn *cb, void *ctx);
const struct fabric_stats *fabric_stats(const struct fabric *fab);

/* api.c */
int api_create(struct api **out, struct node *node, char *err, size_t errlen);
void api_destroy(struct api *api);
/* A job became final: answer those who wait for it (later, from the loop). */
void api_job_final(struct api *api, const char *job_id);
struct evhttp_request;
void api_reply(struct evhttp_request *req, int code, const char *reason, cJSON *obj);
void api_reply_error(struct evhttp_request *req, int code, const char *reason, const char *msg);

/* api-auth.c: the token, Host, Origin and Content-Type checks */
#define API_TOKEN_BYTES 32
#define API_TOKEN_HEX   (2 * API_TOKEN_BYTES)
struct api_auth_stats {
	uint64_t unauthorized; /* 401: a mutating request without the right token */
	uint64_t forbidden;    /* 403: a foreign Origin */
	uint64_t misdirected;  /* 421: a Host that is not the listen address */
	uint64_t bad_type;     /* 415: a body that is not application/json */
};
int api_auth_load(const char *dir, char token[API_TOKEN_HEX + 1], char *err, size_t errlen);
int api_auth_check_file(const char *dir, char *err, size_t errlen);
struct ssl_ctx_st;
int api_auth_check(const struct node *node, const char *token, struct api_auth_stats *st,
                   struct ssl_ctx_st *tls, struct evhttp_request *req);

/* api-tls.c: --http-tls (tls NULL: plain HTTP) */
#define API_TLS_KEY_FILE_MAX (16 * 1024) /* a PEM private key (RSA 8192 is under 7 KiB) */
#define API_TLS_HANDSHAKE_MS 5000        /* from accept to a finished handshake, at most */
struct api_tls_stats {
	uint64_t handshakes; /* connections whose TLS handshake completed */
	uint64_t dropped;    /* closed before it did: garbage, plain HTTP, timeout, refused cert */
	uint64_t slow;       /* of those, shut down at API_TLS_HANDSHAKE_MS */
};
struct bufferevent;
struct ssl_ctx_st *api_tls_create(const struct node_config *cfg, char *err, size_t errlen);
int api_tls_check(const struct node_config *cfg, char *err, size_t errlen);
struct bufferevent *api_tls_bev_cb(struct event_base *base, struct ssl_ctx_st *ctx,
                                   struct api_tls_stats *st);
int api_tls_names_host(struct ssl_ctx_st *ctx, const char *host, size_t n);
int api_tls_request_secure(struct evhttp_request *req);

/* api-jobs.c */
/* api-wait.c: requests held until api_wake(key) or wait_ms (long-poll) */
#define API_WAIT_KEY_MAX 64
#define API_WAIT_MS_MAX  5000 /* one held request; clients ask again (under evhttp's timeout) */
struct api_waits;
struct evhttp_request;
typedef void api_wait_fn(void *ctx, struct evhttp_request *req, const char *key, int woken,
                         uint64_t value);
int api_waits_create(struct api_waits **out, struct event_base *base, api_wait_fn *fn, void *ctx);
void api_waits_destroy(struct api_waits *ws);
int api_wait(struct api_waits *ws, struct evhttp_request *req, const char *key, unsigned wait_ms);
void api_wake(struct api_waits *ws, const char *key, uint64_t value);

/* api-events.c: GET /v1/events (Server-Sent Events) */
#define API_EVENTS_WRITE_TIMEOUT_S 30 /* a watcher that takes nothing this long is closed */
struct api_events;
struct api_events_stats {
	uint64_t accepted, refused, dropped, closed, sent, too_long;
};
int api_events_create(struct api_events **out, struct node *node);
void api_events_destroy(struct api_events *ev);
int api_events_route(struct api_events *ev, struct evhttp_request *req, const char *path);
const struct api_events_stats *api_events_stats(const struct api_events *ev);
void api_events_member(void *ctx, const struct member_view *mv, int old_state, int forgotten);
void api_events_job(const struct job_view *v);
void api_events_ack(const struct job_ack *ack);

/* api-ui.c: the dashboard at /ui/ */
int api_ui_route(struct evhttp_request *req, const char *path);

/* api-keyring.c: /v1/keyring */
struct api_keyring;
int api_keyring_create(struct api_keyring **out, struct node *node);
void api_keyring_destroy(struct api_keyring *ak);
int api_keyring_route(struct api_keyring *ak, struct evhttp_request *req, const char *path);

struct api_jobs;
int api_jobs_create(struct api_jobs **out, struct node *node);
void api_jobs_destroy(struct api_jobs *aj);
int api_jobs_route(struct api_jobs *aj, struct evhttp_request *req, const char *path);
void api_jobs_final(struct api_jobs *aj, const char *job_id);
void api_jobs_output(struct api_jobs *aj, const char *job_id);
unsigned api_query_uint(struct evhttp_request *req, const char *key, unsigned dflt, unsigned max,
                        int *bad);

/* metrics.c: histograms and counters kept for GET /metrics (api-metrics.c) */
#define METRICS_BUCKETS_MAX 16 /* bucket bounds of one histogram, +Inf aside */
enum metrics_hist_id {
	METRICS_JOB_DURATION = 0, /* a client job, submit to final (seconds) */
	METRICS_JOB_OFFERS,       /* offers a client job got, over all its rounds */
	METRICS_JOB_QUEUED,       /* the time a client job spent queued for a slot (seconds) */
	METRICS_FSYNC_RAFT,       /* raft.db commits (synchronous=FULL: each waits for an fsync) */
	METRICS_COMMIT_JOBS,      /* jobs.db commits (synchronous=NORMAL) */
	METRICS_COMMIT_OUTBOX,    /* raft.db's outbox connection commits (synchronous=NORMAL) */
	METRICS_HISTS
};
struct metrics_hist {
	const double *bounds; /* upper bounds (le), ascending */
	unsigned nbounds;
	uint64_t buckets[METRICS_BUCKETS_MAX + 1]; /* per bucket, not cumulative; last: +Inf */
	uint64_t count;
	double sum;
};
void metrics_observe(enum metrics_hist_id h, double v);
uint64_t metrics_clock_ns(void);
void metrics_observe_since(enum metrics_hist_id h, uint64_t start_ns);
const struct metrics_hist *metrics_hist(enum metrics_hist_id h);
void metrics_job_final(const struct job_view *v);
void metrics_raft_leader(uint64_t leader);
uint64_t metrics_leader_changes(void);

/* api-metrics.c: GET /metrics (1: the path was its own, answered) */
int api_metrics_route(struct node *node, struct evhttp_request *req, const char *path);

/* voterd.c (the rest of its interface: voterd.h) */
#define NODE_SNAPSHOT_EVERY_MAX 32768   /* --snapshot-every: well under CHORUS_RAFT_LOG_MAX */
_Static_assert(NODE_SNAPSHOT_EVERY_MAX + CHORUS_RAFT_UNCOMMITTED_MAX < CHORUS_RAFT_LOG_MAX,
               "a compacting log never reaches the in-memory bound");
#define NODE_BOOTSTRAP_MAX 9                /* --bootstrap-expect: at most CHORUS_RAFT_VOTERS_MAX */
int voterd_create(struct voterd **out, struct node *node, const uint8_t pk[CHORUS_PK_BYTES],
                     const uint8_t sk[CHORUS_SK_BYTES], char *err, size_t errlen);
void voterd_destroy(struct voterd *cs);
/* At start, after the core is made and before jobs resume: our open acks to the core. */
int voterd_acks_restore(struct voterd *cs, struct core *core);
void voterd_env(struct core_env *env);

/* api-ledger.c */
int api_ledger_route(struct node *node, struct evhttp_request *req, const char *path);

/* jobs.c */
int jobs_create(struct jobs **out, struct node *node, char *err, size_t errlen);
void jobs_destroy(struct jobs *jobs);
void jobs_env(struct core_env *env);
void jobs_resume(struct jobs *jobs);
int jobs_signed(struct jobs *jobs); /* after core_flush: acks saved, then final states written */
int jobs_submit(struct jobs *jobs, struct job_spec *spec, char id[CHORUS_JOB_ID_HEX + 1],
                char *err, size_t errlen);
int jobs_cancel(struct jobs *jobs, const char *id);
/* The job table, with the live state of job id (of every live job: NULL) written first. */
struct jobstore *jobs_sync(struct jobs *jobs, const char *id);
size_t jobs_kinds(const struct jobs *jobs, const char **names, size_t max);
void jobs_add_wait(struct jobs *jobs, cJSON *record);

/* joblog.c: the client's kept live output of its jobs (bounded, in memory) */
struct joblog;
struct joblog_view {
	const uint8_t *data[2]; /* stdout, stderr: what is kept (valid until the next call) */
	size_t len[2];
	uint64_t dropped[2];    /* bytes that will never be shown: lost, or past the bound */
	int ended[2];           /* the stream's end came (the job ended on its worker) */
	unsigned attempt;
};
int joblog_create(struct joblog **out);
void joblog_destroy(struct joblog *jl);
/* Keeps an accepted chunk (env.output_cb); 0 or -ENOMEM (then counted as dropped). */
int joblog_add(struct joblog *jl, const struct job_output *o);
/* 0, or -ENOENT when nothing of job id is kept. */
int joblog_get(const struct joblog *jl, const char *id, struct joblog_view *v);
uint64_t joblog_evicted(const struct joblog *jl);
/* jobs.c keeps the node's joblog. */
struct joblog *jobs_log(struct jobs *jobs);
/* api-jobs.c: output of job_id arrived: answer those who follow it (later, from the loop). */
void api_job_output(struct api *api, const char *job_id);
int jobs_reconfigure(struct jobs *jobs, const char (*workers)[NODE_WORKER_SPEC_MAX],
                     unsigned n, uint32_t capacity, char *err, size_t errlen);

/* checkpointer.c: SQLite WAL checkpoints on a helper thread instead of in the loop's commits */
struct sqlite3;
struct checkpointer_stats {
	uint64_t runs;   /* checkpoints done */
	uint64_t pages;  /* WAL pages they copied into their databases */
	uint64_t errors; /* checkpoints that failed */
	uint64_t busy;   /* found the file busy (a writer's header, another checkpoint): left to the next ask */
	uint64_t inline_runs; /* made by a commit: the WAL had outgrown the helper */
};
int checkpointer_start(void);
void checkpointer_stop(void); /* after every watched connection is closed */
/* db's file checkpoints on the helper from now on; without a start, SQLite's own way. */
int checkpointer_watch(struct sqlite3 *db);
struct checkpointer_stats checkpointer_stats(void);

/* sqlstore.c */
struct sqlite3_stmt;
int sqlstore_open(struct sqlite3 **db, const char *dir, const char *file, const char *schema,
                  char *err, size_t errlen);
int sqlstore_prepare(struct sqlite3 *db, const char *const *sql, struct sqlite3_stmt **const *st,
                     size_t n);
int sqlstore_run(struct sqlite3 *db, struct sqlite3_stmt *st, const char *what);
int sqlstore_exec(struct sqlite3 *db, const char *sql);
int sqlstore_migrate(struct sqlite3 *db, const char *probe, const char *script, const char *what);
struct idmap;
/* What sqlstore_open_checked found: a first start, the store it knows, or one that was lost. */
enum sqlstore_found { SQLSTORE_NEW, SQLSTORE_KNOWN, SQLSTORE_LOST };
int sqlstore_open_checked(struct sqlite3 **db, const char *dir, const char *file,
                          const char *schema, enum sqlstore_found *found, char *err,
                          size_t errlen);
int sqlstore_adopt(struct sqlite3 *db, const char *dir, const char *file);
int sqlstore_meta_put(struct sqlite3 *db, const char *key, const char *value);
int sqlstore_idmap_fill(struct idmap *m, struct sqlite3_stmt *st);

/* jobstore.c */
typedef void jobstore_pending_fn(void *ctx, const struct job_spec *spec);
int jobstore_open(struct jobstore **out, const char *dir, char *err, size_t errlen);
void jobstore_close(struct jobstore *js);
int jobstore_insert(struct jobstore *js, const char *id, const struct job_spec *spec);
int jobstore_update(struct jobstore *js, const struct job_view *v, uint64_t finished_ms);
/* Commits the writes since the last commit (jobstore_update's share one transaction). */
int jobstore_commit(struct jobstore *js);
/* Insert and commit at once (a submit); on failure nothing of the job stays. */
int jobstore_insert_durable(struct jobstore *js, const char *id, const struct job_spec *spec);
int jobstore_forget(struct jobstore *js, const char *id);
const char *jobstore_error(const struct jobstore *js);
int jobstore_get_json(struct jobstore *js, const char *id, cJSON **out);
int jobstore_list_json(struct jobstore *js, unsigned limit, cJSON **out);
int jobstore_each_pending(struct jobstore *js, jobstore_pending_fn *fn, void *ctx);
/*
 * The worker's outcome table (table work_outcomes in jobs.db): one row per
 * job, kept CHORUS_WORK_OUTCOME_KEEP_MS and at most CHORUS_WORK_OUTCOMES_MAX
 * rows.  put replaces a row (a FINAL row never replaces one), in the open
 * transaction; get returns 1 and fills *o (its receipt valid until the next
 * call), 0 when there is no row, -EIO.  prune deletes rows older than
 * now_ms - keep_ms and the oldest beyond max_rows; it runs on its own every
 * JOBSTORE_OUTCOME_PRUNE_EVERY puts.
 */
int jobstore_outcome_put(struct jobstore *js, const struct work_outcome *o, uint64_t now_ms);
int jobstore_outcome_get(struct jobstore *js, const char *id, struct work_outcome *o);
int jobstore_outcome_prune(struct jobstore *js, uint64_t now_ms, uint64_t keep_ms,
                           uint64_t max_rows);
int64_t jobstore_outcome_count(struct jobstore *js);

#endif

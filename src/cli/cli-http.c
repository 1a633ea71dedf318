/*
 * The HTTP client: one GET or POST to the node, one JSON document back.
 *
 * A private event_base runs until the request completes or the deadline
 * passes, so a request can never hang the CLI for longer than --timeout
 * (plus, for a request the node is asked to hold, the time it may hold it).
 * Bodies are bounded (CLI_RESPONSE_MAX).  Every failure is reported here, as
 * one line, and mapped to an exit code: cannot reach / request failed (2) or
 * the node answered an error or something that is not JSON (3).
 *
 * A POST carries the node's API token (Authorization: Bearer): from -T FILE,
 * else $CHORUS_TOKEN, else -d DIR's api.token, else the api.token in the data
 * dir the node names in /v1/status, else the default data dir's, whichever
 * comes first; the last two only for a node on a loopback address.  A GET
 * carries one given by the first three (a node that listens beyond loopback
 * wants it for reads too).  The file is readable only by the node's owner, so whoever can
 * read it may drive the node, and nobody else is asked (chorus(1), TOKEN).
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <sodium.h>

#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <strings.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

struct cli_http_target {
	char host[256]; /* without IPv6 brackets, for connecting */
	char host_header[264];
	int port;
	char path[CLI_PATH_MAX]; /* base path of the URL + the API path */
	int tls;                 /* https:// (cli-tls.c) */
};

struct cli_http_result {
	int done;
	int failed; /* no response: see error and sock_errno */
	int have_error;
	enum evhttp_request_error error;
	int code;
	char reason[128];
	cJSON *doc;
	int body_bad; /* body present but not JSON, or too large */
	struct cli_http_stream *stream; /* the call's, or NULL */
};

/* ---------------------------------------------------------------- URL */

static int cli_http_target_parse(const char *url, const char *api_path,
				 struct cli_http_target *target)
{
	char buf[CLI_URL_MAX + 16];
	struct evhttp_uri *uri;
	const char *scheme, *host, *base;
	size_t host_len, base_len;
	int rc = -1;

	if (strlen(url) > CLI_URL_MAX)
		return -1;
	/* "host:port" alone is accepted as shorthand for "http://host:port". */
	snprintf(buf, sizeof buf, "%s%s", strstr(url, "://") != NULL ? "" : "http://", url);
	uri = evhttp_uri_parse(buf);
	if (uri == NULL)
		return -1;

	scheme = evhttp_uri_get_scheme(uri);
	host = evhttp_uri_get_host(uri);
	if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    host == NULL || host[0] == '\0')
		goto out;
	target->tls = strcmp(scheme, "https") == 0;
	host_len = strlen(host);
	if (host_len >= sizeof target->host)
		goto out;
	snprintf(target->host_header, sizeof target->host_header, "%s", host);
	if (host[0] == '[' && host_len >= 2 && host[host_len - 1] == ']') {
		memcpy(target->host, host + 1, host_len - 2);
		target->host[host_len - 2] = '\0';
	} else {
		memcpy(target->host, host, host_len + 1);
	}
	target->port = evhttp_uri_get_port(uri);
	if (target->port < 0)
		target->port = CLI_NODE_PORT_DEFAULT;
	if (target->port == 0 || target->port > 65535)
		goto out;

	/* A base path ("http://proxy/chorus") prefixes every API path. */
	base = evhttp_uri_get_path(uri);
	if (base == NULL)
		base = "";
	base_len = strlen(base);
	while (base_len > 0 && base[base_len - 1] == '/')
		base_len--;
	if (base_len + strlen(api_path) >= sizeof target->path)
		goto out;
	snprintf(target->path, sizeof target->path, "%.*s%s", (int)base_len, base, api_path);
	rc = 0;
out:
	evhttp_uri_free(uri);
	return rc;
}

/* ---------------------------------------------------------------- callbacks */

static void cli_http_error_cb(enum evhttp_request_error error, void *arg)
{
	struct cli_http_result *result = arg;

	result->have_error = 1;
	result->error = error;
}

/* A piece of a streamed answer: handed on as it came, then forgotten. */
static void cli_http_chunk_cb(struct evhttp_request *req, void *arg)
{
	struct cli_http_result *r = arg;
	struct cli_http_stream *st = r->stream;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);

	if (evhttp_request_get_response_code(req) / 100 != 2) {
		/* An error's body (one small JSON object): evhttp drains it after this call. */
		if (r->doc == NULL && len > 0 && len <= CLI_RESPONSE_MAX)
			r->doc = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len);
		return;
	}
	st->started = 1;
	if (len > 0 && !st->bad && st->bytes_cb(st->arg, (const char *)evbuffer_pullup(in, -1), len) != 0)
		st->bad = 1;
	evbuffer_drain(in, len);
}

static void cli_http_done_cb(struct evhttp_request *req, void *arg)
{
	struct cli_http_result *result = arg;
	struct evbuffer *body;
	const char *line;
	size_t len;

	result->done = 1;
	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		result->failed = 1;
		return;
	}
	result->code = evhttp_request_get_response_code(req);
	line = evhttp_request_get_response_code_line(req);
	snprintf(result->reason, sizeof result->reason, "%s", line != NULL ? line : "");

	body = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(body);
	if (len == 0 || len > CLI_RESPONSE_MAX) {
		result->body_bad = 1;
		return;
	}
	result->doc = cJSON_ParseWithLength((const char *)evbuffer_pullup(body, -1), len);
	if (result->doc == NULL)
		result->body_bad = 1;
}

/* ---------------------------------------------------------------- reporting */

/*
 * evhttp says only that a request failed, and errno by then belongs to a
 * later call (ENOTCONN), so the reason is found by trying the connection
 * once more, by hand: "connection refused" beats "request failed".  Only
 * runs on the error path, bounded by the same timeout.
 */
static void cli_http_probe(const struct cli_http_target *target, int timeout_s, char *reason,
			   size_t reason_size)
{
	struct addrinfo hints, *ai = NULL;
	char port[8];
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd = -1, gai, err = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof port, "%d", target->port);
	gai = getaddrinfo(target->host, port, &hints, &ai);
	if (gai != 0) {
		snprintf(reason, reason_size, "cannot resolve '%.64s': %.128s", target->host,
			 gai_strerror(gai));
		return;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		err = errno;
	} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		err = errno;
		if (err == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			pfd.revents = 0;
			err = poll(&pfd, 1, timeout_s * 1000);
			if (err == 0)
				err = ETIMEDOUT;
			else if (err < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno;
		}
	}
	if (err == 0)
		snprintf(reason, reason_size, "connection closed without an answer");
	else
		snprintf(reason, reason_size, "%s", strerror(err));
	reason[0] = (char)tolower((unsigned char)reason[0]);
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
}

static int cli_http_report_failure(const struct cli_ctx *ctx, const struct cli_http_target *target,
				   int timeout_s, const struct cli_http_result *r,
				   const char *tls_why)
{
	char reason[256];

	if (!r->done || (r->have_error && r->error == EVREQ_HTTP_TIMEOUT)) {
		cli_error("cannot reach node at %s: no answer within %d s", ctx->node_url,
			  timeout_s);
		return CLI_EXIT_UNREACHABLE;
	}
	if (r->have_error && r->error == EVREQ_HTTP_DATA_TOO_LONG) {
		cli_error("node at %s sent a response larger than %d bytes", ctx->node_url,
			  CLI_RESPONSE_MAX);
		return CLI_EXIT_NODE;
	}
	if (tls_why != NULL) {
		cli_error("cannot reach node at %s: %s", ctx->node_url, tls_why);
		return CLI_EXIT_UNREACHABLE;
	}
	cli_http_probe(target, timeout_s, reason, sizeof reason);
	cli_error("cannot reach node at %s: %s", ctx->node_url, reason);
	return CLI_EXIT_UNREACHABLE;
}

static int cli_http_report_answer(const struct cli_ctx *ctx, const struct cli_http_call *call,
				  const struct cli_http_result *r)
{
	char message[CLI_CELL_MAX];
	const char *text;

	if (r->code >= 200 && r->code < 300) {
		if (r->body_bad) {
			cli_error("node at %s answered %d with a body that is not JSON",
				  ctx->node_url, r->code);
			return CLI_EXIT_NODE;
		}
		return CLI_EXIT_OK;
	}
	text = r->doc != NULL ? cli_json_string(r->doc, "error", NULL) : NULL;
	if (text == NULL)
		text = r->reason[0] != '\0' ? r->reason : "no error message";
	if (call->quiet)
		return r->code == 401 || r->code == 403 || r->code == 421 ? CLI_EXIT_AUTH
		                                                            : CLI_EXIT_NODE;
	cli_sanitize(message, sizeof message, text);
	if (call->what != NULL)
		cli_error("%s: node answered %d: %s", call->what, r->code, message);
	else
		cli_error("node answered %d: %s", r->code, message);
	/* Refused before anything ran (a full disk, a lagging ledger): try again later. */
	if (call->post && (r->code == 507 || r->code == 503))
		return CLI_EXIT_REFUSED;
	/* The node's queue is full: back-pressure, the job was not kept (chorus(1)). */
	if (call->post && r->code == 429)
		return CLI_EXIT_FULL;
	if (r->code == 401 || r->code == 403 || r->code == 421)
		return CLI_EXIT_AUTH;
	return CLI_EXIT_NODE;
}

/* ---------------------------------------------------------------- token */

/* One token from path, trailing white space dropped: 0, or -1 with errno set. */
static int cli_http_token_read(const char *path, char token[CLI_TOKEN_MAX + 1])
{
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return -1;
	n = fread(token, 1, CLI_TOKEN_MAX + 1, fp);
	fclose(fp);
	while (n > 0 && isspace((unsigned char)token[n - 1]))
		n--;
	if (n == 0 || n > CLI_TOKEN_MAX) {
		errno = EINVAL;
		return -1;
	}
	token[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)token[i])) {
			errno = EINVAL; /* it goes into a header line as it is */
			return -1;
		}
	return 0;
}

static int cli_http_token_dir(const char *dir, char token[CLI_TOKEN_MAX + 1])
{
	char path[CLI_PATH_MAX + sizeof CLI_TOKEN_FILE + 1];

	if (strlen(dir) > CLI_PATH_MAX)
		return -1;
	snprintf(path, sizeof path, "%s/%s", dir, CLI_TOKEN_FILE);
	return cli_http_token_read(path, token);
}

/* 127.0.0.0/8, ::1 or localhost: the node runs on this machine. */
static int cli_http_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	return strcasecmp(host, "localhost") == 0 ||
	       (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
	       (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6));
}

/* The data dir chorusd uses by default (chorusd(8)): /var/lib/chorus for root. */
static int cli_http_token_default(char token[CLI_TOKEN_MAX + 1])
{
	char dir[CLI_PATH_MAX];
	const char *home = getenv("HOME");

	if (geteuid() == 0)
		snprintf(dir, sizeof dir, "/var/lib/chorus");
	else if (home != NULL && home[0] == '/' && strlen(home) < sizeof dir - 32)
		snprintf(dir, sizeof dir, "%s/.local/share/chorus", home);
	else
		return -1;
	return cli_http_token_dir(dir, token);
}

/*
 * Finds the token for a POST (see the top of this file).  CLI_EXIT_OK with
 * token[0] == '\0' when there is none to find (the node will answer 401);
 * otherwise the failure was reported.
 */
static int cli_http_token(const struct cli_ctx *ctx, const struct cli_http_target *target,
			  int discover, char token[CLI_TOKEN_MAX + 1])
{
	const struct cli_http_call status = { .post = 0, .path = "/v1/status", .quiet = 1 };
	const char *env = getenv("CHORUS_TOKEN");
	const char *dir;
	cJSON *doc = NULL;
	int rc;

	token[0] = '\0';
	if (ctx->token_file != NULL) {
		if (cli_http_token_read(ctx->token_file, token) == 0)
			return CLI_EXIT_OK;
		cli_error("token file %s: %s", ctx->token_file, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	if (env != NULL && env[0] != '\0') {
		if (strlen(env) > CLI_TOKEN_MAX) {
			cli_error("CHORUS_TOKEN is longer than %d bytes", CLI_TOKEN_MAX);
			return CLI_EXIT_USAGE;
		}
		snprintf(token, CLI_TOKEN_MAX + 1, "%s", env);
		return CLI_EXIT_OK;
	}
	if (ctx->data_dir != NULL) {
		if (cli_http_token_dir(ctx->data_dir, token) == 0)
			return CLI_EXIT_OK;
		cli_error("token file %s/%s: %s", ctx->data_dir, CLI_TOKEN_FILE, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	/*
	 * Looked for only when the node is on this machine: a node elsewhere could
	 * name the path of a local node's data dir and be sent that node's token.
	 */
	if (!discover || !cli_http_loopback(target->host))
		return CLI_EXIT_OK;
	rc = cli_http_request(ctx, &status, &doc);
	if (rc == CLI_EXIT_UNREACHABLE)
		return rc; /* reported: the POST would fail the same way */
	dir = doc != NULL ? cli_json_string(doc, "data_dir", NULL) : NULL;
	if (dir != NULL && cli_http_token_dir(dir, token) == 0) {
		cJSON_Delete(doc);
		return CLI_EXIT_OK;
	}
	cJSON_Delete(doc);
	if (cli_http_token_default(token) != 0)
		token[0] = '\0';
	return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- request */

/* The body of a POST, printed compact, with its length: evhttp sends it as is. */
static int cli_http_set_body(struct evhttp_request *req, const cJSON *body)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	char length[24];
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (body != NULL) {
		text = cJSON_PrintUnformatted(body);
		if (text == NULL)
			return -1;
		len = strlen(text);
		evhttp_add_header(headers, "Content-Type", "application/json");
	}
	snprintf(length, sizeof length, "%zu", len);
	evhttp_add_header(headers, "Content-Length", length);
	rc = len > 0 ? evbuffer_add(evhttp_request_get_output_buffer(req), text, len) : 0;
	cJSON_free(text);
	return rc;
}

/* Queues the request; -1 when it could not even be built. */
static int cli_http_send(struct evhttp_connection *conn, const struct cli_http_target *target,
			 const struct cli_http_call *call, const char *token,
			 struct cli_http_result *result)
{
	char auth[CLI_TOKEN_MAX + 16];
	struct evhttp_request *req;
	struct evkeyvalq *headers;

	req = evhttp_request_new(cli_http_done_cb, result);
	if (req == NULL)
		return -1;
	evhttp_request_set_error_cb(req, cli_http_error_cb);
	if (call->stream != NULL)
		evhttp_request_set_chunked_cb(req, cli_http_chunk_cb);
	headers = evhttp_request_get_output_headers(req);
	evhttp_add_header(headers, "Host", target->host_header);
	evhttp_add_header(headers, "Accept", call->stream != NULL ? "text/event-stream" : "application/json");
	evhttp_add_header(headers, "Connection", "close");
	evhttp_add_header(headers, "User-Agent", "chorus/" CHORUS_VERSION);
	if (token[0] != '\0') {
		snprintf(auth, sizeof auth, "Bearer %s", token);
		evhttp_add_header(headers, "Authorization", auth);
	}
	if (call->post && cli_http_set_body(req, call->body) != 0) {
		evhttp_request_free(req);
		return -1;
	}
	/* On failure evhttp_make_request frees the request itself. */
	return evhttp_make_request(conn, req, call->post ? EVHTTP_REQ_POST : EVHTTP_REQ_GET,
				   target->path);
}

static void cli_http_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the private loop until the answer is in or timeout_s has passed. */
static void cli_http_run(struct event_base *base, int timeout_s, const struct cli_http_result *r)
{
	struct timeval deadline;

	if (r->stream != NULL) {
		/*
		 * No deadline: the connection's idle timeout finds a node gone quiet.
		 * A tick wakes the loop to see *stop (a signal's handler sets it).
		 */
		struct timeval tick = { 0, 200 * 1000 };
		struct event *ev = event_new(base, -1, EV_PERSIST, cli_http_tick_cb, NULL);
		if (ev == NULL || event_add(ev, &tick) != 0) {
			if (ev != NULL)
				event_free(ev);
			return;
		}
		while (!r->done && !*r->stream->stop && !r->stream->bad)
			if (event_base_loop(base, EVLOOP_ONCE) != 0)
				break;
		event_free(ev);
		return;
	}

	/* The connection's own timeout covers each phase; this bounds the whole. */
	deadline.tv_sec = timeout_s;
	deadline.tv_usec = 0;
	event_base_loopexit(base, &deadline);
	while (!r->done) {
		if (event_base_loop(base, EVLOOP_ONCE) != 0 || event_base_got_exit(base))
			break;
	}
}

/* The connection, over TLS for an https:// node (tls prepared by cli_tls_open). */
static struct evhttp_connection *cli_http_connect(struct event_base *base,
						  const struct cli_http_target *target,
						  struct cli_tls *tls, int timeout_s)
{
	struct evhttp_connection *conn;
	struct bufferevent *bev = NULL;

	if (target->tls && (bev = cli_tls_bev(tls, base)) == NULL)
		return NULL;
	conn = evhttp_connection_base_bufferevent_new(base, NULL, bev, target->host,
						      (unsigned short)target->port);
	if (conn == NULL)
		return NULL;
	evhttp_connection_set_timeout(conn, timeout_s);
	evhttp_connection_set_retries(conn, 0);
	evhttp_connection_set_max_body_size(conn, CLI_RESPONSE_MAX);
	return conn;
}

/*
 * Sends call to the node.  On CLI_EXIT_OK *doc_out is the parsed body of a
 * 2xx answer (the caller frees it); otherwise the failure has been reported
 * as one line and *doc_out is NULL.
 */
int cli_http_request(const struct cli_ctx *ctx, const struct cli_http_call *call, cJSON **doc_out)
{
	struct cli_http_target target;
	struct cli_http_result result;
	char token[CLI_TOKEN_MAX + 1] = "";
	struct event_base *base = NULL;
	struct evhttp_connection *conn = NULL;
	struct cli_tls tls;
	char tls_why[256];
	int timeout_s = call->stream != NULL ? call->stream->idle_s : ctx->timeout_s + call->wait_s;
	int rc = CLI_EXIT_UNREACHABLE;

	assert(call->wait_s >= 0 && call->wait_s <= CLI_JOB_WAIT_MS_MAX / 1000 + 1);
	*doc_out = NULL;
	memset(&tls, 0, sizeof tls);
	memset(&result, 0, sizeof result);
	result.stream = call->stream;
	if (cli_http_target_parse(ctx->node_url, call->path, &target) != 0) {
		cli_error("bad node URL '%s': expected http://HOST:PORT or https://HOST:PORT",
			  ctx->node_url);
		return CLI_EXIT_USAGE;
	}
	/* A GET carries a token given (a node beyond loopback wants one); a POST finds one. */
	if ((rc = cli_http_token(ctx, &target, call->post, token)) != CLI_EXIT_OK)
		return rc;

	if (target.tls && (rc = cli_tls_open(&tls, ctx, target.host)) != CLI_EXIT_OK)
		goto out;
	rc = CLI_EXIT_UNREACHABLE;
	base = event_base_new();
	if (base == NULL)
		goto fail_setup;
	if ((conn = cli_http_connect(base, &target, &tls, timeout_s)) == NULL)
		goto fail_setup;
	if (cli_http_send(conn, &target, call, token, &result) != 0)
		goto fail_setup;
	if (call->stream != NULL)
		evhttp_connection_set_max_body_size(conn, -1); /* a stream is bounded in time, not size */
	cli_http_run(base, timeout_s, &result);

	if (call->stream != NULL && call->stream->started) {
		if (*call->stream->stop) {
			rc = CLI_EXIT_OK;
		} else if (call->stream->bad) {
			cli_error("%s sent a malformed event stream", ctx->node_url);
			rc = CLI_EXIT_NODE;
		} else {
			cli_error("%s closed the event stream (the node stopped, or dropped this "
				  "watcher as too slow)", ctx->node_url);
			rc = CLI_EXIT_UNREACHABLE;
		}
		goto out;
	}
	if (!result.done || result.failed)
		rc = cli_http_report_failure(ctx, &target, timeout_s, &result,
					     target.tls && cli_tls_why(&tls, tls_why, sizeof tls_why)
						     ? tls_why
						     : NULL);
	else
		rc = cli_http_report_answer(ctx, call, &result);
	if (rc == CLI_EXIT_OK) {
		*doc_out = result.doc;
		result.doc = NULL;
	}
	goto out;

fail_setup:
	cli_error("cannot set up a request to %s: %s", ctx->node_url,
		  errno != 0 ? strerror(errno) : "out of memory");
out:
	sodium_memzero(token, sizeof token);
	cJSON_Delete(result.doc);
	if (conn != NULL)
		evhttp_connection_free(conn); /* and the TLS bufferevent with its SSL */
	else if (tls.bev != NULL)
		bufferevent_free(tls.bev);
	cli_tls_close(&tls);
	if (base != NULL)
		event_base_free(base);
	return rc;
}

/* GETs path ("/v1/status"), as cli_http_request. */
int cli_http_get_json(const struct cli_ctx *ctx, const char *path, cJSON **doc_out)
{
	const struct cli_http_call call = { .post = 0, .path = path };

	return cli_http_request(ctx, &call, doc_out);
}

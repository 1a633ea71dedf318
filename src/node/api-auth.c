/*
 * Who may drive the HTTP API (docs/security.md, "The HTTP API").
 *
 * The API listens on loopback, but loopback is not the owner: any web page
 * the operator opens can make the browser send requests there, and a DNS name
 * rebound to 127.0.0.1 even reads the answers.  So, as Jupyter and the Docker
 * socket do, the owner proves itself by reading a file only it can read:
 *
 *   - api.token in the data dir, 32 random bytes in hex, mode 0600, written
 *     once (a temporary file linked into place, so a crash or a second node
 *     never leaves half a token) and kept across restarts;
 *   - every request that is not GET or HEAD carries `Authorization: Bearer
 *     TOKEN`, compared in constant time; a missing or wrong one is 401 and a
 *     counter, logged at debug only (an outsider must not fill the log);
 *     beyond loopback (--http-tls, --http-insecure) GET and HEAD too: there
 *     anyone on the network may connect, and job records hold payloads;
 *   - a request's Host must name the listen address (127.0.0.1:PORT,
 *     localhost:PORT, [::1]:PORT): a rebound name is refused 421 (a request
 *     without Host, HTTP/1.0's, comes from no browser and passes);
 *   - an Origin header, when sent, must be http:// + that Host (https://
 *     over TLS): a page from another origin is refused 403, whatever it sends;
 *   - over TLS (api-tls.c) a Host may also be a name the certificate holds:
 *     the client verified it, and a rebound name fails that verification;
 *   - a body must be `Content-Type: application/json` (415): a browser sends
 *     that only after a CORS preflight, which this API never grants, so the
 *     cross-origin "simple request" (text/plain) cannot carry a body here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "node.h"

#define API_AUTH_BEARER "Bearer "

/* Reads DIR/api.token; 0, -ENOENT when absent, -EINVAL when not a token. */
static int
api_auth_read(const char *path, char token[API_TOKEN_HEX + 1])
{
	char buf[API_TOKEN_HEX + 2];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n == API_TOKEN_HEX + 1 && buf[API_TOKEN_HEX] == '\n')
		n--;
	if (n != API_TOKEN_HEX)
		return -EINVAL;
	for (int i = 0; i < API_TOKEN_HEX; i++)
		if (strchr("0123456789abcdef", buf[i]) == NULL || buf[i] == '\0')
			return -EINVAL;
	memcpy(token, buf, API_TOKEN_HEX);
	token[API_TOKEN_HEX] = '\0';
	return 0;
}

/* Writes a new token to a temporary file and links it into place: 0 or -errno. */
static int
api_auth_create(const char *path, char token[API_TOKEN_HEX + 1])
{
	char tmp[NODE_PATH_MAX + 32], line[API_TOKEN_HEX + 2];
	uint8_t raw[API_TOKEN_BYTES];
	int fd, r = 0;

	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(token, API_TOKEN_HEX + 1, raw, sizeof raw);
	sodium_memzero(raw, sizeof raw);
	snprintf(line, sizeof line, "%s\n", token);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return -errno;
	if (write(fd, line, API_TOKEN_HEX + 1) != API_TOKEN_HEX + 1 || fsync(fd) != 0)
		r = errno != 0 ? -errno : -EIO;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	/* link(), not rename(): a token another start wrote first is kept, not replaced. */
	if (r == 0 && link(tmp, path) != 0)
		r = -errno;
	(void)unlink(tmp);
	return r;
}

/* The node's token: read from DIR/api.token, made there at the first start. */
int
api_auth_load(const char *dir, char token[API_TOKEN_HEX + 1], char *err, size_t errlen)
{
	char path[NODE_PATH_MAX + 16];
	int r;

	snprintf(path, sizeof path, "%s/%s", dir, NODE_TOKEN_FILE);
	r = api_auth_read(path, token);
	if (r == -ENOENT) {
		r = api_auth_create(path, token);
		if (r == -EEXIST)
			r = api_auth_read(path, token);
	}
	if (r == -EINVAL)
		snprintf(err, errlen, "%s: not a token (64 hex digits); remove it to make a new one",
		         path);
	else if (r != 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
	return r;
}

/* -n: an api.token a start would refuse (absent is fine: it would be made). */
int
api_auth_check_file(const char *dir, char *err, size_t errlen)
{
	char path[NODE_PATH_MAX + 16], token[API_TOKEN_HEX + 1];
	int r;

	snprintf(path, sizeof path, "%s/%s", dir, NODE_TOKEN_FILE);
	r = api_auth_read(path, token);
	sodium_memzero(token, sizeof token);
	if (r == 0 || r == -ENOENT)
		return 0;
	if (r == -EINVAL)
		snprintf(err, errlen, "%s: not a token (64 hex digits); remove it to make a new one",
		         path);
	else
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
	return r;
}

/*
 * The Host header names this server: its listen address or, on loopback,
 * localhost; the port, when given, is its port (libevent's own client sends
 * none).  A rebound name (evil.example:PORT) names neither.
 */
static int
api_auth_host_ok(const struct node_config *cfg, struct ssl_ctx_st *tls, const char *host)
{
	char port[8];
	const char *colon;
	size_t n;

	if (host == NULL)
		return 1; /* HTTP/1.0 tools send none; a browser always does */
	if (cfg->http_wildcard)
		return 1; /* --http-insecure on 0.0.0.0 / [::]: any name of the machine */
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return 0;
		colon = close[1] == ':' ? close + 1 : NULL;
		n = (size_t)(close - host - 1);
		host++;
	} else {
		colon = strchr(host, ':');
		n = colon != NULL ? (size_t)(colon - host) : strlen(host);
	}
	snprintf(port, sizeof port, "%u", cfg->http_port);
	if (colon != NULL && strcmp(colon + 1, port) != 0)
		return 0;
	if (n == strlen(cfg->http_host) && strncasecmp(host, cfg->http_host, n) == 0)
		return 1;
	if (tls != NULL && api_tls_names_host(tls, host, n))
		return 1;
	return cfg->http_loopback && n == 9 && strncasecmp(host, "localhost", 9) == 0;
}

/* Bearer TOKEN, in time that does not depend on where it differs. */
static int
api_auth_token_ok(const char *token, const char *header)
{
	size_t n = sizeof API_AUTH_BEARER - 1;

	if (header == NULL || strncasecmp(header, API_AUTH_BEARER, n) != 0)
		return 0;
	header += n;
	if (strlen(header) != API_TOKEN_HEX)
		return 0;
	return sodium_memcmp(header, token, API_TOKEN_HEX) == 0;
}

/* application/json, with or without parameters (charset). */
static int
api_auth_json_type(const char *type)
{
	size_t n = sizeof "application/json" - 1;

	return type != NULL && strncasecmp(type, "application/json", n) == 0 &&
	       (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

/*
 * Whether req may go on to its handler; when not, it has been answered and
 * counted.  Host and Origin are checked for every method, the token and the
 * body's type for every method that is not GET or HEAD, and the token for
 * those too beyond loopback.
 */
int
api_auth_check(const struct node *node, const char *token, struct api_auth_stats *st,
               struct ssl_ctx_st *tls, struct evhttp_request *req)
{
	const char *scheme = tls != NULL ? "https://" : "http://";
	size_t scheme_len = strlen(scheme);
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const char *host = evhttp_find_header(in, "Host");
	const char *origin = evhttp_find_header(in, "Origin");

	if (!api_auth_host_ok(&node->cfg, tls, host)) {
		st->misdirected++;
		log_debug("api", "event=refused why=host");
		api_reply_error(req, 421, "Misdirected Request", "Host is not this server");
		return 0;
	}
	if (origin != NULL && (host == NULL || strncmp(origin, scheme, scheme_len) != 0 ||
	                       strcasecmp(origin + scheme_len, host) != 0)) {
		st->forbidden++;
		log_debug("api", "event=refused why=origin");
		api_reply_error(req, 403, "Forbidden", "cross-origin requests are refused");
		return 0;
	}
	/* Beyond loopback (TLS or --http-insecure) the network may connect: reads need it too. */
	if ((m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD) && node->cfg.http_loopback)
		return 1;
	if (!api_auth_token_ok(token, evhttp_find_header(in, "Authorization"))) {
		st->unauthorized++;
		log_debug("api", "event=refused why=token");
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Bearer");
		api_reply_error(req, 401, "Unauthorized",
		                "a token is required (the node's api.token: chorus(1), -T)");
		return 0;
	}
	if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)
		return 1;
	const char *type = evhttp_find_header(in, "Content-Type");
	if ((type != NULL || evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0) &&
	    !api_auth_json_type(type)) {
		st->bad_type++;
		log_debug("api", "event=refused why=content-type");
		api_reply_error(req, 415, "Unsupported Media Type",
		                "a body must be Content-Type: application/json");
		return 0;
	}
	return 1;
}

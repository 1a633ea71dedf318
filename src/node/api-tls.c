/*
 * TLS for the HTTP API (--http-tls CERT,KEY; docs/security.md, "TLS").
 *
 * evhttp stays as it is: for every accepted connection it asks
 * api_tls_bev_cb for its bufferevent, and gets an OpenSSL one in the
 * accepting state instead of a plain socket one.  Everything above (the
 * request bounds, the 10 s idle timeout, the token and the Host, Origin and
 * Content-Type checks) is the same over TLS; everything below (the
 * listener, its accept back-off) too.
 *
 * The context is made once, at start (and by chorusd -n, which throws it
 * away), so a bad CERT or KEY stops the start with one line rather than
 * failing every handshake later:
 *   - KEY must be readable by its owner only (mode 0600, as the keyring):
 *     it is read from the descriptor that was checked, never reopened;
 *   - CERT is a PEM chain, the node's certificate first, and KEY must be
 *     its private key;
 *   - TLS 1.2 at least; TLS 1.2 ciphers only ECDHE with an AEAD (1.3's are
 *     all that); no renegotiation, no compression, no session tickets or
 *     cache (the CLI makes one request per connection: nothing to resume).
 *
 * A connection whose handshake never completes (garbage or plain HTTP
 * instead of a ClientHello, a client that hangs up, one that refused the
 * certificate) costs its descriptor until then, is counted in tls_dropped
 * and logged at debug level only: an outsider must not fill the log.  One
 * that is not done API_TLS_HANDSHAKE_MS after its accept, however it
 * trickles, is shut down (and counted in tls_slow too).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "node.h"

/* TLS 1.2: forward secrecy and an AEAD, nothing else (TLS 1.3 has only such suites). */
#define API_TLS_CIPHERS_12 "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

static int api_tls_ex_index = -1; /* SSL ex_data: its struct api_tls_conn */

/* OpenSSL's reason for the last failure, or fallback; clears its error queue. */
static const char *
api_tls_reason(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "%s", fallback);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* The private key, from a descriptor checked to be the owner's alone. */
static EVP_PKEY *
api_tls_read_key(const char *path, char *err, size_t errlen)
{
	char why[256], text[API_TLS_KEY_FILE_MAX + 1];
	struct stat st;
	EVP_PKEY *pkey = NULL;
	BIO *bio;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "--http-tls: key %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "--http-tls: key %s is readable by group or others "
		         "(mode %04o): chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return NULL;
	}
	n = read(fd, text, sizeof text);
	close(fd);
	if (n < 0 || n > API_TLS_KEY_FILE_MAX) {
		snprintf(err, errlen, "--http-tls: key %s: %s", path,
		         n < 0 ? strerror(errno) : "too long for a PEM key");
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(text, (int)n)) != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	sodium_memzero(text, sizeof text);
	if (pkey == NULL)
		snprintf(err, errlen, "--http-tls: key %s: not a PEM private key (%s)", path,
		         api_tls_reason(why, sizeof why, "unreadable"));
	return pkey;
}

/* The certificate chain and its key into ctx: 0, or -1 and err. */
static int
api_tls_load_pair(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen)
{
	char why[256];
	EVP_PKEY *pkey;
	int r;

	if (access(cert, R_OK) != 0) {
		snprintf(err, errlen, "--http-tls: certificate %s: %s", cert, strerror(errno));
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "--http-tls: certificate %s: not a PEM certificate chain (%s)",
		         cert, api_tls_reason(why, sizeof why, "unreadable"));
		return -1;
	}
	if ((pkey = api_tls_read_key(key, err, errlen)) == NULL)
		return -1;
	r = SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(pkey);
	if (!r) {
		snprintf(err, errlen, "--http-tls: key %s does not match the certificate %s (%s)",
		         key, cert, api_tls_reason(why, sizeof why, "mismatch"));
		return -1;
	}
	return 0;
}

/* One connection, from its accept to the free of its SSL. */
struct api_tls_conn {
	struct api_tls_stats *st;
	struct bufferevent *bev;
	struct event *deadline; /* the handshake's, from the accept */
	int done;               /* the handshake completed (counted once) */
};

/*
 * The handshake is not done API_TLS_HANDSHAKE_MS after the accept (a client
 * trickling its ClientHello a byte at a time resets evhttp's idle timeout at
 * every byte): the socket is shut down, its next read sees the end, and
 * evhttp closes the connection as any other that ended.
 */
static void
api_tls_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_tls_conn *c = arg;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	evutil_socket_t sock = bufferevent_getfd(c->bev);

	(void)fd;
	(void)what;
	if (ssl == NULL || SSL_is_init_finished(ssl) || sock < 0)
		return;
	c->st->slow++;
	log_debug("api", "event=tls-refused why=\"no handshake within %d ms\"", API_TLS_HANDSHAKE_MS);
	(void)shutdown(sock, SHUT_RDWR);
}

/* A completed handshake is counted; one that failed for good (not one waiting for bytes), logged. */
static void
api_tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct api_tls_conn *c = SSL_get_ex_data(ssl, api_tls_ex_index);
	char why[256];
	unsigned long e;

	if ((where & SSL_CB_HANDSHAKE_DONE) != 0 && c != NULL && !c->done) {
		c->done = 1;
		c->st->handshakes++;
		return;
	}
	if ((where & SSL_CB_ACCEPT_EXIT) == 0 || ret > 0 || SSL_want(ssl) != SSL_NOTHING)
		return;
	/* Peeked, not taken: bufferevent_openssl reads the queue after this returns. */
	e = ERR_peek_last_error();
	if (e != 0)
		ERR_error_string_n(e, why, sizeof why);
	log_debug("api", "event=tls-refused why=\"%s\"", e != 0 ? why : "handshake failed");
}

/*
 * Freeing an SSL (evhttp frees a connection's bufferevent, which frees it)
 * is the one place every connection passes, however it ended: there one
 * whose handshake never completed is counted as dropped.
 */
static void
api_tls_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct api_tls_conn *c = ptr;

	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (c == NULL || parent == NULL)
		return;
	if (!c->done)
		c->st->dropped++;
	if (c->deadline != NULL)
		event_free(c->deadline);
	free(c);
}

/* The server context for cfg's --http-tls: NULL with err when it cannot be made. */
SSL_CTX *
api_tls_create(const struct node_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	const long opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
	                  SSL_OP_CIPHER_SERVER_PREFERENCE;

	if (api_tls_ex_index < 0)
		api_tls_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, api_tls_free_cb);
	if (api_tls_ex_index < 0 || (ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "--http-tls: cannot make a TLS context");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, API_TLS_CIPHERS_12) != 1) {
		snprintf(err, errlen, "--http-tls: this OpenSSL cannot do TLS 1.2 with AEAD ciphers");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, (uint64_t)opts);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* an idle connection keeps no buffers */
	SSL_CTX_set_info_callback(ctx, api_tls_info_cb);
	if (api_tls_load_pair(ctx, cfg->http_tls_cert, cfg->http_tls_key, err, errlen) != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* -n: what a start would refuse. */
int
api_tls_check(const struct node_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (cfg->http_tls_cert[0] == '\0')
		return 0;
	if ((ctx = api_tls_create(cfg, err, errlen)) == NULL)
		return -EINVAL;
	SSL_CTX_free(ctx);
	return 0;
}

/* evhttp's bufferevent for a new connection: TLS, still to be accepted. */
struct bufferevent *
api_tls_bev_cb(struct event_base *base, SSL_CTX *ctx, struct api_tls_stats *st)
{
	const struct timeval tv = { API_TLS_HANDSHAKE_MS / 1000, (API_TLS_HANDSHAKE_MS % 1000) * 1000 };
	struct api_tls_conn *c = calloc(1, sizeof *c);
	SSL *ssl;

	if (c == NULL)
		return NULL; /* evhttp closes the connection */
	c->st = st;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_ex_data(ssl, api_tls_ex_index, c) != 1) {
		SSL_free(ssl);
		free(c);
		ERR_clear_error();
		return NULL;
	}
	c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                        BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		SSL_free(ssl); /* and c */
		return NULL;
	}
	/* From here the bufferevent owns ssl, and ssl owns c. */
	if ((c->deadline = evtimer_new(base, api_tls_deadline_cb, c)) == NULL ||
	    evtimer_add(c->deadline, &tv) != 0) {
		bufferevent_free(c->bev);
		return NULL;
	}
	/* A client that closes without close_notify has still sent all it meant to. */
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	return c->bev;
}

/*
 * With TLS, a Host the certificate names is this server too: a client that
 * verified it asked for this name, and a rebound name would have failed
 * that verification (api-auth.c).
 */
int
api_tls_names_host(SSL_CTX *ctx, const char *host, size_t n)
{
	char name[NODE_HOST_MAX + 1];
	X509 *cert = ctx != NULL ? SSL_CTX_get0_certificate(ctx) : NULL;

	if (cert == NULL || n == 0 || n >= sizeof name)
		return 0;
	memcpy(name, host, n);
	name[n] = '\0';
	return X509_check_host(cert, name, n, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1 ||
	       X509_check_ip_asc(cert, name, 0) == 1;
}

/*
 * Whether req came over TLS.  When api_tls_bev_cb fails (out of memory),
 * evhttp serves that connection with a plain bufferevent of its own: no
 * request on it may reach a handler.
 */
int
api_tls_request_secure(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;

	return bev != NULL && bufferevent_openssl_get_ssl(bev) != NULL;
}

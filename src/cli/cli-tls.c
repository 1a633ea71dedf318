/*
 * TLS for -H https://HOST:PORT: the node's certificate is verified, always.
 *
 * Against --cacert FILE, else $CHORUS_CACERT, else the system's store; the
 * name verified is HOST as given (a DNS name against the certificate's
 * names, an IP address against its IP addresses).  There is no switch that
 * skips verification: a node with a self-signed certificate is reached by
 * giving that certificate (or its CA) as --cacert.  TLS 1.2 at least, as
 * the node.  The connection is evhttp's as over plain HTTP; only its
 * bufferevent is an OpenSSL one, which owns the SSL from then on.
 *
 * Built as the plugin chorus-tls.so (cli.h): its functions are reached
 * through the one table it exports, cli_tls_plugin, and report errors with
 * the cli_error they are handed (the binary exports none of its symbols).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl3.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli.h"

/* The CLI's cli_error, handed to cli_tls_open_plugin: one line on stderr. */
static void (*cli_tls_error)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* $CHORUS_CACERT when --cacert is not given; NULL: the system's store. */
static const char *cli_tls_cafile(const struct cli_ctx *ctx)
{
	const char *env = getenv("CHORUS_CACERT");

	if (ctx->cacert != NULL)
		return ctx->cacert;
	return env != NULL && env[0] != '\0' ? env : NULL;
}

/* The cli_tls of the SSL a callback is given. */
static struct cli_tls *cli_tls_of(const SSL *ssl)
{
	return ssl != NULL ? SSL_get_app_data(ssl) : NULL;
}

/* Keeps the first verification failure, for the error line. */
static int cli_tls_verify_cb(int ok, X509_STORE_CTX *store)
{
	const SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct cli_tls *tls = cli_tls_of(ssl);

	if (!ok && tls != NULL && tls->why[0] == '\0')
		snprintf(tls->why, sizeof tls->why,
			 "TLS: the node's certificate failed verification: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
	return ok;
}

/* Keeps why a handshake failed for good (not one waiting for bytes), or the node's alert. */
static void cli_tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct cli_tls *tls = cli_tls_of(ssl);
	char text[200];
	unsigned long e;

	if (tls == NULL || tls->why[0] != '\0')
		return;
	if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT && (ret >> 8) == SSL3_AL_FATAL) {
		snprintf(tls->why, sizeof tls->why, "TLS: the node refused the handshake: %s",
			 SSL_alert_desc_string_long(ret));
		return;
	}
	if ((where & SSL_CB_CONNECT_EXIT) == 0 || ret > 0 || SSL_want(ssl) != SSL_NOTHING)
		return;
	e = ERR_peek_last_error();
	if (e != 0)
		ERR_error_string_n(e, text, sizeof text);
	snprintf(tls->why, sizeof tls->why, "TLS handshake failed: %s",
		 e != 0 ? text : "the connection closed during it");
}

/* The client context: 0, or one line reported and CLI_EXIT_USAGE. */
static int cli_tls_context(struct cli_tls *tls, const struct cli_ctx *ctx)
{
	const char *cafile = cli_tls_cafile(ctx);
	char why[256];

	tls->ctx = SSL_CTX_new(TLS_client_method());
	if (tls->ctx == NULL || SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION) != 1) {
		cli_tls_error("cannot set up TLS");
		return CLI_EXIT_UNREACHABLE;
	}
	SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, cli_tls_verify_cb);
	SSL_CTX_set_info_callback(tls->ctx, cli_tls_info_cb);
	if (cafile != NULL && access(cafile, R_OK) != 0) {
		cli_tls_error("CA file %s: %s", cafile, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	if (cafile != NULL && SSL_CTX_load_verify_locations(tls->ctx, cafile, NULL) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), why, sizeof why);
		ERR_clear_error();
		cli_tls_error("CA file %s: cannot load it (%s)", cafile, why);
		return CLI_EXIT_USAGE;
	}
	if (cafile == NULL && SSL_CTX_set_default_verify_paths(tls->ctx) != 1) {
		ERR_clear_error();
		cli_tls_error("cannot load the system's CA store: give --cacert FILE");
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/*
 * Prepares a connection to host (no brackets around an IPv6 address):
 * CLI_EXIT_OK, or the failure reported.  cli_tls_close frees what is left.
 */
static int cli_tls_open_plugin(struct cli_tls *tls, const struct cli_ctx *ctx, const char *host,
			       void (*error)(const char *fmt, ...))
{
	unsigned char addr[sizeof(struct in6_addr)];
	int is_ip, r;

	memset(tls, 0, sizeof *tls);
	cli_tls_error = error;
	if ((r = cli_tls_context(tls, ctx)) != CLI_EXIT_OK)
		return r;
	if ((tls->ssl = SSL_new(tls->ctx)) == NULL || SSL_set_app_data(tls->ssl, tls) != 1) {
		cli_tls_error("cannot set up TLS");
		return CLI_EXIT_UNREACHABLE;
	}
	is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	if (is_ip)
		r = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls->ssl), host);
	else
		r = SSL_set1_host(tls->ssl, host) == 1 && SSL_set_tlsext_host_name(tls->ssl, host) == 1;
	if (r != 1) {
		ERR_clear_error();
		cli_tls_error("bad host '%.64s' for TLS", host);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/* The bufferevent evhttp is to use: it takes the SSL (freed with the connection). */
static struct bufferevent *cli_tls_bev_plugin(struct cli_tls *tls, struct event_base *base)
{
	struct bufferevent *bev = bufferevent_openssl_socket_new(
		base, -1, tls->ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);

	if (bev == NULL)
		return NULL;
	/* The node closes after its answer (Connection: close), with or without close_notify. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	tls->bev = bev;
	tls->ssl_owned = 1;
	return bev;
}

static void cli_tls_close_plugin(struct cli_tls *tls)
{
	if (!tls->ssl_owned)
		SSL_free(tls->ssl);
	SSL_CTX_free(tls->ctx);
	memset(tls, 0, sizeof *tls);
}

const struct cli_tls_plugin cli_tls_plugin = {
	.version = CHORUS_VERSION,
	.ctx_size = sizeof(struct cli_ctx),
	.tls_size = sizeof(struct cli_tls),
	.open = cli_tls_open_plugin,
	.bev = cli_tls_bev_plugin,
	.close = cli_tls_close_plugin,
};

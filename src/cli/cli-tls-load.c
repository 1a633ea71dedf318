/*
 * cli-tls-load: loads the TLS plugin (chorus-tls.so, cli-tls.c) the first
 * time a request goes to an https:// node, and only then.
 *
 * Why a plugin: the binary that links libssl and libcrypto pays for loading,
 * relocating and starting them on every call, https or not, about 1.5 ms of
 * the 2.3 ms `chorus submit` used to add to starting /bin/true
 * (bench/cli-cost.sh).  An http:// call now maps neither
 * (tests/e2e/e2e-cli-cost.sh checks it with the loader's own trace).
 *
 * Where: beside the running binary first (the build tree, where the tests
 * run it), else CLI_TLS_PLUGIN_DIR ($(pkglibdir), where make install puts
 * it).  A plugin that is there but cannot be loaded, or comes from another
 * build (its version or struct sizes differ), is an error, never skipped:
 * loading the next one would hide a broken install.  Nothing here weakens
 * the TLS itself: verification is the plugin's, as it was the binary's.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef CLI_TLS_PLUGIN_DIR
#define CLI_TLS_PLUGIN_DIR "/usr/local/lib/chorus"
#endif

static const struct cli_tls_plugin *cli_tls_loaded;

/* DIR/chorus-tls.so of the directory the running binary is in: 0, or -1. */
static int cli_tls_load_beside(char *path, size_t path_size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	if ((size_t)snprintf(path, path_size, "%s/%s", self, CLI_TLS_PLUGIN) >= path_size)
		return -1;
	return 0;
}

/* Loads path and checks it is this build's plugin: the table, or NULL and one line. */
static const struct cli_tls_plugin *cli_tls_load_path(const char *path)
{
	const struct cli_tls_plugin *plugin;
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (handle == NULL) {
		cli_error("cannot load the TLS plugin %s: %s", path, dlerror());
		return NULL;
	}
	plugin = dlsym(handle, "cli_tls_plugin");
	if (plugin == NULL || plugin->version == NULL ||
	    strcmp(plugin->version, CHORUS_VERSION) != 0 ||
	    plugin->ctx_size != sizeof(struct cli_ctx) || plugin->tls_size != sizeof(struct cli_tls) ||
	    plugin->open == NULL || plugin->bev == NULL || plugin->close == NULL) {
		cli_error("the TLS plugin %s is not this chorus's (%s): reinstall chorus", path,
			  CHORUS_VERSION);
		dlclose(handle);
		return NULL;
	}
	return plugin; /* kept loaded until exit: the SSL objects it made live as long */
}

/* The plugin, loaded once: NULL when it could not be (reported). */
static const struct cli_tls_plugin *cli_tls_load(void)
{
	char path[PATH_MAX + sizeof CLI_TLS_PLUGIN + 1];
	const char *installed = CLI_TLS_PLUGIN_DIR "/" CLI_TLS_PLUGIN;

	if (cli_tls_loaded != NULL)
		return cli_tls_loaded;
	if (cli_tls_load_beside(path, sizeof path) != 0 || access(path, F_OK) != 0) {
		if (access(installed, F_OK) != 0) {
			cli_error("https:// needs the TLS plugin %s, which is not installed (%s)",
				  installed, strerror(errno));
			return NULL;
		}
		snprintf(path, sizeof path, "%s", installed);
	}
	cli_tls_loaded = cli_tls_load_path(path);
	return cli_tls_loaded;
}

/*
 * Prepares a connection to host (no brackets around an IPv6 address):
 * CLI_EXIT_OK, or the failure reported.  cli_tls_close frees what is left.
 */
int cli_tls_open(struct cli_tls *tls, const struct cli_ctx *ctx, const char *host)
{
	const struct cli_tls_plugin *plugin = cli_tls_load();

	memset(tls, 0, sizeof *tls);
	if (plugin == NULL)
		return CLI_EXIT_UNREACHABLE;
	return plugin->open(tls, ctx, host, cli_error);
}

/* The bufferevent evhttp is to use: it takes the SSL (freed with the connection). */
struct bufferevent *cli_tls_bev(struct cli_tls *tls, struct event_base *base)
{
	/* Only after a cli_tls_open that succeeded, so the plugin is loaded. */
	if (cli_tls_loaded == NULL || tls->ssl == NULL)
		return NULL;
	return cli_tls_loaded->bev(tls, base);
}

/*
 * Why the connection failed at the TLS layer, if it did: 1 and reason, or 0.
 * The reason is what the plugin's callbacks kept when it happened: evhttp
 * resets the connection (and the SSL's state) before it reports the failure.
 */
int cli_tls_why(const struct cli_tls *tls, char *reason, size_t reason_size)
{
	if (tls->why[0] == '\0')
		return 0;
	snprintf(reason, reason_size, "%s", tls->why);
	return 1;
}

/* Frees what cli_tls_open made; nothing to do (and nothing loaded) over plain HTTP. */
void cli_tls_close(struct cli_tls *tls)
{
	if (cli_tls_loaded != NULL && (tls->ctx != NULL || tls->ssl != NULL))
		cli_tls_loaded->close(tls);
	memset(tls, 0, sizeof *tls);
}

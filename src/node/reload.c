/*
 * reload: SIGHUP re-reads the configuration file (chorusd --config) and
 * applies what can change while the node runs.
 *
 * The command line is parsed again as at start (the file, then the flags
 * over it), so a reload sees exactly what a restart would; a file that a
 * start would refuse is refused whole, and nothing changes.  Live: the
 * worker kinds and their commands, the capacity (both re-signed into the
 * node's record and gossiped, core_set_caps) and the log level.  Everything
 * else needs a restart: each key whose lines changed in the file is named
 * in one log line saying it was not applied.  To tell which keys changed,
 * the key/value lines the running node reflects are kept (reload_init) and
 * compared with the file's new lines, so a key another part of chorusd adds
 * is reported too, without a list here to keep in step.  A live key that a
 * flag on the command line sets stays as the flag says (flags win), and is
 * reported so.  The service manager hears RELOADING=1, then READY=1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

#define RELOAD_LINES_MAX 1024 /* key lines of a config file compared; more: a reload is refused */
#define RELOAD_VALUES_MAX 2048 /* one key's values, joined, as logged */

struct reload_line {
	char *key;
	char *value;
};

/* The config file's key lines that the running node reflects. */
static struct {
	struct reload_line *v;
	size_t n;
} reload_state;

/* The keys a reload applies (every other key needs a restart). */
static int reload_live(const char *key)
{
	return strcmp(key, "worker") == 0 || strcmp(key, "capacity") == 0 ||
	       strcmp(key, "log-level") == 0;
}

static void reload_lines_free(struct reload_line *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

/* The key lines of path, in order.  0 or -errno with err. */
static int reload_read(const char *path, struct reload_line **out, size_t *nout, char *err,
                       size_t errlen)
{
	char line[NODE_CONFIG_LINE_MAX + 2], *key, *value;
	struct reload_line *v = calloc(RELOAD_LINES_MAX, sizeof(*v));
	size_t n = 0;
	int r = 0;
	FILE *fp = fopen(path, "r");

	if (v == NULL || fp == NULL) {
		r = v == NULL ? -ENOMEM : -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		free(v);
		if (fp != NULL)
			fclose(fp);
		return r;
	}
	while (r == 0 && fgets(line, sizeof line, fp) != NULL) {
		if (config_split_line(line, &key, &value, err, errlen) != 0 || key == NULL)
			continue; /* config_parse has judged the file: only its keys matter here */
		if (n == RELOAD_LINES_MAX) {
			snprintf(err, errlen, "%s: more than %d settings", path, RELOAD_LINES_MAX);
			r = -E2BIG;
		} else if ((v[n].key = strdup(key)) == NULL || (v[n++].value = strdup(value)) == NULL) {
			snprintf(err, errlen, "out of memory");
			r = -ENOMEM;
		}
	}
	fclose(fp);
	if (r != 0) {
		reload_lines_free(v, n); /* calloc'd: a half-made line holds NULL */
		return r;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* key's values in v, in file order, joined with commas ("-" when absent). */
static void reload_values(const struct reload_line *v, size_t n, const char *key, char *buf,
                          size_t buflen)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < buflen; i++)
		if (strcmp(v[i].key, key) == 0)
			len += (size_t)snprintf(buf + len, buflen - len, "%s%s", len > 0 ? "," : "",
			                        v[i].value);
	if (buf[0] == '\0')
		snprintf(buf, buflen, "-");
}

/* Whether the command line sets key (--key V, --key=V; -v for the log level). */
static int reload_flag_given(const struct node *node, const char *key)
{
	size_t kn = strlen(key);

	for (int i = 1; i < node->argc; i++) {
		const char *a = node->argv[i];

		if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, key, kn) == 0 &&
		    (a[2 + kn] == '\0' || a[2 + kn] == '='))
			return 1;
		if (strcmp(key, "log-level") == 0 && a[0] == '-' && a[1] == 'v')
			return 1;
	}
	return 0;
}

int reload_init(struct node *node)
{
	char err[NODE_ERR_MAX];
	int r;

	reload_free();
	if (node->cfg.config_file[0] == '\0')
		return 0;
	r = reload_read(node->cfg.config_file, &reload_state.v, &reload_state.n, err, sizeof err);
	if (r != 0)
		log_warn("node", "event=reload_error error=\"%s\"", err);
	return r;
}

void reload_free(void)
{
	reload_lines_free(reload_state.v, reload_state.n);
	reload_state.v = NULL;
	reload_state.n = 0;
}

/*
 * The keys whose lines changed between the running lines and the file's
 * new ones that a reload cannot apply: one line each.  Returns how many.
 */
static unsigned reload_report(const struct node *node, const struct reload_line *nv, size_t nn)
{
	const struct reload_line *ov = reload_state.v;
	size_t on = reload_state.n;
	char from[RELOAD_VALUES_MAX], to[RELOAD_VALUES_MAX], qfrom[2 * RELOAD_VALUES_MAX],
	    qto[2 * RELOAD_VALUES_MAX];
	unsigned count = 0;

	for (size_t i = 0; i < on + nn; i++) {
		const char *key = i < on ? ov[i].key : nv[i - on].key;
		int seen = 0;

		for (size_t k = 0; k < i && !seen; k++) /* each key once */
			seen = strcmp(key, k < on ? ov[k].key : nv[k - on].key) == 0;
		if (seen)
			continue;
		reload_values(ov, on, key, from, sizeof from);
		reload_values(nv, nn, key, to, sizeof to);
		if (strcmp(from, to) == 0 || (reload_live(key) && !reload_flag_given(node, key)))
			continue;
		(void)log_quote(qfrom, sizeof qfrom, from);
		(void)log_quote(qto, sizeof qto, to);
		log_warn("node", "event=reload_not_applied key=%s from=%s to=%s reason=\"%s\"", key,
		         qfrom, qto, reload_live(key) ? "the command line sets it (flags win)"
		                                      : "needs a restart");
		count++;
	}
	return count;
}

/* The kind of a KIND or KIND=COMMAND spec, in out. */
static void reload_kind(const char *spec, char out[CHORUS_TAG_MAX + 1])
{
	snprintf(out, CHORUS_TAG_MAX + 1, "%.*s", (int)strcspn(spec, "="), spec);
}

/* One line per kind added, removed or given another command. */
static void reload_log_kinds(const struct node_config *o, const struct node_config *n)
{
	char kind[CHORUS_TAG_MAX + 1], other[CHORUS_TAG_MAX + 1];

	for (int pass = 0; pass < 2; pass++) {
		const struct node_config *a = pass == 0 ? n : o, *b = pass == 0 ? o : n;

		for (unsigned i = 0; i < a->nworkers; i++) {
			const char *match = NULL;

			reload_kind(a->workers[i], kind);
			for (unsigned k = 0; k < b->nworkers && match == NULL; k++) {
				reload_kind(b->workers[k], other);
				if (strcmp(kind, other) == 0)
					match = b->workers[k];
			}
			if (match == NULL)
				log_info("node", "event=reload key=worker kind=%s change=%s", kind,
				         pass == 0 ? "added" : "removed");
			else if (pass == 0 && strcmp(match, a->workers[i]) != 0)
				log_info("node", "event=reload key=worker kind=%s change=command", kind);
		}
	}
}

static int reload_workers_equal(const struct node_config *o, const struct node_config *n)
{
	if (o->nworkers != n->nworkers)
		return 0;
	for (unsigned i = 0; i < n->nworkers; i++)
		if (strcmp(o->workers[i], n->workers[i]) != 0)
			return 0;
	return 1;
}

/* Kinds and capacity: the runner first (it may refuse), then the record.  Keys applied. */
static unsigned reload_apply_work(struct node *node, const struct node_config *n)
{
	struct node_config *o = &node->cfg;
	char caps[CHORUS_CAPS_MAX][CHORUS_TAG_MAX + 1], err[NODE_ERR_MAX];
	int kinds = !reload_workers_equal(o, n), cap = o->capacity != n->capacity, r;

	if (!kinds && !cap)
		return 0;
	if ((r = jobs_reconfigure(node->jobs, (const char(*)[NODE_WORKER_SPEC_MAX])n->workers,
	                          n->nworkers, n->capacity, err, sizeof err)) != 0) {
		log_error("node", "event=reload_not_applied key=%s error=\"%s\"",
		          kinds ? "worker" : "capacity", err);
		return 0;
	}
	for (unsigned i = 0; i < n->nworkers; i++)
		reload_kind(n->workers[i], caps[i]);
	if ((r = core_set_caps(node->core, (const char(*)[CHORUS_TAG_MAX + 1])caps, n->nworkers,
	                       n->capacity, chorusd_now_ms())) != 0) {
		log_error("node", "event=reload_not_applied key=worker error=\"core: %s\"",
		          core_strerror(r));
		return 0;
	}
	if (kinds)
		reload_log_kinds(o, n);
	if (cap)
		log_info("node", "event=reload key=capacity from=%u to=%u", o->capacity, n->capacity);
	memcpy(o->workers, n->workers, sizeof o->workers);
	o->nworkers = n->nworkers;
	o->capacity = n->capacity;
	chorusd_reschedule(node);
	return (unsigned)(kinds + cap);
}

static unsigned reload_apply_log(struct node *node, const struct node_config *n)
{
	static const char *const names[] = { "error", "warn", "info", "debug", "trace" };
	int from = node->cfg.log_level, to = n->log_level;

	if (from == to)
		return 0;
	log_set_level(to);
	core_set_log_level(node->core, to);
	node->cfg.log_level = to;
	log_warn("node", "event=reload key=log-level from=%s to=%s", names[from], names[to]);
	return 1;
}

/* The running lines: the old ones for what needs a restart, the new ones for live keys. */
static void reload_keep(const struct reload_line *nv, size_t nn)
{
	struct reload_line *v = calloc(RELOAD_LINES_MAX, sizeof(*v));
	size_t n = 0;
	int bad = v == NULL;

	for (size_t i = 0; !bad && i < reload_state.n + nn; i++) {
		const struct reload_line *l = i < reload_state.n ? &reload_state.v[i] : &nv[i - reload_state.n];

		if ((i < reload_state.n) == reload_live(l->key))
			continue;
		bad = n == RELOAD_LINES_MAX || (v[n].key = strdup(l->key)) == NULL ||
		      (v[n++].value = strdup(l->value)) == NULL;
	}
	if (bad) { /* keep the old lines: a later reload may report a key twice, never miss one */
		log_warn("node", "event=reload_error error=\"cannot keep the file's lines\"");
		reload_lines_free(v, n);
		return;
	}
	reload_free();
	reload_state.v = v;
	reload_state.n = n;
}

void reload_run(struct node *node)
{
	struct node_config *n = NULL;
	struct reload_line *nv = NULL;
	size_t nn = 0;
	char err[NODE_ERR_MAX];
	unsigned applied = 0, skipped = 0;

	if (node->cfg.config_file[0] == '\0') {
		log_info("node", "event=reload what=\"no --config file: nothing to re-read\"");
		return;
	}
	(void)notify_reloading();
	log_info("node", "event=reload_start config=%s", node->cfg.config_file);
	if ((n = malloc(sizeof(*n))) == NULL) {
		log_error("node", "event=reload_error error=\"out of memory\"");
	} else if (config_parse(n, node->argc, node->argv, err, sizeof err) != CONFIG_RUN ||
	           reload_read(node->cfg.config_file, &nv, &nn, err, sizeof err) != 0) {
		/* As a start would refuse it: the running configuration stays, whole. */
		log_error("node", "event=reload_error error=\"%s\" what=\"nothing applied\"", err);
	} else {
		skipped = reload_report(node, nv, nn);
		applied = reload_apply_work(node, n) + reload_apply_log(node, n);
		reload_keep(nv, nn);
		log_info("node", "event=reload_done applied=%u not_applied=%u", applied, skipped);
	}
	reload_lines_free(nv, nn);
	free(n);
	(void)notify_send("READY=1");
}

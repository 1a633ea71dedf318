/*
 * The HTTP API: read-only JSON views of the node under /v1/, for the chorus
 * CLI and for people with curl.
 *
 * Bound to --http (127.0.0.1 by default; beyond loopback only with
 * --http-tls, api-tls.c, or --http-insecure).  Every request passes api-auth.c first: Host and Origin
 * must be this server's, and whatever is not GET or HEAD needs the token in
 * the data dir's api.token and a JSON body.  evhttp enforces the request bounds (1 MiB body,
 * 8 KiB of headers, a 10 s timeout per connection); every method reaches
 * api_request_cb so a wrong one is answered 405 rather than evhttp's 501.
 * GET handlers only read; POSTs submit and cancel jobs, post acks and
 * remove voters, behind the token.
 *
 * Accept back-off: when accept() fails for want of descriptors or memory
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM; any other error alike), the pending
 * connection stays queued and the listening socket stays readable, so
 * libevent's listener would call accept() again at once, forever: a busy loop
 * and one warning per try (3.4 million lines in 25 s at the fd limit).  As
 * tmux and bgpd do, the listener is disabled instead and re-enabled after a
 * pause of 100 ms, doubling to 1 s while accepting still fails.  One line is
 * logged when an episode starts and one when it ends (the listener accepted
 * for API_ACCEPT_QUIET_MS without a failure), with the count of failed
 * accepts; connections already open are served throughout.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "node.h"
#include "voterd.h"
#include "lread.h"

#define API_BODY_MAX    (1024 * 1024)
#define API_HEADERS_MAX (8 * 1024)
#define API_TIMEOUT_S   10
#define API_ACCEPT_PAUSE_MIN_MS 100   /* first pause after a failed accept */
#define API_ACCEPT_PAUSE_MAX_MS 1000  /* the pause doubles up to this */
#define API_ACCEPT_QUIET_MS     2000  /* accepting this long without a failure ends an episode */
#define API_INSTANCES_MAX       4     /* servers one process may run (chorusd: one) */
_Static_assert(API_TLS_HANDSHAKE_MS < API_TIMEOUT_S * 1000,
               "a handshake is bounded before evhttp's idle timeout would");

struct api {
	struct node *node;
	struct evhttp *http;
	struct api_jobs *jobs;
	struct api_keyring *keyring;
	struct api_events *events;
	char token[API_TOKEN_HEX + 1];    /* the data dir's api.token */
	struct api_auth_stats auth;
	SSL_CTX *tls;                     /* --http-tls; NULL: plain HTTP */
	struct api_tls_stats tls_stats;
	/* Accept back-off (see the top of this file). */
	struct evconnlistener *listener;
	struct event *accept_timer;  /* paused: resume; resumed: end of the episode */
	int accept_paused;           /* the listener is disabled */
	uint32_t accept_pause_ms;    /* 0: no episode */
	uint64_t accept_failures;    /* in this episode */
	uint64_t accept_since_ms;    /* the episode's start */
	int accept_errno;            /* its first error */
};

/*
 * The listener's error callback gets the evhttp (evhttp owns the listener's
 * callback argument), so the servers are found by it here.
 */
static struct api *api_instances[API_INSTANCES_MAX];

void
api_reply(struct evhttp_request *req, int code, const char *reason, cJSON *obj)
{
	struct evbuffer *buf = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	if (text == NULL) {
		log_error("api", "event=encode_error");
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_add_header(hdrs, "Content-Type", "application/json");
	evhttp_add_header(hdrs, "Cache-Control", "no-store");
	if (evbuffer_add(buf, text, strlen(text)) != 0 || evbuffer_add(buf, "\n", 1) != 0) {
		free(text);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	free(text);
	evhttp_send_reply(req, code, reason, NULL);
}

void
api_reply_error(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
	cJSON *obj = cJSON_CreateObject();
	if (obj != NULL && cJSON_AddStringToObject(obj, "error", msg) == NULL) {
		cJSON_Delete(obj);
		obj = NULL;
	}
	api_reply(req, code, reason, obj);
}

/* "stats": every struct core_stats field by name, then the shell's counters. */
static cJSON *
api_stats_json(const struct node *node)
{
	const struct core_stats *st = core_stats(node->core);
	const struct fabric_stats *fs = fabric_stats(node->fabric);
	cJSON *obj = cJSON_CreateObject();

	if (obj == NULL)
		return NULL;
#define API_STAT(f) cJSON_AddNumberToObject(obj, #f, (double)st->f)
	API_STAT(frames_in);
	API_STAT(frames_out);
	API_STAT(bytes_in);
	API_STAT(bytes_out);
	API_STAT(drop_malformed);
	API_STAT(drop_oversize);
	API_STAT(drop_version);
	API_STAT(drop_badsig);
	API_STAT(drop_replay);
	API_STAT(drop_stale);
	API_STAT(drop_unknown_type);
	API_STAT(drop_badkey);
	API_STAT(drop_misrouted);
	API_STAT(drop_nokey);
	API_STAT(drop_before_start);
	API_STAT(drop_window);
	API_STAT(peer_keys_derived);
	API_STAT(probes);
	API_STAT(probe_failures);
	API_STAT(indirect_probes);
	API_STAT(suspicions);
	API_STAT(refutations);
	API_STAT(rumors_sent);
	API_STAT(rumors_received);
	API_STAT(jobs_submitted);
	API_STAT(jobs_succeeded);
	API_STAT(jobs_failed);
	API_STAT(jobs_cancelled);
	API_STAT(requests_sent);
	API_STAT(offers_received);
	API_STAT(dispatches_sent);
	API_STAT(failovers);
	API_STAT(requests_received);
	API_STAT(offers_sent);
	API_STAT(works_started);
	API_STAT(works_duplicate);
	API_STAT(works_refused);
	API_STAT(receipts_sent);
	API_STAT(acks_received);
	API_STAT(drop_job_forged);
	API_STAT(drop_job_stale);
	API_STAT(status_queries);
	API_STAT(dial_queries);
	API_STAT(status_answers);
	API_STAT(works_known);
	API_STAT(offers_unmatched);
	API_STAT(requests_unmatched);
	API_STAT(loopback_frames);
	API_STAT(loopback_drops);
	API_STAT(output_sent);
	API_STAT(sign_batches);
	API_STAT(sign_texts);
	API_STAT(output_received);
	API_STAT(output_dropped);
	API_STAT(output_bytes_over);
#undef API_STAT
	cJSON_AddNumberToObject(obj, "jobs_inflight", (double)core_jobs_inflight(node->core));
	cJSON_AddNumberToObject(obj, "works_running", (double)core_work_running(node->core));
	cJSON_AddNumberToObject(obj, "fabric_send_drops", (double)fs->send_drops);
	cJSON_AddNumberToObject(obj, "fabric_sends", (double)fs->sends);
	cJSON_AddNumberToObject(obj, "fabric_recvs", (double)fs->recvs);
	cJSON_AddNumberToObject(obj, "fabric_batches_out", (double)fs->batches_out);
	cJSON_AddNumberToObject(obj, "fabric_batches_in", (double)fs->batches_in);
	cJSON_AddNumberToObject(obj, "fabric_batches_full", (double)fs->batches_full);
	cJSON_AddNumberToObject(obj, "fabric_drop_batch", (double)fs->drop_batch);
	cJSON_AddNumberToObject(obj, "fabric_peers", (double)fs->peers_open);
	if (node->api != NULL) {
		const struct api_auth_stats *as = &node->api->auth;

		cJSON_AddNumberToObject(obj, "api_unauthorized", (double)as->unauthorized);
		cJSON_AddNumberToObject(obj, "api_forbidden", (double)as->forbidden);
		cJSON_AddNumberToObject(obj, "api_misdirected", (double)as->misdirected);
		cJSON_AddNumberToObject(obj, "api_bad_content_type", (double)as->bad_type);
		cJSON_AddNumberToObject(obj, "api_tls_handshakes",
		                        (double)node->api->tls_stats.handshakes);
		cJSON_AddNumberToObject(obj, "api_tls_dropped", (double)node->api->tls_stats.dropped);
		cJSON_AddNumberToObject(obj, "api_tls_slow", (double)node->api->tls_stats.slow);
		const struct api_events_stats *es = api_events_stats(node->api->events);
		cJSON_AddNumberToObject(obj, "events_streams", (double)(es->accepted - es->dropped - es->closed));
		cJSON_AddNumberToObject(obj, "events_refused", (double)es->refused);
		cJSON_AddNumberToObject(obj, "events_dropped", (double)es->dropped);
		cJSON_AddNumberToObject(obj, "events_sent", (double)es->sent);
	}
	return obj;
}

/* One counter of a helper thread, shown under /v1/status as group.name. */
struct api_counter {
	const char *group;
	const char *name;
	double value;
};

/* Adds the counters, each under its group's object (made at its first counter); 0 or -1. */
static int
api_counters_json(cJSON *obj, const struct api_counter *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cJSON *g = cJSON_GetObjectItemCaseSensitive(obj, c[i].group);

		if (g == NULL && (g = cJSON_AddObjectToObject(obj, c[i].group)) == NULL)
			return -1;
		if (cJSON_AddNumberToObject(g, c[i].name, c[i].value) == NULL)
			return -1;
	}
	return 0;
}

/*
 * What keeps work safe: the ack outbox against its marks (submits refused
 * while lagging), and whether this node votes in the ledger (a voter that
 * lost raft.db does not, until re-added: docs/ledger-node.md).
 */
static int
api_status_store(const struct node *node, cJSON *obj)
{
	uint64_t depth = 0, high = 0, low = 0;
	int lagging = node->consensus != NULL &&
	              voterd_lagging(node->consensus, &depth, &high, &low);
	cJSON *o = cJSON_AddObjectToObject(obj, "outbox");

	if (o == NULL)
		return -ENOMEM;
	cJSON_AddNumberToObject(o, "open", (double)depth);
	cJSON_AddNumberToObject(o, "high", (double)high);
	cJSON_AddNumberToObject(o, "low", (double)low);
	cJSON_AddStringToObject(o, "state", lagging ? "lagging" : "ok");
	cJSON_AddStringToObject(obj, "raft_state",
	                        node->consensus != NULL ? voterd_raft_state(node->consensus) : "none");
	return 0;
}

static cJSON *
api_status_json(const struct node *node)
{
	char id_short[CHORUS_ID_SHORT + 1];
	size_t counts[4] = { 0 };
	const char *id = core_id(node->core);
	uint64_t now = chorusd_now_ms();
	cJSON *obj = cJSON_CreateObject(), *members;

	if (obj == NULL)
		return NULL;
	core_id_short(id, id_short);
	core_member_counts(node->core, counts);
	cJSON_AddStringToObject(obj, "id", id);
	cJSON_AddStringToObject(obj, "id_short", id_short);
	cJSON_AddStringToObject(obj, "name", node->cfg.name);
	cJSON_AddStringToObject(obj, "version", CHORUS_VERSION);
	cJSON_AddStringToObject(obj, "fabric", node->cfg.listen);
	cJSON_AddStringToObject(obj, "fabric_addr", node->fabric_addr); /* published: advertise.c */
	cJSON_AddStringToObject(obj, "http", node->cfg.http);
	/* Where api.token is: the CLI reads it there when its user may (chorus(1)). */
	cJSON_AddStringToObject(obj, "data_dir", node->cfg.data_dir);
	cJSON_AddNumberToObject(obj, "uptime_s", (double)((now - node->start_mono_ms) / 1000));
	/* "keyring": frames sealed under a network key; "open": --insecure-open, admits anyone. */
	cJSON_AddStringToObject(obj, "network_key", core_keyring_open(node->core) ? "open" : "keyring");
	cJSON_AddNumberToObject(obj, "start_ms", (double)node->start_wall_ms);
	cJSON_AddBoolToObject(obj, "leaving", node->leaving);
	if ((members = cJSON_AddObjectToObject(obj, "members")) == NULL)
		goto fail;
	cJSON_AddNumberToObject(members, "alive", (double)counts[MEMBER_ALIVE]);
	cJSON_AddNumberToObject(members, "suspect", (double)counts[MEMBER_SUSPECT]);
	cJSON_AddNumberToObject(members, "dead", (double)counts[MEMBER_DEAD]);
	cJSON_AddNumberToObject(members, "left", (double)counts[MEMBER_LEFT]);
	cJSON_AddNumberToObject(members, "total", (double)core_member_count(node->core));
	if (api_status_store(node, obj) != 0)
		goto fail;
	cJSON *stats = api_stats_json(node);
	if (stats == NULL)
		goto fail;
	cJSON_AddItemToObject(obj, "stats", stats);
	struct signer_stats ss = signer_stats();
	struct checkpointer_stats cks = checkpointer_stats();
	const struct api_counter helpers[] = {
		{ "signer", "signed_ahead", (double)ss.ahead_signed },
		{ "signer", "signed_inline", (double)ss.inline_signed },
		{ "signer", "nonces_ready", (double)ss.ready },
		{ "checkpointer", "runs", (double)cks.runs },
		{ "checkpointer", "pages", (double)cks.pages },
		{ "checkpointer", "errors", (double)cks.errors },
		{ "checkpointer", "busy", (double)cks.busy },
		{ "checkpointer", "inline_runs", (double)cks.inline_runs },
	};
	if (api_counters_json(obj, helpers, sizeof helpers / sizeof helpers[0]) != 0)
		goto fail;
	return obj;
fail:
	cJSON_Delete(obj);
	return NULL;
}

static cJSON *
api_strings_json(char tags[][CHORUS_TAG_MAX + 1], unsigned n, unsigned max)
{
	cJSON *arr = cJSON_CreateArray();
	if (arr == NULL)
		return NULL;
	for (unsigned i = 0; i < n && i < max; i++) {
		cJSON *s = cJSON_CreateString(tags[i]);
		if (s == NULL) {
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, s);
	}
	return arr;
}

/*
 * A member's roles as shown: its record's, except "leader", which is ours to
 * say: a record keeps announcing it until its node publishes again (a dead
 * or cut-off old leader never does), so the role goes to the one member this
 * node takes for the leader (lread_leader: its own Raft, else the newest term
 * a voter told it), never to two.
 */
static cJSON *
api_member_roles(struct member_view *mv, uint64_t leader)
{
	cJSON *arr = cJSON_CreateArray();

	for (unsigned i = 0; arr != NULL && i < mv->rec.nroles && i < CHORUS_ROLES_MAX; i++)
		if (strcmp(mv->rec.roles[i], "leader") != 0)
			cJSON_AddItemToArray(arr, cJSON_CreateString(mv->rec.roles[i]));
	if (arr != NULL && leader != 0 && voterd_id_of(mv->rec.pk) == leader)
		cJSON_AddItemToArray(arr, cJSON_CreateString("leader"));
	return arr;
}

static cJSON *
api_member_json(struct member_view *mv, uint64_t now, uint64_t leader)
{
	char id_short[CHORUS_ID_SHORT + 1];
	cJSON *obj = cJSON_CreateObject(), *roles, *caps, *tags;

	if (obj == NULL)
		return NULL;
	core_id_short(mv->id, id_short);
	cJSON_AddStringToObject(obj, "id", mv->id);
	cJSON_AddStringToObject(obj, "id_short", id_short);
	cJSON_AddStringToObject(obj, "name", mv->rec.name);
	cJSON_AddStringToObject(obj, "addr", mv->rec.addr);
	cJSON_AddStringToObject(obj, "state", member_state_name(mv->state));
	cJSON_AddNumberToObject(obj, "incarnation", (double)mv->rec.inc);
	cJSON_AddNumberToObject(obj, "start_ms", (double)mv->rec.start_ms);
	roles = api_member_roles(mv, leader);
	caps = api_strings_json(mv->rec.caps, mv->rec.ncaps, CHORUS_CAPS_MAX);
	if (roles == NULL || caps == NULL) {
		cJSON_Delete(roles);
		cJSON_Delete(caps);
		cJSON_Delete(obj);
		return NULL;
	}
	cJSON_AddItemToObject(obj, "roles", roles);
	cJSON_AddItemToObject(obj, "capabilities", caps);
	if ((tags = cJSON_AddObjectToObject(obj, "tags")) != NULL)
		for (unsigned i = 0; i < mv->rec.ntags && i < CHORUS_NODE_TAGS_MAX; i++)
			cJSON_AddStringToObject(tags, mv->rec.tags[i].key, mv->rec.tags[i].value);
	cJSON_AddNumberToObject(obj, "capacity", (double)mv->rec.capacity);
	cJSON_AddNumberToObject(obj, "load", (double)mv->rec.load);
	uint64_t ago = mv->self || mv->last_seen_ms > now ? 0 : now - mv->last_seen_ms;
	cJSON_AddNumberToObject(obj, "last_seen_ms_ago", (double)ago);
	cJSON_AddBoolToObject(obj, "self", mv->self);
	return obj;
}

static cJSON *
api_members_json(const struct node *node)
{
	struct member_view mv;
	uint64_t now = chorusd_now_ms();
	size_t n = core_member_count(node->core);
	cJSON *obj = cJSON_CreateObject(), *arr, *l;
	uint64_t term = 0, leader = node->lread != NULL ? lread_leader(node->lread, &term) : 0;
	char hex[17];

	if (obj == NULL)
		return NULL;
	if ((arr = cJSON_AddArrayToObject(obj, "members")) == NULL)
		goto fail;
	/* "leader": {"id", "term"} (term 0: not known here), or null; the roles agree. */
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)leader);
	if (leader == 0)
		cJSON_AddNullToObject(obj, "leader");
	else if ((l = cJSON_AddObjectToObject(obj, "leader")) != NULL) {
		cJSON_AddStringToObject(l, "id", hex);
		cJSON_AddNumberToObject(l, "term", (double)term);
	}
	for (size_t i = 0; i < n; i++) {
		if (core_member_get(node->core, i, &mv) != 0)
			continue;
		cJSON *m = api_member_json(&mv, now, leader);
		if (m == NULL)
			goto fail;
		cJSON_AddItemToArray(arr, m);
	}
	return obj;
fail:
	cJSON_Delete(obj);
	return NULL;
}

static const struct api_route {
	const char *path;
	cJSON *(*get)(const struct node *node);
} api_routes[] = {
	{ "/v1/status", api_status_json },
	{ "/v1/members", api_members_json },
};

static void
api_request_cb(struct evhttp_request *req, void *arg)
{
	struct api *api = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);

	if (path == NULL) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", "bad request");
		return;
	}
	if (api->tls != NULL && !api_tls_request_secure(req)) {
		api_reply_error(req, HTTP_INTERNAL, "Internal Server Error", "out of memory");
		return;
	}
	if (!api_auth_check(api->node, api->token, &api->auth, api->tls, req))
		return;
	if (api_jobs_route(api->jobs, req, path) || api_ledger_route(api->node, req, path) ||
	    api_keyring_route(api->keyring, req, path) || api_metrics_route(api->node, req, path) ||
	    api_events_route(api->events, req, path) || api_ui_route(req, path))
		return;
	for (size_t i = 0; i < sizeof api_routes / sizeof api_routes[0]; i++) {
		if (strcmp(path, api_routes[i].path) != 0)
			continue;
		if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			                  "GET, HEAD");
			api_reply_error(req, 405, "Method Not Allowed", "method not allowed");
			return;
		}
		cJSON *obj = api_routes[i].get(api->node);
		if (obj == NULL) {
			api_reply_error(req, HTTP_INTERNAL, "Internal Server Error", "out of memory");
			return;
		}
		api_reply(req, HTTP_OK, "OK", obj);
		return;
	}
	api_reply_error(req, HTTP_NOTFOUND, "Not Found", "not found");
}

static void
api_accept_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;
	struct timeval tv = { API_ACCEPT_QUIET_MS / 1000, (API_ACCEPT_QUIET_MS % 1000) * 1000 };

	(void)fd;
	(void)what;
	assert(api->accept_pause_ms > 0);
	if (api->accept_paused) {
		/* Try again; a failure comes back to api_accept_error_cb with a longer pause. */
		api->accept_paused = 0;
		if (evconnlistener_enable(api->listener) != 0 || evtimer_add(api->accept_timer, &tv) != 0)
			log_error("api", "event=accept-resume-failed");
		return;
	}
	log_warn("api", "event=accept-resumed failed_accepts=%llu paused_ms=%llu error=%s",
	         (unsigned long long)api->accept_failures,
	         (unsigned long long)(chorusd_now_ms() - api->accept_since_ms),
	         strerror(api->accept_errno));
	api->accept_pause_ms = 0;
	api->accept_failures = 0;
}

static void
api_accept_error_cb(struct evconnlistener *listener, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();
	struct api *api = NULL;
	struct timeval tv;

	for (size_t i = 0; i < API_INSTANCES_MAX && api == NULL; i++)
		if (api_instances[i] != NULL && api_instances[i]->http == arg)
			api = api_instances[i];
	assert(api != NULL && api->listener == listener);
	if (api == NULL)
		return;
	api->accept_failures++;
	if (api->accept_pause_ms == 0) {
		api->accept_pause_ms = API_ACCEPT_PAUSE_MIN_MS;
		api->accept_since_ms = chorusd_now_ms();
		api->accept_errno = e;
		log_warn("api", "event=accept-paused error=%s pause_ms=%u "
		         "(connections are refused for now; those open are served)",
		         strerror(e), API_ACCEPT_PAUSE_MIN_MS);
	} else if (api->accept_paused == 0) {
		api->accept_pause_ms *= 2;
		if (api->accept_pause_ms > API_ACCEPT_PAUSE_MAX_MS)
			api->accept_pause_ms = API_ACCEPT_PAUSE_MAX_MS;
	}
	api->accept_paused = 1;
	tv.tv_sec = api->accept_pause_ms / 1000;
	tv.tv_usec = (api->accept_pause_ms % 1000) * 1000;
	if (evconnlistener_disable(listener) != 0 || evtimer_add(api->accept_timer, &tv) != 0)
		log_error("api", "event=accept-pause-failed");
}

/* Takes over the listener's errors: accept back-off instead of libevent's retry and warning. */
static int
api_accept_setup(struct api *api, struct evhttp_bound_socket *bound)
{
	size_t slot = API_INSTANCES_MAX;

	for (size_t i = 0; i < API_INSTANCES_MAX; i++)
		if (api_instances[i] == NULL) {
			slot = i;
			break;
		}
	api->listener = evhttp_bound_socket_get_listener(bound);
	api->accept_timer = evtimer_new(api->node->base, api_accept_timer_cb, api);
	if (slot == API_INSTANCES_MAX || api->listener == NULL || api->accept_timer == NULL)
		return -1;
	api_instances[slot] = api;
	evconnlistener_set_error_cb(api->listener, api_accept_error_cb);
	return 0;
}

static void
api_accept_teardown(struct api *api)
{
	for (size_t i = 0; i < API_INSTANCES_MAX; i++)
		if (api_instances[i] == api)
			api_instances[i] = NULL;
	if (api->accept_timer != NULL)
		event_free(api->accept_timer);
	api->accept_timer = NULL;
}

/* evhttp's bufferevent for each accepted connection, under --http-tls. */
static struct bufferevent *
api_bev_cb(struct event_base *base, void *arg)
{
	struct api *api = arg;

	return api_tls_bev_cb(base, api->tls, &api->tls_stats);
}

/* The HTTP server and its bounds, TLS under --http-tls: 0, or -1 with err. */
static int
api_http_setup(struct api *api, char *err, size_t errlen)
{
	struct node *node = api->node;

	if (node->cfg.http_tls_cert[0] != '\0' &&
	    (api->tls = api_tls_create(&node->cfg, err, errlen)) == NULL)
		return -1;
	if ((api->http = evhttp_new(node->base)) == NULL) {
		snprintf(err, errlen, "api: cannot create the HTTP server");
		return -1;
	}
	evhttp_set_max_body_size(api->http, API_BODY_MAX);
	evhttp_set_max_headers_size(api->http, API_HEADERS_MAX);
	evhttp_set_timeout(api->http, API_TIMEOUT_S);
	evhttp_set_allowed_methods(api->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                          EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(api->http, api_request_cb, api);
	if (api->tls != NULL)
		evhttp_set_bevcb(api->http, api_bev_cb, api);
	return 0;
}

/* Frees what api_create made (the HTTP server first: it frees the TLS connections). */
static void
api_free(struct api *api)
{
	api_accept_teardown(api);
	api_jobs_destroy(api->jobs);
	api_keyring_destroy(api->keyring);
	api_events_destroy(api->events);
	if (api->http != NULL)
		evhttp_free(api->http);
	SSL_CTX_free(api->tls);
	sodium_memzero(api->token, sizeof api->token);
	free(api);
}

int
api_create(struct api **out, struct node *node, char *err, size_t errlen)
{
	struct evhttp_bound_socket *bound;

	struct api *api;

	*out = NULL;
	if ((api = calloc(1, sizeof *api)) == NULL) {
		snprintf(err, errlen, "api: out of memory");
		return -ENOMEM;
	}
	api->node = node;
	if (api_auth_load(node->cfg.data_dir, api->token, err, errlen) != 0) {
		free(api);
		return -EIO;
	}
	if (api_jobs_create(&api->jobs, node) != 0 || api_keyring_create(&api->keyring, node) != 0 ||
	    api_events_create(&api->events, node) != 0) {
		snprintf(err, errlen, "api: out of memory");
		api_free(api);
		return -ENOMEM;
	}
	if (api_http_setup(api, err, errlen) != 0) {
		api_free(api);
		return -EINVAL;
	}
	errno = 0;
	bound = evhttp_bind_socket_with_handle(api->http, node->cfg.http_host, node->cfg.http_port);
	if (bound == NULL) {
		int e = errno != 0 ? errno : EADDRNOTAVAIL;
		snprintf(err, errlen, "api: bind %s: %s", node->cfg.http, strerror(e));
		api_free(api);
		return -e;
	}
	if (api_accept_setup(api, bound) != 0) {
		snprintf(err, errlen, "api: cannot set up the listener's accept back-off");
		api_free(api);
		return -ENOMEM;
	}
	if (api->tls != NULL)
		log_info("api", "event=tls http=%s cert=%s", node->cfg.http, node->cfg.http_tls_cert);
	*out = api;
	return 0;
}

void
api_destroy(struct api *api)
{
	if (api != NULL)
		api_free(api);
}

void
api_job_final(struct api *api, const char *job_id)
{
	if (api != NULL)
		api_jobs_final(api->jobs, job_id);
}

void
api_job_output(struct api *api, const char *job_id)
{
	if (api != NULL)
		api_jobs_output(api->jobs, job_id);
}

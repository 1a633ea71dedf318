/*
 * api-events: GET /v1/events, a live stream of what the node sees, as
 * Server-Sent Events (`id: N`, `event: TYPE`, `data: {json}`, a blank line).
 *
 * Types: member (a member learned, changed state or forgotten), job (one of
 * our client jobs changed), ack (a completion ack we saw), ledger (the
 * ledger's and raft's own log records), log (every log line at or above
 * ?level=, info by default).  ?type=a,b filters; no filter: all but log.
 *
 * Bounds (docs/events.md): at most CHORUS_EVENTS_SUBS_MAX streams (more are
 * answered 503).  A watcher's queue is its connection's output buffer: an
 * event is formatted once, then appended to each watcher that wants it.  A
 * watcher whose unsent bytes would pass CHORUS_EVENTS_QUEUE_BYTES is dropped
 * (closed from the loop, counted in stats.events_dropped, logged with the
 * reason): a slow consumer never slows the loop or grows memory beyond the
 * bound.  A comment line every CHORUS_EVENTS_KEEPALIVE_MS keeps proxies and
 * clients from timing the stream out, and finds watchers that went away.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "node.h"

enum { EV_T_MEMBER = 1, EV_T_JOB = 2, EV_T_ACK = 4, EV_T_LEDGER = 8, EV_T_LOG = 16 };

static const struct {
	const char *name;
	unsigned bit;
} api_events_types[] = {
	{ "member", EV_T_MEMBER }, { "job", EV_T_JOB }, { "ack", EV_T_ACK },
	{ "ledger", EV_T_LEDGER }, { "log", EV_T_LOG },
};

struct api_sub {
	struct api_sub *next;
	struct api_events *ev;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	unsigned types;
	int level;          /* log events at or above (numerically at most) this level */
	int dropping;       /* over its bound: closed at the next drop pass */
	size_t over;        /* its unsent bytes when it was found over */
};

struct api_events {
	struct node *node;
	struct api_sub *subs;
	size_t n;
	struct event *drop_ev;     /* closes the watchers marked dropping, from the loop */
	struct event *keepalive;
	struct evbuffer *scratch;
	uint64_t seq;
	int publishing;            /* a log line written while publishing is not an event */
	struct api_events_stats st;
};

/* The one set of streams of this process (the log hook has no context). */
static struct api_events *api_events_g;

static void api_sub_free(struct api_sub *s)
{
	struct api_sub **p = &s->ev->subs;

	while (*p != NULL && *p != s)
		p = &(*p)->next;
	if (*p == s) {
		*p = s->next;
		s->ev->n--;
	}
	free(s);
}

/* The watcher hung up (or its connection failed): forget it. */
static void api_sub_closed_cb(struct evhttp_connection *conn, void *arg)
{
	struct api_sub *s = arg;

	(void)conn;
	s->ev->st.closed++;
	api_sub_free(s);
}

static void api_events_drop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_events *ev = arg;
	struct api_sub *s = ev->subs, *next;

	(void)fd;
	(void)what;
	for (; s != NULL; s = next) {
		next = s->next;
		if (!s->dropping)
			continue;
		char peer[64] = "?";
		const char *addr = NULL;
		ev_uint16_t port = 0;
		evhttp_connection_get_peer(s->conn, (char **)&addr, &port);
		if (addr != NULL)
			snprintf(peer, sizeof peer, "%s:%u", addr, (unsigned)port);
		ev->st.dropped++;
		log_warn("api", "event=events_dropped peer=%s unsent=%zu bound=%d "
		         "why=\"a slow consumer: its unsent events passed the bound\"",
		         peer, s->over, CHORUS_EVENTS_QUEUE_BYTES);
		struct evhttp_connection *conn = s->conn;
		evhttp_connection_set_closecb(conn, NULL, NULL);
		api_sub_free(s);
		evhttp_connection_free(conn); /* frees the request too */
	}
}

/* Its unsent bytes: what the connection has not written yet. */
static size_t api_sub_unsent(const struct api_sub *s)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(s->conn);

	return bev != NULL ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* One formatted event to every watcher of its type (and level, for log). */
static void api_events_send(struct api_events *ev, unsigned type, int level, const char *text,
                            size_t n)
{
	for (struct api_sub *s = ev->subs; s != NULL; s = s->next) {
		if (s->dropping || (s->types & type) == 0 || (type == EV_T_LOG && level > s->level))
			continue;
		size_t unsent = api_sub_unsent(s);
		if (unsent + n > CHORUS_EVENTS_QUEUE_BYTES) {
			s->dropping = 1;
			s->over = unsent;
			event_active(ev->drop_ev, EV_TIMEOUT, 1);
			continue;
		}
		if (evbuffer_add(ev->scratch, text, n) != 0)
			continue;
		evhttp_send_reply_chunk(s->req, ev->scratch);
		evbuffer_drain(ev->scratch, evbuffer_get_length(ev->scratch));
		ev->st.sent++;
	}
}

/* Formats data (taken) as an event and sends it; data gets "type", "seq" and "ts_ms". */
static void api_events_publish(struct api_events *ev, unsigned type, const char *name, int level,
                               cJSON *data)
{
	char text[CHORUS_EVENTS_TEXT_MAX], json[CHORUS_EVENTS_TEXT_MAX - 64];

	if (data == NULL)
		return;
	ev->seq++;
	cJSON_AddStringToObject(data, "type", name);
	cJSON_AddNumberToObject(data, "seq", (double)ev->seq);
	cJSON_AddNumberToObject(data, "ts_ms", (double)chorusd_wall_ms());
	int good = cJSON_PrintPreallocated(data, json, (int)sizeof json, 0);
	cJSON_Delete(data);
	if (!good) {
		ev->st.too_long++;
		return;
	}
	int n = snprintf(text, sizeof text, "id: %llu\nevent: %s\ndata: %s\n\n",
	                 (unsigned long long)ev->seq, name, json);
	if (n < 0 || (size_t)n >= sizeof text)
		return;
	ev->publishing = 1;
	api_events_send(ev, type, level, text, (size_t)n);
	ev->publishing = 0;
}

/* Whether anyone wants this type now (nothing is built for nobody). */
static struct api_events *api_events_wanted(unsigned type)
{
	struct api_events *ev = api_events_g;

	if (ev == NULL || ev->publishing)
		return NULL;
	for (struct api_sub *s = ev->subs; s != NULL; s = s->next)
		if (s->types & type)
			return ev;
	return NULL;
}

void api_events_member(void *ctx, const struct member_view *mv, int old_state, int forgotten)
{
	struct api_events *ev;
	char id_short[CHORUS_ID_SHORT + 1];

	(void)ctx;
	if (!forgotten && old_state == (int)mv->state)
		return; /* a record update (load, tags): the dashboard reads /v1/members */
	if ((ev = api_events_wanted(EV_T_MEMBER)) == NULL)
		return;
	cJSON *d = cJSON_CreateObject();
	if (d == NULL)
		return;
	core_id_short(mv->id, id_short);
	cJSON_AddStringToObject(d, "id_short", id_short);
	cJSON_AddStringToObject(d, "name", mv->rec.name);
	cJSON_AddStringToObject(d, "addr", mv->rec.addr);
	cJSON_AddStringToObject(d, "state", forgotten ? "forgotten" : member_state_name(mv->state));
	cJSON_AddStringToObject(d, "old_state",
	                        old_state < 0 ? "new" : member_state_name((enum member_state)old_state));
	api_events_publish(ev, EV_T_MEMBER, "member", 0, d);
}

void api_events_job(const struct job_view *v)
{
	struct api_events *ev = api_events_wanted(EV_T_JOB);

	if (ev == NULL)
		return;
	cJSON *d = cJSON_CreateObject();
	if (d == NULL)
		return;
	cJSON_AddStringToObject(d, "id", v->id);
	cJSON_AddStringToObject(d, "kind", v->kind);
	cJSON_AddStringToObject(d, "state", job_state_name(v->state));
	if (v->nattempts > 0)
		cJSON_AddStringToObject(d, "worker", v->attempts[v->nattempts - 1].worker_name);
	if (v->reason[0] != '\0')
		cJSON_AddStringToObject(d, "reason", v->reason);
	cJSON_AddNumberToObject(d, "elapsed_ms", (double)v->elapsed_ms);
	cJSON_AddBoolToObject(d, "final", JOB_STATE_FINAL(v->state));
	api_events_publish(ev, EV_T_JOB, "job", 0, d);
}

void api_events_ack(const struct job_ack *ack)
{
	struct api_events *ev = api_events_wanted(EV_T_ACK);

	if (ev == NULL)
		return;
	cJSON *d = cJSON_CreateObject();
	if (d == NULL)
		return;
	cJSON_AddStringToObject(d, "job", ack->job_id);
	cJSON_AddStringToObject(d, "status", ack->status != NULL ? ack->status : "");
	cJSON_AddBoolToObject(d, "receipt", ack->receipt_text != NULL);
	api_events_publish(ev, EV_T_ACK, "ack", 0, d);
}

/* log.c's hook: every line written (level already checked against the node's). */
static void api_events_log(int level, const char *subsys, const char *fields)
{
	static const char *const names[] = { "error", "warn", "info", "debug", "trace" };
	int ledger = strcmp(subsys, "ledger") == 0 || strcmp(subsys, "raft") == 0;
	unsigned type = EV_T_LOG | (ledger && level <= CORE_LOG_INFO ? EV_T_LEDGER : 0);
	struct api_events *ev = api_events_wanted(type);

	if (ev == NULL || level < 0 || level > CORE_LOG_TRACE)
		return;
	for (unsigned t = EV_T_LEDGER; t <= EV_T_LOG; t <<= 1) {
		if ((type & t) == 0 || api_events_wanted(t) == NULL)
			continue;
		cJSON *d = cJSON_CreateObject();
		if (d == NULL)
			return;
		cJSON_AddStringToObject(d, "level", names[level]);
		cJSON_AddStringToObject(d, "subsys", subsys);
		/* Cut to fit one event: a log line is for reading, the file has it whole. */
		char cut[CHORUS_EVENTS_TEXT_MAX / 2];
		snprintf(cut, sizeof cut, "%s", fields);
		cJSON_AddStringToObject(d, "line", cut);
		api_events_publish(ev, t, t == EV_T_LOG ? "log" : "ledger", level, d);
	}
}

static void api_events_keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	static const char ka[] = ": keep-alive\n\n";
	struct api_events *ev = arg;

	(void)fd;
	(void)what;
	for (struct api_sub *s = ev->subs; s != NULL; s = s->next) {
		if (s->dropping || api_sub_unsent(s) + sizeof ka > CHORUS_EVENTS_QUEUE_BYTES)
			continue;
		if (evbuffer_add(ev->scratch, ka, sizeof ka - 1) == 0)
			evhttp_send_reply_chunk(s->req, ev->scratch);
		evbuffer_drain(ev->scratch, evbuffer_get_length(ev->scratch));
	}
}

/* ?type= and ?level=: 0, or -1 when one is not known. */
static int api_events_filter(const struct evhttp_uri *uri, unsigned *types, int *level)
{
	static const char *const levels[] = { "error", "warn", "info", "debug", "trace" };
	const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq kv;
	int r = 0;

	*types = EV_T_MEMBER | EV_T_JOB | EV_T_ACK | EV_T_LEDGER;
	*level = CORE_LOG_INFO;
	kv.tqh_first = NULL;
	kv.tqh_last = &kv.tqh_first;
	if (q == NULL)
		return 0;
	if (evhttp_parse_query_str(q, &kv) != 0)
		return -1;
	const char *t = evhttp_find_header(&kv, "type"), *l = evhttp_find_header(&kv, "level");
	if (t != NULL) {
		char buf[128], *save = NULL;
		*types = 0;
		snprintf(buf, sizeof buf, "%s", t);
		for (char *w = strtok_r(buf, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
			unsigned bit = 0;
			for (size_t i = 0; i < sizeof api_events_types / sizeof api_events_types[0]; i++)
				if (strcmp(w, api_events_types[i].name) == 0)
					bit = api_events_types[i].bit;
			if (bit == 0)
				r = -1;
			*types |= bit;
		}
		if (strlen(t) >= sizeof buf || *types == 0)
			r = -1;
	}
	if (l != NULL) {
		int found = -1;
		for (int i = 0; i < (int)(sizeof levels / sizeof levels[0]); i++)
			if (strcmp(l, levels[i]) == 0)
				found = i;
		if (found < 0)
			r = -1;
		else
			*level = found;
	}
	evhttp_clear_headers(&kv);
	return r;
}

int api_events_route(struct api_events *ev, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct api_sub *s;
	unsigned types;
	int level;

	if (strcmp(path, "/v1/events") != 0)
		return 0;
	if (method != EVHTTP_REQ_GET) {
		evhttp_add_header(hdrs, "Allow", "GET");
		api_reply_error(req, 405, "Method Not Allowed", "method not allowed");
		return 1;
	}
	if (api_events_filter(evhttp_request_get_evhttp_uri(req), &types, &level) != 0) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request",
		                "type is member,job,ack,ledger,log; level is error|warn|info|debug|trace");
		return 1;
	}
	if (ev->n >= CHORUS_EVENTS_SUBS_MAX || (s = calloc(1, sizeof *s)) == NULL) {
		ev->st.refused++;
		api_reply_error(req, 503, "Service Unavailable", "too many event streams");
		return 1;
	}
	s->ev = ev;
	s->req = req;
	s->conn = evhttp_request_get_connection(req);
	s->types = types;
	s->level = level;
	s->next = ev->subs;
	ev->subs = s;
	ev->n++;
	ev->st.accepted++;
	evhttp_add_header(hdrs, "Content-Type", "text/event-stream");
	evhttp_add_header(hdrs, "Cache-Control", "no-store");
	evhttp_connection_set_closecb(s->conn, api_sub_closed_cb, s);
	evhttp_send_reply_start(req, HTTP_OK, "OK");
	/*
	 * A stream is idle on the read side for as long as it lasts: no read
	 * timeout; the write timeout (evhttp's) still closes a watcher that takes
	 * nothing at all, and the bound drops one that falls behind first.
	 */
	struct bufferevent *bev = evhttp_connection_get_bufferevent(s->conn);
	struct timeval wtv = { API_EVENTS_WRITE_TIMEOUT_S, 0 };
	if (bev != NULL)
		bufferevent_set_timeouts(bev, NULL, &wtv);
	/* The kernel's share of a watcher's backlog is bounded too, not only ours. */
	int sndbuf = CHORUS_EVENTS_SNDBUF;
	if (bev != NULL && bufferevent_getfd(bev) >= 0)
		(void)setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	api_events_keepalive_cb(-1, 0, ev); /* the headers and a first line go out now */
	return 1;
}

int api_events_create(struct api_events **out, struct node *node)
{
	struct api_events *ev = calloc(1, sizeof *ev);
	struct timeval tv = { CHORUS_EVENTS_KEEPALIVE_MS / 1000, (CHORUS_EVENTS_KEEPALIVE_MS % 1000) * 1000 };

	*out = NULL;
	if (ev == NULL)
		return -ENOMEM;
	ev->node = node;
	ev->drop_ev = event_new(node->base, -1, 0, api_events_drop_cb, ev);
	ev->keepalive = event_new(node->base, -1, EV_PERSIST, api_events_keepalive_cb, ev);
	ev->scratch = evbuffer_new();
	if (ev->drop_ev == NULL || ev->keepalive == NULL || ev->scratch == NULL ||
	    event_add(ev->keepalive, &tv) != 0) {
		api_events_destroy(ev);
		return -ENOMEM;
	}
	api_events_g = ev;
	log_set_hook(api_events_log);
	*out = ev;
	return 0;
}

/* Before the HTTP server is freed: it frees the connections (and their requests). */
void api_events_destroy(struct api_events *ev)
{
	if (ev == NULL)
		return;
	if (api_events_g == ev) {
		api_events_g = NULL;
		log_set_hook(NULL);
	}
	while (ev->subs != NULL) {
		evhttp_connection_set_closecb(ev->subs->conn, NULL, NULL);
		api_sub_free(ev->subs);
	}
	if (ev->drop_ev != NULL)
		event_free(ev->drop_ev);
	if (ev->keepalive != NULL)
		event_free(ev->keepalive);
	if (ev->scratch != NULL)
		evbuffer_free(ev->scratch);
	free(ev);
}

const struct api_events_stats *api_events_stats(const struct api_events *ev)
{
	return &ev->st;
}

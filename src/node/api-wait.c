/*
 * api-wait: HTTP requests held until something happens (long-poll), shared
 * by /v1/jobs (until a job is final) and /v1/ledger/acks (until an ack is
 * committed).  A waiter is keyed by a short string (a job id); api_wake()
 * answers every waiter of a key from the loop, never from inside the core:
 * it only makes the waiter's event active.  A timer answers it when the wait
 * runs out, and a client that hangs up is forgotten.  Bounded in count.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>

#include "node.h"

#define API_WAITERS_MAX 4096

struct api_waiter {
	struct api_waiter *next;
	struct api_waits *ws;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct event *ev;
	int woken;
	uint64_t value;
	char key[API_WAIT_KEY_MAX + 1];
};

struct api_waits {
	struct event_base *base;
	api_wait_fn *fn;
	void *ctx;
	struct api_waiter *list;
	size_t n;
};

int api_waits_create(struct api_waits **out, struct event_base *base, api_wait_fn *fn, void *ctx)
{
	struct api_waits *ws = calloc(1, sizeof(*ws));

	*out = ws;
	if (ws == NULL)
		return -ENOMEM;
	ws->base = base;
	ws->fn = fn;
	ws->ctx = ctx;
	return 0;
}

static void api_waiter_unlink(struct api_waiter *w)
{
	struct api_waiter **p = &w->ws->list;

	while (*p != w)
		p = &(*p)->next;
	*p = w->next;
	w->ws->n--;
	event_free(w->ev);
	free(w);
}

void api_waits_destroy(struct api_waits *ws)
{
	if (ws == NULL)
		return;
	while (ws->list != NULL)
		api_waiter_unlink(ws->list);
	free(ws);
}

static void api_waiter_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_waiter *w = arg;

	(void)fd;
	(void)what;
	evhttp_connection_set_closecb(w->conn, NULL, NULL);
	w->ws->fn(w->ws->ctx, w->req, w->key, w->woken, w->value);
	api_waiter_unlink(w);
}

/* The client went away while we held its request: forget it. */
static void api_waiter_closed_cb(struct evhttp_connection *conn, void *arg)
{
	struct api_waits *ws = arg;

	for (struct api_waiter *w = ws->list; w != NULL; w = w->next)
		if (w->conn == conn) {
			api_waiter_unlink(w);
			return;
		}
}

int api_wait(struct api_waits *ws, struct evhttp_request *req, const char *key, unsigned wait_ms)
{
	struct timeval tv = { wait_ms / 1000, (wait_ms % 1000) * 1000 };
	struct api_waiter *w;

	if (strlen(key) > API_WAIT_KEY_MAX)
		return -EINVAL;
	if (ws->n >= API_WAITERS_MAX || (w = calloc(1, sizeof(*w))) == NULL)
		return -ENOSPC;
	w->ev = evtimer_new(ws->base, api_waiter_cb, w);
	if (w->ev == NULL || evtimer_add(w->ev, &tv) != 0) {
		if (w->ev != NULL)
			event_free(w->ev);
		free(w);
		return -ENOMEM;
	}
	w->ws = ws;
	w->req = req;
	w->conn = evhttp_request_get_connection(req);
	snprintf(w->key, sizeof w->key, "%s", key);
	w->next = ws->list;
	ws->list = w;
	ws->n++;
	evhttp_connection_set_closecb(w->conn, api_waiter_closed_cb, ws);
	return 0;
}

void api_wake(struct api_waits *ws, const char *key, uint64_t value)
{
	if (ws == NULL)
		return;
	for (struct api_waiter *w = ws->list; w != NULL; w = w->next)
		if (!w->woken && strcmp(w->key, key) == 0) {
			w->woken = 1;
			w->value = value;
			event_active(w->ev, EV_TIMEOUT, 1);
		}
}

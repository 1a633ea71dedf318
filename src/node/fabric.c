/*
 * Fabric: node-to-node frames over nng.
 *
 * The shape, and why:
 *
 * - Every node has one PULL socket, its inbox, listening on --listen.  PULL
 *   takes frames from any number of PUSH peers, fair-queued, and never
 *   replies.  Every core message is one-way and replies are correlated by
 *   ids inside the frames, so no request/reply protocol is needed.  REQ/REP
 *   would allow one request in flight per socket; BUS and PUB silently drop
 *   under back-pressure and PUB/SUB is one-to-many, none of which fits.
 * - Frames go out through one PUSH socket per peer address, made on first
 *   use and dialed with NNG_FLAG_NONBLOCK: the dial (and every redial, every
 *   100 ms growing to 1 s) runs in nng's background, so a dead or slow peer
 *   never blocks the loop.  Each socket queues at most FABRIC_SENDBUF frames;
 *   a send that finds the queue full is dropped and counted
 *   (fabric_send_drops).  Losing a frame is always safe: the core's
 *   protocols are built for a lossy network (probes time out, rumors are
 *   retransmitted, anti-entropy repairs).
 * - The inbox refuses frames over CHORUS_FRAME_MAX (NNG_OPT_RECVMAXSZ): nng
 *   drops such a frame and the connection that carried it before it is
 *   buffered, so a peer cannot make us allocate more than a frame.
 * - At most FABRIC_PEERS_MAX outbound sockets are open; the least recently
 *   used one is closed to make room (it is redialed when used again).
 * - nng's own threads never call into the core.  No aio callbacks are used:
 *   libevent watches the inbox's NNG_OPT_RECVFD and this thread drains it
 *   with non-blocking receives, at most FABRIC_RECV_BATCH per wakeup so that
 *   timers and the HTTP API are served under a flood.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "node.h"

#define FABRIC_PEERS_MAX     256
#define FABRIC_RECV_BATCH    256
/*
 * Queues sized for bursts of jobs: a client with 64 jobs in flight sends 64
 * requests to every worker at once, and 16 slots dropped most of them
 * (bench/dispatch.sh: p99 1.2 s and lost jobs).  Frames are mostly ~1 KiB.
 */
#define FABRIC_SENDBUF       256
#define FABRIC_RECVBUF       1024
#define FABRIC_RECONN_MIN_MS 100
#define FABRIC_RECONN_MAX_MS 1000

struct fabric_peer {
	char addr[CHORUS_ADDR_MAX + 1];
	nng_socket sock;
	uint64_t used;  /* fabric use_clock at the last send: LRU order */
};

struct fabric {
	struct event_base *base;
	nng_socket inbox;
	struct event *recv_ev;
	fabric_recv_fn *recv_cb;
	void *ctx;
	struct fabric_peer peers[FABRIC_PEERS_MAX];
	unsigned npeers;
	uint64_t use_clock;
	struct fabric_stats stats;
};

/* A URL nng accepts, with a scheme the fabric uses and within the size bound. */
int
fabric_check_url(const char *url, char *err, size_t errlen)
{
	nng_url *u;
	int rv;

	if (strlen(url) > CHORUS_ADDR_MAX) {
		snprintf(err, errlen, "URL too long (max %d)", CHORUS_ADDR_MAX);
		return -EINVAL;
	}
	if ((rv = nng_url_parse(&u, url)) != 0) {
		snprintf(err, errlen, "bad URL '%s': %s", url, nng_strerror(rv));
		return -EINVAL;
	}
	int tcp = strcmp(u->u_scheme, "tcp") == 0 || strcmp(u->u_scheme, "tcp4") == 0 ||
	          strcmp(u->u_scheme, "tcp6") == 0;
	int ipc = strcmp(u->u_scheme, "ipc") == 0;
	int good = ipc;
	if (tcp) {
		const char *port = u->u_port != NULL ? u->u_port : "";
		char *end;
		long n = strtol(port, &end, 10);
		good = u->u_hostname != NULL && u->u_hostname[0] != '\0' && port[0] != '\0' &&
		       *end == '\0' && n > 0 && n <= 65535;
	}
	nng_url_free(u);
	if (!good) {
		snprintf(err, errlen, "bad URL '%s' (want tcp://HOST:PORT or ipc://PATH)", url);
		return -EINVAL;
	}
	return 0;
}

static void
fabric_recv_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fabric *fab = arg;
	(void)fd;
	(void)what;

	for (int i = 0; i < FABRIC_RECV_BATCH; i++) {
		nng_msg *msg;
		int rv = nng_recvmsg(fab->inbox, &msg, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN)
			return;
		if (rv != 0) {
			log_error("fabric", "event=recv_error error=\"%s\"", nng_strerror(rv));
			return;
		}
		fab->stats.recvs++;
		fab->recv_cb(fab->ctx, nng_msg_body(msg), nng_msg_len(msg));
		nng_msg_free(msg);
	}
	/* More may be queued: RECVFD stays readable, so libevent calls again. */
}

int
fabric_create(struct fabric **out, struct event_base *base, const char *listen_url,
              fabric_recv_fn *recv_cb, void *ctx, char *err, size_t errlen)
{
	struct fabric *fab;
	int rv, fd;

	*out = NULL;
	if ((fab = calloc(1, sizeof *fab)) == NULL) {
		snprintf(err, errlen, "fabric: out of memory");
		return -ENOMEM;
	}
	fab->base = base;
	fab->recv_cb = recv_cb;
	fab->ctx = ctx;
	if ((rv = nng_pull0_open(&fab->inbox)) != 0) {
		snprintf(err, errlen, "fabric: pull socket: %s", nng_strerror(rv));
		free(fab);
		return -EIO;
	}
	if ((rv = nng_socket_set_size(fab->inbox, NNG_OPT_RECVMAXSZ, CHORUS_FRAME_MAX)) != 0 ||
	    (rv = nng_socket_set_int(fab->inbox, NNG_OPT_RECVBUF, FABRIC_RECVBUF)) != 0) {
		snprintf(err, errlen, "fabric: socket options: %s", nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_listen(fab->inbox, listen_url, NULL, 0)) != 0) {
		snprintf(err, errlen, "fabric: listen %s: %s", listen_url, nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_socket_get_int(fab->inbox, NNG_OPT_RECVFD, &fd)) != 0) {
		snprintf(err, errlen, "fabric: recv fd: %s", nng_strerror(rv));
		goto fail;
	}
	fab->recv_ev = event_new(base, fd, EV_READ | EV_PERSIST, fabric_recv_ev_cb, fab);
	if (fab->recv_ev == NULL || event_add(fab->recv_ev, NULL) != 0) {
		snprintf(err, errlen, "fabric: cannot watch the inbox");
		goto fail;
	}
	*out = fab;
	return 0;
fail:
	if (fab->recv_ev != NULL)
		event_free(fab->recv_ev);
	nng_close(fab->inbox);
	free(fab);
	return -EIO;
}

void
fabric_destroy(struct fabric *fab)
{
	if (fab == NULL)
		return;
	event_free(fab->recv_ev);
	for (unsigned i = 0; i < fab->npeers; i++)
		nng_close(fab->peers[i].sock);
	nng_close(fab->inbox);
	free(fab);
}

static void
fabric_peer_close(struct fabric *fab, unsigned i)
{
	nng_close(fab->peers[i].sock);
	fab->peers[i] = fab->peers[--fab->npeers];
	fab->stats.peers_open = fab->npeers;
}

/* The peer socket for addr, made and dialed (in the background) if new. */
static struct fabric_peer *
fabric_peer_get(struct fabric *fab, const char *addr)
{
	struct fabric_peer *peer;
	nng_socket sock;
	int rv;

	for (unsigned i = 0; i < fab->npeers; i++)
		if (strcmp(fab->peers[i].addr, addr) == 0)
			return &fab->peers[i];
	if (strlen(addr) > CHORUS_ADDR_MAX)
		return NULL;
	if (fab->npeers == FABRIC_PEERS_MAX) {
		unsigned lru = 0;
		for (unsigned i = 1; i < fab->npeers; i++)
			if (fab->peers[i].used < fab->peers[lru].used)
				lru = i;
		log_debug("fabric", "event=peer_evict addr=%s", fab->peers[lru].addr);
		fabric_peer_close(fab, lru);
		fab->stats.peers_evicted++;
	}
	if ((rv = nng_push0_open(&sock)) != 0) {
		log_error("fabric", "event=socket_error error=\"%s\"", nng_strerror(rv));
		return NULL;
	}
	if ((rv = nng_socket_set_ms(sock, NNG_OPT_RECONNMINT, FABRIC_RECONN_MIN_MS)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECONNMAXT, FABRIC_RECONN_MAX_MS)) != 0 ||
	    (rv = nng_socket_set_int(sock, NNG_OPT_SENDBUF, FABRIC_SENDBUF)) != 0 ||
	    (rv = nng_dial(sock, addr, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		log_warn("fabric", "event=dial_error addr=%s error=\"%s\"", addr, nng_strerror(rv));
		nng_close(sock);
		return NULL;
	}
	peer = &fab->peers[fab->npeers++];
	snprintf(peer->addr, sizeof peer->addr, "%s", addr);
	peer->sock = sock;
	peer->used = 0;
	fab->stats.peers_open = fab->npeers;
	log_debug("fabric", "event=peer_open addr=%s peers=%u", addr, fab->npeers);
	return peer;
}

/* Best effort: 0 when queued, negative when dropped (and counted). */
int
fabric_send(struct fabric *fab, const char *addr, const uint8_t *frame, size_t len)
{
	struct fabric_peer *peer = fabric_peer_get(fab, addr);
	int rv;

	if (peer == NULL) {
		fab->stats.send_drops++;
		return -EINVAL;
	}
	peer->used = ++fab->use_clock;
	/* nng_send copies; the frame stays the core's. */
	rv = nng_send(peer->sock, (void *)(uintptr_t)frame, len, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		fab->stats.send_drops++;
		if (log_enabled(CORE_LOG_TRACE))
			log_emit(CORE_LOG_TRACE, "fabric", "event=send_drop");
		if (rv != NNG_EAGAIN) {
			log_debug("fabric", "event=send_error addr=%s error=\"%s\"", addr,
			          nng_strerror(rv));
			fabric_peer_close(fab, (unsigned)(peer - fab->peers));
		}
		return -EAGAIN;
	}
	fab->stats.sends++;
	return 0;
}

/* core_env.send_cb: the core's "send this frame" effect. */
void
fabric_send_cb(void *ctx, const char *addr, const uint8_t *frame, size_t len)
{
	struct node *node = ctx;
	if (node->fabric != NULL)
		(void)fabric_send(node->fabric, addr, frame, len);
}

const struct fabric_stats *
fabric_stats(const struct fabric *fab)
{
	return &fab->stats;
}

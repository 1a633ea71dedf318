/*
 * Fabric: node-to-node frames over nng.
 *
 * The shape, and why:
 *
 * - Every node has one PULL socket, its inbox, listening on --listen.  PULL
 *   takes messages from any number of PUSH peers, fair-queued, and never
 *   replies.  Every core message is one-way and replies are correlated by
 *   ids inside the frames, so no request/reply protocol is needed.  REQ/REP
 *   would allow one request in flight per socket; BUS and PUB silently drop
 *   under back-pressure and PUB/SUB is one-to-many, none of which fits.
 * - Messages go out through one PUSH socket per peer address, made on first
 *   use and dialed with NNG_FLAG_NONBLOCK: the dial (and every redial, every
 *   100 ms growing to 1 s) runs in nng's background, so a dead or slow peer
 *   never blocks the loop.
 * - Frames are batched (fabric-batch.h has the envelope): fabric_send only
 *   appends the frame to its peer's envelope, and one flush event sends
 *   every non-empty envelope as one nng message at the end of the current
 *   turn of the loop.  Each nng message costs wake-ups of nng's threads, and
 *   under load a node sends tens of frames to one peer per turn: per-frame
 *   messages spent half the client's time in futex wake-ups.  Latency does
 *   not grow: nothing waits for a later turn or a timer.  The flush event is
 *   made active (event_active) at the default priority, so libevent queues
 *   it behind every callback already active in this turn and runs it in the
 *   same pass; a callback that sends after the flush ran makes it active
 *   again.  It is deliberately not a lower priority: libevent runs a lower
 *   priority only in a turn where no higher one is active, so a busy inbox
 *   (its fd stays readable) would starve it.  An envelope that would exceed
 *   FABRIC_BATCH_MAX or FABRIC_BATCH_FRAMES_MAX is sent at once and a new one
 *   started, so frames keep their order.
 * - Each socket queues at most FABRIC_SENDBUF messages (envelopes); an
 *   envelope that finds the queue full is dropped, and its frames counted
 *   (fabric_send_drops).  Losing a frame is always safe: the core's
 *   protocols are built for a lossy network (probes time out, rumors are
 *   retransmitted, anti-entropy repairs).
 * - The inbox refuses messages over FABRIC_BATCH_MAX (NNG_OPT_RECVMAXSZ):
 *   nng drops such a message and the connection that carried it before it
 *   is buffered, so a peer cannot make us allocate more than an envelope.
 *   An envelope is decoded strictly and whole before any of its frames
 *   reaches the core; a malformed one is dropped, counted
 *   (fabric_drop_batch) and logged at debug level.  A message that does not
 *   start with the envelope magic is one bare frame (nodes before batching,
 *   tests/e2e/fabric-inject) and goes to the core as it is, which checks it
 *   as it checks every frame.
 * - At most FABRIC_PEERS_MAX outbound sockets are open; the least recently
 *   used one is closed to make room (it is redialed when used again).
 *   Memory: a peer's envelope buffer grows to at most FABRIC_BATCH_MAX.
 * - nng's own threads never call into the core.  No aio callbacks are used:
 *   libevent watches the inbox's NNG_OPT_RECVFD and this thread drains it
 *   with non-blocking receives, handing at most about FABRIC_RECV_FRAMES
 *   frames to the core per wakeup so that timers and the HTTP API are served
 *   under a flood.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "fabric-batch.h"
#include "node.h"

#define FABRIC_PEERS_MAX     256
#define FABRIC_RECV_FRAMES   256  /* per wakeup, plus the rest of the last envelope */
#define FABRIC_BATCH_MIN     4096 /* a peer's first envelope buffer; doubles up to the max */
/*
 * Queues sized for bursts of jobs: a client with 64 jobs in flight sends 64
 * requests to every worker at once, and 16 slots dropped most of them
 * (bench/dispatch.sh: p99 1.2 s and lost jobs).  Frames are mostly ~1 KiB.
 * Since batching, a slot holds an envelope of one turn's frames to a peer.
 */
#define FABRIC_SENDBUF       256
#define FABRIC_RECVBUF       1024
#define FABRIC_RECONN_MIN_MS 100
#define FABRIC_RECONN_MAX_MS 1000

struct fabric_peer {
	char addr[CHORUS_ADDR_MAX + 1];
	nng_socket sock;
	uint64_t used;  /* fabric use_clock at the last send: LRU order */
	uint8_t *batch;     /* the envelope being filled; NULL until the first send */
	size_t batch_cap;   /* bytes allocated, at most FABRIC_BATCH_MAX */
	size_t batch_len;   /* bytes used; 0: nothing pending */
};

struct fabric {
	struct event_base *base;
	nng_socket inbox;
	struct event *recv_ev;
	struct event *flush_ev;  /* active while some envelope is pending */
	fabric_recv_fn *recv_cb;
	void *ctx;
	struct fabric_peer peers[FABRIC_PEERS_MAX];
	unsigned npeers;
	uint64_t use_clock;
	struct fabric_stats stats;
	struct fabric_batch_frame frames[FABRIC_BATCH_FRAMES_MAX];  /* of the envelope received */
	fabric_barrier_fn *barrier_cb; /* before any envelope leaves (fabric_set_barrier) */
	void *barrier_ctx;
};

static void fabric_flush(struct fabric *fab);
static void fabric_flush_ev_cb(evutil_socket_t fd, short what, void *arg);
static void fabric_peer_close(struct fabric *fab, unsigned i);

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

/* One inbox message: an envelope of frames, or one bare frame. */
static unsigned
fabric_recv_msg(struct fabric *fab, const uint8_t *buf, size_t len)
{
	int n;

	if (!fabric_batch_is(buf, len)) {
		/* A bare frame: the core decodes and checks it like any other. */
		fab->stats.recvs++;
		fab->recv_cb(fab->ctx, buf, len);
		return 1;
	}
	n = fabric_batch_decode(buf, len, fab->frames, FABRIC_BATCH_FRAMES_MAX);
	if (n < 0) {
		fab->stats.drop_batch++;
		log_debug("fabric", "event=drop_batch len=%zu error=\"%s\"", len,
		          fabric_batch_strerror(n));
		return 0;
	}
	assert(n >= 1 && n <= FABRIC_BATCH_FRAMES_MAX);
	fab->stats.batches_in++;
	/* The frames point into the message, which outlives this loop. */
	for (int i = 0; i < n; i++) {
		fab->stats.recvs++;
		fab->recv_cb(fab->ctx, fab->frames[i].frame, fab->frames[i].len);
	}
	return (unsigned)n;
}

static void
fabric_recv_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fabric *fab = arg;
	unsigned frames = 0;
	(void)fd;
	(void)what;

	while (frames < FABRIC_RECV_FRAMES) {
		nng_msg *msg;
		int rv = nng_recvmsg(fab->inbox, &msg, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN)
			return;
		if (rv != 0) {
			log_error("fabric", "event=recv_error error=\"%s\"", nng_strerror(rv));
			return;
		}
		frames += fabric_recv_msg(fab, nng_msg_body(msg), nng_msg_len(msg));
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
	if ((rv = nng_socket_set_size(fab->inbox, NNG_OPT_RECVMAXSZ, FABRIC_BATCH_MAX)) != 0 ||
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
	/* No fd, never added: only ever made active by fabric_send. */
	if ((fab->flush_ev = event_new(base, -1, 0, fabric_flush_ev_cb, fab)) == NULL) {
		snprintf(err, errlen, "fabric: out of memory");
		goto fail;
	}
	*out = fab;
	return 0;
fail:
	if (fab->recv_ev != NULL)
		event_free(fab->recv_ev);
	if (fab->flush_ev != NULL)
		event_free(fab->flush_ev);
	nng_close(fab->inbox);
	free(fab);
	return -EIO;
}

void
fabric_destroy(struct fabric *fab)
{
	if (fab == NULL)
		return;
	/* Pending envelopes go to nng, which drops what it has not sent at close. */
	fabric_flush(fab);
	event_free(fab->recv_ev);
	event_free(fab->flush_ev);
	while (fab->npeers > 0)
		fabric_peer_close(fab, fab->npeers - 1);
	nng_close(fab->inbox);
	free(fab);
}

/* Pending frames are lost with the socket: they count as drops. */
static void
fabric_peer_close(struct fabric *fab, unsigned i)
{
	struct fabric_peer *peer = &fab->peers[i];

	assert(i < fab->npeers);
	if (peer->batch_len > 0)
		fab->stats.send_drops += fabric_batch_count(peer->batch, peer->batch_len);
	free(peer->batch);
	nng_close(peer->sock);
	fab->peers[i] = fab->peers[--fab->npeers];
	fab->stats.peers_open = fab->npeers;
}

/*
 * Hands peer i's envelope to nng as one message.  0, or -EPIPE when a socket
 * error closed the peer (peers[i] is then another peer, or none).
 */
static int
fabric_peer_flush(struct fabric *fab, unsigned i)
{
	struct fabric_peer *peer = &fab->peers[i];
	unsigned count;
	nng_msg *msg;
	int rv;

	if (peer->batch_len == 0)
		return 0;
	/* What the core asked to make durable before these frames is made so first. */
	if (fab->barrier_cb != NULL)
		fab->barrier_cb(fab->barrier_ctx);
	count = fabric_batch_count(peer->batch, peer->batch_len);
	assert(count >= 1 && peer->batch_len <= FABRIC_BATCH_MAX);
	if ((rv = nng_msg_alloc(&msg, peer->batch_len)) != 0) {
		fab->stats.send_drops += count;
		peer->batch_len = 0;
		return 0;
	}
	memcpy(nng_msg_body(msg), peer->batch, peer->batch_len);
	peer->batch_len = 0;
	/* nng_sendmsg takes the message only when it succeeds. */
	if ((rv = nng_sendmsg(peer->sock, msg, NNG_FLAG_NONBLOCK)) != 0) {
		nng_msg_free(msg);
		fab->stats.send_drops += count;
		if (log_enabled(CORE_LOG_TRACE))
			log_emit(CORE_LOG_TRACE, "fabric", "event=send_drop");
		if (rv != NNG_EAGAIN) {
			log_debug("fabric", "event=send_error addr=%s error=\"%s\"", peer->addr,
			          nng_strerror(rv));
			fabric_peer_close(fab, i);
			return -EPIPE;
		}
		return 0;
	}
	fab->stats.sends += count;
	fab->stats.batches_out++;
	return 0;
}

/* Every pending envelope goes out: the end of a turn of the loop. */
static void
fabric_flush(struct fabric *fab)
{
	unsigned i = 0;

	while (i < fab->npeers) {
		/* A closed peer's slot now holds the last peer, not yet flushed. */
		if (fabric_peer_flush(fab, i) == 0)
			i++;
	}
}

/* Now rather than at the end of the turn: for messages a slow step (an fsync) would hold. */
void
fabric_flush_now(struct fabric *fab)
{
	if (fab != NULL)
		fabric_flush(fab);
}

static void
fabric_flush_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fabric_flush(arg);
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
		if (fabric_peer_flush(fab, lru) == 0)
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
	memset(peer, 0, sizeof *peer);
	snprintf(peer->addr, sizeof peer->addr, "%s", addr);
	peer->sock = sock;
	fab->stats.peers_open = fab->npeers;
	log_debug("fabric", "event=peer_open addr=%s peers=%u", addr, fab->npeers);
	return peer;
}

/* Room for an envelope of need bytes in peer's buffer. */
static int
fabric_peer_reserve(struct fabric_peer *peer, size_t need)
{
	size_t cap = peer->batch_cap > 0 ? peer->batch_cap : FABRIC_BATCH_MIN;
	uint8_t *buf;

	assert(need <= FABRIC_BATCH_MAX);
	if (need <= peer->batch_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > FABRIC_BATCH_MAX)
		cap = FABRIC_BATCH_MAX;
	if ((buf = realloc(peer->batch, cap)) == NULL)
		return -ENOMEM;
	peer->batch = buf;
	peer->batch_cap = cap;
	return 0;
}

/*
 * Best effort: 0 when the frame is in its peer's envelope (sent at the end of
 * this turn of the loop), negative when it is dropped (and counted).
 */
int
fabric_send(struct fabric *fab, const char *addr, const uint8_t *frame, size_t len)
{
	struct fabric_peer *peer;
	unsigned i;
	int rv;

	if (len == 0 || len > CHORUS_FRAME_MAX) {
		fab->stats.send_drops++;
		return -EMSGSIZE;
	}
	if ((peer = fabric_peer_get(fab, addr)) == NULL) {
		fab->stats.send_drops++;
		return -EINVAL;
	}
	i = (unsigned)(peer - fab->peers);
	peer->used = ++fab->use_clock;
	/* Full: what is there goes now, so no envelope is over its bounds. */
	if (peer->batch_len > 0 &&
	    (fabric_batch_need(peer->batch_len, len) > FABRIC_BATCH_MAX ||
	     fabric_batch_count(peer->batch, peer->batch_len) == FABRIC_BATCH_FRAMES_MAX)) {
		fab->stats.batches_full++;
		if (fabric_peer_flush(fab, i) != 0) {
			fab->stats.send_drops++;
			return -EPIPE;
		}
	}
	if (fabric_peer_reserve(peer, fabric_batch_need(peer->batch_len > 0 ? peer->batch_len :
	                                                FABRIC_BATCH_HEADER, len)) != 0) {
		fab->stats.send_drops++;
		return -ENOMEM;
	}
	if (peer->batch_len == 0)
		peer->batch_len = fabric_batch_begin(peer->batch, peer->batch_cap);
	/* The frame is copied: it stays the core's. */
	rv = fabric_batch_add(peer->batch, peer->batch_cap, &peer->batch_len, frame, len);
	assert(rv == 0);
	(void)rv;
	/* Queued behind the callbacks already active: runs later in this same turn. */
	event_active(fab->flush_ev, EV_TIMEOUT, 1);
	return 0;
}

/*
 * cb runs before any envelope is handed to nng (at the end of a turn, when
 * an envelope fills up, or on fabric_flush_now): the core's persist effects
 * (jobs.c) are made durable before a frame sent after them leaves.
 */
void
fabric_set_barrier(struct fabric *fab, fabric_barrier_fn *cb, void *ctx)
{
	if (fab == NULL)
		return;
	fab->barrier_cb = cb;
	fab->barrier_ctx = ctx;
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

/*
 * The fabric over real nng sockets (ipc://) on a real libevent loop: frames
 * sent to one peer in one turn of the loop leave as one envelope, in that
 * same turn; full envelopes go early; the inbox drops malformed envelopes
 * (counted) and still takes bare frames; FABRIC_SENDBUF bounds envelopes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "fabric-batch.h"
#include "node.h"
#include "tap.h"

#define RECV_MAX 4096

struct sink {
	unsigned n;
	size_t bytes;
	uint8_t first[16];
	int in_order;   /* frame i starts with the bytes of i, as sent */
};

static struct event_base *base;
static struct fabric *fa, *fb;
static struct sink sink;
static char url_a[128], url_b[128];
static uint8_t frame_buf[CHORUS_FRAME_MAX];

static void
sink_cb(void *ctx, const uint8_t *frame, size_t len)
{
	struct sink *s = ctx;
	uint32_t want = s->n;

	if (len >= 4 && memcmp(frame, &want, 4) != 0)
		s->in_order = 0;
	if (s->n == 0)
		memcpy(s->first, frame, len < sizeof s->first ? len : sizeof s->first);
	s->n++;
	s->bytes += len;
}

static void
sink_reset(void)
{
	memset(&sink, 0, sizeof sink);
	sink.in_order = 1;
}

/* Frame i of len bytes: its number first, so order can be checked. */
static void
send_frames(struct fabric *fab, const char *url, unsigned n, size_t len)
{
	for (uint32_t i = 0; i < n; i++) {
		memset(frame_buf, 'C', len);
		memcpy(frame_buf, &i, len < 4 ? len : 4);
		if (fabric_send(fab, url, frame_buf, len) != 0)
			diag("fabric_send %u failed", i);
	}
}

/* Runs the loop until the sink holds n frames or 2 s pass. */
static int
wait_frames(unsigned n)
{
	for (int i = 0; i < 2000 && sink.n < n; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
	return sink.n == n;
}

struct burst {
	unsigned n;
	size_t len;
	const char *url;             /* NULL: fb's */
	uint64_t batches_out_after;  /* fa's envelopes right after the turn */
};

/* A callback inside the loop sends a burst: the flush must come in the same turn. */
static void
burst_cb(evutil_socket_t fd, short what, void *arg)
{
	struct burst *b = arg;
	(void)fd;
	(void)what;
	send_frames(fa, b->url != NULL ? b->url : url_b, b->n, b->len);
}

static void
turn_with_burst(struct burst *b)
{
	struct event *ev = event_new(base, -1, 0, burst_cb, b);

	event_active(ev, EV_TIMEOUT, 1);
	event_base_loop(base, EVLOOP_ONCE);
	b->batches_out_after = fabric_stats(fa)->batches_out;
	event_free(ev);
}

static void
test_one_turn(void)
{
	const struct fabric_stats *sa = fabric_stats(fa), *sb = fabric_stats(fb);
	struct burst b = { 100, 300, NULL, 0 };
	uint64_t out0 = sa->batches_out, in0 = sb->batches_in;

	sink_reset();
	turn_with_burst(&b);
	ok(b.batches_out_after == out0 + 1, "100 frames in one turn leave as one envelope, in that turn");
	ok(wait_frames(100) && sink.in_order, "the peer gets the 100 frames, in order");
	ok(sb->batches_in == in0 + 1, "in one envelope");
	ok(sa->sends >= 100 && sa->send_drops == 0, "sends count frames: %llu",
	   (unsigned long long)sa->sends);

	struct burst one = { 1, 200, NULL, 0 };
	out0 = sa->batches_out;
	sink_reset();
	turn_with_burst(&one);
	ok(one.batches_out_after == out0 + 1, "a single frame is flushed in the turn that sent it");
	ok(wait_frames(1), "and arrives");
}

static void
test_full(void)
{
	const struct fabric_stats *sa = fabric_stats(fa), *sb = fabric_stats(fb);
	uint64_t out0 = sa->batches_out, in0 = sb->batches_in, full0 = sa->batches_full;
	struct burst big = { 3, CHORUS_FRAME_MAX, NULL, 0 };
	struct burst many = { FABRIC_BATCH_FRAMES_MAX + 10, 100, NULL, 0 };

	sink_reset();
	turn_with_burst(&big);
	/* FABRIC_BATCH_MAX holds one largest frame and change. */
	ok(sa->batches_full == full0 + 2 && big.batches_out_after == out0 + 3,
	   "3 largest frames: each one that does not fit sends the envelope before it");
	ok(wait_frames(3) && sink.in_order && sb->batches_in == in0 + 3 &&
	       sink.bytes == 3u * CHORUS_FRAME_MAX,
	   "the peer gets all 3, in order");

	out0 = sa->batches_out;
	sink_reset();
	turn_with_burst(&many);
	ok(many.batches_out_after == out0 + 2,
	   "FABRIC_BATCH_FRAMES_MAX + 10 small frames: 2 envelopes");
	ok(wait_frames(FABRIC_BATCH_FRAMES_MAX + 10) && sink.in_order, "all arrive, in order");
}

/* A raw PUSH socket to fb's inbox: bytes as one nng message, whatever they are. */
static void
inject(const uint8_t *buf, size_t len)
{
	static nng_socket sock;
	static int open;

	if (!open) {
		if (nng_push0_open(&sock) != 0 || nng_dial(sock, url_b, NULL, 0) != 0) {
			diag("inject: cannot dial %s", url_b);
			return;
		}
		open = 1;
	}
	if (nng_send(sock, (void *)(uintptr_t)buf, len, 0) != 0)
		diag("inject: send failed");
}

static void
test_inbox(void)
{
	const struct fabric_stats *sb = fabric_stats(fb);
	uint8_t env[64];
	size_t used = fabric_batch_begin(env, sizeof env);
	uint64_t drop0 = sb->drop_batch;

	fabric_batch_add(env, sizeof env, &used, (const uint8_t *)"CHgood", 6);
	env[3] = 2; /* a count lie */
	sink_reset();
	inject(env, used);
	for (int i = 0; i < 1000 && sb->drop_batch == drop0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ok(sb->drop_batch == drop0 + 1 && sink.n == 0,
	   "a malformed envelope is dropped whole and counted");
	inject((const uint8_t *)"CHbare", 6);
	ok(wait_frames(1) && memcmp(sink.first, "CHbare", 6) == 0,
	   "a bare frame still reaches the core as it is");
	env[3] = 1;
	sink_reset();
	inject(env, used);
	ok(wait_frames(1) && memcmp(sink.first, "CHgood", 6) == 0, "and the node keeps serving");
}

static void
test_sendbuf(void)
{
	const struct fabric_stats *sa = fabric_stats(fa);
	uint64_t sends0 = sa->sends, drops0 = sa->send_drops;
	char dead[160];
	unsigned turns = 400;

	/* Nobody listens there: nng queues envelopes until FABRIC_SENDBUF, then refuses. */
	snprintf(dead, sizeof dead, "%s-nobody", url_b);
	for (unsigned i = 0; i < turns; i++) {
		struct burst b = { 2, 50, dead, 0 };
		turn_with_burst(&b);
	}
	uint64_t sent = sa->sends - sends0, dropped = sa->send_drops - drops0;
	diag("to a dead peer: %llu frames queued, %llu dropped", (unsigned long long)sent,
	     (unsigned long long)dropped);
	ok(sent + dropped == 2 * turns, "every frame is either queued or counted as dropped");
	/* FABRIC_SENDBUF (256) envelopes of 2 frames, and a few in nng's hands. */
	ok(dropped > 0 && sent <= 2 * (256 + 8), "the queue is bounded in envelopes, not frames");
}

int
main(void)
{
	char err[256];

	snprintf(url_a, sizeof url_a, "ipc:///tmp/chorus-test-fabric-%d-a", (int)getpid());
	snprintf(url_b, sizeof url_b, "ipc:///tmp/chorus-test-fabric-%d-b", (int)getpid());
	base = event_base_new();
	sink_reset();
	if (base == NULL ||
	    fabric_create(&fa, base, url_a, sink_cb, &sink, err, sizeof err) != 0 ||
	    fabric_create(&fb, base, url_b, sink_cb, &sink, err, sizeof err) != 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	/* Let the first dial connect, so that sends are not just queued. */
	send_frames(fa, url_b, 1, 10);
	wait_frames(1);

	test_one_turn();
	test_full();
	test_inbox();
	test_sendbuf();

	fabric_destroy(fa);
	fabric_destroy(fb);
	event_base_free(base);
	return tap_done();
}

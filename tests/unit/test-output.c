/*
 * Live output (docs/dispatch.md, "Live output") over the in-memory harness:
 * the chunk codec and its bounds; the worker's flush rule (a partial chunk
 * waits at most CHORUS_OUTPUT_FLUSH_MS, a full one goes at once, bytes past
 * CHORUS_OUTPUT_JOB_MAX are counted, the stream's end says how many); and
 * the client's accept rule (duplicates, late chunks, other attempts, other
 * senders and malformed chunks dropped and counted; a gap reported).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "dispatch/jobmsg.h"
#include "harness.h"
#include "tap.h"

static const char *const talk_caps[] = {"talk", NULL};

/* What the client (n0) accepted, per stream. */
static struct {
	int chunks, ends, fresh;
	uint8_t bytes[2][CHORUS_OUTPUT_JOB_MAX];
	size_t len[2];
	uint64_t dropped[2];
	uint64_t last_dropped;
} got;

static void on_output(struct harness *h, int node, const struct job_output *o)
{
	(void)h;
	if (node != 0 || o->stream > 1 || got.len[o->stream] + o->len > CHORUS_OUTPUT_JOB_MAX)
		abort(); /* only the client is handed output, and never more than the bound */
	memcpy(got.bytes[o->stream] + got.len[o->stream], o->data, o->len);
	got.len[o->stream] += o->len;
	got.dropped[o->stream] += o->dropped;
	got.last_dropped = o->dropped;
	got.chunks++;
	got.ends += o->end;
	got.fresh += o->fresh;
}

/* n0 is the client; n1.. run "talk", and a run lasts run_ms. */
static void setup(struct harness *h, int n, uint32_t run_ms)
{
	memset(&got, 0, sizeof(got));
	h_init(h, n, 7);
	h->run_ms = run_ms;
	h->output = on_output;
	for (int i = 1; i < n; i++) {
		memcpy(h->nodes[i].caps, talk_caps, sizeof(talk_caps));
		h->nodes[i].capacity = 2;
	}
	for (int i = 0; i < n; i++)
		h_start(h, i, 1000 + (uint64_t)i);
	for (int i = 1; i < n; i++)
		core_join(h->nodes[i].core, h->nodes[0].addr, h->now_ms);
	h_run_until(h, h->now_ms + 10000, h_all_see_alive, NULL);
	h_run(h, h->now_ms + 1500);
}

static int running(struct harness *h, void *id)
{
	struct h_job *j = h_job(h, id);

	return j != NULL && j->v.state == JOB_RUNNING;
}

/* The node running job id (its first attempt's worker). */
static int worker_of(struct harness *h, const char *id)
{
	struct h_job *j = h_job(h, id);

	for (int i = 0; j != NULL && i < h->n; i++)
		if (strcmp(core_id(h->nodes[i].core), j->v.attempts[0].worker) == 0)
			return i;
	return -1;
}

static int cores_ok(struct harness *h)
{
	for (int i = 0; i < h->n; i++) {
		const char *why = core_check(h->nodes[i].core);

		if (why != NULL) {
			diag("node %d: %s", i, why);
			return 0;
		}
	}
	return 1;
}

/* ---------------------------------------------------------------- codec */

static int decode_text(const char *text, struct joutput *o, uint8_t *buf)
{
	cJSON *body = cJSON_Parse(text);
	int r = body != NULL ? jobmsg_output_decode(o, body, buf) : CORE_ERR_MALFORMED;

	cJSON_Delete(body);
	return r;
}

static void test_codec(void)
{
	static uint8_t data[CHORUS_OUTPUT_CHUNK_MAX + 1], buf[CHORUS_OUTPUT_CHUNK_MAX];
	static char text[CHORUS_BODY_MAX];
	struct joutput o, d;
	struct sb sb;
	char big[64];
	const char *job = "00112233445566778899aabbccddeeff";

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	memset(&o, 0, sizeof(o));
	codec_unhex(o.id, CHORUS_JOB_ID_BYTES, job);
	o.attempt = 3;
	o.stream = 1;
	o.off = 4096;
	o.data = data;
	o.len = CHORUS_OUTPUT_CHUNK_MAX;
	o.has_end = 1;
	o.end = 1u << 30;
	sb_init(&sb, text, sizeof(text));
	ok(jobmsg_output_encode(&sb, &o) == 0, "a full chunk with its end encodes");
	text[sb.len] = '\0';
	ok(decode_text(text, &d, buf) == 0, "and decodes");
	ok(memcmp(d.id, o.id, CHORUS_JOB_ID_BYTES) == 0 && d.attempt == 3 && d.stream == 1 &&
	       d.off == 4096 && d.len == o.len && d.has_end && d.end == o.end,
	   "to the same fields");
	ok(memcmp(buf, data, o.len) == 0, "and the same bytes");

	/* Every field is checked against its bound. */
	ok(decode_text("{\"job\":\"00112233445566778899aabbccddeeff\",\"a\":1,\"s\":0,\"off\":0,"
	               "\"d\":\"aGk=\"}", &d, buf) == 0 && d.len == 2 && !d.has_end,
	   "a small chunk decodes");
	ok(decode_text("{\"job\":\"00112233445566778899aabbccddeeff\",\"a\":0,\"s\":0,\"off\":0,"
	               "\"d\":\"aGk=\"}", &d, buf) < 0, "attempt 0 is refused");
	ok(decode_text("{\"job\":\"00112233445566778899aabbccddeeff\",\"a\":17,\"s\":0,\"off\":0,"
	               "\"d\":\"aGk=\"}", &d, buf) < 0, "an attempt over the bound is refused");
	ok(decode_text("{\"job\":\"00112233445566778899aabbccddeeff\",\"a\":1,\"s\":2,\"off\":0,"
	               "\"d\":\"aGk=\"}", &d, buf) < 0, "a third stream is refused");
	snprintf(big, sizeof(big), "%d", CHORUS_OUTPUT_JOB_MAX - 1);
	snprintf(text, sizeof(text), "{\"job\":\"%s\",\"a\":1,\"s\":0,\"off\":%s,\"d\":\"aGk=\"}",
	         job, big);
	ok(decode_text(text, &d, buf) < 0, "a chunk reaching past the stream's bound is refused");
	ok(decode_text("{\"job\":\"00112233445566778899aabbccddeeff\",\"a\":1,\"s\":0,\"off\":0,"
	               "\"d\":\"aGk=\",\"end\":1}", &d, buf) < 0,
	   "an end before the chunk's end is refused");
	ok(decode_text("{\"job\":\"00112233445566778899aabbccddeeff\",\"a\":1,\"s\":0,\"off\":3,"
	               "\"d\":\"\"}", &d, buf) < 0, "an empty chunk that ends nothing is refused");
	ok(decode_text("{\"job\":\"00112233445566778899aabbccddeeff\",\"a\":1,\"s\":0,\"off\":3,"
	               "\"d\":\"\",\"end\":9}", &d, buf) == 0 && d.len == 0 && d.end == 9,
	   "an empty last chunk with the stream's end is taken");
	ok(decode_text("{\"job\":\"0011\",\"a\":1,\"s\":0,\"off\":0,\"d\":\"aGk=\"}", &d, buf) < 0,
	   "a short job id is refused");
	ok(decode_text("{\"job\":\"00112233445566778899aabbccddeeff\",\"a\":1,\"s\":0,\"off\":0}",
	               &d, buf) < 0, "a chunk without bytes is refused");
	/* One byte over a chunk. */
	o.len = CHORUS_OUTPUT_CHUNK_MAX;
	o.has_end = 0;
	o.off = 0;
	sb_init(&sb, text, sizeof(text));
	sb_printf(&sb, "{\"job\":\"%s\",\"a\":1,\"s\":0,\"off\":0,\"d\":", job);
	jobmsg_b64_put(&sb, data, CHORUS_OUTPUT_CHUNK_MAX + 1);
	sb_puts(&sb, "}");
	text[sb.len] = '\0';
	ok(decode_text(text, &d, buf) < 0, "a chunk over CHORUS_OUTPUT_CHUNK_MAX is refused");
}

/* ---------------------------------------------------------------- the worker's flush rule */

static void test_flush(void)
{
	static uint8_t big[300 * 1024];
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	uint64_t t0, over = sizeof(big) + CHORUS_OUTPUT_CHUNK_MAX - CHORUS_OUTPUT_JOB_MAX;
	struct core *w;
	int wi;

	setup(&h, 2, 5000);
	h_submit(&h, 0, "talk", "", 1, id);
	ok(h_run_until(&h, h.now_ms + 5000, running, id), "the job runs");
	wi = worker_of(&h, id);
	ok(wi == 1, "on n1");
	w = h.nodes[1].core;

	t0 = h.now_ms;
	ok(core_work_output(w, id, 0, (const uint8_t *)"hello\n", 6, h.now_ms) == 0, "a line is taken");
	ok(core_next_deadline_ms(w) <= t0 + CHORUS_OUTPUT_FLUSH_MS, "its flush is a deadline");
	h_run(&h, t0 + CHORUS_OUTPUT_FLUSH_MS / 2);
	ok(got.chunks == 0, "a partial chunk waits (no frame per write)");
	h_run(&h, t0 + CHORUS_OUTPUT_FLUSH_MS + 10);
	ok(got.chunks == 1 && got.len[0] == 6 && memcmp(got.bytes[0], "hello\n", 6) == 0,
	   "and reaches the client within the flush interval");

	memset(big, 'e', sizeof(big));
	t0 = h.now_ms;
	ok(core_work_output(w, id, 1, big, CHORUS_OUTPUT_CHUNK_MAX, h.now_ms) == 0, "a full chunk");
	h_run(&h, t0 + 10);
	ok(got.len[1] == CHORUS_OUTPUT_CHUNK_MAX, "goes at once, not at the flush deadline");

	ok(core_work_output(w, id, 1, big, sizeof(big), h.now_ms) == 0, "300 KiB more of stderr");
	ok(core_stats(w)->output_bytes_over == over, "bytes past the bound are counted, not sent");
	ok(core_work_output(w, "00112233445566778899aabbccddeeff", 0, big, 1, h.now_ms) ==
	       CORE_ERR_INVAL, "output of a job not running here is refused");
	ok(h_run_until(&h, h.now_ms + 10000, h_job_final, id), "the job ends");
	ok(h_job(&h, id)->v.state == JOB_SUCCEEDED, "and succeeds");
	ok(got.len[1] == CHORUS_OUTPUT_JOB_MAX, "the client got stderr up to the bound");
	ok(got.dropped[1] == over, "and the stream's end says how much more there was");
	ok(got.ends == 2, "both streams ended (stdout with an empty last chunk)");
	ok(got.fresh == 1, "one run: the client never started the streams afresh");
	diag("attempts: %u (a failover to the same worker keeps its offsets)",
	     h_job(&h, id)->v.nattempts);
	ok(core_stats(h.nodes[0].core)->output_dropped == 0, "nothing of it was dropped");
	ok(cores_ok(&h), "core_check holds");
	h_free(&h);
}

/* ---------------------------------------------------------------- the client's accept rule */

static void inject(struct harness *h, int from, const char *body, uint64_t n)
{
	uint8_t frame[CHORUS_FRAME_MAX];
	int len = wire_encode_to(frame, sizeof(frame), WIRE_OUTPUT, h->nodes[from].pk,
	                         1000 + (uint64_t)from, H_SEQ(h, n), body, strlen(body),
	                         &crypto_ed25519, h->nodes[from].sk, h->nodes[0].pk, wire_open_netkey);

	if (len <= 0)
		abort();
	h_inject(h, 0, frame, (size_t)len);
}

static void chunk(struct harness *h, int from, const char *id, unsigned a, uint64_t off,
                  const char *b64, uint64_t n)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"job\":\"%s\",\"a\":%u,\"s\":0,\"off\":%llu,\"d\":\"%s\"}", id,
	         a, (unsigned long long)off, b64);
	inject(h, from, body, n);
}

static void test_accept(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	const struct core_stats *st;
	int wi, other;

	setup(&h, 3, 60000);
	h_submit(&h, 0, "talk", "", 2, id);
	ok(h_run_until(&h, h.now_ms + 5000, running, id), "the job runs");
	wi = worker_of(&h, id);
	other = wi == 1 ? 2 : 1;
	st = core_stats(h.nodes[0].core);

	chunk(&h, wi, id, 1, 0, "YWJj", 1); /* "abc" */
	ok(got.chunks == 1 && got.len[0] == 3 && got.last_dropped == 0, "the first chunk is kept");
	chunk(&h, wi, id, 1, 0, "YWJj", 2);
	ok(got.chunks == 1 && st->output_dropped == 1, "the same chunk again is dropped and counted");
	chunk(&h, wi, id, 1, 10, "eHk=", 3); /* "xy" at 10: 7 bytes never came */
	ok(got.chunks == 2 && got.last_dropped == 7, "a chunk past a gap is kept, the gap reported");
	chunk(&h, wi, id, 1, 5, "cXI=", 4);
	ok(got.chunks == 2 && st->output_dropped == 2, "a late chunk before it is dropped");
	chunk(&h, wi, id, 2, 12, "cXI=", 5);
	ok(got.chunks == 2 && st->output_dropped == 3, "a chunk of another attempt is dropped");
	chunk(&h, other, id, 1, 12, "cXI=", 6);
	ok(got.chunks == 2 && st->output_dropped == 4,
	   "a chunk from a node that does not run the job is dropped (forged)");
	chunk(&h, wi, "00112233445566778899aabbccddeeff", 1, 0, "cXI=", 7);
	ok(got.chunks == 2 && st->output_dropped == 5, "a chunk of an unknown job is dropped");
	inject(&h, wi, "{\"job\":1}", 8);
	ok(got.chunks == 2 && st->output_dropped == 6, "a malformed chunk is dropped");
	chunk(&h, wi, id, 1, 12, "cXI=", 9);
	ok(got.chunks == 3 && got.len[0] == 7 && memcmp(got.bytes[0], "abcxyqr", 7) == 0,
	   "the stream goes on in order after all that");
	ok(st->output_received == 3, "three chunks kept in all");
	ok(cores_ok(&h), "core_check holds");
	h_free(&h);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_codec();
	test_flush();
	test_accept();
	return tap_done();
}

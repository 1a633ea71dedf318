/*
 * Dispatch, client and worker, over the in-memory harness with real
 * signatures: results, ranking, every failover path, re-broadcast, the
 * no-worker reason, cancel, at-most-once per worker, forged input, and the
 * signed texts' codecs (round trip and mutation).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dispatch/dispatch-internal.h"
#include "harness.h"
#include "tap.h"

static const char *const echo_caps[] = {"echo", "fail", NULL};

/* n0 is the client (no worker); n1..n-1 run echo and fail. */
static void setup(struct harness *h, int n, uint64_t seed)
{
	h_init(h, n, seed);
	for (int i = 1; i < n; i++) {
		memcpy(h->nodes[i].caps, echo_caps, sizeof(echo_caps));
		h->nodes[i].capacity = 4;
	}
	for (int i = 0; i < n; i++)
		h_start(h, i, 1000 + (uint64_t)i);
	for (int i = 1; i < n; i++)
		core_join(h->nodes[i].core, h->nodes[0].addr, h->now_ms);
	h_run_until(h, h->now_ms + 10000, h_all_see_alive, NULL);
	h_run(h, h->now_ms + 1500); /* records with capabilities have spread */
}

static int worker_index(struct harness *h, const char *id_hex)
{
	for (int i = 0; i < h->n; i++)
		if (strcmp(core_id(h->nodes[i].core), id_hex) == 0)
			return i;
	return -1;
}

static int core_ok(struct harness *h)
{
	for (int i = 0; i < h->n; i++) {
		const char *why = h->nodes[i].core ? core_check(h->nodes[i].core) : NULL;

		if (why != NULL) {
			diag("node %d: %s", i, why);
			return 0;
		}
	}
	return 1;
}

static void test_echo(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	struct h_job *j;
	int runs = 0, acks = 1;

	setup(&h, 4, 1);
	ok(h_submit(&h, 0, "echo", "hello chorus", 42, id) == 0, "submit echo");
	ok(h_run_until(&h, h.now_ms + 1000, h_job_final, id), "echo job ends within 1 s");
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_SUCCEEDED, "echo succeeded");
	ok(j && j->result_len == 12 && memcmp(j->result, "hello chorus", 12) == 0,
	   "the result is the payload");
	ok(j && j->v.nattempts == 1 && j->v.attempts[0].outcome == OUTCOME_OK, "one attempt, ok");
	ok(j && j->finals == 1, "reported final exactly once");
	h_run(&h, h.now_ms + 50);
	for (int i = 1; i < 4; i++)
		runs += h.nodes[i].runs;
	for (int i = 0; i < 4; i++)
		acks = acks && h.nodes[i].acks == 1;
	ok(runs == 1, "exactly one worker ran it (%d runs)", runs);
	ok(acks, "every node saw the completion ack once");
	ok(core_jobs_inflight(h.nodes[0].core) == 0, "nothing left in flight");
	ok(core_ok(&h), "core_check holds everywhere");
	h_free(&h);
}

/* With runs that never finish, each new job goes to the least loaded worker. */
static void test_least_loaded(void)
{
	struct harness h;
	char id[3][CHORUS_JOB_ID_HEX + 1];
	int w[3];

	setup(&h, 4, 2);
	for (int i = 1; i < 4; i++)
		h.nodes[i].stall = 1;
	for (int k = 0; k < 3; k++) {
		struct h_job *j;

		h_submit(&h, 0, "echo", "x", 100 + (uint64_t)k, id[k]);
		h_run(&h, h.now_ms + 50);
		j = h_job(&h, id[k]);
		w[k] = j && j->v.nattempts ? worker_index(&h, j->v.attempts[0].worker) : -1;
		ok(j && j->v.state == JOB_RUNNING, "job %d running", k);
	}
	ok(w[0] > 0 && w[1] > 0 && w[2] > 0 && w[0] != w[1] && w[1] != w[2] && w[0] != w[2],
	   "three jobs on three different workers (%d %d %d)", w[0], w[1], w[2]);
	{
		struct job_view v;
		struct h_job *j = h_job(&h, id[0]);
		int r = core_job_get(h.nodes[0].core, id[0], h.now_ms, &v);

		ok(r == 0 && v.state == JOB_RUNNING && v.nattempts == 1 &&
		       v.attempts[0].outcome == OUTCOME_RUNNING && j != NULL &&
		       strcmp(v.attempts[0].worker, j->v.attempts[0].worker) == 0,
		   "core_job_get: the live job, running, its attempt on the worker reported");
		ok(r == 0 && v.attempts[0].ms <= 200 && v.elapsed_ms <= 200,
		   "with times measured to now (attempt %llu ms, elapsed %llu ms)",
		   (unsigned long long)v.attempts[0].ms, (unsigned long long)v.elapsed_ms);
		ok(core_job_get(h.nodes[0].core, "00", h.now_ms, &v) != 0, "an unknown id is refused");
	}
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

static int drop_dispatch_to; /* tap: drop dispatches to this node */
static int drop_offers_from; /* tap: drop offers from this node */
static int drop_tap(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)len;
	if (buf[3] == WIRE_DISPATCH && to == drop_dispatch_to)
		return 0;
	if (buf[3] == WIRE_OFFER && from == drop_offers_from)
		return 0;
	return 1;
}

static void test_dial_failover(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	struct h_job *j;

	setup(&h, 3, 3);
	drop_dispatch_to = 1;
	drop_offers_from = -1;
	h.tap = drop_tap;
	/* Both offer; whichever is dialled first, n1 never gets the job. */
	for (uint64_t nonce = 7; nonce < 12; nonce++) {
		h_submit(&h, 0, "echo", "dial", nonce, id);
		h_run_until(&h, h.now_ms + 5000, h_job_final, id);
		j = h_job(&h, id);
		if (j && j->v.nattempts == 2)
			break;
	}
	ok(j && j->v.state == JOB_SUCCEEDED, "the job succeeded despite a worker that never answers");
	ok(j && j->v.nattempts == 2 && j->v.attempts[0].outcome == OUTCOME_DIAL_FAILED &&
	       worker_index(&h, j->v.attempts[0].worker) == 1 &&
	       j->v.attempts[1].outcome == OUTCOME_OK && worker_index(&h, j->v.attempts[1].worker) == 2,
	   "attempt 1 on n1 dial-failed, attempt 2 on n2 ok");
	ok(h.nodes[1].runs == 0, "n1 never ran anything");
	ok(core_ok(&h), "core_check holds");
	h.tap = NULL;
	h_free(&h);
}

/* A worker that stops (SIGSTOP) mid-job: the client moves on when membership says it died. */
static void test_worker_dies(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	struct h_job *j;

	setup(&h, 4, 4);
	h.tap = drop_tap;
	drop_dispatch_to = -1;
	drop_offers_from = 2; /* round 1: only n1 and n3 offer... */
	h.nodes[3].stall = 1;
	h.nodes[1].stall = 1;
	h_submit(&h, 0, "echo", "survive", 5, id);
	h_run(&h, h.now_ms + 300);
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_RUNNING, "running on a stalled worker");
	/* ...both stall and then stop answering at all, as a SIGSTOPped process would. */
	h.nodes[1].down = 1;
	h.nodes[3].down = 1;
	drop_offers_from = -1;
	ok(h_run_until(&h, h.now_ms + 15000, h_job_final, id), "the job ends after the workers die");
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_SUCCEEDED && j->v.nattempts >= 2, "succeeded on another worker");
	ok(j && worker_index(&h, j->v.attempts[j->v.nattempts - 1].worker) == 2, "n2 ran it");
	ok(j && (j->v.attempts[0].outcome == OUTCOME_WORKER_DEAD ||
	         j->v.attempts[0].outcome == OUTCOME_TIMEOUT),
	   "first attempt ended as %s", j ? job_outcome_name(j->v.attempts[0].outcome) : "?");
	ok(j && j->v.rounds >= 2, "offers ran out and the request was re-broadcast (%u rounds)",
	   j ? j->v.rounds : 0);
	h.tap = NULL;
	h_free(&h);
}

static int receipts_dropped;
static int drop_first_receipt(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)from, (void)to, (void)len;
	if (buf[3] == WIRE_RECEIPT && receipts_dropped == 0) {
		receipts_dropped++;
		return 0;
	}
	return 1;
}

/* A lost receipt is asked for again, not paid for with the job timeout and a second run. */
static void test_lost_receipt(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	struct core_config cfg;
	struct h_job *j;
	uint64_t t0;

	core_config_defaults(&cfg);
	setup(&h, 3, 10);
	h.tap = drop_first_receipt;
	t0 = h.now_ms;
	h_submit(&h, 0, "echo", "again", 12, id);
	ok(h_run_until(&h, h.now_ms + 10000, h_job_final, id), "the job ends");
	j = h_job(&h, id);
	ok(receipts_dropped == 1 && j && j->v.state == JOB_SUCCEEDED && j->v.nattempts == 1,
	   "succeeded at its first attempt although its receipt was lost");
	ok(h.now_ms - t0 < cfg.timing.receipt_poll_ms + 500, "within a poll interval (%llu ms)",
	   (unsigned long long)(h.now_ms - t0));
	ok(h.nodes[1].runs + h.nodes[2].runs == 1, "and ran once");
	h.tap = NULL;
	h_free(&h);
}

static void test_no_worker(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	struct core_config cfg;
	uint64_t t0;
	struct h_job *j;

	core_config_defaults(&cfg);
	setup(&h, 3, 5);
	t0 = h.now_ms;
	h_submit(&h, 0, "nosuchkind", "", 9, id);
	ok(h_run_until(&h, h.now_ms + 5000, h_job_final, id), "a job nobody runs ends");
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_FAILED && strcmp(j->v.reason, "no worker offered to run nosuchkind") == 0,
	   "reason: %s", j ? j->v.reason : "?");
	ok(h.now_ms - t0 <= cfg.timing.offer_window_ms + 10, "within the offer window (%llu ms)",
	   (unsigned long long)(h.now_ms - t0));
	h_free(&h);
}

static void test_job_fails(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	struct h_job *j;
	int runs = 0;

	setup(&h, 3, 6);
	h_submit(&h, 0, "fail", "", 10, id);
	h_run_until(&h, h.now_ms + 2000, h_job_final, id);
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_FAILED && strstr(j->v.reason, "it always fails") != NULL,
	   "a failing job fails with the worker's error: %s", j ? j->v.reason : "?");
	for (int i = 1; i < 3; i++)
		runs += h.nodes[i].runs;
	ok(runs == 1, "a job that ran and failed is not run again elsewhere");
	h_free(&h);
}

static void test_cancel(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	struct h_job *j;

	setup(&h, 3, 7);
	h.nodes[1].stall = h.nodes[2].stall = 1;
	h_submit(&h, 0, "echo", "long", 11, id);
	h_run(&h, h.now_ms + 100);
	ok(core_job_cancel(h.nodes[0].core, id, h.now_ms) == 0, "cancel a running job");
	h_run(&h, h.now_ms + 100);
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_CANCELLED && j->finals == 1, "the job is cancelled, once");
	ok(h.nodes[1].kills + h.nodes[2].kills == 1, "the worker was told to kill it");
	ok(core_job_cancel(h.nodes[0].core, id, h.now_ms) == CORE_ERR_INVAL,
	   "a final job cannot be cancelled again");
	ok(core_work_running(h.nodes[1].core) + core_work_running(h.nodes[2].core) == 0,
	   "the worker reported it cancelled and is idle");
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/* After the client restarts, resuming the job (same nonce) must not run it again. */
static void test_at_most_once(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1], id2[CHORUS_JOB_ID_HEX + 1];
	struct h_job *j;

	setup(&h, 2, 8);
	h_submit(&h, 0, "echo", "once", 77, id);
	h_run_until(&h, h.now_ms + 2000, h_job_final, id);
	ok(h.nodes[1].runs == 1, "ran once");
	h.njobs = 0;
	h_start(&h, 0, 5000); /* the client restarts: a new generation */
	core_join(h.nodes[0].core, h.nodes[1].addr, h.now_ms);
	h_run_until(&h, h.now_ms + 10000, h_all_see_alive, NULL);
	h_run(&h, h.now_ms + 1500);
	ok(h_submit(&h, 0, "echo", "once", 77, id2) == 0 && strcmp(id, id2) == 0,
	   "the same nonce resumes the same job id");
	h_run_until(&h, h.now_ms + 2000, h_job_final, id2);
	j = h_job(&h, id2);
	ok(j && j->v.state == JOB_SUCCEEDED && j->result_len == 4 && !memcmp(j->result, "once", 4),
	   "the resumed job succeeds with the stored result");
	ok(h.nodes[1].runs == 1, "the worker did not run it a second time");
	ok(core_stats(h.nodes[1].core)->works_duplicate == 1, "it answered a duplicate dispatch");
	h_free(&h);
}

/* A request claiming to be n0's but signed by n2 is dropped, counted, and not offered on. */
static void test_forged_request(void)
{
	struct harness h;
	struct jreq r;
	char text[JOBMSG_TEXT_MAX + 1], body[4096];
	uint8_t sig[CHORUS_SIG_BYTES], frame[8192];
	struct sb sb;
	int len, n;

	setup(&h, 3, 9);
	memset(&r, 0, sizeof(r));
	r.nonce = 1;
	memcpy(r.client, h.nodes[0].pk, CHORUS_PK_BYTES);
	jobmsg_job_id(r.id, r.client, r.nonce);
	strcpy(r.addr, h.nodes[2].addr);
	strcpy(r.kind, "echo");
	r.timeout_ms = 1000;
	r.round = 1;
	len = jobmsg_request_encode(text, sizeof(text), &r);
	crypto_sign_detached(sig, NULL, (const uint8_t *)text, (size_t)len, h.nodes[2].sk);
	sb_init(&sb, body, sizeof(body));
	sb_puts(&sb, "{");
	jobmsg_signed_put(&sb, "t", "s", text, (size_t)len, sig);
	sb_puts(&sb, ",\"h\":0}");
	n = wire_encode_to(frame, sizeof(frame), WIRE_REQUEST, h.nodes[2].pk, 1002, H_SEQ(&h, 999), sb.buf,
	                   sb.len, &crypto_ed25519, h.nodes[2].sk, h.nodes[1].pk, wire_open_netkey);
	h_inject(&h, 1, frame, (size_t)n);
	ok(core_stats(h.nodes[1].core)->drop_job_forged == 1, "forged request counted");
	ok(core_stats(h.nodes[1].core)->offers_sent == 0, "and not offered on");
	h_free(&h);
}

/*
 * An ack straight from its client (n0) to n1, made here: signed by n0, in a
 * frame MAC'd by n0.  with_receipt: 0 none, 1 the receipt it names, 2 another
 * receipt (not the one whose hash the ack signs).
 */
static void inject_ack(struct harness *h, uint64_t nonce, int has_worker, int with_receipt)
{
	struct jreceipt rc;
	struct jack a;
	char text[JOBMSG_TEXT_MAX + 1], rtext[JOBMSG_TEXT_MAX + 1], body[4096];
	uint8_t frame[8192];
	struct batchsig auth, rauth;
	struct sb sb;
	int len, rlen, n;

	memset(&rc, 0, sizeof(rc));
	memcpy(rc.client, h->nodes[0].pk, CHORUS_PK_BYTES);
	jobmsg_job_id(rc.id, rc.client, nonce);
	memcpy(rc.worker, h->nodes[2].pk, CHORUS_PK_BYTES);
	strcpy(rc.kind, "echo");
	strcpy(rc.status, "ok");
	rc.duration_ms = 5;
	rlen = jobmsg_receipt_encode(rtext, sizeof(rtext), &rc);
	batchsig_sign_one(NULL, h->nodes[2].sk, rtext, (size_t)rlen, &rauth);
	memset(&a, 0, sizeof(a));
	memcpy(a.id, rc.id, CHORUS_JOB_ID_BYTES);
	a.nonce = nonce;
	memcpy(a.client, rc.client, CHORUS_PK_BYTES);
	a.has_worker = has_worker;
	if (has_worker)
		memcpy(a.worker, rc.worker, CHORUS_PK_BYTES);
	strcpy(a.kind, "echo");
	strcpy(a.status, "succeeded");
	a.attempts = 1;
	jobmsg_hash(a.receipt_hash, rtext, (size_t)rlen);
	len = jobmsg_ack_encode(text, sizeof(text), &a);
	batchsig_sign_one(NULL, h->nodes[0].sk, text, (size_t)len, &auth);
	if (with_receipt == 2) { /* the worker's word changed after the client hashed it */
		rc.duration_ms = 6;
		rlen = jobmsg_receipt_encode(rtext, sizeof(rtext), &rc);
		batchsig_sign_one(NULL, h->nodes[2].sk, rtext, (size_t)rlen, &rauth);
	}
	sb_init(&sb, body, sizeof(body));
	sb_puts(&sb, "{");
	jobmsg_auth_put(&sb, "t", "b", text, (size_t)len, &auth);
	if (with_receipt) {
		sb_puts(&sb, ",");
		jobmsg_auth_put(&sb, "rt", "rb", rtext, (size_t)rlen, &rauth);
	}
	sb_puts(&sb, ",\"h\":0}");
	n = wire_encode_to(frame, sizeof(frame), WIRE_JOBACK, h->nodes[0].pk, 1000, H_SEQ(h, 900 + nonce), sb.buf,
	                   sb.len, &crypto_ed25519, h->nodes[0].sk, h->nodes[1].pk, wire_open_netkey);
	h_inject(h, 1, frame, (size_t)n);
}

/*
 * Acks carry no receipt now, only its hash under the client's signature; an
 * ack from an older node may still carry one, which must be the one it names.
 */
static void test_ack_receipt(void)
{
	struct harness h;
	const struct core_stats *st;
	int acks;

	setup(&h, 3, 10);
	st = core_stats(h.nodes[1].core);
	acks = h.nodes[1].acks;
	inject_ack(&h, 11, 1, 0);
	ok(h.nodes[1].acks == acks + 1, "an ack without its receipt is taken and logged");
	inject_ack(&h, 12, 1, 1);
	ok(h.nodes[1].acks == acks + 2, "so is one that carries the receipt it names");
	inject_ack(&h, 13, 1, 2);
	ok(h.nodes[1].acks == acks + 2 && st->drop_job_forged == 1,
	   "one carrying another receipt is dropped as forged (%llu)",
	   (unsigned long long)st->drop_job_forged);
	inject_ack(&h, 14, 0, 1);
	ok(h.nodes[1].acks == acks + 2 && st->drop_malformed >= 1,
	   "a receipt on an ack that names no worker is malformed");
	h_free(&h);
}

/* The signed texts: encode/decode round trip, and no mutation crashes or passes as another. */
static void test_codecs(void)
{
	struct jreq r, r2;
	char text[JOBMSG_TEXT_MAX + 1], mut[JOBMSG_TEXT_MAX + 1];
	uint64_t x = 12345;
	int len, bad = 0, same = 0;

	memset(&r, 0, sizeof(r));
	randombytes_buf(r.client, sizeof(r.client));
	r.nonce = 0xfeedfacecafebeefULL;
	jobmsg_job_id(r.id, r.client, r.nonce);
	strcpy(r.addr, "tcp://127.0.0.1:7470");
	strcpy(r.kind, "sha256");
	r.size = 300;
	r.timeout_ms = 5000;
	r.reward = 9;
	r.created_ms = 1700000000000ULL;
	r.round = 2;
	r.gen = 77;
	len = jobmsg_request_encode(text, sizeof(text), &r);
	ok(len > 0 && jobmsg_request_decode(&r2, text, (size_t)len) == 0 && memcmp(&r, &r2, sizeof(r)) == 0,
	   "request round trip");
	{
		struct jreq w = r, w2;
		char wt[JOBMSG_TEXT_MAX + 1];
		int wl;

		ok(strstr(text, "where") == NULL, "a request without a constraint has no where field");
		w.nwhere = CHORUS_NODE_TAGS_MAX;
		for (unsigned i = 0; i < w.nwhere; i++) {
			memset(w.where[i].key, 'k', CHORUS_TAG_KEY_MAX);
			w.where[i].key[0] = (char)('a' + i);
			memset(w.where[i].value, 'v', CHORUS_TAG_VALUE_MAX);
		}
		strcpy(w.kind, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
		wl = jobmsg_request_encode(wt, sizeof(wt), &w);
		ok(wl > 0 && wl <= JOBMSG_TEXT_MAX, "a request with the longest constraint fits (%d bytes)", wl);
		ok(wl > 0 && jobmsg_request_decode(&w2, wt, (size_t)wl) == 0 && memcmp(&w, &w2, sizeof(w)) == 0,
		   "and round-trips (the fast path defers to the general one)");
		w.where[1] = w.where[0];
		ok(jobmsg_request_encode(wt, sizeof(wt), &w) == CORE_ERR_INVAL, "a key twice is not encoded");
		wl = snprintf(wt, sizeof(wt), "%.*s,\"where\":[\"gpu\"]}", len - 1, text);
		ok(jobmsg_request_decode(&w2, wt, (size_t)wl) < 0, "a pair without '=' is refused");
		wl = snprintf(wt, sizeof(wt), "%.*s,\"where\":[\"a=1\",\"a=2\"]}", len - 1, text);
		ok(jobmsg_request_decode(&w2, wt, (size_t)wl) < 0, "a key twice is refused");
		wl = snprintf(wt, sizeof(wt), "%.*s,\"where\":\"gpu=a100\"}", len - 1, text);
		ok(jobmsg_request_decode(&w2, wt, (size_t)wl) < 0, "a where that is not an array is refused");
	}
	r2.id[0] ^= 1;
	len = jobmsg_request_encode(text, sizeof(text), &r2);
	ok(jobmsg_request_decode(&r2, text, (size_t)len) < 0, "a job id not derived from the client is rejected");
	len = jobmsg_request_encode(text, sizeof(text), &r);
	for (int k = 0; k < 20000; k++) {
		size_t n = (size_t)len;

		memcpy(mut, text, n);
		for (int m = 0; m < 1 + k % 3; m++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			mut[(x >> 33) % n] = (char)(x >> 17);
		}
		if (k % 7 == 0)
			n = (x >> 40) % n;
		if (jobmsg_request_decode(&r2, mut, n) < 0)
			bad++;
		else if (memcmp(&r, &r2, sizeof(r)) == 0)
			same++;
	}
	ok(bad > 15000, "mutated requests are mostly rejected (%d of 20000), none crash", bad);
	diag("mutations that decoded to the same request (e.g. whitespace): %d", same);
}

/*
 * Every single-byte change of a canonical text at every position, from
 * characters that matter to the fast path's reading (quotes, escapes,
 * digits, hex in both cases, separators, spaces, controls), and every
 * deletion and doubling: the public decoder (fast path first) and the
 * general JSON path must agree on each.  decode(which, ...) is one of them.
 */
typedef int decode_fn(void *out, const char *text, size_t len);
static int dec_req(void *o, const char *t, size_t n) { return jobmsg_request_decode(o, t, n); }
static int dec_req_json(void *o, const char *t, size_t n) { return jobmsg_request_decode_json(o, t, n); }
static int dec_ack(void *o, const char *t, size_t n) { return jobmsg_ack_decode(o, t, n); }
static int dec_ack_json(void *o, const char *t, size_t n) { return jobmsg_ack_decode_json(o, t, n); }
static int dec_rcpt(void *o, const char *t, size_t n) { return jobmsg_receipt_decode(o, t, n); }
static int dec_rcpt_json(void *o, const char *t, size_t n) { return jobmsg_receipt_decode_json(o, t, n); }

static int agree_on_mutations(const char *text, size_t len, decode_fn *fast, decode_fn *json,
                              size_t size, int *accepted)
{
	static const char pick[] = "\"\\0123456789afAF{}:,- \t\x01\x7f\xc3u/.e";
	char mut[JOBMSG_TEXT_MAX + 2];
	union {
		struct jreq r;
		struct jack a;
		struct jreceipt c;
	} o1, o2;
	int differ = 0;

	for (size_t at = 0; at < len; at++)
		for (size_t p = 0; p < sizeof(pick) + 1; p++) {
			size_t n = len;
			int rc1, rc2;

			memcpy(mut, text, len);
			if (p < sizeof(pick) - 1) {
				if (mut[at] == pick[p])
					continue;
				mut[at] = pick[p];
			} else if (p == sizeof(pick) - 1) { /* delete the byte */
				memmove(mut + at, mut + at + 1, len - at - 1);
				n--;
			} else { /* double it */
				memmove(mut + at + 1, mut + at, len - at);
				n++;
			}
			memset(&o1, 0x5a, sizeof(o1));
			memset(&o2, 0xa5, sizeof(o2));
			rc1 = fast(&o1, mut, n);
			rc2 = json(&o2, mut, n);
			differ += (rc1 == 0) != (rc2 == 0) || (rc1 == 0 && memcmp(&o1, &o2, size) != 0);
			*accepted += rc1 == 0;
		}
	return differ;
}

/*
 * The canonical fast path in front of the request, ack and receipt decoders
 * accepts only what the general JSON path accepts, with the same fields:
 * checked on 24 texts of each, varied in every field, and on all their
 * single-byte mutations.
 */
/*
 * The ack's window fields (v2): seq and floor round-trip on both paths; a
 * floor above the seq, a seq past 2^53 and a v1 ack (no window) are refused
 * by both, so the ledger never meets one.
 */
static void test_ack_window_text(void)
{
	char text[JOBMSG_TEXT_MAX + 1], bad[JOBMSG_TEXT_MAX + 64], *p;
	struct jack a, b1, b2;
	int len, refused = 0;

	memset(&a, 0, sizeof(a));
	randombytes_buf(a.client, sizeof(a.client));
	a.nonce = 42;
	jobmsg_job_id(a.id, a.client, a.nonce);
	strcpy(a.kind, "echo");
	strcpy(a.status, "failed");
	a.seq = 1765000000123456ULL;
	a.floor = 1765000000000001ULL;
	len = jobmsg_ack_encode(text, sizeof(text), &a);
	ok(len > 0 && strstr(text, "\"v\":2,") != NULL &&
	       strstr(text, "\"seq\":1765000000123456,\"floor\":1765000000000001,") != NULL &&
	       jobmsg_ack_decode(&b1, text, (size_t)len) == 0 &&
	       jobmsg_ack_decode_json(&b2, text, (size_t)len) == 0 && b1.seq == a.seq &&
	       b1.floor == a.floor && b2.seq == a.seq && b2.floor == a.floor,
	   "an ack carries seq and floor in its signed text, read alike by both paths (%s)", text);
	a.floor = a.seq + 1;
	ok(jobmsg_ack_encode(bad, sizeof(bad), &a) == CORE_ERR_INVAL,
	   "no ack is made with a floor above its seq");
	/* floor above seq, by hand */
	snprintf(bad, sizeof(bad), "%s", text);
	p = strstr(bad, "\"floor\":1765000000000001");
	memcpy(p + 8, "1765000000123457", 16);
	refused += jobmsg_ack_decode(&b1, bad, strlen(bad)) != 0 &&
	           jobmsg_ack_decode_json(&b2, bad, strlen(bad)) != 0;
	/* version 1 */
	snprintf(bad, sizeof(bad), "%s", text);
	bad[5] = '1';
	refused += jobmsg_ack_decode(&b1, bad, strlen(bad)) != 0 &&
	           jobmsg_ack_decode_json(&b2, bad, strlen(bad)) != 0;
	/* a seq past 2^53 */
	snprintf(bad, sizeof(bad), "%s", text);
	p = strstr(bad, "\"seq\":1765000000123456");
	memcpy(p + 6, "9999999999999999", 16);
	refused += jobmsg_ack_decode(&b1, bad, strlen(bad)) != 0 &&
	           jobmsg_ack_decode_json(&b2, bad, strlen(bad)) != 0;
	ok(refused == 3, "a floor above the seq, a v1 ack and a seq past 2^53 are refused by both "
	                 "paths (%d of 3)", refused);
}

static void test_canonical_path(void)
{
	char text[JOBMSG_TEXT_MAX + 1];
	int differ = 0, accepted = 0, texts = 0;

	for (int k = 0; k < 24; k++) {
		struct jreq r, a1, a2;
		struct jack a, b1, b2;
		int len, alen;

		memset(&r, 0, sizeof(r));
		randombytes_buf(r.client, sizeof(r.client));
		r.nonce = ((uint64_t)k << 40) ^ 0x1234567;
		jobmsg_job_id(r.id, r.client, r.nonce);
		snprintf(r.addr, sizeof(r.addr), k % 2 ? "tcp://10.0.%d.1:%d" : "ipc:///tmp/n%d/s%d", k,
		         7000 + k);
		snprintf(r.kind, sizeof(r.kind), "%s", k % 3 ? "echo" : "sha-256_v2.x");
		r.size = k % 4 ? (size_t)k * 81 : CHORUS_PAYLOAD_MAX;
		r.timeout_ms = k % 5 ? 1 + (uint32_t)k * 1000 : 1;
		r.reward = k % 5 ? (uint64_t)k : CODEC_JSON_INT_MAX;
		r.created_ms = 1700000000000ULL + (uint64_t)k;
		r.round = (unsigned)k % (CHORUS_JOB_ROUNDS_MAX + 1);
		r.gen = k % 6 ? (uint64_t)k * 77 : 0;
		randombytes_buf(r.hash, sizeof(r.hash));
		len = jobmsg_request_encode(text, sizeof(text), &r);
		differ += !(jobmsg_request_decode(&a1, text, (size_t)len) == 0 &&
		            jobmsg_request_decode_json(&a2, text, (size_t)len) == 0 &&
		            memcmp(&a1, &r, sizeof(r)) == 0 && memcmp(&a2, &r, sizeof(r)) == 0);
		differ += agree_on_mutations(text, (size_t)len, dec_req, dec_req_json, sizeof(r), &accepted);
		memset(&a, 0, sizeof(a));
		memcpy(a.id, r.id, sizeof(a.id));
		a.nonce = r.nonce;
		memcpy(a.client, r.client, sizeof(a.client));
		a.has_worker = k % 4 != 0;
		if (a.has_worker) {
			randombytes_buf(a.worker, sizeof(a.worker));
			randombytes_buf(a.result_hash, sizeof(a.result_hash));
			randombytes_buf(a.receipt_hash, sizeof(a.receipt_hash));
		}
		strcpy(a.kind, r.kind);
		strcpy(a.status, a.has_worker ? (k % 3 ? "succeeded" : "cancelled") : "failed");
		a.attempts = (unsigned)k % (CHORUS_JOB_ATTEMPTS_MAX + 1);
		a.reward = r.reward;
		/* The window's fields: every kind of seq, and a floor at 0, at the seq, or between. */
		a.seq = k % 5 ? 1765000000000000ULL + (uint64_t)k * 13 : k % 2 ? CODEC_JSON_INT_MAX : 0;
		a.floor = k % 3 == 0 ? a.seq : k % 3 == 1 ? 0 : a.seq / 2;
		alen = jobmsg_ack_encode(text, sizeof(text), &a);
		differ += !(jobmsg_ack_decode(&b1, text, (size_t)alen) == 0 &&
		            jobmsg_ack_decode_json(&b2, text, (size_t)alen) == 0 &&
		            memcmp(&b1, &a, sizeof(a)) == 0 && memcmp(&b2, &a, sizeof(a)) == 0);
		differ += agree_on_mutations(text, (size_t)alen, dec_ack, dec_ack_json, sizeof(a), &accepted);
		{
			struct jreceipt rc, c1, c2;
			int clen;
			static const char *const st[] = { "ok", "failed", "timeout", "cancelled" };

			memset(&rc, 0, sizeof(rc));
			memcpy(rc.id, r.id, sizeof(rc.id));
			memcpy(rc.client, r.client, sizeof(rc.client));
			randombytes_buf(rc.worker, sizeof(rc.worker));
			strcpy(rc.kind, r.kind);
			strcpy(rc.status, st[k % 4]);
			randombytes_buf(rc.result_hash, sizeof(rc.result_hash));
			rc.result_size = k % 5 ? (size_t)k * 33 : CHORUS_RESULT_MAX;
			rc.duration_ms = k % 3 ? (uint64_t)k * 7 : 0;
			clen = jobmsg_receipt_encode(text, sizeof(text), &rc);
			differ += !(jobmsg_receipt_decode(&c1, text, (size_t)clen) == 0 &&
			            jobmsg_receipt_decode_json(&c2, text, (size_t)clen) == 0 &&
			            memcmp(&c1, &rc, sizeof(rc)) == 0 && memcmp(&c2, &rc, sizeof(rc)) == 0);
			differ += agree_on_mutations(text, (size_t)clen, dec_rcpt, dec_rcpt_json, sizeof(rc),
			                             &accepted);
		}
		texts += 3;
	}
	ok(differ == 0, "fast and general paths agree on %d texts and all their one-byte mutations "
	   "(%d differ)", texts, differ);
	diag("mutations both accepted (a digit, a hex case, ...): %d", accepted);
}

/* Dispatches to the first worker dialled are held back (the first kept), as on a slow link. */
static uint8_t held[65536];
static size_t held_len;
static int held_to = -1;
static int hold_tap(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)from;
	if (buf[3] != WIRE_DISPATCH || (held_to >= 0 && to != held_to))
		return 1;
	if (held_to < 0 && len <= sizeof(held)) {
		held_to = to;
		memcpy(held, buf, len);
		held_len = len;
	}
	return 0;
}

/*
 * A worker that learned a job is final elsewhere never starts it: the
 * client's dispatch to n_a is held up, the job fails over and ends on the
 * other worker, its ack reaches n_a, and then the late dispatch arrives.
 */
static void test_final_elsewhere(void)
{
	char id[CHORUS_JOB_ID_HEX + 1];
	struct harness h;
	struct h_job *j;
	int i;

	h_init(&h, 3, 41);
	h.outcome_tables = 1;
	for (i = 1; i < 3; i++) {
		memcpy(h.nodes[i].caps, echo_caps, sizeof(echo_caps));
		h.nodes[i].capacity = 4;
	}
	for (i = 0; i < 3; i++)
		h_start(&h, i, 1000 + (uint64_t)i);
	for (i = 1; i < 3; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	h_run_until(&h, h.now_ms + 10000, h_all_see_alive, NULL);
	h_run(&h, h.now_ms + 1500);
	held_len = 0;
	held_to = -1;
	h.tap = hold_tap;
	h_submit(&h, 0, "echo", "late", 41, id);
	ok(h_run_until(&h, h.now_ms + 10000, h_job_final, id), "the job ends");
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_SUCCEEDED && held_len > 0 &&
	       j->v.attempts[0].outcome == OUTCOME_DIAL_FAILED &&
	       worker_index(&h, j->v.attempts[0].worker) == held_to,
	   "after its dispatch to n%d was held up (dial failed) and a failover", held_to);
	h_run(&h, h.now_ms + 200); /* the ack reaches everyone */
	h.tap = NULL;
	ok(held_to > 0 && h.nodes[held_to].runs == 0, "n%d has not run it", held_to);
	h_inject(&h, held_to, held, held_len);
	h_run(&h, h.now_ms + 100);
	ok(held_to > 0 && h.nodes[held_to].runs == 0 &&
	       core_stats(h.nodes[held_to].core)->works_known == 1,
	   "the late dispatch reaches n%d, which knows the job is final and does not run it", held_to);
	ok(h.nodes[1].runs + h.nodes[2].runs == 1, "the job ran once");
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/* The client (n0) restarts: a new core, a new generation, back among the members. */
static void restart_client(struct harness *h, uint64_t start_ms)
{
	h_start(h, 0, start_ms);
	core_join(h->nodes[0].core, h->nodes[1].addr, h->now_ms);
	h_run_until(h, h->now_ms + 10000, h_all_see_alive, NULL);
}

/* Resumes job nonce of n0 with these attempts, as chorusd does from its table. */
static int resume(struct harness *h, const char *payload, uint64_t nonce,
                  const struct job_attempt *attempts, unsigned n)
{
	struct job_spec spec;
	char id[CHORUS_JOB_ID_HEX + 1];

	memset(&spec, 0, sizeof(spec));
	strcpy(spec.kind, "echo");
	spec.payload = (const uint8_t *)payload;
	spec.payload_len = strlen(payload);
	spec.nonce = nonce;
	spec.attempts = attempts;
	spec.nattempts = n;
	return core_job_submit(h->nodes[0].core, &spec, id, h->now_ms);
}

static int total_runs(struct harness *h)
{
	int n = 0;

	for (int i = 0; i < h->n; i++)
		n += h->nodes[i].runs;
	return n;
}


static int run_job(struct harness *h, const char *payload, uint64_t nonce)
{
	char id[CHORUS_JOB_ID_HEX + 1];

	return h_submit(h, 0, "echo", payload, nonce, id) == 0 &&
	       h_run_until(h, h->now_ms + 10000, h_job_final, id) &&
	       h_job(h, id)->v.state == JOB_SUCCEEDED;
}

/*
 * The floor each ack carries (acks.c, docs/ledger.md): the oldest of the
 * client's acks still open.  Three jobs end, none settled: every floor is the
 * first ack's seq.  Settled (in any order), the floor follows the oldest
 * open one; a restart hands the open ones over, and seqs and floors go on
 * from them, whatever the wall clock says.
 */
static void test_ack_floor(void)
{
	struct harness h;
	struct h_node *n;
	uint64_t s[8], last;
	int ran = 1;

	setup(&h, 3, 41);
	n = &h.nodes[0];
	for (int k = 0; k < 3; k++)
		ran &= run_job(&h, "w", 900 + (uint64_t)k);
	memcpy(s, n->ack_seq, sizeof(uint64_t) * 3);
	ok(ran && n->own_acks == 3 && s[0] < s[1] && s[1] < s[2] && n->ack_floor[0] == s[0] &&
	       n->ack_floor[1] == s[0] && n->ack_floor[2] == s[0] &&
	       core_ack_floor(n->core) == s[0] && core_acks_open(n->core) == 3,
	   "three acks, none settled: each carries the first one's seq as its floor");
	ok(core_ack_settled(n->core, s[1]) == 0 && core_ack_floor(n->core) == s[0],
	   "the second settled: the first is still open, the floor stays");
	ok(core_ack_settled(n->core, s[0]) == 0 && core_ack_floor(n->core) == s[2] &&
	       core_acks_open(n->core) == 1 && core_ack_settled(n->core, s[0]) == CORE_ERR_INVAL,
	   "the first settled: the floor moves to the third (the oldest open)");
	ran = run_job(&h, "w", 903);
	s[3] = n->ack_seq[3];
	ok(ran && s[3] > s[2] && n->ack_floor[3] == s[2], "the next ack carries that floor");
	/* A restart: the outbox still holds the third and fourth; the wall clock is behind. */
	restart_client(&h, 5000);
	{
		uint64_t open[2] = { s[3], s[2] };

		last = s[3];
		ok(core_acks_restore(n->core, last, 0, open, 2, h.now_ms) == 0 &&
		       core_ack_floor(n->core) == s[2] && core_acks_open(n->core) == 2,
		   "restarted, the open acks handed over: the floor is the oldest of them");
	}
	ran = run_job(&h, "w", 904);
	s[4] = n->ack_seq[4];
	ok(ran && s[4] > last && n->ack_floor[4] == s[2],
	   "a new ack after the restart: a seq above the last saved one (the clock was behind), the "
	   "same floor");
	ok(core_ack_settled(n->core, s[2]) == 0 && core_ack_settled(n->core, s[3]) == 0 &&
	       core_ack_settled(n->core, s[4]) == 0 && core_acks_open(n->core) == 0,
	   "all settled");
	ran = run_job(&h, "w", 905);
	ok(ran && n->ack_floor[5] == n->ack_seq[5], "none open: an ack's floor is its own seq");
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/*
 * A job resumed after a restart may have been acked before the crash and
 * never saved (its ack's seq above the last saved one): until its new ack is
 * settled, no floor passes the last saved seq + 1, so the ledger keeps the
 * old ack's job and the new one is a duplicate, not a second credit.
 */
static void test_ack_pin(void)
{
	struct job_attempt at;
	struct harness h;
	struct h_node *n;
	uint64_t last = 5000000000000ULL;
	int ran;

	setup(&h, 3, 43);
	n = &h.nodes[0];
	restart_client(&h, 5000);
	ok(core_acks_restore(n->core, last, 1765000000000ULL, NULL, 0, h.now_ms) == 0,
	   "restarted with no open ack, the last saved seq given");
	memset(&at, 0, sizeof(at));
	snprintf(at.worker, sizeof(at.worker), "%s", core_id(h.nodes[1].core));
	at.outcome = OUTCOME_RUNNING;
	ok(resume(&h, "resumed", 77, &at, 1) == 0, "a job resumed with an attempt");
	ran = run_job(&h, "fresh", 78);
	ok(ran && n->own_acks >= 1 && n->ack_seq[n->own_acks - 1] > last + 1 &&
	       n->ack_floor[n->own_acks - 1] == last + 1,
	   "another job's ack meanwhile: its floor held at the last saved seq + 1 (%llu)",
	   (unsigned long long)n->ack_floor[n->own_acks - 1]);
	h_run(&h, h.now_ms + 10000);
	ok(n->own_acks == 2 && core_ack_floor(n->core) == last + 1,
	   "the resumed job ended; its ack open: the pin holds");
	ok(core_ack_settled(n->core, n->ack_seq[0]) == 0 && core_ack_settled(n->core, n->ack_seq[1]) == 0 &&
	       core_ack_floor(n->core) == UINT64_MAX,
	   "both settled: the pin is gone");
	h_free(&h);
}
/*
 * A client that restarts asks the worker of a job's last attempt first:
 * running there -> it waits for it, and the job runs once; never got it ->
 * only then the job goes to others (attempt 1 refused); declared dead ->
 * failed over.
 */
static void test_resume_asks_first(void)
{
	struct job_attempt attempts[2];
	uint8_t jid[CHORUS_JOB_ID_BYTES];
	char id[CHORUS_JOB_ID_HEX + 1];
	struct harness h;
	struct h_job *j;
	int w, other;

	setup(&h, 4, 21);
	h.run_ms = 3000;
	h_submit(&h, 0, "echo", "resumed", 31, id);
	h_run(&h, h.now_ms + 500);
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_RUNNING && total_runs(&h) == 1, "a 3 s job runs on one worker");
	attempts[0] = j->v.attempts[0];
	w = worker_index(&h, attempts[0].worker);
	restart_client(&h, 5000);
	ok(resume(&h, "resumed", 31, attempts, 1) == 0, "the restarted client resumes it");
	ok(h_run_until(&h, h.now_ms + 10000, h_job_final, id), "it ends");
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_SUCCEEDED && j->v.nattempts == 1 &&
	       worker_index(&h, j->v.attempts[0].worker) == w,
	   "succeeded at its one attempt, on the worker that ran it");
	ok(total_runs(&h) == 1 && core_stats(h.nodes[0].core)->status_queries >= 1 &&
	       core_stats(h.nodes[w].core)->status_answers >= 1,
	   "which was asked and ran it once (%d runs)", total_runs(&h));

	/* An attempt the named worker never got: it says so, and only then others get it. */
	other = w == 1 ? 2 : 1;
	memset(attempts, 0, sizeof(attempts));
	snprintf(attempts[0].worker, sizeof(attempts[0].worker), "%s", core_id(h.nodes[other].core));
	attempts[0].outcome = OUTCOME_RUNNING;
	h.run_ms = 5;
	restart_client(&h, 6000);
	ok(resume(&h, "never", 32, attempts, 1) == 0, "a job whose recorded worker never had it");
	core_job_id(jid, h.nodes[0].pk, 32);
	codec_hex(id, jid, CHORUS_JOB_ID_BYTES);
	ok(h_run_until(&h, h.now_ms + 10000, h_job_final, id), "ends");
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_SUCCEEDED && j->v.nattempts == 2 &&
	       j->v.attempts[0].outcome == OUTCOME_REFUSED,
	   "succeeded at a second attempt, the first %s",
	   j ? job_outcome_name(j->v.attempts[0].outcome) : "?");
	ok(total_runs(&h) == 2, "ran once (%d runs in all)", total_runs(&h));

	/* The recorded worker is down: membership declares it dead, then the job moves on. */
	h.nodes[3].down = 1;
	memset(attempts, 0, sizeof(attempts));
	snprintf(attempts[0].worker, sizeof(attempts[0].worker), "%s", core_id(h.nodes[3].core));
	attempts[0].outcome = OUTCOME_RUNNING;
	ok(resume(&h, "dead", 33, attempts, 1) == 0, "a job whose recorded worker is down");
	core_job_id(jid, h.nodes[0].pk, 33);
	codec_hex(id, jid, CHORUS_JOB_ID_BYTES);
	ok(h_run_until(&h, h.now_ms + 20000, h_job_final, id), "ends");
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_SUCCEEDED && j->v.attempts[0].outcome == OUTCOME_WORKER_DEAD,
	   "succeeded elsewhere once its worker was declared dead (%s)",
	   j ? job_outcome_name(j->v.attempts[0].outcome) : "?");
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/* tmpl with @J and @N replaced by job and nonce. */
static void status_fill(char *out, size_t cap, const char *tmpl, const char *job, const char *nonce)
{
	size_t n = 0;

	for (; *tmpl != '\0' && n + 1 < cap; tmpl++) {
		const char *sub = tmpl[0] != '@' ? NULL : tmpl[1] == 'J' ? job : tmpl[1] == 'N' ? nonce : NULL;

		if (sub == NULL) {
			out[n++] = *tmpl;
			continue;
		}
		while (*sub != '\0' && n + 1 < cap)
			out[n++] = *sub++;
		tmpl++;
	}
	out[n] = '\0';
}

/* The status pair: round trips, the asker proved by the nonce, and bad bodies refused. */
static void test_status_codec(void)
{
	uint8_t client[CHORUS_PK_BYTES], other[CHORUS_PK_BYTES];
	char text[JOBMSG_STATUS_MAX];
	struct jstatus q, a, d;
	int len, bad = 0;
	cJSON *o;
	/* @J: the job id, @N: its nonce (16 hex digits) */
	static const char *const refused[] = {
		"{}",
		"{\"job\":\"00\",\"nonce\":\"@N\",\"a\":1}",     /* short id */
		"{\"job\":\"@J\",\"nonce\":\"@N\",\"a\":0}",     /* attempt 0 */
		"{\"job\":\"@J\",\"nonce\":\"@N\",\"a\":17}",    /* over the max */
		"{\"job\":\"@J\",\"nonce\":\"@N\",\"a\":1.5}",   /* not an integer */
		"{\"job\":\"@J\",\"nonce\":\"@N\",\"a\":\"1\"}", /* a string */
		"{\"job\":\"@J\",\"nonce\":\"@N0\",\"a\":1}",    /* 17 hex digits */
		"{\"job\":\"@J\",\"nonce\":\"zz@N\",\"a\":1}",   /* not hex */
		"{\"job\":\"@J\",\"a\":1}",                        /* no nonce */
		"{\"job\":\"@J\",\"nonce\":81985529216486895,\"a\":1}", /* a number, not hex */
	};
	char job[CHORUS_JOB_ID_HEX + 1];

	randombytes_buf(client, sizeof(client));
	randombytes_buf(other, sizeof(other));
	memset(&q, 0, sizeof(q));
	q.nonce = 0x0123456789abcdefULL;
	jobmsg_job_id(q.id, client, q.nonce);
	q.attempt = 3;
	q.kind = JSTATUS_QUERY;
	len = jobmsg_status_encode(text, sizeof(text), &q);
	o = cJSON_Parse(text);
	ok(len > 0 && (size_t)len < JOBMSG_STATUS_MAX && jobmsg_status_decode(&d, o, 1, client) == 0 &&
	       memcmp(&d, &q, sizeof(d)) == 0,
	   "a status query round-trips (%s)", text);
	ok(jobmsg_status_decode(&d, o, 1, other) == CORE_ERR_BADSIG,
	   "a query from another key than the job's client is refused (the nonce does not give the id)");
	cJSON_Delete(o);
	for (int k = JSTATUS_RUNNING; k <= JSTATUS_UNKNOWN; k++) {
		a = q;
		a.nonce = 0;
		a.kind = (enum jstatus_kind)k;
		len = jobmsg_status_encode(text, sizeof(text), &a);
		o = cJSON_Parse(text);
		ok(len > 0 && jobmsg_status_decode(&d, o, 0, NULL) == 0 && memcmp(&d, &a, sizeof(d)) == 0,
		   "a status answer round-trips (%s)", text);
		cJSON_Delete(o);
	}
	o = cJSON_Parse("{\"job\":\"00112233445566778899aabbccddeeff\",\"a\":1,\"st\":\"done\"}");
	ok(jobmsg_status_decode(&d, o, 0, NULL) == CORE_ERR_MALFORMED,
	   "an answer of another status is refused");
	cJSON_Delete(o);
	codec_hex(job, q.id, CHORUS_JOB_ID_BYTES);
	for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
		status_fill(text, sizeof(text), refused[k], job, "0123456789abcdef");
		o = cJSON_Parse(text);
		bad += o != NULL && jobmsg_status_decode(&d, o, 1, client) < 0;
		cJSON_Delete(o);
	}
	status_fill(text, sizeof(text), "{\"job\":\"@J\",\"nonce\":\"@N\",\"a\":1}", job,
	            "0123456789abcdef");
	o = cJSON_Parse(text);
	ok(jobmsg_status_decode(&d, o, 1, client) == 0, "the template, unbroken, is accepted (%s)", text);
	cJSON_Delete(o);
	ok(bad == (int)(sizeof(refused) / sizeof(refused[0])), "malformed queries are refused (%d of %zu)",
	   bad, sizeof(refused) / sizeof(refused[0]));
}

/* ---------------------------------------------------------------- constraints and self-run */

/* n0 the client (runs echo when self_worker); n1 gpu=a100, n2 gpu=t4, n3 untagged. */
static void setup_tags(struct harness *h, int self_worker, uint64_t seed)
{
	h_init(h, 4, seed);
	for (int i = self_worker ? 0 : 1; i < 4; i++) {
		memcpy(h->nodes[i].caps, echo_caps, sizeof(echo_caps));
		h->nodes[i].capacity = 4;
	}
	h->nodes[1].tags[0] = "gpu=a100";
	h->nodes[1].tags[1] = "zone=eu";
	h->nodes[2].tags[0] = "gpu=t4";
	for (int i = 0; i < 4; i++)
		h_start(h, i, 1000 + (uint64_t)i);
	for (int i = 1; i < 4; i++)
		core_join(h->nodes[i].core, h->nodes[0].addr, h->now_ms);
	h_run_until(h, h->now_ms + 10000, h_all_see_alive, NULL);
	h_run(h, h->now_ms + 1500);
}

static int submit_where(struct harness *h, int i, const char *where, uint64_t nonce,
                        char id[CHORUS_JOB_ID_HEX + 1])
{
	struct job_spec spec;

	memset(&spec, 0, sizeof(spec));
	strcpy(spec.kind, "echo");
	spec.payload = (const uint8_t *)"w";
	spec.payload_len = 1;
	spec.timeout_ms = 2000;
	spec.nonce = nonce;
	spec.created_ms = 1700000000000ULL + h->now_ms;
	for (const char *p = where; p != NULL && *p != '\0'; spec.nwhere++) {
		size_t n = strcspn(p, ",");

		if (core_tag_parse(&spec.where[spec.nwhere], p, n) != 0)
			return -1;
		p += n + (p[n] == ',');
	}
	return core_job_submit(h->nodes[i].core, &spec, id, h->now_ms);
}

static void test_where(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	const struct core_stats *st;
	int on_a100 = 0, ended = 0, others_runs;
	struct h_job *j;

	setup_tags(&h, 0, 21);
	for (int k = 0; k < 8; k++) {
		submit_where(&h, 0, k % 2 ? "gpu=a100" : "zone=eu,gpu=a100", 600 + (uint64_t)k, id);
		ended += h_run_until(&h, h.now_ms + 1000, h_job_final, id);
		j = h_job(&h, id);
		on_a100 += j && j->v.state == JOB_SUCCEEDED && j->v.nattempts == 1 &&
		           worker_index(&h, j->v.attempts[0].worker) == 1;
	}
	ok(ended == 8 && on_a100 == 8, "8 jobs --where gpu=a100: all ran on the a100 worker (%d of %d)",
	   on_a100, ended);
	others_runs = h.nodes[2].runs + h.nodes[3].runs;
	ok(others_runs == 0 && h.nodes[1].runs == 8, "the others ran none (%d)", others_runs);
	ok(core_stats(h.nodes[2].core)->requests_unmatched >= 8 &&
	       core_stats(h.nodes[3].core)->requests_unmatched >= 8,
	   "the t4 and the untagged workers stayed silent: their tags do not meet it");
	j = h_job(&h, id);
	ok(j && j->v.nwhere == 1 && strcmp(j->v.where[0].key, "gpu") == 0 && strcmp(j->v.where[0].value, "a100") == 0,
	   "the job's view carries its constraint (for the job table)");

	/* Unmeetable: fails in the submit call itself, with what the workers have instead. */
	ok(submit_where(&h, 0, "gpu=h100", 700, id) == 0, "a constraint nobody meets is accepted");
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_FAILED && j->v.rounds == 0,
	   "and fails at once, before any request is broadcast");
	ok(j && strstr(j->v.reason, "no alive worker runs echo with gpu=h100 (3 run echo: ") ==
	            j->v.reason &&
	       strstr(j->v.reason, "gpu=a100") && strstr(j->v.reason, "gpu=t4") &&
	       strstr(j->v.reason, "no gpu"),
	   "reason: %s", j ? j->v.reason : "?");
	submit_where(&h, 0, "gpu=a100,zone=us", 701, id);
	j = h_job(&h, id);
	ok(j != NULL && j->v.state == JOB_FAILED && strstr(j->v.reason, "gpu=a100 zone=eu") != NULL,
	   "every pair must match: a100 in eu does not meet a100 in us");
	ok(submit_where(&h, 0, "gpu=a100", 702, id) == 0 && h_job(&h, id) == NULL,
	   "a constraint one alive worker meets is not failed at submit");
	h_run_until(&h, h.now_ms + 1000, h_job_final, id);

	/* An offer from a worker that does not meet it (an older node ignores "where"). */
	h.nodes[1].stall = 1;
	submit_where(&h, 0, "gpu=a100", 703, id);
	h_run(&h, h.now_ms + 20);
	{
		const struct cjob *cj = h.nodes[0].core->dispatch.all;
		char body[256];

		snprintf(body, sizeof(body), "{\"job\":\"%s\",\"round\":%u,\"load\":0,\"cap\":4,\"addr\":\"%s\"}",
		         id, cj != NULL ? cj->req.round : 0, h.nodes[2].addr);
		core_send(h.nodes[2].core, h.nodes[0].pk, h.nodes[0].addr, WIRE_OFFER, body, strlen(body));
		h_run(&h, h.now_ms + 20);
		st = core_stats(h.nodes[0].core);
		ok(st->offers_unmatched == 1, "the client ignores an offer from a member whose record "
		                              "does not meet the constraint (%llu)",
		   (unsigned long long)st->offers_unmatched);
		/* And a dispatch straight to the t4 worker (a client that skipped its check). */
		if (cj != NULL) {
			static char dbody[JOBMSG_TEXT_MAX * 2 + 512];
			struct sb sb;

			sb_init(&sb, dbody, sizeof(dbody));
			sb_puts(&sb, "{");
			jobmsg_signed_put(&sb, "t", "s", cj->req_text, cj->req_len, cj->req_sig);
			sb_printf(&sb, ",\"a\":1,\"g\":%llu,\"p\":\"dw==\"}", 1002ULL);
			core_send(h.nodes[0].core, h.nodes[2].pk, h.nodes[2].addr, WIRE_DISPATCH, sb.buf, sb.len);
			h_run(&h, h.now_ms + 20);
		}
		ok(h.nodes[2].runs == 0 && core_stats(h.nodes[2].core)->works_refused >= 1,
		   "a worker refuses a dispatch its own tags do not meet");
	}
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/* A node that runs the kind offers to its own jobs, ranked like any other worker. */
static void test_self_run(void)
{
	struct harness h;
	char id[CHORUS_JOB_ID_HEX + 1];
	struct h_job *j;
	int on_self = 0;

	h_init(&h, 1, 31);
	memcpy(h.nodes[0].caps, echo_caps, sizeof(echo_caps));
	h_start(&h, 0, 1000);
	h_run(&h, h.now_ms + 100);
	ok(h_submit(&h, 0, "echo", "alone", 77, id) == 0, "a one-node cluster takes an echo job");
	ok(h_run_until(&h, h.now_ms + 1000, h_job_final, id), "which ends");
	j = h_job(&h, id);
	ok(j && j->v.state == JOB_SUCCEEDED && j->result_len == 5 && memcmp(j->result, "alone", 5) == 0,
	   "succeeded, with the payload back (%s)", j ? j->v.reason : "?");
	ok(j && j->v.nattempts == 1 && strcmp(j->v.attempts[0].worker, core_id(h.nodes[0].core)) == 0,
	   "run by the node itself, in one attempt");
	h_run(&h, h.now_ms + 50);
	ok(h.nodes[0].runs == 1 && h.nodes[0].acks == 1, "once, and its own ack seen once");
	ok(core_stats(h.nodes[0].core)->loopback_frames >= 5,
	   "through the loopback: request, offer, dispatch, accept, receipt (%llu frames)",
	   (unsigned long long)core_stats(h.nodes[0].core)->loopback_frames);
	submit_where(&h, 0, "gpu=a100", 78, id);
	j = h_job(&h, id);
	ok(j != NULL && j->v.state == JOB_FAILED && strstr(j->v.reason, "(1 run echo: no gpu)") != NULL,
	   "its own tags count: no gpu tag, no gpu job (%s)", j ? j->v.reason : "?");
	ok(core_ok(&h), "core_check holds");
	h_free(&h);

	/* With three other workers: stalled jobs spread over all four, the client included. */
	setup_tags(&h, 1, 32);
	for (int i = 0; i < 4; i++)
		h.nodes[i].stall = 1;
	for (int k = 0; k < 8; k++) {
		h_submit(&h, 0, "echo", "x", 800 + (uint64_t)k, id);
		h_run(&h, h.now_ms + 50);
		j = h_job(&h, id);
		on_self += j && j->v.nattempts == 1 && worker_index(&h, j->v.attempts[0].worker) == 0;
	}
	ok(h.nodes[0].runs == 2 && h.nodes[1].runs == 2 && h.nodes[2].runs == 2 && h.nodes[3].runs == 2,
	   "8 jobs on 4 workers of capacity 4, least loaded first: 2 each, the client too "
	   "(%d %d %d %d)", h.nodes[0].runs, h.nodes[1].runs, h.nodes[2].runs, h.nodes[3].runs);
	ok(on_self == 2, "the client's core dispatched 2 to itself (%d)", on_self);
	ok(core_ok(&h), "core_check holds");
	h_free(&h);
}

/*
 * Batch signatures (docs/merkle.md): with env.flush_cb the texts a node makes
 * in one turn share one signature.  12 jobs at once on 2 workers: the
 * receipts each worker sends in a turn, and the acks the client then makes,
 * are signed in batches (fewer signatures than texts), every node takes
 * every ack (relayed ones checked through the proof and the cache), and the
 * ledger accepts every entry made of them.
 */
static void test_batch_sign(void)
{
	struct harness h;
	char id[12][CHORUS_JOB_ID_HEX + 1];
	const struct core_stats *cs;
	uint64_t wtexts = 0, wbatches = 0;
	int done = 0, acks = 1;

	h_init(&h, 4, 77);
	for (int i = 0; i < 4; i++)
		h.nodes[i].batch_sign = 1;
	for (int i = 1; i < 3; i++) {
		memcpy(h.nodes[i].caps, echo_caps, sizeof(echo_caps));
		h.nodes[i].capacity = 8;
	}
	for (int i = 0; i < 4; i++)
		h_start(&h, i, 1000 + (uint64_t)i);
	for (int i = 1; i < 4; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	h_run_until(&h, h.now_ms + 10000, h_all_see_alive, NULL);
	h_run(&h, h.now_ms + 1500);
	for (int k = 0; k < 12; k++)
		h_submit(&h, 0, "echo", "batch", 500 + (uint64_t)k, id[k]);
	for (int k = 0; k < 12; k++)
		done += h_run_until(&h, h.now_ms + 2000, h_job_final, id[k]) &&
		        h_job(&h, id[k])->v.state == JOB_SUCCEEDED;
	h_run(&h, h.now_ms + 50);
	ok(done == 12, "12 jobs succeeded with batch signing everywhere (%d)", done);
	cs = core_stats(h.nodes[0].core);
	ok(cs->sign_texts == 12 && cs->sign_batches >= 1 && cs->sign_batches < 12,
	   "the client signed its 12 acks with %llu signatures", (unsigned long long)cs->sign_batches);
	for (int i = 1; i < 3; i++) {
		wtexts += core_stats(h.nodes[i].core)->sign_texts;
		wbatches += core_stats(h.nodes[i].core)->sign_batches;
	}
	ok(wtexts == 12 && wbatches < 12, "the workers signed 12 receipts with %llu signatures",
	   (unsigned long long)wbatches);
	ok(h.nodes[0].ack_count_max > 1 && h.nodes[0].receipt_count_max > 1,
	   "authenticators name batches (acks of up to %u, receipts of up to %u)",
	   h.nodes[0].ack_count_max, h.nodes[0].receipt_count_max);
	for (int i = 0; i < 4; i++)
		acks = acks && h.nodes[i].acks == 12;
	ok(acks, "every node took every ack, relayed ones checked by their proofs");
	ok(h.nodes[0].acks_checked == 12, "the ledger accepts every entry made of them (%d)",
	   h.nodes[0].acks_checked);
	ok(core_ok(&h), "core_check holds everywhere");
	h_free(&h);
}

int main(void)
{
	test_status_codec();
	test_resume_asks_first();
	test_ack_floor();
	test_ack_pin();
	test_final_elsewhere();
	test_echo();
	test_least_loaded();
	test_dial_failover();
	test_worker_dies();
	test_lost_receipt();
	test_no_worker();
	test_job_fails();
	test_cancel();
	test_at_most_once();
	test_forged_request();
	test_ack_receipt();
	test_codecs();
	test_ack_window_text();
	test_canonical_path();
	test_where();
	test_self_run();
	test_batch_sign();
	return tap_done();
}

/*
 * gen-corpus: writes the seed corpus of every fuzz target from the real
 * encoders (tests/fuzz/corpus/NAME/), so the seeds are what chorus sends:
 *
 *   tests/fuzz/gen-corpus DIR     (DIR: tests/fuzz/corpus in the source tree)
 *
 * Frames and bodies come from the fuzz cluster (fuzz-cluster.c), up to four
 * of each type; job texts, ledger entries and blocks are made and signed
 * with fixed keys; Raft messages come from three instances electing a
 * leader and replicating.  Deterministic: the same build writes the same
 * files, so regenerating shows in `git diff` only what changed.  Seeds
 * written by hand (regressions: a finding's input) live beside them under
 * names that start with "crash-" or "edge-" and are never overwritten.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "chorus/ledger.h"
#include "chorus/raft.h"
#include "core-internal.h"
#include "dispatch/jobmsg.h"
#include "fuzz-cluster.h"
#include "node.h"
#include "voterd.h"
#include "lmsg.h"

#define GEN_PER_TYPE 4 /* frames kept per frame type */

static const char *gen_dir;

static void gen_write(const char *target, const char *name, const void *a, size_t alen,
		      const void *b, size_t blen)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof path, "%s/%s", gen_dir, target);
	mkdir(path, 0777);
	snprintf(path, sizeof path, "%s/%s/%s", gen_dir, target, name);
	fp = fopen(path, "wb");
	if (fp == NULL || fwrite(a, 1, alen, fp) != alen ||
	    (blen && fwrite(b, 1, blen, fp) != blen) || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
}

/* ---------------------------------------------------------------- frames (wire, frame, record) */

static int gen_seen[WIRE_TYPE_END];

static int gen_tap(void *ctx, int from, int to, const uint8_t *buf, size_t len)
{
	struct wire_frame f;
	char name[64];
	uint8_t head[2];

	(void)ctx;
	/* Frames to any node: node 0 never receives some types (a cancel goes to the worker). */
	(void)to;
	if (wire_decode(&f, buf, len) != 0 || gen_seen[f.type] >= GEN_PER_TYPE)
		return 1;
	snprintf(name, sizeof name, "%s-%d", wire_type_name(f.type), gen_seen[f.type]++);
	gen_write("wire", name, buf, len, NULL, 0);
	head[0] = f.type;
	head[1] = (uint8_t)(from > 0 ? from - 1 : 0); /* fuzz-frame: sender 1 + byte % 3 */
	gen_write("frame", name, head, 2, f.body, f.body_len);
	return 1;
}

static void gen_records(struct harness *h)
{
	for (int i = 0; i < FUZZ_CLUSTER_NODES; i++) {
		struct member_view mv;
		char text[CHORUS_RECORD_MAX + 1], name[32], digest[128], id[CHORUS_ID_HEX + 1];
		int n;

		if (core_member_get(h->nodes[0].core, (size_t)i, &mv) != 0)
			continue;
		n = record_encode(text, sizeof text, &mv.rec);
		if (n < 0)
			continue;
		snprintf(name, sizeof name, "record-%d", i);
		gen_write("record", name, text, (size_t)n, NULL, 0);
		codec_hex(id, mv.rec.pk, CHORUS_PK_BYTES);
		n = snprintf(digest, sizeof digest, "%.16s:%llu:%llu", id,
			     (unsigned long long)mv.rec.start_ms, (unsigned long long)mv.rec.inc);
		snprintf(name, sizeof name, "digest-%d", i);
		gen_write("record", name, digest, (size_t)n, NULL, 0);
	}
}

/* ---------------------------------------------------------------- job texts and ledger entries */

struct gen_key {
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
};

static void gen_key(struct gen_key *k, uint8_t seed_byte)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, seed_byte, sizeof seed);
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

/* A signed completion record, as a client and its worker make one (test-ledger's entry_make). */
static void gen_entry(struct ledger_entry *e, struct jreq *rq, const struct gen_key *c,
		      const struct gen_key *w, uint64_t nonce, uint64_t reward)
{
	struct jreceipt r;
	struct jack a;
	uint8_t res[8];

	memset(e, 0, sizeof *e);
	memset(&r, 0, sizeof r);
	jobmsg_job_id(r.id, c->pk, nonce);
	memcpy(r.client, c->pk, CHORUS_PK_BYTES);
	memcpy(r.worker, w->pk, CHORUS_PK_BYTES);
	strcpy(r.kind, "echo");
	strcpy(r.status, "ok");
	codec_put_u64(res, nonce);
	jobmsg_hash(r.result_hash, res, sizeof res);
	r.result_size = sizeof res;
	r.duration_ms = 7;
	e->receipt_len =
		(uint16_t)jobmsg_receipt_encode(e->receipt_text, sizeof e->receipt_text, &r);
	batchsig_sign_one(NULL, w->sk, e->receipt_text, e->receipt_len, &e->receipt_auth);
	memset(&a, 0, sizeof a);
	a.nonce = nonce;
	memcpy(a.id, r.id, CHORUS_JOB_ID_BYTES);
	memcpy(a.client, c->pk, CHORUS_PK_BYTES);
	a.has_worker = 1;
	memcpy(a.worker, w->pk, CHORUS_PK_BYTES);
	strcpy(a.kind, "echo");
	strcpy(a.status, "succeeded");
	memcpy(a.result_hash, r.result_hash, JOBMSG_HASH_BYTES);
	a.attempts = 1;
	a.reward = reward;
	jobmsg_hash(a.receipt_hash, e->receipt_text, e->receipt_len);
	e->ack_len = (uint16_t)jobmsg_ack_encode(e->ack_text, sizeof e->ack_text, &a);
	batchsig_sign_one(NULL, c->sk, e->ack_text, e->ack_len, &e->ack_auth);
	memset(rq, 0, sizeof *rq);
	memcpy(rq->id, r.id, CHORUS_JOB_ID_BYTES);
	rq->nonce = nonce;
	memcpy(rq->client, c->pk, CHORUS_PK_BYTES);
	rq->gen = 1700000000000ull;
	strcpy(rq->addr, "tcp://127.0.0.1:7946");
	strcpy(rq->kind, "echo");
	rq->size = sizeof res;
	jobmsg_hash(rq->hash, res, sizeof res);
	rq->timeout_ms = 30000;
	rq->reward = reward;
	rq->created_ms = 1700000000123ull;
	rq->round = (unsigned)(nonce % 3);
}

#define GEN_ENTRIES 4
static struct ledger_entry gen_entries[GEN_ENTRIES];

/* The queue's frame bodies (fuzz-jobmsg, byte 0 == 3): an ask, an answer, a pull, a none. */
static void gen_queue_bodies(void)
{
	struct jqueue q[4];
	char text[JOBMSG_QUEUE_MAX], name[32];
	uint8_t which = 3;

	memset(q, 0, sizeof(q));
	for (int i = 0; i < 4; i++)
		strcpy(q[i].kind, i == 3 ? "sleep" : "echo");
	q[0].ask = 1;
	q[0].n = 40;
	q[1].has_job = 1;
	memset(q[1].id, 0x5c, sizeof(q[1].id));
	q[1].has_load = q[2].has_load = 1;
	q[1].load = q[2].load = 4;
	q[1].cap = q[2].cap = 4;
	q[1].ahead = 17;
	q[2].load = 3;
	for (int i = 0; i < 4; i++) {
		int n = jobmsg_queue_encode(text, sizeof text, &q[i]);

		snprintf(name, sizeof name, "queue-%d", i);
		gen_write("jobmsg", name, &which, 1, text, (size_t)n);
	}
}

/* Live-output chunks (WIRE_OUTPUT bodies): a line, a full chunk, a stream's end, both. */
static void gen_output(int i)
{
	static uint8_t bytes[CHORUS_OUTPUT_CHUNK_MAX];
	static char body[CHORUS_BODY_MAX];
	uint8_t which = 4; /* fuzz-jobmsg: byte 0 % 5 == 4 */
	struct joutput o;
	char name[32];
	struct sb sb;

	for (size_t k = 0; k < sizeof bytes; k++)
		bytes[k] = (uint8_t)(k % 64 == 63 ? '\n' : 'a' + k % 26);
	memset(&o, 0, sizeof o);
	jobmsg_job_id(o.id, (const uint8_t *)"0123456789abcdef0123456789abcdef", (uint64_t)i);
	o.attempt = 1 + (unsigned)i;
	o.stream = (unsigned)i % 2;
	o.off = (uint64_t)i * CHORUS_OUTPUT_CHUNK_MAX;
	o.data = bytes;
	o.len = i == 0 ? 6 : i == 2 ? 0 : CHORUS_OUTPUT_CHUNK_MAX;
	o.has_end = i >= 2;
	o.end = o.off + o.len + (i == 3 ? 12345 : 0);
	sb_init(&sb, body, sizeof body);
	if (jobmsg_output_encode(&sb, &o) != 0)
		abort();
	snprintf(name, sizeof name, "output-%d", i);
	gen_write("jobmsg", name, &which, 1, sb.buf, sb.len);
}

/*
 * The entries as one client and one worker sign them in a loop iteration:
 * a batch of GEN_ENTRIES acks and one of receipts, so that the blocks and
 * submits made from them carry real proofs.
 */
static void gen_batch(const struct gen_key *c, const struct gen_key *w)
{
	const char *texts[GEN_ENTRIES];
	size_t lens[GEN_ENTRIES];
	struct batchsig auth[GEN_ENTRIES];

	for (int i = 0; i < GEN_ENTRIES; i++) {
		texts[i] = gen_entries[i].ack_text;
		lens[i] = gen_entries[i].ack_len;
	}
	if (batchsig_sign(NULL, c->sk, texts, lens, GEN_ENTRIES, auth) != 0)
		abort();
	for (int i = 0; i < GEN_ENTRIES; i++) {
		gen_entries[i].ack_auth = auth[i];
		texts[i] = gen_entries[i].receipt_text;
		lens[i] = gen_entries[i].receipt_len;
	}
	if (batchsig_sign(NULL, w->sk, texts, lens, GEN_ENTRIES, auth) != 0)
		abort();
	for (int i = 0; i < GEN_ENTRIES; i++)
		gen_entries[i].receipt_auth = auth[i];
}

static void gen_texts(void)
{
	struct gen_key c, w;
	char name[32], text[JOBMSG_TEXT_MAX + 1];
	uint8_t which;

	gen_key(&c, 1);
	gen_key(&w, 2);
	for (int i = 0; i < GEN_ENTRIES; i++) {
		struct ledger_entry *e = &gen_entries[i];
		struct jreq rq;
		int n;

		gen_entry(e, &rq, &c, &w, 100 + (uint64_t)i,
			  i == 3 ? 1000000000000000ull : (uint64_t)i);
		n = jobmsg_request_encode(text, sizeof text, &rq);
		which = 0;
		snprintf(name, sizeof name, "request-%d", i);
		gen_write("jobmsg", name, &which, 1, text, (size_t)n);
		if (i < 2) { /* with a constraint (submit --where): one pair, then two */
			rq.nwhere = (unsigned)i + 1;
			snprintf(rq.where[0].key, sizeof rq.where[0].key, "gpu");
			snprintf(rq.where[0].value, sizeof rq.where[0].value, "a100");
			snprintf(rq.where[1].key, sizeof rq.where[1].key, "zone");
			snprintf(rq.where[1].value, sizeof rq.where[1].value, "eu-west-1");
			n = jobmsg_request_encode(text, sizeof text, &rq);
			snprintf(name, sizeof name, "request-where-%d", i);
			gen_write("jobmsg", name, &which, 1, text, (size_t)n);
		}
		which = 1;
		snprintf(name, sizeof name, "receipt-%d", i);
		gen_write("jobmsg", name, &which, 1, e->receipt_text, e->receipt_len);
		which = 2;
		snprintf(name, sizeof name, "ack-%d", i);
		gen_write("jobmsg", name, &which, 1, e->ack_text, e->ack_len);
		gen_output(i);
		if (i > 1)
			continue;
		/* The HTTP bodies that carry them: POST /v1/ledger/acks. */
		{
			struct sb sb;
			static char body[4 * JOBMSG_TEXT_MAX + 2 * BATCHSIG_HEX_MAX];

			sb_init(&sb, body, sizeof body);
			sb_puts(&sb, "{");
			jobmsg_auth_put(&sb, "ack", "ack_auth", e->ack_text, e->ack_len,
					&e->ack_auth);
			sb_puts(&sb, ",");
			jobmsg_auth_put(&sb, "receipt", "receipt_auth", e->receipt_text,
					e->receipt_len, &e->receipt_auth);
			sb_puts(&sb, "}");
			snprintf(name, sizeof name, "acks-%d", i);
			gen_write("api", name, body, sb.len, NULL, 0);
		}
	}
	gen_batch(&c, &w);
}

static void gen_api(void)
{
	static const char *const bodies[] = {
		"{\"kind\":\"echo\",\"payload_b64\":\"aGVsbG8=\",\"timeout_ms\":30000,\"reward\":5}",
		"{\"kind\":\"sleep\"}",
		"{\"kind\":\"echo\",\"payload_b64\":\"\",\"timeout_ms\":1,\"reward\":1000000000000000}",
		"{\"id\":\"0123456789abcdef\"}",
		"{\"id\":\"01\"}",
		"{\"kind\":\"sleep\",\"payload_b64\":\"MTAw\",\"priority\":9,\"queue_timeout_s\":86400}",
	};
	char name[32];

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		snprintf(name, sizeof name, "body-%zu", i);
		gen_write("api", name, bodies[i], strlen(bodies[i]), NULL, 0);
	}
}

/* ---------------------------------------------------------------- keyring operations */

/* Every operation and an answer, from the encoders; byte 0 picks the decoder (fuzz-keyops). */
static void gen_keyops(void)
{
	static const uint8_t msg = 0, answer = 1;
	struct keyops_msg m;
	struct keyops_answer a;
	char text[512], name[32];
	int n;

	memset(&m, 0, sizeof m);
	memset(m.key, 0x5a, sizeof m.key);
	for (int op = CORE_KEYRING_LIST; op <= CORE_KEYRING_REMOVE; op++) {
		m.op = op;
		m.nonce = 1000 + (uint64_t)op;
		n = keyops_encode_msg(text, sizeof text, &m);
		snprintf(name, sizeof name, "op-%d", op);
		gen_write("keyops", name, &msg, 1, text, (size_t)n);
	}
	memset(&a, 0, sizeof a);
	a.nonce = 1003;
	a.n = 2;
	a.primary = 1;
	keyops_fingerprint(a.fp[0], m.key);
	memset(a.fp[1], 0x33, CHORUS_KEY_FP_BYTES);
	n = keyops_encode_answer(text, sizeof text, &a);
	gen_write("keyops", "answer-0", &answer, 1, text, (size_t)n);
	strcpy(a.err, "primary");
	n = keyops_encode_answer(text, sizeof text, &a);
	gen_write("keyops", "answer-1", &answer, 1, text, (size_t)n);
}

/* ---------------------------------------------------------------- ledger blocks, ledger messages */

static uint8_t *gen_block;
static size_t gen_block_len;

static void gen_ledger(void)
{
	static uint8_t body[CHORUS_BODY_MAX];
	struct gen_key leader;
	struct ledger *l;
	size_t used = 0, len;
	uint8_t mode;
	char name[32];

	gen_key(&leader, 9);
	if (ledger_create(&l, NULL) != 0 ||
	    ledger_block_build(l, 1, leader.pk, leader.sk, 1700000000000ull, gen_entries, 3, &used,
			       &gen_block, &gen_block_len) != 0 ||
	    gen_block == NULL) {
		fprintf(stderr, "gen-corpus: cannot build a block: %s\n", ledger_why(l));
		exit(1);
	}
	mode = 0;
	gen_write("ledger", "block-3", &mode, 1, gen_block, gen_block_len);
	ledger_destroy(l);
	/* Entries as a voter receives them (lmsg submit records), for the build mode. */
	for (int n = 1; n <= GEN_ENTRIES; n++) {
		len = 0;
		for (int i = 0; i < n; i++)
			len += lmsg_put_entry(body + len, &gen_entries[i % GEN_ENTRIES]);
		mode = 1;
		snprintf(name, sizeof name, "entries-%d", n);
		gen_write("ledger", name, &mode, 1, body, len);
	}
	/* The same, whole: a submit message, and a committed one (catch-up's family). */
	body[0] = LMSG_SUBMIT;
	body[1] = 0;
	memset(body + 2, 0x11, CHORUS_PK_BYTES);
	body[2 + CHORUS_PK_BYTES] = 2;
	len = LMSG_HEADER;
	len += lmsg_put_entry(body + len, &gen_entries[0]);
	len += lmsg_put_entry(body + len, &gen_entries[1]);
	gen_write("catchup", "lmsg-submit", body, len, NULL, 0);
	body[0] = LMSG_COMMITTED;
	body[2 + CHORUS_PK_BYTES] = 2;
	len = LMSG_HEADER;
	for (int i = 0; i < 2; i++) {
		uint8_t job[CHORUS_JOB_ID_BYTES];

		ledger_entry_job(&gen_entries[i], job);
		lmsg_put_committed(body + len, job, (uint64_t)i * 7);
		len += LMSG_COMMITTED_BYTES;
	}
	gen_write("catchup", "lmsg-committed", body, len, NULL, 0);
}

static void gen_catchup(void)
{
	static uint8_t buf[CHORUS_BODY_MAX];
	struct catchup_req q = { .req_id = 77, .top = 12, .count = 8 };
	uint8_t hash[LEDGER_HASH_BYTES];
	size_t len;
	int n;

	n = catchup_req_encode(&q, buf, sizeof buf);
	gen_write("catchup", "request", buf, (size_t)n, NULL, 0);
	memset(hash, 0xab, sizeof hash);
	catchup_snap_encode(12, hash, buf);
	gen_write("catchup", "snapshot", buf, CATCHUP_SNAP_BYTES, NULL, 0);
	n = catchup_blocks_begin(buf, sizeof buf, 77, 2, 12);
	len = (size_t)n;
	catchup_blocks_add(buf, sizeof buf, &len, gen_block, gen_block_len);
	catchup_blocks_add(buf, sizeof buf, &len, (const uint8_t *)"x", 1);
	gen_write("catchup", "blocks-2", buf, len, NULL, 0);
	len = (size_t)catchup_blocks_begin(buf, sizeof buf, 78, 1, 1);
	gen_write("catchup", "blocks-0", buf, len, NULL, 0);
}

/* ---------------------------------------------------------------- raft */

static int gen_raft_seen[RAFT_MSG_TYPE_END];

static void gen_raft_msg(const struct raft_msg *m)
{
	static uint8_t buf[CHORUS_RAFT_MSG_MAX];
	char name[48];
	int n;

	if (m->type >= RAFT_MSG_TYPE_END || gen_raft_seen[m->type] >= 3)
		return;
	n = raft_msg_encode(m, buf, sizeof buf);
	if (n < 0)
		return;
	snprintf(name, sizeof name, "%s-%d", raft_msg_type_name(m->type), gen_raft_seen[m->type]++);
	gen_write("raft", name, buf, (size_t)n, NULL, 0);
}

/* Three voters: one campaigns, wins, replicates entries and a configuration change. */
static void gen_raft(void)
{
	struct raft *r[4] = { NULL };
	struct raft_msg q[256], snap;
	static uint8_t qdata[256][2048];
	struct raft_entry qents[256][8];
	size_t nq = 0;
	uint64_t index;
	uint8_t conf[4 + 8 * CHORUS_RAFT_VOTERS_MAX];
	int n;

	for (uint64_t id = 1; id <= 3; id++) {
		struct raft_config cfg;
		struct raft_boot boot;

		raft_config_defaults(&cfg, id, 1000 + id);
		memset(&boot, 0, sizeof boot);
		boot.snap.conf.n = 3;
		for (uint32_t i = 0; i < 3; i++)
			boot.snap.conf.ids[i] = i + 1;
		if (raft_create(&r[id], &cfg, &boot) != 0)
			exit(1);
	}
	raft_campaign_now(r[1]);
	for (int round = 0; round < 40; round++) {
		if (round == 10 && raft_is_leader(r[1])) {
			raft_propose(r[1], (const uint8_t *)"entry one", 9, &index);
			raft_propose(r[1], gen_block, (uint32_t)gen_block_len, &index);
			raft_propose_conf(r[1], 1, 4, &index);
		}
		for (uint64_t id = 1; id <= 3; id++) {
			struct raft_ready rd;

			if (!raft_ready(r[id], &rd))
				continue;
			/* Copy the messages out: their entries live until raft_advance. */
			for (size_t k = 0; k < rd.nmsgs && nq < 256; k++) {
				struct raft_msg *m = &q[nq];
				size_t off = 0;

				*m = rd.msgs[k];
				gen_raft_msg(m);
				for (uint32_t e = 0; e < m->nentries && e < 8; e++) {
					qents[nq][e] = m->entries[e];
					if (m->entries[e].len > 0 &&
					    off + m->entries[e].len <= sizeof qdata[0]) {
						memcpy(qdata[nq] + off, m->entries[e].data,
						       m->entries[e].len);
						qents[nq][e].data = qdata[nq] + off;
						off += m->entries[e].len;
					}
				}
				m->entries = qents[nq];
				m->nentries = m->nentries < 8 ? m->nentries : 8;
				nq++;
			}
			raft_advance(r[id], &rd);
		}
		for (size_t k = 0; k < nq; k++)
			if (q[k].to >= 1 && q[k].to <= 3)
				(void)raft_step(r[q[k].to], &q[k]);
		nq = 0;
		for (uint64_t id = 1; id <= 3; id++)
			raft_tick(r[id]);
	}
	/* A snapshot message, as a leader sends one to a follower far behind. */
	memset(&snap, 0, sizeof snap);
	snap.type = RAFT_MSG_SNAPSHOT;
	snap.from = 1;
	snap.to = 2;
	snap.term = 3;
	snap.snap.index = 5;
	snap.snap.term = 2;
	snap.snap.conf.n = 3;
	for (uint32_t i = 0; i < 3; i++)
		snap.snap.conf.ids[i] = i + 1;
	snap.snap.data = (const uint8_t *)"CHLS snapshot bytes";
	snap.snap.len = 19;
	gen_raft_msg(&snap);
	n = raft_conf_encode(&snap.snap.conf, conf, sizeof conf);
	gen_write("raft", "conf-3", conf, (size_t)n, NULL, 0);
	for (uint64_t id = 1; id <= 3; id++)
		raft_destroy(r[id]);
}

int main(int argc, char **argv)
{
	static struct harness h;

	if (argc != 2) {
		fprintf(stderr, "usage: gen-corpus DIR\n");
		return 2;
	}
	gen_dir = argv[1];
	mkdir(gen_dir, 0777);
	fuzz_cluster_start(&h, gen_tap, NULL);
	gen_records(&h);
	h_free(&h);
	gen_texts();
	gen_queue_bodies();
	gen_api();
	gen_keyops();
	gen_ledger();
	gen_catchup();
	gen_raft();
	free(gen_block);
	return 0;
}

/*
 * The ledger with real signatures: entry checks (every forgery and mismatch),
 * a chain built on one ledger and applied on another, once-only credit,
 * rejected blocks that leave the state alone, verify_chain naming the first
 * bad block for each kind of corruption, a bound that fails cleanly, and
 * 20000 mutated blocks that never crash and never apply.  Some blocks are
 * crafted here byte by byte (docs/ledger.md), which also checks the format
 * document against the code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chorus/ledger.h"
#include "core-internal.h"
#include "dispatch/jobmsg.h"
#include "tap.h"

#define HDR   CHORUS_LEDGER_BLOCK_HEADER_BYTES
#define SIG   CHORUS_SIG_BYTES
#define HASH  LEDGER_HASH_BYTES
#define BMAX  CHORUS_LEDGER_BLOCK_BYTES_MAX

struct key {
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
};

static struct key leader, rogue, clients[3], workers[3];

static void key_make(struct key *k, uint8_t seed_byte)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, seed_byte, sizeof(seed));
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

/* How to spoil an entry (all zero: a valid one). */
struct spoil {
	const char *ack_status, *rcpt_status;
	int other_job_receipt; /* the receipt is for another nonce */
	int wrong_receipt_hash;
	int wrong_result_hash; /* the ack names another result */
	const struct key *ack_signer, *rcpt_signer;
	const char *kind;
	uint64_t seq, floor; /* the ack's window fields (seq 0: the nonce) */
	int nosign;          /* leave the signatures zero (for a ledger with the fake crypto) */
};

/* A batch of one; unsigned (a zero signature) for a ledger with the fake crypto. */
static void auth_make(struct batchsig *auth, const char *text, size_t len, const struct key *k,
                      int nosign)
{
	batchsig_sign_one(NULL, k->sk, text, len, auth);
	if (nosign)
		memset(auth->sig, 0, sizeof auth->sig);
}

static void entry_make(struct ledger_entry *e, const struct key *c, const struct key *w,
                       uint64_t nonce, uint64_t reward, const struct spoil *sp)
{
	static const struct spoil none;
	struct jreceipt r;
	struct jack a;
	uint8_t res[8];
	int n;

	sp = sp != NULL ? sp : &none;
	memset(e, 0, sizeof(*e));
	memset(&r, 0, sizeof(r));
	jobmsg_job_id(r.id, c->pk, sp->other_job_receipt ? nonce + 1000 : nonce);
	memcpy(r.client, c->pk, CHORUS_PK_BYTES);
	memcpy(r.worker, w->pk, CHORUS_PK_BYTES);
	strcpy(r.kind, sp->kind ? sp->kind : "echo");
	strcpy(r.status, sp->rcpt_status ? sp->rcpt_status : "ok");
	codec_put_u64(res, nonce);
	jobmsg_hash(r.result_hash, res, sizeof(res));
	r.result_size = sizeof(res);
	r.duration_ms = 7;
	n = jobmsg_receipt_encode(e->receipt_text, sizeof(e->receipt_text), &r);
	assert(n > 0);
	e->receipt_len = (uint16_t)n;
	auth_make(&e->receipt_auth, e->receipt_text, e->receipt_len,
	          sp->rcpt_signer ? sp->rcpt_signer : w, sp->nosign);

	memset(&a, 0, sizeof(a));
	a.nonce = nonce;
	a.seq = sp->seq ? sp->seq : nonce; /* a seq per job, floor 0: nothing forgotten */
	a.floor = sp->floor;
	jobmsg_job_id(a.id, c->pk, nonce);
	memcpy(a.client, c->pk, CHORUS_PK_BYTES);
	a.has_worker = 1;
	memcpy(a.worker, w->pk, CHORUS_PK_BYTES);
	strcpy(a.kind, sp->kind ? sp->kind : "echo");
	strcpy(a.status, sp->ack_status ? sp->ack_status : "succeeded");
	memcpy(a.result_hash, r.result_hash, JOBMSG_HASH_BYTES);
	a.result_hash[0] ^= (uint8_t)(sp->wrong_result_hash != 0);
	a.attempts = 1;
	a.reward = reward;
	jobmsg_hash(a.receipt_hash, e->receipt_text, e->receipt_len);
	a.receipt_hash[5] ^= (uint8_t)(sp->wrong_receipt_hash != 0);
	n = jobmsg_ack_encode(e->ack_text, sizeof(e->ack_text), &a);
	assert(n > 0);
	e->ack_len = (uint16_t)n;
	auth_make(&e->ack_auth, e->ack_text, e->ack_len, sp->ack_signer ? sp->ack_signer : c,
	          sp->nosign);
}

static void ack_resign(struct ledger_entry *e, const struct key *k)
{
	batchsig_sign_one(NULL, k->sk, e->ack_text, e->ack_len, &e->ack_auth);
}

/* ---------------------------------------------------------------- crafting blocks */

/* Re-hashes and re-signs a block in place, as a (dishonest) leader would. */
static void block_resign(uint8_t *b, size_t len, const struct key *k)
{
	static const char dom[] = "chorus ledger block v1";
	uint8_t msg[sizeof(dom) - 1 + HASH];

	memcpy(msg, dom, sizeof(dom) - 1);
	crypto_generichash(msg + sizeof(dom) - 1, HASH, b, len - SIG, NULL, 0);
	crypto_sign_detached(b + len - SIG, NULL, msg, sizeof(msg), k->sk);
}

/* Any block, byte by byte, per docs/ledger.md; returns its length. */
static size_t block_craft(uint8_t *b, uint64_t height, const uint8_t prev[HASH], uint64_t term,
                          const struct key *k, const struct ledger_entry *e, size_t n)
{
	size_t o = HDR;

	memcpy(b, "CHLB", 4);
	b[4] = 2;
	codec_put_u64(b + 5, height);
	memcpy(b + 13, prev, HASH);
	codec_put_u64(b + 45, term);
	memcpy(b + 53, k->pk, CHORUS_PK_BYTES);
	codec_put_u64(b + 85, 1700000000000ULL + height);
	b[93] = (uint8_t)(n >> 8);
	b[94] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		b[o++] = (uint8_t)(e[i].ack_len >> 8);
		b[o++] = (uint8_t)e[i].ack_len;
		memcpy(b + o, e[i].ack_text, e[i].ack_len);
		o += e[i].ack_len;
		o += batchsig_encode(b + o, &e[i].ack_auth);
		b[o++] = (uint8_t)(e[i].receipt_len >> 8);
		b[o++] = (uint8_t)e[i].receipt_len;
		memcpy(b + o, e[i].receipt_text, e[i].receipt_len);
		o += e[i].receipt_len;
		o += batchsig_encode(b + o, &e[i].receipt_auth);
	}
	assert(o + SIG <= BMAX);
	block_resign(b, o + SIG, k);
	return o + SIG;
}

/* ---------------------------------------------------------------- a stored chain */

struct chain {
	uint8_t *b[16];
	size_t len[16];
	size_t n;
};

static int chain_cb(void *ctx, uint64_t i, const uint8_t **block, size_t *len)
{
	struct chain *c = ctx;

	if (i >= c->n)
		return 0;
	*block = c->b[i];
	*len = c->len[i];
	return 1;
}

static void chain_free(struct chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->b[i]);
	c->n = 0;
}

/* Five blocks of three jobs each, built and applied on l. */
static int chain_build(struct ledger *l, struct chain *c)
{
	struct ledger_entry e[3];
	size_t used;

	memset(c, 0, sizeof(*c));
	for (int h = 0; h < 5; h++) {
		for (int j = 0; j < 3; j++)
			entry_make(&e[j], &clients[j], &workers[(j + h) % 3], (uint64_t)(100 * h + j),
			           (uint64_t)(10 * (h + 1) + j), NULL);
		if (ledger_block_build(l, 1 + (uint64_t)h / 2, leader.pk, leader.sk, 1000 + (uint64_t)h,
		                       e, 3, &used, &c->b[h], &c->len[h]) < 0 ||
		    c->b[h] == NULL || used != 3)
			return -1;
		c->n++;
		if (ledger_block_apply(l, c->b[h], c->len[h]) < 0)
			return -1;
	}
	return 0;
}

static int same_state(const struct ledger *a, const struct ledger *b)
{
	uint8_t ha[HASH], hb[HASH];

	ledger_state_hash(a, ha);
	ledger_state_hash(b, hb);
	return memcmp(ha, hb, HASH) == 0;
}

/* ---------------------------------------------------------------- tests */

static void test_entry_check(void)
{
	struct ledger_entry e, e2;
	struct ledger_entry_info info;
	struct spoil sp;
	uint8_t id[CHORUS_JOB_ID_BYTES];

	entry_make(&e, &clients[0], &workers[0], 1, 42, NULL);
	ok(ledger_entry_check(NULL, &e, &info) == 0, "a valid ack and receipt pair checks");
	jobmsg_job_id(id, clients[0].pk, 1);
	ok(memcmp(info.job, id, sizeof(id)) == 0 && memcmp(info.client, clients[0].pk, 32) == 0 &&
	       memcmp(info.worker, workers[0].pk, 32) == 0 && info.reward == 42 &&
	       strcmp(info.kind, "echo") == 0,
	   "entry info: job, client, worker, kind, reward");

	e2 = e;
	e2.ack_auth.sig[3] ^= 1;
	ok(ledger_entry_check(NULL, &e2, NULL) == CORE_ERR_BADSIG, "forged client signature rejected");
	e2 = e;
	e2.receipt_auth.sig[60] ^= 0x80;
	ok(ledger_entry_check(NULL, &e2, NULL) == CORE_ERR_BADSIG, "forged worker signature rejected");
	memset(&sp, 0, sizeof(sp));
	sp.ack_signer = &rogue;
	entry_make(&e2, &clients[0], &workers[0], 1, 42, &sp);
	ok(ledger_entry_check(NULL, &e2, NULL) == CORE_ERR_BADSIG, "ack signed by another key rejected");
	memset(&sp, 0, sizeof(sp));
	sp.rcpt_signer = &workers[1];
	entry_make(&e2, &clients[0], &workers[0], 1, 42, &sp);
	ok(ledger_entry_check(NULL, &e2, NULL) == CORE_ERR_BADSIG,
	   "receipt signed by a worker other than the one it names rejected");

	memset(&sp, 0, sizeof(sp));
	sp.other_job_receipt = 1;
	entry_make(&e2, &clients[0], &workers[0], 1, 42, &sp);
	ok(ledger_entry_check(NULL, &e2, NULL) < 0, "receipt of another job rejected");
	memset(&sp, 0, sizeof(sp));
	sp.wrong_receipt_hash = 1;
	entry_make(&e2, &clients[0], &workers[0], 1, 42, &sp);
	ok(ledger_entry_check(NULL, &e2, NULL) < 0, "ack naming another receipt hash rejected");
	memset(&sp, 0, sizeof(sp));
	sp.wrong_result_hash = 1;
	entry_make(&e2, &clients[0], &workers[0], 1, 42, &sp);
	ok(ledger_entry_check(NULL, &e2, NULL) < 0, "ack naming another result hash rejected");
	entry_make(&e2, &clients[0], &workers[1], 1, 42, NULL);
	memcpy(e2.receipt_text, e.receipt_text, e.receipt_len); /* worker 0's receipt, worker 1's ack */
	e2.receipt_len = e.receipt_len;
	e2.receipt_auth = e.receipt_auth;
	ok(ledger_entry_check(NULL, &e2, NULL) < 0, "receipt from another worker than the ack names rejected");
}

static void test_entry_status(void)
{
	struct ledger_entry e, e2;
	struct spoil sp;
	struct job_ack ja;

	memset(&sp, 0, sizeof(sp));
	sp.ack_status = "failed";
	sp.rcpt_status = "failed";
	entry_make(&e, &clients[0], &workers[0], 2, 5, &sp);
	ok(ledger_entry_check(NULL, &e, NULL) == CORE_ERR_INVAL, "failed job rejected");
	sp.ack_status = "succeeded";
	sp.rcpt_status = "timeout";
	entry_make(&e, &clients[0], &workers[0], 2, 5, &sp);
	ok(ledger_entry_check(NULL, &e, NULL) == CORE_ERR_INVAL, "success ack over a timeout receipt rejected");

	entry_make(&e, &clients[0], &workers[0], 2, 5, NULL);
	e2 = e;
	e2.ack_len -= 5;
	ok(ledger_entry_check(NULL, &e2, NULL) < 0, "truncated ack rejected");
	e2 = e;
	e2.receipt_len = 1;
	ok(ledger_entry_check(NULL, &e2, NULL) < 0, "truncated receipt rejected");
	e2 = e;
	memset(e2.ack_text, 'x', e2.ack_len);
	ok(ledger_entry_check(NULL, &e2, NULL) < 0, "garbage ack rejected");
	e2 = e;
	e2.ack_len = 0;
	ok(ledger_entry_check(NULL, &e2, NULL) == CORE_ERR_OVERSIZE, "empty ack rejected");
	e2 = e;
	e2.receipt_len = CHORUS_LEDGER_TEXT_MAX + 1;
	ok(ledger_entry_check(NULL, &e2, NULL) == CORE_ERR_OVERSIZE, "oversize receipt rejected");
	e2 = e;
	memmove(e2.ack_text + 1, e2.ack_text, e2.ack_len); /* a space after '{': same JSON */
	e2.ack_text[0] = '{';
	e2.ack_text[1] = ' ';
	e2.ack_len++;
	ack_resign(&e2, &clients[0]);
	ok(ledger_entry_check(NULL, &e2, NULL) == CORE_ERR_MALFORMED,
	   "non-canonical ack text rejected even when signed");

	memset(&ja, 0, sizeof(ja));
	ja.ack_text = e.ack_text;
	ja.ack_len = e.ack_len;
	ja.ack_auth = e.ack_auth;
	ja.receipt_text = e.receipt_text;
	ja.receipt_len = e.receipt_len;
	ja.receipt_auth = e.receipt_auth;
	ja.status = "succeeded";
	ok(ledger_entry_from_ack(&e2, &ja) == 0 && ledger_entry_check(NULL, &e2, NULL) == 0,
	   "entry from a succeeded ack checks");
	ja.status = "failed";
	ok(ledger_entry_from_ack(&e2, &ja) == CORE_ERR_INVAL, "a failed ack makes no entry");
	ja.status = "succeeded";
	ja.receipt_text = NULL;
	ok(ledger_entry_from_ack(&e2, &ja) == CORE_ERR_INVAL, "an ack without receipt makes no entry");
}

static void test_chain_replica(void)
{
	struct ledger *a, *b;
	struct chain c;
	struct ledger_stats st;
	struct ledger_account acc, prev;
	uint8_t ha[HASH], hb[HASH];
	uint64_t sum_e = 0, sum_s = 0;
	int sorted = 1;

	ledger_create(&a, NULL);
	ledger_create(&b, NULL);
	ok(chain_build(a, &c) == 0 && ledger_height(a) == 5, "five blocks build and apply on the leader");
	for (size_t i = 0; i < c.n; i++)
		if (ledger_block_apply(b, c.b[i], c.len[i]) < 0)
			diag("replica: %s", ledger_why(b));
	ledger_head_hash(a, ha);
	ledger_head_hash(b, hb);
	ok(ledger_height(b) == 5 && memcmp(ha, hb, HASH) == 0, "a replica reaches the same head hash");
	ok(same_state(a, b), "and the same state hash");
	ok(ledger_block_apply(b, c.b[4], c.len[4]) == CORE_ERR_STALE && same_state(a, b),
	   "re-applying the last block is stale and harmless");
	ledger_stats(b, &st);
	ok(st.height == 5 && st.entries == 15 && st.credited == 15 && st.duplicates == 0 &&
	       st.accounts == 6,
	   "stats: 15 jobs credited, 6 accounts");
	for (size_t i = 0; i < st.accounts; i++) {
		ledger_account_at(b, i, &acc);
		if (i > 0 && memcmp(prev.key, acc.key, CHORUS_PK_BYTES) >= 0)
			sorted = 0;
		sum_e += acc.earned;
		sum_s += acc.spent;
		prev = acc;
	}
	ok(sorted && ledger_account_at(b, st.accounts, &acc) == CORE_ERR_INVAL,
	   "accounts are listed in ascending key order");
	ok(sum_e == st.total_reward && sum_s == st.total_reward, "sum earned == sum spent == total reward");
	ok(ledger_balance(b, clients[0].pk, &acc) == 0 && acc.jobs_paid == 5 &&
	       acc.spent == 10 + 20 + 30 + 40 + 50 && acc.earned == 0,
	   "client 0 paid for five jobs, 150 in all");
	ok(ledger_balance(b, rogue.pk, &acc) == CORE_ERR_INVAL && acc.earned == 0,
	   "a key without an account has a zero balance");
	ledger_destroy(a);
	ledger_destroy(b);
	chain_free(&c);
}

static void test_once(void)
{
	struct ledger *l;
	struct ledger_entry e[4];
	struct ledger_stats st;
	struct ledger_job job;
	struct ledger_account acc;
	uint8_t *blk, buf[BMAX], head[HASH], id[CHORUS_JOB_ID_BYTES];
	size_t len, used;

	ledger_create(&l, NULL);
	entry_make(&e[0], &clients[0], &workers[0], 1, 100, NULL);
	e[1] = e[0];
	entry_make(&e[2], &clients[1], &workers[1], 2, 7, NULL);
	ok(ledger_block_build(l, 1, leader.pk, leader.sk, 5, e, 3, &used, &blk, &len) == 0 &&
	       blk != NULL && used == 3,
	   "build takes a batch with a repeated job");
	ok(ledger_block_apply(l, blk, len) == 0, "and the block applies");
	free(blk);
	ledger_stats(l, &st);
	ok(st.entries == 2 && st.credited == 2, "the repeat within the batch was left out");
	ok(ledger_block_build(l, 1, leader.pk, leader.sk, 6, e, 2, &used, &blk, &len) == 0 &&
	       blk == NULL && used == 2,
	   "a batch of credited jobs builds no block");

	/* A dishonest leader repeats a job, within a block and across blocks. */
	entry_make(&e[3], &clients[2], &workers[2], 3, 1, NULL);
	e[1] = e[3];
	ledger_head_hash(l, head);
	len = block_craft(buf, 2, head, 1, &leader, e, 4); /* job 1 again, job 3 twice */
	ok(ledger_block_apply(l, buf, len) == 0, "a block repeating jobs still applies: %s", ledger_why(l));
	ledger_stats(l, &st);
	ok(st.entries == 6 && st.credited == 3 && st.duplicates == 3, "each repeat is a counted no-op");
	ledger_balance(l, workers[0].pk, &acc);
	ok(acc.earned == 100 && acc.jobs_run == 1, "worker 0 was paid once for job 1");
	jobmsg_job_id(id, clients[0].pk, 1);
	ok(ledger_job_get(l, id, &job) == 0 && job.height == 1 && job.reward == 100 &&
	       memcmp(job.worker, workers[0].pk, 32) == 0,
	   "job lookup: credited at height 1 to worker 0");
	jobmsg_job_id(id, clients[0].pk, 999);
	ok(ledger_job_get(l, id, &job) == CORE_ERR_INVAL, "an unknown job is not credited");
	ledger_destroy(l);
}

/* Applies a bad block and checks it is refused with the state untouched. */
static void expect_refused(struct ledger *l, const uint8_t *b, size_t len, int want,
                           const char *what)
{
	uint8_t before[HASH], after[HASH];
	int err;

	ledger_state_hash(l, before);
	err = ledger_block_apply(l, b, len);
	ledger_state_hash(l, after);
	ok(err < 0 && (want == 0 || err == want) && memcmp(before, after, HASH) == 0,
	   "%s: refused (%s), state unchanged", what, ledger_why(l));
}

static void test_rejects(void)
{
	struct ledger *l;
	struct chain c;
	struct ledger_entry e[2];
	uint8_t buf[BMAX], head[HASH], zero[HASH] = {0};
	size_t len;

	ledger_create(&l, NULL);
	chain_build(l, &c);
	ledger_head_hash(l, head);
	entry_make(&e[0], &clients[0], &workers[1], 500, 3, NULL);
	entry_make(&e[1], &clients[1], &workers[2], 501, 4, NULL);

	len = block_craft(buf, 6, zero, 3, &leader, e, 2);
	expect_refused(l, buf, len, CORE_ERR_INVAL, "wrong prev hash");
	len = block_craft(buf, 7, head, 3, &leader, e, 2);
	expect_refused(l, buf, len, CORE_ERR_INVAL, "a height gap");
	len = block_craft(buf, 5, head, 3, &leader, e, 2);
	expect_refused(l, buf, len, CORE_ERR_STALE, "an old height");
	len = block_craft(buf, 6, head, 1, &leader, e, 2);
	expect_refused(l, buf, len, CORE_ERR_INVAL, "a term below the head's");
	len = block_craft(buf, 6, head, 3, &leader, e, 2);
	block_resign(buf, len, &rogue); /* names the leader, signed by someone else */
	expect_refused(l, buf, len, CORE_ERR_BADSIG, "wrong leader signature");
	len = block_craft(buf, 6, head, 3, &leader, e, 2);
	buf[HDR + 2 + 30] ^= 0x01; /* inside the first ack text */
	expect_refused(l, buf, len, CORE_ERR_BADSIG, "tampered entry");
	len = block_craft(buf, 6, head, 3, &leader, e, 2);
	expect_refused(l, buf, len - 1, CORE_ERR_MALFORMED, "a truncated block");
	buf[93] = 3; /* claims three entries */
	block_resign(buf, len, &leader);
	expect_refused(l, buf, len, CORE_ERR_MALFORMED, "an entry count past the bytes");
	len = block_craft(buf, 6, head, 3, &leader, e, 0);
	expect_refused(l, buf, len, CORE_ERR_MALFORMED, "an empty block");
	len = block_craft(buf, 6, head, (1ULL << 53) + 1, &leader, e, 2);
	expect_refused(l, buf, len, CORE_ERR_MALFORMED, "a term past 2^53");
	len = block_craft(buf, 6, head, 3, &leader, e, 2);
	buf[4] = 3;
	expect_refused(l, buf, len, CORE_ERR_VERSION, "another version");
	buf[4] = 1;
	block_resign(buf, len, &leader);
	expect_refused(l, buf, len, CORE_ERR_VERSION, "version 1 (a signature per text)");
	ok(strstr(ledger_why(l), "before batch signatures") != NULL,
	   "and the refusal says why: %s", ledger_why(l));
	len = block_craft(buf, 6, head, 3, &leader, e, 2);
	ok(ledger_block_apply(l, buf, len) == 0 && ledger_height(l) == 6,
	   "after all that, the good block applies");
	{
		/* A tampered entry that its leader signed: the block applies, the entry is skipped. */
		struct ledger_stats st;
		struct ledger_job job;
		uint8_t id[CHORUS_JOB_ID_BYTES];

		entry_make(&e[0], &clients[0], &workers[1], 502, 3, NULL);
		entry_make(&e[1], &clients[1], &workers[2], 503, 4, NULL);
		ledger_head_hash(l, head);
		len = block_craft(buf, 7, head, 3, &leader, e, 2);
		buf[HDR + 2 + 30] ^= 0x01; /* inside the first ack text */
		block_resign(buf, len, &leader);
		ok(ledger_block_apply(l, buf, len) == 0 && ledger_height(l) == 7 &&
		       ledger_block_outcome(l, 0) == LEDGER_SKIPPED &&
		       ledger_block_outcome(l, 1) == LEDGER_CREDITED,
		   "a tampered entry re-signed by the leader: the block applies, the entry skipped");
		ledger_stats(l, &st);
		jobmsg_job_id(id, clients[0].pk, 502);
		ok(st.skipped == 1 && ledger_job_get(l, id, &job) == CORE_ERR_INVAL,
		   "and its job is not final (a bit-flipped copy cannot block the real one)");
		ledger_head_hash(l, head);
		len = block_craft(buf, 8, head, 3, &leader, e, 1);
		ok(ledger_block_apply(l, buf, len) == 0 && ledger_block_outcome(l, 0) == LEDGER_CREDITED &&
		       ledger_job_get(l, id, &job) == 0 && job.height == 8,
		   "the real entry for that job is credited later");
	}
	ledger_destroy(l);
	chain_free(&c);
}

/* Runs verify_chain with block 3 replaced by (b, len); checks the finding. */
static void expect_bad3(struct chain *c, uint8_t *b, size_t len, const char *word)
{
	uint8_t *keep = c->b[2];
	size_t keep_len = c->len[2];
	uint64_t bad = 99;
	char why[LEDGER_WHY_MAX];
	int err;

	c->b[2] = b;
	c->len[2] = len;
	err = ledger_verify_chain(NULL, chain_cb, c, NULL, 0, &bad, why, sizeof(why));
	ok(err < 0 && bad == 3 && strstr(why, word) != NULL, "verify_chain: %s at height %llu (%s)",
	   word, (unsigned long long)bad, why);
	c->b[2] = keep;
	c->len[2] = keep_len;
}

static void test_verify_chain(void)
{
	struct ledger *l;
	struct chain c;
	struct ledger_entry e[2];
	struct ledger_account acc[8];
	struct ledger_stats st;
	struct ledger_block_info bi;
	uint8_t buf[BMAX];
	uint64_t bad = 99;
	char why[LEDGER_WHY_MAX];
	size_t len;

	ledger_create(&l, NULL);
	chain_build(l, &c);
	ledger_stats(l, &st);
	for (size_t i = 0; i < st.accounts; i++)
		ledger_account_at(l, st.accounts - 1 - i, &acc[i]); /* any order will do */
	ok(ledger_verify_chain(NULL, chain_cb, &c, acc, st.accounts, &bad, why, sizeof(why)) == 0 &&
	       bad == 0,
	   "a good chain verifies, balances included");
	acc[2].earned++;
	ok(ledger_verify_chain(NULL, chain_cb, &c, acc, st.accounts, &bad, why, sizeof(why)) < 0 &&
	       bad == 0 && strstr(why, "balance mismatch") != NULL,
	   "a wrong expected balance is named: %s", why);

	memcpy(buf, c.b[2], c.len[2]);
	buf[90] ^= 0x10; /* the time field */
	expect_bad3(&c, buf, c.len[2], "bad signature");
	memcpy(buf, c.b[2], c.len[2]);
	buf[20] ^= 0x01; /* prev hash, re-signed */
	block_resign(buf, c.len[2], &leader);
	expect_bad3(&c, buf, c.len[2], "bad link");
	memcpy(buf, c.b[2], c.len[2]);
	buf[HDR + 40] ^= 0x02; /* an ack text byte, re-signed */
	block_resign(buf, c.len[2], &leader);
	expect_bad3(&c, buf, c.len[2], "bad entry");
	expect_bad3(&c, c.b[3], c.len[3], "bad height"); /* block 3 lost */
	expect_bad3(&c, buf, 10, "bad encoding");

	ledger_block_peek(c.b[2], c.len[2], &bi);
	entry_make(&e[0], &clients[0], &workers[0], 0, 10, NULL); /* block 1's first job */
	entry_make(&e[1], &clients[1], &workers[1], 777, 1, NULL);
	len = block_craft(buf, 3, bi.prev, bi.term, &leader, e, 2);
	expect_bad3(&c, buf, len, "double credit");

	c.n = 0;
	ok(ledger_verify_chain(NULL, chain_cb, &c, NULL, 0, &bad, why, sizeof(why)) == 0,
	   "an empty chain verifies");
	ledger_destroy(l);
	c.n = 5;
	chain_free(&c);
}

static void test_json(void)
{
	struct ledger *l;
	struct chain c;
	cJSON *o, *arr, *e0;
	uint8_t h[HASH];
	char hex[2 * HASH + 1];

	ledger_create(&l, NULL);
	chain_build(l, &c);
	o = ledger_block_to_json(c.b[4], c.len[4]);
	ledger_head_hash(l, h);
	codec_hex(hex, h, HASH);
	arr = cJSON_GetObjectItem(o, "entries");
	e0 = cJSON_GetArrayItem(arr, 0);
	ok(o != NULL && cJSON_GetObjectItem(o, "height")->valuedouble == 5 &&
	       strcmp(cJSON_GetObjectItem(o, "hash")->valuestring, hex) == 0 &&
	       cJSON_GetArraySize(arr) == 3,
	   "block JSON: height, hash, three entries");
	ok(e0 != NULL && cJSON_GetObjectItem(e0, "job") && cJSON_GetObjectItem(e0, "client") &&
	       cJSON_GetObjectItem(e0, "worker") && cJSON_GetObjectItem(e0, "result_hash") &&
	       strcmp(cJSON_GetObjectItem(e0, "kind")->valuestring, "echo") == 0 &&
	       cJSON_GetObjectItem(e0, "reward")->valuedouble == 50,
	   "entry JSON: job, client, worker, kind, reward, result_hash");
	cJSON_Delete(o);
	ok(ledger_block_to_json(c.b[4], 20) == NULL, "a truncated block has no JSON");
	ledger_destroy(l);
	chain_free(&c);
}

static void test_build_bounds(void)
{
	static struct ledger_entry e[300];
	struct ledger *l;
	struct ledger_stats st;
	uint8_t *blk;
	size_t len, used;
	int err;

	ledger_create(&l, NULL);
	for (int i = 0; i < 300; i++)
		entry_make(&e[i], &clients[i % 3], &workers[(i / 3) % 3], 10000 + (uint64_t)i, 1, NULL);
	e[7].ack_auth.sig[0] ^= 1; /* one bad entry: skipped, not fatal */
	ok(ledger_block_build(l, 1, rogue.pk, leader.sk, 1, e, 300, &used, &blk, &len) ==
	       CORE_ERR_INVAL && blk == NULL,
	   "a leader key pair that does not match is refused");
	err = ledger_block_build(l, 1, leader.pk, leader.sk, 1, e, 300, &used, &blk, &len);
	ok(err == 0 && blk != NULL && used == 257 && len <= BMAX,
	   "a block stops at %d entries (used %zu inputs, %zu bytes)", CHORUS_LEDGER_BLOCK_ENTRIES_MAX,
	   used, len);
	ok(ledger_block_apply(l, blk, len) == 0, "the full block applies");
	free(blk);
	ok(ledger_block_build(l, 1, leader.pk, leader.sk, 2, e + used, 300 - used, &used, &blk,
	                      &len) == 0 && blk != NULL && used == 43,
	   "the rest go in the next block");
	ok(ledger_block_apply(l, blk, len) == 0, "which applies");
	free(blk);
	ledger_stats(l, &st);
	ok(st.credited == 299 && st.height == 2, "299 jobs credited, the forged one never");
	ledger_destroy(l);

	/*
	 * A byte bound (a voter's: one Raft entry): the build takes entries while
	 * the block stays within it, and stops at the first that would not fit.
	 */
	ledger_create(&l, NULL);
	ledger_build_bytes(l, 20000);
	err = ledger_block_build(l, 1, leader.pk, leader.sk, 1, e + 8, 100, &used, &blk, &len);
	{
		size_t fill = CHORUS_LEDGER_BLOCK_HEADER_BYTES + CHORUS_SIG_BYTES;

		for (size_t i = 0; i < used; i++)
			fill += ledger_entry_size(&e[8 + i]);
		ok(err == 0 && blk != NULL && used > 1 && used < 100 && len == fill && len <= 20000 &&
		       len + ledger_entry_size(&e[8 + used]) > 20000,
		   "under a 20,000-byte bound a block of %zu bytes takes %zu entries, and the next"
		   " would not fit (it is left for the next block)", len, used);
	}
	/* Built from the infos the leader's admission found: the same block, byte for byte. */
	{
		static struct ledger_entry_info info[100];
		struct ledger *l2;
		uint8_t *blk2;
		size_t len2, used2, bad = 0;

		ledger_create(&l2, NULL);
		ledger_build_bytes(l2, 20000);
		for (size_t i = 0; i < 100; i++)
			bad += ledger_entry_explain(l2, &e[8 + i], &info[i], NULL, 0) != 0;
		err = ledger_block_build_checked(l2, NULL, 1, leader.pk, leader.sk, 1, e + 8, info, 100,
		                                 &used2, &blk2, &len2);
		ok(bad == 0 && err == 0 && blk2 != NULL && used2 == used && len2 == len &&
		       memcmp(blk, blk2, len) == 0,
		   "a build from checked entries' infos makes the same block (%zu entries)", used2);
		{
			/* Its builder applies it from those infos, a follower decoding: one state. */
			uint8_t s2[LEDGER_HASH_BYTES], s3[LEDGER_HASH_BYTES];
			struct ledger *l3;
			struct ledger_stats st2;

			ledger_create(&l3, NULL);
			ok(ledger_block_apply(l2, blk2, len2) == 0 && ledger_block_apply(l3, blk2, len2) == 0,
			   "it applies on its builder and on a follower");
			ledger_state_hash(l2, s2);
			ledger_state_hash(l3, s3);
			ledger_stats(l2, &st2);
			ok(memcmp(s2, s3, sizeof s2) == 0 && st2.credited == used2,
			   "to the same state (%llu credited)", (unsigned long long)st2.credited);
			ledger_destroy(l3);
		}
		free(blk2);
		ok(ledger_block_build_checked(l2, NULL, 1, leader.pk, leader.sk, 1, e + 8, NULL, 100,
		                              &used2, &blk2, &len2) == CORE_ERR_INVAL,
		   "and wants the infos");
		ledger_destroy(l2);
	}
	free(blk);
	ledger_destroy(l);
}

/* A stand-in crypto (every signature good): for tests of bounds, not of signatures. */
static void fake_sign(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                      const uint8_t sk[CHORUS_SK_BYTES])
{
	(void)msg;
	(void)len;
	(void)sk;
	memset(sig, 0, CHORUS_SIG_BYTES);
}

static int fake_verify(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                       const uint8_t pk[CHORUS_PK_BYTES])
{
	return 0;
}

static const struct core_crypto fake = {.name = "fake", .sign = fake_sign, .verify = fake_verify};

/* Applies entries e[0..n) as the next block, signed by the leader; 0 or the error. */
static int apply_next(struct ledger *l, const struct ledger_entry *e, size_t n)
{
	static uint8_t buf[BMAX];
	uint8_t head[HASH];
	size_t len;

	ledger_head_hash(l, head);
	len = block_craft(buf, ledger_height(l) + 1, head, 1, &leader, e, n);
	return ledger_block_apply(l, buf, len);
}

/*
 * Accounts grow on demand past the old fixed table of 65,536 (a stand-in
 * crypto keeps 70,000 keys cheap: this tests storage, not signatures).
 */
static void test_accounts_grow(void)
{
	static struct ledger_entry e[250];
	struct ledger *l;
	struct ledger_stats st;
	struct key c, w;
	int err = 0;

	ledger_create(&l, &fake);
	memset(&c, 0, sizeof(c));
	memset(&w, 0, sizeof(w));
	for (uint32_t b = 0; b < 140 && err == 0; b++) {
		for (uint32_t k = 0; k < 250; k++) {
			codec_put_u32(c.pk, b * 250 + k);
			codec_put_u32(w.pk, b * 250 + k);
			w.pk[31] = 1;
			entry_make(&e[k], &c, &w, b * 250 + k, 1, NULL);
		}
		err = apply_next(l, e, 250);
	}
	ledger_stats(l, &st);
	ok(err == 0 && st.accounts == 70000 && st.credited == 35000 && st.rejected == 0,
	   "70,000 accounts, grown on demand: %s", ledger_why(l));
	ledger_destroy(l);
}

/*
 * The poison in one block, signed by a leader that did not check it
 * (an older one, or racing state): the block applies, each entry ends as
 * its outcome, the same on two ledgers, and nothing is minted.  Accounts
 * are capped at 6 here to reach "accounts full" cheaply.
 */
static void test_poison_apply(void)
{
	static struct ledger_entry e[8], many[250];
	struct ledger *a, *b, *c;
	struct key f[5];
	struct ledger_stats st;
	struct ledger_account acc;
	struct ledger_job job;
	uint8_t id[CHORUS_JOB_ID_BYTES];
	static const int want[8] = {LEDGER_CREDITED, LEDGER_REJECT_REWARD, LEDGER_REJECT_REWARD,
	                            LEDGER_CREDITED, LEDGER_CREDITED, LEDGER_REJECT_ACCOUNTS,
	                            LEDGER_SKIPPED, LEDGER_DUPLICATE};
	int outcomes_ok = 1, err = 0;

	for (int i = 0; i < 5; i++)
		key_make(&f[i], (uint8_t)(101 + i));
	ledger_create(&a, NULL);
	ledger_create(&b, NULL);
	ledger_create(&c, NULL);
	ledger_limits_set(a, 6, 0);
	ledger_limits_set(b, 6, 0);
	entry_make(&e[0], &clients[0], &workers[0], 1, 5, NULL);
	entry_make(&e[1], &f[0], &f[1], 2, 1ULL << 53, NULL);          /* the overflow pill */
	entry_make(&e[2], &f[0], &f[1], 3, 1000000000000000ULL, NULL); /* the 10^15 mint */
	entry_make(&e[3], &f[0], &f[1], 4, 7, NULL); /* apply leaves membership to the leader */
	entry_make(&e[4], &f[2], &f[3], 5, 7, NULL); /* the sixth account */
	entry_make(&e[5], &f[4], &workers[0], 6, 7, NULL); /* a seventh: accounts full */
	entry_make(&e[6], &clients[0], &workers[0], 7, 9, NULL);
	e[6].receipt_auth.sig[3] ^= 1; /* a bad signature */
	e[7] = e[1];              /* the rejected job again */
	ok(apply_next(a, e, 8) == 0 && apply_next(b, e, 8) == 0 && apply_next(c, e, 8) == 0,
	   "a block of poison applies on every ledger: %s", ledger_why(a));
	for (size_t i = 0; i < 8; i++)
		if (ledger_block_outcome(a, i) != want[i] || ledger_block_outcome(b, i) != want[i])
			outcomes_ok = 0;
	ok(outcomes_ok, "credited, reward over the bound (2^53 and 10^15), credited, credited, "
	                "accounts full, bad entry, duplicate");
	ok(same_state(a, b), "two ledgers end in the same state hash");
	ok(!same_state(a, c) && ledger_block_outcome(c, 5) == LEDGER_CREDITED,
	   "a ledger with other outcomes (no accounts cap) has another state hash");
	ledger_stats(a, &st);
	ok(st.credited == 3 && st.rejected == 3 && st.skipped == 1 && st.duplicates == 1 &&
	       st.entries == 8 && st.total_reward == 19 && st.accounts == 6 &&
	       st.by_outcome[LEDGER_REJECT_REWARD] == 2 && st.by_outcome[LEDGER_REJECT_ACCOUNTS] == 1,
	   "stats count each outcome (total reward %llu)", (unsigned long long)st.total_reward);
	jobmsg_job_id(id, f[0].pk, 3);
	ok(ledger_job_get(a, id, &job) == 0 && job.outcome == LEDGER_REJECT_REWARD &&
	       job.height == 1 && strcmp(ledger_outcome_name(job.outcome), "reward over the bound") == 0,
	   "the minted job is final as rejected: %s at height %llu", ledger_outcome_name(job.outcome),
	   (unsigned long long)job.height);
	ok(ledger_balance(a, f[1].pk, &acc) == 0 && acc.earned == 7 &&
	       ledger_balance(a, f[0].pk, &acc) == 0 && acc.balance == CHORUS_LEDGER_ALLOWANCE - 7,
	   "the pair earned only its one in-bound job, paid from the client's allowance");
	jobmsg_job_id(id, f[4].pk, 6);
	ok(ledger_job_get(a, id, &job) == 0 && job.outcome == LEDGER_REJECT_ACCOUNTS &&
	       ledger_balance(a, f[4].pk, &acc) == CORE_ERR_INVAL,
	   "the job of the seventh key is rejected, and the key has no account");
	ledger_destroy(c);
	/* The 2,100 pills of 2^53 (fresh jobs of known keys here): never fatal. */
	for (int blk = 0; blk < 9 && err == 0; blk++) {
		for (int i = 0; i < 250; i++)
			entry_make(&many[i], &clients[i % 3], &workers[(i / 3) % 3],
			           100000 + (uint64_t)(blk * 250 + i), 1ULL << 53, NULL);
		err = apply_next(a, many, blk < 8 ? 250 : 100);
	}
	ledger_stats(a, &st);
	ok(err == 0 && st.height == 10 && st.by_outcome[LEDGER_REJECT_REWARD] == 2102 &&
	       st.total_reward == 19,
	   "2,100 entries of reward 2^53 in 9 blocks: all apply, all rejected, nothing paid");
	ledger_destroy(a);
	ledger_destroy(b);
}

/* The builder leaves out, with its reason, every entry apply would reject. */
static void test_poison_build(void)
{
	struct ledger_entry in[6];
	struct ledger *l;
	struct ledger_stats st;
	struct key f[3];
	uint8_t *blk;
	size_t len, used;
	static const int want[6] = {LEDGER_CREDITED, LEDGER_REJECT_REWARD, LEDGER_CREDITED,
	                            LEDGER_REJECT_ACCOUNTS, LEDGER_SKIPPED, LEDGER_DUPLICATE};
	int verdicts_ok = 1;

	for (int i = 0; i < 3; i++)
		key_make(&f[i], (uint8_t)(111 + i));
	ledger_create(&l, NULL);
	ledger_limits_set(l, 4, 0);
	entry_make(&in[0], &clients[0], &workers[0], 1, 5, NULL);
	entry_make(&in[1], &clients[1], &workers[1], 2, 1ULL << 53, NULL);
	entry_make(&in[2], &f[0], &f[1], 3, 7, NULL);      /* accounts 3 and 4 */
	entry_make(&in[3], &f[2], &workers[0], 4, 7, NULL); /* a fifth, across the block */
	entry_make(&in[4], &clients[0], &workers[0], 5, 7, NULL);
	in[4].ack_auth.sig[9] ^= 1;
	in[5] = in[0];
	ok(ledger_block_build(l, 1, leader.pk, leader.sk, 1, in, 6, &used, &blk, &len) == 0 &&
	       blk != NULL && used == 6,
	   "a block is built from the good entries");
	for (size_t i = 0; i < 6; i++)
		if (ledger_build_verdict(l, i) != want[i])
			verdicts_ok = 0;
	ok(verdicts_ok, "verdicts: taken, reward over the bound, taken, accounts full (counting "
	                "the block's own new keys), bad entry, repeat");
	ok(ledger_block_apply(l, blk, len) == 0 && ledger_block_outcome(l, 0) == LEDGER_CREDITED &&
	       ledger_block_outcome(l, 1) == LEDGER_CREDITED,
	   "the block holds the two good ones, and both are credited");
	free(blk);
	ledger_stats(l, &st);
	ok(st.entries == 2 && st.rejected == 0, "no rejection in a block the builder made");
	ok(ledger_block_build(l, 1, leader.pk, leader.sk, 2, &in[1], 3, &used, &blk, &len) == 0 &&
	       blk == NULL && used == 3,
	   "nothing but poison: no block");
	ledger_build_unchecked(l, 1);
	ok(ledger_block_build(l, 1, leader.pk, leader.sk, 3, &in[1], 3, &used, &blk, &len) == 0 &&
	       blk != NULL, "an unchecked builder (an older leader) builds it");
	ok(ledger_block_apply(l, blk, len) == 0 &&
	       ledger_block_outcome(l, 0) == LEDGER_REJECT_REWARD &&
	       ledger_block_outcome(l, 1) == LEDGER_REJECT_ACCOUNTS,
	   "and it applies, its entries rejected: %s", ledger_why(l));
	free(blk);
	ledger_destroy(l);
}

/* X pays Y n jobs of the largest reward in blocks of 250 (nonces from base), on both. */
static void pay_max(struct ledger *a, struct ledger *b, const struct key *x, const struct key *y,
                    uint64_t base, size_t n)
{
	static struct ledger_entry e[250];

	for (size_t done = 0; done < n;) {
		size_t k = n - done < 250 ? n - done : 250;

		for (size_t i = 0; i < k; i++)
			entry_make(&e[i], x, y, base + done + i, CHORUS_LEDGER_REWARD_MAX, NULL);
		if (apply_next(a, e, k) != 0 || apply_next(b, e, k) != 0)
			return;
		done += k;
	}
}

/* The client pays: a balance never goes below zero, and balances are conserved. */
static void test_balance(void)
{
	const struct key *x = &clients[2], *y = &workers[2];
	struct ledger *l, *f;
	struct ledger_entry e[2];
	struct ledger_entry_info info;
	struct ledger_account ax, ay;
	struct ledger_stats st;
	struct ledger_tip tip;
	struct ledger_job job;
	uint8_t *blk, *blk2, id[CHORUS_JOB_ID_BYTES];
	size_t len, len2, used;
	uint64_t sum = 0;

	ledger_create(&l, NULL);
	ledger_create(&f, NULL);
	pay_max(l, f, x, y, 1, 999);
	ok(ledger_balance(l, x->pk, &ax) == 0 &&
	       ax.balance == CHORUS_LEDGER_ALLOWANCE - 999 * CHORUS_LEDGER_REWARD_MAX &&
	       ax.spent == 999 * CHORUS_LEDGER_REWARD_MAX && ledger_balance(l, y->pk, &ay) == 0 &&
	       ay.balance == CHORUS_LEDGER_ALLOWANCE + 999 * CHORUS_LEDGER_REWARD_MAX,
	   "999 jobs of the largest reward: debited from the client, credited to the worker");
	entry_make(&e[0], x, y, 2000, CHORUS_LEDGER_REWARD_MAX, NULL);
	entry_make(&e[1], x, y, 2001, CHORUS_LEDGER_REWARD_MAX, NULL);
	ok(ledger_block_build(l, 1, leader.pk, leader.sk, 1, e, 2, &used, &blk, &len) == 0 &&
	       blk != NULL && used == 2 && ledger_build_verdict(l, 0) == LEDGER_CREDITED &&
	       ledger_build_verdict(l, 1) == LEDGER_REJECT_BALANCE,
	   "the builder takes the one the balance pays for, not the next (same block)");
	ledger_tip_of(blk, len, &tip);
	entry_make(&e[0], x, y, 2002, 1, NULL);
	ok(ledger_block_build_on(l, &tip, 1, leader.pk, leader.sk, 2, e, 1, &used, &blk2, &len2) ==
	       0 && blk2 == NULL && ledger_build_verdict(l, 0) == LEDGER_REJECT_BALANCE,
	   "nor, on the tip, one the block in flight leaves unpaid");
	ok(ledger_block_apply(l, blk, len) == 0 && ledger_block_apply(f, blk, len) == 0 &&
	       ledger_balance(l, x->pk, &ax) == 0 && ax.balance == 0,
	   "applied: the client's balance is 0");
	free(blk);
	ledger_entry_check(NULL, &e[0], &info);
	ok(ledger_entry_admit(l, &info) == LEDGER_REJECT_BALANCE,
	   "a leader's queue would not admit one more");
	info.reward = CHORUS_LEDGER_REWARD_MAX + 1;
	ok(ledger_entry_admit(l, &info) == LEDGER_REJECT_REWARD, "nor one over the reward bound");
	ok(apply_next(l, e, 1) == 0 && apply_next(f, e, 1) == 0 &&
	       ledger_block_outcome(l, 0) == LEDGER_REJECT_BALANCE,
	   "a block that holds one anyway applies, the entry rejected");
	jobmsg_job_id(id, x->pk, 2002);
	ok(ledger_job_get(l, id, &job) == 0 && job.outcome == LEDGER_REJECT_BALANCE &&
	       ledger_balance(l, x->pk, &ax) == 0 && ax.balance == 0 && same_state(l, f),
	   "its job is final as 'insufficient balance', nothing moved, both ledgers agree");
	entry_make(&e[0], y, x, 3000, 5, NULL); /* x earns 5 by working for y */
	entry_make(&e[1], x, y, 2003, 5, NULL); /* and can pay 5 */
	ok(apply_next(l, e, 2) == 0 && ledger_block_outcome(l, 0) == LEDGER_CREDITED &&
	       ledger_block_outcome(l, 1) == LEDGER_CREDITED,
	   "earning pays for the next job");
	ledger_stats(l, &st);
	for (size_t i = 0; i < st.accounts; i++) {
		ledger_account_at(l, i, &ax);
		sum += ax.balance;
	}
	ok(sum == st.accounts * CHORUS_LEDGER_ALLOWANCE,
	   "balances are conserved: their sum is accounts x allowance (nothing minted)");
	ledger_destroy(l);
	ledger_destroy(f);
}

/* xorshift: reproducible mutations without the core's rng. */
static uint64_t fz_state = 0x9e3779b97f4a7c15ULL;

static uint64_t fz_next(void)
{
	fz_state ^= fz_state << 13;
	fz_state ^= fz_state >> 7;
	fz_state ^= fz_state << 17;
	return fz_state;
}

/* Mutates b (len bytes, buffer BMAX + 1): flips in [lo, hi), truncation or growth. */
static size_t fz_mutate(uint8_t *b, size_t len, size_t lo, size_t hi)
{
	unsigned flips = 1 + (unsigned)(fz_next() % 4);

	switch (fz_next() % 8) {
	case 0:
		return lo + (size_t)(fz_next() % (len - lo)); /* truncate */
	case 1:
		b[len] = (uint8_t)fz_next(); /* one byte too many */
		return len + 1;
	default:
		for (unsigned i = 0; i < flips; i++)
			b[lo + fz_next() % (hi - lo)] ^= (uint8_t)(1 + fz_next() % 255);
		return len;
	}
}

/*
 * Mutated blocks never crash.  A mutation in the header or the leader's
 * signature never applies; one in the entries of a block its leader
 * re-signs always applies (a signed block is never refused for what its
 * entries say), crediting only what checks: each such block goes to a fresh
 * ledger, and its stats must add up.
 */
static void test_fuzz(void)
{
	static uint8_t good[BMAX], buf[BMAX + 1];
	struct ledger *l;
	struct ledger_entry e[2];
	struct ledger_stats st;
	uint8_t zero[HASH] = {0}, before[HASH], after[HASH];
	size_t len, mlen;
	int applied = 0, bad_apply = 0, bad_stats = 0;

	ledger_create(&l, NULL);
	entry_make(&e[0], &clients[0], &workers[1], 900, 3, NULL);
	entry_make(&e[1], &clients[1], &workers[2], 901, 4, NULL);
	len = block_craft(good, 1, zero, 3, &leader, e, 2);
	ledger_state_hash(l, before);
	for (int i = 0; i < 20000; i++) {
		int resign = i % 2; /* half re-signed by the leader: reach the entry decoders */
		cJSON *o;

		memcpy(buf, good, len);
		mlen = fz_mutate(buf, len, resign ? HDR : 0, resign ? len - SIG : len);
		if (mlen == len && memcmp(buf, good, len) == 0)
			continue; /* flips that cancelled out */
		if (resign && mlen == len)
			block_resign(buf, mlen, &leader);
		o = ledger_block_to_json(buf, mlen);
		cJSON_Delete(o);
		ledger_block_peek(buf, mlen, NULL);
		if (ledger_block_apply(l, buf, mlen) != 0)
			continue;
		applied++;
		bad_apply += !resign;
		ledger_stats(l, &st);
		bad_stats += st.entries != st.credited + st.skipped + st.duplicates + st.rejected ||
		             st.credited > 2 || st.total_reward > 7;
		ledger_destroy(l);
		ledger_create(&l, NULL);
	}
	ledger_state_hash(l, after);
	ok(bad_apply == 0 && memcmp(before, after, HASH) == 0,
	   "20000 mutated blocks: none applied unless its leader re-signed it");
	ok(applied > 0 && bad_stats == 0,
	   "%d re-signed mutations applied, each crediting only entries that check", applied);
	ok(ledger_block_apply(l, good, len) == 0, "the unmutated block applies");
	ledger_destroy(l);
}

/* A pipelining leader: blocks built on the last one proposed, then applied in order. */
static void test_pipeline(void)
{
	struct ledger *l, *follower;
	struct ledger_entry e[3], bad;
	struct ledger_tip tip;
	struct ledger_stats st, fst;
	uint8_t *b1, *b2, *b3;
	size_t l1, l2, l3, used;

	ledger_create(&l, NULL);
	ledger_create(&follower, NULL);
	for (int i = 0; i < 3; i++)
		entry_make(&e[i], &clients[i], &workers[i], 40 + (uint64_t)i, 5, NULL);
	ledger_tip_head(l, &tip);
	ok(tip.height == 0, "the tip of an empty ledger is its genesis");
	ok(ledger_block_build_on(l, &tip, 1, leader.pk, leader.sk, 1, &e[0], 1, &used, &b1, &l1) ==
	       0 && b1 != NULL && ledger_tip_of(b1, l1, &tip) == 0 && tip.height == 1,
	   "block 1 built on the head");
	ok(ledger_block_build_on(l, &tip, 1, leader.pk, leader.sk, 2, &e[1], 1, &used, &b2, &l2) ==
	       0 && b2 != NULL && ledger_tip_of(b2, l2, &tip) == 0 && tip.height == 2,
	   "block 2 built on block 1 before block 1 applied");
	ok(ledger_block_build_on(l, &tip, 2, leader.pk, leader.sk, 3, &e[2], 1, &used, &b3, &l3) ==
	       0 && b3 != NULL,
	   "block 3 built on block 2, in a later term");
	ok(ledger_block_apply(l, b1, l1) == 0 && ledger_block_apply(l, b2, l2) == 0 &&
	       ledger_block_apply(l, b3, l3) == 0,
	   "the three apply in order on the leader: %s", ledger_why(l));
	ok(ledger_block_apply(follower, b1, l1) == 0 && ledger_block_apply(follower, b2, l2) == 0 &&
	       ledger_block_apply(follower, b3, l3) == 0,
	   "and on a follower, which checks every signature itself");
	ledger_stats(l, &st);
	ledger_stats(follower, &fst);
	{
		uint8_t sl[LEDGER_HASH_BYTES], sf[LEDGER_HASH_BYTES];

		ledger_state_hash(l, sl);
		ledger_state_hash(follower, sf);
		ok(st.credited == 3 && fst.credited == 3 && st.verify_cache_hits == 0 &&
		       fst.verify_cache_hits == 0 && memcmp(sl, sf, sizeof sl) == 0,
		   "the leader applied its own blocks from what their build found (no entry checked"
		   " again, cache hits %llu), the follower checked each on apply: the same state",
		   (unsigned long long)st.verify_cache_hits);
	}
	free(b1);
	tip.height = 0;
	ok(ledger_block_build_on(l, &tip, 2, leader.pk, leader.sk, 4, e, 1, &used, &b1, &l1) ==
	       CORE_ERR_INVAL,
	   "a tip below the head is refused");
	free(b2);
	free(b3);
	/* A block this ledger built, with its signature bytes changed, is not trusted. */
	entry_make(&bad, &clients[0], &workers[1], 50, 1, NULL);
	ledger_tip_head(l, &tip);
	ok(ledger_block_build_on(l, &tip, 2, leader.pk, leader.sk, 5, &bad, 1, &used, &b1, &l1) == 0 &&
	       b1 != NULL, "one more block built");
	b1[l1 - 1] ^= 1;
	ok(ledger_block_apply(l, b1, l1) == CORE_ERR_BADSIG,
	   "its bytes with a changed signature do not apply (not taken for the block built)");
	b1[l1 - 1] ^= 1;
	ok(ledger_block_apply(l, b1, l1) == 0, "the block as built applies");
	free(b1);
	/* The cache holds exact bytes: the same texts with another signature are checked again. */
	entry_make(&bad, &clients[0], &workers[1], 51, 1, NULL);
	ok(ledger_entry_check_here(follower, &bad, NULL) == 0, "an entry checks");
	bad.receipt_auth.sig[0] ^= 1;
	ok(ledger_entry_check_here(follower, &bad, NULL) == CORE_ERR_BADSIG,
	   "the same entry with a forged signature does not pass through the cache");
	ledger_destroy(l);
	ledger_destroy(follower);
}


/* ---------------------------------------------------------------- the window (docs/ledger.md) */

/* An entry of client c with seq and floor (job nonce = seq), signed for real unless nosign. */
static void wentry(struct ledger_entry *e, const struct key *c, const struct key *w, uint64_t seq,
                   uint64_t floor, int nosign)
{
	struct spoil sp;

	memset(&sp, 0, sizeof(sp));
	sp.seq = seq;
	sp.floor = floor;
	sp.nosign = nosign;
	entry_make(e, c, w, seq, 1, &sp);
}

static int job_final(const struct ledger *l, const struct ledger_entry *e)
{
	uint8_t job[CHORUS_JOB_ID_BYTES];
	struct ledger_job lj;

	return ledger_entry_job(e, job) == 0 && ledger_job_get(l, job, &lj) == 0;
}

/*
 * 100,000 jobs from one client whose floor follows its oldest open ack (64
 * behind): every one is credited, and the jobs held in memory stay near the
 * open window, not near the chain (the memory finding: one record per job
 * for ever).  The fake crypto keeps it cheap: this tests the index.
 */
static void test_window_bounded(void)
{
	enum { N = 100000, W = 64, PER = 250 };
	static struct ledger_entry e[PER];
	struct ledger *l;
	struct ledger_stats st;
	uint64_t floor = 0, held = 0, max_held = 0, taken = 0, bad_rows = 0;
	int err = 0;

	ledger_create(&l, &fake);
	ledger_forgotten_keep(l, 1); /* as the node keeps them: the rows of its jobs index */
	for (uint64_t b = 0; b < N / PER && err == 0; b++) {
		const struct ledger_gone *g;
		size_t n;

		for (uint64_t k = 0; k < PER; k++) {
			uint64_t seq = 1 + b * PER + k;

			wentry(&e[k], &clients[0], &workers[0], seq, seq > W ? seq - W : 1, 1);
		}
		err = apply_next(l, e, PER);
		ledger_stats(l, &st);
		max_held = st.jobs_held > max_held ? st.jobs_held : max_held;
		if (b == N / PER - 1)
			break; /* the last block's list is read in place below */
		/* Each forgotten job listed once, as it was when held: credited, 1, its keys. */
		g = ledger_forgotten_take(l, &n);
		for (size_t i = 0; i < n; i++) {
			struct ledger_job lj;

			bad_rows += ledger_job_get(l, g[i].job, &lj) == 0 ||
			            g[i].rec.outcome != LEDGER_CREDITED || g[i].rec.reward != 1 ||
			            g[i].rec.height == 0 || g[i].rec.height > st.height ||
			            memcmp(g[i].rec.client, clients[0].pk, CHORUS_PK_BYTES) != 0 ||
			            memcmp(g[i].rec.worker, workers[0].pk, CHORUS_PK_BYTES) != 0;
		}
		taken += n;
	}
	{
		/* Not taken yet (the node lets them gather): counted, and found in the list. */
		const uint64_t before = (N / PER - 1) * PER - W; /* the floor the last block moved */
		size_t pending = ledger_forgotten_pending(l), found = 0, wrong = 0;

		for (uint64_t seq = before - 8; seq <= N; seq++) {
			uint8_t job[CHORUS_JOB_ID_BYTES];
			struct ledger_job lj;
			struct ledger_entry t;
			int in_list, listed = seq >= before && seq < N - W;

			wentry(&t, &clients[0], &workers[0], seq, seq > W ? seq - W : 1, 1);
			(void)ledger_entry_job(&t, job);
			in_list = ledger_forgotten_find(l, job, &lj) == 0;
			found += (size_t)in_list;
			wrong += in_list != listed || (in_list && (lj.outcome != LEDGER_CREDITED ||
			                                           lj.reward != 1 || lj.height == 0)) ||
			         (ledger_job_get(l, job, &lj) == 0) != (seq >= N - W);
		}
		ok(pending == PER && found == PER && wrong == 0,
		   "jobs left to gather are counted (%zu) and each found in the list (%zu, %zu wrong),"
		   " the held ones and those taken before not", pending, found, wrong);
		taken += pending;
		(void)ledger_forgotten_take(l, &pending);
		ok(ledger_forgotten_pending(l) == 0 && pending == PER,
		   "taking them empties the list");
	}
	ledger_stats(l, &st);
	(void)ledger_window_get(l, clients[0].pk, &floor, &held);
	ok(err == 0 && st.credited == N && st.jobs_held <= W + 1 && max_held <= W + 1 &&
	       st.forgotten == N - st.jobs_held && held == st.jobs_held && floor == N - W,
	   "100,000 credited jobs, at most %llu held in memory at once (%llu now, %llu forgotten, "
	   "floor %llu)", (unsigned long long)max_held, (unsigned long long)st.jobs_held,
	   (unsigned long long)st.forgotten, (unsigned long long)floor);
	wentry(&e[0], &clients[0], &workers[0], 7, 7, 1);
	wentry(&e[1], &clients[0], &workers[0], N, N - W, 1);
	ok(!job_final(l, &e[0]) && job_final(l, &e[1]),
	   "a job below the floor is forgotten, one above it is still there");
	ok(taken == st.forgotten && bad_rows == 0 && st.forgotten_unlisted == 0,
	   "every forgotten job is handed out once for the index, as it was held (%llu of %llu,"
	   " %llu wrong)", (unsigned long long)taken, (unsigned long long)st.forgotten,
	   (unsigned long long)bad_rows);
	ledger_destroy(l);
}

/*
 * A replayed old ack (its seq below the floor its client declared since)
 * is a duplicate, "settled": no credit, on two ledgers alike.  Its job was
 * forgotten, so only the floor stops it.
 */
static void test_window_replay(void)
{
	struct ledger_entry e[4], replay;
	struct ledger *a, *b;
	struct ledger_account before, after;
	struct ledger_stats st;
	int err;

	ledger_create(&a, NULL);
	ledger_create(&b, NULL);
	wentry(&e[0], &clients[1], &workers[1], 1000, 1000, 0);
	wentry(&e[1], &clients[1], &workers[1], 2000, 1000, 0);
	wentry(&e[2], &clients[1], &workers[1], 3000, 3000, 0); /* 1000 and 2000 settled */
	err = apply_next(a, e, 2) | apply_next(b, e, 2) | apply_next(a, e + 2, 1) |
	      apply_next(b, e + 2, 1);
	ok(err == 0 && !job_final(a, &e[0]) && !job_final(a, &e[1]) && job_final(a, &e[2]),
	   "the floor moved to 3000: the jobs of seqs 1000 and 2000 are forgotten");
	ledger_balance(a, workers[1].pk, &before);
	replay = e[0];
	err = apply_next(a, &replay, 1) | apply_next(b, &replay, 1);
	ledger_balance(a, workers[1].pk, &after);
	ledger_stats(a, &st);
	ok(err == 0 && ledger_block_outcome(a, 0) == LEDGER_DUPLICATE && st.settled == 1 &&
	       st.credited == 3 && after.earned == before.earned && same_state(a, b),
	   "the old ack replayed: a settled duplicate, nothing earned, the same state on both "
	   "ledgers");
	{
		struct ledger_entry_info in;

		ledger_entry_check(NULL, &replay, &in);
		ok(ledger_entry_settled(a, &in) && ledger_entry_admit(a, &in) == LEDGER_DUPLICATE,
		   "the leader's queue finds it settled too");
	}
	ledger_destroy(a);
	ledger_destroy(b);
}

/*
 * Out of order above the floor is credited; a floor going back changes
 * nothing; an entry whose signature fails never touches the window.
 */
static void test_window_order(void)
{
	struct ledger_entry e[3], bad;
	struct ledger *l;
	struct ledger_stats st;
	struct spoil sp;
	uint64_t floor, held;
	int err;

	ledger_create(&l, NULL);
	wentry(&e[0], &clients[2], &workers[2], 500, 400, 0);
	wentry(&e[1], &clients[2], &workers[2], 450, 400, 0); /* older, still above the floor */
	wentry(&e[2], &clients[2], &workers[2], 600, 300, 0); /* a floor that goes back */
	err = apply_next(l, e, 1) | apply_next(l, e + 1, 1) | apply_next(l, e + 2, 1);
	ledger_stats(l, &st);
	(void)ledger_window_get(l, clients[2].pk, &floor, &held);
	ok(err == 0 && st.credited == 3 && floor == 400 && held == 3,
	   "seq 450 after 500, both above floor 400: credited; a floor of 300 later: still 400");
	memset(&sp, 0, sizeof(sp));
	sp.seq = 10000;
	sp.floor = 10000;
	sp.ack_signer = &rogue;
	entry_make(&bad, &clients[2], &workers[2], 10000, 1, &sp);
	err = apply_next(l, &bad, 1);
	(void)ledger_window_get(l, clients[2].pk, &floor, &held);
	ok(err == 0 && ledger_block_outcome(l, 0) == LEDGER_SKIPPED && floor == 400 && held == 3,
	   "a forged ack with floor 10000: skipped, the window untouched");
	ledger_destroy(l);
}

/*
 * The per-client bound (4 here): a fifth seq above the floor is refused
 * ("window full"), not made final, and credited on its retry once an ack
 * raising the floor applied (that ack itself frees the room even while the
 * window is full).
 */
static void test_window_bound(void)
{
	struct ledger_entry e[6];
	struct ledger_entry_info in;
	struct ledger *l;
	uint64_t floor, held;
	int err = 0;

	ledger_create(&l, NULL);
	ledger_window_set(l, 4);
	for (int k = 0; k < 6; k++)
		wentry(&e[k], &clients[0], &workers[1], 1 + (uint64_t)k, k == 5 ? 3 : 1, 0);
	err = apply_next(l, e, 4);
	err |= apply_next(l, e + 4, 1);
	ledger_entry_check(NULL, &e[4], &in);
	ok(err == 0 && ledger_block_outcome(l, 0) == LEDGER_REJECT_WINDOW && !job_final(l, &e[4]) &&
	       ledger_entry_admit(l, &in) == LEDGER_REJECT_WINDOW,
	   "four seqs held above the floor: the fifth is refused (window full), not final");
	err = apply_next(l, e + 5, 1);
	(void)ledger_window_get(l, clients[0].pk, &floor, &held);
	ok(err == 0 && ledger_block_outcome(l, 0) == LEDGER_REJECT_WINDOW && floor == 3 && held == 2,
	   "an ack raising the floor to 3, refused too, frees seqs 1 and 2");
	err = apply_next(l, e + 4, 2);
	ok(err == 0 && ledger_block_outcome(l, 0) == LEDGER_CREDITED &&
	       ledger_block_outcome(l, 1) == LEDGER_CREDITED && job_final(l, &e[4]),
	   "both retried: credited");
	ledger_destroy(l);
}

/* The builder judges the window as apply does: a settled ack and a repeated seq stay out. */
static void test_window_build(void)
{
	struct ledger_entry e[3], in[3];
	struct ledger *l;
	uint8_t *block = NULL;
	size_t used = 0, len = 0;
	int err;

	ledger_create(&l, NULL);
	wentry(&e[0], &clients[1], &workers[0], 100, 100, 0);
	wentry(&e[1], &clients[1], &workers[0], 200, 200, 0);
	err = apply_next(l, e, 2);
	wentry(&in[0], &clients[1], &workers[0], 100, 100, 0); /* settled: below 200 */
	wentry(&in[1], &clients[1], &workers[0], 300, 200, 0);
	in[2] = in[1];                                        /* the same seq again */
	err |= ledger_block_build(l, 1, leader.pk, leader.sk, 1, in, 3, &used, &block, &len);
	ok(err == 0 && block != NULL && used == 3 &&
	       ledger_build_verdict(l, 0) == LEDGER_DUPLICATE &&
	       ledger_build_verdict(l, 1) == LEDGER_CREDITED &&
	       ledger_build_verdict(l, 2) == LEDGER_DUPLICATE,
	   "built: the settled ack and the repeat left out, the new one taken");
	err = block ? ledger_block_apply(l, block, len) : -1;
	ok(err == 0 && ledger_block_outcome(l, 0) == LEDGER_CREDITED, "and applied, credited");
	free(block);
	ledger_destroy(l);
}

/*
 * Batches (docs/merkle.md): a client signs the acks of 8 jobs with one
 * signature, their worker the receipts.  Every entry checks, each root's
 * signature is verified once per ledger (the cache of roots), and an entry
 * whose proof does not check -- one bit of it, or a count moved -- is
 * refused by the leader's build and, injected into a block a leader signs
 * anyway, skipped by every follower alike.
 */
#define BATCH_N 8
static void batch_resign(struct ledger_entry *e, size_t n, const struct key *c, const struct key *w)
{
	const char *t[BATCH_N] = {0};
	size_t len[BATCH_N] = {0};
	struct batchsig auth[BATCH_N];

	assert(n >= 1 && n <= BATCH_N);
	for (size_t i = 0; i < n; i++) {
		t[i] = e[i].ack_text;
		len[i] = e[i].ack_len;
	}
	batchsig_sign(NULL, c->sk, t, len, n, auth);
	for (size_t i = 0; i < n; i++) {
		e[i].ack_auth = auth[i];
		t[i] = e[i].receipt_text;
		len[i] = e[i].receipt_len;
	}
	batchsig_sign(NULL, w->sk, t, len, n, auth);
	for (size_t i = 0; i < n; i++)
		e[i].receipt_auth = auth[i];
}

static void test_batches(void)
{
	static uint8_t buf[BMAX];
	struct ledger *l, *f1, *f2;
	struct ledger_entry e[BATCH_N], bad[3];
	struct ledger_stats st, fst;
	uint8_t head[HASH], s1[HASH], s2[HASH], *b;
	size_t used, blen, len;
	unsigned checks = 0;

	ledger_create(&l, NULL);
	ledger_create(&f1, NULL);
	ledger_create(&f2, NULL);
	for (int i = 0; i < BATCH_N; i++)
		entry_make(&e[i], &clients[0], &workers[0], 700 + (uint64_t)i, 3, NULL);
	batch_resign(e, BATCH_N, &clients[0], &workers[0]);
	for (int i = 0; i < BATCH_N; i++)
		checks += ledger_entry_check(NULL, &e[i], NULL) == 0 && e[i].ack_auth.count == BATCH_N &&
		          e[i].ack_auth.index == i && e[i].ack_auth.nproof == 3;
	ok(checks == BATCH_N, "%u of %d entries of one batch check (proofs of 3 hashes)", checks, BATCH_N);
	/* Three copies of job 703 that do not check: a bit of a proof, of a root, a count moved. */
	bad[0] = bad[1] = bad[2] = e[3];
	bad[0].ack_auth.proof[1][17] ^= 0x10;
	bad[1].receipt_auth.root[0] ^= 1;
	bad[2].ack_auth.count = 9;
	ok(ledger_entry_check(NULL, &bad[0], NULL) == CORE_ERR_BADSIG &&
	       ledger_entry_check(NULL, &bad[1], NULL) == CORE_ERR_BADSIG &&
	       ledger_entry_check(NULL, &bad[2], NULL) == CORE_ERR_BADSIG,
	   "a proof bit, a root bit or a moved count: the entry does not check");
	{
		struct ledger_entry in[3] = {bad[0], bad[1], bad[2]};

		ok(ledger_block_build(l, 1, leader.pk, leader.sk, 1, in, 3, &used, &b, &blen) == 0 &&
		       b == NULL && ledger_build_verdict(l, 0) == LEDGER_SKIPPED &&
		       ledger_build_verdict(l, 1) == LEDGER_SKIPPED &&
		       ledger_build_verdict(l, 2) == LEDGER_SKIPPED,
		   "the leader refuses all three: no block");
	}
	ok(ledger_block_build(l, 1, leader.pk, leader.sk, 1, e, BATCH_N, &used, &b, &blen) == 0 &&
	       b != NULL && used == BATCH_N,
	   "the batch builds into one block");
	ledger_stats(l, &st);
	ok(st.root_cache_hits >= 2 * (BATCH_N - 1),
	   "the leader verified each root's signature once (%llu cache hits of %d checks)",
	   (unsigned long long)st.root_cache_hits, 2 * BATCH_N);
	ok(ledger_block_apply(l, b, blen) == 0 && ledger_block_apply(f1, b, blen) == 0,
	   "it applies on the leader and a follower");
	ledger_stats(f1, &fst);
	ok(fst.credited == BATCH_N && fst.root_cache_hits >= 2 * (BATCH_N - 1),
	   "the follower credits all %d, one signature verified per root (%llu hits)", BATCH_N,
	   (unsigned long long)fst.root_cache_hits);
	ok(ledger_block_apply(f2, b, blen) == 0, "so does a second follower");
	free(b);
	/* A leader that signs a block holding the bad copies and a good new job anyway. */
	entry_make(&e[0], &clients[1], &workers[1], 800, 3, NULL);
	batch_resign(e, 1, &clients[1], &workers[1]);
	bad[2] = e[0];
	bad[2].receipt_auth.index = 0;
	bad[2].receipt_auth.nproof = 1; /* a proof one hash too long */
	memset(bad[2].receipt_auth.proof[0], 7, HASH);
	{
		struct ledger_entry in[4] = {bad[0], bad[1], bad[2], e[0]};

		ledger_head_hash(f1, head);
		len = block_craft(buf, 2, head, 1, &leader, in, 4);
	}
	ok(ledger_block_apply(f1, buf, len) == 0 && ledger_block_apply(f2, buf, len) == 0,
	   "a leader-signed block with three bad entries applies on both followers");
	ok(ledger_block_outcome(f1, 0) == LEDGER_SKIPPED && ledger_block_outcome(f1, 1) == LEDGER_SKIPPED &&
	       ledger_block_outcome(f1, 2) == LEDGER_SKIPPED && ledger_block_outcome(f1, 3) == LEDGER_CREDITED &&
	       ledger_block_outcome(f2, 0) == LEDGER_SKIPPED && ledger_block_outcome(f2, 2) == LEDGER_SKIPPED,
	   "every follower skips the entries whose proofs do not check, credits the good one");
	ledger_state_hash(f1, s1);
	ledger_state_hash(f2, s2);
	ledger_stats(f1, &fst);
	ok(memcmp(s1, s2, HASH) == 0 && fst.credited == BATCH_N + 1 && fst.skipped == 3,
	   "both in the same state: %llu credited, %llu skipped", (unsigned long long)fst.credited,
	   (unsigned long long)fst.skipped);
	ledger_destroy(l);
	ledger_destroy(f1);
	ledger_destroy(f2);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	key_make(&leader, 1);
	key_make(&rogue, 2);
	for (int i = 0; i < 3; i++) {
		key_make(&clients[i], (uint8_t)(10 + i));
		key_make(&workers[i], (uint8_t)(20 + i));
	}
	test_entry_check();
	test_entry_status();
	test_chain_replica();
	test_once();
	test_rejects();
	test_verify_chain();
	test_json();
	test_build_bounds();
	test_accounts_grow();
	test_poison_apply();
	test_poison_build();
	test_balance();
	test_pipeline();
	test_window_bounded();
	test_window_replay();
	test_window_order();
	test_window_bound();
	test_window_build();
	test_batches();
	test_fuzz();
	return tap_done();
}

/*
 * The voter module (src/core/ledger/voter.c) driven as chorusd's shell drives it,
 * on a one-voter Raft reached through the consensus interface
 * (consensus_raft_create, include/chorus/consensus.h), with real signatures: a leader
 * waits for a final head before its first block, keeps at most 8 blocks in
 * flight beyond its applied head, answers each origin with the height that
 * credits its job, refuses forged entries and strangers' (height 0 on the
 * wire), forwards or drops submits it does not lead, and drops its queue
 * when it does not lead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chorus/consensus-raft.h"
#include "chorus/voter-catchup.h"
#include "chorus/voter.h"
#include "core-internal.h"
#include "dispatch/jobmsg.h"
#include "tap.h"

struct key {
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
};

static struct key me, client, worker, stranger;
static uint8_t origin[CHORUS_PK_BYTES];

static void key_make(struct key *k, uint8_t seed_byte)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, seed_byte, sizeof(seed));
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

/* A completion of client c's job nonce run by w, the ack signed by ack_signer. */
static void entry_make(struct ledger_entry *e, const struct key *c, const struct key *w,
                       uint64_t nonce, const struct key *ack_signer)
{
	struct jreceipt r;
	struct jack a;
	uint8_t res[8];
	int n;

	memset(e, 0, sizeof(*e));
	memset(&r, 0, sizeof(r));
	jobmsg_job_id(r.id, c->pk, nonce);
	memcpy(r.client, c->pk, CHORUS_PK_BYTES);
	memcpy(r.worker, w->pk, CHORUS_PK_BYTES);
	strcpy(r.kind, "echo");
	strcpy(r.status, "ok");
	codec_put_u64(res, nonce);
	jobmsg_hash(r.result_hash, res, sizeof(res));
	r.result_size = sizeof(res);
	n = jobmsg_receipt_encode(e->receipt_text, sizeof(e->receipt_text), &r);
	assert(n > 0);
	e->receipt_len = (uint16_t)n;
	batchsig_sign_one(NULL, w->sk, e->receipt_text, e->receipt_len, &e->receipt_auth);
	memset(&a, 0, sizeof(a));
	a.nonce = nonce;
	a.seq = nonce;
	jobmsg_job_id(a.id, c->pk, nonce);
	memcpy(a.client, c->pk, CHORUS_PK_BYTES);
	a.has_worker = 1;
	memcpy(a.worker, w->pk, CHORUS_PK_BYTES);
	strcpy(a.kind, "echo");
	strcpy(a.status, "succeeded");
	memcpy(a.result_hash, r.result_hash, JOBMSG_HASH_BYTES);
	a.attempts = 1;
	a.reward = 1;
	jobmsg_hash(a.receipt_hash, e->receipt_text, e->receipt_len);
	n = jobmsg_ack_encode(e->ack_text, sizeof(e->ack_text), &a);
	assert(n > 0);
	e->ack_len = (uint16_t)n;
	batchsig_sign_one(NULL, ack_signer->sk, e->ack_text, e->ack_len, &e->ack_auth);
}

static int member_cb(void *ctx, const uint8_t pk[CHORUS_PK_BYTES])
{
	(void)ctx;
	return memcmp(pk, client.pk, CHORUS_PK_BYTES) == 0 ||
	       memcmp(pk, worker.pk, CHORUS_PK_BYTES) == 0;
}

static int apply_errors;
static struct ledger *voter_ledger_of_test; /* the ledger shell_pump applies to */
static struct consensus *cons; /* the voter's log: a one-voter Raft (consensus-raft.c) */

/* The blocks table of a node: the applied chain, and a catching-up node's fetched rows. */
#define CHAIN_MAX 64
struct store {
	uint8_t *data[CHAIN_MAX + 1];
	size_t len[CHAIN_MAX + 1];
};
static struct store chain; /* the leader's, as the shell keeps it (voterd_keep_block) */

static void store_put(struct store *st, uint64_t h, const uint8_t *data, size_t len)
{
	if (h == 0 || h > CHAIN_MAX)
		return;
	free(st->data[h]);
	st->data[h] = malloc(len);
	memcpy(st->data[h], data, len);
	st->len[h] = len;
}

static void store_free(struct store *st)
{
	for (size_t h = 0; h <= CHAIN_MAX; h++)
		free(st->data[h]);
	memset(st, 0, sizeof *st);
}

/* The shell's pump: every ready round persisted (here: nothing to do), applied, advanced. */
static void shell_pump(struct voter *v)
{
	struct consensus_ready rd;

	while (consensus_ready(cons, &rd)) {
		for (size_t i = 0; i < rd.ncommitted; i++)
			if (rd.committed[i].app) {
				if (voter_apply_block(v, rd.committed[i].data, rd.committed[i].len,
				                      rd.committed[i].index) != 0)
					apply_errors++;
				else
					store_put(&chain, ledger_height(voter_ledger_of_test), rd.committed[i].data,
					          rd.committed[i].len);
			}
		consensus_advance(cons, &rd);
	}
}

static uint64_t proposed(const struct voter *v)
{
	struct voter_stats st;

	voter_stats(v, &st);
	return st.proposed;
}

static void test_pipeline(struct ledger *l, struct voter *v)
{
	struct ledger_entry e;
	struct voter_ready rd;
	struct consensus_status st;
	uint64_t to = 0;
	int n_ok = 0;

	for (int k = 0; k < 40 && !voter_is_leader(v); k++)
		consensus_tick(cons);
	ok(voter_is_leader(v), "one voter: it leads after its election timeout");
	ok(voter_on_submit(v, 0, &to) == VOTER_QUEUE, "a leader queues what it is sent");
	for (uint64_t j = 1; j <= 20; j++) {
		entry_make(&e, &client, &worker, j, &client);
		voter_submit(v, &e, origin);
	}
	/* Its term's no-op is neither persisted nor committed yet: no final head. */
	voter_pump(v, 1, 0, 1000);
	ok(proposed(v) == 0, "no block before the final head (the term's no-op unapplied)");
	shell_pump(v);
	consensus_status(cons, &st);
	ok(st.applied == st.last_index, "the no-op applied: a final head");
	voter_pump(v, 1, 0, 1000);
	ok(proposed(v) == 8, "then 8 blocks of one entry, no more while none applied (%llu)",
	   (unsigned long long)proposed(v));
	ok(ledger_height(l) == 0, "none applied yet");
	voter_pump(v, 1, 1, 1000);
	ok(proposed(v) == 8, "nothing built while the ledger is held behind Raft");
	for (int round = 0; round < 10; round++) {
		shell_pump(v);
		voter_pump(v, 1, 0, 1000 + (uint64_t)round);
	}
	ok(ledger_height(l) == 20 && apply_errors == 0,
	   "20 blocks applied, one entry each, every committed block applies (%llu, %d)",
	   (unsigned long long)ledger_height(l), apply_errors);
	voter_ready(v, &rd);
	for (size_t i = 0; i < rd.nanswers; i++) {
		struct ledger_job job;

		n_ok += rd.answers[i].kind == VOTER_ANSWER_FINAL &&
		        memcmp(rd.answers[i].origin, origin, CHORUS_PK_BYTES) == 0 &&
		        ledger_job_get(l, rd.answers[i].job, &job) == 0 &&
		        job.height == rd.answers[i].height;
	}
	ok(rd.nanswers == 20 && n_ok == 20,
	   "each origin answered once per job, at the height that credits it (%zu, %d)",
	   rd.nanswers, n_ok);
	voter_advance(v);
	ok(!voter_ready(v, &rd), "answers drained");
}

static void test_refusals(struct voter *v)
{
	struct ledger_entry e;
	struct voter_ready rd;
	struct voter_stats st;
	uint8_t job[CHORUS_JOB_ID_BYTES];

	entry_make(&e, &client, &worker, 100, &worker); /* the ack signed by the worker */
	voter_submit(v, &e, origin);
	entry_make(&e, &client, &stranger, 101, &client); /* a worker that is no member */
	voter_submit(v, &e, origin);
	voter_ready(v, &rd);
	ok(rd.nanswers == 2 && rd.answers[0].kind == VOTER_ANSWER_REFUSED &&
	   rd.answers[0].height == 0 && rd.answers[1].kind == VOTER_ANSWER_REFUSED,
	   "a forged entry and a stranger's are refused, height 0");
	(void)ledger_entry_job(&e, job);
	ok(rd.nanswers == 2 && memcmp(rd.answers[1].job, job, sizeof job) == 0,
	   "the refusal names the job");
	voter_stats(v, &st);
	ok(st.refused == 2 && st.refused_member == 1 && st.pending == 0,
	   "counted (one not a member), nothing queued");
	ok(voter_refusal_stands(v, &e, (char[LEDGER_WHY_MAX]){ 0 }, LEDGER_WHY_MAX) == 1,
	   "the submitter's own judgement agrees: a stranger's refusal stands");
	voter_advance(v);
	entry_make(&e, &client, &worker, 3, &client); /* credited at height 3 */
	voter_submit(v, &e, origin);
	voter_pump(v, 1, 0, 2000);
	voter_ready(v, &rd);
	ok(rd.nanswers == 1 && rd.answers[0].kind == VOTER_ANSWER_FINAL &&
	   rd.answers[0].height == 3 && proposed(v) == 20,
	   "a job credited before is answered at its height, without a block");
	voter_advance(v);
}

static void test_follower(struct ledger *l)
{
	struct voter_config vc;
	struct voter *v;
	struct ledger_entry e;
	struct voter_ready rd;
	uint64_t to = 7, leaders[2] = { 5, 6 }, voters[3] = { 1, 2, 3 };

	memset(&vc, 0, sizeof vc);
	vc.id = 9;
	ok(voter_create(&v, &vc, l) == 0, "a voter without Raft yet");
	entry_make(&e, &client, &worker, 200, &client);
	voter_submit(v, &e, origin);
	voter_pump(v, 1, 0, 0);
	ok(!voter_ready(v, &rd), "not leading: it queues, builds and answers nothing");
	ok(voter_on_submit(v, 0, &to) == VOTER_DROP && to == RAFT_NONE,
	   "no leader known: a submit is dropped (the origin re-sends)");
	ok(voter_target(v, leaders, 2, voters, 3, 3) == 6 &&
	   voter_target(v, NULL, 0, voters, 3, 4) == 2 && voter_target(v, NULL, 0, NULL, 0, 0) ==
	   RAFT_NONE, "targets: a gossiped leader, else a voter, rotated by the round");
	voter_destroy(v);
}

/* ---------------------------------------------------------------- catch-up (voter-catchup.c) */

/* A node for the catch-up tests: the core module, its ledger, its blocks table, its log. */
struct cnode {
	uint64_t id;
	struct voter_catchup *vc;
	struct ledger *l;
	struct store st;
	struct consensus *cn;
	uint64_t tamper; /* serve a copy of this block with one byte flipped (a lying peer) */
	size_t tamper_at; /* that byte: in what the hash covers, or in the signature (the end) */
	unsigned writes, bad_writes, applied, sends, compacted;
	uint64_t last_req_top;
	struct cnode *peer;
};

static struct consensus *conf_of(uint64_t id, const uint64_t *ids, unsigned n)
{
	struct consensus_raft_params p = { .id = id, .seed = 3, .election_ticks = 50,
	                                   .heartbeat_ticks = 1 };
	struct raft_boot boot;
	struct consensus *c = NULL;

	memset(&boot, 0, sizeof boot);
	boot.snap.conf.n = n;
	memcpy(boot.snap.conf.ids, ids, n * sizeof ids[0]);
	return consensus_raft_create(&c, &p, &boot) == 0 ? c : NULL;
}

static int cnode_make(struct cnode *n, uint64_t id, struct ledger *l)
{
	static const uint64_t ids[] = { 1, 2 };

	memset(n, 0, sizeof *n);
	n->id = id;
	n->l = l;
	n->cn = conf_of(id, ids, 2);
	return n->cn != NULL && voter_catchup_create(&n->vc, l, id, 0) == 0 ? 0 : -1;
}

static void cnode_free(struct cnode *n)
{
	voter_catchup_destroy(n->vc);
	consensus_destroy(n->cn);
	store_free(&n->st);
}

/* The shell's part: effects into the "store" and the "fabric" (the other node, at once). */
static int cnode_drain(struct cnode *n)
{
	struct voter_catchup_effect e;
	uint8_t flipped[CHORUS_RAFT_ENTRY_MAX];
	int any = 0;

	while (voter_catchup_effect(n->vc, &e)) {
		any = 1;
		if (e.kind == VOTER_CATCHUP_SEND) {
			struct catchup_req q;

			n->sends++;
			if (catchup_req_decode(&q, e.data, e.len) == 0)
				n->last_req_top = q.top;
			if (n->peer != NULL)
				voter_catchup_on_msg(n->peer->vc, n->peer->cn, n->id, e.data, e.len);
		} else if (e.kind == VOTER_CATCHUP_READ) {
			const uint8_t *d = e.height <= CHAIN_MAX ? n->st.data[e.height] : NULL;
			size_t len = d != NULL ? n->st.len[e.height] : 0;

			if (d != NULL && e.height == n->tamper && len <= sizeof flipped) {
				memcpy(flipped, d, len);
				flipped[n->tamper_at < len ? n->tamper_at : len - 1] ^= 1;
				d = flipped;
			}
			voter_catchup_read_done(n->vc, e.tag, e.height, d, len);
		} else if (e.kind == VOTER_CATCHUP_WRITE) {
			n->writes++;
			n->bad_writes += chain.data[e.height] == NULL || chain.len[e.height] != e.len ||
			                 memcmp(chain.data[e.height], e.data, e.len) != 0;
			store_put(&n->st, e.height, e.data, e.len);
		} else if (e.kind == VOTER_CATCHUP_APPLIED) {
			n->applied++;
		} else if (e.kind == VOTER_CATCHUP_COMPACTED) {
			n->compacted++;
		}
	}
	return any;
}

static void drain_both(struct cnode *a, struct cnode *b)
{
	for (int k = 0; k < 1000 && (cnode_drain(a) | cnode_drain(b)); k++)
		;
}

static void snap_of(const struct ledger *l, uint64_t height, uint8_t out[CATCHUP_SNAP_BYTES])
{
	struct ledger_block_info bi;
	uint8_t hash[LEDGER_HASH_BYTES];

	memset(hash, 0, sizeof hash);
	if (height == ledger_height(l))
		ledger_head_hash(l, hash);
	else if (ledger_block_peek(chain.data[height], chain.len[height], &bi) == 0)
		memcpy(hash, bi.hash, sizeof hash);
	catchup_snap_encode(height, hash, out);
}

/* A voter with nothing fetches the chain from the leader, proven from the head down. */
static void test_catchup_fetch(struct ledger *la)
{
	struct cnode a, b;
	struct ledger *lb;
	struct catchup_status cs;
	uint8_t snap[CATCHUP_SNAP_BYTES], ha[LEDGER_HASH_BYTES], hb[LEDGER_HASH_BYTES];
	uint64_t top = ledger_height(la);
	int ticks = 0;

	if (ledger_create(&lb, &crypto_ed25519) != 0 || cnode_make(&a, 1, la) != 0 ||
	    cnode_make(&b, 2, lb) != 0) {
		ok(0, "catch-up nodes");
		return;
	}
	for (uint64_t h = 1; h <= top; h++)
		store_put(&a.st, h, chain.data[h], chain.len[h]);
	a.peer = &b;
	b.peer = &a;
	a.tamper = top; /* the first answer lies about the head block, in what its hash covers */
	a.tamper_at = 20;
	snap_of(la, top, snap);
	ok(voter_catchup_target(b.vc, 100, snap, sizeof snap) == 0 && voter_catchup_active(b.vc),
	   "a snapshot above its ledger: the backfill starts (FETCH)");
	drain_both(&a, &b);
	voter_catchup_tick(b.vc, b.cn, 10);
	drain_both(&a, &b);
	voter_catchup_status(b.vc, &cs);
	ok(b.last_req_top == top && cs.requests == 1,
	   "it asks the other voter for the blocks below the snapshot's head (top %llu)",
	   (unsigned long long)b.last_req_top);
	ok(b.writes == 0 && cs.rejects == 1 && ledger_height(lb) == 0,
	   "a block that does not hash to the snapshot's head is rejected, nothing stored (%u, %llu)",
	   b.writes, (unsigned long long)cs.rejects);
	a.tamper = top / 2; /* the next one about a block's signature, which the hash does not cover */
	a.tamper_at = SIZE_MAX;
	voter_catchup_tick(b.vc, b.cn, 20);
	drain_both(&a, &b);
	ok(b.writes == top && b.bad_writes == 1, "that answer is stored whole: its hashes chain");
	a.tamper = 0;
	voter_catchup_tick(b.vc, b.cn, 30);
	drain_both(&a, &b);
	ok(ledger_height(lb) == VOTER_CATCHUP_APPLY_PER_TICK, "then applied upward, a few per tick");
	for (ticks = 0; ticks < 10 && ledger_height(lb) < top / 2 - 1; ticks++) {
		voter_catchup_tick(b.vc, b.cn, 40 + 10 * (uint64_t)ticks);
		drain_both(&a, &b);
	}
	voter_catchup_status(b.vc, &cs);
	ok(!voter_catchup_broken(b.vc) && ledger_height(lb) == top / 2 - 1 && cs.rejects == 2 &&
	   cs.state == CATCHUP_FETCH && cs.low == top / 2 + 1,
	   "the block whose signature fails stops the apply below it, not the node: fetched again"
	   " (%llu, %llu)", (unsigned long long)ledger_height(lb), (unsigned long long)cs.rejects);
	for (ticks = 0; ticks < 50 && voter_catchup_active(b.vc); ticks++) {
		voter_catchup_tick(a.vc, a.cn, 20 + 10 * (uint64_t)ticks);
		voter_catchup_tick(b.vc, b.cn, 20 + 10 * (uint64_t)ticks);
		drain_both(&a, &b);
	}
	ledger_head_hash(la, ha);
	ledger_head_hash(lb, hb);
	ok(!voter_catchup_active(b.vc) && ledger_height(lb) == top && memcmp(ha, hb, sizeof ha) == 0,
	   "then the honest answer: every block stored, applied upward, the same head (%llu)",
	   (unsigned long long)ledger_height(lb));
	ok(b.writes == top + 1 && b.bad_writes == 1 && b.applied == top,
	   "only blocks of the committed chain (and the one bad signature) stored (%u, %u bad),"
	   " each applied once (%u)",
	   b.writes, b.bad_writes, b.applied);
	voter_catchup_status(a.vc, &cs);
	ok(cs.served == 3, "the leader served the three requests (%llu)", (unsigned long long)cs.served);
	voter_catchup_on_msg(a.vc, a.cn, 3, (const uint8_t[]){ CATCHUP_MSG_REQ, 1 }, 2);
	voter_catchup_status(a.vc, &cs);
	ticks = (int)a.sends;
	cnode_drain(&a);
	ok(cs.dropped == 1 && a.sends == (unsigned)ticks,
	   "a request from a non-voter is dropped, unanswered");
	cnode_free(&a);
	cnode_free(&b);
	ledger_destroy(lb);
}

/* A restarted voter resumes the walk from what its store holds; a snapshot off its chain stops it. */
static void test_catchup_resume(struct ledger *la)
{
	struct cnode b;
	struct ledger *lb;
	uint8_t snap[CATCHUP_SNAP_BYTES];
	uint64_t top = ledger_height(la);

	if (ledger_create(&lb, &crypto_ed25519) != 0 || cnode_make(&b, 2, lb) != 0) {
		ok(0, "catch-up node");
		return;
	}
	for (uint64_t h = top / 2 + 1; h <= top; h++) /* the upper half, fetched before a crash */
		store_put(&b.st, h, chain.data[h], chain.len[h]);
	snap_of(la, top, snap);
	(void)voter_catchup_target(b.vc, 100, snap, sizeof snap);
	cnode_drain(&b);
	voter_catchup_tick(b.vc, b.cn, 10);
	cnode_drain(&b);
	ok(b.last_req_top == top / 2 && b.writes == 0,
	   "after a restart the walk goes over the stored rows and asks from below them (%llu)",
	   (unsigned long long)b.last_req_top);
	for (uint64_t h = 1; h <= top; h++) { /* then fetched and applied: the rows it holds */
		store_put(&b.st, h, chain.data[h], chain.len[h]);
		(void)voter_catchup_rebuild_block(b.vc, h, chain.data[h], chain.len[h]);
	}
	cnode_drain(&b);
	snap_of(la, top / 2, snap);
	ok(voter_catchup_target(b.vc, 50, snap, sizeof snap) == 0 && (cnode_drain(&b), 1) &&
	   !voter_catchup_broken(b.vc) && !voter_catchup_active(b.vc),
	   "a snapshot below its head that its chain holds: idle, nothing broken");
	snap[sizeof snap - 1] ^= 1;
	(void)voter_catchup_target(b.vc, 50, snap, sizeof snap);
	cnode_drain(&b);
	ok(voter_catchup_broken(b.vc), "one its chain contradicts: a broken invariant, said");
	ok(voter_catchup_target(b.vc, 50, snap, 3) == CORE_ERR_MALFORMED,
	   "snapshot bytes that do not decode: refused");
	cnode_free(&b);
	ledger_destroy(lb);
}

/* The log is compacted behind the ledger, and the store told so. */
static void test_catchup_compact(struct ledger *la)
{
	struct voter_catchup *vc;
	struct voter_catchup_effect e;
	struct consensus_status st;
	int compacted = 0;

	if (voter_catchup_create(&vc, la, 1, 8) != 0) {
		ok(0, "catch-up with compaction");
		return;
	}
	consensus_status(cons, &st);
	voter_catchup_after_pump(vc, cons, st.applied);
	while (voter_catchup_effect(vc, &e))
		compacted += e.kind == VOTER_CATCHUP_COMPACTED && e.durable != NULL &&
		             e.height == ledger_height(la);
	consensus_status(cons, &st);
	ok(compacted == 1 && st.snap_index == st.applied,
	   "idle at the applied index, 8 entries past the snapshot: compacted there, for the store");
	voter_catchup_after_pump(vc, cons, st.applied - 1);
	ok(!voter_catchup_effect(vc, &e), "not at the applied index (entries held): no compaction");
	voter_catchup_destroy(vc);
}

int main(void)
{
	struct voter_config vc;
	struct consensus_raft_params rp = { .id = 1, .seed = 1, .election_ticks = 5,
	                                    .heartbeat_ticks = 1 };
	struct raft_boot boot;
	struct ledger *l;
	struct voter *v;
	uint64_t to = 0;

	if (sodium_init() < 0)
		return 1;
	key_make(&me, 1);
	key_make(&client, 2);
	key_make(&worker, 3);
	key_make(&stranger, 4);
	memset(origin, 0x42, sizeof origin);
	if (ledger_create(&l, &crypto_ed25519) != 0)
		return 1;
	memset(&vc, 0, sizeof vc);
	vc.id = 1;
	memcpy(vc.pk, me.pk, CHORUS_PK_BYTES);
	memcpy(vc.sk, me.sk, CHORUS_SK_BYTES);
	vc.block_entries = 1; /* one entry per block: the window counts blocks */
	vc.member_known_cb = member_cb;
	ok(voter_create(&v, &vc, l) == 0, "voter_create");
	memset(&boot, 0, sizeof boot);
	boot.snap.conf.n = 1;
	boot.snap.conf.ids[0] = 1;
	ok(consensus_raft_create(&cons, &rp, &boot) == 0, "consensus_raft_create: its Raft");
	voter_set_consensus(v, cons);
	voter_ledger_of_test = l;
	test_pipeline(l, v);
	test_refusals(v);
	test_catchup_fetch(l);
	test_catchup_resume(l);
	test_catchup_compact(l);
	ok(voter_on_submit(v, 1, &to) == VOTER_QUEUE, "a leader queues a forwarded submit too");
	test_follower(l);
	voter_destroy(v);
	consensus_destroy(cons);
	ledger_destroy(l);
	store_free(&chain);
	return tap_done();
}

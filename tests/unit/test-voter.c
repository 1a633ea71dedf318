/*
 * The voter module (src/core/voter.c) driven as chorusd's shell drives it,
 * on a one-voter Raft it owns (voter_boot), with real signatures: a leader
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

#include "chorus/voter.h"
#include "core-internal.h"
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

/* The shell's pump: every ready round persisted (here: nothing to do), applied, advanced. */
static void shell_pump(struct voter *v)
{
	struct raft_ready rd;

	while (voter_raft_ready(v, &rd)) {
		for (size_t i = 0; i < rd.ncommitted; i++)
			if (rd.committed[i].type == RAFT_ENTRY_NORMAL && rd.committed[i].len > 0 &&
			    voter_apply_block(v, rd.committed[i].data, rd.committed[i].len,
			                      rd.committed[i].index) != 0)
				apply_errors++;
		voter_raft_advance(v, &rd);
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
	struct raft_status st;
	uint64_t to = 0;
	int n_ok = 0;

	for (int k = 0; k < 40 && !voter_is_leader(v); k++)
		voter_tick(v);
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
	voter_status(v, &st);
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

int main(void)
{
	struct voter_config vc;
	struct voter_raft_params rp = { .seed = 1, .election_ticks = 5, .heartbeat_ticks = 1 };
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
	ok(voter_boot(v, &rp, &boot) == 0 && voter_booted(v), "voter_boot: its own Raft");
	test_pipeline(l, v);
	test_refusals(v);
	ok(voter_on_submit(v, 1, &to) == VOTER_QUEUE, "a leader queues a forwarded submit too");
	test_follower(l);
	voter_destroy(v);
	ledger_destroy(l);
	return tap_done();
}

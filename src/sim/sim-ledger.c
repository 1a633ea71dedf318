/*
 * `chorus-sim raft --ledger`: the ledger (src/core/ledger/ledger.c) and the ledger
 * voter (src/core/ledger/voter.c, the module chorusd runs: queue, admission, block
 * pipeline, answers, forwarding, targets) on the simulated Raft nodes, with
 * the ledger invariants checked after every event.  This file holds no copy
 * of the voter's decisions: it feeds the voter events, carries its answers
 * across the simulated network, and checks every block it proposes
 * (through the voter's propose_cb) and every answer an origin gets.
 *
 * At start a bounded pool of completions is signed with real ed25519 keys
 * (SL_CLIENTS clients, SL_WORKERS workers): a client's ack naming a worker's
 * receipt, as the core hands them to ack_cb.  A few are forged (the ack
 * signed by the worker: never creditable); a few jobs have a twin (same job
 * id, another worker and result, submitted later by another origin: the job
 * is credited once, with whichever comes first).  Jobs complete (are
 * released) during chaos windows.  Each origin keeps an outbox of its
 * unanswered entries, sends a fresh one at once and re-sends the outbox
 * every SL_OUTBOX_MS to the node chorusd's rule picks (voter_target: a node
 * whose Raft leads, else any voter, rotated by the round), which forwards
 * once to the leader it knows or drops (docs/ledger-node.md).
 * A replayer re-submits old entries now and then: deliberate duplicates,
 * to whoever leads by then.  A client signs its ack again when its job is released,
 * with the floor an honest client would (sl_floor), so the ledgers' windows
 * move and forget; a leader finds an old entry below its client's floor
 * settled, which must be a job answered before (docs/ledger.md).
 *
 * A leader checks a submitted entry (ledger_entry_check_here: its
 * ledger's cache of verified entries), queues it (deduplicated by job) and
 * pipelines blocks as voterd.c: the first of its term on a final head
 * (its whole log applied and committed), the next ones with
 * ledger_block_build_on its last proposed block (the tip), at most
 * SL_INFLIGHT_MAX beyond its applied head, each a tagged Raft entry; every
 * node applies committed blocks in log order with ledger_block_apply; the
 * leader answers an origin once its job is credited.  A leader that steps
 * down drops its queue and its tip.  Submit and answer messages cross the
 * simulated network (latency, loss, duplication; node-to-node forwards also
 * partitions); origins sit outside the partitions.
 *
 * Checked after every event, on every up node: its ledger is a prefix of
 * the one chain (the first application at a height fixes that block for
 * ever: the same hash at each height on every node at all times), and its
 * stats and accounts equal a model kept at every height from the pool,
 * independently of the ledger (credited = distinct jobs in the prefix,
 * each account = the sums of the rewards of its credited jobs).  At each
 * new height: the signer led the block's term, every entry is a pool entry
 * that is not forged, no job is credited twice.  Every block a leader
 * proposes is at most SL_INFLIGHT_MAX beyond its applied head and links to
 * the one it proposed before in its term (the first, to its applied head,
 * with no block unapplied in its log).  Every answer names the
 * height the chain credits the job at.  Liveness: a calm window ends only
 * when every released job is credited on every voter and answered.  After
 * the run the chain passes ledger_verify_chain with the model's balances.
 *
 * Snapshots carry the ledger's height, head hash and state hash; the
 * ledger API has no state dump, so a node that boots from one (or installs
 * one) rebuilds its ledger by re-applying the archived blocks 1..height and
 * must reach that head and that state hash.
 *
 * With --poison (issue 13), one job in SL_POISON_ONE_IN is poison: a reward
 * of 2^53 or 10^15 between pool keys, or a job between two fresh keys that
 * are no members (forged entries already carry bad signatures); and nodes
 * with an odd id lead as older leaders, whose builder has no bound checks
 * (ledger_build_unchecked) and whose queue admits without them, so that
 * over-bound entries reach blocks.  Every voter must still apply every
 * block (apply never fails for what an entry says), each such entry ending
 * rejected ("reward over the bound") the same everywhere, its job final;
 * the model counts the rejections per height and every node's stats must
 * match them.  A leader's queue refuses a non-member's entry (the voter's
 * admission; the pool's keys are the members, and the sim's older leaders
 * keep that check: voter_config.old_members is chorusd's seam only, the
 * model has no strangers' accounts) and, on a current leader, an over-bound
 * one (ledger_entry_admit); a non-member's entry in a block, a poison entry
 * credited, or an honest entry refused (a refusal answered about a job with
 * no forged or poison entry) fail the run.
 *
 * Signatures are real ed25519, memoised: the first verification of a given
 * (key, signature, message) runs crypto_sign_verify_detached, an exact
 * repeat (all three compared byte for byte) reuses its answer.  Every node
 * re-verifies every entry it applies, and rebuilds re-apply whole chains:
 * without the memo, ed25519 would be most of the run.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "chorus/voter-catchup.h"
#include "chorus/voter.h"
#include "dispatch/jobmsg.h" /* the receipts and acks the clients sign */
#include "sim-raft.h"
#include "chorus/consensus-raft.h"

#define SL_CLIENTS       4
#define SL_WORKERS       6
#define SL_KEYS          (SL_CLIENTS + SL_WORKERS)
#define SL_FRESH_KEYS    8                 /* --poison: keys of no member */
#define SL_POISON_ONE_IN 8                 /* --poison: jobs that are poison */
#define SL_RELAY         SL_CLIENTS        /* the origin of twins and replays */
#define SL_ORIGINS       (SL_CLIENTS + 1)
#define SL_FORGED_ONE_IN 32
#define SL_TWIN_ONE_IN   16
#define SL_TWINS_WAITING 64                /* twins generated, not yet placed in the pool */
#define SL_RELEASE_ONE_IN 3                /* per chaos action: a job completes */
#define SL_BURST_ONE_IN  64                /* per chaos action: many complete at once */
#define SL_BURST_MIN     8                 /* a burst: 8 to 40 jobs, enough to fill */
#define SL_BURST_SPAN    33                /* SL_INFLIGHT_MAX small blocks */
#define SL_REPLAY_ONE_IN 10                /* per chaos action: an old entry again */
#define SL_OUTBOX_MS     300               /* origins re-send unanswered entries */
#define SL_OUTBOX_BATCH  64                /* entries per outbox message */
#define SL_PENDING_MAX   1024              /* a leader's queue */
#define SL_BLOCK_MAX     VOTER_BLOCK_ENTRIES /* entries offered to one block, as chorusd */
#define SL_INFLIGHT_MAX  VOTER_INFLIGHT_MAX  /* blocks beyond the applied head, as chorusd */
#define SL_REWARD_MAX    1000
#define SL_MEMO_SLOTS    (1u << 15)

_Static_assert(SL_BLOCK_MAX <= CHORUS_LEDGER_BLOCK_ENTRIES_MAX, "a block holds SL_BLOCK_MAX");
_Static_assert(SL_OUTBOX_BATCH <= SL_PENDING_MAX, "one outbox message fits a queue");

/* Entries offered to one block, drawn per boot: many small blocks or a few big ones. */
static const uint32_t sl_block_max[] = { 1, 4, 16, SL_BLOCK_MAX };
#define SL_NBLOCK_MAX (sizeof(sl_block_max) / sizeof(sl_block_max[0]))

enum { SL_MSG_SUBMIT = 1, SL_MSG_ANSWER = 2, SL_MSG_CATCHUP = 3 /* bytes: a backfill message */ };
#define SL_LIE_ONE_IN 8 /* --catchup: one block answer in 8 lies about its first block */

/*
 * --catchup: a node's blocks table (raft.db's `blocks` in chorusd), which
 * survives a crash but for the rows written since its last durable Raft
 * write (a power cut: sim_ledger_crash).  seq orders the writes.
 */
struct sl_row {
	uint8_t *data; /* NULL: no row */
	size_t len;
	uint64_t seq;
};
struct sl_store {
	struct sl_row *rows; /* by height */
	size_t cap;
	uint64_t seq, synced; /* rows with seq <= synced are durable */
};

struct sl_key {
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
};

/* One entry of the pool. */
struct sl_job {
	struct ledger_entry e;
	uint32_t slot;                  /* its job id; twins share it */
	uint32_t client, worker, origin; /* keys[] indexes; origin: who submits it */
	uint64_t reward;
	uint8_t forged, twin, answered;
	uint8_t poison; /* SL_POISON_* (--poison) */
	uint64_t floor; /* its ack's floor, set (and the ack signed again) when it is released */
};

enum { SL_POISON_NONE = 0, SL_POISON_OVER = 1, SL_POISON_FRESH = 2 };

/* One job id. */
struct sl_slot {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint32_t job[2]; /* pool entries with this id: the first, and a twin */
	uint32_t njob;
	uint64_t credit_height; /* in the one chain; 0: not credited */
	uint64_t reject_height; /* in the one chain, rejected (poison); 0: not */
};

/* The one chain at height h (slot 0: genesis) and the model's state there. */
struct sl_height {
	uint8_t *data;
	size_t len;
	uint8_t hash[LEDGER_HASH_BYTES];
	uint64_t term, credited, entries, total, accounts, digest, rejected;
};

struct sl_node {
	struct ledger *l; /* NULL while down */
	struct voter *v;  /* the shipped voter (src/core/ledger/voter.c) on l; NULL while down */
	struct consensus *cons; /* its log: the node's Raft through consensus-raft.c (borrowed) */
	/*
	 * --catchup: the shipped catch-up module (src/core/ledger/voter-catchup.c) on l,
	 * the node's blocks table, and what its ledger reflects of Raft: held_next
	 * (0: in step; else the next committed entry to apply from the log once
	 * the backfill ends) and shadow (the ledger height as of Raft's applied
	 * index: what the history check compares).
	 */
	struct voter_catchup *vc;
	struct sl_store bs;
	uint64_t held_next, shadow, tick_ms;
	uint64_t want_height;                    /* the snapshot's state to check once reached */
	uint8_t want_state[LEDGER_HASH_BYTES];
	struct sr *s;     /* for the voter's callbacks */
	struct sr_node *n;
	struct sl_key key;
	uint32_t block_max;
	uint64_t checked_height;
	int checked;
	/*
	 * What the checks remember of the last block this node proposed, from
	 * the block's own bytes (not from tip): kept across crashes, since a
	 * node never leads a term twice.
	 */
	uint64_t prop_term, prop_height;
	uint8_t prop_hash[LEDGER_HASH_BYTES];
	int old; /* --poison: leads as an older leader (no bound checks) */
};

struct sl_item {
	uint32_t job;    /* submit: pool index; answer: slot */
	uint64_t height; /* answer: where the job is final (the voter's answer) */
	uint8_t kind;    /* answer: enum voter_answer_kind */
};

struct sl_msg {
	uint8_t type, forwarded;
	uint32_t origin, n;
	uint32_t blen; /* SL_MSG_CATCHUP: bytes after the items */
	struct sl_item items[];
};

struct sim_ledger {
	struct sim_rng rng;
	struct sl_key keys[SL_KEYS + SL_FRESH_KEYS]; /* the members', then (--poison) strangers' */
	int poison;
	uint32_t key_order[SL_KEYS]; /* keys[] by ascending public key: the ledger's order */
	struct sl_job *jobs;
	uint32_t njobs, nreleased; /* released: jobs[0..nreleased) */
	struct sl_slot *slots;
	uint32_t nslots;
	uint32_t *slot_sorted; /* slots by id, for lookups */
	struct sl_height *chain;
	size_t nchain, capchain; /* height of the chain; chain[0..nchain] */
	/* The model, at the chain's head. */
	uint64_t earned[SL_KEYS], spent[SL_KEYS], jobs_run[SL_KEYS], jobs_paid[SL_KEYS];
	uint64_t credited, entries, total, rejected_chain;
	struct sl_node nodes[SR_NODES_MAX + 1];
	uint64_t next_round_ms[SL_ORIGINS];
	unsigned round[SL_ORIGINS];   /* outbox rounds: rotate the origin's target */
	struct voter_stats vdone;     /* the counters of the voters destroyed so far */
	/* Counters. */
	uint64_t forged, twins, twin_credited, submits, forwards, dropped, replays;
	uint64_t answers, proposed, applied, rebuilds, rebuilt_blocks, checks, lost, to_down, cut;
	uint64_t on_tip, inflight_max;
	uint64_t vcache_hits; /* of the ledgers destroyed so far */
	uint64_t bursts, settled_submits;
	uint64_t poison_over, poison_fresh, refused_answers, old_blocks;
	/* --catchup */
	int catchup;
	uint64_t cu_backfills, cu_fetched, cu_rows_lost, cu_held_applied, cu_lies;
	uint64_t cu_stale, cu_msgs, cu_rebuilt;
};

/* ---------------------------------------------------------------- memoised ed25519 */

struct sl_memo {
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sig[CHORUS_SIG_BYTES];
	uint8_t *msg; /* NULL: empty slot */
	size_t len;
	int good;
};

/* core_crypto callbacks have no context: one memo for the process (one run). */
static struct sl_memo *sl_memo;
static size_t sl_memo_used;
static uint64_t sl_memo_hits, sl_memo_misses;

static void sl_sign(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                    const uint8_t sk[CHORUS_SK_BYTES])
{
	crypto_sign_detached(sig, NULL, msg, len, sk);
}

/*
 * ed25519, remembered: a slot is found from the signature's bytes (random
 * enough), and a hit needs the same key, signature and message, compared
 * in full; anything else is verified by libsodium.
 */
static int sl_verify(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
                     const uint8_t pk[CHORUS_PK_BYTES])
{
	struct sl_memo *m;
	size_t i;
	int good;

	for (i = (codec_get_u64(sig) ^ codec_get_u64(sig + 32)) & (SL_MEMO_SLOTS - 1);
	     sl_memo[i].msg != NULL; i = (i + 1) & (SL_MEMO_SLOTS - 1)) {
		m = &sl_memo[i];
		if (m->len == len && memcmp(m->sig, sig, CHORUS_SIG_BYTES) == 0 &&
		    memcmp(m->pk, pk, CHORUS_PK_BYTES) == 0 && memcmp(m->msg, msg, len) == 0) {
			sl_memo_hits++;
			return m->good ? 0 : -1;
		}
	}
	sl_memo_misses++;
	good = crypto_sign_verify_detached(sig, msg, len, pk) == 0;
	if (4 * (sl_memo_used + 1) <= 3 * SL_MEMO_SLOTS) { /* past 3/4: verify, do not remember */
		m = &sl_memo[i];
		if ((m->msg = malloc(len > 0 ? len : 1)) == NULL)
			abort();
		memcpy(m->msg, msg, len);
		m->len = len;
		memcpy(m->sig, sig, CHORUS_SIG_BYTES);
		memcpy(m->pk, pk, CHORUS_PK_BYTES);
		m->good = good;
		sl_memo_used++;
	}
	return good ? 0 : -1;
}

static const struct core_crypto sl_crypto = {
	.name = "ed25519-memo",
	.sign = sl_sign,
	.verify = sl_verify,
};

/* ---------------------------------------------------------------- the pool */

static void sl_key_make(struct sim_ledger *L, struct sl_key *k)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	for (size_t i = 0; i < sizeof(seed); i += 8)
		codec_put_u64(seed + i, sim_rng_next(&L->rng));
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

/*
 * The floor an honest client signs (acks.c, docs/ledger.md): the oldest seq
 * of its jobs with a valid entry (its own or a twin) not yet answered,
 * released or not (a seq here is fixed when the pool is made, so one not
 * released yet counts as open), or the ack's own.
 */
static uint64_t sl_floor(const struct sim_ledger *L, const struct sl_job *j, uint64_t seq)
{
	uint64_t f = seq;

	for (uint32_t k = 0; k < L->njobs; k++) {
		const struct sl_job *o = &L->jobs[k];

		if (o->client == j->client && !o->answered && !o->forged &&
		    o->poison != SL_POISON_FRESH && o->slot + 1u < f)
			f = o->slot + 1u;
	}
	return f;
}

/* A signed completion of job (client, nonce) by worker, as jobmsg.c encodes it. */
static void sl_entry_make(struct sim_ledger *L, struct sl_job *j, uint64_t nonce)
{
	const struct sl_key *c = &L->keys[j->client], *w = &L->keys[j->worker];
	struct jreceipt r;
	struct jack a;
	uint8_t res[16];
	int n;

	memset(&r, 0, sizeof(r));
	jobmsg_job_id(r.id, c->pk, nonce);
	memcpy(r.client, c->pk, CHORUS_PK_BYTES);
	memcpy(r.worker, w->pk, CHORUS_PK_BYTES);
	strcpy(r.kind, "echo");
	strcpy(r.status, "ok");
	codec_put_u64(res, nonce);
	codec_put_u64(res + 8, j->worker);
	jobmsg_hash(r.result_hash, res, sizeof(res));
	r.result_size = sizeof(res);
	r.duration_ms = 1 + sim_rng_below(&L->rng, 5000);
	n = jobmsg_receipt_encode(j->e.receipt_text, sizeof(j->e.receipt_text), &r);
	if (n <= 0)
		abort();
	j->e.receipt_len = (uint16_t)n;
	batchsig_sign_one(NULL, w->sk, j->e.receipt_text, j->e.receipt_len, &j->e.receipt_auth);

	memset(&a, 0, sizeof(a));
	a.nonce = nonce;
	/* A seq per job id (a twin shares it); the floor: sl_floor, when it is released. */
	a.seq = nonce;
	a.floor = j->floor;
	memcpy(a.id, r.id, CHORUS_JOB_ID_BYTES);
	memcpy(a.client, c->pk, CHORUS_PK_BYTES);
	a.has_worker = 1;
	memcpy(a.worker, w->pk, CHORUS_PK_BYTES);
	strcpy(a.kind, "echo");
	strcpy(a.status, "succeeded");
	memcpy(a.result_hash, r.result_hash, JOBMSG_HASH_BYTES);
	a.attempts = 1 + (unsigned)sim_rng_below(&L->rng, 3);
	a.reward = j->reward;
	jobmsg_hash(a.receipt_hash, j->e.receipt_text, j->e.receipt_len);
	n = jobmsg_ack_encode(j->e.ack_text, sizeof(j->e.ack_text), &a);
	if (n <= 0)
		abort();
	j->e.ack_len = (uint16_t)n;
	/* A forged ack: signed by the worker, not by the client it names. */
	batchsig_sign_one(NULL, j->forged ? w->sk : c->sk, j->e.ack_text, j->e.ack_len, &j->e.ack_auth);
}

/* --poison: job j (its origin kept) becomes an over-bound reward or a job of strangers. */
static void sl_poison_make(struct sim_ledger *L, struct sl_job *j)
{
	j->poison = sim_rng_below(&L->rng, 2) == 0 ? SL_POISON_OVER : SL_POISON_FRESH;
	if (j->poison == SL_POISON_OVER) {
		j->reward = sim_rng_below(&L->rng, 2) == 0 ? 1ULL << 53 : 1000000000000000ULL;
		L->poison_over++;
	} else {
		j->client = SL_KEYS + (uint32_t)sim_rng_below(&L->rng, SL_FRESH_KEYS);
		j->worker = SL_KEYS + (uint32_t)sim_rng_below(&L->rng, SL_FRESH_KEYS);
		L->poison_fresh++;
	}
}

/* Pool entry k: the first entry of a new job id, or (twin_of) a twin of an earlier one. */
static void sl_job_make(struct sim_ledger *L, uint32_t k, const struct sl_slot *twin_of)
{
	struct sl_job *j = &L->jobs[k];
	struct sl_slot *sl;

	memset(j, 0, sizeof(*j));
	if (twin_of != NULL) {
		const struct sl_job *first = &L->jobs[twin_of->job[0]];

		j->slot = (uint32_t)(twin_of - L->slots);
		j->client = first->client;
		/* Another worker than the first entry's. */
		j->worker = first->worker - SL_CLIENTS + 1 +
		            (uint32_t)sim_rng_below(&L->rng, SL_WORKERS - 1);
		j->worker = SL_CLIENTS + j->worker % SL_WORKERS;
		j->reward = first->reward; /* the client states the same reward for the job */
		j->origin = SL_RELAY;
		j->twin = 1;
		L->twins++;
	} else {
		j->slot = L->nslots++;
		j->client = (uint32_t)sim_rng_below(&L->rng, SL_CLIENTS);
		j->worker = SL_CLIENTS + (uint32_t)sim_rng_below(&L->rng, SL_WORKERS);
		j->reward = sim_rng_below(&L->rng, SL_REWARD_MAX + 1);
		j->origin = j->client;
		j->forged = sim_rng_below(&L->rng, SL_FORGED_ONE_IN) == 0;
		L->forged += j->forged;
		if (L->poison && !j->forged && sim_rng_below(&L->rng, SL_POISON_ONE_IN) == 0)
			sl_poison_make(L, j);
	}
	sl = &L->slots[j->slot];
	sl->job[sl->njob++] = k;
	/* The nonce is the slot: one job id per slot, the same for a twin. */
	sl_entry_make(L, j, (uint64_t)j->slot + 1);
	if (twin_of == NULL)
		jobmsg_job_id(sl->id, L->keys[j->client].pk, (uint64_t)j->slot + 1);
}

static struct sim_ledger *sl_global_sort_ctx;

static int sl_slot_cmp(const void *a, const void *b)
{
	const struct sim_ledger *L = sl_global_sort_ctx;

	return memcmp(L->slots[*(const uint32_t *)a].id, L->slots[*(const uint32_t *)b].id,
	              CHORUS_JOB_ID_BYTES);
}

static int sl_key_cmp(const void *a, const void *b)
{
	const struct sim_ledger *L = sl_global_sort_ctx;

	return memcmp(L->keys[*(const uint32_t *)a].pk, L->keys[*(const uint32_t *)b].pk,
	              CHORUS_PK_BYTES);
}

/* The pool: jobs in order, each twin 4 to 43 entries from its job's first entry, either side. */
static void sl_pool_make(struct sim_ledger *L)
{
	struct {
		uint32_t slot, due;
	} wait[SL_TWINS_WAITING];
	size_t nwait = 0;

	for (uint32_t k = 0; k < L->njobs; k++) {
		if (nwait > 0 && wait[0].due <= k) {
			struct sl_slot *sl = &L->slots[wait[0].slot];

			sl_job_make(L, k, sl);
			if (sim_rng_below(&L->rng, 2) == 0) { /* the twin goes first */
				struct sl_job t = L->jobs[sl->job[0]];

				L->jobs[sl->job[0]] = L->jobs[k];
				L->jobs[k] = t;
			}
			memmove(wait, wait + 1, --nwait * sizeof(wait[0]));
			continue;
		}
		sl_job_make(L, k, NULL);
		if (!L->jobs[k].forged && !L->jobs[k].poison && nwait < SL_TWINS_WAITING &&
		    sim_rng_below(&L->rng, SL_TWIN_ONE_IN) == 0) {
			wait[nwait].slot = L->jobs[k].slot;
			wait[nwait++].due = k + 4 + (uint32_t)sim_rng_below(&L->rng, 40);
		}
	}
	for (uint32_t i = 0; i < L->nslots; i++)
		L->slot_sorted[i] = i;
	for (uint32_t i = 0; i < SL_KEYS; i++)
		L->key_order[i] = i;
	sl_global_sort_ctx = L;
	qsort(L->slot_sorted, L->nslots, sizeof(*L->slot_sorted), sl_slot_cmp);
	qsort(L->key_order, SL_KEYS, sizeof(*L->key_order), sl_key_cmp);
	sl_global_sort_ctx = NULL;
}

/* The slot of a job id, or -1. */
static long sl_slot_find(const struct sim_ledger *L, const uint8_t id[CHORUS_JOB_ID_BYTES])
{
	size_t lo = 0, hi = L->nslots;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(L->slots[L->slot_sorted[mid]].id, id, CHORUS_JOB_ID_BYTES);

		if (c == 0)
			return (long)L->slot_sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static uint64_t sl_digest_model(const struct sim_ledger *L, uint64_t *naccounts);

int sim_ledger_create(struct sr *s, uint32_t njobs)
{
	struct sim_ledger *L = calloc(1, sizeof(*L));

	if (L == NULL)
		return -1;
	s->ledger = L;
#ifdef M_MMAP_THRESHOLD
	/*
	 * Every boot creates a ledger (4 MiB of accounts, calloc'd).  glibc
	 * raises its mmap threshold once such a block is freed, and then
	 * memsets each new one from the heap: a third of a run.  A fixed
	 * threshold keeps them mmap'd, zero pages touched only where used.
	 */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
	/* Its own stream, so that the pool does not depend on how the run goes. */
	sim_rng_seed(&L->rng, s->seed ^ 0x6c65646765720000ULL);
	L->poison = s->poison;
	L->catchup = s->catchup;
	L->njobs = njobs;
	L->jobs = calloc(njobs, sizeof(*L->jobs));
	L->slots = calloc(njobs, sizeof(*L->slots));
	L->slot_sorted = calloc(njobs, sizeof(*L->slot_sorted));
	L->capchain = 256;
	L->chain = calloc(L->capchain, sizeof(*L->chain));
	sl_memo = calloc(SL_MEMO_SLOTS, sizeof(*sl_memo));
	if (L->jobs == NULL || L->slots == NULL || L->slot_sorted == NULL ||
	    L->chain == NULL || sl_memo == NULL)
		return -1;
	sl_memo_used = 0;
	sl_memo_hits = sl_memo_misses = 0;
	for (uint32_t i = 0; i < SL_KEYS; i++)
		sl_key_make(L, &L->keys[i]);
	for (uint32_t i = SL_KEYS; L->poison && i < SL_KEYS + SL_FRESH_KEYS; i++)
		sl_key_make(L, &L->keys[i]);
	for (uint32_t i = 1; i <= s->nnodes; i++) {
		sl_key_make(L, &L->nodes[i].key);
		L->nodes[i].s = s;
		L->nodes[i].n = &s->nodes[i];
	}
	sl_pool_make(L);
	L->chain[0].digest = sl_digest_model(L, &L->chain[0].accounts); /* genesis: no account */
	return 0;
}

void sim_ledger_free(struct sr *s)
{
	struct sim_ledger *L = s->ledger;

	if (L == NULL)
		return;
	for (uint32_t i = 0; i <= SR_NODES_MAX; i++) {
		voter_destroy(L->nodes[i].v);
		consensus_destroy(L->nodes[i].cons);
		voter_catchup_destroy(L->nodes[i].vc);
		for (size_t h = 0; h < L->nodes[i].bs.cap; h++)
			free(L->nodes[i].bs.rows[h].data);
		free(L->nodes[i].bs.rows);
		ledger_destroy(L->nodes[i].l);
		sodium_memzero(&L->nodes[i].key, sizeof(L->nodes[i].key));
	}
	for (size_t h = 0; h <= L->nchain && L->chain != NULL; h++)
		free(L->chain[h].data);
	free(L->chain);
	free(L->jobs);
	free(L->slots);
	free(L->slot_sorted);
	for (size_t i = 0; sl_memo != NULL && i < SL_MEMO_SLOTS; i++)
		free(sl_memo[i].msg);
	free(sl_memo);
	sl_memo = NULL;
	free(L);
	s->ledger = NULL;
}

/* ---------------------------------------------------------------- the model */

static uint64_t sl_fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t sl_digest_account(uint64_t h, const uint8_t key[CHORUS_PK_BYTES], uint64_t earned,
                                  uint64_t spent, uint64_t run, uint64_t paid)
{
	uint8_t u[32];

	codec_put_u64(u, earned);
	codec_put_u64(u + 8, spent);
	codec_put_u64(u + 16, run);
	codec_put_u64(u + 24, paid);
	return sl_fnv(sl_fnv(h, key, CHORUS_PK_BYTES), u, sizeof(u));
}

/* The model's accounts (keys with a credited job) in key order: their count and digest. */
static uint64_t sl_digest_model(const struct sim_ledger *L, uint64_t *naccounts)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	*naccounts = 0;
	for (uint32_t i = 0; i < SL_KEYS; i++) {
		uint32_t k = L->key_order[i];

		if (L->jobs_run[k] + L->jobs_paid[k] == 0)
			continue;
		(*naccounts)++;
		h = sl_digest_account(h, L->keys[k].pk, L->earned[k], L->spent[k], L->jobs_run[k],
		                      L->jobs_paid[k]);
	}
	return h;
}

static uint64_t sl_digest_ledger(const struct ledger *l, size_t naccounts)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	struct ledger_account a;

	for (size_t i = 0; i < naccounts; i++) {
		if (ledger_account_at(l, i, &a) != 0)
			return 0;
		h = sl_digest_account(h, a.key, a.earned, a.spent, a.jobs_run, a.jobs_paid);
	}
	return h;
}

/* The raft id of the node whose key signed a block, or 0. */
static uint64_t sl_node_of(const struct sr *s, const uint8_t pk[CHORUS_PK_BYTES])
{
	for (uint32_t i = 1; i <= s->nnodes; i++)
		if (memcmp(s->ledger->nodes[i].key.pk, pk, CHORUS_PK_BYTES) == 0)
			return i;
	return 0;
}

/* One entry of a new block (its JSON view): a pool entry, never forged, its job never credited. */
static void sl_model_entry(struct sr *s, uint64_t height, const cJSON *e)
{
	struct sim_ledger *L = s->ledger;
	const cJSON *job = cJSON_GetObjectItemCaseSensitive(e, "job");
	const cJSON *worker = cJSON_GetObjectItemCaseSensitive(e, "worker");
	const cJSON *reward = cJSON_GetObjectItemCaseSensitive(e, "reward");
	uint8_t id[CHORUS_JOB_ID_BYTES], wpk[CHORUS_PK_BYTES];
	const struct sl_job *j = NULL;
	struct sl_slot *sl;
	long slot;

	if (!cJSON_IsString(job) || !cJSON_IsString(worker) || !cJSON_IsNumber(reward) ||
	    sodium_hex2bin(id, sizeof(id), job->valuestring, strlen(job->valuestring), NULL, NULL,
	                   NULL) != 0 ||
	    sodium_hex2bin(wpk, sizeof(wpk), worker->valuestring, strlen(worker->valuestring), NULL,
	                   NULL, NULL) != 0 ||
	    (slot = sl_slot_find(L, id)) < 0) {
		sr_failf(s, "ledger: block %" PRIu64 " holds an entry that is not from the pool",
		         height);
		return;
	}
	sl = &L->slots[slot];
	for (uint32_t k = 0; k < sl->njob; k++) {
		const struct sl_job *c = &L->jobs[sl->job[k]];

		if (memcmp(L->keys[c->worker].pk, wpk, CHORUS_PK_BYTES) == 0 &&
		    (double)c->reward == reward->valuedouble)
			j = c;
	}
	if (j == NULL || j->forged || j->poison == SL_POISON_FRESH) {
		sr_failf(s, "ledger: block %" PRIu64 " credits job %.16s... with %s entry", height,
		         job->valuestring, j == NULL ? "an unknown" : j->forged ? "a forged"
		                                                             : "a non-member's");
		return;
	}
	L->entries++;
	if (sl->reject_height != 0) {
		sr_failf(s, "ledger: block %" PRIu64 " holds job %.16s... again (rejected at %" PRIu64
		            ")", height, job->valuestring, sl->reject_height);
		return;
	}
	if (j->poison == SL_POISON_OVER) { /* an older leader's: rejected, the job final */
		sl->reject_height = height;
		L->rejected_chain++;
		return;
	}
	if (sl->credit_height != 0) {
		sr_failf(s, "ledger: block %" PRIu64 " credits job %.16s... again (credited at %" PRIu64
		            "): an honest leader never repeats a job it credited or has in flight",
		         height, job->valuestring, sl->credit_height);
		return;
	}
	sl->credit_height = height;
	L->twin_credited += j->twin;
	L->credited++;
	L->total += j->reward;
	L->earned[j->worker] += j->reward;
	L->jobs_run[j->worker]++;
	L->spent[j->client] += j->reward;
	L->jobs_paid[j->client]++;
}

/* A block applied at height nchain + 1 for the first time: it is the chain's, for ever. */
static void sl_chain_append(struct sr *s, const uint8_t *b, size_t len)
{
	struct sim_ledger *L = s->ledger;
	struct ledger_block_info bi;
	struct sl_height *hd;
	const cJSON *e;
	cJSON *json;
	uint64_t signer;

	if (ledger_block_peek(b, len, &bi) != 0 || bi.height != L->nchain + 1) {
		sr_failf(s, "ledger: an applied block does not peek at height %zu", L->nchain + 1);
		return;
	}
	signer = sl_node_of(s, bi.leader);
	if (signer == 0 || bi.term >= s->capterm || s->leader_of[bi.term] != signer) {
		sr_failf(s, "ledger: block %" PRIu64 " of term %" PRIu64 " is signed by node %" PRIu64
		            ", which did not lead that term",
		         bi.height, bi.term, signer);
		return;
	}
	if ((json = ledger_block_to_json(b, len)) == NULL) {
		sr_failf(s, "ledger: block %" PRIu64 " has no JSON view", bi.height);
		return;
	}
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(json, "entries"))
		sl_model_entry(s, bi.height, e);
	cJSON_Delete(json);
	if (L->nchain + 1 >= L->capchain) {
		L->capchain *= 2;
		if ((L->chain = realloc(L->chain, L->capchain * sizeof(*L->chain))) == NULL)
			abort();
	}
	hd = &L->chain[++L->nchain];
	memset(hd, 0, sizeof(*hd));
	if ((hd->data = malloc(len)) == NULL)
		abort();
	memcpy(hd->data, b, len);
	hd->len = len;
	memcpy(hd->hash, bi.hash, LEDGER_HASH_BYTES);
	hd->term = bi.term;
	hd->credited = L->credited;
	hd->rejected = L->rejected_chain;
	hd->entries = L->entries;
	hd->total = L->total;
	hd->digest = sl_digest_model(L, &hd->accounts);
}

/* ---------------------------------------------------------------- nodes' ledgers */

static void sl_vstats_add(struct voter_stats *to, const struct voter_stats *a)
{
	to->refused += a->refused;
	to->refused_member += a->refused_member;
	to->refused_bound += a->refused_bound;
	to->refused_window += a->refused_window;
	to->skipped_blocks += a->skipped_blocks;
	to->proposed += a->proposed;
	to->answer_rounds += a->answer_rounds;
	to->unproposed_drops += a->unproposed_drops;
	to->answers_lost += a->answers_lost;
	to->logs_lost += a->logs_lost;
}

/* The voters' counters: those destroyed so far and the live ones. */
static void sl_vstats(const struct sr *s, struct voter_stats *out)
{
	*out = s->ledger->vdone;
	for (uint32_t i = 1; i <= s->nnodes; i++) {
		struct voter_stats vs;

		if (s->ledger->nodes[i].v == NULL)
			continue;
		voter_stats(s->ledger->nodes[i].v, &vs);
		sl_vstats_add(out, &vs);
	}
}

/* A node's ledger goes (a crash, a reboot): its count of cache hits is kept. */
static void sl_ledger_drop(struct sim_ledger *L, struct sl_node *ln)
{
	struct ledger_stats st;

	struct voter_stats vs;

	if (ln->l == NULL)
		return;
	ledger_stats(ln->l, &st);
	L->vcache_hits += st.verify_cache_hits;
	voter_stats(ln->v, &vs);
	sl_vstats_add(&L->vdone, &vs);
	voter_destroy(ln->v);
	ln->v = NULL;
	consensus_destroy(ln->cons);
	ln->cons = NULL;
	voter_catchup_destroy(ln->vc);
	ln->vc = NULL;
	ledger_destroy(ln->l);
	ln->l = NULL;
}

static int sl_propose_cb(void *ctx, const uint8_t *block, uint32_t len);

/* The pool's keys are the members: the voter admits their entries only. */
static int sl_member_cb(void *ctx, const uint8_t pk[CHORUS_PK_BYTES])
{
	const struct sl_node *ln = ctx;

	for (uint32_t k = 0; k < SL_KEYS; k++)
		if (memcmp(ln->s->ledger->keys[k].pk, pk, CHORUS_PK_BYTES) == 0)
			return 1;
	return 0;
}

/* The voter reaches the node's Raft (replaced at each restart) through the consensus interface. */
static void sl_attach(struct sl_node *ln)
{
	consensus_raft_attach(ln->cons, ln->n->r);
	voter_set_consensus(ln->v, ln->n->r != NULL ? ln->cons : NULL);
}

/* The shipped voter on ln's new ledger, configured as chorusd's (block size drawn per boot). */
static int sl_voter_create(struct sl_node *ln)
{
	struct voter_config vc;

	memset(&vc, 0, sizeof vc);
	vc.id = ln->n->id;
	memcpy(vc.pk, ln->key.pk, CHORUS_PK_BYTES);
	memcpy(vc.sk, ln->key.sk, CHORUS_SK_BYTES);
	vc.block_entries = ln->block_max;
	vc.pending_max = SL_PENDING_MAX;
	vc.entry_overhead = SR_ENTRY_PREFIX;
	vc.old_leader = ln->old;
	vc.propose_cb = sl_propose_cb;
	vc.member_known_cb = sl_member_cb;
	vc.ctx = ln;
	if (consensus_raft_wrap(&ln->cons, NULL) != 0)
		return CORE_ERR_NOMEM;
	return voter_create(&ln->v, &vc, ln->l);
}

/* ---------------------------------------------------------------- catch-up (--catchup) */

static struct sl_msg *sl_msg_new(uint8_t type, uint32_t origin, uint32_t max);
static void sl_send(struct sr *s, uint32_t from, uint32_t to, struct sl_msg *m);

static void sl_bs_put(struct sl_store *bs, uint64_t h, const uint8_t *data, size_t len)
{
	if (h >= bs->cap) {
		size_t cap = bs->cap ? bs->cap : 64;

		while (cap <= h)
			cap *= 2;
		if ((bs->rows = realloc(bs->rows, cap * sizeof(*bs->rows))) == NULL)
			abort();
		memset(bs->rows + bs->cap, 0, (cap - bs->cap) * sizeof(*bs->rows));
		bs->cap = cap;
	}
	free(bs->rows[h].data);
	if ((bs->rows[h].data = malloc(len)) == NULL)
		abort();
	memcpy(bs->rows[h].data, data, len);
	bs->rows[h].len = len;
	bs->rows[h].seq = ++bs->seq;
}

static const struct sl_row *sl_bs_get(const struct sl_store *bs, uint64_t h)
{
	return h < bs->cap && bs->rows[h].data != NULL ? &bs->rows[h] : NULL;
}

/*
 * A power cut: the rows written since the node's last durable Raft write
 * (chorusd writes blocks with synchronous=NORMAL; the next FULL commit on
 * the WAL makes them durable) are lost from some point in write order on.
 */
static void sl_bs_crash(struct sim_ledger *L, struct sl_store *bs)
{
	uint64_t cut;

	if (bs->seq <= bs->synced || sim_rng_below(&L->rng, 2) == 0)
		return;
	cut = bs->synced + sim_rng_below(&L->rng, (uint32_t)(bs->seq - bs->synced));
	for (size_t h = 0; h < bs->cap; h++)
		if (bs->rows[h].data != NULL && bs->rows[h].seq > cut) {
			free(bs->rows[h].data);
			bs->rows[h].data = NULL;
			L->cu_rows_lost++;
		}
}

/*
 * A lying voter, now and then: one byte of the first block it serves is
 * changed where the block's hash covers it.  The asker must refuse it
 * (the walk's hash check); a block off the chain that reached its table
 * fails the run (sl_cu_drain).
 */
static void sl_cu_lie(struct sim_ledger *L, uint8_t *body, size_t len)
{
	size_t at = CATCHUP_BLOCKS_HEADER + 4, blen;

	if (len <= at || body[0] != CATCHUP_MSG_BLOCKS || sim_rng_below(&L->rng, SL_LIE_ONE_IN) != 0)
		return;
	blen = codec_get_u32(body + at - 4);
	if (blen < 2 * CHORUS_SIG_BYTES || at + blen > len)
		return;
	body[at + blen / 2] ^= 0x01; /* its entries: neither its height nor its signature */
	L->cu_lies++;
}

/* The module's effects, as src/node/catchup.c turns them into I/O, with the chain checked. */
static void sl_cu_drain(struct sr *s, struct sr_node *n)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln = &L->nodes[n->id];
	struct voter_catchup_effect e;

	for (int k = 0; k < 4096 && !s->failed && voter_catchup_effect(ln->vc, &e); k++) {
		const struct sl_row *row;
		struct sl_msg *m;

		switch (e.kind) {
		case VOTER_CATCHUP_SEND:
			m = sl_msg_new(SL_MSG_CATCHUP, 0, 0);
			if ((m = realloc(m, sizeof(*m) + e.len)) == NULL)
				abort();
			memcpy(m->items, e.data, e.len);
			m->blen = (uint32_t)e.len;
			sl_cu_lie(L, (uint8_t *)m->items, e.len);
			L->cu_msgs++;
			sl_send(s, (uint32_t)n->id, (uint32_t)e.to, m);
			break;
		case VOTER_CATCHUP_READ:
			row = sl_bs_get(&ln->bs, e.height);
			voter_catchup_read_done(ln->vc, e.tag, e.height, row ? row->data : NULL,
			                        row ? row->len : 0);
			break;
		case VOTER_CATCHUP_WRITE:
			/* Only a block of the one chain may be stored: proven before it is applied. */
			if (e.height > L->nchain || L->chain[e.height].len != e.len ||
			    memcmp(L->chain[e.height].data, e.data, e.len) != 0) {
				sr_failf(s, "ledger: node %" PRIu64 ": catch-up stores a block at %" PRIu64
				            " that is not the chain's", n->id, e.height);
				return;
			}
			sl_bs_put(&ln->bs, e.height, e.data, e.len);
			L->cu_fetched++;
			break;
		case VOTER_CATCHUP_APPLIED:
			L->cu_rebuilt++;
			break;
		default:
			break;
		}
	}
	if (voter_catchup_broken(ln->vc))
		sr_failf(s, "ledger: node %" PRIu64 ": catch-up saw a broken invariant", n->id);
}

/* Reached the snapshot's point: the state must be the snapshot's (the model's there). */
static void sl_cu_check_state(struct sr *s, struct sr_node *n)
{
	struct sl_node *ln = &s->ledger->nodes[n->id];
	uint8_t state[LEDGER_HASH_BYTES];

	if (ln->want_height == 0 || voter_catchup_active(ln->vc) ||
	    ledger_height(ln->l) < ln->want_height)
		return;
	if (ledger_height(ln->l) == ln->want_height) {
		ledger_state_hash(ln->l, state);
		if (memcmp(state, ln->want_state, LEDGER_HASH_BYTES) != 0)
			sr_failf(s, "ledger: node %" PRIu64 ": caught up to %" PRIu64 " with another state"
			            " than the snapshot's", n->id, ln->want_height);
	}
	ln->want_height = 0;
}

/* A snapshot's ledger point becomes the catch-up target; entries after it are held. */
static void sl_cu_target(struct sr *s, struct sr_node *n, const struct raft_snapshot *snap,
                         uint64_t height)
{
	struct sl_node *ln = &s->ledger->nodes[n->id];
	uint8_t bytes[CATCHUP_SNAP_BYTES];

	catchup_snap_encode(height, height > 0 ? snap->data + 32 : (const uint8_t[LEDGER_HASH_BYTES]){ 0 },
	                    bytes);
	if (voter_catchup_target(ln->vc, snap->index, bytes, sizeof bytes) != 0) {
		sr_failf(s, "ledger: node %" PRIu64 ": catch-up refuses the snapshot at %" PRIu64, n->id,
		         snap->index);
		return;
	}
	sl_cu_drain(s, n);
	if (height > 0) {
		ln->want_height = height;
		memcpy(ln->want_state, snap->data + 32 + LEDGER_HASH_BYTES, LEDGER_HASH_BYTES);
	}
	ln->shadow = height;
	ln->held_next = voter_catchup_active(ln->vc) ? snap->index + 1 : 0;
	if (ln->held_next != 0)
		s->ledger->cu_backfills++;
	sl_cu_check_state(s, n);
}

/* Boot: the ledger from the node's own blocks table (contiguous rows from 1), then the target. */
static void sl_cu_boot(struct sr *s, struct sr_node *n, const struct raft_snapshot *snap,
                       uint64_t height)
{
	struct sl_node *ln = &s->ledger->nodes[n->id];
	const struct sl_row *row;
	int r = 0;

	if (voter_catchup_create(&ln->vc, ln->l, n->id, 0) != 0)
		abort();
	for (uint64_t h = 1; r == 0 && (row = sl_bs_get(&ln->bs, h)) != NULL; h++) {
		if ((r = voter_catchup_rebuild_block(ln->vc, h, row->data, row->len)) < 0)
			sr_failf(s, "ledger: node %" PRIu64 ": its stored block %" PRIu64 " does not apply",
			         n->id, h);
		sl_cu_drain(s, n); /* after each, as the shell does (catchup_rebuild_cb) */
	}
	sl_cu_target(s, n, snap, height);
}

/* One committed block into n's ledger (and, with --catchup, its blocks table). */
static void sl_apply_block(struct sr *s, struct sr_node *n, const uint8_t *b, size_t len,
                           uint64_t index)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln = &L->nodes[n->id];
	struct ledger_block_info bi;
	int err = voter_apply_block(ln->v, b, len, index);

	/*
	 * STALE only after a reboot whose blocks table ran ahead of its snapshot
	 * (the applied index is not saved: chorusd applies the log again), and
	 * only for the chain's own block: a leader's first block of a term is on
	 * a final head and the next ones on its tip, so no two committed blocks
	 * share a height.
	 */
	if (err == CORE_ERR_STALE && L->catchup && ledger_block_peek(b, len, &bi) == 0 &&
	    bi.height <= L->nchain && memcmp(bi.hash, L->chain[bi.height].hash, LEDGER_HASH_BYTES) == 0) {
		L->cu_stale++;
		return;
	}
	if (err != 0) {
		sr_failf(s, "ledger: node %" PRIu64 " cannot apply the block committed at %" PRIu64
		            ": %s (%s)",
		         n->id, index, core_strerror(err), ledger_why(ln->l));
		return;
	}
	L->applied++;
	if (L->catchup) /* the shell keeps each applied block (voterd_keep_block) */
		sl_bs_put(&ln->bs, ledger_height(ln->l), b, len);
	if (ledger_height(ln->l) == L->nchain + 1)
		sl_chain_append(s, b, len);
}

void sim_ledger_apply(struct sr *s, struct sr_node *n, const struct raft_entry *e)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln;

	if (L == NULL || e->len <= SR_ENTRY_PREFIX || e->data[8] != SR_TAG_BLOCK)
		return;
	ln = &L->nodes[n->id];
	if (L->catchup) {
		ln->shadow++; /* every committed block applies (or a run fails) */
		if (ln->held_next != 0)
			return; /* held in the log until the backfill ends (sl_cu_apply_held) */
	}
	sl_apply_block(s, n, e->data + SR_ENTRY_PREFIX, e->len - SR_ENTRY_PREFIX, e->index);
}

/* The backfill ended: the entries held meanwhile, in order, read back from the log. */
static void sl_cu_apply_held(struct sr *s, struct sr_node *n)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln = &L->nodes[n->id];

	sl_cu_check_state(s, n);
	while (ln->held_next != 0 && ln->held_next <= n->sm.index && !s->failed) {
		struct consensus_entry e;

		if (consensus_entry_get(ln->cons, ln->held_next, &e) != 0) {
			sr_failf(s, "ledger: node %" PRIu64 ": held entry %" PRIu64 " is gone from its log",
			         n->id, ln->held_next);
			return;
		}
		if (e.app && e.len > SR_ENTRY_PREFIX && e.data[8] == SR_TAG_BLOCK) {
			sl_apply_block(s, n, e.data + SR_ENTRY_PREFIX, e.len - SR_ENTRY_PREFIX, e.index);
			L->cu_held_applied++;
		}
		ln->held_next++;
	}
	if (ln->held_next > n->sm.index)
		ln->held_next = 0;
	if (!s->failed && ln->held_next == 0 && ledger_height(ln->l) != ln->shadow)
		sr_failf(s, "ledger: node %" PRIu64 " caught up to %" PRIu64 ", Raft's applied state"
		            " holds %" PRIu64, n->id, ledger_height(ln->l), ln->shadow);
}

/* --catchup: 1 while n's ledger does not reflect Raft's applied index (no compaction then). */
int sim_ledger_held(const struct sr *s, const struct sr_node *n)
{
	return s->ledger != NULL && s->ledger->catchup && s->ledger->nodes[n->id].held_next != 0;
}

/* A durable Raft write on n: the blocks written before it are durable too (the same WAL). */
void sim_ledger_synced(struct sr *s, struct sr_node *n)
{
	if (s->ledger != NULL)
		s->ledger->nodes[n->id].bs.synced = s->ledger->nodes[n->id].bs.seq;
}

uint64_t sim_ledger_height(const struct sr *s, const struct sr_node *n)
{
	const struct sl_node *ln;

	if (s->ledger == NULL)
		return 0;
	ln = &s->ledger->nodes[n->id];
	if (s->ledger->catchup)
		return ln->shadow; /* what the ledger holds once it reflects Raft's applied index */
	return ln->l != NULL ? ledger_height(ln->l) : 0;
}

void sim_ledger_snapshot(struct sr *s, struct sr_node *n, uint8_t *out)
{
	const struct ledger *l = s->ledger->nodes[n->id].l;

	sim_ledger_synced(s, n); /* a compaction commits with a full sync */
	codec_put_u64(out, ledger_height(l));
	ledger_head_hash(l, out + 8);
	ledger_state_hash(l, out + 8 + LEDGER_HASH_BYTES);
}

void sim_ledger_boot(struct sr *s, struct sr_node *n, const struct raft_snapshot *snap)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln;
	uint8_t state[LEDGER_HASH_BYTES];
	uint64_t height = 0;
	int err;

	if (L == NULL)
		return;
	ln = &L->nodes[n->id];
	if (L->catchup && n->up && ln->l != NULL) {
		/* Installed from the leader: chorusd keeps its ledger and backfills (catchup.c). */
		height = snap->len >= 24 + SR_SNAP_LEDGER ? codec_get_u64(snap->data + 24) : 0;
		sl_attach(ln);
		sl_cu_target(s, n, snap, height);
		return;
	}
	sl_ledger_drop(L, ln);
	ln->checked = 0;
	ln->block_max = sl_block_max[sim_rng_below(&L->rng, SL_NBLOCK_MAX)];
	if (ledger_create(&ln->l, &sl_crypto) != 0)
		abort();
	ln->old = L->poison && n->id % 2 == 1;
	ledger_build_unchecked(ln->l, ln->old);
	if (sl_voter_create(ln) != 0)
		abort();
	if (snap->len >= 24 + SR_SNAP_LEDGER)
		height = codec_get_u64(snap->data + 24);
	else if (snap->index != 0)
		sr_failf(s, "ledger: node %" PRIu64 ": the snapshot at %" PRIu64 " has no ledger state",
		         n->id, snap->index);
	if (height > L->nchain) {
		sr_failf(s, "ledger: node %" PRIu64 ": snapshot at ledger height %" PRIu64
		            " is past the chain (%zu)", n->id, height, L->nchain);
		return;
	}
	if (L->catchup && !s->failed) {
		/* Its own blocks table, then the shipped catch-up from the other voters. */
		sl_cu_boot(s, n, snap, height);
		return;
	}
	if (height == 0 || s->failed)
		return;
	/* The ledger has no state dump: the archived chain stands in for one. */
	L->rebuilds++;
	for (uint64_t h = 1; h <= height; h++) {
		if ((err = ledger_block_apply(ln->l, L->chain[h].data, L->chain[h].len)) != 0) {
			sr_failf(s, "ledger: node %" PRIu64 ": rebuilding, block %" PRIu64 ": %s (%s)",
			         n->id, h, core_strerror(err), ledger_why(ln->l));
			return;
		}
		L->rebuilt_blocks++;
	}
	ledger_state_hash(ln->l, state);
	if (memcmp(snap->data + 32, L->chain[height].hash, LEDGER_HASH_BYTES) != 0 ||
	    memcmp(snap->data + 32 + LEDGER_HASH_BYTES, state, LEDGER_HASH_BYTES) != 0)
		sr_failf(s, "ledger: node %" PRIu64 ": the snapshot at %" PRIu64 " (ledger height %" PRIu64
		            ") holds another head or state than the chain's",
		         n->id, snap->index, height);
}

void sim_ledger_crash(struct sr *s, struct sr_node *n)
{
	struct sl_node *ln;

	if (s->ledger == NULL)
		return;
	ln = &s->ledger->nodes[n->id];
	sl_ledger_drop(s->ledger, ln);
	if (s->ledger->catchup)
		sl_bs_crash(s->ledger, &ln->bs);
	ln->held_next = 0;
}

/* ---------------------------------------------------------------- messages */

static struct sl_msg *sl_msg_new(uint8_t type, uint32_t origin, uint32_t max)
{
	struct sl_msg *m = calloc(1, sizeof(*m) + (size_t)max * sizeof(struct sl_item));

	if (m == NULL)
		abort();
	m->type = type;
	m->origin = origin;
	return m;
}

/* Sends m (freed here) from node `from` (0: an origin) to node `to` (0: to m->origin). */
static void sl_send(struct sr *s, uint32_t from, uint32_t to, struct sl_msg *m)
{
	struct sim_ledger *L = s->ledger;
	size_t len = sizeof(*m) + (size_t)m->n * sizeof(struct sl_item) + m->blen;
	int copies = 1;

	if ((m->n == 0 && m->blen == 0) || sim_rng_unit(&L->rng) < s->loss) {
		L->lost += m->n > 0 || m->blen > 0;
		free(m);
		return;
	}
	if (sim_rng_unit(&L->rng) < SR_DUP_P)
		copies = 2;
	for (int i = 0; i < copies; i++) {
		struct sr_ev ev;

		memset(&ev, 0, sizeof(ev));
		ev.type = SR_EV_LEDGER;
		ev.node = to;
		ev.gen = from;
		ev.at_ms = s->now_ms + SR_LAT_MIN_MS +
		           sim_rng_below(&L->rng, s->lat_max_ms - SR_LAT_MIN_MS + 1);
		ev.len = (uint32_t)len;
		if ((ev.buf = malloc(len)) == NULL)
			abort();
		memcpy(ev.buf, m, len);
		sr_push(s, ev);
	}
	free(m);
}

/* Origin o's key, as the voter sees it (origins are no nodes, no members). */
static void sl_origin_pk(uint32_t o, uint8_t pk[CHORUS_PK_BYTES])
{
	memset(pk, 0xa5, CHORUS_PK_BYTES);
	codec_put_u32(pk, o);
}

static long sl_origin_of(const uint8_t pk[CHORUS_PK_BYTES])
{
	uint8_t want[CHORUS_PK_BYTES];
	uint32_t o = codec_get_u32(pk);

	if (o >= SL_ORIGINS)
		return -1;
	sl_origin_pk(o, want);
	return memcmp(want, pk, CHORUS_PK_BYTES) == 0 ? (long)o : -1;
}

/*
 * Where an origin sends: chorusd's rule (voter_target, the shipped code)
 * over what the gossip would tell it: the up nodes whose Raft leads (their
 * record says "leader"; a deposed one may still say so), else any voter,
 * rotated by the origin's outbox round.
 */
static uint32_t sl_route(struct sr *s, uint32_t origin)
{
	uint64_t leaders[SR_NODES_MAX], voters[SR_NODES_MAX];
	size_t nl = 0, nv = 0;

	for (uint32_t i = 1; i <= s->nnodes; i++) {
		if (!s->nodes[i].up)
			continue;
		if (s->nodes[i].r != NULL && raft_is_leader(s->nodes[i].r))
			leaders[nl++] = i;
		voters[nv++] = i;
	}
	return (uint32_t)voter_target(NULL, leaders, nl, voters, nv, s->ledger->round[origin]);
}

/*
 * The voter's effects at node n: its answers, one message per origin (the
 * leader's voterd_effects), sent across the simulated network.
 */
static void sl_effects(struct sr *s, struct sr_node *n)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln = &L->nodes[n->id];
	struct sl_msg *out[SL_ORIGINS] = { NULL };
	struct voter_ready rd;

	if (!voter_ready(ln->v, &rd))
		return;
	for (size_t i = 0; i < rd.nanswers; i++) {
		const struct voter_answer *a = &rd.answers[i];
		long o = sl_origin_of(a->origin), slot = sl_slot_find(L, a->job);
		struct sl_msg *m;

		if (o < 0 || slot < 0) {
			sr_failf(s, "ledger: node %" PRIu64 " answers %s about %s", n->id,
			         o < 0 ? "no origin" : "an origin", slot < 0 ? "no pool job" : "a job");
			break;
		}
		if (out[o] == NULL)
			out[o] = sl_msg_new(SL_MSG_ANSWER, (uint32_t)o, (uint32_t)rd.nanswers);
		m = out[o];
		m->items[m->n].job = (uint32_t)slot;
		m->items[m->n].kind = a->kind;
		m->items[m->n++].height = a->height;
	}
	voter_advance(ln->v);
	for (uint32_t o = 0; o < SL_ORIGINS; o++)
		if (out[o] != NULL)
			sl_send(s, (uint32_t)n->id, 0, out[o]);
}

/*
 * Pool invariants a leader's check must agree with, before the voter
 * judges the entry: forged entries never check, valid ones do, as their job.
 */
static int sl_pool_checks(struct sr *s, struct sr_node *n, uint32_t job)
{
	struct sim_ledger *L = s->ledger;
	const struct sl_job *j = &L->jobs[job];
	struct ledger_entry_info info;
	int err = ledger_entry_check_here(L->nodes[n->id].l, &j->e, &info);

	if ((err != 0) != j->forged) {
		sr_failf(s, "ledger: node %" PRIu64 ": pool entry %u (%s) %s", n->id, job,
		         j->forged ? "forged" : "valid", err != 0 ? "does not check" : "checks");
		return -1;
	}
	if (err == 0 && memcmp(info.job, L->slots[j->slot].id, CHORUS_JOB_ID_BYTES) != 0) {
		sr_failf(s, "ledger: node %" PRIu64 ": pool entry %u checks as another job", n->id,
		         job);
		return -1;
	}
	return 0;
}

static void sl_on_submit(struct sr *s, struct sr_node *n, const struct sl_msg *m)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln = &L->nodes[n->id];
	uint8_t origin[CHORUS_PK_BYTES];
	uint64_t to;
	enum voter_action a;

	sl_attach(ln);
	a = voter_on_submit(ln->v, m->forwarded, &to);
	sl_origin_pk(m->origin, origin);
	if (a == VOTER_QUEUE) {
		for (uint32_t i = 0; i < m->n && !s->failed; i++)
			if (sl_pool_checks(s, n, m->items[i].job) == 0)
				voter_submit(ln->v, &L->jobs[m->items[i].job].e, origin);
		sl_effects(s, n);
	} else if (a == VOTER_FORWARD) {
		/* Passed on whole, once, the origin kept. */
		struct sl_msg *f = sl_msg_new(m->type, m->origin, m->n);

		memcpy(f->items, m->items, m->n * sizeof(struct sl_item));
		f->n = m->n;
		f->forwarded = 1;
		L->forwards++;
		sl_send(s, (uint32_t)n->id, (uint32_t)to, f);
	} else {
		L->dropped++;
	}
}

/* Does slot hold a job the ledger may refuse (forged, or poison)? */
static int sl_refusable(const struct sim_ledger *L, const struct sl_slot *sl)
{
	for (uint32_t k = 0; k < sl->njob; k++)
		if (L->jobs[sl->job[k]].forged || L->jobs[sl->job[k]].poison)
			return 1;
	return 0;
}

/*
 * An origin hears from a leader: a final answer must name the height the
 * chain made the job final at; a settled one (below its client's floor)
 * must be about a job final in the chain and answered before; a refusal
 * only about a forged or poison entry.
 */
static void sl_on_answer(struct sr *s, const struct sl_msg *m)
{
	struct sim_ledger *L = s->ledger;

	for (uint32_t i = 0; i < m->n; i++) {
		struct sl_slot *sl = &L->slots[m->items[i].job];
		uint64_t final = sl->credit_height ? sl->credit_height : sl->reject_height;
		int before = 0;

		for (uint32_t k = 0; k < sl->njob; k++)
			before |= L->jobs[sl->job[k]].answered;
		if (m->items[i].kind == VOTER_ANSWER_REFUSED && !sl_refusable(L, sl)) {
			sr_failf(s, "ledger: origin %u was refused job slot %u, which is honest",
			         m->origin, m->items[i].job);
			return;
		}
		if (m->items[i].kind == VOTER_ANSWER_REFUSED) {
			L->refused_answers++;
			continue; /* its origin re-sends it; our outboxes never hold such entries */
		}
		if (m->items[i].kind == VOTER_ANSWER_SETTLED && (final == 0 || !before)) {
			sr_failf(s, "ledger: origin %u was told job slot %u is settled, before it was"
			            " final (at %" PRIu64 ") and answered", m->origin, m->items[i].job,
			         final);
			return;
		}
		if (m->items[i].kind == VOTER_ANSWER_SETTLED) {
			L->settled_submits++;
		} else if (final != m->items[i].height) {
			sr_failf(s, "ledger: origin %u was told job slot %u is final at height %" PRIu64
			            ", the chain made it final at %" PRIu64,
			         m->origin, m->items[i].job, m->items[i].height, final);
			return;
		}
		for (uint32_t k = 0; k < sl->njob; k++)
			if (L->jobs[sl->job[k]].origin == m->origin)
				L->jobs[sl->job[k]].answered = 1;
		L->answers++;
	}
}

void sim_ledger_deliver(struct sr *s, struct sr_ev *ev)
{
	struct sim_ledger *L = s->ledger;
	const struct sl_msg *m = (const struct sl_msg *)ev->buf;
	struct sr_node *n = &s->nodes[ev->node];

	if (ev->node == 0)
		sl_on_answer(s, m);
	else if (!n->up)
		L->to_down++;
	else if (ev->gen != 0 && s->nodes[ev->gen].group != n->group)
		L->cut++;
	else if (m->type == SL_MSG_CATCHUP && L->nodes[n->id].vc != NULL) {
		struct sl_node *ln = &L->nodes[n->id];

		sl_attach(ln);
		voter_catchup_on_msg(ln->vc, ln->cons, ev->gen, (const uint8_t *)m->items, m->blen);
		sl_cu_drain(s, n);
	} else if (m->type != SL_MSG_CATCHUP)
		sl_on_submit(s, n, m);
	free(ev->buf);
	ev->buf = NULL;
}

/* ---------------------------------------------------------------- leaders and origins */

/*
 * The first unapplied block in n's stored log (all of it went through
 * raft_ready before the ledger pump runs), or 0.  Raft commits nothing
 * that is not in a leader's log, so a leader whose log holds no unapplied
 * block has applied every block that can ever precede its own.
 */
static uint64_t sl_unapplied_block(const struct sr_node *n, uint64_t applied)
{
	const struct sr_store *st = &n->st;

	for (size_t k = st->n; k > 0 && st->ents[k - 1].index > applied; k--) {
		const struct raft_entry *e = &st->ents[k - 1];

		if (e->type == RAFT_ENTRY_NORMAL && e->len > SR_ENTRY_PREFIX &&
		    e->data[8] == SR_TAG_BLOCK)
			return e->index;
	}
	return 0;
}

/*
 * Checks a block node n is about to propose, from its bytes: (a) at most
 * SL_INFLIGHT_MAX beyond n's applied head; (b) in the term of n's Raft,
 * linked to the last block n proposed in that term, or, the first of the
 * term, to n's applied head with no block left unapplied in its log (what
 * voterd.c's wait for a final head guarantees; the log may have grown
 * since, with entries that are not blocks).  sl_note_proposal() remembers
 * it once Raft took it.
 */
static int sl_check_proposal(struct sr *s, struct sr_node *n, const uint8_t *block, size_t len,
                             struct ledger_block_info *out)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln = &L->nodes[n->id];
	uint64_t height = ledger_height(ln->l), term = raft_term(n->r), unapplied = 0;
	uint8_t head[LEDGER_HASH_BYTES];
	struct ledger_block_info bi;
	struct raft_status st;

	if (ledger_block_peek(block, len, &bi) != 0 || bi.term != term) {
		sr_failf(s, "ledger: node %" PRIu64 " built a block that does not peek in its term %"
		            PRIu64, n->id, term);
		return -1;
	}
	if (bi.height <= height || bi.height - height > SL_INFLIGHT_MAX) {
		sr_failf(s, "ledger: node %" PRIu64 " proposes block %" PRIu64
		            " at applied height %" PRIu64 ": more than %d in flight",
		         n->id, bi.height, height, SL_INFLIGHT_MAX);
		return -1;
	}
	if (term < ln->prop_term) {
		sr_failf(s, "ledger: node %" PRIu64 " proposes in term %" PRIu64 " after term %"
		            PRIu64, n->id, term, ln->prop_term);
		return -1;
	}
	if (term == ln->prop_term) {
		if (bi.height != ln->prop_height + 1 ||
		    memcmp(bi.prev, ln->prop_hash, LEDGER_HASH_BYTES) != 0) {
			sr_failf(s, "ledger: node %" PRIu64 "'s block %" PRIu64 " of term %" PRIu64
			            " does not link to block %" PRIu64
			            ", the last it proposed in that term",
			         n->id, bi.height, term, ln->prop_height);
			return -1;
		}
	} else {
		raft_status(n->r, &st);
		ledger_head_hash(ln->l, head);
		if (bi.height != height + 1 || memcmp(bi.prev, head, LEDGER_HASH_BYTES) != 0 ||
		    (unapplied = sl_unapplied_block(n, st.applied)) != 0) {
			sr_failf(s, "ledger: node %" PRIu64 "'s first block of term %" PRIu64
			            " (height %" PRIu64 ") is not on its applied head (height %"
			            PRIu64 ") or a block is unapplied in its log (index %" PRIu64
			            ", applied %" PRIu64 ")",
			         n->id, term, bi.height, height, unapplied, st.applied);
			return -1;
		}
	}
	*out = bi;
	return 0;
}

static void sl_note_proposal(struct sim_ledger *L, struct sl_node *ln,
                             const struct ledger_block_info *bi)
{
	L->proposed++;
	if (bi->height - ledger_height(ln->l) > L->inflight_max)
		L->inflight_max = bi->height - ledger_height(ln->l);
	ln->prop_term = bi->term;
	ln->prop_height = bi->height;
	memcpy(ln->prop_hash, bi->hash, LEDGER_HASH_BYTES);
}

/*
 * The voter's one way into the log (voter_config.propose_cb): every block
 * it proposes is checked from its bytes first (sl_check_proposal), then
 * proposed as a tagged entry and remembered.  A block that fails the
 * checks fails the run and is not proposed.
 */
static int sl_propose_cb(void *ctx, const uint8_t *block, uint32_t len)
{
	struct sl_node *ln = ctx;
	struct sr *s = ln->s;
	struct sim_ledger *L = s->ledger;
	struct ledger_block_info bi;
	int err;

	if (sl_check_proposal(s, ln->n, block, len, &bi) != 0)
		return CORE_ERR_INVAL;
	err = sr_propose_tagged(s, ln->n, SR_TAG_BLOCK, block, len);
	if (err != 0)
		return err; /* refused (a transfer under way): tried again later */
	L->old_blocks += (uint64_t)ln->old;
	L->on_tip += bi.height > ledger_height(ln->l) + 1;
	sl_note_proposal(L, ln, &bi);
	return 0;
}

/* The leader's half of voterd_pump, the shipped code: step-down, answers, builds. */
void sim_ledger_pump(struct sr *s, struct sr_node *n, int build)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln;

	if (L == NULL)
		return;
	ln = &L->nodes[n->id];
	if (ln->v == NULL)
		return;
	sl_attach(ln);
	if (L->catchup && ln->vc != NULL) {
		struct consensus_status st;

		/* Its ticks (10 ms of virtual time), then the held entries once it is done. */
		if (s->now_ms >= ln->tick_ms + SR_TICK_MS) {
			ln->tick_ms = s->now_ms;
			voter_catchup_tick(ln->vc, ln->cons, SIM_EPOCH_MS + s->now_ms);
			sl_cu_drain(s, n);
		}
		if (ln->held_next != 0 && !voter_catchup_active(ln->vc))
			sl_cu_apply_held(s, n);
		/* A leader that cannot build on the final head steps aside (as chorusd's). */
		consensus_status(ln->cons, &st);
		voter_catchup_after_pump(ln->vc, ln->cons, ln->held_next ? ln->held_next - 1 : st.applied);
		sl_cu_drain(s, n);
	}
	voter_pump(ln->v, build, L->catchup && ln->held_next != 0, SIM_EPOCH_MS + s->now_ms);
	sl_effects(s, n);
}

/* Origin o submits entries (at most SL_OUTBOX_BATCH) to its target. */
static void sl_submit(struct sr *s, uint32_t origin, const uint32_t *jobs, uint32_t n)
{
	struct sl_msg *m = sl_msg_new(SL_MSG_SUBMIT, origin, n);

	for (uint32_t i = 0; i < n; i++)
		m->items[i].job = jobs[i];
	m->n = n;
	s->ledger->submits++;
	sl_send(s, 0, sl_route(s, origin), m);
}

/*
 * Job k completes: its client signs its ack now, with the floor of this
 * moment (the pool's first signature had floor 0), so floors move as jobs
 * are answered and the ledger forgets the jobs below them.
 */
static void sl_release(struct sim_ledger *L, uint32_t k)
{
	struct sl_job *j = &L->jobs[k];
	struct jack a;
	int n;

	if (j->poison == SL_POISON_FRESH || jobmsg_ack_decode(&a, j->e.ack_text, j->e.ack_len) != 0)
		return; /* strangers' keys: signed as made */
	j->floor = a.floor = sl_floor(L, j, a.seq);
	n = jobmsg_ack_encode(j->e.ack_text, sizeof(j->e.ack_text), &a);
	if (n <= 0)
		abort();
	j->e.ack_len = (uint16_t)n;
	batchsig_sign_one(NULL, j->forged ? L->keys[j->worker].sk : L->keys[j->client].sk,
	                  j->e.ack_text, j->e.ack_len, &j->e.ack_auth);
}

/* Every SL_OUTBOX_MS: the oldest unanswered released entries of origin o, again. */
static void sl_outbox_round(struct sr *s, uint32_t o)
{
	struct sim_ledger *L = s->ledger;
	uint32_t jobs[SL_OUTBOX_BATCH], n = 0;

	for (uint32_t k = 0; k < L->nreleased && n < SL_OUTBOX_BATCH; k++)
		if (L->jobs[k].origin == o && !L->jobs[k].answered && !L->jobs[k].forged &&
		    L->jobs[k].poison != SL_POISON_FRESH)
			jobs[n++] = k;
	if (n > 0)
		sl_submit(s, o, jobs, n);
}

/*
 * n jobs complete at once (a busy cluster, the bench's posts): each origin
 * sends its fresh ones in one message, as the node batches the acks of one
 * loop iteration.  Enough to keep a leader's pipeline full.
 */
static void sl_burst(struct sr *s, uint32_t n)
{
	struct sim_ledger *L = s->ledger;
	uint32_t first = L->nreleased, jobs[SL_BURST_MIN + SL_BURST_SPAN];

	if (n > L->njobs - first)
		n = L->njobs - first;
	L->nreleased += n;
	for (uint32_t k = first; k < first + n; k++)
		sl_release(L, k);
	L->bursts++;
	for (uint32_t o = 0; o < SL_ORIGINS; o++) {
		uint32_t m = 0;

		for (uint32_t k = first; k < first + n; k++)
			if (L->jobs[k].origin == o)
				jobs[m++] = k;
		if (m > 0)
			sl_submit(s, o, jobs, m);
	}
}

void sim_ledger_action(struct sr *s)
{
	struct sim_ledger *L = s->ledger;

	if (L == NULL)
		return;
	/* Jobs complete during chaos windows only: a calm window waits for all of them. */
	if (!s->calm && L->nreleased < L->njobs &&
	    sim_rng_below(&L->rng, SL_RELEASE_ONE_IN) == 0) {
		uint32_t k = L->nreleased++;

		sl_release(L, k);
		sl_submit(s, L->jobs[k].origin, &k, 1);
	}
	if (!s->calm && L->nreleased < L->njobs && sim_rng_below(&L->rng, SL_BURST_ONE_IN) == 0)
		sl_burst(s, SL_BURST_MIN + (uint32_t)sim_rng_below(&L->rng, SL_BURST_SPAN));
	if (!s->calm && L->nreleased > 0 && sim_rng_below(&L->rng, SL_REPLAY_ONE_IN) == 0) {
		uint32_t k = (uint32_t)sim_rng_below(&L->rng, L->nreleased);

		L->replays++;
		sl_submit(s, SL_RELAY, &k, 1);
	}
	for (uint32_t o = 0; o < SL_ORIGINS; o++) {
		if (s->now_ms < L->next_round_ms[o])
			continue;
		L->next_round_ms[o] = s->now_ms + SL_OUTBOX_MS + sim_rng_below(&L->rng, 100);
		L->round[o]++;
		sl_outbox_round(s, o);
	}
}

/* ---------------------------------------------------------------- checks */

/* Node n's ledger: a prefix of the one chain, in the model's state at its height. */
static void sl_check_node(struct sr *s, struct sr_node *n)
{
	struct sim_ledger *L = s->ledger;
	struct sl_node *ln = &L->nodes[n->id];
	uint8_t head[LEDGER_HASH_BYTES];
	struct ledger_stats st;
	const struct sl_height *hd;
	uint64_t h = ledger_height(ln->l);

	L->checks++;
	if (n->r != NULL && raft_is_leader(n->r) && ln->prop_term == raft_term(n->r) &&
	    ln->prop_height > h + SL_INFLIGHT_MAX) {
		sr_failf(s, "ledger: leader %" PRIu64 " has blocks up to %" PRIu64
		            " in flight at applied height %" PRIu64 ": more than %d",
		         n->id, ln->prop_height, h, SL_INFLIGHT_MAX);
		return;
	}
	if (h > L->nchain) {
		sr_failf(s, "ledger: node %" PRIu64 " is at height %" PRIu64 ", past the chain (%zu)",
		         n->id, h, L->nchain);
		return;
	}
	hd = &L->chain[h];
	ledger_head_hash(ln->l, head);
	if (memcmp(head, hd->hash, LEDGER_HASH_BYTES) != 0) {
		sr_failf(s, "ledger: node %" PRIu64 "'s block %" PRIu64 " is not the chain's", n->id,
		         h);
		return;
	}
	ledger_stats(ln->l, &st);
	if (st.height != h || st.credited != hd->credited || st.entries != hd->entries ||
	    st.rejected != hd->rejected || st.by_outcome[LEDGER_REJECT_REWARD] != hd->rejected ||
	    st.skipped != 0 || st.duplicates != st.entries - st.credited - st.rejected ||
	    st.total_reward != hd->total || st.accounts != hd->accounts) {
		sr_failf(s, "ledger: node %" PRIu64 " at height %" PRIu64 ": credited %" PRIu64
		            " entries %" PRIu64 " duplicates %" PRIu64 " reward %" PRIu64
		            " accounts %" PRIu64 "; the chain's prefix: credited %" PRIu64
		            " entries %" PRIu64 " reward %" PRIu64 " accounts %" PRIu64,
		         n->id, h, st.credited, st.entries, st.duplicates, st.total_reward, st.accounts,
		         hd->credited, hd->entries, hd->total, hd->accounts);
		return;
	}
	/* Accounts change only with the height: compare them when it moved. */
	if (ln->checked && ln->checked_height == h)
		return;
	if (sl_digest_ledger(ln->l, st.accounts) != hd->digest) {
		sr_failf(s, "ledger: node %" PRIu64 " at height %" PRIu64
		            ": balances differ from the sums of the credited jobs' rewards",
		         n->id, h);
		return;
	}
	ln->checked = 1;
	ln->checked_height = h;
}

void sim_ledger_check(struct sr *s)
{
	if (s->ledger == NULL)
		return;
	for (uint32_t i = 1; i <= s->nnodes && !s->failed; i++)
		if (s->nodes[i].up && s->ledger->nodes[i].l != NULL)
			sl_check_node(s, &s->nodes[i]);
}

/* Why the leader does not build, if it waits for a final head: for liveness failures. */
static const char *sl_leader_waits(struct sr *s)
{
	static char why[96];
	struct sr_node *l = sr_leader(s);
	struct raft_status st;

	if (l == NULL || s->ledger->nodes[l->id].v == NULL ||
	    voter_tip_term(s->ledger->nodes[l->id].v) == raft_term(l->r))
		return "";
	raft_status(l->r, &st);
	snprintf(why, sizeof(why),
	         "; leader %" PRIu64 " waits for a final head (applied %" PRIu64 " commit %" PRIu64
	         " last %" PRIu64 ")",
	         l->id, st.applied, st.commit, st.last_index);
	return why;
}

int sim_ledger_calm_done(struct sr *s, const struct raft_conf *conf, char *why, size_t whylen)
{
	struct sim_ledger *L = s->ledger;
	uint64_t need = 0;

	for (uint32_t k = 0; k < L->nreleased; k++) {
		const struct sl_job *j = &L->jobs[k];
		uint64_t h = L->slots[j->slot].credit_height;

		if (j->forged || j->poison)
			continue;
		if (h == 0 || !j->answered) {
			snprintf(why, whylen, "ledger: job %u (origin %u) %s%s", k, j->origin,
			         h == 0 ? "not credited" : "credited but not answered",
			         sl_leader_waits(s));
			return 0;
		}
		if (h > need)
			need = h;
	}
	for (uint32_t i = 0; i < conf->n; i++) {
		uint64_t h = sim_ledger_height(s, &s->nodes[conf->ids[i]]);

		if (h < need) {
			snprintf(why, whylen, "ledger: voter %" PRIu64 " at height %" PRIu64 " < %" PRIu64,
			         conf->ids[i], h, need);
			return 0;
		}
	}
	return 1;
}

static int sl_chain_cb(void *ctx, uint64_t i, const uint8_t **block, size_t *len)
{
	const struct sim_ledger *L = ctx;

	if (i >= L->nchain)
		return 0;
	*block = L->chain[i + 1].data;
	*len = L->chain[i + 1].len;
	return 1;
}

void sim_ledger_finish(struct sr *s)
{
	struct sim_ledger *L = s->ledger;
	struct ledger_account expected[SL_KEYS];
	size_t n = 0;
	uint64_t bad = 0;
	char why[LEDGER_WHY_MAX];

	if (L == NULL)
		return;
	for (uint32_t k = 0; k < L->nreleased; k++) {
		const struct sl_job *j = &L->jobs[k];

		if (j->poison && L->slots[j->slot].credit_height != 0) {
			sr_failf(s, "ledger: poison entry %u was credited", k);
			return;
		}
		if (j->poison)
			continue;
		if (!j->forged && (!j->answered || L->slots[j->slot].credit_height == 0)) {
			sr_failf(s, "ledger: liveness: released job %u never credited and answered",
			         k);
			return;
		}
		if (j->forged && L->slots[j->slot].credit_height != 0) {
			sr_failf(s, "ledger: forged entry %u was credited", k);
			return;
		}
	}
	for (uint32_t k = 0; k < SL_KEYS; k++) {
		if (L->jobs_run[k] + L->jobs_paid[k] == 0)
			continue;
		memcpy(expected[n].key, L->keys[k].pk, CHORUS_PK_BYTES);
		expected[n].earned = L->earned[k];
		expected[n].spent = L->spent[k];
		expected[n].jobs_run = L->jobs_run[k];
		expected[n++].jobs_paid = L->jobs_paid[k];
	}
	if (ledger_verify_chain(&sl_crypto, sl_chain_cb, L, expected, n, &bad, why,
	                        sizeof(why)) != 0)
		sr_failf(s, "ledger: the chain fails the audit at height %" PRIu64 ": %s", bad,
		         why);
}

void sim_ledger_report(const struct sr *s)
{
	const struct sim_ledger *L = s->ledger;
	uint64_t vcache_hits, held = 0, forgotten = 0, settled = 0;
	struct voter_stats vs;

	if (L == NULL)
		return;
	sl_vstats(s, &vs);
	vcache_hits = L->vcache_hits;
	for (uint32_t i = 1; i <= s->nnodes; i++) {
		struct ledger_stats st;

		if (L->nodes[i].l != NULL) {
			ledger_stats(L->nodes[i].l, &st);
			vcache_hits += st.verify_cache_hits;
			if (st.height >= 1 && st.forgotten >= forgotten) {
				held = st.jobs_held;
				forgotten = st.forgotten;
				settled = st.settled;
			}
		}
	}
	/* The window (docs/ledger.md): jobs the most advanced ledger still holds, and forgot. */
	printf("ledger-window: held=%" PRIu64 " forgotten=%" PRIu64 " settled=%" PRIu64
	       " settled-submits=%" PRIu64 "\n", held, forgotten, settled, L->settled_submits);
	printf("ledger: jobs=%u submitted=%u credited=%" PRIu64 " blocks=%zu checks=%" PRIu64
	       " forged=%" PRIu64 " twins=%" PRIu64 " twin-credited=%" PRIu64 " proposed=%" PRIu64
	       " applied=%" PRIu64 " answers=%" PRIu64 "\n",
	       L->njobs, L->nreleased, L->credited, L->nchain, L->checks, L->forged, L->twins,
	       L->twin_credited, L->proposed, L->applied, L->answers);
	printf("ledger-pipeline: bursts=%" PRIu64 " on-tip=%" PRIu64 " inflight-max=%" PRIu64
	       " dropped-uncredited=%" PRIu64 " answer-rounds=%" PRIu64
	       " verify-cache-hits=%" PRIu64 "\n",
	       L->bursts, L->on_tip, L->inflight_max, vs.unproposed_drops, vs.answer_rounds,
	       vcache_hits);
	printf("ledger-traffic: submit-msgs=%" PRIu64 " replays=%" PRIu64 " forwarded=%" PRIu64
	       " dropped=%" PRIu64 " rejected=%" PRIu64 " lost=%" PRIu64 " cut=%" PRIu64
	       " to-down=%" PRIu64 "\n",
	       L->submits, L->replays, L->forwards, L->dropped,
	       vs.refused - vs.refused_member - vs.refused_bound, L->lost, L->cut,
	       L->to_down);
	if (L->poison)
		printf("ledger-poison: over=%" PRIu64 " fresh=%" PRIu64 " refused-member=%" PRIu64
		       " refused-bound=%" PRIu64 " rejected-in-chain=%" PRIu64 " old-leader-blocks=%" PRIu64
		       "\n",
		       L->poison_over, L->poison_fresh, vs.refused_member, vs.refused_bound,
		       L->rejected_chain, L->old_blocks);
	printf("ledger-rebuilds: rebuilds=%" PRIu64 " rebuilt-blocks=%" PRIu64
	       " ed25519-verifies=%" PRIu64 " memo-hits=%" PRIu64 "\n",
	       L->rebuilds, L->rebuilt_blocks, sl_memo_misses, sl_memo_hits);
	if (L->catchup)
		printf("ledger-catchup: backfills=%" PRIu64 " fetched=%" PRIu64 " msgs=%" PRIu64
		       " held-applied=%" PRIu64 " store-applied=%" PRIu64 " rows-lost=%" PRIu64
		       " stale=%" PRIu64 " lies=%" PRIu64 "\n",
		       L->cu_backfills, L->cu_fetched, L->cu_msgs, L->cu_held_applied, L->cu_rebuilt,
		       L->cu_rows_lost, L->cu_stale, L->cu_lies);
}

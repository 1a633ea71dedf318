/*
 * ledger: blocks of job completion records, signed by the leader that built
 * them, and the balances derived from them (docs/ledger.md).
 *
 * A block is a flat binary record (all integers big-endian):
 *
 *   "CHLB" | version 2 | height u64 | prev[32] | term u64 | leader[32] |
 *   time_ms u64 | n u16 | n x (ack_len u16, ack, ack_auth,
 *   receipt_len u16, receipt, receipt_auth) | leader_sig[64]
 *
 * where an auth is a batch authenticator (batchsig.h: count u16, index u16,
 * root[32], proof length u8, proof, signature[64] over "chorus-batch-v1" ||
 * count || root).  Version 1 (a signature over each text) is refused with
 * CORE_ERR_VERSION: its signatures say nothing a version 2 verifier can
 * check, so a database from before batch signatures starts afresh
 * (docs/ledger.md).
 *
 * Its hash is BLAKE2b-256 of every byte before the leader signature; the
 * leader signs "chorus ledger block v1" || hash.  The decoder accepts exactly
 * one encoding per block (lengths bounded, no trailing bytes) and the entry
 * texts must equal their jobmsg re-encoding, so the bytes are canonical.
 *
 * Invariants: the state is a pure function of the applied blocks; a job id is
 * final (credited, or rejected with a recorded reason) at most once; every
 * account's earned and spent are sums over the credited jobs, so
 * total_reward == sum(earned) == sum(spent), and spent <= allowance + earned
 * (the client pays: docs/ledger.md); a block that decodes, links and carries
 * its leader's signature always applies, each entry ending as one enum
 * ledger_outcome, so no entry anyone sends can stop a chain; a failed apply
 * (a bad block, or this node out of memory) changes nothing, because every
 * check and every allocation happens before the first mutation
 * (ledger_plan), and the mutations cannot fail (ledger_commit).  The leader
 * judges every entry as apply will (ledger_judge, the one function both
 * use) before it puts it in a block.  Nothing observable depends on
 * hash-table order: accounts are listed by key through a sorted index.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "chorus/ledger.h"
#include "dispatch/jobmsg.h" /* the receipts and acks an entry carries */

_Static_assert(CHORUS_LEDGER_TEXT_MAX == JOBMSG_TEXT_MAX, "an entry text is one jobmsg text");
_Static_assert(LEDGER_HASH_BYTES == JOBMSG_HASH_BYTES, "one hash size");
_Static_assert(CHORUS_LEDGER_BLOCK_HEADER_BYTES == 4 + 1 + 8 + 32 + 8 + 32 + 8 + 2, "header size");

#define LEDGER_MAGIC       "CHLB"
#define LEDGER_VERSION     2 /* 2: batch authenticators; 1: a signature per text */
#define LEDGER_SIG_DOMAIN  "chorus ledger block v1"
#define LEDGER_ACCT_INIT   64   /* accounts: grown by doubling, slots at load <= 1/2 */
#define LEDGER_JOBS_INIT   1024
#define LEDGER_NEW_KEYS_MAX (2 * CHORUS_LEDGER_BLOCK_ENTRIES_MAX)
#define LEDGER_NO_ACCT     UINT32_MAX /* a rejected job's key without an account */
#define LEDGER_VCACHE_SLOTS 8192 /* entries whose signatures this ledger already verified */
#define LEDGER_VCACHE_BYTES 16
#define LEDGER_BUILT_MAX    16 /* blocks built here and not applied yet, remembered */
/* Keys one judgement can touch: the blocks in flight and the one being built. */
#define LEDGER_DELTA_MAX    ((LEDGER_BUILT_MAX + 1) * LEDGER_NEW_KEYS_MAX)
#define LEDGER_DELTA_SLOTS  16384 /* power of two, load <= 0.54 */

_Static_assert(LEDGER_DELTA_MAX * 3 / 2 < LEDGER_DELTA_SLOTS, "the delta table stays sparse");
_Static_assert(LEDGER_OUTCOMES == LEDGER_REJECT_WINDOW + 1, "outcome names cover the enum");
#define LEDGER_NIL         UINT32_MAX /* no job (the ends of a window's list) */
#define LEDGER_WINS_INIT   64

/* One entry inside an encoded block: pointers into the block's bytes. */
struct lref {
	const char *ack;
	size_t ack_len;
	const uint8_t *ack_auth; /* an encoded batchsig */
	size_t ack_auth_len;
	const char *rcpt;
	size_t rcpt_len;
	const uint8_t *rcpt_auth;
	size_t rcpt_auth_len;
};

struct lblock {
	struct ledger_block_info info;
	const uint8_t *sig;
	size_t signed_len;
	struct lref e[CHORUS_LEDGER_BLOCK_ENTRIES_MAX];
};

/*
 * A final job held in memory, above its client's floor; client and worker
 * are account indexes (LEDGER_NO_ACCT: none), win its client's window.  It
 * sits in two tables (by job id, by client and seq) and in its window's
 * list in seq order; a slot freed when the floor passes it is reused (next
 * links the free list).
 */
struct ljob {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint32_t client;
	uint32_t worker;
	uint64_t height;
	uint64_t reward;
	uint64_t seq;
	uint32_t win;
	uint32_t prev, next; /* the window's list, ascending seq; LEDGER_NIL at the ends */
	uint8_t outcome; /* LEDGER_CREDITED or a recorded LEDGER_REJECT_* */
};

/*
 * A client's window (docs/ledger.md): the highest floor its checked acks
 * declared, and its final jobs at or above it, oldest seq first.  Kept for
 * good (the floor is what settles a replay), about 64 bytes a client.
 */
struct lwin {
	uint8_t key[CHORUS_PK_BYTES];
	uint64_t floor;
	uint32_t nheld;
	uint32_t head, tail;
};

/* What the window says about a checked entry, after the state and the earlier entries. */
struct lview {
	uint64_t floor; /* the client's floor by then */
	size_t held;    /* final seqs it holds (its floor's moves in this block not counted) */
	int fresh;      /* no window yet: one is made */
	int seq_final;  /* this seq is final already */
};

/*
 * What the entries judged so far (the blocks in flight, then the earlier
 * entries of the block at hand) did to one key, on top of its account:
 * ledger_judge sees the state as apply will when it reaches the entry.
 */
struct ldelta {
	uint8_t key[CHORUS_PK_BYTES];
	long acct;       /* its account, or -1: a key new in these blocks */
	uint64_t earned, spent;
	uint32_t slot;
};

/* A credit of a block built here and not applied yet: replayed into the delta. */
struct lcredit {
	uint8_t client[CHORUS_PK_BYTES];
	uint8_t worker[CHORUS_PK_BYTES];
	uint64_t reward;
};

struct lmemo {
	uint64_t height;  /* 0: free */
	uint32_t n;       /* credits */
	uint32_t nrecord; /* recorded rejections (an unchecked build's) */
	struct lcredit c[CHORUS_LEDGER_BLOCK_ENTRIES_MAX];
};

struct ledger {
	const struct core_crypto *crypto;
	uint64_t height;
	uint64_t term;
	uint8_t head[LEDGER_HASH_BYTES];
	uint64_t entries, duplicates, total_reward, credited, rejected, skipped;
	uint64_t by_outcome[LEDGER_OUTCOMES];
	uint8_t outcomes[LEDGER_HASH_BYTES]; /* running digest of every entry's outcome */
	size_t accounts_max, jobs_max;       /* the limits.h bounds (tests may lower them) */
	int build_unchecked;
	size_t build_bytes; /* ledger_build_bytes: a built block's bound */
	/* Accounts: grow on demand up to accounts_max. */
	struct ledger_account *acct;
	size_t nacct, acct_cap;
	uint32_t *acct_slots;  /* open addressing: index + 1, 0 empty */
	size_t nacct_slots;    /* power of two, >= 2 * acct_cap */
	uint32_t *acct_sorted; /* indexes in ascending key order */
	/* Final jobs above their clients' floors: up to jobs_max held at once. */
	struct ljob *jobs;
	size_t njobs, jobs_cap;  /* held; room */
	size_t jobs_used;        /* slots of jobs[] ever handed out (held + free) */
	uint32_t jobs_free;      /* free list through next; LEDGER_NIL: empty */
	uint32_t *job_slots;     /* by job id: index + 1, 0 empty */
	uint32_t *seq_slots;     /* by client and seq: index + 1, 0 empty */
	size_t njob_slots;     /* power of two, >= 2 * jobs_cap (both tables) */
	uint64_t forgotten, settled;
	/* Jobs forgotten since ledger_forgotten_take, for the node's index on disk. */
	struct ledger_gone *gone;
	size_t ngone, gone_cap;
	uint64_t gone_unlisted;
	int gone_keep; /* ledger_forgotten_keep */
	/* Client windows, one per client with a final job: never removed. */
	struct lwin *wins;
	size_t nwins, wins_cap, wins_max, client_open_max;
	uint32_t *win_slots;
	size_t nwin_slots;     /* power of two, >= 2 * wins_cap */
	/* Scratch for the block being applied or built. */
	struct lblock blk;
	struct ledger_entry_info info[CHORUS_LEDGER_BLOCK_ENTRIES_MAX];
	uint8_t outcome[CHORUS_LEDGER_BLOCK_ENTRIES_MAX]; /* enum ledger_outcome, per entry */
	uint8_t settle[CHORUS_LEDGER_BLOCK_ENTRIES_MAX];  /* a duplicate below its client's floor */
	uint8_t verdict[LEDGER_BUILD_INPUTS_MAX];         /* the last build's, per input */
	/* The delta of the judgement at hand (ledger_judge). */
	struct ldelta *dl;
	size_t ndl, dl_fresh, dl_jobs; /* keys touched, of them new, jobs it makes final */
	size_t dl_wins;                /* windows it makes */
	uint32_t *dl_slots;            /* LEDGER_DELTA_SLOTS: index + 1, 0 empty */
	/* Blocks built here, not applied yet: their credits (the last slot: the one being built). */
	struct lmemo *memo;
	char why[LEDGER_WHY_MAX];
	char note[LEDGER_WHY_MAX]; /* the first duplicate or bad entry of the last block applied */
	/*
	 * Digests of entries (both texts and both signatures) whose signatures
	 * this ledger verified: direct-mapped, a collision just evicts.  The
	 * leader checks an entry when it queues it; building and applying that
	 * same entry then costs a hash, not two more ed25519 verifications.
	 */
	uint8_t (*vcache)[LEDGER_VCACHE_BYTES];
	uint64_t vcache_hits;
	/* Batch roots whose signatures this ledger verified (batchsig.h). */
	struct batchsig_cache *roots;
	/*
	 * Blocks this ledger built and signed (digests of their whole bytes,
	 * signature included): when one comes back to be applied, its leader
	 * signature is known good.  And the key pair last found to match, so a
	 * pipelining leader checks its keys once, not once per block.
	 */
	uint8_t built[LEDGER_BUILT_MAX][LEDGER_HASH_BYTES];
	unsigned nbuilt;
	/*
	 * And what each of their entries says (the build's infos, in block
	 * order; NULL when not kept): a pure function of the bytes, so apply
	 * takes them instead of decoding the entries again.
	 */
	struct ledger_entry_info *built_info[LEDGER_BUILT_MAX];
	uint32_t built_n[LEDGER_BUILT_MAX];
	uint8_t signer_ok[LEDGER_HASH_BYTES]; /* BLAKE2b(pk || sk) of the matching pair */
	int has_signer_ok;
	/*
	 * Where a block is built: allocated on first use and kept.  A fresh
	 * malloc of the maximum block size per build is an mmap, page faults
	 * and an munmap every time (glibc maps chunks that large).
	 */
	uint8_t *build_buf;
};

static void ledger_say(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void ledger_say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static uint16_t ledger_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void ledger_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * Table slots.  SipHash with a fixed key: the order is never observable, but
 * job ids and keys are chosen by clients, so see docs/ledger.md on flooding.
 */
static size_t ledger_slot(const uint8_t *key, size_t len, size_t mask)
{
	static const uint8_t k[crypto_shorthash_KEYBYTES] = {'c', 'h', 'o', 'r', 'u', 's', '-', 'l',
	                                                     'e', 'd', 'g', 'e', 'r', '-', 'i', 'x'};
	uint8_t h[crypto_shorthash_BYTES];

	crypto_shorthash(h, key, len, k);
	return (size_t)codec_get_u64(h) & mask;
}

/* ---------------------------------------------------------------- entries */

int ledger_entry_from_ack(struct ledger_entry *e, const struct job_ack *ack)
{
	assert(e != NULL && ack != NULL);
	memset(e, 0, sizeof(*e));
	if (ack->status == NULL || strcmp(ack->status, "succeeded") != 0 ||
	    ack->receipt_text == NULL || ack->ack_text == NULL || ack->ack_len == 0 ||
	    ack->receipt_len == 0)
		return CORE_ERR_INVAL;
	if (ack->ack_len > CHORUS_LEDGER_TEXT_MAX || ack->receipt_len > CHORUS_LEDGER_TEXT_MAX)
		return CORE_ERR_OVERSIZE;
	memcpy(e->ack_text, ack->ack_text, ack->ack_len);
	e->ack_len = (uint16_t)ack->ack_len;
	e->ack_auth = ack->ack_auth;
	memcpy(e->receipt_text, ack->receipt_text, ack->receipt_len);
	e->receipt_len = (uint16_t)ack->receipt_len;
	e->receipt_auth = ack->receipt_auth;
	return 0;
}

/*
 * Both texts decode and equal their own re-encoding: one job has one entry
 * text, and a block's bytes are canonical down to its JSON.
 */
static int ledger_entry_decode(const struct lref *r, struct jack *a, struct jreceipt *rc,
                               char *why, size_t whylen)
{
	char buf[JOBMSG_TEXT_MAX + 1];
	int n;

	if (jobmsg_ack_decode(a, r->ack, r->ack_len) < 0) {
		ledger_say(why, whylen, "the ack does not decode");
		return CORE_ERR_MALFORMED;
	}
	n = jobmsg_ack_encode(buf, sizeof(buf), a);
	if (n < 0 || (size_t)n != r->ack_len || memcmp(buf, r->ack, r->ack_len) != 0) {
		ledger_say(why, whylen, "the ack text is not canonical");
		return CORE_ERR_MALFORMED;
	}
	if (jobmsg_receipt_decode(rc, r->rcpt, r->rcpt_len) < 0) {
		ledger_say(why, whylen, "the receipt does not decode");
		return CORE_ERR_MALFORMED;
	}
	n = jobmsg_receipt_encode(buf, sizeof(buf), rc);
	if (n < 0 || (size_t)n != r->rcpt_len || memcmp(buf, r->rcpt, r->rcpt_len) != 0) {
		ledger_say(why, whylen, "the receipt text is not canonical");
		return CORE_ERR_MALFORMED;
	}
	return 0;
}

/* The ack must name this very receipt, and both must say the job succeeded. */
static int ledger_entry_match(const struct lref *r, const struct jack *a, const struct jreceipt *rc,
                              char *why, size_t whylen)
{
	uint8_t h[JOBMSG_HASH_BYTES];

	if (strcmp(a->status, "succeeded") != 0 || strcmp(rc->status, "ok") != 0) {
		ledger_say(why, whylen, "not a success (ack %s, receipt %s)", a->status, rc->status);
		return CORE_ERR_INVAL;
	}
	assert(a->has_worker); /* the ack decoder insists on a worker for a success */
	jobmsg_hash(h, r->rcpt, r->rcpt_len);
	if (memcmp(h, a->receipt_hash, JOBMSG_HASH_BYTES) != 0) {
		ledger_say(why, whylen, "the ack names another receipt");
		return CORE_ERR_INVAL;
	}
	if (memcmp(a->id, rc->id, CHORUS_JOB_ID_BYTES) != 0 ||
	    memcmp(a->client, rc->client, CHORUS_PK_BYTES) != 0 ||
	    memcmp(a->worker, rc->worker, CHORUS_PK_BYTES) != 0 ||
	    memcmp(a->result_hash, rc->result_hash, JOBMSG_HASH_BYTES) != 0 ||
	    strcmp(a->kind, rc->kind) != 0) {
		ledger_say(why, whylen, "the ack and the receipt disagree (job, client, worker, kind "
		                        "or result)");
		return CORE_ERR_INVAL;
	}
	return 0;
}

/* BLAKE2b-128 of everything an entry's signatures cover, and the authenticators. */
static void ledger_entry_digest(const struct lref *r, uint8_t out[LEDGER_VCACHE_BYTES])
{
	crypto_generichash_state st;
	uint8_t len[4];

	crypto_generichash_init(&st, NULL, 0, LEDGER_VCACHE_BYTES);
	uint8_t alen[4];

	ledger_put_u16(len, (uint16_t)r->ack_len);
	ledger_put_u16(len + 2, (uint16_t)r->rcpt_len);
	ledger_put_u16(alen, (uint16_t)r->ack_auth_len);
	ledger_put_u16(alen + 2, (uint16_t)r->rcpt_auth_len);
	crypto_generichash_update(&st, len, sizeof len);
	crypto_generichash_update(&st, alen, sizeof alen);
	crypto_generichash_update(&st, (const uint8_t *)r->ack, r->ack_len);
	crypto_generichash_update(&st, r->ack_auth, r->ack_auth_len);
	crypto_generichash_update(&st, (const uint8_t *)r->rcpt, r->rcpt_len);
	crypto_generichash_update(&st, r->rcpt_auth, r->rcpt_auth_len);
	crypto_generichash_final(&st, out, LEDGER_VCACHE_BYTES);
}

/* The cache slot of a digest: its first bytes are uniform (a hash). */
static uint8_t *ledger_vcache_slot(const struct ledger *l, const uint8_t d[LEDGER_VCACHE_BYTES])
{
	return l->vcache[codec_get_u32(d) % LEDGER_VCACHE_SLOTS];
}

/*
 * One text's authenticator (encoded): the proof leads to a root its signer
 * signed with the leaf count.  Through the ledger's cache of roots, if any.
 */
static int ledger_auth_verify(const struct core_crypto *crypto, struct ledger *l,
                              const uint8_t *auth, size_t auth_len, const char *text,
                              size_t len, const uint8_t signer[CHORUS_PK_BYTES], const char *who,
                              char *why, size_t whylen)
{
	struct batchsig b;
	const char *bad;
	size_t used;

	if (batchsig_decode(&b, auth, auth_len, &used) < 0 || used != auth_len) {
		ledger_say(why, whylen, "the %s's authenticator does not decode", who);
		return CORE_ERR_MALFORMED;
	}
	bad = batchsig_explain(crypto, l != NULL ? l->roots : NULL, signer, text, len, &b);
	if (bad != NULL) {
		ledger_say(why, whylen, "the %s's %s does not verify (leaf %u of %u)", who, bad,
		           (unsigned)b.index, (unsigned)b.count);
		return CORE_ERR_BADSIG;
	}
	return 0;
}

/*
 * Decodes, matches and verifies an entry; with a ledger, an entry whose
 * exact bytes it verified before skips the signature checks (only).
 */
static int ledger_entry_verify(const struct core_crypto *crypto, struct ledger *l,
                               const struct lref *r, struct ledger_entry_info *info, char *why,
                               size_t whylen)
{
	uint8_t d[LEDGER_VCACHE_BYTES];
	struct jack a;
	struct jreceipt rc;
	int err, cached = 0;

	assert(crypto != NULL && r != NULL);
	if ((err = ledger_entry_decode(r, &a, &rc, why, whylen)) < 0 ||
	    (err = ledger_entry_match(r, &a, &rc, why, whylen)) < 0)
		return err;
	if (l != NULL && l->vcache != NULL) {
		ledger_entry_digest(r, d);
		cached = memcmp(ledger_vcache_slot(l, d), d, sizeof d) == 0;
		l->vcache_hits += (uint64_t)cached;
	}
	/* Authenticators last: a proof costs hashes, a root's signature the most. */
	if (!cached && (err = ledger_auth_verify(crypto, l, r->ack_auth, r->ack_auth_len, r->ack,
	                                         r->ack_len, a.client, "client", why, whylen)) < 0)
		return err;
	if (!cached && (err = ledger_auth_verify(crypto, l, r->rcpt_auth, r->rcpt_auth_len, r->rcpt,
	                                         r->rcpt_len, rc.worker, "worker", why, whylen)) < 0)
		return err;
	if (l != NULL && l->vcache != NULL && !cached)
		memcpy(ledger_vcache_slot(l, d), d, sizeof d);
	if (info != NULL) {
		memcpy(info->job, a.id, CHORUS_JOB_ID_BYTES);
		memcpy(info->client, a.client, CHORUS_PK_BYTES);
		memcpy(info->worker, a.worker, CHORUS_PK_BYTES);
		strcpy(info->kind, a.kind);
		memcpy(info->result_hash, a.result_hash, LEDGER_HASH_BYTES);
		info->reward = a.reward;
		info->seq = a.seq;
		info->floor = a.floor;
	}
	return 0;
}

/* An entry as a block holds it: its authenticators encoded into enc. */
static void ledger_entry_ref(struct lref *r, const struct ledger_entry *e,
                             uint8_t enc[2][BATCHSIG_BYTES_MAX])
{
	r->ack = e->ack_text;
	r->ack_len = e->ack_len;
	r->ack_auth = enc[0];
	r->ack_auth_len = batchsig_encode(enc[0], &e->ack_auth);
	r->rcpt = e->receipt_text;
	r->rcpt_len = e->receipt_len;
	r->rcpt_auth = enc[1];
	r->rcpt_auth_len = batchsig_encode(enc[1], &e->receipt_auth);
}

/* Bounds, then the checks (with l: its crypto and its cache of verified entries). */
static int ledger_entry_check_with(const struct core_crypto *crypto, struct ledger *l,
                                   const struct ledger_entry *e, struct ledger_entry_info *info,
                                   char *why, size_t whylen)
{
	uint8_t enc[2][BATCHSIG_BYTES_MAX];
	struct lref r;

	if (e == NULL)
		return CORE_ERR_INVAL;
	if (e->ack_len == 0 || e->ack_len > CHORUS_LEDGER_TEXT_MAX || e->receipt_len == 0 ||
	    e->receipt_len > CHORUS_LEDGER_TEXT_MAX) {
		ledger_say(why, whylen, "a text is empty or too long");
		return CORE_ERR_OVERSIZE;
	}
	if (e->ack_auth.nproof > CHORUS_MERKLE_PROOF_MAX ||
	    e->receipt_auth.nproof > CHORUS_MERKLE_PROOF_MAX) {
		ledger_say(why, whylen, "a proof is too long");
		return CORE_ERR_OVERSIZE;
	}
	ledger_entry_ref(&r, e, enc);
	return ledger_entry_verify(crypto, l, &r, info, why, whylen);
}

int ledger_entry_check(const struct core_crypto *crypto, const struct ledger_entry *e,
                       struct ledger_entry_info *info)
{
	return ledger_entry_check_with(crypto != NULL ? crypto : &crypto_ed25519, NULL, e, info, NULL,
	                               0);
}

int ledger_entry_check_here(struct ledger *l, const struct ledger_entry *e,
                            struct ledger_entry_info *info)
{
	return ledger_entry_check_with(l->crypto, l, e, info, NULL, 0);
}

int ledger_entry_explain(struct ledger *l, const struct ledger_entry *e,
                         struct ledger_entry_info *info, char *why, size_t whylen)
{
	int err = ledger_entry_check_with(l->crypto, l, e, info, why, whylen);

	if (err == 0)
		ledger_say(why, whylen, "it checks");
	return err;
}

int ledger_entry_seq(const struct ledger_entry *e, uint8_t client[CHORUS_PK_BYTES],
                     uint64_t *seq, uint64_t *floor)
{
	struct jack a;

	if (e->ack_len == 0 || e->ack_len > CHORUS_LEDGER_TEXT_MAX ||
	    jobmsg_ack_decode(&a, e->ack_text, e->ack_len) < 0)
		return CORE_ERR_MALFORMED;
	memcpy(client, a.client, CHORUS_PK_BYTES);
	*seq = a.seq;
	*floor = a.floor;
	return 0;
}

int ledger_entry_job(const struct ledger_entry *e, uint8_t job[CHORUS_JOB_ID_BYTES])
{
	struct jack a;

	if (e->ack_len == 0 || e->ack_len > CHORUS_LEDGER_TEXT_MAX ||
	    jobmsg_ack_decode(&a, e->ack_text, e->ack_len) < 0)
		return CORE_ERR_MALFORMED;
	memcpy(job, a.id, CHORUS_JOB_ID_BYTES);
	return 0;
}

/* ---------------------------------------------------------------- block codec */

size_t ledger_entry_size(const struct ledger_entry *e)
{
	return 2 + e->ack_len + batchsig_encoded_len(&e->ack_auth) + 2 + e->receipt_len +
	       batchsig_encoded_len(&e->receipt_auth);
}

/* An authenticator's length at p[o..end): the encoding names its proof's length. */
static int ledger_auth_span(const uint8_t *p, size_t o, size_t end, size_t *len)
{
	struct batchsig b;

	return batchsig_decode(&b, p + o, end - o, len) < 0 ? CORE_ERR_MALFORMED : 0;
}

/* One entry at p[*off]; every length is checked against the block's end. */
static int ledger_decode_entry(struct lref *r, const uint8_t *p, size_t end, size_t *off)
{
	size_t o = *off;

	if (end - o < 2)
		return CORE_ERR_MALFORMED;
	r->ack_len = ledger_get_u16(p + o);
	o += 2;
	if (r->ack_len == 0 || r->ack_len > CHORUS_LEDGER_TEXT_MAX || end - o < r->ack_len)
		return CORE_ERR_MALFORMED;
	r->ack = (const char *)p + o;
	o += r->ack_len;
	if (ledger_auth_span(p, o, end, &r->ack_auth_len) < 0 || end - o - r->ack_auth_len < 2)
		return CORE_ERR_MALFORMED;
	r->ack_auth = p + o;
	o += r->ack_auth_len;
	r->rcpt_len = ledger_get_u16(p + o);
	o += 2;
	if (r->rcpt_len == 0 || r->rcpt_len > CHORUS_LEDGER_TEXT_MAX || end - o < r->rcpt_len)
		return CORE_ERR_MALFORMED;
	r->rcpt = (const char *)p + o;
	o += r->rcpt_len;
	if (ledger_auth_span(p, o, end, &r->rcpt_auth_len) < 0)
		return CORE_ERR_MALFORMED;
	r->rcpt_auth = p + o;
	o += r->rcpt_auth_len;
	assert(o <= end);
	*off = o;
	return 0;
}

static int ledger_block_decode(struct lblock *b, const uint8_t *p, size_t len, char *why,
                               size_t whylen)
{
	struct ledger_block_info *bi = &b->info;
	size_t off = CHORUS_LEDGER_BLOCK_HEADER_BYTES, end;

	if (p == NULL || len > CHORUS_LEDGER_BLOCK_BYTES_MAX) {
		ledger_say(why, whylen, "bad encoding: %zu bytes", len);
		return CORE_ERR_OVERSIZE;
	}
	if (len < CHORUS_LEDGER_BLOCK_HEADER_BYTES + CHORUS_SIG_BYTES || memcmp(p, LEDGER_MAGIC, 4) != 0) {
		ledger_say(why, whylen, "bad encoding: not a block");
		return CORE_ERR_MALFORMED;
	}
	if (p[4] != LEDGER_VERSION) {
		ledger_say(why, whylen, "bad encoding: version %u (this ledger reads version %u%s)", p[4],
		           LEDGER_VERSION, p[4] == 1 ? ": a chain from before batch signatures" : "");
		return CORE_ERR_VERSION;
	}
	bi->height = codec_get_u64(p + 5);
	memcpy(bi->prev, p + 13, LEDGER_HASH_BYTES);
	bi->term = codec_get_u64(p + 45);
	memcpy(bi->leader, p + 53, CHORUS_PK_BYTES);
	bi->time_ms = codec_get_u64(p + 85);
	bi->nentries = ledger_get_u16(p + 93);
	/* Numbers stay within 2^53 so that JSON (a double) carries them exactly. */
	if (bi->height > CODEC_JSON_INT_MAX || bi->term > CODEC_JSON_INT_MAX ||
	    bi->time_ms > CODEC_JSON_INT_MAX) {
		ledger_say(why, whylen, "bad encoding: a number past 2^53");
		return CORE_ERR_MALFORMED;
	}
	if (bi->height == 0 || bi->nentries == 0 || bi->nentries > CHORUS_LEDGER_BLOCK_ENTRIES_MAX) {
		ledger_say(why, whylen, "bad encoding: height %llu with %zu entries",
		           (unsigned long long)bi->height, bi->nentries);
		return CORE_ERR_MALFORMED;
	}
	end = len - CHORUS_SIG_BYTES;
	for (size_t i = 0; i < bi->nentries; i++) {
		if (ledger_decode_entry(&b->e[i], p, end, &off) < 0) {
			ledger_say(why, whylen, "bad encoding: entry %zu", i);
			return CORE_ERR_MALFORMED;
		}
	}
	if (off != end) {
		ledger_say(why, whylen, "bad encoding: %zu trailing bytes", end - off);
		return CORE_ERR_MALFORMED;
	}
	b->sig = p + end;
	b->signed_len = end;
	crypto_generichash(bi->hash, LEDGER_HASH_BYTES, p, end, NULL, 0);
	return 0;
}

/* What the leader signs: a domain tag, so no other signed text can pass for a block. */
static size_t ledger_sig_msg(uint8_t *msg, const uint8_t hash[LEDGER_HASH_BYTES])
{
	size_t dlen = sizeof(LEDGER_SIG_DOMAIN) - 1;

	memcpy(msg, LEDGER_SIG_DOMAIN, dlen);
	memcpy(msg + dlen, hash, LEDGER_HASH_BYTES);
	return dlen + LEDGER_HASH_BYTES;
}

static int ledger_block_verify_sig(const struct core_crypto *crypto, const struct lblock *b)
{
	uint8_t msg[sizeof(LEDGER_SIG_DOMAIN) + LEDGER_HASH_BYTES];
	size_t n = ledger_sig_msg(msg, b->info.hash);

	return crypto->verify(b->sig, msg, n, b->info.leader) == 0 ? 0 : CORE_ERR_BADSIG;
}

int ledger_block_peek(const uint8_t *block, size_t len, struct ledger_block_info *info)
{
	struct lblock *b = malloc(sizeof(*b)); /* 12 KiB of entry refs: not on the stack */
	int err;

	if (b == NULL)
		return CORE_ERR_NOMEM;
	err = ledger_block_decode(b, block, len, NULL, 0);
	if (err == 0 && info != NULL)
		*info = b->info;
	free(b);
	return err;
}

/* ---------------------------------------------------------------- accounts */

static long ledger_acct_find(const struct ledger *l, const uint8_t key[CHORUS_PK_BYTES])
{
	size_t mask = l->nacct_slots - 1;

	assert(l->nacct_slots != 0 && (l->nacct_slots & mask) == 0);
	for (size_t s = ledger_slot(key, CHORUS_PK_BYTES, mask);; s = (s + 1) & mask) {
		uint32_t v = l->acct_slots[s];

		if (v == 0)
			return -1;
		if (memcmp(l->acct[v - 1].key, key, CHORUS_PK_BYTES) == 0)
			return (long)v - 1;
	}
}

/* Position of key in the sorted index (where it is or would go). */
static size_t ledger_acct_rank(const struct ledger *l, const uint8_t key[CHORUS_PK_BYTES])
{
	size_t lo = 0, hi = l->nacct;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(l->acct[l->acct_sorted[mid]].key, key, CHORUS_PK_BYTES) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void ledger_acct_slot_put(uint32_t *slots, size_t nslots, const uint8_t *key, uint32_t v)
{
	size_t mask = nslots - 1, s;

	for (s = ledger_slot(key, CHORUS_PK_BYTES, mask); slots[s] != 0; s = (s + 1) & mask)
		;
	slots[s] = v;
}

/*
 * Room for `need` accounts in all.  Growing changes no content, so a failure
 * here (before any mutation) still leaves the ledger as it was.
 */
static int ledger_acct_reserve(struct ledger *l, size_t need)
{
	size_t cap = l->acct_cap, nslots;

	assert(need <= l->accounts_max);
	if (need > cap) {
		struct ledger_account *v;
		uint32_t *sorted;

		cap = cap * 2 > need ? cap * 2 : need;
		cap = cap < l->accounts_max ? cap : l->accounts_max;
		if ((v = realloc(l->acct, cap * sizeof(*v))) == NULL)
			return CORE_ERR_NOMEM;
		l->acct = v;
		if ((sorted = realloc(l->acct_sorted, cap * sizeof(*sorted))) == NULL)
			return CORE_ERR_NOMEM;
		l->acct_sorted = sorted;
		l->acct_cap = cap;
	}
	if (2 * l->acct_cap > l->nacct_slots) {
		uint32_t *slots;

		for (nslots = l->nacct_slots ? l->nacct_slots : 1; nslots < 2 * l->acct_cap; nslots *= 2)
			;
		if ((slots = calloc(nslots, sizeof(*slots))) == NULL)
			return CORE_ERR_NOMEM;
		for (size_t i = 0; i < l->nacct; i++)
			ledger_acct_slot_put(slots, nslots, l->acct[i].key, (uint32_t)i + 1);
		free(l->acct_slots);
		l->acct_slots = slots;
		l->nacct_slots = nslots;
	}
	assert(l->acct_cap >= need && l->nacct_slots >= 2 * l->acct_cap);
	return 0;
}

/* Never fails: ledger_plan made sure there is room. */
static uint32_t ledger_acct_get_or_add(struct ledger *l, const uint8_t key[CHORUS_PK_BYTES])
{
	long found = ledger_acct_find(l, key);
	size_t rank;
	uint32_t i;

	if (found >= 0)
		return (uint32_t)found;
	assert(l->nacct < l->acct_cap && l->nacct < l->accounts_max);
	i = (uint32_t)l->nacct;
	memset(&l->acct[i], 0, sizeof(l->acct[i]));
	memcpy(l->acct[i].key, key, CHORUS_PK_BYTES);
	ledger_acct_slot_put(l->acct_slots, l->nacct_slots, key, i + 1);
	rank = ledger_acct_rank(l, key);
	memmove(&l->acct_sorted[rank + 1], &l->acct_sorted[rank],
	        (l->nacct - rank) * sizeof(l->acct_sorted[0]));
	l->acct_sorted[rank] = i;
	l->nacct++;
	return i;
}

/* ---------------------------------------------------------------- final jobs and windows */

static size_t ledger_job_home(const struct ledger *l, uint32_t v, size_t mask)
{
	return ledger_slot(l->jobs[v - 1].id, CHORUS_JOB_ID_BYTES, mask);
}

static size_t ledger_seq_slot(const uint8_t key[CHORUS_PK_BYTES], uint64_t seq, size_t mask)
{
	uint8_t k[CHORUS_PK_BYTES + 8];

	memcpy(k, key, CHORUS_PK_BYTES);
	codec_put_u64(k + CHORUS_PK_BYTES, seq);
	return ledger_slot(k, sizeof k, mask);
}

static size_t ledger_seq_home(const struct ledger *l, uint32_t v, size_t mask)
{
	const struct ljob *j = &l->jobs[v - 1];

	return ledger_seq_slot(l->wins[j->win].key, j->seq, mask);
}

static long ledger_job_find(const struct ledger *l, const uint8_t id[CHORUS_JOB_ID_BYTES])
{
	size_t mask = l->njob_slots - 1;

	assert(l->njob_slots != 0 && (l->njob_slots & mask) == 0);
	for (size_t s = ledger_slot(id, CHORUS_JOB_ID_BYTES, mask);; s = (s + 1) & mask) {
		uint32_t v = l->job_slots[s];

		if (v == 0)
			return -1;
		if (memcmp(l->jobs[v - 1].id, id, CHORUS_JOB_ID_BYTES) == 0)
			return (long)v - 1;
	}
}

/* The job window w holds at seq, or -1. */
static long ledger_seq_find(const struct ledger *l, long w, uint64_t seq)
{
	size_t mask = l->njob_slots - 1;

	for (size_t s = ledger_seq_slot(l->wins[w].key, seq, mask);; s = (s + 1) & mask) {
		uint32_t v = l->seq_slots[s];

		if (v == 0)
			return -1;
		if (l->jobs[v - 1].seq == seq && l->jobs[v - 1].win == (uint32_t)w)
			return (long)v - 1;
	}
}

static void ledger_slot_put(uint32_t *slots, size_t nslots, size_t home, uint32_t v)
{
	size_t mask = nslots - 1, s;

	for (s = home & mask; slots[s] != 0; s = (s + 1) & mask)
		;
	slots[s] = v;
}

/*
 * Linear probing without tombstones: value v leaves its table, and the
 * entries after it that probed past its slot move back (Knuth's algorithm R),
 * so lookups stay exact and the table never fills with the dead.
 */
static void ledger_slot_del(const struct ledger *l, uint32_t *slots, size_t nslots, size_t home,
                            uint32_t v, size_t (*home_of)(const struct ledger *, uint32_t, size_t))
{
	size_t mask = nslots - 1, i, j;

	for (i = home & mask; slots[i] != v; i = (i + 1) & mask)
		assert(slots[i] != 0);
	for (j = i;;) {
		slots[i] = 0;
		for (;;) {
			size_t h;

			j = (j + 1) & mask;
			if (slots[j] == 0)
				return;
			h = home_of(l, slots[j], mask);
			/* It may fill the hole unless its home lies cyclically in (i, j]. */
			if (i <= j ? (h <= i || h > j) : (h <= i && h > j))
				break;
		}
		slots[i] = slots[j];
		i = j;
	}
}

static long ledger_win_find(const struct ledger *l, const uint8_t key[CHORUS_PK_BYTES])
{
	size_t mask = l->nwin_slots - 1;

	for (size_t s = ledger_slot(key, CHORUS_PK_BYTES, mask);; s = (s + 1) & mask) {
		uint32_t v = l->win_slots[s];

		if (v == 0)
			return -1;
		if (memcmp(l->wins[v - 1].key, key, CHORUS_PK_BYTES) == 0)
			return (long)v - 1;
	}
}

/* Room for `extra` more windows; a failure changes no content. */
static int ledger_wins_reserve(struct ledger *l, size_t extra)
{
	size_t need = l->nwins + extra, cap = l->wins_cap, nslots;

	assert(need <= l->wins_max);
	if (need > cap) {
		struct lwin *v;

		cap = cap * 2 > need ? cap * 2 : need;
		cap = cap < l->wins_max ? cap : l->wins_max;
		if ((v = realloc(l->wins, cap * sizeof(*v))) == NULL)
			return CORE_ERR_NOMEM;
		l->wins = v;
		l->wins_cap = cap;
	}
	if (2 * l->wins_cap > l->nwin_slots) {
		uint32_t *slots;

		for (nslots = l->nwin_slots ? l->nwin_slots : 1; nslots < 2 * l->wins_cap; nslots *= 2)
			;
		if ((slots = calloc(nslots, sizeof(*slots))) == NULL)
			return CORE_ERR_NOMEM;
		for (size_t i = 0; i < l->nwins; i++)
			ledger_slot_put(slots, nslots, ledger_slot(l->wins[i].key, CHORUS_PK_BYTES,
			                                           nslots - 1), (uint32_t)i + 1);
		free(l->win_slots);
		l->win_slots = slots;
		l->nwin_slots = nslots;
	}
	return 0;
}

/* Never fails: ledger_plan made room. */
static uint32_t ledger_win_get_or_add(struct ledger *l, const uint8_t key[CHORUS_PK_BYTES])
{
	long found = ledger_win_find(l, key);
	struct lwin *w;

	if (found >= 0)
		return (uint32_t)found;
	assert(l->nwins < l->wins_cap);
	w = &l->wins[l->nwins];
	memset(w, 0, sizeof(*w));
	memcpy(w->key, key, CHORUS_PK_BYTES);
	w->head = w->tail = LEDGER_NIL;
	ledger_slot_put(l->win_slots, l->nwin_slots, ledger_slot(key, CHORUS_PK_BYTES,
	                                                        l->nwin_slots - 1),
	                (uint32_t)++l->nwins);
	return (uint32_t)(l->nwins - 1);
}

/*
 * Room for `extra` more held jobs (free slots count).  Growing changes no
 * content, so a failure here (before any mutation) leaves the ledger as it was.
 */
static int ledger_jobs_reserve(struct ledger *l, size_t extra)
{
	size_t need = l->njobs + extra, cap, nslots;

	if (need > l->jobs_max)
		return CORE_ERR_FULL;
	if (need > l->jobs_cap) {
		struct ljob *v;

		cap = l->jobs_cap * 2 > need ? l->jobs_cap * 2 : need;
		cap = cap < l->jobs_max ? cap : l->jobs_max;
		if ((v = realloc(l->jobs, cap * sizeof(*v))) == NULL)
			return CORE_ERR_NOMEM;
		l->jobs = v;
		l->jobs_cap = cap;
	}
	if (2 * l->jobs_cap > l->njob_slots) {
		uint32_t *slots, *seqs;

		for (nslots = l->njob_slots; nslots < 2 * l->jobs_cap; nslots *= 2)
			;
		slots = calloc(nslots, sizeof(*slots));
		seqs = calloc(nslots, sizeof(*seqs));
		if (slots == NULL || seqs == NULL) {
			free(slots);
			free(seqs);
			return CORE_ERR_NOMEM;
		}
		for (size_t i = 0; i < l->jobs_used; i++) {
			const struct ljob *j = &l->jobs[i];

			if (j->win == LEDGER_NIL)
				continue; /* a free slot */
			ledger_slot_put(slots, nslots, ledger_slot(j->id, CHORUS_JOB_ID_BYTES, nslots - 1),
			                (uint32_t)i + 1);
			ledger_slot_put(seqs, nslots, ledger_seq_slot(l->wins[j->win].key, j->seq,
			                                              nslots - 1), (uint32_t)i + 1);
		}
		free(l->job_slots);
		free(l->seq_slots);
		l->job_slots = slots;
		l->seq_slots = seqs;
		l->njob_slots = nslots;
	}
	assert(l->jobs_cap >= need && l->njob_slots >= 2 * l->jobs_cap);
	return 0;
}

static void ledger_job_record(const struct ledger *l, const struct ljob *j,
                              struct ledger_job *out);

/* A forgotten job joins the list ledger_forgotten_take hands out (or is counted, no memory). */
static void ledger_gone_add(struct ledger *l, const struct ljob *j)
{
	if (!l->gone_keep)
		return;
	if (l->ngone == l->gone_cap) {
		size_t cap = l->gone_cap ? 2 * l->gone_cap : 64;
		struct ledger_gone *g = realloc(l->gone, cap * sizeof(*g));

		if (g == NULL) {
			l->gone_unlisted++;
			return;
		}
		l->gone = g;
		l->gone_cap = cap;
	}
	memcpy(l->gone[l->ngone].job, j->id, CHORUS_JOB_ID_BYTES);
	ledger_job_record(l, j, &l->gone[l->ngone].rec);
	l->ngone++;
}

void ledger_forgotten_keep(struct ledger *l, int on)
{
	l->gone_keep = on;
	if (!on)
		l->ngone = 0;
}

struct ledger_gone *ledger_forgotten_take(struct ledger *l, size_t *n)
{
	*n = l->ngone;
	l->ngone = 0; /* the rows stay readable until the next forget overwrites them */
	return l->gone;
}

size_t ledger_forgotten_pending(const struct ledger *l)
{
	return l->ngone;
}

int ledger_forgotten_find(const struct ledger *l, const uint8_t job[CHORUS_JOB_ID_BYTES],
                          struct ledger_job *out)
{
	for (size_t i = 0; i < l->ngone; i++)
		if (memcmp(l->gone[i].job, job, CHORUS_JOB_ID_BYTES) == 0) {
			*out = l->gone[i].rec;
			return 0;
		}
	return CORE_ERR_INVAL;
}

/* A final job leaves memory: its client's floor passed it. */
static void ledger_job_forget(struct ledger *l, uint32_t i)
{
	struct ljob *j = &l->jobs[i];
	struct lwin *w = &l->wins[j->win];
	size_t mask = l->njob_slots - 1;

	assert(w->head == i && j->prev == LEDGER_NIL);
	ledger_gone_add(l, j);
	ledger_slot_del(l, l->job_slots, l->njob_slots, ledger_slot(j->id, CHORUS_JOB_ID_BYTES, mask),
	                i + 1, ledger_job_home);
	ledger_slot_del(l, l->seq_slots, l->njob_slots, ledger_seq_slot(w->key, j->seq, mask), i + 1,
	                ledger_seq_home);
	w->head = j->next;
	if (w->head == LEDGER_NIL)
		w->tail = LEDGER_NIL;
	else
		l->jobs[w->head].prev = LEDGER_NIL;
	w->nheld--;
	j->win = LEDGER_NIL;
	j->next = l->jobs_free;
	l->jobs_free = i;
	l->njobs--;
	l->forgotten++;
}

/* A checked entry's floor: the window's moves up, and its jobs below it are forgotten. */
static void ledger_win_floor(struct ledger *l, const uint8_t key[CHORUS_PK_BYTES], uint64_t floor)
{
	long k = ledger_win_find(l, key);
	struct lwin *w;

	if (k < 0)
		return; /* no final job yet: nothing to forget, and no room taken for a floor */
	w = &l->wins[k];
	if (floor <= w->floor)
		return; /* a floor never goes back */
	w->floor = floor;
	while (w->head != LEDGER_NIL && l->jobs[w->head].seq < floor)
		ledger_job_forget(l, w->head);
}

/* ---------------------------------------------------------------- create */

int ledger_create(struct ledger **out, const struct core_crypto *crypto)
{
	struct ledger *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (l == NULL)
		return CORE_ERR_NOMEM;
	l->crypto = crypto != NULL ? crypto : &crypto_ed25519;
	l->accounts_max = CHORUS_LEDGER_ACCOUNTS_MAX;
	l->jobs_max = CHORUS_LEDGER_JOBS_MAX;
	l->wins_max = CHORUS_LEDGER_ACCOUNTS_MAX;
	l->client_open_max = CHORUS_LEDGER_CLIENT_OPEN_MAX;
	l->jobs_free = LEDGER_NIL;
	l->vcache = calloc(LEDGER_VCACHE_SLOTS, sizeof(*l->vcache));
	if (batchsig_cache_create(&l->roots, CHORUS_BATCHSIG_CACHE_SLOTS) < 0) {
		ledger_destroy(l);
		return CORE_ERR_NOMEM;
	}
	l->dl = calloc(LEDGER_DELTA_MAX, sizeof(*l->dl));
	l->dl_slots = calloc(LEDGER_DELTA_SLOTS, sizeof(*l->dl_slots));
	l->njob_slots = 1;
	if (l->vcache == NULL || l->dl == NULL || l->dl_slots == NULL ||
	    ledger_acct_reserve(l, LEDGER_ACCT_INIT) < 0 || ledger_jobs_reserve(l, LEDGER_JOBS_INIT) < 0 ||
	    ledger_wins_reserve(l, LEDGER_WINS_INIT) < 0) {
		ledger_destroy(l);
		return CORE_ERR_NOMEM;
	}
	*out = l;
	return 0;
}

void ledger_destroy(struct ledger *l)
{
	if (l == NULL)
		return;
	free(l->acct);
	free(l->acct_slots);
	free(l->acct_sorted);
	free(l->jobs);
	free(l->job_slots);
	free(l->seq_slots);
	free(l->wins);
	free(l->win_slots);
	free(l->vcache);
	batchsig_cache_destroy(l->roots);
	free(l->build_buf);
	free(l->dl);
	free(l->dl_slots);
	free(l->memo);
	free(l->gone);
	for (unsigned k = 0; k < LEDGER_BUILT_MAX; k++)
		free(l->built_info[k]);
	free(l);
}

void ledger_limits_set(struct ledger *l, size_t accounts_max, size_t jobs_max)
{
	l->accounts_max = accounts_max && accounts_max < CHORUS_LEDGER_ACCOUNTS_MAX
	                      ? accounts_max : CHORUS_LEDGER_ACCOUNTS_MAX;
	l->jobs_max = jobs_max && jobs_max < CHORUS_LEDGER_JOBS_MAX ? jobs_max : CHORUS_LEDGER_JOBS_MAX;
	assert(l->nacct <= l->accounts_max && l->njobs <= l->jobs_max);
}

void ledger_window_set(struct ledger *l, size_t client_open_max)
{
	l->client_open_max = client_open_max && client_open_max < CHORUS_LEDGER_CLIENT_OPEN_MAX
	                         ? client_open_max : CHORUS_LEDGER_CLIENT_OPEN_MAX;
}

void ledger_build_unchecked(struct ledger *l, int on)
{
	l->build_unchecked = on;
}

void ledger_build_bytes(struct ledger *l, size_t max)
{
	l->build_bytes = max;
}

const char *ledger_outcome_name(int outcome)
{
	static const char *const names[LEDGER_OUTCOMES] = {
		"credited", "duplicate", "bad entry", "insufficient balance", "accounts full",
		"reward over the bound", "index full", "window full",
	};

	return outcome >= 0 && outcome < LEDGER_OUTCOMES ? names[outcome] : "unknown";
}

const char *ledger_why(const struct ledger *l)
{
	return l->why;
}

/* ---------------------------------------------------------------- apply */

static int ledger_check_link(struct ledger *l, const struct ledger_block_info *bi)
{
	if (bi->height <= l->height) {
		ledger_say(l->why, sizeof(l->why), "bad height: %llu is at or below the head (%llu)",
		           (unsigned long long)bi->height, (unsigned long long)l->height);
		return CORE_ERR_STALE;
	}
	if (bi->height != l->height + 1) {
		ledger_say(l->why, sizeof(l->why), "bad height: %llu, expected %llu",
		           (unsigned long long)bi->height, (unsigned long long)l->height + 1);
		return CORE_ERR_INVAL;
	}
	if (memcmp(bi->prev, l->head, LEDGER_HASH_BYTES) != 0) {
		ledger_say(l->why, sizeof(l->why), "bad link: prev is not the hash of block %llu",
		           (unsigned long long)l->height);
		return CORE_ERR_INVAL;
	}
	if (bi->term < l->term) {
		ledger_say(l->why, sizeof(l->why), "bad term: %llu is below the head's %llu",
		           (unsigned long long)bi->term, (unsigned long long)l->term);
		return CORE_ERR_INVAL;
	}
	return 0;
}

/*
 * Every entry's texts and signatures: one that does not check is skipped
 * (never fatal, and its job not made final: anyone can flip a bit of a real
 * job's entry).  The first such is noted for verify.
 */
static void ledger_check_entries(struct ledger *l)
{
	const struct lblock *b = &l->blk;
	char why[LEDGER_WHY_MAX - 32];

	l->note[0] = '\0';
	for (size_t i = 0; i < b->info.nentries; i++) {
		int err = ledger_entry_verify(l->crypto, l, &b->e[i], &l->info[i], why, sizeof(why));

		l->outcome[i] = err < 0 ? LEDGER_SKIPPED : LEDGER_CREDITED;
		l->settle[i] = 0;
		if (err < 0) {
			memset(&l->info[i], 0, sizeof(l->info[i]));
			if (l->note[0] == '\0')
				ledger_say(l->note, sizeof(l->note), "bad entry %zu: %s", i, why);
		}
	}
}

/* A block built here: every entry checked when it was built, infos[i] what it says. */
static void ledger_checked_entries(struct ledger *l, const struct ledger_entry_info *infos)
{
	l->note[0] = '\0';
	for (size_t i = 0; i < l->blk.info.nentries; i++) {
		l->info[i] = infos[i];
		l->outcome[i] = LEDGER_CREDITED;
		l->settle[i] = 0;
	}
}

/* Does this outcome make its job final (an index record)? */
static int ledger_outcome_final(int o)
{
	return o == LEDGER_CREDITED || o == LEDGER_REJECT_BALANCE || o == LEDGER_REJECT_ACCOUNTS ||
	       o == LEDGER_REJECT_REWARD;
}

/* A job final before this block, or made final by an earlier entry of it. */
static int ledger_job_seen(const struct ledger *l, size_t i)
{
	if (ledger_job_find(l, l->info[i].job) >= 0)
		return 1;
	for (size_t j = 0; j < i; j++)
		if (ledger_outcome_final(l->outcome[j]) &&
		    memcmp(l->info[j].job, l->info[i].job, CHORUS_JOB_ID_BYTES) == 0)
			return 1;
	return 0;
}

/*
 * The window of in's client as apply will see it at entry `upto` of the
 * block at hand: the state, then the earlier entries before[0..upto) (their
 * outcomes in out[]): each checked one raises the floor to its own, each
 * final one holds its seq.  A pure function of the blocks, the same in
 * apply, the builder and a leader's queue (upto 0).
 */
static void ledger_view(const struct ledger *l, const struct ledger_entry_info *in,
                        const struct ledger_entry_info *before, const uint8_t *out, size_t upto,
                        struct lview *v)
{
	long w = ledger_win_find(l, in->client);

	v->floor = w >= 0 ? l->wins[w].floor : 0;
	v->held = w >= 0 ? l->wins[w].nheld : 0;
	v->fresh = w < 0;
	v->seq_final = w >= 0 && ledger_seq_find(l, w, in->seq) >= 0;
	for (size_t j = 0; j < upto; j++) {
		const struct ledger_entry_info *e = &before[j];

		if (out[j] == LEDGER_SKIPPED || memcmp(e->client, in->client, CHORUS_PK_BYTES) != 0)
			continue;
		v->floor = e->floor > v->floor ? e->floor : v->floor;
		if (ledger_outcome_final(out[j])) {
			v->held++;
			v->fresh = 0;
			v->seq_final |= e->seq == in->seq;
		}
	}
}

/*
 * The window's verdict before the usual rules: an ack below its client's
 * floor is settled (a replay of one committed long ago, or one its client
 * gave up), and a seq final already is a repeat: both duplicates, no-ops.
 * -1 when neither.
 */
static int ledger_window_dup(const struct lview *v, const struct ledger_entry_info *in)
{
	if (in->seq < v->floor)
		return 1;
	return v->seq_final ? 0 : -1;
}

/* ---------------------------------------------------------------- judging */

static void ledger_delta_reset(struct ledger *l)
{
	for (size_t i = 0; i < l->ndl; i++)
		l->dl_slots[l->dl[i].slot] = 0;
	l->ndl = l->dl_fresh = l->dl_jobs = l->dl_wins = 0;
}

/* The delta of key, or NULL when the judged entries did not touch it. */
static struct ldelta *ledger_delta_find(const struct ledger *l, const uint8_t key[CHORUS_PK_BYTES])
{
	size_t mask = LEDGER_DELTA_SLOTS - 1;

	for (size_t s = ledger_slot(key, CHORUS_PK_BYTES, mask);; s = (s + 1) & mask) {
		uint32_t v = l->dl_slots[s];

		if (v == 0)
			return NULL;
		if (memcmp(l->dl[v - 1].key, key, CHORUS_PK_BYTES) == 0)
			return &l->dl[v - 1];
	}
}

static struct ldelta *ledger_delta_add(struct ledger *l, const uint8_t key[CHORUS_PK_BYTES])
{
	size_t mask = LEDGER_DELTA_SLOTS - 1, s;
	struct ldelta *d = ledger_delta_find(l, key);

	if (d != NULL)
		return d;
	assert(l->ndl < LEDGER_DELTA_MAX); /* callers judge at most that many keys at once */
	d = &l->dl[l->ndl];
	memcpy(d->key, key, CHORUS_PK_BYTES);
	d->acct = ledger_acct_find(l, key);
	d->earned = d->spent = 0;
	for (s = ledger_slot(key, CHORUS_PK_BYTES, mask); l->dl_slots[s] != 0; s = (s + 1) & mask)
		;
	d->slot = (uint32_t)s;
	l->dl_slots[s] = (uint32_t)++l->ndl;
	l->dl_fresh += d->acct < 0;
	return d;
}

/* A credit joins the delta: the client pays, the worker earns. */
static void ledger_delta_credit(struct ledger *l, const uint8_t client[CHORUS_PK_BYTES],
                                const uint8_t worker[CHORUS_PK_BYTES], uint64_t reward)
{
	ledger_delta_add(l, client)->spent += reward;
	ledger_delta_add(l, worker)->earned += reward;
	l->dl_jobs++;
}

/* Room for a new window, and the client's bound on seqs held above its floor. */
static int ledger_window_full(const struct ledger *l, const struct lview *v)
{
	return v->held >= l->client_open_max || (v->fresh && l->nwins + l->dl_wins >= l->wins_max);
}

/* 1 when key has neither an account nor a place in the delta: it would be new. */
static int ledger_key_new(const struct ledger *l, const uint8_t key[CHORUS_PK_BYTES])
{
	return ledger_delta_find(l, key) == NULL && ledger_acct_find(l, key) < 0;
}

/*
 * What apply does with a checked entry whose job is not final, given the
 * state plus the delta: the one rule, used by apply (ledger_plan), by the
 * builder (ledger_build_entries) and by a leader's queue (ledger_entry_admit,
 * with an empty delta).  Order fixes which reason wins; it is the same
 * everywhere.  Balances: spent + reward <= allowance + earned, all below 2^53
 * (limits.h), so the sums cannot wrap.
 */
static int ledger_judge(const struct ledger *l, const struct ledger_entry_info *in,
                        const struct lview *v)
{
	const struct ldelta *d = ledger_delta_find(l, in->client);
	long a = d != NULL ? d->acct : ledger_acct_find(l, in->client);
	uint64_t earned = (a >= 0 ? l->acct[a].earned : 0) + (d != NULL ? d->earned : 0);
	uint64_t spent = (a >= 0 ? l->acct[a].spent : 0) + (d != NULL ? d->spent : 0);
	size_t fresh = (size_t)ledger_key_new(l, in->client);

	if (memcmp(in->client, in->worker, CHORUS_PK_BYTES) != 0)
		fresh += (size_t)ledger_key_new(l, in->worker);
	if (l->njobs + l->dl_jobs >= l->jobs_max)
		return LEDGER_REJECT_INDEX;
	if (ledger_window_full(l, v))
		return LEDGER_REJECT_WINDOW;
	if (in->reward > CHORUS_LEDGER_REWARD_MAX)
		return LEDGER_REJECT_REWARD;
	if (l->nacct + l->dl_fresh + fresh > l->accounts_max)
		return LEDGER_REJECT_ACCOUNTS;
	assert(earned <= CODEC_JSON_INT_MAX && spent <= CHORUS_LEDGER_ALLOWANCE + earned);
	if (spent + in->reward > CHORUS_LEDGER_ALLOWANCE + earned)
		return LEDGER_REJECT_BALANCE;
	return LEDGER_CREDITED;
}

/* The outcome judged for entry i: into the delta (a recorded rejection takes an index slot). */
static void ledger_delta_take(struct ledger *l, size_t i, int o, const struct lview *v)
{
	const struct ledger_entry_info *in = &l->info[i];

	l->outcome[i] = (uint8_t)o;
	l->dl_wins += v->fresh && ledger_outcome_final(o);
	if (o == LEDGER_CREDITED)
		ledger_delta_credit(l, in->client, in->worker, in->reward);
	else if (ledger_outcome_final(o))
		l->dl_jobs++;
}

int ledger_entry_admit(const struct ledger *l, const struct ledger_entry_info *in)
{
	struct lview v;

	assert(l->ndl == 0); /* judgements leave no delta behind */
	ledger_view(l, in, NULL, NULL, 0, &v);
	if (ledger_window_dup(&v, in) >= 0)
		return LEDGER_DUPLICATE;
	return ledger_judge(l, in, &v);
}

int ledger_entry_settled(const struct ledger *l, const struct ledger_entry_info *in)
{
	long w = ledger_win_find(l, in->client);

	return w >= 0 && in->seq < l->wins[w].floor;
}

int ledger_window_get(const struct ledger *l, const uint8_t client[CHORUS_PK_BYTES],
                      uint64_t *floor, uint64_t *held)
{
	long w = ledger_win_find(l, client);

	*floor = w >= 0 ? l->wins[w].floor : 0;
	*held = w >= 0 ? l->wins[w].nheld : 0;
	return w >= 0 ? 0 : CORE_ERR_INVAL;
}

/*
 * Every check, and every allocation, before any mutation: judges each entry
 * in order (duplicates, then ledger_judge against the block so far) and
 * reserves room for what the block adds.  Only this node's memory can fail.
 */
static int ledger_plan(struct ledger *l)
{
	size_t n = l->blk.info.nentries;
	int err;

	ledger_delta_reset(l);
	for (size_t i = 0; i < n; i++) {
		struct lview v;
		int dup;

		if (l->outcome[i] == LEDGER_SKIPPED)
			continue;
		ledger_view(l, &l->info[i], l->info, l->outcome, i, &v);
		if ((dup = ledger_window_dup(&v, &l->info[i])) >= 0 || ledger_job_seen(l, i)) {
			l->outcome[i] = LEDGER_DUPLICATE;
			l->settle[i] = dup == 1;
			if (l->note[0] == '\0')
				ledger_say(l->note, sizeof(l->note), "double credit: entry %zu's %s", i,
				           dup == 1 ? "seq is below its client's floor (settled)"
				                    : "job is already final");
			continue;
		}
		ledger_delta_take(l, i, ledger_judge(l, &l->info[i], &v), &v);
	}
	assert(l->ndl <= LEDGER_NEW_KEYS_MAX && l->nacct + l->dl_fresh <= l->accounts_max);
	if ((err = ledger_acct_reserve(l, l->nacct + l->dl_fresh)) < 0 ||
	    (err = ledger_wins_reserve(l, l->dl_wins)) < 0 ||
	    (err = ledger_jobs_reserve(l, l->dl_jobs)) < 0) {
		ledger_delta_reset(l);
		ledger_say(l->why, sizeof(l->why), "out of memory for the accounts or the job index");
		return err;
	}
	ledger_delta_reset(l);
	return 0;
}

/* A seq joins its window's list, in seq order (from the tail: acks come nearly in order). */
static void ledger_win_link(struct ledger *l, struct lwin *w, uint32_t i)
{
	struct ljob *j = &l->jobs[i];
	uint32_t after = w->tail;

	while (after != LEDGER_NIL && l->jobs[after].seq > j->seq)
		after = l->jobs[after].prev;
	j->prev = after;
	j->next = after == LEDGER_NIL ? w->head : l->jobs[after].next;
	if (after == LEDGER_NIL)
		w->head = i;
	else
		l->jobs[after].next = i;
	if (j->next == LEDGER_NIL)
		w->tail = i;
	else
		l->jobs[j->next].prev = i;
	w->nheld++;
}

/* A final job into memory: the index by id, by client and seq, and its window. */
static void ledger_job_put(struct ledger *l, const struct ledger_entry_info *in, uint32_t c,
                           uint32_t w, uint64_t height, int o)
{
	size_t mask = l->njob_slots - 1;
	uint32_t i;
	struct ljob *j;

	assert(l->njobs < l->jobs_cap && ledger_outcome_final(o));
	if (l->jobs_free != LEDGER_NIL) {
		i = l->jobs_free;
		l->jobs_free = l->jobs[i].next;
	} else {
		assert(l->jobs_used < l->jobs_cap);
		i = (uint32_t)l->jobs_used++;
	}
	j = &l->jobs[i];
	memcpy(j->id, in->job, CHORUS_JOB_ID_BYTES);
	j->client = c;
	j->worker = w;
	j->height = height;
	j->reward = in->reward;
	j->outcome = (uint8_t)o;
	j->seq = in->seq;
	j->win = ledger_win_get_or_add(l, in->client);
	ledger_slot_put(l->job_slots, l->njob_slots, ledger_slot(j->id, CHORUS_JOB_ID_BYTES, mask),
	                i + 1);
	ledger_slot_put(l->seq_slots, l->njob_slots, ledger_seq_slot(in->client, j->seq, mask), i + 1);
	ledger_win_link(l, &l->wins[j->win], i);
	l->njobs++;
}

static uint32_t ledger_acct_index(const struct ledger *l, const uint8_t key[CHORUS_PK_BYTES])
{
	long i = ledger_acct_find(l, key);

	return i >= 0 ? (uint32_t)i : LEDGER_NO_ACCT;
}

/* The outcomes of this block join the running digest (the state hash covers it). */
static void ledger_outcomes_fold(struct ledger *l)
{
	crypto_generichash_state st;
	uint8_t h[8];

	codec_put_u64(h, l->blk.info.height);
	crypto_generichash_init(&st, NULL, 0, LEDGER_HASH_BYTES);
	crypto_generichash_update(&st, l->outcomes, LEDGER_HASH_BYTES);
	crypto_generichash_update(&st, h, sizeof h);
	crypto_generichash_update(&st, l->outcome, l->blk.info.nentries);
	crypto_generichash_final(&st, l->outcomes, LEDGER_HASH_BYTES);
}

/* Cannot fail: ledger_plan judged every entry and reserved room. */
static void ledger_commit(struct ledger *l)
{
	const struct ledger_block_info *bi = &l->blk.info;

	for (size_t i = 0; i < bi->nentries; i++) {
		const struct ledger_entry_info *in = &l->info[i];
		int o = l->outcome[i];
		uint32_t c, w;

		l->by_outcome[o]++;
		l->duplicates += o == LEDGER_DUPLICATE;
		l->settled += l->settle[i];
		l->skipped += o == LEDGER_SKIPPED;
		l->rejected += o >= LEDGER_REJECT_BALANCE;
		if (o == LEDGER_SKIPPED)
			continue; /* a bad signature touches no window */
		if (o != LEDGER_CREDITED) {
			if (ledger_outcome_final(o))
				ledger_job_put(l, in, ledger_acct_index(l, in->client),
				               ledger_acct_index(l, in->worker), bi->height, o);
			ledger_win_floor(l, in->client, in->floor);
			continue;
		}
		c = ledger_acct_get_or_add(l, in->client);
		w = ledger_acct_get_or_add(l, in->worker);
		assert(l->acct[c].spent + in->reward <= CHORUS_LEDGER_ALLOWANCE + l->acct[c].earned);
		l->acct[c].spent += in->reward;
		l->acct[c].jobs_paid++;
		l->acct[w].earned += in->reward;
		l->acct[w].jobs_run++;
		l->total_reward += in->reward;
		l->credited++;
		ledger_job_put(l, in, c, w, bi->height, o);
		ledger_win_floor(l, in->client, in->floor);
	}
	ledger_outcomes_fold(l);
	l->entries += bi->nentries;
	l->height = bi->height;
	l->term = bi->term;
	memcpy(l->head, bi->hash, LEDGER_HASH_BYTES);
}

/* Did this ledger build and sign exactly these bytes? */
/* The slot of a block this ledger built (ledger->built), or -1. */
static int ledger_built_here(const struct ledger *l, const uint8_t *block, size_t len)
{
	uint8_t d[LEDGER_HASH_BYTES];

	crypto_generichash(d, sizeof d, block, len, NULL, 0);
	for (unsigned i = 0; i < LEDGER_BUILT_MAX && i < l->nbuilt; i++)
		if (memcmp(l->built[i], d, sizeof d) == 0)
			return (int)i;
	return -1;
}

int ledger_block_apply(struct ledger *l, const uint8_t *block, size_t len)
{
	int err, k;

	l->why[0] = '\0';
	if ((err = ledger_block_decode(&l->blk, block, len, l->why, sizeof(l->why))) < 0 ||
	    (err = ledger_check_link(l, &l->blk.info)) < 0)
		return err;
	if ((k = ledger_built_here(l, block, len)) < 0 &&
	    ledger_block_verify_sig(l->crypto, &l->blk) < 0) {
		ledger_say(l->why, sizeof(l->why), "bad signature: the leader did not sign this block");
		return CORE_ERR_BADSIG;
	}
	if (k >= 0 && l->built_info[k] != NULL && l->built_n[k] == l->blk.info.nentries)
		ledger_checked_entries(l, l->built_info[k]); /* built here: checked then */
	else
		ledger_check_entries(l);
	if ((err = ledger_plan(l)) < 0)
		return err;
	ledger_commit(l);
	return 0;
}

int ledger_block_outcome(const struct ledger *l, size_t i)
{
	assert(i < CHORUS_LEDGER_BLOCK_ENTRIES_MAX);
	return l->outcome[i];
}

size_t ledger_block_entries(const struct ledger *l)
{
	return l->height > 0 ? l->blk.info.nentries : 0;
}

const struct ledger_entry_info *ledger_block_entry(const struct ledger *l, size_t i)
{
	assert(i < CHORUS_LEDGER_BLOCK_ENTRIES_MAX);
	return &l->info[i];
}

int ledger_outcome_is_final(int outcome)
{
	return ledger_outcome_final(outcome);
}

/* ---------------------------------------------------------------- build */

static void ledger_put_entry(uint8_t *p, const struct ledger_entry *e)
{
	size_t o = 0;

	ledger_put_u16(p + o, e->ack_len);
	memcpy(p + (o += 2), e->ack_text, e->ack_len);
	o += e->ack_len;
	o += batchsig_encode(p + o, &e->ack_auth);
	ledger_put_u16(p + o, e->receipt_len);
	memcpy(p + (o += 2), e->receipt_text, e->receipt_len);
	o += e->receipt_len;
	o += batchsig_encode(p + o, &e->receipt_auth);
	assert(o == ledger_entry_size(e));
}

static void ledger_put_header(uint8_t *p, const struct ledger_tip *on, uint64_t term,
                              const uint8_t leader_pk[CHORUS_PK_BYTES], uint64_t time_ms, size_t n)
{
	memcpy(p, LEDGER_MAGIC, 4);
	p[4] = LEDGER_VERSION;
	codec_put_u64(p + 5, on->height + 1);
	memcpy(p + 13, on->hash, LEDGER_HASH_BYTES);
	codec_put_u64(p + 45, term);
	memcpy(p + 53, leader_pk, CHORUS_PK_BYTES);
	codec_put_u64(p + 85, time_ms);
	ledger_put_u16(p + 93, (uint16_t)n);
}

/*
 * The blocks this ledger built beyond the head, up to the tip built on,
 * replayed into the delta: the state the next block applies to.  Their
 * entries are kept out of the input by the caller (ledger.h).
 */
static void ledger_memo_seed(struct ledger *l, const struct ledger_tip *on)
{
	ledger_delta_reset(l);
	for (unsigned k = 0; l->memo != NULL && k < LEDGER_BUILT_MAX; k++) {
		const struct lmemo *m = &l->memo[k];

		if (m->height <= l->height || m->height > on->height)
			continue;
		for (uint32_t i = 0; i < m->n; i++)
			ledger_delta_credit(l, m->c[i].client, m->c[i].worker, m->c[i].reward);
		l->dl_jobs += m->nrecord;
	}
}

/* The block just built at height: its memo (the last slot) replaces any at or above it. */
static void ledger_memo_keep(struct ledger *l, uint64_t height)
{
	unsigned free_k = LEDGER_BUILT_MAX, low_k = 0;

	for (unsigned k = 0; k < LEDGER_BUILT_MAX; k++) {
		struct lmemo *m = &l->memo[k];

		if (m->height >= height || m->height <= l->height)
			m->height = 0;
		if (m->height == 0 && free_k == LEDGER_BUILT_MAX)
			free_k = k;
		if (m->height < l->memo[low_k].height)
			low_k = k;
	}
	if (free_k == LEDGER_BUILT_MAX)
		free_k = low_k; /* more in flight than remembered: the oldest goes */
	l->memo[free_k] = l->memo[LEDGER_BUILT_MAX];
	l->memo[free_k].height = height;
}

/* Entry count of the block being built (its memo) takes entry count's judgement o. */
static void ledger_memo_add(struct ledger *l, size_t count, int o)
{
	struct lmemo *m = &l->memo[LEDGER_BUILT_MAX];
	const struct ledger_entry_info *in = &l->info[count];

	if (o == LEDGER_CREDITED) {
		memcpy(m->c[m->n].client, in->client, CHORUS_PK_BYTES);
		memcpy(m->c[m->n].worker, in->worker, CHORUS_PK_BYTES);
		m->c[m->n++].reward = in->reward;
	} else {
		m->nrecord += ledger_outcome_final(o);
	}
}

/*
 * Fills buf with as many new entries as fit, each judged as apply will
 * judge it (after the blocks in flight and the earlier entries): only
 * creditable ones are taken (an unchecked build, a test's stand-in for an
 * older leader, takes them whatever the judgement).  Returns how many it
 * put; *used how many inputs it looked at (verdict[] says why each was left
 * out or taken); *off the bytes used.
 */
static size_t ledger_build_entries(struct ledger *l, uint8_t *buf, const struct ledger_entry *in,
                                   const struct ledger_entry_info *infos, size_t n, size_t *used,
                                   size_t *off)
{
	size_t count = 0, i, max = CHORUS_LEDGER_BLOCK_BYTES_MAX;

	if (l->build_bytes > 0 && l->build_bytes < max)
		max = l->build_bytes;
	l->memo[LEDGER_BUILT_MAX].n = l->memo[LEDGER_BUILT_MAX].nrecord = 0;
	for (i = 0; i < n && i < LEDGER_BUILD_INPUTS_MAX && count < CHORUS_LEDGER_BLOCK_ENTRIES_MAX;
	     i++) {
		const struct ledger_entry *e = &in[i];
		struct lview v;
		size_t size;
		int o;

		l->verdict[i] = LEDGER_SKIPPED;
		if (infos != NULL)
			l->info[count] = infos[i]; /* checked by the caller (ledger_block_build_checked) */
		else if (ledger_entry_check_here(l, e, &l->info[count]) < 0)
			continue; /* the texts are bad; a block holding it would not apply */
		size = ledger_entry_size(e);
		if (*off + size + CHORUS_SIG_BYTES > max)
			break;
		l->verdict[i] = LEDGER_DUPLICATE;
		ledger_view(l, &l->info[count], l->info, l->outcome, count, &v);
		if (ledger_window_dup(&v, &l->info[count]) >= 0 || ledger_job_seen(l, count))
			continue;
		o = ledger_judge(l, &l->info[count], &v);
		l->verdict[i] = (uint8_t)o;
		/*
		 * A full window still takes an entry that raises its client's floor:
		 * not credited in this block, it frees the room its retry needs.
		 */
		if (o != LEDGER_CREDITED && !(l->build_unchecked && o != LEDGER_REJECT_INDEX) &&
		    !(o == LEDGER_REJECT_WINDOW && l->info[count].floor > v.floor))
			continue;
		l->verdict[i] = LEDGER_CREDITED;
		ledger_delta_take(l, count, o, &v);
		ledger_memo_add(l, count, o);
		ledger_put_entry(buf + *off, e);
		*off += size;
		count++;
	}
	*used = i;
	ledger_delta_reset(l);
	return count;
}

int ledger_build_verdict(const struct ledger *l, size_t i)
{
	assert(i < LEDGER_BUILD_INPUTS_MAX);
	return l->verdict[i];
}

int ledger_block_build(struct ledger *l, uint64_t term, const uint8_t leader_pk[CHORUS_PK_BYTES],
                       const uint8_t leader_sk[CHORUS_SK_BYTES], uint64_t time_ms,
                       const struct ledger_entry *entries, size_t n, size_t *used, uint8_t **out,
                       size_t *out_len)
{
	return ledger_block_build_on(l, NULL, term, leader_pk, leader_sk, time_ms, entries, n, used,
	                             out, out_len);
}

void ledger_tip_head(const struct ledger *l, struct ledger_tip *tip)
{
	tip->height = l->height;
	tip->term = l->term;
	memcpy(tip->hash, l->head, LEDGER_HASH_BYTES);
}

int ledger_tip_of(const uint8_t *block, size_t len, struct ledger_tip *tip)
{
	struct ledger_block_info bi;
	int err = ledger_block_peek(block, len, &bi);

	if (err < 0)
		return err;
	tip->height = bi.height;
	tip->term = bi.term;
	memcpy(tip->hash, bi.hash, LEDGER_HASH_BYTES);
	return 0;
}

static int ledger_build_at(struct ledger *l, const struct ledger_tip *on, uint64_t term,
                           const uint8_t leader_pk[CHORUS_PK_BYTES],
                           const uint8_t leader_sk[CHORUS_SK_BYTES], uint64_t time_ms,
                           const struct ledger_entry *entries,
                           const struct ledger_entry_info *infos, size_t n, size_t *used,
                           uint8_t **out, size_t *out_len)
{
	uint8_t msg[sizeof(LEDGER_SIG_DOMAIN) + LEDGER_HASH_BYTES], hash[LEDGER_HASH_BYTES], *buf;
	size_t off = CHORUS_LEDGER_BLOCK_HEADER_BYTES, count, mlen;
	struct ledger_tip head;

	*out = NULL;
	*out_len = 0;
	*used = 0;
	l->why[0] = '\0';
	ledger_tip_head(l, &head);
	if (on == NULL)
		on = &head;
	if (leader_pk == NULL || leader_sk == NULL || (entries == NULL && n > 0) || term < on->term ||
	    on->term < l->term || on->height < l->height || term > CODEC_JSON_INT_MAX ||
	    time_ms > CODEC_JSON_INT_MAX) {
		ledger_say(l->why, sizeof(l->why), "bad arguments (term %llu, tip's %llu at %llu, head's %llu)",
		           (unsigned long long)term, (unsigned long long)on->term,
		           (unsigned long long)on->height, (unsigned long long)l->term);
		return CORE_ERR_INVAL;
	}
	if (l->build_buf == NULL && (l->build_buf = malloc(CHORUS_LEDGER_BLOCK_BYTES_MAX)) == NULL)
		return CORE_ERR_NOMEM;
	if (l->memo == NULL && (l->memo = calloc(LEDGER_BUILT_MAX + 1, sizeof(*l->memo))) == NULL)
		return CORE_ERR_NOMEM;
	buf = l->build_buf;
	ledger_memo_seed(l, on);
	count = ledger_build_entries(l, buf, entries, infos, n, used, &off);
	if (count == 0)
		return 0;
	ledger_put_header(buf, on, term, leader_pk, time_ms, count);
	crypto_generichash(hash, LEDGER_HASH_BYTES, buf, off, NULL, 0);
	mlen = ledger_sig_msg(msg, hash);
	l->crypto->sign(buf + off, msg, mlen, leader_sk);
	/* A key pair that does not match would make a block nobody applies: checked once. */
	{
		uint8_t pair[LEDGER_HASH_BYTES];
		crypto_generichash_state st;

		crypto_generichash_init(&st, NULL, 0, sizeof pair);
		crypto_generichash_update(&st, leader_pk, CHORUS_PK_BYTES);
		crypto_generichash_update(&st, leader_sk, CHORUS_SK_BYTES);
		crypto_generichash_final(&st, pair, sizeof pair);
		if (!l->has_signer_ok || memcmp(l->signer_ok, pair, sizeof pair) != 0) {
			if (l->crypto->verify(buf + off, msg, mlen, leader_pk) != 0) {
				ledger_say(l->why, sizeof(l->why), "the leader's key pair does not match");
				return CORE_ERR_INVAL;
			}
			memcpy(l->signer_ok, pair, sizeof pair);
			l->has_signer_ok = 1;
		}
	}
	off += CHORUS_SIG_BYTES;
	{
		unsigned k = l->nbuilt++ % LEDGER_BUILT_MAX;

		crypto_generichash(l->built[k], LEDGER_HASH_BYTES, buf, off, NULL, 0);
		free(l->built_info[k]); /* kept if memory allows: apply decodes without it */
		if ((l->built_info[k] = malloc(count * sizeof(*l->built_info[k]))) != NULL)
			memcpy(l->built_info[k], l->info, count * sizeof(*l->built_info[k]));
		l->built_n[k] = (uint32_t)count;
	}
	ledger_memo_keep(l, on->height + 1);
	assert(off <= CHORUS_LEDGER_BLOCK_BYTES_MAX && *used <= n);
	if ((*out = malloc(off)) == NULL) {
		*used = 0;
		return CORE_ERR_NOMEM;
	}
	memcpy(*out, buf, off);
	*out_len = off;
	return 0;
}

int ledger_block_build_on(struct ledger *l, const struct ledger_tip *on, uint64_t term,
                          const uint8_t leader_pk[CHORUS_PK_BYTES],
                          const uint8_t leader_sk[CHORUS_SK_BYTES], uint64_t time_ms,
                          const struct ledger_entry *entries, size_t n, size_t *used,
                          uint8_t **out, size_t *out_len)
{
	return ledger_build_at(l, on, term, leader_pk, leader_sk, time_ms, entries, NULL, n, used,
	                       out, out_len);
}

int ledger_block_build_checked(struct ledger *l, const struct ledger_tip *on, uint64_t term,
                               const uint8_t leader_pk[CHORUS_PK_BYTES],
                               const uint8_t leader_sk[CHORUS_SK_BYTES], uint64_t time_ms,
                               const struct ledger_entry *entries,
                               const struct ledger_entry_info *infos, size_t n, size_t *used,
                               uint8_t **out, size_t *out_len)
{
	if (infos == NULL) {
		*out = NULL;
		*out_len = 0;
		*used = 0;
		return CORE_ERR_INVAL;
	}
	return ledger_build_at(l, on, term, leader_pk, leader_sk, time_ms, entries, infos, n, used,
	                       out, out_len);
}

/* ---------------------------------------------------------------- queries */

uint64_t ledger_height(const struct ledger *l)
{
	return l->height;
}

void ledger_head_hash(const struct ledger *l, uint8_t hash[LEDGER_HASH_BYTES])
{
	memcpy(hash, l->head, LEDGER_HASH_BYTES);
}

void ledger_stats(const struct ledger *l, struct ledger_stats *out)
{
	uint64_t miss;

	memset(out, 0, sizeof(*out));
	out->height = l->height;
	out->entries = l->entries;
	out->credited = l->credited;
	out->duplicates = l->duplicates;
	out->settled = l->settled;
	out->jobs_held = l->njobs;
	out->forgotten = l->forgotten;
	out->forgotten_unlisted = l->gone_unlisted;
	out->clients = l->nwins;
	out->rejected = l->rejected;
	out->skipped = l->skipped;
	memcpy(out->by_outcome, l->by_outcome, sizeof(out->by_outcome));
	out->accounts = l->nacct;
	out->total_reward = l->total_reward;
	out->verify_cache_hits = l->vcache_hits;
	batchsig_cache_stats(l->roots, &out->root_cache_hits, &miss);
	out->root_verifies = miss;
	assert(out->entries == out->credited + out->duplicates + out->rejected + out->skipped);
	assert(out->by_outcome[LEDGER_CREDITED] == out->credited);
}

/* The account as shown: with its balance, which apply keeps at or above zero. */
static void ledger_acct_view(const struct ledger_account *a, struct ledger_account *out)
{
	*out = *a;
	assert(a->spent <= CHORUS_LEDGER_ALLOWANCE + a->earned);
	out->balance = CHORUS_LEDGER_ALLOWANCE + a->earned - a->spent;
}

int ledger_balance(const struct ledger *l, const uint8_t key[CHORUS_PK_BYTES],
                   struct ledger_account *out)
{
	long i = ledger_acct_find(l, key);

	memset(out, 0, sizeof(*out));
	memcpy(out->key, key, CHORUS_PK_BYTES);
	out->balance = CHORUS_LEDGER_ALLOWANCE;
	if (i < 0)
		return CORE_ERR_INVAL;
	ledger_acct_view(&l->acct[i], out);
	return 0;
}

int ledger_account_at(const struct ledger *l, size_t i, struct ledger_account *out)
{
	if (i >= l->nacct)
		return CORE_ERR_INVAL;
	ledger_acct_view(&l->acct[l->acct_sorted[i]], out);
	return 0;
}

int ledger_job_get(const struct ledger *l, const uint8_t job[CHORUS_JOB_ID_BYTES],
                   struct ledger_job *out)
{
	long i = ledger_job_find(l, job);

	memset(out, 0, sizeof(*out));
	if (i < 0)
		return CORE_ERR_INVAL;
	ledger_job_record(l, &l->jobs[i], out);
	return 0;
}

static void ledger_job_record(const struct ledger *l, const struct ljob *j,
                              struct ledger_job *out)
{
	memset(out, 0, sizeof(*out));
	assert(j->outcome != LEDGER_CREDITED || (j->client < l->nacct && j->worker < l->nacct));
	out->height = j->height;
	if (j->client != LEDGER_NO_ACCT)
		memcpy(out->client, l->acct[j->client].key, CHORUS_PK_BYTES);
	if (j->worker != LEDGER_NO_ACCT)
		memcpy(out->worker, l->acct[j->worker].key, CHORUS_PK_BYTES);
	out->reward = j->reward;
	out->outcome = j->outcome;
}

void ledger_state_hash(const struct ledger *l, uint8_t out[LEDGER_HASH_BYTES])
{
	crypto_generichash_state st;
	uint8_t u[8 * 9];

	crypto_generichash_init(&st, NULL, 0, LEDGER_HASH_BYTES);
	codec_put_u64(u, l->height);
	codec_put_u64(u + 8, l->term);
	codec_put_u64(u + 16, l->entries);
	codec_put_u64(u + 24, l->njobs);
	codec_put_u64(u + 32, l->duplicates);
	codec_put_u64(u + 40, l->total_reward);
	codec_put_u64(u + 48, l->credited);
	codec_put_u64(u + 56, l->rejected);
	codec_put_u64(u + 64, l->skipped);
	crypto_generichash_update(&st, u, sizeof(u));
	crypto_generichash_update(&st, l->head, LEDGER_HASH_BYTES);
	/* Which entries were credited, rejected (and why) or skipped, block by block. */
	crypto_generichash_update(&st, l->outcomes, LEDGER_HASH_BYTES);
	for (size_t i = 0; i < l->nacct; i++) {
		const struct ledger_account *a = &l->acct[l->acct_sorted[i]];

		codec_put_u64(u, a->earned);
		codec_put_u64(u + 8, a->spent);
		codec_put_u64(u + 16, a->jobs_run);
		codec_put_u64(u + 24, a->jobs_paid);
		crypto_generichash_update(&st, a->key, CHORUS_PK_BYTES);
		crypto_generichash_update(&st, u, 32);
	}
	/* Every client's floor and how many seqs it holds, in the order the windows were made. */
	codec_put_u64(u, l->nwins);
	codec_put_u64(u + 8, l->forgotten);
	codec_put_u64(u + 16, l->settled);
	crypto_generichash_update(&st, u, 24);
	for (size_t i = 0; i < l->nwins; i++) {
		codec_put_u64(u, l->wins[i].floor);
		codec_put_u64(u + 8, l->wins[i].nheld);
		crypto_generichash_update(&st, l->wins[i].key, CHORUS_PK_BYTES);
		crypto_generichash_update(&st, u, 16);
	}
	crypto_generichash_final(&st, out, LEDGER_HASH_BYTES);
}

/* ---------------------------------------------------------------- verify */

static int ledger_verify_balances(const struct ledger *l, const struct ledger_account *expected,
                                  size_t n, char *why, size_t whylen)
{
	char hex[CHORUS_ID_HEX + 1];

	if (n != l->nacct) {
		ledger_say(why, whylen, "balance mismatch: %zu accounts, expected %zu", l->nacct, n);
		return CORE_ERR_INVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ledger_account *e = &expected[i];
		long k = ledger_acct_find(l, e->key);
		const struct ledger_account *a = k >= 0 ? &l->acct[k] : NULL;

		if (a == NULL || a->earned != e->earned || a->spent != e->spent ||
		    a->jobs_run != e->jobs_run || a->jobs_paid != e->jobs_paid) {
			codec_hex(hex, e->key, CHORUS_PK_BYTES);
			ledger_say(why, whylen, "balance mismatch: %.16s earned %llu spent %llu, expected "
			           "%llu and %llu", hex, a ? (unsigned long long)a->earned : 0ULL,
			           a ? (unsigned long long)a->spent : 0ULL, (unsigned long long)e->earned,
			           (unsigned long long)e->spent);
			return CORE_ERR_INVAL;
		}
	}
	return 0;
}

/* Applies block i; a repeated job is a finding here even though apply takes it. */
static int ledger_verify_one(struct ledger *l, const uint8_t *block, size_t len, char *why,
                             size_t whylen)
{
	uint64_t dups = l->duplicates, skipped = l->skipped;
	int err = ledger_block_apply(l, block, len);

	if (err < 0) {
		ledger_say(why, whylen, "%s", l->why);
		return err;
	}
	if (l->skipped != skipped) {
		ledger_say(why, whylen, "%s", l->note);
		return CORE_ERR_BADSIG;
	}
	if (l->duplicates != dups) {
		ledger_say(why, whylen, "%s", l->note);
		return CORE_ERR_REPLAY;
	}
	return 0;
}

int ledger_verify_chain(const struct core_crypto *crypto, ledger_block_cb block_cb, void *ctx,
                        const struct ledger_account *expected, size_t nexpected,
                        uint64_t *first_bad_height, char *why, size_t whylen)
{
	struct ledger *l;
	int err;

	*first_bad_height = 0;
	ledger_say(why, whylen, "%s", "");
	if (block_cb == NULL || (expected == NULL && nexpected > 0))
		return CORE_ERR_INVAL;
	if ((err = ledger_create(&l, crypto)) < 0)
		return err;
	for (uint64_t i = 0;; i++) {
		const uint8_t *block = NULL;
		size_t len = 0;
		int more = block_cb(ctx, i, &block, &len);

		if (more == 0)
			break;
		err = more < 0 ? more : ledger_verify_one(l, block, len, why, whylen);
		if (more < 0)
			ledger_say(why, whylen, "block %llu could not be read", (unsigned long long)i + 1);
		if (err < 0) {
			*first_bad_height = i + 1;
			break;
		}
	}
	if (err == 0 && expected != NULL)
		err = ledger_verify_balances(l, expected, nexpected, why, whylen);
	ledger_destroy(l);
	return err;
}

/* ---------------------------------------------------------------- JSON */

/* Adders return 0, or -1 when cJSON could not allocate: the caller drops the object. */
static int ledger_json_hex(cJSON *o, const char *key, const uint8_t *p, size_t n)
{
	char hex[2 * CHORUS_PK_BYTES + 1];

	assert(n <= CHORUS_PK_BYTES);
	codec_hex(hex, p, n);
	return cJSON_AddStringToObject(o, key, hex) != NULL ? 0 : -1;
}

static int ledger_json_num(cJSON *o, const char *key, uint64_t v)
{
	assert(v <= CODEC_JSON_INT_MAX); /* the decoders' bound: exact as a double */
	return cJSON_AddNumberToObject(o, key, (double)v) != NULL ? 0 : -1;
}

static cJSON *ledger_json_entry(const struct lref *r)
{
	struct jack a;
	struct jreceipt rc;
	cJSON *o;

	if (ledger_entry_decode(r, &a, &rc, NULL, 0) < 0 || (o = cJSON_CreateObject()) == NULL)
		return NULL;
	if (ledger_json_hex(o, "job", a.id, CHORUS_JOB_ID_BYTES) < 0 ||
	    ledger_json_hex(o, "client", a.client, CHORUS_PK_BYTES) < 0 ||
	    ledger_json_hex(o, "worker", a.worker, CHORUS_PK_BYTES) < 0 ||
	    cJSON_AddStringToObject(o, "kind", a.kind) == NULL ||
	    ledger_json_num(o, "reward", a.reward) < 0 ||
	    ledger_json_hex(o, "result_hash", a.result_hash, JOBMSG_HASH_BYTES) < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int ledger_json_block(cJSON *o, const struct lblock *b)
{
	const struct ledger_block_info *bi = &b->info;
	cJSON *arr;

	if (ledger_json_num(o, "height", bi->height) < 0 ||
	    ledger_json_hex(o, "hash", bi->hash, LEDGER_HASH_BYTES) < 0 ||
	    ledger_json_hex(o, "prev", bi->prev, LEDGER_HASH_BYTES) < 0 ||
	    ledger_json_num(o, "term", bi->term) < 0 ||
	    ledger_json_hex(o, "leader", bi->leader, CHORUS_PK_BYTES) < 0 ||
	    ledger_json_num(o, "time", bi->time_ms) < 0 ||
	    (arr = cJSON_AddArrayToObject(o, "entries")) == NULL)
		return -1;
	for (size_t i = 0; i < bi->nentries; i++) {
		cJSON *e = ledger_json_entry(&b->e[i]);

		if (e == NULL)
			return -1;
		if (!cJSON_AddItemToArray(arr, e)) {
			cJSON_Delete(e);
			return -1;
		}
	}
	return 0;
}

struct cJSON *ledger_block_to_json(const uint8_t *block, size_t len)
{
	struct lblock *b = malloc(sizeof(*b)); /* 12 KiB of entry refs: not on the stack */
	cJSON *o = NULL;

	if (b != NULL && ledger_block_decode(b, block, len, NULL, 0) == 0 &&
	    (o = cJSON_CreateObject()) != NULL && ledger_json_block(o, b) < 0) {
		cJSON_Delete(o);
		o = NULL;
	}
	free(b);
	return o;
}

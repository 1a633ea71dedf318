/*
 * The ledger: a chain of leader-signed blocks of job completion records, and
 * the balances derived from them.  Pure and sans-io like the core: no files,
 * clock or sockets; time arrives as an argument.  It knows blocks and entries
 * only, never the consensus protocol: whoever orders blocks (Raft, or another
 * protocol behind the consensus interface) builds a block on the leader with
 * ledger_block_build(), replicates the bytes, and every node hands each
 * committed block, in log order, to ledger_block_apply().  Formats, rules and
 * bounds: docs/ledger.md.
 *
 * Errors are enum core_err codes (core_strerror); ledger_why() says more.
 * Not thread-safe; one ledger per thread.
 */
#ifndef CHORUS_LEDGER_H
#define CHORUS_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/batchsig.h"
#include "chorus/core.h"
#include "chorus/limits.h"

#define LEDGER_HASH_BYTES 32 /* BLAKE2b-256 */
#define LEDGER_WHY_MAX    160 /* ledger_why() text, NUL included */

/*
 * One entry: a successful job's two signed texts, copied out of a struct
 * job_ack (whose texts live only during ack_cb).  The client's ack names the
 * hash of the worker's receipt, so the pair proves who ran what for whom.
 * Each text carries its signer's batch authenticator (batchsig.h): the
 * signed root of the batch it was signed in and its inclusion proof, so the
 * chain stays verifiable from the blocks alone.
 */
struct ledger_entry {
	char ack_text[CHORUS_LEDGER_TEXT_MAX + 1];
	uint16_t ack_len;
	struct batchsig ack_auth;     /* by the client: root, count, index, proof, signature */
	char receipt_text[CHORUS_LEDGER_TEXT_MAX + 1];
	uint16_t receipt_len;
	struct batchsig receipt_auth; /* by the worker */
};

/* What an entry says, for display and indexes. */
struct ledger_entry_info {
	uint8_t job[CHORUS_JOB_ID_BYTES];
	uint8_t client[CHORUS_PK_BYTES];
	uint8_t worker[CHORUS_PK_BYTES];
	char kind[CHORUS_KIND_MAX + 1];
	uint8_t result_hash[LEDGER_HASH_BYTES];
	uint64_t reward;
	uint64_t seq;   /* the client's ack sequence number */
	uint64_t floor; /* the client's acks below this seq were settled when it signed */
};

/*
 * Copies a completion ack into an entry.  CORE_ERR_INVAL when it earns no
 * credit (status other than "succeeded", or no receipt); CORE_ERR_OVERSIZE
 * when a text is over CHORUS_LEDGER_TEXT_MAX.  Checks nothing else: see
 * ledger_entry_check().
 */
int ledger_entry_from_ack(struct ledger_entry *e, const struct job_ack *ack);

/*
 * Everything that makes an entry creditable: both texts decode and are
 * canonical, the client signed the ack and the worker the receipt (each
 * text's proof leads to a root its signer signed with the leaf count), the ack
 * names that receipt (hash, job, client, worker, result hash) and both say it
 * succeeded.  crypto NULL: crypto_ed25519.  info may be NULL.
 */
int ledger_entry_check(const struct core_crypto *crypto, const struct ledger_entry *e,
                       struct ledger_entry_info *info);

/*
 * ledger_entry_check() with this ledger's crypto and its caches: an entry
 * whose exact bytes (texts and authenticators) this ledger verified before,
 * here or in a block it built or applied, costs a hash; a batch root whose
 * signature it verified before (batchsig.h's cache) costs the proof's
 * hashes instead of a signature verification.  Everything else is checked.
 */
struct ledger;
int ledger_entry_check_here(struct ledger *l, const struct ledger_entry *e,
                            struct ledger_entry_info *info);
/* ledger_entry_check_here() that says why (a sentence into why): 0 or its error. */
int ledger_entry_explain(struct ledger *l, const struct ledger_entry *e,
                         struct ledger_entry_info *info, char *why, size_t whylen);

/*
 * The job an entry names, read from its ack text and nothing checked: so that
 * a leader can tell the submitter of an entry that does not check.  0, or
 * CORE_ERR_MALFORMED.
 */
int ledger_entry_job(const struct ledger_entry *e, uint8_t job[CHORUS_JOB_ID_BYTES]);

/* A block's header, decoded (ledger_block_peek). */
struct ledger_block_info {
	uint64_t height; /* the first block is 1; height 0 is the implied genesis */
	uint8_t prev[LEDGER_HASH_BYTES];
	uint64_t term;   /* the consensus term it was built in; never decreases */
	uint8_t leader[CHORUS_PK_BYTES];
	uint64_t time_ms; /* leader's wall clock at build time; informative only */
	size_t nentries;
	uint8_t hash[LEDGER_HASH_BYTES];
};

/*
 * Balances derived from the credited entries, one per key.  A job's reward
 * is paid by its client: balance = CHORUS_LEDGER_ALLOWANCE + earned - spent,
 * never negative (an entry that would make it so is rejected).
 */
struct ledger_account {
	uint8_t key[CHORUS_PK_BYTES];
	uint64_t earned;    /* rewards of jobs this key ran (as worker) */
	uint64_t spent;     /* rewards of jobs this key paid for (as client) */
	uint64_t jobs_run;
	uint64_t jobs_paid;
	uint64_t balance;   /* allowance + earned - spent (derived, for display) */
};

/*
 * What became of one entry of an applied block (docs/ledger.md).  Every
 * entry of a block that applies ends as exactly one of these, the same on
 * every node.  CREDITED and the REJECT_* of a recorded kind make its job
 * final (ledger_job_get); SKIPPED (signatures or texts do not check) and
 * REJECT_INDEX do not: a bit-flipped copy must not block the real job.
 */
enum ledger_outcome {
	LEDGER_CREDITED = 0,
	LEDGER_DUPLICATE = 1,      /* the job is final already: a no-op */
	LEDGER_SKIPPED = 2,        /* does not check (texts, match, signatures) */
	LEDGER_REJECT_BALANCE = 3, /* the client cannot pay: allowance + earned - spent < reward */
	LEDGER_REJECT_ACCOUNTS = 4, /* a new key, and the accounts are full */
	LEDGER_REJECT_REWARD = 5,  /* reward over CHORUS_LEDGER_REWARD_MAX */
	LEDGER_REJECT_INDEX = 6,   /* the index of final jobs is full (not recorded) */
	LEDGER_REJECT_WINDOW = 7,  /* the client holds CHORUS_LEDGER_CLIENT_OPEN_MAX seqs above its
	                              floor, or the windows are full (not recorded: retried) */
};
#define LEDGER_OUTCOMES 8
/* "credited", "duplicate", "bad entry", "insufficient balance", ... */
const char *ledger_outcome_name(int outcome);

/* A final job (ledger_job_get): credited, or rejected with a reason. */
struct ledger_job {
	uint64_t height; /* block that made it final */
	uint8_t client[CHORUS_PK_BYTES]; /* zero when the key has no account (a rejection) */
	uint8_t worker[CHORUS_PK_BYTES];
	uint64_t reward;
	int outcome;     /* LEDGER_CREDITED or a recorded LEDGER_REJECT_* */
};

struct ledger_stats {
	uint64_t height;     /* == blocks applied */
	uint64_t entries;    /* entries in applied blocks */
	uint64_t credited;   /* distinct jobs credited */
	uint64_t duplicates; /* entries for a job already final: applied as no-ops */
	uint64_t settled;    /* of them: an ack below its client's floor (a replay, or given up) */
	uint64_t rejected;   /* entries rejected (every LEDGER_REJECT_*) */
	uint64_t skipped;    /* entries that do not check (LEDGER_SKIPPED) */
	uint64_t by_outcome[LEDGER_OUTCOMES]; /* entries, by enum ledger_outcome */
	uint64_t accounts;
	uint64_t total_reward;
	uint64_t verify_cache_hits; /* entries whose signatures were verified here before */
	uint64_t root_cache_hits;   /* batch roots whose signature was verified here before */
	uint64_t root_verifies;     /* batch root signatures verified (ed25519) here */
	uint64_t jobs_held;  /* final jobs in memory: above their client's floor */
	uint64_t forgotten;  /* final jobs forgotten as their client's floor passed them */
	uint64_t forgotten_unlisted; /* of them, not listed for ledger_forgotten_take (no memory) */
	uint64_t clients;    /* client windows (a floor each) */
};

struct ledger;

int ledger_create(struct ledger **out, const struct core_crypto *crypto); /* NULL: ed25519 */
void ledger_destroy(struct ledger *l);

/* Why the last failing call failed ("" after a success). */
const char *ledger_why(const struct ledger *l);

/*
 * The leader: builds block height+1 on the current head from entries,
 * skipping entries that do not check, jobs already final, repeats within
 * the batch and every entry that apply would reject (judged as apply will:
 * against the state after the blocks built on this ledger but not applied
 * yet, and after the earlier entries of this block), and stopping before the block would pass
 * CHORUS_LEDGER_BLOCK_ENTRIES_MAX entries or CHORUS_LEDGER_BLOCK_BYTES_MAX
 * bytes.  *used: how many of entries[] were taken or skipped; build again
 * with the rest.  With nothing new to credit, returns 0 with *out NULL.
 * Otherwise *out (malloc'd, the caller frees) holds the signed block; it
 * changes nothing here: the block counts once it comes back through
 * ledger_block_apply().  Build the next block only after that.
 */
int ledger_block_build(struct ledger *l, uint64_t term, const uint8_t leader_pk[CHORUS_PK_BYTES],
                       const uint8_t leader_sk[CHORUS_SK_BYTES], uint64_t time_ms,
                       const struct ledger_entry *entries, size_t n, size_t *used, uint8_t **out,
                       size_t *out_len);

/*
 * Where the next block goes: after the head, or (a pipelining leader) after
 * a block it built and proposed but that is not applied yet.
 */
struct ledger_tip {
	uint64_t height;
	uint64_t term;
	uint8_t hash[LEDGER_HASH_BYTES];
};
void ledger_tip_head(const struct ledger *l, struct ledger_tip *tip);
/* The tip a built block makes (ledger_block_peek's height, term and hash). */
int ledger_tip_of(const uint8_t *block, size_t len, struct ledger_tip *tip);
/*
 * ledger_block_build() on a tip at or beyond the head (NULL: the head).  The
 * caller keeps entries of the blocks between the head and the tip out of
 * entries[]: only the applied state is consulted for jobs already credited
 * (a repeat would apply as a no-op anyway).
 */
int ledger_block_build_on(struct ledger *l, const struct ledger_tip *on, uint64_t term,
                          const uint8_t leader_pk[CHORUS_PK_BYTES],
                          const uint8_t leader_sk[CHORUS_SK_BYTES], uint64_t time_ms,
                          const struct ledger_entry *entries, size_t n, size_t *used,
                          uint8_t **out, size_t *out_len);
/*
 * ledger_block_build_on() of entries this ledger checked already: infos[i]
 * is what ledger_entry_explain() (or _check_here()) gave for entries[i],
 * which the build takes instead of decoding the entry again.  A leader's
 * queue holds only entries it checked (voter.c).  Every other voter checks
 * every entry at apply; this ledger applies its own block from those infos
 * (ledger_block_apply), so infos that are not its entries' would make its
 * state differ from theirs: they must come from this ledger's check of
 * these very bytes.
 */
int ledger_block_build_checked(struct ledger *l, const struct ledger_tip *on, uint64_t term,
                               const uint8_t leader_pk[CHORUS_PK_BYTES],
                               const uint8_t leader_sk[CHORUS_SK_BYTES], uint64_t time_ms,
                               const struct ledger_entry *entries,
                               const struct ledger_entry_info *infos, size_t n, size_t *used,
                               uint8_t **out, size_t *out_len);

/*
 * Why ledger_block_build*() left input i (i < *used) out of its block, or
 * LEDGER_CREDITED when it took it: LEDGER_DUPLICATE, LEDGER_SKIPPED or a
 * LEDGER_REJECT_*.  A build looks at most LEDGER_BUILD_INPUTS_MAX inputs.
 */
#define LEDGER_BUILD_INPUTS_MAX 1024
int ledger_build_verdict(const struct ledger *l, size_t i);

/*
 * Every node: applies a committed block.  Checks the block (bounded decode,
 * height == head + 1, prev == head hash, term not below the head's, the
 * leader's signature): a block that fails changes nothing and returns the
 * error.  A block that passes always applies, whatever its entries say:
 * each one ends as an enum ledger_outcome (ledger_block_outcome), credited
 * at most once per job.  Errors: CORE_ERR_STALE for a height at or below the
 * head (a replay: harmless), CORE_ERR_INVAL, _MALFORMED, _VERSION, _OVERSIZE,
 * _BADSIG for a bad block, CORE_ERR_NOMEM (this node's own memory); any
 * error leaves the ledger exactly as it was.  Deterministic: the same blocks
 * give the same state.
 */
int ledger_block_apply(struct ledger *l, const uint8_t *block, size_t len);
/* The outcome of entry i of the block last applied (i < its entry count). */
int ledger_block_outcome(const struct ledger *l, size_t i);
/* The block last applied: its entry count, and what entry i says (zero for a bad entry). */
size_t ledger_block_entries(const struct ledger *l);
const struct ledger_entry_info *ledger_block_entry(const struct ledger *l, size_t i);
/* Does this outcome make its job final (credited, or rejected with a recorded reason)? */
int ledger_outcome_is_final(int outcome);

/*
 * Tests and the simulator only (every voter must use the same values; the
 * daemon never calls these): lower the accounts and final-jobs bounds
 * (0: the default), and make the builder skip the bound checks, as a leader
 * from before them would (ledger_build_entries still checks signatures and
 * duplicates), so that apply's rejection path can be exercised.
 */
void ledger_limits_set(struct ledger *l, size_t accounts_max, size_t jobs_max);
/* Lowers CHORUS_LEDGER_CLIENT_OPEN_MAX (0: the default): tests and the simulator. */
void ledger_window_set(struct ledger *l, size_t client_open_max);
void ledger_build_unchecked(struct ledger *l, int on);
/*
 * The most bytes a block built from here on may take, its signature
 * included (0, or above CHORUS_LEDGER_BLOCK_BYTES_MAX: that bound): a
 * build stops taking entries before it, so that a block fits what carries
 * it (one Raft entry) without being built again smaller.
 */
void ledger_build_bytes(struct ledger *l, size_t max);
/* The bytes an entry takes in a block (its texts and authenticators, framed). */
size_t ledger_entry_size(const struct ledger_entry *e);

/*
 * A leader's check of one checked entry against the applied state alone (a
 * queue admits it or not): the reward bound and the client's balance.
 * LEDGER_CREDITED when it would be creditable now, else the reason.
 */
int ledger_entry_admit(const struct ledger *l, const struct ledger_entry_info *in);
/*
 * A client's window: its floor (0: none yet) and how many final seqs it
 * holds above it.  CORE_ERR_INVAL when the key has no window.
 */
int ledger_window_get(const struct ledger *l, const uint8_t client[CHORUS_PK_BYTES],
                      uint64_t *floor, uint64_t *held);
/*
 * Is this checked entry settled for good: its seq below its client's floor
 * (a replay of an old ack, or one its client gave up)?  1 or 0.
 */
int ledger_entry_settled(const struct ledger *l, const struct ledger_entry_info *in);
/* The client, seq and floor an ack text states, nothing checked: 0 or CORE_ERR_MALFORMED. */
int ledger_entry_seq(const struct ledger_entry *e, uint8_t client[CHORUS_PK_BYTES],
                     uint64_t *seq, uint64_t *floor);

/* Decodes a block's header and hash without checking signatures or links. */
int ledger_block_peek(const uint8_t *block, size_t len, struct ledger_block_info *info);

/* Queries.  Block count == height. */
uint64_t ledger_height(const struct ledger *l);
void ledger_head_hash(const struct ledger *l, uint8_t hash[LEDGER_HASH_BYTES]);
void ledger_stats(const struct ledger *l, struct ledger_stats *out);
/* A key's account; zero (balance: the allowance) and CORE_ERR_INVAL when the key has none. */
int ledger_balance(const struct ledger *l, const uint8_t key[CHORUS_PK_BYTES],
                   struct ledger_account *out);
/* Accounts in ascending key order: i in [0, ledger_stats().accounts). */
int ledger_account_at(const struct ledger *l, size_t i, struct ledger_account *out);
/*
 * CORE_ERR_INVAL when the job is not final (neither credited nor rejected)
 * or no longer held: its client's floor passed it (docs/ledger.md, the window).
 */
int ledger_job_get(const struct ledger *l, const uint8_t job[CHORUS_JOB_ID_BYTES],
                   struct ledger_job *out);

/* A final job the ledger forgot (its client's floor passed it). */
struct ledger_gone {
	uint8_t job[CHORUS_JOB_ID_BYTES];
	struct ledger_job rec;
};
/*
 * The jobs forgotten since the last call, in order: *n of them, valid until
 * the next block applies (the caller may reorder them); the list starts
 * again empty.  For an index of forgotten jobs on disk (the node's jobs
 * table): a held job is answered from memory, so only a forgotten one needs
 * a row, written once.  Kept only once ledger_forgotten_keep(l, 1) was
 * called (a user that never takes them would hold them all).  A taker may
 * let them gather (each write of random keys dirties a page per row, a
 * sorted batch of thousands far fewer): ledger_forgotten_pending() counts
 * the list, and ledger_forgotten_find() reads a job in it (0, or
 * CORE_ERR_INVAL: not there).
 */
void ledger_forgotten_keep(struct ledger *l, int on);
struct ledger_gone *ledger_forgotten_take(struct ledger *l, size_t *n);
size_t ledger_forgotten_pending(const struct ledger *l);
int ledger_forgotten_find(const struct ledger *l, const uint8_t job[CHORUS_JOB_ID_BYTES],
                          struct ledger_job *out);
/*
 * BLAKE2b-256 of the height, head hash, totals, the outcome of every entry
 * applied (a running digest) and every account in key order: nodes compare
 * it to prove they hold the same state.
 */
void ledger_state_hash(const struct ledger *l, uint8_t out[LEDGER_HASH_BYTES]);

/*
 * Audit: replays a chain from genesis on a fresh ledger.  block_cb gives
 * block i (0-based; height i + 1): 1 with *block and *len set, 0 after the last,
 * negative on a storage error.  Stricter than apply: a repeated job is a
 * finding ("double credit"), since an honest leader never builds one.  With
 * expected != NULL the final accounts must equal expected[0..nexpected)
 * (any order).  Rejected entries are not findings (a leader can race the
 * state), entries that do not check are ("bad entry": a leader checks
 * them).  Returns 0 when all holds; otherwise an error, with
 * *first_bad_height the height of the first bad block (0: no block is bad,
 * the final balances are) and why naming it: bad encoding, bad height, bad
 * link, bad term, bad signature, bad entry, double credit, balance mismatch.
 */
typedef int (*ledger_block_cb)(void *ctx, uint64_t i, const uint8_t **block, size_t *len);
int ledger_verify_chain(const struct core_crypto *crypto, ledger_block_cb block_cb, void *ctx,
                        const struct ledger_account *expected, size_t nexpected,
                        uint64_t *first_bad_height, char *why, size_t whylen);

/*
 * A block for the API: {"height","hash","prev","term","leader","time",
 * "entries": [{"job", "client", "worker", "kind", "reward", "result_hash"}]}
 * (hex strings, numbers).  NULL when it does not decode.  Checks no
 * signature: apply or verify for that.  The caller frees it (cJSON_Delete).
 */
struct cJSON;
struct cJSON *ledger_block_to_json(const uint8_t *block, size_t len);

#endif

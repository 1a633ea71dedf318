/*
 * voter: the ledger voter's decisions (include/chorus/voter.h), the one copy
 * that chorusd (src/node/voterd.c) and chorus-sim (src/sim/sim-ledger.c)
 * both run.
 *
 * A leader keeps a queue of checked entries (pending), each with the origin
 * to answer.  It pipelines blocks from the queue: the first block of its
 * term waits for a final head (its whole log applied and committed, the
 * term's no-op included), so that it links to the block every voter applies
 * last; the next ones build on the last block proposed (the tip), at most
 * inflight_max beyond the applied head.  Once the height moves, the origins
 * of credited entries are answered and those entries leave the queue.
 *
 * Invariants (asserted where they are local):
 *   - only a leader queues, builds and answers; stepping down drops the
 *     queue and the tip (origins retry with the next leader);
 *   - every proposed block is in the leader's current term and at most
 *     inflight_max beyond its applied head;
 *   - an entry is queued at most once per job;
 *   - effects (answers, log records) are bounded between two drains.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chorus/consensus.h"
#include "chorus/voter.h"
#include "dispatch/jobmsg.h"

struct voter_pending {
	struct ledger_entry e;
	struct ledger_entry_info info;
	uint8_t origin[CHORUS_PK_BYTES]; /* whose outbox holds it: the answer goes there */
	uint64_t answer;                 /* credited at this height, not answered yet */
	uint64_t proposed;               /* in the block of this height (0: not yet) */
	int refused;                     /* the builder left it out for good: answered, dropped */
};

struct voter {
	struct voter_config cfg;
	struct ledger *ledger;
	struct consensus *cons;       /* the log, borrowed (include/chorus/consensus.h) */
	struct voter_pending *pending;
	size_t npending;
	struct ledger_tip tip;        /* leader: the last block proposed (pipelining) */
	uint64_t tip_term;            /* the term tip belongs to; 0: none */
	uint64_t answered_height;     /* leader: pending entries answered up to this height */
	struct ledger_entry *build_es;          /* voter_build's scratch: the entries */
	struct ledger_entry_info *build_info;   /* and what admission's check found in each */
	struct voter_pending **build_taken;     /* and the queue slots they came from */
	struct voter_answer *answers;
	size_t nanswers, answers_max;
	struct voter_log logs[VOTER_LOGS_MAX];
	size_t nlogs;
	struct voter_stats st;
};

/* ---------------------------------------------------------------- effects */

static void voter_log(struct voter *v, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void voter_log(struct voter *v, int level, const char *fmt, ...)
{
	va_list ap;

	if (v->nlogs == VOTER_LOGS_MAX) {
		v->st.logs_lost++;
		return;
	}
	v->logs[v->nlogs].level = level;
	va_start(ap, fmt);
	vsnprintf(v->logs[v->nlogs].text, VOTER_LOG_TEXT, fmt, ap);
	va_end(ap);
	v->nlogs++;
}

static void voter_answer(struct voter *v, const uint8_t origin[CHORUS_PK_BYTES],
                         const uint8_t job[CHORUS_JOB_ID_BYTES], uint64_t height, int kind)
{
	struct voter_answer *a;

	assert(kind == VOTER_ANSWER_REFUSED ? height == 0 : height > 0);
	if (v->nanswers == v->answers_max) {
		v->st.answers_lost++; /* the submitter's re-send gets it again */
		return;
	}
	a = &v->answers[v->nanswers++];
	memcpy(a->origin, origin, CHORUS_PK_BYTES);
	memcpy(a->job, job, CHORUS_JOB_ID_BYTES);
	a->height = height;
	a->kind = (uint8_t)kind;
}

int voter_ready(const struct voter *v, struct voter_ready *rd)
{
	rd->answers = v->answers;
	rd->nanswers = v->nanswers;
	rd->logs = v->logs;
	rd->nlogs = v->nlogs;
	return v->nanswers > 0 || v->nlogs > 0;
}

void voter_advance(struct voter *v)
{
	v->nanswers = 0;
	v->nlogs = 0;
}

/* ---------------------------------------------------------------- life */

int voter_create(struct voter **out, const struct voter_config *cfg, struct ledger *l)
{
	struct voter *v = calloc(1, sizeof(*v));

	*out = NULL;
	if (v == NULL)
		return CORE_ERR_NOMEM;
	v->cfg = *cfg;
	if (v->cfg.inflight_max == 0)
		v->cfg.inflight_max = VOTER_INFLIGHT_MAX;
	if (v->cfg.block_entries == 0 || v->cfg.block_entries > VOTER_BLOCK_ENTRIES)
		v->cfg.block_entries = VOTER_BLOCK_ENTRIES;
	if (v->cfg.pending_max == 0 || v->cfg.pending_max > VOTER_PENDING_MAX)
		v->cfg.pending_max = VOTER_PENDING_MAX;
	v->ledger = l;
	if (l != NULL && v->cfg.entry_overhead < CHORUS_RAFT_ENTRY_MAX)
		ledger_build_bytes(l, CHORUS_RAFT_ENTRY_MAX - v->cfg.entry_overhead); /* one Raft entry */
	v->answers_max = 2 * v->cfg.pending_max;
	v->pending = calloc(v->cfg.pending_max, sizeof(*v->pending));
	v->answers = calloc(v->answers_max, sizeof(*v->answers));
	v->build_es = calloc(VOTER_BLOCK_ENTRIES, sizeof(*v->build_es));
	v->build_taken = calloc(VOTER_BLOCK_ENTRIES, sizeof(*v->build_taken));
	v->build_info = calloc(VOTER_BLOCK_ENTRIES, sizeof(*v->build_info));
	if (l == NULL || v->pending == NULL || v->answers == NULL || v->build_es == NULL ||
	    v->build_taken == NULL || v->build_info == NULL) {
		voter_destroy(v);
		return CORE_ERR_NOMEM;
	}
	*out = v;
	return 0;
}

void voter_destroy(struct voter *v)
{
	if (v == NULL)
		return;
	free(v->pending);
	free(v->answers);
	free(v->build_es);
	free(v->build_taken);
	free(v->build_info);
	memset(v->cfg.sk, 0, sizeof v->cfg.sk);
	free(v);
}

void voter_set_consensus(struct voter *v, struct consensus *c)
{
	v->cons = c;
}

int voter_is_leader(const struct voter *v)
{
	return v->cons != NULL && consensus_is_leader(v->cons);
}

uint64_t voter_tip_term(const struct voter *v)
{
	return v->tip_term;
}

void voter_stats(const struct voter *v, struct voter_stats *out)
{
	*out = v->st;
	out->pending = v->npending;
}

/* ---------------------------------------------------------------- admission */

/*
 * Leader: an entry that does not check (or that apply would reject) is not
 * queued; its submitter hears so (a refusal), so that it stops sending it.
 * Forgeries and junk are counted and logged at debug level.
 */
static void voter_refuse(struct voter *v, const struct ledger_entry *e,
                         const uint8_t origin[CHORUS_PK_BYTES], const char *why)
{
	uint8_t job[CHORUS_JOB_ID_BYTES];
	char hex[CHORUS_JOB_ID_HEX + 1];

	v->st.refused++;
	if (ledger_entry_job(e, job) != 0) {
		voter_log(v, CORE_LOG_DEBUG, "event=refused why=\"%s\" job=unknown", why);
		return; /* no job to name: nothing to answer */
	}
	for (int i = 0; i < CHORUS_JOB_ID_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", job[i]);
	voter_log(v, CORE_LOG_DEBUG, "event=refused why=\"%s\" job=%s", why, hex);
	voter_answer(v, origin, job, 0, VOTER_ANSWER_REFUSED);
}

static int voter_members_known(struct voter *v, const struct ledger_entry_info *in)
{
	if (v->cfg.member_known_cb == NULL)
		return 1;
	return v->cfg.member_known_cb(v->cfg.ctx, in->client) &&
	       v->cfg.member_known_cb(v->cfg.ctx, in->worker);
}

/*
 * Leader: may a checked entry whose job is not final be queued?  Its client
 * and worker must be members whose signed record we hold (ours to judge: by
 * design not repeated at apply, where membership is not the same on every
 * voter), and apply must be about to credit it, as far as the applied state
 * tells (ledger_entry_admit: the reward bound, the client's balance).  The
 * block as a whole is judged again when it is built.  0; -1 and why
 * (refused: answered so); -2 (held back, unanswered: its client's window is
 * full, or the seq is final already, and it comes again).
 */
static int voter_admit(struct voter *v, const struct ledger_entry_info *in, char *why,
                       size_t whylen)
{
	int o;

	if (v->cfg.old_leader && v->cfg.old_members)
		return 0; /* a leader from before these checks (test seam): apply must cope */
	if (!voter_members_known(v, in)) {
		v->st.refused_member++;
		snprintf(why, whylen, "the %s is not a member",
		         v->cfg.member_known_cb(v->cfg.ctx, in->client) ? "worker" : "client");
		return -1;
	}
	if (v->cfg.old_leader)
		return 0; /* before the bound checks (test seam): apply must cope */
	o = ledger_entry_admit(v->ledger, in);
	if (o == LEDGER_REJECT_WINDOW || o == LEDGER_DUPLICATE) {
		uint64_t floor, held;

		/*
		 * Its client's window is full (or its seq is final already): not
		 * refused, which would make its client give it up, but not queued
		 * either; it comes again each second.  Unless it raises the floor:
		 * then apply frees the room its next try needs.
		 */
		(void)ledger_window_get(v->ledger, in->client, &floor, &held);
		if (o == LEDGER_REJECT_WINDOW && in->floor > floor)
			return 0;
		v->st.refused_window++;
		snprintf(why, whylen, "%s", ledger_outcome_name(o));
		return -2;
	}
	if (o != LEDGER_CREDITED) {
		v->st.refused_bound++;
		snprintf(why, whylen, "%s", ledger_outcome_name(o));
		return -1;
	}
	return 0;
}

void voter_submit(struct voter *v, const struct ledger_entry *e,
                  const uint8_t origin[CHORUS_PK_BYTES])
{
	struct voter_pending *p;
	struct ledger_job job;
	char why[LEDGER_WHY_MAX];
	int r;

	if (!voter_is_leader(v) || v->npending >= v->cfg.pending_max)
		return; /* the submitter retries */
	p = &v->pending[v->npending];
	p->e = *e;
	memcpy(p->origin, origin, CHORUS_PK_BYTES);
	p->proposed = 0;
	p->answer = 0;
	p->refused = 0;
	if (ledger_entry_explain(v->ledger, e, &p->info, why, sizeof why) != 0) {
		voter_refuse(v, e, origin, why);
		return;
	}
	if (ledger_job_get(v->ledger, p->info.job, &job) == 0) {
		v->answered_height = UINT64_MAX; /* final already: answer at the next pump */
	} else if (ledger_entry_settled(v->ledger, &p->info)) {
		/* Below its client's floor: settled for good, answered at our height. */
		voter_answer(v, origin, p->info.job, ledger_height(v->ledger) > 0
		                                      ? ledger_height(v->ledger) : 1,
		             VOTER_ANSWER_SETTLED);
		return;
	} else if ((r = voter_admit(v, &p->info, why, sizeof why)) != 0) {
		if (r == -1)
			voter_refuse(v, e, origin, why);
		return;
	}
	for (size_t i = 0; i < v->npending; i++)
		if (memcmp(v->pending[i].info.job, p->info.job, CHORUS_JOB_ID_BYTES) == 0)
			return; /* already queued */
	v->npending++;
	assert(v->npending <= v->cfg.pending_max);
}

int voter_refusal_stands(struct voter *v, const struct ledger_entry *e, char *why, size_t whylen)
{
	struct ledger_entry_info info;

	if (ledger_entry_explain(v->ledger, e, &info, why, whylen) != 0)
		return 1;
	if (info.reward > CHORUS_LEDGER_REWARD_MAX) {
		snprintf(why, whylen, "%s", ledger_outcome_name(LEDGER_REJECT_REWARD));
		return 1;
	}
	if (!voter_members_known(v, &info)) {
		snprintf(why, whylen, "the %s is not a member",
		         v->cfg.member_known_cb(v->cfg.ctx, info.client) ? "worker" : "client");
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- routing */

enum voter_action voter_on_submit(const struct voter *v, int forwarded, uint64_t *to)
{
	uint64_t leader = v->cons != NULL ? consensus_leader(v->cons) : CONSENSUS_NONE;

	*to = CONSENSUS_NONE;
	if (voter_is_leader(v))
		return VOTER_QUEUE;
	if (forwarded || leader == CONSENSUS_NONE || leader == v->cfg.id)
		return VOTER_DROP; /* passed on once only: no loops between stale views */
	*to = leader;
	return VOTER_FORWARD;
}

uint64_t voter_target(const struct voter *v, const uint64_t *leaders, size_t nleaders,
                      const uint64_t *voters, size_t nvoters, unsigned round)
{
	uint64_t leader = v != NULL && v->cons != NULL ? consensus_leader(v->cons) : CONSENSUS_NONE;

	if (leader != CONSENSUS_NONE)
		return leader;
	if (nleaders > 0)
		return leaders[round % nleaders];
	return nvoters > 0 ? voters[round % nvoters] : CONSENSUS_NONE;
}

/* ---------------------------------------------------------------- answers */

/*
 * Leader: the entries now credited are answered and leave the queue; so do
 * entries whose block applied without crediting them (a bad entry: the
 * submitter's retry gets the verdict again).  Runs when the height moved.
 */
static void voter_answer_pending(struct voter *v)
{
	uint64_t height = ledger_height(v->ledger);
	size_t keep = 0;

	if (height == v->answered_height)
		return;
	v->answered_height = height;
	v->st.answer_rounds++;
	for (size_t i = 0; i < v->npending; i++) {
		struct voter_pending *p = &v->pending[i];
		struct ledger_job job;

		if (ledger_job_get(v->ledger, p->info.job, &job) == 0) {
			voter_answer(v, p->origin, p->info.job, job.height, VOTER_ANSWER_FINAL);
			continue;
		}
		if (p->proposed == 0 || p->proposed > height)
			v->pending[keep++] = *p;
		else
			v->st.unproposed_drops++;
	}
	v->npending = keep;
}

/* ---------------------------------------------------------------- the pipeline */

/*
 * Leader: the builder left a queued entry out because apply would reject
 * it (in this block, or after the blocks in flight): refused, answered so,
 * and out of the queue (voter_drop_refused) before the next build.
 */
static void voter_build_verdict(struct voter *v, struct voter_pending *p, int verdict)
{
	if (verdict == LEDGER_CREDITED || verdict == LEDGER_DUPLICATE)
		return;
	p->refused = 1;
	if (verdict == LEDGER_REJECT_WINDOW) { /* out of the queue, unanswered: it comes again */
		v->st.refused_window++;
		return;
	}
	v->st.refused_bound += verdict != LEDGER_SKIPPED;
	voter_refuse(v, &p->e, p->origin, ledger_outcome_name(verdict));
}

static void voter_drop_refused(struct voter *v)
{
	size_t keep = 0;

	for (size_t i = 0; i < v->npending; i++)
		if (!v->pending[i].refused)
			v->pending[keep++] = v->pending[i];
	v->npending = keep;
}

/*
 * One block on the tip from up to n queued entries.  The ledger stops taking
 * entries before the block outgrows one Raft entry (ledger_build_bytes, set
 * at voter_create); should it not fit anyway, fewer entries, halved until it does.
 */
static int voter_build_one(struct voter *v, uint64_t term, uint64_t now_ms, size_t n,
                           size_t *used, uint8_t **block, size_t *len)
{
	int r;

	for (;;) {
		r = ledger_block_build_checked(v->ledger, &v->tip, term, v->cfg.pk, v->cfg.sk, now_ms,
		                               v->build_es, v->build_info, n, used, block, len);
		if (r != 0 || *block == NULL || *len + v->cfg.entry_overhead <= CHORUS_RAFT_ENTRY_MAX ||
		    n == 1)
			break;
		free(*block); /* too big for one Raft entry: fewer entries */
		*block = NULL;
		n /= 2;
		v->st.rebuilt++;
	}
	if (r != 0)
		voter_log(v, CORE_LOG_WARN, "event=build_error error=\"%s\" why=\"%s\"",
		          core_strerror(r), ledger_why(v->ledger));
	return r;
}

static int voter_propose(struct voter *v, const uint8_t *block, size_t len)
{
	uint64_t index;

	if (len + v->cfg.entry_overhead > CHORUS_RAFT_ENTRY_MAX)
		return CORE_ERR_OVERSIZE;
	if (v->cfg.propose_cb != NULL)
		return v->cfg.propose_cb(v->cfg.ctx, block, (uint32_t)len);
	return consensus_propose(v->cons, block, len, &index);
}

/*
 * Leader: the next blocks, pipelined.  The first block of a term waits for a
 * final head (the whole log applied, the term's no-op included); later ones
 * build on the last block proposed (v->tip), at most inflight_max beyond the
 * applied head.  A leader proposes only in its own term and its log only
 * grows while it leads, so each proposed block applies right after the one
 * before; losing leadership drops the tip and the queue (voter_pump).
 */
static void voter_build(struct voter *v, uint64_t now_ms)
{
	struct consensus_status st;

	consensus_status(v->cons, &st);
	if (v->tip_term != st.term) {
		if (st.applied != st.last_index || st.commit != st.last_index)
			return;
		ledger_tip_head(v->ledger, &v->tip);
		v->tip_term = st.term;
	}
	while (v->tip.height - ledger_height(v->ledger) < v->cfg.inflight_max) {
		uint8_t *block = NULL;
		size_t n = 0, used = 0, len = 0;
		int r;

		for (size_t i = 0; i < v->npending && n < v->cfg.block_entries; i++)
			if (v->pending[i].proposed == 0) {
				v->build_taken[n] = &v->pending[i];
				v->build_info[n] = v->pending[i].info; /* checked by voter_submit */
				v->build_es[n++] = v->pending[i].e;
			}
		if (n == 0 || voter_build_one(v, st.term, now_ms, n, &used, &block, &len) != 0)
			break;
		r = block == NULL ? 0 : voter_propose(v, block, len);
		if (r != 0) {
			voter_log(v, CORE_LOG_WARN, "event=propose_error error=\"%s\"",
			          v->cons != NULL ? consensus_strerror(v->cons, r) : core_strerror(r));
			free(block);
			break;
		}
		if (block != NULL) {
			if (ledger_tip_of(block, len, &v->tip) != 0)
				abort(); /* we built it: a block that does not peek is a broken invariant */
			assert(v->tip.height - ledger_height(v->ledger) <= v->cfg.inflight_max);
			v->st.proposed++;
		}
		/* Taken, or skipped as final already: answered or dropped once the tip applies. */
		for (size_t i = 0; i < used; i++) {
			v->build_taken[i]->proposed = v->tip.height > 0 ? v->tip.height : 1;
			voter_build_verdict(v, v->build_taken[i], ledger_build_verdict(v->ledger, i));
		}
		if (block == NULL)
			v->answered_height = UINT64_MAX; /* all credited already: answer them */
		free(block);
		if (used == 0)
			break;
	}
	voter_drop_refused(v);
}

void voter_pump(struct voter *v, int build, int held, uint64_t now_ms)
{
	if (!voter_is_leader(v)) {
		v->npending = 0; /* submitters retry with the next leader */
		v->tip_term = 0;
		return;
	}
	voter_answer_pending(v);
	/*
	 * Not while the ledger is held behind Raft (a backfill, entries not
	 * applied yet): a block built on its head would not apply anywhere.
	 */
	if (build && !held && v->npending > 0)
		voter_build(v, now_ms);
}

/* ---------------------------------------------------------------- apply */

/*
 * A committed block that does not apply: it does not decode, link or carry
 * its leader's signature (entries never fail a block: ledger.h).  Every
 * voter holds the same log and ledger, so every voter skips it alike; the
 * chain goes on from the same head.  A leader's blocks built on it would not
 * link either: it builds again from its head, its queue re-proposed.
 */
static void voter_skip_block(struct voter *v, uint64_t index, int r)
{
	uint64_t height = ledger_height(v->ledger);

	v->st.skipped_blocks++;
	voter_log(v, CORE_LOG_ERROR, "event=block_skipped index=%llu height=%llu error=\"%s\""
	          " why=\"%s\"", (unsigned long long)index, (unsigned long long)height,
	          core_strerror(r), ledger_why(v->ledger));
	v->tip_term = 0;
	for (size_t i = 0; i < v->npending; i++)
		if (v->pending[i].proposed > height)
			v->pending[i].proposed = 0;
}

int voter_apply_block(struct voter *v, const uint8_t *data, size_t len, uint64_t index)
{
	int r = ledger_block_apply(v->ledger, data, len);

	if (r == 0 || r == CORE_ERR_STALE)
		return r; /* stale: a block already applied, harmless */
	if (r == CORE_ERR_NOMEM) {
		voter_log(v, CORE_LOG_ERROR, "event=apply_nomem index=%llu (held, retried)",
		          (unsigned long long)index);
		return r;
	}
	voter_skip_block(v, index, r);
	return r;
}

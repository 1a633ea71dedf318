/*
 * consensus: the node's ledger voter.  It owns the sans-io Raft, persists
 * every round through raftstore before sending what depends on it, applies
 * committed ledger blocks, and publishes what it knows (role "leader") in
 * the node's record so every node learns the leader through gossip.
 *
 * Duties, from one 10 ms tick (consensus_tick_cb):
 *   - raft_tick, then pump raft_ready: persist, send, apply, advance;
 *   - a candidate that never booted waits for --bootstrap-expect voters and
 *     boots with the N smallest ids among them (every candidate computes the
 *     same set); without it, it boots as a non-member and waits to be added;
 *   - the leader adds alive voter candidates missing from the configuration,
 *     one at a time, and builds one ledger block at a time from the acks
 *     submitted to it, only when all of its log is applied (a final head);
 *   - every second the outbox of this node's own acks is sent to the leader.
 *
 * Raft node id: the first 8 bytes of the node's public key, big-endian.
 * Log compaction is off: the whole log stays on disk and in memory (within
 * CHORUS_RAFT_LOG_MAX entries); on restart the ledger is rebuilt by applying
 * the committed log again.  See docs/ledger-node.md.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <sodium.h>

#include "node.h"
#include "consensus.h"

#define CONSENSUS_TICK_MS         10   /* one Raft tick */
#define CONSENSUS_ELECTION_TICKS  15   /* election timeout 150-300 ms */
#define CONSENSUS_HEARTBEAT_TICKS 3    /* heartbeat every 30 ms */
#define CONSENSUS_DUTY_TICKS      10   /* bootstrap and membership checks every 100 ms */
#define CONSENSUS_OUTBOX_TICKS    100  /* outbox re-sent every second */
#define CONSENSUS_OUTBOX_BATCH    128  /* acks sent per outbox round (a few frames) */
#define CONSENSUS_PENDING_MAX     8192 /* acks the leader holds for the next blocks */
#define CONSENSUS_BLOCK_ENTRIES   48   /* entries offered to one block (halved until it fits) */
#define CONSENSUS_REMOVED_MAX     64
#define CONSENSUS_ROLE_VOTER      "voter"
#define CONSENSUS_ROLE_LEADER     "leader"

enum { LMSG_SUBMIT = 1, LMSG_COMMITTED = 2 };
#define LMSG_FORWARDED 0x01 /* a voter passed it on to the leader: never again */

struct consensus_batch {
	uint64_t to;
	uint8_t *buf; /* CHORUS_BODY_MAX */
	size_t len;
};

struct consensus_block {
	uint8_t *data;
	size_t len;
};

struct consensus_pending {
	struct ledger_entry e;
	struct ledger_entry_info info;
	uint8_t origin[CHORUS_PK_BYTES]; /* whose outbox holds it: the answer goes there */
	uint64_t answer;                 /* credited at this height, not answered yet */
};

#define CONSENSUS_LATENCY_RING 4096 /* submit-to-commit samples kept for /v1/ledger */

struct consensus {
	struct node *node;
	struct raftstore *store;
	struct raft *raft;           /* NULL: not a voter, or waiting to bootstrap */
	struct ledger *ledger;
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
	uint64_t id;
	int voter;
	unsigned expect;             /* --bootstrap-expect; 0: wait to be added */
	struct event *tick_ev;
	uint64_t ticks;
	int leader_published;
	struct consensus_block *blocks; /* applied, by height - 1 */
	size_t nblocks, capblocks;
	struct consensus_pending *pending; /* leader: acks for the next blocks */
	size_t npending;
	uint64_t removed[CONSENSUS_REMOVED_MAX]; /* removed by us: not re-added */
	size_t nremoved;
	unsigned outbox_round;
	uint32_t latency_ms[CONSENSUS_LATENCY_RING]; /* of our own acks, newest overwrite oldest */
	uint64_t nlatency;
	struct ledger_entry *fresh;  /* acks from ack_cb, sent on the next tick (not from inside the core) */
	size_t nfresh;
	struct consensus_batch batch; /* one ledger message being built */
	uint64_t applied_index;
	struct raft_entry *rx_ents;  /* raft_msg_decode's entry array */
	uint8_t *tx;                 /* one encoded message */
};

static void consensus_pump(struct consensus *cs);

/* ---------------------------------------------------------------- ids and addresses */

uint64_t consensus_id_of(const uint8_t pk[CHORUS_PK_BYTES])
{
	uint64_t id = 0;

	for (int i = 0; i < 8; i++)
		id = id << 8 | pk[i];
	return id;
}

static int consensus_has_role(const struct record *rec, const char *role)
{
	for (unsigned i = 0; i < rec->nroles; i++)
		if (strcmp(rec->roles[i], role) == 0)
			return 1;
	return 0;
}

static int consensus_alive(const struct member_view *mv)
{
	return mv->state == MEMBER_ALIVE || mv->state == MEMBER_SUSPECT;
}

/* The member whose raft id is id (alive or not); 0 and *mv, or -ENOENT. */
int consensus_member_by_id(const struct consensus *cs, uint64_t id, struct member_view *mv)
{
	struct core *core = cs->node->core;

	for (size_t i = 0; i < core_member_count(core); i++)
		if (core_member_get(core, i, mv) == 0 && consensus_id_of(mv->rec.pk) == id)
			return 0;
	return -ENOENT;
}

static void consensus_send(struct consensus *cs, uint64_t to, int type, const uint8_t *body,
                           size_t len)
{
	struct member_view mv;
	int r;

	if (consensus_member_by_id(cs, to, &mv) != 0 || mv.self)
		return; /* unknown yet: Raft retries, gossip will tell us */
	r = core_send_app(cs->node->core, mv.rec.pk, mv.rec.addr, type, body, len);
	if (r != 0)
		log_warn("raft", "event=send_error to=%016llx error=\"%s\"", (unsigned long long)to,
		         core_strerror(r));
}

/* ---------------------------------------------------------------- the ledger state machine */

static void consensus_answer_origin(struct consensus *cs, const uint8_t of[CHORUS_PK_BYTES],
                                    struct consensus_batch *b);
static void consensus_outbox_done(struct consensus *cs, const char *job, uint64_t height);

/* Leader: the acks now credited are answered, one batch per origin, and leave the queue. */
static void consensus_answer_pending(struct consensus *cs)
{
	size_t keep = 0;

	for (size_t i = 0; i < cs->npending; i++) {
		struct consensus_pending *p = &cs->pending[i];
		struct ledger_job job;
		char hex[CHORUS_JOB_ID_HEX + 1];

		if (ledger_job_get(cs->ledger, p->info.job, &job) != 0)
			continue;
		p->answer = job.height;
		if (memcmp(p->origin, cs->pk, CHORUS_PK_BYTES) == 0) {
			sodium_bin2hex(hex, sizeof hex, p->info.job, CHORUS_JOB_ID_BYTES);
			consensus_outbox_done(cs, hex, job.height);
			p->answer = 0;
		}
	}
	for (size_t i = 0; i < cs->npending; i++)
		if (cs->pending[i].answer)
			consensus_answer_origin(cs, cs->pending[i].origin, &cs->batch);
	for (size_t i = 0; i < cs->npending; i++) {
		struct ledger_job job;

		if (ledger_job_get(cs->ledger, cs->pending[i].info.job, &job) != 0)
			cs->pending[keep++] = cs->pending[i];
	}
	cs->npending = keep;
}

static int consensus_keep_block(struct consensus *cs, const uint8_t *data, size_t len)
{
	if (cs->nblocks == cs->capblocks) {
		size_t ncap = cs->capblocks ? 2 * cs->capblocks : 256;
		void *p = realloc(cs->blocks, ncap * sizeof(*cs->blocks));

		if (p == NULL)
			return -ENOMEM;
		cs->blocks = p;
		cs->capblocks = ncap;
	}
	if ((cs->blocks[cs->nblocks].data = malloc(len)) == NULL)
		return -ENOMEM;
	memcpy(cs->blocks[cs->nblocks].data, data, len);
	cs->blocks[cs->nblocks++].len = len;
	return 0;
}

/* A committed entry: Raft's own are skipped, ours are ledger blocks. */
static void consensus_apply(struct consensus *cs, const struct raft_entry *e)
{
	int r;

	cs->applied_index = e->index;
	if (e->type != RAFT_ENTRY_NORMAL || e->len == 0)
		return;
	r = ledger_block_apply(cs->ledger, e->data, e->len);
	if (r == CORE_ERR_STALE)
		return; /* a block already applied: harmless */
	if (r != 0 || consensus_keep_block(cs, e->data, e->len) != 0) {
		/* Every voter applies the same log: a committed block that fails is a broken invariant. */
		log_error("ledger", "event=apply_error index=%llu error=\"%s\" why=\"%s\"",
		          (unsigned long long)e->index, core_strerror(r), ledger_why(cs->ledger));
		abort();
	}
	log_debug("ledger", "event=apply height=%llu index=%llu",
	          (unsigned long long)ledger_height(cs->ledger), (unsigned long long)e->index);
}

/* ---------------------------------------------------------------- driving Raft */

static void consensus_send_msgs(struct consensus *cs, const struct raft_ready *rd)
{
	for (size_t i = 0; i < rd->nmsgs; i++) {
		int n = raft_msg_encode(&rd->msgs[i], cs->tx, CHORUS_RAFT_MSG_MAX);

		if (n < 0) {
			log_error("raft", "event=encode_error error=\"%s\"", raft_strerror(n));
			continue;
		}
		consensus_send(cs, rd->msgs[i].to, CORE_APP_RAFT, cs->tx, (size_t)n);
	}
}

/* The leader's record says so; a former leader's stops saying it. */
static void consensus_publish_role(struct consensus *cs)
{
	const struct node_config *cfg = &cs->node->cfg;
	char roles[CHORUS_ROLES_MAX][CHORUS_TAG_MAX + 1];
	unsigned n = 0;
	int leader = cs->raft != NULL && raft_is_leader(cs->raft);

	if (leader == cs->leader_published)
		return;
	for (unsigned i = 0; i < cfg->nroles && n < CHORUS_ROLES_MAX; i++)
		if (strcmp(cfg->roles[i], CONSENSUS_ROLE_LEADER) != 0)
			snprintf(roles[n++], sizeof roles[0], "%s", cfg->roles[i]);
	if (leader && n == CHORUS_ROLES_MAX)
		n--; /* config checks leave a slot for it; keep the invariant anyway */
	if (leader)
		snprintf(roles[n++], sizeof roles[0], "%s", CONSENSUS_ROLE_LEADER);
	if (core_set_roles(cs->node->core, roles, n, chorusd_now_ms()) == 0)
		cs->leader_published = leader;
	log_info("raft", "event=%s term=%llu", leader ? "leader" : "not_leader",
	         (unsigned long long)raft_term(cs->raft));
	if (!leader)
		cs->npending = 0; /* submitters retry with the next leader */
}

/* Leader: one block at a time, built on a final head (everything in the log applied). */
static void consensus_build(struct consensus *cs)
{
	struct raft_status st;
	size_t n = cs->npending < CONSENSUS_BLOCK_ENTRIES ? cs->npending : CONSENSUS_BLOCK_ENTRIES;
	struct ledger_entry *es;
	uint8_t *block = NULL;
	size_t used = 0, len = 0;
	uint64_t index;
	int r;

	if (cs->npending == 0 || !raft_is_leader(cs->raft))
		return;
	raft_status(cs->raft, &st);
	if (st.applied != st.last_index || st.commit != st.last_index)
		return;
	if ((es = malloc(n * sizeof(*es))) == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		es[i] = cs->pending[i].e;
	for (;;) {
		r = ledger_block_build(cs->ledger, st.term, cs->pk, cs->sk, chorusd_wall_ms(), es, n,
		                       &used, &block, &len);
		if (r != 0 || block == NULL || len <= CHORUS_RAFT_ENTRY_MAX || n == 1)
			break;
		free(block); /* too big for one Raft entry: fewer entries */
		block = NULL;
		n /= 2;
	}
	free(es);
	if (r != 0 || block == NULL) {
		if (r != 0)
			log_warn("ledger", "event=build_error error=\"%s\" why=\"%s\"", core_strerror(r),
			         ledger_why(cs->ledger));
		consensus_answer_pending(cs); /* all of them already credited */
		return;
	}
	r = len <= CHORUS_RAFT_ENTRY_MAX ? raft_propose(cs->raft, block, (uint32_t)len, &index)
	                                 : CORE_ERR_OVERSIZE;
	if (r != 0)
		log_warn("ledger", "event=propose_error error=\"%s\"", raft_strerror(r));
	free(block);
}

static void consensus_pump(struct consensus *cs)
{
	struct raft_ready rd;

	if (cs->raft == NULL)
		return;
	for (int round = 0; round < 2; round++) {
		while (raft_ready(cs->raft, &rd)) {
			/* Durable before any message that depends on it leaves. */
			if (raftstore_save(cs->store, &rd) != 0) {
				log_error("raft", "event=persist_error: stopping rather than break the contract");
				abort();
			}
			consensus_send_msgs(cs, &rd);
			for (size_t i = 0; i < rd.ncommitted; i++)
				consensus_apply(cs, &rd.committed[i]);
			raft_advance(cs->raft, &rd);
		}
		consensus_publish_role(cs);
		if (raft_is_leader(cs->raft))
			consensus_answer_pending(cs);
		if (round == 0)
			consensus_build(cs); /* its proposal is pumped by the second round */
	}
}

static void consensus_on_raft(struct consensus *cs, const uint8_t from_pk[CHORUS_PK_BYTES],
                              const uint8_t *body, size_t len)
{
	struct raft_msg m;
	int r;

	if (cs->raft == NULL)
		return; /* not booted yet: the sender retries */
	r = raft_msg_decode(&m, cs->rx_ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, body, len);
	if (r == 0 && (m.from != consensus_id_of(from_pk) || m.to != cs->id))
		r = CORE_ERR_INVAL; /* a node speaks only for itself, and to us */
	if (r == 0)
		r = raft_step(cs->raft, &m);
	if (r != 0) {
		log_debug("raft", "event=drop error=\"%s\"", raft_strerror(r));
		return;
	}
	consensus_pump(cs);
}

/* ---------------------------------------------------------------- bootstrap and membership */

static int consensus_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int consensus_start_raft(struct consensus *cs)
{
	struct raft_config rc;
	struct raft_boot boot;
	uint64_t seed;
	int r = raftstore_load(cs->store, &boot);

	if (r != 0)
		return r < 0 ? r : -ENOENT;
	randombytes_buf(&seed, sizeof seed);
	raft_config_defaults(&rc, cs->id, seed);
	rc.election_ticks = CONSENSUS_ELECTION_TICKS;
	rc.heartbeat_ticks = CONSENSUS_HEARTBEAT_TICKS;
	rc.pre_vote = 1;
	rc.check_quorum = 1;
	r = raft_create(&cs->raft, &rc, &boot);
	raftstore_boot_free(cs->store);
	if (r != 0) {
		log_error("raft", "event=boot_error error=\"%s\"", raft_strerror(r));
		return -EIO;
	}
	log_info("raft", "event=boot id=%016llx voters=%u entries=%zu term=%llu",
	         (unsigned long long)cs->id, boot.snap.conf.n, boot.nentries,
	         (unsigned long long)boot.hs.term);
	consensus_pump(cs);
	return 0;
}

/* The ids of alive voter candidates (ourselves included), sorted. */
static size_t consensus_candidates(struct consensus *cs, uint64_t *ids, size_t max)
{
	struct core *core = cs->node->core;
	struct member_view mv;
	size_t n = 0;

	for (size_t i = 0; i < core_member_count(core) && n < max; i++)
		if (core_member_get(core, i, &mv) == 0 && consensus_alive(&mv) &&
		    consensus_has_role(&mv.rec, CONSENSUS_ROLE_VOTER))
			ids[n++] = consensus_id_of(mv.rec.pk);
	qsort(ids, n, sizeof *ids, consensus_cmp_u64);
	return n;
}

/* Never booted, --bootstrap-expect N: boot once N candidates see each other. */
static void consensus_try_bootstrap(struct consensus *cs)
{
	uint64_t ids[64];
	struct raft_conf conf;
	size_t n = consensus_candidates(cs, ids, 64);

	if (n < cs->expect)
		return;
	memset(&conf, 0, sizeof conf);
	conf.n = cs->expect;
	memcpy(conf.ids, ids, cs->expect * sizeof ids[0]); /* the N smallest: the same everywhere */
	if (!raft_conf_has(&conf, cs->id))
		conf.n = 0; /* not one of them: wait to be added */
	log_info("raft", "event=bootstrap candidates=%zu voters=%u member=%s", n, conf.n,
	         conf.n ? "yes" : "no");
	if (raftstore_init(cs->store, &conf) != 0 || consensus_start_raft(cs) != 0)
		log_error("raft", "event=bootstrap_error");
}

static int consensus_removed(const struct consensus *cs, uint64_t id)
{
	for (size_t i = 0; i < cs->nremoved; i++)
		if (cs->removed[i] == id)
			return 1;
	return 0;
}

/* Leader: one alive candidate not in the configuration is added (one change at a time). */
static void consensus_add_voters(struct consensus *cs)
{
	uint64_t ids[64], index;
	struct raft_status st;
	size_t n = consensus_candidates(cs, ids, 64);

	raft_status(cs->raft, &st);
	if (st.conf_index > st.commit)
		return; /* a change is in flight */
	for (size_t i = 0; i < n; i++) {
		if (raft_conf_has(&st.conf, ids[i]) || consensus_removed(cs, ids[i]) ||
		    st.conf.n >= CHORUS_RAFT_VOTERS_MAX)
			continue;
		if (raft_propose_conf(cs->raft, 1, ids[i], &index) == 0)
			log_info("raft", "event=add_voter id=%016llx index=%llu", (unsigned long long)ids[i],
			         (unsigned long long)index);
		consensus_pump(cs);
		return;
	}
}

/* ---------------------------------------------------------------- ack forwarding */

/* One of our acks is committed: off the outbox, and its submit-to-commit time sampled. */
static void consensus_outbox_done(struct consensus *cs, const char *job, uint64_t height)
{
	uint64_t created_ms = 0, now_ms = chorusd_wall_ms();

	if (raftstore_outbox_done(cs->store, job, height, &created_ms) != 0 || created_ms == 0)
		return; /* unknown, or answered before: nothing to sample */
	cs->latency_ms[cs->nlatency++ % CONSENSUS_LATENCY_RING] =
	    now_ms > created_ms ? (uint32_t)(now_ms - created_ms) : 0;
	log_debug("ledger", "event=committed job=%s height=%llu ms=%llu", job,
	          (unsigned long long)height, (unsigned long long)(now_ms - created_ms));
}

static int consensus_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Submit-to-commit latency of our newest acks: p50 and p99 in ms; n samples (0: none). */
size_t consensus_latency(const struct consensus *cs, uint32_t *p50, uint32_t *p99)
{
	size_t n = cs->nlatency < CONSENSUS_LATENCY_RING ? (size_t)cs->nlatency : CONSENSUS_LATENCY_RING;
	uint32_t *v = n ? malloc(n * sizeof *v) : NULL;

	*p50 = *p99 = 0;
	if (v == NULL)
		return 0;
	memcpy(v, cs->latency_ms, n * sizeof *v);
	qsort(v, n, sizeof *v, consensus_cmp_u32);
	*p50 = v[n / 2];
	*p99 = v[n * 99 / 100];
	free(v);
	return n;
}

/* An entry from outside (POST /v1/ledger/acks): checked, into our outbox, sent next tick. */
int consensus_submit(struct consensus *cs, const struct ledger_entry *e, char *why, size_t whylen)
{
	struct ledger_entry_info info;
	char job[CHORUS_JOB_ID_HEX + 1];

	if (ledger_entry_check(NULL, e, &info) != 0) {
		snprintf(why, whylen, "the entry does not check (signatures, texts or match)");
		return -EINVAL;
	}
	sodium_bin2hex(job, sizeof job, info.job, CHORUS_JOB_ID_BYTES);
	if (raftstore_outbox_put(cs->store, job, e, chorusd_wall_ms()) != 0) {
		snprintf(why, whylen, "cannot store it");
		return -EIO;
	}
	if (cs->nfresh < CONSENSUS_OUTBOX_BATCH)
		cs->fresh[cs->nfresh++] = *e;
	return 0;
}

/*
 * Ledger messages batch many records into one frame: a burst of single
 * frames would overflow the fabric's per-peer queue (and drop Raft's
 * messages with it).  Header: kind, flags, origin key (whose outbox holds
 * the records: answers go there), count; then count records:
 *   submit:    u16 ack len, ack, sig, u16 receipt len, receipt, sig
 *   committed: job id (16), height (u64)
 */
#define LMSG_HEADER      (3 + CHORUS_PK_BYTES)
#define LMSG_RECORDS_MAX 255
#define LMSG_COMMITTED_BYTES (CHORUS_JOB_ID_BYTES + 8)

static void consensus_batch_begin(struct consensus_batch *b, uint64_t to, uint8_t kind,
                                  uint8_t flags, const uint8_t origin[CHORUS_PK_BYTES])
{
	b->to = to;
	b->buf[0] = kind;
	b->buf[1] = flags;
	memcpy(b->buf + 2, origin, CHORUS_PK_BYTES);
	b->buf[2 + CHORUS_PK_BYTES] = 0;
	b->len = LMSG_HEADER;
}

static void consensus_batch_flush(struct consensus *cs, struct consensus_batch *b)
{
	if (b->buf[2 + CHORUS_PK_BYTES] > 0 && b->to != RAFT_NONE)
		consensus_send(cs, b->to, CORE_APP_LEDGER, b->buf, b->len);
	b->buf[2 + CHORUS_PK_BYTES] = 0;
	b->len = LMSG_HEADER;
}

/* Room for len more bytes (a full batch goes out first); returns where to write them. */
static uint8_t *consensus_batch_room(struct consensus *cs, struct consensus_batch *b, size_t len)
{
	uint8_t *at;

	assert(LMSG_HEADER + len <= CHORUS_BODY_MAX);
	if (b->len + len > CHORUS_BODY_MAX || b->buf[2 + CHORUS_PK_BYTES] == LMSG_RECORDS_MAX)
		consensus_batch_flush(cs, b);
	at = b->buf + b->len;
	b->len += len;
	b->buf[2 + CHORUS_PK_BYTES]++;
	return at;
}

static size_t consensus_put_text(uint8_t *out, const char *text, uint16_t len,
                                 const uint8_t sig[CHORUS_SIG_BYTES])
{
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	memcpy(out + 2, text, len);
	memcpy(out + 2 + len, sig, CHORUS_SIG_BYTES);
	return 2 + (size_t)len + CHORUS_SIG_BYTES;
}

static void consensus_batch_entry(struct consensus *cs, struct consensus_batch *b,
                                  const struct ledger_entry *e)
{
	size_t need = 2 * (2 + CHORUS_SIG_BYTES) + e->ack_len + e->receipt_len;
	uint8_t *at = consensus_batch_room(cs, b, need);

	at += consensus_put_text(at, e->ack_text, e->ack_len, e->ack_sig);
	consensus_put_text(at, e->receipt_text, e->receipt_len, e->receipt_sig);
}

/* One length-prefixed text and its signature; 0 or -1 (length checked exactly). */
static int consensus_decode_text(const uint8_t **p, size_t *left, char *text, uint16_t *len,
                                 uint8_t sig[CHORUS_SIG_BYTES])
{
	size_t n;

	if (*left < 2)
		return -1;
	n = (size_t)(*p)[0] << 8 | (*p)[1];
	if (n == 0 || n > CHORUS_LEDGER_TEXT_MAX || *left < 2 + n + CHORUS_SIG_BYTES)
		return -1;
	memcpy(text, *p + 2, n);
	text[n] = '\0';
	*len = (uint16_t)n;
	memcpy(sig, *p + 2 + n, CHORUS_SIG_BYTES);
	*p += 2 + n + CHORUS_SIG_BYTES;
	*left -= 2 + n + CHORUS_SIG_BYTES;
	return 0;
}

static int consensus_decode_entry(const uint8_t **p, size_t *left, struct ledger_entry *e)
{
	memset(e, 0, sizeof *e);
	if (consensus_decode_text(p, left, e->ack_text, &e->ack_len, e->ack_sig) != 0 ||
	    consensus_decode_text(p, left, e->receipt_text, &e->receipt_len, e->receipt_sig) != 0)
		return -1;
	return 0;
}

/* Leader: every credited pending ack of origin `of` goes back in one batch (or a few). */
static void consensus_answer_origin(struct consensus *cs, const uint8_t of[CHORUS_PK_BYTES],
                                    struct consensus_batch *b)
{
	static const uint8_t none[CHORUS_PK_BYTES];

	consensus_batch_begin(b, consensus_id_of(of), LMSG_COMMITTED, 0, none);
	for (size_t i = 0; i < cs->npending; i++) {
		struct consensus_pending *p = &cs->pending[i];
		uint8_t *at;

		if (!p->answer || memcmp(p->origin, of, CHORUS_PK_BYTES) != 0)
			continue;
		at = consensus_batch_room(cs, b, LMSG_COMMITTED_BYTES);
		memcpy(at, p->info.job, CHORUS_JOB_ID_BYTES);
		for (int k = 0; k < 8; k++)
			at[CHORUS_JOB_ID_BYTES + k] = (uint8_t)(p->answer >> (56 - 8 * k));
		p->answer = 0;
	}
	consensus_batch_flush(cs, b);
}

/* Leader: a checked ack joins the queue (answered at once if already credited). */
static void consensus_submit_local(struct consensus *cs, const struct ledger_entry *e,
                                   const uint8_t origin[CHORUS_PK_BYTES])
{
	struct consensus_pending *p;
	struct ledger_job job;

	if (cs->npending >= CONSENSUS_PENDING_MAX)
		return; /* the submitter retries */
	p = &cs->pending[cs->npending];
	p->e = *e;
	memcpy(p->origin, origin, CHORUS_PK_BYTES);
	if (ledger_entry_check(NULL, e, &p->info) != 0) {
		log_warn("ledger", "event=bad_entry why=\"%s\"", "entry does not check");
		return;
	}
	(void)job; /* credited already: answered by the next consensus_answer_pending() */
	for (size_t i = 0; i < cs->npending; i++)
		if (memcmp(cs->pending[i].info.job, p->info.job, CHORUS_JOB_ID_BYTES) == 0)
			return; /* already queued */
	cs->npending++;
}

/* Where acks go: ourselves if leading, the leader we know, or some voter (attempt-rotated). */
static uint64_t consensus_target(struct consensus *cs)
{
	struct core *core = cs->node->core;
	struct member_view mv;
	uint64_t leaders[16], voters[16];
	size_t nl = 0, nv = 0;

	if (cs->raft != NULL && raft_leader(cs->raft) != RAFT_NONE)
		return raft_leader(cs->raft);
	for (size_t i = 0; i < core_member_count(core); i++) {
		if (core_member_get(core, i, &mv) != 0 || !consensus_alive(&mv))
			continue;
		if (consensus_has_role(&mv.rec, CONSENSUS_ROLE_LEADER) && nl < 16)
			leaders[nl++] = consensus_id_of(mv.rec.pk);
		if (consensus_has_role(&mv.rec, CONSENSUS_ROLE_VOTER) && nv < 16)
			voters[nv++] = consensus_id_of(mv.rec.pk);
	}
	if (nl > 0)
		return leaders[cs->outbox_round % nl];
	return nv > 0 ? voters[cs->outbox_round % nv] : RAFT_NONE;
}

/* Our records to the leader: queued here if we lead, else batched to the target. */
static void consensus_route(struct consensus *cs, const struct ledger_entry *es, size_t n)
{
	uint64_t to = consensus_target(cs);

	if (to == cs->id && cs->raft != NULL && raft_is_leader(cs->raft)) {
		for (size_t i = 0; i < n; i++)
			consensus_submit_local(cs, &es[i], cs->pk);
		return;
	}
	if (to == RAFT_NONE || to == cs->id)
		return; /* nobody to send to yet: the outbox keeps them */
	consensus_batch_begin(&cs->batch, to, LMSG_SUBMIT, 0, cs->pk);
	for (size_t i = 0; i < n; i++)
		consensus_batch_entry(cs, &cs->batch, &es[i]);
	consensus_batch_flush(cs, &cs->batch);
}

static void consensus_outbox_one(void *ctx, const char *job, const struct ledger_entry *e)
{
	struct consensus *cs = ctx;

	(void)job;
	if (cs->nfresh < CONSENSUS_OUTBOX_BATCH)
		cs->fresh[cs->nfresh++] = *e;
}

/* Every second: the oldest unanswered records again (a lost submit or answer, a new leader). */
static void consensus_outbox_flush(struct consensus *cs)
{
	int n;

	cs->outbox_round++;
	cs->nfresh = 0; /* they are in the outbox too: sent below, oldest first */
	n = raftstore_outbox_each(cs->store, CONSENSUS_OUTBOX_BATCH, consensus_outbox_one, cs);
	if (n < 0)
		log_error("ledger", "event=outbox_error");
}

static void consensus_on_submit(struct consensus *cs, const uint8_t *body, size_t len)
{
	struct ledger_entry *e = malloc(sizeof *e);
	const uint8_t *origin = body + 2, *p = body + LMSG_HEADER;
	size_t left = len - LMSG_HEADER;
	unsigned n = body[2 + CHORUS_PK_BYTES], k;
	int lead = cs->raft != NULL && raft_is_leader(cs->raft);
	uint64_t leader = cs->raft != NULL ? raft_leader(cs->raft) : RAFT_NONE;

	if (e == NULL)
		return;
	for (k = 0; k < n && consensus_decode_entry(&p, &left, e) == 0; k++)
		if (lead)
			consensus_submit_local(cs, e, origin);
	if (k != n || left != 0)
		log_debug("ledger", "event=drop reason=malformed-submit records=%u", n);
	else if (!lead && !(body[1] & LMSG_FORWARDED) && leader != RAFT_NONE && leader != cs->id) {
		memcpy(cs->batch.buf, body, len); /* passed on whole, once, origin kept */
		cs->batch.buf[1] |= LMSG_FORWARDED;
		consensus_send(cs, leader, CORE_APP_LEDGER, cs->batch.buf, len);
	}
	free(e);
	consensus_pump(cs);
}

static void consensus_on_committed(struct consensus *cs, const uint8_t *body, size_t len)
{
	unsigned n = body[2 + CHORUS_PK_BYTES];

	if (len != LMSG_HEADER + (size_t)n * LMSG_COMMITTED_BYTES)
		return;
	for (unsigned k = 0; k < n; k++) {
		const uint8_t *r = body + LMSG_HEADER + (size_t)k * LMSG_COMMITTED_BYTES;
		char job[CHORUS_JOB_ID_HEX + 1];
		uint64_t height = 0;

		for (int i = 0; i < 8; i++)
			height = height << 8 | r[CHORUS_JOB_ID_BYTES + i];
		sodium_bin2hex(job, sizeof job, r, CHORUS_JOB_ID_BYTES);
		consensus_outbox_done(cs, job, height);
	}
}

/* ---------------------------------------------------------------- core callbacks */

static void consensus_app_cb(void *ctx, int type, const uint8_t from_pk[CHORUS_PK_BYTES],
                             const uint8_t *body, size_t len)
{
	struct consensus *cs = ((struct node *)ctx)->consensus;

	if (cs == NULL)
		return;
	if (type == CORE_APP_RAFT)
		consensus_on_raft(cs, from_pk, body, len);
	else if (type == CORE_APP_LEDGER && len >= LMSG_HEADER && body[0] == LMSG_SUBMIT)
		consensus_on_submit(cs, body, len);
	else if (type == CORE_APP_LEDGER && len >= LMSG_HEADER && body[0] == LMSG_COMMITTED)
		consensus_on_committed(cs, body, len);
}

/* Our own succeeded jobs go to the outbox (durable) and out at once. */
static void consensus_ack_cb(void *ctx, const struct job_ack *ack)
{
	struct consensus *cs = ((struct node *)ctx)->consensus;
	struct ledger_entry *e;

	if (cs == NULL || memcmp(ack->client, cs->pk, CHORUS_PK_BYTES) != 0 ||
	    ack->receipt_text == NULL || strcmp(ack->status, "succeeded") != 0)
		return;
	if ((e = malloc(sizeof *e)) == NULL)
		return;
	if (ledger_entry_from_ack(e, ack) != 0)
		log_warn("ledger", "event=ack_error job=%s", ack->job_id);
	else if (raftstore_outbox_put(cs->store, ack->job_id, e, chorusd_wall_ms()) == 0 &&
	         cs->nfresh < CONSENSUS_OUTBOX_BATCH)
		cs->fresh[cs->nfresh++] = *e; /* else the next outbox round sends it */
	free(e);
}

void consensus_env(struct core_env *env)
{
	env->app_cb = consensus_app_cb;
	env->ack_cb = consensus_ack_cb;
}

/* ---------------------------------------------------------------- the tick */

static void consensus_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct consensus *cs = arg;

	(void)fd;
	(void)what;
	cs->ticks++;
	if (cs->node->core == NULL)
		return;
	if (cs->raft != NULL)
		raft_tick(cs->raft);
	if (cs->ticks % CONSENSUS_DUTY_TICKS == 0) {
		if (cs->raft == NULL && cs->voter)
			consensus_try_bootstrap(cs);
		else if (cs->raft != NULL && raft_is_leader(cs->raft))
			consensus_add_voters(cs);
	}
	if (cs->ticks % CONSENSUS_OUTBOX_TICKS == 0)
		consensus_outbox_flush(cs);
	if (cs->nfresh > 0)
		consensus_route(cs, cs->fresh, cs->nfresh);
	cs->nfresh = 0;
	consensus_pump(cs);
	chorusd_reschedule(cs->node); /* Raft may have sent through the core */
}

/* ---------------------------------------------------------------- views and commands */

const struct raft *consensus_raft(const struct consensus *cs)
{
	return cs->raft;
}

const struct ledger *consensus_ledger(const struct consensus *cs)
{
	return cs->ledger;
}

/* The leader: Raft's view on a voter, the gossip's (role "leader") elsewhere; 0 if none. */
uint64_t consensus_leader(const struct consensus *cs)
{
	struct core *core = cs->node->core;
	struct member_view mv;

	if (cs->raft != NULL)
		return raft_leader(cs->raft);
	for (size_t i = 0; i < core_member_count(core); i++)
		if (core_member_get(core, i, &mv) == 0 && consensus_alive(&mv) &&
		    consensus_has_role(&mv.rec, CONSENSUS_ROLE_LEADER))
			return consensus_id_of(mv.rec.pk);
	return RAFT_NONE;
}

int consensus_is_voter(const struct consensus *cs)
{
	return cs->voter;
}

int consensus_block(const struct consensus *cs, uint64_t height, const uint8_t **data,
                    size_t *len)
{
	if (height == 0 || height > cs->nblocks)
		return -ENOENT;
	*data = cs->blocks[height - 1].data;
	*len = cs->blocks[height - 1].len;
	return 0;
}

int consensus_remove_voter(struct consensus *cs, uint64_t id)
{
	struct raft_status st;
	uint64_t index;
	int r;

	if (cs->raft == NULL || !raft_is_leader(cs->raft))
		return -EAGAIN;
	raft_status(cs->raft, &st);
	if (!raft_conf_has(&st.conf, id))
		return -ENOENT;
	if (st.conf_index > st.commit)
		return -EBUSY;
	r = raft_propose_conf(cs->raft, 0, id, &index);
	if (r != 0)
		return r == RAFT_ERR_BUSY ? -EBUSY : -EINVAL;
	if (cs->nremoved < CONSENSUS_REMOVED_MAX)
		cs->removed[cs->nremoved++] = id;
	log_info("raft", "event=remove_voter id=%016llx index=%llu", (unsigned long long)id,
	         (unsigned long long)index);
	consensus_pump(cs);
	chorusd_reschedule(cs->node);
	return 0;
}

/* ---------------------------------------------------------------- life */

static int consensus_boot(struct consensus *cs)
{
	struct raft_boot boot;
	int r;

	if (!cs->voter)
		return 0;
	r = raftstore_load(cs->store, &boot);
	raftstore_boot_free(cs->store);
	if (r < 0)
		return r;
	if (r == 0)
		return consensus_start_raft(cs); /* booted before: never bootstrap again */
	if (cs->expect > 0)
		return 0; /* the tick bootstraps once enough candidates are seen */
	{
		struct raft_conf none = { 0 };

		if ((r = raftstore_init(cs->store, &none)) != 0)
			return r;
	}
	return consensus_start_raft(cs);
}

int consensus_create(struct consensus **out, struct node *node, const uint8_t pk[CHORUS_PK_BYTES],
                     const uint8_t sk[CHORUS_SK_BYTES], char *err, size_t errlen)
{
	struct consensus *cs = calloc(1, sizeof(*cs));
	struct timeval tv = { 0, CONSENSUS_TICK_MS * 1000 };
	int r;

	*out = NULL;
	if (cs == NULL)
		return -ENOMEM;
	cs->node = node;
	memcpy(cs->pk, pk, CHORUS_PK_BYTES);
	memcpy(cs->sk, sk, CHORUS_SK_BYTES);
	cs->id = consensus_id_of(pk);
	cs->voter = node->cfg.voter;
	cs->expect = node->cfg.bootstrap_expect;
	cs->rx_ents = calloc(CHORUS_RAFT_APPEND_ENTRIES_MAX, sizeof(*cs->rx_ents));
	cs->tx = malloc(CHORUS_RAFT_MSG_MAX);
	cs->pending = calloc(CONSENSUS_PENDING_MAX, sizeof(*cs->pending));
	cs->fresh = calloc(CONSENSUS_OUTBOX_BATCH, sizeof(*cs->fresh));
	cs->batch.buf = malloc(CHORUS_BODY_MAX);
	if (cs->id == RAFT_NONE || cs->rx_ents == NULL || cs->tx == NULL || cs->pending == NULL ||
	    cs->fresh == NULL || cs->batch.buf == NULL ||
	    ledger_create(&cs->ledger, NULL) != 0) {
		snprintf(err, errlen, "consensus: cannot set up");
		consensus_destroy(cs);
		return -ENOMEM;
	}
	if ((r = raftstore_open(&cs->store, node->cfg.data_dir, err, errlen)) != 0 ||
	    (r = consensus_boot(cs)) != 0) {
		if (r != -EIO || err[0] == '\0')
			snprintf(err, errlen, "raft store: cannot boot (%s)", strerror(-r));
		consensus_destroy(cs);
		return r;
	}
	cs->tick_ev = event_new(node->base, -1, EV_PERSIST, consensus_tick_cb, cs);
	if (cs->tick_ev == NULL || event_add(cs->tick_ev, &tv) != 0) {
		snprintf(err, errlen, "consensus: cannot start the tick");
		consensus_destroy(cs);
		return -ENOMEM;
	}
	*out = cs;
	return 0;
}

void consensus_destroy(struct consensus *cs)
{
	if (cs == NULL)
		return;
	if (cs->tick_ev != NULL)
		event_free(cs->tick_ev);
	raft_destroy(cs->raft);
	ledger_destroy(cs->ledger);
	raftstore_close(cs->store);
	for (size_t i = 0; i < cs->nblocks; i++)
		free(cs->blocks[i].data);
	free(cs->blocks);
	free(cs->pending);
	free(cs->fresh);
	free(cs->batch.buf);
	free(cs->rx_ents);
	free(cs->tx);
	sodium_memzero(cs->sk, sizeof cs->sk);
	free(cs);
}

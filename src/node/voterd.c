/*
 * voterd: the shell of the node's ledger voter.  The decisions are the
 * core's voter module (src/core/ledger/voter.c: the leader's queue and admission,
 * the block pipeline, answers, forwarding, skipped blocks) and the log's
 * (include/chorus/consensus.h, over Raft: src/core/consensus/consensus-raft.c, the
 * only way to Raft).  Here: frames, timers and store results become events;
 * effects become I/O.  It persists every round of the log through
 * raftstore before sending what depends on it, keeps applied blocks in
 * raft.db, and publishes what it knows (role "leader") in the node's
 * record so every node learns the leader through gossip.
 *
 * Duties, from one 10 ms tick (voterd_tick_cb):
 *   - consensus_tick, then pump consensus_ready: persist, send, apply,
 *     advance (a leader's appends leave before its own write: msgs_early;
 *     its other messages, the commit index and heartbeats, at the next
 *     loop turn, after the answers of what it applied: voterd_send_msgs);
 *   - a candidate that never booted forms the first voter set by agreement
 *     through gossip roles (voter-p<hash> proposes the N smallest ids it sees,
 *     voter-b<hash> says it booted; voterd_try_bootstrap); without
 *     --bootstrap-expect it boots as a non-member and waits to be added;
 *   - the leader adds alive voter candidates missing from the configuration,
 *     one at a time;
 *   - every second the outbox of this node's own acks is re-sent to the leader.
 * And at the end of every loop iteration that saw new acks or Raft messages
 * (kick_ev): the acks go to the outbox in one transaction and out to the
 * leader, which pipelines blocks from them (voter_pump: up to 8 in
 * flight on its tip), and the messages stepped meanwhile are pumped once
 * (voterd_settle pumps earlier when something reads Raft's state first).
 *
 * Raft node id: the first 8 bytes of the node's public key, big-endian.
 * Applied blocks go to raft.db's blocks table; catchup.c compacts the log
 * behind them and backfills the blocks a snapshot skipped (its decisions:
 * src/core/ledger/voter-catchup.c).  On restart the
 * ledger is rebuilt from the blocks table, then the log after the snapshot
 * is applied again (stale blocks skipped).  See docs/ledger-node.md.
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
#include "voterd.h"
#include "lmsg.h"
#include "chorus/backpressure.h"
#include "chorus/bootstrap.h"
#include "chorus/consensus-raft.h"
#include "chorus/voter.h"

#define VOTERD_TICK_MS         10   /* one Raft tick */
#define VOTERD_ELECTION_TICKS  15   /* election timeout 150-300 ms */
#define VOTERD_HEARTBEAT_TICKS 3    /* heartbeat every 30 ms */
#define VOTERD_DUTY_TICKS      10   /* bootstrap and membership checks every 100 ms */
#define VOTERD_OUTBOX_TICKS    100  /* outbox re-sent every second */
#define VOTERD_OUTBOX_BATCH    128  /* acks re-sent per outbox round (a few frames) */
#define VOTERD_FRESH_MAX       2048 /* new acks routed at the end of a loop iteration */
#define VOTERD_REMOVED_MAX     64
#define VOTERD_SNAPSHOT_EVERY  1024 /* compact every this many applied entries */
#define VOTERD_HELD_PER_TICK   16   /* entries held by a backfill, applied per tick */
#define VOTERD_INDEX_BATCH     2048 /* forgotten jobs gathered per write of their rows */
#define VOTERD_WAITING_MAX     4096 /* acks kept in memory while their submitter waits */
#define VOTERD_ROLE_VOTER      "voter"
#define VOTERD_ROLE_LEADER     "leader"


struct voterd_batch {
	uint64_t to;
	uint8_t *buf; /* CHORUS_BODY_MAX */
	size_t len;
};

/* One of our completion acks, between ack_cb and the outbox (voterd_save_acks). */
struct voterd_own {
	char job[CHORUS_JOB_ID_HEX + 1];
	uint64_t at_ms;
	struct ledger_entry e;
};

/*
 * An ack posted with ?wait_ms, kept in memory while its submitter waits: it
 * reaches the outbox only if the wait runs out (voterd_unwait), so an ack
 * committed in time costs no outbox write and no outbox update.
 */
struct voterd_waiting {
	char job[CHORUS_JOB_ID_HEX + 1];
	uint64_t at_ms;
	struct ledger_entry e;
};

#define VOTERD_LATENCY_RING 4096 /* submit-to-commit samples kept for /v1/ledger */
#define VOTERD_DEFER_MAX    64   /* a leader's messages held for the next loop turn */

/* A leader's message that depends on nothing unwritten, sent at the next turn (voterd_send_msgs). */
struct voterd_deferred {
	uint64_t to;
	uint8_t *buf;
	size_t len;
};

struct voterd {
	struct node *node;
	struct raftstore *store;
	struct catchup *catchup;     /* compaction and backfill (catchup.c) */
	struct ledger *ledger;
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
	uint64_t id;
	int voter;
	int lost;                    /* raft.db was lost: no vote until re-added (--rejoin) */
	int rejoining;               /* --rejoin accepted: no vote until the leader's log adds us */
	int was_voter;               /* our configuration held us (this process saw it) */
	int removed_self;            /* removed by the operator: no campaign, no candidate role */
	int recovered;               /* `ledger recover` ran: the operator re-adds voters (add-voter) */
	unsigned expect;             /* --bootstrap-expect; 0: wait to be added */
	struct event *tick_ev;
	struct event *defer_ev;      /* the next loop turn: the deferred messages go */
	struct voterd_deferred deferred[VOTERD_DEFER_MAX];
	size_t ndeferred;
	uint64_t ticks;
	int leader_published;
	struct voter *vt;            /* the voter's decisions (src/core/ledger/voter.c) */
	struct consensus *cons;      /* the log (include/chorus/consensus.h); NULL: not booted */
	uint64_t removed[VOTERD_REMOVED_MAX]; /* removed by us: not re-added */
	size_t nremoved;
	unsigned outbox_round;
	uint32_t latency_ms[VOTERD_LATENCY_RING]; /* of our own acks, newest overwrite oldest */
	uint64_t nlatency;
	struct ledger_entry *fresh;  /* new acks, routed by kick_ev (never from inside the core) */
	struct ledger_entry *settle_e; /* voterd_outbox_settle's scratch */
	uint64_t saved_seq;          /* the highest seq of our acks saved in the outbox */
	uint64_t *restore;           /* voterd_acks_restore's seqs */
	size_t nrestore, restore_cap;
	size_t nfresh;
	struct voterd_own *own;   /* our own acks from ack_cb, not in the outbox yet */
	size_t nown;
	struct voterd_waiting *waiting; /* posted acks whose submitter waits (not in the outbox) */
	size_t nwaiting;
	struct event *kick_ev;       /* end of this loop iteration: route fresh acks, pump */
	struct api_waits *waits;     /* POST /v1/ledger/acks?wait_ms: held until committed */
	uint64_t dropped;            /* malformed ledger messages and raft messages */
	int fault_old_leader;        /* CHORUS_FAULT=old-leader: lead without the checks (a test seam) */
	uint64_t outbox_refused;     /* our own acks the ledger refused: out of the outbox */
	struct backpressure bp;      /* refuse submits while the outbox is over its mark */
	int kicked;
	/*
	 * Bootstrap agreement (docs/ledger-node.md): our role "voter" carries
	 * "-p<hash>" (the voter set we propose) or "-b<hash>" (the set we booted
	 * with; the empty set for a non-member).
	 */
	char boot_kind;              /* 0, 'p' or 'b' */
	uint64_t boot_hash;
	char published_voter[CHORUS_TAG_MAX + 1]; /* the voter role last published */
	struct bootstrap_state boot;      /* the agreement's state until we boot (chorus/bootstrap.h) */
	struct voterd_batch batch; /* one ledger message being built */
	uint64_t applied_index;      /* the last Raft entry the ledger reflects; later ones are held */
	uint8_t *tx;                 /* one encoded message */
};

static void voterd_pump(struct voterd *cs);
static void voterd_kick(struct voterd *cs);

/* ---------------------------------------------------------------- ids and addresses */

uint64_t voterd_id_of(const uint8_t pk[CHORUS_PK_BYTES])
{
	uint64_t id = 0;

	for (int i = 0; i < 8; i++)
		id = id << 8 | pk[i];
	return id;
}

static int voterd_has_role(const struct record *rec, const char *role)
{
	for (unsigned i = 0; i < rec->nroles; i++)
		if (strcmp(rec->roles[i], role) == 0)
			return 1;
	return 0;
}

/*
 * A voter candidate's role: "voter", "voter-p<16 hex>" or "voter-b<16 hex>".
 * 1 and *kind (0, 'p', 'b') and *hash when rec has one; 0 otherwise.
 */
static int voterd_voter_role(const struct record *rec, char *kind, uint64_t *hash)
{
	for (unsigned i = 0; i < rec->nroles; i++) {
		const char *r = rec->roles[i];
		uint8_t h[8];
		size_t n = 0;

		if (strcmp(r, VOTERD_ROLE_VOTER) == 0) {
			*kind = 0;
			*hash = 0;
			return 1;
		}
		if (strncmp(r, VOTERD_ROLE_VOTER "-", 6) != 0 || (r[6] != 'p' && r[6] != 'b') ||
		    strlen(r + 7) != 16 ||
		    sodium_hex2bin(h, sizeof h, r + 7, 16, NULL, &n, NULL) != 0 || n != 8)
			continue;
		*kind = r[6];
		*hash = 0;
		for (int k = 0; k < 8; k++)
			*hash = *hash << 8 | h[k];
		return 1;
	}
	return 0;
}

/*
 * A voter that lost its Raft state says so with role "voter-l<hash>": it is
 * no candidate (voterd_voter_role skips it), and the leader takes it out
 * of the configuration (voterd_remove_lost).
 */
static int voterd_lost_role(const struct record *rec)
{
	for (unsigned i = 0; i < rec->nroles; i++)
		if (strncmp(rec->roles[i], VOTERD_ROLE_VOTER "-l", 7) == 0)
			return 1;
	return 0;
}

static int voterd_is_candidate(const struct record *rec)
{
	char kind;
	uint64_t hash;

	return voterd_voter_role(rec, &kind, &hash);
}


static int voterd_alive(const struct member_view *mv)
{
	return mv->state == MEMBER_ALIVE || mv->state == MEMBER_SUSPECT;
}

/* The member whose raft id is id (alive or not); 0 and *mv, or -ENOENT. */
int voterd_member_by_id(const struct voterd *cs, uint64_t id, struct member_view *mv)
{
	struct core *core = cs->node->core;

	for (size_t i = 0; i < core_member_count(core); i++)
		if (core_member_get(core, i, mv) == 0 && voterd_id_of(mv->rec.pk) == id)
			return 0;
	return -ENOENT;
}

static void voterd_send(struct voterd *cs, uint64_t to, int type, const uint8_t *body,
                           size_t len)
{
	struct member_view mv;
	int r;

	if (voterd_member_by_id(cs, to, &mv) != 0 || mv.self)
		return; /* unknown yet: Raft retries, gossip will tell us */
	r = core_send_app(cs->node->core, mv.rec.pk, mv.rec.addr, type, body, len);
	if (r != 0)
		log_warn("raft", "event=send_error to=%016llx error=\"%s\"", (unsigned long long)to,
		         core_strerror(r));
}

/* ---------------------------------------------------------------- the ledger state machine */

static void voterd_outbox_done(struct voterd *cs, const char *job, uint64_t height);
static void voterd_outbox_refused(struct voterd *cs, const char *job);
static void voterd_effects(struct voterd *cs);

/* The block just applied (the head) joins the chain in raft.db: compaction may follow. */
static int voterd_keep_block(struct voterd *cs, const uint8_t *data, size_t len)
{
	uint8_t hash[LEDGER_HASH_BYTES];

	ledger_head_hash(cs->ledger, hash);
	return raftstore_block_put(cs->store, ledger_height(cs->ledger), hash, data, len);
}

static int voterd_cmp_gone(const void *a, const void *b)
{
	return memcmp(((const struct ledger_gone *)a)->job, ((const struct ledger_gone *)b)->job,
	              CHORUS_JOB_ID_BYTES);
}

/*
 * The jobs the ledger forgot get their rows (GET /v1/ledger/jobs/ID), once
 * VOTERD_INDEX_BATCH of them gathered (all: whatever gathered), sorted: job
 * ids are random, and a few rows per commit dirtied a B-tree page each.
 * Until then voterd_job_get() finds them in the ledger's list; a crash
 * loses nothing, since a start's rebuild forgets the same jobs again.
 */
int voterd_index_forgotten(struct raftstore *store, struct ledger *ledger, int all)
{
	size_t n;
	struct ledger_gone *rows;

	if (!all && ledger_forgotten_pending(ledger) < VOTERD_INDEX_BATCH)
		return 0;
	rows = ledger_forgotten_take(ledger, &n);
	if (n == 0)
		return 0; /* rows may be NULL then (nothing ever listed) */
	qsort(rows, n, sizeof(*rows), voterd_cmp_gone);
	return raftstore_jobs_put(store, rows, n);
}

/*
 * A committed entry: Raft's own are skipped, ours are ledger blocks.  During
 * a backfill, and until the entries held by it are applied, it is held: the
 * log keeps it (no compaction meanwhile) and voterd_apply_held() applies it.
 */
static void voterd_apply(struct voterd *cs, const struct consensus_entry *e)
{
	int r;

	if (e->index != cs->applied_index + 1 || catchup_active(cs->catchup))
		return;
	cs->applied_index = e->index;
	if (!e->app)
		return;
	r = voter_apply_block(cs->vt, e->data, e->len, e->index); /* its skips: voter.c */
	if (r == CORE_ERR_NOMEM) {
		/* Our own memory, not the block: held, tried again each tick (voterd_apply_held). */
		cs->applied_index = e->index - 1;
		return;
	}
	if (r != 0)
		return; /* stale (applied before: harmless), or skipped alike on every voter */
	if (voterd_keep_block(cs, e->data, e->len) != 0) {
		/* Our own store failed under an applied block: stopping rather than diverge on restart. */
		log_error("ledger", "event=store_error index=%llu height=%llu",
		          (unsigned long long)e->index, (unsigned long long)ledger_height(cs->ledger));
		abort();
	}
	if (voterd_index_forgotten(cs->store, cs->ledger, 0) != 0) /* a query path: said, not fatal */
		log_warn("ledger", "event=jobs_index_error height=%llu",
		         (unsigned long long)ledger_height(cs->ledger));
	log_debug("ledger", "event=apply height=%llu index=%llu",
	          (unsigned long long)ledger_height(cs->ledger), (unsigned long long)e->index);
}

/*
 * The applied blocks of a group (raftstore_outbox_begin) commit: as when one
 * block's write fails, a store that cannot keep them stops the node rather
 * than let the ledger in memory run ahead of the chain on disk.
 */
static void voterd_apply_end(struct voterd *cs)
{
	if (raftstore_outbox_commit(cs->store) != 0) {
		log_error("ledger", "event=store_error height=%llu what=\"applied blocks not stored\"",
		          (unsigned long long)ledger_height(cs->ledger));
		abort();
	}
}

/* After a backfill: the committed entries held meanwhile, in order, a few per tick. */
static void voterd_apply_held(struct voterd *cs)
{
	struct consensus_status st;
	struct consensus_entry e;
	int group = raftstore_outbox_begin(cs->store) == 0;

	consensus_status(cs->cons, &st);
	for (int k = 0; k < VOTERD_HELD_PER_TICK && cs->applied_index < st.applied &&
	                !catchup_active(cs->catchup);
	     k++) {
		if (consensus_entry_get(cs->cons, cs->applied_index + 1, &e) != 0) {
			/* Held entries are never compacted (catchup_after_pump waits for them). */
			log_error("ledger", "event=held_lost index=%llu",
			          (unsigned long long)cs->applied_index + 1);
			abort();
		}
		voterd_apply(cs, &e);
	}
	if (group)
		voterd_apply_end(cs);
}

/* A snapshot from the leader replaced the log: the ledger's target, maybe a backfill. */
static void voterd_restore(struct voterd *cs, const struct consensus_snapshot *snap)
{
	log_info("raft", "event=snapshot_install index=%llu term=%llu",
	         (unsigned long long)snap->index, (unsigned long long)snap->term);
	if (catchup_target(cs->catchup, snap->index, snap->data, snap->len) != 0)
		abort(); /* the leader's committed state contradicts ours: a broken invariant */
	cs->applied_index = snap->index;
}

/* ---------------------------------------------------------------- driving Raft */

/* The deferred messages, in order, then out at once. */
static void voterd_defer_flush(struct voterd *cs)
{
	for (size_t i = 0; i < cs->ndeferred; i++) {
		voterd_send(cs, cs->deferred[i].to, CORE_APP_RAFT, cs->deferred[i].buf,
		            cs->deferred[i].len);
		free(cs->deferred[i].buf);
	}
	if (cs->ndeferred > 0)
		fabric_flush_now(cs->node->fabric);
	cs->ndeferred = 0;
}

static void voterd_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct voterd *cs = arg;

	(void)fd;
	(void)what;
	voterd_defer_flush(cs);
	chorusd_reschedule(cs->node);
}

/*
 * A leader's messages of a round that wrote nothing they depend on (its
 * commit index and heartbeats: the appends of new entries are early, and
 * go at once) leave at the next turn of the loop, after its poll.  Handing
 * a message to nng wakes its threads, which on a busy machine takes the CPU
 * for hundreds of microseconds; here the blocks committed in this turn
 * apply and their answers reach the submitters' sockets first.  Raft takes
 * messages late or out of order.  Sent now when they do not fit or cannot
 * be held.
 */
static int voterd_defer_one(struct voterd *cs, uint64_t to, const uint8_t *msg, size_t len)
{
	struct voterd_deferred *d = &cs->deferred[cs->ndeferred];

	if (cs->ndeferred == VOTERD_DEFER_MAX || cs->defer_ev == NULL ||
	    (d->buf = malloc(len)) == NULL)
		return -1;
	memcpy(d->buf, msg, len);
	d->to = to;
	d->len = len;
	cs->ndeferred++;
	return 0;
}

/* A round's messages: sent now, or (defer) held for the next turn when there is room. */
static void voterd_send_msgs(struct voterd *cs, const struct consensus_ready *rd, int defer)
{
	static const struct timeval now = { 0, 0 };

	for (size_t i = 0; i < rd->nmsgs; i++) {
		uint64_t to;
		int n = consensus_msg_encode(cs->cons, rd, i, cs->tx, CHORUS_RAFT_MSG_MAX, &to);

		if (n < 0) {
			log_error("raft", "event=encode_error error=\"%s\"",
			          consensus_strerror(cs->cons, n));
			continue;
		}
		if (!defer || voterd_defer_one(cs, to, cs->tx, (size_t)n) != 0)
			voterd_send(cs, to, CORE_APP_RAFT, cs->tx, (size_t)n);
	}
	if (cs->ndeferred > 0 && !event_pending(cs->defer_ev, EV_TIMEOUT, NULL))
		(void)event_add(cs->defer_ev, &now);
}

/* The leader's record says so; a former leader's stops saying it. */
static void voterd_publish_role(struct voterd *cs)
{
	const struct node_config *cfg = &cs->node->cfg;
	char roles[CHORUS_ROLES_MAX][CHORUS_TAG_MAX + 1];
	unsigned n = 0;
	int leader = cs->cons != NULL && consensus_is_leader(cs->cons);
	char voter[CHORUS_TAG_MAX + 1] = VOTERD_ROLE_VOTER;

	if (cs->boot_kind != 0)
		snprintf(voter, sizeof voter, "%s-%c%016llx", VOTERD_ROLE_VOTER, cs->boot_kind,
		         (unsigned long long)cs->boot_hash);
	if (cs->node->core == NULL ||
	    (leader == cs->leader_published && strcmp(voter, cs->published_voter) == 0))
		return; /* no core yet (starting): the first pump publishes */
	for (unsigned i = 0; i < cfg->nroles && n < CHORUS_ROLES_MAX; i++)
		if (strcmp(cfg->roles[i], VOTERD_ROLE_LEADER) != 0)
			snprintf(roles[n++], sizeof roles[0], "%s",
			         strcmp(cfg->roles[i], VOTERD_ROLE_VOTER) == 0 ? voter : cfg->roles[i]);
	if (leader && n == CHORUS_ROLES_MAX)
		n--; /* config checks leave a slot for it; keep the invariant anyway */
	if (leader)
		snprintf(roles[n++], sizeof roles[0], "%s", VOTERD_ROLE_LEADER);
	if (core_set_roles(cs->node->core, roles, n, chorusd_now_ms()) != 0)
		return; /* leaving: nothing to publish any more */
	snprintf(cs->published_voter, sizeof cs->published_voter, "%s", voter);
	if (leader != cs->leader_published)
		log_info("raft", "event=%s term=%llu", leader ? "leader" : "not_leader",
		         (unsigned long long)(cs->cons != NULL ? consensus_term(cs->cons) : 0));
	cs->leader_published = leader;
}

static void voterd_pump(struct voterd *cs)
{
	struct consensus_ready rd;
	struct consensus_status st;

	if (cs->cons == NULL)
		return;
	for (int round = 0; round < 2; round++) {
		while (consensus_ready(cs->cons, &rd)) {
			/*
			 * Durable before any message that depends on it leaves, unless
			 * the log says they do not depend on it (msgs_early: a
			 * leader's appends go first, so the followers write while it
			 * writes; consensus-raft.h).
			 */
			int early = rd.msgs_early, group;

			if (early) {
				voterd_send_msgs(cs, &rd, 0);
				fabric_flush_now(cs->node->fabric); /* out before the fsync, not after */
			}
			if (rd.durable != NULL && raftstore_save(cs->store, rd.durable) != 0) {
				log_error("raft", "event=persist_error: stopping rather than break the contract");
				abort();
			}
			if (!early && consensus_is_leader(cs->cons)) {
				voterd_send_msgs(cs, &rd, 1); /* after this turn's answers */
			} else if (!early) {
				voterd_send_msgs(cs, &rd, 0);
				fabric_flush_now(cs->node->fabric); /* out before applying, not after */
			}
			if (rd.snapshot != NULL)
				voterd_restore(cs, rd.snapshot);
			/*
			 * The blocks applied and their jobs rows: one transaction of the
			 * second connection (not open across raftstore_save: one writer),
			 * committed before a compaction may drop the log behind them.
			 */
			group = rd.ncommitted > 0 && raftstore_outbox_begin(cs->store) == 0;
			for (size_t i = 0; i < rd.ncommitted; i++)
				voterd_apply(cs, &rd.committed[i]);
			if (group)
				voterd_apply_end(cs);
			consensus_advance(cs->cons, &rd);
		}
		catchup_after_pump(cs->catchup, cs->cons, cs->applied_index);
		voterd_publish_role(cs);
		metrics_raft_leader(consensus_leader(cs->cons));
		consensus_status(cs->cons, &st);
		/* Its proposals are pumped by the second round. */
		voter_pump(cs->vt, round == 0,
		           catchup_active(cs->catchup) || cs->applied_index != st.applied,
		           chorusd_wall_ms());
		voterd_effects(cs);
	}
}

/*
 * Raft messages are stepped as they arrive and pumped once at the end of the
 * loop iteration (kick_ev).  Until then Raft's state runs ahead of what was
 * persisted and applied (a stepped snapshot already moved its applied index
 * past our log): whatever else reads it in between pumps first.
 */
static void voterd_settle(struct voterd *cs)
{
	if (cs->kicked)
		voterd_pump(cs);
}

static void voterd_on_raft(struct voterd *cs, const uint8_t from_pk[CHORUS_PK_BYTES],
                              const uint8_t *body, size_t len)
{
	int r;

	if (cs->cons == NULL)
		return; /* not booted yet: the sender retries */
	/* The sender is the key the fabric authenticated: the log checks it speaks for itself. */
	r = consensus_step(cs->cons, voterd_id_of(from_pk), body, len);
	if (r != 0) {
		cs->dropped++;
		log_debug("raft", "event=drop error=\"%s\"", consensus_strerror(cs->cons, r));
		return;
	}
	voterd_kick(cs); /* every message of this loop iteration stepped, then one pump */
}

/* ---------------------------------------------------------------- bootstrap and membership */

static int voterd_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * --rejoin, on a voter that lost raft.db: once the leader took it out (it is
 * in no configuration it knows, and it has heard a term since), it is a
 * candidate again and the leader adds it back as any new voter.  It still
 * grants no vote until the configuration that adds it reaches it through
 * the leader's log (voterd_rejoined): by then it holds that log and the
 * leader's term.  Otherwise it says why and stays without a vote.
 */
static void voterd_rejoin(struct voterd *cs)
{
	struct consensus_status st;

	if (!cs->node->cfg.rejoin)
		return;
	consensus_status(cs->cons, &st);
	if (consensus_status_has(&st, cs->id) || st.term == 0) {
		log_warn("raft", "event=rejoin_refused id=%016llx why=\"%s\"", (unsigned long long)cs->id,
		         st.term == 0 ? "nothing heard from the leader yet: start once without --rejoin"
		                      : "still a voter in the configuration it knows: wait until the"
		                        " others show it as removed");
		return;
	}
	if (raftstore_set_lost(cs->store, NULL, 0) != 0) {
		log_error("raft", "event=rejoin_error error=\"cannot write raft.db\"");
		return;
	}
	cs->lost = 0;
	cs->rejoining = 1;
	log_info("raft", "event=rejoin id=%016llx what=\"a voter candidate again: the leader adds it\"",
	         (unsigned long long)cs->id);
}

/* A rejoining voter votes again once the leader's log has added it to the configuration. */
static void voterd_rejoined(struct voterd *cs)
{
	struct consensus_status st;

	consensus_status(cs->cons, &st);
	if (!consensus_status_has(&st, cs->id))
		return;
	consensus_set_no_vote(cs->cons, 0);
	cs->rejoining = 0;
	log_info("raft", "event=voting id=%016llx term=%llu index=%llu what=\"re-added: votes again\"",
	         (unsigned long long)cs->id, (unsigned long long)st.term,
	         (unsigned long long)st.conf_index);
}

static int voterd_start_raft(struct voterd *cs)
{
	struct consensus_raft_params rp;
	struct raft_boot boot;
	int r = raftstore_load(cs->store, &boot);

	if (r != 0)
		return r < 0 ? r : -ENOENT;
	/* The ledger from the blocks table, then the snapshot's point: maybe a backfill to resume. */
	cs->applied_index = boot.snap.index;
	if (ledger_height(cs->ledger) == 0 && (r = catchup_rebuild(cs->catchup)) != 0) {
		raftstore_boot_free(cs->store);
		return r;
	}
	if (catchup_target(cs->catchup, boot.snap.index, boot.snap.data, boot.snap.len) != 0) {
		raftstore_boot_free(cs->store);
		return -EIO;
	}
	rp.id = cs->id;
	randombytes_buf(&rp.seed, sizeof rp.seed);
	rp.election_ticks = VOTERD_ELECTION_TICKS;
	rp.heartbeat_ticks = VOTERD_HEARTBEAT_TICKS;
	rp.pre_vote = 1;
	rp.check_quorum = 1;
	rp.no_vote = cs->lost || cs->rejoining; /* it may have voted in a term it no longer knows */
	/* The Raft implementation of the log, from what its store loaded (consensus-raft.h). */
	r = cs->cons == NULL ? consensus_raft_create(&cs->cons, &rp, &boot) : CONSENSUS_ERR_BUSY;
	raftstore_boot_free(cs->store);
	if (r != 0) {
		log_error("raft", "event=boot_error error=\"%s\"", raft_strerror(r));
		return -EIO;
	}
	voter_set_consensus(cs->vt, cs->cons);
	log_info("raft", "event=boot id=%016llx voters=%u entries=%zu term=%llu",
	         (unsigned long long)cs->id, boot.snap.conf.n, boot.nentries,
	         (unsigned long long)boot.hs.term);
	cs->boot_kind = 'b'; /* a cluster exists: no candidate that sees us forms another */
	cs->boot_hash = bootstrap_set_hash(boot.snap.conf.ids, boot.snap.conf.n);
	if (cs->lost)
		voterd_rejoin(cs);
	if (cs->lost)
		cs->boot_kind = 'l'; /* not a candidate: the leader takes us out, nobody adds us */
	voterd_publish_role(cs);
	voterd_pump(cs);
	return 0;
}

static int voterd_cmp_cand(const void *a, const void *b)
{
	return voterd_cmp_u64(&((const struct bootstrap_cand *)a)->id,
	                         &((const struct bootstrap_cand *)b)->id);
}

/* Alive voter candidates (ourselves included, with our own bootstrap state), sorted by id. */
static size_t voterd_cands(struct voterd *cs, struct bootstrap_cand *c, size_t max)
{
	struct core *core = cs->node->core;
	struct member_view mv;
	size_t n = 0;

	for (size_t i = 0; i < core_member_count(core) && n < max; i++) {
		if (core_member_get(core, i, &mv) != 0 || !voterd_alive(&mv) ||
		    !voterd_voter_role(&mv.rec, &c[n].kind, &c[n].hash))
			continue;
		c[n].id = voterd_id_of(mv.rec.pk);
		if (c[n].id == cs->id) {
			c[n].kind = cs->boot_kind;
			c[n].hash = cs->boot_hash;
		}
		n++;
	}
	qsort(c, n, sizeof *c, voterd_cmp_cand);
	return n;
}

/* The ids of alive voter candidates (ourselves included), sorted. */
static size_t voterd_candidates(struct voterd *cs, uint64_t *ids, size_t max)
{
	struct bootstrap_cand c[64];
	size_t n = voterd_cands(cs, c, max < 64 ? max : 64);

	for (size_t i = 0; i < n; i++)
		ids[i] = c[i].id;
	return n;
}

static void voterd_boot_with(struct voterd *cs, const struct raft_conf *conf, const char *why)
{
	log_info("raft", "event=bootstrap voters=%u member=%s why=%s", conf->n,
	         raft_conf_has(conf, cs->id) ? "yes" : "no", why);
	if (raftstore_init(cs->store, conf) != 0 || voterd_start_raft(cs) != 0)
		log_error("raft", "event=bootstrap_error");
}

/* Never booted, --bootstrap-expect N: one round of the agreement (include/chorus/bootstrap.h). */
static void voterd_try_bootstrap(struct voterd *cs)
{
	struct bootstrap_cand c[64];
	struct raft_conf conf;
	const struct node_config *cfg = &cs->node->cfg;
	size_t n = bootstrap_keep_listed(c, voterd_cands(cs, c, 64), cfg->voters, cfg->nvoters);
	enum bootstrap_action a;

	memset(&conf, 0, sizeof conf);
	a = bootstrap_step(&cs->boot, cs->id, cs->expect, c, n, conf.ids, &conf.n);
	cs->boot_kind = cs->boot.kind;
	cs->boot_hash = cs->boot.hash;
	if (a == BOOTSTRAP_PUBLISH)
		voterd_publish_role(cs);
	else if (a == BOOTSTRAP_MEMBER || a == BOOTSTRAP_JOIN || a == BOOTSTRAP_NONMEMBER)
		voterd_boot_with(cs, &conf, bootstrap_action_name(a));
}

/*
 * Leader: a voter of the configuration that says it lost its Raft state
 * (role voter-l) is taken out, so it neither counts in a quorum nor is taken
 * for a voter; 1 when a change was proposed.
 */
static int voterd_remove_lost(struct voterd *cs, const struct consensus_status *st)
{
	struct core *core = cs->node->core;
	struct member_view mv;
	uint64_t id, index;

	for (size_t i = 0; i < core_member_count(core); i++) {
		if (core_member_get(core, i, &mv) != 0 || !voterd_alive(&mv) ||
		    !voterd_lost_role(&mv.rec))
			continue;
		id = voterd_id_of(mv.rec.pk);
		if (!consensus_status_has(st, id) || id == cs->id)
			continue;
		if (consensus_remove_voter(cs->cons, id, &index) == 0)
			log_warn("raft", "event=remove_lost_voter id=%016llx index=%llu what=\"it lost its"
			         " Raft state: not a voter until its operator re-adds it\"",
			         (unsigned long long)id, (unsigned long long)index);
		voterd_pump(cs);
		return 1;
	}
	return 0;
}

/*
 * Leader: one alive candidate the operator listed (--voters) and not in the
 * configuration is added, one change at a time (bootstrap_voter_to_add decides);
 * a node that only announces the role is never added (issue 14).
 */
static void voterd_add_voters(struct voterd *cs)
{
	const struct node_config *cfg = &cs->node->cfg;
	uint64_t ids[64], index, id;
	struct consensus_status st;
	size_t n = voterd_candidates(cs, ids, 64);

	consensus_status(cs->cons, &st);
	if (st.conf_index > st.commit)
		return; /* a change is in flight */
	if (voterd_remove_lost(cs, &st))
		return;
	/* After a recover the listed voters are the lost ones: no more adds until a restart. */
	id = bootstrap_voter_to_add(st.voters, st.nvoters, ids, n, cfg->voters,
	                            cs->recovered ? 0 : cfg->nvoters, cs->removed, cs->nremoved);
	if (id == 0)
		return;
	if (consensus_add_voter(cs->cons, id, &index) == 0)
		log_info("raft", "event=add_voter id=%016llx index=%llu why=listed", (unsigned long long)id,
		         (unsigned long long)index);
	voterd_pump(cs);
}

/*
 * Were we removed?  Either our log holds the configuration that took us out
 * (we were in one before), or Raft heard so from a voter (raft_step_removed).
 * Said once; our role becomes "voter-r<hash>", which is no candidate, so no
 * leader adds us back by itself; the operator's add-voter does (and clears it).
 */
static void voterd_watch_removed(struct voterd *cs)
{
	struct consensus_status st;
	int in, removed;

	consensus_status(cs->cons, &st);
	in = consensus_status_has(&st, cs->id);
	cs->was_voter |= in;
	removed = st.removed || (cs->was_voter && !in);
	if (removed == cs->removed_self)
		return;
	cs->removed_self = removed;
	if (removed)
		log_warn("raft", "event=removed id=%016llx term=%llu what=\"the operator removed this voter:"
		         " it no longer campaigns and is not added back unless re-added (chorus ledger"
		         " add-voter)\"", (unsigned long long)cs->id, (unsigned long long)st.term);
	else
		log_info("raft", "event=readded id=%016llx index=%llu", (unsigned long long)cs->id,
		         (unsigned long long)st.conf_index);
	cs->boot_kind = removed ? 'r' : 'b';
	voterd_publish_role(cs);
}

/* ---------------------------------------------------------------- ack forwarding */

/* The slot of job among the acks kept for waiting submitters; nwaiting when none. */
static size_t voterd_waiting_find(const struct voterd *cs, const char *job)
{
	size_t i;

	for (i = 0; i < cs->nwaiting && strcmp(cs->waiting[i].job, job) != 0; i++)
		;
	return i;
}

/*
 * An ack leaves our outbox (committed, or refused and given up): when it is
 * one of ours, the core hears that it is settled, so the floor of our next
 * acks may pass it (the ledger's window, docs/ledger.md).  0, or -EIO.
 */
static int voterd_outbox_settle(struct voterd *cs, const char *job, uint64_t *created_ms)
{
	uint8_t client[CHORUS_PK_BYTES];
	uint64_t seq = 0, floor;
	int ours = 0;

	*created_ms = 0;
	if (raftstore_outbox_get(cs->store, job, cs->settle_e) == 0 &&
	    ledger_entry_seq(cs->settle_e, client, &seq, &floor) == 0)
		ours = memcmp(client, cs->pk, CHORUS_PK_BYTES) == 0;
	if (raftstore_outbox_done(cs->store, job, created_ms) != 0)
		return -EIO;
	if (ours && *created_ms != 0 && cs->node->core != NULL)
		(void)core_ack_settled(cs->node->core, seq);
	return 0;
}

/* One of our acks is committed: off the outbox, and its submit-to-commit time sampled. */
static void voterd_outbox_done(struct voterd *cs, const char *job, uint64_t height)
{
	uint64_t created_ms = 0, now_ms = chorusd_wall_ms();
	size_t i = voterd_waiting_find(cs, job);

	if (i < cs->nwaiting) { /* a waiting submitter's: nothing on disk to mark */
		created_ms = cs->waiting[i].at_ms;
		cs->waiting[i] = cs->waiting[--cs->nwaiting];
	} else if (voterd_outbox_settle(cs, job, &created_ms) != 0 || created_ms == 0) {
		return; /* unknown, or answered before: nothing to sample */
	}
	api_wake(cs->waits, job, height);
	cs->latency_ms[cs->nlatency++ % VOTERD_LATENCY_RING] =
	    now_ms > created_ms ? (uint32_t)(now_ms - created_ms) : 0;
	log_debug("ledger", "event=committed job=%s height=%llu ms=%llu", job,
	          (unsigned long long)height, (unsigned long long)(now_ms - created_ms));
}

static int voterd_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Submit-to-commit latency of our newest acks: p50 and p99 in ms; n samples (0: none). */
size_t voterd_latency(const struct voterd *cs, uint32_t *p50, uint32_t *p99)
{
	size_t n = cs->nlatency < VOTERD_LATENCY_RING ? (size_t)cs->nlatency : VOTERD_LATENCY_RING;
	uint32_t *v = n ? malloc(n * sizeof *v) : NULL;

	*p50 = *p99 = 0;
	if (v == NULL)
		return 0;
	memcpy(v, cs->latency_ms, n * sizeof *v);
	qsort(v, n, sizeof *v, voterd_cmp_u32);
	*p50 = v[n / 2];
	*p99 = v[n * 99 / 100];
	free(v);
	return n;
}

/*
 * An entry from outside (POST /v1/ledger/acks): checked, into our outbox (or,
 * when its submitter waits, kept in memory: voterd_unwait), sent at the
 * end of this loop iteration.  job gets its id (hex); *height the block that
 * credits it when this node's ledger already has it, else 0.
 */
int voterd_submit(struct voterd *cs, const struct ledger_entry *e, int waits,
                     char job[CHORUS_JOB_ID_HEX + 1], uint64_t *height, int *settled, char *why,
                     size_t whylen)
{
	struct ledger_entry_info info;
	struct ledger_job credited;

	if (ledger_entry_check_here(cs->ledger, e, &info) != 0) {
		snprintf(why, whylen, "the entry does not check (signatures, texts or match)");
		return -EINVAL;
	}
	sodium_bin2hex(job, CHORUS_JOB_ID_HEX + 1, info.job, CHORUS_JOB_ID_BYTES);
	*height = ledger_job_get(cs->ledger, info.job, &credited) == 0 ? credited.height : 0;
	/* Below its client's floor: settled for good, nothing to send (a replay earns nothing). */
	*settled = *height == 0 && ledger_entry_settled(cs->ledger, &info);
	if (*settled)
		*height = ledger_height(cs->ledger);
	if (*height > 0)
		return 0;
	if (voterd_waiting_find(cs, job) < cs->nwaiting) {
		/* posted again while the first still waits: both wait for the same commit */
	} else if (waits && cs->nwaiting < VOTERD_WAITING_MAX) {
		struct voterd_waiting *w = &cs->waiting[cs->nwaiting++];

		snprintf(w->job, sizeof w->job, "%s", job);
		w->at_ms = chorusd_wall_ms();
		w->e = *e;
	} else if (raftstore_outbox_put(cs->store, job, e, chorusd_wall_ms()) != 0) {
		snprintf(why, whylen, "cannot store it");
		return -EIO;
	}
	if (cs->nfresh < VOTERD_FRESH_MAX)
		cs->fresh[cs->nfresh++] = *e; /* else the next outbox round sends it */
	voterd_kick(cs);
	return 0;
}

/* The ack kept in slot i goes to the outbox and leaves memory; 0 or -EIO. */
static int voterd_unwait_at(struct voterd *cs, size_t i)
{
	struct voterd_waiting *w = &cs->waiting[i];

	if (raftstore_outbox_put(cs->store, w->job, &w->e, w->at_ms) != 0)
		return -EIO;
	cs->waiting[i] = cs->waiting[--cs->nwaiting];
	return 0;
}

/*
 * The submitter of job stopped waiting before it committed: the ack goes to
 * the outbox (durable, re-sent until committed) before the 202 says so.
 * 0 (also when it is not kept here any more), or -EIO.
 */
int voterd_unwait(struct voterd *cs, const char *job)
{
	size_t i = voterd_waiting_find(cs, job);

	return i < cs->nwaiting ? voterd_unwait_at(cs, i) : 0;
}

/*
 * Ledger messages batch many records into one frame (formats: lmsg.h): a
 * burst of single frames would overflow the fabric's per-peer queue (and
 * drop Raft's messages with it).
 */
static void voterd_batch_begin(struct voterd_batch *b, uint64_t to, uint8_t kind,
                                  uint8_t flags, const uint8_t origin[CHORUS_PK_BYTES])
{
	b->to = to;
	b->buf[0] = kind;
	b->buf[1] = flags;
	memcpy(b->buf + 2, origin, CHORUS_PK_BYTES);
	b->buf[2 + CHORUS_PK_BYTES] = 0;
	b->len = LMSG_HEADER;
}

static void voterd_batch_flush(struct voterd *cs, struct voterd_batch *b)
{
	if (b->buf[2 + CHORUS_PK_BYTES] > 0 && b->to != CONSENSUS_NONE)
		voterd_send(cs, b->to, CORE_APP_LEDGER, b->buf, b->len);
	b->buf[2 + CHORUS_PK_BYTES] = 0;
	b->len = LMSG_HEADER;
}

/* Room for len more bytes (a full batch goes out first); returns where to write them. */
static uint8_t *voterd_batch_room(struct voterd *cs, struct voterd_batch *b, size_t len)
{
	uint8_t *at;

	assert(LMSG_HEADER + len <= CHORUS_BODY_MAX);
	if (b->len + len > CHORUS_BODY_MAX || b->buf[2 + CHORUS_PK_BYTES] == LMSG_RECORDS_MAX)
		voterd_batch_flush(cs, b);
	at = b->buf + b->len;
	b->len += len;
	b->buf[2 + CHORUS_PK_BYTES]++;
	return at;
}

static void voterd_batch_entry(struct voterd *cs, struct voterd_batch *b,
                                  const struct ledger_entry *e)
{
	lmsg_put_entry(voterd_batch_room(cs, b, lmsg_entry_size(e)), e);
}

/*
 * The voter's effects: its log records, and its answers, one batch per
 * origin (or a few); those for our own acks settle our outbox here.  A
 * refusal goes on the wire as height 0 (blocks start at 1).
 */
static void voterd_effects(struct voterd *cs)
{
	static const uint8_t none[CHORUS_PK_BYTES];
	struct voter_ready rd;
	uint8_t *sent;
	int group;

	if (!voter_ready(cs->vt, &rd))
		return;
	group = rd.nanswers > 0 && raftstore_outbox_begin(cs->store) == 0; /* our settled acks */
	for (size_t i = 0; i < rd.nlogs; i++)
		log_emit(rd.logs[i].level, "ledger", rd.logs[i].text);
	sent = rd.nanswers > 0 ? calloc(rd.nanswers, 1) : NULL;
	for (size_t i = 0; i < rd.nanswers && sent != NULL; i++) {
		const struct voter_answer *a = &rd.answers[i];
		char hex[CHORUS_JOB_ID_HEX + 1];

		if (sent[i])
			continue;
		if (memcmp(a->origin, cs->pk, CHORUS_PK_BYTES) == 0) {
			sodium_bin2hex(hex, sizeof hex, a->job, CHORUS_JOB_ID_BYTES);
			if (a->kind == VOTER_ANSWER_REFUSED)
				voterd_outbox_refused(cs, hex);
			else
				voterd_outbox_done(cs, hex, a->height);
			continue;
		}
		voterd_batch_begin(&cs->batch, voterd_id_of(a->origin), LMSG_COMMITTED, 0, none);
		for (size_t k = i; k < rd.nanswers; k++)
			if (!sent[k] && memcmp(rd.answers[k].origin, a->origin, CHORUS_PK_BYTES) == 0) {
				sent[k] = 1;
				lmsg_put_committed(voterd_batch_room(cs, &cs->batch, LMSG_COMMITTED_BYTES),
				                   rd.answers[k].job, rd.answers[k].height);
			}
		voterd_batch_flush(cs, &cs->batch);
	}
	if (rd.nanswers > 0 && sent == NULL)
		log_error("ledger", "event=answers_lost n=%zu (no memory: the submitters retry)",
		          rd.nanswers);
	free(sent);
	if (group)
		(void)raftstore_outbox_commit(cs->store); /* failed: the rows stay, answered again */
	voter_advance(cs->vt);
}

/*
 * A voter says the ledger refused our ack for job: a committed answer at
 * height 0, because the entry does not check and never will (the check is a
 * function of its bytes alone).  That happens when a worker's receipt
 * signature is bad: the client does not verify it (dispatch.c), the frame's
 * MAC having proved who sent it.  The answer is only a hint, since anyone can
 * submit a copy of our ack with one bit flipped and our key as its origin:
 * our own copy is checked, and leaves the outbox only if it fails too.
 */
static void voterd_outbox_refused(struct voterd *cs, const char *job)
{
	struct ledger_entry *e;
	uint64_t created_ms;
	char why[128];

	if (voterd_waiting_find(cs, job) < cs->nwaiting)
		return; /* posted through the API, and checked then */
	if ((e = malloc(sizeof *e)) == NULL)
		return;
	if (raftstore_outbox_get(cs->store, job, e) == 0 &&
	    voter_refusal_stands(cs->vt, e, why, sizeof why) &&
	    voterd_outbox_settle(cs, job, &created_ms) == 0) {
		cs->outbox_refused++;
		log_warn("ledger", "event=ack_refused job=%s why=\"%s\" (the job stays done, uncredited)",
		         job, why);
	} else {
		log_debug("ledger", "event=refusal_ignored job=%s (our ack checks, or is gone)", job);
	}
	free(e);
}

/* Where acks go: ourselves if leading, the leader we know, or some voter (attempt-rotated). */
static uint64_t voterd_target(struct voterd *cs)
{
	struct core *core = cs->node->core;
	struct member_view mv;
	uint64_t leaders[16], voters[16];
	size_t nl = 0, nv = 0;

	for (size_t i = 0; i < core_member_count(core); i++) {
		if (core_member_get(core, i, &mv) != 0 || !voterd_alive(&mv))
			continue;
		if (voterd_has_role(&mv.rec, VOTERD_ROLE_LEADER) && nl < 16)
			leaders[nl++] = voterd_id_of(mv.rec.pk);
		if (voterd_is_candidate(&mv.rec) && nv < 16)
			voters[nv++] = voterd_id_of(mv.rec.pk);
	}
	return voter_target(cs->vt, leaders, nl, voters, nv, cs->outbox_round);
}

/* Our records to the leader: queued here if we lead, else batched to the target. */
static void voterd_route(struct voterd *cs, const struct ledger_entry *es, size_t n)
{
	uint64_t to = voterd_target(cs);

	if (to == cs->id && voter_is_leader(cs->vt)) {
		for (size_t i = 0; i < n; i++)
			voter_submit(cs->vt, &es[i], cs->pk);
		voterd_effects(cs);
		return;
	}
	if (to == CONSENSUS_NONE || to == cs->id)
		return; /* nobody to send to yet: the outbox keeps them */
	voterd_batch_begin(&cs->batch, to, LMSG_SUBMIT, 0, cs->pk);
	for (size_t i = 0; i < n; i++)
		voterd_batch_entry(cs, &cs->batch, &es[i]);
	voterd_batch_flush(cs, &cs->batch);
}

static void voterd_outbox_one(void *ctx, const char *job, const struct ledger_entry *e)
{
	struct voterd *cs = ctx;

	(void)job;
	if (cs->nfresh < VOTERD_OUTBOX_BATCH)
		cs->fresh[cs->nfresh++] = *e;
}

/* Every second: the oldest unanswered records again (a lost submit or answer, a new leader). */
static void voterd_outbox_flush(struct voterd *cs)
{
	uint64_t now_ms = chorusd_wall_ms();
	int n;

	cs->outbox_round++;
	/*
	 * Acks still fresh (not routed yet this loop iteration) stay: a waiting
	 * submitter's is in no outbox, and dropping it here cost it a second.
	 * The outbox's oldest join them (a duplicate is queued once).
	 */
	n = raftstore_outbox_each(cs->store, VOTERD_OUTBOX_BATCH, voterd_outbox_one, cs);
	if (n < 0)
		log_error("ledger", "event=outbox_error");
	/*
	 * Acks kept for a waiting submitter go again too.  One older than any
	 * wait (its submitter hung up) goes to the outbox like a wait that ran out.
	 */
	for (size_t i = 0; i < cs->nwaiting;) {
		struct voterd_waiting *w = &cs->waiting[i];

		if (now_ms > w->at_ms + API_WAIT_MS_MAX + 1000 && voterd_unwait_at(cs, i) == 0)
			continue; /* the slot now holds another one */
		if (now_ms >= w->at_ms + 1000 && cs->nfresh < 2 * VOTERD_OUTBOX_BATCH)
			cs->fresh[cs->nfresh++] = w->e;
		i++;
	}
}

static void voterd_on_submit(struct voterd *cs, const struct lmsg *m, const uint8_t *body,
                                size_t len)
{
	struct ledger_entry *e = malloc(sizeof *e);
	const uint8_t *p = m->records;
	size_t left = m->records_len;
	unsigned k;
	uint64_t to;
	enum voter_action a = voter_on_submit(cs->vt, (m->flags & LMSG_FORWARDED) != 0, &to);

	if (e == NULL)
		return;
	for (k = 0; k < m->count && lmsg_next_entry(&p, &left, e) == 0; k++)
		if (a == VOTER_QUEUE)
			voter_submit(cs->vt, e, m->origin);
	if (k != m->count || left != 0) {
		cs->dropped++;
		log_debug("ledger", "event=drop reason=malformed-submit records=%u", m->count);
	}
	else if (a == VOTER_FORWARD) {
		memcpy(cs->batch.buf, body, len); /* passed on whole, once, origin kept */
		cs->batch.buf[1] |= LMSG_FORWARDED;
		voterd_send(cs, to, CORE_APP_LEDGER, cs->batch.buf, len);
	}
	free(e);
	voterd_effects(cs);
	voterd_kick(cs); /* the submits of this loop iteration go into the same blocks */
}

/* Is from_pk a member whose record says it is a voter (candidate)? */
static int voterd_from_voter(const struct voterd *cs, const uint8_t from_pk[CHORUS_PK_BYTES])
{
	struct member_view mv;

	return voterd_member_by_id(cs, voterd_id_of(from_pk), &mv) == 0 &&
	       memcmp(mv.rec.pk, from_pk, CHORUS_PK_BYTES) == 0 && voterd_is_candidate(&mv.rec);
}

static void voterd_on_committed(struct voterd *cs, const struct lmsg *m)
{
	int group = raftstore_outbox_begin(cs->store) == 0; /* the answers' rows: one transaction */

	for (unsigned k = 0; k < m->count; k++) {
		uint8_t id[CHORUS_JOB_ID_BYTES];
		char job[CHORUS_JOB_ID_HEX + 1];
		uint64_t height;

		lmsg_committed_at(m, k, id, &height);
		sodium_bin2hex(job, sizeof job, id, CHORUS_JOB_ID_BYTES);
		if (height == 0) /* blocks start at 1: height 0 says the ledger refused it */
			voterd_outbox_refused(cs, job);
		else
			voterd_outbox_done(cs, job, height);
	}
	/* Not committed: the rows come back, are sent again, and answered final again. */
	if (group)
		(void)raftstore_outbox_commit(cs->store);
}

/* ---------------------------------------------------------------- core callbacks */

static void voterd_app_cb(void *ctx, int type, const uint8_t from_pk[CHORUS_PK_BYTES],
                             const uint8_t *body, size_t len)
{
	struct voterd *cs = ((struct node *)ctx)->consensus;
	struct lmsg m;

	if (cs == NULL)
		return;
	if (type == CORE_APP_RAFT)
		voterd_on_raft(cs, from_pk, body, len);
	else if (type == CORE_APP_LEDGER && len >= 1 &&
	         (body[0] == CATCHUP_MSG_REQ || body[0] == CATCHUP_MSG_BLOCKS)) {
		voterd_settle(cs);
		catchup_on_msg(cs->catchup, cs->cons, from_pk, body, len);
	}
	else if (type == CORE_APP_LEDGER && lmsg_parse(&m, body, len) != 0) {
		cs->dropped++;
		log_debug("ledger", "event=drop reason=malformed len=%zu", len);
	}
	else if (type == CORE_APP_LEDGER && m.kind == LMSG_SUBMIT)
		voterd_on_submit(cs, &m, body, len);
	else if (type == CORE_APP_LEDGER && m.kind == LMSG_COMMITTED && voterd_from_voter(cs, from_pk))
		voterd_on_committed(cs, &m);
	else if (type == CORE_APP_LEDGER && m.kind == LMSG_COMMITTED) {
		cs->dropped++; /* only a voter answers for the ledger: it would empty our outbox */
		log_debug("ledger", "event=drop reason=committed-not-from-a-voter");
	}
}

/*
 * Our own acks since the last call go to the outbox in one transaction (a
 * group commit), then out to the leader.  Runs at the end of the loop
 * iteration that saw them, and before the job table commits (jobs.c): a job
 * is never final on disk while its ack is not in the outbox.
 */
int voterd_save_acks(struct voterd *cs)
{
	uint64_t max_seq = 0;
	int r, rc;

	if (cs == NULL || cs->nown == 0)
		return 0;
	r = raftstore_outbox_begin(cs->store);
	for (size_t i = 0; i < cs->nown && r == 0; i++) {
		uint8_t client[CHORUS_PK_BYTES];
		uint64_t seq, floor;

		r = raftstore_outbox_put(cs->store, cs->own[i].job, &cs->own[i].e, cs->own[i].at_ms);
		if (ledger_entry_seq(&cs->own[i].e, client, &seq, &floor) == 0 && seq > max_seq)
			max_seq = seq;
	}
	/* The highest seq saved, with them: a restart never signs at or below it (acks.c). */
	if (r == 0 && max_seq > cs->saved_seq)
		r = raftstore_ack_seq_put(cs->store, max_seq);
	rc = raftstore_outbox_commit(cs->store); /* rolls back what failed */
	if (r == 0)
		r = rc;
	if (r == 0 && max_seq > cs->saved_seq)
		cs->saved_seq = max_seq;
	if (r != 0) {
		/* Kept in memory and tried again; the job table waits for them (jobs.c). */
		log_error("ledger", "event=outbox_error acks=%zu error=\"%s\" kept=yes", cs->nown,
		          r == -ENOSPC ? "the disk is full" : "cannot write raft.db");
		return r;
	}
	for (size_t i = 0; i < cs->nown && cs->nfresh < VOTERD_FRESH_MAX; i++)
		cs->fresh[cs->nfresh++] = cs->own[i].e; /* else the next outbox round sends it */
	cs->nown = 0;
	return 0;
}

/* Our own succeeded jobs: to the outbox (durable) and out, at the end of this iteration. */
static void voterd_ack_cb(void *ctx, const struct job_ack *ack)
{
	struct voterd *cs = ((struct node *)ctx)->consensus;
	struct voterd_own *o;

	api_events_ack(ack);
	if (cs == NULL || memcmp(ack->client, cs->pk, CHORUS_PK_BYTES) != 0 ||
	    ack->receipt_text == NULL || strcmp(ack->status, "succeeded") != 0)
		return;
	if (cs->nown == VOTERD_FRESH_MAX)
		(void)voterd_save_acks(cs); /* a burst: this batch now */
	if (cs->nown == VOTERD_FRESH_MAX) {
		/* Only while raft.db cannot be written at all, with this many acks waiting: said. */
		log_error("ledger", "event=ack_lost job=%s what=\"the outbox cannot be written and %d acks"
		          " wait in memory\"", ack->job_id, VOTERD_FRESH_MAX);
		return;
	}
	o = &cs->own[cs->nown];
	if (ledger_entry_from_ack(&o->e, ack) != 0) {
		log_warn("ledger", "event=ack_error job=%s", ack->job_id);
		return;
	}
	snprintf(o->job, sizeof o->job, "%s", ack->job_id);
	o->at_ms = chorusd_wall_ms();
	cs->nown++;
	voterd_kick(cs);
}

static void voterd_restore_one(void *ctx, const char *job, const struct ledger_entry *e)
{
	struct voterd *cs = ctx;
	uint8_t client[CHORUS_PK_BYTES];
	uint64_t seq, floor;

	(void)job;
	if (ledger_entry_seq(e, client, &seq, &floor) == 0 &&
	    memcmp(client, cs->pk, CHORUS_PK_BYTES) == 0 && cs->nrestore < cs->restore_cap)
		cs->restore[cs->nrestore++] = seq;
}

/*
 * At start, before any job resumes: the core gets the seqs of our acks still
 * in the outbox (open), the highest seq ever saved, and the wall clock, from
 * which its acks' seqs and floors go on (acks.c).  0, or -ENOMEM / -EIO.
 */
int voterd_acks_restore(struct voterd *cs, struct core *core)
{
	size_t open = raftstore_outbox_open(cs->store);
	uint64_t last = 0;
	int r;

	if (raftstore_ack_seq_get(cs->store, &last) != 0)
		return -EIO;
	cs->saved_seq = last;
	cs->restore_cap = open;
	cs->nrestore = 0;
	if (open > 0 && (cs->restore = calloc(open, sizeof(*cs->restore))) == NULL)
		return -ENOMEM;
	if (open > 0 && raftstore_outbox_each(cs->store, (unsigned)open, voterd_restore_one, cs) < 0)
		r = -EIO;
	else
		r = core_acks_restore(core, last, chorusd_wall_ms(), cs->restore, cs->nrestore,
		                      chorusd_now_ms()) == 0 ? 0 : -EINVAL;
	if (r == 0)
		log_info("ledger", "event=acks_restored open=%zu last_seq=%llu floor=%llu", cs->nrestore,
		         (unsigned long long)last, (unsigned long long)core_ack_floor(core));
	free(cs->restore);
	cs->restore = NULL;
	return r;
}

void voterd_env(struct core_env *env)
{
	env->app_cb = voterd_app_cb;
	env->ack_cb = voterd_ack_cb;
}

/* ---------------------------------------------------------------- the tick */

/* After the callbacks of this loop iteration: new acks go out now, not on the next tick. */
static void voterd_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct voterd *cs = arg;

	(void)fd;
	(void)what;
	cs->kicked = 0;
	if (cs->node->core == NULL)
		return;
	fabric_flush_now(cs->node->fabric); /* this iteration's frames leave before the writes */
	voterd_save_acks(cs);
	if (cs->nfresh > 0)
		voterd_route(cs, cs->fresh, cs->nfresh);
	cs->nfresh = 0;
	voterd_pump(cs);
	chorusd_reschedule(cs->node);
}

static void voterd_kick(struct voterd *cs)
{
	if (cs->kicked || cs->kick_ev == NULL)
		return;
	cs->kicked = 1;
	event_active(cs->kick_ev, EV_TIMEOUT, 0);
}

static void voterd_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct voterd *cs = arg;

	(void)fd;
	(void)what;
	cs->ticks++;
	if (cs->node->core == NULL)
		return;
	voterd_settle(cs);
	if (cs->cons != NULL) {
		consensus_tick(cs->cons);
		(void)catchup_tick(cs->catchup, cs->cons);
		voterd_apply_held(cs);
	}
	if (cs->ticks % VOTERD_DUTY_TICKS == 0) {
		if (cs->cons != NULL && cs->rejoining)
			voterd_rejoined(cs);
		if (cs->cons != NULL && !cs->lost && !cs->rejoining)
			voterd_watch_removed(cs);
		if (cs->cons == NULL && cs->voter)
			voterd_try_bootstrap(cs);
		else if (cs->cons != NULL && voter_is_leader(cs->vt))
			voterd_add_voters(cs);
	}
	if (cs->ticks % VOTERD_OUTBOX_TICKS == 0) {
		uint64_t depth, high, low;

		voterd_outbox_flush(cs);
		(void)voterd_lagging(cs, &depth, &high, &low);
	}
	if (cs->nfresh > 0)
		voterd_route(cs, cs->fresh, cs->nfresh);
	cs->nfresh = 0;
	voterd_pump(cs);
	chorusd_reschedule(cs->node); /* Raft may have sent through the core */
}

/* ---------------------------------------------------------------- views and commands */

int voterd_booted(const struct voterd *cs)
{
	return cs->cons != NULL;
}

int voterd_log_status(const struct voterd *cs, struct consensus_status *st)
{
	if (cs->cons == NULL)
		return -ENOENT;
	consensus_status(cs->cons, st);
	return 0;
}

int voterd_is_leader(const struct voterd *cs)
{
	return voter_is_leader(cs->vt);
}

uint64_t voterd_dropped(const struct voterd *cs)
{
	return cs->dropped;
}

uint64_t voterd_refused(const struct voterd *cs)
{
	struct voter_stats st;

	voter_stats(cs->vt, &st);
	return st.refused;
}

void voterd_stats(const struct voterd *cs, struct voter_stats *st)
{
	voter_stats(cs->vt, st);
}

void voterd_refusals(const struct voterd *cs, uint64_t *member, uint64_t *bound,
                        uint64_t *skipped_blocks)
{
	struct voter_stats st;

	voter_stats(cs->vt, &st);
	*member = st.refused_member;
	*bound = st.refused_bound;
	*skipped_blocks = st.skipped_blocks;
}

uint64_t voterd_refused_window(const struct voterd *cs)
{
	struct voter_stats st;

	voter_stats(cs->vt, &st);
	return st.refused_window;
}

uint64_t voterd_outbox_refused_count(const struct voterd *cs)
{
	return cs->outbox_refused;
}

/*
 * Back-pressure, not drops: our open acks (in the outbox, and those of this
 * loop iteration on their way to it) against the marks.  1 when new submits
 * are refused; the state's changes are logged once each.
 */
int voterd_lagging(struct voterd *cs, uint64_t *depth, uint64_t *high, uint64_t *low)
{
	int changed, lagging;

	*depth = (uint64_t)raftstore_outbox_open(cs->store) + cs->nown;
	*high = cs->bp.high;
	*low = cs->bp.low;
	lagging = backpressure_step(&cs->bp, *depth, &changed);
	if (changed && lagging)
		log_warn("ledger", "event=outbox_high open=%llu high=%llu what=\"new submits refused until %llu\"",
		         (unsigned long long)*depth, (unsigned long long)cs->bp.high,
		         (unsigned long long)cs->bp.low);
	else if (changed)
		log_info("ledger", "event=outbox_drained open=%llu low=%llu what=\"submits accepted again\"",
		         (unsigned long long)*depth, (unsigned long long)cs->bp.low);
	return lagging;
}

struct api_waits *voterd_waits(struct voterd *cs)
{
	return cs->waits;
}

int voterd_job_get(const struct voterd *cs, const uint8_t job[CHORUS_JOB_ID_BYTES],
                      struct ledger_job *out, int *held)
{
	*held = ledger_job_get(cs->ledger, job, out) == 0;
	if (*held || ledger_forgotten_find(cs->ledger, job, out) == 0)
		return 0; /* held, or forgotten and not written yet (voterd_index_forgotten) */
	return raftstore_job_get(cs->store, job, out) == 0 ? 0 : -ENOENT;
}

const struct ledger *voterd_ledger(const struct voterd *cs)
{
	return cs->ledger;
}

/* The leader: Raft's view on a voter, the gossip's (role "leader") elsewhere; 0 if none. */
uint64_t voterd_leader(const struct voterd *cs)
{
	struct core *core = cs->node->core;
	struct member_view mv;

	if (cs->cons != NULL) {
		struct consensus_status st;

		consensus_status(cs->cons, &st);
		/* A candidate the operator has not added (or removed) hears no leader: gossip's. */
		if (st.leader != CONSENSUS_NONE || consensus_status_has(&st, cs->id))
			return st.leader;
	}
	for (size_t i = 0; i < core_member_count(core); i++)
		if (core_member_get(core, i, &mv) == 0 && voterd_alive(&mv) &&
		    voterd_has_role(&mv.rec, VOTERD_ROLE_LEADER))
			return voterd_id_of(mv.rec.pk);
	return CONSENSUS_NONE;
}

/* For /v1/status: none, booting, lost (no vote until re-added), voter, or waiting (to be added). */
const char *voterd_raft_state(const struct voterd *cs)
{
	struct consensus_status st;

	if (!cs->voter)
		return "none";
	if (cs->lost)
		return "lost";
	if (cs->rejoining)
		return "rejoining";
	if (cs->cons == NULL)
		return "booting";
	if (cs->removed_self)
		return "removed";
	consensus_status(cs->cons, &st);
	return consensus_status_has(&st, cs->id) ? "voter" : "waiting";
}

int voterd_is_voter(const struct voterd *cs)
{
	return cs->voter;
}

/* From raft.db, valid until the next block read; rows above the head are a backfill's. */
int voterd_block(const struct voterd *cs, uint64_t height, const uint8_t **data,
                    size_t *len)
{
	if (height == 0 || height > ledger_height(cs->ledger))
		return -ENOENT;
	return raftstore_block_get(cs->store, height, data, len);
}

const struct catchup *voterd_catchup(const struct voterd *cs)
{
	return cs->catchup;
}

int voterd_remove_voter(struct voterd *cs, uint64_t id)
{
	struct consensus_status st;
	uint64_t index;
	int r;

	if (cs->cons == NULL || !voter_is_leader(cs->vt))
		return -EAGAIN;
	consensus_status(cs->cons, &st);
	if (!consensus_status_has(&st, id))
		return -ENOENT;
	if (st.conf_index > st.commit)
		return -EBUSY;
	r = consensus_remove_voter(cs->cons, id, &index);
	if (r != 0)
		return r == CONSENSUS_ERR_BUSY ? -EBUSY : -EINVAL;
	if (cs->nremoved < VOTERD_REMOVED_MAX)
		cs->removed[cs->nremoved++] = id;
	log_info("raft", "event=remove_voter id=%016llx index=%llu", (unsigned long long)id,
	         (unsigned long long)index);
	voterd_pump(cs);
	chorusd_reschedule(cs->node);
	return 0;
}

/* The operator's add-voter (on the leader): it votes once the change commits. */
int voterd_add_voter(struct voterd *cs, uint64_t id)
{
	struct consensus_status st;
	uint64_t index;
	int r;

	if (cs->cons == NULL || !voter_is_leader(cs->vt))
		return -EAGAIN;
	consensus_status(cs->cons, &st);
	if (consensus_status_has(&st, id))
		return -EEXIST;
	if (st.conf_index > st.commit || st.nvoters >= CHORUS_RAFT_VOTERS_MAX)
		return -EBUSY;
	r = consensus_add_voter(cs->cons, id, &index);
	if (r != 0)
		return r == CONSENSUS_ERR_BUSY ? -EBUSY : -EINVAL;
	for (size_t i = 0; i < cs->nremoved; i++) /* the operator changed their mind */
		if (cs->removed[i] == id)
			cs->removed[i] = cs->removed[--cs->nremoved];
	log_info("raft", "event=add_voter id=%016llx index=%llu why=operator", (unsigned long long)id,
	         (unsigned long long)index);
	voterd_pump(cs);
	chorusd_reschedule(cs->node);
	return 0;
}

/* The operator's transfer-leader (on the leader): Raft's TimeoutNow once `to` is caught up. */
int voterd_transfer_leader(struct voterd *cs, uint64_t to)
{
	struct consensus_status st;

	if (cs->cons == NULL || !voter_is_leader(cs->vt))
		return -EAGAIN;
	consensus_status(cs->cons, &st);
	if (!consensus_status_has(&st, to))
		return -ENOENT;
	if (to == cs->id)
		return 0;
	if (consensus_transfer(cs->cons, to) != 0)
		return -EBUSY;
	log_info("raft", "event=transfer_leader to=%016llx", (unsigned long long)to);
	voterd_pump(cs);
	chorusd_reschedule(cs->node);
	return 0;
}

/*
 * `chorus ledger recover` on a surviving voter without a leader: a new
 * configuration of this node alone (raft_force_new_cluster; the risks are in
 * docs/ledger-node.md).  -EAGAIN: a leader is known; -EINVAL: no voter here.
 */
static uint64_t voterd_commit_index(const struct voterd *cs)
{
	struct consensus_status st;

	consensus_status(cs->cons, &st);
	return st.commit;
}

int voterd_recover(struct voterd *cs)
{
	int r;

	if (cs->cons == NULL || cs->lost || cs->rejoining)
		return -EINVAL;
	r = consensus_recover(cs->cons);
	if (r != 0)
		return r == CONSENSUS_ERR_BUSY ? -EAGAIN : -EINVAL;
	cs->recovered = 1;
	log_warn("raft", "event=force_new_cluster id=%016llx index=%llu what=\"a new configuration of"
	         " this voter alone: the other voters must not come back with their raft.db\"",
	         (unsigned long long)cs->id, (unsigned long long)voterd_commit_index(cs));
	voterd_pump(cs);
	chorusd_reschedule(cs->node);
	return 0;
}

/* ---------------------------------------------------------------- life */

static int voterd_boot(struct voterd *cs)
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
		return voterd_start_raft(cs); /* booted before: never bootstrap again */
	if (cs->expect > 0 && !cs->lost)
		return 0; /* the tick bootstraps once enough candidates are seen */
	{
		struct raft_conf none = { 0 };

		if ((r = raftstore_init(cs->store, &none)) != 0)
			return r;
	}
	return voterd_start_raft(cs);
}

/* raft.db is damaged: what, and what to do (a voter can start without it, and not vote). */
static void voterd_damaged(const struct voterd *cs, char *err, size_t errlen, const char *why)
{
	const char *dir = cs->node->cfg.data_dir;

	if (cs->voter)
		snprintf(err, errlen, "%s/raft.db is damaged (%s): restore it from a backup, or move it"
		         " aside to start without it (this voter then does not vote until re-added,"
		         " chorusd(8) DAMAGE)", dir, why);
	else
		snprintf(err, errlen, "%s/raft.db is damaged (%s): restore it from a backup, or move raft.db"
		         " and raft.db.id aside to start without it (acks not yet in the ledger are lost)",
		         dir, why);
}

/*
 * raft.db, checked (raftstore_open): damage stops the node with what to do;
 * a store that was emptied or replaced stops a non-voter too (its unsent
 * acks were there), while a voter comes up without a vote, and says so.
 */
static int voterd_open_store(struct voterd *cs, char *err, size_t errlen)
{
	const char *dir = cs->node->cfg.data_dir;
	char why[NODE_ERR_MAX];
	int r, lost;

	why[0] = '\0';
	r = raftstore_open(&cs->store, dir, &lost, why, sizeof why);
	if (r == -EBADMSG) {
		/* why is "DIR/raft.db is damaged (WHAT)": WHAT, with the advice for this node. */
		char *p = strstr(why, "damaged (");
		size_t n;

		p = p != NULL ? p + 9 : why;
		if ((n = strlen(p)) > 0 && p[n - 1] == ')')
			p[n - 1] = '\0';
		voterd_damaged(cs, err, errlen, p);
		return r;
	}
	if (r != 0) {
		snprintf(err, errlen, "%s", why);
		return r;
	}
	if (lost == 2 && !cs->voter) {
		snprintf(err, errlen, "%s/raft.db is empty or was replaced, but this node kept its"
		         " ledger acks there (raft.db.id says so): restore it from a backup, or move raft.db"
		         " and raft.db.id aside to start without it (those acks are lost)", dir);
		return -EBADMSG;
	}
	if (lost == 3 && !cs->voter)
		lost = 0; /* no vote to protect */
	if ((lost == 2 && (r = raftstore_set_lost(cs->store, dir, 1)) != 0) ||
	    (lost == 3 && ((r = raftstore_forget(cs->store)) != 0 ||
	                   (r = raftstore_set_lost(cs->store, NULL, 1)) != 0))) {
		snprintf(err, errlen, "%s/raft.db: cannot record its loss", dir);
		return r;
	}
	cs->lost = cs->voter && lost != 0;
	if (cs->lost)
		log_error("raft", "event=state_lost file=%s/raft.db what=\"this voter's Raft state (term,"
		          " vote, log) is %s: it does not vote until re-added (the leader takes it out;"
		          " then restart it with --rejoin)\"", dir,
		          lost == 3 ? "older than it saved (a copy put back), so it is set aside" : "gone");
	return 0;
}

/* Is pk a member whose signed record we hold?  The voter's admission asks. */
static int voterd_member_known_cb(void *ctx, const uint8_t pk[CHORUS_PK_BYTES])
{
	struct voterd *cs = ctx;

	return cs->node->core != NULL && core_member_known(cs->node->core, pk);
}

static int voterd_voter_create(struct voterd *cs)
{
	struct voter_config vc;

	memset(&vc, 0, sizeof vc);
	vc.id = cs->id;
	memcpy(vc.pk, cs->pk, CHORUS_PK_BYTES);
	memcpy(vc.sk, cs->sk, CHORUS_SK_BYTES);
	vc.old_leader = cs->fault_old_leader;
	vc.old_members = cs->fault_old_leader;
	vc.member_known_cb = voterd_member_known_cb;
	vc.ctx = cs;
	return voter_create(&cs->vt, &vc, cs->ledger);
}

int voterd_create(struct voterd **out, struct node *node, const uint8_t pk[CHORUS_PK_BYTES],
                     const uint8_t sk[CHORUS_SK_BYTES], char *err, size_t errlen)
{
	struct voterd *cs = calloc(1, sizeof(*cs));
	struct timeval tv = { 0, VOTERD_TICK_MS * 1000 };
	int r;

	*out = NULL;
	if (cs == NULL)
		return -ENOMEM;
	cs->node = node;
	memcpy(cs->pk, pk, CHORUS_PK_BYTES);
	memcpy(cs->sk, sk, CHORUS_SK_BYTES);
	cs->id = voterd_id_of(pk);
	cs->voter = node->cfg.voter;
	cs->expect = node->cfg.bootstrap_expect;
	backpressure_init(&cs->bp, node->cfg.outbox_high > 0 ? node->cfg.outbox_high : CHORUS_OUTBOX_HIGH);
	cs->tx = malloc(CHORUS_RAFT_MSG_MAX);
	cs->fresh = calloc(VOTERD_FRESH_MAX, sizeof(*cs->fresh));
	cs->settle_e = malloc(sizeof(*cs->settle_e));
	cs->own = calloc(VOTERD_FRESH_MAX, sizeof(*cs->own));
	cs->waiting = calloc(VOTERD_WAITING_MAX, sizeof(*cs->waiting));
	cs->batch.buf = malloc(CHORUS_BODY_MAX);
	if (api_waits_create(&cs->waits, node->base, api_ledger_waited, cs) != 0 ||
	    cs->id == CONSENSUS_NONE || cs->tx == NULL ||
	    cs->fresh == NULL || cs->own == NULL || cs->waiting == NULL || cs->batch.buf == NULL ||
	    cs->settle_e == NULL || ledger_create(&cs->ledger, &signer_crypto) != 0) {
		snprintf(err, errlen, "consensus: cannot set up");
		voterd_destroy(cs);
		return -ENOMEM;
	}
	ledger_forgotten_keep(cs->ledger, 1); /* their rows: voterd_index_forgotten */
	/* Test seam (chorusd(8), ENVIRONMENT): lead as a leader from before the bound checks. */
	if (getenv("CHORUS_FAULT") != NULL && strcmp(getenv("CHORUS_FAULT"), "old-leader") == 0) {
		cs->fault_old_leader = 1;
		ledger_build_unchecked(cs->ledger, 1);
		log_warn("ledger", "event=fault what=old-leader (CHORUS_FAULT: a test seam)");
	}
	if (voterd_voter_create(cs) != 0) {
		snprintf(err, errlen, "consensus: cannot set up");
		voterd_destroy(cs);
		return -ENOMEM;
	}
	if ((r = voterd_open_store(cs, err, errlen)) != 0 ||
	    (r = catchup_create(&cs->catchup, node, cs->store, cs->ledger, cs->id,
	                        node->cfg.snapshot_every ? node->cfg.snapshot_every
	                                                 : VOTERD_SNAPSHOT_EVERY)) != 0 ||
	    (r = voterd_boot(cs)) != 0) {
		if (r == -EBADMSG && strstr(err, "damaged") == NULL)
			voterd_damaged(cs, err, errlen, "the ledger chain it holds does not verify");
		else if (r != -EIO && r != -EBADMSG)
			snprintf(err, errlen, "raft store: cannot boot (%s)", strerror(-r));
		voterd_destroy(cs);
		return r;
	}
	cs->tick_ev = event_new(node->base, -1, EV_PERSIST, voterd_tick_cb, cs);
	cs->kick_ev = event_new(node->base, -1, 0, voterd_kick_cb, cs);
	cs->defer_ev = evtimer_new(node->base, voterd_defer_cb, cs);
	if (cs->tick_ev == NULL || cs->kick_ev == NULL || cs->defer_ev == NULL ||
	    event_add(cs->tick_ev, &tv) != 0) {
		snprintf(err, errlen, "consensus: cannot start the tick");
		voterd_destroy(cs);
		return -ENOMEM;
	}
	*out = cs;
	return 0;
}

void voterd_destroy(struct voterd *cs)
{
	if (cs == NULL)
		return;
	if (cs->store != NULL)
		(void)voterd_save_acks(cs); /* a clean stop loses none (a failure is logged) */
	if (cs->store != NULL && cs->ledger != NULL &&
	    voterd_index_forgotten(cs->store, cs->ledger, 1) != 0) /* the rebuild lists them again */
		log_warn("ledger", "event=jobs_index_error height=%llu what=\"at stop\"",
		         (unsigned long long)ledger_height(cs->ledger));
	if (cs->tick_ev != NULL)
		event_free(cs->tick_ev);
	if (cs->kick_ev != NULL)
		event_free(cs->kick_ev);
	if (cs->defer_ev != NULL)
		event_free(cs->defer_ev);
	for (size_t i = 0; i < cs->ndeferred; i++)
		free(cs->deferred[i].buf); /* stopping: Raft sends again to whoever leads next */
	api_waits_destroy(cs->waits);
	catchup_destroy(cs->catchup);
	ledger_destroy(cs->ledger);
	raftstore_close(cs->store);
	voter_destroy(cs->vt);
	consensus_destroy(cs->cons);
	free(cs->fresh);
	free(cs->settle_e);
	free(cs->own);
	free(cs->waiting);
	free(cs->batch.buf);
	free(cs->tx);
	sodium_memzero(cs->sk, sizeof cs->sk);
	free(cs);
}

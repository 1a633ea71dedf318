/*
 * consensus: the shell of the node's ledger voter.  The decisions are the
 * core's voter module (src/core/ledger/voter.c: the leader's queue and admission,
 * the block pipeline, answers, forwarding, skipped blocks; Raft is reached
 * only through it).  Here: frames, timers and store results become voter
 * events; its effects become I/O.  It persists every Raft round through
 * raftstore before sending what depends on it, keeps applied blocks in
 * raft.db, and publishes what it knows (role "leader") in the node's
 * record so every node learns the leader through gossip.
 *
 * Duties, from one 10 ms tick (consensus_tick_cb):
 *   - raft_tick, then pump raft_ready: persist, send, apply, advance (a
 *     leader's appends leave before its own write);
 *   - a candidate that never booted forms the first voter set by agreement
 *     through gossip roles (voter-p<hash> proposes the N smallest ids it sees,
 *     voter-b<hash> says it booted; consensus_try_bootstrap); without
 *     --bootstrap-expect it boots as a non-member and waits to be added;
 *   - the leader adds alive voter candidates missing from the configuration,
 *     one at a time;
 *   - every second the outbox of this node's own acks is re-sent to the leader.
 * And at the end of every loop iteration that saw new acks or Raft messages
 * (kick_ev): the acks go to the outbox in one transaction and out to the
 * leader, which pipelines blocks from them (voter_pump: up to 8 in
 * flight on its tip), and the messages stepped meanwhile are pumped once
 * (consensus_settle pumps earlier when something reads Raft's state first).
 *
 * Raft node id: the first 8 bytes of the node's public key, big-endian.
 * Applied blocks go to raft.db's blocks table; catchup.c compacts the log
 * behind them and backfills the blocks a snapshot skipped.  On restart the
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
#include "consensus.h"
#include "lmsg.h"
#include "chorus/backpressure.h"
#include "chorus/bootstrap.h"
#include "chorus/voter.h"

#define CONSENSUS_TICK_MS         10   /* one Raft tick */
#define CONSENSUS_ELECTION_TICKS  15   /* election timeout 150-300 ms */
#define CONSENSUS_HEARTBEAT_TICKS 3    /* heartbeat every 30 ms */
#define CONSENSUS_DUTY_TICKS      10   /* bootstrap and membership checks every 100 ms */
#define CONSENSUS_OUTBOX_TICKS    100  /* outbox re-sent every second */
#define CONSENSUS_OUTBOX_BATCH    128  /* acks re-sent per outbox round (a few frames) */
#define CONSENSUS_FRESH_MAX       2048 /* new acks routed at the end of a loop iteration */
#define CONSENSUS_REMOVED_MAX     64
#define CONSENSUS_SNAPSHOT_EVERY  1024 /* compact every this many applied entries */
#define CONSENSUS_HELD_PER_TICK   16   /* entries held by a backfill, applied per tick */
#define CONSENSUS_WAITING_MAX     4096 /* acks kept in memory while their submitter waits */
#define CONSENSUS_ROLE_VOTER      "voter"
#define CONSENSUS_ROLE_LEADER     "leader"


struct consensus_batch {
	uint64_t to;
	uint8_t *buf; /* CHORUS_BODY_MAX */
	size_t len;
};

/* One of our completion acks, between ack_cb and the outbox (consensus_save_acks). */
struct consensus_own {
	char job[CHORUS_JOB_ID_HEX + 1];
	uint64_t at_ms;
	struct ledger_entry e;
};

/*
 * An ack posted with ?wait_ms, kept in memory while its submitter waits: it
 * reaches the outbox only if the wait runs out (consensus_unwait), so an ack
 * committed in time costs no outbox write and no outbox update.
 */
struct consensus_waiting {
	char job[CHORUS_JOB_ID_HEX + 1];
	uint64_t at_ms;
	struct ledger_entry e;
};

#define CONSENSUS_LATENCY_RING 4096 /* submit-to-commit samples kept for /v1/ledger */

struct consensus {
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
	uint64_t ticks;
	int leader_published;
	struct voter *vt;            /* the voter's decisions (src/core/ledger/voter.c) */
	uint64_t removed[CONSENSUS_REMOVED_MAX]; /* removed by us: not re-added */
	size_t nremoved;
	unsigned outbox_round;
	uint32_t latency_ms[CONSENSUS_LATENCY_RING]; /* of our own acks, newest overwrite oldest */
	uint64_t nlatency;
	struct ledger_entry *fresh;  /* new acks, routed by kick_ev (never from inside the core) */
	struct ledger_entry *settle_e; /* consensus_outbox_settle's scratch */
	uint64_t saved_seq;          /* the highest seq of our acks saved in the outbox */
	uint64_t *restore;           /* consensus_acks_restore's seqs */
	size_t nrestore, restore_cap;
	size_t nfresh;
	struct consensus_own *own;   /* our own acks from ack_cb, not in the outbox yet */
	size_t nown;
	struct consensus_waiting *waiting; /* posted acks whose submitter waits (not in the outbox) */
	size_t nwaiting;
	struct event *kick_ev;       /* end of this loop iteration: route fresh acks, pump */
	struct api_waits *waits;     /* POST /v1/ledger/acks?wait_ms: held until committed */
	uint64_t dropped;            /* malformed ledger messages and raft messages */
	int fault_old_leader;        /* CHORUS_FAULT=old-leader: lead without the checks (a test seam) */
	uint64_t outbox_refused;     /* our own acks the ledger refused: out of the outbox */
	struct backpressure bp;      /* refuse submits while the outbox is over its mark */
	int kicked;
	uint64_t durable_term, durable_vote; /* the hard state last persisted by this process */
	/*
	 * Bootstrap agreement (docs/ledger-node.md): our role "voter" carries
	 * "-p<hash>" (the voter set we propose) or "-b<hash>" (the set we booted
	 * with; the empty set for a non-member).
	 */
	char boot_kind;              /* 0, 'p' or 'b' */
	uint64_t boot_hash;
	char published_voter[CHORUS_TAG_MAX + 1]; /* the voter role last published */
	struct boot_state boot;      /* the agreement's state until we boot (chorus/bootstrap.h) */
	struct consensus_batch batch; /* one ledger message being built */
	uint64_t applied_index;      /* the last Raft entry the ledger reflects; later ones are held */
	struct raft_entry *rx_ents;  /* raft_msg_decode's entry array */
	uint8_t *tx;                 /* one encoded message */
};

static void consensus_pump(struct consensus *cs);
static void consensus_kick(struct consensus *cs);

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

/*
 * A voter candidate's role: "voter", "voter-p<16 hex>" or "voter-b<16 hex>".
 * 1 and *kind (0, 'p', 'b') and *hash when rec has one; 0 otherwise.
 */
static int consensus_voter_role(const struct record *rec, char *kind, uint64_t *hash)
{
	for (unsigned i = 0; i < rec->nroles; i++) {
		const char *r = rec->roles[i];
		uint8_t h[8];
		size_t n = 0;

		if (strcmp(r, CONSENSUS_ROLE_VOTER) == 0) {
			*kind = 0;
			*hash = 0;
			return 1;
		}
		if (strncmp(r, CONSENSUS_ROLE_VOTER "-", 6) != 0 || (r[6] != 'p' && r[6] != 'b') ||
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
 * no candidate (consensus_voter_role skips it), and the leader takes it out
 * of the configuration (consensus_remove_lost).
 */
static int consensus_lost_role(const struct record *rec)
{
	for (unsigned i = 0; i < rec->nroles; i++)
		if (strncmp(rec->roles[i], CONSENSUS_ROLE_VOTER "-l", 7) == 0)
			return 1;
	return 0;
}

static int consensus_is_candidate(const struct record *rec)
{
	char kind;
	uint64_t hash;

	return consensus_voter_role(rec, &kind, &hash);
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

static void consensus_outbox_done(struct consensus *cs, const char *job, uint64_t height);
static void consensus_outbox_refused(struct consensus *cs, const char *job);
static void consensus_effects(struct consensus *cs);

/* The block just applied (the head) joins the chain in raft.db: compaction may follow. */
static int consensus_keep_block(struct consensus *cs, const uint8_t *data, size_t len)
{
	uint8_t hash[LEDGER_HASH_BYTES];

	ledger_head_hash(cs->ledger, hash);
	return raftstore_block_put(cs->store, ledger_height(cs->ledger), hash, data, len);
}

/*
 * A committed entry: Raft's own are skipped, ours are ledger blocks.  During
 * a backfill, and until the entries held by it are applied, it is held: the
 * log keeps it (no compaction meanwhile) and consensus_apply_held() applies it.
 */
static void consensus_apply(struct consensus *cs, const struct raft_entry *e)
{
	int r;

	if (e->index != cs->applied_index + 1 || catchup_active(cs->catchup))
		return;
	cs->applied_index = e->index;
	if (e->type != RAFT_ENTRY_NORMAL || e->len == 0)
		return;
	r = voter_apply_block(cs->vt, e->data, e->len, e->index); /* its skips: voter.c */
	if (r == CORE_ERR_NOMEM) {
		/* Our own memory, not the block: held, tried again each tick (consensus_apply_held). */
		cs->applied_index = e->index - 1;
		return;
	}
	if (r != 0)
		return; /* stale (applied before: harmless), or skipped alike on every voter */
	if (consensus_keep_block(cs, e->data, e->len) != 0) {
		/* Our own store failed under an applied block: stopping rather than diverge on restart. */
		log_error("ledger", "event=store_error index=%llu height=%llu",
		          (unsigned long long)e->index, (unsigned long long)ledger_height(cs->ledger));
		abort();
	}
	if (raftstore_jobs_index(cs->store, cs->ledger) != 0) /* a query path: said, not fatal */
		log_warn("ledger", "event=jobs_index_error height=%llu",
		         (unsigned long long)ledger_height(cs->ledger));
	log_debug("ledger", "event=apply height=%llu index=%llu",
	          (unsigned long long)ledger_height(cs->ledger), (unsigned long long)e->index);
}

/* After a backfill: the committed entries held meanwhile, in order, a few per tick. */
static void consensus_apply_held(struct consensus *cs)
{
	struct raft_status st;
	struct raft_entry e;

	voter_status(cs->vt, &st);
	for (int k = 0; k < CONSENSUS_HELD_PER_TICK && cs->applied_index < st.applied &&
	                !catchup_active(cs->catchup);
	     k++) {
		if (voter_entry_get(cs->vt, cs->applied_index + 1, &e) != 0) {
			/* Held entries are never compacted (catchup_after_pump waits for them). */
			log_error("ledger", "event=held_lost index=%llu",
			          (unsigned long long)cs->applied_index + 1);
			abort();
		}
		consensus_apply(cs, &e);
	}
}

/* A snapshot from the leader replaced the log: the ledger's target, maybe a backfill. */
static void consensus_restore(struct consensus *cs, const struct raft_snapshot *snap)
{
	log_info("raft", "event=snapshot_install index=%llu term=%llu",
	         (unsigned long long)snap->index, (unsigned long long)snap->term);
	if (catchup_target(cs->catchup, snap->index, snap->data, snap->len) != 0)
		abort(); /* the leader's committed state contradicts ours: a broken invariant */
	cs->applied_index = snap->index;
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
	int leader = voter_booted(cs->vt) && voter_is_leader(cs->vt);
	char voter[CHORUS_TAG_MAX + 1] = CONSENSUS_ROLE_VOTER;

	if (cs->boot_kind != 0)
		snprintf(voter, sizeof voter, "%s-%c%016llx", CONSENSUS_ROLE_VOTER, cs->boot_kind,
		         (unsigned long long)cs->boot_hash);
	if (cs->node->core == NULL ||
	    (leader == cs->leader_published && strcmp(voter, cs->published_voter) == 0))
		return; /* no core yet (starting): the first pump publishes */
	for (unsigned i = 0; i < cfg->nroles && n < CHORUS_ROLES_MAX; i++)
		if (strcmp(cfg->roles[i], CONSENSUS_ROLE_LEADER) != 0)
			snprintf(roles[n++], sizeof roles[0], "%s",
			         strcmp(cfg->roles[i], CONSENSUS_ROLE_VOTER) == 0 ? voter : cfg->roles[i]);
	if (leader && n == CHORUS_ROLES_MAX)
		n--; /* config checks leave a slot for it; keep the invariant anyway */
	if (leader)
		snprintf(roles[n++], sizeof roles[0], "%s", CONSENSUS_ROLE_LEADER);
	if (core_set_roles(cs->node->core, roles, n, chorusd_now_ms()) != 0)
		return; /* leaving: nothing to publish any more */
	snprintf(cs->published_voter, sizeof cs->published_voter, "%s", voter);
	if (leader != cs->leader_published)
		log_info("raft", "event=%s term=%llu", leader ? "leader" : "not_leader",
		         (unsigned long long)(voter_booted(cs->vt) ? voter_term(cs->vt) : 0));
	cs->leader_published = leader;
}

static void consensus_pump(struct consensus *cs)
{
	struct raft_ready rd;
	struct raft_status st;

	if (!voter_booted(cs->vt))
		return;
	for (int round = 0; round < 2; round++) {
		while (voter_raft_ready(cs->vt, &rd)) {
			/*
			 * Durable before any message that depends on it leaves.  A
			 * leader's appends depend only on its term, durable since it
			 * won: they go first, so the followers write while it writes
			 * (Raft thesis 10.2.1); it counts its own copy once advanced.
			 */
			int early = voter_is_leader(cs->vt) && rd.hs.term == cs->durable_term &&
			            rd.hs.vote == cs->durable_vote && rd.snapshot == NULL &&
			            rd.truncate_from == 0;

			if (early) {
				consensus_send_msgs(cs, &rd);
				fabric_flush_now(cs->node->fabric); /* out before the fsync, not after */
			}
			if (raftstore_save(cs->store, &rd) != 0) {
				log_error("raft", "event=persist_error: stopping rather than break the contract");
				abort();
			}
			cs->durable_term = rd.hs.term;
			cs->durable_vote = rd.hs.vote;
			if (!early) {
				consensus_send_msgs(cs, &rd);
				fabric_flush_now(cs->node->fabric); /* out before applying, not after */
			}
			if (rd.snapshot != NULL)
				consensus_restore(cs, rd.snapshot);
			for (size_t i = 0; i < rd.ncommitted; i++)
				consensus_apply(cs, &rd.committed[i]);
			voter_raft_advance(cs->vt, &rd);
		}
		catchup_after_pump(cs->catchup, cs->vt, cs->applied_index);
		consensus_publish_role(cs);
		metrics_raft_leader(voter_leader(cs->vt));
		voter_status(cs->vt, &st);
		/* Its proposals are pumped by the second round. */
		voter_pump(cs->vt, round == 0,
		           catchup_active(cs->catchup) || cs->applied_index != st.applied,
		           chorusd_wall_ms());
		consensus_effects(cs);
	}
}

/*
 * Raft messages are stepped as they arrive and pumped once at the end of the
 * loop iteration (kick_ev).  Until then Raft's state runs ahead of what was
 * persisted and applied (a stepped snapshot already moved its applied index
 * past our log): whatever else reads it in between pumps first.
 */
static void consensus_settle(struct consensus *cs)
{
	if (cs->kicked)
		consensus_pump(cs);
}

static void consensus_on_raft(struct consensus *cs, const uint8_t from_pk[CHORUS_PK_BYTES],
                              const uint8_t *body, size_t len)
{
	struct raft_msg m;
	int r;

	if (!voter_booted(cs->vt))
		return; /* not booted yet: the sender retries */
	r = raft_msg_decode(&m, cs->rx_ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, body, len);
	if (r == 0 && (m.from != consensus_id_of(from_pk) || m.to != cs->id))
		r = CORE_ERR_INVAL; /* a node speaks only for itself, and to us */
	if (r == 0)
		r = voter_step(cs->vt, &m);
	if (r != 0) {
		cs->dropped++;
		log_debug("raft", "event=drop error=\"%s\"", raft_strerror(r));
		return;
	}
	consensus_kick(cs); /* every message of this loop iteration stepped, then one pump */
}

/* ---------------------------------------------------------------- bootstrap and membership */

static int consensus_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * --rejoin, on a voter that lost raft.db: once the leader took it out (it is
 * in no configuration it knows, and it has heard a term since), it is a
 * candidate again and the leader adds it back as any new voter.  It still
 * grants no vote until the configuration that adds it reaches it through
 * the leader's log (consensus_rejoined): by then it holds that log and the
 * leader's term.  Otherwise it says why and stays without a vote.
 */
static void consensus_rejoin(struct consensus *cs)
{
	struct raft_status st;

	if (!cs->node->cfg.rejoin)
		return;
	voter_status(cs->vt, &st);
	if (raft_conf_has(&st.conf, cs->id) || st.term == 0) {
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
static void consensus_rejoined(struct consensus *cs)
{
	struct raft_status st;

	voter_status(cs->vt, &st);
	if (!raft_conf_has(&st.conf, cs->id))
		return;
	voter_set_no_vote(cs->vt, 0);
	cs->rejoining = 0;
	log_info("raft", "event=voting id=%016llx term=%llu index=%llu what=\"re-added: votes again\"",
	         (unsigned long long)cs->id, (unsigned long long)st.term,
	         (unsigned long long)st.conf_index);
}

static int consensus_start_raft(struct consensus *cs)
{
	struct voter_raft_params rp;
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
	randombytes_buf(&rp.seed, sizeof rp.seed);
	rp.election_ticks = CONSENSUS_ELECTION_TICKS;
	rp.heartbeat_ticks = CONSENSUS_HEARTBEAT_TICKS;
	rp.pre_vote = 1;
	rp.check_quorum = 1;
	rp.no_vote = cs->lost || cs->rejoining; /* it may have voted in a term it no longer knows */
	r = voter_boot(cs->vt, &rp, &boot);
	raftstore_boot_free(cs->store);
	if (r != 0) {
		log_error("raft", "event=boot_error error=\"%s\"", raft_strerror(r));
		return -EIO;
	}
	log_info("raft", "event=boot id=%016llx voters=%u entries=%zu term=%llu",
	         (unsigned long long)cs->id, boot.snap.conf.n, boot.nentries,
	         (unsigned long long)boot.hs.term);
	cs->boot_kind = 'b'; /* a cluster exists: no candidate that sees us forms another */
	cs->boot_hash = boot_set_hash(boot.snap.conf.ids, boot.snap.conf.n);
	if (cs->lost)
		consensus_rejoin(cs);
	if (cs->lost)
		cs->boot_kind = 'l'; /* not a candidate: the leader takes us out, nobody adds us */
	consensus_publish_role(cs);
	consensus_pump(cs);
	return 0;
}

static int consensus_cmp_cand(const void *a, const void *b)
{
	return consensus_cmp_u64(&((const struct boot_cand *)a)->id,
	                         &((const struct boot_cand *)b)->id);
}

/* Alive voter candidates (ourselves included, with our own bootstrap state), sorted by id. */
static size_t consensus_cands(struct consensus *cs, struct boot_cand *c, size_t max)
{
	struct core *core = cs->node->core;
	struct member_view mv;
	size_t n = 0;

	for (size_t i = 0; i < core_member_count(core) && n < max; i++) {
		if (core_member_get(core, i, &mv) != 0 || !consensus_alive(&mv) ||
		    !consensus_voter_role(&mv.rec, &c[n].kind, &c[n].hash))
			continue;
		c[n].id = consensus_id_of(mv.rec.pk);
		if (c[n].id == cs->id) {
			c[n].kind = cs->boot_kind;
			c[n].hash = cs->boot_hash;
		}
		n++;
	}
	qsort(c, n, sizeof *c, consensus_cmp_cand);
	return n;
}

/* The ids of alive voter candidates (ourselves included), sorted. */
static size_t consensus_candidates(struct consensus *cs, uint64_t *ids, size_t max)
{
	struct boot_cand c[64];
	size_t n = consensus_cands(cs, c, max < 64 ? max : 64);

	for (size_t i = 0; i < n; i++)
		ids[i] = c[i].id;
	return n;
}

static void consensus_boot_with(struct consensus *cs, const struct raft_conf *conf, const char *why)
{
	log_info("raft", "event=bootstrap voters=%u member=%s why=%s", conf->n,
	         raft_conf_has(conf, cs->id) ? "yes" : "no", why);
	if (raftstore_init(cs->store, conf) != 0 || consensus_start_raft(cs) != 0)
		log_error("raft", "event=bootstrap_error");
}

/* Never booted, --bootstrap-expect N: one round of the agreement (include/chorus/bootstrap.h). */
static void consensus_try_bootstrap(struct consensus *cs)
{
	struct boot_cand c[64];
	struct raft_conf conf;
	const struct node_config *cfg = &cs->node->cfg;
	size_t n = boot_keep_listed(c, consensus_cands(cs, c, 64), cfg->voters, cfg->nvoters);
	enum boot_action a;

	memset(&conf, 0, sizeof conf);
	a = boot_step(&cs->boot, cs->id, cs->expect, c, n, conf.ids, &conf.n);
	cs->boot_kind = cs->boot.kind;
	cs->boot_hash = cs->boot.hash;
	if (a == BOOT_PUBLISH)
		consensus_publish_role(cs);
	else if (a == BOOT_MEMBER || a == BOOT_JOIN || a == BOOT_NONMEMBER)
		consensus_boot_with(cs, &conf, boot_action_name(a));
}

/*
 * Leader: a voter of the configuration that says it lost its Raft state
 * (role voter-l) is taken out, so it neither counts in a quorum nor is taken
 * for a voter; 1 when a change was proposed.
 */
static int consensus_remove_lost(struct consensus *cs, const struct raft_status *st)
{
	struct core *core = cs->node->core;
	struct member_view mv;
	uint64_t id, index;

	for (size_t i = 0; i < core_member_count(core); i++) {
		if (core_member_get(core, i, &mv) != 0 || !consensus_alive(&mv) ||
		    !consensus_lost_role(&mv.rec))
			continue;
		id = consensus_id_of(mv.rec.pk);
		if (!raft_conf_has(&st->conf, id) || id == cs->id)
			continue;
		if (voter_propose_conf(cs->vt, 0, id, &index) == 0)
			log_warn("raft", "event=remove_lost_voter id=%016llx index=%llu what=\"it lost its"
			         " Raft state: not a voter until its operator re-adds it\"",
			         (unsigned long long)id, (unsigned long long)index);
		consensus_pump(cs);
		return 1;
	}
	return 0;
}

/*
 * Leader: one alive candidate the operator listed (--voters) and not in the
 * configuration is added, one change at a time (boot_voter_to_add decides);
 * a node that only announces the role is never added (issue 14).
 */
static void consensus_add_voters(struct consensus *cs)
{
	const struct node_config *cfg = &cs->node->cfg;
	uint64_t ids[64], index, id;
	struct raft_status st;
	size_t n = consensus_candidates(cs, ids, 64);

	voter_status(cs->vt, &st);
	if (st.conf_index > st.commit)
		return; /* a change is in flight */
	if (consensus_remove_lost(cs, &st))
		return;
	/* After a recover the listed voters are the lost ones: no more adds until a restart. */
	id = boot_voter_to_add(st.conf.ids, st.conf.n, ids, n, cfg->voters,
	                       cs->recovered ? 0 : cfg->nvoters, cs->removed, cs->nremoved);
	if (id == 0)
		return;
	if (voter_propose_conf(cs->vt, 1, id, &index) == 0)
		log_info("raft", "event=add_voter id=%016llx index=%llu why=listed", (unsigned long long)id,
		         (unsigned long long)index);
	consensus_pump(cs);
}

/*
 * Were we removed?  Either our log holds the configuration that took us out
 * (we were in one before), or Raft heard so from a voter (raft_step_removed).
 * Said once; our role becomes "voter-r<hash>", which is no candidate, so no
 * leader adds us back by itself; the operator's add-voter does (and clears it).
 */
static void consensus_watch_removed(struct consensus *cs)
{
	struct raft_status st;
	int in, removed;

	voter_status(cs->vt, &st);
	in = raft_conf_has(&st.conf, cs->id);
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
	consensus_publish_role(cs);
}

/* ---------------------------------------------------------------- ack forwarding */

/* The slot of job among the acks kept for waiting submitters; nwaiting when none. */
static size_t consensus_waiting_find(const struct consensus *cs, const char *job)
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
static int consensus_outbox_settle(struct consensus *cs, const char *job, uint64_t *created_ms)
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
static void consensus_outbox_done(struct consensus *cs, const char *job, uint64_t height)
{
	uint64_t created_ms = 0, now_ms = chorusd_wall_ms();
	size_t i = consensus_waiting_find(cs, job);

	if (i < cs->nwaiting) { /* a waiting submitter's: nothing on disk to mark */
		created_ms = cs->waiting[i].at_ms;
		cs->waiting[i] = cs->waiting[--cs->nwaiting];
	} else if (consensus_outbox_settle(cs, job, &created_ms) != 0 || created_ms == 0) {
		return; /* unknown, or answered before: nothing to sample */
	}
	api_wake(cs->waits, job, height);
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

/*
 * An entry from outside (POST /v1/ledger/acks): checked, into our outbox (or,
 * when its submitter waits, kept in memory: consensus_unwait), sent at the
 * end of this loop iteration.  job gets its id (hex); *height the block that
 * credits it when this node's ledger already has it, else 0.
 */
int consensus_submit(struct consensus *cs, const struct ledger_entry *e, int waits,
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
	if (consensus_waiting_find(cs, job) < cs->nwaiting) {
		/* posted again while the first still waits: both wait for the same commit */
	} else if (waits && cs->nwaiting < CONSENSUS_WAITING_MAX) {
		struct consensus_waiting *w = &cs->waiting[cs->nwaiting++];

		snprintf(w->job, sizeof w->job, "%s", job);
		w->at_ms = chorusd_wall_ms();
		w->e = *e;
	} else if (raftstore_outbox_put(cs->store, job, e, chorusd_wall_ms()) != 0) {
		snprintf(why, whylen, "cannot store it");
		return -EIO;
	}
	if (cs->nfresh < CONSENSUS_FRESH_MAX)
		cs->fresh[cs->nfresh++] = *e; /* else the next outbox round sends it */
	consensus_kick(cs);
	return 0;
}

/* The ack kept in slot i goes to the outbox and leaves memory; 0 or -EIO. */
static int consensus_unwait_at(struct consensus *cs, size_t i)
{
	struct consensus_waiting *w = &cs->waiting[i];

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
int consensus_unwait(struct consensus *cs, const char *job)
{
	size_t i = consensus_waiting_find(cs, job);

	return i < cs->nwaiting ? consensus_unwait_at(cs, i) : 0;
}

/*
 * Ledger messages batch many records into one frame (formats: lmsg.h): a
 * burst of single frames would overflow the fabric's per-peer queue (and
 * drop Raft's messages with it).
 */
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

static void consensus_batch_entry(struct consensus *cs, struct consensus_batch *b,
                                  const struct ledger_entry *e)
{
	lmsg_put_entry(consensus_batch_room(cs, b, lmsg_entry_size(e)), e);
}

/*
 * The voter's effects: its log records, and its answers, one batch per
 * origin (or a few); those for our own acks settle our outbox here.  A
 * refusal goes on the wire as height 0 (blocks start at 1).
 */
static void consensus_effects(struct consensus *cs)
{
	static const uint8_t none[CHORUS_PK_BYTES];
	struct voter_ready rd;
	uint8_t *sent;

	if (!voter_ready(cs->vt, &rd))
		return;
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
				consensus_outbox_refused(cs, hex);
			else
				consensus_outbox_done(cs, hex, a->height);
			continue;
		}
		consensus_batch_begin(&cs->batch, consensus_id_of(a->origin), LMSG_COMMITTED, 0, none);
		for (size_t k = i; k < rd.nanswers; k++)
			if (!sent[k] && memcmp(rd.answers[k].origin, a->origin, CHORUS_PK_BYTES) == 0) {
				sent[k] = 1;
				lmsg_put_committed(consensus_batch_room(cs, &cs->batch, LMSG_COMMITTED_BYTES),
				                   rd.answers[k].job, rd.answers[k].height);
			}
		consensus_batch_flush(cs, &cs->batch);
	}
	if (rd.nanswers > 0 && sent == NULL)
		log_error("ledger", "event=answers_lost n=%zu (no memory: the submitters retry)",
		          rd.nanswers);
	free(sent);
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
static void consensus_outbox_refused(struct consensus *cs, const char *job)
{
	struct ledger_entry *e;
	uint64_t created_ms;
	char why[128];

	if (consensus_waiting_find(cs, job) < cs->nwaiting)
		return; /* posted through the API, and checked then */
	if ((e = malloc(sizeof *e)) == NULL)
		return;
	if (raftstore_outbox_get(cs->store, job, e) == 0 &&
	    voter_refusal_stands(cs->vt, e, why, sizeof why) &&
	    consensus_outbox_settle(cs, job, &created_ms) == 0) {
		cs->outbox_refused++;
		log_warn("ledger", "event=ack_refused job=%s why=\"%s\" (the job stays done, uncredited)",
		         job, why);
	} else {
		log_debug("ledger", "event=refusal_ignored job=%s (our ack checks, or is gone)", job);
	}
	free(e);
}

/* Where acks go: ourselves if leading, the leader we know, or some voter (attempt-rotated). */
static uint64_t consensus_target(struct consensus *cs)
{
	struct core *core = cs->node->core;
	struct member_view mv;
	uint64_t leaders[16], voters[16];
	size_t nl = 0, nv = 0;

	for (size_t i = 0; i < core_member_count(core); i++) {
		if (core_member_get(core, i, &mv) != 0 || !consensus_alive(&mv))
			continue;
		if (consensus_has_role(&mv.rec, CONSENSUS_ROLE_LEADER) && nl < 16)
			leaders[nl++] = consensus_id_of(mv.rec.pk);
		if (consensus_is_candidate(&mv.rec) && nv < 16)
			voters[nv++] = consensus_id_of(mv.rec.pk);
	}
	return voter_target(cs->vt, leaders, nl, voters, nv, cs->outbox_round);
}

/* Our records to the leader: queued here if we lead, else batched to the target. */
static void consensus_route(struct consensus *cs, const struct ledger_entry *es, size_t n)
{
	uint64_t to = consensus_target(cs);

	if (to == cs->id && voter_is_leader(cs->vt)) {
		for (size_t i = 0; i < n; i++)
			voter_submit(cs->vt, &es[i], cs->pk);
		consensus_effects(cs);
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
	uint64_t now_ms = chorusd_wall_ms();
	int n;

	cs->outbox_round++;
	cs->nfresh = 0; /* they are in the outbox too: sent below, oldest first */
	n = raftstore_outbox_each(cs->store, CONSENSUS_OUTBOX_BATCH, consensus_outbox_one, cs);
	if (n < 0)
		log_error("ledger", "event=outbox_error");
	/*
	 * Acks kept for a waiting submitter go again too.  One older than any
	 * wait (its submitter hung up) goes to the outbox like a wait that ran out.
	 */
	for (size_t i = 0; i < cs->nwaiting;) {
		struct consensus_waiting *w = &cs->waiting[i];

		if (now_ms > w->at_ms + API_WAIT_MS_MAX + 1000 && consensus_unwait_at(cs, i) == 0)
			continue; /* the slot now holds another one */
		if (now_ms >= w->at_ms + 1000 && cs->nfresh < 2 * CONSENSUS_OUTBOX_BATCH)
			cs->fresh[cs->nfresh++] = w->e;
		i++;
	}
}

static void consensus_on_submit(struct consensus *cs, const struct lmsg *m, const uint8_t *body,
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
		consensus_send(cs, to, CORE_APP_LEDGER, cs->batch.buf, len);
	}
	free(e);
	consensus_effects(cs);
	consensus_kick(cs); /* the submits of this loop iteration go into the same blocks */
}

/* Is from_pk a member whose record says it is a voter (candidate)? */
static int consensus_from_voter(const struct consensus *cs, const uint8_t from_pk[CHORUS_PK_BYTES])
{
	struct member_view mv;

	return consensus_member_by_id(cs, consensus_id_of(from_pk), &mv) == 0 &&
	       memcmp(mv.rec.pk, from_pk, CHORUS_PK_BYTES) == 0 && consensus_is_candidate(&mv.rec);
}

static void consensus_on_committed(struct consensus *cs, const struct lmsg *m)
{
	for (unsigned k = 0; k < m->count; k++) {
		uint8_t id[CHORUS_JOB_ID_BYTES];
		char job[CHORUS_JOB_ID_HEX + 1];
		uint64_t height;

		lmsg_committed_at(m, k, id, &height);
		sodium_bin2hex(job, sizeof job, id, CHORUS_JOB_ID_BYTES);
		if (height == 0) /* blocks start at 1: height 0 says the ledger refused it */
			consensus_outbox_refused(cs, job);
		else
			consensus_outbox_done(cs, job, height);
	}
}

/* ---------------------------------------------------------------- core callbacks */

static void consensus_app_cb(void *ctx, int type, const uint8_t from_pk[CHORUS_PK_BYTES],
                             const uint8_t *body, size_t len)
{
	struct consensus *cs = ((struct node *)ctx)->consensus;
	struct lmsg m;

	if (cs == NULL)
		return;
	if (type == CORE_APP_RAFT)
		consensus_on_raft(cs, from_pk, body, len);
	else if (type == CORE_APP_LEDGER && len >= 1 &&
	         (body[0] == CATCHUP_MSG_REQ || body[0] == CATCHUP_MSG_BLOCKS)) {
		consensus_settle(cs);
		catchup_on_msg(cs->catchup, cs->vt, from_pk, body, len);
	}
	else if (type == CORE_APP_LEDGER && lmsg_parse(&m, body, len) != 0) {
		cs->dropped++;
		log_debug("ledger", "event=drop reason=malformed len=%zu", len);
	}
	else if (type == CORE_APP_LEDGER && m.kind == LMSG_SUBMIT)
		consensus_on_submit(cs, &m, body, len);
	else if (type == CORE_APP_LEDGER && m.kind == LMSG_COMMITTED && consensus_from_voter(cs, from_pk))
		consensus_on_committed(cs, &m);
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
int consensus_save_acks(struct consensus *cs)
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
	for (size_t i = 0; i < cs->nown && cs->nfresh < CONSENSUS_FRESH_MAX; i++)
		cs->fresh[cs->nfresh++] = cs->own[i].e; /* else the next outbox round sends it */
	cs->nown = 0;
	return 0;
}

/* Our own succeeded jobs: to the outbox (durable) and out, at the end of this iteration. */
static void consensus_ack_cb(void *ctx, const struct job_ack *ack)
{
	struct consensus *cs = ((struct node *)ctx)->consensus;
	struct consensus_own *o;

	api_events_ack(ack);
	if (cs == NULL || memcmp(ack->client, cs->pk, CHORUS_PK_BYTES) != 0 ||
	    ack->receipt_text == NULL || strcmp(ack->status, "succeeded") != 0)
		return;
	if (cs->nown == CONSENSUS_FRESH_MAX)
		(void)consensus_save_acks(cs); /* a burst: this batch now */
	if (cs->nown == CONSENSUS_FRESH_MAX) {
		/* Only while raft.db cannot be written at all, with this many acks waiting: said. */
		log_error("ledger", "event=ack_lost job=%s what=\"the outbox cannot be written and %d acks"
		          " wait in memory\"", ack->job_id, CONSENSUS_FRESH_MAX);
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
	consensus_kick(cs);
}

static void consensus_restore_one(void *ctx, const char *job, const struct ledger_entry *e)
{
	struct consensus *cs = ctx;
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
int consensus_acks_restore(struct consensus *cs, struct core *core)
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
	if (open > 0 && raftstore_outbox_each(cs->store, (unsigned)open, consensus_restore_one, cs) < 0)
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

void consensus_env(struct core_env *env)
{
	env->app_cb = consensus_app_cb;
	env->ack_cb = consensus_ack_cb;
}

/* ---------------------------------------------------------------- the tick */

/* After the callbacks of this loop iteration: new acks go out now, not on the next tick. */
static void consensus_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct consensus *cs = arg;

	(void)fd;
	(void)what;
	cs->kicked = 0;
	if (cs->node->core == NULL)
		return;
	fabric_flush_now(cs->node->fabric); /* this iteration's frames leave before the writes */
	consensus_save_acks(cs);
	if (cs->nfresh > 0)
		consensus_route(cs, cs->fresh, cs->nfresh);
	cs->nfresh = 0;
	consensus_pump(cs);
	chorusd_reschedule(cs->node);
}

static void consensus_kick(struct consensus *cs)
{
	if (cs->kicked || cs->kick_ev == NULL)
		return;
	cs->kicked = 1;
	event_active(cs->kick_ev, EV_TIMEOUT, 0);
}

static void consensus_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct consensus *cs = arg;

	(void)fd;
	(void)what;
	cs->ticks++;
	if (cs->node->core == NULL)
		return;
	consensus_settle(cs);
	if (voter_booted(cs->vt)) {
		voter_tick(cs->vt);
		(void)catchup_tick(cs->catchup, cs->vt);
		consensus_apply_held(cs);
	}
	if (cs->ticks % CONSENSUS_DUTY_TICKS == 0) {
		if (voter_booted(cs->vt) && cs->rejoining)
			consensus_rejoined(cs);
		if (voter_booted(cs->vt) && !cs->lost && !cs->rejoining)
			consensus_watch_removed(cs);
		if (!voter_booted(cs->vt) && cs->voter)
			consensus_try_bootstrap(cs);
		else if (voter_booted(cs->vt) && voter_is_leader(cs->vt))
			consensus_add_voters(cs);
	}
	if (cs->ticks % CONSENSUS_OUTBOX_TICKS == 0) {
		uint64_t depth, high, low;

		consensus_outbox_flush(cs);
		(void)consensus_lagging(cs, &depth, &high, &low);
	}
	if (cs->nfresh > 0)
		consensus_route(cs, cs->fresh, cs->nfresh);
	cs->nfresh = 0;
	consensus_pump(cs);
	chorusd_reschedule(cs->node); /* Raft may have sent through the core */
}

/* ---------------------------------------------------------------- views and commands */

const struct raft *consensus_raft(const struct consensus *cs)
{
	return voter_raft(cs->vt);
}

int consensus_raft_status(const struct consensus *cs, struct raft_status *st)
{
	if (!voter_booted(cs->vt))
		return -ENOENT;
	voter_status(cs->vt, st);
	return 0;
}

int consensus_is_leader(const struct consensus *cs)
{
	return voter_is_leader(cs->vt);
}

uint64_t consensus_dropped(const struct consensus *cs)
{
	return cs->dropped;
}

uint64_t consensus_refused(const struct consensus *cs)
{
	struct voter_stats st;

	voter_stats(cs->vt, &st);
	return st.refused;
}

void consensus_refusals(const struct consensus *cs, uint64_t *member, uint64_t *bound,
                        uint64_t *skipped_blocks)
{
	struct voter_stats st;

	voter_stats(cs->vt, &st);
	*member = st.refused_member;
	*bound = st.refused_bound;
	*skipped_blocks = st.skipped_blocks;
}

uint64_t consensus_refused_window(const struct consensus *cs)
{
	struct voter_stats st;

	voter_stats(cs->vt, &st);
	return st.refused_window;
}

uint64_t consensus_outbox_refused_count(const struct consensus *cs)
{
	return cs->outbox_refused;
}

/*
 * Back-pressure, not drops: our open acks (in the outbox, and those of this
 * loop iteration on their way to it) against the marks.  1 when new submits
 * are refused; the state's changes are logged once each.
 */
int consensus_lagging(struct consensus *cs, uint64_t *depth, uint64_t *high, uint64_t *low)
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

struct api_waits *consensus_waits(struct consensus *cs)
{
	return cs->waits;
}

int consensus_job_get(const struct consensus *cs, const uint8_t job[CHORUS_JOB_ID_BYTES],
                      struct ledger_job *out, int *held)
{
	*held = ledger_job_get(cs->ledger, job, out) == 0;
	if (*held)
		return 0;
	return raftstore_job_get(cs->store, job, out) == 0 ? 0 : -ENOENT;
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

	if (voter_booted(cs->vt)) {
		struct raft_status st;

		voter_status(cs->vt, &st);
		/* A candidate the operator has not added (or removed) hears no leader: gossip's. */
		if (st.leader != RAFT_NONE || raft_conf_has(&st.conf, cs->id))
			return st.leader;
	}
	for (size_t i = 0; i < core_member_count(core); i++)
		if (core_member_get(core, i, &mv) == 0 && consensus_alive(&mv) &&
		    consensus_has_role(&mv.rec, CONSENSUS_ROLE_LEADER))
			return consensus_id_of(mv.rec.pk);
	return RAFT_NONE;
}

/* For /v1/status: none, booting, lost (no vote until re-added), voter, or waiting (to be added). */
const char *consensus_raft_state(const struct consensus *cs)
{
	struct raft_status st;

	if (!cs->voter)
		return "none";
	if (cs->lost)
		return "lost";
	if (cs->rejoining)
		return "rejoining";
	if (!voter_booted(cs->vt))
		return "booting";
	if (cs->removed_self)
		return "removed";
	voter_status(cs->vt, &st);
	return raft_conf_has(&st.conf, cs->id) ? "voter" : "waiting";
}

int consensus_is_voter(const struct consensus *cs)
{
	return cs->voter;
}

/* From raft.db, valid until the next block read; rows above the head are a backfill's. */
int consensus_block(const struct consensus *cs, uint64_t height, const uint8_t **data,
                    size_t *len)
{
	if (height == 0 || height > ledger_height(cs->ledger))
		return -ENOENT;
	return raftstore_block_get(cs->store, height, data, len);
}

const struct catchup *consensus_catchup(const struct consensus *cs)
{
	return cs->catchup;
}

int consensus_remove_voter(struct consensus *cs, uint64_t id)
{
	struct raft_status st;
	uint64_t index;
	int r;

	if (!voter_booted(cs->vt) || !voter_is_leader(cs->vt))
		return -EAGAIN;
	voter_status(cs->vt, &st);
	if (!raft_conf_has(&st.conf, id))
		return -ENOENT;
	if (st.conf_index > st.commit)
		return -EBUSY;
	r = voter_propose_conf(cs->vt, 0, id, &index);
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

/* The operator's add-voter (on the leader): it votes once the change commits. */
int consensus_add_voter(struct consensus *cs, uint64_t id)
{
	struct raft_status st;
	uint64_t index;
	int r;

	if (!voter_booted(cs->vt) || !voter_is_leader(cs->vt))
		return -EAGAIN;
	voter_status(cs->vt, &st);
	if (raft_conf_has(&st.conf, id))
		return -EEXIST;
	if (st.conf_index > st.commit || st.conf.n >= CHORUS_RAFT_VOTERS_MAX)
		return -EBUSY;
	r = voter_propose_conf(cs->vt, 1, id, &index);
	if (r != 0)
		return r == RAFT_ERR_BUSY ? -EBUSY : -EINVAL;
	for (size_t i = 0; i < cs->nremoved; i++) /* the operator changed their mind */
		if (cs->removed[i] == id)
			cs->removed[i] = cs->removed[--cs->nremoved];
	log_info("raft", "event=add_voter id=%016llx index=%llu why=operator", (unsigned long long)id,
	         (unsigned long long)index);
	consensus_pump(cs);
	chorusd_reschedule(cs->node);
	return 0;
}

/* The operator's transfer-leader (on the leader): Raft's TimeoutNow once `to` is caught up. */
int consensus_transfer_leader(struct consensus *cs, uint64_t to)
{
	struct raft_status st;

	if (!voter_booted(cs->vt) || !voter_is_leader(cs->vt))
		return -EAGAIN;
	voter_status(cs->vt, &st);
	if (!raft_conf_has(&st.conf, to))
		return -ENOENT;
	if (to == cs->id)
		return 0;
	if (voter_transfer(cs->vt, to) != 0)
		return -EBUSY;
	log_info("raft", "event=transfer_leader to=%016llx", (unsigned long long)to);
	consensus_pump(cs);
	chorusd_reschedule(cs->node);
	return 0;
}

/*
 * `chorus ledger recover` on a surviving voter without a leader: a new
 * configuration of this node alone (raft_force_new_cluster; the risks are in
 * docs/ledger-node.md).  -EAGAIN: a leader is known; -EINVAL: no voter here.
 */
int consensus_recover(struct consensus *cs)
{
	int r;

	if (!voter_booted(cs->vt) || cs->lost || cs->rejoining)
		return -EINVAL;
	r = voter_force_new_cluster(cs->vt);
	if (r != 0)
		return r == RAFT_ERR_BUSY ? -EAGAIN : -EINVAL;
	cs->recovered = 1;
	log_warn("raft", "event=force_new_cluster id=%016llx index=%llu what=\"a new configuration of"
	         " this voter alone: the other voters must not come back with their raft.db\"",
	         (unsigned long long)cs->id, (unsigned long long)voter_commit_index(cs->vt));
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
	if (cs->expect > 0 && !cs->lost)
		return 0; /* the tick bootstraps once enough candidates are seen */
	{
		struct raft_conf none = { 0 };

		if ((r = raftstore_init(cs->store, &none)) != 0)
			return r;
	}
	return consensus_start_raft(cs);
}

/* raft.db is damaged: what, and what to do (a voter can start without it, and not vote). */
static void consensus_damaged(const struct consensus *cs, char *err, size_t errlen, const char *why)
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
static int consensus_open_store(struct consensus *cs, char *err, size_t errlen)
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
		consensus_damaged(cs, err, errlen, p);
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
static int consensus_member_known_cb(void *ctx, const uint8_t pk[CHORUS_PK_BYTES])
{
	struct consensus *cs = ctx;

	return cs->node->core != NULL && core_member_known(cs->node->core, pk);
}

static int consensus_voter_create(struct consensus *cs)
{
	struct voter_config vc;

	memset(&vc, 0, sizeof vc);
	vc.id = cs->id;
	memcpy(vc.pk, cs->pk, CHORUS_PK_BYTES);
	memcpy(vc.sk, cs->sk, CHORUS_SK_BYTES);
	vc.old_leader = cs->fault_old_leader;
	vc.old_members = cs->fault_old_leader;
	vc.member_known_cb = consensus_member_known_cb;
	vc.ctx = cs;
	return voter_create(&cs->vt, &vc, cs->ledger);
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
	backpressure_init(&cs->bp, node->cfg.outbox_high > 0 ? node->cfg.outbox_high : CHORUS_OUTBOX_HIGH);
	cs->rx_ents = calloc(CHORUS_RAFT_APPEND_ENTRIES_MAX, sizeof(*cs->rx_ents));
	cs->tx = malloc(CHORUS_RAFT_MSG_MAX);
	cs->fresh = calloc(CONSENSUS_FRESH_MAX, sizeof(*cs->fresh));
	cs->settle_e = malloc(sizeof(*cs->settle_e));
	cs->own = calloc(CONSENSUS_FRESH_MAX, sizeof(*cs->own));
	cs->waiting = calloc(CONSENSUS_WAITING_MAX, sizeof(*cs->waiting));
	cs->batch.buf = malloc(CHORUS_BODY_MAX);
	if (api_waits_create(&cs->waits, node->base, api_ledger_waited, cs) != 0 ||
	    cs->id == RAFT_NONE || cs->rx_ents == NULL || cs->tx == NULL ||
	    cs->fresh == NULL || cs->own == NULL || cs->waiting == NULL || cs->batch.buf == NULL ||
	    cs->settle_e == NULL || ledger_create(&cs->ledger, &signer_crypto) != 0) {
		snprintf(err, errlen, "consensus: cannot set up");
		consensus_destroy(cs);
		return -ENOMEM;
	}
	/* Test seam (chorusd(8), ENVIRONMENT): lead as a leader from before the bound checks. */
	if (getenv("CHORUS_FAULT") != NULL && strcmp(getenv("CHORUS_FAULT"), "old-leader") == 0) {
		cs->fault_old_leader = 1;
		ledger_build_unchecked(cs->ledger, 1);
		log_warn("ledger", "event=fault what=old-leader (CHORUS_FAULT: a test seam)");
	}
	if (consensus_voter_create(cs) != 0) {
		snprintf(err, errlen, "consensus: cannot set up");
		consensus_destroy(cs);
		return -ENOMEM;
	}
	if ((r = consensus_open_store(cs, err, errlen)) != 0 ||
	    (r = catchup_create(&cs->catchup, node, cs->store, cs->ledger, cs->id,
	                        node->cfg.snapshot_every ? node->cfg.snapshot_every
	                                                 : CONSENSUS_SNAPSHOT_EVERY)) != 0 ||
	    (r = consensus_boot(cs)) != 0) {
		if (r == -EBADMSG && strstr(err, "damaged") == NULL)
			consensus_damaged(cs, err, errlen, "the ledger chain it holds does not verify");
		else if (r != -EIO && r != -EBADMSG)
			snprintf(err, errlen, "raft store: cannot boot (%s)", strerror(-r));
		consensus_destroy(cs);
		return r;
	}
	cs->tick_ev = event_new(node->base, -1, EV_PERSIST, consensus_tick_cb, cs);
	cs->kick_ev = event_new(node->base, -1, 0, consensus_kick_cb, cs);
	if (cs->tick_ev == NULL || cs->kick_ev == NULL || event_add(cs->tick_ev, &tv) != 0) {
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
	if (cs->store != NULL)
		(void)consensus_save_acks(cs); /* a clean stop loses none (a failure is logged) */
	if (cs->tick_ev != NULL)
		event_free(cs->tick_ev);
	if (cs->kick_ev != NULL)
		event_free(cs->kick_ev);
	api_waits_destroy(cs->waits);
	catchup_destroy(cs->catchup);
	ledger_destroy(cs->ledger);
	raftstore_close(cs->store);
	voter_destroy(cs->vt);
	free(cs->fresh);
	free(cs->settle_e);
	free(cs->own);
	free(cs->waiting);
	free(cs->batch.buf);
	free(cs->rx_ents);
	free(cs->tx);
	sodium_memzero(cs->sk, sizeof cs->sk);
	free(cs);
}

/*
 * raft: scripted scenarios on a tiny in-test network of raft instances.
 *
 * Every message goes through the wire codec (encode, then decode) and a
 * FIFO queue; links can be cut per direction.  Each node has a toy state
 * machine (index, count, hash of applied entries) whose snapshot is 24
 * bytes, so snapshot installs can be checked for equality with the leader.
 */
#include <stdlib.h>
#include <string.h>

#include "raft/raft-internal.h"
#include "chorus/bootstrap.h"
#include "tap.h"

#define NET_MAX   8
#define QUEUE_MAX 20000

struct sm {
	uint64_t index, count, hash;
	int bad; /* an entry applied out of order */
};

struct qmsg {
	uint64_t from, to;
	uint32_t len;
	uint8_t *buf;
};

struct net {
	struct raft *r[NET_MAX + 1];
	struct sm sm[NET_MAX + 1];
	int cut[NET_MAX + 1][NET_MAX + 1]; /* cut[from][to]: messages dropped */
	struct qmsg *q;
	size_t qhead, qn;
	/* Counters of what went out, by sender and receiver. */
	uint64_t sent_type[NET_MAX + 1][NET_MAX + 1][RAFT_MSG_TYPE_END];
	uint64_t sent_entries[NET_MAX + 1][NET_MAX + 1]; /* appends carrying entries */
	uint64_t max_append_entries;
	size_t max_append_bytes;
	int codec_failures;
};

static struct raft_config net_cfg(uint64_t id, int pre_vote, int check_quorum)
{
	struct raft_config c;

	raft_config_defaults(&c, id, 1000 + id);
	c.pre_vote = pre_vote;
	c.check_quorum = check_quorum;
	return c;
}

static void conf_set(struct raft_conf *c, int n)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < n; i++)
		c->ids[c->n++] = (uint64_t)i + 1;
}

/* Node id with a fresh boot: voters 1..nvoters (0: a node to be added later). */
static void net_add(struct net *n, uint64_t id, int nvoters, const struct raft_config *cfg)
{
	struct raft_boot b;
	int err;

	memset(&b, 0, sizeof(b));
	conf_set(&b.snap.conf, nvoters);
	err = raft_create(&n->r[id], cfg, &b);
	if (err != 0)
		diag("raft_create(%llu): %s", (unsigned long long)id, raft_strerror(err));
}

static struct net *net_new(int nodes, int pre_vote, int check_quorum)
{
	struct net *n = calloc(1, sizeof(*n));

	n->q = calloc(QUEUE_MAX, sizeof(*n->q));
	for (int i = 1; i <= nodes; i++) {
		struct raft_config c = net_cfg((uint64_t)i, pre_vote, check_quorum);

		net_add(n, (uint64_t)i, nodes, &c);
	}
	return n;
}

static void net_free(struct net *n)
{
	for (int i = 0; i <= NET_MAX; i++)
		raft_destroy(n->r[i]);
	for (size_t i = 0; i < n->qn; i++)
		free(n->q[(n->qhead + i) % QUEUE_MAX].buf);
	free(n->q);
	free(n);
}

static uint64_t sm_mix(uint64_t h, const struct raft_entry *e)
{
	h = (h ^ e->term) * 0x100000001b3ULL;
	for (uint32_t i = 0; i < e->len; i++)
		h = (h ^ e->data[i]) * 0x100000001b3ULL;
	return h;
}

static void net_enqueue(struct net *n, const struct raft_msg *m)
{
	static uint8_t buf[CHORUS_RAFT_MSG_MAX];
	int len = raft_msg_encode(m, buf, sizeof(buf));
	struct qmsg *q;

	if (len < 0) {
		n->codec_failures++;
		return;
	}
	n->sent_type[m->from][m->to][m->type]++;
	n->sent_entries[m->from][m->to] += m->type == RAFT_MSG_APPEND && m->nentries > 0;
	if (m->type == RAFT_MSG_APPEND && m->nentries > n->max_append_entries)
		n->max_append_entries = m->nentries;
	if (m->type == RAFT_MSG_APPEND && (size_t)len > n->max_append_bytes)
		n->max_append_bytes = (size_t)len;
	if (n->cut[m->from][m->to] || n->qn == QUEUE_MAX)
		return;
	q = &n->q[(n->qhead + n->qn++) % QUEUE_MAX];
	q->from = m->from;
	q->to = m->to;
	q->len = (uint32_t)len;
	q->buf = malloc((size_t)len);
	memcpy(q->buf, buf, (size_t)len);
}

static void net_apply(struct sm *sm, const struct raft_ready *rd)
{
	if (rd->snapshot != NULL && rd->snapshot->len == 24) {
		sm->index = codec_get_u64(rd->snapshot->data);
		sm->count = codec_get_u64(rd->snapshot->data + 8);
		sm->hash = codec_get_u64(rd->snapshot->data + 16);
	}
	for (size_t i = 0; i < rd->ncommitted; i++) {
		const struct raft_entry *e = &rd->committed[i];

		if (e->index != sm->index + 1)
			sm->bad = 1;
		sm->index = e->index;
		if (e->type == RAFT_ENTRY_NORMAL) {
			sm->count++;
			sm->hash = sm_mix(sm->hash, e);
		}
	}
}

/* Runs the ready loop of one node: (persistence is implicit here), send, apply, advance. */
static void net_ready(struct net *n, uint64_t id)
{
	struct raft_ready rd;

	while (n->r[id] != NULL && raft_ready(n->r[id], &rd)) {
		for (size_t i = 0; i < rd.nmsgs; i++)
			net_enqueue(n, &rd.msgs[i]);
		net_apply(&n->sm[id], &rd);
		raft_advance(n->r[id], &rd);
	}
}

static void net_step_raw(struct net *n, const struct raft_msg *m)
{
	if (n->r[m->to] != NULL && raft_step(n->r[m->to], m) == 0)
		net_ready(n, m->to);
}

/* Delivers queued messages (and their consequences) until the queue is empty. */
static void net_deliver(struct net *n)
{
	static struct raft_entry ents[CHORUS_RAFT_APPEND_ENTRIES_MAX];
	struct raft_msg m;

	while (n->qn > 0) {
		struct qmsg q = n->q[n->qhead];

		n->qhead = (n->qhead + 1) % QUEUE_MAX;
		n->qn--;
		if (!n->cut[q.from][q.to]) {
			if (raft_msg_decode(&m, ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, q.buf, q.len) != 0)
				n->codec_failures++;
			else
				net_step_raw(n, &m);
		}
		free(q.buf);
	}
}

static void net_tick(struct net *n, uint64_t id, int ticks)
{
	for (int i = 0; i < ticks && n->r[id] != NULL; i++) {
		raft_tick(n->r[id]);
		net_ready(n, id);
	}
}

/* Ticks every node once, then delivers everything, `rounds` times. */
static void net_run(struct net *n, int rounds)
{
	for (int k = 0; k < rounds; k++) {
		for (uint64_t id = 1; id <= NET_MAX; id++)
			net_tick(n, id, 1);
		net_deliver(n);
	}
}

static void net_isolate(struct net *n, uint64_t id, int cut)
{
	for (int j = 0; j <= NET_MAX; j++) {
		n->cut[id][j] = cut;
		n->cut[j][id] = cut;
	}
}

static int net_campaign(struct net *n, uint64_t id)
{
	int err = raft_campaign_now(n->r[id]);

	net_ready(n, id);
	net_deliver(n);
	return err;
}

static int net_propose(struct net *n, uint64_t id, const char *s)
{
	int err = raft_propose(n->r[id], (const uint8_t *)s, (uint32_t)strlen(s), NULL);

	net_ready(n, id);
	return err;
}

static int net_leaders(struct net *n, uint64_t *which)
{
	int count = 0;

	for (uint64_t id = 1; id <= NET_MAX; id++) {
		if (n->r[id] != NULL && raft_is_leader(n->r[id])) {
			count++;
			if (which)
				*which = id;
		}
	}
	return count;
}

static int net_checks_ok(struct net *n)
{
	for (uint64_t id = 1; id <= NET_MAX; id++) {
		const char *why;

		if (n->r[id] != NULL && (why = raft_check(n->r[id])) != NULL) {
			diag("node %llu: %s", (unsigned long long)id, why);
			return 0;
		}
		if (n->sm[id].bad)
			return 0;
	}
	return n->codec_failures == 0;
}

/* Same last index and the same term at every index of both logs. */
static int logs_equal(const struct raft *a, const struct raft *b)
{
	struct raft_status sa, sb;

	raft_status(a, &sa);
	raft_status(b, &sb);
	if (sa.last_index != sb.last_index)
		return 0;
	for (uint64_t i = 1; i <= sa.last_index; i++) {
		uint64_t ta, tb;

		if (raft_term_at(a, i, &ta) == 0 && raft_term_at(b, i, &tb) == 0 && ta != tb)
			return 0;
	}
	return 1;
}

static struct raft_status st(const struct raft *r)
{
	struct raft_status s;

	raft_status(r, &s);
	return s;
}

static int voter(const struct raft *r, uint64_t id)
{
	struct raft_status s;

	raft_status(r, &s);
	return raft_conf_has(&s.conf, id);
}

/* ---------------------------------------------------------------- scenarios */

static void test_election(void)
{
	struct net *n = net_new(3, 1, 1);
	uint64_t who = 0;

	ok(net_campaign(n, 1) == 0, "election: node 1 campaigns");
	ok(net_leaders(n, &who) == 1 && who == 1 && raft_term(n->r[1]) == 1,
	   "election: one round (pre-vote + vote) makes node 1 leader of term 1");
	ok(raft_leader(n->r[2]) == 1 && raft_leader(n->r[3]) == 1,
	   "election: the followers know the leader");
	ok(raft_commit_index(n->r[1]) == 1 && raft_commit_index(n->r[2]) == 1,
	   "election: the leader's no-op commits and the commit reaches followers");
	ok(net_propose(n, 2, "x") == RAFT_ERR_NOT_LEADER, "election: a follower refuses proposals");
	net_free(n);

	/* Ticks alone elect someone within a few election timeouts. */
	n = net_new(5, 1, 1);
	net_run(n, 60);
	ok(net_leaders(n, NULL) == 1 && net_checks_ok(n), "election: ticking 5 nodes elects exactly one");
	net_free(n);

	/* A lone voter is its own quorum: its no-op commits with no answer to wait for. */
	n = net_new(1, 1, 1);
	ok(net_campaign(n, 1) == 0 && raft_is_leader(n->r[1]) && raft_commit_index(n->r[1]) == 1 &&
	       net_propose(n, 1, "y") == 0 && raft_commit_index(n->r[1]) == 2,
	   "election: a single voter leads and commits its no-op, then each proposal");
	net_free(n);
}

/* One raft instance and hand-made messages. */
static struct raft *lone_id(uint64_t id, uint64_t term, const uint64_t *terms, size_t nterms,
                           int voters)
{
	struct raft_entry e[16];
	struct raft_boot b;
	struct raft_config c = net_cfg(id, 0, 0);
	struct raft *r;

	memset(&b, 0, sizeof(b));
	memset(e, 0, sizeof(e));
	conf_set(&b.snap.conf, voters);
	for (size_t i = 0; i < nterms; i++) {
		e[i].index = i + 1;
		e[i].term = terms[i];
	}
	b.entries = e;
	b.nentries = nterms;
	b.hs.term = term;
	if (raft_create(&r, &c, &b) != 0)
		return NULL;
	return r;
}

static struct raft *lone(uint64_t term, const uint64_t *terms, size_t nterms, int voters)
{
	return lone_id(1, term, terms, nterms, voters);
}

static struct raft_msg mk(int type, uint64_t from, uint64_t term, uint64_t index, uint64_t log_term)
{
	struct raft_msg m;

	memset(&m, 0, sizeof(m));
	m.type = (uint8_t)type;
	m.from = from;
	m.to = 1;
	m.term = term;
	m.index = index;
	m.log_term = log_term;
	return m;
}

/* The first response of type `type` in the next ready: 1 granted, 0 rejected, -1 none. */
static int lone_answer(struct raft *r, int type)
{
	struct raft_ready rd;
	int res = -1;

	while (raft_ready(r, &rd)) {
		for (size_t i = 0; i < rd.nmsgs; i++) {
			if (rd.msgs[i].type == type && res == -1)
				res = !(rd.msgs[i].flags & RAFT_MSG_REJECT);
		}
		raft_advance(r, &rd);
	}
	return res;
}

static void test_vote_rules(void)
{
	static const uint64_t terms[] = { 1, 2 };
	struct raft *r = lone(5, terms, 2, 3);
	struct raft_msg m;

	m = mk(RAFT_MSG_VOTE, 2, 3, 9, 9);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_VOTE_RESP) != 1 && raft_term(r) == 5 && st(r).vote == 0,
	   "vote: a stale term gets no vote and changes nothing");
	m = mk(RAFT_MSG_VOTE, 2, 6, 5, 1);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_VOTE_RESP) == 0 && raft_term(r) == 6 && st(r).vote == 0,
	   "vote: a longer log with an older last term is less up to date: rejected");
	m = mk(RAFT_MSG_VOTE, 2, 6, 1, 2);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_VOTE_RESP) == 0, "vote: same last term but shorter: rejected");
	m = mk(RAFT_MSG_VOTE, 2, 6, 2, 2);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_VOTE_RESP) == 1 && st(r).vote == 2, "vote: an equal log gets the vote");
	m = mk(RAFT_MSG_VOTE, 3, 6, 7, 3);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_VOTE_RESP) == 0, "vote: one vote per term, even for a better log");
	m = mk(RAFT_MSG_VOTE, 2, 6, 2, 2);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_VOTE_RESP) == 1, "vote: the same candidate asking again gets it again");
	m = mk(RAFT_MSG_VOTE, 3, 7, 2, 2);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_VOTE_RESP) == 1 && st(r).vote == 3 && raft_term(r) == 7,
	   "vote: a new term frees the vote");
	m = mk(RAFT_MSG_PRE_VOTE, 2, 9, 2, 2);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_PRE_VOTE_RESP) == 1 && raft_term(r) == 7 && st(r).vote == 3,
	   "pre-vote: granted for a future term without raising ours or voting");
	m = mk(RAFT_MSG_VOTE, 2, 7, 2, 2);
	m.to = 4;
	ok(raft_step(r, &m) == CORE_ERR_INVAL, "step: a message for another node is refused");
	raft_destroy(r);
}

/*
 * A node that lost its durable state (cfg.no_vote): it grants no vote and
 * no pre-vote, however good the candidate's log and new the term; it never
 * campaigns, neither on its timer nor when asked; it still follows a leader
 * and acknowledges entries, so the others commit.  Cleared, it votes again.
 */
static void test_no_vote(void)
{
	struct raft_config c = net_cfg(1, 1, 1);
	struct raft_boot b;
	struct raft *r;
	struct raft_msg m;
	struct net *n;
	uint64_t who = 0;

	memset(&b, 0, sizeof(b));
	conf_set(&b.snap.conf, 3);
	c.no_vote = 1;
	ok(raft_create(&r, &c, &b) == 0 && st(r).no_vote == 1, "no-vote: a voter of 3 that lost its state");
	m = mk(RAFT_MSG_PRE_VOTE, 2, 1, 0, 0);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_PRE_VOTE_RESP) == 0, "no-vote: a pre-vote is rejected");
	m = mk(RAFT_MSG_VOTE, 2, 1, 0, 0);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_VOTE_RESP) == 0 && st(r).vote == 0,
	   "no-vote: so is a vote, with nothing recorded");
	ok(raft_campaign_now(r) != 0, "no-vote: it refuses to campaign when asked");
	for (int i = 0; i < 100; i++)
		raft_tick(r);
	ok(lone_answer(r, RAFT_MSG_PRE_VOTE) == -1 && st(r).state == RAFT_FOLLOWER && raft_check(r) == NULL,
	   "no-vote: 100 ticks (many election timeouts) and it never campaigned");
	raft_set_no_vote(r, 0);
	m = mk(RAFT_MSG_VOTE, 3, 2, 0, 0);
	raft_step(r, &m);
	ok(lone_answer(r, RAFT_MSG_VOTE_RESP) == 1 && st(r).vote == 3, "no-vote cleared: it votes again");
	raft_destroy(r);

	/* In a cluster: node 3 without a vote, the others elect and commit; it follows. */
	n = net_new(3, 1, 1);
	raft_destroy(n->r[3]);
	c = net_cfg(3, 1, 1);
	c.no_vote = 1;
	net_add(n, 3, 3, &c);
	ok(net_campaign(n, 3) != 0 || net_leaders(n, NULL) == 0, "no-vote: node 3 cannot start an election");
	net_isolate(n, 2, 1);
	net_run(n, 80);
	ok(net_leaders(n, NULL) == 0, "no-vote: with node 2 cut off, 1 cannot win (3 does not vote)");
	net_isolate(n, 2, 0);
	net_run(n, 80);
	{
		int leaders = net_leaders(n, &who);

		ok(leaders == 1 && who != 3 && net_propose(n, who, "x") == 0,
		   "no-vote: 1 and 2 elect a leader (%llu), and it takes a proposal", (unsigned long long)who);
	}
	net_run(n, 10);
	ok(raft_commit_index(n->r[3]) == raft_commit_index(n->r[who]) && logs_equal(n->r[3], n->r[who]) &&
	       net_checks_ok(n),
	   "no-vote: node 3 follows and holds the committed log");
	net_free(n);
}

static void test_dueling(void)
{
	struct net *n = net_new(3, 0, 0);
	uint64_t who = 0;

	n->cut[1][3] = n->cut[3][1] = 1;
	raft_campaign_now(n->r[1]);
	raft_campaign_now(n->r[3]);
	net_ready(n, 1);
	net_ready(n, 3);
	net_deliver(n);
	ok(net_leaders(n, &who) == 1 && who == 1 && st(n->r[3]).state == RAFT_CANDIDATE,
	   "dueling: node 2 votes once; node 1 wins term 1, node 3 stays candidate");
	n->cut[1][3] = n->cut[3][1] = 0;
	net_run(n, 80);
	ok(net_leaders(n, &who) == 1 && net_checks_ok(n), "dueling: after healing, one leader");
	ok(net_propose(n, who, "after") == 0, "dueling: the leader takes a proposal");
	net_deliver(n);
	net_run(n, 3);
	ok(logs_equal(n->r[1], n->r[2]) && logs_equal(n->r[1], n->r[3]) &&
	       raft_commit_index(n->r[3]) == st(n->r[who]).last_index,
	   "dueling: all logs end equal and committed");
	net_free(n);
}

/* Figure 7 of the Raft paper: a leader of term 8 and six possible followers. */
static void test_figure7(void)
{
	static const uint64_t lead[] = { 1, 1, 1, 4, 4, 5, 5, 6, 6, 6 };
	static const uint64_t fol[6][12] = {
		{ 1, 1, 1, 4, 4, 5, 5, 6, 6 },          { 1, 1, 1, 4 },
		{ 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6 },    { 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7 },
		{ 1, 1, 1, 4, 4, 4, 4 },                { 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3 },
	};
	static const size_t nfol[6] = { 9, 4, 11, 12, 7, 11 };
	/*
	 * Entries the leader sends in all, rejected batches included: the hint
	 * (term + its first index) skips whole terms; e.g. (e) would take 14
	 * if the leader ignored the hint's term and resumed at its index (the
	 * isolated node 3 gets one entry too).
	 */
	static const uint64_t sent[6] = { 4, 9, 2, 2, 12, 15 };

	for (int k = 0; k < 6; k++) {
		struct net *n = calloc(1, sizeof(*n));
		struct raft_msg m;

		n->q = calloc(QUEUE_MAX, sizeof(*n->q));
		n->r[1] = lone(8, lead, 10, 3);
		n->r[2] = lone_id(2, 7, fol[k], nfol[k], 3);
		net_isolate(n, 3, 1);
		raft_campaign_now(n->r[1]);
		net_ready(n, 1);
		m = mk(RAFT_MSG_VOTE_RESP, 3, 9, 0, 0); /* node 3's vote, by hand */
		net_step_raw(n, &m);
		net_deliver(n);
		ok(raft_is_leader(n->r[1]) && logs_equal(n->r[1], n->r[2]) &&
		       raft_commit_index(n->r[2]) == 11 && raft_stats(n->r[1])->rejects_received <= 2 &&
		       raft_stats(n->r[1])->entries_sent == sent[k],
		   "figure 7 (%c): the follower's log is repaired in <= 2 rejections (%llu), "
		   "%llu entries sent",
		   'a' + k, (unsigned long long)raft_stats(n->r[1])->rejects_received,
		   (unsigned long long)raft_stats(n->r[1])->entries_sent);
		net_free(n);
	}
}

/* Figure 8: entries of an earlier term commit only with one of the current term. */
static void test_figure8(void)
{
	static const uint64_t terms[] = { 1, 2 };
	struct raft *r = lone(2, terms, 2, 5);
	struct raft_msg m;
	struct raft_ready rd;

	r->cfg.pre_vote = 0;
	raft_campaign_now(r);
	for (uint64_t v = 2; v <= 3; v++) {
		m = mk(RAFT_MSG_VOTE_RESP, v, 3, 0, 0);
		raft_step(r, &m);
	}
	ok(raft_is_leader(r) && st(r).last_index == 3, "figure 8: leader of term 3 appended its no-op");
	while (raft_ready(r, &rd))
		raft_advance(r, &rd);
	for (uint64_t v = 2; v <= 3; v++) {
		m = mk(RAFT_MSG_APPEND_RESP, v, 3, 2, 0);
		raft_step(r, &m);
	}
	ok(raft_commit_index(r) == 0, "figure 8: a majority holding index 2 (term 2) does not commit it");
	m = mk(RAFT_MSG_APPEND_RESP, 2, 3, 3, 0);
	raft_step(r, &m);
	ok(raft_commit_index(r) == 0, "figure 8: two of five holding the no-op is not a majority");
	m = mk(RAFT_MSG_APPEND_RESP, 3, 3, 3, 0);
	raft_step(r, &m);
	ok(raft_commit_index(r) == 3, "figure 8: a majority holding the term-3 no-op commits 1..3");
	raft_destroy(r);
}

static void test_prevote(void)
{
	for (int pre = 1; pre >= 0; pre--) {
		struct net *n = net_new(3, pre, 1);
		uint64_t term;

		net_campaign(n, 1);
		net_propose(n, 1, "a");
		net_deliver(n);
		term = raft_term(n->r[1]);
		net_isolate(n, 3, 1);
		net_run(n, 100); /* node 3 times out over and over */
		if (pre)
			ok(raft_term(n->r[3]) == term, "pre-vote: an isolated node does not raise its term");
		else
			ok(raft_term(n->r[3]) > term, "without pre-vote the isolated node's term climbs (control)");
		net_isolate(n, 3, 0);
		net_run(n, 30);
		if (pre)
			ok(raft_is_leader(n->r[1]) && raft_term(n->r[1]) == term && net_checks_ok(n),
			   "pre-vote: after rejoining, the leader keeps leading in the same term");
		else
			ok(raft_term(n->r[1]) > term, "without pre-vote the rejoin forces a new term (control)");
		net_free(n);
	}
}

static void test_check_quorum(void)
{
	struct net *n = net_new(3, 1, 1);
	uint64_t who = 0;

	net_campaign(n, 1);
	net_isolate(n, 1, 1);
	net_tick(n, 1, 2 * 10 + 1);
	ok(!raft_is_leader(n->r[1]) && raft_stats(n->r[1])->step_downs_quorum == 1,
	   "check-quorum: an isolated leader steps down within two election timeouts");
	net_run(n, 60);
	ok(net_leaders(n, &who) == 1 && who != 1, "check-quorum: the others elect a new leader");
	net_isolate(n, 1, 0);
	net_run(n, 30);
	ok(raft_leader(n->r[1]) == who && logs_equal(n->r[1], n->r[who]) && net_checks_ok(n),
	   "check-quorum: the old leader rejoins as a follower and catches up");
	net_free(n);
}

static void test_transfer(void)
{
	struct net *n = net_new(3, 1, 1);
	uint64_t term;

	net_campaign(n, 1);
	term = raft_term(n->r[1]);
	n->cut[1][3] = 1; /* node 3 falls behind */
	for (int i = 0; i < 5; i++)
		net_propose(n, 1, "behind");
	net_deliver(n);
	n->cut[1][3] = 0;
	ok(raft_transfer(n->r[1], 3) == 0, "transfer: to a lagging voter is accepted");
	ok(net_propose(n, 1, "during") == RAFT_ERR_BUSY, "transfer: proposals wait while it runs");
	net_ready(n, 1);
	net_deliver(n);
	net_run(n, 3);
	ok(raft_is_leader(n->r[3]) && raft_term(n->r[3]) == term + 1 && net_leaders(n, NULL) == 1,
	   "transfer: the target catches up, gets TimeoutNow and wins the next term");
	ok(raft_transfer(n->r[1], 2) == RAFT_ERR_NOT_LEADER && raft_transfer(n->r[3], 3) == CORE_ERR_INVAL,
	   "transfer: only a leader transfers, and not to itself");
	net_free(n);
}

static void test_membership(void)
{
	struct net *n = net_new(3, 1, 1);
	struct raft_config c4 = net_cfg(4, 1, 1);
	uint64_t who = 0;

	net_add(n, 4, 0, &c4); /* a node booted with no voters: it waits to be added */
	net_campaign(n, 1);
	ok(raft_propose_conf(n->r[1], 1, 4, NULL) == 0, "membership: add voter 4");
	ok(raft_propose_conf(n->r[1], 0, 3, NULL) == RAFT_ERR_BUSY,
	   "membership: a second change waits for the first to commit");
	net_ready(n, 1);
	net_deliver(n);
	net_run(n, 3);
	ok(st(n->r[4]).conf.n == 4 && voter(n->r[2], 4) &&
	       logs_equal(n->r[1], n->r[4]) && raft_commit_index(n->r[4]) == raft_commit_index(n->r[1]),
	   "membership: everyone has voter 4, whose log caught up");
	ok(raft_propose_conf(n->r[1], 0, 3, NULL) == 0, "membership: remove voter 3");
	net_ready(n, 1);
	net_deliver(n);
	net_isolate(n, 3, 1);
	net_propose(n, 1, "without 3");
	net_deliver(n);
	ok(st(n->r[1]).conf.n == 3 && !voter(n->r[1], 3) &&
	       raft_commit_index(n->r[1]) == st(n->r[1]).last_index,
	   "membership: without voter 3, {1, 2, 4} commit on their own");
	ok(raft_propose_conf(n->r[1], 0, 1, NULL) == 0, "membership: the leader proposes its own removal");
	net_ready(n, 1);
	net_deliver(n);
	net_run(n, 5);
	ok(!raft_is_leader(n->r[1]) && raft_stats(n->r[1])->step_downs_removed == 1,
	   "membership: the removed leader stepped down after committing its removal");
	ok(net_leaders(n, &who) == 1 && (who == 2 || who == 4),
	   "membership: a remaining voter leads (TimeoutNow to the most up-to-date)");
	net_run(n, 60);
	ok(!raft_is_leader(n->r[1]) && st(n->r[1]).state == RAFT_FOLLOWER && net_checks_ok(n),
	   "membership: the removed node never campaigns again");
	net_free(n);
}

/*
 * A voter removed while cut off never receives the entry that removes it; on
 * its return the others (in their lease) would ignore its campaigns and it
 * would stay a pre-candidate forever.  They tell it it was removed instead.
 */
static void test_removed_knows(void)
{
	struct net *n = net_new(3, 1, 1);
	uint64_t who = 0, pre;

	net_campaign(n, 1);
	net_isolate(n, 3, 1);
	ok(raft_propose_conf(n->r[1], 0, 3, NULL) == 0, "removed: remove voter 3 while it is cut off");
	net_ready(n, 1);
	net_deliver(n);
	net_propose(n, 1, "after");
	net_run(n, 3);
	ok(!voter(n->r[1], 3) && !voter(n->r[2], 3) && voter(n->r[3], 3) && !st(n->r[3]).removed,
	   "removed: 1 and 2 committed it; 3 still thinks it is a voter");
	net_isolate(n, 3, 0);
	net_run(n, 80);
	pre = raft_stats(n->r[3])->pre_elections;
	ok(st(n->r[3]).removed && st(n->r[3]).state == RAFT_FOLLOWER,
	   "removed: back on the network, 3 learns it was removed and is a follower");
	net_run(n, 80);
	ok(raft_stats(n->r[3])->pre_elections == pre && net_leaders(n, &who) == 1 && who == 1,
	   "removed: it campaigns no more, and 1 still leads");
	ok(raft_propose_conf(n->r[1], 1, 3, NULL) == 0, "removed: the operator adds 3 back");
	net_ready(n, 1);
	net_run(n, 10);
	ok(voter(n->r[3], 3) && !st(n->r[3]).removed && net_checks_ok(n),
	   "removed: re-added, 3 is a voter again and no longer removed");
	net_free(n);
}

/* Two of three voters lost for good: the survivor forces a configuration of itself. */
static void test_force_new_cluster(void)
{
	struct net *n = net_new(3, 1, 1);
	uint64_t who = 0, before;

	net_campaign(n, 1);
	net_propose(n, 1, "committed by three");
	net_run(n, 3);
	before = raft_commit_index(n->r[2]);
	ok(raft_force_new_cluster(n->r[1]) == RAFT_ERR_BUSY,
	   "force: refused on a leader (it can change the configuration the usual way)");
	net_isolate(n, 1, 1);
	net_isolate(n, 3, 1);
	net_run(n, 80);
	ok(!raft_is_leader(n->r[2]) && raft_leader(n->r[2]) == RAFT_NONE,
	   "force: with 1 and 3 gone, 2 has no leader");
	ok(net_propose(n, 2, "x") == RAFT_ERR_NOT_LEADER, "force: and commits nothing");
	ok(raft_force_new_cluster(n->r[2]) == 0, "force: 2 forces a new configuration of itself");
	net_run(n, 40);
	ok(net_leaders(n, &who) >= 1 && raft_is_leader(n->r[2]) && st(n->r[2]).conf.n == 1,
	   "force: 2 leads a configuration of one");
	ok(net_propose(n, 2, "alone") == 0, "force: it takes proposals again");
	net_run(n, 2);
	ok(raft_commit_index(n->r[2]) == st(n->r[2]).last_index && raft_commit_index(n->r[2]) > before,
	   "force: and commits them alone, keeping what it had");
	net_free(n);
}

static void sm_snapshot(const struct sm *sm, uint8_t out[24])
{
	codec_put_u64(out, sm->index);
	codec_put_u64(out + 8, sm->count);
	codec_put_u64(out + 16, sm->hash);
}

static void test_snapshot(void)
{
	struct net *n = net_new(3, 1, 1);
	uint8_t snap[24];
	char buf[32];
	uint64_t applied;

	net_campaign(n, 1);
	net_isolate(n, 3, 1);
	for (int i = 0; i < 50; i++) {
		snprintf(buf, sizeof(buf), "entry-%d", i);
		net_propose(n, 1, buf);
		net_deliver(n);
	}
	for (uint64_t id = 1; id <= 2; id++) {
		applied = n->sm[id].index;
		sm_snapshot(&n->sm[id], snap);
		ok(raft_compact(n->r[id], applied, snap, sizeof(snap)) == 0 &&
		       st(n->r[id]).snap_index == applied && st(n->r[id]).last_index == applied,
		   "snapshot: node %llu compacts its log up to applied index %llu", (unsigned long long)id,
		   (unsigned long long)applied);
	}
	ok(raft_compact(n->r[1], 3, snap, sizeof(snap)) == CORE_ERR_STALE &&
	       raft_compact(n->r[1], applied + 1, snap, sizeof(snap)) == CORE_ERR_INVAL,
	   "snapshot: compaction below the snapshot or past applied is refused");
	net_propose(n, 1, "after-snapshot");
	net_deliver(n);
	net_isolate(n, 3, 0);
	net_run(n, 12);
	ok(raft_stats(n->r[3])->snapshots_installed == 1 && raft_stats(n->r[1])->snapshots_sent >= 1,
	   "snapshot: the lagging node received InstallSnapshot");
	ok(n->sm[3].index == n->sm[1].index && n->sm[3].hash == n->sm[1].hash &&
	       n->sm[3].count == n->sm[1].count && logs_equal(n->r[1], n->r[3]),
	   "snapshot: its state machine matches the leader's (%llu entries)",
	   (unsigned long long)n->sm[3].count);
	ok(net_checks_ok(n), "snapshot: all invariants hold");
	net_free(n);
}

static void test_inflight(void)
{
	struct net *n = net_new(3, 1, 1);
	uint64_t before;

	for (uint64_t id = 1; id <= 3; id++)
		n->r[id]->cfg.inflight_max = 4;
	net_campaign(n, 1);
	ok(raft_stats(n->r[1])->appends_sent > 0 && n->r[1]->pr[0].state == RAFT_PR_REPLICATE,
	   "inflight: follower 2 is in replicate state");
	n->cut[2][1] = 1; /* acknowledgements from 2 are lost */
	before = n->sent_entries[1][2];
	for (int i = 0; i < 40; i++) {
		net_propose(n, 1, "p");
		net_deliver(n);
	}
	ok(n->sent_entries[1][2] - before == 4,
	   "inflight: exactly inflight_max (4) appends went to the silent follower, not 40 (%llu)",
	   (unsigned long long)(n->sent_entries[1][2] - before));
	n->cut[2][1] = 0;
	net_run(n, 5);
	ok(logs_equal(n->r[1], n->r[2]) && raft_commit_index(n->r[2]) == st(n->r[1]).last_index,
	   "inflight: when acknowledgements flow again the follower catches up");
	/* Batching: 100 proposals in one round go out in few, bounded messages. */
	before = n->sent_type[1][3][RAFT_MSG_APPEND];
	for (int i = 0; i < 100; i++)
		raft_propose(n->r[1], (const uint8_t *)"batched-entry", 13, NULL);
	net_ready(n, 1);
	ok(n->sent_type[1][3][RAFT_MSG_APPEND] - before == 1 && n->max_append_entries >= 100 &&
	       n->max_append_bytes <= CHORUS_RAFT_MSG_MAX,
	   "batching: 100 proposals leave in one AppendEntries (%llu entries max)",
	   (unsigned long long)n->max_append_entries);
	net_deliver(n);
	ok(net_checks_ok(n), "inflight: invariants hold");
	net_free(n);
}

static void test_probe_after_reject(void)
{
	static const uint64_t terms[] = { 1, 1, 1 };
	struct raft *r = lone(1, terms, 3, 3);
	struct raft_msg m;
	struct raft_ready rd;
	int appends_to_2 = 0;

	r->cfg.pre_vote = 0;
	raft_campaign_now(r);
	m = mk(RAFT_MSG_VOTE_RESP, 2, 2, 0, 0);
	raft_step(r, &m);
	m = mk(RAFT_MSG_APPEND_RESP, 2, 2, 4, 0); /* 2 acknowledges everything: replicate */
	raft_step(r, &m);
	m = mk(RAFT_MSG_APPEND_RESP, 2, 2, 4, 0);
	m.flags = RAFT_MSG_REJECT;
	m.index = 4; /* stale rejection (index <= match): ignored */
	raft_step(r, &m);
	ok(r->pr[0].state == RAFT_PR_REPLICATE, "probe: a stale rejection is ignored");
	raft_propose(r, (const uint8_t *)"x", 1, NULL);
	while (raft_ready(r, &rd))
		raft_advance(r, &rd);
	m.index = 5;
	m.hint_index = 5; /* the follower's log ends at 4 */
	raft_step(r, &m);
	ok(r->pr[0].state == RAFT_PR_PROBE && r->pr[0].next == 5,
	   "probe: a rejection moves the follower to probe at the hint");
	for (int i = 0; i < 5; i++)
		raft_propose(r, (const uint8_t *)"y", 1, NULL);
	while (raft_ready(r, &rd)) {
		for (size_t i = 0; i < rd.nmsgs; i++)
			appends_to_2 += rd.msgs[i].to == 2 && rd.msgs[i].type == RAFT_MSG_APPEND;
		raft_advance(r, &rd);
	}
	ok(appends_to_2 == 1, "probe: one append in flight while probing (%d)", appends_to_2);
	raft_destroy(r);
}

/* ---------------------------------------------------------------- wire */

static int wire_roundtrip(const struct raft_msg *m)
{
	static uint8_t a[CHORUS_RAFT_MSG_MAX], b[CHORUS_RAFT_MSG_MAX];
	static struct raft_entry ents[CHORUS_RAFT_APPEND_ENTRIES_MAX];
	struct raft_msg d;
	int la = raft_msg_encode(m, a, sizeof(a)), lb, short_ok = 1;

	if (la < 0 || raft_msg_decode(&d, ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, a, (size_t)la) != 0)
		return 0;
	lb = raft_msg_encode(&d, b, sizeof(b));
	for (int cut = 0; cut < la; cut++)
		short_ok &= raft_msg_decode(&d, ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, a, (size_t)cut) < 0;
	return lb == la && memcmp(a, b, (size_t)la) == 0 && short_ok &&
	       raft_msg_decode(&d, ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, a, (size_t)la + 1) < 0;
}

static void test_wire(void)
{
	static uint8_t buf[CHORUS_RAFT_MSG_MAX + 64], data[CHORUS_RAFT_ENTRY_MAX + 1];
	static struct raft_entry ents[CHORUS_RAFT_APPEND_ENTRIES_MAX + 1];
	uint8_t confb[64];
	struct raft_conf conf;
	struct raft_msg m = mk(RAFT_MSG_APPEND, 2, 7, 10, 6), d;
	int len, all = 1;

	conf_set(&conf, 3);
	memset(data, 0xab, sizeof(data));
	for (int i = 0; i < 3; i++) {
		ents[i].index = 11 + (uint64_t)i;
		ents[i].term = 7;
		ents[i].type = RAFT_ENTRY_NORMAL;
		ents[i].len = (uint32_t)(i * 100);
		ents[i].data = i ? data : NULL;
	}
	ents[2].type = RAFT_ENTRY_CONF;
	ents[2].len = (uint32_t)raft_conf_encode(&conf, confb, sizeof(confb));
	ents[2].data = confb;
	m.entries = ents;
	m.nentries = 3;
	m.commit = 9;
	ok(wire_roundtrip(&m), "wire: append round-trips; every truncation and a trailing byte fail");
	for (int t = RAFT_MSG_APPEND_RESP; t < RAFT_MSG_TYPE_END; t++) {
		struct raft_msg o = mk(t, 3, 4, 5, 2);

		o.flags = RAFT_MSG_REJECT;
		o.hint_index = 4;
		o.hint_term = 1;
		if (t == RAFT_MSG_SNAPSHOT) {
			o.snap.index = 5;
			o.snap.term = 2;
			o.snap.conf = conf;
			o.snap.data = data;
			o.snap.len = 500;
		}
		all &= wire_roundtrip(&o);
	}
	ok(all, "wire: every other type round-trips and rejects truncation");

	len = raft_msg_encode(&m, buf, sizeof(buf));
	buf[1] = 2;
	ok(raft_msg_decode(&d, ents, 4, buf, (size_t)len) == CORE_ERR_VERSION, "wire: another version is refused");
	buf[1] = CHORUS_RAFT_WIRE_VERSION;
	ok(raft_msg_decode(&d, ents, 2, buf, (size_t)len) == CORE_ERR_OVERSIZE,
	   "wire: more entries than the caller's array is refused");
	codec_put_u32(buf + CHORUS_RAFT_MSG_HEADER + 9, 0xffffffffu);
	ok(raft_msg_decode(&d, ents, 4, buf, (size_t)len) == CORE_ERR_OVERSIZE,
	   "wire: an entry length over the bound is refused");
	codec_put_u32(buf + CHORUS_RAFT_MSG_HEADER + 9, 0);
	codec_put_u32(buf + CHORUS_RAFT_MSG_HEADER + 13 + 113 + 9, ents[2].len + 1);
	ok(raft_msg_decode(&d, ents, 4, buf, (size_t)len) == CORE_ERR_MALFORMED,
	   "wire: an entry length that disagrees with the rest is refused");
	ok(raft_msg_decode(&d, ents, 4, buf, CHORUS_RAFT_MSG_MAX + 1) == CORE_ERR_OVERSIZE,
	   "wire: input over CHORUS_RAFT_MSG_MAX is refused");
	m.nentries = 1;
	ents[0].len = CHORUS_RAFT_ENTRY_MAX + 1;
	ents[0].data = data;
	ok(raft_msg_encode(&m, buf, sizeof(buf)) == CORE_ERR_OVERSIZE, "wire: an oversized entry cannot be encoded");
	ents[0].len = 0;
	ents[0].data = NULL;
	ents[0].term = 8; /* newer than the message's term */
	ok(raft_msg_encode(&m, buf, sizeof(buf)) == CORE_ERR_MALFORMED, "wire: an entry from the future is refused");
	ents[0].term = 7;
}

/* Random bytes and mutations of a valid message never crash the decoder. */
static void test_wire_fuzz(void)
{
	static uint8_t buf[CHORUS_RAFT_MSG_MAX + 64];
	static struct raft_entry ents[CHORUS_RAFT_APPEND_ENTRIES_MAX];
	uint8_t data[300];
	struct raft_msg m = mk(RAFT_MSG_APPEND, 2, 7, 10, 6), d;
	struct rng rng;
	int len, crashed = 0, accepted = 0;

	memset(data, 0x5a, sizeof(data));
	for (int i = 0; i < 3; i++) {
		ents[i].index = 11 + (uint64_t)i;
		ents[i].term = 7;
		ents[i].len = (uint32_t)(i * 100);
		ents[i].data = i ? data : NULL;
	}
	m.entries = ents;
	m.nentries = 3;
	rng_seed(&rng, 42);
	len = raft_msg_encode(&m, buf, sizeof(buf));
	for (int i = 0; i < 200000; i++) {
		static uint8_t f[CHORUS_RAFT_MSG_MAX + 64];
		size_t flen = (size_t)len;

		memcpy(f, buf, flen);
		if (i % 4 == 0) {
			flen = rng_below(&rng, 200);
			for (size_t k = 0; k < flen; k++)
				f[k] = (uint8_t)rng_next(&rng);
			if (flen > 1 && i % 8 == 0) {
				f[0] = 'R';
				f[1] = CHORUS_RAFT_WIRE_VERSION;
			}
		} else {
			for (uint32_t k = rng_below(&rng, 4) + 1; k > 0; k--)
				f[rng_below(&rng, (uint32_t)flen)] = (uint8_t)rng_next(&rng);
			if (i % 3 == 0)
				flen = rng_below(&rng, (uint32_t)flen + 8);
		}
		if (raft_msg_decode(&d, ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, f, flen) == 0) {
			static uint8_t g[CHORUS_RAFT_MSG_MAX];

			/* Accepted input is valid and canonical: it re-encodes to itself. */
			accepted++;
			crashed |= raft_msg_validate(&d) != 0 ||
			           raft_msg_encode(&d, g, sizeof(g)) != (int)flen || memcmp(g, f, flen) != 0;
		}
	}
	ok(!crashed, "wire fuzz: 200000 random/mutated inputs; the %d accepted ones are valid and canonical",
	   accepted);
}

static void test_boot(void)
{
	static const uint64_t terms[] = { 1, 1, 2 };
	struct raft *r = lone(1, terms, 3, 3);

	ok(r != NULL && raft_term(r) == 2 && st(r).vote == 0,
	   "boot: entries newer than the persisted term raise the term, with no vote");
	raft_destroy(r);
	{
		struct raft_boot b;
		struct raft_config c = net_cfg(1, 1, 1);
		struct raft_entry e[2] = { { 1, 1, 0, 0, NULL }, { 3, 1, 0, 0, NULL } };

		memset(&b, 0, sizeof(b));
		conf_set(&b.snap.conf, 3);
		b.entries = e;
		b.nentries = 2;
		ok(raft_create(&r, &c, &b) == CORE_ERR_MALFORMED && r == NULL, "boot: a gap in the entries is refused");
		e[1].index = 2;
		b.hs.commit = 5;
		ok(raft_create(&r, &c, &b) == CORE_ERR_MALFORMED, "boot: a commit past the log is refused");
		c.heartbeat_ticks = c.election_ticks;
		b.hs.commit = 0;
		ok(raft_create(&r, &c, &b) == CORE_ERR_INVAL, "boot: heartbeat >= election timeout is refused");
	}
}

/* Issue 14: the voter set is chosen by the operator, never announced. */
static void test_chosen_voters(void)
{
	struct bootstrap_cand c[4] = { { 1, 'p', 7 }, { 2, 0, 0 }, { 3, 'p', 7 }, { 9, 'b', 5 } };
	uint64_t listed[] = { 1, 3, 5 }, conf[] = { 1, 3 }, cands[] = { 2, 4, 5, 9 };
	uint64_t removed[] = { 5 };
	size_t n = bootstrap_keep_listed(c, 4, listed, 3);

	ok(n == 2 && c[0].id == 1 && c[1].id == 3, "bootstrap keeps only the listed candidates");
	ok(bootstrap_keep_listed(c, 2, NULL, 0) == 2, "no list: every candidate is kept");
	ok(bootstrap_voter_to_add(conf, 2, cands, 4, NULL, 0, NULL, 0) == 0,
	   "nothing listed: an announced candidate is never added");
	ok(bootstrap_voter_to_add(conf, 2, cands, 4, listed, 3, NULL, 0) == 5,
	   "a listed alive candidate missing from the configuration is added");
	ok(bootstrap_voter_to_add(conf, 2, cands, 4, listed, 3, removed, 1) == 0,
	   "a listed candidate the operator removed is not added back");
	ok(bootstrap_voter_to_add(conf, 2, cands, 2, listed, 3, NULL, 0) == 0,
	   "strangers (2, 4) announcing the role are not added");
}

int main(void)
{
	test_election();
	test_vote_rules();
	test_no_vote();
	test_dueling();
	test_figure7();
	test_figure8();
	test_prevote();
	test_check_quorum();
	test_transfer();
	test_membership();
	test_removed_knows();
	test_force_new_cluster();
	test_snapshot();
	test_inflight();
	test_probe_after_reject();
	test_wire();
	test_wire_fuzz();
	test_boot();
	test_chosen_voters();
	return tap_done();
}

/*
 * raft: leader election, log replication, membership and snapshots, as a
 * state machine driven by ticks and messages (etcd-io/raft's shape:
 * tick/step/ready/advance).  Effects are queued in an outbox and handed out
 * by raft_ready() together with what must be made durable first.
 *
 * Invariants (asserted, and checked by raft_check): a leader's term is the
 * term of its own election and it never truncates its log; commit only
 * moves forward and never past the last index; a leader commits by counting
 * replicas only for an entry of its own term (§5.4.2); at most one
 * configuration change is uncommitted; a vote is given at most once per
 * term and only to a log at least as up to date as ours.
 */
#include <stdlib.h>

#include "raft-internal.h"

static void raft_bcast_append(struct raft *r, int send_empty);
static int raft_send_append(struct raft *r, struct raft_progress *pr, int send_empty);

void raft_config_defaults(struct raft_config *cfg, uint64_t id, uint64_t seed)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->id = id;
	cfg->seed = seed;
	/* etcd's defaults: an election after 10-20 quiet ticks, a heartbeat every tick. */
	cfg->election_ticks = 10;
	cfg->heartbeat_ticks = 1;
	cfg->inflight_max = 8;
	cfg->append_bytes_max = CHORUS_RAFT_APPEND_BYTES_MAX;
	cfg->pre_vote = 1;
	cfg->check_quorum = 1;
}

static int raft_config_valid(const struct raft_config *c)
{
	return c->id != RAFT_NONE && c->election_ticks >= 2 && c->heartbeat_ticks >= 1 &&
	       c->heartbeat_ticks < c->election_ticks && c->election_ticks <= 1000000 &&
	       c->inflight_max >= 1 && c->inflight_max <= CHORUS_RAFT_INFLIGHT_MAX &&
	       c->append_bytes_max >= CHORUS_RAFT_ENTRY_HEADER &&
	       c->append_bytes_max <= CHORUS_RAFT_APPEND_BYTES_MAX;
}

/* ---------------------------------------------------------------- small helpers */

static uint32_t raft_quorum(const struct raft_conf *c)
{
	return c->n / 2 + 1;
}

/* A voter of the configuration that may vote: one whose durable state was lost never does. */
static int raft_promotable(const struct raft *r)
{
	return raft_conf_has(&r->conf, r->id) && !r->cfg.no_vote && !r->removed;
}

static struct raft_progress *raft_progress_find(struct raft *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->npr; i++) {
		if (r->pr[i].id == id)
			return &r->pr[i];
	}
	return NULL;
}

static uint64_t raft_term_of(const struct raft *r, uint64_t index)
{
	uint64_t t = 0;

	if (raft_log_term(&r->log, index, &t) != 0)
		return 0; /* no entry: never equal to a real term (terms start at 1) */
	return t;
}

/* Queues m (from us, at our term unless set); a full outbox drops it like a lossy link. */
static void raft_send(struct raft *r, struct raft_msg *m, uint64_t ent_lo, uint64_t ent_last_term)
{
	struct raft_out *o;

	assert(m->to != RAFT_NONE && m->to != r->id);
	m->from = r->id;
	if (m->term == 0)
		m->term = r->term;
	if (r->nout == CHORUS_RAFT_OUTBOX_MAX) {
		r->stats.drop_outbox++;
		return;
	}
	o = &r->outbox[r->nout++];
	o->m = *m;
	o->m.entries = NULL;
	o->ent_lo = ent_lo;
	o->ent_last_term = ent_last_term;
	r->stats.msgs_out++;
}

static void raft_send_simple(struct raft *r, int type, uint64_t to, uint64_t term, uint64_t index,
                             uint8_t flags)
{
	struct raft_msg m;

	memset(&m, 0, sizeof(m));
	m.type = (uint8_t)type;
	m.to = to;
	m.term = term;
	m.index = index;
	m.flags = flags;
	raft_send(r, &m, 0, 0);
}

/* ---------------------------------------------------------------- configuration */

/* The configuration in effect at index: the last CONF entry up to it, else the snapshot's. */
static void raft_conf_at(const struct raft *r, uint64_t index, struct raft_conf *c,
                         uint64_t *conf_index)
{
	for (uint64_t i = index; i > r->log.snap_index; i--) {
		const struct raft_entry *e = raft_log_at(&r->log, i);

		if (e->type == RAFT_ENTRY_CONF) {
			int err = raft_conf_decode(c, e->data, e->len);

			/* Only validated entries reach the log. */
			assert(err == 0);
			(void)err;
			*conf_index = i;
			return;
		}
	}
	*c = r->snap_conf;
	*conf_index = r->log.snap_index;
}

/* The leader tracks exactly the voters other than itself. */
static void raft_progress_sync(struct raft *r)
{
	struct raft_progress old[CHORUS_RAFT_VOTERS_MAX];
	uint32_t nold = r->npr;

	memcpy(old, r->pr, sizeof(old));
	r->npr = 0;
	for (uint32_t i = 0; i < r->conf.n; i++) {
		uint64_t id = r->conf.ids[i];
		struct raft_progress *pr;
		uint32_t j;

		if (id == r->id)
			continue;
		pr = &r->pr[r->npr++];
		for (j = 0; j < nold && old[j].id != id; j++)
			;
		if (j < nold) {
			*pr = old[j];
			continue;
		}
		memset(pr, 0, sizeof(*pr));
		pr->id = id;
		pr->next = raft_log_last_index(&r->log) + 1;
		pr->recent_active = 1;
	}
	if (r->transferee != RAFT_NONE && !raft_conf_has(&r->conf, r->transferee))
		r->transferee = RAFT_NONE;
	assert(r->npr <= CHORUS_RAFT_VOTERS_MAX);
}

/* A configuration takes effect when its entry is appended (or truncated away). */
static void raft_conf_reload(struct raft *r)
{
	raft_conf_at(r, raft_log_last_index(&r->log), &r->conf, &r->conf_index);
	if (r->removed && r->conf_index > r->removed_index && raft_conf_has(&r->conf, r->id))
		r->removed = 0; /* the operator added us back */
	if (r->state == RAFT_LEADER)
		raft_progress_sync(r);
}

/* ---------------------------------------------------------------- progress */

static void raft_pr_reset_inflight(struct raft_progress *pr)
{
	pr->inflight_start = 0;
	pr->inflight_n = 0;
}

static void raft_pr_become_probe(struct raft_progress *pr)
{
	/* After a snapshot, the follower has at least the snapshot. */
	if (pr->state == RAFT_PR_SNAPSHOT && pr->pending_snapshot + 1 > pr->match + 1)
		pr->next = pr->pending_snapshot + 1;
	else
		pr->next = pr->match + 1;
	pr->state = RAFT_PR_PROBE;
	pr->probe_sent = 0;
	pr->pending_snapshot = 0;
	raft_pr_reset_inflight(pr);
}

static void raft_pr_become_replicate(struct raft_progress *pr)
{
	pr->state = RAFT_PR_REPLICATE;
	pr->next = pr->match + 1;
	pr->probe_sent = 0;
	pr->pending_snapshot = 0;
	raft_pr_reset_inflight(pr);
}

static int raft_pr_paused(const struct raft *r, const struct raft_progress *pr)
{
	switch (pr->state) {
	case RAFT_PR_PROBE: return pr->probe_sent;
	case RAFT_PR_REPLICATE: return pr->inflight_n >= r->cfg.inflight_max;
	default: return 1;
	}
}

static void raft_pr_inflight_add(const struct raft *r, struct raft_progress *pr, uint64_t last)
{
	assert(pr->inflight_n < r->cfg.inflight_max);
	pr->inflight[(pr->inflight_start + pr->inflight_n) % CHORUS_RAFT_INFLIGHT_MAX] = last;
	pr->inflight_n++;
}

/* An acknowledgement up to index frees every AppendEntries that ended at or below it. */
static void raft_pr_inflight_free_to(struct raft_progress *pr, uint64_t index)
{
	while (pr->inflight_n > 0 && pr->inflight[pr->inflight_start] <= index) {
		pr->inflight_start = (pr->inflight_start + 1) % CHORUS_RAFT_INFLIGHT_MAX;
		pr->inflight_n--;
	}
}

static int raft_pr_maybe_update(struct raft_progress *pr, uint64_t index)
{
	int updated = 0;

	if (pr->match < index) {
		pr->match = index;
		pr->probe_sent = 0;
		updated = 1;
	}
	if (pr->next < index + 1)
		pr->next = index + 1;
	return updated;
}

/*
 * A rejection of the AppendEntries after `m->index`.  The follower's hint is
 * the conflicting term and the first index it holds of that term: if we have
 * that term too, resume after our last entry of it, otherwise at the hint;
 * either way one round trip skips a whole term (§5.3's optimisation).
 */
static int raft_pr_maybe_decr(struct raft *r, struct raft_progress *pr, const struct raft_msg *m)
{
	uint64_t rejected = m->index, next;

	if (pr->state == RAFT_PR_REPLICATE) {
		if (rejected <= pr->match)
			return 0; /* stale: that was already matched */
	} else if (rejected != pr->next - 1) {
		return 0; /* stale: not our current probe */
	}
	next = m->hint_index;
	if (m->hint_term != 0) {
		uint64_t last = raft_log_term_last(&r->log, m->hint_term);

		if (last != 0)
			next = last + 1;
	}
	if (next > rejected)
		next = rejected;
	if (next < pr->match + 1)
		next = pr->match + 1;
	pr->next = next;
	pr->probe_sent = 0;
	return 1;
}

/* ---------------------------------------------------------------- state changes */

static void raft_reset(struct raft *r, uint64_t term)
{
	if (r->term != term) {
		assert(term > r->term);
		r->term = term;
		r->vote = RAFT_NONE;
	}
	r->leader = RAFT_NONE;
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	r->election_timeout = r->cfg.election_ticks + rng_below(&r->rng, r->cfg.election_ticks);
	r->transferee = RAFT_NONE;
	r->transfer_ticks = 0;
	r->nvotes = 0;
	r->npr = 0;
}

static void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
	raft_reset(r, term);
	r->state = RAFT_FOLLOWER;
	r->leader = leader;
}

static int raft_maybe_commit(struct raft *r);
static void raft_leader_committed(struct raft *r);

static void raft_become_leader(struct raft *r)
{
	uint64_t index;
	int err;

	assert(r->state == RAFT_CANDIDATE);
	raft_reset(r, r->term);
	r->state = RAFT_LEADER;
	r->leader = r->id;
	raft_progress_sync(r);
	r->stats.leaderships++;
	/*
	 * No configuration change until the no-op below commits: a change must
	 * not be proposed before an entry of this term is committed (the
	 * single-server change bug, raft-dev 2015).
	 */
	index = raft_log_last_index(&r->log) + 1;
	r->pending_conf_index = index;
	/* Entries of earlier terms commit only through an entry of ours (§5.4.2). */
	err = raft_log_append(&r->log, r->term, RAFT_ENTRY_NOOP, NULL, 0);
	if (err != 0)
		r->pending_conf_index = index - 1; /* log full: still leads; proposals will fail */
	raft_bcast_append(r, 1);
	/* A leader alone in its configuration is its own quorum: nobody's answer will commit it. */
	if (err == 0 && raft_maybe_commit(r))
		raft_leader_committed(r);
	assert(r->leader == r->id);
}

/* Records one answer; 1 won, -1 lost, 0 undecided. */
static int raft_poll(struct raft *r, uint64_t from, int granted)
{
	uint32_t yes = 0, no = 0, i;

	for (i = 0; i < r->nvotes && r->vote_from[i] != from; i++)
		;
	if (i == r->nvotes && r->nvotes < CHORUS_RAFT_VOTERS_MAX && raft_conf_has(&r->conf, from)) {
		r->vote_from[r->nvotes] = from;
		r->vote_granted[r->nvotes++] = (uint8_t)granted;
	}
	for (i = 0; i < r->nvotes; i++) {
		if (!raft_conf_has(&r->conf, r->vote_from[i]))
			continue;
		if (r->vote_granted[i])
			yes++;
		else
			no++;
	}
	if (yes >= raft_quorum(&r->conf))
		return 1;
	return no >= raft_quorum(&r->conf) ? -1 : 0;
}

/* pre: a pre-vote round (term not raised); transfer: asked by TimeoutNow. */
static void raft_campaign(struct raft *r, int pre, int transfer)
{
	uint64_t term;
	int type;

	assert(raft_promotable(r));
	if (pre) {
		r->state = RAFT_PRE_CANDIDATE;
		r->leader = RAFT_NONE;
		r->nvotes = 0;
		term = r->term + 1;
		type = RAFT_MSG_PRE_VOTE;
		r->stats.pre_elections++;
	} else {
		raft_reset(r, r->term + 1);
		r->state = RAFT_CANDIDATE;
		r->vote = r->id;
		term = r->term;
		type = RAFT_MSG_VOTE;
		r->stats.elections++;
	}
	if (raft_poll(r, r->id, 1) == 1) {
		if (pre)
			raft_campaign(r, 0, transfer);
		else
			raft_become_leader(r);
		return;
	}
	for (uint32_t i = 0; i < r->conf.n; i++) {
		struct raft_msg m;

		if (r->conf.ids[i] == r->id)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = (uint8_t)type;
		m.to = r->conf.ids[i];
		m.term = term;
		m.index = raft_log_last_index(&r->log);
		m.log_term = raft_log_last_term(&r->log);
		m.flags = transfer ? RAFT_MSG_TRANSFER : 0;
		raft_send(r, &m, 0, 0);
	}
}

/* ---------------------------------------------------------------- leader: replication */

static int raft_send_snapshot(struct raft *r, struct raft_progress *pr)
{
	struct raft_msg m;

	assert(r->log.snap_index > 0);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_SNAPSHOT;
	m.to = pr->id;
	m.snap.index = r->log.snap_index;
	m.snap.term = r->log.snap_term;
	m.snap.conf = r->snap_conf;
	m.snap.len = r->snap_len; /* the bytes are attached by raft_ready() */
	raft_send(r, &m, 0, 0);
	pr->state = RAFT_PR_SNAPSHOT;
	pr->pending_snapshot = r->log.snap_index;
	pr->snap_ticks = 0;
	raft_pr_reset_inflight(pr);
	r->stats.snapshots_sent++;
	return 1;
}

/* One AppendEntries (a batch bounded in count and bytes) to pr; 1 when sent. */
static int raft_send_append(struct raft *r, struct raft_progress *pr, int send_empty)
{
	uint64_t prev = pr->next - 1, prev_term, last = raft_log_last_index(&r->log), i;
	size_t bytes = 0;
	uint32_t n = 0;
	struct raft_msg m;

	assert(r->state == RAFT_LEADER && pr->next >= 1);
	if (raft_pr_paused(r, pr))
		return 0;
	if (raft_log_term(&r->log, prev, &prev_term) != 0)
		return raft_send_snapshot(r, pr); /* compacted away: only a snapshot helps */
	for (i = pr->next; i <= last && n < CHORUS_RAFT_APPEND_ENTRIES_MAX; i++) {
		size_t b = CHORUS_RAFT_ENTRY_HEADER + raft_log_at(&r->log, i)->len;

		if (n > 0 && bytes + b > r->cfg.append_bytes_max)
			break;
		bytes += b;
		n++;
	}
	if (n == 0 && !send_empty)
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND;
	m.to = pr->id;
	m.index = prev;
	m.log_term = prev_term;
	m.commit = r->log.committed;
	m.nentries = n;
	raft_send(r, &m, pr->next, n > 0 ? raft_log_at(&r->log, prev + n)->term : 0);
	if (pr->state == RAFT_PR_REPLICATE && n > 0) {
		/* Optimistic: pipeline the next batch before this one is acknowledged. */
		pr->next = prev + n + 1;
		raft_pr_inflight_add(r, pr, prev + n);
	} else if (pr->state == RAFT_PR_PROBE) {
		pr->probe_sent = 1;
	}
	r->stats.appends_sent++;
	r->stats.entries_sent += n;
	return 1;
}

static void raft_bcast_append(struct raft *r, int send_empty)
{
	for (uint32_t i = 0; i < r->npr; i++)
		raft_send_append(r, &r->pr[i], send_empty);
}

static void raft_bcast_heartbeat(struct raft *r)
{
	for (uint32_t i = 0; i < r->npr; i++) {
		struct raft_msg m;
		uint64_t commit = r->pr[i].match < r->log.committed ? r->pr[i].match : r->log.committed;

		/* Never more than the follower is known to match: its suffix may diverge. */
		memset(&m, 0, sizeof(m));
		m.type = RAFT_MSG_HEARTBEAT;
		m.to = r->pr[i].id;
		m.commit = commit;
		raft_send(r, &m, 0, 0);
	}
}

/* The voter whose log matches ours furthest: the best successor. */
static struct raft_progress *raft_best_follower(struct raft *r)
{
	struct raft_progress *best = NULL;

	for (uint32_t i = 0; i < r->npr; i++) {
		if (best == NULL || r->pr[i].match > best->match)
			best = &r->pr[i];
	}
	return best;
}

/* After commit moved: a leader removed from the configuration leaves once that commits. */
static void raft_leader_committed(struct raft *r)
{
	struct raft_progress *best;

	if (raft_promotable(r) || r->log.committed < r->conf_index)
		return;
	raft_bcast_append(r, 1); /* tell followers the new commit index */
	best = raft_best_follower(r);
	if (best != NULL && best->match == raft_log_last_index(&r->log))
		raft_send_simple(r, RAFT_MSG_TIMEOUT_NOW, best->id, 0, 0, 0);
	r->stats.step_downs_removed++;
	raft_become_follower(r, r->term, RAFT_NONE);
}

/* Commit the highest index a quorum holds, if it is of our term; 1 when commit moved. */
static int raft_maybe_commit(struct raft *r)
{
	uint64_t match[CHORUS_RAFT_VOTERS_MAX], q;
	uint32_t n = 0;

	assert(r->state == RAFT_LEADER && r->conf.n > 0);
	for (uint32_t i = 0; i < r->conf.n; i++) {
		uint64_t id = r->conf.ids[i];
		struct raft_progress *pr = raft_progress_find(r, id);

		assert(id == r->id || pr != NULL);
		match[n++] = id == r->id ? raft_log_last_index(&r->log) : pr->match;
	}
	/* Insertion sort, descending: n is at most CHORUS_RAFT_VOTERS_MAX. */
	for (uint32_t i = 1; i < n; i++) {
		for (uint32_t j = i; j > 0 && match[j] > match[j - 1]; j--) {
			uint64_t t = match[j];

			match[j] = match[j - 1];
			match[j - 1] = t;
		}
	}
	q = match[raft_quorum(&r->conf) - 1];
	if (q <= r->log.committed || raft_term_of(r, q) != r->term)
		return 0;
	r->log.committed = q;
	return 1;
}

/* ---------------------------------------------------------------- leader: responses */

static void raft_leader_on_append_resp(struct raft *r, struct raft_progress *pr,
                                       const struct raft_msg *m)
{
	int was_paused = raft_pr_paused(r, pr);

	pr->recent_active = 1;
	if (m->flags & RAFT_MSG_REJECT) {
		r->stats.rejects_received++;
		if (raft_pr_maybe_decr(r, pr, m)) {
			if (pr->state == RAFT_PR_REPLICATE)
				raft_pr_become_probe(pr);
			raft_send_append(r, pr, 1);
		}
		return;
	}
	if (m->index > raft_log_last_index(&r->log))
		return; /* claims more than we ever sent: ignore */
	if (!raft_pr_maybe_update(pr, m->index))
		return;
	if (pr->state == RAFT_PR_PROBE ||
	    (pr->state == RAFT_PR_SNAPSHOT && pr->match >= pr->pending_snapshot))
		raft_pr_become_replicate(pr);
	else if (pr->state == RAFT_PR_REPLICATE)
		raft_pr_inflight_free_to(pr, m->index);
	if (raft_maybe_commit(r)) {
		raft_bcast_append(r, 1);
		raft_leader_committed(r);
		if (r->state != RAFT_LEADER)
			return;
	} else if (was_paused) {
		raft_send_append(r, pr, 0);
	}
	while (raft_send_append(r, pr, 0))
		;
	if (m->from == r->transferee && pr->match == raft_log_last_index(&r->log))
		raft_send_simple(r, RAFT_MSG_TIMEOUT_NOW, pr->id, 0, 0, 0);
}

static void raft_leader_on_heartbeat_resp(struct raft *r, struct raft_progress *pr)
{
	pr->recent_active = 1;
	pr->probe_sent = 0;
	/* A lost AppendEntries must not stall a full window forever: free one slot. */
	if (pr->state == RAFT_PR_REPLICATE && pr->inflight_n >= r->cfg.inflight_max) {
		pr->inflight_start = (pr->inflight_start + 1) % CHORUS_RAFT_INFLIGHT_MAX;
		pr->inflight_n--;
	}
	if (pr->match < raft_log_last_index(&r->log))
		raft_send_append(r, pr, 1);
}

static void raft_step_leader(struct raft *r, const struct raft_msg *m)
{
	struct raft_progress *pr = raft_progress_find(r, m->from);

	if (pr == NULL)
		return; /* not a voter (any more) */
	if (m->type == RAFT_MSG_APPEND_RESP)
		raft_leader_on_append_resp(r, pr, m);
	else if (m->type == RAFT_MSG_HEARTBEAT_RESP)
		raft_leader_on_heartbeat_resp(r, pr);
}

/* ---------------------------------------------------------------- follower */

static void raft_commit_to(struct raft *r, uint64_t commit)
{
	if (commit <= r->log.committed)
		return;
	assert(commit <= raft_log_last_index(&r->log));
	r->log.committed = commit;
}

/* Appends what we lack of m's entries, replacing a conflicting suffix. */
static int raft_append_from(struct raft *r, const struct raft_msg *m)
{
	int conf_changed = 0, err = 0;

	for (uint32_t i = 0; i < m->nentries && err == 0; i++) {
		const struct raft_entry *e = &m->entries[i];

		if (e->index <= raft_log_last_index(&r->log)) {
			if (raft_term_of(r, e->index) == e->term)
				continue;
			/* Only uncommitted entries can conflict with a valid leader. */
			if (e->index <= r->log.committed)
				return CORE_ERR_STALE;
			raft_log_truncate(&r->log, e->index);
			conf_changed = 1;
		}
		err = raft_log_append(&r->log, e->term, e->type, e->data, e->len);
		conf_changed |= e->type == RAFT_ENTRY_CONF;
	}
	if (conf_changed)
		raft_conf_reload(r);
	return err;
}

static void raft_handle_append(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg resp;
	uint64_t last = raft_log_last_index(&r->log), lastnew;

	memset(&resp, 0, sizeof(resp));
	resp.type = RAFT_MSG_APPEND_RESP;
	resp.to = m->from;
	if (m->index < r->log.committed) {
		resp.index = r->log.committed; /* old news: tell the leader where we are */
	} else if (m->index <= last && raft_term_of(r, m->index) == m->log_term) {
		if (raft_append_from(r, m) != 0) {
			r->stats.drop_invalid++;
			return;
		}
		lastnew = m->index + m->nentries;
		raft_commit_to(r, m->commit < lastnew ? m->commit : lastnew);
		resp.index = lastnew;
	} else if (m->index <= r->log.snap_index) {
		/*
		 * Another term at our snapshot's index: that entry is committed, so
		 * no valid leader says so.  Dropped and counted; the hint below would
		 * look up an entry the log no longer holds (found by fuzz-raft).
		 */
		r->stats.drop_invalid++;
		return;
	} else {
		resp.flags = RAFT_MSG_REJECT;
		resp.index = m->index;
		if (m->index > last) {
			resp.hint_index = last + 1; /* our log is short: resume after its end */
		} else {
			resp.hint_term = raft_term_of(r, m->index);
			resp.hint_index = raft_log_term_first(&r->log, m->index);
		}
	}
	raft_send(r, &resp, 0, 0);
}

static void raft_handle_snapshot(struct raft *r, const struct raft_msg *m)
{
	uint8_t *copy = NULL;

	if (m->snap.index > r->log.committed && raft_term_of(r, m->snap.index) == m->snap.term) {
		raft_commit_to(r, m->snap.index); /* we hold it already: just commit */
	} else if (m->snap.index > r->log.committed) {
		if (m->snap.len > 0 && (copy = malloc(m->snap.len)) == NULL)
			return; /* out of memory: the leader will retry */
		if (m->snap.len > 0)
			memcpy(copy, m->snap.data, m->snap.len);
		free(r->snap_data);
		r->snap_data = copy;
		r->snap_len = m->snap.len;
		r->snap_conf = m->snap.conf;
		r->snap_unsaved = 1;
		raft_log_reset(&r->log, m->snap.index, m->snap.term);
		raft_conf_reload(r);
		r->stats.snapshots_installed++;
	}
	raft_send_simple(r, RAFT_MSG_APPEND_RESP, m->from, 0, r->log.committed, 0);
}

static void raft_step_follower(struct raft *r, const struct raft_msg *m)
{
	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		r->election_elapsed = 0;
		r->leader = m->from;
		if (m->type == RAFT_MSG_APPEND) {
			raft_handle_append(r, m);
		} else if (m->type == RAFT_MSG_SNAPSHOT) {
			raft_handle_snapshot(r, m);
		} else {
			uint64_t last = raft_log_last_index(&r->log);

			raft_commit_to(r, m->commit < last ? m->commit : last);
			raft_send_simple(r, RAFT_MSG_HEARTBEAT_RESP, m->from, 0, 0, 0);
		}
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		/* Leadership transfer: no pre-vote, and voters ignore their lease. */
		if (raft_promotable(r))
			raft_campaign(r, 0, 1);
		break;
	default:
		break; /* a late response to an earlier role */
	}
}

static void raft_step_candidate(struct raft *r, const struct raft_msg *m)
{
	int res;

	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		/* Someone won this term. */
		raft_become_follower(r, m->term, m->from);
		raft_step_follower(r, m);
		return;
	case RAFT_MSG_PRE_VOTE_RESP:
		if (r->state != RAFT_PRE_CANDIDATE)
			return;
		/* Grants echo the term we asked for; refusals carry the voter's (= ours). */
		if (!(m->flags & RAFT_MSG_REJECT) ? m->term != r->term + 1 : m->term != r->term)
			return;
		break;
	case RAFT_MSG_VOTE_RESP:
		if (r->state != RAFT_CANDIDATE)
			return;
		break;
	default:
		return;
	}
	res = raft_poll(r, m->from, !(m->flags & RAFT_MSG_REJECT));
	if (res == 1 && r->state == RAFT_PRE_CANDIDATE)
		raft_campaign(r, 0, 0);
	else if (res == 1)
		raft_become_leader(r);
	else if (res == -1)
		raft_become_follower(r, r->term, RAFT_NONE);
}

/* ---------------------------------------------------------------- step */

static void raft_on_vote_request(struct raft *r, const struct raft_msg *m)
{
	int pre = m->type == RAFT_MSG_PRE_VOTE;
	int can = r->vote == m->from || (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
	          (pre && m->term > r->term);
	int type = pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;

	/* No memory of our votes (cfg.no_vote): a grant now could be a second one in a term. */
	if (can && !r->cfg.no_vote && raft_log_up_to_date(&r->log, m->index, m->log_term)) {
		if (!pre) {
			assert(m->term == r->term);
			r->election_elapsed = 0;
			r->vote = m->from;
		}
		raft_send_simple(r, type, m->from, m->term, 0, 0);
	} else {
		raft_send_simple(r, type, m->from, r->term, 0, RAFT_MSG_REJECT);
	}
}

/* Term rules common to every state; 0 when the message is consumed. */
static int raft_step_term(struct raft *r, const struct raft_msg *m)
{
	if (m->term > r->term) {
		int vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
		int lease = r->cfg.check_quorum && r->leader != RAFT_NONE &&
		            r->election_elapsed < r->cfg.election_ticks;

		/* Within the lease we heard from a live leader: a rejoining node cannot depose it. */
		if (vote && lease && !(m->flags & RAFT_MSG_TRANSFER))
			return 0;
		if (m->type == RAFT_MSG_PRE_VOTE)
			return 1; /* never raise our term for a pre-vote */
		if (m->type == RAFT_MSG_PRE_VOTE_RESP && !(m->flags & RAFT_MSG_REJECT))
			return 1; /* a grant for the term we would use */
		if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
		    m->type == RAFT_MSG_SNAPSHOT)
			raft_become_follower(r, m->term, m->from);
		else
			raft_become_follower(r, m->term, RAFT_NONE);
		return 1;
	}
	if (m->term < r->term) {
		/*
		 * A stale leader: answer so that it learns the newer term and steps
		 * down (with check-quorum a vote may not carry the term to it).
		 */
		if ((r->cfg.check_quorum || r->cfg.pre_vote) &&
		    (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT))
			raft_send_simple(r, RAFT_MSG_APPEND_RESP, m->from, 0, 0, 0);
		else if (m->type == RAFT_MSG_PRE_VOTE)
			raft_send_simple(r, RAFT_MSG_PRE_VOTE_RESP, m->from, 0, 0, RAFT_MSG_REJECT);
		r->stats.drop_stale++;
		return 0;
	}
	return 1;
}

/*
 * A removed voter never hears the entry that removes it (the leader drops
 * its progress as it appends it), and within the lease nobody answers its
 * campaigns: it would stay a pre-candidate forever.  So a voter whose latest
 * configuration is committed and lacks the candidate, while the candidate's
 * log stops before that configuration (a voter added later would hold the
 * entry that adds it, past ours), says "removed"; a candidate told so by a
 * voter of its own configuration stops campaigning.  1: consumed.
 */
static int raft_step_removed(struct raft *r, const struct raft_msg *m)
{
	int vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
	int resp = m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PRE_VOTE_RESP;

	if (m->from == RAFT_NONE || m->from == r->id)
		return 0;
	if (vote && raft_conf_has(&r->conf, r->id) && !raft_conf_has(&r->conf, m->from) &&
	    r->conf_index > 0 && r->conf_index <= r->log.committed && m->index < r->conf_index) {
		raft_send_simple(r, m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PRE_VOTE_RESP,
		                 m->from, m->term, 0, RAFT_MSG_REJECT | RAFT_MSG_REMOVED);
		return 1;
	}
	if (resp && (m->flags & RAFT_MSG_REMOVED)) {
		if (raft_conf_has(&r->conf, m->from) && r->state != RAFT_LEADER && !r->removed) {
			r->removed = 1;
			r->removed_index = raft_log_last_index(&r->log);
			raft_become_follower(r, r->term, RAFT_NONE);
		}
		return 1;
	}
	return 0;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	int err = raft_msg_validate(m);

	assert(!r->in_ready);
	if (err == 0 && m->to != r->id)
		err = CORE_ERR_INVAL;
	if (err == 0 && m->term >= CHORUS_RAFT_PEER_TERM_MAX)
		err = CORE_ERR_MALFORMED; /* see limits.h: our campaigns need room above it */
	if (err != 0) {
		r->stats.drop_invalid++;
		return err;
	}
	r->stats.msgs_in++;
	if (raft_step_removed(r, m))
		return 0;
	if (!raft_step_term(r, m))
		return 0;
	if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE)
		raft_on_vote_request(r, m);
	else if (r->state == RAFT_FOLLOWER)
		raft_step_follower(r, m);
	else if (r->state == RAFT_LEADER)
		raft_step_leader(r, m);
	else
		raft_step_candidate(r, m);
	assert(r->state != RAFT_LEADER || r->leader == r->id);
	return 0;
}

/* ---------------------------------------------------------------- ticks */

/* Counts voters heard from this period (and ourselves) and starts a new period. */
static int raft_quorum_active(struct raft *r)
{
	uint32_t active = raft_promotable(r) ? 1 : 0;

	for (uint32_t i = 0; i < r->npr; i++) {
		active += r->pr[i].recent_active;
		r->pr[i].recent_active = 0;
	}
	return active >= raft_quorum(&r->conf);
}

static void raft_tick_leader(struct raft *r)
{
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->election_elapsed >= r->cfg.election_ticks) {
		r->election_elapsed = 0;
		if (r->cfg.check_quorum && !raft_quorum_active(r)) {
			/* Isolated: step down so that clients look elsewhere. */
			r->stats.step_downs_quorum++;
			raft_become_follower(r, r->term, RAFT_NONE);
			return;
		}
	}
	if (r->transferee != RAFT_NONE && ++r->transfer_ticks >= r->cfg.election_ticks)
		r->transferee = RAFT_NONE; /* the target did not take over in time */
	for (uint32_t i = 0; i < r->npr; i++) {
		/* A lost snapshot: try again (the next probe decides what to send). */
		if (r->pr[i].state == RAFT_PR_SNAPSHOT && ++r->pr[i].snap_ticks >= r->cfg.election_ticks)
			raft_pr_become_probe(&r->pr[i]);
	}
	if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		raft_bcast_heartbeat(r);
	}
}

void raft_tick(struct raft *r)
{
	assert(!r->in_ready);
	if (r->state == RAFT_LEADER) {
		raft_tick_leader(r);
		return;
	}
	r->election_elapsed++;
	if (raft_promotable(r) && r->election_elapsed >= r->election_timeout) {
		r->election_elapsed = 0;
		r->election_timeout = r->cfg.election_ticks + rng_below(&r->rng, r->cfg.election_ticks);
		raft_campaign(r, r->cfg.pre_vote, 0);
	}
}

/* ---------------------------------------------------------------- application calls */

static int raft_leader_append(struct raft *r, uint8_t type, const uint8_t *data, uint32_t len,
                              uint64_t *index)
{
	int err;

	if (r->state != RAFT_LEADER)
		return RAFT_ERR_NOT_LEADER;
	if (r->transferee != RAFT_NONE)
		return RAFT_ERR_BUSY; /* leadership is moving: propose to the next leader */
	if (raft_log_last_index(&r->log) - r->log.committed >= CHORUS_RAFT_UNCOMMITTED_MAX)
		return CORE_ERR_FULL;
	if ((err = raft_log_append(&r->log, r->term, type, data, len)) != 0)
		return err;
	if (index != NULL)
		*index = raft_log_last_index(&r->log);
	if (type == RAFT_ENTRY_CONF)
		raft_conf_reload(r);
	if (raft_maybe_commit(r))
		raft_leader_committed(r);
	/* Replication waits for raft_ready(): proposals made meanwhile share one batch. */
	return 0;
}

int raft_propose(struct raft *r, const uint8_t *data, uint32_t len, uint64_t *index)
{
	assert(!r->in_ready);
	if (len > CHORUS_RAFT_ENTRY_MAX)
		return CORE_ERR_OVERSIZE;
	if (len > 0 && data == NULL)
		return CORE_ERR_INVAL;
	return raft_leader_append(r, RAFT_ENTRY_NORMAL, data, len, index);
}

int raft_propose_conf(struct raft *r, int add, uint64_t id, uint64_t *index)
{
	struct raft_conf c = r->conf;
	uint8_t buf[4 + 8 * CHORUS_RAFT_VOTERS_MAX];
	uint32_t i;
	int len, err;

	assert(!r->in_ready);
	if (r->state != RAFT_LEADER)
		return RAFT_ERR_NOT_LEADER;
	if (id == RAFT_NONE || (add != 0) == raft_conf_has(&c, id))
		return CORE_ERR_INVAL;
	/* One change at a time: the previous one must have committed. */
	if (r->pending_conf_index > r->log.committed)
		return RAFT_ERR_BUSY;
	if (add && c.n == CHORUS_RAFT_VOTERS_MAX)
		return CORE_ERR_FULL;
	if (!add && c.n == 1)
		return CORE_ERR_INVAL;
	for (i = 0; i < c.n && c.ids[i] < id; i++)
		;
	if (add) {
		memmove(&c.ids[i + 1], &c.ids[i], (c.n - i) * sizeof(c.ids[0]));
		c.ids[i] = id;
		c.n++;
	} else {
		memmove(&c.ids[i], &c.ids[i + 1], (c.n - i - 1) * sizeof(c.ids[0]));
		c.n--;
	}
	len = raft_conf_encode(&c, buf, sizeof(buf));
	assert(len > 0);
	if ((err = raft_leader_append(r, RAFT_ENTRY_CONF, buf, (uint32_t)len, index)) != 0)
		return err;
	r->pending_conf_index = raft_log_last_index(&r->log);
	return 0;
}

int raft_force_new_cluster(struct raft *r)
{
	struct raft_conf c;
	uint8_t buf[4 + 8 * CHORUS_RAFT_VOTERS_MAX];
	int len, err;

	assert(!r->in_ready);
	if (r->state == RAFT_LEADER || r->leader != RAFT_NONE)
		return RAFT_ERR_BUSY;
	if (!raft_conf_has(&r->conf, r->id) || r->removed || r->cfg.no_vote)
		return CORE_ERR_INVAL; /* only a voter in good standing may speak for the cluster */
	memset(&c, 0, sizeof c);
	c.n = 1;
	c.ids[0] = r->id;
	if ((len = raft_conf_encode(&c, buf, sizeof buf)) < 0)
		return CORE_ERR_INVAL;
	/* r->term >= the last entry's term, so the log stays ordered; ready() persists it. */
	if ((err = raft_log_append(&r->log, r->term, RAFT_ENTRY_CONF, buf, (uint32_t)len)) != 0)
		return err;
	raft_conf_reload(r);
	r->pending_conf_index = raft_log_last_index(&r->log);
	r->election_elapsed = r->election_timeout; /* campaign (alone) at the next tick */
	return 0;
}

int raft_transfer(struct raft *r, uint64_t to)
{
	struct raft_progress *pr;

	assert(!r->in_ready);
	if (r->state != RAFT_LEADER)
		return RAFT_ERR_NOT_LEADER;
	if ((pr = raft_progress_find(r, to)) == NULL)
		return CORE_ERR_INVAL; /* ourselves, or not a voter */
	r->transferee = to;
	r->transfer_ticks = 0;
	r->stats.transfers++;
	/* Catch it up first; the TimeoutNow goes when its match reaches our last index. */
	if (pr->match == raft_log_last_index(&r->log))
		raft_send_simple(r, RAFT_MSG_TIMEOUT_NOW, to, 0, 0, 0);
	else
		raft_send_append(r, pr, 1);
	return 0;
}

int raft_campaign_now(struct raft *r)
{
	assert(!r->in_ready);
	if (r->state == RAFT_LEADER || !raft_promotable(r))
		return CORE_ERR_INVAL;
	raft_campaign(r, r->cfg.pre_vote, 0);
	return 0;
}

int raft_compact(struct raft *r, uint64_t index, const uint8_t *data, uint32_t len)
{
	struct raft_conf c;
	uint64_t conf_index, term;
	uint8_t *copy = NULL;

	assert(!r->in_ready);
	if (len > CHORUS_RAFT_SNAPSHOT_MAX)
		return CORE_ERR_OVERSIZE;
	if (index <= r->log.snap_index)
		return CORE_ERR_STALE;
	if (index > r->log.applied || (len > 0 && data == NULL))
		return CORE_ERR_INVAL;
	if (len > 0 && (copy = malloc(len)) == NULL)
		return CORE_ERR_NOMEM;
	if (len > 0)
		memcpy(copy, data, len);
	raft_conf_at(r, index, &c, &conf_index);
	term = raft_log_at(&r->log, index)->term;
	raft_log_compact(&r->log, index, term);
	free(r->snap_data);
	r->snap_data = copy;
	r->snap_len = len;
	r->snap_conf = c;
	raft_conf_reload(r); /* the configuration entry may now live in the snapshot */
	r->stats.compactions++;
	assert(r->log.snap_index == index);
	return 0;
}

/* ---------------------------------------------------------------- lifecycle */

static int raft_boot_entries(struct raft *r, const struct raft_boot *b)
{
	uint64_t expect = b->snap.index + 1;

	for (size_t i = 0; i < b->nentries; i++) {
		const struct raft_entry *e = &b->entries[i];
		struct raft_conf c;
		int err;

		if (e->index <= b->snap.index) {
			/* Persisted before the snapshot that covers it: skip, but it must agree. */
			if (e->index == b->snap.index && e->term != b->snap.term)
				return CORE_ERR_MALFORMED;
			continue;
		}
		if (e->index != expect++ || e->term < raft_log_last_term(&r->log) ||
		    e->type >= RAFT_ENTRY_TYPE_END || e->len > CHORUS_RAFT_ENTRY_MAX ||
		    (e->len > 0 && e->data == NULL))
			return CORE_ERR_MALFORMED;
		if (e->type == RAFT_ENTRY_CONF && raft_conf_decode(&c, e->data, e->len) != 0)
			return CORE_ERR_MALFORMED;
		if ((err = raft_log_append(&r->log, e->term, e->type, e->data, e->len)) != 0)
			return err;
	}
	return 0;
}

/* Rebuilds the state the driver persisted (see struct raft_boot). */
static int raft_boot(struct raft *r, const struct raft_boot *b)
{
	struct raft_conf c = b->snap.conf;
	uint64_t commit = b->hs.commit, last_term;
	int err;

	if (b->snap.len > CHORUS_RAFT_SNAPSHOT_MAX)
		return CORE_ERR_OVERSIZE;
	if (!raft_conf_valid(&c) || (b->snap.len > 0 && !b->snap.data))
		return CORE_ERR_MALFORMED;
	raft_log_init(&r->log, b->snap.index, b->snap.term);
	if ((err = raft_boot_entries(r, b)) != 0)
		return err;
	/* Entries are written before the hard state, the snapshot before both. */
	if (commit < b->snap.index)
		commit = b->snap.index;
	if (commit > raft_log_last_index(&r->log))
		return CORE_ERR_MALFORMED;
	r->log.committed = commit;
	r->log.stable = raft_log_last_index(&r->log);
	if (b->snap.len > 0 && (r->snap_data = malloc(b->snap.len)) == NULL)
		return CORE_ERR_NOMEM;
	if (b->snap.len > 0)
		memcpy(r->snap_data, b->snap.data, b->snap.len);
	r->snap_len = b->snap.len;
	r->snap_conf = c;
	/*
	 * A crash between writing entries and the hard state can leave entries
	 * of a term the hard state never reached; nothing was sent in that term
	 * (messages wait for the hard state), so adopt it with no vote.
	 */
	last_term = raft_log_last_term(&r->log);
	r->term = b->hs.term > last_term ? b->hs.term : last_term;
	r->vote = r->term == b->hs.term ? b->hs.vote : RAFT_NONE;
	r->hs_saved = b->hs;
	raft_become_follower(r, r->term, RAFT_NONE);
	raft_conf_reload(r);
	return 0;
}

int raft_create(struct raft **out, const struct raft_config *cfg, const struct raft_boot *boot)
{
	struct raft *r;
	int err;

	*out = NULL;
	if (!raft_config_valid(cfg))
		return CORE_ERR_INVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CORE_ERR_NOMEM;
	r->outbox = calloc(CHORUS_RAFT_OUTBOX_MAX, sizeof(*r->outbox));
	r->rd_msgs = calloc(CHORUS_RAFT_OUTBOX_MAX, sizeof(*r->rd_msgs));
	if (r->outbox == NULL || r->rd_msgs == NULL) {
		raft_destroy(r);
		return CORE_ERR_NOMEM;
	}
	r->cfg = *cfg;
	r->id = cfg->id;
	rng_seed(&r->rng, cfg->seed);
	if ((err = raft_boot(r, boot)) != 0) {
		raft_destroy(r);
		return err;
	}
	assert(raft_check(r) == NULL);
	*out = r;
	return 0;
}

void raft_destroy(struct raft *r)
{
	if (r == NULL)
		return;
	raft_log_free(&r->log);
	free(r->snap_data);
	free(r->outbox);
	free(r->rd_msgs);
	free(r);
}

/* ---------------------------------------------------------------- ready / advance */

/*
 * Attaches entries and snapshot bytes to the queued messages.  A message
 * whose entries were replaced or compacted since it was queued is dropped
 * (the protocol recovers as from a lost message).
 */
static size_t raft_ready_msgs(struct raft *r)
{
	size_t n = 0;

	for (uint32_t i = 0; i < r->nout; i++) {
		struct raft_out *o = &r->outbox[i];
		struct raft_msg *m = &r->rd_msgs[n];
		uint64_t hi = o->ent_lo + o->m.nentries - 1;

		*m = o->m;
		if (m->nentries > 0) {
			if (o->ent_lo <= r->log.snap_index || hi > raft_log_last_index(&r->log) ||
			    raft_log_at(&r->log, hi)->term != o->ent_last_term) {
				r->stats.drop_stale++;
				continue;
			}
			m->entries = raft_log_at(&r->log, o->ent_lo);
		}
		if (m->type == RAFT_MSG_SNAPSHOT) {
			if (m->snap.index != r->log.snap_index) {
				r->stats.drop_stale++;
				continue;
			}
			m->snap.data = r->snap_data;
			m->snap.len = r->snap_len;
		}
		assert(raft_msg_validate(m) == 0);
		n++;
	}
	return n;
}

int raft_ready(struct raft *r, struct raft_ready *rd)
{
	uint64_t last = raft_log_last_index(&r->log);

	assert(!r->in_ready);
	memset(rd, 0, sizeof(*rd));
	if (r->state == RAFT_LEADER) {
		/* Proposals since the last round go out now, batched. */
		for (uint32_t i = 0; i < r->npr; i++) {
			while (raft_send_append(r, &r->pr[i], 0))
				;
		}
	}
	rd->hs.term = r->term;
	rd->hs.vote = r->vote;
	rd->hs.commit = r->log.committed;
	rd->hs_changed = memcmp(&rd->hs, &r->hs_saved, sizeof(rd->hs)) != 0;
	if (r->snap_unsaved) {
		r->rd_snap.index = r->log.snap_index;
		r->rd_snap.term = r->log.snap_term;
		r->rd_snap.conf = r->snap_conf;
		r->rd_snap.data = r->snap_data;
		r->rd_snap.len = r->snap_len;
		rd->snapshot = &r->rd_snap;
	}
	rd->truncate_from = r->log.trunc_from;
	if (last > r->log.stable) {
		rd->entries = raft_log_at(&r->log, r->log.stable + 1);
		rd->nentries = (size_t)(last - r->log.stable);
	}
	rd->msgs = r->rd_msgs;
	rd->nmsgs = raft_ready_msgs(r);
	if (r->log.committed > r->log.applied) {
		rd->committed = raft_log_at(&r->log, r->log.applied + 1);
		rd->ncommitted = (size_t)(r->log.committed - r->log.applied);
	}
	r->nout = 0; /* resolved or dropped */
	if (!rd->hs_changed && !rd->snapshot && !rd->truncate_from && !rd->nentries && !rd->nmsgs &&
	    !rd->ncommitted)
		return 0;
	r->in_ready = 1;
	r->rd_last_index = last;
	r->rd_commit = r->log.committed;
	return 1;
}

void raft_advance(struct raft *r, const struct raft_ready *rd)
{
	assert(r->in_ready);
	assert(raft_log_last_index(&r->log) == r->rd_last_index);
	if (rd->hs_changed)
		r->hs_saved = rd->hs;
	r->log.stable = r->rd_last_index;
	r->log.trunc_from = 0;
	r->snap_unsaved = 0;
	if (rd->ncommitted > 0)
		r->log.applied = rd->committed[rd->ncommitted - 1].index;
	assert(r->log.applied == r->rd_commit);
	r->in_ready = 0;
}

/* ---------------------------------------------------------------- views */

void raft_status(const struct raft *r, struct raft_status *st)
{
	memset(st, 0, sizeof(*st));
	st->id = r->id;
	st->state = r->state;
	st->term = r->term;
	st->vote = r->vote;
	st->leader = r->leader;
	st->commit = r->log.committed;
	st->applied = r->log.applied;
	st->last_index = raft_log_last_index(&r->log);
	st->last_term = raft_log_last_term(&r->log);
	st->snap_index = r->log.snap_index;
	st->snap_term = r->log.snap_term;
	st->conf = r->conf;
	st->conf_index = r->conf_index;
	st->transferee = r->transferee;
	st->no_vote = r->cfg.no_vote;
	st->removed = r->removed;
}

void raft_set_no_vote(struct raft *r, int no_vote)
{
	assert(!r->in_ready);
	r->cfg.no_vote = no_vote != 0;
	assert(raft_promotable(r) == (raft_conf_has(&r->conf, r->id) && !no_vote && !r->removed));
}

const struct raft_stats *raft_stats(const struct raft *r)
{
	return &r->stats;
}

int raft_is_leader(const struct raft *r)
{
	return r->state == RAFT_LEADER;
}

uint64_t raft_leader(const struct raft *r)
{
	return r->leader;
}

uint64_t raft_term(const struct raft *r)
{
	return r->term;
}

uint64_t raft_commit_index(const struct raft *r)
{
	return r->log.committed;
}

int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term)
{
	return raft_log_term(&r->log, index, term);
}

void raft_snapshot_get(const struct raft *r, struct raft_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	out->index = r->log.snap_index;
	out->term = r->log.snap_term;
	out->conf = r->snap_conf;
	out->data = r->snap_data;
	out->len = r->snap_len;
}

int raft_entry_get(const struct raft *r, uint64_t index, struct raft_entry *out)
{
	if (index <= r->log.snap_index || index > raft_log_last_index(&r->log))
		return RAFT_ERR_UNAVAILABLE;
	*out = *raft_log_at(&r->log, index);
	return 0;
}

static const char *raft_check_leader(const struct raft *r)
{
	uint64_t last = raft_log_last_index(&r->log);

	if (r->leader != r->id || r->vote != r->id)
		return "leader: not its own leader, or did not vote for itself";
	if (r->npr != r->conf.n - (raft_promotable(r) ? 1 : 0))
		return "leader: progress does not track exactly the other voters";
	for (uint32_t i = 0; i < r->npr; i++) {
		const struct raft_progress *pr = &r->pr[i];

		if (!raft_conf_has(&r->conf, pr->id) || pr->id == r->id)
			return "leader: progress for a non-voter";
		if (pr->match > last || pr->next > last + 1 || pr->next <= pr->match)
			return "leader: progress out of range";
		if (pr->inflight_n > r->cfg.inflight_max)
			return "leader: too many appends in flight";
	}
	return NULL;
}

const char *raft_check(const struct raft *r)
{
	const char *why = raft_log_check(&r->log);
	struct raft_conf c;
	uint64_t ci;

	if (why != NULL)
		return why;
	if (r->log.committed > raft_log_last_index(&r->log))
		return "commit past the last index";
	if (raft_log_last_term(&r->log) > r->term)
		return "an entry newer than the current term";
	if (r->state < RAFT_FOLLOWER || r->state > RAFT_LEADER)
		return "unknown state";
	raft_conf_at(r, raft_log_last_index(&r->log), &c, &ci);
	if (ci != r->conf_index || !raft_conf_equal(&c, &r->conf))
		return "configuration is not the last one in the log";
	if (r->nout > CHORUS_RAFT_OUTBOX_MAX)
		return "outbox over its bound";
	if (r->cfg.no_vote && r->state != RAFT_FOLLOWER)
		return "a node without its vote's memory campaigned";
	return r->state == RAFT_LEADER ? raft_check_leader(r) : NULL;
}

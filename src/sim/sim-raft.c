/*
 * `chorus-sim raft`: Raft instances in virtual time over a hostile network.
 *
 * N voters (ids 1..N) and two spare nodes (booted with no voters, to be
 * added) exchange encoded messages through a deterministic event queue:
 * random latency (hence reordering), loss, duplication, partitions.  Each
 * node has a durable store (hard state, snapshot, entries) written in the
 * order of the raft_ready() contract; crashes are injected between any two
 * of those writes (and inside the entry append), losing what was not
 * written, and a restart boots from the store.  A client proposes entries
 * with unique ids at whoever leads; transfers, membership changes (add a
 * spare, remove a voter, the leader included) and snapshots (compaction)
 * happen at random.
 *
 * The run alternates chaos windows with calm ones (faults healed, crashed
 * nodes restarted): in each calm window an entry proposed after healing
 * must be applied by every voter within a deadline (liveness).
 *
 * Checked after every event: raft_check() on the node; at most one leader
 * per term; log matching on every persisted entry (same index and term =>
 * same bytes and same previous term, hence the same prefix); a new leader's
 * log holds every committed entry; every applied entry equals the one in
 * the global committed history (committed entries never change), is the
 * next index of that node's state machine (no duplicate application) and
 * carries a proposal id never committed before.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim-raft.h"

void sr_failf(struct sr *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(s->fail, sizeof(s->fail), fmt, ap);
	va_end(ap);
	s->failed = 1;
}

static uint64_t sr_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void sr_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t sr_fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t sr_entry_hash(const struct raft_entry *e)
{
	uint8_t t = e->type;

	return sr_fnv(sr_fnv(0xcbf29ce484222325ULL, &t, 1), e->data, e->len);
}

/* ---------------------------------------------------------------- event queue */

static int sr_ev_less(const struct sr_ev *a, const struct sr_ev *b)
{
	return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

void sr_push(struct sr *s, struct sr_ev ev)
{
	size_t i;

	if (s->nheap == s->capheap) {
		s->capheap = s->capheap ? s->capheap * 2 : 1024;
		s->heap = realloc(s->heap, s->capheap * sizeof(*s->heap));
		if (s->heap == NULL)
			abort();
	}
	ev.seq = s->seq++;
	i = s->nheap++;
	while (i > 0 && sr_ev_less(&ev, &s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = ev;
}

static struct sr_ev sr_pop(struct sr *s)
{
	struct sr_ev top = s->heap[0], last = s->heap[--s->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && sr_ev_less(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!sr_ev_less(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nheap > 0)
		s->heap[i] = last;
	return top;
}

static void sr_schedule(struct sr *s, int type, uint32_t node, uint64_t at_ms, uint64_t gen)
{
	struct sr_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = (uint8_t)type;
	ev.node = node;
	ev.at_ms = at_ms;
	ev.gen = gen;
	sr_push(s, ev);
}

/* ---------------------------------------------------------------- durable store */

static void sr_store_drop_from(struct sr_store *st, uint64_t from)
{
	while (st->n > 0 && st->ents[st->n - 1].index >= from)
		free((void *)st->ents[--st->n].data);
}

/* Drops entries at or below index (they are in the snapshot). */
static void sr_store_compact(struct sr_store *st, uint64_t index)
{
	size_t k = 0;

	while (k < st->n && st->ents[k].index <= index)
		free((void *)st->ents[k++].data);
	memmove(st->ents, st->ents + k, (st->n - k) * sizeof(*st->ents));
	st->n -= k;
}

static int sr_store_append(struct sr_store *st, const struct raft_entry *e)
{
	uint8_t *copy = NULL;

	if (st->n > 0 && e->index != st->ents[st->n - 1].index + 1)
		return -1;
	if (st->n == 0 && e->index != st->snap.index + 1)
		return -1;
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 64;
		if ((st->ents = realloc(st->ents, st->cap * sizeof(*st->ents))) == NULL)
			abort();
	}
	if (e->len > 0 && (copy = malloc(e->len)) == NULL)
		abort();
	if (e->len > 0)
		memcpy(copy, e->data, e->len);
	st->ents[st->n] = *e;
	st->ents[st->n++].data = copy;
	return 0;
}

static void sr_store_set_snapshot(struct sr_store *st, const struct raft_snapshot *snap)
{
	uint8_t *copy = NULL;

	if (snap->len > 0 && (copy = malloc(snap->len)) == NULL)
		abort();
	if (snap->len > 0)
		memcpy(copy, snap->data, snap->len);
	free((void *)st->snap.data);
	st->snap = *snap;
	st->snap.data = copy;
}

static void sr_store_free(struct sr_store *st)
{
	sr_store_drop_from(st, 0);
	free(st->ents);
	free((void *)st->snap.data);
	memset(st, 0, sizeof(*st));
}

/* ---------------------------------------------------------------- checks */

static struct sr_lm *sr_lm_slot(struct sr *s, uint64_t index, uint64_t term)
{
	size_t i = (size_t)((index * 0x9e3779b97f4a7c15ULL ^ term * 0xc2b2ae3d27d4eb4fULL) >> 17);

	for (i &= s->caplm - 1;; i = (i + 1) & (s->caplm - 1)) {
		struct sr_lm *e = &s->lm[i];

		if (e->index == 0 || (e->index == index && e->term == term))
			return e;
	}
}

static void sr_lm_grow(struct sr *s)
{
	struct sr_lm *old = s->lm;
	size_t oldcap = s->caplm;

	s->caplm = oldcap ? oldcap * 2 : 4096;
	if ((s->lm = calloc(s->caplm, sizeof(*s->lm))) == NULL)
		abort();
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].index != 0)
			*sr_lm_slot(s, old[i].index, old[i].term) = old[i];
	}
	free(old);
}

/* Log Matching, checked on every entry a node persists. */
static void sr_check_log_matching(struct sr *s, const struct raft_entry *e, uint64_t prev_term,
                                  uint64_t node)
{
	struct sr_lm *slot;
	uint64_t h = sr_entry_hash(e);

	if (2 * (s->nlm + 1) > s->caplm)
		sr_lm_grow(s);
	slot = sr_lm_slot(s, e->index, e->term);
	if (slot->index == 0) {
		slot->index = e->index;
		slot->term = e->term;
		slot->hash = h;
		slot->prev_term = prev_term;
		s->nlm++;
	} else if (slot->hash != h || slot->prev_term != prev_term) {
		sr_failf(s, "log matching: node %" PRIu64 " entry %" PRIu64 " term %" PRIu64
		            " differs (bytes or previous term) from another log's",
		         node, e->index, e->term);
	}
}

static void sr_check_leader(struct sr *s, struct sr_node *n)
{
	uint64_t term = raft_term(n->r);
	struct raft_status st;

	if (term >= s->capterm) {
		size_t cap = s->capterm ? s->capterm : 256;

		while (cap <= term)
			cap *= 2;
		if ((s->leader_of = realloc(s->leader_of, cap * sizeof(*s->leader_of))) == NULL)
			abort();
		memset(s->leader_of + s->capterm, 0, (cap - s->capterm) * sizeof(*s->leader_of));
		s->capterm = cap;
	}
	if (s->leader_of[term] == n->id)
		return;
	if (s->leader_of[term] != 0) {
		sr_failf(s, "two leaders in term %" PRIu64 ": %" PRIu64 " and %" PRIu64, term,
		         s->leader_of[term], n->id);
		return;
	}
	s->leader_of[term] = n->id;
	s->leaders++;
	if (s->verbose)
		fprintf(stderr, "t=%" PRIu64 " node %" PRIu64 " leads term %" PRIu64 "\n", s->now_ms,
		        n->id, term);
	if (s->first_leader_ms == 0)
		s->first_leader_ms = s->now_ms;
	/* Leader Completeness: a new leader holds every committed entry. */
	raft_status(n->r, &st);
	if (st.last_index < s->nhist)
		sr_failf(s, "leader %" PRIu64 " of term %" PRIu64 " lacks committed entries (last %" PRIu64
		            " < %zu)", n->id, term, st.last_index, s->nhist);
	for (uint64_t i = st.snap_index + 1; i <= s->nhist && i <= st.last_index && !s->failed; i++) {
		struct raft_entry e;

		if (raft_entry_get(n->r, i, &e) != 0 || e.term != s->hist[i].term ||
		    sr_entry_hash(&e) != s->hist[i].hash)
			sr_failf(s, "leader %" PRIu64 " of term %" PRIu64 " has another entry %" PRIu64
			            " than the committed one", n->id, term, i);
	}
}

static void sr_hist_add(struct sr *s, const struct raft_entry *e, uint64_t pid, uint64_t chain,
                        uint64_t lheight)
{
	if (s->nhist + 1 >= s->caphist) {
		s->caphist = s->caphist ? s->caphist * 2 : 4096;
		if ((s->hist = realloc(s->hist, s->caphist * sizeof(*s->hist))) == NULL)
			abort();
	}
	s->nhist++;
	s->hist[s->nhist].term = e->term;
	s->hist[s->nhist].hash = sr_entry_hash(e);
	s->hist[s->nhist].type = e->type;
	s->hist[s->nhist].pid = pid;
	s->hist[s->nhist].chain = chain;
	s->hist[s->nhist].lheight = lheight;
	if (e->type == RAFT_ENTRY_NORMAL) {
		if (pid >= s->next_pid || s->pid_seen[pid])
			sr_failf(s, "proposal %" PRIu64 " committed twice (again at %" PRIu64 ")", pid,
			         e->index);
		else
			s->pid_seen[pid] = 1;
		if (s->calm && s->calm_index == 0 && pid >= s->calm_pid)
			s->calm_index = s->nhist;
	}
}

/* Applies one committed entry to n's state machine, checking it against history. */
static void sr_apply(struct sr *s, struct sr_node *n, const struct raft_entry *e)
{
	uint64_t pid = 0;

	if (e->index != n->sm.index + 1) {
		sr_failf(s, "node %" PRIu64 " applied %" PRIu64 " after %" PRIu64 " (duplicate or gap)",
		         n->id, e->index, n->sm.index);
		return;
	}
	if (e->type == RAFT_ENTRY_NORMAL) {
		if (e->len < 8) {
			sr_failf(s, "node %" PRIu64 " applied a short entry %" PRIu64, n->id, e->index);
			return;
		}
		pid = sr_get_u64(e->data);
		n->sm.count++;
		n->sm.hash = sr_fnv(n->sm.hash ^ e->term, e->data, e->len);
		sim_ledger_apply(s, n, e);
	}
	n->sm.index = e->index;
	if (e->index == s->nhist + 1) {
		sr_hist_add(s, e, pid, n->sm.hash, sim_ledger_height(s, n));
		return;
	}
	if (e->index > s->nhist + 1) {
		sr_failf(s, "node %" PRIu64 " applied %" PRIu64 " past the committed history (%zu)", n->id,
		         e->index, s->nhist);
		return;
	}
	if (s->hist[e->index].term != e->term || s->hist[e->index].hash != sr_entry_hash(e) ||
	    s->hist[e->index].chain != n->sm.hash)
		sr_failf(s, "committed entry %" PRIu64 " changed: node %" PRIu64 " applied another one",
		         e->index, n->id);
	else if (s->hist[e->index].lheight != sim_ledger_height(s, n))
		sr_failf(s, "node %" PRIu64 " holds ledger height %" PRIu64 " after entry %" PRIu64
		            ", the first node to apply it held %" PRIu64,
		         n->id, sim_ledger_height(s, n), e->index, s->hist[e->index].lheight);
}

/* ---------------------------------------------------------------- nodes */

static const uint32_t sr_batch_bytes[] = { CHORUS_RAFT_ENTRY_HEADER + 8 + SR_PAYLOAD_MAX, 1024,
	                                   CHORUS_RAFT_APPEND_BYTES_MAX };
static const uint32_t sr_windows[] = { 1, 2, 8, CHORUS_RAFT_INFLIGHT_MAX };

static void sr_boot(struct sr *s, struct sr_node *n)
{
	struct raft_config cfg;
	struct raft_boot b;
	int err;

	raft_config_defaults(&cfg, n->id, sim_rng_next(&s->rng));
	/* Vary flow control per boot: one entry per message up to the bound, windows 1..64. */
	cfg.append_bytes_max = sr_batch_bytes[sim_rng_below(&s->rng, 3)];
	cfg.inflight_max = sr_windows[sim_rng_below(&s->rng, 4)];
	cfg.pre_vote = s->pre_vote;
	cfg.check_quorum = s->check_quorum;
	memset(&b, 0, sizeof(b));
	b.hs = n->st.hs;
	b.snap = n->st.snap;
	b.entries = n->st.ents;
	b.nentries = n->st.n;
	if ((err = raft_create(&n->r, &cfg, &b)) != 0) {
		sr_failf(s, "node %" PRIu64 " cannot boot from its store: %s", n->id, raft_strerror(err));
		return;
	}
	/* The state machine restarts from the snapshot; raft re-delivers the rest. */
	memset(&n->sm, 0, sizeof(n->sm));
	if (n->st.snap.len >= 24) {
		n->sm.index = sr_get_u64(n->st.snap.data);
		n->sm.count = sr_get_u64(n->st.snap.data + 8);
		n->sm.hash = sr_get_u64(n->st.snap.data + 16);
	}
	if (n->sm.index != n->st.snap.index)
		sr_failf(s, "node %" PRIu64 ": snapshot at %" PRIu64 " holds state %" PRIu64, n->id,
		         n->st.snap.index, n->sm.index);
	sim_ledger_boot(s, n, &n->st.snap);
	n->up = 1;
	n->gen++;
	n->dirty = 0;
	sr_schedule(s, SR_EV_TICK, (uint32_t)n->id, s->now_ms + 1 + sim_rng_below(&s->rng, SR_TICK_MS),
	            n->gen);
}

static void sr_crash(struct sr *s, struct sr_node *n)
{
	raft_destroy(n->r);
	n->r = NULL;
	sim_ledger_crash(s, n);
	n->up = 0;
	n->gen++;
	n->dirty = 0;
	s->crashes++;
	if (!s->calm)
		sr_schedule(s, SR_EV_RESTART, (uint32_t)n->id,
		            s->now_ms + 100 + sim_rng_below(&s->rng, 1900), n->gen);
}

static void sr_send(struct sr *s, const struct raft_msg *m)
{
	static uint8_t buf[CHORUS_RAFT_MSG_MAX];
	int len = raft_msg_encode(m, buf, sizeof(buf));
	int copies = 1;

	if (len < 0) {
		sr_failf(s, "node %" PRIu64 " produced a message that does not encode: %s", m->from,
		         raft_strerror(len));
		return;
	}
	s->sent++;
	if (sim_rng_unit(&s->rng) < s->loss) {
		s->lost++;
		return;
	}
	if (sim_rng_unit(&s->rng) < SR_DUP_P) {
		s->dups++;
		copies = 2;
	}
	for (int i = 0; i < copies; i++) {
		struct sr_ev ev;

		memset(&ev, 0, sizeof(ev));
		ev.type = SR_EV_DELIVER;
		ev.node = (uint32_t)m->to;
		ev.at_ms = s->now_ms + SR_LAT_MIN_MS +
		           sim_rng_below(&s->rng, s->lat_max_ms - SR_LAT_MIN_MS + 1);
		ev.len = (uint32_t)len;
		if ((ev.buf = malloc((size_t)len)) == NULL)
			abort();
		memcpy(ev.buf, buf, (size_t)len);
		sr_push(s, ev);
	}
}

/*
 * Writes what rd asks, in the contract's order: snapshot, truncation,
 * entries, hard state.  In chaos windows a crash may hit between any two
 * writes (or in the middle of the entries); returns 1 when it did.
 */
static int sr_persist(struct sr *s, struct sr_node *n, const struct raft_ready *rd)
{
	int crash_at = -1;
	size_t upto = rd->nentries;

	if (!s->calm && (rd->snapshot || rd->truncate_from || rd->nentries || rd->hs_changed) &&
	    sim_rng_unit(&s->rng) < SR_CRASH_P) {
		crash_at = (int)sim_rng_below(&s->rng, 4);
		upto = rd->nentries ? sim_rng_below(&s->rng, (uint32_t)rd->nentries) : 0;
	}
	if (crash_at == 0)
		return 1;
	if (rd->snapshot) {
		sr_store_set_snapshot(&n->st, rd->snapshot);
		sr_store_drop_from(&n->st, 0);
	}
	if (crash_at == 1)
		return 1;
	if (rd->truncate_from)
		sr_store_drop_from(&n->st, rd->truncate_from);
	for (size_t i = 0; i < (crash_at == 2 ? upto : rd->nentries); i++) {
		if (sr_store_append(&n->st, &rd->entries[i]) != 0) {
			sr_failf(s, "node %" PRIu64 ": ready entry %" PRIu64 " does not follow the store",
			         n->id, rd->entries[i].index);
			return 1;
		}
	}
	if (crash_at == 2)
		return 1;
	if (rd->hs_changed)
		n->st.hs = rd->hs;
	return crash_at == 3;
}

static void sr_check_persisted(struct sr *s, struct sr_node *n, const struct raft_ready *rd)
{
	for (size_t i = 0; i < rd->nentries && !s->failed; i++) {
		const struct raft_entry *e = &rd->entries[i];
		uint64_t prev = 0;

		if (i > 0)
			prev = rd->entries[i - 1].term;
		else if (raft_term_at(n->r, e->index - 1, &prev) != 0)
			sr_failf(s, "node %" PRIu64 ": no term before entry %" PRIu64, n->id, e->index);
		sr_check_log_matching(s, e, prev, n->id);
	}
}

static void sr_apply_ready(struct sr *s, struct sr_node *n, const struct raft_ready *rd)
{
	if (rd->snapshot != NULL) {
		const struct raft_snapshot *sn = rd->snapshot;

		if (sn->len < 24 || sr_get_u64(sn->data) != sn->index || sn->index > s->nhist ||
		    sr_get_u64(sn->data + 16) != s->hist[sn->index].chain) {
			sr_failf(s, "node %" PRIu64 " installed a snapshot at %" PRIu64
			            " that does not match the committed history", n->id, sn->index);
			return;
		}
		s->installs++;
		n->sm.index = sn->index;
		n->sm.count = sr_get_u64(sn->data + 8);
		n->sm.hash = sr_get_u64(sn->data + 16);
		if (s->ledger != NULL && s->hist[sn->index].lheight !=
		                             (sn->len >= 24 + SR_SNAP_LEDGER ? sr_get_u64(sn->data + 24) : 0)) {
			sr_failf(s, "node %" PRIu64 " installed a snapshot at %" PRIu64
			            " whose ledger height is not the history's (%" PRIu64 ")",
			         n->id, sn->index, s->hist[sn->index].lheight);
			return;
		}
		sim_ledger_boot(s, n, sn);
	}
	for (size_t i = 0; i < rd->ncommitted && !s->failed; i++)
		sr_apply(s, n, &rd->committed[i]);
}

/* The application snapshots its state machine now and then; raft drops the log prefix. */
static void sr_maybe_snapshot(struct sr *s, struct sr_node *n)
{
	uint8_t buf[24 + SR_SNAP_LEDGER + SR_SNAP_PAD_MAX];
	struct raft_status st;
	struct raft_snapshot snap;
	uint32_t head = s->ledger != NULL ? 24 + SR_SNAP_LEDGER : 24;
	uint32_t len = head + (uint32_t)(n->sm.index % SR_SNAP_PAD_MAX);
	int err;

	raft_status(n->r, &st);
	/* Not while the ledger holds entries behind Raft (--catchup): chorusd waits too. */
	if (st.applied < st.snap_index + n->snap_every || sim_ledger_held(s, n))
		return;
	sr_put_u64(buf, n->sm.index);
	sr_put_u64(buf + 8, n->sm.count);
	sr_put_u64(buf + 16, n->sm.hash);
	if (s->ledger != NULL)
		sim_ledger_snapshot(s, n, buf + 24);
	memset(buf + head, (int)(n->sm.hash & 0xff), len - head);
	if ((err = raft_compact(n->r, st.applied, buf, len)) != 0) {
		sr_failf(s, "node %" PRIu64 ": compaction at %" PRIu64 ": %s", n->id, st.applied,
		         raft_strerror(err));
		return;
	}
	/* Durable before anything else happens (the store writes synchronously). */
	raft_snapshot_get(n->r, &snap);
	sr_store_set_snapshot(&n->st, &snap);
	sr_store_compact(&n->st, snap.index);
	s->snapshots++;
	n->snap_every = 16 + sim_rng_below(&s->rng, 112);
}

/* Runs n's ready loop; checks after each round. */
static void sr_drive(struct sr *s, struct sr_node *n)
{
	struct raft_ready rd;
	const char *why;

	n->dirty = 0; /* whatever was stepped is pumped now */
	/* Two rounds, as the node's voterd_pump: a block built after the first leaves in the second. */
	for (int round = 0; round < (s->ledger != NULL ? 2 : 1); round++) {
		while (n->up && !s->failed && raft_ready(n->r, &rd)) {
			if (sr_persist(s, n, &rd)) {
				s->crashes_persist++;
				sr_crash(s, n);
				return;
			}
			if (rd.snapshot || rd.truncate_from || rd.nentries || rd.hs_changed)
				sim_ledger_synced(s, n); /* a durable write: the blocks before it are too */
			sr_check_persisted(s, n, &rd);
			for (size_t i = 0; i < rd.nmsgs; i++)
				sr_send(s, &rd.msgs[i]);
			sr_apply_ready(s, n, &rd);
			raft_advance(n->r, &rd);
		}
		if (!n->up || s->failed)
			return;
		if (s->ledger != NULL && raft_is_leader(n->r))
			sr_check_leader(s, n); /* before it signs a block in this term */
		sim_ledger_pump(s, n, round == 0);
	}
	if ((why = raft_check(n->r)) != NULL)
		sr_failf(s, "node %" PRIu64 ": %s", n->id, why);
	if (raft_is_leader(n->r))
		sr_check_leader(s, n);
	if (raft_term(n->r) > s->max_term)
		s->max_term = raft_term(n->r);
	sr_maybe_snapshot(s, n);
}

/* ---------------------------------------------------------------- the client and the faults */

struct sr_node *sr_leader(struct sr *s)
{
	struct sr_node *best = NULL;

	for (uint32_t i = 1; i <= s->nnodes; i++) {
		struct sr_node *n = &s->nodes[i];

		if (n->up && raft_is_leader(n->r) && (!best || raft_term(n->r) > raft_term(best->r)))
			best = n;
	}
	return best;
}

/* Room in pid_seen for the next proposal id. */
static void sr_pid_reserve(struct sr *s)
{
	if ((s->next_pid & 4095) == 0 &&
	    (s->pid_seen = realloc(s->pid_seen, (size_t)s->next_pid + 4096)) == NULL)
		abort();
	if ((s->next_pid & 4095) == 0)
		memset(s->pid_seen + s->next_pid, 0, 4096);
}

int sr_propose_tagged(struct sr *s, struct sr_node *l, uint8_t tag, const uint8_t *data,
                      uint32_t len)
{
	uint8_t *buf = malloc(SR_ENTRY_PREFIX + (size_t)len);
	int err;

	if (buf == NULL)
		abort();
	sr_pid_reserve(s);
	sr_put_u64(buf, s->next_pid);
	buf[8] = tag;
	if (len > 0)
		memcpy(buf + SR_ENTRY_PREFIX, data, len);
	err = raft_propose(l->r, buf, SR_ENTRY_PREFIX + len, NULL);
	free(buf);
	if (err == 0) {
		s->next_pid++;
		s->proposed++;
	} else {
		s->refused++;
	}
	return err;
}

static void sr_propose(struct sr *s, struct sr_node *l)
{
	uint8_t buf[8 + SR_PAYLOAD_MAX];
	uint32_t len = 8 + (uint32_t)sim_rng_below(&s->rng, SR_PAYLOAD_MAX + 1);
	int err;

	if (s->ledger != NULL) {
		/* Filler entries: tagged, so that they are never taken for a block. */
		for (uint32_t i = 0; i < len - 8; i++)
			buf[i] = (uint8_t)sim_rng_next(&s->rng);
		(void)sr_propose_tagged(s, l, SR_TAG_FILLER, buf, len - 8);
		return;
	}
	sr_pid_reserve(s);
	sr_put_u64(buf, s->next_pid);
	for (uint32_t i = 8; i < len; i++)
		buf[i] = (uint8_t)sim_rng_next(&s->rng);
	err = raft_propose(l->r, buf, len, NULL);
	if (err == 0) {
		s->next_pid++;
		s->proposed++;
	} else {
		s->refused++;
	}
}

static void sr_conf_change(struct sr *s, struct sr_node *l)
{
	struct raft_status st;
	uint32_t min = s->voters > 3 ? s->voters - 1 : 3;
	uint64_t spare = 0, id;

	raft_status(l->r, &st);
	for (uint32_t i = 1; i <= s->nnodes; i++) {
		if (s->nodes[i].up && !raft_conf_has(&st.conf, i) && sim_rng_below(&s->rng, 2))
			spare = i;
	}
	if (st.conf.n <= s->voters && spare != 0) {
		id = spare;
	} else if (st.conf.n > min) {
		id = st.conf.ids[sim_rng_below(&s->rng, st.conf.n)];
	} else {
		return;
	}
	if (raft_propose_conf(l->r, !raft_conf_has(&st.conf, id), id, NULL) == 0)
		s->conf_changes++;
}

static void sr_partition(struct sr *s)
{
	s->partitioned = 1;
	s->partitions++;
	for (uint32_t i = 1; i <= s->nnodes; i++)
		s->nodes[i].group = (uint32_t)sim_rng_below(&s->rng, 2);
	sr_schedule(s, SR_EV_HEAL, 0, s->now_ms + 200 + sim_rng_below(&s->rng, 2300), 0);
}

static void sr_action(struct sr *s)
{
	struct sr_node *l = sr_leader(s);
	uint32_t dice = (uint32_t)sim_rng_below(&s->rng, 1000);
	struct sr_node *victim = &s->nodes[1 + sim_rng_below(&s->rng, s->nnodes)];

	/*
	 * With the ledger, fillers are rare: a leader's first block of a term
	 * waits until its whole log is committed (voterd.c), which a steady
	 * stream of other proposals can put off for ever at high loss; the node
	 * proposes blocks and configuration changes only.  --dense-fillers
	 * keeps the rate of the raft scenario.
	 */
	if (s->ledger != NULL && !s->dense_fillers) {
		if (l && sim_rng_below(&s->rng, 4) == 0)
			sr_propose(s, l);
	} else {
		for (uint32_t k = (uint32_t)sim_rng_below(&s->rng, 4); l && k > 0; k--)
			sr_propose(s, l);
	}
	sim_ledger_action(s);
	if (s->calm)
		return;
	if (dice < 15 && victim->up) {
		sr_crash(s, victim);
	} else if (dice < 25 && !s->partitioned) {
		sr_partition(s);
	} else if (dice < 28 && s->lat_max_ms == SR_LAT_MAX_MS) {
		/* A slow spell: latencies near the election timeout make elections duel. */
		s->lat_max_ms = SR_SLOW_MAX_MS;
		s->slow_spells++;
		sr_schedule(s, SR_EV_HEAL, 1, s->now_ms + 500 + sim_rng_below(&s->rng, 1500), 0);
	} else if (dice < 35 && l) {
		struct raft_status st;

		raft_status(l->r, &st);
		if (raft_transfer(l->r, st.conf.ids[sim_rng_below(&s->rng, st.conf.n)]) == 0)
			s->transfers++;
	} else if (dice < 50 && l) {
		sr_conf_change(s, l);
	}
	if (l && l->up)
		sr_drive(s, l);
}

/* ---------------------------------------------------------------- calm windows (liveness) */

static void sr_calm_begin(struct sr *s)
{
	s->calm = 1;
	s->calm_start_ms = s->now_ms;
	s->calm_pid = s->next_pid;
	s->calm_index = 0;
	s->partitioned = 0;
	s->lat_max_ms = SR_LAT_MAX_MS;
	for (uint32_t i = 1; i <= s->nnodes; i++) {
		s->nodes[i].group = 0;
		if (!s->nodes[i].up)
			sr_boot(s, &s->nodes[i]);
	}
}

/* Healed: a leader, an entry proposed since, applied by every voter of the leader's configuration. */
static int sr_calm_done(struct sr *s)
{
	struct sr_node *l = sr_leader(s);
	struct raft_status st;

	snprintf(s->calm_why, sizeof(s->calm_why), "no entry committed and applied by every voter");
	if (l == NULL || s->calm_index == 0)
		return 0;
	raft_status(l->r, &st);
	for (uint32_t i = 0; i < st.conf.n; i++) {
		struct sr_node *v = &s->nodes[st.conf.ids[i]];

		if (!v->up || v->sm.index < s->calm_index)
			return 0;
	}
	return s->ledger == NULL ||
	       sim_ledger_calm_done(s, &st.conf, s->calm_why, sizeof(s->calm_why));
}

static void sr_calm_check(struct sr *s)
{
	uint64_t took;

	if (sr_calm_done(s)) {
		took = s->now_ms - s->calm_start_ms;
		s->live_windows++;
		s->live_sum_ms += took;
		if (took > s->live_max_ms)
			s->live_max_ms = took;
		s->calm = 0;
		s->chaos_end_ms = s->now_ms + SR_CHAOS_MS;
	} else if (s->now_ms - s->calm_start_ms > SR_LIVE_MS) {
		sr_failf(s, "liveness: %s within %d ms after healing", s->calm_why, SR_LIVE_MS);
	}
}

/* ---------------------------------------------------------------- the run */

static void sr_event(struct sr *s, struct sr_ev *ev)
{
	static struct raft_entry ents[CHORUS_RAFT_APPEND_ENTRIES_MAX];
	struct sr_node *n = &s->nodes[ev->node];
	struct raft_msg m;
	int err;

	switch (ev->type) {
	case SR_EV_TICK:
		if (!n->up || ev->gen != n->gen)
			break;
		if (n->dirty) {
			s->batch_pumps++;
			sr_drive(s, n); /* as the node's tick: what was stepped is pumped first */
		}
		if (!n->up)
			break;
		raft_tick(n->r);
		sr_drive(s, n);
		if (n->up)
			sr_schedule(s, SR_EV_TICK, ev->node, s->now_ms + SR_TICK_MS, n->gen);
		break;
	case SR_EV_DELIVER:
		if (!n->up) {
			s->to_down++;
		} else if (n->group != s->nodes[ev->gen].group) {
			s->cut++;
		} else if ((err = raft_msg_decode(&m, ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, ev->buf,
		                                  ev->len)) != 0) {
			sr_failf(s, "a message to node %u does not decode: %s", ev->node, raft_strerror(err));
		} else if ((err = raft_step(n->r, &m)) != 0) {
			sr_failf(s, "node %u refused a %s: %s", ev->node, raft_msg_type_name(m.type),
			         raft_strerror(err));
		} else if (!s->batch_steps) {
			sr_drive(s, n);
		} else {
			/*
			 * As the node: every message of this instant is stepped, then one
			 * pump, queued behind the deliveries already due now.
			 */
			s->batch_msgs++;
			if (!n->dirty)
				sr_schedule(s, SR_EV_PUMP, ev->node, s->now_ms, n->gen);
			n->dirty = 1;
		}
		free(ev->buf);
		break;
	case SR_EV_RESTART:
		if (!n->up && ev->gen == n->gen)
			sr_boot(s, n);
		break;
	case SR_EV_ACTION:
		sr_action(s);
		sr_schedule(s, SR_EV_ACTION, 0, s->now_ms + 10 + sim_rng_below(&s->rng, 40), 0);
		break;
	case SR_EV_LEDGER:
		sim_ledger_deliver(s, ev);
		if (ev->node != 0 && n->up)
			sr_drive(s, n); /* the leader may build at once, as voterd_on_submit pumps */
		break;
	case SR_EV_PUMP:
		if (n->up && ev->gen == n->gen && n->dirty) {
			s->batch_pumps++;
			sr_drive(s, n);
		}
		break;
	case SR_EV_HEAL:
		if (ev->node == 1) {
			s->lat_max_ms = SR_LAT_MAX_MS; /* the slow spell ends */
			break;
		}
		s->partitioned = 0;
		for (uint32_t i = 1; i <= s->nnodes; i++)
			s->nodes[i].group = 0;
		break;
	}
}

static void sr_run(struct sr *s)
{
	int final = 0;

	sim_rng_seed(&s->rng, s->seed);
	s->now_ms = SIM_T0_MS;
	s->lat_max_ms = SR_LAT_MAX_MS;
	s->chaos_end_ms = s->now_ms + SR_CHAOS_MS;
	for (uint32_t i = 1; i <= s->nnodes; i++) {
		struct sr_node *n = &s->nodes[i];

		n->id = i;
		n->snap_every = 16 + sim_rng_below(&s->rng, 112);
		for (uint32_t v = 1; v <= s->voters && i <= s->voters; v++)
			n->st.snap.conf.ids[n->st.snap.conf.n++] = v;
		sr_boot(s, n);
	}
	sr_schedule(s, SR_EV_ACTION, 0, s->now_ms + 50, 0);
	while (!s->failed && s->nheap > 0) {
		struct sr_ev ev = sr_pop(s);

		s->now_ms = ev.at_ms;
		sr_event(s, &ev);
		sim_ledger_check(s);
		s->steps++;
		if (s->steps >= s->steps_max)
			final = 1;
		if (!s->calm && (final || s->now_ms >= s->chaos_end_ms)) {
			sr_calm_begin(s);
		}
		if (s->calm && !s->failed) {
			sr_calm_check(s);
			if (!s->calm && final)
				break;
		}
	}
}

static void sr_free(struct sr *s)
{
	for (uint32_t i = 1; i <= s->nnodes; i++) {
		raft_destroy(s->nodes[i].r);
		sr_store_free(&s->nodes[i].st);
	}
	for (size_t i = 0; i < s->nheap; i++)
		free(s->heap[i].buf);
	free(s->heap);
	free(s->hist);
	free(s->lm);
	free(s->leader_of);
	free(s->pid_seen);
	sim_ledger_free(s);
}

static void sr_report(const struct sr *s, double wall_s)
{
	printf("raft: voters=%u nodes=%u seed=%" PRIu64 " loss=%.3f steps=%" PRIu64
	       " pre-vote=%d check-quorum=%d\n",
	       s->voters, s->nnodes, s->seed, s->loss, s->steps, s->pre_vote, s->check_quorum);
	printf("elections: leaders=%" PRIu64 " max-term=%" PRIu64 " first-leader-ms=%" PRIu64 "\n",
	       s->leaders, s->max_term, s->first_leader_ms ? s->first_leader_ms - (uint64_t)SIM_T0_MS : (uint64_t)0);
	printf("commits: entries=%zu proposed=%" PRIu64 " refused=%" PRIu64 "\n", s->nhist,
	       s->proposed, s->refused);
	printf("liveness: windows=%" PRIu64 " resume-ms-max=%" PRIu64 " resume-ms-mean=%" PRIu64 "\n",
	       s->live_windows, s->live_max_ms, s->live_windows ? s->live_sum_ms / s->live_windows : 0);
	printf("faults: crashes=%" PRIu64 " at-persist=%" PRIu64 " partitions=%" PRIu64
	       " slow-spells=%" PRIu64 " transfers=%" PRIu64 " conf-changes=%" PRIu64 " snapshots=%" PRIu64
	       " installs=%" PRIu64 "\n",
	       s->crashes, s->crashes_persist, s->partitions, s->slow_spells, s->transfers, s->conf_changes,
	       s->snapshots, s->installs);
	printf("network: sent=%" PRIu64 " lost=%" PRIu64 " duplicated=%" PRIu64 " cut=%" PRIu64
	       " to-down=%" PRIu64 "\n",
	       s->sent, s->lost, s->dups, s->cut, s->to_down);
	if (s->batch_steps)
		printf("batch-steps: messages=%" PRIu64 " pumps=%" PRIu64 "\n", s->batch_msgs,
		       s->batch_pumps);
	sim_ledger_report(s);
	printf("virtual-s: %.3f\n", (double)(s->now_ms - SIM_T0_MS) / 1000.0);
	printf("wall: %.2f s\n", wall_s);
}

void sim_raft_usage(FILE *f)
{
	fprintf(f, "usage: chorus-sim raft [--voters N] [--seed S] [--loss P] [--steps K]\n"
	           "                       [--no-pre-vote] [--no-check-quorum] [--ledger]\n"
	           "                       [--ledger-jobs J] [--dense-fillers] [--batch-steps]\n"
	           "                       [--poison] [--catchup] [--verbose] [--help]\n"
	           "  --voters N   initial voters, 3..7 (default 5); two spare nodes join and leave\n"
	           "  --seed S     the run's seed (default 1)\n"
	           "  --loss P     message loss probability in [0, 1) (default 0.02)\n"
	           "  --steps K    events to simulate before the final liveness check (default 100000)\n"
	           "  --no-pre-vote, --no-check-quorum\n"
	           "               turn those protocol options off on every node\n"
	           "  --ledger     run the ledger on the Raft nodes: signed completions submitted\n"
	           "               until credited, blocks built by the leader, applied by all,\n"
	           "               ledger invariants checked after every event\n"
	           "  --ledger-jobs J\n"
	           "               completions in the pre-signed pool, 1..%d (default %d;\n"
	           "               implies --ledger)\n"
	           "  --dense-fillers\n"
	           "               with the ledger, propose 0 to 3 filler entries per action, as\n"
	           "               without it (default: one with probability 1/4)\n"
	           "  --batch-steps\n"
	           "               as chorusd: the messages a node receives at one instant are\n"
	           "               all stepped, then its Raft is pumped once (default: after each)\n"
	           "  --poison     with the ledger, one job in 8 is poison (a reward of 2^53 or\n"
	           "               10^15; or two fresh keys, no members) and odd nodes lead as\n"
	           "               older leaders (no bound checks): every voter keeps applying,\n"
	           "               poison is never credited (implies --ledger)\n"
	           "  --catchup    with the ledger, every node keeps a blocks table that loses its\n"
	           "               newest unsynced rows at a crash; a node that boots or installs\n"
	           "               a snapshot catches up through the shipped catch-up module\n"
	           "               (its own table, then blocks fetched from the other voters),\n"
	           "               holding the entries after the snapshot (implies --ledger)\n"
	           "  --verbose    print every new leader on stderr\n",
	        SIM_LEDGER_JOBS_MAX, SIM_LEDGER_JOBS_DEFAULT);
}

static int sr_parse(struct sr *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "voters", required_argument, NULL, 'n' }, { "seed", required_argument, NULL, 's' },
		{ "loss", required_argument, NULL, 'l' },   { "steps", required_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ "no-pre-vote", no_argument, NULL, 'P' },  { "no-check-quorum", no_argument, NULL, 'Q' },
		{ "ledger", no_argument, NULL, 'L' },       { "ledger-jobs", required_argument, NULL, 'J' },
		{ "dense-fillers", no_argument, NULL, 'D' }, { "batch-steps", no_argument, NULL, 'B' },
		{ "poison", no_argument, NULL, 'X' },       { "catchup", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	s->voters = 5;
	s->seed = 1;
	s->loss = 0.02;
	s->steps_max = 100000;
	s->pre_vote = 1;
	s->check_quorum = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (sim_parse_u64("--voters", optarg, 3, SR_NODES_MAX - SR_SPARES, &v) != 0)
				return -1;
			s->voters = (uint32_t)v;
			break;
		case 's':
			if (sim_parse_u64("--seed", optarg, 0, UINT64_MAX, &s->seed) != 0)
				return -1;
			break;
		case 'l':
			if (sim_parse_prob("--loss", optarg, &s->loss) != 0)
				return -1;
			break;
		case 'k':
			if (sim_parse_u64("--steps", optarg, 1, 1000000000, &s->steps_max) != 0)
				return -1;
			break;
		case 'v': s->verbose = 1; break;
		case 'P': s->pre_vote = 0; break;
		case 'Q': s->check_quorum = 0; break;
		case 'D': s->dense_fillers = 1; break;
		case 'B': s->batch_steps = 1; break;
		case 'C':
			s->catchup = 1;
			if (s->ledger_jobs == 0)
				s->ledger_jobs = SIM_LEDGER_JOBS_DEFAULT;
			break;
		case 'X':
			s->poison = 1;
			if (s->ledger_jobs == 0)
				s->ledger_jobs = SIM_LEDGER_JOBS_DEFAULT;
			break;
		case 'L':
			if (s->ledger_jobs == 0)
				s->ledger_jobs = SIM_LEDGER_JOBS_DEFAULT;
			break;
		case 'J':
			if (sim_parse_u64("--ledger-jobs", optarg, 1, SIM_LEDGER_JOBS_MAX, &v) != 0)
				return -1;
			s->ledger_jobs = (uint32_t)v;
			break;
		case 'h': sim_raft_usage(stdout); return 1;
		default: sim_raft_usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "chorus-sim raft: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	s->nnodes = s->voters + SR_SPARES;
	return 0;
}

int sim_raft_main(int argc, char **argv)
{
	struct sr *s = calloc(1, sizeof(*s));
	double t0 = sim_wall_s();
	int rc;

	if (s == NULL)
		return 2;
	if ((rc = sr_parse(s, argc, argv)) != 0) {
		free(s);
		return rc > 0 ? 0 : 2;
	}
	if (s->ledger_jobs > 0 && sim_ledger_create(s, s->ledger_jobs) != 0) {
		fprintf(stderr, "chorus-sim raft: cannot set up the ledger\n");
		sr_free(s);
		free(s);
		return 2;
	}
	sr_run(s);
	if (!s->failed)
		sim_ledger_finish(s);
	sr_report(s, sim_wall_s() - t0);
	rc = s->failed ? 1 : 0;
	if (s->failed) {
		printf("FAILED at step %" PRIu64 ", t=%" PRIu64 " ms: %s\n", s->steps, s->now_ms, s->fail);
		fprintf(stderr, "chorus-sim raft: FAILED at step %" PRIu64 ", t=%" PRIu64 " ms: %s\n",
		        s->steps, s->now_ms, s->fail);
		fprintf(stderr, "reproduce: chorus-sim raft --voters %u --seed %" PRIu64
		                " --loss %g --steps %" PRIu64 "%s%s",
		        s->voters, s->seed, s->loss, s->steps_max, s->pre_vote ? "" : " --no-pre-vote",
		        s->check_quorum ? "" : " --no-check-quorum");
		if (s->ledger_jobs > 0)
			fprintf(stderr, " --ledger-jobs %u", s->ledger_jobs);
		if (s->dense_fillers)
			fprintf(stderr, " --dense-fillers");
		if (s->batch_steps)
			fprintf(stderr, " --batch-steps");
		if (s->poison)
			fprintf(stderr, " --poison");
		if (s->catchup)
			fprintf(stderr, " --catchup");
		fprintf(stderr, "\n");
	}
	sr_free(s);
	free(s);
	return rc;
}

/*
 * dispatch: the client side of a job.  See docs/dispatch.md.
 *
 *   submit -> COLLECT --window closes or enough offers--> DIAL --accept--> RUN
 *                ^                                          |  refuse,     |  receipt
 *                |                                          |  dial timeout|  -> final
 *                +--- BACKOFF <-- offers ran out <---------+--------------+  (timeout,
 *                                                                              worker dead)
 *
 * A job is broadcast as a request signed by us; workers that can run it
 * answer with offers; we rank them (least loaded, penalising workers that
 * failed us lately, a little jitter to break ties), dispatch to the best and
 * fail over to the next on refusal, silence, timeout or death.  When offers
 * run out we re-broadcast a bounded number of times, then give up with a
 * reason.  Every outcome ends in a signed completion ack to everyone.
 *
 * Invariants (dispatch_check): every job here is not final; its attempts
 * and offers are within bounds; its deadline is set; the hash chains hold
 * exactly n jobs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dispatch/dispatch-internal.h"

const char *job_state_name(enum job_state st)
{
	switch (st) {
	case JOB_PENDING: return "pending";
	case JOB_RUNNING: return "running";
	case JOB_SUCCEEDED: return "succeeded";
	case JOB_FAILED: return "failed";
	case JOB_CANCELLED: return "cancelled";
	case JOB_QUEUED: return "queued";
	}
	return "unknown";
}

const char *job_outcome_name(enum job_outcome o)
{
	switch (o) {
	case OUTCOME_RUNNING: return "running";
	case OUTCOME_OK: return "ok";
	case OUTCOME_FAILED: return "failed";
	case OUTCOME_REFUSED: return "refused";
	case OUTCOME_TIMEOUT: return "timeout";
	case OUTCOME_DIAL_FAILED: return "dial-failed";
	case OUTCOME_WORKER_DEAD: return "worker-dead";
	case OUTCOME_CANCELLED: return "cancelled";
	}
	return "unknown";
}

const char *work_status_name(enum work_status st)
{
	switch (st) {
	case WORK_OK: return "ok";
	case WORK_FAILED: return "failed";
	case WORK_TIMEOUT: return "timeout";
	case WORK_CANCELLED: return "cancelled";
	}
	return "unknown";
}

int dispatch_init(struct core *core)
{
	struct dispatch *d = &core->dispatch;

	d->buckets = calloc(CJOB_BUCKETS, sizeof(*d->buckets));
	d->scratch = malloc(CHORUS_RESULT_MAX > CHORUS_PAYLOAD_MAX ? CHORUS_RESULT_MAX
	                                                           : CHORUS_PAYLOAD_MAX);
	d->next_ms = UINT64_MAX;
	return d->buckets != NULL && d->scratch != NULL ? 0 : CORE_ERR_NOMEM;
}

static void dispatch_job_free(struct cjob *j)
{
	free(j->payload);
	free(j);
}

void dispatch_free(struct core *core)
{
	struct dispatch *d = &core->dispatch;

	for (size_t b = 0; d->buckets != NULL && b < CJOB_BUCKETS; b++) {
		while (d->buckets[b] != NULL) {
			struct cjob *j = d->buckets[b];

			d->buckets[b] = j->next;
			dispatch_job_free(j);
		}
	}
	free(d->buckets);
	free(d->scratch);
	memset(d, 0, sizeof(*d));
}

/* ---------------------------------------------------------------- the job table */

static struct cjob **dispatch_slot(struct dispatch *d, const uint8_t id[CHORUS_JOB_ID_BYTES])
{
	struct cjob **p = &d->buckets[codec_get_u64(id) & (CJOB_BUCKETS - 1)];

	while (*p != NULL && memcmp((*p)->id, id, CHORUS_JOB_ID_BYTES) != 0)
		p = &(*p)->next;
	return p;
}

static struct cjob *dispatch_find_hex(const struct core *core, const char *idhex)
{
	uint8_t id[CHORUS_JOB_ID_BYTES];

	if (idhex == NULL || codec_unhex(id, sizeof(id), idhex) < 0)
		return NULL;
	return *dispatch_slot((struct dispatch *)&core->dispatch, id);
}

/* Phases in which a job waits for a slot: they count against CHORUS_QUEUED_MAX. */
static size_t dispatch_phase_waits(enum cjob_phase phase)
{
	return phase == CJOB_COLLECT || phase == CJOB_BACKOFF || phase == CJOB_QUEUED;
}

static void dispatch_remove(struct core *core, struct cjob *j)
{
	struct cjob **p = dispatch_slot(&core->dispatch, j->id);

	assert(*p == j);
	*p = j->next;
	if (j->lprev != NULL)
		j->lprev->lnext = j->lnext;
	else
		core->dispatch.all = j->lnext;
	if (j->lnext != NULL)
		j->lnext->lprev = j->lprev;
	core->dispatch.n--;
	core->dispatch.waiting -= dispatch_phase_waits(j->phase);
	dispatch_job_free(j);
}

static void dispatch_set_phase(struct core *core, struct cjob *j, enum cjob_phase phase)
{
	core->dispatch.waiting -= dispatch_phase_waits(j->phase);
	core->dispatch.waiting += dispatch_phase_waits(phase);
	j->phase = phase;
}

static void dispatch_set_deadline(struct core *core, struct cjob *j, enum cjob_phase phase,
                                  uint64_t deadline_ms)
{
	dispatch_set_phase(core, j, phase);
	j->deadline_ms = deadline_ms;
	if (deadline_ms < core->dispatch.next_ms)
		core->dispatch.next_ms = deadline_ms;
}

/* ---------------------------------------------------------------- views and effects */

/* Our queued jobs of the same kind that a pull would take before this one. */
static unsigned dispatch_ahead(const struct core *core, const struct cjob *j)
{
	unsigned n = 0;

	for (const struct cjob *o = core->dispatch.all; o != NULL; o = o->lnext)
		n += o != j && o->phase == CJOB_QUEUED && strcmp(o->req.kind, j->req.kind) == 0 &&
		     (o->priority > j->priority || (o->priority == j->priority && o->seq < j->seq));
	return n;
}

static void dispatch_view(const struct core *core, const struct cjob *j, uint64_t now_ms,
                          struct job_view *v)
{
	memset(v, 0, sizeof(*v));
	strcpy(v->id, j->idhex);
	strcpy(v->kind, j->req.kind);
	v->state = j->state;
	snprintf(v->reason, sizeof(v->reason), "%s", j->reason);
	v->nonce = j->req.nonce;
	v->reward = j->req.reward;
	v->timeout_ms = j->req.timeout_ms;
	v->created_ms = j->req.created_ms;
	v->elapsed_ms = now_ms - j->submit_ms;
	v->payload_len = j->req.size;
	v->rounds = j->req.round;
	v->offers = j->offers_seen;
	v->nattempts = j->nattempts;
	memcpy(v->attempts, j->attempts, j->nattempts * sizeof(j->attempts[0]));
	if (j->nattempts > 0 && j->attempts[j->nattempts - 1].outcome == OUTCOME_RUNNING)
		v->attempts[j->nattempts - 1].ms = now_ms - j->attempt_ms;
	v->priority = j->priority;
	v->queue_timeout_ms = j->queue_timeout_ms;
	v->queued_ms = j->queued_ms;
	if (j->state == JOB_QUEUED) {
		v->queued_ms += now_ms - j->queued_since_ms;
		queue_wait((struct core *)core, j->req.kind, &v->wait);
		v->wait.ahead += dispatch_ahead(core, j);
	}
	memcpy(v->where, j->req.where, sizeof(v->where));
	v->nwhere = j->req.nwhere;
}

static int dispatch_restore_attempts(struct cjob *j, const struct job_spec *spec);
static void dispatch_query_start(struct core *core, struct cjob *j, uint64_t now_ms);

static void dispatch_report(struct core *core, struct cjob *j, uint64_t now_ms)
{
	struct job_view v;

	if (core->env.job_cb == NULL)
		return;
	dispatch_view(core, j, now_ms, &v);
	core->env.job_cb(core->env.ctx, &v);
}

int dispatch_broadcast(struct core *core, int type, const char *head, const char *tail,
                       const char *kind_filter, const uint8_t *skip)
{
	const char *addrs[CHORUS_BROADCAST_DIRECT];
	const uint8_t *pks[CHORUS_BROADCAST_DIRECT];
	size_t n = core->members.n, sent = 0, alive = 0;
	size_t start = n > 0 ? rng_below(&core->rng, (uint32_t)n) : 0;
	struct sb sb;

	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_puts(&sb, head);
	sb_puts(&sb, tail);
	assert(!sb.overflow);
	for (size_t k = 0; k < n; k++) {
		const struct member *m = &core->members.v[(start + k) % n];

		if (memcmp(m->pk, core->pk, CHORUS_PK_BYTES) == 0 ||
		    (skip != NULL && memcmp(m->pk, skip, CHORUS_PK_BYTES) == 0) ||
		    (m->state != MEMBER_ALIVE && m->state != MEMBER_SUSPECT))
			continue;
		alive++;
		if (sent < CHORUS_BROADCAST_DIRECT) {
			pks[sent] = m->pk;
			addrs[sent++] = m->addr;
		}
	}
	core_multicast(core, pks, addrs, sent, type, sb.buf, sb.len);
	/* Self-run: a request of a kind we run reaches us too, as anyone's (core.c, loopback). */
	if (kind_filter != NULL && work_runs_kind(core, kind_filter))
		core_send(core, core->pk, core->cfg.addr, type, sb.buf, sb.len);
	return alive > sent; /* some were not told directly: receivers must relay */
}

/* Alive members whose records say they run kind (a hint for "enough offers"). */
static unsigned dispatch_eligible_count(const struct core *core, const char *kind)
{
	unsigned n = 0;

	for (size_t i = 0; i < core->members.n; i++) {
		const struct member *m = &core->members.v[i];
		struct record r;

		if (m->state != MEMBER_ALIVE)
			continue;
		if (memcmp(m->pk, core->pk, CHORUS_PK_BYTES) == 0) { /* self-run: we offer too */
			n += (unsigned)work_runs_kind(core, kind);
			continue;
		}
		if (record_decode(&r, m->text, m->text_len) < 0)
			continue;
		for (unsigned c = 0; c < r.ncaps; c++)
			if (strcmp(r.caps[c], kind) == 0) {
				n++;
				break;
			}
	}
	return n;
}

/* The count above, decoded once per member-table epoch instead of once per job (every record a JSON parse). */
static unsigned dispatch_eligible(struct core *core, const char *kind)
{
	struct dispatch *d = &core->dispatch;
	struct dispatch_eligible *e = NULL;

	for (unsigned k = 0; k < DISPATCH_ELIGIBLE_CACHE && e == NULL; k++)
		if (d->eligible[k].valid && strcmp(d->eligible[k].kind, kind) == 0)
			e = &d->eligible[k];
	if (e == NULL) {
		e = &d->eligible[d->eligible_next];
		d->eligible_next = (d->eligible_next + 1) % DISPATCH_ELIGIBLE_CACHE;
		snprintf(e->kind, sizeof(e->kind), "%s", kind);
		e->valid = 0;
	}
	if (!e->valid || e->epoch != core->members.epoch) {
		e->n = dispatch_eligible_count(core, kind);
		e->epoch = core->members.epoch;
		e->valid = 1;
	}
	return e->n;
}

/* ---------------------------------------------------------------- request rounds */

/* The signed request text of the current round (the dispatch carries it too). */
static void dispatch_sign_request(struct core *core, struct cjob *j)
{
	int len = jobmsg_request_encode(j->req_text, sizeof(j->req_text), &j->req);

	assert(len > 0); /* validated at submit */
	j->req_len = (size_t)len;
	core->crypto->sign(j->req_sig, (const uint8_t *)j->req_text, j->req_len, core->sk);
}

static void dispatch_broadcast_request(struct core *core, struct cjob *j, uint64_t now_ms)
{
	char head[2 * JOBMSG_TEXT_MAX + 256], tail[16];
	struct sb sb;
	int relay;

	j->req.round++;
	assert(j->req.round <= CHORUS_JOB_ROUNDS_MAX);
	dispatch_sign_request(core, j);
	j->noffers = 0;
	j->reserves = 0;
	if (j->req.nwhere > 0) { /* only members that meet the constraint will offer */
		char why[CHORUS_JOB_REASON_MAX];

		j->eligible = where_eligible(core, j->req.kind, j->req.where, j->req.nwhere, why,
		                             sizeof(why));
	} else {
		j->eligible = dispatch_eligible(core, j->req.kind);
	}
	sb_init(&sb, head, sizeof(head));
	sb_puts(&sb, "{");
	jobmsg_signed_put(&sb, "t", "s", j->req_text, j->req_len, j->req_sig);
	assert(!sb.overflow);
	/* The relay flag is outside the signed text: it only asks for help spreading. */
	snprintf(tail, sizeof(tail), ",\"h\":%d}", core->members.n > CHORUS_BROADCAST_DIRECT);
	relay = dispatch_broadcast(core, WIRE_REQUEST, head, tail, j->req.kind, NULL);
	core->stats.requests_sent++;
	dispatch_set_deadline(core, j, CJOB_COLLECT, now_ms + core->cfg.timing.offer_window_ms);
	core_log(core, CORE_LOG_INFO, "job",
	         "event=request job=%s kind=%s size=%zu round=%u eligible=%u relay=%d", j->idhex,
	         j->req.kind, j->req.size, j->req.round, j->eligible, relay);
}

static void dispatch_fail(struct core *core, struct cjob *j, uint64_t now_ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

int core_job_submit(struct core *core, const struct job_spec *spec,
                    char id_out[CHORUS_JOB_ID_HEX + 1], uint64_t now_ms)
{
	struct cjob *j, **slot;
	uint8_t id[CHORUS_JOB_ID_BYTES];

	if (core->left)
		return CORE_ERR_LEFT;
	if (!codec_valid_name(spec->kind, CHORUS_KIND_MAX) || spec->payload_len > CHORUS_PAYLOAD_MAX ||
	    (spec->payload == NULL && spec->payload_len > 0) ||
	    spec->timeout_ms > CHORUS_JOB_TIMEOUT_MS_MAX || spec->reward >= CODEC_JSON_INT_MAX ||
	    spec->created_ms >= CODEC_JSON_INT_MAX || spec->priority > CHORUS_PRIORITY_MAX ||
	    spec->queue_timeout_ms > CHORUS_QUEUE_TIMEOUT_MS_MAX || !record_tags_valid(spec->where, spec->nwhere))
		return CORE_ERR_INVAL;
	/* Back-pressure: refused now rather than accepted and failed later. */
	if (core->dispatch.n >= CHORUS_JOBS_INFLIGHT_MAX || core->dispatch.waiting >= CHORUS_QUEUED_MAX)
		return CORE_ERR_FULL;
	jobmsg_job_id(id, core->pk, spec->nonce);
	slot = dispatch_slot(&core->dispatch, id);
	if (*slot != NULL)
		return CORE_ERR_STALE;
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->payload = malloc(spec->payload_len + 1)) == NULL) {
		free(j);
		return CORE_ERR_NOMEM;
	}
	memcpy(j->id, id, sizeof(id));
	codec_hex(j->idhex, id, sizeof(id));
	if (spec->payload_len > 0)
		memcpy(j->payload, spec->payload, spec->payload_len);
	memcpy(j->req.id, id, sizeof(id));
	j->req.nonce = spec->nonce;
	memcpy(j->req.client, core->pk, CHORUS_PK_BYTES);
	j->req.gen = core->self.start_ms;
	strcpy(j->req.addr, core->cfg.addr);
	strcpy(j->req.kind, spec->kind);
	j->req.size = spec->payload_len;
	jobmsg_hash(j->req.hash, j->payload, spec->payload_len);
	j->req.timeout_ms = spec->timeout_ms ? spec->timeout_ms : core->cfg.timing.job_timeout_ms;
	j->req.reward = spec->reward;
	j->req.created_ms = spec->created_ms;
	memcpy(j->req.where, spec->where, sizeof(j->req.where));
	j->req.nwhere = spec->nwhere;
	j->state = JOB_PENDING;
	j->submit_ms = now_ms;
	j->priority = spec->priority;
	j->queue_timeout_ms = spec->queue_timeout_ms ? spec->queue_timeout_ms : core->cfg.queue_timeout_ms;
	j->queue_deadline_ms = now_ms + j->queue_timeout_ms;
	j->seq = core->dispatch.next_seq++;
	core->dispatch.waiting++; /* COLLECT (calloc) */
	*slot = j;
	j->lnext = core->dispatch.all;
	if (j->lnext != NULL)
		j->lnext->lprev = j;
	core->dispatch.all = j;
	core->dispatch.n++;
	core->stats.jobs_submitted++;
	strcpy(id_out, j->idhex);
	if (spec->nattempts > 0) {
		/* It may have been acked before a crash, unsaved: the floor waits for it (acks.c). */
		j->pinned = 1;
		acks_pin_job(core);
	}
	if (spec->nattempts > 0 && spec->attempts != NULL && dispatch_restore_attempts(j, spec)) {
		dispatch_query_start(core, j, now_ms);
		return 0;
	}
	if (j->req.nwhere > 0) {
		/* A constraint no alive member meets fails now: no offer window to wait out. */
		char why[CHORUS_JOB_REASON_MAX];

		if (where_eligible(core, j->req.kind, j->req.where, j->req.nwhere, why, sizeof(why)) == 0) {
			dispatch_fail(core, j, now_ms, "%s", why);
			return 0;
		}
	}
	dispatch_broadcast_request(core, j, now_ms);
	return 0;
}

/* ---------------------------------------------------------------- the end of a job */

/* An ack waiting for its turn's signature (sigbatch.c), with the receipt it names. */
struct dispatch_ack_out {
	struct jack a;
	size_t len, rlen;
	int has_rauth;
	struct batchsig rauth;
	char text[JOBMSG_TEXT_MAX + 1];
	char rtext[]; /* rlen bytes (a NUL after them) */
};

/* The signed ack: to every member, and to ourselves as everyone sees it. */
static void dispatch_ack_send(struct core *core, const char *text, size_t len,
                              const struct batchsig *auth, const char *rtext, size_t rlen,
                              const struct batchsig *rauth, const struct jack *a)
{
	char head[4 * JOBMSG_TEXT_MAX + BATCHSIG_HEX_MAX + 512];
	struct sb sb;

	/*
	 * Everyone gets the signed ack alone: it names the receipt by its hash,
	 * and nobody else has a use for the receipt's bytes; the ledger gets
	 * both from our outbox (voterd.c).  Carrying the receipt as well made
	 * the ack frame half again as large, on every member, for every job.
	 */
	sb_init(&sb, head, sizeof(head));
	sb_puts(&sb, "{");
	jobmsg_auth_put(&sb, "t", "b", text, len, auth);
	assert(!sb.overflow);
	dispatch_broadcast(core, WIRE_JOBACK, head,
	                   core->members.n > CHORUS_BROADCAST_DIRECT ? ",\"h\":1}" : ",\"h\":0}", NULL,
	                   NULL);
	/* We see our own ack as everyone else does: logged, and handed to the ledger. */
	work_first_sight_id(core, jobmsg_auth_id(text, len));
	work_ack_seen(core, text, len, auth, rtext, rlen, rauth, a);
}

static void dispatch_ack_signed(struct core *core, void *arg, const struct batchsig *auth)
{
	struct dispatch_ack_out *o = arg;

	if (auth != NULL)
		dispatch_ack_send(core, o->text, o->len, auth, o->rlen > 0 ? o->rtext : NULL, o->rlen,
		                  o->has_rauth ? &o->rauth : NULL, &o->a);
	free(o);
}

/*
 * The ack waits for the turn's batch signature (sigbatch.c); without memory
 * for it, it is signed alone now.
 */
static void dispatch_ack_sign(struct core *core, const char *text, size_t len, const char *rtext,
                              size_t rlen, const struct batchsig *rauth, const struct jack *a)
{
	struct dispatch_ack_out *o = malloc(sizeof(*o) + rlen + 1);
	struct batchsig auth;

	if (o != NULL) {
		o->a = *a;
		o->len = len;
		memcpy(o->text, text, len);
		o->text[len] = '\0';
		o->rlen = rtext != NULL ? rlen : 0;
		if (o->rlen > 0)
			memcpy(o->rtext, rtext, rlen);
		o->rtext[o->rlen] = '\0';
		o->has_rauth = rauth != NULL;
		if (rauth != NULL)
			o->rauth = *rauth;
		if (sigbatch_add(core, o->text, o->len, dispatch_ack_signed, o) == 0)
			return;
		free(o);
	}
	batchsig_sign_one(core->crypto, core->sk, text, len, &auth); /* cannot fail */
	dispatch_ack_send(core, text, len, &auth, rtext, rlen, rauth, a);
}

static void dispatch_send_ack(struct core *core, struct cjob *j, const struct jreceipt *rc,
                              const char *rtext, size_t rlen, const struct batchsig *rauth,
                              uint64_t now_ms)
{
	char text[JOBMSG_TEXT_MAX + 1];
	struct jack a;
	int len;

	memset(&a, 0, sizeof(a));
	memcpy(a.id, j->id, sizeof(a.id));
	a.nonce = j->req.nonce;
	memcpy(a.client, core->pk, CHORUS_PK_BYTES);
	strcpy(a.kind, j->req.kind);
	strcpy(a.status, job_state_name(j->state));
	a.attempts = j->nattempts;
	a.reward = j->req.reward;
	/* The window's two numbers (acks.c): the floor is the oldest of ours still open. */
	a.seq = acks_next_seq(core, now_ms);
	a.floor = acks_floor(core, a.seq);
	if (rc != NULL) {
		a.has_worker = 1;
		memcpy(a.worker, rc->worker, CHORUS_PK_BYTES);
		memcpy(a.result_hash, rc->result_hash, JOBMSG_HASH_BYTES);
		jobmsg_hash(a.receipt_hash, rtext, rlen);
	}
	len = jobmsg_ack_encode(text, sizeof(text), &a);
	assert(len > 0);
	/*
	 * One for the ledger stays open until the driver says it is settled;
	 * a resumed job's pin goes with it.
	 */
	if (rc != NULL && j->state == JOB_SUCCEEDED)
		acks_open(core, a.seq, j->pinned);
	else if (j->pinned)
		acks_unpin_job(core);
	j->pinned = 0;
	dispatch_ack_sign(core, text, (size_t)len, rc != NULL ? rtext : NULL, rlen, rauth, &a);
}

/* A queued job leaves the queue (bound to a pulling worker, or final). */
static void dispatch_unqueue(struct core *core, struct cjob *j, uint64_t now_ms)
{
	assert(j->state == JOB_QUEUED);
	j->queued_ms += now_ms - j->queued_since_ms;
	j->state = JOB_PENDING;
	queue_kind_leave(core, j->req.kind, now_ms);
}

static void dispatch_finish(struct core *core, struct cjob *j, enum job_state st, uint64_t now_ms,
                            const struct jreceipt *rc, const char *rtext, size_t rlen,
                            const struct batchsig *rauth, const uint8_t *result,
                            const char *error)
{
	struct job_view v;

	assert(!JOB_STATE_FINAL(j->state) && JOB_STATE_FINAL(st));
	if (j->state == JOB_QUEUED)
		dispatch_unqueue(core, j, now_ms);
	j->state = st;
	switch (st) {
	case JOB_SUCCEEDED: core->stats.jobs_succeeded++; break;
	case JOB_CANCELLED: core->stats.jobs_cancelled++; break;
	default: core->stats.jobs_failed++; break;
	}
	core_log(core, st == JOB_SUCCEEDED ? CORE_LOG_INFO : CORE_LOG_WARN, "job",
	         "event=%s job=%s kind=%s attempts=%u rounds=%u ms=%llu%s%s%s", job_state_name(st),
	         j->idhex, j->req.kind, j->nattempts, j->req.round,
	         (unsigned long long)(now_ms - j->submit_ms), j->reason[0] ? " reason=\"" : "",
	         j->reason, j->reason[0] ? "\"" : "");
	if (core->env.job_cb != NULL) {
		dispatch_view(core, j, now_ms, &v);
		if (rc != NULL) {
			v.result = result;
			v.result_len = rc->result_size;
			codec_hex(v.result_hash, rc->result_hash, JOBMSG_HASH_BYTES);
		}
		if (error != NULL)
			snprintf(v.error, sizeof(v.error), "%s", error);
		core->env.job_cb(core->env.ctx, &v);
	}
	dispatch_send_ack(core, j, rc, rtext, rlen, rauth, now_ms);
	dispatch_remove(core, j);
}

static void dispatch_fail(struct core *core, struct cjob *j, uint64_t now_ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void dispatch_fail(struct core *core, struct cjob *j, uint64_t now_ms, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->reason, sizeof(j->reason), fmt, ap);
	va_end(ap);
	dispatch_finish(core, j, JOB_FAILED, now_ms, NULL, NULL, 0, NULL, NULL, NULL);
}

/* ---------------------------------------------------------------- ranking and dialing */

static struct penalty *dispatch_penalty(struct core *core, const uint8_t *worker, int create,
                                        uint64_t now_ms)
{
	struct penalty *oldest = NULL;

	for (unsigned k = 0; k < CHORUS_PENALTY_MAX; k++) {
		struct penalty *p = &core->dispatch.penalties[k];

		if (p->until_ms > now_ms && memcmp(p->worker, worker, CHORUS_PK_BYTES) == 0)
			return p;
		if (oldest == NULL || p->until_ms < oldest->until_ms)
			oldest = p;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	memcpy(oldest->worker, worker, CHORUS_PK_BYTES);
	return oldest;
}

static void dispatch_penalise(struct core *core, const uint8_t *worker, uint64_t now_ms)
{
	struct penalty *p = dispatch_penalty(core, worker, 1, now_ms);

	p->failures++;
	p->until_ms = now_ms + core->cfg.timing.penalty_ms;
}

/* Lower is better: the load fraction, plus one per recent failure, plus jitter. */
static double dispatch_score(struct core *core, const struct offer *o, uint64_t now_ms)
{
	const struct penalty *p = dispatch_penalty(core, o->worker, 0, now_ms);
	double load = o->capacity > 0 ? (double)o->load / (double)o->capacity : 1.0;
	double jitter = (double)rng_below(&core->rng, 1000) / 1e6; /* < 0.001: ties only */

	return load + (p != NULL ? (double)p->failures : 0.0) + jitter;
}

static void dispatch_record_attempt(struct core *core, struct cjob *j, const struct offer *o,
                                    uint64_t now_ms)
{
	struct job_attempt *a = &j->attempts[j->nattempts];
	long mi = members_find(&core->members, o->worker);

	memset(a, 0, sizeof(*a));
	codec_hex(a->worker, o->worker, CHORUS_PK_BYTES);
	snprintf(a->worker_name, sizeof(a->worker_name), "%s",
	         mi >= 0 ? core->members.v[mi].name : "");
	a->outcome = OUTCOME_RUNNING;
	a->load = o->load;
	a->capacity = o->capacity;
	memcpy(j->attempt_worker[j->nattempts], o->worker, CHORUS_PK_BYTES);
	j->nattempts++;
	j->attempt_ms = now_ms;
}

static void dispatch_send_dispatch(struct core *core, struct cjob *j)
{
	struct sb sb;

	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_puts(&sb, "{");
	jobmsg_signed_put(&sb, "t", "s", j->req_text, j->req_len, j->req_sig);
	/*
	 * "g": the worker life that offered.  A worker that restarted since
	 * refuses it: a dispatch queued for its old life (nng redials and
	 * delivers) must not run a job that may be final elsewhere by now.
	 */
	sb_printf(&sb, ",\"a\":%u,\"g\":%llu,\"p\":", j->nattempts,
	          (unsigned long long)j->cur_gen);
	jobmsg_b64_put(&sb, j->payload, j->req.size);
	sb_puts(&sb, "}");
	assert(!sb.overflow); /* CHORUS_PAYLOAD_MAX fits, see limits.h */
	core->stats.dispatches_sent++;
	assert(j->nattempts > 0); /* cur_addr is the latest attempt's worker */
	core_send(core, j->attempt_worker[j->nattempts - 1], j->cur_addr, WIRE_DISPATCH, sb.buf,
	          sb.len);
}

/*
 * The attempt is recorded durably before its dispatch goes out (the driver
 * holds every later frame until the write is durable): a client that
 * restarts then knows every worker that may have the job, and asks the last
 * one before it offers the job to anyone else (dispatch_query_start).
 */
static void dispatch_persist_attempt(struct core *core, struct cjob *j, uint64_t now_ms)
{
	struct job_view v;

	assert(j->nattempts > 0 && j->attempts[j->nattempts - 1].outcome == OUTCOME_RUNNING);
	if (core->env.attempt_cb == NULL)
		return;
	dispatch_view(core, j, now_ms, &v);
	core->env.attempt_cb(core->env.ctx, &v);
}

static int dispatch_next_round(struct core *core, struct cjob *j, uint64_t now_ms);
static void dispatch_poll_run(struct core *core, struct cjob *j, uint64_t now_ms);
static void dispatch_offer_in(struct core *core, struct cjob *j, uint64_t now_ms);

/* Dial the best untried offer, or move on when there is none; 0 if the job ended. */
static int dispatch_dial(struct core *core, struct cjob *j, uint64_t now_ms)
{
	struct offer *best = NULL;

	for (unsigned k = 0; k < j->noffers; k++) {
		struct offer *o = &j->offers[k];

		if (o->tried)
			continue;
		o->score = dispatch_score(core, o, now_ms);
		if (best == NULL || o->score < best->score)
			best = o;
	}
	if (best == NULL || j->nattempts >= CHORUS_JOB_ATTEMPTS_MAX)
		return dispatch_next_round(core, j, now_ms);
	best->tried = 1;
	dispatch_record_attempt(core, j, best, now_ms);
	strcpy(j->cur_addr, best->addr);
	j->cur_gen = best->gen;
	dispatch_persist_attempt(core, j, now_ms); /* durable before the dispatch leaves */
	/* Half the dial timeout, then once more: one lost frame is not a dead worker. */
	j->dial_resent = 0;
	dispatch_set_deadline(core, j, CJOB_DIAL, now_ms + core->cfg.timing.dial_timeout_ms / 2);
	core_log(core, CORE_LOG_INFO, "job", "event=dispatch job=%s worker=%.10s name=%s load=%u/%u attempt=%u",
	         j->idhex, j->attempts[j->nattempts - 1].worker,
	         j->attempts[j->nattempts - 1].worker_name, best->load, best->capacity, j->nattempts);
	dispatch_send_dispatch(core, j);
	dispatch_report(core, j, now_ms);
	return 1;
}

/*
 * No free slot now: the job waits for a worker's pull (queue.c), until its
 * queue timeout (0: the job ended, the client's table of kinds being full).
 */
static int dispatch_enqueue(struct core *core, struct cjob *j, uint64_t now_ms)
{
	if (queue_kind_enter(core, j->req.kind, now_ms) < 0) {
		dispatch_fail(core, j, now_ms, "%s waits for a slot, but %u other kinds wait already",
		              j->req.kind, QUEUE_KINDS_MAX);
		return 0;
	}
	if (j->state == JOB_RUNNING)
		j->state = JOB_PENDING;
	j->state = JOB_QUEUED;
	j->queued_since_ms = now_ms;
	core->stats.jobs_queued++;
	dispatch_set_deadline(core, j, CJOB_QUEUED, j->queue_deadline_ms);
	core_log(core, CORE_LOG_INFO, "job", "event=queued job=%s kind=%s priority=%u reservations=%u",
	         j->idhex, j->req.kind, j->priority, j->reserves);
	dispatch_report(core, j, now_ms);
	return 1;
}

/* Why a queued job failed: how long it waited, and for what. */
static void dispatch_queue_timeout(struct core *core, struct cjob *j, uint64_t now_ms)
{
	struct job_view v;
	char busy[64];

	dispatch_view(core, j, now_ms, &v);
	if (v.wait.slots > 0 && v.wait.busy >= v.wait.slots)
		snprintf(busy, sizeof(busy), "all %u slots busy", v.wait.slots);
	else
		snprintf(busy, sizeof(busy), "%u of %u slots busy", v.wait.busy, v.wait.slots);
	core->stats.queue_timeouts++;
	dispatch_fail(core, j, now_ms, "queued %.1f s: %u worker%s run%s %s, %s; queue timeout %.0f s",
	              (double)v.queued_ms / 1000.0, v.wait.workers, v.wait.workers == 1 ? "" : "s",
	              v.wait.workers == 1 ? "s" : "", j->req.kind, busy,
	              (double)j->queue_timeout_ms / 1000.0);
}

/* Offers ran out: back off and broadcast again, queue, or give up (0: the job ended). */
static int dispatch_next_round(struct core *core, struct cjob *j, uint64_t now_ms)
{
	unsigned rounds_max = 1 + core->cfg.timing.rebroadcasts;

	if (rounds_max > CHORUS_JOB_ROUNDS_MAX)
		rounds_max = CHORUS_JOB_ROUNDS_MAX;
	/*
	 * Waiting, not failing: a worker keeps our reservation (it pulls a job
	 * when a slot frees), or the rounds found none free while some alive
	 * member runs the kind (it is asked again when membership changes).
	 */
	if (now_ms < j->queue_deadline_ms && j->nattempts < CHORUS_JOB_ATTEMPTS_MAX &&
	    (queue_has_reservation(core, j->req.kind) ||
	     (j->offers_seen == 0 && j->eligible > 0 && j->req.round >= rounds_max)))
		return dispatch_enqueue(core, j, now_ms);
	if (j->offers_seen == 0 && j->eligible == 0) {
		dispatch_fail(core, j, now_ms, "no worker offered to run %s", j->req.kind);
		return 0;
	}
	if (j->offers_seen == 0 && j->req.round >= rounds_max) {
		dispatch_fail(core, j, now_ms,
		              "no worker offered to run %s (%u advertise it: all busy or unreachable)",
		              j->req.kind, j->eligible);
		return 0;
	}
	if (j->req.round >= rounds_max || j->nattempts >= CHORUS_JOB_ATTEMPTS_MAX) {
		const struct job_attempt *a = &j->attempts[j->nattempts - 1];

		assert(j->nattempts > 0);
		dispatch_fail(core, j, now_ms, "gave up after %u attempts in %u rounds; last: %s on %s",
		              j->nattempts, j->req.round, job_outcome_name(a->outcome),
		              a->worker_name[0] ? a->worker_name : a->worker);
		return 0;
	}
	core->stats.failovers++;
	dispatch_set_deadline(core, j, CJOB_BACKOFF,
	                      now_ms + ((uint64_t)core->cfg.timing.rebroadcast_backoff_ms
	                                << (j->req.round - 1)));
	return 1;
}

/* The current attempt ended without a result: remember it and try the next offer. */
static void dispatch_failover(struct core *core, struct cjob *j, enum job_outcome o,
                              uint64_t now_ms)
{
	struct job_attempt *a = &j->attempts[j->nattempts - 1];

	assert(j->nattempts > 0 && a->outcome == OUTCOME_RUNNING);
	a->outcome = o;
	a->ms = now_ms - j->attempt_ms;
	dispatch_penalise(core, j->attempt_worker[j->nattempts - 1], now_ms);
	core_log(core, CORE_LOG_WARN, "job", "event=failover job=%s worker=%.10s name=%s outcome=%s",
	         j->idhex, a->worker, a->worker_name, job_outcome_name(o));
	if (j->state == JOB_RUNNING)
		j->state = JOB_PENDING;
	if (j->req.round == 0) { /* a resumed job that asked first: now offer it to everyone */
		dispatch_broadcast_request(core, j, now_ms);
		dispatch_report(core, j, now_ms);
		return;
	}
	if (dispatch_dial(core, j, now_ms) && j->phase != CJOB_DIAL)
		dispatch_report(core, j, now_ms); /* dialling reports itself */
}

/* ---------------------------------------------------------------- resuming: ask first */

/*
 * A job resumed after a restart whose last recorded attempt may have run is
 * not offered to anyone until that worker says what became of it: its
 * stored receipt (the job ends), "running" (we wait for it as for any
 * running attempt), or "unknown" (it never had it, and from now on refuses
 * that attempt: only then do we fail over).  A worker that membership
 * declares dead or left, or that we do not know at all for
 * CHORUS_JOB_QUERY_UNKNOWN_MS, is failed over too; one that is alive is
 * asked again every half dial timeout, up to the job's timeout and grace
 * (a timeout, as for a running attempt).
 */
static void dispatch_query_tick(struct core *core, struct cjob *j, uint64_t now_ms)
{
	const uint8_t *w = j->attempt_worker[j->nattempts - 1];
	long mi = members_find(&core->members, w);
	const struct member *m = mi >= 0 ? &core->members.v[mi] : NULL;
	char body[JOBMSG_STATUS_MAX];
	struct jstatus q;
	int len;

	assert(j->phase == CJOB_QUERY && j->nattempts > 0);
	if (m != NULL && (m->state == MEMBER_DEAD || m->state == MEMBER_LEFT)) {
		dispatch_failover(core, j, OUTCOME_WORKER_DEAD, now_ms);
		return;
	}
	if (m == NULL && now_ms >= j->query_since_ms + CHORUS_JOB_QUERY_UNKNOWN_MS) {
		dispatch_failover(core, j, OUTCOME_DIAL_FAILED, now_ms);
		return;
	}
	if (now_ms >= j->run_deadline_ms) {
		dispatch_failover(core, j, OUTCOME_TIMEOUT, now_ms);
		return;
	}
	dispatch_set_deadline(core, j, CJOB_QUERY, now_ms + core->cfg.timing.dial_timeout_ms / 2);
	if (m == NULL)
		return; /* not known yet: membership may bring it */
	if (j->attempts[j->nattempts - 1].worker_name[0] == '\0')
		snprintf(j->attempts[j->nattempts - 1].worker_name,
		         sizeof(j->attempts[0].worker_name), "%s", m->name);
	memset(&q, 0, sizeof(q));
	memcpy(q.id, j->id, CHORUS_JOB_ID_BYTES);
	q.nonce = j->req.nonce;
	q.attempt = j->nattempts;
	q.kind = JSTATUS_QUERY;
	len = jobmsg_status_encode(body, sizeof(body), &q);
	assert(len > 0);
	strcpy(j->cur_addr, m->addr);
	core->stats.status_queries++;
	core_send(core, w, m->addr, WIRE_STATUS_Q, body, (size_t)len);
}

/* Restores the attempts a resumed job had; 1 when the last one may have run (ask first). */
static int dispatch_restore_attempts(struct cjob *j, const struct job_spec *spec)
{
	unsigned n = spec->nattempts < CHORUS_JOB_ATTEMPTS_MAX ? spec->nattempts
	                                                        : CHORUS_JOB_ATTEMPTS_MAX;
	struct job_attempt *last;

	for (unsigned k = 0; k < n; k++) {
		if (codec_unhex(j->attempt_worker[j->nattempts], CHORUS_PK_BYTES,
		                spec->attempts[k].worker) < 0)
			continue; /* not a key: nobody to ask */
		j->attempts[j->nattempts++] = spec->attempts[k];
	}
	if (j->nattempts == 0)
		return 0;
	last = &j->attempts[j->nattempts - 1];
	/* Refused or declared dead: it never ran there, or its worker really died. */
	if (last->outcome != OUTCOME_RUNNING && last->outcome != OUTCOME_DIAL_FAILED &&
	    last->outcome != OUTCOME_TIMEOUT)
		return 0;
	last->outcome = OUTCOME_RUNNING;
	return 1;
}

static void dispatch_query_start(struct core *core, struct cjob *j, uint64_t now_ms)
{
	j->query_since_ms = now_ms;
	j->asked = 1;
	j->attempt_ms = now_ms;
	j->run_deadline_ms = now_ms + j->req.timeout_ms + core->cfg.timing.receipt_grace_ms;
	dispatch_set_phase(core, j, CJOB_QUERY);
	dispatch_sign_request(core, j); /* round 0: polls re-send it if the worker still runs it */
	core_log(core, CORE_LOG_INFO, "job", "event=resume-query job=%s worker=%.10s attempt=%u",
	         j->idhex, j->attempts[j->nattempts - 1].worker, j->nattempts);
	dispatch_query_tick(core, j, now_ms);
}

/*
 * A dispatch sent twice and unanswered may still arrive (a slow or loaded
 * worker, frames held up on the way): moving on now could run the job on two
 * live workers.  Ask the worker what became of this attempt, as a restarted
 * client does: "running" and we wait for it, "unknown" and it refuses that
 * attempt from now on -- only then, or when membership declares it dead, do
 * we fail over (dial-failed).
 */
static void dispatch_dial_unanswered(struct core *core, struct cjob *j, uint64_t now_ms)
{
	j->query_since_ms = now_ms;
	j->run_deadline_ms = now_ms + j->req.timeout_ms + core->cfg.timing.receipt_grace_ms;
	dispatch_set_phase(core, j, CJOB_QUERY);
	core->stats.dial_queries++;
	core_log(core, CORE_LOG_INFO, "job", "event=dial-query job=%s worker=%.10s attempt=%u",
	         j->idhex, j->attempts[j->nattempts - 1].worker, j->nattempts);
	dispatch_query_tick(core, j, now_ms);
}

void dispatch_on_status(struct core *core, const struct wire_frame *f, const cJSON *body,
                        uint64_t now_ms)
{
	struct jstatus a;
	struct cjob *j;
	long mi;

	if (jobmsg_status_decode(&a, body, 0, NULL) < 0) {
		core->stats.drop_malformed++;
		return;
	}
	j = *dispatch_slot(&core->dispatch, a.id);
	if (j == NULL || j->phase != CJOB_QUERY || a.attempt != j->nattempts ||
	    memcmp(j->attempt_worker[j->nattempts - 1], f->pk, CHORUS_PK_BYTES) != 0) {
		core->stats.drop_job_stale++;
		return;
	}
	core_log(core, CORE_LOG_INFO, "job", "event=resume-answer job=%s status=%s", j->idhex,
	         a.kind == JSTATUS_RUNNING ? "running" : "unknown");
	if (a.kind == JSTATUS_UNKNOWN) { /* never had it, and now refuses the attempt */
		dispatch_failover(core, j, j->asked ? OUTCOME_REFUSED : OUTCOME_DIAL_FAILED, now_ms);
		return;
	}
	/* Running there, in this life of the worker: wait for it like any running attempt. */
	mi = members_find(&core->members, f->pk);
	if (mi >= 0)
		strcpy(j->cur_addr, core->members.v[mi].addr);
	j->cur_gen = f->gen;
	j->state = JOB_RUNNING;
	dispatch_poll_run(core, j, now_ms);
	dispatch_report(core, j, now_ms);
}

/* ---------------------------------------------------------------- timers */

/* While it runs, ask again now and then: the worker answers a duplicate with what it has. */
static void dispatch_poll_run(struct core *core, struct cjob *j, uint64_t now_ms)
{
	uint64_t next = now_ms + core->cfg.timing.receipt_poll_ms;

	dispatch_set_deadline(core, j, CJOB_RUN, next < j->run_deadline_ms ? next : j->run_deadline_ms);
}

static void dispatch_expire(struct core *core, struct cjob *j, uint64_t now_ms)
{
	switch (j->phase) {
	case CJOB_COLLECT: dispatch_dial(core, j, now_ms); break;
	case CJOB_DIAL:
		if (j->dial_resent) {
			dispatch_dial_unanswered(core, j, now_ms);
			break;
		}
		j->dial_resent = 1;
		dispatch_send_dispatch(core, j);
		dispatch_set_deadline(core, j, CJOB_DIAL,
		                      now_ms + core->cfg.timing.dial_timeout_ms -
		                          core->cfg.timing.dial_timeout_ms / 2);
		break;
	case CJOB_RUN:
		if (now_ms >= j->run_deadline_ms) {
			dispatch_failover(core, j, OUTCOME_TIMEOUT, now_ms);
			break;
		}
		dispatch_send_dispatch(core, j);
		dispatch_poll_run(core, j, now_ms);
		break;
	case CJOB_BACKOFF: dispatch_broadcast_request(core, j, now_ms); break;
	case CJOB_QUERY: dispatch_query_tick(core, j, now_ms); break;
	case CJOB_QUEUED: dispatch_queue_timeout(core, j, now_ms); break;
	}
}

void dispatch_tick(struct core *core, uint64_t now_ms)
{
	struct dispatch *d = &core->dispatch;
	uint64_t next = UINT64_MAX;

	if (now_ms < d->next_ms || d->n == 0)
		return;
	for (struct cjob *j = d->all, *after; j != NULL; j = after) {
		after = j->lnext; /* j may be freed */
		if (j->deadline_ms <= now_ms)
			dispatch_expire(core, j, now_ms);
	}
	/* A second pass for the next deadline: expiries may have set new ones. */
	for (struct cjob *j = d->all; j != NULL; j = j->lnext)
		next = j->deadline_ms < next ? j->deadline_ms : next;
	d->next_ms = next;
}

uint64_t dispatch_next_deadline_ms(const struct core *core)
{
	return core->dispatch.n > 0 ? core->dispatch.next_ms : UINT64_MAX;
}

/* A member died or left: jobs waiting on it fail over now rather than at their deadline. */
void dispatch_on_member(struct core *core, long i, uint64_t now_ms)
{
	const struct member *m = &core->members.v[i];
	struct dispatch *d = &core->dispatch;

	if (d->n == 0 || (m->state != MEMBER_DEAD && m->state != MEMBER_LEFT))
		return;
	for (struct cjob *j = d->all, *after; j != NULL; j = after) {
		after = j->lnext;
		if ((j->phase == CJOB_DIAL || j->phase == CJOB_RUN || j->phase == CJOB_QUERY) &&
		    j->nattempts > 0 &&
		    memcmp(j->attempt_worker[j->nattempts - 1], m->pk, CHORUS_PK_BYTES) == 0)
			dispatch_failover(core, j, OUTCOME_WORKER_DEAD, now_ms);
	}
}

/* ---------------------------------------------------------------- messages */

/* The job a worker's message is about, if that worker is the one we dialled. */
static struct cjob *dispatch_current(struct core *core, const struct wire_frame *f,
                                     const cJSON *body, int need_current)
{
	const char *idhex;
	struct cjob *j;
	uint64_t a;

	if (codec_json_str(body, "job", CHORUS_JOB_ID_HEX, &idhex) < 0 ||
	    codec_json_u64(body, "a", CHORUS_JOB_ATTEMPTS_MAX, &a) < 0) {
		core->stats.drop_malformed++;
		return NULL;
	}
	j = dispatch_find_hex(core, idhex);
	if (j == NULL || (need_current && (a != j->nattempts || j->phase == CJOB_COLLECT ||
	                                   j->phase == CJOB_BACKOFF || j->phase == CJOB_QUEUED ||
	                                   memcmp(j->attempt_worker[a - 1], f->pk,
	                                          CHORUS_PK_BYTES) != 0))) {
		core->stats.drop_job_stale++;
		return NULL;
	}
	return j;
}

struct cjob *dispatch_job_of_attempt(struct core *core, const uint8_t id[CHORUS_JOB_ID_BYTES],
                                     unsigned a, const uint8_t pk[CHORUS_PK_BYTES])
{
	struct cjob *j = *dispatch_slot(&core->dispatch, id);

	if (j == NULL || a == 0 || a != j->nattempts || j->phase == CJOB_COLLECT ||
	    j->phase == CJOB_BACKOFF || memcmp(j->attempt_worker[a - 1], pk, CHORUS_PK_BYTES) != 0)
		return NULL;
	return j;
}

void dispatch_on_offer(struct core *core, const struct wire_frame *f, const cJSON *body,
                       uint64_t now_ms)
{
	const char *idhex, *addr;
	uint64_t round, load, capacity;
	struct cjob *j;
	struct offer *o;

	if (codec_json_str(body, "job", CHORUS_JOB_ID_HEX, &idhex) < 0 ||
	    codec_json_u64(body, "round", CHORUS_JOB_ROUNDS_MAX, &round) < 0 ||
	    codec_json_u64(body, "load", UINT32_MAX, &load) < 0 ||
	    codec_json_u64(body, "cap", UINT32_MAX, &capacity) < 0 ||
	    codec_json_str(body, "addr", CHORUS_ADDR_MAX, &addr) < 0 || !codec_valid_addr(addr)) {
		core->stats.drop_malformed++;
		return;
	}
	j = dispatch_find_hex(core, idhex);
	if (j == NULL || round != j->req.round) {
		core->stats.drop_job_stale++;
		return;
	}
	if (!where_member_meets(core, f->pk, j->req.where, j->req.nwhere)) {
		core->stats.offers_unmatched++; /* its record does not meet the constraint: not dialled */
		return;
	}
	for (unsigned k = 0; k < j->noffers; k++)
		if (memcmp(j->offers[k].worker, f->pk, CHORUS_PK_BYTES) == 0)
			return; /* one offer per worker and round */
	core->stats.offers_received++;
	if (j->noffers >= CHORUS_JOB_OFFERS_MAX)
		return;
	o = &j->offers[j->noffers++];
	memset(o, 0, sizeof(*o));
	memcpy(o->worker, f->pk, CHORUS_PK_BYTES);
	strcpy(o->addr, addr);
	o->load = (uint32_t)load;
	o->capacity = (uint32_t)capacity;
	o->gen = f->gen;
	j->offers_seen++;
	if (core->log_level >= CORE_LOG_INFO) { /* the gossip the README promises at the default level */
		char w[CHORUS_ID_HEX + 1];

		codec_hex(w, f->pk, CHORUS_PK_BYTES);
		core_log(core, CORE_LOG_INFO, "job",
		         "event=offer job=%s worker=%.10s load=%u/%u offers=%u", j->idhex, w, o->load,
		         o->capacity, j->noffers);
	}
	dispatch_offer_in(core, j, now_ms);
}

/* Enough offers close the window early; an offer after the window can still be dialled. */
static void dispatch_offer_in(struct core *core, struct cjob *j, uint64_t now_ms)
{
	unsigned enough = j->eligible < CHORUS_JOB_OFFERS_MAX ? j->eligible : CHORUS_JOB_OFFERS_MAX;
	const struct offer *o = &j->offers[j->noffers - 1];
	/* An idle worker that never failed us cannot be outranked: no need to wait for others. */
	int unbeatable = o->load == 0 && o->capacity > 0 &&
	                 dispatch_penalty(core, o->worker, 0, now_ms) == NULL;

	if (j->phase == CJOB_COLLECT && (unbeatable || j->noffers >= (enough > 0 ? enough : 1)))
		dispatch_dial(core, j, now_ms);
	else if (j->phase == CJOB_BACKOFF)
		dispatch_dial(core, j, now_ms);
	else if (j->phase == CJOB_QUEUED) { /* a late offer is a free slot: take it */
		dispatch_unqueue(core, j, now_ms);
		dispatch_dial(core, j, now_ms);
	}
}

void dispatch_on_accept(struct core *core, const struct wire_frame *f, const cJSON *body,
                        uint64_t now_ms)
{
	struct cjob *j = dispatch_current(core, f, body, 1);

	/* In QUERY, after a dial went unanswered: the late accept answers it too. */
	if (j == NULL || (j->phase != CJOB_DIAL && !(j->phase == CJOB_QUERY && !j->asked)))
		return;
	j->state = JOB_RUNNING;
	/* The worker kills the job at its timeout; the grace covers the receipt's way back. */
	j->run_deadline_ms = now_ms + j->req.timeout_ms + core->cfg.timing.receipt_grace_ms;
	dispatch_poll_run(core, j, now_ms);
	core_log(core, CORE_LOG_DEBUG, "job", "event=accepted job=%s attempt=%u", j->idhex,
	         j->nattempts);
	dispatch_report(core, j, now_ms);
}

void dispatch_on_refuse(struct core *core, const struct wire_frame *f, const cJSON *body,
                        uint64_t now_ms)
{
	struct cjob *j = dispatch_current(core, f, body, 1);
	const char *why = NULL;

	if (j == NULL)
		return;
	/*
	 * A running attempt refused by a poll: the worker restarted since it
	 * accepted (our dispatch names the life that offered) -- it really died,
	 * and the job with it: fail over now, not at the job's timeout.
	 */
	if (j->phase == CJOB_RUN && codec_json_str(body, "why", 32, &why) == 0 &&
	    strcmp(why, "restarted") == 0) {
		dispatch_failover(core, j, OUTCOME_WORKER_DEAD, now_ms);
		return;
	}
	if (j->phase != CJOB_DIAL && !(j->phase == CJOB_QUERY && !j->asked))
		return;
	dispatch_failover(core, j, OUTCOME_REFUSED, now_ms);
}

/* The receipt's result, checked against its signed size and hash; NULL if it does not match. */
static const uint8_t *dispatch_result(struct core *core, const cJSON *body,
                                      const struct jreceipt *rc)
{
	uint8_t hash[JOBMSG_HASH_BYTES];
	size_t len = 0;

	if (jobmsg_b64_get(body, "r", core->dispatch.scratch, CHORUS_RESULT_MAX, &len) < 0 ||
	    len != rc->result_size)
		return NULL;
	jobmsg_hash(hash, core->dispatch.scratch, len);
	return memcmp(hash, rc->result_hash, JOBMSG_HASH_BYTES) == 0 ? core->dispatch.scratch : NULL;
}

/* The latest attempt on that worker, or -1 if we never dispatched to it. */
static int dispatch_attempt_of(const struct cjob *j, const uint8_t *worker)
{
	for (int k = (int)j->nattempts - 1; k >= 0; k--)
		if (memcmp(j->attempt_worker[k], worker, CHORUS_PK_BYTES) == 0)
			return k;
	return -1;
}

static void dispatch_send_cancel(struct core *core, struct cjob *j)
{
	char body[CHORUS_JOB_ID_HEX + 32];

	if ((j->phase != CJOB_DIAL && j->phase != CJOB_RUN && j->phase != CJOB_QUERY) ||
	    j->cur_addr[0] == '\0')
		return;
	snprintf(body, sizeof(body), "{\"job\":\"%s\"}", j->idhex);
	assert(j->nattempts > 0);
	core_send(core, j->attempt_worker[j->nattempts - 1], j->cur_addr, WIRE_CANCEL, body,
	          strlen(body));
}

static void dispatch_receipt_outcome(struct core *core, struct cjob *j, int k,
                                     const struct jreceipt *rc, const char *rtext, size_t rlen,
                                     const struct batchsig *rauth, const uint8_t *result,
                                     const char *error, uint64_t now_ms)
{
	struct job_attempt *a = &j->attempts[k];
	int ok = strcmp(rc->status, "ok") == 0;

	if (a->outcome == OUTCOME_RUNNING)
		a->ms = now_ms - j->attempt_ms;
	a->outcome = ok ? OUTCOME_OK : OUTCOME_FAILED;
	/* A late receipt from an earlier attempt wins: stop the one now running. */
	if (k != (int)j->nattempts - 1 &&
	    j->attempts[j->nattempts - 1].outcome == OUTCOME_RUNNING) {
		dispatch_send_cancel(core, j);
		j->attempts[j->nattempts - 1].outcome = OUTCOME_CANCELLED;
	}
	if (ok) {
		dispatch_finish(core, j, JOB_SUCCEEDED, now_ms, rc, rtext, rlen, rauth, result, NULL);
		return;
	}
	snprintf(j->reason, sizeof(j->reason), "%s %s on %s%s%.400s", rc->kind,
	         strcmp(rc->status, "timeout") == 0 ? "timed out" : "failed",
	         a->worker_name[0] ? a->worker_name : a->worker, error[0] ? ": " : "", error);
	dispatch_finish(core, j, JOB_FAILED, now_ms, rc, rtext, rlen, rauth, NULL, error);
}

void dispatch_on_receipt(struct core *core, const struct wire_frame *f, const cJSON *body,
                         uint64_t now_ms)
{
	const char *rtext, *error = "";
	struct batchsig rauth;
	const uint8_t *result = NULL;
	struct jreceipt rc;
	struct cjob *j;
	size_t rlen;
	int k;

	if (jobmsg_auth_get(body, "t", "b", &rtext, &rlen, &rauth) < 0 ||
	    jobmsg_receipt_decode(&rc, rtext, rlen) < 0 ||
	    (cJSON_GetObjectItemCaseSensitive(body, "e") != NULL &&
	     codec_json_str(body, "e", CHORUS_JOB_ERROR_MAX, &error) < 0)) {
		core->stats.drop_malformed++;
		return;
	}
	/*
	 * The frame's MAC proves the worker sent these bytes, so the receipt is
	 * the worker's word whatever its signature says; the signature is for
	 * third parties, and the ledger, which credits nothing unverified, checks
	 * it.  Verifying it here too cost the client a sixth of its CPU per job.
	 * A receipt whose signature fails makes an ack the ledger refuses: the
	 * leader says so and the client drops it from its outbox (voterd.c).
	 */
	if (memcmp(rc.worker, f->pk, CHORUS_PK_BYTES) != 0 ||
	    memcmp(rc.client, core->pk, CHORUS_PK_BYTES) != 0) {
		core->stats.drop_job_forged++;
		core_log(core, CORE_LOG_DEBUG, "job", "event=drop reason=forged-receipt");
		return;
	}
	j = *dispatch_slot(&core->dispatch, rc.id);
	if (j == NULL || (k = dispatch_attempt_of(j, rc.worker)) < 0 ||
	    strcmp(rc.kind, j->req.kind) != 0) {
		core->stats.drop_job_stale++;
		return;
	}
	if (strcmp(rc.status, "ok") == 0 && (result = dispatch_result(core, body, &rc)) == NULL) {
		core->stats.drop_malformed++;
		return;
	}
	if (strcmp(rc.status, "cancelled") == 0) { /* we did not ask: the worker gave up on it */
		if (k == (int)j->nattempts - 1 && j->attempts[k].outcome == OUTCOME_RUNNING)
			dispatch_failover(core, j, OUTCOME_FAILED, now_ms);
		return;
	}
	dispatch_receipt_outcome(core, j, k, &rc, rtext, rlen, &rauth, result, error, now_ms);
}

/* ---------------------------------------------------------------- the queue */

/*
 * A worker pulls (queue.c): it has a slot for kind now.  Late binding: the
 * job is chosen only now -- our queued job of the kind with the highest
 * priority, the oldest within it -- and dispatched to that worker by the
 * ordinary path (attempt made durable first, accept or refuse, receipt).
 */
int dispatch_pull(struct core *core, const struct wire_frame *f, const char *kind, uint32_t load,
                  uint32_t cap, uint64_t now_ms)
{
	struct cjob *best = NULL;
	struct offer *o;
	long mi = members_find(&core->members, f->pk);

	if (mi < 0)
		return 0;
	for (struct cjob *j = core->dispatch.all; j != NULL; j = j->lnext)
		if (j->phase == CJOB_QUEUED && strcmp(j->req.kind, kind) == 0 &&
		    where_member_meets(core, f->pk, j->req.where, j->req.nwhere) &&
		    (best == NULL || j->priority > best->priority ||
		     (j->priority == best->priority && j->seq < best->seq)))
			best = j;
	if (best == NULL)
		return 0;
	dispatch_unqueue(core, best, now_ms);
	o = &best->offers[0];
	memset(o, 0, sizeof(*o));
	memcpy(o->worker, f->pk, CHORUS_PK_BYTES);
	strcpy(o->addr, core->members.v[mi].addr);
	o->load = load;
	o->capacity = cap;
	o->gen = f->gen;
	best->noffers = 1;
	core_log(core, CORE_LOG_DEBUG, "job", "event=pulled job=%s kind=%s priority=%u", best->idhex,
	         kind, best->priority);
	dispatch_dial(core, best, now_ms);
	return 1;
}

int dispatch_job_of_kind(struct core *core, const uint8_t id[CHORUS_JOB_ID_BYTES], const char *kind)
{
	const struct cjob *j = *dispatch_slot(&core->dispatch, id);

	return j != NULL && strcmp(j->req.kind, kind) == 0;
}

/* A worker keeps a reservation for this job's request: when all answered so, stop collecting. */
void dispatch_reserved(struct core *core, const uint8_t id[CHORUS_JOB_ID_BYTES], uint64_t now_ms)
{
	struct cjob *j = *dispatch_slot(&core->dispatch, id);

	if (j == NULL)
		return;
	j->reserves++;
	if (j->phase == CJOB_BACKOFF ||
	    (j->phase == CJOB_COLLECT && j->noffers == 0 && j->reserves >= j->eligible))
		dispatch_dial(core, j, now_ms); /* no offer to dial: it queues */
}

/* ---------------------------------------------------------------- API */

void core_job_id(uint8_t id[CHORUS_JOB_ID_BYTES], const uint8_t client[CHORUS_PK_BYTES],
                 uint64_t nonce)
{
	jobmsg_job_id(id, client, nonce);
}

int core_job_cancel(struct core *core, const char *job_id, uint64_t now_ms)
{
	struct cjob *j = dispatch_find_hex(core, job_id);

	if (j == NULL)
		return CORE_ERR_INVAL;
	if (j->nattempts > 0 && j->attempts[j->nattempts - 1].outcome == OUTCOME_RUNNING) {
		j->attempts[j->nattempts - 1].outcome = OUTCOME_CANCELLED;
		j->attempts[j->nattempts - 1].ms = now_ms - j->attempt_ms;
		dispatch_send_cancel(core, j);
	}
	snprintf(j->reason, sizeof(j->reason), "cancelled by the client");
	dispatch_finish(core, j, JOB_CANCELLED, now_ms, NULL, NULL, 0, NULL, NULL, NULL);
	return 0;
}

int core_job_get(const struct core *core, const char *job_id, uint64_t now_ms,
                 struct job_view *out)
{
	const struct cjob *j = dispatch_find_hex(core, job_id);

	if (j == NULL)
		return CORE_ERR_INVAL;
	dispatch_view(core, j, now_ms < j->attempt_ms ? j->attempt_ms : now_ms, out);
	return 0;
}

size_t core_jobs_inflight(const struct core *core)
{
	return core->dispatch.n;
}

void core_job_counts(const struct core *core, size_t counts[JOB_STATE_COUNT])
{
	size_t n = 0;

	for (int st = 0; st < JOB_STATE_COUNT; st++)
		counts[st] = 0;
	for (const struct cjob *j = core->dispatch.all; j != NULL; j = j->lnext, n++)
		if ((unsigned)j->state < JOB_STATE_COUNT)
			counts[j->state]++;
	assert(n == core->dispatch.n);
}

const char *dispatch_check(const struct core *core)
{
	const struct dispatch *d = &core->dispatch;
	size_t n = 0, waiting = 0, queued = 0;

	if (d->n > CHORUS_JOBS_INFLIGHT_MAX)
		return "client jobs over their bound";
	for (unsigned k = 0; k < DISPATCH_ELIGIBLE_CACHE; k++)
		if (d->eligible[k].valid && d->eligible[k].epoch == core->members.epoch &&
		    d->eligible[k].n != dispatch_eligible_count(core, d->eligible[k].kind))
			return "cached count of members running a kind is stale";
	/* Nothing in flight: no need to walk 16384 empty buckets on every check. */
	if (d->n == 0)
		return d->all == NULL && d->waiting == 0 ? NULL : "client job list without jobs";
	for (size_t b = 0; b < CJOB_BUCKETS; b++) {
		for (const struct cjob *j = d->buckets[b]; j != NULL; j = j->next) {
			n++;
			if ((codec_get_u64(j->id) & (CJOB_BUCKETS - 1)) != b)
				return "client job in the wrong bucket";
			if (JOB_STATE_FINAL(j->state))
				return "final client job still in flight";
			if (j->noffers > CHORUS_JOB_OFFERS_MAX || j->nattempts > CHORUS_JOB_ATTEMPTS_MAX ||
			    (j->req.round == 0 && !j->asked) ||
			    j->req.round > CHORUS_JOB_ROUNDS_MAX)
				return "client job over its bounds";
			if (j->deadline_ms < d->next_ms)
				return "client job deadline before the table's next deadline";
			if ((j->phase == CJOB_QUEUED) != (j->state == JOB_QUEUED))
				return "client job queued in one of phase and state only";
			waiting += dispatch_phase_waits(j->phase);
			queued += j->phase == CJOB_QUEUED;
			if ((j->phase == CJOB_DIAL || j->phase == CJOB_RUN || j->phase == CJOB_QUERY) &&
			    (j->nattempts == 0 ||
			     j->attempts[j->nattempts - 1].outcome != OUTCOME_RUNNING))
				return "client job dialling without a running attempt";
		}
	}
	if (n != d->n)
		return "client job count does not match the table";
	if (waiting != d->waiting || queued != core->queue.queued)
		return "client jobs waiting or queued do not match their counts";
	n = 0;
	for (const struct cjob *j = d->all; j != NULL && n <= d->n; j = j->lnext)
		n++;
	return n == d->n ? NULL : "client job list does not match the table";
}

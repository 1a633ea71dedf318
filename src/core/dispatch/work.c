/*
 * work: the worker side of a job, and what every node does with requests
 * and completion acks it hears.  See docs/dispatch.md.
 *
 * A worker offers only for kinds it runs (its capabilities) and only while
 * it has room; it runs a job id at most once: a duplicate dispatch gets the
 * stored answer (accept while running, the same signed receipt when done).
 * Jobs are run by the driver (run_cb) and reported back (core_work_done).
 *
 * Invariants (work_check): `running` counts the works not done; done works
 * are exactly the ones on the done list; the table and the kept receipt
 * bytes are within CHORUS_WORK_MAX and CHORUS_WORK_BYTES_MAX.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dispatch/dispatch-internal.h"

int work_init(struct core *core)
{
	struct works *w = &core->works;

	w->buckets = calloc(WORK_BUCKETS, sizeof(*w->buckets));
	/*
	 * calloc, not malloc and seen_init: zeroed is empty, and fresh zeroed pages
	 * are not touched until used (a node that never works never pays for them:
	 * 128 KiB per core in a 1000-node simulation).
	 */
	w->requests = calloc(1, sizeof(*w->requests));
	if (w->buckets == NULL || w->requests == NULL ||
	    batchsig_cache_create(&w->roots, CHORUS_BATCHSIG_CACHE_SLOTS) < 0)
		return CORE_ERR_NOMEM;
	w->capacity_high = core->cfg.capacity;
	return 0;
}

void work_free(struct core *core)
{
	struct works *w = &core->works;

	for (size_t b = 0; w->buckets != NULL && b < WORK_BUCKETS; b++) {
		while (w->buckets[b] != NULL) {
			struct work *x = w->buckets[b];

			w->buckets[b] = x->next;
			free(x->receipt);
			free(x->out);
			free(x);
		}
	}
	free(w->buckets);
	free(w->requests);
	batchsig_cache_destroy(w->roots);
	memset(w, 0, sizeof(*w));
}

int work_first_sight(struct core *core, const uint8_t sig[CHORUS_SIG_BYTES])
{
	return work_first_sight_id(core, codec_get_u64(sig));
}

int work_first_sight_id(struct core *core, uint64_t id)
{
	return !seen_check_insert(core->works.requests, id);
}

static struct work **work_slot(struct works *w, const uint8_t id[CHORUS_JOB_ID_BYTES])
{
	struct work **p = &w->buckets[codec_get_u64(id) & (WORK_BUCKETS - 1)];

	while (*p != NULL && memcmp((*p)->id, id, CHORUS_JOB_ID_BYTES) != 0)
		p = &(*p)->next;
	return p;
}

int work_runs_kind(const struct core *core, const char *kind)
{
	if (core->env.run_cb == NULL)
		return 0;
	for (unsigned c = 0; c < core->self.ncaps; c++)
		if (strcmp(core->self.caps[c], kind) == 0)
			return 1;
	return 0;
}

/* Load changes often; the record (gossip) carries it at most once per load_publish_ms. */
static void work_load_changed(struct core *core, uint64_t now_ms)
{
	core->works.load_dirty = 1;
	work_tick(core, now_ms);
}

static void work_output_tick(struct core *core, uint64_t now_ms);

void work_tick(struct core *core, uint64_t now_ms)
{
	struct works *w = &core->works;

	work_output_tick(core, now_ms);
	if (!w->load_dirty || now_ms < w->next_load_ms)
		return;
	w->load_dirty = 0;
	w->next_load_ms = now_ms + core->cfg.timing.load_publish_ms;
	core_set_load(core, (uint32_t)w->running, now_ms);
}

uint64_t work_next_deadline_ms(const struct core *core)
{
	const struct works *w = &core->works;
	uint64_t load = w->load_dirty ? w->next_load_ms : UINT64_MAX;
	uint64_t flush = w->flush_head != NULL ? w->flush_head->flush_ms : UINT64_MAX;

	return load < flush ? load : flush;
}

/* Re-sends a broadcast body as it came when its sender asked for help spreading it. */
static void work_relay(struct core *core, const struct wire_frame *f, const cJSON *body)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(body, "h");
	unsigned fanout = core->cfg.timing.gossip_fanout;

	if (!cJSON_IsNumber(h) || h->valuedouble != 1)
		return;
	for (unsigned k = 0; k < fanout; k++) {
		long i = swim_random_member(core, f->pk, 0, 0);

		if (i < 0)
			return;
		core_send(core, core->members.v[i].pk, core->members.v[i].addr, f->type,
		          (const char *)f->body, f->body_len);
	}
}

/*
 * A signed text that came straight from its signer needs no second check:
 * the frame's MAC, verified by core_recv, proves that key sent us these very
 * bytes.  Relayed copies (another sender) are verified.  Saves an ed25519
 * verification per request, dispatch and ack on the hot path.
 */
static int work_verify_text(struct core *core, const struct wire_frame *f, const uint8_t *sig,
                            const char *text, size_t len, const uint8_t *signer)
{
	if (memcmp(f->pk, signer, CHORUS_PK_BYTES) == 0)
		return 0;
	return core->crypto->verify(sig, (const uint8_t *)text, len, signer);
}

/* A signed request in a body, decoded and verified; 0 or an error (counted). */
static int work_get_request(struct core *core, const struct wire_frame *f, const cJSON *body,
                            struct jreq *r, uint8_t sig[CHORUS_SIG_BYTES])
{
	const char *text;
	size_t len;

	if (jobmsg_signed_get(body, "t", "s", &text, &len, sig) < 0 ||
	    jobmsg_request_decode(r, text, len) < 0) {
		core->stats.drop_malformed++;
		return CORE_ERR_MALFORMED;
	}
	if (work_verify_text(core, f, sig, text, len, r->client) != 0) {
		core->stats.drop_job_forged++;
		core_log(core, CORE_LOG_DEBUG, "job", "event=drop reason=forged-request");
		return CORE_ERR_BADSIG;
	}
	return 0;
}

/* ---------------------------------------------------------------- requests and offers */

void work_on_request(struct core *core, const struct wire_frame *f, const cJSON *body,
                     uint64_t now_ms)
{
	char idhex[CHORUS_JOB_ID_HEX + 1], offer[CHORUS_JOB_ID_HEX + CHORUS_ADDR_MAX + 128];
	uint8_t sig[CHORUS_SIG_BYTES];
	struct jreq r;
	const char *silent = NULL;

	if (work_get_request(core, f, body, &r, sig) < 0 || !work_first_sight(core, sig))
		return;
	/*
	 * Our own request reaches us only from ourselves (the loopback of
	 * self-run, core.c): a copy someone relayed back is not offered twice,
	 * and we never relay our own (we sent it to everyone we could).
	 */
	if (memcmp(r.client, core->pk, CHORUS_PK_BYTES) == 0 &&
	    memcmp(f->pk, core->pk, CHORUS_PK_BYTES) != 0)
		return;
	core->stats.requests_received++;
	if (memcmp(f->pk, core->pk, CHORUS_PK_BYTES) != 0)
		work_relay(core, f, body);
	codec_hex(idhex, r.id, CHORUS_JOB_ID_BYTES);
	if (!work_runs_kind(core, r.kind))
		silent = "kind-not-run-here";
	else if (!core_tags_match(&core->self, r.where, r.nwhere)) {
		core->stats.requests_unmatched++; /* the client filters offers too: both must agree */
		silent = "constraint-not-met";
	}
	else if (*work_slot(&core->works, r.id) == NULL && queue_free_slots(core) == 0) {
		/* Full: keep a reservation instead, and pull a job when a slot frees (queue.c). */
		core_log(core, CORE_LOG_DEBUG, "job", "event=request job=%s kind=%s decision=reserve",
		         idhex, r.kind);
		queue_reserve(core, &r, now_ms);
		return;
	}
	if (silent != NULL) {
		core_log(core, CORE_LOG_INFO, "job", "event=request job=%s kind=%s decision=silent reason=%s",
		         idhex, r.kind, silent);
		return;
	}
	snprintf(offer, sizeof(offer),
	         "{\"job\":\"%s\",\"round\":%u,\"load\":%zu,\"cap\":%u,\"addr\":\"%s\"}", idhex,
	         r.round, core->works.running, core->cfg.capacity, core->cfg.addr);
	core->stats.offers_sent++;
	core_send(core, r.client, r.addr, WIRE_OFFER, offer, strlen(offer));
	/* Two lines, as the README's gossip names them: the request seen, the offer sent. */
	core_log(core, CORE_LOG_INFO, "job", "event=request job=%s kind=%s decision=offer", idhex,
	         r.kind);
	if (core->log_level >= CORE_LOG_INFO) {
		char client[CHORUS_ID_HEX + 1];

		codec_hex(client, r.client, CHORUS_PK_BYTES);
		core_log(core, CORE_LOG_INFO, "job", "event=offer job=%s client=%.10s load=%zu/%u",
		         idhex, client, core->works.running, core->cfg.capacity);
	}
}

/* ---------------------------------------------------------------- dispatch */

static void work_answer(struct core *core, const uint8_t *to_pk, const char *addr, int type,
                        const char *idhex, uint64_t attempt, const char *why)
{
	char body[CHORUS_JOB_ID_HEX + 128];

	snprintf(body, sizeof(body), "{\"job\":\"%s\",\"a\":%llu%s%s%s}", idhex,
	         (unsigned long long)attempt, why ? ",\"why\":\"" : "", why ? why : "",
	         why ? "\"" : "");
	core_send(core, to_pk, addr, type, body, strlen(body));
}

/* Forgets the oldest done works while over a bound; running works are never evicted. */
static void work_evict(struct core *core)
{
	struct works *w = &core->works;

	while ((w->n >= CHORUS_WORK_MAX || w->bytes > CHORUS_WORK_BYTES_MAX) && w->oldest_done) {
		struct work *x = w->oldest_done, **p = work_slot(w, x->id);

		assert(*p == x && x->done);
		*p = x->next;
		w->oldest_done = x->newer;
		if (w->oldest_done != NULL)
			w->oldest_done->older = NULL;
		else
			w->newest_done = NULL;
		w->bytes -= x->receipt_len;
		w->n--;
		free(x->receipt);
		free(x);
	}
}

static struct work *work_create(struct core *core, const struct jreq *r)
{
	struct works *w = &core->works;
	struct work *x, **slot;

	work_evict(core);
	if (w->n >= CHORUS_WORK_MAX || (x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	memcpy(x->id, r->id, CHORUS_JOB_ID_BYTES);
	codec_hex(x->idhex, r->id, CHORUS_JOB_ID_BYTES);
	memcpy(x->client, r->client, CHORUS_PK_BYTES);
	strcpy(x->client_addr, r->addr);
	strcpy(x->kind, r->kind);
	slot = work_slot(w, r->id);
	assert(*slot == NULL);
	*slot = x;
	w->n++;
	w->running++;
	return x;
}

/* The payload in a dispatch, checked against the signed size and hash. */
static const uint8_t *work_payload(struct core *core, const cJSON *body, const struct jreq *r)
{
	uint8_t hash[JOBMSG_HASH_BYTES];
	size_t len = 0;

	if (jobmsg_b64_get(body, "p", core->dispatch.scratch, CHORUS_PAYLOAD_MAX, &len) < 0 ||
	    len != r->size)
		return NULL;
	jobmsg_hash(hash, core->dispatch.scratch, len);
	return memcmp(hash, r->hash, JOBMSG_HASH_BYTES) == 0 ? core->dispatch.scratch : NULL;
}

static void work_start(struct core *core, const struct jreq *r, const uint8_t *payload,
                       uint64_t attempt, uint64_t now_ms)
{
	char idhex[CHORUS_JOB_ID_HEX + 1];
	uint32_t charged = 0;
	struct work *x;
	int rc;

	codec_hex(idhex, r->id, CHORUS_JOB_ID_BYTES);
	if (!core_tags_match(&core->self, r->where, r->nwhere)) {
		/* Our tags do not meet the signed constraint: whoever dialled us, no. */
		core->stats.requests_unmatched++;
		core->stats.works_refused++;
		work_answer(core, r->client, r->addr, WIRE_REFUSE, idhex, attempt, "constraint-not-met");
		core_log(core, CORE_LOG_INFO, "job", "event=refuse job=%s kind=%s why=constraint", idhex,
		         r->kind);
		return;
	}
	/* A free slot, or the one held for this client's pull (queue.c). */
	if (!work_runs_kind(core, r->kind) || !queue_admit(core, r->client, r->kind, &charged) ||
	    (x = work_create(core, r)) == NULL) {
		core->stats.works_refused++;
		work_answer(core, r->client, r->addr, WIRE_REFUSE, idhex, attempt,
		            work_runs_kind(core, r->kind) ? "full" : "kind-not-run-here");
		/* Full: the client's job waits for our pull rather than for another round. */
		if (work_runs_kind(core, r->kind))
			queue_reserve(core, r, now_ms);
		core_log(core, CORE_LOG_INFO, "job", "event=refuse job=%s kind=%s", idhex, r->kind);
		return;
	}
	core->stats.works_started++;
	x->start_ms = now_ms;
	x->charged_ms = charged;
	queue_work_started(core, r->client);
	x->attempt = (unsigned)attempt; /* its live output is this attempt's */
	work_answer(core, r->client, r->addr, WIRE_ACCEPT, idhex, attempt, NULL);
	core_log(core, CORE_LOG_INFO, "job", "event=run job=%s kind=%s size=%zu timeout_ms=%u", idhex,
	         r->kind, r->size, r->timeout_ms);
	rc = core->env.run_cb(core->env.ctx, x->idhex, r->kind, payload, r->size, r->timeout_ms);
	if (rc != 0)
		core_work_done(core, x->idhex, WORK_FAILED, NULL, 0, "the worker could not start it", 0,
		               now_ms);
	else
		work_load_changed(core, now_ms);
}

/* ---------------------------------------------------------------- the outcome table */

/* The worker's durable row for a job (env.outcome_get_cb); 1 found, 0 none. */
static int work_outcome_get(struct core *core, const char *idhex, struct work_outcome *o)
{
	memset(o, 0, sizeof(*o));
	if (core->env.outcome_get_cb == NULL)
		return 0;
	/* The driver's bytes, but checked like input: a row that makes no sense is no row. */
	if (core->env.outcome_get_cb(core->env.ctx, idhex, o) != 1 ||
	    o->state < WORK_OUTCOME_DONE || o->state > WORK_OUTCOME_DISOWNED ||
	    o->attempt > CHORUS_JOB_ATTEMPTS_MAX ||
	    (o->state == WORK_OUTCOME_DONE &&
	     (o->receipt == NULL || o->receipt_len == 0 || o->receipt_len > CHORUS_BODY_MAX))) {
		memset(o, 0, sizeof(*o));
		return 0;
	}
	return 1;
}

/* Where to answer the asker pk: the job's client address we have, else its member record's. */
static const char *work_reply_addr(const struct core *core, const struct work *x,
                                   const uint8_t *pk)
{
	long mi;

	if (x != NULL)
		return x->client_addr;
	mi = members_find(&core->members, pk);
	return mi >= 0 ? core->members.v[mi].addr : NULL;
}

static void work_outcome_put(struct core *core, const char *idhex, enum work_outcome_state st,
                             unsigned attempt, const uint8_t *client, const char *receipt,
                             size_t len)
{
	struct work_outcome o;

	if (core->env.outcome_put_cb == NULL)
		return;
	memset(&o, 0, sizeof(o));
	strcpy(o.job_id, idhex);
	o.state = st;
	o.attempt = attempt;
	if (client != NULL)
		memcpy(o.client, client, CHORUS_PK_BYTES);
	o.receipt = receipt;
	o.receipt_len = len;
	core->env.outcome_put_cb(core->env.ctx, &o);
}

/*
 * A dispatch for a job this process has not seen: answered from the outcome
 * table when the job is known there (its stored receipt; a refusal when it
 * is final elsewhere, or an attempt we told its restarted client we never
 * had), or refused when it names another life of this worker (queued while
 * we were down: the job may be final elsewhere by now).  1 when answered.
 */
static int work_known(struct core *core, const cJSON *body, const struct jreq *r,
                      uint64_t attempt)
{
	char idhex[CHORUS_JOB_ID_HEX + 1];
	const char *why = NULL;
	struct work_outcome o;
	uint64_t gen = 0;

	codec_hex(idhex, r->id, CHORUS_JOB_ID_BYTES);
	if (cJSON_GetObjectItemCaseSensitive(body, "g") != NULL &&
	    codec_json_u64(body, "g", CODEC_JSON_INT_MAX, &gen) < 0)
		gen = 0; /* unreadable: judged by the table alone */
	if (work_outcome_get(core, idhex, &o)) {
		if (o.state == WORK_OUTCOME_DONE) {
			core->stats.works_known++;
			core->stats.works_duplicate++;
			core_send(core, r->client, r->addr, WIRE_RECEIPT, o.receipt, o.receipt_len);
			core_log(core, CORE_LOG_INFO, "job", "event=known job=%s answer=receipt", idhex);
			return 1;
		}
		if (o.state == WORK_OUTCOME_FINAL)
			why = "final";
		else if (attempt <= o.attempt)
			why = "disowned";
	}
	if (why == NULL && gen != 0 && gen != core->self.start_ms)
		why = "restarted";
	if (why == NULL)
		return 0;
	core->stats.works_known++;
	core->stats.works_refused++;
	work_answer(core, r->client, r->addr, WIRE_REFUSE, idhex, attempt, why);
	core_log(core, CORE_LOG_INFO, "job", "event=refuse job=%s reason=%s attempt=%llu", idhex, why,
	         (unsigned long long)attempt);
	return 1;
}

/*
 * A restarted client asks what became of its job's last attempt: we say
 * running (in this process), send the stored receipt, or say we never had
 * it -- and then refuse that attempt for good (DISOWNED), so a dispatch
 * still on its way cannot start it after the client has moved on.
 */
void work_on_status(struct core *core, const struct wire_frame *f, const cJSON *body,
                    uint64_t now_ms)
{
	char idhex[CHORUS_JOB_ID_HEX + 1], out[JOBMSG_STATUS_MAX];
	struct work_outcome o;
	struct jstatus q, a;
	const char *addr;
	struct work *x;
	int rc, len;

	(void)now_ms;
	memset(&o, 0, sizeof(o));
	if ((rc = jobmsg_status_decode(&q, body, 1, f->pk)) < 0) {
		if (rc == CORE_ERR_BADSIG)
			core->stats.drop_job_forged++; /* only the job's client may ask */
		else
			core->stats.drop_malformed++;
		return;
	}
	core->stats.status_answers++;
	codec_hex(idhex, q.id, CHORUS_JOB_ID_BYTES);
	x = *work_slot(&core->works, q.id);
	if (x != NULL && x->done) {
		core_send(core, f->pk, x->client_addr, WIRE_RECEIPT, x->receipt, x->receipt_len);
		return;
	}
	addr = work_reply_addr(core, x, f->pk);
	if (x == NULL && work_outcome_get(core, idhex, &o) && o.state == WORK_OUTCOME_DONE) {
		if (addr != NULL)
			core_send(core, f->pk, addr, WIRE_RECEIPT, o.receipt, o.receipt_len);
		return;
	}
	a = q;
	a.kind = x != NULL ? JSTATUS_RUNNING : JSTATUS_UNKNOWN;
	if (x == NULL && o.state != WORK_OUTCOME_FINAL &&
	    !(o.state == WORK_OUTCOME_DISOWNED && o.attempt >= q.attempt))
		work_outcome_put(core, idhex, WORK_OUTCOME_DISOWNED, q.attempt, f->pk, NULL, 0);
	len = jobmsg_status_encode(out, sizeof(out), &a);
	assert(len > 0 && (size_t)len < sizeof(out));
	if (addr != NULL)
		core_send(core, f->pk, addr, WIRE_STATUS_A, out, (size_t)len);
	core_log(core, CORE_LOG_INFO, "job", "event=status job=%s attempt=%u answer=%s", idhex,
	         q.attempt, a.kind == JSTATUS_RUNNING ? "running" : "unknown");
}

void work_on_dispatch(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms)
{
	uint8_t sig[CHORUS_SIG_BYTES];
	const uint8_t *payload;
	struct work *x;
	struct jreq r;
	uint64_t attempt;

	if (work_get_request(core, f, body, &r, sig) < 0)
		return;
	if (codec_json_u64(body, "a", CHORUS_JOB_ATTEMPTS_MAX, &attempt) < 0) {
		core->stats.drop_malformed++;
		return;
	}
	if (memcmp(f->pk, r.client, CHORUS_PK_BYTES) != 0) {
		core->stats.drop_job_forged++; /* only the client may dispatch its job */
		return;
	}
	if ((payload = work_payload(core, body, &r)) == NULL) {
		core->stats.drop_malformed++;
		return;
	}
	x = *work_slot(&core->works, r.id);
	if (x == NULL) {
		if (!work_known(core, body, &r, attempt))
			work_start(core, &r, payload, attempt, now_ms);
		return;
	}
	/* The same job again: never run twice; answer what we already know. */
	core->stats.works_duplicate++;
	if (!x->done && attempt > x->attempt)
		x->attempt = (unsigned)attempt; /* the client moved its attempt here: output follows */
	if (x->done)
		core_send(core, r.client, r.addr, WIRE_RECEIPT, x->receipt, x->receipt_len);
	else
		work_answer(core, r.client, r.addr, WIRE_ACCEPT, x->idhex, attempt, NULL);
	core_log(core, CORE_LOG_DEBUG, "job", "event=duplicate-dispatch job=%s done=%d", x->idhex,
	         x->done);
}

void work_on_cancel(struct core *core, const struct wire_frame *f, const cJSON *body,
                    uint64_t now_ms)
{
	uint8_t id[CHORUS_JOB_ID_BYTES];
	const char *idhex;
	struct work *x;

	(void)now_ms;
	if (codec_json_str(body, "job", CHORUS_JOB_ID_HEX, &idhex) < 0 ||
	    codec_unhex(id, sizeof(id), idhex) < 0) {
		core->stats.drop_malformed++;
		return;
	}
	x = *work_slot(&core->works, id);
	if (x == NULL || x->done || x->signing || memcmp(x->client, f->pk, CHORUS_PK_BYTES) != 0) {
		core->stats.drop_job_stale++;
		return;
	}
	core_log(core, CORE_LOG_INFO, "job", "event=cancel job=%s", x->idhex);
	if (core->env.kill_cb != NULL)
		core->env.kill_cb(core->env.ctx, x->idhex);
}

/* ---------------------------------------------------------------- done: the receipt */

/* Printable ASCII only, bounded: the error travels in JSON and ends up in logs. */
static void work_clean_error(char *out, size_t cap, const char *in)
{
	size_t n = 0;

	for (; in != NULL && *in != '\0' && n + 1 < cap; in++)
		out[n++] = (*in >= 0x20 && *in < 0x7f) ? *in : (*in == '\n' ? ' ' : '?');
	out[n] = '\0';
}

/* The receipt's signed text: what ran, for whom, the result's hash. */
static int work_receipt_text(struct core *core, const struct work *x, enum work_status st,
                             const uint8_t *result, size_t len, uint64_t duration_ms,
                             char text[JOBMSG_TEXT_MAX + 1])
{
	struct jreceipt rc;

	memset(&rc, 0, sizeof(rc));
	memcpy(rc.id, x->id, CHORUS_JOB_ID_BYTES);
	memcpy(rc.client, x->client, CHORUS_PK_BYTES);
	memcpy(rc.worker, core->pk, CHORUS_PK_BYTES);
	strcpy(rc.kind, x->kind);
	strcpy(rc.status, work_status_name(st));
	rc.result_size = len;
	jobmsg_hash(rc.result_hash, result, len);
	rc.duration_ms = duration_ms;
	return jobmsg_receipt_encode(text, JOBMSG_TEXT_MAX + 1, &rc);
}

/* The receipt frame's body: the text and its authenticator, the result, the error. */
static int work_receipt_body(struct core *core, const char *text, size_t n,
                             const struct batchsig *auth_in, const uint8_t *result, size_t len,
                             const char *error, struct sb *sb)
{
	char clean[CHORUS_JOB_ERROR_MAX + 1];
	struct batchsig auth = *auth_in;

	if (core->cfg.fault_receipt_sig)
		auth.sig[0] ^= 1;
	work_clean_error(clean, sizeof(clean), error);
	sb_puts(sb, "{");
	jobmsg_auth_put(sb, "t", "b", text, n, &auth);
	sb_puts(sb, ",\"r\":");
	jobmsg_b64_put(sb, result, len);
	sb_puts(sb, ",\"e\":");
	sb_json_str(sb, clean, strlen(clean));
	sb_puts(sb, "}");
	return sb->overflow ? CORE_ERR_OVERSIZE : 0;
}

/* ---------------------------------------------------------------- live output */

/* One chunk of a stream to the client: the partial chunk, and with end set, the stream's end. */
static void work_output_send(struct core *core, struct work *x, unsigned stream, int end)
{
	struct work_stream *st = &x->out->s[stream];
	uint64_t sent_to = st->pos < CHORUS_OUTPUT_JOB_MAX ? st->pos : CHORUS_OUTPUT_JOB_MAX;
	struct joutput o;
	struct sb sb;

	assert(st->pend_len <= CHORUS_OUTPUT_CHUNK_MAX && st->pend_len <= sent_to);
	if (st->pend_len == 0 && (!end || st->pos == 0))
		return;
	memset(&o, 0, sizeof(o));
	memcpy(o.id, x->id, CHORUS_JOB_ID_BYTES);
	o.attempt = x->attempt;
	o.stream = stream;
	o.off = sent_to - st->pend_len;
	o.data = st->pend;
	o.len = st->pend_len;
	o.has_end = end;
	o.end = st->pos;
	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	if (jobmsg_output_encode(&sb, &o) == 0) {
		core->stats.output_sent++;
		core_send(core, x->client, x->client_addr, WIRE_OUTPUT, sb.buf, sb.len);
	}
	st->pend_len = 0;
}

static void work_flush_unqueue(struct works *w, struct work *x)
{
	struct work **p = &w->flush_head, *prev = NULL;

	if (!x->flush_queued)
		return;
	while (*p != x) {
		prev = *p;
		p = &(*p)->flush_next;
	}
	*p = x->flush_next;
	if (w->flush_tail == x)
		w->flush_tail = prev;
	x->flush_next = NULL;
	x->flush_queued = 0;
}

/* Partial chunks wait at most CHORUS_OUTPUT_FLUSH_MS: the list is in flush_ms order. */
static void work_output_tick(struct core *core, uint64_t now_ms)
{
	struct works *w = &core->works;

	while (w->flush_head != NULL && w->flush_head->flush_ms <= now_ms) {
		struct work *x = w->flush_head;

		work_flush_unqueue(w, x);
		assert(!x->done && x->out != NULL);
		work_output_send(core, x, 0, 0);
		work_output_send(core, x, 1, 0);
	}
}

/* The job ended: what waits goes now, with each stream's end (its length, sent or not). */
static void work_output_end(struct core *core, struct work *x)
{
	if (x->out == NULL)
		return;
	work_flush_unqueue(&core->works, x);
	work_output_send(core, x, 0, 1);
	work_output_send(core, x, 1, 1);
	free(x->out);
	x->out = NULL;
}

/* Appends to the partial chunk, sending it when it fills; bytes past the bound are counted. */
static void work_output_append(struct core *core, struct work *x, unsigned stream,
                               const uint8_t *data, size_t len)
{
	struct work_stream *st = &x->out->s[stream];

	while (len > 0) {
		size_t room = CHORUS_OUTPUT_CHUNK_MAX - st->pend_len, n;

		if (st->pos >= CHORUS_OUTPUT_JOB_MAX) {
			st->pos += len;
			core->stats.output_bytes_over += len;
			return;
		}
		n = len < room ? len : room;
		if (n > CHORUS_OUTPUT_JOB_MAX - st->pos)
			n = (size_t)(CHORUS_OUTPUT_JOB_MAX - st->pos);
		memcpy(st->pend + st->pend_len, data, n);
		st->pend_len = (uint16_t)(st->pend_len + n);
		st->pos += n;
		data += n;
		len -= n;
		if (st->pend_len == CHORUS_OUTPUT_CHUNK_MAX)
			work_output_send(core, x, stream, 0);
	}
}

int core_work_output(struct core *core, const char *job_id, unsigned stream, const uint8_t *data,
                     size_t len, uint64_t now_ms)
{
	struct works *w = &core->works;
	uint8_t id[CHORUS_JOB_ID_BYTES];
	struct work *x;

	if (stream > 1 || (data == NULL && len > 0) || codec_unhex(id, sizeof(id), job_id) < 0 ||
	    (x = *work_slot(w, id)) == NULL || x->done || x->signing)
		return CORE_ERR_INVAL;
	if (len == 0)
		return 0;
	if (x->out == NULL && (x->out = calloc(1, sizeof(*x->out))) == NULL)
		return CORE_ERR_NOMEM;
	work_output_append(core, x, stream, data, len);
	/* A partial chunk left: it goes within the flush interval (queued once, FIFO = time order). */
	if ((x->out->s[0].pend_len > 0 || x->out->s[1].pend_len > 0) && !x->flush_queued) {
		x->flush_ms = now_ms + CHORUS_OUTPUT_FLUSH_MS;
		x->flush_queued = 1;
		x->flush_next = NULL;
		if (w->flush_tail != NULL)
			w->flush_tail->flush_next = x;
		else
			w->flush_head = x;
		w->flush_tail = x;
	}
	assert(!x->flush_queued || w->flush_head != NULL);
	return 0;
}

static void work_mark_done(struct works *w, struct work *x, char *receipt, size_t len)
{
	x->done = 1;
	x->receipt = receipt;
	x->receipt_len = len;
	w->bytes += len;
	w->running--;
	x->older = w->newest_done;
	x->newer = NULL;
	if (w->newest_done != NULL)
		w->newest_done->newer = x;
	else
		w->oldest_done = x;
	w->newest_done = x;
}

/* A receipt waiting for its turn's signature (sigbatch.c). */
struct work_receipt_out {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	enum work_status st;
	uint64_t duration_ms, now_ms;
	size_t len, result_len;
	char error[CHORUS_JOB_ERROR_MAX + 1];
	char text[JOBMSG_TEXT_MAX + 1];
	uint8_t result[];
};

/* The signed receipt: kept, made durable, sent; the slot is free. */
static int work_receipt_send(struct core *core, struct work *x, const struct work_receipt_out *o,
                             const struct batchsig *auth)
{
	struct sb sb;
	char *copy;

	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	if (work_receipt_body(core, o->text, o->len, auth, o->result, o->result_len, o->error, &sb) < 0 ||
	    (copy = malloc(sb.len)) == NULL)
		return CORE_ERR_NOMEM; /* bounds make the body fit; only malloc can fail */
	memcpy(copy, sb.buf, sb.len);
	x->signing = 0;
	work_mark_done(&core->works, x, copy, sb.len);
	/* Durable before the receipt leaves: a repeat, even after a restart, gets this receipt. */
	work_outcome_put(core, x->idhex, WORK_OUTCOME_DONE, 0, x->client, copy, sb.len);
	core->stats.receipts_sent++;
	core_send(core, x->client, x->client_addr, WIRE_RECEIPT, copy, sb.len);
	core_log(core, CORE_LOG_INFO, "job", "event=work-done job=%s kind=%s status=%s ms=%llu bytes=%zu",
	         x->idhex, x->kind, work_status_name(o->st), (unsigned long long)o->duration_ms,
	         o->result_len);
	work_load_changed(core, o->now_ms);
	/* A slot is free: the next waiting client gets it (fair share, queue.c). */
	queue_work_ended(core, x->client, o->now_ms - x->start_ms, x->charged_ms, o->now_ms);
	work_evict(core);
	return 0;
}

static void work_receipt_signed(struct core *core, void *arg, const struct batchsig *auth)
{
	struct work_receipt_out *o = arg;
	struct work *x = auth != NULL ? *work_slot(&core->works, o->id) : NULL;

	/* A work that is signing stays in the table (only done ones are evicted). */
	assert(auth == NULL || (x != NULL && x->signing && !x->done));
	if (x != NULL && work_receipt_send(core, x, o, auth) < 0)
		core_log(core, CORE_LOG_ERROR, "job", "event=receipt-lost job=%s reason=no-memory",
		         x->idhex);
	free(o);
}

int core_work_done(struct core *core, const char *job_id, enum work_status st,
                   const uint8_t *result, size_t result_len, const char *error,
                   uint64_t duration_ms, uint64_t now_ms)
{
	uint8_t id[CHORUS_JOB_ID_BYTES];
	struct work_receipt_out *o;
	struct batchsig auth;
	struct work *x;
	int n, err;
	static const uint8_t none[1];

	if (codec_unhex(id, sizeof(id), job_id) < 0 || (x = *work_slot(&core->works, id)) == NULL ||
	    x->done || x->signing)
		return CORE_ERR_INVAL;
	if (st == WORK_OK && result_len > CHORUS_RESULT_MAX) {
		st = WORK_FAILED;
		error = "result too large for a receipt";
	}
	if (st != WORK_OK || result == NULL) {
		result = none;
		result_len = 0;
	}
	if ((o = malloc(sizeof(*o) + result_len)) == NULL)
		return CORE_ERR_NOMEM;
	memcpy(o->id, id, CHORUS_JOB_ID_BYTES);
	o->st = st;
	o->duration_ms = duration_ms;
	o->now_ms = now_ms;
	o->result_len = result_len;
	memcpy(o->result, result, result_len);
	work_clean_error(o->error, sizeof(o->error), error);
	if ((n = work_receipt_text(core, x, st, result, result_len, duration_ms, o->text)) < 0) {
		free(o);
		return n;
	}
	o->len = (size_t)n;
	work_output_end(core, x); /* the client has all the output before the receipt ends the job */
	x->signing = 1;
	if (sigbatch_add(core, o->text, o->len, work_receipt_signed, o) == 0)
		return 0;
	batchsig_sign_one(core->crypto, core->sk, o->text, o->len, &auth); /* cannot fail */
	err = work_receipt_send(core, x, o, &auth);
	free(o);
	if (err < 0)
		x->signing = 0;
	return err;
}

size_t core_work_running(const struct core *core)
{
	return core->works.running;
}

/* ---------------------------------------------------------------- completion acks */

void work_ack_seen(struct core *core, const char *text, size_t len, const struct batchsig *auth,
                   const char *rtext, size_t rlen, const struct batchsig *rauth,
                   const struct jack *a)
{
	char job[CHORUS_JOB_ID_HEX + 1], client[CHORUS_ID_HEX + 1], worker[CHORUS_ID_HEX + 1] = "-";
	struct job_ack ack;

	core->stats.acks_received++;
	codec_hex(job, a->id, CHORUS_JOB_ID_BYTES);
	codec_hex(client, a->client, CHORUS_PK_BYTES);
	if (a->has_worker)
		codec_hex(worker, a->worker, CHORUS_PK_BYTES);
	/* Every member hears every ack: the job's parties say so at info, the rest at debug. */
	core_log(core,
	         memcmp(a->client, core->pk, CHORUS_PK_BYTES) == 0 ||
	                 (a->has_worker && memcmp(a->worker, core->pk, CHORUS_PK_BYTES) == 0)
	             ? CORE_LOG_INFO
	             : CORE_LOG_DEBUG,
	         "job",
	         "event=ack job=%s client=%.10s worker=%.10s kind=%s status=%s attempts=%u reward=%llu",
	         job, client, worker, a->kind, a->status, a->attempts, (unsigned long long)a->reward);
	if (core->env.ack_cb == NULL)
		return;
	memset(&ack, 0, sizeof(ack));
	strcpy(ack.job_id, job);
	ack.ack_text = text;
	ack.ack_len = len;
	ack.ack_auth = *auth;
	ack.receipt_text = rtext;
	ack.receipt_len = rlen;
	if (rauth != NULL)
		ack.receipt_auth = *rauth;
	memcpy(ack.client, a->client, CHORUS_PK_BYTES);
	if (a->has_worker)
		memcpy(ack.worker, a->worker, CHORUS_PK_BYTES);
	ack.status = a->status;
	core->env.ack_cb(core->env.ctx, &ack);
}

/*
 * A receipt inside an ack (older nodes sent it along) must be the one the
 * ack names: the client's signature over the ack covers the receipt's hash.
 * Its worker's signature is the ledger's to check, before it credits
 * anything; every node that only logs the ack would spend an ed25519
 * verification per job on it.
 */
static int work_ack_receipt_ok(const struct jack *a, const char *rtext, size_t rlen)
{
	uint8_t hash[JOBMSG_HASH_BYTES];
	struct jreceipt rc;

	if (jobmsg_receipt_decode(&rc, rtext, rlen) < 0)
		return 0;
	jobmsg_hash(hash, rtext, rlen);
	return memcmp(hash, a->receipt_hash, JOBMSG_HASH_BYTES) == 0 &&
	       memcmp(rc.id, a->id, CHORUS_JOB_ID_BYTES) == 0 &&
	       memcmp(rc.client, a->client, CHORUS_PK_BYTES) == 0 &&
	       memcmp(rc.worker, a->worker, CHORUS_PK_BYTES) == 0 &&
	       memcmp(rc.result_hash, a->result_hash, JOBMSG_HASH_BYTES) == 0;
}

/*
 * A job its client says is final: a worker that could run it remembers that
 * (FINAL never replaces another row), so a dispatch that comes late -- a
 * failover that crossed the ack, a frame queued while we were down -- is
 * refused, never run.  One we ran or run here is in the table already.
 */
static void work_ack_final(struct core *core, const struct jack *a)
{
	char idhex[CHORUS_JOB_ID_HEX + 1];

	if (!work_runs_kind(core, a->kind) || *work_slot(&core->works, a->id) != NULL)
		return;
	codec_hex(idhex, a->id, CHORUS_JOB_ID_BYTES);
	work_outcome_put(core, idhex, WORK_OUTCOME_FINAL, 0, a->client, NULL, 0);
}

void work_on_ack(struct core *core, const struct wire_frame *f, const cJSON *body,
                 uint64_t now_ms)
{
	const char *text, *rtext = NULL;
	struct batchsig auth, rauth;
	size_t len, rlen = 0;
	struct jack a;

	(void)now_ms;
	/* The receipt ("rt", "rb") is optional: acks carried it before, and then it is checked. */
	if (jobmsg_auth_get(body, "t", "b", &text, &len, &auth) < 0 ||
	    jobmsg_ack_decode(&a, text, len) < 0 ||
	    (cJSON_GetObjectItemCaseSensitive(body, "rt") != NULL &&
	     (!a.has_worker || jobmsg_auth_get(body, "rt", "rb", &rtext, &rlen, &rauth) < 0))) {
		core->stats.drop_malformed++;
		return;
	}
	/*
	 * Straight from its client the frame's MAC vouches for the text (as for
	 * requests); a relayed copy is checked: its proof, and its batch's root
	 * once per batch (the cache).
	 */
	if ((memcmp(f->pk, a.client, CHORUS_PK_BYTES) != 0 &&
	     batchsig_verify(core->crypto, core->works.roots, a.client, text, len, &auth) != 0) ||
	    (rtext != NULL && !work_ack_receipt_ok(&a, rtext, rlen))) {
		core->stats.drop_job_forged++;
		core_log(core, CORE_LOG_DEBUG, "job", "event=drop reason=forged-ack");
		return;
	}
	if (!work_first_sight_id(core, jobmsg_auth_id(text, len)))
		return;
	work_relay(core, f, body);
	work_ack_final(core, &a);
	work_ack_seen(core, text, len, &auth, rtext, rlen, rtext != NULL ? &rauth : NULL, &a);
}

static const char *work_check_flush(const struct works *w);

const char *work_check(const struct core *core)
{
	const struct works *w = &core->works;
	size_t n = 0, running = 0, done = 0, bytes = 0;

	/* An idle worker (or none): no need to walk the empty buckets on every check. */
	if (w->n == 0)
		return w->running == 0 && w->bytes == 0 && w->oldest_done == NULL && w->flush_head == NULL
		           ? NULL
		           : "worker counts without works";

	for (size_t b = 0; b < WORK_BUCKETS; b++)
		for (const struct work *x = w->buckets[b]; x != NULL; x = x->next) {
			n++;
			running += !x->done;
			bytes += x->done ? x->receipt_len : 0;
		}
	for (const struct work *x = w->oldest_done; x != NULL && done <= n; x = x->newer)
		done++;
	if (n != w->n || running != w->running || done != n - running || bytes != w->bytes)
		return "worker table does not match its counts";
	/* Jobs taken before core_set_caps lowered the capacity run on: the highest bounds them. */
	if (n > CHORUS_WORK_MAX || running > w->capacity_high)
		return "worker table over its bounds";
	return work_check_flush(w);
}

/* Partial chunks waiting: running works with output, queued once, in deadline order. */
static const char *work_check_flush(const struct works *w)
{
	size_t queued = 0;

	for (const struct work *x = w->flush_head; x != NULL; x = x->flush_next) {
		if (++queued > w->running || x->done || x->out == NULL || !x->flush_queued)
			return "a queued flush of a work without running output";
		if (x->flush_next != NULL && x->flush_next->flush_ms < x->flush_ms)
			return "output flushes out of deadline order";
		if (x->flush_next == NULL && w->flush_tail != x)
			return "output flush list without its tail";
	}
	if ((w->flush_head == NULL) != (w->flush_tail == NULL))
		return "output flush list head and tail disagree";
	return NULL;
}

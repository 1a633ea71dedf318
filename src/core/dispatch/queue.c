/*
 * queue: jobs wait their turn (late binding, fair share).  See
 * docs/dispatch.md, "The queue".
 *
 * Worker side.  A request we cannot offer for (no free slot) leaves a
 * reservation: one per (client, kind), whatever the number of that client's
 * jobs, answered with WIRE_RESERVE.  When a slot is free (a work ended, a
 * pull was refused or expired, a reservation came while a slot was free) we
 * pick the waiting client with the least slot-time used here per weight and
 * send it a pull (WIRE_SLOT), holding the slot for it at most slot_hold_ms.
 * It answers with its best queued job of the kind by the ordinary dispatch
 * (which consumes the hold: queue_admit), or with WIRE_SLOT_NONE, and we
 * pull the next.  A client that enters the competition starts at the least
 * virtual time among those waiting (as start-time fair queuing does): it
 * cannot claim the worker for as long as it was away.
 *
 * Client side.  Per kind with jobs queued: the workers that said they hold
 * our reservation.  A member that joins, comes back or restarts and runs
 * the kind is asked at once (WIRE_RESERVE with "ask"); every alive member
 * again every receipt_poll_ms while jobs of the kind wait, which heals lost
 * frames and reservations a worker dropped.  The job a pull gets is chosen
 * in dispatch.c (dispatch_pull): late binding.
 *
 * Invariants (queue_check): every hold belongs to a reservation and each
 * reservation's pulls count its holds; running + holds <= capacity; tables
 * within their bounds; one entry per (client, kind) and per client usage.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dispatch/dispatch-internal.h"

int queue_init(struct core *core)
{
	memset(&core->queue, 0, sizeof(core->queue));
	core->queue.next_ms = UINT64_MAX;
	return 0;
}

void queue_free(struct core *core)
{
	free(core->queue.res);
	free(core->queue.usage);
	free(core->queue.kinds);
	memset(&core->queue, 0, sizeof(core->queue));
}

static void queue_deadline(struct core *core, uint64_t t)
{
	if (t < core->queue.next_ms)
		core->queue.next_ms = t;
}

static int queue_runs_kind(const struct core *core, const char *kind)
{
	if (core->env.run_cb == NULL)
		return 0;
	for (unsigned c = 0; c < core->self.ncaps; c++)
		if (strcmp(core->self.caps[c], kind) == 0)
			return 1;
	return 0;
}

static void queue_send(struct core *core, const uint8_t *to, const char *addr, int type,
                       const struct jqueue *q)
{
	char body[JOBMSG_QUEUE_MAX];
	int len = jobmsg_queue_encode(body, sizeof(body), q);

	assert(len > 0); /* a valid kind and numbers always fit */
	core_send(core, to, addr, type, body, (size_t)len);
}

/* ---------------------------------------------------------------- fair share (worker) */

int core_share_weight(struct core *core, const uint8_t client_pk[CHORUS_PK_BYTES], unsigned weight)
{
	struct queue *q = &core->queue;

	if (weight < 1 || weight > CHORUS_SHARE_WEIGHT_MAX)
		return CORE_ERR_INVAL;
	for (unsigned k = 0; k < q->nweights; k++) {
		if (memcmp(q->weights[k].client, client_pk, CHORUS_PK_BYTES) != 0)
			continue;
		if (weight == 1)
			q->weights[k] = q->weights[--q->nweights];
		else
			q->weights[k].weight = weight;
		return 0;
	}
	if (weight == 1)
		return 0;
	if (q->nweights >= CHORUS_SHARES_MAX)
		return CORE_ERR_FULL;
	memcpy(q->weights[q->nweights].client, client_pk, CHORUS_PK_BYTES);
	q->weights[q->nweights++].weight = weight;
	return 0;
}

static double queue_weight(const struct core *core, const uint8_t *client)
{
	for (unsigned k = 0; k < core->queue.nweights; k++)
		if (memcmp(core->queue.weights[k].client, client, CHORUS_PK_BYTES) == 0)
			return (double)core->queue.weights[k].weight;
	return 1.0;
}

static int queue_reserves(const struct core *core, const uint8_t *client)
{
	for (size_t k = 0; k < core->queue.nres; k++)
		if (memcmp(core->queue.res[k].client, client, CHORUS_PK_BYTES) == 0)
			return 1;
	return 0;
}

/* The least virtual time among the clients waiting here (0 when none). */
static double queue_min_vtime(const struct core *core, const uint8_t *except)
{
	const struct queue *q = &core->queue;
	double min = 0;
	int any = 0;

	for (size_t k = 0; k < q->nusage; k++) {
		const struct qusage *u = &q->usage[k];

		if ((except != NULL && memcmp(u->client, except, CHORUS_PK_BYTES) == 0) ||
		    !queue_reserves(core, u->client))
			continue;
		if (!any || u->vtime < min)
			min = u->vtime;
		any = 1;
	}
	return min;
}

/* A client's usage entry; create: add one (evicting an idle client's when full). */
static struct qusage *queue_usage(struct core *core, const uint8_t *client, int create)
{
	struct queue *q = &core->queue;
	struct qusage *u;

	for (size_t k = 0; k < q->nusage; k++)
		if (memcmp(q->usage[k].client, client, CHORUS_PK_BYTES) == 0)
			return &q->usage[k];
	if (!create)
		return NULL;
	if (q->nusage == q->capusage) {
		for (size_t k = 0; q->nusage >= CHORUS_RESERVATIONS_MAX && k < q->nusage; k++)
			if (q->usage[k].running == 0 && !queue_reserves(core, q->usage[k].client)) {
				q->usage[k] = q->usage[--q->nusage];
				break;
			}
	}
	if (q->nusage == q->capusage) {
		size_t cap = q->capusage ? 2 * q->capusage : 8;

		if (q->capusage >= CHORUS_RESERVATIONS_MAX)
			return NULL;
		u = realloc(q->usage, cap * sizeof(*u));
		if (u == NULL)
			return NULL;
		q->usage = u;
		q->capusage = cap;
	}
	u = &q->usage[q->nusage++];
	memset(u, 0, sizeof(*u));
	memcpy(u->client, client, CHORUS_PK_BYTES);
	return u;
}

static void queue_charge(struct core *core, const uint8_t *client, double ms)
{
	struct qusage *u = queue_usage(core, client, 0);

	if (u != NULL)
		u->vtime += ms / queue_weight(core, client);
}

void queue_work_started(struct core *core, const uint8_t client[CHORUS_PK_BYTES])
{
	struct qusage *u = queue_usage(core, client, 1);

	if (u != NULL)
		u->running++;
}

void queue_work_ended(struct core *core, const uint8_t client[CHORUS_PK_BYTES], uint64_t slot_ms,
                      uint32_t charged_ms, uint64_t now_ms)
{
	struct qusage *u = queue_usage(core, client, 0);

	if (u != NULL) {
		if (u->running > 0)
			u->running--;
		/* The pull charged its usual time already: settle the difference. */
		u->vtime += ((double)slot_ms - (double)charged_ms) / queue_weight(core, client);
		u->est_ms = u->est_ms == 0 ? (double)slot_ms : 0.75 * u->est_ms + 0.25 * (double)slot_ms;
	}
	queue_pump(core, now_ms);
}

/* ---------------------------------------------------------------- reservations (worker) */

static long queue_res_find(const struct core *core, const uint8_t *client, const char *kind)
{
	for (size_t k = 0; k < core->queue.nres; k++)
		if (memcmp(core->queue.res[k].client, client, CHORUS_PK_BYTES) == 0 &&
		    strcmp(core->queue.res[k].kind, kind) == 0)
			return (long)k;
	return -1;
}

static void queue_hold_remove(struct core *core, unsigned h, int refund)
{
	struct queue *q = &core->queue;
	long k = queue_res_find(core, q->holds[h].client, q->holds[h].kind);

	if (k >= 0 && q->res[k].pulls > 0)
		q->res[k].pulls--;
	if (refund)
		queue_charge(core, q->holds[h].client, -(double)q->holds[h].charge_ms);
	q->holds[h] = q->holds[--q->nholds];
}

/* Forgets reservation k and frees the slots held for it (their charge refunded). */
static void queue_res_drop(struct core *core, size_t k)
{
	struct queue *q = &core->queue;

	for (unsigned h = 0; h < q->nholds;) {
		if (memcmp(q->holds[h].client, q->res[k].client, CHORUS_PK_BYTES) == 0 &&
		    strcmp(q->holds[h].kind, q->res[k].kind) == 0)
			queue_hold_remove(core, h, 1);
		else
			h++;
	}
	q->res[k] = q->res[--q->nres];
}

static struct qres *queue_res_add(struct core *core, const uint8_t *client, const char *addr,
                                  uint64_t gen, const char *kind, uint64_t now_ms)
{
	struct queue *q = &core->queue;
	long k = queue_res_find(core, client, kind);
	unsigned mine = 0;
	struct qusage *u;
	struct qres *r;

	if (k >= 0) {
		r = &q->res[k];
		snprintf(r->addr, sizeof(r->addr), "%s", addr);
		r->gen = gen > r->gen ? gen : r->gen;
		return r;
	}
	for (size_t i = 0; i < q->nres; i++)
		mine += memcmp(q->res[i].client, client, CHORUS_PK_BYTES) == 0;
	if (mine >= CHORUS_RESERVATIONS_CLIENT_MAX || q->nres >= CHORUS_RESERVATIONS_MAX)
		return NULL;
	if (q->nres == q->capres) {
		size_t cap = q->capres ? 2 * q->capres : 8;

		r = realloc(q->res, cap * sizeof(*r));
		if (r == NULL)
			return NULL;
		q->res = r;
		q->capres = cap;
	}
	/* A client back in the competition starts level with those waiting, not behind them. */
	if (mine == 0 && (u = queue_usage(core, client, 1)) != NULL) {
		double min = queue_min_vtime(core, client);

		if (u->vtime < min)
			u->vtime = min;
	}
	r = &q->res[q->nres++];
	memset(r, 0, sizeof(*r));
	memcpy(r->client, client, CHORUS_PK_BYTES);
	snprintf(r->addr, sizeof(r->addr), "%s", addr);
	r->gen = gen;
	strcpy(r->kind, kind);
	r->since_ms = now_ms;
	core->stats.reservations_kept++;
	return r;
}

/* Jobs of other clients waiting here for kind (their hints). */
static uint32_t queue_ahead(const struct core *core, const uint8_t *client, const char *kind)
{
	uint64_t n = 0;

	for (size_t k = 0; k < core->queue.nres; k++)
		if (strcmp(core->queue.res[k].kind, kind) == 0 &&
		    memcmp(core->queue.res[k].client, client, CHORUS_PK_BYTES) != 0)
			n += core->queue.res[k].want;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static void queue_answer(struct core *core, const struct qres *r, const uint8_t *job)
{
	struct jqueue a;

	memset(&a, 0, sizeof(a));
	strcpy(a.kind, r->kind);
	if (job != NULL) {
		a.has_job = 1;
		memcpy(a.id, job, CHORUS_JOB_ID_BYTES);
	}
	a.has_load = 1;
	a.load = (uint32_t)core->works.running;
	a.cap = core->cfg.capacity;
	a.ahead = queue_ahead(core, r->client, r->kind);
	queue_send(core, r->client, r->addr, WIRE_RESERVE, &a);
}

size_t queue_free_slots(const struct core *core)
{
	size_t used = core->works.running + core->queue.nholds;

	return used < core->cfg.capacity ? core->cfg.capacity - used : 0;
}

void queue_reserve(struct core *core, const struct jreq *r, uint64_t now_ms)
{
	struct qres *x = queue_res_add(core, r->client, r->addr, r->gen, r->kind, now_ms);

	if (x == NULL) {
		core->stats.reservations_refused++;
		return;
	}
	if (x->want < CHORUS_QUEUED_MAX)
		x->want++;
	queue_answer(core, x, r->id);
	queue_pump(core, now_ms);
}

int queue_admit(struct core *core, const uint8_t client[CHORUS_PK_BYTES], const char *kind,
                uint32_t *charged)
{
	struct queue *q = &core->queue;

	long k, newest = -1;

	*charged = 0;
	/*
	 * The newest of its holds: a dispatch cannot say which pull it answers,
	 * and the pull left unanswered (lost) is the older one -- it must
	 * expire on time, not be renewed by every later pull of the client.
	 */
	for (unsigned h = 0; h < q->nholds; h++)
		if (memcmp(q->holds[h].client, client, CHORUS_PK_BYTES) == 0 &&
		    strcmp(q->holds[h].kind, kind) == 0 &&
		    (newest < 0 || q->holds[h].deadline_ms >= q->holds[newest].deadline_ms))
			newest = (long)h;
	if (newest < 0)
		return queue_free_slots(core) > 0;
	*charged = q->holds[newest].charge_ms;
	k = queue_res_find(core, client, kind);
	if (k >= 0 && q->res[k].want > 1)
		q->res[k].want--;
	queue_hold_remove(core, (unsigned)newest, 0);
	return 1;
}

/* The reservation the next free slot goes to: least slot-time per weight, then longest unserved. */
static long queue_pick(struct core *core)
{
	struct queue *q = &core->queue;
	double best_v = 0;
	long best = -1;

	for (size_t k = 0; k < q->nres; k++) {
		const struct qres *r = &q->res[k];
		const struct qusage *u;
		double v;

		if (r->pulls >= (r->want > 0 ? r->want : 1))
			continue;
		u = queue_usage(core, r->client, 0);
		v = u != NULL ? u->vtime : 0;
		if (best < 0 || v < best_v ||
		    (v == best_v && r->last_pull_ms < q->res[best].last_pull_ms)) {
			best = (long)k;
			best_v = v;
		}
	}
	return best;
}

void queue_pump(struct core *core, uint64_t now_ms)
{
	struct queue *q = &core->queue;

	while (queue_free_slots(core) > 0 && q->nholds < QUEUE_HOLDS_MAX) {
		long k = queue_pick(core);
		struct qusage *u;
		struct qhold *h;
		struct jqueue s;

		if (k < 0)
			return;
		u = queue_usage(core, q->res[k].client, 1);
		h = &q->holds[q->nholds++];
		memcpy(h->client, q->res[k].client, CHORUS_PK_BYTES);
		strcpy(h->kind, q->res[k].kind);
		h->deadline_ms = now_ms + core->cfg.timing.slot_hold_ms;
		/* Charged now, settled when the work ends: the next pick already sees it. */
		h->charge_ms = u != NULL ? (uint32_t)(u->est_ms < 1 ? 1 : u->est_ms) : 1;
		queue_charge(core, h->client, (double)h->charge_ms);
		q->res[k].pulls++;
		q->res[k].last_pull_ms = now_ms;
		queue_deadline(core, h->deadline_ms);
		memset(&s, 0, sizeof(s));
		strcpy(s.kind, q->res[k].kind);
		s.has_load = 1;
		s.load = (uint32_t)core->works.running;
		s.cap = core->cfg.capacity;
		core->stats.pulls_sent++;
		core_log(core, CORE_LOG_DEBUG, "queue", "event=pull kind=%s holds=%u client=%02x%02x",
		         s.kind, q->nholds, h->client[0], h->client[1]);
		queue_send(core, q->res[k].client, q->res[k].addr, WIRE_SLOT, &s);
	}
}

/* A client's "keep a reservation for me" (ask), or its "none of that kind waits" (n 0). */
static void queue_on_ask(struct core *core, const struct wire_frame *f, const struct jqueue *a,
                         uint64_t now_ms)
{
	long mi = members_find(&core->members, f->pk);
	struct qres *x;
	long k;

	if (!queue_runs_kind(core, a->kind) || mi < 0)
		return;
	if (a->n == 0) {
		if ((k = queue_res_find(core, f->pk, a->kind)) >= 0)
			queue_res_drop(core, (size_t)k);
		queue_pump(core, now_ms);
		return;
	}
	x = queue_res_add(core, f->pk, core->members.v[mi].addr, f->gen, a->kind, now_ms);
	if (x == NULL) {
		core->stats.reservations_refused++;
		return;
	}
	x->want = a->n > x->pulls ? a->n : x->pulls + 1;
	queue_answer(core, x, NULL);
	queue_pump(core, now_ms);
}

/* WIRE_UNRESERVE and WIRE_SLOT_NONE: forget that client's reservation of the kind, pull the next. */
void queue_on_unreserve(struct core *core, const struct wire_frame *f, const cJSON *body,
                        uint64_t now_ms)
{
	struct jqueue a;
	long k;

	if (jobmsg_queue_decode(&a, body) < 0) {
		core->stats.drop_queue++;
		return;
	}
	if ((k = queue_res_find(core, f->pk, a.kind)) >= 0)
		queue_res_drop(core, (size_t)k);
	core_log(core, CORE_LOG_DEBUG, "queue", "event=%s kind=%s",
	         f->type == WIRE_SLOT_NONE ? "slot-none" : "unreserve", a.kind);
	queue_pump(core, now_ms);
}

/* ---------------------------------------------------------------- kinds we wait for (client) */

static struct qkind *queue_kind(struct core *core, const char *kind, int create)
{
	struct queue *q = &core->queue;
	struct qkind *e;

	for (unsigned k = 0; k < q->nkinds; k++)
		if (strcmp(q->kinds[k].kind, kind) == 0)
			return &q->kinds[k];
	if (!create || q->nkinds >= QUEUE_KINDS_MAX)
		return NULL;
	if (q->kinds == NULL && (q->kinds = calloc(QUEUE_KINDS_MAX, sizeof(*q->kinds))) == NULL)
		return NULL;
	e = &q->kinds[q->nkinds++];
	memset(e, 0, sizeof(*e));
	strcpy(e->kind, kind);
	return e;
}

static void queue_kres_drop(struct qkind *e, unsigned k)
{
	e->res[k] = e->res[--e->nres];
	e->wait_epoch = 0; /* the wait counted that worker's answer */
}

/* Asks one member (to_pk) or every alive member (NULL) to keep a reservation for our kind. */
static void queue_ask(struct core *core, struct qkind *e, const struct member *to)
{
	char body[JOBMSG_QUEUE_MAX];
	struct jqueue a;
	int len;

	memset(&a, 0, sizeof(a));
	strcpy(a.kind, e->kind);
	a.ask = 1;
	a.n = e->queued;
	len = jobmsg_queue_encode(body, sizeof(body), &a);
	assert(len > 0);
	if (to != NULL)
		core_send(core, to->pk, to->addr, WIRE_RESERVE, body, (size_t)len);
	else
		dispatch_broadcast(core, WIRE_RESERVE, body, "", NULL, NULL);
}

int queue_kind_enter(struct core *core, const char *kind, uint64_t now_ms)
{
	struct qkind *e = queue_kind(core, kind, 1);

	if (e == NULL)
		return CORE_ERR_FULL;
	e->queued++;
	core->queue.queued++;
	/* Nobody holds a reservation for it (lost, or it never got one): ask everyone now. */
	if (e->nres == 0 || e->next_ask_ms == 0) {
		queue_ask(core, e, NULL);
		e->next_ask_ms = now_ms + core->cfg.timing.receipt_poll_ms;
	}
	queue_deadline(core, e->next_ask_ms);
	return 0;
}

void queue_kind_leave(struct core *core, const char *kind, uint64_t now_ms)
{
	struct qkind *e = queue_kind(core, kind, 0);

	(void)now_ms;
	assert(e != NULL && e->queued > 0 && core->queue.queued > 0);
	e->queued--;
	core->queue.queued--;
}

int queue_has_reservation(const struct core *core, const char *kind)
{
	const struct qkind *e = queue_kind((struct core *)core, kind, 0);

	return e != NULL && e->nres > 0;
}

/* A worker's reservation answer: remember it; tell the job it answers. */
static void queue_on_answer(struct core *core, const struct wire_frame *f, const struct jqueue *a,
                            uint64_t now_ms)
{
	/* A kind is tracked for a job of ours that waits for it, not for any member's say-so. */
	int ours = a->has_job && dispatch_job_of_kind(core, a->id, a->kind);
	struct qkind *e = queue_kind(core, a->kind, ours);
	unsigned k;

	if (e != NULL) {
		for (k = 0; k < e->nres; k++)
			if (memcmp(e->res[k].worker, f->pk, CHORUS_PK_BYTES) == 0)
				break;
		if (k == e->nres && e->nres < QUEUE_KIND_RES_MAX)
			memcpy(e->res[e->nres++].worker, f->pk, CHORUS_PK_BYTES);
		if (k < e->nres) {
			e->res[k].gen = f->gen;
			e->res[k].load = a->load;
			e->res[k].cap = a->cap;
			e->res[k].ahead = a->ahead;
			e->wait_epoch = 0; /* the wait counts answers: count it again */
		}
		if (e->next_ask_ms == 0)
			e->next_ask_ms = now_ms + core->cfg.timing.receipt_poll_ms;
		queue_deadline(core, e->next_ask_ms);
	}
	core->stats.reserves_received++;
	if (a->has_job)
		dispatch_reserved(core, a->id, now_ms);
}

void queue_on_reserve(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms)
{
	struct jqueue a;

	if (jobmsg_queue_decode(&a, body) < 0 || (!a.ask && !a.has_load)) {
		core->stats.drop_queue++;
		return;
	}
	if (a.ask)
		queue_on_ask(core, f, &a, now_ms);
	else
		queue_on_answer(core, f, &a, now_ms);
}

/* A pull: our best queued job of the kind goes to that worker, or we say there is none. */
void queue_on_slot(struct core *core, const struct wire_frame *f, const cJSON *body,
                   uint64_t now_ms)
{
	struct jqueue a, none;
	long mi;

	if (jobmsg_queue_decode(&a, body) < 0 || !a.has_load) {
		core->stats.drop_queue++;
		return;
	}
	core->stats.pulls_received++;
	if (dispatch_pull(core, f, a.kind, a.load, a.cap, now_ms))
		return;
	mi = members_find(&core->members, f->pk);
	if (mi < 0)
		return; /* not a member we know: its hold expires */
	memset(&none, 0, sizeof(none));
	strcpy(none.kind, a.kind);
	core->stats.pulls_none_sent++;
	queue_send(core, f->pk, core->members.v[mi].addr, WIRE_SLOT_NONE, &none);
}

/* What a queued job waits for: alive members that run the kind, their slots, how many busy. */
void queue_wait(struct core *core, const char *kind, struct job_wait *w)
{
	struct qkind *e = queue_kind(core, kind, 0);

	if (e != NULL && e->wait_epoch == core->members.epoch + 1) {
		*w = e->wait;
		return;
	}
	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < core->members.n; i++) {
		const struct member *m = &core->members.v[i];
		struct record r;

		int self = memcmp(m->pk, core->pk, CHORUS_PK_BYTES) == 0;

		if (m->state != MEMBER_ALIVE || record_decode(&r, m->text, m->text_len) < 0)
			continue;
		if (self) /* we may run our own jobs (self-run): our load as it is now */
			r.load = (uint32_t)core->works.running;
		/*
		 * Records publish load at most every load_publish_ms: a worker that
		 * holds our reservation was full when it answered, and stays so
		 * while our jobs wait (it pulls the moment a slot frees).
		 */
		for (unsigned k = 0; e != NULL && k < e->nres; k++)
			if (memcmp(e->res[k].worker, m->pk, CHORUS_PK_BYTES) == 0 && e->res[k].load > r.load)
				r.load = e->res[k].load;
		for (unsigned c = 0; c < r.ncaps; c++)
			if (strcmp(r.caps[c], kind) == 0) {
				w->workers++;
				w->slots += r.capacity;
				w->busy += r.load < r.capacity ? r.load : r.capacity;
				break;
			}
	}
	/* Fresher than records: a worker that just answered a reservation was full then. */
	for (unsigned k = 0; e != NULL && k < e->nres; k++)
		if (e->res[k].ahead > w->ahead)
			w->ahead = e->res[k].ahead;
	if (e != NULL) {
		e->wait = *w;
		e->wait_epoch = core->members.epoch + 1;
	}
}

/* ---------------------------------------------------------------- membership and timers */

static int queue_member_runs(const struct member *m, const char *kind)
{
	struct record r;

	if (record_decode(&r, m->text, m->text_len) < 0)
		return 0;
	for (unsigned c = 0; c < r.ncaps; c++)
		if (strcmp(r.caps[c], kind) == 0)
			return 1;
	return 0;
}

/*
 * A member changed.  Worker: a client that died, left or restarted waits no
 * more.  Client: a worker that died, left or restarted holds no reservation
 * of ours; one that is alive and runs a kind we wait for, without holding
 * our reservation, is asked at once -- a slot that appears is used without
 * waiting for a timer.
 */
void queue_on_member(struct core *core, long i, uint64_t now_ms)
{
	struct queue *q = &core->queue;
	const struct member *m = &core->members.v[i];
	int gone = m->state == MEMBER_DEAD || m->state == MEMBER_LEFT, dropped = 0;

	if (memcmp(m->pk, core->pk, CHORUS_PK_BYTES) == 0)
		return;
	for (size_t k = 0; k < q->nres;) {
		if (memcmp(q->res[k].client, m->pk, CHORUS_PK_BYTES) == 0 &&
		    (gone || (q->res[k].gen != 0 && q->res[k].gen < m->start_ms))) {
			queue_res_drop(core, k);
			dropped = 1;
		} else {
			k++;
		}
	}
	if (dropped)
		queue_pump(core, now_ms);
	for (unsigned e = 0; e < q->nkinds; e++) {
		struct qkind *qk = &q->kinds[e];
		int held = 0;

		for (unsigned k = 0; k < qk->nres;) {
			if (memcmp(qk->res[k].worker, m->pk, CHORUS_PK_BYTES) != 0) {
				k++;
			} else if (gone || qk->res[k].gen < m->start_ms) {
				queue_kres_drop(qk, k);
			} else {
				held = 1;
				k++;
			}
		}
		if (!held && !gone && m->state == MEMBER_ALIVE && qk->queued > 0 &&
		    queue_member_runs(m, qk->kind))
			queue_ask(core, qk, m);
	}
}

void queue_tick(struct core *core, uint64_t now_ms)
{
	struct queue *q = &core->queue;
	uint64_t next = UINT64_MAX;
	int freed = 0;

	if (now_ms < q->next_ms)
		return;
	for (unsigned h = 0; h < q->nholds;) {
		if (q->holds[h].deadline_ms > now_ms) {
			h++;
			continue;
		}
		/* The client did not answer: the time held is what it used. */
		core->stats.pulls_expired++;
		core_log(core, CORE_LOG_DEBUG, "queue", "event=pull-expired kind=%s", q->holds[h].kind);
		queue_charge(core, q->holds[h].client,
		             (double)core->cfg.timing.slot_hold_ms - (double)q->holds[h].charge_ms);
		queue_hold_remove(core, h, 0);
		freed = 1;
	}
	if (freed)
		queue_pump(core, now_ms);
	for (unsigned e = 0; e < q->nkinds;) {
		struct qkind *qk = &q->kinds[e];

		if (qk->next_ask_ms > now_ms) {
			e++;
			continue;
		}
		if (qk->queued == 0) {
			/* Nothing of the kind waits: let the workers forget us, forget the kind. */
			struct jqueue u;

			memset(&u, 0, sizeof(u));
			strcpy(u.kind, qk->kind);
			for (unsigned k = 0; k < qk->nres; k++) {
				long mi = members_find(&core->members, qk->res[k].worker);

				if (mi >= 0)
					queue_send(core, qk->res[k].worker, core->members.v[mi].addr,
					           WIRE_UNRESERVE, &u);
			}
			*qk = q->kinds[--q->nkinds];
			continue;
		}
		queue_ask(core, qk, NULL);
		qk->next_ask_ms = now_ms + core->cfg.timing.receipt_poll_ms;
		e++;
	}
	for (unsigned h = 0; h < q->nholds; h++)
		next = q->holds[h].deadline_ms < next ? q->holds[h].deadline_ms : next;
	for (unsigned e = 0; e < q->nkinds; e++)
		next = q->kinds[e].next_ask_ms < next ? q->kinds[e].next_ask_ms : next;
	q->next_ms = next;
}

uint64_t queue_next_deadline_ms(const struct core *core)
{
	return core->queue.next_ms;
}

const char *queue_check(const struct core *core)
{
	const struct queue *q = &core->queue;
	size_t queued = 0;

	if (q->nres > CHORUS_RESERVATIONS_MAX || q->nholds > QUEUE_HOLDS_MAX ||
	    q->nusage > CHORUS_RESERVATIONS_MAX || q->nkinds > QUEUE_KINDS_MAX ||
	    q->nweights > CHORUS_SHARES_MAX)
		return "queue tables over their bounds";
	if (core->works.running + q->nholds > core->cfg.capacity && q->nholds > 0)
		return "slots held for pulls beyond the free ones";
	for (size_t k = 0; k < q->nres; k++) {
		unsigned holds = 0;

		for (unsigned h = 0; h < q->nholds; h++)
			holds += memcmp(q->holds[h].client, q->res[k].client, CHORUS_PK_BYTES) == 0 &&
			         strcmp(q->holds[h].kind, q->res[k].kind) == 0;
		if (holds != q->res[k].pulls)
			return "a reservation's pulls do not match its held slots";
		if (queue_res_find(core, q->res[k].client, q->res[k].kind) != (long)k)
			return "two reservations of one client and kind";
	}
	for (unsigned h = 0; h < q->nholds; h++) {
		if (queue_res_find(core, q->holds[h].client, q->holds[h].kind) < 0)
			return "a held slot without its reservation";
		if (q->holds[h].deadline_ms < q->next_ms)
			return "a held slot expires before the queue's next deadline";
	}
	for (unsigned e = 0; e < q->nkinds; e++) {
		queued += q->kinds[e].queued;
		if (q->kinds[e].nres > QUEUE_KIND_RES_MAX)
			return "a kind's reservations over their bound";
	}
	return queued == q->queued ? NULL : "queued jobs do not match the kinds' counts";
}

/*
 * ledger-read: ledger reads on a node that holds no ledger (a non-voter, or
 * a voter still catching up, removed or lost), docs/ledger-node.md, "Reads on
 * a node without the ledger".
 *
 * Asking: a GET of /v1/ledger... is held (at most LREAD_INFLIGHT_MAX at once)
 * while one voter after the other (readpick_order: the leader first) is
 * asked over the fabric with a request of lread.h; a voter has
 * LREAD_ATTEMPT_MS to answer, the read LREAD_DEADLINE_MS in all, then the
 * client gets 503 and one clear line.  An answer counts only when it is the
 * one we wait for (request id) from the voter we asked; anything else
 * (malformed, forged, stale, oversized, blocks of the wrong heights) is
 * dropped, counted and logged at debug level.  The reply names the voter
 * that answered ("source").  Nothing a voter says is trusted further than
 * the client needs: `chorus ledger verify` checks the chain it is given.
 *
 * Answering: a node that holds the ledger (lread_holds) answers from it,
 * within one frame (blocks and accounts are paged by the asker); any other
 * node says LREAD_NO_LEDGER, never "0 blocks", and is never asked to
 * forward.
 *
 * It also remembers the newest (term, leader) and voter set voters told
 * it: a node without Raft shows that leader (lread_leader, readpick.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sodium.h>

#include "node.h"
#include "voterd.h"
#include "chorus/consensus.h"
#include "lread.h"
#include "chorus/readpick.h"

#define LREAD_TICK_MS       50  /* deadlines are checked this often while reads are held */
#define LREAD_SERVE_PER_SEC 200 /* answers a voter sends per second (each up to a frame) */

struct lread_pending {
	int used;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct lread_req q;       /* the request in flight (its req_id, from, limit) */
	uint64_t peer;            /* the voter asked */
	uint64_t order[READPICK_MAX];
	size_t norder, next;
	uint64_t started_ms, attempt_ms, deadline_ms;
	cJSON *local;             /* STATUS: this node's own doc, completed from the answer */
	cJSON *accounts;          /* BALANCES: the pages so far */
	uint64_t pages_height;    /* BALANCES: the height of the first page */
	unsigned pages, restarts;
};

struct lread {
	struct node *node;
	struct event *tick;
	int ticking;
	uint64_t next_id;
	struct lread_pending p[LREAD_INFLIGHT_MAX];
	size_t n;
	uint64_t learned_leader, learned_term, learned_at_ms;
	uint64_t conf[READPICK_MAX]; /* the voter set a voter told us */
	size_t nconf;
	uint8_t *buf; /* one message, CHORUS_BODY_MAX */
	uint64_t serve_second, served_in_second; /* the answering budget */
	struct lread_stats st;
};

static struct lread *lread_self; /* the app callback's: chorusd runs one node */
static void (*lread_next_cb)(void *ctx, int type, const uint8_t from_pk[CHORUS_PK_BYTES],
                             const uint8_t *body, size_t len);

/* ---------------------------------------------------------------- members */

static uint64_t lread_id_of(const uint8_t pk[CHORUS_PK_BYTES])
{
	return voterd_id_of(pk);
}

/* 1 for "voter", "voter-p<hash>", "voter-b<hash>" (a lost voter's "voter-l" is none). */
static int lread_voter_role(const struct record *rec)
{
	for (unsigned i = 0; i < rec->nroles; i++)
		if (strcmp(rec->roles[i], "voter") == 0 || strncmp(rec->roles[i], "voter-p", 7) == 0 ||
		    strncmp(rec->roles[i], "voter-b", 7) == 0)
			return 1;
	return 0;
}

static int lread_announces(const struct record *rec)
{
	for (unsigned i = 0; i < rec->nroles; i++)
		if (strcmp(rec->roles[i], "leader") == 0)
			return 1;
	return 0;
}

/* The candidates readpick decides among: every member (ourselves marked by id). */
static size_t lread_cands(const struct lread *lr, struct readpick_cand *c, size_t max,
                          uint64_t *self)
{
	struct core *core = lr->node->core;
	struct member_view mv;
	size_t k = 0;

	for (size_t i = 0; core != NULL && i < core_member_count(core) && k < max; i++) {
		if (core_member_get(core, i, &mv) != 0)
			continue;
		c[k].id = lread_id_of(mv.rec.pk);
		if (mv.self)
			*self = c[k].id;
		c[k].alive = mv.state == MEMBER_ALIVE ? 1 : mv.state == MEMBER_SUSPECT ? 2 : 0;
		c[k].announces = lread_announces(&mv.rec);
		c[k].voter_role = lread_voter_role(&mv.rec);
		c[k].in_conf = 0;
		for (size_t j = 0; j < lr->nconf; j++)
			c[k].in_conf |= lr->conf[j] == c[k].id;
		/* Only who could answer or lead is looked at: a few members, whatever the cluster's size. */
		if (c[k].announces || c[k].voter_role || c[k].in_conf || c[k].id == lr->learned_leader)
			k++;
	}
	return k;
}

#define LREAD_CANDS_MAX 1024 /* voters, announced voters and leaders looked at (bounded scratch) */

static struct readpick_cand *lread_scratch(size_t *n, const struct lread *lr, uint64_t *self)
{
	static struct readpick_cand c[LREAD_CANDS_MAX];

	*self = 0;
	*n = lread_cands(lr, c, LREAD_CANDS_MAX, self);
	return c;
}

uint64_t lread_leader(const struct lread *lr, uint64_t *term)
{
	const struct voterd *cs = lr->node->consensus;
	struct readpick_view v = { 0 };
	struct readpick_cand *c;
	struct consensus_status st;
	size_t n;
	uint64_t self;

	/* Raft's view through the voter module (tests/sim/check-node-raft.sh). */
	if (voterd_log_status(cs, &st) == 0 && strcmp(voterd_raft_state(cs), "voter") == 0) {
		v.raft_view = 1;
		v.raft_leader = st.leader;
		v.raft_term = st.term;
	}
	v.learned_leader = lr->learned_leader;
	v.learned_term = lr->learned_term;
	v.learned_age_ms = chorusd_now_ms() - lr->learned_at_ms;
	c = lread_scratch(&n, lr, &self);
	return readpick_leader(&v, c, n, term);
}

/* ---------------------------------------------------------------- the answering side */

int lread_holds(const struct voterd *cs)
{
	return voterd_booted(cs) && strcmp(voterd_raft_state(cs), "voter") == 0 &&
	       !catchup_active(voterd_catchup(cs));
}

static void lread_send(struct lread *lr, const uint8_t to_pk[CHORUS_PK_BYTES], uint64_t to,
                       const uint8_t *body, size_t len)
{
	struct member_view mv;
	int r;

	if (voterd_member_by_id(lr->node->consensus, to, &mv) != 0 || mv.self ||
	    (to_pk != NULL && memcmp(mv.rec.pk, to_pk, CHORUS_PK_BYTES) != 0))
		return;
	r = core_send_app(lr->node->core, mv.rec.pk, mv.rec.addr, CORE_APP_LEDGER, body, len);
	if (r != 0)
		log_debug("ledger", "event=read_send_error to=%016llx error=\"%s\"",
		          (unsigned long long)to, core_strerror(r));
	chorusd_reschedule(lr->node);
}

static int lread_add_json(uint8_t *out, size_t *len, cJSON *doc)
{
	char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;
	int r = text != NULL && strlen(text) <= LREAD_JSON_MAX
	            ? lread_ans_add(out, CHORUS_BODY_MAX, len, (const uint8_t *)text, strlen(text))
	            : -ENOSPC;

	free(text);
	cJSON_Delete(doc);
	return r;
}

/* The items of one answer; its code when they cannot be given. */
static int lread_fill(struct lread *lr, const struct lread_req *q, size_t *len)
{
	struct voterd *cs = lr->node->consensus;
	const struct ledger *l = voterd_ledger(cs);
	uint8_t *out = lr->buf;

	if (q->op == LREAD_STATUS)
		return lread_add_json(out, len, api_ledger_status_json(cs)) == 0 ? LREAD_OK : LREAD_BAD;
	if (q->op == LREAD_JOB) {
		struct ledger_job lj;
		char id[CHORUS_JOB_ID_HEX + 1];
		int held = 0;

		if (voterd_job_get(cs, q->job, &lj, &held) != 0)
			return LREAD_NOT_FOUND;
		sodium_bin2hex(id, sizeof id, q->job, sizeof q->job);
		return lread_add_json(out, len, api_ledger_job_json(id, &lj, held)) == 0 ? LREAD_OK
		                                                                       : LREAD_BAD;
	}
	if (q->op == LREAD_BLOCKS) {
		for (uint64_t h = q->from; h < q->from + q->limit; h++) {
			const uint8_t *data;
			size_t blen;

			if (voterd_block(cs, h, &data, &blen) != 0 ||
			    lread_ans_add(out, CHORUS_BODY_MAX, len, data, blen) != 0)
				break;
		}
		return LREAD_OK;
	}
	for (uint64_t i = q->from; i < q->from + q->limit; i++) {
		struct ledger_account acct;
		uint8_t item[LREAD_ACCOUNT_BYTES];
		uint64_t v[4];

		if (ledger_account_at(l, (size_t)i, &acct) != 0)
			break;
		v[0] = acct.earned, v[1] = acct.spent, v[2] = acct.jobs_run, v[3] = acct.jobs_paid;
		memcpy(item, acct.key, CHORUS_PK_BYTES);
		for (int k = 0; k < 4; k++)
			for (int b = 0; b < 8; b++)
				item[CHORUS_PK_BYTES + 8 * k + b] = (uint8_t)(v[k] >> (56 - 8 * b));
		if (lread_ans_add(out, CHORUS_BODY_MAX, len, item, sizeof item) != 0)
			break;
	}
	return LREAD_OK;
}

static void lread_serve(struct lread *lr, const uint8_t from_pk[CHORUS_PK_BYTES],
                        const uint8_t *body, size_t len)
{
	struct consensus_status st;
	struct voterd *cs = lr->node->consensus;
	struct lread_req q;
	struct lread_ans a = { 0 };
	size_t out_len;
	int code;
	uint64_t second = chorusd_now_ms() / 1000;

	if (lread_req_decode(&q, body, len) != 0) {
		lr->st.dropped++;
		log_debug("ledger", "event=drop reason=malformed-read-request len=%zu", len);
		return;
	}
	/* A small request asks for up to a frame: a flood of them is cut, not answered. */
	if (second != lr->serve_second) {
		lr->serve_second = second;
		lr->served_in_second = 0;
	}
	if (++lr->served_in_second > LREAD_SERVE_PER_SEC) {
		lr->st.dropped++;
		log_debug("ledger", "event=drop reason=read-requests-over-budget");
		return;
	}
	a.req_id = q.req_id;
	a.op = q.op;
	a.code = LREAD_NO_LEDGER;
	if (lread_holds(cs) && voterd_log_status(cs, &st) == 0) {
		a.term = st.term;
		a.leader = st.leader;
		a.height = ledger_height(voterd_ledger(cs));
		a.code = LREAD_OK;
	}
	if (a.code == LREAD_OK && q.op == LREAD_BALANCES) {
		struct ledger_stats ls;

		ledger_stats(voterd_ledger(cs), &ls);
		a.total = ls.accounts;
	}
	out_len = (size_t)lread_ans_begin(lr->buf, CHORUS_BODY_MAX, &a);
	if (a.code == LREAD_OK) {
		lr->st.served++;
		if ((code = lread_fill(lr, &q, &out_len)) != LREAD_OK) {
			a.code = (uint8_t)code; /* the header again, without items */
			out_len = (size_t)lread_ans_begin(lr->buf, CHORUS_BODY_MAX, &a);
		}
	}
	lread_send(lr, from_pk, lread_id_of(from_pk), lr->buf, out_len);
}

/* ---------------------------------------------------------------- the asking side */

static void lread_free(struct lread *lr, struct lread_pending *p)
{
	if (p->conn != NULL)
		evhttp_connection_set_closecb(p->conn, NULL, NULL);
	cJSON_Delete(p->local);
	cJSON_Delete(p->accounts);
	memset(p, 0, sizeof *p);
	lr->n--;
}

/* The held request answered (doc taken) and forgotten. */
static void lread_reply(struct lread *lr, struct lread_pending *p, int code, const char *reason,
                        cJSON *doc)
{
	struct evhttp_request *req = p->req;

	lread_free(lr, p);
	api_reply(req, code, reason, doc);
}

/* {"error": msg} and, when a voter said it, "source". */
static cJSON *lread_error_doc(const char *msg, cJSON *source)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", msg);
	if (source != NULL)
		cJSON_AddItemToObject(o, "source", source);
	return o;
}

static void lread_fail(struct lread *lr, struct lread_pending *p, const char *why)
{
	char msg[200];

	lr->st.failed++;
	snprintf(msg, sizeof msg, "this node holds no ledger and no voter answered within %llu ms%s%s",
	         (unsigned long long)(chorusd_now_ms() - p->started_ms), why[0] ? ": " : "", why);
	log_debug("ledger", "event=read_failed op=%u why=\"%s\"", p->q.op, why);
	if (p->q.op == LREAD_STATUS) {
		/* The node's own fields stay (its outbox, its view); the ledger's are not ours to say. */
		static const char *const theirs[] = { "height", "head_hash", "state_hash", "entries",
			                              "credited", "duplicates", "settled", "jobs_held",
			                              "jobs_forgotten", "clients", "accounts",
			                              "total_reward", "rejected", "skipped" };
		cJSON *doc = p->local;

		p->local = NULL;
		for (size_t i = 0; i < sizeof theirs / sizeof theirs[0]; i++)
			cJSON_DeleteItemFromObjectCaseSensitive(doc, theirs[i]);
		cJSON_AddNullToObject(doc, "source");
		cJSON_AddStringToObject(doc, "error", msg);
		/* 200: the node's own part is true and watched (its outbox while voters are away) */
		lread_reply(lr, p, HTTP_OK, "OK", doc);
		return;
	}
	lread_reply(lr, p, 503, "Service Unavailable", lread_error_doc(msg, NULL));
}

/*
 * The next voter in the order (round again while time is left: a busy voter
 * may answer a second request), or the read fails.
 */
static void lread_ask(struct lread *lr, struct lread_pending *p)
{
	uint8_t body[LREAD_REQ_BYTES];
	uint64_t now = chorusd_now_ms();

	if (p->next >= p->norder && p->norder > 0 && now + LREAD_ATTEMPT_MS <= p->deadline_ms)
		p->next = 0;
	if (p->next >= p->norder || now >= p->deadline_ms) {
		lread_fail(lr, p, p->norder == 0 ? "no voter known" : "");
		return;
	}
	p->peer = p->order[p->next++];
	p->q.req_id = ++lr->next_id;
	p->attempt_ms = now + LREAD_ATTEMPT_MS;
	if (lread_req_encode(&p->q, body, sizeof body) > 0)
		lread_send(lr, NULL, p->peer, body, sizeof body);
}

static void lread_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lread *lr = arg;
	uint64_t now = chorusd_now_ms();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < LREAD_INFLIGHT_MAX; i++)
		if (lr->p[i].used && now >= lr->p[i].attempt_ms) {
			log_debug("ledger", "event=read_timeout voter=%016llx",
			          (unsigned long long)lr->p[i].peer);
			lread_ask(lr, &lr->p[i]);
		}
	if (lr->n > 0) {
		struct timeval tv = { 0, LREAD_TICK_MS * 1000 };

		lr->ticking = evtimer_add(lr->tick, &tv) == 0;
	} else
		lr->ticking = 0;
}

/* The client hung up while we held its request: forget it. */
static void lread_closed_cb(struct evhttp_connection *conn, void *arg)
{
	struct lread *lr = arg;

	for (size_t i = 0; i < LREAD_INFLIGHT_MAX; i++)
		if (lr->p[i].used && lr->p[i].conn == conn) {
			lr->p[i].conn = NULL;
			lread_free(lr, &lr->p[i]);
		}
}

void lread_start(struct lread *lr, struct evhttp_request *req, const struct lread_req *q,
                 cJSON *local)
{
	struct lread_pending *p = NULL;
	struct readpick_cand *c;
	size_t n;
	uint64_t now = chorusd_now_ms(), self;
	struct timeval tv = { 0, LREAD_TICK_MS * 1000 };

	for (size_t i = 0; i < LREAD_INFLIGHT_MAX && p == NULL; i++)
		if (!lr->p[i].used)
			p = &lr->p[i];
	if (p == NULL) {
		lr->st.busy++;
		cJSON_Delete(local);
		api_reply_error(req, 503, "Service Unavailable",
		                "this node holds no ledger and too many reads wait for a voter");
		return;
	}
	lr->n++;
	lr->st.started++;
	p->used = 1;
	p->req = req;
	p->q = *q;
	p->local = local;
	p->started_ms = now;
	p->deadline_ms = now + LREAD_DEADLINE_MS;
	c = lread_scratch(&n, lr, &self);
	p->norder = readpick_order(c, n, lread_leader(lr, &(uint64_t){ 0 }), self, p->order,
	                           READPICK_MAX);
	p->conn = evhttp_request_get_connection(req);
	if (p->conn != NULL)
		evhttp_connection_set_closecb(p->conn, lread_closed_cb, lr);
	if (!lr->ticking && evtimer_add(lr->tick, &tv) == 0)
		lr->ticking = 1;
	lread_ask(lr, p);
}

static cJSON *lread_source(struct lread *lr, uint64_t id)
{
	struct member_view mv;
	char hex[17];
	cJSON *o = cJSON_CreateObject();

	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)id);
	cJSON_AddStringToObject(o, "id", hex);
	cJSON_AddStringToObject(o, "name", voterd_member_by_id(lr->node->consensus, id, &mv) == 0
	                                       ? mv.rec.name
	                                       : "");
	return o;
}

/* A STATUS answer's voter set, remembered: the next reads ask its members. */
static void lread_learn_conf(struct lread *lr, const cJSON *doc)
{
	const cJSON *v;
	size_t k = 0;

	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc, "voters")) {
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "id"));

		if (id != NULL && strlen(id) == 16 && k < READPICK_MAX)
			lr->conf[k++] = strtoull(id, NULL, 16);
	}
	lr->nconf = k;
}

/* The voter's status: the ledger's fields over this node's own doc. */
static cJSON *lread_on_status(struct lread *lr, struct lread_pending *p, const struct lread_ans *a)
{
	static const char *const ours[] = { "is_voter", "holds_ledger", "state", "id", "raft_state",
		                            "outbox_open",
		                            "outbox_lagging", "outbox_refused", "refused",
		                            "dropped_messages", "catchup", "commit_latency_ms" };
	cJSON *doc = a->n == 1 ? cJSON_ParseWithLength((const char *)a->item[0], a->len[0]) : NULL;

	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return NULL;
	}
	lread_learn_conf(lr, doc);
	for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
		cJSON *mine = cJSON_DetachItemFromObjectCaseSensitive(p->local, ours[i]);

		if (mine != NULL && !cJSON_ReplaceItemInObjectCaseSensitive(doc, ours[i], mine))
			cJSON_AddItemToObject(doc, ours[i], mine);
	}
	return doc;
}

/* Blocks from, from + 1, ...: each must decode and carry its height, or the answer is a lie. */
static cJSON *lread_on_blocks(const struct lread_pending *p, const struct lread_ans *a)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "blocks");

	if (a->n > p->q.limit)
		goto bad;
	for (unsigned k = 0; k < a->n; k++) {
		cJSON *b = api_ledger_block_json(a->item[k], a->len[k]);
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(b, "height");

		if (b == NULL || !cJSON_IsNumber(h) || h->valuedouble != (double)(p->q.from + k)) {
			cJSON_Delete(b);
			goto bad;
		}
		cJSON_AddItemToArray(arr, b);
	}
	cJSON_AddNumberToObject(o, "height", (double)a->height);
	return o;
bad:
	cJSON_Delete(o);
	return NULL;
}

/* One page of accounts: 1 when the reply is whole, 0 when another page was asked, -1 a lie. */
static int lread_on_balances(struct lread *lr, struct lread_pending *p, const struct lread_ans *a)
{
	if (a->total > (uint64_t)LREAD_PAGES_MAX * LREAD_ACCOUNTS_PAGE || a->n > p->q.limit)
		return -1;
	if (p->accounts == NULL || a->height != p->pages_height) {
		if (p->accounts != NULL && ++p->restarts > LREAD_RESTARTS_MAX)
			return -1;
		cJSON_Delete(p->accounts);
		p->accounts = cJSON_CreateArray();
		p->pages_height = a->height;
		if (p->q.from != 0) { /* the ledger moved: every page again, at one height */
			p->q.from = 0;
			p->next--;
			lread_ask(lr, p);
			return 0;
		}
	}
	for (unsigned k = 0; k < a->n; k++) {
		const uint8_t *x = a->item[k];
		cJSON *o = cJSON_CreateObject();
		char key[2 * CHORUS_PK_BYTES + 1];
		static const char *const names[] = { "earned", "spent", "jobs_run", "jobs_paid" };
		uint64_t v[4] = { 0 };

		if (a->len[k] != LREAD_ACCOUNT_BYTES) {
			cJSON_Delete(o);
			return -1;
		}
		sodium_bin2hex(key, sizeof key, x, CHORUS_PK_BYTES);
		cJSON_AddStringToObject(o, "key", key);
		{
			struct member_view mv;

			cJSON_AddStringToObject(o, "name",
			                        voterd_member_by_id(lr->node->consensus,
			                                               lread_id_of(x), &mv) == 0
			                            ? mv.rec.name
			                            : "");
		}
		for (int i = 0; i < 4; i++) {
			for (int b = 0; b < 8; b++)
				v[i] = v[i] << 8 | x[CHORUS_PK_BYTES + 8 * i + b];
			cJSON_AddNumberToObject(o, names[i], (double)v[i]);
		}
		cJSON_AddNumberToObject(o, "balance",
		                        (double)CHORUS_LEDGER_ALLOWANCE + (double)v[0] - (double)v[1]);
		cJSON_AddItemToArray(p->accounts, o);
	}
	if ((uint64_t)cJSON_GetArraySize(p->accounts) >= a->total || a->n == 0)
		return 1;
	if (++p->pages >= LREAD_PAGES_MAX)
		return -1;
	p->q.from = (uint64_t)cJSON_GetArraySize(p->accounts);
	p->next--; /* the same voter again */
	lread_ask(lr, p);
	return 0;
}

static void lread_drop(struct lread *lr, const char *why, uint64_t from)
{
	lr->st.dropped++;
	log_debug("ledger", "event=drop reason=%s from=%016llx", why, (unsigned long long)from);
}

/* The answer taken apart: the reply, another request, or a drop (then the next voter). */
static void lread_answered(struct lread *lr, struct lread_pending *p, const struct lread_ans *a)
{
	cJSON *doc = NULL;
	int r = 1;

	if (a->term >= lr->learned_term && a->leader != 0) {
		lr->learned_term = a->term;
		lr->learned_leader = a->leader;
		lr->learned_at_ms = chorusd_now_ms();
	}
	if (a->code == LREAD_NOT_FOUND && a->op == LREAD_JOB) {
		lr->st.answered++;
		lread_reply(lr, p, HTTP_NOTFOUND, "Not Found",
		            lread_error_doc("job not in the ledger", lread_source(lr, p->peer)));
		return;
	}
	if (a->code == LREAD_OK && a->op == LREAD_STATUS)
		doc = lread_on_status(lr, p, a);
	else if (a->code == LREAD_OK && a->op == LREAD_JOB && a->n == 1)
		doc = cJSON_ParseWithLength((const char *)a->item[0], a->len[0]);
	else if (a->code == LREAD_OK && a->op == LREAD_BLOCKS)
		doc = lread_on_blocks(p, a);
	else if (a->code == LREAD_OK && a->op == LREAD_BALANCES &&
	         (r = lread_on_balances(lr, p, a)) == 1) {
		doc = cJSON_CreateObject();
		cJSON_AddItemToObject(doc, "accounts", p->accounts);
		p->accounts = NULL;
		cJSON_AddNumberToObject(doc, "height", (double)a->height);
		cJSON_AddNumberToObject(doc, "allowance", (double)CHORUS_LEDGER_ALLOWANCE);
	}
	if (r == 0)
		return; /* the next page is asked */
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		if (a->code == LREAD_NO_LEDGER)
			log_debug("ledger", "event=read_no_ledger voter=%016llx", (unsigned long long)p->peer);
		else
			lread_drop(lr, "bad-read-answer", p->peer);
		lread_ask(lr, p);
		return;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "source");
	cJSON_AddItemToObject(doc, "source", lread_source(lr, p->peer));
	lr->st.answered++;
	lread_reply(lr, p, HTTP_OK, "OK", doc);
}

static void lread_on_answer(struct lread *lr, const uint8_t from_pk[CHORUS_PK_BYTES],
                            const uint8_t *body, size_t len)
{
	struct lread_ans *a = malloc(sizeof *a);
	uint64_t from = lread_id_of(from_pk);

	if (a == NULL)
		return;
	if (lread_ans_decode(a, body, len) != 0)
		lread_drop(lr, "malformed-read-answer", from);
	else {
		struct lread_pending *p = NULL;

		for (size_t i = 0; i < LREAD_INFLIGHT_MAX && p == NULL; i++)
			if (lr->p[i].used && lr->p[i].q.req_id == a->req_id)
				p = &lr->p[i];
		if (p == NULL)
			lread_drop(lr, "stale-read-answer", from);
		else if (p->peer != from || a->op != p->q.op)
			lread_drop(lr, "forged-read-answer", from); /* not the voter asked: wait on */
		else
			lread_answered(lr, p, a);
	}
	free(a);
}

static void lread_app_cb(void *ctx, int type, const uint8_t from_pk[CHORUS_PK_BYTES],
                         const uint8_t *body, size_t len)
{
	struct lread *lr = lread_self;

	if (lr == NULL || type != CORE_APP_LEDGER || len < 1 ||
	    (body[0] != LREAD_MSG_REQ && body[0] != LREAD_MSG_ANS)) {
		if (lread_next_cb != NULL)
			lread_next_cb(ctx, type, from_pk, body, len);
		return;
	}
	if (body[0] == LREAD_MSG_REQ)
		lread_serve(lr, from_pk, body, len);
	else
		lread_on_answer(lr, from_pk, body, len);
}

void lread_env(struct core_env *env)
{
	lread_next_cb = env->app_cb;
	env->app_cb = lread_app_cb;
}

int lread_create(struct lread **out, struct node *node)
{
	struct lread *lr = calloc(1, sizeof *lr);

	*out = NULL;
	if (lr == NULL || (lr->buf = malloc(CHORUS_BODY_MAX)) == NULL ||
	    (lr->tick = evtimer_new(node->base, lread_tick_cb, lr)) == NULL) {
		if (lr != NULL)
			free(lr->buf);
		free(lr);
		return -ENOMEM;
	}
	lr->node = node;
	lread_self = lr;
	*out = lr;
	return 0;
}

void lread_destroy(struct lread *lr)
{
	if (lr == NULL)
		return;
	for (size_t i = 0; i < LREAD_INFLIGHT_MAX; i++)
		if (lr->p[i].used)
			lread_fail(lr, &lr->p[i], "the node is stopping");
	event_free(lr->tick);
	if (lread_self == lr)
		lread_self = NULL;
	free(lr->buf);
	free(lr);
}

void lread_stats(const struct lread *lr, struct lread_stats *out)
{
	*out = lr->st;
}

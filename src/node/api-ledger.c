/*
 * api-ledger: the ledger endpoints of the HTTP API.
 *
 *   GET  /v1/ledger                   leader, term, commit, applied and snapshot index,
 *                                     height, head hash, voters, whether we vote, raft
 *                                     state, catch-up state and counters
 *   GET  /v1/ledger/blocks?from=H&limit=N  blocks as JSON, each with "raw" (base64 of
 *                                     the signed block) so a verifier can re-check it
 *   GET  /v1/ledger/jobs/ID           the block that credited a job, 404 if none
 *   GET  /v1/ledger/balances          every account
 *   POST /v1/ledger/remove-voter      {"id": hex id or a prefix}; 409 naming the leader
 *   POST /v1/ledger/add-voter         {"id": full id}: the operator adds a voter (leader only)
 *   POST /v1/ledger/transfer-leader   {"id": voter}: leadership to that voter (leader only)
 *   POST /v1/ledger/recover           a voter without a leader: a configuration of itself alone
 *                                     when this node does not lead
 *   POST /v1/ledger/acks              {"ack","ack_auth","receipt","receipt_auth"} (texts,
 *                                     hex batch authenticators): a completion record from elsewhere,
 *                                     checked, then forwarded like our own (202)
 *
 * Read-only views of voterd.c's state; only remove-voter, add-voter and transfer-leader change anything.
 *
 * On a node that holds no ledger (a non-voter, a voter catching up, removed
 * or lost: lread_holds), every GET above is a voter's answer, asked by
 * ledger-read.c, with "source" naming the voter; when none answers in time,
 * 503 and "this node holds no ledger and no voter answered within N ms"
 * (/v1/ledger keeps this node's own fields then, without the ledger's).
 * Except /v1/ledger on a voter candidate: its own Raft and ledger progress
 * (a catch-up is watched there), with "holds_ledger": false.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <sodium.h>

#include "api-body.h"
#include "node.h"
#include "voterd.h"
#include "chorus/consensus.h"
#include "lread.h"

#define API_LEDGER_BLOCKS_DEFAULT 100
#define API_LEDGER_BLOCKS_MAX     1000
_Static_assert(API_LEDGER_BLOCKS_MAX <= LREAD_ITEMS_MAX, "a page of blocks is one read of a voter");

static void api_ledger_hex(cJSON *o, const char *key, const uint8_t *bin, size_t len)
{
	char hex[2 * CHORUS_PK_BYTES + 1];

	sodium_bin2hex(hex, sizeof hex, bin, len);
	cJSON_AddStringToObject(o, key, hex);
}

static void api_ledger_id(cJSON *o, const char *key, uint64_t id)
{
	char hex[17];

	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)id);
	cJSON_AddStringToObject(o, key, hex);
}

static const char *api_ledger_name(const struct voterd *cs, uint64_t id)
{
	static struct member_view mv;

	return voterd_member_by_id(cs, id, &mv) == 0 ? mv.rec.name : "";
}

static void api_ledger_raft(cJSON *o, const struct voterd *cs)
{
	int r = voterd_booted(cs);
	struct consensus_status st;
	cJSON *voters;

	memset(&st, 0, sizeof st);
	if (r)
		(void)voterd_log_status(cs, &st);
	st.leader = voterd_leader(cs);
	api_ledger_id(o, "leader", st.leader);
	cJSON_AddStringToObject(o, "leader_name", api_ledger_name(cs, st.leader));
	cJSON_AddNumberToObject(o, "term", (double)st.term);
	cJSON_AddNumberToObject(o, "commit_index", (double)st.commit);
	cJSON_AddNumberToObject(o, "applied_index", (double)st.applied);
	cJSON_AddNumberToObject(o, "last_index", (double)st.last_index);
	cJSON_AddNumberToObject(o, "snapshot_index", (double)st.snap_index);
	cJSON_AddBoolToObject(o, "is_voter", voterd_is_voter(cs));
	/* false: a voter catching up, removed, lost or not added; its other reads go to a voter */
	cJSON_AddBoolToObject(o, "holds_ledger", lread_holds(cs));
	cJSON_AddStringToObject(o, "state", !r ? (voterd_is_voter(cs) ? "booting" : "none")
	                                                : st.state);
	api_ledger_id(o, "id", st.id);
	cJSON_AddStringToObject(o, "raft_state", voterd_raft_state(cs));
	voters = cJSON_AddArrayToObject(o, "voters");
	for (uint32_t i = 0; voters != NULL && i < st.nvoters; i++) {
		cJSON *v = cJSON_CreateObject();

		if (v == NULL || !cJSON_AddItemToArray(voters, v))
			break;
		api_ledger_id(v, "id", st.voters[i]);
		cJSON_AddStringToObject(v, "name", api_ledger_name(cs, st.voters[i]));
	}
}

cJSON *api_ledger_status_json(struct voterd *cs)
{
	const struct ledger *l = voterd_ledger(cs);
	struct ledger_stats ls;
	uint8_t head[LEDGER_HASH_BYTES], state[LEDGER_HASH_BYTES];
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	api_ledger_raft(o, cs);
	ledger_stats(l, &ls);
	ledger_head_hash(l, head);
	ledger_state_hash(l, state);
	cJSON_AddNumberToObject(o, "height", (double)ls.height);
	api_ledger_hex(o, "head_hash", head, sizeof head);
	api_ledger_hex(o, "state_hash", state, sizeof state);
	cJSON_AddNumberToObject(o, "entries", (double)ls.entries);
	cJSON_AddNumberToObject(o, "credited", (double)ls.credited);
	cJSON_AddNumberToObject(o, "duplicates", (double)ls.duplicates);
	cJSON_AddNumberToObject(o, "settled", (double)ls.settled);
	cJSON_AddNumberToObject(o, "jobs_held", (double)ls.jobs_held);
	cJSON_AddNumberToObject(o, "jobs_forgotten", (double)ls.forgotten);
	cJSON_AddNumberToObject(o, "forgotten_unlisted", (double)ls.forgotten_unlisted);
	cJSON_AddNumberToObject(o, "forgotten_unindexed", (double)ledger_forgotten_pending(l));
	cJSON_AddNumberToObject(o, "clients", (double)ls.clients);
	cJSON_AddNumberToObject(o, "accounts", (double)ls.accounts);
	cJSON_AddNumberToObject(o, "total_reward", (double)ls.total_reward);
	cJSON_AddNumberToObject(o, "verify_cache_hits", (double)ls.verify_cache_hits);
	cJSON_AddNumberToObject(o, "root_cache_hits", (double)ls.root_cache_hits);
	cJSON_AddNumberToObject(o, "root_verifies", (double)ls.root_verifies);
	cJSON_AddNumberToObject(o, "dropped_messages", (double)voterd_dropped(cs));
	{
		uint64_t depth, high, low;
		int lagging = voterd_lagging(cs, &depth, &high, &low);

		cJSON_AddNumberToObject(o, "outbox_open", (double)depth);
		cJSON_AddBoolToObject(o, "outbox_lagging", lagging);
	}
	cJSON_AddNumberToObject(o, "outbox_refused", (double)voterd_outbox_refused_count(cs));
	cJSON_AddNumberToObject(o, "refused", (double)voterd_refused(cs));
	{
		uint64_t member, bound, skipped_blocks;

		voterd_refusals(cs, &member, &bound, &skipped_blocks);
		cJSON_AddNumberToObject(o, "refused_not_member", (double)member);
		cJSON_AddNumberToObject(o, "refused_bound", (double)bound);
		cJSON_AddNumberToObject(o, "held_back_window", (double)voterd_refused_window(cs));
		cJSON_AddNumberToObject(o, "skipped_blocks", (double)skipped_blocks);
	}
	{
		struct voter_stats vs;

		voterd_stats(cs, &vs);
		cJSON_AddNumberToObject(o, "blocks_proposed", (double)vs.proposed);
		cJSON_AddNumberToObject(o, "blocks_rebuilt", (double)vs.rebuilt);
	}
	cJSON_AddNumberToObject(o, "rejected", (double)ls.rejected);
	cJSON_AddNumberToObject(o, "skipped", (double)ls.skipped);
	{
		struct catchup_status cu;
		cJSON *c = cJSON_AddObjectToObject(o, "catchup");

		catchup_status(voterd_catchup(cs), &cu);
		cJSON_AddStringToObject(c, "state", catchup_state_name(cu.state));
		cJSON_AddNumberToObject(c, "target_height", (double)cu.target_height);
		cJSON_AddNumberToObject(c, "blocks_fetched", (double)cu.blocks_fetched);
		cJSON_AddNumberToObject(c, "requests", (double)cu.requests);
		cJSON_AddNumberToObject(c, "timeouts", (double)cu.timeouts);
		cJSON_AddNumberToObject(c, "rejects", (double)cu.rejects);
		cJSON_AddNumberToObject(c, "served", (double)cu.served);
		cJSON_AddNumberToObject(c, "compactions", (double)cu.compactions);
	}
	{
		uint32_t p50, p99;
		size_t n = voterd_latency(cs, &p50, &p99);
		cJSON *lat = cJSON_AddObjectToObject(o, "commit_latency_ms");

		cJSON_AddNumberToObject(lat, "samples", (double)n);
		cJSON_AddNumberToObject(lat, "p50", p50);
		cJSON_AddNumberToObject(lat, "p99", p99);
	}
	return o;
}

cJSON *api_ledger_block_json(const uint8_t *data, size_t len)
{
	cJSON *b = ledger_block_to_json(data, len);
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(cap);

	if (b == NULL || b64 == NULL) {
		free(b64);
		return b;
	}
	sodium_bin2base64(b64, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
	cJSON_AddStringToObject(b, "raw", b64);
	free(b64);
	return b;
}

static void api_ledger_blocks(const struct voterd *cs, struct evhttp_request *req)
{
	int bad = 0;
	unsigned from = api_query_uint(req, "from", 1, UINT32_MAX, &bad);
	unsigned limit = api_query_uint(req, "limit", API_LEDGER_BLOCKS_DEFAULT,
	                                API_LEDGER_BLOCKS_MAX, &bad);
	cJSON *o = cJSON_CreateObject(), *arr;
	const uint8_t *data;
	size_t len;

	if (bad) {
		cJSON_Delete(o);
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", "bad from or limit");
		return;
	}
	arr = o != NULL ? cJSON_AddArrayToObject(o, "blocks") : NULL;
	for (uint64_t h = from ? from : 1; arr != NULL && h < (uint64_t)from + limit; h++) {
		cJSON *b;

		if (voterd_block(cs, h, &data, &len) != 0)
			break;
		if ((b = api_ledger_block_json(data, len)) == NULL || !cJSON_AddItemToArray(arr, b))
			break;
	}
	if (o != NULL)
		cJSON_AddNumberToObject(o, "height", (double)ledger_height(voterd_ledger(cs)));
	api_reply(req, HTTP_OK, "OK", o);
}

cJSON *api_ledger_job_json(const char *id, const struct ledger_job *lj, int held)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL) {
		cJSON_AddStringToObject(o, "job", id);
		cJSON_AddStringToObject(o, "outcome", lj->outcome == LEDGER_CREDITED ? "credited"
		                                                                      : "rejected");
		if (lj->outcome != LEDGER_CREDITED)
			cJSON_AddStringToObject(o, "reason", ledger_outcome_name(lj->outcome));
		cJSON_AddNumberToObject(o, "height", (double)lj->height);
		api_ledger_hex(o, "client", lj->client, CHORUS_PK_BYTES);
		api_ledger_hex(o, "worker", lj->worker, CHORUS_PK_BYTES);
		cJSON_AddNumberToObject(o, "reward", (double)lj->reward);
		/* false: settled below its client's floor, answered from the node's index (raft.db). */
		cJSON_AddBoolToObject(o, "held", held);
	}
	return o;
}

/* 0 and job filled from a 32-hex-digit id; else answered 400. */
static int api_ledger_job_id(struct evhttp_request *req, const char *id,
                             uint8_t job[CHORUS_JOB_ID_BYTES])
{
	size_t n;

	if (sodium_hex2bin(job, CHORUS_JOB_ID_BYTES, id, strlen(id), NULL, &n, NULL) != 0 ||
	    n != CHORUS_JOB_ID_BYTES || strlen(id) != CHORUS_JOB_ID_HEX) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", "bad job id");
		return -1;
	}
	return 0;
}

static void api_ledger_job(const struct voterd *cs, struct evhttp_request *req, const char *id)
{
	uint8_t job[CHORUS_JOB_ID_BYTES];
	struct ledger_job lj;
	int held = 0;

	if (api_ledger_job_id(req, id, job) != 0)
		return;
	if (voterd_job_get(cs, job, &lj, &held) != 0) {
		api_reply_error(req, HTTP_NOTFOUND, "Not Found", "job not in the ledger");
		return;
	}
	api_reply(req, HTTP_OK, "OK", api_ledger_job_json(id, &lj, held));
}

static cJSON *api_ledger_balances(const struct voterd *cs)
{
	const struct ledger *l = voterd_ledger(cs);
	struct ledger_stats ls;
	cJSON *o = cJSON_CreateObject(), *arr;

	ledger_stats(l, &ls);
	arr = o != NULL ? cJSON_AddArrayToObject(o, "accounts") : NULL;
	for (size_t i = 0; arr != NULL && i < ls.accounts; i++) {
		struct ledger_account a;
		cJSON *b;

		if (ledger_account_at(l, i, &a) != 0 || (b = cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddItemToArray(arr, b);
		api_ledger_hex(b, "key", a.key, CHORUS_PK_BYTES);
		cJSON_AddStringToObject(b, "name", api_ledger_name(cs, voterd_id_of(a.key)));
		cJSON_AddNumberToObject(b, "earned", (double)a.earned);
		cJSON_AddNumberToObject(b, "spent", (double)a.spent);
		cJSON_AddNumberToObject(b, "jobs_run", (double)a.jobs_run);
		cJSON_AddNumberToObject(b, "jobs_paid", (double)a.jobs_paid);
		cJSON_AddNumberToObject(b, "balance", (double)a.balance);
	}
	if (o != NULL) {
		cJSON_AddNumberToObject(o, "height", (double)ls.height);
		cJSON_AddNumberToObject(o, "total_reward", (double)ls.total_reward);
		cJSON_AddNumberToObject(o, "allowance", (double)CHORUS_LEDGER_ALLOWANCE);
	cJSON_AddNumberToObject(o, "verify_cache_hits", (double)ls.verify_cache_hits);
	cJSON_AddNumberToObject(o, "root_cache_hits", (double)ls.root_cache_hits);
	cJSON_AddNumberToObject(o, "root_verifies", (double)ls.root_verifies);
	cJSON_AddNumberToObject(o, "dropped_messages", (double)voterd_dropped(cs));
	}
	return o;
}

/* A voter named by its 16-hex-digit raft id or a unique prefix of it (or of the key). */
static int api_ledger_voter(const struct voterd *cs, const char *text, uint64_t *id)
{
	int r = voterd_booted(cs);
	struct consensus_status st;
	size_t n = strlen(text), found = 0;

	if (!r || n == 0 || n > CHORUS_ID_HEX || strspn(text, "0123456789abcdef") != n)
		return -EINVAL;
	(void)voterd_log_status(cs, &st);
	for (uint32_t i = 0; i < st.nvoters; i++) {
		char hex[17];

		snprintf(hex, sizeof hex, "%016llx", (unsigned long long)st.voters[i]);
		if (strncmp(hex, text, n < 16 ? n : 16) == 0) {
			*id = st.voters[i];
			found++;
		}
	}
	return found == 1 ? 0 : -ENOENT;
}

enum api_ledger_op { API_LEDGER_REMOVE, API_LEDGER_ADD, API_LEDGER_TRANSFER };

/*
 * The operator's changes, on the leader only (elsewhere 409 names it):
 * remove-voter and transfer-leader name a voter by id or unique prefix;
 * add-voter names a node by its full id (16 hex digits, or the whole key):
 * it is in no configuration yet, and a prefix could match a stranger.
 */
static int api_ledger_target(const struct voterd *cs, enum api_ledger_op op, const char *hex,
                             uint64_t *id)
{
	char head[17];

	if (op != API_LEDGER_ADD)
		return api_ledger_voter(cs, hex, id);
	if (strlen(hex) < 16 || strspn(hex, "0123456789abcdef") != strlen(hex))
		return -EINVAL;
	memcpy(head, hex, 16);
	head[16] = '\0';
	*id = strtoull(head, NULL, 16);
	return *id == 0 ? -EINVAL : 0;
}

static void api_ledger_change(struct voterd *cs, struct evhttp_request *req, enum api_ledger_op op)
{
	static const char *const done[] = { "removed", "added", "transferring_to" };
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char msg[160], hex[CHORUS_ID_HEX + 1];
	uint64_t id = 0;
	int rf = voterd_booted(cs);
	int r = api_body_voter((const char *)evbuffer_pullup(in, -1), len, hex) == 0
	            ? api_ledger_target(cs, op, hex, &id)
	            : -EINVAL;

	if (!rf || !voterd_is_leader(cs))
		r = -EAGAIN; /* whatever the id: only the leader can act on it */
	if (r == 0)
		r = op == API_LEDGER_REMOVE ? voterd_remove_voter(cs, id)
		    : op == API_LEDGER_ADD  ? voterd_add_voter(cs, id)
		                            : voterd_transfer_leader(cs, id);
	if (r == 0) {
		cJSON *o = cJSON_CreateObject();

		api_ledger_id(o, done[op], id);
		api_reply(req, HTTP_OK, "OK", o);
		return;
	}
	if (r == -EAGAIN) {
		uint64_t leader = voterd_leader(cs);

		snprintf(msg, sizeof msg, "not the leader; the leader is %016llx (%s)",
		         (unsigned long long)leader, api_ledger_name(cs, leader));
		api_reply_error(req, 409, "Conflict", msg);
		return;
	}
	api_reply_error(req, r == -EBUSY || r == -EEXIST ? 409 : HTTP_BADREQUEST,
	                r == -EBUSY || r == -EEXIST ? "Conflict" : "Bad Request",
	                r == -EBUSY    ? "a configuration change or transfer is in progress"
	                : r == -EEXIST ? "already a voter"
	                : r == -ENOENT ? "no such voter (give a unique id prefix)"
	                : op == API_LEDGER_ADD ? "want {\"id\": the node's full id (16+ hex digits)}"
	                                       : "want {\"id\": hex}");
}

/* POST /v1/ledger/recover: the etcd --force-new-cluster of a voter left without quorum. */
static void api_ledger_recover(struct voterd *cs, struct evhttp_request *req)
{
	int r = voterd_recover(cs);
	cJSON *o;

	if (r == -EAGAIN) {
		api_reply_error(req, 409, "Conflict",
		                "a leader is known: change the voters with remove-voter instead");
		return;
	}
	if (r != 0) {
		api_reply_error(req, 409, "Conflict", "not a voter of its configuration (lost, removed or none)");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "recovered", 1);
	api_reply(req, HTTP_OK, "OK", o);
}

static cJSON *api_ledger_ack_doc(const char *job, uint64_t height)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "job", job);
	cJSON_AddBoolToObject(o, "committed", height > 0);
	if (height > 0)
		cJSON_AddNumberToObject(o, "height", (double)height);
	return o;
}

/* An ack below its client's floor: settled for good, as of our height; it earns nothing. */
static cJSON *api_ledger_settled_doc(const char *job, uint64_t height)
{
	cJSON *o = api_ledger_ack_doc(job, height);

	if (o != NULL) {
		cJSON_AddBoolToObject(o, "settled", 1);
		cJSON_AddStringToObject(o, "why", "below its client's floor: settled (a replay earns "
		                                  "nothing)");
	}
	return o;
}

void api_ledger_waited(void *ctx, struct evhttp_request *req, const char *job, int woken,
                       uint64_t height)
{
	if (woken)
		api_reply(req, HTTP_OK, "OK", api_ledger_ack_doc(job, height));
	else if (voterd_unwait(ctx, job) != 0)
		api_reply_error(req, HTTP_INTERNAL, "Internal Server Error", "cannot store it");
	else
		api_reply(req, 202, "Accepted", api_ledger_ack_doc(job, 0));
}

/*
 * 202 {"job","committed":false} once the ack is in the outbox; with wait_ms,
 * held until it is committed (200, "height") or the wait runs out (202, once
 * it is in the outbox: until then it is kept in memory, voterd_submit).
 */
static void api_ledger_acks(struct voterd *cs, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct ledger_entry *e = calloc(1, sizeof *e);
	char why[128] = "want {\"ack\",\"ack_auth\",\"receipt\",\"receipt_auth\"}";
	char job[CHORUS_JOB_ID_HEX + 1] = "";
	uint64_t height = 0;
	int bad = 0, r = -EINVAL, settled = 0;
	unsigned wait_ms = api_query_uint(req, "wait_ms", 0, 60000, &bad);

	if (bad)
		snprintf(why, sizeof why, "wait_ms must be 0..60000");
	else if (e != NULL && api_body_ack((const char *)evbuffer_pullup(in, -1), len, e) == 0)
		r = voterd_submit(cs, e, wait_ms > 0, job, &height, &settled, why, sizeof why);
	free(e);
	if (r != 0)
		api_reply_error(req, r == -EIO ? HTTP_INTERNAL : HTTP_BADREQUEST,
		                r == -EIO ? "Internal Server Error" : "Bad Request", why);
	else if (settled)
		api_reply(req, HTTP_OK, "OK", api_ledger_settled_doc(job, height));
	else if (height > 0)
		api_reply(req, HTTP_OK, "OK", api_ledger_ack_doc(job, height));
	else if (wait_ms == 0)
		api_reply(req, 202, "Accepted", api_ledger_ack_doc(job, 0));
	else if (api_wait(voterd_waits(cs), req, job,
	                  wait_ms < API_WAIT_MS_MAX ? wait_ms : API_WAIT_MS_MAX) != 0)
		api_ledger_waited(cs, req, job, 0, 0); /* cannot hold the request: answered as run out */
}

/*
 * A node that holds no ledger (lread_holds) asks a voter (ledger-read.c):
 * 1 when the request went there (or was answered, 400 for bad arguments);
 * 0 for a path it does not know (the caller's 404).
 */
static int api_ledger_remote(struct node *node, struct evhttp_request *req, const char *path)
{
	struct lread_req q = { 0 };
	int bad = 0;
	cJSON *local = NULL;

	if (strcmp(path, "/v1/ledger") == 0 && voterd_is_voter(node->consensus)) {
		return 0; /* a voter's own Raft and ledger progress (catching up...): "holds_ledger" false */
	} else if (strcmp(path, "/v1/ledger") == 0) {
		q.op = LREAD_STATUS;
		local = api_ledger_status_json(node->consensus);
	} else if (strcmp(path, "/v1/ledger/blocks") == 0) {
		q.op = LREAD_BLOCKS;
		q.from = api_query_uint(req, "from", 1, UINT32_MAX, &bad);
		q.limit = (uint16_t)api_query_uint(req, "limit", API_LEDGER_BLOCKS_DEFAULT,
		                                   API_LEDGER_BLOCKS_MAX, &bad);
		if (bad || q.from == 0 || q.limit == 0) {
			api_reply_error(req, HTTP_BADREQUEST, "Bad Request", "bad from or limit");
			return 1;
		}
	} else if (strcmp(path, "/v1/ledger/balances") == 0) {
		q.op = LREAD_BALANCES;
		q.limit = LREAD_ACCOUNTS_PAGE;
	} else if (strncmp(path, "/v1/ledger/jobs/", 16) == 0) {
		q.op = LREAD_JOB;
		if (api_ledger_job_id(req, path + 16, q.job) != 0)
			return 1;
	} else
		return 0;
	lread_start(node->lread, req, &q, local);
	return 1;
}

/* 1 when the request was ours (answered), 0 otherwise. */
int api_ledger_route(struct node *node, struct evhttp_request *req, const char *path)
{
	struct voterd *cs = node->consensus;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	int get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;

	if (strncmp(path, "/v1/ledger", 10) != 0 || (path[10] != '\0' && path[10] != '/'))
		return 0;
	if (strcmp(path, "/v1/ledger/remove-voter") == 0 && method == EVHTTP_REQ_POST)
		api_ledger_change(cs, req, API_LEDGER_REMOVE);
	else if (strcmp(path, "/v1/ledger/add-voter") == 0 && method == EVHTTP_REQ_POST)
		api_ledger_change(cs, req, API_LEDGER_ADD);
	else if (strcmp(path, "/v1/ledger/transfer-leader") == 0 && method == EVHTTP_REQ_POST)
		api_ledger_change(cs, req, API_LEDGER_TRANSFER);
	else if (strcmp(path, "/v1/ledger/recover") == 0 && method == EVHTTP_REQ_POST)
		api_ledger_recover(cs, req);
	else if (strcmp(path, "/v1/ledger/acks") == 0 && method == EVHTTP_REQ_POST)
		api_ledger_acks(cs, req);
	else if (!get)
		api_reply_error(req, 405, "Method Not Allowed", "method not allowed");
	else if (!lread_holds(cs) && api_ledger_remote(node, req, path))
		; /* held until a voter answers, or answered already */
	else if (strcmp(path, "/v1/ledger") == 0)
		api_reply(req, HTTP_OK, "OK", api_ledger_status_json(cs));
	else if (strcmp(path, "/v1/ledger/blocks") == 0)
		api_ledger_blocks(cs, req);
	else if (strcmp(path, "/v1/ledger/balances") == 0)
		api_reply(req, HTTP_OK, "OK", api_ledger_balances(cs));
	else if (strncmp(path, "/v1/ledger/jobs/", 16) == 0)
		api_ledger_job(cs, req, path + 16);
	else
		api_reply_error(req, HTTP_NOTFOUND, "Not Found", "no such endpoint");
	return 1;
}

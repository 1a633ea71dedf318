/*
 * ledger-bench: how fast the replicated ledger commits completion records.
 *
 *   ledger-bench -H HOST:PORT[,HOST:PORT...] [-c CONNECTIONS] [-n ENTRIES]
 *                [-w WAIT_MS] [-t SECONDS] [-j FILE] [-k KEY_FILE]... [-r REWARD] [-f] [-s]
 *                [-W WINDOW] [-L FILE]
 *   ledger-bench -e -H HOST:PORT[,HOST:PORT...] [-c CONNECTIONS] [-n ENTRIES]
 *
 * Synthesises ENTRIES valid completion records (a client's ack and a
 * worker's receipt, made with the core's own encoders) and POSTs them to
 * /v1/ledger/acks?wait_ms=WAIT_MS (default 5000) of the given nodes
 * (round-robin).  They are signed with real ed25519 keys as they are sent,
 * as a chorus node signs (docs/ledger.md, batch signatures): the records
 * sent in one turn of the bench's event loop form one batch, the acks under
 * one client signature over their Merkle root, the receipts under one per
 * worker; -s signs each record alone (a batch of one, as independent
 * writers would).  Each of the CONNECTIONS writers is
 * closed-loop: one record in flight, the next sent when the node answers
 * (200: committed; 202: accepted into its outbox, not committed within the
 * wait).  The node forwards it to the Raft leader, which batches records
 * into blocks; every voter persists each round (synchronous=FULL) before it
 * acknowledges.  Prints entries, seconds, committed entries/s (the clock
 * stops when the first node's ledger has credited them all, or after
 * SECONDS, default 120; 0: do not wait), the answers by status, and the
 * submit-to-commit latency every writer saw (p50, p90, p99, in ms with
 * microseconds) and the mean batch signed.  -L FILE writes each record's
 * send time (seconds from the start), latency (0: not answered 200) and the
 * -H host it went to (0, 1, ...).  -j writes the records' job ids (hex), one per line.
 * Exits 0 when every record was answered 200 or 202 and is credited.
 *
 * The ledger credits only members' keys (docs/ledger.md): -k names a node's
 * node.key, the first the client's, up to three more the workers' (used in
 * turn).  Without -k the keys are fresh (no member: refused by the leader).
 * -r sets every record's reward (default 1); -f makes a fresh client and
 * worker key pair for every record (poison for tests: never creditable).
 * -W WINDOW: each ack's floor trails its seq by WINDOW (record i says the
 * client's acks below seq0 + i - WINDOW are settled), as a client node's
 * floor follows its oldest open ack, so the ledger forgets the jobs behind
 * it (docs/ledger.md, the window) and the voters index them; WINDOW must
 * exceed the records in flight (CONNECTIONS).  Default 0: floor 0, nothing
 * settled, every job held.
 *
 * -e (the anchor, bench/ledger.sh): the same records, the same closed-loop
 * writers, as etcd v3 writes instead: each record's JSON body becomes the
 * value of one key (bench/JOB-ID) PUT through etcd's HTTP/JSON gateway
 * (POST /v3/kv/put), which answers once the write is committed and applied
 * by its Raft.  Every 200 counts as a committed write; nothing is polled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "core-internal.h"
#include "dispatch/jobmsg.h"

#define BENCH_HOSTS_MAX 16
#define BENCH_CONNS_MAX 256
#define BENCH_N_MAX     1000000

struct bench {
	struct event_base *base;
	char hosts[BENCH_HOSTS_MAX][64];
	int ports[BENCH_HOSTS_MAX];
	int nhosts;
	struct evhttp_connection *conns[BENCH_CONNS_MAX];
	int nconns;
	long n, sent, done, failed, wait_ms, credit_s;
	const char *jobs_file, *lat_file;
	char (*jobs)[2 * CHORUS_JOB_ID_BYTES + 1];
	char **atexts, **rtexts; /* per record: the ack's and the receipt's texts, signed when sent */
	int ready[BENCH_CONNS_MAX]; /* writers whose next record goes out at the end of this turn */
	int nready, alone;
	struct batchsig *fresh_auth; /* -f: each record's two authenticators, made with its keys */
	long batches, batched; /* signing batches (client side) and the records in them */
	struct event *flush_ev;
	double credited0, credited;
	double *sent_at, *lat; /* per record: when it was posted, how long until committed */
	double *lat_of;        /* per record: its latency (-L), 0 until answered 200 */
	int *host_of;          /* per record: the -H host it went to (-L) */
	long nlat, late;
	uint8_t client_pk[32], client_sk[64], worker_pk[3][32], worker_sk[3][64];
	uint64_t seq0; /* the first ack's seq: the wall clock at start, in microseconds */
	const char *key_files[4];
	int nkey_files, fresh, etcd;
	uint64_t reward;
	long window; /* -W: the floor trails the seq by this much (0: floor 0) */
	/* "Bearer " + the node's api.token, from $CHORUS_TOKEN: one token for every
	 * host, or TOKEN,TOKEN,... one per -H host in order; "" without. */
	char auth[BENCH_HOSTS_MAX][160];
};

static double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_hex(char *out, const uint8_t *p, size_t n)
{
	sodium_bin2hex(out, 2 * n + 1, p, n);
}

/* etcd -e: {"key": base64("bench/" JOB), "value": base64(the record's body)}; frees body. */
static char *bench_etcd_put(const char *job, char *body)
{
	char key[80], *out, *k64, *v64;
	size_t klen = (size_t)snprintf(key, sizeof key, "bench/%s", job), vlen = strlen(body);
	size_t k64len = sodium_base64_ENCODED_LEN(klen, sodium_base64_VARIANT_ORIGINAL);
	size_t v64len = sodium_base64_ENCODED_LEN(vlen, sodium_base64_VARIANT_ORIGINAL);

	k64 = malloc(k64len);
	v64 = malloc(v64len);
	out = malloc(k64len + v64len + 32);
	if (k64 == NULL || v64 == NULL || out == NULL)
		abort();
	sodium_bin2base64(k64, k64len, (const uint8_t *)key, klen, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(v64, v64len, (const uint8_t *)body, vlen, sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, k64len + v64len + 32, "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
	free(k64);
	free(v64);
	cJSON_free(body);
	return out;
}

/* Record i's ack and receipt texts (and its job id in b->jobs[i]); signed when sent. */
static void bench_texts(struct bench *b, long i)
{
	struct jreceipt rc;
	struct jack a;
	char rtext[JOBMSG_TEXT_MAX + 1], atext[JOBMSG_TEXT_MAX + 1];
	int w = (int)(i % 3), rn, an;

	if (b->fresh) { /* a stranger's pair per record, signed now */
		crypto_sign_keypair(b->client_pk, b->client_sk);
		crypto_sign_keypair(b->worker_pk[w], b->worker_sk[w]);
	}
	memset(&rc, 0, sizeof rc);
	memset(&a, 0, sizeof a);
	randombytes_buf(&a.nonce, sizeof a.nonce);
	a.nonce &= CODEC_JSON_INT_MAX - 1; /* a JSON-safe integer */
	jobmsg_job_id(rc.id, b->client_pk, a.nonce); /* the ledger checks the id is the client's */
	bench_hex(b->jobs[i], rc.id, CHORUS_JOB_ID_BYTES);
	memcpy(rc.client, b->client_pk, 32);
	memcpy(rc.worker, b->worker_pk[w], 32);
	strcpy(rc.kind, "bench");
	strcpy(rc.status, "ok");
	randombytes_buf(rc.result_hash, sizeof rc.result_hash);
	rc.result_size = 8;
	rc.duration_ms = 1;
	rn = jobmsg_receipt_encode(rtext, sizeof rtext, &rc);
	memcpy(a.id, rc.id, sizeof a.id);
	memcpy(a.client, rc.client, 32);
	a.has_worker = 1;
	memcpy(a.worker, rc.worker, 32);
	strcpy(a.kind, "bench");
	strcpy(a.status, "succeeded");
	memcpy(a.result_hash, rc.result_hash, sizeof a.result_hash);
	a.attempts = 1;
	a.reward = b->reward;
	/* Seqs after this run's start (a run's acks never meet another's); floor 0: none settled. */
	a.seq = b->seq0 + (uint64_t)i;
	a.floor = b->window > 0 && i > b->window ? a.seq - (uint64_t)b->window : 0;
	jobmsg_hash(a.receipt_hash, rtext, (size_t)rn);
	an = jobmsg_ack_encode(atext, sizeof atext, &a);
	if (rn <= 0 || an <= 0 || (b->rtexts[i] = strdup(rtext)) == NULL ||
	    (b->atexts[i] = strdup(atext)) == NULL)
		abort();
	if (b->fresh) {
		batchsig_sign_one(NULL, b->client_sk, atext, (size_t)an, &b->fresh_auth[2 * i]);
		batchsig_sign_one(NULL, b->worker_sk[w], rtext, (size_t)rn, &b->fresh_auth[2 * i + 1]);
	}
}

/* Record i's POST body, with its authenticators (or, -e, its etcd put). */
static char *bench_body(struct bench *b, long i, const struct batchsig *aauth,
                        const struct batchsig *rauth)
{
	char ahex[BATCHSIG_HEX_MAX + 1], rhex[BATCHSIG_HEX_MAX + 1];
	cJSON *o = cJSON_CreateObject();
	char *text;

	if (o == NULL)
		abort();
	batchsig_to_hex(ahex, aauth);
	batchsig_to_hex(rhex, rauth);
	cJSON_AddStringToObject(o, "ack", b->atexts[i]);
	cJSON_AddStringToObject(o, "ack_auth", ahex);
	cJSON_AddStringToObject(o, "receipt", b->rtexts[i]);
	cJSON_AddStringToObject(o, "receipt_auth", rhex);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		abort();
	return b->etcd ? bench_etcd_put(b->jobs[i], text) : text;
}

/*
 * Signs records first..first+n-1 as one turn's batch (-s: each alone) and
 * makes their bodies: the acks under the client's key, the receipts under
 * their worker's, one Merkle root per signer.
 */
static void bench_sign(struct bench *b, long first, int n, char **bodies)
{
	const char *texts[BENCH_CONNS_MAX];
	size_t lens[BENCH_CONNS_MAX];
	struct batchsig aauth[BENCH_CONNS_MAX], rauth[BENCH_CONNS_MAX], wauth[BENCH_CONNS_MAX];
	int idx[BENCH_CONNS_MAX];

	if (b->fresh || b->alone) { /* -f: signed with the record (bench_texts); -s: batches of one */
		for (int k = 0; k < n; k++) {
			long i = first + k;
			int w = (int)(i % 3);

			if (b->fresh) {
				aauth[k] = b->fresh_auth[2 * i];
				rauth[k] = b->fresh_auth[2 * i + 1];
				continue;
			}
			batchsig_sign_one(NULL, b->client_sk, b->atexts[i], strlen(b->atexts[i]), &aauth[k]);
			batchsig_sign_one(NULL, b->worker_sk[w], b->rtexts[i], strlen(b->rtexts[i]),
			                  &rauth[k]);
		}
		b->batches += n;
	} else {
		for (int k = 0; k < n; k++) {
			texts[k] = b->atexts[first + k];
			lens[k] = strlen(texts[k]);
		}
		if (batchsig_sign(NULL, b->client_sk, texts, lens, (size_t)n, aauth) != 0)
			abort();
		for (int w = 0; w < 3; w++) { /* each worker's receipts of the turn: one root */
			int m = 0;

			for (int k = 0; k < n; k++)
				if ((first + k) % 3 == w) {
					idx[m] = k;
					texts[m] = b->rtexts[first + k];
					lens[m++] = strlen(b->rtexts[first + k]);
				}
			if (m > 0 && batchsig_sign(NULL, b->worker_sk[w], texts, lens, (size_t)m, wauth) != 0)
				abort();
			for (int j = 0; j < m; j++)
				rauth[idx[j]] = wauth[j];
		}
		b->batches++;
	}
	b->batched += n;
	for (int k = 0; k < n; k++)
		bodies[k] = bench_body(b, first + k, &aauth[k], &rauth[k]);
}

static void bench_send(struct bench *b, int c);

struct bench_slot {
	struct bench *b;
	int c;
	long i; /* the record in flight */
};
static struct bench_slot slots[BENCH_CONNS_MAX];

static void bench_slot_cb(struct evhttp_request *req, void *arg)
{
	struct bench_slot *s = arg;
	struct bench *b = s->b;

	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;

	b->done++;
	if (code == 200)
		b->lat[b->nlat++] = b->lat_of[s->i] = bench_now_s() - b->sent_at[s->i];
	else if (code == 202)
		b->late++; /* accepted, not committed within the wait */
	else
		b->failed++;
	bench_send(b, s->c);
	if (b->done == b->n)
		event_base_loopbreak(b->base);
}

/* Writer c's record i goes out now, with its body (freed here). */
static void bench_post(struct bench *b, int c, long i, char *body)
{
	struct evhttp_request *req;
	char host[80], uri[64];

	req = evhttp_request_new(bench_slot_cb, &slots[c]);
	snprintf(host, sizeof host, "%s:%d", b->hosts[c % b->nhosts], b->ports[c % b->nhosts]);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	if (b->auth[c % b->nhosts][0] != '\0')
		evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization",
		                  b->auth[c % b->nhosts]);
	evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
	free(body);
	slots[c].i = i;
	b->host_of[i] = c % b->nhosts;
	b->sent_at[i] = bench_now_s();
	if (b->etcd)
		snprintf(uri, sizeof uri, "/v3/kv/put");
	else
		snprintf(uri, sizeof uri, "/v1/ledger/acks?wait_ms=%ld", b->wait_ms);
	evhttp_make_request(b->conns[c], req, EVHTTP_REQ_POST, uri);
}

/* The end of a loop turn: the writers that became ready in it send, their records one batch. */
static void bench_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	char *bodies[BENCH_CONNS_MAX];
	long first = b->sent;
	int n = 0;

	(void)fd;
	(void)what;
	while (n < b->nready && b->sent < b->n) {
		n++;
		b->sent++;
	}
	if (n > 0)
		bench_sign(b, first, n, bodies);
	for (int k = 0; k < n; k++)
		bench_post(b, b->ready[k], first + k, bodies[k]);
	b->nready = 0;
}

/* Writer c is ready for its next record: it goes out at the end of this turn. */
static void bench_send(struct bench *b, int c)
{
	if (b->sent + b->nready >= b->n)
		return;
	if (b->nready++ == 0)
		event_active(b->flush_ev, EV_TIMEOUT, 0);
	b->ready[b->nready - 1] = c;
}

/* GET /v1/ledger of host h, synchronously (a nested loop run). */
static cJSON *bench_get(struct bench *b, int h);

struct bench_get {
	struct event_base *base;
	cJSON *doc;
};

static void bench_get_cb(struct evhttp_request *req, void *arg)
{
	struct bench_get *g = arg;

	if (req != NULL && evhttp_request_get_response_code(req) == 200) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);

		g->doc = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len);
	}
	event_base_loopbreak(g->base);
}

static cJSON *bench_get(struct bench *b, int h)
{
	struct bench_get g = { event_base_new(), NULL };
	struct evhttp_connection *conn =
	    evhttp_connection_base_new(g.base, NULL, b->hosts[h], (uint16_t)b->ports[h]);
	struct evhttp_request *req = evhttp_request_new(bench_get_cb, &g);

	evhttp_make_request(conn, req, EVHTTP_REQ_GET, "/v1/ledger");
	event_base_dispatch(g.base);
	evhttp_connection_free(conn);
	event_base_free(g.base);
	return g.doc;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double bench_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int bench_args(struct bench *b, int argc, char **argv)
{
	char *hosts = NULL, *save, *tok;
	int ch;

	b->n = 1000;
	b->nconns = 1;
	b->wait_ms = 5000;
	b->credit_s = 120;
	b->reward = 1;
	const char *token = getenv("CHORUS_TOKEN");
	for (int i = 0; token != NULL && token[0] != '\0' && i < BENCH_HOSTS_MAX; i++) {
		size_t len = strcspn(token, ",");

		if (len <= 128 && memchr(token, '\n', len) == NULL)
			snprintf(b->auth[i], sizeof b->auth[i], "Bearer %.*s", (int)len, token);
		token = token[len] == ',' ? token + len + 1 : NULL;
		if (token == NULL && i == 0)
			for (int j = 1; j < BENCH_HOSTS_MAX; j++)
				memcpy(b->auth[j], b->auth[0], sizeof b->auth[0]);
	}
	while ((ch = getopt(argc, argv, "H:c:n:w:t:j:k:r:fesL:W:")) != -1) {
		if (ch == 'H')
			hosts = optarg;
		else if (ch == 'c')
			b->nconns = atoi(optarg);
		else if (ch == 'n')
			b->n = atol(optarg);
		else if (ch == 'w')
			b->wait_ms = atol(optarg);
		else if (ch == 't')
			b->credit_s = atol(optarg);
		else if (ch == 'j')
			b->jobs_file = optarg;
		else if (ch == 'k' && b->nkey_files < 4)
			b->key_files[b->nkey_files++] = optarg;
		else if (ch == 'r')
			b->reward = strtoull(optarg, NULL, 10);
		else if (ch == 'f')
			b->fresh = 1;
		else if (ch == 'e')
			b->etcd = 1;
		else if (ch == 's')
			b->alone = 1;
		else if (ch == 'L')
			b->lat_file = optarg;
		else if (ch == 'W')
			b->window = atol(optarg);
		else
			return -1;
	}
	if (hosts == NULL || b->nconns < 1 || b->nconns > BENCH_CONNS_MAX || b->n < 1 ||
	    b->n > BENCH_N_MAX || b->wait_ms < 0 || b->wait_ms > 60000 || b->credit_s < 0 ||
	    b->credit_s > 3600 || b->reward > CODEC_JSON_INT_MAX || b->window < 0 ||
	    (b->window > 0 && b->window <= b->nconns))
		return -1;
	for (tok = strtok_r(hosts, ",", &save); tok && b->nhosts < BENCH_HOSTS_MAX;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':');

		if (colon == NULL)
			return -1;
		*colon = '\0';
		snprintf(b->hosts[b->nhosts], sizeof b->hosts[0], "%s", tok);
		b->ports[b->nhosts++] = atoi(colon + 1);
	}
	return b->nhosts > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct bench b;
	cJSON *doc;
	double t0, t1, deadline;

	if (sodium_init() < 0 || bench_args(&b, argc, argv) != 0) {
		fprintf(stderr, "usage: ledger-bench -H HOST:PORT[,HOST:PORT...] [-c CONNS] [-n N]"
		                " [-w WAIT_MS] [-t SECONDS] [-j FILE] [-k KEY_FILE]... [-r REWARD]"
		                " [-f] [-s] [-W WINDOW] [-L FILE]\n       ledger-bench -e -H HOST:PORT[,...] [-c CONNS] [-n N]"
		                " (etcd v3 puts)\n  (the nodes' API tokens from $CHORUS_TOKEN: TOKEN, or"
		                " TOKEN,TOKEN,... one per host)\n");
		return 1;
	}
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		b.seq0 = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	}
	crypto_sign_keypair(b.client_pk, b.client_sk);
	for (int w = 0; w < 3; w++)
		crypto_sign_keypair(b.worker_pk[w], b.worker_sk[w]);
	for (int k = 0; k < b.nkey_files; k++) {
		uint8_t *sk = k == 0 ? b.client_sk : b.worker_sk[k - 1];
		uint8_t *pk = k == 0 ? b.client_pk : b.worker_pk[k - 1];
		FILE *fp = fopen(b.key_files[k], "rb");

		if (fp == NULL || fread(sk, 1, 64, fp) != 64) {
			fprintf(stderr, "ledger-bench: cannot read a key from %s\n", b.key_files[k]);
			return 1;
		}
		fclose(fp);
		crypto_sign_ed25519_sk_to_pk(pk, sk);
	}
	for (int w = b.nkey_files - 1; b.nkey_files > 1 && w < 3; w++) { /* fewer workers: in turn */
		memcpy(b.worker_sk[w], b.worker_sk[w % (b.nkey_files - 1)], 64);
		memcpy(b.worker_pk[w], b.worker_pk[w % (b.nkey_files - 1)], 32);
	}
	b.atexts = calloc((size_t)b.n, sizeof *b.atexts);
	b.rtexts = calloc((size_t)b.n, sizeof *b.rtexts);
	if (b.fresh && (b.fresh_auth = calloc(2 * (size_t)b.n, sizeof *b.fresh_auth)) == NULL)
		return 1;
	b.sent_at = calloc((size_t)b.n, sizeof *b.sent_at);
	b.lat = calloc((size_t)b.n, sizeof *b.lat);
	b.lat_of = calloc((size_t)b.n, sizeof *b.lat_of);
	b.host_of = calloc((size_t)b.n, sizeof *b.host_of);
	b.jobs = calloc((size_t)b.n, sizeof *b.jobs);
	if (b.atexts == NULL || b.rtexts == NULL || b.lat_of == NULL || b.host_of == NULL || b.sent_at == NULL || b.lat == NULL || b.jobs == NULL)
		return 1;
	for (long i = 0; i < b.n; i++)
		bench_texts(&b, i);
	if (b.jobs_file != NULL) {
		FILE *f = fopen(b.jobs_file, "w");

		for (long i = 0; f != NULL && i < b.n; i++)
			fprintf(f, "%s\n", b.jobs[i]);
		if (f == NULL || fclose(f) != 0) {
			fprintf(stderr, "ledger-bench: cannot write %s\n", b.jobs_file);
			return 1;
		}
	}
	if (b.etcd) {
		doc = NULL;
	} else if ((doc = bench_get(&b, 0)) == NULL) {
		fprintf(stderr, "ledger-bench: no /v1/ledger at %s:%d\n", b.hosts[0], b.ports[0]);
		return 1;
	}
	b.credited0 = doc != NULL ? bench_num(doc, "credited") : 0;
	cJSON_Delete(doc);
	b.base = event_base_new();
	b.flush_ev = event_new(b.base, -1, 0, bench_flush_cb, &b);
	if (b.base == NULL || b.flush_ev == NULL)
		return 1;
	t0 = bench_now_s();
	for (int c = 0; c < b.nconns; c++) {
		slots[c].b = &b;
		slots[c].c = c;
		b.conns[c] = evhttp_connection_base_new(b.base, NULL, b.hosts[c % b.nhosts],
		                                        (uint16_t)b.ports[c % b.nhosts]);
		bench_send(&b, c);
	}
	event_base_dispatch(b.base);
	deadline = bench_now_s() + (double)b.credit_s;
	for (;;) { /* at least one look, even with -t 0 */
		if (b.etcd) { /* etcd answers a put once it is committed: the answers count */
			b.credited = (double)b.nlat;
			break;
		}
		doc = bench_get(&b, 0);
		b.credited = doc ? bench_num(doc, "credited") - b.credited0 : 0;
		cJSON_Delete(doc);
		if (b.credited >= (double)(b.n - b.failed) || bench_now_s() >= deadline)
			break;
		usleep(2000);
	}
	t1 = bench_now_s();
	if (b.lat_file != NULL) { /* -L: each record's send time (s from the start) and latency */
		FILE *f = fopen(b.lat_file, "w");

		for (long i = 0; f != NULL && i < b.n; i++)
			fprintf(f, "%.6f %.6f %d\n", b.sent_at[i] - t0, b.lat_of[i], b.host_of[i]);
		if (f == NULL || fclose(f) != 0)
			fprintf(stderr, "ledger-bench: cannot write %s\n", b.lat_file);
	}
	qsort(b.lat, (size_t)b.nlat, sizeof *b.lat, bench_cmp);
	printf("entries %ld failed %ld credited %.0f seconds %.3f entries/s %.0f nodes %d writers %d\n",
	       b.n, b.failed, b.credited, t1 - t0, b.credited / (t1 - t0), b.nhosts, b.nconns);
	printf("answers 200 %ld 202 %ld other %ld\n", b.nlat, b.late, b.failed);
	printf("signed %ld records in %ld batches (mean %.1f per client signature)\n", b.batched,
	       b.batches, b.batches > 0 ? (double)b.batched / (double)b.batches : 0.0);
	if (b.nlat > 0)
		printf("submit-to-commit ms p50 %.3f p90 %.3f p99 %.3f (%ld samples, %ld not "
		       "committed within 5 s)\n",
		       1e3 * b.lat[b.nlat / 2], 1e3 * b.lat[b.nlat * 9 / 10], 1e3 * b.lat[b.nlat * 99 / 100],
		       b.nlat, b.late);
	return b.credited >= (double)(b.n - b.failed) && b.failed == 0 ? 0 : 1;
}

/*
 * ledger-bench: how fast the replicated ledger commits completion records.
 *
 *   ledger-bench -H HOST:PORT[,HOST:PORT...] [-c CONNECTIONS] [-n ENTRIES]
 *                [-w WAIT_MS] [-t SECONDS] [-j FILE] [-k KEY_FILE]... [-r REWARD] [-f]
 *   ledger-bench -e -H HOST:PORT[,HOST:PORT...] [-c CONNECTIONS] [-n ENTRIES]
 *
 * Synthesises ENTRIES valid, signed completion records (a client's ack and
 * a worker's receipt, made with the core's own encoders and real ed25519
 * keys) and POSTs them to /v1/ledger/acks?wait_ms=WAIT_MS (default 5000) of
 * the given nodes (round-robin).  Each of the CONNECTIONS writers is
 * closed-loop: one record in flight, the next sent when the node answers
 * (200: committed; 202: accepted into its outbox, not committed within the
 * wait).  The node forwards it to the Raft leader, which batches records
 * into blocks; every voter persists each round (synchronous=FULL) before it
 * acknowledges.  Prints entries, seconds, committed entries/s (the clock
 * stops when the first node's ledger has credited them all, or after
 * SECONDS, default 120; 0: do not wait), the answers by status, and the
 * submit-to-commit latency every writer saw (p50, p90, p99, in ms with
 * microseconds).  -j writes the records' job ids (hex), one per line.
 * Exits 0 when every record was answered 200 or 202 and is credited.
 *
 * The ledger credits only members' keys (docs/ledger.md): -k names a node's
 * node.key, the first the client's, up to three more the workers' (used in
 * turn).  Without -k the keys are fresh (no member: refused by the leader).
 * -r sets every record's reward (default 1); -f makes a fresh client and
 * worker key pair for every record (poison for tests: never creditable).
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
	const char *jobs_file;
	char (*jobs)[2 * CHORUS_JOB_ID_BYTES + 1];
	char **bodies;
	double credited0, credited;
	double *sent_at, *lat; /* per record: when it was posted, how long until committed */
	long nlat, late;
	uint8_t client_pk[32], client_sk[64], worker_pk[3][32], worker_sk[3][64];
	uint64_t seq0; /* the first ack's seq: the wall clock at start, in microseconds */
	const char *key_files[4];
	int nkey_files, fresh, etcd;
	uint64_t reward;
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

/* One signed ack + receipt pair as the POST body. */
static char *bench_entry(struct bench *b, long i)
{
	struct jreceipt rc;
	struct jack a;
	char rtext[JOBMSG_TEXT_MAX + 1], atext[JOBMSG_TEXT_MAX + 1];
	char rauth[BATCHSIG_HEX_MAX + 1], aauth[BATCHSIG_HEX_MAX + 1];
	struct batchsig auth;
	int w = (int)(i % 3), rn, an;
	cJSON *o = cJSON_CreateObject();
	char *text;

	if (b->fresh) { /* a stranger's pair per record */
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
	a.floor = 0;
	jobmsg_hash(a.receipt_hash, rtext, (size_t)rn);
	an = jobmsg_ack_encode(atext, sizeof atext, &a);
	if (rn <= 0 || an <= 0 || o == NULL)
		abort();
	/* Each record signed on its own (a batch of one): the bench's writers are independent. */
	batchsig_sign_one(NULL, b->worker_sk[w], rtext, (size_t)rn, &auth);
	batchsig_to_hex(rauth, &auth);
	batchsig_sign_one(NULL, b->client_sk, atext, (size_t)an, &auth);
	batchsig_to_hex(aauth, &auth);
	cJSON_AddStringToObject(o, "ack", atext);
	cJSON_AddStringToObject(o, "ack_auth", aauth);
	cJSON_AddStringToObject(o, "receipt", rtext);
	cJSON_AddStringToObject(o, "receipt_auth", rauth);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return b->etcd ? bench_etcd_put(b->jobs[i], text) : text;
}

static void bench_send(struct bench *b, int c);

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
		b->lat[b->nlat++] = bench_now_s() - b->sent_at[s->i];
	else if (code == 202)
		b->late++; /* accepted, not committed within the wait */
	else
		b->failed++;
	bench_send(b, s->c);
	if (b->done == b->n)
		event_base_loopbreak(b->base);
}

static void bench_send(struct bench *b, int c)
{
	struct evhttp_request *req;
	char host[80], uri[64];

	if (b->sent >= b->n)
		return;
	req = evhttp_request_new(bench_slot_cb, &slots[c]);
	snprintf(host, sizeof host, "%s:%d", b->hosts[c % b->nhosts], b->ports[c % b->nhosts]);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	if (b->auth[c % b->nhosts][0] != '\0')
		evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization",
		                  b->auth[c % b->nhosts]);
	evbuffer_add(evhttp_request_get_output_buffer(req), b->bodies[b->sent],
	             strlen(b->bodies[b->sent]));
	slots[c].i = b->sent;
	b->sent_at[b->sent++] = bench_now_s();
	if (b->etcd)
		snprintf(uri, sizeof uri, "/v3/kv/put");
	else
		snprintf(uri, sizeof uri, "/v1/ledger/acks?wait_ms=%ld", b->wait_ms);
	evhttp_make_request(b->conns[c], req, EVHTTP_REQ_POST, uri);
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
	while ((ch = getopt(argc, argv, "H:c:n:w:t:j:k:r:fe")) != -1) {
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
		else
			return -1;
	}
	if (hosts == NULL || b->nconns < 1 || b->nconns > BENCH_CONNS_MAX || b->n < 1 ||
	    b->n > BENCH_N_MAX || b->wait_ms < 0 || b->wait_ms > 60000 || b->credit_s < 0 ||
	    b->credit_s > 3600 || b->reward > CODEC_JSON_INT_MAX)
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
		                " [-f]\n       ledger-bench -e -H HOST:PORT[,...] [-c CONNS] [-n N]"
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
	b.bodies = calloc((size_t)b.n, sizeof *b.bodies);
	b.sent_at = calloc((size_t)b.n, sizeof *b.sent_at);
	b.lat = calloc((size_t)b.n, sizeof *b.lat);
	b.jobs = calloc((size_t)b.n, sizeof *b.jobs);
	if (b.bodies == NULL || b.sent_at == NULL || b.lat == NULL || b.jobs == NULL)
		return 1;
	for (long i = 0; i < b.n; i++)
		b.bodies[i] = bench_entry(&b, i);
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
	qsort(b.lat, (size_t)b.nlat, sizeof *b.lat, bench_cmp);
	printf("entries %ld failed %ld credited %.0f seconds %.3f entries/s %.0f nodes %d writers %d\n",
	       b.n, b.failed, b.credited, t1 - t0, b.credited / (t1 - t0), b.nhosts, b.nconns);
	printf("answers 200 %ld 202 %ld other %ld\n", b.nlat, b.late, b.failed);
	if (b.nlat > 0)
		printf("submit-to-commit ms p50 %.3f p90 %.3f p99 %.3f (%ld samples, %ld not "
		       "committed within 5 s)\n",
		       1e3 * b.lat[b.nlat / 2], 1e3 * b.lat[b.nlat * 9 / 10], 1e3 * b.lat[b.nlat * 99 / 100],
		       b.nlat, b.late);
	return b.credited >= (double)(b.n - b.failed) && b.failed == 0 ? 0 : 1;
}

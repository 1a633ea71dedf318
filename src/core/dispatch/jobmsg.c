/*
 * jobmsg: the three signed texts of the dispatch protocol, their canonical
 * encodings and their bounded decoders.
 *
 *   request  {"v":1,"job":ID,"nonce":N,"client":PK,"gen":G,"addr":URL,"kind":K,
 *             "size":BYTES,"hash":H,"timeout_ms":T,"reward":R,"created":MS,"round":N
 *             [,"where":["KEY=VALUE",...]]}
 *            (gen, the client's start time, makes a resumed job's rounds new
 *             messages after the client restarts; where, the constraint of
 *             submit --where, only when there is one: a worker checks it
 *             against its own tags, and a worker from before constraints
 *             ignores it -- the client checks offers against records anyway)
 *   receipt  {"v":1,"job":ID,"client":PK,"worker":PK,"kind":K,"status":S,
 *             "result_hash":H,"result_size":BYTES,"duration_ms":D}
 *   ack      {"v":2,"job":ID,"nonce":N,"client":PK,"seq":S,"floor":F,"worker":PK|"",
 *             "kind":K,"status":S,"result_hash":H|"","attempts":N,"reward":R,"receipt":H|""}
 *            (seq grows with every ack of the client, across its restarts; floor <= seq
 *             says every earlier ack of the client with a seq below it is settled:
 *             the ledger forgets its jobs below the floor, docs/ledger.md)
 *
 * The originator signs the exact text, so anyone may relay it and everyone
 * (the ledger too, later and offline) can check it.  A job id is
 * BLAKE2b-128(client key || nonce): a client cannot claim another's job id,
 * and the same nonce resumes the same job after a restart.  Every string
 * field is a hex digest, a name or an address, none of which needs escaping,
 * so encoding is canonical by construction.
 */
#include <sodium.h>

#include "dispatch/jobmsg.h"
#include "membership/membership.h" /* record_tags_*: a request carries its constraint as tags */

void jobmsg_job_id(uint8_t id[CHORUS_JOB_ID_BYTES], const uint8_t client[CHORUS_PK_BYTES],
                   uint64_t nonce)
{
	uint8_t in[CHORUS_PK_BYTES + 8];

	memcpy(in, client, CHORUS_PK_BYTES);
	codec_put_u64(in + CHORUS_PK_BYTES, nonce);
	crypto_generichash(id, CHORUS_JOB_ID_BYTES, in, sizeof(in), NULL, 0);
}

void jobmsg_hash(uint8_t out[JOBMSG_HASH_BYTES], const void *data, size_t len)
{
	crypto_generichash(out, JOBMSG_HASH_BYTES, data, len, NULL, 0);
}

static int jobmsg_valid_status(const char *s, int receipt)
{
	if (receipt)
		return strcmp(s, "ok") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "timeout") == 0 ||
		       strcmp(s, "cancelled") == 0;
	return strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 ||
	       strcmp(s, "cancelled") == 0;
}

/* Parses a bounded signed text and hands the object to a field decoder. */
static int jobmsg_decode(const char *text, size_t len, int (*fields)(const cJSON *, void *),
                         void *out, size_t out_size)
{
	cJSON *o;
	int rc;

	if (len == 0 || len > JOBMSG_TEXT_MAX)
		return CORE_ERR_OVERSIZE;
	o = cJSON_ParseWithLength(text, len);
	if (o == NULL)
		return CORE_ERR_MALFORMED;
	memset(out, 0, out_size);
	rc = cJSON_IsObject(o) ? fields(o, out) : CORE_ERR_MALFORMED;
	cJSON_Delete(o);
	return rc;
}

/* ---------------------------------------------------------------- the canonical fast path */

/*
 * Every node decodes a request and an ack per job (and a client a receipt), most of them in exactly
 * the form the encoders below write: no spaces, the keys in order, plain
 * strings, digits.  Such a text is read in place, with the same checks the
 * general path makes (the same helpers); anything else, or anything those
 * checks refuse, goes to the general path, which decides.  So the fast path
 * accepts nothing the general path refuses, and fills the same fields
 * (test-dispatch compares the two on encoded and mutated texts).
 */
struct canon {
	const char *p, *end;
};

static int canon_lit(struct canon *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

/* The rest of a string whose opening quote was read: at most max bytes, no escapes or controls. */
static int canon_str(struct canon *c, char *out, size_t max)
{
	size_t room = (size_t)(c->end - c->p), n;
	const char *q = memchr(c->p, '"', room < max + 1 ? room : max + 1);
	unsigned bad = 0;

	if (q == NULL)
		return -1;
	n = (size_t)(q - c->p);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)c->p[i];

		bad |= (unsigned)(ch < 0x20) | (unsigned)(ch == '\\');
	}
	if (bad)
		return -1;
	memcpy(out, c->p, n);
	out[n] = '\0';
	c->p = q + 1;
	return 0;
}

static int canon_hex(struct canon *c, uint8_t *out, size_t n)
{
	char s[2 * JOBMSG_HASH_BYTES + 2 * CHORUS_PK_BYTES + 1];

	assert(2 * n < sizeof(s));
	return canon_str(c, s, 2 * n) == 0 && codec_unhex(out, n, s) == 0 ? 0 : -1;
}

/* Decimal digits, no leading zero but "0", at most max (and what a double holds exactly). */
static int canon_u64(struct canon *c, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	while (c->p + n < c->end && c->p[n] >= '0' && c->p[n] <= '9' && n < 17)
		v = v * 10 + (uint64_t)(c->p[n++] - '0');
	if (n == 0 || n > 16 || (n > 1 && c->p[0] == '0') || v > CODEC_JSON_INT_MAX || v > max)
		return -1;
	c->p += n;
	*out = v;
	return 0;
}

/* The nonce (16 hex digits) and the id it must give with the client's key. */
static int canon_nonce(const char *hex, const uint8_t id[CHORUS_JOB_ID_BYTES],
                       const uint8_t client[CHORUS_PK_BYTES], uint64_t *nonce)
{
	uint8_t want[CHORUS_JOB_ID_BYTES], raw[8];

	if (codec_unhex(raw, sizeof(raw), hex) < 0)
		return -1;
	*nonce = codec_get_u64(raw);
	jobmsg_job_id(want, client, *nonce);
	return memcmp(want, id, CHORUS_JOB_ID_BYTES) == 0 ? 0 : -1;
}

/*
 * The head requests and acks share: {"v":1,"job":..,"nonce":..,"client":..
 * with the id checked against the nonce and the client key (the nonce
 * comes first: read, then checked once the key is in).
 */
static int canon_head(struct canon *c, const char *v, uint8_t id[CHORUS_JOB_ID_BYTES],
                      uint64_t *nonce, uint8_t client[CHORUS_PK_BYTES])
{
	char job[CHORUS_JOB_ID_HEX + 1], hex[CHORUS_ID_HEX + 1], n[17];

	if (canon_lit(c, v) < 0 || canon_str(c, job, CHORUS_JOB_ID_HEX) < 0 ||
	    codec_unhex(id, CHORUS_JOB_ID_BYTES, job) < 0 ||
	    canon_lit(c, ",\"nonce\":\"") < 0 || canon_str(c, n, 16) < 0 ||
	    canon_lit(c, ",\"client\":\"") < 0 || canon_str(c, hex, CHORUS_ID_HEX) < 0 ||
	    codec_unhex(client, CHORUS_PK_BYTES, hex) < 0)
		return -1;
	return canon_nonce(n, id, client, nonce);
}

static int canon_request(struct jreq *r, const char *text, size_t len)
{
	struct canon c = { text, text + len };
	char s[CHORUS_ADDR_MAX + 1];
	uint64_t size, timeout, round;

	memset(r, 0, sizeof(*r));
	if (canon_head(&c, "{\"v\":1,\"job\":\"", r->id, &r->nonce, r->client) < 0 ||
	    canon_lit(&c, ",\"gen\":") < 0 || canon_u64(&c, CODEC_JSON_INT_MAX, &r->gen) < 0 ||
	    canon_lit(&c, ",\"addr\":\"") < 0 || canon_str(&c, s, CHORUS_ADDR_MAX) < 0 ||
	    !codec_valid_addr(s))
		return -1;
	strcpy(r->addr, s);
	if (canon_lit(&c, ",\"kind\":\"") < 0 || canon_str(&c, r->kind, CHORUS_KIND_MAX) < 0 ||
	    !codec_valid_name(r->kind, CHORUS_KIND_MAX) ||
	    canon_lit(&c, ",\"size\":") < 0 || canon_u64(&c, CHORUS_PAYLOAD_MAX, &size) < 0 ||
	    canon_lit(&c, ",\"hash\":\"") < 0 || canon_hex(&c, r->hash, JOBMSG_HASH_BYTES) < 0 ||
	    canon_lit(&c, ",\"timeout_ms\":") < 0 ||
	    canon_u64(&c, CHORUS_JOB_TIMEOUT_MS_MAX, &timeout) < 0 || timeout == 0 ||
	    canon_lit(&c, ",\"reward\":") < 0 || canon_u64(&c, CODEC_JSON_INT_MAX, &r->reward) < 0 ||
	    canon_lit(&c, ",\"created\":") < 0 ||
	    canon_u64(&c, CODEC_JSON_INT_MAX, &r->created_ms) < 0 ||
	    canon_lit(&c, ",\"round\":") < 0 || canon_u64(&c, CHORUS_JOB_ROUNDS_MAX, &round) < 0 ||
	    canon_lit(&c, "}") < 0 || c.p != c.end)
		return -1;
	r->size = (size_t)size;
	r->timeout_ms = (uint32_t)timeout;
	r->round = (unsigned)round;
	return 0;
}

static int canon_ack(struct jack *a, const char *text, size_t len)
{
	struct canon c = { text, text + len };
	char worker[CHORUS_ID_HEX + 1], empty[1];
	uint64_t attempts;

	memset(a, 0, sizeof(*a));
	if (canon_head(&c, "{\"v\":" JOBMSG_ACK_V ",\"job\":\"", a->id, &a->nonce, a->client) < 0 ||
	    canon_lit(&c, ",\"seq\":") < 0 || canon_u64(&c, CODEC_JSON_INT_MAX, &a->seq) < 0 ||
	    canon_lit(&c, ",\"floor\":") < 0 || canon_u64(&c, a->seq, &a->floor) < 0 ||
	    canon_lit(&c, ",\"worker\":\"") < 0 || canon_str(&c, worker, CHORUS_ID_HEX) < 0)
		return -1;
	a->has_worker = worker[0] != '\0';
	if (a->has_worker && codec_unhex(a->worker, CHORUS_PK_BYTES, worker) < 0)
		return -1;
	if (canon_lit(&c, ",\"kind\":\"") < 0 || canon_str(&c, a->kind, CHORUS_KIND_MAX) < 0 ||
	    !codec_valid_name(a->kind, CHORUS_KIND_MAX) ||
	    canon_lit(&c, ",\"status\":\"") < 0 || canon_str(&c, a->status, sizeof(a->status) - 1) < 0 ||
	    !codec_valid_name(a->status, sizeof(a->status) - 1) || !jobmsg_valid_status(a->status, 0) ||
	    canon_lit(&c, ",\"result_hash\":\"") < 0 ||
	    (a->has_worker ? canon_hex(&c, a->result_hash, JOBMSG_HASH_BYTES)
	                   : canon_str(&c, empty, 0)) < 0 ||
	    canon_lit(&c, ",\"attempts\":") < 0 ||
	    canon_u64(&c, CHORUS_JOB_ATTEMPTS_MAX, &attempts) < 0 ||
	    canon_lit(&c, ",\"reward\":") < 0 || canon_u64(&c, CODEC_JSON_INT_MAX, &a->reward) < 0 ||
	    canon_lit(&c, ",\"receipt\":\"") < 0 ||
	    (a->has_worker ? canon_hex(&c, a->receipt_hash, JOBMSG_HASH_BYTES)
	                   : canon_str(&c, empty, 0)) < 0 ||
	    canon_lit(&c, "}") < 0 || c.p != c.end)
		return -1;
	a->attempts = (unsigned)attempts;
	/* A success names the worker whose receipt proves it. */
	return strcmp(a->status, "succeeded") == 0 && !a->has_worker ? -1 : 0;
}

static int canon_receipt(struct jreceipt *r, const char *text, size_t len)
{
	struct canon c = { text, text + len };
	char job[CHORUS_JOB_ID_HEX + 1], pk[CHORUS_ID_HEX + 1];
	uint64_t size;

	memset(r, 0, sizeof(*r));
	if (canon_lit(&c, "{\"v\":1,\"job\":\"") < 0 || canon_str(&c, job, CHORUS_JOB_ID_HEX) < 0 ||
	    codec_unhex(r->id, CHORUS_JOB_ID_BYTES, job) < 0 ||
	    canon_lit(&c, ",\"client\":\"") < 0 || canon_str(&c, pk, CHORUS_ID_HEX) < 0 ||
	    codec_unhex(r->client, CHORUS_PK_BYTES, pk) < 0 ||
	    canon_lit(&c, ",\"worker\":\"") < 0 || canon_str(&c, pk, CHORUS_ID_HEX) < 0 ||
	    codec_unhex(r->worker, CHORUS_PK_BYTES, pk) < 0 ||
	    canon_lit(&c, ",\"kind\":\"") < 0 || canon_str(&c, r->kind, CHORUS_KIND_MAX) < 0 ||
	    !codec_valid_name(r->kind, CHORUS_KIND_MAX) ||
	    canon_lit(&c, ",\"status\":\"") < 0 || canon_str(&c, r->status, sizeof(r->status) - 1) < 0 ||
	    !codec_valid_name(r->status, sizeof(r->status) - 1) || !jobmsg_valid_status(r->status, 1) ||
	    canon_lit(&c, ",\"result_hash\":\"") < 0 ||
	    canon_hex(&c, r->result_hash, JOBMSG_HASH_BYTES) < 0 ||
	    canon_lit(&c, ",\"result_size\":") < 0 || canon_u64(&c, CHORUS_RESULT_MAX, &size) < 0 ||
	    canon_lit(&c, ",\"duration_ms\":") < 0 ||
	    canon_u64(&c, CODEC_JSON_INT_MAX, &r->duration_ms) < 0 || canon_lit(&c, "}") < 0 ||
	    c.p != c.end)
		return -1;
	r->result_size = (size_t)size;
	return 0;
}

/* ---------------------------------------------------------------- request */

/*
 * The longest request: the fixed keys and digits (under 200 bytes), the
 * hex fields, an address, a kind and a full constraint.
 */
_Static_assert(200 + CHORUS_JOB_ID_HEX + 16 + CHORUS_ID_HEX + CHORUS_ADDR_MAX + CHORUS_KIND_MAX +
                       2 * JOBMSG_HASH_BYTES + 12 + CHORUS_NODE_TAGS_MAX * (CHORUS_TAG_TEXT_MAX + 3) <=
                   JOBMSG_TEXT_MAX,
               "a request with the longest constraint fits JOBMSG_TEXT_MAX");

int jobmsg_request_encode(char *out, size_t cap, const struct jreq *r)
{
	char job[CHORUS_JOB_ID_HEX + 1], client[CHORUS_ID_HEX + 1], hash[2 * JOBMSG_HASH_BYTES + 1];
	struct sb sb;

	if (!codec_valid_name(r->kind, CHORUS_KIND_MAX) || !codec_valid_addr(r->addr) ||
	    !record_tags_valid(r->where, r->nwhere))
		return CORE_ERR_INVAL;
	codec_hex(job, r->id, CHORUS_JOB_ID_BYTES);
	codec_hex(client, r->client, CHORUS_PK_BYTES);
	codec_hex(hash, r->hash, JOBMSG_HASH_BYTES);
	sb_init(&sb, out, cap);
	sb_printf(&sb,
	          "{\"v\":1,\"job\":\"%s\",\"nonce\":\"%016llx\",\"client\":\"%s\",\"gen\":%llu,"
	          "\"addr\":\"%s\","
	          "\"kind\":\"%s\",\"size\":%zu,\"hash\":\"%s\",\"timeout_ms\":%u,\"reward\":%llu,"
	          "\"created\":%llu,\"round\":%u",
	          job, (unsigned long long)r->nonce, client, (unsigned long long)r->gen, r->addr,
	          r->kind, r->size, hash,
	          r->timeout_ms, (unsigned long long)r->reward, (unsigned long long)r->created_ms,
	          r->round);
	record_tags_put(&sb, "where", r->where, r->nwhere);
	sb_puts(&sb, "}");
	if (sb.overflow || sb.len > JOBMSG_TEXT_MAX)
		return CORE_ERR_OVERSIZE;
	return (int)sb.len;
}

static int jobmsg_json_hex(const cJSON *obj, const char *key, uint8_t *out, size_t n)
{
	const char *s;

	if (codec_json_str(obj, key, 2 * n, &s) < 0)
		return CORE_ERR_MALFORMED;
	return codec_unhex(out, n, s);
}

static int jobmsg_json_name(const cJSON *obj, const char *key, char *out, size_t max)
{
	const char *s;

	if (codec_json_str(obj, key, max, &s) < 0 || !codec_valid_name(s, max))
		return CORE_ERR_MALFORMED;
	strcpy(out, s);
	return 0;
}

/* The "nonce" field, and the id it must give with the client's key. */
static int jobmsg_nonce_matches(const cJSON *o, const uint8_t id[CHORUS_JOB_ID_BYTES],
                                const uint8_t client[CHORUS_PK_BYTES], uint64_t *nonce)
{
	uint8_t want[CHORUS_JOB_ID_BYTES], raw[8];

	if (jobmsg_json_hex(o, "nonce", raw, sizeof(raw)) < 0)
		return CORE_ERR_MALFORMED;
	*nonce = codec_get_u64(raw);
	/* The id must be the client's own: no claiming someone else's job. */
	jobmsg_job_id(want, client, *nonce);
	return memcmp(want, id, CHORUS_JOB_ID_BYTES) == 0 ? 0 : CORE_ERR_MALFORMED;
}

static int jobmsg_request_fields(const cJSON *o, void *out)
{
	struct jreq *r = out;
	const char *s;
	uint64_t v, size, timeout, round;

	if (codec_json_u64(o, "v", 1000, &v) < 0 || v != 1 ||
	    jobmsg_json_hex(o, "job", r->id, CHORUS_JOB_ID_BYTES) < 0 ||
	    codec_json_pk(o, "client", r->client) < 0 ||
	    jobmsg_nonce_matches(o, r->id, r->client, &r->nonce) < 0 ||
	    codec_json_u64(o, "gen", CODEC_JSON_INT_MAX, &r->gen) < 0 ||
	    codec_json_str(o, "addr", CHORUS_ADDR_MAX, &s) < 0 || !codec_valid_addr(s))
		return CORE_ERR_MALFORMED;
	strcpy(r->addr, s);
	if (jobmsg_json_name(o, "kind", r->kind, CHORUS_KIND_MAX) < 0 ||
	    codec_json_u64(o, "size", CHORUS_PAYLOAD_MAX, &size) < 0 ||
	    jobmsg_json_hex(o, "hash", r->hash, JOBMSG_HASH_BYTES) < 0 ||
	    codec_json_u64(o, "timeout_ms", CHORUS_JOB_TIMEOUT_MS_MAX, &timeout) < 0 || timeout == 0 ||
	    codec_json_u64(o, "reward", CODEC_JSON_INT_MAX, &r->reward) < 0 ||
	    codec_json_u64(o, "created", CODEC_JSON_INT_MAX, &r->created_ms) < 0 ||
	    codec_json_u64(o, "round", CHORUS_JOB_ROUNDS_MAX, &round) < 0 ||
	    record_tags_get(o, "where", r->where, &r->nwhere) < 0)
		return CORE_ERR_MALFORMED;
	r->size = (size_t)size;
	r->timeout_ms = (uint32_t)timeout;
	r->round = (unsigned)round;
	return 0;
}

int jobmsg_request_decode_json(struct jreq *r, const char *text, size_t len)
{
	return jobmsg_decode(text, len, jobmsg_request_fields, r, sizeof(*r));
}

int jobmsg_request_decode(struct jreq *r, const char *text, size_t len)
{
	if (len > 0 && len <= JOBMSG_TEXT_MAX && canon_request(r, text, len) == 0)
		return 0;
	return jobmsg_request_decode_json(r, text, len);
}

/* ---------------------------------------------------------------- receipt */

int jobmsg_receipt_encode(char *out, size_t cap, const struct jreceipt *r)
{
	char job[CHORUS_JOB_ID_HEX + 1], client[CHORUS_ID_HEX + 1], worker[CHORUS_ID_HEX + 1];
	char hash[2 * JOBMSG_HASH_BYTES + 1];
	struct sb sb;

	if (!codec_valid_name(r->kind, CHORUS_KIND_MAX) || !jobmsg_valid_status(r->status, 1))
		return CORE_ERR_INVAL;
	codec_hex(job, r->id, CHORUS_JOB_ID_BYTES);
	codec_hex(client, r->client, CHORUS_PK_BYTES);
	codec_hex(worker, r->worker, CHORUS_PK_BYTES);
	codec_hex(hash, r->result_hash, JOBMSG_HASH_BYTES);
	sb_init(&sb, out, cap);
	sb_printf(&sb,
	          "{\"v\":1,\"job\":\"%s\",\"client\":\"%s\",\"worker\":\"%s\",\"kind\":\"%s\","
	          "\"status\":\"%s\",\"result_hash\":\"%s\",\"result_size\":%zu,\"duration_ms\":%llu}",
	          job, client, worker, r->kind, r->status, hash, r->result_size,
	          (unsigned long long)r->duration_ms);
	if (sb.overflow || sb.len > JOBMSG_TEXT_MAX)
		return CORE_ERR_OVERSIZE;
	return (int)sb.len;
}

static int jobmsg_receipt_fields(const cJSON *o, void *out)
{
	struct jreceipt *r = out;
	uint64_t v, size;

	if (codec_json_u64(o, "v", 1000, &v) < 0 || v != 1 ||
	    jobmsg_json_hex(o, "job", r->id, CHORUS_JOB_ID_BYTES) < 0 ||
	    codec_json_pk(o, "client", r->client) < 0 || codec_json_pk(o, "worker", r->worker) < 0 ||
	    jobmsg_json_name(o, "kind", r->kind, CHORUS_KIND_MAX) < 0 ||
	    jobmsg_json_name(o, "status", r->status, sizeof(r->status) - 1) < 0 ||
	    !jobmsg_valid_status(r->status, 1) ||
	    jobmsg_json_hex(o, "result_hash", r->result_hash, JOBMSG_HASH_BYTES) < 0 ||
	    codec_json_u64(o, "result_size", CHORUS_RESULT_MAX, &size) < 0 ||
	    codec_json_u64(o, "duration_ms", CODEC_JSON_INT_MAX, &r->duration_ms) < 0)
		return CORE_ERR_MALFORMED;
	r->result_size = (size_t)size;
	return 0;
}

int jobmsg_receipt_decode_json(struct jreceipt *r, const char *text, size_t len)
{
	return jobmsg_decode(text, len, jobmsg_receipt_fields, r, sizeof(*r));
}

int jobmsg_receipt_decode(struct jreceipt *r, const char *text, size_t len)
{
	if (len > 0 && len <= JOBMSG_TEXT_MAX && canon_receipt(r, text, len) == 0)
		return 0;
	return jobmsg_receipt_decode_json(r, text, len);
}

/* ---------------------------------------------------------------- ack */

int jobmsg_ack_encode(char *out, size_t cap, const struct jack *a)
{
	char job[CHORUS_JOB_ID_HEX + 1], client[CHORUS_ID_HEX + 1], worker[CHORUS_ID_HEX + 1] = "";
	char hash[2 * JOBMSG_HASH_BYTES + 1] = "", receipt[2 * JOBMSG_HASH_BYTES + 1] = "";
	struct sb sb;

	if (!codec_valid_name(a->kind, CHORUS_KIND_MAX) || !jobmsg_valid_status(a->status, 0) ||
	    a->seq > CODEC_JSON_INT_MAX || a->floor > a->seq)
		return CORE_ERR_INVAL;
	codec_hex(job, a->id, CHORUS_JOB_ID_BYTES);
	codec_hex(client, a->client, CHORUS_PK_BYTES);
	if (a->has_worker) {
		codec_hex(worker, a->worker, CHORUS_PK_BYTES);
		codec_hex(hash, a->result_hash, JOBMSG_HASH_BYTES);
		codec_hex(receipt, a->receipt_hash, JOBMSG_HASH_BYTES);
	}
	sb_init(&sb, out, cap);
	sb_printf(&sb,
	          "{\"v\":" JOBMSG_ACK_V ",\"job\":\"%s\",\"nonce\":\"%016llx\",\"client\":\"%s\","
	          "\"seq\":%llu,\"floor\":%llu,\"worker\":\"%s\",\"kind\":\"%s\",\"status\":\"%s\","
	          "\"result_hash\":\"%s\",\"attempts\":%u,\"reward\":%llu,\"receipt\":\"%s\"}",
	          job, (unsigned long long)a->nonce, client, (unsigned long long)a->seq,
	          (unsigned long long)a->floor, worker, a->kind, a->status, hash, a->attempts,
	          (unsigned long long)a->reward, receipt);
	if (sb.overflow || sb.len > JOBMSG_TEXT_MAX)
		return CORE_ERR_OVERSIZE;
	return (int)sb.len;
}

static int jobmsg_ack_worker(const cJSON *o, struct jack *a)
{
	const char *w;

	if (codec_json_str(o, "worker", CHORUS_ID_HEX, &w) < 0)
		return CORE_ERR_MALFORMED;
	a->has_worker = w[0] != '\0';
	if (!a->has_worker) /* nobody ran it: no result and no receipt either */
		return codec_json_str(o, "result_hash", 0, &w) == 0 &&
		               codec_json_str(o, "receipt", 0, &w) == 0
		           ? 0
		           : CORE_ERR_MALFORMED;
	if (codec_unhex(a->worker, CHORUS_PK_BYTES, w) < 0 ||
	    jobmsg_json_hex(o, "result_hash", a->result_hash, JOBMSG_HASH_BYTES) < 0 ||
	    jobmsg_json_hex(o, "receipt", a->receipt_hash, JOBMSG_HASH_BYTES) < 0)
		return CORE_ERR_MALFORMED;
	return 0;
}

static int jobmsg_ack_fields(const cJSON *o, void *out)
{
	struct jack *a = out;
	uint64_t v, attempts;

	if (codec_json_u64(o, "v", 1000, &v) < 0 || v != JOBMSG_ACK_VERSION ||
	    jobmsg_json_hex(o, "job", a->id, CHORUS_JOB_ID_BYTES) < 0 ||
	    codec_json_pk(o, "client", a->client) < 0 ||
	    jobmsg_nonce_matches(o, a->id, a->client, &a->nonce) < 0 ||
	    codec_json_u64(o, "seq", CODEC_JSON_INT_MAX, &a->seq) < 0 ||
	    codec_json_u64(o, "floor", a->seq, &a->floor) < 0 || jobmsg_ack_worker(o, a) < 0 ||
	    jobmsg_json_name(o, "kind", a->kind, CHORUS_KIND_MAX) < 0 ||
	    jobmsg_json_name(o, "status", a->status, sizeof(a->status) - 1) < 0 ||
	    !jobmsg_valid_status(a->status, 0) ||
	    codec_json_u64(o, "attempts", CHORUS_JOB_ATTEMPTS_MAX, &attempts) < 0 ||
	    codec_json_u64(o, "reward", CODEC_JSON_INT_MAX, &a->reward) < 0)
		return CORE_ERR_MALFORMED;
	a->attempts = (unsigned)attempts;
	/* A success names the worker whose receipt proves it. */
	if (strcmp(a->status, "succeeded") == 0 && !a->has_worker)
		return CORE_ERR_MALFORMED;
	return 0;
}

int jobmsg_ack_decode_json(struct jack *a, const char *text, size_t len)
{
	return jobmsg_decode(text, len, jobmsg_ack_fields, a, sizeof(*a));
}

int jobmsg_ack_decode(struct jack *a, const char *text, size_t len)
{
	if (len > 0 && len <= JOBMSG_TEXT_MAX && canon_ack(a, text, len) == 0)
		return 0;
	return jobmsg_ack_decode_json(a, text, len);
}

/* ---------------------------------------------------------------- signed pair in a body */

int jobmsg_signed_get(const cJSON *body, const char *tkey, const char *skey, const char **text,
                      size_t *len, uint8_t sig[CHORUS_SIG_BYTES])
{
	if (codec_json_str(body, tkey, JOBMSG_TEXT_MAX, text) < 0 ||
	    jobmsg_json_hex(body, skey, sig, CHORUS_SIG_BYTES) < 0)
		return CORE_ERR_MALFORMED;
	*len = strlen(*text);
	return *len > 0 ? 0 : CORE_ERR_MALFORMED;
}

void jobmsg_signed_put(struct sb *sb, const char *tkey, const char *skey, const char *text,
                       size_t len, const uint8_t sig[CHORUS_SIG_BYTES])
{
	char s[2 * CHORUS_SIG_BYTES + 1];

	codec_hex(s, sig, CHORUS_SIG_BYTES);
	sb_printf(sb, "\"%s\":", tkey);
	sb_json_str(sb, text, len);
	sb_printf(sb, ",\"%s\":\"%s\"", skey, s);
}

int jobmsg_auth_get(const cJSON *body, const char *tkey, const char *bkey, const char **text,
                    size_t *len, struct batchsig *auth)
{
	const char *hex;

	if (codec_json_str(body, tkey, JOBMSG_TEXT_MAX, text) < 0 ||
	    codec_json_str(body, bkey, BATCHSIG_HEX_MAX, &hex) < 0 ||
	    batchsig_from_hex(auth, hex, strlen(hex)) < 0)
		return CORE_ERR_MALFORMED;
	*len = strlen(*text);
	return *len > 0 ? 0 : CORE_ERR_MALFORMED;
}

void jobmsg_auth_put(struct sb *sb, const char *tkey, const char *bkey, const char *text,
                     size_t len, const struct batchsig *auth)
{
	char hex[BATCHSIG_HEX_MAX + 1];

	batchsig_to_hex(hex, auth);
	sb_printf(sb, "\"%s\":", tkey);
	sb_json_str(sb, text, len);
	sb_printf(sb, ",\"%s\":\"%s\"", bkey, hex);
}

uint64_t jobmsg_auth_id(const char *text, size_t len)
{
	uint8_t leaf[MERKLE_HASH_BYTES];

	merkle_leaf(leaf, text, len);
	return codec_get_u64(leaf);
}

/* ---------------------------------------------------------------- bytes in JSON */

void jobmsg_b64_put(struct sb *sb, const uint8_t *data, size_t len)
{
	size_t need = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);

	sb_putn(sb, "\"", 1);
	if (need > sb->cap - sb->len) {
		sb->overflow = 1;
		return;
	}
	sodium_bin2base64(sb->buf + sb->len, need, data, len, sodium_base64_VARIANT_ORIGINAL);
	sb->len += need - 1; /* without its NUL */
	sb_putn(sb, "\"", 1);
}

int jobmsg_b64_get(const cJSON *obj, const char *key, uint8_t *out, size_t max, size_t *len)
{
	const char *s;

	if (codec_json_str(obj, key, (max + 2) / 3 * 4, &s) < 0)
		return CORE_ERR_MALFORMED;
	if (sodium_base642bin(out, max, s, strlen(s), NULL, len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return CORE_ERR_MALFORMED;
	return 0;
}

/* ---------------------------------------------------------------- live output */

int jobmsg_output_encode(struct sb *sb, const struct joutput *o)
{
	char job[CHORUS_JOB_ID_HEX + 1];

	assert(o->stream <= 1 && o->len <= CHORUS_OUTPUT_CHUNK_MAX);
	assert(o->off + o->len <= CHORUS_OUTPUT_JOB_MAX && (!o->has_end || o->end >= o->off + o->len));
	codec_hex(job, o->id, CHORUS_JOB_ID_BYTES);
	sb_printf(sb, "{\"job\":\"%s\",\"a\":%u,\"s\":%u,\"off\":%llu,\"d\":", job, o->attempt,
	          o->stream, (unsigned long long)o->off);
	jobmsg_b64_put(sb, o->data, o->len);
	if (o->has_end)
		sb_printf(sb, ",\"end\":%llu", (unsigned long long)o->end);
	sb_puts(sb, "}");
	return sb->overflow ? CORE_ERR_OVERSIZE : 0;
}

/* Every field checked against its bound: a chunk that passes lies inside its stream's bound. */
int jobmsg_output_decode(struct joutput *o, const cJSON *body, uint8_t *buf)
{
	uint64_t a, s, off, end = 0;
	const char *job;
	size_t len = 0;

	memset(o, 0, sizeof(*o));
	if (codec_json_str(body, "job", CHORUS_JOB_ID_HEX, &job) < 0 ||
	    codec_unhex(o->id, CHORUS_JOB_ID_BYTES, job) < 0 ||
	    codec_json_u64(body, "a", CHORUS_JOB_ATTEMPTS_MAX, &a) < 0 || a == 0 ||
	    codec_json_u64(body, "s", 1, &s) < 0 ||
	    codec_json_u64(body, "off", CHORUS_OUTPUT_JOB_MAX, &off) < 0 ||
	    jobmsg_b64_get(body, "d", buf, CHORUS_OUTPUT_CHUNK_MAX, &len) < 0 ||
	    off + len > CHORUS_OUTPUT_JOB_MAX)
		return CORE_ERR_MALFORMED;
	o->has_end = cJSON_GetObjectItemCaseSensitive(body, "end") != NULL;
	if (o->has_end && (codec_json_u64(body, "end", CODEC_JSON_INT_MAX - 1, &end) < 0 ||
	                   end < off + len))
		return CORE_ERR_MALFORMED;
	if (len == 0 && !o->has_end)
		return CORE_ERR_MALFORMED; /* an empty chunk says nothing unless it ends the stream */
	o->attempt = (unsigned)a;
	o->stream = (unsigned)s;
	o->off = off;
	o->data = buf;
	o->len = len;
	o->end = end;
	assert(o->len <= CHORUS_OUTPUT_CHUNK_MAX && o->off + o->len <= CHORUS_OUTPUT_JOB_MAX);
	return 0;
}

/* ---------------------------------------------------------------- the status pair */

/*
 * A client that restarted asks the worker of a job's last recorded attempt
 * what became of it before it offers the job to anyone else:
 *
 *   query   {"job":ID,"nonce":"16 hex","a":ATTEMPT}        client -> worker
 *   answer  {"job":ID,"a":ATTEMPT,"st":"running"|"unknown"} worker -> client
 *
 * (a worker that has the outcome answers with its stored receipt frame
 * instead).  Both travel in MAC'd frames, so the sender is known; the nonce
 * lets the worker check the asker is the job's client (id = BLAKE2b-128 of
 * its key and the nonce): an answer of "unknown" makes the worker refuse
 * the earlier attempts for good, which nobody else may cause.
 */
static const char *jobmsg_status_name(enum jstatus_kind k)
{
	return k == JSTATUS_RUNNING ? "running" : "unknown";
}

int jobmsg_status_encode(char *out, size_t cap, const struct jstatus *s)
{
	char job[CHORUS_JOB_ID_HEX + 1];
	int n;

	assert(s->attempt >= 1 && s->attempt <= CHORUS_JOB_ATTEMPTS_MAX);
	codec_hex(job, s->id, CHORUS_JOB_ID_BYTES);
	if (s->kind == JSTATUS_QUERY)
		n = snprintf(out, cap, "{\"job\":\"%s\",\"nonce\":\"%016llx\",\"a\":%u}", job,
		             (unsigned long long)s->nonce, s->attempt);
	else
		n = snprintf(out, cap, "{\"job\":\"%s\",\"a\":%u,\"st\":\"%s\"}", job, s->attempt,
		             jobmsg_status_name(s->kind));
	return n > 0 && (size_t)n < cap ? n : CORE_ERR_OVERSIZE;
}

/*
 * A query (kind JSTATUS_QUERY: the nonce must give the id with the sender's
 * key `from`) or an answer (any other kind asked: st decides it).  0 or
 * CORE_ERR_MALFORMED; CORE_ERR_BADSIG for a query whose nonce is not the
 * sender's for that id.
 */
int jobmsg_status_decode(struct jstatus *s, const cJSON *body, int query,
                         const uint8_t from[CHORUS_PK_BYTES])
{
	const char *job, *v;
	uint64_t a;
	uint8_t raw[8], want[CHORUS_JOB_ID_BYTES];

	memset(s, 0, sizeof(*s));
	if (codec_json_str(body, "job", CHORUS_JOB_ID_HEX, &job) < 0 ||
	    codec_unhex(s->id, CHORUS_JOB_ID_BYTES, job) < 0 ||
	    codec_json_u64(body, "a", CHORUS_JOB_ATTEMPTS_MAX, &a) < 0 || a == 0)
		return CORE_ERR_MALFORMED;
	s->attempt = (unsigned)a;
	if (!query) {
		if (codec_json_str(body, "st", 16, &v) < 0)
			return CORE_ERR_MALFORMED;
		if (strcmp(v, "running") == 0)
			s->kind = JSTATUS_RUNNING;
		else if (strcmp(v, "unknown") == 0)
			s->kind = JSTATUS_UNKNOWN;
		else
			return CORE_ERR_MALFORMED;
		return 0;
	}
	if (codec_json_str(body, "nonce", 16, &v) < 0 || strlen(v) != 16 ||
	    codec_unhex(raw, sizeof(raw), v) < 0)
		return CORE_ERR_MALFORMED;
	s->kind = JSTATUS_QUERY;
	s->nonce = codec_get_u64(raw);
	jobmsg_job_id(want, from, s->nonce);
	return memcmp(want, s->id, CHORUS_JOB_ID_BYTES) == 0 ? 0 : CORE_ERR_BADSIG;
}

/* ---------------------------------------------------------------- the queue's frames */

/*
 * The four queue frames share one small body (docs/dispatch.md, "The
 * queue"): the kind always; a reservation answer the worker's load,
 * capacity, the jobs of others waiting there and, when it answers a
 * request, the job; a client's reservation ask ("ask":1) how many of its
 * jobs of the kind wait; a pull (slot) the worker's load and capacity.
 * Addresses are those of the members' records: none travel here.
 */
int jobmsg_queue_encode(char *out, size_t cap, const struct jqueue *q)
{
	char job[CHORUS_JOB_ID_HEX + 1];
	struct sb sb;

	sb_init(&sb, out, cap);
	sb_puts(&sb, "{\"kind\":");
	sb_json_str(&sb, q->kind, strlen(q->kind));
	if (q->ask)
		sb_printf(&sb, ",\"ask\":1,\"n\":%u", q->n);
	if (q->has_job) {
		codec_hex(job, q->id, CHORUS_JOB_ID_BYTES);
		sb_printf(&sb, ",\"job\":\"%s\"", job);
	}
	if (q->has_load)
		sb_printf(&sb, ",\"load\":%u,\"cap\":%u,\"ahead\":%u", q->load, q->cap, q->ahead);
	sb_puts(&sb, "}");
	if (sb.overflow || sb.len >= cap)
		return CORE_ERR_OVERSIZE;
	out[sb.len] = '\0';
	return (int)sb.len;
}

/* 0, or CORE_ERR_MALFORMED: a bad kind, id or number, or one out of its bound. */
int jobmsg_queue_decode(struct jqueue *q, const cJSON *body)
{
	const char *kind, *job;
	uint64_t v;

	memset(q, 0, sizeof(*q));
	if (codec_json_str(body, "kind", CHORUS_KIND_MAX, &kind) < 0 ||
	    !codec_valid_name(kind, CHORUS_KIND_MAX))
		return CORE_ERR_MALFORMED;
	strcpy(q->kind, kind);
	if (cJSON_GetObjectItemCaseSensitive(body, "ask") != NULL) {
		if (codec_json_u64(body, "ask", 1, &v) < 0 || v != 1 ||
		    codec_json_u64(body, "n", CHORUS_JOBS_INFLIGHT_MAX, &v) < 0)
			return CORE_ERR_MALFORMED;
		q->ask = 1;
		q->n = (uint32_t)v;
	}
	if (cJSON_GetObjectItemCaseSensitive(body, "job") != NULL) {
		if (codec_json_str(body, "job", CHORUS_JOB_ID_HEX, &job) < 0 ||
		    codec_unhex(q->id, CHORUS_JOB_ID_BYTES, job) < 0)
			return CORE_ERR_MALFORMED;
		q->has_job = 1;
	}
	if (cJSON_GetObjectItemCaseSensitive(body, "load") != NULL) {
		if (codec_json_u64(body, "load", UINT32_MAX, &v) < 0)
			return CORE_ERR_MALFORMED;
		q->load = (uint32_t)v;
		if (codec_json_u64(body, "cap", UINT32_MAX, &v) < 0)
			return CORE_ERR_MALFORMED;
		q->cap = (uint32_t)v;
		if (codec_json_u64(body, "ahead", UINT32_MAX, &v) < 0)
			return CORE_ERR_MALFORMED;
		q->ahead = (uint32_t)v;
		q->has_load = 1;
	}
	return 0;
}

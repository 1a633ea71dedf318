/*
 * The signed job messages (jobmsg.c): requests, receipts, acks and the
 * small frames of dispatch, the queue and live output.  Dispatch sends
 * them; the ledger checks receipts and acks: this is all it sees of dispatch.
 */
#ifndef CHORUS_CORE_JOBMSG_H
#define CHORUS_CORE_JOBMSG_H

#include "base/base.h"
#include "chorus/batchsig.h"

/* ---------------------------------------------------------------- jobmsg.c */
#define JOBMSG_HASH_BYTES 32   /* BLAKE2b-256 of payloads, results and receipts */
#define JOBMSG_TEXT_MAX   1024 /* one signed request, receipt or ack text */
/* The ack's "v": 2 added seq and floor (the ledger's window, docs/ledger.md). */
#define JOBMSG_ACK_VERSION 2
#define JOBMSG_ACK_V       "2"
struct jreq {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint64_t nonce;
	uint8_t client[CHORUS_PK_BYTES];
	uint64_t gen;                   /* the client's start time */
	char addr[CHORUS_ADDR_MAX + 1]; /* where offers and receipts go */
	char kind[CHORUS_KIND_MAX + 1];
	size_t size;
	uint8_t hash[JOBMSG_HASH_BYTES]; /* of the payload */
	uint32_t timeout_ms;
	uint64_t reward;
	uint64_t created_ms;
	unsigned round;
	/* The constraint (submit --where): "where":["KEY=VALUE",...], absent when empty. */
	struct chorus_tag where[CHORUS_NODE_TAGS_MAX];
	unsigned nwhere;
};
struct jreceipt {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint8_t client[CHORUS_PK_BYTES];
	uint8_t worker[CHORUS_PK_BYTES];
	char kind[CHORUS_KIND_MAX + 1];
	char status[12]; /* ok, failed, timeout, cancelled */
	uint8_t result_hash[JOBMSG_HASH_BYTES];
	size_t result_size;
	uint64_t duration_ms;
};
struct jack {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint64_t nonce; /* id = BLAKE2b-128(client || nonce): the ledger can check whose job it is */
	uint8_t client[CHORUS_PK_BYTES];
	uint64_t seq;   /* grows with every ack of this client, across its restarts */
	uint64_t floor; /* <= seq: the client's acks below it were all settled when it signed */
	int has_worker;
	uint8_t worker[CHORUS_PK_BYTES];
	char kind[CHORUS_KIND_MAX + 1];
	char status[12]; /* succeeded, failed, cancelled */
	uint8_t result_hash[JOBMSG_HASH_BYTES];
	unsigned attempts;
	uint64_t reward;
	uint8_t receipt_hash[JOBMSG_HASH_BYTES];
};
void jobmsg_job_id(uint8_t id[CHORUS_JOB_ID_BYTES], const uint8_t client[CHORUS_PK_BYTES],
                   uint64_t nonce);
void jobmsg_hash(uint8_t out[JOBMSG_HASH_BYTES], const void *data, size_t len);
int jobmsg_request_encode(char *out, size_t cap, const struct jreq *r);
int jobmsg_request_decode(struct jreq *r, const char *text, size_t len);
int jobmsg_receipt_encode(char *out, size_t cap, const struct jreceipt *r);
int jobmsg_receipt_decode(struct jreceipt *r, const char *text, size_t len);
int jobmsg_ack_encode(char *out, size_t cap, const struct jack *a);
int jobmsg_ack_decode(struct jack *a, const char *text, size_t len);
/* The general JSON path alone (the decoders above try a canonical fast path first): tests. */
int jobmsg_request_decode_json(struct jreq *r, const char *text, size_t len);
int jobmsg_ack_decode_json(struct jack *a, const char *text, size_t len);
int jobmsg_receipt_decode_json(struct jreceipt *r, const char *text, size_t len);
/* A signed text in a body: "tkey":"<text>","skey":"<signature hex>". */
int jobmsg_signed_get(const cJSON *body, const char *tkey, const char *skey, const char **text,
                      size_t *len, uint8_t sig[CHORUS_SIG_BYTES]);
void jobmsg_signed_put(struct sb *sb, const char *tkey, const char *skey, const char *text,
                       size_t len, const uint8_t sig[CHORUS_SIG_BYTES]);
/* The status pair: a restarted client asks the worker of a job's last attempt. */
enum jstatus_kind {
	JSTATUS_QUERY = 0,
	JSTATUS_RUNNING = 1, /* answer: it runs here (in this process) */
	JSTATUS_UNKNOWN = 2, /* answer: never had it, and now refuses attempts up to this one */
};
struct jstatus {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	uint64_t nonce;   /* query only: proves the asker is the job's client */
	unsigned attempt; /* 1..CHORUS_JOB_ATTEMPTS_MAX */
	enum jstatus_kind kind;
};
#define JOBMSG_STATUS_MAX 128 /* either body, encoded */
int jobmsg_status_encode(char *out, size_t cap, const struct jstatus *s);
int jobmsg_status_decode(struct jstatus *s, const cJSON *body, int query,
                         const uint8_t from[CHORUS_PK_BYTES]);
/* The queue's frames (reserve, slot, unreserve, slot-none): one body, see jobmsg.c. */
struct jqueue {
	char kind[CHORUS_KIND_MAX + 1];
	int ask;          /* a client's reservation ask: n of its jobs wait */
	uint32_t n;
	int has_job;      /* a worker's answer to this job's request */
	uint8_t id[CHORUS_JOB_ID_BYTES];
	int has_load;     /* a worker's answer or pull: its load, capacity, others waiting */
	uint32_t load, cap, ahead;
};
#define JOBMSG_QUEUE_MAX 192 /* one encoded body */
int jobmsg_queue_encode(char *out, size_t cap, const struct jqueue *q);
int jobmsg_queue_decode(struct jqueue *q, const cJSON *body);
/*
 * A chunk of live output (WIRE_OUTPUT, worker -> client):
 *   {"job":ID,"a":ATTEMPT,"s":0|1,"off":N,"d":"<base64>"[,"end":N]}
 * s: 0 stdout, 1 stderr; off: the stream position of the first byte; end
 * (the last chunk of a stream, once the job ended): all the bytes the job
 * wrote to it, sent or not.  Checked: off + len <= CHORUS_OUTPUT_JOB_MAX,
 * len <= CHORUS_OUTPUT_CHUNK_MAX, end >= off + len; only the last may be empty.
 */
struct joutput {
	uint8_t id[CHORUS_JOB_ID_BYTES];
	unsigned attempt; /* 1..CHORUS_JOB_ATTEMPTS_MAX */
	unsigned stream;  /* 0 stdout, 1 stderr */
	uint64_t off;
	const uint8_t *data;
	size_t len;
	int has_end;
	uint64_t end;
};
int jobmsg_output_encode(struct sb *sb, const struct joutput *o);
/* Bytes land in buf (CHORUS_OUTPUT_CHUNK_MAX); 0 or CORE_ERR_MALFORMED. */
int jobmsg_output_decode(struct joutput *o, const cJSON *body, uint8_t *buf);
/* Bytes as a quoted base64 string, and back (at most max bytes). */
void jobmsg_b64_put(struct sb *sb, const uint8_t *data, size_t len);
int jobmsg_b64_get(const cJSON *obj, const char *key, uint8_t *out, size_t max, size_t *len);

/* ---------------------------------------------------------------- batch-signed texts */
/* A batch-signed text in a body: "tkey":"<text>","bkey":"<batchsig hex>" (batchsig.h). */
int jobmsg_auth_get(const cJSON *body, const char *tkey, const char *bkey, const char **text,
                    size_t *len, struct batchsig *auth);
void jobmsg_auth_put(struct sb *sb, const char *tkey, const char *bkey, const char *text,
                     size_t len, const struct batchsig *auth);
/* A batch-signed text's id for the seen set: its Merkle leaf's first bytes (a batch shares one signature). */
uint64_t jobmsg_auth_id(const char *text, size_t len);

#endif

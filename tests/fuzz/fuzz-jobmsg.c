/*
 * fuzz-jobmsg: the signed job texts every node decodes per job: the work
 * request (broadcast, and in a dispatch), the worker's receipt and the
 * client's completion ack (broadcast, and in every ledger entry); and the
 * queue's frame body (byte 0 == 3 mod 5).  Byte 0 picks the decoder, the
 * rest is the text.
 *
 * Each decoder tries a canonical fast path before the general JSON path.
 * Must hold: the two agree on every input (both refuse, or both accept and
 * fill the same struct; as tests/unit/test-dispatch checks on mutations of
 * encoded texts); and an accepted text re-encodes to one that decodes to the
 * same struct, within JOBMSG_TEXT_MAX.
 *
 * Byte 0 = 4 (mod 5) picks the live-output chunk (WIRE_OUTPUT's body, a JSON object
 * decoded by jobmsg_output_decode): an accepted chunk lies within its
 * bounds, and re-encodes to a body that decodes to the same fields and bytes.
 */
#include <string.h>

#include "core-internal.h"
#include "dispatch/jobmsg.h"
#include "fuzz.h"

union fuzz_jobmsg {
	struct jreq r;
	struct jreceipt c;
	struct jack a;
	struct jqueue q;
};

/*
 * Byte 0 == 3: the queue's frame body (reserve, slot, unreserve, slot-none;
 * jobmsg_queue_decode).  Must hold: what decodes re-encodes within
 * JOBMSG_QUEUE_MAX and decodes to the same fields.
 */
static int fuzz_jobmsg_queue(const char *t, size_t n)
{
	static char text[JOBMSG_QUEUE_MAX];
	struct jqueue q, again;
	cJSON *o = cJSON_ParseWithLength(t, n);
	int rc, len;

	if (o == NULL)
		return 0;
	memset(&q, 0x5a, sizeof q);
	rc = jobmsg_queue_decode(&q, o);
	cJSON_Delete(o);
	if (rc != 0)
		return 0;
	len = jobmsg_queue_encode(text, sizeof text, &q);
	FUZZ_ASSERT(len > 0, "an accepted queue body re-encodes within the bound");
	o = cJSON_ParseWithLength(text, (size_t)len);
	FUZZ_ASSERT(o != NULL, "the re-encoded queue body is JSON");
	memset(&again, 0x33, sizeof again);
	rc = jobmsg_queue_decode(&again, o);
	cJSON_Delete(o);
	FUZZ_ASSERT(rc == 0 && memcmp(&again, &q, sizeof q) == 0,
		    "decode, encode, decode gives the same queue body");
	return 0;
}

static int fuzz_jobmsg_decode(int which, int fast, union fuzz_jobmsg *o, const char *t, size_t n)
{
	switch (which) {
	case 0:
		return fast ? jobmsg_request_decode(&o->r, t, n) :
			      jobmsg_request_decode_json(&o->r, t, n);
	case 1:
		return fast ? jobmsg_receipt_decode(&o->c, t, n) :
			      jobmsg_receipt_decode_json(&o->c, t, n);
	default:
		return fast ? jobmsg_ack_decode(&o->a, t, n) : jobmsg_ack_decode_json(&o->a, t, n);
	}
}

static int fuzz_jobmsg_encode(int which, const union fuzz_jobmsg *o, char *out, size_t cap)
{
	switch (which) {
	case 0:
		return jobmsg_request_encode(out, cap, &o->r);
	case 1:
		return jobmsg_receipt_encode(out, cap, &o->c);
	default:
		return jobmsg_ack_encode(out, cap, &o->a);
	}
}

static size_t fuzz_jobmsg_size(int which)
{
	return which == 0 ? sizeof(struct jreq) :
	       which == 1 ? sizeof(struct jreceipt) :
			    sizeof(struct jack);
}

/* The chunk decoder: bounds hold for what it accepts; decode, encode, decode is stable. */
static int fuzz_jobmsg_output(const char *t, size_t n)
{
	static uint8_t buf[CHORUS_OUTPUT_CHUNK_MAX], again_buf[CHORUS_OUTPUT_CHUNK_MAX];
	static char out[CHORUS_BODY_MAX];
	struct joutput o, again;
	cJSON *body = cJSON_ParseWithLength(t, n), *body2;
	struct sb sb;
	int rc;

	rc = body != NULL ? jobmsg_output_decode(&o, body, buf) : CORE_ERR_MALFORMED;
	cJSON_Delete(body);
	if (rc != 0)
		return 0;
	FUZZ_ASSERT(o.attempt >= 1 && o.attempt <= CHORUS_JOB_ATTEMPTS_MAX && o.stream <= 1 &&
			    o.len <= CHORUS_OUTPUT_CHUNK_MAX && o.off + o.len <= CHORUS_OUTPUT_JOB_MAX &&
			    (o.len > 0 || o.has_end) && (!o.has_end || o.end >= o.off + o.len),
		    "an accepted chunk lies within its bounds");
	sb_init(&sb, out, sizeof out);
	FUZZ_ASSERT(jobmsg_output_encode(&sb, &o) == 0, "an accepted chunk re-encodes");
	body2 = cJSON_ParseWithLength(sb.buf, sb.len);
	rc = body2 != NULL ? jobmsg_output_decode(&again, body2, again_buf) : CORE_ERR_MALFORMED;
	cJSON_Delete(body2);
	FUZZ_ASSERT(rc == 0 && memcmp(again.id, o.id, CHORUS_JOB_ID_BYTES) == 0 &&
			    again.attempt == o.attempt && again.stream == o.stream &&
			    again.off == o.off && again.len == o.len && again.has_end == o.has_end &&
			    again.end == o.end && memcmp(again_buf, buf, o.len) == 0,
		    "decode, encode, decode gives the same chunk");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static union fuzz_jobmsg fast, json, again;
	static char text[2 * JOBMSG_TEXT_MAX];
	const char *t = (const char *)data + 1;
	int which, rf, rj, n;

	if (size < 1)
		return 0;
	if (data[0] % 5 == 3)
		return fuzz_jobmsg_queue(t, size - 1);
	if (data[0] % 5 == 4)
		return fuzz_jobmsg_output(t, size - 1);
	which = data[0] % 5;
	memset(&fast, 0x5a, sizeof fast);
	memset(&json, 0xa5, sizeof json);
	rf = fuzz_jobmsg_decode(which, 1, &fast, t, size - 1);
	rj = fuzz_jobmsg_decode(which, 0, &json, t, size - 1);
	FUZZ_ASSERT((rf == 0) == (rj == 0),
		    "the fast path and the JSON path accept the same texts");
	if (rf != 0)
		return 0;
	FUZZ_ASSERT(memcmp(&fast, &json, fuzz_jobmsg_size(which)) == 0,
		    "the fast path and the JSON path fill the same fields");
	n = fuzz_jobmsg_encode(which, &fast, text, sizeof text);
	/* Canonical numbers may be longer than the input's ("1e3"): only the bound may refuse. */
	FUZZ_ASSERT((n > 0 && n <= JOBMSG_TEXT_MAX) || n == CORE_ERR_OVERSIZE,
		    "an accepted text re-encodes within the bound");
	if (n < 0)
		return 0;
	memset(&again, 0x33, sizeof again);
	FUZZ_ASSERT(fuzz_jobmsg_decode(which, 1, &again, text, (size_t)n) == 0 &&
			    memcmp(&again, &fast, fuzz_jobmsg_size(which)) == 0,
		    "decode, encode, decode gives the same message");
	return 0;
}

/*
 * api-body: request bodies of the HTTP API (see api-body.h).  Pure: text in,
 * a checked struct or a reason out; no evhttp, no node state.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "api-body.h"

/* A whole number in 0..max, or -1 (absent: dflt). */
static double api_body_whole(const cJSON *body, const char *key, double max, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);

	if (v == NULL)
		return dflt;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return -1;
	return v->valuedouble;
}

/* The queue's fields: "priority" (0..9, default 0) and "queue_timeout_s" (default: the node's). */
static const char *api_body_job_queue(const cJSON *body, struct job_spec *spec)
{
	double priority = api_body_whole(body, "priority", CHORUS_PRIORITY_MAX, 0);
	double queue_s = api_body_whole(body, "queue_timeout_s", CHORUS_QUEUE_TIMEOUT_MS_MAX / 1000, 0);

	if (priority < 0)
		return "priority must be a whole number 0..9 (higher runs first)";
	if (queue_s < 0 ||
	    (queue_s == 0 && cJSON_GetObjectItemCaseSensitive(body, "queue_timeout_s") != NULL))
		return "queue_timeout_s must be a whole number of seconds 1..86400";
	spec->priority = (uint8_t)priority;
	spec->queue_timeout_ms = (uint32_t)queue_s * 1000u; /* 0: the node's default */
	return NULL;
}

/* "where":{"KEY":"VALUE",...}: the job's constraint (submit --where); NULL or what is wrong. */
static const char *api_body_where(const cJSON *where, struct job_spec *spec)
{
	const cJSON *it;
	char pair[CHORUS_TAG_TEXT_MAX + 2];

	spec->nwhere = 0;
	if (where == NULL)
		return NULL;
	if (!cJSON_IsObject(where))
		return "where must be an object of KEY: VALUE strings";
	cJSON_ArrayForEach(it, where)
	{
		int n;

		if (spec->nwhere >= CHORUS_NODE_TAGS_MAX)
			return "where has at most 8 pairs";
		n = cJSON_IsString(it) ? snprintf(pair, sizeof pair, "%s=%s", it->string, it->valuestring) : -1;
		if (n < 0 || (size_t)n >= sizeof pair ||
		    core_tag_parse(&spec->where[spec->nwhere], pair, (size_t)n) != 0)
			return "where: keys 1..15 and values 1..23 of A-Z a-z 0-9 . _ -";
		for (unsigned k = 0; k < spec->nwhere; k++)
			if (strcmp(spec->where[k].key, spec->where[spec->nwhere].key) == 0)
				return "where names a key twice";
		spec->nwhere++;
	}
	return NULL;
}

/* The spec part of a POST /v1/jobs body; NULL or what is wrong. */
static const char *api_body_job_spec(const cJSON *body, struct job_spec *spec, uint8_t *payload)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(body, "kind");
	const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(body, "payload_b64");
	const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(body, "timeout_ms");
	const cJSON *reward = cJSON_GetObjectItemCaseSensitive(body, "reward");

	memset(spec, 0, sizeof *spec);
	if (!cJSON_IsString(kind) || strlen(kind->valuestring) > CHORUS_KIND_MAX ||
	    strspn(kind->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	        strlen(kind->valuestring) || kind->valuestring[0] == '\0')
		return "kind must be 1..31 of A-Z a-z 0-9 . _ -";
	snprintf(spec->kind, sizeof spec->kind, "%s", kind->valuestring);
	if (b64 != NULL && !cJSON_IsString(b64))
		return "payload_b64 must be a base64 string";
	if (b64 != NULL && sodium_base642bin(payload, CHORUS_PAYLOAD_MAX, b64->valuestring,
	                                     strlen(b64->valuestring), NULL, &spec->payload_len,
	                                     NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return "payload_b64 is not base64, or the payload is over 32768 bytes";
	spec->payload = payload;
	if (timeout != NULL && (!cJSON_IsNumber(timeout) || timeout->valuedouble < 1 ||
	                        timeout->valuedouble > CHORUS_JOB_TIMEOUT_MS_MAX))
		return "timeout_ms must be 1..86400000";
	spec->timeout_ms = timeout != NULL ? (uint32_t)timeout->valuedouble : 0;
	if (reward != NULL && (!cJSON_IsNumber(reward) || reward->valuedouble < 0 ||
	                       reward->valuedouble > (double)CHORUS_LEDGER_REWARD_MAX ||
	                       reward->valuedouble != (double)(uint64_t)reward->valuedouble))
		return "reward must be a whole number 0..1000000 (the ledger pays no more)";
	spec->reward = reward != NULL ? (uint64_t)reward->valuedouble : 0;
	const char *why = api_body_job_queue(body, spec);

	return why != NULL ? why : api_body_where(cJSON_GetObjectItemCaseSensitive(body, "where"), spec);
}

const char *api_body_job(const char *text, size_t len, struct job_spec *spec, uint8_t *payload)
{
	cJSON *body = cJSON_ParseWithLength(text, len);
	const char *why;

	memset(spec, 0, sizeof *spec);
	if (body == NULL || !cJSON_IsObject(body)) {
		cJSON_Delete(body);
		return "the body must be a JSON object";
	}
	why = api_body_job_spec(body, spec, payload);
	cJSON_Delete(body);
	return why;
}

static int api_body_text(const cJSON *body, const char *key, char *out, uint16_t *len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
	size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;

	if (n == 0 || n > CHORUS_LEDGER_TEXT_MAX)
		return -1;
	memcpy(out, v->valuestring, n + 1);
	*len = (uint16_t)n;
	return 0;
}

/* A batch authenticator as lowercase hex (batchsig.h): 0 or -1. */
static int api_body_auth(const cJSON *body, const char *key, struct batchsig *auth)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);

	return cJSON_IsString(v) && strlen(v->valuestring) <= BATCHSIG_HEX_MAX &&
	               batchsig_from_hex(auth, v->valuestring, strlen(v->valuestring)) == 0
	           ? 0
	           : -1;
}

int api_body_ack(const char *text, size_t len, struct ledger_entry *e)
{
	cJSON *body = cJSON_ParseWithLength(text, len);
	int ok;

	memset(e, 0, sizeof *e);
	ok = api_body_text(body, "ack", e->ack_text, &e->ack_len) == 0 &&
	     api_body_text(body, "receipt", e->receipt_text, &e->receipt_len) == 0 &&
	     api_body_auth(body, "ack_auth", &e->ack_auth) == 0 &&
	     api_body_auth(body, "receipt_auth", &e->receipt_auth) == 0;
	cJSON_Delete(body);
	return ok ? 0 : -EINVAL;
}

int api_body_voter(const char *text, size_t len, char id[CHORUS_ID_HEX + 1])
{
	cJSON *body = cJSON_ParseWithLength(text, len);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "id");
	int rc = -EINVAL;

	id[0] = '\0';
	if (cJSON_IsString(v) && strlen(v->valuestring) <= CHORUS_ID_HEX) {
		memcpy(id, v->valuestring, strlen(v->valuestring) + 1);
		rc = 0;
	}
	cJSON_Delete(body);
	return rc;
}

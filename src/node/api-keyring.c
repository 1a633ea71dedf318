/*
 * api-keyring: /v1/keyring, the network keys (chorus keyring, chorusd(8)).
 *
 *   GET  /v1/keyring   the keys held here (fingerprints, never the keys) and,
 *                      for each, how many members answered the last
 *                      operation holding it and sealing under it
 *   POST /v1/keyring   {"op":"list|install|use|remove","key":BASE64,
 *                      "wait_ms":N}: the operation, applied here and sent to
 *                      every live member; the answer comes after wait_ms
 *                      (default 1000, at most API_WAIT_MS_MAX) so that the
 *                      members' answers are counted in it
 *
 * No decision is made here: the core applies the operation and counts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <sodium.h>

#include "node.h"

#define API_KEYRING_WAIT_MS 1000

struct api_keyring {
	struct node *node;
	struct api_waits *waits;
};

static cJSON *api_keyring_view(const struct node *node)
{
	struct core_keyring_view v;
	cJSON *obj = cJSON_CreateObject(), *arr;

	core_keyring_view(node->core, &v);
	if (obj == NULL || (arr = cJSON_AddArrayToObject(obj, "keys")) == NULL) {
		cJSON_Delete(obj);
		return NULL;
	}
	cJSON_AddStringToObject(obj, "network_key", core_keyring_open(node->core) ? "open" : "keyring");
	cJSON_AddNumberToObject(obj, "members_alive", v.alive);
	cJSON_AddNumberToObject(obj, "answered", v.answered);
	cJSON_AddNumberToObject(obj, "refused", v.refused);
	for (unsigned i = 0; i < v.n; i++) {
		cJSON *k = cJSON_CreateObject();

		if (k == NULL)
			break;
		cJSON_AddStringToObject(k, "fingerprint", v.keys[i].fp);
		cJSON_AddBoolToObject(k, "primary", v.keys[i].primary);
		cJSON_AddNumberToObject(k, "members", v.keys[i].holders);
		cJSON_AddNumberToObject(k, "primary_for", v.keys[i].primaries);
		cJSON_AddItemToArray(arr, k);
	}
	return obj;
}

static void api_keyring_waited(void *ctx, struct evhttp_request *req, const char *key, int woken,
                               uint64_t value)
{
	struct api_keyring *ak = ctx;
	cJSON *obj = api_keyring_view(ak->node);

	(void)key;
	(void)woken;
	(void)value;
	if (obj == NULL)
		api_reply_error(req, HTTP_INTERNAL, "Internal Server Error", "out of memory");
	else
		api_reply(req, HTTP_OK, "OK", obj);
}

/* The operation and its key from a POST body; NULL, or what is wrong. */
static const char *api_keyring_parse(const cJSON *body, int *op, uint8_t key[CHORUS_NETKEY_BYTES],
                                     unsigned *wait_ms)
{
	static const char *const ops[] = {"list", "install", "use", "remove"};
	const cJSON *opj = cJSON_GetObjectItemCaseSensitive(body, "op");
	const cJSON *keyj = cJSON_GetObjectItemCaseSensitive(body, "key");
	const cJSON *waitj = cJSON_GetObjectItemCaseSensitive(body, "wait_ms");
	size_t got = 0;

	*op = -1;
	for (size_t i = 0; cJSON_IsString(opj) && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(opj->valuestring, ops[i]) == 0)
			*op = (int)i;
	if (*op < 0)
		return "op must be list, install, use or remove";
	_Static_assert(CORE_KEYRING_LIST == 0 && CORE_KEYRING_INSTALL == 1 && CORE_KEYRING_USE == 2 &&
	                   CORE_KEYRING_REMOVE == 3,
	               "ops[] is in enum core_keyring_op's order");
	*wait_ms = API_KEYRING_WAIT_MS;
	if (waitj != NULL) {
		if (!cJSON_IsNumber(waitj) || waitj->valuedouble < 0 ||
		    waitj->valuedouble > API_WAIT_MS_MAX)
			return "wait_ms must be 0..5000";
		*wait_ms = (unsigned)waitj->valuedouble;
	}
	if (*op == CORE_KEYRING_LIST)
		return keyj == NULL ? NULL : "list takes no key";
	if (!cJSON_IsString(keyj) ||
	    sodium_base642bin(key, CHORUS_NETKEY_BYTES, keyj->valuestring, strlen(keyj->valuestring),
	                      NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != CHORUS_NETKEY_BYTES || sodium_is_zero(key, CHORUS_NETKEY_BYTES))
		return "key must be a network key (base64 of 32 bytes, from chorus keygen)";
	return NULL;
}

static void api_keyring_post(struct api_keyring *ak, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	cJSON *body = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len);
	uint8_t key[CHORUS_NETKEY_BYTES];
	const char *why;
	unsigned wait_ms = 0;
	int op = -1, r;

	why = body == NULL ? "body must be a JSON object" : api_keyring_parse(body, &op, key, &wait_ms);
	if (cJSON_IsObject(body)) /* the key's text is in the body: wiped before it goes */
		sodium_memzero(evbuffer_pullup(in, -1), len);
	cJSON_Delete(body);
	if (why != NULL) {
		api_reply_error(req, HTTP_BADREQUEST, "Bad Request", why);
		return;
	}
	r = core_keyring_op(ak->node->core, op, op == CORE_KEYRING_LIST ? NULL : key,
	                    chorusd_now_ms());
	sodium_memzero(key, sizeof(key));
	chorusd_reschedule(ak->node);
	if (r != 0) {
		why = core_keyring_open(ak->node->core) ? "this node runs open (--insecure-open): no keyring"
		      : r == CORE_ERR_FULL               ? "the keyring is full"
		      : op == CORE_KEYRING_USE           ? "that key is not held here: install it first"
		                                         : "the primary key cannot be removed: use another first";
		api_reply_error(req, 409, "Conflict", why);
		return;
	}
	if (wait_ms == 0 || api_wait(ak->waits, req, "keyring", wait_ms) != 0)
		api_keyring_waited(ak, req, "keyring", 0, 0);
}

int api_keyring_route(struct api_keyring *ak, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	cJSON *obj;

	if (strcmp(path, "/v1/keyring") != 0)
		return 0;
	if (method == EVHTTP_REQ_POST) {
		api_keyring_post(ak, req);
		return 1;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD, POST");
		api_reply_error(req, 405, "Method Not Allowed", "method not allowed");
		return 1;
	}
	if ((obj = api_keyring_view(ak->node)) == NULL)
		api_reply_error(req, HTTP_INTERNAL, "Internal Server Error", "out of memory");
	else
		api_reply(req, HTTP_OK, "OK", obj);
	return 1;
}

int api_keyring_create(struct api_keyring **out, struct node *node)
{
	struct api_keyring *ak = calloc(1, sizeof(*ak));

	*out = NULL;
	if (ak == NULL)
		return -ENOMEM;
	ak->node = node;
	if (api_waits_create(&ak->waits, node->base, api_keyring_waited, ak) != 0) {
		free(ak);
		return -ENOMEM;
	}
	*out = ak;
	return 0;
}

void api_keyring_destroy(struct api_keyring *ak)
{
	if (ak == NULL)
		return;
	api_waits_destroy(ak->waits);
	free(ak);
}

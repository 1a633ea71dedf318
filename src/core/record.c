/*
 * record: a node's description of itself (id, fabric address, roles,
 * capabilities, capacity, load, start time, incarnation), as canonical JSON
 * text that its owner signs.  Names, tags and addresses are restricted to
 * characters that need no escaping, so the text is canonical by construction
 * and safe to print in a log line.
 */
#include "core-internal.h"

int record_version_cmp(uint64_t start_a, uint64_t inc_a, uint64_t start_b, uint64_t inc_b)
{
	if (start_a != start_b)
		return start_a < start_b ? -1 : 1;
	if (inc_a != inc_b)
		return inc_a < inc_b ? -1 : 1;
	return 0;
}

static int record_valid(const struct record *r)
{
	if (!codec_valid_name(r->name, CHORUS_NAME_MAX) || !codec_valid_addr(r->addr))
		return 0;
	if (r->nroles > CHORUS_ROLES_MAX || r->ncaps > CHORUS_CAPS_MAX)
		return 0;
	for (unsigned i = 0; i < r->nroles; i++)
		if (!codec_valid_name(r->roles[i], CHORUS_TAG_MAX))
			return 0;
	for (unsigned i = 0; i < r->ncaps; i++)
		if (!codec_valid_name(r->caps[i], CHORUS_TAG_MAX))
			return 0;
	return r->start_ms < CODEC_JSON_INT_MAX && r->inc < CODEC_JSON_INT_MAX;
}

int record_encode(char *out, size_t cap, const struct record *r)
{
	char id[CHORUS_ID_HEX + 1];
	struct sb sb;

	if (!record_valid(r))
		return CORE_ERR_INVAL;
	codec_hex(id, r->pk, CHORUS_PK_BYTES);
	sb_init(&sb, out, cap);
	sb_printf(&sb, "{\"v\":1,\"id\":\"%s\",\"name\":\"%s\",\"addr\":\"%s\",\"roles\":[", id, r->name,
	          r->addr);
	for (unsigned i = 0; i < r->nroles; i++)
		sb_printf(&sb, "%s\"%s\"", i ? "," : "", r->roles[i]);
	sb_puts(&sb, "],\"caps\":[");
	for (unsigned i = 0; i < r->ncaps; i++)
		sb_printf(&sb, "%s\"%s\"", i ? "," : "", r->caps[i]);
	sb_printf(&sb, "],\"capacity\":%u,\"load\":%u,\"start\":%llu,\"inc\":%llu,\"left\":%s}",
	          r->capacity, r->load, (unsigned long long)r->start_ms, (unsigned long long)r->inc,
	          r->left ? "true" : "false");
	if (sb.overflow || sb.len > CHORUS_RECORD_MAX)
		return CORE_ERR_OVERSIZE;
	return (int)sb.len;
}

static int record_decode_tags(const cJSON *obj, const char *key, char (*tags)[CHORUS_TAG_MAX + 1],
                              unsigned max, unsigned *n)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
	const cJSON *it;

	*n = 0;
	if (!cJSON_IsArray(arr))
		return CORE_ERR_MALFORMED;
	cJSON_ArrayForEach(it, arr)
	{
		if (*n >= max || !cJSON_IsString(it) || !codec_valid_name(it->valuestring, CHORUS_TAG_MAX))
			return CORE_ERR_MALFORMED;
		strcpy(tags[(*n)++], it->valuestring);
	}
	return 0;
}

int record_decode(struct record *r, const char *text, size_t len)
{
	cJSON *obj;
	const char *s;
	uint64_t v, u;
	const cJSON *left;
	int rc = CORE_ERR_MALFORMED;

	if (len == 0 || len > CHORUS_RECORD_MAX)
		return CORE_ERR_OVERSIZE;
	obj = cJSON_ParseWithLength(text, len);
	if (obj == NULL)
		return CORE_ERR_MALFORMED;
	memset(r, 0, sizeof(*r));
	if (codec_json_u64(obj, "v", 1000, &v) < 0)
		goto out;
	if (v != 1) {
		rc = CORE_ERR_VERSION;
		goto out;
	}
	if (codec_json_pk(obj, "id", r->pk) < 0)
		goto out;
	if (codec_json_str(obj, "name", CHORUS_NAME_MAX, &s) < 0)
		goto out;
	strcpy(r->name, s);
	if (codec_json_str(obj, "addr", CHORUS_ADDR_MAX, &s) < 0)
		goto out;
	strcpy(r->addr, s);
	if (record_decode_tags(obj, "roles", r->roles, CHORUS_ROLES_MAX, &r->nroles) < 0 ||
	    record_decode_tags(obj, "caps", r->caps, CHORUS_CAPS_MAX, &r->ncaps) < 0)
		goto out;
	if (codec_json_u64(obj, "capacity", UINT32_MAX, &u) < 0)
		goto out;
	r->capacity = (uint32_t)u;
	if (codec_json_u64(obj, "load", UINT32_MAX, &u) < 0)
		goto out;
	r->load = (uint32_t)u;
	if (codec_json_u64(obj, "start", CODEC_JSON_INT_MAX - 1, &r->start_ms) < 0 ||
	    codec_json_u64(obj, "inc", CODEC_JSON_INT_MAX - 1, &r->inc) < 0)
		goto out;
	left = cJSON_GetObjectItemCaseSensitive(obj, "left");
	if (!cJSON_IsBool(left))
		goto out;
	r->left = cJSON_IsTrue(left);
	rc = record_valid(r) ? 0 : CORE_ERR_MALFORMED;
out:
	cJSON_Delete(obj);
	return rc;
}

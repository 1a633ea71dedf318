/*
 * record: a node's description of itself (id, fabric address, roles,
 * capabilities, capacity, load, start time, incarnation), as canonical JSON
 * text that its owner signs.  Names, tags and addresses are restricted to
 * characters that need no escaping, so the text is canonical by construction
 * and safe to print in a log line.
 *
 * Tags ("tags":["KEY=VALUE",...], after "caps") came after version 1 and
 * kept it: the field is written only when a node has tags, so a record
 * without them is byte for byte what it was, and a decoder from before
 * tags, which looks fields up by name, reads a tagged record as today and
 * ignores the tags.  Keys are unique; the owner's order is kept (signed).
 */
#include "membership/membership.h"

int record_version_cmp(uint64_t start_a, uint64_t inc_a, uint64_t start_b, uint64_t inc_b)
{
	if (start_a != start_b)
		return start_a < start_b ? -1 : 1;
	if (inc_a != inc_b)
		return inc_a < inc_b ? -1 : 1;
	return 0;
}

int core_tag_parse(struct chorus_tag *out, const char *text, size_t len)
{
	const char *eq = memchr(text, '=', len);
	size_t klen, vlen;

	memset(out, 0, sizeof(*out));
	if (eq == NULL)
		return CORE_ERR_INVAL;
	klen = (size_t)(eq - text);
	vlen = len - klen - 1;
	if (klen == 0 || klen > CHORUS_TAG_KEY_MAX || vlen == 0 || vlen > CHORUS_TAG_VALUE_MAX)
		return CORE_ERR_INVAL;
	memcpy(out->key, text, klen);
	memcpy(out->value, eq + 1, vlen);
	if (!codec_valid_name(out->key, CHORUS_TAG_KEY_MAX) ||
	    !codec_valid_name(out->value, CHORUS_TAG_VALUE_MAX)) {
		memset(out, 0, sizeof(*out));
		return CORE_ERR_INVAL;
	}
	assert(out->key[0] != '\0' && out->value[0] != '\0');
	return 0;
}

/* Within bounds, each pair valid, no key twice. */
int record_tags_valid(const struct chorus_tag *tags, unsigned n)
{
	if (n > CHORUS_NODE_TAGS_MAX)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		if (!codec_valid_name(tags[i].key, CHORUS_TAG_KEY_MAX) || tags[i].key[0] == '\0' ||
		    !codec_valid_name(tags[i].value, CHORUS_TAG_VALUE_MAX) || tags[i].value[0] == '\0')
			return 0;
		for (unsigned k = 0; k < i; k++)
			if (strcmp(tags[k].key, tags[i].key) == 0)
				return 0;
	}
	return 1;
}

int core_tags_match(const struct record *r, const struct chorus_tag *where, unsigned nwhere)
{
	assert(nwhere <= CHORUS_NODE_TAGS_MAX && r->ntags <= CHORUS_NODE_TAGS_MAX);
	for (unsigned i = 0; i < nwhere; i++) {
		unsigned k = 0;

		while (k < r->ntags && strcmp(r->tags[k].key, where[i].key) != 0)
			k++;
		if (k == r->ntags || strcmp(r->tags[k].value, where[i].value) != 0)
			return 0;
	}
	return 1;
}

void record_tags_put(struct sb *sb, const char *key, const struct chorus_tag *tags, unsigned n)
{
	assert(n <= CHORUS_NODE_TAGS_MAX);
	if (n == 0)
		return;
	sb_printf(sb, ",\"%s\":[", key);
	for (unsigned i = 0; i < n; i++)
		sb_printf(sb, "%s\"%s=%s\"", i ? "," : "", tags[i].key, tags[i].value);
	sb_puts(sb, "]");
}

/* An absent field is no tags; a present one must be an array of valid, distinct pairs. */
int record_tags_get(const cJSON *obj, const char *key, struct chorus_tag *tags, unsigned *n)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
	const cJSON *it;

	*n = 0;
	if (arr == NULL)
		return 0;
	if (!cJSON_IsArray(arr))
		return CORE_ERR_MALFORMED;
	cJSON_ArrayForEach(it, arr)
	{
		if (*n >= CHORUS_NODE_TAGS_MAX || !cJSON_IsString(it) ||
		    core_tag_parse(&tags[*n], it->valuestring, strlen(it->valuestring)) < 0)
			return CORE_ERR_MALFORMED;
		(*n)++;
	}
	return *n > 0 && record_tags_valid(tags, *n) ? 0 : CORE_ERR_MALFORMED;
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
	if (!record_tags_valid(r->tags, r->ntags))
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
	sb_puts(&sb, "]");
	record_tags_put(&sb, "tags", r->tags, r->ntags);
	sb_printf(&sb, ",\"capacity\":%u,\"load\":%u,\"start\":%llu,\"inc\":%llu,\"left\":%s}",
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
	    record_decode_tags(obj, "caps", r->caps, CHORUS_CAPS_MAX, &r->ncaps) < 0 ||
	    record_tags_get(obj, "tags", r->tags, &r->ntags) < 0)
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

/*
 * codec: the small encoders every message uses: hex, big-endian integers,
 * and cJSON accessors that check type and range so that decoders never
 * trust a field they did not bound (the string builder is sb.c).
 */
#include <stdlib.h>

#include "base/base.h"

#define CODEC_ARENA_BYTES (1u << 20) /* a 64 KiB frame parses into well under this */

static unsigned char codec_arena[CODEC_ARENA_BYTES] __attribute__((aligned(16)));
static size_t codec_arena_used;

static void *codec_arena_malloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n <= CODEC_ARENA_BYTES - codec_arena_used) {
		void *p = codec_arena + codec_arena_used;

		codec_arena_used += n;
		return p;
	}
	return malloc(n); /* past the arena: the heap, freed as usual */
}

static void codec_arena_free(void *p)
{
	unsigned char *c = p;

	if (c >= codec_arena && c < codec_arena + CODEC_ARENA_BYTES)
		return; /* released all at once by codec_arena_end */
	free(p);
}

void codec_arena_begin(void)
{
	cJSON_Hooks hooks = {.malloc_fn = codec_arena_malloc, .free_fn = codec_arena_free};

	assert(codec_arena_used == 0);
	cJSON_InitHooks(&hooks);
}

void codec_arena_end(void)
{
	cJSON_InitHooks(NULL);
	codec_arena_used = 0;
}

void codec_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/*
 * Hex digit value + 1, 0 for anything else (so the table needs no range
 * initializer): ids and signatures are decoded once per rumor received,
 * millions of times in a simulator run.
 */
static const uint8_t codec_hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int codec_unhex(uint8_t *out, size_t len, const char *in)
{
	const unsigned char *u = (const unsigned char *)in;

	/* NUL is not a digit, so a short input stops at its first bad pair. */
	for (size_t i = 0; i < len; i++) {
		unsigned hi = codec_hexval[u[2 * i]], lo;

		if (hi == 0)
			return CORE_ERR_MALFORMED;
		lo = codec_hexval[u[2 * i + 1]];
		if (lo == 0)
			return CORE_ERR_MALFORMED;
		out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
	}
	return in[2 * len] == '\0' ? 0 : CORE_ERR_MALFORMED;
}

/* Decimal digits up to ':' or the end, no sign, no leading zero but "0". */
static int codec_parse_u64(const char **sp, uint64_t max, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;
	size_t n = 0;

	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		if (n >= 16)
			return CORE_ERR_MALFORMED; /* 16 digits exceed any bound used here */
		v = v * 10 + (uint64_t)(s[n] - '0');
	}
	if (n == 0 || (n > 1 && s[0] == '0') || v > max)
		return CORE_ERR_MALFORMED;
	*sp = s + n;
	*out = v;
	return 0;
}

int codec_parse_digest(const char *s, uint64_t *prefix, uint64_t *start_ms, uint64_t *inc)
{
	char hex[CHORUS_DIGEST_ID_HEX + 1];
	uint8_t raw[CHORUS_DIGEST_ID_HEX / 2];

	if (strnlen(s, CHORUS_DIGEST_ID_HEX + 1) <= CHORUS_DIGEST_ID_HEX ||
	    s[CHORUS_DIGEST_ID_HEX] != ':')
		return CORE_ERR_MALFORMED;
	memcpy(hex, s, CHORUS_DIGEST_ID_HEX);
	hex[CHORUS_DIGEST_ID_HEX] = '\0';
	if (codec_unhex(raw, sizeof(raw), hex) < 0)
		return CORE_ERR_MALFORMED;
	*prefix = codec_get_u64(raw);
	s += CHORUS_DIGEST_ID_HEX + 1;
	if (codec_parse_u64(&s, CODEC_JSON_INT_MAX, start_ms) < 0 || *s++ != ':' ||
	    codec_parse_u64(&s, CODEC_JSON_INT_MAX, inc) < 0 || *s != '\0')
		return CORE_ERR_MALFORMED;
	return 0;
}

int codec_valid_name(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= max)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

int codec_valid_addr(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];

		if (n >= CHORUS_ADDR_MAX || c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return 0;
	}
	return n > 0 && strstr(s, "://") != NULL;
}

void codec_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

void codec_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint32_t codec_get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | p[i];
	return v;
}


int codec_json_u64(const cJSON *obj, const char *key, uint64_t max, uint64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (!cJSON_IsNumber(it))
		return CORE_ERR_MALFORMED;
	d = it->valuedouble;
	/* Integers only, and only where a double holds them exactly. */
	if (!(d >= 0) || d > (double)CODEC_JSON_INT_MAX || d != (double)(uint64_t)d)
		return CORE_ERR_MALFORMED;
	if ((uint64_t)d > max)
		return CORE_ERR_MALFORMED;
	*out = (uint64_t)d;
	return 0;
}

int codec_json_str(const cJSON *obj, const char *key, size_t max, const char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(it) || it->valuestring == NULL || strlen(it->valuestring) > max)
		return CORE_ERR_MALFORMED;
	*out = it->valuestring;
	return 0;
}

int codec_json_pk(const cJSON *obj, const char *key, uint8_t pk[CHORUS_PK_BYTES])
{
	const char *s;

	if (codec_json_str(obj, key, CHORUS_ID_HEX, &s) < 0)
		return CORE_ERR_MALFORMED;
	return codec_unhex(pk, CHORUS_PK_BYTES, s);
}

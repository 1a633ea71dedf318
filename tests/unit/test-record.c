/* record: canonical encoding, strict decoding, version order; tags and their matching. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "tap.h"

static struct record sample(void)
{
	struct record r;

	memset(&r, 0, sizeof(r));
	crypto_sign_keypair(r.pk, (uint8_t[64]){0});
	strcpy(r.name, "n1");
	strcpy(r.addr, "tcp://127.0.0.1:7470");
	strcpy(r.roles[0], "worker");
	r.nroles = 1;
	strcpy(r.caps[0], "echo");
	strcpy(r.caps[1], "sha256");
	r.ncaps = 2;
	r.capacity = 4;
	r.load = 1;
	r.start_ms = 1732200000000ULL;
	r.inc = 3;
	return r;
}

/* The record text with its tags field replaced by `field` (which may be empty: no field). */
static int with_tags(char *out, size_t cap, const char *text, const char *field)
{
	const char *p = strstr(text, ",\"tags\":"), *q = strstr(text, ",\"capacity\"");

	if (p == NULL)
		p = q;
	return snprintf(out, cap, "%.*s%s%s", (int)(p - text), text, field, q);
}

static void test_tags(void)
{
	struct record r = sample(), d, old;
	char text[CHORUS_RECORD_MAX + 1], bad[2048], plain[CHORUS_RECORD_MAX + 1];
	struct chorus_tag t, where[3];
	int n, m;

	ok(core_tag_parse(&t, "gpu=a100", 8) == 0 && strcmp(t.key, "gpu") == 0 &&
	       strcmp(t.value, "a100") == 0, "KEY=VALUE parses");
	ok(core_tag_parse(&t, "gpu", 3) < 0 && core_tag_parse(&t, "=x", 2) < 0 &&
	       core_tag_parse(&t, "x=", 2) < 0 && core_tag_parse(&t, "a b=c", 5) < 0 &&
	       core_tag_parse(&t, "a=b\"", 4) < 0 && core_tag_parse(&t, "a=b=c", 5) < 0,
	   "no '=', an empty side, a space, a quote or a second '=' is refused");
	ok(core_tag_parse(&t, "0123456789abcdef=v", 18) < 0 &&
	       core_tag_parse(&t, "0123456789abcde=v", 17) == 0, "a key over 15 bytes is refused, 15 is not");
	ok(core_tag_parse(&t, "k=012345678901234567890123", 26) < 0 &&
	       core_tag_parse(&t, "k=01234567890123456789012", 25) == 0,
	   "a value over 23 bytes is refused, 23 is not");

	n = record_encode(plain, sizeof(plain), &r);
	ok(n > 0 && strstr(plain, "tags") == NULL, "a record without tags has no tags field (as before tags)");
	r.ntags = 2;
	strcpy(r.tags[0].key, "gpu");
	strcpy(r.tags[0].value, "a100");
	strcpy(r.tags[1].key, "zone");
	strcpy(r.tags[1].value, "eu-west-1");
	n = record_encode(text, sizeof(text), &r);
	ok(n > 0 && strstr(text, "\"tags\":[\"gpu=a100\",\"zone=eu-west-1\"]") != NULL,
	   "tags are encoded as KEY=VALUE strings");
	ok(record_decode(&d, text, (size_t)n) == 0 && d.ntags == 2 &&
	       strcmp(d.tags[1].key, "zone") == 0 && strcmp(d.tags[1].value, "eu-west-1") == 0,
	   "and survive the round trip");

	/* A decoder from before tags looks fields up by name: the same record, tags ignored. */
	old = r;
	old.ntags = 0;
	m = with_tags(bad, sizeof(bad), text, "");
	ok(m == (int)strlen(plain) && memcmp(bad, plain, (size_t)m) == 0,
	   "without its tags field a tagged record is byte for byte an untagged one");

	m = with_tags(bad, sizeof(bad), text, ",\"tags\":[]");
	ok(record_decode(&d, bad, (size_t)m) < 0, "an empty tags array is refused (absent when none)");
	m = with_tags(bad, sizeof(bad), text, ",\"tags\":[\"gpu=a100\",\"gpu=t4\"]");
	ok(record_decode(&d, bad, (size_t)m) < 0, "a key twice is refused");
	m = with_tags(bad, sizeof(bad), text, ",\"tags\":[\"gpu\"]");
	ok(record_decode(&d, bad, (size_t)m) < 0, "a tag without '=' is refused");
	m = with_tags(bad, sizeof(bad), text, ",\"tags\":{\"gpu\":\"a100\"}");
	ok(record_decode(&d, bad, (size_t)m) < 0, "tags that are not an array are refused");
	m = with_tags(bad, sizeof(bad), text, ",\"tags\":[1]");
	ok(record_decode(&d, bad, (size_t)m) < 0, "a tag that is not a string is refused");
	m = with_tags(bad, sizeof(bad), text,
	              ",\"tags\":[\"a=1\",\"b=1\",\"c=1\",\"d=1\",\"e=1\",\"f=1\",\"g=1\",\"h=1\",\"i=1\"]");
	ok(record_decode(&d, bad, (size_t)m) < 0, "more than 8 tags are refused");
	r.ntags = CHORUS_NODE_TAGS_MAX + 1;
	ok(record_encode(bad, sizeof(bad), &r) == CORE_ERR_INVAL, "nor encoded");
	r.ntags = 2;
	strcpy(r.tags[1].key, "gpu");
	ok(record_encode(bad, sizeof(bad), &r) == CORE_ERR_INVAL, "nor is a key twice");
	strcpy(r.tags[1].key, "zone");

	/* Matching: every pair of the constraint, by key and exact value. */
	ok(core_tags_match(&r, where, 0), "no constraint matches every record");
	where[0] = (struct chorus_tag){ "gpu", "a100" };
	ok(core_tags_match(&r, where, 1), "gpu=a100 matches gpu=a100");
	where[1] = (struct chorus_tag){ "zone", "eu-west-1" };
	ok(core_tags_match(&r, where, 2), "both pairs match");
	where[1] = (struct chorus_tag){ "zone", "eu" };
	ok(!core_tags_match(&r, where, 2), "one value that differs does not match");
	where[0] = (struct chorus_tag){ "gpu", "a10" };
	ok(!core_tags_match(&r, where, 1), "a prefix of the value does not match");
	where[0] = (struct chorus_tag){ "arch", "x86_64" };
	ok(!core_tags_match(&r, where, 1), "a key the record lacks does not match");
	where[0] = (struct chorus_tag){ "a100", "gpu" };
	ok(!core_tags_match(&r, where, 1), "key and value are not interchangeable");
	ok(!core_tags_match(&old, (struct chorus_tag[]){ { "gpu", "a100" } }, 1),
	   "an untagged record matches no constraint");
}

int main(void)
{
	struct record r = sample(), d;
	char text[CHORUS_RECORD_MAX + 1], text2[CHORUS_RECORD_MAX + 1], bad[2048];
	int n, n2;

	if (sodium_init() < 0)
		return 1;
	n = record_encode(text, sizeof(text), &r);
	ok(n > 0, "a record encodes (%d bytes)", n);
	ok(record_decode(&d, text, (size_t)n) == 0, "and decodes");
	ok(memcmp(d.pk, r.pk, 32) == 0 && strcmp(d.name, "n1") == 0 && d.ncaps == 2 &&
	       strcmp(d.caps[1], "sha256") == 0 && d.capacity == 4 && d.load == 1 &&
	       d.start_ms == r.start_ms && d.inc == 3 && !d.left && d.nroles == 1,
	   "every field survives the round trip");
	n2 = record_encode(text2, sizeof(text2), &d);
	ok(n2 == n && memcmp(text, text2, (size_t)n) == 0, "encoding is canonical");

	{
		struct record full = sample();

		memset(full.name, 'n', CHORUS_NAME_MAX);
		full.name[CHORUS_NAME_MAX] = '\0';
		memset(full.addr, 'a', CHORUS_ADDR_MAX);
		memcpy(full.addr, "tcp://", 6);
		full.addr[CHORUS_ADDR_MAX] = '\0';
		full.nroles = CHORUS_ROLES_MAX;
		full.ncaps = CHORUS_CAPS_MAX;
		full.ntags = CHORUS_NODE_TAGS_MAX;
		for (unsigned i = 0; i < CHORUS_NODE_TAGS_MAX; i++) {
			memset(full.tags[i].key, 'k', CHORUS_TAG_KEY_MAX);
			full.tags[i].key[0] = (char)('a' + i); /* distinct keys */
			memset(full.tags[i].value, 'v', CHORUS_TAG_VALUE_MAX);
		}
		for (unsigned i = 0; i < CHORUS_CAPS_MAX; i++) {
			memset(full.caps[i], 'c', CHORUS_TAG_MAX);
			full.caps[i][CHORUS_TAG_MAX] = '\0';
			if (i < CHORUS_ROLES_MAX)
				strcpy(full.roles[i], full.caps[i]);
		}
		n2 = record_encode(text2, sizeof(text2), &full);
		ok(n2 > 0 && n2 <= CHORUS_RECORD_MAX, "a record at every bound fits (%d bytes)", n2);
	}

	r.name[0] = ' ';
	ok(record_encode(text2, sizeof(text2), &r) == CORE_ERR_INVAL, "an invalid name is not encoded");
	r = sample();

	ok(record_decode(&d, text, (size_t)n - 1) < 0, "truncated text is refused");
	ok(record_decode(&d, "", 0) < 0, "empty text is refused");
	ok(record_decode(&d, "[1,2]", 5) < 0, "a non-object is refused");
	snprintf(bad, sizeof(bad), "%.*s", n, text);
	{
		char *p = strstr(bad, "\"v\":1");

		p[4] = '2';
		ok(record_decode(&d, bad, (size_t)n) == CORE_ERR_VERSION, "an unknown record version is refused");
	}
	snprintf(bad, sizeof(bad), "%.*s", n, text);
	memcpy(strstr(bad, "\"name\":\"n1\""), "\"name\":\"n \"", 11);
	ok(record_decode(&d, bad, (size_t)n) < 0, "a name with a space is refused");
	snprintf(bad, sizeof(bad), "%.*s", n, text);
	memcpy(strstr(bad, "\"left\":false"), "\"left\":0    ", 12);
	ok(record_decode(&d, bad, (size_t)n) < 0, "a non-boolean left is refused");
	snprintf(bad, sizeof(bad), "%.*s", n, text);
	memcpy(strstr(bad, "\"capacity\":4"), "\"capacity\":-", 12);
	ok(record_decode(&d, bad, (size_t)n) < 0, "a negative capacity is refused");
	{
		static char huge[CHORUS_RECORD_MAX + 2];

		memset(huge, ' ', sizeof(huge));
		ok(record_decode(&d, huge, sizeof(huge)) == CORE_ERR_OVERSIZE, "oversized text is refused");
	}

	test_tags();
	ok(record_version_cmp(1, 5, 2, 0) < 0, "a later generation wins over a higher incarnation");
	ok(record_version_cmp(2, 5, 2, 4) > 0, "within a generation the incarnation orders");
	ok(record_version_cmp(2, 5, 2, 5) == 0, "equal versions compare equal");
	return tap_done();
}

/* record: canonical encoding, strict decoding, version order. */
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

	ok(record_version_cmp(1, 5, 2, 0) < 0, "a later generation wins over a higher incarnation");
	ok(record_version_cmp(2, 5, 2, 4) > 0, "within a generation the incarnation orders");
	ok(record_version_cmp(2, 5, 2, 5) == 0, "equal versions compare equal");
	return tap_done();
}

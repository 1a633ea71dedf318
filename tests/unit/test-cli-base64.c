/*
 * cli-base64: RFC 4648 vectors, round trips of every length up to a few
 * blocks, refusal of every non-canonical form, the output bound, and random
 * input that must never decode past its buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tap.h"

#define TEST_ROUNDS 20000

static int decodes_to(const char *b64, const char *want)
{
	uint8_t out[64];
	size_t len;

	return cli_base64_decode(out, sizeof out, b64, &len) == 0 && len == strlen(want) &&
	       memcmp(out, want, len) == 0;
}

static int refused(const char *b64)
{
	uint8_t out[64];
	size_t len;

	return cli_base64_decode(out, sizeof out, b64, &len) < 0;
}

static void test_vectors(void)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					     "Zm9vYmFy" };
	char enc[32];
	size_t i;

	for (i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		cli_base64_encode(enc, (const uint8_t *)plain[i], strlen(plain[i]));
		ok(strcmp(enc, coded[i]) == 0, "encodes '%s' as '%s' (got '%s')", plain[i],
		   coded[i], enc);
		ok(decodes_to(coded[i], plain[i]), "decodes '%s'", coded[i]);
	}
	ok(decodes_to("+/+/", "\xfb\xff\xbf"), "the last two alphabet characters decode");
}

static void test_refusals(void)
{
	uint8_t out[4];
	size_t len;

	ok(refused("Zg="), "a length that is not a multiple of 4 is refused");
	ok(refused("Zg=a"), "'=' before the end is refused");
	ok(refused("Z==="), "three '=' are refused");
	ok(refused("===="), "padding alone is refused");
	ok(refused("Zh=="), "non-zero bits before '==' are refused");
	ok(refused("Zm9="), "non-zero bits before '=' are refused");
	ok(refused("Zm9v\n"), "a newline is refused");
	ok(refused("Zm 9"), "a space is refused");
	ok(refused("Zm-_"), "the URL-safe alphabet is refused");
	ok(cli_base64_decode(out, 2, "Zm9v", &len) < 0, "output over dst_size is refused");
	ok(cli_base64_decode(out, 3, "Zm9v", &len) == 0 && len == 3, "output at dst_size fits");
	ok(cli_base64_decode(out, 0, "", &len) == 0 && len == 0, "empty decodes to nothing");
}

static void test_round_trips(void)
{
	uint8_t in[100], out[100];
	char enc[200];
	size_t n, i, len;
	int good = 1;

	for (n = 0; n <= sizeof in && good; n++) {
		for (i = 0; i < n; i++)
			in[i] = (uint8_t)(rand() & 0xff);
		cli_base64_encode(enc, in, n);
		good = strlen(enc) + 1 == cli_base64_encoded_size(n) &&
		       cli_base64_decode(out, n, enc, &len) == 0 && len == n &&
		       memcmp(in, out, n) == 0;
	}
	ok(good, "every length from 0 to 100 round-trips into an exact buffer (stopped at %zu)",
	   n - 1);
}

/* Random strings over the alphabet and a few strangers: a decode never overruns. */
static void test_random(void)
{
	static const char chars[] = "ABCZaz09+/=-_ \n\x80";
	char src[17];
	uint8_t *out;
	size_t len, cap, i, n;
	int round, good = 1, decoded = 0;

	for (round = 0; round < TEST_ROUNDS && good; round++) {
		n = (size_t)(rand() % 17);
		for (i = 0; i < n; i++)
			src[i] = chars[rand() % (int)(sizeof chars - 1)];
		src[n] = '\0';
		cap = (size_t)(rand() % 13);
		out = malloc(cap + 1); /* exact size: ASan catches an overrun */
		if (cli_base64_decode(out, cap, src, &len) == 0) {
			decoded++;
			good = len <= cap && len == n / 4 * 3 - (n > 0 && src[n - 1] == '=') -
							       (n > 1 && src[n - 2] == '=');
		}
		free(out);
	}
	ok(good, "%d random inputs: every accepted one fits its buffer (%d accepted)", round,
	   decoded);
}

int main(void)
{
	srand(1);
	test_vectors();
	test_refusals();
	test_round_trips();
	test_random();
	return tap_done();
}

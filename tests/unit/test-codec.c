/* codec: string builder bounds, hex, names, addresses, JSON accessors. */
#include <string.h>

#include "core-internal.h"
#include "tap.h"

int main(void)
{
	char buf[16], hex[9];
	struct sb sb;
	uint8_t bytes[4] = {0xde, 0xad, 0xbe, 0xef}, back[4];
	uint8_t be[8];
	cJSON *o;
	uint64_t v;
	const char *s;

	sb_init(&sb, buf, sizeof(buf));
	sb_puts(&sb, "0123456789");
	ok(!sb.overflow && sb.len == 10, "sb holds what fits");
	sb_puts(&sb, "0123456789");
	ok(sb.overflow && sb.len == 10 && strlen(buf) == 10, "sb overflow is sticky and keeps the prefix");
	sb_init(&sb, buf, sizeof(buf));
	sb_json_str(&sb, "a\"b\\c", 5);
	ok(strcmp(buf, "\"a\\\"b\\\\c\"") == 0, "sb_json_str escapes quotes and backslashes: %s", buf);
	sb_init(&sb, buf, sizeof(buf));
	sb_json_str(&sb, "\n", 1);
	ok(strcmp(buf, "\"\\u000a\"") == 0, "sb_json_str escapes control characters");

	codec_hex(hex, bytes, 4);
	ok(strcmp(hex, "deadbeef") == 0, "hex encodes");
	ok(codec_unhex(back, 4, "DEADbeef") == 0 && memcmp(back, bytes, 4) == 0, "hex decodes either case");
	ok(codec_unhex(back, 4, "deadbee") < 0, "short hex is refused");
	ok(codec_unhex(back, 4, "deadbeef00") < 0, "long hex is refused");
	ok(codec_unhex(back, 4, "deadbeeg") < 0, "non-hex digit is refused");

	ok(codec_valid_name("node-1.a_b", 63), "a plain name is valid");
	ok(!codec_valid_name("", 63), "empty name is invalid");
	ok(!codec_valid_name("a b", 63), "a name with a space is invalid");
	ok(!codec_valid_name("abcd", 3), "a name over its bound is invalid");
	ok(codec_valid_addr("tcp://127.0.0.1:7470"), "a tcp URL is a valid address");
	ok(!codec_valid_addr("127.0.0.1:7470"), "an address without scheme is invalid");
	ok(!codec_valid_addr("tcp://a b"), "an address with a space is invalid");

	codec_put_u64(be, 0x0102030405060708ULL);
	ok(be[0] == 1 && be[7] == 8 && codec_get_u64(be) == 0x0102030405060708ULL, "u64 big-endian round trip");
	codec_put_u32(be, 0xa1b2c3d4);
	ok(codec_get_u32(be) == 0xa1b2c3d4, "u32 round trip");

	o = cJSON_Parse("{\"n\":42,\"neg\":-1,\"frac\":1.5,\"big\":1e300,\"s\":\"hi\",\"x\":true}");
	ok(codec_json_u64(o, "n", 100, &v) == 0 && v == 42, "json integer read");
	ok(codec_json_u64(o, "n", 10, &v) < 0, "json integer above its bound is refused");
	ok(codec_json_u64(o, "neg", 100, &v) < 0, "negative integer is refused");
	ok(codec_json_u64(o, "frac", 100, &v) < 0, "fraction is refused");
	ok(codec_json_u64(o, "big", UINT64_MAX, &v) < 0, "huge number is refused");
	ok(codec_json_u64(o, "s", 100, &v) < 0, "string where a number belongs is refused");
	ok(codec_json_str(o, "s", 8, &s) == 0 && strcmp(s, "hi") == 0, "json string read");
	ok(codec_json_str(o, "s", 1, &s) < 0, "json string over its bound is refused");
	ok(codec_json_str(o, "missing", 8, &s) < 0, "missing key is refused");
	cJSON_Delete(o);
	/* Record digests: "<16 hex id prefix>:<start_ms>:<inc>", strictly. */
	{
		uint64_t pre, g, c;
		const char *bad[] = {"", "ab00000000000000", "ab00000000000000:1", "ab0000000000000:1:2",
		                     "ab00000000000000:1:2:", "ab00000000000000:-1:2",
		                     "ab00000000000000:01:2", "xb00000000000000:1:2",
		                     "ab00000000000000:1: 2", "ab00000000000000:99999999999999999:2"};

		ok(codec_parse_digest("ab00000000000001:17:4", &pre, &g, &c) == 0 &&
		       pre == 0xab00000000000001ull && g == 17 && c == 4,
		   "a digest parses");
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
			ok(codec_parse_digest(bad[k], &pre, &g, &c) < 0, "malformed digest '%s' is rejected",
			   bad[k]);
	}
	return tap_done();
}

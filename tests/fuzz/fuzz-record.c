/*
 * fuzz-record: the node record (record_decode), the text every member signs
 * and gossip relays, and the record digest "<id prefix>:<start>:<inc>" that
 * lazy push sends in its place (codec_parse_digest).  Each input is tried
 * as both.
 *
 * Must hold: a decoded record is valid and re-encodes (record_encode) to a
 * text that decodes to the same record, within CHORUS_RECORD_MAX; a parsed
 * digest printed canonically parses to the same three numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"
#include "fuzz.h"

static void fuzz_record_digest(const uint8_t *data, size_t size)
{
	char s[256], again[256];
	uint64_t prefix, start, inc, prefix2, start2, inc2;

	if (size >= sizeof s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (codec_parse_digest(s, &prefix, &start, &inc) != 0)
		return;
	FUZZ_ASSERT(start <= CODEC_JSON_INT_MAX && inc <= CODEC_JSON_INT_MAX,
		    "digest numbers in bound");
	snprintf(again, sizeof again, "%016llx:%llu:%llu", (unsigned long long)prefix,
		 (unsigned long long)start, (unsigned long long)inc);
	FUZZ_ASSERT(codec_parse_digest(again, &prefix2, &start2, &inc2) == 0 && prefix == prefix2 &&
			    start == start2 && inc == inc2,
		    "a digest round-trips");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct record r, r2;
	char text[CHORUS_RECORD_MAX + 1];
	int n, rc;

	fuzz_record_digest(data, size);
	rc = record_decode(&r, (const char *)data, size);
	if (rc != 0)
		return 0;
	n = record_encode(text, sizeof text, &r);
	/* Canonical numbers may be longer than the input's ("1e3"): only the bound may refuse. */
	FUZZ_ASSERT(n > 0 || n == CORE_ERR_OVERSIZE, "a decoded record is valid for the encoder");
	if (n < 0)
		return 0;
	FUZZ_ASSERT((size_t)n <= CHORUS_RECORD_MAX, "an encoded record is within the bound");
	FUZZ_ASSERT(record_decode(&r2, text, (size_t)n) == 0, "an encoded record decodes");
	FUZZ_ASSERT(memcmp(&r, &r2, sizeof r) == 0, "decode, encode, decode gives the same record");
	return 0;
}

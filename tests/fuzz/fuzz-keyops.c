/*
 * fuzz-keyops: the keyring operation and answer decoders (keyops.c) on
 * arbitrary bytes parsed as JSON, as a member's sealed frame could carry.
 *
 *   byte 0  bit 0: the answer decoder, else the operation decoder
 *   byte 1- the JSON text
 *
 * Must hold: an accepted text re-encodes to a text that decodes to the same
 * operation or answer (the decoder takes nothing the encoder could not say);
 * an accepted operation names a known op and, unless it is list, a key that
 * is not all zero; an accepted answer lists 1 to CHORUS_KEYRING_MAX keys
 * with its primary among them.
 */
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "fuzz.h"

static void fuzz_keyops_msg(const cJSON *j)
{
	static char text[1024];
	struct keyops_msg m, m2;
	cJSON *j2;
	int n;

	if (keyops_decode_msg(&m, j) != 0)
		return;
	FUZZ_ASSERT(m.op >= CORE_KEYRING_LIST && m.op <= CORE_KEYRING_REMOVE && m.nonce > 0,
		    "an accepted operation is a known one with a nonce");
	FUZZ_ASSERT(m.op == CORE_KEYRING_LIST || !sodium_is_zero(m.key, sizeof m.key),
		    "an accepted key is not the open network's");
	n = keyops_encode_msg(text, sizeof text, &m);
	FUZZ_ASSERT(n > 0, "an accepted operation re-encodes");
	j2 = cJSON_ParseWithLength(text, (size_t)n);
	FUZZ_ASSERT(j2 != NULL && keyops_decode_msg(&m2, j2) == 0 && m2.op == m.op &&
			    m2.nonce == m.nonce && memcmp(m2.key, m.key, sizeof m.key) == 0,
		    "and decodes back to the same");
	cJSON_Delete(j2);
}

static void fuzz_keyops_answer(const cJSON *j)
{
	static char text[1024];
	struct keyops_answer a, a2;
	cJSON *j2;
	int n;

	if (keyops_decode_answer(&a, j) != 0)
		return;
	FUZZ_ASSERT(a.n >= 1 && a.n <= CHORUS_KEYRING_MAX && a.primary < a.n && a.nonce > 0,
		    "an accepted answer lists 1..CHORUS_KEYRING_MAX keys, its primary among them");
	n = keyops_encode_answer(text, sizeof text, &a);
	FUZZ_ASSERT(n > 0, "an accepted answer re-encodes");
	j2 = cJSON_ParseWithLength(text, (size_t)n);
	FUZZ_ASSERT(j2 != NULL && keyops_decode_answer(&a2, j2) == 0 && a2.n == a.n &&
			    a2.primary == a.primary && a2.nonce == a.nonce &&
			    memcmp(a2.fp, a.fp, sizeof a.fp) == 0 && strcmp(a2.err, a.err) == 0,
		    "and decodes back to the same");
	cJSON_Delete(j2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *j;

	if (size < 1 || size > CHORUS_BODY_MAX)
		return 0;
	j = cJSON_ParseWithLength((const char *)data + 1, size - 1);
	if (cJSON_IsObject(j)) {
		if (data[0] & 1)
			fuzz_keyops_answer(j);
		else
			fuzz_keyops_msg(j);
	}
	cJSON_Delete(j);
	return 0;
}

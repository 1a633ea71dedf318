/*
 * fuzz-wire: the frame decoder (wire_decode) on raw bytes, and the MAC and
 * signature checks behind it.
 *
 * Must hold for an accepted frame: its parts lie inside the input and add
 * up to it exactly; the type is one we speak; and the header re-encodes
 * (wire_encode_head from the decoded fields) to the same bytes, so the
 * decoder accepts nothing the encoder could not have written.
 */
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[CHORUS_FRAME_MAX];
	static const uint8_t key[CHORUS_MAC_KEY_BYTES] = { 1 };
	struct wire_frame f;
	int rc, n;

	memset(&f, 0, sizeof f);
	rc = wire_decode(&f, data, size);
	FUZZ_ASSERT(rc <= 0, "wire_decode returns 0 or an error");
	if (rc < 0)
		return 0;
	FUZZ_ASSERT(f.body == data + CHORUS_FRAME_HEADER &&
			    f.signed_len == CHORUS_FRAME_HEADER + f.body_len,
		    "the body follows the header");
	FUZZ_ASSERT(f.tag == data + f.signed_len && f.signed_len + f.tag_len == size,
		    "header, body and trailer add up to the frame");
	FUZZ_ASSERT(f.type > 0 && f.type < WIRE_TYPE_END, "an accepted type is one we speak");
	FUZZ_ASSERT(f.auth == WIRE_AUTH_MAC || f.auth == WIRE_AUTH_SIG, "a known authentication");
	n = wire_encode_head(again, sizeof again, f.type, f.auth, f.pk, f.gen, f.seq,
			     (const char *)f.body, f.body_len);
	FUZZ_ASSERT(n >= 0 && (size_t)n == size, "an accepted frame re-encodes to its length");
	/* The recipient is the seal's to write; all else must match. */
	FUZZ_ASSERT(memcmp(again, data, CHORUS_FRAME_HEADER - CHORUS_RECIPIENT_BYTES) == 0 &&
			    memcmp(again + CHORUS_FRAME_HEADER, data + CHORUS_FRAME_HEADER,
				   f.body_len) == 0,
		    "an accepted frame re-encodes to the same header and body");
	(void)wire_replay_key(&f);
	FUZZ_ASSERT(wire_verify_mac(&crypto_ed25519, &f, data, key) != 0 || f.auth == WIRE_AUTH_MAC,
		    "a signed frame never passes as a MAC frame");
	if (f.auth == WIRE_AUTH_SIG) /* a made-up signature over any bytes: refused, no crash */
		FUZZ_ASSERT(wire_verify_sig(&crypto_ed25519, &f, data) != 0 ||
				    size > CHORUS_FRAME_HEADER,
			    "a signature check answers");
	return 0;
}

/*
 * fuzz-wire: the frame decoder (wire_decode) on raw bytes, and the checks
 * behind it: the admission tag, opening the sealed body, the signature.
 *
 * Must hold for an accepted frame: its parts lie inside the input and add
 * up to it exactly; the type is one we speak; and the header re-encodes
 * (wire_encode_head from the decoded fields) to the same bytes, so the
 * decoder accepts nothing the encoder could not have written.  Admission and
 * opening answer 0 or their error, never anything else, and a body opens
 * only under the key it was sealed with (a frame made by the corpus
 * generator under the open network's keys may open; nothing else does).
 */
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[CHORUS_FRAME_MAX], plain[CHORUS_FRAME_MAX];
	static const uint8_t key[CHORUS_MAC_KEY_BYTES] = { 1 };
	uint8_t admit[CHORUS_NETKEY_BYTES], join[CHORUS_MAC_KEY_BYTES];
	size_t trailer;
	struct wire_frame f;
	int rc, n;

	memset(&f, 0, sizeof f);
	rc = wire_decode(&f, data, size);
	FUZZ_ASSERT(rc <= 0, "wire_decode returns 0 or an error");
	if (rc < 0)
		return 0;
	trailer = f.auth == WIRE_AUTH_SIG ? CHORUS_SIG_TRAILER_BYTES : CHORUS_MAC_BYTES;
	FUZZ_ASSERT(f.body == data + CHORUS_FRAME_HEADER &&
			    f.seal == f.body + f.body_len &&
			    CHORUS_FRAME_HEADER + f.body_len + trailer == size,
		    "header, body and trailer add up to the frame");
	FUZZ_ASSERT(f.auth == WIRE_AUTH_SIG ? f.tag == data + size - CHORUS_SIG_BYTES &&
						      f.signed_len == size - CHORUS_SIG_BYTES
					    : f.tag == f.seal + CHORUS_MAC_BYTES - CHORUS_MAC_TAG_BYTES &&
						      f.signed_len == size,
		    "the tag and what a signature covers lie where the layout says");
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
	wire_netkey_derive(wire_open_netkey, admit, join);
	rc = wire_admit(&f, data, admit);
	FUZZ_ASSERT(rc == 0 || rc == CORE_ERR_NOKEY, "admission answers");
	rc = wire_open(&crypto_ed25519, &f, data, plain, key);
	FUZZ_ASSERT(rc == CORE_ERR_BADSIG && f.body == data + CHORUS_FRAME_HEADER,
		    "no body opens under a key it was not sealed with, and a failed open "
		    "leaves the frame as it was");
	if (f.auth == WIRE_AUTH_SIG) { /* a made-up signature over any bytes: refused, no crash */
		rc = wire_open(&crypto_ed25519, &f, data, plain, join);
		FUZZ_ASSERT(rc == 0 || rc == CORE_ERR_BADSIG, "a signed frame's body opens or not");
		FUZZ_ASSERT(wire_verify_sig(&crypto_ed25519, &f, data) != 0 ||
				    size > CHORUS_FRAME_HEADER,
			    "a signature check answers");
	}
	return 0;
}

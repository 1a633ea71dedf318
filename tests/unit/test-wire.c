/* wire: frame layout, exact length checks, signatures. */
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "tap.h"

int main(void)
{
	uint8_t pk[32], sk[64], pk2[32], sk2[64];
	uint8_t frame[CHORUS_FRAME_MAX + 16];
	static char big[CHORUS_FRAME_MAX];
	struct wire_frame f;
	int n;

	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	n = wire_encode(frame, sizeof(frame), WIRE_PING, pk, 1234, 7, "{\"n\":1}", 7, &crypto_ed25519, sk);
	ok(n == CHORUS_FRAME_HEADER + 7 + CHORUS_SIG_BYTES, "frame length is header + body + signature");
	ok(wire_decode(&f, frame, (size_t)n) == 0, "a fresh frame decodes");
	ok(f.type == WIRE_PING && f.gen == 1234 && f.seq == 7 && f.body_len == 7 &&
	       memcmp(f.body, "{\"n\":1}", 7) == 0 && memcmp(f.pk, pk, 32) == 0,
	   "decoded fields match what was encoded");
	ok(wire_verify(&crypto_ed25519, &f, frame) == 0, "its signature verifies");
	memcpy(frame + 8, pk2, 32);
	ok(wire_decode(&f, frame, (size_t)n) == 0 && wire_verify(&crypto_ed25519, &f, frame) < 0,
	   "a frame claiming another sender fails verification");
	memcpy(frame + 8, pk, 32);
	ok(wire_decode(&f, frame, (size_t)n - 1) == CORE_ERR_MALFORMED, "one byte short is malformed");
	ok(wire_decode(&f, frame, (size_t)n + 1) == CORE_ERR_MALFORMED, "one byte long is malformed");
	ok(wire_decode(&f, frame, 10) == CORE_ERR_MALFORMED, "a stub is malformed");
	frame[0] = 'X';
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_MALFORMED, "bad magic is malformed");
	frame[0] = 'C';
	frame[2] = CHORUS_WIRE_VERSION + 1;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_VERSION, "another version is refused");
	frame[2] = CHORUS_WIRE_VERSION;
	frame[3] = 0;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_INVAL, "type 0 is unknown");
	frame[3] = WIRE_TYPE_END;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_INVAL, "a type past the last is unknown");
	ok(wire_decode(&f, frame, CHORUS_FRAME_MAX + 1) == CORE_ERR_OVERSIZE, "oversized input is refused");
	memset(big, 'x', sizeof(big));
	ok(wire_encode(frame, sizeof(frame), WIRE_GOSSIP, pk, 1, 1, big, CHORUS_BODY_MAX + 1,
	               &crypto_ed25519, sk) == CORE_ERR_OVERSIZE,
	   "a body over CHORUS_BODY_MAX cannot be encoded");
	n = wire_encode(frame, sizeof(frame), WIRE_GOSSIP, pk, 1, 1, big, CHORUS_BODY_MAX,
	                &crypto_ed25519, sk);
	ok(n == CHORUS_FRAME_MAX && wire_decode(&f, frame, (size_t)n) == 0,
	   "a body of exactly CHORUS_BODY_MAX makes a maximal frame");
	ok(strcmp(wire_type_name(WIRE_PING_REQ), "ping-req") == 0 && strcmp(wire_type_name(99), "unknown") == 0,
	   "type names");
	return tap_done();
}

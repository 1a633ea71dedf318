/*
 * fuzz-frame: every message handler of the core behind an authentic frame
 * (swim: ping, ack, ping-req, nack, join, sync, gossip, want, with their
 * rumors and signed records; jobs: request, offer, dispatch, accept,
 * refuse, receipt, cancel, job-ack, keyring, keyring-answer).  The frame's
 * seal would stop almost every mutation at the door, so the input is a body
 * that a known member (node 1, 2 or 3 of the fuzz cluster) seals for node 0,
 * as a peer could send:
 *
 *   byte 0  frame type (bit 7 set: the rest is a raw frame, fed unchanged)
 *   byte 1  sender: node 1 + byte % 3
 *   byte 2- the body
 *
 * Must hold: node 0 survives, its invariants (core_check) hold after every
 * frame, and its member table stays bounded.  Time moves 1 ms per input so
 * that timers fire as the state the frames built up asks.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "fuzz-cluster.h"
#include "fuzz.h"

static struct harness fuzz_h;
static int fuzz_ready;
static uint64_t fuzz_seq = (uint64_t)1 << 40; /* beyond any frame number the senders used */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[CHORUS_FRAME_MAX];
	struct core *c;
	int n, from;

	if (!fuzz_ready) {
		fuzz_cluster_start(&fuzz_h, NULL, NULL);
		fuzz_ready = 1;
	}
	if (size < 2)
		return 0;
	c = fuzz_h.nodes[0].core;
	if (data[0] & 0x80) {
		core_recv(c, data + 1, size - 1, fuzz_h.now_ms);
	} else {
		from = 1 + data[1] % 3;
		n = wire_encode_to(frame, sizeof frame, 1 + data[0] % (WIRE_TYPE_END - 1),
				   fuzz_h.nodes[from].pk, 100 + (uint64_t)from, fuzz_seq++,
				   (const char *)data + 2, size - 2, &crypto_ed25519,
				   fuzz_h.nodes[from].sk, fuzz_h.nodes[0].pk, wire_open_netkey);
		if (n < 0) {
			FUZZ_ASSERT(size - 2 > CHORUS_BODY_MAX,
				    "a body within the bound makes a frame");
			return 0;
		}
		core_recv(c, frame, (size_t)n, fuzz_h.now_ms);
	}
	FUZZ_ASSERT(core_check(c) == NULL, "core_check holds after every frame");
	FUZZ_ASSERT(core_member_count(c) <= CHORUS_MEMBERS_MAX, "membership stays bounded");
	h_run(&fuzz_h, fuzz_h.now_ms + 1);
	return 0;
}

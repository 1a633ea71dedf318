/*
 * fuzz-catchup: the ledger's node-to-node messages (CORE_APP_LEDGER frame
 * bodies): submit and committed (lmsg.c), the catch-up request and block
 * response, and the ledger snapshot bytes (catchup-msg.c).  Each input is
 * tried by every decoder, as the node tries the kind byte.
 *
 * Must hold: every accepted input re-encodes to itself (request, blocks,
 * snapshot, committed records, submit records); parsed records lie inside
 * the input; a submit's texts are within CHORUS_LEDGER_TEXT_MAX.
 */
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "voterd.h"
#include "fuzz.h"
#include "lmsg.h"

static void fuzz_catchup_blocks(const uint8_t *data, size_t size)
{
	static struct catchup_blocks b;
	static uint8_t again[CHORUS_BODY_MAX];
	size_t len;

	if (catchup_blocks_decode(&b, data, size) != 0)
		return;
	FUZZ_ASSERT(b.n <= CATCHUP_BLOCKS_MAX && b.n <= b.top, "block count within bounds");
	FUZZ_ASSERT(catchup_blocks_begin(again, sizeof again, b.req_id, b.top, b.have) ==
			    CATCHUP_BLOCKS_HEADER,
		    "an accepted header re-encodes");
	len = CATCHUP_BLOCKS_HEADER;
	for (unsigned i = 0; i < b.n; i++) {
		FUZZ_ASSERT(b.data[i] > data && b.data[i] + b.len[i] <= data + size,
			    "a block lies inside the message");
		FUZZ_ASSERT(catchup_blocks_add(again, sizeof again, &len, b.data[i], b.len[i]) == 0,
			    "an accepted block re-encodes");
	}
	FUZZ_ASSERT(len == size && memcmp(again, data, size) == 0,
		    "a block response re-encodes to itself");
}

static void fuzz_catchup_small(const uint8_t *data, size_t size)
{
	uint8_t again[CATCHUP_SNAP_BYTES + CATCHUP_REQ_BYTES], hash[LEDGER_HASH_BYTES];
	struct catchup_req q;
	uint64_t height;

	if (catchup_req_decode(&q, data, size) == 0)
		FUZZ_ASSERT(catchup_req_encode(&q, again, sizeof again) == (int)size &&
				    memcmp(again, data, size) == 0,
			    "a catch-up request re-encodes to itself");
	if (catchup_snap_decode(size ? data : NULL, size, &height, hash) == 0 && size > 0) {
		catchup_snap_encode(height, hash, again);
		FUZZ_ASSERT(size == CATCHUP_SNAP_BYTES && memcmp(again, data, size) == 0,
			    "a snapshot re-encodes to itself");
	}
}

static void fuzz_catchup_lmsg(const uint8_t *data, size_t size)
{
	static uint8_t again[CHORUS_BODY_MAX];
	static struct ledger_entry e;
	struct lmsg m;
	const uint8_t *p;
	size_t left, at = 0;

	if (lmsg_parse(&m, data, size) != 0)
		return;
	FUZZ_ASSERT(m.origin == data + 2 && m.records == data + LMSG_HEADER &&
			    m.records_len == size - LMSG_HEADER,
		    "the header and records lie inside the message");
	if (m.kind == LMSG_COMMITTED) {
		for (unsigned k = 0; k < m.count; k++) {
			uint8_t job[CHORUS_JOB_ID_BYTES];
			uint64_t height;

			lmsg_committed_at(&m, k, job, &height);
			lmsg_put_committed(again + at, job, height);
			at += LMSG_COMMITTED_BYTES;
		}
		FUZZ_ASSERT(at == m.records_len && memcmp(again, m.records, at) == 0,
			    "committed records re-encode to themselves");
		return;
	}
	p = m.records;
	left = m.records_len;
	for (unsigned k = 0; k < m.count && lmsg_next_entry(&p, &left, &e) == 0; k++) {
		FUZZ_ASSERT(e.ack_len > 0 && e.ack_len <= CHORUS_LEDGER_TEXT_MAX &&
				    e.receipt_len > 0 && e.receipt_len <= CHORUS_LEDGER_TEXT_MAX,
			    "submit texts within the bound");
		FUZZ_ASSERT(lmsg_entry_size(&e) == (size_t)(p - m.records) - at,
			    "a record's size is what it took");
		FUZZ_ASSERT(lmsg_put_entry(again, &e) == lmsg_entry_size(&e) &&
				    memcmp(again, m.records + at, lmsg_entry_size(&e)) == 0,
			    "a submit record re-encodes to itself");
		at = (size_t)(p - m.records);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_catchup_blocks(data, size);
	fuzz_catchup_small(data, size);
	fuzz_catchup_lmsg(data, size);
	return 0;
}

/*
 * fuzz-ledger: the ledger's block decoder (ledger_block_peek,
 * ledger_block_to_json, ledger_block_apply) and the leader's block builder.
 * Byte 0 picks:
 *
 *   even  the rest is a block, applied to a fresh ledger
 *   odd   the rest is a ledger submit message's records (lmsg.h: the entries
 *         a voter receives), built into blocks by a leader and applied
 *
 * Signatures are not what is fuzzed here: a stand-in crypto takes every
 * signature as good, so inputs reach the checks behind them (the entry
 * texts, links, bounds and credits), as a leader's own key or a member's
 * would.  Hashes are real.
 *
 * Must hold: a block that converts to JSON also peeks; a refused block
 * leaves the ledger exactly as it was (height and state hash); an applied
 * one is block 1, its hash the new head, and applying it again changes
 * nothing; and every block the leader builds applies ("no input halts the
 * ledger": apply checks nothing the builder did not).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chorus/ledger.h"
#include "core-internal.h"
#include "fuzz.h"
#include "lmsg.h"

static void fuzz_ledger_sign(uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
			     const uint8_t sk[CHORUS_SK_BYTES])
{
	(void)msg, (void)len, (void)sk;
	memset(sig, 0x5a, CHORUS_SIG_BYTES);
}

static int fuzz_ledger_verify(const uint8_t sig[CHORUS_SIG_BYTES], const uint8_t *msg, size_t len,
			      const uint8_t pk[CHORUS_PK_BYTES])
{
	(void)sig, (void)msg, (void)len, (void)pk;
	return 0;
}

static const struct core_crypto fuzz_ledger_crypto = { .name = "fuzz",
						       .sign = fuzz_ledger_sign,
						       .verify = fuzz_ledger_verify };

static void fuzz_ledger_block(const uint8_t *b, size_t len)
{
	struct ledger *l;
	struct ledger_block_info info;
	uint8_t before[LEDGER_HASH_BYTES], after[LEDGER_HASH_BYTES], head[LEDGER_HASH_BYTES];
	cJSON *json = ledger_block_to_json(b, len);
	int peek = ledger_block_peek(b, len, &info), rc;

	FUZZ_ASSERT(json == NULL || peek == 0, "a block shown as JSON also peeks");
	cJSON_Delete(json);
	if (ledger_create(&l, &fuzz_ledger_crypto) != 0)
		abort();
	ledger_state_hash(l, before);
	rc = ledger_block_apply(l, b, len);
	ledger_state_hash(l, after);
	if (rc != 0) {
		FUZZ_ASSERT(ledger_height(l) == 0 && memcmp(before, after, sizeof before) == 0,
			    "a refused block leaves the ledger as it was");
	} else {
		FUZZ_ASSERT(peek == 0 && info.height == 1 && ledger_height(l) == 1,
			    "an applied block peeks and is block 1");
		ledger_head_hash(l, head);
		FUZZ_ASSERT(memcmp(head, info.hash, sizeof head) == 0,
			    "the applied block is the head");
		FUZZ_ASSERT(ledger_block_apply(l, b, len) != 0, "a block applies once");
		ledger_state_hash(l, before);
		FUZZ_ASSERT(memcmp(before, after, sizeof before) == 0,
			    "applying it again changes nothing");
	}
	ledger_destroy(l);
}

static void fuzz_ledger_build(const uint8_t *p, size_t left)
{
	static struct ledger_entry entries[LMSG_RECORDS_MAX];
	static const uint8_t leader_pk[CHORUS_PK_BYTES] = { 7 }, leader_sk[CHORUS_SK_BYTES] = { 7 };
	struct ledger *l;
	size_t n = 0, at = 0;

	while (n < LMSG_RECORDS_MAX && lmsg_next_entry(&p, &left, &entries[n]) == 0)
		n++;
	if (n == 0 || ledger_create(&l, &fuzz_ledger_crypto) != 0)
		return;
	/* As a leader does: build on the head, apply, build the rest (bounded: each build takes one). */
	for (int round = 0; at < n && round < LMSG_RECORDS_MAX; round++) {
		uint8_t *block = NULL;
		size_t used = 0, len = 0;
		int rc = ledger_block_build(l, 1, leader_pk, leader_sk, 1700000000000ull,
					    entries + at, n - at, &used, &block, &len);

		FUZZ_ASSERT(rc == 0, "the leader builds a block from any entries");
		FUZZ_ASSERT(used > 0 && used <= n - at, "every build takes some entries");
		at += used;
		if (block == NULL)
			continue;
		rc = ledger_block_apply(l, block, len);
		if (rc != 0)
			fprintf(stderr, "apply: %s\n", ledger_why(l));
		FUZZ_ASSERT(rc == 0, "every block the leader builds applies");
		free(block);
	}
	ledger_destroy(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_ledger_block(data + 1, size - 1);
	else
		fuzz_ledger_build(data + 1, size - 1);
	return 0;
}

/*
 * fuzz-api: the HTTP API's request bodies (src/node/api-body.c), which any
 * local process can send: POST /v1/jobs, POST /v1/ledger/acks (completion
 * records from anywhere, the issue-13 poison path) and remove-voter.  Each
 * input is tried as all three.
 *
 * Must hold: an accepted job spec is within every bound the core takes
 * (kind, payload, timeout, reward, priority, queue timeout) and a refused
 * one says why; an accepted ack body gives texts within
 * CHORUS_LEDGER_TEXT_MAX, NUL-terminated at their length, and checking it against the ledger's rules (real
 * signatures: refused, never a crash) answers; a voter id is bounded.
 */
#include <string.h>

#include "api-body.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t payload[CHORUS_PAYLOAD_MAX];
	static struct ledger_entry e;
	struct ledger_entry_info info;
	uint8_t job[CHORUS_JOB_ID_BYTES];
	char id[CHORUS_ID_HEX + 1];
	struct job_spec spec;
	const char *why = api_body_job((const char *)data, size, &spec, payload);

	if (why == NULL) {
		size_t k = strlen(spec.kind);

		FUZZ_ASSERT(k > 0 && k <= CHORUS_KIND_MAX &&
				    strspn(spec.kind,
					   "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == k,
			    "an accepted kind is a name");
		FUZZ_ASSERT(spec.payload == payload && spec.payload_len <= CHORUS_PAYLOAD_MAX,
			    "an accepted payload is within the bound");
		FUZZ_ASSERT(spec.timeout_ms <= CHORUS_JOB_TIMEOUT_MS_MAX &&
				    spec.reward <= 1000000000000000ull,
			    "timeout and reward within their bounds");
		FUZZ_ASSERT(spec.priority <= CHORUS_PRIORITY_MAX &&
				    spec.queue_timeout_ms <= CHORUS_QUEUE_TIMEOUT_MS_MAX,
			    "priority and queue timeout within their bounds");
	} else {
		FUZZ_ASSERT(why[0] != '\0', "a refusal says why");
	}
	if (api_body_ack((const char *)data, size, &e) == 0) {
		FUZZ_ASSERT(e.ack_len > 0 && e.ack_len <= CHORUS_LEDGER_TEXT_MAX &&
				    strlen(e.ack_text) == e.ack_len,
			    "an accepted ack text is bounded and whole");
		FUZZ_ASSERT(e.receipt_len > 0 && e.receipt_len <= CHORUS_LEDGER_TEXT_MAX &&
				    strlen(e.receipt_text) == e.receipt_len,
			    "an accepted receipt text is bounded and whole");
		(void)ledger_entry_job(&e, job);
		FUZZ_ASSERT(ledger_entry_check(NULL, &e, &info) <= 0, "an entry check answers");
	}
	if (api_body_voter((const char *)data, size, id) == 0)
		FUZZ_ASSERT(strlen(id) <= CHORUS_ID_HEX, "a voter id is bounded");
	return 0;
}

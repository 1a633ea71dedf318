/*
 * api-body: the HTTP API's request bodies, parsed and checked apart from
 * evhttp, so that tests/fuzz/fuzz-api can feed them any bytes.  The
 * handlers in api-jobs.c and api-ledger.c call these and act on the result.
 */
#ifndef CHORUS_NODE_API_BODY_H
#define CHORUS_NODE_API_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/core.h"
#include "chorus/ledger.h"

/*
 * POST /v1/jobs: {"kind","payload_b64","timeout_ms","reward"} into spec (the
 * payload decoded into payload, CHORUS_PAYLOAD_MAX bytes).  NULL, or what is
 * wrong with the body (a sentence for the 400 answer).
 */
const char *api_body_job(const char *text, size_t len, struct job_spec *spec, uint8_t *payload);

/* POST /v1/ledger/acks: {"ack","ack_sig","receipt","receipt_sig"} into e; 0 or -EINVAL. */
int api_body_ack(const char *text, size_t len, struct ledger_entry *e);

/* POST /v1/ledger/remove-voter: {"id": "<hex id or prefix>"}; 0 and id, or -EINVAL. */
int api_body_voter(const char *text, size_t len, char id[CHORUS_ID_HEX + 1]);

#endif

/*
 * lmsg: the ledger's node-to-node messages (CORE_APP_LEDGER frame bodies),
 * encoded and decoded without I/O, so tests/unit/test-lmsg can fuzz them.
 *
 * Header: kind (1), flags (1), origin key (32: whose outbox holds the
 * records, the answers go there), count (1); then count records:
 *   submit:    u16 ack len, ack, ack auth, u16 receipt len, receipt, receipt auth
 *              (an auth: the signer's batch authenticator as batchsig_encode() writes it)
 *   committed: job id (16), height (u64); height 0 (blocks start at 1): the
 *              ledger refused the entry (it does not check), see voterd.c
 * Every length is checked; a text is 1..CHORUS_LEDGER_TEXT_MAX bytes and
 * nothing may trail the last record.
 */
#ifndef CHORUS_NODE_LMSG_H
#define CHORUS_NODE_LMSG_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/ledger.h"

enum { LMSG_SUBMIT = 1, LMSG_COMMITTED = 2 };
#define LMSG_FORWARDED       0x01 /* a voter passed it on to the leader: never again */
#define LMSG_HEADER          (3 + CHORUS_PK_BYTES)
#define LMSG_RECORDS_MAX     255
#define LMSG_COMMITTED_BYTES (CHORUS_JOB_ID_BYTES + 8)

struct lmsg {
	uint8_t kind, flags;
	const uint8_t *origin; /* into the body */
	unsigned count;
	const uint8_t *records; /* into the body */
	size_t records_len;
};

/* 0 and m filled when the header is sound and kind is known; -1 otherwise. */
int lmsg_parse(struct lmsg *m, const uint8_t *body, size_t len);

/* A submit record's size, and its encoding at out (that many bytes). */
size_t lmsg_entry_size(const struct ledger_entry *e);
size_t lmsg_put_entry(uint8_t *out, const struct ledger_entry *e);
/* The next submit record from *p (*left bytes): 0 and e filled, or -1. */
int lmsg_next_entry(const uint8_t **p, size_t *left, struct ledger_entry *e);

/* A committed record. */
void lmsg_put_committed(uint8_t *out, const uint8_t job[CHORUS_JOB_ID_BYTES], uint64_t height);
/* Committed record k of m (m->kind == LMSG_COMMITTED; m->records_len checked by lmsg_parse). */
void lmsg_committed_at(const struct lmsg *m, unsigned k, uint8_t job[CHORUS_JOB_ID_BYTES],
                       uint64_t *height);

#endif

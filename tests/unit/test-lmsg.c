/*
 * The ledger's node-to-node messages (src/node/lmsg.c): well-formed bodies
 * round-trip; random, truncated, mutated and lying bodies are rejected or
 * decode within bounds, never crash and never read past the body (run under
 * the sanitizers or valgrind to prove the last part).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmsg.h"
#include "tap.h"

#define ROUNDS 200000

static uint64_t rs = 0x2545f4914f6cdd1dULL;
static uint64_t next(void)
{
	return tap_rand(&rs);
}

static void fill(struct ledger_entry *e, int i)
{
	memset(e, 0, sizeof *e);
	e->ack_len = (uint16_t)snprintf(e->ack_text, sizeof e->ack_text, "{\"ack\":%d}", i);
	e->receipt_len = (uint16_t)(1 + i % CHORUS_LEDGER_TEXT_MAX);
	memset(e->receipt_text, 'r', e->receipt_len);
	/* Authenticators of every shape: batches of 1 .. 64, proofs of 0 .. 6 hashes. */
	e->ack_auth.count = (uint16_t)(1 + i % 64);
	e->ack_auth.index = (uint16_t)(i % e->ack_auth.count);
	e->ack_auth.nproof = (uint8_t)(i % 7);
	memset(e->ack_auth.proof, i + 2, (size_t)e->ack_auth.nproof * MERKLE_HASH_BYTES);
	memset(e->ack_auth.sig, i, sizeof e->ack_auth.sig);
	e->receipt_auth.count = 1;
	memset(e->receipt_auth.sig, i + 1, sizeof e->receipt_auth.sig);
}

/* A submit body of n entries; returns its length. */
static size_t submit_body(uint8_t *buf, int n)
{
	size_t len = LMSG_HEADER;
	struct ledger_entry e;

	buf[0] = LMSG_SUBMIT;
	buf[1] = 0;
	memset(buf + 2, 7, CHORUS_PK_BYTES);
	buf[2 + CHORUS_PK_BYTES] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		fill(&e, i * 97);
		len += lmsg_put_entry(buf + len, &e);
	}
	return len;
}

/* Decodes a body the way the node does; returns records decoded, -1 when rejected. */
static int decode(const uint8_t *body, size_t len)
{
	struct ledger_entry e;
	struct lmsg m;
	const uint8_t *p;
	size_t left;
	unsigned k;

	if (lmsg_parse(&m, body, len) != 0)
		return -1;
	if (m.kind == LMSG_COMMITTED) {
		uint8_t job[CHORUS_JOB_ID_BYTES];
		uint64_t h;

		for (k = 0; k < m.count; k++)
			lmsg_committed_at(&m, k, job, &h);
		return (int)k;
	}
	p = m.records;
	left = m.records_len;
	for (k = 0; k < m.count; k++) {
		if (lmsg_next_entry(&p, &left, &e) != 0)
			return -1;
		if (e.ack_len == 0 || e.ack_len > CHORUS_LEDGER_TEXT_MAX || e.receipt_len == 0 ||
		    e.receipt_len > CHORUS_LEDGER_TEXT_MAX || p > body + len)
			return -2; /* a bound broken: the test fails */
	}
	return left == 0 ? (int)k : -1;
}

int main(void)
{
	uint8_t *buf = malloc(CHORUS_BODY_MAX), *mut = malloc(CHORUS_BODY_MAX + 64);
	struct ledger_entry e, back;
	const uint8_t *p;
	size_t len, left;
	struct lmsg m;
	long rejected = 0, accepted = 0, broken = 0;

	if (buf == NULL || mut == NULL)
		return 1;
	len = submit_body(buf, 20);
	ok(decode(buf, len) == 20, "a submit of 20 records decodes whole");
	fill(&e, 5 * 97);
	ok(lmsg_parse(&m, buf, len) == 0 && m.count == 20 && m.kind == LMSG_SUBMIT, "header parsed");
	p = m.records;
	left = m.records_len;
	for (int i = 0; i < 6; i++)
		lmsg_next_entry(&p, &left, &back);
	ok(back.ack_len == e.ack_len && memcmp(back.ack_text, e.ack_text, e.ack_len) == 0 &&
	       back.receipt_len == e.receipt_len &&
	       memcmp(&back.ack_auth, &e.ack_auth, sizeof e.ack_auth) == 0 &&
	       memcmp(&back.receipt_auth, &e.receipt_auth, sizeof e.receipt_auth) == 0,
	   "a record round-trips (texts and authenticators)");
	ok(decode(buf, len - 1) < 0, "a truncated submit is rejected");
	buf[2 + CHORUS_PK_BYTES] = 21;
	ok(decode(buf, len) < 0, "a count above the records is rejected");
	buf[2 + CHORUS_PK_BYTES] = 19;
	ok(decode(buf, len) < 0, "trailing bytes are rejected");
	buf[2 + CHORUS_PK_BYTES] = 20;
	buf[LMSG_HEADER] = 0xff; /* the first ack's length: 65280+ */
	ok(decode(buf, len) < 0, "an oversized text length is rejected");
	ok(decode(buf, 3) < 0 && decode(NULL, 0) < 0, "short bodies are rejected");
	buf[0] = 9;
	ok(decode(buf, len) < 0, "an unknown kind is rejected");
	buf[0] = LMSG_COMMITTED;
	buf[2 + CHORUS_PK_BYTES] = 2;
	lmsg_put_committed(buf + LMSG_HEADER, (const uint8_t *)"0123456789abcdef", 77);
	lmsg_put_committed(buf + LMSG_HEADER + LMSG_COMMITTED_BYTES,
	                   (const uint8_t *)"fedcba9876543210", (uint64_t)1 << 40);
	ok(decode(buf, LMSG_HEADER + 2 * LMSG_COMMITTED_BYTES) == 2, "a committed of 2 decodes");
	{
		uint8_t job[CHORUS_JOB_ID_BYTES];
		uint64_t h;

		lmsg_parse(&m, buf, LMSG_HEADER + 2 * LMSG_COMMITTED_BYTES);
		lmsg_committed_at(&m, 1, job, &h);
		ok(h == (uint64_t)1 << 40 && memcmp(job, "fedcba9876543210", 16) == 0,
		   "a committed record round-trips");
	}
	ok(decode(buf, LMSG_HEADER + 2 * LMSG_COMMITTED_BYTES + 1) < 0,
	   "a committed with a trailing byte is rejected");

	/* Fuzz: mutations of valid bodies and random bodies, bounded in count. */
	for (long r = 0; r < ROUNDS; r++) {
		int rc;

		if (r % 3 == 0) {
			len = (size_t)(next() % 2048);
			for (size_t i = 0; i < len; i++)
				mut[i] = (uint8_t)next();
			if (len > 0)
				mut[0] = (uint8_t)(1 + next() % 2);
		} else {
			size_t flips = 1 + next() % 8;

			len = submit_body(mut, (int)(1 + next() % 12));
			for (size_t f = 0; f < flips; f++)
				mut[next() % len] ^= (uint8_t)(1u << (next() % 8));
			if (next() % 4 == 0)
				len = (size_t)(next() % len);
		}
		rc = decode(len ? mut : NULL, len);
		broken += rc == -2;
		rejected += rc < 0;
		accepted += rc >= 0;
	}
	ok(broken == 0, "fuzz: no decoded record breaks a bound (%d rounds)", ROUNDS);
	ok(rejected > 0 && accepted > 0, "fuzz: both outcomes seen (%ld rejected, %ld accepted)",
	   rejected, accepted);
	free(buf);
	free(mut);
	return tap_done();
}

/* lmsg: the ledger's node-to-node messages; formats in lmsg.h. */
#include <string.h>

#include "lmsg.h"

int lmsg_parse(struct lmsg *m, const uint8_t *body, size_t len)
{
	memset(m, 0, sizeof *m);
	if (body == NULL || len < LMSG_HEADER || len > CHORUS_BODY_MAX)
		return -1;
	m->kind = body[0];
	m->flags = body[1];
	m->origin = body + 2;
	m->count = body[2 + CHORUS_PK_BYTES];
	m->records = body + LMSG_HEADER;
	m->records_len = len - LMSG_HEADER;
	if (m->kind == LMSG_COMMITTED)
		return m->records_len == (size_t)m->count * LMSG_COMMITTED_BYTES ? 0 : -1;
	if (m->kind == LMSG_SUBMIT)
		return m->count > 0 ? 0 : -1; /* records are checked one by one */
	return -1;
}

static size_t lmsg_put_text(uint8_t *out, const char *text, uint16_t len,
                            const struct batchsig *auth)
{
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	memcpy(out + 2, text, len);
	return 2 + (size_t)len + batchsig_encode(out + 2 + len, auth);
}

size_t lmsg_entry_size(const struct ledger_entry *e)
{
	return 2 * 2 + (size_t)e->ack_len + e->receipt_len + batchsig_encoded_len(&e->ack_auth) +
	       batchsig_encoded_len(&e->receipt_auth);
}

size_t lmsg_put_entry(uint8_t *out, const struct ledger_entry *e)
{
	size_t n = lmsg_put_text(out, e->ack_text, e->ack_len, &e->ack_auth);

	return n + lmsg_put_text(out + n, e->receipt_text, e->receipt_len, &e->receipt_auth);
}

/* One length-prefixed text and its authenticator; 0 or -1 (lengths checked exactly). */
static int lmsg_next_text(const uint8_t **p, size_t *left, char *text, uint16_t *len,
                          struct batchsig *auth)
{
	size_t n, used;

	if (*left < 2)
		return -1;
	n = (size_t)(*p)[0] << 8 | (*p)[1];
	if (n == 0 || n > CHORUS_LEDGER_TEXT_MAX || *left - 2 < n ||
	    batchsig_decode(auth, *p + 2 + n, *left - 2 - n, &used) != 0)
		return -1;
	memcpy(text, *p + 2, n);
	text[n] = '\0';
	*len = (uint16_t)n;
	*p += 2 + n + used;
	*left -= 2 + n + used;
	return 0;
}

int lmsg_next_entry(const uint8_t **p, size_t *left, struct ledger_entry *e)
{
	memset(e, 0, sizeof *e);
	if (lmsg_next_text(p, left, e->ack_text, &e->ack_len, &e->ack_auth) != 0 ||
	    lmsg_next_text(p, left, e->receipt_text, &e->receipt_len, &e->receipt_auth) != 0)
		return -1;
	return 0;
}

void lmsg_put_committed(uint8_t *out, const uint8_t job[CHORUS_JOB_ID_BYTES], uint64_t height)
{
	memcpy(out, job, CHORUS_JOB_ID_BYTES);
	for (int k = 0; k < 8; k++)
		out[CHORUS_JOB_ID_BYTES + k] = (uint8_t)(height >> (56 - 8 * k));
}

void lmsg_committed_at(const struct lmsg *m, unsigned k, uint8_t job[CHORUS_JOB_ID_BYTES],
                       uint64_t *height)
{
	const uint8_t *r = m->records + (size_t)k * LMSG_COMMITTED_BYTES;

	memcpy(job, r, CHORUS_JOB_ID_BYTES);
	*height = 0;
	for (int i = 0; i < 8; i++)
		*height = *height << 8 | r[CHORUS_JOB_ID_BYTES + i];
}

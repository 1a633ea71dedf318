/* lread-msg: the bytes of the ledger read messages; format and rules in lread.h. */
#include <errno.h>
#include <string.h>

#include "lread.h"

static void lread_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t lread_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int lread_op_valid(uint8_t op)
{
	return op >= LREAD_STATUS && op <= LREAD_BALANCES;
}

int lread_req_encode(const struct lread_req *q, uint8_t *out, size_t cap)
{
	if (cap < LREAD_REQ_BYTES || !lread_op_valid(q->op) || q->limit > LREAD_ITEMS_MAX)
		return -EINVAL;
	out[0] = LREAD_MSG_REQ;
	out[1] = LREAD_VERSION;
	lread_put64(out + 2, q->req_id);
	out[10] = q->op;
	lread_put64(out + 11, q->from);
	out[19] = (uint8_t)(q->limit >> 8);
	out[20] = (uint8_t)q->limit;
	memcpy(out + 21, q->job, CHORUS_JOB_ID_BYTES);
	return LREAD_REQ_BYTES;
}

int lread_req_decode(struct lread_req *q, const uint8_t *buf, size_t len)
{
	if (len != LREAD_REQ_BYTES || buf[0] != LREAD_MSG_REQ || buf[1] != LREAD_VERSION ||
	    !lread_op_valid(buf[10]))
		return -EINVAL;
	q->req_id = lread_get64(buf + 2);
	q->op = buf[10];
	q->from = lread_get64(buf + 11);
	q->limit = (uint16_t)(buf[19] << 8 | buf[20]);
	memcpy(q->job, buf + 21, CHORUS_JOB_ID_BYTES);
	if (q->limit > LREAD_ITEMS_MAX)
		return -EINVAL;
	return 0;
}

int lread_ans_begin(uint8_t *out, size_t cap, const struct lread_ans *a)
{
	if (cap < LREAD_ANS_HEADER || !lread_op_valid(a->op) || a->code > LREAD_BAD)
		return -EINVAL;
	out[0] = LREAD_MSG_ANS;
	out[1] = LREAD_VERSION;
	lread_put64(out + 2, a->req_id);
	out[10] = a->op;
	out[11] = a->code;
	lread_put64(out + 12, a->term);
	lread_put64(out + 20, a->leader);
	lread_put64(out + 28, a->height);
	lread_put64(out + 36, a->total);
	out[44] = 0;
	out[45] = 0;
	return LREAD_ANS_HEADER;
}

int lread_ans_add(uint8_t *out, size_t cap, size_t *len, const uint8_t *item, size_t ilen)
{
	unsigned n = (unsigned)out[44] << 8 | out[45];

	if (ilen > UINT32_MAX || *len > cap || cap - *len < 4 + ilen)
		return -ENOSPC;
	if (n >= LREAD_ITEMS_MAX)
		return -ENOSPC;
	for (int i = 0; i < 4; i++)
		out[*len + (size_t)i] = (uint8_t)(ilen >> (24 - 8 * i));
	memcpy(out + *len + 4, item, ilen);
	*len += 4 + ilen;
	n++;
	out[44] = (uint8_t)(n >> 8);
	out[45] = (uint8_t)n;
	return 0;
}

int lread_ans_decode(struct lread_ans *a, const uint8_t *buf, size_t len)
{
	size_t at = LREAD_ANS_HEADER;

	if (len < LREAD_ANS_HEADER || buf[0] != LREAD_MSG_ANS || buf[1] != LREAD_VERSION ||
	    !lread_op_valid(buf[10]) || buf[11] > LREAD_BAD)
		return -EINVAL;
	a->req_id = lread_get64(buf + 2);
	a->op = buf[10];
	a->code = buf[11];
	a->term = lread_get64(buf + 12);
	a->leader = lread_get64(buf + 20);
	a->height = lread_get64(buf + 28);
	a->total = lread_get64(buf + 36);
	a->n = (uint16_t)(buf[44] << 8 | buf[45]);
	if (a->n > LREAD_ITEMS_MAX)
		return -EINVAL;
	for (unsigned k = 0; k < a->n; k++) {
		uint32_t l;

		if (len - at < 4)
			return -EINVAL;
		l = (uint32_t)buf[at] << 24 | (uint32_t)buf[at + 1] << 16 | (uint32_t)buf[at + 2] << 8 |
		    buf[at + 3];
		at += 4;
		if (l > len - at)
			return -EINVAL;
		a->item[k] = buf + at;
		a->len[k] = l;
		at += l;
	}
	return at == len ? 0 : -EINVAL;
}

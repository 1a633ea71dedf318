/*
 * raft-msg: the wire form of raft messages and configuration entries.
 *
 * Layout (big-endian), version CHORUS_RAFT_WIRE_VERSION; bump it when this
 * changes:
 *
 *   0  'R'  version  type  flags
 *   4  from to term index log_term commit hint_index hint_term   (u64 each)
 *   68 count (u32): entries (APPEND) or 0
 *   72 APPEND:   count x { term u64, type u8, len u32, data }
 *      SNAPSHOT: index u64, term u64, nvoters u32, voters u64..., len u32, data
 *
 * Entry indexes are implicit (index + 1 + i).  The decoder checks every
 * length against what is left and against the bounds in limits.h, and
 * refuses trailing bytes, so one encoding has exactly one decoding.
 */
#include "raft-internal.h"

#define RAFT_MAGIC 'R'

const char *raft_strerror(int err)
{
	switch (err) {
	case RAFT_ERR_NOT_LEADER: return "not the leader";
	case RAFT_ERR_BUSY: return "a change is already in progress";
	case RAFT_ERR_UNAVAILABLE: return "index unavailable";
	}
	return core_strerror(err);
}

const char *raft_state_name(int state)
{
	static const char *names[] = { "follower", "pre-candidate", "candidate", "leader" };

	return state >= 0 && state <= RAFT_LEADER ? names[state] : "unknown";
}

const char *raft_msg_type_name(int type)
{
	static const char *names[] = { "?", "append", "append-resp", "vote", "vote-resp",
		                       "pre-vote", "pre-vote-resp", "heartbeat", "heartbeat-resp",
		                       "snapshot", "timeout-now" };

	return type > 0 && type < RAFT_MSG_TYPE_END ? names[type] : "unknown";
}

int raft_conf_has(const struct raft_conf *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->ids[i] == id)
			return 1;
	}
	return 0;
}

int raft_conf_valid(const struct raft_conf *c)
{
	if (c->n > CHORUS_RAFT_VOTERS_MAX)
		return 0;
	for (uint32_t i = 0; i < c->n; i++) {
		/* Sorted and unique: one encoding per set, cheap membership checks. */
		if (c->ids[i] == RAFT_NONE || (i > 0 && c->ids[i] <= c->ids[i - 1]))
			return 0;
	}
	return 1;
}

int raft_conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
	return a->n == b->n && memcmp(a->ids, b->ids, a->n * sizeof(a->ids[0])) == 0;
}

int raft_conf_encode(const struct raft_conf *c, uint8_t *out, size_t cap)
{
	size_t len = 4 + 8 * (size_t)c->n;

	if (!raft_conf_valid(c))
		return CORE_ERR_INVAL;
	if (cap < len)
		return CORE_ERR_OVERSIZE;
	codec_put_u32(out, c->n);
	for (uint32_t i = 0; i < c->n; i++)
		codec_put_u64(out + 4 + 8 * i, c->ids[i]);
	return (int)len;
}

int raft_conf_decode(struct raft_conf *c, const uint8_t *buf, size_t len)
{
	uint32_t n;

	if (len < 4)
		return CORE_ERR_MALFORMED;
	n = codec_get_u32(buf);
	if (n > CHORUS_RAFT_VOTERS_MAX)
		return CORE_ERR_OVERSIZE;
	if (len != 4 + 8 * (size_t)n)
		return CORE_ERR_MALFORMED;
	memset(c, 0, sizeof(*c));
	c->n = n;
	for (uint32_t i = 0; i < n; i++)
		c->ids[i] = codec_get_u64(buf + 4 + 8 * i);
	return raft_conf_valid(c) ? 0 : CORE_ERR_MALFORMED;
}

static int raft_msg_validate_entries(const struct raft_msg *m)
{
	size_t bytes = 0;
	struct raft_conf c;

	if (m->nentries > CHORUS_RAFT_APPEND_ENTRIES_MAX)
		return CORE_ERR_OVERSIZE;
	for (uint32_t i = 0; i < m->nentries; i++) {
		const struct raft_entry *e = &m->entries[i];

		if (e->index != m->index + 1 + i || e->term > m->term || e->term < m->log_term ||
		    (i > 0 && e->term < m->entries[i - 1].term) || e->type >= RAFT_ENTRY_TYPE_END)
			return CORE_ERR_MALFORMED;
		if (e->len > CHORUS_RAFT_ENTRY_MAX)
			return CORE_ERR_OVERSIZE;
		if (e->len > 0 && e->data == NULL)
			return CORE_ERR_MALFORMED;
		if (e->type == RAFT_ENTRY_CONF && raft_conf_decode(&c, e->data, e->len) != 0)
			return CORE_ERR_MALFORMED;
		bytes += CHORUS_RAFT_ENTRY_HEADER + e->len;
	}
	return bytes <= CHORUS_RAFT_APPEND_BYTES_MAX ? 0 : CORE_ERR_OVERSIZE;
}

int raft_msg_validate(const struct raft_msg *m)
{
	if (m->type == 0 || m->type >= RAFT_MSG_TYPE_END)
		return CORE_ERR_MALFORMED;
	if (m->from == RAFT_NONE || m->to == RAFT_NONE || m->from == m->to)
		return CORE_ERR_MALFORMED;
	if ((m->flags & ~(RAFT_MSG_REJECT | RAFT_MSG_TRANSFER | RAFT_MSG_REMOVED)) != 0)
		return CORE_ERR_MALFORMED;
	/* A term near 2^64 would wrap when a follower campaigns on it (raft_reset asserts); see limits.h. */
	if (m->term >= CHORUS_RAFT_TERM_MAX)
		return CORE_ERR_MALFORMED;
	if (m->type != RAFT_MSG_APPEND && m->nentries != 0)
		return CORE_ERR_MALFORMED;
	if (m->type == RAFT_MSG_APPEND)
		return raft_msg_validate_entries(m);
	if (m->type == RAFT_MSG_SNAPSHOT) {
		if (m->snap.len > CHORUS_RAFT_SNAPSHOT_MAX)
			return CORE_ERR_OVERSIZE;
		/* Terms start at 1: a snapshot of term 0 would match "no entry" (raft_term_of). */
		if (!raft_conf_valid(&m->snap.conf) || m->snap.index == 0 || m->snap.term == 0 ||
		    m->snap.term > m->term ||
		    (m->snap.len > 0 && m->snap.data == NULL))
			return CORE_ERR_MALFORMED;
	}
	return 0;
}

static void raft_msg_put_header(const struct raft_msg *m, uint8_t *p)
{
	p[0] = RAFT_MAGIC;
	p[1] = CHORUS_RAFT_WIRE_VERSION;
	p[2] = m->type;
	p[3] = m->flags;
	codec_put_u64(p + 4, m->from);
	codec_put_u64(p + 12, m->to);
	codec_put_u64(p + 20, m->term);
	codec_put_u64(p + 28, m->index);
	codec_put_u64(p + 36, m->log_term);
	codec_put_u64(p + 44, m->commit);
	codec_put_u64(p + 52, m->hint_index);
	codec_put_u64(p + 60, m->hint_term);
	codec_put_u32(p + 68, m->nentries);
}

int raft_msg_encode(const struct raft_msg *m, uint8_t *out, size_t cap)
{
	size_t len = CHORUS_RAFT_MSG_HEADER;
	int err = raft_msg_validate(m);

	if (err != 0)
		return err;
	len += m->type == RAFT_MSG_SNAPSHOT ? 20 + 8 * (size_t)m->snap.conf.n + 4 + m->snap.len : 0;
	for (uint32_t i = 0; i < m->nentries; i++)
		len += CHORUS_RAFT_ENTRY_HEADER + m->entries[i].len;
	assert(len <= CHORUS_RAFT_MSG_MAX);
	if (cap < len)
		return CORE_ERR_OVERSIZE;
	raft_msg_put_header(m, out);
	len = CHORUS_RAFT_MSG_HEADER;
	for (uint32_t i = 0; i < m->nentries; i++) {
		const struct raft_entry *e = &m->entries[i];

		codec_put_u64(out + len, e->term);
		out[len + 8] = e->type;
		codec_put_u32(out + len + 9, e->len);
		if (e->len > 0)
			memcpy(out + len + CHORUS_RAFT_ENTRY_HEADER, e->data, e->len);
		len += CHORUS_RAFT_ENTRY_HEADER + e->len;
	}
	if (m->type == RAFT_MSG_SNAPSHOT) {
		codec_put_u64(out + len, m->snap.index);
		codec_put_u64(out + len + 8, m->snap.term);
		len += 16;
		len += (size_t)raft_conf_encode(&m->snap.conf, out + len, cap - len);
		codec_put_u32(out + len, m->snap.len);
		if (m->snap.len > 0)
			memcpy(out + len + 4, m->snap.data, m->snap.len);
		len += 4 + m->snap.len;
	}
	return (int)len;
}

static int raft_msg_decode_entries(struct raft_msg *m, struct raft_entry *ents, size_t cap,
                                   const uint8_t *p, size_t left)
{
	if (m->nentries > CHORUS_RAFT_APPEND_ENTRIES_MAX || m->nentries > cap)
		return CORE_ERR_OVERSIZE;
	for (uint32_t i = 0; i < m->nentries; i++) {
		struct raft_entry *e = &ents[i];

		if (left < CHORUS_RAFT_ENTRY_HEADER)
			return CORE_ERR_MALFORMED;
		e->index = m->index + 1 + i;
		e->term = codec_get_u64(p);
		e->type = p[8];
		e->len = codec_get_u32(p + 9);
		p += CHORUS_RAFT_ENTRY_HEADER;
		left -= CHORUS_RAFT_ENTRY_HEADER;
		if (e->len > CHORUS_RAFT_ENTRY_MAX)
			return CORE_ERR_OVERSIZE;
		if (e->len > left)
			return CORE_ERR_MALFORMED;
		e->data = e->len > 0 ? p : NULL;
		p += e->len;
		left -= e->len;
	}
	m->entries = m->nentries > 0 ? ents : NULL;
	return left == 0 ? 0 : CORE_ERR_MALFORMED;
}

static int raft_msg_decode_snapshot(struct raft_msg *m, const uint8_t *p, size_t left)
{
	size_t conf_len;

	if (left < 20)
		return CORE_ERR_MALFORMED;
	m->snap.index = codec_get_u64(p);
	m->snap.term = codec_get_u64(p + 8);
	if (codec_get_u32(p + 16) > CHORUS_RAFT_VOTERS_MAX)
		return CORE_ERR_OVERSIZE;
	conf_len = 4 + 8 * (size_t)codec_get_u32(p + 16);
	if (left < 16 + conf_len + 4 || raft_conf_decode(&m->snap.conf, p + 16, conf_len) != 0)
		return CORE_ERR_MALFORMED;
	p += 16 + conf_len;
	left -= 16 + conf_len + 4;
	m->snap.len = codec_get_u32(p);
	if (m->snap.len > CHORUS_RAFT_SNAPSHOT_MAX)
		return CORE_ERR_OVERSIZE;
	if (m->snap.len != left)
		return CORE_ERR_MALFORMED;
	m->snap.data = left > 0 ? p + 4 : NULL;
	return 0;
}

int raft_msg_decode(struct raft_msg *m, struct raft_entry *ents, size_t cap, const uint8_t *buf,
                    size_t len)
{
	int err;

	memset(m, 0, sizeof(*m));
	if (len > CHORUS_RAFT_MSG_MAX)
		return CORE_ERR_OVERSIZE;
	if (len < CHORUS_RAFT_MSG_HEADER || buf[0] != RAFT_MAGIC)
		return CORE_ERR_MALFORMED;
	if (buf[1] != CHORUS_RAFT_WIRE_VERSION)
		return CORE_ERR_VERSION;
	m->type = buf[2];
	m->flags = buf[3];
	m->from = codec_get_u64(buf + 4);
	m->to = codec_get_u64(buf + 12);
	m->term = codec_get_u64(buf + 20);
	m->index = codec_get_u64(buf + 28);
	m->log_term = codec_get_u64(buf + 36);
	m->commit = codec_get_u64(buf + 44);
	m->hint_index = codec_get_u64(buf + 52);
	m->hint_term = codec_get_u64(buf + 60);
	m->nentries = codec_get_u32(buf + 68);
	buf += CHORUS_RAFT_MSG_HEADER;
	len -= CHORUS_RAFT_MSG_HEADER;
	if (m->type == RAFT_MSG_APPEND)
		err = raft_msg_decode_entries(m, ents, cap, buf, len);
	else if (m->type == RAFT_MSG_SNAPSHOT && m->nentries == 0)
		err = raft_msg_decode_snapshot(m, buf, len);
	else
		err = len == 0 && m->nentries == 0 ? 0 : CORE_ERR_MALFORMED;
	if (err == 0)
		err = raft_msg_validate(m);
	return err;
}

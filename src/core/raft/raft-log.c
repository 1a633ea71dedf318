/*
 * raft-log: the in-memory log of one raft node, from just after its
 * snapshot to its last entry.  The log owns entry bytes.  Invariants
 * (raft_log_check): indexes are consecutive from snap_index + 1, terms never
 * decrease, snap_index <= applied <= committed <= last, and the durable
 * marks (stable, trunc_from) stay within the log.
 */
#include <stdlib.h>

#include "raft-internal.h"

void raft_log_init(struct raft_log *l, uint64_t snap_index, uint64_t snap_term)
{
	memset(l, 0, sizeof(*l));
	l->snap_index = snap_index;
	l->snap_term = snap_term;
	l->committed = snap_index;
	l->applied = snap_index;
	l->stable = snap_index;
}

static void raft_log_free_range(struct raft_log *l, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		free((void *)l->v[i].data);
		l->v[i].data = NULL;
	}
}

void raft_log_free(struct raft_log *l)
{
	raft_log_free_range(l, 0, l->n);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

uint64_t raft_log_last_index(const struct raft_log *l)
{
	return l->snap_index + l->n;
}

uint64_t raft_log_last_term(const struct raft_log *l)
{
	return l->n > 0 ? l->v[l->n - 1].term : l->snap_term;
}

int raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term)
{
	if (index == l->snap_index) {
		*term = l->snap_term;
		return 0;
	}
	if (index < l->snap_index || index > raft_log_last_index(l))
		return RAFT_ERR_UNAVAILABLE;
	*term = l->v[index - l->snap_index - 1].term;
	return 0;
}

const struct raft_entry *raft_log_at(const struct raft_log *l, uint64_t index)
{
	assert(index > l->snap_index && index <= raft_log_last_index(l));
	return &l->v[index - l->snap_index - 1];
}

int raft_log_append(struct raft_log *l, uint64_t term, uint8_t type, const uint8_t *data,
                    uint32_t len)
{
	struct raft_entry *e;
	uint8_t *copy = NULL;

	assert(term >= raft_log_last_term(l));
	assert(len <= CHORUS_RAFT_ENTRY_MAX && (len == 0 || data != NULL));
	if (l->n >= CHORUS_RAFT_LOG_MAX)
		return CORE_ERR_FULL;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct raft_entry *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return CORE_ERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (len > 0) {
		if ((copy = malloc(len)) == NULL)
			return CORE_ERR_NOMEM;
		memcpy(copy, data, len);
	}
	e = &l->v[l->n++];
	e->index = raft_log_last_index(l);
	e->term = term;
	e->type = type;
	e->len = len;
	e->data = copy;
	return 0;
}

void raft_log_truncate(struct raft_log *l, uint64_t from)
{
	/* Committed entries are never replaced: that is Raft's safety. */
	assert(from > l->committed && from > l->snap_index);
	if (from > raft_log_last_index(l))
		return;
	raft_log_free_range(l, (size_t)(from - l->snap_index - 1), l->n);
	l->n = (size_t)(from - l->snap_index - 1);
	/* The driver must delete durable copies of what was replaced. */
	if (l->stable >= from) {
		l->stable = from - 1;
		if (l->trunc_from == 0 || l->trunc_from > from)
			l->trunc_from = from;
	}
	assert(raft_log_last_index(l) == from - 1);
}

void raft_log_compact(struct raft_log *l, uint64_t index, uint64_t term)
{
	size_t drop;

	assert(index > l->snap_index && index <= l->applied && index <= raft_log_last_index(l));
	assert(raft_log_at(l, index)->term == term);
	drop = (size_t)(index - l->snap_index);
	raft_log_free_range(l, 0, drop);
	memmove(l->v, l->v + drop, (l->n - drop) * sizeof(*l->v));
	l->n -= drop;
	l->snap_index = index;
	l->snap_term = term;
	if (l->stable < index)
		l->stable = index;
}

void raft_log_reset(struct raft_log *l, uint64_t index, uint64_t term)
{
	raft_log_free_range(l, 0, l->n);
	l->n = 0;
	l->snap_index = index;
	l->snap_term = term;
	l->committed = index;
	l->applied = index;
	/* A received snapshot replaces every durable entry (raft_ready says so). */
	l->stable = index;
	l->trunc_from = 0;
}

int raft_log_up_to_date(const struct raft_log *l, uint64_t last_index, uint64_t last_term)
{
	uint64_t t = raft_log_last_term(l);

	return last_term > t || (last_term == t && last_index >= raft_log_last_index(l));
}

uint64_t raft_log_term_first(const struct raft_log *l, uint64_t index)
{
	const struct raft_entry *e = raft_log_at(l, index);
	uint64_t term = e->term;

	while (index > l->snap_index + 1 && raft_log_at(l, index - 1)->term == term)
		index--;
	assert(index > l->snap_index);
	return index;
}

uint64_t raft_log_term_last(const struct raft_log *l, uint64_t term)
{
	/* Terms only grow along the log: scan back until we pass below term. */
	for (size_t i = l->n; i > 0; i--) {
		if (l->v[i - 1].term == term)
			return l->v[i - 1].index;
		if (l->v[i - 1].term < term)
			return 0;
	}
	return term == l->snap_term && l->snap_index > 0 ? l->snap_index : 0;
}

const char *raft_log_check(const struct raft_log *l)
{
	uint64_t last = raft_log_last_index(l);

	if (l->n > 0 && l->v[0].term < l->snap_term)
		return "log: first entry older than the snapshot";
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].index != l->snap_index + 1 + i)
			return "log: indexes are not consecutive";
		if (i > 0 && l->v[i].term < l->v[i - 1].term)
			return "log: terms decrease";
		if (l->v[i].len > CHORUS_RAFT_ENTRY_MAX)
			return "log: entry over CHORUS_RAFT_ENTRY_MAX";
	}
	if (!(l->snap_index <= l->applied && l->applied <= l->committed && l->committed <= last))
		return "log: snap_index <= applied <= committed <= last broken";
	if (l->stable < l->snap_index || l->stable > last)
		return "log: stable mark out of range";
	if (l->trunc_from != 0 && l->trunc_from <= l->stable)
		return "log: truncation mark below stable";
	return NULL;
}

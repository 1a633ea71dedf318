/*
 * acks: this client's completion acks from signing until they are settled,
 * and the two numbers every ack carries for the ledger's window
 * (docs/ledger.md): its seq and its floor.
 *
 * seq grows with every ack, across restarts: max(last + 1, the wall clock
 * in microseconds), where the wall clock is the one the driver gave at the
 * hand-over (core_acks_restore) plus the monotonic time since, so neither a
 * restart nor a clock set back (the persisted last seq) reuses one.
 *
 * floor is the oldest seq still open: an ack for the ledger (a success with
 * a receipt) is open from its signing until the driver says it is settled
 * (its outbox dropped it: committed, or refused and given up).  The open
 * acks wait in a FIFO in seq order; a settled one is marked where it is
 * (binary search) and leaves when it reaches the head (lazy deletion).  At
 * the hand-over the driver gives the acks still in its outbox and the last
 * seq it saved; an ack signed before a crash and never saved has a higher
 * seq, and its job is resumed: until every resumed job's new ack is
 * settled, the floor stays at most that saved seq + 1 (the pin), so the
 * ledger keeps the old ack's job id and the new ack is a duplicate, not a
 * second credit.
 *
 * Invariant: floor <= the seq of every ack not known settled.
 */
#include <stdlib.h>

#include "dispatch/dispatch-internal.h"

#define ACKS_INIT 1024

int acks_init(struct core *core)
{
	struct acks *a = &core->acks;

	memset(a, 0, sizeof(*a));
	a->over = UINT64_MAX;
	return 0;
}

void acks_free(struct core *core)
{
	free(core->acks.v);
	memset(&core->acks, 0, sizeof(core->acks));
}

uint64_t acks_next_seq(struct core *core, uint64_t now_ms)
{
	struct acks *a = &core->acks;
	uint64_t clock = a->have_base ? a->base_seq + (now_ms - a->base_ms) * 1000 : now_ms * 1000;

	a->last_seq = clock > a->last_seq ? clock : a->last_seq + 1;
	return a->last_seq;
}

uint64_t acks_floor(const struct core *core, uint64_t own)
{
	const struct acks *a = &core->acks;
	uint64_t f = own;

	if (a->n > 0 && a->v[a->head].seq < f)
		f = a->v[a->head].seq; /* the head is never settled (acks_pop) */
	if (a->pin_refs > 0 && a->pin < f)
		f = a->pin;
	return a->over < f ? a->over : f;
}

/* Room for one more at the tail: compacts, or grows up to CHORUS_ACKS_OPEN_MAX. */
static int acks_room(struct acks *a)
{
	struct acks_open *v;
	size_t cap;

	if (a->head + a->n < a->cap)
		return 0;
	if (a->head > 0) {
		memmove(a->v, a->v + a->head, a->n * sizeof(*a->v));
		a->head = 0;
		return 0;
	}
	if (a->cap >= CHORUS_ACKS_OPEN_MAX)
		return CORE_ERR_FULL;
	cap = a->cap ? 2 * a->cap : ACKS_INIT;
	cap = cap < CHORUS_ACKS_OPEN_MAX ? cap : CHORUS_ACKS_OPEN_MAX;
	if ((v = realloc(a->v, cap * sizeof(*v))) == NULL)
		return CORE_ERR_NOMEM;
	a->v = v;
	a->cap = cap;
	return 0;
}

void acks_open(struct core *core, uint64_t seq, int pinned)
{
	struct acks *a = &core->acks;

	assert(a->n == 0 || a->v[a->head + a->n - 1].seq < seq);
	if (a->over != UINT64_MAX || acks_room(a) != 0) {
		/*
		 * Not tracked (more open than the bound, or no memory): the floor
		 * stays at or below it for the rest of this run.  Sound, and the
		 * ledger's per-client bound says when it starts to cost.
		 */
		if (a->over == UINT64_MAX)
			core_log(core, CORE_LOG_WARN, "job", "event=acks_untracked seq=%llu open=%zu",
			         (unsigned long long)seq, a->nopen);
		a->over = a->over < seq ? a->over : seq;
		return;
	}
	a->v[a->head + a->n].seq = seq;
	a->v[a->head + a->n].settled = 0;
	a->v[a->head + a->n].pinned = (uint8_t)(pinned != 0);
	a->n++;
	a->nopen++;
}

/* Settled acks at the head leave. */
static void acks_pop(struct acks *a)
{
	while (a->n > 0 && a->v[a->head].settled) {
		a->head++;
		a->n--;
	}
	if (a->n == 0)
		a->head = 0;
}

int core_ack_settled(struct core *core, uint64_t seq)
{
	struct acks *a = &core->acks;
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a->v[a->head + mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == a->n || a->v[a->head + lo].seq != seq || a->v[a->head + lo].settled)
		return CORE_ERR_INVAL; /* not ours, or settled before */
	a->v[a->head + lo].settled = 1;
	a->nopen--;
	if (a->v[a->head + lo].pinned) {
		assert(a->pin_refs > 0);
		a->pin_refs--;
	}
	acks_pop(a);
	return 0;
}

void acks_pin_job(struct core *core)
{
	core->acks.pin_refs++;
}

void acks_unpin_job(struct core *core)
{
	assert(core->acks.pin_refs > 0);
	core->acks.pin_refs--;
}

static int acks_cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

int core_acks_restore(struct core *core, uint64_t last_seq, uint64_t wall_ms, uint64_t *open,
                      size_t n, uint64_t now_ms)
{
	struct acks *a = &core->acks;

	if (a->n > 0 || a->last_seq > 0 || wall_ms > CODEC_JSON_INT_MAX / 1000 ||
	    last_seq > CODEC_JSON_INT_MAX || (n > 0 && open == NULL))
		return CORE_ERR_INVAL; /* once, before the first ack */
	if (n > 1) /* qsort's pointer must not be NULL, even for 0 items */
		qsort(open, n, sizeof(*open), acks_cmp_u64);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && open[i] == open[i - 1])
			continue;
		last_seq = open[i] > last_seq ? open[i] : last_seq;
		acks_open(core, open[i], 0);
	}
	a->last_seq = last_seq;
	a->pin = last_seq + 1; /* any ack signed and not saved before a crash is above */
	a->base_seq = wall_ms * 1000;
	a->base_ms = now_ms;
	a->have_base = 1;
	return 0;
}

uint64_t core_ack_floor(const struct core *core)
{
	return acks_floor(core, UINT64_MAX);
}

size_t core_acks_open(const struct core *core)
{
	return core->acks.nopen;
}

const char *acks_check(const struct core *core)
{
	const struct acks *a = &core->acks;
	size_t open = 0;

	if (a->head + a->n > a->cap || a->cap > CHORUS_ACKS_OPEN_MAX)
		return "ack FIFO over its bound";
	if (a->n > 0 && a->v[a->head].settled)
		return "a settled ack heads the FIFO";
	for (size_t i = 0; i < a->n && a->n <= 4096; i++) { /* a long FIFO: its ends and counts */
		open += !a->v[a->head + i].settled;
		if (i > 0 && a->v[a->head + i - 1].seq >= a->v[a->head + i].seq)
			return "ack FIFO out of seq order";
	}
	if (open != a->nopen || (a->n > 0 && a->v[a->head + a->n - 1].seq > a->last_seq))
		return "ack FIFO does not match its counts";
	return NULL;
}

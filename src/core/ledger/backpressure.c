/*
 * backpressure: the ledger-lag gate on new submits (include/chorus/backpressure.h).
 *
 * Invariant: low < high, and lagging flips on only at depth >= high, off
 * only at depth <= low.  In between, the state stays what it was.
 */
#include <assert.h>
#include <stdint.h>

#include "chorus/backpressure.h"
#include "chorus/limits.h"

void backpressure_init(struct backpressure *bp, uint64_t high)
{
	assert(high >= 1 && high <= CHORUS_OUTBOX_HIGH_MAX);
	bp->high = high;
	bp->low = high * CHORUS_OUTBOX_LOW_PERCENT / 100; /* rounded down: below high */
	bp->lagging = 0;
	assert(bp->low < bp->high);
}

int backpressure_step(struct backpressure *bp, uint64_t depth, int *changed)
{
	int was = bp->lagging;

	assert(bp->low < bp->high);
	if (!bp->lagging && depth >= bp->high)
		bp->lagging = 1;
	else if (bp->lagging && depth <= bp->low)
		bp->lagging = 0;
	*changed = was != bp->lagging;
	return bp->lagging;
}

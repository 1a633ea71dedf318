/*
 * backpressure: the ledger-lag gate on new submits (include/chorus/backpressure.h).
 *
 * Invariant: low < high, and lagging flips on only at depth >= high, off
 * only at depth <= low.  In between, the state stays what it was.
 */
#include <assert.h>

#include "chorus/backpressure.h"

void backpressure_init(struct backpressure *bp, uint64_t high)
{
	assert(high >= 1);
	bp->high = high;
	bp->low = high - (high + 4) / 5; /* at least one below high */
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

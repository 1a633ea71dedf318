/*
 * backpressure: whether a node takes new submits while its ledger acks wait.
 *
 * The ack outbox never drops an ack; instead the node stops accepting work
 * while too many are open: past the high-water mark new submits are refused
 * until the outbox drains to the low-water mark (hysteresis, so a node near
 * the mark does not flip per job).  Pure: the shell passes the depth in.
 */
#ifndef CHORUS_BACKPRESSURE_H
#define CHORUS_BACKPRESSURE_H

#include <stdint.h>

struct backpressure {
	uint64_t high, low; /* refuse from high open acks on, accept again at low or under */
	int lagging;        /* submits are refused */
};

/* 1 <= high <= CHORUS_OUTBOX_HIGH_MAX; low is CHORUS_OUTBOX_LOW_PERCENT of it, rounded down. */
void backpressure_init(struct backpressure *bp, uint64_t high);
/*
 * One observation of the open acks: 1 when submits are refused now, else 0.
 * *changed is set when the state flipped with this observation (to log it).
 */
int backpressure_step(struct backpressure *bp, uint64_t depth, int *changed);

#endif

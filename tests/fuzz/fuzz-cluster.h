/*
 * The small cluster behind fuzz-frame and the frame corpus: four cores in
 * the unit-test harness (tests/unit/harness.c: deterministic keys, virtual
 * time), joined, every node a worker, with jobs submitted from each so that
 * node 0 holds members, jobs in flight and work of its own.  The corpus
 * generator captures the frames node 0 receives here; fuzz-frame builds the
 * same cluster, so the ids and keys in the corpus are the ones it knows.
 */
#ifndef CHORUS_TESTS_FUZZ_CLUSTER_H
#define CHORUS_TESTS_FUZZ_CLUSTER_H

#include "harness.h"

#define FUZZ_CLUSTER_NODES 4
#define FUZZ_CLUSTER_SEED  3

/* tap (may be NULL) sees every frame sent while the cluster forms and runs its jobs. */
void fuzz_cluster_start(struct harness *h,
			int (*tap)(void *ctx, int from, int to, const uint8_t *buf, size_t len),
			void *tap_ctx);

#endif

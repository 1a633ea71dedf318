/* The fuzz cluster: see fuzz-cluster.h. */
#include <stdlib.h>

#include "fuzz-cluster.h"

void fuzz_cluster_start(struct harness *h,
			int (*tap)(void *ctx, int from, int to, const uint8_t *buf, size_t len),
			void *tap_ctx)
{
	h_init(h, FUZZ_CLUSTER_NODES, FUZZ_CLUSTER_SEED);
	h->tap = tap;
	h->tap_ctx = tap_ctx;
	for (int i = 0; i < FUZZ_CLUSTER_NODES; i++) {
		/* Even nodes run fail, odd ones echo; each submits the kind it does not
		   run, so every job crosses the fabric (a node runs its own jobs in-core). */
		h->nodes[i].caps[0] = i % 2 ? "echo" : "fail";
		h->nodes[i].tags[0] = i % 2 ? "gpu=a100" : "zone=eu"; /* records with tags */
		if (h_start(h, i, 100 + (uint64_t)i) != 0)
			abort();
	}
	for (int i = 1; i < FUZZ_CLUSTER_NODES; i++)
		core_join(h->nodes[i].core, h->nodes[0].addr, h->now_ms);
	h_run(h, h->now_ms + 8000);
	/* Jobs from every node: node 0 sees requests, offers, dispatches, receipts and acks. */
	h->run_ms = 50;
	for (int k = 0; k < 8; k++) {
		char id[CHORUS_JOB_ID_HEX + 1];

		h_submit(h, k % FUZZ_CLUSTER_NODES, k % 2 ? "fail" : "echo", "fuzz me",
			 500 + (uint64_t)k, id);
		h_run(h, h->now_ms + 20);
		if (k == 5) /* running by now: the cancel goes to its worker */
			core_job_cancel(h->nodes[k % FUZZ_CLUSTER_NODES].core, id, h->now_ms);
	}
	/*
	 * More jobs than slots, from every node at once: some queue, so node 0
	 * sees reservations, pulls, "none" answers and unreservations too.
	 */
	for (int k = 0; k < 24; k++) {
		char id[CHORUS_JOB_ID_HEX + 1];

		h_submit(h, k % FUZZ_CLUSTER_NODES, "echo", "queue me", 600 + (uint64_t)k, id);
	}
	h_run(h, h->now_ms + 2500);
	h->tap = NULL;
}

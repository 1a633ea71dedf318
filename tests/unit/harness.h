/*
 * A small in-memory cluster for core unit tests: N cores, a FIFO of frames
 * in flight with a fixed latency, virtual time, optional loss and a "down"
 * flag per node.  Real ed25519 signatures: the unit tests check the real
 * thing; the simulator is where scale lives.
 */
#ifndef CHORUS_TEST_HARNESS_H
#define CHORUS_TEST_HARNESS_H

#include <stdint.h>

#include "chorus/core.h"

#define H_NODES_MAX 16
#define H_FRAMES_MAX 65536

struct h_frame {
	uint64_t at_ms;
	int to;
	uint8_t *buf;
	size_t len;
};

struct h_node {
	struct core *core;
	uint8_t pk[CHORUS_PK_BYTES];
	uint8_t sk[CHORUS_SK_BYTES];
	char addr[64];
	int down;
	int logs_suspect; /* event=suspect lines about anyone */
};

struct harness {
	struct h_node nodes[H_NODES_MAX];
	int n;
	uint64_t now_ms;
	uint32_t latency_ms;
	struct h_frame *q;
	size_t qn;
	uint64_t rng;
	double loss;
	int verbose;
	int (*tap)(void *ctx, int from, int to, const uint8_t *buf, size_t len); /* 0: drop */
	void *tap_ctx;
};

void h_init(struct harness *h, int n, uint64_t seed);
void h_free(struct harness *h);
int h_start(struct harness *h, int i, uint64_t start_ms); /* creates node i's core */
void h_run(struct harness *h, uint64_t until_ms);
/* Runs until pred holds or until_ms passes; returns 1 if pred held. */
int h_run_until(struct harness *h, uint64_t until_ms, int (*pred)(struct harness *h, void *ctx),
                void *ctx);
/* Node `of`'s view of node `about`'s state, or -1 if unknown. */
int h_state(struct harness *h, int of, int about);
uint64_t h_inc(struct harness *h, int of, int about);
int h_all_see_alive(struct harness *h, void *ctx);
void h_inject(struct harness *h, int to, const uint8_t *buf, size_t len);

#endif

/*
 * core_set_caps: a node changes the kinds it runs and its capacity while it
 * runs (chorusd's SIGHUP reload).  The record is re-signed with a higher
 * incarnation and gossip spreads it; the worker side follows at once (a kind
 * added is run, a kind removed is not offered); the same set is a no-op; bad
 * input is an error code, never a crash.
 */
#include <stdio.h>
#include <string.h>

#include "core-internal.h"
#include "harness.h"
#include "tap.h"

/* Every other node sees node 0 with capacity and the kind in ctx (or without it: "!kind"). */
struct want {
	uint32_t capacity;
	const char *kind;
	int present;
};

static int sees_caps(struct harness *h, void *ctx)
{
	const struct want *w = ctx;

	for (int of = 1; of < h->n; of++) {
		int ok_node = 0;

		for (size_t k = 0; k < core_member_count(h->nodes[of].core); k++) {
			struct member_view mv;
			int has = 0;

			if (core_member_get(h->nodes[of].core, k, &mv) != 0 ||
			    memcmp(mv.rec.pk, h->nodes[0].pk, CHORUS_PK_BYTES) != 0)
				continue;
			for (unsigned c = 0; c < mv.rec.ncaps; c++)
				has |= strcmp(mv.rec.caps[c], w->kind) == 0;
			ok_node = mv.rec.capacity == w->capacity && has == w->present;
		}
		if (!ok_node)
			return 0;
	}
	return 1;
}

static int job_final(struct harness *h, void *ctx)
{
	return h_job_final(h, ctx);
}

int main(void)
{
	struct harness h;
	char caps[3][CHORUS_TAG_MAX + 1] = { "echo", "resize", "echo" };
	char bad[1][CHORUS_TAG_MAX + 1] = { "has space" };
	char id[CHORUS_JOB_ID_HEX + 1];
	struct want w;
	uint64_t inc;

	h_init(&h, 3, 11);
	h.nodes[0].caps[0] = "echo";
	h.nodes[0].capacity = 2;
	for (int i = 0; i < 3; i++)
		h_start(&h, i, 100 + (uint64_t)i);
	for (int i = 1; i < 3; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	h_run(&h, h.now_ms + 3000);
	ok(h_all_see_alive(&h, NULL), "three nodes see each other");

	/* Before: a job of the kind node 0 does not run yet finds no worker. */
	ok(h_submit(&h, 1, "resize", "x", 1, id) == 0, "submit a job of a kind nobody runs");
	ok(h_run_until(&h, h.now_ms + 20000, job_final, id), "it ends");
	ok(h_job(&h, id) != NULL && h_job(&h, id)->v.state != JOB_SUCCEEDED,
	   "and does not succeed: no worker runs the kind");

	inc = h_inc(&h, 1, 0);
	ok(core_set_caps(h.nodes[0].core, caps, 2, 5, h.now_ms) == 0, "core_set_caps: add a kind, capacity 5");
	ok(h_inc(&h, 0, 0) > inc, "our record's incarnation went up");
	w = (struct want){ 5, "resize", 1 };
	ok(h_run_until(&h, h.now_ms + 5000, sees_caps, &w), "every member learns the new kind and capacity");
	ok(h_inc(&h, 1, 0) > inc, "and a higher incarnation");

	ok(h_submit(&h, 1, "resize", "y", 2, id) == 0, "submit a job of the new kind");
	ok(h_run_until(&h, h.now_ms + 20000, job_final, id), "it ends");
	ok(h_job(&h, id) != NULL && h_job(&h, id)->v.state == JOB_SUCCEEDED,
	   "and succeeds on the node that took the kind");

	inc = h_inc(&h, 0, 0);
	ok(core_set_caps(h.nodes[0].core, caps, 2, 5, h.now_ms) == 0 && h_inc(&h, 0, 0) == inc,
	   "the same set again: no new version");
	ok(core_set_caps(h.nodes[0].core, bad, 1, 5, h.now_ms) == CORE_ERR_INVAL,
	   "a bad kind name is refused");
	ok(core_set_caps(h.nodes[0].core, caps, 3, 5, h.now_ms) == CORE_ERR_INVAL,
	   "a kind given twice is refused");
	ok(core_set_caps(h.nodes[0].core, caps, CHORUS_CAPS_MAX + 1, 5, h.now_ms) == CORE_ERR_FULL,
	   "more than CHORUS_CAPS_MAX kinds are refused");
	ok(h_inc(&h, 0, 0) == inc, "refused changes publish nothing");

	/* Remove the kind and lower the capacity: the kind is no longer offered. */
	ok(core_set_caps(h.nodes[0].core, caps, 1, 1, h.now_ms) == 0, "drop the kind, capacity 1");
	w = (struct want){ 1, "resize", 0 };
	ok(h_run_until(&h, h.now_ms + 5000, sees_caps, &w), "every member learns the kind is gone");
	ok(h_submit(&h, 2, "resize", "z", 3, id) == 0, "submit a job of the dropped kind");
	ok(h_run_until(&h, h.now_ms + 20000, job_final, id), "it ends");
	ok(h_job(&h, id) != NULL && h_job(&h, id)->v.state != JOB_SUCCEEDED,
	   "and does not run: the worker no longer offers the kind");
	ok(core_check(h.nodes[0].core) == NULL, "core_check holds");

	core_leave(h.nodes[0].core, h.now_ms);
	ok(core_set_caps(h.nodes[0].core, caps, 2, 5, h.now_ms) == CORE_ERR_LEFT,
	   "after a leave: CORE_ERR_LEFT");
	h_free(&h);
	return tap_done();
}

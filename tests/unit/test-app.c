/*
 * App frames (raft, ledger): the core checks the frame and hands the opaque
 * body to env.app_cb unparsed.  Bodies of every size, random bytes, mutated
 * and forged frames must never crash a node or reach app_cb unauthenticated;
 * core_set_roles republishes the record so gossip spreads it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "harness.h"
#include "tap.h"

#define ROUNDS 20000

static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
	return tap_rand(&rs);
}

static int sees_role(struct harness *h, void *ctx)
{
	const char *role = ctx;

	for (int of = 1; of < h->n; of++) {
		int found = 0;

		for (size_t k = 0; k < core_member_count(h->nodes[of].core); k++) {
			struct member_view mv;

			if (core_member_get(h->nodes[of].core, k, &mv) != 0 ||
			    memcmp(mv.rec.pk, h->nodes[0].pk, CHORUS_PK_BYTES) != 0)
				continue;
			for (unsigned r = 0; r < mv.rec.nroles; r++)
				found |= strcmp(mv.rec.roles[r], role) == 0;
		}
		if (!found)
			return 0;
	}
	return 1;
}

static void test_delivery(struct harness *h)
{
	static uint8_t body[CHORUS_BODY_MAX + 1];
	int before = h->nodes[1].apps;

	for (size_t i = 0; i < 64; i++)
		body[i] = (uint8_t)i;
	ok(core_send_app(h->nodes[0].core, h->nodes[1].pk, h->nodes[1].addr, CORE_APP_RAFT, body, 64) == 0,
	   "core_send_app sends a raft body");
	ok(core_send_app(h->nodes[0].core, h->nodes[1].pk, h->nodes[1].addr, CORE_APP_LEDGER, body, 0) == 0,
	   "an empty ledger body is a frame too");
	ok(core_send_app(h->nodes[0].core, h->nodes[1].pk, h->nodes[1].addr, 3, body, 4) == CORE_ERR_INVAL,
	   "another frame type is refused");
	ok(core_send_app(h->nodes[0].core, h->nodes[1].pk, h->nodes[1].addr, CORE_APP_RAFT, body,
	                 CHORUS_BODY_MAX + 1) == CORE_ERR_OVERSIZE,
	   "a body over CHORUS_BODY_MAX is refused");
	ok(core_send_app(h->nodes[0].core, h->nodes[1].pk, h->nodes[1].addr, CORE_APP_RAFT, body, CHORUS_BODY_MAX) ==
	       0,
	   "a body of exactly CHORUS_BODY_MAX is sent");
	ok(core_send_app(h->nodes[0].core, h->nodes[0].pk, h->nodes[0].addr, CORE_APP_RAFT, body, 4) ==
	       CORE_ERR_BADKEY,
	   "a frame to ourselves is refused");
	ok(core_send_app(h->nodes[0].core, NULL, h->nodes[1].addr, CORE_APP_RAFT, body, 4) ==
	       CORE_ERR_INVAL,
	   "a frame to no key is refused");
	h_run(h, h->now_ms + 10);
	ok(h->nodes[1].apps == before + 3, "all three frames reached app_cb (%d)",
	   h->nodes[1].apps - before);
	ok(memcmp(h->nodes[1].app_from, h->nodes[0].pk, CHORUS_PK_BYTES) == 0,
	   "app_cb names the sender's key");
}

/* Random bodies, signed by a member: every one reaches app_cb, nothing breaks. */
static void test_random_bodies(struct harness *h)
{
	static uint8_t body[4096], frame[CHORUS_FRAME_MAX];
	int before = h->nodes[0].apps, good = 1;

	for (int round = 0; round < ROUNDS; round++) {
		size_t len = next() % sizeof body;
		int type = round % 2 ? CORE_APP_RAFT : CORE_APP_LEDGER, n;

		for (size_t i = 0; i < len; i++)
			body[i] = (uint8_t)next();
		n = wire_encode_to(frame, sizeof frame, type, h->nodes[1].pk, 101,
		                   H_SEQ(h, round), (const char *)body, len, &crypto_ed25519,
		                   h->nodes[1].sk, h->nodes[0].pk, wire_open_netkey);
		if (n < 0) {
			good = 0;
			continue;
		}
		if (round % 3 == 0) /* mutated after signing: must be dropped */
			frame[next() % (size_t)n] ^= (uint8_t)(1u << (next() % 8));
		core_recv(h->nodes[0].core, frame, (size_t)n, h->now_ms);
		if (round % 1000 == 0) {
			h_run(h, h->now_ms + 5);
			good &= core_check(h->nodes[0].core) == NULL;
		}
	}
	ok(good, "%d random app bodies: core_check held", ROUNDS);
	ok(h->nodes[0].apps - before >= ROUNDS / 2 && h->nodes[0].apps - before < ROUNDS,
	   "authentic ones reached app_cb (%d), tampered ones did not", h->nodes[0].apps - before);
}

static void test_replay(struct harness *h)
{
	static uint8_t frame[256];
	const uint8_t body[3] = { 1, 2, 3 };
	int n = wire_encode_to(frame, sizeof frame, CORE_APP_RAFT, h->nodes[2].pk, 102, H_SEQ(h, 999),
	                       (const char *)body, sizeof body, &crypto_ed25519, h->nodes[2].sk,
	                       h->nodes[0].pk, wire_open_netkey);
	int before = h->nodes[0].apps;

	core_recv(h->nodes[0].core, frame, (size_t)n, h->now_ms);
	core_recv(h->nodes[0].core, frame, (size_t)n, h->now_ms);
	ok(h->nodes[0].apps == before + 1, "a replayed app frame is dropped");
}

static void test_roles(struct harness *h)
{
	char roles[2][CHORUS_TAG_MAX + 1] = { "voter", "leader" };
	char bad[1][CHORUS_TAG_MAX + 1] = { "has space" };

	ok(core_set_roles(h->nodes[0].core, roles, 2, h->now_ms) == 0, "core_set_roles");
	ok(core_set_roles(h->nodes[0].core, bad, 1, h->now_ms) == CORE_ERR_INVAL,
	   "a bad role name is refused");
	ok(h_run_until(h, h->now_ms + 5000, sees_role, "leader"), "every member learns the new role");
	ok(core_set_roles(h->nodes[0].core, roles, 1, h->now_ms) == 0, "dropping a role");
	h_run(h, h->now_ms + 5000);
	ok(!sees_role(h, "leader") && sees_role(h, "voter"), "the dropped role is gone everywhere");
	ok(core_check(h->nodes[0].core) == NULL, "core_check holds");
}

int main(void)
{
	struct harness h;

	h_init(&h, 3, 7);
	for (int i = 0; i < 3; i++)
		h_start(&h, i, 100 + (uint64_t)i);
	for (int i = 1; i < 3; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	h_run(&h, h.now_ms + 3000);
	ok(h_all_see_alive(&h, NULL), "three nodes see each other");
	test_delivery(&h);
	test_random_bodies(&h);
	test_replay(&h);
	test_roles(&h);
	h_free(&h);
	return tap_done();
}

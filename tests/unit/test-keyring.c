/*
 * The network keyring: the keyring operations' codec (round trips, malformed
 * texts refused, a deterministic fuzz loop over both decoders), a rotation in
 * a simulated cluster (install, use, remove reach every member and are
 * counted; the primary cannot be removed; a full ring refuses), admission
 * between nodes with and without a key in common, and a fuzz loop over the
 * sealed frame decoder (tests/fuzz does not exist on this branch's main).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "harness.h"
#include "tap.h"

static uint8_t k1[CHORUS_NETKEY_BYTES], k2[CHORUS_NETKEY_BYTES], k3[CHORUS_NETKEY_BYTES];

static int msg_decode_text(const char *text, size_t len, struct keyops_msg *m)
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	int rc = cJSON_IsObject(j) ? keyops_decode_msg(m, j) : CORE_ERR_MALFORMED;

	cJSON_Delete(j);
	return rc;
}

static int answer_decode_text(const char *text, size_t len, struct keyops_answer *a)
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	int rc = cJSON_IsObject(j) ? keyops_decode_answer(a, j) : CORE_ERR_MALFORMED;

	cJSON_Delete(j);
	return rc;
}

static void test_codec(void)
{
	static const char *const bad[] = {
		"{}",
		"{\"op\":\"list\"}",
		"{\"op\":\"list\",\"n\":0}",
		"{\"op\":\"list\",\"n\":7,\"key\":\"00\"}",
		"{\"op\":\"rotate\",\"n\":7}",
		"{\"op\":\"install\",\"n\":7}",
		"{\"op\":\"install\",\"n\":7,\"key\":\"zz\"}",
		"{\"op\":\"install\",\"n\":7,\"key\":"
		"\"0000000000000000000000000000000000000000000000000000000000000000\"}",
		"{\"op\":\"install\",\"n\":7,\"key\":"
		"\"0101010101010101010101010101010101010101010101010101010101010101ff\"}",
		"{\"op\":5,\"n\":7}",
		"{\"op\":\"use\",\"n\":-1,\"key\":"
		"\"0101010101010101010101010101010101010101010101010101010101010101\"}",
	};
	static const char *const bad_answers[] = {
		"{\"n\":1,\"p\":0,\"keys\":[]}",
		"{\"n\":1,\"p\":1,\"keys\":[\"0011223344556677\"]}",
		"{\"n\":0,\"p\":0,\"keys\":[\"0011223344556677\"]}",
		"{\"n\":1,\"p\":0,\"keys\":[\"00112233445566\"]}",
		"{\"n\":1,\"p\":0,\"keys\":[7]}",
		"{\"n\":1,\"p\":0,\"keys\":[\"0011223344556677\"],\"e\":\"has space\"}",
		"{\"n\":1,\"p\":0,\"keys\":\"0011223344556677\"}",
		"{\"n\":1,\"p\":0,\"keys\":[\"0011223344556677\",\"0011223344556677\",\"0011223344556677\","
		"\"0011223344556677\",\"0011223344556677\",\"0011223344556677\",\"0011223344556677\","
		"\"0011223344556677\",\"0011223344556677\"]}",
	};
	struct keyops_msg m, m2;
	struct keyops_answer a, a2;
	char text[1024];
	int n, good = 1, refused = 0;

	for (int op = CORE_KEYRING_LIST; op <= CORE_KEYRING_REMOVE; op++) {
		memset(&m, 0, sizeof(m));
		m.op = op;
		m.nonce = 12345 + (uint64_t)op;
		if (op != CORE_KEYRING_LIST)
			memcpy(m.key, k1, sizeof(k1));
		n = keyops_encode_msg(text, sizeof(text), &m);
		good &= n > 0 && msg_decode_text(text, (size_t)n, &m2) == 0 && m2.op == m.op &&
		        m2.nonce == m.nonce && memcmp(m2.key, m.key, sizeof(m.key)) == 0;
	}
	ok(good, "every operation round-trips");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused += msg_decode_text(bad[i], strlen(bad[i]), &m) == CORE_ERR_MALFORMED;
	ok(refused == (int)(sizeof(bad) / sizeof(bad[0])), "malformed operations are refused (%d of %zu)",
	   refused, sizeof(bad) / sizeof(bad[0]));

	memset(&a, 0, sizeof(a));
	a.nonce = 99;
	a.n = 3;
	a.primary = 2;
	keyops_fingerprint(a.fp[0], k1);
	keyops_fingerprint(a.fp[1], k2);
	keyops_fingerprint(a.fp[2], k3);
	strcpy(a.err, "full");
	n = keyops_encode_answer(text, sizeof(text), &a);
	ok(n > 0 && answer_decode_text(text, (size_t)n, &a2) == 0 && a2.nonce == 99 && a2.n == 3 &&
	       a2.primary == 2 && memcmp(a2.fp, a.fp, sizeof(a.fp)) == 0 && strcmp(a2.err, "full") == 0,
	   "an answer round-trips (%.*s)", n, text);
	ok(memcmp(a.fp[0], a.fp[1], CHORUS_KEY_FP_BYTES) != 0, "keys have different fingerprints");
	refused = 0;
	for (size_t i = 0; i < sizeof(bad_answers) / sizeof(bad_answers[0]); i++)
		refused += answer_decode_text(bad_answers[i], strlen(bad_answers[i]), &a2) ==
		           CORE_ERR_MALFORMED;
	ok(refused == (int)(sizeof(bad_answers) / sizeof(bad_answers[0])),
	   "malformed answers are refused (%d)", refused);
}

/*
 * The decoders under every one-byte change of good texts and random
 * rewrites: no crash, and whatever is accepted encodes back to a text that
 * decodes to the same thing.
 */
static void test_codec_fuzz(void)
{
	struct keyops_msg m, m2;
	struct keyops_answer a, a2;
	char good[3][512], text[512], again[512];
	int lens[3], accepted = 0, tried = 0, consistent = 1;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	memset(&m, 0, sizeof(m));
	m.op = CORE_KEYRING_INSTALL;
	m.nonce = 77;
	memcpy(m.key, k2, sizeof(k2));
	lens[0] = keyops_encode_msg(good[0], sizeof(good[0]), &m);
	m.op = CORE_KEYRING_LIST;
	lens[1] = keyops_encode_msg(good[1], sizeof(good[1]), &m);
	memset(&a, 0, sizeof(a));
	a.nonce = 5;
	a.n = 2;
	keyops_fingerprint(a.fp[0], k1);
	keyops_fingerprint(a.fp[1], k2);
	lens[2] = keyops_encode_answer(good[2], sizeof(good[2]), &a);
	for (int g = 0; g < 3; g++)
		for (int pos = 0; pos < lens[g]; pos++)
			for (int round = 0; round < 12; round++) {
				size_t len = (size_t)lens[g];

				memcpy(text, good[g], len);
				rng = rng * 6364136223846793005ull + 1442695040888963407ull;
				text[pos] = (char)(rng >> 56);
				if (round == 11)
					len = (size_t)pos; /* truncated there */
				tried++;
				if (g < 2 && msg_decode_text(text, len, &m2) == 0) {
					int n = keyops_encode_msg(again, sizeof(again), &m2);

					accepted++;
					consistent &= n > 0 && msg_decode_text(again, (size_t)n, &m) == 0 &&
					              m.op == m2.op && m.nonce == m2.nonce;
				}
				if (g == 2 && answer_decode_text(text, len, &a2) == 0) {
					int n = keyops_encode_answer(again, sizeof(again), &a2);

					accepted++;
					consistent &= n > 0 && answer_decode_text(again, (size_t)n, &a) == 0 &&
					              a.n == a2.n && a.primary == a2.primary;
				}
			}
	ok(consistent, "%d mutated texts: none crashed, the %d accepted re-encode to themselves", tried,
	   accepted);
}

/* Sealed frames: any change in bytes the tags cover, or a truncation, is never accepted. */
static void test_frame_fuzz(void)
{
	uint8_t pk[32], sk[64], pk2[32], sk2[64], frame[600], copy[600], plain[600];
	uint8_t key[32], admit[32], join[32];
	struct wire_frame f;
	uint64_t rng = 42;
	int n, accepted = 0, tries = 0;

	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	n = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, pk, 9, 1, "{\"r\":[1,2,3]}", 13,
	                   &crypto_ed25519, sk, pk2, k1);
	wire_netkey_derive(k1, admit, join);
	wire_pair_key(&crypto_ed25519, key, pk2, sk2, pk);
	wire_frame_key(key, k1, key);
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)n;
		int changes;

		memcpy(copy, frame, len);
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		changes = 1 + (int)((rng >> 60) & 3);
		for (int c = 0; c < changes; c++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			copy[(rng >> 33) % len] ^= (uint8_t)(1 + ((rng >> 8) % 255));
		}
		if ((rng & 15) == 0)
			len -= 1 + (rng >> 40) % 20;
		tries++;
		if (wire_decode(&f, copy, len) == 0 && wire_for_me(&f, pk2) &&
		    wire_admit(&f, copy, admit) == 0 && wire_open(&crypto_ed25519, &f, copy, plain, key) == 0)
			accepted++;
	}
	ok(accepted == 0, "%d mutated sealed frames: none decoded, admitted and opened (%d)", tries,
	   accepted);
}

static int holders_are(struct harness *h, void *ctx)
{
	/* n keys, holders of each, primaries of the primary, and whose view (its last operation) */
	const unsigned *want = ctx;
	struct core_keyring_view v;

	core_keyring_view(h->nodes[want[3]].core, &v);
	if (v.n != want[0] || v.answered != 3)
		return 0;
	for (unsigned i = 0; i < v.n; i++)
		if (v.keys[i].holders != want[1])
			return 0;
	for (unsigned i = 0; i < v.n; i++)
		if (v.keys[i].primary && v.keys[i].primaries != want[2])
			return 0;
	return 1;
}

/* Sets node i's ring to keys (the first primary). */
static void set_ring(struct harness *h, int i, const uint8_t *a, const uint8_t *b)
{
	uint8_t ring[2][CHORUS_NETKEY_BYTES];
	unsigned n = 1;

	memcpy(ring[0], a, CHORUS_NETKEY_BYTES);
	if (b != NULL)
		memcpy(ring[n++], b, CHORUS_NETKEY_BYTES);
	(void)core_keyring_set(h->nodes[i].core, (const uint8_t(*)[CHORUS_NETKEY_BYTES])ring, n, 0);
}

static void test_rotation(void)
{
	struct harness h;
	unsigned want[4];
	uint8_t keys[CHORUS_KEYRING_MAX][CHORUS_NETKEY_BYTES], extra[CHORUS_NETKEY_BYTES];
	unsigned n;
	int rc;

	h_init(&h, 3, 31);
	for (int i = 0; i < 3; i++) {
		h_start(&h, i, 1000 + (uint64_t)i);
		set_ring(&h, i, k1, NULL);
	}
	for (int i = 1; i < 3; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	ok(h_run_until(&h, h.now_ms + 5000, h_all_see_alive, NULL), "3 nodes with one key converge");

	ok(core_keyring_op(h.nodes[0].core, CORE_KEYRING_INSTALL, k2, h.now_ms) == 0, "install");
	want[0] = 2, want[1] = 3, want[2] = 3, want[3] = 0;
	ok(h_run_until(&h, h.now_ms + 2000, holders_are, want), "every member holds both keys");
	ok(h.nodes[1].keyring_saves == 1 && h.nodes[2].keyring_saves == 1 &&
	       h.nodes[0].keyring_saves == 1,
	   "each node was told to save its ring once");
	ok(core_keyring_op(h.nodes[0].core, CORE_KEYRING_REMOVE, k1, h.now_ms) == CORE_ERR_INVAL,
	   "the primary cannot be removed");
	ok(core_keyring_op(h.nodes[0].core, CORE_KEYRING_USE, k3, h.now_ms) == CORE_ERR_INVAL,
	   "a key not held cannot be used");
	ok(core_keyring_op(h.nodes[1].core, CORE_KEYRING_USE, k2, h.now_ms) == 0,
	   "use, from another member");
	want[0] = 2, want[1] = 3, want[2] = 3, want[3] = 1; /* node 1's view: answers to its use */
	ok(h_run_until(&h, h.now_ms + 2000, holders_are, want), "all seal under the new key");
	ok(core_keyring_op(h.nodes[2].core, CORE_KEYRING_REMOVE, k1, h.now_ms) == 0, "remove the old");
	want[0] = 1, want[1] = 3, want[2] = 3, want[3] = 2;
	ok(h_run_until(&h, h.now_ms + 2000, holders_are, want), "no member holds the old key");
	ok(core_keyring_export(h.nodes[1].core, keys, &n) == 0 && n == 1 && memcmp(keys[0], k2, 32) == 0,
	   "what a node would save is the new key alone");
	h_run(&h, h.now_ms + 5000);
	ok(h_state(&h, 0, 1) == MEMBER_ALIVE && h_state(&h, 0, 2) == MEMBER_ALIVE &&
	       h_state(&h, 2, 0) == MEMBER_ALIVE,
	   "the cluster stays whole under the new key");

	for (unsigned i = 1; i < CHORUS_KEYRING_MAX; i++) {
		randombytes_buf(extra, sizeof(extra));
		(void)core_keyring_op(h.nodes[0].core, CORE_KEYRING_INSTALL, extra, h.now_ms);
	}
	randombytes_buf(extra, sizeof(extra));
	rc = core_keyring_op(h.nodes[0].core, CORE_KEYRING_INSTALL, extra, h.now_ms);
	ok(rc == CORE_ERR_FULL, "a full ring refuses another key (CHORUS_KEYRING_MAX)");
	h_free(&h);
}

/* Two with a key, one without (open), one with another: only the two see each other. */
static void test_admission(void)
{
	struct harness h;
	uint64_t derived;

	h_init(&h, 4, 32);
	for (int i = 0; i < 4; i++)
		h_start(&h, i, 1000 + (uint64_t)i);
	set_ring(&h, 0, k1, NULL);
	set_ring(&h, 1, k1, NULL);
	set_ring(&h, 3, k3, NULL); /* node 2 stays open */
	for (int i = 1; i < 4; i++)
		core_join(h.nodes[i].core, h.nodes[0].addr, h.now_ms);
	h_run(&h, h.now_ms + 10000);
	ok(h_state(&h, 0, 1) == MEMBER_ALIVE && h_state(&h, 1, 0) == MEMBER_ALIVE,
	   "the two with the key see each other");
	ok(h_state(&h, 0, 2) < 0 && h_state(&h, 0, 3) < 0 && h_state(&h, 1, 2) < 0 &&
	       h_state(&h, 1, 3) < 0,
	   "neither stranger is known to them");
	ok(h_state(&h, 2, 0) < 0 && h_state(&h, 3, 0) < 0 && h_state(&h, 2, 1) < 0,
	   "and the strangers learnt no member");
	derived = core_stats(h.nodes[0].core)->peer_keys_derived;
	ok(core_stats(h.nodes[0].core)->drop_nokey > 0 && derived <= 1,
	   "node 0 refused their frames at admission (%llu) and derived only node 1's key (%llu)",
	   (unsigned long long)core_stats(h.nodes[0].core)->drop_nokey, (unsigned long long)derived);
	ok(core_keyring_op(h.nodes[2].core, CORE_KEYRING_INSTALL, k1, h.now_ms) == CORE_ERR_INVAL,
	   "an open node has no ring to change");
	h_free(&h);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(k1, sizeof(k1));
	randombytes_buf(k2, sizeof(k2));
	randombytes_buf(k3, sizeof(k3));
	test_codec();
	test_codec_fuzz();
	test_frame_fuzz();
	test_rotation();
	test_admission();
	return tap_done();
}

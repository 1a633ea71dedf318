/* wire: frame layout, exact length checks, sealing, admission, signed joins, replay, the peer key table. */
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "tap.h"

static uint8_t pk[32], sk[64], pk2[32], sk2[64], pk3[32], sk3[64];
static uint8_t netkey[CHORUS_NETKEY_BYTES], netkey2[CHORUS_NETKEY_BYTES];

/*
 * A pairwise frame checked the way core_recv does, as node (mpk, msk) holding
 * network key nk: decode, recipient, admission tag, then open under the pair's
 * frame key.  plain: the opened body (may be NULL).
 */
static int accepts_nk(const uint8_t *frame, size_t n, const uint8_t *mpk, const uint8_t *msk,
                      const uint8_t *nk, uint8_t *plain)
{
	static uint8_t scratch[CHORUS_BODY_MAX];
	uint8_t key[CHORUS_MAC_KEY_BYTES], admit[32], join[32];
	struct wire_frame f;

	wire_netkey_derive(nk, admit, join);
	if (wire_decode(&f, frame, n) < 0 || !wire_for_me(&f, mpk) ||
	    wire_admit(&f, frame, admit) != 0 ||
	    wire_pair_key(&crypto_ed25519, key, mpk, msk, f.pk) < 0)
		return 0;
	wire_frame_key(key, nk, key);
	return wire_open(&crypto_ed25519, &f, frame, plain ? plain : scratch, key) == 0;
}

static int accepts(const uint8_t *frame, size_t n, const uint8_t *mpk, const uint8_t *msk)
{
	return accepts_nk(frame, n, mpk, msk, netkey, NULL);
}

static void test_layout(void)
{
	uint8_t frame[CHORUS_FRAME_MAX + 16], plain[16];
	static char big[CHORUS_FRAME_MAX];
	struct wire_frame f;
	int n;

	n = wire_encode_to(frame, sizeof(frame), WIRE_PING, pk, 1234, 7, "{\"n\":1}", 7,
	                   &crypto_ed25519, sk, pk2, netkey);
	ok(n == CHORUS_FRAME_HEADER + 7 + CHORUS_MAC_BYTES,
	   "a sealed frame is header + body + 32-byte trailer");
	ok(wire_decode(&f, frame, (size_t)n) == 0, "a fresh frame decodes");
	ok(f.type == WIRE_PING && f.gen == 1234 && f.seq == 7 && f.body_len == 7 &&
	       memcmp(f.pk, pk, 32) == 0 && f.auth == WIRE_AUTH_MAC &&
	       f.tag_len == CHORUS_MAC_TAG_BYTES && memcmp(f.recipient, pk2, CHORUS_RECIPIENT_BYTES) == 0,
	   "decoded header fields match what was encoded");
	ok(memcmp(frame + CHORUS_FRAME_HEADER, "{\"n\":1}", 7) != 0, "the body on the wire is not the text");
	ok(accepts_nk(frame, (size_t)n, pk2, sk2, netkey, plain) && memcmp(plain, "{\"n\":1}", 7) == 0,
	   "opened by the recipient, it is");
	ok(frame[2] == 6 && CHORUS_WIRE_VERSION == 6, "wire version 6");
	ok(wire_decode(&f, frame, (size_t)n - 1) == CORE_ERR_MALFORMED, "one byte short is malformed");
	ok(wire_decode(&f, frame, (size_t)n + 1) == CORE_ERR_MALFORMED, "one byte long is malformed");
	ok(wire_decode(&f, frame, 10) == CORE_ERR_MALFORMED, "a stub is malformed");
	ok(wire_decode(&f, frame, CHORUS_FRAME_HEADER + CHORUS_MAC_BYTES - 1) == CORE_ERR_MALFORMED,
	   "shorter than a header and a trailer is malformed");
	frame[0] = 'X';
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_MALFORMED, "bad magic is malformed");
	frame[0] = 'C';
	for (int v = 2; v <= 4; v++) {
		frame[2] = (uint8_t)v;
		ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_VERSION, "version %d is refused", v);
	}
	frame[2] = CHORUS_WIRE_VERSION;
	frame[56] = 0;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_MALFORMED, "auth kind 0 is malformed");
	frame[56] = 3;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_MALFORMED, "an unknown auth kind is malformed");
	frame[56] = WIRE_AUTH_SIG;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_MALFORMED,
	   "a pairwise frame relabelled as signed no longer adds up");
	frame[56] = WIRE_AUTH_MAC;
	frame[3] = 0;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_INVAL, "type 0 is unknown");
	frame[3] = WIRE_TYPE_END;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_INVAL, "a type past the last is unknown");
	ok(wire_decode(&f, frame, CHORUS_FRAME_MAX + 1) == CORE_ERR_OVERSIZE, "oversized input is refused");

	memset(big, 'x', sizeof(big));
	ok(wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, pk, 1, 1, big, CHORUS_BODY_MAX + 1,
	                  &crypto_ed25519, sk, pk2, netkey) == CORE_ERR_OVERSIZE,
	   "a body over CHORUS_BODY_MAX cannot be encoded");
	n = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, pk, 1, 1, big, CHORUS_BODY_MAX,
	                   &crypto_ed25519, sk, NULL, netkey);
	ok(n == CHORUS_FRAME_MAX && wire_decode(&f, frame, (size_t)n) == 0,
	   "a body of exactly CHORUS_BODY_MAX makes a maximal signed frame");
	n = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, pk, 1, 1, big, CHORUS_BODY_MAX,
	                   &crypto_ed25519, sk, pk2, netkey);
	ok(n == CHORUS_FRAME_MAX - CHORUS_SIG_BYTES && wire_decode(&f, frame, (size_t)n) == 0 &&
	       accepts(frame, (size_t)n, pk2, sk2),
	   "and a pairwise frame 64 bytes shorter");
	ok(strcmp(wire_type_name(WIRE_PING_REQ), "ping-req") == 0 && strcmp(wire_type_name(99), "unknown") == 0,
	   "type names");
}

static void test_mac(void)
{
	uint8_t frame[512], copy[512], k12[32], k21[32], k13[32], admit[32], join[32], plain[64];
	struct wire_frame f;
	size_t n;
	int bad = 0;

	ok(wire_pair_key(&crypto_ed25519, k12, pk, sk, pk2) == 0 &&
	       wire_pair_key(&crypto_ed25519, k21, pk2, sk2, pk) == 0 && memcmp(k12, k21, 32) == 0,
	   "both ends of a pair derive the same key");
	ok(wire_pair_key(&crypto_ed25519, k13, pk, sk, pk3) == 0 && memcmp(k12, k13, 32) != 0,
	   "another pair has another key");
	ok(wire_pair_key(&crypto_ed25519, k13, pk, sk, pk) == CORE_ERR_BADKEY,
	   "there is no key with ourselves");

	n = (size_t)wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, pk, 5, 9, "{\"r\":[]}", 8,
	                           &crypto_ed25519, sk, pk2, netkey);
	ok(accepts(frame, n, pk2, sk2), "the recipient accepts a frame made for it");
	ok(!accepts_nk(frame, n, pk2, sk2, netkey2, NULL),
	   "not under another network key, though it is the same pair");
	ok(!accepts(frame, n, pk3, sk3), "another node does not (wrong recipient)");
	ok(wire_decode(&f, frame, n) == 0 && !wire_for_me(&f, pk3) && !wire_for_me(&f, pk),
	   "and the header says so before any crypto");
	/* Even with the recipient field rewritten, the body is sealed under the wrong pair's key. */
	memcpy(copy, frame, n);
	memcpy(copy + 57, pk3, CHORUS_RECIPIENT_BYTES);
	ok(!accepts(copy, n, pk3, sk3), "a frame re-addressed to a third node fails there");
	ok(!accepts(frame, n, pk, sk), "a frame reflected to its sender is not for it");
	memcpy(copy, frame, n);
	memcpy(copy + 8, pk2, 32);
	memcpy(copy + 57, pk, CHORUS_RECIPIENT_BYTES);
	ok(!accepts(copy, n, pk, sk), "a reflected frame with the roles swapped fails");
	/* Every single-bit flip is caught. */
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(copy, frame, n);
			copy[i] ^= (uint8_t)(1u << b);
			bad += accepts(copy, n, pk2, sk2);
		}
	ok(bad == 0, "no single-bit change of a sealed frame passes (%d did)", bad);
	/* A signed frame: sealed under the network key, then signed; names no recipient. */
	n = (size_t)wire_encode_to(frame, sizeof(frame), WIRE_JOIN, pk, 5, 10, "{\"a\":\"x://y\"}", 13,
	                           &crypto_ed25519, sk, NULL, netkey);
	wire_netkey_derive(netkey, admit, join);
	ok(n == CHORUS_FRAME_HEADER + 13 + CHORUS_SIG_TRAILER_BYTES && wire_decode(&f, frame, n) == 0 &&
	       f.auth == WIRE_AUTH_SIG && wire_admit(&f, frame, admit) == 0 &&
	       wire_verify_sig(&crypto_ed25519, &f, frame) == 0 && !wire_for_me(&f, pk2) &&
	       memcmp(frame + CHORUS_FRAME_HEADER, "{\"a\"", 4) != 0,
	   "a signed frame is admitted, verifies, names no one, and its body is sealed");
	ok(wire_open(&crypto_ed25519, &f, frame, plain, join) == 0 &&
	       memcmp(plain, "{\"a\":\"x://y\"}", 13) == 0,
	   "and opens under the network's signed-frame key");
	wire_netkey_derive(netkey2, admit, join);
	ok(wire_decode(&f, frame, n) == 0 && wire_admit(&f, frame, admit) == CORE_ERR_NOKEY &&
	       wire_open(&crypto_ed25519, &f, frame, plain, join) == CORE_ERR_BADSIG,
	   "under another network key it is refused and does not open");
	frame[60] = 1;
	ok(wire_decode(&f, frame, n) == CORE_ERR_MALFORMED, "a signed frame with a recipient is malformed");
	frame[60] = 0;
	memcpy(frame + 8, pk2, 32);
	ok(wire_decode(&f, frame, n) == 0 && wire_verify_sig(&crypto_ed25519, &f, frame) < 0,
	   "a signed frame claiming another sender fails verification");
}

/*
 * The trailer: salt, admission tag, AEAD tag.  The AEAD tag depends on the
 * nonce (generation, frame number, salt): the same text under another frame
 * number or salt seals differently; the replay cache keys on the AEAD tag.
 */
static void test_mac_trailer(void)
{
	uint8_t a[256], b[256], key[CHORUS_MAC_KEY_BYTES], admit[32], join[32];
	struct wire_frame fa, fb;
	int n, m;

	wire_netkey_derive(netkey, admit, join);
	wire_pair_key(&crypto_ed25519, key, pk, sk, pk2);
	wire_frame_key(key, netkey, key);
	n = wire_encode_head(a, sizeof(a), WIRE_PING, WIRE_AUTH_MAC, pk, 9, 100, "{\"n\":1}", 7);
	m = wire_encode_head(b, sizeof(b), WIRE_PING, WIRE_AUTH_MAC, pk, 9, 100, "{\"n\":1}", 7);
	wire_seal_mac(a, (size_t)n, &crypto_ed25519, pk2, key, admit, 0x1111);
	wire_seal_mac(b, (size_t)m, &crypto_ed25519, pk2, key, admit, 0x2222);
	ok(wire_decode(&fa, a, (size_t)n) == 0 && wire_decode(&fb, b, (size_t)m) == 0 &&
	       codec_get_u64(fa.seal) == 0x1111,
	   "the trailer starts with the salt");
	ok(accepts(a, (size_t)n, pk2, sk2) && accepts(b, (size_t)m, pk2, sk2) &&
	       memcmp(a + n - 16, b + m - 16, 16) != 0 &&
	       memcmp(a + CHORUS_FRAME_HEADER, b + CHORUS_FRAME_HEADER, 7) != 0 &&
	       wire_replay_key(&fa) != wire_replay_key(&fb) &&
	       wire_replay_key(&fa) == codec_get_u64(a + n - 16),
	   "another salt, another ciphertext and tag; the replay key is the tag's");
	memcpy(a + n - 32, b + m - 32, 8);
	ok(!accepts(a, (size_t)n, pk2, sk2), "a tag moved under another salt fails");
	m = wire_encode_head(b, sizeof(b), WIRE_PING, WIRE_AUTH_MAC, pk, 9, 101, "{\"n\":1}", 7);
	wire_seal_mac(b, (size_t)m, &crypto_ed25519, pk2, key, admit, 0x1111);
	n = wire_encode_head(a, sizeof(a), WIRE_PING, WIRE_AUTH_MAC, pk, 9, 100, "{\"n\":1}", 7);
	wire_seal_mac(a, (size_t)n, &crypto_ed25519, pk2, key, admit, 0x1111);
	ok(memcmp(a + n - 16, b + m - 16, 16) != 0 &&
	       memcmp(a + CHORUS_FRAME_HEADER, b + CHORUS_FRAME_HEADER, 7) != 0,
	   "another frame number, another ciphertext and tag: a fresh nonce per frame");
	a[n - 20] ^= 1;
	ok(wire_decode(&fa, a, (size_t)n) == 0 && wire_admit(&fa, a, admit) == CORE_ERR_NOKEY,
	   "an admission tag changed is refused at admission");
}

/* Frames a core received: each send_cb is ignored; counts come from core_stats. */
static void test_send_cb(void *ctx, const char *addr, const uint8_t *frame, size_t len)
{
	(void)ctx;
	(void)addr;
	(void)frame;
	(void)len;
}

static struct core *test_core(const uint8_t *mpk, const uint8_t *msk, const uint8_t *nk,
                              uint64_t wall_ms)
{
	struct core_config cfg;
	struct core_env env = {.send_cb = test_send_cb};
	struct core *core = NULL;
	uint8_t ring[1][CHORUS_NETKEY_BYTES];

	core_config_defaults(&cfg);
	strcpy(cfg.name, "t");
	strcpy(cfg.addr, "tcp://127.0.0.1:1");
	cfg.wall_offset_ms = (int64_t)wall_ms - 1;
	if (core_create(&core, &cfg, mpk, msk, &env, 1) != 0)
		return NULL;
	core_set_log_level(core, CORE_LOG_ERROR);
	memcpy(ring[0], nk, CHORUS_NETKEY_BYTES);
	if (core_keyring_set(core, (const uint8_t(*)[CHORUS_NETKEY_BYTES])ring, 1, 0) != 0) {
		core_destroy(core);
		return NULL;
	}
	return core;
}

static int test_frame(uint8_t *frame, size_t cap, const uint8_t *nk, uint64_t gen, uint64_t sent_ms,
                      uint64_t count)
{
	uint64_t seq = sent_ms << CHORUS_SEQ_CLOCK_SHIFT | count;

	/* An app frame: authentic and fresh, it is dropped for want of app_cb (unknown-type). */
	return wire_encode_to(frame, cap, WIRE_RAFT, pk, gen, seq, "x", 1, &crypto_ed25519, sk, pk2, nk);
}

/*
 * Admission at the core: a stranger's frames (another network key) are
 * refused by the admission tag alone -- not one pair key derived, however
 * many -- and a member's are taken.
 */
static void test_core_admission(void)
{
	static uint8_t frame[256];
	struct core *core = test_core(pk2, sk2, netkey, 1000000);
	const struct core_stats *st;
	int n;

	ok(core != NULL, "a core with a network key");
	if (core == NULL)
		return;
	st = core_stats(core);
	for (uint64_t i = 0; i < 1000; i++) {
		n = test_frame(frame, sizeof(frame), netkey2, 7, 1000000, i);
		core_recv(core, frame, (size_t)n, 2);
	}
	ok(st->drop_nokey == 1000 && st->peer_keys_derived == 0,
	   "1000 frames under another network key: refused by admission, no X25519 (%llu derived)",
	   (unsigned long long)st->peer_keys_derived);
	for (uint64_t i = 0; i < 1000; i++) {
		n = wire_encode_to(frame, sizeof(frame), WIRE_RAFT, pk, 7, i, "x", 1, &crypto_ed25519, sk,
		                   pk2, netkey2);
		frame[n - 20] ^= 0x55; /* garbage tag: no key passes it */
		core_recv(core, frame, (size_t)n, 2);
	}
	ok(st->drop_nokey == 2000 && st->peer_keys_derived == 0, "nor for garbage tags");
	n = test_frame(frame, sizeof(frame), netkey, 7, 1000000, 1);
	core_recv(core, frame, (size_t)n, 2);
	ok(st->peer_keys_derived == 1 && st->drop_nokey == 2000 && st->drop_badsig == 0 &&
	       st->drop_unknown_type == 1,
	   "a member's frame is admitted and opened (one derivation)");
	core_destroy(core);
}

/*
 * Replay: at once, after 10,000 other frames (more than the tag cache
 * holds), from an older epoch, and after the receiver restarted.
 */
static void test_core_replay(void)
{
	static uint8_t first[256], frame[256];
	const uint64_t t0 = 5000000;
	const struct core_stats *st;
	uint64_t before;
	struct core *core = test_core(pk2, sk2, netkey, t0);
	int n0, n;

	if (core == NULL)
		return;
	st = core_stats(core);
	n0 = test_frame(first, sizeof(first), netkey, 7, t0 + 10, 0);
	core_recv(core, first, (size_t)n0, 2);
	core_recv(core, first, (size_t)n0, 2);
	ok(st->drop_unknown_type == 1 && st->drop_window == 1, "a frame replayed at once is refused");
	for (uint64_t i = 1; i <= 10000; i++) {
		n = test_frame(frame, sizeof(frame), netkey, 7, t0 + 10 + i / 100, i);
		core_recv(core, frame, (size_t)n, 2);
	}
	ok(st->drop_unknown_type == 10001, "10,000 more frames taken");
	before = st->drop_window + st->drop_replay;
	core_recv(core, first, (size_t)n0, 2);
	ok(st->drop_unknown_type == 10001 && st->drop_window + st->drop_replay == before + 1 &&
	       st->drop_replay == 0,
	   "the first, replayed after them, is refused by the window (the tag cache forgot it)");
	n = test_frame(frame, sizeof(frame), netkey, 6, t0 + 500, 1);
	core_recv(core, frame, (size_t)n, 2);
	ok(st->drop_unknown_type == 10001 && st->drop_stale == 1,
	   "a frame of the sender's older epoch is refused");
	core_destroy(core);

	/* The receiver restarts: it remembers nothing, and refuses what was sent before it started. */
	core = test_core(pk2, sk2, netkey, t0 + 1000);
	if (core == NULL)
		return;
	st = core_stats(core);
	core_recv(core, first, (size_t)n0, 2);
	ok(st->drop_before_start == 1 && st->drop_unknown_type == 0,
	   "after the receiver's restart the old frame is refused (sent before it started)");
	n = test_frame(frame, sizeof(frame), netkey, 7, t0 + 1001, 1);
	core_recv(core, frame, (size_t)n, 2);
	ok(st->drop_unknown_type == 1, "a frame sent since is taken");
	core_recv(core, first, (size_t)n0, 2);
	ok(st->drop_unknown_type == 1 && st->drop_before_start == 2,
	   "and the old one still is not");
	core_destroy(core);
}

/* Keys that make no shared secret: not a point, small order. */
static void test_bad_keys(void)
{
	/* The identity, and a point of order 8 (as in libsodium's blocklist). */
	static const uint8_t identity[32] = {1};
	static const uint8_t order8[32] = {
		0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
	};
	uint8_t notpoint[32], key[32], frame[256];

	memset(notpoint, 0xff, sizeof(notpoint));
	notpoint[31] = 0x7f; /* y = 2^255 - 1 is not canonical */
	ok(wire_pair_key(&crypto_ed25519, key, pk, sk, identity) == CORE_ERR_BADKEY,
	   "the identity point makes no key");
	ok(wire_pair_key(&crypto_ed25519, key, pk, sk, order8) == CORE_ERR_BADKEY,
	   "a point of small order makes no key");
	ok(wire_pair_key(&crypto_ed25519, key, pk, sk, notpoint) == CORE_ERR_BADKEY,
	   "a non-point makes no key");
	ok(wire_encode_to(frame, sizeof(frame), WIRE_PING, pk, 1, 1, "{}", 2, &crypto_ed25519, sk,
	                  order8, netkey) == CORE_ERR_BADKEY,
	   "no frame can be made for such a key");
}

static void test_peer_keys(void)
{
	static struct peer_keys t;
	static uint8_t keys[CHORUS_PEER_KEYS_MAX + 100][32];
	uint8_t salt[PEER_KEYS_SALT_BYTES] = {7}, k[32];
	int good = 1;

	peer_keys_init(&t, salt);
	ok(peer_keys_find(&t, pk) == -1, "an empty table finds nothing");
	/* Fill it, and one more: every entry is fresh, so the clock evicts the oldest. */
	for (size_t i = 0; i <= CHORUS_PEER_KEYS_MAX; i++) {
		randombytes_buf(keys[i], 32);
		memset(k, (int)(i & 0xff), sizeof(k));
		good &= peer_keys_insert(&t, keys[i], k, (int)(i % 7 == 0)) >= 0;
	}
	ok(good && peer_keys_find(&t, keys[0]) == -1 && peer_keys_find(&t, keys[1]) >= 0,
	   "an insert past the bound evicts the oldest instead of failing");
	/* Keys in use get a second chance: 100 more inserts pass over them. */
	for (size_t j = 1; j <= 16; j++)
		good &= peer_keys_find(&t, keys[j]) >= 0;
	for (size_t i = CHORUS_PEER_KEYS_MAX + 1; i < CHORUS_PEER_KEYS_MAX + 100; i++) {
		randombytes_buf(keys[i], 32);
		memset(k, (int)(i & 0xff), sizeof(k));
		good &= peer_keys_insert(&t, keys[i], k, (int)(i % 7 == 0)) >= 0;
	}
	ok(good, "inserts past the bound never fail");
	ok(t.n == CHORUS_PEER_KEYS_MAX && t.cap == CHORUS_PEER_KEYS_MAX && peer_keys_check(&t) == NULL,
	   "the table stays at its bound and consistent (%zu)", t.n);
	good = 1;
	for (size_t j = 1; j <= 16; j++)
		good &= peer_keys_find(&t, keys[j]) >= 0;
	ok(good, "keys in use survived eviction");
	good = peer_keys_find(&t, keys[17]) == -1;
	for (size_t j = CHORUS_PEER_KEYS_MAX - 100; j < CHORUS_PEER_KEYS_MAX + 100; j++) {
		long i = peer_keys_find(&t, keys[j]);

		good &= i >= 0 && t.v[i].key[0] == (uint8_t)(j & 0xff) && t.v[i].bad == (j % 7 == 0);
	}
	ok(good, "unused old keys went; the newest are there, with their key and bad flag");
	peer_keys_free(&t);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	crypto_sign_keypair(pk3, sk3);
	randombytes_buf(netkey, sizeof(netkey));
	randombytes_buf(netkey2, sizeof(netkey2));
	test_layout();
	test_mac_trailer();
	test_mac();
	test_bad_keys();
	test_peer_keys();
	test_core_admission();
	test_core_replay();
	return tap_done();
}

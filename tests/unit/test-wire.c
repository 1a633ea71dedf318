/* wire: frame layout, exact length checks, pairwise MACs, signed joins, the peer key table. */
#include <string.h>

#include <sodium.h>

#include "core-internal.h"
#include "tap.h"

static uint8_t pk[32], sk[64], pk2[32], sk2[64], pk3[32], sk3[64];

/* A MAC frame from (fpk, fsk) to tpk, checked the way core_recv does as node (mpk, msk). */
static int accepts(const uint8_t *frame, size_t n, const uint8_t *mpk, const uint8_t *msk)
{
	struct wire_frame f;
	uint8_t key[CHORUS_MAC_KEY_BYTES];

	if (wire_decode(&f, frame, n) < 0 || !wire_for_me(&f, mpk) ||
	    wire_pair_key(&crypto_ed25519, key, mpk, msk, f.pk) < 0)
		return 0;
	return wire_verify_mac(&crypto_ed25519, &f, frame, key) == 0;
}

static void test_layout(void)
{
	uint8_t frame[CHORUS_FRAME_MAX + 16];
	static char big[CHORUS_FRAME_MAX];
	struct wire_frame f;
	int n;

	n = wire_encode_to(frame, sizeof(frame), WIRE_PING, pk, 1234, 7, "{\"n\":1}", 7,
	                   &crypto_ed25519, sk, pk2);
	ok(n == CHORUS_FRAME_HEADER + 7 + CHORUS_MAC_BYTES, "a MAC frame is header + body + 32-byte tag");
	ok(wire_decode(&f, frame, (size_t)n) == 0, "a fresh frame decodes");
	ok(f.type == WIRE_PING && f.gen == 1234 && f.seq == 7 && f.body_len == 7 &&
	       memcmp(f.body, "{\"n\":1}", 7) == 0 && memcmp(f.pk, pk, 32) == 0 &&
	       f.auth == WIRE_AUTH_MAC && f.tag_len == CHORUS_MAC_BYTES &&
	       memcmp(f.recipient, pk2, CHORUS_RECIPIENT_BYTES) == 0,
	   "decoded fields match what was encoded");
	ok(frame[2] == 4 && CHORUS_WIRE_VERSION == 4, "wire version 4");
	ok(wire_decode(&f, frame, (size_t)n - 1) == CORE_ERR_MALFORMED, "one byte short is malformed");
	ok(wire_decode(&f, frame, (size_t)n + 1) == CORE_ERR_MALFORMED, "one byte long is malformed");
	ok(wire_decode(&f, frame, 10) == CORE_ERR_MALFORMED, "a stub is malformed");
	ok(wire_decode(&f, frame, CHORUS_FRAME_HEADER + CHORUS_MAC_BYTES - 1) == CORE_ERR_MALFORMED,
	   "shorter than a header and a tag is malformed");
	frame[0] = 'X';
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_MALFORMED, "bad magic is malformed");
	frame[0] = 'C';
	frame[2] = CHORUS_WIRE_VERSION + 1;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_VERSION, "another version is refused");
	frame[2] = 2;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_VERSION, "version 2 (signed frames) is refused");
	frame[2] = 3;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_VERSION, "version 3 (BLAKE2b MACs) is refused");
	frame[2] = CHORUS_WIRE_VERSION;
	frame[56] = 0;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_MALFORMED, "auth kind 0 is malformed");
	frame[56] = 3;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_MALFORMED, "an unknown auth kind is malformed");
	frame[56] = WIRE_AUTH_SIG;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_MALFORMED,
	   "a MAC frame relabelled as signed no longer adds up");
	frame[56] = WIRE_AUTH_MAC;
	frame[3] = 0;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_INVAL, "type 0 is unknown");
	frame[3] = WIRE_TYPE_END;
	ok(wire_decode(&f, frame, (size_t)n) == CORE_ERR_INVAL, "a type past the last is unknown");
	ok(wire_decode(&f, frame, CHORUS_FRAME_MAX + 1) == CORE_ERR_OVERSIZE, "oversized input is refused");

	memset(big, 'x', sizeof(big));
	ok(wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, pk, 1, 1, big, CHORUS_BODY_MAX + 1,
	                  &crypto_ed25519, sk, pk2) == CORE_ERR_OVERSIZE,
	   "a body over CHORUS_BODY_MAX cannot be encoded");
	n = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, pk, 1, 1, big, CHORUS_BODY_MAX,
	                   &crypto_ed25519, sk, NULL);
	ok(n == CHORUS_FRAME_MAX && wire_decode(&f, frame, (size_t)n) == 0,
	   "a body of exactly CHORUS_BODY_MAX makes a maximal signed frame");
	n = wire_encode_to(frame, sizeof(frame), WIRE_GOSSIP, pk, 1, 1, big, CHORUS_BODY_MAX,
	                   &crypto_ed25519, sk, pk2);
	ok(n == CHORUS_FRAME_MAX - (CHORUS_SIG_BYTES - CHORUS_MAC_BYTES) &&
	       wire_decode(&f, frame, (size_t)n) == 0 && accepts(frame, (size_t)n, pk2, sk2),
	   "and a MAC frame 32 bytes shorter");
	ok(strcmp(wire_type_name(WIRE_PING_REQ), "ping-req") == 0 && strcmp(wire_type_name(99), "unknown") == 0,
	   "type names");
}

static void test_mac(void)
{
	uint8_t frame[512], copy[512], k12[32], k21[32], k13[32];
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
	                           &crypto_ed25519, sk, pk2);
	ok(accepts(frame, n, pk2, sk2), "the recipient accepts a frame made for it");
	ok(!accepts(frame, n, pk3, sk3), "another node does not (wrong recipient)");
	ok(wire_decode(&f, frame, n) == 0 && !wire_for_me(&f, pk3) && !wire_for_me(&f, pk),
	   "and the header says so before any crypto");
	/* Even with the recipient field rewritten, the MAC is under the wrong pair's key. */
	memcpy(copy, frame, n);
	memcpy(copy + 57, pk3, CHORUS_RECIPIENT_BYTES);
	ok(!accepts(copy, n, pk3, sk3), "a frame re-addressed to a third node fails there");
	/* Reflected: the same bytes back to the sender, who sees its own key as sender. */
	ok(!accepts(frame, n, pk, sk), "a frame reflected to its sender is not for it");
	/* Reflected with the sender and recipient swapped: the pair key is the same, the header is not. */
	memcpy(copy, frame, n);
	memcpy(copy + 8, pk2, 32);
	memcpy(copy + 57, pk, CHORUS_RECIPIENT_BYTES);
	ok(!accepts(copy, n, pk, sk), "a reflected frame with the roles swapped fails its MAC");
	/* Every single-bit flip is caught. */
	for (size_t i = 0; i < n; i++) {
		memcpy(copy, frame, n);
		copy[i] ^= 0x10;
		bad += accepts(copy, n, pk2, sk2);
	}
	ok(bad == 0, "no single-bit change of a frame passes (%d did)", bad);
	/* A signed frame: verifiable by anyone, names no recipient. */
	n = (size_t)wire_encode_to(frame, sizeof(frame), WIRE_JOIN, pk, 5, 10, "{\"a\":\"x://y\"}", 13,
	                           &crypto_ed25519, sk, NULL);
	ok(n == CHORUS_FRAME_HEADER + 13 + CHORUS_SIG_BYTES && wire_decode(&f, frame, n) == 0 &&
	       f.auth == WIRE_AUTH_SIG && wire_verify_sig(&crypto_ed25519, &f, frame) == 0 &&
	       !wire_for_me(&f, pk2),
	   "a signed frame verifies and is for no one in particular");
	ok(wire_verify_mac(&crypto_ed25519, &f, frame, k12) == CORE_ERR_BADSIG,
	   "a signed frame never passes as a MAC frame");
	frame[60] = 1;
	ok(wire_decode(&f, frame, n) == CORE_ERR_MALFORMED, "a signed frame with a recipient is malformed");
	frame[60] = 0;
	memcpy(frame + 8, pk2, 32);
	ok(wire_decode(&f, frame, n) == 0 && wire_verify_sig(&crypto_ed25519, &f, frame) < 0,
	   "a signed frame claiming another sender fails verification");
}

/*
 * The MAC trailer: salt, 8 zero bytes, tag.  The tag depends on the nonce
 * (generation, frame number, salt), so the same bytes under another frame
 * number or salt tag differently; the reserved bytes must be zero; the
 * replay cache keys on the tag, not on the salt every frame of a sender shares.
 */
static void test_mac_trailer(void)
{
	uint8_t a[256], b[256], key[CHORUS_MAC_KEY_BYTES];
	struct wire_frame fa, fb;
	int n, m;

	wire_pair_key(&crypto_ed25519, key, pk, sk, pk2);
	n = wire_encode_head(a, sizeof(a), WIRE_PING, WIRE_AUTH_MAC, pk, 9, 100, "{\"n\":1}", 7);
	m = wire_encode_head(b, sizeof(b), WIRE_PING, WIRE_AUTH_MAC, pk, 9, 100, "{\"n\":1}", 7);
	wire_seal_mac(a, (size_t)n, &crypto_ed25519, pk2, key, 0x1111);
	wire_seal_mac(b, (size_t)m, &crypto_ed25519, pk2, key, 0x2222);
	ok(wire_decode(&fa, a, (size_t)n) == 0 && wire_decode(&fb, b, (size_t)m) == 0 &&
	       codec_get_u64(fa.tag) == 0x1111 && codec_get_u64(fa.tag + 8) == 0,
	   "the trailer starts with the salt and 8 zero bytes");
	ok(accepts(a, (size_t)n, pk2, sk2) && accepts(b, (size_t)m, pk2, sk2) &&
	       memcmp(a + n - 16, b + m - 16, 16) != 0 && wire_replay_key(&fa) != wire_replay_key(&fb) &&
	       wire_replay_key(&fa) == codec_get_u64(a + n - 16),
	   "another salt, another tag; the replay key is the tag's");
	memcpy(a + n - 32, b + m - 32, 8);
	ok(!accepts(a, (size_t)n, pk2, sk2), "a tag moved under another salt fails");
	m = wire_encode_head(b, sizeof(b), WIRE_PING, WIRE_AUTH_MAC, pk, 9, 101, "{\"n\":1}", 7);
	wire_seal_mac(b, (size_t)m, &crypto_ed25519, pk2, key, 0x1111);
	wire_seal_mac(a, (size_t)n, &crypto_ed25519, pk2, key, 0x1111);
	ok(memcmp(a + n - 16, b + m - 16, 16) != 0, "another frame number, another tag");
	a[n - 20] = 1;
	ok(wire_decode(&fa, a, (size_t)n) == CORE_ERR_MALFORMED, "a reserved byte set is malformed");
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
	                  order8) == CORE_ERR_BADKEY,
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
	test_layout();
	test_mac_trailer();
	test_mac();
	test_bad_keys();
	test_peer_keys();
	return tap_done();
}

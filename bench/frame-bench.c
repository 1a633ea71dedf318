/*
 * frame-bench: what authenticating one fabric frame costs, with a signature
 * (wire v2) and with a MAC under the pair's key (wire v3: keyed BLAKE2b;
 * wire v4: XChaCha20-Poly1305, which the "v3" columns now time).
 *
 *   frame-bench [-n ITERATIONS]
 *
 * For typical body sizes, times with the daemon's crypto (crypto_ed25519):
 *   v2  the sender's ed25519 signature over header and body, and the
 *       receiver's verification (what every frame cost before wire v3);
 *   v3  the sender's key lookup and MAC (wire_seal_mac), and the receiver's
 *       key lookup and check (wire_verify_mac): both nodes hold the pair key.
 * Then the one-off cost of deriving a pair key (X25519 and a hash), paid once
 * per peer while its key stays cached, and the whole per-frame path through
 * core_recv (decode, recipient, MAC, replay cache) for a small frame; and
 * decoding a signed request and ack (every node does both for every job):
 * the canonical fast path the decoders try first, and the JSON path alone.
 * Prints microseconds per frame: the median of ITERATIONS timed calls (a
 * clock read costs a few tens of ns), so that a busy machine's preemptions
 * do not count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core-internal.h"
#include "dispatch/jobmsg.h"

static double bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

#define BENCH_SAMPLES_MAX 20001

static double bench_samples[BENCH_SAMPLES_MAX];

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The median time of one call of stmt over n timed calls: on a shared,
 * busy machine the mean mostly measures other processes; the median does not.
 */
#define BENCH_TIME(out_us, n, stmt)                                                  \
	do {                                                                         \
		long n_ = (n) < BENCH_SAMPLES_MAX ? (n) : BENCH_SAMPLES_MAX;         \
		for (long i = 0; i < n_; i++) {                                      \
			double t_ = bench_now_us();                                  \
			stmt;                                                        \
			bench_samples[i] = bench_now_us() - t_;                      \
		}                                                                    \
		qsort(bench_samples, (size_t)n_, sizeof(double), bench_cmp_double);  \
		(out_us) = bench_samples[n_ / 2];                                    \
	} while (0)

static void bench_send_cb(void *ctx, const char *addr, const uint8_t *frame, size_t len)
{
	(void)ctx, (void)addr, (void)frame, (void)len;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {64, 256, 1024, 4096, 16384, 60000};
	static uint8_t frame[CHORUS_FRAME_MAX], sig[CHORUS_SIG_BYTES];
	static char body[CHORUS_BODY_MAX];
	const struct core_crypto *c = &crypto_ed25519;
	uint8_t pk1[32], sk1[64], pk2[32], sk2[64], key[32], salt[PEER_KEYS_SALT_BYTES] = {1};
	struct peer_keys k1, k2;
	struct wire_frame f;
	long iters = 2001;
	static uint8_t plain[CHORUS_BODY_MAX];
	uint8_t netkey[CHORUS_NETKEY_BYTES] = {0}, admit[32], join[32], stranger[32], sjoin[32];
	double t0, sign_us, verify_us, mac_us, check_us, refuse_us, kx_us;
	int opt, bad = 0;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n' || (iters = strtol(optarg, NULL, 10)) <= 0) {
			fprintf(stderr, "usage: frame-bench [-n ITERATIONS]\n");
			return 2;
		}
	}
	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(pk1, sk1);
	crypto_sign_keypair(pk2, sk2);
	wire_netkey_derive(netkey, admit, join);
	netkey[0] = 1; /* another network's key: the stranger's */
	wire_netkey_derive(netkey, stranger, sjoin);
	netkey[0] = 0;
	memset(body, 'x', sizeof(body));
	peer_keys_init(&k1, salt);
	peer_keys_init(&k2, salt);
	/* Tables as a busy node holds them: a thousand peers each, ours among them. */
	for (int i = 0; i < 1000; i++) {
		uint8_t other[32];

		randombytes_buf(other, sizeof(other));
		peer_keys_insert(&k1, other, key, 0);
		peer_keys_insert(&k2, other, key, 0);
	}
	wire_pair_key(c, key, pk1, sk1, pk2);
	peer_keys_insert(&k1, pk2, key, 0);
	peer_keys_insert(&k2, pk1, key, 0);

	/* seal/open: wire 5, the body encrypted; refuse: a stranger's frame (admission tag). */
	printf("%8s %10s %10s %10s %10s %10s %10s %8s %10s\n", "body_B", "v2_sign", "v2_verify",
	       "v2_total", "seal", "open", "seal_total", "speedup", "refuse");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s], len;
		long it = n > 8192 ? iters / 4 + 1 : iters;

		/* v2: sign and verify header + body. */
		len = (size_t)wire_encode_head(frame, sizeof(frame), WIRE_GOSSIP, WIRE_AUTH_SIG, pk1, 1, 1,
		                               body, n);
		BENCH_TIME(sign_us, it, c->sign(sig, frame, len - CHORUS_SIG_BYTES, sk1));
		BENCH_TIME(verify_us, it,
		           bad += c->verify(sig, frame, len - CHORUS_SIG_BYTES, pk1) != 0);

		/* v3: look the key up and MAC; look it up and check. */
		len = (size_t)wire_encode_head(frame, sizeof(frame), WIRE_GOSSIP, WIRE_AUTH_MAC, pk1, 1, 1,
		                               body, n);
		BENCH_TIME(mac_us, it,
		           wire_seal_mac(frame, len, c, pk2, k1.v[peer_keys_find(&k1, pk2)].key, admit,
		                         7));
		BENCH_TIME(check_us, it,
		           bad += wire_decode(&f, frame, len) != 0 || !wire_for_me(&f, pk2) ||
		                  wire_admit(&f, frame, admit) != 0 ||
		                  wire_open(c, &f, frame, plain, k2.v[peer_keys_find(&k2, pk1)].key) != 0);
		/* A stranger's frame: decoded and refused by the admission tag, nothing else. */
		BENCH_TIME(refuse_us, it,
		           bad += wire_decode(&f, frame, len) != 0 ||
		                  wire_admit(&f, frame, stranger) != CORE_ERR_NOKEY);
		printf("%8zu %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %7.1fx %10.2f\n", n, sign_us,
		       verify_us, sign_us + verify_us, mac_us, check_us, mac_us + check_us,
		       (sign_us + verify_us) / (mac_us + check_us), refuse_us);
	}

	BENCH_TIME(kx_us, iters / 4 + 1, bad += wire_pair_key(c, key, pk1, sk1, pk2) != 0);
	printf("pair key derivation (X25519 + BLAKE2b, once per peer): %.1f us\n", kx_us);

	/* The whole receive path of a small authentic frame, minus the body handlers. */
	{
		struct core_config cfg;
		struct core_env env = {.send_cb = bench_send_cb, .crypto = c};
		struct core *core;
		static uint8_t frames[4096][256];
		static size_t lens[4096];
		long it = iters < 4096 ? iters : 4096;

		core_config_defaults(&cfg);
		strcpy(cfg.name, "bench");
		strcpy(cfg.addr, "tcp://127.0.0.1:1");
		if (core_create(&core, &cfg, pk2, sk2, &env, 0) != 0)
			return 1;
		core_set_log_level(core, CORE_LOG_ERROR);
		/* Unknown-type-free, body-free: app frames without app_cb are dropped after auth. */
		for (long i = 0; i < it; i++)
			lens[i] = (size_t)wire_encode_to(frames[i], sizeof(frames[i]), WIRE_RAFT, pk1, 1,
			                                 (uint64_t)i + 1, body, 100, c, sk1, pk2, netkey);
		core_recv(core, frames[0], lens[0], 1); /* derives and caches the key */
		t0 = bench_now_us();
		for (long i = 1; i < it; i++)
			core_recv(core, frames[i], lens[i], 1);
		printf("core_recv of a 100-byte app frame (decode, recipient, MAC, replay): %.2f us\n",
		       (bench_now_us() - t0) / (double)(it - 1));
		bad += core_stats(core)->drop_badsig + core_stats(core)->drop_replay != 0;
		core_destroy(core);
	}
	/* Decoding the signed texts of a job. */
	{
		struct jreq r, r2;
		struct jack a, a2;
		char rtext[JOBMSG_TEXT_MAX + 1], atext[JOBMSG_TEXT_MAX + 1];
		double req_us, req_json_us, ack_us, ack_json_us;
		int rlen, alen;

		memset(&r, 0, sizeof(r));
		randombytes_buf(r.client, sizeof(r.client));
		r.nonce = 0x1234567890abcdefULL;
		jobmsg_job_id(r.id, r.client, r.nonce);
		strcpy(r.addr, "tcp://127.0.0.1:7471");
		strcpy(r.kind, "echo");
		r.size = 1;
		r.timeout_ms = 10000;
		r.created_ms = 1764460000123ULL;
		r.gen = 1764460000000ULL;
		r.round = 1;
		memset(&a, 0, sizeof(a));
		memcpy(a.id, r.id, sizeof(a.id));
		a.nonce = r.nonce;
		memcpy(a.client, r.client, sizeof(a.client));
		a.has_worker = 1;
		randombytes_buf(a.worker, sizeof(a.worker));
		strcpy(a.kind, "echo");
		strcpy(a.status, "succeeded");
		a.attempts = 1;
		rlen = jobmsg_request_encode(rtext, sizeof(rtext), &r);
		alen = jobmsg_ack_encode(atext, sizeof(atext), &a);
		BENCH_TIME(req_us, iters, bad += jobmsg_request_decode(&r2, rtext, (size_t)rlen) != 0);
		BENCH_TIME(req_json_us, iters,
		           bad += jobmsg_request_decode_json(&r2, rtext, (size_t)rlen) != 0);
		BENCH_TIME(ack_us, iters, bad += jobmsg_ack_decode(&a2, atext, (size_t)alen) != 0);
		BENCH_TIME(ack_json_us, iters, bad += jobmsg_ack_decode_json(&a2, atext, (size_t)alen) != 0);
		printf("decode a signed request (%d B): %.2f us (JSON path alone %.2f us)\n", rlen, req_us,
		       req_json_us);
		printf("decode a signed ack (%d B): %.2f us (JSON path alone %.2f us)\n", alen, ack_us,
		       ack_json_us);
	}
	peer_keys_free(&k1);
	peer_keys_free(&k2);
	if (bad) {
		fprintf(stderr, "frame-bench: %d checks failed\n", bad);
		return 1;
	}
	return 0;
}

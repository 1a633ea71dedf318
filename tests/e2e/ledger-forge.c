/*
 * ledger-forge: send a node a "committed" ledger answer it must not believe.
 *
 *	ledger-forge [-k KEY_FILE] [-h HEIGHT] -K KEYRING URL NODE_ID JOBS_FILE
 *
 * Makes a fresh key pair (a stranger: no member, no voter), and sends the
 * node at URL (its --listen address) one authentic fabric frame (wire v3, a
 * MAC under the key the stranger shares with NODE_ID, the node's hex public
 * key) carrying an LMSG_COMMITTED message that says every job id in
 * JOBS_FILE (hex, one per line, at most 255) is committed at height 1.  The
 * frame passes the fabric's checks; only the ledger's rule that answers come
 * from voters stands between it and the node's outbox.  Exits 0 once sent
 * (waits up to 1 s for the connection, lingers so the bytes leave), 1 on any
 * failure.
 *
 * -K: the network's keyring (its primary key seals the frame): the forger
 * holds the network key, as a member would, so only the ledger's rule stands.
 * -k sends as the node whose node.key that is (a voter's, to test what a
 * voter's word cannot do), -h says another height (0: "the ledger refused
 * it").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/util/platform.h>
#include <sodium.h>

#include "core-internal.h"
#include "lmsg.h"
#include "node.h"

#define FORGE_WAIT_MS   1000
#define FORGE_LINGER_MS 200

static int forge_body(uint8_t *body, size_t cap, const char *path, uint64_t height, size_t *len)
{
	FILE *fp = fopen(path, "r");
	char line[256];
	unsigned n = 0;

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	memset(body, 0, LMSG_HEADER);
	body[0] = LMSG_COMMITTED;
	*len = LMSG_HEADER;
	while (fgets(line, sizeof line, fp) != NULL && n < LMSG_RECORDS_MAX &&
	       *len + LMSG_COMMITTED_BYTES <= cap) {
		uint8_t job[CHORUS_JOB_ID_BYTES];
		size_t got = 0;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (sodium_hex2bin(job, sizeof job, line, strlen(line), NULL, &got, NULL) != 0 ||
		    got != sizeof job) {
			fprintf(stderr, "ledger-forge: not a job id: %s\n", line);
			fclose(fp);
			return -1;
		}
		lmsg_put_committed(body + *len, job, height);
		*len += LMSG_COMMITTED_BYTES;
		n++;
	}
	fclose(fp);
	body[2 + CHORUS_PK_BYTES] = (uint8_t)n;
	return n > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static uint8_t body[CHORUS_BODY_MAX], frame[CHORUS_BODY_MAX + 512];
	uint8_t pk[CHORUS_PK_BYTES], sk[CHORUS_SK_BYTES], to[CHORUS_PK_BYTES];
	size_t blen = 0, got = 0;
	const char *key_file = NULL, *keyring = NULL;
	uint8_t netkeys[CHORUS_KEYRING_MAX][CHORUS_NETKEY_BYTES];
	unsigned nnetkeys = 0;
	char err[NODE_ERR_MAX];
	uint64_t height = 1;
	struct timespec ts;
	nng_socket sock;
	int n, opt;

	while ((opt = getopt(argc, argv, "k:h:K:")) != -1) {
		if (opt == 'k')
			key_file = optarg;
		else if (opt == 'K')
			keyring = optarg;
		else if (opt == 'h')
			height = strtoull(optarg, NULL, 10);
		else
			return 1;
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc != 4 || keyring == NULL) {
		fprintf(stderr,
		        "usage: ledger-forge [-k KEY_FILE] [-h HEIGHT] -K KEYRING URL NODE_ID JOBS_FILE\n");
		return 1;
	}
	if (keyring_load(keyring, netkeys, &nnetkeys, err, sizeof err) != 0) {
		fprintf(stderr, "ledger-forge: %s\n", err);
		return 1;
	}
	if (sodium_init() < 0 ||
	    sodium_hex2bin(to, sizeof to, argv[2], strlen(argv[2]), NULL, &got, NULL) != 0 ||
	    got != sizeof to || forge_body(body, sizeof body, argv[3], height, &blen) != 0) {
		fprintf(stderr, "ledger-forge: bad node id or jobs file\n");
		return 1;
	}
	if (key_file == NULL) {
		crypto_sign_keypair(pk, sk);
	} else {
		FILE *fp = fopen(key_file, "rb");

		if (fp == NULL || fread(sk, 1, sizeof sk, fp) != sizeof sk) {
			fprintf(stderr, "ledger-forge: cannot read a key from %s\n", key_file);
			return 1;
		}
		fclose(fp);
		crypto_sign_ed25519_sk_to_pk(pk, sk);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	/* The frame number carries the send time: receivers refuse frames sent before they started. */
	uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	n = wire_encode_to(frame, sizeof frame, WIRE_LEDGER, pk, now_ms,
	                   now_ms << CHORUS_SEQ_CLOCK_SHIFT, (const char *)body, blen, &crypto_ed25519,
	                   sk, to, netkeys[0]);
	if (n <= 0) {
		fprintf(stderr, "ledger-forge: cannot encode the frame (%d)\n", n);
		return 1;
	}
	if (nng_push0_open(&sock) != 0 || nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, FORGE_WAIT_MS) != 0 ||
	    nng_dial(sock, argv[1], NULL, 0) != 0 || nng_send(sock, frame, (size_t)n, 0) != 0) {
		fprintf(stderr, "ledger-forge: cannot send to %s\n", argv[1]);
		return 1;
	}
	nng_msleep(FORGE_LINGER_MS);
	nng_close(sock);
	return 0;
}

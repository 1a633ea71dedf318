/*
 * fabric-inject: send one raw frame to a node's fabric inbox.
 *
 *	fabric-inject [-n COUNT] URL FILE|-
 *
 * Dials a PUSH socket to URL (a node's --listen address) and sends the bytes
 * of FILE (or stdin) as one nng message, whatever they are: the e2e tests use
 * it to throw garbage, truncated, oversized and forged frames at a node (-n:
 * COUNT times, a flood).  It
 * waits up to 1 s for the connection and the send (10 s for each send of a
 * flood: the node reads a flood at its own pace, and on a loaded machine,
 * beside its jobs, it stalled for over 1 s), lingers briefly so the bytes
 * leave the process, and exits 0; 1 on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/util/platform.h>

#define INJECT_MAX       (16 * 1024 * 1024)
#define INJECT_WAIT_MS   1000
#define INJECT_FLOOD_WAIT_MS 10000 /* per send with -n above 1: back-pressure, not a hang */
#define INJECT_LINGER_MS 200
#define INJECT_COUNT_MAX 10000000

static int
inject_read(const char *path, char **out, size_t *outlen)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 65536, len = 0;
	char *buf;

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	if ((buf = malloc(cap)) == NULL)
		return -1;
	for (;;) {
		if (len == cap) {
			char *nbuf;
			if (cap >= INJECT_MAX || (nbuf = realloc(buf, cap * 2)) == NULL) {
				fprintf(stderr, "fabric-inject: %s: too big\n", path);
				free(buf);
				return -1;
			}
			buf = nbuf;
			cap *= 2;
		}
		size_t n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		perror(path);
		free(buf);
		return -1;
	}
	if (fp != stdin)
		fclose(fp);
	*out = buf;
	*outlen = len;
	return 0;
}

int
main(int argc, char **argv)
{
	nng_socket sock;
	char *buf;
	size_t len;
	long count = 1;
	int rv;

	if (argc == 5 && strcmp(argv[1], "-n") == 0) {
		count = strtol(argv[2], NULL, 10);
		argc -= 2;
		argv += 2;
	}
	if (argc != 3 || count < 1 || count > INJECT_COUNT_MAX) {
		fprintf(stderr, "usage: fabric-inject [-n COUNT] URL FILE|-\n");
		return 1;
	}
	if (inject_read(argv[2], &buf, &len) != 0)
		return 1;
	if ((rv = nng_push0_open(&sock)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO,
	                            count > 1 ? INJECT_FLOOD_WAIT_MS : INJECT_WAIT_MS)) != 0 ||
	    (rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 0)) != 0) {
		fprintf(stderr, "fabric-inject: socket: %s\n", nng_strerror(rv));
		return 1;
	}
	/* A blocking dial: a refused connection is an error, not a silent drop. */
	if ((rv = nng_dial(sock, argv[1], NULL, 0)) != 0) {
		fprintf(stderr, "fabric-inject: dial %s: %s\n", argv[1], nng_strerror(rv));
		return 1;
	}
	for (long i = 0; i < count; i++)
		if ((rv = nng_send(sock, buf, len, 0)) != 0) {
			fprintf(stderr, "fabric-inject: send %ld: %s\n", i, nng_strerror(rv));
			return 1;
		}
	/* PUSH has no delivery receipt: give the pipe time to write the bytes. */
	nng_msleep(INJECT_LINGER_MS);
	nng_close(sock);
	free(buf);
	return 0;
}

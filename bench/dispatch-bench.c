/*
 * dispatch-bench: submits trivial jobs to one node's HTTP API and measures
 * them end to end (POST /v1/jobs?wait_ms=..., answered once the job is final).
 *
 *   dispatch-bench -H HOST:PORT [-c CONNECTIONS] [-n JOBS] [-k KIND] [-t SECONDS]
 *
 * Each connection keeps one job in flight; with -c 1 the figures are the
 * latency of one job at a time, with many connections the throughput.  Prints
 * one line: jobs, ok, failed, seconds, jobs/s, p50/p90/p99/max latency in ms,
 * and this client's own CPU time per job.
 * Bounded: stops after JOBS jobs or SECONDS seconds, whichever comes first,
 * and gives up on answers 30 s after that.
 *
 * The client is deliberately lean, because it shares the machine with the
 * nodes it measures: plain keep-alive HTTP/1.1 over non-blocking sockets and
 * epoll, one prebuilt request, and of each answer only the status line, the
 * Content-Length and the job's state are read.  A job counts as ok only when
 * the answer is 200 and its record says "state":"succeeded".  (It was a
 * libevent evhttp client, which spent 0.05 ms of CPU per job, an eighth of
 * what the four nodes spend.)
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_CONNS_MAX 1024
#define BENCH_JOBS_MAX  10000000
#define BENCH_RESP_MAX  (256 * 1024) /* a job record with a tiny result is under 2 KiB */
#define BENCH_GRACE_S   30

struct bench_conn {
	int fd;
	int busy;          /* a request is out */
	double started_s;
	size_t len;        /* bytes of the answer so far */
	char buf[BENCH_RESP_MAX];
};

struct bench {
	int ep;
	char req[768];
	size_t req_len;
	long jobs_max, sent, done, ok, failed;
	double deadline_s, t0_s;
	double *lat_ms;
	struct bench_conn *conns;
	long nconns;
};

static double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_fail(const char *what)
{
	fprintf(stderr, "dispatch-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The next request on c, unless the run is over. */
static void bench_send(struct bench *b, struct bench_conn *c)
{
	ssize_t n;

	if (b->sent >= b->jobs_max || bench_now_s() > b->deadline_s)
		return;
	c->len = 0;
	c->busy = 1;
	c->started_s = bench_now_s();
	b->sent++;
	n = write(c->fd, b->req, b->req_len);
	if (n != (ssize_t)b->req_len) /* a few hundred bytes into an idle socket: all or error */
		bench_fail("write");
}

/*
 * A whole answer in c->buf?  Returns its length (headers and body), 0 when
 * more must come, -1 when it cannot be an answer.
 */
static long bench_answer_len(const struct bench_conn *c)
{
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	const char *cl;
	long body;

	if (end == NULL)
		return c->len < BENCH_RESP_MAX ? 0 : -1;
	cl = memmem(c->buf, (size_t)(end - c->buf), "\r\nContent-Length:", 17);
	if (cl == NULL)
		return -1; /* the API always sends one */
	body = strtol(cl + 17, NULL, 10);
	if (body < 0 || (end - c->buf) + 4 + body > BENCH_RESP_MAX)
		return -1;
	return (end - c->buf) + 4 + body <= (long)c->len ? (end - c->buf) + 4 + body : 0;
}

static void bench_read(struct bench *b, struct bench_conn *c)
{
	ssize_t n = read(c->fd, c->buf + c->len, BENCH_RESP_MAX - c->len);
	long whole;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || !c->busy) {
		fprintf(stderr, "dispatch-bench: the node closed a connection or sent unasked\n");
		exit(1);
	}
	c->len += (size_t)n;
	if ((whole = bench_answer_len(c)) == 0)
		return;
	b->lat_ms[b->done++] = (bench_now_s() - c->started_s) * 1e3;
	c->busy = 0;
	/* A succeeded job's record says so; anything else counts as a failure. */
	if (whole > 0 && c->len >= 12 && memcmp(c->buf, "HTTP/1.1 200", 12) == 0 &&
	    memmem(c->buf, (size_t)whole, "\"state\":\"succeeded\"", 19) != NULL)
		b->ok++;
	else if (b->failed++ == 0 && whole > 0) /* the first failure, said: what the node answered */
		fprintf(stderr, "dispatch-bench: first failure: %.*s\n",
		        (int)(whole < 600 ? whole : 600), c->buf);
	if (whole < 0) {
		fprintf(stderr, "dispatch-bench: an answer that is not HTTP\n");
		exit(1);
	}
	bench_send(b, c);
}

static void bench_connect(struct bench *b, struct bench_conn *c, const struct sockaddr_in *to)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int one = 1;

	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		bench_fail("socket");
	if (connect(c->fd, (const struct sockaddr *)to, sizeof *to) != 0)
		bench_fail("connect");
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	ev.data.ptr = c;
	if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		bench_fail("epoll_ctl");
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double bench_pct(const double *v, long n, double p)
{
	long i = (long)(p * (double)(n - 1) + 0.5);

	return n > 0 ? v[i] : 0;
}

static void bench_usage(void)
{
	fprintf(stderr, "usage: dispatch-bench -H HOST:PORT [-c CONNECTIONS] [-n JOBS] [-k KIND] "
	                "[-t SECONDS]\n"
	                "  (the node's API token from $CHORUS_TOKEN)\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct epoll_event evs[64];
	const char *kind = "echo";
	char host[256] = "127.0.0.1", body[128];
	double secs = 60, el;
	int ch, port = 7480;

	b.jobs_max = 1000;
	b.nconns = 1;
	while ((ch = getopt(argc, argv, "H:c:n:k:t:")) != -1) {
		switch (ch) {
		case 'H':
			if (sscanf(optarg, "%255[^:]:%d", host, &port) != 2)
				bench_usage();
			break;
		case 'c': b.nconns = strtol(optarg, NULL, 10); break;
		case 'n': b.jobs_max = strtol(optarg, NULL, 10); break;
		case 'k': kind = optarg; break;
		case 't': secs = strtod(optarg, NULL); break;
		default: bench_usage();
		}
	}
	if (b.nconns < 1 || b.nconns > BENCH_CONNS_MAX || b.jobs_max < 1 ||
	    b.jobs_max > BENCH_JOBS_MAX || secs <= 0 || strlen(kind) > 32 || port < 1 || port > 65535)
		bench_usage();
	if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
		fprintf(stderr, "dispatch-bench: -H wants an IPv4 address and a port\n");
		return 1;
	}
	to.sin_port = htons((uint16_t)port);
	snprintf(body, sizeof body, "{\"kind\":\"%s\",\"payload_b64\":\"eA==\",\"timeout_ms\":10000}",
	         kind);
	/* The node's API token (its data dir's api.token), as chorus(1) takes it. */
	const char *token = getenv("CHORUS_TOKEN");
	if (token == NULL || strlen(token) > 128 || strpbrk(token, "\r\n") != NULL)
		token = "";
	b.req_len = (size_t)snprintf(b.req, sizeof b.req,
	                             "POST /v1/jobs?wait_ms=5000 HTTP/1.1\r\nHost: %s:%d\r\n"
	                             "Authorization: Bearer %s\r\n"
	                             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	                             host, port, token, strlen(body), body);
	b.lat_ms = calloc((size_t)b.jobs_max, sizeof *b.lat_ms);
	b.conns = calloc((size_t)b.nconns, sizeof *b.conns);
	if (b.lat_ms == NULL || b.conns == NULL || (b.ep = epoll_create1(0)) < 0)
		return 1;
	for (long i = 0; i < b.nconns; i++)
		bench_connect(&b, &b.conns[i], &to);
	b.t0_s = bench_now_s();
	b.deadline_s = b.t0_s + secs;
	for (long i = 0; i < b.nconns; i++)
		bench_send(&b, &b.conns[i]);
	while (b.done < b.sent) {
		int n = epoll_wait(b.ep, evs, 64, 1000);

		if (n < 0 && errno != EINTR)
			bench_fail("epoll_wait");
		for (int i = 0; i < n; i++)
			bench_read(&b, evs[i].data.ptr);
		if (bench_now_s() > b.deadline_s + BENCH_GRACE_S) {
			fprintf(stderr, "dispatch-bench: %ld answers never came\n", b.sent - b.done);
			b.failed += b.sent - b.done;
			break;
		}
	}
	el = bench_now_s() - b.t0_s;
	qsort(b.lat_ms, (size_t)b.done, sizeof(double), bench_cmp);
	{
		struct rusage ru;
		double cpu_ms = 0;

		if (getrusage(RUSAGE_SELF, &ru) == 0)
			cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
			         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
		printf("connections=%ld jobs=%ld ok=%ld failed=%ld seconds=%.2f jobs_per_s=%.0f "
		       "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f bench_cpu_ms_per_job=%.3f\n",
		       b.nconns, b.done, b.ok, b.failed, el, (double)b.done / el,
		       bench_pct(b.lat_ms, b.done, 0.50), bench_pct(b.lat_ms, b.done, 0.90),
		       bench_pct(b.lat_ms, b.done, 0.99), b.done ? b.lat_ms[b.done - 1] : 0,
		       b.done ? cpu_ms / (double)b.done : 0);
	}
	return b.failed > 0 ? 2 : 0;
}

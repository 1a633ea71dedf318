/*
 * dispatch-bench: submits trivial jobs to one node's HTTP API and measures
 * them end to end (POST /v1/jobs?wait_ms=..., answered once the job is final).
 *
 *   dispatch-bench -H HOST:PORT [-c CONNECTIONS] [-n JOBS] [-k KIND] [-t SECONDS]
 *
 * Each connection keeps one job in flight; with -c 1 the figures are the
 * latency of one job at a time, with many connections the throughput.  Prints
 * one line: jobs, ok, failed, seconds, jobs/s, p50/p90/p99/max latency in ms.
 * Bounded: stops after JOBS jobs or SECONDS seconds, whichever comes first.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define BENCH_CONNS_MAX 1024
#define BENCH_JOBS_MAX  10000000

struct bench;
struct bench_conn {
	struct bench *b;
	struct evhttp_connection *conn;
	double started_s;
};

struct bench {
	struct event_base *base;
	const char *host;
	int port;
	const char *kind;
	long jobs_max, sent, done, ok, failed;
	double deadline_s, t0_s;
	double *lat_ms;
	struct bench_conn conns[BENCH_CONNS_MAX];
};

static double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_send(struct bench_conn *c);

static void bench_done_cb(struct evhttp_request *req, void *arg)
{
	struct bench_conn *c = arg;
	struct bench *b = c->b;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	struct evbuffer *in = req != NULL ? evhttp_request_get_input_buffer(req) : NULL;
	size_t len = in != NULL ? evbuffer_get_length(in) : 0;
	const char *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";

	b->lat_ms[b->done++] = (bench_now_s() - c->started_s) * 1e3;
	/* A succeeded job's record says so; anything else counts as a failure. */
	if (code == 200 && len > 0 && memmem(body, len, "\"state\":\"succeeded\"", 19) != NULL)
		b->ok++;
	else
		b->failed++;
	bench_send(c);
}

static void bench_send(struct bench_conn *c)
{
	static const char body[] = "{\"kind\":\"%s\",\"payload_b64\":\"eA==\",\"timeout_ms\":10000}";
	struct bench *b = c->b;
	struct evhttp_request *req;
	char text[256];

	if (b->sent >= b->jobs_max || bench_now_s() > b->deadline_s) {
		if (b->done == b->sent)
			event_base_loopexit(b->base, NULL);
		return;
	}
	req = evhttp_request_new(bench_done_cb, c);
	snprintf(text, sizeof text, body, b->kind);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", b->host);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(req), text, strlen(text));
	c->started_s = bench_now_s();
	b->sent++;
	if (evhttp_make_request(c->conn, req, EVHTTP_REQ_POST, "/v1/jobs?wait_ms=5000") != 0) {
		fprintf(stderr, "dispatch-bench: cannot send a request\n");
		exit(1);
	}
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
	                "[-t SECONDS]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static struct bench b;
	long conns = 1;
	double secs = 60;
	char host[256] = "127.0.0.1";
	int ch;

	b.jobs_max = 1000;
	b.kind = "echo";
	b.port = 7480;
	while ((ch = getopt(argc, argv, "H:c:n:k:t:")) != -1) {
		switch (ch) {
		case 'H':
			if (sscanf(optarg, "%255[^:]:%d", host, &b.port) != 2)
				bench_usage();
			break;
		case 'c': conns = strtol(optarg, NULL, 10); break;
		case 'n': b.jobs_max = strtol(optarg, NULL, 10); break;
		case 'k': b.kind = optarg; break;
		case 't': secs = strtod(optarg, NULL); break;
		default: bench_usage();
		}
	}
	if (conns < 1 || conns > BENCH_CONNS_MAX || b.jobs_max < 1 || b.jobs_max > BENCH_JOBS_MAX ||
	    secs <= 0)
		bench_usage();
	b.host = host;
	b.base = event_base_new();
	b.lat_ms = calloc((size_t)b.jobs_max, sizeof(*b.lat_ms));
	if (b.base == NULL || b.lat_ms == NULL)
		return 1;
	b.t0_s = bench_now_s();
	b.deadline_s = b.t0_s + secs;
	for (long i = 0; i < conns; i++) {
		b.conns[i].b = &b;
		b.conns[i].conn = evhttp_connection_base_new(b.base, NULL, host, (unsigned short)b.port);
		if (b.conns[i].conn == NULL)
			return 1;
		evhttp_connection_set_timeout(b.conns[i].conn, 30);
		bench_send(&b.conns[i]);
	}
	event_base_dispatch(b.base);
	{
		double el = bench_now_s() - b.t0_s;

		qsort(b.lat_ms, (size_t)b.done, sizeof(double), bench_cmp);
		printf("connections=%ld jobs=%ld ok=%ld failed=%ld seconds=%.2f jobs_per_s=%.0f "
		       "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
		       conns, b.done, b.ok, b.failed, el, (double)b.done / el,
		       bench_pct(b.lat_ms, b.done, 0.50), bench_pct(b.lat_ms, b.done, 0.90),
		       bench_pct(b.lat_ms, b.done, 0.99), b.done ? b.lat_ms[b.done - 1] : 0);
	}
	return b.failed > 0 ? 2 : 0;
}

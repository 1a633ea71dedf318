/*
 * chorus-sim: the deterministic simulator's entry point.
 *
 * One subcommand per scenario, listed in a const table; each parses its own
 * options.  The helpers here parse numbers strictly (the whole argument, in
 * range) so that a typo is an error and never a silently different run.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "sim.h"

static const struct sim_cmd sim_cmds[] = {
	{"membership", "SWIM membership: join storm, crashes, a leave, a partition, a restart",
	 sim_membership_main, sim_membership_usage},
	{"admission", "a network key: strangers (open, another key) never in the cluster",
	 sim_admission_main, sim_admission_usage},
	{"dispatch", "jobs: offers, ranking, failover, loss, slow and crashing workers",
	 sim_dispatch_main, sim_dispatch_usage},
	{"queue", "jobs wait their turn: late binding, fair share, churn and loss",
	 sim_queue_main, sim_queue_usage},
	{"raft", "Raft: elections, replication, membership, snapshots under loss, partitions, crashes",
	 sim_raft_main, sim_raft_usage},
	{"bootstrap", "the first voter set, agreed by candidates with late, partial, stale views",
	 sim_bootstrap_main, sim_bootstrap_usage},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: chorus-sim [--help] [--version] command [options]\n"
	           "\n"
	           "commands:\n");
	for (size_t i = 0; i < sizeof(sim_cmds) / sizeof(sim_cmds[0]); i++)
		fprintf(f, "  %-12s %s\n", sim_cmds[i].name, sim_cmds[i].summary);
	fprintf(f, "\n"
	           "The same seed and options always print the same output, except the wall: line.\n");
	for (size_t i = 0; i < sizeof(sim_cmds) / sizeof(sim_cmds[0]); i++) {
		fprintf(f, "\n");
		sim_cmds[i].usage_fn(f);
	}
}

int sim_parse_u64(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (arg == NULL || *arg == '\0' || *arg == '-' || *arg == '+') {
		fprintf(stderr, "chorus-sim: %s: expected a number, got \"%s\"\n", opt, arg ? arg : "");
		return -1;
	}
	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno != 0 || *end != '\0') {
		fprintf(stderr, "chorus-sim: %s: expected a number, got \"%s\"\n", opt, arg);
		return -1;
	}
	if (v < min || v > max) {
		fprintf(stderr, "chorus-sim: %s: %llu is out of range [%" PRIu64 ", %" PRIu64 "]\n", opt, v,
		        min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int sim_parse_prob(const char *opt, const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = arg != NULL ? strtod(arg, &end) : 0;
	if (arg == NULL || *arg == '\0' || errno != 0 || *end != '\0' || !(v >= 0.0 && v < 1.0)) {
		fprintf(stderr, "chorus-sim: %s: expected a probability in [0, 1), got \"%s\"\n", opt,
		        arg ? arg : "");
		return -1;
	}
	*out = v;
	return 0;
}

int sim_parse_latency(const char *opt, const char *arg, uint32_t *min_ms, uint32_t *max_ms)
{
	char buf[64];
	char *colon;
	uint64_t lo, hi;

	if (arg == NULL || strlen(arg) >= sizeof(buf) || (colon = strchr(arg, ':')) == NULL) {
		fprintf(stderr, "chorus-sim: %s: expected MIN:MAX in milliseconds, got \"%s\"\n", opt,
		        arg ? arg : "");
		return -1;
	}
	memcpy(buf, arg, (size_t)(colon - arg));
	buf[colon - arg] = '\0';
	if (sim_parse_u64(opt, buf, 0, SIM_LATENCY_MAX_MS, &lo) != 0 ||
	    sim_parse_u64(opt, colon + 1, 0, SIM_LATENCY_MAX_MS, &hi) != 0)
		return -1;
	if (lo > hi) {
		fprintf(stderr, "chorus-sim: %s: MIN (%" PRIu64 ") is above MAX (%" PRIu64 ")\n", opt, lo,
		        hi);
		return -1;
	}
	*min_ms = (uint32_t)lo;
	*max_ms = (uint32_t)hi;
	return 0;
}

double sim_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time this process used: what a run costs, whatever else shares the machine. */
double sim_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	/*
	 * Thousands of cores each calloc a few 64-128 KiB tables that a membership
	 * run never touches.  A fixed mmap threshold keeps them fresh mappings, whose
	 * zero pages cost nothing until used; glibc's sliding threshold would move
	 * them onto the heap, where calloc clears (and so faults in) every page.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("chorus-sim %s\n", CHORUS_VERSION);
		return 0;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "chorus-sim: sodium_init failed\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(sim_cmds) / sizeof(sim_cmds[0]); i++) {
		if (strcmp(argv[1], sim_cmds[i].name) == 0)
			return sim_cmds[i].main_fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "chorus-sim: unknown command \"%s\" (try --help)\n", argv[1]);
	return 2;
}

/*
 * chorus-sim admission: a cluster that some nodes hold no key to.
 *
 * Of --nodes N, the first N - S hold the network key (the cluster); of the
 * S strangers, odd ones run open (no key) and even ones hold another key.
 * A stranger joins through two seeds drawn among ALL nodes, a member through
 * a stranger and node 0, so strangers knock on members' doors and members on
 * strangers'.  Every node runs the
 * kind "echo"; cluster node 0 submits --jobs jobs, one every 50 ms.  The
 * shipped core decides everything; the simulated network only delivers.
 *
 * Checked after every step (every call into any core):
 *   - no stranger holds a member record of a cluster node, and no cluster
 *     node one of a stranger;
 *   - no stranger's run_cb was ever called with a job (it never holds a
 *     payload of the cluster), and no cluster node ran a job it was not given
 *     by the cluster;
 * and at the end: the cluster converged (every cluster node sees all
 * N - S alive) and every job succeeded on a cluster worker.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define ADM_JOBS_MAX 1000
#define ADM_RUN_MS   20

struct adm {
	struct sim sim;
	struct sim_params p;
	uint32_t strangers;
	uint32_t njobs;
	uint64_t duration_ms;
	uint8_t key[CHORUS_NETKEY_BYTES], other[CHORUS_NETKEY_BYTES];
	char ids[ADM_JOBS_MAX][CHORUS_JOB_ID_HEX + 1];
	uint32_t submitted, succeeded, failed, runs;
	uint64_t checks;
};

static int adm_member(const struct adm *a, uint32_t i)
{
	return i < a->p.nodes - a->strangers;
}

static void adm_config_cb(struct sim *sim, struct sim_node *n, struct core_config *cfg)
{
	(void)sim;
	(void)n;
	strcpy(cfg->caps[0], "echo");
	cfg->ncaps = 1;
	cfg->capacity = 4;
	cfg->wall_offset_ms = (int64_t)SIM_EPOCH_MS; /* the wall clock, as chorusd gives it */
}

static void adm_created_cb(struct sim *sim, struct sim_node *n)
{
	struct adm *a = sim->hooks.ctx;
	uint8_t ring[1][CHORUS_NETKEY_BYTES];
	uint32_t s = n->index - (a->p.nodes - a->strangers);

	if (!adm_member(a, n->index) && s % 2 == 1)
		return; /* open */
	memcpy(ring[0], adm_member(a, n->index) ? a->key : a->other, CHORUS_NETKEY_BYTES);
	if (core_keyring_set(n->core, (const uint8_t(*)[CHORUS_NETKEY_BYTES])ring, 1, 0) != 0)
		sim_net_failf(sim, "node %" PRIu32 ": core_keyring_set failed", n->index);
}

static void adm_start_cb(struct sim *sim, struct sim_node *n)
{
	struct adm *a = sim->hooks.ctx;
	uint32_t members = a->p.nodes - a->strangers, seeds[2];

	/*
	 * A stranger knocks on any two doors; a member on a stranger's door and on
	 * node 0's (started first), so that the cluster is one.
	 */
	if (adm_member(a, n->index)) {
		seeds[0] = members + (uint32_t)sim_rng_below(&sim->rng, a->strangers);
		seeds[1] = 0;
	} else {
		seeds[0] = (uint32_t)sim_rng_below(&sim->rng, a->p.nodes);
		seeds[1] = (uint32_t)sim_rng_below(&sim->rng, a->p.nodes);
		if (seeds[0] == n->index)
			seeds[0] = (seeds[0] + 1) % a->p.nodes;
		if (seeds[1] == n->index)
			seeds[1] = (seeds[1] + 1) % a->p.nodes;
	}
	(void)sim_net_up(sim, n->index, seeds, n->index == 0 ? 0 : 2);
}

/* After every step: the node's member list holds no one from the other side. */
static void adm_step_cb(struct sim *sim, struct sim_node *n)
{
	struct adm *a = sim->hooks.ctx;
	struct member_view mv;
	int mine = adm_member(a, n->index);

	if (n->core == NULL)
		return;
	for (size_t i = 0; core_member_brief(n->core, i, &mv) == 0; i++) {
		int64_t x = sim_net_node_of(sim, mv.rec.pk);

		a->checks++;
		if (x < 0 || (uint32_t)x == n->index)
			continue;
		if (adm_member(a, (uint32_t)x) != mine) {
			sim_net_failf(sim, "%s node %" PRIu32 " holds a member record of %s node %" PRId64,
			              mine ? "cluster" : "stranger", n->index,
			              mine ? "stranger" : "cluster", x);
			return;
		}
	}
}

static int adm_run_cb(struct sim *sim, struct sim_node *n, const char *job_id, const char *kind,
                      const uint8_t *payload, size_t len, uint32_t timeout_ms)
{
	struct adm *a = sim->hooks.ctx;

	(void)kind;
	(void)payload;
	(void)len;
	(void)timeout_ms;
	if (!adm_member(a, n->index)) {
		sim_net_failf(sim, "stranger node %" PRIu32 " was given job %.16s and its payload",
		              n->index, job_id);
		return 0;
	}
	for (uint32_t j = 0; j < a->submitted; j++)
		if (strcmp(a->ids[j], job_id) == 0) {
			a->runs++;
			sim_net_schedule_call(sim, n->index, sim->now_ms + ADM_RUN_MS,
			                      (uint64_t)j << 1 | 1);
			return 0;
		}
	sim_net_failf(sim, "node %" PRIu32 " ran job %.16s that nobody submitted", n->index, job_id);
	return 0;
}

static void adm_job_cb(struct sim *sim, struct sim_node *n, const struct job_view *jv)
{
	struct adm *a = sim->hooks.ctx;

	(void)n;
	if (!JOB_STATE_FINAL(jv->state))
		return;
	if (jv->state == JOB_SUCCEEDED)
		a->succeeded++;
	else
		a->failed++;
	(void)sim;
}

/* arg: (job << 1 | 1) a run ends; 0 cluster node 0 submits the next job. */
static void adm_call_cb(struct sim *sim, struct sim_node *n, uint64_t arg)
{
	struct adm *a = sim->hooks.ctx;
	static const uint8_t payload[] = "the cluster's payload";
	struct job_spec spec;

	if (n->core == NULL)
		return;
	if (arg & 1) {
		(void)core_work_done(n->core, a->ids[arg >> 1], WORK_OK, payload, sizeof(payload), NULL,
		                     ADM_RUN_MS, sim->now_ms);
		return;
	}
	if (a->submitted == a->njobs)
		return;
	memset(&spec, 0, sizeof(spec));
	strcpy(spec.kind, "echo");
	spec.payload = payload;
	spec.payload_len = sizeof(payload);
	spec.nonce = sim_rng_next(&sim->rng);
	spec.created_ms = SIM_EPOCH_MS + sim->now_ms;
	if (core_job_submit(n->core, &spec, a->ids[a->submitted], sim->now_ms) == 0)
		a->submitted++;
	sim_net_schedule_call(sim, 0, sim->now_ms + 50, 0);
}

static int adm_cluster_converged(struct sim *sim, void *arg)
{
	struct adm *a = arg;
	size_t counts[4];

	for (uint32_t i = 0; i < a->p.nodes - a->strangers; i++) {
		if (sim->nodes[i].core == NULL)
			return 0;
		core_member_counts(sim->nodes[i].core, counts);
		if (counts[MEMBER_ALIVE] != a->p.nodes - a->strangers) {
			if (a->p.verbose)
				printf("node %" PRIu32 " sees %zu alive\n", i, counts[MEMBER_ALIVE]);
			if (!a->p.verbose)
				return 0;
		}
	}
	return 1;
}

void sim_admission_usage(FILE *f)
{
	fprintf(f, "  admission [--nodes N] [--strangers S] [--jobs J] [--seed N] [--loss P]\n"
	           "            [--duration-s S] [-v]\n"
	           "      N nodes, the last S of them without the network key (open, or\n"
	           "      another key); checks after every step that no stranger holds a\n"
	           "      member record or a payload of the cluster, nor the cluster one of them\n");
}

static const struct option adm_options[] = {
	{"nodes", required_argument, NULL, 'n'},   {"strangers", required_argument, NULL, 'S'},
	{"jobs", required_argument, NULL, 'j'},    {"seed", required_argument, NULL, 's'},
	{"loss", required_argument, NULL, 'l'},    {"duration-s", required_argument, NULL, 'd'},
	{"verbose", no_argument, NULL, 'v'},       {NULL, 0, NULL, 0},
};

static int adm_parse(int argc, char **argv, struct adm *a)
{
	uint64_t v;
	int c;

	a->p.nodes = 24;
	a->p.seed = 1;
	a->p.latency_min_ms = 1;
	a->p.latency_max_ms = 10;
	a->p.crypto = &sim_crypto_fast;
	a->strangers = 6;
	a->njobs = 40;
	a->duration_ms = 20000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "v", adm_options, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (sim_parse_u64("--nodes", optarg, 4, 1000, &v) != 0)
				return -1;
			a->p.nodes = (uint32_t)v;
			break;
		case 'S':
			if (sim_parse_u64("--strangers", optarg, 1, 999, &v) != 0)
				return -1;
			a->strangers = (uint32_t)v;
			break;
		case 'j':
			if (sim_parse_u64("--jobs", optarg, 0, ADM_JOBS_MAX, &v) != 0)
				return -1;
			a->njobs = (uint32_t)v;
			break;
		case 's':
			if (sim_parse_u64("--seed", optarg, 0, UINT64_MAX, &a->p.seed) != 0)
				return -1;
			break;
		case 'l':
			if (sim_parse_prob("--loss", optarg, &a->p.loss) != 0)
				return -1;
			break;
		case 'd':
			if (sim_parse_u64("--duration-s", optarg, 1, 3600, &v) != 0)
				return -1;
			a->duration_ms = v * 1000;
			break;
		case 'v': a->p.verbose++; break;
		default: return -1;
		}
	}
	if (optind < argc || a->strangers + 2 > a->p.nodes) {
		fprintf(stderr, "chorus-sim admission: %s\n",
		        optind < argc ? "unexpected argument" : "--strangers leaves fewer than 2 members");
		return -1;
	}
	return 0;
}

int sim_admission_main(int argc, char **argv)
{
	static struct adm a;
	struct sim_hooks hooks;
	int converged;

	memset(&a, 0, sizeof(a));
	if (adm_parse(argc, argv, &a) != 0)
		return 2;
	memset(&hooks, 0, sizeof(hooks));
	hooks.ctx = &a;
	hooks.start_cb = adm_start_cb;
	hooks.step_cb = adm_step_cb;
	hooks.config_cb = adm_config_cb;
	hooks.created_cb = adm_created_cb;
	hooks.call_cb = adm_call_cb;
	hooks.job_cb = adm_job_cb;
	hooks.run_cb = adm_run_cb;
	if (sim_net_init(&a.sim, &a.p, &hooks) != 0)
		return 1;
	for (size_t i = 0; i < sizeof(a.key); i++) {
		a.key[i] = (uint8_t)sim_rng_next(&a.sim.rng);
		a.other[i] = (uint8_t)sim_rng_next(&a.sim.rng);
	}
	a.key[0] |= 1; /* never the all-zero key */
	a.other[0] |= 1;
	for (uint32_t i = 0; i < a.p.nodes; i++)
		sim_net_schedule_start(&a.sim, i, SIM_T0_MS + (i == 0 ? 0 : 100 + sim_rng_below(&a.sim.rng, 2000)));
	sim_net_schedule_call(&a.sim, 0, SIM_T0_MS + 5000, 0);
	converged = sim_net_run(&a.sim, SIM_T0_MS + a.duration_ms, NULL, NULL) == 0 &&
	            adm_cluster_converged(&a.sim, &a);
	printf("admission: nodes=%" PRIu32 " strangers=%" PRIu32 " seed=%" PRIu64 " loss=%.2f\n",
	       a.p.nodes, a.strangers, a.p.seed, a.p.loss);
	printf("jobs: submitted=%" PRIu32 " succeeded=%" PRIu32 " failed=%" PRIu32 " runs=%" PRIu32
	       "\n",
	       a.submitted, a.succeeded, a.failed, a.runs);
	printf("checks: %" PRIu64 " member records looked at after every step\n", a.checks);
	if (a.sim.failed)
		printf("FAIL: %s\n", a.sim.fail);
	else if (!converged)
		printf("FAIL: the cluster did not converge\n");
	else if (a.succeeded != a.njobs || a.submitted != a.njobs)
		printf("FAIL: %" PRIu32 " of %" PRIu32 " jobs succeeded\n", a.succeeded, a.njobs);
	else
		printf("OK\n");
	sim_net_free(&a.sim);
	return a.sim.failed || !converged || a.succeeded != a.njobs ? 1 : 0;
}

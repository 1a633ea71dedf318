/*
 * chorusd: start, drive and stop one node.
 *
 * main() parses the configuration, loads the identity, and builds the shell
 * around the core: the fabric (nng), the HTTP API (evhttp), one timer and the
 * signal events, all on one libevent event_base in this one thread.  Every
 * call into the core (recv, tick, join, leave) is followed by
 * chorusd_reschedule(), which points the single timer at
 * core_next_deadline_ms(): the core owns all protocol timing, the shell only
 * wakes it up.  SIGTERM/SIGINT announce a leave and keep the loop up for
 * NODE_LEAVE_FLUSH_MS so the leave frames go out; a second signal stops at
 * once.  SIGHUP reopens the log file and re-reads the configuration file
 * (reload.c).  Under systemd (Type=notify) the manager hears READY=1 once the
 * node is up, RELOADING=1 for a reload and STOPPING=1 at the leave (notify.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "node.h"
#include "voterd.h"
#include "lread.h"
#include "runner.h"

/* The longest the timer sleeps even if the core has nothing due. */
#define CHORUSD_TICK_MAX_MS 1000

static uint64_t
chorusd_clock_ms(clockid_t clk)
{
	struct timespec ts;
	if (clock_gettime(clk, &ts) != 0)
		abort();  /* a clock that fails is a broken system, not an input error */
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Monotonic ms: the core's only notion of time. */
uint64_t
chorusd_now_ms(void)
{
	return chorusd_clock_ms(CLOCK_MONOTONIC);
}

/* Wall-clock ms: the node's start time (its generation) and nothing else. */
uint64_t
chorusd_wall_ms(void)
{
	return chorusd_clock_ms(CLOCK_REALTIME);
}

/* Point the one timer at the core's next deadline. */
void
chorusd_reschedule(struct node *node)
{
	uint64_t now = chorusd_now_ms();
	uint64_t deadline = core_next_deadline_ms(node->core);
	uint64_t delay_ms = deadline > now ? deadline - now : 0;
	struct timeval tv;

	if (delay_ms > CHORUSD_TICK_MAX_MS)
		delay_ms = CHORUSD_TICK_MAX_MS;
	tv.tv_sec = (time_t)(delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000;
	if (evtimer_add(node->timer, &tv) != 0)
		log_error("node", "event=timer_error");
}

static void
chorusd_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *node = arg;
	(void)fd;
	(void)what;
	core_tick(node->core, chorusd_now_ms());
	chorusd_reschedule(node);
}

/*
 * The core holds acks or receipts to sign: core_flush at the end of this
 * turn, so one signature covers them all (docs/merkle.md).  Made active at
 * the default priority, as the fabric's flush (fabric.c says why): it runs
 * in this pass, behind the callbacks already active, before the fabric's
 * own flush sends what it made.
 */
static void
chorusd_flush_request(void *ctx)
{
	struct node *node = ctx;

	event_active(node->flush_ev, EV_TIMEOUT, 1);
}

static void
chorusd_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *node = arg;
	(void)fd;
	(void)what;
	core_flush(node->core, chorusd_now_ms());
	/* The acks just signed reach the outbox before their jobs' final states are written. */
	if (jobs_signed(node->jobs) != 0)
		log_debug("jobs", "event=finals_wait what=\"acks not saved yet: retried with the commit\"");
	chorusd_reschedule(node);
}

/* fabric: one frame arrived. */
static void
chorusd_recv_cb(void *ctx, const uint8_t *frame, size_t len)
{
	struct node *node = ctx;
	core_recv(node->core, frame, len, chorusd_now_ms());
	chorusd_reschedule(node);
}

static void
chorusd_leave_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *node = arg;
	(void)fd;
	(void)what;
	event_base_loopexit(node->base, NULL);
}

static void
chorusd_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct node *node = arg;
	struct timeval flush = { NODE_LEAVE_FLUSH_MS / 1000, (NODE_LEAVE_FLUSH_MS % 1000) * 1000 };
	(void)what;

	if (sig == SIGHUP) {
		int r = log_reopen();
		if (r != 0)
			log_error("node", "event=log_reopen_error error=\"%s\"", strerror(-r));
		else
			log_info("node", "event=log_reopen");
		if (!node->leaving)
			reload_run(node);
		return;
	}
	if (node->leaving) {
		log_info("node", "event=stop_now signal=%s", sig == SIGINT ? "INT" : "TERM");
		event_base_loopbreak(node->base);
		return;
	}
	node->leaving = 1;
	(void)notify_send("STOPPING=1");
	log_info("node", "event=leave signal=%s flush_ms=%d", sig == SIGINT ? "INT" : "TERM",
	         NODE_LEAVE_FLUSH_MS);
	core_leave(node->core, chorusd_now_ms());
	chorusd_reschedule(node);
	if (evtimer_add(node->leave_timer, &flush) != 0)
		event_base_loopexit(node->base, &flush);
}

static int
chorusd_events(struct node *node)
{
	node->timer = evtimer_new(node->base, chorusd_timer_cb, node);
	node->flush_ev = event_new(node->base, -1, 0, chorusd_flush_cb, node);
	node->leave_timer = evtimer_new(node->base, chorusd_leave_done_cb, node);
	node->sig_term = evsignal_new(node->base, SIGTERM, chorusd_signal_cb, node);
	node->sig_int = evsignal_new(node->base, SIGINT, chorusd_signal_cb, node);
	node->sig_hup = evsignal_new(node->base, SIGHUP, chorusd_signal_cb, node);
	if (node->timer == NULL || node->flush_ev == NULL || node->leave_timer == NULL ||
	    node->sig_term == NULL ||
	    node->sig_int == NULL || node->sig_hup == NULL)
		return -ENOMEM;
	if (evsignal_add(node->sig_term, NULL) != 0 || evsignal_add(node->sig_int, NULL) != 0 ||
	    evsignal_add(node->sig_hup, NULL) != 0)
		return -EIO;
	return 0;
}

static void
chorusd_core_config(struct node *node, struct core_config *cc, const char *id_hex)
{
	const struct node_config *cfg = &node->cfg;

	core_config_defaults(cc);
	if (node->cfg.name[0] == '\0')
		core_id_short(id_hex, node->cfg.name);
	snprintf(cc->name, sizeof cc->name, "%s", cfg->name);
	/* What peers dial: never a wildcard listen address (advertise.c). */
	snprintf(cc->addr, sizeof cc->addr, "%s", node->fabric_addr);
	for (unsigned i = 0; i < cfg->nroles; i++)
		snprintf(cc->roles[i], sizeof cc->roles[i], "%s", cfg->roles[i]);
	cc->nroles = cfg->nroles;
	cc->capacity = cfg->capacity;
	/* Every kind this node runs is a capability in its record: clients count on it. */
	for (unsigned i = 0; i < cfg->nworkers; i++) {
		size_t klen = strcspn(cfg->workers[i], "=");

		snprintf(cc->caps[i], sizeof cc->caps[i], "%.*s", (int)klen, cfg->workers[i]);
	}
	cc->ncaps = cfg->nworkers;
	memcpy(cc->tags, cfg->tags, sizeof cc->tags);
	cc->ntags = cfg->ntags;
	if (cfg->offer_window_ms > 0)
		cc->timing.offer_window_ms = cfg->offer_window_ms;
	if (cfg->queue_timeout_s > 0) /* else the core's; a submit stores the one it gets (jobs.c) */
		cc->queue_timeout_ms = cfg->queue_timeout_s * 1000u;
	cc->start_ms = node->start_wall_ms;
	randombytes_buf(&cc->seed, sizeof cc->seed);
	/* Test seam (chorusd(8), ENVIRONMENT): the node's receipts will not verify. */
	const char *fault = getenv("CHORUS_FAULT");
	if (fault != NULL && strcmp(fault, "receipt-sig") == 0) {
		cc->fault_receipt_sig = 1;
		log_warn("node", "event=fault what=receipt-sig (CHORUS_FAULT: a test seam)");
	}
}

/* The configured share weights (`share CLIENT_ID=WEIGHT`), handed to the core. */
static int
chorusd_shares(struct node *node, char *err, size_t errlen)
{
	uint8_t pk[CHORUS_PK_BYTES];
	int r;

	for (unsigned i = 0; i < node->cfg.nshares; i++) {
		const struct node_share *sh = &node->cfg.shares[i];

		if (sodium_hex2bin(pk, sizeof pk, sh->client, CHORUS_ID_HEX, NULL, NULL, NULL) != 0 ||
		    (r = core_share_weight(node->core, pk, sh->weight)) != 0) {
			snprintf(err, errlen, "share %.16s=%u: %s", sh->client, sh->weight,
			         core_strerror(CORE_ERR_INVAL));
			return -EINVAL;
		}
		log_info("node", "event=share client=%.16s weight=%u", sh->client, sh->weight);
	}
	return 0;
}

/*
 * -n: everything a start checks before it binds, without creating anything
 * (config_parse has checked the addresses, the HTTP bind policy and the
 * config file): the worker kinds as the runner would take them, node.key,
 * and the log file's directory.
 */
static int
chorusd_check(struct node *node)
{
	const struct node_config *cfg = &node->cfg;
	char err[NODE_ERR_MAX], dir[NODE_PATH_MAX];
	int exists;

	for (unsigned i = 0; i < cfg->nworkers; i++)
		if (runner_check_spec(cfg->workers[i], err, sizeof err) != 0) {
			fprintf(stderr, "chorusd: --worker: %s\n", err);
			return 1;
		}
	if (cfg->log_file[0] != '\0' && access(cfg->log_file, W_OK) != 0) {
		const char *slash = strrchr(cfg->log_file, '/');
		int e = errno;

		if (slash == NULL)
			snprintf(dir, sizeof dir, ".");
		else
			snprintf(dir, sizeof dir, "%.*s", slash == cfg->log_file ? 1 :
			         (int)(slash - cfg->log_file), cfg->log_file);
		if (e != ENOENT || access(dir, W_OK | X_OK) != 0) {
			fprintf(stderr, "chorusd: log file %s: %s\n", cfg->log_file,
			        strerror(e != ENOENT ? e : errno));
			return 1;
		}
	}
	if ((cfg->keyring[0] != '\0' &&
	     keyring_load(cfg->keyring, node->netkeys, &node->nnetkeys, err, sizeof err) != 0) ||
	    api_tls_check(cfg, err, sizeof err) != 0 ||
	    identity_check(cfg->data_dir, &exists, err, sizeof err) != 0 ||
	    api_auth_check_file(cfg->data_dir, err, sizeof err) != 0) {
		fprintf(stderr, "chorusd: %s\n", err);
		return 1;
	}
	printf("configuration OK%s\n", exists ? "" : " (node.key will be created)");
	printf("fabric address published: %s (from %s)\n", node->fabric_addr, node->fabric_addr_how);
	return 0;
}

/*
 * The loop: epoll with a changelist, so that an fd enabled and disabled again
 * in one turn (evhttp does that for every request) costs no epoll_ctl at all,
 * and several changes to one fd become one call.
 */
static struct event_base *chorusd_base_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (ec == NULL)
		return NULL;
	(void)event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}


/* A keyring operation changed our keys: the file is rewritten, so a restart keeps them. */
static void
chorusd_keyring_cb(void *ctx)
{
	struct node *node = ctx;
	uint8_t keys[CHORUS_KEYRING_MAX][CHORUS_NETKEY_BYTES];
	char err[NODE_ERR_MAX];
	unsigned n;

	if (core_keyring_export(node->core, keys, &n) != 0 || node->cfg.keyring[0] == '\0')
		return;
	if (keyring_save(node->cfg.keyring, (const uint8_t(*)[CHORUS_NETKEY_BYTES])keys, n, 0, err,
	                 sizeof err) != 0)
		log_error("node", "event=keyring-save-failed what=\"%s\"", err);
	else
		log_info("node", "event=keyring-saved keys=%u file=%s", n, node->cfg.keyring);
	sodium_memzero(keys, sizeof keys);
}

static int
chorusd_start(struct node *node, const uint8_t pk[CHORUS_PK_BYTES],
              const uint8_t sk[CHORUS_SK_BYTES], char *err, size_t errlen)
{
	struct core_config cc;
	struct core_env env = { .ctx = node, .send_cb = fabric_send_cb, .log_cb = log_core_cb,
	                        .crypto = &signer_crypto, .keyring_cb = chorusd_keyring_cb,
	                        .member_cb = api_events_member, .flush_cb = chorusd_flush_request };
	char id_hex[CHORUS_ID_HEX + 1];
	int r;

	sodium_bin2hex(id_hex, sizeof id_hex, pk, CHORUS_PK_BYTES);
	chorusd_core_config(node, &cc, id_hex);
	if ((node->base = chorusd_base_new()) == NULL || log_attach(node->base) != 0) {
		snprintf(err, errlen, "cannot create the event loop");
		return -ENOMEM;
	}
	if ((r = checkpointer_start()) != 0) {
		snprintf(err, errlen, "cannot start the checkpointer: %s", strerror(-r));
		return r;
	}
	if ((r = signer_start(sk)) != 0) {
		snprintf(err, errlen, "cannot start the signer: %s", strerror(-r));
		return r;
	}
	if ((r = chorusd_events(node)) != 0) {
		snprintf(err, errlen, "cannot set up timers and signals");
		return r;
	}
	if ((r = fabric_create(&node->fabric, node->base, node->cfg.listen, chorusd_recv_cb, node,
	                       err, errlen)) != 0)
		return r;
	if ((r = jobs_create(&node->jobs, node, err, errlen)) != 0)
		return r;
	if ((r = voterd_create(&node->consensus, node, pk, sk, err, errlen)) != 0)
		return r;
	jobs_env(&env);
	voterd_env(&env);
	lread_env(&env); /* ledger reads (kinds 0x21, 0x22) before consensus's frames */
	if ((r = lread_create(&node->lread, node)) != 0) {
		snprintf(err, errlen, "cannot set up ledger reads");
		return r;
	}
	/*
	 * run_cb stays even without kinds: a reload may add some (a record
	 * without capabilities makes the core offer nothing anyway).
	 */
	node->start_mono_ms = chorusd_now_ms();
	cc.wall_offset_ms = (int64_t)chorusd_wall_ms() - (int64_t)node->start_mono_ms;
	if ((r = core_create(&node->core, &cc, pk, sk, &env, node->start_mono_ms)) != 0 ||
	    (node->nnetkeys > 0 &&
	     (r = core_keyring_set(node->core, (const uint8_t(*)[CHORUS_NETKEY_BYTES])node->netkeys,
	                           node->nnetkeys, 0)) != 0)) {
		snprintf(err, errlen, "core: %s", core_strerror(r));
		return r;
	}
	if ((r = chorusd_shares(node, err, errlen)) != 0)
		return r;
	if ((r = voterd_acks_restore(node->consensus, node->core)) != 0) {
		snprintf(err, errlen, "raft store: cannot read the outbox's acks (%s)", strerror(-r));
		return r;
	}
	sodium_memzero(node->netkeys, sizeof node->netkeys); /* the core keeps its own copy */
	if (node->nnetkeys == 0)
		log_warn("node", "event=insecure-open what=\"no network key: any node that reaches "
		                 "--listen can join, gossip, take jobs and their payloads\"");
	else
		log_info("node", "event=keyring keys=%u file=%s", node->nnetkeys, node->cfg.keyring);
	/* Records we would not print are not even formatted. */
	core_set_log_level(node->core, node->cfg.log_level);
	if ((r = api_create(&node->api, node, err, errlen)) != 0)
		return r;
	jobs_resume(node->jobs);
	chorusd_reschedule(node);
	return 0;
}

/* After the start line, so a reader sees the node before its joins. */
static void
chorusd_join(struct node *node)
{
	int r;

	for (unsigned i = 0; i < node->cfg.njoins; i++) {
		log_info("node", "event=join_seed seed=%s", node->cfg.joins[i]);
		if ((r = core_join(node->core, node->cfg.joins[i], chorusd_now_ms())) != 0)
			log_warn("node", "event=join_error seed=%s error=\"%s\"", node->cfg.joins[i],
			         core_strerror(r));
	}
	chorusd_reschedule(node);
}

static void
chorusd_stop(struct node *node)
{
	/* The turn's acks signed and saved, and their jobs' final states written (jobs_signed). */
	if (node->core != NULL)
		core_flush(node->core, chorusd_now_ms());
	if (node->jobs != NULL)
		(void)jobs_signed(node->jobs);
	lread_destroy(node->lread); /* its held requests answered while the API is there */
	node->lread = NULL;
	api_destroy(node->api);
	node->api = NULL;
	voterd_destroy(node->consensus); /* before the core: its tick reads the member table */
	node->consensus = NULL;
	if (node->jobs != NULL && node->core != NULL)
		(void)jobs_sync(node->jobs, NULL); /* live jobs' latest states, while the core has them */
	if (node->core != NULL)
		core_destroy(node->core);
	node->core = NULL;
	jobs_destroy(node->jobs); /* kills what still runs */
	node->jobs = NULL;
	checkpointer_stop(); /* both stores are closed */
	fabric_destroy(node->fabric);  /* nng_close: unsent frames are dropped */
	node->fabric = NULL;
	struct event **evs[] = { &node->timer, &node->flush_ev, &node->leave_timer, &node->sig_term,
	                         &node->sig_int, &node->sig_hup };
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
		if (*evs[i] != NULL)
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	signer_stop();
	log_detach(); /* before the loop goes: what it gathered is written */
	if (node->base != NULL)
		event_base_free(node->base);
	node->base = NULL;
}

static void
chorusd_log_start(const struct node *node, int created)
{
	char name[2 * CHORUS_NAME_MAX + 3], roles[CHORUS_ROLES_MAX * (CHORUS_TAG_MAX + 1) + 1];
	size_t n = 0;

	roles[0] = '\0';
	for (unsigned i = 0; i < node->cfg.nroles; i++)
		n += (size_t)snprintf(roles + n, sizeof roles - n, "%s%s", i > 0 ? "," : "",
		                      node->cfg.roles[i]);
	(void)log_quote(name, sizeof name, node->cfg.name);
	log_info("node", "event=start id=%s name=%s fabric=%s addr=%s addr_from=%s http=%s version=%s "
	         "key=%s%s%s", core_id(node->core), name, node->cfg.listen, node->fabric_addr,
	         node->fabric_addr_how, node->cfg.http, CHORUS_VERSION,
	         created ? "created" : "loaded", n > 0 ? " roles=" : "", roles);
	log_debug("node", "event=config data_dir=%s config=%s log_file=%s capacity=%u log_level=%d",
	          node->cfg.data_dir, node->cfg.config_file[0] != '\0' ? node->cfg.config_file : "-",
	          node->cfg.log_file[0] != '\0' ? node->cfg.log_file : "-", node->cfg.capacity,
	          node->cfg.log_level);
}

/* --print-id: the id a voters list names (voterd_id_of), making node.key if absent. */
static int chorusd_print_id(struct node *node)
{
	uint8_t pk[CHORUS_PK_BYTES], sk[CHORUS_SK_BYTES];
	char err[NODE_ERR_MAX];
	int created;

	if (identity_load(node->cfg.data_dir, pk, sk, &created, err, sizeof err) != 0) {
		fprintf(stderr, "chorusd: %s\n", err);
		return 1;
	}
	sodium_memzero(sk, sizeof sk);
	printf("%016" PRIx64 "\n", voterd_id_of(pk));
	return 0;
}

int
main(int argc, char **argv)
{
	static struct node node;  /* static: large, and lives as long as the process */
	uint8_t pk[CHORUS_PK_BYTES], sk[CHORUS_SK_BYTES];
	char err[NODE_ERR_MAX];
	int r, created, lock_fd = -1;

	(void)signal(SIGPIPE, SIG_IGN);
	node.argc = argc;
	node.argv = argv;
	int notify_r = notify_init(); /* first: no child of ours may inherit $NOTIFY_SOCKET */
	r = config_parse(&node.cfg, argc, argv, err, sizeof err);
	if (r == CONFIG_EXIT_OK)
		return 0;
	if (r != CONFIG_RUN) {
		fprintf(stderr, "chorusd: %s\n", err);
		if (r == CONFIG_ERR_USAGE)
			config_usage(stderr, 0);
		return 1;
	}
	/*
	 * libsodium's ChaCha20 generator, keyed from the kernel once, instead of
	 * a getrandom() system call for every nonce and seed.
	 */
	(void)randombytes_set_implementation(&randombytes_internal_implementation);
	if (sodium_init() < 0) {
		fprintf(stderr, "chorusd: libsodium failed to initialise\n");
		return 1;
	}
	if (!node.cfg.print_id) {
		const char *how;

		/* Before anything is made: a node others cannot dial is refused at once. */
		if (advertise_resolve(node.cfg.listen, node.cfg.advertise, node.fabric_addr,
		                      sizeof node.fabric_addr, &how, err, sizeof err) != 0) {
			fprintf(stderr, "chorusd: %s\n", err);
			return 1;
		}
		node.fabric_addr_how = how;
	}
	if (node.cfg.check_only)
		return chorusd_check(&node);
	if (node.cfg.print_id)
		return chorusd_print_id(&node);
	if (node.cfg.keyring[0] != '\0' &&
	    keyring_load(node.cfg.keyring, node.netkeys, &node.nnetkeys, err, sizeof err) != 0) {
		fprintf(stderr, "chorusd: %s\n", err);
		return 1;
	}
	/* Before anything is made: a start that would fail there makes no node.key nor log file. */
	if (api_tls_check(&node.cfg, err, sizeof err) != 0) {
		fprintf(stderr, "chorusd: %s\n", err);
		return 1;
	}
	if ((r = log_open(node.cfg.log_file, node.cfg.log_format, node.cfg.log_level,
	                  node.cfg.log_stderr)) != 0) {
		fprintf(stderr, "chorusd: log file %s: %s\n", node.cfg.log_file, strerror(-r));
		return 1;
	}
	if (!node.cfg.http_loopback && node.cfg.http_tls_cert[0] == '\0') {
		/* config_parse let it through: --http-insecure was given. */
		fprintf(stderr, "chorusd: WARNING: the HTTP API listens on %s, beyond loopback, "
		        "in clear (--http-insecure): anyone on the path reads it and the token\n",
		        node.cfg.http);
		log_warn("api", "event=insecure http=%s (--http-insecure: the API and its token "
		         "cross the network in clear)", node.cfg.http);
	}
	if (identity_load(node.cfg.data_dir, pk, sk, &created, err, sizeof err) != 0 ||
	    identity_lock(node.cfg.data_dir, &lock_fd, err, sizeof err) != 0) {
		fprintf(stderr, "chorusd: %s\n", err);
		return 1;
	}
	if (identity_generation(node.cfg.data_dir, chorusd_wall_ms(), &node.start_wall_ms, err,
	                        sizeof err) != 0) {
		fprintf(stderr, "chorusd: %s\n", err);
		return 1;
	}
	r = chorusd_start(&node, pk, sk, err, sizeof err);
	sodium_memzero(sk, sizeof sk);  /* the core keeps its own copy */
	if (r != 0) {
		chorusd_stop(&node);
		log_close();
		/* Last, after the log lines the stop writes: the line an operator acts on. */
		fprintf(stderr, "chorusd: %s\n", err);
		return 1;
	}
	chorusd_log_start(&node, created);
	if (notify_r != 0)
		log_warn("node", "event=notify_error error=\"NOTIFY_SOCKET is not a usable address\"");
	chorusd_join(&node);
	(void)reload_init(&node);
	(void)notify_send("READY=1");
	if (event_base_dispatch(node.base) != 0)
		log_error("node", "event=loop_error");
	log_info("node", "event=stop uptime_s=%llu",
	         (unsigned long long)((chorusd_now_ms() - node.start_mono_ms) / 1000));
	chorusd_stop(&node);
	reload_free();
	log_close();
	close(lock_fd);
	return 0;
}

/*
 * core: the public face of the sans-io core.  It owns a node's state, turns
 * each input (a frame, a tick, a join or leave request) into protocol steps,
 * and hands every effect to the driver through struct core_env.
 *
 * Invariants (core_check): our own member entry exists, is ALIVE unless we
 * left, and carries the record we last signed; the member index matches the
 * table; every bound in limits.h holds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "core-internal.h"

const char *core_strerror(int err)
{
	switch (err) {
	case CORE_OK: return "ok";
	case CORE_ERR_INVAL: return "invalid argument";
	case CORE_ERR_NOMEM: return "out of memory";
	case CORE_ERR_FULL: return "limit reached";
	case CORE_ERR_MALFORMED: return "malformed input";
	case CORE_ERR_OVERSIZE: return "input too large";
	case CORE_ERR_VERSION: return "unknown version";
	case CORE_ERR_BADSIG: return "bad signature";
	case CORE_ERR_REPLAY: return "replayed input";
	case CORE_ERR_STALE: return "stale input";
	case CORE_ERR_LEFT: return "node has left";
	case CORE_ERR_BADKEY: return "unusable peer key";
	case CORE_ERR_MISROUTED: return "frame for another node";
	case CORE_ERR_NOKEY: return "no network key in common";
	case CORE_ERR_TOO_OLD: return "sent before the receiver started";
	case CORE_ERR_WINDOW: return "frame number seen already";
	}
	return "unknown error";
}

const char *member_state_name(enum member_state st)
{
	switch (st) {
	case MEMBER_ALIVE: return "alive";
	case MEMBER_SUSPECT: return "suspect";
	case MEMBER_DEAD: return "dead";
	case MEMBER_LEFT: return "left";
	}
	return "unknown";
}

void core_config_defaults(struct core_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = 1;
	/*
	 * Tuned for a LAN: a dead node is suspected within about one probe
	 * round and declared dead 1-3 s later; see docs/membership.md.
	 */
	cfg->timing.probe_interval_ms = 500;
	cfg->timing.probe_timeout_ms = 250;
	cfg->timing.indirect_probes = 3;
	cfg->timing.suspicion_mult = 2;
	cfg->timing.suspicion_max_mult = 3;
	cfg->timing.gossip_interval_ms = 200;
	cfg->timing.gossip_fanout = 3;
	cfg->timing.retransmit_mult = 4;
	cfg->timing.eager_transmits = 1;
	cfg->timing.pushpull_interval_ms = 15000;
	cfg->timing.catchup_interval_ms = 500;
	cfg->timing.catchup_window_ms = 3000;
	cfg->timing.reconnect_interval_ms = 1000;
	cfg->timing.join_retry_ms = 1000;
	cfg->timing.tombstone_ms = 60000;
	/* Dispatch: see docs/dispatch.md. */
	cfg->timing.offer_window_ms = 100;
	cfg->timing.dial_timeout_ms = 1000;
	cfg->timing.receipt_grace_ms = 2000;
	cfg->timing.receipt_poll_ms = 1000;
	cfg->timing.job_timeout_ms = 30000;
	cfg->timing.rebroadcasts = 2;
	cfg->timing.rebroadcast_backoff_ms = 200;
	cfg->timing.penalty_ms = 30000;
	cfg->timing.load_publish_ms = 1000;
	/* The queue: a freed slot waits for the pulled client this long (a few LAN round trips). */
	cfg->timing.slot_hold_ms = 300;
	cfg->queue_timeout_ms = CHORUS_QUEUE_TIMEOUT_MS_DEFAULT;
}

void core_id_short(const char *id_hex, char out[CHORUS_ID_SHORT + 1])
{
	size_t n = strlen(id_hex);

	if (n > CHORUS_ID_SHORT)
		n = CHORUS_ID_SHORT;
	memcpy(out, id_hex, n);
	out[n] = '\0';
}

void core_log(struct core *core, int level, const char *subsys, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (level > core->log_level || core->env.log_cb == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	core->env.log_cb(core->env.ctx, level, subsys, buf);
}

void core_set_log_level(struct core *core, int level)
{
	core->log_level = level;
}

static int core_timing_valid(const struct core_timing *t)
{
	return t->probe_interval_ms > 0 && t->probe_timeout_ms > 0 &&
	       t->probe_timeout_ms < t->probe_interval_ms &&
	       t->indirect_probes <= CHORUS_INDIRECT_MAX && t->suspicion_mult > 0 &&
	       t->suspicion_max_mult >= 1 && t->gossip_interval_ms > 0 && t->gossip_fanout > 0 &&
	       t->retransmit_mult > 0 && t->eager_transmits > 0 && t->pushpull_interval_ms > 0 &&
	       t->catchup_interval_ms > 0 &&
	       t->reconnect_interval_ms > 0 && t->join_retry_ms > 0 && t->tombstone_ms > 0 &&
	       t->offer_window_ms > 0 && t->dial_timeout_ms > 1 && t->job_timeout_ms > 0 &&
	       t->receipt_poll_ms > 0 &&
	       t->job_timeout_ms <= CHORUS_JOB_TIMEOUT_MS_MAX &&
	       t->rebroadcasts < CHORUS_JOB_ROUNDS_MAX && t->rebroadcast_backoff_ms > 0 &&
	       t->rebroadcast_backoff_ms <= 60000 && t->load_publish_ms > 0 &&
	       t->slot_hold_ms <= 60000;
}

int core_create(struct core **out, const struct core_config *cfg, const uint8_t pk[CHORUS_PK_BYTES],
                const uint8_t sk[CHORUS_SK_BYTES], const struct core_env *env, uint64_t now_ms)
{
	static const char salt_label[] = "chorus peer key table salt";
	uint8_t salt[PEER_KEYS_SALT_BYTES];
	struct core *core;
	struct record *r;

	*out = NULL;
	if (!codec_valid_name(cfg->name, CHORUS_NAME_MAX) || !codec_valid_addr(cfg->addr) ||
	    cfg->nroles > CHORUS_ROLES_MAX || cfg->ncaps > CHORUS_CAPS_MAX ||
	    !core_timing_valid(&cfg->timing) || env->send_cb == NULL ||
	    cfg->start_ms >= CODEC_JSON_INT_MAX || cfg->queue_timeout_ms > CHORUS_QUEUE_TIMEOUT_MS_MAX ||
	    !record_tags_valid(cfg->tags, cfg->ntags))
		return CORE_ERR_INVAL;
	for (unsigned i = 0; i < cfg->nroles; i++)
		if (!codec_valid_name(cfg->roles[i], CHORUS_TAG_MAX))
			return CORE_ERR_INVAL;
	for (unsigned i = 0; i < cfg->ncaps; i++)
		if (!codec_valid_name(cfg->caps[i], CHORUS_TAG_MAX))
			return CORE_ERR_INVAL;

	core = calloc(1, sizeof(*core));
	if (core == NULL)
		return CORE_ERR_NOMEM;
	core->cfg = *cfg;
	/* Zero: the defaults (a driver that predates the queue leaves them so). */
	if (core->cfg.timing.slot_hold_ms == 0)
		core->cfg.timing.slot_hold_ms = 300;
	if (core->cfg.queue_timeout_ms == 0)
		core->cfg.queue_timeout_ms = CHORUS_QUEUE_TIMEOUT_MS_DEFAULT;
	core->env = *env;
	core->crypto = env->crypto ? env->crypto : &crypto_ed25519;
	core->log_level = CORE_LOG_DEBUG;
	memcpy(core->pk, pk, CHORUS_PK_BYTES);
	memcpy(core->sk, sk, CHORUS_SK_BYTES);
	codec_hex(core->id, pk, CHORUS_PK_BYTES);
	core_id_short(core->id, core->id_short);
	rng_seed(&core->rng, cfg->seed);
	{
		/* The frame salt: a one-way function of the seed, which must stay private. */
		static const char label[] = "chorus frame salt";
		uint8_t in[sizeof(label) + 8], h[8];

		memcpy(in, label, sizeof(label));
		codec_put_u64(in + sizeof(label), cfg->seed);
		crypto_generichash(h, sizeof(h), in, sizeof(in), NULL, 0);
		core->frame_salt = codec_get_u64(h);
	}
	core->body = malloc(CHORUS_BODY_MAX + 1);
	core->plain = malloc(CHORUS_BODY_MAX + 1);
	core->frame = malloc(CHORUS_FRAME_MAX);
	core->seen = calloc(1, sizeof(*core->seen)); /* zeroed: empty (seen_init) */
	core->loop.v = calloc(CHORUS_LOOPBACK_MAX, sizeof(*core->loop.v));
	if (core->loop.v == NULL || core->body == NULL || core->plain == NULL || core->frame == NULL || core->seen == NULL ||
	    members_init(&core->members) < 0 || rumors_init(&core->rumors) < 0 ||
	    dispatch_init(core) < 0 || work_init(core) < 0 || acks_init(core) < 0 ||
	    queue_init(core) < 0) {
		core_destroy(core);
		return CORE_ERR_NOMEM;
	}
	/*
	 * A secret salt for the peer key index, from our secret key rather than
	 * the PRNG so that the protocol's random stream is left as it was.
	 */
	crypto_generichash(salt, sizeof(salt), sk, CHORUS_SK_BYTES, (const uint8_t *)salt_label,
	                   sizeof(salt_label) - 1);
	peer_keys_init(&core->keys, salt);
	(void)core_keyring_set(core, NULL, 0, 0); /* open until the driver says otherwise */
	/* Frames sent before we started were meant for an earlier life: refused (wire.c). */
	core->replay_floor_ms = core_wall_ms(core, now_ms);

	r = &core->self;
	memcpy(r->pk, pk, CHORUS_PK_BYTES);
	strcpy(r->name, cfg->name);
	strcpy(r->addr, cfg->addr);
	memcpy(r->roles, cfg->roles, sizeof(r->roles));
	r->nroles = cfg->nroles;
	memcpy(r->caps, cfg->caps, sizeof(r->caps));
	r->ncaps = cfg->ncaps;
	memcpy(r->tags, cfg->tags, sizeof(r->tags));
	r->ntags = cfg->ntags;
	r->capacity = cfg->capacity;
	r->start_ms = cfg->start_ms;
	r->inc = 0; /* gossip_publish_self makes it 1 */
	gossip_publish_self(core, now_ms);
	if (members_find(&core->members, pk) < 0) {
		core_destroy(core);
		return CORE_ERR_NOMEM;
	}

	/* Spread the timers so that nodes started together do not beat in step. */
	core->next_probe_ms = now_ms + rng_below(&core->rng, cfg->timing.probe_interval_ms);
	core->next_gossip_ms = now_ms + rng_below(&core->rng, cfg->timing.gossip_interval_ms);
	core->next_pushpull_ms = now_ms + cfg->timing.pushpull_interval_ms +
	                         rng_below(&core->rng, cfg->timing.pushpull_interval_ms);
	core->last_pushpull_ms = now_ms;
	core->next_join_ms = now_ms;
	core->next_member_ms = UINT64_MAX;
	core->next_reconnect_ms = now_ms + cfg->timing.reconnect_interval_ms;
	core_log(core, CORE_LOG_INFO, "member", "event=start node=%s name=%s addr=%s inc=%llu",
	         core->id_short, cfg->name, cfg->addr, (unsigned long long)r->inc);
	*out = core;
	return 0;
}

void core_destroy(struct core *core)
{
	if (core == NULL)
		return;
	members_free(&core->members);
	rumors_free(&core->rumors);
	dispatch_free(core);
	work_free(core);
	queue_free(core);
	acks_free(core);
	sigbatch_free(core);
	free(core->probe_order);
	if (core->loop.v != NULL)
		for (size_t k = 0; k < core->loop.n; k++)
			free(core->loop.v[(core->loop.head + k) % CHORUS_LOOPBACK_MAX].body);
	free(core->loop.v);
	free(core->body);
	free(core->plain);
	free(core->frame);
	keyops_free(core);
	sodium_memzero(&core->ring, sizeof(core->ring));
	free(core->seen);
	peer_keys_free(&core->keys);
	sodium_memzero(core->sk, sizeof(core->sk));
	free(core);
}

/* ---------------------------------------------------------------- keyring */

int core_keyring_set(struct core *core, const uint8_t keys[][CHORUS_NETKEY_BYTES], unsigned n,
                     unsigned primary)
{
	struct core_keyring *ring = &core->ring;

	if (n > CHORUS_KEYRING_MAX || (n > 0 && primary >= n))
		return CORE_ERR_INVAL;
	for (unsigned i = 0; i < n; i++) {
		if (sodium_is_zero(keys[i], CHORUS_NETKEY_BYTES))
			return CORE_ERR_INVAL; /* the open network's key is no network key */
		for (unsigned j = 0; j < i; j++)
			if (memcmp(keys[i], keys[j], CHORUS_NETKEY_BYTES) == 0)
				return CORE_ERR_INVAL;
	}
	ring->n = n > 0 ? n : 1;
	ring->primary = n > 0 ? primary : 0;
	for (unsigned i = 0; i < ring->n; i++) {
		memcpy(ring->key[i], n > 0 ? keys[i] : wire_open_netkey, CHORUS_NETKEY_BYTES);
		wire_netkey_derive(ring->key[i], ring->admit[i], ring->join[i]);
		ring->serial[i] = ++ring->next_serial; /* cached frame keys of old keys go stale */
	}
	core->ring_open = n == 0;
	assert(ring->primary < ring->n && ring->n <= CHORUS_KEYRING_MAX);
	return 0;
}

int core_keyring_open(const struct core *core)
{
	return core->ring_open;
}

uint64_t core_wall_ms(const struct core *core, uint64_t now_ms)
{
	return (uint64_t)((int64_t)now_ms + core->cfg.wall_offset_ms);
}

/*
 * The next frame number: the send time on the wall clock in the high bits,
 * so that a receiver can tell a frame sent before it started; strictly
 * increasing whatever the clock does, so (generation, number) never repeats.
 */
static uint64_t core_next_seq(struct core *core)
{
	uint64_t t = core_wall_ms(core, core->now_ms) << CHORUS_SEQ_CLOCK_SHIFT;

	core->frame_seq = t > core->frame_seq ? t : core->frame_seq + 1;
	return core->frame_seq;
}

int core_join(struct core *core, const char *addr, uint64_t now_ms)
{
	if (!codec_valid_addr(addr))
		return CORE_ERR_INVAL;
	if (strcmp(addr, core->cfg.addr) == 0)
		return 0; /* joining through ourselves: nothing to do */
	for (unsigned i = 0; i < core->nseeds; i++)
		if (strcmp(core->seeds[i], addr) == 0)
			return 0;
	if (core->nseeds >= CHORUS_SEEDS_MAX)
		return CORE_ERR_FULL;
	strcpy(core->seeds[core->nseeds++], addr);
	core->joined = 0;
	core->next_join_ms = now_ms;
	return 0;
}

/* The pair's frame key under network key k, cached with the entry. */
static const uint8_t *core_frame_key(struct core *core, struct peer_key *e, unsigned k)
{
	assert(k < core->ring.n);
	if (e->fkey_serial != core->ring.serial[k]) {
		wire_frame_key(e->fkey, core->ring.key[k], e->key);
		e->fkey_serial = core->ring.serial[k];
	}
	return e->fkey;
}

/* A peer entry made after a frame verified, or for a frame we send: the window starts empty. */
static long core_peer_insert(struct core *core, const uint8_t pk[CHORUS_PK_BYTES],
                             const uint8_t key[CHORUS_MAC_KEY_BYTES], int bad)
{
	long i = peer_keys_insert(&core->keys, pk, key, bad);

	if (core->keys.evictions != core->evictions_seen) {
		/* An evicted sender's window is gone: its older frames must not pass again. */
		core->evictions_seen = core->keys.evictions;
		core->replay_floor_ms = core_wall_ms(core, core->now_ms);
	}
	return i;
}

const uint8_t *core_peer_key(struct core *core, const uint8_t pk[CHORUS_PK_BYTES])
{
	uint8_t key[CHORUS_MAC_KEY_BYTES];
	long i = peer_keys_find(&core->keys, pk);
	int rc;

	if (i < 0) {
		core->stats.peer_keys_derived++;
		rc = wire_pair_key(core->crypto, key, core->pk, core->sk, pk);
		i = core_peer_insert(core, pk, key, rc < 0);
		sodium_memzero(key, sizeof(key));
		if (i < 0)
			return NULL; /* out of memory: the frame is lost, as on a full link */
	}
	if (core->keys.v[i].bad)
		return NULL;
	return core_frame_key(core, &core->keys.v[i], core->ring.primary);
}

/* Counted and logged: a member whose key makes no secret cannot be talked to. */
static void core_send_badkey(struct core *core, const uint8_t *to_pk, int type)
{
	char to[CHORUS_ID_HEX + 1], to_short[CHORUS_ID_SHORT + 1];

	codec_hex(to, to_pk, CHORUS_PK_BYTES);
	core_id_short(to, to_short);
	core_log(core, CORE_LOG_DEBUG, "wire", "event=send-drop reason=bad-key type=%s to=%s",
	         wire_type_name(type), to_short);
}

/* ---------------------------------------------------------------- loopback (self-run) */

/* The job protocol's frames: the only ones a node sends itself. */
static int core_loop_type(int type)
{
	switch (type) {
	case WIRE_REQUEST: case WIRE_OFFER: case WIRE_DISPATCH: case WIRE_ACCEPT: case WIRE_REFUSE:
	case WIRE_RECEIPT: case WIRE_CANCEL: case WIRE_STATUS_Q: case WIRE_STATUS_A:
	case WIRE_RESERVE: case WIRE_SLOT: case WIRE_UNRESERVE: case WIRE_SLOT_NONE:
	case WIRE_OUTPUT:
		return 1;
	default:
		return 0;
	}
}

static void core_loop_push(struct core *core, int type, const char *body, size_t len)
{
	struct core_loop_frame *lf;
	char *copy;

	assert(len <= CHORUS_BODY_MAX && core->loop.n <= CHORUS_LOOPBACK_MAX);
	if (core->loop.n == CHORUS_LOOPBACK_MAX || (copy = malloc(len + 1)) == NULL) {
		core->stats.loopback_drops++; /* as a frame lost on the way: the protocol retries */
		return;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';
	lf = &core->loop.v[(core->loop.head + core->loop.n++) % CHORUS_LOOPBACK_MAX];
	lf->type = (uint8_t)type;
	lf->len = len;
	lf->body = copy;
}

static void core_deliver(struct core *core, const struct wire_frame *f, const cJSON *body,
                         uint64_t now_ms);

/*
 * Our own job frames, in the order sent, through the handlers every frame
 * goes through (a frame from us, on our MAC: the texts we signed need no
 * second check).  What they send to us in turn joins the queue and is
 * handled in this same pass; the chain is short (request, offer, dispatch,
 * accept) but the loop is bounded all the same.
 */
static void core_loop_drain(struct core *core, uint64_t now_ms)
{
	size_t budget = 4 * CHORUS_LOOPBACK_MAX;

	while (core->loop.n > 0 && budget-- > 0 && !core->left) {
		struct core_loop_frame lf = core->loop.v[core->loop.head];
		struct wire_frame f;
		cJSON *body;

		core->loop.head = (core->loop.head + 1) % CHORUS_LOOPBACK_MAX;
		core->loop.n--;
		memset(&f, 0, sizeof(f));
		f.type = lf.type;
		memcpy(f.pk, core->pk, CHORUS_PK_BYTES);
		f.gen = core->self.start_ms;
		f.body = (const uint8_t *)lf.body;
		f.body_len = lf.len;
		core->stats.loopback_frames++;
		codec_arena_begin();
		body = cJSON_ParseWithLength(lf.body, lf.len);
		assert(body != NULL); /* we built it */
		if (body != NULL && cJSON_IsObject(body))
			core_deliver(core, &f, body, now_ms);
		cJSON_Delete(body);
		codec_arena_end();
		free(lf.body);
	}
}

void core_send(struct core *core, const uint8_t *to_pk, const char *addr, int type,
               const char *body, size_t len)
{
	const uint8_t *key = NULL;
	int n;

	if (to_pk != NULL && core_loop_type(type) && memcmp(to_pk, core->pk, CHORUS_PK_BYTES) == 0) {
		core_loop_push(core, type, body, len);
		return;
	}

	if (to_pk != NULL && (key = core_peer_key(core, to_pk)) == NULL) {
		core_send_badkey(core, to_pk, type);
		return;
	}
	n = wire_encode_head(core->frame, CHORUS_FRAME_MAX, type,
	                     to_pk != NULL ? WIRE_AUTH_MAC : WIRE_AUTH_SIG, core->pk,
	                     core->self.start_ms, core_next_seq(core), body, len);
	assert(n > 0); /* bodies are built within CHORUS_BODY_MAX */
	if (n <= 0)
		return;
	if (to_pk != NULL)
		wire_seal_mac(core->frame, (size_t)n, core->crypto, to_pk, key,
		              core->ring.admit[core->ring.primary], core->frame_salt);
	else
		wire_seal_sig(core->frame, (size_t)n, core->crypto, core->sk,
		              core->ring.join[core->ring.primary], core->ring.admit[core->ring.primary],
		              core->frame_salt);
	core->stats.frames_out++;
	core->stats.bytes_out += (uint64_t)n;
	core_log(core, CORE_LOG_TRACE, "wire", "event=send type=%s to=%s bytes=%d",
	         wire_type_name(type), addr, n);
	core->env.send_cb(core->env.ctx, addr, core->frame, (size_t)n);
}

/*
 * One body to many: sealed for each recipient in turn (the body is copied
 * back before each, as sealing encrypts it in place).  The frame number is
 * shared, which is fine: each recipient's key is another, and replay is
 * judged per sender at each recipient.
 */
void core_multicast(struct core *core, const uint8_t *const *to_pks, const char *const *addrs,
                    size_t naddrs, int type, const char *body, size_t len)
{
	size_t sent = 0;
	uint64_t seq;
	int n = 0;

	if (naddrs == 0)
		return;
	seq = core_next_seq(core);

	for (size_t k = 0; k < naddrs; k++) {
		const uint8_t *key = core_peer_key(core, to_pks[k]);

		if (key == NULL) {
			core_send_badkey(core, to_pks[k], type);
			continue;
		}
		n = wire_encode_head(core->frame, CHORUS_FRAME_MAX, type, WIRE_AUTH_MAC, core->pk,
		                     core->self.start_ms, seq, body, len);
		assert(n > 0);
		if (n <= 0)
			return;
		wire_seal_mac(core->frame, (size_t)n, core->crypto, to_pks[k], key,
		              core->ring.admit[core->ring.primary], core->frame_salt);
		core->stats.frames_out++;
		core->stats.bytes_out += (uint64_t)n;
		core->env.send_cb(core->env.ctx, addrs[k], core->frame, (size_t)n);
		sent++;
	}
	core_log(core, CORE_LOG_TRACE, "wire", "event=multicast type=%s to=%zu bytes=%d",
	         wire_type_name(type), sent, n);
}

static void core_drop(struct core *core, int err, const struct wire_frame *f, size_t len)
{
	char from[CHORUS_ID_HEX + 1] = "?";
	char from_short[CHORUS_ID_SHORT + 1];

	switch (err) {
	case CORE_ERR_OVERSIZE: core->stats.drop_oversize++; break;
	case CORE_ERR_VERSION: core->stats.drop_version++; break;
	case CORE_ERR_BADSIG: core->stats.drop_badsig++; break;
	case CORE_ERR_REPLAY: core->stats.drop_replay++; break;
	case CORE_ERR_STALE: core->stats.drop_stale++; break;
	case CORE_ERR_INVAL: core->stats.drop_unknown_type++; break;
	case CORE_ERR_BADKEY: core->stats.drop_badkey++; break;
	case CORE_ERR_MISROUTED: core->stats.drop_misrouted++; break;
	case CORE_ERR_NOKEY: core->stats.drop_nokey++; break;
	case CORE_ERR_TOO_OLD: core->stats.drop_before_start++; break;
	case CORE_ERR_WINDOW: core->stats.drop_window++; break;
	default: core->stats.drop_malformed++; break;
	}
	if (f != NULL)
		codec_hex(from, f->pk, CHORUS_PK_BYTES);
	core_id_short(from, from_short);
	core_log(core, CORE_LOG_DEBUG, "wire", "event=drop reason=%s from=%s bytes=%zu",
	         err == CORE_ERR_INVAL ? "unknown-type" : core_strerror(err), from_short, len);
}

/* An app frame: authentic and fresh; its body is the app's to judge, never parsed here. */
static void core_recv_app(struct core *core, const struct wire_frame *f, size_t len)
{
	if (core->env.app_cb == NULL) {
		core_drop(core, CORE_ERR_INVAL, f, len);
		return;
	}
	core_log(core, CORE_LOG_TRACE, "wire", "event=recv type=%s bytes=%zu",
	         wire_type_name(f->type), len);
	core->env.app_cb(core->env.ctx, f->type, f->pk, f->body, f->body_len);
}

/*
 * Admission first, then authenticity.  The admission tag is checked under
 * each network key we hold, the primary first: a SipHash of 88 bytes each and no
 * public-key work, so a stranger's flood costs a hash per frame.  Then the
 * body is opened under the pair's frame key for the network key that
 * admitted it (a signed frame, a join only: under that network key's
 * signed-frame key, then its signature checked).  A peer key learned from a
 * frame enters the cache only once a frame opened under it, so forgeries
 * cannot evict the keys of real peers.  *entry: the sender's peer entry, or -1.
 */
static int core_recv_auth(struct core *core, struct wire_frame *f, const uint8_t *buf, long *entry)
{
	uint8_t key[CHORUS_MAC_KEY_BYTES], fkey[CHORUS_MAC_KEY_BYTES];
	unsigned j, k = 0, n = core->ring.n;
	long i;
	int rc;

	*entry = -1;
	for (j = 0; j < n; j++) {
		k = (core->ring.primary + j) % n;
		if (wire_admit(f, buf, core->ring.admit[k]) == 0)
			break;
	}
	if (j == n)
		return CORE_ERR_NOKEY;
	if (f->auth == WIRE_AUTH_SIG) {
		if (f->type != WIRE_JOIN)
			return CORE_ERR_BADSIG;
		rc = wire_open(core->crypto, f, buf, core->plain, core->ring.join[k]);
		if (rc == 0)
			rc = wire_verify_sig(core->crypto, f, buf);
		*entry = rc == 0 ? peer_keys_find(&core->keys, f->pk) : -1;
		return rc;
	}
	if (!wire_for_me(f, core->pk))
		return CORE_ERR_MISROUTED;
	i = peer_keys_find(&core->keys, f->pk);
	if (i >= 0) {
		if (core->keys.v[i].bad)
			return CORE_ERR_BADKEY;
		*entry = i;
		return wire_open(core->crypto, f, buf, core->plain,
		                 core_frame_key(core, &core->keys.v[i], k));
	}
	core->stats.peer_keys_derived++;
	if (wire_pair_key(core->crypto, key, core->pk, core->sk, f->pk) < 0)
		return CORE_ERR_BADKEY;
	wire_frame_key(fkey, core->ring.key[k], key);
	rc = wire_open(core->crypto, f, buf, core->plain, fkey);
	if (rc == 0) /* no memory: derived again next time, judged by the floor alone */
		*entry = core_peer_insert(core, f->pk, key, 0);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(fkey, sizeof(fkey));
	return rc < 0 ? rc : 0;
}

/*
 * Takes frame number seq into the sender's window: the CHORUS_REPLAY_WINDOW
 * newest numbers accepted in its epoch, ascending.  Every number ever
 * accepted is either in the window or below its smallest (only the smallest
 * is ever dropped, and the smallest only grows), so a number is accepted at
 * most once however many frames follow.  A frame overtaken by a full window
 * of later ones is refused: a lost frame, which every protocol survives.
 */
static int core_window_take(struct peer_key *e, uint64_t seq)
{
	unsigned n = e->win_n, p;

	assert(n <= CHORUS_REPLAY_WINDOW);
	if (n == CHORUS_REPLAY_WINDOW && seq <= e->win_seq[0])
		return 0;
	for (p = 0; p < n && e->win_seq[p] < seq; p++)
		;
	if (p < n && e->win_seq[p] == seq)
		return 0;
	if (n == CHORUS_REPLAY_WINDOW) {
		assert(p >= 1);
		memmove(e->win_seq, e->win_seq + 1, (p - 1) * sizeof(e->win_seq[0]));
		e->win_seq[p - 1] = seq;
	} else {
		memmove(e->win_seq + p + 1, e->win_seq + p, (n - p) * sizeof(e->win_seq[0]));
		e->win_seq[p] = seq;
		e->win_n++;
	}
	return 1;
}

/*
 * Is this authentic frame fresh?  Epochs: a sender's generation grows across
 * its restarts, and an older one than the newest we saw from it is refused.
 * Within an epoch, the window.  Across OUR restarts (or an evicted window)
 * nothing is remembered, so every frame must show a frame number sent at or
 * after the floor: our start, or the last eviction, on the wall clock.
 * docs/security.md has the argument and its clock caveat.
 */
static int core_recv_fresh(struct core *core, const struct wire_frame *f, long i)
{
	uint64_t sent_ms = f->seq >> CHORUS_SEQ_CLOCK_SHIFT;
	struct peer_key *e;

	if (sent_ms < core->replay_floor_ms)
		return CORE_ERR_TOO_OLD;
	if (i < 0)
		return 0;
	e = &core->keys.v[i];
	if (f->gen < e->win_gen)
		return CORE_ERR_STALE;
	if (f->gen > e->win_gen) {
		e->win_gen = f->gen;
		e->win_n = 0;
	}
	return core_window_take(e, f->seq) ? 0 : CORE_ERR_WINDOW;
}

void core_recv(struct core *core, const uint8_t *buf, size_t len, uint64_t now_ms)
{
	struct wire_frame f;
	cJSON *body;
	long i;
	int rc;

	core->stats.frames_in++;
	core->stats.bytes_in += len;
	core->now_ms = now_ms;
	if (core->left)
		return;
	rc = wire_decode(&f, buf, len);
	if (rc < 0) {
		core_drop(core, rc, rc == CORE_ERR_INVAL ? &f : NULL, len);
		return;
	}
	if (memcmp(f.pk, core->pk, CHORUS_PK_BYTES) == 0) {
		core_drop(core, CORE_ERR_REPLAY, &f, len); /* our own frame, looped back */
		return;
	}
	rc = core_recv_auth(core, &f, buf, &i);
	if (rc == 0)
		rc = core_recv_fresh(core, &f, i);
	if (rc < 0) {
		core_drop(core, rc, &f, len);
		return;
	}
	/* Only authentic frames enter the cache: forgeries cannot evict it. */
	if (seen_check_insert(core->seen, wire_replay_key(&f))) {
		core_drop(core, CORE_ERR_REPLAY, &f, len);
		return;
	}
	i = members_find(&core->members, f.pk);
	if (i >= 0) {
		struct member *m = &core->members.v[i];

		if (f.gen < m->start_ms) {
			core_drop(core, CORE_ERR_STALE, &f, len);
			return;
		}
		m->last_seen_ms = now_ms;
		if (m->state == MEMBER_DEAD && f.gen == m->start_ms)
			swim_tell_dead(core, i, now_ms);
	}
	if (f.type == WIRE_RAFT || f.type == WIRE_LEDGER) {
		core_recv_app(core, &f, len);
		return;
	}
	codec_arena_begin();
	body = cJSON_ParseWithLength((const char *)f.body, f.body_len);
	if (body == NULL || !cJSON_IsObject(body)) {
		cJSON_Delete(body);
		codec_arena_end();
		core_drop(core, CORE_ERR_MALFORMED, &f, len);
		return;
	}
	if (core->log_level >= CORE_LOG_TRACE) {
		char from[CHORUS_ID_HEX + 1], from_short[CHORUS_ID_SHORT + 1];

		codec_hex(from, f.pk, CHORUS_PK_BYTES);
		core_id_short(from, from_short);
		core_log(core, CORE_LOG_TRACE, "wire", "event=recv type=%s from=%s bytes=%zu",
		         wire_type_name(f.type), from_short, len);
	}
	core_deliver(core, &f, body, now_ms);
	cJSON_Delete(body);
	codec_arena_end();
}

/* A frame's body, authentic and fresh (or our own, looped back), to its handler. */
static void core_deliver(struct core *core, const struct wire_frame *f, const cJSON *body,
                         uint64_t now_ms)
{
	switch (f->type) {
	case WIRE_PING: swim_on_ping(core, f, body, now_ms); break;
	case WIRE_ACK: swim_on_ack(core, f, body, now_ms); break;
	case WIRE_PING_REQ: swim_on_ping_req(core, f, body, now_ms); break;
	case WIRE_NACK: swim_on_nack(core, f, body, now_ms); break;
	case WIRE_JOIN: gossip_on_join(core, f, body, now_ms); break;
	case WIRE_SYNC: gossip_on_sync(core, f, body, now_ms); break;
	case WIRE_GOSSIP: gossip_on_gossip(core, f, body, now_ms); break;
	case WIRE_WANT: gossip_on_want(core, f, body, now_ms); break;
	case WIRE_PULL: gossip_on_pull(core, f, body, now_ms); break;
	case WIRE_REQUEST: work_on_request(core, f, body, now_ms); break;
	case WIRE_OFFER: dispatch_on_offer(core, f, body, now_ms); break;
	case WIRE_DISPATCH: work_on_dispatch(core, f, body, now_ms); break;
	case WIRE_ACCEPT: dispatch_on_accept(core, f, body, now_ms); break;
	case WIRE_REFUSE: dispatch_on_refuse(core, f, body, now_ms); break;
	case WIRE_RECEIPT: dispatch_on_receipt(core, f, body, now_ms); break;
	case WIRE_CANCEL: work_on_cancel(core, f, body, now_ms); break;
	case WIRE_JOBACK: work_on_ack(core, f, body, now_ms); break;
	case WIRE_STATUS_Q: work_on_status(core, f, body, now_ms); break;
	case WIRE_STATUS_A: dispatch_on_status(core, f, body, now_ms); break;
	case WIRE_RESERVE: queue_on_reserve(core, f, body, now_ms); break;
	case WIRE_SLOT: queue_on_slot(core, f, body, now_ms); break;
	case WIRE_UNRESERVE: queue_on_unreserve(core, f, body, now_ms); break;
	case WIRE_SLOT_NONE: queue_on_unreserve(core, f, body, now_ms); break;
	case WIRE_OUTPUT: output_on_chunk(core, f, body, now_ms); break;
	case WIRE_KEYRING: keyops_on_op(core, f, body, now_ms); break;
	case WIRE_KEYRING_A: keyops_on_answer(core, f, body, now_ms); break;
	default: assert(0); break; /* wire_decode admits only known types; app types left above */
	}
}

void core_tick(struct core *core, uint64_t now_ms)
{
	core->now_ms = now_ms;
	if (core->left)
		return;
	swim_tick(core, now_ms);
	dispatch_tick(core, now_ms);
	work_tick(core, now_ms);
	queue_tick(core, now_ms);
	core_loop_drain(core, now_ms);
}

uint64_t core_next_deadline_ms(const struct core *core)
{
	uint64_t t, d;

	if (core->left)
		return UINT64_MAX;
	if (core->loop.n > 0)
		return core->now_ms; /* our own frames wait: due now */
	t = swim_next_deadline_ms(core);
	d = dispatch_next_deadline_ms(core);
	t = d < t ? d : t;
	d = work_next_deadline_ms(core);
	t = d < t ? d : t;
	d = queue_next_deadline_ms(core);
	return d < t ? d : t;
}

void core_leave(struct core *core, uint64_t now_ms)
{
	char body[CHORUS_RECORD_MAX * 2 + 256];
	struct sb sb;
	long i;
	size_t sent = 0, start;

	if (core->left)
		return;
	core->self.left = 1;
	gossip_publish_self(core, now_ms);
	i = members_find(&core->members, core->pk);
	assert(i >= 0);
	/* Tell members directly rather than trusting the gossip we stop doing now. */
	sb_init(&sb, body, sizeof(body));
	sb_puts(&sb, "{\"r\":[{\"k\":\"rec\",");
	gossip_record_fields(&core->members.v[i], &sb);
	sb_puts(&sb, "}]}");
	assert(!sb.overflow);
	/*
	 * From a random member on (large clusters share the load), each member
	 * once: a fresh random index per step could miss every live member.
	 */
	start = rng_below(&core->rng, (uint32_t)core->members.n);
	for (size_t k = 0, n = core->members.n; k < n && sent < CHORUS_LEAVE_FANOUT; k++) {
		struct member *m = &core->members.v[(start + k) % n];

		if (memcmp(m->pk, core->pk, CHORUS_PK_BYTES) == 0 ||
		    (m->state != MEMBER_ALIVE && m->state != MEMBER_SUSPECT))
			continue;
		core_send(core, m->pk, m->addr, WIRE_GOSSIP, body, sb.len);
		sent++;
	}
	core_log(core, CORE_LOG_INFO, "member", "event=leave node=%s inc=%llu told=%zu",
	         core->id_short, (unsigned long long)core->self.inc, sent);
	core->left = 1;
}

int core_set_load(struct core *core, uint32_t load, uint64_t now_ms)
{
	if (core->left)
		return CORE_ERR_LEFT;
	if (core->self.load == load)
		return 0;
	core->self.load = load;
	gossip_publish_self(core, now_ms);
	return 0;
}

static int core_roles_equal(const struct record *r, const char roles[][CHORUS_TAG_MAX + 1],
                            unsigned n)
{
	if (n != r->nroles)
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(r->roles[i], roles[i]) != 0)
			return 0;
	return 1;
}

int core_set_roles(struct core *core, const char roles[][CHORUS_TAG_MAX + 1], unsigned n,
                   uint64_t now_ms)
{
	struct record *r = &core->self;

	if (core->left)
		return CORE_ERR_LEFT;
	if (n > CHORUS_ROLES_MAX)
		return CORE_ERR_FULL;
	for (unsigned i = 0; i < n; i++)
		if (!codec_valid_name(roles[i], CHORUS_TAG_MAX))
			return CORE_ERR_INVAL;
	if (core_roles_equal(r, roles, n))
		return 0; /* nothing new to publish */
	memset(r->roles, 0, sizeof(r->roles));
	for (unsigned i = 0; i < n; i++)
		strcpy(r->roles[i], roles[i]);
	r->nroles = n;
	gossip_publish_self(core, now_ms);
	return 0;
}

int core_set_caps(struct core *core, const char caps[][CHORUS_TAG_MAX + 1], unsigned n,
                  uint32_t capacity, uint64_t now_ms)
{
	struct record *r = &core->self;
	int same;

	if (core->left)
		return CORE_ERR_LEFT;
	if (n > CHORUS_CAPS_MAX)
		return CORE_ERR_FULL;
	for (unsigned i = 0; i < n; i++) {
		if (!codec_valid_name(caps[i], CHORUS_TAG_MAX))
			return CORE_ERR_INVAL;
		for (unsigned k = 0; k < i; k++)
			if (strcmp(caps[k], caps[i]) == 0)
				return CORE_ERR_INVAL; /* a kind offered twice would be counted twice */
	}
	same = r->capacity == capacity && r->ncaps == n;
	for (unsigned i = 0; same && i < n; i++)
		same = strcmp(r->caps[i], caps[i]) == 0;
	if (same)
		return 0; /* nothing new to publish */
	memset(r->caps, 0, sizeof(r->caps));
	for (unsigned i = 0; i < n; i++)
		strcpy(r->caps[i], caps[i]);
	r->ncaps = n;
	r->capacity = capacity;
	/* The worker side reads the configuration: offers and accepts follow at once. */
	memcpy(core->cfg.caps, r->caps, sizeof(core->cfg.caps));
	core->cfg.ncaps = n;
	core->cfg.capacity = capacity;
	if (capacity > core->works.capacity_high)
		core->works.capacity_high = capacity;
	gossip_publish_self(core, now_ms);
	assert(r->ncaps == core->cfg.ncaps && r->capacity == core->cfg.capacity);
	return 0;
}

int core_send_app(struct core *core, const uint8_t to_pk[CHORUS_PK_BYTES], const char *addr,
                  int type, const uint8_t *body, size_t len)
{
	if (type != WIRE_RAFT && type != WIRE_LEDGER)
		return CORE_ERR_INVAL;
	if (len > CHORUS_BODY_MAX)
		return CORE_ERR_OVERSIZE;
	if (to_pk == NULL || addr == NULL || !codec_valid_addr(addr))
		return CORE_ERR_INVAL;
	if (core->left)
		return CORE_ERR_LEFT;
	if (core_peer_key(core, to_pk) == NULL)
		return CORE_ERR_BADKEY; /* ourselves, or a key that makes no secret */
	core_send(core, to_pk, addr, type, (const char *)body, len);
	return 0;
}

size_t core_member_count(const struct core *core)
{
	return core->members.n;
}

int core_member_get(const struct core *core, size_t i, struct member_view *out)
{
	int rc = core_member_brief(core, i, out);

	if (rc < 0)
		return rc;
	/* The brief view, then the whole signed record over it. */
	rc = record_decode(&out->rec, core->members.v[i].text, core->members.v[i].text_len);
	return rc < 0 ? rc : 0; /* cannot fail: only verified, decoded records are stored */
}

int core_member_known(const struct core *core, const uint8_t pk[CHORUS_PK_BYTES])
{
	assert(core != NULL && pk != NULL);
	return members_find(&core->members, pk) >= 0;
}

int core_member_brief(const struct core *core, size_t i, struct member_view *out)
{
	const struct member *m;

	if (i >= core->members.n)
		return CORE_ERR_INVAL;
	m = &core->members.v[i];
	memset(&out->rec, 0, sizeof(out->rec));
	memcpy(out->rec.pk, m->pk, CHORUS_PK_BYTES);
	memcpy(out->rec.name, m->name, sizeof(out->rec.name));
	memcpy(out->rec.addr, m->addr, sizeof(out->rec.addr));
	out->rec.start_ms = m->start_ms;
	out->rec.inc = m->inc;
	out->rec.left = m->left;
	codec_hex(out->id, m->pk, CHORUS_PK_BYTES);
	out->state = m->state;
	out->self = memcmp(m->pk, core->pk, CHORUS_PK_BYTES) == 0;
	out->last_seen_ms = m->last_seen_ms;
	out->state_since_ms = m->state_since_ms;
	return 0;
}

void core_member_counts(const struct core *core, size_t counts[4])
{
	for (int st = MEMBER_ALIVE; st <= MEMBER_LEFT; st++)
		counts[st] = core->members.counts[st];
}

size_t core_alive_count(const struct core *core)
{
	return core->members.counts[MEMBER_ALIVE] + core->members.counts[MEMBER_SUSPECT];
}

unsigned core_retransmit_limit(const struct core *core)
{
	double n = (double)core->members.n + 1;

	return core->cfg.timing.retransmit_mult * (unsigned)ceil(log10(n));
}

void core_member_changed(struct core *core, long i, int old_state, int forgotten)
{
	struct member_view mv;

	if (!forgotten) {
		dispatch_on_member(core, i, core->now_ms);
		queue_on_member(core, i, core->now_ms);
	}
	if (core->env.member_cb == NULL)
		return;
	if (core_member_brief(core, (size_t)i, &mv) < 0)
		return;
	core->env.member_cb(core->env.ctx, &mv, old_state, forgotten);
}

const struct core_stats *core_stats(const struct core *core)
{
	return &core->stats;
}

const char *core_id(const struct core *core)
{
	return core->id;
}

const char *core_check(const struct core *core)
{
	const char *err = members_check(&core->members);
	long i;
	const struct member *m;

	if (err != NULL)
		return err;
	i = members_find(&core->members, core->pk);
	if (i < 0)
		return "own member entry missing";
	m = &core->members.v[i];
	if (m->start_ms != core->self.start_ms || m->inc != core->self.inc)
		return "own member entry is not the record we published";
	if (core->left ? m->state != MEMBER_LEFT : m->state != MEMBER_ALIVE)
		return "own member entry in the wrong state";
	if (core->rumors.n > core->rumors.cap || core->rumors.cap > CHORUS_RUMORS_MAX)
		return "rumor queue over its bound";
	if (core->health < 0 || core->health > CHORUS_HEALTH_MAX)
		return "local health out of range";
	if (core->pull_answers > CHORUS_PULL_ANSWERS_MAX)
		return "more pulls answered in a gossip interval than the bound";
	if (core->catchup_until_ms > 0 &&
	    core->catchup_until_ms > core->now_ms + core->cfg.timing.catchup_window_ms)
		return "catch-up window beyond one window from now";
	if (core->probe.active && members_find(&core->members, core->probe.target) < 0 &&
	    core->probe.final_deadline_ms == 0)
		return "active probe without a deadline";
	if ((err = peer_keys_check(&core->keys)) != NULL)
		return err;
	if ((err = dispatch_check(core)) != NULL)
		return err;
	if ((err = acks_check(core)) != NULL)
		return err;
	if ((err = queue_check(core)) != NULL)
		return err;
	return work_check(core);
}

/*
 * swim: failure detection (SWIM with Lifeguard's local health).
 *
 * Once per probe interval a node pings the next member of a shuffled
 * round-robin list.  No ack by the probe timeout: it asks k other members to
 * ping the target for it (ping-req); they answer with the ack, or a nack when
 * the target stayed silent.  No ack by the end of the interval: the target is
 * suspected.  A suspicion turns into a death when its timeout passes; the
 * timeout starts long and shrinks as other members independently confirm it
 * (Lifeguard), and the suspect can refute it at any time by publishing a
 * record with a higher incarnation.  Dead and left members are kept as
 * tombstones for tombstone_ms, then forgotten.
 *
 * Local health (0..CHORUS_HEALTH_MAX) rises when this node misses nacks or is
 * itself suspected, and stretches its probe interval and timeout: a slow node
 * stops accusing healthy ones.
 */
#include <math.h>
#include <stdlib.h>

#include "membership/membership-internal.h"

static uint64_t swim_min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int swim_is_probeable(const struct member *m)
{
	return m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT;
}

static uint64_t swim_scaled(const struct core *core, uint32_t ms)
{
	return (uint64_t)ms * (uint64_t)(core->health + 1);
}

/* Lifeguard: max - (max - min) * log(c + 1) / log(k + 1), never below min. */
static uint64_t swim_suspicion_timeout_ms(const struct core *core, unsigned confirms)
{
	const struct core_timing *t = &core->cfg.timing;
	double n = (double)core_alive_count(core);
	double scale = n > 10 ? log10(n) : 1.0;
	double min = t->suspicion_mult * scale * t->probe_interval_ms;
	double max = min * t->suspicion_max_mult;
	size_t others = core_alive_count(core);
	double k = t->indirect_probes;
	double timeout;

	/* In a small cluster fewer confirmations can ever arrive. */
	if (others >= 2 && (double)(others - 2) < k)
		k = (double)(others - 2);
	if (k < 1)
		return (uint64_t)min;
	timeout = max - (max - min) * log((double)confirms + 1) / log(k + 1);
	return (uint64_t)(timeout < min ? min : timeout);
}

uint64_t swim_suspicion_max_ms(const struct core *core)
{
	return swim_suspicion_timeout_ms(core, 0);
}

static void swim_note_deadline(struct core *core, uint64_t deadline_ms)
{
	core->next_member_ms = swim_min_u64(core->next_member_ms, deadline_ms);
}

void swim_suspect(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES], uint64_t now_ms)
{
	struct member *m = &core->members.v[i];
	char from_id[CHORUS_ID_HEX + 1], from_short[CHORUS_ID_SHORT + 1];
	char id[CHORUS_ID_HEX + 1], id_short[CHORUS_ID_SHORT + 1];

	assert(m->state == MEMBER_ALIVE);
	assert(memcmp(m->pk, core->pk, CHORUS_PK_BYTES) != 0);
	members_set_state(&core->members, (size_t)i, MEMBER_SUSPECT);
	m->state_since_ms = now_ms;
	m->confirms = 0;
	m->confirmers[0] = codec_get_u64(from);
	m->deadline_ms = now_ms + swim_suspicion_timeout_ms(core, 0);
	/* Our own suspicion is also told to the suspect (swim_reconnect). */
	m->reconnect_ms = memcmp(from, core->pk, CHORUS_PK_BYTES) == 0
	                          ? now_ms + core->cfg.timing.reconnect_interval_ms
	                          : UINT64_MAX;
	m->reconnects = 0;
	swim_note_deadline(core, m->deadline_ms);
	core->stats.suspicions++;
	codec_hex(from_id, from, CHORUS_PK_BYTES);
	core_id_short(from_id, from_short);
	codec_hex(id, m->pk, CHORUS_PK_BYTES);
	core_id_short(id, id_short);
	core_log(core, CORE_LOG_INFO, "member", "event=suspect node=%s name=%s inc=%llu from=%s timeout_ms=%llu",
	         id_short, m->name, (unsigned long long)m->inc, from_short,
	         (unsigned long long)(m->deadline_ms - now_ms));
	gossip_push_state_rumor(core, i, from);
	core_member_changed(core, i, MEMBER_ALIVE, 0);
}

/* Another member suspects the same incarnation: Lifeguard shortens the wait. */
static void swim_confirm(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES])
{
	struct member *m = &core->members.v[i];
	uint64_t key = codec_get_u64(from);

	assert(m->state == MEMBER_SUSPECT);
	for (unsigned c = 0; c <= m->confirms; c++)
		if (m->confirmers[c] == key)
			return;
	if (m->confirms + 1u >= MEMBER_CONFIRM_MAX)
		return;
	m->confirmers[++m->confirms] = key;
	m->deadline_ms = m->state_since_ms + swim_suspicion_timeout_ms(core, m->confirms);
	swim_note_deadline(core, m->deadline_ms);
	/* Pass the confirmation on so that others can count it too. */
	gossip_push_state_rumor(core, i, from);
}

void swim_mark_dead(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES], uint64_t now_ms)
{
	struct member *m = &core->members.v[i];
	int old = m->state;
	char from_id[CHORUS_ID_HEX + 1], from_short[CHORUS_ID_SHORT + 1];
	char id[CHORUS_ID_HEX + 1], id_short[CHORUS_ID_SHORT + 1];

	assert(old == MEMBER_ALIVE || old == MEMBER_SUSPECT);
	members_set_state(&core->members, (size_t)i, MEMBER_DEAD);
	m->state_since_ms = now_ms;
	m->deadline_ms = now_ms + core->cfg.timing.tombstone_ms;
	m->reconnect_ms = now_ms + core->cfg.timing.reconnect_interval_ms;
	m->reconnects = 0;
	swim_note_deadline(core, m->deadline_ms);
	codec_hex(from_id, from, CHORUS_PK_BYTES);
	core_id_short(from_id, from_short);
	codec_hex(id, m->pk, CHORUS_PK_BYTES);
	core_id_short(id, id_short);
	core_log(core, CORE_LOG_INFO, "member", "event=dead node=%s name=%s inc=%llu from=%s", id_short,
	         m->name, (unsigned long long)m->inc, from_short);
	gossip_push_state_rumor(core, i, from);
	core_member_changed(core, i, old, 0);
}

/* Someone says we are suspect or dead: publish a higher incarnation. */
static void swim_refute(struct core *core, uint64_t inc, const uint8_t from[CHORUS_PK_BYTES],
                        uint64_t now_ms)
{
	char from_id[CHORUS_ID_HEX + 1], from_short[CHORUS_ID_SHORT + 1];

	if (inc > core->self.inc)
		core->self.inc = inc;
	core->stats.refutations++;
	if (core->health < CHORUS_HEALTH_MAX)
		core->health++;
	codec_hex(from_id, from, CHORUS_PK_BYTES);
	core_id_short(from_id, from_short);
	gossip_publish_self(core, now_ms);
	core_log(core, CORE_LOG_INFO, "member", "event=refute node=%s inc=%llu from=%s health=%d",
	         core->id_short, (unsigned long long)core->self.inc, from_short, core->health);
}

void swim_on_state_rumor(struct core *core, int kind, const uint8_t about[CHORUS_PK_BYTES],
                         uint64_t start_ms, uint64_t inc, const uint8_t from[CHORUS_PK_BYTES],
                         uint64_t now_ms)
{
	struct member *m;
	long i;

	assert(kind == RUMOR_SUSPECT || kind == RUMOR_DEAD);
	if (memcmp(about, core->pk, CHORUS_PK_BYTES) == 0) {
		if (start_ms == core->self.start_ms && inc >= core->self.inc)
			swim_refute(core, inc, from, now_ms);
		return;
	}
	i = members_find(&core->members, about);
	if (i < 0)
		return;
	m = &core->members.v[i];
	/* Only news about the version we hold can be checked against it. */
	if (record_version_cmp(start_ms, inc, m->start_ms, m->inc) != 0)
		return;
	if (kind == RUMOR_SUSPECT) {
		if (m->state == MEMBER_ALIVE)
			swim_suspect(core, i, from, now_ms);
		else if (m->state == MEMBER_SUSPECT)
			swim_confirm(core, i, from);
	} else if (m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT) {
		swim_mark_dead(core, i, from, now_ms);
	}
}

void swim_expire_members(struct core *core, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	/* Backwards, so that removing (swap with the last) skips nothing. */
	for (size_t k = core->members.n; k-- > 0;) {
		struct member *m = &core->members.v[k];

		if (m->deadline_ms == 0)
			continue;
		if (m->deadline_ms > now_ms) {
			next = swim_min_u64(next, m->deadline_ms);
			continue;
		}
		if (m->state == MEMBER_SUSPECT) {
			swim_mark_dead(core, (long)k, core->pk, now_ms);
			next = swim_min_u64(next, core->members.v[k].deadline_ms);
		} else if (m->state == MEMBER_DEAD || m->state == MEMBER_LEFT) {
			char id[CHORUS_ID_HEX + 1], id_short[CHORUS_ID_SHORT + 1];

			codec_hex(id, m->pk, CHORUS_PK_BYTES);
			core_id_short(id, id_short);
			core_log(core, CORE_LOG_DEBUG, "member", "event=forget node=%s name=%s state=%s",
			         id_short, m->name, member_state_name(m->state));
			core_member_changed(core, (long)k, m->state, 1);
			members_remove(&core->members, k);
		} else {
			m->deadline_ms = 0;
		}
	}
	core->next_member_ms = next;
}

/* ---------------------------------------------------------------- probing */

static int swim_probe_order_reserve(struct core *core, size_t n)
{
	size_t cap = core->probe_order_cap ? core->probe_order_cap : 16;
	uint8_t (*order)[CHORUS_PK_BYTES];

	if (n <= core->probe_order_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	order = realloc(core->probe_order, cap * CHORUS_PK_BYTES);
	if (order == NULL)
		return CORE_ERR_NOMEM;
	core->probe_order = order;
	core->probe_order_cap = cap;
	return 0;
}

/*
 * A member that became probeable mid-round goes to a random place in what is
 * left of the round (as memberlist does); otherwise it would wait for the
 * next round, which in a large cluster is minutes away.
 */
void swim_probe_order_insert(struct core *core, const uint8_t pk[CHORUS_PK_BYTES])
{
	size_t left = core->probe_order_n - core->probe_order_pos;
	size_t at;
	uint8_t (*order)[CHORUS_PK_BYTES];

	if (swim_probe_order_reserve(core, core->probe_order_n + 1) < 0)
		return; /* it will be in the next round */
	order = core->probe_order;
	at = core->probe_order_pos + rng_below(&core->rng, (uint32_t)left + 1);
	memmove(order[at + 1], order[at], (core->probe_order_n - at) * CHORUS_PK_BYTES);
	memcpy(order[at], pk, CHORUS_PK_BYTES);
	core->probe_order_n++;
}

static long swim_next_probe_target(struct core *core)
{
	for (size_t attempt = 0; attempt <= core->members.n + 1; attempt++) {
		long i;

		if (core->probe_order_pos >= core->probe_order_n) {
			size_t n = 0;
			uint8_t (*order)[CHORUS_PK_BYTES];

			if (swim_probe_order_reserve(core, core->members.n + 1) < 0)
				return -1;
			order = core->probe_order;
			for (size_t k = 0; k < core->members.n; k++) {
				const struct member *m = &core->members.v[k];

				if (swim_is_probeable(m) && memcmp(m->pk, core->pk, CHORUS_PK_BYTES) != 0)
					memcpy(order[n++], m->pk, CHORUS_PK_BYTES);
			}
			for (size_t k = n; k > 1; k--) { /* Fisher-Yates */
				size_t j = rng_below(&core->rng, (uint32_t)k);
				uint8_t tmp[CHORUS_PK_BYTES];

				memcpy(tmp, order[k - 1], CHORUS_PK_BYTES);
				memcpy(order[k - 1], order[j], CHORUS_PK_BYTES);
				memcpy(order[j], tmp, CHORUS_PK_BYTES);
			}
			core->probe_order_n = n;
			core->probe_order_pos = 0;
			if (n == 0)
				return -1;
		}
		i = members_find(&core->members, core->probe_order[core->probe_order_pos++]);
		if (i >= 0 && swim_is_probeable(&core->members.v[i]))
			return i;
	}
	return -1;
}

/*
 * Rumors ride on pings and acks, except to a member we hold dead: it is on
 * the other side of a partition (or back from one), where our verdicts are
 * stale news that would only make live members accuse each other.
 */
static void swim_piggyback(struct core *core, struct sb *sb, const uint8_t to[CHORUS_PK_BYTES])
{
	long i = members_find(&core->members, to);

	sb_puts(sb, "\"r\":[");
	if (i < 0 || core->members.v[i].state != MEMBER_DEAD)
		core->stats.rumors_sent += rumors_take(&core->rumors, sb, CHORUS_PIGGYBACK_BYTES,
		                                       core_retransmit_limit(core),
		                                       core->cfg.timing.eager_transmits,
		                                       gossip_rumor_current, core);
	sb_puts(sb, "]");
}

static void swim_send_ping(struct core *core, const struct member *m, uint64_t seq)
{
	char id[CHORUS_ID_HEX + 1];
	struct sb sb;

	codec_hex(id, m->pk, CHORUS_PK_BYTES);
	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_printf(&sb, "{\"n\":%llu,\"t\":\"%s\",\"a\":\"%s\",", (unsigned long long)seq, id,
	          core->cfg.addr);
	swim_piggyback(core, &sb, m->pk);
	sb_puts(&sb, "}");
	assert(!sb.overflow);
	core_send(core, m->pk, m->addr, WIRE_PING, sb.buf, sb.len);
}

static void swim_probe_start(struct core *core, uint64_t now_ms)
{
	long i = swim_next_probe_target(core);
	struct member *m;

	if (i < 0)
		return;
	m = &core->members.v[i];
	memset(&core->probe, 0, sizeof(core->probe));
	core->probe.active = 1;
	memcpy(core->probe.target, m->pk, CHORUS_PK_BYTES);
	core->probe.seq = ++core->probe_seq;
	core->probe.direct_deadline_ms = now_ms + swim_scaled(core, core->cfg.timing.probe_timeout_ms);
	core->probe.final_deadline_ms = now_ms + swim_scaled(core, core->cfg.timing.probe_interval_ms);
	core->stats.probes++;
	core_log(core, CORE_LOG_DEBUG, "swim", "event=probe name=%s seq=%llu", m->name,
	         (unsigned long long)core->probe.seq);
	swim_send_ping(core, m, core->probe.seq);
}

static void swim_probe_indirect(struct core *core, uint64_t now_ms)
{
	long t = members_find(&core->members, core->probe.target);
	char tid[CHORUS_ID_HEX + 1];
	struct sb sb;
	uint64_t chosen[CHORUS_INDIRECT_MAX];
	unsigned n = 0;

	core->probe.indirect_sent = 1;
	if (t < 0)
		return;
	codec_hex(tid, core->probe.target, CHORUS_PK_BYTES);
	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_printf(&sb, "{\"n\":%llu,\"t\":\"%s\",\"ta\":\"%s\",\"a\":\"%s\"}",
	          (unsigned long long)core->probe.seq, tid, core->members.v[t].addr, core->cfg.addr);
	assert(!sb.overflow);
	for (unsigned tries = 0; n < core->cfg.timing.indirect_probes && tries < 4 * CHORUS_INDIRECT_MAX;
	     tries++) {
		long h = swim_random_member(core, core->probe.target, 0, now_ms);
		uint64_t key;
		unsigned k;

		if (h < 0)
			break;
		if (core->members.v[h].state != MEMBER_ALIVE)
			continue;
		key = codec_get_u64(core->members.v[h].pk);
		for (k = 0; k < n && chosen[k] != key; k++)
			;
		if (k < n)
			continue;
		chosen[n++] = key;
		core_send(core, core->members.v[h].pk, core->members.v[h].addr, WIRE_PING_REQ, sb.buf,
		          sb.len);
	}
	core->probe.nacks_expected = n;
	core->stats.indirect_probes += n;
}

static void swim_probe_failed(struct core *core, uint64_t now_ms)
{
	long i = members_find(&core->members, core->probe.target);

	core->probe.active = 0;
	core->stats.probe_failures++;
	/* Lifeguard: missing nacks mean our own links or CPU may be the problem. */
	if (core->probe.nacks_expected == 0 || core->probe.nacks < core->probe.nacks_expected) {
		unsigned missing = core->probe.nacks_expected ? core->probe.nacks_expected - core->probe.nacks : 1;

		core->health += (int)missing;
		if (core->health > CHORUS_HEALTH_MAX)
			core->health = CHORUS_HEALTH_MAX;
	}
	if (i >= 0 && core->members.v[i].state == MEMBER_ALIVE)
		swim_suspect(core, i, core->pk, now_ms);
	else if (i >= 0 && core->members.v[i].state == MEMBER_SUSPECT)
		swim_confirm(core, i, core->pk); /* our own, independent evidence */
}

static void swim_probe_succeeded(struct core *core)
{
	core->probe.active = 0;
	if (core->health > 0)
		core->health--;
}

static void swim_relays_expire(struct core *core, uint64_t now_ms)
{
	for (unsigned r = 0; r < CHORUS_PROBES_MAX; r++) {
		struct relay *rl = &core->relays[r];
		char body[64];
		struct sb sb;

		if (!rl->active || rl->deadline_ms > now_ms)
			continue;
		sb_init(&sb, body, sizeof(body));
		sb_printf(&sb, "{\"n\":%llu}", (unsigned long long)rl->origin_seq);
		core_send(core, rl->origin_pk, rl->origin_addr, WIRE_NACK, sb.buf, sb.len);
		rl->active = 0;
	}
}

/* Full-state exchanges grow rarer as the cluster (and each exchange) grows. */
static uint64_t swim_scaled_by_size_ms(const struct core *core, uint32_t base_ms)
{
	double n = (double)core->members.n;
	double scale = n > 32 ? 1.0 + log2(n / 32) : 1.0;

	return (uint64_t)(base_ms * scale);
}

/*
 * Serf's reconnect: ping members we think dead.  Should one ack (a healed
 * partition), core_recv sees a frame from a dead member and tells it
 * (swim_tell_dead); it refutes, and the refutation spreads.  A ping costs
 * little when the member is really gone.  A member we suspect ourselves is
 * sent the suspicion instead (Lifeguard's buddy system): the rumor may have
 * been lost, across a partition that has since healed.
 *
 * Each one is retried 1, 2, then every 4 intervals after the verdict
 * (CHORUS_RECONNECT_SHIFT): one declared dead a moment ago, the likeliest
 * partition victim, is tried again soon after a heal however many others
 * are dead.  (One random dead member per interval left a view held dead for
 * 30 s and more after a heal when ten crashed nodes were still tombstones.)
 * A random start shares the per-interval budget fairly.
 */
static void swim_reconnect(struct core *core, uint64_t now_ms)
{
	size_t n = core->members.n, start;
	unsigned sent = 0;

	if (core->members.counts[MEMBER_DEAD] + core->members.counts[MEMBER_SUSPECT] == 0)
		return;
	start = rng_below(&core->rng, (uint32_t)n);
	for (size_t k = 0; k < n && sent < CHORUS_RECONNECT_MAX; k++) {
		struct member *m = &core->members.v[(start + k) % n];
		unsigned shift;

		if ((m->state != MEMBER_DEAD && m->state != MEMBER_SUSPECT) || m->reconnect_ms > now_ms)
			continue;
		shift = m->reconnects < CHORUS_RECONNECT_SHIFT ? m->reconnects : CHORUS_RECONNECT_SHIFT;
		m->reconnect_ms = now_ms + ((uint64_t)core->cfg.timing.reconnect_interval_ms << shift);
		if (m->reconnects < UINT8_MAX)
			m->reconnects++;
		if (m->state == MEMBER_DEAD)
			swim_send_ping(core, m, ++core->probe_seq);
		else
			swim_send_verdict(core, m, RUMOR_SUSPECT, core->pk);
		sent++;
	}
}

/*
 * Anti-entropy: full state with a random member, every pushpull_interval_ms
 * scaled by the cluster's size, at a random phase.  The first deadline was
 * set before we knew the size: if the scaled interval has not half passed,
 * only the deadline moves.  (Unscaled, every node of a 1000-node cluster
 * sent its 500 KiB state 15-30 s after starting: 60 MB/s for 15 s.)
 */
static void swim_pushpull(struct core *core, uint64_t now_ms)
{
	uint64_t every_ms = swim_scaled_by_size_ms(core, core->cfg.timing.pushpull_interval_ms);
	uint64_t jitter_ms = rng_below(&core->rng, (uint32_t)swim_min_u64(every_ms, UINT32_MAX));

	assert(every_ms > 0);
	if (now_ms - core->last_pushpull_ms < every_ms / 2) {
		core->next_pushpull_ms = core->last_pushpull_ms + every_ms / 2 + jitter_ms;
		return;
	}
	{
		long i = swim_random_member(core, NULL, 0, now_ms);

		if (i >= 0 && core->members.v[i].state == MEMBER_ALIVE)
			gossip_send_sync(core, core->members.v[i].pk, core->members.v[i].addr, 1);
	}
	core->last_pushpull_ms = now_ms;
	core->next_pushpull_ms = now_ms + every_ms / 2 + jitter_ms;
}

/*
 * A join carries our record and asks for the receiver's full state (`all`,
 * when joining through a seed) or only its own record (repair of a single
 * missed rumor: far cheaper in a large cluster).
 */
static void swim_send_join(struct core *core, const uint8_t *to_pk, const char *addr, int want_all)
{
	long self = members_find(&core->members, core->pk);
	struct sb sb;

	assert(self >= 0);
	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_printf(&sb, "{\"a\":\"%s\",\"w\":\"%s\",\"r\":[{\"k\":\"rec\",", core->cfg.addr,
	          want_all ? "all" : "self");
	gossip_record_fields(&core->members.v[self], &sb);
	sb_puts(&sb, "}]}");
	assert(!sb.overflow);
	core_log(core, CORE_LOG_DEBUG, "member", "event=join-request to=%s", addr);
	core_send(core, to_pk, addr, WIRE_JOIN, sb.buf, sb.len);
}

#define SWIM_JOIN_TELL_AFTER 5  /* join rounds unanswered before the warning */
#define SWIM_JOIN_TELL_EVERY 60  /* and then once a minute (join_retry_ms 1 s) */
_Static_assert(SWIM_JOIN_TELL_AFTER < SWIM_JOIN_TELL_EVERY, "the first warning comes");

void swim_tick(struct core *core, uint64_t now_ms)
{
	const struct core_timing *t = &core->cfg.timing;

	if (core->nseeds > 0 && core->joined && core_alive_count(core) <= 1)
		core->joined = 0; /* alone again: go back to the seeds */
	if (!core->joined && core->nseeds > 0 && now_ms >= core->next_join_ms) {
		for (unsigned k = 0; k < core->nseeds; k++)
			swim_send_join(core, NULL, core->seeds[k], 1); /* key unknown: signed */
		core->next_join_ms = now_ms + t->join_retry_ms;
		/*
		 * A cluster never answers a node without its network key (it learns
		 * nothing): the one sign of it here is silence, so say what it may mean.
		 */
		if (++core->join_tries % SWIM_JOIN_TELL_EVERY == SWIM_JOIN_TELL_AFTER)
			core_log(core, CORE_LOG_WARN, "member",
			         "event=join-unanswered tries=%u network_key=%s what=\"%s\"",
			         core->join_tries, core->ring_open ? "open" : "keyring",
			         core->ring_open ? "no seed answers: a cluster with a network key "
			                           "ignores a node without one; start with --keyring"
			                         : "no seed answers: are they up, and do they hold a key "
			                           "of this node's keyring?");
	}
	if (now_ms >= core->next_member_ms)
		swim_expire_members(core, now_ms);
	if (core->probe.active && !core->probe.indirect_sent && now_ms >= core->probe.direct_deadline_ms)
		swim_probe_indirect(core, now_ms);
	if (core->probe.active && now_ms >= core->probe.final_deadline_ms)
		swim_probe_failed(core, now_ms);
	if (now_ms >= core->next_probe_ms) {
		if (core->probe.active)
			swim_probe_failed(core, now_ms);
		swim_probe_start(core, now_ms);
		core->next_probe_ms = now_ms + swim_scaled(core, t->probe_interval_ms);
	}
	swim_relays_expire(core, now_ms);
	if (now_ms >= core->next_gossip_ms) {
		gossip_spread(core, now_ms);
		gossip_catchup_tick(core, now_ms);
		core->next_gossip_ms = now_ms + t->gossip_interval_ms;
	}
	if (now_ms >= core->next_pushpull_ms)
		swim_pushpull(core, now_ms);
	if (now_ms >= core->next_reconnect_ms) {
		swim_reconnect(core, now_ms); /* small pings: no need to scale with size */
		core->next_reconnect_ms = now_ms + t->reconnect_interval_ms;
	}
}

uint64_t swim_next_deadline_ms(const struct core *core)
{
	uint64_t d = swim_min_u64(core->next_probe_ms, core->next_pushpull_ms);

	d = swim_min_u64(d, core->next_reconnect_ms);

	d = swim_min_u64(d, core->next_member_ms);
	if (core->rumors.n > 0)
		d = swim_min_u64(d, core->next_gossip_ms);
	if (!core->joined && core->nseeds > 0)
		d = swim_min_u64(d, core->next_join_ms);
	/* Pulls go out on gossip ticks: wake for them while catching up. */
	if (core->joined && core->now_ms < core->catchup_until_ms)
		d = swim_min_u64(d, core->next_gossip_ms);
	if (core->probe.active) {
		if (!core->probe.indirect_sent)
			d = swim_min_u64(d, core->probe.direct_deadline_ms);
		d = swim_min_u64(d, core->probe.final_deadline_ms);
	}
	for (unsigned r = 0; r < CHORUS_PROBES_MAX; r++)
		if (core->relays[r].active)
			d = swim_min_u64(d, core->relays[r].deadline_ms);
	return d;
}

/* ---------------------------------------------------------------- messages */

/*
 * A member we hold dead sent us an authentic frame: it is up (a healed
 * partition, or a reconnect ping answered).  Tell it the verdict; it refutes,
 * and its new incarnation spreads to everyone who held it dead.
 */
void swim_tell_dead(struct core *core, long i, uint64_t now_ms)
{
	const struct member *m = &core->members.v[i];

	assert(m->state == MEMBER_DEAD);
	if (now_ms < core->next_repair_ms)
		return;
	core->next_repair_ms = now_ms + core->cfg.timing.gossip_interval_ms / 4;
	swim_send_verdict(core, m, RUMOR_DEAD, core->pk);
}

void swim_send_verdict(struct core *core, const struct member *m, int kind,
                       const uint8_t from[CHORUS_PK_BYTES])
{
	char id[CHORUS_ID_HEX + 1], fid[CHORUS_ID_HEX + 1], out[CHORUS_ID_HEX * 2 + 128];
	struct sb sb;

	assert(kind == RUMOR_SUSPECT || kind == RUMOR_DEAD);
	codec_hex(id, m->pk, CHORUS_PK_BYTES);
	codec_hex(fid, from, CHORUS_PK_BYTES);
	sb_init(&sb, out, sizeof(out));
	sb_printf(&sb, "{\"r\":[{\"k\":\"%s\",\"i\":\"%s\",\"g\":%llu,\"c\":%llu,\"f\":\"%s\"}]}",
	          kind == RUMOR_SUSPECT ? "sus" : "dead", id, (unsigned long long)m->start_ms,
	          (unsigned long long)m->inc, fid);
	assert(!sb.overflow);
	core_send(core, m->pk, m->addr, WIRE_GOSSIP, sb.buf, sb.len);
}

void swim_on_ping(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms)
{
	uint64_t seq;
	const char *target, *addr;
	struct sb sb;

	if (codec_json_u64(body, "n", CODEC_JSON_INT_MAX, &seq) < 0 ||
	    codec_json_str(body, "t", CHORUS_ID_HEX, &target) < 0 ||
	    codec_json_str(body, "a", CHORUS_ADDR_MAX, &addr) < 0 || !codec_valid_addr(addr)) {
		core->stats.drop_malformed++;
		return;
	}
	gossip_merge_rumors(core, f, cJSON_GetObjectItemCaseSensitive(body, "r"), now_ms);
	/*
	 * A member we never heard of knows us: the rumor about it missed us.
	 * Repair at once with a join exchange (rate-limited: this is the
	 * lazy-repair path, push-pull is the slow one).
	 */
	if (members_find(&core->members, f->pk) < 0 && now_ms >= core->next_repair_ms) {
		core->next_repair_ms = now_ms + core->cfg.timing.gossip_interval_ms;
		swim_send_join(core, f->pk, addr, 0);
	}
	/* A ping meant for a former owner of our address gets no ack. */
	if (strcmp(target, core->id) != 0) {
		core->stats.drop_stale++;
		return;
	}
	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_printf(&sb, "{\"n\":%llu,", (unsigned long long)seq);
	swim_piggyback(core, &sb, f->pk);
	sb_puts(&sb, "}");
	assert(!sb.overflow);
	core_send(core, f->pk, addr, WIRE_ACK, sb.buf, sb.len);
}

void swim_on_ack(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms)
{
	uint64_t seq;

	if (codec_json_u64(body, "n", CODEC_JSON_INT_MAX, &seq) < 0) {
		core->stats.drop_malformed++;
		return;
	}
	gossip_merge_rumors(core, f, cJSON_GetObjectItemCaseSensitive(body, "r"), now_ms);
	if (core->probe.active && seq == core->probe.seq) {
		swim_probe_succeeded(core);
		return;
	}
	for (unsigned r = 0; r < CHORUS_PROBES_MAX; r++) {
		struct relay *rl = &core->relays[r];
		char out[64];
		struct sb sb;

		if (!rl->active || rl->our_seq != seq)
			continue;
		sb_init(&sb, out, sizeof(out));
		sb_printf(&sb, "{\"n\":%llu}", (unsigned long long)rl->origin_seq);
		core_send(core, rl->origin_pk, rl->origin_addr, WIRE_ACK, sb.buf, sb.len);
		rl->active = 0;
		return;
	}
}

void swim_on_ping_req(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms)
{
	uint64_t seq;
	const char *target, *taddr, *addr;
	struct relay *rl = NULL;
	uint8_t tpk[CHORUS_PK_BYTES];
	char out[CHORUS_ADDR_MAX + 192];
	struct sb sb;

	if (codec_json_u64(body, "n", CODEC_JSON_INT_MAX, &seq) < 0 ||
	    codec_json_str(body, "t", CHORUS_ID_HEX, &target) < 0 ||
	    codec_unhex(tpk, CHORUS_PK_BYTES, target) < 0 ||
	    codec_json_str(body, "ta", CHORUS_ADDR_MAX, &taddr) < 0 || !codec_valid_addr(taddr) ||
	    codec_json_str(body, "a", CHORUS_ADDR_MAX, &addr) < 0 || !codec_valid_addr(addr)) {
		core->stats.drop_malformed++;
		return;
	}
	for (unsigned r = 0; r < CHORUS_PROBES_MAX && rl == NULL; r++)
		if (!core->relays[r].active)
			rl = &core->relays[r];
	if (rl == NULL)
		return; /* busy: the asker will count a missing nack against itself */
	rl->active = 1;
	rl->our_seq = ++core->probe_seq;
	rl->origin_seq = seq;
	memcpy(rl->origin_pk, f->pk, CHORUS_PK_BYTES);
	strcpy(rl->origin_addr, addr);
	/*
	 * Half the probe timeout: the asker sent its ping-req one probe timeout
	 * into its interval, and our nack must reach it before the interval
	 * ends, or Lifeguard would count it missing against the asker's health.
	 */
	rl->deadline_ms = now_ms + core->cfg.timing.probe_timeout_ms / 2;
	sb_init(&sb, out, sizeof(out));
	sb_printf(&sb, "{\"n\":%llu,\"t\":\"%s\",\"a\":\"%s\",\"r\":[]}",
	          (unsigned long long)rl->our_seq, target, core->cfg.addr);
	assert(!sb.overflow);
	core_send(core, tpk, taddr, WIRE_PING, sb.buf, sb.len);
}

void swim_on_nack(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms)
{
	uint64_t seq;

	if (codec_json_u64(body, "n", CODEC_JSON_INT_MAX, &seq) < 0) {
		core->stats.drop_malformed++;
		return;
	}
	if (core->probe.active && seq == core->probe.seq &&
	    core->probe.nacks < core->probe.nacks_expected)
		core->probe.nacks++;
}

/* A random member but us and exclude: alive or suspect, or lately dead if asked. */
long swim_random_member(struct core *core, const uint8_t *exclude, int include_recent_dead,
                        uint64_t now_ms)
{
	size_t n = core->members.n;
	size_t start;

	if (n == 0)
		return -1;
	start = rng_below(&core->rng, (uint32_t)n);
	/* A random start and a scan: uniform enough, and always bounded by n. */
	for (size_t k = 0; k < n; k++) {
		size_t i = (start + k) % n;
		const struct member *m = &core->members.v[i];

		if (memcmp(m->pk, core->pk, CHORUS_PK_BYTES) == 0)
			continue;
		if (exclude != NULL && memcmp(m->pk, exclude, CHORUS_PK_BYTES) == 0)
			continue;
		if (m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT)
			return (long)i;
		/* Telling a node it was declared dead lets it refute a false positive. */
		if (include_recent_dead && m->state == MEMBER_DEAD &&
		    now_ms - m->state_since_ms < 4ull * core->cfg.timing.probe_interval_ms * 10)
			return (long)i;
	}
	return -1;
}

/*
 * gossip: how membership news spreads.  Every node's record is signed by
 * the node itself, so anyone may relay it and everyone can check it.  News
 * (a record, a suspicion, a death) becomes a rumor that rides on pings and
 * acks and is pushed to gossip_fanout random members every gossip interval,
 * each rumor a bounded number of times; a full-state exchange with a random
 * member every push-pull interval (and on join) repairs what was missed.
 *
 * Rumors, JSON inside a message's "r" array:
 *   {"k":"rec","r":"<signed record text>","s":"<signature, hex>"}
 *   {"k":"sus"|"dead","i":"<node id>","g":<start_ms>,"c":<inc>,"f":"<from id>"}
 * A record is accepted only if it is newer (start_ms, then inc) than the one
 * held and its signature verifies; a suspicion or death only if it names the
 * version held.
 */
#include <stdlib.h>

#include "membership/membership-internal.h"

/* A rumor still says something true about a member, or it is dropped. */
int gossip_rumor_current(void *ctx, const struct rumor *r)
{
	struct core *core = ctx;
	long i = members_find(&core->members, r->about);
	const struct member *m;

	if (i < 0)
		return 0;
	m = &core->members.v[i];
	if (m->start_ms != r->start_ms || m->inc != r->inc)
		return 0;
	switch (r->kind) {
	case RUMOR_RECORD: return m->state == MEMBER_ALIVE || m->state == MEMBER_LEFT;
	case RUMOR_SUSPECT: return m->state == MEMBER_SUSPECT;
	case RUMOR_DEAD: return m->state == MEMBER_DEAD;
	}
	return 0;
}

void gossip_record_fields(const struct member *m, struct sb *sb)
{
	char id[CHORUS_ID_HEX + 1], sig[2 * CHORUS_SIG_BYTES + 1];

	codec_hex(id, m->pk, CHORUS_PK_BYTES);
	codec_hex(sig, m->sig, CHORUS_SIG_BYTES);
	/* The header (i, g, c) lets a receiver skip stale news without parsing it. */
	sb_printf(sb, "\"i\":\"%s\",\"g\":%llu,\"c\":%llu,\"r\":", id,
	          (unsigned long long)m->start_ms, (unsigned long long)m->inc);
	sb_json_str(sb, m->text, m->text_len);
	sb_printf(sb, ",\"s\":\"%s\"", sig);
}

void gossip_push_state_rumor(struct core *core, long i, const uint8_t from[CHORUS_PK_BYTES])
{
	const struct member *m = &core->members.v[i];
	char buf[CHORUS_RECORD_MAX * 2 + 256];
	struct sb sb;
	int kind;

	sb_init(&sb, buf, sizeof(buf));
	if (m->state == MEMBER_SUSPECT || m->state == MEMBER_DEAD) {
		char id[CHORUS_ID_HEX + 1], fid[CHORUS_ID_HEX + 1];

		kind = m->state == MEMBER_SUSPECT ? RUMOR_SUSPECT : RUMOR_DEAD;
		codec_hex(id, m->pk, CHORUS_PK_BYTES);
		codec_hex(fid, from, CHORUS_PK_BYTES);
		sb_printf(&sb, "{\"k\":\"%s\",\"i\":\"%s\",\"g\":%llu,\"c\":%llu,\"f\":\"%s\"}",
		          kind == RUMOR_SUSPECT ? "sus" : "dead", id, (unsigned long long)m->start_ms,
		          (unsigned long long)m->inc, fid);
	} else {
		kind = RUMOR_RECORD;
		sb_puts(&sb, "{\"k\":\"rec\",");
		gossip_record_fields(m, &sb);
		sb_puts(&sb, "}");
	}
	assert(!sb.overflow);
	if (rumors_push(&core->rumors, m->pk, m->start_ms, m->inc, kind, sb.buf, sb.len) < 0)
		core_log(core, CORE_LOG_WARN, "gossip", "event=rumor-dropped reason=out-of-memory");
}

static int gossip_store_text(struct member *m, const char *text, size_t len,
                             const uint8_t sig[CHORUS_SIG_BYTES])
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return CORE_ERR_NOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	free(m->text);
	m->text = copy;
	m->text_len = (uint16_t)len;
	memcpy(m->sig, sig, CHORUS_SIG_BYTES);
	return 0;
}

static void gossip_apply_record(struct member *m, const struct record *r)
{
	strcpy(m->addr, r->addr);
	strcpy(m->name, r->name);
	m->start_ms = r->start_ms;
	m->inc = r->inc;
	m->left = r->left;
}

void gossip_publish_self(struct core *core, uint64_t now_ms)
{
	char text[CHORUS_RECORD_MAX + 1];
	uint8_t sig[CHORUS_SIG_BYTES];
	long i;
	int len, old = -1;

	core->self.inc++;
	len = record_encode(text, sizeof(text), &core->self);
	assert(len > 0); /* the configuration was validated at creation */
	if (len <= 0)
		return;
	core->crypto->sign(sig, (const uint8_t *)text, (size_t)len, core->sk);
	i = members_find(&core->members, core->pk);
	if (i < 0) {
		i = members_add(&core->members, core->pk);
		if (i < 0)
			return;
	} else {
		old = core->members.v[i].state;
	}
	if (gossip_store_text(&core->members.v[i], text, (size_t)len, sig) < 0) {
		if (old < 0)
			members_remove(&core->members, (size_t)i);
		return;
	}
	gossip_apply_record(&core->members.v[i], &core->self);
	members_set_state(&core->members, (size_t)i, core->self.left ? MEMBER_LEFT : MEMBER_ALIVE);
	core->members.v[i].last_seen_ms = now_ms;
	if (old != (int)core->members.v[i].state)
		core->members.v[i].state_since_ms = now_ms;
	gossip_push_state_rumor(core, i, core->pk);
	core_member_changed(core, i, old, 0);
}

static void gossip_log_change(struct core *core, const struct member *m, int old, uint64_t now_ms)
{
	char id[CHORUS_ID_HEX + 1], id_short[CHORUS_ID_SHORT + 1];
	const char *event;

	codec_hex(id, m->pk, CHORUS_PK_BYTES);
	core_id_short(id, id_short);
	if (old < 0)
		event = m->state == MEMBER_LEFT ? "left" : "join";
	else if (m->state == MEMBER_LEFT)
		event = "left";
	else if (old != MEMBER_ALIVE)
		event = "alive";
	else
		event = "update";
	core_log(core, CORE_LOG_INFO, "member", "event=%s node=%s name=%s addr=%s inc=%llu", event,
	         id_short, m->name, m->addr, (unsigned long long)m->inc);
}

long gossip_merge_record(struct core *core, const cJSON *entry, uint8_t about[CHORUS_PK_BYTES],
                         uint64_t *start_ms, uint64_t *inc, uint64_t now_ms)
{
	struct record r;
	uint8_t sig[CHORUS_SIG_BYTES];
	const char *text, *sig_hex;
	struct member *m;
	size_t len;
	long i;
	int old = -1;

	if (codec_json_pk(entry, "i", about) < 0 ||
	    codec_json_u64(entry, "g", CODEC_JSON_INT_MAX - 1, start_ms) < 0 ||
	    codec_json_u64(entry, "c", CODEC_JSON_INT_MAX - 1, inc) < 0 ||
	    codec_json_str(entry, "r", CHORUS_RECORD_MAX, &text) < 0 ||
	    codec_json_str(entry, "s", 2 * CHORUS_SIG_BYTES, &sig_hex) < 0) {
		core->stats.drop_malformed++;
		return CORE_ERR_MALFORMED;
	}
	if (memcmp(about, core->pk, CHORUS_PK_BYTES) == 0)
		return -1; /* our own record comes only from us */
	i = members_find(&core->members, about);
	if (i >= 0) {
		int cmp = record_version_cmp(*start_ms, *inc, core->members.v[i].start_ms,
		                             core->members.v[i].inc);

		if (cmp <= 0)
			return cmp == 0 ? i : CORE_ERR_STALE;
	}
	/* News: now the record must decode, match its header and verify. */
	len = strlen(text);
	if (record_decode(&r, text, len) < 0 || codec_unhex(sig, CHORUS_SIG_BYTES, sig_hex) < 0 ||
	    memcmp(r.pk, about, CHORUS_PK_BYTES) != 0 || r.start_ms != *start_ms || r.inc != *inc) {
		core->stats.drop_malformed++;
		return CORE_ERR_MALFORMED;
	}
	if (core->crypto->verify(sig, (const uint8_t *)text, len, r.pk) != 0) {
		core->stats.drop_badsig++;
		core_log(core, CORE_LOG_DEBUG, "gossip", "event=drop reason=bad-record-signature name=%s",
		         r.name);
		return CORE_ERR_BADSIG;
	}
	if (i < 0) {
		if (r.left)
			return CORE_ERR_STALE; /* a departure of a node we never knew: nothing to keep */
		i = members_add(&core->members, r.pk);
		if (i < 0) {
			core_log(core, CORE_LOG_WARN, "member", "event=member-dropped reason=%s",
			         core_strerror((int)i));
			return i;
		}
	} else {
		old = core->members.v[i].state;
	}
	m = &core->members.v[i];
	if (gossip_store_text(m, text, len, sig) < 0) {
		if (old < 0)
			members_remove(&core->members, (size_t)i);
		return CORE_ERR_NOMEM;
	}
	gossip_apply_record(m, &r);
	members_set_state(&core->members, (size_t)i, r.left ? MEMBER_LEFT : MEMBER_ALIVE);
	m->last_seen_ms = now_ms;
	m->confirms = 0;
	m->deadline_ms = 0;
	if (old != (int)m->state)
		m->state_since_ms = now_ms;
	if (m->state == MEMBER_LEFT) {
		m->deadline_ms = now_ms + core->cfg.timing.tombstone_ms;
		core->next_member_ms = m->deadline_ms < core->next_member_ms ? m->deadline_ms
		                                                            : core->next_member_ms;
	}
	core->stats.rumors_received++;
	if (old == MEMBER_DEAD)
		m->revived_ms = now_ms;
	if (m->state == MEMBER_ALIVE && (old < 0 || old == MEMBER_DEAD || old == MEMBER_LEFT))
		swim_probe_order_insert(core, m->pk);
	gossip_log_change(core, m, old, now_ms);
	gossip_push_state_rumor(core, i, r.pk);
	core_member_changed(core, i, old, 0);
	return i;
}

/* Asks the sender of digests for the records we lack, by id prefix. */
static void gossip_send_want(struct core *core, const struct wire_frame *f, const uint64_t *want,
                             unsigned nwant)
{
	long s = members_find(&core->members, f->pk);
	struct sb sb;

	if (s < 0 || nwant == 0)
		return; /* an unknown sender is repaired through its pings instead */
	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_puts(&sb, "{\"w\":[");
	for (unsigned k = 0; k < nwant; k++) {
		uint8_t raw[CHORUS_DIGEST_ID_HEX / 2];
		char id[CHORUS_DIGEST_ID_HEX + 1];

		codec_put_u64(raw, want[k]);
		codec_hex(id, raw, sizeof(raw));
		sb_printf(&sb, "%s\"%s\"", k ? "," : "", id);
	}
	sb_puts(&sb, "]}");
	assert(!sb.overflow);
	core->stats.wants_sent++;
	core_send(core, core->members.v[s].pk, core->members.v[s].addr, WIRE_WANT, sb.buf, sb.len);
}

void gossip_on_want(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "w");
	const cJSON *it;
	long s = members_find(&core->members, f->pk);
	struct sb sb;
	unsigned n = 0, sent = 0;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > CHORUS_WANT_MAX) {
		core->stats.drop_malformed++;
		return;
	}
	if (s < 0)
		return;
	core->stats.wants_received++;
	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_puts(&sb, "{\"r\":[");
	cJSON_ArrayForEach(it, arr)
	{
		uint8_t raw[CHORUS_DIGEST_ID_HEX / 2];
		long i;
		const struct member *m;
		size_t mark = sb.len;

		if (!cJSON_IsString(it) || codec_unhex(raw, sizeof(raw), it->valuestring) < 0) {
			core->stats.drop_malformed++;
			return;
		}
		i = members_find_prefix(&core->members, codec_get_u64(raw));
		if (i < 0)
			continue;
		m = &core->members.v[i];
		if (m->state != MEMBER_ALIVE && m->state != MEMBER_LEFT)
			continue; /* its record would claim it alive; the state rumors will do */
		sb_puts(&sb, n ? ",{\"k\":\"rec\"," : "{\"k\":\"rec\",");
		gossip_record_fields(m, &sb);
		sb_puts(&sb, "}");
		if (sb.overflow || sb.len + 8 > CHORUS_GOSSIP_BYTES) {
			sb.overflow = 0;
			sb.len = mark;
			break;
		}
		n++;
	}
	sb_puts(&sb, "]}");
	if (n > 0 && !sb.overflow) {
		core_send(core, core->members.v[s].pk, core->members.v[s].addr, WIRE_GOSSIP, sb.buf,
		          sb.len);
		sent = n;
	}
	core_log(core, CORE_LOG_DEBUG, "gossip", "event=want asked=%d sent=%u", cJSON_GetArraySize(arr),
	         sent);
}

/*
 * A member we hold dead, or held dead until a moment ago, has been out of
 * touch (a partition): its suspicions and deaths are stale news from the
 * other side.  Applied as they are, they make live members declare each
 * other dead by the thousand after a heal, each victim refuting in turn.
 * "A moment" is the longest suspicion: what its queue says was born before
 * it came back.
 */
static int gossip_sender_stale(const struct core *core, const struct wire_frame *f,
                               uint64_t now_ms)
{
	long s = members_find(&core->members, f->pk);
	const struct member *m;

	if (s < 0)
		return 0;
	m = &core->members.v[s];
	return m->state == MEMBER_DEAD ||
	       (m->revived_ms != 0 && now_ms - m->revived_ms < swim_suspicion_max_ms(core));
}

/*
 * A stale verdict goes to the accused alone (at most once per gossip
 * interval): if it is up it refutes, and its new incarnation reaches those
 * who hold it dead, while nobody else changes their view.  One about us we
 * refute as any other.
 */
static void gossip_tell_accused(struct core *core, int kind, const uint8_t about[CHORUS_PK_BYTES],
                                uint64_t start_ms, uint64_t inc, const uint8_t from[CHORUS_PK_BYTES],
                                uint64_t now_ms)
{
	long i;
	struct member *m;

	if (memcmp(about, core->pk, CHORUS_PK_BYTES) == 0) {
		swim_on_state_rumor(core, kind, about, start_ms, inc, from, now_ms);
		return;
	}
	i = members_find(&core->members, about);
	if (i < 0)
		return;
	m = &core->members.v[i];
	if (m->state != MEMBER_ALIVE || record_version_cmp(start_ms, inc, m->start_ms, m->inc) != 0 ||
	    (m->told_ms != 0 && now_ms - m->told_ms < core->cfg.timing.gossip_interval_ms))
		return;
	m->told_ms = now_ms;
	swim_send_verdict(core, m, kind, from);
}

static void gossip_on_verdict(struct core *core, int stale, int kind,
                              const uint8_t about[CHORUS_PK_BYTES], uint64_t start_ms, uint64_t inc,
                              const uint8_t from[CHORUS_PK_BYTES], uint64_t now_ms)
{
	if (stale)
		gossip_tell_accused(core, kind, about, start_ms, inc, from, now_ms);
	else
		swim_on_state_rumor(core, kind, about, start_ms, inc, from, now_ms);
}

/* A digest of a version we lack goes on the want list (lazy push). */
static void gossip_on_digest(struct core *core, const char *text, uint64_t *want, unsigned *nwant)
{
	uint64_t prefix, start_ms, inc;
	long i;

	if (codec_parse_digest(text, &prefix, &start_ms, &inc) < 0) {
		core->stats.drop_malformed++;
		return;
	}
	if (prefix == codec_get_u64(core->pk) || *nwant >= CHORUS_WANT_MAX)
		return;
	i = members_find_prefix(&core->members, prefix);
	if (i < 0 || record_version_cmp(start_ms, inc, core->members.v[i].start_ms,
	                                core->members.v[i].inc) > 0)
		want[(*nwant)++] = prefix;
}

void gossip_merge_rumors(struct core *core, const struct wire_frame *f, const cJSON *arr,
                         uint64_t now_ms)
{
	const cJSON *it;
	uint64_t want[CHORUS_WANT_MAX];
	unsigned nwant = 0;
	int stale;

	if (arr == NULL)
		return;
	if (!cJSON_IsArray(arr)) {
		core->stats.drop_malformed++;
		return;
	}
	stale = gossip_sender_stale(core, f, now_ms);
	cJSON_ArrayForEach(it, arr)
	{
		const char *kind;
		uint8_t about[CHORUS_PK_BYTES], from[CHORUS_PK_BYTES];
		uint64_t start_ms, inc;

		if (cJSON_IsString(it)) {
			gossip_on_digest(core, it->valuestring, want, &nwant);
			continue;
		}
		if (!cJSON_IsObject(it) || codec_json_str(it, "k", 8, &kind) < 0) {
			core->stats.drop_malformed++;
			continue;
		}
		if (strcmp(kind, "rec") == 0) {
			gossip_merge_record(core, it, about, &start_ms, &inc, now_ms);
		} else if (strcmp(kind, "sus") == 0 || strcmp(kind, "dead") == 0) {
			if (codec_json_pk(it, "i", about) < 0 || codec_json_pk(it, "f", from) < 0 ||
			    codec_json_u64(it, "g", CODEC_JSON_INT_MAX, &start_ms) < 0 ||
			    codec_json_u64(it, "c", CODEC_JSON_INT_MAX, &inc) < 0) {
				core->stats.drop_malformed++;
				continue;
			}
			gossip_on_verdict(core, stale, kind[0] == 's' ? RUMOR_SUSPECT : RUMOR_DEAD, about,
			                  start_ms, inc, from, now_ms);
		} else {
			core->stats.drop_malformed++;
		}
	}
	gossip_send_want(core, f, want, nwant);
}

/* ---------------------------------------------------------------- spreading */

void gossip_spread(struct core *core, uint64_t now_ms)
{
	uint64_t sent_to[16];
	unsigned nsent = 0;
	unsigned fanout = core->cfg.timing.gossip_fanout;

	if (fanout > 16)
		fanout = 16;
	for (unsigned tries = 0; nsent < fanout && tries < 3 * fanout && core->rumors.n > 0; tries++) {
		long i = swim_random_member(core, NULL, 1, now_ms);
		uint64_t key;
		unsigned k;
		struct sb sb;
		size_t taken;

		if (i < 0)
			return;
		key = codec_get_u64(core->members.v[i].pk);
		for (k = 0; k < nsent && sent_to[k] != key; k++)
			;
		if (k < nsent)
			continue;
		sent_to[nsent++] = key;
		sb_init(&sb, core->body, CHORUS_BODY_MAX);
		sb_puts(&sb, "{\"r\":[");
		taken = rumors_take(&core->rumors, &sb, CHORUS_GOSSIP_BYTES, core_retransmit_limit(core),
		                    core->cfg.timing.eager_transmits, gossip_rumor_current, core);
		sb_puts(&sb, "]}");
		assert(!sb.overflow);
		if (taken == 0)
			return;
		core->stats.rumors_sent += taken;
		core_send(core, core->members.v[i].pk, core->members.v[i].addr, WIRE_GOSSIP, sb.buf,
		          sb.len);
	}
}

void gossip_on_gossip(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms)
{
	uint64_t learned = core->stats.rumors_received;

	gossip_merge_rumors(core, f, cJSON_GetObjectItemCaseSensitive(body, "r"), now_ms);
	/* An answer to our pull ("u") that taught us something: rumors missed us, keep pulling. */
	if (core->joined && cJSON_GetObjectItemCaseSensitive(body, "u") != NULL &&
	    core->stats.rumors_received > learned &&
	    now_ms + core->cfg.timing.catchup_window_ms > core->catchup_until_ms)
		core->catchup_until_ms = now_ms + core->cfg.timing.catchup_window_ms;
}

/* ---------------------------------------------------------------- join and sync */

static void gossip_sync_entry(const struct member *m, struct sb *sb)
{
	sb_puts(sb, "{");
	gossip_record_fields(m, sb);
	sb_printf(sb, ",\"st\":\"%s\"}", member_state_name(m->state));
}

static void gossip_sync_flush(struct core *core, const uint8_t *to_pk, const char *addr,
                              struct sb *sb, int want_reply)
{
	sb_printf(sb, "],\"p\":%s}", want_reply ? "true" : "false");
	assert(!sb->overflow);
	core_send(core, to_pk, addr, WIRE_SYNC, sb->buf, sb->len);
}

void gossip_send_sync(struct core *core, const uint8_t *to_pk, const char *addr, int want_reply)
{
	char entry[CHORUS_RECORD_MAX * 2 + 256];
	struct sb sb, eb;
	size_t in_chunk = 0;

	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_printf(&sb, "{\"a\":\"%s\",\"m\":[", core->cfg.addr);
	for (size_t i = 0; i < core->members.n; i++) {
		sb_init(&eb, entry, sizeof(entry));
		gossip_sync_entry(&core->members.v[i], &eb);
		assert(!eb.overflow);
		if (in_chunk > 0 && sb.len + eb.len + 32 > CHORUS_SYNC_BYTES) {
			/* Only the last chunk asks for a reply: one answer per exchange. */
			gossip_sync_flush(core, to_pk, addr, &sb, 0);
			sb_init(&sb, core->body, CHORUS_BODY_MAX);
			sb_printf(&sb, "{\"a\":\"%s\",\"m\":[", core->cfg.addr);
			in_chunk = 0;
		}
		if (in_chunk++ > 0)
			sb_putn(&sb, ",", 1);
		sb_putn(&sb, eb.buf, eb.len);
	}
	gossip_sync_flush(core, to_pk, addr, &sb, want_reply);
}

static int gossip_state_from_name(const char *s)
{
	for (int st = MEMBER_ALIVE; st <= MEMBER_LEFT; st++)
		if (strcmp(s, member_state_name((enum member_state)st)) == 0)
			return st;
	return -1;
}

void gossip_on_sync(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "m");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "p");
	const cJSON *it;
	const char *addr;
	int stale = gossip_sender_stale(core, f, now_ms);

	if (!cJSON_IsArray(arr) || !cJSON_IsBool(p) ||
	    codec_json_str(body, "a", CHORUS_ADDR_MAX, &addr) < 0 || !codec_valid_addr(addr)) {
		core->stats.drop_malformed++;
		return;
	}
	cJSON_ArrayForEach(it, arr)
	{
		const char *st_name;
		uint8_t about[CHORUS_PK_BYTES];
		uint64_t start_ms, inc;
		long i;
		int st;

		if (!cJSON_IsObject(it) || codec_json_str(it, "st", 8, &st_name) < 0 ||
		    (st = gossip_state_from_name(st_name)) < 0) {
			core->stats.drop_malformed++;
			continue;
		}
		i = gossip_merge_record(core, it, about, &start_ms, &inc, now_ms);
		if (i < -1)
			continue;
		/* The sender's verdict on that version counts as its rumor would. */
		if (st == MEMBER_SUSPECT || st == MEMBER_DEAD)
			gossip_on_verdict(core, stale, st == MEMBER_SUSPECT ? RUMOR_SUSPECT : RUMOR_DEAD,
			                  about, start_ms, inc, f->pk, now_ms);
	}
	if (!core->joined) {
		core->joined = 1;
		core->join_tries = 0;
		gossip_catchup_start(core, now_ms);
		core_log(core, CORE_LOG_INFO, "member", "event=joined via=%s members=%zu", addr,
		         core->members.n);
	}
	if (cJSON_IsTrue(p))
		gossip_send_sync(core, f->pk, addr, 0);
}

void gossip_on_join(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms)
{
	const char *addr, *want;

	if (codec_json_str(body, "a", CHORUS_ADDR_MAX, &addr) < 0 || !codec_valid_addr(addr)) {
		core->stats.drop_malformed++;
		return;
	}
	gossip_merge_rumors(core, f, cJSON_GetObjectItemCaseSensitive(body, "r"), now_ms);
	if (codec_json_str(body, "w", 4, &want) == 0 && strcmp(want, "self") == 0) {
		long self = members_find(&core->members, core->pk);
		struct sb sb;

		assert(self >= 0);
		sb_init(&sb, core->body, CHORUS_BODY_MAX);
		sb_puts(&sb, "{\"r\":[{\"k\":\"rec\",");
		gossip_record_fields(&core->members.v[self], &sb);
		sb_puts(&sb, "}]}");
		assert(!sb.overflow);
		core_send(core, f->pk, addr, WIRE_GOSSIP, sb.buf, sb.len);
		return;
	}
	gossip_send_sync(core, f->pk, addr, 0);
}

/* ---------------------------------------------------------------- catch-up pulls */

/*
 * Why pulls: rumors alone leave a join storm with missing views.  Every node
 * sends each rumor L = retransmit_mult * ceil(log10(n + 1)) times to random
 * members, so a given node misses a given rumor with a probability of about
 * e^-L; a storm is n rumors to n nodes, n^2 e^-L misses: 1.5 at n = 500
 * (L = 12), more while the newest nodes are not yet known to the senders.
 * What repaired them was slow (push-pull every 75 s at 500 nodes, or the
 * missing member's probe round), so the last view took 40-100 s.  A node
 * that has just joined therefore asks, every catchup interval, a random
 * member for what a Bloom filter of its view lacks; the answer is the
 * records themselves.  It keeps asking for catchup_window_ms after its join
 * and after every answer that taught it something, so it stops once its
 * view stays complete; a node that joined long ago never pulls, and costs
 * the cluster nothing.
 */

/* splitmix64's finaliser: a cheap, good 64-bit mix. */
static uint64_t gossip_mix(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t gossip_version_key(uint64_t id_prefix, uint64_t start_ms, uint64_t inc)
{
	return gossip_mix(id_prefix ^ gossip_mix(start_ms ^ gossip_mix(inc + 0x9e3779b97f4a7c15ULL)));
}

/* Double hashing: bit j of key is h1 + j * h2 (h2 odd, so the bits differ). */
static size_t gossip_filter_bit(uint64_t key, uint64_t salt, size_t nbytes, unsigned j)
{
	uint64_t h1 = gossip_mix(key ^ salt);
	uint64_t h2 = gossip_mix(h1 ^ 0x6a09e667f3bcc909ULL) | 1;

	assert(nbytes > 0 && (nbytes & (nbytes - 1)) == 0);
	return (size_t)((h1 + j * h2) & (nbytes * 8 - 1));
}

void gossip_filter_add(uint8_t *filter, size_t nbytes, uint64_t salt, uint64_t key)
{
	for (unsigned j = 0; j < CHORUS_PULL_HASHES; j++) {
		size_t b = gossip_filter_bit(key, salt, nbytes, j);

		filter[b / 8] |= (uint8_t)(1u << (b % 8));
	}
}

int gossip_filter_has(const uint8_t *filter, size_t nbytes, uint64_t salt, uint64_t key)
{
	for (unsigned j = 0; j < CHORUS_PULL_HASHES; j++) {
		size_t b = gossip_filter_bit(key, salt, nbytes, j);

		if (!(filter[b / 8] & (1u << (b % 8))))
			return 0;
	}
	return 1;
}

static uint64_t gossip_member_key(const struct member *m)
{
	return gossip_version_key(codec_get_u64(m->pk), m->start_ms, m->inc);
}

/* Filter bytes for n members: CHORUS_PULL_BITS_MEMBER each, a power of two, within bounds. */
static size_t gossip_filter_bytes(size_t n)
{
	size_t nbytes = CHORUS_PULL_FILTER_MIN;

	while (nbytes < CHORUS_PULL_FILTER_MAX && nbytes * 8 < n * CHORUS_PULL_BITS_MEMBER)
		nbytes *= 2;
	return nbytes;
}

void gossip_catchup_start(struct core *core, uint64_t now_ms)
{
	const struct core_timing *t = &core->cfg.timing;

	core->catchup_until_ms = now_ms + t->catchup_window_ms;
	/* Half an interval to one and a half: joiners of one storm do not pull in step. */
	core->next_catchup_ms = now_ms + t->catchup_interval_ms / 2 +
	                        rng_below(&core->rng, t->catchup_interval_ms + 1);
}

static void gossip_send_pull(struct core *core, uint64_t now_ms)
{
	uint8_t filter[CHORUS_PULL_FILTER_MAX];
	size_t nbytes = gossip_filter_bytes(core->members.n);
	uint64_t salt = rng_next(&core->rng) & (CODEC_JSON_INT_MAX - 1);
	long to = swim_random_member(core, NULL, 0, now_ms);
	struct sb sb;

	if (to < 0 || core->members.v[to].state != MEMBER_ALIVE)
		return;
	memset(filter, 0, nbytes);
	for (size_t i = 0; i < core->members.n; i++)
		gossip_filter_add(filter, nbytes, salt, gossip_member_key(&core->members.v[i]));
	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_printf(&sb, "{\"n\":%llu,\"f\":\"", (unsigned long long)salt);
	if (sb.len + 2 * nbytes + 8 > sb.cap) {
		assert(0); /* _Static_assert in limits.h: a filter fits */
		return;
	}
	codec_hex(sb.buf + sb.len, filter, nbytes);
	sb.len += 2 * nbytes;
	sb_puts(&sb, "\"}");
	assert(!sb.overflow);
	core_send(core, core->members.v[to].pk, core->members.v[to].addr, WIRE_PULL, sb.buf, sb.len);
}

void gossip_catchup_tick(struct core *core, uint64_t now_ms)
{
	core->pull_answers = 0; /* called once per gossip interval */
	if (!core->joined || now_ms >= core->catchup_until_ms || now_ms < core->next_catchup_ms)
		return;
	gossip_send_pull(core, now_ms);
	core->next_catchup_ms = now_ms + core->cfg.timing.catchup_interval_ms;
	assert(core->next_catchup_ms > now_ms); /* validated timings: the interval is not 0 */
}

/* Records (alive or left) the asker's filter lacks, from a random start, in at most CHORUS_PULL_FRAMES_MAX frames. */
static void gossip_answer_pull(struct core *core, const uint8_t *to_pk, const char *addr,
                               const uint8_t *filter, size_t nbytes, uint64_t salt)
{
	size_t n = core->members.n, start = rng_below(&core->rng, (uint32_t)n);
	unsigned frames = 0, in_frame = 0;
	struct sb sb;

	assert(n > 0); /* our own entry */
	sb_init(&sb, core->body, CHORUS_BODY_MAX);
	sb_puts(&sb, "{\"u\":1,\"r\":[");
	for (size_t k = 0; k < n && frames < CHORUS_PULL_FRAMES_MAX; k++) {
		const struct member *m = &core->members.v[(start + k) % n];
		size_t mark = sb.len;

		if (m->state != MEMBER_ALIVE && m->state != MEMBER_LEFT)
			continue; /* a record would claim it alive; verdicts travel as rumors */
		if (gossip_filter_has(filter, nbytes, salt, gossip_member_key(m)))
			continue;
		sb_puts(&sb, in_frame ? ",{\"k\":\"rec\"," : "{\"k\":\"rec\",");
		gossip_record_fields(m, &sb);
		sb_puts(&sb, "}");
		if (!sb.overflow && sb.len + 8 <= CHORUS_GOSSIP_BYTES) {
			in_frame++;
			continue;
		}
		/* Full: send what fits, and start the next frame with this record. */
		sb.overflow = 0;
		sb.len = mark;
		assert(in_frame > 0); /* one record always fits (limits.h) */
		sb_puts(&sb, "]}");
		core_send(core, to_pk, addr, WIRE_GOSSIP, sb.buf, sb.len);
		frames++;
		in_frame = 0;
		sb_init(&sb, core->body, CHORUS_BODY_MAX);
		sb_puts(&sb, "{\"u\":1,\"r\":[");
		k--; /* this member again, in the new frame */
	}
	sb_puts(&sb, "]}");
	if (in_frame > 0 && frames < CHORUS_PULL_FRAMES_MAX)
		core_send(core, to_pk, addr, WIRE_GOSSIP, sb.buf, sb.len);
}

void gossip_on_pull(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms)
{
	uint8_t filter[CHORUS_PULL_FILTER_MAX];
	const char *hex;
	uint64_t salt;
	size_t nbytes;
	long s;

	(void)now_ms;
	if (codec_json_u64(body, "n", CODEC_JSON_INT_MAX, &salt) < 0 ||
	    codec_json_str(body, "f", 2 * CHORUS_PULL_FILTER_MAX, &hex) < 0) {
		core->stats.drop_malformed++;
		return;
	}
	nbytes = strlen(hex) / 2;
	if (strlen(hex) % 2 != 0 || nbytes < CHORUS_PULL_FILTER_MIN || (nbytes & (nbytes - 1)) != 0 ||
	    codec_unhex(filter, nbytes, hex) < 0) {
		core->stats.drop_malformed++;
		return;
	}
	/*
	 * Only a member is answered, at the address its signed record gives: an
	 * answer is up to 4 frames for one small one, and a stranger naming
	 * someone else's address would make us a reflector.  (A joiner not yet
	 * known here asks another member at its next pull.)  And at most
	 * CHORUS_PULL_ANSWERS_MAX a gossip interval: a bound on what pulls can
	 * make us send.
	 */
	s = members_find(&core->members, f->pk);
	if (s < 0 || (core->members.v[s].state != MEMBER_ALIVE && core->members.v[s].state != MEMBER_SUSPECT))
		return;
	if (core->pull_answers >= CHORUS_PULL_ANSWERS_MAX) {
		core_log(core, CORE_LOG_DEBUG, "gossip", "event=pull-dropped reason=busy");
		return;
	}
	core->pull_answers++;
	gossip_answer_pull(core, f->pk, core->members.v[s].addr, filter, nbytes, salt);
}

/*
 * keyops: rotating the network key without a restart, as Serf does.
 *
 * An operator runs `chorus keyring install|use|remove|list` on one node.
 * That node applies the operation to its own ring, then sends it to every
 * live member in a WIRE_KEYRING frame: sealed like every frame, under the
 * pair's key and a network key both hold, so it comes from a member (the
 * AEAD proves the sender's identity key and its holding a network key) and
 * nobody else reads the key it carries.  Each member applies it and answers
 * (WIRE_KEYRING_A) with the fingerprints of the keys it then holds and
 * which one it seals under; the operator's node counts the answers to its
 * latest operation, so `list` says how many members hold each key.
 *
 * The rotation: install the new key everywhere (receivers accept frames
 * under any key they hold), check every member holds it, use it (senders
 * switch; receivers still take the old), check, remove the old.  Frames
 * are never refused on the way if each step reached every member first,
 * which is what the counts are for.  The primary key cannot be removed,
 * so a node always has a key to seal under.
 *
 * Operations are idempotent (install of a held key, remove of an absent
 * one change nothing), so a lost frame is mended by running it again.
 * Any member may run one: holding the network key is what membership is.
 */
#include <stdlib.h>

#include <sodium.h>

#include "core-internal.h"

/* A member's answer to the current operation. */
struct keyops_report {
	uint8_t pk[CHORUS_PK_BYTES];
	struct keyops_answer a;
};

static const char *const keyops_names[] = {
	[CORE_KEYRING_LIST] = "list",
	[CORE_KEYRING_INSTALL] = "install",
	[CORE_KEYRING_USE] = "use",
	[CORE_KEYRING_REMOVE] = "remove",
};
#define KEYOPS_NAMES (sizeof(keyops_names) / sizeof(keyops_names[0]))

void keyops_fingerprint(uint8_t fp[CHORUS_KEY_FP_BYTES], const uint8_t key[CHORUS_NETKEY_BYTES])
{
	static const char label[] = "chorus network key fingerprint";
	uint8_t h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), (const uint8_t *)label, sizeof(label), key,
	                   CHORUS_NETKEY_BYTES);
	memcpy(fp, h, CHORUS_KEY_FP_BYTES);
}

/* ---------------------------------------------------------------- codec */

int keyops_encode_msg(char *out, size_t cap, const struct keyops_msg *m)
{
	char key[2 * CHORUS_NETKEY_BYTES + 1];
	struct sb sb;

	assert(m->op >= 0 && (size_t)m->op < KEYOPS_NAMES);
	sb_init(&sb, out, cap);
	sb_printf(&sb, "{\"op\":\"%s\",\"n\":%llu", keyops_names[m->op], (unsigned long long)m->nonce);
	if (m->op != CORE_KEYRING_LIST) {
		codec_hex(key, m->key, CHORUS_NETKEY_BYTES);
		sb_printf(&sb, ",\"key\":\"%s\"", key);
		sodium_memzero(key, sizeof(key));
	}
	sb_puts(&sb, "}");
	return sb.overflow ? CORE_ERR_OVERSIZE : (int)sb.len;
}

int keyops_decode_msg(struct keyops_msg *m, const cJSON *body)
{
	const char *op, *key;

	memset(m, 0, sizeof(*m));
	if (codec_json_str(body, "op", 16, &op) != 0 ||
	    codec_json_u64(body, "n", CODEC_JSON_INT_MAX, &m->nonce) != 0 || m->nonce == 0)
		return CORE_ERR_MALFORMED;
	m->op = -1;
	for (size_t i = 0; i < KEYOPS_NAMES; i++)
		if (strcmp(op, keyops_names[i]) == 0)
			m->op = (int)i;
	if (m->op < 0)
		return CORE_ERR_MALFORMED;
	if (m->op == CORE_KEYRING_LIST)
		return cJSON_GetObjectItemCaseSensitive(body, "key") == NULL ? 0 : CORE_ERR_MALFORMED;
	if (codec_json_str(body, "key", 2 * CHORUS_NETKEY_BYTES, &key) != 0 ||
	    codec_unhex(m->key, CHORUS_NETKEY_BYTES, key) != 0 ||
	    sodium_is_zero(m->key, CHORUS_NETKEY_BYTES))
		return CORE_ERR_MALFORMED;
	return 0;
}

int keyops_encode_answer(char *out, size_t cap, const struct keyops_answer *a)
{
	char fp[2 * CHORUS_KEY_FP_BYTES + 1];
	struct sb sb;

	assert(a->n >= 1 && a->n <= CHORUS_KEYRING_MAX && a->primary < a->n);
	sb_init(&sb, out, cap);
	sb_printf(&sb, "{\"n\":%llu,\"p\":%u,\"keys\":[", (unsigned long long)a->nonce, a->primary);
	for (unsigned i = 0; i < a->n; i++) {
		codec_hex(fp, a->fp[i], CHORUS_KEY_FP_BYTES);
		sb_printf(&sb, "%s\"%s\"", i > 0 ? "," : "", fp);
	}
	sb_puts(&sb, "]");
	if (a->err[0] != '\0')
		sb_printf(&sb, ",\"e\":\"%s\"", a->err);
	sb_puts(&sb, "}");
	return sb.overflow ? CORE_ERR_OVERSIZE : (int)sb.len;
}

int keyops_decode_answer(struct keyops_answer *a, const cJSON *body)
{
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(body, "keys"), *k;
	uint64_t primary;
	const char *err;

	memset(a, 0, sizeof(*a));
	if (codec_json_u64(body, "n", CODEC_JSON_INT_MAX, &a->nonce) != 0 || a->nonce == 0 ||
	    codec_json_u64(body, "p", CHORUS_KEYRING_MAX - 1, &primary) != 0 || !cJSON_IsArray(keys))
		return CORE_ERR_MALFORMED;
	cJSON_ArrayForEach(k, keys) {
		if (a->n == CHORUS_KEYRING_MAX || !cJSON_IsString(k) ||
		    codec_unhex(a->fp[a->n], CHORUS_KEY_FP_BYTES, k->valuestring) != 0)
			return CORE_ERR_MALFORMED;
		a->n++;
	}
	if (a->n == 0 || primary >= a->n)
		return CORE_ERR_MALFORMED;
	a->primary = (unsigned)primary;
	if (cJSON_GetObjectItemCaseSensitive(body, "e") != NULL) {
		if (codec_json_str(body, "e", sizeof(a->err) - 1, &err) != 0 ||
		    !codec_valid_name(err, sizeof(a->err) - 1))
			return CORE_ERR_MALFORMED;
		strcpy(a->err, err);
	}
	return 0;
}

/* ---------------------------------------------------------------- the ring */

static long keyops_find(const struct core *core, const uint8_t key[CHORUS_NETKEY_BYTES])
{
	if (core->ring_open)
		return -1;
	for (unsigned i = 0; i < core->ring.n; i++)
		if (sodium_memcmp(core->ring.key[i], key, CHORUS_NETKEY_BYTES) == 0)
			return (long)i;
	return -1;
}

/* Drops key i (not the primary), keeping the arrays dense and the primary's index right. */
static void keyops_drop(struct core_keyring *ring, unsigned i)
{
	assert(i < ring->n && i != ring->primary && ring->n >= 2);
	for (unsigned j = i; j + 1 < ring->n; j++) {
		memcpy(ring->key[j], ring->key[j + 1], CHORUS_NETKEY_BYTES);
		memcpy(ring->admit[j], ring->admit[j + 1], CHORUS_NETKEY_BYTES);
		memcpy(ring->join[j], ring->join[j + 1], CHORUS_MAC_KEY_BYTES);
		ring->serial[j] = ring->serial[j + 1];
	}
	ring->n--;
	sodium_memzero(ring->key[ring->n], CHORUS_NETKEY_BYTES);
	sodium_memzero(ring->admit[ring->n], CHORUS_NETKEY_BYTES);
	sodium_memzero(ring->join[ring->n], CHORUS_MAC_KEY_BYTES);
	if (ring->primary > i)
		ring->primary--;
}

/*
 * Applies one operation to our ring: 1 when it changed, 0 when there was
 * nothing to do, or why not (*why: a word for the answer).
 */
static int keyops_apply(struct core *core, const struct keyops_msg *m, const char **why)
{
	struct core_keyring *ring = &core->ring;
	long i;

	*why = "";
	if (m->op == CORE_KEYRING_LIST)
		return 0;
	if (core->ring_open) {
		*why = "open";
		return CORE_ERR_INVAL;
	}
	i = keyops_find(core, m->key);
	switch (m->op) {
	case CORE_KEYRING_INSTALL:
		if (i >= 0)
			return 0;
		if (ring->n == CHORUS_KEYRING_MAX) {
			*why = "full";
			return CORE_ERR_FULL;
		}
		memcpy(ring->key[ring->n], m->key, CHORUS_NETKEY_BYTES);
		wire_netkey_derive(ring->key[ring->n], ring->admit[ring->n], ring->join[ring->n]);
		ring->serial[ring->n] = ++ring->next_serial;
		ring->n++;
		return 1;
	case CORE_KEYRING_USE:
		if (i < 0) {
			*why = "not-held";
			return CORE_ERR_INVAL;
		}
		if ((unsigned)i == ring->primary)
			return 0;
		ring->primary = (unsigned)i;
		return 1;
	case CORE_KEYRING_REMOVE:
		if (i < 0)
			return 0;
		if ((unsigned)i == ring->primary) {
			*why = "primary";
			return CORE_ERR_INVAL;
		}
		keyops_drop(ring, (unsigned)i);
		return 1;
	}
	assert(0);
	return CORE_ERR_INVAL;
}

static void keyops_changed(struct core *core, const struct keyops_msg *m, const char *by)
{
	uint8_t fp[CHORUS_KEY_FP_BYTES];
	char fphex[2 * CHORUS_KEY_FP_BYTES + 1];

	keyops_fingerprint(fp, m->key);
	codec_hex(fphex, fp, sizeof(fp));
	core_log(core, CORE_LOG_INFO, "keyring", "event=%s key=%s by=%s keys=%u", keyops_names[m->op],
	         fphex, by, core->ring.n);
	if (core->env.keyring_cb != NULL)
		core->env.keyring_cb(core->env.ctx);
}

static void keyops_answer_of(const struct core *core, struct keyops_answer *a, uint64_t nonce,
                             const char *why)
{
	memset(a, 0, sizeof(*a));
	a->nonce = nonce;
	a->n = core->ring.n;
	a->primary = core->ring.primary;
	for (unsigned i = 0; i < core->ring.n; i++)
		keyops_fingerprint(a->fp[i], core->ring.key[i]);
	snprintf(a->err, sizeof(a->err), "%s", why);
}

/* Sends the operation to every live member, CHORUS_BROADCAST_DIRECT at a time. */
static void keyops_send(struct core *core, const struct keyops_msg *m)
{
	const char *addrs[CHORUS_BROADCAST_DIRECT];
	const uint8_t *pks[CHORUS_BROADCAST_DIRECT];
	size_t sent = 0;
	int len = keyops_encode_msg(core->body, CHORUS_BODY_MAX, m);

	assert(len > 0);
	for (size_t k = 0; k < core->members.n; k++) {
		const struct member *mb = &core->members.v[k];

		if (memcmp(mb->pk, core->pk, CHORUS_PK_BYTES) == 0 ||
		    (mb->state != MEMBER_ALIVE && mb->state != MEMBER_SUSPECT))
			continue;
		pks[sent] = mb->pk;
		addrs[sent++] = mb->addr;
		if (sent == CHORUS_BROADCAST_DIRECT) {
			core_multicast(core, pks, addrs, sent, WIRE_KEYRING, core->body, (size_t)len);
			sent = 0;
		}
	}
	core_multicast(core, pks, addrs, sent, WIRE_KEYRING, core->body, (size_t)len);
	sodium_memzero(core->body, (size_t)len);
}

int core_keyring_op(struct core *core, int op, const uint8_t key[CHORUS_NETKEY_BYTES],
                    uint64_t now_ms)
{
	struct keyops_msg m;
	const char *why;
	int rc;

	core->now_ms = now_ms;
	if (op < 0 || (size_t)op >= KEYOPS_NAMES || (op != CORE_KEYRING_LIST && key == NULL) ||
	    (key != NULL && sodium_is_zero(key, CHORUS_NETKEY_BYTES)))
		return CORE_ERR_INVAL;
	memset(&m, 0, sizeof(m));
	m.op = op;
	if (op != CORE_KEYRING_LIST)
		memcpy(m.key, key, CHORUS_NETKEY_BYTES);
	if (core->ring_open)
		return CORE_ERR_INVAL;
	rc = keyops_apply(core, &m, &why);
	if (rc < 0) {
		sodium_memzero(&m, sizeof(m));
		return rc;
	}
	if (rc > 0)
		keyops_changed(core, &m, "self");
	/* A new operation: answers to the last one no longer count. */
	m.nonce = ((uint64_t)rng_next(&core->rng) >> 11) + 1;
	core->keyops.nonce = m.nonce;
	core->keyops.n = 0;
	keyops_send(core, &m);
	sodium_memzero(&m, sizeof(m));
	return 0;
}

void keyops_on_op(struct core *core, const struct wire_frame *f, const cJSON *body, uint64_t now_ms)
{
	struct keyops_answer a;
	struct keyops_msg m;
	const char *why;
	long i = members_find(&core->members, f->pk);
	int rc, len;

	(void)now_ms;
	if (i < 0 || keyops_decode_msg(&m, body) != 0) {
		core->stats.drop_malformed++;
		return; /* from a member only: the answer needs its address */
	}
	rc = keyops_apply(core, &m, &why);
	if (rc > 0) {
		char by[CHORUS_ID_HEX + 1], by_short[CHORUS_ID_SHORT + 1];

		codec_hex(by, f->pk, CHORUS_PK_BYTES);
		core_id_short(by, by_short);
		keyops_changed(core, &m, by_short);
	}
	keyops_answer_of(core, &a, m.nonce, why);
	sodium_memzero(&m, sizeof(m));
	len = keyops_encode_answer(core->body, CHORUS_BODY_MAX, &a);
	assert(len > 0);
	core_send(core, f->pk, core->members.v[i].addr, WIRE_KEYRING_A, core->body, (size_t)len);
}

void keyops_on_answer(struct core *core, const struct wire_frame *f, const cJSON *body,
                      uint64_t now_ms)
{
	struct keyops *ko = &core->keyops;
	struct keyops_answer a;
	size_t i;

	(void)now_ms;
	if (keyops_decode_answer(&a, body) != 0) {
		core->stats.drop_malformed++;
		return;
	}
	if (a.nonce != ko->nonce)
		return; /* an earlier operation's: late */
	for (i = 0; i < ko->n; i++)
		if (memcmp(ko->v[i].pk, f->pk, CHORUS_PK_BYTES) == 0)
			break;
	if (i == ko->n) {
		if (ko->n == CHORUS_MEMBERS_MAX)
			return;
		if (ko->n == ko->cap) {
			size_t cap = ko->cap == 0 ? 16 : 2 * ko->cap;
			struct keyops_report *v;

			cap = cap > CHORUS_MEMBERS_MAX ? CHORUS_MEMBERS_MAX : cap;
			if ((v = realloc(ko->v, cap * sizeof(*v))) == NULL)
				return;
			ko->v = v;
			ko->cap = cap;
		}
		memcpy(ko->v[ko->n++].pk, f->pk, CHORUS_PK_BYTES);
	}
	ko->v[i].a = a;
	assert(ko->n <= ko->cap && ko->cap <= CHORUS_MEMBERS_MAX);
}

void core_keyring_view(const struct core *core, struct core_keyring_view *out)
{
	const struct keyops *ko = &core->keyops;
	uint8_t fp[CHORUS_KEY_FP_BYTES];

	memset(out, 0, sizeof(*out));
	out->alive = (unsigned)core->members.counts[MEMBER_ALIVE];
	if (core->ring_open)
		return;
	out->n = core->ring.n;
	out->answered = 1 + (unsigned)ko->n;
	for (unsigned k = 0; k < core->ring.n; k++) {
		keyops_fingerprint(fp, core->ring.key[k]);
		codec_hex(out->keys[k].fp, fp, sizeof(fp));
		out->keys[k].primary = k == core->ring.primary;
		out->keys[k].holders = 1;
		out->keys[k].primaries = k == core->ring.primary;
		for (size_t r = 0; r < ko->n; r++) {
			const struct keyops_answer *a = &ko->v[r].a;

			for (unsigned j = 0; j < a->n; j++)
				if (memcmp(a->fp[j], fp, sizeof(fp)) == 0) {
					out->keys[k].holders++;
					out->keys[k].primaries += j == a->primary;
				}
		}
	}
	for (size_t r = 0; r < ko->n; r++)
		out->refused += ko->v[r].a.err[0] != '\0';
}

int core_keyring_export(const struct core *core, uint8_t keys[][CHORUS_NETKEY_BYTES], unsigned *n)
{
	unsigned k = 0;

	*n = 0;
	if (core->ring_open)
		return CORE_ERR_INVAL;
	memcpy(keys[k++], core->ring.key[core->ring.primary], CHORUS_NETKEY_BYTES);
	for (unsigned i = 0; i < core->ring.n; i++)
		if (i != core->ring.primary)
			memcpy(keys[k++], core->ring.key[i], CHORUS_NETKEY_BYTES);
	*n = k;
	return 0;
}

void keyops_free(struct core *core)
{
	free(core->keyops.v);
	memset(&core->keyops, 0, sizeof(core->keyops));
}

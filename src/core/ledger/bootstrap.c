/* bootstrap: forming the first voter set by agreement; rules in include/chorus/bootstrap.h. */
#include <sodium.h>
#include <string.h>

#include "chorus/bootstrap.h"
#include "base/base.h"

uint64_t bootstrap_set_hash(const uint64_t *ids, size_t n)
{
	static const char domain[] = "chorus voter set v1";
	uint8_t buf[sizeof domain + 8 * CHORUS_RAFT_VOTERS_MAX], h[8];

	if (n > CHORUS_RAFT_VOTERS_MAX)
		n = CHORUS_RAFT_VOTERS_MAX;
	memcpy(buf, domain, sizeof domain);
	for (size_t i = 0; i < n; i++)
		codec_put_u64(buf + sizeof domain + 8 * i, ids[i]);
	crypto_generichash(h, sizeof h, buf, sizeof domain + 8 * n, NULL, 0);
	return codec_get_u64(h);
}

/*
 * The set that booted with hash t, seen from here: every candidate carrying
 * t (proposing or booted), plus self when with_self.  1 when it has expect
 * members and hashes to t.
 */
static int bootstrap_known_set(const struct bootstrap_cand *c, size_t nc, uint64_t self,
                               unsigned expect, uint64_t t, int with_self, uint64_t *ids,
                               uint32_t *n)
{
	*n = 0;
	for (size_t i = 0; i < nc && *n < CHORUS_RAFT_VOTERS_MAX; i++)
		if ((c[i].id == self && with_self) || (c[i].id != self && c[i].kind != 0 && c[i].hash == t))
			ids[(*n)++] = c[i].id; /* ascending: c is */
	return *n == expect && bootstrap_set_hash(ids, *n) == t;
}

static int bootstrap_has(const uint64_t *ids, uint32_t n, uint64_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

enum bootstrap_action bootstrap_step(struct bootstrap_state *st, uint64_t self, unsigned expect,
                                     const struct bootstrap_cand *c, size_t nc,
                                     uint64_t ids[CHORUS_RAFT_VOTERS_MAX], uint32_t *n)
{
	int cluster = 0;
	uint64_t h;

	*n = 0;
	if (expect == 0 || expect > CHORUS_RAFT_VOTERS_MAX)
		return BOOTSTRAP_WAIT;
	for (size_t i = 0; i < nc; i++) {
		if (c[i].kind != 'b' || c[i].id == self)
			continue;
		cluster = 1;
		for (unsigned k = 0; k < BOOTSTRAP_PAST && k < st->npast; k++)
			if (st->past_hash[k] == c[i].hash) {
				*n = st->npast_ids[k];
				memcpy(ids, st->past[k], *n * sizeof ids[0]);
				return BOOTSTRAP_JOIN; /* it booted with our consent */
			}
		if (bootstrap_known_set(c, nc, self, expect, c[i].hash, 1, ids, n) &&
		    bootstrap_has(ids, *n, self))
			return BOOTSTRAP_JOIN;
		if (bootstrap_known_set(c, nc, self, expect, c[i].hash, 0, ids, n)) {
			*n = 0;
			return BOOTSTRAP_NONMEMBER;
		}
	}
	*n = 0;
	/* A cluster whose set we cannot rebuild (it changed, or members are out of sight). */
	st->cluster_seen = cluster ? st->cluster_seen + 1 : 0;
	if (st->cluster_seen >= BOOTSTRAP_CLUSTER_WAIT)
		return BOOTSTRAP_NONMEMBER;
	if (cluster || nc < expect)
		return BOOTSTRAP_WAIT;
	for (unsigned i = 0; i < expect; i++)
		ids[i] = c[i].id; /* the N smallest */
	*n = expect;
	if (!bootstrap_has(ids, *n, self)) {
		st->agreed = 0; /* not one of them: they boot, then we join as a non-member */
		*n = 0;
		return BOOTSTRAP_WAIT;
	}
	h = bootstrap_set_hash(ids, *n);
	if (st->kind != 'p' || st->hash != h) {
		unsigned k = st->npast++ % BOOTSTRAP_PAST;

		st->kind = 'p';
		st->hash = h;
		st->agreed = 0;
		memcpy(st->past[k], ids, *n * sizeof ids[0]);
		st->npast_ids[k] = *n;
		st->past_hash[k] = h;
		*n = 0;
		return BOOTSTRAP_PUBLISH;
	}
	for (unsigned i = 0; i < expect; i++)
		if (c[i].id != self && (c[i].kind != 'p' || c[i].hash != h)) {
			st->agreed = 0;
			*n = 0;
			return BOOTSTRAP_WAIT;
		}
	if (++st->agreed >= BOOTSTRAP_STABLE)
		return BOOTSTRAP_MEMBER;
	*n = 0;
	return BOOTSTRAP_WAIT;
}

const char *bootstrap_action_name(enum bootstrap_action a)
{
	static const char *const names[] = { "wait", "publish", "agreed", "joined-agreed-set",
		                             "cluster-exists" };

	return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "?";
}

/* Is id in ids[0..n)? */
static int bootstrap_listed(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

size_t bootstrap_keep_listed(struct bootstrap_cand *c, size_t nc, const uint64_t *listed,
                             size_t nlisted)
{
	size_t n = 0;

	if (nlisted == 0)
		return nc; /* no list: the first set forms among every announced candidate */
	for (size_t i = 0; i < nc; i++)
		if (bootstrap_listed(listed, nlisted, c[i].id))
			c[n++] = c[i];
	return n;
}

uint64_t bootstrap_voter_to_add(const uint64_t *conf, size_t nconf, const uint64_t *cands,
                                size_t ncands, const uint64_t *listed, size_t nlisted,
                                const uint64_t *removed, size_t nremoved)
{
	if (nconf >= CHORUS_RAFT_VOTERS_MAX)
		return 0;
	for (size_t i = 0; i < ncands; i++)
		if (cands[i] != 0 && bootstrap_listed(listed, nlisted, cands[i]) &&
		    !bootstrap_listed(conf, nconf, cands[i]) && !bootstrap_listed(removed, nremoved, cands[i]))
			return cands[i];
	return 0; /* an announced role alone never makes a voter */
}

/*
 * where: job constraints (submit --where KEY=VALUE,...) against node tags
 * (chorusd --tag KEY=VALUE, in the signed record).  A job may run only on a
 * worker whose record has every pair; the client checks each offer against
 * the offerer's record, the worker checks the signed request against its
 * own tags (defence in depth: neither side trusts the other to filter), and
 * a job that no alive member meets fails at once, saying what the members
 * that run the kind have instead.  Pure functions of the member table.
 */
#include "dispatch/dispatch-internal.h"

/* The record member i carries (ours is core->self, always current). */
static int where_record(const struct core *core, long i, struct record *r)
{
	const struct member *m = &core->members.v[i];

	assert(i >= 0 && (size_t)i < core->members.n);
	if (memcmp(m->pk, core->pk, CHORUS_PK_BYTES) == 0) {
		*r = core->self;
		return 0;
	}
	return record_decode(r, m->text, m->text_len);
}

int where_member_meets(const struct core *core, const uint8_t pk[CHORUS_PK_BYTES],
                       const struct chorus_tag *where, unsigned nwhere)
{
	long i;
	struct record r;

	if (nwhere == 0)
		return 1;
	i = members_find(&core->members, pk);
	if (i < 0 || where_record(core, i, &r) < 0)
		return 0; /* no record, no tags: it cannot be shown to meet it */
	return core_tags_match(&r, where, nwhere);
}

static int where_runs(const struct core *core, const struct record *r, const char *kind)
{
	if (memcmp(r->pk, core->pk, CHORUS_PK_BYTES) == 0)
		return work_runs_kind(core, kind);
	for (unsigned c = 0; c < r->ncaps; c++)
		if (strcmp(r->caps[c], kind) == 0)
			return 1;
	return 0;
}

/* " gpu=t4 zone=eu" or "no gpu": what record r has for the constraint's keys. */
static void where_describe(struct sb *sb, const struct record *r, const struct chorus_tag *where,
                           unsigned nwhere)
{
	for (unsigned i = 0; i < nwhere; i++) {
		unsigned k = 0;

		while (k < r->ntags && strcmp(r->tags[k].key, where[i].key) != 0)
			k++;
		if (k < r->ntags)
			sb_printf(sb, "%s%s=%s", i ? " " : "", where[i].key, r->tags[k].value);
		else
			sb_printf(sb, "%sno %s", i ? " " : "", where[i].key);
	}
}

unsigned where_eligible(const struct core *core, const char *kind, const struct chorus_tag *where,
                        unsigned nwhere, char *why, size_t cap)
{
	char list[CHORUS_JOB_REASON_MAX];
	unsigned runners = 0, met = 0;
	struct sb sb, out;
	struct record r;

	assert(nwhere <= CHORUS_NODE_TAGS_MAX && cap > 0);
	sb_init(&sb, list, sizeof(list));
	for (size_t i = 0; i < core->members.n; i++) {
		if (core->members.v[i].state != MEMBER_ALIVE || where_record(core, (long)i, &r) < 0 ||
		    !where_runs(core, &r, kind))
			continue;
		if (core_tags_match(&r, where, nwhere)) {
			met++;
			continue;
		}
		if (runners++ < 4) { /* a few examples say enough; the count says the rest */
			sb_puts(&sb, runners > 1 ? ", " : "");
			where_describe(&sb, &r, where, nwhere);
		} else if (runners == 5) {
			sb_puts(&sb, ", ...");
		}
	}
	sb_init(&out, why, cap);
	sb_printf(&out, "no alive worker runs %s with ", kind);
	for (unsigned i = 0; i < nwhere; i++)
		sb_printf(&out, "%s%s=%s", i ? "," : "", where[i].key, where[i].value);
	if (runners > 0)
		sb_printf(&out, " (%u run %s: %.*s)", runners, kind, (int)sb.len, list);
	else
		sb_printf(&out, " (none runs %s)", kind);
	if (out.overflow)
		why[cap - 1] = '\0';
	return met;
}

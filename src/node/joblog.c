/*
 * joblog: the client's store of its jobs' live output (docs/dispatch.md,
 * "Live output").  The core decides which chunks to keep (src/core/dispatch/output.c)
 * and hands them over in order; this only keeps the bytes, in memory, for
 * GET /v1/jobs/ID/logs.  No protocol decision is made here.
 *
 * Bounds: each stream of a job keeps at most CHORUS_OUTPUT_JOB_MAX bytes
 * (more is counted as dropped); at most CHORUS_OUTPUT_JOBS_KEPT jobs and
 * CHORUS_OUTPUT_KEPT_MAX bytes in all are kept, the oldest job's output
 * going first.  Nothing survives a restart of the node.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

struct joblog_stream {
	uint8_t *buf;
	size_t len, cap;
	uint64_t dropped;
	int ended;
};

struct joblog_entry {
	struct joblog_entry *newer, *older;
	char id[CHORUS_JOB_ID_HEX + 1];
	unsigned attempt;
	struct joblog_stream s[2];
};

struct joblog {
	struct joblog_entry *newest, *oldest;
	size_t n;
	size_t bytes;       /* kept in all (capacity of the buffers) */
	uint64_t evicted;   /* jobs whose output was dropped for newer ones */
};

int joblog_create(struct joblog **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? 0 : -ENOMEM;
}

static void joblog_unlink(struct joblog *jl, struct joblog_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		jl->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		jl->oldest = e->newer;
	for (int k = 0; k < 2; k++) {
		jl->bytes -= e->s[k].cap;
		free(e->s[k].buf);
	}
	jl->n--;
	free(e);
}

void joblog_destroy(struct joblog *jl)
{
	if (jl == NULL)
		return;
	while (jl->newest != NULL)
		joblog_unlink(jl, jl->newest);
	free(jl);
}

static struct joblog_entry *joblog_find(const struct joblog *jl, const char *id)
{
	for (struct joblog_entry *e = jl->newest; e != NULL; e = e->older)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

/* Room for one more job, or for `more` bytes: the oldest others go. */
static void joblog_evict(struct joblog *jl, const struct joblog_entry *keep, size_t more)
{
	while (jl->oldest != NULL && jl->oldest != keep &&
	       (jl->n > CHORUS_OUTPUT_JOBS_KEPT || jl->bytes + more > CHORUS_OUTPUT_KEPT_MAX)) {
		joblog_unlink(jl, jl->oldest);
		jl->evicted++;
	}
}

static struct joblog_entry *joblog_entry_get(struct joblog *jl, const char *id)
{
	struct joblog_entry *e = joblog_find(jl, id);

	if (e != NULL)
		return e;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	snprintf(e->id, sizeof e->id, "%s", id);
	e->older = jl->newest;
	if (jl->newest != NULL)
		jl->newest->newer = e;
	else
		jl->oldest = e;
	jl->newest = e;
	jl->n++;
	joblog_evict(jl, e, 0);
	return e;
}

/* Appends what fits the stream's bound; the rest is counted as dropped. */
static int joblog_append(struct joblog *jl, struct joblog_entry *e, unsigned k, const uint8_t *data,
                         size_t len)
{
	struct joblog_stream *st = &e->s[k];
	size_t keep = len < CHORUS_OUTPUT_JOB_MAX - st->len ? len : CHORUS_OUTPUT_JOB_MAX - st->len;

	st->dropped += len - keep;
	if (keep == 0)
		return 0;
	if (st->len + keep > st->cap) {
		size_t cap = st->cap > 0 ? st->cap : 4096;
		uint8_t *grown;

		while (cap < st->len + keep)
			cap *= 2;
		if (cap > CHORUS_OUTPUT_JOB_MAX)
			cap = CHORUS_OUTPUT_JOB_MAX;
		joblog_evict(jl, e, cap - st->cap);
		if ((grown = realloc(st->buf, cap)) == NULL) {
			st->dropped += keep;
			return -ENOMEM;
		}
		jl->bytes += cap - st->cap;
		st->buf = grown;
		st->cap = cap;
	}
	memcpy(st->buf + st->len, data, keep);
	st->len += keep;
	return 0;
}

int joblog_add(struct joblog *jl, const struct job_output *o)
{
	static const char marker[] = "[chorus: the job runs again (attempt %u); its output follows]\n";
	char line[sizeof marker + 16];
	struct joblog_entry *e;
	int n;

	if (o->stream > 1 || (e = joblog_entry_get(jl, o->job_id)) == NULL)
		return -ENOMEM;
	if (e->attempt != 0 && o->fresh) {
		/* Another attempt's output follows the last one's: said where stderr shows it. */
		n = snprintf(line, sizeof line, marker, o->attempt);
		(void)joblog_append(jl, e, 1, (const uint8_t *)line, (size_t)n);
		e->s[0].ended = e->s[1].ended = 0;
	}
	e->attempt = o->attempt;
	e->s[o->stream].dropped += o->dropped;
	e->s[o->stream].ended = o->end;
	return joblog_append(jl, e, o->stream, o->data, o->len);
}

int joblog_get(const struct joblog *jl, const char *id, struct joblog_view *v)
{
	const struct joblog_entry *e = joblog_find(jl, id);

	memset(v, 0, sizeof(*v));
	if (e == NULL)
		return -ENOENT;
	v->attempt = e->attempt;
	for (int k = 0; k < 2; k++) {
		v->data[k] = e->s[k].buf;
		v->len[k] = e->s[k].len;
		v->dropped[k] = e->s[k].dropped;
		v->ended[k] = e->s[k].ended;
	}
	return 0;
}

uint64_t joblog_evicted(const struct joblog *jl)
{
	return jl->evicted;
}

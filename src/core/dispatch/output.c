/*
 * output: the client's side of live output (docs/dispatch.md, "Live output").
 *
 * A worker streams a running job's stdout and stderr as WIRE_OUTPUT chunks,
 * each naming its attempt and its offset in its stream.  This decides which
 * chunks the client keeps, and the driver stores what it is handed
 * (env.output_cb): nothing here reads or writes the output itself.
 *
 * Kept: a chunk of the job's current attempt, from that attempt's worker,
 * at or past the next offset due in its stream.  A gap before it (a chunk
 * lost on the way) and, on a stream's last chunk, the bytes the worker never
 * sent (past CHORUS_OUTPUT_JOB_MAX) are counted as dropped and reported with
 * it.  Dropped and counted: malformed chunks; chunks of a job not in flight,
 * of another attempt, or from another node (stale or forged); chunks before
 * the next offset due (duplicates, or late after a newer one).  Memory is
 * two offsets per job: no reassembly, so nothing grows with disorder.
 *
 * Invariant: per job and stream, the offsets handed to the driver strictly
 * grow within one run; a new attempt on another worker starts both streams
 * at zero (the driver is told: `fresh`).
 */
#include <stdio.h>

#include "dispatch/dispatch-internal.h"

_Static_assert(CHORUS_OUTPUT_CHUNK_MAX <= CHORUS_RESULT_MAX, "a chunk is decoded into the scratch");

static void output_drop(struct core *core, const char *why)
{
	core->stats.output_dropped++;
	core_log(core, CORE_LOG_DEBUG, "job", "event=drop reason=%s", why);
}

void output_on_chunk(struct core *core, const struct wire_frame *f, const cJSON *body,
                     uint64_t now_ms)
{
	struct job_output v;
	struct joutput o;
	struct cjob *j;
	uint64_t next;
	int fresh = 0;

	(void)now_ms;
	if (jobmsg_output_decode(&o, body, core->dispatch.scratch) < 0) {
		core->stats.drop_malformed++;
		output_drop(core, "malformed-output");
		return;
	}
	j = dispatch_job_of_attempt(core, o.id, o.attempt, f->pk);
	if (j == NULL) {
		output_drop(core, "stale-output"); /* not the current attempt's worker, or not in flight */
		return;
	}
	if (j->out_attempt != o.attempt) {
		/*
		 * A new attempt on another worker is a new run: its streams start
		 * afresh.  The same worker again (the client failed over to it) is
		 * the same run -- a worker runs a job once -- whose offsets go on.
		 */
		fresh = j->out_attempt == 0 ||
		        memcmp(j->attempt_worker[j->out_attempt - 1], f->pk, CHORUS_PK_BYTES) != 0;
		j->out_attempt = o.attempt;
		if (fresh)
			j->out_next[0] = j->out_next[1] = 0;
	}
	next = j->out_next[o.stream];
	if (o.off < next || (o.off == next && o.len == 0 && !o.has_end)) {
		output_drop(core, "duplicate-output");
		return;
	}
	memset(&v, 0, sizeof(v));
	strcpy(v.job_id, j->idhex);
	v.attempt = o.attempt;
	v.stream = o.stream;
	v.data = o.data;
	v.len = o.len;
	v.dropped = (o.off - next) + (o.has_end ? o.end - (o.off + o.len) : 0);
	v.end = o.has_end;
	v.fresh = fresh;
	/* After a stream's end nothing more of it is taken: its next offset is past any chunk. */
	j->out_next[o.stream] = o.has_end ? UINT64_MAX : o.off + o.len;
	assert(j->out_next[o.stream] > next);
	core->stats.output_received++;
	if (core->env.output_cb != NULL)
		core->env.output_cb(core->env.ctx, &v);
}

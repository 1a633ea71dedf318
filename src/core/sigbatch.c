/*
 * sigbatch: the texts this node signs in one turn of its driver's loop --
 * completion acks (a client) and receipts (a worker) -- signed together
 * with one signature over a Merkle root (batchsig.h, docs/merkle.md).
 *
 * A protocol that has a text to sign hands it over with a callback; the
 * core asks its driver for a flush (env.flush_cb) when the first text
 * arrives, and the driver calls core_flush() at the end of the turn: every
 * text waiting gets its authenticator, and each callback sends its message
 * in the order the texts came.  Nothing is signed later than the turn that
 * made it, so batching adds no latency.  A driver without flush_cb gets
 * each text signed at once, as a batch of one (the same format).
 *
 * Invariants: at most CHORUS_SIGBATCH_MAX texts wait (a full batch is
 * signed at once); every text added is signed and its callback called
 * exactly once, by core_flush() or core_destroy() (which drops them: a
 * node going away sends nothing).
 */
#include <stdlib.h>

#include "core-internal.h"

struct sigbatch_item {
	const char *text;
	size_t len;
	sigbatch_cb *cb;
	void *arg;
};

struct sigbatch {
	struct sigbatch_item item[CHORUS_SIGBATCH_MAX];
	const char *texts[CHORUS_SIGBATCH_MAX];
	size_t lens[CHORUS_SIGBATCH_MAX];
	struct batchsig auth[CHORUS_SIGBATCH_MAX];
	size_t n;
	uint64_t batches, signed_texts; /* for stats and tests */
};

void sigbatch_free(struct core *core)
{
	struct sigbatch *b = core->sigbatch;

	/* Texts still waiting are dropped with the node: their callbacks free what they own. */
	for (size_t i = 0; b != NULL && i < b->n; i++)
		b->item[i].cb(core, b->item[i].arg, NULL);
	free(b);
	core->sigbatch = NULL;
}

int sigbatch_add(struct core *core, const char *text, size_t len, sigbatch_cb *cb, void *arg)
{
	struct sigbatch *b = core->sigbatch;
	struct batchsig one;

	assert(text != NULL && len > 0 && cb != NULL);
	if (core->env.flush_cb == NULL) {
		batchsig_sign_one(core->crypto, core->sk, text, len, &one); /* cannot fail */
		cb(core, arg, &one);
		return 0;
	}
	if (b == NULL && (b = core->sigbatch = calloc(1, sizeof(*b))) == NULL)
		return CORE_ERR_NOMEM; /* the caller signs it alone */
	if (b->n == CHORUS_SIGBATCH_MAX) { /* added by a callback of a full batch's flush */
		batchsig_sign_one(core->crypto, core->sk, text, len, &one);
		cb(core, arg, &one);
		return 0;
	}
	b->item[b->n].text = text;
	b->item[b->n].len = len;
	b->item[b->n].cb = cb;
	b->item[b->n].arg = arg;
	if (b->n++ == 0)
		core->env.flush_cb(core->env.ctx);
	if (b->n == CHORUS_SIGBATCH_MAX)
		core_flush(core, core->now_ms); /* full: this batch now, the turn's rest in the next */
	return 0;
}

void core_flush(struct core *core, uint64_t now_ms)
{
	struct sigbatch *b = core->sigbatch;
	size_t n;

	(void)now_ms;
	if (b == NULL || b->n == 0)
		return;
	n = b->n;
	for (size_t i = 0; i < n; i++) {
		b->texts[i] = b->item[i].text;
		b->lens[i] = b->item[i].len;
	}
	if (batchsig_sign(core->crypto, core->sk, b->texts, b->lens, n, b->auth) != 0) {
		/* No memory for the tree: each alone (a batch of one allocates nothing). */
		for (size_t i = 0; i < n; i++)
			batchsig_sign_one(core->crypto, core->sk, b->texts[i], b->lens[i], &b->auth[i]);
	}
	b->batches++;
	b->signed_texts += n;
	core->stats.sign_batches++;
	core->stats.sign_texts += n;
	/*
	 * The callbacks send; one may add a text (it waits for the next flush,
	 * asked for below), so the batch signed here is taken out first.
	 */
	for (size_t i = 0; i < n; i++) {
		struct sigbatch_item it = b->item[i];
		struct batchsig auth = b->auth[i];

		it.cb(core, it.arg, &auth);
	}
	assert(b->n >= n);
	memmove(b->item, b->item + n, (b->n - n) * sizeof(b->item[0]));
	b->n -= n;
	if (b->n > 0)
		core->env.flush_cb(core->env.ctx);
}

size_t sigbatch_waiting(const struct core *core)
{
	return core->sigbatch != NULL ? core->sigbatch->n : 0;
}

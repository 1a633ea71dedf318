/*
 * lread: ledger reads for nodes that hold no ledger (docs/ledger-node.md,
 * "Reads on a node without the ledger").  lread-msg.c: the bytes of the two
 * messages, pure (no I/O, no state: tests/unit/test-lread fuzzes them);
 * ledger-read.c: the asking side (an HTTP request held until a voter
 * answers) and the answering side (a voter answers from its own ledger).
 *
 * Both ride in CORE_APP_LEDGER frames, after lmsg.h's kinds (1, 2) and the
 * catch-up's (3, 4), with room between for the voter's own.  Big-endian:
 *   request  kind 0x21, version, request id u64, op u8, from u64, limit u16,
 *            job id (16; zero unless op JOB)                   (LREAD_REQ_BYTES)
 *   answer   kind 0x22, version, request id u64, op u8, code u8, the
 *            answerer's Raft term u64 and leader u64, its ledger height
 *            u64, total u64 (BALANCES: its accounts), n u16, then
 *            n x (length u32, bytes): STATUS, JOB one JSON text; BLOCKS the
 *            raw blocks from, from + 1, ...; BALANCES n accounts of
 *            LREAD_ACCOUNT_BYTES from index `from`.
 * A decoder checks kind, version, op, code, every length against what is
 * left and the bounds, and refuses trailing bytes.
 */
#ifndef CHORUS_NODE_LREAD_H
#define CHORUS_NODE_LREAD_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/ledger.h"
#include "chorus/limits.h"

#define LREAD_MSG_REQ       0x21
#define LREAD_MSG_ANS       0x22
#define LREAD_VERSION       1
enum lread_op { LREAD_STATUS = 1, LREAD_BLOCKS = 2, LREAD_JOB = 3, LREAD_BALANCES = 4 };
enum lread_code {
	LREAD_OK = 0,
	LREAD_NOT_FOUND = 1, /* JOB: not final in this voter's ledger */
	LREAD_NO_LEDGER = 2, /* the asked node holds none (it is no voter, or catching up): ask another */
	LREAD_BAD = 3,       /* the request made no sense (from beyond the height, ...) */
};
#define LREAD_REQ_BYTES     (2 + 8 + 1 + 8 + 2 + CHORUS_JOB_ID_BYTES)
#define LREAD_ANS_HEADER    (2 + 8 + 1 + 1 + 8 + 8 + 8 + 8 + 2)
#define LREAD_ITEMS_MAX     1024 /* items in one answer */
#define LREAD_ACCOUNT_BYTES (CHORUS_PK_BYTES + 4 * 8)
#define LREAD_JSON_MAX      (32 * 1024) /* a STATUS or JOB answer's text */
#define LREAD_ACCOUNTS_PAGE ((CHORUS_BODY_MAX - LREAD_ANS_HEADER) / (4 + LREAD_ACCOUNT_BYTES))
_Static_assert(LREAD_ANS_HEADER + 4 + CHORUS_RAFT_ENTRY_MAX <= CHORUS_BODY_MAX,
               "an answer carries at least one block of any size");
_Static_assert(LREAD_ANS_HEADER + 4 + LREAD_JSON_MAX <= CHORUS_BODY_MAX, "a JSON answer fits a frame");
_Static_assert(LREAD_ACCOUNTS_PAGE >= 1 && LREAD_ACCOUNTS_PAGE <= LREAD_ITEMS_MAX,
               "a balances page carries accounts");

struct lread_req {
	uint64_t req_id;
	uint8_t op;
	uint64_t from;   /* BLOCKS: the first height; BALANCES: the first account index */
	uint16_t limit;  /* BLOCKS, BALANCES: at most this many (1..LREAD_ITEMS_MAX) */
	uint8_t job[CHORUS_JOB_ID_BYTES];
};

struct lread_ans {
	uint64_t req_id;
	uint8_t op, code;
	uint64_t term, leader, height, total;
	uint16_t n;
	const uint8_t *item[LREAD_ITEMS_MAX]; /* into the body */
	uint32_t len[LREAD_ITEMS_MAX];
};

int lread_req_encode(const struct lread_req *q, uint8_t *out, size_t cap);
int lread_req_decode(struct lread_req *q, const uint8_t *buf, size_t len);
/* An answer's header (n = 0) at out; then lread_ans_add per item, updating n in place. */
int lread_ans_begin(uint8_t *out, size_t cap, const struct lread_ans *a);
/* 0, or -ENOSPC when the item does not fit in cap (the answer stays as it was). */
int lread_ans_add(uint8_t *out, size_t cap, size_t *len, const uint8_t *item, size_t ilen);
int lread_ans_decode(struct lread_ans *a, const uint8_t *buf, size_t len);

/* ledger-read.c: the node's side.  Bounds: */
#define LREAD_INFLIGHT_MAX  32   /* HTTP requests held for a voter's answer at once */
#define LREAD_ATTEMPT_MS    400  /* one voter's time to answer before the next is asked */
#define LREAD_DEADLINE_MS   1500 /* then the read fails: 503, "no voter answered" */
#define LREAD_PAGES_MAX     64   /* BALANCES: answers assembled into one reply */
#define LREAD_RESTARTS_MAX  3    /* BALANCES: the ledger moved between pages: start again */
_Static_assert(LREAD_ATTEMPT_MS < LREAD_DEADLINE_MS, "a read may ask more than one voter");

struct node;
struct voterd;
struct core_env;
struct evhttp_request;
typedef struct cJSON cJSON;
struct lread;
struct lread_stats {
	uint64_t started, answered, failed, busy; /* reads asked of voters, by outcome */
	uint64_t dropped;                         /* answers malformed, forged, stale or oversized */
	uint64_t served;                          /* reads this node answered (as a voter) */
};
int lread_create(struct lread **out, struct node *node);
void lread_destroy(struct lread *lr);
/* Chains our app callback in front of env's (voterd_env first): it takes kinds 0x21, 0x22. */
void lread_env(struct core_env *env);
/* 1 when this node answers ledger reads from its own ledger (a voter of its configuration, caught up). */
int lread_holds(const struct voterd *cs);
/* Hold req until a voter answers op (local: STATUS's node-side doc, taken); answered in every case. */
void lread_start(struct lread *lr, struct evhttp_request *req, const struct lread_req *q,
                 cJSON *local);
void lread_stats(const struct lread *lr, struct lread_stats *out);
/* The one leader this node shows (0: none), and its term (0: unknown); readpick_leader. */
uint64_t lread_leader(const struct lread *lr, uint64_t *term);

/* api-ledger.c: the documents a voter answers with, shared with its own API */
cJSON *api_ledger_status_json(struct voterd *cs);
cJSON *api_ledger_job_json(const char *id, const struct ledger_job *lj, int held);
cJSON *api_ledger_block_json(const uint8_t *data, size_t len);

#endif

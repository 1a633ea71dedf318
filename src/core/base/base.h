/*
 * base: what every protocol of the core builds on (rng.c, codec.c,
 * crypto.c): a seedable generator, a bounded string builder, hex, integers
 * and JSON fields.  Knows nothing of frames, members, jobs or Raft.
 */
#ifndef CHORUS_CORE_BASE_H
#define CHORUS_CORE_BASE_H

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "chorus/core.h"

/* ---------------------------------------------------------------- rng.c */
/* xoshiro256**: fast, seedable, identical on every platform. */
struct rng {
	uint64_t s[4];
};
void rng_seed(struct rng *rng, uint64_t seed);
uint64_t rng_next(struct rng *rng);
uint32_t rng_below(struct rng *rng, uint32_t n); /* uniform in [0, n), n > 0 */

/* ---------------------------------------------------------------- sb.c */
/* A bounded string builder; overflow is sticky and checked once at the end. */
struct sb {
	char *buf;
	size_t len;
	size_t cap;
	int overflow;
};
void sb_init(struct sb *sb, char *buf, size_t cap);
void sb_putn(struct sb *sb, const char *s, size_t n);
void sb_puts(struct sb *sb, const char *s);
void sb_printf(struct sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_str(struct sb *sb, const char *s, size_t n); /* quoted and escaped */

/* ---------------------------------------------------------------- seen.c */
/* The seen-cache: recent frame tags (MACs or signatures), to drop replays. */
struct seen {
	uint64_t ring[CHORUS_SEEN_MAX];
	size_t head;
	size_t n;
	uint32_t slots[2 * CHORUS_SEEN_MAX]; /* ring index + 1 */
};
void seen_init(struct seen *s); /* a zeroed struct seen is already empty */
/* 1 if key was already there; otherwise remembers it (evicting the oldest). */
int seen_check_insert(struct seen *s, uint64_t key);

/* ---------------------------------------------------------------- codec.c */
void codec_hex(char *out, const uint8_t *in, size_t len); /* out holds 2 * len + 1 */
int codec_unhex(uint8_t *out, size_t len, const char *in); /* exactly 2 * len digits */
int codec_valid_name(const char *s, size_t max);           /* [A-Za-z0-9._-]{1,max} */
int codec_valid_addr(const char *s);                       /* scheme://rest, printable */
void codec_put_u32(uint8_t *p, uint32_t v);
void codec_put_u64(uint8_t *p, uint64_t v);
uint32_t codec_get_u32(const uint8_t *p);
/*
 * One load and a byte swap rather than eight shifts: the member index
 * hashes and compares keys by their first 8 bytes on every lookup, and the
 * loop was 7% of a simulator profile; inline, as the call itself cost 6%.
 */
static inline uint64_t codec_get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#elif !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
#error "unknown byte order"
#endif
	return v;
}

/*
 * While one frame is handled, cJSON allocates from a bump arena that is
 * reset when the frame is done: parsing a 64 KiB gossip frame makes
 * thousands of small allocations, and malloc was the simulator's hottest
 * function.  Not reentrant: the core is single-threaded by design.
 */
void codec_arena_begin(void);
void codec_arena_end(void);

/* cJSON accessors that check type and range; 0 or CORE_ERR_MALFORMED. */
#define CODEC_JSON_INT_MAX ((uint64_t)1 << 53)
int codec_json_u64(const cJSON *obj, const char *key, uint64_t max, uint64_t *out);
int codec_json_str(const cJSON *obj, const char *key, size_t max, const char **out);
int codec_json_pk(const cJSON *obj, const char *key, uint8_t pk[CHORUS_PK_BYTES]);
/* A record digest "<16 hex id prefix>:<start_ms>:<inc>" (rumors.c); 0 or an error. */
int codec_parse_digest(const char *s, uint64_t *prefix, uint64_t *start_ms, uint64_t *inc);

#endif

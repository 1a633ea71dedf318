/*
 * fabric-batch: the envelope that carries several frames in one nng message.
 *
 * The fabric gathers the frames a node sends to one peer during one turn of
 * the event loop and sends them as one message, so that nng's threads wake
 * once per batch instead of once per frame.  Layout (integers big-endian):
 *
 *	u8  magic    FABRIC_BATCH_MAGIC (0xCB; a bare frame starts with 'C')
 *	u8  version  FABRIC_BATCH_VERSION
 *	u16 count    1..FABRIC_BATCH_FRAMES_MAX
 *	count times: u32 length (1..CHORUS_FRAME_MAX), then that many frame bytes
 *
 * and nothing after the last frame; the whole is at most FABRIC_BATCH_MAX.
 * Pure functions, no allocation, no I/O: the decoder checks everything
 * before it returns any frame, so a malformed envelope yields no frame at
 * all.  Bump FABRIC_BATCH_VERSION if this layout changes.
 */
#ifndef CHORUS_FABRIC_BATCH_H
#define CHORUS_FABRIC_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "chorus/limits.h"

#define FABRIC_BATCH_MAGIC      0xCB
#define FABRIC_BATCH_VERSION    1
#define FABRIC_BATCH_HEADER     4             /* magic, version, count */
#define FABRIC_BATCH_ENTRY      4             /* the length before each frame */
#define FABRIC_BATCH_MAX        (128 * 1024)  /* one envelope; the inbox's NNG_OPT_RECVMAXSZ */
#define FABRIC_BATCH_FRAMES_MAX 1024          /* frames in one envelope */

_Static_assert(FABRIC_BATCH_HEADER + FABRIC_BATCH_ENTRY + CHORUS_FRAME_MAX <= FABRIC_BATCH_MAX,
               "an envelope holds the largest frame");
_Static_assert(FABRIC_BATCH_FRAMES_MAX >= 1 && FABRIC_BATCH_FRAMES_MAX <= 0xffff,
               "the count is a u16");
_Static_assert(FABRIC_BATCH_MAGIC != 'C', "an envelope is never mistaken for a bare frame");

enum fabric_batch_error {
	FABRIC_BATCH_ESHORT = -1,    /* shorter than the header */
	FABRIC_BATCH_EMAGIC = -2,    /* not an envelope */
	FABRIC_BATCH_EVERSION = -3,  /* an envelope version we do not speak */
	FABRIC_BATCH_ECOUNT = -4,    /* count 0, over the bound, or over the caller's room */
	FABRIC_BATCH_ETRUNC = -5,    /* a length or a frame runs past the end */
	FABRIC_BATCH_EFRAME = -6,    /* a frame length of 0 or over CHORUS_FRAME_MAX */
	FABRIC_BATCH_ETRAILING = -7, /* bytes after the last frame */
	FABRIC_BATCH_ESIZE = -8,     /* the envelope is over FABRIC_BATCH_MAX */
	FABRIC_BATCH_EFULL = -9,     /* encoder: no room for this frame, send the batch first */
};

struct fabric_batch_frame {
	const uint8_t *frame;
	size_t len;
};

const char *fabric_batch_strerror(int err);
/* Whether a message claims to be an envelope (its first byte); otherwise a bare frame. */
int fabric_batch_is(const uint8_t *buf, size_t len);
/* Writes an empty envelope's header into buf; returns the bytes used. */
size_t fabric_batch_begin(uint8_t *buf, size_t cap);
/* The envelope's size once a frame of len (<= CHORUS_FRAME_MAX) bytes is added to used. */
size_t fabric_batch_need(size_t used, size_t len);
/* Appends a frame: 0, FABRIC_BATCH_EFRAME (bad length) or FABRIC_BATCH_EFULL. */
int fabric_batch_add(uint8_t *buf, size_t cap, size_t *used, const uint8_t *frame, size_t len);
unsigned fabric_batch_count(const uint8_t *buf, size_t used);
/* The frames of an envelope, pointing into buf: their count (>= 1) or an error. */
int fabric_batch_decode(const uint8_t *buf, size_t len, struct fabric_batch_frame *out,
                        size_t out_max);

#endif

/*
 * fabric-batch: encode and decode the fabric's batch envelope (layout and
 * bounds in fabric-batch.h).
 *
 * The decoder is the only code that reads an envelope from the network: it
 * trusts no byte.  Every length is checked against what is left before it is
 * used, the count against its bound and against the frames actually present,
 * and the envelope must end exactly after its last frame.  It allocates
 * nothing: the frames it returns point into the caller's buffer.
 */
#include <assert.h>
#include <string.h>

#include "fabric-batch.h"

static uint32_t
fabric_batch_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
fabric_batch_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

const char *
fabric_batch_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case FABRIC_BATCH_ESHORT: return "shorter than an envelope header";
	case FABRIC_BATCH_EMAGIC: return "not an envelope";
	case FABRIC_BATCH_EVERSION: return "unknown envelope version";
	case FABRIC_BATCH_ECOUNT: return "bad frame count";
	case FABRIC_BATCH_ETRUNC: return "truncated frame";
	case FABRIC_BATCH_EFRAME: return "bad frame length";
	case FABRIC_BATCH_ETRAILING: return "bytes after the last frame";
	case FABRIC_BATCH_ESIZE: return "envelope too large";
	case FABRIC_BATCH_EFULL: return "envelope full";
	default: return "unknown error";
	}
}

int
fabric_batch_is(const uint8_t *buf, size_t len)
{
	return len >= 1 && buf[0] == FABRIC_BATCH_MAGIC;
}

size_t
fabric_batch_begin(uint8_t *buf, size_t cap)
{
	assert(cap >= FABRIC_BATCH_HEADER);
	buf[0] = FABRIC_BATCH_MAGIC;
	buf[1] = FABRIC_BATCH_VERSION;
	buf[2] = 0;
	buf[3] = 0;
	return FABRIC_BATCH_HEADER;
}

size_t
fabric_batch_need(size_t used, size_t len)
{
	/* Both bounded, so the sum cannot overflow. */
	assert(used >= FABRIC_BATCH_HEADER && used <= FABRIC_BATCH_MAX);
	assert(len <= CHORUS_FRAME_MAX);
	return used + FABRIC_BATCH_ENTRY + len;
}

unsigned
fabric_batch_count(const uint8_t *buf, size_t used)
{
	assert(used >= FABRIC_BATCH_HEADER && buf[0] == FABRIC_BATCH_MAGIC);
	return (unsigned)buf[2] << 8 | buf[3];
}

int
fabric_batch_add(uint8_t *buf, size_t cap, size_t *used, const uint8_t *frame, size_t len)
{
	unsigned count = fabric_batch_count(buf, *used);
	size_t need;

	assert(*used <= cap && count <= FABRIC_BATCH_FRAMES_MAX);
	if (len == 0 || len > CHORUS_FRAME_MAX)
		return FABRIC_BATCH_EFRAME;
	need = fabric_batch_need(*used, len);
	if (count == FABRIC_BATCH_FRAMES_MAX || need > FABRIC_BATCH_MAX || need > cap)
		return FABRIC_BATCH_EFULL;
	fabric_batch_put32(buf + *used, (uint32_t)len);
	memcpy(buf + *used + FABRIC_BATCH_ENTRY, frame, len);
	*used = need;
	count++;
	buf[2] = (uint8_t)(count >> 8);
	buf[3] = (uint8_t)count;
	return 0;
}

int
fabric_batch_decode(const uint8_t *buf, size_t len, struct fabric_batch_frame *out,
                    size_t out_max)
{
	unsigned count;
	size_t off = FABRIC_BATCH_HEADER;

	if (len < FABRIC_BATCH_HEADER)
		return FABRIC_BATCH_ESHORT;
	if (buf[0] != FABRIC_BATCH_MAGIC)
		return FABRIC_BATCH_EMAGIC;
	if (buf[1] != FABRIC_BATCH_VERSION)
		return FABRIC_BATCH_EVERSION;
	if (len > FABRIC_BATCH_MAX)
		return FABRIC_BATCH_ESIZE;
	count = (unsigned)buf[2] << 8 | buf[3];
	if (count == 0 || count > FABRIC_BATCH_FRAMES_MAX || count > out_max)
		return FABRIC_BATCH_ECOUNT;
	for (unsigned i = 0; i < count; i++) {
		uint32_t flen;

		if (len - off < FABRIC_BATCH_ENTRY)
			return FABRIC_BATCH_ETRUNC;
		flen = fabric_batch_get32(buf + off);
		off += FABRIC_BATCH_ENTRY;
		if (flen == 0 || flen > CHORUS_FRAME_MAX)
			return FABRIC_BATCH_EFRAME;
		if (len - off < flen)
			return FABRIC_BATCH_ETRUNC;
		out[i].frame = buf + off;
		out[i].len = flen;
		off += flen;
	}
	if (off != len)
		return FABRIC_BATCH_ETRAILING;
	assert(count >= 1 && off <= FABRIC_BATCH_MAX);
	return (int)count;
}

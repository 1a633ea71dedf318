/*
 * wire: the fabric frame.  Bump CHORUS_WIRE_VERSION if this layout changes.
 *
 *   0   2  magic "CH"
 *   2   1  version
 *   3   1  type (enum wire_type)
 *   4   4  body length, big-endian
 *   8  32  sender's ed25519 public key (its node id)
 *  40   8  sender's generation (start time, ms)
 *  48   8  sender's frame sequence number
 *  56   n  body: one JSON object (opaque bytes for the app types: raft, ledger)
 *  56+n 64 ed25519 signature by the sender over bytes [0, 56+n)
 *
 * Every length is checked exactly: a frame whose body length does not match
 * its size, or that exceeds CHORUS_FRAME_MAX, is rejected before anything
 * else looks at it.
 */
#include "core-internal.h"

_Static_assert(CHORUS_FRAME_HEADER == 2 + 1 + 1 + 4 + CHORUS_PK_BYTES + 8 + 8, "header layout");

static const char *const wire_type_names[WIRE_TYPE_END] = {
	[WIRE_PING] = "ping", [WIRE_ACK] = "ack",   [WIRE_PING_REQ] = "ping-req",
	[WIRE_NACK] = "nack", [WIRE_JOIN] = "join", [WIRE_SYNC] = "sync",
	[WIRE_GOSSIP] = "gossip", [WIRE_WANT] = "want", [WIRE_REQUEST] = "request",
	[WIRE_OFFER] = "offer", [WIRE_DISPATCH] = "dispatch", [WIRE_ACCEPT] = "accept",
	[WIRE_REFUSE] = "refuse", [WIRE_RECEIPT] = "receipt", [WIRE_CANCEL] = "cancel",
	[WIRE_JOBACK] = "job-ack", [WIRE_RAFT] = "raft", [WIRE_LEDGER] = "ledger",
};

const char *wire_type_name(int type)
{
	if (type <= 0 || type >= WIRE_TYPE_END)
		return "unknown";
	return wire_type_names[type];
}

int wire_decode(struct wire_frame *f, const uint8_t *buf, size_t len)
{
	uint32_t body_len;

	if (len > CHORUS_FRAME_MAX)
		return CORE_ERR_OVERSIZE;
	if (len < CHORUS_FRAME_HEADER + CHORUS_SIG_BYTES || buf[0] != 'C' || buf[1] != 'H')
		return CORE_ERR_MALFORMED;
	if (buf[2] != CHORUS_WIRE_VERSION)
		return CORE_ERR_VERSION;
	body_len = codec_get_u32(buf + 4);
	if ((size_t)body_len != len - CHORUS_FRAME_HEADER - CHORUS_SIG_BYTES)
		return CORE_ERR_MALFORMED;
	f->version = buf[2];
	f->type = buf[3];
	memcpy(f->pk, buf + 8, CHORUS_PK_BYTES);
	f->gen = codec_get_u64(buf + 40);
	f->seq = codec_get_u64(buf + 48);
	f->body = buf + CHORUS_FRAME_HEADER;
	f->body_len = body_len;
	f->signed_len = CHORUS_FRAME_HEADER + body_len;
	f->sig = buf + f->signed_len;
	if (f->type == 0 || f->type >= WIRE_TYPE_END)
		return CORE_ERR_INVAL; /* well-formed, but a type we do not speak */
	return 0;
}

int wire_verify(const struct core_crypto *crypto, const struct wire_frame *f, const uint8_t *buf)
{
	assert(f->signed_len >= CHORUS_FRAME_HEADER);
	return crypto->verify(f->sig, buf, f->signed_len, f->pk) == 0 ? 0 : CORE_ERR_BADSIG;
}

int wire_encode(uint8_t *out, size_t cap, int type, const uint8_t pk[CHORUS_PK_BYTES], uint64_t gen,
                uint64_t seq, const char *body, size_t body_len, const struct core_crypto *crypto,
                const uint8_t sk[CHORUS_SK_BYTES])
{
	size_t total = CHORUS_FRAME_HEADER + body_len + CHORUS_SIG_BYTES;

	assert(type > 0 && type < WIRE_TYPE_END);
	if (total > CHORUS_FRAME_MAX || total > cap)
		return CORE_ERR_OVERSIZE;
	out[0] = 'C';
	out[1] = 'H';
	out[2] = CHORUS_WIRE_VERSION;
	out[3] = (uint8_t)type;
	codec_put_u32(out + 4, (uint32_t)body_len);
	memcpy(out + 8, pk, CHORUS_PK_BYTES);
	codec_put_u64(out + 40, gen);
	codec_put_u64(out + 48, seq);
	memcpy(out + CHORUS_FRAME_HEADER, body, body_len);
	crypto->sign(out + CHORUS_FRAME_HEADER + body_len, out, CHORUS_FRAME_HEADER + body_len, sk);
	return (int)total;
}

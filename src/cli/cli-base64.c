/*
 * Base64 (RFC 4648, standard alphabet, with padding) for job payloads and
 * results.  The CLI does not link libsodium, and this is all it needs.
 *
 * The decoder is strict, because its input comes from the network: only the
 * canonical encoding is accepted (length a multiple of 4, '=' only as the
 * last one or two characters, unused bits zero), and it never writes past
 * dst_size.
 */
#include "config.h"

#include <assert.h>
#include <string.h>

#include "cli.h"

static const char cli_base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Bytes cli_base64_encode writes for len input bytes, the final NUL included. */
size_t cli_base64_encoded_size(size_t len)
{
	return (len + 2) / 3 * 4 + 1;
}

/* Writes cli_base64_encoded_size(len) bytes to dst. */
void cli_base64_encode(char *dst, const uint8_t *src, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
		dst[o++] = cli_base64_alphabet[v >> 18 & 63];
		dst[o++] = cli_base64_alphabet[v >> 12 & 63];
		dst[o++] = cli_base64_alphabet[v >> 6 & 63];
		dst[o++] = cli_base64_alphabet[v & 63];
	}
	if (i < len) { /* one or two bytes left: pad to a full quantum */
		uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < len ? (uint32_t)src[i + 1] << 8 : 0);
		dst[o++] = cli_base64_alphabet[v >> 18 & 63];
		dst[o++] = cli_base64_alphabet[v >> 12 & 63];
		dst[o++] = i + 1 < len ? cli_base64_alphabet[v >> 6 & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
	assert(o + 1 == cli_base64_encoded_size(len));
}

/* The 6-bit value of c, or -1 for anything outside the alphabet (including '='). */
static int cli_base64_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(cli_base64_alphabet, c);
	return p != NULL ? (int)(p - cli_base64_alphabet) : -1;
}

/*
 * Decodes src (NUL-terminated) into dst: 0 and *len_out, or -1 when src is
 * not canonical base64 or decodes to more than dst_size bytes.
 */
int cli_base64_decode(uint8_t *dst, size_t dst_size, const char *src, size_t *len_out)
{
	size_t n = strlen(src), i, o = 0, pad = 0;

	if (n % 4 != 0)
		return -1;
	if (n > 0 && src[n - 1] == '=')
		pad = (n > 1 && src[n - 2] == '=') ? 2 : 1;
	if (n / 4 * 3 - pad > dst_size)
		return -1;
	for (i = 0; i < n; i += 4) {
		int last = i + 4 == n, v[4], k;
		uint32_t bits = 0;
		for (k = 0; k < 4; k++) {
			v[k] = cli_base64_value(src[i + k]);
			if (v[k] < 0 && !(last && k >= 4 - (int)pad))
				return -1;
			bits = bits << 6 | (uint32_t)(v[k] < 0 ? 0 : v[k]);
		}
		/* Canonical only: the bits padding leaves unused must be zero. */
		if (last && ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff))))
			return -1;
		dst[o++] = (uint8_t)(bits >> 16);
		if (!last || pad < 2)
			dst[o++] = (uint8_t)(bits >> 8);
		if (!last || pad < 1)
			dst[o++] = (uint8_t)bits;
	}
	assert(o == n / 4 * 3 - pad && o <= dst_size);
	*len_out = o;
	return 0;
}

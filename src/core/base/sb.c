/*
 * sb: a bounded string builder.  Overflow is sticky: callers build a whole
 * text and check sb.overflow once at the end.
 */
#include <stdio.h>

#include "base/base.h"

void sb_init(struct sb *sb, char *buf, size_t cap)
{
	assert(cap > 0);
	sb->buf = buf;
	sb->len = 0;
	sb->cap = cap;
	sb->overflow = 0;
	buf[0] = '\0';
}

void sb_putn(struct sb *sb, const char *s, size_t n)
{
	if (sb->overflow || sb->len + n >= sb->cap) {
		sb->overflow = 1;
		return;
	}
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_puts(struct sb *sb, const char *s)
{
	sb_putn(sb, s, strlen(s));
}

void sb_printf(struct sb *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sb->cap - sb->len) {
		sb->overflow = 1;
		sb->buf[sb->len] = '\0';
		return;
	}
	sb->len += (size_t)n;
}

void sb_json_str(struct sb *sb, const char *s, size_t n)
{
	size_t start = 0;

	sb_putn(sb, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		sb_putn(sb, s + start, i - start);
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			sb_putn(sb, esc, 2);
		} else {
			sb_printf(sb, "\\u%04x", c);
		}
		start = i + 1;
	}
	sb_putn(sb, s + start, n - start);
	sb_putn(sb, "\"", 1);
}

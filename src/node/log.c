/*
 * Logging: one line per record, to the --log-file, else to stderr (both
 * with --log-stderr: a file alone keeps stderr quiet, for a service manager
 * that would store every line twice).
 *
 * A record is a level, a subsystem and the core's `key=value` fields.  Text
 * lines read `2026-11-21T14:20:00.123Z INFO  member event=join node=ab12cd3456`
 * (UTC, millisecond precision); JSON lines are one object per line with
 * "ts", "level", "subsys" and one string member per field.  Lines go out
 * whole with write(2) on an O_APPEND descriptor, so `tail -f` sees whole
 * lines and a rotated file (mv + SIGHUP) loses nothing but what was written
 * between the mv and the reopen (it lands in the old file).  Once attached to
 * the event loop (log_attach), info and debug lines of one loop iteration are
 * gathered and written at its end, one write(2) per destination (a busy node
 * logs several lines per job, and each write is a syscall); warnings and
 * errors go out at once, after what was gathered.  Lines are bounded by
 * LOG_LINE_MAX; longer ones are cut, never split.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "node.h"

#define LOG_LINE_MAX   16384
#define LOG_FIELDS_MAX 8192
#define LOG_BATCH_MAX  65536 /* lines gathered in one loop iteration before they go out */

static struct {
	int fd;                      /* --log-file, -1 when none */
	char path[NODE_PATH_MAX];
	enum log_format format;
	int level_max;               /* records above this level are skipped */
	int to_stderr;               /* lines go to stderr (always when there is no file) */
} log_state = { -1, "", LOG_FORMAT_TEXT, CORE_LOG_INFO, 1 };

static struct {
	char buf[LOG_BATCH_MAX];
	size_t len;
	struct event *ev; /* NULL: not attached, every line goes out at once */
	int kicked;
} log_batch;

static log_hook_fn *log_hook;

void
log_set_hook(log_hook_fn *fn)
{
	log_hook = fn;
}

static const char *const log_level_names[] = { "ERROR", "WARN", "INFO", "DEBUG", "TRACE" };
static const char *const log_level_json[] = { "error", "warn", "info", "debug", "trace" };

static int
log_open_fd(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* --log-level's names: the enum core_log_level, or -1. */
int
log_level_parse(const char *name)
{
	for (int i = CORE_LOG_ERROR; i <= CORE_LOG_TRACE; i++)
		if (strcmp(name, log_level_json[i]) == 0)
			return i;
	return -1;
}

/* Open the log file (path may be empty: stderr only).  Returns 0 or -errno. */
int
log_open(const char *path, enum log_format format, int level, int to_stderr)
{
	log_state.format = format;
	log_state.level_max = level < CORE_LOG_ERROR ? CORE_LOG_ERROR :
	                      level > CORE_LOG_TRACE ? CORE_LOG_TRACE : level;
	log_state.to_stderr = 1;
	if (path == NULL || path[0] == '\0')
		return 0;
	if (strlen(path) >= sizeof log_state.path)
		return -ENAMETOOLONG;
	int fd = log_open_fd(path);
	if (fd < 0)
		return -errno;
	if (log_state.fd >= 0)
		close(log_state.fd);
	log_state.fd = fd;
	log_state.to_stderr = to_stderr;
	snprintf(log_state.path, sizeof log_state.path, "%s", path);
	return 0;
}

static void log_write_all(int fd, const char *buf, size_t len);

/* What this iteration gathered goes out now. */
void
log_flush(void)
{
	if (log_batch.len == 0)
		return;
	if (log_state.to_stderr || log_state.fd < 0)
		log_write_all(STDERR_FILENO, log_batch.buf, log_batch.len);
	if (log_state.fd >= 0)
		log_write_all(log_state.fd, log_batch.buf, log_batch.len);
	log_batch.len = 0;
}

static void
log_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_batch.kicked = 0;
	log_flush();
}

int
log_attach(struct event_base *base)
{
	log_detach();
	log_batch.ev = event_new(base, -1, 0, log_flush_cb, NULL);
	return log_batch.ev != NULL ? 0 : -ENOMEM;
}

void
log_detach(void)
{
	log_flush();
	if (log_batch.ev != NULL)
		event_free(log_batch.ev);
	log_batch.ev = NULL;
	log_batch.kicked = 0;
}

/* SIGHUP: the file may have been moved away; start a new one at the path. */
int
log_reopen(void)
{
	log_flush();
	if (log_state.path[0] == '\0')
		return 0;
	int fd = log_open_fd(log_state.path);
	if (fd < 0)
		return -errno;  /* keep writing to the old descriptor */
	close(log_state.fd);
	log_state.fd = fd;
	return 0;
}

/* A reload changed the level (an enum core_log_level, as in log_open). */
void
log_set_level(int level)
{
	log_state.level_max = level;
}

void
log_close(void)
{
	log_flush();
	if (log_state.fd >= 0)
		close(log_state.fd);
	log_state.fd = -1;
	log_state.path[0] = '\0';
	log_state.to_stderr = 1;
}

int
log_enabled(int level)
{
	return level <= log_state.level_max;
}

static void
log_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;  /* nowhere left to report a logging failure */
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes and a NUL).  A busy node logs several
 * lines per job, thousands a second: the seconds are formatted once per
 * second, the milliseconds by hand.
 */
#define LOG_TS_LEN 24
static void
log_timestamp(char *out, size_t outlen)
{
	static time_t last_sec = (time_t)-1;
	static char secs[LOG_TS_LEN];
	static size_t secs_len;
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != last_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		secs_len = strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm);
		last_sec = ts.tv_sec;
	}
	long ms = ts.tv_nsec / 1000000L;
	if (outlen < secs_len + 6)
		return;
	memcpy(out, secs, secs_len);
	out[secs_len] = '.';
	out[secs_len + 1] = (char)('0' + ms / 100);
	out[secs_len + 2] = (char)('0' + ms / 10 % 10);
	out[secs_len + 3] = (char)('0' + ms % 10);
	out[secs_len + 4] = 'Z';
	out[secs_len + 5] = '\0';
}

/* "TS LEVEL subsys fields\n" without printf: the line a busy node writes most. */
static size_t
log_format_text(char *line, size_t linelen, const char *ts, int level, const char *subsys,
                const char *fields)
{
	const char *parts[] = { ts, " ", log_level_names[level], "     " + strlen(log_level_names[level]),
	                        " ", subsys, " ", fields };
	size_t n = 0;

	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t k = strlen(parts[i]);
		if (k > linelen - 2 - n)
			k = linelen - 2 - n; /* cut, but keep the line a line (and its NUL) */
		memcpy(line + n, parts[i], k);
		n += k;
	}
	line[n++] = '\n';
	line[n] = '\0';
	return n;
}

/*
 * Split `key=value key="quoted \" value"` into a JSON object.  A token
 * without '=' becomes a member with an empty value: nothing is lost.
 */
static void
log_fields_json(cJSON *obj, const char *fields)
{
	char key[128], value[LOG_FIELDS_MAX];
	const char *p = fields;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		size_t kn = 0;
		while (*p != '\0' && *p != '=' && *p != ' ') {
			if (kn + 1 < sizeof key)
				key[kn++] = *p;
			p++;
		}
		key[kn] = '\0';
		size_t vn = 0;
		if (*p == '=') {
			p++;
			if (*p == '"') {
				p++;
				while (*p != '\0' && *p != '"') {
					if (*p == '\\' && p[1] != '\0')
						p++;
					if (vn + 1 < sizeof value)
						value[vn++] = *p;
					p++;
				}
				if (*p == '"')
					p++;
			} else {
				while (*p != '\0' && *p != ' ') {
					if (vn + 1 < sizeof value)
						value[vn++] = *p;
					p++;
				}
			}
		}
		value[vn] = '\0';
		if (kn > 0)
			cJSON_AddStringToObject(obj, key, value);
	}
}

static size_t
log_format_json(char *line, size_t linelen, const char *ts, int level, const char *subsys,
                const char *fields)
{
	cJSON *obj = cJSON_CreateObject();
	if (obj == NULL)
		return 0;
	cJSON_AddStringToObject(obj, "ts", ts);
	cJSON_AddStringToObject(obj, "level", log_level_json[level]);
	cJSON_AddStringToObject(obj, "subsys", subsys);
	log_fields_json(obj, fields);
	/* Preallocated printing: no second allocation, output bounded by linelen. */
	int good = cJSON_PrintPreallocated(obj, line, (int)linelen - 2, 0);
	cJSON_Delete(obj);
	if (!good)
		return 0;
	size_t n = strlen(line);
	line[n++] = '\n';
	line[n] = '\0';
	return n;
}

void
log_emit(int level, const char *subsys, const char *fields)
{
	static char line[LOG_LINE_MAX];
	char ts[40];
	size_t n;

	if (level < CORE_LOG_ERROR)
		level = CORE_LOG_ERROR;
	if (level > CORE_LOG_TRACE)
		level = CORE_LOG_TRACE;
	if (!log_enabled(level))
		return;
	if (subsys == NULL)
		subsys = "-";
	if (fields == NULL)
		fields = "";
	if (log_hook != NULL)
		log_hook(level, subsys, fields);
	log_timestamp(ts, sizeof ts);
	if (log_state.format == LOG_FORMAT_JSON) {
		n = log_format_json(line, sizeof line, ts, level, subsys, fields);
		if (n == 0)
			n = (size_t)snprintf(line, sizeof line,
			                     "{\"ts\":\"%s\",\"level\":\"error\",\"subsys\":\"log\","
			                     "\"event\":\"line_too_long\"}\n", ts);
	} else {
		n = log_format_text(line, sizeof line, ts, level, subsys, fields);
	}
	if (log_batch.ev != NULL && level > CORE_LOG_WARN) {
		if (log_batch.len + n > sizeof log_batch.buf)
			log_flush();
		memcpy(log_batch.buf + log_batch.len, line, n);
		log_batch.len += n;
		if (!log_batch.kicked) {
			log_batch.kicked = 1;
			event_active(log_batch.ev, EV_TIMEOUT, 0);
		}
		return;
	}
	log_flush(); /* in order: what was gathered, then this line */
	if (log_state.to_stderr || log_state.fd < 0)
		log_write_all(STDERR_FILENO, line, n);
	if (log_state.fd >= 0)
		log_write_all(log_state.fd, line, n);
}

void
log_core_cb(void *ctx, int level, const char *subsys, const char *fields)
{
	(void)ctx;
	log_emit(level, subsys, fields);
}

static void
log_vemit(int level, const char *subsys, const char *fmt, va_list ap)
{
	char fields[LOG_FIELDS_MAX];

	if (!log_enabled(level))
		return;
	vsnprintf(fields, sizeof fields, fmt, ap);
	log_emit(level, subsys, fields);
}

void
log_error(const char *subsys, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(CORE_LOG_ERROR, subsys, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *subsys, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(CORE_LOG_WARN, subsys, fmt, ap);
	va_end(ap);
}

void
log_info(const char *subsys, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(CORE_LOG_INFO, subsys, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *subsys, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(CORE_LOG_DEBUG, subsys, fmt, ap);
	va_end(ap);
}

/*
 * Write value as a field value: bare when it holds no space, quote or
 * backslash (and is not empty), else "quoted" with \" and \\ escapes.
 * Returns 0, or -1 when out was too small (out then holds "").
 */
int
log_quote(char *out, size_t outlen, const char *value)
{
	size_t n = 0;
	int bare = value[0] != '\0' && strpbrk(value, " \"\\=") == NULL;

	if (outlen == 0)
		return -1;
	if (!bare) {
		if (n + 1 >= outlen)
			goto toolong;
		out[n++] = '"';
	}
	for (const char *p = value; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			c = '?';  /* no control characters in a log line */
		if (!bare && (c == '"' || c == '\\')) {
			if (n + 1 >= outlen)
				goto toolong;
			out[n++] = '\\';
		}
		if (n + 1 >= outlen)
			goto toolong;
		out[n++] = (char)c;
	}
	if (!bare) {
		if (n + 1 >= outlen)
			goto toolong;
		out[n++] = '"';
	}
	out[n] = '\0';
	return 0;
toolong:
	out[0] = '\0';
	return -1;
}

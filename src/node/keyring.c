/*
 * keyring: the network key file (--keyring FILE, the `keyring` config key).
 *
 * The format (docs/security.md, chorusd(8)): text, one network key a line,
 * base64 of 32 bytes (what `chorus keygen` prints); the first key is the
 * primary, the one frames are sealed under, and the others are accepted
 * too; blank lines and lines starting with '#' are ignored; at most
 * CHORUS_KEYRING_MAX keys, no key twice.  The file holds the network's
 * secret: one readable by group or others is refused, with the chmod that
 * mends it.  keyring_save writes a temporary file (mode 0600), syncs it and
 * renames it over the old one, so a crash leaves the old keyring or the new.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "node.h"

static int keyring_line(const char *line, uint8_t key[CHORUS_NETKEY_BYTES])
{
	size_t got = 0;
	const char *end;

	return sodium_base642bin(key, CHORUS_NETKEY_BYTES, line, strlen(line), " \t\r\n", &got, &end,
	                         sodium_base64_VARIANT_ORIGINAL) == 0 &&
	               got == CHORUS_NETKEY_BYTES && *end == '\0'
	           ? 0
	           : -1;
}

int keyring_load(const char *path, uint8_t keys[][CHORUS_NETKEY_BYTES], unsigned *n, char *err,
                 size_t errlen)
{
	char text[CHORUS_KEYRING_FILE_MAX + 1], *line, *save = NULL;
	struct stat st;
	unsigned lineno = 0;
	ssize_t len;
	int fd;

	*n = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "keyring %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen,
		         "keyring %s is readable by group or others (mode %04o): chmod 600 %s", path,
		         (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	len = read(fd, text, sizeof(text));
	close(fd);
	if (len < 0 || len > CHORUS_KEYRING_FILE_MAX) {
		snprintf(err, errlen, "keyring %s: %s", path, len < 0 ? strerror(errno) : "too long");
		return -1;
	}
	text[len] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		line += strspn(line, " \t\r");
		if (*line == '\0' || *line == '#')
			continue;
		if (*n == CHORUS_KEYRING_MAX) {
			snprintf(err, errlen, "keyring %s: more than %d keys", path, CHORUS_KEYRING_MAX);
			return -1;
		}
		if (keyring_line(line, keys[*n]) != 0 || sodium_is_zero(keys[*n], CHORUS_NETKEY_BYTES)) {
			snprintf(err, errlen,
			         "keyring %s line %u: not a network key (base64 of 32 bytes, from chorus keygen)",
			         path, lineno);
			return -1;
		}
		for (unsigned j = 0; j < *n; j++)
			if (sodium_memcmp(keys[j], keys[*n], CHORUS_NETKEY_BYTES) == 0) {
				snprintf(err, errlen, "keyring %s line %u: a key twice", path, lineno);
				return -1;
			}
		(*n)++;
	}
	sodium_memzero(text, sizeof(text));
	if (*n == 0) {
		snprintf(err, errlen, "keyring %s holds no key", path);
		return -1;
	}
	return 0;
}

int keyring_save(const char *path, const uint8_t keys[][CHORUS_NETKEY_BYTES], unsigned n,
                 unsigned primary, char *err, size_t errlen)
{
	char tmp[PATH_MAX], b64[sodium_base64_ENCODED_LEN(CHORUS_NETKEY_BYTES,
	                                                  sodium_base64_VARIANT_ORIGINAL)];
	FILE *fp;
	int fd, ok = 1;

	if (n == 0 || primary >= n || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "keyring %s: nothing to save", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "keyring %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(fp, "# chorus network keys: the first is the primary (chorusd(8), KEYRING)\n");
	for (unsigned k = 0; k < n; k++) {
		unsigned i = k == 0 ? primary : (k <= primary ? k - 1 : k);

		sodium_bin2base64(b64, sizeof(b64), keys[i], CHORUS_NETKEY_BYTES,
		                  sodium_base64_VARIANT_ORIGINAL);
		ok &= fprintf(fp, "%s\n", b64) > 0;
	}
	sodium_memzero(b64, sizeof(b64));
	ok &= fflush(fp) == 0 && fsync(fileno(fp)) == 0;
	ok &= fclose(fp) == 0;
	if (!ok || rename(tmp, path) != 0) {
		snprintf(err, errlen, "keyring %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

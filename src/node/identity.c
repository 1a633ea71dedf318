/*
 * Identity: the node's ed25519 key pair, kept in <data dir>/node.key.
 *
 * The file holds the raw 64-byte libsodium crypto_sign secret key (seed then
 * public key), mode 0600.  It is made on first start, written to a temporary
 * name, synced and renamed so a crash never leaves half a key.  A key file of
 * the wrong size, readable by group or others, not a regular file, or whose
 * public half does not match its seed is refused: the node id is derived from
 * it and must never change silently.
 *
 * Two daemons on one data dir would be one node id twice in the cluster;
 * identity_lock() takes an flock(2) on <data dir>/node.lock for the life of
 * the process to refuse the second.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "node.h"

/* mkdir -p; the last component (the data dir itself) is made 0700. */
int
identity_mkdir(const char *dir, char *err, size_t errlen)
{
	char path[NODE_PATH_MAX];
	struct stat st;

	if (dir[0] == '\0' || strlen(dir) >= sizeof path) {
		snprintf(err, errlen, "data dir: bad path");
		return -EINVAL;
	}
	snprintf(path, sizeof path, "%s", dir);
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			int e = errno;
			snprintf(err, errlen, "data dir %s: %s", path, strerror(e));
			return -e;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "data dir %s: %s", path, strerror(e));
		return -e;
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "data dir %s: not a directory", path);
		return -ENOTDIR;
	}
	return 0;
}

static int
identity_path(char *out, size_t outlen, const char *dir, const char *file, char *err,
              size_t errlen)
{
	int n = snprintf(out, outlen, "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(err, errlen, "data dir path too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Checks an open key file; fills sk.  Errors name the path. */
static int
identity_read(int fd, const char *path, uint8_t sk[CHORUS_SK_BYTES], char *err, size_t errlen)
{
	struct stat st;
	uint8_t pk[CHORUS_PK_BYTES], sk2[CHORUS_SK_BYTES];

	if (fstat(fd, &st) != 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %03o is readable by group or others; chmod 600 it",
		         path, (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	if (st.st_size != CHORUS_SK_BYTES) {
		snprintf(err, errlen, "%s: size %lld, want %d bytes", path, (long long)st.st_size,
		         CHORUS_SK_BYTES);
		return -EINVAL;
	}
	ssize_t n = read(fd, sk, CHORUS_SK_BYTES);
	if (n != CHORUS_SK_BYTES) {
		snprintf(err, errlen, "%s: short read", path);
		return -EIO;
	}
	/* The public half must follow from the seed: catches a damaged file. */
	crypto_sign_seed_keypair(pk, sk2, sk);
	int same = sodium_memcmp(sk, sk2, CHORUS_SK_BYTES) == 0;
	sodium_memzero(sk2, sizeof sk2);
	if (!same) {
		snprintf(err, errlen, "%s: not an ed25519 secret key (public half does not match)",
		         path);
		return -EINVAL;
	}
	return 0;
}

/* -n: is there a key, and is it good?  *exists = 0 when it will be made. */
int
identity_check(const char *dir, int *exists, char *err, size_t errlen)
{
	char path[NODE_PATH_MAX];
	uint8_t sk[CHORUS_SK_BYTES];
	int r;

	*exists = 0;
	if ((r = identity_path(path, sizeof path, dir, NODE_KEY_FILE, err, errlen)) != 0)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	*exists = 1;
	r = identity_read(fd, path, sk, err, errlen);
	sodium_memzero(sk, sizeof sk);
	close(fd);
	return r;
}

static int
identity_create(const char *dir, const char *path, uint8_t sk[CHORUS_SK_BYTES], char *err,
                size_t errlen)
{
	char tmp[NODE_PATH_MAX];
	uint8_t pk[CHORUS_PK_BYTES];
	int r;

	if ((r = identity_path(tmp, sizeof tmp, dir, NODE_KEY_FILE ".tmp", err, errlen)) != 0)
		return r;
	crypto_sign_keypair(pk, sk);
	(void)unlink(tmp);  /* a leftover from a crash mid-create */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(e));
		return -e;
	}
	if (write(fd, sk, CHORUS_SK_BYTES) != CHORUS_SK_BYTES || fsync(fd) != 0) {
		int e = errno != 0 ? errno : EIO;
		close(fd);
		unlink(tmp);
		snprintf(err, errlen, "%s: %s", tmp, strerror(e));
		return -e;
	}
	close(fd);
	/* link(2) instead of rename(2): never replace a key that appeared meanwhile. */
	if (link(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	unlink(tmp);
	return 0;
}

/* Load the key, making one on first start.  pk is the last half of sk. */
int
identity_load(const char *dir, uint8_t pk[CHORUS_PK_BYTES], uint8_t sk[CHORUS_SK_BYTES],
              int *created, char *err, size_t errlen)
{
	char path[NODE_PATH_MAX];
	int r;

	*created = 0;
	if ((r = identity_mkdir(dir, err, errlen)) != 0)
		return r;
	if ((r = identity_path(path, sizeof path, dir, NODE_KEY_FILE, err, errlen)) != 0)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if ((r = identity_create(dir, path, sk, err, errlen)) != 0)
			return r;
		*created = 1;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	r = identity_read(fd, path, sk, err, errlen);
	close(fd);
	if (r != 0)
		return r;
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	return 0;
}

/* Hold <dir>/node.lock until exit; fails when another chorusd holds it. */
int
identity_lock(const char *dir, int *fd_out, char *err, size_t errlen)
{
	char path[NODE_PATH_MAX];
	int r;

	*fd_out = -1;
	if ((r = identity_path(path, sizeof path, dir, NODE_LOCK_FILE, err, errlen)) != 0)
		return r;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "%s: another chorusd is using data dir %s", path, dir);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	*fd_out = fd;
	return 0;
}

/*
 * The generation (the node's boot epoch, in every frame it sends): its wall
 * clock at start, but strictly above the last one this data dir used, kept
 * in <data dir>/generation.  Receivers refuse a sender's epochs older than
 * the newest they saw (docs/security.md), so a clock set back must not hand
 * a restarted node an epoch from its past.  Written (temp, sync, rename)
 * before the first frame leaves.
 */
int
identity_generation(const char *dir, uint64_t wall_ms, uint64_t *gen, char *err, size_t errlen)
{
	char path[NODE_PATH_MAX], tmp[NODE_PATH_MAX + 8], text[32];
	unsigned long long last = 0;
	FILE *fp;
	int fd, ok;

	if (snprintf(path, sizeof path, "%s/generation", dir) >= (int)sizeof path) {
		snprintf(err, errlen, "data dir: path too long");
		return -ENAMETOOLONG;
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((fp = fopen(path, "r")) != NULL) {
		ok = fgets(text, sizeof text, fp) != NULL && sscanf(text, "%llu", &last) == 1;
		fclose(fp);
		if (!ok) {
			snprintf(err, errlen, "%s: not a generation", path);
			return -EINVAL;
		}
	}
	*gen = wall_ms > last ? wall_ms : (uint64_t)last + 1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(e));
		return -e;
	}
	snprintf(text, sizeof text, "%llu\n", (unsigned long long)*gen);
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
	ok &= close(fd) == 0;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		unlink(tmp);
		return -e;
	}
	return 0;
}

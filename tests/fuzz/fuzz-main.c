/*
 * The corpus replay: what a fuzz target runs as when it is not built with
 * libFuzzer.  `make check` runs every target this way (a TAP test): each
 * file of tests/fuzz/corpus/NAME/ (NAME: the program's name without
 * "fuzz-") goes through LLVMFuzzerTestOneInput whole and then cut at every
 * length up to FUZZ_PREFIXES_MAX, so that the corpus also covers the
 * truncations the length checks exist for.  Arguments, when given, are
 * files or directories to replay instead (a crash file, another corpus).
 *
 * A broken property aborts (FUZZ_ASSERT): the test then fails with the
 * offending file named by the last "# replaying" line.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "tap.h"

#define FUZZ_FILE_MAX	  (1u << 20) /* corpus files are small; a bound keeps the reader simple */
#define FUZZ_PREFIXES_MAX 4096	     /* truncations replayed per file */
#define FUZZ_FILES_MAX	  4096

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

static int fuzz_main_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays one file; 0, or -1 when it cannot be read. */
static int fuzz_main_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf, *copy;
	size_t len;

	if (fp == NULL)
		return -1;
	buf = malloc(FUZZ_FILE_MAX);
	len = buf != NULL ? fread(buf, 1, FUZZ_FILE_MAX, fp) : 0;
	fclose(fp);
	if (buf == NULL)
		return -1;
	printf("# replaying %s (%zu bytes)\n", path, len);
	fflush(stdout);
	/* A copy of exactly the length given, so that ASan sees a read past it. */
	for (size_t n = 0; n <= len && n <= FUZZ_PREFIXES_MAX; n++) {
		copy = malloc(n ? n : 1);
		if (copy == NULL)
			break;
		memcpy(copy, buf, n);
		LLVMFuzzerTestOneInput(copy, n);
		free(copy);
	}
	if (len > FUZZ_PREFIXES_MAX) {
		copy = malloc(len);
		memcpy(copy, buf, len);
		LLVMFuzzerTestOneInput(copy, len);
		free(copy);
	}
	free(buf);
	return 0;
}

/* Replays a file or every regular file of a directory (sorted); the count replayed. */
static int fuzz_main_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char *names[FUZZ_FILES_MAX];
	size_t n = 0;
	int done = 0;

	if (stat(path, &st) != 0) {
		ok(0, "%s exists", path);
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return ok(fuzz_main_file(path) == 0, "%s", path);
	if ((d = opendir(path)) == NULL)
		return ok(0, "%s opens", path);
	while ((de = readdir(d)) != NULL && n < FUZZ_FILES_MAX) {
		char full[4096];

		snprintf(full, sizeof full, "%s/%s", path, de->d_name);
		if (de->d_name[0] != '.' && stat(full, &st) == 0 && S_ISREG(st.st_mode))
			names[n++] = strdup(full);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], fuzz_main_cmp);
	for (size_t i = 0; i < n; i++) {
		done += ok(fuzz_main_file(names[i]) == 0, "%s", names[i]);
		free(names[i]);
	}
	return done;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/'), *top = getenv("top_srcdir");
	char dir[4096];
	int done = 0;

	base = base != NULL ? base + 1 : argv[0];
	if (strncmp(base, "fuzz-", 5) == 0)
		base += 5;
	LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			done += fuzz_main_path(argv[i]);
	} else {
		snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", top != NULL ? top : ".", base);
		done = fuzz_main_path(dir);
	}
	ok(done > 0,
	   "replayed %d corpus files through fuzz-%s without a crash or a broken property", done,
	   base);
	return tap_done();
}

/*
 * Shared by the fuzz targets (tests/fuzz/fuzz-*.c): one decoder family per
 * target, each a libFuzzer entry point.  Built with --enable-fuzzing (clang,
 * -fsanitize=fuzzer,address,undefined) they are coverage-guided fuzzers;
 * built as usual they link fuzz-main.c, which replays the kept corpus
 * (tests/fuzz/corpus/NAME/) through the same entry point under `make check`.
 *
 * A target checks more than "no crash" where that is cheap: round trips,
 * the fast path against the general one, bounds.  A property that fails is
 * a finding: FUZZ_ASSERT says which and aborts, so both libFuzzer and the
 * replay report it (an assert() would vanish under NDEBUG).
 */
#ifndef CHORUS_TESTS_FUZZ_H
#define CHORUS_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional, called once before the first input (libFuzzer's name and signature). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_ASSERT(cond, what)                                                             \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: fuzz property broken: %s (%s)\n", __FILE__, \
				__LINE__, what, #cond);                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

#endif

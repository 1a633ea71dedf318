/* members: the table and its index under adds and removals. */
#include <stdlib.h>
#include <string.h>

#include "core-internal.h"
#include "tap.h"

static void key(uint8_t pk[32], unsigned i)
{
	memset(pk, 0, 32);
	/* Clustered first bytes stress linear probing. */
	pk[0] = (uint8_t)(i % 3);
	memcpy(pk + 8, &i, sizeof(i));
}

int main(void)
{
	struct members ms;
	uint8_t pk[32];
	int good = 1;

	ok(members_init(&ms) == 0, "init");
	for (unsigned i = 0; i < 2000; i++) {
		long at;

		key(pk, i);
		at = members_add(&ms, pk);
		if (at != (long)i)
			good = 0;
		ms.v[at].text = strdup("{}");
		ms.v[at].text_len = 2;
	}
	ok(good && ms.n == 2000, "2000 members added at dense indexes");
	good = 1;
	for (unsigned i = 0; i < 2000; i++) {
		key(pk, i);
		if (members_find(&ms, pk) != (long)i)
			good = 0;
	}
	ok(good, "every member is found at its index");
	key(pk, 5000);
	ok(members_find(&ms, pk) == -1, "an absent key is not found");
	for (unsigned i = 0; i < 2000; i += 2) {
		key(pk, i);
		members_remove(&ms, (size_t)members_find(&ms, pk));
	}
	ok(ms.n == 1000, "half removed");
	good = 1;
	for (unsigned i = 0; i < 2000; i++) {
		long at;

		key(pk, i);
		at = members_find(&ms, pk);
		if ((i % 2 == 0) != (at < 0))
			good = 0;
		if (at >= 0 && memcmp(ms.v[at].pk, pk, 32) != 0)
			good = 0;
	}
	ok(good, "removed ones are gone, the rest found at their (moved) index");
	ok(members_check(&ms) == NULL, "members_check holds");
	ms.v[3].text_len = 0;
	ok(members_check(&ms) != NULL, "members_check notices a member without a record");
	ms.v[3].text_len = 2;
	members_free(&ms);
	return tap_done();
}

/*
 * fuzz-raft: Raft messages (raft_msg_decode; CORE_APP_RAFT frame bodies) and
 * voter sets (raft_conf_decode, the data of configuration entries), then the
 * decoded message stepped into a fresh follower and a fresh leader of the
 * voters {1, 2, 3}, as a peer's message would be.
 *
 * Must hold: a decoded message is valid and re-encodes to exactly the input
 * (the format has one encoding per message); a decoded voter set likewise;
 * stepping it is refused or taken, and either way raft_check() holds and
 * every ready round drains.
 */
#include <stdlib.h>
#include <string.h>

#include "chorus/raft.h"
#include "fuzz.h"

static struct raft *fuzz_raft_new(int leader)
{
	struct raft_config cfg;
	struct raft_boot boot;
	struct raft_ready rd;
	struct raft_msg grant;
	struct raft *r;

	raft_config_defaults(&cfg, 1, 42);
	cfg.pre_vote = 0;
	cfg.check_quorum = 0;
	memset(&boot, 0, sizeof boot);
	boot.snap.conf.n = 3;
	for (uint32_t i = 0; i < 3; i++)
		boot.snap.conf.ids[i] = i + 1;
	if (raft_create(&r, &cfg, &boot) != 0)
		abort();
	if (!leader)
		return r;
	if (raft_campaign_now(r) != 0)
		abort();
	while (raft_ready(r, &rd))
		raft_advance(r, &rd);
	memset(&grant, 0, sizeof grant);
	grant.type = RAFT_MSG_VOTE_RESP;
	grant.from = 2;
	grant.to = 1;
	grant.term = raft_term(r);
	if (raft_step(r, &grant) != 0 || !raft_is_leader(r))
		abort();
	while (raft_ready(r, &rd))
		raft_advance(r, &rd);
	return r;
}

static void fuzz_raft_step(const struct raft_msg *m, int leader)
{
	struct raft *r = fuzz_raft_new(leader);
	struct raft_ready rd;
	const char *why;
	int rounds = 0;

	(void)raft_step(r, m);
	while (raft_ready(r, &rd) && rounds++ < 16)
		raft_advance(r, &rd);
	FUZZ_ASSERT(rounds < 16, "ready rounds drain");
	why = raft_check(r);
	if (why != NULL)
		fprintf(stderr, "raft_check: %s\n", why);
	FUZZ_ASSERT(why == NULL, "raft_check holds after any message");
	raft_destroy(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct raft_entry ents[CHORUS_RAFT_APPEND_ENTRIES_MAX];
	static uint8_t again[CHORUS_RAFT_MSG_MAX];
	struct raft_conf conf;
	struct raft_msg m;
	int n;

	if (raft_conf_decode(&conf, data, size) == 0) {
		n = raft_conf_encode(&conf, again, sizeof again);
		FUZZ_ASSERT(n >= 0 && (size_t)n == size && memcmp(again, data, size) == 0,
			    "a voter set re-encodes to itself");
	}
	if (raft_msg_decode(&m, ents, CHORUS_RAFT_APPEND_ENTRIES_MAX, data, size) != 0)
		return 0;
	FUZZ_ASSERT(raft_msg_validate(&m) == 0, "a decoded message is valid");
	FUZZ_ASSERT(m.nentries <= CHORUS_RAFT_APPEND_ENTRIES_MAX, "entries within the bound");
	n = raft_msg_encode(&m, again, sizeof again);
	FUZZ_ASSERT(n >= 0 && (size_t)n == size && memcmp(again, data, size) == 0,
		    "a decoded message re-encodes to itself");
	m.to = 1; /* addressed to the node under test, whatever it said */
	fuzz_raft_step(&m, 0);
	fuzz_raft_step(&m, 1);
	return 0;
}

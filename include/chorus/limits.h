/*
 * Every bound chorus keeps, in one place.  Input over a bound is rejected
 * (counted, logged at debug level); reaching a bound internally is a bug and
 * is asserted.  Relations between bounds are checked at compile time.
 */
#ifndef CHORUS_LIMITS_H
#define CHORUS_LIMITS_H

/* Wire. */
#define CHORUS_WIRE_VERSION       6             /* 6: acks and receipts carry batch authenticators; 5: sealed bodies, network key */
#define CHORUS_FRAME_MAX          (64 * 1024)   /* one fabric frame, header to tag or signature */
#define CHORUS_FRAME_HEADER       64
#define CHORUS_SIG_BYTES          64
#define CHORUS_PK_BYTES           32
#define CHORUS_SK_BYTES           64
#define CHORUS_MAC_BYTES          32            /* a MAC frame's trailer: salt, zeros, tag */
#define CHORUS_MAC_TAG_BYTES      16            /* the tag itself, under the pairwise key */
#define CHORUS_MAC_NONCE_BYTES    24            /* sender generation, frame number, salt */
#define CHORUS_MAC_KEY_BYTES      32            /* one peer pair's frame key */
#define CHORUS_KX_BYTES           32            /* an X25519 shared secret */
#define CHORUS_RECIPIENT_BYTES    7             /* recipient id prefix in a frame header */
#define CHORUS_PEER_KEYS_MAX      4096          /* pairwise frame keys cached (clock eviction) */
#define CHORUS_ID_HEX             (2 * CHORUS_PK_BYTES)
#define CHORUS_ID_SHORT           10            /* hex digits shown in logs and tables */
/* Signed frames (to a recipient not known yet) have the longer trailer: bodies fit both. */
#define CHORUS_SIG_TRAILER_BYTES  (CHORUS_MAC_BYTES + CHORUS_SIG_BYTES) /* sealed, then signed */
#define CHORUS_BODY_MAX           (CHORUS_FRAME_MAX - CHORUS_FRAME_HEADER - CHORUS_SIG_TRAILER_BYTES)
/* Network keys (admission): docs/security.md. */
#define CHORUS_NETKEY_BYTES       32            /* one network key (chorus keygen) */
#define CHORUS_KEYRING_MAX        8             /* keys a node holds; receivers try each in turn */
#define CHORUS_ADMIT_TAG_BYTES    8             /* the frame's admission tag (SipHash-2-4) */
#define CHORUS_REPLAY_WINDOW      16            /* newest frame numbers remembered per sender */
#define CHORUS_SEQ_CLOCK_SHIFT    16            /* frame number = send time (ms) << 16 | count */
#define CHORUS_KEYRING_FILE_MAX   4096          /* bytes in a keyring file */
#define CHORUS_KEY_FP_BYTES       8             /* a network key's fingerprint (shown, answered) */

_Static_assert(CHORUS_MAC_BYTES <= CHORUS_SIG_TRAILER_BYTES, "a MAC trailer is never the longer one");
_Static_assert(CHORUS_ADMIT_TAG_BYTES + 8 + CHORUS_MAC_TAG_BYTES == CHORUS_MAC_BYTES,
               "trailer: salt, admission tag, AEAD tag");
_Static_assert(CHORUS_NETKEY_BYTES == CHORUS_MAC_KEY_BYTES, "a network key keys BLAKE2b and AEAD");
_Static_assert(CHORUS_KEYRING_MAX >= 2, "rotation needs the old key and the new");
_Static_assert(CHORUS_RECIPIENT_BYTES < CHORUS_PK_BYTES, "the recipient field is a prefix");
_Static_assert((CHORUS_PEER_KEYS_MAX & (CHORUS_PEER_KEYS_MAX - 1)) == 0,
               "the peer key table doubles up to its bound");

/* Node records. */
#define CHORUS_RECORD_MAX         1536          /* signed record text */
#define CHORUS_NAME_MAX           63
#define CHORUS_ADDR_MAX           127
#define CHORUS_TAG_MAX            31            /* one role or capability name */
#define CHORUS_ROLES_MAX          4
#define CHORUS_CAPS_MAX           16
/*
 * Tags (chorusd --tag KEY=VALUE, carried in the record as "KEY=VALUE"
 * strings; submit --where matches them): few and short, so that a record
 * with every role, capability and tag still fits CHORUS_RECORD_MAX and
 * nodes that predate tags still accept it.
 */
#define CHORUS_NODE_TAGS_MAX      8             /* tags on one node, pairs in one --where */
#define CHORUS_TAG_KEY_MAX        15
#define CHORUS_TAG_VALUE_MAX      23
#define CHORUS_TAG_TEXT_MAX       (CHORUS_TAG_KEY_MAX + 1 + CHORUS_TAG_VALUE_MAX) /* "KEY=VALUE" */

/* Membership and gossip. */
#define CHORUS_MEMBERS_MAX        16384
#define CHORUS_RUMORS_MAX         4096          /* queued broadcasts per node */
#define CHORUS_PIGGYBACK_BYTES    8192          /* rumors carried on a ping or ack */
#define CHORUS_GOSSIP_BYTES       32768         /* rumors carried on one gossip frame */
#define CHORUS_SYNC_BYTES         49152         /* members carried on one sync frame */
#define CHORUS_SEEN_MAX           8192          /* recent frame tags kept for replay drop */
#define CHORUS_SEEDS_MAX          16            /* --join addresses */
#define CHORUS_INDIRECT_MAX       8             /* helpers asked for an indirect probe */
#define CHORUS_PROBES_MAX         64            /* probes and relayed probes in flight */
#define CHORUS_LEAVE_FANOUT       32            /* members told directly on leave */
#define CHORUS_HEALTH_MAX         8             /* Lifeguard local health multiplier ceiling */
#define CHORUS_WANT_MAX           64            /* records asked for in one want frame */
#define CHORUS_DIGEST_ID_HEX      16            /* id prefix in a record digest (64 bits) */
#define CHORUS_RECONNECT_MAX      8             /* dead members pinged per reconnect interval */
#define CHORUS_RECONNECT_SHIFT    2             /* reconnect backoff: 1, 2, then every 4 intervals */
/* Catch-up pulls (gossip.c, docs/membership.md): a joiner's view as a Bloom filter. */
#define CHORUS_PULL_FILTER_MIN    64            /* filter bytes, a power of two */
#define CHORUS_PULL_FILTER_MAX    16384         /* 8 bits a member at CHORUS_MEMBERS_MAX */
#define CHORUS_PULL_BITS_MEMBER   10            /* filter bits per member: ~1% false positives */
#define CHORUS_PULL_HASHES        5             /* bits set per member */
#define CHORUS_PULL_FRAMES_MAX    4             /* gossip frames of records in one answer */
#define CHORUS_PULL_ANSWERS_MAX   8             /* pulls answered per gossip interval */
_Static_assert((CHORUS_PULL_FILTER_MIN & (CHORUS_PULL_FILTER_MIN - 1)) == 0 &&
                   (CHORUS_PULL_FILTER_MAX & (CHORUS_PULL_FILTER_MAX - 1)) == 0,
               "pull filters are powers of two (a bit index is a mask)");
_Static_assert(CHORUS_PULL_FILTER_MAX * 8 >= CHORUS_MEMBERS_MAX * 8,
               "the largest filter keeps 8 bits for every member");
_Static_assert(2 * CHORUS_PULL_FILTER_MAX + CHORUS_ADDR_MAX + 128 < CHORUS_BODY_MAX,
               "a pull (the filter in hex, a reply address) fits in a frame body");

/* Jobs (dispatch). */
#define CHORUS_KIND_MAX           CHORUS_TAG_MAX  /* a job kind is a capability name */
#define CHORUS_PAYLOAD_MAX        (32 * 1024)   /* job payload bytes */
#define CHORUS_RESULT_MAX         (32 * 1024)   /* job result bytes carried in a receipt */
#define CHORUS_JOB_ERROR_MAX      512           /* worker's error text in a receipt */
#define CHORUS_JOB_REASON_MAX     640           /* client's one-line failure reason */
#define CHORUS_PRIORITY_MAX       9             /* submit --priority 0..9, higher first */
#define CHORUS_JOBS_INFLIGHT_MAX  8192          /* client jobs not yet final, per node */
#define CHORUS_JOB_OFFERS_MAX     8             /* offers kept per job and round */
#define CHORUS_JOB_ATTEMPTS_MAX   16            /* dispatch attempts per job */
#define CHORUS_JOB_ROUNDS_MAX     8             /* broadcasts of one request (1 + re-broadcasts) */
#define CHORUS_JOB_TIMEOUT_MS_MAX (24u * 3600 * 1000)
/*
 * A restarted client asks the worker of a job's last attempt first; a
 * worker it does not know (its record not gossiped back yet, or forgotten)
 * gets this long to appear before the job is offered to others.
 */
#define CHORUS_JOB_QUERY_UNKNOWN_MS 5000
/*
 * A worker's durable outcome table (done, final elsewhere, disowned) keeps a
 * row this long -- twice the longest job timeout, so a job's own retries
 * and a client's quick restart find it; a client down longer may find it
 * gone (docs/dispatch.md) -- and at most this many rows (the oldest go
 * first), so the file stays bounded under load.
 */
#define CHORUS_WORK_OUTCOME_KEEP_MS (2ull * CHORUS_JOB_TIMEOUT_MS_MAX)
#define CHORUS_WORK_OUTCOMES_MAX    500000
#define CHORUS_WORK_MAX           4096          /* worker-side jobs remembered (running + done) */
#define CHORUS_WORK_BYTES_MAX     (64u * 1024 * 1024) /* results kept for duplicate dispatches */
#define CHORUS_BROADCAST_DIRECT   256           /* members a request/ack is sent to directly */
#define CHORUS_PENALTY_MAX        64            /* workers remembered as having failed us */
/*
 * The queue (docs/dispatch.md, "The queue").  A client node holds at most
 * CHORUS_QUEUED_MAX jobs waiting for a slot: half the in-flight bound, so
 * that queued jobs can never crowd out running ones and fresh submits that
 * find a free slot; a submit past it is refused at once (CORE_ERR_FULL, HTTP
 * 429), never accepted and dropped.  4096 waiting jobs is some minutes of
 * work for a small cluster even at sub-second jobs.  A worker remembers at
 * most CHORUS_RESERVATIONS_MAX reservations -- one per (client, kind) that
 * waits on it, whatever the number of that client's jobs -- and at most
 * CHORUS_RESERVATIONS_CLIENT_MAX of one client (its kinds), so one client
 * cannot fill the table.  A slot freed for a pulled client is held for it
 * at most timing.slot_hold_ms, then goes to the next reservation.
 */
#define CHORUS_QUEUED_MAX              4096
#define CHORUS_QUEUE_TIMEOUT_MS_MAX    (24u * 3600 * 1000)  /* --queue-timeout, node default */
#define CHORUS_QUEUE_TIMEOUT_MS_DEFAULT (10u * 60 * 1000)   /* config 0: ten minutes */
#define CHORUS_RESERVATIONS_MAX        4096
#define CHORUS_RESERVATIONS_CLIENT_MAX CHORUS_CAPS_MAX      /* one per kind a worker can run */
#define CHORUS_SHARES_MAX              256   /* clients with a configured share weight */
#define CHORUS_SHARE_WEIGHT_MAX        1000  /* a client's weight, 1..this (default 1) */
_Static_assert(CHORUS_QUEUED_MAX < CHORUS_JOBS_INFLIGHT_MAX,
               "queued jobs leave room in flight for running ones and fresh submits");
_Static_assert(CHORUS_QUEUE_TIMEOUT_MS_DEFAULT <= CHORUS_QUEUE_TIMEOUT_MS_MAX, "the default is in range");
_Static_assert(CHORUS_RESERVATIONS_CLIENT_MAX <= CHORUS_RESERVATIONS_MAX,
               "one client's reservations fit the worker's table");
/* Job frames a node sends itself (self-run), waiting for the next tick; two per job in flight. */
#define CHORUS_LOOPBACK_MAX       (2 * CHORUS_JOBS_INFLIGHT_MAX)
_Static_assert(CHORUS_WORK_OUTCOME_KEEP_MS >= (unsigned long long)CHORUS_JOB_TIMEOUT_MS_MAX,
               "a worker keeps an outcome at least as long as the longest job may run");
_Static_assert(CHORUS_WORK_OUTCOMES_MAX >= CHORUS_WORK_MAX,
               "the outcome table remembers at least what a worker keeps in memory");

/*
 * Live output (docs/dispatch.md, "Live output"): a worker streams a running
 * job's stdout and stderr to its client in WIRE_OUTPUT chunks.  A partial
 * chunk waits at most CHORUS_OUTPUT_FLUSH_MS (a chatty job sends at most one
 * chunk per stream per flush interval unless chunks fill); bytes of a stream
 * past CHORUS_OUTPUT_JOB_MAX are not sent, only counted.  The client keeps
 * the output of its CHORUS_OUTPUT_JOBS_KEPT newest jobs, at most
 * CHORUS_OUTPUT_KEPT_MAX bytes in all (the oldest go first).
 */
#define CHORUS_OUTPUT_CHUNK_MAX   8192          /* bytes of one chunk */
#define CHORUS_OUTPUT_FLUSH_MS    100           /* a partial chunk waits at most this long */
#define CHORUS_OUTPUT_JOB_MAX     (256 * 1024)  /* bytes of a job's stream streamed and kept */
#define CHORUS_OUTPUT_JOBS_KEPT   256           /* client: jobs whose output is kept */
#define CHORUS_OUTPUT_KEPT_MAX    (64u * 1024 * 1024) /* client: bytes of output kept in all */
#define CHORUS_OUTPUT_READ_MAX    (64 * 1024)   /* bytes of one stream in one API answer */
_Static_assert((CHORUS_OUTPUT_CHUNK_MAX + 2) / 3 * 4 + 512 < CHORUS_BODY_MAX,
               "a chunk (base64 bytes, the job id and offsets) fits in a frame body");
_Static_assert(CHORUS_OUTPUT_CHUNK_MAX <= 0xffff, "a pending chunk's length is 16 bits");
_Static_assert(CHORUS_OUTPUT_JOB_MAX % CHORUS_OUTPUT_CHUNK_MAX == 0,
               "the bound cuts a stream at a chunk's end");
_Static_assert(2ull * CHORUS_OUTPUT_JOB_MAX <= CHORUS_OUTPUT_KEPT_MAX,
               "the client can keep one job's whole output");

_Static_assert((CHORUS_PAYLOAD_MAX + 2) / 3 * 4 + 2 * CHORUS_RECORD_MAX + 2048 < CHORUS_BODY_MAX,
               "a dispatch (base64 payload + signed request) must fit in a frame body");
_Static_assert((CHORUS_RESULT_MAX + 2) / 3 * 4 + 2 * CHORUS_JOB_ERROR_MAX + 2 * CHORUS_RECORD_MAX + 2048 <
                   CHORUS_BODY_MAX,
               "a receipt (base64 result + error) must fit in a frame body");

_Static_assert(CHORUS_RECORD_MAX * 2 + 256 < CHORUS_PIGGYBACK_BYTES,
               "a ping must be able to carry at least one record rumor");
_Static_assert(CHORUS_GOSSIP_BYTES + 1024 < CHORUS_BODY_MAX,
               "a gossip frame must fit in a frame body");
_Static_assert(CHORUS_SYNC_BYTES + 1024 < CHORUS_BODY_MAX,
               "a sync frame must fit in a frame body");
_Static_assert(CHORUS_ID_HEX + CHORUS_NAME_MAX + CHORUS_ADDR_MAX +
                   (CHORUS_ROLES_MAX + CHORUS_CAPS_MAX) * (CHORUS_TAG_MAX + 3) +
                   /* ,"tags":[...] with every tag quoted and comma'd */
                   12 + CHORUS_NODE_TAGS_MAX * (CHORUS_TAG_TEXT_MAX + 3) + 200 <
               CHORUS_RECORD_MAX,
               "a full record (every role, capability and tag) must fit in CHORUS_RECORD_MAX");

/* Raft (src/core/raft/raft*.c, include/chorus/raft.h). */
#define CHORUS_RAFT_WIRE_VERSION       1
#define CHORUS_RAFT_VOTERS_MAX         9             /* voters in one configuration */
#define CHORUS_RAFT_ENTRY_MAX          (56 * 1024)   /* data bytes of one log entry: one ledger block */
#define CHORUS_RAFT_APPEND_BYTES_MAX   (60 * 1024)   /* entry bytes (with overhead) on one AppendEntries */
#define CHORUS_RAFT_APPEND_ENTRIES_MAX 256           /* entries on one AppendEntries */
#define CHORUS_RAFT_INFLIGHT_MAX       64            /* ceiling of the per-follower AppendEntries window */
#define CHORUS_RAFT_LOG_MAX            65536         /* entries kept in memory after the snapshot */
#define CHORUS_RAFT_UNCOMMITTED_MAX    4096          /* leader: appended but not yet committed */
#define CHORUS_RAFT_SNAPSHOT_MAX       24576         /* snapshot bytes (sent whole: no chunking yet) */
#define CHORUS_RAFT_OUTBOX_MAX         1024          /* messages queued between two raft_ready() */
/*
 * No term reaches 2^53 (exact in JSON; every message is checked, ours too).
 * A peer's message may raise ours to at most half that: the rest is room
 * for 2^52 campaigns of our own, so a term never wraps nor passes the bound.
 */
#define CHORUS_RAFT_TERM_MAX           ((uint64_t)1 << 53)
#define CHORUS_RAFT_PEER_TERM_MAX      (CHORUS_RAFT_TERM_MAX / 2)
#define CHORUS_RAFT_MSG_HEADER         72            /* fixed part of an encoded message */
#define CHORUS_RAFT_ENTRY_HEADER       13            /* per entry: term u64, type u8, length u32 */
#define CHORUS_RAFT_SNAP_HEADER        (20 + 8 * CHORUS_RAFT_VOTERS_MAX + 4)
#define CHORUS_RAFT_MSG_MAX            (CHORUS_RAFT_MSG_HEADER + CHORUS_RAFT_APPEND_BYTES_MAX)

_Static_assert(CHORUS_RAFT_ENTRY_MAX + CHORUS_RAFT_ENTRY_HEADER <= CHORUS_RAFT_APPEND_BYTES_MAX,
               "one maximal entry must fit on an AppendEntries");
_Static_assert(CHORUS_RAFT_SNAP_HEADER + CHORUS_RAFT_SNAPSHOT_MAX <= CHORUS_RAFT_APPEND_BYTES_MAX,
               "a snapshot message must fit in CHORUS_RAFT_MSG_MAX");
_Static_assert(CHORUS_RAFT_MSG_MAX <= CHORUS_BODY_MAX, "a raft message must fit in a frame body");
_Static_assert(CHORUS_RAFT_UNCOMMITTED_MAX < CHORUS_RAFT_LOG_MAX,
               "the in-memory log must hold every uncommitted entry");
_Static_assert(4 + 8 * CHORUS_RAFT_VOTERS_MAX <= CHORUS_RAFT_ENTRY_MAX,
               "a configuration entry must fit in an entry");

/* Merkle batches (include/chorus/merkle.h): leaves under one signed root, and the
 * inclusion proof's length for the largest tree (ceil(log2(leaves))). */
#define CHORUS_MERKLE_LEAVES_MAX  4096
#define CHORUS_MERKLE_PROOF_MAX   12
_Static_assert((1u << CHORUS_MERKLE_PROOF_MAX) >= CHORUS_MERKLE_LEAVES_MAX,
               "a proof holds one sibling per level of the largest tree");
/* One encoded batch authenticator (batchsig.h): count, index, root, proof length, proof, signature. */
#define CHORUS_BATCHSIG_BYTES_MAX (2 + 2 + 32 + 1 + CHORUS_MERKLE_PROOF_MAX * 32 + CHORUS_SIG_BYTES)

/*
 * Ledger (src/core/ledger/ledger.c, docs/ledger.md).  A block is one consensus log
 * entry, so it must stay well under any log-entry limit (Raft's included).
 */
#define CHORUS_LEDGER_TEXT_MAX           1024      /* one signed ack or receipt text */
#define CHORUS_LEDGER_BLOCK_ENTRIES_MAX  256       /* entries in one block */
#define CHORUS_LEDGER_BLOCK_BYTES_MAX    (256 * 1024) /* one encoded block, signature included */
#define CHORUS_LEDGER_BLOCK_HEADER_BYTES 95        /* magic, version, height .. entry count */
#define CHORUS_LEDGER_ENTRY_BYTES_MAX    (2 * (2 + CHORUS_LEDGER_TEXT_MAX + CHORUS_BATCHSIG_BYTES_MAX))
#define CHORUS_LEDGER_ACCOUNTS_MAX       (1u << 24) /* keys with an account (storage grows on demand) */
#define CHORUS_LEDGER_JOBS_MAX           (1u << 31) /* final jobs held in memory (above floors) */
/*
 * Final seqs one client may hold above its floor (docs/ledger.md, the
 * window): an honest client holds those committed while its oldest open ack
 * waits, far below its outbox's high-water mark.  Past it: refused, retried.
 */
#define CHORUS_LEDGER_CLIENT_OPEN_MAX    (1u << 20)
/*
 * Where a reward comes from (docs/ledger.md): a job's reward is debited from
 * its client, whose balance = allowance + earned - spent may not go below 0.
 * Every key starts with CHORUS_LEDGER_ALLOWANCE units (the policy's cap on
 * what a client can issue without earning): 10^9 pays 1,000 jobs at the
 * largest reward, a million at 1,000.  A job pays at most
 * CHORUS_LEDGER_REWARD_MAX.
 */
#define CHORUS_LEDGER_ALLOWANCE          1000000000ULL
#define CHORUS_LEDGER_REWARD_MAX         1000000ULL

_Static_assert(CHORUS_LEDGER_BLOCK_HEADER_BYTES + CHORUS_LEDGER_ENTRY_BYTES_MAX + CHORUS_SIG_BYTES <=
                   CHORUS_LEDGER_BLOCK_BYTES_MAX,
               "a block must hold at least one entry of the largest size");
_Static_assert(CHORUS_LEDGER_BLOCK_ENTRIES_MAX <= 0xffff && CHORUS_LEDGER_TEXT_MAX <= 0xffff,
               "entry count and text lengths are 16-bit fields");
_Static_assert(2 * CHORUS_LEDGER_BLOCK_ENTRIES_MAX <= CHORUS_LEDGER_ACCOUNTS_MAX,
               "one block (two keys per entry) must be able to fit in an empty accounts table");
_Static_assert(CHORUS_LEDGER_ACCOUNTS_MAX < (1u << 30) && CHORUS_LEDGER_JOBS_MAX < 0xffffffffu,
               "table indexes are 32-bit (index + 1 in a slot, 0 for empty)");
/*
 * No sum can overflow, by construction: every final job (credited or not)
 * takes an index slot, so at most JOBS_MAX jobs pay at most REWARD_MAX each;
 * total_reward, and every account's earned and spent (each at most the
 * total), stay below 2^53 (exact in JSON), and so does every balance.
 */
_Static_assert((unsigned long long)CHORUS_LEDGER_JOBS_MAX * CHORUS_LEDGER_REWARD_MAX +
                       CHORUS_LEDGER_ALLOWANCE < (1ULL << 53),
               "reward sums and balances stay exact below 2^53");
_Static_assert(CHORUS_LEDGER_REWARD_MAX <= CHORUS_LEDGER_ALLOWANCE,
               "a new client can pay one job of the largest reward");

_Static_assert(CHORUS_LEDGER_BLOCK_HEADER_BYTES + 16 * CHORUS_LEDGER_ENTRY_BYTES_MAX + CHORUS_SIG_BYTES <=
                   CHORUS_RAFT_ENTRY_MAX,
               "a ledger block of 16 maximal entries must fit in one Raft log entry");

/*
 * Durability (docs/dispatch.md, docs/ledger-node.md).  The ack outbox never
 * drops an ack: past the high-water mark of open acks a node refuses new
 * submits (503, "ledger lagging") until the outbox drains to the low-water
 * mark.  Each database's integrity check at open stops after a time bound.
 */
#define CHORUS_OUTBOX_HIGH        100000   /* open acks (about 1.5 KiB each) */
#define CHORUS_OUTBOX_HIGH_MAX    10000000 /* --outbox-high, at most */
#define CHORUS_OUTBOX_LOW_PERCENT 80       /* submits accepted again at this share of the mark */
#define CHORUS_STORE_CHECK_MS     10000    /* PRAGMA quick_check at open, per database */

_Static_assert(CHORUS_OUTBOX_HIGH <= CHORUS_OUTBOX_HIGH_MAX, "the default is a valid --outbox-high");
/* A client's open acks tracked for its floor: every outbox mark, and the jobs in flight. */
#define CHORUS_ACKS_OPEN_MAX      (CHORUS_OUTBOX_HIGH_MAX + CHORUS_JOBS_INFLIGHT_MAX)
_Static_assert(CHORUS_LEDGER_CLIENT_OPEN_MAX >= 10 * CHORUS_OUTBOX_HIGH &&
                   CHORUS_LEDGER_CLIENT_OPEN_MAX <= CHORUS_LEDGER_JOBS_MAX,
               "a client's window holds ten outboxes at their default mark");
_Static_assert(CHORUS_OUTBOX_LOW_PERCENT < 100, "the low-water mark is below the high one");
_Static_assert(CHORUS_OUTBOX_HIGH_MAX <= 0x7fffffff / 100, "high * percent fits easily");
_Static_assert(CHORUS_JOBS_INFLIGHT_MAX < CHORUS_OUTBOX_HIGH,
               "the jobs in flight when submits stop fit well past the mark (nothing is dropped)");

/* GET /v1/events (src/node/api-events.c): Server-Sent Events to a few watchers. */
#define CHORUS_EVENTS_SUBS_MAX     32            /* streams open at once; more: 503 */
#define CHORUS_EVENTS_QUEUE_BYTES  (256 * 1024)  /* one watcher's unsent events: past it, dropped */
#define CHORUS_EVENTS_SNDBUF       (64 * 1024)   /* its socket's send buffer (the kernel doubles it) */
#define CHORUS_EVENTS_TEXT_MAX     4096          /* one event as sent (longer log lines are cut) */
#define CHORUS_EVENTS_KEEPALIVE_MS 15000         /* a comment line when nothing else was sent */
_Static_assert(CHORUS_EVENTS_TEXT_MAX * 16 <= CHORUS_EVENTS_QUEUE_BYTES,
               "a watcher that keeps up is never dropped for one burst of events");

/* Texts a node signs with one signature in one turn of its loop (sigbatch.c): past it, a batch is signed at once. */
#define CHORUS_SIGBATCH_MAX 256
_Static_assert(CHORUS_SIGBATCH_MAX <= CHORUS_MERKLE_LEAVES_MAX, "a batch is one Merkle tree");
/* Verified batch signatures a verifier remembers (batchsig.h): a voter's
 * cache; a direct-mapped table of 32-byte keys. */
#define CHORUS_BATCHSIG_CACHE_SLOTS_MAX (1u << 16)
#define CHORUS_BATCHSIG_CACHE_SLOTS     4096
_Static_assert((CHORUS_BATCHSIG_CACHE_SLOTS & (CHORUS_BATCHSIG_CACHE_SLOTS - 1)) == 0 &&
                   CHORUS_BATCHSIG_CACHE_SLOTS <= CHORUS_BATCHSIG_CACHE_SLOTS_MAX,
               "the cache's slot count is a power of two within its bound");

#endif

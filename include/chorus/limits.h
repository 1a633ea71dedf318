/*
 * Every bound chorus keeps, in one place.  Input over a bound is rejected
 * (counted, logged at debug level); reaching a bound internally is a bug and
 * is asserted.  Relations between bounds are checked at compile time.
 */
#ifndef CHORUS_LIMITS_H
#define CHORUS_LIMITS_H

/* Wire. */
#define CHORUS_WIRE_VERSION       2             /* 2: compact record digests */
#define CHORUS_FRAME_MAX          (64 * 1024)   /* one fabric frame, header to signature */
#define CHORUS_FRAME_HEADER       56
#define CHORUS_SIG_BYTES          64
#define CHORUS_PK_BYTES           32
#define CHORUS_SK_BYTES           64
#define CHORUS_ID_HEX             (2 * CHORUS_PK_BYTES)
#define CHORUS_ID_SHORT           10            /* hex digits shown in logs and tables */
#define CHORUS_BODY_MAX           (CHORUS_FRAME_MAX - CHORUS_FRAME_HEADER - CHORUS_SIG_BYTES)

/* Node records. */
#define CHORUS_RECORD_MAX         1536          /* signed record text */
#define CHORUS_NAME_MAX           63
#define CHORUS_ADDR_MAX           127
#define CHORUS_TAG_MAX            31            /* one role or capability name */
#define CHORUS_ROLES_MAX          4
#define CHORUS_CAPS_MAX           16

/* Membership and gossip. */
#define CHORUS_MEMBERS_MAX        16384
#define CHORUS_RUMORS_MAX         4096          /* queued broadcasts per node */
#define CHORUS_PIGGYBACK_BYTES    8192          /* rumors carried on a ping or ack */
#define CHORUS_GOSSIP_BYTES       32768         /* rumors carried on one gossip frame */
#define CHORUS_SYNC_BYTES         49152         /* members carried on one sync frame */
#define CHORUS_SEEN_MAX           8192          /* recent frame signatures kept for replay drop */
#define CHORUS_SEEDS_MAX          16            /* --join addresses */
#define CHORUS_INDIRECT_MAX       8             /* helpers asked for an indirect probe */
#define CHORUS_PROBES_MAX         64            /* probes and relayed probes in flight */
#define CHORUS_LEAVE_FANOUT       32            /* members told directly on leave */
#define CHORUS_HEALTH_MAX         8             /* Lifeguard local health multiplier ceiling */
#define CHORUS_WANT_MAX           64            /* records asked for in one want frame */
#define CHORUS_DIGEST_ID_HEX      16            /* id prefix in a record digest (64 bits) */
#define CHORUS_RECONNECT_MAX      8             /* dead members pinged per reconnect interval */
#define CHORUS_RECONNECT_SHIFT    2             /* reconnect backoff: 1, 2, then every 4 intervals */

_Static_assert(CHORUS_RECORD_MAX * 2 + 256 < CHORUS_PIGGYBACK_BYTES,
               "a ping must be able to carry at least one record rumor");
_Static_assert(CHORUS_GOSSIP_BYTES + 1024 < CHORUS_BODY_MAX,
               "a gossip frame must fit in a frame body");
_Static_assert(CHORUS_SYNC_BYTES + 1024 < CHORUS_BODY_MAX,
               "a sync frame must fit in a frame body");
_Static_assert(CHORUS_ID_HEX + CHORUS_NAME_MAX + CHORUS_ADDR_MAX +
                   (CHORUS_ROLES_MAX + CHORUS_CAPS_MAX) * (CHORUS_TAG_MAX + 3) + 200 <
               CHORUS_RECORD_MAX,
               "a full record must fit in CHORUS_RECORD_MAX");

#endif

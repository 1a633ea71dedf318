/*
 * Configuration: command-line flags and an optional config file.
 *
 * Both set the same keys (the long flag names), through config_set(), so a
 * value is checked the same way wherever it comes from.  The file is read
 * first, then the flags are applied over it: a flag wins over the file, and
 * for the repeatable keys (join, role, worker, share) any flag replaces the
 * file's whole list.  Config file lines are `key value` or `key = value`;
 * `#` starts a comment; an unknown key or a bad value is an error naming
 * file:line.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "node.h"

/* Options without a letter of their own (getopt_long's val, beyond any char). */
#define CONFIG_OPT_HTTP_INSECURE 0x101
#define CONFIG_OPT_HTTP_TLS      0x102
#define CONFIG_OPT_PRINT_ID      0x110
#define CONFIG_OPT_ADVERTISE     0x111
#define CONFIG_OPT_LOG_LEVEL     0x112
#define CONFIG_OPT_LOG_STDERR    0x113

static const struct option config_long_options[] = {
	{ "advertise", required_argument, NULL, CONFIG_OPT_ADVERTISE },
	{ "bootstrap-expect", required_argument, NULL, 'b' },
	{ "capacity", required_argument, NULL, 'c' },
	{ "config", required_argument, NULL, 'f' },
	{ "data-dir", required_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'H' },
	{ "http", required_argument, NULL, 'a' },
	{ "insecure-open", no_argument, NULL, 'I' },
	{ "http-insecure", no_argument, NULL, CONFIG_OPT_HTTP_INSECURE },
	{ "http-tls", required_argument, NULL, CONFIG_OPT_HTTP_TLS },
	{ "join", required_argument, NULL, 'j' },
	{ "keyring", required_argument, NULL, 'k' },
	{ "listen", required_argument, NULL, 'l' },
	{ "log-file", required_argument, NULL, 'L' },
	{ "log-format", required_argument, NULL, 'F' },
	{ "log-level", required_argument, NULL, CONFIG_OPT_LOG_LEVEL },
	{ "log-stderr", no_argument, NULL, CONFIG_OPT_LOG_STDERR },
	{ "name", required_argument, NULL, 'N' },
	{ "offer-window-ms", required_argument, NULL, 'o' },
	{ "outbox-high", required_argument, NULL, 'x' },
	{ "queue-timeout", required_argument, NULL, 'q' },
	{ "rejoin", no_argument, NULL, 'R' },
	{ "role", required_argument, NULL, 'r' },
	{ "share", required_argument, NULL, 'S' },
	{ "snapshot-every", required_argument, NULL, 's' },
	{ "tag", required_argument, NULL, 't' },
	{ "version", no_argument, NULL, 'V' },
	{ "voter", no_argument, NULL, 'O' },
	{ "voters", required_argument, NULL, 'W' },
	{ "print-id", no_argument, NULL, CONFIG_OPT_PRINT_ID },
	{ "worker", required_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};

/* The synopsis mirrors chorusd.8; `full` adds one line per option (--help). */
void
config_usage(FILE *fp, int full)
{
	fprintf(fp,
	    "usage: chorusd [-nv] [--advertise URL] [--bootstrap-expect N] [--capacity N]\n"
	    "               [--config FILE]\n"
	    "               [--data-dir DIR] [--http HOST:PORT] [--http-insecure]\n"
	    "               [--http-tls CERT,KEY] [--insecure-open] [--join URL]\n"
	    "               [--keyring FILE] [--listen URL]\n"
	    "               [--log-file FILE] [--log-format text|json]\n"
	    "               [--log-level error|warn|info|debug|trace] [--log-stderr]\n"
	    "               [--name NAME] [--offer-window-ms MS] [--outbox-high N]\n"
	    "               [--queue-timeout SECONDS] [--rejoin] [--role ROLE]\n"
	    "               [--share CLIENT_ID=WEIGHT] [--snapshot-every N]\n"
	    "               [--tag KEY=VALUE] [--voter] [--voters ID,...]\n"
	    "               [--worker KIND[=COMMAND]]\n"
	    "       chorusd --print-id [--data-dir DIR]\n"
	    "       chorusd --help | --version\n");
	if (!full)
		return;
	fprintf(fp,
	    "\n"
	    "  --advertise URL         fabric address other nodes dial, published in the\n"
	    "                          record (tcp://HOST:PORT, not a wildcard); default:\n"
	    "                          --listen, or for a wildcard --listen the address of\n"
	    "                          the default route's interface (chorusd(8))\n"
	    "  --bootstrap-expect N    with --voter: form the first ledger configuration once\n"
	    "                          N voter candidates (1..9) see each other\n"
	    "  --capacity N            jobs this node runs at once (default 1)\n"
	    "  --config FILE           read settings from FILE (flags win)\n"
	    "  --data-dir DIR          node.key and state (default ~/.local/share/chorus,\n"
	    "                          /var/lib/chorus for root)\n"
	    "  --http HOST:PORT        HTTP API address (default " NODE_DEFAULT_HTTP ")\n"
	    "  --insecure-open         run without a network key: admits any node that\n"
	    "                          connects (see chorusd(8), SECURITY)\n"
	    "  --http HOST:PORT        HTTP API address (default " NODE_DEFAULT_HTTP ");\n"
	    "                          beyond loopback only with --http-tls or\n"
	    "                          --http-insecure\n"
	    "  --http-insecure         allow --http beyond loopback, in clear (the token\n"
	    "                          crosses the network readable: chorusd(8))\n"
	    "  --http-tls CERT,KEY     serve the API over TLS (1.2 or 1.3) with the PEM\n"
	    "                          certificate chain CERT and its key KEY (mode 0600);\n"
	    "                          then --http may be beyond loopback\n"
	    "  --join URL              seed to join through (repeatable)\n"
	    "  --keyring FILE          network keys, the first primary (chorus keygen);\n"
	    "                          a node needs --keyring or --insecure-open\n"
	    "  --listen URL            fabric address (default " NODE_DEFAULT_LISTEN ")\n"
	    "  --log-file FILE         log to FILE instead of stderr (reopened on SIGHUP)\n"
	    "  --log-format text|json  log line format (default text)\n"
	    "  --log-level LEVEL       error, warn, info (default: every gossip and job\n"
	    "                          event), debug or trace\n"
	    "  --log-stderr            with --log-file: log to stderr too\n"
	    "  --name NAME             node name (default: the short node id)\n"
	    "  --offer-window-ms MS    how long a job collects offers at most (default 100)\n"
	    "  --outbox-high N         refuse submits (503) while over N acks wait for the\n"
	    "                          ledger, until back under 4N/5 (advanced; default 100000)\n"
	    "  --queue-timeout SECONDS how long a job may wait for a slot unless its submit\n"
	    "                          says (1..86400; default 600)\n"
	    "  --rejoin                voter whose raft.db was lost: vote again, once the\n"
	    "                          others have removed it (chorusd(8), DAMAGE)\n"
	    "  --role ROLE             role stored in the node record (repeatable)\n"
	    "  --share CLIENT_ID=WEIGHT  a worker's fair share for that client's jobs\n"
	    "                          (weight 1..1000, default 1; repeatable)\n"
	    "  --snapshot-every N      voter: compact the Raft log every N applied entries\n"
	    "                          (advanced; default 1024, 1..32768)\n"
	    "  --tag KEY=VALUE         tag stored in the node record, for submit --where\n"
	    "                          (repeatable, at most 8; KEY 1..15, VALUE 1..23 of\n"
	    "                          A-Z a-z 0-9 . _ -)\n"
	    "  --voter                 be a ledger voter candidate (Raft; state in raft.db)\n"
	    "  --voters ID,...         the voters the operator chose (node ids, 16+ hex\n"
	    "                          digits): only they form the first set and are added;\n"
	    "                          others need `chorus ledger add-voter`; required with\n"
	    "                          --bootstrap-expect 2 or more\n"
	    "  --print-id              print this node's id (making its key if there is none\n"
	    "                          yet) and exit: what a voters list names\n"
	    "  --worker KIND[=COMMAND] run jobs of KIND: built-in echo, sha256, sleep, fail,\n"
	    "                          or COMMAND via /bin/sh (payload on stdin, result on\n"
	    "                          stdout); repeatable\n"
	    "  -n                      check everything a start would, create nothing, exit\n"
	    "  -v                      more verbose: -v is --log-level debug, -vv trace\n"
	    "  --help                  print this help and exit\n"
	    "  --version               print the version and exit\n");
}

void
config_defaults(struct node_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->listen, sizeof cfg->listen, "%s", NODE_DEFAULT_LISTEN);
	snprintf(cfg->http, sizeof cfg->http, "%s", NODE_DEFAULT_HTTP);
	snprintf(cfg->http_host, sizeof cfg->http_host, "127.0.0.1");
	cfg->http_port = 7480;
	cfg->capacity = 1;
	cfg->outbox_high = CHORUS_OUTBOX_HIGH;
	cfg->log_format = LOG_FORMAT_TEXT;
	cfg->log_level = CORE_LOG_INFO;
}

/* data dir default: $HOME/.local/share/chorus, /var/lib/chorus for root. */
static int
config_default_data_dir(struct node_config *cfg, char *err, size_t errlen)
{
	const char *home = getenv("HOME");
	int n;

	if (geteuid() == 0)
		n = snprintf(cfg->data_dir, sizeof cfg->data_dir, "/var/lib/chorus");
	else if (home != NULL && home[0] == '/')
		n = snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s/.local/share/chorus", home);
	else {
		snprintf(err, errlen, "HOME is not set: give --data-dir");
		return -EINVAL;
	}
	if (n < 0 || (size_t)n >= sizeof cfg->data_dir) {
		snprintf(err, errlen, "HOME is too long: give --data-dir");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Names and roles: short, printable, no spaces (they appear in log fields). */
static int
config_check_word(const char *value, size_t max)
{
	size_t n = strlen(value);
	if (n == 0 || n > max)
		return -1;
	for (const char *p = value; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-", *p) == NULL)
			return -1;
	return 0;
}

static int
config_set_http(struct node_config *cfg, const char *value, char *err, size_t errlen)
{
	char host[NODE_HOST_MAX + 1];
	const char *colon = strrchr(value, ':');
	char *end;

	if (colon == NULL || colon == value || strlen(value) >= sizeof cfg->http) {
		snprintf(err, errlen, "bad address '%s' (want HOST:PORT)", value);
		return -EINVAL;
	}
	size_t hn = (size_t)(colon - value);
	if (value[0] == '[' && hn >= 2 && value[hn - 1] == ']') {  /* [::1]:7480 */
		value++;
		hn -= 2;
	}
	if (hn == 0 || hn >= sizeof host) {
		snprintf(err, errlen, "bad host in '%s'", value);
		return -EINVAL;
	}
	memcpy(host, value, hn);
	host[hn] = '\0';
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || colon[1] == '\0' || port == 0 || port > 65535) {
		snprintf(err, errlen, "bad port in '%s' (want 1..65535)", value);
		return -EINVAL;
	}
	snprintf(cfg->http, sizeof cfg->http, "%s", value[-1] == '[' ? value - 1 : value);
	snprintf(cfg->http_host, sizeof cfg->http_host, "%s", host);
	cfg->http_port = (uint16_t)port;
	return 0;
}

static int
config_set_path(char *dst, size_t dstlen, const char *value, char *err, size_t errlen)
{
	if (value[0] == '\0' || strlen(value) >= dstlen) {
		snprintf(err, errlen, "bad path '%s'", value);
		return -EINVAL;
	}
	snprintf(dst, dstlen, "%s", value);
	return 0;
}


/*
 * --voters ID,... (and the config key `voters`): node ids of at least 16 hex
 * digits (the full 64-digit key is fine); the first 16 are the Raft id.
 * Shorter prefixes are refused: a prefix could match a stranger's key.
 */
static int
config_voters(struct node_config *cfg, const char *value, char *err, size_t errlen)
{
	const char *p = value;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		char hex[17];

		if (len < 16 || strspn(p, "0123456789abcdefABCDEF") < len) {
			snprintf(err, errlen, "bad voters '%s' (want node ids of 16+ hex digits, comma-separated)",
			         value);
			return -EINVAL;
		}
		if (cfg->nvoters >= NODE_VOTERS_MAX) {
			snprintf(err, errlen, "too many voters (at most %d)", NODE_VOTERS_MAX);
			return -EINVAL;
		}
		memcpy(hex, p, 16);
		hex[16] = '\0';
		cfg->voters[cfg->nvoters++] = strtoull(hex, NULL, 16);
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* A whole number in min..max; 0 or -EINVAL. */
static int
config_number(const char *value, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0' || value[0] == '\0' || value[0] == '-' || *out < min ||
	    *out > max)
		return -EINVAL;
	return 0;
}

/* `share CLIENT_ID=WEIGHT`: a full node id (64 hex digits) and a weight. */
static int
config_set_share(struct node_config *cfg, const char *value, char *err, size_t errlen)
{
	const char *eq = strchr(value, '=');
	unsigned long w;

	if (eq == NULL || eq - value != CHORUS_ID_HEX ||
	    strspn(value, "0123456789abcdef") != CHORUS_ID_HEX ||
	    config_number(eq + 1, 1, CHORUS_SHARE_WEIGHT_MAX, &w) != 0) {
		snprintf(err, errlen, "bad share '%.100s' (want CLIENT_ID=WEIGHT: the client's %d-hex-"
		         "digit node id, weight 1..%d)", value, CHORUS_ID_HEX, CHORUS_SHARE_WEIGHT_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nshares; i++)
		if (strncmp(cfg->shares[i].client, value, CHORUS_ID_HEX) == 0) {
			snprintf(err, errlen, "client %.16s given two shares", value);
			return -EINVAL;
		}
	if (cfg->nshares >= CHORUS_SHARES_MAX) {
		snprintf(err, errlen, "too many shares (at most %d)", CHORUS_SHARES_MAX);
		return -EINVAL;
	}
	snprintf(cfg->shares[cfg->nshares].client, sizeof cfg->shares[0].client, "%.*s",
	         CHORUS_ID_HEX, value);
	cfg->shares[cfg->nshares++].weight = (uint32_t)w;
	return 0;
}

/* The queue's keys (docs/dispatch.md, "The queue"). */
static int
config_set_queue(struct node_config *cfg, const char *key, const char *value, char *err,
                 size_t errlen)
{
	unsigned long v;

	if (strcmp(key, "share") == 0)
		return config_set_share(cfg, value, err, errlen);
	if (config_number(value, 1, CHORUS_QUEUE_TIMEOUT_MS_MAX / 1000, &v) != 0) {
		snprintf(err, errlen, "bad queue-timeout '%s' (want 1..%u seconds)", value,
		         CHORUS_QUEUE_TIMEOUT_MS_MAX / 1000);
		return -EINVAL;
	}
	cfg->queue_timeout_s = (uint32_t)v;
	return 0;
}

/* CERT,KEY: two PEM files (api-tls.c loads and checks them, at start and for -n). */
static int
config_set_tls(struct node_config *cfg, const char *value, char *err, size_t errlen)
{
	const char *comma = strchr(value, ',');
	size_t n = comma != NULL ? (size_t)(comma - value) : 0;

	if (comma == NULL || n == 0 || comma[1] == '\0' || strchr(comma + 1, ',') != NULL) {
		snprintf(err, errlen, "bad value '%s' (want CERT,KEY: two PEM files)", value);
		return -EINVAL;
	}
	if (n >= sizeof cfg->http_tls_cert || strlen(comma + 1) >= sizeof cfg->http_tls_key) {
		snprintf(err, errlen, "path too long in '%s'", value);
		return -EINVAL;
	}
	snprintf(cfg->http_tls_cert, sizeof cfg->http_tls_cert, "%.*s", (int)n, value);
	snprintf(cfg->http_tls_key, sizeof cfg->http_tls_key, "%s", comma + 1);
	return 0;
}

/* Set one key.  err gets a message without the key's origin. */
int
config_set(struct node_config *cfg, const char *key, const char *value, char *err,
           size_t errlen)
{
	if (strcmp(key, "data-dir") == 0)
		return config_set_path(cfg->data_dir, sizeof cfg->data_dir, value, err, errlen);
	if (strcmp(key, "log-file") == 0)
		return config_set_path(cfg->log_file, sizeof cfg->log_file, value, err, errlen);
	if (strcmp(key, "http") == 0)
		return config_set_http(cfg, value, err, errlen);
	if (strcmp(key, "keyring") == 0)
		return config_set_path(cfg->keyring, sizeof cfg->keyring, value, err, errlen);
	if (strcmp(key, "insecure-open") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			snprintf(err, errlen, "bad insecure-open '%s' (want yes or no)", value);
			return -EINVAL;
		}
		cfg->insecure_open = strcmp(value, "yes") == 0;
		return 0;
	}
	if (strcmp(key, "http-insecure") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			snprintf(err, errlen, "bad http-insecure '%s' (want yes or no)", value);
			return -EINVAL;
		}
		cfg->http_insecure = strcmp(value, "yes") == 0;
		return 0;
	}
	if (strcmp(key, "http-tls") == 0)
		return config_set_tls(cfg, value, err, errlen);
	if (strcmp(key, "listen") == 0) {
		if (fabric_check_url(value, err, errlen) != 0)
			return -EINVAL;
		snprintf(cfg->listen, sizeof cfg->listen, "%s", value);
		return 0;
	}
	if (strcmp(key, "advertise") == 0) {
		if (advertise_check(value, err, errlen) != 0)
			return -EINVAL;
		snprintf(cfg->advertise, sizeof cfg->advertise, "%s", value);
		return 0;
	}
	if (strcmp(key, "join") == 0) {
		if (cfg->njoins >= CHORUS_SEEDS_MAX) {
			snprintf(err, errlen, "too many seeds (at most %d)", CHORUS_SEEDS_MAX);
			return -EINVAL;
		}
		if (fabric_check_url(value, err, errlen) != 0)
			return -EINVAL;
		snprintf(cfg->joins[cfg->njoins++], sizeof cfg->joins[0], "%s", value);
		return 0;
	}
	if (strcmp(key, "name") == 0) {
		if (config_check_word(value, CHORUS_NAME_MAX) != 0) {
			snprintf(err, errlen, "bad name '%s' (1..%d of A-Z a-z 0-9 . _ -)", value,
			         CHORUS_NAME_MAX);
			return -EINVAL;
		}
		snprintf(cfg->name, sizeof cfg->name, "%s", value);
		return 0;
	}
	if (strcmp(key, "role") == 0) {
		if (config_check_word(value, CHORUS_TAG_MAX) != 0) {
			snprintf(err, errlen, "bad role '%s' (1..%d of A-Z a-z 0-9 . _ -)", value,
			         CHORUS_TAG_MAX);
			return -EINVAL;
		}
		if (cfg->nroles >= CHORUS_ROLES_MAX) {
			snprintf(err, errlen, "too many roles (at most %d)", CHORUS_ROLES_MAX);
			return -EINVAL;
		}
		snprintf(cfg->roles[cfg->nroles++], sizeof cfg->roles[0], "%s", value);
		return 0;
	}
	if (strcmp(key, "tag") == 0) {
		struct chorus_tag t;

		if (core_tag_parse(&t, value, strlen(value)) != 0) {
			snprintf(err, errlen, "bad tag '%s' (want KEY=VALUE: KEY 1..%d, VALUE 1..%d of "
			         "A-Z a-z 0-9 . _ -)", value, CHORUS_TAG_KEY_MAX, CHORUS_TAG_VALUE_MAX);
			return -EINVAL;
		}
		for (unsigned i = 0; i < cfg->ntags; i++)
			if (strcmp(cfg->tags[i].key, t.key) == 0) {
				snprintf(err, errlen, "tag key '%s' given twice", t.key);
				return -EINVAL;
			}
		if (cfg->ntags >= CHORUS_NODE_TAGS_MAX) {
			snprintf(err, errlen, "too many tags (at most %d)", CHORUS_NODE_TAGS_MAX);
			return -EINVAL;
		}
		cfg->tags[cfg->ntags++] = t;
		return 0;
	}
	if (strcmp(key, "worker") == 0) {
		const char *eq = strchr(value, '=');
		size_t klen = eq != NULL ? (size_t)(eq - value) : strlen(value);
		char kind[CHORUS_KIND_MAX + 1];

		if (klen == 0 || klen > CHORUS_KIND_MAX) {
			snprintf(err, errlen, "bad worker '%s' (want KIND or KIND=COMMAND)", value);
			return -EINVAL;
		}
		memcpy(kind, value, klen);
		kind[klen] = '\0';
		if (config_check_word(kind, CHORUS_KIND_MAX) != 0 || (eq != NULL && eq[1] == '\0') ||
		    strlen(value) >= sizeof cfg->workers[0]) {
			snprintf(err, errlen, "bad worker '%s' (want KIND or KIND=COMMAND)", value);
			return -EINVAL;
		}
		for (unsigned i = 0; i < cfg->nworkers; i++)
			if (strncmp(cfg->workers[i], kind, klen) == 0 &&
			    (cfg->workers[i][klen] == '\0' || cfg->workers[i][klen] == '=')) {
				snprintf(err, errlen, "kind '%s' given twice", kind);
				return -EINVAL;
			}
		if (cfg->nworkers >= CHORUS_CAPS_MAX) {
			snprintf(err, errlen, "too many worker kinds (at most %d)", CHORUS_CAPS_MAX);
			return -EINVAL;
		}
		snprintf(cfg->workers[cfg->nworkers++], sizeof cfg->workers[0], "%s", value);
		return 0;
	}
	if (strcmp(key, "offer-window-ms") == 0) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (errno != 0 || *end != '\0' || value[0] == '\0' || value[0] == '-' || v < 1 ||
		    v > NODE_OFFER_WINDOW_MS_MAX) {
			snprintf(err, errlen, "bad offer window '%s' (want 1..%d ms)", value,
			         NODE_OFFER_WINDOW_MS_MAX);
			return -EINVAL;
		}
		cfg->offer_window_ms = (uint32_t)v;
		return 0;
	}
	if (strcmp(key, "capacity") == 0) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (errno != 0 || *end != '\0' || value[0] == '\0' || value[0] == '-' ||
		    v > NODE_CAPACITY_MAX) {
			snprintf(err, errlen, "bad capacity '%s' (want 0..%d)", value,
			         NODE_CAPACITY_MAX);
			return -EINVAL;
		}
		cfg->capacity = (uint32_t)v;
		return 0;
	}
	if (strcmp(key, "queue-timeout") == 0 || strcmp(key, "share") == 0)
		return config_set_queue(cfg, key, value, err, errlen);
	if (strcmp(key, "voter") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			snprintf(err, errlen, "bad voter '%s' (want yes or no)", value);
			return -EINVAL;
		}
		cfg->voter = strcmp(value, "yes") == 0;
		return 0;
	}
	if (strcmp(key, "snapshot-every") == 0) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (errno != 0 || *end != '\0' || value[0] == '\0' || value[0] == '-' || v < 1 ||
		    v > NODE_SNAPSHOT_EVERY_MAX) {
			snprintf(err, errlen, "bad snapshot-every '%s' (want 1..%d)", value,
			         NODE_SNAPSHOT_EVERY_MAX);
			return -EINVAL;
		}
		cfg->snapshot_every = (uint32_t)v;
		return 0;
	}
	if (strcmp(key, "outbox-high") == 0) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (errno != 0 || *end != '\0' || value[0] == '\0' || value[0] == '-' || v < 1 ||
		    v > CHORUS_OUTBOX_HIGH_MAX) {
			snprintf(err, errlen, "bad outbox-high '%s' (want 1..%d)", value,
			         CHORUS_OUTBOX_HIGH_MAX);
			return -EINVAL;
		}
		cfg->outbox_high = (uint32_t)v;
		return 0;
	}
	if (strcmp(key, "voters") == 0)
		return config_voters(cfg, value, err, errlen);
	if (strcmp(key, "rejoin") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			snprintf(err, errlen, "bad rejoin '%s' (want yes or no)", value);
			return -EINVAL;
		}
		cfg->rejoin = strcmp(value, "yes") == 0;
		return 0;
	}
	if (strcmp(key, "bootstrap-expect") == 0) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (errno != 0 || *end != '\0' || value[0] == '\0' || value[0] == '-' || v < 1 ||
		    v > NODE_BOOTSTRAP_MAX) {
			snprintf(err, errlen, "bad bootstrap-expect '%s' (want 1..%d)", value,
			         NODE_BOOTSTRAP_MAX);
			return -EINVAL;
		}
		cfg->bootstrap_expect = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "log-level") == 0) {
		int level = log_level_parse(value);

		if (level < 0) {
			snprintf(err, errlen, "bad log level '%s' (want error, warn, info, debug or trace)",
			         value);
			return -EINVAL;
		}
		cfg->log_level = level;
		return 0;
	}
	if (strcmp(key, "log-stderr") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			snprintf(err, errlen, "bad log-stderr '%s' (want yes or no)", value);
			return -EINVAL;
		}
		cfg->log_stderr = strcmp(value, "yes") == 0;
		return 0;
	}
	if (strcmp(key, "log-format") == 0) {
		if (strcmp(value, "text") == 0)
			cfg->log_format = LOG_FORMAT_TEXT;
		else if (strcmp(value, "json") == 0)
			cfg->log_format = LOG_FORMAT_JSON;
		else {
			snprintf(err, errlen, "bad log format '%s' (want text or json)", value);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown key '%s'", key);
	return -ENOENT;
}

static char *
config_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/*
 * Split one line in place into key and value (*key NULL for a blank or
 * comment line).  Returns 0 or -EINVAL (a key without a value) with err.
 */
int
config_split_line(char *line, char **key_out, char **value_out, char *err, size_t errlen)
{
	char *hash = strchr(line, '#');
	if (hash != NULL && (hash == line || isspace((unsigned char)hash[-1])))
		*hash = '\0';
	char *key = config_trim(line);
	*key_out = *value_out = NULL;
	if (*key == '\0')
		return 0;
	char *p = key;
	while (*p != '\0' && !isspace((unsigned char)*p) && *p != '=')
		p++;
	char *value = p;
	if (*p != '\0') {
		char sep = *p;  /* `key value`, `key=value` or `key = value` */
		*p = '\0';
		value = config_trim(p + 1);
		if (sep != '=' && *value == '=')
			value = config_trim(value + 1);
	}
	size_t vn = strlen(value);
	if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
		value[vn - 1] = '\0';
		value++;
	}
	if (*value == '\0') {
		snprintf(err, errlen, "%s: missing value", key);
		return -EINVAL;
	}
	*key_out = key;
	*value_out = value;
	return 0;
}

/* One line, comments and blanks already allowed for.  Returns 0 or -errno. */
static int
config_load_line(struct node_config *cfg, char *line, char *err, size_t errlen)
{
	char *key, *value;
	int r = config_split_line(line, &key, &value, err, errlen);

	if (r != 0 || key == NULL)
		return r;
	return config_set(cfg, key, value, err, errlen);
}

int
config_load_file(struct node_config *cfg, const char *path, char *err, size_t errlen)
{
	char line[NODE_CONFIG_LINE_MAX + 2], msg[NODE_ERR_MAX];
	unsigned lineno = 0;
	int r = 0;

	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	while (fgets(line, sizeof line, fp) != NULL) {
		lineno++;
		size_t n = strlen(line);
		if (n > 0 && line[n - 1] != '\n' && !feof(fp)) {
			snprintf(err, errlen, "%s:%u: line too long (max %d)", path, lineno,
			         NODE_CONFIG_LINE_MAX);
			r = -EINVAL;
			break;
		}
		if ((r = config_load_line(cfg, line, msg, sizeof msg)) != 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			break;
		}
	}
	if (r == 0 && ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		r = -EIO;
	}
	fclose(fp);
	return r;
}

/* A voter carries the role "voter" and keeps a slot free for "leader". */
static int
config_voter_roles(struct node_config *cfg, char *err, size_t errlen)
{
	unsigned have = 0;

	if (cfg->bootstrap_expect > 0 && !cfg->voter) {
		snprintf(err, errlen, "--bootstrap-expect needs --voter");
		return -EINVAL;
	}
	/*
	 * The voters are chosen, not announced (docs/ledger-node.md): a first
	 * set of more than this node is formed only among nodes the operator
	 * listed, so a member that merely says --voter never gets a vote.
	 */
	if (cfg->bootstrap_expect > 1 && cfg->nvoters < cfg->bootstrap_expect) {
		snprintf(err, errlen, "--bootstrap-expect %u needs --voters listing at least %u node "
		         "ids (the voters you chose; `chorusd --print-id --data-dir DIR` prints a "
		         "node's id)", cfg->bootstrap_expect, cfg->bootstrap_expect);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nroles; i++) {
		if (strcmp(cfg->roles[i], "leader") == 0) {
			snprintf(err, errlen, "role 'leader' is the ledger leader's to publish");
			return -EINVAL;
		}
		have |= strcmp(cfg->roles[i], "voter") == 0;
	}
	if (!cfg->voter)
		return 0;
	if (cfg->nroles + !have + 1 > CHORUS_ROLES_MAX) {
		snprintf(err, errlen, "a voter has at most %d other roles", CHORUS_ROLES_MAX - 2);
		return -EINVAL;
	}
	if (!have)
		snprintf(cfg->roles[cfg->nroles++], sizeof cfg->roles[0], "voter");
	return 0;
}

/*
 * Without TLS the API's token crosses the wire in clear and the API has no
 * other guard, so it listens beyond loopback only over TLS or when the
 * operator says so (--http-insecure).
 */
static int
config_http_policy(struct node_config *cfg, char *err, size_t errlen)
{
	struct in_addr a4;
	struct in6_addr a6;
	const char *h = cfg->http_host;

	cfg->http_loopback = strcasecmp(h, "localhost") == 0 ||
	                     (inet_pton(AF_INET, h, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
	                     (inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6));
	cfg->http_wildcard = (inet_pton(AF_INET, h, &a4) == 1 && a4.s_addr == htonl(INADDR_ANY)) ||
	                     (inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6));
	if (cfg->http_loopback || cfg->http_insecure || cfg->http_tls_cert[0] != '\0')
		return 0;
	snprintf(err, errlen, "--http %s: refusing to serve the API beyond loopback "
	         "(anyone on the network could read it, and the token crosses it in clear); "
	         "give --http-tls CERT,KEY, or --http-insecure to do it anyway", cfg->http);
	return -EPERM;
}

/*
 * Parse argv into cfg: defaults, then the config file, then the flags.
 * Returns CONFIG_RUN, CONFIG_EXIT_OK (help or version printed), or
 * CONFIG_ERR / CONFIG_ERR_USAGE with a one-line message in err.
 */
int
config_parse(struct node_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct { const char *key, *value; } flags[64];
	unsigned nflags = 0, joins = 0, roles = 0, workers = 0, shares = 0, tags = 0;
	const char *config_file = NULL;
	char msg[NODE_ERR_MAX];
	int verbose = 0, check_only = 0, print_id = 0, ch, idx, r;

	config_defaults(cfg);
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":nv", config_long_options, &idx)) != -1) {
		switch (ch) {
		case 'n': check_only = 1; break;
		case CONFIG_OPT_PRINT_ID: print_id = 1; break;
		case 'v': verbose++; break;
		case 'H': config_usage(stdout, 1); return CONFIG_EXIT_OK;
		case 'V': printf("chorusd %s\n", CHORUS_VERSION); return CONFIG_EXIT_OK;
		case 'f': config_file = optarg; break;
		case ':':
			snprintf(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
			return CONFIG_ERR_USAGE;
		case '?':
			if (optopt != 0)
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			else
				snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return CONFIG_ERR_USAGE;
		case 'O': /* --voter is `voter yes`, --rejoin `rejoin yes`, */
		case 'R': /* --insecure-open `insecure-open yes` */
		case 'I':
		case CONFIG_OPT_LOG_STDERR:
		case CONFIG_OPT_HTTP_INSECURE: optarg = (char *)"yes";
			/* fall through */
		default:
			if (nflags >= sizeof flags / sizeof flags[0]) {
				snprintf(err, errlen, "too many options");
				return CONFIG_ERR_USAGE;
			}
			flags[nflags].key = config_long_options[idx].name;
			flags[nflags++].value = optarg;
			break;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return CONFIG_ERR_USAGE;
	}
	if (config_file != NULL) {
		if (config_load_file(cfg, config_file, err, errlen) != 0)
			return CONFIG_ERR;
		snprintf(cfg->config_file, sizeof cfg->config_file, "%s", config_file);
	}
	for (unsigned i = 0; i < nflags; i++) {
		/* A repeatable flag replaces the file's list rather than adding to it. */
		if (strcmp(flags[i].key, "join") == 0 && joins++ == 0)
			cfg->njoins = 0;
		if (strcmp(flags[i].key, "role") == 0 && roles++ == 0)
			cfg->nroles = 0;
		if (strcmp(flags[i].key, "worker") == 0 && workers++ == 0)
			cfg->nworkers = 0;
		if (strcmp(flags[i].key, "share") == 0 && shares++ == 0)
			cfg->nshares = 0;
		if (strcmp(flags[i].key, "tag") == 0 && tags++ == 0)
			cfg->ntags = 0;
		if ((r = config_set(cfg, flags[i].key, flags[i].value, msg, sizeof msg)) != 0) {
			snprintf(err, errlen, "--%s: %s", flags[i].key, msg);
			return CONFIG_ERR_USAGE;
		}
	}
	if (config_voter_roles(cfg, err, errlen) != 0)
		return CONFIG_ERR_USAGE;
	cfg->print_id = print_id;
	if (print_id) /* the node's id, for a voters list: no keyring or policy needed */
		return cfg->data_dir[0] == '\0' && config_default_data_dir(cfg, err, errlen) != 0 ?
		       CONFIG_ERR : CONFIG_RUN;
	/* Secure by default: running open must be said (docs/security.md). */
	if (cfg->keyring[0] == '\0' && !cfg->insecure_open) {
		snprintf(err, errlen, "no network key: give --keyring FILE (make a key with "
		                      "`chorus keygen`), or --insecure-open to admit any node");
		return CONFIG_ERR_USAGE;
	}
	if (cfg->keyring[0] != '\0' && cfg->insecure_open) {
		snprintf(err, errlen, "--keyring and --insecure-open exclude each other");
		return CONFIG_ERR_USAGE;
	}
	if (config_http_policy(cfg, err, errlen) != 0)
		return CONFIG_ERR;
	cfg->verbose = verbose;
	if (verbose > 0) /* -v is --log-level debug, -vv trace, over the file's and the flag's */
		cfg->log_level = CORE_LOG_INFO + (verbose > 2 ? 2 : verbose);
	cfg->check_only = check_only;
	if (cfg->data_dir[0] == '\0' && config_default_data_dir(cfg, err, errlen) != 0)
		return CONFIG_ERR;
	return CONFIG_RUN;
}

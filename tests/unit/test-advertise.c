/*
 * What a node publishes as its fabric address (src/node/advertise.c): every
 * spelling of a wildcard is one, --advertise must be tcp://HOST:PORT with a
 * dialable HOST, a specific --listen is published as given, and a wildcard
 * --listen is never published (whatever this host's interfaces are: an
 * address of its own, or a refusal that says to give --advertise).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "node.h"
#include "tap.h"

static void test_wildcards(void)
{
	const char *wild[] = { "", "*", "0.0.0.0", "0", "0.0", "::", "0:0:0:0:0:0:0:0", "::0" };
	const char *not_wild[] = { "10.77.0.1", "127.0.0.1", "::1", "fd00::2", "localhost",
	                           "node1.example", "0.0.0.1" };

	for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++)
		ok(advertise_is_wildcard(wild[i]), "'%s' is a wildcard", wild[i]);
	for (size_t i = 0; i < sizeof not_wild / sizeof not_wild[0]; i++)
		ok(!advertise_is_wildcard(not_wild[i]), "'%s' is not a wildcard", not_wild[i]);
}

static void test_check(void)
{
	const char *good[] = { "tcp://10.77.0.1:7470", "tcp://[fd00::2]:7470", "tcp://node1.example:1",
	                       "tcp4://10.0.0.1:65535", "tcp6://[fd00::2]:7470" };
	const char *bad[] = { "tcp://0.0.0.0:7470", "tcp://[::]:7470", "tcp://0:7470",
	                      "ipc:///tmp/x", "tcp://h:0", "tcp://h:65536", "tcp://h", "tcp://h:x",
	                      "http://h:80", "h:7470", "", "tcp://:7470" };
	char err[256];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(advertise_check(good[i], err, sizeof err) == 0, "--advertise %s is accepted", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ok(advertise_check(bad[i], err, sizeof err) == -EINVAL && err[0] != '\0',
		   "--advertise '%s' is refused: %s", bad[i], err);
	}
}

static void test_resolve(void)
{
	char out[CHORUS_ADDR_MAX + 1], err[512];
	const char *how;
	int r;

	r = advertise_resolve("tcp://0.0.0.0:7470", "tcp://10.1.2.3:9", out, sizeof out, &how, err,
	                      sizeof err);
	ok(r == 0 && strcmp(out, "tcp://10.1.2.3:9") == 0 && strcmp(how, "advertise") == 0,
	   "--advertise wins over a wildcard --listen: %s", out);
	r = advertise_resolve("tcp://127.0.0.1:7470", "", out, sizeof out, &how, err, sizeof err);
	ok(r == 0 && strcmp(out, "tcp://127.0.0.1:7470") == 0 && strcmp(how, "listen") == 0,
	   "a specific --listen is published as given");
	r = advertise_resolve("ipc:///tmp/n1", NULL, out, sizeof out, &how, err, sizeof err);
	ok(r == 0 && strcmp(out, "ipc:///tmp/n1") == 0, "ipc:// is published as given");
	r = advertise_resolve("tcp://0.0.0.0:7470", "tcp://0.0.0.0:7470", out, sizeof out, &how,
	                      err, sizeof err);
	ok(r == -EINVAL, "a wildcard --advertise is refused here too");
	/* This host's interfaces decide which; either way no wildcard comes out. */
	r = advertise_resolve("tcp://0.0.0.0:7470", NULL, out, sizeof out, &how, err, sizeof err);
	if (r == 0)
		ok(strncmp(out, "tcp://", 6) == 0 && strstr(out, "0.0.0.0") == NULL &&
		   strcmp(out + strlen(out) - 5, ":7470") == 0 &&
		   (strcmp(how, "default-route") == 0 || strcmp(how, "first-interface") == 0),
		   "a wildcard --listen publishes an address of this host, same port: %s (%s)", out, how);
	else
		ok(r == -EADDRNOTAVAIL && strstr(err, "give --advertise") != NULL,
		   "a wildcard --listen on a host without addresses is refused: %s", err);
}

int main(void)
{
	test_wildcards();
	test_check();
	test_resolve();
	return tap_done();
}

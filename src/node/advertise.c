/*
 * advertise: the fabric address a node publishes in its record.
 *
 * Other nodes dial what a record says, so it must be an address they can
 * reach.  A wildcard listen address (tcp://0.0.0.0:P, tcp://[::]:P) says
 * "every interface" and is never published: a peer that dials 0.0.0.0 dials
 * itself.  The rule, in order (chorusd(8), --advertise):
 *
 *  1. --advertise URL, when given: tcp://HOST:PORT, HOST not a wildcard (a
 *     name is fine: peers resolve it).  The port may differ from the
 *     listen port (a forwarded port).
 *  2. --listen, when its host is not a wildcard (or it is ipc://).
 *  3. A wildcard listen: the listen port on the source address the kernel
 *     picks for the default route (a UDP socket connected to a documentation
 *     address: connect() on UDP sends nothing, it only routes); without a
 *     default route, the first address of an interface that is up, not
 *     loopback, in getifaddrs() order (IPv6: not link-local, which would
 *     need a scope).  The address family is the listen address's.
 *  4. Otherwise the node refuses to start, saying to give --advertise.
 *
 * This is the shell's business (it reads the host's routes and interfaces);
 * the core only ever sees the URL that comes out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nng/nng.h>

#include "node.h"

/* Where the default route is looked up: documentation addresses (RFC 5737, RFC 3849). */
#define ADVERTISE_PROBE_V4 "192.0.2.1"
#define ADVERTISE_PROBE_V6 "2001:db8::1"
#define ADVERTISE_PROBE_PORT 9

/* "", "*", and every spelling of 0.0.0.0 or :: (inet_aton takes "0" and "0.0" too). */
int
advertise_is_wildcard(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (host == NULL || host[0] == '\0' || strcmp(host, "*") == 0)
		return 1;
	if (inet_aton(host, &a4) != 0)
		return a4.s_addr == htonl(INADDR_ANY);
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_UNSPECIFIED(&a6);
	return 0;
}

/* The parts of a tcp URL; -EINVAL (with err) when it is not tcp://HOST:PORT. */
static int
advertise_split(const char *url, char *scheme, size_t scheme_len, char *host, size_t host_len,
                unsigned *port, char *err, size_t errlen)
{
	nng_url *u;
	int rv, good;

	if (strlen(url) > CHORUS_ADDR_MAX) {
		snprintf(err, errlen, "URL too long (max %d)", CHORUS_ADDR_MAX);
		return -EINVAL;
	}
	if ((rv = nng_url_parse(&u, url)) != 0) {
		snprintf(err, errlen, "bad URL '%s': %s", url, nng_strerror(rv));
		return -EINVAL;
	}
	const char *p = u->u_port != NULL ? u->u_port : "";
	char *end;
	long n = strtol(p, &end, 10);
	good = (strcmp(u->u_scheme, "tcp") == 0 || strcmp(u->u_scheme, "tcp4") == 0 ||
	        strcmp(u->u_scheme, "tcp6") == 0) &&
	       p[0] != '\0' && *end == '\0' && n > 0 && n <= 65535 &&
	       strlen(u->u_scheme) < scheme_len &&
	       (u->u_hostname == NULL || strlen(u->u_hostname) < host_len);
	if (good) {
		snprintf(scheme, scheme_len, "%s", u->u_scheme);
		snprintf(host, host_len, "%s", u->u_hostname != NULL ? u->u_hostname : "");
		*port = (unsigned)n;
	}
	nng_url_free(u);
	if (!good) {
		snprintf(err, errlen, "bad URL '%s' (want tcp://HOST:PORT)", url);
		return -EINVAL;
	}
	return 0;
}

/* --advertise: tcp://HOST:PORT whose HOST peers can dial (not a wildcard). */
int
advertise_check(const char *url, char *err, size_t errlen)
{
	char scheme[8], host[NODE_HOST_MAX + 1];
	unsigned port;

	if (advertise_split(url, scheme, sizeof scheme, host, sizeof host, &port, err, errlen) != 0)
		return -EINVAL;
	if (advertise_is_wildcard(host)) {
		snprintf(err, errlen, "'%s' is a wildcard address: give the address other nodes "
		         "should dial (tcp://HOST:PORT)", url);
		return -EINVAL;
	}
	return 0;
}

/* Rule 3a: the source address of the default route, or -ENETUNREACH. */
static int
advertise_default_route(int family, char *host, size_t host_len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd, r = -ENETUNREACH;

	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(ADVERTISE_PROBE_PORT);
		(void)inet_pton(AF_INET, ADVERTISE_PROBE_V4, &sin->sin_addr);
		sl = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(ADVERTISE_PROBE_PORT);
		(void)inet_pton(AF_INET6, ADVERTISE_PROBE_V6, &sin6->sin6_addr);
		sl = sizeof *sin6;
	}
	if ((fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	/* No packet leaves: connect() on a UDP socket only picks the route and source. */
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
		sl = sizeof ss;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
			const void *a = family == AF_INET ?
			                (const void *)&((struct sockaddr_in *)&ss)->sin_addr :
			                (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
			if (inet_ntop(family, a, host, (socklen_t)host_len) != NULL &&
			    !advertise_is_wildcard(host))
				r = 0;
		}
	}
	close(fd);
	return r;
}

/* Rule 3b: the first address of an up, non-loopback interface, or -EADDRNOTAVAIL. */
static int
advertise_first_interface(int family, char *host, size_t host_len)
{
	struct ifaddrs *ifs, *it;
	int r = -EADDRNOTAVAIL;

	if (getifaddrs(&ifs) != 0)
		return -errno;
	for (it = ifs; it != NULL && r != 0; it = it->ifa_next) {
		if (it->ifa_addr == NULL || it->ifa_addr->sa_family != family ||
		    !(it->ifa_flags & IFF_UP) || (it->ifa_flags & IFF_LOOPBACK))
			continue;
		const void *a;
		if (family == AF_INET) {
			a = &((const struct sockaddr_in *)it->ifa_addr)->sin_addr;
		} else {
			const struct in6_addr *a6 = &((const struct sockaddr_in6 *)it->ifa_addr)->sin6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_LOOPBACK(a6))
				continue;
			a = a6;
		}
		if (inet_ntop(family, a, host, (socklen_t)host_len) != NULL && !advertise_is_wildcard(host))
			r = 0;
	}
	freeifaddrs(ifs);
	return r;
}

/*
 * The URL to publish for a node listening on `listen`, given --advertise
 * (NULL or "" when not given), in out; 0, or -EINVAL / -EADDRNOTAVAIL with
 * a message in err.  `how` (may be NULL) names the rule that chose it.
 */
int
advertise_resolve(const char *listen, const char *advertise, char *out, size_t outlen,
                  const char **how, char *err, size_t errlen)
{
	char scheme[8], host[NODE_HOST_MAX + 1], addr[INET6_ADDRSTRLEN];
	unsigned port;
	int family, n;

	if (how != NULL)
		*how = "advertise";
	if (advertise != NULL && advertise[0] != '\0') {
		if (advertise_check(advertise, err, errlen) != 0)
			return -EINVAL;
		n = snprintf(out, outlen, "%s", advertise);
		return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
	}
	if (how != NULL)
		*how = "listen";
	/* ipc:// (tests, one host) and named or specific hosts are published as given. */
	if (strncmp(listen, "tcp", 3) != 0 ||
	    advertise_split(listen, scheme, sizeof scheme, host, sizeof host, &port, err, errlen) != 0 ||
	    !advertise_is_wildcard(host)) {
		n = snprintf(out, outlen, "%s", listen);
		return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
	}
	family = strcmp(scheme, "tcp6") == 0 || strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
	if (how != NULL)
		*how = "default-route";
	if (advertise_default_route(family, addr, sizeof addr) != 0) {
		if (how != NULL)
			*how = "first-interface";
		if (advertise_first_interface(family, addr, sizeof addr) != 0) {
			snprintf(err, errlen, "--listen %s is a wildcard address, which other nodes cannot "
			         "dial, and this host has no %s address off loopback to publish instead: "
			         "give --advertise tcp://HOST:PORT (the address other nodes should use)",
			         listen, family == AF_INET ? "IPv4" : "IPv6");
			return -EADDRNOTAVAIL;
		}
	}
	n = snprintf(out, outlen, family == AF_INET ? "%s://%s:%u" : "%s://[%s]:%u", scheme, addr, port);
	if (n < 0 || (size_t)n >= outlen || (size_t)n > CHORUS_ADDR_MAX) {
		snprintf(err, errlen, "the address to publish is too long: give --advertise");
		return -ENAMETOOLONG;
	}
	return 0;
}

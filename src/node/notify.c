/*
 * notify: tell the service manager what the node is doing (sd_notify(3)'s
 * protocol, without libsystemd).
 *
 * Under systemd with Type=notify, $NOTIFY_SOCKET names a datagram socket
 * (a path, or an abstract name written with a leading '@'); each state is
 * one datagram of newline-separated KEY=VALUE lines: READY=1 once the node
 * is up, RELOADING=1 (with MONOTONIC_USEC) when a SIGHUP re-reads the
 * configuration, then READY=1 again, and STOPPING=1 when it leaves.
 * notify_init() reads the variable once and takes it out of the
 * environment, so the worker commands chorusd starts cannot speak for it.
 * Without the variable every call is a no-op: the node runs the same by
 * hand.  A failed send is logged and otherwise ignored: the node's work
 * does not depend on the manager hearing it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "node.h"

static struct {
	struct sockaddr_un addr;
	socklen_t addrlen; /* 0: no service manager listens */
} notify_state;

/* Read $NOTIFY_SOCKET (and unset it).  0, or -EINVAL for an address that cannot be used. */
int notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;
	int r = 0;

	notify_state.addrlen = 0;
	if (path == NULL || path[0] == '\0')
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof notify_state.addr.sun_path) {
		r = -EINVAL;
	} else {
		memset(&notify_state.addr, 0, sizeof notify_state.addr);
		notify_state.addr.sun_family = AF_UNIX;
		memcpy(notify_state.addr.sun_path, path, n);
		if (path[0] == '@') /* an abstract socket: its name starts with a NUL byte */
			notify_state.addr.sun_path[0] = '\0';
		/* an abstract name has no terminating NUL; a path's is harmless */
		notify_state.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
		                                   (path[0] == '/'));
	}
	(void)unsetenv("NOTIFY_SOCKET");
	return r;
}

/* Send one state datagram ("READY=1", ...).  0 (also with no manager), or -errno. */
int notify_send(const char *state)
{
	ssize_t sent;
	int fd, e;

	if (notify_state.addrlen == 0)
		return 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	              (const struct sockaddr *)&notify_state.addr, notify_state.addrlen);
	e = errno;
	close(fd);
	if (sent < 0) {
		log_warn("node", "event=notify_error state=%.*s error=\"%s\"",
		         (int)strcspn(state, "\n"), state, strerror(e));
		return -e;
	}
	log_debug("node", "event=notify state=%.*s", (int)strcspn(state, "\n"), state);
	return 0;
}

/* RELOADING=1 carries the monotonic time of the reload (systemd wants it since v253). */
int notify_reloading(void)
{
	char msg[64];
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return -errno;
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u);
	return notify_send(msg);
}

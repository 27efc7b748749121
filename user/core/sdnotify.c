// SPDX-License-Identifier: MIT
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "log.h"

/*
 * Messages are sent with unset_environment = 0: the variables must survive
 * for later notifications.  Failures are not fatal (the manager may have
 * gone away during shutdown), so they are logged at debug level only.
 */
static void notify(const char *msg)
{
	int err = sd_notify(0, msg);

	if (err < 0)
		pr_debug("sd_notify(%s): %d\n", msg, err);
}

void svc_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify(msg);
}

void svc_ready_fmt(const char *fmt, ...)
{
	char msg[512] = "READY=1\nSTATUS=";
	size_t n = strlen(msg);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	notify(msg);
}

void svc_status(const char *fmt, ...)
{
	char msg[512] = "STATUS=";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
	va_end(ap);
	notify(msg);
}

void svc_reloading(void)
{
	notify("RELOADING=1\nSTATUS=Reloading databases");
}

void svc_stopping(void)
{
	notify("STOPPING=1\nSTATUS=Stopping: last drain");
}

uint64_t svc_watchdog_usec(void)
{
	uint64_t usec = 0;

	/* Checks WATCHDOG_PID too: a forked child is not watched. */
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

void svc_watchdog_ping(void)
{
	notify("WATCHDOG=1");
}

int svc_listen_fd(void)
{
	/* Unsets LISTEN_*: no child may take the socket for its own. */
	int n = sd_listen_fds(1), fd = SD_LISTEN_FDS_START, fl;

	if (n < 0)
		return n;
	if (n == 0)
		return -ENOENT;
	if (n > 1)
		return -E2BIG;
	if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
		return -ENOTSOCK;
	/* Our epoll loop wants it non-blocking, as the sockets we bind. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC))
		return -errno;
	return fd;
}

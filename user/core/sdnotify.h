/* SPDX-License-Identifier: MIT */
/*
 * The service manager's side channel (sd_notify): readiness, status lines,
 * the watchdog.  Every call is a no-op outside systemd (no NOTIFY_SOCKET).
 */
#ifndef ITM_SDNOTIFY_H
#define ITM_SDNOTIFY_H

#include <stdint.h>

/* READY=1 with a STATUS= line. */
void svc_ready(const char *status);
void svc_ready_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void svc_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void svc_reloading(void);
void svc_stopping(void);
/* WatchdogSec= of the unit in µs, 0 when there is no watchdog for us. */
uint64_t svc_watchdog_usec(void);
void svc_watchdog_ping(void);
/*
 * The listening stream socket systemd passed (socket activation,
 * LISTEN_FDS for this pid), non-blocking and close-on-exec: the fd,
 * -ENOENT when none was passed, -E2BIG for more than one, -ENOTSOCK when
 * it is not a listening stream socket.
 */
int svc_listen_fd(void);

#endif

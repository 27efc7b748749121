/* SPDX-License-Identifier: MIT */
/*
 * The daemon's live socket: a Unix stream socket that viewers
 * (`ip_traffic_monitor_cli top`) connect to for the format of
 * live_proto.h.  A thread of its own accepts viewers and writes to them;
 * each publish encodes the rows that changed once, whatever the number of
 * viewers, and hands every viewer a reference to the same bytes.  Without
 * viewers a publish costs nothing.
 */
#ifndef ITM_LIVE_SERVER_H
#define ITM_LIVE_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "live_proto.h"
#include "table.h"

typedef int (*live_tables_fn)(const struct ip_table *addrs,
			      const struct ip_table *procs, void *arg);

/* Where `top` looks when not told; the daemon serves only with the flag. */
#define ITM_LIVE_SOCKET_DEFAULT "/run/ip_traffic_monitor/live.sock"

struct live_server_config {
	const char *path;
	gid_t gid; /* group that may connect, with have_gid */
	bool have_gid;
	struct live_info info;
	/*
	 * Runs fn on a consistent view of the tables to publish (procs NULL:
	 * no process attribution), e.g. under the collector's lock.
	 */
	int (*visit)(void *src, live_tables_fn fn, void *arg);
	void *src;
};

struct live_server;

/* NULL with errno set; the socket file is root:group, mode 0660/0600. */
struct live_server *live_server_start(const struct live_server_config *cfg);
/* New data (drained at monotonic time now_ns): send it to the viewers. */
void live_server_publish(struct live_server *s, uint64_t now_ns);
/* Viewers connected now. */
unsigned int live_server_viewers(struct live_server *s);
/* Closes every viewer, removes the socket file; s may be NULL. */
void live_server_stop(struct live_server *s);

/* "NAME" or a number; -ENOENT when there is no such group. */
int live_parse_group(const char *name, gid_t *gid);

#endif

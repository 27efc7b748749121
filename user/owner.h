/* SPDX-License-Identifier: MIT */
/*
 * Process attribution: loads the socket-owner programs (cgroup/sock_create
 * on the cgroup v2 root, an iter/task_file scan) whose storage the TC
 * programs read, and names pids.
 */
#ifndef ITM_OWNER_H
#define ITM_OWNER_H

#include <stdint.h>

#include "itm_shared.h"

struct owner_tracker;

/* Prints one message on failure; returns 0 or -errno. */
int owner_tracker_open(struct owner_tracker **out);
void owner_tracker_close(struct owner_tracker *ot);
/* The socket-owner storage map, for the TC objects to reuse. */
int owner_tracker_map_fd(const struct owner_tracker *ot);
/* Walk every task's sockets and record their owners. */
int owner_tracker_scan(struct owner_tracker *ot);
/* Command name of pid: recorded by BPF, else /proc, else "?". */
void owner_tracker_comm(struct owner_tracker *ot, uint32_t pid,
			char comm[ITM_COMM_LEN]);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Process attribution: loads the socket-owner programs (cgroup/sock_create
 * on the cgroup v2 root, a scan of the sockets open before the start)
 * whose storage the TC programs read, and names pids.  Every part is
 * optional: each takes the best variant the kernel accepts, or is left
 * out (see kernel_features.h).
 */
#ifndef ITM_OWNER_H
#define ITM_OWNER_H

#include <stdint.h>

#include "kernel_features.h"
#include "itm_shared.h"

struct owner_tracker;

/* The optional parts, best first within the scan's ladder. */
enum owner_part {
	OWNER_PART_SOCK_CREATE, /* cgroup/sock_create: new sockets */
	OWNER_PART_TASK_FILE,	/* iter/task_file: every open socket */
	OWNER_PART_SOCKET_ITER, /* task_file notes + iter/tcp, iter/udp */
	OWNER_PART_MAX,
};

struct owner_probe_result {
	int err; /* 0: the kernel loads it */
	char reason[ITM_FEAT_REASON_LEN];
};

/* Load each part alone, attach nothing, and say what the kernel answers. */
void owner_probe(struct owner_probe_result res[OWNER_PART_MAX]);

/* owner_scan and owner_sock_create from what loaded (res[].err == 0). */
void owner_features(const struct owner_probe_result res[OWNER_PART_MAX],
		    struct itm_features *fs);
/*
 * Load and attach the best variants the kernel accepts, record them in fs
 * and log one warning per part left out.  *out is NULL (and 0 returned)
 * when no owner program loads: the monitor then counts without
 * attribution.  -errno only for errors that are not the kernel's refusal.
 */
int owner_tracker_open(struct owner_tracker **out, struct itm_features *fs);
void owner_tracker_close(struct owner_tracker *ot);
/* The socket-owner storage map, for the TC objects to reuse. */
int owner_tracker_map_fd(const struct owner_tracker *ot);
/* Walk every task's sockets and record their owners (no scan: 0). */
int owner_tracker_scan(struct owner_tracker *ot);
/* Command name of pid: recorded by BPF, else /proc, else "?". */
void owner_tracker_comm(struct owner_tracker *ot, uint32_t pid,
			char comm[ITM_COMM_LEN]);

#endif

/* SPDX-License-Identifier: MIT */
#ifndef ITM_CGROUP2_H
#define ITM_CGROUP2_H

#include <stddef.h>

/*
 * The cgroup v2 mount point, wherever the distribution put it
 * (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid layouts), read
 * from /proc/self/mountinfo.  0, or -ENOENT when none is in view.
 */
int cgroup2_find_mount(char *path, size_t len);

#endif

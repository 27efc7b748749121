/* SPDX-License-Identifier: MIT */
/*
 * The process collector of the Prometheus client libraries, for a C
 * exporter: CPU time, memory, descriptors and start time of this process,
 * read from /proc as client_golang's procfs reads them.
 */
#ifndef ITM_PROCSTAT_H
#define ITM_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>

struct proc_stats {
	double cpu_seconds; /* utime + stime */
	uint64_t rss_bytes; /* resident pages * page size */
	uint64_t vsize;	    /* virtual memory size in bytes */
	uint64_t open_fds;  /* entries of /proc/self/fd */
	uint64_t max_fds;   /* RLIMIT_NOFILE, soft */
	double start_time;  /* unix time: btime + starttime / ticks */
};

/*
 * Parse a /proc/PID/stat line (pure): ticks per second, page size and the
 * boot time (btime of /proc/stat) turn its fields into out's units;
 * open_fds and max_fds are left alone.  0 or -EINVAL.
 */
int procstat_parse(const char *stat, long ticks, long page, double btime,
		   struct proc_stats *out);
/* The same for this process, now.  0 or -errno. */
int procstat_read(struct proc_stats *out);

#endif

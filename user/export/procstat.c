// SPDX-License-Identifier: MIT
#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int procstat_parse(const char *stat, long ticks, long page, double btime,
		   struct proc_stats *out)
{
	unsigned long long utime, stime, start, vsize;
	long long rss;
	/* comm may hold spaces and parentheses: fields follow the last ')'. */
	const char *p = strrchr(stat, ')');

	if (!p || ticks <= 0 || page <= 0)
		return -EINVAL;
	/* state(3) ... utime(14) stime(15) ... starttime(22) vsize rss */
	if (sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
		   " %*d %*d %*d %*d %*d %*d %llu %llu %lld",
		   &utime, &stime, &start, &vsize, &rss) != 5)
		return -EINVAL;
	out->cpu_seconds = (double)(utime + stime) / (double)ticks;
	out->start_time = btime + (double)start / (double)ticks;
	out->vsize = vsize;
	out->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
	return 0;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	return 0;
}

/* btime of /proc/stat: whole seconds, as client_golang has it too. */
static int boot_time(double *out)
{
	static double cached;
	char buf[8192];
	const char *b;
	int err;

	if (cached) {
		*out = cached;
		return 0;
	}
	err = read_file("/proc/stat", buf, sizeof(buf));
	if (err)
		return err;
	b = strstr(buf, "\nbtime ");
	if (!b)
		return -EINVAL;
	cached = (double)strtoull(b + 7, NULL, 10);
	*out = cached;
	return 0;
}

/* Descriptors open, not counting the one that reads the directory. */
static int count_fds(uint64_t *out)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d);
	closedir(d);
	*out = n;
	return 0;
}

/*
 * Memory from statm: stat's rss is the kernel's per-CPU approximation
 * (off by up to tens of pages on newer kernels), statm sums it exactly.
 */
static int read_statm(struct proc_stats *out)
{
	unsigned long long size, resident;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	char buf[256];
	int err = read_file("/proc/self/statm", buf, sizeof(buf));

	if (err)
		return err;
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return -EINVAL;
	out->vsize = size * page;
	out->rss_bytes = resident * page;
	return 0;
}

int procstat_read(struct proc_stats *out)
{
	char buf[1024];
	struct rlimit rl;
	double btime;
	int err;

	err = read_file("/proc/self/stat", buf, sizeof(buf));
	if (!err)
		err = boot_time(&btime);
	if (!err)
		err = procstat_parse(buf, sysconf(_SC_CLK_TCK),
				     sysconf(_SC_PAGESIZE), btime, out);
	if (!err)
		err = read_statm(out);
	if (!err)
		err = count_fds(&out->open_fds);
	if (err)
		return err;
	out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) ? 0 : rl.rlim_cur;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* The benchmark's own resident set, for the memory columns they print. */
#ifndef ITM_BENCH_RSS_H
#define ITM_BENCH_RSS_H

#include <stdio.h>

/* VmRSS in KiB, or -1 when /proc/self/status cannot be read. */
static inline long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

#endif

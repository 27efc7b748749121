/* SPDX-License-Identifier: MIT */
/* The one clock for intervals, timeouts and durations: never jumps. */
#ifndef ITM_CLOCK_H
#define ITM_CLOCK_H

#include <time.h>

static inline double monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif

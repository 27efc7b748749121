// SPDX-License-Identifier: MIT
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static bool verbose;

void log_set_verbose(bool v)
{
	verbose = v;
}

bool log_verbose(void)
{
	return verbose;
}

void log_msg(const char *level, const char *fmt, ...)
{
	va_list ap;

	if (level)
		fprintf(stderr, "ip_traffic_monitor_cli: %s: ", level);
	else
		fputs("ip_traffic_monitor_cli: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

// SPDX-License-Identifier: MIT
#include "log.h"

static bool verbose;

void log_set_verbose(bool v)
{
	verbose = v;
}

bool log_verbose(void)
{
	return verbose;
}

static void vlog(FILE *f, const char *level, const char *fmt, va_list ap)
{
	if (level)
		fprintf(f, "ip_traffic_monitor_cli: %s: ", level);
	else
		fputs("ip_traffic_monitor_cli: ", f);
	vfprintf(f, fmt, ap);
}

void log_vmsg(const char *level, const char *fmt, va_list ap)
{
	vlog(stderr, level, fmt, ap);
}

void log_msg(const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(stderr, level, fmt, ap);
	va_end(ap);
}

void log_fmsg(FILE *f, const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(f, level, fmt, ap);
	va_end(ap);
}

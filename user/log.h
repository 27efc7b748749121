/* SPDX-License-Identifier: MIT */
/* Diagnostics go to stderr, prefixed with the program name. */
#ifndef ITM_LOG_H
#define ITM_LOG_H

#include <stdbool.h>

void log_set_verbose(bool verbose);
bool log_verbose(void);
void log_msg(const char *level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_err(...)  log_msg("error", __VA_ARGS__)
#define pr_warn(...) log_msg("warning", __VA_ARGS__)
#define pr_info(...) log_msg(NULL, __VA_ARGS__)
#define pr_debug(...)                                                          \
	do {                                                                   \
		if (log_verbose())                                             \
			log_msg("debug", __VA_ARGS__);                         \
	} while (0)

#endif

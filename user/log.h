/* SPDX-License-Identifier: MIT */
/*
 * Every diagnostic of the program goes through here: one line on stderr,
 * prefixed with the program name and the level.
 */
#ifndef ITM_LOG_H
#define ITM_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

void log_set_verbose(bool verbose);
bool log_verbose(void);
/* level NULL: informational, no level word. */
void log_msg(const char *level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(const char *level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* The same to another stream (tests capture option errors with it). */
void log_fmsg(FILE *f, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A user-supplied string made safe for a one-line message: control bytes
 * escaped (\n, \t, \xNN, and \\ itself), cut after LOG_QUOTE_INPUT
 * bytes with "...".  Returns buf.  LOG_Q(s) uses a buffer that lives
 * until the end of the enclosing statement's block.
 */
#define LOG_QUOTE_INPUT 64
#define LOG_QUOTE_MAX	(4 * LOG_QUOTE_INPUT + 8)
const char *log_quote(const char *s, char *buf, size_t len);
#define LOG_Q(s) log_quote((s), (char[LOG_QUOTE_MAX]){0}, LOG_QUOTE_MAX)

#define pr_err(...)  log_msg("error", __VA_ARGS__)
#define pr_warn(...) log_msg("warning", __VA_ARGS__)
#define pr_info(...) log_msg(NULL, __VA_ARGS__)
#define pr_debug(...)                                                          \
	do {                                                                   \
		if (log_verbose())                                             \
			log_msg("debug", __VA_ARGS__);                         \
	} while (0)

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Every diagnostic of the program goes through here: one line on stderr,
 * prefixed with the program name and the level; under systemd (stderr is
 * the journal's stream, see JOURNAL_STREAM) with the syslog priority as a
 * "<N>" prefix instead, which the journal stores as the line's priority.
 */
#ifndef ITM_LOG_H
#define ITM_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "i18n.h"

void log_set_verbose(bool verbose);
bool log_verbose(void);

/*
 * --log.level and --log.format, as Prometheus exporters spell them: the
 * least severe level written (debug implies -v), and the line's shape:
 * text (the program's own "name: level: message"), logfmt or json.
 */
enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };
enum log_format { LOG_FMT_TEXT, LOG_FMT_LOGFMT, LOG_FMT_JSON };
/* The enum value of a level or format name, or -EINVAL. */
int log_level_parse(const char *s);
int log_format_parse(const char *s);
void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
/* True when JOURNAL_STREAM names the file stderr is open on. */
bool log_stderr_is_journal(void);
/* Forget the cached journal decision (tests). */
void log_reset(void);
/*
 * level "error" <3>, "warning" <4>, "notice" <5> (no level word), NULL
 * informational <6>, "debug" and "libbpf" <7>.  The level word is
 * translated.
 */
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

#define pr_err(...)    log_msg(N_("error"), __VA_ARGS__)
#define pr_warn(...)   log_msg(N_("warning"), __VA_ARGS__)
#define pr_notice(...) log_msg("notice", __VA_ARGS__)
#define pr_info(...)   log_msg(NULL, __VA_ARGS__)
#define pr_debug(...)                                                          \
	do {                                                                   \
		if (log_verbose())                                             \
			log_msg(N_("debug"), __VA_ARGS__);                     \
	} while (0)

#endif

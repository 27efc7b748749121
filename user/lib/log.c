// SPDX-License-Identifier: MIT
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool verbose;
static int journal = -1; /* -1: not decided yet */
static enum log_level min_level = LOG_LVL_INFO;
static enum log_format format = LOG_FMT_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "logfmt", "json"};

void log_set_verbose(bool v)
{
	verbose = v;
	if (v && min_level > LOG_LVL_DEBUG)
		min_level = LOG_LVL_DEBUG;
}

static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -EINVAL;
}

int log_level_parse(const char *s)
{
	return name_index(level_names, 4, s);
}

int log_format_parse(const char *s)
{
	return name_index(format_names, 3, s);
}

/* debug is -v: libbpf's messages and the program's own debug lines. */
void log_set_level(enum log_level level)
{
	min_level = level;
	verbose = level == LOG_LVL_DEBUG;
}

void log_set_format(enum log_format f)
{
	format = f;
}

bool log_verbose(void)
{
	return verbose;
}

/*
 * systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected
 * to stdout/stderr.  Only while stderr is still that stream do we speak
 * the journal's "<N>" priority prefixes; redirected, it stays plain text.
 */
bool log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_reset(void)
{
	journal = -1;
}

/* syslog(3) priorities, as the journal reads them from "<N>". */
static int priority(const char *level)
{
	if (!level)
		return 6; /* info */
	if (!strcmp(level, "error"))
		return 3;
	if (!strcmp(level, "warning"))
		return 4;
	if (!strcmp(level, "notice"))
		return 5;
	if (!strcmp(level, "debug") || !strcmp(level, "libbpf"))
		return 7;
	return 6;
}

/* The --log.level word of a syslog priority (notice counts as info). */
static enum log_level level_of(int prio)
{
	if (prio <= 3)
		return LOG_LVL_ERROR;
	if (prio == 4)
		return LOG_LVL_WARN;
	return prio == 7 ? LOG_LVL_DEBUG : LOG_LVL_INFO;
}

/* A value as logfmt (quoted when needed) or JSON (always quoted) has it. */
static size_t put_quoted(char *out, size_t len, const char *s, bool json)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	/* Room for the longest escape, the closing quote and the NUL. */
	if (len < 12)
		return 0;
	out[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)s;
	     *p && n + 8 < len; p++) {
		if (*p == '"' || *p == '\\') {
			out[n++] = '\\';
			out[n++] = (char)*p;
		} else if (*p == '\n' || *p == '\t') {
			out[n++] = '\\';
			out[n++] = *p == '\n' ? 'n' : 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			n += (size_t)snprintf(out + n, len - n,
					      json ? "\\u00%c%c" : "\\x%c%c",
					      hex[*p >> 4], hex[*p & 15]);
		} else {
			out[n++] = (char)*p;
		}
	}
	out[n++] = '"';
	out[n] = '\0';
	return n;
}

/*
 * One logfmt or JSON line, written at once (stderr is unbuffered and
 * several threads log): the time in UTC with milliseconds, as the Go
 * exporters write it, the level word untranslated (machines read it) and
 * the message translated, without its newline.
 */
static void structured(FILE *f, int prio, const char *fmt, va_list ap)
{
	const char *lvl = level_names[level_of(prio)];
	bool json = format == LOG_FMT_JSON;
	char msg[2048], line[4 * sizeof(msg) + 128], ts[40];
	struct timespec now;
	struct tm tm;
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);
	if (json)
		n = (size_t)snprintf(
			line, sizeof(line),
			"{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, lvl);
	else
		n = (size_t)snprintf(line, sizeof(line),
				     "ts=%s level=%s msg=", ts, lvl);
	n += put_quoted(line + n, sizeof(line) - n - 2, msg, json);
	if (json)
		line[n++] = '}';
	line[n++] = '\n';
	fwrite(line, 1, n, f);
}

static void vlog(FILE *f, const char *level, const char *fmt, va_list ap)
{
	int prio = priority(level);

	/* Option errors go to a caller's stream and always show. */
	if (f == stderr && level_of(prio) < min_level)
		return;
	if (f == stderr && journal < 0)
		journal = log_stderr_is_journal();
	if (f == stderr && format != LOG_FMT_TEXT) {
		if (journal)
			fprintf(f, "<%d>", prio);
		structured(f, prio, fmt, ap);
		return;
	}
	if (f == stderr && journal) {
		/* The journal records the unit and the priority already. */
		fprintf(f, "<%d>", prio);
		if (prio <= 4)
			fprintf(f, "%s: ", _(level));
	} else if (level && prio != 5) {
		fprintf(f, "ip_traffic_monitor_cli: %s: ", _(level));
	} else {
		fputs("ip_traffic_monitor_cli: ", f);
	}
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

const char *log_quote(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = 0, in = 0;

	if (len < 8)
		return "";
	for (; p[in]; in++) {
		unsigned char c = p[in];
		size_t need = c < 0x20 || c == 0x7f || c == '\\' ? 4 : 1;

		/* Room for this byte, "..." and the NUL; or it is too long. */
		if (in >= LOG_QUOTE_INPUT || n + need + 4 > len) {
			/* Do not end inside a UTF-8 sequence. */
			if ((c & 0xc0) == 0x80) {
				while (n && ((unsigned char)buf[n - 1] &
					     0xc0) == 0x80)
					n--;
				if (n)
					n--;
			}
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		if (need == 1) {
			buf[n++] = (char)c;
		} else if (c == '\n' || c == '\t' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
		} else {
			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		}
	}
	buf[n] = '\0';
	return buf;
}

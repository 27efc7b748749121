// SPDX-License-Identifier: MIT
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool verbose;
static int journal = -1; /* -1: not decided yet */

void log_set_verbose(bool v)
{
	verbose = v;
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

static void vlog(FILE *f, const char *level, const char *fmt, va_list ap)
{
	int prio = priority(level);

	if (f == stderr && journal < 0)
		journal = log_stderr_is_journal();
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

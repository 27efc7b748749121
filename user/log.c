// SPDX-License-Identifier: MIT
#include "log.h"

#include <stdio.h>
#include <string.h>

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

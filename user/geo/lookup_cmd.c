// SPDX-License-Identifier: MIT
/*
 * ip_traffic_monitor_cli lookup [ADDR...|-] [--format text|tsv|json]
 *                               [-g PATH]... [--isp-db PATH]...
 *                               [--geoip-lang LANG]
 *
 * Prints the labels each address gets and which database supplied each
 * one, so users can check their database set-up without root and without
 * traffic.  Addresses come from the arguments, or one a line from stdin
 * ("-", or no address with stdin not a terminal), millions at a time.  A
 * bad address is reported on stderr and the others are still answered;
 * the exit status is then 1.  Every database string is escaped: invalid
 * UTF-8 becomes U+FFFD and control characters are escaped, in every
 * format.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "geo.h"
#include "geo_flags.h"
#include "geo_int.h"
#include "i18n.h"

enum format { FMT_TEXT, FMT_TSV, FMT_JSON };

static void usage(FILE *f)
{
	fputs(_("Usage: ip_traffic_monitor_cli lookup [ADDR...|-] [--format "
		"text|tsv|json]\n"
		"                                     [-g PATH]... [--isp-db "
		"PATH]... [--geoip-lang LANG]\n"
		"Show the country/province/city/isp/asn labels each address "
		"gets, and which\n"
		"database supplied each.  Without ADDR (or with -), reads "
		"addresses from\n"
		"stdin, one a line.\n"
		"  -g, --geoip-db PATH   geography database (MaxMind DB, "
		"qqwry.dat or ipdb);\n"
		"                        repeatable, in order of preference\n"
		"      --isp-db PATH     ISP database (GeoIP2-ISP, "
		"GeoLite2-ASN, ...); repeatable\n"
		"      --geoip-lang LANG label language [default: zh-CN]\n"
		"  -f, --format FMT      text (default), tsv (address, 5 labels, "
		"5 sources;\n"
		"                        empty = unknown) or json (one object a "
		"line)\n"
		"  -h, --help            this text\n"
		"Exit status: 0, 1 if some address was not an address, 2 for "
		"bad flags or\n"
		"databases.\n"),
	      f);
}

int geo_parse_addr(const char *s, struct in6_addr *a)
{
	struct in_addr v4;

	if (inet_pton(AF_INET, s, &v4) == 1) {
		memset(a, 0, sizeof(*a));
		a->s6_addr[10] = 0xff;
		a->s6_addr[11] = 0xff;
		memcpy(&a->s6_addr[12], &v4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, s, a) == 1 ? 0 : -EINVAL;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * Writes s escaped: invalid UTF-8 as U+FFFD; in JSON, '"', '\\' and
 * control characters as JSON escapes (\n, \t, \r, else \u00XX);
 * otherwise '\\', tab, newline and CR as \\, \t, \n, \r and other
 * control characters as \xHH.
 */
static void put_escaped(FILE *f, const char *s, enum format fmt)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p) {
		n = utf8_len(p);
		if (!n) {
			fputs("\xef\xbf\xbd", f);
			p++;
			continue;
		}
		if (n > 1) {
			fwrite(p, 1, n, f);
			p += n;
			continue;
		}
		if (fmt == FMT_JSON) {
			if (*p == '"' || *p == '\\')
				fprintf(f, "\\%c", *p);
			else if (*p == '\n')
				fputs("\\n", f);
			else if (*p == '\t')
				fputs("\\t", f);
			else if (*p == '\r')
				fputs("\\r", f);
			else if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		} else if (*p == '\\') {
			fputs("\\\\", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\r') {
			fputs("\\r", f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\x%02x", *p);
		} else {
			fputc(*p, f);
		}
		p++;
	}
}

static void print(const char *addr, const struct geo_result *r, enum format fmt)
{
	int i;

	switch (fmt) {
	case FMT_TEXT:
		put_escaped(stdout, addr, fmt);
		putchar('\n');
		for (i = 0; i < GEO_NLABELS; i++) {
			printf("  %-9s ", geo_label_defs[i].name);
			if (!r->label[i]) {
				fputs("Unknown  (no database knows it)\n",
				      stdout);
				continue;
			}
			put_escaped(stdout, r->label[i], fmt);
			fputs("  (", stdout);
			put_escaped(stdout, r->source[i], fmt);
			fputs(")\n", stdout);
		}
		break;
	case FMT_TSV:
		put_escaped(stdout, addr, fmt);
		for (i = 0; i < GEO_NLABELS; i++) {
			putchar('\t');
			put_escaped(stdout, r->label[i] ? r->label[i] : "",
				    fmt);
		}
		for (i = 0; i < GEO_NLABELS; i++) {
			putchar('\t');
			put_escaped(stdout, r->source[i] ? r->source[i] : "",
				    fmt);
		}
		putchar('\n');
		break;
	case FMT_JSON:
		fputs("{\"address\":\"", stdout);
		put_escaped(stdout, addr, fmt);
		putchar('"');
		for (i = 0; i < GEO_NLABELS; i++) {
			printf(",\"%s\":", geo_label_defs[i].name);
			if (!r->label[i]) {
				fputs("null", stdout);
				continue;
			}
			putchar('"');
			put_escaped(stdout, r->label[i], fmt);
			putchar('"');
		}
		fputs(",\"source\":{", stdout);
		for (i = 0; i < GEO_NLABELS; i++) {
			printf("%s\"%s\":", i ? "," : "",
			       geo_label_defs[i].name);
			if (!r->source[i]) {
				fputs("null", stdout);
				continue;
			}
			putchar('"');
			put_escaped(stdout, r->source[i], fmt);
			putchar('"');
		}
		fputs("}}\n", stdout);
		break;
	}
}

/* Answers one address; 0, or -EINVAL (reported) when it is not one. */
static int answer(struct geo_ctx *ctx, const char *s, enum format fmt,
		  unsigned long line)
{
	struct geo_result res;
	struct in6_addr a;

	if (geo_parse_addr(s, &a)) {
		fputs("lookup: ", stderr);
		if (line)
			fprintf(stderr, _("line %lu: "), line);
		fputc('\'', stderr);
		put_escaped(stderr, s, FMT_TEXT);
		fputs("' is not an IPv4 or IPv6 address\n", stderr);
		return -EINVAL;
	}
	geo_lookup(ctx, &a, &res);
	print(s, &res, fmt);
	return 0;
}

/* One address a line; blank lines and surrounding blanks are ignored. */
static int answer_stdin(struct geo_ctx *ctx, enum format fmt)
{
	unsigned long line = 0;
	char *buf = NULL, *s;
	size_t cap = 0, n;
	ssize_t got;
	int bad = 0;

	while ((got = getline(&buf, &cap, stdin)) >= 0) {
		line++;
		/* "8.8.8.8\0junk" is not 8.8.8.8: C strings would stop at
		 * the NUL and answer for a line that was never given */
		if (memchr(buf, '\0', got)) {
			fprintf(stderr,
				_("lookup: line %lu: a NUL byte: not an "
				  "address\n"),
				line);
			bad = 1;
			continue;
		}
		s = buf + strspn(buf, " \t");
		n = strlen(s);
		while (n && strchr(" \t\r\n", s[n - 1]))
			n--;
		s[n] = '\0';
		if (!n)
			continue;
		if (answer(ctx, s, fmt, line))
			bad = 1;
	}
	free(buf);
	if (ferror(stdin)) {
		fprintf(stderr, _("lookup: reading stdin: %s\n"),
			strerror(errno));
		return 2;
	}
	return bad;
}

int geo_lookup_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		GEO_LONG_OPTIONS,
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct geo_flags flags = {0};
	enum format fmt = FMT_TEXT;
	struct geo_ctx *ctx;
	char err[512];
	int c, i, ret, bad = 0;
	bool from_stdin;

	optind = 0; /* GNU: full reset, whatever ran getopt before us */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":g:f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text"))
				fmt = FMT_TEXT;
			else if (!strcmp(optarg, "tsv"))
				fmt = FMT_TSV;
			else if (!strcmp(optarg, "json"))
				fmt = FMT_JSON;
			else {
				fprintf(stderr,
					_("lookup: --format wants text, tsv or "
					  "json, got '%s'\n"),
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr,
				_("lookup: option '%s' needs a value\n"),
				argv[optind - 1]);
			return 2;
		default:
			ret = geo_flags_take(&flags, c, optarg, err,
					     sizeof(err));
			if (ret < 0) {
				fprintf(stderr, "lookup: %s\n", err);
				return 2;
			}
			if (ret) {
				fprintf(stderr,
					_("lookup: unknown option '%s'; see "
					  "'ip_traffic_monitor_cli lookup "
					  "--help'\n"),
					argv[optind - 1]);
				return 2;
			}
		}
	}
	from_stdin = (optind == argc && !isatty(STDIN_FILENO)) ||
		     (optind + 1 == argc && !strcmp(argv[optind], "-"));
	if (optind == argc && !from_stdin) {
		fprintf(stderr, _("lookup: no address given; see "
				  "'ip_traffic_monitor_cli lookup --help'\n"));
		return 2;
	}
	ctx = geo_open(geo_flags_config(&flags), err, sizeof(err));
	if (!ctx) {
		fprintf(stderr, "lookup: %s\n", err);
		return 2;
	}
	if (from_stdin) {
		bad = answer_stdin(ctx, fmt);
	} else {
		for (i = optind; i < argc; i++)
			if (answer(ctx, argv[i], fmt, 0))
				bad = 1;
	}
	geo_close(ctx);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, _("lookup: writing the answers: %s\n"),
			strerror(errno));
		return 2;
	}
	return bad;
}

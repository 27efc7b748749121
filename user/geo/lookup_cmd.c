// SPDX-License-Identifier: MIT
/*
 * ip_traffic_monitor_cli lookup ADDR... [-g PATH]... [--isp-db PATH]...
 *                                [--geoip-lang LANG]
 *
 * Prints the labels each address would get and which database supplied
 * each one, so users can check their database set-up without root and
 * without any traffic.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "geo.h"
#include "geo_int.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: ip_traffic_monitor_cli lookup ADDR... [-g PATH]... "
		   "[--isp-db PATH]...\n"
		   "                                   [--geoip-lang LANG]\n"
		   "Show the country/province/city/isp labels each address "
		   "gets, and\n"
		   "which database supplied each.\n"
		   "  -g, --geoip-db PATH   geography database (MaxMind DB, "
		   "qqwry.dat or ipdb);\n"
		   "                        repeatable, the first that knows a "
		   "label wins\n"
		   "      --isp-db PATH     ISP database (GeoIP2-ISP, "
		   "GeoLite2-ASN, ...); repeatable\n"
		   "      --geoip-lang LANG names in LANG (default zh-CN), "
		   "else en, else Unknown\n"
		   "  -h, --help            this text\n");
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

static void print(const char *addr, const struct geo_result *r)
{
	static const char *const name[GEO_NLABELS] = {
		"country",
		"province",
		"city",
		"isp",
	};
	int i;

	printf("%s\n", addr);
	for (i = 0; i < GEO_NLABELS; i++) {
		if (r->label[i])
			printf("  %-9s %s  (%s)\n", name[i], r->label[i],
			       r->source[i]);
		else
			printf("  %-9s Unknown  (no database knows it)\n",
			       name[i]);
	}
}

int geo_lookup_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"geoip-db", required_argument, NULL, 'g'},
		{"isp-db", required_argument, NULL, 'I'},
		{"geoip-lang", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *geo[GEO_MAX_DBS], *isp[GEO_MAX_DBS];
	struct geo_config cfg = {.geo_paths = geo, .isp_paths = isp};
	struct geo_result res;
	struct geo_ctx *ctx;
	struct in6_addr a;
	char err[512];
	int c, i;

	optind = 0; /* GNU: full reset, whatever ran getopt before us */
	while ((c = getopt_long(argc, argv, "g:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
		case 'I':
			if (cfg.n_geo + cfg.n_isp == GEO_MAX_DBS) {
				fprintf(stderr,
					"lookup: too many databases (at most "
					"%d)\n",
					GEO_MAX_DBS);
				return 2;
			}
			if (c == 'g')
				geo[cfg.n_geo++] = optarg;
			else
				isp[cfg.n_isp++] = optarg;
			break;
		case 'L':
			cfg.lang = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr,
				"lookup: bad option; see "
				"'ip_traffic_monitor_cli lookup --help'\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "lookup: no address given; see "
				"'ip_traffic_monitor_cli lookup --help'\n");
		return 2;
	}
	for (i = optind; i < argc; i++) {
		if (geo_parse_addr(argv[i], &a)) {
			fprintf(stderr,
				"lookup: '%s' is not an IPv4 or IPv6 address\n",
				argv[i]);
			return 2;
		}
	}
	ctx = geo_open(&cfg, err, sizeof(err));
	if (!ctx) {
		fprintf(stderr, "lookup: %s\n", err);
		return 2;
	}
	for (i = optind; i < argc; i++) {
		geo_parse_addr(argv[i], &a);
		geo_lookup(ctx, &a, &res);
		print(argv[i], &res);
	}
	geo_close(ctx);
	return 0;
}

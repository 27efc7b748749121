/* SPDX-License-Identifier: MIT */
/*
 * The database flags (-g/--geoip-db, --isp-db, --geoip-lang), parsed by
 * one function with one set of limits for the daemon and for `lookup`.
 */
#ifndef ITM_GEO_FLAGS_H
#define ITM_GEO_FLAGS_H

#include <stddef.h>

#include "geo.h"

#define GEO_FLAGS_MAX_DBS 8 /* per flag */
#define GEO_LANG_MAX	  15

/* getopt_long values of the long-only flags */
enum {
	GEO_OPT_ISP_DB = 0x4700,
	GEO_OPT_LANG,
};

#define GEO_LONG_OPTIONS                                                       \
	{"geoip-db", required_argument, NULL, 'g'},                            \
		{"isp-db", required_argument, NULL, GEO_OPT_ISP_DB},           \
	{                                                                      \
		"geoip-lang", required_argument, NULL, GEO_OPT_LANG            \
	}

struct geo_flags {
	const char *geo[GEO_FLAGS_MAX_DBS];
	const char *isp[GEO_FLAGS_MAX_DBS];
	const char *lang; /* NULL = zh-CN */
	struct geo_config cfg;
};

/*
 * Takes option c (from getopt_long) with its argument.  Returns 1 when c
 * is not a database flag, 0 when taken, -EINVAL with one line (no
 * newline) in err when the value is refused.
 */
int geo_flags_take(struct geo_flags *f, int c, const char *arg, char *err,
		   size_t errlen);

/* The configuration for geo_open(); valid while f is. */
const struct geo_config *geo_flags_config(struct geo_flags *f);

#endif

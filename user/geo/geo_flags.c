// SPDX-License-Identifier: MIT
/* The database flags, shared by the daemon's options and `lookup`. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "geo_flags.h"
#include "i18n.h"

static bool lang_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > GEO_LANG_MAX)
		return false;
	/* a BCP 47-ish tag: letters, digits, '-' and '_' */
	for (i = 0; i < n; i++)
		if (!((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

int geo_flags_take(struct geo_flags *f, int c, const char *arg, char *err,
		   size_t errlen)
{
	switch (c) {
	case 'g':
		if (f->cfg.n_geo == GEO_FLAGS_MAX_DBS) {
			snprintf(err, errlen, _("at most %d -g databases"),
				 GEO_FLAGS_MAX_DBS);
			return -EINVAL;
		}
		if (!arg[0]) {
			snprintf(err, errlen, _("-g/--geoip-db wants a path"));
			return -EINVAL;
		}
		f->geo[f->cfg.n_geo++] = arg;
		return 0;
	case GEO_OPT_ISP_DB:
		if (f->cfg.n_isp == GEO_FLAGS_MAX_DBS) {
			snprintf(err, errlen, _("at most %d --isp-db databases"),
				 GEO_FLAGS_MAX_DBS);
			return -EINVAL;
		}
		if (!arg[0]) {
			snprintf(err, errlen, _("--isp-db wants a path"));
			return -EINVAL;
		}
		f->isp[f->cfg.n_isp++] = arg;
		return 0;
	case GEO_OPT_LANG:
		if (!lang_ok(arg)) {
			snprintf(err, errlen,
				 _("--geoip-lang wants a language tag such as "
				 "zh-CN or en, got '%s'"),
				 arg);
			return -EINVAL;
		}
		f->lang = arg;
		return 0;
	default:
		return 1;
	}
}

const struct geo_config *geo_flags_config(struct geo_flags *f)
{
	f->cfg.geo_paths = f->geo;
	f->cfg.isp_paths = f->isp;
	f->cfg.lang = f->lang;
	return &f->cfg;
}

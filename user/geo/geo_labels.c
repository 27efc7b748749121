// SPDX-License-Identifier: MIT
#include "geo_labels.h"

#include <errno.h>
#include <stdlib.h>

#define N_(s) s

const struct geo_label_def geo_label_defs[GEO_NLABELS] = {
	[GEO_COUNTRY] = {"country", N_("COUNTRY"), 14, 0, 'c'},
	[GEO_PROVINCE] = {"province", N_("PROVINCE"), 12, 2, 0},
	[GEO_CITY] = {"city", N_("CITY"), 12, 3, 0},
	[GEO_ISP] = {"isp", N_("ISP"), 14, 1, 'i'},
	[GEO_ASN] = {"asn", N_("ASN"), 20, 4, 'a'},
};

uint32_t geo_asn_number(const char *asn)
{
	unsigned long long n;
	char *end;

	if (!asn || asn[0] != 'A' || asn[1] != 'S' || asn[2] < '0' ||
	    asn[2] > '9')
		return 0;
	errno = 0;
	n = strtoull(asn + 2, &end, 10);
	if (errno || (*end && *end != ' ') || n > UINT32_MAX)
		return 0;
	return (uint32_t)n;
}

// SPDX-License-Identifier: MIT
#include "geo_labels.h"

#define N_(s) s

const struct geo_label_def geo_label_defs[GEO_NLABELS] = {
	[GEO_COUNTRY] = {"country", N_("COUNTRY"), 14, 0, 'c'},
	[GEO_PROVINCE] = {"province", N_("PROVINCE"), 12, 2, 0},
	[GEO_CITY] = {"city", N_("CITY"), 12, 3, 0},
	[GEO_ISP] = {"isp", N_("ISP"), 14, 1, 'i'},
	[GEO_ASN] = {"asn", N_("ASN"), 20, 4, 'a'},
};

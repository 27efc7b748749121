/* SPDX-License-Identifier: MIT */
/*
 * The labels the geo layer attaches to a remote address.  NULL or empty
 * strings are rendered as "Unknown".  The strings are owned by the geo
 * cache and live as long as the entry that points at them.
 */
#ifndef ITM_GEO_LABELS_H
#define ITM_GEO_LABELS_H

struct geo_labels {
	const char *country;
	const char *province;
	const char *city;
	const char *isp;
};

#endif

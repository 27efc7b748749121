/* SPDX-License-Identifier: MIT */
/*
 * The labels the geo layer attaches to a remote address, and the one table
 * that says what each label is called everywhere it appears: the Prometheus
 * label, the `query --by` key, the store column, the live-view column.
 * Every consumer walks geo_label_defs[] instead of naming the labels, so a
 * new label is one enum entry, one row below and its lookup in the
 * providers.
 *
 * NULL or empty strings are rendered as "Unknown".  The strings are owned
 * by the geo cache and live as long as the entry that points at them.
 */
#ifndef ITM_GEO_LABELS_H
#define ITM_GEO_LABELS_H

#include <stddef.h>
#include <stdint.h>

enum geo_label {
	GEO_COUNTRY,
	GEO_PROVINCE,
	GEO_CITY,
	GEO_ISP,
	GEO_ASN, /* "AS4134 CHINANET-BACKBONE": number and organisation */
	GEO_NLABELS,
};

struct geo_labels {
	union {
		struct {
			const char *country;
			const char *province;
			const char *city;
			const char *isp;
			const char *asn;
		};
		const char *v[GEO_NLABELS]; /* indexed by enum geo_label */
	};
};
_Static_assert(sizeof(struct geo_labels) == GEO_NLABELS * sizeof(char *),
	       "one named field per enum geo_label");

struct geo_label_def {
	const char *name;  /* label, --by key, column and protocol field */
	const char *title; /* column heading, N_()-marked English */
	int width;	   /* live view and summary column width, cells */
	/* Live view on a narrow terminal: rank 0 shows before the 2s..40s
	 * rates, higher ranks after them and are given up first. */
	int rank;
	char key; /* live view: the key that filters by it; 0 = none */
};

extern const struct geo_label_def geo_label_defs[GEO_NLABELS];

/* The number of an asn label ("AS4134 CHINANET-BACKBONE" -> 4134); 0 for
 * NULL or anything else (0 is reserved: no AS uses it). */
uint32_t geo_asn_number(const char *asn);

#endif

// SPDX-License-Identifier: MIT
#include "store_plan.h"

int64_t store_floor(int64_t t, int64_t unit)
{
	return t >= 0 ? t - t % unit : t - (unit + t % unit) % unit;
}

void store_retention(struct store_horizons *hz, int64_t now,
		     uint64_t keep_buckets, uint64_t keep_hours,
		     uint64_t keep_days, int64_t *day_cut)
{
	int64_t bf, hf, df;

	/* Raw buckets, then hours: only what a coarser table holds. */
	bf = store_floor(now - (int64_t)keep_buckets, STORE_HOUR);
	if (bf > hz->hour_done)
		bf = hz->hour_done;
	if (bf > hz->bucket_from)
		hz->bucket_from = bf;
	hf = store_floor(now - (int64_t)keep_hours, STORE_DAY);
	if (hf > hz->day_done)
		hf = hz->day_done;
	if (hf > store_floor(hz->bucket_from, STORE_DAY))
		hf = store_floor(hz->bucket_from, STORE_DAY);
	if (hf > hz->hour_from)
		hz->hour_from = hf;
	if (!keep_days) {
		*day_cut = INT64_MIN;
		return;
	}
	df = store_floor(now - (int64_t)keep_days, STORE_DAY);
	if (df > hz->hour_from)
		df = hz->hour_from;
	*day_cut = df;
}

/* SPDX-License-Identifier: MIT */
/*
 * Rollup and retention horizons, shared by the SQLite and the PostgreSQL
 * store (on PostgreSQL one set per host).  See store_schema.h for what
 * they mean: raw buckets hold [bucket_from, now), hourly rows every closed
 * hour in [hour_from, hour_done), daily rows closed days before day_done.
 */
#ifndef ITM_STORE_PLAN_H
#define ITM_STORE_PLAN_H

#include <stdint.h>

#define STORE_HOUR 3600
#define STORE_DAY  86400

struct store_horizons {
	int64_t hour_done, day_done, bucket_from, hour_from;
};

int64_t store_floor(int64_t t, int64_t unit);

/*
 * Where retention cuts at `now`, never past what is rolled up: raises
 * hz->bucket_from and hz->hour_from (rows below them are to be deleted)
 * and sets *day_cut to the first daily row kept (INT64_MIN with
 * keep_days 0: daily rows are kept forever).
 */
void store_retention(struct store_horizons *hz, int64_t now,
		     uint64_t keep_buckets, uint64_t keep_hours,
		     uint64_t keep_days, int64_t *day_cut);

#endif

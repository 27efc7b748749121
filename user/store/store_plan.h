/* SPDX-License-Identifier: MIT */
/*
 * Rollup and retention horizons, shared by the SQLite and the PostgreSQL
 * store (on PostgreSQL one set per host).  See store_schema.h for what
 * they mean: raw buckets hold [bucket_from, now), hourly rows every closed
 * hour in [hour_from, hour_done), daily rows closed days before day_done.
 */
#ifndef ITM_STORE_PLAN_H
#define ITM_STORE_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#define STORE_HOUR 3600
#define STORE_DAY  86400

struct store_horizons {
	int64_t hour_done, day_done, bucket_from, hour_from;
};

/* t rounded down (up) to a multiple of unit, negative t too. */
int64_t store_floor(int64_t t, int64_t unit);
int64_t store_ceil(int64_t t, int64_t unit);

/*
 * Nothing for maintenance to do at `now`: no hour closed since the last
 * rollup and no raw bucket aged out.  Cheap, checked before every step.
 */
bool store_maintenance_idle(const struct store_horizons *hz, int64_t now,
			    uint64_t keep_buckets);

/* Set the horizon named `key` (a meta row); false for another key. */
bool store_horizons_set(struct store_horizons *hz, const char *key,
			int64_t value);
/* set(ctx, key, value) for each horizon that hz changed from old; stops
 * at the first error, which it returns. */
int store_horizons_save(const struct store_horizons *old,
			const struct store_horizons *hz,
			int (*set)(void *ctx, const char *key, int64_t value),
			void *ctx);

/*
 * The one reader of the horizons: a row callback (store_row_fn) for
 * "SELECT key, value FROM meta ...", values as text, into the
 * struct store_horizons at hz (zeroed by the caller).  Returns 0.
 */
int store_horizons_row(void *hz, int ncols, char *const *vals);

/* What a backend does for store_rollup_step(); each returns 0 or -errno. */
struct store_rollup_ops {
	/*
	 * The first ts >= from in the raw buckets (hours false) or the
	 * hourly rows (hours true), either family; INT64_MAX when none.
	 */
	int (*next)(void *ctx, bool hours, int64_t from, int64_t *ts);
	/*
	 * Sum the rows of [ts, ts + span) into one row at ts: buckets into
	 * an hour (span STORE_HOUR), or hours into a day (STORE_DAY), which
	 * also goes into the all-time totals.
	 */
	int (*roll)(void *ctx, int64_t ts, int64_t span);
};

/*
 * The rollups of one maintenance step at `now`: the next closed hour that
 * has rows, then every day that closes with it.  Advances hz->hour_done
 * and hz->day_done; *more when more closed hours wait, *rolled when
 * anything was summed.  The caller runs it inside the step's transaction.
 */
int store_rollup_step(struct store_horizons *hz, int64_t now,
		      const struct store_rollup_ops *ops, void *ctx, bool *more,
		      bool *rolled);

/*
 * A backend's store_maintain(): nothing when idle, else step(ctx, now,
 * &more) (one transaction: the next rollup and retention) while it says
 * more is to do, at most max_hours times (0: no limit).  hz is read
 * before the first step only.
 */
int store_maintain_steps(const struct store_horizons *hz, int64_t now,
			 uint64_t keep_buckets, unsigned max_hours,
			 int (*step)(void *ctx, int64_t now, bool *more),
			 void *ctx);

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

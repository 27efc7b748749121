// SPDX-License-Identifier: MIT
#include "store_plan.h"
#include "i18n.h"
#include "store_ops.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t store_floor(int64_t t, int64_t unit)
{
	return t >= 0 ? t - t % unit : t - (unit + t % unit) % unit;
}

bool store_maintenance_idle(const struct store_horizons *hz, int64_t now,
			    uint64_t keep_buckets)
{
	return hz->hour_done >= store_floor(now, STORE_HOUR) &&
	       hz->bucket_from >=
		       store_floor(now - (int64_t)keep_buckets, STORE_HOUR);
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

/* The meta keys, one per horizon. */
static const struct {
	const char *key;
	size_t off;
} horizon_keys[] = {
	{"hour_done", offsetof(struct store_horizons, hour_done)},
	{"day_done", offsetof(struct store_horizons, day_done)},
	{"bucket_from", offsetof(struct store_horizons, bucket_from)},
	{"hour_from", offsetof(struct store_horizons, hour_from)},
};

static int64_t *horizon(struct store_horizons *hz, size_t i)
{
	return (int64_t *)((char *)hz + horizon_keys[i].off);
}

bool store_horizons_set(struct store_horizons *hz, const char *key,
			int64_t value)
{
	for (size_t i = 0; i < sizeof(horizon_keys) / sizeof(horizon_keys[0]);
	     i++) {
		if (!strcmp(key, horizon_keys[i].key)) {
			*horizon(hz, i) = value;
			return true;
		}
	}
	return false;
}

int store_horizons_save(const struct store_horizons *old,
			const struct store_horizons *hz,
			int (*set)(void *ctx, const char *key, int64_t value),
			void *ctx)
{
	struct store_horizons a = *old, b = *hz;
	int err = 0;

	for (size_t i = 0;
	     !err && i < sizeof(horizon_keys) / sizeof(horizon_keys[0]); i++)
		if (*horizon(&a, i) != *horizon(&b, i))
			err = set(ctx, horizon_keys[i].key, *horizon(&b, i));
	return err;
}

int store_rollup_step(struct store_horizons *hz, int64_t now,
		      const struct store_rollup_ops *ops, void *ctx, bool *more,
		      bool *rolled)
{
	int64_t cur_hour = store_floor(now, STORE_HOUR);
	int64_t cur_day = store_floor(now, STORE_DAY);
	int64_t next;
	int err;

	*more = false;
	*rolled = false;
	if (hz->hour_done < cur_hour) {
		err = ops->next(ctx, false, hz->hour_done, &next);
		if (err)
			return err;
		if (next >= cur_hour) {
			hz->hour_done = cur_hour;
		} else {
			int64_t h = store_floor(next, STORE_HOUR);

			err = ops->roll(ctx, h, STORE_HOUR);
			if (err)
				return err;
			hz->hour_done = h + STORE_HOUR;
			*more = hz->hour_done < cur_hour;
			*rolled = true;
		}
	}
	/* Days close once all their hours are rolled up. */
	while (hz->day_done < cur_day) {
		int64_t d;

		err = ops->next(ctx, true, hz->day_done, &next);
		if (err)
			return err;
		if (next >= hz->hour_done) {
			/* No hour rows left before hour_done: skip ahead. */
			d = store_floor(hz->hour_done, STORE_DAY);
			if (d > cur_day)
				d = cur_day;
			if (d > hz->day_done)
				hz->day_done = d;
			break;
		}
		d = store_floor(next, STORE_DAY);
		if (d + STORE_DAY > hz->hour_done) {
			hz->day_done = d; /* not all its hours are closed */
			break;
		}
		err = ops->roll(ctx, d, STORE_DAY);
		if (err)
			return err;
		hz->day_done = d + STORE_DAY;
		*rolled = true;
	}
	return 0;
}

int store_horizons_row(void *hz, int ncols, char *const *vals)
{
	if (ncols >= 2 && vals[0] && vals[1])
		store_horizons_set(hz, vals[0], strtoll(vals[1], NULL, 10));
	return 0;
}

int64_t store_ceil(int64_t t, int64_t unit)
{
	int64_t f = store_floor(t, unit);

	return f == t ? t : f + unit;
}

int store_maintain_steps(const struct store_horizons *hz, int64_t now,
			 uint64_t keep_buckets, unsigned max_hours,
			 int (*step)(void *ctx, int64_t now, bool *more),
			 void *ctx)
{
	bool more = true;
	int err = 0;

	/* Cheap when nothing closed since the last call. */
	if (store_maintenance_idle(hz, now, keep_buckets))
		return 0;
	for (unsigned n = 0; !err && more && (!max_hours || n < max_hours); n++)
		err = step(ctx, now, &more);
	return err;
}

int store_sum_text_row(void *ctx, int n, char *const *v)
{
	struct store_sum_text *c = ctx;
	uint64_t x[4];

	if (n < 5 || !v[0])
		return 0;
	for (int k = 0; k < 4; k++)
		x[k] = v[1 + k] ? strtoull(v[1 + k], NULL, 10) : 0;
	return c->fn(c->ctx, strtoll(v[0], NULL, 10), x);
}

int store_ro_result(int rc, const char *why, char *err, size_t len)
{
	switch (rc) {
	case 0:
		break;
	case -ENOMSG:
		snprintf(
			err, len,
			_("only statements that return rows are allowed (SELECT, WITH, EXPLAIN, SHOW); the session is read-only"));
		break;
	case -ENODATA:
		snprintf(err, len, _("no SQL statement given"));
		break;
	case -ENOMEM:
		snprintf(err, len, _("out of memory"));
		break;
	case -EIO:
		snprintf(err, len, _("reading the database failed: %s"), why);
		break;
	default:
		snprintf(err, len, _("SQL error: %s"), why);
		rc = -EINVAL;
	}
	return rc;
}

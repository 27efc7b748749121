/* SPDX-License-Identifier: MIT */
/* Internals shared by the SQLite backend's writer and reader. */
#ifndef ITM_SQLITE_INT_H
#define ITM_SQLITE_INT_H

#include <sqlite3.h>

#include "store_ops.h"

#define SQLITE_META_SQL "SELECT key, value FROM meta"

/*
 * Rows of sql as text, parameters bound as text from ?1 ($1) on: 0, the
 * callback's error, -EINVAL when it does not prepare (bad SQL, not our
 * schema) or -EIO when a step fails; the message is sqlite3_errmsg(db).
 */
int sqlite_each(sqlite3 *db, const char *sql, int nparams,
		const char *const *params, store_row_fn fn, void *ctx);

/* The reader's store_ops functions (query_sqlite.c). */
int sqlite_ro_open(const char *path, void **state, char *err, size_t len);
void sqlite_ro_close(void *state);
int sqlite_sql(void *state, const char *sql, struct qresult *r, char *err,
	       size_t len);
int sqlite_ro_each(void *state, const char *sql, int nparams,
		   const char *const *params, store_row_fn fn, void *ctx,
		   char *err, size_t len);
int sqlite_sums(void *state, const char *host, const char *source,
		const char *column, store_sum_fn fn, void *ctx, char *err,
		size_t len);
int sqlite_names(void *state, const char *select, const int64_t *ids, size_t n,
		 store_row_fn fn, void *ctx, char *err, size_t len);

#endif

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

/* The reader (query_sqlite.c). */
extern const struct store_reader sqlite_reader;

#endif

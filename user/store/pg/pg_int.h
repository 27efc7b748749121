/* SPDX-License-Identifier: MIT */
/* Internals shared by the PostgreSQL backend's writer and reader. */
#ifndef ITM_PG_INT_H
#define ITM_PG_INT_H

#include <libpq-fe.h>

#include "store_ops.h"

#define PG_META_SQL "SELECT key, value FROM meta WHERE host = $1"

/*
 * Rows of one statement with text parameters: 0, the callback's error,
 * -EINVAL when the server refuses it, -EIO when the connection is gone;
 * the message is PQerrorMessage(c).
 */
int pg_rows(PGconn *c, const char *sql, int nparams, const char *const *params,
	    store_row_fn fn, void *ctx);

/* The reader's store_ops functions (query_pg.c). */
int pg_ro_open(const char *url, void **state, char *err, size_t len);
void pg_ro_close(void *state);
int pg_ro_sql(void *state, const char *sql, struct qresult *r, char *err,
	      size_t len);
int pg_ro_each(void *state, const char *sql, int nparams,
	       const char *const *params, store_row_fn fn, void *ctx, char *err,
	       size_t len);
int pg_sums(void *state, const char *host, const char *source,
	    const char *column, store_sum_fn fn, void *ctx, char *err,
	    size_t len);
int pg_names(void *state, const char *select, const int64_t *ids, size_t n,
	     store_row_fn fn, void *ctx, char *err, size_t len);

#endif

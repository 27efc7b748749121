/* SPDX-License-Identifier: MIT */
/*
 * The read side of `query` on PostgreSQL (--db postgresql://...): one
 * read-only session, a statement's rows as a qresult rendered like the
 * SQLite ones, and rows as strings for `query top`.  Errors come back as
 * -errno with one line in `err`; the caller prints it.
 */
#ifndef ITM_QUERY_PG_H
#define ITM_QUERY_PG_H

#include <stddef.h>

#include "query_format.h"

struct qpg;

/* -ECONNREFUSED: no connection (err says why; no password in it). */
int qpg_open(const char *url, struct qpg **out, char *err, size_t len);
void qpg_close(struct qpg *q);

/*
 * One statement, in a READ ONLY transaction that is rolled back: its rows
 * into r.  -EINVAL with the server's message for bad or writing SQL,
 * -ENOMSG when the statement returns no rows at all (not a query).
 */
int qpg_collect(struct qpg *q, const char *sql, struct qresult *r, char *err,
		size_t len);

/* Rows of a statement with text parameters; vals[i] NULL for NULL. */
typedef int (*qpg_row_fn)(void *ctx, int ncols, char *const *vals);
int qpg_each(struct qpg *q, const char *sql, int nparams,
	     const char *const *params, qpg_row_fn fn, void *ctx, char *err,
	     size_t len);

/*
 * A value in PostgreSQL's text form, of type `oid`, as the cell SQLite
 * would give: integers (numeric without a fraction too) as INT, floats
 * and fractional numeric as REAL printed "%.15g", booleans as 1/0, bytea
 * as lowercase hex.  The text goes to buf when it is rewritten, else
 * *text points into `value`.  Pure.
 */
enum qcell_type qpg_cell(unsigned oid, const char *value, char *buf, size_t len,
			 const char **text);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The read side of `query` on PostgreSQL (--db postgresql://...): the
 * reader's store_ops functions are in pg_int.h; this is its pure part.
 */
#ifndef ITM_QUERY_PG_H
#define ITM_QUERY_PG_H

#include <stddef.h>

#include "query_format.h"

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

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

/* How a server notice of this severity ("WARNING"...) is logged. */
enum pg_notice_level {
	PG_NOTICE_ERROR,
	PG_NOTICE_WARNING,
	PG_NOTICE_INFO,
	PG_NOTICE_DEBUG,
};
enum pg_notice_level pg_notice_level(const char *severity);
/* Route c's notices through the log, one line each (pg_notice.c). */
void pg_log_notices(PGconn *c);

/* The reader (query_pg.c). */
extern const struct store_reader pg_reader;

#endif

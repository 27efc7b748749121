/* SPDX-License-Identifier: MIT */
/*
 * The pure half of the PostgreSQL store: the schema translated from the
 * SQLite one, the SQL of rollups and retention (one host's rows, the host
 * as parameter $1), the bytea form of an address, and a URI fit for
 * messages.  No libpq here, so tests/unit/test_store_pg_sql.c covers it.
 */
#ifndef ITM_STORE_PG_SQL_H
#define ITM_STORE_PG_SQL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * itm_schema.version on PostgreSQL.  1: the SQLite schema translated,
 * one global `meta`; 2: `meta` per host (rollups run per host); 3: addrs
 * has a column per label of geo_label_defs[] (SQLite's step 2).
 */
#define STORE_PG_SCHEMA_VERSION 3

/* The first schema, translated, meta per host (malloc'ed; NULL: no
 * memory). */
char *store_pg_schema(void);
/* From version 1: meta per host (nothing was rolled up on version 1). */
char *store_pg_migrate_v1(void);
/* Every label column in addrs ('Unknown' in old rows), the key over
 * them, the views with them. */
char *store_pg_labels(void);
/* All steps from version `from` (0: an empty database) to the current. */
char *store_pg_upgrade(int from);

/*
 * `url` for messages: a password in the user part or in a password=
 * parameter becomes "***".  Always NUL-terminates out.
 */
void store_pg_redact(const char *url, char *out, size_t len);

/* "\x" and 32 hex digits: bytea input of the 16 address bytes. */
void store_pg_bytea(const struct in6_addr *a, char out[35]);
int store_pg_unbytea(const char *text, struct in6_addr *a);

/*
 * Rollup and retention statements of one host ($1), for the traffic
 * (t_*) or the other (o_*) family; `unit` is "bucket", "hour" or "day".
 * Each returns the length written (as snprintf) or -ENOSPC.
 */
int store_pg_roll_sql(char *buf, size_t len, bool other, const char *from,
		      const char *to, int64_t ts, int64_t span);
int store_pg_total_sql(char *buf, size_t len, bool other, int64_t day);
int store_pg_delete_sql(char *buf, size_t len, bool other, const char *unit,
			int64_t below);
/* First ts >= from of one unit in either family; NULL when none. */
int store_pg_next_sql(char *buf, size_t len, const char *unit, int64_t from);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend of the store (--db postgresql://...): the store.h
 * functions dispatch here when the "path" is a libpq URI.  The schema is
 * the SQLite one (store_schema.h) translated to PostgreSQL types, with a
 * `host` column on `ifaces` and in both views, so many monitors share one
 * database.
 */
#ifndef ITM_STORE_PG_H
#define ITM_STORE_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct store_pg;

bool store_pg_url(const char *path);
/* Connects and creates the schema if needed; -errno, message in errmsg. */
int store_pg_open(const struct store_config *cfg, struct store_pg **out,
		  char *errmsg, size_t len);
void store_pg_close(struct store_pg *s);
const char *store_pg_path(const struct store_pg *s);
const char *store_pg_errmsg(const struct store_pg *s);
int store_pg_iface(struct store_pg *s, const char *name, int64_t *id);
int store_pg_get_state(struct store_pg *s, int64_t iface,
		       struct store_iface_state *st);
int store_pg_begin(struct store_pg *s, int64_t now);
int store_pg_add(struct store_pg *s, int64_t iface, const struct store_row *r);
int store_pg_add_other(struct store_pg *s, int64_t iface,
		       enum store_other_kind kind, const struct itm_value *v);
int store_pg_set_state(struct store_pg *s, int64_t iface,
		       const struct store_iface_state *st);
int store_pg_commit(struct store_pg *s);
void store_pg_rollback(struct store_pg *s);
/* This host's rollups and retention (store_maintain()). */
int store_pg_maintain(struct store_pg *s, int64_t now, unsigned max_hours);
int store_pg_restore(struct store_pg *s, store_total_fn fn, void *ctx);
int store_pg_restore_other(struct store_pg *s, int64_t iface,
			   struct itm_value out[STORE_OTHER_MAX]);

#endif

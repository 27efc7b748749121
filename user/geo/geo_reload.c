// SPDX-License-Identifier: MIT
/*
 * Reloading databases that changed on disk (geoipupdate renames a new file
 * into place) or on SIGHUP, without a restart.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo_int.h"
#include "i18n.h"

static volatile sig_atomic_t reload_requested;
static void (*warn_fn)(const char *msg);

void geo_set_warn(void (*fn)(const char *msg))
{
	warn_fn = fn;
}

/* Through the program's logger when it set one (journal priorities). */
__attribute__((format(printf, 1, 2))) static void warn(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (warn_fn)
		warn_fn(msg);
	else
		fprintf(stderr, "warning: %s\n", msg);
}

void geo_request_reload(void)
{
	reload_requested = 1;
}

static void note(char *what, size_t len, const char *path)
{
	size_t n;

	if (!what || !len)
		return;
	n = strlen(what);
	snprintf(what + n, len - n, "%s%s", n ? ", " : "", path);
}

/* Databases opened anew, waiting to be swapped in (and then the old ones). */
struct geo_staged {
	size_t n;
	struct {
		size_t idx;	  /* in ctx->dbs */
		struct geo_db db; /* prov, state, id, chinese_only */
	} dbs[GEO_MAX_DBS];
};

/*
 * Reads every changed file into a fresh state.  Only this thread (the
 * one that reloads) reads or writes path, id and failed; lookups, which
 * may run meanwhile, use prov, state and chinese_only, which only
 * geo_reload_apply() changes.
 */
struct geo_staged *geo_reload_prepare(struct geo_ctx *ctx, char *what,
				      size_t len, int *n)
{
	bool forced = reload_requested;
	struct geo_staged *st = NULL;
	struct geo_file_id id;
	char err[512];

	*n = 0;
	reload_requested = 0;
	if (what && len)
		what[0] = '\0';
	for (size_t i = 0; i < ctx->n_dbs; i++) {
		struct geo_db *db = &ctx->dbs[i], fresh;

		/* A missing file (mid-rename, or removed) keeps the old data.
		 */
		if (geo_file_id(db->path, &id)) {
			if (forced)
				warn("geo: %s: cannot open, keeping the old data",
				     db->path);
			continue;
		}
		if (!forced && geo_file_id_eq(&id, &db->id))
			continue;
		/* Warn once per bad file, not once per interval. */
		if (!forced && db->have_failed &&
		    geo_file_id_eq(&id, &db->failed))
			continue;
		if (!st) {
			st = calloc(1, sizeof(*st));
			if (!st) {
				warn(_("geo: reload failed, keeping the old data: %s"),
				     strerror(ENOMEM));
				return NULL;
			}
		}
		fresh = *db;
		fresh.prov = NULL; /* a new state; the old one stays in use */
		fresh.state = NULL;
		if (geo_db_load(&fresh, err, sizeof(err))) {
			warn(_("geo: reload failed, keeping the old data: %s"),
			     err);
			db->failed = id;
			db->have_failed = true;
			continue;
		}
		st->dbs[st->n].idx = i;
		st->dbs[st->n].db = fresh;
		st->n++;
		note(what, len, db->path);
	}
	*n = (int)(st ? st->n : 0);
	if (st && !st->n) {
		free(st);
		st = NULL;
	}
	return st;
}

/* Swaps the new states in; staged then holds the old ones. */
void geo_reload_apply(struct geo_ctx *ctx, struct geo_staged *st)
{
	for (size_t k = 0; k < st->n; k++) {
		struct geo_db *db = &ctx->dbs[st->dbs[k].idx];
		struct geo_db *fresh = &st->dbs[k].db;
		const struct geo_provider *prov = db->prov;
		void *state = db->state;

		db->prov = fresh->prov;
		db->state = fresh->state;
		db->chinese_only = fresh->chinese_only;
		db->id = fresh->id;
		db->have_failed = false;
		fresh->prov = prov;
		fresh->state = state;
	}
	/* Interned labels stay valid; only the address → labels map goes. */
	geo_cache_clear(ctx->cache);
}

void geo_reload_release(struct geo_staged *st)
{
	for (size_t k = 0; st && k < st->n; k++)
		if (st->dbs[k].db.prov)
			st->dbs[k].db.prov->close(st->dbs[k].db.state);
	free(st);
}

int geo_reload(struct geo_ctx *ctx, char *what, size_t len)
{
	int n;
	struct geo_staged *st = geo_reload_prepare(ctx, what, len, &n);

	if (st) {
		geo_reload_apply(ctx, st);
		geo_reload_release(st);
	}
	return n;
}

int geo_maybe_reload(struct geo_ctx *ctx)
{
	return geo_reload(ctx, NULL, 0);
}

size_t geo_db_count(const struct geo_ctx *ctx)
{
	return ctx ? ctx->n_dbs : 0;
}

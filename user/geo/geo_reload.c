// SPDX-License-Identifier: MIT
/*
 * Reloading databases that changed on disk (geoipupdate renames a new file
 * into place) or on SIGHUP, without a restart.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
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

int geo_reload(struct geo_ctx *ctx, char *what, size_t len)
{
	bool forced = reload_requested;
	struct geo_file_id id;
	char err[512];
	int n = 0;
	size_t i;

	reload_requested = 0;
	if (what && len)
		what[0] = '\0';
	for (i = 0; i < ctx->n_dbs; i++) {
		struct geo_db *db = &ctx->dbs[i];

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
		if (geo_db_load(db, err, sizeof(err))) {
			warn(_("geo: reload failed, keeping the old data: %s"),
			     err);
			db->failed = id;
			db->have_failed = true;
			continue;
		}
		note(what, len, db->path);
		n++;
	}
	/* Interned labels stay valid; only the address → labels map goes. */
	if (n)
		geo_cache_clear(ctx->cache);
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

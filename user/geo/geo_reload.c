// SPDX-License-Identifier: MIT
/*
 * Reloading databases that changed on disk (geoipupdate renames a new file
 * into place) or on SIGHUP, without a restart.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "geo_int.h"
#include "i18n.h"

static volatile sig_atomic_t reload_requested;

void geo_request_reload(void)
{
	reload_requested = 1;
}

int geo_maybe_reload(struct geo_ctx *ctx)
{
	bool forced = reload_requested;
	struct geo_file_id id;
	char err[512];
	int n = 0;
	size_t i;

	reload_requested = 0;
	for (i = 0; i < ctx->n_dbs; i++) {
		struct geo_db *db = &ctx->dbs[i];

		/* A missing file (mid-rename, or removed) keeps the old data.
		 */
		if (geo_file_id(db->path, &id))
			continue;
		if (!forced && geo_file_id_eq(&id, &db->id))
			continue;
		/* Warn once per bad file, not once per interval. */
		if (!forced && db->have_failed &&
		    geo_file_id_eq(&id, &db->failed))
			continue;
		if (geo_db_load(db, err, sizeof(err))) {
			fprintf(stderr,
				_("warning: geo: reload failed, keeping the old "
				"data: %s\n"),
				err);
			db->failed = id;
			db->have_failed = true;
			continue;
		}
		n++;
	}
	/* Interned labels stay valid; only the address → labels map goes. */
	if (n)
		geo_cache_clear(ctx->cache);
	return n;
}

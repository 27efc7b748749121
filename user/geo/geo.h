/* SPDX-License-Identifier: MIT */
/*
 * Geography and ISP labels for remote addresses.
 *
 * One context owns every database given with -g (geography, in order of
 * preference) and --isp-db (ISP only).  Each label is taken from the first
 * database that knows it.  The format of each file is detected from its
 * content: MaxMind DB, 纯真 qqwry.dat, or IPIP.net ipdb.
 *
 * Threading: a context is not thread-safe.  The daemon's main loop (drain,
 * reload) and the HTTP thread (drain before a scrape) both use it, always
 * under the collector's lock; only geo_request_reload() may be called
 * without it (from a signal handler).
 */
#ifndef ITM_GEO_H
#define ITM_GEO_H

#include <stddef.h>
#include <netinet/in.h>

#include "geo_labels.h"

struct geo_config {
	const char *const *geo_paths; /* -g, first match wins */
	size_t n_geo;
	const char *const *isp_paths; /* --isp-db */
	size_t n_isp;
	const char *lang; /* --geoip-lang; NULL = "zh-CN" */
};

struct geo_result {
	/* NULL = unknown.  Interned: valid until geo_close(). */
	const char *label[GEO_NLABELS];
	/* Path of the database that supplied each label, "builtin" for
	 * private/reserved ranges, NULL when no database knew it. */
	const char *source[GEO_NLABELS];
};

/*
 * Opens every database; on failure returns NULL, sets errno and writes one
 * line (no newline) naming the file and the reason into err.  Zero
 * databases is valid: only the builtin private/reserved ranges are known.
 */
struct geo_ctx *geo_open(const struct geo_config *cfg, char *err,
			 size_t errlen);
void geo_close(struct geo_ctx *ctx);

/* Uncached lookup.  addr holds IPv4 as ::ffff:a.b.c.d.  Returns 0. */
int geo_lookup(struct geo_ctx *ctx, const struct in6_addr *addr,
	       struct geo_result *res);

/*
 * Cached lookup for the daemon.  The returned labels (struct and strings)
 * are interned and stay valid, unchanged, until geo_close(), even across
 * reloads: store the pointer.  Never NULL (falls back to an all-NULL
 * "Unknown" entry if memory runs out).
 */
const struct geo_labels *geo_cache_get(struct geo_ctx *ctx,
				       const struct in6_addr *addr);

/*
 * Call once per sample interval.  Reopens each database whose file changed
 * (device, inode, size or mtime), or all of them after geo_request_reload().
 * A file that fails to open keeps the old data in use and logs one warning
 * to stderr.  Returns the number of databases reloaded; after a reload the
 * address cache is emptied so newly seen addresses get the new data.
 */
int geo_maybe_reload(struct geo_ctx *ctx);
/* The same, listing the reloaded files' paths, comma-separated, in what. */
int geo_reload(struct geo_ctx *ctx, char *what, size_t len);
/*
 * geo_reload() in three steps, for a caller whose lookups run under its
 * own lock: prepare reads the changed files (no lock needed; NULL: none
 * to swap, *n reopened), apply swaps them in (under the lock), release
 * closes what was swapped out (no lock needed).
 */
struct geo_staged;
struct geo_staged *geo_reload_prepare(struct geo_ctx *ctx, char *what,
				      size_t len, int *n);
void geo_reload_apply(struct geo_ctx *ctx, struct geo_staged *st);
void geo_reload_release(struct geo_staged *st);
/* Where reload warnings go (one line, no newline); default stderr. */
void geo_set_warn(void (*fn)(const char *msg));
/* How many databases the context holds (0 for NULL). */
size_t geo_db_count(const struct geo_ctx *ctx);

/* Async-signal-safe: ask the next geo_maybe_reload() to reopen everything. */
void geo_request_reload(void);

/* The "lookup" subcommand: argv[0] is "lookup".  Returns the exit status. */
int geo_lookup_main(int argc, char **argv);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The collector owns the cumulative tables and the lock that guards them.
 * Every sample interval (and before each scrape) it has the loader swap
 * each interface's statistics map for the empty spare, drains the retired
 * one and merges it into the tables.  Every other thread reaches the
 * tables only through the functions below, which take the lock.  No file,
 * database or network I/O happens under it: --db commits and rollups run
 * on persist's writer thread, database reloads are read before the lock
 * is taken for the swap.
 */
#ifndef ITM_COLLECTOR_H
#define ITM_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader.h"
#include "metrics.h"
#include "strbuf.h"
#include "table.h"

struct collector;
struct store_outbox_rec;

/*
 * An export sink, a consumer of per-interval deltas (the IPFIX exporter;
 * any number of them, see collector_add_sink()): sees every per-address
 * delta the collector adds to its tables, and each interface's cumulative
 * kernel counters after every drain, in drain order.  Both run under the
 * collector's lock, so they must be quick and must not call back into the
 * collector.
 */
struct collector_sink {
	/* A drained (address, pid) delta of interface iface (an index). */
	void (*delta)(void *ctx, size_t iface, const struct itm_key *k,
		      const struct itm_value *d);
	/*
	 * The cumulative non-IP/malformed/overflow counters of iface after
	 * a drain; baseline: the values counting starts from (maps adopted
	 * from an earlier run, totals restored from a store), not new.
	 */
	void (*counters)(void *ctx, size_t iface,
			 const struct itm_counter ctr[ITM_CTR_MAX],
			 bool baseline);
	void *ctx;
	/*
	 * Optional: add what the sink delivered and lost to d, for
	 * /metrics (under the collector's lock, like the others).
	 */
	void (*delivery)(void *ctx, struct export_delivery *d);
	/*
	 * Optional, with collector_use_outbox(): the records of a commit to
	 * the store (seq, unix ms), instead of the deltas of every drain.
	 */
	void (*committed)(void *ctx, size_t iface, uint64_t seq, int64_t ts_ms,
			  const struct store_outbox_rec *recs, size_t n);
};

/*
 * Reloading the label source in three steps, so that the lock is held
 * only for the swap: prepare reads changed files without the lock (NULL:
 * nothing to swap; *n: how many were reopened, their paths in what),
 * apply swaps them in under the lock, release frees what was swapped out,
 * without the lock.
 */
struct collector_reload {
	void *(*prepare)(void *label_ctx, char *what, size_t len, int *n);
	void (*apply)(void *label_ctx, void *staged);
	void (*release)(void *staged);
};

struct collector_config {
	uint64_t threshold; /* -t, for both tables */
	size_t max_tracked; /* entries per table (0: no limit) */
	/*
	 * Labels of new addresses (label may be NULL) and names of new pids
	 * (name NULL: no per-process table).  Both run under the lock.
	 */
	struct ip_merge_hooks hooks;
	/* Reload the label source; members NULL: none. */
	struct collector_reload reload;
	const char *version; /* for ip_traffic_build_info */
	/* Its libbpf and kernel labels; NULL: left out. */
	const char *libbpf_version;
	const char *kernel;
	/* Scrapes carry the process_* families. */
	bool process_metrics;
	/*
	 * --iface-label: one more table per interface, fed the same deltas,
	 * from which the per-address series are exported per (interface,
	 * address).
	 */
	bool iface_label;
	/* Written before collector_new(), read by every scrape. */
	const struct itm_features *features;
};

/* Export sinks one collector feeds at most. */
#define COLLECTOR_MAX_SINKS 4

/* Everything a reader may look at, valid only inside the callback. */
struct collector_view {
	const struct ip_table *table; /* per remote address */
	const struct ip_table *procs; /* per (address, pid); NULL: none */
	const struct iface_stats *ifaces;
	size_t n_ifaces;
	double start_time; /* unix time the collector started */
};

typedef int (*collector_view_fn)(const struct collector_view *v, void *arg);

/* The monitors in ifaces must outlive the collector.  0 or -errno. */
int collector_new(struct collector **out, struct iface_monitor *const *ifaces,
		  size_t n_ifaces, const struct collector_config *cfg);
/* Accepts NULL. */
void collector_free(struct collector *c);

/*
 * Register an export sink (its members may be NULL).  It gets each
 * interface's current counters at once as its baseline (counted before
 * it was there: not its to report), then every delta from the next
 * drain on.  Register before collector_use_store() to have the restored
 * totals as the baseline.  0, -EEXIST (its ctx is registered) or -ENOSPC.
 */
int collector_add_sink(struct collector *c, const struct collector_sink *s);
/* Unregister the sink of ctx: no callback runs on ctx once it returns. */
void collector_remove_sink(struct collector *c, void *ctx);

struct store;
/*
 * --db and/or --keep-attached: drain through persist.c, so a kill -9
 * loses nothing, and continue the totals the database holds (store may be
 * NULL: --keep-attached alone, kept maps drained into memory).  Call once,
 * before the first drain.  Prints one line and returns -errno on error.
 */
int collector_use_store(struct collector *c, struct store *store);
/*
 * --db and --ipfix: feed the sinks' committed callbacks from the store's
 * commits, and now with what the outbox holds after the position of
 * `collector` (whose unix ms it returns in pos_ts; 0: none).  After
 * collector_use_store().  0 or -errno (logged).
 */
int collector_use_outbox(struct collector *c, const char *collector,
			 int64_t *pos_ts);
/* The collector has everything up to commit seq: any thread. */
void collector_outbox_ack(struct collector *c, uint64_t seq, int64_t ts_ms);
/* At exit, after the last flush: store the position.  0 or -errno. */
int collector_outbox_final(struct collector *c);
/* False when some counts are still only in a kernel map (unstored). */
bool collector_all_stored(struct collector *c);

/*
 * Drain every interface once, at the end of a sample interval (scrapes
 * drain too, within one).  Returns 0 or the first error.
 */
int collector_drain(struct collector *c);
/* Drain both maps of every interface; only after the programs detached. */
int collector_drain_final(struct collector *c);
/*
 * Forget per-process series of pids that exited more than retention
 * seconds ago (per-address totals keep their bytes).  Returns how many.
 */
size_t collector_prune_exited(struct collector *c, double now,
			      double retention);
/* Interface idx is attached or not (it disappeared), after n re-attaches. */
void collector_iface_state(struct collector *c, size_t idx, bool attached,
			   uint64_t reattached);
/*
 * Reload the label source if its files changed (all of them after
 * geo_request_reload()); returns how many were reopened, their paths
 * comma-separated in what.
 */
int collector_reload_labels(struct collector *c, char *what, size_t len);

/* Run fn under the lock with a consistent view of the tables. */
int collector_visit(struct collector *c, collector_view_fn fn, void *arg);
/*
 * Drain, then copy what a scrape sends (metrics.h); the caller streams
 * and frees it.  NULL with errno set if the drain or the copy failed.
 */
struct metrics_snapshot *collector_snapshot_metrics(struct collector *c);
/*
 * Drain, then render the whole exposition into out.  A failed drain fails
 * the render: a scrape is never answered with stale numbers.
 */
int collector_render_metrics(struct collector *c, struct strbuf *out);
/* The console table of the top_n addresses (all: 0), with processes. */
int collector_render_summary(struct collector *c, size_t top_n,
			     struct strbuf *out);
/* The same fitted to width cells (a terminal's); 0: fixed columns. */
int collector_render_summary_fit(struct collector *c, size_t top_n, int width,
				 struct strbuf *out);
/* Number of remote addresses in the table. */
size_t collector_count(struct collector *c);

#endif

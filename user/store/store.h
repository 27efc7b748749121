/* SPDX-License-Identifier: MIT */
/*
 * The history store (--db): SQLite files and PostgreSQL, two backends
 * behind one interface (store_ops.h).  Rows are time buckets of --db-interval
 * seconds per (interface, remote address with its labels, process); closed
 * hours and days are rolled up by exact summation.  The documented views
 * `traffic` and `traffic_other` show every period exactly once, at the
 * finest resolution still kept.
 *
 * A flush is one transaction that also records, per interface, which
 * drained kernel map it contains (the map's sequence number) and the
 * kernel's cumulative counters it accounts for.  That is what lets a
 * restart after kill -9 tell committed map contents from uncommitted ones:
 * see user/core/collector.c and docs/restarts.md.
 */
#ifndef ITM_STORE_H
#define ITM_STORE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "itm_shared.h"

struct geo_labels;
struct store;

/* The path the service uses; `query` defaults to it. */
#define ITM_DEFAULT_DB "/var/lib/ip_traffic_monitor/traffic.db"

/* PRAGMA user_version of the schema this build writes. */
#define STORE_SCHEMA_VERSION 2

#define STORE_DEFAULT_INTERVAL	   60
#define STORE_DEFAULT_KEEP_BUCKETS (2 * 86400ULL)
#define STORE_DEFAULT_KEEP_HOURS   (90 * 86400ULL)
#define STORE_DEFAULT_KEEP_DAYS	   0 /* forever */

struct store_config {
	const char *path;      /* a file, or a postgresql:// URI (pg/) */
	const char *host;      /* PostgreSQL: this monitor's ifaces.host; NULL:
				  the host name */
	uint32_t interval;     /* bucket seconds; divides 3600 */
	uint64_t keep_buckets; /* seconds of raw buckets kept (>= 1 hour) */
	uint64_t keep_hours;   /* seconds of hourly rows kept (>= 1 day) */
	uint64_t keep_days;    /* seconds of daily rows kept; 0 = forever */
};

/* traffic_other.kind */
enum store_other_kind {
	STORE_OTHER_OVERFLOW,
	STORE_OTHER_NON_IP,
	STORE_OTHER_MALFORMED,
	STORE_OTHER_MAX,
};

/* One drained (address, process) delta of one interface. */
struct store_row {
	struct in6_addr addr;
	uint32_t pid;
	const char *process;	      /* NULL: "-" */
	const struct geo_labels *geo; /* NULL: all "Unknown" */
	struct itm_value v;
};

/*
 * What a flush committed for one interface: the kernel object it drained
 * (a random identity kept in the pinned meta map), the highest drained map
 * sequence number, and the kernel's cumulative counters.
 */
struct store_iface_state {
	uint64_t instance;
	uint64_t seq;
	struct itm_counter ctr[ITM_CTR_MAX];
};

/*
 * Open (creating or migrating) the database read-write.  Prints one
 * actionable line and returns -errno when the file is unwritable, corrupt,
 * locked, not SQLite, or from a newer version.
 */
int store_open(const struct store_config *cfg, struct store **out);
void store_close(struct store *s);
/* The --db value for messages (a URI without its password). */
const char *store_path(const struct store *s);

/*
 * The files a --db value stands for, as suffixes of the path ("" for the
 * path itself, "-wal"...; NULL-terminated), for the daemon to hand to its
 * unprivileged user; NULL when it names no file (a database server).
 */
const char *const *store_files(const char *path);

/* The id of an interface's row, created if needed. */
int store_iface(struct store *s, const char *name, int64_t *id);
int store_get_state(struct store *s, int64_t iface,
		    struct store_iface_state *st);

/*
 * One flush.  store_begin() .. store_commit(): rows go into the bucket of
 * `now` (or of store_at()'s time).  On any error the caller calls
 * store_rollback(); nothing of the flush is then in the file.  Errors are
 * returned (-errno, with the SQLite message in store_errmsg()), not logged: the
 * caller logs once per condition.
 */
int store_begin(struct store *s, int64_t now);
/*
 * Inside a flush: rows and other counts added from now on go into the
 * bucket of `when` instead (never one in an hour already rolled up: the
 * first bucket after it then).  Counts drained earlier and committed late
 * (a store that was down) are stored where they were counted.
 */
int store_at(struct store *s, int64_t when);
/* The start of the bucket that holds `when`. */
int64_t store_bucket(const struct store *s, int64_t when);
int store_add(struct store *s, int64_t iface, const struct store_row *r);
int store_add_other(struct store *s, int64_t iface, enum store_other_kind kind,
		    const struct itm_value *v);
int store_set_state(struct store *s, int64_t iface,
		    const struct store_iface_state *st);
int store_commit(struct store *s);
void store_rollback(struct store *s);
const char *store_errmsg(const struct store *s);

/*
 * Roll closed hours and days up and apply retention, in its own
 * transaction(s).  At most max_hours hours per call, so a long backlog
 * does not stall a flush; 0 = no limit.
 */
int store_maintain(struct store *s, int64_t now, unsigned max_hours);

/*
 * The IPFIX outbox (store_schema.h): what one commit hands the exporter,
 * written inside that commit's transaction (store_begin..store_commit),
 * and the position of a collector, also inside a commit, which deletes
 * the interface's rows up to it.  Records are kept in this byte order:
 * only the host that wrote them reads them back.
 */
struct store_outbox_rec {
	uint8_t addr[16]; /* remote address; kind != 0: all zero */
	uint32_t kind;	  /* 0: per address; 1 + enum store_other_kind */
	uint32_t pad;
	struct itm_value v;
};
_Static_assert(sizeof(struct store_outbox_rec) == 56, "outbox record");

/* The backend keeps an IPFIX outbox (ClickHouse does not yet). */
bool store_has_outbox(const struct store *s);
int store_outbox_put(struct store *s, int64_t iface, uint64_t seq,
		     int64_t ts_ms, const struct store_outbox_rec *recs,
		     size_t n);
int store_outbox_ack(struct store *s, const char *collector, int64_t iface,
		     uint64_t seq, int64_t ts_ms);
/*
 * Set-up: the collector's position on iface (0, 0 when it has none), the
 * highest seq in the outbox (0: empty), and every commit after the
 * position in order.
 */
typedef int (*store_outbox_fn)(void *ctx, uint64_t seq, int64_t ts_ms,
			       const struct store_outbox_rec *recs, size_t n);
int store_outbox_load(struct store *s, const char *collector, int64_t iface,
		      uint64_t *pos_seq, int64_t *pos_ts, uint64_t *max_seq,
		      store_outbox_fn fn, void *ctx);

/* All-time totals, for counters that continue across restarts. */
struct store_total {
	struct in6_addr addr;
	uint32_t pid;
	const char *process;
	struct itm_value v;
};
typedef int (*store_total_fn)(void *ctx, const struct store_total *t);
int store_restore(struct store *s, store_total_fn fn, void *ctx);
/* All-time traffic_other sums of one interface, by kind. */
int store_restore_other(struct store *s, int64_t iface,
			struct itm_value out[STORE_OTHER_MAX]);

#endif

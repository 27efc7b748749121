/* SPDX-License-Identifier: MIT */
/*
 * What a store backend implements: the writer behind store.h (the daemon's
 * flushes, rollups and restarts) and the read-only reader behind `query`.
 * Like the geo layer's struct geo_provider: one table of functions per
 * backend (sqlite/, pg/, clickhouse/), chosen from the --db value in one place,
 * store_backend() in store.c.  Not part of the store's API: persist.c and
 * daemon.c use store.h, query.c uses this.
 *
 * Writer functions return 0 or -errno and keep a one-line message for
 * errmsg(); the façade decides what to log.  Reader functions return 0 or
 * -errno with a one-line message in `err`:
 *   -EINVAL  the SQL or the database is wrong (exit status 2)
 *   -ENOMSG  the statement does not return rows / is not read-only (2)
 *   -ENODATA no statement at all (2)
 *   -EIO, -ENOMEM  reading failed (1)
 */
#ifndef ITM_STORE_OPS_H
#define ITM_STORE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query_format.h"
#include "store.h"

/* One row of a read, as text (vals[i] NULL for NULL). */
typedef int (*store_row_fn)(void *ctx, int ncols, char *const *vals);
/* One row of sums: tx_bytes, rx_bytes, tx_packets, rx_packets of an id. */
typedef int (*store_sum_fn)(void *ctx, int64_t id, const uint64_t v[4]);
/*
 * For readers whose server sums by id and answers in text: a store_row_fn
 * over rows (id, tx_bytes, rx_bytes, tx_packets, rx_packets) that calls
 * fn (ctx: a struct store_sum_text).  In store_plan.c.
 */
struct store_sum_text {
	store_sum_fn fn;
	void *ctx;
};
int store_sum_text_row(void *ctx, int n, char *const *v);
/*
 * A read-only reader's result rc (0, -ENOMSG not a query, -ENODATA empty,
 * -ENOMEM, -EIO, other: SQL error) as one message in err, with the
 * server's reason why.  Returns rc (-EINVAL for an SQL error).
 */
int store_ro_result(int rc, const char *why, char *err, size_t len);

/* What `query top` ranks by: sent, received, or both added up. */
enum store_rank { STORE_RANK_BOTH, STORE_RANK_TX, STORE_RANK_RX };

/*
 * `query top` of a backend that ranks on its server: the rows of [since,
 * until) of every host (host NULL) or one, cut as query.c cuts each
 * host's window (store_plan.h), summed by the name that --by shows (`by`:
 * remote_ip, a label, process or iface; rows that share a name are one,
 * as an address whose labels changed), ordered as query.c's by_rank():
 * the rank's bytes descending, then the name's bytes ascending as
 * strcmp() orders them; the first n (0: all).
 */
struct store_top {
	const char *host;
	int64_t since, until;
	const char *by;
	enum store_rank rank;
	uint64_t n;
};
/* One ranked row: its name and tx_bytes, rx_bytes, tx_packets, rx_packets. */
typedef int (*store_top_fn)(void *ctx, const char *name, const uint64_t v[4]);

/* The reader (`query`): a session that writes nothing. */
struct store_reader {
	int (*open)(const char *path, void **state, char *err, size_t len);
	void (*close)(void *state);
	/* One statement the user gave, its rows into r. */
	int (*sql)(void *state, const char *sql, struct qresult *r, char *err,
		   size_t len);
	/* Rows of a statement of ours with text parameters ($1, $2...). */
	int (*each)(void *state, const char *sql, int nparams,
		    const char *const *params, store_row_fn fn, void *ctx,
		    char *err, size_t len);
	/*
	 * Unused when top is set.  The counters of the rows of `source`
	 * (ts-cut rows of t_bucket, t_hour, t_day: iface_id, addr_id, proc_id
	 * and the counters) by
	 * `column`, summed per id or row by row (the caller adds up either
	 * way); one host's interfaces when host is not NULL.
	 */
	int (*sums)(void *state, const char *host, const char *source,
		    const char *column, store_sum_fn fn, void *ctx, char *err,
		    size_t len);
	/*
	 * Optional (NULL: query.c reads meta_sql, sums and names per host and
	 * ranks): `query top` ranked by the server, every row through fn in
	 * the order of struct store_top.
	 */
	int (*top)(void *state, const struct store_top *t, store_top_fn fn,
		   void *ctx, char *err, size_t len);
	/*
	 * Unused when top is set.  (id, text) of `select` ("SELECT id, x
	 * FROM t") for these ids.
	 */
	int (*names)(void *state, const char *select, const int64_t *ids,
		     size_t n, store_row_fn fn, void *ctx, char *err,
		     size_t len);
	/*
	 * Several monitors share the database: the hosts (first column) of
	 * host_sql ($1: --host, or all), and meta rows per host ($1).  NULL:
	 * one host; meta_sql takes no parameter.
	 */
	const char *host_sql, *all_hosts_sql;
	const char *meta_sql;
};

struct store_ops {
	const char *name;
	/* This --db value is ours; NULL: the fallback (a file path). */
	bool (*claims)(const char *path);
	/* The --db value for messages (a URI without its password); NULL:
	 * the value as given. */
	void (*shown)(const char *path, char *out, size_t len);
	/* Files the daemon hands to its unprivileged user: the path plus
	 * these suffixes (NULL-terminated); NULL: no files (a server). */
	const char *const *files;

	/* ---- the writer (store.h) ---- */
	/* 0 and *state, or -errno with the reason in err (one line). */
	int (*open)(const struct store_config *cfg, void **state, char *err,
		    size_t len);
	void (*close)(void *state);
	const char *(*errmsg)(const void *state);
	int (*iface)(void *state, const char *name, int64_t *id);
	int (*get_state)(void *state, int64_t iface,
			 struct store_iface_state *out);
	int (*begin)(void *state, int64_t now);
	/* The bucket of later adds in this flush (store_at()). */
	int (*at)(void *state, int64_t when);
	int (*add)(void *state, int64_t iface, const struct store_row *r);
	int (*add_other)(void *state, int64_t iface, enum store_other_kind kind,
			 const struct itm_value *v);
	int (*set_state)(void *state, int64_t iface,
			 const struct store_iface_state *st);
	int (*commit)(void *state);
	void (*rollback)(void *state);
	int (*maintain)(void *state, int64_t now, unsigned max_hours);
	int (*restore)(void *state, store_total_fn fn, void *ctx);
	int (*restore_other)(void *state, int64_t iface,
			     struct itm_value out[STORE_OTHER_MAX]);
	/* The IPFIX outbox, as store.h's store_outbox_*(). */
	int (*outbox_put)(void *state, int64_t iface, uint64_t seq,
			  int64_t ts_ms, const struct store_outbox_rec *recs,
			  size_t n);
	int (*outbox_ack)(void *state, const char *collector, int64_t iface,
			  uint64_t seq, int64_t ts_ms);
	int (*outbox_load)(void *state, const char *collector, int64_t iface,
			   uint64_t *pos_seq, int64_t *pos_ts,
			   uint64_t *max_seq, store_outbox_fn fn, void *ctx);

	/* `query`'s side of the backend. */
	const struct store_reader *reader;
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;
extern const struct store_ops store_ch_ops;

/* The backend for a --db value (never NULL: files are the fallback). */
const struct store_ops *store_backend(const char *path);

#endif

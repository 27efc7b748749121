// SPDX-License-Identifier: MIT
/*
 * The ClickHouse backend's reader (`query`): every statement goes over
 * the HTTP interface with readonly=1, so the session writes nothing, and
 * comes back as TabSeparatedWithNamesAndTypes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ch_int.h"
#include "i18n.h"
#include "store_labels.h"
#include "store_plan.h"

struct qch {
	struct ch_conn c;
	/* A session that writes nothing, the user's names in the database. */
	char ro[200];
	/* The last window summed (ch_window()), for the names of its ids. */
	bool window;
	char *host;
	int64_t since, until;
};

static void ch_ro_close(void *state)
{
	struct qch *q = state;

	if (!q)
		return;
	ch_close(&q->c);
	free(q->host);
	free(q);
}

static int ch_ro_open(const char *uri, void **state, char *err, size_t len)
{
	struct qch *q = calloc(1, sizeof(*q));
	struct strbuf out = STRBUF_INIT;
	char why[1024], shown[1280];
	int rc;

	*state = NULL;
	if (!q) {
		snprintf(err, len, _("out of memory"));
		return -ENOMEM;
	}
	rc = ch_open(&q->c, uri, why, sizeof(why));
	if (!rc) {
		snprintf(q->ro, sizeof(q->ro), "&readonly=1&database=%s",
			 q->c.db);
		rc = ch_exec(&q->c, "SELECT 1", NULL, 0, q->ro, &out, why,
			     sizeof(why));
	}
	strbuf_free(&out);
	if (rc) {
		ch_redact(uri, shown, sizeof(shown));
		snprintf(err, len, _("cannot connect to %s: %s"), shown, why);
		ch_ro_close(q);
		return -EINVAL;
	}
	*state = q;
	return 0;
}

/* The cell type SQLite would give a value of this ClickHouse type. */
static enum qcell_type cell_type(const char *type)
{
	if (!strncmp(type, "Nullable(", 9))
		type += 9;
	if (!strncmp(type, "Int", 3) || !strncmp(type, "UInt", 4))
		return QCELL_INT;
	if (!strncmp(type, "Float", 5) || !strncmp(type, "Decimal", 7))
		return QCELL_REAL;
	return QCELL_TEXT;
}

/* $1, $2... replaced by quoted literals of params. */
static int bind_params(struct strbuf *sql, const char *text, int nparams,
		       const char *const *params)
{
	int err = 0;

	for (const char *p = text; *p && !err; p++) {
		char *end;
		long k;

		if (*p != '$' || p[1] < '1' || p[1] > '9') {
			err = strbuf_append(sql, p, 1);
			continue;
		}
		k = strtol(p + 1, &end, 10);
		if (k > nparams || !params[k - 1])
			return -EINVAL;
		err = ch_sql_quote(sql, params[k - 1]);
		p = end - 1;
	}
	return err;
}

/* Run a statement; its TabSeparatedWithNamesAndTypes text in out. */
static int run(struct qch *q, const char *sql, struct strbuf *out, char *err,
	       size_t len)
{
	struct strbuf full = STRBUF_INIT;
	size_t n = strlen(sql);
	int rc;

	while (n && (sql[n - 1] == ';' || sql[n - 1] == ' ' ||
		     sql[n - 1] == '\n' || sql[n - 1] == '\t'))
		n--;
	if (!n) {
		snprintf(err, len, "no SQL statement given");
		return -ENODATA;
	}
	if (strbuf_append(&full, sql, n) ||
	    strbuf_puts(&full, " FORMAT TabSeparatedWithNamesAndTypes")) {
		strbuf_free(&full);
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	/*
	 * In the body, not the URL: the server refuses URLs over 16 KB, and
	 * the statements of `query top` can be longer (max_query_size).
	 */
	rc = ch_exec(&q->c, "", full.buf, full.len, q->ro, out, err, len);
	strbuf_free(&full);
	if (rc == -ECONNRESET)
		rc = -EIO;
	return rc;
}

/* Lines of a reply in place: the next one, NULL at the end. */
static char *next_line(char **p)
{
	char *line = *p, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	*p = nl ? nl + 1 : NULL;
	return line;
}

static int collect(struct qch *q, const char *sql, struct qresult *out,
		   char *err, size_t len)
{
	struct strbuf r = STRBUF_INIT;
	char **names = NULL, **types = NULL, **vals = NULL, *p, *line;
	struct qcell *row = NULL;
	int rc = run(q, sql, &r, err, len), ncols = 0;

	if (rc)
		goto out;
	p = r.buf;
	line = next_line(&p);
	if (!line) {
		rc = -ENOMSG;
		goto out;
	}
	ncols = 1;
	for (char *c = line; *c; c++)
		ncols += *c == '\t';
	names = calloc((size_t)ncols, sizeof(*names));
	types = calloc((size_t)ncols, sizeof(*types));
	vals = calloc((size_t)ncols, sizeof(*vals));
	row = calloc((size_t)ncols, sizeof(*row));
	if (!names || !types || !vals || !row) {
		rc = -ENOMEM;
		goto out;
	}
	ch_tsv_split(line, names, ncols);
	line = next_line(&p);
	if (!line || ch_tsv_split(line, types, ncols) != ncols) {
		snprintf(err, len, "an answer without column types");
		rc = -EIO;
		goto out;
	}
	rc = qresult_init(out, (size_t)ncols, (const char *const *)names);
	while (!rc && (line = next_line(&p))) {
		if (ch_tsv_split(line, vals, ncols) != ncols) {
			snprintf(err, len, "a row of the wrong width");
			rc = -EIO;
			break;
		}
		for (int i = 0; i < ncols; i++)
			row[i] = vals[i] ? (struct qcell){cell_type(types[i]),
							  vals[i]}
					 : (struct qcell){QCELL_NULL, NULL};
		rc = qresult_add_row(out, row);
	}
out:
	free(names);
	free(types);
	free(vals);
	free(row);
	strbuf_free(&r);
	if (rc == -ENOMEM)
		snprintf(err, len, "out of memory");
	return rc;
}

static int ch_ro_sql(void *state, const char *sql, struct qresult *r, char *err,
		     size_t len)
{
	char why[1024];
	int rc = collect(state, sql, r, why, sizeof(why));

	return store_ro_result(rc, why, err, len);
}

static int ch_ro_each(void *state, const char *sql, int nparams,
		      const char *const *params, store_row_fn fn, void *ctx,
		      char *err, size_t len)
{
	struct strbuf text = STRBUF_INIT, r = STRBUF_INIT;
	char *vals[32], *p, *line;
	int rc = bind_params(&text, sql, nparams, params), n = 0;

	if (rc) {
		snprintf(err, len, "%s",
			 rc == -ENOMEM ? "out of memory"
				       : "a parameter is missing");
		strbuf_free(&text);
		return rc;
	}
	rc = run(state, text.buf, &r, err, len);
	p = r.buf;
	/* Names and types first. */
	if (!rc && (line = next_line(&p)))
		n = ch_tsv_split(line, vals, 32);
	if (!rc)
		next_line(&p);
	while (!rc && (line = next_line(&p)))
		if (ch_tsv_split(line, vals, 32) == n)
			rc = fn(ctx, n, vals);
	strbuf_free(&text);
	strbuf_free(&r);
	return rc;
}

/*
 * What an id column of the views (t_bucket, t_hour, t_day) hashes, for
 * statements that read the tables under them.
 */
static int id_expr(struct strbuf *sb, const char *column)
{
	if (!strcmp(column, "iface_id"))
		return strbuf_puts(sb, "toInt64(cityHash64(host, iface))");
	if (!strcmp(column, "proc_id"))
		return strbuf_puts(sb, "toInt64(cityHash64(pid, process))");
	if (strcmp(column, "addr_id"))
		return -EINVAL;
	if (strbuf_puts(sb, "toInt64(cityHash64(ip, ") ||
	    store_labels_list(sb, "%1$s", ", ") || strbuf_puts(sb, "))"))
		return -ENOMEM;
	return 0;
}

/*
 * The per-host loop of query.c, unused while ch_window() is set: one
 * host's rows added up by id through the views.
 */
static int ch_sums(void *state, const char *host, const char *source,
		   const char *column, store_sum_fn fn, void *ctx, char *err,
		   size_t len)
{
	struct strbuf sql = STRBUF_INIT;
	struct store_sum_text c = {fn, ctx};
	const char *v[1] = {host};
	int rc;

	if (strbuf_printf(&sql,
			  "SELECT %s AS k, sum(tx_bytes), sum(rx_bytes),"
			  " sum(tx_packets), sum(rx_packets) FROM (%s)%s"
			  " GROUP BY k",
			  column, source,
			  host ? " WHERE iface_id IN (SELECT id FROM ifaces"
				 " WHERE host = $1)"
			       : "")) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	rc = ch_ro_each(state, sql.buf, host ? 1 : 0, v, store_sum_text_row, &c,
			err, len);
	strbuf_free(&sql);
	return rc;
}

/*
 * `query top`'s window of every host in one statement.  query.c cuts a
 * host's window by its horizons (store_plan.h): whole days from the daily
 * rows, whole hours from the hourly ones, the rest from raw rows; where a
 * finer table no longer holds a host's rows (retention), a coarser row
 * that starts in that part counts instead.  Here every hour and day of
 * the rollups is whole as soon as its drains are stored, and retention
 * drops whole days, raw before hours before days, so the horizons only
 * matter in two places, which the statement asks the tables themselves:
 * the hourly row of the last, cut hour counts if the host has no raw row
 * in that hour, and the daily row of a cut day (d1) if it has no hourly
 * row that day.  Everything else is a (host, ts) range of one table: no
 * horizons to read per host, which cost a scan of its raw rows.
 */
static int window_part(struct strbuf *sql, const char *table,
		       const char *column, const char *host, const char *cond)
{
	int err =
		strbuf_printf(sql, "%sSELECT ", sql->len ? " UNION ALL " : "");

	if (!err)
		err = id_expr(sql, column);
	if (!err)
		err = strbuf_printf(sql,
				    " AS k, tx_bytes AS tb, rx_bytes AS rb,"
				    " tx_packets AS tp, rx_packets AS rp FROM"
				    " %s WHERE kind = 3 AND ",
				    table);
	if (!err && host)
		err = strbuf_puts(sql, "host = ") || ch_sql_quote(sql, host) ||
		      strbuf_puts(sql, " AND ");
	if (!err)
		err = strbuf_puts(sql, cond);
	return err ? -ENOMEM : 0;
}

/* " AND host NOT IN (the hosts with rows of table in [lo, hi))" */
static int none_in(struct strbuf *c, const char *table, const char *host,
		   int64_t lo, int64_t hi)
{
	/* GLOBAL: on a cluster the subquery reads the Distributed table
	 * once, not on every shard (18.16 refuses that). */
	int err = strbuf_printf(c,
				" AND host GLOBAL NOT IN (SELECT host FROM %s"
				" WHERE kind = 3 AND ts >= %" PRId64
				" AND ts < %" PRId64,
				table, lo, hi);

	if (!err && host)
		err = strbuf_puts(c, " AND host = ") || ch_sql_quote(c, host);
	if (!err)
		err = strbuf_puts(c, ")");
	return err ? -ENOMEM : 0;
}

static int window_sql(struct strbuf *sql, const char *host, int64_t since,
		      int64_t until, const char *column)
{
	int64_t d0 = store_ceil(since, STORE_DAY);
	int64_t d1 = store_floor(until, STORE_DAY);
	int64_t hs = store_ceil(since, STORE_HOUR);
	int64_t hu = store_floor(until, STORE_HOUR);
	struct strbuf parts = STRBUF_INIT, c = STRBUF_INIT;
	int err = 0;

	if (since >= until)
		return strbuf_puts(sql, "SELECT 0, 0, 0, 0, 0 LIMIT 0")
			       ? -ENOMEM
			       : 0;
	/* whole days */
	if (d0 < d1)
		err = strbuf_printf(&c, "ts >= %" PRId64 " AND ts < %" PRId64,
				    d0, d1) ||
		      window_part(&parts, "itm_day", column, host, c.buf);
	/* whole hours of the cut days */
	if (!err && hs < hu) {
		strbuf_reset(&c);
		if (d0 < d1)
			err = strbuf_printf(&c,
					    "((ts >= %" PRId64
					    " AND ts < %" PRId64
					    ") OR (ts >= %" PRId64
					    " AND ts < %" PRId64 "))",
					    hs, d0, d1, hu);
		else
			err = strbuf_printf(
				&c, "ts >= %" PRId64 " AND ts < %" PRId64, hs,
				hu);
		err = err ||
		      window_part(&parts, "itm_hour", column, host, c.buf);
	}
	/* the cut hours: one, or the first and the last */
	strbuf_reset(&c);
	if (!err && hu < since)
		err = strbuf_printf(&c, "ts >= %" PRId64 " AND ts < %" PRId64,
				    since, until);
	else if (!err)
		err = strbuf_printf(&c,
				    "((ts >= %" PRId64 " AND ts < %" PRId64
				    ") OR (ts >= %" PRId64 " AND ts < %" PRId64
				    "))",
				    since, hs, hu, until);
	err = err || window_part(&parts, "itm_data", column, host, c.buf);
	/* the last cut hour whole when its raw rows are gone */
	if (!err && hu >= since && hu < until) {
		strbuf_reset(&c);
		err = strbuf_printf(&c, "ts = %" PRId64, hu) ||
		      none_in(&c, "itm_data", host, hu, hu + STORE_HOUR) ||
		      window_part(&parts, "itm_hour", column, host, c.buf);
	}
	/* the cut day d1 whole when its hourly rows are gone */
	if (!err && d1 >= since && d1 < until) {
		strbuf_reset(&c);
		err = strbuf_printf(&c, "ts = %" PRId64, d1) ||
		      none_in(&c, "itm_hour", host, d1, d1 + STORE_DAY) ||
		      window_part(&parts, "itm_day", column, host, c.buf);
	}
	if (!err)
		err = strbuf_printf(sql,
				    "SELECT k, sum(tb), sum(rb), sum(tp),"
				    " sum(rp) FROM (%s) GROUP BY k",
				    parts.buf);
	strbuf_free(&parts);
	strbuf_free(&c);
	return err ? -ENOMEM : 0;
}

static int ch_window(void *state, const char *host, int64_t since,
		     int64_t until, const char *column, store_sum_fn fn,
		     void *ctx, char *err, size_t len)
{
	struct strbuf sql = STRBUF_INIT;
	struct store_sum_text c = {fn, ctx};
	struct qch *q = state;
	int rc = window_sql(&sql, host, since, until, column);

	free(q->host);
	q->host = host ? strdup(host) : NULL;
	q->window = !host || q->host;
	q->since = since;
	q->until = until;
	if (!rc && host && !q->host)
		rc = -ENOMEM;
	if (rc) {
		snprintf(err, len, "out of memory");
		strbuf_free(&sql);
		return rc;
	}
	rc = ch_ro_each(state, sql.buf, 0, NULL, store_sum_text_row, &c, err,
			len);
	strbuf_free(&sql);
	return rc;
}

/*
 * Past this many ids a list would make the statement too long for the
 * server (max_query_size, 256 KiB, which readonly=1 cannot raise): every
 * name of the view is read instead, and name_row() in query.c keeps
 * those of the ids it summed.
 */
#define CH_NAMES_LISTED 2000

/*
 * The names of a window's addresses or processes without their ids: the
 * daily rows of its days and hosts, which name every row the window
 * counted (a drain's rows go into its day's row as they are stored, and
 * days are dropped last).  -EINVAL: not one of those (ifaces, or no
 * window summed).
 */
static int window_names(struct strbuf *sql, const struct qch *q,
			const char *select)
{
	char col[64], view[16];
	const char *column;
	int err;

	if (!q->window ||
	    sscanf(select, "SELECT id, %63[^ ] FROM %15s", col, view) != 2)
		return -EINVAL;
	if (!strcmp(view, "addrs"))
		column = "addr_id";
	else if (!strcmp(view, "procs"))
		column = "proc_id";
	else
		return -EINVAL;
	err = strbuf_puts(sql, "SELECT DISTINCT ");
	if (!err)
		err = id_expr(sql, column);
	if (!err)
		err = strbuf_printf(sql,
				    " AS id, %s FROM itm_day WHERE kind = 3 AND"
				    " ts >= %" PRId64 " AND ts < %" PRId64,
				    col, store_floor(q->since, STORE_DAY),
				    q->until);
	if (!err && q->host)
		err = strbuf_puts(sql, " AND host = ") ||
		      ch_sql_quote(sql, q->host);
	return err ? -ENOMEM : 0;
}

static int ch_names(void *state, const char *select, const int64_t *ids,
		    size_t n, store_row_fn fn, void *ctx, char *err, size_t len)
{
	struct strbuf sql = STRBUF_INIT;
	int rc = n > CH_NAMES_LISTED ? window_names(&sql, state, select)
				     : -EINVAL;

	if (rc == -EINVAL) { /* the ids listed, or every name of the view */
		strbuf_reset(&sql);
		rc = strbuf_puts(&sql, select);
	}
	if (!rc && n <= CH_NAMES_LISTED)
		rc = strbuf_puts(&sql, " WHERE id IN (");
	for (size_t i = 0; !rc && n <= CH_NAMES_LISTED && i < n; i++)
		rc = strbuf_printf(&sql, "%s%" PRId64, i ? "," : "", ids[i]);
	if (!rc && n <= CH_NAMES_LISTED)
		rc = strbuf_puts(&sql, ")");
	if (rc) {
		snprintf(err, len, "out of memory");
		rc = -ENOMEM;
	} else {
		rc = ch_ro_each(state, sql.buf, 0, NULL, fn, ctx, err, len);
	}
	strbuf_free(&sql);
	return rc;
}

/*
 * The horizons of `query top` (store_plan.h) for one host ($1).  The
 * materialized views sum every promoted drain into the rollups as it is
 * stored, so every hour and day, closed or not, is whole in itm_hour and
 * itm_day (hour_done and day_done: never).  Retention drops whole day
 * partitions: the raw rows start at the day of the oldest one kept
 * (bucket_from; none: never), the hours likewise (hour_from, never after
 * bucket_from); below that, the days.
 */
#define CH_NEVER "toInt64(4000000000000000000)"
#define CH_FROM(table)                                                         \
	"(SELECT if(count() = 0, " CH_NEVER ", intDiv(min(ts), 86400) *"       \
	" 86400) FROM " table " WHERE host = $1 AND kind = 3)"
#define CH_META_SQL                                                            \
	"SELECT k, v FROM (SELECT ['bucket_from', 'hour_from', 'hour_done',"   \
	" 'day_done'] AS ks, [b, least(h, b), " CH_NEVER ", " CH_NEVER "]"     \
	" AS vs FROM (SELECT " CH_FROM("itm_data") " AS b, " CH_FROM(          \
		"itm_hour") " AS h)) ARRAY JOIN ks AS k, vs AS v"

const struct store_reader ch_reader = {
	.open = ch_ro_open,
	.close = ch_ro_close,
	.sql = ch_ro_sql,
	.each = ch_ro_each,
	.sums = ch_sums,
	.names = ch_names,
	.window = ch_window,
	.host_sql = "SELECT DISTINCT host FROM ifaces WHERE host = $1",
	.all_hosts_sql = "SELECT DISTINCT host FROM ifaces",
	.meta_sql = CH_META_SQL,
};

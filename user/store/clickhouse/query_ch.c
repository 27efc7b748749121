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
};

static void ch_ro_close(void *state)
{
	struct qch *q = state;

	if (!q)
		return;
	ch_close(&q->c);
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
 * The column of the tables that --by names a row by: query.c's keys are
 * named as the columns (remote_ip, the labels, process; iface is the
 * interface's name).  NULL: not one of them.
 */
static const char *name_column(const char *by)
{
	if (!strcmp(by, "remote_ip") || !strcmp(by, "process") ||
	    !strcmp(by, "iface"))
		return by;
	for (int i = 0; i < GEO_NLABELS; i++)
		if (!strcmp(by, geo_label_defs[i].name))
			return by;
	return NULL;
}

/*
 * One table's part of the window: its rows' names (k) and counters, only
 * those of the rank (--tx: no rx column read).  `shards`: summed by name
 * in the part, so that each shard of a cluster sends sums, not rows; on
 * one server the outer GROUP BY alone is faster (one hash table of names,
 * not one per part and another over them: 0.5-0.7 s against 0.7-1.7 s
 * over 10 M rows here).
 */
static int window_part(struct strbuf *sql, const struct store_top *t,
		       bool shards, const char *table, const char *cond)
{
	static const char *const counters[] = {
		[STORE_RANK_BOTH] = "%1$stx_bytes%2$s AS s1, %1$srx_bytes%2$s"
				    " AS s2, %1$stx_packets%2$s AS s3,"
				    " %1$srx_packets%2$s AS s4",
		[STORE_RANK_TX] =
			"%1$stx_bytes%2$s AS s1, toUInt64(0) AS s2,"
			" %1$stx_packets%2$s AS s3, toUInt64(0) AS s4",
		[STORE_RANK_RX] =
			"toUInt64(0) AS s1, %1$srx_bytes%2$s AS s2,"
			" toUInt64(0) AS s3, %1$srx_packets%2$s AS s4",
	};
	int err;

	if (!cond || !*cond) /* no range of this table in the window */
		return 0;
	err = strbuf_printf(sql, "%sSELECT %s AS k, ",
			    sql->len ? " UNION ALL " : "", name_column(t->by));
	if (!err)
		err = strbuf_printf(sql, counters[t->rank],
				    shards ? "sum(" : "", shards ? ")" : "");
	if (!err)
		err = strbuf_printf(sql, " FROM %s WHERE kind = 3 AND ", table);
	if (!err && t->host)
		err = strbuf_puts(sql, "host = ") ||
		      ch_sql_quote(sql, t->host) || strbuf_puts(sql, " AND ");
	if (!err)
		err = strbuf_printf(sql, "(%s)%s", cond,
				    shards ? " GROUP BY k" : "");
	return err ? -ENOMEM : 0;
}

/* "ts >= lo AND ts < hi" OR'ed onto c (nothing when lo >= hi). */
static int add_range(struct strbuf *c, int64_t lo, int64_t hi)
{
	if (lo >= hi)
		return 0;
	return strbuf_printf(c, "%s(ts >= %" PRId64 " AND ts < %" PRId64 ")",
			     c->len ? " OR " : "", lo, hi);
}

/*
 * [a, b) of one cut hour: its whole minutes (ranges onto min) from
 * itm_minute, which holds one row per address and minute where the raw
 * rows hold one per drain (30 at -s 2), and the cut minutes at either
 * end (onto raw) from the raw rows.  itm_minute is summed from each
 * drain as it is stored and dropped with the raw rows of its day.
 */
static int add_cut(struct strbuf *raw, struct strbuf *min, int64_t a, int64_t b)
{
	int64_t m0 = store_ceil(a, 60), m1 = store_floor(b, 60);

	if (m0 >= m1)
		return add_range(raw, a, b);
	return add_range(raw, a, m0) || add_range(min, m0, m1) ||
	       add_range(raw, m1, b);
}

/* " AND host NOT IN (the hosts with rows of table in [lo, hi))" */
static int none_in(struct strbuf *c, const char *table, const char *host,
		   int64_t lo, int64_t hi)
{
	/* GLOBAL: on a cluster the subquery reads the Distributed table
	 * once, not on every shard (18.16 refuses that). */
	int err = strbuf_printf(c,
				" AND host GLOBAL NOT IN (SELECT DISTINCT host"
				" FROM %s WHERE kind = 3 AND ts >= %" PRId64
				" AND ts < %" PRId64,
				table, lo, hi);

	if (!err && host)
		err = strbuf_puts(c, " AND host = ") || ch_sql_quote(c, host);
	if (!err)
		err = strbuf_puts(c, ")");
	return err ? -ENOMEM : 0;
}

/*
 * `query top` in one statement for every host.  query.c cuts a host's
 * window by its horizons (store_plan.h): whole days from the daily rows,
 * whole hours from the hourly ones, the rest from raw rows; where a finer
 * table no longer holds a host's rows (retention), a coarser row that
 * starts in that part counts instead.  Here every minute, hour and day of
 * the rollups is whole as soon as its drains are stored, and retention
 * drops whole days, raw rows and minutes before hours before days, so
 * the horizons only matter in two places, which the statement asks the
 * tables themselves: the hourly row of the last, cut hour counts if the
 * host has no minute row in that hour, and the daily row of a cut day
 * (d1) if it has no hourly row that day.  Everything else is a (host,
 * ts) range of one table.
 *
 * Summed by the name itself, not by ids named later: ids that share a
 * name (an address whose labels changed) are one row, as query.c merges
 * them, and the server ranks as by_rank() does: String sorts by memcmp()
 * of the bytes, then length, which is strcmp() for text without NUL.
 * The names are never NULL (the columns are String, 'Unknown' or '-'
 * where unknown, store_ch.c), so query.c's "Unknown" for a nameless id
 * does not arise.
 */
static int window_sql(struct strbuf *sql, const struct store_top *t,
		      bool shards)
{
	static const char *const metric[] = {
		[STORE_RANK_BOTH] = "tb + rb",
		[STORE_RANK_TX] = "tb",
		[STORE_RANK_RX] = "rb",
	};
	int64_t since = t->since, until = t->until;
	int64_t d0 = store_ceil(since, STORE_DAY);
	int64_t d1 = store_floor(until, STORE_DAY);
	int64_t hs = store_ceil(since, STORE_HOUR);
	int64_t hu = store_floor(until, STORE_HOUR);
	struct strbuf parts = STRBUF_INIT, c = STRBUF_INIT, m = STRBUF_INIT;
	int err = 0;

	if (since >= until)
		return strbuf_puts(sql, "SELECT '', 0, 0, 0, 0 LIMIT 0")
			       ? -ENOMEM
			       : 0;
	/* whole days */
	if (d0 < d1)
		err = add_range(&c, d0, d1) ||
		      window_part(&parts, t, shards, "itm_day", c.buf);
	/* whole hours of the cut days */
	strbuf_reset(&c);
	if (!err && hs < hu) {
		if (d0 < d1)
			err = add_range(&c, hs, d0) || add_range(&c, d1, hu);
		else
			err = add_range(&c, hs, hu);
		err = err || window_part(&parts, t, shards, "itm_hour", c.buf);
	}
	/* the cut hours: one, or the first and the last */
	strbuf_reset(&c);
	if (!err && hu < since)
		err = add_cut(&c, &m, since, until);
	else if (!err)
		err = add_cut(&c, &m, since, hs) || add_cut(&c, &m, hu, until);
	if (!err)
		err = window_part(&parts, t, shards, "itm_minute", m.buf) ||
		      window_part(&parts, t, shards, "itm_data", c.buf);
	/* the last cut hour whole when its minutes are gone */
	if (!err && hu >= since && hu < until) {
		strbuf_reset(&c);
		err = strbuf_printf(&c, "ts = %" PRId64, hu) ||
		      none_in(&c, "itm_minute", t->host, hu, hu + STORE_HOUR) ||
		      window_part(&parts, t, shards, "itm_hour", c.buf);
	}
	/* the cut day d1 whole when its hourly rows are gone */
	if (!err && d1 >= since && d1 < until) {
		strbuf_reset(&c);
		err = strbuf_printf(&c, "ts = %" PRId64, d1) ||
		      none_in(&c, "itm_hour", t->host, d1, d1 + STORE_DAY) ||
		      window_part(&parts, t, shards, "itm_day", c.buf);
	}
	if (!err)
		err = strbuf_printf(sql,
				    "SELECT k, sum(s1) AS tb, sum(s2) AS rb,"
				    " sum(s3), sum(s4) FROM (%s)"
				    " GROUP BY k ORDER BY %s DESC, k",
				    parts.buf, metric[t->rank]);
	if (!err && t->n)
		err = strbuf_printf(sql, " LIMIT %" PRIu64, t->n);
	strbuf_free(&parts);
	strbuf_free(&c);
	strbuf_free(&m);
	return err ? -ENOMEM : 0;
}

struct top_rows {
	store_top_fn fn;
	void *ctx;
};

static int top_row(void *ctx, int n, char *const *v)
{
	struct top_rows *c = ctx;
	uint64_t x[4];

	if (n < 5 || !v[0])
		return -EIO;
	for (int k = 0; k < 4; k++)
		x[k] = v[1 + k] ? strtoull(v[1 + k], NULL, 10) : 0;
	return c->fn(c->ctx, v[0], x);
}

static int ch_top(void *state, const struct store_top *t, store_top_fn fn,
		  void *ctx, char *err, size_t len)
{
	struct strbuf sql = STRBUF_INIT;
	struct top_rows c = {fn, ctx};
	struct qch *q = state;
	int rc;

	if (!name_column(t->by) || t->rank > STORE_RANK_RX) {
		snprintf(err, len, "no column for --by %s", t->by);
		return -EINVAL;
	}
	rc = window_sql(&sql, t, q->c.cluster[0] != '\0');
	if (rc)
		snprintf(err, len, "out of memory");
	else
		rc = ch_ro_each(state, sql.buf, 0, NULL, top_row, &c, err, len);
	strbuf_free(&sql);
	return rc;
}

const struct store_reader ch_reader = {
	.open = ch_ro_open,
	.close = ch_ro_close,
	.sql = ch_ro_sql,
	.each = ch_ro_each,
	.top = ch_top,
	/* The sort key's prefix: not every interface of every day. */
	.host_sql = "SELECT host FROM itm_day WHERE host = $1 LIMIT 1",
	.all_hosts_sql = "SELECT DISTINCT host FROM ifaces",
};

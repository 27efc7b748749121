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
 * What a part of the window selects besides its rows' names (k): the
 * counters of the rank (--tx: no rx column read), or for the probe the
 * rank's bytes alone (v).  %1$s and %2$s wrap each in sum() on a cluster.
 */
static const char *const counters[] = {
	[STORE_RANK_BOTH] = "%1$stx_bytes%2$s AS s1, %1$srx_bytes%2$s"
			    " AS s2, %1$stx_packets%2$s AS s3,"
			    " %1$srx_packets%2$s AS s4",
	[STORE_RANK_TX] = "%1$stx_bytes%2$s AS s1, toUInt64(0) AS s2,"
			  " %1$stx_packets%2$s AS s3, toUInt64(0) AS s4",
	[STORE_RANK_RX] = "toUInt64(0) AS s1, %1$srx_bytes%2$s AS s2,"
			  " toUInt64(0) AS s3, %1$srx_packets%2$s AS s4",
};
static const char *const rank_bytes[] = {
	[STORE_RANK_BOTH] = "%1$stx_bytes + rx_bytes%2$s AS v",
	[STORE_RANK_TX] = "%1$stx_bytes%2$s AS v",
	[STORE_RANK_RX] = "%1$srx_bytes%2$s AS v",
};
/* The rank's bytes of a summed row (tb, rb: its sent and received bytes). */
static const char *const metric[] = {
	[STORE_RANK_BOTH] = "tb + rb",
	[STORE_RANK_TX] = "tb",
	[STORE_RANK_RX] = "rb",
};

/*
 * One table's part of the window: its rows' names (k) and `vals` (above).
 * `shards`: summed by name in the part, so that each shard of a cluster
 * sends sums, not rows; on one server the outer GROUP BY alone is faster
 * (one hash table of names, not one per part and another over them:
 * 0.5-0.7 s against 0.7-1.7 s over 10 M rows here).
 */
static int window_part(struct strbuf *sql, const struct store_top *t,
		       const char *vals, bool shards, const char *table,
		       const char *cond)
{
	int err;

	if (!cond || !*cond) /* no range of this table in the window */
		return 0;
	err = strbuf_printf(sql, "%sSELECT %s AS k, ",
			    sql->len ? " UNION ALL " : "", name_column(t->by));
	if (!err)
		err = strbuf_printf(sql, vals, shards ? "sum(" : "",
				    shards ? ")" : "");
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
 * The two places where a host's horizon matters (see window_sql()): the
 * hourly row of the last cut hour counts if the host has no minute row
 * in that hour, the daily row of the cut day if it has no hourly row that
 * day.  Before the probe these hosts are asked once (horizon_ask()), and
 * its statement (and the exact one after it) names them (`known`): the
 * probe reads the window twice, and each time the subquery would read
 * every minute row of the hour and every hourly row of the day again
 * (about 3 M rows at 50 hosts x 700 addresses a minute).  Not known: the
 * statement asks the finer table itself (none_in()).
 */
struct horizon {
	bool known;
	int n;
	struct strbuf hosts; /* quoted, comma-separated */
};

/* At most this many hosts named in a statement; more: asked in it. */
#define CH_HORIZON_NAMED 64

/*
 * The part of a cut period's coarse rows (at: the period's start) that
 * counts: those of the hosts without finer rows in it.  Nothing when the
 * hosts are known and there are none.
 */
static int coarse_part(struct strbuf *parts, const struct store_top *t,
		       const char *vals, bool shards, const struct horizon *h,
		       const char *table, const char *finer, int64_t at,
		       int64_t span)
{
	struct strbuf c = STRBUF_INIT;
	int err;

	if (h && h->known && !h->n)
		return 0;
	err = strbuf_printf(&c, "ts = %" PRId64, at) ? -ENOMEM : 0;
	if (!err && h && h->known)
		err = strbuf_printf(&c, " AND host IN (%s)", h->hosts.buf)
			      ? -ENOMEM
			      : 0;
	else if (!err)
		err = none_in(&c, finer, t->host, at, at + span);
	if (!err)
		err = window_part(parts, t, vals, shards, table, c.buf);
	strbuf_free(&c);
	return err;
}

/*
 * The UNION ALL of the window's parts, each row a name (k) and `vals`.
 * query.c cuts a host's window by its horizons (store_plan.h): whole days
 * from the daily rows, whole hours from the hourly ones, the rest from raw
 * rows; where a finer table no longer holds a host's rows (retention), a
 * coarser row that starts in that part counts instead.  Here every minute,
 * hour and day of the rollups is whole as soon as its drains are stored,
 * and retention drops whole days, raw rows and minutes before hours before
 * days, so the horizons only matter in two places (struct horizon; hz:
 * the last cut hour's and the cut day's, NULL: asked in the statement).
 * Everything else is a (host, ts) range of one table.
 */
static int window_parts(struct strbuf *parts, const struct store_top *t,
			const char *vals, bool shards, const struct horizon *hz)
{
	int64_t since = t->since, until = t->until;
	int64_t d0 = store_ceil(since, STORE_DAY);
	int64_t d1 = store_floor(until, STORE_DAY);
	int64_t hs = store_ceil(since, STORE_HOUR);
	int64_t hu = store_floor(until, STORE_HOUR);
	struct strbuf c = STRBUF_INIT, m = STRBUF_INIT;
	int err = 0;

	/* whole days */
	if (d0 < d1)
		err = add_range(&c, d0, d1) ||
		      window_part(parts, t, vals, shards, "itm_day", c.buf);
	/* whole hours of the cut days */
	strbuf_reset(&c);
	if (!err && hs < hu) {
		if (d0 < d1)
			err = add_range(&c, hs, d0) || add_range(&c, d1, hu);
		else
			err = add_range(&c, hs, hu);
		err = err ||
		      window_part(parts, t, vals, shards, "itm_hour", c.buf);
	}
	/* the cut hours: one, or the first and the last */
	strbuf_reset(&c);
	if (!err && hu < since)
		err = add_cut(&c, &m, since, until);
	else if (!err)
		err = add_cut(&c, &m, since, hs) || add_cut(&c, &m, hu, until);
	if (!err)
		err = window_part(parts, t, vals, shards, "itm_minute",
				  m.buf) ||
		      window_part(parts, t, vals, shards, "itm_data", c.buf);
	/* the last cut hour whole when its minutes are gone */
	if (!err && hu >= since && hu < until)
		err = coarse_part(parts, t, vals, shards, hz ? &hz[0] : NULL,
				  "itm_hour", "itm_minute", hu, STORE_HOUR);
	/* the cut day d1 whole when its hourly rows are gone */
	if (!err && d1 >= since && d1 < until)
		err = coarse_part(parts, t, vals, shards, hz ? &hz[1] : NULL,
				  "itm_day", "itm_hour", d1, STORE_DAY);
	strbuf_free(&c);
	strbuf_free(&m);
	return err ? -ENOMEM : 0;
}

/*
 * `query top` in one statement for every host: the window's parts summed
 * by the name itself, not by ids named later: ids that share a name (an
 * address whose labels changed) are one row, as query.c merges them, and
 * the server ranks as by_rank() does: String sorts by memcmp() of the
 * bytes, then length, which is strcmp() for text without NUL.  The names
 * are never NULL (the columns are String, 'Unknown' or '-' where unknown,
 * store_ch.c), so query.c's "Unknown" for a nameless id does not arise.
 */
static int window_sql(struct strbuf *sql, const struct store_top *t,
		      bool shards, const struct horizon *hz)
{
	struct strbuf parts = STRBUF_INIT;
	int err;

	err = window_parts(&parts, t, counters[t->rank], shards, hz);
	if (!err)
		err = strbuf_printf(sql,
				    "SELECT k, sum(s1) AS tb, sum(s2) AS rb,"
				    " sum(s3), sum(s4) FROM (%s)"
				    " GROUP BY k ORDER BY %s DESC, k",
				    parts.buf, metric[t->rank]);
	if (!err && t->n)
		err = strbuf_printf(sql, " LIMIT %" PRIu64, t->n);
	strbuf_free(&parts);
	return err ? -ENOMEM : 0;
}

/*
 * The statement that names the hosts of struct horizon: rows (0, host)
 * for the last cut hour, (1, host) for the cut day; NULL (empty sql) when
 * the window cuts neither.
 */
static int horizon_sql(struct strbuf *sql, const struct store_top *t)
{
	static const struct {
		const char *table, *finer;
		int64_t span;
	} cut[] = {{"itm_hour", "itm_minute", STORE_HOUR},
		   {"itm_day", "itm_hour", STORE_DAY}};
	int64_t at[] = {store_floor(t->until, STORE_HOUR),
			store_floor(t->until, STORE_DAY)};
	int err = 0;

	for (int i = 0; i < 2 && !err; i++) {
		if (at[i] < t->since || at[i] >= t->until)
			continue;
		err = strbuf_printf(sql,
				    "%sSELECT DISTINCT toUInt8(%d) AS p, host"
				    " FROM %s WHERE kind = 3 AND ts = %" PRId64,
				    sql->len ? " UNION ALL " : "", i,
				    cut[i].table, at[i]);
		if (!err && t->host)
			err = strbuf_puts(sql, " AND host = ") ||
			      ch_sql_quote(sql, t->host);
		err = err || none_in(sql, cut[i].finer, t->host, at[i],
				     at[i] + cut[i].span);
	}
	return err ? -ENOMEM : 0;
}

static void horizon_free(struct horizon *hz)
{
	for (int i = 0; i < 2; i++)
		strbuf_free(&hz[i].hosts);
}

/* hz[0] and hz[1] from the server (horizon_sql()). */
static int horizon_ask(struct qch *q, const struct store_top *t,
		       struct horizon *hz, char *err, size_t len)
{
	struct strbuf sql = STRBUF_INIT, r = STRBUF_INIT;
	char *v[2], *p, *line;
	int rc = horizon_sql(&sql, t);

	for (int i = 0; i < 2; i++)
		hz[i] = (struct horizon){.known = true, .hosts = STRBUF_INIT};
	if (rc || !sql.len)
		goto out;
	rc = run(q, sql.buf, &r, err, len);
	p = r.buf;
	/* names and types first */
	if (!rc && next_line(&p))
		next_line(&p);
	while (!rc && (line = next_line(&p))) {
		struct horizon *h;

		if (ch_tsv_split(line, v, 2) != 2 || !v[0] || !v[1] ||
		    (strcmp(v[0], "0") && strcmp(v[0], "1"))) {
			snprintf(err, len, "a row of the wrong shape");
			rc = -EIO;
			break;
		}
		h = &hz[v[0][0] - '0'];
		if (++h->n > CH_HORIZON_NAMED)
			h->known = false;
		if (h->known)
			rc = strbuf_puts(&h->hosts, h->n > 1 ? ", " : "") ||
					     ch_sql_quote(&h->hosts, v[1])
				     ? -ENOMEM
				     : 0;
	}
out:
	if (rc == -ENOMEM)
		snprintf(err, len, "out of memory");
	strbuf_free(&sql);
	strbuf_free(&r);
	return rc;
}

/*
 * The probe: `query top -n N --by remote_ip` on one server without
 * summing every address of the window by name.  Summing 550 000 String
 * names over 2.6 M rows (50 M raw rows, 50 hosts, 24 h) is most of the
 * exact statement's time (one hash table entry and five aggregate states
 * per name, each a cache miss); summing them into 65 536 buckets of a
 * hash of the name is a small table that stays in the cache.  Then:
 *
 *  1. the `l` buckets with the most bytes of the rank (P1, a subquery);
 *  2. every name of those buckets, summed by name (the same statement:
 *     the window read again, only its rows in those buckets summed),
 *     with its bucket, ranked; all of them to the client, which
 *  3. proves the first n exact or falls back to the exact statement.
 *
 * Why the proof holds: counters are never negative, so a bucket's bytes
 * are at least those of each of its names, and every bucket outside P1
 * has at most the bytes of the least of P1 (ml; ORDER BY ... LIMIT l),
 * so every name outside P1's buckets has at most ml.  If the n-th of
 * the ranked names has more than ml, no name outside can rank before
 * it, nor tie it (ties go by name), so the first n are the first n of
 * all names.  If P1 has fewer than l buckets, it has all of them, and the
 * ranking is of every name.  Otherwise (ties or flat traffic at the
 * cut), the exact statement.  The buckets' sums are those of the names
 * the client received: the same rows as P1's, read by one statement (a
 * drain stored while it runs, at the window's end, may be in one read
 * and not the other, as it may be in one table and not yet in another
 * for the exact statement: a window still being written is exact once
 * its drains are stored).
 */
struct probe {
	unsigned buckets; /* at most 65 536: a UInt16 key */
	uint64_t extra;	  /* l = n + extra */
	bool trace;
};

/* Tests make the buckets few and the margin small to reach the
 * fallback (ITM_TEST_CH_TOP=BUCKETS,EXTRA), and learn which path ran. */
static struct probe probe_params(void)
{
	struct probe p = {65536, 256, false};
	const char *s = getenv("ITM_TEST_CH_TOP");
	unsigned b;
	unsigned long long e;

	if (s && sscanf(s, "%u,%llu", &b, &e) == 2 && b >= 1 && b <= 65536)
		p = (struct probe){b, e, true};
	return p;
}

static int probe_sql(struct strbuf *sql, const struct store_top *t,
		     const struct horizon *hz, const struct probe *pp)
{
	struct strbuf p1 = STRBUF_INIT, p2 = STRBUF_INIT;
	int err = window_parts(&p1, t, rank_bytes[t->rank], false, hz) ||
		  window_parts(&p2, t, counters[t->rank], false, hz);

	if (!err)
		err = strbuf_printf(
			sql,
			"SELECT k, any(toUInt16(cityHash64(k) %% %1$u)),"
			" sum(s1) AS tb, sum(s2) AS rb, sum(s3), sum(s4)"
			" FROM (%3$s) WHERE toUInt16(cityHash64(k) %% %1$u) IN"
			" (SELECT b FROM (SELECT toUInt16(cityHash64(k) %% %1$u)"
			" AS b, sum(v) AS m FROM (%2$s) GROUP BY b ORDER BY m"
			" DESC LIMIT %4$" PRIu64 ")) GROUP BY k"
			" ORDER BY %5$s DESC, k",
			pp->buckets, p1.buf, p2.buf, t->n + pp->extra,
			metric[t->rank]);
	strbuf_free(&p1);
	strbuf_free(&p2);
	return err ? -ENOMEM : 0;
}

struct cand {
	const char *name;
	unsigned bucket;
	uint64_t v[4];
};

static uint64_t rank_bytes_of(enum store_rank r, const uint64_t v[4])
{
	return r == STORE_RANK_TX   ? v[0]
	       : r == STORE_RANK_RX ? v[1]
				    : v[0] + v[1];
}

/* Step 3 over the ranked names c[0..n): whether their first t->n are
 * the first of every name. */
static int probe_proves(const struct store_top *t, const struct probe *pp,
			const struct cand *c, size_t n, bool *proven)
{
	uint64_t *sum = calloc(pp->buckets, sizeof(*sum)), ml = UINT64_MAX;
	unsigned char *seen = calloc(pp->buckets, 1);
	uint64_t nb = 0;

	if (!sum || !seen) {
		free(sum);
		free(seen);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		nb += !seen[c[i].bucket];
		seen[c[i].bucket] = 1;
		sum[c[i].bucket] += rank_bytes_of(t->rank, c[i].v);
	}
	for (unsigned b = 0; b < pp->buckets; b++)
		if (seen[b] && sum[b] < ml)
			ml = sum[b];
	*proven = nb < t->n + pp->extra ||
		  (n >= t->n && rank_bytes_of(t->rank, c[t->n - 1].v) > ml);
	if (pp->trace)
		fprintf(stderr,
			"itm-test: top probe: %zu names in %" PRIu64
			" of %" PRIu64 " buckets, %s\n",
			n, nb, t->n + pp->extra,
			*proven ? "proven" : "not proven");
	free(sum);
	free(seen);
	return 0;
}

/*
 * The probe's first t->n names through fn; *done false when they are not
 * proven the first (the caller runs the exact statement).
 */
static int probe_top(struct qch *q, const struct store_top *t,
		     const struct horizon *hz, store_top_fn fn, void *ctx,
		     bool *done, char *err, size_t len)
{
	const struct probe pp = probe_params();
	struct strbuf sql = STRBUF_INIT, r = STRBUF_INIT;
	struct cand *c = NULL;
	size_t n = 0, cap = 0;
	char *v[6], *p, *line;
	int rc = probe_sql(&sql, t, hz, &pp);

	*done = false;
	if (!rc)
		rc = run(q, sql.buf, &r, err, len);
	else
		snprintf(err, len, "out of memory");
	p = r.buf;
	if (!rc && next_line(&p))
		next_line(&p); /* names and types */
	while (!rc && (line = next_line(&p))) {
		if (ch_tsv_split(line, v, 6) != 6 || !v[0] || !v[1]) {
			snprintf(err, len, "a row of the wrong width");
			rc = -EIO;
			break;
		}
		if (n == cap) {
			struct cand *m;

			cap = cap ? 2 * cap : 1024;
			m = realloc(c, cap * sizeof(*c));
			if (!m) {
				snprintf(err, len, "out of memory");
				rc = -ENOMEM;
				break;
			}
			c = m;
		}
		c[n].name = v[0];
		c[n].bucket = (unsigned)strtoul(v[1], NULL, 10) % pp.buckets;
		for (int k = 0; k < 4; k++)
			c[n].v[k] = v[2 + k] ? strtoull(v[2 + k], NULL, 10) : 0;
		n++;
	}
	if (!rc) {
		rc = probe_proves(t, &pp, c, n, done);
		if (rc)
			snprintf(err, len, "out of memory");
	}
	for (size_t i = 0; !rc && *done && i < n && i < t->n; i++)
		rc = fn(ctx, c[i].name, c[i].v);
	free(c);
	strbuf_free(&sql);
	strbuf_free(&r);
	return rc;
}

/* The probe for this many rows at most (-n); more: the exact statement. */
#define CH_PROBE_MAX_N 1000

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

/*
 * One statement (on a cluster each shard sums its own rows by name), but
 * on one server for the address and -n up to CH_PROBE_MAX_N the hosts of
 * the horizons and then the probe, and the exact statement only when the
 * probe proves nothing.
 */
static int ch_top(void *state, const struct store_top *t, store_top_fn fn,
		  void *ctx, char *err, size_t len)
{
	struct strbuf sql = STRBUF_INIT;
	struct top_rows c = {fn, ctx};
	struct qch *q = state;
	bool probe = !q->c.cluster[0] && t->n && t->n <= CH_PROBE_MAX_N &&
		     !strcmp(t->by, "remote_ip");
	bool done = false;
	struct horizon hz[2];
	int rc = 0;

	if (!name_column(t->by) || t->rank > STORE_RANK_RX) {
		snprintf(err, len, "no column for --by %s", t->by);
		return -EINVAL;
	}
	if (t->since >= t->until) /* an empty window: no rows */
		return 0;
	if (probe) {
		rc = horizon_ask(q, t, hz, err, len);
		if (!rc)
			rc = probe_top(q, t, hz, fn, ctx, &done, err, len);
	}
	if (!rc && !done) {
		rc = window_sql(&sql, t, q->c.cluster[0] != '\0',
				probe ? hz : NULL);
		if (rc)
			snprintf(err, len, "out of memory");
		else
			rc = ch_ro_each(state, sql.buf, 0, NULL, top_row, &c,
					err, len);
	}
	if (probe)
		horizon_free(hz);
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

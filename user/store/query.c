// SPDX-License-Identifier: MIT
#include "query.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "i18n.h"
#include "query_format.h"
#include "query_pg.h"
#include "regfile.h"
#include "store.h"
#include "store_pg.h"
#include "store_pg_sql.h"
#include "store_plan.h"

#define EXIT_BAD 2
#define HOUR	 3600
#define DAY	 86400

static const char prefix[] = "ip_traffic_monitor_cli query: ";

static void usage(FILE *out)
{
	fprintf(out,
		_("Usage: ip_traffic_monitor_cli query [--db PATH|URL] [--csv|--json] 'SELECT ...'\n"
		  "       ip_traffic_monitor_cli query top [--db PATH|URL] [--host NAME]\n"
		  "                 [--since WHEN] [--until WHEN] [--by KEY] [-n N]\n"
		  "                 [--rx|--tx|--both] [--csv|--json]\n"
		  "\n"
		  "Reads the history that the daemon writes with --db; opens it read-only.\n"
		  "With a postgresql:// URL it reads the shared PostgreSQL database, where\n"
		  "both views also have a host column (first).\n"
		  "Views: traffic(ts, seconds, iface, remote_ip, pid, process, country,\n"
		  "province, city, isp, tx_bytes, rx_bytes, tx_packets, rx_packets) and\n"
		  "traffic_other(ts, seconds, iface, kind, tx_bytes, rx_bytes, tx_packets,\n"
		  "rx_packets); ts is the bucket start in unix seconds (UTC).\n"
		  "\n"
		  "      --db PATH|URL   the database file, or a postgresql:// URL\n"
		  "                      [default: %s]\n"
		  "      --csv           CSV (RFC 4180) instead of a table\n"
		  "      --json          a JSON array of objects instead of a table\n"
		  "top:\n"
		  "      --host NAME     PostgreSQL: only this monitor's rows (its --db-host)\n"
		  "                      [default: all hosts]\n"
		  "      --since WHEN    start: 1h, 24h, 7d, 30m, @UNIX, YYYY-MM-DD[ HH:MM[:SS]]\n"
		  "                      (UTC) [default: 24h]\n"
		  "      --until WHEN    end, same forms [default: now]\n"
		  "      --by KEY        remote_ip, country, province, city, isp, process or\n"
		  "                      iface [default: remote_ip]\n"
		  "  -n, --top N         rows; 0 = all [default: 10]\n"
		  "      --tx, --rx      rank by sent or by received bytes\n"
		  "      --both          rank by sent + received bytes [default]\n"),
		ITM_DEFAULT_DB);
}

static void errline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errline(const char *fmt, ...)
{
	va_list ap;

	fputs(prefix, stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- time ------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int query_parse_time(const char *s, int64_t now, int64_t *out)
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	char *end;
	int n = 0;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '@') {
		long long v;

		errno = 0;
		v = strtoll(s + 1, &end, 10);
		if (errno || end == s + 1 || *end)
			return -EINVAL;
		*out = v;
		return 0;
	}
	if (sscanf(s, "%4u-%2u-%2u%n", &y, &mo, &d, &n) == 3 && n == 10) {
		const char *t = s + 10;

		if (*t == 'T' || *t == ' ') {
			int m = 0;

			if (sscanf(t + 1, "%2u:%2u%n", &h, &mi, &m) != 2 ||
			    m != 5)
				return -EINVAL;
			t += 1 + m;
			if (*t == ':') {
				if (sscanf(t + 1, "%2u%n", &sec, &m) != 1 ||
				    m != 2)
					return -EINVAL;
				t += 3;
			}
			if (*t == 'Z')
				t++;
		}
		if (*t || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
		    mi > 59 || sec > 60)
			return -EINVAL;
		*out = days_from_civil(y, mo, d) * DAY + h * HOUR + mi * 60 +
		       sec;
		return 0;
	}
	/* A duration before now. */
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	{
		unsigned long long v;
		int64_t unit = 1;

		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno)
			return -EINVAL;
		if (*end) {
			if (end[1])
				return -EINVAL;
			switch (*end) {
			case 's':
				unit = 1;
				break;
			case 'm':
				unit = 60;
				break;
			case 'h':
				unit = HOUR;
				break;
			case 'd':
				unit = DAY;
				break;
			case 'w':
				unit = 7 * DAY;
				break;
			default:
				return -EINVAL;
			}
		}
		if (v > (uint64_t)INT64_MAX / 2 / (uint64_t)unit)
			return -EINVAL;
		*out = now - (int64_t)v * unit;
		return 0;
	}
}

/* ---- running SQL ------------------------------------------------------ */

static int open_ro(const char *path, sqlite3 **db)
{
	char why[128];
	int rc, err;

	*db = NULL;
	/* SQLite's read-only open(2) would block on a FIFO: check first. */
	err = regfile_check(path, why, sizeof(why));
	if (err == -ENOENT) {
		errline(_("cannot open %s: no such file (the daemon writes it with --db; choose it with --db PATH)"),
			path);
		return -EINVAL;
	}
	if (err) {
		errline(_("cannot open %s: %s"), path, why);
		return -EINVAL;
	}
	rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(*db, 5000);
		/* Not SQLite, or not readable, shows on the first read. */
		rc = sqlite3_exec(*db, "SELECT count(*) FROM sqlite_master",
				  NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		errline(_("cannot read %s: %s"), path,
			*db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		sqlite3_close_v2(*db);
		*db = NULL;
		return -EINVAL;
	}
	return 0;
}

static void hex(const void *p, int n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;

	for (int i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Step st to the end, collecting rows into r (which it initialises). */
static int collect(sqlite3 *db, sqlite3_stmt *st, struct qresult *r)
{
	int ncols = sqlite3_column_count(st), rc, err;
	const char **names = calloc(ncols ? ncols : 1, sizeof(*names));
	struct qcell *row = calloc(ncols ? ncols : 1, sizeof(*row));
	char **bufs = calloc(ncols ? ncols : 1, sizeof(*bufs));

	if (!names || !row || !bufs) {
		err = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < ncols; i++)
		names[i] = sqlite3_column_name(st, i);
	err = qresult_init(r, (size_t)ncols, names);
	if (err)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++) {
			free(bufs[i]);
			bufs[i] = NULL;
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_NULL:
				row[i].type = QCELL_NULL;
				row[i].text = NULL;
				break;
			case SQLITE_INTEGER:
				row[i].type = QCELL_INT;
				row[i].text =
					(char *)sqlite3_column_text(st, i);
				break;
			case SQLITE_FLOAT: {
				char b[40];

				snprintf(b, sizeof(b), "%.15g",
					 sqlite3_column_double(st, i));
				row[i].type = QCELL_REAL;
				row[i].text = bufs[i] = strdup(b);
				break;
			}
			case SQLITE_BLOB: {
				int n = sqlite3_column_bytes(st, i);
				const void *p = sqlite3_column_blob(st, i);

				bufs[i] = malloc((size_t)n * 2 + 1);
				if (bufs[i])
					hex(p, n, bufs[i]);
				row[i].type = QCELL_BLOB;
				row[i].text = bufs[i];
				break;
			}
			default:
				row[i].type = QCELL_TEXT;
				row[i].text =
					(char *)sqlite3_column_text(st, i);
			}
			if (row[i].type != QCELL_NULL && !row[i].text) {
				err = -ENOMEM;
				goto out;
			}
		}
		err = qresult_add_row(r, row);
		if (err)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		errline("%s", sqlite3_errmsg(db));
		err = -EINVAL;
	}
out:
	for (int i = 0; bufs && i < ncols; i++)
		free(bufs[i]);
	free(bufs);
	free(names);
	free(row);
	if (err == -ENOMEM)
		errline(_("out of memory"));
	return err;
}

static int print_result(const struct qresult *r, enum qformat f)
{
	struct strbuf sb = STRBUF_INIT;
	int err = qresult_render(r, f, &sb);

	if (!err && sb.len && fwrite(sb.buf, 1, sb.len, stdout) != sb.len)
		err = -EIO;
	strbuf_free(&sb);
	if (!err && fflush(stdout))
		err = -EIO;
	return err;
}

static bool blank(const char *s)
{
	while (*s && (isspace((unsigned char)*s) || *s == ';'))
		s++;
	return !*s;
}

static int open_pg(const char *url, struct qpg **q)
{
	char err[1024], shown[1024];

	if (!qpg_open(url, q, err, sizeof(err)))
		return 0;
	store_pg_redact(url, shown, sizeof(shown));
	errline(_("cannot connect to %s: %s"), shown, err);
	return -EINVAL;
}

static int run_sql_pg(const char *url, const char *sql, enum qformat f)
{
	struct qresult r = {0};
	struct qpg *q;
	char err[1024];
	int rc, status = EXIT_BAD;

	if (open_pg(url, &q))
		return EXIT_BAD;
	rc = qpg_collect(q, sql, &r, err, sizeof(err));
	if (rc == -ENOMSG) {
		errline(_(
			"only statements that return rows are allowed (SELECT, WITH, EXPLAIN, SHOW); the session is read-only"));
	} else if (rc == -ENODATA) {
		errline(_("no SQL statement given"));
	} else if (rc == -ENOMEM) {
		errline(_("out of memory"));
		status = 1;
	} else if (rc == -EIO) {
		errline(_("reading the database failed: %s"), err);
		status = 1;
	} else if (rc) {
		errline(_("SQL error: %s"), err);
	} else {
		status = print_result(&r, f) ? 1 : 0;
	}
	qresult_free(&r);
	qpg_close(q);
	return status;
}

static int run_sql(const char *path, const char *sql, enum qformat f)
{
	struct qresult r = {0};
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	sqlite3 *db;
	int rc, status = EXIT_BAD;

	if (store_pg_url(path))
		return run_sql_pg(path, sql, f);
	if (open_ro(path, &db))
		return EXIT_BAD;
	rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
	if (rc != SQLITE_OK) {
		errline(_("SQL error: %s"), sqlite3_errmsg(db));
		goto out;
	}
	if (!st) {
		errline(_("no SQL statement given"));
		goto out;
	}
	if (tail && !blank(tail)) {
		errline(_(
			"one statement at a time, please (found more after the first ';')"));
		goto out;
	}
	if (!sqlite3_stmt_readonly(st)) {
		errline(_(
			"only read-only statements are allowed (SELECT, WITH, EXPLAIN, read-only PRAGMA); the daemon owns the database"));
		goto out;
	}
	if (collect(db, st, &r))
		goto out;
	status = print_result(&r, f) ? 1 : 0;
out:
	qresult_free(&r);
	sqlite3_finalize(st);
	sqlite3_close_v2(db);
	return status;
}

/* ---- query top -------------------------------------------------------- */

static int read_horizons(sqlite3 *db, struct store_horizons *hz)
{
	sqlite3_stmt *st;
	int rc;

	memset(hz, 0, sizeof(*hz));
	rc = sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &st,
				NULL);
	if (rc != SQLITE_OK) {
		errline(_("not an ip_traffic_monitor_cli database (%s)"),
			sqlite3_errmsg(db));
		return -EINVAL;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		int64_t v = sqlite3_column_int64(st, 1);

		if (k)
			store_horizons_set(hz, k, v);
	}
	sqlite3_finalize(st);
	return 0;
}

static int64_t floor_to(int64_t t, int64_t unit)
{
	return t >= 0 ? t - t % unit : t - (unit + t % unit) % unit;
}

static int64_t ceil_to(int64_t t, int64_t unit)
{
	int64_t f = floor_to(t, unit);

	return f == t ? t : f + unit;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int add_range(struct strbuf *sb, const char *table, int64_t lo,
		     int64_t hi)
{
	if (lo >= hi)
		return 0;
	return strbuf_printf(sb,
			     "%sSELECT iface_id, addr_id, proc_id, tx_bytes,"
			     " rx_bytes, tx_packets, rx_packets FROM %s"
			     " WHERE ts >= %" PRId64 " AND ts < %" PRId64,
			     sb->len ? " UNION ALL " : "", table, lo, hi);
}

/* [a, b) exactly as the traffic view covers it. */
static int add_view_range(struct strbuf *sb, const struct store_horizons *hz,
			  int64_t a, int64_t b)
{
	int err = add_range(sb, "t_bucket", max64(a, hz->bucket_from), b);

	if (!err)
		err = add_range(sb, "t_hour", max64(a, hz->hour_from),
				min64(b, hz->bucket_from));
	if (!err)
		err = add_range(sb, "t_day", a, min64(b, hz->hour_from));
	return err;
}

/* [a, b) from closed hours where they exist, the view for the edges. */
static int add_hour_range(struct strbuf *sb, const struct store_horizons *hz,
			  int64_t a, int64_t b)
{
	int64_t h0 = max64(ceil_to(a, HOUR), hz->hour_from);
	int64_t h1 = min64(floor_to(b, HOUR), hz->hour_done);
	int err;

	if (h0 >= h1)
		return add_view_range(sb, hz, a, b);
	err = add_view_range(sb, hz, a, h0);
	if (!err)
		err = add_range(sb, "t_hour", h0, h1);
	if (!err)
		err = add_view_range(sb, hz, h1, b);
	return err;
}

/*
 * Rows covering [since, until) exactly once, as coarse as possible: whole
 * closed days from t_day, whole closed hours from t_hour, the rest from
 * buckets.  A bucket (hour, day) belongs to the window if it starts in it.
 */
static int build_source(struct strbuf *sb, const struct store_horizons *hz,
			int64_t since, int64_t until)
{
	int64_t d0 = ceil_to(since, DAY);
	int64_t d1 = min64(floor_to(until, DAY), hz->day_done);
	int err;

	if (d0 >= d1)
		return add_hour_range(sb, hz, since, until);
	err = add_hour_range(sb, hz, since, d0);
	if (!err)
		err = add_range(sb, "t_day", d0, d1);
	if (!err)
		err = add_hour_range(sb, hz, d1, until);
	return err;
}

/*
 * --by: which id column of the rows to add up by, and the SQL that turns
 * one id into the key's text.
 */
#define PG_IDS " WHERE id = ANY($1::bigint[])"
static const char *const id_column[] = {"iface_id", "addr_id", "proc_id"};

static const struct {
	const char *name;
	int column; /* 0 iface_id, 1 addr_id, 2 proc_id */
	const char *lookup;
	const char *pg_lookup; /* (id, text) of many ids at once */
} keys[] = {
	{"remote_ip", 1, "SELECT remote_ip FROM addrs WHERE id = ?1",
	 "SELECT id, remote_ip FROM addrs" PG_IDS},
	{"country", 1, "SELECT country FROM addrs WHERE id = ?1",
	 "SELECT id, country FROM addrs" PG_IDS},
	{"province", 1, "SELECT province FROM addrs WHERE id = ?1",
	 "SELECT id, province FROM addrs" PG_IDS},
	{"city", 1, "SELECT city FROM addrs WHERE id = ?1",
	 "SELECT id, city FROM addrs" PG_IDS},
	{"isp", 1, "SELECT isp FROM addrs WHERE id = ?1",
	 "SELECT id, isp FROM addrs" PG_IDS},
	{"process", 2, "SELECT process FROM procs WHERE id = ?1",
	 "SELECT id, process FROM procs" PG_IDS},
	{"iface", 0, "SELECT name FROM ifaces WHERE id = ?1",
	 "SELECT id, name FROM ifaces" PG_IDS},
};

enum rank { RANK_BOTH, RANK_TX, RANK_RX };

struct top_opts {
	const char *db;
	const char *host; /* PostgreSQL: one host's rows; NULL: all */
	enum qformat fmt;
	int64_t since, until;
	size_t key;
	uint64_t n;
	enum rank rank;
};

/* Sums per id (open addressing), then per key text. */
struct sums {
	int64_t id; /* 0: empty slot (ids start at 1) */
	char *key;
	uint64_t v[4]; /* tx_bytes, rx_bytes, tx_packets, rx_packets */
};

struct sum_table {
	struct sums *slots;
	size_t mask, count;
};

static struct sums *sum_slot(struct sum_table *t, int64_t id)
{
	size_t i = ((uint64_t)id * 0x9e3779b97f4a7c15ULL >> 17) & t->mask;

	while (t->slots[i].id && t->slots[i].id != id)
		i = (i + 1) & t->mask;
	return &t->slots[i];
}

static int sum_add(struct sum_table *t, int64_t id, const uint64_t v[4])
{
	struct sums *e;

	if ((t->count + 1) * 2 > t->mask + 1) {
		struct sum_table g = {.mask = t->mask ? t->mask * 2 + 1 : 4095};

		g.slots = calloc(g.mask + 1, sizeof(*g.slots));
		if (!g.slots)
			return -ENOMEM;
		for (size_t i = 0; t->slots && i <= t->mask; i++)
			if (t->slots[i].id)
				*sum_slot(&g, t->slots[i].id) = t->slots[i];
		g.count = t->count;
		free(t->slots);
		*t = g;
	}
	e = sum_slot(t, id);
	if (!e->id) {
		e->id = id;
		t->count++;
	}
	for (int k = 0; k < 4; k++)
		e->v[k] += v[k];
	return 0;
}

static enum rank sort_rank;

static uint64_t metric(const struct sums *e)
{
	return sort_rank == RANK_TX   ? e->v[0]
	       : sort_rank == RANK_RX ? e->v[1]
				      : e->v[0] + e->v[1];
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct sums *)a)->key,
		      ((const struct sums *)b)->key);
}

static int by_rank(const void *a, const void *b)
{
	const struct sums *x = a, *y = b;
	uint64_t mx = metric(x), my = metric(y);

	if (mx != my)
		return mx > my ? -1 : 1;
	return strcmp(x->key, y->key);
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm))
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	else
		snprintf(buf, len, "@%" PRId64, t);
}

/* Human-unit columns for the table; exact integers in every format. */
static int top_result(const struct sums *rows, size_t n,
		      const struct top_opts *o, struct qresult *r)
{
	const char *by = keys[o->key].name;
	const char *both[] = {by,	    "tx",	 "rx",
			      "total",	    "tx_bytes",	 "rx_bytes",
			      "tx_packets", "rx_packets"};
	const char *both_m[] = {by, "tx_bytes", "rx_bytes", "tx_packets",
				"rx_packets"};
	const char *one[] = {by, o->rank == RANK_TX ? "tx" : "rx",
			     o->rank == RANK_TX ? "tx_bytes" : "rx_bytes",
			     o->rank == RANK_TX ? "tx_packets" : "rx_packets"};
	const char *one_m[] = {by, one[2], one[3]};
	bool table = o->fmt == QFORMAT_TABLE;
	const char *const *names;
	size_t ncols;
	int err;

	if (o->rank == RANK_BOTH) {
		names = table ? both : both_m;
		ncols = table ? 8 : 5;
	} else {
		names = table ? one : one_m;
		ncols = table ? 4 : 3;
	}
	err = qresult_init(r, ncols, names);
	for (size_t i = 0; i < n && !err; i++) {
		const uint64_t *v = rows[i].v;
		char num[4][24], hum[3][24];
		struct qcell c[8];
		size_t k = 0;

		for (int j = 0; j < 4; j++)
			snprintf(num[j], sizeof(num[j]), "%" PRIu64, v[j]);
		c[k++] = (struct qcell){QCELL_TEXT, rows[i].key};
		if (o->rank == RANK_BOTH) {
			if (table) {
				human_bytes(v[0], hum[0], sizeof(hum[0]));
				human_bytes(v[1], hum[1], sizeof(hum[1]));
				human_bytes(v[0] + v[1], hum[2],
					    sizeof(hum[2]));
				for (int j = 0; j < 3; j++)
					c[k++] = (struct qcell){QCELL_INT,
								hum[j]};
			}
			for (int j = 0; j < 4; j++)
				c[k++] = (struct qcell){QCELL_INT, num[j]};
		} else {
			int b = o->rank == RANK_TX ? 0 : 1;

			if (table) {
				human_bytes(v[b], hum[0], sizeof(hum[0]));
				c[k++] = (struct qcell){QCELL_INT, hum[0]};
			}
			c[k++] = (struct qcell){QCELL_INT, num[b]};
			c[k++] = (struct qcell){QCELL_INT, num[b + 2]};
		}
		err = qresult_add_row(r, c);
	}
	return err;
}

static void sums_free(struct sums *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].key);
	free(rows);
}

/*
 * The named sums of t (every slot's key set; NULL reads as "Unknown"),
 * ids that share a name merged (an address whose labels changed has two
 * ids), ranked.  Takes the keys; frees the table.
 */
static int finish(struct sum_table *t, const struct top_opts *o,
		  struct sums **out, size_t *n_out)
{
	struct sums *rows = calloc(t->count ? t->count : 1, sizeof(*rows));
	size_t n = 0, m = 0;
	int err = 0;

	for (size_t i = 0; t->slots && i <= t->mask; i++) {
		if (!t->slots[i].id)
			continue;
		if (!t->slots[i].key)
			t->slots[i].key = strdup("Unknown");
		if (!t->slots[i].key)
			err = -ENOMEM;
		if (rows)
			rows[n++] = t->slots[i];
		else
			free(t->slots[i].key);
	}
	free(t->slots);
	memset(t, 0, sizeof(*t));
	if (!rows || err) {
		sums_free(rows, n);
		return -ENOMEM;
	}
	qsort(rows, n, sizeof(*rows), by_key);
	for (size_t i = 0; i < n; i++) {
		if (m && !strcmp(rows[m - 1].key, rows[i].key)) {
			for (int k = 0; k < 4; k++)
				rows[m - 1].v[k] += rows[i].v[k];
			free(rows[i].key);
			continue;
		}
		rows[m++] = rows[i];
	}
	sort_rank = o->rank;
	qsort(rows, m, sizeof(*rows), by_rank);
	*out = rows;
	*n_out = m;
	return 0;
}

static void table_free(struct sum_table *t)
{
	for (size_t i = 0; t->slots && i <= t->mask; i++)
		free(t->slots[i].key);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/*
 * Add the window's rows up by id in C (an SQL GROUP BY would sort
 * millions of rows), then name each id once.
 */
static int aggregate(sqlite3 *db, const char *src, const struct top_opts *o,
		     struct sum_table *t)
{
	sqlite3_stmt *st = NULL, *name = NULL;
	int rc, err = 0;

	rc = sqlite3_prepare_v2(db, src, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, keys[o->key].lookup, -1, &name,
					NULL);
	if (rc != SQLITE_OK) {
		errline(_("not an ip_traffic_monitor_cli database (%s)"),
			sqlite3_errmsg(db));
		err = -EINVAL;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t v[4];

		for (int k = 0; k < 4; k++)
			v[k] = (uint64_t)sqlite3_column_int64(st, 3 + k);
		err = sum_add(t, sqlite3_column_int64(st, keys[o->key].column),
			      v);
		if (err)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		errline(_("reading %s failed: %s"), o->db, sqlite3_errmsg(db));
		err = -EIO;
		goto out;
	}
	for (size_t i = 0; t->slots && i <= t->mask && !err; i++) {
		const char *k;

		if (!t->slots[i].id)
			continue;
		sqlite3_bind_int64(name, 1, t->slots[i].id);
		rc = sqlite3_step(name);
		k = rc == SQLITE_ROW
			    ? (const char *)sqlite3_column_text(name, 0)
			    : NULL;
		if (k && !(t->slots[i].key = strdup(k)))
			err = -ENOMEM;
		sqlite3_reset(name);
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(name);
	if (err == -ENOMEM)
		errline(_("out of memory"));
	return err;
}

static int top_sqlite(const struct top_opts *o, struct sum_table *t)
{
	struct strbuf src = STRBUF_INIT;
	struct store_horizons hz;
	sqlite3 *db;
	int status = EXIT_BAD, err;

	if (open_ro(o->db, &db))
		return EXIT_BAD;
	if (read_horizons(db, &hz))
		goto out;
	err = build_source(&src, &hz, o->since, o->until);
	if (!err && !src.len)
		err = strbuf_puts(&src, "SELECT iface_id, addr_id, proc_id,"
					" tx_bytes, rx_bytes, tx_packets,"
					" rx_packets FROM t_bucket WHERE 0");
	if (err) {
		errline(_("out of memory"));
		status = 1;
		goto out;
	}
	err = aggregate(db, src.buf, o, t);
	status = !err ? 0 : err == -EINVAL ? EXIT_BAD : 1;
out:
	sqlite3_close_v2(db);
	strbuf_free(&src);
	return status;
}

/* ---- query top on PostgreSQL ------------------------------------------ */

/*
 * Each host has its own horizons (its monitor rolls up its own rows), so
 * the window is cut per host exactly as on SQLite, and the server adds
 * each host's rows up by id; ids are named in one statement.
 */
struct pg_top {
	struct sum_table *t;
	struct store_horizons hz;
	char **hosts;
	size_t n_hosts;
};

static int pg_host_row(void *ctx, int n, char *const *v)
{
	struct pg_top *p = ctx;
	char **h = realloc(p->hosts, (p->n_hosts + 1) * sizeof(*h));

	if (!h)
		return -ENOMEM;
	p->hosts = h;
	if (n < 1 || !v[0] || !(h[p->n_hosts] = strdup(v[0])))
		return -ENOMEM;
	p->n_hosts++;
	return 0;
}

static int pg_meta_row(void *ctx, int n, char *const *v)
{
	struct store_horizons *hz = &((struct pg_top *)ctx)->hz;

	if (n < 2 || !v[0] || !v[1])
		return 0;
	store_horizons_set(hz, v[0], strtoll(v[1], NULL, 10));
	return 0;
}

static int pg_sum_row(void *ctx, int n, char *const *v)
{
	struct pg_top *p = ctx;
	uint64_t x[4];

	if (n < 5 || !v[0])
		return 0;
	for (int k = 0; k < 4; k++)
		x[k] = v[1 + k] ? strtoull(v[1 + k], NULL, 10) : 0;
	return sum_add(p->t, strtoll(v[0], NULL, 10), x);
}

static int pg_name_row(void *ctx, int n, char *const *v)
{
	struct pg_top *p = ctx;
	struct sums *e;

	if (n < 2 || !v[0] || !v[1] || !p->t->slots)
		return 0;
	e = sum_slot(p->t, strtoll(v[0], NULL, 10));
	if (!e->id || e->key)
		return 0;
	e->key = strdup(v[1]);
	return e->key ? 0 : -ENOMEM;
}

static int top_pg(const struct top_opts *o, struct sum_table *t)
{
	struct pg_top p = {.t = t};
	struct strbuf src = STRBUF_INIT, sql = STRBUF_INIT;
	struct qpg *q;
	char err[1024];
	int rc = 0, status = EXIT_BAD;

	if (open_pg(o->db, &q))
		return EXIT_BAD;
	if (o->host) {
		const char *v[1] = {o->host};

		rc = qpg_each(
			q, "SELECT DISTINCT host FROM ifaces WHERE host = $1",
			1, v, pg_host_row, &p, err, sizeof(err));
		if (!rc && !p.n_hosts) {
			errline(_("no host '%s' in the database (see: query 'SELECT DISTINCT host FROM traffic')"),
				o->host);
			goto out;
		}
	} else {
		rc = qpg_each(q, "SELECT DISTINCT host FROM ifaces", 0, NULL,
			      pg_host_row, &p, err, sizeof(err));
	}
	for (size_t h = 0; !rc && h < p.n_hosts; h++) {
		const char *v[1] = {p.hosts[h]};

		memset(&p.hz, 0, sizeof(p.hz));
		rc = qpg_each(q, "SELECT key, value FROM meta WHERE host = $1",
			      1, v, pg_meta_row, &p, err, sizeof(err));
		strbuf_reset(&src);
		strbuf_reset(&sql);
		if (!rc && build_source(&src, &p.hz, o->since, o->until))
			rc = -ENOMEM;
		if (rc || !src.len)
			continue;
		if (strbuf_printf(
			    &sql,
			    "SELECT %s, sum(tx_bytes), sum(rx_bytes),"
			    " sum(tx_packets), sum(rx_packets) FROM (%s) s"
			    " WHERE iface_id IN (SELECT id FROM ifaces"
			    " WHERE host = $1) GROUP BY 1",
			    id_column[keys[o->key].column], src.buf))
			rc = -ENOMEM;
		else
			rc = qpg_each(q, sql.buf, 1, v, pg_sum_row, &p, err,
				      sizeof(err));
	}
	if (!rc && t->count) {
		/* '{1,2,...}': every id summed, named in one statement. */
		const char *v[1];

		strbuf_reset(&sql);
		rc = strbuf_puts(&sql, "{");
		for (size_t i = 0; !rc && i <= t->mask; i++)
			if (t->slots[i].id)
				rc = strbuf_printf(&sql, "%s%" PRId64,
						   sql.len > 1 ? "," : "",
						   t->slots[i].id);
		if (!rc)
			rc = strbuf_puts(&sql, "}");
		v[0] = sql.buf;
		if (!rc)
			rc = qpg_each(q, keys[o->key].pg_lookup, 1, v,
				      pg_name_row, &p, err, sizeof(err));
	}
	if (rc == -ENOMEM) {
		errline(_("out of memory"));
		status = 1;
	} else if (rc == -EINVAL) {
		errline(_("not an ip_traffic_monitor_cli database (%s)"), err);
	} else if (rc) {
		errline(_("reading the database failed: %s"), err);
		status = 1;
	} else {
		status = 0;
	}
out:
	for (size_t h = 0; h < p.n_hosts; h++)
		free(p.hosts[h]);
	free(p.hosts);
	strbuf_free(&src);
	strbuf_free(&sql);
	qpg_close(q);
	return status;
}

static int run_top(const struct top_opts *o)
{
	struct sum_table t = {0};
	struct qresult r = {0};
	struct sums *rows = NULL;
	size_t n = 0, shown;
	int status;

	status = store_pg_url(o->db) ? top_pg(o, &t) : top_sqlite(o, &t);
	if (status) {
		table_free(&t);
		return status;
	}
	if (finish(&t, o, &rows, &n)) {
		errline(_("out of memory"));
		return 1;
	}
	shown = o->n && n > o->n ? o->n : n;
	if (top_result(rows, shown, o, &r)) {
		errline(_("out of memory"));
		status = 1;
		goto out;
	}
	if (o->fmt == QFORMAT_TABLE) {
		char a[32], b[32];

		fmt_time(o->since, a, sizeof(a));
		fmt_time(o->until, b, sizeof(b));
		printf(_("top %" PRIu64 " %s by %s bytes, %s to %s UTC\n"),
		       o->n, keys[o->key].name,
		       o->rank == RANK_TX   ? _("sent")
		       : o->rank == RANK_RX ? _("received")
					    : _("sent+received"),
		       a, b);
	}
	status = print_result(&r, o->fmt) ? 1 : 0;
out:
	sums_free(rows, n);
	qresult_free(&r);
	return status;
}

/* ---- flags ------------------------------------------------------------ */

enum {
	OPT_DB = 256,
	OPT_HOST,
	OPT_CSV,
	OPT_JSON,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_BY,
	OPT_TX,
	OPT_RX,
	OPT_BOTH,
};

static const struct option opts[] = {
	{"db", required_argument, NULL, OPT_DB},
	{"host", required_argument, NULL, OPT_HOST},
	{"csv", no_argument, NULL, OPT_CSV},
	{"json", no_argument, NULL, OPT_JSON},
	{"since", required_argument, NULL, OPT_SINCE},
	{"until", required_argument, NULL, OPT_UNTIL},
	{"by", required_argument, NULL, OPT_BY},
	{"top", required_argument, NULL, 'n'},
	{"tx", no_argument, NULL, OPT_TX},
	{"rx", no_argument, NULL, OPT_RX},
	{"both", no_argument, NULL, OPT_BOTH},
	{"help", no_argument, NULL, 'h'},
	{0},
};

int query_main(int argc, char **argv)
{
	struct top_opts o = {
		.db = ITM_DEFAULT_DB,
		.fmt = QFORMAT_TABLE,
		.n = 10,
	};
	const char *since = "24h", *until = NULL;
	int64_t now = (int64_t)time(NULL);
	bool top = false, top_flags = false;
	const char *sql = NULL;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+n:h", opts, NULL)) != -1 ||
	       optind < argc) {
		if (c == -1) {
			/* A positional argument; flags may follow it. */
			const char *arg = argv[optind++];

			if (!top && !sql && !strcmp(arg, "top")) {
				top = true;
			} else if (!top && !sql) {
				sql = arg;
			} else {
				errline(_("unexpected argument '%s' (quote the SQL as one argument)"),
					arg);
				return EXIT_BAD;
			}
			continue;
		}
		switch (c) {
		case OPT_DB:
			o.db = optarg;
			break;
		case OPT_HOST:
			o.host = optarg;
			top_flags = true;
			break;
		case OPT_CSV:
			o.fmt = QFORMAT_CSV;
			break;
		case OPT_JSON:
			o.fmt = QFORMAT_JSON;
			break;
		case OPT_SINCE:
			since = optarg;
			top_flags = true;
			break;
		case OPT_UNTIL:
			until = optarg;
			top_flags = true;
			break;
		case OPT_BY: {
			size_t i;

			for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				if (!strcmp(optarg, keys[i].name))
					break;
			if (i == sizeof(keys) / sizeof(keys[0])) {
				errline(_("--by must be one of remote_ip, country, province, city, isp, process, iface (not '%s')"),
					optarg);
				return EXIT_BAD;
			}
			o.key = i;
			top_flags = true;
			break;
		}
		case 'n': {
			char *end;

			errno = 0;
			o.n = strtoull(optarg, &end, 10);
			if (!isdigit((unsigned char)optarg[0]) || errno ||
			    *end) {
				errline(_("-n must be a number of rows (0 = all), not '%s'"),
					optarg);
				return EXIT_BAD;
			}
			top_flags = true;
			break;
		}
		case OPT_TX:
			o.rank = RANK_TX;
			top_flags = true;
			break;
		case OPT_RX:
			o.rank = RANK_RX;
			top_flags = true;
			break;
		case OPT_BOTH:
			o.rank = RANK_BOTH;
			top_flags = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (optopt && optopt < 256)
				errline(_("unknown or incomplete option '-%c' (see query --help)"),
					optopt);
			else
				errline(_("unknown or incomplete option '%s' (see query --help)"),
					argv[optind - 1]);
			return EXIT_BAD;
		}
	}
	if (!top) {
		if (top_flags) {
			errline(_(
				"--host, --since, --until, --by, -n, --tx, --rx and --both belong to 'query top'"));
			return EXIT_BAD;
		}
		if (!sql) {
			errline(_(
				"give an SQL statement or 'top' (see query --help)"));
			return EXIT_BAD;
		}
		return run_sql(o.db, sql, o.fmt);
	}
	if (o.host && !store_pg_url(o.db)) {
		errline(_(
			"--host reads a PostgreSQL database (--db postgresql://...); an SQLite file holds one host"));
		return EXIT_BAD;
	}
	if (query_parse_time(since, now, &o.since)) {
		errline(_("--since '%s' is not a time (24h, 7d, @UNIX, YYYY-MM-DD[ HH:MM[:SS]])"),
			since);
		return EXIT_BAD;
	}
	o.until = now + 1; /* include the bucket being written now */
	if (until && query_parse_time(until, now, &o.until)) {
		errline(_("--until '%s' is not a time (24h, 7d, @UNIX, YYYY-MM-DD[ HH:MM[:SS]])"),
			until);
		return EXIT_BAD;
	}
	if (o.until <= o.since) {
		errline(_("--until must be later than --since"));
		return EXIT_BAD;
	}
	return run_top(&o);
}

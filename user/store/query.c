// SPDX-License-Identifier: MIT
#include "query.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geo_labels.h"
#include "hashmap.h"
#include "i18n.h"
#include "query_format.h"
#include "store.h"
#include "store_ops.h"
#include "store_plan.h"

#define EXIT_BAD 2

static const char prefix[] = "ip_traffic_monitor_cli query: ";

static void keys_list(char *buf, size_t len);

static void usage(FILE *out)
{
	char labels[128] = "", by[256];
	size_t o = 0;

	for (int i = 0; i < GEO_NLABELS && o < sizeof(labels); i++)
		o += (size_t)snprintf(labels + o, sizeof(labels) - o, "%s, ",
				      geo_label_defs[i].name);
	keys_list(by, sizeof(by));
	fprintf(out,
		_("Usage: ip_traffic_monitor_cli query [--db PATH|URL] [--csv|--json] 'SELECT ...'\n"
		  "       ip_traffic_monitor_cli query top [--db PATH|URL] [--host NAME]\n"
		  "                 [--since WHEN] [--until WHEN] [--by KEY] [-n N]\n"
		  "                 [--rx|--tx|--both] [--csv|--json]\n"
		  "\n"
		  "Reads the history that the daemon writes with --db; opens it read-only.\n"
		  "With a postgresql:// or clickhouse:// URL it reads the shared database,\n"
		  "where both views also have a host column (first).\n"
		  "Views: traffic(ts, seconds, iface, remote_ip, pid, process, %s\n"
		  "tx_bytes, rx_bytes, tx_packets, rx_packets) and\n"
		  "traffic_other(ts, seconds, iface, kind, tx_bytes, rx_bytes, tx_packets,\n"
		  "rx_packets); ts is the bucket start in unix seconds (UTC).\n"
		  "\n"
		  "      --db PATH|URL   the database file, or a postgresql:// or clickhouse://\n"
		  "                      URL\n"
		  "                      [default: %s]\n"
		  "      --csv           CSV (RFC 4180) instead of a table\n"
		  "      --json          a JSON array of objects instead of a table\n"
		  "top:\n"
		  "      --host NAME     PostgreSQL, ClickHouse: only this monitor's rows (its\n"
		  "                      --db-host)\n"
		  "                      [default: all hosts]\n"
		  "      --since WHEN    start: 1h, 24h, 7d, 30m, @UNIX, YYYY-MM-DD[ HH:MM[:SS]]\n"
		  "                      (UTC) [default: 24h]\n"
		  "      --until WHEN    end, same forms [default: now]\n"
		  "      --by KEY        one of %s\n"
		  "                      [default: remote_ip]\n"
		  "  -n, --top N         rows; 0 = all [default: 10]\n"
		  "      --tx, --rx      rank by sent or by received bytes\n"
		  "      --both          rank by sent + received bytes [default]\n"),
		labels, ITM_DEFAULT_DB, by);
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
		*out = days_from_civil(y, mo, d) * STORE_DAY + h * STORE_HOUR +
		       mi * 60 + sec;
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
				unit = STORE_HOUR;
				break;
			case 'd':
				unit = STORE_DAY;
				break;
			case 'w':
				unit = 7 * STORE_DAY;
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

/* 2 for what the user can correct (SQL, file, flags), 1 otherwise. */
static int status_of(int err)
{
	return err == -ENOMEM || err == -EIO ? 1 : EXIT_BAD;
}

static int run_sql(const char *path, const char *sql, enum qformat f)
{
	const struct store_reader *ops = store_backend(path)->reader;
	struct qresult r = {0};
	char err[1536];
	void *q;
	int rc, status;

	if (ops->open(path, &q, err, sizeof(err))) {
		errline("%s", err);
		return EXIT_BAD;
	}
	rc = ops->sql(q, sql, &r, err, sizeof(err));
	if (rc) {
		errline("%s", err);
		status = status_of(rc);
	} else {
		status = print_result(&r, f) ? 1 : 0;
	}
	qresult_free(&r);
	ops->close(q);
	return status;
}

/* ---- query top -------------------------------------------------------- */

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
	int64_t h0 = max64(store_ceil(a, STORE_HOUR), hz->hour_from);
	int64_t h1 = min64(store_floor(b, STORE_HOUR), hz->hour_done);
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
	int64_t d0 = store_ceil(since, STORE_DAY);
	int64_t d1 = min64(store_floor(until, STORE_DAY), hz->day_done);
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
 * --by: which id column of the rows to add up by, and the statement that
 * names an id: the address, every label of the label table, the process
 * and the interface.
 */
struct key {
	const char *name;
	const char *column;
	char select[96]; /* "SELECT id, text FROM table" */
};

static struct key keys[3 + GEO_NLABELS];
static size_t n_keys;

static void add_key(const char *name, const char *column, const char *table,
		    const char *text)
{
	struct key *k = &keys[n_keys++];

	k->name = name;
	k->column = column;
	snprintf(k->select, sizeof(k->select), "SELECT id, %s FROM %s", text,
		 table);
}

static void keys_init(void)
{
	if (n_keys)
		return;
	add_key("remote_ip", "addr_id", "addrs", "remote_ip");
	for (int i = 0; i < GEO_NLABELS; i++)
		add_key(geo_label_defs[i].name, "addr_id", "addrs",
			geo_label_defs[i].name);
	add_key("process", "proc_id", "procs", "process");
	add_key("iface", "iface_id", "ifaces", "name");
}

/* "remote_ip, country, ..., iface": the --by keys, for messages. */
static void keys_list(char *buf, size_t len)
{
	size_t o = 0;

	keys_init();
	buf[0] = '\0';
	for (size_t i = 0; i < n_keys && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
				      keys[i].name);
}

struct top_opts {
	const char *db;
	const char *host; /* PostgreSQL: one host's rows; NULL: all */
	enum qformat fmt;
	int64_t since, until;
	size_t key;
	uint64_t n;
	enum store_rank rank;
};

/* Sums per id (found through the index), then per key text. */
struct sums {
	int64_t id;
	char *key;
	uint64_t v[4]; /* tx_bytes, rx_bytes, tx_packets, rx_packets */
};

struct sum_table {
	struct sums *rows;
	size_t n, cap;
	struct hashmap index;
};

static uint64_t id_hash(int64_t id)
{
	return (uint64_t)id * 0x9e3779b97f4a7c15ULL >> 17;
}

static uint64_t sums_hash(const void *ctx, uint32_t pos)
{
	const struct sum_table *t = ctx;

	return id_hash(t->rows[pos].id);
}

static bool sums_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct sum_table *t = ctx;

	return t->rows[pos].id == *(const int64_t *)key;
}

static struct sums *sum_find(const struct sum_table *t, int64_t id)
{
	uint32_t pos;

	if (!hashmap_find(&t->index, id_hash(id), sums_eq, t, &id, &pos))
		return NULL;
	return &t->rows[pos];
}

static int sum_add(struct sum_table *t, int64_t id, const uint64_t v[4])
{
	struct sums *e = sum_find(t, id), *rows;

	if (!e) {
		rows = hashmap_array_room(&t->index, t->rows, t->n, &t->cap,
					  2048, sizeof(*rows), sums_hash, t);
		if (!rows)
			return -ENOMEM;
		t->rows = rows;
		e = &t->rows[t->n];
		*e = (struct sums){.id = id};
		hashmap_insert(&t->index, id_hash(id), (uint32_t)t->n++);
	}
	for (int k = 0; k < 4; k++)
		e->v[k] += v[k];
	return 0;
}

static enum store_rank sort_rank;

static uint64_t metric(const struct sums *e)
{
	return sort_rank == STORE_RANK_TX   ? e->v[0]
	       : sort_rank == STORE_RANK_RX ? e->v[1]
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
	const char *one[] = {by, o->rank == STORE_RANK_TX ? "tx" : "rx",
			     o->rank == STORE_RANK_TX ? "tx_bytes" : "rx_bytes",
			     o->rank == STORE_RANK_TX ? "tx_packets"
						      : "rx_packets"};
	const char *one_m[] = {by, one[2], one[3]};
	bool table = o->fmt == QFORMAT_TABLE;
	const char *const *names;
	size_t ncols;
	int err;

	if (o->rank == STORE_RANK_BOTH) {
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
		if (o->rank == STORE_RANK_BOTH) {
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
			int b = o->rank == STORE_RANK_TX ? 0 : 1;

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
 * The named sums of t (every row's key set; NULL reads as "Unknown"),
 * ids that share a name merged (an address whose labels changed has two
 * ids), ranked.  Takes the rows; empties the table.
 */
static int finish(struct sum_table *t, const struct top_opts *o,
		  struct sums **out, size_t *n_out)
{
	struct sums *rows = t->rows;
	size_t n = t->n, m = 0;
	int err = 0;

	hashmap_free(&t->index);
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++)
		if (!rows[i].key && !(rows[i].key = strdup("Unknown")))
			err = -ENOMEM;
	if (err) {
		sums_free(rows, n);
		return err;
	}
	if (!n) { /* no rows: rows may be NULL, which qsort() must not see */
		*out = rows;
		*n_out = 0;
		return 0;
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
	sums_free(t->rows, t->n);
	hashmap_free(&t->index);
	memset(t, 0, sizeof(*t));
}

/* ---- reading the window ----------------------------------------------- */

/*
 * Every backend through store_ops: per host (PostgreSQL keeps one set of
 * horizons per monitor; a file holds one host) the window is cut exactly
 * as the views cut it, the rows are added up by id, and the ids are named
 * once at the end; or, where the backend has a top op (ClickHouse), the
 * server sums, names and ranks, and only the rows printed come back.
 */
struct top_read {
	const struct store_reader *ops;
	void *q;
	struct sum_table *t;
	char **hosts;
	size_t n_hosts;
	char err[1536];
};

static int host_row(void *ctx, int n, char *const *v)
{
	struct top_read *p = ctx;
	char **h = realloc(p->hosts, (p->n_hosts + 1) * sizeof(*h));

	if (!h)
		return -ENOMEM;
	p->hosts = h;
	if (n < 1 || !v[0] || !(h[p->n_hosts] = strdup(v[0])))
		return -ENOMEM;
	p->n_hosts++;
	return 0;
}

static int sum_row(void *ctx, int64_t id, const uint64_t v[4])
{
	return sum_add(ctx, id, v);
}

static int name_row(void *ctx, int n, char *const *v)
{
	struct sum_table *t = ctx;
	struct sums *e;

	if (n < 2 || !v[0] || !v[1])
		return 0;
	e = sum_find(t, strtoll(v[0], NULL, 10));
	if (!e || e->key)
		return 0;
	e->key = strdup(v[1]);
	return e->key ? 0 : -ENOMEM;
}

/* The hosts to read: --host, every host, or the file's one (NULL). */
static int read_hosts(struct top_read *p, const char *host)
{
	const char *v[1] = {host};
	int rc;

	if (!p->ops->all_hosts_sql)
		return host_row(p, 1, (char *const[]){""}) ? -ENOMEM : 0;
	rc = p->ops->each(p->q, host ? p->ops->host_sql : p->ops->all_hosts_sql,
			  host ? 1 : 0, v, host_row, p, p->err, sizeof(p->err));
	if (!rc && host && !p->n_hosts) {
		snprintf(
			p->err, sizeof(p->err),
			_("no host '%s' in the database (see: query 'SELECT DISTINCT host FROM traffic')"),
			host);
		return -ENOENT;
	}
	return rc;
}

static int read_sums(struct top_read *p, const struct top_opts *o)
{
	struct strbuf src = STRBUF_INIT;
	int rc = 0;

	for (size_t h = 0; !rc && h < p->n_hosts; h++) {
		const char *host = p->ops->all_hosts_sql ? p->hosts[h] : NULL;
		const char *v[1] = {host};
		struct store_horizons hz = {0};

		rc = p->ops->each(p->q, p->ops->meta_sql, host ? 1 : 0, v,
				  store_horizons_row, &hz, p->err,
				  sizeof(p->err));
		strbuf_reset(&src);
		if (!rc && build_source(&src, &hz, o->since, o->until))
			rc = -ENOMEM;
		if (!rc && src.len)
			rc = p->ops->sums(p->q, host, src.buf,
					  keys[o->key].column, sum_row, p->t,
					  p->err, sizeof(p->err));
	}
	strbuf_free(&src);
	return rc;
}

static int read_names(struct top_read *p, const struct top_opts *o)
{
	struct sum_table *t = p->t;
	int64_t *ids;
	int rc;

	if (!t->n)
		return 0;
	ids = malloc(t->n * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++)
		ids[i] = t->rows[i].id;
	rc = p->ops->names(p->q, keys[o->key].select, ids, t->n, name_row, t,
			   p->err, sizeof(p->err));
	free(ids);
	return rc;
}

/* The rows a backend ranked itself (store_reader.top), in its order. */
struct ranked {
	struct sums *rows;
	size_t n, cap;
};

static int ranked_row(void *ctx, const char *name, const uint64_t v[4])
{
	struct ranked *r = ctx;
	struct sums *e;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 256;
		struct sums *rows = realloc(r->rows, cap * sizeof(*rows));

		if (!rows)
			return -ENOMEM;
		r->rows = rows;
		r->cap = cap;
	}
	e = &r->rows[r->n];
	*e = (struct sums){.key = strdup(name)};
	if (!e->key)
		return -ENOMEM;
	memcpy(e->v, v, sizeof(e->v));
	r->n++;
	return 0;
}

static int read_top(struct top_read *p, const struct top_opts *o,
		    struct sums **out, size_t *n_out)
{
	const struct store_top t = {
		.host = o->host,
		.since = o->since,
		.until = o->until,
		.by = keys[o->key].name,
		.rank = o->rank,
		.n = o->n,
	};
	struct ranked r = {0};
	int rc = p->ops->top(p->q, &t, ranked_row, &r, p->err, sizeof(p->err));

	if (rc) {
		sums_free(r.rows, r.n);
		return rc;
	}
	*out = r.rows;
	*n_out = r.n;
	return 0;
}

/*
 * The ranked rows of the window (at most o->n of them when the backend
 * ranks; all of them otherwise): 0, or an exit status after one line.
 */
static int top_read(const struct top_opts *o, struct sums **rows, size_t *n)
{
	struct sum_table t = {0};
	struct top_read p = {.ops = store_backend(o->db)->reader, .t = &t};
	int rc = 0;

	if (p.ops->open(o->db, &p.q, p.err, sizeof(p.err))) {
		errline("%s", p.err);
		return EXIT_BAD;
	}
	/* Ranked on the server: the hosts only to refuse an unknown one. */
	if (!p.ops->top || o->host)
		rc = read_hosts(&p, o->host);
	if (!rc && p.ops->top) {
		rc = read_top(&p, o, rows, n);
	} else if (!rc) {
		rc = read_sums(&p, o);
		if (!rc)
			rc = read_names(&p, o);
		if (!rc)
			rc = finish(&t, o, rows, n);
	}
	if (rc == -ENOMEM)
		errline(_("out of memory"));
	else if (rc == -ENOENT)
		errline("%s", p.err);
	else if (rc == -EINVAL)
		errline(_("not an ip_traffic_monitor_cli database (%s)"),
			p.err);
	else if (rc)
		errline(_("reading the database failed: %s"), p.err);
	for (size_t h = 0; h < p.n_hosts; h++)
		free(p.hosts[h]);
	free(p.hosts);
	p.ops->close(p.q);
	table_free(&t);
	return rc ? status_of(rc) : 0;
}

static int run_top(const struct top_opts *o)
{
	struct qresult r = {0};
	struct sums *rows = NULL;
	size_t n = 0, shown;
	int status;

	status = top_read(o, &rows, &n);
	if (status)
		return status;
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
		const char *by = o->rank == STORE_RANK_TX ? _("sent")
				 : o->rank == STORE_RANK_RX
					 ? _("received")
					 : _("sent+received");

		/* -n 0 means every row: no "top 0" title. */
		if (o->n)
			printf(_("top %" PRIu64
				 " %s by %s bytes, %s to %s UTC\n"),
			       o->n, keys[o->key].name, by, a, b);
		else
			printf(_("every %s by %s bytes, %s to %s UTC\n"),
			       keys[o->key].name, by, a, b);
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

	keys_init();
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
			char list[256];
			size_t i;

			keys_init();
			for (i = 0; i < n_keys; i++)
				if (!strcmp(optarg, keys[i].name))
					break;
			if (i == n_keys) {
				keys_list(list, sizeof(list));
				errline(_("--by must be one of %s (not '%s')"),
					list, optarg);
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
			o.rank = STORE_RANK_TX;
			top_flags = true;
			break;
		case OPT_RX:
			o.rank = STORE_RANK_RX;
			top_flags = true;
			break;
		case OPT_BOTH:
			o.rank = STORE_RANK_BOTH;
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
	if (o.host && !store_backend(o.db)->reader->all_hosts_sql) {
		errline(_(
			"--host reads a shared database (--db postgresql://... or clickhouse://...); an SQLite file holds one host"));
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

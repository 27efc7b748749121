// SPDX-License-Identifier: MIT
/*
 * The store on ClickHouse, over its HTTP interface (libcurl).  The flush
 * protocol of the other stores (persist.c) needs "the rows of a drain and
 * the sequence number of the map they came from are stored together or
 * not at all".  ClickHouse 18.16 (Debian 12) has no transactions, and its
 * HTTP interface takes a body cut short by a dying client as if it were
 * complete (a TabSeparated body cut at a line end, a Native body even
 * mid-column: tried on 18.16).  So every flush takes two steps:
 *
 * 1. One INSERT of TabSeparated rows into this host's staging table
 *    (itm_stage_HOST, a Memory table: no part, no file, no merge), all
 *    carrying the flush's `attempt` number, new for every try: its
 *    address and other rows, then one state row per interface (kind 4:
 *    instance, seq, kernel counters), and last one commit row (kind 5)
 *    whose final column is the word "itm".  The server reads a body in
 *    order, so a complete commit row means a complete body.
 * 2. Only once step 1 was answered: one INSERT ... SELECT on the server
 *    that copies that attempt's rows into itm_data, and fails (throwIf)
 *    when its commit row is not staged whole: a server restarted between
 *    the steps has lost the Memory table's rows, and the try is then
 *    known unstored.  It runs on the server, so no client can cut it
 *    short, and its rows (fewer than max_insert_block_size) form one
 *    block, written as one part: all or nothing (checked on 18.16,
 *    docs/clickhouse.md).  Then the stage is emptied (TRUNCATE).
 *
 * itm_data thus holds only whole drains, each once, and the materialized
 * views that sum it into itm_minute/hour/day see every drain once.  A
 * kill -9 of the daemon at any instant loses and duplicates nothing,
 * whatever state the server reached: see docs/clickhouse.md.
 */
#include "ch_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "store_labels.h"
#include "store_plan.h"

/* The kind column: 0..2 are enum store_other_kind. */
enum { CH_TRAFFIC = 3, CH_STATE = 4, CH_COMMIT = 5 };

#define CH_MARK "itm"

/* One interface's part of the flush being built. */
struct ch_flush {
	struct strbuf rows; /* address rows, '@' for the attempt */
	struct itm_value other[STORE_OTHER_MAX];
	struct store_iface_state st;
	bool has_state;
};

/* One interface's part of a try that may be stored (resolve_doubt()). */
struct ch_done {
	bool valid;
	struct store_iface_state st;
	struct itm_value other[STORE_OTHER_MAX];
};

struct store_ch {
	struct ch_conn c;
	char host[256];
	/* Per interface, index id - 1: its name, the flush, the doubt. */
	char **ifaces;
	struct ch_flush *flush;
	struct ch_done *stored;	 /* stored, the daemon does not know it */
	struct ch_done *pending; /* what the doubtful try stores, if it is */
	size_t n_ifaces;
	uint64_t doubt; /* the try whose answer never came; 0: none */
	uint32_t interval;
	int64_t ts;
	uint64_t attempt; /* the last attempt number used by this host */
	uint64_t keep_buckets, keep_hours, keep_days; /* seconds */
	/* A cluster: " ON CLUSTER name", "_local"; else "", "". */
	char on[160];
	/* This host's staging table; it holds rows of a try (stage_rows). */
	char stage[200];
	bool stage_rows;
	const char *local;
	int64_t maintained; /* the hour maintain() last dropped partitions */
	char errmsg[1024];
};

/* ---- the HTTP connection (the reader uses it too) --------------------- */

static bool ch_claims(const char *path)
{
	return path && !strncmp(path, CH_SCHEME, strlen(CH_SCHEME));
}

/* Percent-decoding of URI parts, in place. */
static void unpercent(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '%' && s[1] && s[2]) {
			char hex[3] = {s[1], s[2], 0};

			*o++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* A URI part into a field; false when it does not fit. */
static bool copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

static int read_password_file(struct ch_conn *c, const char *path, char *err,
			      size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		snprintf(err, len, "password_file %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	n = fread(c->password, 1, sizeof(c->password) - 1, f);
	fclose(f);
	c->password[n] = '\0';
	while (n && (c->password[n - 1] == '\n' || c->password[n - 1] == '\r'))
		c->password[--n] = '\0';
	return 0;
}

int ch_open(struct ch_conn *c, const char *uri, char *err, size_t len)
{
	char buf[1024], *rest, *at, *slash, *q, *hostport, *env;
	bool secure = false;
	const char *port = NULL;
	char hp[300];

	memset(c, 0, sizeof(*c));
	if (strlen(uri) >= sizeof(buf)) {
		snprintf(err, len, "the URL is too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", uri + strlen(CH_SCHEME));
	rest = buf;
	q = strchr(rest, '?');
	if (q)
		*q++ = '\0';
	slash = strchr(rest, '/');
	if (!slash || !slash[1]) {
		snprintf(
			err, len,
			"the URL names no database (clickhouse://host[:port]/database)");
		return -EINVAL;
	}
	*slash = '\0';
	if (!copy(c->db, sizeof(c->db), slash + 1))
		goto too_long;
	unpercent(c->db);
	if (strspn(c->db,
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
	    strlen(c->db)) {
		snprintf(err, len,
			 "database name '%s': only letters, digits and _",
			 c->db);
		return -EINVAL;
	}
	at = strrchr(rest, '@');
	hostport = rest;
	if (at) {
		char *colon;

		*at = '\0';
		hostport = at + 1;
		colon = strchr(rest, ':');
		if (colon) {
			*colon = '\0';
			if (!copy(c->password, sizeof(c->password), colon + 1))
				goto too_long;
			unpercent(c->password);
		}
		if (!copy(c->user, sizeof(c->user), rest))
			goto too_long;
		unpercent(c->user);
	}
	for (char *opt = q ? strtok(q, "&") : NULL; opt;
	     opt = strtok(NULL, "&")) {
		char *v = strchr(opt, '=');

		if (v)
			*v++ = '\0';
		if (v)
			unpercent(v);
		if (!strcmp(opt, "secure")) {
			secure = v && (!strcmp(v, "1") || !strcmp(v, "true"));
		} else if (!strcmp(opt, "sslrootcert") && v) {
			if (!copy(c->cafile, sizeof(c->cafile), v))
				goto too_long;
		} else if (!strcmp(opt, "password_file") && v) {
			int e = read_password_file(c, v, err, len);

			if (e)
				return e;
		} else if (!strcmp(opt, "cluster") && v && v[0]) {
			if (strspn(v,
				   "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
				    strlen(v) ||
			    !copy(c->cluster, sizeof(c->cluster), v)) {
				snprintf(
					err, len,
					"cluster name '%s': only letters, digits and _",
					v);
				return -EINVAL;
			}
		} else {
			snprintf(err, len, "unknown URL option '%s'", opt);
			return -EINVAL;
		}
	}
	env = getenv("CLICKHOUSE_PASSWORD");
	if (!c->password[0] && env &&
	    !copy(c->password, sizeof(c->password), env))
		goto too_long;
	if (!hostport[0])
		hostport = "localhost";
	/* host, host:port, [v6], [v6]:port */
	if (hostport[0] == '[') {
		char *end = strchr(hostport, ']');

		if (end && end[1] == ':')
			port = end + 2, end[1] = '\0';
	} else if (strchr(hostport, ':')) {
		char *colon = strchr(hostport, ':');

		*colon = '\0';
		port = colon + 1;
	}
	if (!port || !port[0])
		port = secure ? "8443" : "8123";
	if (!copy(hp, sizeof(hp), hostport) || strlen(port) > 5)
		goto too_long;
	snprintf(c->url, sizeof(c->url), "%s://%s:%.5s/?",
		 secure ? "https" : "http", hp, port);
	c->curl = curl_easy_init();
	c->headers = curl_slist_append(NULL, "Expect:");
	if (!c->curl || !c->headers) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	return 0;
too_long:
	snprintf(err, len, "a part of the URL is too long");
	return -EINVAL;
}

void ch_close(struct ch_conn *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	c->curl = NULL;
	c->headers = NULL;
	/* The password does not outlive the connection in memory. */
	memset(c->password, 0, sizeof(c->password));
}

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct strbuf *sb = ctx;

	if (sb && strbuf_append(sb, p, size * n))
		return 0;
	return size * n;
}

/* The server's message, on one line and without its stack trace. */
static void server_error(const struct strbuf *b, char *err, size_t len)
{
	size_t n;

	snprintf(err, len, "%s", b->len ? b->buf : "no answer");
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	n = strlen(err);
	while (n && err[n - 1] == ' ')
		err[--n] = '\0';
}

int ch_exec(struct ch_conn *c, const char *query, const char *body,
	    size_t body_len, const char *settings, struct strbuf *out,
	    char *err, size_t len)
{
	struct strbuf url = STRBUF_INIT, reply = STRBUF_INIT;
	CURL *h = c->curl;
	char *enc = curl_easy_escape(h, query, 0);
	long status = 0;
	CURLcode rc;
	int e = 0;

	if (!enc || strbuf_printf(&url, "%squery=%s%s", c->url, enc,
				  settings ? settings : "")) {
		curl_free(enc);
		strbuf_free(&url);
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	curl_free(enc);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url.buf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)(body ? body_len : 0));
	/* No "Expect: 100-continue" round trip before a large body. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out ? out : &reply);
	if (c->user[0] || c->password[0]) {
		curl_easy_setopt(h, CURLOPT_USERNAME,
				 c->user[0] ? c->user : "default");
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
	}
	if (c->cafile[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cafile);
	rc = curl_easy_perform(h);
	strbuf_free(&url);
	if (rc != CURLE_OK) {
		snprintf(err, len, "%s", curl_easy_strerror(rc));
		e = -ECONNRESET;
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status != 200) {
			server_error(out ? out : &reply, err, len);
			e = -EINVAL;
		}
	}
	strbuf_free(&reply);
	return e;
}

/*
 * A drain writes every label of every row through here: runs of plain
 * bytes go in one append.
 */
int ch_tsv_escape(struct strbuf *sb, const char *s)
{
	int err = 0;

	while (*s && !err) {
		size_t n = strcspn(s, "\t\n\r\\");
		char esc[2] = {'\\', 0};

		if (n)
			err = strbuf_append(sb, s, n);
		s += n;
		if (!*s || err)
			break;
		esc[1] = *s == '\t'   ? 't'
			 : *s == '\n' ? 'n'
			 : *s == '\r' ? 'r'
				      : '\\';
		err = strbuf_append(sb, esc, 2);
		s++;
	}
	return err;
}

int ch_sql_quote(struct strbuf *sb, const char *s)
{
	int err = strbuf_puts(sb, "'");

	for (; *s && !err; s++) {
		if (*s == '\'' || *s == '\\')
			err = strbuf_append(sb, "\\", 1);
		if (!err)
			err = strbuf_append(sb, s, 1);
	}
	return err ? err : strbuf_puts(sb, "'");
}

int ch_tsv_split(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;

	while (n < max) {
		char *start = p, *o = p;

		while (*p && *p != '\t') {
			if (*p == '\\' && p[1]) {
				p++;
				switch (*p) {
				case 't':
					*o++ = '\t';
					break;
				case 'n':
					*o++ = '\n';
					break;
				case 'r':
					*o++ = '\r';
					break;
				case 'b':
					*o++ = '\b';
					break;
				case 'f':
					*o++ = '\f';
					break;
				case '0':
					*o++ = '\0';
					break;
				case 'N':
					*o++ = '\\', *o++ = 'N';
					break;
				default:
					*o++ = *p;
				}
				p++;
			} else {
				*o++ = *p++;
			}
		}
		{
			bool last = !*p;

			*o = '\0';
			fields[n++] = strcmp(start, "\\N") ? start : NULL;
			if (last)
				break;
			p++;
		}
	}
	return n;
}

void ch_redact(const char *uri, char *out, size_t len)
{
	const char *start = uri + (ch_claims(uri) ? strlen(CH_SCHEME) : 0);
	const char *slash = strchr(start, '/');
	const char *at = NULL, *colon;

	for (const char *p = start; *p && (!slash || p < slash); p++)
		if (*p == '@')
			at = p;
	colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
	if (!colon) {
		snprintf(out, len, "%s", uri);
		return;
	}
	snprintf(out, len, "%.*s***%s", (int)(colon + 1 - uri), uri, at);
}

/* ---- the writer ------------------------------------------------------ */

static int run(struct store_ch *s, const char *sql, struct strbuf *out)
{
	return ch_exec(&s->c, sql, NULL, 0, NULL, out, s->errmsg,
		       sizeof(s->errmsg));
}

static int nomem(struct store_ch *s)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
	return -ENOMEM;
}

/*
 * The columns of itm_stage, in the order a flush writes them; itm_data
 * has them without the last, `ok` (with_ok false).
 */
static int columns(struct strbuf *sb, bool types, bool with_ok)
{
	int err = strbuf_printf(
		sb, types ? "host String, ts Int64, seconds UInt32,"
			    " iface String, kind UInt8, ip String,"
			    " remote_ip String, pid UInt32, process String, "
			  : "host, ts, seconds, iface, kind, ip, remote_ip,"
			    " pid, process, ");

	if (!err)
		err = store_labels_list(sb, types ? "%1$s String" : "%1$s",
					", ");
	if (!err)
		err = strbuf_puts(
			sb,
			types ? ", tx_bytes UInt64, rx_bytes UInt64,"
				" tx_packets UInt64, rx_packets UInt64,"
				" attempt UInt64, instance UInt64, seq UInt64,"
				" ctr_packets Array(UInt64),"
				" ctr_bytes Array(UInt64)"
			      : ", tx_bytes, rx_bytes, tx_packets, rx_packets,"
				" attempt, instance, seq, ctr_packets,"
				" ctr_bytes");
	if (!err && with_ok)
		err = strbuf_puts(sb, types ? ", ok String" : ", ok");
	return err;
}

/* The sort key of itm_data: phase 2 hands it its rows in this order. */
#define CH_DATA_KEY "host, ts, kind, remote_ip, pid"

/*
 * The rollups: per period the rows of itm_data (kinds 0..3, not the state
 * and commit rows) summed by every dimension.  Partitions: days for the
 * minutes and hours, months for the days, so that maintain() drops whole
 * partitions (18.16 has no TTL).
 */
static const struct {
	const char *table;
	int span;
	const char *partition;
} rollups[] = {
	{"itm_minute", 60, "intDiv(ts, 86400)"},
	{"itm_hour", 3600, "intDiv(ts, 86400)"},
	{"itm_day", 86400, "toYYYYMM(toDate(ts))"},
};

/*
 * How long ZooKeeper remembers the blocks of a replicated table (per
 * shard), so that a phase 2 run again after a lost answer is dropped as a
 * duplicate: the re-run comes when the monitor's node answers again, and
 * meanwhile the shard's other monitors insert one block per drain each.
 * 10000 blocks: a thousand monitors per shard at one drain a minute for
 * ten minutes (18.16's default, 100, is six seconds of that).
 */
#define CH_DEDUP_WINDOW "10000"

/*
 * The engine clause of a table that holds rows: on a cluster the
 * replicated engine, its path per shard in ZooKeeper; `summing`: the
 * columns a SummingMergeTree adds up (NULL: a MergeTree).
 */
static int engine(struct store_ch *s, struct strbuf *sb, const char *table,
		  const char *summing, const char *tail)
{
	bool rep = s->c.cluster[0];
	int err = strbuf_printf(sb, " ENGINE = %s%sMergeTree(",
				rep ? "Replicated" : "",
				summing ? "Summing" : "");

	if (!err && rep)
		err = strbuf_printf(
			sb, "'/clickhouse/tables/{shard}/%s/%s%s', '{replica}'",
			s->c.db, table, s->local);
	if (!err && summing)
		err = strbuf_printf(sb, "%s%s", rep ? ", " : "", summing);
	if (!err)
		err = strbuf_printf(sb, ") %s", tail);
	if (!err && rep)
		err = strbuf_puts(sb,
				  " SETTINGS replicated_deduplication_window"
				  " = " CH_DEDUP_WINDOW);
	return err;
}

/* On a cluster, the Distributed table `table` over table_local. */
static int distributed(struct store_ch *s, const char *table,
		       const char *columns)
{
	struct strbuf sql = STRBUF_INIT;
	int err = 0;

	if (!s->c.cluster[0])
		return 0;
	err = strbuf_printf(
		&sql,
		"CREATE TABLE IF NOT EXISTS %1$s.%2$s%3$s (%4$s) ENGINE ="
		" Distributed(%5$s, %1$s, %2$s_local, cityHash64(host))",
		s->c.db, table, s->on, columns, s->c.cluster);
	err = err ? nomem(s) : run(s, sql.buf, NULL);
	strbuf_free(&sql);
	return err;
}

/*
 * What rollup i sums from rows of itm_data (`where`: more conditions):
 * kinds 0..3 by every dimension, ts as the period's start (the alias is
 * its column).  Each drain's commit row passes too, as a receipt (kind 5,
 * ip: the attempt, tx_packets 1 so that a merge keeps it): the view
 * writes one block per drain into the rollup, so the receipt is there
 * exactly when that drain's sums are (repair_rollups()).
 */
static int rollup_select(struct store_ch *s, struct strbuf *sb, int i,
			 const char *labels, const char *where)
{
	return strbuf_printf(
		sb,
		"SELECT host, toInt64(intDiv(ts, %2$d) * %2$d) AS ts, iface,"
		" kind, if(kind = %5$d, toString(attempt), ip) AS ip, remote_ip,"
		" pid, process, %3$s, sum(tx_bytes) AS tx_bytes, sum(rx_bytes)"
		" AS rx_bytes, sum(if(kind = %5$d, 1, tx_packets)) AS"
		" tx_packets, sum(rx_packets) AS rx_packets FROM"
		" %1$s.itm_data%4$s WHERE (kind < 4 OR kind = %5$d)%6$s"
		" GROUP BY host, ts, iface, kind, ip, remote_ip, pid, process,"
		" %3$s",
		s->c.db, rollups[i].span, labels, s->local, CH_COMMIT, where);
}

static int create_rollup(struct store_ch *s, int i, const char *labels)
{
	struct strbuf sql = STRBUF_INIT, cols = STRBUF_INIT, key = STRBUF_INIT;
	const char *db = s->c.db, *t = rollups[i].table;
	int err;

	err = strbuf_puts(&cols, "host String, ts Int64, iface String,"
				 " kind UInt8, ip String, remote_ip String,"
				 " pid UInt32, process String, ");
	if (!err)
		err = store_labels_list(&cols, "%1$s String", ", ");
	if (!err)
		err = strbuf_puts(&cols,
				  ", tx_bytes UInt64, rx_bytes UInt64,"
				  " tx_packets UInt64, rx_packets UInt64");
	if (!err)
		err = strbuf_printf(&key,
				    "PARTITION BY %s ORDER BY (host, ts, iface,"
				    " kind, ip, pid, process, remote_ip, %s)",
				    rollups[i].partition, labels);
	if (!err)
		err = strbuf_printf(&sql,
				    "CREATE TABLE IF NOT EXISTS %s.%s%s%s (%s)",
				    db, t, s->local, s->on, cols.buf);
	if (!err)
		err = engine(s, &sql, t,
			     "(tx_bytes, rx_bytes, tx_packets, rx_packets)",
			     key.buf);
	err = err ? nomem(s) : run(s, sql.buf, NULL);
	if (!err)
		err = distributed(s, t, cols.buf);
	strbuf_reset(&sql);
	/*
	 * It reads the blocks inserted into this node's table, so on a
	 * cluster each shard sums its own rows.
	 */
	if (!err)
		err = strbuf_printf(&sql,
				    "CREATE MATERIALIZED VIEW IF NOT EXISTS"
				    " %1$s.%2$s_mv%3$s TO %1$s.%2$s%4$s AS ",
				    db, t, s->on, s->local);
	if (!err)
		err = rollup_select(s, &sql, i, labels, "");
	if (!err)
		err = run(s, sql.buf, NULL);
	else if (err == -ENOMEM)
		nomem(s);
	strbuf_free(&sql);
	strbuf_free(&cols);
	strbuf_free(&key);
	return err;
}

/*
 * CREATE TABLE IF NOT EXISTS db.name (columns) ENGINE = ..., on every
 * node of the cluster (`on`) or on this one.
 */
static int create_table(struct store_ch *s, const char *name, bool with_ok,
			const char *extra, const char *on, const char *engine)
{
	struct strbuf sql = STRBUF_INIT;
	int err = strbuf_printf(&sql, "CREATE TABLE IF NOT EXISTS %s.%s%s (",
				s->c.db, name, on);

	if (!err)
		err = columns(&sql, true, with_ok);
	if (!err)
		err = strbuf_printf(&sql, "%s)%s", extra, engine);
	if (!err)
		err = run(s, sql.buf, NULL);
	else
		nomem(s);
	strbuf_free(&sql);
	return err;
}

/* The data tables: itm_data (or itm_data_local and its Distributed). */
static int create_data(struct store_ch *s)
{
	struct strbuf eng = STRBUF_INIT, name = STRBUF_INIT, cols = STRBUF_INIT;
	int err = engine(s, &eng, "itm_data", NULL,
			 "PARTITION BY intDiv(ts, 86400) ORDER BY (" CH_DATA_KEY
			 ")");

	if (!err)
		err = strbuf_printf(&name, "itm_data%s", s->local);
	if (!err)
		err = columns(&cols, true, false);
	if (err)
		err = nomem(s);
	if (!err)
		err = create_table(s, name.buf, false, "", s->on, eng.buf);
	if (!err)
		err = distributed(s, "itm_data", cols.buf);
	strbuf_free(&eng);
	strbuf_free(&name);
	strbuf_free(&cols);
	return err;
}

/*
 * The name of this host's staging table: itm_stage_ and the host name,
 * letters and digits as they are, any other byte as _ and two hex
 * digits, so that two hosts never share one (only its owner empties
 * it).  A name too long for a file name is cut and followed by two
 * 64-bit hashes of the whole host name.
 */
static void stage_name(const char *host, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h1 = 14695981039346656037ull, h2 = 5381;
	size_t n = snprintf(out, len, "itm_stage_");
	bool cut = false;

	for (const unsigned char *p = (const unsigned char *)host; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') ||
			     (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9');

		h1 = (h1 ^ *p) * 1099511628211ull;
		h2 = h2 * 33 + *p;
		if (cut || n + 3 >= 150) {
			cut = true;
			continue;
		}
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '_';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
	if (cut)
		snprintf(out + n, len - n, "_%016" PRIx64 "%016" PRIx64, h1,
			 h2);
}

/*
 * On a cluster the shared objects are made once, with ON CLUSTER DDL
 * that waits for every node: a monitor that finds them on its node does
 * not make them again (and does not wait for a node that is down).
 */
static int schema_exists(struct store_ch *s, bool *yes)
{
	struct strbuf sql = STRBUF_INIT, r = STRBUF_INIT, d = STRBUF_INIT;
	int err = ch_sql_quote(&d, s->c.db);

	*yes = false;
	if (!err)
		err = strbuf_printf(&sql,
				    "SELECT count() FROM system.tables WHERE"
				    " database = %s AND name = 'ifaces'"
				    " FORMAT TabSeparated",
				    d.buf);
	err = err ? nomem(s) : run(s, sql.buf, &r);
	*yes = !err && r.len && strtoull(r.buf, NULL, 10) > 0;
	strbuf_free(&sql);
	strbuf_free(&r);
	strbuf_free(&d);
	return err;
}

/*
 * The schema: this host's staging table every try goes to (on this node
 * only, never replicated), the table of whole drains, its rollups, and
 * views.
 * t_bucket, t_hour, t_day, addrs, procs and ifaces give `query top` the
 * shape of the other stores (ids as 64-bit hashes of the dimension); the
 * names come from itm_day, which holds every dimension of every row
 * still kept anywhere.
 */
static int create_schema(struct store_ch *s)
{
	struct strbuf sql = STRBUF_INIT, labels = STRBUF_INIT;
	const char *db = s->c.db;
	bool done = false;
	int err;

	err = strbuf_printf(&sql, "CREATE DATABASE IF NOT EXISTS %s", db);
	if (!err)
		err = run(s, sql.buf, NULL);
	/*
	 * The stage of earlier versions, shared by all hosts and written as
	 * parts (five parts per drain with the rollups', each merged again
	 * later): monitors of those versions still stage there.  Partitioned
	 * by the day it was staged, to drop it whole later.
	 */
	if (!err)
		err = create_table(
			s, "itm_stage", true,
			", staged UInt32 DEFAULT toUInt32(intDiv(toUInt32(now()),"
			" 86400))",
			"",
			" ENGINE = MergeTree PARTITION BY staged"
			" ORDER BY (host, attempt)");
	/* This host's stage, on this node only (a cluster's too). */
	if (!err)
		err = create_table(s, s->stage, true, "", "",
				   " ENGINE = Memory");
	if (!err && s->c.cluster[0])
		err = schema_exists(s, &done);
	if (err || done)
		goto out;
	if (s->c.cluster[0]) {
		strbuf_reset(&sql);
		err = strbuf_printf(&sql, "CREATE DATABASE IF NOT EXISTS %s%s",
				    db, s->on);
		if (!err)
			err = run(s, sql.buf, NULL);
	}
	if (!err)
		err = create_data(s);
	if (!err)
		err = store_labels_list(&labels, "%1$s", ", ");
	for (int i = 0; !err && i < 3; i++)
		err = create_rollup(s, i, labels.buf);
	if (err)
		goto out;

	const char *views[] = {
		/* What the views read before the rollups came; kept for
		 * queries written against it. */
		"CREATE VIEW IF NOT EXISTS %1$s.itm_valid%3$s AS SELECT * FROM"
		" %1$s.itm_data",
		"CREATE VIEW IF NOT EXISTS %1$s.traffic%3$s AS SELECT host, ts,"
		" seconds, iface, remote_ip, pid, process, %2$s, tx_bytes,"
		" rx_bytes, tx_packets, rx_packets FROM %1$s.itm_data"
		" WHERE kind = 3",
		/* An alias would take the place of the column in WHERE. */
		"CREATE VIEW IF NOT EXISTS %1$s.traffic_other%3$s AS SELECT host,"
		" ts, seconds, iface, name AS kind, tx_bytes, rx_bytes,"
		" tx_packets, rx_packets FROM (SELECT *, multiIf(kind = 0,"
		" 'overflow', kind = 1, 'non_ip', 'malformed') AS name"
		" FROM %1$s.itm_data WHERE kind < 3)",
		"CREATE VIEW IF NOT EXISTS %1$s.t_bucket%3$s AS SELECT host, ts,"
		" toInt64(cityHash64(host, iface)) AS iface_id,"
		" toInt64(cityHash64(ip, %2$s)) AS addr_id,"
		" toInt64(cityHash64(pid, process)) AS proc_id, tx_bytes,"
		" rx_bytes, tx_packets, rx_packets FROM %1$s.itm_data"
		" WHERE kind = 3",
		"CREATE VIEW IF NOT EXISTS %1$s.t_hour%3$s AS SELECT host, ts,"
		" toInt64(cityHash64(host, iface)) AS iface_id,"
		" toInt64(cityHash64(ip, %2$s)) AS addr_id,"
		" toInt64(cityHash64(pid, process)) AS proc_id, tx_bytes,"
		" rx_bytes, tx_packets, rx_packets FROM %1$s.itm_hour"
		" WHERE kind = 3",
		"CREATE VIEW IF NOT EXISTS %1$s.t_day%3$s AS SELECT host, ts,"
		" toInt64(cityHash64(host, iface)) AS iface_id,"
		" toInt64(cityHash64(ip, %2$s)) AS addr_id,"
		" toInt64(cityHash64(pid, process)) AS proc_id, tx_bytes,"
		" rx_bytes, tx_packets, rx_packets FROM %1$s.itm_day"
		" WHERE kind = 3",
		"CREATE VIEW IF NOT EXISTS %1$s.addrs%3$s AS SELECT DISTINCT"
		" toInt64(cityHash64(ip, %2$s)) AS id, remote_ip, %2$s"
		" FROM %1$s.itm_day WHERE kind = 3",
		"CREATE VIEW IF NOT EXISTS %1$s.procs%3$s AS SELECT DISTINCT"
		" toInt64(cityHash64(pid, process)) AS id, pid, process"
		" FROM %1$s.itm_day WHERE kind = 3",
		"CREATE VIEW IF NOT EXISTS %1$s.ifaces%3$s AS SELECT DISTINCT"
		" toInt64(cityHash64(host, iface)) AS id, host, iface AS name"
		" FROM %1$s.itm_day",
	};
	for (size_t i = 0; !err && i < sizeof(views) / sizeof(views[0]); i++) {
		strbuf_reset(&sql);
		err = strbuf_printf(&sql, views[i], db, labels.buf, s->on);
		if (!err)
			err = run(s, sql.buf, NULL);
	}
out:
	if (err == -ENOMEM)
		snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
	strbuf_free(&sql);
	strbuf_free(&labels);
	return err;
}

/* One integer answer of a host query ($H: this host); 0 when empty. */
static int host_query(struct store_ch *s, const char *fmt, const char *iface,
		      struct strbuf *out)
{
	struct strbuf sql = STRBUF_INIT, h = STRBUF_INIT, i = STRBUF_INIT;
	int err = ch_sql_quote(&h, s->host);

	if (!err)
		err = ch_sql_quote(&i, iface ? iface : "");
	if (!err)
		err = strbuf_printf(&sql, fmt, s->c.db, h.buf, i.buf);
	if (!err)
		err = run(s, sql.buf, out);
	else
		snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
	strbuf_free(&sql);
	strbuf_free(&h);
	strbuf_free(&i);
	return err;
}

/*
 * "itm-HOST-": the prefix of the query_id of every INSERT of this host
 * ("itm-HOST-ATTEMPT"), URL-encoded or as the server shows it.
 */
static int query_id_prefix(struct store_ch *s, bool encoded, char *out,
			   size_t len)
{
	char *enc = encoded ? curl_easy_escape(s->c.curl, s->host, 0) : NULL;
	int n;

	if (encoded && !enc)
		return nomem(s);
	n = snprintf(out, len, "itm-%s-", enc ? enc : s->host);
	curl_free(enc);
	if (n < 0 || (size_t)n >= len) {
		snprintf(s->errmsg, sizeof(s->errmsg), "--db-host is too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * A monitor killed while uploading leaves the server finishing its
 * INSERT; this run must not read the state (nor number its attempts)
 * before that INSERT is stored or failed, or it would store the same map
 * again.  The server lists running queries by id: wait until none of
 * this host's is left, at most WAIT_INSERTS_MS.
 */
#define WAIT_INSERTS_MS 30000

static int wait_inserts(struct store_ch *s)
{
	struct strbuf sql = STRBUF_INIT, out = STRBUF_INIT, id = STRBUF_INIT;
	char prefix[600];
	int err = query_id_prefix(s, false, prefix, sizeof(prefix));

	if (!err)
		err = ch_sql_quote(&id, prefix);
	if (!err)
		err = strbuf_printf(&sql,
				    "SELECT count() FROM system.processes"
				    " WHERE substring(query_id, 1, %zu) = %s"
				    " FORMAT TabSeparated",
				    strlen(prefix), id.buf);
	for (int ms = 0; !err && ms < WAIT_INSERTS_MS; ms += 100) {
		strbuf_reset(&out);
		err = run(s, sql.buf, &out);
		if (err || !out.len || !strtoull(out.buf, NULL, 10))
			break;
		usleep(100 * 1000);
	}
	if (err == -ENOMEM)
		nomem(s);
	strbuf_free(&sql);
	strbuf_free(&out);
	strbuf_free(&id);
	return err;
}

/* TRUNCATE this host's stage: its rows are stored, or never will be. */
static int empty_stage(struct store_ch *s)
{
	struct strbuf sql = STRBUF_INIT;
	int err =
		strbuf_printf(&sql, "TRUNCATE TABLE %s.%s", s->c.db, s->stage);

	err = err ? nomem(s) : run(s, sql.buf, NULL);
	if (!err)
		s->stage_rows = false;
	strbuf_free(&sql);
	return err;
}

static int read_attempt(struct store_ch *s)
{
	struct strbuf out = STRBUF_INIT;
	int err;

	/*
	 * Over every try, stored whole or not, and every promoted one (the
	 * stage is dropped after a day): a number is never reused.
	 */
	char fmt[300];

	snprintf(fmt, sizeof(fmt),
		 "SELECT max(a) FROM (SELECT max(attempt) AS a FROM"
		 " %%1$s.itm_stage WHERE host = %%2$s UNION ALL SELECT"
		 " max(attempt) AS a FROM %%1$s.itm_data%s WHERE"
		 " host = %%2$s) FORMAT TabSeparated",
		 s->local);
	err = host_query(s, fmt, NULL, &out);
	if (!err)
		s->attempt = out.len ? strtoull(out.buf, NULL, 10) : 0;
	strbuf_free(&out);
	return err;
}

static int repair_rollups(struct store_ch *s, uint64_t attempt);

/*
 * The last drain this host promoted may lack its rollups (a server killed
 * between its parts, then this monitor killed too): repair it.  Earlier
 * drains were repaired before the next one was staged.
 */
static int repair_last(struct store_ch *s)
{
	struct strbuf out = STRBUF_INIT;
	char fmt[300];
	uint64_t a;
	int err;

	snprintf(fmt, sizeof(fmt),
		 "SELECT max(attempt) FROM %%1$s.itm_data%s WHERE"
		 " host = %%2$s AND kind = %d FORMAT TabSeparated",
		 s->local, CH_COMMIT);
	err = host_query(s, fmt, NULL, &out);
	a = !err && out.len ? strtoull(out.buf, NULL, 10) : 0;
	strbuf_free(&out);
	return !err && a ? repair_rollups(s, a) : err;
}

static void ch_close_store(void *state);

static int ch_store_open(const struct store_config *cfg, void **state,
			 char *errmsg, size_t len)
{
	struct store_ch *s = calloc(1, sizeof(*s));
	int err;

	*state = NULL;
	if (!s) {
		snprintf(errmsg, len, "out of memory");
		return -ENOMEM;
	}
	s->interval = cfg->interval ? cfg->interval : STORE_DEFAULT_INTERVAL;
	s->keep_buckets = cfg->keep_buckets;
	s->keep_hours = cfg->keep_hours;
	s->keep_days = cfg->keep_days;
	s->maintained = INT64_MIN;
	s->local = "";
	if (cfg->host && cfg->host[0])
		snprintf(s->host, sizeof(s->host), "%s", cfg->host);
	else if (gethostname(s->host, sizeof(s->host) - 1))
		snprintf(s->host, sizeof(s->host), "localhost");
	stage_name(s->host, s->stage, sizeof(s->stage));
	err = ch_open(&s->c, cfg->path, errmsg, len);
	if (!err && s->c.cluster[0]) {
		snprintf(s->on, sizeof(s->on), " ON CLUSTER %s", s->c.cluster);
		s->local = "_local";
	}
	if (!err)
		err = create_schema(s);
	if (!err)
		err = wait_inserts(s);
	/* A try of the last run, never promoted now (the state says why). */
	if (!err)
		err = empty_stage(s);
	if (!err)
		err = read_attempt(s);
	if (!err)
		err = repair_last(s);
	if (err) {
		if (s->errmsg[0])
			snprintf(errmsg, len, "%s", s->errmsg);
		ch_close_store(s);
		return err;
	}
	*state = s;
	return 0;
}

static void ch_close_store(void *state)
{
	struct store_ch *s = state;

	if (!s)
		return;
	ch_close(&s->c);
	for (size_t i = 0; i < s->n_ifaces; i++) {
		free(s->ifaces[i]);
		strbuf_free(&s->flush[i].rows);
	}
	free(s->ifaces);
	free(s->flush);
	free(s->stored);
	free(s->pending);
	free(s);
}

static const char *ch_errmsg(const void *state)
{
	const struct store_ch *s = state;

	return s->errmsg;
}

/* Grow one per-interface array by one zeroed element. */
static int grow(void **arr, size_t n, size_t size)
{
	char *p = realloc(*arr, (n + 1) * size);

	if (!p)
		return -ENOMEM;
	memset(p + n * size, 0, size);
	*arr = p;
	return 0;
}

/* Interfaces are names in the rows: the id is this process's index. */
static int ch_iface(void *state, const char *name, int64_t *id)
{
	struct store_ch *s = state;
	size_t n = s->n_ifaces;
	char *copy;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(s->ifaces[i], name)) {
			*id = (int64_t)i + 1;
			return 0;
		}
	copy = strdup(name);
	if (!copy || grow((void **)&s->ifaces, n, sizeof(*s->ifaces)) ||
	    grow((void **)&s->flush, n, sizeof(*s->flush)) ||
	    grow((void **)&s->stored, n, sizeof(*s->stored)) ||
	    grow((void **)&s->pending, n, sizeof(*s->pending))) {
		free(copy);
		return nomem(s);
	}
	s->ifaces[n] = copy;
	s->n_ifaces = n + 1;
	*id = (int64_t)n + 1;
	return 0;
}

static const char *iface_name(const struct store_ch *s, int64_t id)
{
	return id >= 1 && (size_t)id <= s->n_ifaces ? s->ifaces[id - 1] : "";
}

/* "[1,2,3]" of a TabSeparated array into v[max]. */
static void parse_array(const char *t, uint64_t *v, int max)
{
	for (int i = 0; t && *t && i < max; i++) {
		while (*t == '[' || *t == ',')
			t++;
		v[i] = strtoull(t, (char **)&t, 10);
	}
}

static int ch_get_state(void *state, int64_t iface,
			struct store_iface_state *out)
{
	struct store_ch *s = state;
	struct strbuf r = STRBUF_INIT;
	char *f[4];
	int err;

	char fmt[300];

	memset(out, 0, sizeof(*out));
	/* This node's replica: the one this monitor's rows went to. */
	snprintf(fmt, sizeof(fmt),
		 "SELECT instance, seq, ctr_packets, ctr_bytes FROM"
		 " %%1$s.itm_data%s WHERE host = %%2$s AND iface = %%3$s"
		 " AND kind = 4 ORDER BY attempt DESC LIMIT 1"
		 " FORMAT TabSeparated",
		 s->local);
	err = host_query(s, fmt, iface_name(s, iface), &r);
	if (!err && r.len) {
		uint64_t p[ITM_CTR_MAX] = {0}, b[ITM_CTR_MAX] = {0};

		if (r.buf[r.len - 1] == '\n')
			r.buf[--r.len] = '\0';
		if (ch_tsv_split(r.buf, f, 4) == 4) {
			out->instance = strtoull(f[0], NULL, 10);
			out->seq = strtoull(f[1], NULL, 10);
			parse_array(f[2], p, ITM_CTR_MAX);
			parse_array(f[3], b, ITM_CTR_MAX);
			for (int i = 0; i < ITM_CTR_MAX; i++) {
				out->ctr[i].packets = p[i];
				out->ctr[i].bytes = b[i];
			}
		}
	}
	strbuf_free(&r);
	return err;
}

/* The flush being built, per interface of this process. */
static struct ch_flush *flush_if(struct store_ch *s, int64_t iface)
{
	if (iface < 1 || (size_t)iface > s->n_ifaces)
		return NULL;
	return &s->flush[iface - 1];
}

static void ch_rollback(void *state)
{
	struct store_ch *s = state;

	for (size_t i = 0; i < s->n_ifaces; i++) {
		struct ch_flush *f = &s->flush[i];

		strbuf_reset(&f->rows);
		memset(f->other, 0, sizeof(f->other));
		f->has_state = false;
	}
}

static int ch_begin(void *state, int64_t now)
{
	struct store_ch *s = state;

	s->errmsg[0] = '\0';
	ch_rollback(s);
	s->ts = store_floor(now, s->interval);
	return 0;
}

/* Later rows of this flush go to the bucket of `when` (store_at()). */
static int ch_at(void *state, int64_t when)
{
	struct store_ch *s = state;

	s->ts = store_floor(when, s->interval);
	return 0;
}

/*
 * Numbers in decimal, each followed by `sep`, without printf: a drain
 * writes some ten of them for each of its (up to millions of) rows, and
 * printf's parsing of its format was most of the daemon's CPU per drain.
 */
static int put_u64(struct strbuf *sb, uint64_t v, char sep)
{
	char buf[24], *p = buf + sizeof(buf);

	*--p = sep;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return strbuf_append(sb, p, (size_t)(buf + sizeof(buf) - p));
}

static int put_i64(struct strbuf *sb, int64_t v, char sep)
{
	int err = v < 0 ? strbuf_append(sb, "-", 1) : 0;

	return err ? err
		   : put_u64(sb, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, sep);
}

/*
 * The columns every row starts with, up to the process; the attempt is
 * filled in at commit (all rows of a body carry the same one).
 */
static int row_head(struct store_ch *s, struct strbuf *sb, int64_t iface,
		    int kind)
{
	int err = ch_tsv_escape(sb, s->host);

	if (!err)
		err = strbuf_append(sb, "\t", 1);
	if (!err)
		err = put_i64(sb, s->ts, '\t');
	if (!err)
		err = put_u64(sb, s->interval, '\t');
	if (!err)
		err = ch_tsv_escape(sb, iface_name(s, iface));
	if (!err)
		err = strbuf_append(sb, "\t", 1);
	if (!err)
		err = put_u64(sb, (uint64_t)kind, '\t');
	return err;
}

static int row_tail(struct strbuf *sb, const struct itm_value *v,
		    const char *attempt)
{
	int err = strbuf_append(sb, "\t", 1);

	if (!err)
		err = put_u64(sb, v->tx_bytes, '\t');
	if (!err)
		err = put_u64(sb, v->rx_bytes, '\t');
	if (!err)
		err = put_u64(sb, v->tx_packets, '\t');
	if (!err)
		err = put_u64(sb, v->rx_packets, '\t');
	if (!err)
		err = strbuf_puts(sb, attempt);
	if (!err)
		err = strbuf_puts(sb, "\t0\t0\t[]\t[]\t" CH_MARK "\n");
	return err;
}

/* The columns between the kind and the labels of a row without address. */
static int no_address(struct strbuf *sb)
{
	int err = strbuf_puts(sb, "\t\t0\t");

	for (int i = 0; i < GEO_NLABELS && !err; i++)
		err = strbuf_puts(sb, "\t");
	return err;
}

/* Address rows wait with '@' for the attempt number (build_body()). */
static int ch_add(void *state, int64_t iface, const struct store_row *r)
{
	struct store_ch *s = state;
	struct ch_flush *f = flush_if(s, iface);
	static const char hex[] = "0123456789abcdef";
	char ip[INET6_ADDRSTRLEN], hexip[33];
	int err;

	if (!f)
		return -EINVAL;
	err = row_head(s, &f->rows, iface, CH_TRAFFIC);
	addr_format(&r->addr, ip);
	for (int i = 0; i < 16; i++) {
		hexip[2 * i] = hex[r->addr.s6_addr[i] >> 4];
		hexip[2 * i + 1] = hex[r->addr.s6_addr[i] & 15];
	}
	hexip[32] = '\t';
	if (!err)
		err = strbuf_append(&f->rows, hexip, sizeof(hexip));
	if (!err)
		err = strbuf_puts(&f->rows, ip);
	if (!err)
		err = strbuf_append(&f->rows, "\t", 1);
	if (!err)
		err = put_u64(&f->rows, r->pid, '\t');
	if (!err)
		err = ch_tsv_escape(&f->rows, r->process && r->process[0]
						      ? r->process
						      : "-");
	for (int i = 0; i < GEO_NLABELS && !err; i++) {
		err = strbuf_puts(&f->rows, "\t");
		if (!err)
			err = ch_tsv_escape(&f->rows, store_label(r->geo, i));
	}
	if (!err)
		err = row_tail(&f->rows, &r->v, "@");
	return err ? nomem(s) : 0;
}

static int ch_add_other(void *state, int64_t iface, enum store_other_kind kind,
			const struct itm_value *v)
{
	struct ch_flush *f = flush_if(state, iface);

	if (!f || kind >= STORE_OTHER_MAX)
		return -EINVAL;
	f->other[kind] = *v;
	return 0;
}

static int ch_set_state(void *state, int64_t iface,
			const struct store_iface_state *st)
{
	struct ch_flush *f = flush_if(state, iface);

	if (!f)
		return -EINVAL;
	f->st = *st;
	f->has_state = true;
	return 0;
}

static int state_row(struct store_ch *s, struct strbuf *sb, int64_t iface,
		     const struct store_iface_state *st, const char *attempt)
{
	int err = row_head(s, sb, iface, CH_STATE);

	if (!err)
		err = no_address(sb);
	if (!err)
		err = strbuf_printf(sb, "\t0\t0\t0\t0\t%s\t%llu\t%llu\t[",
				    attempt, (unsigned long long)st->instance,
				    (unsigned long long)st->seq);
	for (int i = 0; i < ITM_CTR_MAX && !err; i++)
		err = strbuf_printf(sb, "%s%llu", i ? "," : "",
				    (unsigned long long)st->ctr[i].packets);
	if (!err)
		err = strbuf_puts(sb, "]\t[");
	for (int i = 0; i < ITM_CTR_MAX && !err; i++)
		err = strbuf_printf(sb, "%s%llu", i ? "," : "",
				    (unsigned long long)st->ctr[i].bytes);
	if (!err)
		err = strbuf_puts(sb, "]\t" CH_MARK "\n");
	return err;
}

/* Address rows with '@' replaced by the attempt number: the last "\t@\t"
 * of a row (only numbers follow that column). */
static int put_rows(struct strbuf *b, const struct strbuf *rows,
		    const char *attempt)
{
	const char *p = rows->len ? rows->buf : "";
	int err = 0;

	while (*p && !err) {
		const char *nl = strchr(p, '\n'), *at = NULL;

		for (const char *q = p;
		     nl && (q = strstr(q, "\t@\t")) && q < nl; q++)
			at = q;
		if (!at)
			return -EINVAL;
		err = strbuf_append(b, p, (size_t)(at - p) + 1);
		if (!err)
			err = strbuf_puts(b, attempt);
		if (!err)
			err = strbuf_append(b, at + 2, (size_t)(nl - at - 1));
		p = nl + 1;
	}
	return err;
}

static struct itm_value minus(struct itm_value a, const struct itm_value *b)
{
	a.tx_bytes -= b->tx_bytes;
	a.rx_bytes -= b->rx_bytes;
	a.tx_packets -= b->tx_packets;
	a.rx_packets -= b->rx_packets;
	return a;
}

static bool is_zero(const struct itm_value *v)
{
	return !v->tx_bytes && !v->rx_bytes && !v->tx_packets && !v->rx_packets;
}

/*
 * The body of one attempt: per interface its address rows and other
 * rows, less what an earlier attempt already stored (s->stored, see
 * resolve_doubt()), then the state rows, then the commit row, whose last
 * column, whole, validates the attempt.
 */
static int build_body(struct store_ch *s, uint64_t attempt, struct strbuf *b)
{
	char num[24];
	int err = 0;

	snprintf(num, sizeof(num), "%llu", (unsigned long long)attempt);
	for (size_t i = 0; i < s->n_ifaces && !err; i++) {
		const struct ch_flush *f = &s->flush[i];
		const struct ch_done *d = &s->stored[i];
		bool in = d->valid && f->has_state &&
			  d->st.instance == f->st.instance &&
			  d->st.seq == f->st.seq;

		if (!in)
			err = put_rows(b, &f->rows, num);
		for (int k = 0; k < STORE_OTHER_MAX && !err; k++) {
			struct itm_value v =
				in ? minus(f->other[k], &d->other[k])
				   : f->other[k];

			if (is_zero(&v))
				continue;
			err = row_head(s, b, (int64_t)i + 1, k);
			if (!err)
				err = no_address(b);
			if (!err)
				err = row_tail(b, &v, num);
		}
	}
	for (size_t i = 0; i < s->n_ifaces && !err; i++)
		if (s->flush[i].has_state)
			err = state_row(s, b, (int64_t)i + 1, &s->flush[i].st,
					num);
	if (!err)
		err = row_head(s, b, 0, CH_COMMIT);
	if (!err)
		err = no_address(b);
	if (!err)
		err = row_tail(b, &(struct itm_value){0}, num);
	return err;
}

/*
 * Phase 2 of attempt `attempt`: copy its staged rows into itm_data, on
 * the server, if its commit row is whole, else fail: the scalar subquery
 * runs before the copy reads a row, and a stage without the commit row
 * (a server restarted since phase 1 empties the Memory table) must not
 * be answered 200 with nothing copied.  In the order of itm_data's sort
 * key, so that the same attempt always makes the same block (on a
 * replicated table, a repeated block is dropped by the engine).  Named
 * "itm-HOST-ATTEMPT-p" so that wait_inserts() sees it.
 */
static int promote(struct store_ch *s, uint64_t attempt)
{
	struct strbuf sql = STRBUF_INIT, h = STRBUF_INIT, cols = STRBUF_INIT;
	char id[600], settings[650];
	unsigned long long a = (unsigned long long)attempt;
	int err = ch_sql_quote(&h, s->host);

	if (!err)
		err = columns(&cols, false, false);
	if (!err)
		err = strbuf_printf(
			&sql,
			"INSERT INTO %1$s.itm_data%6$s (%2$s) SELECT %2$s FROM"
			" %1$s.%7$s WHERE host = %3$s AND attempt = %4$llu"
			" AND (SELECT throwIf(count() = 0) FROM %1$s.%7$s"
			" WHERE host = %3$s AND attempt = %4$llu"
			" AND kind = %5$d AND ok = '" CH_MARK "') = 0"
			" ORDER BY " CH_DATA_KEY,
			s->c.db, cols.buf, h.buf, a, CH_COMMIT, s->local,
			s->stage);
	if (err)
		err = nomem(s);
	if (!err)
		err = query_id_prefix(s, true, id, sizeof(id));
	if (!err) {
		snprintf(settings, sizeof(settings), "&query_id=%s%llu-p", id,
			 a);
		err = ch_exec(&s->c, sql.buf, NULL, 0, settings, NULL,
			      s->errmsg, sizeof(s->errmsg));
	}
	/* What the guard's own words ("Value passed to 'throwIf'") mean. */
	if (err == -EINVAL && strstr(s->errmsg, "throwIf"))
		snprintf(s->errmsg, sizeof(s->errmsg),
			 "the staged rows of attempt %llu are gone (the server"
			 " restarted since they were staged?): staging them"
			 " again",
			 a);
	strbuf_free(&sql);
	strbuf_free(&h);
	strbuf_free(&cols);
	return err;
}

/*
 * *yes: `table` (in s's database) holds this host's commit row of
 * `attempt`, with `cond` on it ("" for none).
 */
static int has_commit(struct store_ch *s, const char *table, const char *cond,
		      uint64_t attempt, bool *yes)
{
	struct strbuf r = STRBUF_INIT, sql = STRBUF_INIT, h = STRBUF_INIT;
	int err = ch_sql_quote(&h, s->host);

	if (!err)
		err = strbuf_printf(&sql,
				    "SELECT count() FROM %s.%s WHERE host = %s"
				    " AND attempt = %llu AND kind = %d%s"
				    " FORMAT TabSeparated",
				    s->c.db, table, h.buf,
				    (unsigned long long)attempt, CH_COMMIT,
				    cond);
	if (err)
		err = nomem(s);
	else
		err = run(s, sql.buf, &r);
	*yes = !err && r.len && strtoull(r.buf, NULL, 10) > 0;
	strbuf_free(&r);
	strbuf_free(&sql);
	strbuf_free(&h);
	return err;
}

/* *stored: itm_data has the commit row of this attempt. */
static int promoted(struct store_ch *s, uint64_t attempt, bool *stored)
{
	char table[64];

	snprintf(table, sizeof(table), "itm_data%s", s->local);
	return has_commit(s, table, "", attempt, stored);
}

/* *yes: this host's stage holds the whole commit row of `attempt`. */
static int staged(struct store_ch *s, uint64_t attempt, bool *yes)
{
	return has_commit(s, s->stage, " AND ok = '" CH_MARK "'", attempt, yes);
}

/*
 * The materialized views write a promoted drain's sums after its rows, in
 * parts of their own: a server killed in between (or a view's insert that
 * failed) leaves the drain in itm_data and not in every rollup, and a
 * phase 2 run again, dropped as a duplicate on a replicated table, feeds
 * no view.  So once a drain is known stored, each rollup without its
 * receipt gets the drain's sums from itm_data, as the view would have.
 */
static int repair_rollups(struct store_ch *s, uint64_t attempt)
{
	struct strbuf sql = STRBUF_INIT, r = STRBUF_INIT, h = STRBUF_INIT,
		      labels = STRBUF_INIT, where = STRBUF_INIT;
	unsigned long long a = (unsigned long long)attempt;
	int err = ch_sql_quote(&h, s->host);

	if (!err)
		err = store_labels_list(&labels, "%1$s", ", ");
	if (!err)
		err = strbuf_printf(&where, " AND host = %s AND attempt = %llu",
				    h.buf, a);
	if (err)
		err = nomem(s);
	for (int i = 0; !err && i < 3; i++) {
		const char *t = rollups[i].table;

		strbuf_reset(&sql);
		strbuf_reset(&r);
		err = strbuf_printf(
			&sql,
			"SELECT count() FROM %s.%s%s WHERE host = %s"
			" AND kind = %d AND ip = '%llu'"
			" FORMAT TabSeparated",
			s->c.db, t, s->local, h.buf, CH_COMMIT, a);
		err = err ? nomem(s) : run(s, sql.buf, &r);
		if (err || (r.len && strtoull(r.buf, NULL, 10) > 0))
			continue;
		strbuf_reset(&sql);
		err = strbuf_printf(&sql, "INSERT INTO %s.%s%s ", s->c.db, t,
				    s->local);
		if (!err)
			err = rollup_select(s, &sql, i, labels.buf, where.buf);
		err = err ? nomem(s) : run(s, sql.buf, NULL);
	}
	strbuf_free(&sql);
	strbuf_free(&r);
	strbuf_free(&h);
	strbuf_free(&labels);
	strbuf_free(&where);
	return err;
}

/*
 * A try whose phase 2 was sent but not answered 200 (a timeout, a
 * connection cut, an error from a view) may be stored or not.  The daemon then
 * retries the same drained maps, with larger kernel counters.  Before that
 * retry: wait until the server no longer runs it, then look; not stored and
 * still staged, run phase 2 of that attempt again and look again; not
 * staged any more (the server restarted: a Memory table starts empty), it
 * never will be stored, and the retry stores it all.  When it is stored, its
 * maps' rows are in (the retry leaves them out) and so are its other counts
 * (the retry stores only what came since).  Across restarts the state rows say
 * the same.  A try whose phase 1 was not answered is never promoted: nothing to
 * resolve.
 */
static int resolve_doubt(struct store_ch *s)
{
	bool stored = false, again = false;
	int err;

	if (!s->doubt)
		return 0;
	err = wait_inserts(s);
	if (!err)
		err = promoted(s, s->doubt, &stored);
	if (!err && !stored)
		err = staged(s, s->doubt, &again);
	/* Not staged (a server restart empties the stage): never stored. */
	if (!err && again) {
		err = promote(s, s->doubt);
		if (!err)
			err = wait_inserts(s);
		if (!err)
			err = promoted(s, s->doubt, &stored);
	}
	if (!err && stored)
		err = repair_rollups(s, s->doubt);
	if (!err) {
		if (stored)
			memcpy(s->stored, s->pending,
			       s->n_ifaces * sizeof(*s->stored));
		s->doubt = 0;
	}
	return err;
}

/* What this flush stores in all, as the next doubt would need it. */
static void remember(struct store_ch *s)
{
	for (size_t i = 0; i < s->n_ifaces; i++) {
		struct ch_done *p = &s->pending[i];
		const struct ch_flush *f = &s->flush[i];

		p->valid = f->has_state;
		p->st = f->st;
		memcpy(p->other, f->other, sizeof(p->other));
	}
}

/* Phase 1: the body of a new attempt into this host's stage. */
static int stage(struct store_ch *s)
{
	struct strbuf sql = STRBUF_INIT, body = STRBUF_INIT;
	char id[600], settings[650];
	/* A new number for every try: a cut-off earlier try stays invalid. */
	int err = build_body(s, ++s->attempt, &body);

	if (!err)
		err = strbuf_printf(&sql, "INSERT INTO %s.%s (", s->c.db,
				    s->stage);
	if (!err)
		err = columns(&sql, false, true);
	if (!err)
		err = strbuf_puts(&sql, ") FORMAT TabSeparated");
	if (err == -EINVAL)
		snprintf(s->errmsg, sizeof(s->errmsg),
			 "a row without its attempt column");
	else if (err == -ENOMEM)
		nomem(s);
	if (!err)
		err = query_id_prefix(s, true, id, sizeof(id));
	if (!err) {
		/* Named, so that the next run can wait for it (wait_inserts()).
		 */
		snprintf(settings, sizeof(settings), "&query_id=%s%llu", id,
			 (unsigned long long)s->attempt);
		/* Answered or not, some of its rows may be staged. */
		s->stage_rows = true;
		err = ch_exec(&s->c, sql.buf, body.buf, body.len, settings,
			      NULL, s->errmsg, sizeof(s->errmsg));
	}
	strbuf_free(&sql);
	strbuf_free(&body);
	return err;
}

static int ch_commit(void *state)
{
	struct store_ch *s = state;
	int err = resolve_doubt(s);

	/*
	 * The rows of earlier tries are stored or never will be (their
	 * doubt is resolved): they go, so that the stage holds one try.
	 */
	if (!err && s->stage_rows)
		err = empty_stage(s);
	/*
	 * Phase 1 unanswered: perhaps staged, never promoted, so the retry
	 * (a new attempt) stores everything again.
	 */
	if (!err)
		err = stage(s);
	if (!err) {
		err = promote(s, s->attempt);
		if (!err) {
			/* The daemon now knows what is stored. */
			memset(s->stored, 0, s->n_ifaces * sizeof(*s->stored));
			/*
			 * Emptied now, not at the next drain, so that a node's
			 * memory holds the drains being written, not the last
			 * one of every host.  A failure is the next drain's.
			 */
			empty_stage(s);
		} else {
			/* Even an error: its rows may be in, not its sums. */
			remember(s);
			s->doubt = s->attempt;
		}
	}
	ch_rollback(s);
	return err;
}

/*
 * Partitions of db.table (their values as numbers) below `cut`, dropped;
 * `shared`: a table that is replicated on a cluster (table_local).  On a
 * cluster a replicated table drops the partition on every replica of
 * this node's shard (through ZooKeeper); each shard's monitors drop its
 * partitions.  Not ON CLUSTER: that waits for every node, a node down
 * would hold the writer for distributed_ddl_task_timeout.
 */
static int drop_below(struct store_ch *s, const char *name, bool shared,
		      int64_t cut)
{
	struct strbuf sql = STRBUF_INIT, r = STRBUF_INIT, d = STRBUF_INIT;
	char table[64];
	int err = ch_sql_quote(&d, s->c.db);

	snprintf(table, sizeof(table), "%s%s", name, shared ? s->local : "");

	if (!err)
		err = strbuf_printf(
			&sql,
			"SELECT DISTINCT partition FROM system.parts"
			" WHERE database = %s AND table = '%s'"
			" AND active FORMAT TabSeparated",
			d.buf, table);
	if (err)
		err = nomem(s);
	else
		err = run(s, sql.buf, &r);
	for (char *p = r.len ? r.buf : NULL; p && *p && !err;) {
		char *nl = strchr(p, '\n'), *end;
		long long v;

		if (nl)
			*nl = '\0';
		v = strtoll(p, &end, 10);
		if (end != p && !*end && v < cut) {
			strbuf_reset(&sql);
			err = strbuf_printf(
				&sql, "ALTER TABLE %s.%s DROP PARTITION %lld",
				s->c.db, table, v);
			err = err ? nomem(s) : run(s, sql.buf, NULL);
		}
		p = nl ? nl + 1 : NULL;
	}
	strbuf_free(&sql);
	strbuf_free(&r);
	strbuf_free(&d);
	return err;
}

/* The partition value toYYYYMM() gives the day of t. */
static int64_t yyyymm(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	return (int64_t)(tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
}

static int64_t min_i64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/*
 * The rollups are the engine's (materialized views).  Retention: 18.16
 * has no TTL, so whole partitions older than --db-keep-* are dropped, at
 * most once an hour (a day is the finest partition); never hours before
 * the buckets they sum, nor days before hours.  The stage keeps today's
 * and yesterday's tries: a try is promoted within seconds of its staging.
 */
static int ch_maintain(void *state, int64_t now, unsigned max_hours)
{
	struct store_ch *s = state;
	int64_t hour = store_floor(now, STORE_HOUR), today, raw, hours, days;
	int err;

	(void)max_hours;
	if (hour == s->maintained)
		return 0;
	today = store_floor(now, STORE_DAY);
	raw = store_floor(now - (int64_t)s->keep_buckets, STORE_DAY);
	hours = min_i64(store_floor(now - (int64_t)s->keep_hours, STORE_DAY),
			raw);
	err = drop_below(s, "itm_stage", false, today / STORE_DAY - 1);
	if (!err)
		err = drop_below(s, "itm_data", true, raw / STORE_DAY);
	if (!err)
		err = drop_below(s, "itm_minute", true, raw / STORE_DAY);
	if (!err)
		err = drop_below(s, "itm_hour", true, hours / STORE_DAY);
	if (!err && s->keep_days) {
		days = min_i64(
			store_floor(now - (int64_t)s->keep_days, STORE_DAY),
			hours);
		/* A month goes when all of it is older than the cut. */
		err = drop_below(s, "itm_day", true, yyyymm(days));
	}
	if (!err)
		s->maintained = hour;
	return err;
}

static int hex_addr(const char *t, struct in6_addr *a)
{
	if (!t || strlen(t) != 32)
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		char h[3] = {t[2 * i], t[2 * i + 1], 0};

		a->s6_addr[i] = (uint8_t)strtoul(h, NULL, 16);
	}
	return 0;
}

/* Each line of a TabSeparated answer, split into n fields. */
static int each_line(struct strbuf *r, int n, int (*fn)(void *ctx, char **f),
		     void *ctx)
{
	char *p = r->len ? r->buf : NULL;
	char *f[16];
	int err = 0;

	while (p && *p && !err) {
		char *nl = strchr(p, '\n');

		if (nl)
			*nl = '\0';
		if (ch_tsv_split(p, f, n) == n)
			err = fn(ctx, f);
		p = nl ? nl + 1 : NULL;
	}
	return err;
}

struct restore_ctx {
	store_total_fn fn;
	void *ctx;
};

static int restore_line(void *ctx, char **f)
{
	struct restore_ctx *c = ctx;
	struct store_total t = {0};

	if (hex_addr(f[0], &t.addr))
		return 0;
	t.pid = (uint32_t)strtoul(f[1], NULL, 10);
	t.process = f[2];
	t.v.tx_bytes = strtoull(f[3], NULL, 10);
	t.v.rx_bytes = strtoull(f[4], NULL, 10);
	t.v.tx_packets = strtoull(f[5], NULL, 10);
	t.v.rx_packets = strtoull(f[6], NULL, 10);
	return c->fn(c->ctx, &t);
}

static int ch_restore(void *state, store_total_fn fn, void *ctx)
{
	struct store_ch *s = state;
	struct restore_ctx c = {fn, ctx};
	struct strbuf r = STRBUF_INIT;
	int err = host_query(
		s,
		"SELECT ip, pid, process, sum(tx_bytes), sum(rx_bytes),"
		" sum(tx_packets), sum(rx_packets) FROM %1$s.itm_day"
		" WHERE host = %2$s AND kind = 3 GROUP BY ip, pid, process"
		" FORMAT TabSeparated",
		NULL, &r);

	if (!err)
		err = each_line(&r, 7, restore_line, &c);
	strbuf_free(&r);
	return err;
}

static int other_line(void *ctx, char **f)
{
	struct itm_value *out = ctx;
	long k = strtol(f[0], NULL, 10);

	if (k < 0 || k >= STORE_OTHER_MAX)
		return 0;
	out[k].tx_bytes = strtoull(f[1], NULL, 10);
	out[k].rx_bytes = strtoull(f[2], NULL, 10);
	out[k].tx_packets = strtoull(f[3], NULL, 10);
	out[k].rx_packets = strtoull(f[4], NULL, 10);
	return 0;
}

static int ch_restore_other(void *state, int64_t iface,
			    struct itm_value out[STORE_OTHER_MAX])
{
	struct store_ch *s = state;
	struct strbuf r = STRBUF_INIT;
	int err;

	memset(out, 0, sizeof(*out) * STORE_OTHER_MAX);
	err = host_query(
		s,
		"SELECT kind, sum(tx_bytes), sum(rx_bytes), sum(tx_packets),"
		" sum(rx_packets) FROM %1$s.itm_day WHERE host = %2$s"
		" AND iface = %3$s AND kind < 3 GROUP BY kind"
		" FORMAT TabSeparated",
		iface_name(s, iface), &r);
	if (!err)
		err = each_line(&r, 5, other_line, out);
	strbuf_free(&r);
	return err;
}

static void ch_shown(const char *path, char *out, size_t len)
{
	ch_redact(path, out, len);
}

const struct store_ops store_ch_ops = {
	.name = "clickhouse",
	.claims = ch_claims,
	.shown = ch_shown,
	.open = ch_store_open,
	.close = ch_close_store,
	.errmsg = ch_errmsg,
	.iface = ch_iface,
	.get_state = ch_get_state,
	.begin = ch_begin,
	.at = ch_at,
	.add = ch_add,
	.add_other = ch_add_other,
	.set_state = ch_set_state,
	.commit = ch_commit,
	.rollback = ch_rollback,
	.maintain = ch_maintain,
	.restore = ch_restore,
	.restore_other = ch_restore_other,
	.reader = &ch_reader,
};

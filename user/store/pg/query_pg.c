// SPDX-License-Identifier: MIT
/*
 * The PostgreSQL backend's reader (`query`): one session in which every
 * statement runs in a READ ONLY transaction that is rolled back.
 */
#include "query_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "pg_int.h"
#include "store_pg_sql.h"

/* pg_type oids of the built-in types (catalog/pg_type_d.h). */
enum {
	OID_BOOL = 16,
	OID_BYTEA = 17,
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_OID = 26,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_NUMERIC = 1700,
};

struct qpg {
	PGconn *conn;
};

/* libpq's messages span lines; ours are one line. */
static void one_line(char *err, size_t len, const char *msg)
{
	size_t n;

	snprintf(err, len, "%s", msg ? msg : "unknown error");
	for (char *c = err; *c; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	n = strlen(err);
	while (n && err[n - 1] == ' ')
		err[--n] = '\0';
}

static void pg_ro_close(void *state)
{
	struct qpg *q = state;

	if (!q)
		return;
	if (q->conn)
		PQfinish(q->conn);
	free(q);
}

/* The reason of a failed connection, or NULL when connected read-only. */
static const char *connect_ro(struct qpg *q, const char *url)
{
	PGresult *r;
	int ok;

	q->conn = PQconnectdb(url);
	if (!q->conn)
		return "out of memory";
	pg_log_notices(q->conn);
	if (PQstatus(q->conn) != CONNECTION_OK)
		return PQerrorMessage(q->conn);
	/* Whatever the statement, this session writes nothing. */
	r = PQexec(q->conn, "SET default_transaction_read_only = on;"
			    " SET client_min_messages = warning");
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok ? NULL : PQerrorMessage(q->conn);
}

static int pg_ro_open(const char *url, void **state, char *err, size_t len)
{
	struct qpg *q = calloc(1, sizeof(*q));
	char why[1024], shown[1024];
	const char *e;

	*state = NULL;
	if (!q) {
		snprintf(err, len, _("out of memory"));
		return -ENOMEM;
	}
	e = connect_ro(q, url);
	if (e) {
		one_line(why, sizeof(why), e);
		store_pg_redact(url, shown, sizeof(shown));
		snprintf(err, len, _("cannot connect to %s: %s"), shown, why);
		pg_ro_close(q);
		return -EINVAL;
	}
	*state = q;
	return 0;
}

enum qcell_type qpg_cell(unsigned oid, const char *v, char *buf, size_t len,
			 const char **text)
{
	*text = v;
	switch (oid) {
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		return QCELL_INT;
	case OID_NUMERIC:
		if (!strpbrk(v, ".eEN")) /* no fraction, not NaN */
			return QCELL_INT;
		/* fall through */
	case OID_FLOAT4:
	case OID_FLOAT8:
		if (!strcmp(v, "NaN") || strstr(v, "Infinity"))
			return QCELL_TEXT;
		snprintf(buf, len, "%.15g", strtod(v, NULL));
		*text = buf;
		return QCELL_REAL;
	case OID_BOOL:
		*text = v[0] == 't' ? "1" : "0";
		return QCELL_INT;
	case OID_BYTEA:
		if (!strncmp(v, "\\x", 2)) {
			snprintf(buf, len, "%s", v + 2);
			*text = buf;
		}
		return QCELL_BLOB;
	default:
		return QCELL_TEXT;
	}
}

/* Run one statement read-only; the result, or NULL with err set. */
static PGresult *run(struct qpg *q, const char *sql, int nparams,
		     const char *const *params, char *err, size_t len, int *rc)
{
	PGresult *r = PQexec(q->conn, "BEGIN TRANSACTION READ ONLY");
	ExecStatusType st;

	*rc = 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		one_line(err, len, PQerrorMessage(q->conn));
		PQclear(r);
		*rc = -EIO;
		return NULL;
	}
	PQclear(r);
	/* The extended protocol takes one statement only. */
	r = PQexecParams(q->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK) {
		if (st == PGRES_EMPTY_QUERY) {
			one_line(err, len, "no SQL statement given");
			*rc = -ENODATA;
		} else if (st == PGRES_COMMAND_OK) {
			*rc = -ENOMSG;
		} else {
			one_line(err, len, PQresultErrorMessage(r));
			*rc = PQstatus(q->conn) == CONNECTION_OK ? -EINVAL
								 : -EIO;
		}
		PQclear(r);
		r = NULL;
	}
	PQclear(PQexec(q->conn, "ROLLBACK"));
	return r;
}

static int collect(struct qpg *q, const char *sql, struct qresult *out,
		   char *err, size_t len)
{
	int rc, ncols, n = 0;
	PGresult *r = run(q, sql, 0, NULL, err, len, &rc);
	const char **names = NULL;
	struct qcell *row = NULL;
	char **bufs = NULL;

	if (!r)
		return rc;
	ncols = PQnfields(r);
	n = ncols ? ncols : 1;
	names = calloc((size_t)n, sizeof(*names));
	row = calloc((size_t)n, sizeof(*row));
	bufs = calloc((size_t)n, sizeof(*bufs));
	if (!names || !row || !bufs) {
		rc = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < ncols; i++)
		names[i] = PQfname(r, i);
	rc = qresult_init(out, (size_t)ncols, names);
	for (int t = 0; !rc && t < PQntuples(r); t++) {
		for (int i = 0; i < ncols; i++) {
			const char *v = PQgetvalue(r, t, i), *text;
			size_t need = strlen(v) + 64;
			char *b;

			if (PQgetisnull(r, t, i)) {
				row[i] = (struct qcell){QCELL_NULL, NULL};
				continue;
			}
			b = realloc(bufs[i], need);
			if (!b) {
				rc = -ENOMEM;
				break;
			}
			bufs[i] = b;
			row[i].type =
				qpg_cell(PQftype(r, i), v, b, need, &text);
			row[i].text = (char *)text;
		}
		if (!rc)
			rc = qresult_add_row(out, row);
	}
out:
	for (int i = 0; bufs && i < ncols; i++)
		free(bufs[i]);
	free(bufs);
	free(names);
	free(row);
	PQclear(r);
	if (rc == -ENOMEM)
		one_line(err, len, "out of memory");
	return rc;
}

static int each_result(PGresult *r, store_row_fn fn, void *ctx)
{
	int rc = 0, ncols = PQnfields(r);
	char **vals = calloc(ncols ? (size_t)ncols : 1, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	for (int t = 0; !rc && t < PQntuples(r); t++) {
		for (int i = 0; i < ncols; i++)
			vals[i] = PQgetisnull(r, t, i) ? NULL
						       : PQgetvalue(r, t, i);
		rc = fn(ctx, ncols, vals);
	}
	free(vals);
	return rc;
}

int pg_rows(PGconn *c, const char *sql, int nparams, const char *const *params,
	    store_row_fn fn, void *ctx)
{
	PGresult *r =
		PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	int rc;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = PQstatus(c) == CONNECTION_OK ? -EINVAL : -EIO;
	else
		rc = each_result(r, fn, ctx);
	PQclear(r);
	return rc;
}

static int pg_ro_each(void *state, const char *sql, int nparams,
		      const char *const *params, store_row_fn fn, void *ctx,
		      char *err, size_t len)
{
	int rc;
	PGresult *r = run(state, sql, nparams, params, err, len, &rc);

	if (!r)
		return rc;
	rc = each_result(r, fn, ctx);
	PQclear(r);
	if (rc == -ENOMEM)
		one_line(err, len, "out of memory");
	return rc;
}

static int pg_ro_sql(void *state, const char *sql, struct qresult *r, char *err,
		     size_t len)
{
	char why[1024];
	int rc = collect(state, sql, r, why, sizeof(why));

	return store_ro_result(rc, why, err, len);
}

/* The server adds one host's rows up by id: one row per id comes back. */
static int pg_sums(void *state, const char *host, const char *source,
		   const char *column, store_sum_fn fn, void *ctx, char *err,
		   size_t len)
{
	struct strbuf sql = STRBUF_INIT;
	struct store_sum_text c = {fn, ctx};
	const char *v[1] = {host};
	int rc;

	if (strbuf_printf(&sql,
			  "SELECT %s, sum(tx_bytes), sum(rx_bytes),"
			  " sum(tx_packets), sum(rx_packets) FROM (%s) s%s"
			  " GROUP BY 1",
			  column, source,
			  host ? " WHERE iface_id IN (SELECT id FROM ifaces"
				 " WHERE host = $1)"
			       : "")) {
		one_line(err, len, "out of memory");
		return -ENOMEM;
	}
	rc = pg_ro_each(state, sql.buf, host ? 1 : 0, v, store_sum_text_row, &c,
			err, len);
	strbuf_free(&sql);
	return rc;
}

/* '{1,2,...}': every id named in one statement. */
static int pg_names(void *state, const char *select, const int64_t *ids,
		    size_t n, store_row_fn fn, void *ctx, char *err, size_t len)
{
	struct strbuf arr = STRBUF_INIT, sql = STRBUF_INIT;
	const char *v[1];
	int rc = strbuf_puts(&arr, "{");

	for (size_t i = 0; !rc && i < n; i++)
		rc = strbuf_printf(&arr, "%s%" PRId64, i ? "," : "", ids[i]);
	if (!rc)
		rc = strbuf_puts(&arr, "}");
	if (!rc)
		rc = strbuf_printf(&sql, "%s WHERE id = ANY($1::bigint[])",
				   select);
	if (rc) {
		one_line(err, len, "out of memory");
		rc = -ENOMEM;
	} else {
		v[0] = arr.buf;
		rc = pg_ro_each(state, sql.buf, 1, v, fn, ctx, err, len);
	}
	strbuf_free(&arr);
	strbuf_free(&sql);
	return rc;
}

const struct store_reader pg_reader = {
	.open = pg_ro_open,
	.close = pg_ro_close,
	.sql = pg_ro_sql,
	.each = pg_ro_each,
	.sums = pg_sums,
	.names = pg_names,
	.host_sql = "SELECT DISTINCT host FROM ifaces WHERE host = $1",
	.all_hosts_sql = "SELECT DISTINCT host FROM ifaces",
	.meta_sql = PG_META_SQL,
};

// SPDX-License-Identifier: MIT
#include "query_pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int qpg_open(const char *url, struct qpg **out, char *err, size_t len)
{
	struct qpg *q = calloc(1, sizeof(*q));
	PGresult *r;

	*out = NULL;
	if (!q)
		return -ENOMEM;
	q->conn = PQconnectdb(url);
	if (!q->conn || PQstatus(q->conn) != CONNECTION_OK) {
		one_line(err, len,
			 q->conn ? PQerrorMessage(q->conn) : "out of memory");
		qpg_close(q);
		return -ECONNREFUSED;
	}
	/* Whatever the statement, this session writes nothing. */
	r = PQexec(q->conn, "SET default_transaction_read_only = on;"
			    " SET client_min_messages = warning");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		one_line(err, len, PQerrorMessage(q->conn));
		PQclear(r);
		qpg_close(q);
		return -ECONNREFUSED;
	}
	PQclear(r);
	*out = q;
	return 0;
}

void qpg_close(struct qpg *q)
{
	if (!q)
		return;
	if (q->conn)
		PQfinish(q->conn);
	free(q);
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

int qpg_collect(struct qpg *q, const char *sql, struct qresult *out, char *err,
		size_t len)
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

int qpg_each(struct qpg *q, const char *sql, int nparams,
	     const char *const *params, qpg_row_fn fn, void *ctx, char *err,
	     size_t len)
{
	int rc, ncols;
	PGresult *r = run(q, sql, nparams, params, err, len, &rc);
	char **vals;

	if (!r)
		return rc;
	ncols = PQnfields(r);
	vals = calloc(ncols ? (size_t)ncols : 1, sizeof(*vals));
	if (!vals) {
		PQclear(r);
		return -ENOMEM;
	}
	for (int t = 0; !rc && t < PQntuples(r); t++) {
		for (int i = 0; i < ncols; i++)
			vals[i] = PQgetisnull(r, t, i) ? NULL
						       : PQgetvalue(r, t, i);
		rc = fn(ctx, ncols, vals);
	}
	free(vals);
	PQclear(r);
	return rc;
}

// SPDX-License-Identifier: MIT
/*
 * The SQLite backend's reader (`query`): the file opened read-only, so it
 * is safe while the daemon writes; the user's statement must be one
 * read-only statement.
 */
#include "sqlite_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "i18n.h"
#include "regfile.h"

int sqlite_each(sqlite3 *db, const char *sql, int nparams,
		const char *const *params, store_row_fn fn, void *ctx)
{
	char *vals[16];
	sqlite3_stmt *st;
	int rc, n, err = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -EINVAL;
	for (int i = 0; i < nparams && i < sqlite3_bind_parameter_count(st);
	     i++)
		sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC);
	n = sqlite3_column_count(st);
	if (n > 16)
		n = 16;
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++)
			vals[i] = (char *)sqlite3_column_text(st, i);
		err = fn(ctx, n, vals);
	}
	sqlite3_finalize(st);
	if (err)
		return err;
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/*
 * PRAGMAs that only read.  A read-only open still lets a statement such
 * as "PRAGMA writable_schema=1" or "query_only=0" change the connection
 * (sqlite3_stmt_readonly() says yes to them), so the user's statement is
 * held to this list by the authorizer, which sees every PRAGMA however
 * it is spelled (with a schema prefix, in EXPLAIN, any case).
 */
static const struct {
	const char *name;
	bool arg; /* an argument names a table/index; else it would set */
} ro_pragmas[] = {
	{"application_id", false},   {"collation_list", false},
	{"compile_options", false},  {"data_version", false},
	{"database_list", false},    {"encoding", false},
	{"foreign_key_check", true}, {"foreign_key_list", true},
	{"freelist_count", false},   {"function_list", false},
	{"index_info", true},	     {"index_list", true},
	{"index_xinfo", true},	     {"integrity_check", true},
	{"journal_mode", false},     {"module_list", false},
	{"page_count", false},	     {"page_size", false},
	{"pragma_list", false},	     {"quick_check", true},
	{"schema_version", false},   {"table_info", true},
	{"table_list", true},	     {"table_xinfo", true},
	{"user_version", false},
};

/* The PRAGMA the authorizer refused (query is single-threaded). */
static char refused_pragma[64];

static int authorize(void *ctx, int action, const char *a1, const char *a2,
		     const char *db, const char *trigger)
{
	(void)ctx;
	(void)db;
	(void)trigger;
	if (action != SQLITE_PRAGMA)
		return SQLITE_OK;
	for (size_t i = 0; i < sizeof(ro_pragmas) / sizeof(ro_pragmas[0]); i++)
		if (a1 && !strcasecmp(a1, ro_pragmas[i].name) &&
		    (!a2 || ro_pragmas[i].arg))
			return SQLITE_OK;
	snprintf(refused_pragma, sizeof(refused_pragma), "%s%s%s",
		 a1 ? a1 : "?", a2 ? "=" : "", a2 ? a2 : "");
	return SQLITE_DENY;
}

static int sqlite_ro_open(const char *path, void **state, char *err, size_t len)
{
	sqlite3 *db = NULL;
	char why[128];
	int rc;

	*state = NULL;
	/* SQLite's read-only open(2) would block on a FIFO: check first. */
	rc = regfile_check(path, why, sizeof(why));
	if (rc == -ENOENT) {
		snprintf(
			err, len,
			_("cannot open %s: no such file (the daemon writes it with --db; choose it with --db PATH)"),
			path);
		return -EINVAL;
	}
	if (rc) {
		snprintf(err, len, _("cannot open %s: %s"), path, why);
		return -EINVAL;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		/* Not SQLite, or not readable, shows on the first read. */
		rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master",
				  NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, len, _("cannot read %s: %s"), path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close_v2(db);
		return -EINVAL;
	}
	sqlite3_set_authorizer(db, authorize, NULL);
	*state = db;
	return 0;
}

static void sqlite_ro_close(void *state)
{
	sqlite3_close_v2(state);
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

/* One cell of the current row; bufs[i] owns what had to be rewritten. */
static int cell(sqlite3_stmt *st, int i, struct qcell *c, char **buf)
{
	free(*buf);
	*buf = NULL;
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		*c = (struct qcell){QCELL_NULL, NULL};
		return 0;
	case SQLITE_INTEGER:
		*c = (struct qcell){QCELL_INT,
				    (char *)sqlite3_column_text(st, i)};
		break;
	case SQLITE_FLOAT: {
		char b[40];

		snprintf(b, sizeof(b), "%.15g", sqlite3_column_double(st, i));
		*c = (struct qcell){QCELL_REAL, *buf = strdup(b)};
		break;
	}
	case SQLITE_BLOB: {
		int n = sqlite3_column_bytes(st, i);
		const void *p = sqlite3_column_blob(st, i);

		*buf = malloc((size_t)n * 2 + 1);
		if (*buf)
			hex(p, n, *buf);
		*c = (struct qcell){QCELL_BLOB, *buf};
		break;
	}
	default:
		*c = (struct qcell){QCELL_TEXT,
				    (char *)sqlite3_column_text(st, i)};
	}
	return c->text ? 0 : -ENOMEM;
}

/* Step st to the end, collecting rows into r (which it initialises). */
static int collect(sqlite3 *db, sqlite3_stmt *st, struct qresult *r, char *err,
		   size_t len)
{
	int ncols = sqlite3_column_count(st), rc, e;
	const char **names = calloc(ncols ? ncols : 1, sizeof(*names));
	struct qcell *row = calloc(ncols ? ncols : 1, sizeof(*row));
	char **bufs = calloc(ncols ? ncols : 1, sizeof(*bufs));

	if (!names || !row || !bufs) {
		e = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < ncols; i++)
		names[i] = sqlite3_column_name(st, i);
	e = qresult_init(r, (size_t)ncols, names);
	while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols && !e; i++)
			e = cell(st, i, &row[i], &bufs[i]);
		if (!e)
			e = qresult_add_row(r, row);
	}
	if (!e && rc != SQLITE_DONE) {
		snprintf(err, len, _("SQL error: %s"), sqlite3_errmsg(db));
		e = -EINVAL;
	}
out:
	for (int i = 0; bufs && i < ncols; i++)
		free(bufs[i]);
	free(bufs);
	free(names);
	free(row);
	if (e == -ENOMEM)
		snprintf(err, len, _("out of memory"));
	return e;
}

static bool blank(const char *s)
{
	while (*s && (isspace((unsigned char)*s) || *s == ';'))
		s++;
	return !*s;
}

static int sqlite_sql(void *state, const char *sql, struct qresult *r,
		      char *err, size_t len)
{
	sqlite3 *db = state;
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int e = -EINVAL;

	refused_pragma[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK &&
	    refused_pragma[0])
		snprintf(
			err, len,
			_("PRAGMA %s is refused: only read-only PRAGMAs are allowed (table_info, index_list, user_version, integrity_check... without a value); the daemon owns the database"),
			refused_pragma);
	else if (!st && sqlite3_errcode(db) != SQLITE_OK)
		snprintf(err, len, _("SQL error: %s"), sqlite3_errmsg(db));
	else if (!st)
		snprintf(err, len, _("no SQL statement given"));
	else if (tail && !blank(tail))
		snprintf(
			err, len,
			_("one statement at a time, please (found more after the first ';')"));
	else if (!sqlite3_stmt_readonly(st))
		snprintf(
			err, len,
			_("only read-only statements are allowed (SELECT, WITH, EXPLAIN, read-only PRAGMA); the daemon owns the database"));
	else
		e = collect(db, st, r, err, len);
	sqlite3_finalize(st);
	return e;
}

static int sqlite_ro_each(void *state, const char *sql, int nparams,
			  const char *const *params, store_row_fn fn, void *ctx,
			  char *err, size_t len)
{
	int e = sqlite_each(state, sql, nparams, params, fn, ctx);

	if (e == -EINVAL || e == -EIO)
		snprintf(err, len, "%s", sqlite3_errmsg(state));
	return e;
}

/*
 * Row by row, added up by the caller in C: an SQL GROUP BY would sort
 * millions of rows.  host: one file holds one host.
 */
static int sqlite_sums(void *state, const char *host, const char *source,
		       const char *column, store_sum_fn fn, void *ctx,
		       char *err, size_t len)
{
	sqlite3 *db = state;
	sqlite3_stmt *st;
	int rc, col = -1, e = 0;

	(void)host;
	if (sqlite3_prepare_v2(db, source, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, len, "%s", sqlite3_errmsg(db));
		return -EINVAL;
	}
	for (int i = 0; i < sqlite3_column_count(st); i++)
		if (!strcmp(sqlite3_column_name(st, i), column))
			col = i;
	if (col < 0 || sqlite3_column_count(st) < 7) {
		sqlite3_finalize(st);
		snprintf(err, len, "no column %s", column);
		return -EINVAL;
	}
	while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t v[4];

		for (int k = 0; k < 4; k++)
			v[k] = (uint64_t)sqlite3_column_int64(st, 3 + k);
		e = fn(ctx, sqlite3_column_int64(st, col), v);
	}
	if (!e && rc != SQLITE_DONE) {
		snprintf(err, len, "%s", sqlite3_errmsg(db));
		e = -EIO;
	}
	sqlite3_finalize(st);
	return e;
}

/* One prepared lookup per id: each is a primary-key probe. */
static int sqlite_names(void *state, const char *select, const int64_t *ids,
			size_t n, store_row_fn fn, void *ctx, char *err,
			size_t len)
{
	sqlite3 *db = state;
	char sql[256], id[24], *vals[2] = {id, NULL};
	sqlite3_stmt *st;
	int e = 0;

	snprintf(sql, sizeof(sql), "%s WHERE id = ?1", select);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, len, "%s", sqlite3_errmsg(db));
		return -EINVAL;
	}
	for (size_t i = 0; i < n && !e; i++) {
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(id, sizeof(id), "%lld", (long long)ids[i]);
			vals[1] = (char *)sqlite3_column_text(st, 1);
			e = fn(ctx, 2, vals);
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return e;
}

const struct store_reader sqlite_reader = {
	.open = sqlite_ro_open,
	.close = sqlite_ro_close,
	.sql = sqlite_sql,
	.each = sqlite_ro_each,
	.sums = sqlite_sums,
	.names = sqlite_names,
	.meta_sql = SQLITE_META_SQL,
};

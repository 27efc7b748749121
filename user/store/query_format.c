// SPDX-License-Identifier: MIT
#include "query_format.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int qresult_init(struct qresult *r, size_t ncols, const char *const *names)
{
	memset(r, 0, sizeof(*r));
	r->names = calloc(ncols ? ncols : 1, sizeof(*r->names));
	if (!r->names)
		return -ENOMEM;
	r->ncols = ncols;
	for (size_t i = 0; i < ncols; i++) {
		r->names[i] = strdup(names[i] ? names[i] : "");
		if (!r->names[i]) {
			qresult_free(r);
			return -ENOMEM;
		}
	}
	return 0;
}

int qresult_add_row(struct qresult *r, const struct qcell *cells)
{
	struct qcell *row;

	if (r->nrows == r->cap_rows) {
		size_t cap = r->cap_rows ? r->cap_rows * 2 : 64;
		struct qcell *c =
			realloc(r->cells, cap * r->ncols * sizeof(*c));

		if (!c && r->ncols)
			return -ENOMEM;
		r->cells = c;
		r->cap_rows = cap;
	}
	row = r->cells + r->nrows * r->ncols;
	for (size_t i = 0; i < r->ncols; i++) {
		row[i].type = cells[i].type;
		row[i].text = NULL;
		if (cells[i].type != QCELL_NULL) {
			row[i].text =
				strdup(cells[i].text ? cells[i].text : "");
			if (!row[i].text) {
				while (i--)
					free(row[i].text);
				return -ENOMEM;
			}
		}
	}
	r->nrows++;
	return 0;
}

void qresult_free(struct qresult *r)
{
	for (size_t i = 0; r->names && i < r->ncols; i++)
		free(r->names[i]);
	for (size_t i = 0; i < r->nrows * r->ncols; i++)
		free(r->cells[i].text);
	free(r->names);
	free(r->cells);
	memset(r, 0, sizeof(*r));
}

/* Decode one UTF-8 sequence; invalid input yields the byte, length 1. */
static uint32_t utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t c = s[0];
	int n = c < 0x80    ? 0
		: c >= 0xf0 ? 3
		: c >= 0xe0 ? 2
		: c >= 0xc0 ? 1
			    : -1;

	if (n <= 0) {
		*p = s + 1;
		return n < 0 ? 0xfffd : c;
	}
	c &= 0x3f >> n;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*p = s + 1;
			return 0xfffd;
		}
		c = c << 6 | (s[i] & 0x3f);
	}
	*p = s + n + 1;
	return c;
}

/* East Asian Wide (W) and Fullwidth (F) ranges, Unicode 15. */
static bool is_wide(uint32_t c)
{
	static const uint32_t wide[][2] = {
		{0x1100, 0x115f},   {0x231a, 0x231b},	{0x2329, 0x232a},
		{0x23e9, 0x23ec},   {0x23f0, 0x23f0},	{0x23f3, 0x23f3},
		{0x25fd, 0x25fe},   {0x2614, 0x2615},	{0x2648, 0x2653},
		{0x267f, 0x267f},   {0x2693, 0x2693},	{0x26a1, 0x26a1},
		{0x26aa, 0x26ab},   {0x26bd, 0x26be},	{0x26c4, 0x26c5},
		{0x26ce, 0x26ce},   {0x26d4, 0x26d4},	{0x26ea, 0x26ea},
		{0x26f2, 0x26f3},   {0x26f5, 0x26f5},	{0x26fa, 0x26fa},
		{0x26fd, 0x26fd},   {0x2705, 0x2705},	{0x270a, 0x270b},
		{0x2728, 0x2728},   {0x274c, 0x274c},	{0x274e, 0x274e},
		{0x2753, 0x2755},   {0x2757, 0x2757},	{0x2795, 0x2797},
		{0x27b0, 0x27b0},   {0x27bf, 0x27bf},	{0x2b1b, 0x2b1c},
		{0x2b50, 0x2b50},   {0x2b55, 0x2b55},	{0x2e80, 0x303e},
		{0x3041, 0x33ff},   {0x3400, 0x4dbf},	{0x4e00, 0x9fff},
		{0xa000, 0xa4cf},   {0xa960, 0xa97f},	{0xac00, 0xd7a3},
		{0xf900, 0xfaff},   {0xfe10, 0xfe19},	{0xfe30, 0xfe6f},
		{0xff00, 0xff60},   {0xffe0, 0xffe6},	{0x16fe0, 0x18cff},
		{0x1b000, 0x1b2ff}, {0x1f004, 0x1f004}, {0x1f0cf, 0x1f0cf},
		{0x1f18e, 0x1f18e}, {0x1f191, 0x1f19a}, {0x1f200, 0x1f251},
		{0x1f300, 0x1f64f}, {0x1f680, 0x1f6ff}, {0x1f7e0, 0x1f7eb},
		{0x1f90c, 0x1f9ff}, {0x1fa70, 0x1faff}, {0x20000, 0x2fffd},
		{0x30000, 0x3fffd},
	};
	size_t lo = 0, hi = sizeof(wide) / sizeof(wide[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c < wide[mid][0])
			hi = mid;
		else if (c > wide[mid][1])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Combining marks and zero-width characters take no column. */
static bool is_zero_width(uint32_t c)
{
	return (c >= 0x300 && c <= 0x36f) || (c >= 0x200b && c <= 0x200f) ||
	       (c >= 0xfe00 && c <= 0xfe0f) || (c >= 0x20d0 && c <= 0x20ff) ||
	       c == 0xfeff;
}

size_t display_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;

	while (*p) {
		uint32_t c = utf8_next(&p);

		w += is_zero_width(c) ? 0 : is_wide(c) ? 2 : 1;
	}
	return w;
}

void human_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB"};
	double d = (double)v;
	int u = -1;

	if (v < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", v);
		return;
	}
	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	snprintf(buf, len, "%.2f %s", d, units[u]);
}

static const struct qcell *cell(const struct qresult *r, size_t row, size_t col)
{
	return &r->cells[row * r->ncols + col];
}

/* Tabs, newlines and other controls would break the alignment. */
static int put_printable(struct strbuf *out, const char *s)
{
	int err = 0;

	for (; *s && !err; s++) {
		char c = *s;

		if ((unsigned char)c < 0x20 || c == 0x7f)
			c = ' ';
		err = strbuf_append(out, &c, 1);
	}
	return err;
}

static int pad(struct strbuf *out, size_t n)
{
	static const char spaces[] = "                                ";
	int err = 0;

	while (n && !err) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;

		err = strbuf_append(out, spaces, k);
		n -= k;
	}
	return err;
}

static const char *shown(const struct qcell *c)
{
	return c->type == QCELL_NULL ? "NULL" : c->text;
}

static bool right_aligned(const struct qcell *c)
{
	return c->type == QCELL_INT || c->type == QCELL_REAL;
}

static int render_table(const struct qresult *r, struct strbuf *out)
{
	size_t *w = calloc(r->ncols ? r->ncols : 1, sizeof(*w));
	int err = 0;

	if (!w)
		return -ENOMEM;
	for (size_t c = 0; c < r->ncols; c++) {
		w[c] = display_width(r->names[c]);
		for (size_t i = 0; i < r->nrows; i++) {
			size_t x = display_width(shown(cell(r, i, c)));

			if (x > w[c])
				w[c] = x;
		}
	}
	/*
	 * Header, rule, rows; two spaces between columns, none trailing.
	 * Numbers are right-aligned, and so is the name of a column of them.
	 */
	for (size_t c = 0; c < r->ncols && !err; c++) {
		size_t gap = w[c] - display_width(r->names[c]);
		bool num = r->nrows > 0;

		for (size_t i = 0; i < r->nrows && num; i++)
			num = right_aligned(cell(r, i, c)) ||
			      cell(r, i, c)->type == QCELL_NULL;
		if (c)
			err = pad(out, 2);
		if (!err && num)
			err = pad(out, gap);
		if (!err)
			err = put_printable(out, r->names[c]);
		if (!err && !num && c + 1 < r->ncols)
			err = pad(out, gap);
	}
	if (!err)
		err = strbuf_puts(out, "\n");
	for (size_t c = 0; c < r->ncols && !err; c++) {
		if (c)
			err = pad(out, 2);
		for (size_t k = 0; k < w[c] && !err; k++)
			err = strbuf_append(out, "-", 1);
	}
	if (!err)
		err = strbuf_puts(out, "\n");
	for (size_t i = 0; i < r->nrows && !err; i++) {
		for (size_t c = 0; c < r->ncols && !err; c++) {
			const struct qcell *x = cell(r, i, c);
			size_t gap = w[c] - display_width(shown(x));

			if (c)
				err = pad(out, 2);
			if (!err && right_aligned(x))
				err = pad(out, gap);
			if (!err)
				err = put_printable(out, shown(x));
			if (!err && !right_aligned(x) && c + 1 < r->ncols)
				err = pad(out, gap);
		}
		if (!err)
			err = strbuf_puts(out, "\n");
	}
	if (!err)
		err = strbuf_printf(out, "(%zu row%s)\n", r->nrows,
				    r->nrows == 1 ? "" : "s");
	free(w);
	return err;
}

static int csv_field(struct strbuf *out, const char *s)
{
	int err;

	if (!strpbrk(s, ",\"\r\n"))
		return strbuf_puts(out, s);
	err = strbuf_puts(out, "\"");
	for (; *s && !err; s++)
		err = *s == '"' ? strbuf_puts(out, "\"\"")
				: strbuf_append(out, s, 1);
	return err ? err : strbuf_puts(out, "\"");
}

static int render_csv(const struct qresult *r, struct strbuf *out)
{
	int err = 0;

	for (size_t c = 0; c < r->ncols && !err; c++) {
		if (c)
			err = strbuf_puts(out, ",");
		if (!err)
			err = csv_field(out, r->names[c]);
	}
	if (!err)
		err = strbuf_puts(out, "\r\n");
	for (size_t i = 0; i < r->nrows && !err; i++) {
		for (size_t c = 0; c < r->ncols && !err; c++) {
			const struct qcell *x = cell(r, i, c);

			if (c)
				err = strbuf_puts(out, ",");
			if (!err && x->type != QCELL_NULL)
				err = csv_field(out, x->text);
		}
		if (!err)
			err = strbuf_puts(out, "\r\n");
	}
	return err;
}

/*
 * A JSON value of one cell.  Numbers keep the database's own text
 * (json_object_new_double_s() prints it as given), so 1.5 stays 1.5 and a
 * 64-bit sum is not rounded through a double; text that is not a finite
 * number (a PostgreSQL 'NaN') becomes a string, so the output stays JSON.
 */
static struct json_object *json_cell(const struct qcell *x)
{
	char *end;
	double d;

	if (x->type == QCELL_NULL)
		return NULL; /* json-c's null */
	if (x->type == QCELL_INT || x->type == QCELL_REAL) {
		errno = 0;
		d = strtod(x->text, &end);
		if (*x->text && !*end && !errno && isfinite(d))
			return json_object_new_double_s(d, x->text);
	}
	return json_object_new_string(x->text);
}

/* One row as a JSON object, in column order; its text in out. */
static int json_row(const struct qresult *r, size_t i, struct strbuf *out)
{
	struct json_object *row = json_object_new_object();
	const char *text;
	int err = row ? 0 : -ENOMEM;

	for (size_t c = 0; c < r->ncols && !err; c++) {
		const struct qcell *x = cell(r, i, c);
		struct json_object *v = json_cell(x);

		if (x->type != QCELL_NULL && !v) {
			err = -ENOMEM;
			break;
		}
		/*
		 * KEY_IS_NEW: a query may name two columns alike ("SELECT 1 AS
		 * a, 2 AS a"); both are kept, as a table or CSV shows them.
		 */
		if (json_object_object_add_ex(row, r->names[c], v,
					      JSON_C_OBJECT_ADD_KEY_IS_NEW)) {
			json_object_put(v);
			err = -ENOMEM;
		}
	}
	if (!err) {
		text = json_object_to_json_string_ext(
			row, JSON_C_TO_STRING_SPACED |
				     JSON_C_TO_STRING_NOSLASHESCAPE);
		err = text ? strbuf_puts(out, text) : -ENOMEM;
	}
	json_object_put(row);
	return err;
}

/*
 * A JSON array of one object per row, built and escaped by json-c.  The
 * array itself is written row by row, one object a line, so a long result
 * is never held twice (once as json-c objects, once as text).
 */
static int render_json(const struct qresult *r, struct strbuf *out)
{
	int err = strbuf_puts(out, "[");

	for (size_t i = 0; i < r->nrows && !err; i++) {
		err = strbuf_puts(out, i ? ",\n  " : "\n  ");
		if (!err)
			err = json_row(r, i, out);
	}
	if (!err)
		err = strbuf_puts(out, r->nrows ? "\n]\n" : "]\n");
	return err;
}

int qresult_render(const struct qresult *r, enum qformat f, struct strbuf *out)
{
	switch (f) {
	case QFORMAT_CSV:
		return render_csv(r, out);
	case QFORMAT_JSON:
		return render_json(r, out);
	default:
		return render_table(r, out);
	}
}

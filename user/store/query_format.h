/* SPDX-License-Identifier: MIT */
/*
 * A result set held in memory and its three renderings: an aligned text
 * table (East Asian wide characters count two columns), CSV (RFC 4180)
 * and JSON.  Pure: unit-tested with golden strings.
 */
#ifndef ITM_QUERY_FORMAT_H
#define ITM_QUERY_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

enum qcell_type {
	QCELL_NULL,
	QCELL_INT,
	QCELL_REAL,
	QCELL_TEXT,
	QCELL_BLOB, /* text holds lowercase hex */
};

struct qcell {
	enum qcell_type type;
	char *text; /* NULL for QCELL_NULL */
};

struct qresult {
	size_t ncols;
	char **names;
	size_t nrows;
	struct qcell *cells; /* nrows * ncols, row-major */
	size_t cap_rows;
};

enum qformat {
	QFORMAT_TABLE,
	QFORMAT_CSV,
	QFORMAT_JSON,
};

int qresult_init(struct qresult *r, size_t ncols, const char *const *names);
/* Append a row; cells are copied. */
int qresult_add_row(struct qresult *r, const struct qcell *cells);
void qresult_free(struct qresult *r);
int qresult_render(const struct qresult *r, enum qformat f, struct strbuf *out);

/* Terminal columns a UTF-8 string occupies (invalid bytes count one). */
size_t display_width(const char *s);
/* "1.50 MiB", "512 B": powers of 1024, two decimals. */
void human_bytes(uint64_t v, char *buf, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The live view's model: rows per remote address or per process with
 * cumulative bytes and rates over the last interval and over 2 s, 10 s and
 * 40 s windows (as iftop shows them), sorting, filtering and fitting the
 * columns to a terminal's width in display cells (wide characters count
 * two).  Pure code: it is fed snapshots of the collector's tables, either
 * in-process or replayed from the daemon's live socket, and knows nothing
 * about curses.
 */
#ifndef ITM_VIEW_H
#define ITM_VIEW_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "geo_labels.h"
#include "hashmap.h"
#include "itm_shared.h"

struct ip_table;

enum view_mode { VIEW_ADDR, VIEW_PROC };

enum view_window { VW_LAST, VW_2S, VW_10S, VW_40S, VW_MAX };

enum view_col {
	COL_ADDR,
	COL_PID,
	COL_PROCESS,
	COL_TX_LAST,
	COL_RX_LAST,
	COL_TX_2S,
	COL_RX_2S,
	COL_TX_10S,
	COL_RX_10S,
	COL_TX_40S,
	COL_RX_40S,
	COL_TX_BYTES,
	COL_RX_BYTES,
	COL_NADDRS,
	COL_HOST,  /* reverse DNS name, shown once a row has one */
	COL_LABEL, /* GEO_NLABELS columns, in geo_label_defs[] order */
	COL_MAX = COL_LABEL + GEO_NLABELS,
};
/* The column of label l (enum geo_label). */
#define COL_GEO(l) ((enum view_col)(COL_LABEL + (l)))
/* Sort by tx+rx bytes: the default, and the order of the summaries. */
#define VIEW_SORT_TOTAL COL_MAX
/* Sort by tx+rx rate over a window (iftop's 1/2/3): VIEW_SORT_WIN(VW_2S) */
#define VIEW_SORT_WIN(w) (COL_MAX + (w))

/*
 * Counters at time t; t0, tx0, rx0 are the first update merged into the
 * sample (updates faster than the history's spacing share one).
 */
struct view_sample {
	double t0, t;
	uint64_t tx0, rx0, tx, rx;
};

/* Cumulative counters as of given times, enough to cover 40 s. */
struct view_hist {
	struct view_sample *s;
	uint16_t cap, head, n; /* s[head] is the newest */
	bool lost;	       /* older samples were overwritten */
};

struct view_row {
	struct in6_addr addr; /* VIEW_ADDR rows */
	uint32_t pid;	      /* VIEW_PROC rows */
	char name[INET6_ADDRSTRLEN];
	/* "curl[1234] +2" (address row) or the command name (process row) */
	char process[48];
	char *label[GEO_NLABELS]; /* by enum geo_label; NULL: "Unknown" */
	char *host;		  /* reverse DNS name (VIEW_ADDR), or NULL */
	bool host_done;		  /* looked up: host is all there will be */
	uint64_t tx_bytes, rx_bytes, tx_packets, rx_packets;
	double tx_rate[VW_MAX], rx_rate[VW_MAX]; /* bytes per second */
	uint32_t naddrs;			 /* process rows */
	uint64_t best; /* scratch: top process bytes */
	uint64_t gen;  /* last update that saw it */
	bool mark;     /* scratch: cross filters */
	struct view_hist hist;
};

/* Rows keyed by (address, pid), in a dense array with a hash index. */
struct view_rows {
	struct view_row *rows;
	size_t count, cap;
	struct hashmap index; /* room for cap rows */
};

struct view_pair {
	uint32_t addr; /* index into addrs */
	uint32_t proc; /* index into procs */
};

struct view {
	struct view_rows addrs, procs;
	struct view_pair *pairs;
	size_t n_pairs, pairs_cap;
	struct view_row total; /* all addresses together */
	double start, now, prev;
	uint64_t gen;
	bool have_procs;
	uint16_t hist_cap;
	double spacing; /* minimum time between two history samples */
	double *times;	/* ring of update times */
	size_t times_cap, times_head, times_n;
};

struct view_filter {
	char addr[64]; /* text prefix of the address, or a CIDR */
	/* substrings of the labels, ASCII case-insensitive; "" = any */
	char label[GEO_NLABELS][64];
	char process[32]; /* substring of the command name */
};

/*
 * interval: the expected time between updates (seconds), to size the
 * history.  The first update is the baseline: rates start with the next.
 */
int view_init(struct view *v, double interval);
void view_free(struct view *v);
/*
 * Replace the model's rows with a snapshot: addrs is keyed by address,
 * procs (may be NULL) by (address, pid); rows absent from the snapshot
 * go.  now is a monotonic time in seconds of the snapshot.
 */
int view_update(struct view *v, const struct ip_table *addrs,
		const struct ip_table *procs, double now);

bool view_filter_active(const struct view_filter *f);
/* 0, or -EINVAL when f->addr is neither a prefix nor a valid CIDR. */
int view_filter_check(const struct view_filter *f);
/*
 * The rows of mode that pass f, sorted by column sort (VIEW_SORT_TOTAL
 * for tx+rx bytes), largest first unless reverse.  *out is allocated
 * (free it); returns the number of rows or -ENOMEM.
 */
long view_select(struct view *v, enum view_mode mode,
		 const struct view_filter *f, int sort, bool reverse,
		 const struct view_row ***out);

struct view_layout {
	int n;
	enum view_col cols[COL_MAX];
	int width[COL_MAX]; /* by enum view_col; 0 = hidden */
};

/*
 * Columns of mode that fit width cells, sized for rows[0..n); the sort
 * column (or -1) gets a cell more for its marker.
 */
void view_layout(struct view_layout *l, enum view_mode mode, int width,
		 const struct view_row *const *rows, size_t n, int sort);
const char *view_col_name(enum view_col c);
/* Formatted lines, exactly the layout's width in cells; buf >= 1024. */
void view_format_header(const struct view_layout *l, int sort, char *buf,
			size_t len);
void view_format_row(const struct view_layout *l, const struct view_row *r,
		     char *buf, size_t len);

struct strbuf;
/*
 * The periodic console table: the first n rows (all when 0) of mode by
 * total bytes, fitted to width cells, under a column header.
 */
int view_render_text(struct view *v, enum view_mode mode, size_t n, int width,
		     struct strbuf *out);

/* "0", "999B", "1.23K", "12.3M" ...: bytes with 3 significant digits. */
const char *view_format_rate(double v, char *buf, size_t len);
/*
 * How rates are shown (the live view's 'b' key): bytes as above, or bits
 * in SI units as iftop shows them ("999b", "1.23Kb", "12.3Mb").  One
 * setting per process: there is one live view.
 */
void view_set_bits(bool bits);
bool view_bits(void);
/* Give the value of the host column to rows[i] (strdup'ed; NULL: none). */
void view_row_set_host(const struct view_row *r, const char *host);
/*
 * Take the character type from the environment, or C.UTF-8 when that is
 * not UTF-8: names are UTF-8 and their widths come from wcwidth().  Only
 * LC_CTYPE: numbers elsewhere (metrics) stay in the C format.
 */
void view_use_utf8(void);
/* Display cells of a UTF-8 string (needs a UTF-8 LC_CTYPE for CJK). */
int view_text_width(const char *s);
/*
 * Copy s into buf padded or cut to exactly width cells ('~' marks a cut),
 * left- or right-aligned; returns bytes written (buf NUL-terminated).
 */
size_t view_fit_text(char *buf, size_t len, const char *s, int width,
		     bool right);

#endif

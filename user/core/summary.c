// SPDX-License-Identifier: MIT
#include "summary.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "i18n.h"
#include "view.h"

static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
#define MAX_UNIT 4

/*
 * Integer arithmetic so that a value never rounds up to "1024.00 KiB":
 * the unit is chosen after rounding to hundredths.
 */
const char *format_bytes_human(uint64_t bytes, char *buf, size_t len)
{
	uint64_t hundredths = 0;
	unsigned int k;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return buf;
	}
	for (k = 1; k <= MAX_UNIT; k++) {
		unsigned int shift = 10 * k;
		uint64_t q = bytes >> shift;
		uint64_t r = bytes & ((1ULL << shift) - 1);

		if (q >= 1024 && k < MAX_UNIT)
			continue;
		/* r < 2^40, so r * 100 cannot overflow. */
		hundredths =
			q * 100 + ((r * 100 + (1ULL << (shift - 1))) >> shift);
		if (hundredths >= 102400 && k < MAX_UNIT)
			continue;
		break;
	}
	snprintf(buf, len, "%" PRIu64 ".%02u %s", hundredths / 100,
		 (unsigned int)(hundredths % 100), units[k]);
	return buf;
}

/* Larger total first; equal totals by address so the order is stable. */
static int entry_cmp(const struct ip_entry *a, const struct ip_entry *b)
{
	uint64_t ta = ip_entry_total_bytes(a), tb = ip_entry_total_bytes(b);

	if (ta != tb)
		return ta > tb ? -1 : 1;
	return memcmp(&a->addr, &b->addr, sizeof(a->addr));
}

static int ptr_cmp(const void *a, const void *b)
{
	return entry_cmp(*(const struct ip_entry *const *)a,
			 *(const struct ip_entry *const *)b);
}

/* Min-heap on "rank": the root is the weakest of the current top n. */
static void sift_down(const struct ip_entry **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct ip_entry *tmp;

		if (l < n && entry_cmp(h[l], h[m]) > 0)
			m = l;
		if (r < n && entry_cmp(h[r], h[m]) > 0)
			m = r;
		if (m == i)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

/*
 * Fills top[0..n) with the n best entries in rank order.  A bounded heap
 * keeps a periodic top-10 of a 10^6-address table at O(N log 10).
 */
static void select_top(const struct ip_table *t, const struct ip_entry **top,
		       size_t n)
{
	size_t i;

	if (n == t->count) {
		for (i = 0; i < n; i++)
			top[i] = &t->entries[i];
		qsort(top, n, sizeof(*top), ptr_cmp);
		return;
	}
	for (i = 0; i < n; i++)
		top[i] = &t->entries[i];
	for (i = n / 2; i-- > 0;)
		sift_down(top, n, i);
	for (i = n; i < t->count; i++) {
		if (entry_cmp(&t->entries[i], top[0]) < 0) {
			top[0] = &t->entries[i];
			sift_down(top, n, 0);
		}
	}
	qsort(top, n, sizeof(*top), ptr_cmp);
}

#define NUMS_FMT " %20" PRIu64 " %14" PRIu64 " %20" PRIu64 " %14" PRIu64 " %12s"
#define NUM_FMT	 "%-6s %-39s" NUMS_FMT

/*
 * Widths in display cells: the headers and the totals label may be
 * translated into wide (CJK) characters, which printf's widths, counted
 * in bytes, would misalign.
 */
static const char *const heads[] = {
	N_("RANK"),	N_("REMOTE IP"), N_("TX BYTES"), N_("TX PKTS"),
	N_("RX BYTES"), N_("RX PKTS"),	 N_("TOTAL"),
};
static const int head_w[] = {6, 39, 20, 14, 20, 14, 12};

/* s after a space (unless first), padded to w cells; never cut. */
static int put_cell(struct strbuf *out, const char *s, int w, bool right,
		    bool first)
{
	int pad = w - view_text_width(s);

	if (pad < 0)
		pad = 0;
	return strbuf_printf(out, "%s%*s%s%*s", first ? "" : " ",
			     right ? pad : 0, "", s, right ? 0 : pad, "");
}

/* Per top-table row: its biggest process and how many others it has. */
struct row_process {
	const struct ip_entry *best;
	size_t others;
};

/*
 * One pass over the per-process table, indexed by the address's position
 * in t, so a final "all rows" summary stays linear.
 */
static struct row_process *collect_processes(const struct ip_table *t,
					     const struct ip_table *procs)
{
	struct row_process *rows = calloc(t->count + 1, sizeof(*rows));

	if (!rows)
		return NULL;
	for (size_t i = 0; i < procs->count; i++) {
		const struct ip_entry *p = &procs->entries[i];
		const struct ip_entry *e = ip_table_find(t, &p->addr);
		struct row_process *r;

		if (!e)
			continue;
		r = &rows[e - t->entries];
		if (!r->best) {
			r->best = p;
			continue;
		}
		r->others++;
		if (ip_entry_total_bytes(p) > ip_entry_total_bytes(r->best))
			r->best = p;
	}
	return rows;
}

static void process_cell(char *buf, size_t len, const struct row_process *r)
{
	if (!r->best)
		snprintf(buf, len, "-");
	else if (!r->best->pid)
		snprintf(buf, len, _("-(no process)%s"),
			 r->others ? _(" +more") : "");
	else if (r->others)
		snprintf(buf, len, "%.*s[%u] +%zu", ITM_COMM_LEN, r->best->comm,
			 r->best->pid, r->others);
	else
		snprintf(buf, len, "%.*s[%u]", ITM_COMM_LEN, r->best->comm,
			 r->best->pid);
}

static int append_process(struct strbuf *out, const struct row_process *r)
{
	char cell[80];

	process_cell(cell, sizeof(cell), r);
	return strbuf_printf(out, "  %s", cell);
}

static void add_value(struct itm_value *to, const struct itm_value *v)
{
	to->tx_bytes += v->tx_bytes;
	to->tx_packets += v->tx_packets;
	to->rx_bytes += v->rx_bytes;
	to->rx_packets += v->rx_packets;
}

/* Adds every tracked address's counts to total. */
static void entries_total(const struct ip_table *t, struct itm_value *total)
{
	for (size_t i = 0; i < t->count; i++) {
		const struct ip_entry *e = &t->entries[i];
		struct itm_value v = {e->tx_bytes, e->tx_packets, e->rx_bytes,
				      e->rx_packets};

		add_value(total, &v);
	}
}

/* A row of exact numbers and a human total under RANK and REMOTE IP. */
static int put_sum_row(struct strbuf *out, const char *rank, const char *label,
		       const struct itm_value *v)
{
	char human[32];
	int err;

	format_bytes_human(v->tx_bytes + v->rx_bytes, human, sizeof(human));
	err = put_cell(out, rank, head_w[0], false, true);
	if (!err)
		err = put_cell(out, label, head_w[1], false, false);
	if (!err)
		err = strbuf_printf(out, NUMS_FMT, (uint64_t)v->tx_bytes,
				    (uint64_t)v->tx_packets,
				    (uint64_t)v->rx_bytes,
				    (uint64_t)v->rx_packets, human);
	return err ? err : strbuf_puts(out, "\n");
}

static bool nonzero(const struct itm_value *v)
{
	return v->tx_packets || v->rx_packets || v->tx_bytes || v->rx_bytes;
}

/*
 * TOTAL is all counted IP traffic, as ip_traffic_all_*: the kept
 * addresses (listed or not) plus, each on its own row when there is any,
 * the addresses evicted or refused at --max-tracked and what found no
 * kernel map slot.
 */
static int render_totals(const struct ip_table *t,
			 const struct itm_value *overflow, struct strbuf *out)
{
	struct itm_value total = {0};
	char label[96];
	bool extra = false;
	int err = 0;

	entries_total(t, &total);
	if (nonzero(&t->evicted)) {
		extra = true;
		add_value(&total, &t->evicted);
		err = put_sum_row(out, "-", _("(evicted or not tracked)"),
				  &t->evicted);
	}
	if (!err && overflow && nonzero(overflow)) {
		extra = true;
		add_value(&total, overflow);
		err = put_sum_row(out, "-", _("(kernel map full, --map-size)"),
				  overflow);
	}
	if (err)
		return err;
	if (extra)
		snprintf(label, sizeof(label),
			 _("all traffic, %zu addresses kept"), t->count);
	else
		snprintf(label, sizeof(label), _("all %zu addresses"),
			 t->count);
	return put_sum_row(out, _("TOTAL"), label, &total);
}

int summary_render_processes(const struct ip_table *t,
			     const struct ip_table *procs,
			     const struct itm_value *overflow, size_t n,
			     struct strbuf *out)
{
	const struct ip_entry **top = NULL;
	struct row_process *rows = NULL;
	char ip[INET6_ADDRSTRLEN], human[32], rank[24];
	int err;

	if (n == 0 || n > t->count)
		n = t->count;
	if (n) {
		top = malloc(n * sizeof(*top));
		if (!top)
			return -ENOMEM;
		select_top(t, top, n);
	}
	if (procs) {
		rows = collect_processes(t, procs);
		if (!rows) {
			free(top);
			return -ENOMEM;
		}
	}
	err = 0;
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]) && !err; i++)
		err = put_cell(out, _(heads[i]), head_w[i], i >= 2, !i);
	if (!err)
		err = strbuf_puts(out, procs ? _("  PROCESS[PID]\n") : "\n");
	for (size_t i = 0; i < n && !err; i++) {
		const struct ip_entry *e = top[i];

		snprintf(rank, sizeof(rank), "%zu", i + 1);
		addr_format(&e->addr, ip);
		format_bytes_human(ip_entry_total_bytes(e), human,
				   sizeof(human));
		err = strbuf_printf(out, NUM_FMT, rank, ip, e->tx_bytes,
				    e->tx_packets, e->rx_bytes, e->rx_packets,
				    human);
		if (!err && rows)
			err = append_process(out, &rows[e - t->entries]);
		if (!err)
			err = strbuf_puts(out, "\n");
	}
	free(top);
	free(rows);
	if (!err)
		err = render_totals(t, overflow, out);
	return err;
}

/* ------------------------------------------------ fitted to a width */

enum {
	SC_RANK,
	SC_IP,
	SC_TXB,
	SC_TXP,
	SC_RXB,
	SC_RXP,
	SC_TOTAL,
	SC_PROC,
	SC_N
};

struct srow {
	char cell[SC_N][80];
};

struct stable {
	struct srow *rows;
	size_t n, cap;
};

static struct srow *stable_add(struct stable *st)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 16;
		struct srow *r = realloc(st->rows, cap * sizeof(*r));

		if (!r)
			return NULL;
		st->rows = r;
		st->cap = cap;
	}
	memset(&st->rows[st->n], 0, sizeof(st->rows[0]));
	return &st->rows[st->n++];
}

static struct srow *num_row(struct stable *st, const char *rank,
			    const char *label, const struct itm_value *v)
{
	struct srow *r = stable_add(st);

	if (!r)
		return NULL;
	snprintf(r->cell[SC_RANK], sizeof(r->cell[0]), "%s", rank);
	snprintf(r->cell[SC_IP], sizeof(r->cell[0]), "%s", label);
	snprintf(r->cell[SC_TXB], sizeof(r->cell[0]), "%" PRIu64,
		 (uint64_t)v->tx_bytes);
	snprintf(r->cell[SC_TXP], sizeof(r->cell[0]), "%" PRIu64,
		 (uint64_t)v->tx_packets);
	snprintf(r->cell[SC_RXB], sizeof(r->cell[0]), "%" PRIu64,
		 (uint64_t)v->rx_bytes);
	snprintf(r->cell[SC_RXP], sizeof(r->cell[0]), "%" PRIu64,
		 (uint64_t)v->rx_packets);
	format_bytes_human(v->tx_bytes + v->rx_bytes, r->cell[SC_TOTAL],
			   sizeof(r->cell[0]));
	return r;
}

/*
 * Which columns fit width cells, and how wide each is.  Exact counts go
 * last: a narrow terminal first loses the process column (cut, then
 * dropped), then the packet counts, then the human total; the address
 * column is cut ('~') only when even rank, address and bytes do not fit.
 */
static void fit_columns(const struct stable *st, bool procs, int width,
			int w[SC_N])
{
	static const int drop[][2] = {
		{SC_PROC, SC_PROC}, {SC_TXP, SC_RXP}, {SC_TOTAL, SC_TOTAL}};
	int used = 0;

	for (int c = 0; c < SC_N; c++)
		w[c] = view_text_width(st->rows[0].cell[c]);
	for (size_t i = 1; i < st->n; i++)
		for (int c = 0; c < SC_N; c++) {
			int cw = view_text_width(st->rows[i].cell[c]);

			if (cw > w[c])
				w[c] = cw;
		}
	if (!procs)
		w[SC_PROC] = 0;
	for (int c = 0; c < SC_N; c++)
		used += w[c] ? w[c] + (c ? 2 - (c != SC_PROC) : 0) : 0;
	/* A cut process name still says whose traffic it is. */
	if (used > width && w[SC_PROC] > 12) {
		int cut = used - width;

		if (cut > w[SC_PROC] - 12)
			cut = w[SC_PROC] - 12;
		w[SC_PROC] -= cut;
		used -= cut;
	}
	for (size_t d = 0; d < sizeof(drop) / sizeof(drop[0]) && used > width;
	     d++)
		for (int k = 0; k < 2 && (k == 0 || drop[d][1] != drop[d][0]);
		     k++) {
			int c = drop[d][k];

			if (w[c])
				used -= w[c] + (c == SC_PROC ? 2 : 1);
			w[c] = 0;
		}
	if (used > width) {
		int ip = w[SC_IP] - (used - width);

		w[SC_IP] = ip > 8 ? ip : 8;
	}
}

static int put_fitted(struct strbuf *out, const struct srow *r,
		      const int w[SC_N])
{
	char buf[512];
	int err = 0;

	for (int c = 0; c < SC_N && !err; c++) {
		bool right = c >= SC_TXB && c <= SC_TOTAL;

		if (!w[c])
			continue;
		if (c) /* two spaces before the process, as the fixed table */
			err = strbuf_puts(out, c == SC_PROC ? "  " : " ");
		/* The last column is not padded: no trailing blanks. */
		if (!err && c == SC_PROC)
			view_fit_text(buf, sizeof(buf), r->cell[c],
				      view_text_width(r->cell[c]) < w[c]
					      ? view_text_width(r->cell[c])
					      : w[c],
				      false);
		else if (!err)
			view_fit_text(buf, sizeof(buf), r->cell[c], w[c],
				      right);
		if (!err)
			err = strbuf_puts(out, buf);
	}
	return err ? err : strbuf_puts(out, "\n");
}

int summary_render_fit(const struct ip_table *t, const struct ip_table *procs,
		       const struct itm_value *overflow, size_t n, int width,
		       struct strbuf *out)
{
	const struct ip_entry **top = NULL;
	struct row_process *rows = NULL;
	struct stable st = {0};
	struct itm_value total = {0};
	struct srow *r;
	char label[96];
	bool extra = false;
	int w[SC_N], err = -ENOMEM;

	if (width <= 0)
		return summary_render_processes(t, procs, overflow, n, out);
	if (n == 0 || n > t->count)
		n = t->count;
	if (n && !(top = malloc(n * sizeof(*top))))
		return -ENOMEM;
	if (n)
		select_top(t, top, n);
	if (procs && !(rows = collect_processes(t, procs)))
		goto out;
	r = stable_add(&st);
	if (!r)
		goto out;
	for (int c = 0; c < SC_PROC; c++)
		snprintf(r->cell[c], sizeof(r->cell[0]), "%s", _(heads[c]));
	snprintf(r->cell[SC_PROC], sizeof(r->cell[0]), "%s", _("PROCESS[PID]"));
	for (size_t i = 0; i < n; i++) {
		const struct ip_entry *e = top[i];
		struct itm_value v = {e->tx_bytes, e->tx_packets, e->rx_bytes,
				      e->rx_packets};
		char rank[24], ip[INET6_ADDRSTRLEN];

		snprintf(rank, sizeof(rank), "%zu", i + 1);
		addr_format(&e->addr, ip);
		r = num_row(&st, rank, ip, &v);
		if (!r)
			goto out;
		if (rows)
			process_cell(r->cell[SC_PROC], sizeof(r->cell[0]),
				     &rows[e - t->entries]);
	}
	entries_total(t, &total);
	if (nonzero(&t->evicted)) {
		extra = true;
		add_value(&total, &t->evicted);
		if (!num_row(&st, "-", _("(evicted or not tracked)"),
			     &t->evicted))
			goto out;
	}
	if (overflow && nonzero(overflow)) {
		extra = true;
		add_value(&total, overflow);
		if (!num_row(&st, "-", _("(kernel map full, --map-size)"),
			     overflow))
			goto out;
	}
	if (extra)
		snprintf(label, sizeof(label),
			 _("all traffic, %zu addresses kept"), t->count);
	else
		snprintf(label, sizeof(label), _("all %zu addresses"),
			 t->count);
	if (!num_row(&st, _("TOTAL"), label, &total))
		goto out;
	fit_columns(&st, procs != NULL, width, w);
	err = 0;
	for (size_t i = 0; i < st.n && !err; i++)
		err = put_fitted(out, &st.rows[i], w);
out:
	free(st.rows);
	free(top);
	free(rows);
	return err;
}

int summary_render(const struct ip_table *t, size_t n, struct strbuf *out)
{
	return summary_render_processes(t, NULL, NULL, n, out);
}

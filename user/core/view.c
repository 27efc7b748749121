// SPDX-License-Identifier: MIT
#include "view.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

#include "addr.h"
#include "i18n.h"
#include "geo_labels.h"
#include "strbuf.h"
#include "table.h"

/* History long enough for the 40 s window plus one slow interval. */
#define HIST_SPAN    44.0
#define HIST_MAX     72
#define TIMES_MAX    8192
#define INITIAL_ROWS 64
#define TEXT_COL_MAX 24

static const double window_s[VW_MAX] = {0, 2, 10, 40};

/* ------------------------------------------------------------ rows */

ADDR_PID_HEAD(struct view_row);

static int rows_init(struct view_rows *r)
{
	memset(r, 0, sizeof(*r));
	r->rows = calloc(INITIAL_ROWS, sizeof(*r->rows));
	if (!r->rows || hashmap_init(&r->index, INITIAL_ROWS))
		return -ENOMEM;
	r->cap = INITIAL_ROWS;
	return 0;
}

static void row_free(struct view_row *row)
{
	for (int i = 0; i < GEO_NLABELS; i++)
		free(row->label[i]);
	free(row->host);
	free(row->hist.s);
}

static void rows_free(struct view_rows *r)
{
	for (size_t i = 0; i < r->count; i++)
		row_free(&r->rows[i]);
	free(r->rows);
	hashmap_free(&r->index);
	memset(r, 0, sizeof(*r));
}

static struct view_row *rows_find(const struct view_rows *r,
				  const struct in6_addr *a, uint32_t pid)
{
	struct addr_rows rows = ADDR_ROWS(r->rows);
	struct addr_pid k = {*a, pid};
	uint32_t pos;

	if (!hashmap_find(&r->index, hash_addr(a, pid), addr_rows_eq, &rows, &k,
			  &pos))
		return NULL;
	return &r->rows[pos];
}

static struct view_row *rows_add(struct view_rows *r, const struct in6_addr *a,
				 uint32_t pid, uint16_t hist_cap)
{
	struct addr_rows rows = ADDR_ROWS(r->rows);
	struct view_row *row;

	row = hashmap_array_room(&r->index, r->rows, r->count, &r->cap,
				 INITIAL_ROWS, sizeof(*row), addr_rows_hash,
				 &rows);
	if (!row)
		return NULL;
	r->rows = row;
	row = &r->rows[r->count];
	memset(row, 0, sizeof(*row));
	row->hist.s = calloc(hist_cap, sizeof(*row->hist.s));
	if (!row->hist.s)
		return NULL;
	row->hist.cap = hist_cap;
	row->addr = *a;
	row->pid = pid;
	hashmap_insert(&r->index, hash_addr(a, pid), (uint32_t)r->count++);
	return row;
}

/* Drop rows the update with generation gen did not see. */
static void rows_sweep(struct view_rows *r, uint64_t gen)
{
	struct addr_rows rows;
	size_t kept = 0;

	for (size_t i = 0; i < r->count; i++) {
		if (r->rows[i].gen != gen) {
			row_free(&r->rows[i]);
			continue;
		}
		if (kept != i)
			r->rows[kept] = r->rows[i];
		kept++;
	}
	if (kept == r->count)
		return;
	r->count = kept;
	rows = ADDR_ROWS(r->rows);
	hashmap_reindex(&r->index, r->count, addr_rows_hash, &rows);
}

/* ------------------------------------------------------------ history */

static void hist_push(struct view_hist *h, double t, uint64_t tx, uint64_t rx,
		      double spacing)
{
	struct view_sample *cur = h->n ? &h->s[h->head] : NULL;

	if (cur && cur->tx == tx && cur->rx == rx)
		return; /* unchanged: the newest sample still holds */
	/*
	 * Updates faster than the spacing share the newest slot until it is
	 * a spacing after the one before, so that the ring spans HIST_SPAN
	 * seconds whatever the interval.  Slower updates get a slot each.
	 */
	if (h->n >= 2) {
		const struct view_sample *prev =
			&h->s[(h->head + h->cap - 1) % h->cap];

		if (cur->t - prev->t < spacing) {
			cur->t = t;
			cur->tx = tx;
			cur->rx = rx;
			return;
		}
	}
	if (cur) {
		h->head = (uint16_t)((h->head + 1) % h->cap);
		if (h->n == h->cap)
			h->lost = true;
		else
			h->n++;
	} else {
		h->n = 1;
	}
	h->s[h->head] = (struct view_sample){t, t, tx, rx, tx, rx};
}

static uint64_t lerp(uint64_t a, uint64_t b, double f)
{
	return a + (uint64_t)((double)(b - a) * f + 0.5);
}

/*
 * Counters as of time t.  After a sample's last update and until the next
 * sample began they did not change; within a merged sample they are
 * interpolated (exact for a steady rate).
 */
static void hist_at(const struct view_hist *h, double t, uint64_t *tx,
		    uint64_t *rx)
{
	size_t i = h->head;

	*tx = *rx = 0;
	for (size_t k = 0; k < h->n; k++) {
		const struct view_sample *s = &h->s[i];

		if (s->t <= t) {
			*tx = s->tx;
			*rx = s->rx;
			return;
		}
		if (s->t0 <= t) {
			double f = (t - s->t0) / (s->t - s->t0);

			*tx = lerp(s->tx0, s->tx, f);
			*rx = lerp(s->rx0, s->rx, f);
			return;
		}
		if (k + 1 == h->n && h->lost) {
			/* Beyond what we kept: the oldest is the best guess. */
			*tx = s->tx0;
			*rx = s->rx0;
			return;
		}
		i = (i + h->cap - 1) % h->cap;
	}
}

/*
 * The update time nearest to now - w (never now itself): a window is
 * measured between two updates, so its length is exact and within half
 * an interval of w.
 */
static double window_base(const struct view *v, double w)
{
	double want = v->now - w, best = v->start;
	double best_d = fabs(v->start - want);
	size_t i = v->times_head;

	for (size_t k = 0; k < v->times_n; k++) {
		double t = v->times[i];

		i = (i + v->times_cap - 1) % v->times_cap;
		if (t >= v->now)
			continue;
		if (fabs(t - want) < best_d) {
			best = t;
			best_d = fabs(t - want);
		}
		if (t < want)
			break;
	}
	return best;
}

static void row_rates(const struct view *v, struct view_row *r,
		      const double base[VW_MAX])
{
	for (int w = 0; w < VW_MAX; w++) {
		uint64_t tx, rx;
		double dt = v->now - base[w];

		r->tx_rate[w] = r->rx_rate[w] = 0;
		if (dt <= 0)
			continue;
		hist_at(&r->hist, base[w], &tx, &rx);
		r->tx_rate[w] = (double)(r->tx_bytes - tx) / dt;
		r->rx_rate[w] = (double)(r->rx_bytes - rx) / dt;
	}
}

/* ------------------------------------------------------------ model */

int view_init(struct view *v, double interval)
{
	double n;

	memset(v, 0, sizeof(*v));
	if (interval < 0.01)
		interval = 0.01;
	/* 64 samples cover HIST_SPAN; slower updates need fewer. */
	v->spacing = HIST_SPAN / (HIST_MAX - 8);
	n = ceil(HIST_SPAN / (interval > v->spacing ? interval : v->spacing)) +
	    4;
	v->hist_cap = (uint16_t)(n > HIST_MAX ? HIST_MAX : n);
	v->times_cap = TIMES_MAX;
	v->times = calloc(v->times_cap, sizeof(*v->times));
	v->total.hist.s = calloc(v->hist_cap, sizeof(*v->total.hist.s));
	v->total.hist.cap = v->hist_cap;
	snprintf(v->total.name, sizeof(v->total.name), "TOTAL");
	if (!v->times || !v->total.hist.s || rows_init(&v->addrs) ||
	    rows_init(&v->procs)) {
		view_free(v);
		return -ENOMEM;
	}
	return 0;
}

void view_free(struct view *v)
{
	rows_free(&v->addrs);
	rows_free(&v->procs);
	free(v->pairs);
	free(v->times);
	free(v->total.hist.s);
	memset(v, 0, sizeof(*v));
}

static char *dup_label(const char *s)
{
	return s && *s && strcmp(s, "Unknown") ? strdup(s) : NULL;
}

static struct view_row *update_addr(struct view *v, const struct ip_entry *e)
{
	struct view_row *r = rows_find(&v->addrs, &e->addr, 0);

	if (!r) {
		r = rows_add(&v->addrs, &e->addr, 0, v->hist_cap);
		if (!r)
			return NULL;
		addr_format(&e->addr, r->name);
		if (e->geo) {
			/* Labels of an address never change: copy them once. */
			for (int i = 0; i < GEO_NLABELS; i++)
				r->label[i] = dup_label(e->geo->v[i]);
		}
	}
	r->gen = v->gen;
	r->tx_bytes = e->tx_bytes;
	r->rx_bytes = e->rx_bytes;
	r->tx_packets = e->tx_packets;
	r->rx_packets = e->rx_packets;
	r->process[0] = '\0';
	r->best = 0;
	r->naddrs = 0;
	return r;
}

static int pairs_reserve(struct view *v, size_t n)
{
	struct view_pair *p;

	if (n <= v->pairs_cap)
		return 0;
	p = realloc(v->pairs, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	v->pairs = p;
	v->pairs_cap = n;
	return 0;
}

static const struct in6_addr no_addr;

/* Per-process rows: the (address, pid) rows summed per pid. */
static int update_procs(struct view *v, const struct ip_table *procs)
{
	if (pairs_reserve(v, procs->count + 1))
		return -ENOMEM;
	v->n_pairs = 0;
	for (size_t i = 0; i < procs->count; i++) {
		const struct ip_entry *e = &procs->entries[i];
		struct view_row *a = rows_find(&v->addrs, &e->addr, 0);
		struct view_row *p = rows_find(&v->procs, &no_addr, e->pid);
		uint64_t bytes = ip_entry_total_bytes(e);

		if (!p) {
			p = rows_add(&v->procs, &no_addr, e->pid, v->hist_cap);
			if (!p)
				return -ENOMEM;
		}
		if (p->gen != v->gen) {
			p->gen = v->gen;
			p->tx_bytes = p->rx_bytes = 0;
			p->tx_packets = p->rx_packets = 0;
			p->naddrs = 0;
		}
		if (e->pid)
			snprintf(p->name, sizeof(p->name), "%u", e->pid);
		else
			snprintf(p->name, sizeof(p->name), "-");
		snprintf(p->process, sizeof(p->process), "%.*s", ITM_COMM_LEN,
			 e->pid ? e->comm : "-");
		if (!p->process[0])
			snprintf(p->process, sizeof(p->process), "?");
		p->tx_bytes += e->tx_bytes;
		p->rx_bytes += e->rx_bytes;
		p->tx_packets += e->tx_packets;
		p->rx_packets += e->rx_packets;
		p->naddrs++;
		if (!a)
			continue;
		/* The address's biggest process names its row. */
		a->naddrs++;
		if (a->naddrs == 1 || bytes > a->best) {
			a->best = bytes;
			if (e->pid)
				snprintf(a->process, sizeof(a->process),
					 "%.*s[%u]", ITM_COMM_LEN, e->comm,
					 e->pid);
			else
				snprintf(a->process, sizeof(a->process), "-");
		}
	}
	return 0;
}

/* "+N" for the other processes of an address, after its biggest. */
static void name_more(struct view *v)
{
	for (size_t i = 0; i < v->addrs.count; i++) {
		struct view_row *a = &v->addrs.rows[i];
		size_t l = strlen(a->process);

		if (a->naddrs > 1)
			snprintf(a->process + l, sizeof(a->process) - l, " +%u",
				 a->naddrs - 1);
		a->naddrs = 0;
	}
}

/*
 * Without per-process attribution (--no-pid) the process view shows all
 * traffic on one row that says so, rather than nothing at all.
 */
static int no_attribution(struct view *v)
{
	struct view_row *p = rows_find(&v->procs, &no_addr, 0);

	if (!p) {
		p = rows_add(&v->procs, &no_addr, 0, v->hist_cap);
		if (!p)
			return -ENOMEM;
	}
	p->gen = v->gen;
	p->tx_bytes = v->total.tx_bytes;
	p->rx_bytes = v->total.rx_bytes;
	p->tx_packets = v->total.tx_packets;
	p->rx_packets = v->total.rx_packets;
	p->naddrs = (uint32_t)v->addrs.count;
	snprintf(p->name, sizeof(p->name), "-");
	snprintf(p->process, sizeof(p->process), "%s", _("(not attributed)"));
	return 0;
}

static void push_time(struct view *v, double t)
{
	v->times_head = (v->times_head + 1) % v->times_cap;
	v->times[v->times_head] = t;
	if (v->times_n < v->times_cap)
		v->times_n++;
}

int view_update(struct view *v, const struct ip_table *addrs,
		const struct ip_table *procs, double now)
{
	double base[VW_MAX];
	bool first = v->gen == 0;

	if (!first && now <= v->now)
		now = v->now + 1e-6; /* keep time strictly increasing */
	v->gen++;
	v->total.tx_bytes = v->total.rx_bytes = 0;
	v->total.tx_packets = v->total.rx_packets = 0;
	for (size_t i = 0; i < addrs->count; i++) {
		const struct ip_entry *e = &addrs->entries[i];

		if (!update_addr(v, e))
			return -ENOMEM;
		v->total.tx_bytes += e->tx_bytes;
		v->total.rx_bytes += e->rx_bytes;
		v->total.tx_packets += e->tx_packets;
		v->total.rx_packets += e->rx_packets;
	}
	v->have_procs = procs != NULL;
	v->n_pairs = 0;
	if (procs && update_procs(v, procs))
		return -ENOMEM;
	if (!procs && no_attribution(v))
		return -ENOMEM;
	rows_sweep(&v->addrs, v->gen);
	rows_sweep(&v->procs, v->gen);
	/* Pair indexes are only valid without a sweep in between. */
	if (procs) {
		v->n_pairs = 0;
		for (size_t i = 0; i < procs->count; i++) {
			const struct ip_entry *e = &procs->entries[i];
			struct view_row *a = rows_find(&v->addrs, &e->addr, 0);
			struct view_row *p =
				rows_find(&v->procs, &no_addr, e->pid);

			if (a && p)
				v->pairs[v->n_pairs++] = (struct view_pair){
					(uint32_t)(a - v->addrs.rows),
					(uint32_t)(p - v->procs.rows)};
		}
		name_more(v);
	}

	if (first)
		v->start = now;
	v->prev = first ? now : v->now;
	v->now = now;
	base[VW_LAST] = v->prev;
	for (int w = VW_2S; w < VW_MAX; w++)
		base[w] = window_base(v, window_s[w]);
	/* Rates first (they read the history as it was), then record now. */
	for (size_t i = 0; i < v->addrs.count; i++) {
		struct view_row *r = &v->addrs.rows[i];

		if (r->hist.n == 0 && !first) /* new: nothing before */
			hist_push(&r->hist, v->prev, 0, 0, 0);
		row_rates(v, r, base);
		hist_push(&r->hist, now, r->tx_bytes, r->rx_bytes, v->spacing);
	}
	for (size_t i = 0; i < v->procs.count; i++) {
		struct view_row *r = &v->procs.rows[i];

		if (r->hist.n == 0 && !first)
			hist_push(&r->hist, v->prev, 0, 0, 0);
		row_rates(v, r, base);
		hist_push(&r->hist, now, r->tx_bytes, r->rx_bytes, v->spacing);
	}
	row_rates(v, &v->total, base);
	hist_push(&v->total.hist, now, v->total.tx_bytes, v->total.rx_bytes,
		  v->spacing);
	v->total.naddrs = (uint32_t)v->addrs.count;
	push_time(v, now);
	return 0;
}

/* ------------------------------------------------------------ filters */

static bool label_filter_active(const struct view_filter *f)
{
	for (int i = 0; i < GEO_NLABELS; i++)
		if (f->label[i][0])
			return true;
	return false;
}

bool view_filter_active(const struct view_filter *f)
{
	return f->addr[0] || label_filter_active(f) || f->process[0];
}

struct cidr {
	struct in6_addr net;
	int bits; /* -1: text prefix */
};

static int parse_cidr(const char *s, struct cidr *c)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	char *end;
	long bits;
	size_t n;

	c->bits = -1;
	if (!slash)
		return 0;
	n = (size_t)(slash - s);
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	bits = strtol(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1 || bits < 0)
		return -EINVAL;
	memset(&c->net, 0, sizeof(c->net));
	if (inet_pton(AF_INET, buf, c->net.s6_addr + 12) == 1) {
		if (bits > 32)
			return -EINVAL;
		c->net.s6_addr[10] = c->net.s6_addr[11] = 0xff;
		bits += 96;
	} else if (inet_pton(AF_INET6, buf, &c->net) != 1 || bits > 128) {
		return -EINVAL;
	}
	c->bits = (int)bits;
	return 0;
}

int view_filter_check(const struct view_filter *f)
{
	struct cidr c;

	return parse_cidr(f->addr, &c);
}

static bool in_cidr(const struct in6_addr *a, const struct cidr *c)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(a->s6_addr, c->net.s6_addr, (size_t)full))
		return false;
	if (!rest)
		return true;
	return !((a->s6_addr[full] ^ c->net.s6_addr[full]) &
		 (0xff << (8 - rest)));
}

static bool addr_matches(const struct view_row *r, const char *want,
			 const struct cidr *c)
{
	if (!want[0])
		return true;
	if (c->bits >= 0)
		return in_cidr(&r->addr, c);
	return !strncasecmp(r->name, want, strlen(want));
}

static bool labels_match(const struct view_row *r, const struct view_filter *f)
{
	for (int i = 0; i < GEO_NLABELS; i++)
		if (f->label[i][0] &&
		    !strcasestr(r->label[i] ? r->label[i] : "Unknown",
				f->label[i]))
			return false;
	return true;
}

static bool process_matches(const struct view_row *p, const char *want)
{
	return !want[0] || strcasestr(p->process, want) != NULL;
}

/* Marks rows of one kind that have a pair whose other side matches. */
static void cross_mark(struct view *v, enum view_mode mode,
		       const struct view_filter *f, const struct cidr *c)
{
	struct view_rows *mine = mode == VIEW_ADDR ? &v->addrs : &v->procs;

	for (size_t i = 0; i < mine->count; i++)
		mine->rows[i].mark = false;
	for (size_t i = 0; i < v->n_pairs; i++) {
		struct view_row *a = &v->addrs.rows[v->pairs[i].addr];
		struct view_row *p = &v->procs.rows[v->pairs[i].proc];

		if (mode == VIEW_ADDR) {
			if (process_matches(p, f->process))
				a->mark = true;
		} else if (addr_matches(a, f->addr, c) && labels_match(a, f)) {
			p->mark = true;
		}
	}
}

/* ------------------------------------------------------------ sorting */

static int sort_col;
static bool sort_reverse;

static double col_value(const struct view_row *r, int col)
{
	switch (col) {
	case COL_TX_LAST:
		return r->tx_rate[VW_LAST];
	case COL_RX_LAST:
		return r->rx_rate[VW_LAST];
	case COL_TX_2S:
		return r->tx_rate[VW_2S];
	case COL_RX_2S:
		return r->rx_rate[VW_2S];
	case COL_TX_10S:
		return r->tx_rate[VW_10S];
	case COL_RX_10S:
		return r->rx_rate[VW_10S];
	case COL_TX_40S:
		return r->tx_rate[VW_40S];
	case COL_RX_40S:
		return r->rx_rate[VW_40S];
	case COL_TX_BYTES:
		return (double)r->tx_bytes;
	case COL_RX_BYTES:
		return (double)r->rx_bytes;
	case COL_NADDRS:
		return r->naddrs;
	case COL_PID:
		return r->pid;
	case VIEW_SORT_WIN(VW_2S):
	case VIEW_SORT_WIN(VW_10S):
	case VIEW_SORT_WIN(VW_40S):
		return r->tx_rate[col - COL_MAX] + r->rx_rate[col - COL_MAX];
	default:
		return (double)(r->tx_bytes + r->rx_bytes);
	}
}

static const char *col_text(const struct view_row *r, int col)
{
	if (col >= COL_LABEL && col < COL_MAX)
		return r->label[col - COL_LABEL] ? r->label[col - COL_LABEL]
						 : "Unknown";
	if (col == COL_HOST)
		return r->host ? r->host : "";
	return col == COL_PROCESS ? r->process : NULL;
}

void view_row_set_host(const struct view_row *r, const char *host)
{
	/* Display state, not the model's numbers: the only write to a row. */
	struct view_row *w = (struct view_row *)r;

	free(w->host);
	w->host = host ? strdup(host) : NULL;
	w->host_done = true;
}

static int key_cmp(const struct view_row *a, const struct view_row *b)
{
	int c = memcmp(&a->addr, &b->addr, sizeof(a->addr));

	if (c)
		return c;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

/* Numbers largest first, text and addresses A to Z; ties by key. */
static int row_cmp(const void *pa, const void *pb)
{
	const struct view_row *a = *(const struct view_row *const *)pa;
	const struct view_row *b = *(const struct view_row *const *)pb;
	const char *ta = col_text(a, sort_col), *tb = col_text(b, sort_col);
	int c;

	if (sort_col == COL_ADDR) {
		c = key_cmp(a, b);
	} else if (ta) {
		c = strcmp(ta, tb);
	} else {
		double x = col_value(a, sort_col), y = col_value(b, sort_col);

		c = x > y ? -1 : x < y;
	}
	if (sort_reverse)
		c = -c;
	return c ? c : key_cmp(a, b);
}

long view_select(struct view *v, enum view_mode mode,
		 const struct view_filter *f, int sort, bool reverse,
		 const struct view_row ***out)
{
	struct view_rows *rows = mode == VIEW_ADDR ? &v->addrs : &v->procs;
	const struct view_row **sel;
	bool cross;
	struct cidr c;
	size_t n = 0;

	if (parse_cidr(f->addr, &c))
		c.bits = -1;
	cross = mode == VIEW_ADDR ? f->process[0] != '\0'
				  : f->addr[0] || label_filter_active(f);
	if (cross)
		cross_mark(v, mode, f, &c);
	sel = malloc((rows->count + 1) * sizeof(*sel));
	if (!sel)
		return -ENOMEM;
	for (size_t i = 0; i < rows->count; i++) {
		const struct view_row *r = &rows->rows[i];

		if (cross && !r->mark)
			continue;
		if (mode == VIEW_ADDR &&
		    (!addr_matches(r, f->addr, &c) || !labels_match(r, f)))
			continue;
		if (mode == VIEW_PROC && !process_matches(r, f->process))
			continue;
		sel[n++] = r;
	}
	/* qsort has no context argument; the view is single-threaded. */
	sort_col = sort;
	sort_reverse = reverse;
	qsort(sel, n, sizeof(*sel), row_cmp);
	*out = sel;
	return (long)n;
}

/* ------------------------------------------------------------ text */

void view_use_utf8(void)
{
	setlocale(LC_CTYPE, "");
	if (strcmp(nl_langinfo(CODESET), "UTF-8"))
		setlocale(LC_CTYPE, "C.UTF-8");
}

int view_text_width(const char *s)
{
	mbstate_t st;
	size_t len = strlen(s);
	int w = 0;

	memset(&st, 0, sizeof(st));
	while (len) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s, len, &st);
		int cw;

		if (k == (size_t)-1 || k == (size_t)-2) {
			/* Invalid bytes are shown as one '?' each. */
			memset(&st, 0, sizeof(st));
			k = 1;
			cw = 1;
		} else {
			if (k == 0)
				break;
			cw = wcwidth(wc);
			if (cw < 0)
				cw = 1;
		}
		w += cw;
		s += k;
		len -= k;
	}
	return w;
}

size_t view_fit_text(char *buf, size_t len, const char *s, int width,
		     bool right)
{
	int total = view_text_width(s), used = 0, pad;
	size_t o = 0, slen = strlen(s);
	bool cut = total > width;
	mbstate_t st;

	if (!len)
		return 0;
	memset(&st, 0, sizeof(st));
	pad = cut ? 0 : width - total;
	if (right)
		for (; pad > 0 && o + 1 < len; pad--)
			buf[o++] = ' ';
	while (slen) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s, slen, &st);
		bool bad = k == (size_t)-1 || k == (size_t)-2;
		int cw;

		if (k == 0)
			break;
		if (bad) {
			memset(&st, 0, sizeof(st));
			k = 1;
			cw = 1;
		} else {
			cw = wcwidth(wc);
			if (cw < 0)
				cw = 1;
		}
		/* Leave one cell for the '~' that marks a cut. */
		if (used + cw > width - (cut ? 1 : 0))
			break;
		if (o + k + 1 >= len)
			break;
		if (bad || wcwidth(wc) < 0)
			buf[o++] = '?';
		else {
			memcpy(buf + o, s, k);
			o += k;
		}
		used += cw;
		s += k;
		slen -= k;
	}
	if (cut) {
		/* A wide character that did not fit leaves a cell to pad. */
		for (; used < width - 1 && o + 1 < len; used++)
			buf[o++] = ' ';
		if (width > 0 && o + 1 < len) {
			buf[o++] = '~';
			used++;
		}
	}
	for (; !right && pad > 0 && o + 1 < len; pad--)
		buf[o++] = ' ';
	buf[o] = '\0';
	return o;
}

static bool show_bits;

void view_set_bits(bool bits)
{
	show_bits = bits;
}

bool view_bits(void)
{
	return show_bits;
}

const char *view_format_rate(double v, char *buf, size_t len)
{
	static const char units[] = "BKMGTP";
	/* Bits as network people count them: SI steps, iftop's "Kb". */
	const char *suffix = show_bits ? "b" : "";
	double step = show_bits ? 1000 : 1024;
	int u = 0;

	if (show_bits)
		v *= 8;
	if (v < 0.5) {
		snprintf(buf, len, "0");
		return buf;
	}
	/* Pick the unit after rounding, so 1023.7 B is "1.00K", not 1024B. */
	while (u < 5 && v >= 999.5) {
		v /= step;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f%s", v, show_bits ? "b" : "B");
	else if (v < 9.995)
		snprintf(buf, len, "%.2f%c%s", v, units[u], suffix);
	else if (v < 99.95)
		snprintf(buf, len, "%.1f%c%s", v, units[u], suffix);
	else
		snprintf(buf, len, "%.0f%c%s", v, units[u], suffix);
	return buf;
}

/* ------------------------------------------------------------ layout */

/* The label columns' names are the label table's titles. */
static const char *const col_names[COL_LABEL] = {
	[COL_ADDR] = N_("ADDRESS"),	 [COL_PID] = N_("PID"),
	[COL_PROCESS] = N_("PROCESS"),	 [COL_TX_LAST] = N_("TX/s"),
	[COL_RX_LAST] = N_("RX/s"),	 [COL_TX_2S] = N_("TX 2s"),
	[COL_RX_2S] = N_("RX 2s"),	 [COL_TX_10S] = N_("TX 10s"),
	[COL_RX_10S] = N_("RX 10s"),	 [COL_TX_40S] = N_("TX 40s"),
	[COL_RX_40S] = N_("RX 40s"),	 [COL_TX_BYTES] = N_("TX BYTES"),
	[COL_RX_BYTES] = N_("RX BYTES"), [COL_NADDRS] = N_("ADDRS"),
	[COL_HOST] = N_("HOST"),
};

/* The sums sorted by iftop's 1/2/3 keys, as the status line names them. */
static const char *const window_names[VW_MAX] = {
	[VW_2S] = N_("TX+RX 2s"),
	[VW_10S] = N_("TX+RX 10s"),
	[VW_40S] = N_("TX+RX 40s"),
};

const char *view_col_name(enum view_col c)
{
	if (c >= COL_LABEL && c < COL_MAX)
		return _(geo_label_defs[c - COL_LABEL].title);
	if (c > COL_MAX)
		return _(window_names[c - COL_MAX]);
	return c < COL_MAX ? _(col_names[c]) : _("TOTAL");
}

/*
 * Groups of columns that come and go together, most wanted first.  Label
 * columns go by their table rank: rank 0 before the windowed rates, the
 * others after them, so a narrow terminal gives them up first.
 */
#define ADDR_GROUPS (8 + GEO_NLABELS)

static size_t addr_prio(enum view_col g[ADDR_GROUPS][2])
{
	static const enum view_col head[][2] = {
		{COL_ADDR, COL_MAX},	      {COL_TX_LAST, COL_RX_LAST},
		{COL_TX_BYTES, COL_RX_BYTES}, {COL_PROCESS, COL_MAX},
		{COL_HOST, COL_MAX},
	};
	static const enum view_col rates[][2] = {
		{COL_TX_2S, COL_RX_2S},
		{COL_TX_10S, COL_RX_10S},
		{COL_TX_40S, COL_RX_40S},
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
		g[n][0] = head[i][0];
		g[n++][1] = head[i][1];
	}
	for (int rank = 0; rank < GEO_NLABELS; rank++) {
		if (rank == 1)
			for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]);
			     i++) {
				g[n][0] = rates[i][0];
				g[n++][1] = rates[i][1];
			}
		for (int l = 0; l < GEO_NLABELS; l++) {
			if (geo_label_defs[l].rank != rank)
				continue;
			g[n][0] = COL_GEO(l);
			g[n++][1] = COL_MAX;
		}
	}
	return n;
}

static const enum view_col proc_prio[][2] = {
	{COL_PID, COL_MAX},	    {COL_PROCESS, COL_MAX},
	{COL_TX_LAST, COL_RX_LAST}, {COL_TX_BYTES, COL_RX_BYTES},
	{COL_NADDRS, COL_MAX},	    {COL_TX_2S, COL_RX_2S},
	{COL_TX_10S, COL_RX_10S},   {COL_TX_40S, COL_RX_40S},
};
/* Left to right: then every label column, in the table's order. */
static const enum view_col addr_order[] = {
	COL_ADDR,     COL_HOST,	    COL_TX_LAST, COL_RX_LAST, COL_TX_2S,
	COL_RX_2S,    COL_TX_10S,   COL_RX_10S,	 COL_TX_40S,  COL_RX_40S,
	COL_TX_BYTES, COL_RX_BYTES, COL_PROCESS,
};
static const enum view_col proc_order[] = {
	COL_PID,      COL_PROCESS,  COL_TX_LAST, COL_RX_LAST, COL_TX_2S,
	COL_RX_2S,    COL_TX_10S,   COL_RX_10S,	 COL_TX_40S,  COL_RX_40S,
	COL_TX_BYTES, COL_RX_BYTES, COL_NADDRS,
};

static bool is_text(enum view_col c)
{
	return c == COL_PROCESS || c == COL_HOST || c >= COL_LABEL;
}

/* The host column shows once a row on screen has a name. */
static bool any_host(const struct view_row *const *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i]->host)
			return true;
	return false;
}

/* The column(s) the sort marks: a window sum marks its TX and RX. */
static bool sort_marks(enum view_col c, int sort)
{
	if (sort > VIEW_SORT_TOTAL) {
		int w = sort - COL_MAX;

		return (int)c == COL_TX_LAST + 2 * w ||
		       (int)c == COL_RX_LAST + 2 * w;
	}
	return (int)c == sort;
}

static int digits(uint64_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static int max_i(int a, int b)
{
	return a > b ? a : b;
}

/* The width a column would like for rows[0..n), and the least it takes. */
static void col_want(enum view_col c, const struct view_row *const *rows,
		     size_t n, int *want, int *min)
{
	/* Header names may be translated into wide characters. */
	int w = view_text_width(view_col_name(c));

	for (size_t i = 0; i < n; i++) {
		const struct view_row *r = rows[i];
		const char *t = col_text(r, c);

		if (t)
			w = max_i(w, view_text_width(t));
		else if (c == COL_ADDR || c == COL_PID)
			w = max_i(w, (int)strlen(r->name));
		else if (c == COL_TX_BYTES)
			w = max_i(w, digits(r->tx_bytes));
		else if (c == COL_RX_BYTES)
			w = max_i(w, digits(r->rx_bytes));
		else if (c == COL_NADDRS)
			w = max_i(w, digits(r->naddrs));
	}
	if (c >= COL_TX_LAST && c <= COL_RX_40S)
		w = max_i(w, show_bits ? 6 : 5); /* "1.23K", "1.23Kb" */
	*want = w;
	*min = w;
	if (is_text(c)) {
		if (*want > TEXT_COL_MAX)
			*want = TEXT_COL_MAX;
		/* Enough for the header name; wide names are cut with '~'. */
		*min = max_i(8, view_text_width(view_col_name(c)));
		if (*min > *want)
			*min = *want;
	}
}

void view_layout(struct view_layout *l, enum view_mode mode, int width,
		 const struct view_row *const *rows, size_t n, int sort)
{
	enum view_col groups[ADDR_GROUPS][2], order[COL_MAX];
	const enum view_col(*prio)[2] = proc_prio;
	size_t np = sizeof(proc_prio) / sizeof(proc_prio[0]);
	size_t no = sizeof(proc_order) / sizeof(proc_order[0]);
	int want[COL_MAX] = {0}, min[COL_MAX] = {0};
	int used = 0, left;

	memcpy(order, proc_order, sizeof(proc_order));
	if (mode == VIEW_ADDR) {
		np = addr_prio(groups);
		prio = (const enum view_col(*)[2])groups;
		no = sizeof(addr_order) / sizeof(addr_order[0]);
		memcpy(order, addr_order, sizeof(addr_order));
		for (int i = 0; i < GEO_NLABELS; i++)
			order[no++] = COL_GEO(i);
	}
	memset(l, 0, sizeof(*l));
	/* Greedy by priority: a group goes in if its least widths fit. */
	for (size_t g = 0; g < np; g++) {
		int need = 0;

		if (prio[g][0] == COL_HOST && !any_host(rows, n))
			continue;
		for (int k = 0; k < 2 && prio[g][k] != COL_MAX; k++) {
			enum view_col c = prio[g][k];

			col_want(c, rows, n, &want[c], &min[c]);
			if (sort_marks(c, sort)) {
				want[c]++;
				min[c] += !is_text(c);
			}
			need += min[c] + (used + need ? 1 : 0);
		}
		if (used + need > width) {
			if (g == 0) { /* the key column always shows, cut */
				l->width[prio[0][0]] = width;
				used = width;
			}
			continue;
		}
		for (int k = 0; k < 2 && prio[g][k] != COL_MAX; k++)
			l->width[prio[g][k]] = min[prio[g][k]];
		used += need;
	}
	/* What is left widens the text columns towards what they want. */
	left = width - used;
	for (size_t i = 0; i < no && left > 0; i++) {
		enum view_col c = order[i];
		int more;

		if (!l->width[c] || !is_text(c))
			continue;
		more = want[c] - l->width[c];
		if (more > left)
			more = left;
		if (more > 0) {
			l->width[c] += more;
			left -= more;
		}
	}
	for (size_t i = 0; i < no; i++)
		if (l->width[order[i]])
			l->cols[l->n++] = order[i];
}

static size_t put_cell(char *buf, size_t len, size_t o, const char *s, int w,
		       bool right, bool first)
{
	if (!first && o + 1 < len)
		buf[o++] = ' ';
	if (o < len)
		o += view_fit_text(buf + o, len - o, s, w, right);
	return o;
}

void view_format_header(const struct view_layout *l, int sort, char *buf,
			size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < l->n; i++) {
		enum view_col c = l->cols[i];
		char name[32];

		/* The sort column is marked; numbers align right. */
		snprintf(name, sizeof(name), "%s%s", view_col_name(c),
			 sort_marks(c, sort) ? "*" : "");
		o = put_cell(buf, len, o, name, l->width[c],
			     !is_text(c) && c != COL_ADDR && c != COL_PID, !i);
	}
}

void view_format_row(const struct view_layout *l, const struct view_row *r,
		     char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < l->n; i++) {
		enum view_col c = l->cols[i];
		const char *t = col_text(r, c);
		char num[32];
		bool right = true;

		if (t) {
			right = false;
		} else if (c == COL_ADDR || c == COL_PID) {
			t = r->name;
			right = false;
		} else if (c == COL_TX_BYTES || c == COL_RX_BYTES ||
			   c == COL_NADDRS) {
			snprintf(num, sizeof(num), "%" PRIu64,
				 c == COL_NADDRS     ? (uint64_t)r->naddrs
				 : c == COL_TX_BYTES ? r->tx_bytes
						     : r->rx_bytes);
			t = num;
		} else {
			t = view_format_rate(col_value(r, c), num, sizeof(num));
		}
		o = put_cell(buf, len, o, t, l->width[c], right, !i);
	}
}

static void rtrim(char *s)
{
	size_t n = strlen(s);

	while (n && s[n - 1] == ' ')
		s[--n] = '\0';
}

int view_render_text(struct view *v, enum view_mode mode, size_t n, int width,
		     struct strbuf *out)
{
	static const struct view_filter none;
	const struct view_row **rows;
	struct view_layout l;
	char line[4096];
	long total = view_select(v, mode, &none, VIEW_SORT_TOTAL, false, &rows);
	int err;

	if (total < 0)
		return (int)total;
	if (!n || n > (size_t)total)
		n = (size_t)total;
	view_layout(&l, mode, width, rows, n, -1);
	view_format_header(&l, -1, line, sizeof(line));
	rtrim(line);
	err = strbuf_printf(out, "%s\n", line);
	for (size_t i = 0; i < n && !err; i++) {
		view_format_row(&l, rows[i], line, sizeof(line));
		rtrim(line);
		err = strbuf_printf(out, "%s\n", line);
	}
	free(rows);
	return err;
}

// SPDX-License-Identifier: MIT
/* The live view's model: rates, windows, sorting, filters, width fitting. */
#include <arpa/inet.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "geo_labels.h"
#include "table.h"
#include "view.h"

struct fixture {
	struct ip_table addrs, procs;
	struct view v;
};

static struct in6_addr v4(const char *s)
{
	struct in6_addr a = {0};

	a.s6_addr[10] = a.s6_addr[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, s, a.s6_addr + 12), 1);
	return a;
}

static struct ip_entry *set_addr(struct ip_table *t, const char *ip,
				 uint64_t tx, uint64_t rx)
{
	struct in6_addr a = v4(ip);
	struct ip_entry *e = ip_table_upsert(t, &a);

	assert_non_null(e);
	e->tx_bytes = tx;
	e->rx_bytes = rx;
	e->tx_packets = tx / 100;
	e->rx_packets = rx / 100;
	return e;
}

static void set_proc(struct ip_table *t, const char *ip, uint32_t pid,
		     const char *comm, uint64_t tx, uint64_t rx)
{
	struct in6_addr a = v4(ip);
	struct ip_entry *e = ip_table_upsert_pid(t, &a, pid);

	assert_non_null(e);
	snprintf(e->comm, sizeof(e->comm), "%s", comm);
	e->tx_bytes = tx;
	e->rx_bytes = rx;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(ip_table_init(&f->addrs, 0), 0);
	assert_int_equal(ip_table_init(&f->procs, 0), 0);
	assert_int_equal(view_init(&f->v, 1.0), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	view_free(&f->v);
	ip_table_free(&f->addrs);
	ip_table_free(&f->procs);
	free(f);
	return 0;
}

static const struct view_row *find_row(struct view *v, enum view_mode mode,
				       const char *name)
{
	struct view_rows *r = mode == VIEW_ADDR ? &v->addrs : &v->procs;

	for (size_t i = 0; i < r->count; i++)
		if (!strcmp(r->rows[i].name, name))
			return &r->rows[i];
	return NULL;
}

static void update(struct fixture *f, double t)
{
	assert_int_equal(view_update(&f->v, &f->addrs, &f->procs, t), 0);
}

/* Rates are exact quotients of counter differences over update times. */
static void test_rates_and_windows(void **state)
{
	struct fixture *f = *state;
	const struct view_row *r;

	update(f, 100.0); /* baseline, empty */
	set_addr(&f->addrs, "10.0.0.1", 1000, 500);
	update(f, 101.0);
	r = find_row(&f->v, VIEW_ADDR, "10.0.0.1");
	assert_non_null(r);
	assert_true(r->tx_rate[VW_LAST] == 1000.0);
	assert_true(r->rx_rate[VW_LAST] == 500.0);
	/* Shorter than the windows so far: averaged since the start. */
	assert_true(r->tx_rate[VW_2S] == 1000.0);
	assert_true(r->tx_rate[VW_40S] == 1000.0);

	set_addr(&f->addrs, "10.0.0.1", 3000, 500);
	update(f, 102.0);
	r = find_row(&f->v, VIEW_ADDR, "10.0.0.1");
	assert_true(r->tx_rate[VW_LAST] == 2000.0);
	assert_true(r->rx_rate[VW_LAST] == 0.0);
	assert_true(r->tx_rate[VW_2S] == 1500.0);
	assert_true(r->tx_rate[VW_10S] == 1500.0);

	/* Idle until t = 111: the 10 s window starts at t = 101. */
	for (int t = 103; t <= 111; t++)
		update(f, t);
	r = find_row(&f->v, VIEW_ADDR, "10.0.0.1");
	assert_true(r->tx_rate[VW_LAST] == 0.0);
	assert_true(r->tx_rate[VW_2S] == 0.0);
	assert_true(r->tx_rate[VW_10S] == 200.0); /* 2000 B over 10 s */
	assert_true(r->tx_rate[VW_40S] == 3000.0 / 11);
	update(f, 112);
	r = find_row(&f->v, VIEW_ADDR, "10.0.0.1");
	assert_true(r->tx_rate[VW_10S] == 0.0);
	assert_int_equal(r->tx_bytes, 3000);
	assert_true(f->v.total.tx_rate[VW_40S] == 3000.0 / 12);
}

/*
 * Updates ten times a second: the history still spans the 40 s window
 * (samples share a slot), and a steady rate reads the same in every
 * window.
 */
static void test_fast_updates(void **state)
{
	struct fixture *f = *state;
	const struct view_row *r;
	struct view v;

	(void)f;
	assert_int_equal(view_init(&v, 0.1), 0);
	assert_int_equal(view_update(&v, &f->addrs, NULL, 0), 0);
	for (int i = 1; i <= 600; i++) {
		/* 1000 B/s: 100 B per update. */
		set_addr(&f->addrs, "10.0.0.5", (uint64_t)i * 100, 0);
		assert_int_equal(view_update(&v, &f->addrs, NULL, i / 10.0), 0);
	}
	r = &v.addrs.rows[0];
	assert_true(fabs(r->tx_rate[VW_LAST] - 1000) < 1e-6);
	assert_true(fabs(r->tx_rate[VW_2S] - 1000) < 1e-6);
	assert_true(fabs(r->tx_rate[VW_10S] - 1000) < 1e-6);
	assert_true(fabs(r->tx_rate[VW_40S] - 1000) < 1e-6);
	assert_false(r->hist.lost && r->hist.n < 40);
	/* Then silence for 20 s: the 40 s window holds 20 s of traffic. */
	for (int i = 601; i <= 800; i++)
		assert_int_equal(view_update(&v, &f->addrs, NULL, i / 10.0), 0);
	r = &v.addrs.rows[0];
	assert_true(r->tx_rate[VW_10S] == 0);
	assert_true(fabs(r->tx_rate[VW_40S] - 500) < 500 * 0.05);
	view_free(&v);
}

/* An address first seen later counts from the update before it. */
static void test_new_row_and_sweep(void **state)
{
	struct fixture *f = *state;
	const struct view_row *r;

	update(f, 0);
	update(f, 2);
	set_addr(&f->addrs, "10.0.0.2", 4000, 0);
	update(f, 4);
	r = find_row(&f->v, VIEW_ADDR, "10.0.0.2");
	assert_true(r->tx_rate[VW_LAST] == 2000.0);
	assert_true(r->tx_rate[VW_10S] == 1000.0); /* since start: 4 s */

	/* Rows absent from a snapshot go. */
	ip_table_free(&f->addrs);
	assert_int_equal(ip_table_init(&f->addrs, 0), 0);
	update(f, 6);
	assert_null(find_row(&f->v, VIEW_ADDR, "10.0.0.2"));
	assert_int_equal(f->v.addrs.count, 0);
}

static void test_processes(void **state)
{
	struct fixture *f = *state;
	const struct view_row *r;

	update(f, 0);
	set_addr(&f->addrs, "10.0.0.1", 300, 0);
	set_addr(&f->addrs, "10.0.0.2", 50, 0);
	set_proc(&f->procs, "10.0.0.1", 42, "curl", 200, 0);
	set_proc(&f->procs, "10.0.0.1", 43, "wget", 100, 0);
	set_proc(&f->procs, "10.0.0.2", 42, "curl", 50, 0);
	update(f, 1);
	r = find_row(&f->v, VIEW_ADDR, "10.0.0.1");
	assert_string_equal(r->process, "curl[42] +1");
	r = find_row(&f->v, VIEW_ADDR, "10.0.0.2");
	assert_string_equal(r->process, "curl[42]");
	r = find_row(&f->v, VIEW_PROC, "42");
	assert_non_null(r);
	assert_string_equal(r->process, "curl");
	assert_int_equal(r->tx_bytes, 250);
	assert_int_equal(r->naddrs, 2);
	assert_true(r->tx_rate[VW_LAST] == 250.0);
	r = find_row(&f->v, VIEW_PROC, "43");
	assert_int_equal(r->tx_bytes, 100);
}

static void test_sort_and_filter(void **state)
{
	struct fixture *f = *state;
	struct geo_labels cn = {.country = "中国",
				.province = "江苏省",
				.city = "南京市",
				.isp = "电信",
				.asn = "AS4134 CHINANET-BACKBONE"};
	struct geo_labels us = {.country = "United States",
				.province = NULL,
				.city = NULL,
				.isp = NULL,
				.asn = "AS15169 GOOGLE"};
	const struct view_row **rows;
	struct view_filter flt = {0};
	long n;

	update(f, 0);
	set_addr(&f->addrs, "10.0.0.1", 100, 900)->geo = &cn;
	set_addr(&f->addrs, "10.0.1.2", 500, 100)->geo = &us;
	set_addr(&f->addrs, "192.168.0.3", 300, 0);
	set_proc(&f->procs, "10.0.0.1", 7, "nginx", 100, 900);
	set_proc(&f->procs, "10.0.1.2", 8, "curl", 500, 100);
	set_proc(&f->procs, "192.168.0.3", 8, "curl", 300, 0);
	update(f, 1);

	n = view_select(&f->v, VIEW_ADDR, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0]->name, "10.0.0.1");
	assert_string_equal(rows[2]->name, "192.168.0.3");
	free(rows);
	n = view_select(&f->v, VIEW_ADDR, &flt, COL_TX_BYTES, false, &rows);
	assert_string_equal(rows[0]->name, "10.0.1.2");
	assert_string_equal(rows[1]->name, "192.168.0.3");
	free(rows);
	n = view_select(&f->v, VIEW_ADDR, &flt, COL_TX_LAST, true, &rows);
	assert_string_equal(rows[0]->name, "10.0.0.1");
	free(rows);
	n = view_select(&f->v, VIEW_ADDR, &flt, COL_GEO(GEO_COUNTRY), false,
			&rows);
	assert_string_equal(rows[0]->name, "10.0.1.2");	   /* "United States" */
	assert_string_equal(rows[1]->name, "192.168.0.3"); /* "Unknown" */
	free(rows);
	/* ASN text sorts A to Z like any label: AS15169 < AS4134 < Unknown */
	n = view_select(&f->v, VIEW_ADDR, &flt, COL_GEO(GEO_ASN), false, &rows);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0]->name, "10.0.1.2");
	assert_string_equal(rows[1]->name, "10.0.0.1");
	assert_string_equal(rows[2]->name, "192.168.0.3");
	free(rows);
	assert_string_equal(view_col_name(COL_GEO(GEO_ASN)), "ASN");

	snprintf(flt.addr, sizeof(flt.addr), "10.0.");
	n = view_select(&f->v, VIEW_ADDR, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 2);
	free(rows);
	snprintf(flt.addr, sizeof(flt.addr), "10.0.1.0/24");
	assert_int_equal(view_filter_check(&flt), 0);
	n = view_select(&f->v, VIEW_ADDR, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0]->name, "10.0.1.2");
	free(rows);
	snprintf(flt.addr, sizeof(flt.addr), "10.0.1.0/33");
	assert_int_equal(view_filter_check(&flt), -EINVAL);
	flt.addr[0] = '\0';

	snprintf(flt.label[GEO_COUNTRY], sizeof(flt.label[0]), "中国");
	n = view_select(&f->v, VIEW_ADDR, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0]->name, "10.0.0.1");
	free(rows);
	/* Country filter in the process view: processes talking to China. */
	n = view_select(&f->v, VIEW_PROC, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0]->process, "nginx");
	free(rows);
	flt.label[GEO_COUNTRY][0] = '\0';

	/* ASN filter: a substring, case-insensitive; "unknown" finds those
	 * no database names */
	snprintf(flt.label[GEO_ASN], sizeof(flt.label[0]), "as15169");
	n = view_select(&f->v, VIEW_ADDR, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0]->name, "10.0.1.2");
	free(rows);
	n = view_select(&f->v, VIEW_PROC, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0]->process, "curl");
	free(rows);
	snprintf(flt.label[GEO_ASN], sizeof(flt.label[0]), "unknown");
	n = view_select(&f->v, VIEW_ADDR, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0]->name, "192.168.0.3");
	free(rows);
	flt.label[GEO_ASN][0] = '\0';

	snprintf(flt.process, sizeof(flt.process), "cur");
	n = view_select(&f->v, VIEW_ADDR, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0]->name, "10.0.1.2");
	free(rows);
	n = view_select(&f->v, VIEW_PROC, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0]->tx_bytes, 800);
	free(rows);
}

static void test_text_width(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(view_text_width("abc"), 3);
	assert_int_equal(view_text_width("中国电信"), 8);
	view_fit_text(buf, sizeof(buf), "中国电信", 8, false);
	assert_string_equal(buf, "中国电信");
	view_fit_text(buf, sizeof(buf), "中国电信", 5, false);
	assert_string_equal(buf, "中国~");
	view_fit_text(buf, sizeof(buf), "中国电信", 6, false);
	assert_string_equal(buf, "中国 ~");
	view_fit_text(buf, sizeof(buf), "中国", 6, false);
	assert_string_equal(buf, "中国  ");
	view_fit_text(buf, sizeof(buf), "12", 5, true);
	assert_string_equal(buf, "   12");
	/* Control characters never reach the terminal. */
	view_fit_text(buf, sizeof(buf), "a\033[2Jb", 6, false);
	assert_string_equal(buf, "a?[2Jb");
	view_fit_text(buf, sizeof(buf),
		      "\xff"
		      "x",
		      2, false);
	assert_string_equal(buf, "?x");
}

static void test_rate_format(void **state)
{
	char b[16];

	(void)state;
	assert_string_equal(view_format_rate(0, b, sizeof(b)), "0");
	assert_string_equal(view_format_rate(999, b, sizeof(b)), "999B");
	assert_string_equal(view_format_rate(1536, b, sizeof(b)), "1.50K");
	assert_string_equal(view_format_rate(1048576, b, sizeof(b)), "1.00M");
	assert_string_equal(view_format_rate(1023.7 * 1024, b, sizeof(b)),
			    "1.00M");
	assert_string_equal(view_format_rate(50.0 * 1024, b, sizeof(b)),
			    "50.0K");
	assert_string_equal(view_format_rate(500.0 * 1024, b, sizeof(b)),
			    "500K");
	/* b: bits in SI steps, as iftop. */
	view_set_bits(true);
	assert_string_equal(view_format_rate(0, b, sizeof(b)), "0");
	assert_string_equal(view_format_rate(100, b, sizeof(b)), "800b");
	assert_string_equal(view_format_rate(125, b, sizeof(b)), "1.00Kb");
	assert_string_equal(view_format_rate(1536, b, sizeof(b)), "12.3Kb");
	assert_string_equal(view_format_rate(125e6, b, sizeof(b)), "1.00Gb");
	view_set_bits(false);
	assert_string_equal(view_format_rate(1536, b, sizeof(b)), "1.50K");
}

/*
 * Without attribution (no per-process table) the process view has one
 * row with all the traffic, not nothing; window sums sort both views.
 */
static void test_no_attribution(void **state)
{
	struct fixture *f = *state;
	const struct view_row **rows;
	struct view_filter flt = {0};
	struct view v;
	long n;

	assert_int_equal(view_init(&v, 1), 0);
	set_addr(&f->addrs, "10.0.0.5", 0, 0);
	set_addr(&f->addrs, "10.0.0.6", 0, 0);
	assert_int_equal(view_update(&v, &f->addrs, NULL, 0), 0);
	set_addr(&f->addrs, "10.0.0.5", 1000, 30);
	set_addr(&f->addrs, "10.0.0.6", 500, 700);
	assert_int_equal(view_update(&v, &f->addrs, NULL, 1), 0);
	n = view_select(&v, VIEW_PROC, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0]->process, "(not attributed)");
	assert_int_equal(rows[0]->tx_bytes, 1500);
	assert_int_equal(rows[0]->rx_bytes, 730);
	assert_int_equal(rows[0]->naddrs, 2);
	free(rows);
	n = view_select(&v, VIEW_ADDR, &flt, VIEW_SORT_WIN(VW_2S), false,
			&rows);
	assert_int_equal(n, 2);
	/* 1200 B against 1030 B over the same window. */
	assert_string_equal(rows[0]->name, "10.0.0.6");
	free(rows);
	view_free(&v);
}

/* Every line is exactly as wide as the layout; wide names align. */
static void test_layout(void **state)
{
	struct fixture *f = *state;
	struct geo_labels cn = {.country = "中国",
				.province = "江苏省",
				.city = "南京市",
				.isp = "中国电信",
				.asn = "AS4134 CHINANET-BACKBONE"};
	const struct view_row **rows;
	struct view_filter flt = {0};
	struct view_layout l;
	char line[1024], head[1024];
	int widths[] = {60, 80, 120, 250};
	long n;

	update(f, 0);
	set_addr(&f->addrs, "10.0.0.1", 123456789, 42)->geo = &cn;
	set_addr(&f->addrs, "172.16.200.201", 5, 4000000000ULL);
	set_proc(&f->procs, "10.0.0.1", 4242, "firefox", 123456789, 42);
	update(f, 1);
	n = view_select(&f->v, VIEW_ADDR, &flt, VIEW_SORT_TOTAL, false, &rows);
	assert_int_equal(n, 2);
	for (size_t k = 0; k < sizeof(widths) / sizeof(widths[0]); k++) {
		int w = widths[k], hw;

		view_layout(&l, VIEW_ADDR, w, rows, (size_t)n, COL_TX_BYTES);
		assert_true(l.width[COL_ADDR] >= 14);
		assert_true(l.width[COL_TX_BYTES] >= 9);
		assert_true(l.width[COL_RX_BYTES] >= 10);
		view_format_header(&l, COL_TX_BYTES, head, sizeof(head));
		assert_non_null(strstr(head, "TX BYTES*"));
		hw = view_text_width(head);
		assert_true(hw <= w);
		for (long i = 0; i < n; i++) {
			view_format_row(&l, rows[i], line, sizeof(line));
			assert_int_equal(view_text_width(line), hw);
		}
		if (w >= 80) {
			assert_true(l.width[COL_TX_LAST] > 0);
			assert_true(l.width[COL_PROCESS] > 0);
			assert_true(l.width[COL_GEO(GEO_COUNTRY)] > 0);
		}
		if (w >= 250) {
			assert_true(l.width[COL_GEO(GEO_CITY)] > 0);
			assert_true(l.width[COL_GEO(GEO_ISP)] >= 8);
			assert_true(l.width[COL_GEO(GEO_ASN)] >= 8);
			view_format_row(&l, rows[1], line, sizeof(line));
			assert_non_null(strstr(line, "中国电信"));
			assert_non_null(strstr(line, "AS4134 CHINANET-BACKB"));
			assert_non_null(strstr(line, "firefox[4242]"));
			assert_non_null(strstr(line, " 123456789 "));
		}
	}
	free(rows);
	n = view_select(&f->v, VIEW_PROC, &flt, VIEW_SORT_TOTAL, false, &rows);
	view_layout(&l, VIEW_PROC, 80, rows, (size_t)n, -1);
	view_format_row(&l, rows[0], line, sizeof(line));
	assert_non_null(strstr(line, "4242"));
	assert_non_null(strstr(line, "firefox"));
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rates_and_windows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_new_row_and_sweep, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fast_updates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_processes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sort_and_filter, setup,
						teardown),
		cmocka_unit_test(test_text_width),
		cmocka_unit_test(test_rate_format),
		cmocka_unit_test_setup_teardown(test_no_attribution, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
	};

	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

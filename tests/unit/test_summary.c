// SPDX-License-Identifier: MIT
/* Console summary: human sizes and the top-N table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "summary.h"
#include "table.h"
#include "test_addr.h"

static const char golden_all[] =
	"RANK   REMOTE IP                                           TX BYTES        TX PKTS             RX BYTES        RX PKTS        TOTAL\n"
	"1      10.0.0.1                                          5000000000        4000000                    0              0     4.66 GiB\n"
	"2      1.2.3.4                                              1048576           1000               524288            500     1.50 MiB\n"
	"3      192.0.2.1                                                150              1                  150              1        300 B\n"
	"4      2001:db8::1                                              100              1                  200              2        300 B\n"
	"TOTAL  all 4 addresses                                   5001048826        4001002               524638            503     4.66 GiB\n";

static const char golden_top2[] =
	"RANK   REMOTE IP                                           TX BYTES        TX PKTS             RX BYTES        RX PKTS        TOTAL\n"
	"1      10.0.0.1                                          5000000000        4000000                    0              0     4.66 GiB\n"
	"2      1.2.3.4                                              1048576           1000               524288            500     1.50 MiB\n"
	"TOTAL  all 4 addresses                                   5001048826        4001002               524638            503     4.66 GiB\n";

static const char golden_empty[] =
	"RANK   REMOTE IP                                           TX BYTES        TX PKTS             RX BYTES        RX PKTS        TOTAL\n"
	"TOTAL  all 0 addresses                                            0              0                    0              0          0 B\n";

static void test_format_bytes_human(void **state)
{
	static const struct {
		uint64_t in;
		const char *out;
	} cases[] = {
		{0, "0 B"},
		{1, "1 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1.00 KiB"},
		{1029, "1.00 KiB"}, /* 1.0049 */
		{1030, "1.01 KiB"}, /* 1.0059 */
		{1536, "1.50 KiB"},
		{10239, "10.00 KiB"},
		{1048063, "1023.50 KiB"},
		/* Would print as 1024.00 KiB if the unit were chosen first. */
		{1048570, "1023.99 KiB"},
		{1048571, "1.00 MiB"},
		{1048575, "1.00 MiB"},
		{1048576, "1.00 MiB"},
		{1572864, "1.50 MiB"},
		{1073741823, "1.00 GiB"},
		{1073741824, "1.00 GiB"},
		{5000000000ULL, "4.66 GiB"},
		{1099511627776ULL, "1.00 TiB"},
		{1125899906842624ULL, "1024.00 TiB"},
		{UINT64_MAX, "16777216.00 TiB"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];

		assert_ptr_equal(
			format_bytes_human(cases[i].in, buf, sizeof(buf)), buf);
		assert_string_equal(buf, cases[i].out);
	}
}

static void add(struct ip_table *t, const char *ip, uint64_t txb, uint64_t txp,
		uint64_t rxb, uint64_t rxp)
{
	struct itm_value v = {txb, txp, rxb, rxp};
	struct in6_addr a = test_addr(ip);
	assert_int_equal(ip_table_add(t, &a, &v), 0);
}

static void fill(struct ip_table *t)
{
	assert_int_equal(ip_table_init(t, 1048576), 0);
	add(t, "2001:db8::1", 100, 1, 200, 2);
	add(t, "1.2.3.4", 1048576, 1000, 524288, 500);
	/* Ties with 2001:db8::1 on 300 bytes; sorts first by address. */
	add(t, "192.0.2.1", 150, 1, 150, 1);
	add(t, "10.0.0.1", 4000000000ULL, 3000000, 0, 0);
	add(t, "10.0.0.1", 1000000000ULL, 1000000, 0, 0);
}

static void test_summary_all(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct ip_table t;

	(void)state;
	fill(&t);
	assert_int_equal(summary_render(&t, 0, &sb), 0);
	assert_string_equal(sb.buf, golden_all);
	strbuf_reset(&sb);
	/* n larger than the table is the same as all. */
	assert_int_equal(summary_render(&t, 100, &sb), 0);
	assert_string_equal(sb.buf, golden_all);
	strbuf_free(&sb);
	ip_table_free(&t);
}

static void test_summary_top2(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct ip_table t;

	(void)state;
	fill(&t);
	assert_int_equal(summary_render(&t, 2, &sb), 0);
	/* The totals row still covers all four addresses. */
	assert_string_equal(sb.buf, golden_top2);
	strbuf_free(&sb);
	ip_table_free(&t);
}

static void test_summary_empty(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	assert_int_equal(summary_render(&t, 10, &sb), 0);
	assert_string_equal(sb.buf, golden_empty);
	strbuf_free(&sb);
	ip_table_free(&t);
}

/* Fitted to a terminal: content-sized columns, the least wanted go first. */
static const char golden_fit120[] =
	"RANK  REMOTE IP         TX BYTES TX PKTS RX BYTES RX PKTS    TOTAL\n"
	"1     10.0.0.1        5000000000 4000000        0       0 4.66 GiB\n"
	"2     1.2.3.4            1048576    1000   524288     500 1.50 MiB\n"
	"TOTAL all 4 addresses 5001048826 4001002   524638     503 4.66 GiB\n";
static const char golden_fit50[] =
	"RANK  REMOTE IP         TX BYTES RX BYTES    TOTAL\n"
	"1     10.0.0.1        5000000000        0 4.66 GiB\n"
	"2     1.2.3.4            1048576   524288 1.50 MiB\n"
	"TOTAL all 4 addresses 5001048826   524638 4.66 GiB\n";
static const char golden_fit36[] = "RANK  REMOTE IP    TX BYTES RX BYTES\n"
				   "1     10.0.0.1   5000000000        0\n"
				   "2     1.2.3.4       1048576   524288\n"
				   "TOTAL all 4 add~ 5001048826   524638\n";

static void test_summary_fit(void **state)
{
	static const struct {
		int width;
		const char *want;
	} cases[] = {{120, golden_fit120},
		     {66, golden_fit120},
		     {65, golden_fit50},
		     {50, golden_fit50},
		     {36, golden_fit36}};
	struct strbuf sb = STRBUF_INIT;
	struct ip_table t;

	(void)state;
	fill(&t);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_reset(&sb);
		assert_int_equal(summary_render_fit(&t, NULL, NULL, 2,
						    cases[i].width, &sb),
				 0);
		assert_string_equal(sb.buf, cases[i].want);
	}
	/* 0: the fixed columns of files and pipes. */
	strbuf_reset(&sb);
	assert_int_equal(summary_render_fit(&t, NULL, NULL, 2, 0, &sb), 0);
	assert_string_equal(sb.buf, golden_top2);
	strbuf_free(&sb);
	ip_table_free(&t);
}

/* The 4th column of a row: its tx bytes, which is the ranking key here. */
static uint64_t row_tx(const char *row)
{
	char rank[16], ip[64];
	unsigned long long tx;

	assert_int_equal(sscanf(row, "%15s %63s %llu", rank, ip, &tx), 3);
	return tx;
}

/*
 * The bounded-heap path (small n) must pick exactly the rows the full
 * sort puts first, with many ties, and leave the table untouched.
 */
static void test_heap_matches_sort(void **state)
{
	struct strbuf all = STRBUF_INIT, top = STRBUF_INIT;
	struct ip_entry *copy;
	struct ip_table t;
	const char *p;
	size_t lines, n = 20000;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct itm_value v = {(i * 2654435761u) % 997, 1, 0, 0};
		struct in6_addr a = {.s6_addr = {0x20, 0x01}};

		memcpy(&a.s6_addr[12], &i, sizeof(i));
		assert_int_equal(ip_table_add(&t, &a, &v), 0);
	}
	copy = malloc(t.count * sizeof(*copy));
	assert_non_null(copy);
	memcpy(copy, t.entries, t.count * sizeof(*copy));

	assert_int_equal(summary_render(&t, 0, &all), 0);
	assert_int_equal(summary_render(&t, 25, &top), 0);
	assert_memory_equal(copy, t.entries, t.count * sizeof(*copy));

	/* Header + 25 rows must be a prefix of the full table. */
	p = all.buf;
	for (lines = 0; lines < 26; lines++)
		p = strchr(p, '\n') + 1;
	assert_memory_equal(all.buf, top.buf, (size_t)(p - all.buf));
	/* Then the same totals row. */
	assert_string_equal(strstr(top.buf, "\nTOTAL "),
			    strstr(all.buf, "\nTOTAL "));

	/* Ranks descend by total over the whole table. */
	p = strchr(all.buf, '\n') + 1;
	for (uint64_t prev = UINT64_MAX; strncmp(p, "TOTAL", 5);) {
		uint64_t v = row_tx(p);

		assert_true(v <= prev);
		prev = v;
		p = strchr(p, '\n') + 1;
	}
	assert_int_equal(row_tx(strchr(top.buf, '\n') + 1), 996);
	free(copy);
	strbuf_free(&all);
	strbuf_free(&top);
	ip_table_free(&t);
}

static const char golden_procs[] =
	"RANK   REMOTE IP                                           TX BYTES        TX PKTS             RX BYTES        RX PKTS        TOTAL  PROCESS[PID]\n"
	"1      10.0.0.1                                          5000000000        4000000                    0              0     4.66 GiB  iperf3[100] +1\n"
	"2      1.2.3.4                                              1048576           1000               524288            500     1.50 MiB  -(no process)\n"
	"3      192.0.2.1                                                150              1                  150              1        300 B  -\n"
	"4      2001:db8::1                                              100              1                  200              2        300 B  ssh[7]\n"
	"TOTAL  all 4 addresses                                   5001048826        4001002               524638            503     4.66 GiB\n";

static void add_proc(struct ip_table *procs, const char *ip, uint32_t pid,
		     const char *comm, uint64_t bytes)
{
	struct itm_value v = {bytes, 1, 0, 0};
	struct in6_addr a = test_addr(ip);
	struct ip_entry *e;
	e = ip_table_upsert_pid(procs, &a, pid);
	assert_non_null(e);
	memset(e->comm, 0, sizeof(e->comm));
	memcpy(e->comm, comm, strnlen(comm, sizeof(e->comm)));
	ip_entry_account(procs, e, &v);
}

/* Each row names its biggest process and counts the others. */
static void test_summary_processes(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct ip_table t, procs;

	(void)state;
	fill(&t);
	assert_int_equal(ip_table_init(&procs, 0), 0);
	add_proc(&procs, "10.0.0.1", 200, "curl", 1000000000ULL);
	add_proc(&procs, "10.0.0.1", 100, "iperf3", 4000000000ULL);
	add_proc(&procs, "1.2.3.4", 0, "", 1572864);
	add_proc(&procs, "2001:db8::1", 7, "ssh", 300);
	/* An address not in t (already expired there) is ignored. */
	add_proc(&procs, "203.0.113.9", 9, "ghost", 5);
	assert_int_equal(summary_render_processes(&t, &procs, NULL, 0, &sb), 0);
	assert_string_equal(sb.buf, golden_procs);
	strbuf_free(&sb);
	ip_table_free(&procs);
	ip_table_free(&t);
}

/*
 * The tx/rx bytes/packets of the row that starts with prefix: they follow
 * the RANK and REMOTE IP columns (6 + 1 + 39 cells, ASCII here).
 */
static void row_numbers(const char *text, const char *prefix, uint64_t v[4])
{
	const char *p = strstr(text, prefix);
	unsigned long long n[4];

	assert_non_null(p);
	p += prefix[0] == '\n';
	assert_int_equal(sscanf(p + 46, "%llu %llu %llu %llu", &n[0], &n[1],
				&n[2], &n[3]),
			 4);
	for (int i = 0; i < 4; i++)
		v[i] = n[i];
}

static const char golden_evicted[] =
	"RANK   REMOTE IP                                           TX BYTES        TX PKTS             RX BYTES        RX PKTS        TOTAL\n"
	"1      10.0.0.1                                                5000              5                   50              1     4.93 KiB\n"
	"-      (evicted or not tracked)                                 300              3                   20              2        320 B\n"
	"-      (kernel map full, --map-size)                              7              1                   11              2         18 B\n"
	"TOTAL  all traffic, 2 addresses kept                           5707             11                   91              6     5.66 KiB\n";

/*
 * TOTAL covers everything counted, as ip_traffic_all_* does: the kept
 * addresses, those evicted at --max-tracked and the kernel maps'
 * overflow, against a sum computed here from what was fed in.
 */
static void test_total_includes_evicted_and_overflow(void **state)
{
	static const struct {
		const char *ip;
		struct itm_value v;
	} fed[] = {
		/* drain 1: A is exported (-t 1000), B is not */
		{"10.0.0.1", {5000, 5, 50, 1}},
		{"10.0.0.2", {100, 1, 0, 0}},
		/* drain 2: C evicts B (idle longest), D evicts C */
		{"10.0.0.3", {200, 2, 20, 2}},
		{"10.0.0.4", {400, 2, 10, 1}},
	};
	const struct itm_value overflow = {7, 1, 11, 2};
	struct strbuf sb = STRBUF_INIT;
	uint64_t want[4] = {0}, got[4];
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 1000), 0);
	assert_int_equal(ip_table_set_limit(&t, 2), 0);
	for (size_t i = 0; i < sizeof(fed) / sizeof(fed[0]); i++) {
		struct in6_addr a = test_addr(fed[i].ip);

		if (i == 0 || i == 2)
			ip_table_tick(&t);
		assert_int_equal(ip_table_add(&t, &a, &fed[i].v), 0);
		want[0] += fed[i].v.tx_bytes;
		want[1] += fed[i].v.tx_packets;
		want[2] += fed[i].v.rx_bytes;
		want[3] += fed[i].v.rx_packets;
	}
	want[0] += overflow.tx_bytes;
	want[1] += overflow.tx_packets;
	want[2] += overflow.rx_bytes;
	want[3] += overflow.rx_packets;
	assert_int_equal(t.n_evicted, 2);
	assert_int_equal(summary_render_processes(&t, NULL, &overflow, 1, &sb),
			 0);
	row_numbers(sb.buf, "\nTOTAL ", got);
	assert_memory_equal(got, want, sizeof(want));
	assert_string_equal(sb.buf, golden_evicted);
	/* Without overflow the TOTAL is the table's, evicted included. */
	strbuf_reset(&sb);
	assert_int_equal(summary_render(&t, 0, &sb), 0);
	row_numbers(sb.buf, "\nTOTAL ", got);
	assert_int_equal(got[0], want[0] - overflow.tx_bytes);
	assert_int_equal(got[3], want[3] - overflow.rx_packets);
	assert_null(strstr(sb.buf, "kernel map full"));
	strbuf_free(&sb);
	ip_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_bytes_human),
		cmocka_unit_test(test_summary_all),
		cmocka_unit_test(test_summary_top2),
		cmocka_unit_test(test_summary_empty),
		cmocka_unit_test(test_summary_fit),
		cmocka_unit_test(test_summary_processes),
		cmocka_unit_test(test_heap_matches_sort),
		cmocka_unit_test(test_total_includes_evicted_and_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

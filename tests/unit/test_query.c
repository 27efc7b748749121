// SPDX-License-Identifier: MIT
/*
 * `query` golden tests: a real database written through the store, the
 * command run in-process with stdout/stderr captured, compared with the
 * exact expected text (aligned tables with Chinese labels, CSV, JSON,
 * top reports) and the error paths (one line on stderr, exit status 2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "geo_labels.h"
#include "query.h"
#include "query_format.h"
#include "store.h"
#include "test_addr.h"

#define T0 1767225600LL /* 2026-01-01 00:00:00 UTC */

static char dir[256], path[512], out_path[512], err_path[512];
static const char *db = path; /* what run() passes as --db */
static char out[16384], err[4096];

static const struct geo_labels cn = {.country = "中国", .province = "江苏省", .city = "南京市", .isp = "中国电信"};
static const struct geo_labels us = {.country = "美国", .province = "加利福尼亚州", .city = "芒廷维尤",
				     .isp = "Google"};

static int setup(void **state)
{
	struct store_config cfg = {.path = path,
				   .interval = 60,
				   .keep_buckets = STORE_DEFAULT_KEEP_BUCKETS,
				   .keep_hours = STORE_DEFAULT_KEEP_HOURS};
	struct in6_addr six = {{{0x20, 0x01, 0x0d, 0xb8, [15] = 1}}};
	struct store_row rows[] = {
		{.addr = test_v4(1, 2, 3, 4),
		 .geo = &cn,
		 .v = {1000, 1, 2000000, 2}},
		{.addr = test_v4(8, 8, 8, 8),
		 .pid = 42,
		 .process = "curl",
		 .geo = &us,
		 .v = {5000000, 4, 300, 1}},
		{.addr = six, .v = {10, 1, 20, 1}},
		{.addr = test_v4(1, 2, 3, 4), .geo = &cn, .v = {24, 1, 0, 0}},
	};
	struct itm_value ov = {100, 0, 1, 0};
	struct store *s;
	int64_t eth0;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/itm_test_query_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/q.db", dir);
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(err_path, sizeof(err_path), "%s/err", dir);
	if (store_open(&cfg, &s) || store_iface(s, "eth0", &eth0))
		return -1;
	for (int i = 0; i < 4; i++) {
		if (store_begin(s, T0 + (i < 2 ? 60 : 120)) ||
		    store_add(s, eth0, &rows[i]) ||
		    (i == 0 &&
		     store_add_other(s, eth0, STORE_OTHER_OVERFLOW, &ov)) ||
		    store_commit(s))
			return -1;
	}
	store_close(s);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void slurp(const char *p, char *buf, size_t len)
{
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Run `query ARGS...` with --db added; capture both streams. */
static int run(const char *first, ...)
{
	char *argv[32] = {"query"};
	int argc = 1, rc, so, se, fo, fe;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc++] = "--db";
	argv[argc++] = (char *)db;
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = query_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(fo);
	close(fe);
	slurp(out_path, out, sizeof(out));
	slurp(err_path, err, sizeof(err));
	return rc;
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_table_wide_chars(void **state)
{
	(void)state;
	assert_int_equal(run("SELECT remote_ip, country, city, tx_bytes,"
			     " process FROM traffic ORDER BY remote_ip, ts",
			     NULL),
			 0);
	assert_string_equal(
		out, "remote_ip    country  city      tx_bytes  process\n"
		     "-----------  -------  --------  --------  -------\n"
		     "1.2.3.4      中国     南京市        1000  -\n"
		     "1.2.3.4      中国     南京市          24  -\n"
		     "2001:db8::1  Unknown  Unknown         10  -\n"
		     "8.8.8.8      美国     芒廷维尤   5000000  curl\n"
		     "(4 rows)\n");
	assert_string_equal(err, "");
}

static void test_csv_json(void **state)
{
	(void)state;
	assert_int_equal(
		run("--csv",
		    "SELECT ts, remote_ip, isp, NULL AS n, 'a,\"b\"' AS q"
		    " FROM traffic WHERE remote_ip = '8.8.8.8'",
		    NULL),
		0);
	assert_string_equal(out,
			    "ts,remote_ip,isp,n,q\r\n"
			    "1767225660,8.8.8.8,Google,,\"a,\"\"b\"\"\"\r\n");
	assert_int_equal(run("SELECT remote_ip, province, pid, 1.5 AS r,"
			     " NULL AS n FROM traffic WHERE pid = 42"
			     " OR remote_ip = '2001:db8::1' ORDER BY pid",
			     "--json", NULL),
			 0);
	assert_string_equal(
		out,
		"[\n"
		"  { \"remote_ip\": \"2001:db8::1\", \"province\": \"Unknown\", \"pid\": 0, \"r\": 1.5, \"n\": null },\n"
		"  { \"remote_ip\": \"8.8.8.8\", \"province\": \"加利福尼亚州\", \"pid\": 42, \"r\": 1.5, \"n\": null }\n"
		"]\n");
	/*
	 * Escapes (quote, backslash, newline, a control character; '/' and
	 * UTF-8 as they are), two columns of one name both kept, an integer
	 * past a double's 53 bits and a real exactly as the database wrote
	 * them.
	 */
	assert_int_equal(run("--json",
			     "SELECT 'a\"b\\c' || char(10) || char(1) || '/中' AS s,"
			     " 1 AS a, 2 AS a, 9007199254740993 AS big, 0.1 AS r",
			     NULL),
			 0);
	assert_string_equal(
		out,
		"[\n"
		"  { \"s\": \"a\\\"b\\\\c\\n\\u0001/中\", \"a\": 1, \"a\": 2, \"big\": 9007199254740993, \"r\": 0.1 }\n"
		"]\n");
	assert_int_equal(run("--json", "SELECT 1 WHERE 0", NULL), 0);
	assert_string_equal(out, "[]\n");
}

static void test_other_view(void **state)
{
	(void)state;
	assert_int_equal(
		run("SELECT iface, kind, tx_bytes, rx_packets FROM traffic_other",
		    NULL),
		0);
	assert_string_equal(out, "iface  kind      tx_bytes  rx_packets\n"
				 "-----  --------  --------  ----------\n"
				 "eth0   overflow       100           0\n"
				 "(1 row)\n");
}

static void test_top(void **state)
{
	(void)state;
	assert_int_equal(run("top", "--since", "2026-01-01", "--until",
			     "2026-01-02", NULL),
			 0);
	assert_string_equal(
		out,
		"top 10 remote_ip by sent+received bytes, 2026-01-01 00:00:00 to 2026-01-02 00:00:00 UTC\n"
		"remote_ip          tx        rx     total  tx_bytes  rx_bytes  tx_packets  rx_packets\n"
		"-----------  --------  --------  --------  --------  --------  ----------  ----------\n"
		"8.8.8.8      4.77 MiB     300 B  4.77 MiB   5000000       300           4           1\n"
		"1.2.3.4      1.00 KiB  1.91 MiB  1.91 MiB      1024   2000000           2           2\n"
		"2001:db8::1      10 B      20 B      30 B        10        20           1           1\n"
		"(3 rows)\n");
	assert_int_equal(run("top", "--since", "@1767225600", "--until",
			     "@1767225661", "--by", "country", "--rx", "-n",
			     "1", NULL),
			 0);
	assert_string_equal(
		out,
		"top 1 country by received bytes, 2026-01-01 00:00:00 to 2026-01-01 00:01:01 UTC\n"
		"country        rx  rx_bytes  rx_packets\n"
		"-------  --------  --------  ----------\n"
		"中国     1.91 MiB   2000000           2\n"
		"(1 row)\n");
	assert_int_equal(run("top", "--since", "2026-01-01", "--until",
			     "2026-01-02", "--by", "process", "--tx", "--csv",
			     NULL),
			 0);
	assert_string_equal(out, "process,tx_bytes,tx_packets\r\n"
				 "curl,5000000,4\r\n"
				 "-,1034,3\r\n");
	/* An empty window is an empty report, not an error. */
	assert_int_equal(run("top", "--since", "2025-01-01", "--until",
			     "2025-01-02", "--json", NULL),
			 0);
	assert_string_equal(out, "[]\n");
}

/*
 * `query top --by asn` over buckets, hours and days: the sums per asn
 * label are those of the rows written, added up here independently;
 * addresses without an asn (NULL or "") are "Unknown", and one asn
 * spans several addresses and countries.
 */
static void test_top_by_asn(void **state)
{
	static const struct geo_labels g[] = {
		{.country = "中国",
		 .isp = "中国电信",
		 .asn = "AS4134 CHINANET-BACKBONE"},
		{.country = "中国",
		 .isp = "中国联通",
		 .asn = "AS4837 CHINA169-BACKBONE"},
		{.country = "美国", .isp = "Google", .asn = "AS15169 GOOGLE"},
		{.country = "日本", .isp = "Google", .asn = "AS15169 GOOGLE"},
		{.country = "德国", .asn = ""},
		{.country = NULL},
	};
	static const char *const names[] = {"AS4134 CHINANET-BACKBONE",
					    "AS4837 CHINA169-BACKBONE",
					    "AS15169 GOOGLE", "Unknown"};
	static const int group[] = {0, 1, 2, 2, 3, 3};
	struct store_config cfg = {.path = NULL,
				   .interval = 60,
				   .keep_buckets = 3 * 3600,
				   .keep_hours = 2 * 86400};
	uint64_t want[4][4] = {{0}};
	char asn_path[600], line[256];
	uint32_t x = 99;
	struct store *s;
	int64_t eth0, t;
	size_t seen = 0;
	char *p;

	(void)state;
	snprintf(asn_path, sizeof(asn_path), "%s/asn.db", dir);
	cfg.path = asn_path;
	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(store_iface(s, "eth0", &eth0), 0);
	/* Four days every 10 minutes: days, hours and buckets are all read. */
	for (t = T0; t < T0 + 4 * 86400; t += 600) {
		assert_int_equal(store_begin(s, t), 0);
		for (int k = 0; k < 4; k++) {
			struct store_row r;
			int i;

			x = x * 1103515245 + 12345;
			i = (int)(x >> 8) % 6;
			r = (struct store_row){
				.addr = test_v4(10, (uint8_t)i, 0, (uint8_t)(x % 3)),
				.geo = &g[i],
				.v = {x % 100000, (x >> 4) % 70000, x % 7 + 1,
				      x % 5}};
			want[group[i]][0] += r.v.tx_bytes;
			want[group[i]][1] += r.v.rx_bytes;
			want[group[i]][2] += r.v.tx_packets;
			want[group[i]][3] += r.v.rx_packets;
			assert_int_equal(store_add(s, eth0, &r), 0);
		}
		assert_int_equal(store_commit(s), 0);
		assert_int_equal(store_maintain(s, t, 0), 0);
	}
	store_close(s);

	db = asn_path;
	assert_int_equal(run("top", "--by", "asn", "-n", "0", "--csv",
			     "--since", "@1767225600", "--until", "@1767571200",
			     NULL),
			 0);
	p = out;
	assert_memory_equal(
		p, "asn,tx_bytes,rx_bytes,tx_packets,rx_packets\r\n", 45);
	for (p = strchr(p, '\n') + 1; *p; p = strchr(p, '\n') + 1) {
		size_t n = (size_t)(strchr(p, '\r') - p);
		size_t k;

		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		for (k = 0; k < 4; k++) {
			char expect[256];

			snprintf(expect, sizeof(expect),
				 "%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64
				 ",%" PRIu64,
				 names[k], want[k][0], want[k][1], want[k][2],
				 want[k][3]);
			if (!strcmp(line, expect))
				break;
		}
		if (k == 4)
			fail_msg("unexpected row '%s'", line);
		seen |= 1u << k;
	}
	assert_int_equal(seen, 15);
	/* The rows went through the rollups: buckets, hours and days. */
	assert_int_equal(run("SELECT count(DISTINCT seconds) AS n FROM traffic",
			     "--csv", NULL),
			 0);
	db = path;
	assert_string_equal(out, "n\r\n3\r\n");
}

static void expect_error(int rc, const char *needle)
{
	assert_int_equal(rc, 2);
	assert_int_equal(lines(err), 1);
	if (!strstr(err, needle))
		fail_msg("stderr '%s' lacks '%s'", err, needle);
	assert_string_equal(out, "");
}

static void test_errors(void **state)
{
	(void)state;
	expect_error(run("DELETE FROM t_bucket", NULL), "read-only");
	expect_error(run("INSERT INTO meta VALUES('x', 1)", NULL), "read-only");
	expect_error(run("SELEC 1", NULL), "SQL error");
	expect_error(run("SELECT nope FROM traffic", NULL), "no such column");
	expect_error(run("SELECT 1; DROP TABLE meta", NULL), "one statement");
	expect_error(run("top", "--by", "planet", NULL), "--by must be");
	expect_error(run("top", "--since", "yesterday", NULL), "--since");
	expect_error(run("top", "-n", "x", NULL), "-n must be");
	expect_error(run("--since", "1h", "SELECT 1", NULL), "belong to");
	expect_error(run(NULL), "give an SQL statement");
	expect_error(run("--frobnicate", NULL), "unknown");
	/* Nothing was written by any of that. */
	assert_int_equal(run("SELECT count(*) AS n FROM meta", NULL), 0);
	assert_string_equal(out, "n\n-\n4\n(1 row)\n");
}

static void test_missing_and_foreign_files(void **state)
{
	char *argv[] = {"query", "--db", "/nonexistent/x.db", "SELECT 1", NULL};
	char txt[sizeof(path)];
	int rc, fe, se;

	(void)state;
	fflush(stderr);
	se = dup(2);
	fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fe, 2);
	rc = query_main(4, argv);
	fflush(stderr);
	dup2(se, 2);
	close(se);
	close(fe);
	slurp(err_path, err, sizeof(err));
	assert_int_equal(rc, 2);
	assert_int_equal(lines(err), 1);
	assert_non_null(strstr(err, "no such file"));

	snprintf(txt, sizeof(txt), "%.200s/text.db", dir);
	{
		FILE *f = fopen(txt, "w");

		assert_non_null(f);
		fputs("not a database at all, just words\n", f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s", txt);
	expect_error(run("SELECT 1", NULL), "cannot read");
}

static void test_units_and_width(void **state)
{
	char b[32];

	(void)state;
	human_bytes(0, b, sizeof(b));
	assert_string_equal(b, "0 B");
	human_bytes(1023, b, sizeof(b));
	assert_string_equal(b, "1023 B");
	human_bytes(1536, b, sizeof(b));
	assert_string_equal(b, "1.50 KiB");
	human_bytes(3ULL << 40, b, sizeof(b));
	assert_string_equal(b, "3.00 TiB");
	assert_int_equal(display_width("abc"), 3);
	assert_int_equal(display_width("中国电信"), 8);
	assert_int_equal(display_width("ｆｕｌｌ"), 8);	 /* fullwidth forms */
	assert_int_equal(display_width("e\xcc\x81"), 1); /* combining acute */
	assert_int_equal(display_width("한국"), 4);
	assert_int_equal(display_width("\xff"), 1); /* invalid byte */
}

static void test_parse_time(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(query_parse_time("24h", 100000, &t), 0);
	assert_int_equal(t, 100000 - 86400);
	assert_int_equal(query_parse_time("7d", 1000000, &t), 0);
	assert_int_equal(t, 1000000 - 7 * 86400);
	assert_int_equal(query_parse_time("90", 1000, &t), 0);
	assert_int_equal(t, 910);
	assert_int_equal(query_parse_time("2026-01-01 00:01:05", 0, &t), 0);
	assert_int_equal(t, T0 + 65);
	assert_int_equal(query_parse_time("2026-01-01T01:00Z", 0, &t), 0);
	assert_int_equal(t, T0 + 3600);
	assert_int_equal(query_parse_time("2024-02-29", 0, &t), 0);
	assert_int_equal(t, 1709164800);
	assert_int_equal(query_parse_time("@5", 0, &t), 0);
	assert_int_equal(t, 5);
	assert_int_not_equal(query_parse_time("1y", 0, &t), 0);
	assert_int_not_equal(query_parse_time("-1h", 0, &t), 0);
	assert_int_not_equal(query_parse_time("2026-13-01", 0, &t), 0);
	assert_int_not_equal(query_parse_time("", 0, &t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_wide_chars),
		cmocka_unit_test(test_csv_json),
		cmocka_unit_test(test_other_view),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_top_by_asn),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_and_foreign_files),
		cmocka_unit_test(test_units_and_width),
		cmocka_unit_test(test_parse_time),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: MIT
/*
 * The SQLite store on real database files in a temporary directory:
 * schema and views, exact sums through the flush, rollups equal to the
 * bucket sums, retention, restore of totals, rollback, and the files it
 * must refuse at start.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "geo_labels.h"
#include "store.h"
#include "store_schema.h"
#include "test_addr.h"

#define T0 1767225600LL /* 2026-01-01 00:00:00 UTC */

static char dir[256];
static char path[512];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/itm_test_store_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct store_config config(void)
{
	return (struct store_config){
		.path = path,
		.interval = 60,
		.keep_buckets = STORE_DEFAULT_KEEP_BUCKETS,
		.keep_hours = STORE_DEFAULT_KEEP_HOURS,
	};
}

static int64_t sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static const struct geo_labels cn = {.country = "中国", .province = "江苏省", .city = "南京市", .isp = "中国电信"};

/* Deterministic pseudo-random traffic: 3 days of flushes every 20 s. */
static uint64_t add_days(struct store *s, int64_t iface, int days,
			 uint64_t *other)
{
	uint64_t sum = 0;
	uint32_t x = 12345;

	*other = 0;
	for (int64_t t = T0; t < T0 + days * 86400LL; t += 20) {
		struct itm_value ov = {7, 0, 0, 0};

		assert_int_equal(store_begin(s, t), 0);
		for (int k = 0; k < 3; k++) {
			struct store_row r = {
				.addr = test_v4(10, 0, 0, (uint8_t)(x % 5)),
				.pid = x % 3 ? 0 : 42,
				.process = x % 3 ? NULL : "curl",
				.geo = x % 2 ? &cn : NULL,
			};

			x = x * 1103515245 + 12345;
			r.v.tx_bytes = x % 1000;
			r.v.rx_bytes = x % 777;
			r.v.tx_packets = 1;
			r.v.rx_packets = 2;
			sum += r.v.tx_bytes + r.v.rx_bytes;
			assert_int_equal(store_add(s, iface, &r), 0);
		}
		assert_int_equal(
			store_add_other(s, iface, STORE_OTHER_OVERFLOW, &ov),
			0);
		*other += 7;
		assert_int_equal(store_commit(s), 0);
		assert_int_equal(store_maintain(s, t, 0), 0);
	}
	return sum;
}

static void test_create_and_views(void **state)
{
	struct store_config cfg = config();
	struct store_iface_state st = {.instance = 99, .seq = 5}, got;
	struct store *s;
	int64_t eth0, eth1;
	struct store_row r = {
		.addr = test_v4(1, 2, 3, 4), .geo = &cn, .v = {100, 1, 200, 2}};
	struct in6_addr six = {{{0x20, 0x01, 0x0d, 0xb8, [15] = 1}}};

	(void)state;
	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(sql_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(store_iface(s, "eth0", &eth0), 0);
	assert_int_equal(store_iface(s, "eth1", &eth1), 0);
	assert_int_not_equal(eth0, eth1);
	assert_int_equal(store_iface(s, "eth0", &eth1), 0);
	assert_int_equal(eth0, eth1);

	st.ctr[ITM_CTR_OVERFLOW_TX].bytes = 1234;
	assert_int_equal(store_begin(s, T0 + 61), 0);
	assert_int_equal(store_add(s, eth0, &r), 0);
	r.addr = six;
	r.geo = NULL;
	r.pid = 7;
	r.process = "nginx";
	assert_int_equal(store_add(s, eth0, &r), 0);
	assert_int_equal(store_set_state(s, eth0, &st), 0);
	assert_int_equal(store_commit(s), 0);

	assert_int_equal(store_get_state(s, eth0, &got), 0);
	assert_int_equal(got.instance, 99);
	assert_int_equal(got.seq, 5);
	assert_int_equal(got.ctr[ITM_CTR_OVERFLOW_TX].bytes, 1234);

	assert_int_equal(sql_int("SELECT count(*) FROM traffic"), 2);
	assert_int_equal(sql_int("SELECT ts FROM traffic LIMIT 1"), T0 + 60);
	assert_int_equal(sql_int("SELECT seconds FROM traffic LIMIT 1"), 60);
	assert_int_equal(sql_int("SELECT count(*) FROM traffic WHERE"
				 " remote_ip = '1.2.3.4' AND country = '中国'"
				 " AND city = '南京市' AND pid = 0"
				 " AND process = '-' AND iface = 'eth0'"),
			 1);
	assert_int_equal(
		sql_int("SELECT count(*) FROM traffic WHERE"
			" remote_ip = '2001:db8::1' AND isp = 'Unknown'"
			" AND pid = 7 AND process = 'nginx'"),
		1);
	assert_int_equal(
		sql_int("SELECT sum(tx_bytes + rx_bytes) FROM traffic"), 600);
	store_close(s);
}

static void test_rollups_exact(void **state)
{
	struct store_config cfg = config();
	struct store *s;
	uint64_t sum, other;
	int64_t eth0, minute_sum, hour_sum;

	(void)state;
	cfg.keep_buckets = 3600 * 5; /* 5 h of buckets */
	cfg.keep_hours = 86400;	     /* 1 day of hours */
	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(store_iface(s, "eth0", &eth0), 0);
	sum = add_days(s, eth0, 3, &other);

	/* The views cover every period exactly once. */
	assert_int_equal(
		sql_int("SELECT sum(tx_bytes + rx_bytes) FROM traffic"), sum);
	assert_int_equal(
		sql_int("SELECT sum(tx_bytes) FROM traffic_other WHERE kind = 'overflow'"),
		other);
	/* All three resolutions are in use. */
	assert_true(sql_int("SELECT count(*) FROM traffic WHERE seconds = 60") >
		    0);
	assert_true(
		sql_int("SELECT count(*) FROM traffic WHERE seconds = 3600") >
		0);
	assert_true(
		sql_int("SELECT count(*) FROM traffic WHERE seconds = 86400") >
		0);
	/* Old buckets are gone: bounded by retention, not uptime. */
	assert_true(sql_int("SELECT min(ts) FROM t_bucket") >=
		    T0 + 3 * 86400 - 6 * 3600);
	/* Each closed hour equals the sum of its buckets. */
	minute_sum = sql_int(
		"SELECT sum(tx_bytes + rx_bytes) FROM t_bucket"
		" WHERE ts >= (SELECT min(ts) FROM t_bucket)"
		" AND ts < (SELECT value FROM meta WHERE key = 'hour_done')");
	hour_sum = sql_int("SELECT sum(tx_bytes + rx_bytes) FROM t_hour"
			   " WHERE ts >= (SELECT min(ts) FROM t_bucket)");
	assert_true(minute_sum > 0);
	assert_int_equal(minute_sum, hour_sum);
	/* Each closed day equals the sum of its hours. */
	assert_int_equal(
		sql_int("SELECT sum(tx_packets) FROM t_day WHERE ts = (SELECT max(ts) FROM t_day)"),
		sql_int("SELECT sum(tx_packets) FROM t_hour WHERE ts >= (SELECT max(ts) FROM t_day)"
			" AND ts < (SELECT max(ts) FROM t_day) + 86400"));
	store_close(s);
}

struct restored {
	uint64_t bytes;
	uint64_t rows;
	uint64_t pid42;
};

static int on_total(void *ctx, const struct store_total *t)
{
	struct restored *r = ctx;

	r->bytes += t->v.tx_bytes + t->v.rx_bytes;
	r->rows++;
	if (t->pid == 42) {
		assert_string_equal(t->process, "curl");
		r->pid42++;
	}
	return 0;
}

static void test_restore(void **state)
{
	struct store_config cfg = config();
	struct itm_value o[STORE_OTHER_MAX];
	struct restored r = {0};
	struct store *s;
	uint64_t sum, other;
	int64_t eth0;

	(void)state;
	cfg.keep_buckets = 3600;
	cfg.keep_hours = 86400;
	cfg.keep_days = 86400; /* totals survive expired days */
	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(store_iface(s, "eth0", &eth0), 0);
	sum = add_days(s, eth0, 3, &other);
	store_close(s);

	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(store_restore(s, on_total, &r), 0);
	assert_int_equal(r.bytes, sum);
	/* 5 addresses x (pid 0, pid 42) */
	assert_int_equal(r.rows, 10);
	assert_int_equal(r.pid42, 5);
	assert_int_equal(store_restore_other(s, eth0, o), 0);
	assert_int_equal(o[STORE_OTHER_OVERFLOW].tx_bytes, other);
	assert_int_equal(o[STORE_OTHER_NON_IP].tx_bytes, 0);
	store_close(s);
}

static void test_rollback_keeps_nothing(void **state)
{
	struct store_config cfg = config();
	struct store *s;
	int64_t eth0;
	struct store_row r = {.addr = test_v4(9, 9, 9, 9), .v = {5, 1, 0, 0}};

	(void)state;
	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(store_iface(s, "eth0", &eth0), 0);
	assert_int_equal(store_begin(s, T0), 0);
	assert_int_equal(store_add(s, eth0, &r), 0);
	store_rollback(s);
	assert_int_equal(sql_int("SELECT count(*) FROM traffic"), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM addrs"), 0);
	/* The address's id died with the transaction: it is made again. */
	assert_int_equal(store_begin(s, T0), 0);
	assert_int_equal(store_add(s, eth0, &r), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(sql_int("SELECT sum(tx_bytes) FROM traffic"), 5);
	store_close(s);
}

struct loaded {
	uint64_t seqs[8];
	int64_t ts[8];
	size_t n, recs;
	uint64_t bytes;
};

static int on_commit(void *ctx, uint64_t seq, int64_t ts_ms,
		     const struct store_outbox_rec *recs, size_t n)
{
	struct loaded *l = ctx;

	l->seqs[l->n] = seq;
	l->ts[l->n++] = ts_ms;
	l->recs += n;
	for (size_t i = 0; i < n; i++)
		l->bytes += recs[i].v.tx_bytes;
	return 0;
}

/*
 * The IPFIX outbox: written inside a commit (a rollback keeps nothing),
 * the position deletes what it covers, per collector; a reopen reads
 * what lies after the position.
 */
static void test_ipfix_outbox(void **state)
{
	struct store_config cfg = config();
	struct store_outbox_rec r[2] = {{.v = {100, 1, 0, 0}},
					{.kind = 2, .v = {7, 1, 0, 0}}};
	struct loaded l = {0};
	struct store *s;
	uint64_t pos, max;
	int64_t eth0, ts;

	(void)state;
	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(store_iface(s, "eth0", &eth0), 0);
	for (uint64_t seq = 1; seq <= 3; seq++) {
		assert_int_equal(store_begin(s, T0), 0);
		assert_int_equal(store_outbox_put(s, eth0, seq, 1000 * seq, r,
						  seq == 2 ? 0 : 2),
				 0);
		assert_int_equal(store_commit(s), 0);
	}
	assert_int_equal(store_begin(s, T0), 0);
	assert_int_equal(store_outbox_put(s, eth0, 4, 4000, r, 2), 0);
	store_rollback(s);
	assert_int_equal(store_begin(s, T0), 0);
	assert_int_equal(store_outbox_ack(s, "c:1/udp", eth0, 1, 1000), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(store_outbox_load(s, "c:1/udp", eth0, &pos, &ts, &max,
					   on_commit, &l),
			 0);
	assert_int_equal(pos, 1);
	assert_int_equal(ts, 1000);
	assert_int_equal(max, 3);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.seqs[0], 2);
	assert_int_equal(l.seqs[1], 3);
	assert_int_equal(l.ts[1], 3000);
	assert_int_equal(l.recs, 2);
	assert_int_equal(l.bytes, 107);
	/* Another collector has no position: everything still kept. */
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_outbox_load(s, "other:2/tcp", eth0, &pos, &ts,
					   &max, on_commit, &l),
			 0);
	assert_int_equal(pos, 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(sql_int("SELECT count(*) FROM ipfix_outbox"), 2);
	store_close(s);
}

/*
 * The path replaced by a FIFO at run time: every begin fails (not a
 * regular file, so no database is open at all), and closing the store
 * then must not touch the database that is not there (it crashed).
 */
static void test_replaced_by_fifo_then_closed(void **state)
{
	struct store_config cfg = config();
	char moved[600];
	struct store *s;
	int64_t eth0;

	(void)state;
	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(store_iface(s, "eth0", &eth0), 0);
	snprintf(moved, sizeof(moved), "%s.moved", path);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_true(store_begin(s, T0) < 0);
	assert_non_null(strstr(store_errmsg(s), "not a regular file"));
	assert_true(store_begin(s, T0 + 60) < 0);
	store_close(s);
	unlink(path);
}

/* Every row of a statement as one string, to compare before and after. */
static char *sql_text(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t len = 0, cap = 1 << 16;
	char *out = calloc(1, cap);

	assert_non_null(out);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *v =
				(const char *)sqlite3_column_text(st, i);

			len += (size_t)snprintf(out + len, cap - len, "%s|",
						v ? v : "NULL");
			assert_true(len < cap - 1);
		}
		out[len++] = '\n';
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/*
 * A database written by schema 1 (its SQL, STORE_SCHEMA_V1, and rows in
 * every table) is migrated on open: every row and id is kept, the old
 * addresses read 'Unknown' as asn, and new rows carry their asn.
 */
static void test_migrates_schema_1(void **state)
{
	static const char *const tables[] = {
		"SELECT * FROM meta ORDER BY key",
		"SELECT * FROM ifaces ORDER BY id",
		"SELECT * FROM procs ORDER BY id",
		"SELECT * FROM kernel_counters ORDER BY iface_id, idx",
		"SELECT * FROM t_bucket ORDER BY ts, addr_id",
		"SELECT * FROM t_hour ORDER BY ts, addr_id",
		"SELECT * FROM t_day ORDER BY ts, addr_id",
		"SELECT * FROM t_total ORDER BY addr_id",
		"SELECT * FROM o_bucket ORDER BY ts",
		"SELECT id, hex(ip), remote_ip, country, province, city, isp"
		" FROM addrs ORDER BY id",
		"SELECT ts, seconds, iface, remote_ip, pid, process, country,"
		" province, city, isp, tx_bytes, rx_bytes, tx_packets,"
		" rx_packets FROM traffic ORDER BY ts, remote_ip",
	};
	const struct geo_labels as = {.country = "中国",
				      .province = "江苏省",
				      .city = "南京市",
				      .isp = "中国电信",
				      .asn = "AS4134 CHINANET-BACKBONE"};
	struct store_config cfg = config();
	struct store_row r = {
		.addr = test_v4(1, 2, 3, 4), .geo = &as, .v = {7, 8, 9, 10}};
	char *before[sizeof(tables) / sizeof(tables[0])];
	struct store *s;
	sqlite3 *db;
	int64_t eth0;

	(void)state;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, STORE_SCHEMA_V1, NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(
			db,
			"PRAGMA user_version = 1;"
			"UPDATE meta SET value = 1767229200"
			" WHERE key IN ('hour_done', 'bucket_from');"
			"UPDATE meta SET value = 1767225600"
			" WHERE key IN ('day_done', 'hour_from');"
			"INSERT INTO ifaces(id, name, instance, seq) VALUES(1, 'eth0', 5, 6);"
			"INSERT INTO kernel_counters VALUES(1, 0, 11, 1100);"
			"INSERT INTO addrs VALUES(3, x'00000000000000000000ffff01020304',"
			" '1.2.3.4', '中国', '江苏省', '南京市', '中国电信'),"
			" (7, x'20010db8000000000000000000000001', '2001:db8::1',"
			" 'Unknown', 'Unknown', 'Unknown', 'Unknown');"
			"INSERT INTO procs VALUES(1, 0, '-'), (2, 42, 'curl');"
			"INSERT INTO t_hour VALUES(1767225600, 1, 3, 2, 100, 200, 3, 4),"
			" (1767225600, 1, 7, 1, 5, 6, 1, 1);"
			"INSERT INTO t_bucket VALUES(1767229200, 1, 3, 1, 60, 1000, 2000, 10, 20),"
			" (1767229260, 1, 7, 2, 60, 30, 40, 1, 2);"
			"INSERT INTO t_day VALUES(1767139200, 1, 3, 2, 9, 9, 9, 9);"
			"INSERT INTO t_total VALUES(1, 3, 2, 9, 9, 9, 9);"
			"INSERT INTO o_bucket VALUES(1767229200, 1, 0, 60, 1, 2, 3, 4);",
			NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		before[i] = sql_text(tables[i]);
	assert_int_equal(sql_int("SELECT count(*) FROM traffic"), 5);

	assert_int_equal(store_open(&cfg, &s), 0);
	assert_int_equal(sql_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char *after = sql_text(tables[i]);

		assert_string_equal(after, before[i]);
		free(after);
		free(before[i]);
	}
	assert_int_equal(sql_int("SELECT count(*) FROM addrs"
				 " WHERE asn = 'Unknown'"),
			 2);
	assert_int_equal(sql_int("SELECT count(*) FROM traffic"
				 " WHERE asn = 'Unknown'"),
			 5);

	/* Same address and labels with an asn: a new address row. */
	assert_int_equal(store_iface(s, "eth0", &eth0), 0);
	assert_int_equal(eth0, 1);
	assert_int_equal(store_begin(s, T0 + 7200), 0);
	assert_int_equal(store_add(s, eth0, &r), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM addrs"), 3);
	assert_int_equal(sql_int("SELECT sum(tx_bytes) FROM traffic"
				 " WHERE asn = 'AS4134 CHINANET-BACKBONE'"),
			 7);
	assert_int_equal(sql_int("SELECT sum(tx_bytes) FROM traffic"
				 " WHERE asn = 'Unknown'"),
			 100 + 5 + 1000 + 30 + 9);
	/* Reopening a migrated file changes nothing. */
	assert_int_equal(store_open(&cfg, &s), 0);
	store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM addrs"), 3);
}

static void write_file(const char *p, const void *buf, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static void test_refuses_bad_files(void **state)
{
	struct store_config cfg = config();
	struct store *s;
	sqlite3 *db;
	char *garbage;

	(void)state;
	/* Not SQLite. */
	write_file(path, "hello, I am a text file\n", 24);
	assert_int_equal(store_open(&cfg, &s), -EILSEQ);
	assert_null(s);
	unlink(path);

	/* Another program's SQLite database. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db, "CREATE TABLE x(a)", NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(&cfg, &s), -EEXIST);
	unlink(path);

	/* A newer schema. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(&cfg, &s), -EPROTO);
	unlink(path);

	/* Locked by another writer. */
	assert_int_equal(store_open(&cfg, &s), 0);
	store_close(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(store_open(&cfg, &s), -EBUSY);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	unlink(path);

	/* Damaged pages in a real database. */
	assert_int_equal(store_open(&cfg, &s), 0);
	{
		int64_t eth0;

		assert_int_equal(store_iface(s, "eth0", &eth0), 0);
		for (int i = 0; i < 50; i++) {
			struct store_row r = {.addr = test_v4(10, 1, (uint8_t)i, 1),
					      .v = {1, 1, 1, 1}};

			assert_int_equal(store_begin(s, T0 + i * 60), 0);
			assert_int_equal(store_add(s, eth0, &r), 0);
			assert_int_equal(store_commit(s), 0);
		}
	}
	store_close(s);
	garbage = malloc(4096 * 3);
	assert_non_null(garbage);
	memset(garbage, 0xa5, 4096 * 3);
	{
		int fd = open(path, O_WRONLY);

		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, garbage, 4096 * 3, 4096), 4096 * 3);
		close(fd);
	}
	free(garbage);
	assert_int_equal(store_open(&cfg, &s), -EILSEQ);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_views, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rollups_exact, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_keeps_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_replaced_by_fifo_then_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_schema_1, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ipfix_outbox, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

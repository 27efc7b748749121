// SPDX-License-Identifier: MIT
/*
 * The --db store's costs, through the daemon's own code (user/store/store.c,
 * user/store/query.c):
 *  1. one flush (one transaction) of N active addresses: first sight
 *     (new address rows), steady state (a new bucket), and a second flush
 *     into the same bucket (upsert of existing rows);
 *  2. `query top --since 24h` over a synthetic day of A active addresses
 *     per minute (25 hours written through store_add/store_maintain, as
 *     the daemon does, so hourly rollups exist), window not hour-aligned;
 *  3. bytes on disk per stored row.
 *
 *   build/bench/store_bench [DIR] [N] [A] [HOURS]   (defaults /tmp, 65536,
 *                                                    10000, 25)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "geo_labels.h"
#include "query.h"
#include "store.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of this process: what a flush costs, whatever else runs. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct in6_addr nth(uint32_t i)
{
	struct in6_addr a = {0};

	if (i & 1) {
		a.s6_addr[0] = 0x20;
		a.s6_addr[1] = 0x01;
		a.s6_addr[2] = 0x0d;
		a.s6_addr[3] = 0xb8;
	} else {
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
	}
	a.s6_addr[12] = (uint8_t)(i >> 24);
	a.s6_addr[13] = (uint8_t)(i >> 16);
	a.s6_addr[14] = (uint8_t)(i >> 8);
	a.s6_addr[15] = (uint8_t)i;
	return a;
}

static const struct geo_labels labels[] = {
	{.country = "中国", .province = "江苏省", .city = "南京市", .isp = "中国电信"},
	{.country = "美国", .province = "加利福尼亚州", .city = "芒廷维尤", .isp = "Google"},
	{.country = "日本", .province = "东京都", .city = "东京", .isp = "NTT"},
	{.country = NULL, .province = NULL, .city = NULL, .isp = NULL},
};

static int flush(struct store *s, int64_t iface, int64_t t, uint32_t first,
		 uint32_t n, uint32_t modulo)
{
	int err = store_begin(s, t);

	for (uint32_t i = 0; !err && i < n; i++) {
		uint32_t k = modulo ? (first + i) % modulo : first + i;
		struct store_row r = {
			.addr = nth(k),
			.pid = k % 7 ? 0 : 1000 + k % 50,
			.process = k % 7 ? NULL : "nginx",
			.geo = &labels[k % 4],
			.v = {1000 + k % 1500, 3 + k % 5, 2000 + k % 900,
			      4 + k % 3},
		};

		err = store_add(s, iface, &r);
	}
	if (!err)
		err = store_commit(s);
	if (err) {
		fprintf(stderr, "flush failed: %s\n", store_errmsg(s));
		store_rollback(s);
	}
	return err;
}

static int64_t count(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL))
		return -1;
	if (!sqlite3_prepare_v2(db, sql, -1, &st, NULL)) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	uint32_t n = argc > 2 ? (uint32_t)atoi(argv[2]) : 65536;
	uint32_t active = argc > 3 ? (uint32_t)atoi(argv[3]) : 10000;
	int hours = argc > 4 ? atoi(argv[4]) : 25;
	char path[4096], q_since[32], q_until[32];
	struct store_config cfg = {
		.path = path,
		.interval = 60,
		.keep_buckets = STORE_DEFAULT_KEEP_BUCKETS,
		.keep_hours = STORE_DEFAULT_KEEP_HOURS,
	};
	double t[3][5], c[3][5], q[5], qc[5];
	struct store *s;
	int64_t iface, base = 1767225600; /* 2026-01-01 00:00 UTC */
	struct stat st;
	int64_t rows;

	/* 1. flushes of n addresses */
	snprintf(path, sizeof(path), "%s/itm_store_bench_%d.db", dir,
		 (int)getpid());
	unlink(path);
	if (store_open(&cfg, &s) || store_iface(s, "eth0", &iface))
		return 1;
	for (int r = 0; r < 5; r++) {
		double t0 = now_s(), c0 = cpu_s();

		/* new addresses each round: first sight */
		if (flush(s, iface, base + r * 120, (uint32_t)r * n, n, 0))
			return 1;
		t[0][r] = now_s() - t0;
		c[0][r] = cpu_s() - c0;
		t0 = now_s();
		c0 = cpu_s();
		/* the same addresses again, next bucket: steady state */
		if (flush(s, iface, base + r * 120 + 60, (uint32_t)r * n, n, 0))
			return 1;
		t[1][r] = now_s() - t0;
		c[1][r] = cpu_s() - c0;
		t0 = now_s();
		c0 = cpu_s();
		/* and once more into that bucket: upserts */
		if (flush(s, iface, base + r * 120 + 61, (uint32_t)r * n, n, 0))
			return 1;
		t[2][r] = now_s() - t0;
		c[2][r] = cpu_s() - c0;
	}
	store_close(s);
	for (int k = 0; k < 3; k++) {
		qsort(t[k], 5, sizeof(double), cmp_double);
		qsort(c[k], 5, sizeof(double), cmp_double);
	}
	printf("one flush (one transaction) of %u addresses, ms:"
	       " wall median/min/max, CPU median/min\n",
	       n);
	{
		static const char *const what[3] = {"new addresses    ",
						    "known, new bucket",
						    "same bucket again"};

		for (int k = 0; k < 3; k++)
			printf("  %s  %7.1f %7.1f %7.1f   %7.1f %7.1f\n",
			       what[k], t[k][2] * 1e3, t[k][0] * 1e3,
			       t[k][4] * 1e3, c[k][2] * 1e3, c[k][0] * 1e3);
	}
	unlink(path);

	/* 2. a synthetic day: `active` addresses per minute, 25 hours */
	snprintf(path, sizeof(path), "%s/itm_store_day_%d.db", dir,
		 (int)getpid());
	unlink(path);
	if (store_open(&cfg, &s) || store_iface(s, "eth0", &iface))
		return 1;
	{
		double t0 = now_s(), worst_maint = 0;

		for (int m = 0; m < hours * 60; m++) {
			int64_t when = base + m * 60;
			double tm;

			/* 3x the active set over the day: addresses come and go
			 */
			if (flush(s, iface, when, (uint32_t)m * (active / 20),
				  active, active * 3))
				return 1;
			tm = now_s();
			if (store_maintain(s, when + 59, 0)) {
				fprintf(stderr, "maintain: %s\n",
					store_errmsg(s));
				return 1;
			}
			tm = now_s() - tm;
			if (tm > worst_maint)
				worst_maint = tm;
		}
		printf("synthetic %d h x %u addresses/minute written in %.1f s"
		       " (slowest hourly rollup %.0f ms)\n",
		       hours, active, now_s() - t0, worst_maint * 1e3);
	}
	store_close(s);
	/* A 24 h window that starts and ends mid-hour: the worst case. */
	snprintf(q_since, sizeof(q_since), "@%lld",
		 (long long)(base + 3600 * (hours - 24) - 1830));
	snprintf(q_until, sizeof(q_until), "@%lld",
		 (long long)(base + 3600 * hours - 1830));
	{
		char *args[] = {"query",   "top",   "--db",    path,
				"--since", q_since, "--until", q_until,
				"-n",	   "10",    NULL};
		int saved = dup(STDOUT_FILENO),
		    null = open("/dev/null", O_WRONLY);

		for (int r = 0; r < 5; r++) {
			double t0 = now_s(), c0 = cpu_s();
			int rc;

			fflush(stdout);
			dup2(null, STDOUT_FILENO);
			rc = query_main(10, args);
			fflush(stdout);
			dup2(saved, STDOUT_FILENO);
			q[r] = now_s() - t0;
			qc[r] = cpu_s() - c0;
			if (rc) {
				fprintf(stderr, "query top failed\n");
				return 1;
			}
		}
		close(null);
		close(saved);
		qsort(q, 5, sizeof(double), cmp_double);
		qsort(qc, 5, sizeof(double), cmp_double);
		printf("query top --since 24h (unaligned window), ms: wall median %.0f, min %.0f, max %.0f; CPU median %.0f, min %.0f\n",
		       q[2] * 1e3, q[0] * 1e3, q[4] * 1e3, qc[2] * 1e3,
		       qc[0] * 1e3);
	}
	rows = count(path, "SELECT (SELECT count(*) FROM t_bucket) +"
			   " (SELECT count(*) FROM t_hour) +"
			   " (SELECT count(*) FROM t_day)");
	if (!stat(path, &st) && rows > 0) {
		int64_t b = count(path, "SELECT count(*) FROM t_bucket");

		printf("file %.1f MiB for %lld rows (%lld bucket rows):"
		       " %.1f bytes per row\n",
		       st.st_size / 1048576.0, (long long)rows, (long long)b,
		       (double)st.st_size / (double)rows);
	}
	unlink(path);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * Sustained rows per second of simulated monitors into a --db store,
 * through the store's own code (store.h → store_ops.h: the ClickHouse,
 * PostgreSQL or SQLite writer, whatever it does per drain):
 *
 *   build/bench/ch_bench PROCS ADDRS DRAINS TARGET [TARGET ...]
 *
 * For each TARGET (a --db value, or several separated by commas: the
 * monitors are spread over them, e.g. the nodes of a cluster), PROCS
 * processes each open the store as their own --db-host (bench-0 ...),
 * wait until all are open, then do DRAINS drains of ADDRS addresses
 * each (geo labels, every seventh row with a process, the overflow row
 * and the interface state, as the daemon flushes), one minute apart.
 * Prints rows/s of all monitors together (address rows / wall time from
 * the start signal until the last monitor is done), each drain's median
 * and worst time, and the ratio of every target against the first one,
 * measured in the same run.  Use throwaway databases: the rows stay.
 * ITM_BENCH_BASE=UNIX_TIME moves the first drain's minute (default
 * 2026-01-01 00:00 UTC), e.g. into the last hour for queries of "now".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "geo_labels.h"
#include "store.h"

/* 2026-01-01 00:00 UTC: drains are one minute apart from there. */
static int64_t bench_base = 1767225600;

struct result {
	double rows_s, med_ms, max_ms;
	int failed;
};

static const struct geo_labels labels[] = {
	{.country = "中国",
	 .province = "江苏省",
	 .city = "南京市",
	 .isp = "中国电信"},
	{.country = "中国",
	 .province = "广东省",
	 .city = "深圳市",
	 .isp = "中国移动"},
	{.country = "美国",
	 .province = "加利福尼亚州",
	 .city = "芒廷维尤",
	 .isp = "Google"},
	{.country = "日本", .province = "东京都", .city = "东京", .isp = "NTT"},
	{.country = NULL, .province = NULL, .city = NULL, .isp = NULL},
};

/* Monitor m's address number k: IPv4-mapped and IPv6 mixed. */
static struct in6_addr nth(uint32_t m, uint32_t k)
{
	struct in6_addr a = {0};

	if (k & 1) {
		a.s6_addr[0] = 0x20;
		a.s6_addr[1] = 0x01;
		a.s6_addr[2] = 0x0d;
		a.s6_addr[3] = 0xb8;
		a.s6_addr[8] = (uint8_t)m;
	} else {
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
	}
	a.s6_addr[12] = (uint8_t)(k >> 24);
	a.s6_addr[13] = (uint8_t)(k >> 16);
	a.s6_addr[14] = (uint8_t)(k >> 8);
	a.s6_addr[15] = (uint8_t)k;
	return a;
}

/*
 * Counters that vary like real ones (a hash of monitor, address and
 * drain), so that bytes per row are not flattered by compression of
 * regular values.  tests/e2e/test_ch_sql_examples.py computes the same.
 */
static uint32_t mix(uint32_t m, uint32_t k, uint64_t seq, uint32_t salt)
{
	uint32_t x = k * 2654435761u ^ (uint32_t)seq * 2246822519u ^
		     m * 3266489917u ^ salt;

	x ^= x >> 15;
	x *= 2246822519u;
	x ^= x >> 13;
	return x;
}

static struct itm_value counters(uint32_t m, uint32_t k, uint64_t seq)
{
	uint32_t t = mix(m, k, seq, 0), r = mix(m, k, seq, 0x9e3779b9u);
	uint64_t tp = 1 + t % 200, rp = 1 + r % 300;

	return (struct itm_value){.tx_bytes = tp * (40 + (t >> 8) % 1461),
				  .tx_packets = tp,
				  .rx_bytes = rp * (40 + (r >> 8) % 1461),
				  .rx_packets = rp};
}

static int drain(struct store *s, int64_t iface, uint32_t m, uint32_t addrs,
		 uint64_t seq)
{
	struct store_iface_state st = {.instance = 1 + m, .seq = seq};
	struct itm_value other = {1500, 1, 0, 0};
	int err = store_begin(s, bench_base + (int64_t)seq * 60);

	for (uint32_t k = 0; !err && k < addrs; k++) {
		struct store_row r = {
			.addr = nth(m, k),
			.pid = k % 7 ? 0 : 1000 + k % 50,
			.process = k % 7 ? NULL : "nginx",
			.geo = &labels[k % 5],
			.v = counters(m, k, seq),
		};

		err = store_add(s, iface, &r);
	}
	if (!err)
		err = store_add_other(s, iface, STORE_OTHER_OVERFLOW, &other);
	if (!err)
		err = store_set_state(s, iface, &st);
	if (!err)
		err = store_commit(s);
	if (err) {
		fprintf(stderr, "monitor %u: drain %llu failed: %s\n", m,
			(unsigned long long)seq, store_errmsg(s));
		store_rollback(s);
	}
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * One simulated monitor: open, say so on `ready`, wait for the go byte,
 * drain; its drain times (s) go back on `out`, a negative one on failure.
 */
static int monitor(const char *url, uint32_t m, uint32_t addrs, int drains,
		   int ready, int go, int out)
{
	char host[32];
	struct store_config cfg = {.path = url, .host = host, .interval = 60};
	struct store *s;
	int64_t iface;
	double t = -1;
	char c;

	snprintf(host, sizeof(host), "bench-%u", m);
	if (store_open(&cfg, &s) || store_iface(s, "eth0", &iface)) {
		(void)!write(ready, "x", 1);
		return 1;
	}
	(void)!write(ready, "o", 1);
	(void)!read(go, &c, 1); /* EOF: the parent closed it, go */
	for (int d = 0; d < drains; d++) {
		double t0 = monotonic_seconds();

		if (drain(s, iface, m, addrs, (uint64_t)d + 1)) {
			t = -1;
			(void)!write(out, &t, sizeof(t));
			break;
		}
		t = monotonic_seconds() - t0;
		(void)!write(out, &t, sizeof(t));
	}
	store_close(s);
	return t < 0;
}

/* The monitors of one target; 0, or -EIO when one failed. */
static int run_target(char *target, int procs, uint32_t addrs, int drains,
		      struct result *res)
{
	char *urls[64];
	int nurls = 0, ready[2], go[2], out[2], opened = 0, err = 0;
	size_t ntimes = (size_t)procs * drains, got = 0;
	double *times = calloc(ntimes, sizeof(*times)), t0, t;
	char c;

	for (char *u = strtok(target, ","); u && nurls < 64;
	     u = strtok(NULL, ","))
		urls[nurls++] = u;
	if (!times || !nurls || pipe(ready) || pipe(go) || pipe(out)) {
		free(times);
		return -ENOMEM;
	}
	for (int m = 0; m < procs; m++) {
		pid_t pid = fork();

		if (pid < 0) {
			err = -errno;
			break;
		}
		if (!pid) {
			close(go[1]);
			_exit(monitor(urls[m % nurls], (uint32_t)m, addrs,
				      drains, ready[1], go[0], out[1]));
		}
	}
	close(ready[1]);
	close(go[0]);
	close(out[1]);
	for (int m = 0; m < procs && read(ready[0], &c, 1) == 1; m++)
		opened += c == 'o';
	if (opened < procs)
		err = -EIO;
	t0 = monotonic_seconds();
	close(go[1]); /* EOF wakes them all; the failed ones are gone */
	while (got < ntimes && read(out[0], &t, sizeof(t)) == sizeof(t)) {
		if (t < 0)
			err = -EIO;
		else
			times[got++] = t;
	}
	t = monotonic_seconds() - t0;
	while (wait(NULL) > 0)
		;
	close(ready[0]);
	close(out[0]);
	if (got) {
		qsort(times, got, sizeof(*times), cmp_double);
		res->med_ms = times[got / 2] * 1e3;
		res->max_ms = times[got - 1] * 1e3;
	}
	res->rows_s = (double)got * addrs / t;
	res->failed = err != 0;
	free(times);
	return err;
}

int main(int argc, char **argv)
{
	int procs = argc > 1 ? atoi(argv[1]) : 0;
	long addrs = argc > 2 ? atol(argv[2]) : 0;
	int drains = argc > 3 ? atoi(argv[3]) : 0;
	struct result res[16] = {0};
	const char *base = getenv("ITM_BENCH_BASE");
	struct utsname u;
	int ntarget = argc - 4, rc = 0;

	if (argc < 5 || procs < 1 || procs > 256 || addrs < 1 || drains < 1 ||
	    ntarget > 16) {
		fprintf(stderr,
			"usage: %s PROCS ADDRS DRAINS TARGET [TARGET"
			" ...]  (TARGET: --db value[,value...])\n",
			argv[0]);
		return 2;
	}
	if (base)
		bench_base = strtoll(base, NULL, 10);
	uname(&u);
	printf("kernel %s; %d monitors x %d drains of %ld addresses per"
	       " target\n\n",
	       u.release, procs, drains, addrs);
	printf("| target | rows/s | drain median ms | drain max ms | ratio |\n"
	       "|---|---|---|---|---|\n");
	for (int i = 0; i < ntarget; i++) {
		const char *scheme = argv[4 + i];
		char shown[16];

		/* The scheme only: the rest may hold a password. */
		snprintf(shown, sizeof(shown), "%.*s",
			 (int)strcspn(scheme, ":"), scheme);
		if (run_target(argv[4 + i], procs, (uint32_t)addrs, drains,
			       &res[i]))
			rc = 1;
		printf("| %d %s | %.0f | %.1f | %.1f | %.2f%s |\n", i + 1,
		       shown, res[i].rows_s, res[i].med_ms, res[i].max_ms,
		       res[0].rows_s > 0 ? res[i].rows_s / res[0].rows_s : 0,
		       res[i].failed ? " (FAILED)" : "");
		fflush(stdout);
	}
	return rc;
}

// SPDX-License-Identifier: MIT
/*
 * Drives the store (store.h, either backend) with synthetic flushes at
 * simulated times, so tests can force hours and days to close without
 * waiting for them:
 *
 *   pg_drive --db URL|FILE [--host H] [--seed S] [--start T] [--rounds R]
 *            [--step SEC] [--addrs N] [--interval SEC] [--keep-buckets SEC]
 *            [--keep-hours SEC] [--keep-days SEC] [--no-maintain]
 *            [--maintain-at T] [--max-hours N] [--quiet]
 *
 * Round r flushes at T + r * SEC, then (unless --no-maintain) runs
 * store_maintain() at that time.  Every committed row is printed after
 * its COMMIT returned, as the ground truth the test sums independently:
 *
 *   R <bucket ts> <remote_ip> <pid> <process> <country> <isp> | <asn> |
 *     tx rx txp rxp
 *   O <bucket ts> <kind> tx rx txp rxp
 *
 * --maintain-at T writes nothing and runs store_maintain() at T once
 * (ITM_TEST_KILL_IN_ROLLUP applies).  Prints "maintain SECONDS" per call
 * with a non-trivial duration on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "clock.h"
#include "geo_labels.h"
#include "store.h"

static const struct geo_labels geo[] = {
	{.country = "China",
	 .province = "Beijing",
	 .city = "Beijing",
	 .isp = "China Telecom",
	 .asn = "AS4134 CHINANET-BACKBONE"},
	{.country = "China",
	 .province = "Guangdong",
	 .city = "Shenzhen",
	 .isp = "China Unicom",
	 .asn = "AS4837 CHINA169-BACKBONE"},
	{.country = "United States",
	 .province = "California",
	 .city = "Los Angeles",
	 .isp = "Example ISP",
	 .asn = ""}, /* Unknown */
	{.country = NULL,
	 .province = NULL,
	 .city = NULL,
	 .isp = NULL,
	 .asn = NULL}, /* Unknown */
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static void address(unsigned i, struct in6_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (i % 2) {
		/* 2001:db8::/32 */
		a->s6_addr[0] = 0x20;
		a->s6_addr[1] = 0x01;
		a->s6_addr[2] = 0x0d;
		a->s6_addr[3] = 0xb8;
		a->s6_addr[14] = (uint8_t)(i >> 8);
		a->s6_addr[15] = (uint8_t)i;
	} else {
		/* ::ffff:203.0.113.0/24 and 198.51.100.0/24 */
		a->s6_addr[10] = 0xff;
		a->s6_addr[11] = 0xff;
		a->s6_addr[12] = (i / 2) % 2 ? 198 : 203;
		a->s6_addr[13] = (i / 2) % 2 ? 51 : 0;
		a->s6_addr[14] = (i / 2) % 2 ? 100 : 113;
		a->s6_addr[15] = (uint8_t)(i / 4);
	}
}

static const char *lbl(const char *s)
{
	return s && s[0] ? s : "Unknown";
}

static int maintain(struct store *s, int64_t now, unsigned max_hours)
{
	double t0 = monotonic_seconds();
	int err = store_maintain(s, now, max_hours);

	t0 = monotonic_seconds() - t0;
	if (t0 > 0.05)
		fprintf(stderr, "maintain %.3f\n", t0);
	if (err)
		fprintf(stderr, "maintain at %lld failed: %s\n", (long long)now,
			store_errmsg(s));
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"host", required_argument, NULL, 'H'},
		{"seed", required_argument, NULL, 's'},
		{"start", required_argument, NULL, 't'},
		{"rounds", required_argument, NULL, 'r'},
		{"step", required_argument, NULL, 'p'},
		{"addrs", required_argument, NULL, 'a'},
		{"interval", required_argument, NULL, 'i'},
		{"keep-buckets", required_argument, NULL, 'B'},
		{"keep-hours", required_argument, NULL, 'O'},
		{"keep-days", required_argument, NULL, 'D'},
		{"no-maintain", no_argument, NULL, 'n'},
		{"maintain-at", required_argument, NULL, 'm'},
		{"max-hours", required_argument, NULL, 'x'},
		{"quiet", no_argument, NULL, 'q'},
		{0},
	};
	struct store_config cfg = {
		.interval = 60,
		.keep_buckets = STORE_DEFAULT_KEEP_BUCKETS,
		.keep_hours = STORE_DEFAULT_KEEP_HOURS,
		.keep_days = STORE_DEFAULT_KEEP_DAYS,
	};
	uint64_t seed = 1;
	int64_t start = 1700000000, step = 600, maintain_at = 0;
	long rounds = 10;
	unsigned addrs = 20, max_hours = 24;
	bool no_maintain = false, only_maintain = false, quiet = false;
	struct store *s;
	int64_t iface;
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.path = optarg;
			break;
		case 'H':
			cfg.host = optarg;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 't':
			start = strtoll(optarg, NULL, 10);
			break;
		case 'r':
			rounds = strtol(optarg, NULL, 10);
			break;
		case 'p':
			step = strtoll(optarg, NULL, 10);
			break;
		case 'a':
			addrs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'i':
			cfg.interval = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'B':
			cfg.keep_buckets = strtoull(optarg, NULL, 10);
			break;
		case 'O':
			cfg.keep_hours = strtoull(optarg, NULL, 10);
			break;
		case 'D':
			cfg.keep_days = strtoull(optarg, NULL, 10);
			break;
		case 'n':
			no_maintain = true;
			break;
		case 'm':
			only_maintain = true;
			maintain_at = strtoll(optarg, NULL, 10);
			break;
		case 'x':
			max_hours = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'q':
			quiet = true;
			break;
		default:
			return 2;
		}
	}
	if (!cfg.path) {
		fprintf(stderr, "pg_drive: --db is required\n");
		return 2;
	}
	if (store_open(&cfg, &s))
		return 1;
	if (only_maintain) {
		err = maintain(s, maintain_at, max_hours);
		store_close(s);
		return err ? 1 : 0;
	}
	if (store_iface(s, "eth0", &iface)) {
		fprintf(stderr, "iface: %s\n", store_errmsg(s));
		return 1;
	}
	for (long r = 0; r < rounds && !err; r++) {
		int64_t now = start + r * step;
		int64_t ts = now - now % cfg.interval;
		struct store_iface_state st = {.instance = seed,
					       .seq = (uint64_t)r + 1};
		struct itm_value other;
		char line[64 * 1024];
		size_t len = 0;

		err = store_begin(s, now);
		for (unsigned i = 0; !err && i < addrs; i++) {
			uint64_t h =
				mix(seed * 1000003 + (uint64_t)r * 7919 + i);
			struct store_row row = {
				.pid = 100 + i % 5,
				.geo = &geo[i % 4],
			};
			char comm[16], ip[INET6_ADDRSTRLEN];

			if (h % 4 == 0)
				continue; /* not every address every round */
			address(i, &row.addr);
			snprintf(comm, sizeof(comm), "proc%u", i % 5);
			row.process = comm;
			row.v.tx_bytes = h % 1000003;
			row.v.rx_bytes = (h >> 20) % 2000003;
			row.v.tx_packets = 1 + (h >> 40) % 1000;
			row.v.rx_packets = (h >> 50) % 700;
			err = store_add(s, iface, &row);
			addr_format(&row.addr, ip);
			if (quiet)
				continue;
			if (len < sizeof(line) - 512)
				len += (size_t)snprintf(
					line + len, sizeof(line) - len,
					"R %lld %s %u %s %s %s | %s | %llu %llu %llu %llu\n",
					(long long)ts, ip, row.pid, comm,
					lbl(row.geo->country),
					lbl(row.geo->isp), lbl(row.geo->asn),
					(unsigned long long)row.v.tx_bytes,
					(unsigned long long)row.v.rx_bytes,
					(unsigned long long)row.v.tx_packets,
					(unsigned long long)row.v.rx_packets);
			else
				err = -E2BIG; /* use --quiet for that many */
		}
		other = (struct itm_value){r + 1, 2 * r, 1, (uint64_t)r % 2};
		if (!err)
			err = store_add_other(s, iface, STORE_OTHER_NON_IP,
					      &other);
		if (!err)
			err = store_set_state(s, iface, &st);
		if (!err)
			err = store_commit(s);
		if (err) {
			fprintf(stderr, "flush %ld failed: %s\n", r,
				store_errmsg(s));
			store_rollback(s);
			break;
		}
		if (!quiet) {
			fwrite(line, 1, len, stdout);
			printf("O %lld non_ip %llu %llu %llu %llu\n",
			       (long long)ts,
			       (unsigned long long)other.tx_bytes,
			       (unsigned long long)other.rx_bytes,
			       (unsigned long long)other.tx_packets,
			       (unsigned long long)other.rx_packets);
			fflush(stdout);
		}
		if (!no_maintain)
			err = maintain(s, now, max_hours);
	}
	store_close(s);
	return err ? 1 : 0;
}

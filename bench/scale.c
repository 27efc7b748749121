// SPDX-License-Identifier: MIT
/*
 * Exporter and aggregation scale: N tracked remote addresses pushed through
 * the code path the daemon uses every sample interval.
 *
 *  1. A real per-CPU BPF hash map (the kernel side of one poll) is filled
 *     with N keys and drained by the daemon's drain_map() (user/kernel/drain.c,
 *     batches of 4096 as the collector uses): "drain" time is its time
 *     minus the merge time.
 *  2. Each drained batch is merged by the daemon's ip_table_merge_batch()
 *     (user/core/table.c), as the collector does: "merge" time, first poll
 *     (all inserts) and a second poll (all updates).
 *  3. metrics_render() of the whole table with every address exported
 *     (-t 0): time and size, plus its gzip size at the level user/export/http.c
 *     uses (1).
 *  4. Resident memory per tracked address: VmRSS growth of this process
 *     while the table is built, divided by N.
 *
 * Needs root (BPF map).  Prints one "key=value" line per N.
 *
 *   scale N [N ...]
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "clock.h"
#include "drain.h"
#include "itm_shared.h"
#include "metrics.h"
#include "strbuf.h"
#include "table.h"
#include "bench_rss.h"

#define BATCH_ENTRIES 4096 /* as user/core/collector.c */

/* Address i: IPv4-mapped for even i, a 2001:db8::/32 address for odd i. */
static void make_key(size_t i, struct itm_key *k)
{
	memset(k, 0, sizeof(*k));
	if (i % 2 == 0) {
		uint32_t v4 = 0x0a000000u + (uint32_t)(i / 2); /* 10.x.y.z */

		k->addr[10] = 0xff;
		k->addr[11] = 0xff;
		k->addr[12] = v4 >> 24;
		k->addr[13] = v4 >> 16;
		k->addr[14] = v4 >> 8;
		k->addr[15] = v4;
	} else {
		k->addr[0] = 0x20;
		k->addr[1] = 0x01;
		k->addr[2] = 0x0d;
		k->addr[3] = 0xb8;
		memcpy(k->addr + 8, &i, sizeof(i));
	}
}

struct timed_merge {
	struct ip_table *t;
	int ncpus;
	double seconds;
	size_t total;
};

/* The collector's per-batch step, timed. */
static int timed_merge(void *ctx, const struct itm_key *keys,
		       const void *values, size_t count)
{
	struct timed_merge *m = ctx;
	double t0 = monotonic_seconds();
	int err;

	err = ip_table_merge_batch(m->t, NULL, keys, values, count, m->ncpus,
				   NULL);
	m->seconds += monotonic_seconds() - t0;
	m->total += count;
	return err;
}

/* Fill the map with n keys (update_batch), as one poll's traffic would. */
static int fill_map(int fd, size_t n, int ncpus, struct itm_key *keys,
		    void *values)
{
	const size_t vsz = ITM_PERCPU_STRIDE(struct itm_value);

	for (size_t done = 0; done < n;) {
		__u32 cnt = (__u32)(n - done < BATCH_ENTRIES ? n - done
							     : BATCH_ENTRIES);

		for (__u32 j = 0; j < cnt; j++) {
			make_key(done + j, &keys[j]);
			for (int cpu = 0; cpu < ncpus; cpu++) {
				struct itm_value v = {
					.tx_bytes = 1000 + cpu,
					.tx_packets = 10,
					.rx_bytes = 2000,
					.rx_packets = 20,
				};
				memcpy((char *)values + (j * ncpus + cpu) * vsz,
				       &v, sizeof(v));
			}
		}
		if (bpf_map_update_batch(fd, keys, values, &cnt, NULL))
			return -errno;
		done += cnt;
	}
	return 0;
}

/* One poll's drain and merge, as the collector does it; times both. */
static int drain_and_merge(int fd, struct ip_table *t, struct drain_buf *b,
			   double *drain_s, double *merge_s, size_t *total)
{
	struct timed_merge m = {.t = t, .ncpus = b->ncpus};
	double t0 = monotonic_seconds();
	int err;

	err = drain_map(fd, b, timed_merge, &m);
	*merge_s = m.seconds;
	*drain_s = monotonic_seconds() - t0 - m.seconds;
	*total = m.total;
	return err;
}

static size_t gzip_size(const char *buf, size_t len)
{
	z_stream zs = {};
	size_t out_len = 0;
	unsigned char chunk[1 << 16];

	if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return 0;
	zs.next_in = (unsigned char *)buf;
	zs.avail_in = (uInt)len;
	do {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		deflate(&zs, Z_FINISH);
		out_len += sizeof(chunk) - zs.avail_out;
	} while (zs.avail_out == 0);
	deflateEnd(&zs);
	return out_len;
}

static int run(size_t n)
{
	struct iface_stats ifs = {.name = "bench0"};
	struct strbuf sb = STRBUF_INIT;
	struct drain_buf b;
	struct ip_table t;
	double drain1 = 0, merge1 = 0, drain2 = 0, merge2 = 0, render_best = 1e9;
	size_t got1 = 0, got2 = 0;
	long rss0, rss1;
	int fd, err;

	err = drain_buf_init(&b, BATCH_ENTRIES);
	if (err)
		return err;
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "itm_bench",
			    sizeof(struct itm_key), sizeof(struct itm_value),
			    (__u32)n, NULL);
	if (fd < 0) {
		fprintf(stderr, "bpf_map_create(%zu): %s\n", n,
			strerror(errno));
		return -errno;
	}

	rss0 = rss_kib();
	if (ip_table_init(&t, 0))
		return -ENOMEM;

	/* Poll 1: every address is new. */
	err = fill_map(fd, n, b.ncpus, b.keys, b.values);
	if (!err)
		err = drain_and_merge(fd, &t, &b, &drain1, &merge1, &got1);
	rss1 = rss_kib();
	/* Poll 2: every address again, now an update. */
	if (!err)
		err = fill_map(fd, n, b.ncpus, b.keys, b.values);
	if (!err)
		err = drain_and_merge(fd, &t, &b, &drain2, &merge2, &got2);
	if (err) {
		fprintf(stderr, "poll: %s\n", strerror(-err));
		return err;
	}

	struct metrics_input in = {
		.table = &t,
		.ifaces = &ifs,
		.n_ifaces = 1,
		.version = "bench",
		.start_time_seconds = 1700000000.0,
	};
	for (int rep = 0; rep < 3; rep++) {
		double t0 = monotonic_seconds(), dt;

		strbuf_reset(&sb);
		if (metrics_render(&in, &sb)) {
			fprintf(stderr, "metrics_render failed\n");
			return -ENOMEM;
		}
		dt = monotonic_seconds() - t0;
		if (dt < render_best)
			render_best = dt;
	}
	size_t exported = 0;
	for (size_t i = 0; i < t.count; i++)
		exported += t.entries[i].exported;

	printf("n=%zu ncpus=%d drained1=%zu drained2=%zu tracked=%zu "
	       "exported=%zu drain1_s=%.6f merge1_s=%.6f drain2_s=%.6f "
	       "merge2_s=%.6f render_s=%.6f render_bytes=%zu gzip_bytes=%zu "
	       "rss_bytes_per_addr=%.1f table_bytes_per_addr=%.1f\n",
	       n, b.ncpus, got1, got2, t.count, exported, drain1, merge1,
	       drain2, merge2, render_best, sb.len, gzip_size(sb.buf, sb.len),
	       (rss1 - rss0) * 1024.0 / n,
	       (double)(t.cap * sizeof(struct ip_entry) +
			(t.map.mask + 1) * sizeof(*t.map.slot)) /
		       n);
	fflush(stdout);
	strbuf_free(&sb);
	ip_table_free(&t);
	close(fd);
	drain_buf_free(&b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: scale N [N ...]\n");
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (run(strtoull(argv[i], NULL, 10)))
			return 1;
	return 0;
}

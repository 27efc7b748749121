// SPDX-License-Identifier: MIT
/*
 * What a scrape costs, on the daemon's own table and exporter code.
 *
 *  1. Latency: TRACKED addresses in the table, EXPORTED of them above the
 *     threshold.  A scrape takes a snapshot of the exported series (walks
 *     the exported index only) and streams it in 64 KiB pieces; the
 *     baseline, measured in the same run, is one pass over every tracked
 *     entry (what the renderer did before: sum and filter all of them).
 *  2. Memory: the real HTTP server (user/export/http.c) serving a snapshot
 *     source; CLIENTS clients request /metrics over loopback with a tiny
 *     receive buffer and never read.  VmRSS growth is compared with the
 *     size of the whole body each of them would have pinned before.
 *
 *   scrape [TRACKED [EXPORTED [CLIENTS [EXPORTED_FOR_MEMORY]]]]
 *   defaults: 10000000 100000 4 1000000
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "metrics.h"
#include "strbuf.h"
#include "table.h"
#include "bench_rss.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct in6_addr nth(uint64_t i)
{
	struct in6_addr a = {.s6_addr = {0x20, 0x01, 0x0d, 0xb8}};

	memcpy(&a.s6_addr[8], &i, sizeof(i));
	return a;
}

/* n addresses, every (n / exported)-th one above the threshold (1000). */
static void fill(struct ip_table *t, uint64_t n, uint64_t exported)
{
	uint64_t every = exported ? n / exported : n + 1;

	if (ip_table_init(t, 1000)) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (uint64_t i = 0; i < n; i++) {
		struct itm_value v = {i % every ? 60 : 5000, 1, 60, 1};
		struct in6_addr a = nth(i);

		if (ip_table_add(t, &a, &v)) {
			fprintf(stderr, "out of memory at %llu\n",
				(unsigned long long)i);
			exit(1);
		}
	}
}

struct source_ctx {
	const struct ip_table *t;
};

static void *src_open(void *p)
{
	struct source_ctx *c = p;
	struct metrics_input in = {.table = c->t, .version = "bench"};

	return metrics_snapshot_take(&in);
}

static int src_read(void *b, struct strbuf *out, size_t want)
{
	return metrics_snapshot_read(b, out, want);
}

static void src_close(void *b)
{
	metrics_snapshot_free(b);
}

static void latency(uint64_t tracked, uint64_t exported)
{
	struct metrics_input in = {.version = "bench"};
	struct strbuf piece = STRBUF_INIT;
	double t0, t_snap, t_stream, t_scan, best = 1e9, best_scan = 1e9;
	size_t body = 0, snap_bytes = 0;
	struct ip_table t;
	long rss0 = rss_kib();

	t0 = now();
	fill(&t, tracked, exported);
	printf("latency: tracked=%llu exported=%zu fill_s=%.1f table_rss_mib=%ld\n",
	       (unsigned long long)tracked, t.n_exported, now() - t0,
	       (rss_kib() - rss0) / 1024);
	in.table = &t;
	for (int round = 0; round < 5; round++) {
		struct metrics_snapshot *s;
		uint64_t sum = 0;
		size_t n_exp = 0;
		int r;

		t0 = now();
		s = metrics_snapshot_take(&in);
		t_snap = now() - t0;
		snap_bytes = metrics_snapshot_size(s);
		body = 0;
		do {
			strbuf_reset(&piece);
			r = metrics_snapshot_read(s, &piece, 65536);
			body += piece.len;
		} while (r > 0);
		t_stream = now() - t0;
		metrics_snapshot_free(s);
		if (t_stream < best)
			best = t_stream;
		(void)t_snap;

		/* Baseline: one pass over every tracked entry. */
		t0 = now();
		for (size_t i = 0; i < t.count; i++) {
			sum += t.entries[i].tx_bytes;
			n_exp += t.entries[i].exported;
		}
		t_scan = now() - t0;
		if (sum == 0 || n_exp != t.n_exported)
			abort();
		if (t_scan < best_scan)
			best_scan = t_scan;
	}
	printf("latency: scrape_s=%.4f snapshot_mib=%.1f body_mib=%.1f "
	       "full_scan_s=%.4f scrape_vs_full_scan=%.2f\n",
	       best, snap_bytes / 1048576.0, body / 1048576.0, best_scan,
	       best / best_scan);
	strbuf_free(&piece);
	ip_table_free(&t);
}

static void memory(uint64_t exported, int clients)
{
	struct source_ctx ctx;
	struct http_source src = {src_open, src_read, src_close, &ctx};
	struct metrics_input in = {.version = "bench"};
	struct strbuf whole = STRBUF_INIT;
	struct http_server *srv;
	struct ip_table t;
	long rss0, rss1;
	int fds[16];
	uint16_t port = 19000 + (uint16_t)(getpid() % 1000);

	fill(&t, exported, exported);
	ctx.t = &t;
	in.table = &t;
	if (metrics_render(&in, &whole))
		exit(1);
	srv = http_server_start("127.0.0.1", port, &src);
	if (!srv) {
		perror("http_server_start");
		exit(1);
	}
	rss0 = rss_kib();
	for (int i = 0; i < clients && i < 16; i++) {
		static const char req[] =
			"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons(port)};
		struct sockaddr_in me = {.sin_family = AF_INET};
		int rcv = 4096;

		/* One address each: the server allows two streams per address.
		 */
		me.sin_addr.s_addr = htonl(0x7f000100 + (uint32_t)i + 1);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		if (bind(fds[i], (struct sockaddr *)&me, sizeof(me)) ||
		    connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) ||
		    send(fds[i], req, sizeof(req) - 1, 0) < 0) {
			perror("client");
			exit(1);
		}
	}
	sleep(2);
	rss1 = rss_kib();
	printf("memory: exported=%zu clients=%d rss_growth_mib=%.1f "
	       "whole_body_mib=%.1f before_would_pin_mib=%.1f ratio=%.3f\n",
	       t.n_exported, clients, (rss1 - rss0) / 1024.0,
	       whole.len / 1048576.0, clients * whole.len / 1048576.0,
	       (rss1 - rss0) * 1024.0 / ((double)clients * whole.len));
	for (int i = 0; i < clients && i < 16; i++)
		close(fds[i]);
	http_server_stop(srv);
	strbuf_free(&whole);
	ip_table_free(&t);
}

int main(int argc, char **argv)
{
	uint64_t tracked = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	uint64_t exported = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
	int clients = argc > 3 ? atoi(argv[3]) : 4;
	uint64_t mem_exported =
		argc > 4 ? strtoull(argv[4], NULL, 10) : 1000000;

	setvbuf(stdout, NULL, _IOLBF, 0);
	latency(tracked, exported);
	memory(mem_exported, clients);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * IPFIX exporter throughput (issue 13, item 4):
 *
 *   build/bench/ipfix_bench [ADDRESSES [ROUNDS [HOST:PORT]]]   (65536, 5)
 *
 * Each round hands ADDRESSES per-address deltas (half IPv4, half IPv6,
 * tx and rx both non-zero: two records each) to the exporter through the
 * collector's sink callbacks, then flushes them to a collector socket on
 * loopback, over UDP and over TCP.  A reader thread drains the socket and
 * counts what arrived.  Baseline, same run: send() of the same number of
 * bytes in the same message sizes without building anything, so the ratio
 * is what libfixbuf's encoding adds to the transport.
 *
 * Prints records/s of the sink (work done under the collector's lock),
 * of the flush (encode + send), IPFIX bytes per address per interval and,
 * for UDP, with the 28 bytes of IPv4/UDP header per message.
 *
 * With HOST:PORT the UDP rounds go to that collector instead (e.g. an
 * nfcapd on loopback, to see what it keeps of a flush burst), no baseline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "ipfix.h"

struct reader {
	int fd;
	int tcp;
	volatile int stop;
	uint64_t bytes, msgs;
	pthread_t th;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	static char buf[1 << 16];
	int fd = r->fd;

	if (r->tcp) {
		fd = accept(r->fd, NULL, NULL);
		if (fd < 0)
			return NULL;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN) && !r->stop)
				continue;
			break;
		}
		__atomic_add_fetch(&r->bytes, (uint64_t)n, __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->msgs, 1, __ATOMIC_RELAXED);
	}
	if (r->tcp)
		close(fd);
	return NULL;
}

static int listen_on(int tcp, uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd, big = 64 << 20;
	struct timeval tv = {.tv_usec = 200000};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len) ||
	    (tcp && listen(fd, 1))) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void key_of(size_t i, struct itm_key *k)
{
	memset(k, 0, sizeof(*k));
	if (i % 2) { /* IPv4-mapped 10.x.y.z */
		k->addr[10] = k->addr[11] = 0xff;
		k->addr[12] = 10;
		k->addr[13] = (uint8_t)(i >> 16);
		k->addr[14] = (uint8_t)(i >> 8);
		k->addr[15] = (uint8_t)i;
	} else { /* fd00::/8 */
		k->addr[0] = 0xfd;
		memcpy(&k->addr[8], &i, sizeof(i));
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Baseline: the same bytes in the same message sizes, nothing encoded. */
static double raw_send(int tcp, uint16_t port, size_t msgs, size_t msg_len)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	static char buf[65536];
	double t0;
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	t0 = monotonic_seconds();
	for (size_t i = 0; i < msgs; i++)
		if (send(fd, buf, msg_len, 0) < 0)
			break;
	t0 = monotonic_seconds() - t0;
	close(fd);
	return t0;
}

static int run(int tcp, size_t n, int rounds, const char *external)
{
	double *sink_t = calloc((size_t)rounds, sizeof(double));
	double *flush_t = calloc((size_t)rounds, sizeof(double));
	struct itm_counter ctr[ITM_CTR_MAX] = {{0}};
	struct ipfix_exporter *x = NULL;
	struct reader rd = {.tcp = tcp};
	struct ipfix_stats st;
	uint16_t port;
	char target[32];
	int ifindex = 2;
	double base;

	if (external) {
		snprintf(target, sizeof(target), "%s", external);
		rd.fd = -1;
	} else {
		rd.fd = listen_on(tcp, &port);
		if (rd.fd < 0 || !sink_t || !flush_t) {
			perror("ipfix_bench: listen");
			return 1;
		}
		snprintf(target, sizeof(target), "127.0.0.1:%u", port);
	}
	struct ipfix_config cfg = {
		.target = target,
		.tcp = tcp,
		.template_refresh = 600,
		.ifindex = &ifindex,
		.n_ifaces = 1,
	};
	if (!external)
		pthread_create(&rd.th, NULL, read_loop, &rd);
	if (ipfix_exporter_new(&cfg, &x))
		return 1;
	for (int r = 0; r < rounds; r++) {
		double t0 = monotonic_seconds();

		for (size_t i = 0; i < n; i++) {
			struct itm_key k;
			struct itm_value v = {1500 + i % 64, 3, 900 + i % 32,
					      2};

			key_of(i, &k);
			ipfix_sink_delta(x, 0, &k, &v);
		}
		ctr[ITM_CTR_NON_IP_RX].packets++;
		ctr[ITM_CTR_NON_IP_RX].bytes += 60;
		ipfix_sink_counters(x, 0, ctr, false);
		sink_t[r] = monotonic_seconds() - t0;
		t0 = monotonic_seconds();
		ipfix_exporter_flush(x, (uint64_t)(1.7e12 + r * 60000.0));
		flush_t[r] = monotonic_seconds() - t0;
	}
	ipfix_exporter_stats(x, &st);
	ipfix_exporter_free(x); /* closes the TCP stream: the reader ends */
	if (external) {
		printf("sent %llu records in %llu messages (%llu bytes) to %s; flush median %.1f ms\n",
		       (unsigned long long)st.records,
		       (unsigned long long)st.messages,
		       (unsigned long long)st.bytes, external,
		       flush_t[rounds / 2] * 1e3);
		free(sink_t);
		free(flush_t);
		return 0;
	}
	usleep(300000);
	rd.stop = 1;
	pthread_join(rd.th, NULL);
	close(rd.fd);

	qsort(sink_t, (size_t)rounds, sizeof(double), cmp_double);
	qsort(flush_t, (size_t)rounds, sizeof(double), cmp_double);
	{
		double recs = 2.0 * (double)n;
		double med_flush = flush_t[rounds / 2];
		double med_sink = sink_t[rounds / 2];
		double per_round_bytes = (double)st.bytes / rounds;
		double per_round_msgs = (double)st.messages / rounds;
		size_t msg_len = (size_t)(per_round_bytes / per_round_msgs);
		uint16_t bport;
		struct reader brd = {.tcp = tcp};

		brd.fd = listen_on(tcp, &bport);
		pthread_create(&brd.th, NULL, read_loop, &brd);
		base = raw_send(tcp, bport, (size_t)per_round_msgs, msg_len);
		usleep(300000);
		brd.stop = 1;
		pthread_join(brd.th, NULL);
		close(brd.fd);

		printf("| %s | %zu | %.0f | %.0f | %.1f | %.3f | %.3f | %.2f | %.1f | %.1f | %.1f%% |\n",
		       tcp ? "TCP" : "UDP", n, (double)n / med_sink,
		       recs / med_flush, per_round_msgs, med_flush * 1e3,
		       base * 1e3, base > 0 ? med_flush / base : 0,
		       per_round_bytes / (double)n,
		       (per_round_bytes + (tcp ? 0 : 28.0 * per_round_msgs)) /
			       (double)n,
		       st.bytes ? 100.0 * (double)rd.bytes / (double)st.bytes
				: 0);
	}
	free(sink_t);
	free(flush_t);
	return st.lost ? 1 : 0;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 65536;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	int err = 0;

	if (!n || rounds < 1) {
		fprintf(stderr, "usage: %s [ADDRESSES [ROUNDS [HOST:PORT]]]\n",
			argv[0]);
		return 2;
	}
	if (argc > 3)
		return run(0, n, rounds, argv[3]);
	printf("IPFIX exporter, %zu active addresses per flush (x2 records: tx, rx), median of %d rounds\n\n",
	       n, rounds);
	printf("| transport | addresses | sink addresses/s | flush records/s | messages/flush | flush ms | baseline send ms | flush/baseline | IPFIX B/address | wire B/address (+IP/UDP hdr) | received |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
	err |= run(0, n, rounds, NULL);
	err |= run(1, n, rounds, NULL);
	return err;
}

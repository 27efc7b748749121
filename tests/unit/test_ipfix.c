// SPDX-License-Identifier: MIT
/*
 * The IPFIX exporter against a UDP socket on loopback, decoded here by an
 * independent reader of RFC 7011 (message header, template and data sets):
 * templates first, every record's fields, exact sums, message sizes,
 * sequence numbers, the observation domain, and the template re-send
 * after an ICMP error.  The e2e suite does the same with real collectors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "geo_labels.h"
#include "ipfix.h"
#include "test_addr.h"

#define IE_OCTETS    1
#define IE_PACKETS   2
#define IE_PROTO     4
#define IE_SRC4	     8
#define IE_IN_IF     10
#define IE_DST4	     12
#define IE_OUT_IF    14
#define IE_SRC_AS    16
#define IE_DST_AS    17
#define IE_SRC6	     27
#define IE_DST6	     28
#define IE_DIRECTION 61
#define IE_APP_NAME  96
#define IE_START_MS  152
#define IE_END_MS    153

struct tmpl {
	uint16_t id, n;
	uint16_t ie[32], len[32];
};

/* One decoded data record: the fields this test looks at. */
struct rec {
	uint16_t tid;
	uint8_t addr[16];
	int has_src, has_dst, v4;
	uint64_t octets, packets, start, end;
	uint32_t in_if, out_if;
	int64_t src_as, dst_as; /* -1: not in the record */
	int dir;
	int proto; /* -1: not in the record */
	char app[32];
};

struct decoded {
	struct tmpl t[8];
	size_t nt;
	struct rec *r;
	size_t nr, cap;
	size_t msgs, max_len, template_msgs;
	uint32_t domain, next_seq;
	int seq_ok;
};

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void add_rec(struct decoded *d, const struct rec *r)
{
	if (d->nr == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 1024;
		d->r = realloc(d->r, d->cap * sizeof(*d->r));
		assert_non_null(d->r);
	}
	d->r[d->nr++] = *r;
}

static const struct tmpl *find_tmpl(const struct decoded *d, uint16_t id)
{
	for (size_t i = 0; i < d->nt; i++)
		if (d->t[i].id == id)
			return &d->t[i];
	return NULL;
}

static void decode_record(struct decoded *d, const struct tmpl *t,
			  const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;
	struct rec r = {.tid = t->id,
			.dir = -1,
			.proto = -1,
			.src_as = -1,
			.dst_as = -1};

	for (uint16_t f = 0; f < t->n; f++) {
		size_t len = t->len[f];

		if (len == 0xffff) { /* variable length, short form */
			assert_true(p < end);
			len = *p++;
			assert_true(len < 255);
		}
		assert_true(p + len <= end);
		switch (t->ie[f]) {
		case IE_OCTETS:
			r.octets = be(p, len);
			break;
		case IE_PACKETS:
			r.packets = be(p, len);
			break;
		case IE_START_MS:
			r.start = be(p, len);
			break;
		case IE_END_MS:
			r.end = be(p, len);
			break;
		case IE_IN_IF:
			r.in_if = (uint32_t)be(p, len);
			break;
		case IE_OUT_IF:
			r.out_if = (uint32_t)be(p, len);
			break;
		case IE_DIRECTION:
			r.dir = (int)be(p, len);
			break;
		case IE_PROTO:
			assert_int_equal(len, 1);
			r.proto = *p;
			break;
		case IE_SRC_AS:
		case IE_DST_AS:
			assert_int_equal(len, 4);
			*(t->ie[f] == IE_SRC_AS ? &r.src_as : &r.dst_as) =
				(int64_t)be(p, len);
			break;
		case IE_SRC4:
		case IE_DST4:
			assert_int_equal(len, 4);
			memcpy(r.addr, p, 4);
			r.v4 = 1;
			r.has_src |= t->ie[f] == IE_SRC4;
			r.has_dst |= t->ie[f] == IE_DST4;
			break;
		case IE_SRC6:
		case IE_DST6:
			assert_int_equal(len, 16);
			memcpy(r.addr, p, 16);
			r.has_src = t->ie[f] == IE_SRC6;
			r.has_dst = t->ie[f] == IE_DST6;
			break;
		case IE_APP_NAME:
			assert_true(len < sizeof(r.app));
			memcpy(r.app, p, len);
			break;
		default:
			fail_msg("unexpected element %u", t->ie[f]);
		}
		p += len;
	}
	*pp = p;
	add_rec(d, &r);
}

static void decode_msg(struct decoded *d, const uint8_t *m, size_t n)
{
	const uint8_t *p = m + 16, *end = m + n;
	size_t data = 0;
	int templates = 0;

	assert_true(n >= 16);
	assert_int_equal(be(m, 2), 10);
	assert_int_equal(be(m + 2, 2), n);
	if (d->msgs == 0)
		d->next_seq = (uint32_t)be(m + 8, 4);
	/* Sequence number: data records sent before this message. */
	if (be(m + 8, 4) != d->next_seq)
		d->seq_ok = 0;
	d->domain = (uint32_t)be(m + 12, 4);
	d->msgs++;
	if (n > d->max_len)
		d->max_len = n;
	while (p < end) {
		uint16_t sid = (uint16_t)be(p, 2),
			 slen = (uint16_t)be(p + 2, 2);
		const uint8_t *send = p + slen;

		assert_true(slen >= 4 && send <= end);
		p += 4;
		if (sid == 2) {
			templates = 1;
			while (send - p >= 4) {
				struct tmpl t = {.id = (uint16_t)be(p, 2),
						 .n = (uint16_t)be(p + 2, 2)};

				p += 4;
				assert_true(t.n <= 32);
				for (uint16_t f = 0; f < t.n; f++) {
					t.ie[f] = (uint16_t)be(p, 2);
					t.len[f] = (uint16_t)be(p + 2, 2);
					assert_false(t.ie[f] & 0x8000);
					p += 4;
				}
				if (!find_tmpl(d, t.id)) {
					assert_true(d->nt < 8);
					d->t[d->nt++] = t;
				}
			}
		} else {
			const struct tmpl *t = find_tmpl(d, sid);

			assert_true(sid >= 256);
			assert_non_null(t); /* templates come first */
			while (p < send && send - p >= 4) {
				decode_record(d, t, &p, send);
				data++;
			}
		}
		p = send;
	}
	if (templates)
		d->template_msgs++;
	d->next_seq += (uint32_t)data;
}

static int udp_listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct timeval tv = {.tv_usec = 100000};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), big = 8 << 20;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void receive_all(int fd, struct decoded *d)
{
	static uint8_t buf[65536];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		decode_msg(d, buf, (size_t)n);
}

/* The label source: two addresses with an AS, the rest unknown. */
static const struct geo_labels *test_label(void *ctx,
					   const struct in6_addr *addr)
{
	static const struct geo_labels v4 = {.asn = "AS64500 TEST-NET-1"};
	static const struct geo_labels v6 = {.asn = "AS4200000001"};
	struct in6_addr a = test_addr("192.0.2.1"),
			b = test_addr("2001:db8::5");

	(*(int *)ctx)++;
	if (!memcmp(addr, &a, sizeof(a)))
		return &v4;
	return memcmp(addr, &b, sizeof(b)) ? NULL : &v6;
}

static int label_calls;

static struct ipfix_exporter *exporter(uint16_t port, uint32_t refresh,
				       const int *ifindex, size_t n)
{
	struct ipfix_exporter *x = NULL;
	char target[32];
	struct ipfix_config cfg = {
		.target = target,
		.domain = 77,
		.template_refresh = refresh,
		.ifindex = ifindex,
		.n_ifaces = n,
		.start_ms = 1699999940000ULL,
		.label = test_label,
		.label_ctx = &label_calls,
	};

	snprintf(target, sizeof(target), "127.0.0.1:%u", port);
	assert_int_equal(ipfix_exporter_new(&cfg, &x), 0);
	return x;
}

static void feed(struct ipfix_exporter *x, size_t iface, const char *addr,
		 uint32_t pid, struct itm_value v)
{
	struct in6_addr a = test_addr(addr);
	struct itm_key k = {.pid = pid};

	memcpy(k.addr, &a, sizeof(a));
	ipfix_sink_delta(x, iface, &k, &v);
}

static const struct rec *find_rec(const struct decoded *d, const char *addr,
				  int tx, size_t from)
{
	struct in6_addr a = test_addr(addr);
	int v4 = IN6_IS_ADDR_V4MAPPED(&a);

	for (size_t i = from; i < d->nr; i++) {
		const struct rec *r = &d->r[i];

		if (r->dir != (tx ? 1 : 0) || r->app[0] || r->v4 != v4)
			continue;
		if (!memcmp(r->addr, v4 ? &a.s6_addr[12] : a.s6_addr,
			    v4 ? 4 : 16))
			return r;
	}
	return NULL;
}

static void test_records_and_templates(void **state)
{
	static const int ifindex[2] = {7, 9};
	struct itm_counter ctr[ITM_CTR_MAX] = {{0}};
	struct decoded d = {.seq_ok = 1};
	struct ipfix_exporter *x;
	struct ipfix_stats st;
	const struct rec *r;
	uint16_t port;
	int fd = udp_listener(&port);

	(void)state;
	label_calls = 0;
	x = exporter(port, 600, ifindex, 2);
	/* Two processes on one address: one record per address and way. */
	feed(x, 0, "192.0.2.1", 10, (struct itm_value){1000, 2, 0, 0});
	feed(x, 0, "192.0.2.1", 11, (struct itm_value){500, 1, 60, 1});
	feed(x, 1, "2001:db8::5", 0, (struct itm_value){0, 0, 1280, 3});
	ctr[ITM_CTR_NON_IP_RX] = (struct itm_counter){4, 240};
	ctr[ITM_CTR_OVERFLOW_TX] = (struct itm_counter){1, 1500};
	ipfix_sink_counters(x, 1, ctr, false);
	assert_int_equal(ipfix_exporter_flush(x, 1700000000000ULL), 0);
	receive_all(fd, &d);

	assert_int_equal(d.template_msgs, 1);
	assert_int_equal(d.nt, 5);
	assert_int_equal(d.domain, 77);
	assert_true(d.seq_ok);
	assert_int_equal(d.nr, 5); /* tx+rx, rx, non_ip rx, overflow tx */
	r = find_rec(&d, "192.0.2.1", 1, 0);
	assert_non_null(r);
	assert_true(r->has_dst && !r->has_src);
	assert_int_equal(r->octets, 1500);
	assert_int_equal(r->packets, 3);
	assert_int_equal(r->out_if, 7);
	assert_int_equal(r->in_if, 0);
	/* the remote side's AS: the destination of what we sent */
	assert_int_equal(r->dst_as, 64500);
	assert_int_equal(r->src_as, -1);
	/* The first interval starts when the exporter was set up. */
	assert_int_equal(r->start, 1699999940000ULL);
	assert_int_equal(r->end, 1700000000000ULL);
	r = find_rec(&d, "192.0.2.1", 0, 0);
	assert_non_null(r);
	assert_true(r->has_src && !r->has_dst);
	assert_int_equal(r->octets, 60);
	assert_int_equal(r->in_if, 7);
	assert_int_equal(r->src_as, 64500);
	assert_int_equal(r->dst_as, -1);
	assert_null(find_rec(&d, "2001:db8::5", 1, 0));
	r = find_rec(&d, "2001:db8::5", 0, 0);
	assert_non_null(r);
	assert_int_equal(r->octets, 1280);
	assert_int_equal(r->packets, 3);
	assert_int_equal(r->in_if, 9);
	assert_int_equal(r->src_as, 4200000001LL); /* 32-bit AS numbers */
	/* one label lookup per address and interval, not per delta */
	assert_int_equal(label_calls, 2);
	for (size_t i = 0; i < d.nr; i++) {
		if (!d.r[i].app[0])
			continue;
		/* an IPv4 flow 0.0.0.0 -> 0.0.0.0: pmacct drops address-less
		 * flows */
		assert_true(d.r[i].v4 && d.r[i].has_src && d.r[i].has_dst);
		assert_memory_equal(d.r[i].addr, "\0\0\0\0", 4);
		if (!strcmp(d.r[i].app, "non_ip")) {
			assert_int_equal(d.r[i].proto, 253);
			assert_int_equal(d.r[i].dir, 0);
			assert_int_equal(d.r[i].in_if, 9);
			assert_int_equal(d.r[i].octets, 240);
			assert_int_equal(d.r[i].packets, 4);
		} else {
			assert_string_equal(d.r[i].app, "overflow");
			assert_int_equal(d.r[i].proto, 255);
			assert_int_equal(d.r[i].dir, 1);
			assert_int_equal(d.r[i].out_if, 9);
			assert_int_equal(d.r[i].octets, 1500);
		}
	}

	/* Second interval: only what is new; counters as deltas. */
	d.nr = 0;
	feed(x, 0, "192.0.2.1", 10, (struct itm_value){1, 1, 0, 0});
	feed(x, 0, "198.51.100.7", 0, (struct itm_value){9, 1, 0, 0});
	ctr[ITM_CTR_NON_IP_RX] = (struct itm_counter){5, 300};
	ipfix_sink_counters(x, 1, ctr, false);
	assert_int_equal(ipfix_exporter_flush(x, 1700000060000ULL), 0);
	receive_all(fd, &d);
	assert_int_equal(d.template_msgs, 1); /* not due yet */
	assert_true(d.seq_ok);
	assert_int_equal(d.nr, 3);
	r = find_rec(&d, "192.0.2.1", 1, 0);
	assert_non_null(r);
	assert_int_equal(r->octets, 1);
	assert_int_equal(r->dst_as, 64500);
	/* no database knows it: AS 0 */
	r = find_rec(&d, "198.51.100.7", 1, 0);
	assert_non_null(r);
	assert_int_equal(r->octets, 9);
	assert_int_equal(r->dst_as, 0);
	assert_int_equal(r->start, 1700000000000ULL);
	assert_int_equal(r->end, 1700000060000ULL);
	assert_true(!strcmp(d.r[0].app, "non_ip") ||
		    !strcmp(d.r[1].app, "non_ip") ||
		    !strcmp(d.r[2].app, "non_ip"));
	for (size_t i = 0; i < d.nr; i++)
		if (d.r[i].app[0])
			assert_int_equal(d.r[i].octets, 60);

	ipfix_exporter_stats(x, &st);
	assert_int_equal(st.records, 8);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.templates, 1);
	ipfix_exporter_free(x);
	free(d.r);
	close(fd);
}

/* Many addresses: UDP messages stay within 1400 bytes, sums exact. */
static void test_many_records(void **state)
{
	static const int ifindex = 3;
	struct decoded d = {.seq_ok = 1};
	struct ipfix_exporter *x;
	uint64_t octets = 0, want = 0;
	uint16_t port;
	int fd = udp_listener(&port);

	(void)state;
	x = exporter(port, 600, &ifindex, 1);
	for (unsigned i = 0; i < 5000; i++) {
		char a[64];

		if (i % 2)
			snprintf(a, sizeof(a), "10.%u.%u.%u", i >> 16,
				 (i >> 8) & 255, i & 255);
		else
			snprintf(a, sizeof(a), "2001:db8::%x", i);
		feed(x, 0, a, 0, (struct itm_value){i + 1, 1, 2 * i + 1, 1});
		want += (i + 1) + (2 * i + 1);
	}
	assert_int_equal(ipfix_exporter_flush(x, 1), 0);
	receive_all(fd, &d);
	assert_int_equal(d.nr, 10000);
	assert_true(d.seq_ok);
	assert_true(d.max_len <= 1400);
	assert_true(d.msgs > 10000 / 40);
	for (size_t i = 0; i < d.nr; i++)
		octets += d.r[i].octets;
	assert_int_equal(octets, want);
	ipfix_exporter_free(x);
	free(d.r);
	close(fd);
}

/*
 * Interval after interval, the two tables the exporter swaps are emptied
 * with everything they hold: an emptied table once kept its list of
 * entries past the export threshold (0 here: every entry), which then
 * grew by each interval's addresses until it ran past its array (sized
 * like the 1024 entries).  700 new addresses per interval, 6 intervals:
 * each table takes 2100 in all; every interval's records are exact.
 */
static void test_many_intervals(void **state)
{
	static const int ifindex = 3;
	struct decoded d = {.seq_ok = 1}; /* the templates come once */
	struct ipfix_exporter *x;
	uint16_t port;
	int fd = udp_listener(&port);

	(void)state;
	x = exporter(port, 600, &ifindex, 1);
	for (unsigned iv = 0; iv < 6; iv++) {
		uint64_t octets = 0, want = 0;
		size_t from = d.nr;

		for (unsigned i = 0; i < 700; i++) {
			unsigned u = iv * 700 + i;
			char a[64];

			snprintf(a, sizeof(a), "10.1.%u.%u", u >> 8, u & 255);
			feed(x, 0, a, 0,
			     (struct itm_value){u + 1, 1, 2 * u + 1, 1});
			want += (u + 1) + (2 * u + 1);
		}
		assert_int_equal(ipfix_exporter_flush(x, 1000 * (iv + 1)), 0);
		receive_all(fd, &d);
		assert_int_equal(d.nr - from, 1400);
		for (size_t i = from; i < d.nr; i++)
			octets += d.r[i].octets;
		assert_int_equal(octets, want);
	}
	assert_true(d.seq_ok);
	ipfix_exporter_free(x);
	free(d.r);
	close(fd);
}

/* Nothing listening: the loss is noticed and the templates go again. */
static void test_templates_after_refusal(void **state)
{
	static const int ifindex = 3;
	struct decoded d = {.seq_ok = 1};
	struct ipfix_exporter *x;
	struct ipfix_stats st;
	uint16_t port;
	int fd = udp_listener(&port);

	(void)state;
	close(fd); /* the port is closed: ICMP port unreachable */
	x = exporter(port, 600, &ifindex, 1);
	feed(x, 0, "192.0.2.9", 0, (struct itm_value){100, 1, 0, 0});
	ipfix_exporter_flush(x, 1);
	usleep(20000);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	{
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons(port)};
		struct timeval tv = {.tv_usec = 100000};

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	feed(x, 0, "192.0.2.9", 0, (struct itm_value){7, 1, 0, 0});
	ipfix_exporter_flush(x, 2);
	receive_all(fd, &d);
	/* The collector came back: templates first, then the new record. */
	assert_int_equal(d.template_msgs, 1);
	assert_int_equal(d.nr, 1);
	assert_int_equal(d.r[0].octets, 7);
	ipfix_exporter_stats(x, &st);
	assert_int_equal(st.templates, 2);
	ipfix_exporter_free(x);
	free(d.r);
	close(fd);
}

/* An IPv6 collector address, written [::1]:PORT. */
static void test_ipv6_collector(void **state)
{
	static const int ifindex = 3;
	struct sockaddr_in6 a = {.sin6_family = AF_INET6,
				 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct timeval tv = {.tv_usec = 100000};
	socklen_t len = sizeof(a);
	struct decoded d = {.seq_ok = 1};
	struct ipfix_exporter *x = NULL;
	char target[64];
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);

	(void)state;
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		skip(); /* no IPv6 loopback here */
	}
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(target, sizeof(target), "[::1]:%u", ntohs(a.sin6_port));
	struct ipfix_config cfg = {
		.target = target,
		.template_refresh = 600,
		.ifindex = &ifindex,
		.n_ifaces = 1,
	};
	assert_int_equal(ipfix_exporter_new(&cfg, &x), 0);
	feed(x, 0, "2001:db8::1", 0, (struct itm_value){0, 0, 99, 1});
	assert_int_equal(ipfix_exporter_flush(x, 5), 0);
	receive_all(fd, &d);
	assert_int_equal(d.template_msgs, 1);
	assert_int_equal(d.nr, 1);
	assert_int_equal(d.r[0].octets, 99);
	ipfix_exporter_free(x);
	free(d.r);
	close(fd);
}

/* Counters from before the start (a baseline) are not exported. */
static void test_counter_baseline(void **state)
{
	static const int ifindex = 4;
	struct itm_counter ctr[ITM_CTR_MAX] = {{0}};
	struct decoded d = {.seq_ok = 1};
	struct ipfix_exporter *x;
	uint16_t port;
	int fd = udp_listener(&port);

	(void)state;
	x = exporter(port, 600, &ifindex, 1);
	ctr[ITM_CTR_MALFORMED_TX] = (struct itm_counter){10, 640};
	ipfix_sink_counters(x, 0, ctr, true);
	ctr[ITM_CTR_MALFORMED_TX] = (struct itm_counter){12, 700};
	ipfix_sink_counters(x, 0, ctr, false);
	assert_int_equal(ipfix_exporter_flush(x, 1700000000000ULL), 0);
	receive_all(fd, &d);
	assert_int_equal(d.nr, 1);
	assert_string_equal(d.r[0].app, "malformed");
	assert_int_equal(d.r[0].dir, 1);
	assert_int_equal(d.r[0].out_if, 4);
	assert_int_equal(d.r[0].packets, 2);
	assert_int_equal(d.r[0].octets, 60);
	ipfix_exporter_free(x);
	free(d.r);
	close(fd);
}

/* A TCP listener on loopback whose connections have a ~2 kB window. */
static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 2048;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Read a TCP stream to its end and decode its messages. */
static void receive_stream(int fd, struct decoded *d)
{
	static uint8_t buf[1 << 20];
	struct timeval tv = {.tv_usec = 200000};
	size_t have = 0, off = 0;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (have < sizeof(buf) &&
	       (n = recv(fd, buf + have, sizeof(buf) - have, 0)) > 0)
		have += (size_t)n;
	while (have - off >= 16 && be(buf + off + 2, 2) <= have - off) {
		size_t len = be(buf + off + 2, 2);

		decode_msg(d, buf + off, len);
		off += len;
	}
}

static uint64_t sum_octets(const struct decoded *d)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < d->nr; i++)
		sum += d->r[i].octets;
	return sum;
}

/*
 * TCP: messages the collector did not acknowledge (its window closed, then
 * it died) are written again on the next connection; what its kernel had
 * acknowledged is not.  At exit, what cannot be sent is counted.
 */
static void test_tcp_unacknowledged_resent(void **state)
{
	static const int ifindex = 5;
	struct decoded d1 = {.seq_ok = 1}, d2 = {.seq_ok = 1};
	struct ipfix_exporter *x = NULL;
	struct ipfix_stats st;
	uint64_t fed = 0;
	char target[32], a[32];
	uint16_t port;
	int lfd = tcp_listener(&port), c1, c2, big = 1 << 20;
	struct ipfix_config cfg = {
		.target = target,
		.tcp = true,
		.template_refresh = 600,
		.ifindex = &ifindex,
		.n_ifaces = 1,
	};

	(void)state;
	snprintf(target, sizeof(target), "127.0.0.1:%u", port);
	assert_int_equal(ipfix_exporter_new(&cfg, &x), 0);
	/* Three flushes of ~40 records into a window of ~2 kB: stalled. */
	for (int f = 0; f < 3; f++) {
		for (int i = 0; i < 40; i++) {
			snprintf(a, sizeof(a), "198.51.100.%d", i + 1);
			feed(x, 0, a, 0, (struct itm_value){1000 + i, 1, 0, 0});
			fed += 1000 + i;
		}
		assert_int_equal(ipfix_exporter_flush(x, 1000 + f), 0);
	}
	c1 = accept(lfd, NULL, NULL);
	assert_true(c1 >= 0);
	/* Dies: data arriving from now on is reset, what is queued is read. */
	shutdown(c1, SHUT_RDWR);
	receive_stream(c1, &d1);
	close(c1);
	usleep(50000);
	assert_true(d1.nr < 120);
	/* The next collector reads (its kernel takes all of it). */
	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	assert_int_equal(ipfix_exporter_flush(x, 2000), 0);
	c2 = accept(lfd, NULL, NULL);
	assert_true(c2 >= 0);
	assert_int_equal(ipfix_exporter_finish(x, 2000), 0);
	ipfix_exporter_stats(x, &st);
	ipfix_exporter_free(x);
	receive_stream(c2, &d2);
	close(c2);
	/* Exactly once in all: nothing acknowledged went twice. */
	assert_int_equal(d1.nr + d2.nr, 120);
	assert_int_equal(sum_octets(&d1) + sum_octets(&d2), fed);
	assert_int_equal(st.resent, d2.nr);
	assert_int_equal(st.lost, 0);

	/* A collector gone at exit: held and unsent records are counted. */
	x = NULL;
	assert_int_equal(ipfix_exporter_new(&cfg, &x), 0);
	close(lfd);
	feed(x, 0, "198.51.100.7", 0, (struct itm_value){10, 1, 20, 2});
	assert_true(ipfix_exporter_flush(x, 3000) < 0);
	assert_int_equal(ipfix_exporter_finish(x, 100), -EIO);
	ipfix_exporter_stats(x, &st);
	assert_int_equal(st.lost, 2);
	ipfix_exporter_free(x);
	free(d1.r);
	free(d2.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_baseline),
		cmocka_unit_test(test_ipv6_collector),
		cmocka_unit_test(test_records_and_templates),
		cmocka_unit_test(test_many_records),
		cmocka_unit_test(test_many_intervals),
		cmocka_unit_test(test_templates_after_refusal),
		cmocka_unit_test(test_tcp_unacknowledged_resent),
	};

	ipfix_exporter_free(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

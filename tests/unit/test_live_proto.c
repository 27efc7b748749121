// SPDX-License-Identifier: MIT
/*
 * The live socket format: what the daemon encodes, a viewer decodes into
 * the same tables, frame by frame, whatever the chunking of the stream.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "geo_labels.h"
#include "live_proto.h"

static struct in6_addr addr(const char *s)
{
	struct in6_addr a = {0};

	if (inet_pton(AF_INET, s, a.s6_addr + 12) == 1)
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
	else
		assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static void put(struct ip_table *t, const char *ip, uint32_t pid, uint64_t base)
{
	struct in6_addr a = addr(ip);
	struct ip_entry *e = ip_table_upsert_pid(t, &a, pid);

	assert_non_null(e);
	e->tx_bytes = base;
	e->tx_packets = base / 10;
	e->rx_bytes = base * 2;
	e->rx_packets = base / 5;
	if (pid)
		snprintf(e->comm, sizeof(e->comm), "proc\t%u", pid);
}

/* Every entry of a has an equal one in b, and the counts match. */
static void assert_same(const struct ip_table *a, const struct ip_table *b)
{
	assert_int_equal(a->count, b->count);
	for (size_t i = 0; i < a->count; i++) {
		const struct ip_entry *x = &a->entries[i];
		const struct ip_entry *y =
			ip_table_find_pid(b, &x->addr, x->pid);

		assert_non_null(y);
		assert_int_equal(x->tx_bytes, y->tx_bytes);
		assert_int_equal(x->tx_packets, y->tx_packets);
		assert_int_equal(x->rx_bytes, y->rx_bytes);
		assert_int_equal(x->rx_packets, y->rx_packets);
		if (x->pid)
			assert_string_equal(x->comm, y->comm);
	}
}

/* Feed in chunks of `chunk` bytes; returns the frames completed. */
static int feed(struct live_replica *r, const struct strbuf *sb, size_t chunk)
{
	char err[256] = "";
	int frames = 0;

	for (size_t o = 0; o < sb->len; o += chunk) {
		size_t n = sb->len - o < chunk ? sb->len - o : chunk;
		int rc = live_replica_feed(r, sb->buf + o, n, err, sizeof(err));

		if (rc < 0)
			fail_msg("feed: %s", err);
		frames += rc;
	}
	return frames;
}

static void test_round_trip(void **state)
{
	struct geo_labels cn = {.country = "中国",
				.province = "江苏省",
				.city = "南京市",
				.isp = "电\\信\n",
				.asn = "AS4134 CHINA\tNET"};
	struct live_info info = {.interval_ms = 2000, .start_unix = 1700000000};
	struct ip_table addrs, procs;
	struct live_shadow sh;
	struct live_replica rep, late;
	struct strbuf sb = STRBUF_INIT, full = STRBUF_INIT;
	const struct ip_entry *e;
	struct in6_addr a;

	(void)state;
	snprintf(info.exporter, sizeof(info.exporter), "127.0.0.1:9877");
	snprintf(info.ifaces, sizeof(info.ifaces), "eth0,wg 0");
	assert_int_equal(ip_table_init(&addrs, 0), 0);
	assert_int_equal(ip_table_init(&procs, 0), 0);
	assert_int_equal(live_shadow_init(&sh), 0);
	assert_int_equal(live_replica_init(&rep), 0);
	assert_int_equal(live_replica_init(&late), 0);

	put(&addrs, "10.0.0.1", 0, 1000);
	put(&addrs, "2001:db8::1", 0, 7);
	a = addr("10.0.0.1");
	ip_table_find(&addrs, &a)->geo = &cn;
	put(&procs, "10.0.0.1", 42, 600);
	put(&procs, "10.0.0.1", 43, 400);
	put(&procs, "2001:db8::1", 0, 7);

	assert_int_equal(live_encode_hello(&sb, &info), 0);
	assert_int_equal(
		live_encode_delta(&sh, &addrs, &procs, 5000000000ULL, &sb), 0);
	assert_int_equal(feed(&rep, &sb, 1), 1);
	assert_true(rep.have_info);
	assert_int_equal(rep.info.interval_ms, 2000);
	assert_string_equal(rep.info.exporter, "127.0.0.1:9877");
	assert_string_equal(rep.info.ifaces, "eth0,wg 0");
	assert_int_equal(rep.ns, 5000000000ULL);
	assert_same(&addrs, &rep.addrs);
	assert_same(&procs, &rep.procs);
	e = ip_table_find(&rep.addrs, &a);
	assert_string_equal(e->geo->country, "中国");
	assert_string_equal(e->geo->isp, "电\\信\n");
	assert_string_equal(e->geo->asn, "AS4134 CHINA\tNET");
	a = addr("2001:db8::1");
	assert_string_equal(ip_table_find(&rep.addrs, &a)->geo->country, "");

	/* Only changed rows travel in the next frame. */
	strbuf_reset(&sb);
	put(&addrs, "10.0.0.1", 0, 2000);
	put(&addrs, "10.0.0.9", 0, 5);
	put(&procs, "10.0.0.1", 42, 1600);
	assert_int_equal(
		live_encode_delta(&sh, &addrs, &procs, 7000000000ULL, &sb), 0);
	assert_null(strstr(sb.buf, "2001:db8::1"));
	assert_non_null(strstr(sb.buf, "A\t10.0.0.9\t"));
	assert_int_equal(feed(&rep, &sb, 7), 1);
	assert_same(&addrs, &rep.addrs);
	assert_same(&procs, &rep.procs);

	/* A pruned process row is deleted in the replica. */
	strbuf_reset(&sb);
	a = addr("10.0.0.1");
	{
		struct ip_table p2;

		assert_int_equal(ip_table_init(&p2, 0), 0);
		put(&p2, "10.0.0.1", 42, 1600);
		put(&p2, "2001:db8::1", 0, 7);
		assert_int_equal(
			live_encode_delta(&sh, &addrs, &p2, 8000000000ULL, &sb),
			0);
		assert_non_null(strstr(sb.buf, "D\t10.0.0.1\t43\n"));
		assert_int_equal(feed(&rep, &sb, 3), 1);
		assert_same(&p2, &rep.procs);

		/* A late viewer gets the same state in one full frame. */
		assert_int_equal(live_encode_hello(&full, &info), 0);
		assert_int_equal(live_encode_full(&sh, 8000000000ULL, &full),
				 0);
		assert_int_equal(feed(&late, &full, 4096), 1);
		assert_same(&addrs, &late.addrs);
		assert_same(&p2, &late.procs);
		ip_table_free(&p2);
	}

	/* Frames that change nothing carry no rows. */
	strbuf_reset(&sb);
	assert_int_equal(live_encode_delta(&sh, &addrs, &rep.procs, 9, &sb), 0);
	assert_null(strchr(sb.buf, 'A'));

	strbuf_free(&sb);
	strbuf_free(&full);
	live_replica_free(&rep);
	live_replica_free(&late);
	live_shadow_free(&sh);
	ip_table_free(&addrs);
	ip_table_free(&procs);
}

static int feed_str(struct live_replica *r, const char *s, char *err)
{
	return live_replica_feed(r, s, strlen(s), err, 256);
}

static void test_bad_streams(void **state)
{
	struct live_replica r;
	char err[256];

	(void)state;
	assert_int_equal(live_replica_init(&r), 0);
	assert_int_equal(feed_str(&r, "HTTP/1.1 200 OK\n", err), -EPROTO);
	live_replica_free(&r);

	assert_int_equal(live_replica_init(&r), 0);
	assert_int_equal(feed_str(&r, "ITM-LIVE\t2\n", err), -EPROTO);
	assert_non_null(strstr(err, "version 2"));
	live_replica_free(&r);

	assert_int_equal(live_replica_init(&r), 0);
	assert_int_equal(feed_str(&r, "ERR\tpermission denied\n", err),
			 -EACCES);
	assert_string_equal(err, "permission denied");
	live_replica_free(&r);

	/* Unknown records and extra fields are a later version's: skipped. */
	assert_int_equal(live_replica_init(&r), 0);
	assert_int_equal(
		feed_str(&r,
			 "ITM-LIVE\t1\nX\tnew\nF\t1\t10\t1\tmore\n"
			 "A\t10.0.0.1\t1\t2\t3\t4\t\t\t\t\tAS1 X\textra\n"
			 "E\n",
			 err),
		1);
	assert_int_equal(r.addrs.count, 1);
	assert_int_equal(r.addrs.entries[0].rx_packets, 4);
	assert_string_equal(r.addrs.entries[0].geo->asn, "AS1 X");
	/* A daemon from before the asn label: its rows read Unknown (""). */
	assert_int_equal(feed_str(&r,
				  "F\t2\t20\t0\nA\t10.0.0.1\t5\t2\t3\t4\t"
				  "中国\t\t\t电信\nE\n",
				  err),
			 1);
	assert_string_equal(r.addrs.entries[0].geo->isp, "电信");
	assert_string_equal(r.addrs.entries[0].geo->asn, "");
	/* Counters must be numbers. */
	assert_int_equal(
		feed_str(&r, "F\t3\t30\t0\nA\t10.0.0.1\t1\t2\tx\t4\n", err),
		-EPROTO);
	live_replica_free(&r);

	/* A row outside a frame is a broken stream. */
	assert_int_equal(live_replica_init(&r), 0);
	assert_int_equal(
		feed_str(&r, "ITM-LIVE\t1\nA\t10.0.0.1\t1\t2\t3\t4\n", err),
		-EPROTO);
	live_replica_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

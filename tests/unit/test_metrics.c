// SPDX-License-Identifier: MIT
/* Golden-string tests of the Prometheus exposition. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errno.h>

#include "clock.h"
#include "geo_labels.h"
#include "metrics.h"
#include "strbuf.h"
#include "table.h"
#include "test_addr.h"

static struct ip_entry *add(struct ip_table *t, const char *ip, uint64_t txb,
			    uint64_t txp, uint64_t rxb, uint64_t rxp)
{
	struct itm_value v = {txb, txp, rxb, rxp};
	struct in6_addr a = test_addr(ip);

	assert_int_equal(ip_table_add(t, &a, &v), 0);
	return ip_table_find(t, &a);
}

static char *render(const struct ip_table *t, const struct iface_stats *ifs,
		    size_t n_ifs)
{
	struct metrics_input in = {
		.table = t,
		.ifaces = ifs,
		.n_ifaces = n_ifs,
		.version = "1.2.3",
		.start_time_seconds = 1700000000.5,
	};
	struct strbuf sb = STRBUF_INIT;

	assert_int_equal(metrics_render(&in, &sb), 0);
	return strbuf_detach(&sb, NULL);
}

/* The sample line of family name that contains needle, or NULL. */
static const char *find_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, prefix, n))
			return p;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static void assert_line(const char *text, const char *line)
{
	const char *p = find_line(text, line);

	if (!p)
		fail_msg("missing line: %s\n---\n%s", line, text);
	/* A whole line, not a prefix of a longer one. */
	assert_true(p[strlen(line)] == '\n');
}

static size_t count_prefix(const char *text, const char *prefix)
{
	size_t n = 0, pl = strlen(prefix);

	for (const char *p = text; p && *p;) {
		if (!strncmp(p, prefix, pl))
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

static void test_escape_label(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"", ""},
		{"plain", "plain"},
		{"a\\b", "a\\\\b"},
		{"say \"hi\"", "say \\\"hi\\\""},
		{"two\nlines", "two\\nlines"},
		{"\\\"\n", "\\\\\\\"\\n"},
		{"tab\tstays", "tab\tstays"},
		{"中国", "中国"},
		{"北京市\"朝阳\"", "北京市\\\"朝阳\\\""},
		{"emoji \xf0\x9f\x98\x80", "emoji \xf0\x9f\x98\x80"},
		/* Invalid UTF-8 becomes U+FFFD so Prometheus keeps parsing. */
		{"bad\xff", "bad\xef\xbf\xbd"},
		{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
		{"cut\xe4\xb8", "cut\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xf4\x90\x80\x80",
		 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf sb = STRBUF_INIT;

		assert_int_equal(strbuf_puts(&sb, "x="), 0);
		assert_int_equal(metrics_escape_label(&sb, cases[i].in), 0);
		assert_string_equal(sb.buf + 2, cases[i].out);
		assert_int_equal(sb.len, strlen(cases[i].out) + 2);
		strbuf_free(&sb);
	}
}

static const char golden_full[] =
	"# HELP ip_traffic_tx_bytes_total Total transmitted bytes per IP address\n"
	"# TYPE ip_traffic_tx_bytes_total counter\n"
	"ip_traffic_tx_bytes_total{remote_ip=\"1.2.3.4\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} 1048576\n"
	"ip_traffic_tx_bytes_total{remote_ip=\"2001:db8::1\",country=\"中国\",province=\"江苏省\",city=\"南京市\",isp=\"中国电信\",asn=\"AS4134 CHINANET-BACKBONE\"} 3145728\n"
	"ip_traffic_tx_bytes_total{remote_ip=\"8.8.8.8\",country=\"a\\\\b\",province=\"q\\\"uote\",city=\"new\\nline\",isp=\"Unknown\",asn=\"Unknown\"} 0\n"
	"# HELP ip_traffic_rx_bytes_total Total received bytes per IP address\n"
	"# TYPE ip_traffic_rx_bytes_total counter\n"
	"ip_traffic_rx_bytes_total{remote_ip=\"1.2.3.4\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} 2000\n"
	"ip_traffic_rx_bytes_total{remote_ip=\"2001:db8::1\",country=\"中国\",province=\"江苏省\",city=\"南京市\",isp=\"中国电信\",asn=\"AS4134 CHINANET-BACKBONE\"} 4000000000000\n"
	"ip_traffic_rx_bytes_total{remote_ip=\"8.8.8.8\",country=\"a\\\\b\",province=\"q\\\"uote\",city=\"new\\nline\",isp=\"Unknown\",asn=\"Unknown\"} 5000000\n"
	"# HELP ip_traffic_tx_packets_total Total transmitted packets per IP address\n"
	"# TYPE ip_traffic_tx_packets_total counter\n"
	"ip_traffic_tx_packets_total{remote_ip=\"1.2.3.4\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} 1000\n"
	"ip_traffic_tx_packets_total{remote_ip=\"2001:db8::1\",country=\"中国\",province=\"江苏省\",city=\"南京市\",isp=\"中国电信\",asn=\"AS4134 CHINANET-BACKBONE\"} 3000\n"
	"ip_traffic_tx_packets_total{remote_ip=\"8.8.8.8\",country=\"a\\\\b\",province=\"q\\\"uote\",city=\"new\\nline\",isp=\"Unknown\",asn=\"Unknown\"} 0\n"
	"# HELP ip_traffic_rx_packets_total Total received packets per IP address\n"
	"# TYPE ip_traffic_rx_packets_total counter\n"
	"ip_traffic_rx_packets_total{remote_ip=\"1.2.3.4\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} 2\n"
	"ip_traffic_rx_packets_total{remote_ip=\"2001:db8::1\",country=\"中国\",province=\"江苏省\",city=\"南京市\",isp=\"中国电信\",asn=\"AS4134 CHINANET-BACKBONE\"} 4\n"
	"ip_traffic_rx_packets_total{remote_ip=\"8.8.8.8\",country=\"a\\\\b\",province=\"q\\\"uote\",city=\"new\\nline\",isp=\"Unknown\",asn=\"Unknown\"} 5000\n"
	"# HELP ip_traffic_all_tx_bytes_total Transmitted IP-layer bytes over all remote addresses: per-IP series + below_threshold + evicted + overflow\n"
	"# TYPE ip_traffic_all_tx_bytes_total counter\n"
	"ip_traffic_all_tx_bytes_total 4195105\n"
	"# HELP ip_traffic_all_rx_bytes_total Received IP-layer bytes over all remote addresses: per-IP series + below_threshold + evicted + overflow\n"
	"# TYPE ip_traffic_all_rx_bytes_total counter\n"
	"ip_traffic_all_rx_bytes_total 4000005003000\n"
	"# HELP ip_traffic_all_tx_packets_total Transmitted IP packets over all remote addresses: per-IP series + below_threshold + evicted + overflow\n"
	"# TYPE ip_traffic_all_tx_packets_total counter\n"
	"ip_traffic_all_tx_packets_total 4011\n"
	"# HELP ip_traffic_all_rx_packets_total Received IP packets over all remote addresses: per-IP series + below_threshold + evicted + overflow\n"
	"# TYPE ip_traffic_all_rx_packets_total counter\n"
	"ip_traffic_all_rx_packets_total 5018\n"
	"# HELP ip_traffic_overflow_tx_bytes_total Transmitted IP-layer bytes whose remote address found no slot in the BPF map (not in the per-IP series)\n"
	"# TYPE ip_traffic_overflow_tx_bytes_total counter\n"
	"ip_traffic_overflow_tx_bytes_total{iface=\"eth0\"} 700\n"
	"ip_traffic_overflow_tx_bytes_total{iface=\"veth\\\"1\"} 1\n"
	"# HELP ip_traffic_overflow_rx_bytes_total Received IP-layer bytes whose remote address found no slot in the BPF map (not in the per-IP series)\n"
	"# TYPE ip_traffic_overflow_rx_bytes_total counter\n"
	"ip_traffic_overflow_rx_bytes_total{iface=\"eth0\"} 800\n"
	"ip_traffic_overflow_rx_bytes_total{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_overflow_tx_packets_total Transmitted IP packets whose remote address found no slot in the BPF map (not in the per-IP series)\n"
	"# TYPE ip_traffic_overflow_tx_packets_total counter\n"
	"ip_traffic_overflow_tx_packets_total{iface=\"eth0\"} 7\n"
	"ip_traffic_overflow_tx_packets_total{iface=\"veth\\\"1\"} 1\n"
	"# HELP ip_traffic_overflow_rx_packets_total Received IP packets whose remote address found no slot in the BPF map (not in the per-IP series)\n"
	"# TYPE ip_traffic_overflow_rx_packets_total counter\n"
	"ip_traffic_overflow_rx_packets_total{iface=\"eth0\"} 8\n"
	"ip_traffic_overflow_rx_packets_total{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_non_ip_tx_bytes_total Transmitted link-layer frame bytes of non-IP frames (ARP, LLDP, ...)\n"
	"# TYPE ip_traffic_non_ip_tx_bytes_total counter\n"
	"ip_traffic_non_ip_tx_bytes_total{iface=\"eth0\"} 1100\n"
	"ip_traffic_non_ip_tx_bytes_total{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_non_ip_rx_bytes_total Received link-layer frame bytes of non-IP frames (ARP, LLDP, ...)\n"
	"# TYPE ip_traffic_non_ip_rx_bytes_total counter\n"
	"ip_traffic_non_ip_rx_bytes_total{iface=\"eth0\"} 0\n"
	"ip_traffic_non_ip_rx_bytes_total{iface=\"veth\\\"1\"} 1200\n"
	"# HELP ip_traffic_non_ip_tx_packets_total Transmitted non-IP frames (ARP, LLDP, ...)\n"
	"# TYPE ip_traffic_non_ip_tx_packets_total counter\n"
	"ip_traffic_non_ip_tx_packets_total{iface=\"eth0\"} 11\n"
	"ip_traffic_non_ip_tx_packets_total{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_non_ip_rx_packets_total Received non-IP frames (ARP, LLDP, ...)\n"
	"# TYPE ip_traffic_non_ip_rx_packets_total counter\n"
	"ip_traffic_non_ip_rx_packets_total{iface=\"eth0\"} 0\n"
	"ip_traffic_non_ip_rx_packets_total{iface=\"veth\\\"1\"} 12\n"
	"# HELP ip_traffic_malformed_tx_bytes_total Transmitted link-layer frame bytes of frames with an IP ethertype but a truncated or invalid IP header\n"
	"# TYPE ip_traffic_malformed_tx_bytes_total counter\n"
	"ip_traffic_malformed_tx_bytes_total{iface=\"eth0\"} 1300\n"
	"ip_traffic_malformed_tx_bytes_total{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_malformed_rx_bytes_total Received link-layer frame bytes of frames with an IP ethertype but a truncated or invalid IP header\n"
	"# TYPE ip_traffic_malformed_rx_bytes_total counter\n"
	"ip_traffic_malformed_rx_bytes_total{iface=\"eth0\"} 0\n"
	"ip_traffic_malformed_rx_bytes_total{iface=\"veth\\\"1\"} 1400\n"
	"# HELP ip_traffic_malformed_tx_packets_total Transmitted frames with an IP ethertype but a truncated or invalid IP header\n"
	"# TYPE ip_traffic_malformed_tx_packets_total counter\n"
	"ip_traffic_malformed_tx_packets_total{iface=\"eth0\"} 13\n"
	"ip_traffic_malformed_tx_packets_total{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_malformed_rx_packets_total Received frames with an IP ethertype but a truncated or invalid IP header\n"
	"# TYPE ip_traffic_malformed_rx_packets_total counter\n"
	"ip_traffic_malformed_rx_packets_total{iface=\"eth0\"} 0\n"
	"ip_traffic_malformed_rx_packets_total{iface=\"veth\\\"1\"} 14\n"
	"# HELP ip_traffic_interface_attached 1 while the programs are attached to the interface and its hooks run them; 0 after it disappeared, until an interface of that name is back, or after a hook was removed or replaced by someone else, until a restart\n"
	"# TYPE ip_traffic_interface_attached gauge\n"
	"ip_traffic_interface_attached{iface=\"eth0\"} 1\n"
	"ip_traffic_interface_attached{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_interface_reattached_total Times the interface disappeared and the programs were attached to a new interface of that name\n"
	"# TYPE ip_traffic_interface_reattached_total counter\n"
	"ip_traffic_interface_reattached_total{iface=\"eth0\"} 0\n"
	"ip_traffic_interface_reattached_total{iface=\"veth\\\"1\"} 2\n"
	"# HELP ip_traffic_map_entries Most slots of the interface's kernel map in use at a drain (distinct remote address and process pairs since the drain before) during the previous and the current sample interval; at ip_traffic_map_capacity new addresses go to ip_traffic_overflow_*\n"
	"# TYPE ip_traffic_map_entries gauge\n"
	"ip_traffic_map_entries{iface=\"eth0\"} 4096\n"
	"ip_traffic_map_entries{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_map_capacity Slots of the interface's kernel map (--map-size)\n"
	"# TYPE ip_traffic_map_capacity gauge\n"
	"ip_traffic_map_capacity{iface=\"eth0\"} 65536\n"
	"ip_traffic_map_capacity{iface=\"veth\\\"1\"} 8\n"
	"# HELP ip_traffic_xdp_attribution_missed_bytes_total --xdp: received IP-layer bytes that TC ingress attributed to a process but that stayed under pid 0 (the map was swapped between XDP and TC, the packet changed CPU, or --db had it under pid 0 before it moved); 0 without --xdp\n"
	"# TYPE ip_traffic_xdp_attribution_missed_bytes_total counter\n"
	"ip_traffic_xdp_attribution_missed_bytes_total{iface=\"eth0\"} 1500\n"
	"ip_traffic_xdp_attribution_missed_bytes_total{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_xdp_attribution_missed_packets_total --xdp: received IP packets that TC ingress attributed to a process but that stayed under pid 0 (the map was swapped between XDP and TC, the packet changed CPU, or --db had it under pid 0 before it moved); 0 without --xdp\n"
	"# TYPE ip_traffic_xdp_attribution_missed_packets_total counter\n"
	"ip_traffic_xdp_attribution_missed_packets_total{iface=\"eth0\"} 1\n"
	"ip_traffic_xdp_attribution_missed_packets_total{iface=\"veth\\\"1\"} 0\n"
	"# HELP ip_traffic_tracked_addresses Remote addresses in memory (at most --max-tracked)\n"
	"# TYPE ip_traffic_tracked_addresses gauge\n"
	"ip_traffic_tracked_addresses 4\n"
	"# HELP ip_traffic_exported_addresses Remote addresses whose tx+rx bytes reached the export threshold (exported per IP)\n"
	"# TYPE ip_traffic_exported_addresses gauge\n"
	"ip_traffic_exported_addresses 3\n"
	"# HELP ip_traffic_evicted_tx_bytes_total Transmitted IP-layer bytes of remote addresses dropped from memory at --max-tracked (longest idle, never exported, first) or never admitted (all kept addresses exported, or out of memory); not in the per-IP series\n"
	"# TYPE ip_traffic_evicted_tx_bytes_total counter\n"
	"ip_traffic_evicted_tx_bytes_total 0\n"
	"# HELP ip_traffic_evicted_rx_bytes_total Received IP-layer bytes of remote addresses dropped from memory at --max-tracked (longest idle, never exported, first) or never admitted (all kept addresses exported, or out of memory); not in the per-IP series\n"
	"# TYPE ip_traffic_evicted_rx_bytes_total counter\n"
	"ip_traffic_evicted_rx_bytes_total 0\n"
	"# HELP ip_traffic_evicted_tx_packets_total Transmitted IP packets of remote addresses dropped from memory at --max-tracked (longest idle, never exported, first) or never admitted (all kept addresses exported, or out of memory); not in the per-IP series\n"
	"# TYPE ip_traffic_evicted_tx_packets_total counter\n"
	"ip_traffic_evicted_tx_packets_total 0\n"
	"# HELP ip_traffic_evicted_rx_packets_total Received IP packets of remote addresses dropped from memory at --max-tracked (longest idle, never exported, first) or never admitted (all kept addresses exported, or out of memory); not in the per-IP series\n"
	"# TYPE ip_traffic_evicted_rx_packets_total counter\n"
	"ip_traffic_evicted_rx_packets_total 0\n"
	"# HELP ip_traffic_below_threshold_tx_bytes Transmitted IP-layer bytes of tracked remote addresses still below the export threshold (-t); not in the per-IP series\n"
	"# TYPE ip_traffic_below_threshold_tx_bytes gauge\n"
	"ip_traffic_below_threshold_tx_bytes 100\n"
	"# HELP ip_traffic_below_threshold_rx_bytes Received IP-layer bytes of tracked remote addresses still below the export threshold (-t); not in the per-IP series\n"
	"# TYPE ip_traffic_below_threshold_rx_bytes gauge\n"
	"ip_traffic_below_threshold_rx_bytes 200\n"
	"# HELP ip_traffic_below_threshold_tx_packets Transmitted IP packets of tracked remote addresses still below the export threshold (-t); not in the per-IP series\n"
	"# TYPE ip_traffic_below_threshold_tx_packets gauge\n"
	"ip_traffic_below_threshold_tx_packets 3\n"
	"# HELP ip_traffic_below_threshold_rx_packets Received IP packets of tracked remote addresses still below the export threshold (-t); not in the per-IP series\n"
	"# TYPE ip_traffic_below_threshold_rx_packets gauge\n"
	"ip_traffic_below_threshold_rx_packets 4\n"
	"# HELP ip_traffic_evicted_addresses_total Remote addresses dropped from memory to stay within --max-tracked\n"
	"# TYPE ip_traffic_evicted_addresses_total counter\n"
	"ip_traffic_evicted_addresses_total 0\n"
	"# HELP ip_traffic_alloc_failures_total Refusals (ip_traffic_refusals_total plus ip_traffic_process_refusals_total) for lack of memory\n"
	"# TYPE ip_traffic_alloc_failures_total counter\n"
	"ip_traffic_alloc_failures_total 0\n"
	"# HELP ip_traffic_refusals_total Drained counts of remote addresses that found no room in memory (every kept address exported at --max-tracked, or out of memory), one per kernel map entry (address, process, interface) per drain; their traffic is in ip_traffic_evicted_*\n"
	"# TYPE ip_traffic_refusals_total counter\n"
	"ip_traffic_refusals_total 0\n"
	"# HELP ip_traffic_process_refusals_total The same for (address, process) pairs in the per-process table; their traffic is in the per-IP families but in no ip_traffic_process_* series\n"
	"# TYPE ip_traffic_process_refusals_total counter\n"
	"ip_traffic_process_refusals_total 0\n"
	"# HELP ip_traffic_max_tracked_addresses The --max-tracked limit (0: none)\n"
	"# TYPE ip_traffic_max_tracked_addresses gauge\n"
	"ip_traffic_max_tracked_addresses 0\n"
	"# HELP ip_traffic_build_info Build information; the value is always 1\n"
	"# TYPE ip_traffic_build_info gauge\n"
	"ip_traffic_build_info{version=\"1.2.3\"} 1\n"
	"# HELP ip_traffic_start_time_seconds Unix time at which monitoring started\n"
	"# TYPE ip_traffic_start_time_seconds gauge\n"
	"ip_traffic_start_time_seconds 1700000000.5\n";

static void fill_golden_table(struct ip_table *t, struct iface_stats *ifs)
{
	static const struct geo_labels cn = {.country = "中国", .province = "江苏省", .city = "南京市",
					     .isp = "中国电信",
					     .asn = "AS4134 CHINANET-BACKBONE"};
	static const struct geo_labels esc = {.country = "a\\b", .province = "q\"uote", .city = "new\nline",
					      .isp = ""};
	struct ip_entry *e;

	assert_int_equal(ip_table_init(t, 1048576), 0);
	/* Exactly at the threshold: exported. */
	e = add(t, "1.2.3.4", 1048576, 1000, 0, 0);
	assert_true(e->exported);
	e = add(t, "1.2.3.4", 0, 0, 2000, 2);
	/* Below the threshold: only in the all_* totals. */
	e = add(t, "10.0.0.9", 100, 3, 200, 4);
	assert_false(e->exported);
	e = add(t, "2001:db8::1", 3145728, 3000, 0, 0);
	e->geo = &cn;
	e = add(t, "2001:db8::1", 0, 0, 4000000000000ULL, 4);
	e = add(t, "8.8.8.8", 0, 0, 5000000, 5000);
	e->geo = &esc;

	memset(ifs, 0, 2 * sizeof(*ifs));
	strcpy(ifs[0].name, "eth0");
	strcpy(ifs[1].name, "veth\"1");
	ifs[0].ctr[ITM_CTR_OVERFLOW_TX] = (struct itm_counter){7, 700};
	ifs[0].ctr[ITM_CTR_OVERFLOW_RX] = (struct itm_counter){8, 800};
	ifs[1].ctr[ITM_CTR_OVERFLOW_TX] = (struct itm_counter){1, 1};
	ifs[0].ctr[ITM_CTR_NON_IP_TX] = (struct itm_counter){11, 1100};
	ifs[1].ctr[ITM_CTR_NON_IP_RX] = (struct itm_counter){12, 1200};
	ifs[0].ctr[ITM_CTR_MALFORMED_TX] = (struct itm_counter){13, 1300};
	ifs[1].ctr[ITM_CTR_MALFORMED_RX] = (struct itm_counter){14, 1400};
	ifs[0].attached = true;
	ifs[1].reattached = 2; /* and gone now */
	ifs[0].map_entries = 4096;
	ifs[0].map_capacity = 65536;
	ifs[1].map_capacity = 8;
	ifs[0].xdp_missed = (struct itm_counter){.packets = 1, .bytes = 1500};
}

static void test_render_golden(void **state)
{
	struct iface_stats ifs[2];
	struct ip_table t;
	char *out;

	(void)state;
	fill_golden_table(&t, ifs);
	out = render(&t, ifs, 2);
	assert_string_equal(out, golden_full);
	free(out);
	ip_table_free(&t);
}

static void test_render_does_not_modify_table(void **state)
{
	struct iface_stats ifs[2];
	struct ip_table t;
	struct ip_entry *copy;
	size_t count;
	char *out;

	(void)state;
	fill_golden_table(&t, ifs);
	count = t.count;
	copy = malloc(count * sizeof(*copy));
	assert_non_null(copy);
	memcpy(copy, t.entries, count * sizeof(*copy));
	out = render(&t, ifs, 2);
	assert_int_equal(t.count, count);
	assert_memory_equal(copy, t.entries, count * sizeof(*copy));
	free(out);
	free(copy);
	ip_table_free(&t);
}

static void test_address_rendering(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"0.0.0.0", "0.0.0.0"},
		{"1.2.3.4", "1.2.3.4"},
		{"10.200.0.99", "10.200.0.99"},
		{"255.255.255.255", "255.255.255.255"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"::1", "::1"},
		{"::", "::"},
		{"2001:db8::1", "2001:db8::1"},
		{"fe80::1:2:3:4", "fe80::1:2:3:4"},
		{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
		{"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},
		{"2001:0:1:0:1:0:1:0", "2001:0:1:0:1:0:1:0"},
		{"1::", "1::"},
		/* RFC 5952: a single zero group is not compressed. */
		{"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
		{"::1.2.3.4", "::1.2.3.4"},
		{"abcd:ef01:2345:6789:abcd:ef01:2345:6789",
		 "abcd:ef01:2345:6789:abcd:ef01:2345:6789"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ip_table t;
		char line[256];
		char *out;

		assert_int_equal(ip_table_init(&t, 0), 0);
		add(&t, cases[i].in, 5, 1, 0, 0);
		out = render(&t, NULL, 0);
		snprintf(
			line, sizeof(line),
			"ip_traffic_tx_bytes_total{remote_ip=\"%s\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} 5",
			cases[i].out);
		assert_line(out, line);
		free(out);
		ip_table_free(&t);
	}
}

/*
 * The hand-written IPv6 formatter against glibc's inet_ntop() on
 * addresses rich in zero groups (every compression choice, ties, the
 * ::a.b.c.d form), in one table and one render.
 */
static void test_ipv6_matches_inet_ntop(void **state)
{
	const size_t n = 50000;
	struct ip_table t;
	uint32_t seed = 12345;
	char *out, *p;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	for (size_t i = 0; i < n; i++) {
		struct itm_value v = {i, 0, 0, 0};
		struct in6_addr a;

		for (int g = 0; g < 8; g++) {
			unsigned int w = 0;

			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) & 1)
				w = (seed >> 17) &
				    (0xffffu >> ((seed >> 8) % 16));
			a.s6_addr[2 * g] = (uint8_t)(w >> 8);
			a.s6_addr[2 * g + 1] = (uint8_t)w;
		}
		if (i == 0) /* :: itself */
			memset(&a, 0, sizeof(a));
		if (IN6_IS_ADDR_V4MAPPED(&a))
			a.s6_addr[0] = 1;
		assert_int_equal(ip_table_add(&t, &a, &v), 0);
	}
	out = render(&t, NULL, 0);
	p = strstr(out, "ip_traffic_tx_bytes_total{");
	for (size_t i = 0; i < t.count; i++) {
		char want[INET6_ADDRSTRLEN + 40];
		size_t wl;

		assert_non_null(inet_ntop(AF_INET6, &t.entries[i].addr, want,
					  INET6_ADDRSTRLEN));
		strcat(want, "\"");
		wl = strlen(want);
		p += strlen("ip_traffic_tx_bytes_total{remote_ip=\"");
		if (strncmp(p, want, wl))
			fail_msg("entry %zu: want %s got %.*s", i, want,
				 (int)wl, p);
		p = strchr(p, '\n') + 1;
	}
	free(out);
	ip_table_free(&t);
}

static void test_u64_values(void **state)
{
	static const uint64_t vals[] = {
		0,
		1,
		9,
		10,
		99,
		100,
		101,
		999,
		1000,
		65535,
		4294967295ULL,
		4294967296ULL,
		9999999999999999999ULL,
		10000000000000000000ULL,
		12345678901234567890ULL,
		UINT64_MAX,
	};
	(void)state;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct ip_table t;
		char line[256];
		char *out;

		assert_int_equal(ip_table_init(&t, 0), 0);
		add(&t, "192.0.2.7", 0, 0, 0, vals[i]);
		out = render(&t, NULL, 0);
		snprintf(
			line, sizeof(line),
			"ip_traffic_rx_packets_total{remote_ip=\"192.0.2.7\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} %llu",
			(unsigned long long)vals[i]);
		assert_line(out, line);
		free(out);
		ip_table_free(&t);
	}
}

static void test_threshold_sticky_and_filtered(void **state)
{
	const char *lbl =
		"{remote_ip=\"198.51.100.1\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"}";
	struct iface_stats ifs[1] = {{.name = "lo"}};
	struct ip_table t;
	struct ip_entry *e;
	char line[256];
	char *out;

	(void)state;
	assert_int_equal(ip_table_init(&t, 1000), 0);
	e = add(&t, "198.51.100.1", 600, 6, 399, 3);
	assert_false(e->exported);
	ifs[0].ctr[ITM_CTR_OVERFLOW_TX] = (struct itm_counter){2, 50};
	ifs[0].ctr[ITM_CTR_OVERFLOW_RX] = (struct itm_counter){3, 70};

	out = render(&t, ifs, 1);
	assert_null(find_line(out, "ip_traffic_tx_bytes_total{"));
	assert_null(find_line(out, "ip_traffic_rx_packets_total{"));
	assert_line(out, "ip_traffic_all_tx_bytes_total 650");
	assert_line(out, "ip_traffic_all_rx_bytes_total 469");
	assert_line(out, "ip_traffic_all_tx_packets_total 8");
	assert_line(out, "ip_traffic_all_rx_packets_total 6");
	assert_line(out, "ip_traffic_tracked_addresses 1");
	assert_line(out, "ip_traffic_exported_addresses 0");
	free(out);

	/* 999 + 1 reaches the threshold of 1000. */
	e = add(&t, "198.51.100.1", 1, 1, 0, 0);
	assert_true(e->exported);
	out = render(&t, ifs, 1);
	snprintf(line, sizeof(line), "ip_traffic_tx_bytes_total%s 601", lbl);
	assert_line(out, line);
	snprintf(line, sizeof(line), "ip_traffic_rx_bytes_total%s 399", lbl);
	assert_line(out, line);
	assert_line(out, "ip_traffic_exported_addresses 1");
	assert_line(out, "ip_traffic_all_tx_bytes_total 651");
	free(out);

	/* Once exported, always exported: a series must not vanish. */
	e = add(&t, "198.51.100.1", 0, 0, 0, 0);
	assert_true(e->exported);
	out = render(&t, ifs, 1);
	snprintf(line, sizeof(line), "ip_traffic_tx_packets_total%s 7", lbl);
	assert_line(out, line);
	free(out);
	ip_table_free(&t);
}

static void test_empty(void **state)
{
	static const char head[] =
		"# HELP ip_traffic_tx_bytes_total Total transmitted bytes per IP address\n"
		"# TYPE ip_traffic_tx_bytes_total counter\n"
		"# HELP ip_traffic_rx_bytes_total Total received bytes per IP address\n"
		"# TYPE ip_traffic_rx_bytes_total counter\n";
	struct metrics_input in = {0};
	struct strbuf sb = STRBUF_INIT;
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	in.table = &t;
	assert_int_equal(metrics_render(&in, &sb), 0);
	assert_memory_equal(sb.buf, head, sizeof(head) - 1);
	assert_line(sb.buf, "ip_traffic_all_tx_bytes_total 0");
	assert_line(sb.buf, "ip_traffic_tracked_addresses 0");
	/* No interfaces: the family is declared, with no samples. */
	assert_non_null(find_line(
		sb.buf,
		"# TYPE ip_traffic_overflow_tx_bytes_total counter\n# HELP ip_traffic_overflow_rx_bytes_total"));
	assert_line(sb.buf, "ip_traffic_build_info{version=\"Unknown\"} 1");
	assert_line(sb.buf, "ip_traffic_start_time_seconds 0");
	assert_int_equal(sb.buf[sb.len - 1], '\n');
	assert_int_equal(strlen(sb.buf), sb.len);
	strbuf_free(&sb);
	ip_table_free(&t);
}

static void test_scrape_duration(void **state)
{
	static const struct {
		double v;
		const char *out;
	} cases[] = {
		{0.25, "0.25"},	    {0, "0"},	  {1.5e-06, "1.5e-06"},
		{12.125, "12.125"}, {0.1, "0.1"}, {1.0 / 0.0, "+Inf"},
		{0.0 / 0.0, "NaN"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf sb = STRBUF_INIT;
		char want[256];

		snprintf(
			want, sizeof(want),
			"# HELP ip_traffic_scrape_duration_seconds Time spent preparing this scrape\n"
			"# TYPE ip_traffic_scrape_duration_seconds gauge\n"
			"ip_traffic_scrape_duration_seconds %s\n",
			cases[i].out);
		assert_int_equal(
			metrics_render_scrape_duration(&sb, cases[i].v), 0);
		assert_string_equal(sb.buf, want);
		strbuf_free(&sb);
	}
}

static const char golden_procs[] =
	"# HELP ip_traffic_process_tx_bytes_total Transmitted bytes per IP address and local process (pid 0: no local socket)\n"
	"# TYPE ip_traffic_process_tx_bytes_total counter\n"
	"ip_traffic_process_tx_bytes_total{remote_ip=\"1.2.3.4\",pid=\"1234\",process=\"curl\"} 2000000\n"
	"ip_traffic_process_tx_bytes_total{remote_ip=\"1.2.3.4\",pid=\"0\",process=\"\"} 5000\n"
	"ip_traffic_process_tx_bytes_total{remote_ip=\"2001:db8::1\",pid=\"42\",process=\"we\\\"ird\\\\\"} 3000\n"
	"ip_traffic_process_tx_bytes_total{remote_ip=\"8.8.8.8\",pid=\"4294967295\",process=\"abcdefghijklmnop\"} 1000\n"
	"# HELP ip_traffic_process_rx_bytes_total Received bytes per IP address and local process (pid 0: no local socket)\n"
	"# TYPE ip_traffic_process_rx_bytes_total counter\n"
	"ip_traffic_process_rx_bytes_total{remote_ip=\"1.2.3.4\",pid=\"1234\",process=\"curl\"} 5\n"
	"ip_traffic_process_rx_bytes_total{remote_ip=\"1.2.3.4\",pid=\"0\",process=\"\"} 0\n"
	"ip_traffic_process_rx_bytes_total{remote_ip=\"2001:db8::1\",pid=\"42\",process=\"we\\\"ird\\\\\"} 0\n"
	"ip_traffic_process_rx_bytes_total{remote_ip=\"8.8.8.8\",pid=\"4294967295\",process=\"abcdefghijklmnop\"} 0\n"
	"# HELP ip_traffic_process_tx_packets_total Transmitted packets per IP address and local process (pid 0: no local socket)\n"
	"# TYPE ip_traffic_process_tx_packets_total counter\n"
	"ip_traffic_process_tx_packets_total{remote_ip=\"1.2.3.4\",pid=\"1234\",process=\"curl\"} 10\n"
	"ip_traffic_process_tx_packets_total{remote_ip=\"1.2.3.4\",pid=\"0\",process=\"\"} 2\n"
	"ip_traffic_process_tx_packets_total{remote_ip=\"2001:db8::1\",pid=\"42\",process=\"we\\\"ird\\\\\"} 3\n"
	"ip_traffic_process_tx_packets_total{remote_ip=\"8.8.8.8\",pid=\"4294967295\",process=\"abcdefghijklmnop\"} 1\n"
	"# HELP ip_traffic_process_rx_packets_total Received packets per IP address and local process (pid 0: no local socket)\n"
	"# TYPE ip_traffic_process_rx_packets_total counter\n"
	"ip_traffic_process_rx_packets_total{remote_ip=\"1.2.3.4\",pid=\"1234\",process=\"curl\"} 1\n"
	"ip_traffic_process_rx_packets_total{remote_ip=\"1.2.3.4\",pid=\"0\",process=\"\"} 0\n"
	"ip_traffic_process_rx_packets_total{remote_ip=\"2001:db8::1\",pid=\"42\",process=\"we\\\"ird\\\\\"} 0\n"
	"ip_traffic_process_rx_packets_total{remote_ip=\"8.8.8.8\",pid=\"4294967295\",process=\"abcdefghijklmnop\"} 0\n";

static void add_proc(struct ip_table *procs, const char *ip, uint32_t pid,
		     const char *comm, uint64_t txb, uint64_t txp, uint64_t rxb,
		     uint64_t rxp)
{
	struct itm_value v = {txb, txp, rxb, rxp};
	struct in6_addr a = test_addr(ip);
	struct ip_entry *e = ip_table_upsert_pid(procs, &a, pid);

	assert_non_null(e);
	memset(e->comm, 0, sizeof(e->comm));
	memcpy(e->comm, comm, strnlen(comm, sizeof(e->comm)));
	ip_entry_account(procs, e, &v);
}

/*
 * The per-process families: their own label set, exported entries only,
 * placed between the per-IP families and the all_* totals.
 */
static void test_process_families(void **state)
{
	struct metrics_input in = {.version = "x"};
	struct strbuf sb = STRBUF_INIT;
	struct ip_table t, procs;
	const char *start, *end;

	(void)state;
	assert_int_equal(ip_table_init(&t, 1000), 0);
	add(&t, "1.2.3.4", 2005000, 12, 5, 1);
	assert_int_equal(ip_table_init(&procs, 1000), 0);
	add_proc(&procs, "1.2.3.4", 1234, "curl", 2000000, 10, 5, 1);
	add_proc(&procs, "1.2.3.4", 0, "", 5000, 2, 0, 0);
	add_proc(&procs, "2001:db8::1", 42, "we\"ird\\", 3000, 3, 0, 0);
	add_proc(&procs, "10.0.0.9", 7, "tiny", 10, 1, 0, 0);
	/* A full 16-byte comm has no NUL. */
	add_proc(&procs, "8.8.8.8", UINT32_MAX, "abcdefghijklmnopqrs", 1000, 1,
		 0, 0);
	in.table = &t;
	in.procs = &procs;
	assert_int_equal(metrics_render(&in, &sb), 0);

	start = strstr(sb.buf, "# HELP ip_traffic_process_tx_bytes_total");
	end = strstr(sb.buf, "# HELP ip_traffic_all_tx_bytes_total");
	assert_non_null(start);
	assert_non_null(end);
	assert_true(start > strstr(sb.buf, "ip_traffic_rx_packets_total{"));
	assert_int_equal((size_t)(end - start), strlen(golden_procs));
	assert_memory_equal(start, golden_procs, strlen(golden_procs));
	/* The per-process table does not feed the totals. */
	assert_line(sb.buf, "ip_traffic_all_tx_bytes_total 2005000");
	assert_line(sb.buf, "ip_traffic_tracked_addresses 1");
	strbuf_free(&sb);
	ip_table_free(&procs);
	ip_table_free(&t);
}

/* n keys 10.9.0.1, 10.9.0.2, ... (pid 1000 + i), 100 tx bytes, 1 rx packet. */
static void merge_keys(struct ip_table *t, struct ip_table *procs, size_t n)
{
	struct itm_key keys[32] = {};
	struct itm_value vals[32];

	assert_true(n <= 32);
	for (size_t i = 0; i < n; i++) {
		char ip[32];
		struct in6_addr a;

		snprintf(ip, sizeof(ip), "10.9.0.%zu", i + 1);
		a = test_addr(ip);
		memcpy(keys[i].addr, &a, sizeof(a));
		keys[i].pid = 1000 + (uint32_t)i;
		vals[i] = (struct itm_value){100, 1, 0, 1};
	}
	assert_int_equal(ip_table_merge_batch(t, procs, keys, vals, n, 1, NULL),
			 0);
}

/*
 * --max-tracked 10 with every kept address exported: the 15 newcomers of
 * each drain are refused, and every refusal is in an exported counter
 * (none of them for lack of memory), their traffic in evicted, the totals
 * exact.
 */
static void test_refusals_counted(void **state)
{
	struct metrics_input in = {.version = "x"};
	struct strbuf sb = STRBUF_INIT;
	struct ip_table t, procs;
	char line[96];

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	assert_int_equal(ip_table_set_limit(&t, 10), 0);
	assert_int_equal(ip_table_init(&procs, 0), 0);
	assert_int_equal(ip_table_set_limit(&procs, 10), 0);
	for (int drain = 0; drain < 2; drain++) {
		ip_table_tick(&t);
		ip_table_tick(&procs);
		merge_keys(&t, &procs, 25);
	}
	in.table = &t;
	in.procs = &procs;
	assert_int_equal(metrics_render(&in, &sb), 0);
	/* Ground truth: 2 drains x 25 keys x 100 bytes; 15 refused each. */
	assert_line(sb.buf, "ip_traffic_refusals_total 30");
	assert_line(sb.buf, "ip_traffic_process_refusals_total 30");
	assert_line(sb.buf, "ip_traffic_alloc_failures_total 0");
	assert_line(sb.buf, "ip_traffic_evicted_addresses_total 0");
	snprintf(line, sizeof(line), "ip_traffic_evicted_tx_bytes_total %d",
		 2 * 15 * 100);
	assert_line(sb.buf, line);
	assert_line(sb.buf, "ip_traffic_evicted_rx_packets_total 30");
	snprintf(line, sizeof(line), "ip_traffic_all_tx_bytes_total %d",
		 2 * 25 * 100);
	assert_line(sb.buf, line);
	assert_line(sb.buf, "ip_traffic_tracked_addresses 10");
	assert_line(sb.buf, "ip_traffic_exported_addresses 10");
	strbuf_free(&sb);
	ip_table_free(&procs);
	ip_table_free(&t);
}

/*
 * Many entries, half IPv6, every third one below the threshold: each
 * family must list exactly the exported ones with the right values, and
 * the copied label blocks must match the first family's.
 */
static void test_large(void **state)
{
	static const struct geo_labels g = {.country = "美国", .province = "加利福尼亚州", .city = "芒廷维尤",
					    .isp = "Google LLC", .asn = "AS15169 GOOGLE"};
	const char *env = getenv("ITM_BENCH_ENTRIES");
	size_t n = env ? strtoul(env, NULL, 10) : 200000, exported = 0;
	uint64_t all_tx = 0;
	struct ip_table t;
	char line[512], want[64];
	double t0, t1;
	char *out;

	(void)state;
	assert_int_equal(ip_table_init(&t, 100), 0);
	for (size_t i = 0; i < n; i++) {
		struct itm_value v = {i % 3 ? 1000 + i : 50, i + 1, 7, 1};
		struct in6_addr a = {0};
		struct ip_entry *e;

		if (i & 1) {
			a.s6_addr[0] = 0x20;
			a.s6_addr[1] = 0x01;
			memcpy(&a.s6_addr[8], &i, sizeof(i));
		} else {
			a.s6_addr[10] = a.s6_addr[11] = 0xff;
			a.s6_addr[12] = 10;
			a.s6_addr[13] = (uint8_t)(i >> 16);
			a.s6_addr[14] = (uint8_t)(i >> 8);
			a.s6_addr[15] = (uint8_t)i;
		}
		assert_int_equal(ip_table_add(&t, &a, &v), 0);
		e = ip_table_find(&t, &a);
		if (i % 5 == 0)
			e->geo = &g;
		exported += e->exported;
		all_tx += v.tx_bytes;
	}
	assert_int_equal(exported, n - (n + 2) / 3);

	t0 = monotonic_seconds();
	out = render(&t, NULL, 0);
	t1 = monotonic_seconds();
	print_message(
		"rendered %zu entries (%zu exported) in %.3f s, %zu bytes\n", n,
		exported, t1 - t0, strlen(out));

	assert_int_equal(count_prefix(out, "ip_traffic_tx_bytes_total{"),
			 exported);
	assert_int_equal(count_prefix(out, "ip_traffic_rx_bytes_total{"),
			 exported);
	assert_int_equal(count_prefix(out, "ip_traffic_tx_packets_total{"),
			 exported);
	assert_int_equal(count_prefix(out, "ip_traffic_rx_packets_total{"),
			 exported);
	snprintf(want, sizeof(want), "ip_traffic_all_tx_bytes_total %llu",
		 (unsigned long long)all_tx);
	assert_line(out, want);

	/* Entry 1 (IPv6, no geo) and entry 5 (IPv6, geo) in every family. */
	snprintf(
		line, sizeof(line),
		"ip_traffic_tx_bytes_total{remote_ip=\"2001::100:0:0:0\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} 1001");
	assert_line(out, line);
	snprintf(
		line, sizeof(line),
		"ip_traffic_rx_packets_total{remote_ip=\"2001::500:0:0:0\",country=\"美国\",province=\"加利福尼亚州\",city=\"芒廷维尤\",isp=\"Google LLC\",asn=\"AS15169 GOOGLE\"} 1");
	assert_line(out, line);
	snprintf(
		line, sizeof(line),
		"ip_traffic_tx_packets_total{remote_ip=\"2001::500:0:0:0\",country=\"美国\",province=\"加利福尼亚州\",city=\"芒廷维尤\",isp=\"Google LLC\",asn=\"AS15169 GOOGLE\"} 6");
	assert_line(out, line);
	/* Entry 2 (IPv4) is exported, entry 3 (every third) is not. */
	assert_line(
		out,
		"ip_traffic_rx_bytes_total{remote_ip=\"10.0.0.2\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} 7");
	assert_null(find_line(
		out,
		"ip_traffic_rx_bytes_total{remote_ip=\"2001::300:0:0:0\""));
	free(out);
	ip_table_free(&t);
}

/*
 * The streamed exposition is the whole one, byte for byte, however small
 * the pieces; the scrape duration goes last; the snapshot is a copy (later
 * table changes do not show) and holds only exported series.
 */
static void test_stream_pieces(void **state)
{
	static const struct geo_labels g = {.country = "中国", .province = "江苏省", .city = "南京市", .isp = "电信",
					    .asn = "AS4134 CHINANET-BACKBONE"};
	struct iface_stats ifs[1] = {{.name = "eth0"}};
	struct metrics_input in = {
		.version = "v", .ifaces = ifs, .n_ifaces = 1};
	struct strbuf piece = STRBUF_INIT;
	struct metrics_snapshot *snap;
	struct ip_table t;
	char *whole;
	size_t off = 0, small, big;
	int r;

	(void)state;
	assert_int_equal(ip_table_init(&t, 1000), 0);
	for (int i = 0; i < 3000; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		add(&t, ip, i % 2 ? 5000 : 10, 1, 0, 0)->geo = &g;
	}
	in.table = &t;
	whole = render(&t, ifs, 1);
	in.start_time_seconds = 1700000000.5;
	in.version = "1.2.3";
	snap = metrics_snapshot_take(&in);
	assert_non_null(snap);
	metrics_snapshot_set_duration(snap, 0.25);
	/* Changes after the snapshot do not reach it. */
	add(&t, "10.9.9.9", 1 << 20, 1, 0, 0);
	do {
		strbuf_reset(&piece);
		r = metrics_snapshot_read(snap, &piece, 7);
		assert_true(r >= 0);
		assert_true(piece.len > 0 || r == 0);
		if (piece.len > strlen(whole) - off)
			break; /* the last piece carries the duration too */
		if (memcmp(piece.buf, whole + off, piece.len))
			fail_msg("piece at %zu differs: [%s]", off, piece.buf);
		off += piece.len;
	} while (r > 0);
	assert_memory_equal(piece.buf, whole + off, strlen(whole) - off);
	off = strlen(whole);
	assert_int_equal(off, strlen(whole));
	/* What is left is the duration gauge. */
	while (r > 0) {
		r = metrics_snapshot_read(snap, &piece, 1 << 16);
		assert_true(r >= 0);
	}
	assert_non_null(strstr(piece.buf,
			       "\nip_traffic_scrape_duration_seconds 0.25\n"));
	metrics_snapshot_free(snap);
	free(whole);
	strbuf_free(&piece);

	/* The snapshot grows with exported series, not tracked ones. */
	snap = metrics_snapshot_take(&in);
	small = metrics_snapshot_size(snap);
	metrics_snapshot_free(snap);
	for (int i = 0; i < 100000; i++) {
		struct in6_addr a = {.s6_addr = {0x20, 0x01, 0x0d, 0xb8}};
		struct itm_value v = {1, 1, 0, 0};

		memcpy(&a.s6_addr[12], &i, sizeof(i));
		assert_int_equal(ip_table_add(&t, &a, &v), 0);
	}
	snap = metrics_snapshot_take(&in);
	big = metrics_snapshot_size(snap);
	metrics_snapshot_free(snap);
	assert_true(big < small + 4096);
	ip_table_free(&t);
}

/* The self-metrics, --iface-label's series and the sums beside them. */
static void test_self_and_iface_label(void **state)
{
	static const char proc_golden[] =
		"# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
		"# TYPE process_cpu_seconds_total counter\n"
		"process_cpu_seconds_total 1.25\n"
		"# HELP process_open_fds Number of open file descriptors.\n"
		"# TYPE process_open_fds gauge\n"
		"process_open_fds 12\n"
		"# HELP process_max_fds Maximum number of open file descriptors.\n"
		"# TYPE process_max_fds gauge\n"
		"process_max_fds 1024\n"
		"# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		"# TYPE process_virtual_memory_bytes gauge\n"
		"process_virtual_memory_bytes 40960000\n"
		"# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		"# TYPE process_resident_memory_bytes gauge\n"
		"process_resident_memory_bytes 8192000\n"
		"# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
		"# TYPE process_start_time_seconds gauge\n"
		"process_start_time_seconds 1700000000.27\n";
	struct proc_stats ps = {
		.cpu_seconds = 1.25,
		.rss_bytes = 8192000,
		.vsize = 40960000,
		.open_fds = 12,
		.max_fds = 1024,
		.start_time = 1700000000.27,
	};
	struct iface_stats ifs[2] = {{.name = "eth0"}, {.name = "wg\"0"}};
	struct ip_table t, by[2];
	const struct ip_table *byp[2] = {&by[0], &by[1]};
	struct metrics_input in = {
		.table = &t,
		.ifaces = ifs,
		.n_ifaces = 2,
		.version = "1.2.3",
		.libbpf_version = "v1.1",
		.kernel = "6.1.0-9-amd64",
		.process = &ps,
		.have_drain = true,
		.last_drain_seconds = 0.0025,
		.have_backlog = true,
		.backlog_rows = 3,
		.backlog_bytes = 4567,
		.iface_tables = byp,
	};
	struct strbuf sb = STRBUF_INIT;
	char stat[] =
		"4242 (a (b) c) S 1 2 3 0 -1 4194560 500 0 0 0 "
		"150 50 0 0 20 0 3 0 2700 40960000 2000 18446744073709551615";
	struct proc_stats parsed = {0};

	(void)state;
	assert_int_equal(procstat_parse(stat, 100, 4096, 1699999980.0, &parsed),
			 0);
	assert_true(parsed.cpu_seconds == 2.0);
	assert_true(parsed.start_time == 1700000007.0);
	assert_int_equal(parsed.vsize, 40960000);
	assert_int_equal(parsed.rss_bytes, 2000 * 4096);
	assert_int_equal(procstat_parse("4242 (x S 1", 100, 4096, 0, &parsed),
			 -EINVAL);

	assert_int_equal(ip_table_init(&t, 1000), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(ip_table_init(&by[i], 1000), 0);
	/* 1.2.3.4 on both (1200 + 500: exported by (interface, address)
	 * only on eth0), 5.6.7.8 on wg"0 only. */
	add(&t, "1.2.3.4", 1200, 6, 500, 5);
	add(&by[0], "1.2.3.4", 1200, 6, 0, 0);
	add(&by[1], "1.2.3.4", 0, 0, 500, 5);
	add(&t, "5.6.7.8", 2000, 2, 0, 0);
	add(&by[1], "5.6.7.8", 2000, 2, 0, 0);
	assert_int_equal(metrics_render(&in, &sb), 0);
	assert_non_null(strstr(sb.buf, proc_golden));
	assert_line(
		sb.buf,
		"ip_traffic_build_info{version=\"1.2.3\",libbpf=\"v1.1\",kernel=\"6.1.0-9-amd64\"} 1");
	assert_line(sb.buf, "ip_traffic_last_drain_duration_seconds 0.0025");
	assert_line(sb.buf, "ip_traffic_store_backlog_rows 3");
	assert_line(sb.buf, "ip_traffic_store_backlog_bytes 4567");
	assert_line(
		sb.buf,
		"ip_traffic_tx_bytes_total{remote_ip=\"1.2.3.4\",iface=\"eth0\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} 1200");
	assert_line(
		sb.buf,
		"ip_traffic_tx_bytes_total{remote_ip=\"5.6.7.8\",iface=\"wg\\\"0\",country=\"Unknown\",province=\"Unknown\",city=\"Unknown\",isp=\"Unknown\",asn=\"Unknown\"} 2000");
	/* 1.2.3.4 on wg"0 (500 bytes) is below -t 1000 there. */
	assert_null(strstr(sb.buf, "remote_ip=\"1.2.3.4\",iface=\"wg"));
	assert_line(sb.buf, "ip_traffic_below_threshold_rx_bytes 500");
	assert_line(sb.buf, "ip_traffic_below_threshold_tx_bytes 0");
	assert_line(sb.buf, "ip_traffic_exported_addresses 2");
	assert_line(sb.buf, "ip_traffic_all_tx_bytes_total 3200");
	strbuf_free(&sb);
	ip_table_free(&t);
	for (int i = 0; i < 2; i++)
		ip_table_free(&by[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_label),
		cmocka_unit_test(test_render_golden),
		cmocka_unit_test(test_render_does_not_modify_table),
		cmocka_unit_test(test_address_rendering),
		cmocka_unit_test(test_ipv6_matches_inet_ntop),
		cmocka_unit_test(test_u64_values),
		cmocka_unit_test(test_threshold_sticky_and_filtered),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_process_families),
		cmocka_unit_test(test_refusals_counted),
		cmocka_unit_test(test_scrape_duration),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_stream_pieces),
		cmocka_unit_test(test_self_and_iface_label),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

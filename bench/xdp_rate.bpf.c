// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reference XDP programs for the line-rate benchmark (bench/xdp_rate.py),
 * attached with insitu_attach IFACE xdp:
 *
 *   xempty  XDP_PASS and nothing else: the hook and the statistics' cost
 *   xmin    the minimal XDP counter issue 27 compares ours with: Ethernet
 *           -> IPv4/IPv6 source address (4-byte / 16-byte key), IP length,
 *           {bytes, packets} in a per-CPU hash, then XDP_PASS
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "itm_shared.h"

struct xmin_value {
	__u64 bytes;
	__u64 packets;
};

struct xmin_k16 {
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ITM_DEFAULT_MAP_ENTRIES);
	__type(key, __u32);
	__type(value, struct xmin_value);
} xmin4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ITM_DEFAULT_MAP_ENTRIES);
	__type(key, struct xmin_k16);
	__type(value, struct xmin_value);
} xmin6 SEC(".maps");

static __always_inline void add(void *map, const void *key, __u32 len)
{
	struct xmin_value *v = bpf_map_lookup_elem(map, key), init = {};

	if (!v) {
		bpf_map_update_elem(map, key, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, key);
		if (!v)
			return;
	}
	v->bytes += len;
	v->packets++;
}

SEC("xdp")
int xmin(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > end)
			return XDP_PASS;
		add(&xmin4, &iph->saddr, bpf_ntohs(iph->tot_len));
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > end)
			return XDP_PASS;
		add(&xmin6, &ip6h->saddr,
		    bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h));
	}
	return XDP_PASS;
}

SEC("xdp")
int xempty(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

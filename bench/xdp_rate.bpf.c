// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reference XDP programs for the line-rate benchmark (bench/xdp_rate.py),
 * attached with insitu_attach IFACE xdp:
 *
 *   xempty  XDP_PASS and nothing else: the hook and the statistics' cost
 *   xmin    the minimal XDP counter issue 27 compares ours with: Ethernet
 *           -> IPv4/IPv6 source address (4-byte / 16-byte key), IP length,
 *           {bytes, packets} in a per-CPU hash, then XDP_PASS
 *
 * and a ladder from xmin to our program (bpf/traffic.bpf.c itm_xdp_frags),
 * each rung adding one of its costs to the rung before:
 *
 *   xk24    one map for both families, keyed by struct itm_key (IPv4
 *           mapped, pid and pad zero)
 *   xv32    its value is struct itm_value (tx and rx, 32 bytes)
 *   xmim    the map is reached through a one-slot array of maps
 *   xlen    an xdp.frags program that asks bpf_xdp_get_buff_len() for the
 *           frame's length on every frame (what ours did before issue 27's
 *           follow-up)
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

struct xk24_value {
	__u64 bytes;
	__u64 packets;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ITM_DEFAULT_MAP_ENTRIES);
	__type(key, struct itm_key);
	__type(value, struct xk24_value);
} xk24_map SEC(".maps");

struct xv32_map_def {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ITM_DEFAULT_MAP_ENTRIES);
	__type(key, struct itm_key);
	__type(value, struct itm_value);
};

struct xv32_map_def xv32_map SEC(".maps");
struct xv32_map_def xmim_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct xv32_map_def);
} xmim_map SEC(".maps") = {
	.values = {&xmim_in},
};

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

enum rung { XK24, XV32, XMIM, XLEN };

/* The rungs: xmin's parse, then our key, value and map, one at a time. */
static __always_inline int ladder(struct xdp_md *ctx, enum rung rung)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct itm_value init = {}, *v;
	struct itm_key key = {};
	__u32 len, zero = 0;
	void *map;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > end)
			return XDP_PASS;
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], &iph->saddr, 4);
		len = bpf_ntohs(iph->tot_len);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > end)
			return XDP_PASS;
		__builtin_memcpy(key.addr, &ip6h->saddr, 16);
		len = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
	} else {
		return XDP_PASS;
	}
	if (rung == XK24) {
		add(&xk24_map, &key, len);
		return XDP_PASS;
	}
	if (rung == XLEN && bpf_xdp_get_buff_len(ctx) < len)
		return XDP_PASS; /* never: keeps the call */
	map = &xv32_map;
	if (rung >= XMIM) {
		map = bpf_map_lookup_elem(&xmim_map, &zero);
		if (!map)
			return XDP_PASS;
	}
	v = bpf_map_lookup_elem(map, &key);
	if (!v) {
		init.rx_bytes = len;
		init.rx_packets = 1;
		bpf_map_update_elem(map, &key, &init, BPF_NOEXIST);
		return XDP_PASS;
	}
	v->rx_bytes += len;
	v->rx_packets++;
	return XDP_PASS;
}

SEC("xdp")
int xk24(struct xdp_md *ctx)
{
	return ladder(ctx, XK24);
}

SEC("xdp")
int xv32(struct xdp_md *ctx)
{
	return ladder(ctx, XV32);
}

SEC("xdp")
int xmim(struct xdp_md *ctx)
{
	return ladder(ctx, XMIM);
}

SEC("xdp.frags")
int xlen(struct xdp_md *ctx)
{
	return ladder(ctx, XLEN);
}

SEC("xdp")
int xempty(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-remote-address byte and packet counting at TC egress and ingress.
 *
 * Counts go into a per-CPU hash reached through a one-slot array of maps.
 * User space swaps the slot to an empty map and, because the update waits
 * for an RCU grace period, can then drain the old map knowing no program
 * still writes to it: nothing is lost between read and reset.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "itm_owner_maps.bpf.h"
#include "itm_shared.h"
#include "parse.bpf.h"

/* Set by the loader before load: look up the owning process per packet. */
const volatile bool attribute_pid = false;

struct itm_stats_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ITM_DEFAULT_MAP_ENTRIES);
	__type(key, struct itm_key);
	__type(value, struct itm_value);
};

/* The two maps the slot alternates between; user space sets the slot. */
struct itm_stats_map itm_stats_a SEC(".maps");
struct itm_stats_map itm_stats_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct itm_stats_map);
} itm_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ITM_CTR_MAX);
	__type(key, __u32);
	__type(value, struct itm_counter);
} itm_counters SEC(".maps");

/* User space's bookkeeping of the two maps above; programs never read it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct itm_meta);
} itm_meta SEC(".maps");

static __always_inline void counter_add(__u32 idx, __u64 packets, __u64 bytes)
{
	struct itm_counter *c = bpf_map_lookup_elem(&itm_counters, &idx);

	/* Per-CPU slot and TC programs do not nest on one CPU: no atomics. */
	if (c) {
		c->packets += packets;
		c->bytes += bytes;
	}
}

static __always_inline __u32 owner_pid(struct bpf_sock *sk)
{
	struct bpf_sock *full = bpf_sk_fullsock(sk);
	struct itm_owner *o;

	/* A SYN-ACK leaves on a request socket: its listener owns it. */
	if (!full)
		full = bpf_get_listener_sock(sk);
	if (!full)
		return 0; /* time-wait: the process is done with it */
	o = bpf_sk_storage_get(&itm_sk_owner, full, 0, 0);
	return o ? o->pid : 0;
}

/*
 * Egress packets carry their socket; ingress packets are not demultiplexed
 * yet at TC, so look the socket up by the packet's 4-tuple.
 */
static __always_inline __u32 packet_pid(struct __sk_buff *skb,
					struct packet_info *pi, bool egress)
{
	struct bpf_sock *sk;
	__u32 pid;

	if (egress) {
		sk = skb->sk;
		return sk ? owner_pid(sk) : 0;
	}
	if (pi->l4proto == IPPROTO_TCP)
		sk = pi->v6 ? bpf_sk_lookup_tcp(skb, &pi->tuple,
						sizeof(pi->tuple.ipv6),
						BPF_F_CURRENT_NETNS, 0)
			    : bpf_sk_lookup_tcp(skb, &pi->tuple,
						sizeof(pi->tuple.ipv4),
						BPF_F_CURRENT_NETNS, 0);
	else if (pi->l4proto == IPPROTO_UDP)
		sk = pi->v6 ? bpf_sk_lookup_udp(skb, &pi->tuple,
						sizeof(pi->tuple.ipv6),
						BPF_F_CURRENT_NETNS, 0)
			    : bpf_sk_lookup_udp(skb, &pi->tuple,
						sizeof(pi->tuple.ipv4),
						BPF_F_CURRENT_NETNS, 0);
	else
		return 0;
	if (!sk)
		return 0;
	pid = owner_pid(sk);
	bpf_sk_release(sk);
	return pid;
}

static __always_inline void value_add(struct itm_value *v,
				      const struct packet_info *pi, bool egress)
{
	if (egress) {
		v->tx_bytes += pi->bytes;
		v->tx_packets += pi->packets;
	} else {
		v->rx_bytes += pi->bytes;
		v->rx_packets += pi->packets;
	}
}

static __always_inline void account(const struct packet_info *pi, bool egress)
{
	__u32 zero = 0;
	struct itm_value *v, init = {};
	void *stats;
	long err;

	stats = bpf_map_lookup_elem(&itm_active, &zero);
	if (!stats)
		goto overflow;
	v = bpf_map_lookup_elem(stats, &pi->key);
	if (v) {
		value_add(v, pi, egress);
		return;
	}
	value_add(&init, pi, egress);
	err = bpf_map_update_elem(stats, &pi->key, &init, BPF_NOEXIST);
	if (!err)
		return;
	/* Another CPU inserted the key between our lookup and update. */
	v = bpf_map_lookup_elem(stats, &pi->key);
	if (v) {
		value_add(v, pi, egress);
		return;
	}
overflow:
	/* Map full: keep the bytes exact in a counter that is exported. */
	counter_add(egress ? ITM_CTR_OVERFLOW_TX : ITM_CTR_OVERFLOW_RX,
		    pi->packets, pi->bytes);
}

static __always_inline int handle(struct __sk_buff *skb, bool egress, bool l3)
{
	struct packet_info pi;

	switch (parse_packet(skb, &pi, egress, l3, attribute_pid && !egress)) {
	case PARSE_IP:
		pi.key.pid = attribute_pid ? packet_pid(skb, &pi, egress) : 0;
		pi.key.pad = 0;
		account(&pi, egress);
		break;
	case PARSE_NON_IP:
		counter_add(egress ? ITM_CTR_NON_IP_TX : ITM_CTR_NON_IP_RX, 1,
			    skb->len);
		break;
	default:
		counter_add(egress ? ITM_CTR_MALFORMED_TX
				   : ITM_CTR_MALFORMED_RX,
			    1, skb->len);
		break;
	}
	/* Never end other filters' processing (TC_ACT_UNSPEC == TCX_NEXT). */
	return TC_ACT_UNSPEC;
}

SEC("tc")
int itm_egress(struct __sk_buff *skb)
{
	return handle(skb, true, false);
}

SEC("tc")
int itm_ingress(struct __sk_buff *skb)
{
	return handle(skb, false, false);
}

SEC("tc")
int itm_egress_l3(struct __sk_buff *skb)
{
	return handle(skb, true, true);
}

SEC("tc")
int itm_ingress_l3(struct __sk_buff *skb)
{
	return handle(skb, false, true);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

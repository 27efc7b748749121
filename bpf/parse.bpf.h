/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Header parsing for the TC programs: from the frame to the remote address
 * and the number of IP-layer bytes and wire packets the skb stands for.
 * Every read is bounds-checked against data_end; headers that are not in
 * the linear area are pulled in once with bpf_skb_pull_data().
 */
#ifndef ITM_PARSE_BPF_H
#define ITM_PARSE_BPF_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "itm_shared.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#define ITM_MAX_VLAN_TAGS 2
#define ITM_MAX_IPV6_EXT  4
/* Enough for Ethernet + 2 tags + IPv6 + 4 small extension headers + TCP. */
#define ITM_PULL_LEN 256

enum parse_result {
	PARSE_IP,
	PARSE_NON_IP,
	PARSE_MALFORMED,
};

struct packet_info {
	struct itm_key key;
	__u64 bytes;   /* IP-layer bytes of all wire packets */
	__u64 packets; /* wire packets (GSO segments) */
	/* Filled only when asked for (socket lookup at ingress). */
	struct bpf_sock_tuple tuple;
	__u8 l4proto; /* IPPROTO_TCP/UDP with a valid tuple, else 0 */
	bool v6;
};

/* Transport ports, the first four bytes of both TCP and UDP headers. */
struct l4_ports {
	__be16 sport;
	__be16 dport;
};

struct cursor {
	void *pos;
	void *end;
};

static __always_inline void cursor_reload(struct __sk_buff *skb,
					  struct cursor *c, __u32 off)
{
	c->pos = (void *)(long)skb->data + off;
	c->end = (void *)(long)skb->data_end;
}

/*
 * Length of the IP header chain plus the transport header, i.e. what every
 * GSO segment repeats.  Returns 0 when the transport is not TCP or UDP (we
 * then cannot know the per-segment overhead and count the IP header only).
 */
static __always_inline __u32 l4_header_len(struct cursor *c, __u8 proto)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = c->pos;

		if ((void *)(th + 1) > c->end)
			return 0;
		return th->doff * 4;
	}
	if (proto == IPPROTO_UDP)
		return sizeof(struct udphdr);
	return 0;
}

static __always_inline bool read_ports(struct cursor *c, __u8 proto,
				       __be16 *sport, __be16 *dport)
{
	struct l4_ports *p = c->pos;

	/* Keep clang from recomputing p after the bounds check. */
	barrier_var(p);
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return false;
	if ((void *)(p + 1) > c->end)
		return false;
	*sport = p->sport;
	*dport = p->dport;
	return true;
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct cursor *c,
				      struct packet_info *pi, __u32 nh_off,
				      bool egress, bool want_tuple)
{
	struct iphdr *iph = c->pos;
	__u32 ihl, tot_len, l4len, hdr_len, ip_len, segs;
	bool gso;

	if ((void *)(iph + 1) > c->end)
		return PARSE_MALFORMED;
	ihl = iph->ihl * 4;
	if (iph->version != 4 || ihl < sizeof(*iph))
		return PARSE_MALFORMED;

	__builtin_memset(&pi->key, 0, sizeof(pi->key));
	pi->key.addr[10] = 0xff;
	pi->key.addr[11] = 0xff;
	__builtin_memcpy(&pi->key.addr[12], egress ? &iph->daddr : &iph->saddr,
			 4);

	tot_len = bpf_ntohs(iph->tot_len);
	ip_len = skb->len - nh_off; /* includes any Ethernet padding */
	segs = skb->gso_segs;
	gso = segs > 1 || skb->gso_size;
	if (!gso) {
		/* BIG TCP leaves tot_len 0 on super-packets only. */
		pi->bytes = tot_len ? tot_len : ip_len;
		pi->packets = 1;
		if (!want_tuple)
			return PARSE_IP;
	}

	c->pos += ihl;
	/* Non-first fragments carry no ports: never guess a socket. */
	if (want_tuple && !(iph->frag_off & bpf_htons(0x1fff)) &&
	    read_ports(c, iph->protocol, &pi->tuple.ipv4.sport,
		       &pi->tuple.ipv4.dport)) {
		pi->tuple.ipv4.saddr = iph->saddr;
		pi->tuple.ipv4.daddr = iph->daddr;
		pi->l4proto = iph->protocol;
	}
	if (!gso)
		return PARSE_IP;

	/* GSO/GRO: every segment repeats the IP and transport headers. */
	l4len = l4_header_len(c, iph->protocol);
	hdr_len = ihl + l4len;
	/* IHL beyond the packet: ip_len - hdr_len below would wrap. */
	if (hdr_len > ip_len)
		return PARSE_MALFORMED;
	if (segs == 0 &&
	    skb->gso_size) /* untrusted (DODGY) GSO: not yet counted */
		segs = (ip_len - hdr_len + skb->gso_size - 1) / skb->gso_size;
	if (segs == 0)
		segs = 1;
	pi->bytes = ip_len + (__u64)(segs - 1) * hdr_len;
	pi->packets = segs;
	return PARSE_IP;
}

static __always_inline bool ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT;
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, struct cursor *c,
				      struct packet_info *pi, __u32 nh_off,
				      bool egress, bool want_tuple)
{
	struct ipv6hdr *ip6h = c->pos;
	__u32 payload_len, hdr_len, ip_len, segs;
	bool gso, first_fragment = true;
	__u8 nexthdr;

	if ((void *)(ip6h + 1) > c->end)
		return PARSE_MALFORMED;
	if (ip6h->version != 6)
		return PARSE_MALFORMED;
	__builtin_memcpy(pi->key.addr, egress ? &ip6h->daddr : &ip6h->saddr,
			 sizeof(pi->key.addr));

	payload_len = bpf_ntohs(ip6h->payload_len);
	ip_len = skb->len - nh_off;
	segs = skb->gso_segs;
	gso = segs > 1 || skb->gso_size;
	if (!gso) {
		/* payload_len 0 means a jumbogram (BIG TCP). */
		pi->bytes = payload_len ? payload_len + sizeof(*ip6h) : ip_len;
		pi->packets = 1;
		if (!want_tuple)
			return PARSE_IP;
	}

	hdr_len = sizeof(*ip6h);
	nexthdr = ip6h->nexthdr;
	c->pos += sizeof(*ip6h);
#pragma unroll
	for (int i = 0; i < ITM_MAX_IPV6_EXT; i++) {
		struct ipv6_opt_hdr *opt = c->pos;
		__u32 len;

		if (!ipv6_is_ext(nexthdr))
			break;
		if ((void *)(opt + 1) > c->end)
			return gso ? PARSE_MALFORMED : PARSE_IP;
		if (nexthdr == IPPROTO_FRAGMENT) {
			/* frag_off sits in bytes 2-3: offset in the top 13 bits
			 */
			__be16 *frag = c->pos + 2;

			if ((void *)(frag + 1) > c->end)
				return gso ? PARSE_MALFORMED : PARSE_IP;
			if (*frag & bpf_htons(0xfff8))
				first_fragment = false;
			len = 8;
		} else {
			len = (opt->hdrlen + 1) * 8;
		}
		nexthdr = opt->nexthdr;
		hdr_len += len;
		c->pos += len;
	}
	if (want_tuple && first_fragment &&
	    read_ports(c, nexthdr, &pi->tuple.ipv6.sport,
		       &pi->tuple.ipv6.dport)) {
		__builtin_memcpy(pi->tuple.ipv6.saddr, &ip6h->saddr, 16);
		__builtin_memcpy(pi->tuple.ipv6.daddr, &ip6h->daddr, 16);
		pi->l4proto = nexthdr;
		pi->v6 = true;
	}
	if (!gso)
		return PARSE_IP;

	hdr_len += l4_header_len(c, nexthdr);
	/* Extension headers longer than the packet: ip_len - hdr_len wraps. */
	if (hdr_len > ip_len)
		return PARSE_MALFORMED;
	if (segs == 0 && skb->gso_size)
		segs = (ip_len - hdr_len + skb->gso_size - 1) / skb->gso_size;
	if (segs == 0)
		segs = 1;
	pi->bytes = ip_len + (__u64)(segs - 1) * hdr_len;
	pi->packets = segs;
	return PARSE_IP;
}

/*
 * l3: the device has no link-layer header (tun, WireGuard); the protocol
 * then comes from skb->protocol.
 */
static __always_inline int parse_packet(struct __sk_buff *skb,
					struct packet_info *pi, bool egress,
					bool l3, bool want_tuple)
{
	struct cursor c;
	__u32 nh_off = 0;
	__u16 proto;

	pi->l4proto = 0;
	pi->v6 = false;
	if (skb->len > skb->data_end - skb->data &&
	    skb->data_end - skb->data < ITM_PULL_LEN)
		bpf_skb_pull_data(skb, skb->len < ITM_PULL_LEN ? skb->len
							       : ITM_PULL_LEN);
	cursor_reload(skb, &c, 0);

	if (l3) {
		proto = bpf_ntohs(skb->protocol);
	} else {
		struct ethhdr *eth = c.pos;

		if ((void *)(eth + 1) > c.end)
			return PARSE_MALFORMED;
		proto = bpf_ntohs(eth->h_proto);
		nh_off = sizeof(*eth);
		c.pos += sizeof(*eth);
#pragma unroll
		for (int i = 0; i < ITM_MAX_VLAN_TAGS; i++) {
			struct vlan_tag {
				__be16 tci;
				__be16 proto;
			} *vh = c.pos;

			if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
				break;
			if ((void *)(vh + 1) > c.end)
				return PARSE_MALFORMED;
			proto = bpf_ntohs(vh->proto);
			nh_off += sizeof(*vh);
			c.pos += sizeof(*vh);
		}
	}

	if (proto == ETH_P_IP)
		return parse_ipv4(skb, &c, pi, nh_off, egress, want_tuple);
	if (proto == ETH_P_IPV6)
		return parse_ipv6(skb, &c, pi, nh_off, egress, want_tuple);
	return PARSE_NON_IP;
}

#endif /* ITM_PARSE_BPF_H */

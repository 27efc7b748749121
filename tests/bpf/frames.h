/* SPDX-License-Identifier: MIT */
/*
 * Synthetic frames for BPF_PROG_TEST_RUN, shared by tests/bpf and bench/.
 * Checksums are left zero: the programs under test never look at them.
 */
#ifndef ITM_TEST_FRAMES_H
#define ITM_TEST_FRAMES_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/types.h>
#include <linux/udp.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* test_run copies data_in into one page: stay well below it. */
#define FRAME_MAX 2048

struct frame {
	__u8 data[FRAME_MAX];
	__u32 len;
};

struct pkt_spec {
	__u16 tpid[3]; /* VLAN tag protocols, outermost first; 0 ends */
	int family;    /* AF_INET or AF_INET6 */
	const char *src;
	const char *dst;
	__u8 l4;       /* IPPROTO_TCP, IPPROTO_UDP or anything else */
	__u8 tcp_doff; /* TCP header in 32-bit words; 0 means 5 */
	__u32 payload; /* transport payload bytes */
	bool ext;      /* IPv6: hop-by-hop 8 + routing 24 + dstopts 16 */
	bool zero_len; /* tot_len / payload_len 0, as BIG TCP sends */
	__u32 pad_to;  /* pad the frame to this size, as a NIC pads to 60 */
	bool l3;       /* no Ethernet header (tun, WireGuard) */
};

#define PKT_EXT_LEN (8 + 24 + 16)

static inline __u32 pkt_l4_len(const struct pkt_spec *s)
{
	if (s->l4 == IPPROTO_TCP)
		return (s->tcp_doff ? s->tcp_doff : 5) * 4;
	if (s->l4 == IPPROTO_UDP)
		return sizeof(struct udphdr);
	return 0;
}

/* IP header chain + transport header: what every GSO segment repeats. */
static inline __u32 pkt_hdr_len(const struct pkt_spec *s)
{
	__u32 ip = s->family == AF_INET ? sizeof(struct iphdr)
					: sizeof(struct ipv6hdr) +
						  (s->ext ? PKT_EXT_LEN : 0);

	return ip + pkt_l4_len(s);
}

/* IP-layer length of the (super-)packet as built. */
static inline __u32 pkt_ip_len(const struct pkt_spec *s)
{
	return pkt_hdr_len(s) + s->payload;
}

static inline void *frame_put(struct frame *f, __u32 n)
{
	void *p = f->data + f->len;

	f->len += n;
	return p;
}

/* IPv6 options header of @len bytes filled with one PadN option. */
static inline void put_opts_hdr(struct frame *f, __u8 next, __u32 len)
{
	__u8 *h = frame_put(f, len);

	h[0] = next;
	h[1] = len / 8 - 1;
	h[2] = 1; /* PadN */
	h[3] = len - 4;
}

static inline int frame_build(struct frame *f, const struct pkt_spec *s)
{
	__u32 l4len = pkt_l4_len(s), ip_len = pkt_ip_len(s);
	__u8 l4 = s->l4;

	memset(f, 0, sizeof(*f));
	if (ip_len + 14 + 4 * 3 > FRAME_MAX || s->pad_to > FRAME_MAX)
		return -E2BIG;

	if (!s->l3) {
		struct ethhdr *eth = frame_put(f, sizeof(*eth));
		__u32 proto_off = offsetof(struct ethhdr, h_proto);
		__be16 v;

		memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
		memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
		for (int i = 0; i < 3 && s->tpid[i]; i++) {
			__u8 *tag = frame_put(f, 4);

			v = htons(s->tpid[i]);
			memcpy(f->data + proto_off, &v, 2);
			v = htons(100 + i); /* VLAN id */
			memcpy(tag, &v, 2);
			proto_off = tag + 2 - f->data;
		}
		v = htons(s->family == AF_INET ? ETH_P_IP : ETH_P_IPV6);
		memcpy(f->data + proto_off, &v, 2);
	}

	if (s->family == AF_INET) {
		struct iphdr *iph = frame_put(f, sizeof(*iph));

		iph->version = 4;
		iph->ihl = 5;
		iph->tot_len = s->zero_len ? 0 : htons(ip_len);
		iph->ttl = 64;
		iph->protocol = l4;
		if (inet_pton(AF_INET, s->src, &iph->saddr) != 1 ||
		    inet_pton(AF_INET, s->dst, &iph->daddr) != 1)
			return -EINVAL;
	} else {
		struct ipv6hdr *ip6h = frame_put(f, sizeof(*ip6h));

		ip6h->version = 6;
		ip6h->payload_len =
			s->zero_len ? 0 : htons(ip_len - sizeof(*ip6h));
		ip6h->nexthdr = s->ext ? IPPROTO_HOPOPTS : l4;
		ip6h->hop_limit = 64;
		if (inet_pton(AF_INET6, s->src, &ip6h->saddr) != 1 ||
		    inet_pton(AF_INET6, s->dst, &ip6h->daddr) != 1)
			return -EINVAL;
		if (s->ext) {
			__u8 *rh;

			put_opts_hdr(f, IPPROTO_ROUTING, 8);
			rh = frame_put(f, 24);
			rh[0] = IPPROTO_DSTOPTS;
			rh[1] = 24 / 8 - 1;
			put_opts_hdr(f, l4, 16);
		}
	}

	if (l4 == IPPROTO_TCP) {
		struct tcphdr *th = frame_put(f, l4len);

		th->source = htons(40000);
		th->dest = htons(443);
		th->doff = l4len / 4;
		th->ack = 1;
	} else if (l4 == IPPROTO_UDP) {
		struct udphdr *uh = frame_put(f, l4len);

		uh->source = htons(40000);
		uh->dest = htons(53);
		uh->len = htons(l4len + s->payload);
	}
	memset(frame_put(f, s->payload), 0xa5, s->payload);
	if (f->len < s->pad_to)
		frame_put(f, s->pad_to - f->len);
	return 0;
}

#endif /* ITM_TEST_FRAMES_H */

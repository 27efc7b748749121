/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Header parsing for the TC programs: from the frame to the remote address
 * and the number of IP-layer bytes and wire packets the skb stands for.
 *
 * In the manner of xdp-tools' parsing_helpers.h: one function per header,
 * each taking the cursor, checking the header against data_end before any
 * read and moving the cursor past it.  The cursor is the only position;
 * lengths (IP bytes, the headers every GSO segment repeats) are differences
 * of its offsets.  Headers that are not in the linear area (an AF_PACKET
 * TX ring's frames) are copied to the stack with bpf_skb_load_bytes() at
 * egress when the IP header is all that is read, and pulled in once with
 * bpf_skb_pull_data() otherwise (see parse_packet()).
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
/* Ethernet + 2 tags + an IPv6 header (62 bytes): all that is read of a
 * packet that is neither GSO nor looked up by its ports. */
#define ITM_HDR_LEN 64
/*
 * What parse_copy() copies: the shortest Ethernet frame without its FCS
 * (ETH_ZLEN), so that every frame but a runt takes the copy; only the
 * rare 802.1ad + 802.1Q + IPv6 frame needs more (62 bytes), and falls
 * back to the pull.
 */
#define ITM_COPY_LEN 60

/* IPv4 frag_off: the fragment offset (8-byte units) below the flags. */
#define ITM_IP_OFFSET_MASK 0x1fff
/* IPv6 fragment header frag_off: offset in the top 13 bits, then flags. */
#define ITM_IP6_OFFSET_MASK 0xfff8

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

/*
 * The Ethernet header as we read it: linux/if_ether.h declares struct
 * ethhdr packed, which makes clang read h_proto a byte at a time (two
 * loads, a shift and an or per header); this one is 2-byte aligned, the
 * alignment every frame start has, so the ethertype is one 16-bit load.
 */
struct itm_ethhdr {
	__u8 h_dest[ETH_ALEN];
	__u8 h_source[ETH_ALEN];
	__be16 h_proto;
};

/* An 802.1Q/802.1ad tag, after the MAC addresses or the previous tag. */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

/* The IPv6 fragment header (RFC 8200, 4.5). */
struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* Transport ports, the first four bytes of both TCP and UDP headers. */
struct l4_ports {
	__be16 sport;
	__be16 dport;
};

/*
 * The next header to read, and its offset from the start of the frame.
 * cut: a read ran past end (parse_packet()'s read of the linear area
 * then pulls the headers in and parses again).
 */
struct hdr_cursor {
	void *pos;
	void *end;
	__u32 off;
	bool cut;
};

/* The header of len bytes at the cursor, which moves past it; NULL (and
 * the cursor stays) when the header is not entirely in the packet. */
static __always_inline void *cursor_pull(struct hdr_cursor *c, __u32 len)
{
	void *h = c->pos;

	if (h + len > c->end) {
		c->cut = true;
		return NULL;
	}
	c->pos += len;
	c->off += len;
	return h;
}

/* Move past len bytes that need not be read (options, extensions). */
static __always_inline void cursor_skip(struct hdr_cursor *c, __u32 len)
{
	c->pos += len;
	c->off += len;
}

static __always_inline bool proto_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) ||
	       proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Ethernet and up to ITM_MAX_VLAN_TAGS tags; returns the ethertype in
 * network order (a third tag is returned as such: not IP), or -1 when a
 * header is cut short.
 */
static __always_inline int parse_ethhdr(struct hdr_cursor *c)
{
	struct itm_ethhdr *eth = cursor_pull(c, sizeof(*eth));
	__be16 proto;

	if (!eth)
		return -1;
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < ITM_MAX_VLAN_TAGS; i++) {
		struct vlan_hdr *vh;

		if (!proto_is_vlan(proto))
			break;
		vh = cursor_pull(c, sizeof(*vh));
		if (!vh)
			return -1;
		proto = vh->h_vlan_encapsulated_proto;
	}
	return proto;
}

/* IPv4 header with its options; NULL when invalid or cut short. */
static __always_inline struct iphdr *parse_iphdr(struct hdr_cursor *c)
{
	struct iphdr *iph = cursor_pull(c, sizeof(*iph));

	if (!iph || iph->version != 4 || iph->ihl < sizeof(*iph) / 4)
		return NULL;
	cursor_skip(c, iph->ihl * 4 - sizeof(*iph));
	return iph;
}

static __always_inline struct ipv6hdr *parse_ip6hdr(struct hdr_cursor *c)
{
	struct ipv6hdr *ip6h = cursor_pull(c, sizeof(*ip6h));

	if (!ip6h || ip6h->version != 6)
		return NULL;
	return ip6h;
}

static __always_inline bool ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT;
}

/*
 * Up to ITM_MAX_IPV6_EXT extension headers after the IPv6 header; *nexthdr
 * comes in as the IPv6 header's and leaves as the transport protocol.
 * Returns -1 when an extension header is cut short, else whether this is
 * a first (or no) fragment, the only kind that carries transport ports.
 */
static __always_inline int parse_ipv6_ext(struct hdr_cursor *c, __u8 *nexthdr)
{
	int first_fragment = 1;

#pragma unroll
	for (int i = 0; i < ITM_MAX_IPV6_EXT; i++) {
		struct ipv6_opt_hdr *opt;

		if (!ipv6_is_ext(*nexthdr))
			break;
		if (*nexthdr == IPPROTO_FRAGMENT) {
			struct ipv6_frag_hdr *fh = cursor_pull(c, sizeof(*fh));

			if (!fh)
				return -1;
			if (fh->frag_off & bpf_htons(ITM_IP6_OFFSET_MASK))
				first_fragment = 0;
			*nexthdr = fh->nexthdr;
			continue;
		}
		opt = cursor_pull(c, sizeof(*opt));
		if (!opt)
			return -1;
		*nexthdr = opt->nexthdr;
		/* hdrlen counts 8-byte units after the first 8 bytes. */
		cursor_skip(c, (opt->hdrlen + 1) * 8 - sizeof(*opt));
	}
	return first_fragment;
}

static __always_inline bool parse_ports(struct hdr_cursor *c, __u8 proto,
					__be16 *sport, __be16 *dport)
{
	struct l4_ports *p = c->pos;

	/* Keep clang from recomputing p after the bounds check. */
	barrier_var(p);
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return false;
	if ((void *)(p + 1) > c->end) {
		c->cut = true;
		return false;
	}
	*sport = p->sport;
	*dport = p->dport;
	return true;
}

/*
 * Length of the transport header at the cursor, which every GSO segment
 * repeats; 0 when the transport is not TCP or UDP (we then cannot know the
 * per-segment overhead and count the IP headers only).
 */
static __always_inline __u32 l4_header_len(struct hdr_cursor *c, __u8 proto)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = c->pos;

		if ((void *)(th + 1) > c->end) {
			c->cut = true;
			return 0;
		}
		return th->doff * 4;
	}
	if (proto == IPPROTO_UDP)
		return sizeof(struct udphdr);
	return 0;
}

/*
 * The key of an IPv4 remote address: IPv4-mapped (::ffff:a.b.c.d), pid and
 * pad zero (the caller sets the pid).  Three stores of whole words instead
 * of a memset and byte stores; one definition for TC and XDP.
 */
static __always_inline void key_set_ipv4(struct itm_key *key, __be32 addr)
{
	/* Separate constants: an array would be read from .rodata. */
	__u64 zero = 0;
	__be32 mapped = bpf_htonl(0x0000ffff);

	__builtin_memcpy(key->addr, &zero, sizeof(zero));
	__builtin_memcpy(&key->addr[8], &mapped, sizeof(mapped));
	__builtin_memcpy(&key->addr[12], &addr, sizeof(addr));
	key->pid = 0;
	key->pad = 0;
}

/* The key of an IPv6 remote address; pid and pad zero. */
static __always_inline void key_set_ipv6(struct itm_key *key,
					 const struct in6_addr *addr)
{
	__builtin_memcpy(key->addr, addr, sizeof(key->addr));
	key->pid = 0;
	key->pad = 0;
}

/*
 * A GSO/GRO skb stands for segs wire packets, each repeating hdr_len bytes
 * of headers (IP through transport); ip_len is the skb's bytes from the IP
 * header on.  An untrusted (DODGY) GSO skb has gso_segs 0 until the stack
 * counts it: then derive segs from gso_size.
 */
static __always_inline int gso_account(struct packet_info *pi, __u32 segs,
				       __u32 gso_size, __u32 ip_len,
				       __u32 hdr_len)
{
	/* Headers beyond the packet: ip_len - hdr_len below would wrap. */
	if (hdr_len > ip_len)
		return PARSE_MALFORMED;
	if (segs == 0 && gso_size)
		segs = (ip_len - hdr_len + gso_size - 1) / gso_size;
	if (segs == 0)
		segs = 1;
	pi->bytes = ip_len + (__u64)(segs - 1) * hdr_len;
	pi->packets = segs;
	return PARSE_IP;
}

/*
 * The remote address and the byte count of an IPv4 packet at the cursor.
 * Without GSO the IP header says the length and nothing after it is read
 * unless the ports are wanted.
 */
static __always_inline int parse_ipv4(struct __sk_buff *skb,
				      struct hdr_cursor *c,
				      struct packet_info *pi, bool egress,
				      bool want_tuple, bool hdr_only)
{
	__u32 ip_off = c->off, ip_len = skb->len - ip_off, segs, gso_size;
	struct iphdr *iph = parse_iphdr(c);
	bool gso;

	if (!iph)
		return PARSE_MALFORMED;
	key_set_ipv4(&pi->key, egress ? iph->daddr : iph->saddr);

	/* hdr_only: the caller saw no GSO, and only the IP header is there. */
	segs = hdr_only ? 1 : skb->gso_segs;
	gso_size = hdr_only ? 0 : skb->gso_size;
	gso = segs > 1 || gso_size;
	if (!gso) {
		/* BIG TCP leaves tot_len 0 on super-packets only; ip_len
		 * would include any Ethernet padding. */
		__u32 tot_len = bpf_ntohs(iph->tot_len);

		pi->bytes = tot_len ? tot_len : ip_len;
		pi->packets = 1;
		if (!want_tuple)
			return PARSE_IP;
	}

	/* Non-first fragments carry no ports: never guess a socket. */
	if (want_tuple && !(iph->frag_off & bpf_htons(ITM_IP_OFFSET_MASK)) &&
	    parse_ports(c, iph->protocol, &pi->tuple.ipv4.sport,
			&pi->tuple.ipv4.dport)) {
		pi->tuple.ipv4.saddr = iph->saddr;
		pi->tuple.ipv4.daddr = iph->daddr;
		pi->l4proto = iph->protocol;
	}
	if (!gso)
		return PARSE_IP;
	return gso_account(pi, segs, gso_size, ip_len,
			   c->off - ip_off + l4_header_len(c, iph->protocol));
}

static __always_inline int parse_ipv6(struct __sk_buff *skb,
				      struct hdr_cursor *c,
				      struct packet_info *pi, bool egress,
				      bool want_tuple, bool hdr_only)
{
	__u32 ip_off = c->off, ip_len = skb->len - ip_off, segs, gso_size;
	struct ipv6hdr *ip6h = parse_ip6hdr(c);
	int first_fragment;
	__u8 nexthdr;
	bool gso;

	if (!ip6h)
		return PARSE_MALFORMED;
	key_set_ipv6(&pi->key, egress ? &ip6h->daddr : &ip6h->saddr);

	/* hdr_only: the caller saw no GSO, and only the IP header is there. */
	segs = hdr_only ? 1 : skb->gso_segs;
	gso_size = hdr_only ? 0 : skb->gso_size;
	gso = segs > 1 || gso_size;
	if (!gso) {
		/* payload_len 0 means a jumbogram (BIG TCP). */
		__u32 payload_len = bpf_ntohs(ip6h->payload_len);

		pi->bytes = payload_len ? payload_len + sizeof(*ip6h) : ip_len;
		pi->packets = 1;
		if (!want_tuple)
			return PARSE_IP;
	}

	nexthdr = ip6h->nexthdr;
	first_fragment = parse_ipv6_ext(c, &nexthdr);
	if (first_fragment < 0)
		return gso ? PARSE_MALFORMED : PARSE_IP;
	if (want_tuple && first_fragment &&
	    parse_ports(c, nexthdr, &pi->tuple.ipv6.sport,
			&pi->tuple.ipv6.dport)) {
		__builtin_memcpy(pi->tuple.ipv6.saddr, &ip6h->saddr, 16);
		__builtin_memcpy(pi->tuple.ipv6.daddr, &ip6h->daddr, 16);
		pi->l4proto = nexthdr;
		pi->v6 = true;
	}
	if (!gso)
		return PARSE_IP;
	return gso_account(pi, segs, gso_size, ip_len,
			   c->off - ip_off + l4_header_len(c, nexthdr));
}

/*
 * From the cursor (the frame's start, or a copy of its first bytes) on.
 * l3: the device has no link-layer header (tun, WireGuard); the protocol
 * then comes from skb->protocol.
 */
static __always_inline int parse_from(struct __sk_buff *skb,
				      struct hdr_cursor *c,
				      struct packet_info *pi, bool egress,
				      bool l3, bool want_tuple, bool hdr_only)
{
	int proto;

	if (l3) {
		proto = skb->protocol;
	} else {
		proto = parse_ethhdr(c);
		if (proto < 0)
			return PARSE_MALFORMED;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(skb, c, pi, egress, want_tuple, hdr_only);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(skb, c, pi, egress, want_tuple, hdr_only);
	return PARSE_NON_IP;
}

/*
 * The first ITM_COPY_LEN bytes (the caller pulls shorter frames) copied to
 * the stack, for a frame whose headers are not in the linear area.  Much
 * cheaper than bpf_skb_pull_data(), which reallocates the skb's head,
 * copies the bytes and can drop its page fragments; and it leaves the skb
 * as it was for the rest of the stack.
 */
static __always_inline int
parse_copy(struct __sk_buff *skb, struct packet_info *pi, bool egress, bool l3)
{
	/*
	 * The verifier refuses misaligned stack reads: start the frame 2
	 * bytes in, so that the IP header after the 14-byte Ethernet header
	 * (and each 4-byte tag) is 4-byte aligned, as NET_IP_ALIGN does.
	 */
	__u8 buf[ITM_HDR_LEN + 8] __attribute__((aligned(8)));
	struct hdr_cursor c;
	__u32 skew = l3 ? 0 : 2;

	/*
	 * A constant length: Linux 5.10's verifier loses the lower bound of
	 * a clamped variable one ("invalid zero-sized read") and refused the
	 * whole object.  The caller sends frames shorter than this to the
	 * pull, and so does it with a header beyond the copy (PARSE_MALFORMED).
	 */
	if (bpf_skb_load_bytes(skb, 0, buf + skew, ITM_COPY_LEN))
		return PARSE_MALFORMED;
	c.pos = buf + skew;
	c.end = buf + skew + ITM_COPY_LEN;
	c.off = 0;
	return parse_from(skb, &c, pi, egress, l3, false, true);
}

/*
 * Ingress, a frame that is neither GSO nor looked up: pull exactly its
 * link-layer and IP headers (the linear area holds the link layer, as
 * the stack's does) and read them there.  Not the whole of a short
 * frame: a pull that empties the page fragments frees them, which cost
 * 40 ns a packet more than the floor on ring frames (bench/RESULTS.md).
 * PARSE_MALFORMED: not read (link layer not in the linear area, headers
 * cut short); the caller pulls more and parses again.
 */
static __always_inline int parse_pulled(struct __sk_buff *skb,
					struct packet_info *pi, bool l3)
{
	struct hdr_cursor c = {
		.pos = (void *)(long)skb->data,
		.end = (void *)(long)skb->data_end,
	};
	int proto = l3 ? skb->protocol : parse_ethhdr(&c);
	__u32 need = c.off;

	if (proto < 0)
		return PARSE_MALFORMED;
	if (proto == bpf_htons(ETH_P_IP))
		need += sizeof(struct iphdr);
	else if (proto == bpf_htons(ETH_P_IPV6))
		need += sizeof(struct ipv6hdr);
	else
		return PARSE_NON_IP;
	if (need > skb->len || bpf_skb_pull_data(skb, need))
		return PARSE_MALFORMED;
	c.pos = (void *)(long)skb->data;
	c.end = (void *)(long)skb->data_end;
	c.off = 0;
	return parse_from(skb, &c, pi, false, l3, false, true);
}

static __always_inline int parse_packet(struct __sk_buff *skb,
					struct packet_info *pi, bool egress,
					bool l3, bool want_tuple)
{
	__u32 linear = skb->data_end - skb->data;
	struct hdr_cursor c = {};
	int ret;

	pi->l4proto = 0;
	pi->v6 = false;
	if (skb->len > linear && linear < ITM_PULL_LEN) {
		/*
		 * Not all of the frame is in the linear area.  Read what we
		 * need where it is: in the linear area when that holds it
		 * (the stack's own skbs and most NICs' hold every header,
		 * GRO pulls the IP header in), else, for a frame that is
		 * neither GSO nor looked up by its ports (only its IP
		 * header is read), a copy at egress or a pull of exactly
		 * its headers at ingress (parse_pulled()), else a pull of
		 * ITM_PULL_LEN bytes: GSO reads the transport header's
		 * length and the socket lookup the ports.
		 *
		 * At egress a pull can cost a copy of the whole frame (an
		 * AF_PACKET TX ring's pages are the user's: the kernel copies
		 * them out before it changes the skb's head), so egress
		 * copies.  Ingress pulls: IP input pulls the headers right
		 * after us anyway, so a copy only moved that pull into
		 * ip_rcv() (bench/RESULTS.md 2026-12-07 06:31: the receiving
		 * CPU's total per packet +16 to +57 ns with the copy).  What
		 * made our pull dear was its length: ITM_PULL_LEN takes all
		 * of a short frame into the head (and frees its page
		 * fragment) or payload of a long one, where a pull of the
		 * headers costs about what a load does.  A frame none of
		 * these read (its headers end past what was read, or it is
		 * malformed: the full pull then says so) is pulled after all.
		 */
		bool plain =
			!want_tuple && skb->gso_segs <= 1 && !skb->gso_size;

		/* Not even an IPv4 header there (veth without GRO, rings). */
		if (linear >= (l3 ? 0 : ETH_HLEN) + sizeof(struct iphdr)) {
			c.pos = (void *)(long)skb->data;
			c.end = (void *)(long)skb->data_end;
			ret = parse_from(skb, &c, pi, egress, l3, want_tuple,
					 false);
			if (!c.cut)
				return ret;
			pi->l4proto = 0;
			pi->v6 = false;
		}
		if (plain && egress && skb->len >= ITM_COPY_LEN) {
			ret = parse_copy(skb, pi, egress, l3);
			if (ret != PARSE_MALFORMED)
				return ret;
		}
		if (plain && !egress) {
			ret = parse_pulled(skb, pi, l3);
			if (ret != PARSE_MALFORMED)
				return ret;
		}
		bpf_skb_pull_data(skb, skb->len < ITM_PULL_LEN ? skb->len
							       : ITM_PULL_LEN);
	}
	c.pos = (void *)(long)skb->data;
	c.end = (void *)(long)skb->data_end;
	c.off = 0;
	return parse_from(skb, &c, pi, egress, l3, want_tuple, false);
}

/*
 * The frame's length over all its buffers (a multi-buffer frame's first
 * buffer holds the headers).  frags: the program may see multi-buffer
 * frames, whose length only a helper call knows; it is needed for frames
 * that are not counted by their IP header only, so it is not computed for
 * every frame.
 */
static __always_inline __u32 xdp_frame_len(struct xdp_md *ctx, bool frags)
{
	return frags ? bpf_xdp_get_buff_len(ctx) : ctx->data_end - ctx->data;
}

/*
 * XDP sees every frame before GRO and GSO exist, so each is one wire
 * packet: the IP header's length is the count, as parse_ipv4/6() take it
 * for a packet that is not GSO.  The frame's length (xdp_frame_len())
 * stands in where the header carries no length (BIG TCP jumbograms).
 * The remote address is the source: XDP sees received frames only.
 */
static __always_inline int parse_xdp(struct xdp_md *ctx, struct packet_info *pi,
				     bool frags)
{
	struct hdr_cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	struct ipv6hdr *ip6h;
	struct iphdr *iph;
	__u32 ip_off, len;
	int proto;

	proto = parse_ethhdr(&c);
	if (proto < 0)
		return PARSE_MALFORMED;
	ip_off = c.off;
	if (proto == bpf_htons(ETH_P_IP)) {
		iph = parse_iphdr(&c);
		if (!iph)
			return PARSE_MALFORMED;
		key_set_ipv4(&pi->key, iph->saddr);
		len = bpf_ntohs(iph->tot_len);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		ip6h = parse_ip6hdr(&c);
		if (!ip6h)
			return PARSE_MALFORMED;
		key_set_ipv6(&pi->key, &ip6h->saddr);
		len = bpf_ntohs(ip6h->payload_len);
		if (len)
			len += sizeof(*ip6h);
	} else {
		return PARSE_NON_IP;
	}
	pi->bytes = len ? len : xdp_frame_len(ctx, frags) - ip_off;
	pi->packets = 1;
	return PARSE_IP;
}

#endif /* ITM_PARSE_BPF_H */

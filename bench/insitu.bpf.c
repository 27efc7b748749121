// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reference programs for the in-situ benchmark (bench/insitu.py): the
 * minimal per-address counter the issue compares us with, and a ladder of
 * variants that adds one of itm_egress's costs at a time, so that the
 * kernel's run-time statistics say what each one costs where it runs.
 *
 *   min   4-byte IPv4 / 16-byte IPv6 key, {bytes, packets}: nothing else
 *   k16   one map, 16-byte key (IPv4 mapped as ::ffff:a.b.c.d)
 *   k24   24-byte key: struct itm_key (address + pid + pad)
 *   v32   32-byte value: struct itm_value (tx and rx)
 *   mim   the map reached through a one-slot array of maps
 *   gso   + skb->gso_segs / gso_size (skb_shinfo) and the segment sum
 *
 * The minimal counter for frames whose headers are not in the linear area
 * (an AF_PACKET TX ring's: the Ethernet header only), where min cannot
 * read them in place; each reads them in place when it can:
 *   minl  copies the first 54 bytes (Ethernet + the larger IP header) to
 *         the stack with bpf_skb_load_bytes(): the fair floor
 *   minp  bpf_skb_pull_data() of those 54 bytes, then reads in place
 *   minq  bpf_skb_pull_data() of 256 bytes (or the whole frame), as
 *         itm_egress did before issue 27
 *
 * Attribution variants, each the gso rung plus one way to find the pid:
 *   sks   egress: bpf_sk_storage_get() on skb->sk (what itm_egress does;
 *         the storage is created on the first packet, then always found)
 *   skc   egress: a per-CPU "last socket" cache in front of sks, keyed by
 *         the socket's address.  NOT exact (a freed socket's memory can be
 *         reused by another process's socket); measured to see what a
 *         cache could buy at best.
 *   ski   egress: sks's fast path as plain loads, like itm_egress: the
 *         socket's storage-cache slot of our map, read through the kfuncs
 *         bpf_cast_to_kern_ctx()/bpf_rdonly_cast(); the helper on a miss
 *   lku   ingress: bpf_sk_lookup_udp() on the packet's 4-tuple, then
 *         bpf_sk_storage_get() and bpf_sk_release() (what itm_ingress does)
 *   tup   ingress: three hash lookups keyed by (protocol, local address,
 *         local port[, remote address, remote port]): connected socket,
 *         bound address, wildcard, i.e. what a tuple -> pid map kept by
 *         the owner programs would cost instead of the kernel's lookup
 *         (the wildcard entry is inserted on the first packet)
 *
 * Attribution after the kernel found the socket (attached by insitu.py to
 * a cgroup v2 that holds the receiving socket, TC ingress running the gso
 * rung, i.e. counting per address without any lookup):
 *   cgi   cgroup_skb/ingress: skb->sk is the receiving socket; its owner
 *         from socket storage, then a per-(address, pid) per-CPU hash
 *         update through a one-slot array of maps, like the gso rung
 *   cgp   cgroup_skb/ingress: the owner from socket storage, then a
 *         per-pid per-CPU hash (bytes per process, not per address and
 *         process): what a smaller contract would cost
 *   cge   an empty cgroup_skb/ingress program (the statistics' overhead)
 *
 * Each rung has its own maps, all of ITM_DEFAULT_MAP_ENTRIES slots like
 * the daemon's.  Ethernet + IPv4/IPv6 without VLAN tags: what the
 * benchmark sends.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "itm_shared.h"
#include "owner_core.bpf.h"

struct min_value {
	__u64 bytes;
	__u64 packets;
};

struct k16 {
	__u8 addr[16];
};

#define PCPU_HASH(name, k, v)                                                  \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);                        \
		__uint(max_entries, ITM_DEFAULT_MAP_ENTRIES);                  \
		__type(key, k);                                                \
		__type(value, v);                                              \
	} name SEC(".maps")

PCPU_HASH(bench_min4, __u32, struct min_value);
PCPU_HASH(bench_min6, struct k16, struct min_value);
PCPU_HASH(bench_k16, struct k16, struct min_value);
PCPU_HASH(bench_k24, struct itm_key, struct min_value);
PCPU_HASH(bench_v32, struct itm_key, struct itm_value);
PCPU_HASH(bench_gso, struct itm_key, struct itm_value);

struct bench_inner {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ITM_DEFAULT_MAP_ENTRIES);
	__type(key, struct itm_key);
	__type(value, struct itm_value);
};

struct bench_inner bench_mim_in SEC(".maps");
struct bench_inner bench_gso_in SEC(".maps");
struct bench_inner bench_cgi_in SEC(".maps");

/* Outer maps, pre-filled by libbpf from the declarations below. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct bench_inner);
} bench_mim SEC(".maps") = {
	.values = {&bench_mim_in},
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct bench_inner);
} bench_mimg SEC(".maps") = {
	.values = {&bench_gso_in},
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct bench_inner);
} bench_mimc SEC(".maps") = {
	.values = {&bench_cgi_in},
};

enum rung {
	MIN,
	K16,
	K24,
	V32,
	MIM,
	GSO,
	SKS,
	SKC,
	SKI,
	LKU,
	TUP,
	MINL,
	MINP,
	MINQ
};

/* What minl, minp and minq read. */
#define MIN_HDR_LEN (sizeof(struct ethhdr) + sizeof(struct ipv6hdr))

/* What ski walks: the daemon's declarations of the kernel's types. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct itm_owner);
} bench_sk_owner SEC(".maps");

struct last_sk {
	__u64 sk;
	__u32 pid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct last_sk);
} bench_skc SEC(".maps");

struct tuple_key {
	__u8 proto;
	__u8 pad;
	__u16 lport;
	__u16 rport;
	__u16 pad2;
	__u8 laddr[16];
	__u8 raddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tuple_key);
	__type(value, __u32);
} bench_tuple SEC(".maps");

/* One address, the IP length and whether it is IPv6; false if not IP. */
static __always_inline bool parse(struct __sk_buff *skb, bool egress,
				  __u8 addr[16], __u32 *len, bool *v6,
				  struct bpf_sock_tuple *t,
				  struct tuple_key *tk)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return false;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > end)
			return false;
		__builtin_memset(addr, 0, 10);
		addr[10] = 0xff;
		addr[11] = 0xff;
		__builtin_memcpy(addr + 12, egress ? &iph->daddr : &iph->saddr,
				 4);
		*len = bpf_ntohs(iph->tot_len);
		*v6 = false;
		if (t) {
			struct udphdr *uh = (void *)(iph + 1);

			if (iph->ihl != 5 || iph->protocol != IPPROTO_UDP ||
			    (void *)(uh + 1) > end)
				return false;
			t->ipv4.saddr = iph->saddr;
			t->ipv4.daddr = iph->daddr;
			t->ipv4.sport = uh->source;
			t->ipv4.dport = uh->dest;
			tk->proto = IPPROTO_UDP;
			tk->lport = uh->dest;
			tk->rport = uh->source;
			tk->laddr[10] = tk->laddr[11] = 0xff;
			__builtin_memcpy(tk->laddr + 12, &iph->daddr, 4);
			__builtin_memcpy(tk->raddr, addr, 16);
		}
		return true;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > end)
			return false;
		__builtin_memcpy(addr, egress ? &ip6h->daddr : &ip6h->saddr,
				 16);
		*len = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
		*v6 = true;
		if (t) {
			struct udphdr *uh = (void *)(ip6h + 1);

			if (ip6h->nexthdr != IPPROTO_UDP ||
			    (void *)(uh + 1) > end)
				return false;
			__builtin_memcpy(t->ipv6.saddr, &ip6h->saddr, 16);
			__builtin_memcpy(t->ipv6.daddr, &ip6h->daddr, 16);
			t->ipv6.sport = uh->source;
			t->ipv6.dport = uh->dest;
			tk->proto = IPPROTO_UDP;
			tk->lport = uh->dest;
			tk->rport = uh->source;
			__builtin_memcpy(tk->laddr, &ip6h->daddr, 16);
			__builtin_memcpy(tk->raddr, addr, 16);
		}
		return true;
	}
	return false;
}

/*
 * minl: the headers from a copy on the stack.  Two bytes in front, so
 * that the IP header is 4-byte aligned (the verifier refuses misaligned
 * stack reads).
 */
static __always_inline bool parse_copy(struct __sk_buff *skb, bool egress,
				       __u8 addr[16], __u32 *len, bool *v6)
{
	struct {
		__u16 skew;
		struct ethhdr eth;
		union {
			struct iphdr ip;
			struct ipv6hdr ip6;
		};
	} h;

	if (skb->len < MIN_HDR_LEN ||
	    bpf_skb_load_bytes(skb, 0, &h.eth, MIN_HDR_LEN))
		return false;
	if (h.eth.h_proto == bpf_htons(ETH_P_IP)) {
		__builtin_memset(addr, 0, 10);
		addr[10] = 0xff;
		addr[11] = 0xff;
		__builtin_memcpy(addr + 12, egress ? &h.ip.daddr : &h.ip.saddr,
				 4);
		*len = bpf_ntohs(h.ip.tot_len);
		*v6 = false;
		return true;
	}
	if (h.eth.h_proto == bpf_htons(ETH_P_IPV6)) {
		__builtin_memcpy(addr, egress ? &h.ip6.daddr : &h.ip6.saddr,
				 16);
		*len = bpf_ntohs(h.ip6.payload_len) + sizeof(h.ip6);
		*v6 = true;
		return true;
	}
	return false;
}

/* Whether the first n bytes are not all in the linear area. */
static __always_inline bool short_linear(struct __sk_buff *skb, __u32 n)
{
	__u32 linear = skb->data_end - skb->data;

	return linear < n && skb->len > linear;
}

/* Look the key up, insert it when new; NULL when the map is full. */
static __always_inline void *lookup_or_init(void *map, const void *key,
					    const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline __u32 storage_pid(struct bpf_sock *sk, bool create)
{
	struct itm_owner *o =
		bpf_sk_storage_get(&bench_sk_owner, sk, 0,
				   create ? BPF_SK_STORAGE_GET_F_CREATE : 0);

	if (!o)
		return 0;
	if (create && !o->pid)
		o->pid = bpf_get_current_pid_tgid() >> 32;
	return o->pid;
}

/*
 * ski: what bpf_sk_storage_get() does on its fast path, as plain loads
 * (the daemon's itm_egress does the same): the socket's storage cache slot
 * of our map, checked to belong to it; the helper otherwise.
 */
static __always_inline __u32 inline_pid(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct bpf_local_storage_map *smap = (void *)&bench_sk_owner;
	struct bpf_local_storage_data *sdata;
	struct bpf_local_storage *st;
	struct sock *sk = kskb->sk;
	struct bpf_sock *bsk;
	__u32 idx;

	if (!sk)
		return 0;
	/* Time-wait and request sockets are no full sockets. */
	if ((1 << sk->__sk_common.skc_state) & ((1 << 6) | (1 << 12)))
		return 0;
	st = sk->sk_bpf_storage;
	if (!st)
		return 0;
	idx = smap->cache_idx % ITM_SK_STORAGE_CACHE_SLOTS;
	st = bpf_rdonly_cast((void *)((unsigned long)st + idx * sizeof(void *)),
			     bpf_core_type_id_kernel(struct bpf_local_storage));
	sdata = st->cache[0];
	if (sdata && sdata->smap == (void *)&bench_sk_owner)
		return *(__u32 *)sdata->data;
	bsk = skb->sk;
	return bsk ? storage_pid(bsk, true) : 0;
}

static __always_inline __u32 find_pid(struct __sk_buff *skb, enum rung rung,
				      struct bpf_sock_tuple *t,
				      struct tuple_key *tk, bool v6)
{
	struct bpf_sock *sk;
	struct last_sk *c;
	__u32 zero = 0, pid, *p;

	if (rung == SKI) {
		if (!skb->sk)
			return 0;
		return inline_pid(skb);
	}
	if (rung == SKS || rung == SKC) {
		sk = skb->sk;
		if (!sk)
			return 0;
		if (rung == SKS)
			return storage_pid(sk, true);
		c = bpf_map_lookup_elem(&bench_skc, &zero);
		if (!c)
			return 0;
		if (c->sk == (__u64)sk)
			return c->pid;
		pid = storage_pid(sk, true);
		c->sk = (__u64)sk;
		c->pid = pid;
		return pid;
	}
	if (rung == LKU) {
		sk = bpf_sk_lookup_udp(skb, t,
				       v6 ? sizeof(t->ipv6) : sizeof(t->ipv4),
				       BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return 0;
		pid = storage_pid(sk, false);
		bpf_sk_release(sk);
		return pid;
	}
	/* TUP: connected socket, then bound address, then wildcard. */
	p = bpf_map_lookup_elem(&bench_tuple, tk);
	if (p)
		return *p;
	__builtin_memset(tk->raddr, 0, sizeof(tk->raddr));
	tk->rport = 0;
	p = bpf_map_lookup_elem(&bench_tuple, tk);
	if (p)
		return *p;
	__builtin_memset(tk->laddr, 0, sizeof(tk->laddr));
	p = bpf_map_lookup_elem(&bench_tuple, tk);
	if (p)
		return *p;
	pid = 1;
	bpf_map_update_elem(&bench_tuple, tk, &pid, BPF_NOEXIST);
	return 0;
}

static __always_inline int count(struct __sk_buff *skb, bool egress,
				 enum rung rung)
{
	struct itm_key key = {};
	struct itm_value init32 = {}, *v32;
	struct min_value init = {}, *v;
	struct bpf_sock_tuple t = {};
	struct tuple_key tk = {};
	__u64 bytes, packets = 1;
	__u32 len, zero = 0;
	void *map;
	bool v6;

	if (rung == MINL && short_linear(skb, MIN_HDR_LEN)) {
		if (!parse_copy(skb, egress, key.addr, &len, &v6))
			return TC_ACT_UNSPEC;
	} else {
		if (rung == MINP && short_linear(skb, MIN_HDR_LEN))
			bpf_skb_pull_data(skb, skb->len < MIN_HDR_LEN
						       ? skb->len
						       : MIN_HDR_LEN);
		if (rung == MINQ && short_linear(skb, 256))
			bpf_skb_pull_data(skb, skb->len < 256 ? skb->len : 256);
		if (!parse(skb, egress, key.addr, &len, &v6,
			   rung == LKU || rung == TUP ? &t : NULL, &tk))
			return TC_ACT_UNSPEC;
	}
	bytes = len;
	if (rung >= SKS && rung < MINL)
		key.pid = find_pid(skb, rung, &t, &tk, v6);

	if (rung == MIN || rung >= MINL) {
		if (v6)
			v = lookup_or_init(&bench_min6, key.addr, &init);
		else
			v = lookup_or_init(&bench_min4, &key.addr[12], &init);
	} else if (rung == K16) {
		v = lookup_or_init(&bench_k16, key.addr, &init);
	} else if (rung == K24) {
		v = lookup_or_init(&bench_k24, &key, &init);
	} else {
		if (rung == V32) {
			map = &bench_v32;
		} else {
			map = bpf_map_lookup_elem(rung == MIM
							  ? (void *)&bench_mim
							  : (void *)&bench_mimg,
						  &zero);
			if (!map)
				return TC_ACT_UNSPEC;
		}
		if (rung >= GSO && rung < MINL) {
			__u32 segs = skb->gso_segs;

			if (segs > 1 || skb->gso_size) {
				/* Never taken here: no GSO in this traffic. */
				packets = segs;
				bytes = len + (__u64)(segs - 1) * 28;
			}
		}
		v32 = lookup_or_init(map, &key, &init32);
		if (v32) {
			if (egress) {
				v32->tx_bytes += bytes;
				v32->tx_packets += packets;
			} else {
				v32->rx_bytes += bytes;
				v32->rx_packets += packets;
			}
		}
		return TC_ACT_UNSPEC;
	}
	if (v) {
		v->bytes += bytes;
		v->packets += packets;
	}
	return TC_ACT_UNSPEC;
}

#define RUNG(name, rung)                                                       \
	SEC("tc") int name##_egress(struct __sk_buff *skb)                     \
	{                                                                      \
		return count(skb, true, rung);                                 \
	}                                                                      \
	SEC("tc") int name##_ingress(struct __sk_buff *skb)                    \
	{                                                                      \
		return count(skb, false, rung);                                \
	}

RUNG(min, MIN)
RUNG(k16, K16)
RUNG(k24, K24)
RUNG(v32, V32)
RUNG(mim, MIM)
RUNG(gso, GSO)
RUNG(sks, SKS)
RUNG(skc, SKC)
RUNG(ski, SKI)
RUNG(lku, LKU)
RUNG(tup, TUP)
RUNG(minl, MINL)
RUNG(minp, MINP)
RUNG(minq, MINQ)

/*
 * cgroup_skb/ingress runs in sk_filter() once the kernel has chosen the
 * socket (after netfilter INPUT, IP reassembly and the socket lookup);
 * skb->data is the network header.  The owner is read from the storage
 * that the egress path reads (created here on the first packet: in the
 * product the owner programs stamp it); the address is the source.
 */
SEC("cgroup_skb/ingress")
int cgi_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct itm_key key = {};
	struct itm_value init = {}, *v;
	struct bpf_sock *sk = skb->sk;
	__u64 bytes, packets = 1;
	__u32 zero = 0, segs;
	void *map;

	if (!sk)
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = data;

		if ((void *)(iph + 1) > end)
			return 1;
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(key.addr + 12, &iph->saddr, 4);
		bytes = bpf_ntohs(iph->tot_len);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = data;

		if ((void *)(ip6h + 1) > end)
			return 1;
		__builtin_memcpy(key.addr, &ip6h->saddr, 16);
		bytes = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
	} else {
		return 1;
	}
	key.pid = storage_pid(sk, true);
	segs = skb->gso_segs;
	if (segs > 1) {
		/* A GRO packet: not in this traffic. */
		packets = segs;
		bytes = skb->len;
	}
	map = bpf_map_lookup_elem(&bench_mimc, &zero);
	if (!map)
		return 1;
	v = lookup_or_init(map, &key, &init);
	if (v) {
		v->rx_bytes += bytes;
		v->rx_packets += packets;
	}
	return 1;
}

PCPU_HASH(bench_cgp, __u32, struct min_value);

SEC("cgroup_skb/ingress")
int cgp_ingress(struct __sk_buff *skb)
{
	struct min_value init = {}, *v;
	struct bpf_sock *sk = skb->sk;
	__u32 pid;

	if (!sk)
		return 1;
	pid = storage_pid(sk, true);
	v = lookup_or_init(&bench_cgp, &pid, &init);
	if (v) {
		/* skb->len: the L3 length here (network header on). */
		v->bytes += skb->len;
		v->packets += 1;
	}
	return 1;
}

SEC("cgroup_skb/ingress")
int cge_ingress(struct __sk_buff *skb)
{
	(void)skb;
	return 1;
}

SEC("tc")
int empty_egress(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_UNSPEC;
}

SEC("tc")
int empty_ingress(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

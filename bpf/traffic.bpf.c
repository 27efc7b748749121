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
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "itm_owner_maps.bpf.h"
#include "itm_shared.h"
#include "owner_core.bpf.h"
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

	/* Per-CPU slot; TC and XDP do not nest on one CPU: no atomics. */
	if (c) {
		c->packets += packets;
		c->bytes += bytes;
	}
}

/*
 * Linux >= 6.2.  Weak, so that the object still loads its *_hlp programs
 * on a kernel without them (libbpf leaves them unresolved; the programs
 * that call them are then not loaded).
 */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/*
 * bpf_sk_storage_get()'s fast path, as plain loads instead of a helper
 * call (the call was most of what attribution cost at egress): a full
 * socket's storage keeps one cache slot per storage map, and the slot at
 * our map's cache_idx holds our data unless another map shares the index.
 * Returns false where the helper must decide: no full socket (request
 * sockets are owned by their listener), or the slot holds another map's
 * data.  The loads are the helper's own, under the same RCU protection,
 * so the pid is the one the helper would return.
 */
static __always_inline bool owner_pid_cached(struct sock *sk, __u32 *pid)
{
	struct bpf_local_storage_map *smap = (void *)&itm_sk_owner;
	struct bpf_local_storage_data *sdata;
	struct bpf_local_storage *st;
	unsigned long slot;
	__u32 owner;

	if (!sk)
		return false;
	if ((1U << sk->__sk_common.skc_state) &
	    ((1U << BPF_TCP_TIME_WAIT) | (1U << BPF_TCP_NEW_SYN_RECV)))
		return false;
	st = sk->sk_bpf_storage;
	if (!st) {
		*pid = 0; /* no storage of any map: no owner */
		return true;
	}
	/*
	 * cache[cache_idx] with an index known only at run time: the verifier
	 * takes constant offsets into kernel structs only, so address the
	 * slot and read it as the first slot of a storage at that address.
	 */
	slot = (unsigned long)st +
	       (smap->cache_idx % ITM_SK_STORAGE_CACHE_SLOTS) *
		       sizeof(st->cache[0]);
	st = bpf_rdonly_cast((void *)slot,
			     bpf_core_type_id_kernel(struct bpf_local_storage));
	sdata = st->cache[0];
	if (!sdata || sdata->smap != (void *)&itm_sk_owner)
		return false;
	owner = ((const struct itm_owner *)(void *)sdata->data)->pid;
	/*
	 * Keep this load here: merged with the helper path's load of the
	 * same field, one instruction would read two kinds of pointer, which
	 * the verifier refuses.
	 */
	barrier_var(owner);
	*pid = owner;
	return true;
}

/*
 * The process that owns a socket.  Full sockets carry it in socket-local
 * storage, looked up first because that is the common case; a SYN-ACK
 * leaves on a request socket, owned by its listener; a time-wait socket
 * has no process any more.
 */
static __always_inline __u32 owner_pid(struct __sk_buff *skb,
				       struct bpf_sock *sk, bool inline_read)
{
	struct itm_owner *o;
	__u32 pid;

	if (inline_read &&
	    owner_pid_cached(((struct sk_buff *)bpf_cast_to_kern_ctx(skb))->sk,
			     &pid))
		return pid;
	o = bpf_sk_storage_get(&itm_sk_owner, sk, 0, 0);

	if (o)
		return o->pid;
	if (sk->state != BPF_TCP_NEW_SYN_RECV)
		return 0;
	sk = bpf_get_listener_sock(sk);
	if (!sk)
		return 0;
	o = bpf_sk_storage_get(&itm_sk_owner, sk, 0, 0);
	return o ? o->pid : 0;
}

/*
 * Egress packets carry their socket; ingress packets are not demultiplexed
 * yet at TC, so look the socket up by the packet's 4-tuple (parse_packet
 * filled it when asked to).  The lookup returns a full socket, a request
 * socket's listener included; its owner is read inline like an egress
 * socket's (bpf_rdonly_cast() turns the referenced socket into a kernel
 * pointer for reading only; the reference is released as before).
 */
static __always_inline __u32 packet_pid(struct __sk_buff *skb,
					struct packet_info *pi, bool egress,
					bool inline_read)
{
	struct itm_owner *o;
	struct bpf_sock *sk;
	__u32 size, pid;

	if (egress) {
		sk = skb->sk;
		return sk ? owner_pid(skb, sk, inline_read) : 0;
	}
	size = pi->v6 ? sizeof(pi->tuple.ipv6) : sizeof(pi->tuple.ipv4);
	if (pi->l4proto == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(skb, &pi->tuple, size,
				       BPF_F_CURRENT_NETNS, 0);
	else if (pi->l4proto == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(skb, &pi->tuple, size,
				       BPF_F_CURRENT_NETNS, 0);
	else
		return 0;
	if (!sk)
		return 0;
	if (!inline_read ||
	    !owner_pid_cached(
		    bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock)),
		    &pid)) {
		o = bpf_sk_storage_get(&itm_sk_owner, sk, 0, 0);
		pid = o ? o->pid : 0;
	}
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

/*
 * A key not in the map yet: insert it with this packet's counts.  Apart
 * from account() so that the zeroed value is built on this path only, not
 * on every packet's.
 */
static __always_inline void
account_new(void *stats, const struct packet_info *pi, bool egress)
{
	struct itm_value *v, init = {};

	value_add(&init, pi, egress);
	if (!bpf_map_update_elem(stats, &pi->key, &init, BPF_NOEXIST))
		return;
	/* Another CPU inserted the key between our lookup and update. */
	v = bpf_map_lookup_elem(stats, &pi->key);
	if (v) {
		value_add(v, pi, egress);
		return;
	}
	/* Map full: keep the bytes exact in a counter that is exported. */
	counter_add(egress ? ITM_CTR_OVERFLOW_TX : ITM_CTR_OVERFLOW_RX,
		    pi->packets, pi->bytes);
}

static __always_inline void account(const struct packet_info *pi, bool egress)
{
	__u32 zero = 0;
	struct itm_value *v;
	void *stats;

	stats = bpf_map_lookup_elem(&itm_active, &zero);
	if (!stats) {
		/* No map in the slot (never, once started): count anyway. */
		counter_add(egress ? ITM_CTR_OVERFLOW_TX : ITM_CTR_OVERFLOW_RX,
			    pi->packets, pi->bytes);
		return;
	}
	v = bpf_map_lookup_elem(stats, &pi->key);
	if (v) {
		value_add(v, pi, egress);
		return;
	}
	account_new(stats, pi, egress);
}

/* inline_read: the owner read of owner_pid_cached() (Linux >= 6.2). */
static __always_inline int handle(struct __sk_buff *skb, bool egress, bool l3,
				  bool inline_read)
{
	struct packet_info pi;
	/*
	 * Ingress attribution needs the 4-tuple for a socket lookup, except
	 * for frames addressed to another host's MAC: no local socket will
	 * ever receive those.
	 */
	bool want_tuple =
		attribute_pid && !egress && skb->pkt_type != PACKET_OTHERHOST;

	switch (parse_packet(skb, &pi, egress, l3, want_tuple)) {
	case PARSE_IP:
		if (attribute_pid)
			pi.key.pid = packet_pid(skb, &pi, egress, inline_read);
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

/*
 * The loader loads one program per interface and direction: itm_egress,
 * itm_ingress (or their _l3 twins) where the kernel has the kfuncs of
 * owner_pid_cached(), else the *_hlp variants, which read the owner with
 * the helper only.
 */
SEC("tc")
int itm_egress(struct __sk_buff *skb)
{
	return handle(skb, true, false, true);
}

SEC("tc")
int itm_egress_hlp(struct __sk_buff *skb)
{
	return handle(skb, true, false, false);
}

SEC("tc")
int itm_ingress(struct __sk_buff *skb)
{
	return handle(skb, false, false, true);
}

SEC("tc")
int itm_ingress_hlp(struct __sk_buff *skb)
{
	return handle(skb, false, false, false);
}

SEC("tc")
int itm_egress_l3(struct __sk_buff *skb)
{
	return handle(skb, true, true, true);
}

SEC("tc")
int itm_egr_l3_hlp(struct __sk_buff *skb)
{
	return handle(skb, true, true, false);
}

SEC("tc")
int itm_ingress_l3(struct __sk_buff *skb)
{
	return handle(skb, false, true, true);
}

SEC("tc")
int itm_ingr_l3_hlp(struct __sk_buff *skb)
{
	return handle(skb, false, true, false);
}

/*
 * The programs of --xdp are not loaded unless the loader asks ("?"): a
 * kernel without xdp.frags (< 5.18) refuses that one, and every other
 * user of this object (tests, benchmarks) loads what it needs only.
 *
 * Received frames at XDP (--xdp), into the same maps as the TC programs:
 * no socket is known yet, so the pid is 0.  frags: the program is loaded
 * with BPF_F_XDP_HAS_FRAGS (Linux >= 5.18) and may see multi-buffer
 * frames (jumbo frames on veth, some drivers' large MTUs).  Never drops.
 */
static __always_inline int xdp_handle(struct xdp_md *ctx, bool frags)
{
	struct packet_info pi;

	switch (parse_xdp(ctx, &pi, frags)) {
	case PARSE_IP:
		account(&pi, false);
		break;
	case PARSE_NON_IP:
		counter_add(ITM_CTR_NON_IP_RX, 1, xdp_frame_len(ctx, frags));
		break;
	default:
		counter_add(ITM_CTR_MALFORMED_RX, 1, xdp_frame_len(ctx, frags));
		break;
	}
	return XDP_PASS;
}

/*
 * TC ingress under --xdp: the hook keeps a program of ours (the same
 * links, pins and checks as without --xdp) that counts nothing, so no
 * received frame is counted twice.  With --no-pid (or no owner read) this
 * one runs there.
 */
SEC("?tc")
int itm_ingress_off(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_UNSPEC;
}

/*
 * Received bytes and packets that TC ingress attributed to a process under
 * --xdp but could not move from pid 0 (see move_rx()): they stay counted
 * under pid 0.  Cumulative, never reset; not pinned, so it counts from the
 * start of the run whose programs are attached.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct itm_counter);
} itm_mv_missed SEC(".maps");

/*
 * --xdp with attribution: XDP has counted every received frame under
 * (address, pid 0), before any socket is known.  TC ingress then sees the
 * same frame (or, after GRO, one skb for several frames, whose gso_segs
 * and lengths parse_packet() turns into exactly the sum of those frames'
 * IP bytes and packets) and looks its socket up as itm_ingress does.  For
 * a frame it attributes to a process, the bytes and packets move from
 * (address, 0) to (address, pid) in the same map, on the same CPU.
 *
 * Why in the kernel and not as records user space applies at a drain:
 * the move is one map's own arithmetic, so every reader (drains, --db
 * commits, a --keep-attached restart adopting the maps, IPFIX, the live
 * view) sees ordinary rows, per-address totals can never change, and
 * nothing can be applied twice.
 *
 * The move never takes more than this CPU's slot of (address, 0) in this
 * map holds, so no counter goes back and pid 0 never goes below zero.
 * XDP and TC ingress see a frame on one CPU, one right after the other in
 * the same softirq, so the slot holds the frame's bytes unless the map
 * was swapped between the two (once per drain, a window of one NAPI poll)
 * or RPS steered the skb to another CPU.  Then nothing moves: the frame
 * stays counted under pid 0, exactly, and its bytes go to itm_mv_missed,
 * exported as ip_traffic_xdp_attribution_missed_*.  The same holds for a
 * frame XDP did not count as IP (nothing to move).
 *
 * Taken from pid 0 before it is given to the process: a reader of the
 * still-active map (persist.c while a commit waits) reads pid 0's entries
 * after all others (map_rows_read()), so a move it overlaps shows the
 * frame under neither key, which its next read makes up, and never under
 * both, which would count the frame twice in memory.
 */
static __always_inline void move_rx(const struct packet_info *pi)
{
	struct itm_value *from, *to, init = {};
	struct itm_key k0 = pi->key;
	struct itm_counter *miss;
	__u32 zero = 0;
	void *stats;

	k0.pid = 0;
	stats = bpf_map_lookup_elem(&itm_active, &zero);
	if (!stats)
		goto missed;
	from = bpf_map_lookup_elem(stats, &k0);
	if (!from || from->rx_bytes < pi->bytes ||
	    from->rx_packets < pi->packets)
		goto missed;
	from->rx_bytes -= pi->bytes;
	from->rx_packets -= pi->packets;
	to = bpf_map_lookup_elem(stats, &pi->key);
	if (!to) {
		init.rx_bytes = pi->bytes;
		init.rx_packets = pi->packets;
		if (!bpf_map_update_elem(stats, &pi->key, &init, BPF_NOEXIST))
			return;
		/* Another CPU inserted it meanwhile, or the map is full. */
		to = bpf_map_lookup_elem(stats, &pi->key);
		if (!to)
			goto undo;
	}
	to->rx_bytes += pi->bytes;
	to->rx_packets += pi->packets;
	return;
undo:
	from->rx_bytes += pi->bytes;
	from->rx_packets += pi->packets;
missed:
	miss = bpf_map_lookup_elem(&itm_mv_missed, &zero);
	if (miss) {
		miss->packets += pi->packets;
		miss->bytes += pi->bytes;
	}
}

/*
 * The TC ingress program of --xdp with attribution: parse and look the
 * socket up as handle() does at ingress, count nothing (XDP did), move
 * what belongs to a process.  Frames to another host's MAC, of no local
 * socket or of no TCP/UDP stay under pid 0.  Not for interfaces without a
 * link-layer header: --xdp refuses those.
 */
static __always_inline int handle_move(struct __sk_buff *skb, bool inline_read)
{
	struct packet_info pi;

	if (skb->pkt_type == PACKET_OTHERHOST)
		return TC_ACT_UNSPEC;
	if (parse_packet(skb, &pi, false, false, true) != PARSE_IP)
		return TC_ACT_UNSPEC;
	pi.key.pid = packet_pid(skb, &pi, false, inline_read);
	pi.key.pad = 0;
	if (pi.key.pid)
		move_rx(&pi);
	return TC_ACT_UNSPEC;
}

SEC("?tc")
int itm_ingress_mv(struct __sk_buff *skb)
{
	return handle_move(skb, true);
}

SEC("?tc")
int itm_ingr_mv_hlp(struct __sk_buff *skb)
{
	return handle_move(skb, false);
}

SEC("?xdp")
int itm_xdp(struct xdp_md *ctx)
{
	return xdp_handle(ctx, false);
}

SEC("?xdp.frags")
int itm_xdp_frags(struct xdp_md *ctx)
{
	return xdp_handle(ctx, true);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

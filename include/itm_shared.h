/* SPDX-License-Identifier: MIT */
/*
 * The kernel/user ABI of ip_traffic_monitor_cli: one definition of every
 * struct that both bpf/ and user/ read.  Only fixed-width types and explicit
 * padding, so both compilers lay them out identically.
 */
#ifndef ITM_SHARED_H
#define ITM_SHARED_H

#include <linux/types.h>

/*
 * Remote address (IPv4 stored IPv4-mapped, ::ffff:a.b.c.d) and the local
 * process (thread-group id) that owns the packet's socket; pid 0 when there
 * is none (forwarded traffic, kernel replies) or attribution is off.
 */
struct itm_key {
	__u8 addr[16];
	__u32 pid;
	__u32 pad; /* zero */
};

/* Owner of a socket, kept in socket-local storage and per pid. */
#define ITM_COMM_LEN 16
struct itm_owner {
	__u32 pid;
	__u32 pad;
	char comm[ITM_COMM_LEN];
};

/*
 * Per remote address, per CPU.  Bytes are IP-layer bytes of wire packets:
 * IPv4 total length, IPv6 40 + payload length; a GSO/GRO packet counts as
 * the segments it stands for.
 */
struct itm_value {
	__u64 tx_bytes;
	__u64 tx_packets;
	__u64 rx_bytes;
	__u64 rx_packets;
};

/*
 * Cumulative per-CPU counters for traffic without a per-address entry.
 * They are never reset by user space, so reading them needs no swap.
 */
enum itm_counter_index {
	ITM_CTR_NON_IP_TX, /* frames that are not IPv4/IPv6 (ARP, LLDP ...) */
	ITM_CTR_NON_IP_RX,
	ITM_CTR_MALFORMED_TX, /* IP ethertype but truncated/invalid header */
	ITM_CTR_MALFORMED_RX,
	ITM_CTR_OVERFLOW_TX, /* IP packets whose address found no map slot */
	ITM_CTR_OVERFLOW_RX,
	ITM_CTR_MAX,
};

struct itm_counter {
	__u64 packets;
	__u64 bytes; /* IP bytes for OVERFLOW, L2 frame bytes otherwise */
};

/*
 * Version of the pinned layout: the set of pinned maps and the layout of
 * their keys and values.  A new start adopts maps left pinned by an
 * earlier one (kill -9, --keep-attached) only when this matches; bump it
 * whenever any of them changes.
 */
#define ITM_PIN_LAYOUT 1

/*
 * Written by user space only (one entry, itm_meta): which drain each
 * statistics map last took part in, so a restart can tell whether a
 * swapped-out map's contents are already in the database (see
 * user/core/persist.c).
 */
struct itm_meta {
	__u32 layout; /* ITM_PIN_LAYOUT of the run that created the maps */
	__u32 pad;
	__u64 instance; /* random identity of this set of maps */
	__u64 seq[2];	/* drain sequence number of itm_stats_a, _b */
	__u64 next_seq;
};

/*
 * The layout both compilers must agree on: the BPF objects (clang -target
 * bpf) and user space include this header, so a change here fails both
 * builds until the sizes and every field's offset below are updated (the
 * maps are copied byte for byte).
 */
#define ITM_ABI_CHECK(type, field, off)                                        \
	_Static_assert(__builtin_offsetof(struct type, field) == (off),        \
		       #type "." #field " moved")
_Static_assert(sizeof(struct itm_key) == 24, "struct itm_key size");
ITM_ABI_CHECK(itm_key, addr, 0);
ITM_ABI_CHECK(itm_key, pid, 16);
ITM_ABI_CHECK(itm_key, pad, 20);
_Static_assert(sizeof(struct itm_owner) == 24, "struct itm_owner size");
ITM_ABI_CHECK(itm_owner, pid, 0);
ITM_ABI_CHECK(itm_owner, pad, 4);
ITM_ABI_CHECK(itm_owner, comm, 8);
_Static_assert(ITM_COMM_LEN == 16,
	       "ITM_COMM_LEN is the kernel's TASK_COMM_LEN");
_Static_assert(sizeof(struct itm_value) == 32, "struct itm_value size");
ITM_ABI_CHECK(itm_value, tx_bytes, 0);
ITM_ABI_CHECK(itm_value, tx_packets, 8);
ITM_ABI_CHECK(itm_value, rx_bytes, 16);
ITM_ABI_CHECK(itm_value, rx_packets, 24);
_Static_assert(sizeof(struct itm_counter) == 16, "struct itm_counter size");
ITM_ABI_CHECK(itm_counter, packets, 0);
ITM_ABI_CHECK(itm_counter, bytes, 8);
/* The counters map has one slot per index: its size is part of the ABI. */
_Static_assert(ITM_CTR_MAX == 6, "enum itm_counter_index changed");
/*
 * Pinned and read back by a later run: a change here must also bump
 * ITM_PIN_LAYOUT so the later run refuses instead of misreading it.
 */
_Static_assert(sizeof(struct itm_meta) == 40, "struct itm_meta size");
ITM_ABI_CHECK(itm_meta, layout, 0);
ITM_ABI_CHECK(itm_meta, pad, 4);
ITM_ABI_CHECK(itm_meta, instance, 8);
ITM_ABI_CHECK(itm_meta, seq, 16);
ITM_ABI_CHECK(itm_meta, next_seq, 32);
_Static_assert(ITM_PIN_LAYOUT == 1, "pinned layout version changed");

/* Default number of distinct remote addresses per drain interval. */
#define ITM_DEFAULT_MAP_ENTRIES 65536

#endif /* ITM_SHARED_H */

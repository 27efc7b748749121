/* SPDX-License-Identifier: MIT */
/*
 * The kernel/user ABI of ip_traffic_monitor_cli: one definition of every
 * struct that both bpf/ and user/ read.  Only fixed-width types and explicit
 * padding, so both compilers lay them out identically.
 */
#ifndef ITM_SHARED_H
#define ITM_SHARED_H

#ifndef __VMLINUX_H__ /* BPF objects built on vmlinux.h have the types */
#include <linux/types.h>
#endif

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
 * user/persist.c).
 */
struct itm_meta {
	__u32 layout; /* ITM_PIN_LAYOUT of the run that created the maps */
	__u32 pad;
	__u64 instance; /* random identity of this set of maps */
	__u64 seq[2];	/* drain sequence number of itm_stats_a, _b */
	__u64 next_seq;
};

/* Default number of distinct remote addresses per drain interval. */
#define ITM_DEFAULT_MAP_ENTRIES 65536

#endif /* ITM_SHARED_H */

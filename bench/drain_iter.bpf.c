// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A drain through a BPF iterator over the statistics map (bench/
 * drain_variants.c): one compact record per address, the per-CPU values
 * summed in the kernel, written to the iterator's seq_file and read() by
 * user space a few pages at a time, instead of the batch syscalls' per-CPU
 * rows copied out bucket by bucket.  With "del" set the program also
 * deletes the entry it was handed once its record is written (safe while
 * iterating a hash: the element's next pointer survives the unlink, and
 * nothing inserts into a map that was swapped out).
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "itm_shared.h"

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__bpf_map_elem {
	struct bpf_iter_meta *meta;
	void *key;
	void *value;
} __attribute__((preserve_access_index));

struct drain_rec {
	struct itm_key key;
	struct itm_value val;
};

/* Set by user space: possible CPUs (the value rows) and whether to delete. */
const volatile __u32 ncpus = 1;
const volatile bool del = false;

/* The iterated map itself (user space reuses its fd), for the delete. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1);
	__type(key, struct itm_key);
	__type(value, struct itm_value);
} drained SEC(".maps");

#define MAX_CPUS 64

SEC("iter/bpf_map_elem")
int drain_elem(struct bpf_iter__bpf_map_elem *ctx)
{
	struct itm_key *k = ctx->key;
	struct itm_value *v = ctx->value;
	struct drain_rec r = {};

	if (!k || !v)
		return 0;
	r.key = *k;
	for (__u32 i = 0; i < MAX_CPUS; i++) {
		if (i >= ncpus)
			break;
		r.val.tx_bytes += v[i].tx_bytes;
		r.val.tx_packets += v[i].tx_packets;
		r.val.rx_bytes += v[i].rx_bytes;
		r.val.rx_packets += v[i].rx_packets;
	}
	/* A full buffer: the kernel shows this element again in the next
	 * read(), so it must stay in the map until it is written. */
	if (bpf_seq_write(ctx->meta->seq, &r, sizeof(r)))
		return 0;
	if (del)
		bpf_map_delete_elem(&drained, &r.key);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A do-nothing TC program: the baseline the benchmarks subtract. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int itm_noop(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

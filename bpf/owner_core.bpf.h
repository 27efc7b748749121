/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel types the owner programs and itm_egress's inline owner read
 * walk, reduced to the fields they use.
 * preserve_access_index makes every access a CO-RE relocation that libbpf
 * resolves against the running kernel's BTF at load time, so the object is
 * built without a vmlinux.h of the build host's kernel.
 */
#ifndef ITM_OWNER_CORE_BPF_H
#define ITM_OWNER_CORE_BPF_H

#include <linux/types.h>

#define ITM_TASK_COMM_LEN 16

struct task_struct {
	int tgid;
	char comm[ITM_TASK_COMM_LEN];
} __attribute__((preserve_access_index));

struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct sock_common {
	unsigned short skc_family;
	volatile unsigned char skc_state;
} __attribute__((preserve_access_index));

/* Socket-local storage (Linux >= 5.10 names): see traffic.bpf.c. */
struct bpf_local_storage_data {
	void *smap;
	__u8 data[];
} __attribute__((preserve_access_index));

#define ITM_SK_STORAGE_CACHE_SLOTS 16

struct bpf_local_storage {
	struct bpf_local_storage_data *cache[ITM_SK_STORAGE_CACHE_SLOTS];
} __attribute__((preserve_access_index));

struct bpf_local_storage_map {
	__u16 cache_idx;
} __attribute__((preserve_access_index));

struct socket;

struct sock {
	struct sock_common __sk_common;
	struct bpf_local_storage *sk_bpf_storage;
	struct socket *sk_socket;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
	struct file *file;
} __attribute__((preserve_access_index));

struct tcp_sock;
struct udp_sock;

struct bpf_iter_meta;

/* The context of an iter/task_file program. */
struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

/* The contexts of the socket iterators (Linux >= 5.9). */
struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
} __attribute__((preserve_access_index));

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

#endif /* ITM_OWNER_CORE_BPF_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel types the owner programs read, reduced to the fields they use.
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

struct file;

struct sock_common {
	unsigned short skc_family;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct bpf_iter_meta;

/* The context of an iter/task_file program. */
struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

#endif /* ITM_OWNER_CORE_BPF_H */

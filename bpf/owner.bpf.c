// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket ownership for process attribution.  The TC programs read the
 * owner from socket-local storage; these programs write it:
 *  - cgroup/sock_create, in the context of the process calling socket();
 *  - iter/task_file, run by the daemon at start and every interval, for
 *    sockets that existed before us and for accepted sockets that a worker
 *    process (not the listener's creator) holds.
 * BPF_F_CLONE copies a listener's owner to the sockets it accepts, so
 * accepted connections are attributed from their first packet on.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "owner_core.bpf.h"

#include "itm_owner_maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct itm_owner);
} itm_comms SEC(".maps");

static __always_inline void record(struct itm_owner *o, __u32 pid)
{
	o->pid = pid;
	/* Remember the name by pid: the process may be gone when we read it. */
	bpf_map_update_elem(&itm_comms, &pid, o, BPF_ANY);
}

SEC("cgroup/sock_create")
int itm_sock_create(struct bpf_sock *sk)
{
	struct itm_owner *o;

	if (sk->family != 2 /* AF_INET */ && sk->family != 10 /* AF_INET6 */)
		return 1;
	o = bpf_sk_storage_get(&itm_sk_owner, sk, 0,
			       BPF_SK_STORAGE_GET_F_CREATE);
	if (o) {
		bpf_get_current_comm(o->comm, sizeof(o->comm));
		record(o, bpf_get_current_pid_tgid() >> 32);
	}
	return 1; /* never refuse a socket */
}

SEC("iter/task_file")
int itm_task_file(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct itm_owner *o;
	struct socket *sock;
	struct sock *sk;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	if (sk->__sk_common.skc_family != 2 && sk->__sk_common.skc_family != 10)
		return 0;
	o = bpf_sk_storage_get(&itm_sk_owner, sk, 0,
			       BPF_SK_STORAGE_GET_F_CREATE);
	if (o) {
		bpf_probe_read_kernel_str(o->comm, sizeof(o->comm), task->comm);
		record(o, task->tgid);
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

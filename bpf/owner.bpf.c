// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket ownership for process attribution.  The TC programs read the
 * owner from socket-local storage; these programs write it:
 *  - cgroup/sock_create, in the context of the process calling socket();
 *  - iter/task_file, run by the daemon at start and every interval, for
 *    sockets that existed before us and for accepted sockets that a worker
 *    process (not the listener's creator) holds.
 *  - or, where a kernel's verifier refuses socket->sk as an argument of
 *    bpf_sk_storage_get() (at least one 6.18 build types that field as an
 *    untrusted pointer), the same scan in two passes: iter/task_file only
 *    notes each socket's owner by the socket's address, and iter/tcp and
 *    iter/udp, whose sockets every verifier trusts, store it.  That covers
 *    TCP and UDP; cgroup/sock_create still covers every new socket.
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

/*
 * The two-pass scan's notes: socket address -> owner, and the socket's
 * inode number, so a socket freed and reallocated at the same address
 * between the passes is not given the old owner.  User space empties it
 * after each scan (sockets of other network namespaces stay unvisited).
 */
struct itm_scan_note {
	__u64 ino;
	struct itm_owner owner;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct itm_scan_note);
} itm_scan SEC(".maps");

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

/* First pass of the two-pass scan: note the owner by socket address. */
SEC("iter/task_file")
int itm_task_file_note(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct itm_scan_note note = {};
	struct socket *sock;
	__u64 key = 0;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	/* The address as a number: nothing here may depend on its type. */
	if (bpf_probe_read_kernel(&key, sizeof(key),
				  __builtin_preserve_access_index(&sock->sk)) ||
	    !key)
		return 0;
	note.ino = file->f_inode->i_ino;
	note.owner.pid = task->tgid;
	bpf_probe_read_kernel_str(note.owner.comm, sizeof(note.owner.comm),
				  task->comm);
	bpf_map_update_elem(&itm_scan, &key, &note, BPF_ANY);
	return 0;
}

/* Second pass: a socket noted in the first pass gets its owner. */
static __always_inline void apply_note(struct sock *sk)
{
	struct itm_scan_note *note;
	struct itm_owner *o;
	struct socket *sock;
	__u64 key = (__u64)(unsigned long)sk;

	note = bpf_map_lookup_elem(&itm_scan, &key);
	if (!note)
		return;
	sock = sk->sk_socket;
	if (sock && sock->file && sock->file->f_inode->i_ino == note->ino) {
		o = bpf_sk_storage_get(&itm_sk_owner, sk, 0,
				       BPF_SK_STORAGE_GET_F_CREATE);
		if (o) {
			__builtin_memcpy(o->comm, note->owner.comm,
					 sizeof(o->comm));
			record(o, note->owner.pid);
		}
	}
	bpf_map_delete_elem(&itm_scan, &key);
}

SEC("iter/tcp")
int itm_sk_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	/* NULL for time-wait and request sockets: they have no storage. */
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp)
		apply_note((struct sock *)tp);
	return 0;
}

SEC("iter/udp")
int itm_sk_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;

	if (udp)
		apply_note((struct sock *)udp);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

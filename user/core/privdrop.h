/* SPDX-License-Identifier: MIT */
/*
 * Least privilege: once everything that needs root is done (BPF objects
 * loaded, attached and pinned, the port bound, files opened), the daemon
 * becomes an ordinary user with no capability left, or, when asked to
 * attach again to interfaces that come back (--reattach), with only what
 * attaching already loaded programs needs (nothing for tcx links,
 * CAP_NET_ADMIN for clsact filters) in the permitted set: effective only
 * around that attach, in the thread that does it.
 */
#ifndef ITM_PRIVDROP_H
#define ITM_PRIVDROP_H

#include <linux/capability.h>
#include <stdbool.h>
#include <sys/types.h>

struct privdrop_user {
	const char *name;
	uid_t uid;
	gid_t gid;
};

/* Resolves NAME (or a numeric uid); prints one line and returns -errno. */
int privdrop_lookup(const char *name, struct privdrop_user *u);

/*
 * Hands PATH (not following symlinks) to the user, for files the daemon
 * must still write or remove afterwards (its pins, its lock files).
 * A path that does not exist is not an error.
 */
int privdrop_give(const struct privdrop_user *u, const char *path);

/*
 * setresgid/setresuid to the user with its supplementary groups, every
 * capability set (effective, permitted, inheritable, ambient, bounding)
 * emptied but for `keep` (a mask of capability numbers) in the permitted
 * and bounding sets, and no_new_privs set.  Call it before starting any
 * thread: capabilities are per thread.  Prints one line and returns
 * -errno.
 */
int privdrop_apply(const struct privdrop_user *u, unsigned long long keep);

/*
 * Attaching programs that are already loaded, measured on Linux 6.18 by
 * tests/bpf/test_attach_caps.c: a tcx link (BPF_LINK_CREATE with the
 * program's fd) needs no capability; a clsact qdisc and filter (rtnetlink)
 * need CAP_NET_ADMIN and nothing else.
 */
#define PRIVDROP_CLSACT_CAPS	  (1ULL << CAP_NET_ADMIN)
#define PRIVDROP_CLSACT_CAP_NAMES "CAP_NET_ADMIN"

/*
 * What re-attaching clsact filters needs on the running kernel:
 * PRIVDROP_CLSACT_CAPS, plus CAP_BPF where bpf() refuses every command
 * without CAP_BPF or CAP_SYS_ADMIN while kernel.unprivileged_bpf_disabled
 * is set (Linux 5.10 does; libbpf's bpf_tc_attach() reads the program's
 * info).  Measured in a child holding CAP_NET_ADMIN alone, with prog_fd.
 */
unsigned long long privdrop_clsact_caps(int prog_fd);

/*
 * The calling thread's effective set becomes its permitted set (what
 * privdrop_apply() kept), for one attach; privdrop_lower() empties it
 * again.  Other threads are not touched.  Return 0 or -errno.
 */
int privdrop_raise(void);
int privdrop_lower(void);

/*
 * True when the calling thread holds exactly `kept` (a mask of capability
 * numbers) in its permitted and bounding sets and nothing in the
 * effective, inheritable and ambient sets.
 */
bool privdrop_caps_are(unsigned long long kept);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Least privilege: once everything that needs root is done (BPF objects
 * loaded, attached and pinned, the port bound, files opened), the daemon
 * becomes an ordinary user with no capability left, or, when asked to
 * attach again to interfaces that come back (--keep-reattach-caps), with
 * only what attaching already loaded programs needs, in the permitted set:
 * effective only around that attach, in the thread that does it.
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
 * emptied and no_new_privs set.  With keep_attach, the permitted and
 * bounding sets keep PRIVDROP_ATTACH_CAPS (nothing else is left, the
 * effective set is empty).  Call it before starting any thread:
 * capabilities are per thread.  Prints one line and returns -errno.
 */
int privdrop_apply(const struct privdrop_user *u, bool keep_attach);

/*
 * Attaching programs that are already loaded (tcx links, clsact qdisc and
 * filters) on this kernel takes CAP_NET_ADMIN and nothing else: measured
 * by tests/bpf/test_attach_caps.c.  A bit mask of capability numbers.
 */
#define PRIVDROP_ATTACH_CAPS (1ULL << CAP_NET_ADMIN)
#define PRIVDROP_ATTACH_CAP_NAMES "CAP_NET_ADMIN"

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

/* SPDX-License-Identifier: MIT */
/*
 * Least privilege: once everything that needs root is done (BPF objects
 * loaded, attached and pinned, the port bound, files opened), the daemon
 * becomes an ordinary user with no capability left.
 */
#ifndef ITM_PRIVDROP_H
#define ITM_PRIVDROP_H

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
 * emptied and no_new_privs set.  Call it before starting any thread:
 * capabilities are per thread.  Prints one line and returns -errno.
 */
int privdrop_apply(const struct privdrop_user *u);

/* True when the calling thread holds no capability at all. */
bool privdrop_no_caps(void);

#endif

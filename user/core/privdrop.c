// SPDX-License-Identifier: MIT
#include "privdrop.h"

#include <bpf/bpf.h>
#include <cap-ng.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

int privdrop_lookup(const char *name, struct privdrop_user *u)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (!pw && isdigit((unsigned char)name[0])) {
		char *end;
		unsigned long v = strtoul(name, &end, 10);

		if (!*end)
			pw = getpwuid((uid_t)v);
	}
	if (!pw) {
		int err = errno ? errno : ENOENT;

		pr_err("--user: no such user '%s'%s%s\n", name,
		       err == ENOENT ? "" : ": ",
		       err == ENOENT ? "" : strerror(err));
		return -ENOENT;
	}
	if (pw->pw_uid == 0) {
		pr_err("--user wants an unprivileged user, not '%s'\n", name);
		return -EINVAL;
	}
	u->name = name;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

int privdrop_give(const struct privdrop_user *u, const char *path)
{
	if (!lchown(path, u->uid, u->gid) || errno == ENOENT)
		return 0;
	pr_err("cannot hand %s to user %s: %s\n", path, u->name,
	       strerror(errno));
	return -errno;
}

/* The calling thread's own sets (capget() with pid 0), 64 bits each. */
static int thread_caps(unsigned long long *eff, unsigned long long *prm,
		       unsigned long long *inh)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, d))
		return -errno;
	*eff = d[0].effective | (unsigned long long)d[1].effective << 32;
	*prm = d[0].permitted | (unsigned long long)d[1].permitted << 32;
	*inh = d[0].inheritable | (unsigned long long)d[1].inheritable << 32;
	return 0;
}

/* Effective = permitted (on) or empty, in the calling thread only. */
static int set_effective(bool on)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, d))
		return -errno;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		d[i].effective = on ? d[i].permitted : 0;
	if (syscall(SYS_capset, &hdr, d))
		return -errno;
	return 0;
}

int privdrop_raise(void)
{
	return set_effective(true);
}

int privdrop_lower(void)
{
	return set_effective(false);
}

bool privdrop_caps_are(unsigned long long kept)
{
	unsigned long long eff = 0, prm = 0, inh = 0, bnd = 0;
	int rc;

	if (thread_caps(&eff, &prm, &inh) || eff || inh || prm != kept)
		return false;
	/* Up to the kernel's last capability: it answers EINVAL past it. */
	for (int cap = 0; cap < 64; cap++) {
		rc = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (rc < 0)
			break;
		if (rc)
			bnd |= 1ULL << cap;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0)
			return false;
	}
	return bnd == kept;
}

int privdrop_apply(const struct privdrop_user *u, unsigned long long keep)
{
	int rc;

	capng_clear(CAPNG_SELECT_ALL);
	for (int cap = 0; cap < 64; cap++)
		if (keep & (1ULL << cap))
			capng_update(CAPNG_ADD,
				     CAPNG_PERMITTED | CAPNG_BOUNDING_SET, cap);
	/*
	 * The bounding set first, while still root (CAP_SETPCAP): it limits
	 * what any later capset() or execve() could give back.
	 */
	if (capng_apply(CAPNG_SELECT_BOUNDS)) {
		pr_err("cannot limit the capability bounding set\n");
		return -EPERM;
	}
	/*
	 * The wish list (empty, or what is kept: permitted, not effective),
	 * applied by capng_change_id(): it keeps CAP_SETUID/SETGID/SETPCAP just
	 * long enough to change ids, initialise the user's groups and empty the
	 * ambient set, then applies the list.
	 */
	rc = capng_change_id((int)u->uid, (int)u->gid,
			     CAPNG_INIT_SUPP_GRP | CAPNG_CLEAR_AMBIENT);
	if (rc) {
		pr_err("cannot switch to user %s and drop capabilities (libcap-ng error %d)\n",
		       u->name, rc);
		return -EPERM;
	}
	/* execve() of anything could never regain a privilege. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		pr_err("cannot set no_new_privs: %s\n", strerror(errno));
		return -errno;
	}
	if (getuid() != u->uid || geteuid() != u->uid || getgid() != u->gid ||
	    !privdrop_caps_are(keep)) {
		pr_err("dropping privileges to %s did not take effect\n",
		       u->name);
		return -EPERM;
	}
	return 0;
}

unsigned long long privdrop_clsact_caps(int prog_fd)
{
	unsigned long long caps = PRIVDROP_CLSACT_CAPS;
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return caps | 1ULL << CAP_BPF; /* cannot tell: the safe side */
	if (pid == 0) {
		capng_clear(CAPNG_SELECT_BOTH);
		if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
				 CAP_NET_ADMIN) ||
		    capng_apply(CAPNG_SELECT_CAPS))
			_exit(2);
		memset(&info, 0, sizeof(info));
		_exit(bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		caps |= 1ULL << CAP_BPF;
	return caps;
}

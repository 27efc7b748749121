// SPDX-License-Identifier: MIT
#include "privdrop.h"

#include <cap-ng.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

bool privdrop_no_caps(void)
{
	capng_get_caps_process();
	return capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE &&
	       capng_have_capabilities(CAPNG_SELECT_BOUNDS) == CAPNG_NONE &&
	       capng_have_capabilities(CAPNG_SELECT_AMBIENT) == CAPNG_NONE;
}

int privdrop_apply(const struct privdrop_user *u)
{
	int rc;

	/*
	 * An empty wish list, applied by capng_change_id(): it keeps
	 * CAP_SETUID/SETGID/SETPCAP just long enough to change ids, initialise
	 * the user's groups and empty the bounding and ambient sets, then
	 * applies the empty list.
	 */
	capng_clear(CAPNG_SELECT_ALL);
	rc = capng_change_id((int)u->uid, (int)u->gid,
			     CAPNG_INIT_SUPP_GRP | CAPNG_CLEAR_BOUNDING |
				     CAPNG_CLEAR_AMBIENT);
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
	    !privdrop_no_caps()) {
		pr_err("dropping privileges to %s did not take effect\n",
		       u->name);
		return -EPERM;
	}
	return 0;
}

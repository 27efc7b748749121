// SPDX-License-Identifier: MIT
#include "regfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "i18n.h"

static const char *kind(mode_t m)
{
	return S_ISFIFO(m)   ? _("a FIFO")
	       : S_ISCHR(m)  ? _("a character device")
	       : S_ISBLK(m)  ? _("a block device")
	       : S_ISDIR(m)  ? _("a directory")
	       : S_ISSOCK(m) ? _("a socket")
			     : _("a special file");
}

static int fail(int err, char *why, size_t len)
{
	if (why && len)
		snprintf(why, len, "%s", strerror(-err));
	return err;
}

int regfile_open(const char *path, char *why, size_t len)
{
	struct stat st;
	int fd, err;

	/* A FIFO without a writer does not block an O_NONBLOCK open. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(-errno, why, len);
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return fail(err, why, len);
	}
	if (!S_ISREG(st.st_mode)) {
		if (why && len)
			snprintf(why, len, _("is %s, not a regular file"),
				 kind(st.st_mode));
		close(fd);
		return -EINVAL;
	}
	/* A regular file: reads may block (on the disk) as usual again. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
		err = -errno;
		close(fd);
		return fail(err, why, len);
	}
	return fd;
}

int regfile_check(const char *path, char *why, size_t len)
{
	int fd = regfile_open(path, why, len);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

// SPDX-License-Identifier: MIT
#include "cgroup2.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

int cgroup2_find_mount(char *path, size_t len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts [optional] - fstype */
		char mnt[PATH_MAX], *sep = strstr(line, " - ");

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 &&
		    strlen(mnt) < len) {
			strcpy(path, mnt);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

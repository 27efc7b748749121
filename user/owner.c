// SPDX-License-Identifier: MIT
#include "owner.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "cgroup2.h"
#include "log.h"
#include "owner.skel.h"

struct owner_tracker {
	struct owner_bpf *skel;
	struct bpf_link *sock_create; /* NULL without cgroup v2 */
	struct bpf_link *iter;
};

/*
 * No cgroup v2 hierarchy in our mount view (ip netns exec remounts /sys,
 * containers often hide it): mount a private instance just long enough to
 * open its root, then detach it again.  The open descriptor, and later the
 * BPF link, keep the cgroup itself; nothing stays mounted.
 */
static int open_private_cgroup2(void)
{
	char dir[] = "/run/itm-cgroup2.XXXXXX";
	char tmp[] = "/tmp/itm-cgroup2.XXXXXX";
	char *d = mkdtemp(dir);
	int fd, err;

	if (!d)
		d = mkdtemp(tmp);
	if (!d)
		return -errno;
	if (mount("cgroup2", d, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL)) {
		err = -errno;
		rmdir(d);
		return err;
	}
	fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	umount2(d, MNT_DETACH);
	rmdir(d);
	return fd < 0 ? err : fd;
}

static void attach_sock_create(struct owner_tracker *ot)
{
	char path[PATH_MAX];
	int fd, err;

	err = cgroup2_find_mount(path, sizeof(path));
	if (err) {
		fd = open_private_cgroup2();
		if (fd < 0) {
			pr_warn(_("no cgroup v2 hierarchy mounted and mounting one failed (%s): sockets created while running are attributed only at the next scan\n"),
				strerror(-fd));
			return;
		}
		snprintf(path, sizeof(path), "(private cgroup2 mount)");
		pr_info(_(
			"no cgroup v2 hierarchy in view: attached through a private cgroup2 mount\n"));
	} else {
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			pr_warn(_("cannot open cgroup %s: %s\n"), path,
				strerror(errno));
			return;
		}
	}
	ot->sock_create =
		bpf_program__attach_cgroup(ot->skel->progs.itm_sock_create, fd);
	if (!ot->sock_create)
		pr_warn(_("cannot attach to cgroup %s: %s\n"), path,
			strerror(errno));
	close(fd);
}

int owner_tracker_open(struct owner_tracker **out)
{
	struct owner_tracker *ot = calloc(1, sizeof(*ot));
	int err;

	if (!ot)
		return -ENOMEM;
	ot->skel = owner_bpf__open_and_load();
	if (!ot->skel) {
		err = -errno;
		pr_err(_("cannot load the process-attribution programs: %s (use --no-pid to run without them)\n"),
		       strerror(-err));
		goto err_close;
	}
	ot->iter =
		bpf_program__attach_iter(ot->skel->progs.itm_task_file, NULL);
	if (!ot->iter) {
		err = -errno;
		pr_err(_("cannot attach the task_file iterator: %s (use --no-pid to run without it)\n"),
		       strerror(-err));
		goto err_close;
	}
	attach_sock_create(ot);
	*out = ot;
	return 0;

err_close:
	owner_tracker_close(ot);
	return err;
}

void owner_tracker_close(struct owner_tracker *ot)
{
	if (!ot)
		return;
	bpf_link__destroy(ot->sock_create);
	bpf_link__destroy(ot->iter);
	owner_bpf__destroy(ot->skel);
	free(ot);
}

int owner_tracker_map_fd(const struct owner_tracker *ot)
{
	return bpf_map__fd(ot->skel->maps.itm_sk_owner);
}

int owner_tracker_scan(struct owner_tracker *ot)
{
	char buf[256];
	ssize_t n;
	int fd;

	fd = bpf_iter_create(bpf_link__fd(ot->iter));
	if (fd < 0)
		return -errno;
	/* The program writes no output; reading drives it to the end. */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n < 0 ? -errno : 0;
}

void owner_tracker_comm(struct owner_tracker *ot, uint32_t pid,
			char comm[ITM_COMM_LEN])
{
	struct itm_owner o;
	char path[64];
	FILE *f;

	if (!pid) {
		snprintf(comm, ITM_COMM_LEN, "-");
		return;
	}
	if (!bpf_map_lookup_elem(bpf_map__fd(ot->skel->maps.itm_comms), &pid,
				 &o)) {
		memcpy(comm, o.comm, ITM_COMM_LEN);
		comm[ITM_COMM_LEN - 1] = '\0';
		return;
	}
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "re");
	if (f && fgets(comm, ITM_COMM_LEN, f)) {
		comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		return;
	}
	if (f)
		fclose(f);
	snprintf(comm, ITM_COMM_LEN, "?");
}

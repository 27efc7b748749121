// SPDX-License-Identifier: MIT
#include "owner.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
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
	struct bpf_link *sock_create; /* NULL: not attached */
	/* The scan: iter/task_file, or the two passes (notes, tcp, udp). */
	struct bpf_link *iter[3];
	size_t n_iter;
	bool two_pass; /* empty itm_scan after each scan */
};

/* A verifier log of a few small programs; the reason is its last line. */
#define OWNER_LOG_SIZE (1U << 20)

/* As named in ITM_TEST_REFUSE. */
static const char *const part_names[OWNER_PART_MAX] = {
	[OWNER_PART_SOCK_CREATE] = "sock_create",
	[OWNER_PART_TASK_FILE] = "task_file",
	[OWNER_PART_SOCKET_ITER] = "socket_iter",
};

/* The programs of each part (NULL-terminated). */
static void part_progs(struct owner_bpf *s, enum owner_part p,
		       struct bpf_program *out[4])
{
	memset(out, 0, 4 * sizeof(*out));
	switch (p) {
	case OWNER_PART_SOCK_CREATE:
		out[0] = s->progs.itm_sock_create;
		break;
	case OWNER_PART_TASK_FILE:
		out[0] = s->progs.itm_task_file;
		break;
	case OWNER_PART_SOCKET_ITER:
		out[0] = s->progs.itm_task_file_note;
		out[1] = s->progs.itm_sk_tcp;
		out[2] = s->progs.itm_sk_udp;
		break;
	default:
		break;
	}
}

/*
 * Open and load the object with the programs of the parts in mask only.
 * On failure *out is NULL and reason holds the verifier's last word.
 */
static int load_parts(struct owner_bpf **out, unsigned int mask, char *reason,
		      size_t len)
{
	struct bpf_program *progs[4], *prog;
	struct owner_bpf *s;
	char *log;
	int err;

	*out = NULL;
	s = owner_bpf__open();
	if (!s) {
		err = -errno;
		snprintf(reason, len, "cannot open the object: %s",
			 strerror(-err));
		return err;
	}
	log = calloc(1, OWNER_LOG_SIZE);
	bpf_object__for_each_program(prog, s->obj)
		bpf_program__set_autoload(prog, false);
	for (int p = 0; p < OWNER_PART_MAX; p++) {
		if (!(mask & (1U << p)))
			continue;
		part_progs(s, p, progs);
		for (int i = 0; progs[i]; i++) {
			bpf_program__set_autoload(progs[i], true);
			if (log)
				bpf_program__set_log_buf(progs[i], log,
							 OWNER_LOG_SIZE);
			/* The kernel refuses a program of the wrong type. */
			if (features_test_refuses(part_names[p]))
				bpf_program__set_type(progs[i],
						      BPF_PROG_TYPE_XDP);
		}
	}
	err = owner_bpf__load(s);
	if (err) {
		features_log_reason(log, err, reason, len);
		owner_bpf__destroy(s);
	} else {
		*out = s;
	}
	free(log);
	return err;
}

void owner_probe(struct owner_probe_result res[OWNER_PART_MAX])
{
	struct owner_bpf *s;

	for (int p = 0; p < OWNER_PART_MAX; p++) {
		res[p].reason[0] = '\0';
		res[p].err = load_parts(&s, 1U << p, res[p].reason,
					sizeof(res[p].reason));
		owner_bpf__destroy(s);
	}
}

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

/* 0, or -errno with reason set. */
static int attach_sock_create(struct owner_tracker *ot, char *reason,
			      size_t len)
{
	char path[PATH_MAX];
	int fd, err;

	err = cgroup2_find_mount(path, sizeof(path));
	if (err) {
		fd = open_private_cgroup2();
		if (fd < 0) {
			snprintf(
				reason, len,
				"no cgroup v2 hierarchy mounted and mounting one failed: %s",
				strerror(-fd));
			return fd;
		}
		snprintf(path, sizeof(path), "(private cgroup2 mount)");
		pr_info(_(
			"no cgroup v2 hierarchy in view: attached through a private cgroup2 mount\n"));
	} else {
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			features_fmt(reason, len, "cannot open cgroup %s: %s",
				     path, strerror(-err));
			return err;
		}
	}
	ot->sock_create =
		bpf_program__attach_cgroup(ot->skel->progs.itm_sock_create, fd);
	err = ot->sock_create ? 0 : -errno;
	if (err)
		features_fmt(reason, len, "cannot attach to cgroup %s: %s",
			     path, strerror(-err));
	close(fd);
	return err;
}

static int attach_iter(struct owner_tracker *ot, struct bpf_program *prog)
{
	struct bpf_link *l = bpf_program__attach_iter(prog, NULL);

	if (!l)
		return -errno;
	ot->iter[ot->n_iter++] = l;
	return 0;
}

/* The scan's programs, attached in the order the scan runs them. */
static int attach_scan(struct owner_tracker *ot, enum owner_part scan)
{
	struct bpf_program *progs[4];

	part_progs(ot->skel, scan, progs);
	for (int i = 0; progs[i]; i++) {
		int err = attach_iter(ot, progs[i]);

		if (err) {
			while (ot->n_iter)
				bpf_link__destroy(ot->iter[--ot->n_iter]);
			return err;
		}
	}
	ot->two_pass = scan == OWNER_PART_SOCKET_ITER;
	return 0;
}

/*
 * The first choice (sock_create and task_file) in one load, as on most
 * kernels; when the kernel refuses it, each part alone, then the parts
 * that loaded together.
 */
static unsigned int load_best(struct owner_tracker *ot,
			      struct owner_probe_result res[OWNER_PART_MAX])
{
	unsigned int want =
		1U << OWNER_PART_SOCK_CREATE | 1U << OWNER_PART_TASK_FILE;
	char reason[ITM_FEAT_REASON_LEN];
	unsigned int mask = 0;

	for (int p = 0; p < OWNER_PART_MAX; p++)
		res[p] = (struct owner_probe_result){.err = -ENOENT,
						     .reason = "not tried"};
	if (!load_parts(&ot->skel, want, reason, sizeof(reason))) {
		res[OWNER_PART_SOCK_CREATE].err = 0;
		res[OWNER_PART_TASK_FILE].err = 0;
		return want;
	}
	owner_probe(res);
	if (!res[OWNER_PART_SOCK_CREATE].err)
		mask |= 1U << OWNER_PART_SOCK_CREATE;
	if (!res[OWNER_PART_TASK_FILE].err)
		mask |= 1U << OWNER_PART_TASK_FILE;
	else if (!res[OWNER_PART_SOCKET_ITER].err)
		mask |= 1U << OWNER_PART_SOCKET_ITER;
	if (mask && load_parts(&ot->skel, mask, reason, sizeof(reason))) {
		/* Each loads alone but not together: keep what we can say. */
		for (int p = 0; p < OWNER_PART_MAX; p++)
			if (mask & (1U << p)) {
				res[p].err = -EINVAL;
				snprintf(res[p].reason, sizeof(res[p].reason),
					 "%s", reason);
			}
		mask = 0;
	}
	return mask;
}

void owner_features(const struct owner_probe_result res[OWNER_PART_MAX],
		    struct itm_features *fs)
{
	char why[ITM_FEAT_REASON_LEN + 64];

	if (!res[OWNER_PART_TASK_FILE].err) {
		features_set(fs, ITM_FEAT_OWNER_SCAN, ITM_FEAT_ENABLED,
			     "task_file", NULL);
	} else if (!res[OWNER_PART_SOCKET_ITER].err) {
		snprintf(why, sizeof(why),
			 "the kernel refused iter/task_file: %s",
			 res[OWNER_PART_TASK_FILE].reason);
		features_set(fs, ITM_FEAT_OWNER_SCAN, ITM_FEAT_DEGRADED,
			     "socket_iter", why);
	} else {
		features_fmt(why, sizeof(why),
			     "iter/task_file: %s; socket iterators: %s",
			     res[OWNER_PART_TASK_FILE].reason,
			     res[OWNER_PART_SOCKET_ITER].reason);
		features_set(fs, ITM_FEAT_OWNER_SCAN, ITM_FEAT_UNAVAILABLE,
			     "none", why);
	}
	if (!res[OWNER_PART_SOCK_CREATE].err)
		features_set(fs, ITM_FEAT_OWNER_SOCK_CREATE, ITM_FEAT_ENABLED,
			     "cgroup", NULL);
	else
		features_set(fs, ITM_FEAT_OWNER_SOCK_CREATE,
			     ITM_FEAT_UNAVAILABLE, "none",
			     res[OWNER_PART_SOCK_CREATE].reason);
}

int owner_tracker_open(struct owner_tracker **out, struct itm_features *fs)
{
	struct owner_probe_result res[OWNER_PART_MAX];
	struct owner_tracker *ot = calloc(1, sizeof(*ot));
	enum owner_part scan = OWNER_PART_MAX;
	char reason[ITM_FEAT_REASON_LEN];
	unsigned int mask;
	int err;

	*out = NULL;
	if (!ot)
		return -ENOMEM;
	mask = load_best(ot, res);
	if (mask & (1U << OWNER_PART_TASK_FILE))
		scan = OWNER_PART_TASK_FILE;
	else if (mask & (1U << OWNER_PART_SOCKET_ITER))
		scan = OWNER_PART_SOCKET_ITER;
	if (scan != OWNER_PART_MAX) {
		err = attach_scan(ot, scan);
		if (err) {
			res[scan].err = err;
			snprintf(res[scan].reason, sizeof(res[scan].reason),
				 "cannot attach the iterator: %s",
				 strerror(-err));
			scan = OWNER_PART_MAX;
		}
	}
	if (mask & (1U << OWNER_PART_SOCK_CREATE)) {
		err = attach_sock_create(ot, reason, sizeof(reason));
		if (err) {
			res[OWNER_PART_SOCK_CREATE].err = err;
			snprintf(res[OWNER_PART_SOCK_CREATE].reason,
				 sizeof(res[OWNER_PART_SOCK_CREATE].reason),
				 "%s", reason);
		}
	}

	/* Loaded alone but not taken: not running either. */
	if (scan != OWNER_PART_SOCKET_ITER &&
	    !res[OWNER_PART_SOCKET_ITER].err) {
		res[OWNER_PART_SOCKET_ITER].err = -ENOENT;
		snprintf(res[OWNER_PART_SOCKET_ITER].reason,
			 sizeof(res[OWNER_PART_SOCKET_ITER].reason),
			 "not loaded");
	}
	owner_features(res, fs);
	/* The daemon logs what is lost once everything is open. */
	if (!ot->n_iter && !ot->sock_create) {
		owner_tracker_close(ot);
		return 0;
	}
	*out = ot;
	return 0;
}

void owner_tracker_close(struct owner_tracker *ot)
{
	if (!ot)
		return;
	bpf_link__destroy(ot->sock_create);
	while (ot->n_iter)
		bpf_link__destroy(ot->iter[--ot->n_iter]);
	owner_bpf__destroy(ot->skel);
	free(ot);
}

int owner_tracker_map_fd(const struct owner_tracker *ot)
{
	return bpf_map__fd(ot->skel->maps.itm_sk_owner);
}

static int run_iter(struct bpf_link *link)
{
	char buf[256];
	ssize_t n;
	int fd;

	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -errno;
	/* The program writes no output; reading drives it to the end. */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n < 0 ? -errno : 0;
}

/* Notes the second pass did not take: other namespaces, other protocols. */
static void clear_notes(struct owner_tracker *ot)
{
	int fd = bpf_map__fd(ot->skel->maps.itm_scan);
	__u64 key;

	while (!bpf_map_get_next_key(fd, NULL, &key))
		if (bpf_map_delete_elem(fd, &key))
			break;
}

int owner_tracker_scan(struct owner_tracker *ot)
{
	int err = 0;

	for (size_t i = 0; i < ot->n_iter && !err; i++)
		err = run_iter(ot->iter[i]);
	if (ot->two_pass)
		clear_notes(ot);
	return err;
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

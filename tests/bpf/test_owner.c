// SPDX-License-Identifier: MIT
/*
 * The socket-owner programs (bpf/owner.bpf.c) on their own: each case
 * loads the object, runs the program the way the daemon does, and reads
 * the socket storage back by socket fd.
 *
 *  - cgroup/sock_create, attached to a cgroup this test creates: a process
 *    moved into it gets its pid and comm on its IPv4/IPv6 sockets (and in
 *    itm_comms), not on a Unix socket; a process outside gets nothing.
 *  - BPF_F_CLONE: a connection accepted on an owned listener carries the
 *    listener's owner (the kernel creates it, no sock_create runs).
 *  - iter/task_file: one pass stamps a socket that existed before.
 *
 * Children run in private network namespaces.  Exit status: 0 all passed,
 * 1 a case failed, 77 BPF is not available.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroup2.h"
#include "itm_shared.h"
#include "owner.skel.h"
#include "lo_up.h"

static struct owner_bpf *skel;
static char cgroup_dir[PATH_MAX];
static char fail_msg[512];

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* The owner stored on socket fd: 0, -ENOENT when none, or -errno. */
static int owner_of(int fd, struct itm_owner *o)
{
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.itm_sk_owner), &fd, o))
		return -errno;
	return 0;
}

static int expect_owner(const char *what, int fd, __u32 pid, const char *comm)
{
	struct itm_owner o;
	int err = owner_of(fd, &o);

	if (err)
		return fail("%s: no owner (%s)", what, strerror(-err));
	if (o.pid != pid || strncmp(o.comm, comm, sizeof(o.comm)))
		return fail("%s: owner pid %u comm '%.16s', want %u '%s'", what,
			    o.pid, o.comm, pid, comm);
	return 0;
}

static int expect_no_owner(const char *what, int fd)
{
	struct itm_owner o;
	int err = owner_of(fd, &o);

	if (err == -ENOENT)
		return 0;
	if (err)
		return fail("%s: lookup: %s", what, strerror(-err));
	return fail("%s: owned by pid %u, want none", what, o.pid);
}

/* Move pid into our cgroup. */
static int cgroup_enter(pid_t pid)
{
	char path[PATH_MAX + 16];
	int fd, n, err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup_dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = dprintf(fd, "%d\n", (int)pid);
	if (n < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * Run fn in a child inside the cgroup (when in_cgroup) and a private
 * network namespace, named comm.  The child's failure message comes back
 * through a pipe.
 */
static int in_child(int (*fn)(void), bool in_cgroup, const char *comm)
{
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd))
		return fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (pid == 0) {
		int err;

		close(pfd[0]);
		prctl(PR_SET_NAME, comm);
		if (in_cgroup && (err = cgroup_enter(getpid())))
			err = fail("entering the cgroup: %s", strerror(-err));
		else if (unshare(CLONE_NEWNET) || lo_up())
			err = fail("private netns: %s", strerror(errno));
		else
			err = fn();
		if (err && write(pfd[1], fail_msg, strlen(fail_msg)) < 0)
			_exit(2);
		_exit(err ? 1 : 0);
	}
	close(pfd[1]);
	n = read(pfd[0], fail_msg, sizeof(fail_msg) - 1);
	fail_msg[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (!fail_msg[0])
			fail("child exited with status %d", status);
		return -1;
	}
	return 0;
}

/* ---- cases ---- */

static int child_sock_create(void)
{
	int u4 = socket(AF_INET, SOCK_DGRAM, 0);
	int t6 = socket(AF_INET6, SOCK_STREAM, 0);
	int un = socket(AF_UNIX, SOCK_DGRAM, 0);
	__u32 pid = (__u32)getpid();
	struct itm_owner o;

	if (u4 < 0 || t6 < 0 || un < 0)
		return fail("socket: %s", strerror(errno));
	if (expect_owner("IPv4 UDP socket", u4, pid, "itm-sockcreate") ||
	    expect_owner("IPv6 TCP socket", t6, pid, "itm-sockcreate") ||
	    expect_no_owner("Unix socket", un))
		return -1;
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.itm_comms), &pid, &o))
		return fail("itm_comms has no entry for pid %u", pid);
	if (o.pid != pid || strcmp(o.comm, "itm-sockcreate"))
		return fail("itm_comms[%u] = pid %u '%.16s'", pid, o.pid,
			    o.comm);
	return 0;
}

static int child_outside(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return fail("socket: %s", strerror(errno));
	return expect_no_owner("socket outside the cgroup", fd);
}

static int t_sock_create(void)
{
	if (in_child(child_sock_create, true, "itm-sockcreate"))
		return -1;
	return in_child(child_outside, false, "itm-outside");
}

static int child_clone(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, s;

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &alen))
		return fail("listener: %s", strerror(errno));
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
		return fail("connect: %s", strerror(errno));
	s = accept(l, NULL, NULL);
	if (s < 0)
		return fail("accept: %s", strerror(errno));
	/* The kernel created s from the listener: only BPF_F_CLONE gives
	 * it an owner. */
	return expect_owner("accepted socket", s, (__u32)getpid(), "itm-clone");
}

static int t_clone(void)
{
	return in_child(child_clone, true, "itm-clone");
}

static int t_task_file(void)
{
	struct bpf_link *link = NULL;
	char buf[256], old[16] = {};
	int fd, iter = -1, err = -1;
	ssize_t n;

	/* Created outside the cgroup: no owner until the iterator runs. */
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0)
		return fail("socket: %s", strerror(errno));
	prctl(PR_GET_NAME, old);
	prctl(PR_SET_NAME, "itm-taskfile");
	if (expect_no_owner("socket before the scan", fd))
		goto out;
	link = bpf_program__attach_iter(skel->progs.itm_task_file, NULL);
	if (!link) {
		fail("attach iter: %s", strerror(errno));
		goto out;
	}
	iter = bpf_iter_create(bpf_link__fd(link));
	if (iter < 0) {
		fail("iter create: %s", strerror(errno));
		goto out;
	}
	while ((n = read(iter, buf, sizeof(buf))) > 0)
		;
	if (n < 0) {
		fail("iter read: %s", strerror(errno));
		goto out;
	}
	err = expect_owner("socket after the scan", fd, (__u32)getpid(),
			   "itm-taskfile");
out:
	prctl(PR_SET_NAME, old);
	if (iter >= 0)
		close(iter);
	bpf_link__destroy(link);
	close(fd);
	return err;
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	{"sock_create", t_sock_create},
	{"accept_clones_owner", t_clone},
	{"task_file_scan", t_task_file},
};

int main(void)
{
	struct bpf_link *sock_create = NULL;
	int passed = 0, failed = 0, cgfd = -1, err;
	char root[PATH_MAX];

	libbpf_set_print(libbpf_print);
	skel = owner_bpf__open_and_load();
	if (!skel) {
		err = errno;
		fprintf(stderr, "loading owner.bpf.o: %s\n", strerror(err));
		if (err == EPERM || err == ENOSYS) {
			printf("SKIP: BPF unavailable (%s)\n", strerror(err));
			return 77;
		}
		return 1;
	}
	/* The CI machine has cgroup v2: its absence is a failure. */
	err = cgroup2_find_mount(root, sizeof(root));
	if (!err) {
		int n = snprintf(cgroup_dir, sizeof(cgroup_dir),
				 "%s/itm_test_owner_%d", root, (int)getpid());

		if (n < 0 || (size_t)n >= sizeof(cgroup_dir))
			err = -ENAMETOOLONG;
		else if (mkdir(cgroup_dir, 0755))
			err = -errno;
	}
	if (!err) {
		cgfd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		sock_create =
			cgfd < 0 ? NULL
				 : bpf_program__attach_cgroup(
					   skel->progs.itm_sock_create, cgfd);
		if (!sock_create)
			err = -errno;
	}
	if (err) {
		fprintf(stderr, "cgroup set-up: %s\n", strerror(-err));
		failed++;
	}

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool needs_cgroup = cases[i].fn != t_task_file;

		fail_msg[0] = '\0';
		if (needs_cgroup && !sock_create)
			err = fail("no cgroup");
		else
			err = cases[i].fn();
		if (err) {
			printf("not ok %zu - %s: %s\n", i + 1, cases[i].name,
			       fail_msg);
			failed++;
		} else {
			printf("ok %zu - %s\n", i + 1, cases[i].name);
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	bpf_link__destroy(sock_create);
	if (cgfd >= 0)
		close(cgfd);
	/* The children have exited: the cgroup is empty. */
	if (cgroup_dir[0] && rmdir(cgroup_dir) && errno != ENOENT)
		fprintf(stderr, "rmdir %s: %s\n", cgroup_dir, strerror(errno));
	owner_bpf__destroy(skel);
	return failed ? 1 : 0;
}

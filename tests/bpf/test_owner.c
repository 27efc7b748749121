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
 *  - the two-pass scan (iter/task_file notes, iter/tcp and iter/udp
 *    store): TCP and UDP sockets of both families that existed before are
 *    stamped, a note whose inode does not match is not applied, and every
 *    note the second pass reaches is consumed.
 *
 * The object is loaded the way user/kernel/owner.c loads it: each part alone
 * first, then the parts this kernel accepts together.  A case whose part
 * the kernel refuses is skipped with the verifier's reason, unless the
 * kernel should have it (sock_create always; a scan variant from 5.11 on,
 * where bpf_sock_from_file exists): that is a failure.
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
#include <sys/utsname.h>
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

enum part { P_SOCK_CREATE, P_TASK_FILE, P_SOCKET_ITER, P_MAX };

static const char *const part_names[P_MAX] = {"sock_create", "task_file",
					      "socket_iter"};
static struct owner_bpf *skel;
static unsigned int loaded; /* parts in skel */
static char refused[P_MAX][256];
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

static int run_iter(struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach_iter(prog, NULL);
	char buf[256];
	ssize_t n = 0;
	int iter;

	if (!link)
		return fail("attach %s: %s", bpf_program__name(prog),
			    strerror(errno));
	iter = bpf_iter_create(bpf_link__fd(link));
	if (iter < 0) {
		fail("iter create %s: %s", bpf_program__name(prog),
		     strerror(errno));
	} else {
		while ((n = read(iter, buf, sizeof(buf))) > 0)
			;
		if (n < 0)
			fail("iter read: %s", strerror(errno));
		close(iter);
	}
	bpf_link__destroy(link);
	return iter < 0 || n < 0 ? -1 : 0;
}

/* Notes of our own pid: how many, and spoil their inode numbers. */
static int own_notes(bool spoil)
{
	int fd = bpf_map__fd(skel->maps.itm_scan), count = 0;
	__u64 key, next, *prev = NULL;
	struct {
		__u64 ino;
		struct itm_owner owner;
	} note;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &note) ||
		    note.owner.pid != (__u32)getpid())
			continue;
		count++;
		note.ino ^= 1;
		if (spoil && bpf_map_update_elem(fd, &key, &note, BPF_EXIST))
			return -1;
	}
	return count;
}

static int child_socket_iter(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int u4 = socket(AF_INET, SOCK_DGRAM, 0);
	int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
	int t4 = socket(AF_INET, SOCK_STREAM, 0);
	int t6 = socket(AF_INET6, SOCK_STREAM, 0);
	int spoiled = socket(AF_INET, SOCK_DGRAM, 0);
	__u32 pid = (__u32)getpid();
	int n;

	if (u4 < 0 || u6 < 0 || t4 < 0 || t6 < 0 || spoiled < 0)
		return fail("socket: %s", strerror(errno));
	/* Bound (UDP) or listening (TCP): in the kernel's socket tables. */
	if (bind(u4, (struct sockaddr *)&a, sizeof(a)) ||
	    bind(t4, (struct sockaddr *)&a, sizeof(a)) || listen(t4, 1) ||
	    listen(t6, 1) || bind(spoiled, (struct sockaddr *)&a, sizeof(a)))
		return fail("bind/listen: %s", strerror(errno));
	{
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT};

		if (bind(u6, (struct sockaddr *)&a6, sizeof(a6)))
			return fail("bind u6: %s", strerror(errno));
	}
	if (expect_no_owner("socket before the scan", u4))
		return -1;
	/* First the spoiled one alone: its note must not be applied. */
	{
		int keep[] = {u4, u6, t4, t6};

		for (int i = 0; i < 4; i++)
			close(keep[i]);
	}
	if (run_iter(skel->progs.itm_task_file_note))
		return -1;
	if (own_notes(true) != 1)
		return fail("want exactly one note of pid %u", pid);
	if (run_iter(skel->progs.itm_sk_tcp) ||
	    run_iter(skel->progs.itm_sk_udp))
		return -1;
	if (expect_no_owner("socket whose note has another inode", spoiled))
		return -1;
	if (own_notes(false) != 0)
		return fail("the second pass left a note it reached");

	u4 = socket(AF_INET, SOCK_DGRAM, 0);
	u6 = socket(AF_INET6, SOCK_DGRAM, 0);
	t4 = socket(AF_INET, SOCK_STREAM, 0);
	t6 = socket(AF_INET6, SOCK_STREAM, 0);
	if (u4 < 0 || u6 < 0 || t4 < 0 || t6 < 0)
		return fail("socket: %s", strerror(errno));
	a.sin_port = 0;
	if (bind(u4, (struct sockaddr *)&a, sizeof(a)) ||
	    bind(t4, (struct sockaddr *)&a, sizeof(a)) || listen(t4, 1) ||
	    listen(t6, 1))
		return fail("bind/listen: %s", strerror(errno));
	{
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT};

		if (bind(u6, (struct sockaddr *)&a6, sizeof(a6)))
			return fail("bind u6: %s", strerror(errno));
	}
	if (run_iter(skel->progs.itm_task_file_note) ||
	    run_iter(skel->progs.itm_sk_tcp) ||
	    run_iter(skel->progs.itm_sk_udp))
		return -1;
	n = own_notes(false);
	if (n)
		return fail("%d notes of ours left after the second pass", n);
	if (expect_owner("IPv4 UDP socket", u4, pid, "itm-sockiter") ||
	    expect_owner("IPv6 UDP socket", u6, pid, "itm-sockiter") ||
	    expect_owner("IPv4 TCP listener", t4, pid, "itm-sockiter") ||
	    expect_owner("IPv6 TCP listener", t6, pid, "itm-sockiter"))
		return -1;
	return 0;
}

static int t_socket_iter(void)
{
	return in_child(child_socket_iter, false, "itm-sockiter");
}

static const struct {
	const char *name;
	int (*fn)(void);
	enum part part;
} cases[] = {
	{"sock_create", t_sock_create, P_SOCK_CREATE},
	{"accept_clones_owner", t_clone, P_SOCK_CREATE},
	{"task_file_scan", t_task_file, P_TASK_FILE},
	{"socket_iter_scan", t_socket_iter, P_SOCKET_ITER},
};

/* Open and load with the programs of the parts in mask; NULL on failure. */
static struct owner_bpf *load_parts(unsigned int mask, char *reason, size_t len)
{
	static char log[1 << 20];
	struct bpf_program *progs[P_MAX][3], *prog;
	struct owner_bpf *s = owner_bpf__open();
	const char *last = NULL;

	if (!s) {
		snprintf(reason, len, "open: %s", strerror(errno));
		return NULL;
	}
	memset(progs, 0, sizeof(progs));
	progs[P_SOCK_CREATE][0] = s->progs.itm_sock_create;
	progs[P_TASK_FILE][0] = s->progs.itm_task_file;
	progs[P_SOCKET_ITER][0] = s->progs.itm_task_file_note;
	progs[P_SOCKET_ITER][1] = s->progs.itm_sk_tcp;
	progs[P_SOCKET_ITER][2] = s->progs.itm_sk_udp;
	bpf_object__for_each_program(prog, s->obj)
	{
		bpf_program__set_autoload(prog, false);
		bpf_program__set_log_buf(prog, log, sizeof(log));
	}
	for (int p = 0; p < P_MAX; p++)
		for (int i = 0; i < 3 && progs[p][i]; i++)
			bpf_program__set_autoload(progs[p][i],
						  mask & (1U << p));
	log[0] = '\0';
	if (!owner_bpf__load(s))
		return s;
	/* The verifier's last word before its statistics. */
	for (char *l = strtok(log, "\n"); l; l = strtok(NULL, "\n"))
		if (strncmp(l, "verification time", 17) &&
		    strncmp(l, "stack depth", 11) &&
		    strncmp(l, "processed ", 10))
			last = l;
	snprintf(reason, len, "%s", last ? last : strerror(errno));
	owner_bpf__destroy(s);
	return NULL;
}

/* Whether the running kernel is at least major.minor. */
static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return true;
	return ma > major || (ma == major && mi >= minor);
}

int main(void)
{
	struct bpf_link *sock_create = NULL;
	int passed = 0, failed = 0, cgfd = -1, err;
	char root[PATH_MAX];

	libbpf_set_print(libbpf_print);
	for (int p = 0; p < P_MAX; p++) {
		struct owner_bpf *s =
			load_parts(1U << p, refused[p], sizeof(refused[p]));

		if (s) {
			loaded |= 1U << p;
			refused[p][0] = '\0';
			owner_bpf__destroy(s);
		} else {
			printf("# the kernel refuses %s: %s\n", part_names[p],
			       refused[p]);
		}
	}
	if (!loaded) {
		err = errno;
		if (err == EPERM || err == ENOSYS) {
			printf("SKIP: BPF unavailable (%s)\n", strerror(err));
			return 77;
		}
	}
	skel = load_parts(loaded, refused[P_MAX - 1], sizeof(refused[0]));
	if (!skel) {
		fprintf(stderr,
			"the parts that load alone do not load together\n");
		return 1;
	}
	/* A refusal where the kernel has what the part needs is a defect. */
	if (!(loaded & (1U << P_SOCK_CREATE))) {
		printf("not ok - cgroup/sock_create refused on a kernel that has it\n");
		failed++;
	}
	if (!(loaded & (1U << P_TASK_FILE | 1U << P_SOCKET_ITER)) &&
	    kernel_at_least(5, 11)) {
		printf("not ok - no scan variant loads on Linux >= 5.11\n");
		failed++;
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
			cgfd < 0 || !(loaded & (1U << P_SOCK_CREATE))
				? NULL
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
		bool needs_cgroup = cases[i].part == P_SOCK_CREATE;

		fail_msg[0] = '\0';
		if (!(loaded & (1U << cases[i].part))) {
			printf("ok %zu - %s # SKIP the kernel refuses %s: %s\n",
			       i + 1, cases[i].name, part_names[cases[i].part],
			       refused[cases[i].part]);
			continue;
		}
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

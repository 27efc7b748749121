// SPDX-License-Identifier: MIT
#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "itm_shared.h"
#include "kernel_features.h"
#include "log.h"
#include "privdrop.h"
#include "tc_filters.h"
#include "traffic.skel.h"

/* Debian 12's UAPI headers predate tcx (Linux 6.6). */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#define BPF_TCX_EGRESS	47
#endif

#define LOCK_DIR      "/run/ip_traffic_monitor"
#define LOCK_ABSTRACT "ip_traffic_monitor/"
#define DEFAULT_BPFFS "/sys/fs/bpf"

/* Links first: unpinning them is what detaches a kept instance. */
static const char *const pin_names[] = {
	"itm_stats_a",	"itm_stats_b", "itm_active", "itm_counters",
	"link_ingress", "link_egress", "itm_meta",   "link_xdp",
};

#define PIN_LINK0 4
#define PIN_META  6
#define PIN_XDP	  7

/* Debian 12's UAPI headers have it; older ones do not (Linux 5.18). */
#ifndef BPF_F_XDP_HAS_FRAGS
#define BPF_F_XDP_HAS_FRAGS (1U << 5)
#endif

/* One monitored interface; nobody outside this file sees inside. */
struct iface_monitor {
	char name[IF_NAMESIZE];
	char instance[IF_NAMESIZE + 32]; /* name, @ns<inode> outside init */
	int ifindex;
	bool l3; /* no link-layer header (tun, wg) */
	/* socket owners read with the helper only (Linux < 6.2) */
	bool owner_hlp;
	enum owner_read owner_read;
	/* why a better owner read, or tcx, was not taken ("": it was) */
	char owner_reason[ITM_FEAT_REASON_LEN];
	char tcx_reason[ITM_FEAT_REASON_LEN];
	enum attach_mode mode;
	struct traffic_bpf *skel;
	int link_fd[2];		 /* tcx links: [0] ingress, [1] egress */
	bool filter_attached[2]; /* clsact filters */
	bool hook_created;	 /* we created the clsact qdisc */
	char pin_base[PATH_MAX - 64];
	char pin_dir[PATH_MAX - 32]; /* leaves room for "/link_ingress" */
	/*
	 * The pin directory, flock()ed (a deleted lock file cannot hand it to
	 * a second instance) and used to unpin after --user dropped the
	 * privileges that searching its path may need.
	 */
	int pin_dir_fd;
	int lock_fd;
	int iface_lock_fd;   /* iface_lock(): nothing can bypass it */
	uint32_t prog_id[2]; /* what the hooks must run: [0] ingress */
	/* The hook no longer runs our program (reported once). */
	bool lost[2];
	/* 0: itm_stats_a in the slot, 1: b; only the loader changes it */
	int active;
	bool adopted;	     /* the maps came from an earlier run */
	bool force_clsact;   /* --clsact, also when attaching again */
	bool gone;	     /* the interface disappeared; not attached */
	uint64_t reattached; /* times attached again to a new interface */
	bool unpinned;	     /* a tcx link of a re-attach could not be pinned */
	/*
	 * --user without --reattach: an interface that comes back is not
	 * attached again, only reported (back_ifindex: the one already
	 * reported).
	 */
	bool unprivileged;
	/*
	 * --user --reattach with clsact filters: CAP_NET_ADMIN is permitted
	 * but not effective; raised only around attaching (and detaching).
	 * A tcx link needs no capability.
	 */
	bool raise_caps;
	int back_ifindex;
	/* --xdp: received frames counted by an XDP link (pinned link_xdp) */
	bool xdp;
	bool xdp_frags;	 /* itm_xdp_frags: multi-buffer frames too */
	bool xdp_native; /* driver mode; else generic (skb) mode */
	bool xdp_lost;	 /* the XDP link no longer runs our program */
	int xdp_link_fd;
	uint32_t xdp_prog_id;
	char xdp_reason[ITM_FEAT_REASON_LEN]; /* why generic, why no frags */
};

const char *attach_mode_name(enum attach_mode mode)
{
	switch (mode) {
	case ATTACH_TCX:
		return "tcx";
	case ATTACH_CLSACT:
		return "clsact";
	default:
		return "none";
	}
}

static int stats_fd(const struct iface_monitor *m, int which)
{
	return bpf_map__fd(which ? m->skel->maps.itm_stats_b
				 : m->skel->maps.itm_stats_a);
}

/* Point the programs' slot at statistics map "which" (0: a, 1: b). */
static int set_active(struct iface_monitor *m, int which)
{
	int fd = stats_fd(m, which);
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(m->skel->maps.itm_active), &zero,
				&fd, BPF_ANY))
		return -errno;
	m->active = which;
	return 0;
}

int iface_monitor_stats_fd(const struct iface_monitor *m, int which)
{
	return stats_fd(m, which);
}

static int map_id(int fd, __u32 *id)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

/* Adopted maps: which one the pinned slot points at (it holds map ids). */
static int find_active(struct iface_monitor *m)
{
	__u32 zero = 0, inner = 0, a = 0, b = 0;
	int err;

	if (bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.itm_active), &zero,
				&inner))
		inner = 0;
	err = map_id(stats_fd(m, 0), &a);
	if (!err)
		err = map_id(stats_fd(m, 1), &b);
	if (!err && inner && (inner == a || inner == b)) {
		m->active = inner == b;
		return 0;
	}
	/* An empty slot (killed during set-up): count into a again. */
	err = set_active(m, 0);
	if (err)
		pr_err(_("cannot activate the statistics map: %s\n"),
		       strerror(-err));
	return err;
}

int iface_monitor_swap(struct iface_monitor *m, int *retired_fd)
{
	int old = m->active, err;

	/* Returns after synchronize_rcu(): no program still uses "old". */
	err = set_active(m, !old);
	if (err) {
		pr_warn(_("%s: swapping the statistics map failed: %s\n"),
			m->name, strerror(-err));
		return err;
	}
	*retired_fd = stats_fd(m, old);
	return 0;
}

int iface_monitor_current_fd(const struct iface_monitor *m)
{
	return stats_fd(m, m->active);
}

uint32_t iface_monitor_map_capacity(const struct iface_monitor *m)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	/* From the kernel: adopted maps keep the size they were made with. */
	if (!m->skel ||
	    bpf_obj_get_info_by_fd(stats_fd(m, m->active), &info, &len))
		return 0;
	return info.max_entries;
}

int iface_monitor_meta_fd(const struct iface_monitor *m)
{
	return bpf_map__fd(m->skel->maps.itm_meta);
}

int iface_monitor_counters_fd(const struct iface_monitor *m)
{
	return bpf_map__fd(m->skel->maps.itm_counters);
}

int iface_monitor_missed_fd(const struct iface_monitor *m)
{
	return m->skel ? bpf_map__fd(m->skel->maps.itm_mv_missed) : -EBADF;
}

bool iface_monitor_moves_rx(const struct iface_monitor *m)
{
	return m->xdp && m->owner_read != OWNER_READ_NONE;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

/* Pins need a bpffs; many systems (and containers) do not mount one. */
static int ensure_pin_dir(const char *base, const char *dir)
{
	int err;

	if (!strncmp(base, DEFAULT_BPFFS "/", strlen(DEFAULT_BPFFS) + 1) &&
	    !is_bpffs(DEFAULT_BPFFS)) {
		if (mount("bpf", DEFAULT_BPFFS, "bpf", 0, "mode=0700")) {
			err = -errno;
			pr_err(_("cannot mount bpffs on %s: %s (mount -t bpf bpf %s)\n"),
			       DEFAULT_BPFFS, strerror(errno), DEFAULT_BPFFS);
			return err;
		}
		pr_debug("mounted bpffs on %s\n", DEFAULT_BPFFS);
	}
	err = mkdir_p(dir, 0700);
	if (err) {
		pr_err(_("cannot create pin directory %s: %s\n"), LOG_Q(dir),
		       strerror(-err));
		return err;
	}
	if (!is_bpffs(dir)) {
		pr_err(_("%s is not on a bpf filesystem; choose --pin-dir under a bpffs mount\n"),
		       LOG_Q(dir));
		return -EINVAL;
	}
	return 0;
}

/*
 * Through a descriptor of the pin directory opened at start: after --user
 * dropped privileges the path may run through directories (a bpffs
 * mounted 0700) the daemon can no longer search.
 */
static int unpin(const struct iface_monitor *m, const char *name)
{
	char path[PATH_MAX];

	if (m->pin_dir_fd >= 0)
		return unlinkat(m->pin_dir_fd, name, 0);
	snprintf(path, sizeof(path), "%s/%s", m->pin_dir, name);
	return unlink(path);
}

/* Leftovers of an instance that died without cleaning up (kill -9). */
static void remove_pins(const struct iface_monitor *m)
{
	for (size_t i = 0; i < sizeof(pin_names) / sizeof(pin_names[0]); i++)
		if (!unpin(m, pin_names[i]))
			pr_debug("removed pin %s/%s\n", m->pin_dir,
				 pin_names[i]);
}

/*
 * Whether we share PID 1's network namespace.  Reading /proc/1/ns/net needs
 * ptrace rights over PID 1, which a sandboxed service lacks (its bounding
 * set is smaller than init's); /proc/1/net/netlink is readable by anyone
 * and lists the netlink sockets of PID 1's namespace, so a socket of ours
 * shows up there exactly when the namespace is the same.
 */
static bool in_init_netns(const struct stat *self)
{
	unsigned long long ino;
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
	struct stat init, st;
	char line[256];
	bool same = false;
	FILE *f;
	int fd;

	if (!stat("/proc/1/ns/net", &init))
		return self->st_ino == init.st_ino;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0 /* NETLINK_ROUTE */);
	if (fd < 0)
		return false;
	/* Only a bound socket is in the namespace's table (and listed). */
	if (bind(fd, (struct sockaddr *)&nl, sizeof(nl))) {
		close(fd);
		return false;
	}
	f = fopen("/proc/1/net/netlink", "re");
	/* sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode; a header first.
	 */
	while (f && !fstat(fd, &st) && !same && fgets(line, sizeof(line), f))
		same = sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
			      &ino) == 1 &&
		       ino == (unsigned long long)st.st_ino;
	if (f)
		fclose(f);
	close(fd);
	return same;
}

/*
 * Interface names are unique only within a network namespace.  Outside
 * PID 1's, the name gets the namespace's inode ("eth0@ns4026532281") so
 * two namespaces' "eth0" never share a lock or a pin directory.
 */
static void instance_name(const char *ifname, char *out, size_t len)
{
	struct stat self;

	if (stat("/proc/self/ns/net", &self) || in_init_netns(&self))
		snprintf(out, len, "%s", ifname);
	else
		snprintf(out, len, "%s@ns%llu", ifname,
			 (unsigned long long)self.st_ino);
}

static void lock_path(const struct iface_monitor *m, char *path, size_t len)
{
	snprintf(path, len, LOCK_DIR "/%s.lock", m->instance);
}

/*
 * flock() on /run/ip_traffic_monitor/<instance>.lock.  The file is
 * unlinked on exit; a lock won on a file that was unlinked meanwhile is
 * worthless, so check that the path still names the locked inode.
 */
static int take_lock(struct iface_monitor *m)
{
	char path[PATH_MAX], pid[32];
	struct stat st_fd, st_path;
	int fd, err, n;

	err = mkdir_p(LOCK_DIR, 0755);
	if (err) {
		pr_err(_("cannot create %s: %s\n"), LOCK_DIR, strerror(-err));
		return err;
	}
	lock_path(m, path, sizeof(path));
	for (;;) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			err = -errno;
			pr_err(_("cannot open %s: %s\n"), path,
			       strerror(errno));
			return err;
		}
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			err = -errno;
			n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			if (err == -EWOULDBLOCK)
				pr_err(_("%s is already monitored by pid %s; stop it first\n"),
				       m->name, pid[0] ? pid : "?");
			else
				pr_err(_("cannot lock %s: %s\n"), path,
				       strerror(-err));
			close(fd);
			return err == -EWOULDBLOCK ? -EBUSY : err;
		}
		if (!fstat(fd, &st_fd) && !stat(path, &st_path) &&
		    st_fd.st_ino == st_path.st_ino &&
		    st_fd.st_dev == st_path.st_dev)
			break;
		close(fd); /* lost a race with an exiting instance */
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n)
		pr_warn(_("cannot write pid to %s\n"), path);
	m->lock_fd = fd;
	return 0;
}

/*
 * The lock file can be deleted by anyone with access to /run; the pin
 * directory cannot go while it holds our pins.  Locking it too means a
 * second instance never takes over a running one's pins.
 */
static int lock_pin_dir(struct iface_monitor *m)
{
	int fd = open(m->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err;

	if (fd < 0) {
		err = -errno;
		pr_err(_("cannot open %s: %s\n"), LOG_Q(m->pin_dir),
		       strerror(errno));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (err == -EWOULDBLOCK)
			pr_err(_("%s is already monitored (its pin directory %s is locked); stop that instance first\n"),
			       m->name, LOG_Q(m->pin_dir));
		else
			pr_err(_("cannot lock %s: %s\n"), LOG_Q(m->pin_dir),
			       strerror(-err));
		close(fd);
		return err == -EWOULDBLOCK ? -EBUSY : err;
	}
	m->pin_dir_fd = fd;
	return 0;
}

static void release_lock(struct iface_monitor *m)
{
	char path[PATH_MAX];

	if (m->lock_fd < 0)
		return;
	/* Unlink while still holding it: see take_lock(). */
	lock_path(m, path, sizeof(path));
	unlink(path);
	close(m->lock_fd);
	m->lock_fd = -1;
}

/*
 * "\0ip_traffic_monitor/IFACE": abstract unix socket names belong to the
 * network namespace, like interface names, whatever /run, /sys or bpffs a
 * process sees (nsenter, ip netns exec, another mount namespace).
 */
static socklen_t iface_lock_addr(const char *ifname, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
		     LOCK_ABSTRACT "%s", ifname);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* The holder's pid, as its listening socket recorded it; 0: unknown. */
static pid_t iface_lock_holder(const struct sockaddr_un *sa, socklen_t len)
{
	struct ucred cred = {};
	socklen_t clen = sizeof(cred);
	pid_t pid = 0;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (!connect(fd, (const struct sockaddr *)sa, len) &&
	    !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
		pid = cred.pid;
	close(fd);
	return pid;
}

/*
 * One instance per interface and network namespace, proven: a lock file
 * can be deleted, and /run or bpffs differ between mount namespaces, but
 * nobody can remove a bound abstract socket name, and it goes with the
 * process (kill -9 included).  Keyed on the name asked for, not the
 * ifindex: the monitor follows that name (a re-created interface is
 * attached again, a renamed one let go), so that is what a second
 * instance must not take.  Held for the process's life, through --user.
 */
int iface_lock(const char *ifname)
{
	struct sockaddr_un sa;
	socklen_t len = iface_lock_addr(ifname, &sa);
	char pid[32] = "?";
	pid_t holder;
	int fd, err;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) || listen(fd, 64)) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		if (err != -EADDRINUSE) {
			pr_err(_("cannot lock %s: %s\n"), sa.sun_path + 1,
			       strerror(-err));
			return err;
		}
		holder = iface_lock_holder(&sa, len);
		if (holder > 0)
			snprintf(pid, sizeof(pid), "%d", (int)holder);
		pr_err(_("%s is already monitored by pid %s; stop it first\n"),
		       ifname, pid);
		return -EBUSY;
	}
	return fd;
}

/*
 * A refused instance's probe waits in the listen queue until accepted:
 * close those, so the queue never fills and every probe gets the pid.
 */
static void iface_lock_answer(const struct iface_monitor *m)
{
	int fd;

	while (m->iface_lock_fd >= 0 &&
	       (fd = accept4(m->iface_lock_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

static void release_iface_lock(struct iface_monitor *m)
{
	if (m->iface_lock_fd >= 0)
		close(m->iface_lock_fd);
	m->iface_lock_fd = -1;
}

/* ARPHRD_ETHER and loopback carry an Ethernet header at TC; others none. */
static int link_is_l3(const char *name, bool *l3)
{
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		*l3 = ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER &&
		      ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK;
	close(fd);
	return err;
}

/*
 * libbpf rejects a bpf_tc_hook whose padding is not zero ("non-zero extra
 * bytes"), so fill it in place after a memset rather than return it.
 */
static void tc_hook(struct bpf_tc_hook *h, const struct iface_monitor *m,
		    enum bpf_tc_attach_point point)
{
	memset(h, 0, sizeof(*h));
	h->sz = sizeof(*h);
	h->ifindex = m->ifindex;
	h->attach_point = point;
}

static bool prog_is_ours(__u32 prog_id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	bool ours = false;
	int fd;

	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return false;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		ours = !strncmp(info.name, "itm_", 4);
	close(fd);
	return ours;
}

/* A clsact filter of ours left by an instance killed with SIGKILL. */
static void remove_stale_filter(struct iface_monitor *m,
				enum bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ITM_TC_HANDLE,
		    .priority = ITM_TC_PRIORITY);
	struct bpf_tc_hook hook;

	tc_hook(&hook, m, point);
	if (bpf_tc_query(&hook, &opts))
		return;
	if (!prog_is_ours(opts.prog_id)) {
		pr_warn(_("%s: a foreign filter uses our handle/priority; leaving it\n"),
			m->name);
		return;
	}
	opts.prog_fd = opts.prog_id = opts.flags = 0;
	if (!bpf_tc_detach(&hook, &opts))
		pr_info(_("%s: removed a stale filter of an earlier run\n"),
			m->name);
}

static struct bpf_program *prog_for(struct iface_monitor *m, bool ingress)
{
	struct traffic_bpf *s = m->skel;

	/*
	 * --xdp: the XDP program counts received frames; this one only moves
	 * what it attributes to a process from pid 0 to the process (see
	 * move_rx() in bpf/traffic.bpf.c), or does nothing without
	 * attribution.
	 */
	if (m->xdp && ingress && m->owner_read == OWNER_READ_NONE)
		return s->progs.itm_ingress_off;
	if (m->xdp && ingress)
		return m->owner_hlp ? s->progs.itm_ingr_mv_hlp
				    : s->progs.itm_ingress_mv;
	if (m->l3 && ingress)
		return m->owner_hlp ? s->progs.itm_ingr_l3_hlp
				    : s->progs.itm_ingress_l3;
	if (m->l3)
		return m->owner_hlp ? s->progs.itm_egr_l3_hlp
				    : s->progs.itm_egress_l3;
	if (ingress)
		return m->owner_hlp ? s->progs.itm_ingress_hlp
				    : s->progs.itm_ingress;
	return m->owner_hlp ? s->progs.itm_egress_hlp : s->progs.itm_egress;
}

static int attach_tcx(struct iface_monitor *m)
{
	/* The tests have the kernel refuse tcx: no device has index 0. */
	int ifindex = features_test_refuses("tcx") ? 0 : m->ifindex;

	for (int dir = 0; dir < 2; dir++) {
		int fd = bpf_link_create(
			bpf_program__fd(prog_for(m, dir == 0)), ifindex,
			dir == 0 ? BPF_TCX_INGRESS : BPF_TCX_EGRESS, NULL);
		if (fd < 0)
			return fd;
		m->link_fd[dir] = fd;
	}
	return 0;
}

static int attach_clsact(struct iface_monitor *m)
{
	struct bpf_tc_hook hook;
	int err;

	tc_hook(&hook, m, BPF_TC_INGRESS | BPF_TC_EGRESS);
	err = bpf_tc_hook_create(&hook);
	if (!err)
		m->hook_created = true;
	else if (err != -EEXIST)
		return err;
	for (int dir = 0; dir < 2; dir++) {
		LIBBPF_OPTS(bpf_tc_opts, opts,
			    .prog_fd = bpf_program__fd(prog_for(m, dir == 0)),
			    .handle = ITM_TC_HANDLE,
			    .priority = ITM_TC_PRIORITY);
		struct bpf_tc_hook h;

		tc_hook(&h, m, dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS);
		err = bpf_tc_attach(&h, &opts);
		if (err)
			return err;
		m->filter_attached[dir] = true;
	}
	return 0;
}

/* The program of the filter at our handle/priority: 0 or -errno. */
static int clsact_query(const struct iface_monitor *m, int dir, __u32 *prog_id)
{
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = ITM_TC_HANDLE,
		    .priority = ITM_TC_PRIORITY);
	struct bpf_tc_hook h;
	int err;

	tc_hook(&h, m, dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	err = bpf_tc_query(&h, &q);
	if (!err)
		*prog_id = q.prog_id;
	return err;
}

static bool clsact_is_ours(const struct iface_monitor *m, int dir)
{
	__u32 id = 0;

	return !clsact_query(m, dir, &id) && id == m->prog_id[dir];
}

static void detach_clsact(struct iface_monitor *m)
{
	for (int dir = 0; dir < 2; dir++) {
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ITM_TC_HANDLE,
			    .priority = ITM_TC_PRIORITY);
		struct bpf_tc_hook h;

		tc_hook(&h, m, dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS);
		/* Only ours: a filter put in its place belongs to someone. */
		if (m->filter_attached[dir] && clsact_is_ours(m, dir) &&
		    bpf_tc_detach(&h, &opts))
			pr_warn(_("%s: could not remove our %s filter\n"),
				m->name, dir == 0 ? "ingress" : "egress");
		m->filter_attached[dir] = false;
	}
	/* Remove the clsact qdisc only if we made it and nobody else uses it.
	 */
	if (m->hook_created &&
	    tc_count_other_filters(m->ifindex, true, 0, 0) == 0 &&
	    tc_count_other_filters(m->ifindex, false, 0, 0) == 0) {
		struct bpf_tc_hook hook;

		tc_hook(&hook, m, BPF_TC_INGRESS | BPF_TC_EGRESS);
		bpf_tc_hook_destroy(&hook);
	}
	m->hook_created = false;
}

static int attach(struct iface_monitor *m, bool force_clsact)
{
	int err;

	if (!force_clsact) {
		err = attach_tcx(m);
		if (!err) {
			m->mode = ATTACH_TCX;
			m->lost[0] = m->lost[1] = false;
			return 0;
		}
		for (int dir = 0; dir < 2; dir++) {
			if (m->link_fd[dir] >= 0)
				close(m->link_fd[dir]);
			m->link_fd[dir] = -1;
		}
		snprintf(m->tcx_reason, sizeof(m->tcx_reason), "%s",
			 strerror(-err));
		pr_debug("%s: tcx attach failed (%s), using clsact\n", m->name,
			 strerror(-err));
	}
	err = attach_clsact(m);
	if (err) {
		pr_err(_("cannot attach to %s: %s\n"), m->name, strerror(-err));
		detach_clsact(m);
		return err;
	}
	m->mode = ATTACH_CLSACT;
	m->lost[0] = m->lost[1] = false;
	return 0;
}

static int pin_all(struct iface_monitor *m)
{
	struct traffic_bpf *s = m->skel;
	struct bpf_map *maps[] = {s->maps.itm_stats_a, s->maps.itm_stats_b,
				  s->maps.itm_active, s->maps.itm_counters};
	char path[PATH_MAX];
	int err;

	for (size_t i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/%s", m->pin_dir,
			 pin_names[i < 4 ? i : PIN_META]);
		/* Adopted maps are pinned already: they are these maps. */
		if (m->adopted && !access(path, F_OK))
			continue;
		err = bpf_map__pin(i < 4 ? maps[i] : s->maps.itm_meta, path);
		if (err)
			goto fail;
	}
	for (int dir = 0; dir < 2 && m->mode == ATTACH_TCX; dir++) {
		snprintf(path, sizeof(path), "%s/%s", m->pin_dir,
			 pin_names[PIN_LINK0 + dir]);
		if (m->adopted && !access(path, F_OK))
			continue;
		if (bpf_obj_pin(m->link_fd[dir], path)) {
			err = -errno;
			goto fail;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", m->pin_dir, pin_names[PIN_XDP]);
	if (m->xdp_link_fd >= 0 && access(path, F_OK) &&
	    bpf_obj_pin(m->xdp_link_fd, path)) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	pr_err(_("cannot pin %s: %s\n"), path, strerror(-err));
	if (!m->adopted)
		remove_pins(m);
	return err;
}

static bool pinned(const struct iface_monitor *m, int idx)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", m->pin_dir, pin_names[idx]);
	return !access(path, F_OK);
}

static int pinned_map_info(const struct iface_monitor *m, int idx,
			   struct bpf_map_info *info)
{
	char path[PATH_MAX];
	__u32 len = sizeof(*info);
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", m->pin_dir, pin_names[idx]);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		err = -errno;
	close(fd);
	return err;
}

/*
 * Maps pinned by an earlier run: 1 when they have our layout (adopt
 * them), 0 when there are none, -EPROTO (printed) when they have another
 * layout: misreading them would corrupt counts, and removing them would
 * lose what they hold, so the operator decides.
 */
static int check_pinned_layout(struct iface_monitor *m)
{
	struct itm_meta meta = {0};
	struct bpf_map_info info;
	char path[PATH_MAX];
	__u32 zero = 0;
	int fd;

	if (!pinned(m, 0) && !pinned(m, 1) && !pinned(m, PIN_META))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", m->pin_dir, pin_names[PIN_META]);
	fd = pinned(m, PIN_META) ? bpf_obj_get(path) : -1;
	if (fd >= 0) {
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    info.value_size == sizeof(meta))
			bpf_map_lookup_elem(fd, &zero, &meta);
		close(fd);
	}
	if (meta.layout == ITM_PIN_LAYOUT && pinned(m, 0) && pinned(m, 1) &&
	    pinned(m, 2) && pinned(m, 3) && !pinned_map_info(m, 0, &info) &&
	    info.type == BPF_MAP_TYPE_PERCPU_HASH &&
	    info.key_size == sizeof(struct itm_key) &&
	    info.value_size == sizeof(struct itm_value) &&
	    !pinned_map_info(m, 1, &info) &&
	    info.key_size == sizeof(struct itm_key) &&
	    info.value_size == sizeof(struct itm_value) &&
	    !pinned_map_info(m, 3, &info) &&
	    info.value_size == sizeof(struct itm_counter) &&
	    info.max_entries == ITM_CTR_MAX)
		return 1;
	pr_err(_("%s holds maps of another version (pinned layout %u, this one reads %u): stop or finish that version, or remove them with 'ip_traffic_monitor_cli detach -i %s --pin-dir %s' (their unstored counts are lost)\n"),
	       m->pin_dir, meta.layout, ITM_PIN_LAYOUT, m->name, m->pin_base);
	return -EPROTO;
}

/* Use the pinned maps instead of creating new ones; before load. */
static int reuse_pinned_maps(struct iface_monitor *m)
{
	struct traffic_bpf *s = m->skel;
	struct bpf_map *maps[] = {s->maps.itm_stats_a, s->maps.itm_stats_b,
				  s->maps.itm_active, s->maps.itm_counters,
				  s->maps.itm_meta};
	static const int idx[] = {0, 1, 2, 3, PIN_META};
	char path[PATH_MAX];

	for (size_t i = 0; i < 5; i++) {
		int fd, err;

		snprintf(path, sizeof(path), "%s/%s", m->pin_dir,
			 pin_names[idx[i]]);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			err = -errno;
			pr_err(_("cannot open pinned map %s: %s\n"), path,
			       strerror(errno));
			return err;
		}
		err = bpf_map__reuse_fd(maps[i], fd);
		close(fd);
		if (err) {
			pr_err(_("cannot reuse pinned map %s: %s\n"), path,
			       strerror(-err));
			return err;
		}
	}
	return 0;
}

/*
 * Take over the earlier run's attachment without a gap and without
 * counting a packet twice: a pinned tcx link gets our program atomically
 * (bpf_link_update), our clsact filter is replaced in place; only if
 * nothing is attached any more do we attach afresh.
 */
static int attach_adopted(struct iface_monitor *m, bool force_clsact)
{
	bool any_link = pinned(m, PIN_LINK0) || pinned(m, PIN_LINK0 + 1);
	int err;

	if (any_link) {
		for (int dir = 0; dir < 2; dir++) {
			int prog = bpf_program__fd(prog_for(m, dir == 0));
			char path[PATH_MAX];
			int fd;

			snprintf(path, sizeof(path), "%s/%s", m->pin_dir,
				 pin_names[PIN_LINK0 + dir]);
			fd = bpf_obj_get(path);
			if (fd >= 0 && bpf_link_update(fd, prog, NULL)) {
				err = -errno;
				close(fd);
				if (err != -ENOLINK) {
					pr_err(_("%s: cannot take over the pinned link %s: %s\n"),
					       m->name, path, strerror(-err));
					return err;
				}
				/* Detached by someone (bpftool link detach). */
				unpin(m, pin_names[PIN_LINK0 + dir]);
				pr_info(_("%s: the pinned link %s was detached; attaching a new one\n"),
					m->name, path);
				fd = -1;
			}
			if (fd < 0)
				fd = bpf_link_create(prog, m->ifindex,
						     dir == 0 ? BPF_TCX_INGRESS
							      : BPF_TCX_EGRESS,
						     NULL);
			if (fd < 0) {
				err = fd;
				pr_err(_("cannot attach to %s: %s\n"), m->name,
				       strerror(-err));
				return err;
			}
			m->link_fd[dir] = fd;
		}
		m->mode = ATTACH_TCX;
		return 0;
	}
	for (int dir = 0; dir < 2; dir++) {
		LIBBPF_OPTS(bpf_tc_opts, q, .handle = ITM_TC_HANDLE,
			    .priority = ITM_TC_PRIORITY);
		struct bpf_tc_hook h;

		tc_hook(&h, m, dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS);
		if (bpf_tc_query(&h, &q) || !prog_is_ours(q.prog_id))
			continue;
		{
			LIBBPF_OPTS(bpf_tc_opts, opts,
				    .prog_fd = bpf_program__fd(
					    prog_for(m, dir == 0)),
				    .handle = ITM_TC_HANDLE,
				    .priority = ITM_TC_PRIORITY,
				    .flags = BPF_TC_F_REPLACE);

			err = bpf_tc_attach(&h, &opts);
			if (err) {
				pr_err(_("%s: cannot take over our clsact filter: %s\n"),
				       m->name, strerror(-err));
				return err;
			}
		}
		m->filter_attached[dir] = true;
		m->mode = ATTACH_CLSACT;
	}
	if (m->mode == ATTACH_CLSACT) {
		if (m->filter_attached[0] && m->filter_attached[1])
			return 0;
		/* Half attached: attach_clsact() adds the missing one. */
		return attach_clsact(m);
	}
	return attach(m, force_clsact);
}

int xdp_frags_probe(void)
{
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K,
		 .dst_reg = BPF_REG_0,
		 .imm = XDP_PASS},
		{.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .prog_flags = BPF_F_XDP_HAS_FRAGS);
	int fd;

	/* The tests have the kernel refuse it: a flag no kernel defines. */
	if (features_test_refuses("xdp_frags"))
		opts.prog_flags |= 1U << 31;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "itm_probe", "Dual BSD/GPL",
			   insns, sizeof(insns) / sizeof(insns[0]), &opts);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static struct bpf_program *xdp_prog(const struct iface_monitor *m)
{
	return m->xdp_frags ? m->skel->progs.itm_xdp_frags
			    : m->skel->progs.itm_xdp;
}

/* Native or generic: what the kernel says of the program on the hook. */
static void xdp_note_mode(struct iface_monitor *m)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (!bpf_xdp_query(m->ifindex, 0, &q))
		m->xdp_native = q.attach_mode == XDP_ATTACHED_DRV;
}

/* A new XDP link: driver mode where the driver has it, else generic. */
static int xdp_link_create(struct iface_monitor *m)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);
	int prog = bpf_program__fd(xdp_prog(m)), fd;
	__u32 id = 0;

	/*
	 * One program per hook: sharing it needs libxdp's dispatcher, which
	 * attaches ours as an freplace (BPF_PROG_TYPE_EXT) program, the
	 * kernel path of fentry/fexit that we cannot rely on (docs/xdp.md);
	 * so refuse rather than replace.
	 */
	if (!bpf_xdp_query_id(m->ifindex, 0, &id) && id) {
		pr_err(_("%s: another XDP program (id %u) is attached; --xdp does not share the hook: detach that program or run without --xdp\n"),
		       m->name, id);
		return -EBUSY;
	}
	/* The tests have the kernel refuse native mode: no device has index 0.
	 */
	fd = bpf_link_create(
		prog, features_test_refuses("xdp_native") ? 0 : m->ifindex,
		BPF_XDP, &opts);
	if (fd < 0) {
		snprintf(m->xdp_reason, sizeof(m->xdp_reason),
			 "native mode refused: %s", strerror(-fd));
		opts.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog, m->ifindex, BPF_XDP, &opts);
	}
	if (fd < 0) {
		pr_err(_("%s: cannot attach the XDP program: %s (run without --xdp to count at TC ingress)\n"),
		       m->name, strerror(-fd));
		return fd;
	}
	m->xdp_link_fd = fd;
	return 0;
}

/*
 * --xdp: count received frames at XDP.  A kept run's pinned link gets our
 * program atomically (no frame lost or counted twice); else a new link.
 * Without --xdp, a link a kept run left is removed: the TC ingress
 * program counts again.
 */
static int attach_xdp(struct iface_monitor *m)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd, err;

	if (!m->xdp) {
		if (!unpin(m, pin_names[PIN_XDP]))
			pr_info(_("%s: removed the XDP link of an earlier run started with --xdp\n"),
				m->name);
		return 0;
	}
	if (bpf_obj_get_info_by_fd(bpf_program__fd(xdp_prog(m)), &info, &len)) {
		err = -errno;
		pr_err(_("cannot read the BPF programs' ids: %s\n"),
		       strerror(-err));
		return err;
	}
	m->xdp_prog_id = info.id;
	snprintf(path, sizeof(path), "%s/%s", m->pin_dir, pin_names[PIN_XDP]);
	fd = m->adopted ? bpf_obj_get(path) : -1;
	if (fd >= 0 &&
	    bpf_link_update(fd, bpf_program__fd(xdp_prog(m)), NULL)) {
		err = -errno;
		close(fd);
		fd = -1;
		if (err != -ENOLINK) {
			pr_err(_("%s: cannot take over the pinned link %s: %s\n"),
			       m->name, path, strerror(-err));
			return err;
		}
		unpin(m, pin_names[PIN_XDP]);
	}
	if (fd >= 0) {
		m->xdp_link_fd = fd;
	} else {
		err = xdp_link_create(m);
		if (err)
			return err;
	}
	m->xdp_lost = false;
	xdp_note_mode(m);
	if (!m->xdp_frags)
		snprintf(m->xdp_reason + strlen(m->xdp_reason),
			 sizeof(m->xdp_reason) - strlen(m->xdp_reason),
			 "%sno multi-buffer programs (Linux < 5.18)",
			 m->xdp_reason[0] ? "; " : "");
	pr_info(_("%s: received traffic is counted at XDP, %s mode%s%s\n"),
		m->name, m->xdp_native ? "native" : "generic",
		m->xdp_reason[0] ? ": " : "", m->xdp_reason);
	return 0;
}

/* Close (and with unpin_too, unpin) our XDP link: detaches it. */
static void xdp_link_drop(struct iface_monitor *m, bool unpin_too)
{
	if (m->xdp_link_fd < 0)
		return;
	if (unpin_too)
		unpin(m, pin_names[PIN_XDP]);
	close(m->xdp_link_fd);
	m->xdp_link_fd = -1;
}

/*
 * Open the object and size and share its maps; errors are reported.
 * attribute: the programs read socket owners (cfg->owner_map_fd).
 */
static int open_object(struct iface_monitor *m, const struct loader_config *cfg,
		       bool attribute)
{
	struct traffic_bpf *s;
	int err;

	s = traffic_bpf__open();
	if (!s) {
		err = -errno;
		pr_err(_("cannot open the BPF object: %s\n"), strerror(errno));
		return err;
	}
	m->skel = s;
	bpf_map__set_max_entries(s->maps.itm_stats_a, cfg->map_entries);
	bpf_map__set_max_entries(s->maps.itm_stats_b, cfg->map_entries);
	/*
	 * The itm_active template keeps its declared size: the kernel does
	 * not compare max_entries of hash inner maps, and libbpf 1.1 crashes
	 * on bpf_map__set_max_entries() of an inner-map template.
	 */
	if (attribute) {
		err = bpf_map__reuse_fd(s->maps.itm_sk_owner,
					cfg->owner_map_fd);
		if (err) {
			pr_err(_("cannot share the socket-owner map: %s\n"),
			       strerror(-err));
			return err;
		}
		s->rodata->attribute_pid = true;
	}
	if (m->adopted) {
		err = reuse_pinned_maps(m);
		if (err)
			return err;
	}
	return 0;
}

/* Only the verifier's last lines matter; libbpf asks for them on failure. */
#define LOAD_LOG_SIZE (16U << 20)

/*
 * Load only the variants that match the link layer and the kernel; on
 * failure, reason holds the verifier's (or libbpf's) last word.
 */
static int load_object(struct iface_monitor *m, char *reason, size_t len)
{
	struct traffic_bpf *s = m->skel;
	bool hlp = m->owner_hlp;
	struct bpf_program *prog;
	char *log = malloc(LOAD_LOG_SIZE);
	int err;

	/*
	 * The tests have the kernel refuse a variant, as a kernel before
	 * 6.2 refuses the inline one, by loading it as the wrong type.
	 */
	if (features_test_refuses(hlp ? "helper" : "inline") &&
	    s->rodata->attribute_pid) {
		bpf_program__set_type(s->progs.itm_egress, BPF_PROG_TYPE_XDP);
		bpf_program__set_type(s->progs.itm_ingress, BPF_PROG_TYPE_XDP);
		bpf_program__set_type(s->progs.itm_egress_l3,
				      BPF_PROG_TYPE_XDP);
		bpf_program__set_type(s->progs.itm_ingress_l3,
				      BPF_PROG_TYPE_XDP);
		bpf_program__set_type(s->progs.itm_egress_hlp,
				      BPF_PROG_TYPE_XDP);
		bpf_program__set_type(s->progs.itm_ingress_hlp,
				      BPF_PROG_TYPE_XDP);
		bpf_program__set_type(s->progs.itm_egr_l3_hlp,
				      BPF_PROG_TYPE_XDP);
		bpf_program__set_type(s->progs.itm_ingr_l3_hlp,
				      BPF_PROG_TYPE_XDP);
		bpf_program__set_type(s->progs.itm_ingress_mv,
				      BPF_PROG_TYPE_XDP);
		bpf_program__set_type(s->progs.itm_ingr_mv_hlp,
				      BPF_PROG_TYPE_XDP);
	}

	bpf_program__set_autoload(s->progs.itm_egress, !m->l3 && !hlp);
	bpf_program__set_autoload(s->progs.itm_egress_hlp, !m->l3 && hlp);
	bpf_program__set_autoload(s->progs.itm_ingress,
				  !m->xdp && !m->l3 && !hlp);
	bpf_program__set_autoload(s->progs.itm_ingress_hlp,
				  !m->xdp && !m->l3 && hlp);
	bpf_program__set_autoload(s->progs.itm_egress_l3, m->l3 && !hlp);
	bpf_program__set_autoload(s->progs.itm_egr_l3_hlp, m->l3 && hlp);
	bpf_program__set_autoload(s->progs.itm_ingress_l3,
				  !m->xdp && m->l3 && !hlp);
	bpf_program__set_autoload(s->progs.itm_ingr_l3_hlp,
				  !m->xdp && m->l3 && hlp);
	bpf_program__set_autoload(s->progs.itm_ingress_off,
				  m->xdp && !s->rodata->attribute_pid);
	bpf_program__set_autoload(s->progs.itm_ingress_mv,
				  m->xdp && s->rodata->attribute_pid && !hlp);
	bpf_program__set_autoload(s->progs.itm_ingr_mv_hlp,
				  m->xdp && s->rodata->attribute_pid && hlp);
	bpf_program__set_autoload(s->progs.itm_xdp, m->xdp && !m->xdp_frags);
	bpf_program__set_autoload(s->progs.itm_xdp_frags,
				  m->xdp && m->xdp_frags);
	if (log) {
		log[0] = '\0';
		bpf_object__for_each_program(prog, s->obj)
			bpf_program__set_log_buf(prog, log, LOAD_LOG_SIZE);
	}
	err = traffic_bpf__load(s);
	if (err)
		features_log_reason(log, err, reason, len);
	free(log);
	return err;
}

/*
 * The ladder, best first: the owner read inline (kfuncs, Linux >= 6.2),
 * with the helper, and, when the kernel refuses both, no owner read at
 * all, so that a refusal of attribution never stops the counting.
 */
static const struct {
	bool attribute, hlp;
} load_rungs[] = {
	{true, false},
	{true, true},
	{false, false},
	{false, true},
};

/* The ids the hooks must show while they run our programs. */
static int record_prog_ids(struct iface_monitor *m)
{
	for (int dir = 0; dir < 2; dir++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(
			    bpf_program__fd(prog_for(m, dir == 0)), &info,
			    &len)) {
			int err = -errno;

			pr_err(_("cannot read the BPF programs' ids: %s\n"),
			       strerror(-err));
			return err;
		}
		m->prog_id[dir] = info.id;
	}
	return 0;
}

static int load(struct iface_monitor *m, const struct loader_config *cfg)
{
	char reason[ITM_FEAT_REASON_LEN] = "";
	char first[ITM_FEAT_REASON_LEN] = "";
	int err = -EINVAL;

	m->owner_reason[0] = '\0';
	for (size_t i = 0; i < sizeof(load_rungs) / sizeof(load_rungs[0]);
	     i++) {
		if (load_rungs[i].attribute && cfg->owner_map_fd < 0)
			continue;
		if (m->skel) {
			pr_debug(
				"%s: %s refused (%s), trying the next variant\n",
				m->name,
				m->owner_hlp ? "helper variant"
					     : "inline variant",
				reason);
			traffic_bpf__destroy(m->skel);
			m->skel = NULL;
		}
		m->owner_hlp = load_rungs[i].hlp;
		m->owner_read = !load_rungs[i].attribute ? OWNER_READ_NONE
				: m->owner_hlp		 ? OWNER_READ_HELPER
							 : OWNER_READ_INLINE;
		err = open_object(m, cfg, load_rungs[i].attribute);
		if (err)
			return err;
		err = load_object(m, reason, sizeof(reason));
		if (!err || err == -EPERM)
			break;
		if (!first[0])
			snprintf(first, sizeof(first), "%s", reason);
		if (!m->owner_reason[0] || load_rungs[i].attribute)
			snprintf(m->owner_reason, sizeof(m->owner_reason), "%s",
				 reason);
	}
	if (err) {
		if (err == -EPERM)
			pr_err(_("loading BPF programs was refused (%s): run as root or with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, and check kernel.unprivileged_bpf_disabled/lockdown\n"),
			       strerror(-err));
		else if (err == -EACCES)
			pr_err(_("the kernel's verifier rejected the BPF programs (%s); -v shows its log (please report it with your kernel version)\n"),
			       reason);
		else
			pr_err(_("cannot load the BPF programs: %s (kernel with BPF, BTF and TC support needed; -v shows the verifier log)\n"),
			       reason[0] ? reason : strerror(-err));
		return err;
	}
	err = record_prog_ids(m);
	if (err)
		return err;
	if (m->adopted)
		return find_active(m); /* the pinned slot points at a map */
	err = set_active(m, 0);
	if (err)
		pr_err(_("cannot activate the statistics map: %s\n"),
		       strerror(-err));
	return err;
}

int iface_monitor_prog_fd(struct iface_monitor *m)
{
	return bpf_program__fd(prog_for(m, true));
}

bool iface_monitors_read_owners(struct iface_monitor *const *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i]->owner_read != OWNER_READ_NONE)
			return true;
	return false;
}

void iface_monitors_features(struct iface_monitor *const *m, size_t n,
			     bool attribute, struct itm_features *fs)
{
	const struct iface_monitor *worst = NULL, *cls = NULL, *xdp = NULL;
	char why[ITM_FEAT_REASON_LEN + 64];

	for (size_t i = 0; i < n; i++) {
		if (!worst || m[i]->owner_read > worst->owner_read)
			worst = m[i];
		if (m[i]->mode == ATTACH_CLSACT && !cls)
			cls = m[i];
	}
	if (cls) {
		snprintf(why, sizeof(why), "%s: %s%s", cls->name,
			 cls->force_clsact ? "--clsact" : "tcx refused: ",
			 cls->force_clsact ? "" : cls->tcx_reason);
		features_set(fs, ITM_FEAT_TC_ATTACH, ITM_FEAT_ENABLED, "clsact",
			     why);
	} else if (n) {
		features_set(fs, ITM_FEAT_TC_ATTACH, ITM_FEAT_ENABLED, "tcx",
			     NULL);
	}
	for (size_t i = 0; i < n; i++) {
		/* Generic on any interface is what the feature reports. */
		if (m[i]->xdp && (!xdp || xdp->xdp_native))
			xdp = m[i];
	}
	if (xdp) {
		snprintf(why, sizeof(why), "%s: %s", xdp->name,
			 xdp->xdp_reason);
		features_set(fs, ITM_FEAT_XDP, ITM_FEAT_ENABLED,
			     xdp->xdp_native ? "native" : "generic",
			     xdp->xdp_reason[0] ? why : NULL);
	} else if (n) {
		features_set(
			fs, ITM_FEAT_XDP, ITM_FEAT_DISABLED, "none",
			"without --xdp, TC ingress counts received traffic");
	}
	if (!worst)
		return;
	if (!attribute) {
		features_set(fs, ITM_FEAT_OWNER_READ, ITM_FEAT_DISABLED, "none",
			     NULL);
		return;
	}
	switch (worst->owner_read) {
	case OWNER_READ_INLINE:
		features_set(fs, ITM_FEAT_OWNER_READ, ITM_FEAT_ENABLED,
			     "inline", NULL);
		break;
	case OWNER_READ_HELPER:
		snprintf(why, sizeof(why), "inline read refused: %s",
			 worst->owner_reason);
		features_set(fs, ITM_FEAT_OWNER_READ, ITM_FEAT_ENABLED,
			     "helper", why);
		break;
	default:
		snprintf(why, sizeof(why), "%s: %s", worst->name,
			 worst->owner_reason);
		features_set(fs, ITM_FEAT_OWNER_READ, ITM_FEAT_UNAVAILABLE,
			     "none", why);
		break;
	}
}

/* A monitor that holds nothing yet, named after its interface. */
static void monitor_reset(struct iface_monitor *m, const char *ifname)
{
	memset(m, 0, sizeof(*m));
	m->link_fd[0] = m->link_fd[1] = -1;
	m->lock_fd = -1;
	m->iface_lock_fd = -1;
	m->pin_dir_fd = -1;
	m->xdp_link_fd = -1;
	snprintf(m->name, sizeof(m->name), "%s", ifname);
	instance_name(ifname, m->instance, sizeof(m->instance));
}

static void close_keep(struct iface_monitor *m, bool keep_attached);
static void close_monitor(struct iface_monitor *m);

static int monitor_open(struct iface_monitor *m, const char *name,
			int iface_lock_fd, const struct loader_config *cfg)
{
	int err;

	monitor_reset(m, name);
	m->iface_lock_fd = iface_lock_fd;

	m->ifindex = (int)if_nametoindex(name);
	if (!m->ifindex) {
		err = errno == ENODEV || errno == ENXIO ? -ENODEV : -errno;
		pr_err(_("interface '%s' not found (see 'ip link show')\n"),
		       LOG_Q(name));
		release_iface_lock(m);
		return err;
	}
	err = link_is_l3(name, &m->l3);
	if (err) {
		pr_err(_("cannot query interface %s: %s\n"), name,
		       strerror(-err));
		release_iface_lock(m);
		return err;
	}
	if (m->iface_lock_fd < 0) {
		err = m->iface_lock_fd = iface_lock(name);
		if (err < 0)
			return err;
	}
	err = take_lock(m);
	if (err) {
		release_iface_lock(m);
		return err;
	}
	if ((size_t)snprintf(m->pin_dir, sizeof(m->pin_dir), "%s/%s",
			     cfg->pin_base,
			     m->instance) >= sizeof(m->pin_dir)) {
		pr_err(_("--pin-dir is too long\n"));
		err = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(m->pin_base, sizeof(m->pin_base), "%s", cfg->pin_base);
	err = ensure_pin_dir(cfg->pin_base, m->pin_dir);
	if (!err)
		err = lock_pin_dir(m);
	if (err)
		goto fail;
	/* We hold the lock, so anything pinned here belongs to a dead run. */
	if (cfg->adopt) {
		err = check_pinned_layout(m);
		if (err < 0)
			goto fail_keep;
		m->adopted = err == 1;
	}
	if (!m->adopted) {
		remove_pins(m);
		remove_stale_filter(m, BPF_TC_INGRESS);
		remove_stale_filter(m, BPF_TC_EGRESS);
	}

	m->xdp = cfg->xdp;
	if (m->xdp && m->l3) {
		pr_err(_("%s has no link-layer header: --xdp needs an Ethernet interface\n"),
		       name);
		err = -EPROTOTYPE;
		goto fail;
	}
	m->xdp_frags = m->xdp && !xdp_frags_probe();
	err = load(m, cfg);
	if (err)
		goto fail;
	m->force_clsact = cfg->force_clsact;
	err = m->adopted ? attach_adopted(m, cfg->force_clsact)
			 : attach(m, cfg->force_clsact);
	if (!err)
		err = attach_xdp(m);
	if (err)
		goto fail;
	err = pin_all(m);
	if (err)
		goto fail;
	pr_debug("%s: attached (%s), pinned under %s%s\n", name,
		 attach_mode_name(m->mode), m->pin_dir,
		 m->adopted ? " (adopted)" : "");
	return 0;
fail:
	if (m->adopted) {
		/* Never throw away what an earlier run left counting. */
		close_keep(m, true);
		return err;
	}
	close_monitor(m);
	return err;
fail_keep:
	traffic_bpf__destroy(m->skel);
	m->skel = NULL;
	if (m->pin_dir_fd >= 0)
		close(m->pin_dir_fd);
	m->pin_dir_fd = -1;
	release_lock(m);
	release_iface_lock(m);
	return err;
}

int iface_monitor_open(struct iface_monitor **out, const char *name,
		       int iface_lock_fd, const struct loader_config *cfg)
{
	struct iface_monitor *m = calloc(1, sizeof(*m));
	int err;

	*out = NULL;
	if (!m) {
		if (iface_lock_fd >= 0)
			close(iface_lock_fd);
		pr_err(_("out of memory\n"));
		return -ENOMEM;
	}
	err = monitor_open(m, name, iface_lock_fd, cfg);
	if (err) {
		free(m);
		return err;
	}
	*out = m;
	return 0;
}

void iface_monitor_detach(struct iface_monitor *m)
{
	xdp_link_drop(m, true);
	for (int dir = 0; dir < 2; dir++) {
		if (m->link_fd[dir] >= 0) {
			/* The pin holds a reference too: drop both. */
			unpin(m, pin_names[PIN_LINK0 + dir]);
			close(m->link_fd[dir]);
			m->link_fd[dir] = -1;
		}
	}
	if (m->mode == ATTACH_CLSACT || m->filter_attached[0] ||
	    m->filter_attached[1] || m->hook_created)
		detach_clsact(m);
	m->mode = ATTACH_NONE;
}

static void close_keep(struct iface_monitor *m, bool keep_attached)
{
	if (keep_attached) {
		/* The pins keep links and maps alive; just let go. */
		xdp_link_drop(m, false);
		for (int dir = 0; dir < 2; dir++) {
			if (m->link_fd[dir] >= 0)
				close(m->link_fd[dir]);
			m->link_fd[dir] = -1;
			m->filter_attached[dir] = false;
		}
		m->hook_created = false;
		m->mode = ATTACH_NONE;
	} else {
		iface_monitor_detach(m);
	}
	traffic_bpf__destroy(m->skel);
	m->skel = NULL;
	if (m->pin_dir_fd >= 0)
		close(m->pin_dir_fd);
	m->pin_dir_fd = -1;
	release_lock(m);
	release_iface_lock(m);
}

int iface_leftovers_remove(const char *ifname, const char *pin_base)
{
	struct iface_monitor mon, *m = &mon;
	bool found = false;
	int err;

	monitor_reset(m, ifname);
	m->ifindex = (int)if_nametoindex(ifname);
	if ((size_t)snprintf(m->pin_dir, sizeof(m->pin_dir), "%s/%s", pin_base,
			     m->instance) >= sizeof(m->pin_dir)) {
		pr_err(_("--pin-dir is too long\n"));
		return -ENAMETOOLONG;
	}
	/* Whatever its lock file or pin directory, a running one holds this. */
	err = m->iface_lock_fd = iface_lock(ifname);
	if (err < 0)
		return err;
	err = take_lock(m);
	if (err) {
		release_iface_lock(m);
		return err;
	}
	if (!access(m->pin_dir, F_OK)) {
		err = lock_pin_dir(m);
		if (err) {
			release_lock(m);
			release_iface_lock(m);
			return err;
		}
	}
	for (size_t i = 0; i < sizeof(pin_names) / sizeof(pin_names[0]); i++)
		found |= pinned(m, (int)i);
	if (m->ifindex) {
		for (int dir = 0; dir < 2; dir++) {
			LIBBPF_OPTS(bpf_tc_opts, q, .handle = ITM_TC_HANDLE,
				    .priority = ITM_TC_PRIORITY);
			struct bpf_tc_hook h;

			tc_hook(&h, m,
				dir == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS);
			if (!bpf_tc_query(&h, &q) && prog_is_ours(q.prog_id))
				found = true;
		}
		remove_stale_filter(m, BPF_TC_INGRESS);
		remove_stale_filter(m, BPF_TC_EGRESS);
	}
	/* Unpinning the links detaches them; then the maps go. */
	remove_pins(m);
	rmdir(m->pin_dir);
	rmdir(pin_base);
	if (m->pin_dir_fd >= 0)
		close(m->pin_dir_fd);
	release_lock(m);
	release_iface_lock(m);
	if (!found) {
		pr_err(_("nothing of ours is attached to %s or pinned under %s\n"),
		       ifname, m->pin_dir);
		return -ENOENT;
	}
	pr_info(_("%s: detached; removed %s\n"), ifname, m->pin_dir);
	return 0;
}

/* The device went away and took our tcx links (defunct) or filters. */
static void forget_attachment(struct iface_monitor *m)
{
	xdp_link_drop(m, true);
	for (int dir = 0; dir < 2; dir++) {
		if (m->link_fd[dir] >= 0) {
			unpin(m, pin_names[PIN_LINK0 + dir]);
			close(m->link_fd[dir]);
			m->link_fd[dir] = -1;
		}
		m->filter_attached[dir] = false;
	}
	m->hook_created = false;
	m->mode = ATTACH_NONE;
	m->gone = true;
}

static int reattach(struct iface_monitor *m, int ifindex)
{
	bool l3;
	int err;

	err = link_is_l3(m->name, &l3);
	if (err)
		return err;
	if (l3 != m->l3) {
		pr_err(_("%s is back as a different kind of link (%s); not attached again (restart to monitor it)\n"),
		       m->name, l3 ? "no link-layer header" : "Ethernet");
		return -EPROTOTYPE;
	}
	m->ifindex = ifindex;
	err = attach(m, m->force_clsact);
	if (err)
		return err;
	for (int dir = 0; dir < 2 && m->mode == ATTACH_TCX; dir++) {
		char path[PATH_MAX];

		/*
		 * Through the directory's descriptor, as unpin() does: after
		 * --user the path itself may cross a bpffs mounted 0700
		 * (EACCES), and an unpinned link would go with our exit,
		 * --keep-attached or not.
		 */
		if (m->pin_dir_fd >= 0)
			snprintf(path, sizeof(path), "/proc/self/fd/%d/%s",
				 m->pin_dir_fd, pin_names[PIN_LINK0 + dir]);
		else
			snprintf(path, sizeof(path), "%s/%s", m->pin_dir,
				 pin_names[PIN_LINK0 + dir]);
		if (bpf_obj_pin(m->link_fd[dir], path)) {
			pr_warn(_("cannot pin %s/%s: %s\n"), m->pin_dir,
				pin_names[PIN_LINK0 + dir], strerror(errno));
			m->unpinned = true;
		}
	}
	if (m->xdp) {
		char path[PATH_MAX];
		bool adopted = m->adopted;

		/* A new device: nothing pinned to take over. */
		m->adopted = false;
		m->xdp_reason[0] = '\0';
		err = attach_xdp(m);
		m->adopted = adopted;
		/* TC ingress counts nothing under --xdp: rx is lost. */
		m->xdp_lost = err != 0;
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s",
			 m->pin_dir_fd, pin_names[PIN_XDP]);
		if (!err &&
		    (m->pin_dir_fd < 0 || bpf_obj_pin(m->xdp_link_fd, path))) {
			pr_warn(_("cannot pin %s/%s: %s\n"), m->pin_dir,
				pin_names[PIN_XDP], strerror(errno));
			m->unpinned = true;
		}
	}
	m->gone = false;
	m->reattached++;
	return 0;
}

/*
 * --reattach with clsact filters: the kept capabilities are effective in
 * this thread only while it attaches, never while it parses or serves
 * anything.
 * -ECANCELED when they cannot be raised (logged once per appearance).
 */
static int reattach_raised(struct iface_monitor *m, int ifindex)
{
	int err, lowered;

	if (!m->raise_caps)
		return reattach(m, ifindex);
	err = privdrop_raise();
	if (err) {
		if (m->back_ifindex != ifindex)
			pr_err(_("%s is back but not attached again: cannot raise %s: %s\n"),
			       m->name, PRIVDROP_CLSACT_CAP_NAMES,
			       strerror(-err));
		m->back_ifindex = ifindex;
		privdrop_lower();
		return -ECANCELED;
	}
	err = reattach(m, ifindex);
	lowered = privdrop_lower();
	if (lowered) {
		/* Fail closed rather than run on with a privilege raised. */
		pr_err("cannot drop %s again: %s; aborting\n",
		       PRIVDROP_CLSACT_CAP_NAMES, strerror(-lowered));
		abort();
	}
	return err;
}

int iface_monitor_follow(struct iface_monitor *m)
{
	char name[IF_NAMESIZE];
	bool changed = false;
	int ifindex, err;

	if (!m->skel)
		return 0;
	if (!m->gone && !if_indextoname((unsigned int)m->ifindex, name)) {
		forget_attachment(m);
		pr_warn(_("%s disappeared: not counting until an interface of that name appears\n"),
			m->name);
		changed = true;
	} else if (!m->gone && strcmp(name, m->name)) {
		/* Renamed: it is not the interface we were asked for. */
		iface_monitor_detach(m);
		m->gone = true;
		pr_warn(_("%s was renamed to %s: detached; not counting until an interface named %s appears\n"),
			m->name, LOG_Q(name), m->name);
		changed = true;
	}
	if (!m->gone)
		return changed;
	ifindex = (int)if_nametoindex(m->name);
	if (!ifindex) {
		m->back_ifindex = 0;
		return changed;
	}
	if (m->unprivileged) {
		/* Once per appearance, not once per link event. */
		if (m->back_ifindex != ifindex)
			pr_warn(_("%s is back but not attached again: --user without --reattach; restart the monitor to count it\n"),
				m->name);
		m->back_ifindex = ifindex;
		return changed;
	}
	err = reattach_raised(m, ifindex);
	if (err == -ECANCELED)
		return changed ? 1 : err; /* logged once per appearance */
	if (err) {
		pr_err(_("%s is back but attaching to it failed: %s\n"),
		       m->name, strerror(-err));
		return changed ? 1 : err;
	}
	pr_info(_("%s is back: attached again (%s)\n"), m->name,
		attach_mode_name(m->mode));
	return 1;
}

static const char *const dir_names[] = {"ingress", "egress"};

/*
 * 1: the tcx link still runs our program on our interface; 0: not, and
 * found says what is there instead; -errno: cannot tell.  Our own link's
 * info needs no privilege (--user), unlike BPF_PROG_QUERY.
 */
static int tcx_owned(const struct iface_monitor *m, int dir, char *found,
		     size_t len)
{
	struct bpf_link_info info = {};
	__u32 ilen = sizeof(info), ifindex;

	if (bpf_obj_get_info_by_fd(m->link_fd[dir], &info, &ilen))
		return -errno;
	/*
	 * info.tcx (Linux 6.6) is newer than Debian 12's UAPI headers; like
	 * info.xdp it starts with the ifindex, 0 once the link is detached.
	 */
	ifindex = info.xdp.ifindex;
	if (ifindex == (__u32)m->ifindex && info.prog_id == m->prog_id[dir])
		return 1;
	if (!ifindex)
		snprintf(found, len, _("its tcx link %u was detached"),
			 info.id);
	else
		snprintf(found, len, _("its tcx link %u runs program %u"),
			 info.id, info.prog_id);
	return 0;
}

/* The same for our clsact filter (a netlink query: no privilege either). */
static int clsact_owned(const struct iface_monitor *m, int dir, char *found,
			size_t len)
{
	bool ingress = dir == 0;
	int all, others;
	__u32 id = 0;

	if (!clsact_query(m, dir, &id)) {
		if (id == m->prog_id[dir])
			return 1;
		snprintf(found, len,
			 _("program %u is at handle 0x%x priority 0x%x"), id,
			 ITM_TC_HANDLE, ITM_TC_PRIORITY);
		return 0;
	}
	/*
	 * No BPF program there: a foreign filter (classic BPF, another
	 * kind), or none (also when the clsact qdisc went).
	 */
	all = tc_count_other_filters(m->ifindex, ingress, 0, 0);
	others = tc_count_other_filters(m->ifindex, ingress, ITM_TC_HANDLE,
					ITM_TC_PRIORITY);
	if (all >= 0 && others >= 0 && all > others)
		snprintf(found, len,
			 _("a foreign filter is at handle 0x%x priority 0x%x"),
			 ITM_TC_HANDLE, ITM_TC_PRIORITY);
	else
		snprintf(found, len,
			 _("no filter at handle 0x%x priority 0x%x"),
			 ITM_TC_HANDLE, ITM_TC_PRIORITY);
	return 0;
}

bool iface_monitor_counting(const struct iface_monitor *m)
{
	return !m->gone && !m->lost[0] && !m->lost[1] && !m->xdp_lost;
}

/* 1: the XDP link still runs our program on our interface; 0: not. */
static int xdp_owned(const struct iface_monitor *m, char *found, size_t len)
{
	struct bpf_link_info info = {};
	__u32 ilen = sizeof(info);

	if (bpf_obj_get_info_by_fd(m->xdp_link_fd, &info, &ilen))
		return -errno;
	if (info.xdp.ifindex == (__u32)m->ifindex &&
	    info.prog_id == m->xdp_prog_id)
		return 1;
	snprintf(found, len, _("its XDP link %u was detached"), info.id);
	return 0;
}

/*
 * The interface stays but the hook is taken away: tc filter del, tc
 * filter replace, bpftool link detach, or another tool destroying the
 * clsact qdisc.  Only a privileged hand does that, so it is not undone:
 * attaching again would fight it, and what passed meanwhile is lost
 * anyway.  Reported once; ip_traffic_interface_attached shows 0 until a
 * restart, or until the interface is created again (then attached anew).
 */
int iface_monitor_check(struct iface_monitor *m)
{
	char found[128], name[IF_NAMESIZE];
	bool changed = false;

	iface_lock_answer(m);
	if (!m->skel || m->gone || m->mode == ATTACH_NONE)
		return 0;
	/* Deleted or renamed: for iface_monitor_follow() to report. */
	if (!if_indextoname((unsigned int)m->ifindex, name) ||
	    strcmp(name, m->name))
		return 0;
	for (int dir = 0; dir < 2; dir++) {
		int owned;

		found[0] = '\0';
		owned = m->mode == ATTACH_TCX
				? tcx_owned(m, dir, found, sizeof(found))
				: clsact_owned(m, dir, found, sizeof(found));
		if (owned < 0 || !owned == m->lost[dir])
			continue; /* cannot tell, or no change */
		m->lost[dir] = !owned;
		changed = true;
		if (owned)
			pr_info(_("%s: our %s program is attached again\n"),
				m->name, dir_names[dir]);
		else
			pr_warn(_("%s: our %s program is no longer attached (%s); that direction is not counted until the monitor is restarted\n"),
				m->name, dir_names[dir], found);
	}
	if (m->xdp_link_fd >= 0) {
		int owned;

		found[0] = '\0';
		owned = xdp_owned(m, found, sizeof(found));
		if (owned >= 0 && !owned != m->xdp_lost) {
			m->xdp_lost = !owned;
			changed = true;
			if (!owned)
				pr_warn(_("%s: our XDP program is no longer attached (%s); received traffic is not counted until the monitor is restarted\n"),
					m->name, found);
		}
	}
	return changed;
}

static void close_monitor(struct iface_monitor *m)
{
	iface_monitor_detach(m);
	/* Only our own pins: never those of the instance that holds it. */
	if (m->pin_dir[0] && m->pin_dir_fd >= 0) {
		remove_pins(m);
		if (rmdir(m->pin_dir) && errno != ENOENT && errno != ENOTEMPTY)
			pr_debug("rmdir %s: %s\n", m->pin_dir, strerror(errno));
		/* The base too, when no other instance still uses it. */
		if (m->pin_base[0])
			rmdir(m->pin_base);
	}
	traffic_bpf__destroy(m->skel);
	m->skel = NULL;
	if (m->pin_dir_fd >= 0)
		close(m->pin_dir_fd);
	m->pin_dir_fd = -1;
	release_lock(m);
	/* Last: no other instance starts before everything here is undone. */
	release_iface_lock(m);
}

void iface_monitor_set_privileges(struct iface_monitor *m, bool reattach)
{
	m->unprivileged = !reattach;
	m->raise_caps = reattach && m->mode == ATTACH_CLSACT;
}

void iface_monitor_close(struct iface_monitor *m)
{
	if (!m)
		return;
	close_monitor(m);
	free(m);
}

void iface_monitor_close_keep(struct iface_monitor *m, bool keep_attached)
{
	if (!m)
		return;
	close_keep(m, keep_attached);
	free(m);
}

const char *iface_monitor_name(const struct iface_monitor *m)
{
	return m->name;
}

int iface_monitor_ifindex(const struct iface_monitor *m)
{
	return m->ifindex;
}

enum attach_mode iface_monitor_mode(const struct iface_monitor *m)
{
	return m->mode;
}

const char *iface_monitor_pin_dir(const struct iface_monitor *m)
{
	return m->pin_dir;
}

bool iface_monitor_loaded(const struct iface_monitor *m)
{
	return m->skel != NULL;
}

int iface_monitor_active(const struct iface_monitor *m)
{
	return m->active;
}

bool iface_monitor_adopted(const struct iface_monitor *m)
{
	return m->adopted;
}

bool iface_monitor_gone(const struct iface_monitor *m)
{
	return m->gone;
}

uint64_t iface_monitor_reattached(const struct iface_monitor *m)
{
	return m->reattached;
}

bool iface_monitor_unpinned(const struct iface_monitor *m)
{
	return m->unpinned;
}

bool iface_monitor_raise_caps(const struct iface_monitor *m)
{
	return m->raise_caps;
}

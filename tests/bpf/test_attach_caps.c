// SPDX-License-Identifier: MIT
/*
 * Which capabilities attaching the already loaded tc programs needs once
 * the daemon is an ordinary user: what --reattach keeps.  The programs are
 * loaded as root; then, in a child per case that switches to the user
 * nobody with exactly the listed capabilities (effective, permitted and
 * bounding), a tcx link (BPF_LINK_CREATE) and a clsact qdisc with a filter
 * (rtnetlink) are attached to "lo" of a private network namespace.
 *
 * Measured on Linux 6.18 and asserted here: a tcx link needs no
 * capability at all (the program's fd is enough); clsact needs
 * CAP_NET_ADMIN: it fails with every capability but that one and works
 * with that one alone (PRIVDROP_CLSACT_CAPS).  Then the daemon's own path:
 * after privdrop_apply(PRIVDROP_CLSACT_CAPS) nothing is effective (clsact
 * fails) until privdrop_raise(), and privdrop_lower() leaves exactly the
 * kept set permitted and nothing effective.
 *
 * Exit status: 0 all passed, 1 a case failed, 77 no BPF or no user nobody.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <grp.h>
#include <errno.h>
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lo_up.h"
#include "privdrop.h"
#include "traffic.skel.h"

/* Debian 12's UAPI headers predate tcx (Linux 6.6), as in user/loader.c. */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#define BPF_TCX_EGRESS	47
#endif

static struct traffic_bpf *skel;
static int lo_ifindex;

/* 0, or the -errno of the first step that failed. */
static int try_tcx(void)
{
	int fd[2] = {-1, -1}, err = 0;

	for (int dir = 0; dir < 2 && !err; dir++) {
		fd[dir] = bpf_link_create(
			bpf_program__fd(dir ? skel->progs.itm_egress
					    : skel->progs.itm_ingress),
			lo_ifindex, dir ? BPF_TCX_EGRESS : BPF_TCX_INGRESS,
			NULL);
		if (fd[dir] < 0)
			err = fd[dir];
	}
	for (int dir = 0; dir < 2; dir++)
		if (fd[dir] >= 0)
			close(fd[dir]);
	return err;
}

static int try_clsact(void)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = lo_ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_hook, in, .ifindex = lo_ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts,
		    .prog_fd = bpf_program__fd(skel->progs.itm_ingress),
		    .handle = 1, .priority = 1);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	err = bpf_tc_attach(&in, &opts);
	/* Gone again for the next case (needs the same capability). */
	bpf_tc_hook_destroy(&hook);
	return err;
}

/* CapEff of the calling thread, as /proc shows it. */
static unsigned long long effective_caps(void)
{
	unsigned long long v = ~0ULL;
	char line[256];
	FILE *f = fopen("/proc/thread-self/status", "r");

	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			break;
	fclose(f);
	return v;
}

static const char *result(int err)
{
	return err ? strerror(-err) : "attached";
}

/*
 * In a child: become nobody with exactly caps (a mask) effective,
 * permitted and bounding, then try both.  Exit status: bit 0 tcx
 * attached, bit 1 clsact attached, 4 the switch failed.
 */
static int as_nobody(unsigned long long caps, uid_t uid, gid_t gid)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};
	int tcx, cls;

	/* Bounding set first (needs CAP_SETPCAP), then the ids. */
	for (int cap = 0; cap < 64; cap++)
		if (!(caps & (1ULL << cap)) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
			return 4;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) ||
	    setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		return 4;
	/* setresuid() kept the permitted set and emptied the effective one. */
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		d[i].permitted = d[i].effective = (__u32)(caps >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, d) || getuid() != uid ||
	    effective_caps() != caps)
		return 4;
	tcx = try_tcx();
	cls = try_clsact();
	printf("  tcx: %s; clsact: %s\n", result(tcx), result(cls));
	return (tcx ? 0 : 1) | (cls ? 0 : 2);
}

/* The daemon's path: privdrop_apply(keep), then without and with raise. */
static int as_daemon(const struct privdrop_user *u)
{
	int tcx, cls, ok = 0;

	if (privdrop_apply(u, PRIVDROP_CLSACT_CAPS) || effective_caps())
		return 4;
	cls = try_clsact();
	printf("  kept, not raised: clsact: %s\n", result(cls));
	if (cls != -EPERM)
		return 4;
	if (privdrop_raise() || effective_caps() != PRIVDROP_CLSACT_CAPS)
		return 4;
	tcx = try_tcx();
	cls = try_clsact();
	printf("  raised: tcx: %s; clsact: %s\n", result(tcx), result(cls));
	ok = (tcx ? 0 : 1) | (cls ? 0 : 2);
	if (privdrop_lower() || !privdrop_caps_are(PRIVDROP_CLSACT_CAPS))
		return 4;
	cls = try_clsact();
	printf("  lowered: clsact: %s\n", result(cls));
	return cls == -EPERM ? ok : 4;
}

static int run_child(const char *what, unsigned long long caps,
		     const struct privdrop_user *u, bool daemon)
{
	int status;
	pid_t pid;

	printf("%s (0x%llx):\n", what, caps);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int rc =
			daemon ? as_daemon(u) : as_nobody(caps, u->uid, u->gid);

		fflush(stdout);
		_exit(rc);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int main(void)
{
	unsigned long long all = 0, net_admin = 1ULL << CAP_NET_ADMIN;
	struct privdrop_user u;
	struct passwd *pw;
	int failed = 0, rc;

	if (geteuid() != 0 || !(pw = getpwnam("nobody"))) {
		fprintf(stderr, "SKIP: needs root and the user nobody\n");
		return 77;
	}
	u = (struct privdrop_user){
		.name = "nobody", .uid = pw->pw_uid, .gid = pw->pw_gid};
	/* Nothing of this reaches the host's interfaces. */
	if (unshare(CLONE_NEWNET) || lo_up()) {
		perror("private network namespace");
		return 1;
	}
	lo_ifindex = (int)if_nametoindex("lo");
	skel = traffic_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "SKIP: cannot load the programs: %s\n",
			strerror(errno));
		return 77;
	}
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0)
			all |= 1ULL << cap;

	struct {
		const char *what;
		unsigned long long caps;
		int want; /* bit 0: tcx attaches, bit 1: clsact attaches */
	} cases[] = {
		{"no capability", 0, 1},
		{"CAP_BPF", 1ULL << CAP_BPF, 1},
		{"CAP_SYS_ADMIN", 1ULL << CAP_SYS_ADMIN, 1},
		{"CAP_BPF CAP_PERFMON CAP_SYS_ADMIN",
		 1ULL << CAP_BPF | 1ULL << CAP_PERFMON | 1ULL << CAP_SYS_ADMIN,
		 1},
		{"every capability but CAP_NET_ADMIN", all & ~net_admin, 1},
		{"CAP_NET_ADMIN alone", net_admin, 3},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = run_child(cases[i].what, cases[i].caps, &u, false);
		if (rc != cases[i].want) {
			printf("FAIL: %s: got %d, want %d\n", cases[i].what, rc,
			       cases[i].want);
			failed++;
		}
	}
	if (PRIVDROP_CLSACT_CAPS != net_admin) {
		printf("FAIL: PRIVDROP_CLSACT_CAPS is 0x%llx, measured 0x%llx\n",
		       (unsigned long long)PRIVDROP_CLSACT_CAPS, net_admin);
		failed++;
	}
	rc = run_child("privdrop_apply(kept) then privdrop_raise()",
		       PRIVDROP_CLSACT_CAPS, &u, true);
	if (rc != 3) {
		printf("FAIL: the daemon's path: got %d, want 3\n", rc);
		failed++;
	}
	traffic_bpf__destroy(skel);
	printf("%s\n", failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}

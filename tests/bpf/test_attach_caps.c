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
 * Other kernels: the programs are the *_hlp twins where the kernel refuses
 * the inline ones (before 6.2), as user/kernel/loader.c loads them.  Where root
 * cannot attach a tcx link because the kernel has none (before 6.6: its
 * BTF lacks BPF_TCX_INGRESS), or a clsact filter because the kernel lacks
 * sch_ingress or cls_bpf, that half of every case is skipped, with the
 * reason, and the other half checked.  Not skipped: on Debian 11's 5.10
 * CAP_NET_ADMIN alone does not attach clsact (see clsact_hint()), which is
 * what the daemon keeps, so the case fails there.
 *
 * Exit status: 0 all passed, 1 a case failed, 77 no BPF, no user nobody,
 * or neither tcx nor clsact on this kernel.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
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

/* Debian 12's UAPI headers predate tcx (Linux 6.6), as in user/kernel/loader.c. */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#define BPF_TCX_EGRESS	47
#endif

/* The kernel's "not supported" (include/linux/errno.h), not in UAPI. */
#define ENOTSUPP 524

/* What try_*() report for a kind of attachment this kernel lacks. */
#define NOT_RUN 1

static struct traffic_bpf *skel;
static struct bpf_program *prog_in, *prog_out;
/* privdrop_clsact_caps(): what the daemon keeps for clsact here. */
static unsigned long long clsact_caps;
static int lo_ifindex;
/* Which kinds this kernel has (probed as root in main()). */
static bool have_tcx = true, have_clsact = true;

/*
 * The programs user/kernel/loader.c would attach: the inline ones, or their
 * *_hlp twins where the kernel refuses those (before Linux 6.2, or with
 * ITM_TEST_REFUSE_INLINE set: loaded as XDP programs, as the loader does).
 */
static int load_programs(void)
{
	libbpf_print_fn_t print;
	int err = 0, inline_err = 0;

	for (int pass = 0; pass < 2; pass++) {
		skel = traffic_bpf__open();
		if (!skel)
			return -errno;
		if (pass == 0 && getenv("ITM_TEST_REFUSE_INLINE")) {
			bpf_program__set_type(skel->progs.itm_egress,
					      BPF_PROG_TYPE_XDP);
			bpf_program__set_type(skel->progs.itm_ingress,
					      BPF_PROG_TYPE_XDP);
			bpf_program__set_type(skel->progs.itm_egress_l3,
					      BPF_PROG_TYPE_XDP);
			bpf_program__set_type(skel->progs.itm_ingress_l3,
					      BPF_PROG_TYPE_XDP);
		}
		bpf_program__set_autoload(skel->progs.itm_egress, pass == 0);
		bpf_program__set_autoload(skel->progs.itm_ingress, pass == 0);
		bpf_program__set_autoload(skel->progs.itm_egress_l3, pass == 0);
		bpf_program__set_autoload(skel->progs.itm_ingress_l3,
					  pass == 0);
		/* libbpf's log of the inline programs' refusal: not shown. */
		print = libbpf_set_print(NULL);
		if (pass == 1)
			libbpf_set_print(print);
		err = traffic_bpf__load(skel);
		libbpf_set_print(print);
		if (!err) {
			prog_in = pass ? skel->progs.itm_ingress_hlp
				       : skel->progs.itm_ingress;
			prog_out = pass ? skel->progs.itm_egress_hlp
					: skel->progs.itm_egress;
			if (pass)
				printf("the kernel refuses the inline programs "
				       "(%s): attaching the *_hlp twins\n",
				       strerror(-inline_err));
			return 0;
		}
		traffic_bpf__destroy(skel);
		skel = NULL;
		if (pass == 0)
			inline_err = err;
		if (err == -EPERM)
			break;
	}
	return err;
}

/* 1: the kernel's BTF names BPF_TCX_INGRESS (Linux >= 6.6), 0: it does
 * not, -errno: no BTF to tell. */
static int kernel_knows_tcx(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	const struct btf_enum *e;
	int id, ret = 0;

	if (!btf)
		return -errno;
	id = btf__find_by_name_kind(btf, "bpf_attach_type", BTF_KIND_ENUM);
	if (id < 0) {
		ret = id;
		goto out;
	}
	t = btf__type_by_id(btf, id);
	e = btf_enum(t);
	for (int i = 0; i < btf_vlen(t) && !ret; i++)
		ret = !strcmp(btf__name_by_offset(btf, e[i].name_off),
			      "BPF_TCX_INGRESS");
out:
	btf__free(btf);
	return ret;
}

/* The errors of a kernel without the attachment kind, not of a defect. */
static bool unsupported(int err)
{
	return err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP ||
	       err == -ENOENT;
}

/*
 * Why clsact with CAP_NET_ADMIN can fail where root's works: libbpf's
 * bpf_tc_attach() reads the program's info (BPF_OBJ_GET_INFO_BY_FD), and
 * while kernel.unprivileged_bpf_disabled is set, kernels before 5.19
 * refuse every bpf() command without CAP_BPF or CAP_SYS_ADMIN (seen on
 * Debian 11's 5.10, where it is 2).  Printed once, beside the failure.
 */
static void clsact_hint(unsigned want, int got)
{
	static bool shown;
	FILE *f;
	int v = 0;

	if (shown || !have_clsact || !(want & 2) || (got >= 0 && got & 2))
		return;
	f = fopen("/proc/sys/kernel/unprivileged_bpf_disabled", "r");
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	if (v <= 0)
		return;
	printf("  note: kernel.unprivileged_bpf_disabled is %d: before Linux "
	       "5.19 that refuses bpf() without CAP_BPF or CAP_SYS_ADMIN, "
	       "and bpf_tc_attach() calls BPF_OBJ_GET_INFO_BY_FD\n",
	       v);
	shown = true;
}

/* 0, or the -errno of the first step that failed. */
static int try_tcx(void)
{
	int fd[2] = {-1, -1}, err = 0;

	if (!have_tcx)
		return NOT_RUN;
	for (int dir = 0; dir < 2 && !err; dir++) {
		fd[dir] = bpf_link_create(
			bpf_program__fd(dir ? prog_out : prog_in), lo_ifindex,
			dir ? BPF_TCX_EGRESS : BPF_TCX_INGRESS, NULL);
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
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(prog_in),
		    .handle = 1, .priority = 1);
	int err;

	if (!have_clsact)
		return NOT_RUN;
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
	if (err == NOT_RUN)
		return "skipped (see above)";
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

	if (privdrop_apply(u, clsact_caps) || effective_caps())
		return 4;
	cls = try_clsact();
	printf("  kept, not raised: clsact: %s\n", result(cls));
	if (cls != -EPERM && cls != NOT_RUN)
		return 4;
	if (privdrop_raise() || effective_caps() != clsact_caps)
		return 4;
	tcx = try_tcx();
	cls = try_clsact();
	printf("  raised: tcx: %s; clsact: %s\n", result(tcx), result(cls));
	ok = (tcx ? 0 : 1) | (cls ? 0 : 2);
	if (privdrop_lower() || !privdrop_caps_are(clsact_caps))
		return 4;
	cls = try_clsact();
	printf("  lowered: clsact: %s\n", result(cls));
	return cls == -EPERM || cls == NOT_RUN ? ok : 4;
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
	int failed = 0, rc, err, mask;

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
	err = load_programs();
	if (err) {
		fprintf(stderr, "SKIP: cannot load the programs: %s\n",
			strerror(-err));
		return 77;
	}
	/* As root, each kind attaches unless the kernel lacks it. */
	err = try_tcx();
	if (err) {
		int known = kernel_knows_tcx();

		if (known > 0 || (known < 0 && !unsupported(err))) {
			printf("FAIL: tcx as root: %s\n", strerror(-err));
			failed++;
		} else {
			printf("SKIP tcx in every case: this kernel has no tcx "
			       "links (Linux < 6.6: %s)\n",
			       strerror(-err));
		}
		have_tcx = false;
	}
	err = try_clsact();
	if (err) {
		if (unsupported(err)) {
			printf("SKIP clsact in every case: this kernel has no "
			       "clsact qdisc or cls_bpf filter (%s)\n",
			       strerror(-err));
		} else {
			printf("FAIL: clsact as root: %s\n", strerror(-err));
			failed++;
		}
		have_clsact = false;
	}
	if (!have_tcx && !have_clsact) {
		traffic_bpf__destroy(skel);
		if (failed)
			return 1;
		fprintf(stderr, "SKIP: neither tcx nor clsact to attach to\n");
		return 77;
	}
	/* Only what this kernel has is compared. */
	mask = (have_tcx ? 1 : 0) | (have_clsact ? 2 : 0);
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0)
			all |= 1ULL << cap;
	clsact_caps = privdrop_clsact_caps(bpf_program__fd(prog_in));
	printf("the daemon keeps 0x%llx for clsact on this kernel\n",
	       clsact_caps);

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
		/* 5.10 with unprivileged_bpf_disabled also wants CAP_BPF. */
		{"CAP_NET_ADMIN alone", net_admin,
		 clsact_caps == net_admin ? 3 : 1},
		{"what privdrop_clsact_caps() keeps", clsact_caps, 3},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = run_child(cases[i].what, cases[i].caps, &u, false);
		if (rc < 0 || rc == 4 ||
		    (rc & mask) != (cases[i].want & mask)) {
			printf("FAIL: %s: got %d, want %d\n", cases[i].what, rc,
			       cases[i].want);
			clsact_hint((unsigned)cases[i].want, rc);
			failed++;
		}
	}
	if (PRIVDROP_CLSACT_CAPS != net_admin) {
		printf("FAIL: PRIVDROP_CLSACT_CAPS is 0x%llx, measured 0x%llx\n",
		       (unsigned long long)PRIVDROP_CLSACT_CAPS, net_admin);
		failed++;
	}
	rc = run_child("privdrop_apply(kept) then privdrop_raise()",
		       clsact_caps, &u, true);
	if (rc < 0 || rc == 4 || (rc & mask) != (3 & mask)) {
		printf("FAIL: the daemon's path: got %d, want 3\n", rc);
		clsact_hint(3, rc);
		failed++;
	}
	traffic_bpf__destroy(skel);
	printf("%s\n", failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}

// SPDX-License-Identifier: MIT
/*
 * Attach TC programs of a BPF object for the in-situ benchmark, print
 * their program ids, and keep them attached until stdin closes (or a
 * SIGTERM/SIGINT arrives); then detach them.
 *
 *   insitu_attach IFACE egress|ingress OBJECT PROG...
 *   insitu_attach CGROUP_DIR cgroup OBJECT PROG...
 *   insitu_attach IFACE xdp OBJECT PROG
 *
 * The programs are attached as clsact filters in the order given
 * (priorities 1, 2, ...), all returning TC_ACT_UNSPEC, so every one of
 * them sees every packet.  With "cgroup", the programs (cgroup_skb) are
 * attached by BPF links to the cgroup v2 directory given, in the same
 * order, and must allow every packet.  With "xdp", the one program is
 * attached by a BPF link (the driver's native mode where it has one, as
 * veth does).  Output: one "PROG ID" line each, then "ready".
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MAX_PROGS 16

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

int main(int argc, char **argv)
{
	struct bpf_link *links[MAX_PROGS] = {};
	struct bpf_tc_opts opts[MAX_PROGS];
	LIBBPF_OPTS(bpf_tc_hook, hook);
	struct bpf_object *obj = NULL;
	bool hook_created = false, cgroup = false, xdp = false;
	int cgfd = -1;
	int nattached = 0, err = 1, n;
	char line[64];

	if (argc < 5 || argc - 4 > MAX_PROGS) {
		fprintf(stderr, "usage: insitu_attach IFACE egress|ingress "
				"OBJECT PROG...\n"
				"       insitu_attach CGROUP_DIR cgroup OBJECT "
				"PROG...\n"
				"       insitu_attach IFACE xdp OBJECT PROG\n");
		return 2;
	}
	libbpf_set_print(libbpf_print);
	if (!strcmp(argv[2], "cgroup")) {
		cgroup = true;
		cgfd = open(argv[1], O_RDONLY | O_DIRECTORY);
		if (cgfd < 0) {
			fprintf(stderr, "insitu_attach: %s: %s\n", argv[1],
				strerror(errno));
			return 2;
		}
		goto open_obj;
	}
	hook.ifindex = (int)if_nametoindex(argv[1]);
	if (!hook.ifindex) {
		fprintf(stderr, "insitu_attach: no interface %s\n", argv[1]);
		return 2;
	}
	if (!strcmp(argv[2], "xdp")) {
		/* One XDP program per interface without a dispatcher. */
		if (argc != 5)
			return 2;
		xdp = true;
		goto open_obj;
	}
	if (!strcmp(argv[2], "egress"))
		hook.attach_point = BPF_TC_EGRESS;
	else if (!strcmp(argv[2], "ingress"))
		hook.attach_point = BPF_TC_INGRESS;
	else
		return 2;

open_obj:
	obj = bpf_object__open_file(argv[3], NULL);
	if (!obj) {
		fprintf(stderr, "insitu_attach: open %s: %s\n", argv[3],
			strerror(errno));
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "insitu_attach: load %s: %s\n", argv[3],
			strerror(errno));
		goto out;
	}
	n = cgroup || xdp ? -EEXIST : bpf_tc_hook_create(&hook);
	if (n && n != -EEXIST) {
		fprintf(stderr, "insitu_attach: clsact on %s: %s\n", argv[1],
			strerror(-n));
		goto out;
	}
	hook_created = !n;

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	for (int i = 4; i < argc; i++) {
		struct bpf_program *prog =
			bpf_object__find_program_by_name(obj, argv[i]);
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (!prog) {
			fprintf(stderr, "insitu_attach: no program %s\n",
				argv[i]);
			goto out;
		}
		if (cgroup || xdp) {
			links[nattached] =
				cgroup ? bpf_program__attach_cgroup(prog, cgfd)
				       : bpf_program__attach_xdp(prog,
								 hook.ifindex);
			if (!links[nattached]) {
				fprintf(stderr,
					"insitu_attach: attach %s: %s\n",
					argv[i], strerror(errno));
				goto out;
			}
			goto attached;
		}
		memset(&opts[nattached], 0, sizeof(opts[nattached]));
		opts[nattached].sz = sizeof(opts[nattached]);
		opts[nattached].prog_fd = bpf_program__fd(prog);
		opts[nattached].priority = (__u32)(nattached + 1);
		n = bpf_tc_attach(&hook, &opts[nattached]);
		if (n) {
			fprintf(stderr, "insitu_attach: attach %s: %s\n",
				argv[i], strerror(-n));
			goto out;
		}
	attached:
		nattached++;
		bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
		printf("%s %u\n", argv[i], info.id);
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop && fgets(line, sizeof(line), stdin))
		;
	err = 0;
out:
	for (int i = 0; i < nattached; i++) {
		if (cgroup || xdp) {
			bpf_link__destroy(links[i]);
			continue;
		}
		opts[i].prog_fd = 0;
		opts[i].prog_id = 0;
		opts[i].flags = 0;
		bpf_tc_detach(&hook, &opts[i]);
	}
	if (hook_created) {
		/* Both points: remove the clsact qdisc we added. */
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	bpf_object__close(obj);
	if (cgfd >= 0)
		close(cgfd);
	return err;
}

// SPDX-License-Identifier: MIT
/*
 * BPF_PROG_TEST_RUN cost of programs taken from BPF objects, e.g. the
 * same program of two builds (before/after) beside a reference program:
 *
 *   obj_cost REPEAT ROUNDS FRAME OBJECT:PROGRAM [OBJECT:PROGRAM ...]
 *
 * FRAME is v4 (IPv4 UDP, 128 IP bytes), v6 (IPv6 UDP, 148) or v4vlan
 * (v4 behind an 802.1Q tag).  Each object is loaded with only the named
 * program; an object with the one-slot array of maps itm_active gets its
 * itm_stats_a in the slot, as the daemon does.  The programs run in turn,
 * a different one first every round; the figures are the kernel's own
 * per-repeat averages (test_run's duration, whole ns, including the
 * test_run loop's overhead, the same for every program of a frame),
 * best and median of ROUNDS.  One warm CPU and one key: this measures
 * instructions and stalls, not cache misses (bench/xdp_rate.py and
 * bench/insitu.py measure those in situ).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MAX_PROGS  16
#define MAX_ROUNDS 64

/* The frame of kind, in b (256 bytes); returns its length, or -1. */
static int frame(const char *kind, unsigned char *b)
{
	size_t off = 12;

	memset(b, 0, 256);
	memset(b, 0x02, 12);
	if (!strcmp(kind, "v4vlan")) {
		b[12] = 0x81; /* 802.1Q, VLAN 7 */
		b[15] = 7;
		off = 16;
	} else if (strcmp(kind, "v4") && strcmp(kind, "v6")) {
		return -1;
	}
	if (kind[1] == '4') {
		struct iphdr ip = {.version = 4,
				   .ihl = 5,
				   .ttl = 64,
				   .protocol = IPPROTO_UDP,
				   .tot_len = htons(128)};

		b[off] = 0x08;
		inet_pton(AF_INET, "192.0.2.1", &ip.saddr);
		inet_pton(AF_INET, "198.51.100.1", &ip.daddr);
		memcpy(b + off + 2, &ip, sizeof(ip));
		return (int)(off + 2 + 128);
	}
	struct ipv6hdr ip6 = {.version = 6,
			      .nexthdr = IPPROTO_UDP,
			      .hop_limit = 64,
			      .payload_len = htons(108)};

	b[off] = 0x86;
	b[off + 1] = 0xdd;
	inet_pton(AF_INET6, "2001:db8::1", &ip6.saddr);
	inet_pton(AF_INET6, "2001:db8::2", &ip6.daddr);
	memcpy(b + off + 2, &ip6, sizeof(ip6));
	return (int)(off + 2 + 148);
}

/* OBJECT:PROGRAM loaded alone; its fd, or -errno. */
static int load(const char *spec)
{
	char path[4096];
	const char *colon = strrchr(spec, ':');
	struct bpf_program *prog, *want = NULL;
	struct bpf_object *obj;
	struct bpf_map *active;
	int zero = 0, fd;

	if (!colon || (size_t)(colon - spec) >= sizeof(path))
		return -EINVAL;
	snprintf(path, sizeof(path), "%.*s", (int)(colon - spec), spec);
	obj = bpf_object__open_file(path, NULL);
	if (!obj)
		return -errno;
	bpf_object__for_each_program(prog, obj)
	{
		bool it = !strcmp(bpf_program__name(prog), colon + 1);

		bpf_program__set_autoload(prog, it);
		if (it)
			want = prog;
	}
	if (!want)
		return -ENOENT;
	if (bpf_object__load(obj))
		return -errno;
	active = bpf_object__find_map_by_name(obj, "itm_active");
	if (active) {
		fd = bpf_map__fd(
			bpf_object__find_map_by_name(obj, "itm_stats_a"));
		if (bpf_map_update_elem(bpf_map__fd(active), &zero, &fd,
					BPF_ANY))
			return -errno;
	}
	return bpf_program__fd(want);
}

static int cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static unsigned ns[MAX_PROGS][MAX_ROUNDS];
	unsigned repeat, rounds;
	int nprogs = argc - 4, fds[MAX_PROGS], len;
	unsigned char b[256];

	if (argc < 5 || nprogs > MAX_PROGS) {
		fprintf(stderr,
			"usage: obj_cost REPEAT ROUNDS v4|v6|v4vlan "
			"OBJECT:PROGRAM... (at most %d)\n",
			MAX_PROGS);
		return 2;
	}
	repeat = (unsigned)strtoul(argv[1], NULL, 10);
	rounds = (unsigned)strtoul(argv[2], NULL, 10);
	len = frame(argv[3], b);
	if (!repeat || !rounds || rounds > MAX_ROUNDS || len < 0) {
		fprintf(stderr,
			"obj_cost: bad REPEAT, ROUNDS (1-%d) or FRAME\n",
			MAX_ROUNDS);
		return 2;
	}
	for (int i = 0; i < nprogs; i++) {
		fds[i] = load(argv[4 + i]);
		if (fds[i] < 0) {
			fprintf(stderr, "obj_cost: load %s: %s\n", argv[4 + i],
				strerror(-fds[i]));
			return 1;
		}
	}
	for (unsigned r = 0; r < rounds; r++) {
		for (int k = 0; k < nprogs; k++) {
			int i = (int)((k + r) % (unsigned)nprogs);
			LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = b,
				    .data_size_in = (__u32)len,
				    .repeat = repeat);

			if (bpf_prog_test_run_opts(fds[i], &opts)) {
				fprintf(stderr, "obj_cost: test_run %s: %s\n",
					argv[4 + i], strerror(errno));
				return 1;
			}
			ns[i][r] = opts.duration;
		}
	}
	printf("| %s frame: object:program | best ns | median ns |\n"
	       "|---|---:|---:|\n",
	       argv[3]);
	for (int i = 0; i < nprogs; i++) {
		qsort(ns[i], rounds, sizeof(ns[i][0]), cmp);
		printf("| %s | %u | %u |\n", argv[4 + i], ns[i][0],
		       ns[i][rounds / 2]);
	}
	return 0;
}

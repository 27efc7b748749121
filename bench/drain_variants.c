// SPDX-License-Identifier: MIT
/*
 * What lets the kernel do less per drain (issue 14, item 3): one per-CPU
 * statistics map of N addresses (shaped like the daemon's), emptied in
 * different ways, each the median of ROUNDS, printed as a Markdown table.
 *
 *   drain_variants N [ROUNDS]
 *
 * Variants: lookup-and-delete in batches of 1024, 4096 (what user/drain.c
 * does) and 65536 entries; lookup without delete (what recreating the map
 * instead of deleting would still pay to read it); creating a fresh
 * preallocated map (what recreating adds); a BPF_F_NO_PREALLOC map drained
 * in batches of 4096.  Wall time and this thread's CPU time: on a loaded
 * machine the wall time includes waiting for a CPU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "itm_shared.h"

#define MAX_ROUNDS 32

static int ncpus;

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int map_new(unsigned n, __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);

	return bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "itm_drain",
			      sizeof(struct itm_key), sizeof(struct itm_value),
			      n, &o);
}

static int fill(int fd, unsigned n)
{
	struct itm_value *v = calloc(ncpus, sizeof(*v));
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (unsigned i = 0; i < n && !err; i++) {
		struct itm_key k = {.addr = {[10] = 0xff, [11] = 0xff}};

		memcpy(&k.addr[12], &i, sizeof(i));
		v[0].tx_bytes = i;
		v[0].tx_packets = 1;
		/* A no-prealloc map allocates from a cache refilled
		 * asynchronously: a burst of inserts can find it empty. */
		for (int tries = 0; tries < 1000; tries++) {
			err = bpf_map_update_elem(fd, &k, v, BPF_NOEXIST)
				      ? -errno
				      : 0;
			if (err != -ENOMEM)
				break;
			usleep(100);
		}
	}
	free(v);
	return err;
}

/* Read (and delete) every entry in batches; returns entries or -errno. */
static long drain(int fd, unsigned batch, bool del)
{
	struct itm_key *keys = calloc(batch, sizeof(*keys));
	void *vals = calloc((size_t)batch * ncpus, sizeof(struct itm_value));
	__u32 out, cnt;
	void *in = NULL;
	long got = 0;
	int err;

	if (!keys || !vals) {
		got = -ENOMEM;
		goto out;
	}
	for (;;) {
		cnt = batch;
		err = del ? bpf_map_lookup_and_delete_batch(fd, in, &out, keys,
							    vals, &cnt, NULL)
			  : bpf_map_lookup_batch(fd, in, &out, keys, vals, &cnt,
						 NULL);
		if (err && err != -ENOENT) {
			got = err;
			break;
		}
		got += cnt;
		if (err == -ENOENT)
			break;
		in = &out;
	}
out:
	free(keys);
	free(vals);
	return got;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum kind { DEL, LOOKUP, CREATE, NOPREALLOC };

static const struct variant {
	const char *name;
	enum kind kind;
	unsigned batch;
} variants[] = {
	{"lookup-and-delete, batch 1024", DEL, 1024},
	{"lookup-and-delete, batch 4096 (the daemon)", DEL, 4096},
	{"lookup-and-delete, batch 65536", DEL, 65536},
	{"lookup only, batch 4096 (recreate: the read)", LOOKUP, 4096},
	{"create a fresh map (recreate: the new map)", CREATE, 0},
	{"BPF_F_NO_PREALLOC map, lookup-and-delete, batch 4096", NOPREALLOC,
	 4096},
};

#define NVAR (sizeof(variants) / sizeof(variants[0]))

int main(int argc, char **argv)
{
	double wall[NVAR][MAX_ROUNDS], cpu[NVAR][MAX_ROUNDS];
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 65536;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	int fd, fd_np;

	if (!n || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: drain_variants N [ROUNDS <= 32]\n");
		return 2;
	}
	ncpus = libbpf_num_possible_cpus();
	fd = map_new(n, 0);
	fd_np = map_new(n, BPF_F_NO_PREALLOC);
	if (ncpus <= 0 || fd < 0 || fd_np < 0) {
		fprintf(stderr, "drain_variants: map: %s\n", strerror(errno));
		return 1;
	}
	/* Interleaved: every variant once per round. */
	for (int r = 0; r < rounds; r++) {
		for (size_t v = 0; v < NVAR; v++) {
			const struct variant *x = &variants[v];
			int map = x->kind == NOPREALLOC ? fd_np : fd;
			double w0, c0;
			long got = n;

			if (x->kind != CREATE && fill(map, n)) {
				fprintf(stderr, "fill: %s\n", strerror(errno));
				return 1;
			}
			w0 = clock_s(CLOCK_MONOTONIC);
			c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
			if (x->kind == CREATE) {
				int nfd = map_new(n, 0);

				if (nfd < 0)
					got = -errno;
				cpu[v][r] =
					clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
				wall[v][r] = clock_s(CLOCK_MONOTONIC) - w0;
				close(nfd);
			} else {
				got = drain(map, x->batch, x->kind != LOOKUP);
				cpu[v][r] =
					clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
				wall[v][r] = clock_s(CLOCK_MONOTONIC) - w0;
			}
			if (got != (long)n) {
				fprintf(stderr, "%s: %ld of %u entries\n",
					x->name, got, n);
				return 1;
			}
			/* The lookup-only variant leaves the map full. */
			if (x->kind == LOOKUP && drain(map, 4096, true) != n)
				return 1;
		}
	}
	printf("| %u addresses, %d CPUs | wall ms | CPU ms | CPU ns/address "
	       "|\n|---|---:|---:|---:|\n",
	       n, ncpus);
	for (size_t v = 0; v < NVAR; v++) {
		qsort(wall[v], rounds, sizeof(double), cmp);
		qsort(cpu[v], rounds, sizeof(double), cmp);
		printf("| %s | %.1f | %.1f | %.0f |\n", variants[v].name,
		       wall[v][rounds / 2] * 1e3, cpu[v][rounds / 2] * 1e3,
		       cpu[v][rounds / 2] * 1e9 / n);
	}
	printf("\nMedian of %d interleaved rounds; CPU is this thread's "
	       "(the kernel's work in the syscalls).\n",
	       rounds);
	close(fd);
	close(fd_np);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * What lets the kernel do less per drain (issue 14, item 3): one per-CPU
 * statistics map of N addresses (shaped like the daemon's), emptied in
 * different ways, each the median of ROUNDS, printed as a Markdown table.
 *
 *   drain_variants N [ROUNDS [VARIANT]]
 *
 * Variants: lookup-and-delete in batches of 1024, 4096 (what user/kernel/drain.c
 * does) and 65536 entries; lookup without delete (what recreating the map
 * instead of deleting would still pay to read it); creating a fresh
 * preallocated map (what recreating adds); a BPF_F_NO_PREALLOC map drained
 * in batches of 4096; lookup in batches, then delete the keys read in
 * batches; a BPF iterator over the map (drain_iter.bpf.o, loaded from this
 * program's directory) that sums the per-CPU values in the kernel and
 * writes one 56-byte record per address, with and without deleting each
 * entry; and the swap itself: pointing a one-slot array of maps at the
 * other map, which waits for an RCU grace period before returning.  Wall
 * time and this thread's CPU time: on a loaded machine the wall time
 * includes waiting for a CPU.
 *
 * A variant this kernel cannot run (the iterator program refused, batch
 * operations missing before Linux 5.6) is printed as skipped, with the
 * reason, and the others are measured.  Exit status: 0, 1 an error or a
 * wrong count, 77 no variant could run.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "drain.h"
#include "itm_shared.h"

#define MAX_ROUNDS 32

static int ncpus;

/* The iterator drains: one object per "del" setting, bound to one map. */
struct iter_drain {
	struct bpf_object *obj;
	struct bpf_link *link;
};

static int iter_load_attach(struct iter_drain *it, int map_fd, bool del)
{
	DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, o);
	union bpf_iter_link_info linfo = {.map.map_fd = (__u32)map_fd};
	char path[PATH_MAX], exe[PATH_MAX];
	struct bpf_program *prog;
	struct bpf_map *m;
	ssize_t len;
	int err;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0)
		return -errno;
	exe[len] = 0;
	snprintf(path, sizeof(path), "%s/drain_iter.bpf.o", dirname(exe));
	it->obj = bpf_object__open_file(path, NULL);
	if (!it->obj)
		return -errno;
	m = bpf_object__find_map_by_name(it->obj, ".rodata");
	if (!m)
		return -ENOENT;
	{
		struct {
			__u32 ncpus;
			bool del;
		} * ro;
		size_t sz;

		ro = (void *)bpf_map__initial_value(m, &sz);
		if (!ro)
			return -ENOENT;
		ro->ncpus = (__u32)ncpus;
		ro->del = del;
	}
	m = bpf_object__find_map_by_name(it->obj, "drained");
	err = m ? bpf_map__reuse_fd(m, map_fd) : -ENOENT;
	if (!err)
		err = bpf_object__load(it->obj);
	if (err)
		return err;
	prog = bpf_object__find_program_by_name(it->obj, "drain_elem");
	o.link_info = &linfo;
	o.link_info_len = sizeof(linfo);
	if (!prog)
		return -ENOENT;
	it->link = bpf_program__attach_iter(prog, &o);
	return it->link ? 0 : -errno;
}

/* 0, or -errno with nothing left open (the row says why). */
static int iter_open(struct iter_drain *it, int map_fd, bool del)
{
	libbpf_print_fn_t print = libbpf_set_print(NULL);
	int err = iter_load_attach(it, map_fd, del);

	libbpf_set_print(print);
	if (err) {
		bpf_object__close(it->obj);
		*it = (struct iter_drain){0};
	}
	return err;
}

/*
 * Read every record out of a fresh iterator; returns records or -errno.
 * When the seq_file buffer fills, the kernel restarts the walk inside a
 * bucket by skipping as many elements as it had shown, so deleting while
 * iterating skips live entries: those stay in the map (never shown, never
 * lost), and another pass takes them, until the map is empty.
 */
static long iter_pass(struct iter_drain *it)
{
	static char buf[1 << 16];
	struct itm_value sum = {};
	long got = 0;
	ssize_t r;
	int fd = bpf_iter_create(bpf_link__fd(it->link));

	if (fd < 0)
		return fd;
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		/* What a consumer touches: every record's counters. */
		for (ssize_t off = 0; off + 56 <= r; off += 56) {
			const struct itm_value *v =
				(const void *)(buf + off +
					       sizeof(struct itm_key));
			sum.tx_bytes += v->tx_bytes;
		}
		got += r / 56;
	}
	if (r < 0)
		got = -errno;
	close(fd);
	return got;
}

static long iter_drain(struct iter_drain *it, int map_fd, bool del)
{
	struct itm_key k;
	long got = 0, n;

	for (;;) {
		n = iter_pass(it);
		if (n < 0)
			return n;
		got += n;
		if (!del || bpf_map_get_next_key(map_fd, NULL, &k))
			return got;
		/* Entries left, none shown: another pass would not end. */
		if (!n)
			return -EIO;
	}
}

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

/* Read (and delete) every entry in batches; returns entries or -errno.
 * del == 2: read with lookup_batch, then delete the keys read. */
static long drain(int fd, unsigned batch, int del)
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
		err = del == 1 ? bpf_map_lookup_and_delete_batch(
					 fd, in, &out, keys, vals, &cnt, NULL)
			       : bpf_map_lookup_batch(fd, in, &out, keys, vals,
						      &cnt, NULL);
		if (err && err != -ENOENT) {
			got = err;
			break;
		}
		if (del == 2 && cnt) {
			__u32 dcnt = cnt;
			int derr = bpf_map_delete_batch(fd, keys, &dcnt, NULL);

			if (derr || dcnt != cnt) {
				got = derr ? derr : -EIO;
				break;
			}
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

/* The daemon's drain (user/kernel/drain.c): two threads for maps this size. */
static int count_rows(void *ctx, const struct itm_key *keys, const void *values,
		      size_t count)
{
	(void)keys;
	(void)values;
	*(long *)ctx += (long)count;
	return 0;
}

static long drain_parallel(int fd)
{
	struct drain_buf b;
	long got = 0;
	int err = drain_buf_init(&b, 4096);

	if (!err)
		err = drain_map(fd, &b, count_rows, &got);
	drain_buf_free(&b);
	return err ? err : got;
}

static double loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum kind {
	DEL,
	LOOKUP,
	CREATE,
	NOPREALLOC,
	LOOKUP_THEN_DEL,
	ITER,
	ITER_DEL,
	SWAP,
	PARALLEL
};

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
	{"lookup batch 4096, then delete batch of the keys read",
	 LOOKUP_THEN_DEL, 4096},
	{"BPF iterator, per-CPU sum in the kernel, 56 B records (no delete)",
	 ITER, 0},
	{"BPF iterator as above, deleting each entry", ITER_DEL, 0},
	{"the swap: array-of-maps slot update (waits for RCU)", SWAP, 0},
	{"the daemon's drain_map(): batch 4096, two threads claiming 16 chunks",
	 PARALLEL, 4096},
};

#define NVAR (sizeof(variants) / sizeof(variants[0]))

/* The kernel's "not supported" (include/linux/errno.h), not in UAPI. */
#define ENOTSUPP 524

/* The maps, the slot and the iterators every round uses. */
static int stats = -1, stats_np = -1, stats_swap = -1, slot = -1;
static struct iter_drain it, it_del;
/* Why a variant is not measured on this kernel ("" when it is). */
static char why[NVAR][160];

static const char *errstr(long err)
{
	return err == -ENOTSUPP ? "not supported" : strerror((int)-err);
}

/*
 * Errors of a kernel that cannot run a variant, not of a wrong drain:
 * the verifier refusing a program (EACCES, or EPERM for its kind), a
 * command or map operation it does not have (EINVAL, ENOTSUPP).
 */
static bool unsupported(long err)
{
	return err == -EINVAL || err == -ENOTSUPP || err == -EOPNOTSUPP ||
	       err == -EPERM || err == -EACCES;
}

/* Mark every variant of kind k skipped, with the reason. */
__attribute__((format(printf, 2, 3))) static void
skip_kind(enum kind k, const char *fmt, ...)
{
	va_list ap;

	for (size_t v = 0; v < NVAR; v++) {
		if (variants[v].kind != k)
			continue;
		va_start(ap, fmt);
		vsnprintf(why[v], sizeof(why[v]), fmt, ap);
		va_end(ap);
	}
}

/*
 * Empty the map for the next variant: in batches, or key by key on a
 * kernel without batch operations (before 5.6).  Entries or -errno.
 */
static long map_empty(int map)
{
	struct itm_key k;
	long got = drain(map, 4096, 1);

	if (got >= 0 || !unsupported(got))
		return got;
	got = 0;
	while (!bpf_map_get_next_key(map, NULL, &k)) {
		if (bpf_map_delete_elem(map, &k))
			return -errno;
		got++;
	}
	return got;
}

/* One variant once on a filled map: entries drained, or -errno. */
static long run_variant(const struct variant *x, int map, int r, unsigned n,
			double *wall, double *cpu)
{
	double w0 = clock_s(CLOCK_MONOTONIC);
	double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	long got = n;

	if (x->kind == CREATE) {
		int nfd = map_new(n, 0);

		if (nfd < 0)
			got = -errno;
		*cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		*wall = clock_s(CLOCK_MONOTONIC) - w0;
		if (nfd >= 0)
			close(nfd);
	} else if (x->kind == SWAP) {
		/* Alternate the slot between the two maps. */
		int to = r % 2 ? stats : stats_swap, zero = 0;

		if (bpf_map_update_elem(slot, &zero, &to, 0))
			got = -errno;
		*cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		*wall = clock_s(CLOCK_MONOTONIC) - w0;
	} else if (x->kind == PARALLEL) {
		/* CPU: both threads' (the process's). */
		c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
		got = drain_parallel(map);
		*cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
		*wall = clock_s(CLOCK_MONOTONIC) - w0;
	} else if (x->kind == ITER || x->kind == ITER_DEL) {
		got = iter_drain(x->kind == ITER ? &it : &it_del, stats,
				 x->kind == ITER_DEL);
		*cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		*wall = clock_s(CLOCK_MONOTONIC) - w0;
	} else {
		got = drain(map, x->batch,
			    x->kind == LOOKUP		 ? 0
			    : x->kind == LOOKUP_THEN_DEL ? 2
							 : 1);
		*cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		*wall = clock_s(CLOCK_MONOTONIC) - w0;
	}
	return got;
}

/* The maps, the slot and the iterators; 0, 1 or 77 (no BPF). */
static int setup(unsigned n)
{
	LIBBPF_OPTS(bpf_map_create_opts, oo);
	int zero = 0, err;

	stats = map_new(n, 0);
	if (stats < 0) {
		err = errno;
		fprintf(stderr, "drain_variants: map: %s\n", strerror(err));
		return err == EPERM || err == ENOSYS ? 77 : 1;
	}
	stats_swap = map_new(n, 0);
	if (stats_swap < 0) {
		fprintf(stderr, "drain_variants: map: %s\n", strerror(errno));
		return 1;
	}
	stats_np = map_new(n, BPF_F_NO_PREALLOC);
	if (stats_np < 0)
		skip_kind(NOPREALLOC, "no BPF_F_NO_PREALLOC map: %s",
			  strerror(errno));
	oo.inner_map_fd = stats;
	slot = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "itm_slot",
			      sizeof(__u32), sizeof(__u32), 1, &oo);
	if (slot < 0 || bpf_map_update_elem(slot, &zero, &stats, 0))
		skip_kind(SWAP, "no array of maps: %s", strerror(errno));
	err = iter_open(&it, stats, false);
	if (err)
		skip_kind(ITER, "BPF iterator refused: %s", errstr(err));
	err = iter_open(&it_del, stats, true);
	if (err)
		skip_kind(ITER_DEL, "BPF iterator refused: %s", errstr(err));
	return 0;
}

static void teardown(void)
{
	bpf_link__destroy(it.link);
	bpf_link__destroy(it_del.link);
	bpf_object__close(it.obj);
	bpf_object__close(it_del.obj);
	int fds[] = {slot, stats, stats_np, stats_swap};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int main(int argc, char **argv)
{
	double wall[NVAR][MAX_ROUNDS], cpu[NVAR][MAX_ROUNDS];
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 65536;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	/* One variant only (its row number, from 1), e.g. under perf. */
	size_t only = argc > 3 ? strtoul(argv[3], NULL, 0) : 0;
	int rc, measured = 0;

	if (!n || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: drain_variants N [ROUNDS <= 32]\n");
		return 2;
	}
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		fprintf(stderr, "drain_variants: possible CPUs: %s\n",
			strerror(-ncpus));
		return 1;
	}
	rc = setup(n);
	if (rc) {
		teardown();
		return rc;
	}
	/* Interleaved: every variant once per round. */
	for (int r = 0; r < rounds; r++) {
		for (size_t v = 0; v < NVAR; v++) {
			const struct variant *x = &variants[v];
			int map = x->kind == NOPREALLOC ? stats_np : stats;
			long got, left;

			if ((only && v + 1 != only) || why[v][0])
				continue;
			if (x->kind != CREATE && x->kind != SWAP &&
			    fill(map, n)) {
				fprintf(stderr, "fill: %s\n", strerror(errno));
				teardown();
				return 1;
			}
			got = run_variant(x, map, r, n, &wall[v][r],
					  &cpu[v][r]);
			/* The first run tells whether this kernel can. */
			if (got < 0 && r == 0 && unsupported(got)) {
				snprintf(why[v], sizeof(why[v]),
					 "this kernel cannot: %s", errstr(got));
				fprintf(stderr, "%s: skipped: %s\n", x->name,
					errstr(got));
			} else if (x->kind == SWAP ? got < 0 : got != (long)n) {
				fprintf(stderr, "%s: %ld of %u entries\n",
					x->name, got, n);
				teardown();
				return 1;
			}
			/* Those without delete leave the map full. */
			left = x->kind == CREATE || x->kind == SWAP
				       ? 0
				       : map_empty(map);
			if (left < 0 ||
			    (!why[v][0] && (x->kind == LOOKUP || x->kind == ITER
						    ? left != (long)n
						    : left != 0))) {
				fprintf(stderr, "%s: %ld entries left: %s\n",
					x->name, left,
					left < 0 ? errstr(left) : "");
				teardown();
				return 1;
			}
		}
	}
	printf("| %u addresses, %d CPUs | wall ms | CPU ms | CPU ns/address "
	       "|\n|---|---:|---:|---:|\n",
	       n, ncpus);
	for (size_t v = 0; v < NVAR; v++) {
		if (only && v + 1 != only)
			continue;
		if (why[v][0]) {
			printf("| %s | skipped: %s | | |\n", variants[v].name,
			       why[v]);
			continue;
		}
		measured++;
		qsort(wall[v], rounds, sizeof(double), cmp);
		qsort(cpu[v], rounds, sizeof(double), cmp);
		printf("| %s | %.1f | %.1f | %.0f |\n", variants[v].name,
		       wall[v][rounds / 2] * 1e3, cpu[v][rounds / 2] * 1e3,
		       cpu[v][rounds / 2] * 1e9 / n);
	}
	printf("\nMedian of %d interleaved rounds; CPU is this thread's "
	       "(the kernel's work in the syscalls), both threads' for the "
	       "two-thread row; 1-min load average %.2f at the end.\n",
	       rounds, loadavg());
	teardown();
	return measured ? 0 : 77;
}

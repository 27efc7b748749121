// SPDX-License-Identifier: MIT
/*
 * user/kernel/drain.c on real per-CPU hash maps shaped like the daemon's: every
 * entry reaches the callback exactly once with its per-CPU values intact,
 * and the map is empty afterwards, for maps drained by one thread (small)
 * and by two (the helper takes the upper half of the buckets), full and
 * sparse.  When the callback fails part-way, nothing is lost or doubled:
 * each entry was either delivered or is still in the map.
 *
 * A kernel without batch operations (before 5.6) is drained key by key
 * (user/kernel/drain.c's fallback), which the cases then check; the
 * "key by key" cases force that fallback here (ITM_TEST_REFUSE=batch's
 * flag: the kernel refuses every batch call).  map_walk() reading (what
 * persist does) must deliver every entry once and leave the map as it
 * was; map_delete_keys() then empties it, keys already gone included.  A map
 * this machine has no memory for (per-CPU values: entries x CPUs) skips its
 * case, with the reason.
 *
 * Exit status: 0 all passed (some maybe skipped), 1 a case failed, 77 BPF
 * is not available.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <unistd.h>

#include "drain.h"
#include "itm_shared.h"
#include "table.h"

static int ncpus;

/* Entry i: a distinct key and per-CPU values derived from i and the CPU. */
static void make_key(__u32 i, struct itm_key *k)
{
	memset(k, 0, sizeof(*k));
	k->addr[0] = 0x20;
	k->addr[1] = 0x01;
	memcpy(&k->addr[12], &i, sizeof(i));
	k->pid = i % 3 ? i : 0;
}

static struct itm_value expect(__u32 i, int cpu)
{
	return (struct itm_value){
		.tx_bytes = (__u64)i * 7 + (__u64)cpu,
		.tx_packets = i % 5 + 1,
		.rx_bytes = (__u64)i << 20 | (__u64)cpu,
		.rx_packets = (__u64)cpu + 1,
	};
}

static int fill(int fd, __u32 n)
{
	const size_t stride = ITM_PERCPU_STRIDE(struct itm_value);
	char *row = calloc((size_t)ncpus, stride);

	if (!row)
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++) {
		struct itm_key k;

		make_key(i, &k);
		for (int c = 0; c < ncpus; c++) {
			struct itm_value v = expect(i, c);

			memcpy(row + (size_t)c * stride, &v, sizeof(v));
		}
		if (bpf_map_update_elem(fd, &k, row, BPF_NOEXIST)) {
			free(row);
			return -errno;
		}
	}
	free(row);
	return 0;
}

struct seen {
	unsigned char *count; /* per entry: times delivered */
	__u32 n;
	size_t batches, fail_at; /* fail_at: return -ENOMEM at this batch */
	int bad;
};

static int check_batch(void *ctx, const struct itm_key *keys,
		       const void *values, size_t count)
{
	const size_t stride = ITM_PERCPU_STRIDE(struct itm_value);
	struct seen *s = ctx;

	for (size_t j = 0; j < count; j++) {
		__u32 i;

		memcpy(&i, &keys[j].addr[12], sizeof(i));
		if (i >= s->n) {
			s->bad++;
			continue;
		}
		s->count[i]++;
		for (int c = 0; c < ncpus; c++) {
			struct itm_value v = expect(i, c), got;

			memcpy(&got,
			       (const char *)values +
				       (j * (size_t)ncpus + (size_t)c) * stride,
			       sizeof(got));
			if (memcmp(&got, &v, sizeof(v)))
				s->bad++;
		}
	}
	return ++s->batches == s->fail_at ? -ENOMEM : 0;
}

enum how {
	TAKE,	     /* drain_map() */
	TAKE_BY_KEY, /* drain_map(), batch operations refused */
	READ,	     /* map_walk() reading, then map_delete_keys() */
	READ_BY_KEY, /* the same, batch operations refused */
};

/* Read mode: delete every key (the first tenth deleted before). */
static int delete_all(int fd, __u32 n)
{
	struct itm_key *keys = calloc(n ? n : 1, sizeof(*keys));
	int err;

	if (!keys)
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++) {
		make_key(i, &keys[i]);
		if (i < n / 10 && bpf_map_delete_elem(fd, &keys[i])) {
			free(keys);
			return -errno;
		}
	}
	err = map_delete_keys(fd, keys, n);
	free(keys);
	return err;
}

/*
 * One case: a map of max entries, n of them used.  0, -1 failed, 1
 * skipped.
 */
static int run_case(const char *name, __u32 max, __u32 n, size_t fail_at,
		    enum how how)
{
	bool read = how == READ || how == READ_BY_KEY;
	struct seen s = {.n = n, .fail_at = fail_at};
	struct drain_buf b = {0};
	struct itm_key k;
	size_t delivered = 0, left = 0;
	int fd, err, ok = 0;
	char *row;

	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "itm_test_drain",
			    sizeof(struct itm_key), sizeof(struct itm_value),
			    max, NULL);
	if (fd < 0) {
		err = errno;
		/* Not the drain's fault: the machine's memory (limits). */
		if (err == ENOMEM || err == E2BIG) {
			printf("SKIP %s: no room for a map of %u entries x "
			       "%d CPUs: %s\n",
			       name, max, ncpus, strerror(err));
			return 1;
		}
		printf("FAIL %s: map: %s\n", name, strerror(err));
		return -1;
	}
	s.count = calloc(n ? n : 1, 1);
	row = calloc((size_t)ncpus, ITM_PERCPU_STRIDE(struct itm_value));
	err = s.count && row ? drain_buf_init(&b, 4096) : -ENOMEM;
	if (!err)
		err = fill(fd, n);
	if (err) {
		printf("FAIL %s: setup: %s\n", name, strerror(-err));
		drain_buf_free(&b);
		close(fd);
		free(s.count);
		free(row);
		return -1;
	}
	b.refuse_batch = how == TAKE_BY_KEY || how == READ_BY_KEY;
	err = read ? map_walk(fd, false, &b, check_batch, &s)
		   : drain_map(fd, &b, check_batch, &s);
	for (__u32 i = 0; i < n; i++) {
		bool in_map;

		make_key(i, &k);
		in_map = !bpf_map_lookup_elem(fd, &k, row);
		delivered += s.count[i] == 1;
		left += in_map;
		/* Taking: exactly one of delivered once, or still in the map.
		 * Reading: at most once, and still in the map. */
		if (s.count[i] > 1 ||
		    (read ? !in_map : (s.count[i] == 1) == in_map))
			s.bad++;
	}
	if (read && !s.bad && !fail_at && !err) {
		err = delete_all(fd, n);
		if (err || !bpf_map_get_next_key(fd, NULL, &k)) {
			printf("FAIL %s: map_delete_keys: %s\n", name,
			       err ? strerror(-err) : "keys left");
			s.bad++;
		}
		left = 0;
	}
	if (s.bad)
		printf("FAIL %s: %d wrong rows or entries\n", name, s.bad);
	else if (!fail_at && (err || delivered != n || (!read && left)))
		printf("FAIL %s: err %d, %zu of %u delivered, %zu left\n", name,
		       err, delivered, n, left);
	else if (fail_at && err != -ENOMEM)
		printf("FAIL %s: callback error not returned (%d)\n", name,
		       err);
	else
		ok = 1;
	if (ok)
		printf("ok %s (%zu delivered, %zu left in the map)\n", name,
		       delivered, left);
	drain_buf_free(&b);
	free(s.count);
	free(row);
	close(fd);
	return ok ? 0 : -1;
}

/* Whether this kernel has batch operations on per-CPU hashes (5.6). */
static const char *batch_support(int fd)
{
	struct itm_key keys[1];
	char *vals = calloc((size_t)ncpus, ITM_PERCPU_STRIDE(struct itm_value));
	__u32 out, count = 1;
	int err;

	if (!vals)
		return "unknown";
	err = bpf_map_lookup_batch(fd, NULL, &out, keys, vals, &count, NULL);
	free(vals);
	/* ENOENT: the end of the (empty) map, so the command exists. */
	return !err || err == -ENOENT ? "in batches"
				      : "key by key (no batch operations)";
}

int main(void)
{
	static const struct {
		const char *name;
		__u32 max, n;
		size_t fail_at;
		enum how how;
	} cases[] = {
		{"small map, one thread", 1000, 1000, 0, TAKE},
		{"empty map", 65536, 0, 0, TAKE},
		{"one entry in a large map", 65536, 1, 0, TAKE},
		{"full 65536 map, two threads", 65536, 65536, 0, TAKE},
		{"sparse 200000 map", 200000, 30000, 0, TAKE},
		{"full 200000 map", 200000, 200000, 0, TAKE},
		{"callback fails at batch 3", 65536, 65536, 3, TAKE},
		{"callback fails at batch 12", 65536, 65536, 12, TAKE},
		{"key by key, small map", 1000, 1000, 0, TAKE_BY_KEY},
		{"key by key, full 65536 map", 65536, 65536, 0, TAKE_BY_KEY},
		{"key by key, callback fails at batch 3", 65536, 65536, 3,
		 TAKE_BY_KEY},
		{"read, sparse 65536 map", 65536, 10000, 0, READ},
		{"read, full 65536 map", 65536, 65536, 0, READ},
		{"read key by key, full 65536 map", 65536, 65536, 0,
		 READ_BY_KEY},
		{"read, callback fails at batch 3", 65536, 65536, 3, READ},
		{"read key by key, empty map", 1000, 0, 0, READ_BY_KEY},
	};
	const size_t ncases = sizeof(cases) / sizeof(cases[0]);
	int failed = 0, skipped = 0, fd, err, rc;

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		printf("FAIL: possible CPUs: %s\n", strerror(-ncpus));
		return 1;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "itm_test_probe",
			    sizeof(struct itm_key), sizeof(struct itm_value), 1,
			    NULL);
	if (fd < 0) {
		err = errno;
		if (err == EPERM || err == ENOSYS) {
			printf("SKIP: BPF unavailable (%s)\n", strerror(err));
			return 77;
		}
		printf("FAIL: a per-CPU hash map: %s\n", strerror(err));
		return 1;
	}
	printf("# this kernel drains %s\n", batch_support(fd));
	close(fd);
	for (size_t i = 0; i < ncases; i++) {
		rc = run_case(cases[i].name, cases[i].max, cases[i].n,
			      cases[i].fail_at, cases[i].how);
		failed += rc < 0;
		skipped += rc > 0;
	}
	printf("%zu passed, %d skipped, %d failed\n",
	       ncases - (size_t)failed - (size_t)skipped, skipped, failed);
	if (failed)
		return 1;
	return (size_t)skipped == ncases ? 77 : 0;
}

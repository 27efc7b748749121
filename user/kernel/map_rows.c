// SPDX-License-Identifier: MIT
/*
 * Rows of a statistics map read without deleting them (persist.c's look
 * at a map, the drain of a map whose rows wait for a commit), per-CPU
 * values summed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "drain.h"
#include "kernel_features.h"
#include "map_rows.h"
#include "table.h"

void map_rows_free(struct map_rows *r)
{
	free(r->keys);
	free(r->vals);
	memset(r, 0, sizeof(*r));
}

int map_rows_reserve(struct map_rows *r, size_t more)
{
	size_t cap = r->cap ? r->cap : 4096;
	struct itm_key *k;
	struct itm_value *v;

	if (r->n + more <= r->cap)
		return 0;
	while (cap < r->n + more)
		cap *= 2;
	k = realloc(r->keys, cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	r->keys = k;
	v = realloc(r->vals, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->vals = v;
	r->cap = cap;
	return 0;
}

struct rows_ctx {
	struct map_rows *r;
	int ncpus;
};

static int rows_append(void *arg, const struct itm_key *keys,
		       const void *values, size_t count)
{
	const size_t row = ITM_PERCPU_STRIDE(struct itm_value);
	struct rows_ctx *c = arg;
	struct map_rows *r = c->r;
	int err = map_rows_reserve(r, count);

	if (err)
		return err;
	for (size_t i = 0; i < count; i++) {
		r->keys[r->n] = keys[i];
		itm_value_sum_percpu((const char *)values +
					     i * row * (size_t)c->ncpus,
				     c->ncpus, &r->vals[r->n++]);
	}
	return 0;
}

/*
 * Pid 0's entries once more, each after every other entry was read.  The
 * map is still active and --xdp moves received traffic from (address, 0)
 * to (address, pid), taking from pid 0 before it gives to the process
 * (move_rx()).  A walk reads keys in hash order: a move between the
 * reads of (address, 0) and, later, (address, pid) would show the frame
 * under both.  Read last, pid 0 is read after the process, and a move in
 * between shows the frame under neither, which the next read makes up
 * (rxmove.h): memory can run behind the map, never ahead of it.
 */
static int reread_pid0(int fd, int ncpus, void *scratch, struct map_rows *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->keys[i].pid)
			continue;
		if (bpf_map_lookup_elem(fd, &r->keys[i], scratch)) {
			if (errno == ENOENT) /* not while active; keep it */
				continue;
			return -errno;
		}
		itm_value_sum_percpu(scratch, ncpus, &r->vals[i]);
	}
	return 0;
}

/* Read every entry without deleting it; per-CPU values summed. */
int map_rows_read(int fd, int ncpus, void *scratch, size_t batch,
		  bool pid0_last, struct map_rows *r)
{
	struct drain_buf b = {.values = scratch,
			      .batch = batch,
			      .ncpus = ncpus,
			      .refuse_batch = features_test_refuses("batch")};
	struct rows_ctx c = {r, ncpus};
	int err;

	r->n = 0;
	b.keys = calloc(batch, sizeof(*b.keys));
	if (!b.keys)
		return -ENOMEM;
	err = map_walk(fd, false, &b, rows_append, &c);
	free(b.keys);
	if (!err && pid0_last)
		err = reread_pid0(fd, ncpus, scratch, r);
	return err;
}

int map_rows_delete(int fd, const struct map_rows *r)
{
	return map_delete_keys(fd, r->keys, r->n);
}

// SPDX-License-Identifier: MIT
#include "drain.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "table.h"

int drain_buf_init(struct drain_buf *b, size_t batch)
{
	memset(b, 0, sizeof(*b));
	b->ncpus = libbpf_num_possible_cpus();
	if (b->ncpus <= 0)
		return b->ncpus ? b->ncpus : -EINVAL;
	b->batch = batch;
	b->keys = calloc(batch, sizeof(*b->keys));
	b->values = calloc(batch * (size_t)b->ncpus,
			   ITM_PERCPU_STRIDE(struct itm_value));
	if (!b->keys || !b->values) {
		drain_buf_free(b);
		return -ENOMEM;
	}
	return 0;
}

void drain_buf_free(struct drain_buf *b)
{
	free(b->keys);
	free(b->values);
	b->keys = NULL;
	b->values = NULL;
}

static void *row(const struct drain_buf *b, size_t i)
{
	return (char *)b->values +
	       i * ITM_PERCPU_STRIDE(struct itm_value) * (size_t)b->ncpus;
}

/* For kernels without batch ops: safe because nothing writes this map. */
static int drain_by_iteration(int fd, struct drain_buf *b, drain_batch_fn fn,
			      void *ctx)
{
	struct itm_key key;
	size_t n = 0;
	int err;

	while (!bpf_map_get_next_key(fd, NULL, &key)) {
		if (bpf_map_lookup_and_delete_elem(fd, &key, row(b, n)) &&
		    (bpf_map_lookup_elem(fd, &key, row(b, n)) ||
		     bpf_map_delete_elem(fd, &key))) {
			err = -errno;
			pr_warn(_("draining a statistics map failed: %s\n"),
				strerror(-err));
			return err;
		}
		b->keys[n++] = key;
		if (n == b->batch) {
			err = fn(ctx, b->keys, b->values, n);
			if (err)
				return err;
			n = 0;
		}
	}
	return fn(ctx, b->keys, b->values, n);
}

int drain_map(int fd, struct drain_buf *b, drain_batch_fn fn, void *ctx)
{
	__u32 out_batch, count;
	void *in = NULL;
	int err, ferr;

	for (;;) {
		count = (__u32)b->batch;
		err = bpf_map_lookup_and_delete_batch(
			fd, in, &out_batch, b->keys, b->values, &count, NULL);
		if (err && err != -ENOENT) {
			if (err == -EINVAL || err == -ENOTSUP ||
			    err == -EOPNOTSUPP)
				return drain_by_iteration(fd, b, fn, ctx);
			pr_warn(_("draining a statistics map failed: %s\n"),
				strerror(-err));
			return err;
		}
		ferr = fn(ctx, b->keys, b->values, count);
		if (ferr)
			return ferr;
		if (err == -ENOENT)
			return 0;
		in = &out_batch;
	}
}

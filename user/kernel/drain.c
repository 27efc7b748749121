// SPDX-License-Identifier: MIT
#include "drain.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel_features.h"
#include "log.h"
#include "table.h"

/* The kernel's own "not supported" (include/linux/errno.h), not in libc. */
#define ITM_ENOTSUPP 524

int drain_buf_init(struct drain_buf *b, size_t batch)
{
	memset(b, 0, sizeof(*b));
	b->ncpus = libbpf_num_possible_cpus();
	if (b->ncpus <= 0)
		return b->ncpus ? b->ncpus : -EINVAL;
	b->batch = batch;
	b->refuse_batch = features_test_refuses("batch");
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

/* One entry out of the map: its per-CPU row to "row". */
static int take_elem(int fd, const struct itm_key *key, void *row)
{
	/* Lookup-and-delete of a hash map needs Linux 5.14. */
	if (bpf_map_lookup_and_delete_elem(fd, key, row) &&
	    (bpf_map_lookup_elem(fd, key, row) || bpf_map_delete_elem(fd, key)))
		return -errno;
	return 0;
}

/*
 * Key by key, for kernels without batch operations.  Taking restarts
 * from the first key each time: safe because nothing writes this map.
 * Reading walks on from the previous key.
 */
static int walk_by_key(int fd, bool take, struct drain_buf *b,
		       drain_batch_fn fn, void *ctx)
{
	struct itm_key key, prev;
	bool first = true;
	size_t n = 0;
	int err;

	while (!bpf_map_get_next_key(fd, take || first ? NULL : &prev, &key)) {
		err = take ? take_elem(fd, &key, row(b, n))
			   : (bpf_map_lookup_elem(fd, &key, row(b, n)) ? -errno
								       : 0);
		if (err)
			goto fail;
		b->keys[n++] = key;
		prev = key;
		first = false;
		if (n == b->batch) {
			err = fn(ctx, b->keys, b->values, n);
			if (err)
				return err;
			n = 0;
		}
	}
	if (errno != ENOENT) {
		err = -errno;
		goto fail;
	}
	return fn(ctx, b->keys, b->values, n);
fail:
	if (take)
		pr_warn(_("draining a statistics map failed: %s\n"),
			strerror(-err));
	return err;
}

/*
 * One batch call, taking (lookup and delete) or only reading; 0, -ENOENT
 * at the end of the map, or -errno.  refuse: the tests have the kernel
 * refuse it (no element flag is valid there).
 */
static int batch_op(int fd, bool take, const __u32 *in, __u32 *out,
		    struct itm_key *keys, void *values, __u32 *count,
		    bool refuse)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = refuse ? ~0ULL : 0);

	if (take)
		return bpf_map_lookup_and_delete_batch(
			fd, (void *)in, out, keys, values, count, &opts);
	return bpf_map_lookup_batch(fd, (void *)in, out, keys, values, count,
				    &opts);
}

bool map_batch_unsupported(int err)
{
	return err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP ||
	       err == -ITM_ENOTSUPP;
}

int drain_batch_probe(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo);
	struct itm_key keys[1];
	__u32 out, count = 1;
	void *values;
	int fd, err, ncpus = libbpf_num_possible_cpus();

	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	values = calloc((size_t)ncpus, ITM_PERCPU_STRIDE(struct itm_value));
	if (!values)
		return -ENOMEM;
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "itm_probe",
			    sizeof(struct itm_key), sizeof(struct itm_value), 1,
			    &mo);
	if (fd < 0) {
		err = -errno;
		free(values);
		return err;
	}
	err = batch_op(fd, true, NULL, &out, keys, values, &count,
		       features_test_refuses("batch"));
	close(fd);
	free(values);
	return err == -ENOENT ? 0 : err;
}

/*
 * The parallel drain: the map's buckets are cut into chunks that this
 * thread and a helper thread claim one at a time, so that whichever gets
 * more CPU empties more of them (on a machine where the second CPU is
 * shared, a fixed half would wait for the slower thread).  Every batch,
 * the helper's too, goes to fn in this thread (fn never runs
 * concurrently).  The batch cursor of a hash map is the index of the next
 * bucket: a chunk starts at its first bucket and ends once the cursor
 * passes its last.  A bucket two threads reach is emptied under its lock
 * by one of them, so every entry is taken once.  The helper hands its
 * batches over through two slots, which bounds the memory to two batches.
 */
#define DRAIN_CHUNKS 16

struct slot {
	struct itm_key *keys;
	void *values;
	__u32 count;
	bool full;
};

struct helper {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot slot[2];
	size_t batch;
	bool refuse;
	int fd;
	__u32 chunk, next; /* buckets per chunk; next chunk to claim */
	bool done, stop;
	int err;
};

/* Claim the next chunk's first bucket; false when none is left. */
static bool claim(struct helper *h, __u32 *from)
{
	if (h->stop || h->next >= DRAIN_CHUNKS)
		return false;
	*from = h->next++ * h->chunk;
	return true;
}

static void *helper_run(void *arg)
{
	struct helper *h = arg;
	__u32 in, out, count, to = 0;
	bool busy = false;
	int err = 0, i = 0;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		struct slot *s = &h->slot[i];

		if (!busy) {
			if (!claim(h, &in))
				break;
			to = in + h->chunk;
			busy = true;
		}
		while (s->full && !h->stop)
			pthread_cond_wait(&h->cond, &h->lock);
		if (h->stop)
			break;
		pthread_mutex_unlock(&h->lock);
		count = (__u32)h->batch;
		err = batch_op(h->fd, true, &in, &out, s->keys, s->values,
			       &count, h->refuse);
		pthread_mutex_lock(&h->lock);
		if (err && err != -ENOENT)
			break;
		s->count = count;
		s->full = count > 0;
		if (s->full)
			i ^= 1;
		pthread_cond_broadcast(&h->cond);
		if (err == -ENOENT || out >= to)
			busy = false;
		err = 0;
		in = out;
	}
	h->err = err;
	h->done = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Hand the helper's full slots to fn; wait for it to finish if "wait". */
static int helper_collect(struct helper *h, drain_batch_fn fn, void *ctx,
			  bool wait, int err)
{
	pthread_mutex_lock(&h->lock);
	for (;;) {
		bool any = false;

		for (int i = 0; i < 2; i++) {
			struct slot *s = &h->slot[i];
			int ferr;

			if (!s->full)
				continue;
			any = true;
			pthread_mutex_unlock(&h->lock);
			/* After an error, the rows are still delivered: they
			 * are gone from the map already. */
			ferr = fn(ctx, s->keys, s->values, s->count);
			pthread_mutex_lock(&h->lock);
			if (ferr && !err) {
				err = ferr;
				h->stop = true;
			}
			s->full = false;
			pthread_cond_broadcast(&h->cond);
		}
		if (!wait || (h->done && !h->slot[0].full && !h->slot[1].full))
			break;
		if (!any)
			pthread_cond_wait(&h->cond, &h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}

static int helper_start(struct helper *h, pthread_t *t, int fd, __u32 buckets,
			const struct drain_buf *b)
{
	size_t row = ITM_PERCPU_STRIDE(struct itm_value) * (size_t)b->ncpus;
	sigset_t all, old;
	int err;

	h->batch = b->batch;
	h->refuse = b->refuse_batch;
	h->fd = fd;
	h->chunk = buckets / DRAIN_CHUNKS;
	for (int i = 0; i < 2; i++) {
		h->slot[i].keys = calloc(b->batch, sizeof(struct itm_key));
		h->slot[i].values = calloc(b->batch, row);
		if (!h->slot[i].keys || !h->slot[i].values)
			return -ENOMEM;
	}
	err = -pthread_mutex_init(&h->lock, NULL);
	if (err)
		return err;
	err = -pthread_cond_init(&h->cond, NULL);
	if (err) {
		pthread_mutex_destroy(&h->lock);
		return err;
	}
	/* Signals stay with the daemon's own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(t, NULL, helper_run, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
	}
	return err;
}

static void helper_free(struct helper *h)
{
	for (int i = 0; i < 2; i++) {
		free(h->slot[i].keys);
		free(h->slot[i].values);
	}
}

/* Buckets of a hash map of fd (the kernel rounds max_entries up to a
 * power of two); 0 if unknown. */
static __u32 map_buckets(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), n = 1;

	if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
	    info.type != BPF_MAP_TYPE_PERCPU_HASH)
		return 0;
	while (n < info.max_entries && n < (1u << 31))
		n <<= 1;
	return n;
}

/*
 * Batch by batch from bucket "from" until the cursor reaches "to" (0: the
 * end); every batch to fn, and between batches the helper's (if any).
 * Returns 0, an error, or the error with *unsupported set when the first
 * call finds no batch operations.
 */
static int walk_range(int fd, bool take, struct drain_buf *b, drain_batch_fn fn,
		      void *ctx, __u32 from, __u32 to, struct helper *h,
		      bool *unsupported)
{
	__u32 out_batch, count, cursor = from;
	bool first = true;
	int err, ferr;

	for (;;) {
		count = (__u32)b->batch;
		err = batch_op(fd, take, &cursor, &out_batch, b->keys,
			       b->values, &count, b->refuse_batch);
		if (err && err != -ENOENT) {
			if (first && map_batch_unsupported(err))
				*unsupported = true;
			else if (take)
				pr_warn(_("draining a statistics map failed: %s\n"),
					strerror(-err));
			return err;
		}
		first = false;
		ferr = fn(ctx, b->keys, b->values, count);
		if (ferr)
			return ferr;
		if (h) {
			ferr = helper_collect(h, fn, ctx, false, 0);
			if (ferr)
				return ferr;
		}
		if (err == -ENOENT || (to && out_batch >= to))
			return 0;
		cursor = out_batch;
	}
}

int map_walk(int fd, bool take, struct drain_buf *b, drain_batch_fn fn,
	     void *ctx)
{
	bool unsupported = false;
	int err = walk_range(fd, take, b, fn, ctx, 0, 0, NULL, &unsupported);

	if (unsupported)
		return walk_by_key(fd, take, b, fn, ctx);
	return err;
}

int map_delete_keys(int fd, const struct itm_key *keys, size_t n)
{
	__u32 count = (__u32)n;
	int err;

	if (!n)
		return 0;
	if (n > UINT32_MAX)
		return -E2BIG;
	err = bpf_map_delete_batch(fd, keys, &count, NULL);
	if (!err)
		return 0;
	/* A key already gone stops the batch: the rest one by one. */
	if (err != -ENOENT && !map_batch_unsupported(err))
		return err;
	for (size_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, &keys[i]) && errno != ENOENT)
			return -errno;
	return 0;
}

/* This thread's share of the chunks. */
static int drain_chunks(int fd, struct drain_buf *b, drain_batch_fn fn,
			void *ctx, struct helper *h, bool *unsupported)
{
	__u32 from;
	bool more;
	int err;

	for (;;) {
		pthread_mutex_lock(&h->lock);
		more = claim(h, &from);
		pthread_mutex_unlock(&h->lock);
		if (!more)
			return 0;
		err = walk_range(fd, true, b, fn, ctx, from, from + h->chunk, h,
				 unsupported);
		if (err)
			return err;
	}
}

/* Maps smaller than this are drained by one thread: no time to gain. */
#define DRAIN_PARALLEL_MIN 16384

int drain_map(int fd, struct drain_buf *b, drain_batch_fn fn, void *ctx)
{
	__u32 buckets = map_buckets(fd);
	bool unsupported = false;
	struct helper h;
	struct itm_key key;
	pthread_t t;
	int err;

	memset(&h, 0, sizeof(h));
	if (buckets >= DRAIN_PARALLEL_MIN && buckets >= 4 * b->batch &&
	    !helper_start(&h, &t, fd, buckets, b)) {
		err = drain_chunks(fd, b, fn, ctx, &h, &unsupported);
		if (err) {
			pthread_mutex_lock(&h.lock);
			h.stop = true;
			pthread_cond_broadcast(&h.cond);
			pthread_mutex_unlock(&h.lock);
		}
		err = helper_collect(&h, fn, ctx, true, err);
		pthread_join(t, NULL);
		pthread_cond_destroy(&h.cond);
		pthread_mutex_destroy(&h.lock);
		helper_free(&h);
		if (!err && h.err) {
			err = h.err;
			if (map_batch_unsupported(err))
				unsupported = true;
			else
				pr_warn(_("draining a statistics map failed: %s\n"),
					strerror(-err));
		}
		if (unsupported)
			return walk_by_key(fd, true, b, fn, ctx);
		if (err)
			return err;
		/* Nothing is left unless the cursor means something else
		 * than a bucket index in this kernel: then take the rest. */
		if (bpf_map_get_next_key(fd, NULL, &key))
			return 0;
	} else {
		helper_free(&h);
	}
	return map_walk(fd, true, b, fn, ctx);
}

/* SPDX-License-Identifier: MIT */
/*
 * Emptying one per-CPU statistics map that no program writes any more
 * (the loader swapped it out): lookup-and-delete in batches, or key by key
 * on kernels without batch operations.  Maps of 16384 buckets or more are
 * emptied by two threads claiming chunks of buckets (the kernel's work is
 * memory-bound and per bucket: a second CPU shortens its wall time); the
 * callback still runs only in the caller's thread.  The daemon's collector and
 * bench/scale.c both drain through here.
 */
#ifndef ITM_DRAIN_H
#define ITM_DRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "itm_shared.h"

/* Scratch for one batch: keys and their per-CPU value rows. */
struct drain_buf {
	struct itm_key *keys;
	void *values; /* batch rows of ncpus * ITM_PERCPU_STRIDE(itm_value) */
	size_t batch;
	int ncpus;
	bool refuse_batch; /* ITM_TEST_REFUSE=batch: see kernel_features.h */
};

/* Receives each drained batch; a non-zero return stops the drain. */
typedef int (*drain_batch_fn)(void *ctx, const struct itm_key *keys,
			      const void *values, size_t count);

int drain_buf_init(struct drain_buf *b, size_t batch);
void drain_buf_free(struct drain_buf *b);
/*
 * Whether the kernel empties maps in batches (Linux >= 5.6): 0, or the
 * -errno it answers (drain_map() then goes key by key).
 */
int drain_batch_probe(void);
/*
 * Move every entry of fd into fn, batch by batch.  Returns 0, fn's error,
 * or -errno of the map operation (logged).  After fn's error the batches
 * already taken out of the map are still handed to fn; the rest stays in
 * the map.
 */
int drain_map(int fd, struct drain_buf *b, drain_batch_fn fn, void *ctx);

/*
 * The one place that falls back from batch operations to key by key:
 * every map walk of the daemon goes through these.
 *
 * Whether err, a batch operation's -errno, means the kernel has none
 * (Linux < 5.6: EINVAL; a map type without them: ENOTSUPP).
 */
bool map_batch_unsupported(int err);
/*
 * Hand every entry of fd to fn in batches of up to b->batch, taking them
 * out of the map (take: lookup and delete; nothing else may write the map)
 * or only reading them; with the batch operations, or key by key on
 * kernels without them.  One thread (drain_map() is the parallel take).
 * Returns 0, fn's error, or -errno of the map operation (logged when
 * taking, left to the caller when reading).
 */
int map_walk(int fd, bool take, struct drain_buf *b, drain_batch_fn fn,
	     void *ctx);
/*
 * Delete keys[0..n) from fd: in one batch, or one by one on kernels
 * without batch operations; keys already gone are not an error.  0 or
 * -errno.
 */
int map_delete_keys(int fd, const struct itm_key *keys, size_t n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Per-bucket splits of the counts one kernel map holds: what each drain
 * applied from the map, by the store bucket of that drain, kept until the
 * map's rows are committed.  They let a commit that comes late (a store
 * that was down) put every count into the bucket of the drain that read
 * it instead of the bucket of the commit.  persist.c owns them; they live
 * exactly as long as the map rows they describe wait in the kernel.
 */
#ifndef ITM_SPLITS_H
#define ITM_SPLITS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "itm_shared.h"

/* One (address, pid)'s counts in one bucket. */
struct split_cell {
	struct in6_addr addr;
	uint32_t pid;
	uint32_t pad;
	struct itm_value v;
};

/* One bucket of one map: cells in insertion order, indexed by key. */
struct split {
	int64_t ts; /* start of the bucket */
	struct split_cell *cells;
	size_t n, cap;
	struct hashmap idx;
};

/* The buckets of one map, oldest first. */
struct splits {
	struct split *s;
	size_t n, cap;
	size_t cells; /* in all buckets */
};

/*
 * Add delta d of key k to the bucket starting at ts (a new bucket when ts
 * is not the newest one's).  0 or -ENOMEM (then nothing was added).
 */
int splits_add(struct splits *l, int64_t ts, const struct itm_key *k,
	       const struct itm_value *d);
/* The cell of k in bucket s, or NULL. */
const struct split_cell *split_find(const struct split *s,
				    const struct itm_key *k);
/*
 * Fold the oldest bucket into the next one (the bound on memory); the
 * counts that moved are added to *moved.  Needs two buckets or more.
 */
int splits_merge_oldest(struct splits *l, struct itm_value *moved);
/* Drop every bucket. */
void splits_clear(struct splits *l);

#endif

// SPDX-License-Identifier: MIT
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_CAP 1024

ADDR_PID_HEAD(struct ip_entry);

int ip_table_init(struct ip_table *t, uint64_t threshold)
{
	memset(t, 0, sizeof(*t));
	t->threshold = threshold;
	t->entries = calloc(INITIAL_CAP, sizeof(*t->entries));
	t->exported = calloc(INITIAL_CAP, sizeof(*t->exported));
	if (!t->entries || !t->exported || hashmap_init(&t->map, INITIAL_CAP)) {
		free(t->entries);
		free(t->exported);
		memset(t, 0, sizeof(*t));
		return -ENOMEM;
	}
	t->cap = INITIAL_CAP;
	return 0;
}

void ip_table_free(struct ip_table *t)
{
	free(t->entries);
	hashmap_free(&t->map);
	free(t->exported);
	free(t->scratch);
	memset(t, 0, sizeof(*t));
}

void ip_table_clear(struct ip_table *t)
{
	hashmap_clear(&t->map);
	t->count = 0;
	t->n_exported = 0;
}

struct ip_entry *ip_table_find_pid(const struct ip_table *t,
				   const struct in6_addr *addr, uint32_t pid)
{
	struct addr_rows rows = ADDR_ROWS(t->entries);
	struct addr_pid k = {*addr, pid};
	uint32_t pos;

	if (!hashmap_find(&t->map, hash_addr(addr, pid), addr_rows_eq, &rows,
			  &k, &pos))
		return NULL;
	return &t->entries[pos];
}

struct ip_entry *ip_table_find(const struct ip_table *t,
			       const struct in6_addr *addr)
{
	return ip_table_find_pid(t, addr, 0);
}

/*
 * Double the capacity, or leave the entries exactly as they were: the
 * exported positions and the index grow first, and after a failure they
 * only have more room than the entries need.
 */
static int grow(struct ip_table *t)
{
	struct addr_rows rows = ADDR_ROWS(t->entries);
	size_t cap = t->cap * 2;
	struct ip_entry *e;
	uint32_t *x;

	if (t->max_entries && cap > t->max_entries)
		cap = t->max_entries;
	if (cap <= t->cap)
		return -ENOMEM;
	/* The exported positions first: they may be more than needed. */
	x = realloc(t->exported, cap * sizeof(*x));
	if (!x)
		return -ENOMEM;
	t->exported = x;
	e = hashmap_grow_array(&t->map, t->entries, t->count, cap, sizeof(*e),
			       addr_rows_hash, &rows);
	if (!e)
		return -ENOMEM;
	t->entries = e;
	t->cap = cap;
	return 0;
}

int ip_table_set_limit(struct ip_table *t, size_t max)
{
	uint32_t *scratch = NULL;

	if (max) {
		scratch = calloc(max, sizeof(*scratch));
		if (!scratch)
			return -ENOMEM;
	}
	free(t->scratch);
	t->scratch = scratch;
	t->max_entries = max;
	return 0;
}

static void add_value(struct itm_value *to, const struct itm_value *v)
{
	to->tx_bytes += v->tx_bytes;
	to->tx_packets += v->tx_packets;
	to->rx_bytes += v->rx_bytes;
	to->rx_packets += v->rx_packets;
}

/*
 * The k-th smallest (0-based) of a[0..n), n > k: quickselect with a
 * three-way partition, linear even when most values are equal (a flood
 * inserts a whole drain's worth of addresses with the same age).
 */
static uint32_t kth_smallest(uint32_t *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		uint32_t p = a[lo + (hi - lo) / 2], tmp;
		size_t lt = lo, i = lo, gt = hi;

		while (i < gt) {
			if (a[i] < p) {
				tmp = a[lt];
				a[lt++] = a[i];
				a[i++] = tmp;
			} else if (a[i] > p) {
				tmp = a[--gt];
				a[gt] = a[i];
				a[i] = tmp;
			} else {
				i++;
			}
		}
		if (k < lt)
			hi = lt;
		else if (k >= gt)
			lo = gt;
		else
			return p;
	}
	return a[lo];
}

struct evict_ctx {
	struct ip_table *t;
	uint32_t cutoff;  /* evict entries idle since before this gen ... */
	size_t at_cutoff; /* ... and this many (oldest first) seen at it */
};

static bool evict_one(const struct ip_entry *e, void *arg)
{
	struct evict_ctx *c = arg;
	struct itm_value v = {e->tx_bytes, e->tx_packets, e->rx_bytes,
			      e->rx_packets};

	if (e->exported || e->seen > c->cutoff)
		return false;
	if (e->seen == c->cutoff) {
		if (!c->at_cutoff)
			return false;
		c->at_cutoff--;
	}
	add_value(&c->t->evicted, &v);
	c->t->n_evicted++;
	return true;
}

/*
 * Make room for new entries: drop the 1/16 of the table that has been
 * idle longest, among the entries never exported (a series must not
 * vanish).  Ties go in table order, which is insertion order.  Returns
 * how many went; 0 when every entry is exported.
 */
static size_t evict(struct ip_table *t)
{
	size_t n = 0, want = t->count / 16 ? t->count / 16 : 1, below = 0;
	struct evict_ctx c = {.t = t};

	for (size_t i = 0; i < t->count; i++)
		if (!t->entries[i].exported)
			t->scratch[n++] = t->entries[i].seen;
	if (!n)
		return 0;
	if (want > n)
		want = n;
	c.cutoff = kth_smallest(t->scratch, n, want - 1);
	for (size_t i = 0; i < t->count; i++)
		if (!t->entries[i].exported && t->entries[i].seen < c.cutoff)
			below++;
	c.at_cutoff = want - below;
	return ip_table_remove_if(t, evict_one, &c);
}

struct ip_entry *ip_table_upsert_pid(struct ip_table *t,
				     const struct in6_addr *addr, uint32_t pid)
{
	struct ip_entry *e = ip_table_find_pid(t, addr, pid);

	if (e)
		return e;
	if (t->max_entries && t->count >= t->max_entries && !evict(t)) {
		errno = ENOSPC;
		return NULL;
	}
	if (t->count == t->cap) {
		/*
		 * Out of memory: one attempt per drain, not one per new
		 * address (each failing attempt costs several syscalls, and
		 * a flood brings tens of thousands).
		 */
		if ((t->grow_failed && t->grow_failed_gen == t->gen) ||
		    grow(t)) {
			t->grow_failed = true;
			t->grow_failed_gen = t->gen;
			errno = ENOMEM;
			return NULL;
		}
		t->grow_failed = false;
	}
	e = &t->entries[t->count];
	memset(e, 0, sizeof(*e));
	e->addr = *addr;
	e->pid = pid;
	e->seen = t->gen;
	hashmap_insert(&t->map, hash_addr(addr, pid), (uint32_t)t->count++);
	return e;
}

struct ip_entry *ip_table_upsert(struct ip_table *t,
				 const struct in6_addr *addr)
{
	return ip_table_upsert_pid(t, addr, 0);
}

size_t ip_table_remove_if(struct ip_table *t,
			  bool (*drop)(const struct ip_entry *e, void *ctx),
			  void *ctx)
{
	struct addr_rows rows;
	size_t kept = 0, removed;

	for (size_t i = 0; i < t->count; i++) {
		if (drop(&t->entries[i], ctx))
			continue;
		if (kept != i)
			t->entries[kept] = t->entries[i];
		kept++;
	}
	removed = t->count - kept;
	if (!removed)
		return 0;
	t->count = kept;
	/* Same size: rebuilding in place cannot fail for lack of memory. */
	rows = ADDR_ROWS(t->entries);
	hashmap_reindex(&t->map, t->count, addr_rows_hash, &rows);
	t->n_exported = 0;
	for (size_t i = 0; i < t->count; i++)
		if (t->entries[i].exported)
			t->exported[t->n_exported++] = (uint32_t)i;
	return removed;
}

void itm_value_sum_percpu(const void *row, int ncpus, struct itm_value *sum)
{
	const size_t stride = ITM_PERCPU_STRIDE(struct itm_value);

	memset(sum, 0, sizeof(*sum));
	for (int cpu = 0; cpu < ncpus; cpu++) {
		struct itm_value v;

		memcpy(&v, (const char *)row + cpu * stride, sizeof(v));
		sum->tx_bytes += v.tx_bytes;
		sum->tx_packets += v.tx_packets;
		sum->rx_bytes += v.rx_bytes;
		sum->rx_packets += v.rx_packets;
	}
}

void itm_counter_sum_percpu(const void *row, int ncpus, struct itm_counter *sum)
{
	const size_t stride = ITM_PERCPU_STRIDE(struct itm_counter);

	memset(sum, 0, sizeof(*sum));
	for (int cpu = 0; cpu < ncpus; cpu++) {
		struct itm_counter v;

		memcpy(&v, (const char *)row + cpu * stride, sizeof(v));
		sum->packets += v.packets;
		sum->bytes += v.bytes;
	}
}

/* pid_table: t is keyed by (address, pid) and its entries get names. */
static int merge_one(struct ip_table *t, bool pid_table,
		     const struct in6_addr *addr, uint32_t pid,
		     const struct itm_value *sum,
		     const struct ip_merge_hooks *hooks)
{
	struct ip_entry *e = ip_table_find_pid(t, addr, pid);

	if (!e) {
		e = ip_table_upsert_pid(t, addr, pid);
		if (!e) {
			/* Counted all the same, in the aggregate. */
			t->n_refused++;
			t->alloc_failures += errno == ENOMEM;
			add_value(&t->evicted, sum);
			add_value(&t->sum, sum);
			return 0;
		}
		/* Only new entries: lookups are the expensive part. */
		if (!pid_table && hooks && hooks->label)
			e->geo = hooks->label(hooks->label_ctx, addr);
		if (pid_table && hooks && hooks->name)
			hooks->name(hooks->name_ctx, pid, e->comm);
	}
	ip_entry_account(t, e, sum);
	return 0;
}

int ip_table_merge_batch(struct ip_table *t, struct ip_table *procs,
			 const struct itm_key *keys, const void *values,
			 size_t count, int ncpus,
			 const struct ip_merge_hooks *hooks)
{
	const size_t row = ITM_PERCPU_STRIDE(struct itm_value) * (size_t)ncpus;

	for (size_t i = 0; i < count; i++) {
		struct itm_value sum;
		struct in6_addr addr;
		int err;

		itm_value_sum_percpu((const char *)values + i * row, ncpus,
				     &sum);
		memcpy(&addr, keys[i].addr, sizeof(addr));
		err = merge_one(t, false, &addr, 0, &sum, hooks);
		if (!err && procs)
			err = merge_one(procs, true, &addr, keys[i].pid, &sum,
					hooks);
		if (err)
			return err;
	}
	return 0;
}

void ip_entry_account(struct ip_table *t, struct ip_entry *e,
		      const struct itm_value *delta)
{
	e->tx_bytes += delta->tx_bytes;
	e->tx_packets += delta->tx_packets;
	e->rx_bytes += delta->rx_bytes;
	e->rx_packets += delta->rx_packets;
	e->seen = t->gen;
	add_value(&t->sum, delta);
	if (!e->exported && ip_entry_total_bytes(e) >= t->threshold) {
		e->exported = true;
		t->exported[t->n_exported++] = (uint32_t)(e - t->entries);
	}
}

int ip_table_add(struct ip_table *t, const struct in6_addr *addr,
		 const struct itm_value *delta)
{
	struct ip_entry *e = ip_table_upsert(t, addr);

	if (!e)
		return -ENOMEM;
	ip_entry_account(t, e, delta);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The loader's own table of cumulative per-remote-address counters.
 * Entries live in one dense array (cheap to scan for /metrics and the
 * summaries); an open-addressing index maps an address to its entry.
 * Not thread-safe: callers hold the collector's lock.
 */
#ifndef ITM_TABLE_H
#define ITM_TABLE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "itm_shared.h"

struct geo_labels;

struct ip_entry {
	struct in6_addr addr; /* IPv4 as ::ffff:a.b.c.d */
	uint32_t pid;	      /* 0 in the per-address table */
	uint32_t seen;	      /* ip_table.gen of its last traffic */
	uint64_t tx_bytes;
	uint64_t tx_packets;
	uint64_t rx_bytes;
	uint64_t rx_packets;
	/* Labels from the geo layer; NULL means every label is "Unknown". */
	const struct geo_labels *geo;
	/* tx+rx bytes reached the export threshold once; never cleared. */
	bool exported;
	/* Per-process table only: command name of pid. */
	char comm[ITM_COMM_LEN];
};

struct ip_table {
	struct ip_entry *entries;
	size_t count;
	size_t cap;
	struct hashmap map; /* (address, pid) -> entry; room for cap entries */
	uint64_t threshold; /* export threshold in bytes (-t) */
	/*
	 * Positions of the exported entries, so that a scrape walks only
	 * them; sized like entries, so appending never allocates.
	 */
	uint32_t *exported;
	size_t n_exported;
	/* Everything ever accounted, removed entries included. */
	struct itm_value sum;
	/*
	 * At most max_entries entries (0: no limit).  A merge that needs a
	 * new entry past it first evicts the longest-idle entries that were
	 * never exported; their counts, and those of addresses that find no
	 * entry at all (every one exported, or out of memory), go to
	 * evicted.  So sum = entries + evicted, exactly, at all times.
	 */
	size_t max_entries;
	uint32_t gen; /* advanced once per drain (ip_table_tick) */
	struct itm_value evicted;
	uint64_t n_evicted;	 /* entries evicted */
	uint64_t n_refused;	 /* merges that found no entry */
	uint64_t alloc_failures; /* of those, for lack of memory */
	uint32_t *scratch;	 /* eviction: idle times, max_entries */
	/* Growth failed in this drain (gen): fail fast until the next one. */
	bool grow_failed;
	uint32_t grow_failed_gen;
};

int ip_table_init(struct ip_table *t, uint64_t threshold);
/* Cap the table at max entries (0: none); 0 or -ENOMEM. */
int ip_table_set_limit(struct ip_table *t, size_t max);
/* A new drain: entries merged from now on are seen "now". */
static inline void ip_table_tick(struct ip_table *t)
{
	t->gen++;
}
void ip_table_free(struct ip_table *t);
/* Drop every entry (the totals and the evicted counts stay). */
void ip_table_clear(struct ip_table *t);
struct ip_entry *ip_table_find(const struct ip_table *t,
			       const struct in6_addr *addr);
/* The (address, pid)-keyed variants the per-process table uses. */
struct ip_entry *ip_table_find_pid(const struct ip_table *t,
				   const struct in6_addr *addr, uint32_t pid);
struct ip_entry *ip_table_upsert_pid(struct ip_table *t,
				     const struct in6_addr *addr, uint32_t pid);
/* Drop every entry for which drop() is true; returns how many went. */
size_t ip_table_remove_if(struct ip_table *t,
			  bool (*drop)(const struct ip_entry *e, void *ctx),
			  void *ctx);
/*
 * Find or insert (zeroed); NULL with errno=ENOMEM on allocation failure,
 * or ENOSPC when the table is at its limit and nothing can be evicted.
 */
struct ip_entry *ip_table_upsert(struct ip_table *t,
				 const struct in6_addr *addr);
/*
 * The stride of per-CPU values as bpf_map_lookup(_and_delete)(_batch)()
 * copies them: one slot per possible CPU, each rounded up to 8 bytes.
 */
#define ITM_PERCPU_STRIDE(type) ((sizeof(type) + 7) & ~(size_t)7)

/* Sum one per-CPU row: ncpus values ITM_PERCPU_STRIDE() apart. */
void itm_value_sum_percpu(const void *row, int ncpus, struct itm_value *sum);
void itm_counter_sum_percpu(const void *row, int ncpus,
			    struct itm_counter *sum);

/* Called once for each entry a merge inserts. */
typedef const struct geo_labels *(*ip_label_fn)(void *ctx,
						const struct in6_addr *addr);
typedef void (*ip_name_fn)(void *ctx, uint32_t pid, char comm[ITM_COMM_LEN]);

struct ip_merge_hooks {
	ip_label_fn label; /* NULL: every label "Unknown" */
	void *label_ctx;
	ip_name_fn name; /* NULL: comm stays empty */
	void *name_ctx;
};

/*
 * Merge one drained batch: keys[i] and its per-CPU row of ncpus values
 * (values + i * ncpus * ITM_PERCPU_STRIDE(struct itm_value)).  Sums go to
 * t by address and, when procs is not NULL, to procs by (address, pid).
 * hooks may be NULL.  Counts that find no entry go to evicted; nothing
 * is lost, and it returns 0.
 */
int ip_table_merge_batch(struct ip_table *t, struct ip_table *procs,
			 const struct itm_key *keys, const void *values,
			 size_t count, int ncpus,
			 const struct ip_merge_hooks *hooks);

/* Add a drained delta to e's totals and update its export flag. */
void ip_entry_account(struct ip_table *t, struct ip_entry *e,
		      const struct itm_value *delta);
/* The same by address, inserting it first if needed. */
int ip_table_add(struct ip_table *t, const struct in6_addr *addr,
		 const struct itm_value *delta);

static inline uint64_t ip_entry_total_bytes(const struct ip_entry *e)
{
	return e->tx_bytes + e->rx_bytes;
}

#endif

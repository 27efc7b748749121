/* SPDX-License-Identifier: MIT */
/*
 * The dimension ids a writer already knows, so a flush asks the database
 * only for new addresses and processes: (address, labels pointer) ->
 * addrs.id and (pid, process) -> procs.id.  A labels pointer is stable
 * for an address while the daemon runs (the table keeps the labels an
 * address was first seen with), so it stands for the label strings.
 * Both backends use it: the ids in an array, found through a hashmap.
 */
#ifndef ITM_STORE_IDS_H
#define ITM_STORE_IDS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "itm_shared.h"

struct geo_labels;

struct store_id_key {
	struct in6_addr addr;
	const void *geo;
	uint32_t pid;
	char comm[ITM_COMM_LEN];
};

struct store_id_ent {
	struct store_id_key key;
	int64_t id;
};

/* All zero is an empty cache. */
struct store_ids {
	struct store_id_ent *ent;
	size_t n, cap;
	struct hashmap index;
};

/* Keys are compared as bytes: build them with these two only. */
void store_id_addr(struct store_id_key *k, const struct in6_addr *addr,
		   const struct geo_labels *geo);
/* process NULL or "": "-", as stored. */
void store_id_proc(struct store_id_key *k, uint32_t pid, const char *process);

/* The id, or 0 when unknown. */
int64_t store_ids_get(const struct store_ids *c, const struct store_id_key *k);
/*
 * Remember the id of k, which store_ids_get() does not know yet.  A failed
 * insert (no memory) only costs a later database lookup.
 */
void store_ids_put(struct store_ids *c, const struct store_id_key *k,
		   int64_t id);
void store_ids_clear(struct store_ids *c);

#endif

// SPDX-License-Identifier: MIT
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_CAP 1024

/* 64-bit mix of the address; addresses are attacker-chosen, so mix fully. */
static uint64_t addr_hash(const struct in6_addr *a)
{
	uint64_t lo, hi, h;

	memcpy(&lo, a->s6_addr, 8);
	memcpy(&hi, a->s6_addr + 8, 8);
	h = lo * 0x9e3779b97f4a7c15ULL ^ hi;
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	return h;
}

static int index_rebuild(struct ip_table *t, size_t slots)
{
	uint32_t *idx = calloc(slots, sizeof(*idx));
	size_t mask = slots - 1;

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < t->count; i++) {
		size_t s = addr_hash(&t->entries[i].addr) & mask;

		while (idx[s])
			s = (s + 1) & mask;
		idx[s] = (uint32_t)(i + 1);
	}
	free(t->index);
	t->index = idx;
	t->index_mask = mask;
	return 0;
}

int ip_table_init(struct ip_table *t, uint64_t threshold)
{
	memset(t, 0, sizeof(*t));
	t->threshold = threshold;
	t->entries = calloc(INITIAL_CAP, sizeof(*t->entries));
	if (!t->entries)
		return -ENOMEM;
	t->cap = INITIAL_CAP;
	if (index_rebuild(t, INITIAL_CAP * 2)) {
		free(t->entries);
		t->entries = NULL;
		return -ENOMEM;
	}
	return 0;
}

void ip_table_free(struct ip_table *t)
{
	free(t->entries);
	free(t->index);
	memset(t, 0, sizeof(*t));
}

struct ip_entry *ip_table_find(const struct ip_table *t,
			       const struct in6_addr *addr)
{
	size_t s = addr_hash(addr) & t->index_mask;

	for (;;) {
		uint32_t pos = t->index[s];

		if (!pos)
			return NULL;
		if (!memcmp(&t->entries[pos - 1].addr, addr, sizeof(*addr)))
			return &t->entries[pos - 1];
		s = (s + 1) & t->index_mask;
	}
}

static int grow(struct ip_table *t)
{
	size_t cap = t->cap * 2;
	struct ip_entry *e;

	if (cap > UINT32_MAX - 1)
		return -ENOMEM;
	e = realloc(t->entries, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	t->entries = e;
	t->cap = cap;
	/* Keep the index at most half full so probe chains stay short. */
	return index_rebuild(t, cap * 2);
}

struct ip_entry *ip_table_upsert(struct ip_table *t,
				 const struct in6_addr *addr)
{
	struct ip_entry *e = ip_table_find(t, addr);
	size_t s;

	if (e)
		return e;
	if (t->count == t->cap && grow(t)) {
		errno = ENOMEM;
		return NULL;
	}
	e = &t->entries[t->count];
	memset(e, 0, sizeof(*e));
	e->addr = *addr;
	s = addr_hash(addr) & t->index_mask;
	while (t->index[s])
		s = (s + 1) & t->index_mask;
	t->index[s] = (uint32_t)(++t->count);
	return e;
}

void ip_entry_account(const struct ip_table *t, struct ip_entry *e,
		      const struct itm_value *delta)
{
	e->tx_bytes += delta->tx_bytes;
	e->tx_packets += delta->tx_packets;
	e->rx_bytes += delta->rx_bytes;
	e->rx_packets += delta->rx_packets;
	if (!e->exported && ip_entry_total_bytes(e) >= t->threshold)
		e->exported = true;
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

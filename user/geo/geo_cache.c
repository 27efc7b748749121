// SPDX-License-Identifier: MIT
/*
 * Interned strings and label tuples, and the address → labels cache.
 *
 * Interned objects are never freed before geo_close(): the daemon keeps
 * pointers to them in its table, across reloads and cache flushes.  There
 * are few distinct tuples (places × carriers), so this stays small even
 * when millions of addresses pass through the cache.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geo_int.h"

/* Bounded so a scan of the whole Internet cannot eat the host's memory. */
#define CACHE_MAX_ENTRIES (1u << 21)

/* FNV-1a: short keys, no adversary who benefits from collisions here. */
static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ULL;
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

/* A set of pointers; eq/hash decide what the pointers mean. */
struct pset {
	void **slot;
	size_t cap, n;
};

static int pset_grow(struct pset *s, uint64_t (*hash)(const void *))
{
	size_t cap = s->cap ? s->cap * 2 : 256, i, j;
	void **slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (i = 0; i < s->cap; i++) {
		if (!s->slot[i])
			continue;
		for (j = hash(s->slot[i]) & (cap - 1); slot[j];
		     j = (j + 1) & (cap - 1))
			;
		slot[j] = s->slot[i];
	}
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	return 0;
}

static void pset_free(struct pset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
}

static uint64_t str_hash(const void *p)
{
	return hash_bytes(p, strlen(p), FNV_INIT);
}

static uint64_t labels_hash(const void *p)
{
	return hash_bytes(p, sizeof(struct geo_labels), FNV_INIT);
}

struct geo_intern {
	struct pset strs;
	struct pset labels;
};

struct geo_intern *geo_intern_new(void)
{
	return calloc(1, sizeof(struct geo_intern));
}

void geo_intern_free(struct geo_intern *in)
{
	if (!in)
		return;
	pset_free(&in->strs);
	pset_free(&in->labels);
	free(in);
}

const char *geo_intern_str(struct geo_intern *in, const char *s)
{
	struct pset *set = &in->strs;
	size_t i;
	char *copy;

	if ((set->n + 1) * 2 > set->cap && pset_grow(set, str_hash))
		return NULL;
	for (i = str_hash(s) & (set->cap - 1); set->slot[i];
	     i = (i + 1) & (set->cap - 1))
		if (!strcmp(set->slot[i], s))
			return set->slot[i];
	copy = strdup(s);
	if (!copy)
		return NULL;
	set->slot[i] = copy;
	set->n++;
	return copy;
}

/* Fields are interned strings, so comparing pointers compares contents. */
const struct geo_labels *geo_intern_labels(struct geo_intern *in,
					   const struct geo_labels *l)
{
	struct pset *set = &in->labels;
	struct geo_labels *copy;
	size_t i;

	if ((set->n + 1) * 2 > set->cap && pset_grow(set, labels_hash))
		return NULL;
	for (i = labels_hash(l) & (set->cap - 1); set->slot[i];
	     i = (i + 1) & (set->cap - 1))
		if (!memcmp(set->slot[i], l, sizeof(*l)))
			return set->slot[i];
	copy = malloc(sizeof(*copy));
	if (!copy)
		return NULL;
	*copy = *l;
	set->slot[i] = copy;
	set->n++;
	return copy;
}

struct cache_ent {
	struct in6_addr addr;
	const struct geo_labels *l; /* NULL = empty slot */
};

struct geo_cache {
	struct cache_ent *ent;
	size_t cap, n;
};

struct geo_cache *geo_cache_new(void)
{
	return calloc(1, sizeof(struct geo_cache));
}

void geo_cache_free(struct geo_cache *c)
{
	if (!c)
		return;
	free(c->ent);
	free(c);
}

void geo_cache_clear(struct geo_cache *c)
{
	if (c->ent)
		memset(c->ent, 0, c->cap * sizeof(*c->ent));
	c->n = 0;
}

static size_t addr_slot(const struct in6_addr *a, size_t cap)
{
	return hash_bytes(a, sizeof(*a), FNV_INIT) & (cap - 1);
}

const struct geo_labels *geo_cache_find(struct geo_cache *c,
					const struct in6_addr *a)
{
	size_t i;

	if (!c->cap)
		return NULL;
	for (i = addr_slot(a, c->cap); c->ent[i].l; i = (i + 1) & (c->cap - 1))
		if (!memcmp(&c->ent[i].addr, a, sizeof(*a)))
			return c->ent[i].l;
	return NULL;
}

static int cache_grow(struct geo_cache *c)
{
	size_t cap = c->cap ? c->cap * 2 : 1024, i, j;
	struct cache_ent *ent = calloc(cap, sizeof(*ent));

	if (!ent)
		return -ENOMEM;
	for (i = 0; i < c->cap; i++) {
		if (!c->ent[i].l)
			continue;
		for (j = addr_slot(&c->ent[i].addr, cap); ent[j].l;
		     j = (j + 1) & (cap - 1))
			;
		ent[j] = c->ent[i];
	}
	free(c->ent);
	c->ent = ent;
	c->cap = cap;
	return 0;
}

/* Best effort: on ENOMEM the address is simply looked up again later. */
void geo_cache_put(struct geo_cache *c, const struct in6_addr *a,
		   const struct geo_labels *l)
{
	size_t i;

	if (c->n >= CACHE_MAX_ENTRIES)
		geo_cache_clear(c);
	if ((c->n + 1) * 2 > c->cap && cache_grow(c))
		return;
	for (i = addr_slot(a, c->cap); c->ent[i].l; i = (i + 1) & (c->cap - 1))
		if (!memcmp(&c->ent[i].addr, a, sizeof(*a)))
			break;
	if (!c->ent[i].l)
		c->n++;
	c->ent[i].addr = *a;
	c->ent[i].l = l;
}

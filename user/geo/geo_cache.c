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
#include "hashmap.h"

/* Bounded so a scan of the whole Internet cannot eat the host's memory. */
#define CACHE_MAX_ENTRIES (1u << 21)

/*
 * A set of pointers in insertion order, found through the index; hash and
 * eq decide what the pointers mean (strings, label tuples).
 */
struct pset {
	void **item;
	size_t n, cap;
	struct hashmap index;
	uint64_t (*hash)(const void *p);
	bool (*eq)(const void *a, const void *b);
};

static uint64_t pset_hash(const void *ctx, uint32_t pos)
{
	const struct pset *s = ctx;

	return s->hash(s->item[pos]);
}

static bool pset_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct pset *s = ctx;

	return s->eq(s->item[pos], key);
}

/*
 * The member equal to key, or a new one from copy(key) (NULL when out of
 * memory).
 */
static const void *pset_intern(struct pset *s, const void *key,
			       void *(*copy)(const void *key))
{
	uint64_t h = s->hash(key);
	void *c, **item;
	uint32_t pos;

	if (hashmap_find(&s->index, h, pset_eq, s, key, &pos))
		return s->item[pos];
	item = hashmap_array_room(&s->index, s->item, s->n, &s->cap, 128,
				  sizeof(*item), pset_hash, s);
	if (!item)
		return NULL;
	s->item = item;
	c = copy(key);
	if (!c)
		return NULL;
	s->item[s->n] = c;
	hashmap_insert(&s->index, h, (uint32_t)s->n++);
	return c;
}

static void pset_free(struct pset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->item[i]);
	free(s->item);
	hashmap_free(&s->index);
}

static uint64_t str_hash(const void *p)
{
	return hash_fnv1a(p, strlen(p));
}

static bool str_eq(const void *a, const void *b)
{
	return !strcmp(a, b);
}

static void *str_copy(const void *p)
{
	return strdup(p);
}

static uint64_t labels_hash(const void *p)
{
	return hash_fnv1a(p, sizeof(struct geo_labels));
}

static bool labels_eq(const void *a, const void *b)
{
	return !memcmp(a, b, sizeof(struct geo_labels));
}

static void *labels_copy(const void *p)
{
	struct geo_labels *copy = malloc(sizeof(*copy));

	if (copy)
		*copy = *(const struct geo_labels *)p;
	return copy;
}

struct geo_intern {
	struct pset strs;
	struct pset labels;
};

struct geo_intern *geo_intern_new(void)
{
	static const struct geo_intern empty = {
		.strs = {.hash = str_hash, .eq = str_eq},
		.labels = {.hash = labels_hash, .eq = labels_eq},
	};
	struct geo_intern *in = malloc(sizeof(*in));

	if (in)
		*in = empty;
	return in;
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
	return pset_intern(&in->strs, s, str_copy);
}

/* Fields are interned strings, so comparing pointers compares contents. */
const struct geo_labels *geo_intern_labels(struct geo_intern *in,
					   const struct geo_labels *l)
{
	return pset_intern(&in->labels, l, labels_copy);
}

struct cache_ent {
	struct in6_addr addr;
	const struct geo_labels *l;
};

/* Addresses in the order they were first looked up, and their index. */
struct geo_cache {
	struct cache_ent *ent;
	size_t n, cap;
	struct hashmap index;
};

static uint64_t addr_key_hash(const struct in6_addr *a)
{
	return hash_fnv1a(a, sizeof(*a));
}

static uint64_t ent_hash(const void *ctx, uint32_t pos)
{
	return addr_key_hash(&((const struct geo_cache *)ctx)->ent[pos].addr);
}

static bool ent_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct geo_cache *c = ctx;

	return !memcmp(&c->ent[pos].addr, key, sizeof(struct in6_addr));
}

struct geo_cache *geo_cache_new(void)
{
	return calloc(1, sizeof(struct geo_cache));
}

void geo_cache_free(struct geo_cache *c)
{
	if (!c)
		return;
	free(c->ent);
	hashmap_free(&c->index);
	free(c);
}

void geo_cache_clear(struct geo_cache *c)
{
	hashmap_clear(&c->index);
	c->n = 0;
}

const struct geo_labels *geo_cache_find(struct geo_cache *c,
					const struct in6_addr *a)
{
	uint32_t pos;

	if (!hashmap_find(&c->index, addr_key_hash(a), ent_eq, c, a, &pos))
		return NULL;
	return c->ent[pos].l;
}

/* Best effort: on ENOMEM the address is simply looked up again later. */
void geo_cache_put(struct geo_cache *c, const struct in6_addr *a,
		   const struct geo_labels *l)
{
	uint64_t h = addr_key_hash(a);
	struct cache_ent *ent;
	uint32_t pos;

	if (hashmap_find(&c->index, h, ent_eq, c, a, &pos)) {
		c->ent[pos].l = l;
		return;
	}
	if (c->n >= CACHE_MAX_ENTRIES)
		geo_cache_clear(c);
	ent = hashmap_array_room(&c->index, c->ent, c->n, &c->cap, 512,
				 sizeof(*ent), ent_hash, c);
	if (!ent)
		return;
	c->ent = ent;
	c->ent[c->n].addr = *a;
	c->ent[c->n].l = l;
	hashmap_insert(&c->index, h, (uint32_t)c->n++);
}

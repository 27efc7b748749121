/* SPDX-License-Identifier: MIT */
/*
 * The one hash table of the daemon: an open-addressing index (linear
 * probing, a power-of-two number of slots) from keys to positions in an
 * array the caller owns.  The caller keeps its elements where it wants
 * them (dense, in insertion order, cheap to scan for /metrics); the index
 * only finds them.  It stores no keys: hash and equality are the
 * caller's, and hashmap_find() is inline so that a constant eq() is
 * inlined with it and a lookup costs what a hand-written probe loop costs.
 *
 * The index is kept at most half full (hashmap_reserve()), so probe chains
 * stay short and every probe ends at an empty slot.  A deletion shifts the
 * rest of its chain back: there are no tombstones to sweep.
 *
 * The caller's array is dense: an index of k elements holds positions
 * 0 .. k-1, and k is the caller's count (the index keeps none, so emptying
 * it is hashmap_clear()).  A deletion fills its hole with the last element
 * (hashmap_delete(), then hashmap_move()).  Growing rehashes in position
 * order, reading the array front to back instead of at random.
 */
#ifndef ITM_HASHMAP_H
#define ITM_HASHMAP_H

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct hashmap {
	uint32_t *slot; /* element position + 1; 0 marks an empty slot */
	size_t mask;	/* number of slots - 1 */
};

/* The positions an index holds are 0 .. HASHMAP_MAX_POS. */
#define HASHMAP_MAX_POS (UINT32_MAX - 1)

/* The hash of the element at pos (to move it when the index grows). */
typedef uint64_t (*hashmap_hash_fn)(const void *ctx, uint32_t pos);
/* Whether the element at pos has this key. */
typedef bool (*hashmap_eq_fn)(const void *ctx, uint32_t pos, const void *key);

/* An empty index with room for n positions; 0 or -ENOMEM. */
int hashmap_init(struct hashmap *m, size_t n);
void hashmap_free(struct hashmap *m);
void hashmap_clear(struct hashmap *m);

/* How many positions fit before hashmap_reserve() must grow it. */
static inline size_t hashmap_capacity(const struct hashmap *m)
{
	return m->slot ? (m->mask + 1) / 2 : 0;
}

/*
 * Find the position of key: true and *pos, or false.  hash is the key's
 * hash as hash_fn would compute it for its element.
 */
static inline bool hashmap_find(const struct hashmap *m, uint64_t hash,
				hashmap_eq_fn eq, const void *ctx,
				const void *key, uint32_t *pos)
{
	if (!m->slot)
		return false;
	for (size_t s = hash & m->mask; m->slot[s]; s = (s + 1) & m->mask) {
		if (eq(ctx, m->slot[s] - 1, key)) {
			*pos = m->slot[s] - 1;
			return true;
		}
	}
	return false;
}

/*
 * Index pos under hash.  The caller made room (hashmap_reserve()) and
 * knows the key is not there yet.
 */
static inline void hashmap_insert(struct hashmap *m, uint64_t hash,
				  uint32_t pos)
{
	size_t s = hash & m->mask;

	while (m->slot[s])
		s = (s + 1) & m->mask;
	m->slot[s] = pos + 1;
}

/*
 * Clear, then index positions 0 .. n-1 (n <= hashmap_capacity()).  Inline,
 * like the two below, so that a constant hash() is inlined into the loop
 * that rehashes a whole table.
 */
static inline void hashmap_reindex(struct hashmap *m, size_t n,
				   hashmap_hash_fn hash, const void *ctx)
{
	hashmap_clear(m);
	for (size_t i = 0; i < n; i++)
		hashmap_insert(m, hash(ctx, (uint32_t)i), (uint32_t)i);
}

/*
 * Room for n positions, moving the held ones (0 .. held-1, hashed by
 * hash(ctx, pos)) into a larger index if needed.  0, or -ENOMEM with the
 * index unchanged.
 */
static inline int hashmap_reserve(struct hashmap *m, size_t n, size_t held,
				  hashmap_hash_fn hash, const void *ctx)
{
	struct hashmap bigger;

	if (n <= hashmap_capacity(m))
		return 0;
	if (n > (size_t)HASHMAP_MAX_POS + 1 || hashmap_init(&bigger, n))
		return -ENOMEM;
	/* Fresh from calloc(): no need to clear it first. */
	for (size_t i = 0; i < held; i++)
		hashmap_insert(&bigger, hash(ctx, (uint32_t)i), (uint32_t)i);
	hashmap_free(m);
	*m = bigger;
	return 0;
}

/*
 * Grow an indexed array of held elements to cap elements of elem bytes:
 * the index first (hashmap_reserve(), which reads the array where it
 * still is), then the array, as realloc() does.  The array, or NULL with
 * errno set and the array unchanged (the index may have grown: it finds
 * the same elements).
 */
static inline void *hashmap_grow_array(struct hashmap *m, void *array,
				       size_t held, size_t cap, size_t elem,
				       hashmap_hash_fn hash, const void *ctx)
{
	if (cap > (size_t)HASHMAP_MAX_POS + 1 || cap > SIZE_MAX / elem ||
	    hashmap_reserve(m, cap, held, hash, ctx)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(array, cap * elem);
}

/*
 * Remove pos (indexed under hash); the rest of its probe chain moves back
 * (hash_fn gives their homes).  Returns whether pos was there.
 */
bool hashmap_delete(struct hashmap *m, uint64_t hash, uint32_t pos,
		    hashmap_hash_fn hash_fn, const void *ctx);

/*
 * The element that was at from is now at to (a dense array filling a
 * hole with its last element); from must be indexed under hash.
 */
void hashmap_move(struct hashmap *m, uint64_t hash, uint32_t from, uint32_t to);

/*
 * Room for one more element after the n held in an indexed array of *cap
 * elements: the array as it is while there is, else hashmap_grow_array()
 * to twice *cap (at least min) and *cap updated.  NULL with errno set when
 * out of memory.
 */
void *hashmap_array_room(struct hashmap *m, void *array, size_t n, size_t *cap,
			 size_t min, size_t elem, hashmap_hash_fn hash,
			 const void *ctx);

/* FNV-1a, 64 bits: short keys with no adversary to fear (geo strings). */
static inline uint64_t hash_fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ULL;
	return h;
}

/*
 * An address (and pid, 0 for none).  Addresses are chosen by whoever sends
 * packets, so the whole key is mixed: every bit reaches the low bits that
 * pick the slot.
 */
static inline uint64_t hash_addr(const struct in6_addr *a, uint32_t pid)
{
	uint64_t lo, hi, h;

	memcpy(&lo, a->s6_addr, 8);
	memcpy(&hi, a->s6_addr + 8, 8);
	h = lo * 0x9e3779b97f4a7c15ULL ^ hi ^ ((uint64_t)pid << 17);
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	return h;
}

/*
 * The daemon's address tables keep arrays of elements that begin with
 * this (an address, and a pid or 0), so that one pair of callbacks serves
 * them all: the context is an addr_rows describing the array.
 */
struct addr_pid {
	struct in6_addr addr; /* IPv4 as ::ffff:a.b.c.d */
	uint32_t pid;
};

#define ADDR_PID_LEN (sizeof(struct in6_addr) + sizeof(uint32_t))

/* Asserts that elements of type T begin with an addr_pid's fields. */
#define ADDR_PID_HEAD(T)                                                       \
	_Static_assert(offsetof(T, addr) == 0 &&                               \
			       offsetof(T, pid) == sizeof(struct in6_addr),    \
		       #T " begins with its address and pid")

struct addr_rows {
	const char *base; /* the array where it is now */
	size_t stride;	  /* bytes per element */
};

#define ADDR_ROWS(array)                                                       \
	((struct addr_rows){(const char *)(array), sizeof(*(array))})

static inline uint64_t addr_rows_hash(const void *ctx, uint32_t pos)
{
	const struct addr_rows *r = ctx;
	const char *e = r->base + pos * r->stride;
	struct in6_addr a;
	uint32_t pid;

	memcpy(&a, e, sizeof(a));
	memcpy(&pid, e + sizeof(a), sizeof(pid));
	return hash_addr(&a, pid);
}

/* key: a struct addr_pid. */
static inline bool addr_rows_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct addr_rows *r = ctx;

	const char *e = r->base + pos * r->stride;
	const struct addr_pid *k = key;
	uint32_t pid;

	/* The pid first: one load rejects most other processes' rows. */
	memcpy(&pid, e + sizeof(k->addr), sizeof(pid));
	return pid == k->pid && !memcmp(e, &k->addr, sizeof(k->addr));
}

#endif

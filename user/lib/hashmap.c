// SPDX-License-Identifier: MIT
#include "hashmap.h"

#include <errno.h>
#include <stdlib.h>

#define MIN_SLOTS 16

/* Slots for n positions at most half full: a power of two >= 2n. */
static size_t slots_for(size_t n)
{
	size_t slots = MIN_SLOTS;

	while (slots / 2 < n)
		slots <<= 1;
	return slots;
}

int hashmap_init(struct hashmap *m, size_t n)
{
	size_t slots = slots_for(n);

	m->slot = calloc(slots, sizeof(*m->slot));
	if (!m->slot) {
		m->mask = 0;
		return -ENOMEM;
	}
	m->mask = slots - 1;
	return 0;
}

void hashmap_free(struct hashmap *m)
{
	free(m->slot);
	m->slot = NULL;
	m->mask = 0;
}

void hashmap_clear(struct hashmap *m)
{
	if (m->slot)
		memset(m->slot, 0, (m->mask + 1) * sizeof(*m->slot));
}

/* The slot that holds pos, or SIZE_MAX. */
static size_t slot_of(const struct hashmap *m, uint64_t hash, uint32_t pos)
{
	if (!m->slot)
		return SIZE_MAX;
	for (size_t s = hash & m->mask; m->slot[s]; s = (s + 1) & m->mask)
		if (m->slot[s] == pos + 1)
			return s;
	return SIZE_MAX;
}

bool hashmap_delete(struct hashmap *m, uint64_t hash, uint32_t pos,
		    hashmap_hash_fn hash_fn, const void *ctx)
{
	size_t hole = slot_of(m, hash, pos), s;

	if (hole == SIZE_MAX)
		return false;
	/*
	 * Backward shift: walk the rest of the chain; an entry whose home is
	 * not cyclically in (hole, s] would be cut off from it by the hole,
	 * so it moves into the hole, which moves to where it was.
	 */
	m->slot[hole] = 0;
	for (s = (hole + 1) & m->mask; m->slot[s]; s = (s + 1) & m->mask) {
		size_t home = hash_fn(ctx, m->slot[s] - 1) & m->mask;

		if (((s - home) & m->mask) < ((s - hole) & m->mask))
			continue;
		m->slot[hole] = m->slot[s];
		m->slot[s] = 0;
		hole = s;
	}
	return true;
}

void hashmap_move(struct hashmap *m, uint64_t hash, uint32_t from, uint32_t to)
{
	size_t s = slot_of(m, hash, from);

	if (s != SIZE_MAX)
		m->slot[s] = to + 1;
}

void *hashmap_array_room(struct hashmap *m, void *array, size_t n, size_t *cap,
			 size_t min, size_t elem, hashmap_hash_fn hash,
			 const void *ctx)
{
	size_t bigger = *cap * 2 > min ? *cap * 2 : min;

	if (n < *cap)
		return array;
	array = hashmap_grow_array(m, array, n, bigger, elem, hash, ctx);
	if (array)
		*cap = bigger;
	return array;
}

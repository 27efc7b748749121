// SPDX-License-Identifier: MIT
#include "store_ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * FNV-1a over the key's bytes, folded: in FNV the low bits of the hash
 * depend only on the low bits of each byte, and the low bits pick the slot.
 */
static uint64_t key_hash(const struct store_id_key *k)
{
	uint64_t h = hash_fnv1a(k, sizeof(*k));

	return h ^ (h >> 29);
}

static uint64_t ent_hash(const void *ctx, uint32_t pos)
{
	const struct store_ids *c = ctx;

	return key_hash(&c->ent[pos].key);
}

static bool ent_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct store_ids *c = ctx;

	return !memcmp(&c->ent[pos].key, key, sizeof(c->ent[pos].key));
}

void store_id_addr(struct store_id_key *k, const struct in6_addr *addr,
		   const struct geo_labels *geo)
{
	memset(k, 0, sizeof(*k));
	k->addr = *addr;
	k->geo = geo;
}

void store_id_proc(struct store_id_key *k, uint32_t pid, const char *process)
{
	memset(k, 0, sizeof(*k));
	k->pid = pid;
	snprintf(k->comm, sizeof(k->comm), "%s",
		 process && process[0] ? process : "-");
}

int64_t store_ids_get(const struct store_ids *c, const struct store_id_key *k)
{
	uint32_t pos;

	if (!hashmap_find(&c->index, key_hash(k), ent_eq, c, k, &pos))
		return 0;
	return c->ent[pos].id;
}

void store_ids_put(struct store_ids *c, const struct store_id_key *k,
		   int64_t id)
{
	struct store_id_ent *ent =
		hashmap_array_room(&c->index, c->ent, c->n, &c->cap, 512,
				   sizeof(*ent), ent_hash, c);

	if (!ent)
		return;
	c->ent = ent;
	ent[c->n] = (struct store_id_ent){.key = *k, .id = id};
	hashmap_insert(&c->index, key_hash(k), (uint32_t)c->n++);
}

void store_ids_clear(struct store_ids *c)
{
	free(c->ent);
	hashmap_free(&c->index);
	memset(c, 0, sizeof(*c));
}

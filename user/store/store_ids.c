// SPDX-License-Identifier: MIT
#include "store_ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a over the key's bytes, folded: the low bits pick the slot. */
static uint64_t key_hash(const struct store_id_key *k)
{
	const unsigned char *p = (const unsigned char *)k;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h ^ (h >> 29);
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
	if (!c->ids)
		return 0;
	for (size_t i = key_hash(k) & c->mask;; i = (i + 1) & c->mask) {
		if (!c->ids[i])
			return 0;
		if (!memcmp(&c->keys[i], k, sizeof(*k)))
			return c->ids[i];
	}
}

static void insert_slot(struct store_ids *c, const struct store_id_key *k,
			int64_t id)
{
	size_t i = key_hash(k) & c->mask;

	while (c->ids[i])
		i = (i + 1) & c->mask;
	c->keys[i] = *k;
	c->ids[i] = id;
	c->count++;
}

void store_ids_put(struct store_ids *c, const struct store_id_key *k,
		   int64_t id)
{
	if (!c->ids || (c->count + 1) * 2 > c->mask + 1) {
		size_t n = c->ids ? (c->mask + 1) * 2 : 1024;
		struct store_ids g = {.keys = calloc(n, sizeof(*g.keys)),
				      .ids = calloc(n, sizeof(*g.ids)),
				      .mask = n - 1};

		if (!g.keys || !g.ids) {
			free(g.keys);
			free(g.ids);
			return;
		}
		for (size_t i = 0; c->ids && i <= c->mask; i++)
			if (c->ids[i])
				insert_slot(&g, &c->keys[i], c->ids[i]);
		free(c->keys);
		free(c->ids);
		*c = g;
	}
	insert_slot(c, k, id);
}

void store_ids_clear(struct store_ids *c)
{
	free(c->keys);
	free(c->ids);
	memset(c, 0, sizeof(*c));
}

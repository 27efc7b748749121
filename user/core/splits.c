// SPDX-License-Identifier: MIT
/*
 * Per-bucket splits of a map's counts; see splits.h.  A bucket is a dense
 * array of cells with the daemon's one hash index over it, like the
 * address tables, but allocated to what it holds: during an outage there
 * is one per bucket, most of them small.
 */
#include "splits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

ADDR_PID_HEAD(struct split_cell);

static void value_add(struct itm_value *a, const struct itm_value *b)
{
	a->tx_bytes += b->tx_bytes;
	a->tx_packets += b->tx_packets;
	a->rx_bytes += b->rx_bytes;
	a->rx_packets += b->rx_packets;
}

static void split_free(struct split *s)
{
	free(s->cells);
	hashmap_free(&s->idx);
	memset(s, 0, sizeof(*s));
}

const struct split_cell *split_find(const struct split *s,
				    const struct itm_key *k)
{
	struct addr_rows rows = ADDR_ROWS(s->cells);
	struct addr_pid key;
	uint32_t pos;

	memcpy(&key.addr, k->addr, sizeof(key.addr));
	key.pid = k->pid;
	if (!hashmap_find(&s->idx, hash_addr(&key.addr, key.pid), addr_rows_eq,
			  &rows, &key, &pos))
		return NULL;
	return &s->cells[pos];
}

static int split_add(struct split *s, const struct itm_key *k,
		     const struct itm_value *d, size_t *added)
{
	struct split_cell *c = (struct split_cell *)split_find(s, k);
	struct addr_rows rows = ADDR_ROWS(s->cells);

	*added = 0;
	if (c) {
		value_add(&c->v, d);
		return 0;
	}
	c = hashmap_array_room(&s->idx, s->cells, s->n, &s->cap, 16, sizeof(*c),
			       addr_rows_hash, &rows);
	if (!c)
		return -ENOMEM;
	s->cells = c;
	c = &s->cells[s->n];
	memset(c, 0, sizeof(*c));
	memcpy(&c->addr, k->addr, sizeof(c->addr));
	c->pid = k->pid;
	c->v = *d;
	hashmap_insert(&s->idx, hash_addr(&c->addr, c->pid), (uint32_t)s->n++);
	*added = 1;
	return 0;
}

/* The newest bucket if it starts at ts, else a new empty one. */
static struct split *bucket(struct splits *l, int64_t ts)
{
	struct split *s;

	if (l->n && l->s[l->n - 1].ts == ts)
		return &l->s[l->n - 1];
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;

		s = realloc(l->s, cap * sizeof(*s));
		if (!s)
			return NULL;
		l->s = s;
		l->cap = cap;
	}
	s = &l->s[l->n++];
	memset(s, 0, sizeof(*s));
	s->ts = ts;
	return s;
}

int splits_add(struct splits *l, int64_t ts, const struct itm_key *k,
	       const struct itm_value *d)
{
	struct split *s = bucket(l, ts);
	size_t added;
	int err;

	if (!s)
		return -ENOMEM;
	err = split_add(s, k, d, &added);
	l->cells += added;
	if (!s->n) /* a new bucket that got nothing */
		split_free(&l->s[--l->n]);
	return err;
}

int splits_merge_oldest(struct splits *l, struct itm_value *moved)
{
	struct split *old = &l->s[0], *next = &l->s[1];
	size_t added;

	if (l->n < 2)
		return -EINVAL;
	for (size_t i = 0; i < old->n; i++) {
		struct itm_key k = {.pid = old->cells[i].pid};
		int err;

		memcpy(k.addr, &old->cells[i].addr, sizeof(k.addr));
		err = split_add(next, &k, &old->cells[i].v, &added);
		/*
		 * Out of memory half-way: the cells merged so far are in
		 * both buckets.  Harmless to the totals: a commit takes at
		 * most a map row's count from its buckets (persist.c).
		 */
		if (err)
			return err;
		l->cells += added;
		value_add(moved, &old->cells[i].v);
	}
	l->cells -= old->n;
	split_free(old);
	memmove(&l->s[0], &l->s[1], (l->n - 1) * sizeof(*l->s));
	l->n--;
	return 0;
}

void splits_clear(struct splits *l)
{
	for (size_t i = 0; i < l->n; i++)
		split_free(&l->s[i]);
	free(l->s);
	memset(l, 0, sizeof(*l));
}

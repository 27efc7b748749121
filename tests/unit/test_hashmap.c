// SPDX-License-Identifier: MIT
/*
 * The hash index of user/lib/hashmap.c against a plain model: a dense
 * array of keys (positions are array indexes, deletion moves the last key
 * into the hole) and a bitmap of which keys are in it.  Each case runs
 * with a well-mixed hash and with hashes that collide on purpose, so that
 * long chains, chains that wrap past the last slot, and the backward
 * shift of deletion inside them are all exercised.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

#define KEYS 50000 /* key values are 0 .. KEYS-1 */

enum mix {
	MIX_FULL, /* hash_addr() of the key */
	MIX_FEW,  /* 7 distinct hashes: chains as long as the table */
	MIX_WRAP, /* every key's home is the last slot or the one before */
};

struct model {
	uint64_t *keys; /* the caller's dense array */
	size_t n;
	uint64_t universe; /* keys in play: 0 .. universe-1 */
	bool present[KEYS];
	enum mix mix;
	struct hashmap m;
};

static uint64_t key_hash(const struct model *md, uint64_t key)
{
	struct in6_addr a = {0};

	switch (md->mix) {
	case MIX_FEW:
		return key % 7;
	case MIX_WRAP:
		/* Any mask: the home is mask - (key & 1). */
		return (uint64_t)-1 - (key & 1);
	default:
		memcpy(a.s6_addr, &key, sizeof(key));
		return hash_addr(&a, 0);
	}
}

static uint64_t pos_hash(const void *ctx, uint32_t pos)
{
	const struct model *md = ctx;

	return key_hash(md, md->keys[pos]);
}

static bool pos_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct model *md = ctx;

	return md->keys[pos] == *(const uint64_t *)key;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void model_init(struct model *md, enum mix mix, uint64_t universe,
		       size_t room)
{
	memset(md, 0, sizeof(*md));
	md->mix = mix;
	md->universe = universe;
	md->keys = calloc(KEYS, sizeof(*md->keys));
	assert_non_null(md->keys);
	assert_int_equal(hashmap_init(&md->m, room), 0);
	assert_true(hashmap_capacity(&md->m) >= room);
}

static void model_free(struct model *md)
{
	hashmap_free(&md->m);
	free(md->keys);
}

static bool find(const struct model *md, uint64_t key, uint32_t *pos)
{
	return hashmap_find(&md->m, key_hash(md, key), pos_eq, md, &key, pos);
}

static void add(struct model *md, uint64_t key)
{
	uint32_t pos;

	assert_false(find(md, key, &pos));
	assert_int_equal(
		hashmap_reserve(&md->m, md->n + 1, md->n, pos_hash, md), 0);
	md->keys[md->n] = key;
	hashmap_insert(&md->m, key_hash(md, key), (uint32_t)md->n++);
	md->present[key] = true;
}

/* Delete as a dense array does: the last element fills the hole. */
static void del(struct model *md, uint64_t key)
{
	uint32_t pos, last = (uint32_t)(md->n - 1);

	assert_true(find(md, key, &pos));
	assert_true(
		hashmap_delete(&md->m, key_hash(md, key), pos, pos_hash, md));
	assert_false(
		hashmap_delete(&md->m, key_hash(md, key), pos, pos_hash, md));
	if (pos != last) {
		hashmap_move(&md->m, key_hash(md, md->keys[last]), last, pos);
		md->keys[pos] = md->keys[last];
	}
	md->n--;
	md->present[key] = false;
}

/* Every key is found exactly where the array has it, or not at all. */
static void check(const struct model *md)
{
	size_t found = 0, occupied = 0;

	for (uint64_t k = 0; k < md->universe; k++) {
		uint32_t pos;
		bool got = find(md, k, &pos);

		assert_int_equal(got, md->present[k]);
		if (got) {
			assert_int_equal(md->keys[pos], k);
			found++;
		}
	}
	assert_int_equal(found, md->n);
	for (size_t s = 0; md->m.slot && s <= md->m.mask; s++)
		occupied += md->m.slot[s] != 0;
	assert_int_equal(occupied, md->n);
	/* At most half full. */
	assert_true(2 * md->n <= md->m.mask + 1);
}

static void insert_find_grow(enum mix mix, size_t n)
{
	struct model md;
	size_t slots;

	model_init(&md, mix, n, 1);
	slots = md.m.mask + 1;
	/* 7919 is prime: k * 7919 % n visits every key once, out of order. */
	for (uint64_t k = 0; k < n; k++)
		add(&md, (k * 7919) % n);
	assert_true(md.m.mask + 1 > slots); /* it grew */
	check(&md);
	model_free(&md);
}

static void test_insert_find_grow(void **state)
{
	(void)state;
	insert_find_grow(MIX_FULL, KEYS);
}

static void test_insert_find_collisions(void **state)
{
	(void)state;
	insert_find_grow(MIX_FEW, 3000);
	insert_find_grow(MIX_WRAP, 3000);
}

/* Random inserts and deletes; the whole model is checked as it goes. */
static void churn(enum mix mix, uint64_t universe, int steps, int every)
{
	struct model md;

	model_init(&md, mix, universe, 0);
	for (int i = 1; i <= steps; i++) {
		uint64_t k = rnd() % universe;

		if (md.present[k])
			del(&md, k);
		else
			add(&md, k);
		if (i % every == 0)
			check(&md);
	}
	check(&md);
	while (md.n)
		del(&md, md.keys[rnd() % md.n]);
	check(&md);
	model_free(&md);
}

static void test_delete_full_mix(void **state)
{
	(void)state;
	churn(MIX_FULL, KEYS, 200000, 20000);
}

static void test_delete_collisions(void **state)
{
	(void)state;
	churn(MIX_FEW, 600, 20000, 50);
	churn(MIX_WRAP, 600, 20000, 50);
}

/* Chains that wrap around the end of the slots, shifted by hand. */
static void test_delete_wraps(void **state)
{
	struct model md;
	uint32_t pos;

	(void)state;
	model_init(&md, MIX_WRAP, 6, 4);
	for (uint64_t k = 0; k < 6; k++)
		add(&md, k);
	/* Homes: the last slot (even keys) and the one before (odd). */
	assert_int_equal(md.m.slot[md.m.mask], 0 + 1);
	assert_int_equal(md.m.slot[md.m.mask - 1], 1 + 1);
	del(&md, 0); /* key 5 (last position) moves to position 0 */
	check(&md);
	del(&md, 1);
	check(&md);
	assert_true(find(&md, 4, &pos));
	assert_int_equal(md.keys[pos], 4);
	model_free(&md);
}

static void test_reindex(void **state)
{
	struct model md;

	(void)state;
	model_init(&md, MIX_FEW, 1000, 1000);
	for (uint64_t k = 0; k < 1000; k++)
		add(&md, k);
	/* Compact away the odd keys, as ip_table_remove_if() does. */
	for (size_t i = 0; i < 500; i++)
		md.keys[i] = 2 * i;
	for (uint64_t k = 1; k < 1000; k += 2)
		md.present[k] = false;
	md.n = 500;
	hashmap_reindex(&md.m, md.n, pos_hash, &md);
	check(&md);
	hashmap_clear(&md.m);
	md.n = 0;
	memset(md.present, 0, sizeof(md.present));
	check(&md);
	model_free(&md);
}

static void test_reserve_limits(void **state)
{
	struct model md;
	uint32_t *before;
	size_t mask;

	(void)state;
	model_init(&md, MIX_FULL, 100, 10);
	add(&md, 42);
	before = md.m.slot;
	mask = md.m.mask;
	/* Within capacity: nothing moves. */
	assert_int_equal(hashmap_reserve(&md.m, hashmap_capacity(&md.m), md.n,
					 pos_hash, &md),
			 0);
	assert_ptr_equal(md.m.slot, before);
	/* Past the positions a slot can name: refused, index unchanged. */
	assert_int_equal(hashmap_reserve(&md.m, (size_t)HASHMAP_MAX_POS + 2,
					 md.n, pos_hash, &md),
			 -ENOMEM);
	assert_ptr_equal(md.m.slot, before);
	assert_int_equal(md.m.mask, mask);
	check(&md);
	model_free(&md);
	/* An index never initialised finds nothing and can grow. */
	memset(&md.m, 0, sizeof(md.m));
	assert_int_equal(hashmap_capacity(&md.m), 0);
	md.keys = calloc(KEYS, sizeof(*md.keys));
	assert_non_null(md.keys);
	md.n = 0;
	memset(md.present, 0, sizeof(md.present));
	md.mix = MIX_FULL;
	check(&md);
	add(&md, 7);
	check(&md);
	model_free(&md);
}

static void test_hashes(void **state)
{
	struct in6_addr a = {0}, b = {0};

	(void)state;
	/* FNV-1a's published values. */
	assert_true(hash_fnv1a("", 0) == 0xcbf29ce484222325ULL);
	assert_true(hash_fnv1a("a", 1) == 0xaf63dc4c8601ec8cULL);
	/* The pid and every half of the address change the slot bits. */
	b.s6_addr[15] = 1;
	assert_true((hash_addr(&a, 0) & 0xffff) != (hash_addr(&b, 0) & 0xffff));
	assert_true((hash_addr(&a, 0) & 0xffff) != (hash_addr(&a, 1) & 0xffff));
	b.s6_addr[15] = 0;
	b.s6_addr[0] = 1;
	assert_true((hash_addr(&a, 0) & 0xffff) != (hash_addr(&b, 0) & 0xffff));
}

/* An address table as table.c and view.c keep one. */
struct row {
	struct in6_addr addr;
	uint32_t pid;
	uint64_t payload;
};

ADDR_PID_HEAD(struct row);

static struct addr_pid row_key(uint32_t i)
{
	struct addr_pid k = {.pid = i % 3};

	/* Few distinct pids, addresses that differ in one byte each half. */
	k.addr.s6_addr[0] = (uint8_t)(i >> 8);
	k.addr.s6_addr[15] = (uint8_t)i;
	return k;
}

static void test_addr_rows_grow_array(void **state)
{
	struct row *rows = NULL, *big;
	struct addr_rows ar;
	struct hashmap m = {0};
	size_t n = 0, cap = 0;
	uint32_t pos = 0;

	(void)state;
	for (uint32_t i = 0; i < 5000; i++) {
		struct addr_pid k = row_key(i);

		ar = ADDR_ROWS(rows);
		big = hashmap_array_room(&m, rows, n, &cap, 1, sizeof(*rows),
					 addr_rows_hash, &ar);
		assert_non_null(big);
		/* Doubling: it moved only when it was full. */
		assert_true(big == rows || n == cap / 2);
		rows = big;
		assert_true(cap > n);
		assert_true(hashmap_capacity(&m) >= cap);
		rows[n].addr = k.addr;
		rows[n].pid = k.pid;
		rows[n].payload = i;
		hashmap_insert(&m, hash_addr(&k.addr, k.pid), (uint32_t)n++);
	}
	ar = ADDR_ROWS(rows);
	for (uint32_t i = 0; i < 5000; i++) {
		struct addr_pid k = row_key(i);

		assert_true(hashmap_find(&m, hash_addr(&k.addr, k.pid),
					 addr_rows_eq, &ar, &k, &pos));
		assert_int_equal(rows[pos].payload, i);
		assert_int_equal(addr_rows_hash(&ar, pos),
				 hash_addr(&k.addr, k.pid));
		/* The same address with another pid is another key. */
		k.pid += 3;
		assert_false(hashmap_find(&m, hash_addr(&k.addr, k.pid),
					  addr_rows_eq, &ar, &k, &pos));
	}
	/* A size that cannot be: refused, the array left as it was. */
	errno = 0;
	assert_null(hashmap_grow_array(&m, rows, n, SIZE_MAX / 2, sizeof(*rows),
				       addr_rows_hash, &ar));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(rows[4999].payload, 4999);
	hashmap_free(&m);
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_find_grow),
		cmocka_unit_test(test_insert_find_collisions),
		cmocka_unit_test(test_delete_full_mix),
		cmocka_unit_test(test_delete_collisions),
		cmocka_unit_test(test_delete_wraps),
		cmocka_unit_test(test_reindex),
		cmocka_unit_test(test_reserve_limits),
		cmocka_unit_test(test_hashes),
		cmocka_unit_test(test_addr_rows_grow_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The store's id cache (user/store/store_ids.c): address and process keys
 * that differ in one field only, enough of them to grow the cache several
 * times, each found with its own id; unknown keys read 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "store_ids.h"

#define N 20000

/* Two label sets: the same address under each is two keys. */
static const char labels_a, labels_b;

static void addr_of(struct in6_addr *a, uint32_t i)
{
	memset(a, 0, sizeof(*a));
	a->s6_addr[10] = a->s6_addr[11] = 0xff; /* ::ffff:10.x.y.z */
	a->s6_addr[12] = 10;
	a->s6_addr[13] = (uint8_t)(i >> 16);
	a->s6_addr[14] = (uint8_t)(i >> 8);
	a->s6_addr[15] = (uint8_t)i;
}

static void key_of(struct store_id_key *k, uint32_t i)
{
	struct in6_addr a;
	char comm[16];

	switch (i % 3) {
	case 0:
		addr_of(&a, i / 3);
		store_id_addr(k, &a, (const void *)&labels_a);
		break;
	case 1:
		addr_of(&a, i / 3);
		store_id_addr(k, &a, (const void *)&labels_b);
		break;
	default:
		/* Same pid, another name: a separate process row. */
		snprintf(comm, sizeof(comm), "p%u", i % 7);
		store_id_proc(k, i / 3, comm);
		break;
	}
}

static void test_put_get(void **state)
{
	struct store_ids c = {0};
	struct store_id_key k;

	(void)state;
	key_of(&k, 0);
	assert_int_equal(store_ids_get(&c, &k), 0);
	for (uint32_t i = 0; i < N; i++) {
		key_of(&k, i);
		store_ids_put(&c, &k, (int64_t)i + 1);
	}
	for (uint32_t i = 0; i < N; i++) {
		key_of(&k, i);
		assert_int_equal(store_ids_get(&c, &k), (int64_t)i + 1);
	}
	for (uint32_t i = N; i < 2 * N; i++) {
		key_of(&k, i);
		assert_int_equal(store_ids_get(&c, &k), 0);
	}
	/* NULL and "" are stored as "-": one key. */
	store_id_proc(&k, 42, NULL);
	store_ids_put(&c, &k, 7);
	store_id_proc(&k, 42, "");
	assert_int_equal(store_ids_get(&c, &k), 7);
	store_id_proc(&k, 42, "-");
	assert_int_equal(store_ids_get(&c, &k), 7);
	assert_int_equal(c.n, N + 1);
	store_ids_clear(&c);
	key_of(&k, 5);
	assert_int_equal(store_ids_get(&c, &k), 0);
	store_ids_put(&c, &k, 3);
	assert_int_equal(store_ids_get(&c, &k), 3);
	store_ids_clear(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

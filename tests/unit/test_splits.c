// SPDX-License-Identifier: MIT
/*
 * Per-bucket splits (user/core/splits.c): deltas of the same key in one
 * bucket add up, a new bucket starts when the time moves on, every key is
 * found in its bucket with its exact sum (enough keys to grow the index
 * several times), and folding the oldest bucket into the next moves
 * exactly its counts, reported as moved.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "splits.h"

#define N 5000

static struct itm_key key_of(uint32_t i, uint32_t pid)
{
	struct itm_key k = {.pid = pid};

	k.addr[10] = k.addr[11] = 0xff;
	k.addr[12] = 10;
	k.addr[13] = (uint8_t)(i >> 16);
	k.addr[14] = (uint8_t)(i >> 8);
	k.addr[15] = (uint8_t)i;
	return k;
}

static struct itm_value val(uint64_t b)
{
	return (struct itm_value){.tx_bytes = b,
				  .tx_packets = 1,
				  .rx_bytes = 2 * b,
				  .rx_packets = 2};
}

static void test_add_find(void **state)
{
	struct splits l = {0};

	(void)state;
	for (int round = 0; round < 2; round++)
		for (uint32_t i = 0; i < N; i++) {
			struct itm_key k = key_of(i, i % 3);
			struct itm_value v = val(i + 1);

			assert_int_equal(splits_add(&l, 600, &k, &v), 0);
		}
	assert_int_equal(l.n, 1);
	assert_int_equal(l.cells, N);
	for (uint32_t i = 0; i < N; i++) {
		struct itm_key k = key_of(i, i % 3);
		const struct split_cell *c = split_find(&l.s[0], &k);

		assert_non_null(c);
		assert_int_equal(c->v.tx_bytes, 2 * (i + 1));
		assert_int_equal(c->v.rx_bytes, 4 * (i + 1));
		assert_int_equal(c->v.tx_packets, 2);
		/* The same address under another pid is another key. */
		k.pid++;
		assert_null(split_find(&l.s[0], &k));
	}
	splits_clear(&l);
	assert_int_equal(l.n, 0);
	assert_int_equal(l.cells, 0);
}

static void test_buckets_and_fold(void **state)
{
	struct splits l = {0};
	struct itm_value moved = {0};
	struct itm_key a = key_of(1, 0), b = key_of(2, 0);
	struct itm_value v;

	(void)state;
	v = val(100);
	assert_int_equal(splits_add(&l, 0, &a, &v), 0);
	v = val(7);
	assert_int_equal(splits_add(&l, 10, &a, &v), 0);
	assert_int_equal(splits_add(&l, 10, &b, &v), 0);
	v = val(5);
	assert_int_equal(splits_add(&l, 20, &b, &v), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.cells, 4);
	assert_int_equal(l.s[0].ts, 0);
	assert_int_equal(l.s[2].ts, 20);

	/* Bucket 0 (a: 100) folds into bucket 10 (a: 7, b: 7). */
	assert_int_equal(splits_merge_oldest(&l, &moved), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.cells, 3);
	assert_int_equal(l.s[0].ts, 10);
	assert_int_equal(split_find(&l.s[0], &a)->v.tx_bytes, 107);
	assert_int_equal(split_find(&l.s[0], &b)->v.tx_bytes, 7);
	assert_int_equal(moved.tx_bytes, 100);
	assert_int_equal(moved.rx_bytes, 200);
	assert_int_equal(moved.tx_packets, 1);

	/* Bucket 10 folds into 20, where only b was: a becomes new there. */
	assert_int_equal(splits_merge_oldest(&l, &moved), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.cells, 2);
	assert_int_equal(split_find(&l.s[0], &a)->v.tx_bytes, 107);
	assert_int_equal(split_find(&l.s[0], &b)->v.tx_bytes, 12);
	assert_int_equal(moved.tx_bytes, 100 + 107 + 7);
	/* One bucket left: nothing to fold into. */
	assert_int_equal(splits_merge_oldest(&l, &moved), -EINVAL);
	splits_clear(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find),
		cmocka_unit_test(test_buckets_and_fold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

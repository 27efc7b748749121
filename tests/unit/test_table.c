// SPDX-License-Identifier: MIT
/* The loader's address table: insert, find, merge, growth. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "table.h"

#define MANY 200000

/* Distinct addresses, half IPv4-mapped and half IPv6. */
static struct in6_addr nth_addr(uint32_t i)
{
	struct in6_addr a = {0};

	if (i & 1) {
		a.s6_addr[0] = 0x20;
		a.s6_addr[1] = 0x01;
		a.s6_addr[2] = 0x0d;
		a.s6_addr[3] = 0xb8;
		memcpy(&a.s6_addr[12], &i, sizeof(i));
	} else {
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		memcpy(&a.s6_addr[12], &i, sizeof(i));
	}
	return a;
}

static void test_upsert_find(void **state)
{
	struct in6_addr a = nth_addr(2), b = nth_addr(3);
	struct ip_table t;
	struct ip_entry *e, *f;

	(void)state;
	assert_int_equal(ip_table_init(&t, 10), 0);
	assert_null(ip_table_find(&t, &a));
	e = ip_table_upsert(&t, &a);
	assert_non_null(e);
	assert_memory_equal(&e->addr, &a, sizeof(a));
	assert_int_equal(e->tx_bytes, 0);
	assert_int_equal(e->rx_packets, 0);
	assert_null(e->geo);
	assert_false(e->exported);
	assert_int_equal(t.count, 1);
	/* Same address: same entry, no new one. */
	f = ip_table_upsert(&t, &a);
	assert_ptr_equal(e, f);
	assert_int_equal(t.count, 1);
	assert_ptr_equal(ip_table_find(&t, &a), e);
	assert_null(ip_table_find(&t, &b));
	ip_table_free(&t);
	assert_null(t.entries);
	assert_int_equal(t.count, 0);
}

static void test_add_merges_and_exports(void **state)
{
	struct itm_value d1 = {100, 1, 200, 2}, d2 = {5, 1, 0, 0};
	struct in6_addr a = nth_addr(7);
	struct ip_table t;
	struct ip_entry *e;

	(void)state;
	assert_int_equal(ip_table_init(&t, 305), 0);
	assert_int_equal(ip_table_add(&t, &a, &d1), 0);
	e = ip_table_find(&t, &a);
	assert_non_null(e);
	assert_int_equal(e->tx_bytes, 100);
	assert_int_equal(e->tx_packets, 1);
	assert_int_equal(e->rx_bytes, 200);
	assert_int_equal(e->rx_packets, 2);
	assert_int_equal(ip_entry_total_bytes(e), 300);
	assert_false(e->exported);
	assert_int_equal(ip_table_add(&t, &a, &d2), 0);
	e = ip_table_find(&t, &a);
	assert_int_equal(e->tx_bytes, 105);
	assert_int_equal(e->tx_packets, 2);
	assert_int_equal(ip_entry_total_bytes(e), 305);
	assert_true(e->exported);
	assert_int_equal(t.count, 1);
	ip_table_free(&t);
}

static void test_threshold_zero_exports_everything(void **state)
{
	struct itm_value zero = {0};
	struct in6_addr a = nth_addr(9);
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	assert_int_equal(ip_table_add(&t, &a, &zero), 0);
	assert_true(ip_table_find(&t, &a)->exported);
	ip_table_free(&t);
}

/* IPv4 1.2.3.4 and IPv6 ::1.2.3.4 share low bytes but are different keys. */
static void test_v4_v6_distinct(void **state)
{
	struct in6_addr mapped = {
		.s6_addr = {[10] = 0xff, [11] = 0xff, 1, 2, 3, 4}};
	struct in6_addr compat = {.s6_addr = {[12] = 1, 2, 3, 4}};
	struct itm_value d = {1, 1, 1, 1};
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	assert_int_equal(ip_table_add(&t, &mapped, &d), 0);
	assert_int_equal(ip_table_add(&t, &compat, &d), 0);
	assert_int_equal(ip_table_add(&t, &compat, &d), 0);
	assert_int_equal(t.count, 2);
	assert_int_equal(ip_table_find(&t, &mapped)->tx_bytes, 1);
	assert_int_equal(ip_table_find(&t, &compat)->tx_bytes, 2);
	ip_table_free(&t);
}

/*
 * Many addresses force several grow/rehash rounds; every value must
 * survive them, and a second pass must merge, not duplicate.
 */
static void test_many_with_growth(void **state)
{
	struct ip_table t;
	size_t initial_cap;

	(void)state;
	assert_int_equal(ip_table_init(&t, 1000), 0);
	initial_cap = t.cap;
	for (uint32_t i = 0; i < MANY; i++) {
		struct itm_value d = {i, 1, 2 * (uint64_t)i, 2};
		struct in6_addr a = nth_addr(i);

		assert_int_equal(ip_table_add(&t, &a, &d), 0);
	}
	assert_int_equal(t.count, MANY);
	assert_true(t.cap > initial_cap);
	assert_true(t.cap >= MANY);
	/* The index stays at most half full. */
	assert_true(t.index_mask + 1 >= 2 * (size_t)MANY);

	for (uint32_t i = 0; i < MANY; i++) {
		struct itm_value d = {1, 1, 1, 1};
		struct in6_addr a = nth_addr(i);

		assert_int_equal(ip_table_add(&t, &a, &d), 0);
	}
	assert_int_equal(t.count, MANY);

	for (uint32_t i = 0; i < MANY; i++) {
		struct in6_addr a = nth_addr(i);
		struct ip_entry *e = ip_table_find(&t, &a);

		if (!e)
			fail_msg("entry %u lost", i);
		assert_memory_equal(&e->addr, &a, sizeof(a));
		assert_int_equal(e->tx_bytes, (uint64_t)i + 1);
		assert_int_equal(e->tx_packets, 2);
		assert_int_equal(e->rx_bytes, 2 * (uint64_t)i + 1);
		assert_int_equal(e->rx_packets, 3);
		/* tx+rx = 3i+2 >= 1000 from i = 333 on. */
		assert_int_equal(e->exported, i >= 333);
	}
	for (uint32_t i = MANY; i < MANY + 1000; i++) {
		struct in6_addr a = nth_addr(i);

		assert_null(ip_table_find(&t, &a));
	}
	ip_table_free(&t);
}

/* The per-process table keys on (address, pid). */
static void test_pid_keys(void **state)
{
	struct in6_addr a = nth_addr(4), b = nth_addr(5);
	struct ip_entry *e0, *e1, *e2;
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	e0 = ip_table_upsert_pid(&t, &a, 0);
	assert_non_null(e0);
	e1 = ip_table_upsert_pid(&t, &a, 100);
	assert_non_null(e1);
	e2 = ip_table_upsert_pid(&t, &b, 100);
	assert_non_null(e2);
	assert_int_equal(t.count, 3);
	assert_int_equal(e1->pid, 100);
	assert_ptr_equal(ip_table_upsert_pid(&t, &a, 100), e1);
	assert_int_equal(t.count, 3);
	assert_ptr_equal(ip_table_find_pid(&t, &a, 0), e0);
	assert_ptr_equal(ip_table_find_pid(&t, &b, 100), e2);
	assert_null(ip_table_find_pid(&t, &b, 0));
	assert_null(ip_table_find_pid(&t, &a, 101));
	/* The plain lookup is the pid-0 entry. */
	assert_ptr_equal(ip_table_find(&t, &a), e0);
	assert_null(ip_table_find(&t, &b));
	ip_table_free(&t);
}

static bool drop_odd_tx(const struct ip_entry *e, void *ctx)
{
	(*(size_t *)ctx)++;
	return e->tx_bytes & 1;
}

/* Removal compacts the array and keeps every survivor findable. */
static void test_remove_if(void **state)
{
	const uint32_t n = 50000;
	struct ip_table t;
	size_t calls = 0;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct itm_value d = {i, 1, 0, 0};
		struct in6_addr a = nth_addr(i);

		assert_int_equal(ip_table_add(&t, &a, &d), 0);
	}
	assert_int_equal(ip_table_remove_if(&t, drop_odd_tx, &calls), n / 2);
	assert_int_equal(calls, n);
	assert_int_equal(t.count, n / 2);
	for (uint32_t i = 0; i < n; i++) {
		struct in6_addr a = nth_addr(i);
		struct ip_entry *e = ip_table_find(&t, &a);

		if (i & 1) {
			assert_null(e);
			continue;
		}
		assert_non_null(e);
		assert_int_equal(e->tx_bytes, i);
		/* Insertion order survives compaction. */
		assert_ptr_equal(e, &t.entries[i / 2]);
	}
	/* Nothing to drop: nothing changes. */
	calls = 0;
	assert_int_equal(ip_table_remove_if(&t, drop_odd_tx, &calls), 0);
	assert_int_equal(t.count, n / 2);
	/* Re-adding a removed address makes a fresh entry. */
	{
		struct itm_value d = {2, 1, 0, 0};
		struct in6_addr a = nth_addr(1);

		assert_int_equal(ip_table_add(&t, &a, &d), 0);
		assert_int_equal(ip_table_find(&t, &a)->tx_bytes, 2);
		assert_int_equal(t.count, n / 2 + 1);
	}
	ip_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upsert_find),
		cmocka_unit_test(test_add_merges_and_exports),
		cmocka_unit_test(test_threshold_zero_exports_everything),
		cmocka_unit_test(test_v4_v6_distinct),
		cmocka_unit_test(test_many_with_growth),
		cmocka_unit_test(test_pid_keys),
		cmocka_unit_test(test_remove_if),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

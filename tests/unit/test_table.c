// SPDX-License-Identifier: MIT
/* The loader's address table: insert, find, merge, growth. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "geo_labels.h"

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
	assert_true(t.map.mask + 1 >= 2 * (size_t)MANY);

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

/* Clearing forgets every entry but not the totals; the table refills. */
static void test_clear(void **state)
{
	struct itm_value d = {100, 1, 50, 2};
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	for (uint32_t i = 0; i < 3000; i++) {
		struct in6_addr a = nth_addr(i);

		assert_int_equal(ip_table_add(&t, &a, &d), 0);
	}
	assert_int_equal(t.n_exported, 3000);
	ip_table_clear(&t);
	assert_int_equal(t.count, 0);
	assert_int_equal(t.n_exported, 0);
	assert_int_equal(t.sum.tx_bytes, 3000 * 100);
	for (uint32_t i = 0; i < 3000; i++) {
		struct in6_addr a = nth_addr(i);

		assert_null(ip_table_find(&t, &a));
	}
	for (uint32_t i = 0; i < 3000; i += 2) {
		struct in6_addr a = nth_addr(i);

		assert_int_equal(ip_table_add(&t, &a, &d), 0);
		assert_ptr_equal(ip_table_find(&t, &a), &t.entries[i / 2]);
	}
	assert_int_equal(t.count, 1500);
	ip_table_free(&t);
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

/* One per-CPU row as the kernel copies it: ncpus slots of the stride. */
static void put_percpu(char *row, int cpu, const struct itm_value *v)
{
	memcpy(row + (size_t)cpu * ITM_PERCPU_STRIDE(struct itm_value), v,
	       sizeof(*v));
}

static void test_percpu_stride_and_sums(void **state)
{
	struct odd {
		uint32_t a, b, c;
	};
	char vrow[3 * sizeof(struct itm_value)];
	char crow[3 * sizeof(struct itm_counter)];
	struct itm_counter cs;
	struct itm_value vs;

	(void)state;
	/* The kernel rounds every per-CPU slot up to 8 bytes. */
	assert_int_equal(ITM_PERCPU_STRIDE(struct odd), 16);
	assert_int_equal(ITM_PERCPU_STRIDE(struct itm_value), 32);
	assert_int_equal(ITM_PERCPU_STRIDE(struct itm_counter), 16);
	for (int cpu = 0; cpu < 3; cpu++) {
		struct itm_value v = {1u << cpu, 10 + cpu, 100u << cpu, 1};
		struct itm_counter c = {cpu + 1, 1000u * (cpu + 1)};

		put_percpu(vrow, cpu, &v);
		memcpy(crow + cpu * ITM_PERCPU_STRIDE(struct itm_counter), &c,
		       sizeof(c));
	}
	itm_value_sum_percpu(vrow, 3, &vs);
	assert_int_equal(vs.tx_bytes, 1 + 2 + 4);
	assert_int_equal(vs.tx_packets, 10 + 11 + 12);
	assert_int_equal(vs.rx_bytes, 100 + 200 + 400);
	assert_int_equal(vs.rx_packets, 3);
	/* Only the CPUs asked for. */
	itm_value_sum_percpu(vrow, 2, &vs);
	assert_int_equal(vs.tx_bytes, 3);
	itm_counter_sum_percpu(crow, 3, &cs);
	assert_int_equal(cs.packets, 6);
	assert_int_equal(cs.bytes, 6000);
}

struct hook_log {
	size_t labels, names;
	uint32_t last_pid;
};

static const struct geo_labels *count_label(void *ctx,
					    const struct in6_addr *addr)
{
	static const struct geo_labels g = {.country = "C", .province = "P", .city = "T", .isp = "I"};

	(void)addr;
	((struct hook_log *)ctx)->labels++;
	return &g;
}

static void count_name(void *ctx, uint32_t pid, char comm[ITM_COMM_LEN])
{
	struct hook_log *h = ctx;

	h->names++;
	h->last_pid = pid;
	snprintf(comm, ITM_COMM_LEN, "p%u", pid);
}

/*
 * A batch as drain_map() hands it over: (A, pid 7), (A, pid 9), (B, pid
 * 0), each counted on 4 CPUs.  Per address the pids add up; per (address,
 * pid) they stay apart; hooks run once per new entry.
 */
static void test_merge_batch(void **state)
{
	enum { NCPUS = 4, N = 3 };
	const size_t stride = ITM_PERCPU_STRIDE(struct itm_value);
	struct in6_addr a = nth_addr(2), b = nth_addr(5);
	struct itm_key keys[N] = {};
	char values[N * NCPUS * sizeof(struct itm_value)];
	struct hook_log log = {0};
	struct ip_merge_hooks hooks = {count_label, &log, count_name, &log};
	struct ip_table t, procs;
	struct ip_entry *e;

	(void)state;
	memcpy(keys[0].addr, &a, 16);
	keys[0].pid = 7;
	memcpy(keys[1].addr, &a, 16);
	keys[1].pid = 9;
	memcpy(keys[2].addr, &b, 16);
	/* Key i on CPU c: tx_bytes 1000 * (i + 1) + c, one packet each way. */
	for (int i = 0; i < N; i++)
		for (int c = 0; c < NCPUS; c++) {
			struct itm_value v = {1000u * (i + 1) + c, 1, 5, 1};

			put_percpu(values + i * NCPUS * stride, c, &v);
		}
	assert_int_equal(ip_table_init(&t, 0), 0);
	assert_int_equal(ip_table_init(&procs, 0), 0);
	assert_int_equal(ip_table_merge_batch(&t, &procs, keys, values, N,
					      NCPUS, &hooks),
			 0);
	assert_int_equal(t.count, 2);
	assert_int_equal(procs.count, 3);
	assert_int_equal(log.labels, 2);
	assert_int_equal(log.names, 3);
	assert_int_equal(log.last_pid, 0); /* pid 0 is named too ("-") */
	e = ip_table_find(&t, &a);
	assert_non_null(e);
	/* (1000 * 4 + 0+1+2+3) + (2000 * 4 + 6) */
	assert_int_equal(e->tx_bytes, 4006 + 8006);
	assert_int_equal(e->tx_packets, 8);
	assert_int_equal(e->rx_bytes, 40);
	assert_int_equal(e->rx_packets, 8);
	assert_string_equal(e->geo->country, "C");
	e = ip_table_find_pid(&procs, &a, 9);
	assert_non_null(e);
	assert_int_equal(e->tx_bytes, 8006);
	assert_string_equal(e->comm, "p9");
	assert_null(e->geo);
	e = ip_table_find_pid(&procs, &b, 0);
	assert_non_null(e);
	assert_int_equal(e->tx_bytes, 12006);
	assert_string_equal(e->comm, "p0");

	/* The next interval: the same keys add up, no new hook calls. */
	assert_int_equal(ip_table_merge_batch(&t, &procs, keys, values, N,
					      NCPUS, &hooks),
			 0);
	assert_int_equal(log.labels, 2);
	assert_int_equal(log.names, 3);
	assert_int_equal(ip_table_find(&t, &b)->tx_bytes, 2 * 12006);
	assert_int_equal(ip_table_find_pid(&procs, &a, 7)->tx_bytes, 2 * 4006);

	/* Without a per-process table or hooks (bench/scale.c). */
	ip_table_free(&t);
	assert_int_equal(ip_table_init(&t, 0), 0);
	assert_int_equal(
		ip_table_merge_batch(&t, NULL, keys, values, N, NCPUS, NULL),
		0);
	assert_int_equal(t.count, 2);
	assert_null(ip_table_find(&t, &a)->geo);
	assert_int_equal(ip_table_find(&t, &a)->tx_bytes, 12012);
	ip_table_free(&t);
	ip_table_free(&procs);
}

/* One address per key, one CPU: merge n of them starting at address first. */
static void merge_range(struct ip_table *t, uint32_t first, size_t n,
			uint64_t bytes)
{
	struct itm_key keys[64] = {};
	struct itm_value vals[64];

	while (n) {
		size_t k = n < 64 ? n : 64;

		for (size_t i = 0; i < k; i++) {
			struct in6_addr a = nth_addr(first + (uint32_t)i);

			memcpy(keys[i].addr, &a, 16);
			vals[i] = (struct itm_value){bytes, 1, bytes / 2, 1};
		}
		assert_int_equal(
			ip_table_merge_batch(t, NULL, keys, vals, k, 1, NULL),
			0);
		first += (uint32_t)k;
		n -= k;
	}
}

static void assert_sum_exact(const struct ip_table *t)
{
	struct itm_value s = t->evicted;

	for (size_t i = 0; i < t->count; i++) {
		s.tx_bytes += t->entries[i].tx_bytes;
		s.tx_packets += t->entries[i].tx_packets;
		s.rx_bytes += t->entries[i].rx_bytes;
		s.rx_packets += t->entries[i].rx_packets;
	}
	assert_memory_equal(&s, &t->sum, sizeof(s));
}

/*
 * A flood of ten times the limit: the table never holds more than the
 * limit, exported entries all stay, the longest-idle go first, and every
 * byte is in an entry or in the evicted aggregate.
 */
static void test_limit_evicts_longest_idle(void **state)
{
	enum { CAP = 1000 };
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 1000), 0);
	assert_int_equal(ip_table_set_limit(&t, CAP), 0);
	/* 50 exported addresses, then 100 that are busy all along. */
	ip_table_tick(&t);
	merge_range(&t, 1, 50, 5000);
	assert_int_equal(t.n_exported, 50);
	for (int round = 0; round < 100; round++) {
		ip_table_tick(&t);
		merge_range(&t, 100, 100, 2); /* the busy ones */
		merge_range(&t, 1000000 + (uint32_t)round * 100, 100, 2);
		assert_true(t.count <= CAP);
		assert_sum_exact(&t);
	}
	/* 10,150 distinct addresses went through a table of 1,000. */
	assert_true(t.n_evicted >= 10150 - CAP);
	assert_int_equal(t.n_refused, 0);
	assert_int_equal(t.alloc_failures, 0);
	assert_int_equal(t.n_exported, 50);
	for (uint32_t i = 1; i <= 50; i++) {
		struct in6_addr a = nth_addr(i);
		const struct ip_entry *e = ip_table_find(&t, &a);

		assert_non_null(e);
		assert_true(e->exported);
		assert_int_equal(e->tx_bytes, 5000);
	}
	/* The busy addresses were never the longest idle. */
	for (uint32_t i = 100; i < 200; i++) {
		struct in6_addr a = nth_addr(i);
		const struct ip_entry *e = ip_table_find(&t, &a);

		assert_non_null(e);
		assert_int_equal(e->tx_bytes, 200);
	}
	/* The oldest flood addresses went, the newest are there. */
	{
		struct in6_addr old = nth_addr(1000000),
				young = nth_addr(1000000 + 9999);

		assert_null(ip_table_find(&t, &old));
		assert_non_null(ip_table_find(&t, &young));
	}
	ip_table_free(&t);
}

/*
 * A limit that is not a power of two, reached by growing: the index stays
 * a power of two (a hang once, in the e2e flood test).
 */
static void test_limit_not_power_of_two(void **state)
{
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 1000), 0);
	assert_int_equal(ip_table_set_limit(&t, 3000), 0);
	for (int round = 0; round < 10; round++) {
		ip_table_tick(&t);
		merge_range(&t, (uint32_t)round * 4000, 4000, 10);
		assert_true(t.count <= 3000);
		assert_sum_exact(&t);
	}
	assert_int_equal(t.cap, 3000);
	assert_int_equal(t.map.mask + 1, 8192);
	ip_table_free(&t);
}

/* Full of exported entries: newcomers are counted in the aggregate. */
static void test_limit_full_of_exported(void **state)
{
	struct ip_table t;

	(void)state;
	assert_int_equal(ip_table_init(&t, 0), 0);
	assert_int_equal(ip_table_set_limit(&t, 10), 0);
	ip_table_tick(&t);
	merge_range(&t, 1, 25, 100);
	assert_int_equal(t.count, 10);
	assert_int_equal(t.n_exported, 10);
	assert_int_equal(t.n_refused, 15);
	assert_int_equal(t.n_evicted, 0);
	assert_int_equal(t.alloc_failures, 0);
	assert_int_equal(t.evicted.tx_bytes, 15 * 100);
	assert_int_equal(t.evicted.rx_packets, 15);
	assert_sum_exact(&t);
	/* Known addresses still count in their own entries. */
	merge_range(&t, 1, 10, 100);
	assert_int_equal(t.n_refused, 15);
	assert_sum_exact(&t);
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
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_percpu_stride_and_sums),
		cmocka_unit_test(test_merge_batch),
		cmocka_unit_test(test_limit_evicts_longest_idle),
		cmocka_unit_test(test_limit_full_of_exported),
		cmocka_unit_test(test_limit_not_power_of_two),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * rxmove_deltas(): a read of a map that --xdp's moves went through
 * between two looks, against what memory applied at the first one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "rxmove.h"

static struct itm_key key(__u8 last, __u32 pid)
{
	struct itm_key k = {0};

	k.addr[10] = k.addr[11] = 0xff;
	k.addr[12] = 10;
	k.addr[15] = last;
	k.pid = pid;
	return k;
}

static struct itm_value rx(__u64 bytes, __u64 packets)
{
	return (struct itm_value){.rx_bytes = bytes, .rx_packets = packets};
}

static void assert_value(struct itm_value got, struct itm_value want)
{
	assert_int_equal(got.tx_bytes, want.tx_bytes);
	assert_int_equal(got.tx_packets, want.tx_packets);
	assert_int_equal(got.rx_bytes, want.rx_bytes);
	assert_int_equal(got.rx_packets, want.rx_packets);
}

/* Nothing went down: the plain difference, tx and rx. */
static void test_plain(void **state)
{
	struct itm_key k[2] = {key(1, 0), key(1, 7)};
	struct itm_value cur[2] = {{5, 1, 900, 3}, {0, 0, 100, 1}};
	struct itm_value before[2] = {{5, 1, 600, 2}, {0}};
	struct itm_value d[2];

	(void)state;
	assert_int_equal(rxmove_deltas(k, cur, before, 2, d), 0);
	assert_value(d[0], rx(300, 1));
	assert_value(d[1], rx(100, 1));
}

/*
 * Memory saw a 1500-byte frame under pid 0 (XDP had counted it, TC had
 * not moved it yet); now it is pid 7's, and pid 0 got 100 more bytes.
 * Pid 0 keeps what it had (no series goes back), pid 7 gives up the
 * 1500 bytes memory already has under pid 0: the address's total grows
 * by exactly what the map's grew.
 */
static void test_move_after_the_look(void **state)
{
	struct itm_key k[3] = {key(1, 7), key(1, 0), key(2, 0)};
	struct itm_value cur[3] = {rx(1600, 2), rx(8100, 6), rx(50, 1)};
	struct itm_value before[3] = {rx(0, 0), rx(9500, 6), rx(0, 0)};
	struct itm_value d[3];
	__u64 map_growth = (1600 + 8100) - 9500;

	(void)state;
	assert_int_equal(rxmove_deltas(k, cur, before, 3, d), 2);
	assert_value(d[1], rx(0, 0));
	/* Packets did not go down under pid 0 (one out, one in): pid 7
	 * keeps its two, pid 0 its six; both are right. */
	assert_value(d[0], rx(200, 2));
	assert_int_equal(d[0].rx_bytes + d[1].rx_bytes, map_growth);
	assert_int_equal(d[0].rx_packets + d[1].rx_packets, 8 - 6);
	assert_value(d[2], rx(50, 1)); /* another address: untouched */
}

/*
 * What a pid cannot pay in one read stays owed: memory's pid 0 stays
 * above the map's, so the next read takes the rest from the pid's next
 * growth, and once pid 0 has grown past it, all is plain again.
 */
static void test_debt_carries_to_the_next_read(void **state)
{
	struct itm_key k[2] = {key(3, 0), key(3, 9)};
	struct itm_value cur[2] = {rx(1000, 1), rx(1500, 1)};
	struct itm_value before[2] = {rx(2500, 2), rx(1000, 1)};
	struct itm_value d[2];

	(void)state;
	/* Pid 0 down 1500; pid 9 grew 500 only: it pays 500. */
	assert_int_equal(rxmove_deltas(k, cur, before, 2, d), 2);
	assert_value(d[0], rx(0, 0));
	assert_value(d[1], rx(0, 0));
	/* Memory applied: pid 0 2500/2, pid 9 1000/1 (it paid 500/0). */
	before[0] = rx(2500, 2);
	before[1] = rx(1000, 1);
	/* Next read: pid 9 another 2000/2; pid 0 still 1000/1. */
	cur[1] = rx(3500, 3);
	assert_int_equal(rxmove_deltas(k, cur, before, 2, d), 2);
	assert_value(d[0], rx(0, 0));
	assert_value(d[1], rx(1000, 1));
	before[1] = rx(2000, 2);
	/* Pid 0 grows past what memory has: plain again. */
	cur[0] = rx(4000, 3);
	assert_int_equal(rxmove_deltas(k, cur, before, 2, d), 0);
	assert_value(d[0], rx(1500, 1));
	assert_value(d[1], rx(1500, 1));
	/* Map total 7500/6 = memory's 2500+1500 + 2000+1500, 2+1 + 2+1. */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_move_after_the_look),
		cmocka_unit_test(test_debt_carries_to_the_next_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

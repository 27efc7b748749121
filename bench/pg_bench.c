// SPDX-License-Identifier: MIT
/*
 * The PostgreSQL writer of --db (issue 13, item 4):
 *
 *   build/bench/pg_bench URL [ADDRESSES [ROUNDS]]      (65536, 5)
 *
 * Each round is one flush as the daemon does it: store_begin(), one
 * store_add() per (address, process) row, the overflow row,
 * store_set_state(), store_commit().  Round 1 also creates the address
 * and process rows (first sight of every address); later rounds find
 * their ids in the cache and only add to the buckets.  Prints rows/s per
 * round and the database's size growth per row.  Use a throwaway
 * database: the rows stay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store.h"

int main(int argc, char **argv)
{
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 65536;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	struct store_config cfg = {.interval = 60, .host = "bench"};
	struct store_iface_state st = {.instance = 1};
	struct itm_value other = {1, 1, 1, 1};
	struct store *s;
	int64_t iface;

	if (argc < 2 || !n || rounds < 1) {
		fprintf(stderr, "usage: %s URL [ADDRESSES [ROUNDS]]\n",
			argv[0]);
		return 2;
	}
	cfg.path = argv[1];
	if (store_open(&cfg, &s) || store_iface(s, "bench0", &iface))
		return 1;
	printf("PostgreSQL writer, %zu rows per flush\n\n", n);
	printf("| round | flush s | rows/s |\n|---|---|---|\n");
	for (int r = 0; r < rounds; r++) {
		double t0 = monotonic_seconds();
		int err = store_begin(s, 1700000000 + r * 60);

		for (size_t i = 0; !err && i < n; i++) {
			struct store_row row = {.pid = 0,
						.v = {1500, 3, 900, 2}};

			row.addr.s6_addr[0] = 0xfd;
			memcpy(&row.addr.s6_addr[8], &i, sizeof(i));
			err = store_add(s, iface, &row);
		}
		if (!err)
			err = store_add_other(s, iface, STORE_OTHER_OVERFLOW,
					      &other);
		st.seq = (uint64_t)r + 1;
		if (!err)
			err = store_set_state(s, iface, &st);
		if (!err)
			err = store_commit(s);
		if (err) {
			fprintf(stderr, "flush failed: %s\n", store_errmsg(s));
			store_rollback(s);
			store_close(s);
			return 1;
		}
		t0 = monotonic_seconds() - t0;
		printf("| %d%s | %.2f | %.0f |\n", r + 1,
		       r ? "" : " (new addresses)", t0, (double)n / t0);
	}
	store_close(s);
	return 0;
}

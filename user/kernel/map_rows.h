/* SPDX-License-Identifier: MIT */
#ifndef ITM_MAP_ROWS_H
#define ITM_MAP_ROWS_H

#include <stdbool.h>
#include <stddef.h>

#include "itm_shared.h"

/* Rows read from one statistics map: key and per-CPU sum. */
struct map_rows {
	struct itm_key *keys;
	struct itm_value *vals;
	size_t n, cap;
};

/*
 * Read every entry of fd without deleting it, per-CPU values summed,
 * `batch` at a time through scratch (batch x ncpus per-CPU values).
 * pid0_last: read pid 0's entries once more after all others, for a map
 * --xdp still moves received traffic in (move_rx() in bpf/traffic.bpf.c).
 * 0 or -errno.
 */
int map_rows_read(int fd, int ncpus, void *scratch, size_t batch,
		  bool pid0_last, struct map_rows *r);
/* Delete r's keys from fd (keys already gone are not an error). */
int map_rows_delete(int fd, const struct map_rows *r);
/* Room for `more` rows after r->n; 0 or -ENOMEM. */
int map_rows_reserve(struct map_rows *r, size_t more);
void map_rows_free(struct map_rows *r);

#endif

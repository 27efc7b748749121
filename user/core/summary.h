/* SPDX-License-Identifier: MIT */
/* Console tables: the periodic top-N and the final summary. */
#ifndef ITM_SUMMARY_H
#define ITM_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "table.h"

/* "1.50 MiB"-style size with exact bytes kept elsewhere; buf >= 16 bytes. */
const char *format_bytes_human(uint64_t bytes, char *buf, size_t len);
/*
 * Top n remote addresses by tx+rx bytes (all of them when n == 0), one
 * row each with exact tx/rx bytes and packets plus a human-readable total,
 * followed by a row for the traffic of evicted or refused addresses (when
 * there is any) and a totals row over all of it.
 */
int summary_render(const struct ip_table *t, size_t n, struct strbuf *out);
/*
 * The same with a PROCESS[PID] column from the per-(address, pid) table
 * (procs may be NULL), and a row for the kernel maps' overflow counters
 * (overflow may be NULL), so that TOTAL equals ip_traffic_all_*.
 */
int summary_render_processes(const struct ip_table *t,
			     const struct ip_table *procs,
			     const struct itm_value *overflow, size_t n,
			     struct strbuf *out);

/*
 * The same fitted to width display cells (a terminal's): columns as wide
 * as their contents, the least needed dropped or cut so that no line is
 * longer than width.  width <= 0: summary_render_processes()'s fixed
 * columns, wide enough for any address and counter (files, pipes).
 */
int summary_render_fit(const struct ip_table *t, const struct ip_table *procs,
		       const struct itm_value *overflow, size_t n, int width,
		       struct strbuf *out);

#endif

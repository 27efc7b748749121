/* SPDX-License-Identifier: MIT */
/*
 * Deltas of a statistics map read while programs still write to it
 * (persist.c's look at the active map while a commit waits), when --xdp
 * moves received traffic inside the map.
 *
 * Under --xdp with attribution, XDP counts every received frame under
 * (address, pid 0) and TC ingress then moves what it attributes to a
 * process to (address, pid), in the same map (move_rx() in
 * bpf/traffic.bpf.c).  That is the one way an entry of a map goes down:
 * a read that fell between XDP's count and TC's move has applied the
 * frame under pid 0, and the next read finds it under the pid.  Applying
 * cur - applied per entry would then take pid 0 back (a u64 that wraps).
 *
 * Instead, per address: pid 0's rx goes down by nothing (what memory has
 * applied stays applied), and the address's other pids give up as much
 * of their rx growth, so the address's total is exact and no series goes
 * back.  The debt is not forgotten: pid 0's applied value stays above the
 * map's, so the next read finds it again and takes it from the pids'
 * next growth, until pid 0 grows past it.
 */
#ifndef ITM_RXMOVE_H
#define ITM_RXMOVE_H

#include <stddef.h>

#include "itm_shared.h"

/*
 * For n entries of one read: cur[i] what the map holds, applied[i] what
 * memory already applied from it (zeros for an entry it never saw).
 * Writes the delta to apply to d[i]; applied[i] + d[i] is then what
 * memory has applied (it may exceed cur[i] for pid 0, and stay below it
 * for a pid that paid).  Returns the number of entries whose applied
 * value differs from cur[i] after it (0: the plain cur - applied), or
 * -ENOMEM.
 */
long rxmove_deltas(const struct itm_key *keys, const struct itm_value *cur,
		   const struct itm_value *applied, size_t n,
		   struct itm_value *d);

#endif

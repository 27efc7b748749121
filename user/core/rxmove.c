// SPDX-License-Identifier: MIT
#include "rxmove.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* What pid 0 of one address went down by, and what is still to take. */
struct debt {
	__u8 addr[16];
	__u64 bytes, packets;
};

static int debt_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static __u64 sub0(__u64 a, __u64 b)
{
	return a > b ? a - b : 0;
}

static __u64 take(__u64 *want, __u64 *owed)
{
	__u64 t = *want < *owed ? *want : *owed;

	*want -= t;
	*owed -= t;
	return t;
}

long rxmove_deltas(const struct itm_key *keys, const struct itm_value *cur,
		   const struct itm_value *applied, size_t n,
		   struct itm_value *d)
{
	struct debt *debts = NULL;
	size_t nd = 0;
	long changed = 0;

	/* Reads of a map being written are rare; decreases rarer still. */
	for (size_t i = 0; i < n; i++) {
		d[i].tx_bytes = cur[i].tx_bytes - applied[i].tx_bytes;
		d[i].tx_packets = cur[i].tx_packets - applied[i].tx_packets;
		d[i].rx_bytes = sub0(cur[i].rx_bytes, applied[i].rx_bytes);
		d[i].rx_packets =
			sub0(cur[i].rx_packets, applied[i].rx_packets);
		if (keys[i].pid || (cur[i].rx_bytes >= applied[i].rx_bytes &&
				    cur[i].rx_packets >= applied[i].rx_packets))
			continue;
		if (!debts) {
			debts = calloc(n, sizeof(*debts));
			if (!debts)
				return -ENOMEM;
		}
		memcpy(debts[nd].addr, keys[i].addr, 16);
		debts[nd].bytes = sub0(applied[i].rx_bytes, cur[i].rx_bytes);
		debts[nd].packets =
			sub0(applied[i].rx_packets, cur[i].rx_packets);
		nd++;
		changed++;
	}
	if (!nd)
		return 0;
	/* One pid-0 entry per address in a map: the addresses are unique. */
	qsort(debts, nd, sizeof(*debts), debt_cmp);
	for (size_t i = 0; i < n; i++) {
		struct debt *o;
		__u64 tb, tp;

		if (!keys[i].pid)
			continue;
		o = bsearch(keys[i].addr, debts, nd, sizeof(*debts), debt_cmp);
		if (!o)
			continue;
		tb = take(&d[i].rx_bytes, &o->bytes);
		tp = take(&d[i].rx_packets, &o->packets);
		changed += tb || tp;
	}
	free(debts);
	return changed;
}

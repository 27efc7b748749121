// SPDX-License-Identifier: MIT
/*
 * The kernel/user ABI, checked on the userspace side: the BPF programs
 * and this program must agree on every size and offset in itm_shared.h
 * (the maps are copied byte for byte).  A change there fails the build
 * here until both sides are updated together.
 */
#include <stddef.h>

#include "itm_shared.h"

#define ABI_SIZE(type, size)                                                   \
	_Static_assert(sizeof(type) == (size), #type " changed size")
#define ABI_FIELD(type, field, off)                                            \
	_Static_assert(offsetof(type, field) == (off),                         \
		       #type "." #field " moved")

ABI_SIZE(struct itm_key, 24);
ABI_FIELD(struct itm_key, addr, 0);
ABI_FIELD(struct itm_key, pid, 16);
ABI_FIELD(struct itm_key, pad, 20);

ABI_SIZE(struct itm_owner, 24);
ABI_FIELD(struct itm_owner, pid, 0);
ABI_FIELD(struct itm_owner, pad, 4);
ABI_FIELD(struct itm_owner, comm, 8);
_Static_assert(ITM_COMM_LEN == 16,
	       "ITM_COMM_LEN is the kernel's TASK_COMM_LEN");

ABI_SIZE(struct itm_value, 32);
ABI_FIELD(struct itm_value, tx_bytes, 0);
ABI_FIELD(struct itm_value, tx_packets, 8);
ABI_FIELD(struct itm_value, rx_bytes, 16);
ABI_FIELD(struct itm_value, rx_packets, 24);

ABI_SIZE(struct itm_counter, 16);
ABI_FIELD(struct itm_counter, packets, 0);
ABI_FIELD(struct itm_counter, bytes, 8);
/* The counters map has one slot per index: its size is part of the ABI. */
_Static_assert(ITM_CTR_MAX == 6, "enum itm_counter_index changed");

/*
 * Pinned and read back by a later run: a change here must also bump
 * ITM_PIN_LAYOUT so the later run refuses instead of misreading it.
 */
ABI_SIZE(struct itm_meta, 40);
ABI_FIELD(struct itm_meta, layout, 0);
ABI_FIELD(struct itm_meta, pad, 4);
ABI_FIELD(struct itm_meta, instance, 8);
ABI_FIELD(struct itm_meta, seq, 16);
ABI_FIELD(struct itm_meta, next_seq, 32);
_Static_assert(ITM_PIN_LAYOUT == 1, "pinned layout version changed");

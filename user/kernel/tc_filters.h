/* SPDX-License-Identifier: MIT */
/* What else sits on an interface's clsact hook (netlink filter dump). */
#ifndef ITM_TC_FILTERS_H
#define ITM_TC_FILTERS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Number of filters on the clsact ingress or egress hook of ifindex other
 * than the one with (handle, priority).  Returns >= 0 or -errno.
 */
int tc_count_other_filters(int ifindex, bool ingress, uint32_t handle,
			   uint32_t priority);

#endif

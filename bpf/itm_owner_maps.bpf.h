/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket-owner storage, declared identically in both BPF objects; user
 * space creates it once (owner object) and hands the fd to every TC object.
 */
#ifndef ITM_OWNER_MAPS_BPF_H
#define ITM_OWNER_MAPS_BPF_H

#include "itm_shared.h"

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct itm_owner);
} itm_sk_owner SEC(".maps");

#endif

/* SPDX-License-Identifier: MIT */
/* qqwry.dat internals exposed for tests and the record walk. */
#ifndef ITM_GEO_QQWRY_H
#define ITM_GEO_QQWRY_H

#include <stddef.h>
#include <stdint.h>

struct geo_fields;

uint32_t qqwry_count(void *state);
/* Record i decoded to UTF-8, placeholders emptied; -errno if corrupt. */
int qqwry_decode(void *state, uint32_t i, uint32_t *start, uint32_t *end,
		 char *country, char *area, size_t len);
/* Labels from a decoded country/area pair. */
void qqwry_fields(const char *country, const char *area,
		  struct geo_fields *out);

#endif

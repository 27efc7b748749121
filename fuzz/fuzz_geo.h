/* SPDX-License-Identifier: MIT */
/* Open one database from the input and look up addresses it names. */
#ifndef ITM_FUZZ_GEO_H
#define ITM_FUZZ_GEO_H

#include <string.h>

#include "fuzz_file.h"
#include "geo_int.h"

static void fuzz_provider(const struct geo_provider *p, const uint8_t *data,
			  size_t size)
{
	static const char *const langs[] = {"zh-CN", "en", "CN", "EN"};
	struct geo_fields out;
	struct in6_addr a;
	char err[256];
	void *state;

	if (p->open(fuzz_file(data, size), &state, err, sizeof(err)))
		return;
	/* Fixed probes, then addresses taken from the input's own bytes. */
	memset(&a, 0, sizeof(a));
	for (int i = 0; i < 4; i++) {
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		a.s6_addr[12] = (uint8_t)(i * 64 + 1);
		p->lookup(state, &a, langs[i], &out);
	}
	memset(&a, 0, sizeof(a));
	a.s6_addr[0] = 0x20;
	a.s6_addr[1] = 0x01;
	p->lookup(state, &a, "en", &out);
	for (size_t off = 0; off + 16 <= size && off < 16 * 64; off += 16) {
		memcpy(&a, data + off, 16);
		p->lookup(state, &a, langs[off / 16 % 4], &out);
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		memset(&a, 0, 10);
		p->lookup(state, &a, langs[off / 16 % 4], &out);
	}
	p->close(state);
}

#endif

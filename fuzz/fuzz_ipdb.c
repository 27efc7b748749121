// SPDX-License-Identifier: MIT
/* libFuzzer: the IPIP.net ipdb reader (header, node tree, records). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_geo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_provider(&geo_ipdb_provider, data, size);
	return 0;
}

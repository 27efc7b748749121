// SPDX-License-Identifier: MIT
/* libFuzzer: the 纯真 qqwry.dat reader (open walks every record). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_geo.h"
#include "qqwry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_provider(&geo_qqwry_provider, data, size);
	return 0;
}

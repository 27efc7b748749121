// SPDX-License-Identifier: MIT
/* libFuzzer: the ipdb JSON header parser on its own. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so reading one byte past it is caught. */
	char *json = malloc(size ? size : 1);
	struct ipdb_header h;

	if (!json)
		return 0;
	memcpy(json, data, size);
	ipdb_parse_header(json, size, &h);
	free(json);
	return 0;
}

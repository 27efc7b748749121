// SPDX-License-Identifier: MIT
/* libFuzzer: the Accept-Encoding rule that picks gzip for /metrics. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* MHD hands us a NUL-terminated header value. */
	char *v = malloc(size + 1);

	if (!v)
		return 0;
	memcpy(v, data, size);
	v[size] = '\0';
	http_accepts_gzip(v);
	free(v);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the command-line parser.  The input is argv without argv[0],
 * arguments separated by NUL bytes; each one is its own allocation so that
 * a pointer kept past its lifetime or a read past its end is caught.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	char *argv[MAX_ARGS + 2];
	struct options o;
	int argc = 1;
	size_t off = 0;

	if (!null)
		null = fopen("/dev/null", "w");
	if (!null)
		abort();
	argv[0] = strdup("ip_traffic_monitor_cli");
	while (off < size && argc <= MAX_ARGS) {
		const uint8_t *nul = memchr(data + off, 0, size - off);
		size_t n = nul ? (size_t)(nul - (data + off)) : size - off;

		argv[argc] = malloc(n + 1);
		if (!argv[argc])
			abort();
		memcpy(argv[argc], data + off, n);
		argv[argc][n] = '\0';
		argc++;
		off += n + 1;
	}
	argv[argc] = NULL;
	options_parse(&o, argc, argv, null, null);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return 0;
}

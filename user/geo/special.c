// SPDX-License-Identifier: MIT
/*
 * Addresses no database should be asked about: private, loopback,
 * link-local, CGNAT, documentation, multicast and reserved ranges
 * (RFC 6890 and friends).  They get a recognisable country instead of a
 * failed lookup (qqwry would say "IANA", GeoLite2 nothing at all).
 */
#include <string.h>

#include "geo_int.h"

enum kind { LAN, RESERVED };

struct range {
	uint8_t prefix[16];
	uint8_t bits;
	enum kind kind;
};

#define V4(a, b, c, d)                                                         \
	{                                                                      \
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d           \
	}

static const struct range ranges[] = {
	{V4(0, 0, 0, 0), 96 + 8, RESERVED}, /* "this network" */
	{V4(10, 0, 0, 0), 96 + 8, LAN},
	{V4(100, 64, 0, 0), 96 + 10, LAN}, /* CGNAT */
	{V4(127, 0, 0, 0), 96 + 8, LAN},
	{V4(169, 254, 0, 0), 96 + 16, LAN},
	{V4(172, 16, 0, 0), 96 + 12, LAN},
	{V4(192, 0, 0, 0), 96 + 24, RESERVED}, /* IETF protocol */
	{V4(192, 0, 2, 0), 96 + 24, RESERVED}, /* TEST-NET-1 */
	{V4(192, 168, 0, 0), 96 + 16, LAN},
	{V4(198, 18, 0, 0), 96 + 15, RESERVED},	  /* benchmarking */
	{V4(198, 51, 100, 0), 96 + 24, RESERVED}, /* TEST-NET-2 */
	{V4(203, 0, 113, 0), 96 + 24, RESERVED},  /* TEST-NET-3 */
	{V4(224, 0, 0, 0), 96 + 4, RESERVED},	  /* multicast */
	{V4(240, 0, 0, 0), 96 + 4, RESERVED},	  /* + broadcast */
	{{0}, 128, RESERVED},			  /* :: */
	{{[15] = 1}, 128, LAN},			  /* ::1 */
	{{0xfc}, 7, LAN},			  /* ULA */
	{{0xfe, 0x80}, 10, LAN},		  /* link-local */
	{{0x20, 0x01, 0x0d, 0xb8}, 32, RESERVED}, /* documentation */
	{{0x3f, 0xff}, 20, RESERVED},		  /* documentation */
	{{0xff}, 8, RESERVED},			  /* multicast */
};

static bool in_range(const uint8_t *a, const struct range *r)
{
	unsigned int full = r->bits / 8, rest = r->bits % 8;
	uint8_t mask;

	if (memcmp(a, r->prefix, full))
		return false;
	if (!rest)
		return true;
	mask = 0xff << (8 - rest);
	return (a[full] & mask) == (r->prefix[full] & mask);
}

bool geo_special(const struct in6_addr *a, bool zh, struct geo_fields *out)
{
	static const char *const name[2][2] = {
		[LAN] = {"LAN", "局域网"},
		[RESERVED] = {"Reserved", "保留地址"},
	};
	size_t i;

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		if (!in_range(a->s6_addr, &ranges[i]))
			continue;
		geo_copy(out->f[GEO_COUNTRY], GEO_FIELD_LEN,
			 name[ranges[i].kind][zh], GEO_FIELD_LEN);
		return true;
	}
	return false;
}

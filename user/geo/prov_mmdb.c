// SPDX-License-Identifier: MIT
/*
 * MaxMind DB provider (GeoLite2/GeoIP2 City and Country, GeoIP2-ISP,
 * GeoLite2-ASN) on libmaxminddb.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <maxminddb.h>

#include "geo_int.h"
#include "i18n.h"

static int mmdb_open(const char *path, void **state, char *err, size_t errlen)
{
	MMDB_s *db = calloc(1, sizeof(*db));
	char byfd[32];
	int st, fd;

	if (!db) {
		snprintf(err, errlen, _("%s: out of memory"), path);
		return -ENOMEM;
	}
	/*
	 * libmaxminddb opens the path itself, and its open(2) blocks on a
	 * FIFO.  Hand it the regular file checked here, by descriptor, so
	 * that a FIFO renamed into place in between is not what it opens
	 * (the path itself only where /proc is missing).
	 */
	fd = geo_open_regular(path, err, errlen);
	if (fd < 0) {
		free(db);
		return fd;
	}
	snprintf(byfd, sizeof(byfd), "/proc/self/fd/%d", fd);
	st = MMDB_open(access(byfd, R_OK) ? path : byfd, MMDB_MODE_MMAP, db);
	close(fd);
	if (st == MMDB_IO_ERROR || st == MMDB_OUT_OF_MEMORY_ERROR) {
		snprintf(err, errlen, "%s: %s", path, MMDB_strerror(st));
		free(db);
		return st == MMDB_IO_ERROR ? -EIO : -ENOMEM;
	}
	if (st != MMDB_SUCCESS) {
		/* a cut inside the metadata reads as bad data: say both */
		snprintf(err, errlen,
			 _("%s: truncated or corrupt MaxMind DB: %s"), path,
			 MMDB_strerror(st));
		free(db);
		return -EINVAL;
	}
	*state = db;
	return 0;
}

static void mmdb_close(void *state)
{
	MMDB_close(state);
	free(state);
}

/* Copies the UTF-8 string at path (NULL-terminated list) if there is one. */
static bool get_str(MMDB_entry_s *e, const char *const *path, char *out)
{
	MMDB_entry_data_s d;

	if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data ||
	    d.type != MMDB_DATA_TYPE_UTF8_STRING || !d.data_size)
		return false;
	geo_copy(out, GEO_FIELD_LEN, d.utf8_string, d.data_size);
	return out[0] != '\0';
}

/*
 * "AS<number> <organisation>" (GeoLite2-ASN, GeoIP2-ISP); just "AS<number>"
 * without an organisation.  No number, no label: an organisation alone
 * does not name an autonomous system.
 */
static bool get_asn(MMDB_entry_s *e, char *out)
{
	static const char *const num[] = {"autonomous_system_number", NULL};
	static const char *const org[] = {"autonomous_system_organization",
					  NULL};
	char name[GEO_FIELD_LEN];
	MMDB_entry_data_s d;
	uint64_t n;

	if (MMDB_aget_value(e, &d, num) != MMDB_SUCCESS || !d.has_data)
		return false;
	switch (d.type) {
	case MMDB_DATA_TYPE_UINT16:
		n = d.uint16;
		break;
	case MMDB_DATA_TYPE_UINT32:
		n = d.uint32;
		break;
	case MMDB_DATA_TYPE_UINT64:
		n = d.uint64;
		break;
	default:
		return false;
	}
	/* 0 is reserved, and AS numbers are 32 bits (RFC 6793) */
	if (!n || n > UINT32_MAX)
		return false;
	if (get_str(e, org, name))
		snprintf(out, GEO_FIELD_LEN, "AS%" PRIu64 " %.*s", n,
			 GEO_FIELD_LEN - 24, name);
	else
		snprintf(out, GEO_FIELD_LEN, "AS%" PRIu64, n);
	return true;
}

/* <a>[.<b>].names.<lang> */
static bool get_name(MMDB_entry_s *e, const char *a, const char *b,
		     const char *lang, char *out)
{
	const char *path[6] = {a};
	int i = 1;

	if (b)
		path[i++] = b;
	path[i++] = "names";
	path[i] = lang;
	return get_str(e, path, out);
}

static int mmdb_lookup(void *state, const struct in6_addr *addr,
		       const char *lang, struct geo_fields *out)
{
	static const char *const isp[] = {"isp", NULL};
	static const char *const asorg[] = {"autonomous_system_organization",
					    NULL};
	static const char *const cc[] = {"country", "iso_code", NULL};
	static const char *const rcc[] = {"registered_country", "iso_code",
					  NULL};
	static const char *const sub[] = {"subdivisions", "0", "iso_code",
					  NULL};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	const struct sockaddr *sa = (struct sockaddr *)&sin6;
	const char *where = "country", *cn_prov;
	char code[GEO_FIELD_LEN];
	MMDB_lookup_result_s r;
	int st;

	/* IPv4-only databases refuse AF_INET6, even for ::ffff:a.b.c.d */
	if (IN6_IS_ADDR_V4MAPPED(addr)) {
		memcpy(&sin.sin_addr, &addr->s6_addr[12], 4);
		sa = (struct sockaddr *)&sin;
	} else {
		sin6.sin6_addr = *addr;
	}
	r = MMDB_lookup_sockaddr(state, sa, &st);
	if (st != MMDB_SUCCESS || !r.found_entry)
		return -ENOENT;
	/*
	 * registered_country (where the network is registered) stands in
	 * when the record has no country: anycast and satellite ranges.
	 */
	if (!get_name(&r.entry, where, NULL, lang, out->f[GEO_COUNTRY]) &&
	    !get_name(&r.entry, where, NULL, "en", out->f[GEO_COUNTRY]))
		where = "registered_country";
	if (!get_str(&r.entry, where[0] == 'c' ? cc : rcc, code))
		code[0] = '\0';
	if (strlen(code) == 2)
		memcpy(out->cc, code, 3);
	/*
	 * One language per record: names in lang, or all in en when the
	 * country has no name in lang; a finer place without a name in the
	 * chosen language stays unknown rather than mix two languages.
	 */
	out->f[GEO_COUNTRY][0] = '\0';
	if (!get_name(&r.entry, where, NULL, lang, out->f[GEO_COUNTRY])) {
		lang = "en";
		get_name(&r.entry, where, NULL, lang, out->f[GEO_COUNTRY]);
	}
	if (out->f[GEO_COUNTRY][0] && where[0] == 'c') {
		get_name(&r.entry, "subdivisions", "0", lang,
			 out->f[GEO_PROVINCE]);
		get_name(&r.entry, "city", NULL, lang, out->f[GEO_CITY]);
		/* Chinese provinces by code: GeoLite2 names some in short */
		if (!strcmp(out->cc, "CN") && !strcmp(lang, "zh-CN") &&
		    get_str(&r.entry, sub, code) &&
		    (cn_prov = cn_province_by_code(code)))
			geo_copy(out->f[GEO_PROVINCE], GEO_FIELD_LEN, cn_prov,
				 strlen(cn_prov));
	}
	if (!get_str(&r.entry, isp, out->f[GEO_ISP]))
		get_str(&r.entry, asorg, out->f[GEO_ISP]);
	get_asn(&r.entry, out->f[GEO_ASN]);
	return 0;
}

const struct geo_provider geo_mmdb_provider = {
	.name = "mmdb",
	.open = mmdb_open,
	.lookup = mmdb_lookup,
	.close = mmdb_close,
};

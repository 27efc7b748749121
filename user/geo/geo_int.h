/* SPDX-License-Identifier: MIT */
/* Internals shared by the geo layer's files; not part of its API. */
#ifndef ITM_GEO_INT_H
#define ITM_GEO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "geo.h"

#define GEO_MAX_DBS   16
#define GEO_FIELD_LEN 256

/*
 * What one database says about one address; "" = does not know.  cc is
 * the ISO 3166-1 code of the country when the database gives one or its
 * name is in the country table ("" otherwise).
 */
struct geo_fields {
	char f[GEO_NLABELS][GEO_FIELD_LEN];
	char cc[3];
};

#define GEO_COUNTRY_ALIASES 2

struct geo_country {
	const char *cc;
	const char *name; /* canonical Chinese name (纯真's) */
	const char *alias[GEO_COUNTRY_ALIASES];
};

const struct geo_country *geo_country_by_code(const char *cc);
const struct geo_country *geo_country_by_name(const char *s);
size_t geo_country_prefix(const char *s, const struct geo_country **out);

/* 纯真 first fields that are not a country name (countries.c). */
enum geo_first_kind {
	GEO_FIRST_REGION,  /* 亚太地区: kept whole, no ISO code */
	GEO_FIRST_NONE,	   /* anycast, a carrier: no place */
	GEO_FIRST_CN,	   /* a university in mainland China: 中国 */
	GEO_FIRST_IS,	   /* exactly ->as ("美" is 美国) */
	GEO_FIRST_READ_AS, /* starts with a misspelling: read as ->as */
};

struct geo_first_field {
	const char *field;
	enum geo_first_kind kind;
	const char *as;
};

const struct geo_first_field *geo_first_field(const char *s, size_t *n);
bool geo_first_is_region(const char *s);

enum geo_role {
	GEO_ROLE_GEO, /* -g: all four labels */
	GEO_ROLE_ISP, /* --isp-db: isp only */
};

struct geo_provider {
	const char *name;
	/* 0 and *state set, or -errno with a reason in err */
	int (*open)(const char *path, void **state, char *err, size_t errlen);
	/* 0 with out filled (possibly partly), or -ENOENT */
	int (*lookup)(void *state, const struct in6_addr *addr,
		      const char *lang, struct geo_fields *out);
	void (*close)(void *state);
	/* Names only in Chinese, whatever --geoip-lang asks (纯真); NULL =
	 * no */
	bool (*chinese_only)(const void *state);
};

extern const struct geo_provider geo_mmdb_provider;
extern const struct geo_provider geo_qqwry_provider;
extern const struct geo_provider geo_ipdb_provider;

/* Picks the provider from the file's first bytes; NULL + err if unknown. */
const struct geo_provider *geo_detect(const char *path, char *err,
				      size_t errlen);

/* Reads a whole regular file into malloc'd memory (not mmap: a file
 * truncated in place must not SIGBUS us). */
int geo_read_file(const char *path, uint8_t **data, size_t *len);

struct geo_file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
	mode_t mode; /* not compared: for the regular-file check */
};

/* An fd of a regular file (opened without blocking), or -errno with the
 * reason in err ("is a FIFO, not a regular file"). */
int geo_open_regular(const char *path, char *err, size_t errlen);

int geo_file_id(const char *path, struct geo_file_id *id);
bool geo_file_id_eq(const struct geo_file_id *a, const struct geo_file_id *b);

struct geo_db {
	char *path;
	const char *ipath; /* interned copy: stable for results */
	enum geo_role role;
	const struct geo_provider *prov;
	void *state;
	struct geo_file_id id;	   /* of the data in use */
	struct geo_file_id failed; /* last file that failed to load */
	bool have_failed;
	bool chinese_only; /* of the data in use */
};

struct geo_cache;
struct geo_intern;
struct answer {
	struct geo_fields f;
	bool ok;
};

struct geo_ctx {
	struct geo_db dbs[GEO_MAX_DBS];
	size_t n_dbs;
	bool zh;       /* lang is Chinese: 纯真 names, 中国电信 */
	char lang[16]; /* MaxMind names key, e.g. "zh-CN", "en" */
	struct geo_intern *strs;
	struct geo_cache *cache;
	struct answer *answers; /* geo_lookup's scratch, one per database */
};

int geo_db_load(struct geo_db *db, char *err, size_t errlen);

/* private, loopback, documentation ...: fills res and returns true */
bool geo_special(const struct in6_addr *a, bool zh, struct geo_fields *out);

/* Chinese names: 纯真 strings, canonical places, carrier names. */
void cn_split_region(const char *s, struct geo_fields *out);
const char *cn_province_by_code(const char *iso);
void cn_canon_place(struct geo_fields *f);
/* One Chinese name per place abroad (abroad.c). */
void geo_canon_abroad(struct geo_fields *f);
void geo_isp_label(const char *raw, const char *cc, bool zh, char *out,
		   size_t len);
const char *cn_carrier_by_asn(uint32_t asn, bool zh);

/* Interning: strings and label tuples that live until geo_intern_free(). */
struct geo_intern *geo_intern_new(void);
void geo_intern_free(struct geo_intern *in);
const char *geo_intern_str(struct geo_intern *in, const char *s);
const struct geo_labels *geo_intern_labels(struct geo_intern *in,
					   const struct geo_labels *l);

struct geo_cache *geo_cache_new(void);
void geo_cache_free(struct geo_cache *c);
void geo_cache_clear(struct geo_cache *c);
const struct geo_labels *geo_cache_find(struct geo_cache *c,
					const struct in6_addr *a);
void geo_cache_put(struct geo_cache *c, const struct in6_addr *a,
		   const struct geo_labels *l);

/* Text IPv4 (as ::ffff:a.b.c.d) or IPv6; 0 or -EINVAL. */
int geo_parse_addr(const char *s, struct in6_addr *a);

void geo_copy(char *dst, size_t len, const char *src, size_t n);

#endif

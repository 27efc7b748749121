// SPDX-License-Identifier: MIT
/* The geo context: opens the databases and merges their answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "geo_int.h"

/* Opens db->path into a fresh state; swaps it in only on success. */
int geo_db_load(struct geo_db *db, char *err, size_t errlen)
{
	const struct geo_provider *prov;
	struct geo_file_id before, after;
	void *state;
	int ret;

	ret = geo_file_id(db->path, &before);
	if (ret) {
		snprintf(err, errlen, "%s: %s", db->path, strerror(-ret));
		return ret;
	}
	prov = geo_detect(db->path, err, errlen);
	if (!prov)
		return -errno;
	ret = prov->open(db->path, &state, err, errlen);
	if (ret)
		return ret;
	/* A file rewritten while we read it: use it, but look again later. */
	if (geo_file_id(db->path, &after) || !geo_file_id_eq(&before, &after))
		before.mtime_ns = -1;
	if (db->prov)
		db->prov->close(db->state);
	db->prov = prov;
	db->state = state;
	db->id = before;
	db->have_failed = false;
	return 0;
}

static void geo_free(struct geo_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->n_dbs; i++) {
		if (ctx->dbs[i].prov)
			ctx->dbs[i].prov->close(ctx->dbs[i].state);
		free(ctx->dbs[i].path);
	}
	geo_cache_free(ctx->cache);
	geo_intern_free(ctx->strs);
	free(ctx);
}

static int add_db(struct geo_ctx *ctx, const char *path, enum geo_role role,
		  char *err, size_t errlen)
{
	struct geo_db *db;

	if (ctx->n_dbs == GEO_MAX_DBS) {
		snprintf(err, errlen, "too many databases (at most %d)",
			 GEO_MAX_DBS);
		return -E2BIG;
	}
	db = &ctx->dbs[ctx->n_dbs];
	db->path = strdup(path);
	db->ipath = geo_intern_str(ctx->strs, path);
	if (!db->path || !db->ipath) {
		free(db->path);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	db->role = role;
	ctx->n_dbs++;
	return geo_db_load(db, err, errlen);
}

struct geo_ctx *geo_open(const struct geo_config *cfg, char *err, size_t errlen)
{
	const char *lang = cfg->lang && *cfg->lang ? cfg->lang : "zh-CN";
	struct geo_ctx *ctx;
	size_t i;
	int ret = 0;

	if (errlen)
		err[0] = '\0';
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	ctx->zh = !strncasecmp(lang, "zh", 2);
	/* "zh", "zh_CN", "zh-cn" all mean the key MaxMind spells zh-CN */
	snprintf(ctx->lang, sizeof(ctx->lang), "%s", ctx->zh ? "zh-CN" : lang);
	ctx->strs = geo_intern_new();
	ctx->cache = geo_cache_new();
	if (!ctx->strs || !ctx->cache) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	for (i = 0; !ret && i < cfg->n_geo; i++)
		ret = add_db(ctx, cfg->geo_paths[i], GEO_ROLE_GEO, err, errlen);
	for (i = 0; !ret && i < cfg->n_isp; i++)
		ret = add_db(ctx, cfg->isp_paths[i], GEO_ROLE_ISP, err, errlen);
	if (ret)
		goto fail;
	return ctx;
fail:
	geo_free(ctx);
	errno = -ret;
	return NULL;
}

void geo_close(struct geo_ctx *ctx)
{
	if (ctx)
		geo_free(ctx);
}

static void take(struct geo_ctx *ctx, struct geo_result *res, int i,
		 const char *val, const char *src)
{
	if (res->label[i] || !val[0])
		return;
	res->label[i] = geo_intern_str(ctx->strs, val);
	if (res->label[i])
		res->source[i] = src;
}

int geo_lookup(struct geo_ctx *ctx, const struct in6_addr *addr,
	       struct geo_result *res)
{
	struct geo_fields f, special_f;
	bool special;
	size_t i;
	int l;

	memset(res, 0, sizeof(*res));
	memset(&special_f, 0, sizeof(special_f));
	special = geo_special(addr, ctx->zh, &special_f);
	for (i = 0; i < ctx->n_dbs; i++) {
		struct geo_db *db = &ctx->dbs[i];

		/*
		 * Private and reserved ranges get a recognisable name instead
		 * of a failed lookup.  Only a MaxMind DB may name them (a
		 * site's own ranges in a custom .mmdb); 纯真 data only says
		 * "局域网" in its own words.
		 */
		if (special && db->prov != &geo_mmdb_provider)
			continue;
		memset(&f, 0, sizeof(f));
		if (db->prov->lookup(db->state, addr, ctx->lang, &f))
			continue;
		if (db->role == GEO_ROLE_GEO) {
			for (l = 0; l < GEO_NLABELS; l++)
				take(ctx, res, l, f.f[l], db->ipath);
		} else {
			take(ctx, res, GEO_ISP, f.f[GEO_ISP], db->ipath);
		}
	}
	if (special && !res->label[GEO_COUNTRY])
		for (l = 0; l < GEO_NLABELS; l++)
			take(ctx, res, l, special_f.f[l], "builtin");
	return 0;
}

const struct geo_labels *geo_cache_get(struct geo_ctx *ctx,
				       const struct in6_addr *addr)
{
	static const struct geo_labels unknown;
	const struct geo_labels *l;
	struct geo_labels tmp;
	struct geo_result res;

	l = geo_cache_find(ctx->cache, addr);
	if (l)
		return l;
	geo_lookup(ctx, addr, &res);
	tmp.country = res.label[GEO_COUNTRY];
	tmp.province = res.label[GEO_PROVINCE];
	tmp.city = res.label[GEO_CITY];
	tmp.isp = res.label[GEO_ISP];
	/* Tuples are interned: thousands of them for millions of addresses. */
	l = geo_intern_labels(ctx->strs, &tmp);
	if (!l)
		return &unknown;
	geo_cache_put(ctx->cache, addr, l);
	return l;
}

// SPDX-License-Identifier: MIT
/* The geo context: opens the databases and merges their answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "geo_int.h"
#include "i18n.h"

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
	/* before libmaxminddb opens it (it would block on a FIFO) */
	ret = geo_open_regular(db->path, err, errlen);
	if (ret < 0)
		return ret;
	close(ret);
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
	db->chinese_only = prov->chinese_only && prov->chinese_only(state);
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
	free(ctx->answers);
	free(ctx);
}

static int add_db(struct geo_ctx *ctx, const char *path, enum geo_role role,
		  char *err, size_t errlen)
{
	struct geo_db *db;

	if (ctx->n_dbs == GEO_MAX_DBS) {
		snprintf(err, errlen, _("too many databases (at most %d)"),
			 GEO_MAX_DBS);
		return -E2BIG;
	}
	db = &ctx->dbs[ctx->n_dbs];
	db->path = strdup(path);
	db->ipath = geo_intern_str(ctx->strs, path);
	if (!db->path || !db->ipath) {
		free(db->path);
		snprintf(err, errlen, _("%s: out of memory"), path);
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
		snprintf(err, errlen, _("out of memory"));
		errno = ENOMEM;
		return NULL;
	}
	ctx->zh = !strncasecmp(lang, "zh", 2);
	/* "zh", "zh_CN", "zh-cn" all mean the key MaxMind spells zh-CN */
	snprintf(ctx->lang, sizeof(ctx->lang), "%s", ctx->zh ? "zh-CN" : lang);
	ctx->strs = geo_intern_new();
	ctx->cache = geo_cache_new();
	ctx->answers = calloc(GEO_MAX_DBS, sizeof(*ctx->answers));
	if (!ctx->strs || !ctx->cache || !ctx->answers) {
		snprintf(err, errlen, _("out of memory"));
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

/* The same country: by ISO code when both know it, else by name. */
static bool same_country(const struct geo_fields *a, const struct geo_fields *b)
{
	if (a->cc[0] && b->cc[0])
		return !strcmp(a->cc, b->cc);
	return !strcmp(a->f[GEO_COUNTRY], b->f[GEO_COUNTRY]);
}

/* The ISO code from a Chinese country name, for the carrier rule. */
static void set_cc(struct geo_fields *f)
{
	const struct geo_country *c = geo_country_by_name(f->f[GEO_COUNTRY]);

	if (c)
		snprintf(f->cc, sizeof(f->cc), "%s", c->cc);
}

/* The record's label l names the same place as f's (both known). */
static bool agrees(const struct geo_result *res, const struct geo_fields *f,
		   int l)
{
	return res->label[l] && f->f[l][0] && !strcmp(res->label[l], f->f[l]);
}

/*
 * A later database fills the record's missing province or city only
 * where it names every place the record already has: the same country,
 * the same province if the record has one, the same city if it has one.
 * Otherwise its finer fields may belong to another place (66.104.187.199:
 * 纯真's 达拉斯 with no state, GeoLite2's 奥兰多 in 佛罗里达州), and the
 * record stays as coarse as what the databases agree on.
 */
static void fill_place(struct geo_ctx *ctx, struct geo_result *res,
		       const struct geo_fields *base,
		       const struct geo_fields *f, const char *src)
{
	int l;

	if (!same_country(base, f))
		return;
	for (l = GEO_PROVINCE; l <= GEO_CITY; l++)
		if (res->label[l] && !agrees(res, f, l))
			return;
	take(ctx, res, GEO_PROVINCE, f->f[GEO_PROVINCE], src);
	take(ctx, res, GEO_CITY, f->f[GEO_CITY], src);
}

/* Database i's names are not in the wanted language (纯真 with en). */
static bool other_lang(const struct geo_ctx *ctx, size_t i)
{
	return ctx->dbs[i].chinese_only && !ctx->zh;
}

/*
 * Labels for one address, by the rules in docs/geography.md ("How addresses are
 * labelled"):
 *  - language: databases whose names are in the wanted language come
 *    first; Chinese-only 纯真 data answers in another language only when
 *    none of them knows the country, and then supplies the whole label
 *    set, so a set never mixes two languages;
 *  - coherence: the first database (in -g order) that knows the country
 *    (one with an ISO code before a mere region) supplies country,
 *    province and city; a later one fills a missing province or city
 *    only when it names every place the record has (fill_place), so a
 *    city is never put in another province or country;
 *  - ISP: the first database in the same language that knows one,
 *    labelled by one carrier vocabulary (geo_isp_label) in the light of
 *    the address's country;
 *  - ASN: the first database (-g, then --isp-db) that knows the number;
 *    "AS4134 CHINANET-BACKBONE" reads the same in every language.
 */
int geo_lookup(struct geo_ctx *ctx, const struct in6_addr *addr,
	       struct geo_result *res)
{
	struct answer *ans = ctx->answers;
	struct geo_fields special_f, *base = NULL;
	char isp[GEO_FIELD_LEN];
	bool special, foreign = false;
	const char *src;
	size_t i, b = 0;
	int pass;

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
		memset(&ans[i].f, 0, sizeof(ans[i].f));
		ans[i].ok = !(special && db->prov != &geo_mmdb_provider) &&
			    !db->prov->lookup(db->state, addr, ctx->lang,
					      &ans[i].f);
		if (!ans[i].ok)
			continue;
		/* 纯真 data answers in Chinese whatever the language: its
		 * names follow the Chinese rules then too */
		if (ctx->zh || db->chinese_only) {
			cn_canon_place(&ans[i].f);
			geo_canon_abroad(&ans[i].f);
		} else if (!ans[i].f.cc[0])
			set_cc(&ans[i].f);
		/* an ISP database's place only tells carriers apart */
		if (db->role == GEO_ROLE_ISP)
			memset(ans[i].f.f, 0, sizeof(ans[i].f.f[0]) * GEO_ISP);
	}
	/*
	 * pass 0: the wanted language; pass 1: Chinese-only data.  A region
	 * that is not a country (IANA, 亚太地区, 欧洲: no ISO code) counts
	 * only when no database of the pass names a country.
	 */
	for (pass = 0; !base && pass < 2; pass++) {
		for (i = 0; i < ctx->n_dbs; i++) {
			if (!ans[i].ok || other_lang(ctx, i) != pass ||
			    ctx->dbs[i].role != GEO_ROLE_GEO ||
			    !ans[i].f.f[GEO_COUNTRY][0])
				continue;
			if (!base || (!base->cc[0] && ans[i].f.cc[0])) {
				base = &ans[i].f;
				b = i;
				foreign = pass;
			}
			if (base->cc[0])
				break;
		}
	}
	if (base) {
		src = ctx->dbs[b].ipath;
		for (i = GEO_COUNTRY; i < GEO_ISP; i++)
			take(ctx, res, i, base->f[i], src);
		for (i = b + 1; i < ctx->n_dbs; i++) {
			if (!ans[i].ok || other_lang(ctx, i) != foreign ||
			    ctx->dbs[i].role != GEO_ROLE_GEO)
				continue;
			fill_place(ctx, res, base, &ans[i].f,
				   ctx->dbs[i].ipath);
		}
	}
	/*
	 * ISP: in the base's language (Chinese-only data when the base is,
	 * or when nothing knows the place); carriers by the base's country,
	 * else by the ISP database's own.
	 */
	for (pass = 0; !res->label[GEO_ISP] && pass < 2; pass++) {
		if (pass && base && !foreign)
			break;
		for (i = 0; !res->label[GEO_ISP] && i < ctx->n_dbs; i++) {
			const struct geo_fields *f = &ans[i].f;

			if (!ans[i].ok || other_lang(ctx, i) != pass ||
			    !f->f[GEO_ISP][0])
				continue;
			geo_isp_label(f->f[GEO_ISP], base ? base->cc : f->cc,
				      ctx->zh || ctx->dbs[i].chinese_only, isp,
				      sizeof(isp));
			take(ctx, res, GEO_ISP, isp, ctx->dbs[i].ipath);
		}
	}
	for (i = 0; !res->label[GEO_ASN] && i < ctx->n_dbs; i++)
		if (ans[i].ok)
			take(ctx, res, GEO_ASN, ans[i].f.f[GEO_ASN],
			     ctx->dbs[i].ipath);
	/*
	 * In mainland China a carrier's own AS names the carrier: identity,
	 * not a word inside a customer's name (cn_carrier_by_asn()).
	 */
	if (res->label[GEO_ASN] && base && !strcmp(base->cc, "CN")) {
		const char *c =
			cn_carrier_by_asn(geo_asn_number(res->label[GEO_ASN]),
					  ctx->zh || foreign);

		if (c) {
			res->label[GEO_ISP] = NULL;
			take(ctx, res, GEO_ISP, c, res->source[GEO_ASN]);
		}
	}
	if (special && !res->label[GEO_COUNTRY])
		for (i = 0; i < GEO_NLABELS; i++)
			take(ctx, res, i, special_f.f[i], "builtin");
	return 0;
}

const struct geo_labels *geo_cache_get(struct geo_ctx *ctx,
				       const struct in6_addr *addr)
{
	static const struct geo_labels unknown;
	const struct geo_labels *l;
	struct geo_labels tmp;
	struct geo_result res;

	/*
	 * With no database the answer comes from the built-in ranges alone
	 * (a handful of tuples, cheap to find again): no cache entry, so
	 * running without -g costs no memory per address.
	 */
	l = ctx->n_dbs ? geo_cache_find(ctx->cache, addr) : NULL;
	if (l)
		return l;
	geo_lookup(ctx, addr, &res);
	for (int i = 0; i < GEO_NLABELS; i++)
		tmp.v[i] = res.label[i];
	/* Tuples are interned: thousands of them for millions of addresses. */
	l = geo_intern_labels(ctx->strs, &tmp);
	if (!l)
		return &unknown;
	if (ctx->n_dbs)
		geo_cache_put(ctx->cache, addr, l);
	return l;
}

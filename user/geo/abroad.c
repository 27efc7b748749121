// SPDX-License-Identifier: MIT
/*
 * One Chinese name per place abroad: 纯真 and GeoLite2 write the same
 * foreign province or city with and without its administrative suffix
 * (安大略省 and 安大略, 丹佛市 and 丹佛), or in two transliterations
 * (佐治亚州 and 乔治亚州).  The rules are documented in docs/geography.md
 * ("Places abroad"); cn_names.c does China's own.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "geo_int.h"

/*
 * Countries whose first-level divisions all carry one suffix in Chinese
 * (GeoLite2 drops it for some: 安大略, 巴伐利亚, 伊斯坦布尔).  Countries
 * where a bare name is another place are not listed: Russia's 莫斯科 (the
 * federal city) is not 莫斯科州 (the oblast around it), Argentina's
 * 布宜诺斯艾利斯 (the federal capital) is not 布宜诺斯艾利斯省, India's union
 * territories are not 邦.
 */
static const struct {
	const char *cc;
	const char *suffix;
} division_suffix[] = {
	{"US", "州"}, {"CA", "省"}, {"DE", "州"},
	{"TR", "省"}, {"BR", "州"}, {"NL", "省"},
};

/* Canada's territories are not provinces. */
static const char *const not_divisions[] = {"育空", "努纳武特"};

/* A name already ending in one of these is a division's full name. */
static const char *const division_marks[] = {
	"州", "省", "邦",   "区",   "郡", "道",	    "都",
	"府", "县", "领地", "地区", "城", "共和国",
};

/* Two spellings of one division: the first is the one kept. */
static const struct {
	const char *cc;
	const char *from, *to;
} division_alias[] = {
	{"US", "佐治亚州", "乔治亚州"},
	{"US", "得克萨斯州", "德克萨斯州"},
	{"US", "威斯康星州", "威斯康辛州"},
	{"US", "伊利诺斯州", "伊利诺伊州"},
	{"US", "伊利诺州", "伊利诺伊州"},
	{"US", "南卡罗莱纳州", "南卡罗来纳州"},
	{"US", "南卡莱罗纳州", "南卡罗来纳州"},
	{"US", "北卡罗莱纳州", "北卡罗来纳州"},
	{"US", "俄克拉何马州", "俄克拉荷马州"},
	{"CA", "新司科社省", "新斯科舍省"},
	{"DE", "萨克森自由州", "萨克森州"},
	{"DE", "巴伐利亚自由州", "巴伐利亚州"},
};

/* A city's suffix that is only the form of its name, not another place
 * (首尔特别市 is 首尔, 丹佛市 丹佛); 县 and 郡 are counties, kept. */
static const char *const city_forms[] = {"特别市", "广域市", "市"};

static bool ends(const char *s, const char *p)
{
	size_t n = strlen(s), m = strlen(p);

	return n >= m && !strcmp(s + n - m, p);
}

/* A bare Chinese division name (安大略), as opposed to a full one
 * (安大略省), a territory, or a name in another script ("Ontario"). */
static bool bare_division(const char *prov)
{
	size_t i;

	for (i = 0; i < sizeof(division_marks) / sizeof(division_marks[0]); i++)
		if (ends(prov, division_marks[i]))
			return false;
	for (i = 0; prov[i]; i++)
		if ((unsigned char)prov[i] < 0x80)
			return false;
	for (i = 0; i < sizeof(not_divisions) / sizeof(not_divisions[0]); i++)
		if (!strcmp(prov, not_divisions[i]))
			return false;
	return true;
}

static void province_abroad(char *prov, const char *cc)
{
	size_t i;

	if (!prov[0])
		return;
	for (i = 0; i < sizeof(division_suffix) / sizeof(division_suffix[0]);
	     i++) {
		if (strcmp(cc, division_suffix[i].cc) || !bare_division(prov))
			continue;
		if (strlen(prov) + strlen(division_suffix[i].suffix) <
		    GEO_FIELD_LEN)
			strcat(prov, division_suffix[i].suffix);
		break;
	}
	for (i = 0; i < sizeof(division_alias) / sizeof(division_alias[0]); i++)
		if (!strcmp(cc, division_alias[i].cc) &&
		    !strcmp(prov, division_alias[i].from))
			snprintf(prov, GEO_FIELD_LEN, "%s",
				 division_alias[i].to);
}

static void city_abroad(char *city)
{
	size_t i, n = strlen(city), m;

	/* 布宜诺斯艾利斯自治市: an autonomous city's whole name */
	if (ends(city, "自治市"))
		return;
	for (i = 0; i < sizeof(city_forms) / sizeof(city_forms[0]); i++) {
		m = strlen(city_forms[i]);
		/* at least two characters of name must remain */
		if (n >= m + 6 && ends(city, city_forms[i])) {
			city[n - m] = '\0';
			return;
		}
	}
}

/* Chinese names of a place outside China (cc not CN, TW, HK, MO). */
void geo_canon_abroad(struct geo_fields *f)
{
	if (!f->cc[0] || !strcmp(f->cc, "CN") || !strcmp(f->cc, "TW") ||
	    !strcmp(f->cc, "HK") || !strcmp(f->cc, "MO"))
		return;
	province_abroad(f->f[GEO_PROVINCE], f->cc);
	city_abroad(f->f[GEO_CITY]);
}

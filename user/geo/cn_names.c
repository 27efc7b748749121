// SPDX-License-Identifier: MIT
/*
 * Chinese place and carrier names: splitting 纯真 region strings into
 * country/province/city, canonical province names, and carrier names from
 * 纯真 area fields or English AS organisation names.  Pure functions.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "geo_int.h"

enum prov_kind { PROV, MUNI, AUTO, SAR };

struct province {
	const char *short_name;
	const char *full;
	enum prov_kind kind;
};

/* Short names as 纯真 writes them; full names as GeoLite2 zh-CN does. */
static const struct province provinces[] = {
	{"北京", "北京市", MUNI},
	{"天津", "天津市", MUNI},
	{"上海", "上海市", MUNI},
	{"重庆", "重庆市", MUNI},
	{"河北", "河北省", PROV},
	{"山西", "山西省", PROV},
	{"辽宁", "辽宁省", PROV},
	{"吉林", "吉林省", PROV},
	{"黑龙江", "黑龙江省", PROV},
	{"江苏", "江苏省", PROV},
	{"浙江", "浙江省", PROV},
	{"安徽", "安徽省", PROV},
	{"福建", "福建省", PROV},
	{"江西", "江西省", PROV},
	{"山东", "山东省", PROV},
	{"河南", "河南省", PROV},
	{"湖北", "湖北省", PROV},
	{"湖南", "湖南省", PROV},
	{"广东", "广东省", PROV},
	{"海南", "海南省", PROV},
	{"四川", "四川省", PROV},
	{"贵州", "贵州省", PROV},
	{"云南", "云南省", PROV},
	{"陕西", "陕西省", PROV},
	{"甘肃", "甘肃省", PROV},
	{"青海", "青海省", PROV},
	{"台湾", "台湾省", PROV},
	{"内蒙古", "内蒙古自治区", AUTO},
	{"广西", "广西壮族自治区", AUTO},
	{"西藏", "西藏自治区", AUTO},
	{"宁夏", "宁夏回族自治区", AUTO},
	{"新疆", "新疆维吾尔自治区", AUTO},
	{"香港", "香港", SAR},
	{"澳门", "澳门", SAR},
};

/* What may follow a short province name in legacy strings. */
static const char *const prov_suffixes[] = {
	"维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区",
	"自治区",	"省",	      "市",
};

/*
 * Foreign countries as 纯真 spells them, for legacy strings that glue a
 * city to the country ("爱尔兰都柏林").  Longest names first where one is
 * a prefix of another.  Unlisted names stay whole in country.
 */
static const char *const countries[] = {
	"美国",	    "日本",	"韩国",	    "朝鲜",	  "新加坡",
	"马来西亚", "泰国",	"越南",	    "菲律宾",	  "印度尼西亚",
	"印度",	    "巴基斯坦", "孟加拉",   "缅甸",	  "柬埔寨",
	"老挝",	    "蒙古",	"俄罗斯",   "哈萨克斯坦", "乌兹别克斯坦",
	"土耳其",   "伊朗",	"伊拉克",   "以色列",	  "沙特阿拉伯",
	"阿联酋",   "卡塔尔",	"科威特",   "英国",	  "爱尔兰",
	"法国",	    "德国",	"荷兰",	    "比利时",	  "卢森堡",
	"瑞士",	    "奥地利",	"意大利",   "西班牙",	  "葡萄牙",
	"希腊",	    "波兰",	"捷克",	    "斯洛伐克",	  "匈牙利",
	"罗马尼亚", "保加利亚", "乌克兰",   "白俄罗斯",	  "立陶宛",
	"拉脱维亚", "爱沙尼亚", "芬兰",	    "瑞典",	  "挪威",
	"丹麦",	    "冰岛",	"塞尔维亚", "克罗地亚",	  "斯洛文尼亚",
	"加拿大",   "墨西哥",	"巴西",	    "阿根廷",	  "智利",
	"哥伦比亚", "秘鲁",	"委内瑞拉", "澳大利亚",	  "新西兰",
	"南非",	    "埃及",	"尼日利亚", "肯尼亚",	  "摩洛哥",
};

static bool starts(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static void set(struct geo_fields *out, int l, const char *s, size_t n)
{
	geo_copy(out->f[l], GEO_FIELD_LEN, s, n);
}

static const struct province *find_province(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(provinces) / sizeof(provinces[0]); i++)
		if (starts(s, provinces[i].short_name))
			return &provinces[i];
	return NULL;
}

void cn_province_canon(const char *in, char *out, size_t len)
{
	const struct province *p = find_province(in);

	/* only exact short or full names: "江苏" or "江苏省", not "江苏xx" */
	if (p && (!strcmp(in, p->short_name) || !strcmp(in, p->full) ||
		  (!strncmp(in, p->short_name, strlen(p->short_name)) &&
		   !strcmp(in + strlen(p->short_name), "省")))) {
		geo_copy(out, len, p->full, strlen(p->full));
		return;
	}
	geo_copy(out, len, in, strlen(in));
}

/*
 * The prefect-level city at the start of s: up to the first 市, 地区, 盟,
 * or a 州 not followed by 市 (so 广州市 stays whole but 西双版纳州景洪市
 * gives 西双版纳州).  Without any of them, all of s.
 */
static size_t city_len(const char *s)
{
	static const char *const ends[] = {"市", "地区", "盟", "州"};
	size_t best = strlen(s), i;

	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		const char *p = s;

		while ((p = strstr(p, ends[i]))) {
			size_t end = p - s + strlen(ends[i]);

			p += strlen(ends[i]);
			if (i == 3 && starts(p, "市"))
				continue;
			if (end < best)
				best = end;
			break;
		}
	}
	return best;
}

/*
 * After a foreign country: "加利福尼亚州圣克拉拉县山景市" is a state then
 * a city; "都柏林" just a city.  Only 州/省 mark a first-level division.
 */
static void split_foreign(const char *s, struct geo_fields *out)
{
	const char *p = s, *end = NULL;

	/* the first 州 that is not part of a city name (…州市) */
	while ((p = strstr(p, "州"))) {
		p += strlen("州");
		if (!starts(p, "市")) {
			end = p;
			break;
		}
	}
	if (!end && (p = strstr(s, "省")))
		end = p + strlen("省");
	if (end) {
		set(out, GEO_PROVINCE, s, end - s);
		s = end;
	}
	if (*s)
		set(out, GEO_CITY, s, city_len(s));
}

static void split_legacy(const char *s, struct geo_fields *out)
{
	const struct province *p = find_province(s);
	const char *rest;
	size_t i, n;

	if (!p) {
		for (i = 0; i < sizeof(countries) / sizeof(countries[0]); i++) {
			if (!starts(s, countries[i]))
				continue;
			n = strlen(countries[i]);
			set(out, GEO_COUNTRY, s, n);
			split_foreign(s + n, out);
			return;
		}
		set(out, GEO_COUNTRY, s, strlen(s));
		return;
	}
	set(out, GEO_COUNTRY, "中国", strlen("中国"));
	set(out, GEO_PROVINCE, p->full, strlen(p->full));
	rest = s + strlen(p->short_name);
	for (i = 0; i < sizeof(prov_suffixes) / sizeof(prov_suffixes[0]); i++) {
		if (starts(rest, prov_suffixes[i])) {
			rest += strlen(prov_suffixes[i]);
			break;
		}
	}
	if (p->kind == MUNI) {
		/* 直辖市: the city is the municipality; what follows is a 区 */
		set(out, GEO_CITY, p->full, strlen(p->full));
		return;
	}
	if (*rest)
		set(out, GEO_CITY, rest, city_len(rest));
}

#define EN_DASH "\xe2\x80\x93"

/* Splits a decoded 纯真 country field into country/province/city. */
void cn_split_region(const char *s, struct geo_fields *out)
{
	const char *part[3] = {s, NULL, NULL};
	size_t len[3] = {0}, k = 0;
	const char *d;
	char buf[GEO_FIELD_LEN];

	while (*s == ' ')
		s++;
	part[0] = s;
	if (!strstr(s, EN_DASH)) {
		split_legacy(s, out);
		return;
	}
	/* modern "中国–江苏–南京[–区]": structural, no guessing */
	for (;;) {
		d = strstr(part[k], EN_DASH);
		len[k] = d ? (size_t)(d - part[k]) : strlen(part[k]);
		if (!d || k == 2)
			break;
		part[++k] = d + strlen(EN_DASH);
	}
	set(out, GEO_COUNTRY, part[0], len[0]);
	if (part[1]) {
		geo_copy(buf, sizeof(buf), part[1], len[1]);
		cn_province_canon(buf, out->f[GEO_PROVINCE], GEO_FIELD_LEN);
	}
	if (part[2])
		set(out, GEO_CITY, part[2], len[2]);
}

struct isp_word {
	const char *word;
	const char *name;
};

/* Carrier keywords in 纯真 area fields, and the names we export. */
static const struct isp_word area_words[] = {
	{"电信", "中国电信"},	  {"联通", "中国联通"},
	{"网通", "中国联通"},	  {"移动", "中国移动"},
	{"铁通", "中国铁通"},	  {"教育网", "中国教育网"},
	{"广电", "中国广电"},	  {"科技网", "中国科技网"},
	{"长城宽带", "长城宽带"}, {"长城", "长城宽带"},
	{"鹏博士", "鹏博士"},	  {"歌华", "歌华有线"},
	{"方正宽带", "方正宽带"}, {"艾普", "艾普宽带"},
};

/* The earliest carrier keyword in area ("电信/某网吧" → 中国电信). */
bool cn_isp_from_area(const char *area, char *out, size_t len)
{
	const struct isp_word *best = NULL;
	const char *best_at = NULL, *at;
	size_t i;

	for (i = 0; i < sizeof(area_words) / sizeof(area_words[0]); i++) {
		at = strstr(area, area_words[i].word);
		if (at && (!best_at || at < best_at)) {
			best_at = at;
			best = &area_words[i];
		}
	}
	if (!best)
		return false;
	geo_copy(out, len, best->name, strlen(best->name));
	return true;
}

/* English AS organisation names of Chinese carriers (case-insensitive). */
static const struct isp_word org_words[] = {
	{"chinanet", "中国电信"},
	{"china telecom", "中国电信"},
	{"chinatelecom", "中国电信"},
	{"china unicom", "中国联通"},
	{"chinaunicom", "中国联通"},
	{"china169", "中国联通"},
	{"cncgroup", "中国联通"},
	{"cnc group", "中国联通"},
	{"china netcom", "中国联通"},
	{"china mobile", "中国移动"},
	{"chinamobile", "中国移动"},
	{"cmnet", "中国移动"},
	{"china tietong", "中国铁通"},
	{"china railcom", "中国铁通"},
	{"cernet", "中国教育网"},
	{"china education and research", "中国教育网"},
	{"cstnet", "中国科技网"},
	{"great wall broadband", "长城宽带"},
	{"gwbn", "长城宽带"},
	{"dr. peng", "鹏博士"},
	{"dr.peng", "鹏博士"},
};

void cn_isp_from_org(const char *org, bool zh, char *out, size_t len)
{
	size_t i;

	for (i = 0; zh && i < sizeof(org_words) / sizeof(org_words[0]); i++) {
		if (strcasestr(org, org_words[i].word)) {
			geo_copy(out, len, org_words[i].name,
				 strlen(org_words[i].name));
			return;
		}
	}
	geo_copy(out, len, org, strlen(org));
}

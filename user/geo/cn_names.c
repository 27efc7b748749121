// SPDX-License-Identifier: MIT
/*
 * Chinese place and carrier names: splitting 纯真 region strings into
 * country/province/city, one canonical name per Chinese province and city
 * (the full administrative name: 江苏省, 南京市, 内蒙古自治区,
 * 恩施土家族苗族自治州), and the carrier vocabulary.  Pure functions; the
 * rules are documented in docs/geography.md ("How addresses are labelled").
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "geo_int.h"

enum prov_kind { PROV, MUNI, AUTO, SAR };

struct province {
	const char *short_name;
	const char *full;
	const char *iso; /* ISO 3166-2:CN, as GeoLite2 writes it */
	enum prov_kind kind;
};

static const struct province provinces[] = {
	{"北京", "北京市", "BJ", MUNI},
	{"天津", "天津市", "TJ", MUNI},
	{"上海", "上海市", "SH", MUNI},
	{"重庆", "重庆市", "CQ", MUNI},
	{"河北", "河北省", "HE", PROV},
	{"山西", "山西省", "SX", PROV},
	{"辽宁", "辽宁省", "LN", PROV},
	{"吉林", "吉林省", "JL", PROV},
	{"黑龙江", "黑龙江省", "HL", PROV},
	{"江苏", "江苏省", "JS", PROV},
	{"浙江", "浙江省", "ZJ", PROV},
	{"安徽", "安徽省", "AH", PROV},
	{"福建", "福建省", "FJ", PROV},
	{"江西", "江西省", "JX", PROV},
	{"山东", "山东省", "SD", PROV},
	{"河南", "河南省", "HA", PROV},
	{"湖北", "湖北省", "HB", PROV},
	{"湖南", "湖南省", "HN", PROV},
	{"广东", "广东省", "GD", PROV},
	{"海南", "海南省", "HI", PROV},
	{"四川", "四川省", "SC", PROV},
	{"贵州", "贵州省", "GZ", PROV},
	{"云南", "云南省", "YN", PROV},
	{"陕西", "陕西省", "SN", PROV},
	{"甘肃", "甘肃省", "GS", PROV},
	{"青海", "青海省", "QH", PROV},
	{"台湾", "台湾省", "TW", PROV},
	{"内蒙古", "内蒙古自治区", "NM", AUTO},
	{"广西", "广西壮族自治区", "GX", AUTO},
	{"西藏", "西藏自治区", "XZ", AUTO},
	{"宁夏", "宁夏回族自治区", "NX", AUTO},
	{"新疆", "新疆维吾尔自治区", "XJ", AUTO},
	{"香港", "香港特别行政区", "HK", SAR},
	{"澳门", "澳门特别行政区", "MO", SAR},
};

#define N_PROVINCES (sizeof(provinces) / sizeof(provinces[0]))

/* What may follow a short province name in 纯真 strings. */
static const char *const prov_suffixes[] = {
	"维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区",
	"自治区",	"省",	      "市",
};

/* The 30 autonomous prefectures: 纯真 writes 恩施州, the others the full
 * name. */
static const char *const auto_prefectures[] = {
	"延边朝鲜族自治州",	  "恩施土家族苗族自治州",
	"湘西土家族苗族自治州",	  "阿坝藏族羌族自治州",
	"甘孜藏族自治州",	  "凉山彝族自治州",
	"黔东南苗族侗族自治州",	  "黔南布依族苗族自治州",
	"黔西南布依族苗族自治州", "楚雄彝族自治州",
	"红河哈尼族彝族自治州",	  "文山壮族苗族自治州",
	"西双版纳傣族自治州",	  "大理白族自治州",
	"德宏傣族景颇族自治州",	  "怒江傈僳族自治州",
	"迪庆藏族自治州",	  "临夏回族自治州",
	"甘南藏族自治州",	  "海北藏族自治州",
	"黄南藏族自治州",	  "海南藏族自治州",
	"果洛藏族自治州",	  "玉树藏族自治州",
	"海西蒙古族藏族自治州",	  "昌吉回族自治州",
	"博尔塔拉蒙古自治州",	  "巴音郭楞蒙古自治州",
	"克孜勒苏柯尔克孜自治州", "伊犁哈萨克自治州",
};

static bool starts(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static bool ends(const char *s, const char *p)
{
	size_t n = strlen(s), m = strlen(p);

	return n >= m && !strcmp(s + n - m, p);
}

static void set(struct geo_fields *out, int l, const char *s, size_t n)
{
	geo_copy(out->f[l], GEO_FIELD_LEN, s, n);
}

static const struct province *find_province(const char *s)
{
	size_t i;

	for (i = 0; i < N_PROVINCES; i++)
		if (starts(s, provinces[i].short_name))
			return &provinces[i];
	return NULL;
}

const char *cn_province_by_code(const char *iso)
{
	size_t i;

	for (i = 0; i < N_PROVINCES; i++)
		if (!strcmp(provinces[i].iso, iso))
			return provinces[i].full;
	return NULL;
}

/* Exact short or full name ("江苏", "江苏省"), or with a province suffix. */
static const struct province *province_named(const char *s)
{
	const struct province *p = find_province(s);
	const char *rest;
	size_t i;

	if (!p)
		return NULL;
	rest = s + strlen(p->short_name);
	if (!*rest || !strcmp(s, p->full))
		return p;
	for (i = 0; i < sizeof(prov_suffixes) / sizeof(prov_suffixes[0]); i++)
		if (!strcmp(rest, prov_suffixes[i]))
			return p;
	return NULL;
}

/*
 * The prefecture-level city at the start of s: up to the first 市, 地区,
 * 盟, 林区, or a 州 not followed by 市 (广州市 stays whole, 西双版纳州
 * 景洪市 gives 西双版纳州).  Without any of them, all of s.
 */
static size_t city_len(const char *s)
{
	static const char *const marks[] = {"市", "地区", "盟", "林区", "州"};
	size_t best = strlen(s), i;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		const char *p = s;

		while ((p = strstr(p, marks[i]))) {
			size_t end = p - s + strlen(marks[i]);

			p += strlen(marks[i]);
			if (!strcmp(marks[i], "州") && starts(p, "市"))
				continue;
			if (end < best)
				best = end;
			break;
		}
	}
	return best;
}

/*
 * What of a 纯真 place string can be a place: several places joined by
 * "/" keep the first, and a bracketed tail ("(Chambersburg)") or a
 * trailing Latin-script organisation ("科罗拉多州NTT") is not a place.
 */
static size_t place_len(const char *s)
{
	size_t n = 0;

	while (s[n] && s[n] != '/' && s[n] != '(' && s[n] != ' ' &&
	       !starts(s + n, "\xef\xbc\x88") /* （ */ &&
	       !((unsigned char)s[n] < 0x80 &&
		 (((s[n] | 0x20) >= 'a' && (s[n] | 0x20) <= 'z') ||
		  (s[n] >= '0' && s[n] <= '9'))))
		n++;
	return n;
}

/*
 * First-level divisions abroad, as 纯真 writes them: 州 (US, Germany,
 * Australia, Malaysia …), 省 (Canada …), 邦 (India), 大区 (Belgium,
 * France, Italy), 郡 (Norway), 道 (Korea), 都/道/府/县 (Japan), and the
 * named constituent countries of the UK.
 */
struct division {
	const char *cc; /* NULL = every country */
	const char *mark;
};

static const struct division divisions[] = {
	{NULL, "州"},	    {NULL, "省"},	  {NULL, "邦"},
	{NULL, "大区"},	    {NULL, "郡"},	  {NULL, "联邦直辖区"},
	{NULL, "首都特区"}, {NULL, "中央直辖区"}, {"KR", "道"},
	{"JP", "都"},	    {"JP", "道"},	  {"JP", "府"},
	{"JP", "县"},	    {"GB", "英格兰"},	  {"GB", "苏格兰"},
	{"GB", "威尔士"},   {"GB", "北爱尔兰"},
};

/* Length of the first-level division s starts with, or 0. */
static size_t division_len(const char *s, size_t n, const char *cc)
{
	size_t best = 0, i, end;
	const char *p;

	for (i = 0; i < sizeof(divisions) / sizeof(divisions[0]); i++) {
		const struct division *d = &divisions[i];

		if (d->cc && strcmp(d->cc, cc))
			continue;
		p = strstr(s, d->mark);
		if (!p || (size_t)(p - s) >= n)
			continue;
		/* 苏州市-like city names are not divisions */
		if (!strcmp(d->mark, "州") && starts(p + strlen("州"), "市"))
			continue;
		end = p - s + strlen(d->mark);
		if (!best || end < best)
			best = end;
	}
	/* 京都府: a division mark right after another extends it */
	if (best && !strcmp(cc, "JP") &&
	    (starts(s + best, "府") || starts(s + best, "县")))
		best += strlen("府");
	return best > n ? 0 : best;
}

/* The city in what follows a foreign division: after a county (县) or a
 * metropolitan area (都会区) comes the city itself, up to its 市. */
static void foreign_city(const char *s, size_t n, struct geo_fields *out)
{
	static const char *const areas[] = {"大都会区", "都会区", "县"};
	char buf[GEO_FIELD_LEN];
	const char *p, *last;
	size_t i;

	geo_copy(buf, sizeof(buf), s, n);
	for (i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		last = NULL;
		for (p = buf; (p = strstr(p, areas[i])); p += strlen(areas[i]))
			last = p;
		if (last && last[strlen(areas[i])]) {
			memmove(buf, last + strlen(areas[i]),
				strlen(last + strlen(areas[i])) + 1);
			break;
		}
	}
	p = strstr(buf, "市");
	if (p)
		buf[p - buf + strlen("市")] = '\0';
	if (buf[0])
		set(out, GEO_CITY, buf, strlen(buf));
}

static void split_foreign(const char *s, struct geo_fields *out)
{
	size_t n = place_len(s), d;

	d = division_len(s, n, out->cc);
	if (d) {
		set(out, GEO_PROVINCE, s, d);
		s += d;
		n -= d;
	}
	if (n)
		foreign_city(s, n, out);
}

/*
 * An organisation, not a place: "四川大学" is no city 大学市, and
 * "中国国际电子商务中心" no city 国际电子商务中心市.  纯真 names the
 * organisation when it knows no finer place.
 */
static bool organisation(const char *s)
{
	static const char *const words[] = {
		"大学", "学院",	  "分院", "学校",   "中心", "公司",
		"网络", "科学院", "研究", "教育局", "电信", "联通",
		"移动", "网通",	  "铁通", "网吧",
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(s, words[i]))
			return true;
	return false;
}

static void split_china(const struct province *p, const char *rest,
			struct geo_fields *out)
{
	char buf[GEO_FIELD_LEN];
	size_t i;

	/* "广西-桂林市", "中国-香港-香港岛-中西区": a hyphen between levels */
	while (*rest == '-')
		rest++;

	set(out, GEO_COUNTRY, "中国", strlen("中国"));
	snprintf(out->cc, sizeof(out->cc), "%s",
		 p->kind == SAR || !strcmp(p->iso, "TW") ? p->iso : "CN");
	set(out, GEO_PROVINCE, p->full, strlen(p->full));
	for (i = 0; i < sizeof(prov_suffixes) / sizeof(prov_suffixes[0]); i++) {
		if (starts(rest, prov_suffixes[i])) {
			rest += strlen(prov_suffixes[i]);
			break;
		}
	}
	geo_copy(buf, sizeof(buf), rest, place_len(rest));
	buf[strcspn(buf, "-")] = '\0';
	buf[city_len(buf)] = '\0';
	if (buf[0] && !organisation(buf))
		set(out, GEO_CITY, buf, strlen(buf));
}

#define EN_DASH "\xe2\x80\x93"

/* Splits a decoded 纯真 country field into country/province/city. */
void cn_split_region(const char *s, struct geo_fields *out)
{
	const struct geo_country *c;
	const struct province *p;
	const struct geo_first_field *ff;
	const char *part[3] = {NULL, NULL, NULL};
	size_t len[3] = {0}, k = 0, n;
	char fixed[GEO_FIELD_LEN];
	const char *d;

	while (*s == ' ')
		s++;
	ff = geo_first_field(s, &n);
	if (ff && ff->kind != GEO_FIRST_REGION) {
		if (ff->kind == GEO_FIRST_NONE)
			return;
		if (ff->kind == GEO_FIRST_CN) {
			set(out, GEO_COUNTRY, "中国", strlen("中国"));
			snprintf(out->cc, sizeof(out->cc), "CN");
			return;
		}
		/* IS, READ_AS: the corrected string, split as usual */
		snprintf(fixed, sizeof(fixed), "%s%s", ff->as,
			 ff->kind == GEO_FIRST_IS ? "" : s + n);
		s = fixed;
	}
	if (strstr(s, EN_DASH)) {
		/* modern "中国–江苏–南京[–区]": structural, no guessing */
		part[0] = s;
		for (;;) {
			d = strstr(part[k], EN_DASH);
			len[k] = d ? (size_t)(d - part[k]) : strlen(part[k]);
			if (!d || k == 2)
				break;
			part[++k] = d + strlen(EN_DASH);
		}
		set(out, GEO_COUNTRY, part[0], len[0]);
		if (part[1])
			set(out, GEO_PROVINCE, part[1], len[1]);
		if (part[2])
			set(out, GEO_CITY, part[2], len[2]);
		c = geo_country_by_name(out->f[GEO_COUNTRY]);
		if (c)
			snprintf(out->cc, sizeof(out->cc), "%s", c->cc);
		return;
	}
	p = find_province(s);
	if (p) {
		split_china(p, s + strlen(p->short_name), out);
		return;
	}
	if (starts(s, "中国")) {
		/* "中国" alone, or followed by a province */
		const char *rest = s + strlen("中国");

		rest += strspn(rest, "-");
		p = find_province(rest);
		if (p) {
			split_china(p, rest + strlen(p->short_name), out);
			return;
		}
		/* else an organisation (中国农业科学院): the country alone */
		set(out, GEO_COUNTRY, "中国", strlen("中国"));
		snprintf(out->cc, sizeof(out->cc), "CN");
		return;
	}
	n = geo_country_prefix(s, &c);
	if (!c) {
		/* IANA, 亚太地区, 欧洲 …: not a country, kept whole */
		set(out, GEO_COUNTRY, s, strlen(s));
		return;
	}
	set(out, GEO_COUNTRY, s, n);
	snprintf(out->cc, sizeof(out->cc), "%s", c->cc);
	split_foreign(s + n, out);
}

/*
 * 南京 → 南京市, 杭州 → 杭州市, 恩施州 → 恩施土家族苗族自治州; names that
 * already end in an administrative suffix (市, 自治州, 盟, 地区, 林区, 县,
 * 区, 旗) stay as they are.  A league or prefecture that also carries a
 * city's 市 (the 纯真 data's 锡林郭勒盟市) loses the 市: the 纯真 string
 * split (city_len) names it 锡林郭勒盟, and one place has one name.
 */
static void city_canon(char *city)
{
	/* not a bare 州: 杭州 and 广州 are names, 杭州市 the city */
	static const char *const suffixes[] = {"市",   "自治州", "盟", "地区",
					       "林区", "县",	 "区", "旗"};
	static const char *const not_cities[] = {"盟市", "地区市", "林区市"};
	char buf[GEO_FIELD_LEN];
	size_t i;

	if (!city[0])
		return;
	for (i = 0; i < sizeof(not_cities) / sizeof(not_cities[0]); i++)
		if (ends(city, not_cities[i]) &&
		    strlen(city) > strlen(not_cities[i])) {
			city[strlen(city) - strlen("市")] = '\0';
			return;
		}
	for (i = 0; i < sizeof(auto_prefectures) / sizeof(auto_prefectures[0]);
	     i++) {
		const char *full = auto_prefectures[i];

		size_t n = strlen(city) - strlen("州");

		/* the short form is the place name before the people's */
		if (!strcmp(city, full))
			return;
		if (ends(city, "州") && n >= 6 && !strncmp(city, full, n)) {
			geo_copy(city, GEO_FIELD_LEN, full, strlen(full));
			return;
		}
	}
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (ends(city, suffixes[i]))
			return;
	snprintf(buf, sizeof(buf), "%s市", city);
	geo_copy(city, GEO_FIELD_LEN, buf, strlen(buf));
}

/*
 * One name per Chinese place (zh labels), whichever database answered:
 * the country by its ISO code (纯真's name); Taiwan, Hong Kong and Macau
 * under 中国 as 台湾省, 香港特别行政区 and 澳门特别行政区, as 纯真 files
 * them; provinces and cities by their full administrative names; the
 * city of a municipality or SAR is the municipality itself.
 */
void cn_canon_place(struct geo_fields *f)
{
	const struct geo_country *c;
	const struct province *p = NULL;
	char *prov = f->f[GEO_PROVINCE], *city = f->f[GEO_CITY];

	if (!f->cc[0] && (c = geo_country_by_name(f->f[GEO_COUNTRY])))
		snprintf(f->cc, sizeof(f->cc), "%s", c->cc);
	if (!strcmp(f->cc, "TW") || !strcmp(f->cc, "HK") ||
	    !strcmp(f->cc, "MO")) {
		p = province_named(f->cc[0] == 'T'   ? "台湾"
				   : f->cc[0] == 'H' ? "香港"
						     : "澳门");
	} else if (!strcmp(f->cc, "CN")) {
		p = province_named(prov);
		if (!p && prov[0] && !find_province(prov))
			prov[0] = '\0'; /* not a Chinese province: drop it */
	} else {
		c = geo_country_by_code(f->cc);
		if (c)
			set(f, GEO_COUNTRY, c->name, strlen(c->name));
		return;
	}
	set(f, GEO_COUNTRY, "中国", strlen("中国"));
	if (!p) {
		if (prov[0] && (p = find_province(prov)))
			set(f, GEO_PROVINCE, p->full, strlen(p->full));
		city_canon(city);
		return;
	}
	set(f, GEO_PROVINCE, p->full, strlen(p->full));
	if (p->kind == MUNI || p->kind == SAR)
		set(f, GEO_CITY, p->full, strlen(p->full));
	else
		city_canon(city);
}

struct isp_word {
	const char *word;
	const char *zh, *en;
};

/*
 * Carrier names in 纯真 strings, and the names we export.  A name counts
 * only where a carrier's name can stand (carrier_at()): 电信通, 北京互联通,
 * 新东方教育网 and 广州歌华网络科技 are other companies.
 */
enum cn_carrier {
	W_CMTT,
	W_TELECOM,
	W_UNICOM,
	W_NETCOM,
	W_MOBILE,
	W_TIETONG,
	W_CERNET,
	W_BROADNET,
	W_CSTNET,
	W_GWBN,
	W_DRPENG,
	W_GEHUA,
	W_FOUNDER,
	W_AP,
	W_GEHUA_BB,
};

static const struct isp_word cn_words[] = {
	[W_CMTT] = {"中移铁通", "中国铁通", "China Tietong"},
	[W_TELECOM] = {"电信", "中国电信", "China Telecom"},
	[W_UNICOM] = {"联通", "中国联通", "China Unicom"},
	[W_NETCOM] = {"网通", "中国联通", "China Unicom"},
	[W_MOBILE] = {"移动", "中国移动", "China Mobile"},
	[W_TIETONG] = {"铁通", "中国铁通", "China Tietong"},
	[W_CERNET] = {"教育网", "中国教育网", "CERNET"},
	[W_BROADNET] = {"广电", "中国广电", "China Broadnet"},
	[W_CSTNET] = {"科技网", "中国科技网", "CSTNET"},
	[W_GWBN] = {"长城宽带", "长城宽带", "Great Wall Broadband"},
	[W_DRPENG] = {"鹏博士", "鹏博士", "Dr. Peng"},
	[W_GEHUA] = {"歌华有线", "歌华有线", "Gehua"},
	[W_FOUNDER] = {"方正宽带", "方正宽带", "Founder Broadband"},
	[W_AP] = {"艾普", "艾普宽带", "AP Broadband"},
	/* 广州歌华网络科技 is not 歌华 */
	[W_GEHUA_BB] = {"歌华宽带", "歌华有线", "Gehua"},
};

/* English AS organisation names of Chinese carriers (case-insensitive). */
static const struct isp_word org_words[] = {
	{"chinanet", "中国电信", "China Telecom"},
	{"china telecom", "中国电信", "China Telecom"},
	{"chinatelecom", "中国电信", "China Telecom"},
	{"china unicom", "中国联通", "China Unicom"},
	{"chinaunicom", "中国联通", "China Unicom"},
	{"china169", "中国联通", "China Unicom"},
	{"cncgroup", "中国联通", "China Unicom"},
	{"cnc group", "中国联通", "China Unicom"},
	{"china netcom", "中国联通", "China Unicom"},
	{"china mobile", "中国移动", "China Mobile"},
	{"chinamobile", "中国移动", "China Mobile"},
	{"cmnet", "中国移动", "China Mobile"},
	{"china tietong", "中国铁通", "China Tietong"},
	{"china railcom", "中国铁通", "China Tietong"},
	{"cernet", "中国教育网", "CERNET"},
	{"china education and research", "中国教育网", "CERNET"},
	{"cstnet", "中国科技网", "CSTNET"},
	{"great wall broadband", "长城宽带", "Great Wall Broadband"},
	{"gwbn", "长城宽带", "Great Wall Broadband"},
	{"dr. peng", "鹏博士", "Dr. Peng"},
	{"dr.peng", "鹏博士", "Dr. Peng"},
};

/*
 * The Chinese carriers' own autonomous systems (checked against the
 * @ip-location-db/asn data: docs/geography.md lists them).  An AS names
 * its operator; a string may name a customer that contains a carrier's
 * word.
 */
static const struct {
	uint32_t asn;
	const struct isp_word *carrier;
} carrier_ases[] = {
	{4134, &cn_words[W_TELECOM]},  {4809, &cn_words[W_TELECOM]},
	{4811, &cn_words[W_TELECOM]},  {4812, &cn_words[W_TELECOM]},
	{4813, &cn_words[W_TELECOM]},  {4816, &cn_words[W_TELECOM]},
	{4835, &cn_words[W_TELECOM]},  {23764, &cn_words[W_TELECOM]},
	{58466, &cn_words[W_TELECOM]}, {4808, &cn_words[W_UNICOM]},
	{4837, &cn_words[W_UNICOM]},   {9929, &cn_words[W_UNICOM]},
	{17621, &cn_words[W_UNICOM]},  {17622, &cn_words[W_UNICOM]},
	{17623, &cn_words[W_UNICOM]},  {17816, &cn_words[W_UNICOM]},
	{9808, &cn_words[W_MOBILE]},   {24400, &cn_words[W_MOBILE]},
	{24444, &cn_words[W_MOBILE]},  {24445, &cn_words[W_MOBILE]},
	{24547, &cn_words[W_MOBILE]},  {56040, &cn_words[W_MOBILE]},
	{56041, &cn_words[W_MOBILE]},  {56042, &cn_words[W_MOBILE]},
	{56044, &cn_words[W_MOBILE]},  {56045, &cn_words[W_MOBILE]},
	{56046, &cn_words[W_MOBILE]},  {56047, &cn_words[W_MOBILE]},
	{56048, &cn_words[W_MOBILE]},  {134810, &cn_words[W_MOBILE]},
	{9394, &cn_words[W_TIETONG]},  {4538, &cn_words[W_CERNET]},
	{7497, &cn_words[W_CSTNET]},   {17429, &cn_words[W_GEHUA]},
};

/* The carrier whose own AS asn is, in the label language; NULL if none. */
const char *cn_carrier_by_asn(uint32_t asn, bool zh)
{
	size_t i;

	for (i = 0; asn && i < sizeof(carrier_ases) / sizeof(carrier_ases[0]);
	     i++)
		if (carrier_ases[i].asn == asn)
			return zh ? carrier_ases[i].carrier->zh
				  : carrier_ases[i].carrier->en;
	return NULL;
}

/*
 * Whether s[0..n) is only places: nothing, 中国, a province (江苏,
 * 江苏省) and cities or counties each ending in its mark (南京市, 恩施州,
 * 仙桃县).  A carrier's name stands after places (重庆电信,
 * 江苏省南京市电信), never after another name (北京互联通, 新东方教育网).
 */
static bool places_only(const char *s, size_t n)
{
	static const char *const marks[] = {"自治区", "地区", "省", "市",
					    "州",     "盟",   "县", "区"};
	const char *end = s + n, *best, *q;
	const struct province *p;
	size_t i;

	if (n >= strlen("中国") && starts(s, "中国"))
		s += strlen("中国");
	p = s < end ? find_province(s) : NULL;
	if (p && (size_t)(end - s) >= strlen(p->short_name))
		s += strlen(p->short_name);
	while (s < end) {
		best = NULL;
		for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
			q = strstr(s, marks[i]);
			if (q && q + strlen(marks[i]) <= end &&
			    (!best || q < best)) {
				best = q + strlen(marks[i]);
			}
		}
		/* a place name: a few Chinese characters, then its mark */
		if (!best || best - s > 8 * 3)
			return false;
		for (q = s; q < best; q++)
			if ((unsigned char)*q < 0x80)
				return false;
		s = best;
	}
	return true;
}

/* A carrier's name at s + at: after places only, and not the start of
 * a longer company name (电信通 is Beijing's 电信通, not 中国电信; 移动通信
 * is still 中国移动). */
static bool carrier_at(const char *s, size_t at, const char *word)
{
	const char *tail = s + at + strlen(word);

	return places_only(s, at) &&
	       (!starts(tail, "通") || starts(tail, "通信"));
}

/*
 * The ISP label for a raw database string (纯真 area, ipdb isp_domain,
 * MaxMind isp or AS organisation), the same whichever file it came from:
 * the part before the first "/" ("电信/某网吧" is the carrier, then its
 * customer), trimmed.  In mainland China (cc "CN") a carrier keyword
 * gives that carrier's one name (重庆电信, CHINANET-BACKBONE → 中国电信);
 * anywhere else the string is the carrier's own name (KT电信, 中华电信,
 * 德国电信(DTAG)) and is kept.  Empty when the database has nothing.
 */
void geo_isp_label(const char *raw, const char *cc, bool zh, char *out,
		   size_t len)
{
	const struct isp_word *best = NULL;
	const char *best_at = NULL, *at;
	char buf[GEO_FIELD_LEN];
	size_t i, n;

	while (*raw == ' ')
		raw++;
	n = strcspn(raw, "/");
	while (n && raw[n - 1] == ' ')
		n--;
	geo_copy(buf, sizeof(buf), raw, n);
	if (!strcasecmp(buf, "CZ88.NET"))
		buf[0] = '\0';
	if (!buf[0] || strcmp(cc, "CN")) {
		geo_copy(out, len, buf, strlen(buf));
		return;
	}
	for (i = 0; i < sizeof(cn_words) / sizeof(cn_words[0]); i++) {
		at = strstr(buf, cn_words[i].word);
		if (at && (!best_at || at < best_at) &&
		    carrier_at(buf, at - buf, cn_words[i].word)) {
			best_at = at;
			best = &cn_words[i];
		}
	}
	for (i = 0; !best && i < sizeof(org_words) / sizeof(org_words[0]); i++)
		if (strcasestr(buf, org_words[i].word))
			best = &org_words[i];
	if (best) {
		const char *name = zh ? best->zh : best->en;

		geo_copy(out, len, name, strlen(name));
		return;
	}
	geo_copy(out, len, buf, strlen(buf));
}

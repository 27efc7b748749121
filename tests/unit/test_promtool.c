// SPDX-License-Identifier: MIT
/*
 * Feed a rendered exposition with every awkward label (Chinese, escapes,
 * invalid UTF-8, IPv6, a quote in an interface name) to promtool, the
 * reference parser and linter.  argv[1] is promtool's path; without it
 * the test is skipped (exit 77).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "geo_labels.h"
#include "metrics.h"
#include "strbuf.h"
#include "table.h"
#include "test_addr.h"

static const char *promtool;

struct promtool_result {
	int status;
	char output[8192];
};

/* Runs "promtool check metrics" with body on stdin. */
static void run_promtool(const char *body, size_t len,
			 struct promtool_result *r)
{
	int in[2], out[2], st;
	size_t off = 0, n = 0;
	pid_t pid;

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execl(promtool, promtool, "check", "metrics", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	/* Small bodies only: the pipe buffer holds them without a reader. */
	while (off < len) {
		ssize_t w = write(in[1], body + off, len - off);

		assert_true(w > 0);
		off += (size_t)w;
	}
	close(in[1]);
	for (;;) {
		ssize_t rd =
			read(out[0], r->output + n, sizeof(r->output) - 1 - n);

		if (rd <= 0)
			break;
		n += (size_t)rd;
	}
	r->output[n] = '\0';
	close(out[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void add(struct ip_table *t, const char *ip, uint64_t b,
		const struct geo_labels *g)
{
	struct itm_value v = {b, 3, b / 2, 2};
	struct in6_addr a = test_addr(ip);
	assert_int_equal(ip_table_add(t, &a, &v), 0);
	ip_table_find(t, &a)->geo = g;
}

static void test_promtool_accepts_render(void **state)
{
	static const struct geo_labels cn = {.country = "中国", .province = "江苏省", .city = "南京市",
					     .isp = "中国电信",
					     .asn = "AS4134 CHINANET-BACKBONE"};
	static const struct geo_labels us = {.country = "美国", .province = "加利福尼亚州", .city = "芒廷维尤",
					     .isp = NULL};
	static const struct geo_labels esc = {.country = "back\\slash", .province = "dq\"uote",
					      .city = "new\nline", .isp = "bad\xff utf8",
					      .asn = "AS64500 q\"o\\te"};
	struct iface_stats ifs[2] = {{.name = "eth0"}, {.name = "we\"ird"}};
	struct itm_features fs = {0};
	struct proc_stats ps = {0.5, 4096000, 81920000, 9, 1024, 1.7e9};
	struct export_delivery dl = {.records = 12, .lost = 3, .resent = 2};
	struct metrics_input in = {
		.ifaces = ifs,
		.n_ifaces = 2,
		.version = "0.1.0",
		.start_time_seconds = 1700000000.123,
		.features = &fs,
		.libbpf_version = "v1.1",
		.kernel = "6.1.0",
		.process = &ps,
		.have_drain = true,
		.last_drain_seconds = 0.001,
		.have_backlog = true,
		.ipfix = &dl,
	};
	struct strbuf sb = STRBUF_INIT;
	struct promtool_result r;
	struct ip_table t, procs;
	struct ip_entry *e;

	(void)state;
	features_set(&fs, ITM_FEAT_TC_ATTACH, ITM_FEAT_ENABLED, "tcx", NULL);
	features_set(&fs, ITM_FEAT_OWNER_SCAN, ITM_FEAT_DEGRADED, "socket_iter",
		     "iter/task_file refused (R2 type=untrusted_ptr_)");
	features_set(&fs, ITM_FEAT_ATTRIBUTION, ITM_FEAT_DEGRADED, "partial",
		     NULL);
	assert_int_equal(ip_table_init(&t, 1000), 0);
	add(&t, "114.114.114.114", 3145728, &cn);
	add(&t, "8.8.8.8", 2097152, &us);
	add(&t, "2001:db8::53", 5000, &esc);
	add(&t, "1.2.3.4", 10, NULL); /* below the threshold */
	ifs[0].ctr[ITM_CTR_OVERFLOW_TX] = (struct itm_counter){1, 60};
	assert_int_equal(ip_table_init(&procs, 0), 0);
	e = ip_table_upsert_pid(&procs, &t.entries[0].addr, 4321);
	assert_non_null(e);
	memcpy(e->comm, "nginx: \"w\"\\", 12);
	ip_entry_account(&procs, e, &(struct itm_value){100, 1, 0, 0});
	/* pid 0 renders process="", which Prometheus reads as no label. */
	e = ip_table_upsert_pid(&procs, &t.entries[0].addr, 0);
	assert_non_null(e);
	ip_entry_account(&procs, e, &(struct itm_value){5, 1, 0, 0});
	in.table = &t;
	in.procs = &procs;
	assert_int_equal(metrics_render(&in, &sb), 0);
	assert_int_equal(metrics_render_scrape_duration(&sb, 0.0123), 0);
	/* The render really holds what we want promtool to judge. */
	assert_non_null(strstr(sb.buf, "country=\"中国\""));
	assert_non_null(strstr(sb.buf, "asn=\"AS4134 CHINANET-BACKBONE\""));
	assert_non_null(strstr(sb.buf, "asn=\"AS64500 q\\\"o\\\\te\""));
	assert_non_null(strstr(sb.buf, "province=\"dq\\\"uote\""));
	assert_non_null(strstr(sb.buf, "city=\"new\\nline\""));
	assert_non_null(strstr(sb.buf, "\nip_traffic_ipfix_records_total 12\n"));
	assert_non_null(
		strstr(sb.buf, "\nip_traffic_ipfix_records_lost_total 3\n"));
	assert_non_null(
		strstr(sb.buf, "\nip_traffic_ipfix_records_resent_total 2\n"));
	assert_non_null(strstr(
		sb.buf, "pid=\"4321\",process=\"nginx: \\\"w\\\"\\\\\"}"));

	run_promtool(sb.buf, sb.len, &r);
	if (r.status != 0 || r.output[0])
		print_error("promtool said:\n%s\n", r.output);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.output, "");

	/* And it is a real judge: a broken exposition fails. */
	run_promtool("bad metric{\n", 12, &r);
	assert_int_not_equal(r.status, 0);

	strbuf_free(&sb);
	ip_table_free(&procs);
	ip_table_free(&t);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_promtool_accepts_render),
	};

	if (argc < 2 || access(argv[1], X_OK)) {
		fprintf(stderr, "SKIP: promtool not found\n");
		return 77;
	}
	promtool = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}

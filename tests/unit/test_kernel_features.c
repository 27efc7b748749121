// SPDX-License-Identifier: MIT
/*
 * user/kernel/kernel_features.c: the reason taken from a verifier log, the
 * attribution state derived from its parts, the ITM_TEST_REFUSE list, and
 * the ip_traffic_feature state set rendered by metrics.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernel_features.h"
#include "metrics.h"

static void test_reason_is_last_line_before_stats(void **state)
{
	/* The 6.18.44 build's answer to itm_task_file, trimmed. */
	static const char log[] =
		"0: R1=ctx() R10=fp0\n"
		"17: (85) call bpf_sk_storage_get#107\n"
		"R2 type=untrusted_ptr_ expected=ptr_, trusted_ptr_, rcu_ptr_\n"
		"verification time 160 usec\n"
		"stack depth 0\n"
		"processed 17 insns (limit 1000000) max_states_per_insn 0\n";
	char out[ITM_FEAT_REASON_LEN];

	(void)state;
	features_log_reason(log, -13, out, sizeof(out));
	assert_string_equal(
		out,
		"R2 type=untrusted_ptr_ expected=ptr_, trusted_ptr_, rcu_ptr_");
	/* Linux 5.10 without bpf_sock_from_file. */
	features_log_reason(
		"5: (85) call unknown#162\nunknown func bpf_sock_from_file#162\n",
		-22, out, sizeof(out));
	assert_string_equal(out, "unknown func bpf_sock_from_file#162");
	/* No log at all (libbpf refused before the kernel): errno. */
	features_log_reason("", -95, out, sizeof(out));
	assert_string_equal(out, strerror(95));
	features_log_reason(NULL, -1, out, sizeof(out));
	assert_string_equal(out, strerror(1));
	/* Cut to the buffer, never past it. */
	features_log_reason("a very long reason indeed\n", -1, out, 7);
	assert_string_equal(out, "a very");
}

static void set_parts(struct itm_features *fs, enum itm_feat_state read,
		      enum itm_feat_state scan, enum itm_feat_state sc)
{
	memset(fs, 0, sizeof(*fs));
	features_set(fs, ITM_FEAT_OWNER_READ, read, "inline", NULL);
	features_set(fs, ITM_FEAT_OWNER_SCAN, scan, "task_file", NULL);
	features_set(fs, ITM_FEAT_OWNER_SOCK_CREATE, sc, "cgroup", NULL);
}

static void expect_attr(const struct itm_features *fs, const char *variant,
			enum itm_feat_state st)
{
	assert_true(fs->f[ITM_FEAT_ATTRIBUTION].known);
	assert_string_equal(fs->f[ITM_FEAT_ATTRIBUTION].variant, variant);
	assert_int_equal(fs->f[ITM_FEAT_ATTRIBUTION].state, st);
}

static void test_attribution_from_parts(void **state)
{
	const enum itm_feat_state E = ITM_FEAT_ENABLED, D = ITM_FEAT_DEGRADED,
				  U = ITM_FEAT_UNAVAILABLE;
	struct itm_features fs;

	(void)state;
	set_parts(&fs, E, E, E);
	features_sum_attribution(&fs, false);
	expect_attr(&fs, "full", E);
	set_parts(&fs, E, D, E); /* socket iterators */
	features_sum_attribution(&fs, false);
	expect_attr(&fs, "partial", D);
	assert_non_null(
		strstr(fs.f[ITM_FEAT_ATTRIBUTION].reason, "TCP and UDP"));
	set_parts(&fs, E, U, E);
	features_sum_attribution(&fs, false);
	expect_attr(&fs, "partial", D);
	set_parts(&fs, E, E, U);
	features_sum_attribution(&fs, false);
	expect_attr(&fs, "partial", D);
	assert_non_null(strstr(fs.f[ITM_FEAT_ATTRIBUTION].reason, "next scan"));
	set_parts(&fs, E, U, U);
	features_sum_attribution(&fs, false);
	expect_attr(&fs, "none", U);
	set_parts(&fs, U, E, E); /* the TC programs cannot read owners */
	features_sum_attribution(&fs, false);
	expect_attr(&fs, "none", U);
	set_parts(&fs, E, E, E);
	features_sum_attribution(&fs, true);
	expect_attr(&fs, "none", ITM_FEAT_DISABLED);
}

static void test_refuse_list(void **state)
{
	(void)state;
	unsetenv("ITM_TEST_REFUSE_INLINE");
	unsetenv("ITM_TEST_REFUSE");
	assert_false(features_test_refuses("inline"));
	setenv("ITM_TEST_REFUSE", "task_file,tcx", 1);
	assert_true(features_test_refuses("task_file"));
	assert_true(features_test_refuses("tcx"));
	assert_false(features_test_refuses("task"));
	assert_false(features_test_refuses("file"));
	assert_false(features_test_refuses("inline"));
	setenv("ITM_TEST_REFUSE_INLINE", "1", 1);
	assert_true(features_test_refuses("inline"));
	unsetenv("ITM_TEST_REFUSE_INLINE");
	unsetenv("ITM_TEST_REFUSE");
}

static void test_state_set_rendered(void **state)
{
	struct metrics_input in = {.version = "x"};
	struct strbuf sb = STRBUF_INIT;
	struct itm_features fs = {0};
	const char *p;
	int ones = 0;

	(void)state;
	features_set(&fs, ITM_FEAT_OWNER_SCAN, ITM_FEAT_DEGRADED, "socket_iter",
		     "line one\nline two");
	assert_string_equal(fs.f[ITM_FEAT_OWNER_SCAN].reason, "line one");
	in.features = &fs;
	assert_int_equal(metrics_render(&in, &sb), 0);
	assert_non_null(strstr(sb.buf, "# TYPE ip_traffic_feature gauge\n"));
	assert_non_null(strstr(
		sb.buf,
		"ip_traffic_feature{feature=\"owner_scan\",variant=\"socket_iter\",state=\"degraded\"} 1\n"));
	assert_non_null(strstr(
		sb.buf,
		"ip_traffic_feature{feature=\"owner_scan\",variant=\"socket_iter\",state=\"enabled\"} 0\n"));
	/* Only features that were set, each with all four states. */
	for (p = sb.buf; (p = strstr(p, "ip_traffic_feature{")); p++)
		ones++;
	assert_int_equal(ones, ITM_FEAT_STATE_MAX);
	assert_null(strstr(sb.buf, "feature=\"tc_attach\""));
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_is_last_line_before_stats),
		cmocka_unit_test(test_attribution_from_parts),
		cmocka_unit_test(test_refuse_list),
		cmocka_unit_test(test_state_set_rendered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * Journal-friendly logging: "<N>" priority prefixes exactly when
 * JOURNAL_STREAM names the file stderr is open on, plain text otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char path[] = "/tmp/itm_test_log.XXXXXX";

/* Log a fixed set of lines with stderr redirected to a file; return it. */
static char *capture(const char *journal_stream)
{
	static char buf[4096];
	int saved = dup(STDERR_FILENO), fd = mkstemp(path);
	struct stat st;
	char env[64];
	FILE *f;
	size_t n;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	fstat(fd, &st);
	if (journal_stream && !strcmp(journal_stream, "self")) {
		snprintf(env, sizeof(env), "%llu:%llu",
			 (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
		setenv("JOURNAL_STREAM", env, 1);
	} else if (journal_stream) {
		setenv("JOURNAL_STREAM", journal_stream, 1);
	} else {
		unsetenv("JOURNAL_STREAM");
	}
	log_reset();
	log_set_verbose(true);
	pr_err("e %d\n", 3);
	pr_warn("w\n");
	pr_notice("reload: n\n");
	pr_info("i\n");
	pr_debug("d\n");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	strcpy(path + strlen(path) - 6, "XXXXXX");
	unsetenv("JOURNAL_STREAM");
	log_reset();
	return buf;
}

static void test_journal_prefixes(void **state)
{
	(void)state;
	assert_string_equal(capture("self"), "<3>error: e 3\n"
					     "<4>warning: w\n"
					     "<5>reload: n\n"
					     "<6>i\n"
					     "<7>d\n");
}

static void test_plain_text_elsewhere(void **state)
{
	static const char plain[] = "ip_traffic_monitor_cli: error: e 3\n"
				    "ip_traffic_monitor_cli: warning: w\n"
				    "ip_traffic_monitor_cli: reload: n\n"
				    "ip_traffic_monitor_cli: i\n"
				    "ip_traffic_monitor_cli: debug: d\n";

	(void)state;
	assert_string_equal(capture(NULL), plain);
	/* The journal's stream was replaced (a redirect): plain again. */
	assert_string_equal(capture("1:2"), plain);
	assert_string_equal(capture("garbage"), plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_prefixes),
		cmocka_unit_test(test_plain_text_elsewhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * The pure parts of the ClickHouse store (no server: libcurl only links):
 * the --db URL taken apart, passwords kept out of messages and argv (a
 * file, the environment), and the TabSeparated text both ways.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clickhouse/ch_int.h"

static void test_url(void **state)
{
	struct ch_conn c;
	char err[256];

	(void)state;
	unsetenv("CLICKHOUSE_PASSWORD");
	assert_int_equal(ch_open(&c, "clickhouse://db.example/traffic", err,
				 sizeof(err)),
			 0);
	assert_string_equal(c.url, "http://db.example:8123/?");
	assert_string_equal(c.db, "traffic");
	assert_string_equal(c.user, "");
	assert_string_equal(c.password, "");
	ch_close(&c);

	assert_int_equal(ch_open(&c,
				 "clickhouse://itm:p%40ss@[fd00::1]:9000/t_1"
				 "?secure=1&sslrootcert=/etc/ca.pem&cluster=c",
				 err, sizeof(err)),
			 0);
	assert_string_equal(c.url, "https://[fd00::1]:9000/?");
	assert_string_equal(c.user, "itm");
	assert_string_equal(c.password, "p@ss");
	assert_string_equal(c.cafile, "/etc/ca.pem");
	assert_string_equal(c.cluster, "c");
	ch_close(&c);

	/* https defaults to 8443; the environment gives the password. */
	setenv("CLICKHOUSE_PASSWORD", "from-env", 1);
	assert_int_equal(
		ch_open(&c, "clickhouse://u@h/d?secure=true", err, sizeof(err)),
		0);
	assert_string_equal(c.url, "https://h:8443/?");
	assert_string_equal(c.password, "from-env");
	ch_close(&c);
	unsetenv("CLICKHOUSE_PASSWORD");
}

static void test_password_file(void **state)
{
	char path[] = "/tmp/itm-ch-pw-XXXXXX", uri[128], err[256];
	struct ch_conn c;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\n", 7), 7);
	close(fd);
	snprintf(uri, sizeof(uri), "clickhouse://itm@h/d?password_file=%s",
		 path);
	assert_int_equal(ch_open(&c, uri, err, sizeof(err)), 0);
	assert_string_equal(c.password, "s3cret");
	ch_close(&c);
	/* Cleared with the connection. */
	assert_string_equal(c.password, "");
	unlink(path);
	assert_int_equal(ch_open(&c, uri, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
}

static void test_url_errors(void **state)
{
	static const char *const bad[] = {
		"clickhouse://h",
		"clickhouse://h/",
		"clickhouse://h/a-b",
		"clickhouse://h/d; DROP",
		"clickhouse://h/d?sslmode=require",
		"clickhouse://h:123456/d",
		/* The cluster's name goes into DDL as it is. */
		"clickhouse://h/d?cluster=a-b",
		"clickhouse://h/d?cluster=c%20ON",
		"clickhouse://h/d?cluster=",
	};
	struct ch_conn c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(ch_open(&c, bad[i], err, sizeof(err)),
				 -EINVAL);
		assert_true(err[0] && !strchr(err, '\n'));
	}
}

static void test_redact(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"clickhouse://itm:s3cret@db.example/traffic",
		 "clickhouse://itm:***@db.example/traffic"},
		{"clickhouse://itm:a@b@db.example:8443/t?secure=1",
		 "clickhouse://itm:***@db.example:8443/t?secure=1"},
		{"clickhouse://itm@db.example/traffic?password_file=/p",
		 "clickhouse://itm@db.example/traffic?password_file=/p"},
		{"clickhouse://db.example/traffic",
		 "clickhouse://db.example/traffic"},
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ch_redact(cases[i].in, out, sizeof(out));
		assert_string_equal(out, cases[i].out);
	}
}

static void test_tsv(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char *f[4];

	(void)state;
	assert_int_equal(ch_tsv_escape(&sb, "a\tb\\c\nd"), 0);
	assert_int_equal(strbuf_puts(&sb, "\t\\N\t@\t"), 0);
	assert_string_equal(sb.buf, "a\\tb\\\\c\\nd\t\\N\t@\t");
	assert_int_equal(ch_tsv_split(sb.buf, f, 4), 4);
	assert_string_equal(f[0], "a\tb\\c\nd");
	assert_null(f[1]);
	assert_string_equal(f[2], "@");
	assert_string_equal(f[3], "");
	strbuf_free(&sb);

	/* What ClickHouse escapes in its output, \r on the way in too. */
	assert_int_equal(ch_tsv_escape(&sb, "a\rb"), 0);
	assert_int_equal(strbuf_puts(&sb, "\\b\\f\\'\\0x"), 0);
	assert_string_equal(sb.buf, "a\\rb\\b\\f\\'\\0x");
	assert_int_equal(ch_tsv_split(sb.buf, f, 4), 1);
	assert_memory_equal(f[0], "a\rb\b\f'\0x", 8);
	strbuf_free(&sb);

	assert_int_equal(ch_sql_quote(&sb, "it's a \\ test"), 0);
	assert_string_equal(sb.buf, "'it\\'s a \\\\ test'");
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_url_errors),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_tsv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

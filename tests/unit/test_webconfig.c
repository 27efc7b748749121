// SPDX-License-Identifier: MIT
/*
 * --web.config.file parsing (exporter-toolkit format) and bcrypt checks.
 * TLS files are made with the test's own throwaway key and certificate,
 * written by GnuTLS into a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "webconfig.h"

/* htpasswd -nbBC 4 prometheus secret */
#define HASH "$2y$04$yiEAyw.4tcQmSqGo2gsj3.0QX8P6S699NWOEDINxwaYzx.S3EGHRS"

static char dir[64];

static struct web_config *parse(const char *yaml, char *err, size_t len)
{
	err[0] = '\0';
	return web_config_parse(yaml, strlen(yaml), dir, err, len);
}

/* One line, mentioning want. */
static void expect_error(const char *yaml, const char *want)
{
	char err[512];
	struct web_config *wc = parse(yaml, err, sizeof(err));

	if (wc || !strstr(err, want) || strchr(err, '\n'))
		fail_msg("yaml:\n%s\nwanted an error with '%s', got %s '%s'",
			 yaml, want, wc ? "success" : "error", err);
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void write_str(const char *name, const char *s)
{
	write_file(name, s, strlen(s));
}

/* A self-signed certificate and its key, and a second unrelated key. */
static void make_tls_files(void)
{
	gnutls_x509_privkey_t key, other;
	gnutls_x509_crt_t crt;
	gnutls_datum_t out;
	time_t now = time(NULL);

	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(
		gnutls_x509_privkey_generate(
			key, GNUTLS_PK_ECDSA,
			GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
		0);
	assert_int_equal(gnutls_x509_privkey_init(&other), 0);
	assert_int_equal(
		gnutls_x509_privkey_generate(
			other, GNUTLS_PK_ECDSA,
			GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
		0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, "\x01", 1);
	gnutls_x509_crt_set_activation_time(crt, now - 60);
	gnutls_x509_crt_set_expiration_time(crt, now + 3600);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
				      "localhost", 9);
	gnutls_x509_crt_set_key(crt, key);
	assert_int_equal(
		gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);

	assert_int_equal(
		gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out), 0);
	write_file("server.crt", out.data, out.size);
	write_file("ca.crt", out.data, out.size);
	gnutls_free(out.data);
	assert_int_equal(
		gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &out), 0);
	write_file("server.key", out.data, out.size);
	gnutls_free(out.data);
	assert_int_equal(
		gnutls_x509_privkey_export2(other, GNUTLS_X509_FMT_PEM, &out),
		0);
	write_file("other.key", out.data, out.size);
	gnutls_free(out.data);
	write_file("empty.crt", "", 0);
	write_file("garbage.crt", "not a certificate\n", 18);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_privkey_deinit(other);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/itm_webconfig.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	make_tls_files();
	return 0;
}

static int teardown(void **state)
{
	static const char *const names[] = {"server.crt", "ca.crt",
					    "server.key", "other.key",
					    "empty.crt",  "garbage.crt"};
	char path[128];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}

static void test_empty_is_plain_http(void **state)
{
	char err[256];
	struct web_config *wc;

	(void)state;
	for (int i = 0; i < 4; i++) {
		static const char *const docs[] = {"", "---\n", "# nothing\n",
						   "tls_server_config:\n"};

		wc = parse(docs[i], err, sizeof(err));
		assert_non_null(wc);
		assert_false(wc->tls);
		assert_int_equal(wc->n_users, 0);
		assert_true(web_config_check_user(wc, NULL, NULL));
		web_config_free(wc);
	}
}

static void test_full_config(void **state)
{
	char err[256];
	struct web_config *wc;

	(void)state;
	wc = parse("tls_server_config:\n"
		   "  cert_file: server.crt\n"
		   "  key_file: server.key\n"
		   "  min_version: TLS13\n"
		   "  client_auth_type: RequireAndVerifyClientCert\n"
		   "  client_ca_file: ca.crt\n"
		   "http_server_config:\n"
		   "  http2: false\n"
		   "  headers:\n"
		   "    X-Frame-Options: deny\n"
		   "    Strict-Transport-Security: max-age=31536000\n"
		   "basic_auth_users:\n"
		   "  prometheus: " HASH "\n",
		   err, sizeof(err));
	if (!wc)
		fail_msg("%s", err);
	assert_true(wc->tls);
	assert_int_equal(wc->client_auth, WEB_CLIENT_REQUIRE_VERIFIED);
	assert_int_equal(wc->min_version, WEB_TLS13);
	assert_string_equal(wc->priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
	assert_non_null(strstr(wc->cert_pem, "BEGIN CERTIFICATE"));
	assert_non_null(strstr(wc->key_pem, "PRIVATE KEY"));
	assert_non_null(wc->client_ca_pem);
	/* relative to the file's directory */
	assert_int_equal(strncmp(wc->cert_file, dir, strlen(dir)), 0);
	assert_int_equal(wc->n_headers, 2);
	assert_string_equal(wc->headers[0].key, "X-Frame-Options");
	assert_string_equal(wc->headers[0].value, "deny");
	assert_int_equal(wc->n_users, 1);
	web_config_free(wc);
}

static void test_default_min_version_is_tls12(void **state)
{
	char err[256];
	struct web_config *wc;

	(void)state;
	wc = parse("tls_server_config:\n  cert_file: server.crt\n"
		   "  key_file: server.key\n",
		   err, sizeof(err));
	if (!wc)
		fail_msg("%s", err);
	assert_int_equal(wc->client_auth, WEB_CLIENT_NONE);
	assert_string_equal(wc->priorities,
			    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
	web_config_free(wc);
	wc = parse("tls_server_config:\n  cert_file: server.crt\n"
		   "  key_file: server.key\n  min_version: TLS10\n"
		   "  max_version: TLS11\n",
		   err, sizeof(err));
	if (!wc)
		fail_msg("%s", err);
	assert_string_equal(wc->priorities,
			    "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0");
	web_config_free(wc);
}

static void test_basic_auth(void **state)
{
	char err[256];
	struct web_config *wc;

	(void)state;
	wc = parse("basic_auth_users:\n  prometheus: " HASH "\n  other: '" HASH
		   "'\n",
		   err, sizeof(err));
	if (!wc)
		fail_msg("%s", err);
	assert_false(wc->tls);
	for (int round = 0; round < 2; round++) { /* the second is cached */
		assert_true(web_config_check_user(wc, "prometheus", "secret"));
		assert_true(web_config_check_user(wc, "other", "secret"));
		assert_false(web_config_check_user(wc, "prometheus", "Secret"));
		assert_false(web_config_check_user(wc, "prometheus", ""));
		assert_false(web_config_check_user(wc, "nobody", "secret"));
		assert_false(web_config_check_user(wc, "prometheus", NULL));
		assert_false(web_config_check_user(wc, NULL, "secret"));
		/* user/password boundary is part of the cache key */
		assert_false(web_config_check_user(wc, "prometheu", "ssecret"));
	}
	web_config_free(wc);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("tls_server_config: [1, 2]\n", "must be a mapping");
	expect_error("- a\n- b\n", "must be a YAML mapping");
	expect_error("tls_server_confg:\n  cert_file: x\n",
		     "unknown key 'tls_server_confg'");
	expect_error("tls_server_config:\n  cert_fil: x\n",
		     "line 2: tls_server_config: unknown key 'cert_fil'");
	expect_error("tls_server_config:\n  cert_file: server.crt\n",
		     "missing key_file");
	expect_error("tls_server_config:\n  key_file: server.key\n",
		     "missing cert_file");
	expect_error("tls_server_config:\n  cert_file: nope.crt\n"
		     "  key_file: server.key\n",
		     "nope.crt: No such file or directory");
	expect_error("tls_server_config:\n  cert_file: server.crt\n"
		     "  key_file: other.key\n",
		     "key_file");
	expect_error("tls_server_config:\n  cert_file: garbage.crt\n"
		     "  key_file: server.key\n",
		     "garbage.crt");
	expect_error("tls_server_config:\n  cert_file: server.crt\n"
		     "  key_file: server.key\n  min_version: TLS14\n",
		     "min_version wants TLS10");
	expect_error("tls_server_config:\n  cert_file: server.crt\n"
		     "  key_file: server.key\n  min_version: TLS13\n"
		     "  max_version: TLS12\n",
		     "max_version is below min_version");
	expect_error("tls_server_config:\n  cert_file: server.crt\n"
		     "  key_file: server.key\n  client_auth_type: Maybe\n",
		     "client_auth_type 'Maybe'");
	expect_error("tls_server_config:\n  cert_file: server.crt\n"
		     "  key_file: server.key\n"
		     "  client_auth_type: RequireAndVerifyClientCert\n",
		     "client_ca_file is missing");
	expect_error("tls_server_config:\n  cert_file: server.crt\n"
		     "  key_file: server.key\n  client_ca_file: ca.crt\n",
		     "client_auth_type is NoClientCert");
	expect_error("tls_server_config:\n  cert_file: server.crt\n"
		     "  key_file: server.key\n  client_ca_file: empty.crt\n"
		     "  client_auth_type: RequireAndVerifyClientCert\n",
		     "empty.crt");
	expect_error("tls_server_config:\n  cert_file: server.crt\n"
		     "  key_file: server.key\n  cipher_suites: [x]\n",
		     "'cipher_suites' is not supported");
	expect_error(
		"tls_server_config:\n  client_auth_type: RequestClientCert\n",
		"missing cert_file and key_file");
	expect_error("basic_auth_users:\n  prometheus: secret\n",
		     "not a bcrypt hash");
	expect_error("basic_auth_users:\n  prometheus: $1$abc$def\n",
		     "not a bcrypt hash");
	expect_error("basic_auth_users:\n  a: " HASH "\n  a: " HASH "\n",
		     "'a' given twice");
	expect_error("http_server_config:\n  headers:\n    Server: x\n",
		     "HTTP header 'Server' can not be configured");
	expect_error("http_server_config:\n  headers:\n"
		     "    X-Content-Type-Options: sniff\n",
		     "invalid value 'sniff' for header X-Content-Type-Options");
	expect_error("http_server_config:\n  http2: maybe\n",
		     "http2 wants true or false");
	expect_error("http_server_config:\n  gzip: true\n",
		     "unknown key 'gzip'");
	expect_error("basic_auth_users: {a: [\n", "line");
}

static void test_load_file(void **state)
{
	char err[512], path[128];
	struct web_config *wc;

	(void)state;
	wc = web_config_load("/nonexistent/web.yml", err, sizeof(err));
	assert_null(wc);
	assert_string_equal(err, "--web.config.file /nonexistent/web.yml: "
				 "No such file or directory");
	write_str("web.yml", "tls_server_config:\n  cert_file: server.crt\n"
			     "  key_file: server.key\n");
	snprintf(path, sizeof(path), "%s/web.yml", dir);
	wc = web_config_load(path, err, sizeof(err));
	if (!wc)
		fail_msg("%s", err);
	assert_true(wc->tls);
	web_config_free(wc);
	write_str("web.yml", "tls_server_config:\n  bogus: 1\n");
	wc = web_config_load(path, err, sizeof(err));
	assert_null(wc);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 2"));
	unlink(path);
}

/*
 * A FIFO (no writer: a blocking open would hang the start), a device and
 * a directory, as the configuration file or as a file it names: refused
 * at once, saying what it is.
 */
static void test_special_files(void **state)
{
	static const char *const keys[] = {"cert_file", "key_file",
					   "client_ca_file"};
	char err[512], fifo[128], want[256], yaml[512];
	struct web_config *wc;

	(void)state;
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10); /* a blocking open would hang here: fail instead */
	wc = web_config_load(fifo, err, sizeof(err));
	assert_null(wc);
	snprintf(want, sizeof(want),
		 "--web.config.file %s: is a FIFO, not a regular file", fifo);
	assert_string_equal(err, want);
	wc = web_config_load("/dev/zero", err, sizeof(err));
	assert_null(wc);
	assert_string_equal(err, "--web.config.file /dev/zero: is a character "
				 "device, not a regular file");
	wc = web_config_load(dir, err, sizeof(err));
	assert_null(wc);
	assert_non_null(strstr(err, "is a directory, not a regular file"));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 "tls_server_config:\n"
			 "  cert_file: %s\n"
			 "  key_file: %s\n"
			 "  client_auth_type: RequireAndVerifyClientCert\n"
			 "  client_ca_file: %s\n",
			 i == 0 ? "fifo" : "server.crt",
			 i == 1 ? "fifo" : "server.key",
			 i == 2 ? "fifo" : "ca.crt");
		snprintf(want, sizeof(want),
			 "%s %s: is a FIFO, not a regular file", keys[i], fifo);
		expect_error(yaml, want);
	}
	alarm(0);
	unlink(fifo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_plain_http),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_default_min_version_is_tls12),
		cmocka_unit_test(test_basic_auth),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_special_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

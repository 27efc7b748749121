/* SPDX-License-Identifier: MIT */
/*
 * --web.config.file: the Prometheus exporter-toolkit format that
 * node_exporter and friends read, so the same file works here:
 *
 *   tls_server_config:
 *     cert_file: server.crt
 *     key_file: server.key
 *     min_version: TLS12
 *     client_auth_type: RequireAndVerifyClientCert
 *     client_ca_file: ca.crt
 *   http_server_config:
 *     headers:
 *       Strict-Transport-Security: max-age=31536000
 *   basic_auth_users:
 *     prometheus: $2y$10$...   (bcrypt)
 *
 * Relative paths are relative to the file's directory.  Certificates and
 * keys are read into memory at start-up, before privileges are dropped.
 */
#ifndef ITM_WEBCONFIG_H
#define ITM_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum web_client_auth {
	WEB_CLIENT_NONE,	     /* NoClientCert */
	WEB_CLIENT_REQUEST,	     /* RequestClientCert */
	WEB_CLIENT_REQUIRE_ANY,	     /* RequireAnyClientCert */
	WEB_CLIENT_VERIFY_IF_GIVEN,  /* VerifyClientCertIfGiven */
	WEB_CLIENT_REQUIRE_VERIFIED, /* RequireAndVerifyClientCert */
};

/* GnuTLS version numbers, so they compare: TLS10 < ... < TLS13. */
enum web_tls_version {
	WEB_TLS_ANY = 0,
	WEB_TLS10 = 10,
	WEB_TLS11 = 11,
	WEB_TLS12 = 12,
	WEB_TLS13 = 13,
};

struct web_kv {
	char *key;
	char *value;
};

#define WEB_AUTH_CACHE 32

struct web_auth_cache_entry {
	unsigned char digest[32]; /* SHA-256 of user NUL password */
	bool used;
	bool ok;
};

struct web_config {
	bool tls;
	char *cert_file, *key_file, *client_ca_file; /* resolved paths */
	char *cert_pem, *key_pem, *client_ca_pem;    /* their contents */
	enum web_tls_version min_version, max_version;
	enum web_client_auth client_auth;
	struct web_kv *users; /* name → bcrypt hash */
	size_t n_users;
	struct web_kv *headers; /* extra response headers */
	size_t n_headers;
	char priorities[96]; /* GnuTLS priority string for the versions */
	/* bcrypt costs ~50 ms: remember recent answers (exporter-toolkit does)
	 */
	struct web_auth_cache_entry cache[WEB_AUTH_CACHE];
	unsigned int cache_next;
};

/*
 * Reads and validates PATH (and the files it names).  On failure returns
 * NULL and writes one line, naming the file and the problem, into err.
 */
struct web_config *web_config_load(const char *path, char *err, size_t errlen);
/* The same from a string; base_dir resolves relative paths. */
struct web_config *web_config_parse(const char *yaml, size_t len,
				    const char *base_dir, char *err,
				    size_t errlen);
void web_config_free(struct web_config *wc);

/*
 * True when USER/PASSWORD match one of basic_auth_users.  Always true
 * when no users are configured.  Not thread-safe (one HTTP thread).
 */
bool web_config_check_user(struct web_config *wc, const char *user,
			   const char *password);

#endif

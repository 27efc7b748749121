// SPDX-License-Identifier: MIT
/*
 * The exporter-toolkit web configuration, read with libyaml's document
 * API.  Unknown keys are errors, as with the toolkit's strict YAML
 * decoding: a typo must not silently leave the endpoint open.
 */
#include "webconfig.h"

#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "regfile.h"

#define MAX_CONFIG_FILE (1 << 20)
#define MAX_PEM_FILE	(1 << 20)

struct parse {
	yaml_document_t *doc;
	const char *base_dir;
	struct web_config *wc;
	char *err;
	size_t errlen;
	bool have_tls_section;
};

__attribute__((format(printf, 3, 4))) static int
fail(struct parse *p, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		snprintf(p->err, p->errlen, "line %zu: %s",
			 (size_t)n->start_mark.line + 1, msg);
	else
		snprintf(p->err, p->errlen, "%s", msg);
	return -EINVAL;
}

static yaml_node_t *node(struct parse *p, int id)
{
	return yaml_document_get_node(p->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
					   : NULL;
}

/* A plain "~", "null" or nothing at all: the key is present but empty. */
static bool is_null(const yaml_node_t *n)
{
	const char *s = scalar(n);

	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || !strcmp(s, "~") || !strcasecmp(s, "null"));
}

static int want_string(struct parse *p, const yaml_node_t *n, const char *key,
		       char **out)
{
	const char *s = scalar(n);

	if (!s)
		return fail(p, n, "%s wants a string", key);
	free(*out);
	*out = is_null(n) ? NULL : strdup(s);
	if (!is_null(n) && !*out)
		return fail(p, n, "out of memory");
	return 0;
}

static int want_bool(struct parse *p, const yaml_node_t *n, const char *key)
{
	const char *s = scalar(n);

	if (s && (!strcmp(s, "true") || !strcmp(s, "false") || is_null(n)))
		return 0;
	return fail(p, n, "%s wants true or false", key);
}

/* Calls fn for every key/value of a mapping, refusing duplicate keys. */
static int each_pair(struct parse *p, const yaml_node_t *map, const char *what,
		     int (*fn)(struct parse *, const char *key,
			       yaml_node_t *value))
{
	yaml_node_pair_t *a, *b;
	int err;

	if (is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return fail(p, map, "%s must be a mapping", what);
	for (a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *k = node(p, a->key);
		const char *key = k ? scalar(k) : NULL;

		if (!key)
			return fail(p, k, "%s has a key that is not a string",
				    what);
		for (b = map->data.mapping.pairs.start; b < a; b++) {
			const char *other = scalar(node(p, b->key));

			if (other && !strcmp(other, key))
				return fail(p, k, "%s: '%s' given twice", what,
					    key);
		}
		err = fn(p, key, node(p, a->value));
		if (err)
			return err;
	}
	return 0;
}

static const struct {
	const char *name;
	enum web_client_auth value;
} client_auth_names[] = {
	{"NoClientCert", WEB_CLIENT_NONE},
	{"RequestClientCert", WEB_CLIENT_REQUEST},
	{"RequireAnyClientCert", WEB_CLIENT_REQUIRE_ANY},
	{"RequireClientCert", WEB_CLIENT_REQUIRE_ANY}, /* old spelling */
	{"VerifyClientCertIfGiven", WEB_CLIENT_VERIFY_IF_GIVEN},
	{"RequireAndVerifyClientCert", WEB_CLIENT_REQUIRE_VERIFIED},
};

static int tls_version(struct parse *p, const yaml_node_t *n, const char *key,
		       enum web_tls_version *out)
{
	static const char *const names[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
	const char *s = scalar(n);

	for (size_t i = 0; s && i < 4; i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum web_tls_version)(WEB_TLS10 + i);
			return 0;
		}
	}
	if (is_null(n)) {
		*out = WEB_TLS_ANY;
		return 0;
	}
	return fail(p, n, "%s wants TLS10, TLS11, TLS12 or TLS13, got '%s'",
		    key, s ? s : "?");
}

static int tls_key(struct parse *p, const char *key, yaml_node_t *v)
{
	struct web_config *wc = p->wc;
	char *s = NULL;
	int err;

	if (!strcmp(key, "cert_file"))
		return want_string(p, v, key, &wc->cert_file);
	if (!strcmp(key, "key_file"))
		return want_string(p, v, key, &wc->key_file);
	if (!strcmp(key, "client_ca_file"))
		return want_string(p, v, key, &wc->client_ca_file);
	if (!strcmp(key, "min_version"))
		return tls_version(p, v, key, &wc->min_version);
	if (!strcmp(key, "max_version"))
		return tls_version(p, v, key, &wc->max_version);
	if (!strcmp(key, "prefer_server_cipher_suites"))
		return want_bool(p, v,
				 key); /* GnuTLS's order is the server's */
	if (!strcmp(key, "client_auth_type")) {
		err = want_string(p, v, key, &s);
		if (err)
			return err;
		wc->client_auth = WEB_CLIENT_NONE;
		for (size_t i = 0;
		     s && i < sizeof(client_auth_names) /
					  sizeof(client_auth_names[0]);
		     i++) {
			if (!strcmp(s, client_auth_names[i].name)) {
				wc->client_auth = client_auth_names[i].value;
				free(s);
				return 0;
			}
		}
		if (!s)
			return 0;
		err = fail(
			p, v,
			"client_auth_type '%s' is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
			s);
		free(s);
		return err;
	}
	if (!strcmp(key, "cipher_suites") ||
	    !strcmp(key, "curve_preferences") ||
	    !strcmp(key, "client_allowed_sans") || !strcmp(key, "cert") ||
	    !strcmp(key, "key") || !strcmp(key, "client_ca"))
		return fail(
			p, v,
			"tls_server_config: '%s' is not supported here (GnuTLS picks ciphers and curves; use the *_file keys)",
			key);
	return fail(p, v, "tls_server_config: unknown key '%s'", key);
}

/* The headers exporter-toolkit lets an operator set, and their values. */
static const struct {
	const char *name;
	const char *const values[3];
} allowed_headers[] = {
	{"Strict-Transport-Security", {NULL}},
	{"X-Content-Type-Options", {"nosniff", NULL}},
	{"X-Frame-Options", {"deny", "sameorigin", NULL}},
	{"X-XSS-Protection", {NULL}},
	{"Content-Security-Policy", {NULL}},
};

static int header_key(struct parse *p, const char *key, yaml_node_t *v)
{
	struct web_config *wc = p->wc;
	const char *s = scalar(v);
	struct web_kv *h;
	size_t i, j;

	for (i = 0; i < sizeof(allowed_headers) / sizeof(allowed_headers[0]);
	     i++)
		if (!strcmp(key, allowed_headers[i].name))
			break;
	if (i == sizeof(allowed_headers) / sizeof(allowed_headers[0]))
		return fail(p, v, "HTTP header '%s' can not be configured",
			    key);
	if (!s || strpbrk(s, "\r\n"))
		return fail(p, v, "header %s wants a one-line string", key);
	if (allowed_headers[i].values[0]) {
		for (j = 0; allowed_headers[i].values[j]; j++)
			if (!strcasecmp(s, allowed_headers[i].values[j]))
				break;
		if (!allowed_headers[i].values[j])
			return fail(p, v, "invalid value '%s' for header %s", s,
				    key);
	}
	h = realloc(wc->headers, (wc->n_headers + 1) * sizeof(*h));
	if (!h)
		return fail(p, v, "out of memory");
	wc->headers = h;
	h = &h[wc->n_headers];
	h->key = strdup(key);
	h->value = strdup(s);
	wc->n_headers++;
	if (!h->key || !h->value)
		return fail(p, v, "out of memory");
	return 0;
}

static int http_key(struct parse *p, const char *key, yaml_node_t *v)
{
	if (!strcmp(key, "headers"))
		return each_pair(p, v, "headers", header_key);
	if (!strcmp(key, "http2"))
		return want_bool(p, v, key); /* libmicrohttpd speaks HTTP/1.1 */
	return fail(p, v, "http_server_config: unknown key '%s'", key);
}

static int user_key(struct parse *p, const char *key, yaml_node_t *v)
{
	struct web_config *wc = p->wc;
	const char *hash = scalar(v);
	struct web_kv *u;

	if (!*key || strchr(key, ':'))
		return fail(p, v, "basic_auth_users: invalid user name '%s'",
			    key);
	/* bcrypt only, as in exporter-toolkit: $2a$, $2b$ or $2y$. */
	if (!hash || strncmp(hash, "$2", 2) || !strchr("aby", hash[2]) ||
	    hash[3] != '$' || strlen(hash) != 60 ||
	    crypt_checksalt(hash) != CRYPT_SALT_OK)
		return fail(
			p, v,
			"basic_auth_users: the password of '%s' is not a bcrypt hash (htpasswd -nBC 10 USER)",
			key);
	u = realloc(wc->users, (wc->n_users + 1) * sizeof(*u));
	if (!u)
		return fail(p, v, "out of memory");
	wc->users = u;
	u = &u[wc->n_users];
	u->key = strdup(key);
	u->value = strdup(hash);
	wc->n_users++;
	if (!u->key || !u->value)
		return fail(p, v, "out of memory");
	return 0;
}

static int top_key(struct parse *p, const char *key, yaml_node_t *v)
{
	if (!strcmp(key, "tls_server_config")) {
		p->have_tls_section = !is_null(v);
		return each_pair(p, v, key, tls_key);
	}
	if (!strcmp(key, "http_server_config"))
		return each_pair(p, v, key, http_key);
	if (!strcmp(key, "basic_auth_users"))
		return each_pair(p, v, key, user_key);
	return fail(p, v, "unknown key '%s'", key);
}

/*
 * Reads a whole regular file of at most max bytes.  A FIFO, a device or a
 * directory is refused without blocking (why says so); -errno.
 */
static int read_file(const char *path, size_t max, char **out, size_t *len,
		     char *why, size_t whylen)
{
	size_t n = 0;
	char *buf;
	int fd, err = 0;

	fd = regfile_open(path, why, whylen);
	if (fd < 0)
		return fd;
	buf = malloc(max + 1);
	if (!buf) {
		close(fd);
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	while (n <= max) {
		ssize_t r = read(fd, buf + n, max + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err = -errno;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!err && n > max)
		err = -EFBIG;
	if (err) {
		snprintf(why, whylen, "%s", strerror(-err));
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

/* "x.crt" relative to the configuration file's directory. */
static int resolve(struct parse *p, char **path)
{
	char *abs;

	if (!*path || (*path)[0] == '/' || !p->base_dir)
		return 0;
	if (asprintf(&abs, "%s/%s", p->base_dir, *path) < 0)
		return -ENOMEM;
	free(*path);
	*path = abs;
	return 0;
}

static int load_pem(struct parse *p, const char *key, const char *path,
		    char **out)
{
	char why[128];

	if (read_file(path, MAX_PEM_FILE, out, NULL, why, sizeof(why)))
		return fail(p, NULL, "%s %s: %s", key, path, why);
	return 0;
}

/* Catch a wrong key, a broken PEM or an empty CA file now, not per client. */
static int check_tls(struct parse *p)
{
	struct web_config *wc = p->wc;
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t cert = {(unsigned char *)wc->cert_pem,
			       (unsigned int)strlen(wc->cert_pem)};
	gnutls_datum_t key = {(unsigned char *)wc->key_pem,
			      (unsigned int)strlen(wc->key_pem)};
	int rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return fail(p, NULL, "out of memory");
	rc = gnutls_certificate_set_x509_key_mem(cred, &cert, &key,
						 GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		gnutls_certificate_free_credentials(cred);
		return fail(p, NULL, "cert_file %s / key_file %s: %s",
			    wc->cert_file, wc->key_file, gnutls_strerror(rc));
	}
	if (wc->client_ca_pem) {
		gnutls_datum_t ca = {(unsigned char *)wc->client_ca_pem,
				     (unsigned int)strlen(wc->client_ca_pem)};

		rc = gnutls_certificate_set_x509_trust_mem(cred, &ca,
							   GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			gnutls_certificate_free_credentials(cred);
			return fail(p, NULL, "client_ca_file %s: %s",
				    wc->client_ca_file,
				    rc < 0 ? gnutls_strerror(rc)
					   : "no certificate in it");
		}
	}
	gnutls_certificate_free_credentials(cred);
	return 0;
}

static void set_priorities(struct web_config *wc)
{
	/* Go's default minimum is TLS 1.2; so is ours. */
	int lo = wc->min_version ? (int)wc->min_version : WEB_TLS12;
	int hi = wc->max_version ? (int)wc->max_version : WEB_TLS13;
	size_t n;

	n = (size_t)snprintf(wc->priorities, sizeof(wc->priorities),
			     "NORMAL:-VERS-ALL");
	for (int v = hi; v >= lo; v--)
		n += (size_t)snprintf(wc->priorities + n,
				      sizeof(wc->priorities) - n,
				      ":+VERS-TLS1.%d", v - 10);
}

/* What exporter-toolkit refuses, and files we need in memory. */
static int finish(struct parse *p)
{
	struct web_config *wc = p->wc;
	int err;

	if (wc->min_version && wc->max_version &&
	    wc->max_version < wc->min_version)
		return fail(
			p, NULL,
			"tls_server_config: max_version is below min_version");
	if (!wc->cert_file && !wc->key_file) {
		if (wc->client_ca_file || wc->client_auth != WEB_CLIENT_NONE ||
		    wc->min_version || wc->max_version)
			return fail(
				p, NULL,
				"tls_server_config: missing cert_file and key_file");
		return 0; /* plain HTTP (an empty tls_server_config too) */
	}
	if (!wc->cert_file)
		return fail(p, NULL, "tls_server_config: missing cert_file");
	if (!wc->key_file)
		return fail(p, NULL, "tls_server_config: missing key_file");
	if (wc->client_ca_file && wc->client_auth == WEB_CLIENT_NONE)
		return fail(
			p, NULL,
			"tls_server_config: client_ca_file is set but client_auth_type is NoClientCert");
	if (!wc->client_ca_file &&
	    (wc->client_auth == WEB_CLIENT_VERIFY_IF_GIVEN ||
	     wc->client_auth == WEB_CLIENT_REQUIRE_VERIFIED))
		return fail(
			p, NULL,
			"tls_server_config: client_auth_type verifies client certificates but client_ca_file is missing");
	if (resolve(p, &wc->cert_file) || resolve(p, &wc->key_file) ||
	    resolve(p, &wc->client_ca_file))
		return fail(p, NULL, "out of memory");
	err = load_pem(p, "cert_file", wc->cert_file, &wc->cert_pem);
	if (!err)
		err = load_pem(p, "key_file", wc->key_file, &wc->key_pem);
	if (!err && wc->client_ca_file)
		err = load_pem(p, "client_ca_file", wc->client_ca_file,
			       &wc->client_ca_pem);
	if (!err)
		err = check_tls(p);
	if (err)
		return err;
	wc->tls = true;
	set_priorities(wc);
	return 0;
}

struct web_config *web_config_parse(const char *yaml, size_t len,
				    const char *base_dir, char *err,
				    size_t errlen)
{
	struct web_config *wc = calloc(1, sizeof(*wc));
	yaml_parser_t parser;
	yaml_document_t doc;
	struct parse p = {
		.doc = &doc,
		.base_dir = base_dir,
		.wc = wc,
		.err = err,
		.errlen = errlen,
	};
	yaml_node_t *root;
	int rc;

	if (!wc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "out of memory");
		free(wc);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "line %zu: %s%s%s",
			 (size_t)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "invalid YAML",
			 parser.context ? " " : "",
			 parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		free(wc);
		return NULL;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root || is_null(root))
		rc = 0; /* an empty file: plain HTTP, no authentication */
	else if (root->type != YAML_MAPPING_NODE)
		rc = fail(&p, root, "the file must be a YAML mapping");
	else
		rc = each_pair(&p, root, "the file", top_key);
	if (!rc)
		rc = finish(&p);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc) {
		web_config_free(wc);
		return NULL;
	}
	return wc;
}

struct web_config *web_config_load(const char *path, char *err, size_t errlen)
{
	char msg[448], why[128], *text, *dir, *slash;
	struct web_config *wc;
	size_t len;

	if (read_file(path, MAX_CONFIG_FILE, &text, &len, why, sizeof(why))) {
		snprintf(err, errlen, "--web.config.file %s: %s", path, why);
		return NULL;
	}
	dir = strdup(path);
	if (!dir) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	wc = web_config_parse(text, len, slash ? dir : ".", msg, sizeof(msg));
	if (!wc)
		snprintf(err, errlen, "--web.config.file %s: %s", path, msg);
	free(dir);
	free(text);
	return wc;
}

static void free_kv(struct web_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void web_config_free(struct web_config *wc)
{
	if (!wc)
		return;
	free(wc->cert_file);
	free(wc->key_file);
	free(wc->client_ca_file);
	free(wc->cert_pem);
	if (wc->key_pem) {
		explicit_bzero(wc->key_pem, strlen(wc->key_pem));
		free(wc->key_pem);
	}
	free(wc->client_ca_pem);
	free_kv(wc->users, wc->n_users);
	free_kv(wc->headers, wc->n_headers);
	explicit_bzero(wc->cache, sizeof(wc->cache));
	free(wc);
}

static bool equal_ct(const char *a, const char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return !d;
}

static bool bcrypt_matches(const char *hash, const char *password)
{
	struct crypt_data cd;
	bool ok;

	memset(&cd, 0, sizeof(cd));
	ok = crypt_r(password, hash, &cd) && cd.output[0] != '*' &&
	     strlen(cd.output) == strlen(hash) &&
	     equal_ct(cd.output, hash, strlen(hash));
	explicit_bzero(&cd, sizeof(cd));
	return ok;
}

bool web_config_check_user(struct web_config *wc, const char *user,
			   const char *password)
{
	/* Spends the same bcrypt time on unknown users as on known ones. */
	static const char dummy[] =
		"$2y$10$WRTuWDWq.jxNBEQk61PeceGfJ90REMuP6j0dWftASqKoO6bvptJlS";
	const char *hash = dummy;
	unsigned char digest[32];
	gnutls_hash_hd_t h;
	bool ok = false;

	if (!wc->n_users)
		return true;
	if (!user || !password)
		return false;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return false;
	gnutls_hash(h, user, strlen(user) + 1);
	gnutls_hash(h, password, strlen(password));
	gnutls_hash_deinit(h, digest);
	for (size_t i = 0; i < WEB_AUTH_CACHE; i++) {
		struct web_auth_cache_entry *e = &wc->cache[i];

		if (e->used && !memcmp(e->digest, digest, sizeof(digest)))
			return e->ok;
	}
	for (size_t i = 0; i < wc->n_users; i++)
		if (!strcmp(wc->users[i].key, user))
			hash = wc->users[i].value;
	ok = bcrypt_matches(hash, password) && hash != dummy;
	memcpy(wc->cache[wc->cache_next].digest, digest, sizeof(digest));
	wc->cache[wc->cache_next].used = true;
	wc->cache[wc->cache_next].ok = ok;
	wc->cache_next = (wc->cache_next + 1) % WEB_AUTH_CACHE;
	return ok;
}

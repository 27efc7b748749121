// SPDX-License-Identifier: MIT
/*
 * libmicrohttpd on one internal epoll thread.  We create the listening
 * socket ourselves so that the caller gets the real bind() errno, and
 * MHD's limits keep hostile clients (slowloris, huge headers, floods)
 * from starving Prometheus.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <zlib.h>

#include "webconfig.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

#define CONN_LIMIT	  64
#define PER_IP_LIMIT	  16
#define CONN_TIMEOUT_S	  10
#define CONN_MEMORY_LIMIT (32 * 1024)
#define LISTEN_BACKLOG	  64
/*
 * A big table renders to hundreds of MB per response; bound how many of
 * them slow readers can pin in memory at once.
 */
#define MAX_METRICS_IN_FLIGHT 4

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define ALLOW	   "GET, HEAD"

static const char index_html[] =
	"<!DOCTYPE html>\n"
	"<html><head><meta charset=\"utf-8\">"
	"<title>ip_traffic_monitor_cli</title></head>\n"
	"<body><h1>ip_traffic_monitor_cli</h1>\n"
	"<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

struct http_server {
	struct MHD_Daemon *daemon;
	http_render_fn render;
	void *ctx;
	struct web_config *web; /* --web.config.file; NULL: plain, open */
	atomic_int metrics_in_flight;
};

/* *con_cls markers: headers seen; holds one of the in-flight slots. */
static char headers_mark;
static char in_flight_mark;

static int parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *sl)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 4];
	size_t n = strlen(s);
	char *scope;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*sl = sizeof(*s4);
		return 0;
	}
	/* Accept "[::1]" as well as "::1", and "fe80::1%eth0". */
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	scope = strchr(buf, '%');
	if (scope) {
		*scope++ = '\0';
		s6->sin6_scope_id = if_nametoindex(scope);
		if (!s6->sin6_scope_id)
			return -EINVAL;
	}
	if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
		return -EINVAL;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	*sl = sizeof(*s6);
	return 0;
}

/* Returns a listening, non-blocking socket or -errno. */
static int listen_on(const struct sockaddr *sa, socklen_t sl)
{
	int one = 1, zero = 0, fd, err;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto fail;
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr) &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)))
		goto fail;
	if (bind(fd, sa, sl) || listen(fd, LISTEN_BACKLOG))
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

static int open_listener(const char *listen_addr, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 any6 = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(port),
		.sin6_addr = IN6ADDR_ANY_INIT,
	};
	struct sockaddr_in any4 = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	socklen_t sl;
	int fd, err;

	if (listen_addr && *listen_addr) {
		err = parse_addr(listen_addr, port, &ss, &sl);
		if (err)
			return err;
		return listen_on((struct sockaddr *)&ss, sl);
	}
	fd = listen_on((struct sockaddr *)&any6, sizeof(any6));
	/* No IPv6 in this kernel or namespace: serve IPv4 only. */
	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL ||
	    fd == -EPROTONOSUPPORT)
		fd = listen_on((struct sockaddr *)&any4, sizeof(any4));
	return fd;
}

/* The operator's http_server_config headers, on every response. */
static int add_web_headers(struct MHD_Connection *conn,
			   struct MHD_Response *resp)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const struct http_server *srv = ci ? ci->socket_context : NULL;

	for (size_t i = 0; srv && srv->web && i < srv->web->n_headers; i++)
		if (MHD_add_response_header(resp, srv->web->headers[i].key,
					    srv->web->headers[i].value) !=
		    MHD_YES)
			return -ENOMEM;
	return 0;
}

static mhd_result reply(struct MHD_Connection *conn, unsigned int status,
			struct MHD_Response *resp)
{
	mhd_result ret;

	if (!resp)
		return MHD_NO; /* out of memory: MHD drops the connection */
	if (add_web_headers(conn, resp)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static mhd_result reply_static(struct MHD_Connection *conn, unsigned int status,
			       const char *type, const char *body, bool allow)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) !=
		    MHD_YES ||
	    (allow && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					      ALLOW) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return reply(conn, status, resp);
}

/* True when the client lists gzip with a non-zero q. */
static bool accepts_gzip(struct MHD_Connection *conn)
{
	const char *p = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);

	while (p && *p) {
		const char *tok, *end;
		size_t len;

		p += strspn(p, " \t,");
		tok = p;
		len = strcspn(p, " \t;,");
		end = p + strcspn(p, ",");
		if (len == 4 && !strncasecmp(tok, "gzip", 4)) {
			const char *q = p + len;

			q += strspn(q, " \t");
			if (*q != ';')
				return true;
			q++;
			q += strspn(q, " \t");
			if (strncasecmp(q, "q=", 2))
				return true;
			/* q=0, q=0.0, q=0.000 refuse gzip. */
			q += 2;
			if (*q != '0')
				return true;
			q++;
			if (*q == '.')
				q++;
			while (*q == '0')
				q++;
			return !(*q == '\0' || *q == ',' || *q == ' ' ||
				 *q == '\t' || *q == ';');
		}
		p = end;
	}
	return false;
}

/*
 * Level 1: metrics text is so repetitive that it still shrinks ~10x,
 * while level 6 would take seconds on a 300 MB scrape.
 */
static int gzip_buffer(const char *in, size_t len, struct strbuf *out)
{
	const size_t chunk = 1U << 30; /* avail_in is 32 bits */
	z_stream zs = {0};
	size_t done = 0;
	int zerr, err;

	if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	err = strbuf_reserve(out, len / 8 + 4096);
	do {
		size_t n = len - done < chunk ? len - done : chunk;
		int flush = done + n == len ? Z_FINISH : Z_NO_FLUSH;

		zs.next_in = (Bytef *)(in + done);
		zs.avail_in = (uInt)n;
		done += n;
		do {
			size_t room;

			if (!err && out->cap - out->len - 1 < 4096)
				err = strbuf_reserve(out, out->cap);
			if (err)
				break;
			room = out->cap - out->len - 1;
			if (room > chunk)
				room = chunk;
			zs.next_out = (Bytef *)out->buf + out->len;
			zs.avail_out = (uInt)room;
			zerr = deflate(&zs, flush);
			out->len += room - zs.avail_out;
			if (zerr == Z_STREAM_ERROR)
				err = -EIO;
		} while (!err && (zs.avail_in ||
				  (flush == Z_FINISH && zerr != Z_STREAM_END)));
	} while (!err && done < len);
	deflateEnd(&zs);
	if (!err)
		out->buf[out->len] = '\0';
	return err;
}

static struct MHD_Response *body_response(struct strbuf *body)
{
	struct MHD_Response *resp;
	size_t len;
	char *buf = strbuf_detach(body, &len);

	if (!buf)
		return NULL;
	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(buf);
	return resp;
}

static mhd_result serve_metrics(struct http_server *srv,
				struct MHD_Connection *conn, void **con_cls)
{
	struct strbuf body = STRBUF_INIT, gz = STRBUF_INIT;
	struct MHD_Response *resp;
	bool gzip;
	int err;

	if (atomic_fetch_add(&srv->metrics_in_flight, 1) >=
	    MAX_METRICS_IN_FLIGHT) {
		atomic_fetch_sub(&srv->metrics_in_flight, 1);
		return reply_static(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "text/plain; charset=utf-8",
				    "Too many concurrent scrapes\n", false);
	}
	/* Released by request_completed() whatever happens next. */
	*con_cls = &in_flight_mark;

	err = srv->render(srv->ctx, &body);
	if (err) {
		strbuf_free(&body);
		return reply_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "text/plain; charset=utf-8",
				    "Failed to render metrics\n", false);
	}
	gzip = accepts_gzip(conn);
	if (gzip) {
		err = gzip_buffer(body.buf ? body.buf : "", body.len, &gz);
		strbuf_free(&body);
		if (err) {
			strbuf_free(&gz);
			return reply_static(
				conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				"text/plain; charset=utf-8",
				"Failed to compress metrics\n", false);
		}
		resp = body_response(&gz);
	} else {
		resp = body_response(&body);
	}
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    CT_METRICS) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
				    MHD_HTTP_HEADER_ACCEPT_ENCODING) !=
		    MHD_YES ||
	    (gzip &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
				     "gzip") != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return reply(conn, MHD_HTTP_OK, resp);
}

static bool authorized(struct http_server *srv, struct MHD_Connection *conn)
{
	char *user, *password = NULL;
	bool ok;

	if (!srv->web || !srv->web->n_users)
		return true;
	user = MHD_basic_auth_get_username_password(conn, &password);
	ok = user && password &&
	     web_config_check_user(srv->web, user, password);
	if (password) {
		explicit_bzero(password, strlen(password));
		MHD_free(password);
	}
	if (user)
		MHD_free(user);
	return ok;
}

static mhd_result reply_unauthorized(struct MHD_Connection *conn)
{
	static const char body[] = "Unauthorized\n";
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain; charset=utf-8") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				    "Basic realm=\"ip_traffic_monitor\"") !=
		    MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return reply(conn, MHD_HTTP_UNAUTHORIZED, resp);
}

static mhd_result handle(void *cls, struct MHD_Connection *conn,
			 const char *url, const char *method,
			 const char *version, const char *upload_data,
			 size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	bool is_metrics = !strcmp(url, "/metrics");

	(void)version;
	(void)upload_data;

	/* basic_auth_users guard every path, as in exporter-toolkit. */
	if (!*con_cls && !authorized(srv, conn))
		return reply_unauthorized(conn);
	/*
	 * Refusals go out on the first call, before any request body is
	 * read: we never want one, and MHD closes the connection after.
	 */
	if (!is_metrics && strcmp(url, "/"))
		return reply_static(conn, MHD_HTTP_NOT_FOUND,
				    "text/plain; charset=utf-8", "Not Found\n",
				    false);
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				    "text/plain; charset=utf-8",
				    "Method Not Allowed\n", true);
	/*
	 * Answers wait for the end of the request, so that MHD can keep the
	 * connection alive for the next scrape; a stray body is discarded.
	 */
	if (!*con_cls) {
		*con_cls = &headers_mark;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!is_metrics)
		return reply_static(conn, MHD_HTTP_OK,
				    "text/html; charset=utf-8", index_html,
				    false);
	return serve_metrics(srv, conn, con_cls);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
			      void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;

	(void)conn;
	(void)toe;
	if (*con_cls == &in_flight_mark) {
		atomic_fetch_sub(&srv->metrics_in_flight, 1);
		*con_cls = NULL;
	}
}

/*
 * Every new connection: remember the server (for reply()'s headers) and,
 * under TLS, tighten what MHD set up.  MHD requests a client certificate
 * whenever it has a trust list but never requires or verifies one; the
 * session exists already and the handshake has not started, so the
 * handshake itself refuses a client without an acceptable certificate,
 * as Go's crypto/tls does for exporter-toolkit.
 */
/* VerifyClientCertIfGiven: no certificate is fine, a bad one is not. */
static int verify_if_given(gnutls_session_t session)
{
	unsigned int n = 0, status = 0;

	if (!gnutls_certificate_get_peers(session, &n) || !n)
		return 0;
	if (gnutls_certificate_verify_peers2(session, &status) < 0 || status)
		return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
	return 0;
}

static void connection_notify(void *cls, struct MHD_Connection *conn,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t session;

	if (code != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	*socket_context = srv;
	if (!srv->web || !srv->web->tls)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return;
	session = ci->tls_session;
	switch (srv->web->client_auth) {
	case WEB_CLIENT_NONE:
		gnutls_certificate_server_set_request(session,
						      GNUTLS_CERT_IGNORE);
		break;
	case WEB_CLIENT_REQUEST:
		gnutls_certificate_server_set_request(session,
						      GNUTLS_CERT_REQUEST);
		break;
	case WEB_CLIENT_REQUIRE_ANY:
		gnutls_certificate_server_set_request(session,
						      GNUTLS_CERT_REQUIRE);
		break;
	case WEB_CLIENT_VERIFY_IF_GIVEN:
		gnutls_certificate_server_set_request(session,
						      GNUTLS_CERT_REQUEST);
		gnutls_session_set_verify_function(session, verify_if_given);
		break;
	case WEB_CLIENT_REQUIRE_VERIFIED:
		gnutls_certificate_server_set_request(session,
						      GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert(session, NULL, 0);
		break;
	}
}

int http_listen(const char *listen_addr, uint16_t port)
{
	return open_listener(listen_addr, port);
}

struct http_server *http_server_start_fd(int fd, struct web_config *web,
					 http_render_fn render, void *ctx)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;
	struct MHD_OptionItem tls[5] = {{MHD_OPTION_END, 0, NULL}};
	struct http_server *srv = NULL;
	size_t n = 0;
	int err;

	if (!render || fd < 0) {
		err = EINVAL;
		goto err_close;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		err = ENOMEM;
		goto err_close;
	}
	srv->render = render;
	srv->ctx = ctx;
	srv->web = web;
	atomic_init(&srv->metrics_in_flight, 0);

	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
		flags |= MHD_USE_EPOLL;
	else if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
		flags |= MHD_USE_POLL;
	if (web && web->tls) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			err = ENOTSUP;
			goto err_close;
		}
		flags |= MHD_USE_TLS;
		tls[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
						   web->cert_pem};
		tls[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
						   web->key_pem};
		tls[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES,
						   0, web->priorities};
		if (web->client_ca_pem)
			tls[n++] = (struct MHD_OptionItem){
				MHD_OPTION_HTTPS_MEM_TRUST, 0,
				web->client_ca_pem};
		tls[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	}

	errno = 0;
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, srv, MHD_OPTION_LISTEN_SOCKET,
		(MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)CONN_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)CONN_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, connection_notify, srv,
		MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!srv->daemon) {
		err = errno ? errno : EIO;
		goto err_close;
	}
	return srv;

err_close:
	/*
	 * MHD closes a socket it was given on most failure paths; close it
	 * only if it is still ours.
	 */
	if (fd >= 0 && fcntl(fd, F_GETFD) >= 0)
		close(fd);
	free(srv);
	errno = err;
	return NULL;
}

struct http_server *http_server_start(const char *listen_addr, uint16_t port,
				      http_render_fn render, void *ctx)
{
	int fd;

	if (!render) {
		errno = EINVAL;
		return NULL;
	}
	fd = open_listener(listen_addr, port);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	return http_server_start_fd(fd, NULL, render, ctx);
}

void http_server_stop(struct http_server *srv)
{
	if (!srv)
		return;
	/* Also closes the listening socket we handed over. */
	MHD_stop_daemon(srv->daemon);
	free(srv);
}

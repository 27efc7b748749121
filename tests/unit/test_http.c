// SPDX-License-Identifier: MIT
/* The /metrics server over real loopback sockets, hostile clients included. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "clock.h"
#include "http.h"
#include "strbuf.h"
#include "webconfig.h"

#define BODY                                                                   \
	"# HELP x_total X\n# TYPE x_total counter\nx_total{city=\"南京市\"} 42\n"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct render_ctx {
	const char *body;
	size_t body_len;
	int err;
	size_t fail_at; /* non-zero: the read that passes this offset fails */
	atomic_int calls;
	atomic_int open_bodies;
};

/* Like the daemon's snapshot: the body as it was when the response began. */
struct cursor {
	struct render_ctx *ctx;
	const char *body;
	size_t len, off;
};

static void *src_open(void *p)
{
	struct render_ctx *ctx = p;
	struct cursor *c;

	atomic_fetch_add(&ctx->calls, 1);
	if (ctx->err) {
		errno = -ctx->err;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c) {
		c->ctx = ctx;
		c->body = ctx->body;
		c->len = ctx->body_len;
		atomic_fetch_add(&ctx->open_bodies, 1);
	}
	return c;
}

static int src_read(void *p, struct strbuf *out, size_t want)
{
	struct cursor *c = p;
	size_t n = c->len - c->off;

	if (n > want)
		n = want;
	if (c->ctx->fail_at && c->off + n > c->ctx->fail_at)
		return -EIO;
	if (strbuf_append(out, c->body + c->off, n))
		return -ENOMEM;
	c->off += n;
	return c->off < c->len;
}

static void src_close(void *p)
{
	struct cursor *c = p;

	atomic_fetch_sub(&c->ctx->open_bodies, 1);
	free(c);
}

static struct http_source source_of(struct render_ctx *ctx)
{
	return (struct http_source){
		.open = src_open,
		.read = src_read,
		.close = src_close,
		.ctx = ctx,
	};
}

static struct http_server *start_with(const char *addr, uint16_t port,
				      struct render_ctx *ctx)
{
	struct http_source src = source_of(ctx);

	return http_server_start(addr, port, &src);
}

struct resp {
	int status;
	char head[16384]; /* status line + headers, NUL-terminated */
	char *body;
	size_t body_len;
	bool closed_early; /* ended or timed out before a full header */
	bool chunked;	   /* the body came chunked (and is decoded) */
	bool truncated;	   /* chunked, but cut before the last chunk */
};

/*
 * A port that was free a moment ago on every address (the API does not
 * take port 0): the limit tests leave many closing connections behind,
 * from other loopback addresses, on ports a wildcard bind would hit.
 */
static uint16_t free_port(void)
{
	struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_ANY_INIT};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa6);
	int zero = 0, fd = socket(AF_INET6, SOCK_STREAM, 0);
	uint16_t port;

	if (fd >= 0) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (!bind(fd, (struct sockaddr *)&sa6, sizeof(sa6)) &&
		    !getsockname(fd, (struct sockaddr *)&sa6, &sl)) {
			port = ntohs(sa6.sin6_port);
			close(fd);
			return port;
		}
		close(fd);
	}
	sl = sizeof(sa);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static bool have_ipv6_loopback(void)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = !bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ok;
}

static int connect_from(int family, uint16_t port, int rcvbuf, const char *src);

static int connect_to(int family, uint16_t port, int rcvbuf)
{
	return connect_from(family, port, rcvbuf, NULL);
}

/* src: an IPv4 loopback address to connect from (127.0.0.0/8), or NULL. */
static int connect_from(int family, uint16_t port, int rcvbuf, const char *src)
{
	struct sockaddr_storage ss = {0};
	struct timeval tv = {.tv_sec = 5};
	socklen_t sl;
	int fd;

	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_loopback;
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*s4);
	}
	fd = socket(family, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (src) {
		struct sockaddr_in me = {.sin_family = AF_INET};

		assert_int_equal(inet_pton(AF_INET, src, &me.sin_addr), 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)),
				 0);
	}
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, sl)) {
		fail_msg("connect to port %u: %s", port, strerror(errno));
	}
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return; /* the server may hang up on garbage */
		s += w;
		n -= (size_t)w;
	}
}

/* Decode a chunked body in place; false if it lacks its last chunk. */
static bool dechunk(struct resp *r)
{
	char *in = r->body, *end = r->body + r->body_len, *out = r->body;

	for (;;) {
		char *eol = memmem(in, (size_t)(end - in), "\r\n", 2);
		unsigned long n;

		if (!eol)
			return false;
		n = strtoul(in, NULL, 16);
		in = eol + 2;
		if (!n)
			break;
		if ((size_t)(end - in) < n + 2)
			return false;
		memmove(out, in, n);
		out += n;
		in += n + 2;
	}
	r->body_len = (size_t)(out - r->body);
	r->body[r->body_len] = '\0';
	r->chunked = true;
	return true;
}

/* Reads until the server closes; requests say "Connection: close". */
static void read_resp(int fd, struct resp *r)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[65536], *end;
	ssize_t n;
	size_t hl;

	memset(r, 0, sizeof(*r));
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		assert_int_equal(strbuf_append(&sb, buf, (size_t)n), 0);
	end = sb.buf ? strstr(sb.buf, "\r\n\r\n") : NULL;
	if (!end) {
		r->closed_early = true;
		strbuf_free(&sb);
		return;
	}
	hl = (size_t)(end - sb.buf) + 2;
	assert_true(hl < sizeof(r->head));
	memcpy(r->head, sb.buf, hl);
	r->head[hl] = '\0';
	assert_int_equal(sscanf(r->head, "HTTP/1.%*d %d", &r->status), 1);
	r->body_len = sb.len - hl - 2;
	r->body = malloc(r->body_len + 1);
	assert_non_null(r->body);
	memcpy(r->body, end + 4, r->body_len);
	r->body[r->body_len] = '\0';
	if (strcasestr(r->head, "\r\nTransfer-Encoding: chunked\r\n"))
		r->truncated = !dechunk(r);
	strbuf_free(&sb);
}

static void request_on(int family, uint16_t port, const char *raw,
		       struct resp *r)
{
	int fd = connect_to(family, port, 0);

	send_all(fd, raw, strlen(raw));
	read_resp(fd, r);
	close(fd);
}

static void request(uint16_t port, const char *method, const char *path,
		    const char *extra, struct resp *r)
{
	char raw[1024];

	snprintf(
		raw, sizeof(raw),
		"%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n",
		method, path, extra ? extra : "");
	request_on(AF_INET, port, raw, r);
}

/* Value of header name in r (without CRLF) into out, or false. */
static bool header(const struct resp *r, const char *name, char *out,
		   size_t len)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(r->head, "\r\n"); p && p[2];
	     p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *eol = strstr(line, "\r\n");
		size_t vl;

		if (strncasecmp(line, name, nl) || line[nl] != ':')
			continue;
		line += nl + 1;
		while (*line == ' ')
			line++;
		vl = (size_t)(eol - line);
		assert_true(vl < len);
		memcpy(out, line, vl);
		out[vl] = '\0';
		return true;
	}
	return false;
}

static void assert_header(const struct resp *r, const char *name,
			  const char *want)
{
	char v[512];

	if (!header(r, name, v, sizeof(v)))
		fail_msg("no %s header in:\n%s", name, r->head);
	assert_string_equal(v, want);
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

struct fixture {
	struct render_ctx ctx;
	struct http_server *srv;
	uint16_t port;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->ctx.body = BODY;
	f->ctx.body_len = strlen(BODY);
	f->port = free_port();
	f->srv = start_with("127.0.0.1", f->port, &f->ctx);
	if (!f->srv) {
		fprintf(stderr, "start: %s\n", strerror(errno));
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	http_server_stop(f->srv);
	free(f);
	return 0;
}

static void test_get_metrics(void **state)
{
	struct fixture *f = *state;
	char len[32];
	struct resp r;

	request(f->port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", CT_METRICS);
	snprintf(len, sizeof(len), "%zu", strlen(BODY));
	assert_header(&r, "Content-Length", len);
	assert_false(header(&r, "Content-Encoding", len, sizeof(len)));
	assert_string_equal(r.body, BODY);
	assert_int_equal(atomic_load(&f->ctx.calls), 1);
	resp_free(&r);

	/* The query string is not part of the path. */
	request(f->port, "GET", "/metrics?debug=1", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, BODY);
	resp_free(&r);
}

/* Prometheus reuses its connection: two scrapes over one socket. */
static void test_keep_alive(void **state)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct fixture *f = *state;
	char buf[4096], *hdr_end, want[64];
	size_t got = 0, need;
	struct resp r;
	int fd;

	fd = connect_to(AF_INET, f->port, 0);
	send_all(fd, req, sizeof(req) - 1);
	snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(BODY));
	for (;;) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

		assert_true(n > 0);
		got += (size_t)n;
		buf[got] = '\0';
		hdr_end = strstr(buf, "\r\n\r\n");
		if (hdr_end &&
		    got >= (size_t)(hdr_end + 4 - buf) + strlen(BODY))
			break;
	}
	assert_true(!strncmp(buf, "HTTP/1.1 200 ", 13));
	assert_non_null(strstr(buf, want));
	assert_null(strcasestr(buf, "Connection: close"));
	need = (size_t)(hdr_end + 4 - buf) + strlen(BODY);
	assert_int_equal(got, need);
	assert_string_equal(hdr_end + 4, BODY);

	send_all(
		fd,
		"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		strlen("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
	read_resp(fd, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, BODY);
	assert_int_equal(atomic_load(&f->ctx.calls), 2);
	resp_free(&r);
	close(fd);
}

/* A body on a GET is read and ignored, not answered twice. */
static void test_get_with_body(void **state)
{
	struct fixture *f = *state;
	struct resp r;

	request(f->port, "GET", "/metrics", "Content-Length: 5\r\n\r\nhello",
		&r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, BODY);
	assert_int_equal(atomic_load(&f->ctx.calls), 1);
	resp_free(&r);
}

static void test_head_metrics(void **state)
{
	struct fixture *f = *state;
	struct resp get, head;
	char a[64], b[64];

	request(f->port, "GET", "/metrics", NULL, &get);
	request(f->port, "HEAD", "/metrics", NULL, &head);
	assert_int_equal(head.status, 200);
	assert_int_equal(head.body_len, 0);
	assert_header(&head, "Content-Type", CT_METRICS);
	assert_true(header(&get, "Content-Length", a, sizeof(a)));
	assert_true(header(&head, "Content-Length", b, sizeof(b)));
	assert_string_equal(a, b);
	resp_free(&get);
	resp_free(&head);
}

static void test_method_not_allowed(void **state)
{
	static const char *const methods[] = {"POST", "PUT", "DELETE",
					      "OPTIONS", "PATCH"};
	struct fixture *f = *state;
	struct resp r;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		request(f->port, methods[i], "/metrics",
			"Content-Length: 5\r\n", &r);
		assert_int_equal(r.status, 405);
		assert_header(&r, "Allow", "GET, HEAD");
		resp_free(&r);
		request(f->port, methods[i], "/", NULL, &r);
		assert_int_equal(r.status, 405);
		assert_header(&r, "Allow", "GET, HEAD");
		resp_free(&r);
	}
	/* Rejected before rendering. */
	assert_int_equal(atomic_load(&f->ctx.calls), 0);
}

static void test_index_page(void **state)
{
	struct fixture *f = *state;
	struct resp r;

	request(f->port, "GET", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "text/html; charset=utf-8");
	assert_non_null(strstr(r.body, "<a href=\"/metrics\">"));
	resp_free(&r);
}

static void test_not_found(void **state)
{
	static const char *const paths[] = {"/nope", "/metrics/", "/Metrics",
					    "/metrics/x", "//metrics"};
	struct fixture *f = *state;
	struct resp r;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		request(f->port, "GET", paths[i], NULL, &r);
		assert_int_equal(r.status, 404);
		resp_free(&r);
	}
	assert_int_equal(atomic_load(&f->ctx.calls), 0);
}

static char *gunzip(const char *in, size_t len, size_t cap, size_t *out_len)
{
	z_stream zs = {0};
	char *out = malloc(cap + 1);

	assert_non_null(out);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = zs.total_out;
	out[zs.total_out] = '\0';
	inflateEnd(&zs);
	return out;
}

static void test_gzip(void **state)
{
	static const struct {
		const char *accept;
		bool gzip;
	} cases[] = {
		{"Accept-Encoding: gzip\r\n", true},
		{"Accept-Encoding: GZIP\r\n", true},
		{"Accept-Encoding: deflate, gzip;q=0.5\r\n", true},
		{"Accept-Encoding: gzip ; q=1.0, identity\r\n", true},
		{"Accept-Encoding: gzip;q=0\r\n", false},
		{"Accept-Encoding: gzip;q=0.000, br\r\n", false},
		{"Accept-Encoding: br, deflate\r\n", false},
		{"Accept-Encoding: xgzip\r\n", false},
		{"Accept-Encoding: identity\r\n", false},
		{NULL, false},
	};
	struct fixture *f = *state;
	char v[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp r;

		request(f->port, "GET", "/metrics", cases[i].accept, &r);
		assert_int_equal(r.status, 200);
		assert_header(&r, "Content-Type", CT_METRICS);
		assert_header(&r, "Vary", "Accept-Encoding");
		if (cases[i].gzip) {
			size_t n;
			char *plain;

			assert_header(&r, "Content-Encoding", "gzip");
			plain = gunzip(r.body, r.body_len, strlen(BODY), &n);
			assert_int_equal(n, strlen(BODY));
			assert_string_equal(plain, BODY);
			free(plain);
		} else {
			if (header(&r, "Content-Encoding", v, sizeof(v)))
				fail_msg("case %zu: unexpected encoding %s", i,
					 v);
			assert_string_equal(r.body, BODY);
		}
		resp_free(&r);
	}
}

/* A big, compressible body crosses several deflate output refills. */
static void test_gzip_large(void **state)
{
	struct fixture *f = *state;
	struct strbuf big = STRBUF_INIT;
	size_t n;
	char *plain;
	struct resp r;

	for (int i = 0; i < 100000; i++)
		assert_int_equal(
			strbuf_printf(
				&big,
				"ip_traffic_tx_bytes_total{remote_ip=\"10.0.%d.%d\"} %d\n",
				i / 256, i % 256, i * 7),
			0);
	f->ctx.body = big.buf;
	f->ctx.body_len = big.len;
	request(f->port, "GET", "/metrics", "Accept-Encoding: gzip\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Encoding", "gzip");
	assert_true(r.body_len < big.len / 4);
	plain = gunzip(r.body, r.body_len, big.len, &n);
	assert_int_equal(n, big.len);
	assert_memory_equal(plain, big.buf, n);
	free(plain);
	resp_free(&r);
	strbuf_free(&big);
}

static void test_render_error(void **state)
{
	struct fixture *f = *state;
	struct resp r;

	f->ctx.err = -EIO;
	request(f->port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 500);
	resp_free(&r);
	request(f->port, "GET", "/metrics", "Accept-Encoding: gzip\r\n", &r);
	assert_int_equal(r.status, 500);
	resp_free(&r);
	/* The error does not stick. */
	f->ctx.err = 0;
	request(f->port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, BODY);
	resp_free(&r);
}

static void test_address_in_use(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct render_ctx ctx = {.body = BODY};
	uint16_t port = free_port();
	int fd;

	/* Our own server already holds f->port. */
	errno = 0;
	assert_null(start_with("127.0.0.1", f->port, &ctx));
	assert_int_equal(errno, EADDRINUSE);
	errno = 0;
	assert_null(start_with(NULL, f->port, &ctx));
	assert_int_equal(errno, EADDRINUSE);

	/* And so does someone else's listener. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	errno = 0;
	assert_null(start_with("127.0.0.1", port, &ctx));
	assert_int_equal(errno, EADDRINUSE);
	close(fd);
}

static void test_bad_address(void **state)
{
	static const char *const bad[] = {
		"not-an-ip",	  "localhost",	"1.2.3.256",
		"1.2.3",	  "::g",	"[::1",
		"::1]",		  "1.2.3.4:80", "fe80::1%no_such_if0",
		"2001:db8::1::2",
	};
	struct render_ctx ctx = {.body = BODY};
	uint16_t port = free_port();

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_null(start_with(bad[i], port, &ctx));
		if (errno != EINVAL)
			fail_msg("%s: errno %d, want EINVAL", bad[i], errno);
	}
	errno = 0;
	assert_null(http_server_start("127.0.0.1", port, NULL));
	assert_int_equal(errno, EINVAL);
}

static void test_listen_forms(void **state)
{
	struct render_ctx ctx = {.body = BODY, .body_len = strlen(BODY)};
	bool v6 = have_ipv6_loopback();
	const char *addrs[] = {NULL, "", "::1", "[::1]", "0.0.0.0"};
	struct resp r;

	(void)state;
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		bool want4 = !addrs[i] || !*addrs[i] || addrs[i][0] == '0';
		bool want6 =
			v6 && (!addrs[i] || !*addrs[i] || addrs[i][0] != '0');
		uint16_t port = free_port();
		struct http_server *srv;

		if (!v6 && addrs[i] && strchr(addrs[i], ':'))
			continue;
		srv = start_with(addrs[i], port, &ctx);
		if (!srv)
			fail_msg("start on %s: %s",
				 addrs[i] ? addrs[i] : "(null)",
				 strerror(errno));
		if (want4) {
			request_on(AF_INET, port,
				   "GET /metrics HTTP/1.0\r\n\r\n", &r);
			assert_int_equal(r.status, 200);
			assert_string_equal(r.body, BODY);
			resp_free(&r);
		}
		if (want6) {
			request_on(AF_INET6, port,
				   "GET /metrics HTTP/1.0\r\n\r\n", &r);
			assert_int_equal(r.status, 200);
			assert_string_equal(r.body, BODY);
			resp_free(&r);
		}
		http_server_stop(srv);
	}
}

static void assert_good_scrape(uint16_t port)
{
	double t0 = monotonic_seconds();
	struct resp r;

	request(port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, BODY);
	/* Well inside the 10 s connection timeout: nobody waited on them. */
	assert_true(monotonic_seconds() - t0 < 2.0);
	resp_free(&r);
}

static void test_garbage_then_good(void **state)
{
#define J(s)                                                                   \
	{                                                                      \
		s, sizeof(s) - 1, true                                         \
	}
	static const struct {
		const char *s;
		size_t len;
		bool rejected;
	} junk[] = {
		J("\x00\x01\x02\x03garbage\r\n\r\n"),
		J("GARBAGE\r\n\r\n"),
		J("GET\r\n\r\n"),
		J("GET /metrics HTTP/9.9\r\n\r\n"),
		J("GET /metrics HTTP/1.1\r\nNo-Colon-Here\r\n\r\n"),
		J("GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
		/*
		 * A valid GET with a broken chunked body: answered from the
		 * headers alone (the body is never read), then closed.
		 */
		{"GET /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		 66, false},
		J("\r\n\r\n\r\n"),
	};
#undef J
	struct fixture *f = *state;
	struct resp r;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		struct timeval tv = {.tv_usec = 300000};
		int fd = connect_to(AF_INET, f->port, 0);

		send_all(fd, junk[i].s, junk[i].len);
		shutdown(fd, SHUT_WR);
		/* Others are served while this connection is still open. */
		assert_good_scrape(f->port);
		/* MHD may keep some of these until its 10 s timeout. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		read_resp(fd, &r);
		/* Refused or dropped, never a 200 or a crash. */
		if (junk[i].rejected && !r.closed_early && r.status < 400)
			fail_msg("junk %zu answered %d:\n%s", i, r.status,
				 r.head);
		resp_free(&r);
		close(fd);
		assert_good_scrape(f->port);
	}
}

static void test_oversized_headers(void **state)
{
	struct fixture *f = *state;
	struct strbuf req = STRBUF_INIT;
	struct resp r;
	int fd;

	assert_int_equal(
		strbuf_puts(&req, "GET /metrics HTTP/1.1\r\nHost: x\r\n"), 0);
	for (int i = 0; i < 4000; i++)
		assert_int_equal(
			strbuf_printf(&req, "X-Filler-%d: %064d\r\n", i, i), 0);
	assert_int_equal(strbuf_puts(&req, "\r\n"), 0);
	fd = connect_to(AF_INET, f->port, 0);
	send_all(fd, req.buf, req.len);
	read_resp(fd, &r);
	/* 431 Request Header Fields Too Large, or just a hang-up. */
	assert_true(r.closed_early || r.status == 431 || r.status == 413);
	resp_free(&r);
	close(fd);
	strbuf_free(&req);
	assert_good_scrape(f->port);
}

#define SLOW_REQ "GET /metrics HTTP/1.1\r\nHost: x\r\nX-a: "

/* Half-sent requests that never finish must not delay other scrapes. */
static void test_slowloris(void **state)
{
	struct fixture *f = *state;
	int fds[8];

	for (size_t i = 0; i < 8; i++) {
		fds[i] = connect_from(AF_INET, f->port, 0, "127.0.0.2");
		send_all(fds[i], SLOW_REQ, strlen(SLOW_REQ));
	}
	for (int i = 0; i < 3; i++)
		assert_good_scrape(f->port);
	for (size_t i = 0; i < 8; i++)
		close(fds[i]);
}

/* True when the server hung up on fd (EOF or reset) within timeout_ms. */
static bool hung_up(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/*
 * How many of fds end (FIN or reset) within timeout_ms, beside those
 * already marked in ended[]; returns as soon as one has, after a last
 * look at the others.  Nothing is read: a reader's stream would move.
 */
static size_t count_ended(const int *fds, bool *ended, size_t n, int timeout_ms)
{
	double t0 = monotonic_seconds();
	size_t count = 0, rounds_after = 0;

	while ((monotonic_seconds() - t0) * 1000 < timeout_ms &&
	       (!count || rounds_after++ < 3)) {
		for (size_t i = 0; i < n; i++) {
			struct pollfd p = {.fd = fds[i], .events = POLLRDHUP};

			if (ended[i] || poll(&p, 1, 30) <= 0)
				continue;
			if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) {
				ended[i] = true;
				count++;
			}
		}
	}
	return count;
}

/* One address gets at most 8 connections; the others are turned away. */
static void test_per_address_limit(void **state)
{
	struct fixture *f = *state;
	size_t kept = 0;
	int fds[12];

	for (size_t i = 0; i < 12; i++) {
		fds[i] = connect_from(AF_INET, f->port, 0, "127.0.0.3");
		send_all(fds[i], SLOW_REQ, strlen(SLOW_REQ));
	}
	for (size_t i = 0; i < 12; i++)
		kept += !hung_up(fds[i], 300);
	assert_int_equal(kept, 8);
	assert_good_scrape(f->port);
	for (size_t i = 0; i < 12; i++)
		close(fds[i]);
}

/*
 * More idle connections than the server keeps, from many addresses: the
 * oldest are shed for newcomers, and a scrape still gets through at once.
 */
static void test_global_limit_sheds_oldest(void **state)
{
	struct fixture *f = *state;
	enum { N = 400 };
	static int fds[N];
	size_t alive = 0;
	char src[32];

	for (size_t i = 0; i < N; i++) {
		snprintf(src, sizeof(src), "127.0.%zu.%zu", 10 + i / 200,
			 1 + i % 200);
		fds[i] = connect_from(AF_INET, f->port, 0, src);
		send_all(fds[i], SLOW_REQ, strlen(SLOW_REQ));
	}
	assert_good_scrape(f->port);
	/* The first ones went; the server holds no more than its limit. */
	assert_true(hung_up(fds[0], 2000));
	for (size_t i = 0; i < N; i++)
		alive += !hung_up(fds[i], 0);
	assert_true(alive <= 256);
	assert_true(alive >= 200);
	assert_false(hung_up(fds[N - 1], 0));
	for (size_t i = 0; i < N; i++)
		close(fds[i]);
}

/* A body cut by a source error ends the stream without its last chunk. */
static void test_stream_error(void **state)
{
	struct fixture *f = *state;
	size_t big_len = 1u << 20;
	char *big = malloc(big_len);
	struct resp r;

	assert_non_null(big);
	memset(big, '#', big_len);
	f->ctx.body = big;
	f->ctx.body_len = big_len;
	request(f->port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(r.chunked);
	assert_false(r.truncated);
	assert_int_equal(r.body_len, big_len);
	resp_free(&r);
	f->ctx.fail_at = big_len / 2;
	request(f->port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(r.truncated);
	resp_free(&r);
	f->ctx.fail_at = 0;
	f->ctx.body = BODY;
	f->ctx.body_len = strlen(BODY);
	assert_good_scrape(f->port);
	free(big);
}

#define GET_METRICS "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"

#define GET_CLOSE                                                              \
	"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

/* A request from a given loopback address, answered and closed. */
static void request_from(uint16_t port, const char *src, struct resp *r)
{
	int fd = connect_from(AF_INET, port, 0, src);

	send_all(fd, GET_CLOSE, strlen(GET_CLOSE));
	read_resp(fd, r);
	close(fd);
}

/* A stream of a huge body that is never read, to a tiny buffer. */
static int open_stream(struct fixture *f, const char *src)
{
	int calls = atomic_load(&f->ctx.calls), fd;
	double t0;

	fd = connect_from(AF_INET, f->port, 4096, src);
	send_all(fd, GET_METRICS, strlen(GET_METRICS));
	t0 = monotonic_seconds();
	while (atomic_load(&f->ctx.calls) == calls &&
	       monotonic_seconds() - t0 < 5)
		usleep(10000);
	assert_int_equal(atomic_load(&f->ctx.calls), calls + 1);
	return fd;
}

/* n such streams from 127.0.1.1.., then later snapshots are small. */
static void open_streams(struct fixture *f, int *fds, size_t n, char **big)
{
	size_t big_len = 64u << 20;
	char src[32];

	*big = malloc(big_len);
	assert_non_null(*big);
	memset(*big, '#', big_len);
	f->ctx.body = *big;
	f->ctx.body_len = big_len;
	for (size_t i = 0; i < n; i++) {
		snprintf(src, sizeof(src), "127.0.1.%zu", i + 1);
		fds[i] = open_stream(f, src);
	}
	assert_int_equal(atomic_load(&f->ctx.open_bodies), n);
	f->ctx.body = BODY;
	f->ctx.body_len = strlen(BODY);
}

static void close_streams(struct fixture *f, int *fds, size_t n, char *big)
{
	double t0;

	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	/* MHD notices the hang-ups on its next poll round. */
	t0 = monotonic_seconds();
	while (atomic_load(&f->ctx.open_bodies) && monotonic_seconds() - t0 < 5)
		usleep(20000);
	assert_int_equal(atomic_load(&f->ctx.open_bodies), 0);
	free(big);
}

/*
 * Clients that request a huge body and never read it hold the four
 * response slots.  Their streams stop moving once their buffers are
 * full: a reading scrape gets one of their slots (waiting for the stall
 * to show if it comes at once), and the next one does at once.  An
 * address holding a stalled stream gets a 503 without a snapshot; one
 * whose stream was preempted may take a free slot, but neither preempt
 * nor wait.  Every body is released when its client goes.
 */
static void test_stalled_streams_give_way(void **state)
{
	struct fixture *f = *state;
	bool ended[5] = {false};
	size_t gone = SIZE_MAX;
	char *big, src[32];
	struct resp r;
	int fds[5];
	double t0;

	open_streams(f, fds, 4, &big);

	request(f->port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, BODY);
	resp_free(&r);
	assert_int_equal(atomic_load(&f->ctx.calls), 5);
	assert_int_equal(count_ended(fds, ended, 4, 3000), 1);

	/* A slot is free, but not for an address holding a stalled one. */
	for (size_t i = 0; i < 4; i++) {
		if (ended[i]) {
			gone = i;
			continue;
		}
		snprintf(src, sizeof(src), "127.0.1.%zu", i + 1);
		request_from(f->port, src, &r);
		assert_int_equal(r.status, 503);
		resp_free(&r);
	}
	assert_int_equal(atomic_load(&f->ctx.calls), 5);

	/* All taken again; the preempted address is refused at once. */
	f->ctx.body = big;
	f->ctx.body_len = 64u << 20;
	fds[4] = open_stream(f, "127.0.1.9");
	f->ctx.body = BODY;
	f->ctx.body_len = strlen(BODY);
	snprintf(src, sizeof(src), "127.0.1.%zu", gone + 1);
	t0 = monotonic_seconds();
	request_from(f->port, src, &r);
	assert_int_equal(r.status, 503);
	assert_true(monotonic_seconds() - t0 < 1.0);
	resp_free(&r);
	assert_int_equal(atomic_load(&f->ctx.calls), 6);
	/* Other pages are not limited. */
	request(f->port, "GET", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);

	/* A reading scrape: a stalled stream gives way, not the new one. */
	assert_good_scrape(f->port);
	assert_int_equal(atomic_load(&f->ctx.calls), 7);
	assert_int_equal(count_ended(fds, ended, 5, 3000), 1);
	assert_false(ended[4]);

	close_streams(f, fds, 5, big);
}

struct readers {
	const int *fds;
	size_t n;
	atomic_bool stop;
};

/* Read every stream steadily: 64 KiB each every 20 ms. */
static void *read_steadily(void *p)
{
	struct readers *rd = p;
	char buf[65536];

	while (!atomic_load(&rd->stop)) {
		for (size_t i = 0; i < rd->n; i++)
			if (recv(rd->fds[i], buf, sizeof(buf), MSG_DONTWAIT) <
				    0 &&
			    errno != EAGAIN)
				return NULL;
		usleep(20000);
	}
	return NULL;
}

/* Four streams, all read steadily by a thread of their own. */
static void readers_start(struct fixture *f, struct readers *rd, int fds[4],
			  char **big, pthread_t *th)
{
	open_streams(f, fds, 4, big);
	rd->fds = fds;
	rd->n = 4;
	atomic_init(&rd->stop, false);
	assert_int_equal(pthread_create(th, NULL, read_steadily, rd), 0);
}

static void readers_stop(struct readers *rd, pthread_t th)
{
	atomic_store(&rd->stop, true);
	pthread_join(th, NULL);
}

/*
 * Four streams that all move: nothing is preempted, and a fifth scrape
 * waits for a slot, then gets its 503 when none came in time.
 */
static void test_moving_streams_keep_their_slots(void **state)
{
	struct fixture *f = *state;
	struct timeval tv = {.tv_sec = 15};
	struct readers rd;
	bool none[4] = {false};
	pthread_t th;
	double t0, waited;
	char *big;
	int fds[4], fd;
	struct resp r;

	readers_start(f, &rd, fds, &big, &th);
	/* Longer than connect_to()'s 5 s receive timeout: it waits 5 s. */
	fd = connect_to(AF_INET, f->port, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	t0 = monotonic_seconds();
	send_all(fd, GET_CLOSE, strlen(GET_CLOSE));
	read_resp(fd, &r);
	waited = monotonic_seconds() - t0;
	close(fd);
	readers_stop(&rd, th);
	assert_int_equal(r.status, 503);
	resp_free(&r);
	/* It was queued (for QUEUE_WAIT_S), not turned away at once. */
	assert_true(waited > 4.0);
	assert_int_equal(atomic_load(&f->ctx.calls), 4);
	assert_int_equal(count_ended(fds, none, 4, 500), 0);
	close_streams(f, fds, 4, big);
	assert_good_scrape(f->port);
}

/*
 * Stopping the server while a scrape waits for a slot: the waiter is
 * answered or cut, stop returns, and every body is released.
 */
static void test_stop_with_a_waiting_scrape(void **state)
{
	struct fixture *f = *state;
	struct readers rd;
	double t0 = 0;
	pthread_t th;
	char *big;
	int fds[4], fd;
	struct resp r;

	readers_start(f, &rd, fds, &big, &th);
	fd = connect_to(AF_INET, f->port, 0);
	send_all(fd, GET_METRICS, strlen(GET_METRICS));
	usleep(500 * 1000);
	/* Queued: nothing stalls, and no answer yet. */
	assert_int_equal(
		poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 0), 0);
	assert_int_equal(atomic_load(&f->ctx.calls), 4);
	t0 = monotonic_seconds();
	http_server_stop(f->srv);
	f->srv = NULL;
	assert_true(monotonic_seconds() - t0 < 2.0);
	readers_stop(&rd, th);
	read_resp(fd, &r);
	assert_true(r.closed_early || r.status == 503);
	resp_free(&r);
	close(fd);
	assert_int_equal(atomic_load(&f->ctx.calls), 4);
	close_streams(f, fds, 4, big);
}

static void test_stop_null(void **state)
{
	(void)state;
	http_server_stop(NULL);
	/* Stop really releases the port: a new server can take it. */
	for (int i = 0; i < 3; i++) {
		struct render_ctx ctx = {.body = BODY,
					 .body_len = strlen(BODY)};
		uint16_t port = free_port();
		struct http_server *a, *b;
		struct resp r;

		a = start_with("127.0.0.1", port, &ctx);
		assert_non_null(a);
		request(port, "GET", "/metrics", NULL, &r);
		assert_int_equal(r.status, 200);
		resp_free(&r);
		http_server_stop(a);
		b = start_with("127.0.0.1", port, &ctx);
		assert_non_null(b);
		http_server_stop(b);
	}
}

/*
 * --web.config.file without TLS: basic auth on every path (401 with a
 * challenge before anything else, no body source opened), the operator's
 * headers on every answer, a streamed one included.  The port is bound
 * first and served later, as with --user.
 */
static void test_basic_auth_and_headers(void **state)
{
	/* htpasswd -nbBC 4 prometheus secret */
	static const char yaml[] =
		"basic_auth_users:\n"
		"  prometheus: $2y$04$yiEAyw.4tcQmSqGo2gsj3.0QX8P6S699NWOEDINxwaYzx.S3EGHRS\n"
		"http_server_config:\n"
		"  headers:\n"
		"    X-Frame-Options: deny\n";
	struct render_ctx ctx = {.body = BODY, .body_len = strlen(BODY)};
	struct http_source src = source_of(&ctx);
	struct strbuf big = STRBUF_INIT;
	uint16_t port = free_port();
	struct web_config *web;
	struct http_server *srv;
	char err[256];
	struct resp r;
	int fd;

	(void)state;
	web = web_config_parse(yaml, strlen(yaml), NULL, err, sizeof(err));
	if (!web)
		fail_msg("%s", err);
	fd = http_listen("127.0.0.1", port);
	assert_true(fd >= 0);
	srv = http_server_start_fd(fd, web, &src);
	assert_non_null(srv);

	static const char *const refused[] = {
		NULL,
		"Authorization: Basic cHJvbWV0aGV1czp3cm9uZw==\r\n", /* :wrong
								      */
		"Authorization: Basic bm9ib2R5OnNlY3JldA==\r\n", /* nobody */
		"Authorization: Basic !!!\r\n",
		"Authorization: Bearer x\r\n",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		request(port, "GET", "/metrics", refused[i], &r);
		assert_int_equal(r.status, 401);
		assert_header(&r, "WWW-Authenticate",
			      "Basic realm=\"ip_traffic_monitor\"");
		assert_header(&r, "X-Frame-Options", "deny");
		assert_null(strstr(r.body, "x_total"));
		resp_free(&r);
	}
	/* Guarded before the path and method checks. */
	request(port, "POST", "/nowhere", NULL, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	assert_int_equal(atomic_load(&ctx.calls), 0);

	request(port, "GET", "/metrics",
		"Authorization: Basic cHJvbWV0aGV1czpzZWNyZXQ=\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, BODY);
	assert_header(&r, "X-Frame-Options", "deny");
	resp_free(&r);
	request(port, "GET", "/nowhere",
		"Authorization: Basic cHJvbWV0aGV1czpzZWNyZXQ=\r\n", &r);
	assert_int_equal(r.status, 404);
	assert_header(&r, "X-Frame-Options", "deny");
	resp_free(&r);

	/* A body of many blocks goes out streamed (chunked), headers and all.
	 */
	for (int i = 0; i < 20000; i++)
		assert_int_equal(
			strbuf_printf(
				&big,
				"ip_traffic_tx_bytes_total{remote_ip=\"10.0.%d.%d\"} %d\n",
				i / 256, i % 256, i * 7),
			0);
	ctx.body = big.buf;
	ctx.body_len = big.len;
	atomic_store(&ctx.calls, 0);
	request(port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_int_equal(atomic_load(&ctx.calls), 0);
	resp_free(&r);
	request(port, "GET", "/metrics",
		"Authorization: Basic cHJvbWV0aGV1czpzZWNyZXQ=\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_true(r.chunked);
	assert_false(r.truncated);
	assert_int_equal(r.body_len, big.len);
	assert_memory_equal(r.body, big.buf, big.len);
	assert_header(&r, "X-Frame-Options", "deny");
	resp_free(&r);

	http_server_stop(srv);
	web_config_free(web);
	strbuf_free(&big);
	/* A failed start still takes the descriptor. */
	assert_null(http_server_start_fd(-1, NULL, &src));
	assert_int_equal(errno, EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_get_metrics),
		T(test_keep_alive),
		T(test_get_with_body),
		T(test_head_metrics),
		T(test_method_not_allowed),
		T(test_index_page),
		T(test_not_found),
		T(test_gzip),
		T(test_gzip_large),
		T(test_render_error),
		T(test_address_in_use),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_listen_forms),
		T(test_garbage_then_good),
		T(test_oversized_headers),
		T(test_slowloris),
		T(test_per_address_limit),
		T(test_global_limit_sheds_oldest),
		T(test_stream_error),
		T(test_stalled_streams_give_way),
		T(test_moving_streams_keep_their_slots),
		T(test_stop_with_a_waiting_scrape),
		cmocka_unit_test(test_stop_null),
		cmocka_unit_test(test_basic_auth_and_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

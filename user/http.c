// SPDX-License-Identifier: MIT
/*
 * libmicrohttpd in external-epoll mode, driven by our own thread so that
 * the same thread can enforce what MHD cannot: absolute deadlines, and a
 * connection table that sheds the oldest idle connection when full.  We
 * create the listening socket ourselves so that the caller gets the real
 * bind() errno.  /metrics bodies are streamed from a snapshot (callback
 * responses), so a slow reader pins a bounded amount of memory.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <zlib.h>

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

/*
 * Connections we keep; past this the oldest one that is not in the middle
 * of a request is closed for the newcomer, so idle or dripping clients
 * cannot lock a scraper out.  MHD's own limit leaves room for the ones
 * being shed.
 */
#define CONN_LIMIT     256
#define MHD_CONN_LIMIT (2 * CONN_LIMIT)
/* Per client address (IPv6: per /64, what one host usually gets). */
#define PER_ADDR_LIMIT 8
/* Inactivity (MHD) and absolute deadlines (ours), in seconds. */
#define CONN_TIMEOUT_S	    10
#define HEADER_DEADLINE_S   10
#define RESPONSE_DEADLINE_S 60
#define CONN_MEMORY_LIMIT   (32 * 1024)
#define LISTEN_BACKLOG	    4096
/* Longest wait of our loop, for deadlines and stop requests. */
#define TICK_MS 200
/*
 * Responses in progress, each holding a snapshot (and zlib state); when
 * all are taken, the oldest one older than PREEMPT_AFTER_S gives way, so
 * clients that never read cannot keep a real scraper out for long.
 */
#define MAX_METRICS_IN_FLIGHT 4
#define PER_ADDR_IN_FLIGHT    2
#define PREEMPT_AFTER_S	      2
/* Body pieces: what one read from the source and one MHD write move. */
#define BLOCK_SIZE (64 * 1024)

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define ALLOW	   "GET, HEAD"

static const char index_html[] =
	"<!DOCTYPE html>\n"
	"<html><head><meta charset=\"utf-8\">"
	"<title>ip_traffic_monitor_cli</title></head>\n"
	"<body><h1>ip_traffic_monitor_cli</h1>\n"
	"<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

enum conn_state {
	CONN_WAITING,  /* for (the rest of) a request's header */
	CONN_HANDLING, /* request complete, answering */
};

/* One client connection, in accept order; touched only by our thread. */
struct conn {
	struct conn *prev, *next;
	struct MHD_Connection *mhd;
	int fd;
	uint8_t key[16]; /* client address, IPv6 cut to its /64 */
	enum conn_state state;
	double since;	/* start of the current state */
	bool in_flight; /* holds one of the /metrics slots */
	bool shed;	/* shut down by us; MHD closes it soon */
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_source src;
	pthread_t thread;
	bool thread_started;
	int stop_fd; /* eventfd: wakes our loop to stop */
	atomic_bool stop;
	struct conn *head, *tail;
	size_t n_conns; /* not counting shed ones */
	size_t n_in_flight;
	struct http_stats stats;
};

/* *con_cls marker: headers seen (the response is chosen on the next call). */
static char headers_mark;

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void addr_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr,
		       4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			memcpy(key, a, 16);
		else
			memcpy(key, a, 8);
	}
}

/* Close a connection under MHD's feet: it sees the hang-up and cleans up. */
static void shed(struct http_server *srv, struct conn *c)
{
	if (c->shed)
		return;
	c->shed = true;
	shutdown(c->fd, SHUT_RDWR);
	srv->n_conns--;
	if (c->in_flight)
		srv->n_in_flight--;
}

static mhd_result accept_policy(void *cls, const struct sockaddr *sa,
				socklen_t sl)
{
	struct http_server *srv = cls;
	struct conn *oldest_idle = NULL;
	size_t same = 0;
	uint8_t key[16];

	(void)sl;
	addr_key(sa, key);
	for (struct conn *c = srv->head; c; c = c->next) {
		if (c->shed)
			continue;
		if (!memcmp(c->key, key, 16))
			same++;
		if (!oldest_idle && c->state == CONN_WAITING)
			oldest_idle = c;
	}
	if (same >= PER_ADDR_LIMIT) {
		srv->stats.refused++;
		return MHD_NO;
	}
	if (srv->n_conns >= CONN_LIMIT) {
		if (!oldest_idle) {
			srv->stats.refused++;
			return MHD_NO;
		}
		shed(srv, oldest_idle);
		srv->stats.shed++;
	}
	return MHD_YES;
}

static void notify_connection(void *cls, struct MHD_Connection *mc,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	struct conn *c = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return; /* untracked: MHD's own limits still apply */
		c->mhd = mc;
		ci = MHD_get_connection_info(mc,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = ci ? ci->connect_fd : -1;
		ci = MHD_get_connection_info(
			mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr)
			addr_key(ci->client_addr, c->key);
		c->state = CONN_WAITING;
		c->since = mono_now();
		c->prev = srv->tail;
		if (srv->tail)
			srv->tail->next = c;
		else
			srv->head = c;
		srv->tail = c;
		srv->n_conns++;
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	if (!c->shed) {
		srv->n_conns--;
		if (c->in_flight)
			srv->n_in_flight--;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		srv->tail = c->prev;
	free(c);
	*socket_context = NULL;
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Absolute deadlines: a client that drips a byte at a time still ends. */
static void sweep(struct http_server *srv)
{
	double now = mono_now();

	for (struct conn *c = srv->head; c; c = c->next) {
		double limit = c->state == CONN_WAITING ? HEADER_DEADLINE_S
							: RESPONSE_DEADLINE_S;

		if (!c->shed && now - c->since > limit) {
			shed(srv, c);
			srv->stats.deadline++;
		}
	}
}

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

static mhd_result reply(struct MHD_Connection *conn, unsigned int status,
			struct MHD_Response *resp)
{
	mhd_result ret;

	if (!resp)
		return MHD_NO; /* out of memory: MHD drops the connection */
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

/* True when an Accept-Encoding value lists gzip with a non-zero q. */
bool http_accepts_gzip(const char *p)
{
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
 * One response body on its way out: pieces from the source, deflated on
 * the fly when the client asked for gzip.  Level 1: metrics text is so
 * repetitive that it still shrinks ~10x at a fraction of level 6's cost.
 */
struct body {
	struct http_server *srv;
	void *src_body;
	bool gzip, zinit;
	bool src_done; /* the source said end */
	bool done;     /* everything is in out */
	z_stream zs;
	struct strbuf raw; /* gzip: source bytes not yet deflated */
	struct strbuf out; /* bytes for the client */
	size_t out_off;
};

static void body_free(struct body *b)
{
	if (!b)
		return;
	if (b->src_body)
		b->srv->src.close(b->src_body);
	if (b->zinit)
		deflateEnd(&b->zs);
	strbuf_free(&b->raw);
	strbuf_free(&b->out);
	free(b);
}

/* Append about BLOCK_SIZE bytes for the client to b->out; 0 or -errno. */
static int body_fill(struct body *b)
{
	const struct http_source *src = &b->srv->src;
	size_t goal = b->out.len + BLOCK_SIZE;
	int r;

	if (!b->gzip) {
		r = src->read(b->src_body, &b->out, BLOCK_SIZE);
		if (r < 0)
			return r;
		b->done = b->src_done = r == 0;
		return 0;
	}
	while (!b->done && b->out.len < goal) {
		int flush, zerr;
		size_t room;

		if (!b->zs.avail_in && !b->src_done) {
			strbuf_reset(&b->raw);
			r = src->read(b->src_body, &b->raw, BLOCK_SIZE);
			if (r < 0)
				return r;
			b->src_done = r == 0;
			b->zs.next_in = (Bytef *)b->raw.buf;
			b->zs.avail_in = (uInt)b->raw.len;
		}
		r = strbuf_reserve(&b->out, 16384);
		if (r)
			return r;
		room = b->out.cap - b->out.len - 1;
		b->zs.next_out = (Bytef *)b->out.buf + b->out.len;
		b->zs.avail_out = (uInt)room;
		flush = b->src_done ? Z_FINISH : Z_NO_FLUSH;
		zerr = deflate(&b->zs, flush);
		b->out.len += room - b->zs.avail_out;
		b->out.buf[b->out.len] = '\0';
		if (zerr == Z_STREAM_END)
			b->done = true;
		else if (zerr != Z_OK && zerr != Z_BUF_ERROR)
			return -EIO;
	}
	return 0;
}

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct body *b = cls;
	size_t n;

	(void)pos;
	while (b->out_off == b->out.len) {
		if (b->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		strbuf_reset(&b->out);
		b->out_off = 0;
		if (body_fill(b))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = b->out.len - b->out_off;
	if (n > max)
		n = max;
	memcpy(buf, b->out.buf + b->out_off, n);
	b->out_off += n;
	return (ssize_t)n;
}

static void body_release(void *cls)
{
	body_free(cls);
}

static mhd_result reply_error(struct MHD_Connection *conn, unsigned int status,
			      const char *msg)
{
	return reply_static(conn, status, "text/plain; charset=utf-8", msg,
			    false);
}

/* Make room for one more response, preempting the oldest if allowed. */
static bool take_slot(struct http_server *srv, struct conn *self)
{
	struct conn *oldest = NULL;
	size_t same = 0;

	for (struct conn *c = srv->head; c; c = c->next) {
		if (c->shed || !c->in_flight)
			continue;
		if (self && !memcmp(c->key, self->key, 16))
			same++;
		if (!oldest || c->since < oldest->since)
			oldest = c;
	}
	if (same >= PER_ADDR_IN_FLIGHT)
		return false;
	if (srv->n_in_flight >= MAX_METRICS_IN_FLIGHT) {
		if (!self || !oldest ||
		    mono_now() - oldest->since < PREEMPT_AFTER_S)
			return false;
		shed(srv, oldest);
		srv->stats.preempted++;
	}
	if (self) {
		self->in_flight = true;
		srv->n_in_flight++;
	}
	return true;
}

static mhd_result serve_metrics(struct http_server *srv,
				struct MHD_Connection *conn)
{
	struct conn *self = conn_of(conn);
	struct MHD_Response *resp;
	struct body *b;
	bool gzip;
	int err;

	if (!take_slot(srv, self))
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "Too many concurrent scrapes\n");
	b = calloc(1, sizeof(*b));
	if (!b)
		return MHD_NO;
	b->srv = srv;
	gzip = http_accepts_gzip(MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	b->gzip = gzip;
	if (gzip) {
		if (deflateInit2(&b->zs, 1, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK) {
			free(b);
			return MHD_NO;
		}
		b->zinit = true;
	}
	b->src_body = srv->src.open(srv->src.ctx);
	if (!b->src_body) {
		body_free(b);
		return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "Failed to render metrics\n");
	}
	/*
	 * A body that fits in one block goes out whole, with a
	 * Content-Length; a bigger one is streamed (chunked, or until close
	 * for HTTP/1.0) from what the first block left.
	 */
	err = body_fill(b);
	if (err) {
		body_free(b);
		return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "Failed to render metrics\n");
	}
	if (b->done) {
		size_t len;
		char *buf = strbuf_detach(&b->out, &len);

		body_free(b);
		if (!buf)
			buf = strdup("");
		if (!buf)
			return MHD_NO;
		resp = MHD_create_response_from_buffer(len, buf,
						       MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(buf);
			return MHD_NO;
		}
	} else {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
							 BLOCK_SIZE, body_read,
							 b, body_release);
		if (!resp) {
			body_free(b);
			return MHD_NO;
		}
	}
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

static mhd_result handle(void *cls, struct MHD_Connection *conn,
			 const char *url, const char *method,
			 const char *version, const char *upload_data,
			 size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	bool is_metrics = !strcmp(url, "/metrics");
	struct conn *self;

	(void)version;
	(void)upload_data;

	if (!*con_cls) {
		self = conn_of(conn);
		if (self) {
			self->state = CONN_HANDLING;
			self->since = mono_now();
		}
	}
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
	return serve_metrics(srv, conn);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
			      void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct conn *self = conn_of(conn);

	(void)toe;
	*con_cls = NULL;
	if (!self)
		return;
	if (self->in_flight) {
		self->in_flight = false;
		if (!self->shed)
			srv->n_in_flight--;
	}
	/* Keep-alive: waiting for the next request from now on. */
	self->state = CONN_WAITING;
	self->since = mono_now();
}

static void *serve_loop(void *arg)
{
	struct http_server *srv = arg;
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	struct pollfd pfd[2] = {
		{.fd = di ? di->epoll_fd : -1, .events = POLLIN},
		{.fd = srv->stop_fd, .events = POLLIN},
	};

	while (!atomic_load(&srv->stop)) {
		MHD_UNSIGNED_LONG_LONG mhd_ms;
		int wait = TICK_MS;

		if (MHD_get_timeout(srv->daemon, &mhd_ms) == MHD_YES &&
		    mhd_ms < (MHD_UNSIGNED_LONG_LONG)wait)
			wait = (int)mhd_ms;
		poll(pfd, 2, wait);
		MHD_run(srv->daemon);
		sweep(srv);
	}
	return NULL;
}

/* Enough descriptors for every connection we may hold, if allowed. */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = MHD_CONN_LIMIT + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

struct http_server *http_server_start(const char *listen_addr, uint16_t port,
				      const struct http_source *src)
{
	struct http_server *srv;
	int fd, err;

	if (!src || !src->open || !src->read || !src->close) {
		errno = EINVAL;
		return NULL;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES) {
		errno = ENOTSUP;
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->src = *src;
	atomic_init(&srv->stop, false);
	raise_nofile();

	srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->stop_fd < 0) {
		err = errno;
		goto err_free;
	}
	fd = open_listener(listen_addr, port);
	if (fd < 0) {
		err = -fd;
		goto err_stop_fd;
	}

	errno = 0;
	srv->daemon = MHD_start_daemon(
		MHD_USE_EPOLL, 0, accept_policy, srv, handle, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MHD_CONN_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
		MHD_OPTION_END);
	if (!srv->daemon) {
		err = errno ? errno : EIO;
		goto err_close;
	}
	err = pthread_create(&srv->thread, NULL, serve_loop, srv);
	if (err) {
		MHD_stop_daemon(srv->daemon); /* closes fd */
		goto err_stop_fd;
	}
	srv->thread_started = true;
	return srv;

err_close:
	/*
	 * MHD closes a socket it was given on most failure paths; close it
	 * only if it is still ours.
	 */
	if (fcntl(fd, F_GETFD) >= 0)
		close(fd);
err_stop_fd:
	close(srv->stop_fd);
err_free:
	free(srv);
	errno = err;
	return NULL;
}

void http_server_get_stats(struct http_server *srv, struct http_stats *out)
{
	/* Plain counters written by one thread; a torn read is harmless. */
	*out = srv->stats;
}

void http_server_stop(struct http_server *srv)
{
	uint64_t one = 1;

	if (!srv)
		return;
	atomic_store(&srv->stop, true);
	if (write(srv->stop_fd, &one, sizeof(one)) < 0) {
		/* The loop still sees the flag within one tick. */
	}
	if (srv->thread_started)
		pthread_join(srv->thread, NULL);
	/* Also closes the listening socket we handed over. */
	MHD_stop_daemon(srv->daemon);
	close(srv->stop_fd);
	free(srv);
}

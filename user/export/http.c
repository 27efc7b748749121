// SPDX-License-Identifier: MIT
/*
 * libmicrohttpd in external-epoll mode, driven by our own thread so that
 * the same thread can enforce what MHD cannot: absolute deadlines, and a
 * connection table that sheds the oldest idle connection when full.  We
 * create the listening socket ourselves so that the caller gets the real
 * bind() errno.  /metrics bodies are streamed from a snapshot (callback
 * responses), so a slow reader pins a bounded amount of memory.
 *
 * --web.config.file adds, as Prometheus' exporter-toolkit does: TLS through
 * MHD's GnuTLS (client certificates checked by the handshake itself),
 * basic auth on every path before anything else is looked at, and the
 * operator's headers on every answer, streamed ones included.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <zlib.h>

#include "webconfig.h"

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
/*
 * Each connection's buffers.  MHD mallocs a pool of up to 32 KiB; the
 * pools of the kept connections become resident as connections come and
 * go (~10 MiB for 256).  A bigger pool would be mapped per connection and
 * its pages returned at close, but the munmap of every closed connection
 * took 4x the CPU under a flood of connections.
 */
#define CONN_MEMORY_LIMIT (32 * 1024)
#define LISTEN_BACKLOG	  4096
/* Longest wait of our loop, for deadlines and stop requests. */
#define TICK_MS 200
/*
 * Responses in progress, each holding a snapshot (and zlib state).  A
 * response whose body has not moved for STALL_S has a client that does
 * not read (its socket buffers are full); when all slots are taken, the
 * one stalled longest gives way at once, from the address holding the
 * most slots first.  An address seen stalling is marked for STRIKE_S: it
 * still gets a free slot, but may neither preempt nor wait, so clients
 * that never read cost a 503 each, not a snapshot and a render.  Other
 * scrapes wait (suspended) up to QUEUE_WAIT_S for a slot, those from an
 * address that read a whole response within TRUST_S first.
 */
#define MAX_METRICS_IN_FLIGHT 4
#define PER_ADDR_IN_FLIGHT    2
#define STALL_S		      0.5
#define STRIKE_S	      60.0
#define TRUST_S		      600.0
#define MAX_WAITING	      16
#define QUEUE_WAIT_S	      5.0
/* How often the loop looks at the queue while someone waits. */
#define QUEUE_TICK_MS 20
/* Addresses remembered for the above (struck or trusted). */
#define PEER_SLOTS 256
/* Body pieces: what one read from the source and one MHD write move. */
#define BLOCK_SIZE (64 * 1024)

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define ALLOW	   "GET, HEAD"

/* The index page, around the metrics path (HTML-escaped). */
static const char index_head[] =
	"<!DOCTYPE html>\n"
	"<html><head><meta charset=\"utf-8\">"
	"<title>ip_traffic_monitor_cli</title></head>\n"
	"<body><h1>ip_traffic_monitor_cli</h1>\n"
	"<p><a href=\"";
static const char index_tail[] = "\">Metrics</a></p></body></html>\n";

enum conn_state {
	CONN_WAITING,  /* for (the rest of) a request's header */
	CONN_HANDLING, /* request complete, answering */
};

/*
 * One client connection, in accept order, as MHD's socket context (set by
 * notify_connection); touched only by our thread.
 */
struct conn {
	struct conn *prev, *next;
	struct MHD_Connection *mhd;
	int fd;
	uint8_t key[16]; /* client address, IPv6 cut to its /64 */
	enum conn_state state;
	double since;	   /* start of the current state */
	bool in_flight;	   /* holds one of the /metrics slots */
	bool shed;	   /* shut down by us; MHD closes it soon */
	bool waiting;	   /* suspended in the queue for a slot */
	bool wait_expired; /* resumed without a slot: answer 503 */
	double queued_at;  /* waiting since */
	double progress;   /* in flight: when its body last moved */
	int outq;	   /* in flight: bytes the client has not acked */
	struct body *body; /* in flight and streamed */
};

/* What an address did lately: the queue's and preemption's memory. */
struct peer {
	uint8_t key[16];
	double seen;	   /* last update; 0: free entry */
	double stalled_at; /* last seen with a stalled response; 0: not */
	double served_at;  /* last read a whole response; 0: never */
};

/*
 * One response body on its way out: pieces from the source, deflated on
 * the fly when the client asked for gzip.  Level 1: metrics text is so
 * repetitive that it still shrinks ~10x at a fraction of level 6's cost.
 */
struct body {
	struct http_server *srv;
	struct conn *conn; /* whose progress it marks; NULL once gone */
	void *src_body;
	bool gzip, zinit;
	bool src_done; /* the source said end */
	bool done;     /* everything is in out */
	z_stream zs;
	struct strbuf raw; /* gzip: source bytes not yet deflated */
	struct strbuf out; /* bytes for the client */
	size_t out_off;
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_source src;
	struct web_config *web; /* --web.config.file; NULL: plain, open */
	pthread_t thread;
	bool thread_started;
	int stop_fd; /* eventfd: wakes our loop to stop */
	atomic_bool stop;
	struct conn *head, *tail;
	size_t n_conns; /* not counting shed ones */
	size_t n_in_flight;
	struct conn *waiters[MAX_WAITING]; /* in arrival order */
	size_t n_waiting;
	bool resumed; /* some were: MHD handles them in its next run */
	struct peer peers[PEER_SLOTS];
	struct http_stats stats;
	const char *path; /* of the metrics */
	char *index_html; /* "/": a link to path */
	size_t max_in_flight;
	bool promhttp; /* --web.max-requests: no queue, no preemption */
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

static void dequeue(struct http_server *srv, struct conn *c)
{
	size_t i = 0;

	while (i < srv->n_waiting && srv->waiters[i] != c)
		i++;
	if (i == srv->n_waiting)
		return;
	memmove(&srv->waiters[i], &srv->waiters[i + 1],
		(srv->n_waiting - i - 1) * sizeof(srv->waiters[0]));
	srv->n_waiting--;
	c->waiting = false;
}

/*
 * Hand a waiting request back to MHD, which calls the handler again: to
 * be served in the slot it was given, or to get its 503.
 */
static void resume(struct http_server *srv, struct conn *c, bool granted)
{
	dequeue(srv, c);
	c->wait_expired = !granted;
	MHD_resume_connection(c->mhd);
	srv->resumed = true;
}

/* Close a connection under MHD's feet: it sees the hang-up and cleans up. */
static void shed(struct http_server *srv, struct conn *c)
{
	static const struct linger abort_close = {.l_onoff = 1};

	if (c->shed)
		return;
	c->shed = true;
	/*
	 * A response cut short may leave megabytes the client never took in
	 * the socket; a FIN would wait behind them, and the kernel would
	 * keep them for minutes.  Reset instead when MHD closes it.
	 */
	if (c->in_flight)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abort_close,
			   sizeof(abort_close));
	shutdown(c->fd, SHUT_RDWR);
	srv->n_conns--;
	if (c->in_flight)
		srv->n_in_flight--;
	/* MHD does not watch a suspended connection: wake it to close. */
	if (c->waiting)
		resume(srv, c, false);
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

/*
 * Under TLS, tighten what MHD set up for a new connection.  MHD requests a
 * client certificate whenever it has a trust list but never requires or
 * verifies one; the session exists already and the handshake has not
 * started, so the handshake itself refuses a client without an acceptable
 * certificate, as Go's crypto/tls does for exporter-toolkit.
 */
static int tls_session_setup(const struct web_config *web,
			     struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t session;

	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return -EPROTO;
	session = ci->tls_session;
	switch (web->client_auth) {
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
	return 0;
}

static void notify_connection(void *cls, struct MHD_Connection *mc,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	struct conn *c = *socket_context;
	const union MHD_ConnectionInfo *ci;
	int fd;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(mc,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		fd = ci ? ci->connect_fd : -1;
		/*
		 * First, and whether or not we can track it: a session we
		 * cannot set up as configured is hung up on, never served.
		 */
		if (srv->web && srv->web->tls &&
		    tls_session_setup(srv->web, mc)) {
			if (fd >= 0)
				shutdown(fd, SHUT_RDWR);
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c)
			return; /* untracked: MHD's own limits still apply */
		c->mhd = mc;
		c->fd = fd;
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
	if (c->waiting)
		dequeue(srv, c);
	if (c->body)
		c->body->conn = NULL;
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
static int add_web_headers(const struct http_server *srv,
			   struct MHD_Response *resp)
{
	for (size_t i = 0; srv->web && i < srv->web->n_headers; i++)
		if (MHD_add_response_header(resp, srv->web->headers[i].key,
					    srv->web->headers[i].value) !=
		    MHD_YES)
			return -ENOMEM;
	return 0;
}

/* Every answer goes out here (a streamed body is only attached to it). */
static mhd_result reply(const struct http_server *srv,
			struct MHD_Connection *conn, unsigned int status,
			struct MHD_Response *resp)
{
	mhd_result ret;

	if (!resp)
		return MHD_NO; /* out of memory: MHD drops the connection */
	if (add_web_headers(srv, resp)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static mhd_result reply_static(const struct http_server *srv,
			       struct MHD_Connection *conn, unsigned int status,
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
	return reply(srv, conn, status, resp);
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

static void body_free(struct body *b)
{
	if (!b)
		return;
	if (b->conn)
		b->conn->body = NULL;
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
	/* MHD asks for more only once the socket took what it had. */
	if (b->conn)
		b->conn->progress = mono_now();
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

static mhd_result reply_error(const struct http_server *srv,
			      struct MHD_Connection *conn, unsigned int status,
			      const char *msg)
{
	return reply_static(srv, conn, status, "text/plain; charset=utf-8", msg,
			    false);
}

/* Reuse order: a free entry first, then the stalest, trust counting. */
static double peer_worth(const struct peer *p)
{
	if (!p->seen)
		return -1;
	return p->seen + (p->served_at ? TRUST_S : 0);
}

/* The entry of key, or NULL; with add, a new or the least useful one. */
static struct peer *peer_get(struct http_server *srv, const uint8_t key[16],
			     double now, bool add)
{
	struct peer *p, *reuse = srv->peers;

	for (p = srv->peers; p < srv->peers + PEER_SLOTS; p++) {
		if (p->seen && !memcmp(p->key, key, 16))
			return p;
		if (peer_worth(p) < peer_worth(reuse))
			reuse = p;
	}
	if (!add)
		return NULL;
	memset(reuse, 0, sizeof(*reuse));
	memcpy(reuse->key, key, 16);
	reuse->seen = now;
	return reuse;
}

static void peer_stalled(struct http_server *srv, const uint8_t key[16],
			 double now)
{
	struct peer *p = peer_get(srv, key, now, true);

	p->stalled_at = p->seen = now;
}

/* A whole response read: whatever it did before, this one reads. */
static void peer_served(struct http_server *srv, const uint8_t key[16],
			double now)
{
	struct peer *p = peer_get(srv, key, now, true);

	p->served_at = p->seen = now;
	p->stalled_at = 0;
}

static bool peer_struck(struct http_server *srv, const uint8_t key[16],
			double now)
{
	struct peer *p = peer_get(srv, key, now, false);

	return p && p->stalled_at && now - p->stalled_at < STRIKE_S;
}

static bool peer_trusted(struct http_server *srv, const uint8_t key[16],
			 double now)
{
	struct peer *p = peer_get(srv, key, now, false);

	return p && p->served_at && now - p->served_at < TRUST_S;
}

/*
 * A response moves when MHD takes more of its body (body_read), or when
 * the client acknowledges what the socket holds.  MHD asks for more only
 * once half the send buffer is free, megabytes on a fast link: a steady
 * reader can go a while between two body_read calls, not between acks.
 */
static void note_progress(struct conn *c, double now)
{
	int q;

	if (ioctl(c->fd, SIOCOUTQ, &q))
		return;
	if (q < c->outq)
		c->progress = now;
	c->outq = q;
}

static bool stalled(struct conn *c, double now)
{
	if (!c->in_flight || c->shed)
		return false;
	note_progress(c, now);
	return now - c->progress >= STALL_S;
}

/* Whether key holds a stalled response (and is marked for it). */
static bool holds_stalled(struct http_server *srv, const uint8_t key[16],
			  double now)
{
	for (struct conn *c = srv->head; c; c = c->next)
		if (!memcmp(c->key, key, 16) && stalled(c, now)) {
			peer_stalled(srv, key, now);
			return true;
		}
	return false;
}

/*
 * The response to give way: stalled, from the address that holds the
 * most slots, stalled longest among those; NULL if every one moves.
 */
static struct conn *pick_victim(struct http_server *srv, double now)
{
	/* Only without --web.max-requests: max_in_flight is ours then. */
	struct conn *held[MAX_METRICS_IN_FLIGHT], *best = NULL;
	size_t n = 0, best_same = 0;

	for (struct conn *c = srv->head; c && n < MAX_METRICS_IN_FLIGHT;
	     c = c->next)
		if (c->in_flight && !c->shed)
			held[n++] = c;
	for (size_t i = 0; i < n; i++) {
		size_t same = 0;

		if (!stalled(held[i], now))
			continue;
		for (size_t j = 0; j < n; j++)
			same += !memcmp(held[i]->key, held[j]->key, 16);
		if (!best || same > best_same ||
		    (same == best_same && held[i]->progress < best->progress)) {
			best = held[i];
			best_same = same;
		}
	}
	return best;
}

static void grant(struct http_server *srv, struct conn *c, double now)
{
	c->in_flight = true;
	c->progress = now;
	c->outq = 0;
	srv->n_in_flight++;
}

/* Take a stalled response's slot for c. */
static bool preempt_for(struct http_server *srv, struct conn *c, double now)
{
	struct conn *victim = pick_victim(srv, now);

	if (!victim)
		return false;
	peer_stalled(srv, victim->key, now);
	shed(srv, victim);
	srv->stats.preempted++;
	grant(srv, c, now);
	return true;
}

/*
 * A place in the queue: one per address, and when it is full a trusted
 * address takes the place of the newest untrusted waiter.
 */
static bool enqueue(struct http_server *srv, struct conn *self, double now)
{
	for (size_t i = 0; i < srv->n_waiting; i++)
		if (!memcmp(srv->waiters[i]->key, self->key, 16))
			return false;
	if (srv->n_waiting == MAX_WAITING) {
		size_t i = srv->n_waiting;

		if (!peer_trusted(srv, self->key, now))
			return false;
		while (i-- > 0)
			if (!peer_trusted(srv, srv->waiters[i]->key, now))
				break;
		if (i == SIZE_MAX)
			return false;
		resume(srv, srv->waiters[i], false);
	}
	srv->waiters[srv->n_waiting++] = self;
	self->waiting = true;
	self->queued_at = now;
	return true;
}

enum slot {
	SLOT_TAKEN,
	SLOT_WAIT, /* queued: suspend the request */
	SLOT_BUSY, /* 503 */
};

/* A slot for one more response, now or later. */
static enum slot take_slot(struct http_server *srv, struct conn *self)
{
	double now = mono_now();
	bool struck;
	size_t same = 0;

	/* Untracked (out of memory): a free slot or nothing. */
	if (!self)
		return srv->n_in_flight < srv->max_in_flight ? SLOT_TAKEN
							     : SLOT_BUSY;
	/* Never a second slot beside a stalled one. */
	if (holds_stalled(srv, self->key, now))
		return SLOT_BUSY;
	/* promhttp's MaxRequestsInFlight: a free slot or 503, nothing else. */
	if (srv->promhttp) {
		if (srv->n_in_flight >= srv->max_in_flight)
			return SLOT_BUSY;
		grant(srv, self, now);
		return SLOT_TAKEN;
	}
	for (struct conn *c = srv->head; c; c = c->next)
		same += c->in_flight && !c->shed &&
			!memcmp(c->key, self->key, 16);
	if (same >= PER_ADDR_IN_FLIGHT)
		return SLOT_BUSY;
	struck = peer_struck(srv, self->key, now);
	/* Those already waiting go first. */
	if (!srv->n_waiting) {
		if (srv->n_in_flight < srv->max_in_flight) {
			grant(srv, self, now);
			return SLOT_TAKEN;
		}
		if (!struck && preempt_for(srv, self, now))
			return SLOT_TAKEN;
	}
	if (struck || !enqueue(srv, self, now))
		return SLOT_BUSY;
	return SLOT_WAIT;
}

/* The next waiter to serve: the first trusted one, else the first. */
static struct conn *next_waiter(struct http_server *srv, double now)
{
	for (size_t i = 0; i < srv->n_waiting; i++)
		if (peer_trusted(srv, srv->waiters[i]->key, now))
			return srv->waiters[i];
	return srv->waiters[0];
}

/* Whether the client of a waiting request has gone (MHD cannot see it). */
static bool client_gone(const struct conn *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};

	return poll(&p, 1, 0) > 0 &&
	       (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/*
 * Give waiters the slots that are free or stalled, and their 503 to
 * those that waited too long or left.
 */
static void run_queue(struct http_server *srv)
{
	double now = mono_now();

	for (size_t i = 0; i < srv->n_waiting;) {
		struct conn *c = srv->waiters[i];

		if (now - c->queued_at < QUEUE_WAIT_S && !client_gone(c))
			i++;
		else
			resume(srv, c, false);
	}
	while (srv->n_waiting) {
		struct conn *c = next_waiter(srv, now);

		/* Its address may have stalled since it came: no slot then. */
		if (holds_stalled(srv, c->key, now) ||
		    peer_struck(srv, c->key, now)) {
			resume(srv, c, false);
			continue;
		}
		if (srv->n_in_flight < srv->max_in_flight)
			grant(srv, c, now);
		else if (!preempt_for(srv, c, now))
			break;
		resume(srv, c, true);
	}
}

/*
 * Absolute deadlines: a client that drips a byte at a time still ends.
 * And addresses whose responses stalled are marked as they stall, not
 * only once preempted.
 */
static void sweep(struct http_server *srv)
{
	double now = mono_now();

	for (struct conn *c = srv->head; c; c = c->next) {
		double limit = c->state == CONN_WAITING ? HEADER_DEADLINE_S
							: RESPONSE_DEADLINE_S;

		if (c->shed)
			continue;
		if (now - c->since > limit) {
			shed(srv, c);
			srv->stats.deadline++;
			continue;
		}
		if (stalled(c, now))
			peer_stalled(srv, c->key, now);
	}
}

static mhd_result serve_metrics(struct http_server *srv,
				struct MHD_Connection *conn)
{
	struct conn *self = conn_of(conn);
	struct MHD_Response *resp;
	struct body *b;
	bool gzip;
	int err;

	if (self && self->wait_expired) {
		self->wait_expired = false;
		return reply_error(srv, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "Too many concurrent scrapes\n");
	}
	/* A request resumed from the queue holds its slot already. */
	if (!self || !self->in_flight) {
		switch (take_slot(srv, self)) {
		case SLOT_TAKEN:
			break;
		case SLOT_WAIT:
			MHD_suspend_connection(conn);
			return MHD_YES;
		case SLOT_BUSY:
			return reply_error(srv, conn,
					   MHD_HTTP_SERVICE_UNAVAILABLE,
					   "Too many concurrent scrapes\n");
		}
	}
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
		return reply_error(srv, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
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
		return reply_error(srv, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
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
		if (self) {
			b->conn = self;
			self->body = b;
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
	return reply(srv, conn, MHD_HTTP_OK, resp);
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

static mhd_result reply_unauthorized(const struct http_server *srv,
				     struct MHD_Connection *conn)
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
	return reply(srv, conn, MHD_HTTP_UNAUTHORIZED, resp);
}

static mhd_result handle(void *cls, struct MHD_Connection *conn,
			 const char *url, const char *method,
			 const char *version, const char *upload_data,
			 size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	bool is_metrics = !strcmp(url, srv->path);
	struct conn *self;

	(void)version;
	(void)upload_data;

	if (!*con_cls) {
		self = conn_of(conn);
		if (self) {
			self->state = CONN_HANDLING;
			self->since = mono_now();
		}
		/*
		 * basic_auth_users guard every path, as in exporter-toolkit,
		 * before a snapshot is taken or anything streamed.
		 */
		if (!authorized(srv, conn))
			return reply_unauthorized(srv, conn);
	}
	/*
	 * Refusals go out on the first call, before any request body is
	 * read: we never want one, and MHD closes the connection after.
	 */
	if (!is_metrics && strcmp(url, "/"))
		return reply_static(srv, conn, MHD_HTTP_NOT_FOUND,
				    "text/plain; charset=utf-8", "Not Found\n",
				    false);
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_static(srv, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
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
		return reply_static(srv, conn, MHD_HTTP_OK,
				    "text/html; charset=utf-8", srv->index_html,
				    false);
	return serve_metrics(srv, conn);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
			      void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct conn *self = conn_of(conn);

	*con_cls = NULL;
	if (!self)
		return;
	if (self->waiting)
		dequeue(srv, self);
	if (self->body) {
		self->body->conn = NULL;
		self->body = NULL;
	}
	if (self->in_flight) {
		if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
			peer_served(srv, self->key, mono_now());
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
		int wait = srv->n_waiting ? QUEUE_TICK_MS : TICK_MS;

		if (MHD_get_timeout(srv->daemon, &mhd_ms) == MHD_YES &&
		    mhd_ms < (MHD_UNSIGNED_LONG_LONG)wait)
			wait = (int)mhd_ms;
		if (srv->resumed)
			wait = 0;
		srv->resumed = false;
		poll(pfd, 2, wait);
		MHD_run(srv->daemon);
		sweep(srv);
		run_queue(srv);
	}
	/* MHD must not be stopped with connections suspended. */
	while (srv->n_waiting)
		resume(srv, srv->waiters[0], false);
	MHD_run(srv->daemon);
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

int http_listen(const char *listen_addr, uint16_t port)
{
	return open_listener(listen_addr, port);
}

/* The path goes into HTML and a URL as it is: nothing to escape in it. */
static bool path_ok(const char *p)
{
	return p[0] == '/' && p[1] && !strpbrk(p, "?#\"'<>&\\ \t\r\n");
}

static int apply_opts(struct http_server *srv, const struct http_opts *o)
{
	const char *path = o && o->path ? o->path : "/metrics";
	size_t len;

	if (!path_ok(path))
		return EINVAL;
	srv->path = path;
	srv->max_in_flight = MAX_METRICS_IN_FLIGHT;
	if (o && o->max_requests >= 0) {
		srv->promhttp = true;
		srv->max_in_flight =
			o->max_requests ? (size_t)o->max_requests : SIZE_MAX;
	}
	len = sizeof(index_head) + strlen(path) + sizeof(index_tail);
	srv->index_html = malloc(len);
	if (!srv->index_html)
		return ENOMEM;
	snprintf(srv->index_html, len, "%s%s%s", index_head, path, index_tail);
	return 0;
}

struct http_server *http_server_start_fd(int fd, struct web_config *web,
					 const struct http_source *src)
{
	return http_server_start_opts(fd, web, src, NULL);
}

struct http_server *http_server_start_opts(int fd, struct web_config *web,
					   const struct http_source *src,
					   const struct http_opts *opts)
{
	struct MHD_OptionItem tls[5] = {{MHD_OPTION_END, 0, NULL}};
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
	struct http_server *srv = NULL;
	size_t n = 0;
	int err;

	if (fd < 0 || !src || !src->open || !src->read || !src->close) {
		err = EINVAL;
		goto err_close;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES) {
		err = ENOTSUP;
		goto err_close;
	}
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
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		err = ENOMEM;
		goto err_close;
	}
	srv->src = *src;
	srv->web = web;
	srv->stop_fd = -1;
	err = apply_opts(srv, opts);
	if (err)
		goto err_close;
	atomic_init(&srv->stop, false);
	raise_nofile();

	srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->stop_fd < 0) {
		err = errno;
		goto err_close;
	}

	errno = 0;
	srv->daemon = MHD_start_daemon(
		flags, 0, accept_policy, srv, handle, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MHD_CONN_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
		MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!srv->daemon) {
		err = errno ? errno : EIO;
		goto err_close;
	}
	err = pthread_create(&srv->thread, NULL, serve_loop, srv);
	if (err) {
		MHD_stop_daemon(srv->daemon); /* closes fd */
		fd = -1;
		goto err_close;
	}
	srv->thread_started = true;
	return srv;

err_close:
	/*
	 * MHD closes a socket it was given on most failure paths; close it
	 * only if it is still ours.
	 */
	if (fd >= 0 && fcntl(fd, F_GETFD) >= 0)
		close(fd);
	if (srv && srv->stop_fd >= 0)
		close(srv->stop_fd);
	if (srv)
		free(srv->index_html);
	free(srv);
	errno = err;
	return NULL;
}

struct http_server *http_server_start(const char *listen_addr, uint16_t port,
				      const struct http_source *src)
{
	int fd;

	if (!src || !src->open || !src->read || !src->close) {
		errno = EINVAL;
		return NULL;
	}
	fd = open_listener(listen_addr, port);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	return http_server_start_fd(fd, NULL, src);
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
	free(srv->index_html);
	free(srv);
}

/* SPDX-License-Identifier: MIT */
/* The /metrics HTTP endpoint, served by libmicrohttpd's own thread. */
#ifndef ITM_HTTP_H
#define ITM_HTTP_H

#include <stdint.h>

#include "strbuf.h"

#include <stdbool.h>

/*
 * Where /metrics bodies come from.  All three are called from the server
 * thread and must do their own locking against the rest of the program.
 */
struct http_source {
	/* Start one body (e.g. take a snapshot); NULL with errno: 500. */
	void *(*open)(void *ctx);
	/*
	 * Append about want bytes of the body to out; returns 1 while more
	 * follows, 0 at the end, or a negative errno.
	 */
	int (*read)(void *body, struct strbuf *out, size_t want);
	void (*close)(void *body);
	void *ctx;
};

/* What the connection limits did, since start. */
struct http_stats {
	uint64_t refused;   /* over the per-address or global limit */
	uint64_t shed;	    /* idle connections closed for newcomers */
	uint64_t deadline;  /* closed at their absolute deadline */
	uint64_t preempted; /* responses cut for a newer scrape */
};

struct http_server;
struct web_config;

/*
 * listen_addr NULL or "" means all addresses (IPv6 dual-stack, falling back
 * to IPv4).  Returns NULL and sets errno (EADDRINUSE, EACCES, EINVAL ...)
 * without printing; the caller reports once.
 */
struct http_server *http_server_start(const char *listen_addr, uint16_t port,
				      const struct http_source *src);

/*
 * The same in two steps, so that the port can be bound while privileged
 * and the server thread started after the privileges are dropped.
 * http_listen() returns a listening socket or -errno.
 * http_server_start_fd() takes ownership of fd (closed on failure too);
 * web (TLS, basic auth, headers) may be NULL and must outlive the server.
 */
int http_listen(const char *listen_addr, uint16_t port);
struct http_server *http_server_start_fd(int fd, struct web_config *web,
					 const struct http_source *src);
/*
 * Exporter-toolkit's knobs.  path: where the metrics are (NULL:
 * "/metrics"); "/" stays the index page linking there.  max_requests < 0:
 * our own policy (MAX_METRICS_IN_FLIGHT responses, more wait in a queue,
 * stalled readers give way); >= 0: promhttp's, at most that many
 * responses at once (0: no limit) and the next one 503 at once.
 */
struct http_opts {
	const char *path;
	long max_requests;
};

/* http_server_start_fd() with opts (NULL: the defaults). */
struct http_server *http_server_start_opts(int fd, struct web_config *web,
					   const struct http_source *src,
					   const struct http_opts *opts);
void http_server_get_stats(struct http_server *srv, struct http_stats *out);
void http_server_stop(struct http_server *srv);

/* The Accept-Encoding rule: gzip listed with a non-zero q (pure). */
bool http_accepts_gzip(const char *accept_encoding);

#endif

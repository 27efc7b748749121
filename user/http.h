/* SPDX-License-Identifier: MIT */
/* The /metrics HTTP endpoint, served by libmicrohttpd's own thread. */
#ifndef ITM_HTTP_H
#define ITM_HTTP_H

#include <stdint.h>

#include "strbuf.h"

/*
 * Called from the server thread for every GET/HEAD of /metrics; appends
 * the body to out and returns 0 or a negative errno (answered with 500).
 * It must do its own locking.
 */
typedef int (*http_render_fn)(void *ctx, struct strbuf *out);

struct http_server;
struct web_config;

/*
 * listen_addr NULL or "" means all addresses (IPv6 dual-stack, falling back
 * to IPv4).  Returns NULL and sets errno (EADDRINUSE, EACCES, EINVAL ...)
 * without printing; the caller reports once.
 */
struct http_server *http_server_start(const char *listen_addr, uint16_t port,
				      http_render_fn render, void *ctx);

/*
 * The same in two steps, so that the port can be bound while privileged
 * and the server thread started after the privileges are dropped.
 * http_listen() returns a listening socket or -errno.
 * http_server_start_fd() takes ownership of fd (closed on failure too);
 * web (TLS, basic auth, headers) may be NULL and must outlive the server.
 */
int http_listen(const char *listen_addr, uint16_t port);
struct http_server *http_server_start_fd(int fd, struct web_config *web,
					 http_render_fn render, void *ctx);
void http_server_stop(struct http_server *srv);

#endif

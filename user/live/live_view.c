// SPDX-License-Identifier: MIT
#include "live_view.h"

#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "live_server.h"
#include "log.h"
#include "strbuf.h"
#include "tui.h"
#include "view.h"

struct live_view {
	struct live_view_config cfg;
	struct view view;
	bool view_ready;
	struct tui *tui;
	struct live_server *server;
	double start;
	/* Copies: the caller's strings need not outlive live_view_open(). */
	char ifaces[256], exporter[80];
	/* While the screen is ours, stderr goes to a pipe read from here. */
	int log_fd, saved_stderr;
	struct strbuf log;
};

/* What was logged while the screen was ours, replayed after it. */
#define LOG_KEEP (64 * 1024)

/*
 * Messages written to stderr (a database reload that failed, -v) would
 * scribble over the screen: catch them, show the last on the status line
 * and print them all once the terminal is given back.
 */
static void capture_stderr(struct live_view *lv)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return;
	lv->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (lv->saved_stderr < 0 || dup2(p[1], STDERR_FILENO) < 0) {
		if (lv->saved_stderr >= 0)
			close(lv->saved_stderr);
		lv->saved_stderr = -1;
		close(p[0]);
		close(p[1]);
		return;
	}
	close(p[1]);
	lv->log_fd = p[0];
}

static void read_log(struct live_view *lv)
{
	size_t before = lv->log.len;
	char buf[4096];
	ssize_t k;

	if (lv->log_fd < 0)
		return;
	while ((k = read(lv->log_fd, buf, sizeof(buf))) > 0)
		if (lv->log.len < LOG_KEEP)
			strbuf_append(&lv->log, buf, (size_t)k);
	if (lv->log.len > before && lv->tui) {
		/* The last complete line, without the program's name. */
		char line[256], *end = lv->log.buf + lv->log.len, *start;
		const char *prefix = "ip_traffic_monitor_cli: ";

		while (end > lv->log.buf && end[-1] == '\n')
			end--;
		start = end;
		while (start > lv->log.buf && start[-1] != '\n')
			start--;
		if (!strncmp(start, prefix, strlen(prefix)) &&
		    (size_t)(end - start) >= strlen(prefix))
			start += strlen(prefix);
		snprintf(line, sizeof(line), "%.*s", (int)(end - start), start);
		tui_note(lv->tui, line);
	}
}

static void release_stderr(struct live_view *lv)
{
	if (lv->log_fd < 0)
		return;
	read_log(lv);
	dup2(lv->saved_stderr, STDERR_FILENO);
	close(lv->saved_stderr);
	close(lv->log_fd);
	lv->log_fd = lv->saved_stderr = -1;
	if (lv->log.len && write(STDERR_FILENO, lv->log.buf, lv->log.len) < 0)
		return; /* nowhere left to say it */
}

struct update_ctx {
	struct view *view;
	double now;
};

static int update_fn(const struct collector_view *cv, void *arg)
{
	struct update_ctx *u = arg;

	return view_update(u->view, cv->table, cv->procs, u->now);
}

static int update_view(struct live_view *lv, double now)
{
	struct update_ctx u = {&lv->view, now};

	return collector_visit(lv->cfg.c, update_fn, &u);
}

struct tables_ctx {
	live_tables_fn fn;
	void *arg;
};

static int tables_fn(const struct collector_view *cv, void *arg)
{
	struct tables_ctx *t = arg;

	return t->fn(cv->table, cv->procs, t->arg);
}

/* The live socket reads the collector's tables under its lock. */
static int visit_tables(void *src, live_tables_fn fn, void *arg)
{
	struct tables_ctx t = {fn, arg};

	return collector_visit(src, tables_fn, &t);
}

static int start_time_fn(const struct collector_view *cv, void *arg)
{
	*(double *)arg = cv->start_time;
	return 0;
}

struct live_view *live_view_open(const struct live_view_config *cfg)
{
	struct live_view *lv = calloc(1, sizeof(*lv));
	double start_unix = 0;

	if (!lv)
		return NULL;
	lv->cfg = *cfg;
	lv->log_fd = lv->saved_stderr = -1;
	snprintf(lv->ifaces, sizeof(lv->ifaces), "%s", cfg->ifaces);
	snprintf(lv->exporter, sizeof(lv->exporter), "%s",
		 cfg->exporter ? cfg->exporter : "");
	lv->cfg.ifaces = lv->ifaces;
	lv->cfg.exporter = cfg->exporter ? lv->exporter : NULL;
	lv->cfg.socket_path = NULL; /* only used here, below */
	lv->start = monotonic_seconds();
	collector_visit(cfg->c, start_time_fn, &start_unix);
	if (cfg->socket_path) {
		struct live_server_config sc = {
			.path = cfg->socket_path,
			.gid = cfg->socket_gid,
			.have_gid = cfg->have_gid,
			.visit = visit_tables,
			.src = cfg->c,
			.info = {.interval_ms =
					 (uint64_t)(cfg->interval * 1000 + 0.5),
				 .start_unix = (uint64_t)start_unix},
		};

		snprintf(sc.info.exporter, sizeof(sc.info.exporter), "%s",
			 cfg->exporter ? cfg->exporter : "");
		snprintf(sc.info.ifaces, sizeof(sc.info.ifaces), "%s",
			 cfg->ifaces);
		lv->server = live_server_start(&sc);
		if (!lv->server) {
			free(lv);
			return NULL;
		}
		live_server_publish(lv->server,
				    (uint64_t)(monotonic_seconds() * 1e9));
	}
	if (cfg->tui || cfg->table) {
		view_use_utf8();
		if (view_init(&lv->view, cfg->interval)) {
			live_view_close(lv);
			return NULL;
		}
		lv->view_ready = true;
		/* The baseline: rates count from here. */
		update_view(lv, lv->start);
	}
	return lv;
}

void live_view_show(struct live_view *lv)
{
	double start_unix = 0;

	if (!lv || !lv->cfg.tui)
		return;
	collector_visit(lv->cfg.c, start_time_fn, &start_unix);
	struct tui_info ti = {
		.ifaces = lv->cfg.ifaces,
		.exporter = lv->cfg.exporter,
		.interval = lv->cfg.interval,
		.start_unix = (uint64_t)start_unix,
		.stop = lv->cfg.stop,
		.no_dns = lv->cfg.no_dns,
	};

	lv->tui = tui_open(&lv->view, &ti);
	if (!lv->tui) {
		lv->cfg.table = true; /* the terminal cannot: lines, then */
		return;
	}
	capture_stderr(lv);
}

enum live_wait live_view_wait(struct live_view *lv, uint64_t ms, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (lv && lv->tui) {
		switch (tui_wait(lv->tui, (int)ms, fd)) {
		case TUI_QUIT:
			return LIVE_QUIT;
		case TUI_READABLE:
			return LIVE_READABLE;
		default:
			return LIVE_TIMEOUT;
		}
	}
	/* A signal cuts the sleep short; the caller then sees its flag. */
	if (poll(&p, fd >= 0 ? 1 : 0, (int)ms) > 0)
		return LIVE_READABLE;
	return LIVE_TIMEOUT;
}

static int term_width(void)
{
	struct winsize ws;

	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

static void print_table(struct live_view *lv, double now)
{
	struct strbuf sb = STRBUF_INIT;

	if (!view_render_text(&lv->view, VIEW_ADDR, lv->cfg.top_n, term_width(),
			      &sb)) {
		printf(_("\n--- %.1f s elapsed, %zu remote addresses ---\n%s"),
		       now - lv->start, lv->view.addrs.count,
		       sb.buf ? sb.buf : "");
		fflush(stdout);
	}
	strbuf_free(&sb);
}

void live_view_drained(struct live_view *lv)
{
	double now = monotonic_seconds();

	if (!lv)
		return;
	live_server_publish(lv->server, (uint64_t)(now * 1e9));
	read_log(lv);
	if (lv->tui && tui_paused(lv->tui))
		return;
	if (!lv->view_ready || update_view(lv, now))
		return;
	if (lv->tui)
		tui_draw(lv->tui);
	else if (lv->cfg.table)
		print_table(lv, now);
}

void live_view_close(struct live_view *lv)
{
	if (!lv)
		return;
	tui_close(lv->tui);
	release_stderr(lv);
	strbuf_free(&lv->log);
	live_server_stop(lv->server);
	if (lv->view_ready)
		view_free(&lv->view);
	free(lv);
}

/* SPDX-License-Identifier: MIT */
/*
 * What the monitor shows while it runs: the full-screen view (by hand, on
 * a terminal), the periodic console table (--no-tui), and the live socket
 * for `top`.  main() calls it around each drain.
 */
#ifndef ITM_LIVE_VIEW_H
#define ITM_LIVE_VIEW_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "collector.h"

struct live_view_config {
	struct collector *c;
	bool tui;    /* full screen */
	bool table;  /* periodic table on stdout */
	bool no_dns; /* no reverse DNS in the full-screen view */
	size_t top_n;
	double interval; /* seconds */
	const char *ifaces;
	const char *exporter;	 /* NULL: none */
	const char *socket_path; /* NULL: no live socket */
	gid_t socket_gid;
	bool have_gid;
	volatile sig_atomic_t *stop;
};

struct live_view;

/* NULL on error (logged); the caller exits with status 2. */
struct live_view *live_view_open(const struct live_view_config *cfg);
/* Take the screen (when cfg.tui), after the last start-up message. */
void live_view_show(struct live_view *lv);
enum live_wait {
	LIVE_TIMEOUT,
	LIVE_QUIT,     /* the user quit */
	LIVE_READABLE, /* fd became readable first */
};

/* Sleep up to ms, handling keys, or until fd (if >= 0) is readable. */
enum live_wait live_view_wait(struct live_view *lv, uint64_t ms, int fd);
/* After each drain: publish to `top`, refresh the screen or the table. */
void live_view_drained(struct live_view *lv);
/* Gives the terminal back (before the final summary); lv may be NULL. */
void live_view_close(struct live_view *lv);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The full-screen live view (ncurses): a header with the interfaces,
 * totals and the exporter, one row per address or process from the view
 * model, and keys to sort, filter, pause, switch views and quit.
 */
#ifndef ITM_TUI_H
#define ITM_TUI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "view.h"

struct tui_info {
	const char *ifaces;   /* "eth0, wg0" */
	const char *exporter; /* "[::]:10749", or NULL */
	const char *source;   /* where the data comes from, or NULL */
	double interval;      /* seconds between updates */
	uint64_t start_unix;  /* when the monitor started */
	/* Set by the caller's signal handlers: tui_wait() returns TUI_QUIT. */
	volatile sig_atomic_t *stop;
	bool no_dns; /* -n: no reverse DNS (the n key turns it on) */
};

struct tui;

/* Whether stdin and stdout are a terminal a full-screen view can use. */
bool tui_possible(void);
/* Takes over the terminal; NULL when it cannot (message printed). */
struct tui *tui_open(struct view *v, const struct tui_info *info);
/* Gives the terminal back, as it was. */
void tui_close(struct tui *t);
/* Redraw from the view model. */
void tui_draw(struct tui *t);
/* A message for the status line until the next key (e.g. a warning). */
void tui_note(struct tui *t, const char *msg);
/* While paused, the caller stops updating the view (the screen freezes). */
bool tui_paused(const struct tui *t);

enum tui_event { TUI_TIMEOUT, TUI_READABLE, TUI_QUIT };
/*
 * Handle keys and resizes for up to ms milliseconds; returns early with
 * TUI_READABLE when fd (if >= 0) has data, or TUI_QUIT on 'q'.
 */
enum tui_event tui_wait(struct tui *t, int ms, int fd);

#endif

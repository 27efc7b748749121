// SPDX-License-Identifier: MIT
#include "tui.h"

#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "geo_labels.h"
#include "i18n.h"
#include "resolver.h"

/* Lines above and below the rows. */
#define TOP_LINES    4
#define BOTTOM_LINES 1

/* PROMPT_LABEL + l: the filter of label l (enum geo_label) */
enum prompt { PROMPT_NONE, PROMPT_ADDR, PROMPT_PROCESS, PROMPT_LABEL };

struct tui {
	struct view *v;
	struct tui_info info;
	SCREEN *scr;
	enum view_mode mode;
	int sort; /* enum view_col, or VIEW_SORT_TOTAL */
	bool reverse;
	bool paused;
	bool help;
	struct view_filter filter;
	int prompt; /* enum prompt */
	char input[64];
	char message[128];
	struct view_layout layout;
	long first;   /* the row at the top of the screen (scrolling) */
	long nrows;   /* rows that pass the filters, at the last layout */
	int room;     /* rows the screen shows */
	int help_top; /* the help's first line (it scrolls too) */
	struct resolver *dns; /* NULL: names off ('n', -n) */
};

static double monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

bool tui_possible(void)
{
	const char *term = getenv("TERM");

	return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && term && *term &&
	       strcmp(term, "dumb");
}

struct tui *tui_open(struct view *v, const struct tui_info *info)
{
	struct tui *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	view_use_utf8();
	t->scr = newterm(NULL, stdout, stdin);
	if (!t->scr) {
		fprintf(stderr,
			_("cannot use the terminal '%s' full-screen; try --no-tui\n"),
			getenv("TERM") ? getenv("TERM") : "");
		free(t);
		return NULL;
	}
	set_term(t->scr);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	t->v = v;
	t->info = *info;
	t->sort = VIEW_SORT_TOTAL;
	if (!info->no_dns)
		t->dns = resolver_open(); /* NULL: addresses only */
	tui_draw(t);
	return t;
}

void tui_close(struct tui *t)
{
	if (!t)
		return;
	endwin();
	delscreen(t->scr);
	resolver_close(t->dns);
	free(t);
}

void tui_note(struct tui *t, const char *msg)
{
	snprintf(t->message, sizeof(t->message), "%s", msg);
}

bool tui_paused(const struct tui *t)
{
	return t->paused;
}

/* One screen line of exactly width cells. */
static void put_line(int y, const char *s, int width, attr_t attr)
{
	char buf[4096];

	if (width <= 0)
		return;
	view_fit_text(buf, sizeof(buf), s, width, false);
	if (attr)
		attron(attr);
	mvaddstr(y, 0, buf);
	if (attr)
		attroff(attr);
}

static void format_duration(double s, char *buf, size_t len)
{
	uint64_t n = s > 0 ? (uint64_t)s : 0;

	if (n >= 3600)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", n / 3600,
			 n / 60 % 60);
	else if (n >= 60)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", n / 60,
			 n % 60);
	else
		snprintf(buf, len, "%" PRIu64 "s", n);
}

static void draw_header(struct tui *t, int width)
{
	const struct view_row *tot = &t->v->total;
	char line[1024], up[32], r[VW_MAX][2][16];
	time_t now = time(NULL);

	format_duration(t->info.start_unix && now > (time_t)t->info.start_unix
				? (double)(now - (time_t)t->info.start_unix)
				: 0,
			up, sizeof(up));
	snprintf(
		line, sizeof(line),
		_(" ip_traffic_monitor_cli  %s  exporter %s  every %gs  up %s%s%s%s"),
		t->info.ifaces ? t->info.ifaces : "",
		t->info.exporter && *t->info.exporter ? t->info.exporter
						      : _("off"),
		t->info.interval, up, t->info.source ? "  " : "",
		t->info.source ? t->info.source : "",
		t->paused ? _("  [PAUSED]") : "");
	put_line(0, line, width, A_REVERSE);
	for (int w = 0; w < VW_MAX; w++) {
		view_format_rate(tot->tx_rate[w], r[w][0], sizeof(r[w][0]));
		view_format_rate(tot->rx_rate[w], r[w][1], sizeof(r[w][1]));
	}
	snprintf(
		line, sizeof(line),
		_("TOTAL TX %" PRIu64 " B  RX %" PRIu64
		  " B  %u addresses   TX/s %s RX/s %s   2s %s/%s  10s %s/%s  40s %s/%s"),
		tot->tx_bytes, tot->rx_bytes, tot->naddrs, r[VW_LAST][0],
		r[VW_LAST][1], r[VW_2S][0], r[VW_2S][1], r[VW_10S][0],
		r[VW_10S][1], r[VW_40S][0], r[VW_40S][1]);
	put_line(1, line, width, 0);
}

static const char *prompt_name(int p)
{
	if (p >= PROMPT_LABEL)
		return geo_label_defs[p - PROMPT_LABEL].name;
	switch (p) {
	case PROMPT_ADDR:
		return _("address prefix or CIDR");
	case PROMPT_PROCESS:
		return _("process");
	default:
		return "";
	}
}

/* The text a prompt edits: a field of the filter. */
static char *prompt_field(struct view_filter *f, int p, size_t *len)
{
	if (p >= PROMPT_LABEL) {
		*len = sizeof(f->label[0]);
		return f->label[p - PROMPT_LABEL];
	}
	if (p == PROMPT_ADDR) {
		*len = sizeof(f->addr);
		return f->addr;
	}
	*len = sizeof(f->process);
	return f->process;
}

static void draw_status(struct tui *t, int width)
{
	char line[1024];
	int n;

	if (t->prompt != PROMPT_NONE) {
		snprintf(line, sizeof(line), _("filter by %s: %s_"),
			 prompt_name(t->prompt), t->input);
		put_line(2, line, width, A_BOLD);
		return;
	}
	n = snprintf(line, sizeof(line), _("view: %s  sort: %s%s"),
		     t->mode == VIEW_ADDR ? _("addresses") : _("processes"),
		     t->sort == VIEW_SORT_TOTAL ? _("total bytes")
						: view_col_name(t->sort),
		     t->reverse ? _(" (reversed)") : "");
	n += snprintf(line + n, sizeof(line) - (size_t)n, "  %s",
		      view_bits() ? _("bits/s") : _("bytes/s"));
	if (t->nrows > t->room && t->room > 0)
		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      _("  rows %ld-%ld of %ld"), t->first + 1,
			      t->first + t->room < t->nrows ? t->first + t->room
							    : t->nrows,
			      t->nrows);
	if (t->mode == VIEW_PROC && !t->v->have_procs)
		n += snprintf(
			line + n, sizeof(line) - (size_t)n, "  %s",
			_("no process attribution (--no-pid): all traffic on one row"));
	if (view_filter_active(&t->filter)) {
		const struct view_filter *f = &t->filter;

		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      _("  filter:%s%s"),
			      f->addr[0] ? _(" address=") : "", f->addr);
		for (int i = 0; i < GEO_NLABELS && (size_t)n < sizeof(line);
		     i++)
			if (f->label[i][0])
				n += snprintf(line + n,
					      sizeof(line) - (size_t)n,
					      " %s=%s", geo_label_defs[i].name,
					      f->label[i]);
		if ((size_t)n < sizeof(line) && f->process[0])
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      _(" process=%s"), f->process);
	}
	if (t->message[0] && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, "  %s",
			 t->message);
	put_line(2, line, width, 0);
}

/*
 * Every key, in one table: what h shows (docs/live-view.md repeats it).
 * Keys came in releases; each line is its own message, so a line added
 * later does not undo the translations of the others.
 */
static const char *const help_text[] = {
	N_("q          quit (the summary is printed on exit)"),
	N_("p, space   pause / resume the display (counting goes on)"),
	N_("j/k        scroll a row (or the up/down arrow keys)"),
	N_("PgUp/PgDn  scroll a page"),
	N_("Home/End   first / last rows"),
	N_("< >        sort by the column to the left / right"),
	N_("1 2 3      sort by TX+RX over 2 s / 10 s / 40 s (as iftop)"),
	N_("s          sort by sent: TX/s (as nethogs)"),
	N_("t          sort by total bytes"),
	N_("r          reverse the order"),
	N_("b          rates in bits / bytes per second (as iftop)"),
	N_("n          host names by reverse DNS on / off (-n: off)"),
	N_("/ or l     filter by address prefix (10.1.) or CIDR (10.0.0.0/8)"),
	/* then one line per label that has a key */
};
static const char *const help_tail[] = {
	N_("o          filter by process name"),
	N_("x          clear the filters"),
	N_("tab, v     addresses / processes"),
	N_("h, ?       this help"),
};

static int help_lines(void)
{
	int n = (int)(sizeof(help_text) / sizeof(help_text[0]) +
		      sizeof(help_tail) / sizeof(help_tail[0]));

	for (int l = 0; l < GEO_NLABELS; l++)
		n += geo_label_defs[l].key != 0;
	return n;
}

/* Help line i: fixed lines, a line per label with a key, fixed lines. */
static const char *help_line(int i, char *buf, size_t len)
{
	const int nh = (int)(sizeof(help_text) / sizeof(help_text[0]));

	if (i < nh)
		return _(help_text[i]);
	i -= nh;
	for (int l = 0; l < GEO_NLABELS; l++) {
		if (!geo_label_defs[l].key)
			continue;
		if (!i--) {
			snprintf(buf, len, _("%c          filter by %s"),
				 geo_label_defs[l].key, geo_label_defs[l].name);
			return buf;
		}
	}
	return _(help_tail[i]);
}

static void draw_help(struct tui *t, int room, int width)
{
	int total = help_lines();
	char line[256];

	if (t->help_top > total - room)
		t->help_top = total - room;
	if (t->help_top < 0)
		t->help_top = 0;
	for (int y = 0; y < room && t->help_top + y < total; y++)
		put_line(TOP_LINES + y,
			 help_line(t->help_top + y, line, sizeof(line)), width,
			 0);
}

/*
 * The key bar, then the filter key of every label that it does not show
 * yet ("  a asn"): the bar's text is one translated string, and a new
 * label must not wait for its translation to get its key shown.
 */
static void draw_keys(int y, int width)
{
	const char *bar = _(
		"q quit  p pause  </> sort  r reverse  / address  c country  o process  x clear  tab view  h help");
	char line[512], key[5];
	int n;

	/* The keys of a later release: a message of their own (see help). */
	n = snprintf(line, sizeof(line), "%s%s", bar,
		     _("  j/k scroll  1/2/3 window  b bits  n DNS"));
	for (int l = 0; l < GEO_NLABELS && (size_t)n < sizeof(line); l++) {
		if (!geo_label_defs[l].key)
			continue;
		snprintf(key, sizeof(key), "  %c ", geo_label_defs[l].key);
		if (!strstr(bar, key))
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      "  %c %s", geo_label_defs[l].key,
				      geo_label_defs[l].name);
	}
	put_line(y, line, width, A_REVERSE);
}

/* Names for the rows on screen; lookups are queued, never waited for. */
static void resolve_rows(struct tui *t, const struct view_row **rows, long n)
{
	char name[1025];

	if (!t->dns || t->mode != VIEW_ADDR)
		return;
	for (long i = 0; i < n; i++) {
		int rc;

		if (rows[i]->host_done)
			continue;
		rc = resolver_name(t->dns, &rows[i]->addr, name, sizeof(name));
		if (rc)
			view_row_set_host(rows[i], rc > 0 ? name : NULL);
	}
}

/*
 * The rows on screen and their layout, for the current mode and width:
 * also what the sort keys step through, so a key right after Tab sees
 * the new view's columns.  *rows is allocated (free it).
 */
static long screen_rows(struct tui *t, const struct view_row ***rows)
{
	long n, shown;

	t->room = LINES - TOP_LINES - BOTTOM_LINES;
	if (t->room < 0)
		t->room = 0;
	n = view_select(t->v, t->mode, &t->filter, t->sort, t->reverse, rows);
	if (n < 0)
		n = 0;
	t->nrows = n;
	if (t->first > n - t->room)
		t->first = n - t->room;
	if (t->first < 0)
		t->first = 0;
	shown = n - t->first < t->room ? n - t->first : t->room;
	if (*rows)
		resolve_rows(t, *rows + t->first, shown);
	view_layout(&t->layout, t->mode, COLS, *rows ? *rows + t->first : NULL,
		    (size_t)shown, t->sort);
	return shown;
}

void tui_draw(struct tui *t)
{
	const struct view_row **rows = NULL;
	char line[4096];
	int width = COLS, height = LINES;
	long n;

	erase();
	n = screen_rows(t, &rows);
	draw_header(t, width);
	draw_status(t, width);
	view_format_header(&t->layout, t->sort, line, sizeof(line));
	put_line(3, line, width, A_REVERSE);
	if (t->help) {
		draw_help(t, t->room, width);
	} else {
		for (long i = 0; i < n; i++) {
			view_format_row(&t->layout, rows[t->first + i], line,
					sizeof(line));
			put_line(TOP_LINES + (int)i, line, width, 0);
		}
	}
	free(rows);
	/* The bottom-right cell is left alone: writing it may scroll. */
	draw_keys(height - 1, width - 1);
	refresh();
}

/* The layout of what the screen shows now (after a mode change). */
static void relayout(struct tui *t)
{
	const struct view_row **rows = NULL;

	screen_rows(t, &rows);
	free(rows);
}

static void scroll_by(struct tui *t, long d)
{
	if (t->help) {
		long h = t->help_top + d;

		t->help_top = h < 0		? 0
			      : h > INT_MAX / 2 ? INT_MAX / 2
						: (int)h;
		return; /* draw_help() clamps the end */
	}
	t->first += d;
	if (t->first > t->nrows - t->room)
		t->first = t->nrows - t->room;
	if (t->first < 0)
		t->first = 0;
}

/* Names off: the host column goes; on again: every row is asked anew. */
static void hosts_forget(struct view *v)
{
	for (size_t i = 0; i < v->addrs.count; i++) {
		free(v->addrs.rows[i].host);
		v->addrs.rows[i].host = NULL;
		v->addrs.rows[i].host_done = false;
	}
}

/* Move the sort to the next/previous column on screen. */
static void sort_step(struct tui *t, int dir)
{
	int pos = -1;

	for (int i = 0; i < t->layout.n; i++)
		if ((int)t->layout.cols[i] == t->sort)
			pos = i;
	if (!t->layout.n)
		return;
	if (pos < 0)
		pos = dir > 0 ? -1 : t->layout.n;
	pos += dir;
	if (pos < 0 || pos >= t->layout.n)
		t->sort = VIEW_SORT_TOTAL;
	else
		t->sort = t->layout.cols[pos];
}

static void apply_prompt(struct tui *t)
{
	struct view_filter f = t->filter;
	size_t len;
	char *field = prompt_field(&f, t->prompt, &len);

	snprintf(field, len, "%.*s", (int)len - 1, t->input);
	if (view_filter_check(&f)) {
		snprintf(t->message, sizeof(t->message),
			 _("'%.60s' is not an address prefix or CIDR"),
			 t->input);
		return;
	}
	t->filter = f;
}

static void prompt_key(struct tui *t, int kind, wint_t c)
{
	size_t len = strlen(t->input);

	if (kind == KEY_CODE_YES) {
		if (c == KEY_BACKSPACE && len) {
			/* Remove a whole UTF-8 character. */
			while (len && (t->input[len - 1] & 0xc0) == 0x80)
				len--;
			t->input[len ? len - 1 : 0] = '\0';
		} else if (c == KEY_ENTER) {
			apply_prompt(t);
			t->prompt = PROMPT_NONE;
		}
		return;
	}
	if (c == 27) {
		t->prompt = PROMPT_NONE;
	} else if (c == '\r' || c == '\n') {
		apply_prompt(t);
		t->prompt = PROMPT_NONE;
	} else if (c == 127 || c == 8) {
		while (len && (t->input[len - 1] & 0xc0) == 0x80)
			len--;
		t->input[len ? len - 1 : 0] = '\0';
	} else if (c >= 32) {
		char mb[MB_LEN_MAX];
		mbstate_t st;
		size_t k;

		memset(&st, 0, sizeof(st));
		k = wcrtomb(mb, (wchar_t)c, &st);
		if (k != (size_t)-1 && len + k < sizeof(t->input)) {
			memcpy(t->input + len, mb, k);
			t->input[len + k] = '\0';
		}
	}
}

static void start_prompt(struct tui *t, int p)
{
	size_t len;

	t->prompt = p;
	snprintf(t->input, sizeof(t->input), "%s",
		 prompt_field(&t->filter, p, &len));
}

/* Returns true on quit. */
static bool key(struct tui *t, int kind, wint_t c)
{
	t->message[0] = '\0';
	if (t->prompt != PROMPT_NONE) {
		prompt_key(t, kind, c);
		return false;
	}
	if (kind == KEY_CODE_YES) {
		if (c == KEY_LEFT)
			sort_step(t, -1);
		else if (c == KEY_RIGHT)
			sort_step(t, 1);
		else if (c == KEY_UP)
			scroll_by(t, -1);
		else if (c == KEY_DOWN)
			scroll_by(t, 1);
		else if (c == KEY_PPAGE)
			scroll_by(t, -(t->room > 1 ? t->room - 1 : 1));
		else if (c == KEY_NPAGE)
			scroll_by(t, t->room > 1 ? t->room - 1 : 1);
		else if (c == KEY_HOME)
			scroll_by(t, -LONG_MAX / 2);
		else if (c == KEY_END)
			scroll_by(t, LONG_MAX / 2);
		else if (c == KEY_RESIZE)
			/*
			 * Terminals keep different lines when they shrink
			 * (some drop the top ones): repaint it all.
			 */
			clearok(curscr, TRUE);
		return false; /* the redraw follows */
	}
	switch (c) {
	case 'q':
	case 'Q':
		return true;
	case 'p':
	case 'P':
	case ' ':
		t->paused = !t->paused;
		break;
	case '<':
	case ',':
		sort_step(t, -1);
		break;
	case '>':
	case '.':
		sort_step(t, 1);
		break;
	case 'r':
		t->reverse = !t->reverse;
		break;
	case 'k':
		scroll_by(t, -1);
		break;
	case 'j':
		scroll_by(t, 1);
		break;
	case '1':
	case '2':
	case '3':
		t->sort = VIEW_SORT_WIN(VW_2S + (int)(c - '1'));
		break;
	case 's':
		t->sort = COL_TX_LAST;
		break;
	case 'b':
		view_set_bits(!view_bits());
		break;
	case 'n':
		if (t->dns) {
			resolver_close(t->dns);
			t->dns = NULL;
		} else {
			t->dns = resolver_open();
		}
		hosts_forget(t->v);
		break;
	case 't':
		t->sort = VIEW_SORT_TOTAL;
		break;
	case '/':
	case 'l':
		start_prompt(t, PROMPT_ADDR);
		break;
	case 'o':
		start_prompt(t, PROMPT_PROCESS);
		break;
	case 'x':
		memset(&t->filter, 0, sizeof(t->filter));
		break;
	case '\t':
	case 'v':
		t->mode = t->mode == VIEW_ADDR ? VIEW_PROC : VIEW_ADDR;
		/* Columns the other view lacks; window sums are in both. */
		if (t->sort == COL_ADDR || t->sort == COL_PID ||
		    (t->sort >= COL_NADDRS && t->sort < COL_MAX))
			t->sort = VIEW_SORT_TOTAL;
		t->first = 0;
		relayout(t);
		break;
	case 'h':
	case '?':
		t->help = !t->help;
		break;
	default:
		for (int l = 0; l < GEO_NLABELS; l++)
			if (geo_label_defs[l].key &&
			    c == (wint_t)geo_label_defs[l].key)
				start_prompt(t, PROMPT_LABEL + l);
		break;
	}
	return false;
}

/* Every pending key; true on quit. */
static bool handle_keys(struct tui *t)
{
	bool any = false;
	wint_t c;
	int kind;

	while ((kind = get_wch(&c)) != ERR) {
		any = true;
		if (key(t, kind, c))
			return true;
	}
	if (any)
		tui_draw(t);
	return false;
}

enum tui_event tui_wait(struct tui *t, int ms, int fd)
{
	double end = monotonic_now() + ms / 1000.0;

	for (;;) {
		struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
				      {.fd = fd, .events = POLLIN}};
		double left = end - monotonic_now();
		int rc;

		if (t->info.stop && *t->info.stop)
			return TUI_QUIT;
		if (left <= 0)
			return TUI_TIMEOUT;
		rc = poll(p, fd >= 0 ? 2 : 1, (int)(left * 1000) + 1);
		/* A resize interrupts poll(); curses reports it as a key. */
		if (rc < 0 && errno != EINTR)
			return TUI_TIMEOUT;
		if (rc < 0 || (p[0].revents & POLLIN)) {
			if (handle_keys(t))
				return TUI_QUIT;
		}
		if (p[0].revents & (POLLHUP | POLLERR))
			return TUI_QUIT; /* the terminal went away */
		if (rc > 0 && fd >= 0 && (p[1].revents & (POLLIN | POLLHUP)))
			return TUI_READABLE;
	}
}

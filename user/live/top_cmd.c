// SPDX-License-Identifier: MIT
/*
 * `ip_traffic_monitor_cli top`: the live view of a monitor that is already
 * running, read from its live socket (live_proto.h).  Needs no privileges
 * beyond membership in the socket's group.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "i18n.h"
#include "live_proto.h"
#include "live_server.h"
#include "strbuf.h"
#include "tui.h"
#include "view.h"

#define EXIT_SETUP 2

static volatile sig_atomic_t top_stop;

static void on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		_("Usage: ip_traffic_monitor_cli top [options]\n"
		"Live view of a running monitor, read from its live socket (see\n"
		"--live-socket).  Needs no root: membership in the socket's group.\n"
		"\n"
		"  -S, --socket PATH   the monitor's live socket (default %s)\n"
		"      --no-tui        print a table per update instead of the full-screen view\n"
		"                      (the default when stdout is not a terminal)\n"
		"      --no-dns        no host names (reverse DNS), as the monitor's -n\n"
		"  -n, --frames N      exit after N updates (0 = until interrupted; default 0)\n"
		"      --top N         rows per printed table (0 = all; default 10)\n"
		"  -h, --help          this help\n"),
		ITM_LIVE_SOCKET_DEFAULT);
}

/*
 * The group that may connect: the socket's, or that of the directory
 * holding it when the socket itself cannot be seen.
 */
static void socket_group(const char *path, char *buf, size_t len)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], *slash;
	struct group *g;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (stat(path, &st) && (!slash || stat(dir, &st))) {
		snprintf(buf, len, "?");
		return;
	}
	g = getgrgid(st.st_gid);
	if (g)
		snprintf(buf, len, "%s", g->gr_name);
	else
		snprintf(buf, len, "%u", (unsigned int)st.st_gid);
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, _("top: socket path too long: %s\n"), path);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return fd;
	if (errno == EACCES || errno == EPERM) {
		char group[64];

		socket_group(path, group, sizeof(group));
		fprintf(stderr,
			_("top: permission denied on %s: ask an administrator to add you to the group '%s' (the monitor's --live-group)\n"),
			path, group);
	} else if (errno == ENOENT || errno == ECONNREFUSED)
		fprintf(stderr,
			_("top: no monitor is serving %s (start one with --live-socket %s)\n"),
			path, path);
	else
		fprintf(stderr, _("top: cannot connect to %s: %s\n"), path,
			strerror(errno));
	close(fd);
	return -EACCES;
}

static int term_width(void)
{
	struct winsize ws;

	if (isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) &&
	    ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* Read what is there; frames completed, 0 at EOF with *eof, or -errno. */
static int read_some(int fd, struct live_replica *r, bool *eof)
{
	char buf[65536], err[256] = "";
	ssize_t k = read(fd, buf, sizeof(buf));
	int rc;

	if (k == 0) {
		*eof = true;
		return 0;
	}
	if (k < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	rc = live_replica_feed(r, buf, (size_t)k, err, sizeof(err));
	if (rc == -EACCES)
		fprintf(stderr, _("top: the monitor refused: %s\n"), err);
	else if (rc < 0)
		fprintf(stderr, "top: %s\n", err);
	return rc;
}

static double frame_seconds(const struct live_replica *r)
{
	return (double)r->ns / 1e9;
}

static int update_view(struct view *v, struct live_replica *r)
{
	return view_update(v, &r->addrs, r->have_procs ? &r->procs : NULL,
			   frame_seconds(r));
}

/* 0 once a frame is in (or on a signal), else the exit status. */
static int first_frame(int fd, struct live_replica *r)
{
	bool eof = false;

	while (!top_stop && !eof && !r->frames) {
		int rc = read_some(fd, r, &eof);

		if (rc < 0)
			return rc == -EACCES ? EXIT_SETUP : 1;
	}
	if (eof) {
		fprintf(stderr, _("top: the monitor closed the live socket\n"));
		return 1;
	}
	return 0;
}

static int run_text(int fd, struct live_replica *r, struct view *v,
		    uint64_t frames, size_t top_n)
{
	uint64_t shown = 0;
	bool eof = false;
	int rc = 1; /* the first frame is in */

	while (!top_stop && !eof) {
		struct strbuf sb = STRBUF_INIT;

		if (!rc)
			rc = read_some(fd, r, &eof);
		if (rc < 0)
			return rc == -EACCES ? EXIT_SETUP : 1;
		if (!rc)
			continue;
		rc = 0;
		if (update_view(v, r))
			return 1;
		if (!view_render_text(v, VIEW_ADDR, top_n, term_width(), &sb)) {
			printf(_("\n--- %s: %zu remote addresses, TX %" PRIu64
				 " B, RX %" PRIu64 " B ---\n%s"),
			       r->info.ifaces, r->addrs.count,
			       v->total.tx_bytes, v->total.rx_bytes,
			       sb.buf ? sb.buf : "");
			fflush(stdout);
		}
		strbuf_free(&sb);
		if (frames && ++shown >= frames)
			return 0;
	}
	if (eof) {
		fprintf(stderr, _("top: the monitor closed the live socket\n"));
		return 1;
	}
	return 0;
}

static int run_tui(int fd, struct live_replica *r, struct view *v,
		   uint64_t frames, const char *path, bool no_dns)
{
	char source[160];
	struct tui_info ti = {0};
	struct tui *t = NULL;
	uint64_t shown = 0;
	bool eof = false;
	int status = 0;

	if (update_view(v, r))
		return 1;
	snprintf(source, sizeof(source), _("via %s"), path);
	ti.ifaces = r->info.ifaces;
	ti.exporter = r->info.exporter;
	ti.source = source;
	ti.interval = (double)r->info.interval_ms / 1000.0;
	ti.start_unix = r->info.start_unix;
	ti.stop = &top_stop;
	ti.no_dns = no_dns;
	t = tui_open(v, &ti);
	if (!t)
		return EXIT_SETUP;
	for (;;) {
		enum tui_event ev = tui_wait(t, 1000, fd);
		int rc;

		if (ev == TUI_QUIT)
			break;
		if (ev != TUI_READABLE)
			continue;
		rc = read_some(fd, r, &eof);
		if (rc < 0 || eof) {
			status = 1;
			break;
		}
		if (rc && !tui_paused(t)) {
			if (update_view(v, r)) {
				status = 1;
				break;
			}
			tui_draw(t);
			if (frames && ++shown >= frames)
				break;
		}
	}
	tui_close(t);
	if (eof)
		fprintf(stderr, _("top: the monitor closed the live socket\n"));
	return status;
}

int top_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 'S'},
		{"no-tui", no_argument, NULL, 'T'},
		{"no-dns", no_argument, NULL, 'D'},
		{"frames", required_argument, NULL, 'n'},
		{"top", required_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *path = ITM_LIVE_SOCKET_DEFAULT;
	struct sigaction sa = {.sa_handler = on_signal};
	struct live_replica rep;
	struct view v;
	uint64_t frames = 0;
	size_t top_n = 10;
	bool no_tui = false, no_dns = false;
	int c, fd, status;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":S:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			path = optarg;
			break;
		case 'T':
			no_tui = true;
			break;
		case 'D':
			no_dns = true;
			break;
		case 'n':
		case 'N':
			errno = 0;
			if (optarg[0] == '-' ||
			    (strtoull(optarg, &end, 10),
			     errno || *end || end == optarg)) {
				fprintf(stderr,
					_("top: %s wants a number, got '%s'\n"),
					c == 'n' ? "--frames" : "--top",
					optarg);
				return EXIT_SETUP;
			}
			if (c == 'n')
				frames = strtoull(optarg, NULL, 10);
			else
				top_n = (size_t)strtoull(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, _("top: %s needs a value\n"),
				argv[optind - 1]);
			return EXIT_SETUP;
		default:
			fprintf(stderr,
				_("top: unknown option '%s' (see top --help)\n"),
				argv[optind - 1]);
			return EXIT_SETUP;
		}
	}
	if (optind < argc) {
		fprintf(stderr, _("top: unexpected argument '%s'\n"),
			argv[optind]);
		return EXIT_SETUP;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	view_use_utf8();
	fd = connect_socket(path);
	if (fd < 0)
		return EXIT_SETUP;
	if (live_replica_init(&rep)) {
		close(fd);
		return 1;
	}
	/* The first frame carries the header; its interval sizes history. */
	status = first_frame(fd, &rep);
	if (status || top_stop) {
		live_replica_free(&rep);
		close(fd);
		return status;
	}
	if (view_init(&v, (double)rep.info.interval_ms / 1000.0)) {
		live_replica_free(&rep);
		close(fd);
		return 1;
	}
	if (!no_tui && tui_possible())
		status = run_tui(fd, &rep, &v, frames, path, no_dns);
	else
		status = run_text(fd, &rep, &v, frames, top_n);
	view_free(&v);
	live_replica_free(&rep);
	close(fd);
	return status;
}

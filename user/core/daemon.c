// SPDX-License-Identifier: MIT
/*
 * The monitor itself (no subcommand): wires options, the per-interface
 * loaders, the collector, the exporter and the console tables together,
 * then drains every sample interval until the duration ends or a signal.
 */
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "collector.h"
#include "drain.h"
#include "kernel_features.h"
#include "geo.h"
#include "http.h"
#include "ifwatch.h"
#include "ipfix.h"
#include "itm_version.h"
#include "live_server.h"
#include "live_view.h"
#include "loader.h"
#include "log.h"
#include "options.h"
#include "owner.h"
#include "privdrop.h"
#include "sdnotify.h"
#include "store.h"
#include "subcommands.h"
#include "tui.h"
#include "webconfig.h"

#define EXIT_SETUP 2

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_reload_signal(int sig)
{
	(void)sig;
	reload_requested = 1;
}

static void name_pid(void *ctx, uint32_t pid, char comm[ITM_COMM_LEN])
{
	owner_tracker_comm(ctx, pid, comm);
}

static const struct geo_labels *label_address(void *ctx,
					      const struct in6_addr *addr)
{
	return geo_cache_get(ctx, addr);
}

/*
 * Opened also without -g/--isp-db: private and documentation addresses
 * are then still labelled from the built-in ranges (局域网/保留地址), as
 * `lookup` labels them; every other label is "Unknown", as in the
 * original tool.
 */
static int open_geo(struct options *o, struct geo_ctx **out)
{
	const struct geo_config *cfg = geo_flags_config(&o->geo);
	char err[512] = "";

	*out = geo_open(cfg, err, sizeof(err));
	if (!*out) {
		pr_err("%s\n", err[0] ? err : strerror(errno));
		return -EINVAL;
	}
	return 0;
}

/* libbpf's own messages only with -v: we report errors once, with context. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (!log_verbose())
		return 0;
	log_vmsg(level == LIBBPF_DEBUG ? "debug" : "libbpf", fmt, ap);
	return 0;
}

static bool has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1U << (cap % 32));
}

/* Fail early with the fix instead of a confusing EPERM from bpf(). */
static int check_privileges(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0; /* cannot tell; let the kernel decide */
	if (has_cap(data, CAP_NET_ADMIN) &&
	    (has_cap(data, CAP_SYS_ADMIN) || has_cap(data, 39 /* CAP_BPF */)))
		return 0;
	pr_err(_(
		"needs root (or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN): run it with sudo\n"));
	return -EPERM;
}

/* /metrics bodies: a snapshot taken under the lock, streamed without it. */
static void *open_metrics(void *ctx)
{
	return collector_snapshot_metrics(ctx);
}

static int read_metrics(void *body, struct strbuf *out, size_t want)
{
	return metrics_snapshot_read(body, out, want);
}

static void close_metrics(void *body)
{
	metrics_snapshot_free(body);
}

static void print_table(struct collector *c, size_t top_n, const char *title)
{
	struct strbuf sb = STRBUF_INIT;
	struct winsize ws;
	int width = 0;

	/* On a terminal the table fits it; files get the fixed columns. */
	if (isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws))
		width = ws.ws_col;
	if (!collector_render_summary_fit(c, top_n, width, &sb)) {
		printf("%s\n%s", title, sb.buf ? sb.buf : "");
		fflush(stdout);
	}
	strbuf_free(&sb);
}

static void install_signals(void)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_reload_signal;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The monitored interfaces, and rtnetlink to notice them come and go. */
struct watched {
	struct iface_monitor *const *ifaces;
	size_t n;
	struct ifwatch *w; /* NULL: no netlink; checked every interval */
};

static void follow_ifaces(struct collector *c, struct watched *wi)
{
	for (size_t i = 0; i < wi->n; i++) {
		struct iface_monitor *m = wi->ifaces[i];

		if (iface_monitor_follow(m) > 0) {
			/* What was counted before it went is in the maps. */
			if (iface_monitor_gone(m))
				collector_drain(c);
			collector_iface_state(c, i, iface_monitor_counting(m),
					      iface_monitor_reattached(m));
		}
	}
}

/* Every sample interval: do the hooks still run our programs? */
static void check_hooks(struct collector *c, struct watched *wi)
{
	for (size_t i = 0; i < wi->n; i++) {
		struct iface_monitor *m = wi->ifaces[i];

		if (iface_monitor_check(m) > 0)
			collector_iface_state(c, i, iface_monitor_counting(m),
					      iface_monitor_reattached(m));
	}
}

/*
 * Sleep ms (handling the live view's keys), but follow link changes the
 * moment they happen; a stop or reload signal ends it early.  True when
 * the user quit the live view.
 */
static bool wait_following(struct collector *c, struct watched *wi,
			   struct live_view *lv, uint64_t ms)
{
	double until = monotonic_seconds() + ms / 1000.0;

	while (!stop_requested && !reload_requested) {
		double left = until - monotonic_seconds();
		enum live_wait r;

		if (left <= 0)
			break;
		r = live_view_wait(lv, (uint64_t)(left * 1000) + 1,
				   wi->w ? ifwatch_fd(wi->w) : -1);
		if (r == LIVE_QUIT)
			return true;
		if (r == LIVE_READABLE && ifwatch_drain(wi->w) > 0)
			follow_ifaces(c, wi);
	}
	if (!wi->w)
		follow_ifaces(c, wi);
	return false;
}

#define PRUNE_EVERY_S 10.0

/* The running totals (evicted addresses included): no walk of the table. */
static int sum_traffic(const struct collector_view *v, void *arg)
{
	const struct itm_value *t = &v->table->sum;
	uint64_t *sum = arg;

	sum[0] = t->tx_bytes + t->rx_bytes;
	sum[1] = t->tx_packets + t->rx_packets;
	sum[2] = v->table->count;
	return 0;
}

/*
 * STATUS= for systemctl status: what the monitor holds right now, and the
 * monitored interfaces that are gone (not counting).
 */
static void report_status(struct collector *c, const struct watched *wi)
{
	char gone[ITM_MAX_IFACES * (IF_NAMESIZE + 2)] = "";
	uint64_t sum[3] = {0};
	size_t len = 0;

	for (size_t i = 0; i < wi->n; i++)
		if (!iface_monitor_counting(wi->ifaces[i]))
			len += (size_t)snprintf(
				gone + len, sizeof(gone) - len, "%s%s",
				len ? "," : "",
				iface_monitor_name(wi->ifaces[i]));
	collector_visit(c, sum_traffic, sum);
	svc_status(
		"Tracking %llu remote addresses; %llu bytes, %llu packets counted%s%s",
		(unsigned long long)sum[2], (unsigned long long)sum[0],
		(unsigned long long)sum[1], len ? "; not attached: " : "",
		gone);
}

/*
 * SIGHUP (systemctl reload): reopen every database now and say, in one
 * line, what was reopened.  Files that fail keep their old data and get
 * their own warning.
 */
static void reload_databases(struct collector *c, size_t n_dbs,
			     const struct watched *wi)
{
	char reloaded[1024];
	int n;

	reload_requested = 0;
	svc_reloading();
	geo_request_reload(); /* every file, changed or not */
	n = collector_reload_labels(c, reloaded, sizeof(reloaded));
	if (!n_dbs)
		pr_notice(
			"reload: no geography or ISP database to reopen (none given with -g/--isp-db)\n");
	else
		pr_notice("reload: reopened %d of %zu databases%s%s\n", n,
			  n_dbs, n ? ": " : "", reloaded);
	svc_ready("Running");
	report_status(c, wi);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void run_loop(struct collector *c, const struct options *o,
		     struct owner_tracker *owners, struct live_view *lv,
		     size_t n_dbs, struct watched *wi,
		     struct ipfix_exporter *ipfix)
{
	double next_ipfix = monotonic_seconds() + o->ipfix_interval_ms / 1000.0;
	double start = monotonic_seconds();
	double end = start + o->duration_ms / 1000.0;
	double next = start + o->interval_ms / 1000.0;
	double last_prune = start;
	/* Often enough to honour a short --pid-retention, at most every 10 s.
	 */
	double prune_every = o->pid_retention_ms / 1000.0;
	/* systemd's WatchdogSec=: ping at least twice per period. */
	uint64_t watchdog_ms = svc_watchdog_usec() / 2000;
	bool scan_warned = false;
	char reloaded[1024];
	int err;

	if (prune_every > PRUNE_EVERY_S)
		prune_every = PRUNE_EVERY_S;
	if (prune_every < o->interval_ms / 1000.0)
		prune_every = o->interval_ms / 1000.0;
	if (watchdog_ms)
		svc_watchdog_ping();

	while (!stop_requested) {
		double now = monotonic_seconds();
		uint64_t wait =
			next > now ? (uint64_t)((next - now) * 1000) + 1 : 0;

		if (o->duration_ms) {
			double left = end - now;

			if (left <= 0)
				break;
			if (left * 1000 < (double)wait)
				wait = (uint64_t)(left * 1000) + 1;
		}
		if (watchdog_ms && wait > watchdog_ms)
			wait = watchdog_ms;
		if (wait && wait_following(c, wi, lv, wait))
			stop_requested = 1; /* 'q' in the live view */
		if (stop_requested)
			break;
		if (watchdog_ms)
			svc_watchdog_ping();
		if (reload_requested)
			reload_databases(c, n_dbs, wi);
		if (monotonic_seconds() < next)
			continue;
		next += o->interval_ms / 1000.0;
		if (next < monotonic_seconds())
			next = monotonic_seconds() + o->interval_ms / 1000.0;
		/* Owners of sockets that appeared by fork/accept in workers. */
		err = owners ? owner_tracker_scan(owners) : 0;
		if (err && !scan_warned) {
			pr_warn("process attribution: the socket scan failed: %s\n",
				strerror(-err));
			scan_warned = true;
		}
		check_hooks(c, wi);
		collector_drain(c);
		if (ipfix && monotonic_seconds() >= next_ipfix) {
			next_ipfix += o->ipfix_interval_ms / 1000.0;
			if (next_ipfix < monotonic_seconds())
				next_ipfix = monotonic_seconds() +
					     o->ipfix_interval_ms / 1000.0;
			ipfix_exporter_flush(ipfix, wall_ms());
		}
		if (collector_reload_labels(c, reloaded, sizeof(reloaded)))
			pr_info("reopened %s (changed on disk)\n", reloaded);
		if (owners && monotonic_seconds() - last_prune >= prune_every) {
			last_prune = monotonic_seconds();
			collector_prune_exited(c, last_prune,
					       o->pid_retention_ms / 1000.0);
		}
		report_status(c, wi);
		live_view_drained(lv);
	}
}

/*
 * What the daemon still writes or removes after dropping privileges: its
 * pin directory and the pins in it (unpinning is what detaches a tcx
 * link on exit).
 */
static int give_pins(const struct privdrop_user *u, const char *dir)
{
	struct dirent *de;
	char path[PATH_MAX];
	DIR *d;
	int err = privdrop_give(u, dir);

	if (err)
		return err;
	d = opendir(dir);
	if (!d)
		return 0;
	while (!err && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		err = privdrop_give(u, path);
	}
	closedir(d);
	return err;
}

/*
 * The database's files (SQLite's WAL beside it; none for a server): the
 * user must be able to reopen them (a replaced file) and remove the WAL
 * on close.  Their directory is left alone; the service's
 * StateDirectory= belongs to the user already.
 */
static int give_store(const struct privdrop_user *u, const char *db)
{
	const char *const *suffixes = store_files(db);
	char path[PATH_MAX];
	int err = 0;

	for (size_t i = 0; suffixes && suffixes[i] && !err; i++) {
		snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
		err = privdrop_give(u, path);
	}
	return err;
}

/*
 * Before any thread exists: capabilities are per thread, and every thread
 * started later inherits this one's (none effective).  With reattach, what
 * attaching again needs stays permitted: nothing for tcx links,
 * CAP_NET_ADMIN where clsact filters are used.
 */
static int drop_privileges(const struct privdrop_user *u,
			   struct iface_monitor *const *ifaces, size_t n,
			   const char *db, bool reattach)
{
	unsigned long long keep = 0;
	int err;

	if (give_store(u, db))
		return -EPERM;
	for (size_t i = 0; i < n; i++) {
		if (give_pins(u, iface_monitor_pin_dir(ifaces[i])))
			return -EPERM;
		if (iface_monitor_mode(ifaces[i]) != ATTACH_CLSACT)
			continue;
		if (reattach)
			keep |= privdrop_clsact_caps(
				iface_monitor_prog_fd(ifaces[i]));
		else /* unlike a tcx link, a filter goes only by netlink */
			pr_warn("%s: clsact filters cannot be removed without privileges: they stay attached after exit until the next start removes them\n",
				iface_monitor_name(ifaces[i]));
	}
	err = privdrop_apply(u, keep);
	/* Without --reattach: see iface_monitor_follow(). */
	for (size_t i = 0; !err && i < n; i++)
		iface_monitor_set_privileges(ifaces[i], reattach);
	if (!err && keep)
		pr_info("running as user %s with %s%s permitted for clsact filters, none effective\n",
			u->name, PRIVDROP_CLSACT_CAP_NAMES,
			keep & (1ULL << CAP_BPF) ? " and CAP_BPF" : "");
	else if (!err)
		pr_info("running as user %s without capabilities\n", u->name);
	return err;
}

/* Batch map operations (Linux >= 5.6) empty the maps; else key by key. */
static void note_batch_drain(struct itm_features *fs)
{
	int err = drain_batch_probe();
	char why[ITM_FEAT_REASON_LEN];

	if (!err) {
		features_set(fs, ITM_FEAT_BATCH_DRAIN, ITM_FEAT_ENABLED,
			     "batch", NULL);
		return;
	}
	snprintf(
		why, sizeof(why),
		"batch lookup-and-delete refused (%s): maps are emptied key by key, more slowly",
		strerror(-err));
	features_set(fs, ITM_FEAT_BATCH_DRAIN, ITM_FEAT_DEGRADED, "iteration",
		     why);
}

/* The running kernel's release, for ip_traffic_build_info. */
static const char *kernel_release(void)
{
	static struct utsname u;

	return uname(&u) ? NULL : u.release;
}

static void log_ready(struct iface_monitor *const *ifaces, size_t n,
		      const struct options *o, const struct web_config *web)
{
	char list[ITM_MAX_IFACES * (IF_NAMESIZE + 2)] = "", at[256] = "";
	bool exporter = o->port || o->systemd_socket;
	size_t len = 0;

	if (exporter)
		snprintf(at, sizeof(at), _("; metrics at %s"),
			 o->telemetry_path);
	for (size_t i = 0; i < n; i++) {
		pr_info(_("monitoring %s (%s)%s\n"),
			iface_monitor_name(ifaces[i]),
			attach_mode_name(iface_monitor_mode(ifaces[i])),
			i + 1 == n ? at : "");
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i ? "," : "",
					iface_monitor_name(ifaces[i]));
	}
	if (o->port)
		svc_ready_fmt("Monitoring %s; metrics on port %u (%s%s)", list,
			      o->port, web && web->tls ? "https" : "http",
			      web && web->n_users ? ", basic auth" : "");
	else if (exporter)
		svc_ready_fmt(
			"Monitoring %s; metrics on the socket systemd passed (%s%s)",
			list, web && web->tls ? "https" : "http",
			web && web->n_users ? ", basic auth" : "");
	else
		svc_ready_fmt("Monitoring %s", list);
}

static void close_all(struct iface_monitor *const *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* Adopted maps may hold counts nobody has stored yet. */
		if (iface_monitor_adopted(m[i]))
			iface_monitor_close_keep(m[i], true);
		else
			iface_monitor_close(m[i]);
	}
}

static int open_store(const struct options *o, struct store **out)
{
	struct store_config cfg = {
		.path = o->db_path,
		.interval = o->db_interval,
		.keep_buckets = o->db_keep_buckets,
		.keep_hours = o->db_keep_hours,
		.keep_days = o->db_keep_days,
		.host = o->db_host,
	};

	*out = NULL;
	if (!o->db_path)
		return 0;
	return store_open(&cfg, out);
}

/*
 * At exit, how long the collector has to acknowledge the last flush over
 * TCP before its records are counted as not delivered.
 */
#define IPFIX_EXIT_WAIT_MS 2000

static void outbox_acked(void *ctx, uint64_t seq, int64_t ts_ms)
{
	collector_outbox_ack(ctx, seq, ts_ms);
}

/*
 * --db: IPFIX exports what was committed, and the store keeps what the
 * collector has not got (per collector: target and transport).
 */
static int use_outbox(struct collector *c, const struct options *o,
		      struct ipfix_exporter *x)
{
	char name[320];
	int64_t pos_ts;
	int err;

	snprintf(name, sizeof(name), "%s/%s", o->ipfix,
		 o->ipfix_tcp ? "tcp" : "udp");
	/* Before the outbox's rows arrive, and before any commit. */
	ipfix_exporter_use_outbox(x, 0, outbox_acked, c);
	err = collector_use_outbox(c, name, &pos_ts);
	if (!err)
		ipfix_exporter_use_outbox(x, pos_ts, outbox_acked, c);
	return err;
}

static void ipfix_report(struct ipfix_exporter *x)
{
	struct ipfix_stats st;

	ipfix_exporter_stats(x, &st);
	pr_info("IPFIX: %llu records in %llu messages (%llu bytes, %llu template messages), %llu records not delivered\n",
		(unsigned long long)st.records, (unsigned long long)st.messages,
		(unsigned long long)st.bytes, (unsigned long long)st.templates,
		(unsigned long long)st.lost);
}

/*
 * Stop counting on one interface.  Unlike a tcx link, which goes with its
 * pin, a clsact filter goes only by netlink: with --reattach the kept
 * capabilities are effective for that moment, as when attaching.
 */
static void detach_one(struct iface_monitor *m)
{
	bool raise = iface_monitor_raise_caps(m) &&
		     iface_monitor_mode(m) == ATTACH_CLSACT;

	if (raise && privdrop_raise())
		pr_warn("%s: cannot raise %s to remove the clsact filters: they stay attached until the next start removes them\n",
			iface_monitor_name(m), PRIVDROP_CLSACT_CAP_NAMES);
	iface_monitor_detach(m);
	if (raise && privdrop_lower()) {
		pr_err("cannot drop %s again; aborting\n",
		       PRIVDROP_CLSACT_CAP_NAMES);
		abort();
	}
}

/*
 * --keep-attached: say what really stays counting.  An interface that is
 * gone, or a link that could not be pinned, goes with this process.
 */
static void left_attached(struct iface_monitor *const *m, size_t n)
{
	bool all = true;

	for (size_t i = 0; i < n; i++) {
		if (iface_monitor_gone(m[i]))
			pr_warn(_("%s is gone: nothing stays attached to it; the next start attaches when it is back\n"),
				iface_monitor_name(m[i]));
		else if (iface_monitor_unpinned(m[i]))
			pr_warn(_("%s: a link of the re-attach could not be pinned: it is detached now; traffic until the next start is not counted\n"),
				iface_monitor_name(m[i]));
		else
			continue;
		all = false;
	}
	if (all)
		pr_info(_(
			"left attached and counting; the next start continues, 'detach -i IFACE' removes it\n"));
}

/*
 * The end of a run.  --keep-attached: store (or, without --db, count)
 * what the kernel has and leave it counting.  Otherwise detach first so
 * the last drain is complete; maps holding counts the database could not
 * take stay pinned for the next start with --db.
 */
static int finish(struct collector *c, struct iface_monitor *const *ifaces,
		  size_t n, const struct options *o,
		  struct ipfix_exporter *ipfix)
{
	int status = 0;
	bool keep_maps;

	if (!o->keep_attached)
		for (size_t i = 0; i < n; i++)
			detach_one(ifaces[i]);
	if (collector_drain_final(c))
		status = 1;
	if (ipfix) {
		/* The last interval, so the collector's sums are complete. */
		ipfix_exporter_flush(ipfix, wall_ms());
		ipfix_exporter_finish(ipfix, IPFIX_EXIT_WAIT_MS);
		collector_outbox_final(c);
		ipfix_report(ipfix);
	}
	keep_maps = !collector_all_stored(c);
	if (!o->no_summary)
		print_table(c, o->top_n,
			    _("\n=== ip_traffic_monitor_cli summary ==="));
	/* Before closing: closing frees the monitors. */
	if (o->keep_attached)
		left_attached(ifaces, n);
	for (size_t i = 0; i < n; i++) {
		if (o->keep_attached || keep_maps)
			iface_monitor_close_keep(ifaces[i], o->keep_attached);
		else
			iface_monitor_close(ifaces[i]);
	}
	if (!o->keep_attached && keep_maps)
		pr_warn(_("counts the database could not take stay in the pinned maps under %s; the next start with --db stores them\n"),
			o->pin_base);
	return status;
}

static void geo_warn(const char *msg)
{
	pr_warn("%s\n", msg);
}

static void *reload_prepare(void *ctx, char *what, size_t len, int *n)
{
	return geo_reload_prepare(ctx, what, len, n);
}

static void reload_apply(void *ctx, void *staged)
{
	geo_reload_apply(ctx, staged);
}

static void reload_release(void *staged)
{
	geo_reload_release(staged);
}

/*
 * The port is bound while privileged (a port below 1024, the real bind()
 * error) and served after the drop.  Reports once why it cannot be.
 */
static int listen_http(const struct options *o)
{
	int fd;

	/*
	 * Socket activation (ip_traffic_monitor.socket): systemd bound the
	 * port and passes it; -p is not bound then, as exporter-toolkit
	 * ignores --web.listen-address under --web.systemd-socket.
	 */
	fd = svc_listen_fd();
	if (fd >= 0) {
		pr_notice(_(
			"serving the exporter on the socket systemd passed (socket activation)\n"));
		return fd;
	}
	if (fd == -E2BIG)
		pr_err(_(
			"systemd passed more than one socket; the exporter serves one (one ListenStream= in the socket unit)\n"));
	else if (fd != -ENOENT)
		pr_err(_("the socket systemd passed is not a listening TCP socket: %s\n"),
		       strerror(-fd));
	else if (o->systemd_socket)
		pr_err(_(
			"--web.systemd-socket: systemd passed no socket (LISTEN_FDS); start the service through its socket unit, or use -p\n"));
	if (fd != -ENOENT || o->systemd_socket)
		return fd;
	fd = http_listen(o->listen_addr, o->port);
	if (fd >= 0)
		return fd;
	if (fd == -EADDRINUSE)
		pr_err(_("port %u is already in use; choose another with -p\n"),
		       o->port);
	else if (fd == -EINVAL)
		pr_err(_("--listen '%s' is not an IPv4 or IPv6 address of this host\n"),
		       o->listen_addr ? o->listen_addr : "");
	else
		pr_err(_("cannot serve on port %u: %s\n"), o->port,
		       strerror(-fd));
	return fd;
}

static int open_ipfix(const struct options *o, struct iface_monitor *const *m,
		      size_t n, struct geo_ctx *geo,
		      struct ipfix_exporter **out)
{
	int ifindex[ITM_MAX_IFACES];
	struct ipfix_config cfg = {
		.target = o->ipfix,
		.tcp = o->ipfix_tcp,
		.domain = o->ipfix_domain,
		.template_refresh = o->ipfix_refresh_s,
		.ifindex = ifindex,
		.n_ifaces = n,
		.start_ms = wall_ms(), /* the programs count from here */
		.label = geo ? label_address : NULL,
		.label_ctx = geo,
	};

	for (size_t i = 0; i < n; i++)
		ifindex[i] = iface_monitor_ifindex(m[i]);
	return ipfix_exporter_new(&cfg, out);
}

/* The full-screen view by hand on a terminal, else the periodic table. */
static struct live_view *open_live_view(const struct options *o,
					struct collector *c,
					struct iface_monitor *const *ifaces,
					size_t n, gid_t gid)
{
	char names[256] = "", exporter[80] = "";
	const char *listen = o->listen_addr ? o->listen_addr : "*";
	size_t len = 0;

	for (size_t i = 0; i < n && len < sizeof(names); i++)
		len += (size_t)snprintf(names + len, sizeof(names) - len,
					"%s%s", i ? "," : "",
					iface_monitor_name(ifaces[i]));
	if (o->port)
		snprintf(exporter, sizeof(exporter),
			 strchr(listen, ':') ? "[%s]:%u" : "%s:%u", listen,
			 o->port);
	struct live_view_config lc = {
		.c = c,
		.tui = !o->quiet && !o->no_tui && tui_possible(),
		.table = !o->quiet && isatty(STDOUT_FILENO),
		.no_dns = o->no_dns,
		.top_n = o->top_n,
		.interval = (double)o->interval_ms / 1000.0,
		.ifaces = names,
		.exporter = o->port ? exporter : NULL,
		.socket_path = o->live_socket,
		.socket_gid = gid,
		.have_gid = o->live_group != NULL,
		.stop = &stop_requested,
	};
	return live_view_open(&lc);
}

int daemon_main(int argc, char **argv)
{
	struct iface_monitor *ifaces[ITM_MAX_IFACES] = {0};
	struct itm_features feat = {0};
	struct owner_tracker *owners = NULL;
	struct http_server *http = NULL;
	struct ipfix_exporter *ipfix = NULL;
	struct collector *coll = NULL;
	struct store *store = NULL;
	struct geo_ctx *geo = NULL;
	struct live_view *lv = NULL;
	gid_t live_gid = 0;
	struct web_config *web = NULL;
	struct privdrop_user user;
	struct options o;
	size_t opened = 0;
	struct watched wi = {0};
	int err, status = EXIT_SETUP, http_fd = -1;
	int iface_locks[ITM_MAX_IFACES];

	for (size_t i = 0; i < ITM_MAX_IFACES; i++)
		iface_locks[i] = -1;
	switch (options_parse(&o, argc, argv, stdout, stderr)) {
	case OPTIONS_OK:
		break;
	case OPTIONS_EXIT_OK:
		return 0;
	default:
		return EXIT_SETUP;
	}
	log_set_format((enum log_format)o.log_format);
	log_set_level((enum log_level)o.log_level);
	/* -v stays what it was: debug lines and libbpf's, whatever the level.
	 */
	if (o.verbose)
		log_set_verbose(true);
	libbpf_set_print(libbpf_print);
	if (o.live_group && live_parse_group(o.live_group, &live_gid)) {
		pr_err(_("--live-group '%s': no such group\n"),
		       LOG_Q(o.live_group));
		return EXIT_SETUP;
	}
	if (o.web_config) {
		char msg[512];

		web = web_config_load(o.web_config, msg, sizeof(msg));
		if (!web) {
			pr_err("%s\n", msg);
			return EXIT_SETUP;
		}
	}
	if (options_check_resources(&o,
				    (uint64_t)sysconf(_SC_PHYS_PAGES) *
					    (uint64_t)sysconf(_SC_PAGESIZE),
				    (unsigned int)libbpf_num_possible_cpus(),
				    stderr))
		goto cleanup;
	if ((o.user && privdrop_lookup(o.user, &user)) || check_privileges())
		goto cleanup;
	/* A second instance is refused before it sets anything up. */
	for (size_t i = 0; i < o.n_ifaces; i++) {
		iface_locks[i] = iface_lock(o.ifaces[i]);
		if (iface_locks[i] < 0)
			goto cleanup;
	}
	geo_set_warn(geo_warn);
	if (open_geo(&o, &geo))
		goto cleanup;
	/* A bad --db is refused before anything is attached. */
	if (open_store(&o, &store))
		goto cleanup;
	if (!o.no_pid) {
		/* NULL without an error: the kernel refused every part. */
		if (owner_tracker_open(&owners, &feat))
			goto cleanup;
		/* Owners of sockets that existed before us. */
		if (owners)
			owner_tracker_scan(owners);
	} else {
		features_set(&feat, ITM_FEAT_OWNER_SCAN, ITM_FEAT_DISABLED,
			     "none", "--no-pid");
		features_set(&feat, ITM_FEAT_OWNER_SOCK_CREATE,
			     ITM_FEAT_DISABLED, "none", "--no-pid");
	}
	note_batch_drain(&feat);
	install_signals();

	struct loader_config lc = {
		.pin_base = o.pin_base,
		.map_entries = o.map_entries,
		.force_clsact = o.force_clsact,
		.xdp = o.xdp,
		.owner_map_fd = owners ? owner_tracker_map_fd(owners) : -1,
		.adopt = o.db_path || o.keep_attached,
	};
	struct ip_merge_hooks hooks = {
		.label = geo ? label_address : NULL,
		.label_ctx = geo,
		.name = owners ? name_pid : NULL,
		.name_ctx = owners,
	};
	struct collector_config cc = {
		.threshold = o.threshold,
		.max_tracked = o.max_tracked,
		.hooks = hooks,
		.reload =
			{
				.prepare = geo_db_count(geo) ? reload_prepare
							     : NULL,
				.apply = reload_apply,
				.release = reload_release,
			},
		.version = ITM_VERSION,
		.libbpf_version = libbpf_version_string(),
		.kernel = kernel_release(),
		.process_metrics = true,
		.iface_label = o.iface_label,
		.features = &feat,
	};
	for (; opened < o.n_ifaces; opened++) {
		err = iface_monitor_open(&ifaces[opened], o.ifaces[opened],
					 iface_locks[opened], &lc);
		iface_locks[opened] = -1; /* the monitor's now */
		if (err)
			goto cleanup;
	}
	iface_monitors_features(ifaces, opened, owners != NULL, &feat);
	features_sum_attribution(&feat, o.no_pid);
	if (owners && !iface_monitors_read_owners(ifaces, opened)) {
		/* No program reads owners: no per-process table at all. */
		owner_tracker_close(owners);
		owners = NULL;
		cc.hooks.name = NULL;
		cc.hooks.name_ctx = NULL;
	}
	if (o.ipfix && open_ipfix(&o, ifaces, opened, geo, &ipfix))
		goto cleanup;
	err = collector_new(&coll, ifaces, opened, &cc);
	if (err) {
		pr_err(_("cannot set up the collector: %s\n"), strerror(-err));
		goto cleanup;
	}
	/* Export sinks before the store: its totals are their baseline. */
	if (ipfix) {
		struct collector_sink sink = {
			.delta = ipfix_sink_delta,
			.counters = ipfix_sink_counters,
			.ctx = ipfix,
			.delivery = ipfix_sink_delivery,
			.committed = ipfix_sink_committed,
		};

		err = collector_add_sink(coll, &sink);
		if (err) {
			pr_err(_("cannot set up the collector: %s\n"),
			       strerror(-err));
			goto cleanup;
		}
	}
	if ((store || o.keep_attached) && collector_use_store(coll, store))
		goto cleanup;
	/* Without an outbox in the store, IPFIX is fed by the drains. */
	if (ipfix && store && store_has_outbox(store) &&
	    use_outbox(coll, &o, ipfix))
		goto cleanup;
	if (o.port || o.systemd_socket) {
		http_fd = listen_http(&o);
		if (http_fd < 0)
			goto cleanup;
	}
	wi.ifaces = ifaces;
	wi.n = opened;
	err = ifwatch_open(&wi.w);
	if (err)
		pr_warn(_("cannot watch interfaces with rtnetlink (%s): a deleted interface is noticed within one interval\n"),
			strerror(-err));
	/* Before the HTTP and live-socket threads exist. */
	if (o.user &&
	    drop_privileges(&user, ifaces, opened, o.db_path, o.reattach))
		goto cleanup;
	if (http_fd >= 0) {
		struct http_source src = {
			.open = open_metrics,
			.read = read_metrics,
			.close = close_metrics,
			.ctx = coll,
		};
		struct http_opts ho = {
			.path = o.telemetry_path,
			.max_requests = o.max_requests,
		};

		http = http_server_start_opts(http_fd, web, &src, &ho);
		http_fd = -1; /* the server's now, even on failure */
		if (!http) {
			pr_err(_("cannot serve the exporter: %s\n"),
			       strerror(errno));
			goto cleanup;
		}
	}
	lv = open_live_view(&o, coll, ifaces, opened, live_gid);
	if (!lv)
		goto cleanup;
	/* What the kernel refused, once nothing else can fail. */
	features_log_warnings(&feat);
	log_ready(ifaces, opened, &o, web);
	live_view_show(lv);
	run_loop(coll, &o, owners, lv, geo_db_count(geo), &wi, ipfix);
	svc_stopping();
	ifwatch_close(wi.w);
	wi.w = NULL;
	/* The terminal is ours again before the summary. */
	live_view_close(lv);
	lv = NULL;

	/* No scrape may drain while the programs are being detached. */
	http_server_stop(http);
	http = NULL;
	status = finish(coll, ifaces, opened, &o, ipfix);
	opened = 0;
cleanup:
	ifwatch_close(wi.w);
	live_view_close(lv);
	if (http_fd >= 0)
		close(http_fd);
	http_server_stop(http);
	collector_free(coll);
	ipfix_exporter_free(ipfix);
	close_all(ifaces, opened);
	for (size_t i = 0; i < ITM_MAX_IFACES; i++)
		if (iface_locks[i] >= 0)
			close(iface_locks[i]);
	store_close(store);
	geo_close(geo);
	owner_tracker_close(owners);
	web_config_free(web);
	return status;
}

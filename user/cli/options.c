// SPDX-License-Identifier: MIT
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "geo_flags.h"
#include "i18n.h"
#include "ipfix_net.h"
#include "itm_shared.h"
#include "itm_version.h"
#include "log.h"
#include "store.h"

#define DEFAULT_DURATION_MS	 30000
#define DEFAULT_INTERVAL_MS	 2000
#define DEFAULT_THRESHOLD	 1048576
#define DEFAULT_TOP		 10
#define DEFAULT_PID_RETENTION_MS 300000
#define MAX_DURATION_S		 (10ULL * 365 * 24 * 3600)
#define MIN_INTERVAL_MS		 10
#define MAX_INTERVAL_MS		 (24ULL * 3600 * 1000)
#define MAX_MAP_ENTRIES		 (1U << 24)
#define MAX_TRACKED		 (1ULL << 28)
/*
 * Kernel memory per --map-size slot: two hash maps (active and spare) of
 * an element header, the 20-byte key and a per-CPU value of 32 bytes
 * (measured: ~320 bytes a slot on 2 CPUs).  --map-size may take at most
 * MAP_RAM_SHARE of the machine's memory.
 */
#define MAP_SLOT_BYTES(ncpus) (2 * (96 + 32 * (uint64_t)(ncpus)))
#define MAP_RAM_SHARE	      8 /* an eighth */

#define DEFAULT_IPFIX_INTERVAL_MS 60000
#define DEFAULT_IPFIX_REFRESH_S	  600

enum long_only {
	OPT_LISTEN = 256,
	OPT_MAP_SIZE,
	OPT_PIN_DIR,
	OPT_QUIET,
	OPT_NO_SUMMARY,
	OPT_TOP,
	OPT_CLSACT,
	OPT_XDP,
	OPT_VERSION,
	OPT_NO_PID,
	OPT_PID_RETENTION,
	OPT_NO_TUI,
	OPT_LIVE_SOCKET,
	OPT_LIVE_GROUP,
	OPT_DB,
	OPT_DB_INTERVAL,
	OPT_DB_KEEP_BUCKETS,
	OPT_DB_KEEP_HOURS,
	OPT_DB_KEEP_DAYS,
	OPT_KEEP_ATTACHED,
	OPT_USER,
	OPT_REATTACH,
	OPT_WEB_CONFIG,
	OPT_MAX_TRACKED,
	OPT_DB_HOST,
	OPT_IPFIX,
	OPT_IPFIX_TRANSPORT,
	OPT_IPFIX_INTERVAL,
	OPT_IPFIX_DOMAIN,
	OPT_IPFIX_REFRESH,
	OPT_WEB_LISTEN,
	OPT_WEB_PATH,
	OPT_WEB_MAX_REQUESTS,
	OPT_WEB_SYSTEMD_SOCKET,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_IFACE_LABEL,
};

static const struct option long_opts[] = {
	{"iface", required_argument, NULL, 'i'},
	{"duration", required_argument, NULL, 'd'},
	{"sample-interval", required_argument, NULL, 's'},
	{"prometheus-port", required_argument, NULL, 'p'},
	GEO_LONG_OPTIONS,
	{"prometheus-export-threshold", required_argument, NULL, 't'},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"map-size", required_argument, NULL, OPT_MAP_SIZE},
	{"pin-dir", required_argument, NULL, OPT_PIN_DIR},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"no-summary", no_argument, NULL, OPT_NO_SUMMARY},
	{"top", required_argument, NULL, OPT_TOP},
	{"clsact", no_argument, NULL, OPT_CLSACT},
	{"xdp", no_argument, NULL, OPT_XDP},
	{"no-pid", no_argument, NULL, OPT_NO_PID},
	{"pid-retention", required_argument, NULL, OPT_PID_RETENTION},
	{"no-tui", no_argument, NULL, OPT_NO_TUI},
	{"no-dns", no_argument, NULL, 'n'},
	{"live-socket", required_argument, NULL, OPT_LIVE_SOCKET},
	{"live-group", required_argument, NULL, OPT_LIVE_GROUP},
	{"db", required_argument, NULL, OPT_DB},
	{"db-interval", required_argument, NULL, OPT_DB_INTERVAL},
	{"db-keep-buckets", required_argument, NULL, OPT_DB_KEEP_BUCKETS},
	{"db-keep-hours", required_argument, NULL, OPT_DB_KEEP_HOURS},
	{"db-keep-days", required_argument, NULL, OPT_DB_KEEP_DAYS},
	{"keep-attached", no_argument, NULL, OPT_KEEP_ATTACHED},
	{"user", required_argument, NULL, OPT_USER},
	{"reattach", no_argument, NULL, OPT_REATTACH},
	{"web.config.file", required_argument, NULL, OPT_WEB_CONFIG},
	{"web.listen-address", required_argument, NULL, OPT_WEB_LISTEN},
	{"web.telemetry-path", required_argument, NULL, OPT_WEB_PATH},
	{"web.max-requests", required_argument, NULL, OPT_WEB_MAX_REQUESTS},
	{"web.systemd-socket", no_argument, NULL, OPT_WEB_SYSTEMD_SOCKET},
	{"log.level", required_argument, NULL, OPT_LOG_LEVEL},
	{"log.format", required_argument, NULL, OPT_LOG_FORMAT},
	{"iface-label", no_argument, NULL, OPT_IFACE_LABEL},
	{"max-tracked", required_argument, NULL, OPT_MAX_TRACKED},
	{"db-host", required_argument, NULL, OPT_DB_HOST},
	{"ipfix", required_argument, NULL, OPT_IPFIX},
	{"ipfix-transport", required_argument, NULL, OPT_IPFIX_TRANSPORT},
	{"ipfix-interval", required_argument, NULL, OPT_IPFIX_INTERVAL},
	{"ipfix-domain", required_argument, NULL, OPT_IPFIX_DOMAIN},
	{"ipfix-template-refresh", required_argument, NULL, OPT_IPFIX_REFRESH},
	{"verbose", no_argument, NULL, 'v'},
	{"version", no_argument, NULL, OPT_VERSION},
	{"help", no_argument, NULL, 'h'},
	{0},
};

void options_usage(FILE *out, const char *prog)
{
	/* One message: a flag added here is English until po/ has it. */
	fprintf(out,
		_("Usage: %s -i IFACE [options]\n"
		  "   or: %s lookup [ADDR...|-] [--format text|tsv|json] [-g DB]... [--isp-db DB]...\n"
		  "   or: %s top [--socket PATH] [--no-tui]   (live view of a running monitor)\n"
		  "   or: %s query [--db PATH] [--csv|--json] 'SELECT ...' | top [...]\n"
		  "   or: %s detach -i IFACE [--pin-dir DIR]\n"
		  "   or: %s check [--json]   (what this kernel supports, nothing attached)\n"
		  "\n"
		  "Counts IP-layer bytes and packets per remote address on IFACE with eBPF\n"
		  "(TC egress = tx, ingress = rx) and serves them to Prometheus.\n"
		  "\n"
		  "  -i, --iface IFACE              interface to monitor (required; repeat or\n"
		  "                                 separate with commas for several)\n"
		  "  -d, --duration DURATION        stop after DURATION (seconds, or 90s, 30m,\n"
		  "                                 48h, 2d, 1w); 0 = run until SIGINT/SIGTERM\n"
		  "                                 [default: 30]\n"
		  "  -s, --sample-interval SECONDS  drain the kernel maps and print the top\n"
		  "                                 table every SECONDS (fractions allowed,\n"
		  "                                 >= 0.01) [default: 2]\n"
		  "  -p, --prometheus-port PORT     serve /metrics on PORT (1-65535; this\n"
		  "                                 tool's port is %u); no exporter without it\n"
		  "      --listen ADDR              bind the exporter to ADDR (IPv4 or IPv6\n"
		  "                                 literal) [default: all addresses]\n"
		  "      --web.listen-address [ADDR]:PORT\n"
		  "                                 -p and --listen in one, as node_exporter:\n"
		  "                                 :%u, 127.0.0.1:%u, [::1]:%u\n"
		  "      --web.telemetry-path PATH  path of the metrics [default: /metrics]\n"
		  "      --web.max-requests N       concurrent scrapes; one more gets 503 at\n"
		  "                                 once; 0 = no limit [default: 4, and up to\n"
		  "                                 16 more wait 5 s for a turn]\n"
		  "      --web.systemd-socket       serve only on a socket systemd passes\n"
		  "                                 (LISTEN_FDS, ip_traffic_monitor.socket);\n"
		  "                                 without it a passed socket is used too,\n"
		  "                                 and -p binds when there is none\n"
		  "      --iface-label              add an iface label to the per-address\n"
		  "                                 series: one series per interface and address\n"
		  "  -g, --geoip-db PATH            geography database: MaxMind .mmdb, qqwry.dat\n"
		  "                                 or .ipdb (detected by content); repeatable,\n"
		  "                                 the first database that knows a label wins\n"
		  "      --isp-db PATH              ISP database (GeoIP2-ISP or GeoLite2-ASN);\n"
		  "                                 repeatable\n"
		  "      --geoip-lang LANG          label language [default: zh-CN]; 纯真 data\n"
		  "                                 (Chinese only) answers another language\n"
		  "                                 only where no other database does\n"
		  "  -t, --prometheus-export-threshold BYTES\n"
		  "                                 export an address once its tx+rx bytes reach\n"
		  "                                 BYTES (suffixes K, M, G, T = powers of 1024)\n"
		  "                                 [default: 1048576]\n"
		  "      --map-size N               distinct remote addresses the kernel map\n"
		  "                                 holds per sample interval; more go to the\n"
		  "                                 exported overflow counter; at most an eighth\n"
		  "                                 of the RAM in kernel memory [default: %u]\n"
		  "      --max-tracked N            remote addresses kept in memory; past it the\n"
		  "                                 longest-idle unexported ones are evicted into\n"
		  "                                 ip_traffic_evicted_* [default: %u]\n"
		  "      --pin-dir DIR              bpffs directory for pinned maps and links\n"
		  "                                 [default: /sys/fs/bpf/ip_traffic_monitor]\n"
		  "      --top N                    rows in the periodic and final tables; 0 =\n"
		  "                                 all [default: 10]\n"
		  "      --quiet                    no live view and no periodic table\n"
		  "      --no-tui                   a periodic table instead of the full-screen\n"
		  "                                 live view on a terminal\n"
		  "  -n, --no-dns                   no host names (reverse DNS) in the live\n"
		  "                                 view, as iftop -n (the n key toggles)\n"
		  "      --live-socket PATH         serve the live view to `top` on this Unix\n"
		  "                                 socket (e.g. %s)\n"
		  "      --live-group GROUP         group whose members may connect to it\n"
		  "                                 [default: root only]\n"
		  "      --no-summary               no final table on exit\n"
		  "      --clsact                   attach as clsact filters even where tcx\n"
		  "                                 links exist\n"
		  "      --xdp                      count received traffic at XDP, before\n"
		  "                                 the kernel builds an skb (native mode\n"
		  "                                 where the driver has it); rx is still\n"
		  "                                 attributed to processes at TC ingress\n"
		  "      --no-pid                   no process attribution (cheaper per packet)\n"
		  "      --pid-retention SECONDS    keep an exited process's series this long\n"
		  "                                 [default: 300]\n"
		  "      --db PATH                  keep the history in an SQLite database,\n"
		  "                                 or a postgresql:// or clickhouse:// URL\n"
		  "                                 (see 'query --help'); counters continue\n"
		  "                                 across restarts [service: %s]\n"
		  "      --db-interval SECONDS      bucket length; divides 3600 [default: 60]\n"
		  "      --db-keep-buckets DURATION keep buckets this long, then only hourly\n"
		  "                                 sums (30m, 48h, 2d, 1w) [default: 2d]\n"
		  "      --db-keep-hours DURATION   keep hourly sums this long, then daily\n"
		  "                                 [default: 90d]\n"
		  "      --db-keep-days DURATION    keep daily sums this long; 0 = forever\n"
		  "                                 [default: 0]\n"
		  "      --db-host NAME             with --db postgresql://...: this monitor's\n"
		  "                                 name in the host column [default: the\n"
		  "                                 host name]\n"
		  "      --keep-attached            on exit, store what was counted but leave\n"
		  "                                 the programs counting for the next start\n"
		  "                                 (undo with 'detach -i IFACE')\n"
		  "      --ipfix HOST:PORT          export per-address deltas as IPFIX (RFC 7011)\n"
		  "                                 to a collector; [IPV6]:PORT for literals\n"
		  "      --ipfix-transport udp|tcp  [default: udp]\n"
		  "      --ipfix-interval SECONDS   one record per address and direction every\n"
		  "                                 SECONDS (rounded up to -s) [default: 60]\n"
		  "      --ipfix-domain ID          observation domain id (0-4294967295)\n"
		  "                                 [default: 0]\n"
		  "      --ipfix-template-refresh SECONDS\n"
		  "                                 re-send templates over UDP this often\n"
		  "                                 [default: 600]\n"
		  "      --user NAME                after attaching and binding, run as user\n"
		  "                                 NAME with no capabilities left (an\n"
		  "                                 interface created again is then not\n"
		  "                                 attached again, see --reattach)\n"
		  "      --reattach                 with --user, attach again to an interface\n"
		  "                                 created again: tcx links need no\n"
		  "                                 capability; clsact filters keep\n"
		  "                                 CAP_NET_ADMIN permitted, effective only\n"
		  "                                 while attaching or detaching\n"
		  "      --web.config.file PATH     TLS, basic auth and headers for the\n"
		  "                                 exporter (Prometheus exporter-toolkit\n"
		  "                                 format)\n"
		  "      --log.level LEVEL          least severe messages written: debug, info,\n"
		  "                                 warn or error [default: info]\n"
		  "      --log.format FORMAT        text, logfmt or json [default: text]\n"
		  "  -v, --verbose                  libbpf and debug messages\n"
		  "      --version                  print the version\n"
		  "  -h, --help                     this text\n"),
		prog, prog, prog, prog, prog, prog, ITM_DEFAULT_PORT,
		ITM_DEFAULT_PORT, ITM_DEFAULT_PORT, ITM_DEFAULT_PORT,
		ITM_DEFAULT_MAP_ENTRIES, ITM_DEFAULT_MAX_TRACKED,
		"/run/ip_traffic_monitor/live.sock", ITM_DEFAULT_DB);
}

/* Whole-string unsigned decimal; rejects signs, spaces and overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Non-negative decimal seconds ("2", "0.1") to milliseconds. */
static int parse_seconds_ms(const char *s, uint64_t *ms)
{
	char *end;
	double v;

	/* Decimal only: strtod() would also take "0x10", "1e3", "inf". */
	if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.') ||
	    s[strspn(s, "0123456789.")] != '\0' ||
	    (strchr(s, '.') && strchr(s, '.') != strrchr(s, '.')))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > MAX_DURATION_S)
		return -EINVAL;
	*ms = (uint64_t)llround(v * 1000.0);
	return 0;
}

static int parse_bytes(const char *s, uint64_t *out)
{
	size_t n = s ? strlen(s) : 0;
	unsigned shift = 0;
	char num[32];
	uint64_t v;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	switch (toupper((unsigned char)num[n - 1])) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	}
	if (shift)
		num[n - 1] = '\0';
	if (parse_u64(num, &v) || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* "90", "30m", "48h", "2d", "1w" to seconds. */
static int parse_duration_s(const char *s, uint64_t *out)
{
	size_t n = s ? strlen(s) : 0;
	uint64_t unit = 1, v;
	char num[32];

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'w':
		unit = 7 * 86400;
		break;
	default:
		unit = 0;
	}
	if (unit)
		num[n - 1] = '\0';
	else
		unit = 1;
	if (parse_u64(num, &v) || v > MAX_DURATION_S / unit)
		return -EINVAL;
	*out = v * unit;
	return 0;
}

/* An empty element ("eth0,,eth1", "eth0,", "") is a typo, not a name. */
static bool has_empty_element(const char *list)
{
	size_t n = strlen(list);

	return !n || list[0] == ',' || list[n - 1] == ',' || strstr(list, ",,");
}

static int add_ifaces(struct options *o, char *list, FILE *err)
{
	if (has_empty_element(list)) {
		log_fmsg(
			err, N_("error"),
			_("-i/--iface wants interface names separated by single commas, got '%s' (see --help)\n"),
			LOG_Q(list));
		return -EINVAL;
	}
	for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		if (strlen(name) >= IF_NAMESIZE || strchr(name, '/')) {
			log_fmsg(err, N_("error"),
				 _("invalid interface name '%s'\n"),
				 LOG_Q(name));
			return -EINVAL;
		}
		for (size_t i = 0; i < o->n_ifaces; i++) {
			if (!strcmp(o->ifaces[i], name)) {
				log_fmsg(err, N_("error"),
					 _("interface '%s' given twice\n"),
					 LOG_Q(name));
				return -EINVAL;
			}
		}
		if (o->n_ifaces == ITM_MAX_IFACES) {
			log_fmsg(err, N_("error"), _("at most %d interfaces\n"),
				 ITM_MAX_IFACES);
			return -E2BIG;
		}
		o->ifaces[o->n_ifaces++] = name;
	}
	return 0;
}

static void set_defaults(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->duration_ms = DEFAULT_DURATION_MS;
	o->interval_ms = DEFAULT_INTERVAL_MS;
	o->threshold = DEFAULT_THRESHOLD;
	o->map_entries = ITM_DEFAULT_MAP_ENTRIES;
	o->max_tracked = ITM_DEFAULT_MAX_TRACKED;
	o->pin_base = ITM_DEFAULT_PIN_BASE;
	o->top_n = DEFAULT_TOP;
	o->pid_retention_ms = DEFAULT_PID_RETENTION_MS;
	o->db_interval = STORE_DEFAULT_INTERVAL;
	o->db_keep_buckets = STORE_DEFAULT_KEEP_BUCKETS;
	o->db_keep_hours = STORE_DEFAULT_KEEP_HOURS;
	o->db_keep_days = STORE_DEFAULT_KEEP_DAYS;
	o->ipfix_interval_ms = DEFAULT_IPFIX_INTERVAL_MS;
	o->ipfix_refresh_s = DEFAULT_IPFIX_REFRESH_S;
	o->telemetry_path = "/metrics";
	o->max_requests = -1;
	o->log_level = LOG_LVL_INFO;
	o->log_format = LOG_FMT_TEXT;
}

/*
 * --web.listen-address as exporter-toolkit takes it: ":PORT" (all
 * addresses), "ADDR:PORT" or "[IPV6]:PORT"; the address is a literal,
 * checked when it is bound, like --listen's.
 */
static int parse_listen_address(struct options *o, const char *s)
{
	char port[8];
	uint64_t v;

	if (s[0] == ':') {
		o->listen_buf[0] = '\0';
		if (parse_u64(s + 1, &v) || v < 1 || v > 65535)
			return -EINVAL;
		o->port = (uint16_t)v;
		return 0;
	}
	if (ipfix_split_target(s, o->listen_buf, sizeof(o->listen_buf), port,
			       sizeof(port)) ||
	    parse_u64(port, &v))
		return -EINVAL;
	o->port = (uint16_t)v;
	return 0;
}

#define BAD(...)                                                               \
	do {                                                                   \
		char msg_[512];                                                \
                                                                               \
		snprintf(msg_, sizeof(msg_), __VA_ARGS__);                     \
		log_fmsg(err, N_("error"), _("%s (see --help)\n"), msg_);      \
		return OPTIONS_BAD;                                            \
	} while (0)

enum options_result options_parse(struct options *o, int argc, char **argv,
				  FILE *out, FILE *err)
{
	const char *prog = "ip_traffic_monitor_cli";
	unsigned ipfix_flags = 0; /* --ipfix-* seen */
	bool port_flag = false, web_listen = false;
	char msg[256];
	uint64_t v;
	int c, ret;

	set_defaults(o);
	/* 0, not 1: glibc then also drops its cursor into the last argv. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:d:s:p:g:t:nvh", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 'i':
			if (add_ifaces(o, optarg, err))
				return OPTIONS_BAD;
			break;
		case 'd':
			/* The --db-keep-* parser: "300", "90s", "30m", "48h".
			 */
			if (parse_duration_s(optarg, &v))
				BAD(_("-d/--duration wants seconds or a duration (e.g. 90, 30m, 48h, 2d) from 0 (forever) to %llu seconds, got '%s'"),
				    MAX_DURATION_S, LOG_Q(optarg));
			o->duration_ms = v * 1000;
			break;
		case 's':
			if (parse_seconds_ms(optarg, &v) ||
			    v < MIN_INTERVAL_MS || v > MAX_INTERVAL_MS)
				BAD(_("-s/--sample-interval wants seconds from 0.01 to 86400, got '%s'"),
				    LOG_Q(optarg));
			o->interval_ms = v;
			break;
		case 'p':
			if (parse_u64(optarg, &v) || v < 1 || v > 65535)
				BAD(_("-p/--prometheus-port wants a port from 1 to 65535, got '%s'"),
				    LOG_Q(optarg));
			o->port = (uint16_t)v;
			port_flag = true;
			break;
		case 't':
			if (parse_bytes(optarg, &o->threshold))
				BAD(_("-t/--prometheus-export-threshold wants bytes (e.g. 1048576 or 10M), got '%s'"),
				    LOG_Q(optarg));
			break;
		case OPT_LISTEN:
			if (!optarg[0])
				BAD(_("--listen wants an IPv4 or IPv6 address"));
			o->listen_addr = optarg;
			break;
		case OPT_MAP_SIZE:
			if (parse_u64(optarg, &v) || v < 1 ||
			    v > MAX_MAP_ENTRIES)
				BAD(_("--map-size wants 1 to %u entries, got '%s'"),
				    MAX_MAP_ENTRIES, LOG_Q(optarg));
			o->map_entries = (uint32_t)v;
			break;
		case OPT_PIN_DIR:
			if (optarg[0] != '/')
				BAD(_("--pin-dir wants an absolute path, got '%s'"),
				    LOG_Q(optarg));
			o->pin_base = optarg;
			break;
		case OPT_TOP:
			if (parse_u64(optarg, &v) || v > 1000000)
				BAD(_("--top wants a number of rows (0 = all), got '%s'"),
				    LOG_Q(optarg));
			o->top_n = (size_t)v;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case 'n':
			o->no_dns = true;
			break;
		case OPT_NO_TUI:
			o->no_tui = true;
			break;
		case OPT_LIVE_SOCKET:
			if (optarg[0] != '/')
				BAD(_("--live-socket wants an absolute path, got '%s'"),
				    LOG_Q(optarg));
			o->live_socket = optarg;
			break;
		case OPT_LIVE_GROUP:
			if (!optarg[0])
				BAD(_("--live-group wants a group name or number"));
			o->live_group = optarg;
			break;
		case OPT_NO_SUMMARY:
			o->no_summary = true;
			break;
		case OPT_CLSACT:
			o->force_clsact = true;
			break;
		case OPT_XDP:
			o->xdp = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case OPT_NO_PID:
			o->no_pid = true;
			break;
		case OPT_MAX_TRACKED:
			if (parse_u64(optarg, &v) || v < 1 || v > MAX_TRACKED)
				BAD(_("--max-tracked wants 1 to %llu addresses, got '%s'"),
				    MAX_TRACKED, LOG_Q(optarg));
			o->max_tracked = (size_t)v;
			break;
		case OPT_PID_RETENTION:
			if (parse_seconds_ms(optarg, &o->pid_retention_ms))
				BAD(_("--pid-retention wants seconds, got '%s'"),
				    LOG_Q(optarg));
			break;
		case OPT_IPFIX: {
			char host[256], port[8];

			if (ipfix_split_target(optarg, host, sizeof(host), port,
					       sizeof(port)))
				BAD("--ipfix wants HOST:PORT or [IPV6]:PORT with a port from 1 to 65535, got '%s'",
				    optarg);
			o->ipfix = optarg;
			break;
		}
		case OPT_IPFIX_TRANSPORT:
			if (strcmp(optarg, "udp") && strcmp(optarg, "tcp"))
				BAD("--ipfix-transport wants udp or tcp, got '%s'",
				    optarg);
			o->ipfix_tcp = !strcmp(optarg, "tcp");
			ipfix_flags |= 1;
			break;
		case OPT_IPFIX_INTERVAL:
			if (parse_seconds_ms(optarg, &v) ||
			    v < MIN_INTERVAL_MS || v > MAX_INTERVAL_MS)
				BAD("--ipfix-interval wants seconds from 0.01 to 86400, got '%s'",
				    optarg);
			o->ipfix_interval_ms = v;
			ipfix_flags |= 2;
			break;
		case OPT_IPFIX_DOMAIN:
			if (parse_u64(optarg, &v) || v > UINT32_MAX)
				BAD("--ipfix-domain wants 0 to 4294967295, got '%s'",
				    optarg);
			o->ipfix_domain = (uint32_t)v;
			ipfix_flags |= 4;
			break;
		case OPT_IPFIX_REFRESH:
			if (parse_u64(optarg, &v) || v < 1 || v > 86400)
				BAD("--ipfix-template-refresh wants seconds from 1 to 86400, got '%s'",
				    optarg);
			o->ipfix_refresh_s = (uint32_t)v;
			ipfix_flags |= 8;
			break;
		case OPT_DB:
			if (!optarg[0])
				BAD(_("--db wants a file path"));
			o->db_path = optarg;
			break;
		case OPT_DB_INTERVAL:
			if (parse_u64(optarg, &v) || v < 1 || v > 3600 ||
			    3600 % v)
				BAD(_("--db-interval wants seconds that divide 3600 (e.g. 10, 60, 300), got '%s'"),
				    LOG_Q(optarg));
			o->db_interval = (uint32_t)v;
			break;
		case OPT_DB_KEEP_BUCKETS:
			if (parse_duration_s(optarg, &v) || v < 3600)
				BAD(_("--db-keep-buckets wants a duration of at least 1h (e.g. 48h, 2d), got '%s'"),
				    LOG_Q(optarg));
			o->db_keep_buckets = v;
			break;
		case OPT_DB_KEEP_HOURS:
			if (parse_duration_s(optarg, &v) || v < 86400)
				BAD(_("--db-keep-hours wants a duration of at least 1d (e.g. 90d), got '%s'"),
				    LOG_Q(optarg));
			o->db_keep_hours = v;
			break;
		case OPT_DB_KEEP_DAYS:
			if (parse_duration_s(optarg, &v) || (v && v < 86400))
				BAD(_("--db-keep-days wants 0 (forever) or a duration of at least 1d (e.g. 3650d), got '%s'"),
				    LOG_Q(optarg));
			o->db_keep_days = v;
			break;
		case OPT_DB_HOST:
			if (!optarg[0] || strlen(optarg) > 255)
				BAD("--db-host wants a name of 1 to 255 characters, got '%s'",
				    optarg);
			o->db_host = optarg;
			break;
		case OPT_KEEP_ATTACHED:
			o->keep_attached = true;
			break;
		case OPT_USER:
			if (!optarg[0])
				BAD(_("--user wants a user name"));
			o->user = optarg;
			break;
		case OPT_REATTACH:
			o->reattach = true;
			break;
		case OPT_WEB_CONFIG:
			if (!optarg[0])
				BAD(_("--web.config.file wants a path"));
			o->web_config = optarg;
			break;
		case OPT_WEB_LISTEN:
			if (parse_listen_address(o, optarg))
				BAD(_("--web.listen-address wants [ADDR]:PORT (e.g. :%u, 127.0.0.1:%u, [::1]:%u) with a port from 1 to 65535, got '%s'"),
				    ITM_DEFAULT_PORT, ITM_DEFAULT_PORT,
				    ITM_DEFAULT_PORT, LOG_Q(optarg));
			web_listen = true;
			break;
		case OPT_WEB_PATH:
			/* One path segment or more; no query, no fragment. */
			if (optarg[0] != '/' || !strcmp(optarg, "/") ||
			    strpbrk(optarg, "?#\"'<>&\\ \t\r\n"))
				BAD(_("--web.telemetry-path wants a path such as /metrics (not /), got '%s'"),
				    LOG_Q(optarg));
			o->telemetry_path = optarg;
			break;
		case OPT_WEB_MAX_REQUESTS:
			if (parse_u64(optarg, &v) || v > 65535)
				BAD(_("--web.max-requests wants 0 (no limit) to 65535 concurrent scrapes, got '%s'"),
				    LOG_Q(optarg));
			o->max_requests = (long)v;
			break;
		case OPT_WEB_SYSTEMD_SOCKET:
			o->systemd_socket = true;
			break;
		case OPT_LOG_LEVEL:
			ret = log_level_parse(optarg);
			if (ret < 0)
				BAD(_("--log.level wants debug, info, warn or error, got '%s'"),
				    LOG_Q(optarg));
			o->log_level = ret;
			break;
		case OPT_LOG_FORMAT:
			ret = log_format_parse(optarg);
			if (ret < 0)
				BAD(_("--log.format wants text, logfmt or json, got '%s'"),
				    LOG_Q(optarg));
			o->log_format = ret;
			break;
		case OPT_IFACE_LABEL:
			o->iface_label = true;
			break;
		case OPT_VERSION:
			fprintf(out, "%s %s\n", prog, ITM_VERSION);
			return OPTIONS_EXIT_OK;
		case 'h':
			options_usage(out, prog);
			return OPTIONS_EXIT_OK;
		case ':':
			BAD(_("option '%s' needs a value"),
			    LOG_Q(argv[optind - 1]));
		default:
			/* -g, --isp-db, --geoip-lang: shared with lookup */
			ret = geo_flags_take(&o->geo, c, optarg, msg,
					     sizeof(msg));
			if (ret < 0)
				BAD("%s", msg);
			if (ret)
				BAD(_("unknown option '%s'"),
				    LOG_Q(argv[optind - 1]));
		}
	}
	if (optind < argc)
		BAD(_("unexpected argument '%s'"), LOG_Q(argv[optind]));
	if (o->n_ifaces == 0)
		BAD(_("-i/--iface is required"));
	if (web_listen && (port_flag || o->listen_addr))
		BAD(_("--web.listen-address gives the address and the port: use it instead of -p/--prometheus-port and --listen, not with them"));
	if (web_listen)
		o->listen_addr = o->listen_buf[0] ? o->listen_buf : NULL;
	/* The exporter is on with a port to bind or a socket handed over. */
	bool exporter = o->port || o->systemd_socket;
	if (o->listen_addr && !o->port)
		BAD(_("--listen needs -p/--prometheus-port"));
	if (!exporter &&
	    (strcmp(o->telemetry_path, "/metrics") || o->max_requests >= 0))
		BAD(_("--web.telemetry-path and --web.max-requests need the exporter (-p, --web.listen-address or --web.systemd-socket)"));
	if (o->live_group && !o->live_socket)
		BAD(_("--live-group needs --live-socket"));
	if (o->reattach && !o->user)
		BAD(_("--reattach needs --user (as root an interface created again is always attached again)"));
	if (ipfix_flags && !o->ipfix)
		BAD(_("--ipfix-transport, --ipfix-interval, --ipfix-domain and --ipfix-template-refresh need --ipfix"));
	/* Restored totals are per address: no interface to give them. */
	if (o->iface_label && o->db_path)
		BAD(_("--iface-label does not go with --db yet: the history keeps no interface per address"));
	if (o->web_config && !exporter)
		BAD(_("--web.config.file needs -p/--prometheus-port"));
	return OPTIONS_OK;
}

int options_check_resources(const struct options *o, uint64_t ram_bytes,
			    unsigned int ncpus, FILE *err)
{
	uint64_t need = (uint64_t)o->map_entries * MAP_SLOT_BYTES(ncpus);

	if (!ram_bytes || need <= ram_bytes / MAP_RAM_SHARE)
		return 0;
	log_fmsg(
		err, "error",
		"--map-size %u needs about %.1f GiB of kernel memory (%llu bytes a slot on %u CPUs), more than an eighth of this machine's %.1f GiB; choose at most %llu\n",
		o->map_entries, need / 1073741824.0,
		(unsigned long long)MAP_SLOT_BYTES(ncpus), ncpus,
		ram_bytes / 1073741824.0,
		(unsigned long long)(ram_bytes / MAP_RAM_SHARE /
				     MAP_SLOT_BYTES(ncpus)));
	return -E2BIG;
}

/* SPDX-License-Identifier: MIT */
/* Command-line options: parsing and validation only (pure, unit-tested). */
#ifndef ITM_OPTIONS_H
#define ITM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "geo_flags.h"

#define ITM_MAX_IFACES 16
/*
 * The exporter's port in every example and shipped config: outside
 * Prometheus's default port allocations (9100-9999 is full), and not
 * Prometheus's own 9090.  -p stays required to turn the exporter on.
 */
#define ITM_DEFAULT_PORT     10749
#define ITM_DEFAULT_PIN_BASE "/sys/fs/bpf/ip_traffic_monitor"
/* Sized for a small host: ~30 MB per table at ~110 bytes an address. */
#define ITM_DEFAULT_MAX_TRACKED 262144

struct options {
	const char *ifaces[ITM_MAX_IFACES]; /* -i, repeatable or a,b */
	size_t n_ifaces;
	uint64_t duration_ms;	   /* -d seconds; 0 = until a signal */
	uint64_t interval_ms;	   /* -s seconds, fractions allowed */
	uint16_t port;		   /* -p; 0 = no exporter */
	const char *listen_addr;   /* --listen; NULL = all addresses */
	struct geo_flags geo;	   /* -g, --isp-db, --geoip-lang */
	uint64_t threshold;	   /* -t bytes */
	uint32_t map_entries;	   /* --map-size */
	size_t max_tracked;	   /* --max-tracked */
	const char *pin_base;	   /* --pin-dir */
	size_t top_n;		   /* --top */
	bool quiet;		   /* --quiet: no periodic table */
	bool no_summary;	   /* --no-summary: no final table */
	bool force_clsact;	   /* --clsact: skip tcx links */
	bool xdp;		   /* --xdp: rx counted at XDP */
	bool verbose;		   /* -v: libbpf debug output */
	bool no_pid;		   /* --no-pid: no process attribution */
	uint64_t pid_retention_ms; /* --pid-retention */
	bool no_dns;		 /* -n/--no-dns: no reverse DNS in the live view */
	bool no_tui;		 /* --no-tui: periodic table, not full screen */
	const char *live_socket; /* --live-socket PATH; NULL = none */
	const char *live_group;	 /* --live-group NAME|GID */
	const char *db_path;	 /* --db; NULL: no history store */
	uint32_t db_interval;	 /* --db-interval seconds */
	uint64_t db_keep_buckets; /* --db-keep-buckets seconds */
	uint64_t db_keep_hours;	  /* --db-keep-hours seconds */
	uint64_t db_keep_days;	  /* --db-keep-days seconds; 0 = forever */
	bool keep_attached;	  /* --keep-attached */
	const char *user;	  /* --user: drop to it after set-up */
	bool reattach;		  /* --reattach: also under --user */
	const char *web_config;	  /* --web.config.file */
	/* --web.listen-address [ADDR]:PORT: the address part, kept here */
	char listen_buf[64];
	const char *telemetry_path; /* --web.telemetry-path [/metrics] */
	long max_requests;	    /* --web.max-requests; -1: not given */
	bool systemd_socket;	    /* --web.systemd-socket */
	int log_level;		    /* --log.level (enum log_level) */
	int log_format;		    /* --log.format (enum log_format) */
	bool iface_label;	    /* --iface-label */
	const char *db_host;	    /* --db-host (PostgreSQL) */

	/* IPFIX export (user/export/ipfix.c) */
	const char *ipfix;	    /* --ipfix HOST:PORT; NULL = off */
	bool ipfix_tcp;		    /* --ipfix-transport tcp */
	uint64_t ipfix_interval_ms; /* --ipfix-interval */
	uint32_t ipfix_domain;	    /* --ipfix-domain */
	uint32_t ipfix_refresh_s;   /* --ipfix-template-refresh */
};

enum options_result {
	OPTIONS_OK,
	OPTIONS_EXIT_OK, /* --help / --version printed */
	OPTIONS_BAD,	 /* message printed on err; exit status 2 */
};

/* Writes help/version to out and one error line to err. */
enum options_result options_parse(struct options *o, int argc, char **argv,
				  FILE *out, FILE *err);
void options_usage(FILE *out, const char *prog);
/*
 * What the options ask of this machine: -E2BIG (and one line on err) when
 * --map-size would take more than an eighth of ram_bytes in kernel memory.
 */
int options_check_resources(const struct options *o, uint64_t ram_bytes,
			    unsigned int ncpus, FILE *err);

#endif

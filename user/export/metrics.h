/* SPDX-License-Identifier: MIT */
/* Prometheus text format 0.0.4 rendering: a pure function of its input. */
#ifndef ITM_METRICS_H
#define ITM_METRICS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel_features.h"
#include "procstat.h"
#include "itm_shared.h"
#include "strbuf.h"
#include "table.h"

/* Cumulative kernel counters of one monitored interface. */
struct iface_stats {
	char name[IF_NAMESIZE];
	struct itm_counter ctr[ITM_CTR_MAX];
	bool attached;	     /* false while the interface is gone */
	uint64_t reattached; /* attached again after it came back */
	/*
	 * Kernel map fill: the most slots the map held at a drain since the
	 * previous sample interval began, and how many it has (--map-size).
	 */
	uint64_t map_entries;
	uint64_t map_capacity;
	/*
	 * --xdp with attribution: received traffic TC ingress attributed to
	 * a process that stayed under pid 0 (bpf/traffic.bpf.c: move_rx()).
	 */
	struct itm_counter xdp_missed;
};

/* What the export sinks (IPFIX) delivered, summed over them. */
struct export_delivery {
	uint64_t records; /* data records sent (resent ones again) */
	uint64_t lost;	  /* data records counted as not delivered */
	uint64_t resent;  /* records sent again after a reconnect (TCP) */
};

struct metrics_input {
	const struct ip_table *table; /* exported entries have ->exported */
	const struct ip_table *procs; /* per (address, pid); NULL: none */
	const struct iface_stats *ifaces;
	size_t n_ifaces;
	const char *version;
	double start_time_seconds;	     /* unix time the monitor started */
	const struct itm_features *features; /* NULL: not rendered */
	/* More build_info labels, after version; NULL: left out. */
	const char *libbpf_version;
	const char *kernel;
	/* The process_* families of the client libraries; NULL: none. */
	const struct proc_stats *process;
	/* Seconds the last drain of the kernel maps took, if have_drain. */
	bool have_drain;
	double last_drain_seconds;
	/*
	 * --iface-label: n_ifaces tables of the same traffic by interface
	 * (ifaces[i] names table i), each with its own threshold, from which
	 * the per-address families are exported with an iface label; the
	 * evicted and below-threshold families then sum them.  NULL: the
	 * per-address families come from table.
	 */
	const struct ip_table *const *iface_tables;
	/* --db: what waits for its commit (persist_backlog()). */
	bool have_backlog;
	uint64_t backlog_rows;
	uint64_t backlog_bytes;
	const struct export_delivery *ipfix; /* NULL: no --ipfix */
};

/* Append label value v escaped per the exposition format (\\, \", \n). */
int metrics_escape_label(struct strbuf *out, const char *v);
/*
 * Append the whole exposition to out.  The caller appends the scrape
 * duration itself (see metrics_render_scrape_duration) because only it
 * knows when the scrape started.  Returns 0 or -ENOMEM.
 */
int metrics_render(const struct metrics_input *in, struct strbuf *out);

/*
 * What one scrape sends, copied under the collector's lock and then
 * streamed without it: the label blocks and counters of the exported
 * series only (about 40 bytes plus the label text each), and the small
 * families rendered whole.  A scrape's memory follows what it returns,
 * never the number of tracked addresses.
 */
struct metrics_snapshot;
/* NULL with errno set (ENOMEM). */
struct metrics_snapshot *metrics_snapshot_take(const struct metrics_input *in);
/*
 * Another reader of the same data, from the start (the data is shared,
 * reference-counted, and freed with its last reader).  NULL: ENOMEM.
 */
struct metrics_snapshot *metrics_snapshot_dup(const struct metrics_snapshot *s);
/* Append ip_traffic_scrape_duration_seconds at the end (before any dup). */
void metrics_snapshot_set_duration(struct metrics_snapshot *s, double seconds);
/*
 * Append the next part of the exposition, about want bytes (at least one
 * line).  Returns 1 while more follows, 0 at the end, or -ENOMEM.
 */
int metrics_snapshot_read(struct metrics_snapshot *s, struct strbuf *out,
			  size_t want);
/* Bytes the snapshot holds (for the benchmarks). */
size_t metrics_snapshot_size(const struct metrics_snapshot *s);
void metrics_snapshot_free(struct metrics_snapshot *s);
int metrics_render_scrape_duration(struct strbuf *out, double seconds);

#endif

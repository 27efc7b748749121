/* SPDX-License-Identifier: MIT */
/*
 * IPFIX export (RFC 7011) of the per-interval deltas: per flush, one
 * record per remote address and direction seen on each interface, and one
 * per non-zero overflow/non-IP/malformed aggregate.  Messages are built by
 * libfixbuf; user/export/ipfix_net.c carries them over UDP or TCP.  The record
 * layout is documented in docs/ipfix.md.
 */
#ifndef ITM_IPFIX_H
#define ITM_IPFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "itm_shared.h"

struct ipfix_exporter;
struct geo_labels;
struct in6_addr;

#define IPFIX_DEFAULT_REFRESH_S 600 /* RFC 6728 templateRefreshTimeout */

struct ipfix_config {
	const char *target; /* HOST:PORT or [V6]:PORT */
	bool tcp;
	uint32_t domain;	   /* observation domain id */
	uint32_t template_refresh; /* seconds between UDP template re-sends */
	const int *ifindex;	   /* per monitored interface */
	size_t n_ifaces;
	size_t mtu;	   /* largest message; 0: 1400 (UDP) or 65000 (TCP) */
	uint64_t start_ms; /* unix ms the first interval starts (counting began)
			    */
	/*
	 * The labels of a remote address, for its AS number; called from
	 * the sink callbacks, so under the collector's lock like the
	 * collector's own lookups.  NULL: AS numbers are 0 (unknown).
	 */
	const struct geo_labels *(*label)(void *ctx,
					  const struct in6_addr *addr);
	void *label_ctx;
};

struct ipfix_stats {
	uint64_t flushes;
	uint64_t records;   /* data records handed to the transport */
	uint64_t messages;  /* messages sent */
	uint64_t bytes;	    /* IPFIX bytes sent (no UDP/IP headers) */
	uint64_t lost;	    /* data records not delivered (send failed) */
	uint64_t templates; /* template messages sent */
	uint64_t resent;    /* records written again after a reconnect (TCP) */
};

/* Prints one line and returns -errno on a bad target or no memory. */
int ipfix_exporter_new(const struct ipfix_config *cfg,
		       struct ipfix_exporter **out);
/* Accepts NULL. */
void ipfix_exporter_free(struct ipfix_exporter *x);

/* The collector_sink callbacks (ctx is the exporter). */
void ipfix_sink_delta(void *ctx, size_t iface, const struct itm_key *k,
		      const struct itm_value *d);
void ipfix_sink_counters(void *ctx, size_t iface,
			 const struct itm_counter ctr[ITM_CTR_MAX],
			 bool baseline);

/*
 * Export everything accumulated since the previous flush as the interval
 * ending at unix time now_ms.  Delivery failures are logged once per
 * condition and counted in ipfix_stats.lost; the return value is 0 or
 * -errno of the last failure.
 */
int ipfix_exporter_flush(struct ipfix_exporter *x, uint64_t now_ms);
void ipfix_exporter_stats(struct ipfix_exporter *x, struct ipfix_stats *st);

/*
 * At exit, after the last flush: wait at most timeout_ms for the
 * collector to acknowledge what was written (TCP), then count every
 * record it did not acknowledge, or that could not be sent, as not
 * delivered (one warning; each record at debug level).  Returns 0 when
 * everything was delivered, -EIO otherwise.
 */
int ipfix_exporter_finish(struct ipfix_exporter *x, int timeout_ms);

/*
 * --db: export what the store committed (its outbox), not each drain's
 * deltas.  Flushes then span whole commits, from the end of the previous
 * flush (pos_ts_ms, the collector's stored position, for the first) to
 * the last commit they hold; when the collector has a flush (UDP: sent;
 * TCP: acknowledged) acked(ctx, seq, ts) reports its last commit.  Call
 * before the first commit is handed over.
 */
void ipfix_exporter_use_outbox(struct ipfix_exporter *x, int64_t pos_ts_ms,
			       void (*acked)(void *ctx, uint64_t seq,
					     int64_t ts_ms),
			       void *ctx);
/* The collector_sink committed callback (ctx is the exporter). */
struct store_outbox_rec;
void ipfix_sink_committed(void *ctx, size_t iface, uint64_t seq, int64_t ts_ms,
			  const struct store_outbox_rec *recs, size_t n);

/* The collector_sink delivery callback: add this exporter's counters. */
struct export_delivery;
void ipfix_sink_delivery(void *ctx, struct export_delivery *d);

#endif

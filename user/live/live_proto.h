/* SPDX-License-Identifier: MIT */
/*
 * The live socket's stream format (version 1), spoken by the daemon to
 * `ip_traffic_monitor_cli top`.  UTF-8 text, one record per line, fields
 * separated by tabs; "\\", "\t", "\n" and "\r" escape those characters in
 * text fields.  Readers ignore record types and trailing fields they do
 * not know, so later versions can add both.
 *
 *   ITM-LIVE <version>                       first line
 *   H <interval_ms> <start_unix> <exporter> <ifaces>
 *   F <seq> <monotonic_ns> <full>            a frame begins; full=1: replace
 *   A <addr> <tx_bytes> <tx_pkts> <rx_bytes> <rx_pkts> <label>...
 *                                            an address, cumulative; one
 *     label per geo_label_defs[] row (country province city isp asn)
 *   P <addr> <pid> <comm> <tx_bytes> <tx_pkts> <rx_bytes> <rx_pkts>
 *   D <addr> <pid>                           that (address, pid) row is gone
 *   E                                        the frame is complete
 *   ERR <message>                            the daemon refuses; it closes
 *
 * A frame carries only the rows that changed since the previous one, with
 * their cumulative counters; the first frame a viewer gets is full.
 * Empty labels mean "Unknown".  See docs/live-protocol.md.
 */
#ifndef ITM_LIVE_PROTO_H
#define ITM_LIVE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "table.h"

#define LIVE_PROTO_MAGIC   "ITM-LIVE"
#define LIVE_PROTO_VERSION 1
/* A longer line is a broken stream, not data. */
#define LIVE_LINE_MAX 4096

struct live_info {
	uint64_t interval_ms;
	uint64_t start_unix;
	char exporter[80]; /* "" when there is none */
	char ifaces[256];  /* comma-separated */
};

int live_encode_hello(struct strbuf *out, const struct live_info *info);

/* What the viewers were last sent, to send only what changed. */
struct live_shadow {
	struct ip_table addrs, procs;
	bool have_procs;
	uint64_t seq;
};

int live_shadow_init(struct live_shadow *s);
void live_shadow_free(struct live_shadow *s);
/*
 * One frame with the rows of addrs and procs (NULL: none) that differ from
 * the shadow, which then matches them.  ns: monotonic time of the data.
 */
int live_encode_delta(struct live_shadow *s, const struct ip_table *addrs,
		      const struct ip_table *procs, uint64_t ns,
		      struct strbuf *out);
/* One full frame of everything in the shadow (for a new viewer). */
int live_encode_full(const struct live_shadow *s, uint64_t ns,
		     struct strbuf *out);

/* The viewer's copy of the daemon's tables, kept by decoding the stream. */
struct live_replica {
	struct ip_table addrs, procs;
	bool have_procs;
	struct live_info info;
	int version; /* 0 until the first line */
	bool have_info;
	bool in_frame;
	uint64_t seq;
	uint64_t ns; /* time of the last complete frame */
	uint64_t frames;
	char line[LIVE_LINE_MAX + 1];
	size_t line_len;
};

int live_replica_init(struct live_replica *r);
void live_replica_free(struct live_replica *r);
/*
 * Decode len bytes.  Returns how many frames completed (the tables are
 * consistent after each), or -EPROTO/-ENOMEM with a message in err, or
 * -EACCES when the daemon refused with an ERR record (message in err).
 */
int live_replica_feed(struct live_replica *r, const char *data, size_t len,
		      char *err, size_t err_len);

#endif

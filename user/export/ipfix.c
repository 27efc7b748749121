// SPDX-License-Identifier: MIT
/*
 * Between flushes the collector's sink callbacks add every drained delta
 * into per-interface "pending" tables (under the exporter's own lock: the
 * callbacks run on whichever thread drains).  A flush swaps the pending
 * tables out and, outside any lock the scrape path needs, turns them into
 * records.  Each drained byte is therefore in exactly one flush.
 *
 * Records leave the remote address on the side the packet went to or
 * came from (destination for tx, source for rx) and leave the local side
 * out: the key the kernel counts by has no local address, and the
 * exporter's address and observation domain already say which host it is.
 */
#include "ipfix.h"

#include <errno.h>
#include <fixbuf/public.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "clock.h"
#include "geo_labels.h"
#include "i18n.h"
#include "ipfix_net.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "table.h"

enum tid {
	TID_V4_TX = 256,
	TID_V4_RX,
	TID_V6_TX,
	TID_V6_RX,
	TID_OTHER,
	TID_END,
};

/* IANA flowDirection */
#define DIR_INGRESS 0
#define DIR_EGRESS  1

#define PAD 1 /* spec flag: in the internal (struct) template only */

struct rec_v4 {
	uint64_t start_ms, end_ms, octets, packets;
	uint32_t addr; /* host order: fixbuf converts */
	uint32_t ifindex;
	uint32_t as; /* the remote address's AS; 0: unknown */
	uint8_t dir;
	uint8_t pad[3];
};

struct rec_v6 {
	uint8_t addr[16];
	uint64_t start_ms, end_ms, octets, packets;
	uint32_t ifindex;
	uint32_t as;
	uint8_t dir;
	uint8_t pad[7];
};

struct rec_other {
	uint64_t start_ms, end_ms, octets, packets;
	uint32_t src, dst; /* 0.0.0.0 */
	uint32_t in_if, out_if;
	uint8_t proto; /* other_proto[kind] */
	uint8_t dir;
	uint8_t pad[6];
	fbVarfield_t kind;
};

#define SPEC_TIMES_COUNTS                                                      \
	{"flowStartMilliseconds", 8, 0}, {"flowEndMilliseconds", 8, 0},        \
		{"octetDeltaCount", 8, 0},                                     \
	{                                                                      \
		"packetDeltaCount", 8, 0                                       \
	}

/*
 * The remote side's AS number goes with the remote address: IE 17
 * bgpDestinationAsNumber on tx records, IE 16 bgpSourceAsNumber on rx
 * ones, taken from the asn label (0 when no database knows it).
 */
static fbInfoElementSpec_t spec_v4_tx[] = {
	SPEC_TIMES_COUNTS,
	{"destinationIPv4Address", 4, 0},
	{"egressInterface", 4, 0},
	{"bgpDestinationAsNumber", 4, 0},
	{"flowDirection", 1, 0},
	{"paddingOctets", 3, PAD},
	FB_IESPEC_NULL,
};
static fbInfoElementSpec_t spec_v4_rx[] = {
	SPEC_TIMES_COUNTS,
	{"sourceIPv4Address", 4, 0},
	{"ingressInterface", 4, 0},
	{"bgpSourceAsNumber", 4, 0},
	{"flowDirection", 1, 0},
	{"paddingOctets", 3, PAD},
	FB_IESPEC_NULL,
};
static fbInfoElementSpec_t spec_v6_tx[] = {
	{"destinationIPv6Address", 16, 0},
	SPEC_TIMES_COUNTS,
	{"egressInterface", 4, 0},
	{"bgpDestinationAsNumber", 4, 0},
	{"flowDirection", 1, 0},
	{"paddingOctets", 7, PAD},
	FB_IESPEC_NULL,
};
static fbInfoElementSpec_t spec_v6_rx[] = {
	{"sourceIPv6Address", 16, 0},
	SPEC_TIMES_COUNTS,
	{"ingressInterface", 4, 0},
	{"bgpSourceAsNumber", 4, 0},
	{"flowDirection", 1, 0},
	{"paddingOctets", 7, PAD},
	FB_IESPEC_NULL,
};
/*
 * Traffic without a per-address record, as an IPv4 flow from 0.0.0.0 to
 * 0.0.0.0 whose protocolIdentifier names the kind (other_proto).  Flows
 * without any address are not traffic to pmacct: nfacctd parses the
 * template and drops every record (its flow type needs an IPv4 or IPv6
 * address element), so the aggregates carry both addresses, and a number
 * every collector stores (nfdump's proto, pmacct's proto, goflow2's and
 * Akvorado's Proto) tells the kinds apart; the three are protocol
 * numbers that name no protocol in use.  applicationName repeats the kind as
 * text for collectors that keep strings.  Octets are IP bytes for
 * overflow and frame bytes for the other two, as in the Prometheus
 * counters.
 */
static fbInfoElementSpec_t spec_other[] = {
	SPEC_TIMES_COUNTS,
	{"sourceIPv4Address", 4, 0},
	{"destinationIPv4Address", 4, 0},
	{"ingressInterface", 4, 0},
	{"egressInterface", 4, 0},
	{"protocolIdentifier", 1, 0},
	{"flowDirection", 1, 0},
	{"paddingOctets", 6, PAD},
	{"applicationName", FB_IE_VARLEN, 0},
	FB_IESPEC_NULL,
};

static const struct {
	enum tid tid;
	fbInfoElementSpec_t *spec;
	size_t size;
} templates[] = {
	{TID_V4_TX, spec_v4_tx, sizeof(struct rec_v4)},
	{TID_V4_RX, spec_v4_rx, sizeof(struct rec_v4)},
	{TID_V6_TX, spec_v6_tx, sizeof(struct rec_v6)},
	{TID_V6_RX, spec_v6_rx, sizeof(struct rec_v6)},
	{TID_OTHER, spec_other, sizeof(struct rec_other)},
};

static const char *const other_names[] = {"non_ip", "malformed", "overflow"};

/*
 * protocolIdentifier of each kind, in the order of other_names: 253 and
 * 254 are IANA's experimentation numbers (RFC 3692), 255 is reserved.
 */
static const uint8_t other_proto[] = {253, 254, 255};

/* ITM_CTR_* pairs (tx, rx) in the order of other_names. */
static const int other_idx[3][2] = {
	{ITM_CTR_NON_IP_TX, ITM_CTR_NON_IP_RX},
	{ITM_CTR_MALFORMED_TX, ITM_CTR_MALFORMED_RX},
	{ITM_CTR_OVERFLOW_TX, ITM_CTR_OVERFLOW_RX},
};

struct pending_iface {
	struct ip_table addrs;		      /* deltas by remote address */
	struct itm_counter seen[ITM_CTR_MAX]; /* kernel, latest drain */
	struct itm_counter sent[ITM_CTR_MAX]; /* kernel, at the last flush */
};

struct ipfix_exporter {
	pthread_mutex_t lock; /* guards pending, other, interval_start */
	bool lock_ready;
	struct pending_iface *pending;
	struct ip_table *flushing; /* swapped-out tables, one per iface */
	struct itm_counter (*other)[ITM_CTR_MAX]; /* deltas of this flush */
	size_t n_ifaces;
	int *ifindex;
	const struct geo_labels *(*label)(void *ctx,
					  const struct in6_addr *addr);
	void *label_ctx;
	uint64_t interval_start_ms;
	int add_err; /* ENOMEM while accumulating (logged once) */

	struct ipfix_net net;
	bool tcp;
	uint32_t refresh_s;
	double templates_at; /* monotonic start of the flush that sent them */
	double flushed_at;   /* monotonic start of the previous flush */
	bool templates_due;

	fbInfoModel_t *model;
	fbSession_t *session;
	fbExporter_t *exporter;
	fBuf_t *fbuf;
	uint8_t *msg; /* the buffer exporter copies each message here */
	size_t mtu;
	bool dirty;	/* fbuf holds an unsent message */
	bool send_fail; /* a send of this flush failed */
	size_t unsent;	/* records appended since the last emit */
	uint16_t cur_tid;
	struct ipfix_stats st;
	/* The records of the message being built (kept until acknowledged). */
	struct ipfix_note *notes;
	size_t n_notes, notes_cap;
	struct ipfix_stats pub; /* st as of the last flush, under lock */
	/*
	 * --db: fed by commits.  pend_*: the last commit in pending (under
	 * lock); flush_*: the last one in the flush being delivered;
	 * acked_seq: the last reported to acked().
	 */
	bool outbox;
	uint64_t pend_seq, flush_seq, acked_seq;
	int64_t pend_ts, flush_ts;
	void (*acked)(void *ctx, uint64_t seq, int64_t ts_ms);
	void *acked_ctx;
};

void ipfix_sink_delta(void *ctx, size_t iface, const struct itm_key *k,
		      const struct itm_value *d)
{
	struct ipfix_exporter *x = ctx;
	struct ip_entry *e;
	struct in6_addr a;

	if (x->outbox)
		return; /* the commits bring them */
	memcpy(&a, k->addr, sizeof(a));
	pthread_mutex_lock(&x->lock);
	e = ip_table_upsert(&x->pending[iface].addrs, &a);
	if (e) {
		ip_entry_account(&x->pending[iface].addrs, e, d);
		/* interned by the geo layer: valid until after we are freed */
		if (!e->geo && x->label)
			e->geo = x->label(x->label_ctx, &a);
	} else if (!x->add_err) {
		x->add_err = -ENOMEM;
		pr_warn("IPFIX: out of memory; some records of this interval are lost\n");
	}
	pthread_mutex_unlock(&x->lock);
}

void ipfix_sink_counters(void *ctx, size_t iface,
			 const struct itm_counter ctr[ITM_CTR_MAX],
			 bool baseline)
{
	struct ipfix_exporter *x = ctx;
	struct pending_iface *p = &x->pending[iface];

	if (x->outbox)
		return;
	pthread_mutex_lock(&x->lock);
	memcpy(p->seen, ctr, sizeof(p->seen));
	/* Counted before we started: not this exporter's to report. */
	if (baseline)
		memcpy(p->sent, ctr, sizeof(p->sent));
	pthread_mutex_unlock(&x->lock);
}

static int add_template(struct ipfix_exporter *x, size_t i, GError **gerr)
{
	fbTemplate_t *in = fbTemplateAlloc(x->model);
	fbTemplate_t *ex = fbTemplateAlloc(x->model);

	/* Internal = the struct (with padding); external = the wire. */
	if (!fbTemplateAppendSpecArray(in, templates[i].spec, PAD, gerr) ||
	    !fbTemplateAppendSpecArray(ex, templates[i].spec, 0, gerr) ||
	    !fbSessionAddTemplate(x->session, TRUE, templates[i].tid, in,
				  gerr)) {
		fbTemplateFreeUnused(in);
		fbTemplateFreeUnused(ex);
		return -EINVAL;
	}
	/* The session owns `in` now. */
	if (!fbSessionAddTemplate(x->session, FALSE, templates[i].tid, ex,
				  gerr)) {
		fbTemplateFreeUnused(ex);
		return -EINVAL;
	}
	return 0;
}

static int fixbuf_init(struct ipfix_exporter *x, uint32_t domain)
{
	GError *gerr = NULL;

	x->msg = calloc(1, x->mtu);
	if (!x->msg)
		return -ENOMEM;
	x->model = fbInfoModelAlloc();
	x->session = fbSessionAlloc(x->model);
	fbSessionSetDomain(x->session, domain);
	/* Before the buffer exists, so adding does not export them yet. */
	for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++) {
		if (add_template(x, i, &gerr)) {
			pr_err("IPFIX: template %u: %s\n", templates[i].tid,
			       gerr ? gerr->message : "?");
			g_clear_error(&gerr);
			return -EINVAL;
		}
	}
	x->exporter = fbExporterAllocBuffer(x->msg, (uint16_t)x->mtu);
	x->fbuf = fBufAllocForExport(x->session, x->exporter);
	/* Manual mode: each full message is sent before the next starts. */
	fBufSetAutomaticMode(x->fbuf, FALSE);
	return 0;
}

int ipfix_exporter_new(const struct ipfix_config *cfg,
		       struct ipfix_exporter **out)
{
	struct ipfix_exporter *x;
	int err = -ENOMEM;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->net.fd = -1;
	x->n_ifaces = cfg->n_ifaces;
	x->tcp = cfg->tcp;
	x->refresh_s = cfg->template_refresh;
	x->templates_due = true;
	x->mtu = cfg->mtu ? cfg->mtu : cfg->tcp ? 65000 : 1400;
	x->pending = calloc(cfg->n_ifaces, sizeof(*x->pending));
	x->flushing = calloc(cfg->n_ifaces, sizeof(*x->flushing));
	x->other = calloc(cfg->n_ifaces, sizeof(*x->other));
	x->ifindex = calloc(cfg->n_ifaces, sizeof(*x->ifindex));
	if (!x->pending || !x->flushing || !x->other || !x->ifindex)
		goto err;
	for (size_t i = 0; i < cfg->n_ifaces; i++) {
		x->ifindex[i] = cfg->ifindex[i];
		if (ip_table_init(&x->pending[i].addrs, 0) ||
		    ip_table_init(&x->flushing[i], 0))
			goto err;
	}
	err = -pthread_mutex_init(&x->lock, NULL);
	if (err)
		goto err;
	x->lock_ready = true;
	err = fixbuf_init(x, cfg->domain);
	if (err)
		goto err;
	err = ipfix_net_open(&x->net, cfg->target, cfg->tcp);
	if (err)
		goto err;
	x->interval_start_ms = cfg->start_ms;
	x->label = cfg->label;
	x->label_ctx = cfg->label_ctx;
	*out = x;
	return 0;
err:
	if (err == -ENOMEM)
		pr_err("IPFIX: out of memory\n");
	ipfix_exporter_free(x);
	return err;
}

void ipfix_exporter_free(struct ipfix_exporter *x)
{
	if (!x)
		return;
	ipfix_net_close(&x->net);
	/* fBufFree frees the session and the exporter with it. */
	if (x->fbuf)
		fBufFree(x->fbuf);
	else if (x->session)
		fbSessionFree(x->session);
	if (x->model)
		fbInfoModelFree(x->model);
	for (size_t i = 0; x->pending && i < x->n_ifaces; i++)
		ip_table_free(&x->pending[i].addrs);
	for (size_t i = 0; x->flushing && i < x->n_ifaces; i++)
		ip_table_free(&x->flushing[i]);
	free(x->pending);
	free(x->flushing);
	free(x->other);
	free(x->ifindex);
	free(x->msg);
	free(x->notes);
	if (x->lock_ready)
		pthread_mutex_destroy(&x->lock);
	free(x);
}

/* Send the message fbuf holds, if any. */
static int emit(struct ipfix_exporter *x)
{
	GError *gerr = NULL;
	size_t len;
	int err;

	if (!x->dirty)
		return 0;
	x->dirty = false;
	if (!fBufEmit(x->fbuf, &gerr)) {
		pr_warn("IPFIX: cannot finish a message: %s\n", gerr->message);
		g_clear_error(&gerr);
		x->st.lost += x->unsent;
		x->unsent = 0;
		x->n_notes = 0;
		return -EIO;
	}
	len = fbExporterGetMsgLen(x->exporter);
	/*
	 * Data messages over TCP stay queued with their records until the
	 * collector acknowledges them (a failed connection keeps them for
	 * the next one); templates go again on every new connection.
	 */
	if (x->unsent)
		err = ipfix_net_send_data(&x->net, x->msg, len, x->notes,
					  x->n_notes);
	else
		err = ipfix_net_send(&x->net, x->msg, len);
	x->n_notes = 0;
	if (err) {
		x->send_fail = true;
		x->templates_due = true;
		x->st.lost += x->unsent;
	} else {
		x->st.messages++;
		x->st.bytes += len;
		x->st.records += x->unsent;
	}
	x->unsent = 0;
	return err;
}

static bool eom(GError *gerr)
{
	return g_error_matches(gerr, FB_ERROR_DOMAIN, FB_ERROR_EOM);
}

/* What a record says, for counting it if it is never acknowledged. */
static void note_of(uint16_t tid, const void *rec, struct ipfix_note *n)
{
	memset(n, 0, sizeof(*n));
	if (tid == TID_V4_TX || tid == TID_V4_RX) {
		const struct rec_v4 *r = rec;
		uint32_t be = htonl(r->addr);

		n->addr[10] = n->addr[11] = 0xff;
		memcpy(&n->addr[12], &be, sizeof(be));
		n->bytes = r->octets;
		n->packets = r->packets;
		n->ifindex = r->ifindex;
		n->tx = tid == TID_V4_TX;
	} else if (tid == TID_V6_TX || tid == TID_V6_RX) {
		const struct rec_v6 *r = rec;

		memcpy(n->addr, r->addr, sizeof(n->addr));
		n->bytes = r->octets;
		n->packets = r->packets;
		n->ifindex = r->ifindex;
		n->tx = tid == TID_V6_TX;
	} else if (tid == TID_OTHER) {
		const struct rec_other *r = rec;

		n->bytes = r->octets;
		n->packets = r->packets;
		n->ifindex = r->out_if ? r->out_if : r->in_if;
		n->tx = r->dir == DIR_EGRESS;
	}
}

static int reserve_note(struct ipfix_exporter *x)
{
	size_t cap = x->notes_cap ? x->notes_cap * 2 : 256;
	struct ipfix_note *n;

	if (x->n_notes < x->notes_cap)
		return 0;
	n = realloc(x->notes, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	x->notes = n;
	x->notes_cap = cap;
	return 0;
}

static int append(struct ipfix_exporter *x, uint16_t tid, void *rec,
		  size_t size)
{
	GError *gerr = NULL;

	if (reserve_note(x)) {
		pr_warn("IPFIX: out of memory; a record is not delivered\n");
		x->st.lost++;
		return -ENOMEM;
	}
	for (int tries = 0; tries < 2; tries++) {
		if (tid != x->cur_tid) {
			if (!fBufSetInternalTemplate(x->fbuf, tid, &gerr) ||
			    !fBufSetExportTemplate(x->fbuf, tid, &gerr))
				break;
			x->cur_tid = tid;
		}
		if (fBufAppend(x->fbuf, rec, size, &gerr)) {
			x->dirty = true;
			x->unsent++;
			note_of(tid, rec, &x->notes[x->n_notes++]);
			return 0;
		}
		if (!eom(gerr))
			break;
		/* The message is full: send it, start the next. */
		g_clear_error(&gerr);
		emit(x);
		x->cur_tid = 0; /* a new message opens a new data set */
	}
	pr_warn("IPFIX: cannot add a record: %s\n",
		gerr ? gerr->message : "message too small");
	g_clear_error(&gerr);
	x->st.lost++;
	return -EIO;
}

static int send_templates(struct ipfix_exporter *x, double now)
{
	GError *gerr = NULL;
	int err;

	emit(x);
	/*
	 * In manual mode fixbuf first answers EOM to close the message in
	 * progress; the second call starts a template message.
	 */
	for (int tries = 0;; tries++) {
		if (fbSessionExportTemplates(x->session, &gerr))
			break;
		if (tries || !eom(gerr)) {
			pr_warn("IPFIX: cannot write the templates: %s\n",
				gerr->message);
			g_clear_error(&gerr);
			return -EIO;
		}
		g_clear_error(&gerr);
		emit(x);
	}
	x->dirty = true;
	x->cur_tid = 0;
	/*
	 * Templates in a message of their own: a collector that lost the
	 * first data message still learns them.
	 */
	err = emit(x);
	if (!err) {
		x->st.templates++;
		x->templates_at = now;
		x->templates_due = false;
	}
	return err;
}

static void put_addr(struct ipfix_exporter *x, size_t iface,
		     const struct ip_entry *e, bool tx, uint64_t start,
		     uint64_t end)
{
	uint64_t octets = tx ? e->tx_bytes : e->rx_bytes;
	uint64_t packets = tx ? e->tx_packets : e->rx_packets;
	uint32_t as = geo_asn_number(e->geo ? e->geo->asn : NULL);

	if (!octets && !packets)
		return;
	if (IN6_IS_ADDR_V4MAPPED(&e->addr)) {
		struct rec_v4 r = {
			.start_ms = start,
			.end_ms = end,
			.octets = octets,
			.packets = packets,
			.ifindex = (uint32_t)x->ifindex[iface],
			.as = as,
			.dir = tx ? DIR_EGRESS : DIR_INGRESS,
		};
		uint32_t be;

		memcpy(&be, &e->addr.s6_addr[12], sizeof(be));
		r.addr = ntohl(be);
		append(x, tx ? TID_V4_TX : TID_V4_RX, &r, sizeof(r));
	} else {
		struct rec_v6 r = {
			.start_ms = start,
			.end_ms = end,
			.octets = octets,
			.packets = packets,
			.ifindex = (uint32_t)x->ifindex[iface],
			.as = as,
			.dir = tx ? DIR_EGRESS : DIR_INGRESS,
		};

		memcpy(r.addr, &e->addr, sizeof(r.addr));
		append(x, tx ? TID_V6_TX : TID_V6_RX, &r, sizeof(r));
	}
}

static void put_other(struct ipfix_exporter *x, size_t iface,
		      const struct itm_counter *d, size_t kind, bool tx,
		      uint64_t start, uint64_t end)
{
	struct rec_other r = {
		.start_ms = start,
		.end_ms = end,
		.octets = d->bytes,
		.packets = d->packets,
		.kind = {strlen(other_names[kind]),
			 (uint8_t *)other_names[kind]},
		.in_if = tx ? 0 : (uint32_t)x->ifindex[iface],
		.out_if = tx ? (uint32_t)x->ifindex[iface] : 0,
		.proto = other_proto[kind],
		.dir = tx ? DIR_EGRESS : DIR_INGRESS,
	};

	if (d->bytes || d->packets)
		append(x, TID_OTHER, &r, sizeof(r));
}

/* Under the lock: hand this interval's deltas to the flush. */
static void take_pending(struct ipfix_exporter *x)
{
	for (size_t i = 0; i < x->n_ifaces; i++) {
		struct pending_iface *p = &x->pending[i];
		struct ip_table t = x->flushing[i];

		x->flushing[i] = p->addrs;
		p->addrs = t; /* emptied after the flush */
		for (int k = 0; k < ITM_CTR_MAX; k++) {
			x->other[i][k].bytes =
				p->seen[k].bytes - p->sent[k].bytes;
			x->other[i][k].packets =
				p->seen[k].packets - p->sent[k].packets;
			p->sent[k] = p->seen[k];
		}
	}
	x->add_err = 0;
}

/*
 * UDP template refresh: with the flush nearest to refresh_s after the
 * flush that last carried them.  Both times are taken when a flush starts,
 * so the work of a flush (connecting, encoding) does not push the next
 * refresh back; and flushes happen after the drain that reaches their
 * deadline, a little later or earlier each time, so waiting for a flush
 * strictly past the deadline would often send them one flush late.  Half
 * the last flush period of tolerance absorbs that jitter: never a flush
 * late, at most half a flush interval early.
 */
static bool refresh_due(const struct ipfix_exporter *x, double now)
{
	double half = x->flushed_at ? (now - x->flushed_at) / 2 : 0;

	return now - x->templates_at + half >= x->refresh_s;
}

/*
 * The collector is away (TCP): this flush's deltas go back into the
 * pending tables, to be sent, in a longer interval, once it answers.
 */
static void put_back(struct ipfix_exporter *x, uint64_t start)
{
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < x->n_ifaces; i++) {
		struct pending_iface *p = &x->pending[i];
		struct ip_table *t = &x->flushing[i];

		for (size_t j = 0; j < t->count; j++) {
			const struct ip_entry *e = &t->entries[j];
			struct itm_value d = {e->tx_bytes, e->tx_packets,
					      e->rx_bytes, e->rx_packets};
			struct ip_entry *pe =
				ip_table_upsert(&p->addrs, &e->addr);

			if (!pe) {
				x->st.lost += (e->tx_packets || e->tx_bytes) +
					      (e->rx_packets || e->rx_bytes);
				continue;
			}
			ip_entry_account(&p->addrs, pe, &d);
			if (!pe->geo)
				pe->geo = e->geo;
		}
		ip_table_clear(t);
		for (int k = 0; k < ITM_CTR_MAX; k++) {
			p->sent[k].bytes -= x->other[i][k].bytes;
			p->sent[k].packets -= x->other[i][k].packets;
		}
	}
	if (start < x->interval_start_ms)
		x->interval_start_ms = start;
	pthread_mutex_unlock(&x->lock);
	x->flush_seq = x->acked_seq; /* nothing of it reached the collector */
}

/*
 * --db: the collector has everything up to the last flush (UDP: sent;
 * TCP: nothing is left unacknowledged): the store may forget it.
 */
static void maybe_ack(struct ipfix_exporter *x)
{
	if (!x->outbox || x->flush_seq <= x->acked_seq)
		return;
	if (x->tcp && ipfix_net_settle(&x->net))
		return;
	x->acked_seq = x->flush_seq;
	x->acked(x->acked_ctx, x->flush_seq, x->flush_ts);
}

static void publish(struct ipfix_exporter *x)
{
	pthread_mutex_lock(&x->lock);
	x->pub = x->st;
	pthread_mutex_unlock(&x->lock);
}

static int flush_once(struct ipfix_exporter *x, uint64_t now_ms)
{
	double now = monotonic_seconds();
	bool refresh = !x->tcp && refresh_due(x, now);
	uint64_t start;
	long resent;
	int conn;

	pthread_mutex_lock(&x->lock);
	take_pending(x);
	if (x->outbox) {
		/* The flush spans whole commits: it ends with the last. */
		now_ms = (uint64_t)x->pend_ts;
		x->flush_seq = x->pend_seq;
		x->flush_ts = x->pend_ts;
	}
	start = x->interval_start_ms && x->interval_start_ms <= now_ms
			? x->interval_start_ms
			: now_ms;
	x->interval_start_ms = now_ms;
	pthread_mutex_unlock(&x->lock);

	x->st.flushes++;
	x->flushed_at = now;
	x->send_fail = false;
	/* Forget what the collector acknowledged; notice a dead connection. */
	ipfix_net_settle(&x->net);
	conn = ipfix_net_connect(&x->net);
	if (conn < 0 && x->tcp) {
		put_back(x, start);
		x->templates_due = true;
		return conn;
	}
	if (conn < 0) {
		/* Nothing reaches the collector this time; count it. */
		for (size_t i = 0; i < x->n_ifaces; i++) {
			for (size_t j = 0; j < x->flushing[i].count; j++) {
				const struct ip_entry *e =
					&x->flushing[i].entries[j];

				x->st.lost += (e->tx_packets || e->tx_bytes) +
					      (e->rx_packets || e->rx_bytes);
			}
			ip_table_clear(&x->flushing[i]);
		}
		x->templates_due = true;
		return conn;
	}
	/*
	 * RFC 7011 section 8: over TCP the templates go once per connection;
	 * over UDP again every template refresh period, and after a loss
	 * (the collector may have restarted without them).
	 */
	if (conn == 1 || x->templates_due || refresh)
		send_templates(x, now);
	/* What a dead connection did not acknowledge, after the templates. */
	if (x->tcp && ipfix_net_unsent(&x->net)) {
		resent = ipfix_net_resend(&x->net);
		if (resent < 0) {
			put_back(x, start);
			x->templates_due = true;
			return (int)resent;
		}
		x->st.resent += (uint64_t)resent;
		pr_info(_("IPFIX collector %s:%s (tcp): sent again %ld records it had not acknowledged\n"),
			x->net.host, x->net.port, resent);
	}
	for (size_t i = 0; i < x->n_ifaces; i++) {
		const struct ip_table *t = &x->flushing[i];

		for (size_t j = 0; j < t->count; j++) {
			put_addr(x, i, &t->entries[j], true, start, now_ms);
			put_addr(x, i, &t->entries[j], false, start, now_ms);
		}
		for (size_t k = 0; k < 3; k++) {
			put_other(x, i, &x->other[i][other_idx[k][0]], k, true,
				  start, now_ms);
			put_other(x, i, &x->other[i][other_idx[k][1]], k, false,
				  start, now_ms);
		}
		ip_table_clear(&x->flushing[i]);
	}
	emit(x);
	return x->send_fail ? -EIO : 0;
}

int ipfix_exporter_flush(struct ipfix_exporter *x, uint64_t now_ms)
{
	int err;

	maybe_ack(x); /* the previous flush, acknowledged since */
	err = flush_once(x, now_ms);
	maybe_ack(x);
	publish(x);
	return err;
}

void ipfix_exporter_use_outbox(struct ipfix_exporter *x, int64_t pos_ts_ms,
			       void (*acked)(void *ctx, uint64_t seq,
					     int64_t ts_ms),
			       void *ctx)
{
	x->outbox = true;
	x->acked = acked;
	x->acked_ctx = ctx;
	/*
	 * What is sent again after a crash starts where the flush the
	 * collector may already have started: a duplicate has the same
	 * flowStartMilliseconds as the record it repeats.
	 */
	if (pos_ts_ms > 0)
		x->interval_start_ms = (uint64_t)pos_ts_ms;
	pthread_mutex_lock(&x->lock);
	if (!x->pend_seq)
		x->pend_ts = (int64_t)x->interval_start_ms;
	pthread_mutex_unlock(&x->lock);
}

/* struct store_outbox_rec kinds (1 + enum store_other_kind) as counters. */
static const int outbox_ctr[STORE_OTHER_MAX][2] = {
	[STORE_OTHER_OVERFLOW] = {ITM_CTR_OVERFLOW_TX, ITM_CTR_OVERFLOW_RX},
	[STORE_OTHER_NON_IP] = {ITM_CTR_NON_IP_TX, ITM_CTR_NON_IP_RX},
	[STORE_OTHER_MALFORMED] = {ITM_CTR_MALFORMED_TX, ITM_CTR_MALFORMED_RX},
};

void ipfix_sink_committed(void *ctx, size_t iface, uint64_t seq, int64_t ts_ms,
			  const struct store_outbox_rec *recs, size_t n)
{
	struct ipfix_exporter *x = ctx;
	struct pending_iface *p = &x->pending[iface];

	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < n; i++) {
		const struct store_outbox_rec *r = &recs[i];
		struct in6_addr a;
		struct ip_entry *e;

		if (r->kind) {
			const int *c =
				outbox_ctr[(r->kind - 1) % STORE_OTHER_MAX];

			p->seen[c[0]].bytes += r->v.tx_bytes;
			p->seen[c[0]].packets += r->v.tx_packets;
			p->seen[c[1]].bytes += r->v.rx_bytes;
			p->seen[c[1]].packets += r->v.rx_packets;
			continue;
		}
		memcpy(&a, r->addr, sizeof(a));
		e = ip_table_upsert(&p->addrs, &a);
		if (!e) {
			x->st.lost += (r->v.tx_bytes || r->v.tx_packets) +
				      (r->v.rx_bytes || r->v.rx_packets);
			continue;
		}
		ip_entry_account(&p->addrs, e, &r->v);
		if (!e->geo && x->label)
			e->geo = x->label(x->label_ctx, &a);
	}
	if (seq > x->pend_seq) {
		x->pend_seq = seq;
		x->pend_ts = ts_ms;
	}
	pthread_mutex_unlock(&x->lock);
}

void ipfix_exporter_stats(struct ipfix_exporter *x, struct ipfix_stats *st)
{
	*st = x->st;
}

void ipfix_sink_delivery(void *ctx, struct export_delivery *d)
{
	struct ipfix_exporter *x = ctx;

	pthread_mutex_lock(&x->lock);
	d->records += x->pub.records;
	d->lost += x->pub.lost;
	d->resent += x->pub.resent;
	pthread_mutex_unlock(&x->lock);
}

struct lost_sum {
	struct ipfix_exporter *x;
	uint64_t records, bytes, packets;
};

/* One record that never reached the collector: count it, name it. */
static void lost_note(void *ctx, const struct ipfix_note *n)
{
	static const uint8_t zero[16];
	struct lost_sum *ls = ctx;
	char a[INET6_ADDRSTRLEN] = "aggregate";

	if (memcmp(n->addr, zero, sizeof(zero)))
		addr_format((const struct in6_addr *)n->addr, a);
	pr_debug(
		"IPFIX: not delivered: %s %s ifindex %u: %llu bytes, %llu packets\n",
		n->tx ? "tx" : "rx", a, n->ifindex,
		(unsigned long long)n->bytes, (unsigned long long)n->packets);
	ls->x->st.lost++;
	ls->records++;
	ls->bytes += n->bytes;
	ls->packets += n->packets;
}

/* The deltas the final flush could not send (the collector was away). */
static void pending_lost(struct ipfix_exporter *x, struct lost_sum *ls)
{
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < x->n_ifaces; i++) {
		struct pending_iface *p = &x->pending[i];
		uint32_t ifindex = (uint32_t)x->ifindex[i];

		for (size_t j = 0; j < p->addrs.count; j++) {
			const struct ip_entry *e = &p->addrs.entries[j];
			struct ipfix_note n = {.ifindex = ifindex};

			memcpy(n.addr, &e->addr, sizeof(n.addr));
			if (e->tx_bytes || e->tx_packets) {
				n.tx = 1;
				n.bytes = e->tx_bytes;
				n.packets = e->tx_packets;
				lost_note(ls, &n);
			}
			if (e->rx_bytes || e->rx_packets) {
				n.tx = 0;
				n.bytes = e->rx_bytes;
				n.packets = e->rx_packets;
				lost_note(ls, &n);
			}
		}
		ip_table_clear(&p->addrs);
		for (int k = 0; k < ITM_CTR_MAX; k++) {
			struct ipfix_note n = {
				.ifindex = ifindex,
				.bytes = p->seen[k].bytes - p->sent[k].bytes,
				.packets =
					p->seen[k].packets - p->sent[k].packets,
			};

			if (n.bytes || n.packets)
				lost_note(ls, &n);
			p->sent[k] = p->seen[k];
		}
	}
	pthread_mutex_unlock(&x->lock);
}

int ipfix_exporter_finish(struct ipfix_exporter *x, int timeout_ms)
{
	struct lost_sum ls = {.x = x};

	/* TCP: a bounded wait for the collector's acknowledgement. */
	if (x->tcp)
		ipfix_net_wait_acked(&x->net, timeout_ms);
	maybe_ack(x);
	if (x->outbox) {
		size_t left = ipfix_net_settle(&x->net);

		/* And what the collector's absence held back (TCP). */
		pthread_mutex_lock(&x->lock);
		for (size_t i = 0; i < x->n_ifaces; i++)
			for (size_t j = 0; j < x->pending[i].addrs.count; j++) {
				const struct ip_entry *e =
					&x->pending[i].addrs.entries[j];

				left += (e->tx_bytes || e->tx_packets) +
					(e->rx_bytes || e->rx_packets);
			}
		pthread_mutex_unlock(&x->lock);
		/* Still in the store's outbox: the next start sends them. */
		if (left)
			pr_info(_("IPFIX collector %s:%s (%s): %zu records it has not acknowledged stay in the database; the next start sends them\n"),
				x->net.host, x->net.port,
				x->tcp ? "tcp" : "udp", left);
		ipfix_net_close(&x->net);
		publish(x);
		return 0;
	}
	pending_lost(x, &ls);
	ipfix_net_drop_queue(&x->net, lost_note, &ls);
	if (ls.records)
		pr_warn(_("IPFIX collector %s:%s (%s): %llu records (%llu bytes, %llu packets) were not acknowledged or not sent when the monitor stopped; counted as not delivered\n"),
			x->net.host, x->net.port, x->tcp ? "tcp" : "udp",
			(unsigned long long)ls.records,
			(unsigned long long)ls.bytes,
			(unsigned long long)ls.packets);
	publish(x);
	return ls.records ? -EIO : 0;
}

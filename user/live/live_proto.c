// SPDX-License-Identifier: MIT
#include "live_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "geo_labels.h"

/* ------------------------------------------------------------ encoding */

static int put_text(struct strbuf *out, const char *s)
{
	int err = strbuf_puts(out, "\t");

	for (; !err && s && *s; s++) {
		switch (*s) {
		case '\\':
			err = strbuf_puts(out, "\\\\");
			break;
		case '\t':
			err = strbuf_puts(out, "\\t");
			break;
		case '\n':
			err = strbuf_puts(out, "\\n");
			break;
		case '\r':
			err = strbuf_puts(out, "\\r");
			break;
		default:
			err = strbuf_append(out, s, 1);
		}
	}
	return err;
}

int live_encode_hello(struct strbuf *out, const struct live_info *info)
{
	int err = strbuf_printf(out, "%s\t%d\nH\t%" PRIu64 "\t%" PRIu64,
				LIVE_PROTO_MAGIC, LIVE_PROTO_VERSION,
				info->interval_ms, info->start_unix);

	if (!err)
		err = put_text(out, info->exporter);
	if (!err)
		err = put_text(out, info->ifaces);
	return err ? err : strbuf_puts(out, "\n");
}

static int encode_addr(struct strbuf *out, const struct ip_entry *e)
{
	const struct geo_labels *g = e->geo;
	char ip[INET6_ADDRSTRLEN];
	int err;

	addr_format(&e->addr, ip);
	err = strbuf_printf(
		out, "A\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64,
		ip, e->tx_bytes, e->tx_packets, e->rx_bytes, e->rx_packets);
	/* the labels in geo_label_defs[] order; asn came last, so a
	 * version 1 reader that predates it ignores it */
	for (int i = 0; i < GEO_NLABELS && !err; i++)
		err = put_text(out, g ? g->v[i] : NULL);
	return err ? err : strbuf_puts(out, "\n");
}

static int encode_proc(struct strbuf *out, const struct ip_entry *e)
{
	char ip[INET6_ADDRSTRLEN], comm[ITM_COMM_LEN + 1];
	int err;

	addr_format(&e->addr, ip);
	snprintf(comm, sizeof(comm), "%.*s", ITM_COMM_LEN, e->comm);
	err = strbuf_printf(out, "P\t%s\t%u", ip, e->pid);
	if (!err)
		err = put_text(out, comm);
	if (!err)
		err = strbuf_printf(out,
				    "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
				    "\t%" PRIu64 "\n",
				    e->tx_bytes, e->tx_packets, e->rx_bytes,
				    e->rx_packets);
	return err;
}

int live_shadow_init(struct live_shadow *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	err = ip_table_init(&s->addrs, 0);
	if (!err)
		err = ip_table_init(&s->procs, 0);
	if (err)
		live_shadow_free(s);
	return err;
}

void live_shadow_free(struct live_shadow *s)
{
	if (s->addrs.entries)
		ip_table_free(&s->addrs);
	if (s->procs.entries)
		ip_table_free(&s->procs);
}

static bool same_counts(const struct ip_entry *a, const struct ip_entry *b)
{
	return a->tx_bytes == b->tx_bytes && a->rx_bytes == b->rx_bytes &&
	       a->tx_packets == b->tx_packets && a->rx_packets == b->rx_packets;
}

struct gone_ctx {
	const struct ip_table *live;
	struct strbuf *out;
	int err;
};

static bool gone(const struct ip_entry *e, void *arg)
{
	struct gone_ctx *g = arg;
	char ip[INET6_ADDRSTRLEN];

	if (ip_table_find_pid(g->live, &e->addr, e->pid))
		return false;
	addr_format(&e->addr, ip);
	if (!g->err)
		g->err = strbuf_printf(g->out, "D\t%s\t%u\n", ip, e->pid);
	return true;
}

int live_encode_delta(struct live_shadow *s, const struct ip_table *addrs,
		      const struct ip_table *procs, uint64_t ns,
		      struct strbuf *out)
{
	int err = strbuf_printf(out, "F\t%" PRIu64 "\t%" PRIu64 "\t0\n",
				++s->seq, ns);

	for (size_t i = 0; i < addrs->count && !err; i++) {
		const struct ip_entry *e = &addrs->entries[i];
		struct ip_entry *m = ip_table_find(&s->addrs, &e->addr);

		if (m && same_counts(m, e) && m->geo == e->geo)
			continue;
		if (!m && !(m = ip_table_upsert(&s->addrs, &e->addr)))
			return -ENOMEM;
		*m = *e;
		err = encode_addr(out, e);
	}
	for (size_t i = 0; procs && i < procs->count && !err; i++) {
		const struct ip_entry *e = &procs->entries[i];
		struct ip_entry *m =
			ip_table_find_pid(&s->procs, &e->addr, e->pid);

		if (m && same_counts(m, e) &&
		    !memcmp(m->comm, e->comm, sizeof(e->comm)))
			continue;
		if (!m &&
		    !(m = ip_table_upsert_pid(&s->procs, &e->addr, e->pid)))
			return -ENOMEM;
		*m = *e;
		err = encode_proc(out, e);
	}
	/* Every live row is in the shadow now; more rows means some went. */
	if (!err && s->procs.count > (procs ? procs->count : 0)) {
		struct ip_table none = {0};
		struct gone_ctx g = {procs ? procs : &none, out, 0};

		if (!procs) {
			/* An empty table to look up in. */
			err = ip_table_init(&none, 0);
			if (err)
				return err;
		}
		ip_table_remove_if(&s->procs, gone, &g);
		err = g.err;
		if (!procs)
			ip_table_free(&none);
	}
	s->have_procs = procs != NULL;
	return err ? err : strbuf_puts(out, "E\n");
}

int live_encode_full(const struct live_shadow *s, uint64_t ns,
		     struct strbuf *out)
{
	int err = strbuf_printf(out, "F\t%" PRIu64 "\t%" PRIu64 "\t1\n", s->seq,
				ns);

	for (size_t i = 0; i < s->addrs.count && !err; i++)
		err = encode_addr(out, &s->addrs.entries[i]);
	for (size_t i = 0; i < s->procs.count && !err; i++)
		err = encode_proc(out, &s->procs.entries[i]);
	return err ? err : strbuf_puts(out, "E\n");
}

/* ------------------------------------------------------------ decoding */

static void free_labels(struct ip_table *t)
{
	for (size_t i = 0; i < t->count; i++) {
		/* The replica owns the labels it decoded. */
		free((void *)t->entries[i].geo);
		t->entries[i].geo = NULL;
	}
}

int live_replica_init(struct live_replica *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	err = ip_table_init(&r->addrs, 0);
	if (!err)
		err = ip_table_init(&r->procs, 0);
	if (err)
		live_replica_free(r);
	return err;
}

void live_replica_free(struct live_replica *r)
{
	if (r->addrs.entries) {
		free_labels(&r->addrs);
		ip_table_free(&r->addrs);
	}
	if (r->procs.entries)
		ip_table_free(&r->procs);
}

#define MAX_FIELDS 16
_Static_assert(6 + GEO_NLABELS <= MAX_FIELDS, "an A record fits");

/* Split a line at tabs in place and undo the escapes of every field. */
static int split(char *line, char *f[MAX_FIELDS])
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *w = p, *start = p;

		if (n == MAX_FIELDS)
			return n; /* trailing fields of a later version */
		f[n++] = start;
		for (; *p && *p != '\t'; p++) {
			if (*p == '\\' && p[1]) {
				p++;
				*w++ = *p == 't'   ? '\t'
				       : *p == 'n' ? '\n'
				       : *p == 'r' ? '\r'
						   : *p;
			} else {
				*w++ = *p;
			}
		}
		if (!*p) {
			*w = '\0';
			return n;
		}
		*w = '\0';
		p++;
	}
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-')
		return -EPROTO;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EPROTO : 0;
}

static int parse_addr(const char *s, struct in6_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->s6_addr + 12) == 1) {
		a->s6_addr[10] = a->s6_addr[11] = 0xff;
		return 0;
	}
	return inet_pton(AF_INET6, s, a) == 1 ? 0 : -EPROTO;
}

static int parse_counts(char **f, struct ip_entry *e)
{
	if (parse_u64(f[0], &e->tx_bytes) || parse_u64(f[1], &e->tx_packets) ||
	    parse_u64(f[2], &e->rx_bytes) || parse_u64(f[3], &e->rx_packets))
		return -EPROTO;
	return 0;
}

/* One allocation: the tuple, then its strings. */
static struct geo_labels *make_labels(char **f)
{
	size_t len[GEO_NLABELS], total = sizeof(struct geo_labels);
	struct geo_labels *g;
	char *p;

	for (int i = 0; i < GEO_NLABELS; i++) {
		len[i] = strlen(f[i]);
		total += len[i] + 1;
	}
	g = malloc(total);
	if (!g)
		return NULL;
	p = (char *)(g + 1);
	for (int i = 0; i < GEO_NLABELS; i++) {
		memcpy(p, f[i], len[i] + 1);
		g->v[i] = p;
		p += len[i] + 1;
	}
	return g;
}

static bool same_labels(const struct geo_labels *g, char **f)
{
	if (!g)
		return false;
	for (int i = 0; i < GEO_NLABELS; i++)
		if (strcmp(g->v[i], f[i]))
			return false;
	return true;
}

static int apply_addr(struct live_replica *r, char **f, int n)
{
	struct ip_entry cnt, *e;
	struct in6_addr a;
	static char empty[] = "";
	char *labels[GEO_NLABELS];

	if (n < 6 || parse_addr(f[1], &a) || parse_counts(f + 2, &cnt))
		return -EPROTO;
	/* a label the sender did not know yet (an older daemon) is Unknown */
	for (int i = 0; i < GEO_NLABELS; i++)
		labels[i] = 6 + i < n ? f[6 + i] : empty;
	e = ip_table_upsert(&r->addrs, &a);
	if (!e)
		return -ENOMEM;
	e->tx_bytes = cnt.tx_bytes;
	e->tx_packets = cnt.tx_packets;
	e->rx_bytes = cnt.rx_bytes;
	e->rx_packets = cnt.rx_packets;
	if (!same_labels(e->geo, labels)) {
		struct geo_labels *g = make_labels(labels);

		if (!g)
			return -ENOMEM;
		free((void *)e->geo);
		e->geo = g;
	}
	return 0;
}

static int apply_proc(struct live_replica *r, char **f, int n)
{
	struct ip_entry cnt, *e;
	struct in6_addr a;
	uint64_t pid;

	if (n < 8 || parse_addr(f[1], &a) || parse_u64(f[2], &pid) ||
	    pid > UINT32_MAX || parse_counts(f + 4, &cnt))
		return -EPROTO;
	e = ip_table_upsert_pid(&r->procs, &a, (uint32_t)pid);
	if (!e)
		return -ENOMEM;
	snprintf(e->comm, sizeof(e->comm), "%s", f[3]);
	e->tx_bytes = cnt.tx_bytes;
	e->tx_packets = cnt.tx_packets;
	e->rx_bytes = cnt.rx_bytes;
	e->rx_packets = cnt.rx_packets;
	r->have_procs = true;
	return 0;
}

struct drop_one {
	struct in6_addr addr;
	uint32_t pid;
};

static bool is_it(const struct ip_entry *e, void *arg)
{
	const struct drop_one *d = arg;

	return e->pid == d->pid && !memcmp(&e->addr, &d->addr, sizeof(d->addr));
}

static int apply_gone(struct live_replica *r, char **f, int n)
{
	struct drop_one d;
	uint64_t pid;

	if (n < 3 || parse_addr(f[1], &d.addr) || parse_u64(f[2], &pid))
		return -EPROTO;
	d.pid = (uint32_t)pid;
	/* Rare (pruned processes): a linear pass is fine. */
	if (ip_table_find_pid(&r->procs, &d.addr, d.pid))
		ip_table_remove_if(&r->procs, is_it, &d);
	return 0;
}

static void clear_tables(struct live_replica *r)
{
	free_labels(&r->addrs);
	ip_table_clear(&r->addrs);
	ip_table_clear(&r->procs);
}

/* 1 when the line completed a frame, 0 otherwise, or -errno. */
static int apply_line(struct live_replica *r, char *line, char *err,
		      size_t err_len)
{
	char *f[MAX_FIELDS];
	int n = split(line, f), rc = 0;
	uint64_t v;

	if (!r->version) {
		if (n < 2 || strcmp(f[0], LIVE_PROTO_MAGIC)) {
			if (!strcmp(f[0], "ERR")) {
				snprintf(err, err_len, "%s",
					 n > 1 ? f[1] : "refused");
				return -EACCES;
			}
			snprintf(err, err_len,
				 "not a live socket of ip_traffic_monitor_cli");
			return -EPROTO;
		}
		if (parse_u64(f[1], &v) || v != LIVE_PROTO_VERSION) {
			snprintf(
				err, err_len,
				"the daemon speaks live protocol version %s, this program version %d",
				f[1], LIVE_PROTO_VERSION);
			return -EPROTO;
		}
		r->version = (int)v;
		return 0;
	}
	if (!strcmp(f[0], "ERR")) {
		snprintf(err, err_len, "%s", n > 1 ? f[1] : "refused");
		return -EACCES;
	}
	if (!strcmp(f[0], "H")) {
		if (n < 5 || parse_u64(f[1], &r->info.interval_ms) ||
		    parse_u64(f[2], &r->info.start_unix))
			rc = -EPROTO;
		snprintf(r->info.exporter, sizeof(r->info.exporter), "%s",
			 n > 3 ? f[3] : "");
		snprintf(r->info.ifaces, sizeof(r->info.ifaces), "%s",
			 n > 4 ? f[4] : "");
		r->have_info = true;
	} else if (!strcmp(f[0], "F")) {
		if (n < 4 || r->in_frame || parse_u64(f[1], &r->seq) ||
		    parse_u64(f[2], &v))
			rc = -EPROTO;
		else {
			r->in_frame = true;
			if (!strcmp(f[3], "1"))
				clear_tables(r);
			r->ns = v;
		}
	} else if (!strcmp(f[0], "E")) {
		if (!r->in_frame)
			rc = -EPROTO;
		r->in_frame = false;
		r->frames++;
		if (!rc)
			return 1;
	} else if (!r->in_frame && (!strcmp(f[0], "A") || !strcmp(f[0], "P") ||
				    !strcmp(f[0], "D"))) {
		rc = -EPROTO;
	} else if (!strcmp(f[0], "A")) {
		rc = apply_addr(r, f, n);
	} else if (!strcmp(f[0], "P")) {
		rc = apply_proc(r, f, n);
	} else if (!strcmp(f[0], "D")) {
		rc = apply_gone(r, f, n);
	}
	/* Anything else is a record of a later version: skipped. */
	if (rc == -EPROTO)
		snprintf(err, err_len,
			 "malformed '%.8s' record from the daemon", f[0]);
	else if (rc)
		snprintf(err, err_len, "%s", strerror(-rc));
	return rc;
}

int live_replica_feed(struct live_replica *r, const char *data, size_t len,
		      char *err, size_t err_len)
{
	int frames = 0;

	for (size_t i = 0; i < len; i++) {
		int rc;

		if (data[i] != '\n') {
			if (r->line_len == LIVE_LINE_MAX) {
				snprintf(
					err, err_len,
					"a record longer than %d bytes from the daemon",
					LIVE_LINE_MAX);
				return -EPROTO;
			}
			r->line[r->line_len++] = data[i];
			continue;
		}
		r->line[r->line_len] = '\0';
		r->line_len = 0;
		rc = apply_line(r, r->line, err, err_len);
		if (rc < 0)
			return rc;
		frames += rc;
	}
	return frames;
}

// SPDX-License-Identifier: MIT
/*
 * Prometheus text format 0.0.4.  A scrape may carry 10^6 addresses times
 * four families, so the hot path avoids printf: numbers and addresses are
 * converted by hand, and the escaped rest of a label block (geography, or
 * pid and process) is built once per distinct value and copied.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "geo_labels.h"
#include "hashmap.h"
#include "procstat.h"

#define UNKNOWN	      "Unknown"
#define U64_DIGITS    20
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct ip_family {
	const char *name;
	const char *help;
	size_t field; /* offsetof(struct ip_entry, ...) */
};

typedef int (*label_fn)(struct strbuf *out, const struct ip_entry *e);

static const struct ip_family proc_families[] = {
	{"ip_traffic_process_tx_bytes_total",
	 "Transmitted bytes per IP address and local process (pid 0: no local socket)",
	 offsetof(struct ip_entry, tx_bytes)},
	{"ip_traffic_process_rx_bytes_total",
	 "Received bytes per IP address and local process (pid 0: no local socket)",
	 offsetof(struct ip_entry, rx_bytes)},
	{"ip_traffic_process_tx_packets_total",
	 "Transmitted packets per IP address and local process (pid 0: no local socket)",
	 offsetof(struct ip_entry, tx_packets)},
	{"ip_traffic_process_rx_packets_total",
	 "Received packets per IP address and local process (pid 0: no local socket)",
	 offsetof(struct ip_entry, rx_packets)},
};

static const struct ip_family ip_families[] = {
	{"ip_traffic_tx_bytes_total", "Total transmitted bytes per IP address",
	 offsetof(struct ip_entry, tx_bytes)},
	{"ip_traffic_rx_bytes_total", "Total received bytes per IP address",
	 offsetof(struct ip_entry, rx_bytes)},
	{"ip_traffic_tx_packets_total",
	 "Total transmitted packets per IP address",
	 offsetof(struct ip_entry, tx_packets)},
	{"ip_traffic_rx_packets_total", "Total received packets per IP address",
	 offsetof(struct ip_entry, rx_packets)},
};

struct iface_family {
	const char *name;
	const char *help;
	enum itm_counter_index ctr;
	bool packets;
};

static const struct iface_family iface_families[] = {
	{"ip_traffic_overflow_tx_bytes_total",
	 "Transmitted IP-layer bytes whose remote address found no slot in the BPF map (not in the per-IP series)",
	 ITM_CTR_OVERFLOW_TX, false},
	{"ip_traffic_overflow_rx_bytes_total",
	 "Received IP-layer bytes whose remote address found no slot in the BPF map (not in the per-IP series)",
	 ITM_CTR_OVERFLOW_RX, false},
	{"ip_traffic_overflow_tx_packets_total",
	 "Transmitted IP packets whose remote address found no slot in the BPF map (not in the per-IP series)",
	 ITM_CTR_OVERFLOW_TX, true},
	{"ip_traffic_overflow_rx_packets_total",
	 "Received IP packets whose remote address found no slot in the BPF map (not in the per-IP series)",
	 ITM_CTR_OVERFLOW_RX, true},
	{"ip_traffic_non_ip_tx_bytes_total",
	 "Transmitted link-layer frame bytes of non-IP frames (ARP, LLDP, ...)",
	 ITM_CTR_NON_IP_TX, false},
	{"ip_traffic_non_ip_rx_bytes_total",
	 "Received link-layer frame bytes of non-IP frames (ARP, LLDP, ...)",
	 ITM_CTR_NON_IP_RX, false},
	{"ip_traffic_non_ip_tx_packets_total",
	 "Transmitted non-IP frames (ARP, LLDP, ...)", ITM_CTR_NON_IP_TX, true},
	{"ip_traffic_non_ip_rx_packets_total",
	 "Received non-IP frames (ARP, LLDP, ...)", ITM_CTR_NON_IP_RX, true},
	{"ip_traffic_malformed_tx_bytes_total",
	 "Transmitted link-layer frame bytes of frames with an IP ethertype but a truncated or invalid IP header",
	 ITM_CTR_MALFORMED_TX, false},
	{"ip_traffic_malformed_rx_bytes_total",
	 "Received link-layer frame bytes of frames with an IP ethertype but a truncated or invalid IP header",
	 ITM_CTR_MALFORMED_RX, false},
	{"ip_traffic_malformed_tx_packets_total",
	 "Transmitted frames with an IP ethertype but a truncated or invalid IP header",
	 ITM_CTR_MALFORMED_TX, true},
	{"ip_traffic_malformed_rx_packets_total",
	 "Received frames with an IP ethertype but a truncated or invalid IP header",
	 ITM_CTR_MALFORMED_RX, true},
};

static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Writes v in decimal at p (no NUL); returns the number of characters. */
static size_t u64_to_dec(uint64_t v, char *p)
{
	char tmp[U64_DIGITS];
	char *q = tmp + sizeof(tmp);
	size_t n;

	while (v >= 100) {
		unsigned int r = (unsigned int)(v % 100);

		v /= 100;
		q -= 2;
		memcpy(q, &digit_pairs[r * 2], 2);
	}
	if (v >= 10) {
		q -= 2;
		memcpy(q, &digit_pairs[v * 2], 2);
	} else {
		*--q = (char)('0' + v);
	}
	n = (size_t)(tmp + sizeof(tmp) - q);
	memcpy(p, q, n);
	return n;
}

/* The caller has reserved n bytes: append without checks. */
static inline void put(struct strbuf *sb, const void *s, size_t n)
{
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
}

static inline void put_lit(struct strbuf *sb, const char *s)
{
	put(sb, s, strlen(s));
}

/* Appends " <v>\n" and keeps the buffer NUL-terminated. */
static int put_value_line_end(struct strbuf *sb, uint64_t v)
{
	int err = strbuf_reserve(sb, U64_DIGITS + 2);

	if (err)
		return err;
	sb->buf[sb->len++] = ' ';
	sb->len += u64_to_dec(v, sb->buf + sb->len);
	sb->buf[sb->len++] = '\n';
	sb->buf[sb->len] = '\0';
	return 0;
}

/*
 * Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one
 * (overlong forms, surrogates and code points above U+10FFFF included).
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * Invalid UTF-8 becomes U+FFFD: Prometheus rejects the whole scrape on a
 * single undecodable label value, and names come from external databases.
 */
static int escape_n(struct strbuf *out, const char *v, size_t n)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t i = 0, run = 0;
	int err;

	/* Worst case: every byte becomes a 3-byte U+FFFD. */
	err = strbuf_reserve(out, n * 3);
	if (err)
		return err;
	while (i < n) {
		unsigned char c = s[i];
		size_t l;

		if (c >= 0x80) {
			l = utf8_seq_len(s + i, n - i);
			if (l) {
				i += l;
				continue;
			}
		} else if (c != '\\' && c != '"' && c != '\n') {
			i++;
			continue;
		}
		put(out, s + run, i - run);
		if (c == '\\')
			put(out, "\\\\", 2);
		else if (c == '"')
			put(out, "\\\"", 2);
		else if (c == '\n')
			put(out, "\\n", 2);
		else
			put(out, "\xef\xbf\xbd", 3);
		run = ++i;
	}
	put(out, s + run, n - run);
	out->buf[out->len] = '\0';
	return 0;
}

int metrics_escape_label(struct strbuf *out, const char *v)
{
	return escape_n(out, v, strlen(v));
}

static int label_or_unknown(struct strbuf *out, const char *v)
{
	if (!v || !*v)
		return strbuf_append(out, UNKNOWN, sizeof(UNKNOWN) - 1);
	return metrics_escape_label(out, v);
}

static int append_header(struct strbuf *out, const char *name, const char *help,
			 const char *type)
{
	size_t nl = strlen(name), hl = strlen(help), tl = strlen(type);
	int err = strbuf_reserve(out, 2 * nl + hl + tl + 20);

	if (err)
		return err;
	put_lit(out, "# HELP ");
	put(out, name, nl);
	put(out, " ", 1);
	put(out, help, hl);
	put_lit(out, "\n# TYPE ");
	put(out, name, nl);
	put(out, " ", 1);
	put(out, type, tl);
	put(out, "\n", 1);
	out->buf[out->len] = '\0';
	return 0;
}

static inline uint64_t entry_field(const struct ip_entry *e, size_t field)
{
	uint64_t v;

	memcpy(&v, (const char *)e + field, sizeof(v));
	return v;
}

static int render_plain(struct strbuf *out, const char *name, const char *help,
			const char *type, uint64_t v)
{
	int err = append_header(out, name, help, type);

	if (!err)
		err = strbuf_puts(out, name);
	if (!err)
		err = put_value_line_end(out, v);
	return err;
}

static int render_iface_family(const struct metrics_input *in,
			       const struct iface_family *f, struct strbuf *out)
{
	int err = append_header(out, f->name, f->help, "counter");

	for (size_t i = 0; i < in->n_ifaces && !err; i++) {
		const struct iface_stats *s = &in->ifaces[i];
		const struct itm_counter *c = &s->ctr[f->ctr];

		err = strbuf_puts(out, f->name);
		if (!err)
			err = strbuf_puts(out, "{iface=\"");
		if (!err)
			err = escape_n(out, s->name,
				       strnlen(s->name, sizeof(s->name)));
		if (!err)
			err = strbuf_puts(out, "\"}");
		if (!err)
			err = put_value_line_end(out, f->packets ? c->packets
								 : c->bytes);
	}
	return err;
}

static uint64_t iface_value(const struct iface_stats *s, size_t family)
{
	switch (family) {
	case 0:
		return s->attached;
	case 1:
		return s->reattached;
	case 2:
		return s->map_entries;
	case 3:
		return s->map_capacity;
	case 4:
		return s->xdp_missed.bytes;
	default:
		return s->xdp_missed.packets;
	}
}

/*
 * Whether each interface is counted now, how often it came back, and how
 * full its kernel map got.
 */
static int render_iface_state(const struct metrics_input *in,
			      struct strbuf *out)
{
	static const struct {
		const char *name, *help, *type;
	} fam[] = {
		{"ip_traffic_interface_attached",
		 "1 while the programs are attached to the interface and its hooks run them; 0 after it disappeared, until an interface of that name is back, or after a hook was removed or replaced by someone else, until a restart",
		 "gauge"},
		{"ip_traffic_interface_reattached_total",
		 "Times the interface disappeared and the programs were attached to a new interface of that name",
		 "counter"},
		{"ip_traffic_map_entries",
		 "Most slots of the interface's kernel map in use at a drain (distinct remote address and process pairs since the drain before) during the previous and the current sample interval; at ip_traffic_map_capacity new addresses go to ip_traffic_overflow_*",
		 "gauge"},
		{"ip_traffic_map_capacity",
		 "Slots of the interface's kernel map (--map-size)", "gauge"},
		{"ip_traffic_xdp_attribution_missed_bytes_total",
		 "--xdp: received IP-layer bytes that TC ingress attributed to a process but that stayed under pid 0 (the map was swapped between XDP and TC, the packet changed CPU, or --db had it under pid 0 before it moved); 0 without --xdp",
		 "counter"},
		{"ip_traffic_xdp_attribution_missed_packets_total",
		 "--xdp: received IP packets that TC ingress attributed to a process but that stayed under pid 0 (the map was swapped between XDP and TC, the packet changed CPU, or --db had it under pid 0 before it moved); 0 without --xdp",
		 "counter"},
	};
	int err = 0;

	for (size_t f = 0; f < ARRAY_SIZE(fam) && !err; f++) {
		err = append_header(out, fam[f].name, fam[f].help, fam[f].type);
		for (size_t i = 0; i < in->n_ifaces && !err; i++) {
			const struct iface_stats *s = &in->ifaces[i];

			err = strbuf_puts(out, fam[f].name);
			if (!err)
				err = strbuf_puts(out, "{iface=\"");
			if (!err)
				err = escape_n(
					out, s->name,
					strnlen(s->name, sizeof(s->name)));
			if (!err)
				err = strbuf_puts(out, "\"}");
			if (!err)
				err = put_value_line_end(out,
							 iface_value(s, f));
		}
	}
	return err;
}

/* Go's ParseFloat reads these; "%g" would say "inf" and "nan". */
static int append_double(struct strbuf *out, double v)
{
	if (isnan(v))
		return strbuf_puts(out, "NaN");
	if (isinf(v))
		return strbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
	/* 15 digits: 10 microseconds on a unix time, and 0.1 stays "0.1". */
	return strbuf_printf(out, "%.15g", v);
}

static int render_gauge_double(struct strbuf *out, const char *name,
			       const char *help, double v)
{
	int err = append_header(out, name, help, "gauge");

	if (!err)
		err = strbuf_puts(out, name);
	if (!err)
		err = strbuf_puts(out, " ");
	if (!err)
		err = append_double(out, v);
	if (!err)
		err = strbuf_puts(out, "\n");
	return err;
}

/*
 * One exported series: counters, address, and where the rest of its label
 * block sits in the snapshot's arena.  That rest (geography, or pid and
 * process) is shared by many series, so it is rendered once per distinct
 * value: 56 bytes per series plus the distinct blocks.
 */
struct series {
	uint64_t v[4]; /* tx_bytes, rx_bytes, tx_packets, rx_packets */
	struct in6_addr addr;
	uint32_t off;
	uint32_t len;
};

struct series_set {
	const struct ip_family *fam;
	struct series *s;
	size_t n;
	uint64_t sum[4]; /* over its series, family by family */
};

enum stream_phase {
	PHASE_SERIES, /* the per-IP, then the per-process families */
	PHASE_TAIL,
	PHASE_DURATION,
	PHASE_DONE,
};

/* What a scrape sends; immutable once taken, shared by its readers. */
struct snap_data {
	struct series_set sets[2]; /* per IP, per (IP, process) */
	size_t n_sets;
	struct strbuf blocks; /* distinct label-block tails, back to back */
	struct strbuf tail;   /* totals, per-interface and info families */
	double duration;
	bool has_duration;
	atomic_int refs;
};

/* One reader of a snapshot: the data and a read position. */
struct metrics_snapshot {
	struct snap_data *d;
	enum stream_phase phase;
	size_t set, family, next; /* next series; SIZE_MAX: header first */
	size_t tail_off;
};

/* Distinct blocks while a snapshot is taken: key bytes -> arena span. */
struct block_key {
	const void *geo;
	uint32_t pid;
	char comm[ITM_COMM_LEN];
};

struct block {
	struct block_key key;
	uint32_t off;
	uint32_t len;
};

struct block_index {
	struct block *b;
	size_t n, cap;
	struct hashmap map;
};

static uint64_t key_hash(const struct block_key *k)
{
	uint64_t h = (uint64_t)(uintptr_t)k->geo * 0x9e3779b97f4a7c15ULL;

	h ^= k->pid * 0xd6e8feb86659fd93ULL;
	for (size_t i = 0; i < sizeof(k->comm) && k->comm[i]; i++)
		h = (h ^ (unsigned char)k->comm[i]) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static uint64_t block_hash(const void *ctx, uint32_t pos)
{
	return key_hash(&((const struct block_index *)ctx)->b[pos].key);
}

static bool block_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct block_index *bi = ctx;

	return !memcmp(&bi->b[pos].key, key, sizeof(struct block_key));
}

/* Best effort: a block that finds no memory here is simply not shared. */
static void block_remember(struct block_index *bi, const struct block_key *k,
			   uint32_t off, uint32_t len)
{
	struct block *b = hashmap_array_room(&bi->map, bi->b, bi->n, &bi->cap,
					     64, sizeof(*b), block_hash, bi);

	if (!b)
		return;
	bi->b = b;
	bi->b[bi->n].key = *k;
	bi->b[bi->n].off = off;
	bi->b[bi->n].len = len;
	hashmap_insert(&bi->map, key_hash(k), (uint32_t)bi->n++);
}

/* ",country=\"...\",...}": one label per geo_label_defs[] row, in its order */
static int ip_block(struct strbuf *out, const struct ip_entry *e)
{
	const struct geo_labels *g = e->geo;
	int err = 0;

	for (int i = 0; i < GEO_NLABELS && !err; i++) {
		err = strbuf_puts(out, "\",");
		if (!err)
			err = strbuf_puts(out, geo_label_defs[i].name);
		if (!err)
			err = strbuf_puts(out, "=\"");
		if (!err)
			err = label_or_unknown(out, g ? g->v[i] : NULL);
	}
	if (!err)
		err = strbuf_puts(out, "\"}");
	return err;
}

static int proc_block(struct strbuf *out, const struct ip_entry *e)
{
	char pid[U64_DIGITS + 1];
	int err;

	pid[u64_to_dec(e->pid, pid)] = '\0';
	err = strbuf_puts(out, "\",pid=\"");
	if (!err)
		err = strbuf_puts(out, pid);
	if (!err)
		err = strbuf_puts(out, "\",process=\"");
	if (!err)
		err = escape_n(out, e->comm, strnlen(e->comm, sizeof(e->comm)));
	if (!err)
		err = strbuf_puts(out, "\"}");
	return err;
}

/*
 * Append t's exported series to set; iface (NULL: none) becomes an iface
 * label after remote_ip, part of each series' label block.
 */
static int snapshot_series(struct snap_data *s, struct series_set *set,
			   const struct ip_table *t,
			   const struct ip_family *fam, label_fn block,
			   bool per_process, const char *iface)
{
	struct block_index bi = {0};
	struct series *grown;
	int err = 0;

	set->fam = fam;
	if (!t->n_exported)
		return 0;
	grown = realloc(set->s, (set->n + t->n_exported) * sizeof(*set->s));
	if (!grown)
		return -ENOMEM;
	set->s = grown;
	for (size_t k = 0; k < t->n_exported && !err; k++) {
		const struct ip_entry *e = &t->entries[t->exported[k]];
		struct series *x = &set->s[set->n++];
		struct block_key key = {0};
		uint32_t pos;

		if (per_process) {
			key.pid = e->pid;
			memcpy(key.comm, e->comm, sizeof(key.comm));
		} else {
			key.geo = e->geo;
		}
		/* Distinct geographies or processes are few: most series
		 * share the label block of an earlier one. */
		if (hashmap_find(&bi.map, key_hash(&key), block_eq, &bi, &key,
				 &pos)) {
			x->off = bi.b[pos].off;
			x->len = bi.b[pos].len;
		} else {
			size_t off = s->blocks.len;

			if (iface) {
				err = strbuf_puts(&s->blocks, "\",iface=\"");
				if (!err)
					err = escape_n(
						&s->blocks, iface,
						strnlen(iface, IF_NAMESIZE));
			}
			if (!err)
				err = block(&s->blocks, e);
			if (err || s->blocks.len > UINT32_MAX) {
				err = err ? err : -E2BIG;
				break;
			}
			x->off = (uint32_t)off;
			x->len = (uint32_t)(s->blocks.len - off);
			block_remember(&bi, &key, x->off, x->len);
		}
		x->addr = e->addr;
		for (int f = 0; f < 4; f++) {
			x->v[f] = entry_field(e, fam[f].field);
			set->sum[f] += x->v[f];
		}
	}
	hashmap_free(&bi.map);
	free(bi.b);
	return err;
}

/* Families of four counters or gauges without labels: tx/rx bytes/packets. */
static int render_quad(struct strbuf *out, const char *prefix,
		       const char *suffix, const char *type, const char *what,
		       const uint64_t v[4])
{
	static const char *const dir[4] = {"tx", "rx", "tx", "rx"};
	static const char *const unit[4] = {"bytes", "bytes", "packets",
					    "packets"};
	static const char *const verb[4] = {
		"Transmitted IP-layer bytes", "Received IP-layer bytes",
		"Transmitted IP packets", "Received IP packets"};
	int err = 0;

	for (int i = 0; i < 4 && !err; i++) {
		char name[96], help[512];

		snprintf(name, sizeof(name), "%s_%s_%s%s", prefix, dir[i],
			 unit[i], suffix);
		snprintf(help, sizeof(help), "%s %s", verb[i], what);
		err = render_plain(out, name, help, type, v[i]);
	}
	return err;
}

static int render_limits(const struct ip_table *t, const uint64_t exp_sum[4],
			 const struct ip_table *procs, struct strbuf *out)
{
	static const struct ip_table empty;
	uint64_t ev[4], below[4];
	int err;

	if (!t)
		t = &empty;
	ev[0] = t->evicted.tx_bytes;
	ev[1] = t->evicted.rx_bytes;
	ev[2] = t->evicted.tx_packets;
	ev[3] = t->evicted.rx_packets;
	/* sum = entries + evicted, and the entries are exported or below. */
	below[0] = t->sum.tx_bytes - ev[0] - exp_sum[0];
	below[1] = t->sum.rx_bytes - ev[1] - exp_sum[1];
	below[2] = t->sum.tx_packets - ev[2] - exp_sum[2];
	below[3] = t->sum.rx_packets - ev[3] - exp_sum[3];
	err = render_quad(
		out, "ip_traffic_evicted", "_total", "counter",
		"of remote addresses dropped from memory at --max-tracked (longest idle, never exported, first) or never admitted (all kept addresses exported, or out of memory); not in the per-IP series",
		ev);
	if (!err)
		err = render_quad(
			out, "ip_traffic_below_threshold", "", "gauge",
			"of tracked remote addresses still below the export threshold (-t); not in the per-IP series",
			below);
	if (!err)
		err = render_plain(
			out, "ip_traffic_evicted_addresses_total",
			"Remote addresses dropped from memory to stay within --max-tracked",
			"counter", t->n_evicted);
	if (!err)
		err = render_plain(
			out, "ip_traffic_alloc_failures_total",
			"Refusals (ip_traffic_refusals_total plus ip_traffic_process_refusals_total) for lack of memory",
			"counter",
			t->alloc_failures +
				(procs ? procs->alloc_failures : 0));
	/*
	 * Every refusal, whatever its cause: a table full of exported
	 * addresses refuses as surely as a failed allocation, and its traffic
	 * lands in ip_traffic_evicted_* all the same.
	 */
	if (!err)
		err = render_plain(
			out, "ip_traffic_refusals_total",
			"Drained counts of remote addresses that found no room in memory (every kept address exported at --max-tracked, or out of memory), one per kernel map entry (address, process, interface) per drain; their traffic is in ip_traffic_evicted_*",
			"counter", t->n_refused);
	if (!err)
		err = render_plain(
			out, "ip_traffic_process_refusals_total",
			"The same for (address, process) pairs in the per-process table; their traffic is in the per-IP families but in no ip_traffic_process_* series",
			"counter", procs ? procs->n_refused : 0);
	if (!err)
		err = render_plain(out, "ip_traffic_max_tracked_addresses",
				   "The --max-tracked limit (0: none)", "gauge",
				   t->max_entries);
	return err;
}

/*
 * Which variant of each optional part runs, as a state set: one series per
 * state, 1 for the current one, so an alert can say
 * ip_traffic_feature{state=~"degraded|unavailable"} == 1.
 */
static int render_features(const struct itm_features *fs, struct strbuf *out)
{
	int err;

	if (!fs)
		return 0;
	err = append_header(
		out, "ip_traffic_feature",
		"Optional parts of the monitor and the variant the kernel accepted; 1 for the current state (enabled, degraded: in part, unavailable: refused by the kernel, disabled: by a flag); the log and `check` say why",
		"gauge");
	for (int f = 0; f < ITM_FEAT_MAX && !err; f++) {
		const struct itm_feature_status *st = &fs->f[f];

		if (!st->known)
			continue;
		for (int k = 0; k < ITM_FEAT_STATE_MAX && !err; k++) {
			err = strbuf_puts(out, "ip_traffic_feature{feature=\"");
			if (!err)
				err = strbuf_puts(out, itm_feature_name(f));
			if (!err)
				err = strbuf_puts(out, "\",variant=\"");
			if (!err)
				err = escape_n(out, st->variant,
					       strnlen(st->variant,
						       sizeof(st->variant)));
			if (!err)
				err = strbuf_puts(out, "\",state=\"");
			if (!err)
				err = strbuf_puts(out, itm_feat_state_name(k));
			if (!err)
				err = strbuf_puts(out, "\"}");
			if (!err)
				err = put_value_line_end(
					out,
					st->state == (enum itm_feat_state)k);
		}
	}
	return err;
}

/* The monitor's own work: how long draining takes, what waits for --db. */
static int render_health(const struct metrics_input *in, struct strbuf *out)
{
	int err = 0;

	if (in->have_drain)
		err = render_gauge_double(
			out, "ip_traffic_last_drain_duration_seconds",
			"Time the last drain of the kernel maps into the tables took (at a sample interval or a scrape)",
			in->last_drain_seconds);
	if (!err && in->have_backlog)
		err = render_plain(
			out, "ip_traffic_store_backlog_rows",
			"Drained (address, process) rows of each interface counted in the metrics but not yet committed to --db",
			"gauge", in->backlog_rows);
	if (!err && in->have_backlog)
		err = render_plain(
			out, "ip_traffic_store_backlog_bytes",
			"Transmitted plus received IP-layer bytes in those rows",
			"gauge", in->backlog_bytes);
	return err;
}

/* Names, HELP and types exactly as the client libraries' process collector. */
static int render_process(const struct proc_stats *p, struct strbuf *out)
{
	int err;

	if (!p)
		return 0;
	err = append_header(out, "process_cpu_seconds_total",
			    "Total user and system CPU time spent in seconds.",
			    "counter");
	if (!err)
		err = strbuf_puts(out, "process_cpu_seconds_total ");
	if (!err)
		err = append_double(out, p->cpu_seconds);
	if (!err)
		err = strbuf_puts(out, "\n");
	if (!err)
		err = render_plain(out, "process_open_fds",
				   "Number of open file descriptors.", "gauge",
				   p->open_fds);
	if (!err)
		err = render_plain(out, "process_max_fds",
				   "Maximum number of open file descriptors.",
				   "gauge", p->max_fds);
	if (!err)
		err = render_plain(out, "process_virtual_memory_bytes",
				   "Virtual memory size in bytes.", "gauge",
				   p->vsize);
	if (!err)
		err = render_plain(out, "process_resident_memory_bytes",
				   "Resident memory size in bytes.", "gauge",
				   p->rss_bytes);
	if (!err)
		err = render_gauge_double(
			out, "process_start_time_seconds",
			"Start time of the process since unix epoch in seconds.",
			p->start_time);
	return err;
}

/*
 * What render_limits() reads, summed over the tables by interface: each
 * got the same deltas as the table by address, so their sums add up to
 * its sum, and sum = exported + below + evicted holds for the total.
 */
static void iface_tables_sum(const struct metrics_input *in,
			     struct ip_table *out)
{
	memset(out, 0, sizeof(*out));
	out->max_entries = in->table->max_entries;
	for (size_t i = 0; i < in->n_ifaces; i++) {
		const struct ip_table *t = in->iface_tables[i];

		out->sum.tx_bytes += t->sum.tx_bytes;
		out->sum.rx_bytes += t->sum.rx_bytes;
		out->sum.tx_packets += t->sum.tx_packets;
		out->sum.rx_packets += t->sum.rx_packets;
		out->evicted.tx_bytes += t->evicted.tx_bytes;
		out->evicted.rx_bytes += t->evicted.rx_bytes;
		out->evicted.tx_packets += t->evicted.tx_packets;
		out->evicted.rx_packets += t->evicted.rx_packets;
		out->n_evicted += t->n_evicted;
		out->n_refused += t->n_refused;
		out->alloc_failures += t->alloc_failures;
		out->n_exported += t->n_exported;
	}
}

/* IPFIX delivery (--ipfix): what left, what was lost, what went twice. */
static int render_delivery(const struct export_delivery *d, struct strbuf *out)
{
	int err;

	if (!d)
		return 0;
	err = render_plain(
		out, "ip_traffic_ipfix_records_total",
		"IPFIX data records sent to the collector (UDP: taken by the socket; TCP: written, records sent again after a reconnect included)",
		"counter", d->records);
	if (!err)
		err = render_plain(
			out, "ip_traffic_ipfix_records_lost_total",
			"IPFIX data records not delivered: not taken by the socket (UDP), or never acknowledged by the collector when the monitor stopped (TCP)",
			"counter", d->lost);
	if (!err)
		err = render_plain(
			out, "ip_traffic_ipfix_records_resent_total",
			"IPFIX data records sent again on a new TCP connection because the collector had not acknowledged them on the one that failed",
			"counter", d->resent);
	return err;
}

static int render_tail(const struct metrics_input *in,
		       const uint64_t exp_sum[4], struct strbuf *out)
{
	static const char *const all_names[4] = {
		"ip_traffic_all_tx_bytes_total",
		"ip_traffic_all_rx_bytes_total",
		"ip_traffic_all_tx_packets_total",
		"ip_traffic_all_rx_packets_total",
	};
	static const char *const all_help[4] = {
		"Transmitted IP-layer bytes over all remote addresses: per-IP series + below_threshold + evicted + overflow",
		"Received IP-layer bytes over all remote addresses: per-IP series + below_threshold + evicted + overflow",
		"Transmitted IP packets over all remote addresses: per-IP series + below_threshold + evicted + overflow",
		"Received IP packets over all remote addresses: per-IP series + below_threshold + evicted + overflow",
	};
	const struct ip_table *t = in->table, *lim = t;
	uint64_t all[4] = {0}; /* tx_bytes, rx_bytes, tx_pkts, rx_pkts */
	struct ip_table by_iface;
	int err = 0;

	/* The exported series come from these: so do the limits' sums. */
	if (t && in->iface_tables) {
		iface_tables_sum(in, &by_iface);
		lim = &by_iface;
	}

	if (t) {
		all[0] = t->sum.tx_bytes;
		all[1] = t->sum.rx_bytes;
		all[2] = t->sum.tx_packets;
		all[3] = t->sum.rx_packets;
	}
	for (size_t i = 0; i < in->n_ifaces; i++) {
		const struct itm_counter *c = in->ifaces[i].ctr;

		all[0] += c[ITM_CTR_OVERFLOW_TX].bytes;
		all[1] += c[ITM_CTR_OVERFLOW_RX].bytes;
		all[2] += c[ITM_CTR_OVERFLOW_TX].packets;
		all[3] += c[ITM_CTR_OVERFLOW_RX].packets;
	}
	for (int i = 0; i < 4 && !err; i++)
		err = render_plain(out, all_names[i], all_help[i], "counter",
				   all[i]);
	for (size_t i = 0; i < ARRAY_SIZE(iface_families) && !err; i++)
		err = render_iface_family(in, &iface_families[i], out);
	if (!err)
		err = render_iface_state(in, out);
	if (!err)
		err = render_plain(
			out, "ip_traffic_tracked_addresses",
			"Remote addresses in memory (at most --max-tracked)",
			"gauge", t ? t->count : 0);
	if (!err)
		err = render_plain(
			out, "ip_traffic_exported_addresses",
			"Remote addresses whose tx+rx bytes reached the export threshold (exported per IP)",
			"gauge", lim ? lim->n_exported : 0);
	if (!err)
		err = render_limits(lim, exp_sum, in->procs, out);
	if (!err)
		err = append_header(out, "ip_traffic_build_info",
				    "Build information; the value is always 1",
				    "gauge");
	if (!err)
		err = strbuf_puts(out, "ip_traffic_build_info{version=\"");
	if (!err)
		err = label_or_unknown(out, in->version);
	if (!err && in->libbpf_version)
		err = strbuf_puts(out, "\",libbpf=\"");
	if (!err && in->libbpf_version)
		err = metrics_escape_label(out, in->libbpf_version);
	if (!err && in->kernel)
		err = strbuf_puts(out, "\",kernel=\"");
	if (!err && in->kernel)
		err = metrics_escape_label(out, in->kernel);
	if (!err)
		err = strbuf_puts(out, "\"} 1\n");
	if (!err)
		err = render_gauge_double(
			out, "ip_traffic_start_time_seconds",
			"Unix time at which monitoring started",
			in->start_time_seconds);
	if (!err)
		err = render_health(in, out);
	if (!err)
		err = render_process(in->process, out);
	if (!err)
		err = render_features(in->features, out);
	if (!err)
		err = render_delivery(in->ipfix, out);
	return err;
}

static void data_unref(struct snap_data *d)
{
	if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	for (size_t i = 0; i < 2; i++)
		free(d->sets[i].s);
	strbuf_free(&d->blocks);
	strbuf_free(&d->tail);
	free(d);
}

static struct metrics_snapshot *reader_new(struct snap_data *d)
{
	struct metrics_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	atomic_fetch_add(&d->refs, 1);
	s->d = d;
	s->next = SIZE_MAX;
	return s;
}

struct metrics_snapshot *metrics_snapshot_take(const struct metrics_input *in)
{
	static const uint64_t zero[4];
	struct snap_data *d = calloc(1, sizeof(*d));
	struct metrics_snapshot *s;
	int err = 0;

	if (!d)
		return NULL;
	atomic_init(&d->refs, 1);
	if (in->table && in->iface_tables) {
		struct series_set *set = &d->sets[d->n_sets++];

		set->fam = ip_families;
		for (size_t i = 0; i < in->n_ifaces && !err; i++)
			err = snapshot_series(d, set, in->iface_tables[i],
					      ip_families, ip_block, false,
					      in->ifaces[i].name);
	} else if (in->table) {
		err = snapshot_series(d, &d->sets[d->n_sets++], in->table,
				      ip_families, ip_block, false, NULL);
	}
	if (!err && in->procs)
		err = snapshot_series(d, &d->sets[d->n_sets++], in->procs,
				      proc_families, proc_block, true, NULL);
	if (!err)
		err = render_tail(in, in->table ? d->sets[0].sum : zero,
				  &d->tail);
	s = err ? NULL : reader_new(d);
	data_unref(d);
	if (!s)
		errno = err ? -err : ENOMEM;
	return s;
}

struct metrics_snapshot *metrics_snapshot_dup(const struct metrics_snapshot *s)
{
	return reader_new(s->d);
}

void metrics_snapshot_set_duration(struct metrics_snapshot *s, double seconds)
{
	s->d->duration = seconds;
	s->d->has_duration = true;
}

size_t metrics_snapshot_size(const struct metrics_snapshot *s)
{
	const struct snap_data *d = s->d;
	size_t n = sizeof(*d) + d->blocks.cap + d->tail.cap;

	for (size_t i = 0; i < d->n_sets; i++)
		n += d->sets[i].n * sizeof(struct series);
	return n;
}

void metrics_snapshot_free(struct metrics_snapshot *s)
{
	if (!s)
		return;
	data_unref(s->d);
	free(s);
}

/* Append series lines of the current family until out holds want bytes. */
static int read_series(struct metrics_snapshot *s, struct strbuf *out,
		       size_t want)
{
	const struct series_set *set = &s->d->sets[s->set];
	const struct ip_family *f = &set->fam[s->family];
	size_t nl = strlen(f->name);
	int err;

	if (s->next == SIZE_MAX) {
		err = append_header(out, f->name, f->help, "counter");
		if (err)
			return err;
		s->next = 0;
	}
	while (s->next < set->n && out->len < want) {
		const struct series *x = &set->s[s->next];

		err = strbuf_reserve(out, nl + sizeof("{remote_ip=\"") +
						  INET6_ADDRSTRLEN + x->len +
						  U64_DIGITS + 2);
		if (err)
			return err;
		put(out, f->name, nl);
		put_lit(out, "{remote_ip=\"");
		out->len += addr_format(&x->addr, out->buf + out->len);
		put(out, s->d->blocks.buf + x->off, x->len);
		out->buf[out->len++] = ' ';
		out->len += u64_to_dec(x->v[s->family], out->buf + out->len);
		out->buf[out->len++] = '\n';
		out->buf[out->len] = '\0';
		s->next++;
	}
	if (s->next < set->n)
		return 0;
	s->next = SIZE_MAX;
	if (++s->family == 4) {
		s->family = 0;
		if (++s->set == s->d->n_sets)
			s->phase = PHASE_TAIL;
	}
	return 0;
}

int metrics_snapshot_read(struct metrics_snapshot *s, struct strbuf *out,
			  size_t want)
{
	size_t n;
	int err;

	want += out->len;
	while (out->len < want) {
		switch (s->phase) {
		case PHASE_SERIES:
			if (s->set >= s->d->n_sets) {
				s->phase = PHASE_TAIL;
				break;
			}
			err = read_series(s, out, want);
			if (err)
				return err;
			break;
		case PHASE_TAIL:
			n = s->d->tail.len - s->tail_off;
			if (n > want - out->len)
				n = want - out->len;
			err = strbuf_append(out, s->d->tail.buf + s->tail_off,
					    n);
			if (err)
				return err;
			s->tail_off += n;
			if (s->tail_off == s->d->tail.len)
				s->phase = PHASE_DURATION;
			break;
		case PHASE_DURATION:
			if (s->d->has_duration) {
				err = metrics_render_scrape_duration(
					out, s->d->duration);
				if (err)
					return err;
			}
			s->phase = PHASE_DONE;
			break;
		case PHASE_DONE:
			return 0;
		}
	}
	return s->phase != PHASE_DONE;
}

int metrics_render(const struct metrics_input *in, struct strbuf *out)
{
	struct metrics_snapshot *s = metrics_snapshot_take(in);
	int err;

	if (!s)
		return -errno;
	do
		err = metrics_snapshot_read(s, out, 1U << 20);
	while (err > 0);
	metrics_snapshot_free(s);
	return err;
}

int metrics_render_scrape_duration(struct strbuf *out, double seconds)
{
	return render_gauge_double(out, "ip_traffic_scrape_duration_seconds",
				   "Time spent preparing this scrape", seconds);
}

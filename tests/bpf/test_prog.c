// SPDX-License-Identifier: MIT
/*
 * bpf/traffic.bpf.c on crafted frames through BPF_PROG_TEST_RUN.
 *
 * Every case starts from empty maps, runs frames through one of the four
 * programs and then compares the WHOLE state -- both stats maps and every
 * counter, summed over all CPUs -- with what the case expects, so a byte
 * counted under a wrong key, twice, or not at all fails the case.
 *
 * Like user/kernel/loader.c, the object is loaded with the inline programs and,
 * where the kernel refuses them (before Linux 6.2, or with
 * ITM_TEST_REFUSE_INLINE set, which has it refuse them as the loader
 * does), with their *_hlp twins alone; the cases then run the twins, and
 * those that compare the two kinds are skipped.  A kernel that refuses
 * even the twins with attribution on skips the attribution cases.
 *
 * Exit status: 0 all passed (some maybe skipped, with the reason), 1 a case
 * failed, 77 BPF is not available.
 */
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "itm_shared.h"
#include "frames.h"
#include "map_rows.h"
#include "table.h"
#include "traffic.skel.h"
#include "lo_up.h"

#define MAX_EXPECT 16

struct expect_entry {
	const char *addr;
	struct itm_value v;
	__u32 pid; /* the key's process, 0 when none */
};

/* What a case expects the maps and counters to hold afterwards. */
struct expect {
	struct expect_entry a[MAX_EXPECT];
	int na;
	struct expect_entry b[MAX_EXPECT];
	int nb;
	struct itm_counter ctr[ITM_CTR_MAX];
};

/* The programs under test: skel_plain (--no-pid) or skel_pid. */
static struct traffic_bpf *skel, *skel_plain, *skel_pid;
/* Whether skel, skel_plain and skel_pid hold the *_hlp twins alone. */
static bool skel_hlp, plain_hlp, pid_hlp;
/* Why they do; attr_why: why the kernel gave us no skel_pid. */
static char plain_why[160], pid_why[160], attr_why[160];
static int ncpus;
static bool verbose;
static bool quiet;    /* libbpf's warnings of an expected refusal: -v only */
static __u64 last_ns; /* test_run's average duration of the last run */
static char fail_msg[512];

static const char *const ctr_names[ITM_CTR_MAX] = {
	[ITM_CTR_NON_IP_TX] = "NON_IP_TX",
	[ITM_CTR_NON_IP_RX] = "NON_IP_RX",
	[ITM_CTR_MALFORMED_TX] = "MALFORMED_TX",
	[ITM_CTR_MALFORMED_RX] = "MALFORMED_RX",
	[ITM_CTR_OVERFLOW_TX] = "OVERFLOW_TX",
	[ITM_CTR_OVERFLOW_RX] = "OVERFLOW_RX",
};

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if ((level == LIBBPF_DEBUG || quiet) && !verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* The programs user/kernel/loader.c falls back to: no kfuncs before Linux 6.2.
 */
static void set_inline_autoload(struct traffic_bpf *s, bool on)
{
	bpf_program__set_autoload(s->progs.itm_egress, on);
	bpf_program__set_autoload(s->progs.itm_ingress, on);
	bpf_program__set_autoload(s->progs.itm_egress_l3, on);
	bpf_program__set_autoload(s->progs.itm_ingress_l3, on);
}

/*
 * Open and load traffic.bpf.o with both kinds of program or, where the
 * kernel refuses the inline ones (not for EPERM: that is no BPF at all),
 * with the *_hlp twins alone, as user/kernel/loader.c's load() does.  Returns
 * NULL with errno set; *hlp tells which were loaded and *inline_err why
 * the inline ones were not (0 when they were).
 */
static struct traffic_bpf *traffic_load(bool attribute_pid, __u32 entries,
					bool *hlp, int *inline_err)
{
	struct traffic_bpf *s;
	int err = 0;

	*inline_err = 0;
	for (int pass = 0; pass < 2; pass++) {
		s = traffic_bpf__open();
		if (!s)
			return NULL;
		s->rodata->attribute_pid = attribute_pid;
		if (entries) {
			bpf_map__set_max_entries(s->maps.itm_stats_a, entries);
			bpf_map__set_max_entries(s->maps.itm_stats_b, entries);
		}
		/* Exactly as user/kernel/loader.c: as the wrong type, refused.
		 */
		if (pass == 0 && getenv("ITM_TEST_REFUSE_INLINE")) {
			bpf_program__set_type(s->progs.itm_egress,
					      BPF_PROG_TYPE_XDP);
			bpf_program__set_type(s->progs.itm_ingress,
					      BPF_PROG_TYPE_XDP);
			bpf_program__set_type(s->progs.itm_egress_l3,
					      BPF_PROG_TYPE_XDP);
			bpf_program__set_type(s->progs.itm_ingress_l3,
					      BPF_PROG_TYPE_XDP);
			bpf_program__set_type(s->progs.itm_ingress_mv,
					      BPF_PROG_TYPE_XDP);
		}
		set_inline_autoload(s, pass == 0);
		/*
		 * --xdp with attribution: XDP counts under pid 0, TC ingress
		 * moves to the process (move_rx()); the loader's choice of
		 * the two move programs is the inline one's.
		 */
		bpf_program__set_autoload(s->progs.itm_xdp, attribute_pid);
		bpf_program__set_autoload(s->progs.itm_ingress_mv,
					  attribute_pid && pass == 0);
		bpf_program__set_autoload(s->progs.itm_ingr_mv_hlp,
					  attribute_pid && pass == 1);
		/* A refusal of the inline programs is reported as a skip. */
		quiet = pass == 0;
		err = traffic_bpf__load(s);
		quiet = false;
		if (!err) {
			*hlp = pass == 1;
			return s;
		}
		traffic_bpf__destroy(s);
		if (pass == 0)
			*inline_err = err;
		if (err == -EPERM)
			break;
	}
	errno = -err;
	return NULL;
}

/* Why the inline programs were not loaded, for the skipped cases. */
static void inline_reason(char *buf, size_t len, int err)
{
	if (getenv("ITM_TEST_REFUSE_INLINE"))
		snprintf(buf, len,
			 "inline programs refused under "
			 "ITM_TEST_REFUSE_INLINE (%s); the *_hlp twins run",
			 strerror(-err));
	else
		snprintf(buf, len,
			 "this kernel refuses the inline programs (%s; "
			 "kfuncs of Linux >= 6.2); the *_hlp twins run",
			 strerror(-err));
}

/* The program the daemon attaches (user/kernel/loader.c's prog_for()). */
static struct bpf_program *prog_egress(void)
{
	return skel_hlp ? skel->progs.itm_egress_hlp : skel->progs.itm_egress;
}

static struct bpf_program *prog_ingress(void)
{
	return skel_hlp ? skel->progs.itm_ingress_hlp : skel->progs.itm_ingress;
}

static struct bpf_program *prog_egress_l3(void)
{
	return skel_hlp ? skel->progs.itm_egr_l3_hlp
			: skel->progs.itm_egress_l3;
}

static struct bpf_program *prog_ingress_l3(void)
{
	return skel_hlp ? skel->progs.itm_ingr_l3_hlp
			: skel->progs.itm_ingress_l3;
}

static int key_from_str(const char *s, struct itm_key *key)
{
	memset(key, 0, sizeof(*key));
	if (inet_pton(AF_INET6, s, key->addr) == 1)
		return 0;
	/* IPv4 is stored IPv4-mapped, ::ffff:a.b.c.d. */
	key->addr[10] = 0xff;
	key->addr[11] = 0xff;
	return inet_pton(AF_INET, s, &key->addr[12]) == 1 ? 0 : -EINVAL;
}

static void key_to_str(const struct itm_key *key, char *buf, size_t len)
{
	static const __u8 mapped[12] = {[10] = 0xff, [11] = 0xff};

	if (!memcmp(key->addr, mapped, sizeof(mapped)))
		inet_ntop(AF_INET, &key->addr[12], buf, len);
	else
		inet_ntop(AF_INET6, key->addr, buf, len);
}

/* Sum of a per-CPU stats value over all CPUs. */
static int stats_sum(int fd, const struct itm_key *key, struct itm_value *sum)
{
	struct itm_value vals[ncpus];

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(fd, key, vals))
		return -errno;
	for (int i = 0; i < ncpus; i++) {
		sum->tx_bytes += vals[i].tx_bytes;
		sum->tx_packets += vals[i].tx_packets;
		sum->rx_bytes += vals[i].rx_bytes;
		sum->rx_packets += vals[i].rx_packets;
	}
	return 0;
}

static int counters_read(struct itm_counter out[ITM_CTR_MAX])
{
	int fd = bpf_map__fd(skel->maps.itm_counters);
	struct itm_counter vals[ncpus];

	for (__u32 idx = 0; idx < ITM_CTR_MAX; idx++) {
		if (bpf_map_lookup_elem(fd, &idx, vals))
			return -errno;
		out[idx] = (struct itm_counter){};
		for (int i = 0; i < ncpus; i++) {
			out[idx].packets += vals[i].packets;
			out[idx].bytes += vals[i].bytes;
		}
	}
	return 0;
}

static int map_clear(int fd)
{
	struct itm_key key;

	/* Deleting the first key each time never skips one. */
	while (!bpf_map_get_next_key(fd, NULL, &key))
		if (bpf_map_delete_elem(fd, &key))
			return -errno;
	return 0;
}

static int set_slot(struct bpf_map *inner)
{
	__u32 zero = 0;
	int fd = bpf_map__fd(inner);

	if (bpf_map_update_elem(bpf_map__fd(skel->maps.itm_active), &zero, &fd,
				BPF_ANY))
		return -errno;
	return 0;
}

/* Empty both stats maps, zero every counter, point the slot at stats_a. */
static int state_reset(void)
{
	int fd = bpf_map__fd(skel->maps.itm_counters);
	struct itm_counter zero[ncpus];
	int err;

	memset(zero, 0, sizeof(zero));
	for (__u32 idx = 0; idx < ITM_CTR_MAX; idx++)
		if (bpf_map_update_elem(fd, &idx, zero, BPF_ANY))
			return -errno;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.itm_mv_missed),
				&(__u32){0}, zero, BPF_ANY))
		return -errno;
	err = map_clear(bpf_map__fd(skel->maps.itm_stats_a));
	if (!err)
		err = map_clear(bpf_map__fd(skel->maps.itm_stats_b));
	if (!err)
		err = set_slot(skel->maps.itm_stats_a);
	return err;
}

static int map_check(const char *name, struct bpf_map *map,
		     const struct expect_entry *e, int n)
{
	int fd = bpf_map__fd(map), count = 0;
	struct itm_key key, *prev = NULL;
	char buf[INET6_ADDRSTRLEN];
	struct itm_value got;

	while (!bpf_map_get_next_key(fd, prev, &key)) {
		bool found = false;

		for (int i = 0; i < n && !found; i++) {
			struct itm_key want;

			if (key_from_str(e[i].addr, &want))
				return fail("bad address %s in case",
					    e[i].addr);
			want.pid = e[i].pid;
			found = !memcmp(&want, &key, sizeof(key));
		}
		if (!found) {
			key_to_str(&key, buf, sizeof(buf));
			return fail("%s holds unexpected key %s pid %u", name,
				    buf, key.pid);
		}
		count++;
		prev = &key;
	}
	if (count != n)
		return fail("%s holds %d keys, want %d", name, count, n);

	for (int i = 0; i < n; i++) {
		const struct itm_value *w = &e[i].v;

		key_from_str(e[i].addr, &key);
		key.pid = e[i].pid;
		if (stats_sum(fd, &key, &got))
			return fail("%s lacks key %s", name, e[i].addr);
		if (memcmp(&got, w, sizeof(got)))
			return fail("%s[%s]: tx %llu B %llu pkt, rx %llu B "
				    "%llu pkt; want tx %llu B %llu pkt, rx "
				    "%llu B %llu pkt",
				    name, e[i].addr, got.tx_bytes,
				    got.tx_packets, got.rx_bytes,
				    got.rx_packets, w->tx_bytes, w->tx_packets,
				    w->rx_bytes, w->rx_packets);
	}
	return 0;
}

static int state_check(const struct expect *want)
{
	struct itm_counter got[ITM_CTR_MAX];

	if (map_check("itm_stats_a", skel->maps.itm_stats_a, want->a, want->na))
		return -1;
	if (map_check("itm_stats_b", skel->maps.itm_stats_b, want->b, want->nb))
		return -1;
	if (counters_read(got))
		return fail("reading itm_counters: %s", strerror(errno));
	for (int i = 0; i < ITM_CTR_MAX; i++)
		if (got[i].packets != want->ctr[i].packets ||
		    got[i].bytes != want->ctr[i].bytes)
			return fail("counter %s: %llu pkt %llu B, want %llu "
				    "pkt %llu B",
				    ctr_names[i], got[i].packets, got[i].bytes,
				    want->ctr[i].packets, want->ctr[i].bytes);
	return 0;
}

/*
 * One BPF_PROG_TEST_RUN.  gso_segs and gso_size are among the few
 * __sk_buff fields the kernel lets a test set (convert___skb_to_skb());
 * skb->protocol is not: test_run derives it with eth_type_trans().
 */
static int run_gso(struct bpf_program *prog, const struct frame *f,
		   __u32 gso_segs, __u32 gso_size, __u32 repeat)
{
	struct __sk_buff ctx = {
		.gso_segs = gso_segs,
		.gso_size = gso_size,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->data,
		    .data_size_in = f->len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);
	int err;

	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
	if (err)
		return fail("test_run %s: %s", bpf_program__name(prog),
			    strerror(-err));
	/* TC_ACT_UNSPEC: never end other filters' processing. */
	if ((int)opts.retval != TC_ACT_UNSPEC)
		return fail("%s returned %d, want TC_ACT_UNSPEC (-1)",
			    bpf_program__name(prog), (int)opts.retval);
	last_ns = opts.duration;
	return 0;
}

static int run(struct bpf_program *prog, const struct frame *f)
{
	return run_gso(prog, f, 0, 0, 1);
}

static int build(struct frame *f, const struct pkt_spec *s)
{
	int err = frame_build(f, s);

	if (err)
		return fail("building frame: %s", strerror(-err));
	return 0;
}

#define TRY(expr)                                                              \
	do {                                                                   \
		if ((expr) < 0)                                                \
			return -1;                                             \
	} while (0)

#define TX(b, p)                                                               \
	{                                                                      \
		.tx_bytes = (b), .tx_packets = (p)                             \
	}
#define RX(b, p)                                                               \
	{                                                                      \
		.rx_bytes = (b), .rx_packets = (p)                             \
	}

#define LOCAL4	"192.0.2.1"
#define REMOTE4 "198.51.100.7"
#define LOCAL6	"2001:db8::1"
#define REMOTE6 "2001:db8:ffff::beef"

static const struct pkt_spec udp4 = {
	.family = AF_INET,
	.src = LOCAL4,
	.dst = REMOTE4,
	.l4 = IPPROTO_UDP,
	.payload = 100,
};

static const struct pkt_spec udp6 = {
	.family = AF_INET6,
	.src = LOCAL6,
	.dst = REMOTE6,
	.l4 = IPPROTO_UDP,
	.payload = 100,
};

/* ---- cases ---- */

static int t_ipv4_udp(void)
{
	struct expect w = {.a = {{REMOTE4, TX(20 + 8 + 100, 1)}}, .na = 1};
	struct frame f;

	TRY(build(&f, &udp4));
	TRY(run(prog_egress(), &f));
	return state_check(&w);
}

static int t_ipv4_tcp(void)
{
	struct pkt_spec s = udp4;
	struct expect w = {.a = {{REMOTE4, TX(20 + 32 + 200, 1)}}, .na = 1};
	struct frame f;

	s.l4 = IPPROTO_TCP;
	s.tcp_doff = 8; /* with timestamps */
	s.payload = 200;
	TRY(build(&f, &s));
	TRY(run(prog_egress(), &f));
	return state_check(&w);
}

static int t_ipv6_udp(void)
{
	struct expect w = {.a = {{REMOTE6, TX(40 + 8 + 100, 1)}}, .na = 1};
	struct frame f;

	TRY(build(&f, &udp6));
	TRY(run(prog_egress(), &f));
	return state_check(&w);
}

static int t_ipv6_tcp_ingress(void)
{
	struct pkt_spec s = udp6;
	struct expect w = {.a = {{REMOTE6, RX(40 + 20 + 64, 1)}}, .na = 1};
	struct frame f;

	/* Ingress: the remote end is the source. */
	s.src = REMOTE6;
	s.dst = LOCAL6;
	s.l4 = IPPROTO_TCP;
	s.payload = 64;
	TRY(build(&f, &s));
	TRY(run(prog_ingress(), &f));
	return state_check(&w);
}

static int t_ipv6_ext_headers(void)
{
	struct pkt_spec s = udp6;
	struct expect w = {
		.a = {{REMOTE6, TX(40 + 48 + 20 + 50, 1)}},
		.na = 1,
	};
	struct frame f;

	s.l4 = IPPROTO_TCP;
	s.payload = 50;
	s.ext = true;
	TRY(build(&f, &s));
	TRY(run(prog_egress(), &f));
	return state_check(&w);
}

static int t_direction(void)
{
	struct expect w = {
		.a =
			{
				{REMOTE4, TX(128, 1)},
				{LOCAL4, RX(128, 1)},
				{REMOTE6, TX(148, 1)},
				{LOCAL6, RX(148, 1)},
			},
		.na = 4,
	};
	struct frame f4, f6;

	/* The same frames both ways: egress keys by dst, ingress by src. */
	TRY(build(&f4, &udp4));
	TRY(build(&f6, &udp6));
	TRY(run(prog_egress(), &f4));
	TRY(run(prog_ingress(), &f4));
	TRY(run(prog_egress(), &f6));
	TRY(run(prog_ingress(), &f6));
	return state_check(&w);
}

static int t_vlan(void)
{
	struct pkt_spec s = udp4;
	struct expect w = {.a = {{REMOTE4, TX(128, 1)}}, .na = 1};
	struct frame f;

	s.tpid[0] = ETH_P_8021Q;
	TRY(build(&f, &s));
	TRY(run(prog_egress(), &f));
	return state_check(&w);
}

static int t_qinq(void)
{
	struct pkt_spec s = udp6;
	struct expect w = {.a = {{REMOTE6, RX(148, 1)}}, .na = 1};
	struct frame f;

	s.tpid[0] = ETH_P_8021AD;
	s.tpid[1] = ETH_P_8021Q;
	s.src = REMOTE6;
	s.dst = LOCAL6;
	TRY(build(&f, &s));
	TRY(run(prog_ingress(), &f));
	return state_check(&w);
}

static int t_three_tags_non_ip(void)
{
	struct pkt_spec s = udp4;
	struct expect w = {};
	struct frame f;

	/* Deeper than ITM_MAX_VLAN_TAGS: not parsed, but still counted. */
	s.tpid[0] = ETH_P_8021AD;
	s.tpid[1] = ETH_P_8021Q;
	s.tpid[2] = ETH_P_8021Q;
	TRY(build(&f, &s));
	TRY(run(prog_egress(), &f));
	w.ctr[ITM_CTR_NON_IP_TX] = (struct itm_counter){1, f.len};
	return state_check(&w);
}

static int t_arp(void)
{
	struct expect w = {};
	struct frame f = {.len = 14 + 28};
	struct ethhdr *eth = (struct ethhdr *)f.data;

	memset(eth->h_dest, 0xff, ETH_ALEN);
	eth->h_proto = htons(ETH_P_ARP);
	TRY(run(prog_egress(), &f));
	TRY(run(prog_ingress(), &f));
	TRY(run(prog_ingress(), &f));
	w.ctr[ITM_CTR_NON_IP_TX] = (struct itm_counter){1, 42};
	w.ctr[ITM_CTR_NON_IP_RX] = (struct itm_counter){2, 84};
	return state_check(&w);
}

/*
 * test_run itself refuses (EINVAL) an untagged frame whose IP ethertype is
 * followed by less than a full IP header, so the truncated headers sit
 * behind an 802.1Q tag, which it does not look through.
 */
static int t_truncated(void)
{
	struct pkt_spec s4 = udp4, s6 = udp6;
	struct frame f4, f6, tag, bad;
	struct expect w = {};

	s4.tpid[0] = s6.tpid[0] = ETH_P_8021Q;
	TRY(build(&f4, &s4));
	f4.len = 18 + 10; /* half an IPv4 header */
	TRY(build(&f6, &s6));
	f6.len = 18 + 30; /* most of an IPv6 header */
	TRY(build(&tag, &s4));
	tag.len = 14 + 2; /* half a VLAN tag */
	TRY(build(&bad, &udp4));
	bad.data[14] = 0x65; /* IPv4 ethertype, version 6 */
	TRY(run(prog_egress(), &f4));
	TRY(run(prog_ingress(), &f6));
	TRY(run(prog_ingress(), &tag));
	TRY(run(prog_egress(), &bad));
	bad.data[14] = 0x44; /* IHL 4: shorter than any IPv4 header */
	TRY(run(prog_egress(), &bad));
	w.ctr[ITM_CTR_MALFORMED_TX] =
		(struct itm_counter){3, 28 + 2 * (14 + 128)};
	w.ctr[ITM_CTR_MALFORMED_RX] = (struct itm_counter){2, 48 + 16};
	return state_check(&w);
}

static int t_eth_padding(void)
{
	struct pkt_spec s = udp4;
	struct expect w = {.a = {{REMOTE4, TX(20 + 8 + 10, 1)}}, .na = 1};
	struct frame f;

	s.payload = 10;
	s.pad_to = 60; /* 14 + 38 + 8 bytes of padding */
	TRY(build(&f, &s));
	if (f.len != 60)
		return fail("padded frame is %u bytes", f.len);
	TRY(run(prog_egress(), &f));
	return state_check(&w);
}

static int t_gso_ipv4_tcp(void)
{
	struct pkt_spec s = udp4;
	struct expect w = {
		/*
		 * 10 x (20 + 32 + 100) on the wire; then 3 uneven segments
		 * 100 + 100 + 50 with 40 bytes of headers each.
		 */
		.a = {{REMOTE4, TX(10 * 152 + 3 * 40 + 250, 10 + 3)}},
		.na = 1,
	};
	struct frame f;

	s.l4 = IPPROTO_TCP;
	s.tcp_doff = 8;
	s.payload = 1000;
	TRY(build(&f, &s));
	TRY(run_gso(prog_egress(), &f, 10, 100, 1));
	s.tcp_doff = 5;
	s.payload = 250;
	TRY(build(&f, &s));
	TRY(run_gso(prog_egress(), &f, 3, 100, 1));
	return state_check(&w);
}

static int t_gso_ipv6_tcp(void)
{
	struct pkt_spec s = udp6;
	struct expect w = {
		/* 5 x (40 + 20 + 200), then 4 x (40 + 48 + 20 + 100). */
		.a = {{REMOTE6, TX(5 * 260 + 4 * 208, 5 + 4)}},
		.na = 1,
	};
	struct frame f;

	s.l4 = IPPROTO_TCP;
	s.payload = 1000;
	TRY(build(&f, &s));
	TRY(run_gso(prog_egress(), &f, 5, 200, 1));
	/* Extension headers are repeated in every segment too. */
	s.ext = true;
	s.payload = 400;
	TRY(build(&f, &s));
	TRY(run_gso(prog_egress(), &f, 4, 100, 1));
	return state_check(&w);
}

static int t_gso_udp(void)
{
	struct pkt_spec s4 = udp4, s6 = udp6;
	struct expect w = {
		/* UDP GSO: 4 x (20 + 8 + 300); 3 x (40 + 8 + 400). */
		.a =
			{
				{REMOTE4, TX(4 * 328, 4)},
				{REMOTE6, TX(3 * 448, 3)},
			},
		.na = 2,
	};
	struct frame f;

	s4.payload = 1200;
	TRY(build(&f, &s4));
	TRY(run_gso(prog_egress(), &f, 4, 300, 1));
	s6.payload = 1200;
	TRY(build(&f, &s6));
	TRY(run_gso(prog_egress(), &f, 3, 400, 1));
	return state_check(&w);
}

static int t_gso_segs_zero(void)
{
	struct pkt_spec s4 = udp4, s6 = udp6;
	struct expect w = {
		/*
		 * Untrusted GSO (gso_segs 0): ceil(1000 / 300) = 4 segments,
		 * 300 + 300 + 300 + 100 payload, 40 header bytes each; IPv6:
		 * ceil(500 / 250) = 2 exactly.
		 */
		.a =
			{
				{REMOTE4, TX(4 * 40 + 1000, 4)},
				{LOCAL6, RX(2 * 60 + 500, 2)},
			},
		.na = 2,
	};
	struct frame f;

	s4.l4 = IPPROTO_TCP;
	s4.payload = 1000;
	TRY(build(&f, &s4));
	TRY(run_gso(prog_egress(), &f, 0, 300, 1));
	s6.l4 = IPPROTO_TCP;
	s6.payload = 500;
	s6.src = LOCAL6; /* ingress: keyed by source */
	s6.dst = REMOTE6;
	TRY(build(&f, &s6));
	TRY(run_gso(prog_ingress(), &f, 0, 250, 1));
	return state_check(&w);
}

/*
 * Headers that claim more than the packet holds (IPv4 IHL 15 on 30 bytes,
 * an IPv6 hop-by-hop header of 2 KiB) in a GSO skb.  A packet socket or a
 * tap with a vnet header can send such a DODGY skb (gso_segs 0): it must
 * count as one malformed frame, not billions of computed segments.
 */
static int t_gso_bogus_headers(void)
{
	struct pkt_spec s4 = udp4, s6 = udp6;
	struct frame f4, f6;
	struct expect w = {};

	s4.l4 = IPPROTO_TCP;
	s4.payload = 10;
	TRY(build(&f4, &s4));
	f4.data[14] = 0x4f; /* IHL 15: 60 bytes of header */
	f4.len = 14 + 30;
	s6.l4 = IPPROTO_TCP;
	s6.ext = true;
	s6.payload = 100;
	TRY(build(&f6, &s6));
	f6.data[14 + 40 + 1] = 255; /* hop-by-hop: (255 + 1) * 8 bytes */
	TRY(run_gso(prog_egress(), &f4, 0, 10, 1));
	TRY(run_gso(prog_egress(), &f4, 5, 10, 1));
	TRY(run_gso(prog_ingress(), &f6, 0, 10, 1));
	TRY(run_gso(prog_ingress(), &f6, 5, 10, 1));
	w.ctr[ITM_CTR_MALFORMED_TX] = (struct itm_counter){2, 2 * f4.len};
	w.ctr[ITM_CTR_MALFORMED_RX] = (struct itm_counter){2, 2 * f6.len};
	return state_check(&w);
}

static int t_big_tcp(void)
{
	struct pkt_spec s4 = udp4, s6 = udp6;
	struct expect w = {
		/*
		 * tot_len 0 (IPv4 BIG TCP) and payload_len 0 (IPv6 jumbo
		 * without HBH): lengths come from skb->len.  GSO: 10 x
		 * (40 + 100); 8 x (60 + 100).  Not GSO: 40 + 60 and 60 + 60.
		 */
		.a =
			{
				{REMOTE4, TX(10 * 140 + 100, 10 + 1)},
				{REMOTE6, TX(8 * 160 + 120, 8 + 1)},
			},
		.na = 2,
	};
	struct frame f;

	s4.l4 = s6.l4 = IPPROTO_TCP;
	s4.zero_len = s6.zero_len = true;
	s4.payload = s6.payload = 1000;
	TRY(build(&f, &s4));
	TRY(run_gso(prog_egress(), &f, 10, 100, 1));
	TRY(build(&f, &s6));
	f.len = 14 + 60 + 800;
	TRY(run_gso(prog_egress(), &f, 8, 100, 1));
	s4.payload = s6.payload = 60;
	TRY(build(&f, &s4));
	TRY(run(prog_egress(), &f));
	TRY(build(&f, &s6));
	TRY(run(prog_egress(), &f));
	return state_check(&w);
}

static int t_repeat_accumulates(void)
{
	const __u32 n = 100000, m = 1000;
	struct pkt_spec s = udp4;
	struct expect w = {
		.a =
			{
				{REMOTE4, TX((__u64)n * 128, n)},
				{REMOTE6, TX((__u64)m * 10 * 172, m * 10)},
			},
		.na = 2,
	};
	struct frame f;

	TRY(build(&f, &s));
	TRY(run_gso(prog_egress(), &f, 0, 0, n));
	printf("#   IPv4 UDP 128 B: %llu ns per packet (repeat %u)\n",
	       (unsigned long long)last_ns, n);
	s = udp6;
	s.l4 = IPPROTO_TCP;
	s.tcp_doff = 8;
	s.payload = 1000;
	TRY(build(&f, &s));
	TRY(run_gso(prog_egress(), &f, 10, 100, m));
	printf("#   IPv6 TCP GSO 10 x 172 B: %llu ns per skb (repeat %u)\n",
	       (unsigned long long)last_ns, m);
	return state_check(&w);
}

/*
 * test_run cannot set skb->protocol: it runs eth_type_trans() on the
 * first 14 bytes and, for SCHED_CLS, pushes them back, so the program
 * still sees the frame from byte 0.  An l3 packet whose bytes 12-13 read
 * as the right ethertype therefore gets the right protocol: IPv4 source
 * 8.0.x.x (0x0800), IPv6 source with 0x86dd as its third 16-bit group.
 */
static int t_l3(void)
{
	struct pkt_spec s4 = udp4, s6 = udp6;
	struct expect w = {
		.a =
			{
				{REMOTE4, TX(128 + 10 * 140, 1 + 10)},
				{"2001:db8:86dd::1", RX(148, 1)},
			},
		.na = 2,
	};
	struct frame f;

	s4.l3 = true;
	s4.src = "8.0.0.1";
	TRY(build(&f, &s4));
	if (f.data[12] != 0x08 || f.data[13] != 0x00)
		return fail("l3 IPv4 frame does not carry 0x0800 at byte 12");
	TRY(run(prog_egress_l3(), &f));
	s4.l4 = IPPROTO_TCP;
	s4.payload = 1000;
	TRY(build(&f, &s4));
	TRY(run_gso(prog_egress_l3(), &f, 10, 100, 1));

	s6.l3 = true;
	s6.src = "2001:db8:86dd::1";
	s6.dst = LOCAL6;
	TRY(build(&f, &s6));
	if (f.data[12] != 0x86 || f.data[13] != 0xdd)
		return fail("l3 IPv6 frame does not carry 0x86dd at byte 12");
	TRY(run(prog_ingress_l3(), &f));

	/* And the Ethernet programs must not read these as IP. */
	TRY(build(&f, &s6));
	TRY(run(prog_egress(), &f));
	w.ctr[ITM_CTR_MALFORMED_TX] = (struct itm_counter){1, 40 + 8 + 100};
	return state_check(&w);
}

static int t_empty_slot(void)
{
	struct expect w = {};
	struct frame f;
	__u32 zero = 0;

	/* Before user space fills the slot nothing may be lost either. */
	if (bpf_map_delete_elem(bpf_map__fd(skel->maps.itm_active), &zero))
		return fail("clearing slot 0: %s", strerror(errno));
	TRY(build(&f, &udp4));
	TRY(run(prog_egress(), &f));
	TRY(run(prog_ingress(), &f));
	w.ctr[ITM_CTR_OVERFLOW_TX] = (struct itm_counter){1, 128};
	w.ctr[ITM_CTR_OVERFLOW_RX] = (struct itm_counter){1, 128};
	return state_check(&w);
}

static int t_swap(void)
{
	struct pkt_spec s = udp4;
	struct expect w = {
		.a = {{REMOTE4, TX(3 * 128, 3)}},
		.na = 1,
		.b = {{REMOTE4, TX(2 * 128, 2)}, {"203.0.113.9", TX(78, 1)}},
		.nb = 2,
	};
	struct frame f;

	TRY(build(&f, &s));
	TRY(run_gso(prog_egress(), &f, 0, 0, 3));
	if (set_slot(skel->maps.itm_stats_b))
		return fail("switching slot 0 to stats_b: %s", strerror(errno));
	TRY(run_gso(prog_egress(), &f, 0, 0, 2));
	s.dst = "203.0.113.9";
	s.payload = 50;
	TRY(build(&f, &s));
	TRY(run(prog_egress(), &f));
	return state_check(&w);
}

/* Its own skeleton: stats maps of 4 entries. */
static int t_overflow(void)
{
	const int n = 10, max = 4;
	struct traffic_bpf *saved = skel;
	bool saved_hlp = skel_hlp;
	struct expect w = {};
	__u64 total_bytes = 0, map_bytes = 0;
	struct pkt_spec s = udp4;
	char addrs[10][16];
	struct frame f;
	int err = -1, inline_err;

	skel = traffic_load(false, max, &skel_hlp, &inline_err);
	if (!skel) {
		skel = saved;
		skel_hlp = saved_hlp;
		return fail("load with max_entries %d: %s", max,
			    strerror(errno));
	}
	if (state_reset()) {
		fail("reset: %s", strerror(errno));
		goto out;
	}

	for (int i = 0; i < n; i++) {
		__u64 bytes = 28 + 10 * (i + 1);

		snprintf(addrs[i], sizeof(addrs[i]), "198.51.100.%d", 10 + i);
		s.dst = addrs[i];
		s.payload = 10 * (i + 1);
		if (build(&f, &s) || run(prog_egress(), &f))
			goto out;
		total_bytes += bytes;
		if (i < max) {
			w.a[i] = (struct expect_entry){addrs[i], TX(bytes, 1),
						       0};
			map_bytes += bytes;
		}
	}
	w.na = max;
	w.ctr[ITM_CTR_OVERFLOW_TX] =
		(struct itm_counter){n - max, total_bytes - map_bytes};

	/* A full map still takes more traffic for keys it already holds. */
	s.dst = addrs[0];
	s.payload = 10;
	if (build(&f, &s) || run(prog_egress(), &f))
		goto out;
	w.a[0].v.tx_bytes += 38;
	w.a[0].v.tx_packets++;
	/* Ingress traffic from a new address overflows into the rx twin. */
	s.src = addrs[9];
	s.dst = LOCAL4;
	if (build(&f, &s) || run(prog_ingress(), &f))
		goto out;
	w.ctr[ITM_CTR_OVERFLOW_RX] = (struct itm_counter){1, 38};
	err = state_check(&w);
	if (!err && map_bytes + w.ctr[ITM_CTR_OVERFLOW_TX].bytes != total_bytes)
		err = fail("map + overflow != sent");
out:
	traffic_bpf__destroy(skel);
	skel = saved;
	skel_hlp = saved_hlp;
	return err;
}

/*
 * Process attribution on (attribute_pid = true), in this process's private
 * network namespace (see main): sockets bound to the wildcard address whose
 * owner is written into the socket storage from user space, as the owner
 * programs would.  test_run gives egress frames no socket, and derives
 * pkt_type from the frame's destination MAC against lo's (zero) address.
 */
#define PID_UDP4 4201
#define PID_TCP4 4202
#define PID_UDP6 4203

static int attr_sockets[3] = {-1, -1, -1};

static int own_socket(int family, int type, __u16 port, __u32 pid)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
				  .sin6_port = htons(port)};
	struct sockaddr_in a4 = {.sin_family = AF_INET,
				 .sin_port = htons(port)};
	struct itm_owner o = {.pid = pid};
	int fd = socket(family, type, 0), one = 1, err;

	if (fd < 0)
		return -errno;
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto err;
	if (bind(fd,
		 family == AF_INET6 ? (struct sockaddr *)&a6
				    : (struct sockaddr *)&a4,
		 family == AF_INET6 ? sizeof(a6) : sizeof(a4)))
		goto err;
	if (type == SOCK_STREAM && listen(fd, 1))
		goto err;
	snprintf(o.comm, sizeof(o.comm), "owner%u", pid);
	if (bpf_map_update_elem(bpf_map__fd(skel_pid->maps.itm_sk_owner), &fd,
				&o, BPF_NOEXIST))
		goto err;
	return fd;
err:
	err = -errno;
	close(fd);
	return err;
}

/*
 * Load skel_pid and give it owned sockets, in a private netns.  A kernel
 * that refuses the programs with attribution on, even the *_hlp twins,
 * leaves skel_pid NULL and says why in attr_why: not a failure.
 */
static int attr_setup(void)
{
	int err, inline_err;

	if (unshare(CLONE_NEWNET))
		return -errno;
	err = lo_up();
	if (err)
		return err;
	skel_pid = traffic_load(true, 0, &pid_hlp, &inline_err);
	if (!skel_pid) {
		snprintf(attr_why, sizeof(attr_why),
			 "this kernel refuses the programs with attribution "
			 "on, even the *_hlp twins (%s)",
			 strerror(errno));
		return 0;
	}
	if (pid_hlp)
		inline_reason(pid_why, sizeof(pid_why), inline_err);
	/* frames.h sends UDP to port 53 and TCP to port 443. */
	attr_sockets[0] = own_socket(AF_INET, SOCK_DGRAM, 53, PID_UDP4);
	attr_sockets[1] = own_socket(AF_INET, SOCK_STREAM, 443, PID_TCP4);
	attr_sockets[2] = own_socket(AF_INET6, SOCK_DGRAM, 53, PID_UDP6);
	for (int i = 0; i < 3; i++)
		if (attr_sockets[i] < 0)
			return attr_sockets[i];
	return 0;
}

/* Address the frame to lo's (zero) MAC: a packet for this host. */
static void to_host(struct frame *f)
{
	memset(f->data, 0, ETH_ALEN);
}

static const struct pkt_spec udp4_in = {
	.family = AF_INET,
	.src = REMOTE4,
	.dst = LOCAL4,
	.l4 = IPPROTO_UDP,
	.payload = 100,
};

static int t_attr_ingress_owned(void)
{
	struct pkt_spec tcp4_in = udp4_in, udp6_in = udp4_in;
	struct expect w = {
		.a = {{REMOTE4, RX(2 * 128, 2), PID_UDP4},
		      {"198.51.100.8", RX(20 + 20 + 100, 1), PID_TCP4},
		      {REMOTE6, RX(40 + 8 + 100, 1), PID_UDP6}},
		.na = 3,
	};
	struct frame f;

	tcp4_in.src = "198.51.100.8";
	tcp4_in.l4 = IPPROTO_TCP;
	udp6_in.family = AF_INET6;
	udp6_in.src = REMOTE6;
	udp6_in.dst = LOCAL6;
	TRY(build(&f, &udp4_in));
	to_host(&f);
	TRY(run(prog_ingress(), &f));
	TRY(run(prog_ingress(), &f));
	TRY(build(&f, &tcp4_in)); /* to the listener */
	to_host(&f);
	TRY(run(prog_ingress(), &f));
	TRY(build(&f, &udp6_in));
	to_host(&f);
	TRY(run(prog_ingress(), &f));
	return state_check(&w);
}

static int t_attr_ingress_unowned(void)
{
	struct pkt_spec tcp6_in = udp4_in, frag = udp4_in;
	struct expect w = {
		/* Another host's MAC: never looked up, whatever the tuple. */
		.a = {{REMOTE4, RX(128, 1), 0},
		      /* No IPv6 TCP socket on port 443. */
		      {REMOTE6, RX(40 + 20 + 100, 1), 0},
		      /* A non-first fragment has no ports to look up. */
		      {"198.51.100.9", RX(128, 1), 0}},
		.na = 3,
	};
	struct iphdr *iph;
	struct frame f;

	TRY(build(&f, &udp4_in));
	TRY(run(prog_ingress(), &f));
	tcp6_in.family = AF_INET6;
	tcp6_in.src = REMOTE6;
	tcp6_in.dst = LOCAL6;
	tcp6_in.l4 = IPPROTO_TCP;
	TRY(build(&f, &tcp6_in));
	to_host(&f);
	TRY(run(prog_ingress(), &f));
	frag.src = "198.51.100.9";
	TRY(build(&f, &frag));
	to_host(&f);
	iph = (struct iphdr *)(f.data + ETH_HLEN);
	iph->frag_off = htons(10); /* offset 80 bytes, to the owned port */
	TRY(run(prog_ingress(), &f));
	return state_check(&w);
}

static int t_attr_egress(void)
{
	/* test_run's skb has no socket: pid 0, counted as without pid. */
	struct expect w = {.a = {{REMOTE4, TX(128, 1), 0}}, .na = 1};
	struct frame f;

	TRY(build(&f, &udp4));
	to_host(&f);
	TRY(run(prog_egress(), &f));
	return state_check(&w);
}

/*
 * Each program has a twin for kernels before 6.2 that reads the owner
 * with the helper only (*_hlp): both kinds count alike.  Skipped where
 * the kernel refuses the inline read (only the twins are loaded).
 */
static int t_attr_egress_variants(void)
{
	struct expect w = {.a = {{REMOTE4, TX(4 * 128, 4), 0}}, .na = 1};
	struct pkt_spec l3 = udp4;
	struct frame f;

	TRY(build(&f, &udp4));
	to_host(&f);
	TRY(run(skel->progs.itm_egress, &f));
	TRY(run(skel->progs.itm_egress_hlp, &f));
	l3.l3 = true;
	l3.src = "8.0.0.1"; /* reads as ethertype 0x0800: see t_l3 */
	TRY(build(&f, &l3));
	TRY(run(skel->progs.itm_egress_l3, &f));
	TRY(run(skel->progs.itm_egr_l3_hlp, &f));
	return state_check(&w);
}

/*
 * The ingress twins: the socket the lookup finds is read inline
 * (itm_ingress: through bpf_rdonly_cast(); the first read of a socket's
 * storage may go to the helper, which fills the cache slot) or with the
 * helper only (itm_ingress_hlp); same owner, also for the L3 twins.
 */
static int t_attr_ingress_variants(void)
{
	struct expect w = {
		.a = {{REMOTE4, RX(4 * 128, 4), PID_UDP4},
		      {"8.0.0.1", RX(2 * 128, 2), PID_UDP4}},
		.na = 2,
	};
	struct pkt_spec l3 = udp4_in;
	struct frame f;

	TRY(build(&f, &udp4_in));
	to_host(&f);
	TRY(run(skel->progs.itm_ingress, &f));
	TRY(run(skel->progs.itm_ingress_hlp, &f));
	TRY(run(skel->progs.itm_ingress, &f));
	TRY(run(skel->progs.itm_ingress_hlp, &f));
	l3.l3 = true;
	l3.src = "8.0.0.1";
	TRY(build(&f, &l3));
	TRY(run(skel->progs.itm_ingress_l3, &f));
	TRY(run(skel->progs.itm_ingr_l3_hlp, &f));
	return state_check(&w);
}

/* The move program the loader attaches at TC ingress under --xdp. */
static struct bpf_program *prog_move(void)
{
	return skel_hlp ? skel->progs.itm_ingr_mv_hlp
			: skel->progs.itm_ingress_mv;
}

static int run_xdp(const struct frame *f, __u32 repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->data,
		    .data_size_in = f->len, .repeat = repeat);
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.itm_xdp),
					 &opts);

	if (err)
		return fail("test_run itm_xdp: %s", strerror(-err));
	if (opts.retval != XDP_PASS)
		return fail("itm_xdp returned %u, want XDP_PASS",
			    (unsigned)opts.retval);
	return 0;
}

static int missed_check(__u64 packets, __u64 bytes)
{
	struct itm_counter vals[ncpus], sum = {};

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.itm_mv_missed),
				&(__u32){0}, vals))
		return fail("reading itm_mv_missed: %s", strerror(errno));
	for (int i = 0; i < ncpus; i++) {
		sum.packets += vals[i].packets;
		sum.bytes += vals[i].bytes;
	}
	if (sum.packets != packets || sum.bytes != bytes)
		return fail("itm_mv_missed: %llu pkt %llu B, want %llu pkt "
			    "%llu B",
			    sum.packets, sum.bytes, (unsigned long long)packets,
			    (unsigned long long)bytes);
	return 0;
}

/*
 * --xdp with attribution: XDP counts a frame under (address, 0), the move
 * program moves it to the socket's owner; a frame XDP never counted, or
 * one for no socket, moves nothing, and only the former is missed.
 */
static int t_attr_xdp_move(void)
{
	struct pkt_spec tcp6_in = udp4_in;
	struct expect w = {
		.a = {{REMOTE4, RX(2 * 128, 2), PID_UDP4},
		      {REMOTE4, RX(0, 0), 0},
		      /* No IPv6 TCP socket on port 443: stays. */
		      {REMOTE6, RX(40 + 20 + 100, 1), 0}},
		.na = 3,
	};
	struct frame f;

	TRY(build(&f, &udp4_in));
	to_host(&f);
	TRY(run_xdp(&f, 2));
	TRY(run(prog_move(), &f));
	TRY(run(prog_move(), &f));
	/* pid 0's slot is empty now: nothing to take, counted as missed. */
	TRY(run(prog_move(), &f));
	tcp6_in.family = AF_INET6;
	tcp6_in.src = REMOTE6;
	tcp6_in.dst = LOCAL6;
	tcp6_in.l4 = IPPROTO_TCP;
	TRY(build(&f, &tcp6_in));
	to_host(&f);
	TRY(run_xdp(&f, 1));
	TRY(run(prog_move(), &f));
	TRY(state_check(&w));
	return missed_check(1, 128);
}

#define RACE_ADDRS  16
#define RACE_FRAMES 200000

struct race_reader {
	int fd, cpu;
	atomic_bool done;
	__u64 total; /* received packets XDP counted before the moves */
	__u64 reads, over, max;
	int err;
};

static int pin_to(pthread_t t, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(t, sizeof(set), &set);
}

/* Reads the active map as persist.c does while a commit waits. */
static void *race_read(void *arg)
{
	struct race_reader *r = arg;
	struct map_rows rows = {0};
	void *scratch;

	r->err = pin_to(pthread_self(), r->cpu);
	scratch =
		calloc(64 * (size_t)ncpus, ITM_PERCPU_STRIDE(struct itm_value));
	if (!r->err && !scratch)
		r->err = -ENOMEM;
	while (!r->err && !atomic_load(&r->done)) {
		__u64 sum = 0;

		r->err = map_rows_read(r->fd, ncpus, scratch, 64, true, &rows);
		for (size_t i = 0; i < rows.n; i++)
			sum += rows.vals[i].rx_packets;
		r->reads++;
		if (sum > r->total)
			r->over++;
		if (sum > r->max)
			r->max = sum;
	}
	free(scratch);
	map_rows_free(&rows);
	return NULL;
}

/* Two online CPUs this process may run on, or -1. */
static int two_cpus(int cpu[2])
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[n++] = c;
	return n == 2 ? 0 : -1;
}

/*
 * A reader of the still-active map beside the moves never sees a frame
 * twice: move_rx() takes from pid 0 before it gives to the process and
 * map_rows_read(..., pid0_last) reads pid 0's entries after all others.
 * Sixteen addresses, so that the hash puts some (address, 0) entries
 * before their (address, pid) in the walk: read in walk order alone, a
 * move between the two reads shows its frame twice.  The moves run
 * back to back on one CPU (test_run's repeat), the reader on another.
 */
static int t_attr_move_race(void)
{
	struct race_reader r = {.fd = bpf_map__fd(skel->maps.itm_stats_a)};
	struct frame f[RACE_ADDRS];
	cpu_set_t old;
	pthread_t t;
	int cpu[2], err;

	if (two_cpus(cpu) || sched_getaffinity(0, sizeof(old), &old))
		return fail("fewer than two CPUs to run on");
	if (pin_to(pthread_self(), cpu[0]))
		return fail("pinning to CPU %d: %s", cpu[0], strerror(errno));
	for (int i = 0; i < RACE_ADDRS; i++) {
		struct pkt_spec s = udp4_in;
		char src[INET_ADDRSTRLEN];

		snprintf(src, sizeof(src), "198.51.100.%d", 100 + i);
		s.src = src;
		TRY(build(&f[i], &s));
		to_host(&f[i]);
		TRY(run_xdp(&f[i], RACE_FRAMES));
	}
	r.total = (__u64)RACE_ADDRS * RACE_FRAMES;
	r.cpu = cpu[1];
	if (pthread_create(&t, NULL, race_read, &r))
		return fail("pthread_create failed");
	for (int round = 0; round < 4; round++)
		for (int i = 0; i < RACE_ADDRS; i++)
			if (run_gso(prog_move(), &f[i], 0, 0, RACE_FRAMES / 4) <
			    0)
				break;
	atomic_store(&r.done, true);
	pthread_join(t, NULL);
	sched_setaffinity(0, sizeof(old), &old);
	if (fail_msg[0])
		return -1;
	if (r.err)
		return fail("reader: %s", strerror(-r.err));
	if (verbose)
		printf("# %llu reads beside the moves\n", r.reads);
	if (r.over)
		return fail("%llu of %llu reads saw more than the %llu packets "
			    "counted (up to %llu): a frame under both keys",
			    r.over, r.reads, r.total, r.max);
	for (int i = 0; i < RACE_ADDRS; i++) {
		struct itm_key k;
		struct itm_value v;
		char src[INET_ADDRSTRLEN];

		snprintf(src, sizeof(src), "198.51.100.%d", 100 + i);
		key_from_str(src, &k);
		err = stats_sum(r.fd, &k, &v);
		if (err || v.rx_packets)
			return fail("%s pid 0 holds %llu packets after the "
				    "moves, want 0",
				    src, err ? 0ULL : v.rx_packets);
		k.pid = PID_UDP4;
		err = stats_sum(r.fd, &k, &v);
		if (err || v.rx_packets != RACE_FRAMES)
			return fail("%s pid %u holds %llu packets, want %u",
				    src, PID_UDP4, err ? 0ULL : v.rx_packets,
				    RACE_FRAMES);
	}
	return missed_check(0, 0);
}

static const struct {
	const char *name;
	int (*fn)(void);
	bool attribute_pid; /* on skel_pid, loaded with attribution on */
	bool both_kinds;    /* runs the inline programs and their twins */
} cases[] = {
	{"ipv4_udp", t_ipv4_udp, false, false},
	{"ipv4_tcp", t_ipv4_tcp, false, false},
	{"ipv6_udp", t_ipv6_udp, false, false},
	{"ipv6_tcp_ingress", t_ipv6_tcp_ingress, false, false},
	{"ipv6_ext_headers", t_ipv6_ext_headers, false, false},
	{"egress_vs_ingress", t_direction, false, false},
	{"vlan_8021q", t_vlan, false, false},
	{"qinq_8021ad", t_qinq, false, false},
	{"three_tags_non_ip", t_three_tags_non_ip, false, false},
	{"arp_non_ip", t_arp, false, false},
	{"truncated_malformed", t_truncated, false, false},
	{"ethernet_padding", t_eth_padding, false, false},
	{"gso_ipv4_tcp", t_gso_ipv4_tcp, false, false},
	{"gso_ipv6_tcp", t_gso_ipv6_tcp, false, false},
	{"gso_udp", t_gso_udp, false, false},
	{"gso_segs_zero", t_gso_segs_zero, false, false},
	{"gso_bogus_headers", t_gso_bogus_headers, false, false},
	{"big_tcp_zero_len", t_big_tcp, false, false},
	{"repeat_accumulates", t_repeat_accumulates, false, false},
	{"l3_programs", t_l3, false, false},
	{"empty_slot_overflow", t_empty_slot, false, false},
	{"swap_a_to_b", t_swap, false, false},
	{"overflow_tiny_map", t_overflow, false, false},
	{"attr_ingress_owned", t_attr_ingress_owned, true, false},
	{"attr_ingress_unowned", t_attr_ingress_unowned, true, false},
	{"attr_egress_no_socket", t_attr_egress, true, false},
	{"attr_egress_variants", t_attr_egress_variants, true, true},
	{"attr_ingress_variants", t_attr_ingress_variants, true, true},
	{"attr_xdp_move", t_attr_xdp_move, true, false},
	{"attr_move_race", t_attr_move_race, true, false},
};

/* Why case c cannot run on this kernel, or NULL. */
static const char *skip_reason(size_t c)
{
	if (cases[c].attribute_pid && !skel_pid && attr_why[0])
		return attr_why;
	if (cases[c].both_kinds && cases[c].attribute_pid && pid_hlp)
		return pid_why;
	if (cases[c].both_kinds && !cases[c].attribute_pid && plain_hlp)
		return plain_why;
	if (cases[c].fn == t_attr_move_race && two_cpus((int[2]){0}))
		return "one CPU to run on: no reader beside the moves";
	return NULL;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0, err, inline_err;
	const char *only = NULL, *why;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else
			only = argv[i];
	}
	libbpf_set_print(libbpf_print);

	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0) {
		fprintf(stderr, "possible CPUs: %s\n", strerror(-ncpus));
		return 1;
	}
	skel_plain = traffic_load(false, 0, &plain_hlp, &inline_err);
	if (!skel_plain) {
		err = errno;
		fprintf(stderr, "loading traffic.bpf.o: %s\n", strerror(err));
		/* Only a kernel or a caller without BPF is a skip. */
		if (err == EPERM || err == ENOSYS) {
			printf("SKIP: BPF unavailable (%s)\n", strerror(err));
			return 77;
		}
		return 1;
	}
	if (plain_hlp)
		inline_reason(plain_why, sizeof(plain_why), inline_err);
	/* Not a skip: the CI machine has network namespaces. */
	err = attr_setup();
	if (err) {
		fprintf(stderr, "attribution set-up: %s\n", strerror(-err));
		failed++;
	}
	printf("# programs: %s\n", plain_hlp ? plain_why : "inline");
	printf("# with attribution: %s\n",
	       !skel_pid ? (attr_why[0] ? attr_why : "not loaded")
	       : pid_hlp ? pid_why
			 : "inline");
	/* The fallback under test must really have been taken. */
	if (getenv("ITM_TEST_REFUSE_INLINE") &&
	    (!plain_hlp || (skel_pid && !pid_hlp))) {
		printf("# ITM_TEST_REFUSE_INLINE is set, but the kernel took "
		       "the inline programs\n");
		failed++;
	}

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (only && strcmp(only, cases[i].name))
			continue;
		why = skip_reason(i);
		if (why) {
			printf("ok %zu - %s # SKIP %s\n", i + 1, cases[i].name,
			       why);
			skipped++;
			continue;
		}
		fail_msg[0] = '\0';
		skel = cases[i].attribute_pid ? skel_pid : skel_plain;
		skel_hlp = cases[i].attribute_pid ? pid_hlp : plain_hlp;
		err = skel ? state_reset() : -ENOENT;
		if (err) {
			fail("reset: %s", strerror(-err));
		} else {
			last_ns = 0;
			err = cases[i].fn();
		}
		if (err) {
			printf("not ok %zu - %s: %s\n", i + 1, cases[i].name,
			       fail_msg);
			failed++;
		} else {
			printf("ok %zu - %s (last run %llu ns)\n", i + 1,
			       cases[i].name, (unsigned long long)last_ns);
			passed++;
		}
	}
	printf("%d passed, %d skipped, %d failed\n", passed, skipped, failed);
	for (int i = 0; i < 3; i++)
		if (attr_sockets[i] >= 0)
			close(attr_sockets[i]);
	traffic_bpf__destroy(skel_pid);
	traffic_bpf__destroy(skel_plain);
	return failed ? 1 : 0;
}

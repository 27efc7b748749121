// SPDX-License-Identifier: MIT
/*
 * Benchmark traffic generator: a fixed number of UDP packets, round robin
 * over NADDR destination addresses (base + 1 + i).  By default they are
 * Ethernet frames written to an AF_PACKET socket bound to one interface;
 * that socket does not bypass the qdisc layer, so the frames cross TC
 * egress and the packet taps (libpcap) like any other outgoing packet.
 * Only packets that sendmmsg() accepted are counted, and the
 * per-destination ground truth (packets, IP bytes) is written as TSV.
 *
 *   -6      IPv6 instead of IPv4 (default addresses fd00:77::1, fd00:78::)
 *   -S      the source varies with the destination (src + 1 + i), so the
 *           peer's ingress sees NADDR remote addresses too
 *   -R      send the frames through a PACKET_TX_RING: the kernel copies
 *           only the Ethernet header into the skb's linear area and
 *           attaches the rest (IP header on) as page fragments, the frame
 *           shape whose headers a TC program cannot read in place
 *   -Q      PACKET_QDISC_BYPASS: straight to the driver (no TC egress on
 *           the generator's side; for floods, bench/xdp_rate.py)
 *   -u      send through a UDP socket instead (sendmmsg() with one
 *           destination per message): the packets then carry a socket that
 *           process attribution can find; the namespace needs a route for
 *           the destinations.  -S and -m do not apply.
 *
 * Run it only inside a test network namespace, on a veth whose peer is in
 * another test namespace: the destinations are never routed anywhere else.
 *
 *   gen -i IFACE -n PACKETS -a NADDR [-r PPS] [-o TRUTH.tsv] [-6] [-S] [-u]
 *       [-R] [-Q] [-s SRC] [-b DST_BASE] [-m DST_MAC]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH	  64
#define MAX_FRAME 256
/* TX ring: 512-byte slots (tpacket2_hdr + a frame), 8 per 4 KiB block. */
#define RING_FRAME  512
#define RING_BLOCK  4096
#define RING_FRAMES 512

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint16_t csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* IP length of the packet for destination i: 16 sizes, 4 bytes apart. */
static unsigned ip_len_for(unsigned i, bool v6)
{
	return (v6 ? 66 : 46) + (i % 16) * 4;
}

/* base + n, as an IPv4 or IPv6 address (IPv6: added to the last 32 bits). */
static void addr_add(void *dst, const void *base, unsigned n, bool v6)
{
	uint32_t w;

	memcpy(dst, base, v6 ? 16 : 4);
	memcpy(&w, (uint8_t *)dst + (v6 ? 12 : 0), 4);
	w = htonl(ntohl(w) + n);
	memcpy((uint8_t *)dst + (v6 ? 12 : 0), &w, 4);
}

/* IP header + UDP header + zeroed payload for destination i; returns its
 * length. */
static unsigned build_ip(uint8_t *p, unsigned i, bool v6, const void *saddr,
			 bool vary_src, const void *daddr0)
{
	unsigned len = ip_len_for(i, v6), off;
	struct udphdr *udp;

	if (v6) {
		struct ip6_hdr *ip6 = (void *)p;

		ip6->ip6_flow = htonl(6u << 28);
		ip6->ip6_plen = htons((uint16_t)(len - sizeof(*ip6)));
		ip6->ip6_nxt = IPPROTO_UDP;
		ip6->ip6_hlim = 64;
		addr_add(&ip6->ip6_src, saddr, vary_src ? 1 + i : 0, true);
		addr_add(&ip6->ip6_dst, daddr0, 1 + i, true);
		off = sizeof(*ip6);
	} else {
		struct iphdr *ip = (void *)p;

		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->tot_len = htons((uint16_t)len);
		addr_add(&ip->saddr, saddr, vary_src ? 1 + i : 0, false);
		addr_add(&ip->daddr, daddr0, 1 + i, false);
		ip->check = csum(ip, sizeof(*ip));
		off = sizeof(*ip);
	}
	udp = (void *)(p + off);
	udp->source = htons(40000);
	udp->dest = htons(9);
	udp->len = htons((uint16_t)(len - off));
	return len;
}

static void usage(void)
{
	fprintf(stderr, "usage: gen -i IFACE -n PACKETS -a NADDR [-r PPS] "
			"[-o TRUTH.tsv] [-6] [-S] [-u] [-R] [-Q] [-s SRC] "
			"[-b DST_BASE] [-m DST_MAC]\n");
	exit(2);
}

struct tx_ring {
	uint8_t *map;
	unsigned head;
};

static int tx_ring_setup(int fd, struct tx_ring *r)
{
	struct tpacket_req req = {
		.tp_block_size = RING_BLOCK,
		.tp_block_nr = RING_FRAMES * RING_FRAME / RING_BLOCK,
		.tp_frame_size = RING_FRAME,
		.tp_frame_nr = RING_FRAMES,
	};
	int v = TPACKET_V2;

	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req))) {
		perror("PACKET_TX_RING");
		return -1;
	}
	r->map = mmap(NULL, RING_FRAMES * RING_FRAME, PROT_READ | PROT_WRITE,
		      MAP_SHARED, fd, 0);
	if (r->map == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	r->head = 0;
	return 0;
}

static struct tpacket2_hdr *tx_slot(const struct tx_ring *r, unsigned i)
{
	return (void *)(r->map + ((r->head + i) % RING_FRAMES) * RING_FRAME);
}

/*
 * Queue frames[ds[0..n)] in the ring, send them with one blocking send()
 * (which returns when the kernel has handed every one to the device), and
 * count each that came back TP_STATUS_AVAILABLE, i.e. was sent.
 */
static int tx_ring_send(int fd, struct tx_ring *r, uint8_t (*frames)[MAX_FRAME],
			const unsigned *flen, const unsigned *ds, unsigned n,
			unsigned long long *pk)
{
	unsigned i, ok = 0;

	for (i = 0; i < n; i++) {
		struct tpacket2_hdr *h = tx_slot(r, i);
		uint8_t *data = (uint8_t *)h + TPACKET2_HDRLEN -
				sizeof(struct sockaddr_ll);

		memcpy(data, frames[ds[i]], flen[ds[i]]);
		h->tp_len = flen[ds[i]];
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST,
				 __ATOMIC_RELEASE);
	}
	if (send(fd, NULL, 0, 0) < 0 && errno != ENOBUFS) {
		perror("send");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct tpacket2_hdr *h = tx_slot(r, i);

		if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) ==
		    TP_STATUS_AVAILABLE) {
			pk[ds[i]]++;
			ok++;
		} else {
			h->tp_status = TP_STATUS_AVAILABLE;
		}
	}
	r->head = (r->head + n) % RING_FRAMES;
	return (int)ok;
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *out = NULL, *src = NULL, *base = NULL;
	uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02};
	unsigned long long npackets = 0, sent = 0, errors = 0;
	bool v6 = false, vary_src = false, udp_mode = false, ring = false;
	bool bypass = false;
	struct tx_ring txr = {0};
	unsigned naddr = 1000;
	double pps = 0;
	int opt;

	while ((opt = getopt(argc, argv, "i:n:a:r:o:s:b:m:6SuRQ")) != -1) {
		switch (opt) {
		case 'i':
			ifname = optarg;
			break;
		case 'n':
			npackets = strtoull(optarg, NULL, 10);
			break;
		case 'a':
			naddr = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			pps = strtod(optarg, NULL);
			break;
		case 'o':
			out = optarg;
			break;
		case 's':
			src = optarg;
			break;
		case 'b':
			base = optarg;
			break;
		case 'm':
			if (sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx",
				   &dmac[0], &dmac[1], &dmac[2], &dmac[3],
				   &dmac[4], &dmac[5]) != 6)
				usage();
			break;
		case '6':
			v6 = true;
			break;
		case 'S':
			vary_src = true;
			break;
		case 'u':
			udp_mode = true;
			break;
		case 'R':
			ring = true;
			break;
		case 'Q':
			bypass = true;
			break;
		default:
			usage();
		}
	}
	if (!ifname || !npackets || !naddr || naddr > 65000)
		usage();
	if (!src)
		src = v6 ? "fd00:77::1" : "10.77.0.1";
	if (!base)
		base = v6 ? "fd00:78::" : "10.78.0.0";

	int family = v6 ? AF_INET6 : AF_INET;
	uint8_t saddr[16], daddr0[16];
	if (inet_pton(family, src, saddr) != 1 ||
	    inet_pton(family, base, daddr0) != 1)
		usage();

	int fd;
	struct ifreq ifr = {};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (udp_mode) {
		fd = socket(family, SOCK_DGRAM, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE,
					 ifname, (socklen_t)strlen(ifname))) {
			perror("UDP socket");
			return 1;
		}
		struct sockaddr_storage ss = {};
		struct sockaddr_in *sin = (void *)&ss;
		struct sockaddr_in6 *sin6 = (void *)&ss;
		if (v6) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(40000);
			memcpy(&sin6->sin6_addr, saddr, 16);
		} else {
			sin->sin_family = AF_INET;
			sin->sin_port = htons(40000);
			memcpy(&sin->sin_addr, saddr, 4);
		}
		if (bind(fd, (struct sockaddr *)&ss,
			 v6 ? sizeof(*sin6) : sizeof(*sin))) {
			perror("bind");
			return 1;
		}
	} else {
		fd = socket(AF_PACKET, SOCK_RAW, 0);
		if (fd < 0) {
			perror("socket");
			return 1;
		}
		if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
			perror("SIOCGIFHWADDR");
			return 1;
		}
		struct sockaddr_ll sll = {
			.sll_family = AF_PACKET,
			.sll_ifindex = (int)if_nametoindex(ifname),
		};
		if (!sll.sll_ifindex ||
		    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
			perror("bind");
			return 1;
		}
		int one = 1;

		if (bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS,
					 &one, sizeof(one))) {
			perror("PACKET_QDISC_BYPASS");
			return 1;
		}
		if (ring && tx_ring_setup(fd, &txr))
			return 1;
	}

	/*
	 * Packet mode: whole frames.  UDP mode: the UDP payload only, with
	 * one destination address per message.
	 */
	uint8_t(*frames)[MAX_FRAME] = calloc(naddr, MAX_FRAME);
	unsigned *flen = calloc(naddr, sizeof(*flen));
	unsigned long long *pk = calloc(naddr, sizeof(*pk));
	struct sockaddr_storage *dst = calloc(naddr, sizeof(*dst));
	if (!frames || !flen || !pk || !dst)
		return 1;
	for (unsigned i = 0; i < naddr; i++) {
		uint8_t *f = frames[i];
		struct ether_header *eh = (void *)f;
		unsigned hdr =
			v6 ? sizeof(struct ip6_hdr) : sizeof(struct iphdr);

		if (udp_mode) {
			struct sockaddr_in *sin = (void *)&dst[i];
			struct sockaddr_in6 *sin6 = (void *)&dst[i];

			if (v6) {
				sin6->sin6_family = AF_INET6;
				sin6->sin6_port = htons(9);
				addr_add(&sin6->sin6_addr, daddr0, 1 + i, true);
			} else {
				sin->sin_family = AF_INET;
				sin->sin_port = htons(9);
				addr_add(&sin->sin_addr, daddr0, 1 + i, false);
			}
			flen[i] =
				ip_len_for(i, v6) - hdr - sizeof(struct udphdr);
			continue;
		}
		memcpy(eh->ether_dhost, dmac, 6);
		memcpy(eh->ether_shost, ifr.ifr_hwaddr.sa_data, 6);
		eh->ether_type = htons(v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IP);
		flen[i] = (unsigned)sizeof(*eh) + build_ip(f + sizeof(*eh), i,
							   v6, saddr, vary_src,
							   daddr0);
		/* No padding to the Ethernet minimum: veth does not pad, and
		 * pcap sees what we send. */
	}

	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	unsigned ds[BATCH];
	unsigned next = 0;
	double t0 = now();

	while (sent < npackets) {
		unsigned n = 0;

		while (n < BATCH && sent + n < npackets) {
			unsigned d = (unsigned)((next + n) % naddr);

			ds[n] = d;
			iov[n].iov_base = frames[d];
			iov[n].iov_len = flen[d];
			memset(&msg[n], 0, sizeof(msg[n]));
			msg[n].msg_hdr.msg_iov = &iov[n];
			msg[n].msg_hdr.msg_iovlen = 1;
			if (udp_mode) {
				msg[n].msg_hdr.msg_name = &dst[d];
				msg[n].msg_hdr.msg_namelen =
					v6 ? sizeof(struct sockaddr_in6)
					   : sizeof(struct sockaddr_in);
			}
			n++;
		}
		int r;

		if (ring && !udp_mode) {
			/* Counted frame by frame: the device may drop any. */
			r = tx_ring_send(fd, &txr, frames, flen, ds, n, pk);
			if (r < 0)
				return 1;
			next = (unsigned)((next + n) % naddr);
			sent += (unsigned)r;
			errors += n - (unsigned)r;
			goto pace;
		}
		r = sendmmsg(fd, msg, n, 0);
		if (r <= 0) {
			if (r < 0 && errno != ENOBUFS && errno != EAGAIN &&
			    errno != EINTR) {
				perror("sendmmsg");
				return 1;
			}
			errors++;
			usleep(100);
			continue;
		}
		for (int k = 0; k < r; k++)
			pk[(next + k) % naddr]++;
		next = (unsigned)((next + r) % naddr);
		sent += (unsigned)r;
	pace:
		if (pps > 0) {
			double due = t0 + sent / pps;
			double d = due - now();

			if (d > 0) {
				struct timespec ts = {
					.tv_sec = (time_t)d,
					.tv_nsec =
						(long)((d - (time_t)d) * 1e9),
				};
				nanosleep(&ts, NULL);
			}
		}
	}
	double el = now() - t0;

	if (out) {
		FILE *f = fopen(out, "w");

		if (!f) {
			perror(out);
			return 1;
		}
		for (unsigned i = 0; i < naddr; i++) {
			char a[INET6_ADDRSTRLEN];
			uint8_t d[16];

			addr_add(d, daddr0, 1 + i, v6);
			inet_ntop(family, d, a, sizeof(a));
			fprintf(f, "%s\t%llu\t%llu\n", a, pk[i],
				pk[i] * ip_len_for(i, v6));
		}
		fclose(f);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("sent=%llu seconds=%.6f pps=%.0f send_errors=%llu "
	       "utime=%.6f stime=%.6f\n",
	       sent, el, sent / el, errors,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return 0;
}

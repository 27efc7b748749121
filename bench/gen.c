// SPDX-License-Identifier: MIT
/*
 * Benchmark traffic generator: a fixed number of IPv4/UDP frames, round
 * robin over NADDR destination addresses, through an AF_PACKET socket
 * bound to one interface.  The socket does not bypass the qdisc layer, so
 * the frames cross TC egress and the packet taps (libpcap) like any other
 * outgoing packet.  Only frames that sendmmsg() accepted are counted, and
 * the per-destination ground truth (packets, IP bytes) is written as TSV.
 *
 * Run it only inside a test network namespace, on a veth whose peer is in
 * another test namespace: the destinations are never routed anywhere.
 *
 *   gen -i IFACE -n PACKETS -a NADDR [-r PPS] [-o TRUTH.tsv]
 *       [-s SRC_IPV4] [-b DST_BASE_IPV4] [-m DST_MAC]
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
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH	  64
#define MAX_FRAME 256

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

/* IP length of the frame for destination i: 46..106 bytes, 16 sizes. */
static unsigned ip_len_for(unsigned i)
{
	return 46 + (i % 16) * 4;
}

static void usage(void)
{
	fprintf(stderr, "usage: gen -i IFACE -n PACKETS -a NADDR [-r PPS] "
			"[-o TRUTH.tsv] [-s SRC] [-b DST_BASE] [-m DST_MAC]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *out = NULL;
	const char *src = "10.77.0.1", *base = "10.78.0.0";
	uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02};
	unsigned long long npackets = 0, sent = 0, errors = 0;
	unsigned naddr = 1000;
	double pps = 0;
	int opt;

	while ((opt = getopt(argc, argv, "i:n:a:r:o:s:b:m:")) != -1) {
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
		default:
			usage();
		}
	}
	if (!ifname || !npackets || !naddr || naddr > 65000)
		usage();

	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	struct ifreq ifr = {};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
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

	struct in_addr saddr, daddr0;
	if (inet_pton(AF_INET, src, &saddr) != 1 ||
	    inet_pton(AF_INET, base, &daddr0) != 1)
		usage();

	uint8_t(*frames)[MAX_FRAME] = calloc(naddr, MAX_FRAME);
	unsigned *flen = calloc(naddr, sizeof(*flen));
	unsigned long long *pk = calloc(naddr, sizeof(*pk));
	if (!frames || !flen || !pk)
		return 1;
	for (unsigned i = 0; i < naddr; i++) {
		uint8_t *f = frames[i];
		struct ether_header *eh = (void *)f;
		struct iphdr *ip = (void *)(f + sizeof(*eh));
		struct udphdr *udp = (void *)(ip + 1);
		unsigned len = ip_len_for(i);

		memcpy(eh->ether_dhost, dmac, 6);
		memcpy(eh->ether_shost, ifr.ifr_hwaddr.sa_data, 6);
		eh->ether_type = htons(ETHERTYPE_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->tot_len = htons((uint16_t)len);
		ip->saddr = saddr.s_addr;
		ip->daddr = htonl(ntohl(daddr0.s_addr) + 1 + i);
		ip->check = csum(ip, sizeof(*ip));
		udp->source = htons(40000);
		udp->dest = htons(9);
		udp->len = htons((uint16_t)(len - sizeof(*ip)));
		flen[i] = (unsigned)sizeof(*eh) + len;
		/* Ethernet minimum: veth does not pad, pcap sees what we send.
		 */
	}

	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	unsigned next = 0;
	double t0 = now();

	while (sent < npackets) {
		unsigned n = 0;

		while (n < BATCH && sent + n < npackets) {
			unsigned d = (unsigned)((next + n) % naddr);

			iov[n].iov_base = frames[d];
			iov[n].iov_len = flen[d];
			memset(&msg[n], 0, sizeof(msg[n]));
			msg[n].msg_hdr.msg_iov = &iov[n];
			msg[n].msg_hdr.msg_iovlen = 1;
			n++;
		}
		int r = sendmmsg(fd, msg, n, 0);
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
			char a[INET_ADDRSTRLEN];
			struct in_addr d = {
				htonl(ntohl(daddr0.s_addr) + 1 + i)};

			inet_ntop(AF_INET, &d, a, sizeof(a));
			fprintf(f, "%s\t%llu\t%llu\n", a, pk[i],
				pk[i] * ip_len_for(i));
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

/* SPDX-License-Identifier: MIT */
/*
 * The IPFIX exporter's transport: one UDP or TCP connection to the
 * collector.  libfixbuf builds the messages; this file only delivers them,
 * so that an absent collector costs one log line and a retry, never a
 * stalled sample loop.
 */
#ifndef ITM_IPFIX_NET_H
#define ITM_IPFIX_NET_H

#include <stdbool.h>
#include <stddef.h>

struct ipfix_net {
	char host[256];
	char port[8];
	bool tcp;
	int fd;		  /* -1: not connected (TCP) */
	int failing;	  /* -errno of the condition last logged; 0: healthy */
	bool fresh;	  /* connected since the last ipfix_net_connect() */
	double last_fail; /* monotonic seconds of the last failure */
};

/*
 * Split "HOST:PORT" or "[V6ADDR]:PORT" into host and port.  Returns 0 or
 * -EINVAL (pure; the option parser uses it).
 */
int ipfix_split_target(const char *s, char *host, size_t hlen, char *port,
		       size_t plen);

/*
 * Resolve the collector.  UDP connects the socket at once; TCP connects
 * on the first ipfix_net_connect().  Prints one line, returns -errno.
 */
int ipfix_net_open(struct ipfix_net *n, const char *target, bool tcp);
void ipfix_net_close(struct ipfix_net *n);

/*
 * Before a flush: (re)connect TCP if needed.  Returns 1 when the
 * connection is new (the templates must go first; for UDP: the previous
 * flush drew an ICMP error), 0 when it was already up, or -errno (logged
 * once per condition) when the collector is away.
 */
int ipfix_net_connect(struct ipfix_net *n);

/*
 * Send one whole message.  Returns 0 or -errno; a failure is logged once
 * per condition, and a TCP connection is closed (a partial message would
 * corrupt the stream) to be reopened by the next ipfix_net_connect().
 */
int ipfix_net_send(struct ipfix_net *n, const void *msg, size_t len);

#endif

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
#include <stdint.h>

/*
 * What one data record of a message said, kept with the message until the
 * collector acknowledged it, so that a record that is never acknowledged
 * can be counted (and named in the debug log) as not delivered.
 */
struct ipfix_note {
	uint8_t addr[16]; /* remote address; all zero: an aggregate record */
	uint64_t bytes, packets;
	uint32_t ifindex;
	uint8_t tx;
	uint8_t pad[3];
};

/* A TCP data message the collector has not acknowledged yet. */
struct ipfix_msg {
	uint8_t *data;
	size_t len;
	uint64_t end; /* stream offset after its last byte; 0: not written */
	struct ipfix_note *notes;
	size_t n_notes;
};

struct ipfix_net {
	char host[256];
	char port[8];
	bool tcp;
	int fd;		  /* -1: not connected (TCP) */
	int failing;	  /* -errno of the condition last logged; 0: healthy */
	bool fresh;	  /* connected since the last ipfix_net_connect() */
	double last_fail; /* monotonic seconds of the last failure */
	/*
	 * TCP: data messages written but not acknowledged (SIOCOUTQ), and
	 * messages of a dead connection waiting to be written again on the
	 * next one, in stream order.  written: bytes written on this
	 * connection.  A sent message is not delivered until the kernel
	 * says the collector acknowledged its last byte.
	 */
	struct ipfix_msg *q;
	size_t q_len, q_cap;
	uint64_t written;
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

/*
 * Send one data message carrying n_notes records.  UDP: as
 * ipfix_net_send().  TCP: the message and its notes are kept until the
 * collector acknowledges them; when the connection fails they stay
 * queued for ipfix_net_resend() on the next one.  Returns 0 (also when
 * queued for later), -errno when the message could not even be queued
 * (ENOMEM; its records are not delivered).
 */
int ipfix_net_send_data(struct ipfix_net *n, const void *msg, size_t len,
			const struct ipfix_note *notes, size_t n_notes);

/*
 * TCP: forget the messages the collector acknowledged; when the
 * connection is dead (closed or reset by the collector, or an error),
 * close it so that the next ipfix_net_connect() opens a new one; what it
 * did not acknowledge stays queued.  Returns how many records are queued.
 */
size_t ipfix_net_settle(struct ipfix_net *n);

/* Records queued and not yet written on the current connection. */
size_t ipfix_net_unsent(const struct ipfix_net *n);

/*
 * After a new connection and its templates: write the queued messages
 * again.  Returns how many records were written, or -errno (the
 * connection failed again; they stay queued).
 */
long ipfix_net_resend(struct ipfix_net *n);

/*
 * At exit: wait at most timeout_ms for the collector to acknowledge the
 * queue (TCP).  Returns how many records are still unacknowledged.
 */
size_t ipfix_net_wait_acked(struct ipfix_net *n, int timeout_ms);

/*
 * Empty the queue, calling lost() for every record in it (records that
 * are counted as not delivered).
 */
void ipfix_net_drop_queue(struct ipfix_net *n,
			  void (*lost)(void *ctx,
				       const struct ipfix_note *note),
			  void *ctx);

#endif

// SPDX-License-Identifier: MIT
#include "ipfix_net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* A sample loop must not wait long for a collector that is not there. */
#define CONNECT_TIMEOUT_MS 1000
#define SEND_TIMEOUT_S	   2
/*
 * UDP cannot tell when a collector is back; a minute without ICMP errors
 * re-arms the warning, so a flapping collector is not logged per flush.
 */
#define UDP_QUIET_S 60.0
/* Polling period of ipfix_net_wait_acked(). */
#define ACK_POLL_MS 10

static const char *proto_name(const struct ipfix_net *n)
{
	return n->tcp ? "tcp" : "udp";
}

/* One warning when the collector goes away, none while it stays away. */
static int fail(struct ipfix_net *n, int err, const char *what)
{
	if (!n->failing)
		pr_warn("IPFIX collector %s:%s (%s): %s: %s; counting continues, records are not delivered until it answers\n",
			n->host, n->port, proto_name(n), what, strerror(-err));
	n->failing = err;
	n->last_fail = monotonic_seconds();
	return err;
}

static int resolve(const struct ipfix_net *n, struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_socktype = n->tcp ? SOCK_STREAM : SOCK_DGRAM,
		.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV,
	};
	int rc = getaddrinfo(n->host, n->port, &hints, res);

	if (rc == EAI_SYSTEM)
		return -errno;
	if (rc == EAI_NONAME || rc == EAI_FAIL || rc == EAI_NODATA)
		return -EHOSTUNREACH;
	return rc ? -EAGAIN : 0;
}

/* Non-blocking connect bounded by CONNECT_TIMEOUT_MS. */
static int connect_one(const struct addrinfo *ai)
{
	struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
	int fd, err = 0, flags;
	socklen_t len = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (ai->ai_socktype == SOCK_DGRAM) {
		if (connect(fd, ai->ai_addr, ai->ai_addrlen))
			goto fail_errno;
		return fd;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK))
		goto fail_errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int rc;

		if (errno != EINPROGRESS)
			goto fail_errno;
		rc = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
		if (rc < 0)
			goto fail_errno;
		if (rc == 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
			goto fail_errno;
		if (err) {
			close(fd);
			return -err;
		}
	}
	/* Blocking sends, but a stalled collector times them out. */
	if (fcntl(fd, F_SETFL, flags) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		goto fail_errno;
	return fd;

fail_errno:
	err = -errno;
	close(fd);
	return err;
}

static int open_socket(struct ipfix_net *n)
{
	struct addrinfo *res, *ai;
	int err, fd = -EHOSTUNREACH;

	err = resolve(n, &res);
	if (err)
		return err;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return fd;
	n->fd = fd;
	n->fresh = true;
	return 0;
}

int ipfix_net_open(struct ipfix_net *n, const char *target, bool tcp)
{
	struct addrinfo *res;
	int err;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	n->tcp = tcp;
	if (ipfix_split_target(target, n->host, sizeof(n->host), n->port,
			       sizeof(n->port))) {
		pr_err("--ipfix wants HOST:PORT or [IPV6]:PORT, got '%s'\n",
		       target);
		return -EINVAL;
	}
	err = resolve(n, &res);
	if (err) {
		pr_err("--ipfix: cannot resolve '%s': %s\n", n->host,
		       strerror(-err));
		return err;
	}
	freeaddrinfo(res);
	if (tcp)
		return 0; /* connected at the first flush, and after losses */
	err = open_socket(n);
	if (err)
		pr_err("--ipfix: cannot open a UDP socket to %s:%s: %s\n",
		       n->host, n->port, strerror(-err));
	return err;
}

/*
 * Close a TCP connection that failed.  Nothing it did not acknowledge is
 * forgotten: every queued message is written again on the next one.
 */
static void disconnect(struct ipfix_net *n)
{
	if (n->fd >= 0) {
		close(n->fd);
		n->fd = -1;
	}
	for (size_t i = 0; i < n->q_len; i++)
		n->q[i].end = 0;
	n->written = 0;
}

static void msg_free(struct ipfix_msg *m)
{
	free(m->data);
	free(m->notes);
}

void ipfix_net_close(struct ipfix_net *n)
{
	if (!n)
		return;
	if (n->fd >= 0) {
		close(n->fd);
		n->fd = -1;
	}
	for (size_t i = 0; i < n->q_len; i++)
		msg_free(&n->q[i]);
	free(n->q);
	n->q = NULL;
	n->q_len = n->q_cap = 0;
}

int ipfix_net_connect(struct ipfix_net *n)
{
	int err;

	/*
	 * UDP: an ICMP error caused by the previous flush is pending on the
	 * socket: that flush was lost and the collector may now be back
	 * without our templates, so report the socket as new.
	 */
	if (!n->tcp && n->fd >= 0) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		if (!getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) &&
		    soerr) {
			fail(n, -soerr, "a datagram was refused");
			return 1;
		}
		return 0;
	}
	if (n->fd >= 0) {
		bool fresh = n->fresh;

		n->fresh = false;
		return fresh;
	}
	err = open_socket(n);
	if (err)
		return fail(n, err, "cannot connect");
	if (n->failing)
		pr_info("IPFIX collector %s:%s (%s): connected again\n",
			n->host, n->port, proto_name(n));
	n->failing = 0;
	n->fresh = false;
	return 1;
}

static ssize_t send_all(int fd, const char *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = send(fd, p + done, len - done, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

int ipfix_net_send(struct ipfix_net *n, const void *msg, size_t len)
{
	ssize_t err;

	if (n->fd < 0)
		return -ENOTCONN;
	err = send_all(n->fd, msg, len);
	/*
	 * UDP: ECONNREFUSED reports an ICMP error caused by an EARLIER
	 * datagram (nothing listening then); this one was not sent.  Try it
	 * once more, but report the loss so the templates go out again.
	 */
	if (!n->tcp && err == -ECONNREFUSED) {
		fail(n, (int)err, "a datagram was refused");
		send_all(n->fd, msg, len);
		return (int)err;
	}
	if (!err) {
		n->written += len;
		if (!n->tcp && n->failing &&
		    monotonic_seconds() - n->last_fail > UDP_QUIET_S)
			n->failing = 0;
		return 0;
	}
	fail(n, (int)err, "sending failed");
	if (n->tcp)
		disconnect(n);
	return (int)err;
}

/* The first message not written on this connection, or q_len. */
static size_t first_unwritten(const struct ipfix_net *n)
{
	size_t i = 0;

	while (i < n->q_len && n->q[i].end)
		i++;
	return i;
}

static int queue_push(struct ipfix_net *n, const void *msg, size_t len,
		      const struct ipfix_note *notes, size_t n_notes)
{
	struct ipfix_msg m = {.len = len, .n_notes = n_notes};

	if (n->q_len == n->q_cap) {
		size_t cap = n->q_cap ? n->q_cap * 2 : 16;
		struct ipfix_msg *q = realloc(n->q, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		n->q = q;
		n->q_cap = cap;
	}
	m.data = malloc(len);
	m.notes = n_notes ? malloc(n_notes * sizeof(*notes)) : NULL;
	if (!m.data || (n_notes && !m.notes)) {
		msg_free(&m);
		return -ENOMEM;
	}
	memcpy(m.data, msg, len);
	if (n_notes)
		memcpy(m.notes, notes, n_notes * sizeof(*notes));
	n->q[n->q_len++] = m;
	return 0;
}

/* Write queued message i; on failure the connection is closed. */
static int write_queued(struct ipfix_net *n, size_t i)
{
	ssize_t err = send_all(n->fd, (const char *)n->q[i].data, n->q[i].len);

	if (err) {
		fail(n, (int)err, "sending failed");
		disconnect(n);
		return (int)err;
	}
	n->written += n->q[i].len;
	n->q[i].end = n->written;
	return 0;
}

int ipfix_net_send_data(struct ipfix_net *n, const void *msg, size_t len,
			const struct ipfix_note *notes, size_t n_notes)
{
	int err;

	if (!n->tcp)
		return ipfix_net_send(n, msg, len);
	err = queue_push(n, msg, len, notes, n_notes);
	if (err)
		return err;
	/* Written in order: behind an unwritten message it waits too. */
	if (n->fd >= 0 && first_unwritten(n) == n->q_len - 1)
		write_queued(n, n->q_len - 1);
	return 0;
}

static size_t queued_records(const struct ipfix_net *n, size_t from)
{
	size_t recs = 0;

	for (size_t i = from; i < n->q_len; i++)
		recs += n->q[i].n_notes;
	return recs;
}

size_t ipfix_net_unsent(const struct ipfix_net *n)
{
	return queued_records(n, first_unwritten(n));
}

/*
 * Gone: the collector closed or reset the connection, or it failed.  A
 * connection in CLOSE_WAIT still takes writes, and loses them.
 */
static bool tcp_dead(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (poll(&pfd, 1, 0) > 0 &&
	    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return true;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return true;
	return ti.tcpi_state != TCP_ESTABLISHED;
}

size_t ipfix_net_settle(struct ipfix_net *n)
{
	size_t acked_msgs = 0;
	int outq;

	if (!n->tcp || n->fd < 0)
		return queued_records(n, 0);
	/*
	 * SIOCOUTQ: bytes written but not acknowledged (write_seq -
	 * snd_una), still right after a reset purged the send queue.
	 */
	if (ioctl(n->fd, SIOCOUTQ, &outq) == 0 && outq >= 0 &&
	    (uint64_t)outq <= n->written) {
		uint64_t acked = n->written - (uint64_t)outq;

		while (acked_msgs < n->q_len && n->q[acked_msgs].end &&
		       n->q[acked_msgs].end <= acked)
			msg_free(&n->q[acked_msgs++]);
		memmove(n->q, n->q + acked_msgs,
			(n->q_len - acked_msgs) * sizeof(*n->q));
		n->q_len -= acked_msgs;
	}
	if (tcp_dead(n->fd)) {
		fail(n, -ECONNRESET, "the collector closed the connection");
		disconnect(n);
	}
	return queued_records(n, 0);
}

long ipfix_net_resend(struct ipfix_net *n)
{
	long recs = 0;

	if (n->fd < 0)
		return -ENOTCONN;
	for (size_t i = first_unwritten(n); i < n->q_len; i++) {
		int err = write_queued(n, i);

		if (err)
			return err;
		recs += (long)n->q[i].n_notes;
	}
	return recs;
}

size_t ipfix_net_wait_acked(struct ipfix_net *n, int timeout_ms)
{
	double until = monotonic_seconds() + timeout_ms / 1000.0;

	while (ipfix_net_settle(n) && n->fd >= 0 &&
	       first_unwritten(n) == n->q_len && monotonic_seconds() < until)
		poll(NULL, 0, ACK_POLL_MS);
	return queued_records(n, 0);
}

void ipfix_net_drop_queue(struct ipfix_net *n,
			  void (*lost)(void *ctx,
				       const struct ipfix_note *note),
			  void *ctx)
{
	for (size_t i = 0; i < n->q_len; i++) {
		for (size_t j = 0; j < n->q[i].n_notes; j++)
			lost(ctx, &n->q[i].notes[j]);
		msg_free(&n->q[i]);
	}
	n->q_len = 0;
}

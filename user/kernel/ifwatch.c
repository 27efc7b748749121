// SPDX-License-Identifier: MIT
#include "ifwatch.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct ifwatch {
	int fd;
};

int ifwatch_open(struct ifwatch **out)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_LINK,
	};
	struct ifwatch *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       NETLINK_ROUTE);
	if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		if (w->fd >= 0)
			close(w->fd);
		free(w);
		return err;
	}
	*out = w;
	return 0;
}

void ifwatch_close(struct ifwatch *w)
{
	if (!w)
		return;
	close(w->fd);
	free(w);
}

int ifwatch_fd(const struct ifwatch *w)
{
	return w->fd;
}

int ifwatch_drain(struct ifwatch *w)
{
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	int links = 0;

	for (;;) {
		ssize_t n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		const struct nlmsghdr *h;
		size_t len;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return links;
			if (errno == ENOBUFS || errno == EINTR) {
				/* Messages were lost: the caller looks again.
				 */
				links++;
				continue;
			}
			return -errno;
		}
		len = (size_t)n;
		for (h = (const struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len))
			if (h->nlmsg_type == RTM_NEWLINK ||
			    h->nlmsg_type == RTM_DELLINK)
				links++;
	}
}
